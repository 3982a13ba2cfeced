"""mx.test_utils: the helpers used the way MXNet 1.9.1's own tests use them.

Expected messages, tolerances and return values were taken from the real MXNet 1.9.1 (the
oracle venv) running the same calls; they are written out here, so the test needs no MXNet.
"""
import gzip
import os
import struct
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError, UnsupportedError
from mxc.test_utils import (
    DummyIter, almost_equal, assert_allclose, assert_almost_equal,
    assert_almost_equal_ignore_nan, assert_almost_equal_with_err, assert_exception, assign_each,
    assign_each2, check_consistency, check_numeric_gradient, check_speed,
    check_symbolic_backward, check_symbolic_forward, chi_square_check, collapse_sum_like,
    compare_ndarray_tuple, compare_optimizer, create_2d_tensor, create_vector, default_atols,
    default_context, default_dtype, default_numeric_eps, default_rtols, discard_stderr,
    download, download_model, effective_dtype, environment, gen_buckets_probs_with_ppf,
    get_atol, get_bz2_data, get_cifar10, get_cuda_compute_capability, get_etol,
    get_identity_mat, get_identity_mat_batch, get_mnist, get_mnist_iterator, get_mnist_pkl,
    get_mnist_ubyte, get_rtol, get_tolerance, get_tols, get_zip_data, getenv, has_tvm_ops,
    is_aarch64_run, is_cd_run, is_op_runnable, list_gpus, locationError, mean_check,
    new_matrix_with_real_eigvals_2d, new_matrix_with_real_eigvals_nd, new_orthonormal_matrix_2d,
    new_sym_matrix_with_real_eigvals_2d, new_sym_matrix_with_real_eigvals_nd, np_reduce,
    numeric_grad, rand_coord_2d, rand_ndarray, rand_shape_2d, rand_shape_3d, rand_shape_nd,
    random_arrays, random_sample, random_uniform_arrays, retry, same, same_array,
    same_symbol_structure, set_default_context, setenv, simple_forward, use_np, var_check,
    verify_generator,
)

A = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
B = np.array([1.0, 2.1, 3.0, 4.5], dtype=np.float32)


# --- tolerances --------------------------------------------------------------------------------
def test_default_tolerances_are_mxnets():
    rt, at = default_rtols(), default_atols()
    assert sorted(str(k) for k in rt) == ["bool", "float16", "float32", "float64", "int32",
                                          "int64", "int8", "uint32", "uint64", "uint8"]
    assert rt[np.dtype(np.float16)] == 1e-2 and at[np.dtype(np.float16)] == 1e-1
    assert rt[np.dtype(np.float32)] == 1e-4 and at[np.dtype(np.float32)] == 1e-3
    assert rt[np.dtype(np.float64)] == 1e-5 and at[np.dtype(np.float64)] == 1e-20
    assert rt[np.dtype(np.int32)] == 0 and at[np.dtype(np.bool_)] == 0
    assert default_numeric_eps() == {np.dtype(np.float16): 0.015625,
                                     np.dtype(np.float32): 0.001953125,
                                     np.dtype(np.float64): 6.103515625e-05}
    assert default_dtype() is np.float32


def test_get_tols_as_mxnet():
    assert get_rtol() == 1e-05 and get_atol() == 1e-20 and get_etol() == 0
    assert get_rtol(0.5) == 0.5 and get_atol(None, np.dtype(np.float16)) == 0.1
    assert get_tols(A, B, None, None) == (0.0001, 0.001)
    assert get_tols(1.0, B, None, None) == (0.0001, 0.001)      # a float is float64
    assert get_tols(A.astype(np.float16), B, None, None) == (0.01, 0.1)
    assert get_tols(A, B, {np.dtype(np.float32): 0.3}, 0.1) == (0.3, 0.1)
    assert get_tolerance(A, None, default_rtols()) == 0.0001
    assert effective_dtype(A) == np.dtype(np.float32)
    assert effective_dtype(mx.nd.array(A)) == np.dtype(np.float32)
    # dtypes MXNet's table lacks: integers need no tolerance
    assert get_tolerance(np.zeros(2, np.int16), None, default_rtols()) == 0


# --- assert_almost_equal: MXNet's messages ------------------------------------------------------
def _failure(capsys, *args, **kwargs):
    with pytest.raises(AssertionError) as info:
        assert_almost_equal(*args, **kwargs)
    return str(info.value), capsys.readouterr().out


