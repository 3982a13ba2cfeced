"""Module: training parity with MXNet 1.9.1 (tests/data/training, written by
tools/make_training_golden.py), fit's log lines, data parallelism over several CPU contexts,
the state machine's errors, and the rest of the Module API."""
import logging
import os
import re
import warnings

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError, ShapeError, StateError
from runtime.io import DataBatch, NDArrayIter
from runtime.module import Module, PythonLossModule, SequentialModule

D = os.path.join(os.path.dirname(__file__), "data", "training")


def golden(case):
    return np.load(os.path.join(D, case + ".npz"))


def load_sym(name):
    return mx.sym.load(os.path.join(D, name + "-symbol.json"))


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def make_logger(name):
    lg = logging.getLogger("test_module." + name)
    lg.setLevel(logging.INFO)
    lg.propagate = False
    h = ListHandler()
    lg.handlers[:] = [h]
    return lg, h


def prefixed(z, prefix):
    return {k[len(prefix):]: z[k] for k in z.files if k.startswith(prefix)}


def assert_params(got, ref, rtol=2e-3, atol=1e-6):
    assert sorted(got) == sorted(ref)
    for k in ref:
        np.testing.assert_allclose(got[k].asnumpy(), ref[k], rtol=rtol, atol=atol, err_msg=k)


def fit_mlp(case, optimizer, optimizer_params, context=None, kvstore="local"):
    z = golden(case)
    logger, handler = make_logger(case)
    mod = Module(load_sym("mlp"), logger=logger, context=context or mx.cpu())
    args = {k: mx.nd.array(v) for k, v in prefixed(z, "init:").items()}
    mod.fit(NDArrayIter(z["data"], z["label"], batch_size=8),
            eval_data=NDArrayIter(z["data"], z["label"], batch_size=8),
            eval_metric=["acc", "ce"], kvstore=kvstore, optimizer=optimizer,
            optimizer_params=optimizer_params, arg_params=args, num_epoch=2)
    return mod, z, handler.lines


# MXNet users' log parsers (e.g. example/image-classification's parse_log, plotting scripts)
RE_TRAIN = re.compile(r"Epoch\[(\d+)\] Train-([\w-]+)=([-+.\deE]+)$")
RE_TIME = re.compile(r"Epoch\[(\d+)\] Time cost=([.\d]+)$")
RE_VAL = re.compile(r"Epoch\[(\d+)\] Validation-([\w-]+)=([-+.\deE]+)$")


def parse_log(lines):
    out = {"train": {}, "val": {}, "time": {}}
    for ln in lines:
        for key, rx in (("train", RE_TRAIN), ("val", RE_VAL)):
            m = rx.match(ln)
            if m:
                out[key][(int(m.group(1)), m.group(2))] = float(m.group(3))
        m = RE_TIME.match(ln)
        if m:
            out["time"][int(m.group(1))] = float(m.group(2))
    return out


# --- (1) optimizer parity over 20 updates ---------------------------------------------------------
SGD = {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4}


def test_fit_sgd_momentum_matches_mxnet():
    mod, z, lines = fit_mlp("mlp_sgd", "sgd", SGD)
    arg, aux = mod.get_params()
    assert_params(arg, prefixed(z, "final:"))
    assert aux == {}
    # (5) the log lines parse with the regular expressions MXNet users use, with MXNet's values
    ours, theirs = parse_log(lines), parse_log(list(z["log"]))
    assert set(ours["train"]) == set(theirs["train"]) == {
        (e, m) for e in (0, 1) for m in ("accuracy", "cross-entropy")}
    assert set(ours["val"]) == set(theirs["val"])
    for part in ("train", "val"):
        for k, v in theirs[part].items():
            assert ours[part][k] == pytest.approx(v, rel=1e-4, abs=1e-6), (part, k)
    assert sorted(ours["time"]) == [0, 1]
    # the same lines in the same order, only the times differ
    strip = [re.sub(r"Time cost=[.\d]+", "Time cost=T", ln) for ln in lines]
    assert len(strip) == len(z["log"])
    assert [ln.split("=")[0] for ln in strip] == [str(ln).split("=")[0] for ln in z["log"]]


def test_fit_adam_matches_mxnet():
    mod, z, _ = fit_mlp("mlp_adam", "adam", {"learning_rate": 0.01, "wd": 1e-4})
    assert_params(mod.get_params()[0], prefixed(z, "final:"))


