"""Classic and linalg operators (mxc/ir/opdefs/classic.py, linalg2.py) beyond the op table:
errors name the operator, symbol and shapes; MXNet's Python-level functions (eye, split_v2,
mx.nd's ufunc helpers) and fluent methods; training behaviour of aux states; MXNet's gradient
conventions (GroupNorm / BatchNorm_v1 ignore the mean/std heads)."""
import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError


def _infer_err(sym, **shapes):
    with pytest.raises(MXNetError) as e:
        sym.infer_shape(**shapes)
    return str(e.value)


@pytest.mark.parametrize("build,shapes,words", [
    (lambda d: mx.sym.depth_to_space(d, block_size=2, name="d2s"), {"data": (1, 6, 2, 2)},
     ["depth_to_space", "d2s", "6 channels", "block_size^2 = 4"]),
    (lambda d: mx.sym.space_to_depth(d, block_size=2, name="s2d"), {"data": (1, 1, 3, 4)},
     ["space_to_depth", "s2d", "height 3"]),
    (lambda d: mx.sym.linalg.potrf(d, name="chol"), {"data": (3, 4)},
     ["_linalg_potrf", "chol", "(3,4)", "square"]),
    (lambda d: mx.sym.linalg.maketrian(d, name="mt"), {"data": (5,)},
     ["_linalg_maketrian", "mt", "triangular number"]),
    (lambda d: mx.sym.linalg.gelqf(d, name="lq"), {"data": (4, 3)},
     ["_linalg_gelqf", "lq", "(4,3)", "m <= n"]),
    (lambda d: mx.sym.GroupNorm(d, num_groups=3, name="gn"), {"data": (2, 4, 3)},
     ["GroupNorm", "gn", "num_groups=3"]),
    (lambda d: mx.sym.diag(d, k=5, name="dg"), {"data": (3, 3)}, ["diag", "dg", "k=5"]),
    (lambda d: mx.sym.ravel_multi_index(d, shape=(3, 4), name="rv"), {"data": (3, 5)},
     ["ravel_multi_index", "rv", "(3,5)"]),
    (lambda d: mx.sym.BatchNorm_v1(d, name="bn1"), {"data": (2, 3, 4)},
     ["BatchNorm_v1", "bn1", "4-d"]),
])
def test_shape_errors_name_op_symbol_and_shapes(build, shapes, words):
    msg = _infer_err(build(mx.sym.Variable("data")), **shapes)
    for w in words:
        assert w in msg, (w, msg)


def test_trsm_shape_error_names_both_inputs():
    s = mx.sym.linalg.trsm(mx.sym.Variable("A"), mx.sym.Variable("B"), name="solve")
    msg = _infer_err(s, A=(3, 3), B=(4, 2))
    assert "_linalg_trsm" in msg and "solve" in msg and "(3,3)" in msg and "(4,2)" in msg


def test_attribute_errors():
    with pytest.raises(MXNetError, match="LRN.*nsize=4"):
        mx.sym.LRN(mx.sym.Variable("x"), nsize=4, name="lrn")
    with pytest.raises(MXNetError, match="moments.*axes"):
        mx.nd.moments(mx.nd.ones((2, 3)))
    with pytest.raises(MXNetError, match="softmin.*use_length"):
        mx.sym.softmin(mx.sym.Variable("x"), use_length=True)


def test_eye_and_split_v2_functions():
    np.testing.assert_array_equal(mx.nd.eye(3, 4, 1).asnumpy(), np.eye(3, 4, 1))
    assert mx.nd.eye(2, dtype="int32").dtype == np.int32
    x = mx.nd.array(np.arange(12).reshape(2, 6))
    parts = mx.nd.split_v2(x, (1, 4), axis=1)
    np.testing.assert_array_equal(parts[1].asnumpy(), np.arange(12).reshape(2, 6)[:, 1:4])
    assert [p.shape for p in x.split_v2(3, axis=1)] == [(2, 2)] * 3
    sq = mx.nd.split_v2(mx.nd.ones((2, 3)), 3, axis=1, squeeze_axis=True)
    assert [p.shape for p in sq] == [(2,)] * 3
    s = mx.sym.Variable("x").split_v2(2, axis=0)
    assert len(s.list_outputs()) == 2
    with pytest.raises(MXNetError):
        mx.nd.split_v2(x, 4, axis=1)


def test_nd_ufunc_helpers():
    a = mx.nd.array([[1.0, 2.0, 3.0]])
    b = mx.nd.array([[1.0], [2.0]])
    np.testing.assert_array_equal(mx.nd.add(a, b).asnumpy(), a.asnumpy() + b.asnumpy())
    np.testing.assert_array_equal(mx.nd.subtract(10, a).asnumpy(), 10 - a.asnumpy())
    np.testing.assert_array_equal(mx.nd.divide(a, 2).asnumpy(), a.asnumpy() / 2)
    np.testing.assert_array_equal(mx.nd.true_divide(6, a).asnumpy(), 6 / a.asnumpy())
    np.testing.assert_array_equal(mx.nd.greater(2, a).asnumpy(), (2 > a.asnumpy()) * 1.0)
    np.testing.assert_array_equal(mx.nd.lesser_equal(a, b).asnumpy(),
                                  (a.asnumpy() <= b.asnumpy()) * 1.0)
    np.testing.assert_array_equal(mx.nd.modulo(a, 2).asnumpy(), a.asnumpy() % 2)
    np.testing.assert_array_equal(mx.nd.logical_xor(a, b).asnumpy(),
                                  np.logical_xor(a.asnumpy(), b.asnumpy()) * 1.0)
    assert mx.nd.multiply(3, 4) == 12 and mx.nd.equal(2, 2) == 1


