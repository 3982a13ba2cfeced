"""mx.metric (runtime/metric.py) against MXNet 1.9.1.

tests/data/metric_golden.json holds, for every case of tools/make_metric_golden.py, the inputs
MXNet saw and what its metric reported after every step (get, get_global, name/value lists,
local and global counters, str, get_config); here the same script runs on mxc's metrics.
"""
import importlib.util
import json
import math
import os
import re

import numpy as np
import pytest

import mxc as mx
from runtime import metric

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "make_metric_golden", os.path.join(HERE, "..", "tools", "make_metric_golden.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

with open(os.path.join(HERE, "data", "metric_golden.json")) as _f:
    GOLD = json.load(_f)


class NS:
    metric = metric
    nd_array = staticmethod(mx.nd.array)


def close(got, want, where, rtol=2e-6, atol=1e-7):
    """Recursive comparison: numbers to float precision (NaN equals NaN), the rest exactly."""
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            close(g, w, f"{where}[{i}]", rtol, atol)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{where}: {got!r} vs {want!r}"
        for k in want:
            close(got[k], want[k], f"{where}.{k}", rtol, atol)
    elif isinstance(want, float) or (isinstance(want, int) and not isinstance(want, bool)
                                     and isinstance(got, float)):
        assert isinstance(got, (int, float)) and not isinstance(got, bool), \
            f"{where}: {got!r} vs {want!r}"
        if math.isnan(want):
            assert math.isnan(got), f"{where}: {got!r} vs nan"
        else:
            assert got == pytest.approx(want, rel=rtol, abs=atol), f"{where}: {got!r} vs {want!r}"
    elif isinstance(want, str) and isinstance(got, str) and re.search(r"\d\.\d", want):
        # printed numbers: same text around them, the numbers to float precision
        num = r"-?\d+\.\d+(?:e[-+]?\d+)?|nan"
        assert re.split(num, got) == re.split(num, want), f"{where}: {got!r} vs {want!r}"
        close([float(x) for x in re.findall(num, got)],
              [float(x) for x in re.findall(num, want)], where, rtol, atol)
    else:
        assert got == want, f"{where}: {got!r} vs {want!r}"


def test_golden_is_mxnet_and_covers_every_case():
    assert GOLD["mxnet"] == "1.9.1"
    assert set(GOLD["metrics"]) == set(gen.METRIC_CASES)


def test_registry_names_match_mxnet():
    assert sorted(metric._REGISTRY) == GOLD["registry"]


@pytest.mark.parametrize("name", sorted(gen.METRIC_CASES))
def test_metric_matches_mxnet(name):
    case = GOLD["metrics"][name]
    assert case["spec"] == json.loads(json.dumps(gen.METRIC_CASES[name])), "regenerate golden"
    batches = gen.from_json_batches(case["inputs"])
    got = gen.run_metric_case(NS, gen.METRIC_CASES[name], batches)
    assert len(got) == len(case["obs"])
    for i, (g, w) in enumerate(zip(got, case["obs"])):
        close(g, w, f"{name} step {i} ({w['op']})")


# --- semantics not in the golden script ----------------------------------------------------------
def test_fresh_metric_is_nan_and_str():
    acc = metric.Accuracy()
    name, value = acc.get()
    assert name == "accuracy" and math.isnan(value)
    assert str(acc).startswith("EvalMetric: {'accuracy': nan")


def test_docstring_examples():
    predicts = [mx.nd.array([[0.3, 0.7], [0, 1.], [0.4, 0.6]])]
    labels = [mx.nd.array([0, 1, 1])]
    acc = metric.Accuracy()
    acc.update(preds=predicts, labels=labels)
    assert acc.get() == ("accuracy", pytest.approx(2 / 3))
    f1 = metric.F1()
    f1.update(preds=predicts, labels=labels)
    assert f1.get() == ("f1", pytest.approx(0.8))
    perp = metric.Perplexity(ignore_label=None)
    perp.update(labels, predicts)
    assert perp.get()[1] == pytest.approx(1.7710976285155853, rel=1e-6)
    ce = metric.CrossEntropy()
    ce.update(labels, predicts)
    assert ce.get()[1] == pytest.approx(0.57159948348999023, rel=1e-6)
    mae = metric.MAE()
    mae.update([mx.nd.array(np.array([2.5, 0.0, 2, 8]).reshape(4, 1))],
               [mx.nd.array(np.array([3, -0.5, 2, 7]).reshape(4, 1))])
    assert mae.get() == ("mae", 0.5)
    cm = metric.CustomMetric(feval=lambda x, y: (x + y).mean())
    cm.update([mx.nd.array([[2.5], [0.0], [2], [8]])], [mx.nd.array([[3], [-0.5], [2], [7]])])
    assert cm.get() == ("custom(<lambda>)", 6.0)


def test_numpy_inputs_and_single_arrays():
    acc = metric.create("acc")
    acc.update(np.array([0, 1, 1]), np.array([[0.3, 0.7], [0, 1.], [0.4, 0.6]]))
    assert acc.get()[1] == pytest.approx(2 / 3)
    assert isinstance(acc.get()[1], float)


def test_create_forms():
    assert isinstance(metric.create("ACC"), metric.Accuracy)
    assert metric.create("top_k_accuracy", top_k=5).name == "top_k_accuracy_5"
    m = metric.Accuracy()
    assert metric.create(m) is m
    comp = metric.create(["acc", "ce", metric.MSE()])
    assert isinstance(comp, metric.CompositeEvalMetric)
    assert [c.name for c in comp.metrics] == ["accuracy", "cross-entropy", "mse"]
    assert comp.get_metric(1).name == "cross-entropy"
    assert isinstance(comp.get_metric(7), ValueError)        # MXNet returns it, not raises
    cfg = metric.create("acc", axis=2, name="a2").get_config()
    assert cfg == {"axis": 2, "metric": "Accuracy", "name": "a2", "output_names": None,
                   "label_names": None}
    assert metric.create(cfg).axis == 2
    assert metric.create(json.dumps(cfg)).name == "a2"

    def my_eval(label, pred):
        return 1.0
    assert metric.create(my_eval).name == "my_eval"
    assert metric.np(my_eval, name="x").name == "x"
    with pytest.raises(NotImplementedError, match="cannot be serialized"):
        metric.create(my_eval).get_config()


def test_register_and_alias():
    @metric.register
    @metric.alias("always_one", "one")
    class AlwaysOne(metric.EvalMetric):
        def __init__(self, name="always-one"):
            super().__init__(name)

        def update(self, labels, preds):
            self.sum_metric += len(labels)
            self.num_inst += len(labels)

    try:
        m = metric.create("one")
        m.update([mx.nd.zeros(1)], [mx.nd.zeros(1)])
        assert m.get() == ("always-one", 1.0)
        assert isinstance(metric.create("alwaysone"), AlwaysOne)
        with pytest.warns(UserWarning, match="overriding existing metric"):
            metric.register(AlwaysOne, "one")
    finally:
        for k in ("alwaysone", "always_one", "one"):
            metric._REGISTRY.pop(k, None)
    with pytest.raises(ValueError, match="Can only register subclass of EvalMetric"):
        metric.register(int)


# --- bad input ---------------------------------------------------------------------------------
def test_unknown_metric_lists_accepted_names():
    with pytest.raises(ValueError, match="metric 'accuracyy' is not registered; accepted names: "
                                         "acc, accuracy, caffe, ce, composite") as ei:
        metric.create("accuracyy")
    assert "top_k_accuracy" in str(ei.value) and "rmse" in str(ei.value)
    with pytest.raises(AssertionError):          # MXNet raised AssertionError here
        metric.create(["acc", "nope"])


def test_wrong_label_shapes_name_metric_and_shapes():
    with pytest.raises(ValueError, match=r"Accuracy 'accuracy': labels of shape \(4,\) do not "
                                         r"match predictions of shape \(3, 2\)"):
        metric.Accuracy().update([mx.nd.zeros(4)], [mx.nd.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"MSE 'mse': got 2 label arrays but 1 prediction "
                                         r"arrays \(label shapes \[\(4,\), \(4,\)\], prediction "
                                         r"shapes \[\(4,\)\]\)"):
        metric.MSE().update([mx.nd.zeros(4), mx.nd.zeros(4)], [mx.nd.zeros(4)])
    with pytest.raises(ValueError, match=r"MAE 'mae': labels of shape \(4, 2\) do not match "
                                         r"predictions of shape \(4, 3\)"):
        metric.MAE().update([mx.nd.zeros((4, 2))], [mx.nd.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"Perplexity 'perplexity': labels of shape \(5,\) .* "
                                         r"\(4, 3\): shape mismatch"):
        metric.Perplexity(-1).update([mx.nd.zeros(5)], [mx.nd.zeros((4, 3))])
    with pytest.raises(AssertionError, match=r"CrossEntropy 'cross-entropy': labels of shape "
                                             r"\(5,\) .* \(4, 3\)"):
        metric.CrossEntropy().update([mx.nd.zeros(5)], [mx.nd.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"labels must be class indices below 3; got labels "
                                         r"from 0 to 7"):
        metric.NegativeLogLikelihood().update([mx.nd.array([0, 7])], [mx.nd.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"PearsonCorrelation 'pearsonr': labels of shape "
                                         r"\(4, 1\) do not match predictions of shape \(4,\)"):
        metric.PearsonCorrelation().update([mx.nd.zeros((4, 1))], [mx.nd.zeros(4)])
    with pytest.raises(ValueError, match=r"TopKAccuracy 'top_k_accuracy_5': .* top_k=5 is more "
                                         r"than the 3 entries"):
        metric.TopKAccuracy(top_k=5).update([mx.nd.zeros(2)], [mx.nd.zeros((2, 3))])
    with pytest.raises(mx.MXNetError, match="F1 'f1' currently only supports binary "
                                            "classification; the labels hold 3 classes"):
        metric.F1().update([mx.nd.array([0, 1, 2])], [mx.nd.zeros((3, 2))])
    with pytest.raises(ValueError, match="Please use Accuracy if top_k is no more than 1"):
        metric.create("top_k_accuracy")
    with pytest.raises(ValueError, match=r"Shape of labels 2 does not match shape of "
                                         r"predictions 1"):
        metric.check_label_shapes([1, 2], [1])
