"""backward() may run again after one forward (MXNet allows it: gradient accumulation, several
head gradients): the second run must find the forward's saved values intact, so it gives the
same gradients as the first. The memory plan keeps forward values that backward reads alive to
the end, and no backward kernel writes in place over one."""
import numpy as np
import pytest

import mxc as mx


def _graphs():
    x, w = mx.sym.Variable("x"), mx.sym.Variable("w")
    h = mx.sym.FullyConnected(x, w, num_hidden=4, no_bias=True, name="h")
    k = mx.sym.broadcast_mul(mx.sym.tanh(h, name="t"), mx.sym.sum(w, name="sw"), name="k")
    yield "fc_tanh_mul", k, {"x": (3, 4)}
    yield "group", mx.sym.Group([h, k]), {"x": (3, 4)}
    yield "tanh", mx.sym.tanh(h), {"x": (3, 4)}
    d = mx.sym.Variable("x")
    c = mx.sym.Convolution(d, num_filter=4, kernel=(3, 3), pad=(1, 1), name="c")
    b = mx.sym.BatchNorm(c, name="bn")
    p = mx.sym.Pooling(mx.sym.Activation(b, act_type="relu"), kernel=(2, 2), stride=(2, 2),
                       pool_type="max")
    yield "conv_bn_pool", mx.sym.softmax(mx.sym.flatten(p)), {"x": (2, 3, 6, 6)}
    s = mx.sym.softmax(mx.sym.FullyConnected(mx.sym.Variable("x"), num_hidden=5, name="q"))
    yield "softmax_transpose", mx.sym.transpose(s) * s, {"x": (5, 5)}


@pytest.mark.parametrize("name,sym,shapes", list(_graphs()), ids=[g[0] for g in _graphs()])
def test_second_backward_gives_the_same_gradients(name, sym, shapes):
    rng = np.random.RandomState(0)
    e = sym.simple_bind(mx.cpu(), grad_req="write", **shapes)
    for k, a in e.arg_dict.items():
        a[:] = rng.uniform(-1, 1, a.shape)
    e.forward(is_train=True)
    ogs = [mx.nd.array(rng.uniform(-1, 1, o.shape)) for o in e.outputs]
    e.backward(ogs)
    first = {k: g.asnumpy().copy() for k, g in e.grad_dict.items() if g is not None}
    e.backward(ogs)
    for k, g in first.items():
        np.testing.assert_array_equal(e.grad_dict[k].asnumpy(), g, err_msg=f"{name}: {k}")
    # and 'add' accumulates exactly twice the gradient
    e2 = sym.simple_bind(mx.cpu(), grad_req="add", **shapes)
    for k, a in e2.arg_dict.items():
        a[:] = e.arg_dict[k]
    for k, g in e2.grad_dict.items():
        if g is not None:
            g[:] = 0
    e2.forward(is_train=True)
    e2.backward(ogs)
    e2.backward(ogs)
    for k, g in first.items():
        np.testing.assert_allclose(e2.grad_dict[k].asnumpy(), 2 * g, rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name}: {k} (grad_req='add')")


def test_backward_without_head_gradients_where_none_is_needed():
    """A BlockGrad output takes no head gradient (MXNet's test_blockgrad); an output whose
    gradient flows still needs one, with MXNet's message."""
    a = mx.sym.Variable("a")
    exe = mx.sym.BlockGrad(a).simple_bind(mx.cpu(), a=(10, 10))
    x = np.random.RandomState(1).rand(10, 10)
    exe.forward(is_train=True, a=x)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), x, rtol=1e-6)
    exe.backward()
    assert not exe.grad_dict["a"].asnumpy().any()
    e = (mx.sym.Variable("x") * 2).simple_bind(mx.cpu(), x=(2, 2))
    e.forward(is_train=True, x=np.ones((2, 2)))
    with pytest.raises(mx.base.MXNetError, match="not loss layers"):
        e.backward()
