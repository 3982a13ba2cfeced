"""Executor: mx.sym.load + simple_bind / bind + forward, against MXNet 1.9.1's recorded MLP
outputs, on the LLVM backend and the Triton interpreter."""
import os

import numpy as np
import pytest

import mxc as mx
from mxc.testing import assert_close

DATA = os.path.join(os.path.dirname(__file__), "data", "golden")


@pytest.fixture
def mlp():
    z = np.load(os.path.join(DATA, "mlp_digits.npz"))
    sym = mx.sym.load(os.path.join(DATA, "mlp_digits-symbol.json"))
    params = mx.nd.load(os.path.join(DATA, "mlp_digits-0000.params"))
    return sym, z, {k[4:]: v for k, v in params.items() if k.startswith("arg:")}


@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_mlp_inference_equals_mxnet(mlp, target, monkeypatch):
    monkeypatch.setenv("MXC_TARGET", target)
    sym, z, params = mlp
    exe = sym.simple_bind(mx.cpu(), data=z["data"].shape, grad_req="null")
    exe.copy_params_from(params)
    out = exe.forward(is_train=False, data=z["data"])
    assert len(out) == 1 and out[0] is exe.outputs[0]
    assert_close(out[0].asnumpy(), z["output"], 1e-5, 1e-6, f"mlp ({target})")
    # a second forward reuses the bound plan and the same output arrays
    exe.arg_dict["data"][:] = z["data"][::-1].copy()
    out2 = exe.forward()
    assert out2[0] is out[0]
    assert_close(out2[0].asnumpy(), z["output"][::-1], 1e-5, 1e-6, "reversed batch")


def test_internals_equal_mxnet(mlp):
    sym, z, params = mlp
    internals = sym.get_internals()
    group = mx.sym.Group([internals["fc1_output"], internals["relu1_output"]])
    exe = group.simple_bind(mx.cpu(), data=z["data"].shape, grad_req="null")
    exe.copy_params_from(params, allow_extra_params=True)
    fc1, relu1 = exe.forward(data=z["data"])
    assert_close(fc1.asnumpy(), z["internal:fc1_output"], 1e-5, 1e-5, "fc1")
    assert_close(relu1.asnumpy(), z["internal:relu1_output"], 1e-5, 1e-5, "relu1")


def test_bind_uses_callers_arrays(mlp):
    sym, z, params = mlp
    args = {n: params[n].copy() for n in params}
    args["data"] = mx.nd.array(z["data"])
    args["softmax_label"] = mx.nd.array(z["label"])
    exe = sym.bind(mx.cpu(), args, grad_req="null")
    assert exe.arg_dict["data"] is args["data"]
    out = exe.forward()[0]
    assert_close(out.asnumpy(), z["output"], 1e-5, 1e-6, "bind")
    args["data"][:] = 0
    out = exe.forward()[0]
    assert np.allclose(out.asnumpy().sum(1), 1.0)


def test_errors_name_what_is_wrong(mlp):
    sym, z, params = mlp
    exe = sym.simple_bind(mx.cpu(), data=z["data"].shape, grad_req="null")
    with pytest.raises(mx.MXNetError, match="did you mean 'data'"):
        exe.forward(dta=z["data"])
    with pytest.raises(mx.base.ShapeError, match=r"data has shape \(3, 64\).*bound with \(32, 64\)"):
        exe.forward(data=z["data"][:3])
    with pytest.raises(mx.MXNetError, match="not in the arguments"):
        exe.copy_params_from({"nope": mx.nd.zeros((1,))})
    with pytest.raises(mx.base.ShapeError, match="fc1_weight"):
        exe.copy_params_from({"fc1_weight": mx.nd.zeros((1, 1))})
    with pytest.raises(mx.base.ShapeError, match="cannot infer the shapes"):
        sym.simple_bind(mx.cpu())
    with pytest.raises(mx.MXNetError, match="grad_req"):
        sym.simple_bind(mx.cpu(), data=(2, 64), grad_req="sometimes")


def test_shapes_that_do_not_fit_name_operator_and_shapes():
    data = mx.sym.Variable("data")
    w = mx.sym.Variable("fc1_weight", shape=(1, 100))
    fc = mx.sym.FullyConnected(data, weight=w, num_hidden=128, name="fc1")
    with pytest.raises(mx.base.ShapeError) as e:
        fc.infer_shape(data=(64, 784))
    assert "FullyConnected 'fc1': weight has shape (1,100); expected (128,784)" in str(e.value)