def test_assert_almost_equal_message(capsys):
    msg, out = _failure(capsys, A, B)
    assert msg == (
        "\nItems are not equal:\n"
        "Error 344.827576 exceeds tolerance rtol=1.000000e-04, atol=1.000000e-03 "
        "(mismatch 50.000000%).\n"
        "Location of maximum error: (3,), a=4.00000000, b=4.50000000\n"
        " ACTUAL: array([1., 2., 3., 4.], dtype=float32)\n"
        " DESIRED: array([1. , 2.1, 3. , 4.5], dtype=float32)")
    assert out == (
        "\n*** Maximum errors for vector of size 4:  rtol=0.0001, atol=0.001\n\n"
        "  1: Error 344.827576  Location of error: (3,), a=4.00000000, b=4.50000000\n"
        "  2: Error 82.644547  Location of error: (1,), a=2.00000000, b=2.09999990\n")


def test_assert_almost_equal_names_and_mismatches(capsys):
    msg, out = _failure(capsys, A, B, names=("x", "y"), mismatches=(1, 1))
    assert "(mismatch at least 50.000000%)" in msg
    assert "Location of maximum error: (3,), x=4.00000000, y=4.50000000" in msg
    assert out.count("Error") == 1
    a = np.arange(100.).reshape(10, 10)
    msg, out = _failure(capsys, a, a + 1, mismatches=(3, 5))
    assert ("Error 100000.000000 exceeds tolerance rtol=1.000000e-05, atol=1.000000e-20 "
            "(mismatch at least 6.000000%).") in msg
    assert "Location of maximum error: (0, 0), a=0.00000000, b=1.00000000" in msg
    assert " ACTUAL: array([[ 0.,  1.,  2., ...,  7.,  8.,  9.]," in msg   # threshold=4
    assert out.count("Location of error") == 3
    msg, _ = _failure(capsys, a, a + 1, mismatches=(3, 0))
    assert "(mismatch 100.000000%)" in msg


def test_assert_almost_equal_inputs(capsys):
    # NDArrays compare like their numpy values; mixed with float64 the error is float64's
    msg, _ = _failure(capsys, mx.nd.array(A), mx.nd.array(B))
    assert "Error 344.827576 exceeds" in msg
    msg, _ = _failure(capsys, mx.nd.array(A), B.astype(np.float64))
    assert "Error 344.827586 exceeds" in msg
    assert " DESIRED: array([1.       , 2.0999999, 3.       , 4.5      ])" in msg
    # 2-d locations, integer arrays (no tolerance), scalars
    msg, _ = _failure(capsys, A.reshape(2, 2), B.reshape(2, 2))
    assert "Location of maximum error: (1, 1)," in msg
    msg, _ = _failure(capsys, np.array([1, 2]), np.array([1, 3]))
    assert ("Error 100000000000000000000.000000 exceeds tolerance rtol=0.000000e+00, "
            "atol=0.000000e+00 (mismatch 50.000000%).") in msg
    msg, _ = _failure(capsys, 1.0, 1.5)
    assert msg == ("\nItems are not equal:\nError 33333.333333 exceeds tolerance "
                   "rtol=1.000000e-05, atol=1.000000e-20.\n\n ACTUAL: 1.0\n DESIRED: 1.5")
    # float16 against float64 uses float16's looser tolerance
    assert_almost_equal(np.array([1, 2], dtype=np.float16), np.array([1, 2.01]))
    assert_almost_equal(A, B, rtol=0.2, atol=0)
    with pytest.raises(AssertionError, match="Arrays are not equal"):
        assert_almost_equal(np.array([True, False]), np.array([True, True]))


def test_assert_almost_equal_shapes_and_nan(capsys):
    with pytest.raises(AssertionError, match=r"a.shape = \(4,\) and b.shape = \(3,\) are not "
                                             "equal"):
        assert_almost_equal(A, B[:3], use_broadcast=False)
    with pytest.raises(MXNetError, match="do not broadcast"):
        assert_almost_equal(A, B[:3])
    nan = np.array([1.0, np.nan])
    msg, _ = _failure(capsys, nan, nan)
    assert "Location of maximum error: (1,), a=nan, b=nan" in msg
    assert_almost_equal(nan, nan, equal_nan=True)
    msg, _ = _failure(capsys, np.array([1.0, np.nan, 3]), np.array([1.0, np.nan, 3.5]),
                      equal_nan=True)
    assert "Location of maximum error: (2,)" in msg