def test_fit_lr_scheduler_matches_mxnet():
    from runtime.lr_scheduler import FactorScheduler
    mod, z, _ = fit_mlp("mlp_sgd_factor", "sgd",
                        {"learning_rate": 0.2,
                         "lr_scheduler": FactorScheduler(step=5, factor=0.5)})
    assert_params(mod.get_params()[0], prefixed(z, "final:"))
    assert mod._optimizer.learning_rate == pytest.approx(0.2 * 0.5 ** 3)


def test_fit_two_cpu_contexts_matches_mxnet():
    """Data parallelism: each context gets half of every batch; the 'local' kvstore sums the
    gradients (compiled add_n) and runs the updates, as in MXNet."""
    from runtime.kvstore import KVStore
    mod, z, lines = fit_mlp("mlp_sgd_2dev", "sgd", SGD, context=[mx.cpu(0), mx.cpu(1)])
    assert isinstance(mod._kvstore, KVStore) and mod._update_on_kvstore
    assert_params(mod.get_params()[0], prefixed(z, "final:"))
    execs = mod._exec_group.execs
    assert [e._ctx for e in execs] == [mx.cpu(0), mx.cpu(1)]
    assert [s for s in mod._exec_group.slices] == [slice(0, 4), slice(4, 8)]
    for a, b in zip(execs[0].arg_arrays, execs[1].arg_arrays):
        if a.shape != (4, 10) and a.shape != (4,):
            np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())   # kept equal
    ours, theirs = parse_log(lines), parse_log(list(z["log"]))
    for k, v in theirs["val"].items():
        assert ours["val"][k] == pytest.approx(v, rel=1e-4, abs=1e-6)
    # the merged outputs cover the whole batch
    out = mod.predict(NDArrayIter(z["data"], z["label"], batch_size=8))
    assert out.shape == (80, 3)


def test_two_contexts_without_update_on_kvstore(monkeypatch):
    """MXNET_UPDATE_ON_KVSTORE=0: the summed gradient is pulled back to each device and each
    device updates its own copy (updater indices i * num_device + k)."""
    monkeypatch.setenv("MXNET_UPDATE_ON_KVSTORE", "0")
    mod, z, _ = fit_mlp("mlp_sgd_2dev", "sgd", SGD, context=[mx.cpu(0), mx.cpu(1)])
    assert not mod._update_on_kvstore and mod._updater is not None
    assert sorted(mod._updater.states) == list(range(8))
    assert mod._optimizer.idx2name[3] == "fc1_bias" and mod._optimizer.idx2name[2] == "fc1_bias"
    assert_params(mod.get_params()[0], prefixed(z, "final:"))


def test_work_load_list_slices():
    sym = load_sym("mlp")
    mod = Module(sym, context=[mx.cpu(0), mx.cpu(1)], work_load_list=[1, 3])
    mod.bind([("data", (8, 10))], [("softmax_label", (8,))])
    assert mod._exec_group.slices == [slice(0, 2), slice(2, 8)]
    assert [e.arg_dict["data"].shape for e in mod._exec_group.execs] == [(2, 10), (6, 10)]
    with pytest.raises(MXNetError):
        Module(sym, context=[mx.cpu(0), mx.cpu(1)], work_load_list=[1])


# --- (2), (3) gradients of conv/BN, residual and LSTM networks -----------------------------------
def _grad_case(case, sym=None):
    z = golden(case)
    sym = load_sym(case) if sym is None else sym
    mod = Module(sym)
    mod.bind([("data", z["data"].shape)], [("softmax_label", z["label"].shape)])
    init = prefixed(z, "init:")
    args = {k: mx.nd.array(v) for k, v in init.items() if k in sym.list_arguments()}
    auxs = {k: mx.nd.array(v) for k, v in init.items() if k in sym.list_auxiliary_states()}
    mod.set_params(args, auxs)
    mod.forward(DataBatch([mx.nd.array(z["data"])], [mx.nd.array(z["label"])]), is_train=True)
    mod.backward()
    np.testing.assert_allclose(mod.get_outputs()[0].asnumpy(), z["output"], rtol=1e-4,
                               atol=1e-6)
    ex = mod._exec_group.execs[0]
    grads = prefixed(z, "grad:")
    assert sorted(grads) == sorted(ex.grad_dict)
    for k, ref in grads.items():
        # conv biases under BatchNorm have a zero gradient in exact arithmetic: ~1e-7 noise
        np.testing.assert_allclose(ex.grad_dict[k].asnumpy(), ref, rtol=2e-3, atol=1e-5,
                                   err_msg=k)
    for k, ref in prefixed(z, "aux_after:").items():
        np.testing.assert_allclose(ex.aux_dict[k].asnumpy(), ref, rtol=1e-4, atol=1e-6,
                                   err_msg=k)
        assert not np.allclose(ref, init[k])        # the moving statistics did move
    return mod


