"""mx.contrib.amp for symbolic models: the amp_cast / amp_multicast operators, convert_symbol's
graph pass against MXNet 1.9.1's output (tests/data/amp, tools/make_amp_golden.py), bfloat16
NDArrays, bf16 training of an AMP-converted LeNet, and the contrib package's placeholders."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import DTypeError, MXNetError, UnsupportedError
from mxc.contrib import amp

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "tests", "data", "amp")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import amp_models

MODELS = amp_models.build(mx)
GOLDEN = sorted(f[:-5] for f in os.listdir(DATA) if f.endswith(".json"))


@pytest.mark.parametrize("name", GOLDEN)
def test_convert_symbol_json_matches_mxnet(name):
    sym, kw = MODELS[name]
    got = amp.convert_symbol(sym, **kw).tojson(remove_amp_cast=False)
    with open(os.path.join(DATA, name + ".json")) as f:
        want = f.read()
    assert json.loads(got) == json.loads(want)
    assert got == want


def test_tojson_drops_casts_by_default():
    sym, kw = MODELS["lenet_bfloat16"]
    c = amp.convert_symbol(sym, **kw)
    assert c.tojson() == sym.tojson()
    assert "amp_cast" in c.tojson(remove_amp_cast=False)
    assert "fc2_output_amp_cast_float32_output" in c.get_internals().list_outputs()


def test_dump_shows_casts(tmp_path):
    sym, kw = MODELS["mlp_bfloat16"]
    f = tmp_path / "m-symbol.json"
    amp.convert_symbol(sym, **kw).save(str(f), remove_amp_cast=False)
    r = subprocess.run([sys.executable, "-m", "mxc.cli", "dump", str(f), "--shape",
                        "data=8,20", "--after", "infer"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "amp_cast(%data)" in r.stdout and "bf16[8,20]" in r.stdout


def test_casts_match_mxnet():
    z = np.load(os.path.join(DATA, "casts.npz"))
    a = mx.nd.array(z["x"])
    b = mx.nd.amp_cast(a, dtype="bfloat16")
    assert b.dtype == amp.bfloat16
    got = mx.nd.amp_cast(b, dtype="float32").asnumpy()
    normal = np.abs(z["x"]) >= np.finfo(np.float32).tiny   # MXNet (oneDNN) flushes denormals
    np.testing.assert_array_equal(got[normal], z["to_bf16"][normal])
    np.testing.assert_array_equal(mx.nd.amp_cast(a, dtype="float16").asnumpy(), z["to_f16"])
    m = mx.nd.amp_multicast(b, a, num_outputs=2)
    assert m[0].dtype == np.float32
    np.testing.assert_array_equal(m[0].asnumpy()[normal], z["multicast_wide"][normal])
    n = mx.nd.amp_multicast(b, a, num_outputs=2, cast_narrow=True)
    np.testing.assert_array_equal(mx.nd.amp_cast(n[1], dtype="float32").asnumpy()[normal],
                                  z["multicast_narrow_1"][normal])
    s = mx.sym.var("x")
    y = mx.sym.amp_cast(mx.sym.amp_cast(s, dtype="bfloat16"), dtype="float32")
    e = y.simple_bind(mx.cpu(), x=z["x"].shape)
    e.arg_dict["x"][:] = z["x"]
    e.forward(is_train=True)
    e.backward(mx.nd.array(z["head"]))
    np.testing.assert_array_equal(e.grad_dict["x"].asnumpy(), z["grad_bf16"])


def test_amp_op_types():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    m = mx.sym.amp_multicast(a, b, num_outputs=2, name="m")
    assert m.list_outputs() == ["m_output0", "m_output1"]
    f16, f32, i32 = np.float16, np.float32, np.int32
    assert m.infer_type(a="float16", b="float32")[1] == [f32, f32]
    narrow = mx.sym.amp_multicast(a, b, num_outputs=2, cast_narrow=True)
    assert narrow.infer_type(a="float16", b="float32")[1] == [f16, f16]
    assert m.infer_type(a="int32", b="float16")[1] == [i32, i32]     # MXNet's rule
    assert mx.sym.amp_cast(a, dtype="float16").infer_type(a="int32")[1] == [i32]


def test_lists_and_errors():
    assert amp.list_lp16_ops("float16") == ["Convolution", "Deconvolution", "FullyConnected",
                                            "RNN"]
    assert amp.list_lp16_ops(amp.bfloat16) == ["Convolution", "FullyConnected"]
    assert ("Activation", "act_type", ["softrelu"]) in amp.list_conditional_fp32_ops("float16")
    assert amp.list_lp16_use_fp32_params("float16") is None
    assert "BatchNorm" in amp.list_lp16_use_fp32_params("bfloat16")
    assert "elemwise_add" in amp.list_widest_type_cast("float16")
    sym = MODELS["mlp_float16"][0]
    with pytest.raises(DTypeError, match="float16"):
        amp.convert_symbol(sym, target_dtype="float64")
    with pytest.raises(MXNetError, match="two or more lists"):
        amp.convert_symbol(sym, target_dtype_ops=["FullyConnected"],
                           fp32_ops=["FullyConnected"])
    with pytest.raises(MXNetError, match="none of them"):
        amp.convert_symbol(sym, target_dtype_ops=["NoSuchOp"])
    for f in (amp.init_trainer, amp.unscale):
        with pytest.raises(UnsupportedError, match="Gluon"):
            f(mx.optimizer.SGD())
    with pytest.raises(UnsupportedError, match="Gluon"), amp.scale_loss(1.0, mx.optimizer.SGD()):
        pass


def test_loss_scaler_schedule():
    ls = amp.LossScaler()
    assert ls.loss_scale == 2.0 ** 16
    assert ls.has_overflow([mx.nd.array([1.0, np.inf])])
    assert not ls.has_overflow([mx.nd.array([1.0])])
    assert ls.loss_scale == 2.0 ** 15
    ls._scale_seq_len = 2
    ls.has_overflow([mx.nd.array([1.0])])
    ls.has_overflow([mx.nd.array([1.0])])
    assert ls.loss_scale == 2.0 ** 16


def test_convert_model_casts_optional_params():
    sym = MODELS["mlp_bfloat16"][0]
    args = {"fc1_weight": mx.nd.ones((128, 20)), "fc1_bias": mx.nd.zeros((128,)),
            "fc2_weight": mx.nd.ones((10, 128)), "fc2_bias": mx.nd.zeros((10,))}
    c, a2, _ = amp.convert_model(sym, dict(args), {}, target_dtype="bfloat16",
                                 cast_optional_params=True)
    assert all(a2[k].dtype == amp.bfloat16 for k in args)
    assert c.attr_dict()["fc1_weight"]["__dtype__"] == "12"


def test_contrib_package():
    assert mx.contrib.symbol is mx.sym.contrib and mx.contrib.nd is mx.nd.contrib
    assert mx.contrib.amp.convert_symbol is amp.convert_symbol
    with pytest.raises(UnsupportedError, match="ONNX"):
        _ = mx.contrib.onnx.import_model
    with pytest.raises(UnsupportedError, match="quantization"):
        import mxc.contrib.quantization.foo  # noqa: F401


def test_bfloat16_ndarray():
    a = mx.nd.array([1.1, 3.3, -2.0], dtype="bfloat16")
    assert a.dtype == amp.bfloat16
    bits = a.asnumpy()          # MXNet's asnumpy: the bit patterns, typed as bfloat16
    assert bits.dtype == amp.bfloat16
    np.testing.assert_array_equal(bits.view(np.uint16), np.array([16269, 16467, 49152],
                                                                  np.uint16))
    np.testing.assert_array_equal(a.astype("float32").asnumpy(),
                                  np.array([1.1015625, 3.296875, -2.0], np.float32))
    z = mx.nd.zeros((2, 3), dtype=amp.bfloat16)
    assert z.dtype == amp.bfloat16 and z.shape == (2, 3)


def _digits():
    """The bundled digits data (examples/digits.py)."""
    d = np.load(os.path.join(os.path.dirname(mx.__file__), "data", "digits.npz"))
    x = np.concatenate([d["x_train"], d["x_test"]]).astype(np.float32)
    y = np.concatenate([d["y_train"], d["y_test"]]).astype(np.float32)
    return x.reshape(-1, 1, 8, 8) / max(1.0, float(x.max())), y


def _small_lenet():
    S = mx.sym
    d = S.var("data")
    c = S.Convolution(d, kernel=(3, 3), num_filter=16, name="conv1")
    a = S.Activation(c, act_type="relu", name="relu1")
    p = S.Pooling(a, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
    f = S.flatten(p, name="flatten")
    fc1 = S.FullyConnected(f, num_hidden=64, name="fc1")
    a2 = S.Activation(fc1, act_type="relu", name="relu2")
    fc2 = S.FullyConnected(a2, num_hidden=10, name="fc2")
    return S.SoftmaxOutput(fc2, name="softmax")


def _fit(sym, x, y, epochs):
    mx.random.seed(0)
    n = 1400
    it = mx.io.NDArrayIter(x[:n], y[:n], batch_size=50, shuffle=False)
    val = mx.io.NDArrayIter(x[n:], y[n:], batch_size=50)
    mod = mx.mod.Module(sym, context=mx.cpu())
    mod.fit(it, num_epoch=epochs, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            initializer=mx.init.Xavier(magnitude=2.0))
    return mod.score(val, "acc")[0][1]


def test_amp_bf16_lenet_trains_like_fp32():
    """An AMP-converted (bfloat16) LeNet trains with Module.fit to within 3 points of the
    float32 model's validation accuracy on the digits data."""
    x, y = _digits()
    sym = _small_lenet()
    acc32 = _fit(sym, x, y, 3)
    acc16 = _fit(amp.convert_symbol(sym, target_dtype="bfloat16"), x, y, 3)
    assert acc32 > 0.9
    assert acc16 > acc32 - 0.03, (acc16, acc32)