def test_almost_equal_and_friends(capsys):
    assert almost_equal(A, B) is False
    assert almost_equal(A, B, rtol=0.2) is True
    with pytest.raises(AssertionError, match="are not equal"):
        almost_equal(A, B[:1], use_broadcast=False)
    assert same(A, A) and not same(A, B)
    assert locationError(A, B, (1,), ("a", "b")) == \
        "Location of error: (1,), a=2.00000000, b=2.09999990"
    assert locationError(A, B, (1,), ("a", "b"), True) == \
        "Location of maximum error: (1,), a=2.00000000, b=2.09999990"
    # assert_allclose: rtol 1e-7, atol 0, NaNs equal
    with pytest.raises(AssertionError, match=r"rtol=1\.000000e-07, atol=0\.000000e\+00"):
        assert_allclose(A, B)
    assert_allclose(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    # ignore_nan: NaN in either array is left out
    assert_almost_equal_ignore_nan(np.array([1.0, np.nan, 3]), np.array([np.nan, 2.0, 3.0]))
    with pytest.raises(AssertionError, match=r"Location of maximum error: \(2,\)"):
        assert_almost_equal_ignore_nan(np.array([1.0, np.nan, 3]), np.array([np.nan, 2.0, 3.1]))
    # with_err: a fraction etol of the elements may differ
    assert_almost_equal_with_err(A, B, etol=0.6)
    with pytest.raises(AssertionError, match="mismatch 50.000000%"):
        assert_almost_equal_with_err(A, B, etol=0.2)
    with pytest.raises(AssertionError):
        assert_almost_equal_with_err(A, B)
    assert_exception(lambda: 1 / 0, ZeroDivisionError)
    with pytest.raises(AssertionError):
        assert_exception(lambda: 1, ZeroDivisionError)
    compare_ndarray_tuple((mx.nd.ones((2,)), None), (mx.nd.ones((2,)), mx.nd.zeros((2,))))
    with pytest.raises(AssertionError):
        compare_ndarray_tuple((mx.nd.ones((2,)),), (mx.nd.zeros((2,)),))
    capsys.readouterr()


# --- numpy helpers -----------------------------------------------------------------------------
def test_numpy_helpers():
    x = np.arange(24.).reshape(2, 3, 4)
    np.testing.assert_array_equal(np_reduce(x, (0, 2), True, np.sum), [[[60.], [92.], [124.]]])
    np.testing.assert_array_equal(np_reduce(x, 1, False, np.max), x.max(1))
    assert np_reduce(x, None, False, np.sum) == 276.0
    np.testing.assert_array_equal(collapse_sum_like(np.ones((2, 3, 4)), (3, 1)), [[8.]] * 3)
    assert collapse_sum_like(np.ones((2, 3, 4)), (0, 1)).shape == (0, 1)
    out = assign_each(np.array([1., 2.]), lambda v: v * 2)
    assert out.dtype == np.float64 and out.tolist() == [2., 4.]
    assert assign_each(np.array([1, 2]), None).tolist() == [1, 2]
    t = np.arange(6.).reshape(2, 3).T         # non-contiguous: the result follows the indices
    np.testing.assert_array_equal(assign_each(t, lambda v: v + 1), t + 1)
    assert assign_each2(np.array([1., 2.]), np.array([3., 4.]),
                        lambda a, b: a + b).tolist() == [4., 6.]
    assert gen_buckets_probs_with_ppf(lambda p: p * 2, 4) == (
        [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 2.0)], [0.25, 0.25, 0.25, 0.25])


def test_random_helpers():
    assert random_arrays((2, 3)).dtype == np.float32
    assert random_arrays(()).shape == ()
    assert [a.shape for a in random_arrays((2,), (3,))] == [(2,), (3,)]
    arrs = random_uniform_arrays((2,), (3, 1), low=-1, high=1, dtype=np.float64)
    assert [a.shape for a in arrs] == [(2,), (3, 1)] and arrs[0].dtype == np.float64
    assert all(-1 <= v <= 1 for a in arrs for v in a.ravel())
    with pytest.raises(TypeError, match="Got unexpected argument/s"):
        random_uniform_arrays((2,), foo=1)
    assert sorted(random_sample([1, 2, 3], 3)) == [1, 2, 3]
    with pytest.raises(AssertionError):
        random_sample([1, 2, 3], 4)
    s2, s3, sn = rand_shape_2d(), rand_shape_3d(), rand_shape_nd(4, dim=3)
    assert len(s2) == 2 and len(s3) == 3 and len(sn) == 4
    assert all(1 <= d <= 10 for d in s2 + s3) and all(1 <= d <= 3 for d in sn)
    assert 0 in {d for _ in range(200) for d in rand_shape_nd(3, 1, allow_zero_size=True)}
    x, y = rand_coord_2d(0, 5, 10, 12)
    assert 0 <= x < 5 and 10 <= y < 12 and isinstance(x, np.int64)


def test_rand_ndarray():
    a = rand_ndarray((2, 3))
    assert a.shape == (2, 3) and a.dtype == np.float32 and a.context == default_context()
    assert rand_ndarray((2, 3), dtype="float64").dtype == np.float64
    for stype in ("csr", "row_sparse"):
        with pytest.raises(UnsupportedError, match="sparse"):
            rand_ndarray((2, 3), stype)


