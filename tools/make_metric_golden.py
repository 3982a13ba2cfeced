"""Record MXNet 1.9.1's evaluation metrics and callback log lines as golden data for
tests/test_metric.py and tests/test_callback.py.

    PY=$(../shared/oracle/setup.sh)
    $PY tools/make_metric_golden.py        # writes tests/data/metric_golden.json

Metric cases: a metric made by ``mx.metric.create`` (or a class), a script of operations
(update / update_dict / reset_local / reset) on seeded inputs, and after every step what the
metric reports: ``get``, ``get_global``, ``get_name_value``, ``get_global_name_value``, the
counters, ``str`` and ``get_config``. Callback cases: BatchEndParams fed to Speedometer &c. with a
scripted clock, and the log lines they wrote. The inputs are stored in the JSON too, so the tests
replay exactly what MXNet saw. ``run_metric_case`` / ``run_callback_case`` take a namespace (MXNet
here, mxc in the tests) so both sides run the same steps; nothing from mxnet or mxc is imported
at module level.
"""
from __future__ import annotations

import json
import logging
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                   "metric_golden.json")


# --- custom evaluation functions (the same code runs on both sides) ---------------------------------
def mean_abs_err(label, pred):
    return float(np.abs(label.ravel() - pred.ravel()).mean())


def sum_and_count(label, pred):
    return float((pred.argmax(axis=1) == label.ravel()).sum()), label.size


FEVALS = {
    "mean_abs_err": mean_abs_err,
    "sum_and_count": sum_and_count,
    "lambda": lambda label, pred: float(pred.sum() - label.sum()),
}


# --- seeded inputs --------------------------------------------------------------------------------
def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def make_batch(kind, rng, **k):
    """``(labels, preds)``: lists of float32 numpy arrays for input ``kind``."""
    n = k.get("n", 8)
    c = k.get("c", 4)
    f32 = np.float32
    if kind == "cls":
        return ([rng.randint(0, c, n).astype(f32)],
                [_softmax(rng.randn(n, c)).astype(f32)])
    if kind == "cls2":                        # two outputs
        a = make_batch("cls", rng, n=n, c=c)
        b = make_batch("cls", rng, n=n, c=c)
        return a[0] + b[0], a[1] + b[1]
    if kind == "cls_extra":                   # one label, a prediction plus an RNN state
        lab, pred = make_batch("cls", rng, n=n, c=c)
        return lab, pred + [rng.randn(n, 3).astype(f32)]
    if kind == "cls3d":
        t = k.get("t", 3)
        return ([rng.randint(0, c, (n, t)).astype(f32)],
                [_softmax(rng.randn(n, t, c)).astype(f32)])
    if kind == "cls_axis0":
        return ([rng.randint(0, c, n).astype(f32)],
                [_softmax(rng.randn(c, n), axis=0).astype(f32)])
    if kind == "idx":
        return ([rng.randint(0, c, n).astype(f32)], [rng.randint(0, c, n).astype(f32)])
    if kind == "bin":
        return ([rng.randint(0, 2, n).astype(f32)], [_softmax(rng.randn(n, 2)).astype(f32)])
    if kind == "bin_skewed":
        lab = (rng.rand(n) < 0.8).astype(f32)
        return [lab], [_softmax(rng.randn(n, 2) + [0, 1.5]).astype(f32)]
    if kind == "reg":
        shp_l = tuple(k.get("label_shape", (n,)))
        shp_p = tuple(k.get("pred_shape", (n, 1)))
        base = rng.randn(n).astype(f32)
        return ([base.reshape(shp_l)],
                [(base + 0.3 * rng.randn(n)).astype(f32).reshape(shp_p)])
    if kind == "seq":                         # language-model batches with padding (-1 / 0)
        t = k.get("t", 5)
        pad = k.get("pad", -1)
        lab = rng.randint(1, c, (n, t)).astype(f32)
        lengths = rng.randint(1, t + 1, n)
        for i, ln in enumerate(lengths):
            lab[i, ln:] = pad
        return [lab], [_softmax(rng.randn(n * t, c)).astype(f32)]
    if kind == "loss":
        return [rng.randn(n).astype(f32)], [rng.rand(n, 2).astype(f32)]
    if kind == "multiclass":
        return ([rng.randint(0, c, n).astype(f32)], [_softmax(rng.randn(n, c) * 3).astype(f32)])
    raise ValueError(kind)