# -- float16 dynamic loss scaling for Module (amp.LossScalingModule) -------------------------------
def _mlp():
    S = mx.sym
    h = S.Activation(S.FullyConnected(S.var("data"), num_hidden=32, name="fc1"),
                     act_type="relu", name="relu1")
    return S.SoftmaxOutput(S.FullyConnected(h, num_hidden=10, name="fc2"), name="softmax")


def _bound(mod, x, y, momentum=0.9):
    it = mx.io.NDArrayIter(x, y, batch_size=len(x))
    mod.bind(it.provide_data, it.provide_label)
    mx.random.seed(0)
    mod.init_params(mx.init.Xavier(magnitude=2.0))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1,
                                                          "momentum": momentum})
    return next(iter(it))


def _params(mod):
    return {k: v.asnumpy().copy() for k, v in mod.get_params()[0].items()}


def test_loss_scaling_module_matches_module_fp32():
    """In float32 a power-of-two loss scale is exact: one step of LossScalingModule equals one
    step of Module, and the forward outputs are the model's."""
    x, y = _digits()
    x, y = x[:40].reshape(40, -1), y[:40]
    plain = mx.mod.Module(_mlp())
    scaled = amp.LossScalingModule(_mlp(), init_scale=1024.0)
    assert amp.module.LOSS_SCALE_NAME in scaled._symbol.list_arguments()
    assert scaled.symbol.list_arguments() == plain.symbol.list_arguments()
    for m in (plain, scaled):
        b = _bound(m, x, y)
        m.forward_backward(b)
    np.testing.assert_array_equal(plain.get_outputs()[0].asnumpy(),
                                  scaled.get_outputs()[0].asnumpy())
    g0 = plain._exec_group.grad_arrays[0][0].asnumpy()
    np.testing.assert_allclose(scaled._exec_group.grad_arrays[0][0].asnumpy(), g0 * 1024,
                               rtol=1e-6, atol=1e-6)
    for m in (plain, scaled):
        m.update()
    p, s = _params(plain), _params(scaled)
    for k in p:
        np.testing.assert_allclose(s[k], p[k], rtol=1e-6, atol=1e-7)
    assert scaled.skipped_steps == 0 and scaled.loss_scale == 1024.0