def test_ndarray_builders():
    v = create_vector(5)
    assert v.dtype == np.int64 and v.asnumpy().tolist() == [0, 1, 2, 3, 4]
    assert create_2d_tensor(2, 3).asnumpy().tolist() == [[0, 0, 0], [1, 1, 1]]
    eye = get_identity_mat(3)
    assert eye.dtype == np.float32 and (eye.asnumpy() == np.eye(3)).all()
    assert (get_identity_mat_batch(2).asnumpy() == np.stack([np.eye(2)] * 2)).all()


def test_matrices():
    m = new_matrix_with_real_eigvals_2d(4)
    assert np.all(np.abs(np.linalg.eigvals(m).imag) < 1e-6)
    assert new_matrix_with_real_eigvals_nd((2, 3, 3)).shape == (2, 3, 3)
    q = new_orthonormal_matrix_2d(4)
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-10)
    s = new_sym_matrix_with_real_eigvals_2d(3)
    np.testing.assert_allclose(s, s.T, atol=1e-10)
    assert new_sym_matrix_with_real_eigvals_nd((2, 2, 3, 3)).shape == (2, 2, 3, 3)


# --- symbols: MXNet's test_operator patterns ----------------------------------------------------
def test_fully_connected_forward_and_numeric_gradient():
    # test_operator.test_fully_connected, smaller
    np.random.seed(0)
    data = mx.sym.var("data")
    fc = mx.sym.FullyConnected(data=data, weight=mx.sym.var("weight"), bias=mx.sym.var("bias"),
                               num_hidden=4, no_bias=False, name="fc")
    x = np.random.uniform(-0.5, 0.5, (3, 5)).astype(np.float32)
    w = np.random.uniform(-0.5, 0.5, (4, 5)).astype(np.float32)
    b = np.random.uniform(-0.5, 0.5, (4,)).astype(np.float32)
    outs = check_symbolic_forward(fc, {"data": x, "weight": w, "bias": b},
                                  {"fc_output": x @ w.T + b})
    assert len(outs) == 1 and outs[0].shape == (3, 4)
    check_numeric_gradient(fc, {"data": x, "weight": w, "bias": b})


def test_convolution_numeric_gradient():
    np.random.seed(1)
    conv = mx.sym.Convolution(num_filter=2, kernel=(3, 3), pad=(1, 1), name="conv")
    assert conv.list_arguments() == ["conv_data", "conv_weight", "conv_bias"]
    loc = [np.random.normal(size=(1, 2, 4, 4)), np.random.normal(size=(2, 2, 3, 3)),
           np.random.normal(size=(2,))]
    check_numeric_gradient(conv, loc, numeric_eps=1e-3, rtol=1e-2, atol=1e-3)
    check_numeric_gradient(conv, loc, dtype=np.float64)