def _num(x):
    """A JSON-able copy of a metric's result (numbers as float/int, lists kept)."""
    if isinstance(x, (list, tuple)):
        return [_num(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x)
    return x


def _config(m):
    try:
        cfg = m.get_config()
    except NotImplementedError as e:
        return {"error": str(e)}
    return json.loads(json.dumps(cfg, default=str))


def _observe(m):
    return {
        "get": _num(m.get()),
        "get_global": _num(m.get_global()),
        "name_value": _num(m.get_name_value()),
        "global_name_value": _num(m.get_global_name_value()),
        "num_inst": _num(getattr(m, "num_inst", None)),
        "global_num_inst": _num(getattr(m, "global_num_inst", None)),
        "sum_metric": _num(getattr(m, "sum_metric", None)),
        "global_sum_metric": _num(getattr(m, "global_sum_metric", None)),
        "str": str(m),
    }


def build_metric(ns, spec):
    """The metric of ``spec`` (``create``: args/kwargs for ``metric.create`` with ``"feval:x"``
    standing for ``FEVALS[x]``; ``np``: a ``metric.np`` metric; ``cls``: a class by name)."""
    def arg(a):
        if isinstance(a, str) and a.startswith("feval:"):
            return FEVALS[a[6:]]
        if isinstance(a, list):
            return [arg(x) for x in a]
        return a
    if "create" in spec:
        args, kwargs = spec["create"]
        return ns.metric.create(*[arg(a) for a in args], **kwargs)
    if "np" in spec:
        return ns.metric.np(FEVALS[spec["np"]], **spec.get("kw", {}))
    return getattr(ns.metric, spec["cls"])(*[arg(a) for a in spec.get("args", [])],
                                           **spec.get("kw", {}))


def run_metric_case(ns, spec, batches):
    """Run ``spec["ops"]`` on the metric with ``batches`` (lists of numpy arrays); returns the
    list of observations (one after every op)."""
    m = build_metric(ns, spec)
    obs = [{"op": "init", **_observe(m), "config": _config(m), "name": m.name}]
    for op in spec["ops"]:
        kind = op[0]
        if kind in ("update", "update_dict"):
            labels, preds = batches[op[1]]
            labels = [ns.nd_array(a) for a in labels]
            preds = [ns.nd_array(a) for a in preds]
            if kind == "update":
                m.update(labels, preds)
            else:
                lnames = op[2]
                pnames = op[3]
                m.update_dict(dict(zip(lnames, labels)), dict(zip(pnames, preds)))
        elif kind == "reset_local":
            m.reset_local()
        elif kind == "reset":
            m.reset()
        else:
            raise ValueError(kind)
        obs.append({"op": kind, **_observe(m)})
    return obs


U = "update"
STD_OPS = [[U, 0], [U, 1], ["reset_local"], [U, 2], ["reset"], [U, 1]]


def _c(metric, *args, **kw):
    return {"create": [[metric, *args], kw]}


METRIC_CASES = {
    "acc": {**_c("acc"), "inputs": ["cls", {"c": 5}], "ops": STD_OPS},
    "accuracy_idx": {**_c("accuracy"), "inputs": ["idx", {}], "ops": STD_OPS},
    "acc_axis2": {**_c("acc", axis=2), "inputs": ["cls3d", {}], "ops": STD_OPS},
    "acc_axis0": {**_c("acc", axis=0), "inputs": ["cls_axis0", {}], "ops": STD_OPS},
    "acc_two_outputs": {**_c("acc"), "inputs": ["cls2", {}], "ops": STD_OPS},
    "acc_named": {**_c("Accuracy", name="my_acc", output_names=["sm_output"],
                       label_names=["sm_label"]),
                  "inputs": ["cls2", {}],
                  "ops": [["update_dict", 0, ["x_label", "sm_label"], ["x_out", "sm_output"]],
                          ["update_dict", 1, ["sm_label", "x_label"], ["sm_output", "x_out"]]]},
    "top_k": {**_c("top_k_accuracy", top_k=3), "inputs": ["cls", {"c": 6, "n": 10}],
              "ops": STD_OPS},
    "top_k_acc_2": {**_c("top_k_acc", top_k=2), "inputs": ["cls", {"c": 3}], "ops": STD_OPS},
    "top_k_1d": {**_c("TopKAccuracy", top_k=2), "inputs": ["idx", {"c": 8}], "ops": STD_OPS},
    "f1_macro": {**_c("f1"), "inputs": ["bin", {"n": 12}], "ops": STD_OPS},
    "f1_micro": {**_c("F1", average="micro"), "inputs": ["bin", {"n": 12}], "ops": STD_OPS},
    "mcc_macro": {**_c("mcc"), "inputs": ["bin_skewed", {"n": 16}], "ops": STD_OPS},
    "mcc_micro": {**_c("mcc", average="micro"), "inputs": ["bin_skewed", {"n": 16}],
                  "ops": STD_OPS},
    "perplexity": {**_c("perplexity", -1), "inputs": ["seq", {"c": 6}], "ops": STD_OPS},
    "perplexity_none": {**_c("Perplexity", None), "inputs": ["seq", {"c": 6, "pad": 0}],
                        "ops": STD_OPS},
    "perplexity_none_clip": {**_c("Perplexity", None), "inputs": ["seq", {"c": 6}],
                             "ops": STD_OPS},
    "perplexity_pad0": {**_c("Perplexity", ignore_label=0, name="ppl"),
                        "inputs": ["seq", {"c": 6, "pad": 0}], "ops": STD_OPS},
    "perplexity_axis0": {"cls": "Perplexity", "args": [None], "kw": {"axis": 0},
                         "inputs": ["cls_axis0", {"n": 5, "c": 5}], "ops": STD_OPS},
    "mae": {**_c("mae"), "inputs": ["reg", {}], "ops": STD_OPS},
    "mse": {**_c("mse"), "inputs": ["reg", {"label_shape": [8, 1], "pred_shape": [8]}],
            "ops": STD_OPS},
    "rmse": {**_c("rmse"), "inputs": ["reg", {"n": 6, "label_shape": [2, 3],
                                              "pred_shape": [2, 3]}], "ops": STD_OPS},
    "ce": {**_c("ce"), "inputs": ["cls", {"c": 5}], "ops": STD_OPS},
    "ce_eps": {**_c("CrossEntropy", eps=1e-3), "inputs": ["cls", {"c": 3}], "ops": STD_OPS},
    "nll": {**_c("nll_loss"), "inputs": ["cls", {"c": 5}], "ops": STD_OPS},
    "pearsonr": {**_c("pearsonr"), "inputs": ["reg", {"label_shape": [8, 1]}], "ops": STD_OPS},
    "pearsonr_micro": {**_c("pearsonr", average="micro"),
                       "inputs": ["reg", {"label_shape": [8, 1]}], "ops": STD_OPS},
    "pcc": {**_c("pcc"), "inputs": ["multiclass", {"n": 20, "c": 4}], "ops": STD_OPS},
    "loss": {**_c("loss"), "inputs": ["loss", {}], "ops": STD_OPS},
    "torch": {**_c("torch"), "inputs": ["loss", {}], "ops": [[U, 0]]},
    "caffe": {**_c("caffe"), "inputs": ["loss", {}], "ops": [[U, 0]]},
    "composite": {"create": [[["acc", "ce", "mse"]], {}],
                  "inputs": ["cls", {"c": 3, "n": 8}], "ops": STD_OPS},
    "composite_cls": {"create": [[["acc", "ce", "nll_loss"]], {}],
                      "inputs": ["cls", {"c": 4}], "ops": STD_OPS},
    "composite_dict": {"cls": "CompositeEvalMetric",
                       "kw": {"metrics": ["acc", "f1"], "label_names": ["l1"],
                              "output_names": ["o1"]},
                       "inputs": ["bin", {}],
                       "ops": [["update_dict", 0, ["l1"], ["o1"]], ["reset_local"],
                               ["update_dict", 1, ["l1"], ["o1"]]]},
    "json_config": {"create": [['["accuracy", {"axis": 1, "name": "acc_json"}]'], {}],
                    "inputs": ["cls", {}], "ops": [[U, 0]]},
    "dict_config": {"create": [[{"metric": "TopKAccuracy", "top_k": 2}], {}],
                    "inputs": ["cls", {}], "ops": [[U, 0]]},
    "custom_np": {"np": "mean_abs_err", "inputs": ["reg", {"label_shape": [8, 1]}],
                  "ops": STD_OPS},
    "custom_np_named": {"np": "mean_abs_err", "kw": {"name": "mae2"},
                        "inputs": ["reg", {}], "ops": [[U, 0]]},
    "custom_tuple": {**_c("feval:sum_and_count"), "inputs": ["cls", {}], "ops": STD_OPS},
    "custom_lambda": {**_c("feval:lambda"), "inputs": ["cls", {}], "ops": STD_OPS},
    "custom_extra": {"cls": "CustomMetric", "args": ["feval:sum_and_count"],
                     "kw": {"allow_extra_outputs": True}, "inputs": ["cls_extra", {}],
                     "ops": [[U, 0]]},
    "create_list_callable": {"create": [[["acc", "feval:mean_abs_err"]], {}],
                             "inputs": ["idx", {}], "ops": [[U, 0], [U, 1]]},
}


def metric_inputs(name, spec):
    kind, kw = spec["inputs"]
    rng = np.random.RandomState(abs(hash_name(name)) % (2 ** 31))
    n_batches = 1 + max([op[1] for op in spec["ops"] if op[0].startswith("update")] + [0])
    return [make_batch(kind, rng, **kw) for _ in range(n_batches)]


def hash_name(name):
    h = 0
    for ch in name:
        h = (h * 131 + ord(ch)) % 1000003
    return h


# --- callbacks ------------------------------------------------------------------------------------
class FakeClock:
    """``time.time()`` advancing by a scripted step each call."""

    def __init__(self, steps):
        self.t = 1000.0
        self.steps = list(steps)
        self.i = 0

    def time(self):
        self.t += self.steps[self.i % len(self.steps)]
        self.i += 1
        return self.t


CALLBACK_CASES = {
    "speedometer_auto_reset": {"cb": ["Speedometer", [32], {"frequent": 2}], "metric": "acc",
                               "epochs": [7, 5]},
    "speedometer_no_reset": {"cb": ["Speedometer", [16, 3], {"auto_reset": False}],
                             "metric": "acc", "epochs": [8]},
    "speedometer_composite": {"cb": ["Speedometer", [10], {"frequent": 2}],
                              "metric": ["acc", "ce"], "epochs": [5]},
    "speedometer_no_metric": {"cb": ["Speedometer", [8], {"frequent": 2}], "metric": None,
                              "epochs": [5, 3]},
    "speedometer_nan": {"cb": ["Speedometer", [8], {"frequent": 1}], "metric": "acc",
                        "no_update": True, "epochs": [3]},
    "speedometer_zero_time": {"cb": ["Speedometer", [8], {"frequent": 1}], "metric": "acc",
                              "steps": [0.0], "epochs": [3]},
    "log_train_metric": {"cb": ["log_train_metric", [2], {"auto_reset": True}],
                         "metric": ["acc", "ce"], "epochs": [5]},
    "log_train_metric_keep": {"cb": ["log_train_metric", [3], {}], "metric": "acc",
                              "epochs": [7]},
    "progress_bar": {"cb": ["ProgressBar", [], {"total": 6, "length": 12}], "metric": "acc",
                     "epochs": [7]},
    "progress_default": {"cb": ["ProgressBar", [3], {}], "metric": None, "epochs": [4]},
    "log_validation": {"cb": ["LogValidationMetricsCallback", [], {}],
                       "metric": ["acc", "ce"], "epochs": [2, 2]},
}


def run_callback_case(ns, spec, batches):
    """Feed BatchEndParams to the callback of ``spec``; returns the log lines it wrote."""
    name, args, kw = spec["cb"]
    cb = getattr(ns.callback, name)(*args, **kw)
    metric = None if spec["metric"] is None else ns.metric.create(spec["metric"])
    clock = FakeClock(spec.get("steps", [0.25, 0.5, 0.125]))
    lines = []

    class H(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    root = logging.getLogger()
    handler, old_level = H(level=logging.INFO), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    old_time = ns.callback.time
    ns.callback.time = clock
    try:
        k = 0
        for epoch, nb in enumerate(spec["epochs"]):
            for nbatch in range(nb):
                if metric is not None and not spec.get("no_update"):
                    labels, preds = batches[k % len(batches)]
                    k += 1
                    metric.update([ns.nd_array(a) for a in labels],
                                  [ns.nd_array(a) for a in preds])
                cb(ns.BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=metric,
                                    locals=None))
    finally:
        ns.callback.time = old_time
        root.removeHandler(handler)
        root.setLevel(old_level)
    return lines


def callback_inputs():
    rng = np.random.RandomState(5)
    return [make_batch("cls", rng, n=8, c=3) for _ in range(4)]


# --- JSON -----------------------------------------------------------------------------------------
def to_json_batches(batches):
    # float32 values as their shortest decimal form: float32(that) gives the value back exactly
    return [[[{"shape": list(a.shape), "values": [float(str(v)) for v in a.ravel()]}
              for a in part] for part in b] for b in batches]


def from_json_batches(data):
    return [tuple([np.asarray(a["values"], np.float32).reshape(a["shape"]) for a in part]
                  for part in b) for b in data]


def main():
    import mxnet as mx
    import mxnet.callback
    from mxnet.model import BatchEndParam

    class NS:
        metric = mx.metric
        callback = mxnet.callback
        nd_array = staticmethod(mx.nd.array)

    NS.BatchEndParam = BatchEndParam
    out = {"mxnet": mx.__version__, "metrics": {}, "callbacks": {},
           "registry": sorted(mx.metric.registry._REGISTRY[mx.metric.EvalMetric])}
    for name, spec in METRIC_CASES.items():
        batches = metric_inputs(name, spec)
        obs = run_metric_case(NS, spec, batches)
        out["metrics"][name] = {"spec": spec, "inputs": to_json_batches(batches), "obs": obs}
        print(name, obs[-1]["get"], file=sys.stderr)
    cb_batches = callback_inputs()
    out["callback_inputs"] = to_json_batches(cb_batches)
    for name, spec in CALLBACK_CASES.items():
        out["callbacks"][name] = {"spec": spec, "lines": run_callback_case(NS, spec, cb_batches)}
        print(name, len(out["callbacks"][name]["lines"]), file=sys.stderr)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"), allow_nan=True)
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