def _need_ops(*names):
    from mxc.ir.registry import all_ops
    missing = [n for n in names if n not in all_ops()]
    if missing:
        pytest.skip(f"operators not registered yet: {missing}")


@pytest.mark.slow
def test_convnet_batchnorm_gradients_match_mxnet():
    _need_ops("Convolution", "BatchNorm", "Pooling")
    _grad_case("convnet_bn")


@pytest.mark.slow
def test_residual_block_gradients_match_mxnet():
    _need_ops("Convolution", "BatchNorm", "Pooling")
    _grad_case("resblock")


def test_unrolled_lstm_gradients_match_mxnet():
    """MXNet's mx.rnn.LSTMCell(8) unrolled 4 steps (its own JSON)."""
    _grad_case("lstm")


@pytest.mark.slow
def test_lstm_built_with_mx_rnn_matches_mxnet():
    """The same network built with mxc's mx.rnn.LSTMCell gives MXNet's gradients."""
    try:
        cell = mx.rnn.LSTMCell(num_hidden=8, prefix="lstm_")
    except (AttributeError, ImportError) as e:
        pytest.skip(f"mx.rnn is not available: {e}")
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("softmax_label")
    emb = mx.sym.Embedding(data, input_dim=12, output_dim=6, name="embed")
    outputs, _ = cell.unroll(4, inputs=emb, merge_outputs=True)
    pred = mx.sym.Reshape(outputs, shape=(-1, 8))
    pred = mx.sym.FullyConnected(pred, num_hidden=12, name="pred")
    label = mx.sym.Reshape(label, shape=(-1,))
    sym = mx.sym.SoftmaxOutput(pred, label=label, name="softmax")
    _grad_case("lstm", sym)


# --- the Module API ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mlp_mod():
    z = golden("mlp_sgd")
    mod = Module(load_sym("mlp"))
    mod.bind([("data", (8, 10))], [("softmax_label", (8,))])
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in prefixed(z, "init:").items()})
    return mod, z