def test_softmax_forward_backward_gradient():
    # test_operator.test_softmax / test_new_softmax
    np.random.seed(2)
    x = np.random.uniform(-1, 1, (3, 4))
    e = np.exp(x - x.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    sym = mx.sym.softmax(mx.sym.Variable("data"), axis=-1)
    check_symbolic_forward(sym, [x], [p])
    og = np.random.uniform(-1, 1, (3, 4))
    check_symbolic_backward(sym, [x], [og], [p * (og - (og * p).sum(-1, keepdims=True))],
                            rtol=1e-4, atol=1e-5)
    check_numeric_gradient(sym, [x], numeric_eps=1e-3, rtol=1e-2, atol=1e-3)


def test_elementwise_grad_reqs():
    np.random.seed(3)
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    s = a * b + a
    x, y = np.random.rand(2, 3), np.random.rand(2, 3)
    check_symbolic_forward(s, {"a": x, "b": y}, {s.list_outputs()[0]: x * y + x})
    grads = check_symbolic_backward(s, [x, y], [np.ones((2, 3))], {"a": y + 1, "b": x},
                                    grad_req={"a": "add", "b": "write"})
    assert sorted(grads) == ["a", "b"]
    check_symbolic_backward(s, [x, y], [np.ones((2, 3))], {"a": y + 1, "b": x}, grad_req="null")
    check_numeric_gradient(s, [x, y], grad_nodes={"a": "add", "b": "null"})
    check_numeric_gradient(s, [x, y], grad_nodes=["a"], dtype=np.float64)
    # MXNet's test_elementwise_sum
    inputs = [mx.sym.Variable(f"arg{i}") for i in range(3)]
    esum = mx.sym.ElementWiseSum(*inputs, name="esum")
    check_numeric_gradient(esum, [np.random.uniform(-10, 10, (2, 3)) for _ in range(3)])


def test_check_symbolic_failure_names(capsys):
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    s = a * b + a
    x, y = np.full((2, 3), 0.5), np.full((2, 3), 2.0)
    with pytest.raises(AssertionError) as info:
        check_symbolic_forward(s, [x, y], [x * y])
    name = s.list_outputs()[0]
    assert f"EXPECTED_{name}=1.00000000, FORWARD_{name}=1.50000000" in str(info.value)
    with pytest.raises(AssertionError) as info:
        check_symbolic_backward(s, [x, y], [np.ones((2, 3))], [y, x])
    assert "EXPECTED_a=2.00000000, BACKWARD_a=3.00000000" in str(info.value)
    # a wrong gradient is caught by the numeric check (its names: NUMERICAL_x, BACKWARD_x)
    blocked = mx.sym.BlockGrad(a) * 2
    with pytest.raises(AssertionError, match="NUMERICAL_a=.*BACKWARD_a=0.00000000"):
        check_numeric_gradient(blocked, [x])
    with pytest.raises(ValueError, match="location do not match"):
        check_symbolic_forward(s, {"a": x}, [x])
    capsys.readouterr()


def test_simple_forward_and_speed():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    out = simple_forward(a * 2 + b, a=np.ones((2,)), b=np.ones((2,)))
    assert out.tolist() == [3.0, 3.0]
    outs = simple_forward(mx.sym.Group([a * 2, a + 1]), a=np.ones((2,)))
    assert [o.tolist() for o in outs] == [[2.0, 2.0], [2.0, 2.0]]
    assert check_speed(a * b, a=(2, 3), b=(2, 3), N=2) >= 0
    assert check_speed(a * b, location={"a": np.ones((2, 3)), "b": np.ones((2, 3))},
                       typ="forward", N=2) >= 0
    with pytest.raises(ValueError, match='typ can only be "whole" or "forward"'):
        check_speed(a * b, a=(2, 3), b=(2, 3), typ="backward")


def test_numeric_grad_direct():
    x = mx.sym.Variable("x")
    exe = (x * x).simple_bind(mx.cpu(), x=(3,), grad_req="null")
    loc = {"x": np.array([1.0, 2.0, 3.0], dtype=np.float32)}
    g = numeric_grad(exe, loc, eps=1e-2)
    np.testing.assert_allclose(g["x"], [2.0, 4.0, 6.0], rtol=1e-3)
    assert (exe.arg_dict["x"].asnumpy() == [1.0, 2.0, 3.0]).all()   # restored


# --- check_consistency: backends and dtypes -----------------------------------------------------
def test_check_consistency_across_backends_and_dtypes():
    np.random.seed(4)
    data = mx.sym.Variable("data")
    sym = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=4, name="fc"),
                            act_type="tanh")
    gt = check_consistency(sym, [
        {"ctx": mx.cpu(0), "target": "llvm", "data": (2, 3)},
        {"ctx": mx.cpu(0), "target": "triton", "data": (2, 3)},
        {"ctx": mx.cpu(0), "data": (2, 3), "type_dict": {"data": np.float64}},
    ])
    assert sorted(gt) == sorted(sym.list_outputs() + sym.list_arguments())
    assert gt["fc_weight"].dtype == np.float64        # the most precise entry is the reference
    # MXNet's docstring example: convolution in float64, float32 and float16
    conv = mx.sym.Convolution(num_filter=3, kernel=(3, 3), name="conv")
    check_consistency(conv, [
        {"ctx": mx.cpu(0), "conv_data": (2, 2, 6, 6), "type_dict": {"conv_data": np.float64}},
        {"ctx": mx.cpu(0), "conv_data": (2, 2, 6, 6), "type_dict": {"conv_data": np.float32}},
        {"ctx": mx.cpu(0), "conv_data": (2, 2, 6, 6), "type_dict": {"conv_data": np.float16}},
    ], grad_req="add")


def test_check_consistency_reports(capsys):
    data = mx.sym.Variable("data")
    sym = mx.sym.exp(data)
    spec = [{"ctx": mx.cpu(0), "data": (2,)}, {"ctx": mx.cpu(0), "target": "triton",
                                             "data": (2,)}]
    wrong = {sym.list_outputs()[0]: np.zeros(2, np.float32), "data": np.zeros(2, np.float32)}
    with pytest.raises(AssertionError):
        check_consistency(sym, spec, ground_truth=dict(wrong))
    assert "Predict Err: ctx 1 vs ctx 0" in capsys.readouterr().out
    check_consistency(sym, spec, ground_truth=dict(wrong), raise_on_err=False)
    out = capsys.readouterr().out
    assert "Train Err: float32 cpu(0) ctx 1 vs float32" in out
    with pytest.raises(AssertionError):
        check_consistency(sym, spec[:1])
    with pytest.raises(MXNetError, match="unknown target"):
        check_consistency(sym, [spec[0], {"ctx": mx.cpu(0), "target": "tpu", "data": (2,)}])


