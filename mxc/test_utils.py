"""``mx.test_utils``: MXNet 1.9.1's testing helpers, for mxc.

The helpers keep MXNet's names, signatures, defaults, tolerances and failure messages, so test
suites written against ``mxnet.test_utils`` run unchanged (``from mxc.test_utils import *`` gives
the same names as MXNet's star import). Where MXNet compares devices, mxc can also compare its
backends: :func:`check_consistency` accepts a ``'target'`` entry (``'llvm'`` or ``'triton'``) in
each context dict, so the LLVM code and the Triton code (interpreted on a machine without CUDA)
of one symbol are checked against each other.

What differs from MXNet, on purpose:

* Nothing is downloaded. :func:`download` and the dataset helpers (:func:`get_mnist`,
  :func:`get_cifar10`, :func:`download_model` ...) use files already present at MXNet's paths and
  raise :class:`DownloadError`, saying where to put the file, otherwise.
* Sparse storage, Gluon and MXNet's numpy mode are not part of mxc: their helpers raise
  :class:`mxc.base.UnsupportedError`.
* Execution is synchronous (see :mod:`mxc.engine`); ``mx.nd.waitall()`` calls are kept where
  MXNet makes them and cost nothing on the CPU.
* :func:`getenv` / :func:`setenv` (``mx.util``'s) read and write ``os.environ``: mxc's backend is
  Python, so that is the environment it sees (MXNet's read the C runtime's copy).
"""
# ruff: noqa: N802, N806  (MXNet's names: checkShapes, locationError)
from __future__ import annotations

import bz2
import errno  # noqa: F401  (part of MXNet's star-import surface)
import functools
import gzip
import io as _io
import json
import logging
import numbers
import os
import platform
import struct
import sys
import time
import traceback
import zipfile
from collections import OrderedDict
from contextlib import contextmanager, nullcontext

import numpy as np
import numpy.random as rnd
import numpy.testing as npt

try:
    import scipy.stats as ss
except ImportError:  # pragma: no cover - scipy is optional, as in MXNet
    ss = None

import mxc as mx

from .base import DTypeError, FormatError, MXNetError, ShapeError, UnsupportedError
from .context import Context, DeviceError, current_context
from .ndarray import NDArray, array
from .runtime import Features
from .symbol import Symbol
from .util import get_cuda_compute_capability, getenv, setenv, use_np

__all__ = [
    # modules and names MXNet's test_utils imports (they come with its star import)
    "array", "bz2", "Context", "contextmanager", "current_context", "errno", "Features",
    "get_cuda_compute_capability", "getenv", "gzip", "json", "logging", "mx", "np", "npt",
    "numbers", "OrderedDict", "os", "platform", "rnd", "setenv", "ss", "struct", "Symbol", "sys",
    "time", "traceback", "use_np", "zipfile",
    # the helpers
    "almost_equal", "assert_allclose", "assert_almost_equal", "assert_almost_equal_ignore_nan",
    "assert_almost_equal_with_err", "assert_exception", "assign_each", "assign_each2",
    "check_consistency", "check_gluon_hybridize_consistency", "check_numeric_gradient",
    "check_speed", "check_symbolic_backward", "check_symbolic_forward", "checkShapes",
    "chi_square_check", "collapse_sum_like", "compare_ndarray_tuple", "compare_optimizer",
    "create_2d_tensor", "create_sparse_array", "create_sparse_array_zd", "create_vector",
    "default_atols", "default_context", "default_dtype", "default_numeric_eps", "default_rtols",
    "discard_stderr", "download", "download_model", "DummyIter", "effective_dtype", "environment",
    "gen_buckets_probs_with_ppf", "get_atol", "get_bz2_data", "get_cifar10", "get_etol",
    "get_identity_mat", "get_identity_mat_batch", "get_im2rec_path", "get_mnist",
    "get_mnist_iterator", "get_mnist_pkl", "get_mnist_ubyte", "get_rtol", "get_tolerance",
    "get_tols", "get_zip_data", "has_tvm_ops", "is_aarch64_run", "is_cd_run", "is_op_runnable",
    "list_gpus", "locationError", "mean_check", "new_matrix_with_real_eigvals_2d",
    "new_matrix_with_real_eigvals_nd", "new_orthonormal_matrix_2d",
    "new_sym_matrix_with_real_eigvals_2d", "new_sym_matrix_with_real_eigvals_nd", "np_reduce",
    "np_symbol", "numeric_grad", "rand_coord_2d", "rand_ndarray", "rand_shape_2d", "rand_shape_3d",
    "rand_shape_nd", "rand_sparse_ndarray", "random_arrays", "random_sample",
    "random_uniform_arrays", "retry", "same", "same_array", "same_symbol_structure",
    "set_default_context", "shuffle_csr_column_indices", "simple_forward", "var_check",
    "verify_generator",
]


class UsageError(MXNetError, ValueError, AssertionError):
    """A test helper called with arguments it cannot use. MXNet asserts on most of these, so
    this is an AssertionError too."""


class DownloadError(MXNetError, OSError):
    """A file that would have to be downloaded: mxc never downloads; put the file in place."""


# --- contexts, dtypes and tolerances ------------------------------------------------------------
def default_context():
    """The context tests run on: the current default context (``cpu(0)`` unless changed by
    :func:`set_default_context` or a ``with ctx:`` block)."""
    return current_context()


def set_default_context(ctx):
    """Make ``ctx`` this thread's default context (what :func:`default_context` and array
    creation use), as MXNet's does."""
    if isinstance(ctx, str):
        from .ndarray.ndarray import _as_ctx
        ctx = _as_ctx(ctx)
    if not isinstance(ctx, Context):
        raise DeviceError(f"set_default_context: expected a Context such as mx.cpu() or "
                          f"mx.gpu(0); got {type(ctx).__name__} {ctx!r}")
    from .context import _state
    _state().value = ctx


def default_dtype():
    """The dtype tests create arrays with: ``numpy.float32``."""
    return np.float32


_NO_TOL = ("bool", "int8", "uint8", "int32", "uint32", "int64", "uint64")


def default_rtols():
    """Default relative tolerance of comparisons, by dtype (MXNet's table)."""
    tols = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-5}
    tols.update((np.dtype(t), 0) for t in _NO_TOL)
    return tols


def default_atols():
    """Default absolute tolerance of comparisons, by dtype (MXNet's table)."""
    tols = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3,
            np.dtype(np.float64): 1e-20}
    tols.update((np.dtype(t), 0) for t in _NO_TOL)
    return tols


def default_numeric_eps():
    """Default finite-difference step by dtype: powers of two, so ``x + eps`` drops no bits."""
    return {np.dtype(np.float16): 2.0 ** -6, np.dtype(np.float32): 2.0 ** -9,
            np.dtype(np.float64): 2.0 ** -14}


def _tf32_in_use(ctx) -> bool:
    """Whether float32 GEMMs / convolutions on ``ctx`` may run in TF32 (sm_80 or newer, torch
    allowing it, and ``NVIDIA_TF32_OVERRIDE`` not set to 0)."""
    if not isinstance(ctx, Context) or ctx.device_type != "gpu":
        return False
    try:
        if get_cuda_compute_capability(ctx) < 80:
            return False
        import torch
        allowed = torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32
    except (ValueError, OSError, RuntimeError):
        return False
    return bool(allowed) and os.environ.get("NVIDIA_TF32_OVERRIDE") != "0"


def effective_dtype(dat):
    """The dtype whose tolerances apply to ``dat`` (a numpy array or NDArray): its own, except
    float32 on a GPU that computes in TF32, where float16's (as in MXNet)."""
    dtype = np.dtype(dat.dtype)
    if dtype == np.dtype(np.float32) and _tf32_in_use(getattr(dat, "ctx", None)):
        return np.dtype(np.float16)
    return dtype


def get_tolerance(dat, tol, default_tol):
    """The tolerance for comparing ``dat``: ``tol`` itself when it is a number, else the entry
    of the dict ``tol`` (or of ``default_tol``) for ``dat``'s effective dtype."""
    if isinstance(tol, numbers.Number):
        return tol
    dtype = effective_dtype(dat)
    tol = {} if tol is None else tol
    if dtype in tol:
        return tol[dtype]
    if dtype in default_tol:
        return default_tol[dtype]
    if dtype.kind in "biu":
        return 0
    raise DTypeError(f"get_tolerance: no default tolerance for dtype {dtype}; pass rtol / atol "
                     "explicitly")


def _dtyped(x):
    """Numbers and lists as numpy arrays (they have no dtype); arrays as they are."""
    if hasattr(x, "dtype") and hasattr(x, "shape"):
        return x
    return np.asarray(x)


def get_tols(x, y, rtol, atol):
    """``(rtol, atol)`` for comparing ``x`` with ``y``: given numbers win; otherwise the larger
    default of the two arrays' (effective) dtypes."""
    x, y = _dtyped(x), _dtyped(y)
    rtol = max(get_tolerance(x, rtol, default_rtols()), get_tolerance(y, rtol, default_rtols()))
    atol = max(get_tolerance(x, atol, default_atols()), get_tolerance(y, atol, default_atols()))
    return rtol, atol


def get_atol(atol=None, dtype=np.dtype(np.float64)):
    """``atol``, or the default absolute tolerance of ``dtype`` (float64's: 1e-20)."""
    return default_atols()[np.dtype(dtype)] if atol is None else atol


def get_rtol(rtol=None, dtype=np.dtype(np.float64)):
    """``rtol``, or the default relative tolerance of ``dtype`` (float64's: 1e-5)."""
    return default_rtols()[np.dtype(dtype)] if rtol is None else rtol


def get_etol(etol=None):
    """``etol``, or the default tolerated fraction of mismatching elements: 0."""
    return 0 if etol is None else etol