def test_predict_score_iter_predict_and_reshape(mlp_mod):
    mod, z = mlp_mod
    x = z["data"]
    w1, b1 = z["init:fc1_weight"], z["init:fc1_bias"]
    w2, b2 = z["init:fc2_weight"], z["init:fc2_bias"]
    h = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    ref = np.exp(h - h.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    # 80 rows in batches of 16 (the module is bound for 8: forward reshapes, as MXNet does)
    out = mod.predict(NDArrayIter(x, z["label"], batch_size=16))
    np.testing.assert_allclose(out.asnumpy(), ref, rtol=1e-5, atol=1e-6)
    assert mod.data_shapes[0].shape == (16, 10)
    # a padded last batch: padding is dropped
    out = mod.predict(NDArrayIter(x[:20], z["label"][:20], batch_size=8))
    assert out.shape == (20, 3)
    np.testing.assert_allclose(out.asnumpy(), ref[:20], rtol=1e-5, atol=1e-6)
    lists = mod.predict(NDArrayIter(x[:16], z["label"][:16], batch_size=8),
                        merge_batches=False)
    assert len(lists) == 2 and lists[1][0].shape == (8, 3)
    assert isinstance(mod.predict(NDArrayIter(x[:8], batch_size=8), always_output_list=True),
                      list)
    got = [(o[0].shape, i) for o, i, _ in mod.iter_predict(NDArrayIter(x[:20], batch_size=8))]
    assert got == [((8, 3), 0), ((8, 3), 1), ((4, 3), 2)]
    # predict on an array: one forward
    np.testing.assert_allclose(mod.predict(x[:8]).asnumpy(), ref[:8], rtol=1e-5, atol=1e-6)
    acc = (ref.argmax(1) == z["label"]).mean()
    (name, val), = mod.score(NDArrayIter(x, z["label"], batch_size=8), "acc")
    assert name == "accuracy" and val == pytest.approx(acc)
    assert mod.score(NDArrayIter(x, z["label"], batch_size=8), "acc", num_batch=2)
    assert [tuple(s) for s in mod.output_shapes] == [("softmax_output", (8, 3))]
    # reshapes are cached: going back to a seen shape binds nothing new
    group = mod._exec_group
    n = len(group._reshape_cache)
    mod.predict(NDArrayIter(x, z["label"], batch_size=16))
    assert len(group._reshape_cache) == n
    # parameters are shared between the reshaped executors
    assert group.execs[0].arg_dict["fc1_weight"] is group._default_execs[0].arg_dict[
        "fc1_weight"]


def test_params_get_set_save_load(mlp_mod, tmp_path):
    mod, z = mlp_mod
    arg, _ = mod.get_params()
    np.testing.assert_array_equal(arg["fc1_weight"].asnumpy(), z["init:fc1_weight"])
    f = str(tmp_path / "p.params")
    mod.save_params(f)
    saved = mx.nd.load(f)
    assert sorted(saved) == sorted("arg:" + k for k in arg)
    other = Module(load_sym("mlp"))
    other.bind([("data", (8, 10))], [("softmax_label", (8,))])
    other.load_params(f)
    for k, v in other.get_params()[0].items():
        np.testing.assert_array_equal(v.asnumpy(), arg[k].asnumpy())
    with pytest.raises(MXNetError, match="fc2_bias"):
        other.set_params({k: v for k, v in arg.items() if k != "fc2_bias"}, {})
    other.set_params({k: v for k, v in arg.items() if k != "fc2_bias"}, {},
                     allow_missing=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        other.init_params()
    assert "already initialized" in str(w[0].message)


def test_fixed_params_and_input_grads():
    z = golden("mlp_sgd")
    mod = Module(load_sym("mlp"), fixed_param_names=["fc1_weight"])
    mod.bind([("data", (8, 10))], [("softmax_label", (8,))], inputs_need_grad=True)
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in prefixed(z, "init:").items()})
    mod.init_optimizer(optimizer_params={"learning_rate": 0.5})
    ex = mod._exec_group.execs[0]
    assert "fc1_weight" not in ex.grad_dict and ex._grad_req["fc1_weight"] == "null"
    assert mod.fixed_param_names == ["fc1_weight"]
    batch = DataBatch([mx.nd.array(z["data"][:8])], [mx.nd.array(z["label"][:8])])
    mod.forward_backward(batch)
    g = mod.get_input_grads()[0]
    assert g.shape == (8, 10) and np.abs(g.asnumpy()).sum() > 0
    mod.update()
    arg, _ = mod.get_params()
    np.testing.assert_array_equal(arg["fc1_weight"].asnumpy(), z["init:fc1_weight"])
    assert not np.allclose(arg["fc1_bias"].asnumpy(), z["init:fc1_bias"])
    assert mod._optimizer.idx2name == {0: "fc1_weight", 1: "fc1_bias", 2: "fc2_weight",
                                       3: "fc2_bias"}
    assert mod._optimizer.rescale_grad == pytest.approx(1 / 8)


def test_state_names_and_grad_req_add():
    data = mx.sym.Variable("data")
    state = mx.sym.Variable("state")
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc")
    out = mx.sym.MakeLoss(mx.sym.sum(mx.sym.square(fc + state)), name="loss")
    mod = Module(out, label_names=None, state_names=["state"])
    mod.bind([("data", (2, 3))], grad_req="add")
    mod.init_params(initializer=mx.init.One())
    mod.set_states(value=1.0)
    st = mod.get_states(merge_multi_context=False)
    assert len(st) == 1 and st[0][0].shape == (2, 4)
    np.testing.assert_array_equal(st[0][0].asnumpy(), np.ones((2, 4)))
    batch = DataBatch([mx.nd.ones((2, 3))], None)
    mod.forward_backward(batch)
    g1 = mod._exec_group.execs[0].grad_dict["fc_bias"].asnumpy().copy()
    mod.forward_backward(batch)
    g2 = mod._exec_group.execs[0].grad_dict["fc_bias"].asnumpy()
    np.testing.assert_allclose(g2, 2 * g1, rtol=1e-6)      # 'add' accumulates
    # One() leaves biases at 0 (MXNet initializes *_bias with zeros): 2 * rows * (3 + 1)
    np.testing.assert_allclose(g1, np.full(4, 2 * 2 * (3 + 1)), rtol=1e-6)