def test_loss_scaling_overflow_skips_step_and_halves():
    x, y = _digits()
    x, y = x[:40].reshape(40, -1), y[:40]
    sym = amp.convert_symbol(_mlp(), target_dtype="float16")
    mod = amp.LossScalingModule(sym, init_scale=2.0 ** 16, scale_seq_len=3)
    b = _bound(mod, x, y)
    before = _params(mod)
    x_bad = x.copy()
    x_bad[0, 0] = np.inf                       # overflow injected: non-finite gradients
    bad = mx.io.DataBatch([mx.nd.array(x_bad)], b.label)
    mod.forward_backward(bad)
    mod.update()
    assert mod.skipped_steps == 1 and mod.loss_scale == 2.0 ** 15
    after = _params(mod)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])      # step skipped
    states = mod._updater.states
    assert all(not np.any(s.asnumpy()) for s in states.values() if s is not None)
    assert mod._exec_group.state_arrays[0][0].asnumpy()[0] == 2.0 ** 15
    # clean steps: after scale_seq_len of them in a row the scale doubles
    mod._amp_scale = 4.0
    mod._put_scale()
    for _ in range(3):
        mod.forward_backward(b)
        mod.update()
    assert mod.loss_scale == 8.0 and mod.skipped_steps == 1
    assert any(not np.array_equal(v, before[k]) for k, v in _params(mod).items())
    for _ in range(3):
        mod.forward_backward(b)
        mod.update()
    assert mod.loss_scale == 16.0