def test_fluent_methods():
    x = mx.nd.array(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.shape_array().asnumpy(), [2, 3])
    np.testing.assert_array_equal(x.size_array().asnumpy(), [6])
    np.testing.assert_array_equal(x.diag().asnumpy(), [0, 4])
    assert x.softmin().shape == (2, 3)
    y = mx.nd.ones((1, 4, 2, 2))
    assert y.depth_to_space(block_size=2).shape == (1, 1, 4, 4)
    assert y.space_to_depth(block_size=2).shape == (1, 16, 1, 1)
    s = mx.sym.Variable("x")
    assert s.diag(k=1).list_arguments() == ["x"]


def test_kl_sparse_reg_updates_moving_avg_in_training():
    s = mx.sym.IdentityAttachKLSparseReg(mx.sym.Variable("data"), sparseness_target=0.2,
                                         penalty=0.5, momentum=0.7, name="op")
    assert s.list_auxiliary_states() == ["op_moving_avg"]
    x = np.random.default_rng(0).uniform(0.1, 0.9, (3, 4)).astype(np.float32)
    exe = s.simple_bind(mx.cpu(), data=(3, 4))
    exe.arg_dict["data"][:] = x
    exe.aux_dict["op_moving_avg"][:] = 0.5
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones((3, 4)))
    avg = 0.7 * 0.5 + 0.3 * x.mean(0)
    np.testing.assert_allclose(exe.aux_dict["op_moving_avg"].asnumpy(), avg, rtol=1e-5)
    grad = 1 + 0.5 * (-0.2 / avg + 0.8 / (1 - avg))
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy(), np.tile(grad, (3, 1)),
                               rtol=1e-5)


def test_groupnorm_ignores_mean_std_head_gradients():
    rng = np.random.default_rng(1)
    x, g, b = rng.normal(size=(2, 4, 3)), rng.normal(size=(2,)), rng.normal(size=(2,))
    head = rng.normal(size=(2, 4, 3))
    grads = []
    for mv in (False, True):
        s = mx.sym.GroupNorm(mx.sym.Variable("data"), mx.sym.Variable("gamma"),
                             mx.sym.Variable("beta"), num_groups=2, output_mean_var=mv)
        c = mx.compile(s, shapes={"data": x.shape, "gamma": (2,), "beta": (2,)},
                       is_train=True, grad_wrt=["data"])
        heads = [head] + ([np.ones((2, 2)), np.ones((2, 2))] if mv else [])
        res = c(x.astype(np.float32), g.astype(np.float32), b.astype(np.float32),
                *[h.astype(np.float32) for h in heads])
        grads.append(np.asarray(res[-1]))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_linalg_names_in_both_frontends():
    for n in ("potrf", "potri", "trsm", "trmm", "syrk", "gelqf", "det", "slogdet", "inverse",
              "sumlogdiag", "extractdiag", "makediag", "extracttrian", "maketrian"):
        assert callable(getattr(mx.sym.linalg, n)) and callable(getattr(mx.nd.linalg, n))
        assert callable(getattr(mx.sym, "linalg_" + n)) and callable(getattr(mx.nd, "linalg_" + n))
    a = np.array([[4.0, 2.0], [2.0, 3.0]], np.float32)
    L = mx.nd.linalg.potrf(mx.nd.array(a)).asnumpy()
    np.testing.assert_allclose(L @ L.T, a, rtol=1e-5)
    np.testing.assert_allclose(mx.nd.linalg.potri(mx.nd.array(L)).asnumpy(), np.linalg.inv(a),
                               rtol=1e-5)


def test_factorization_failures_raise_mxnet_errors():
    with pytest.raises(MXNetError, match="_linalg_potrf.*positive-definite"):
        mx.nd.linalg.potrf(mx.nd.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(MXNetError, match="_linalg_inverse.*singular"):
        mx.nd.linalg.inverse(mx.nd.zeros((2, 2)))
    with pytest.raises(MXNetError, match="_eye.*N=-1"):
        mx.nd.eye(-1)


def test_linspace_function():
    np.testing.assert_allclose(mx.nd.linspace(2.0, 3.0, 5).asnumpy(), np.linspace(2, 3, 5))
    np.testing.assert_allclose(mx.nd.linspace(2.0, 3.0, 5, endpoint=False).asnumpy(),
                               np.linspace(2, 3, 5, endpoint=False), rtol=1e-6)
    np.testing.assert_array_equal(mx.nd.linspace(0, 7, 4, dtype="int32").asnumpy(), [0, 2, 4, 7])
    assert mx.sym.linspace(0, 1, 3).infer_shape()[1] == [(3,)]


def test_nd_moveaxis_concatenate_onehot_encode():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = mx.nd.array(a)
    np.testing.assert_array_equal(mx.nd.moveaxis(x, 0, -1).asnumpy(), np.moveaxis(a, 0, -1))
    np.testing.assert_array_equal(mx.nd.moveaxis(x, (0, 1), (2, 0)).asnumpy(),
                                  np.moveaxis(a, (0, 1), (2, 0)))
    with pytest.raises(ValueError):
        mx.nd.moveaxis(x, 3, 0)
    np.testing.assert_array_equal(mx.nd.concatenate([x, x], axis=1).asnumpy(),
                                  np.concatenate([a, a], axis=1))
    with pytest.raises(MXNetError):
        mx.nd.concatenate([x, mx.nd.ones((2, 2, 2))], axis=1)
    out = mx.nd.zeros((3, 4))
    r = mx.nd.onehot_encode(mx.nd.array([0, 3, 1]), out)
    assert r is out
    np.testing.assert_array_equal(out.asnumpy(), np.eye(4)[[0, 3, 1]])