def test_sequential_module_with_python_loss():
    """fc -> PythonLossModule(softmax cross-entropy gradient) trains like SoftmaxOutput."""
    z = golden("mlp_sgd")
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    net = Module(mx.sym.softmax(fc, name="prob"), label_names=None)

    def grad(scores, labels):
        p = scores.asnumpy()
        p[np.arange(len(p)), labels.asnumpy().astype(int)] -= 1
        return p

    seq = SequentialModule()
    seq.add(net).add(PythonLossModule(grad_func=grad, data_names=["prob_output"]),
                     take_labels=True, auto_wiring=True)
    seq.bind([("data", (8, 10))], [("softmax_label", (8,))])
    seq.init_params(initializer=mx.init.Xavier())
    seq.init_optimizer(optimizer_params={"learning_rate": 0.5})
    assert seq.output_shapes == [("pyloss_output", (8, 3))]
    it = NDArrayIter(z["data"], z["label"], batch_size=8)
    before = seq.score(it, "ce")[0][1]
    for _ in range(3):
        it.reset()
        for b in it:
            seq.forward_backward(b)
            seq.update()
    after = seq.score(it, "ce")[0][1]
    assert after < before
    assert sorted(seq.get_params()[0]) == ["fc_bias", "fc_weight"]


# --- (7) bad input --------------------------------------------------------------------------------
def test_calls_out_of_order_raise_state_error():
    sym = load_sym("mlp")
    batch = DataBatch([mx.nd.ones((8, 10))], [mx.nd.zeros((8,))])
    mod = Module(sym)
    with pytest.raises(StateError, match=r"forward: .*call bind"):
        mod.forward(batch)
    with pytest.raises(StateError, match=r"call bind"):
        mod.get_outputs()
    with pytest.raises(StateError, match=r"call bind"):
        mod.init_params()
    with pytest.raises(StateError, match=r"call bind"):
        _ = mod.data_shapes
    mod.bind([("data", (8, 10))], [("softmax_label", (8,))])
    with pytest.raises(StateError, match=r"init_optimizer: .*call init_params"):
        mod.init_optimizer()
    with pytest.raises(StateError, match=r"forward: .*call init_params"):
        mod.forward(batch)
    mod.init_params()
    with pytest.raises(StateError, match=r"update: .*call init_optimizer"):
        mod.update()
    with pytest.raises(StateError, match=r"call init_optimizer"):
        mod.save_optimizer_states("x.states")
    with pytest.raises(StateError, match="inputs_need_grad=True"):
        mod.get_input_grads()
    assert isinstance(StateError("x"), MXNetError)


def test_wrong_data_names_say_which_and_suggest():
    sym = load_sym("mlp")
    with pytest.raises(ValueError, match=r"'dat'.*not found.*Did you mean 'data'") as e:
        Module(sym, data_names=["dat"])
    assert isinstance(e.value, MXNetError)
    assert "softmax_label" in str(e.value)
    with pytest.warns(UserWarning, match="'label'"):
        Module(sym, label_names=["label"])
    mod = Module(sym)
    with pytest.raises(ValueError, match=r"'dta' \(did you mean 'data'\?\)"):
        mod.bind([("dta", (8, 10))], [("softmax_label", (8,))])


def test_wrong_shapes_say_which():
    z = golden("mlp_sgd")
    mod = Module(load_sym("mlp"))
    mod.bind([("data", (8, 11))], [("softmax_label", (8,))])
    with pytest.raises(ShapeError, match=r"fc1_weight.*\(16, 10\).*\(16, 11\)"):
        mod.init_params(arg_params={k: mx.nd.array(v) for k, v in prefixed(z, "init:").items()})
    mod = Module(load_sym("mlp"))
    with pytest.raises(ShapeError, match="batch size"):
        mod.bind([("data", (8, 10))], [("softmax_label", (7,))])
    mod.bind([("data", (8, 10))], [("softmax_label", (8,))])
    mod.init_params()
    with pytest.raises(MXNetError, match="2 data array"):
        mod.forward(DataBatch([mx.nd.ones((8, 10)), mx.nd.ones((8, 10))], None))
    with pytest.raises(MXNetError, match="num_epoch"):
        mod.fit(NDArrayIter(z["data"], z["label"], batch_size=8))