def test_loss_scaling_checkpoint_and_errors(tmp_path):
    x, y = _digits()
    x, y = x[:20].reshape(20, -1), y[:20]
    mod = amp.LossScalingModule(amp.convert_symbol(_mlp(), target_dtype="float16"))
    _bound(mod, x, y)
    mod.save_checkpoint(str(tmp_path / "m"), 1)
    back = mx.mod.Module.load(str(tmp_path / "m"), 1)        # a plain Module reads it
    assert amp.module.LOSS_SCALE_NAME not in back.symbol.list_arguments()
    with pytest.raises(MXNetError, match="no loss output"):
        amp.LossScalingModule(mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=2))


def test_amp_fp16_lenet_loss_scaling_trains_like_fp32():
    """An AMP-converted float16 LeNet trained by LossScalingModule.fit reaches the float32
    model's validation accuracy on the digits data within 3 points; the scale first falls
    from 2**16 on overflow (those steps are skipped) and then grows again."""
    x, y = _digits()
    sym = _small_lenet()
    acc32 = _fit(sym, x, y, 3)
    mx.random.seed(0)
    it = mx.io.NDArrayIter(x[:1400], y[:1400], batch_size=50, shuffle=False)
    val = mx.io.NDArrayIter(x[1400:], y[1400:], batch_size=50)
    mod = amp.LossScalingModule(amp.convert_symbol(sym, target_dtype="float16"),
                                scale_seq_len=20)
    mod.fit(it, num_epoch=3, optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            initializer=mx.init.Xavier(magnitude=2.0))
    acc16 = mod.score(val, "acc")[0][1]
    graph = str(mod._exec_group.execs[0]._plan("train").compiled.graph)
    assert "f16[" in graph                     # the program really computes in float16
    assert acc16 > acc32 - 0.03, (acc16, acc32)
    assert 1 <= mod.skipped_steps < 20
    assert mod.loss_scale < 2.0 ** 16


def test_converted_symbol_gets_its_own_program():
    # the executors' compile memo keys on the JSON with its amp_cast nodes (tojson() drops them)
    sym = _mlp()
    shapes = {"data": (4, 64), "softmax_label": (4,)}
    for s in (sym, amp.convert_symbol(sym, target_dtype="bfloat16")):
        e = s.simple_bind(mx.cpu(), **shapes)
        e.forward(is_train=True)
    assert "bf16[" in str(e._plan("train").compiled.graph)