# --- environment ---------------------------------------------------------------------------------
def test_environment_sets_and_restores(monkeypatch):
    monkeypatch.setenv("MXC_TU_SET", "1")
    monkeypatch.delenv("MXC_TU_UNSET", raising=False)
    with environment("MXC_TU_SET", "2"):
        assert os.environ["MXC_TU_SET"] == "2" and getenv("MXC_TU_SET") == "2"
    assert os.environ["MXC_TU_SET"] == "1"
    with environment({"MXC_TU_SET": None, "MXC_TU_UNSET": "3"}):
        assert "MXC_TU_SET" not in os.environ and os.environ["MXC_TU_UNSET"] == "3"
    assert os.environ.get("MXC_TU_SET") == "1" and "MXC_TU_UNSET" not in os.environ
    with pytest.raises(KeyError):
        with environment("MXC_TU_UNSET", "v"):
            raise KeyError("x")
    assert "MXC_TU_UNSET" not in os.environ


def test_environment_bad_arguments():
    for args in [("A",), ("A", "b", "c")]:
        with pytest.raises(AssertionError, match="Expecting one dict arg or two args"):
            with environment(*args):
                pass
    for args in [({"MXC_TU_X": 1},), ("MXC_TU_X", 3)]:
        with pytest.raises(TypeError, match="str expected, not int"):
            with environment(*args):
                pass
    assert "MXC_TU_X" not in os.environ


def test_getenv_setenv(monkeypatch):
    monkeypatch.delenv("MXC_TU_G", raising=False)
    assert getenv("MXC_TU_G") is None
    setenv("MXC_TU_G", "x")
    assert getenv("MXC_TU_G") == "x" == os.environ["MXC_TU_G"]
    setenv("MXC_TU_G", None)
    assert getenv("MXC_TU_G") is None


def test_environment_selects_backend():
    # the environment is what mxc's backend reads: MXC_TARGET picks the CPU compiler
    x = mx.sym.Variable("x")
    for target in ("llvm", "triton"):
        with environment("MXC_TARGET", target):
            out = simple_forward(mx.sym.sqrt(x), x=np.array([4.0, 9.0]))
        assert out.tolist() == [2.0, 3.0]


# --- contexts, devices, features ----------------------------------------------------------------
def test_default_context():
    assert default_context() == mx.cpu(0)
    set_default_context(mx.cpu(1))
    try:
        assert default_context() == mx.cpu(1)
        assert mx.nd.zeros((1,)).context == mx.cpu(1)
    finally:
        set_default_context(mx.cpu(0))
    assert default_context() == mx.cpu(0)
    with pytest.raises(MXNetError):
        set_default_context(3)


def test_device_queries():
    assert list(list_gpus()) == list(range(mx.context.num_gpus()))
    with pytest.raises(ValueError, match="Expecting a gpu context to get cuda compute "
                                         r"capability, while received ctx cpu\(0\)"):
        get_cuda_compute_capability(mx.cpu())
    if mx.context.num_gpus() == 0:
        with pytest.raises(OSError):      # MXNet: OSError, libcuda cannot be loaded
            get_cuda_compute_capability(mx.gpu(0))
    assert has_tvm_ops() is False and is_op_runnable() is True
    assert is_cd_run() == (os.environ.get("CD_JOB") == "1")
    assert isinstance(is_aarch64_run(), bool)


@pytest.mark.gpu
def test_cuda_compute_capability_on_gpu():
    import torch
    major, minor = torch.cuda.get_device_capability(0)
    assert get_cuda_compute_capability(mx.gpu(0)) == major * 10 + minor


def test_unsupported_features():
    def f():
        return 1
    with pytest.raises(UnsupportedError):
        use_np(f)
    assert use_np is mx.util.use_np and getenv is mx.util.getenv
    from mxc.test_utils import (Features, check_gluon_hybridize_consistency,
                                create_sparse_array, np_symbol)
    assert not Features().is_enabled("TVM_OP")
    assert not isinstance(mx.sym.Variable("x"), np_symbol)
    with pytest.raises(UnsupportedError, match="numpy symbols"):
        np_symbol()
    with pytest.raises(UnsupportedError, match="Gluon"):
        check_gluon_hybridize_consistency(None, [])
    with pytest.raises(UnsupportedError, match="sparse"):
        create_sparse_array((2, 2), "csr")


