"""mx.callback (runtime/callback.py): MXNet 1.9.1's log lines, byte for byte.

tests/data/metric_golden.json's ``callbacks`` hold the lines MXNet's callbacks logged for scripted
BatchEndParams and a scripted clock (tools/make_metric_golden.py); the same script runs here.
Log parsers' regular expressions must keep matching too.
"""
import importlib.util
import json
import logging
import os
import re
import sys
import types

import pytest

import mxc as mx
from runtime import callback, metric

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "make_metric_golden", os.path.join(HERE, "..", "tools", "make_metric_golden.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

with open(os.path.join(HERE, "data", "metric_golden.json")) as _f:
    GOLD = json.load(_f)

SPEED_RE = re.compile(r"Epoch\[(\d+)\] Batch \[(\d+)-(\d+)\]\tSpeed: ([\d.]+) samples/sec"
                      r"\t(\S+)=([\d.]+)")


class NS:
    metric = metric
    callback = callback
    nd_array = staticmethod(mx.nd.array)
    BatchEndParam = callback.BatchEndParam


def test_golden_covers_every_case():
    assert set(GOLD["callbacks"]) == set(gen.CALLBACK_CASES)


@pytest.mark.parametrize("name", sorted(gen.CALLBACK_CASES))
def test_log_lines_match_mxnet(name):
    case = GOLD["callbacks"][name]
    assert case["spec"] == json.loads(json.dumps(gen.CALLBACK_CASES[name])), "regenerate"
    batches = gen.from_json_batches(GOLD["callback_inputs"])
    assert gen.run_callback_case(NS, gen.CALLBACK_CASES[name], batches) == case["lines"]


def test_batch_end_param():
    p = callback.BatchEndParam(epoch=1, nbatch=2, eval_metric=None, locals={})
    assert p == (1, 2, None, {}) and type(p).__name__ == "BatchEndParams"
    assert callback.BatchEndParam._fields == ("epoch", "nbatch", "eval_metric", "locals")


def _fake_clock(monkeypatch, step=0.5):
    t = {"now": 100.0}

    def now():
        t["now"] += step
        return t["now"]
    monkeypatch.setattr(callback, "time", types.SimpleNamespace(time=now))


def test_speedometer_lines_parse_with_users_regex(caplog, monkeypatch):
    _fake_clock(monkeypatch)
    acc = metric.Accuracy()
    sp = callback.Speedometer(batch_size=64, frequent=10)
    with caplog.at_level(logging.INFO):
        for nbatch in range(31):
            acc.update([mx.nd.array([0, 1, 1, 0])], [mx.nd.array([0, 1, 0, 0])])
            sp(callback.BatchEndParam(epoch=3, nbatch=nbatch, eval_metric=acc, locals=None))
    recs = [r for r in caplog.records if "Speed" in r.getMessage()]
    assert [r.levelno for r in recs] == [logging.INFO] * 3
    assert all(r.name == "root" for r in recs)
    parsed = [SPEED_RE.fullmatch(r.getMessage()).groups() for r in recs]
    assert parsed == [("3", "0", "10", "1280.00", "accuracy", "0.750000"),
                      ("3", "10", "20", "1280.00", "accuracy", "0.750000"),
                      ("3", "20", "30", "1280.00", "accuracy", "0.750000")]
    assert acc.num_inst == 0 and acc.global_num_inst == 31 * 4      # local reset, global kept


def test_speedometer_without_auto_reset_and_epoch_restart(caplog, monkeypatch):
    _fake_clock(monkeypatch, 0.25)
    acc = metric.Accuracy()
    sp = callback.Speedometer(8, frequent=2, auto_reset=False)
    with caplog.at_level(logging.INFO):
        for epoch in range(2):
            for nbatch in range(5):
                acc.update([mx.nd.array([1])], [mx.nd.array([[0.2, 0.8]])])
                sp(callback.BatchEndParam(epoch, nbatch, acc, None))
    msgs = caplog.messages
    assert msgs == ["Epoch[0] Batch [0-2]\tSpeed: 64.00 samples/sec\taccuracy=1.000000",
                    "Epoch[0] Batch [0-4]\tSpeed: 64.00 samples/sec\taccuracy=1.000000",
                    "Epoch[1] Batch [0-2]\tSpeed: 64.00 samples/sec\taccuracy=1.000000",
                    "Epoch[1] Batch [0-4]\tSpeed: 64.00 samples/sec\taccuracy=1.000000"]
    assert acc.num_inst == 10


def test_do_checkpoint_calls_model_save_checkpoint(monkeypatch):
    calls = []
    fake = types.ModuleType("runtime.model")
    fake.save_checkpoint = lambda *a: calls.append(a)
    monkeypatch.setitem(sys.modules, "runtime.model", fake)
    cb = callback.do_checkpoint("run/mlp", period=2)
    for epoch in range(5):
        cb(epoch, "SYM", {"w": 1}, {"a": 2})
    assert calls == [("run/mlp", 2, "SYM", {"w": 1}, {"a": 2}),
                     ("run/mlp", 4, "SYM", {"w": 1}, {"a": 2})]
    calls.clear()
    cb = callback.do_checkpoint("p", period=0)            # period < 1 means every epoch
    cb(0, None, {}, {})
    assert calls == [("p", 1, None, {}, {})]


def test_do_checkpoint_with_real_model_module(tmp_path, caplog):
    model = pytest.importorskip("runtime.model")
    if not hasattr(model, "save_checkpoint"):
        pytest.skip("runtime.model has no save_checkpoint yet")
    w = mx.nd.ones((2, 3))
    cb = callback.do_checkpoint(str(tmp_path / "m"))
    with caplog.at_level(logging.INFO):
        cb(0, None, {"w": w}, {})
    assert (tmp_path / "m-0001.params").exists()


def test_module_checkpoint():
    class Mod:
        def __init__(self):
            self.calls = []

        def save_checkpoint(self, prefix, epoch, save_optimizer_states=False):
            self.calls.append((prefix, epoch, save_optimizer_states))

    mod = Mod()
    cb = callback.module_checkpoint(mod, "ck", period=3, save_optimizer_states=True)
    for epoch in range(7):
        cb(epoch)
    assert mod.calls == [("ck", 3, True), ("ck", 6, True)]


def test_log_train_metric_and_validation(caplog):
    acc = metric.create("acc")
    acc.update([mx.nd.array([0, 1])], [mx.nd.array([[1, 0], [1, 0]])])
    with caplog.at_level(logging.INFO):
        callback.log_train_metric(5)(callback.BatchEndParam(2, 10, acc, None))
        callback.log_train_metric(5)(callback.BatchEndParam(2, 11, acc, None))
        callback.LogValidationMetricsCallback()(callback.BatchEndParam(2, 0, acc, None))
        callback.LogValidationMetricsCallback()(callback.BatchEndParam(2, 0, None, None))
    assert caplog.messages == ["Iter[2] Batch[10] Train-accuracy=0.500000",
                               "Epoch[2] Validation-accuracy=0.500000"]
    assert re.fullmatch(r"Epoch\[(\d+)\] Validation-([^=]+)=([\d.]+)", caplog.messages[1])


def test_progress_bar(caplog):
    with caplog.at_level(logging.INFO):
        callback.ProgressBar(total=4, length=8)(callback.BatchEndParam(0, 1, None, None))
    assert caplog.messages == ["[==------] 25%\r"]