# --- random data ---------------------------------------------------------------------------------
def random_arrays(*shapes):
    """Standard-normal numpy arrays of :func:`default_dtype`, one per shape (a single array when
    one shape is given; shape ``()`` gives a 0-d array)."""
    out = [np.asarray(np.random.randn(*s)).astype(default_dtype()) for s in shapes]
    return out[0] if len(out) == 1 else out


def random_uniform_arrays(*shapes, **kwargs):
    """Uniform numpy arrays, one per shape (always a list); keyword arguments ``low`` (0.0),
    ``high`` (1.0) and ``dtype`` (:func:`default_dtype`)."""
    low = kwargs.pop("low", 0.0)
    high = kwargs.pop("high", 1.0)
    dtype = kwargs.pop("dtype", default_dtype())
    if kwargs:
        raise TypeError("Got unexpected argument/s : " + str(kwargs.keys()))
    return [np.random.uniform(low, high, size=s).astype(dtype) for s in shapes]


def random_sample(population, k):
    """``k`` distinct elements of the sequence ``population``, in random order."""
    if not 0 <= k <= len(population):
        raise UsageError(f"random_sample: k must be between 0 and len(population) = "
                         f"{len(population)}; got {k}")
    pool = population[:]
    np.random.shuffle(pool)
    return pool[:k]


def _sorted_items(d):
    """``d``'s (key, value) pairs sorted by key: a deterministic order for random draws."""
    return sorted(d.items(), key=lambda kv: kv[0])


def _sorted_dict(d):
    return OrderedDict(_sorted_items(d))


def _no_sparse(what, stype="csr / row_sparse"):
    raise UnsupportedError(f"{what}: mxc does not support sparse storage ({stype}); it has "
                           "dense NDArrays only (stype='default')")


def rand_sparse_ndarray(shape, stype, density=None, dtype=None, distribution=None,
                        data_init=None, rsp_indices=None, modifier_func=None,
                        shuffle_csr_indices=False, ctx=None):
    """MXNet's random sparse arrays: mxc has no sparse storage (raises UnsupportedError)."""
    _no_sparse("rand_sparse_ndarray", stype)


def create_sparse_array(shape, stype, data_init=None, rsp_indices=None, dtype=None,
                        modifier_func=None, density=.5, shuffle_csr_indices=False):
    """MXNet's sparse array factory: mxc has no sparse storage (raises UnsupportedError)."""
    _no_sparse("create_sparse_array", stype)


def create_sparse_array_zd(shape, stype, density, data_init=None, rsp_indices=None, dtype=None,
                           modifier_func=None, shuffle_csr_indices=False):
    """MXNet's sparse array factory: mxc has no sparse storage (raises UnsupportedError)."""
    _no_sparse("create_sparse_array_zd", stype)


def shuffle_csr_column_indices(csr):
    """MXNet's CSR helper: mxc has no sparse storage (raises UnsupportedError)."""
    _no_sparse("shuffle_csr_column_indices", "csr")


def assign_each(the_input, function):
    """A float64 array of ``function(x)`` for every element ``x`` of ``the_input`` (a copy of
    ``the_input`` when ``function`` is None)."""
    if function is None:
        return np.array(the_input)
    the_input = np.asarray(the_input)
    out = np.zeros(the_input.shape)
    for idx in np.ndindex(the_input.shape):
        out[idx] = function(the_input[idx])
    return out


def assign_each2(input1, input2, function):
    """A float64 array of ``function(x, y)`` over the elements of two same-shaped arrays (a copy
    of ``input1`` when ``function`` is None)."""
    if function is None:
        return np.array(input1)
    input1, input2 = np.asarray(input1), np.asarray(input2)
    if input1.shape != input2.shape:
        raise ShapeError(f"assign_each2: the inputs have shapes {input1.shape} and "
                         f"{input2.shape}; expected equal shapes")
    out = np.zeros(input1.shape)
    for idx in np.ndindex(input1.shape):
        out[idx] = function(input1[idx], input2[idx])
    return out


def create_2d_tensor(rows, columns, dtype=np.int64):
    """A ``rows x columns`` NDArray whose row ``i`` holds ``i`` (for large-tensor tests)."""
    col = mx.nd.arange(0, rows, dtype=dtype).reshape(rows, 1)
    return mx.nd.broadcast_to(col, shape=(rows, columns))


def create_vector(size, dtype=np.int64):
    """``mx.nd.arange(0, size)`` (for large-vector tests)."""
    return mx.nd.arange(0, size, dtype=dtype)


def get_identity_mat(size):
    """A float32 ``size x size`` identity NDArray, built by writing its diagonal."""
    m = mx.nd.zeros((size, size))
    for i in range(size):
        m[i, i] = 1
    return m


def get_identity_mat_batch(size):
    """Two identity matrices stacked: shape ``(2, size, size)``."""
    eye = get_identity_mat(size).asnumpy()
    return mx.nd.array([eye, eye])


def rand_ndarray(shape, stype="default", density=None, dtype=None, modifier_func=None,
                 shuffle_csr_indices=False, distribution=None, ctx=None):
    """A standard-normal NDArray of ``shape`` on ``ctx`` (default: :func:`default_context`).

    Only dense storage exists in mxc: another ``stype`` raises UnsupportedError. As in MXNet,
    ``density``, ``modifier_func``, ``shuffle_csr_indices`` and ``distribution`` concern sparse
    arrays and are not used for dense ones."""
    ctx = ctx if ctx else default_context()
    if stype != "default":
        _no_sparse(f"rand_ndarray(stype={stype!r})", stype)
    return mx.nd.array(random_arrays(shape), dtype=dtype, ctx=ctx)


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False):
    """A random 2-d shape with sizes in ``[1, dim]`` (``[0, dim]`` if ``allow_zero_size``)."""
    low = 0 if allow_zero_size else 1
    return rnd.randint(low, dim0 + 1), rnd.randint(low, dim1 + 1)


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False):
    """A random 3-d shape with sizes in ``[1, dim]`` (``[0, dim]`` if ``allow_zero_size``)."""
    low = 0 if allow_zero_size else 1
    return rnd.randint(low, dim0 + 1), rnd.randint(low, dim1 + 1), rnd.randint(low, dim2 + 1)


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False):
    """A random ``num_dim``-d shape with sizes in ``[1, dim]`` (``[0, dim]`` with
    ``allow_zero_size``)."""
    low = 0 if allow_zero_size else 1
    return tuple(rnd.randint(low, dim + 1, size=num_dim))


def rand_coord_2d(x_low, x_high, y_low, y_high):
    """A random integer point ``(x, y)`` with ``x_low <= x < x_high``, ``y_low <= y < y_high``."""
    x = np.random.randint(x_low, x_high, dtype=np.int64)
    y = np.random.randint(y_low, y_high, dtype=np.int64)
    return x, y


def np_reduce(dat, axis, keepdims, numpy_reduce_func):
    """Reduce ``dat`` over ``axis`` (an int, a sequence of ints or None for all axes) with a
    numpy reduction such as ``np.sum``, one axis at a time, keeping reduced axes as size 1 when
    ``keepdims``."""
    if isinstance(axis, int):
        axes = [axis]
    else:
        axes = list(axis) if axis is not None else list(range(len(dat.shape)))
    out = dat
    for ax in sorted(axes, reverse=True):
        out = numpy_reduce_func(out, axis=ax)
    if keepdims:
        kept = list(dat.shape)
        for ax in axes:
            kept[ax] = 1
        out = out.reshape(tuple(kept))
    return out


# --- comparisons ---------------------------------------------------------------------------------
def _as_np(x):
    """NDArrays as numpy arrays; everything else unchanged."""
    return x.asnumpy() if isinstance(x, NDArray) else x


def _find_max_violation(a, b, rtol, atol, equal_nan=False):
    """``(index, ratio)`` of the element where ``|a - b| / (atol + rtol * |b|)`` is largest
    (equal elements, infinities included, count as 0; integers are compared as float64)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "biu":
        a = a.astype(np.float64)
    if b.dtype.kind in "biu":
        b = b.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.where(np.equal(a, b), 0, np.abs(a - b))
        ratio = diff / (atol + rtol * np.abs(b) + 1e-20)
        if equal_nan:
            ratio = np.where(np.isnan(a) & np.isnan(b), 0, ratio)
    where = tuple(int(i) for i in np.unravel_index(np.argmax(ratio), ratio.shape))
    return where, np.max(ratio)


def same(a, b):
    """Whether the two arrays have the same shape and elements."""
    return np.array_equal(_as_np(a), _as_np(b))


def checkShapes(a, b):
    """Raise AssertionError (MXNet's message) unless ``a`` and ``b`` have the same shape."""
    if np.shape(a) != np.shape(b):
        raise AssertionError(npt.build_err_msg(
            [a, b], err_msg=f"a.shape = {np.shape(a)} and b.shape = {np.shape(b)} are not equal"))


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True):
    """Whether ``|a - b| <= atol + rtol * |b|`` holds everywhere (``numpy.allclose``); the
    defaults are float64's tolerances (rtol 1e-5, atol 1e-20). Without ``use_broadcast`` the
    shapes must be equal (AssertionError otherwise)."""
    a, b = _as_np(a), _as_np(b)
    if not use_broadcast:
        checkShapes(a, b)
    return bool(np.allclose(a, b, rtol=get_rtol(rtol), atol=get_atol(atol),
                            equal_nan=equal_nan))


def locationError(a, b, index, names, maxError=False):
    """The line naming where ``a`` and ``b`` differ: ``Location of error: (i,), a=..., b=...``."""
    kind = "maximum " if maxError else ""
    return "Location of %serror: %s, %s=%.8f, %s=%.8f" % (
        kind, str(index), names[0], a[index], names[1], b[index])


