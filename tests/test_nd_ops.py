"""mx.nd operators: compiled one-op graphs, cached, equal to numpy; Python operators."""
import numpy as np
import pytest

import mxc as mx
from mxc.ndarray import ops as nd_ops


def test_arithmetic_matches_numpy():
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((3, 4)).astype(np.float32)
    b_np = rng.standard_normal((4,)).astype(np.float32) + 3
    a, b = mx.nd.array(a_np), mx.nd.array(b_np)
    cases = {
        "a+b": (a + b, a_np + b_np), "a-b": (a - b, a_np - b_np), "a*b": (a * b, a_np * b_np),
        "a/b": (a / b, a_np / b_np), "2-a": (2 - a, 2 - a_np), "1/b": (1 / b, 1 / b_np),
        "a**2": (a ** 2, a_np ** 2), "-a": (-a, -a_np), "abs": (abs(a), np.abs(a_np)),
        "a>0": (a > 0, (a_np > 0).astype(np.float32)),
        "a==a": (a == a, np.ones_like(a_np)), "np-a": (np.float32(1.5) - a, 1.5 - a_np),
    }
    for name, (got, want) in cases.items():
        assert got.dtype == np.float32, name
        np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6, atol=1e-6, err_msg=name)


def test_inplace_and_out():
    a = mx.nd.ones((2, 3))
    before = a._t.data_ptr()
    a += 2
    a *= mx.nd.array([1.0, 2.0, 3.0])
    assert a._t.data_ptr() == before
    np.testing.assert_array_equal(a.asnumpy(), [[3, 6, 9], [3, 6, 9]])
    out = mx.nd.zeros((2, 3))
    r = mx.nd.exp(mx.nd.zeros((2, 3)), out=out)
    assert r is out and np.all(out.asnumpy() == 1)


def test_operator_functions_and_fluent_methods():
    x = mx.nd.array(np.arange(12, dtype=np.float32).reshape(3, 4))
    np.testing.assert_array_equal(mx.nd.sum(x, axis=1).asnumpy(), [6, 22, 38])
    np.testing.assert_array_equal(x.sum(axis=0, keepdims=True).shape, (1, 4))
    np.testing.assert_allclose(x.softmax().asnumpy().sum(1), 1, rtol=1e-6)
    assert x.T.shape == (4, 3)
    fc = mx.nd.FullyConnected(x, mx.nd.ones((2, 4)), mx.nd.zeros((2,)), num_hidden=2)
    np.testing.assert_array_equal(fc.asnumpy(), [[6, 6], [22, 22], [38, 38]])
    y = mx.nd.Activation(x - 5, act_type="relu")
    assert y.asnumpy().min() == 0


def test_compiled_once_per_signature():
    nd_ops.clear_cache()
    x = mx.nd.ones((5, 5))
    for _ in range(3):
        mx.nd.exp(x)
    info = nd_ops.cache_info()
    assert info["entries"] == 1 and info["hits"] >= 2
    mx.nd.exp(mx.nd.ones((5, 6)))
    assert nd_ops.cache_info()["entries"] == 2


def test_errors():
    with pytest.raises(mx.base.ShapeError, match="broadcast_add"):
        mx.nd.ones((2, 3)) + mx.nd.ones((4,))
    with pytest.raises(TypeError, match="must be an NDArray"):
        mx.nd.exp([1, 2])


def test_python_level_functions_broadcast_like_mxnet():
    a = mx.nd.array([[1.0, 5.0], [3.0, 2.0]])
    b = mx.nd.array([2.0, 2.0])
    np.testing.assert_array_equal(mx.nd.maximum(a, b).asnumpy(), [[2, 5], [3, 2]])
    np.testing.assert_array_equal(mx.nd.minimum(a, 2.5).asnumpy(), [[1, 2.5], [2.5, 2]])
    np.testing.assert_array_equal(mx.nd.power(2, a).asnumpy(), [[2, 32], [8, 4]])
    assert mx.nd.maximum(1, 3) == 3
    with pytest.raises(TypeError, match="not supported"):
        mx.nd.maximum("a", a)


def test_max_reductions_propagate_nan_as_mxnet():
    x = mx.nd.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])
    assert np.isnan(mx.nd.max(x, axis=1).asnumpy()[0])
    assert np.isnan(mx.nd.min(x, axis=1).asnumpy()[0])
    assert mx.nd.max(x, axis=1).asnumpy()[1] == 6


def test_attributes_positionally_after_the_inputs():
    # MXNet's generated signatures: data, then attributes in order (x.tile((2, 1)))
    a = mx.nd.array([[1, 2]])
    assert a.tile((2, 1)).shape == (2, 2)
    assert mx.nd.tile(a, (3, 1)).shape == (3, 2)
    w = mx.nd.ones((3, 2))
    assert mx.nd.FullyConnected(a, w, None, 3, True).shape == (1, 3)
    with pytest.raises(TypeError, match="exp: 2 inputs given"):
        mx.nd.exp(a, a)


def test_integer_tensor_against_a_non_finite_scalar():
    a = mx.nd.array([1, 2], dtype="int32")
    assert (a == float("inf")).asnumpy().tolist() == [0, 0]
    assert (a > float("-inf")).asnumpy().tolist() == [1, 1]
    assert (a < float("inf")).asnumpy().tolist() == [1, 1]
    assert (a == 1.5).asnumpy().tolist() == [1, 0]        # MXNet casts the scalar (to 1)


def test_cached_op_runs_a_symbol_on_arrays():
    x = mx.sym.Variable("x")
    net = mx.sym.FullyConnected(x, num_hidden=3, name="fc")
    net = mx.sym.BatchNorm(net, name="bn", fix_gamma=False)
    op = mx.nd.CachedOp(net)
    assert mx.nd.op.CachedOp is mx.nd.CachedOp
    names = net.list_inputs()
    rng = np.random.default_rng(0)
    shapes = dict(zip(net.list_arguments(), net.infer_shape(x=(4, 5))[0]))
    shapes.update(zip(net.list_auxiliary_states(), net.infer_shape(x=(4, 5))[2]))
    vals = {n: rng.standard_normal(shapes[n]).astype(np.float32) for n in names}
    vals["bn_moving_var"] = np.abs(vals["bn_moving_var"]) + 0.5
    ex = net.bind(mx.cpu(), args={n: mx.nd.array(vals[n]) for n in net.list_arguments()},
                  aux_states={n: mx.nd.array(vals[n]) for n in net.list_auxiliary_states()})
    want = ex.forward(is_train=False)[0].asnumpy()
    got = op(*[mx.nd.array(vals[n]) for n in names])
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)
    vals["x"] = vals["x"] * 2                      # the same shapes: the bound program, new data
    again = op(*[mx.nd.array(vals[n]) for n in names])
    assert not np.allclose(again.asnumpy(), got.asnumpy())
    out = mx.nd.zeros((4, 3))
    assert op(*[mx.nd.array(vals[n]) for n in names], out=out) is out
    np.testing.assert_allclose(out.asnumpy(), again.asnumpy())
    with pytest.raises(mx.base.MXNetError, match="takes 7 inputs"):
        op(mx.nd.ones((4, 5)))