# -- training ----------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_mlp_gradients_equal_mxnet(mlp, target, monkeypatch):
    monkeypatch.setenv("MXC_TARGET", target)
    sym, z, params = mlp
    req = {n: "write" for n in sym.list_arguments() if n != "softmax_label"}
    exe = sym.simple_bind(mx.cpu(), data=z["data"].shape, grad_req=req)
    exe.copy_params_from(params)
    exe.forward(is_train=True, data=z["data"], softmax_label=z["label"])
    assert_close(exe.outputs[0].asnumpy(), z["output_train"], 1e-5, 1e-6, "train forward")
    exe.backward()
    assert "softmax_label" not in exe.grad_dict
    for n, g in exe.grad_dict.items():
        assert_close(g.asnumpy(), z[f"grad:{n}"], 1e-4, 1e-6, f"d{n} ({target})")
    prog = exe._plan("train").compiled.program
    assert 0 < prog.n_forward_steps < len(prog.steps)


def test_grad_req_add_accumulates_and_null_skips(mlp):
    sym, z, params = mlp
    req = {n: "null" for n in sym.list_arguments()}
    req["fc1_weight"] = "add"
    req["fc3_bias"] = "write"
    exe = sym.simple_bind(mx.cpu(), data=z["data"].shape, grad_req=req)
    exe.copy_params_from(params)
    assert set(exe.grad_dict) == {"fc1_weight", "fc3_bias"}
    for _ in range(2):
        exe.forward(is_train=True, data=z["data"], softmax_label=z["label"])
        exe.backward()
    assert_close(exe.grad_dict["fc1_weight"].asnumpy(), 2 * z["grad:fc1_weight"], 1e-4, 1e-6,
                 "add")
    assert_close(exe.grad_dict["fc3_bias"].asnumpy(), z["grad:fc3_bias"], 1e-4, 1e-6, "write")


def test_non_loss_outputs_need_head_gradients():
    x = mx.sym.Variable("x")
    y = mx.sym.exp(x, name="e")
    exe = y.simple_bind(mx.cpu(), x=(2, 3))
    exe.arg_dict["x"][:] = 1.0
    exe.forward(is_train=True)
    with pytest.raises(mx.MXNetError, match="e_output are not loss layers"):
        exe.backward()
    with pytest.raises(mx.base.ShapeError, match=r"out_grads\[0\] has shape \(3,\)"):
        exe.backward(mx.nd.ones((3,)))
    exe.backward(mx.nd.ones((2, 3)) * 2)
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), 2 * np.e, rtol=1e-6)
    # backward after an inference forward differentiates the same inputs (as MXNet does)
    exe.forward(is_train=False, x=np.zeros((2, 3), np.float32))
    exe.backward([mx.nd.ones((2, 3))])
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), 1.0, rtol=1e-6)


def test_reshape_shares_parameters(mlp):
    sym, z, params = mlp
    exe = sym.simple_bind(mx.cpu(), data=(32, 64))
    exe.copy_params_from(params)
    small = exe.reshape(data=(4, 64), softmax_label=(4,))
    assert small.arg_dict["fc1_weight"] is exe.arg_dict["fc1_weight"]
    assert small.arg_dict["data"].shape == (4, 64)
    out = small.forward(data=z["data"][:4])[0]
    assert_close(out.asnumpy(), z["output"][:4], 1e-5, 1e-6, "reshaped")
    with pytest.raises(mx.base.ShapeError, match="allow_up_sizing"):
        exe.reshape(data=(64, 64), softmax_label=(64,))


@pytest.mark.parametrize("dropout", [False, True])
def test_inference_after_training_reuses_the_training_program(dropout):
    # without mode-dependent operators an inference forward runs the training program's
    # forward steps (nothing new is compiled: a bucketing module's evaluation); Dropout keeps
    # its own inference program
    from mxc import memo
    x = mx.sym.Variable("data")
    h = mx.sym.FullyConnected(x, num_hidden=7, name="fc1")
    if dropout:
        h = mx.sym.Dropout(h, p=0.5)
    y = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.tanh(h), num_hidden=3, name="fc2"),
                             name="sm")
    rng = np.random.default_rng(3)
    shapes = {"data": (4, 5), "sm_label": (4,)}
    exe = y.simple_bind(mx.cpu(), **shapes)
    for n, a in exe.arg_dict.items():
        a[:] = rng.uniform(-1, 1, a.shape) if n != "sm_label" else rng.integers(0, 3, a.shape)
    exe.forward(is_train=True)
    exe.backward()
    compiles = memo.info()["executor"]["misses"]
    out = exe.forward(is_train=False)[0].asnumpy()
    assert memo.info()["executor"]["misses"] == compiles + (1 if dropout else 0)
    ref = y.simple_bind(mx.cpu(), grad_req="null", **shapes)
    for n, a in exe.arg_dict.items():
        ref.arg_dict[n][:] = a
    assert_close(out, ref.forward(is_train=False)[0].asnumpy(), 1e-5, 1e-6, "inference")
    grads = {n: g.asnumpy().copy() for n, g in exe.grad_dict.items()}
    exe.backward()           # differentiates a training forward again, as MXNet does
    if not dropout:
        for n, g in exe.grad_dict.items():
            assert_close(g.asnumpy(), grads[n], 1e-5, 1e-6, f"gradient of {n}")