def _broadcast_pair(a, b, names):
    try:
        return np.broadcast_arrays(np.asarray(a), np.asarray(b))
    except ValueError:
        raise ShapeError(f"cannot compare {names[0]} of shape {np.shape(a)} with {names[1]} of "
                         f"shape {np.shape(b)}: the shapes do not broadcast") from None


def _mismatch_message(a, b, rtol, atol, names, equal_nan, mismatches):
    """Print MXNet's table of the worst mismatches and return its AssertionError text."""
    aa, bb = _broadcast_pair(a, b, names)
    where, ratio = _find_max_violation(aa, bb, rtol, atol, equal_nan)
    if where == ():
        err = "Error %f exceeds tolerance rtol=%e, atol=%e.\n" % (ratio, rtol, atol)
    else:
        first, first_ratio = where, ratio
        print(f"\n*** Maximum errors for vector of size {aa.size}:  rtol={rtol}, atol={atol}\n")
        a_left, b_left = aa.copy(), bb.copy()
        count = 1
        while count <= aa.size:
            if count <= mismatches[0]:
                print("%3d: Error %f  %s" % (count, ratio, locationError(aa, bb, where, names)))
            a_left[where] = b_left[where] = 0       # this one is counted: take it out
            if almost_equal(a_left, b_left, rtol, atol, equal_nan=equal_nan):
                break
            count += 1
            if count > mismatches[1] > 0:
                break
            where, ratio = _find_max_violation(a_left, b_left, rtol, atol, equal_nan)
        at_least = "at least " if mismatches[1] > 0 and count > mismatches[1] else ""
        err = "Error %f exceeds tolerance rtol=%e, atol=%e (mismatch %s%f%%).\n%s" % (
            first_ratio, rtol, atol, at_least, 100 * count / aa.size,
            locationError(aa, bb, first, names, maxError=True))
    with np.printoptions(threshold=4, suppress=True):
        return npt.build_err_msg([a, b], err_msg=err)


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False,
                        use_broadcast=True, mismatches=(10, 10)):
    """Assert that ``|a - b| <= atol + rtol * |b|`` everywhere, with MXNet's report otherwise.

    Parameters
    ----------
    a, b : numpy arrays, NDArrays or numbers
    rtol, atol : None, a number, or a dict of dtype -> number
        ``None`` (or a dtype missing from the dict) takes the larger default of the two dtypes
        (:func:`default_rtols`, :func:`default_atols`).
    names : pair of str
        What to call ``a`` and ``b`` in the message.
    equal_nan : bool
        Whether NaN equals NaN.
    use_broadcast : bool
        If False, the shapes must be equal.
    mismatches : pair of int
        How many of the worst mismatches to print, and to count before stopping ("at least").

    Boolean arrays must be equal. On failure the worst elements are printed and an AssertionError
    says by how much the tolerance is exceeded, where, and which fraction of elements mismatch.
    """
    if not use_broadcast:
        checkShapes(a, b)
    rtol, atol = get_tols(a, b, rtol, atol)
    a, b = _as_np(a), _as_np(b)
    if getattr(a, "dtype", None) == np.bool_ and getattr(b, "dtype", None) == np.bool_:
        np.testing.assert_equal(a, b)
        return
    _broadcast_pair(a, b, names)
    if almost_equal(a, b, rtol, atol, equal_nan=equal_nan):
        return
    raise AssertionError(_mismatch_message(a, b, rtol, atol, names, equal_nan, mismatches))


def assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True):
    """:func:`assert_almost_equal` with ``numpy.testing.assert_allclose``'s defaults."""
    assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def assert_almost_equal_with_err(a, b, rtol=None, atol=None, etol=None, names=("a", "b"),
                                 equal_nan=False, mismatches=(10, 10)):
    """Like :func:`assert_almost_equal`, but a fraction ``etol`` of the elements may mismatch
    (``etol`` 0, the default, allows none)."""
    etol = get_etol(etol)
    if etol <= 0:
        assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
        return
    rtol, atol = get_tols(a, b, rtol, atol)
    a, b = _as_np(a), _as_np(b)
    close = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if 1 - np.count_nonzero(close) / close.size > etol:
        raise AssertionError(_mismatch_message(a, b, rtol, atol, names, equal_nan, mismatches))


def assert_almost_equal_ignore_nan(a, b, rtol=None, atol=None, names=("a", "b")):
    """:func:`assert_almost_equal` on copies where every position that is NaN in either array
    is set to 0 in both."""
    a, b = np.copy(_as_np(a)), np.copy(_as_np(b))
    nan = np.logical_or(np.isnan(a), np.isnan(b))
    a[nan] = 0
    b[nan] = 0
    assert_almost_equal(a, b, rtol, atol, names)