def test_star_import_names():
    ns = {}
    exec("from mxc.test_utils import *", ns)
    names = set(ns) - {"__builtins__"}
    # MXNet 1.9.1's star import, less `requests` (network)
    expected = set(
        "Context DummyIter Features OrderedDict Symbol almost_equal array assert_allclose "
        "assert_almost_equal assert_almost_equal_ignore_nan assert_almost_equal_with_err "
        "assert_exception assign_each assign_each2 bz2 checkShapes check_consistency "
        "check_gluon_hybridize_consistency check_numeric_gradient check_speed "
        "check_symbolic_backward check_symbolic_forward chi_square_check collapse_sum_like "
        "compare_ndarray_tuple compare_optimizer contextmanager create_2d_tensor "
        "create_sparse_array create_sparse_array_zd create_vector current_context "
        "default_atols default_context default_dtype default_numeric_eps default_rtols "
        "discard_stderr download download_model effective_dtype environment errno "
        "gen_buckets_probs_with_ppf get_atol get_bz2_data get_cifar10 "
        "get_cuda_compute_capability get_etol get_identity_mat get_identity_mat_batch "
        "get_im2rec_path get_mnist get_mnist_iterator get_mnist_pkl get_mnist_ubyte get_rtol "
        "get_tolerance get_tols get_zip_data getenv gzip has_tvm_ops is_aarch64_run is_cd_run "
        "is_op_runnable json list_gpus locationError logging mean_check mx "
        "new_matrix_with_real_eigvals_2d new_matrix_with_real_eigvals_nd "
        "new_orthonormal_matrix_2d new_sym_matrix_with_real_eigvals_2d "
        "new_sym_matrix_with_real_eigvals_nd np np_reduce np_symbol npt numbers numeric_grad os "
        "platform rand_coord_2d rand_ndarray rand_shape_2d rand_shape_3d rand_shape_nd "
        "rand_sparse_ndarray random_arrays random_sample random_uniform_arrays retry rnd same "
        "same_array same_symbol_structure set_default_context setenv shuffle_csr_column_indices "
        "simple_forward ss struct sys time traceback use_np var_check verify_generator "
        "zipfile".split())
    assert names == expected
    assert ns["mx"] is mx and ns["np"] is np and ns["array"] is mx.nd.array


# --- arrays, symbols, iterators, optimizers ---------------------------------------------------
def test_same_array_and_symbol_structure():
    x = mx.nd.ones((2, 3))
    assert same_array(x, x) and same_array(x, x[:])
    # MXNet 1.9.1 answers False for a reshaped view too: the values are compared by shape
    assert not same_array(x, x.copy()) and not same_array(x, x.reshape((3, 2)))
    assert (x.asnumpy() == 1).all()
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    assert same_symbol_structure(a + 1, b + 2)
    assert not same_symbol_structure(a + 1, b * 2)


def test_dummy_iter():
    it = mx.io.NDArrayIter(np.arange(12.).reshape(6, 2), np.arange(6.), batch_size=2)
    d = DummyIter(it)
    b1, b2 = next(d), d.next()
    assert b1 is b2 and d.batch_size == 2 and d.provide_data == it.provide_data
    assert sum(1 for _, _ in zip(d, range(10))) == 10      # never stops


def test_retry():
    calls = []

    @retry(3)
    def flaky():
        calls.append(1)
        assert len(calls) >= 2
    flaky()
    assert len(calls) == 2

    @retry(2)
    def always():
        calls.append(1)
        raise AssertionError("always")
    with pytest.raises(AssertionError, match="always"):
        always()
    with pytest.raises(AssertionError):
        retry(0)


def test_compare_optimizer():
    np.random.seed(5)
    compare_optimizer(mx.optimizer.SGD(learning_rate=0.1, momentum=0.9),
                      mx.optimizer.SGD(learning_rate=0.1, momentum=0.9), (3, 4), np.float32)
    with pytest.raises(AssertionError):
        compare_optimizer(mx.optimizer.SGD(learning_rate=0.1),
                          mx.optimizer.SGD(learning_rate=0.2), (3, 4), np.float32)
    with pytest.raises(UnsupportedError):
        compare_optimizer(mx.optimizer.SGD(), mx.optimizer.SGD(), (3, 4), np.float32,
                          w_stype="row_sparse")


def test_statistical_checks():
    np.random.seed(6)
    assert mean_check(lambda n: np.random.normal(0, 1.0, size=n), 0, 1.0, 10000)
    assert not mean_check(lambda n: np.random.normal(1, 1.0, size=n), 0, 1.0, 10000)
    assert var_check(lambda n: np.random.normal(0, 1.0, size=n), 1.0, 10000)
    ss = pytest.importorskip("scipy.stats")
    buckets, probs = gen_buckets_probs_with_ppf(lambda p: ss.norm.ppf(p, 0, 1), 5)
    ps = verify_generator(lambda n: np.random.normal(0, 1.0, size=n), buckets, probs,
                          nsamples=10000)
    assert len(ps) == 5
    p, obs, exp = chi_square_check(lambda n: np.random.randint(0, 3, size=n), [0, 1, 2],
                                   [1 / 3.] * 3, nsamples=3000)
    assert obs.sum() == 3000 and exp.tolist() == [1000, 1000, 1000] and 0 <= p <= 1
    with pytest.raises(AssertionError, match="Generator test fails"):
        verify_generator(lambda n: np.random.normal(2, 1.0, size=n), buckets, probs,
                         nsamples=10000)