def test_fit_callbacks_monitor_and_speedometer(tmp_path, caplog):
    """fit calls batch_end_callback (BatchEndParam), epoch_end_callback (epoch, symbol,
    arg_params, aux_params), eval_batch_end / eval_end callbacks and the monitor as MXNet does;
    Speedometer's line parses with MXNet users' regular expression."""
    z = golden("mlp_sgd")
    sym = load_sym("mlp")
    seen = {"batch": [], "epoch": [], "eval_batch": [], "eval_end": []}

    class Mon:
        def __init__(self):
            self.installed, self.tics, self.tocs = 0, 0, 0

        def install(self, exe):
            self.installed += 1

        def tic(self):
            self.tics += 1

        def toc_print(self):
            self.tocs += 1

    mon = Mon()
    prefix = str(tmp_path / "cb")
    mod = Module(sym)
    with caplog.at_level(logging.INFO):
        mod.fit(NDArrayIter(z["data"][:32], z["label"][:32], batch_size=8),
                eval_data=NDArrayIter(z["data"][:16], z["label"][:16], batch_size=8),
                optimizer_params=SGD, num_epoch=2, monitor=mon,
                batch_end_callback=[lambda p: seen["batch"].append((p.epoch, p.nbatch)),
                                    mx.callback.Speedometer(8, 2)],
                epoch_end_callback=[lambda e, s, a, x: seen["epoch"].append(
                    (e, s is sym, sorted(a))), mx.callback.do_checkpoint(prefix)],
                eval_batch_end_callback=lambda p: seen["eval_batch"].append(p.nbatch),
                eval_end_callback=lambda p: seen["eval_end"].append(
                    (p.epoch, p.nbatch, p.eval_metric.get()[0])))
    assert seen["batch"] == [(e, b) for e in (0, 1) for b in range(4)]
    assert seen["epoch"] == [(e, True, ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"])
                             for e in (0, 1)]
    assert seen["eval_batch"] == [0, 1, 0, 1]
    assert seen["eval_end"] == [(0, 2, "accuracy"), (1, 2, "accuracy")]
    assert (mon.installed, mon.tics, mon.tocs) == (1, 8, 8)
    assert os.path.exists(prefix + "-0001.params") and os.path.exists(prefix + "-0002.params")
    speed = [m for m in caplog.messages if "Speed" in m]
    rx = re.compile(r"Epoch\[(\d+)\] Batch \[(\d+)(-\d+)?\]\s+Speed: ([.\d]+) samples/sec")
    assert speed and all(rx.search(m) for m in speed)


def test_exposed_as_mx_mod():
    import runtime.module as mod_pkg
    assert mx.mod.Module is Module
    assert mx.mod.BucketingModule is mod_pkg.BucketingModule
    for name in ("BaseModule", "Module", "BucketingModule", "SequentialModule", "PythonModule",
                 "PythonLossModule"):
        assert hasattr(mx.mod, name)
    assert mx.model.save_checkpoint and mx.model.FeedForward


def test_bind_imports_the_symbol_once(monkeypatch):
    # binding infers argument, auxiliary and output shapes and types from one import of the
    # symbol into the IR (a bucketing module binds every bucket: each import of a 60-step
    # unrolled LSTM takes tens of milliseconds)
    import mxc as mx
    import mxc.symbol.convert as convert
    calls = []
    real = convert.to_graph

    def counting(*a, **k):
        calls.append(k.get("where"))
        return real(*a, **k)

    monkeypatch.setattr(convert, "to_graph", counting)
    data = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=3, name="fc"),
                               name="softmax")
    mod = mx.mod.Module(net)
    mod.bind(data_shapes=[("data", (4, 5))], label_shapes=[("softmax_label", (4,))])
    assert len(calls) == 1, calls
    exe = mod._exec_group.execs[0]
    assert [o.shape for o in exe.outputs] == [(4, 3)]
    assert [o.dtype for o in exe.outputs] == [np.float32]