def assert_exception(f, exception_type, *args, **kwargs):
    """Assert that ``f(*args, **kwargs)`` raises ``exception_type``."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError(f"{getattr(f, '__name__', f)} did not raise "
                         f"{getattr(exception_type, '__name__', exception_type)}")


def retry(n):
    """Decorator: run a stochastic test up to ``n`` times; it fails only if every run raises
    AssertionError (the last one is re-raised)."""
    if not (isinstance(n, numbers.Integral) and n > 0):
        raise UsageError(f"retry: n must be a positive integer; got {n!r}")

    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            for attempt in range(n):
                try:
                    f(*args, **kwargs)
                    return
                except AssertionError:
                    if attempt == n - 1:
                        raise
                    mx.nd.waitall()
        return wrapper
    return decorate


# --- running symbols -----------------------------------------------------------------------------
def simple_forward(sym, ctx=None, is_train=False, **inputs):
    """Bind ``sym`` to the numpy ``inputs`` (by argument name), run forward and return the
    output as numpy (a list when there are several outputs)."""
    ctx = ctx or default_context()
    args = {k: array(v) for k, v in inputs.items()}
    exe = sym.bind(ctx, args=args)
    exe.forward(is_train=is_train)
    outs = [o.asnumpy() for o in exe.outputs]
    return outs[0] if len(outs) == 1 else outs


_FLOATS = (np.float16, np.float32, np.float64)


def _check_dtype(dtype, what, allow_asnumpy=True):
    ok = (allow_asnumpy and isinstance(dtype, str) and dtype == "asnumpy")
    if not ok:
        try:
            ok = np.dtype(dtype) in [np.dtype(t) for t in _FLOATS]
        except TypeError:
            ok = False
    if not ok:
        extra = "'asnumpy', " if allow_asnumpy else ""
        raise DTypeError(f"{what}: dtype must be {extra}np.float16, np.float32 or np.float64; "
                         f"got {dtype!r}")


def _to_nd(v, ctx, dtype):
    """A numpy value as an NDArray on ``ctx`` (``dtype='asnumpy'`` keeps its dtype); NDArrays
    and other values are passed through."""
    if isinstance(v, np.ndarray):
        return mx.nd.array(v, ctx=ctx, dtype=v.dtype if _is_asnumpy(dtype) else dtype)
    return v


def _is_asnumpy(dtype):
    return isinstance(dtype, str) and dtype == "asnumpy"


def _parse_location(sym, location, ctx, dtype=default_dtype()):
    """``location`` (a list in ``sym.list_arguments()`` order, or a dict by name, holding every
    argument) as a name-sorted dict of NDArrays on ``ctx``."""
    _check_dtype(dtype, "location")
    args = sym.list_arguments()
    if isinstance(location, dict):
        if set(location) != set(args):
            raise ValueError("Symbol arguments and keys of the given location do not match."
                             "symbol args:%s, location.keys():%s"
                             % (str(set(args)), str(set(location))))
    elif isinstance(location, (list, tuple)):
        if len(location) != len(args):
            raise ValueError(f"location has {len(location)} arrays; the symbol has "
                             f"{len(args)} arguments {args}")
        location = dict(zip(args, location))
    else:
        raise TypeError(f"location must be a list, tuple or dict of arrays; got "
                        f"{type(location).__name__}")
    return _sorted_dict({k: _to_nd(v, ctx, dtype) for k, v in location.items()})


def _parse_aux_states(sym, aux_states, ctx, dtype=default_dtype()):
    """``aux_states`` (None, a list in ``sym.list_auxiliary_states()`` order, or a dict holding
    every auxiliary state) as a dict of NDArrays on ``ctx``."""
    _check_dtype(dtype, "aux_states")
    if aux_states is None:
        return None
    names = sym.list_auxiliary_states()
    if isinstance(aux_states, dict):
        if set(aux_states) != set(names):
            raise ValueError("Symbol aux_states names and given aux_states do not match."
                             "symbol aux_names:%s, aux_states.keys:%s"
                             % (str(set(names)), str(set(aux_states))))
    elif isinstance(aux_states, (list, tuple)):
        aux_states = dict(zip(names, aux_states))
    else:
        raise TypeError(f"aux_states must be None, a list, tuple or dict of arrays; got "
                        f"{type(aux_states).__name__}")
    return {k: mx.nd.array(v, ctx=ctx, dtype=np.asarray(v).dtype if _is_asnumpy(dtype)
                           else dtype)
            for k, v in aux_states.items()}


def _assign(dst, value):
    """Copy ``value`` into the NDArray ``dst`` in place (0-d arrays included)."""
    if dst.ndim == 0:
        dst[()] = value
    else:
        dst[:] = value


def numeric_grad(executor, location, aux_states=None, eps=1e-4, use_forward_train=True,
                 dtype=default_dtype()):
    """Central finite differences of the sum of ``executor``'s first output.

    ``location`` maps argument names to numpy arrays (its arrays are made C-contiguous in
    place); each float element is moved by ``+eps/2`` and ``-eps/2`` and the output sum is
    differenced. ``aux_states`` (numpy, by name) are restored before every forward.

    Returns a dict of name -> numpy array of ``dtype`` with the numeric gradients.
    """
    _check_dtype(dtype, "numeric_grad", allow_asnumpy=False)
    dtype = np.dtype(dtype)
    grads = {k: np.zeros(np.shape(v), dtype=dtype) for k, v in location.items()}
    for k, v in location.items():
        _assign(executor.arg_dict[k], np.asarray(v, dtype=dtype))
    for k in location:
        location[k] = np.asarray(location[k], order="C")

    def run():
        if aux_states is not None:
            for name, val in aux_states.items():
                _assign(executor.aux_dict[name], np.asarray(val, dtype=dtype))
        executor.forward(is_train=use_forward_train)
        return executor.outputs[0].asnumpy()

    for k, v in location.items():
        if v.dtype.kind != "f":
            continue
        arg = executor.arg_dict[k]
        flat = v.reshape(-1)        # a view: v is C-contiguous
        saved = v.copy()
        for i in range(flat.size):
            flat[i] += eps / 2.0
            _assign(arg, v.astype(dtype))
            up = run()
            flat[i] -= eps
            _assign(arg, v.astype(dtype))
            down = run()
            grads[k].reshape(-1)[i] = (up - down).sum() / eps
            flat[i] = saved.reshape(-1)[i]
        _assign(arg, saved.astype(dtype))
    return grads


def check_numeric_gradient(sym, location, aux_states=None, numeric_eps=None, rtol=None,
                           atol=None, grad_nodes=None, use_forward_train=True, ctx=None,
                           grad_stype_dict=None, dtype=default_dtype()):
    """Check ``sym``'s gradients against finite differences.

    The output is multiplied by a fixed random projection (elements in [0.1, 1.1)) and wrapped
    in ``make_loss``; the backward gradient of every node in ``grad_nodes`` (default: every
    argument; a dict gives each one's grad_req: 'write', 'add' or 'null') is compared with
    :func:`numeric_grad` of the same loss.

    Parameters
    ----------
    sym : Symbol
    location : list or dict of numpy arrays
        The point to differentiate at: every argument, in ``sym.list_arguments()`` order or by
        name.
    aux_states : list or dict of numpy arrays, optional
    numeric_eps : float or dict of dtype -> float, optional
        Finite-difference step (default: :func:`default_numeric_eps` of the output's dtype).
    rtol, atol : float, optional
    grad_nodes : list or dict, optional
    use_forward_train : bool
        Run the finite-difference forwards in training mode.
    ctx : Context, optional
    grad_stype_dict : dict, optional
        Gradient storage types; only 'default' exists in mxc.
    dtype : np.float16, np.float32 or np.float64
    """
    _check_dtype(dtype, "check_numeric_gradient", allow_asnumpy=False)
    if ctx is None:
        ctx = default_context()
    location = _parse_location(sym=sym, location=location, ctx=ctx, dtype=dtype)
    location_npy = {k: v.asnumpy() for k, v in location.items()}
    aux_states = _parse_aux_states(sym=sym, aux_states=aux_states, ctx=ctx, dtype=dtype)
    aux_states_npy = (None if aux_states is None
                      else {k: v.asnumpy() for k, v in aux_states.items()})
    if grad_nodes is None:
        grad_nodes = sym.list_arguments()
        grad_req = {k: "write" for k in grad_nodes}
    elif isinstance(grad_nodes, (list, tuple)):
        grad_nodes = list(grad_nodes)
        grad_req = {k: "write" for k in grad_nodes}
    elif isinstance(grad_nodes, dict):
        grad_req = dict(grad_nodes)
        grad_nodes = list(grad_nodes)
    else:
        raise TypeError(f"grad_nodes must be None, a list, tuple or dict; got "
                        f"{type(grad_nodes).__name__}")
    if grad_stype_dict is not None:
        if not isinstance(grad_stype_dict, dict):
            raise TypeError("grad_stype_dict must be a dict")
        for k, st in grad_stype_dict.items():
            if st not in (None, "default"):
                _no_sparse(f"check_numeric_gradient(grad_stype_dict[{k!r}]={st!r})", st)

    _, out_shapes, _ = sym.infer_shape(**{k: v.shape for k, v in location.items()})
    proj = mx.sym.Variable("__random_proj")
    out = mx.sym.make_loss(sym * proj)
    # the projection's elements stay away from 0, so the loss keeps each output's precision
    proj_value = np.random.rand(*out_shapes[0]) + 0.1
    location = dict(location)
    location["__random_proj"] = mx.nd.array(proj_value, ctx=ctx, dtype=dtype)
    args_grad_npy = {k: np.random.normal(0, 0.01, size=location[k].shape) for k in grad_nodes}
    args_grad_npy["__random_proj"] = np.random.normal(0, 0.01, size=out_shapes[0])
    args_grad = {k: mx.nd.array(v, ctx=ctx, dtype=dtype) for k, v in args_grad_npy.items()}

    executor = out.bind(ctx, grad_req=grad_req, args=location, args_grad=args_grad,
                        aux_states=aux_states)
    if len(executor.arg_arrays) != len(location):
        raise ValueError("Executor arg_arrays and and location len do not match."
                         "Got %d inputs and %d locations"
                         % (len(executor.arg_arrays), len(location)))
    if len(executor.outputs) != 1:
        raise UsageError(f"check_numeric_gradient: the symbol must have one output; it has "
                         f"{len(executor.outputs)}")
    executor.forward(is_train=True)
    eps = get_tolerance(executor.outputs[0], numeric_eps, default_numeric_eps())
    # finite differences below this step lose everything to rounding in low precision
    if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.float16)) and eps < 1e-5:
        raise UsageError(f"check_numeric_gradient: numeric_eps={eps} is too small for "
                         f"{np.dtype(dtype).name}; use at least 1e-5")
    executor.backward()
    symbolic_grads = executor.grad_dict
    numeric_gradients = numeric_grad(executor, location_npy, aux_states_npy, eps=eps,
                                     use_forward_train=use_forward_train, dtype=dtype)
    for name in grad_nodes:
        fd_grad = numeric_gradients[name]
        orig_grad = args_grad_npy[name]
        req = grad_req[name]
        names = ("NUMERICAL_%s" % name, "BACKWARD_%s" % name)
        if req == "write":
            assert_almost_equal(fd_grad, symbolic_grads[name], rtol, atol, names)
        elif req == "add":
            assert_almost_equal(fd_grad, symbolic_grads[name].asnumpy() - orig_grad, rtol, atol,
                                names)
        elif req == "null":
            sym_grad = symbolic_grads.get(name)
            assert_almost_equal(orig_grad, orig_grad if sym_grad is None else sym_grad, rtol,
                                atol, names)
        else:
            raise ValueError("Invalid grad_req %s for argument %s" % (req, name))


def check_symbolic_forward(sym, location, expected, rtol=None, atol=None, aux_states=None,
                           ctx=None, equal_nan=False, dtype=default_dtype()):
    """Run ``sym`` forward (inference mode) at ``location`` and compare every output with
    ``expected`` (a list in output order, or a dict by output name). Returns the outputs.

    ``dtype`` is the dtype of the arrays made from numpy inputs (``'asnumpy'`` keeps each
    array's own); failures name the arrays ``EXPECTED_<output>`` and ``FORWARD_<output>``.
    """
    _check_dtype(dtype, "check_symbolic_forward")
    if ctx is None:
        ctx = default_context()
    location = _parse_location(sym=sym, location=location, ctx=ctx, dtype=dtype)
    aux_states = _parse_aux_states(sym=sym, aux_states=aux_states, ctx=ctx, dtype=dtype)
    if isinstance(expected, dict):
        expected = [expected[k] for k in sym.list_outputs()]
    args_grad = {k: mx.nd.zeros(v.shape, ctx=ctx, dtype=v.dtype if _is_asnumpy(dtype)
                                else dtype)
                 for k, v in location.items()}
    executor = sym.bind(ctx=ctx, args=location, args_grad=args_grad, aux_states=aux_states)
    executor.forward(is_train=False)
    for name, expect, output in zip(sym.list_outputs(), expected, executor.outputs):
        assert_almost_equal(expect, output, rtol, atol, ("EXPECTED_%s" % name,
                                                         "FORWARD_%s" % name),
                            equal_nan=equal_nan)
    return executor.outputs


def check_symbolic_backward(sym, location, out_grads, expected, rtol=None, atol=None,
                            aux_states=None, grad_req="write", ctx=None, grad_stypes=None,
                            equal_nan=False, dtype=default_dtype()):
    """Run ``sym`` forward and backward at ``location`` with head gradients ``out_grads`` and
    compare the argument gradients with ``expected``. Returns the gradient arrays by name.

    Parameters
    ----------
    out_grads : None, list or dict of numpy arrays / NDArrays
        Head gradients, by output position or name (None for loss outputs).
    expected : list or dict of numpy arrays
        Expected gradients, in argument order or by name; only these are checked.
    grad_req : str, list or dict
        'write' compares the gradient, 'add' compares what was added to the (random) initial
        gradient buffer, 'null' checks that the buffer was left alone.
    grad_stypes : dict, optional
        Gradient storage types; only 'default' exists in mxc.
    """
    _check_dtype(dtype, "check_symbolic_backward")
    if ctx is None:
        ctx = default_context()
    location = _parse_location(sym=sym, location=location, ctx=ctx, dtype=dtype)
    aux_states = _parse_aux_states(sym=sym, aux_states=aux_states, ctx=ctx, dtype=dtype)
    if isinstance(expected, (list, tuple)):
        expected = dict(zip(sym.list_arguments(), expected))
    # random initial gradient buffers (in a fixed order): 'add' and 'null' are checked with them
    args_grad_npy = {k: np.random.normal(size=np.shape(v)) for k, v in _sorted_items(expected)}
    args_grad = {}
    for k, v in args_grad_npy.items():
        stype = (grad_stypes or {}).get(k)
        if stype not in (None, "default"):
            _no_sparse(f"check_symbolic_backward(grad_stypes[{k!r}]={stype!r})", stype)
        args_grad[k] = mx.nd.array(v, ctx=ctx, dtype=np.asarray(expected[k]).dtype
                                   if _is_asnumpy(dtype) else dtype)
    if isinstance(grad_req, str):
        grad_req = {k: grad_req for k in sym.list_arguments()}
    elif isinstance(grad_req, (list, tuple)):
        grad_req = dict(zip(sym.list_arguments(), grad_req))

    executor = sym.bind(ctx=ctx, args=location, args_grad=args_grad, aux_states=aux_states,
                        grad_req=grad_req)
    executor.forward(is_train=True)

    def head(v):
        if isinstance(v, np.ndarray):
            return mx.nd.array(v, ctx=ctx, dtype=v.dtype if _is_asnumpy(dtype) else dtype)
        return v

    if isinstance(out_grads, (list, tuple)):
        out_grads = [head(v) for v in out_grads]
    elif isinstance(out_grads, dict):
        out_grads = [head(out_grads[k]) if k in out_grads else None
                     for k in sym.list_outputs()]
    elif out_grads is not None:
        raise TypeError(f"out_grads must be None, a list, tuple or dict; got "
                        f"{type(out_grads).__name__}")
    executor.backward(out_grads)

    for name in expected:
        req = grad_req.get(name, "null")
        names = ("EXPECTED_%s" % name, "BACKWARD_%s" % name)
        if req == "write":
            assert_almost_equal(expected[name], args_grad[name], rtol, atol, names,
                                equal_nan=equal_nan)
        elif req == "add":
            assert_almost_equal(expected[name], args_grad[name].asnumpy() - args_grad_npy[name],
                                rtol, atol, names, equal_nan=equal_nan)
        elif req == "null":
            assert_almost_equal(args_grad_npy[name], args_grad[name], rtol, atol, names,
                                equal_nan=equal_nan)
        else:
            raise ValueError("Invalid grad_req %s for argument %s" % (req, name))
    return args_grad


def check_speed(sym, location=None, ctx=None, N=20, grad_req=None, typ="whole", **kwargs):
    """Seconds per run of ``sym``: forward + backward (``typ='whole'``) or forward only
    (``typ='forward'``), averaged over ``N`` runs after one warm-up run (which also compiles).

    ``location`` (a dict of numpy arrays) gives the inputs; without it the shapes come from
    ``kwargs`` and the inputs are standard-normal.
    """
    if ctx is None:
        ctx = default_context()
    if grad_req is None:
        grad_req = "write"
    if typ not in ("whole", "forward"):
        raise ValueError('typ can only be "whole" or "forward".')
    if location is None:
        exe = sym.simple_bind(grad_req=grad_req, ctx=ctx, **kwargs)
        location = {k: np.random.normal(size=a.shape, scale=1.0)
                    for k, a in exe.arg_dict.items()}
    else:
        if not isinstance(location, dict):
            raise TypeError('Expect dict, get "location"=%s' % str(location))
        exe = sym.simple_bind(grad_req=grad_req, ctx=ctx,
                              **{k: v.shape for k, v in location.items()})
    for name, value in location.items():
        exe.arg_dict[name][:] = value.astype(exe.arg_dict[name].dtype)

    train = typ == "whole"

    def step():
        exe.forward(is_train=train)
        if train:
            exe.backward(out_grads=exe.outputs)

    step()
    for out in exe.outputs:
        out.wait_to_read()
    tic = time.time()
    for _ in range(N):
        step()
    mx.nd.waitall()
    return (time.time() - tic) / N


# --- consistency across contexts, backends and dtypes -------------------------------------------
_TARGET_ENV = "MXC_TARGET"


def _target_scope(target):
    """Run an executor's compile-and-run calls on ``target`` (None: the context's default)."""
    if target is None:
        return nullcontext()
    return environment(_TARGET_ENV, target)


def _least_precise(dt1, dt2):
    return dt1 if dt2 is None or np.dtype(dt1).itemsize < np.dtype(dt2).itemsize else dt2


def check_consistency(sym, ctx_list, scale=1.0, grad_req="write", arg_params=None,
                      aux_params=None, rtol=None, atol=None, raise_on_err=True,
                      ground_truth=None, equal_nan=False, use_uniform=False,
                      rand_type=np.float64):
    """Check that ``sym`` gives the same outputs and gradients on every entry of ``ctx_list``.

    Each entry is a dict of :meth:`Symbol.simple_bind` arguments: ``'ctx'``, input shapes by
    name and ``'type_dict'``. mxc adds an optional ``'target'``: ``'llvm'`` or ``'triton'``, the
    backend that compiles the entry (CPU contexts only; a GPU context always uses Triton), so
    one context can be checked across backends::

        check_consistency(sym, [{'ctx': mx.cpu(), 'target': 'llvm', 'data': (2, 3)},
                                {'ctx': mx.cpu(), 'target': 'triton', 'data': (2, 3)}])

    Random inputs (normal with std ``scale``, or uniform with ``use_uniform``, drawn as
    ``rand_type``) unless ``arg_params`` / ``aux_params`` give them. The entry whose first
    output has the most precise dtype is the ground truth (unless ``ground_truth`` is given);
    tolerances follow the less precise dtype of each pair. Inference outputs are compared, then,
    unless ``grad_req='null'``, training outputs and gradients with the first entry's outputs
    as head gradients. Returns the ground-truth dict (outputs and gradients by name).
    """
    if len(ctx_list) < 2:
        raise UsageError(f"check_consistency: ctx_list needs at least two entries to compare; "
                         f"got {len(ctx_list)}")
    if isinstance(sym, Symbol):
        sym = [sym] * len(ctx_list)
    elif len(sym) != len(ctx_list):
        raise UsageError(f"check_consistency: {len(sym)} symbols for {len(ctx_list)} contexts")
    output_names = sym[0].list_outputs()
    arg_names = sym[0].list_arguments()
    exe_list, targets = [], []
    for s, spec in zip(sym, ctx_list):
        if s.list_arguments() != arg_names or s.list_outputs() != output_names:
            raise UsageError("check_consistency: the symbols must have the same arguments and "
                             f"outputs; got {s.list_arguments()} -> {s.list_outputs()} and "
                             f"{arg_names} -> {output_names}")
        spec = dict(spec)
        target = spec.pop("target", None)
        if target is not None:
            from .codegen.backend import normalize_target
            target = normalize_target(target)
            ctx = spec.get("ctx") or current_context()
            if ctx.device_type == "gpu" and target != "triton":
                raise UsageError(f"check_consistency: target {target!r} cannot run on {ctx}; "
                                 "GPU contexts use 'triton'")
        targets.append(target)
        exe_list.append(s.simple_bind(grad_req=grad_req, **spec))

    arg_params = {} if arg_params is None else arg_params
    aux_params = {} if aux_params is None else aux_params
    # random inputs in sorted order, so a seed gives the same inputs as MXNet's
    for n, arr in _sorted_items(exe_list[0].arg_dict):
        if n not in arg_params:
            if use_uniform:
                arg_params[n] = np.random.uniform(low=-0.92 * scale, high=0.92 * scale,
                                                  size=arr.shape).astype(rand_type)
            else:
                arg_params[n] = np.random.normal(size=arr.shape, scale=scale).astype(rand_type)
    for n in exe_list[0].aux_dict:
        aux_params.setdefault(n, 0)
    for exe in exe_list:
        for name, arr in exe.arg_dict.items():
            arr[:] = arg_params[name]
        for name, arr in exe.aux_dict.items():
            arr[:] = aux_params[name]
        if grad_req == "add":
            for arr in exe.grad_arrays:
                if arr is not None:
                    arr[:] = 0

    dtypes = [np.dtype(exe.outputs[0].dtype) for exe in exe_list]
    # the first entry with the most precise output dtype is the reference
    gt_idx = max(range(len(dtypes)), key=lambda i: (dtypes[i].kind == "f",
                                                     dtypes[i].itemsize, -i))
    gt = ground_truth
    if gt is None:
        gt = dict(exe_list[gt_idx].output_dict)   # the arrays: they fill in as the exe runs
        if grad_req != "null":
            gt.update(exe_list[gt_idx].grad_dict)

    def report(kind, err, i, name, arr, gtarr):
        if kind == "Predict":
            print("Predict Err: ctx %d vs ctx %d at %s" % (i, gt_idx, name))
        else:
            print("Train Err: {} {} ctx {} vs {} {} ctx {} at {}".format(
                np.dtype(arr.dtype).name, getattr(arr, "ctx", "numpy"), i,
                np.dtype(gtarr.dtype).name, getattr(gtarr, "ctx", "numpy"), gt_idx, name))
        traceback.print_exc()
        if raise_on_err:
            raise err
        print(str(err))

    for exe, target in zip(exe_list, targets):
        with _target_scope(target):
            exe.forward(is_train=False)
    for i, exe in enumerate(exe_list):
        if i == gt_idx:
            continue
        for name, arr in zip(output_names, exe.outputs):
            try:
                assert_almost_equal(arr, gt[name], rtol=rtol, atol=atol, equal_nan=equal_nan)
            except AssertionError as e:
                report("Predict", e, i, name, arr, gt[name])

    if grad_req != "null":
        for exe, target in zip(exe_list, targets):
            with _target_scope(target):
                exe.forward(is_train=True)
        # head gradients: the first entry's outputs, in the least precise dtype of each output
        least = [o.dtype for o in exe_list[0].outputs]
        for exe in exe_list:
            least = [_least_precise(o.dtype, dt) for o, dt in zip(exe.outputs, least)]
        golden = [o.astype(dt).asnumpy() for o, dt in zip(exe_list[0].outputs, least)]
        for exe, target in zip(exe_list, targets):
            heads = [mx.nd.array(g, ctx=exe._ctx, dtype=o.dtype)
                     for g, o in zip(golden, exe.outputs)]
            with _target_scope(target):
                exe.backward(heads)
        for i, exe in enumerate(exe_list):
            if i == gt_idx:
                continue
            for name, arr in zip(output_names + arg_names, exe.outputs + exe.grad_arrays):
                gtarr = gt.get(name)
                if gtarr is None:
                    if arr is not None:
                        raise UsageError(f"check_consistency: {name} has a gradient on entry "
                                         f"{i} but not on the reference entry {gt_idx}")
                    continue
                try:
                    rt, at = rtol, atol
                    # a float32 gradient of a float16 model is compared at float16's tolerance
                    small_arr = _least_precise(arr.dtype, dtypes[i])
                    small_gt = _least_precise(gtarr.dtype, dtypes[gt_idx])
                    if small_arr != arr.dtype or small_gt != gtarr.dtype:
                        rt, at = get_tols(arr.astype(small_arr), gtarr.astype(small_gt),
                                          rtol, atol)
                    assert_almost_equal(arr, gtarr, rtol=rt, atol=at, equal_nan=equal_nan)
                except AssertionError as e:
                    report("Train", e, i, name, arr, gtarr)
    return gt


# --- devices ---------------------------------------------------------------------------------
def list_gpus():
    """``range(n)`` over the ``n`` visible GPUs (empty without CUDA)."""
    return range(mx.context.num_gpus())


def has_tvm_ops():
    """Whether operators generated by TVM are available (``mx.runtime.Features``' TVM_OP): never
    in mxc, whose kernels come from LLVM and Triton. On a GPU context MXNet also requires compute
    capability 5.3 or newer."""
    built = Features().is_enabled("TVM_OP")
    ctx = current_context()
    if ctx.device_type == "gpu":
        try:
            cc = get_cuda_compute_capability(ctx)
        except (ValueError, OSError, RuntimeError):
            return False
        return built and cc >= 53
    return built


def is_op_runnable():
    """Whether operators can run on the current context: always on a CPU; on a GPU too unless
    TVM operators are built in (never in mxc) and the GPU is older than compute capability
    5.3."""
    ctx = current_context()
    if ctx.device_type == "gpu" and Features().is_enabled("TVM_OP"):
        try:
            return get_cuda_compute_capability(ctx) >= 53
        except (ValueError, OSError, RuntimeError):
            return False
    return True


def is_cd_run():
    """Whether this is a Continuous Delivery run (``CD_JOB=1``)."""
    return os.environ.get("CD_JOB", 0) == "1"


def is_aarch64_run():
    """Whether the machine is aarch64."""
    return platform.machine() == "aarch64"


# --- environment -------------------------------------------------------------------------------
@contextmanager
def environment(*args):
    """Set environment variables for the ``with`` block and restore them after, even when the
    block raises.

    ``environment('NAME', 'value')`` sets one; ``environment({'A': '1', 'B': None})`` sets
    several (None unsets). Variables that were unset before are unset again after.
    """
    if len(args) == 1 and isinstance(args[0], dict):
        env_vars = dict(args[0])
    elif len(args) == 2:
        env_vars = {args[0]: args[1]}
    else:
        raise UsageError("Expecting one dict arg or two args: env var name and value")
    for k, v in env_vars.items():
        if not isinstance(k, str) or not (v is None or isinstance(v, str)):
            bad = k if not isinstance(k, str) else v
            raise TypeError(f"str expected, not {type(bad).__name__}")
    saved = {k: os.environ.get(k) for k in env_vars}
    for k, v in env_vars.items():
        setenv(k, v)
    try:
        yield
    finally:
        try:
            mx.nd.waitall()     # queued device work may still read the settings
        finally:
            for k, v in saved.items():
                setenv(k, v)


@contextmanager
def discard_stderr():
    """Discard everything written to stderr inside the block, by Python code and by native code:
    file descriptor 2 (and ``sys.stderr``'s own descriptor, if it has another one) point at
    /dev/null for the block; a ``sys.stderr`` without a descriptor is replaced for the block."""
    try:
        own = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError, _io.UnsupportedOperation):
        own = None
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
    with open(os.devnull, "w") as null:
        saved = []
        for fd in dict.fromkeys([2, own]):
            if fd is None:
                continue
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(null.fileno(), fd)
            except OSError:
                pass            # no such descriptor to redirect
        old = sys.stderr
        if own is None:
            sys.stderr = null
        try:
            yield
        finally:
            sys.stderr = old
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            for fd, copy in reversed(saved):
                os.dup2(copy, fd)
                os.close(copy)


# --- symbols and arrays ---------------------------------------------------------------------
def same_array(array1, array2):
    """Whether two NDArrays share memory: adding 1 to ``array1`` must show in ``array2``
    (``array1`` is restored afterwards)."""
    array1[:] += 1
    shared = same(array1.asnumpy(), array2.asnumpy())
    array1[:] -= 1
    return shared and same(array1.asnumpy(), array2.asnumpy())


def same_symbol_structure(sym1, sym2):
    """Whether the two symbols' graphs have the same operator at every node position."""
    nodes1 = json.loads(sym1.tojson())["nodes"]
    nodes2 = json.loads(sym2.tojson())["nodes"]
    return all(n1["op"] == n2["op"] for n1, n2 in zip(nodes1, nodes2))


def collapse_sum_like(a, shape):
    """Sum the numpy array ``a`` down to ``shape`` (to which ``a`` broadcasts): over leading
    axes ``shape`` lacks and axes where ``shape`` has 1."""
    shape = tuple(shape)
    if len(a.shape) < len(shape):
        raise ShapeError(f"collapse_sum_like: shape {shape} has more axes than the array's "
                         f"{a.shape}")
    if np.prod(shape) == 0 or a.size == 0:
        return np.zeros(shape, dtype=a.dtype)
    lead = len(a.shape) - len(shape)
    axes = list(range(lead))
    for i, s in enumerate(shape):
        if s != a.shape[lead + i]:
            if s != 1:
                raise ShapeError(f"collapse_sum_like: shape {shape} does not broadcast to the "
                                 f"array's {a.shape}")
            axes.append(lead + i)
    return np.sum(a, axis=tuple(axes)).reshape(shape)


def compare_ndarray_tuple(t1, t2, rtol=None, atol=None):
    """Compare two (nested tuples of) arrays element by element; None on either side is
    skipped."""
    if t1 is None or t2 is None:
        return
    if isinstance(t1, tuple):
        for s1, s2 in zip(t1, t2):
            compare_ndarray_tuple(s1, s2, rtol, atol)
    else:
        assert_almost_equal(t1, t2, rtol=rtol, atol=atol)


def _rand_uniform(shape, dtype):
    """A uniform [0, 1) NDArray on the default context, from ``mx.random`` when it has
    ``uniform``, else from numpy's generator."""
    uniform = getattr(mx.random, "uniform", None)
    if uniform is not None:
        return uniform(shape=shape, ctx=default_context(), dtype=dtype)
    return mx.nd.array(np.random.uniform(size=shape), ctx=default_context(), dtype=dtype)


def compare_optimizer(opt1, opt2, shape, dtype, w_stype="default", g_stype="default",
                      rtol=1e-4, atol=1e-5, compare_states=True, ntensors=1):
    """Apply one update of ``opt1`` and of ``opt2`` to the same random weight and gradient and
    compare the states and weights. With a list of shapes, ``opt2`` updates ``ntensors``
    tensors at once (multi-tensor) and ``opt1`` one at a time."""
    for what, st in (("w_stype", w_stype), ("g_stype", g_stype)):
        if st != "default":
            _no_sparse(f"compare_optimizer({what}={st!r})", st)
    if not isinstance(shape, list):
        if ntensors != 1:
            raise UsageError(f"compare_optimizer: ntensors={ntensors} needs a list of shapes")
        w2 = _rand_uniform(shape, dtype)
        w1 = w2.copyto(default_context())
        g2 = _rand_uniform(shape, dtype)
        g1 = g2.copyto(default_context())
        state1 = opt1.create_state_multi_precision(0, w1)
        state2 = opt2.create_state_multi_precision(0, w2)
        if compare_states:
            compare_ndarray_tuple(state1, state2)
        opt1.update_multi_precision(0, w1, g1, state1)
        opt2.update_multi_precision(0, w2, g2, state2)
        if compare_states:
            compare_ndarray_tuple(state1, state2, rtol=rtol, atol=atol)
        assert_almost_equal(w1, w2, rtol=rtol, atol=atol)
        return
    from copy import deepcopy
    w1 = tuple(_rand_uniform(s, dtype) for s in shape)
    g1 = tuple(_rand_uniform(s, dtype) for s in shape)
    w2, g2 = deepcopy(w1), deepcopy(g1)
    state2 = [opt2.create_state_multi_precision(0, w2[i]) for i in range(ntensors)]
    opt2.update_multi_precision(list(range(ntensors)), w2, g2, state2)
    for i in range(ntensors):
        state1 = opt1.create_state_multi_precision(i, w1[i])
        opt1.update_multi_precision(i, w1[i], g1[i], state1)
        if compare_states:
            compare_ndarray_tuple(state1, state2[i], rtol, atol)
        compare_ndarray_tuple(w1[i], w2[i], rtol, atol)


class DummyIter(mx.io.DataIter):
    """A data iterator that returns the first batch of ``real_iter`` forever (for speed tests:
    no data loading in the loop, and no StopIteration)."""

    def __init__(self, real_iter):
        super().__init__()
        self.real_iter = real_iter
        self.provide_data = real_iter.provide_data
        self.provide_label = real_iter.provide_label
        self.batch_size = real_iter.batch_size
        self.the_batch = next(real_iter)

    def __iter__(self):
        return self

    def next(self):
        """The first batch of the real iterator, every time."""
        return self.the_batch


# --- random generators: statistical checks --------------------------------------------------
def gen_buckets_probs_with_ppf(ppf, nbuckets):
    """``nbuckets`` equal-probability buckets ``[(lo, hi), ...]`` from the quantile function
    ``ppf``, and their probabilities (``1 / nbuckets`` each)."""
    if nbuckets <= 0:
        raise UsageError(f"gen_buckets_probs_with_ppf: nbuckets must be positive; got "
                         f"{nbuckets}")
    probs = [1.0 / nbuckets] * nbuckets
    buckets = [(ppf(i / float(nbuckets)), ppf((i + 1) / float(nbuckets)))
               for i in range(nbuckets)]
    return buckets, probs


def mean_check(generator, mu, sigma, nsamples=1000000):
    """Whether the mean of ``generator(nsamples)`` lies within ``mu +- 3 sigma / sqrt(n)``."""
    mean = np.array(generator(nsamples)).mean()
    half = 3 * sigma / np.sqrt(nsamples)
    return bool(mu - half < mean < mu + half)


def var_check(generator, sigma, nsamples=1000000):
    """Whether the sample variance of ``generator(nsamples)`` lies within
    ``sigma^2 +- 3 sqrt(2 sigma^4 / (n - 1))``."""
    var = np.array(generator(nsamples)).var(ddof=1)
    half = 3 * np.sqrt(2 * sigma ** 4 / (nsamples - 1))
    return bool(sigma ** 2 - half < var < sigma ** 2 + half)


def chi_square_check(generator, buckets, probs, nsamples=1000000):
    """Pearson's chi-square test of ``generator(nsamples)`` against bucket probabilities.

    ``buckets`` is a list of ascending, disjoint ``(lo, hi)`` ranges (continuous distribution)
    or of the possible values (discrete); ``probs`` their probabilities. Returns
    ``(p, observed_frequencies, expected_frequencies)``; needs scipy.
    """
    if not ss:
        raise ImportError("scipy is not available."
                          " Please check if the scipy python bindings are installed.")
    if not isinstance(buckets, list):
        raise UsageError(f"chi_square_check: buckets must be a list; got "
                         f"{type(buckets).__name__}")
    if len(probs) != len(buckets):
        raise UsageError(f"chi_square_check: {len(probs)} probabilities for {len(buckets)} "
                         "buckets")
    samples = generator(nsamples)
    continuous = isinstance(buckets[0], (list, tuple))
    expected = (nsamples * np.array(probs, dtype=np.float32)).astype(np.int32)
    observed = np.zeros(len(buckets), dtype=np.int64)
    if continuous:
        edges = np.zeros(2 * len(buckets), dtype=np.float32)
        for i, (lo, hi) in enumerate(buckets):
            if lo > hi or (i + 1 < len(buckets) and hi > buckets[i + 1][0]):
                raise UsageError("chi_square_check: buckets must be ascending and disjoint "
                                 f"ranges; bucket {i} is {buckets[i]!r}")
            edges[2 * i], edges[2 * i + 1] = lo, hi
        ids = np.searchsorted(edges, np.asarray(samples), side="right") // 2
        for i in range(len(buckets)):
            observed[i] = (ids == i).sum()
    else:
        values = np.array(samples)
        for i, v in enumerate(buckets):
            observed[i] = (values == v).sum()
    _, p = ss.chisquare(f_obs=observed, f_exp=expected)
    return p, observed, expected


def verify_generator(generator, buckets, probs, nsamples=1000000, nrepeat=5, success_rate=0.2,
                     alpha=0.05):
    """Run :func:`chi_square_check` ``nrepeat`` times; raise AssertionError unless at least
    ``success_rate`` of the runs have p > ``alpha``. Returns the p values."""
    ps, obs, exp = [], [], []
    for _ in range(nrepeat):
        p, o, e = chi_square_check(generator=generator, buckets=buckets, probs=probs,
                                   nsamples=nsamples)
        ps.append(p)
        obs.append(o)
        exp.append(e)
    if (np.array(ps) > alpha).sum() < nrepeat * success_rate:
        raise AssertionError("Generator test fails, Chi-square p=%s, obs_freq=%s, "
                             "expected_freq=%s.\nbuckets=%s, probs=%s"
                             % (str(ps), str(obs), str(exp), str(buckets), str(probs)))
    return ps


# --- matrices for linear-algebra tests --------------------------------------------------------
def new_matrix_with_real_eigvals_2d(n):
    """A well-conditioned ``n x n`` matrix with real eigenvalues in [-10, 10]: ``Q^-1 D Q`` with
    ``Q`` a Householder reflection times a diagonal, condition number below 3."""
    while True:
        d = np.diag(np.random.uniform(-1.0, 1.0, n))
        v = np.random.uniform(-1.0, 1.0, n).reshape(n, 1)
        v = v / np.linalg.norm(v, axis=-2, keepdims=True)
        q = np.matmul(np.eye(n) - 2 * np.matmul(v, v.T), d)
        if np.linalg.cond(q, 2) < 3:
            break
    eig = np.diag(np.random.uniform(-10.0, 10.0, n))
    return np.matmul(np.matmul(np.linalg.inv(q), eig), q)


def new_matrix_with_real_eigvals_nd(shape):
    """A stack of :func:`new_matrix_with_real_eigvals_2d` matrices of ``shape`` (..., n, n)."""
    count = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return np.array([new_matrix_with_real_eigvals_2d(shape[-1])
                     for _ in range(count)]).reshape(shape)


def new_orthonormal_matrix_2d(n):
    """A random ``n x n`` orthonormal matrix (the Q of a QR factorisation)."""
    x = np.random.randn(n, n)
    return np.linalg.qr(np.matmul(x.T, x))[0]


def new_sym_matrix_with_real_eigvals_2d(n):
    """A random symmetric ``n x n`` matrix ``Q^T D Q`` with eigenvalues in [-10, 10]."""
    q = new_orthonormal_matrix_2d(n)
    d = np.diag(np.random.uniform(-10.0, 10.0, n))
    return np.matmul(np.matmul(q.T, d), q)


def new_sym_matrix_with_real_eigvals_nd(shape):
    """A stack of :func:`new_sym_matrix_with_real_eigvals_2d` matrices of ``shape``."""
    count = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return np.array([new_sym_matrix_with_real_eigvals_2d(shape[-1])
                     for _ in range(count)]).reshape(shape)


# --- features mxc does not have ---------------------------------------------------------------
class np_symbol(Symbol):  # noqa: N801  (MXNet's name: mx.np's Symbol class)
    """MXNet's numpy-style Symbol class (``mxnet.symbol.numpy._Symbol``). mxc has no numpy
    symbols: no instance exists, so ``isinstance(s, np_symbol)`` is False for every symbol, and
    creating one raises UnsupportedError."""

    def __new__(cls, *args, **kwargs):
        raise UnsupportedError("np_symbol: mxc does not support MXNet 2-style numpy symbols "
                               "(mx.np / mx.sym.np); use mx.sym")


def check_gluon_hybridize_consistency(net_builder, data_l, numpy_func=None, test_grad=True,
                                      rtol=1E-4, atol=1E-4):
    """MXNet's Gluon HybridBlock check: mxc does not support Gluon (raises UnsupportedError)."""
    raise UnsupportedError("check_gluon_hybridize_consistency: mxc does not support Gluon "
                           "(HybridBlock, hybridize); build the model with mx.sym and check it "
                           "with check_consistency")


# --- data files: used where they are, never downloaded ---------------------------------------
def _no_download(url, path):
    raise DownloadError(f"download: cannot fetch {url}: mxc does not download files (no network "
                        f"access is assumed); put the file at {os.path.abspath(path)} and call "
                        "again")


def download(url, fname=None, dirname=None, overwrite=False, retries=5):
    """The local path MXNet would download ``url`` to: ``fname`` (default: the URL's last
    component), inside ``dirname`` if given.

    mxc never downloads: if the file is there (and ``overwrite`` is False) its path is returned,
    as MXNet returns it without downloading again; otherwise :class:`DownloadError` says where to
    put it.
    """
    if retries < 0:
        raise UsageError("Number of retries should be at least 0")
    if fname is None:
        fname = url.split("/")[-1]
    if dirname is not None:
        fname = os.path.join(dirname, fname)
    if not overwrite and os.path.exists(fname):
        logging.info("%s exists, skipping download", fname)
        return fname
    if overwrite and os.path.exists(fname):
        raise DownloadError(f"download: cannot fetch {url} again (overwrite=True): mxc does not "
                            f"download files; the existing {os.path.abspath(fname)} is kept")
    _no_download(url, fname)


_MODEL_BASE = "http://data.mxnet.io/models/"
_MODEL_FILES = {
    # model name -> (folder under _MODEL_BASE, file prefix, epoch of the .params)
    "imagenet1k-inception-bn": ("imagenet/inception-bn/", "Inception-BN", 126),
    "imagenet1k-resnet-18": ("imagenet/resnet/18-layers/", "resnet-18", 0),
    "imagenet1k-resnet-34": ("imagenet/resnet/34-layers/", "resnet-34", 0),
    "imagenet1k-resnet-50": ("imagenet/resnet/50-layers/", "resnet-50", 0),
    "imagenet1k-resnet-101": ("imagenet/resnet/101-layers/", "resnet-101", 0),
    "imagenet1k-resnet-152": ("imagenet/resnet/152-layers/", "resnet-152", 0),
    "imagenet1k-resnext-50": ("imagenet/resnext/50-layers/", "resnext-50", 0),
    "imagenet1k-resnext-101": ("imagenet/resnext/101-layers/", "resnext-101", 0),
    "imagenet1k-resnext-101-64x4d": ("imagenet/resnext/101-layers/", "resnext-101-64x4d", 0),
    "imagenet11k-resnet-152": ("imagenet-11k/resnet-152/", "resnet-152", 0),
    "imagenet11k-place365ch-resnet-152": ("imagenet-11k-place365-ch/", "resnet-152", 0),
    "imagenet11k-place365ch-resnet-50": ("imagenet-11k-place365-ch/", "resnet-50", 0),
}


def _default_model_info():
    info = {}
    for name, (folder, prefix, epoch) in _MODEL_FILES.items():
        url = _MODEL_BASE + folder + prefix
        info[name] = {"symbol": url + "-symbol.json", "params": url + "-%04d.params" % epoch}
    return info


def download_model(model_name, dst_dir="./", meta_info=None):
    """The checkpoint of a model zoo model, if already in ``dst_dir``.

    Returns ``(prefix, 0)`` with ``prefix = dst_dir/model_name`` when
    ``<prefix>-symbol.json`` and ``<prefix>-0000.params`` are there (load them with
    ``mx.model.load_checkpoint(prefix, 0)``); ``(None, 0)`` for a model name ``meta_info``
    (default: MXNet's ImageNet models) does not know. Missing files raise
    :class:`DownloadError`, naming the URL and where to put the file.
    """
    meta_info = dict(_default_model_info() if meta_info is None else meta_info)
    if model_name not in meta_info:
        return (None, 0)
    meta = dict(meta_info[model_name])
    for key in ("symbol", "params"):
        if key not in meta:
            raise UsageError(f"download_model: meta_info[{model_name!r}] has no {key!r} URL")
    prefix = os.path.join(dst_dir, model_name)
    download(meta["symbol"], prefix + "-symbol.json")
    download(meta["params"], prefix + "-0000.params")
    return (prefix, 0)


_MNIST_URL = "http://data.mxnet.io/data/mnist/"
_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte")


def _read_idx(path, opener=open):
    """The array in an IDX file (MNIST's format: big-endian header, then unsigned bytes)."""
    with opener(path, "rb") as f:
        buf = f.read()
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0:
        raise FormatError(f"{path}: not an IDX file (bad magic number at byte offset 0)")
    if buf[2] != 0x08:
        raise FormatError(f"{path}: IDX element type 0x{buf[2]:02x} at byte offset 2; expected "
                          "0x08 (unsigned byte)")
    ndim = buf[3]
    head = 4 + 4 * ndim
    if len(buf) < head:
        raise FormatError(f"{path}: truncated header: {len(buf)} bytes, expected {head}")
    dims = struct.unpack(">%dI" % ndim, buf[4:head])
    count = int(np.prod(dims)) if dims else 1
    if len(buf) - head != count:
        raise FormatError(f"{path}: {len(buf) - head} bytes of data after the header (byte "
                          f"offset {head}); the header's shape {dims} needs {count}")
    return np.frombuffer(buf, dtype=np.uint8, offset=head).reshape(dims)


def get_mnist():
    """MNIST as numpy arrays, from the gzipped IDX files MXNet downloads into the current
    directory (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``).

    Returns a dict with ``train_data`` / ``test_data`` (float32 in [0, 1], shape
    (N, 1, rows, cols)) and ``train_label`` / ``test_label`` (int8). Missing files raise
    :class:`DownloadError`.
    """
    def read(kind):
        labels = _read_idx(download(_MNIST_URL + f"{kind}-labels-idx1-ubyte.gz"), gzip.open)
        images = _read_idx(download(_MNIST_URL + f"{kind}-images-idx3-ubyte.gz"), gzip.open)
        if images.ndim != 3 or images.shape[0] != labels.shape[0]:
            raise FormatError(f"MNIST {kind}: {images.shape[0]} images of shape "
                              f"{images.shape[1:]} for {labels.shape[0]} labels")
        images = images.reshape(images.shape[0], 1, *images.shape[1:])
        return labels.astype(np.int8), images.astype(np.float32) / 255

    train_lbl, train_img = read("train")
    test_lbl, test_img = read("t10k")
    return {"train_data": train_img, "train_label": train_lbl,
            "test_data": test_img, "test_label": test_lbl}


def get_mnist_pkl():
    """Check that ``data/mnist.pkl.gz`` is present (MXNet downloads it there)."""
    if not os.path.exists(os.path.join("data", "mnist.pkl.gz")):
        download("http://deeplearning.net/data/mnist/mnist.pkl.gz", dirname="data")


def _extract_zip(path, into):
    try:
        with zipfile.ZipFile(path) as zf:
            zf.extractall(into)
    except zipfile.BadZipFile as e:
        raise FormatError(f"{path}: not a zip archive ({e})") from None


def get_mnist_ubyte():
    """Make sure MNIST's four IDX files are in ``data/``, extracting ``data/mnist.zip`` if only
    the archive is there; :class:`DownloadError` if neither is."""
    if all(os.path.exists(os.path.join("data", f)) for f in _MNIST_FILES):
        return
    zip_path = download("http://data.mxnet.io/mxnet/data/mnist.zip", dirname="data")
    _extract_zip(zip_path, "data")


def get_cifar10():
    """Make sure CIFAR-10's ``train/test .rec/.lst`` files are in ``data/cifar/``, extracting
    ``data/cifar10.zip`` if only the archive is there; :class:`DownloadError` if neither is."""
    names = ("train.rec", "test.rec", "train.lst", "test.lst")
    if all(os.path.exists(os.path.join("data", "cifar", f)) for f in names):
        return
    zip_path = download("http://data.mxnet.io/mxnet/data/cifar10.zip", dirname="data")
    _extract_zip(zip_path, "data")


def get_mnist_iterator(batch_size, input_shape, num_parts=1, part_index=0):
    """``(train_iter, val_iter)`` over MNIST from the IDX files in ``data/`` (see
    :func:`get_mnist_ubyte`), as MXNet's MNISTIter pair: data ``'data'`` scaled to [0, 1],
    flat ``(batch, 784)`` unless ``input_shape`` has 3 dims (then ``(batch, 1, 28, 28)``),
    label ``'softmax_label'``; the training set is shuffled once (seed 0); incomplete last
    batches are dropped; ``num_parts`` / ``part_index`` select a contiguous part of each set.
    """
    get_mnist_ubyte()
    if not (isinstance(num_parts, numbers.Integral) and num_parts >= 1
            and isinstance(part_index, numbers.Integral) and 0 <= part_index < num_parts):
        raise UsageError(f"get_mnist_iterator: need num_parts >= 1 and 0 <= part_index < "
                         f"num_parts; got num_parts={num_parts}, part_index={part_index}")
    flat = len(input_shape) != 3

    def make(kind, shuffle):
        images = _read_idx(os.path.join("data", f"{kind}-images-idx3-ubyte"))
        labels = _read_idx(os.path.join("data", f"{kind}-labels-idx1-ubyte"))
        n = labels.shape[0]
        lo, hi = n * part_index // num_parts, n * (part_index + 1) // num_parts
        images = images[lo:hi].astype(np.float32) / 255
        labels = labels[lo:hi].astype(np.float32)
        images = (images.reshape(images.shape[0], -1) if flat
                  else images.reshape(images.shape[0], 1, *images.shape[1:]))
        if shuffle:
            order = np.random.RandomState(0).permutation(images.shape[0])
            images, labels = images[order], labels[order]
        return mx.io.NDArrayIter(images, labels, batch_size, shuffle=False,
                                 last_batch_handle="discard")

    return make("train", True), make("t10k", False)


def get_zip_data(data_dir, url, data_origin_name):
    """Extract ``data_dir/data_origin_name`` into ``data_dir`` unless it is there already (as
    MXNet, an archive that is present is taken as extracted); the archive is never
    downloaded: without it, :class:`DownloadError`."""
    archive = os.path.join(data_dir, data_origin_name)
    if not os.path.exists(archive):
        download(url, dirname=data_dir, overwrite=False)
        _extract_zip(archive, data_dir)


def get_bz2_data(data_dir, data_name, url, data_origin_name):
    """Decompress ``data_dir/data_origin_name`` (bz2) into ``data_dir/data_name`` unless that
    exists. mxc does not download the archive, so it keeps it (MXNet deletes the archive it
    downloaded); without the archive, :class:`DownloadError`."""
    target = os.path.join(data_dir, data_name)
    if os.path.exists(target):
        return
    archive = download(url, fname=data_origin_name, dirname=data_dir, overwrite=False)
    from .base import atomic_write
    with bz2.BZ2File(archive, "rb") as src, atomic_write(target, "wb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            dst.write(chunk)


def get_im2rec_path(home_env="MXNET_HOME"):
    """The path of ``tools/im2rec.py`` under ``$MXNET_HOME`` (or next to the mxc package);
    OSError if there is none (mxc ships no im2rec tool)."""
    home = os.environ.get(home_env) or os.path.dirname(mx.__file__)
    for path in (os.path.join(home, "tools", "im2rec.py"),
                 os.path.join(home, "..", "..", "tools", "im2rec.py")):
        if os.path.isfile(path):
            return path
    raise OSError("Could not find path to tools/im2rec.py")