def test_discard_stderr(capfd):
    with discard_stderr():
        sys.stderr.write("hidden\n")
        os.write(2, b"hidden too\n")
    sys.stderr.write("shown\n")
    err = capfd.readouterr().err
    assert "hidden" not in err and "shown" in err


# --- data files: never downloaded -------------------------------------------------------------
def _idx(arr):
    arr = np.asarray(arr, dtype=np.uint8)
    return struct.pack(">BBBB", 0, 0, 8, arr.ndim) + \
        struct.pack(">%dI" % arr.ndim, *arr.shape) + arr.tobytes()


def test_downloads_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MXNetError, match="does not download") as info:
        download("http://doesnotexist.notfound")
    assert isinstance(info.value, OSError)
    with pytest.raises(MXNetError, match=r"put the file at .*train-labels-idx1-ubyte.gz"):
        get_mnist()
    for fn in (get_mnist_pkl, get_mnist_ubyte, get_cifar10):
        with pytest.raises(MXNetError, match="does not download"):
            fn()
    with pytest.raises(MXNetError, match="does not download"):
        download_model("imagenet1k-resnet-18", dst_dir=str(tmp_path))
    assert download_model("no-such-model") == (None, 0)
    with pytest.raises(MXNetError, match="does not download"):
        get_zip_data("d", "http://x/y.zip", "y.zip")
    with pytest.raises(MXNetError, match="does not download"):
        get_bz2_data("d", "kdda.t", "http://x/kdda.t.bz2", "kdda.t.bz2")
    assert not os.listdir(tmp_path)            # nothing half-made


def test_local_files_are_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("x" * 200)
    assert download("https://example.org/README.md") == "README.md"
    (tmp_path / "d").mkdir()
    assert download("https://example.org/a/README.md", fname="README.md",
                    dirname=str(tmp_path)) == str(tmp_path / "README.md")
    prefix = str(tmp_path / "imagenet1k-resnet-18")
    for suffix in ("-symbol.json", "-0000.params"):
        open(prefix + suffix, "w").close()
    assert download_model("imagenet1k-resnet-18", dst_dir=str(tmp_path)) == (prefix, 0)
    import bz2
    (tmp_path / "d" / "kdda.t.bz2").write_bytes(bz2.compress(b"1 2:3\n"))
    get_bz2_data("d", "kdda.t", "http://x/kdda.t.bz2", "kdda.t.bz2")
    assert (tmp_path / "d" / "kdda.t").read_bytes() == b"1 2:3\n"


def test_mnist_from_local_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.RandomState(0)
    sets = {"train": (rng.randint(0, 256, (6, 28, 28)), rng.randint(0, 10, 6)),
            "t10k": (rng.randint(0, 256, (4, 28, 28)), rng.randint(0, 10, 4))}
    (tmp_path / "data").mkdir()
    for kind, (img, lbl) in sets.items():
        for what, arr, nd in (("images", img, 3), ("labels", lbl, 1)):
            name = f"{kind}-{what}-idx{nd}-ubyte"
            with gzip.open(tmp_path / (name + ".gz"), "wb") as f:
                f.write(_idx(arr))
            (tmp_path / "data" / name).write_bytes(_idx(arr))
    m = get_mnist()
    assert m["train_data"].shape == (6, 1, 28, 28) and m["train_data"].dtype == np.float32
    np.testing.assert_allclose(m["test_data"][:, 0], sets["t10k"][0] / 255, rtol=1e-6)
    assert m["train_label"].dtype == np.int8
    assert m["train_label"].tolist() == sets["train"][1].tolist()
    get_mnist_ubyte()
    train, val = get_mnist_iterator(batch_size=2, input_shape=(784,))
    batches = list(val)
    assert len(batches) == 2 and batches[0].data[0].shape == (2, 784)
    np.testing.assert_allclose(batches[0].data[0].asnumpy(),
                               sets["t10k"][0][:2].reshape(2, -1) / 255, rtol=1e-6)
    assert batches[1].label[0].asnumpy().tolist() == sets["t10k"][1][2:4].tolist()
    train, _ = get_mnist_iterator(batch_size=4, input_shape=(1, 28, 28))
    assert [b.data[0].shape for b in train] == [(4, 1, 28, 28)]     # the last 2 are dropped
    # a truncated file is named, with the offset
    (tmp_path / "data" / "t10k-labels-idx1-ubyte").write_bytes(_idx(sets["t10k"][1])[:-1])
    with pytest.raises(MXNetError, match="t10k-labels-idx1-ubyte: 3 bytes of data after the "
                                         "header"):
        get_mnist_iterator(batch_size=2, input_shape=(784,))
