"""NDArray storage: creation, properties, copies, views, indexing, numpy interop, pickling.

Expected values marked "oracle" were read off MXNet 1.9.1 (../shared/oracle) by hand.
"""
import pickle
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mxc.base import AttrError, DTypeError, MXNetError, ShapeError, UnsupportedError
from mxc.context import cpu
from mxc.ndarray import NDArray, arange, array, empty, full, ones, zeros
from mxc.ndarray.io import _save_raw


def np_arange(*shape, dtype=np.float32):
    return np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)


# --- creation ----------------------------------------------------------------------------------------
def test_array_dtype_rules():                                       # oracle
    assert array([1, 2]).dtype is np.float32
    assert array(np.arange(6, dtype=np.int64)).dtype is np.float32
    assert array(np.array([1, 2], dtype=np.float64)).dtype is np.float32
    assert array(array([1, 2], dtype="int32")).dtype is np.int32
    assert array(array([1, 2], dtype="int32"), dtype="float64").dtype is np.float64
    assert array([True, False]).dtype is np.float32
    assert array([1, 2], dtype=np.int8).dtype is np.int8
    assert array([1, 2], dtype=np.dtype("uint8")).dtype is np.uint8
    assert array([1, 0], dtype=bool).dtype is np.bool_
    assert array(torch.tensor([1, 2])).dtype is np.float32


def test_array_shapes_and_copies():
    assert array(5).shape == () and array(5.0).asnumpy() == 5.0     # oracle: 0-d
    assert array(np.array(3.0)).shape == ()
    assert array((1, 2)).shape == (2,)
    assert array(np.zeros((0, 3))).shape == (0, 3)
    src = np.arange(4.0)
    a = array(src)
    src[0] = 100
    assert a.asnumpy()[0] == 0                                      # a copy, not an alias
    b = array(a)
    b[0] = 7
    assert a.asnumpy()[0] == 0
    n = np.arange(12.0).reshape(3, 4)[:, ::2]                       # non-contiguous source
    assert np.array_equal(array(n).asnumpy(), n)


def test_array_rejects_non_arrays():
    with pytest.raises(TypeError, match="array like"):
        array({"a": 1})
    with pytest.raises(TypeError, match="array like"):
        array([[1, 2], [3]])
    with pytest.raises(TypeError, match="array like"):
        array("abc")


def test_zeros_ones_empty_full():
    z = zeros((2, 3))
    assert z.shape == (2, 3) and z.dtype is np.float32 and not z.asnumpy().any()
    assert zeros(3).shape == (3,)
    assert zeros((2, 3), dtype=np.int32).dtype is np.int32          # oracle
    assert ones((2,), dtype="float16").asnumpy().tolist() == [1, 1]
    assert empty((2, 2)).dtype is np.float32 and empty(4).shape == (4,)
    f = full((2, 2), 7, dtype="int32")                              # oracle
    assert f.dtype is np.int32 and f.asnumpy().tolist() == [[7, 7], [7, 7]]
    assert full(3, 2.5).asnumpy().tolist() == [2.5, 2.5, 2.5]
    assert zeros((0, 3)).shape == (0, 3)
    assert zeros([2, np.int64(2)]).shape == (2, 2)
    out = ones((2,))
    assert zeros((2,), out=out) is out and out.asnumpy().tolist() == [0, 0]
    assert full((2,), 4, out=out) is out and out.asnumpy().tolist() == [4, 4]


def test_creation_errors():
    with pytest.raises(ShapeError, match="negative"):
        zeros((2, -1))
    with pytest.raises(TypeError, match="shape"):
        zeros((2.5,))
    with pytest.raises(DTypeError, match="unknown dtype 'float99'"):
        zeros(2, dtype="float99")
    assert zeros(2, dtype="bfloat16").dtype == np.dtype([("bfloat16", np.uint16)])  # MXNet's
    with pytest.raises(UnsupportedError, match="sparse"):
        zeros((2, 2), stype="csr")
    with pytest.raises(TypeError, match="unexpected keyword"):
        zeros(2, foo=1)
    with pytest.raises(ShapeError, match="out has shape"):
        zeros((3,), out=zeros((2,)))
    with pytest.raises(TypeError, match="ctx"):
        zeros(2, ctx=3)


def test_ctx_strings():
    assert zeros(1, ctx="cpu(2)").context == cpu(2)
    assert zeros(1, ctx="cpu").context == cpu(0)


@pytest.mark.parametrize("args, kwargs, want", [                    # oracle
    ((0, 5, 1.5), {"repeat": 2}, [0, 0, 1.5, 1.5, 3, 3, 4.5, 4.5]),
    ((5,), {}, [0, 1, 2, 3, 4]),
    ((2, 6), {"dtype": "int32"}, [2, 3, 4, 5]),
    ((0, 5, 1.5), {"dtype": "int32"}, [0, 1, 2, 3]),
    ((0.5, 3), {"dtype": "int32"}, [0, 1, 2]),
    ((5, 0, -1.5), {}, [5, 3.5, 2, 0.5]),
    ((10, -3, -2.5), {"dtype": "int32"}, [10, 8, 6, 4, 2, 0]),
    ((3,), {"repeat": 3, "dtype": "float64"}, [0, 0, 0, 1, 1, 1, 2, 2, 2]),
    ((2, 6), {"step": 1.5, "repeat": 2}, [2, 2, 3.5, 3.5, 5, 5]),
    ((0, 5, 1.5), {"dtype": "uint8"}, [0, 1, 2, 3]),
])
def test_arange_matches_mxnet(args, kwargs, want):
    a = arange(*args, **kwargs)
    assert a.dtype is np.dtype(kwargs.get("dtype", "float32")).type
    assert a.asnumpy().tolist() == want


def test_arange_float32_rounding_matches_mxnet():                     # oracle, bit for bit
    want = [0.10000000149011612, 0.20000000298023224, 0.30000001192092896, 0.4000000059604645,
            0.5, 0.6000000238418579, 0.7000000476837158, 0.800000011920929, 0.9000000357627869]
    assert arange(0.1, 1.0, 0.1).asnumpy().astype(np.float64).tolist() == want


def test_arange_errors():                                            # oracle: MXNet rejects these
    for args in [(5, 0), (0, 0), (0, 5, -1), (0, 5, 0)]:
        with pytest.raises(AttrError, match="arange: invalid range"):
            arange(*args)
    with pytest.raises(AttrError, match="repeat"):
        arange(3, repeat=0)


# --- properties, conversion, repr ---------------------------------------------------------------------
def test_properties():
    a = array(np_arange(2, 3, 4))
    assert a.shape == (2, 3, 4) and isinstance(a.shape, tuple)
    assert a.dtype is np.float32 and a.size == 24 and a.ndim == 3
    assert a.context == cpu() and a.ctx == cpu() and a.stype == "default"
    s = array(5)
    assert (s.shape, s.size, s.ndim) == ((), 1, 0)
    assert array([1, 0], dtype="bool").dtype is np.bool_


def test_repr_like_mxnet():                                          # oracle, verbatim
    assert repr(array([[0, 1, 2], [3, 4, 5]])) == \
        "\n[[0. 1. 2.]\n [3. 4. 5.]]\n<NDArray 2x3 @cpu(0)>"
    assert repr(array([1.5, 2, 3])) == "\n[1.5 2.  3. ]\n<NDArray 3 @cpu(0)>"
    assert repr(array([1, 2], dtype="int32")) == "\n[1 2]\n<NDArray 2 @cpu(0)>"
    assert repr(array(5)) == "\n5.0\n<NDArray  @cpu(0)>"
    assert repr(zeros((0, 3))) == "\n[]\n<NDArray 0x3 @cpu(0)>"
    assert str(array([1.0])) == repr(array([1.0]))


def test_asnumpy_is_a_copy_and_asscalar():
    a = array([1, 2, 3])
    n = a.asnumpy()
    n[0] = 9
    assert a.asnumpy()[0] == 1
    assert array([3], dtype="int32").asscalar() == 3
    assert type(array([3], dtype="int32").asscalar()) is np.int32
    assert array(2.5).asscalar() == 2.5
    with pytest.raises(ValueError, match="not a scalar"):
        a.asscalar()


def test_numpy_interop():
    a = array(np_arange(2, 2))
    assert np.asarray(a).tolist() == [[0, 1], [2, 3]]
    assert np.asarray(a, dtype=np.int64).dtype == np.int64
    assert np.array(a).sum() == 6


def test_len_iter_bool():
    a = array(np_arange(3, 2))
    assert len(a) == 3
    rows = list(a)
    assert [r.shape for r in rows] == [(2,)] * 3
    rows[1][:] = -1                                                  # rows are views
    assert a.asnumpy()[1].tolist() == [-1, -1]
    assert [r.shape for r in array([1, 2, 3])] == [(1,)] * 3       # oracle: 1-D rows are (1,)
    with pytest.raises(TypeError):
        len(array(1.0))
    assert bool(array([2])) is True and bool(array([0])) is False
    assert bool(zeros((0,))) is False and bool(array(3.0)) is True
    with pytest.raises(ValueError, match="ambiguous"):
        bool(array([1, 2]))


def test_hash_is_identity():
    a, b = array([1]), array([1])
    assert len({a, b, a}) == 2
    assert {a: 1}[a] == 1


# --- copies -------------------------------------------------------------------------------------------
def test_copy_copyto_as_in_context():
    a = array([1.7, -2.5, 3])
    c = a.copy()
    c[0] = 0
    assert a.asnumpy()[0] == np.float32(1.7)
    dst = zeros(3, dtype="int32")
    assert a.copyto(dst) is dst
    assert dst.asnumpy().tolist() == [1, -2, 3]                      # oracle: cast on copy
    assert a.as_in_context(cpu()) is a
    b = a.as_in_context(cpu(1))
    assert b is not a and b.context == cpu(1) and b.asnumpy().tolist() == a.asnumpy().tolist()
    d = a.copyto(cpu(2))
    assert d.context == cpu(2)
    with pytest.raises(ShapeError, match=r"destination has shape \(4,\)"):
        a.copyto(zeros(4))
    with pytest.raises(ShapeError):
        a.copyto(zeros((3, 1)))
    with pytest.warns(RuntimeWarning, match="copy an array to itself"):
        assert a.copyto(a) is False
    with pytest.raises(TypeError, match="copyto does not support"):
        a.copyto("cpu")


def test_copyto_overlapping_view():
    a = array(np.arange(6.0))
    a[1:4].copyto(a[0:3])
    assert a.asnumpy().tolist() == [1, 2, 3, 3, 4, 5]


def test_astype():
    a = array([1.7, -2.5, 3])
    assert a.astype("uint8").asnumpy().tolist() == [1, 254, 3]      # oracle: wraps like C
    assert array([300, -1]).astype("uint8").asnumpy().tolist() == [44, 255]  # oracle
    assert array([0.5, 0, -2]).astype("bool").asnumpy().tolist() == [True, False, True]
    assert a.astype("float32", copy=False) is a
    b = a.astype(np.float32)
    assert b is not a
    b[0] = 0
    assert a.asnumpy()[0] != 0


# --- reshape ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("src, spec, kw, want", [                     # MXNet's docstring examples
    ((2, 3, 4), (4, 0, 2), {}, (4, 3, 2)),
    ((2, 3, 4), (2, 0, 0), {}, (2, 3, 4)),
    ((2, 3, 4), (6, 1, -1), {}, (6, 1, 4)),
    ((2, 3, 4), (3, -1, 8), {}, (3, 1, 8)),
    ((2, 3, 4), (-1,), {}, (24,)),
    ((2, 3, 4), (-2,), {}, (2, 3, 4)),
    ((2, 3, 4), (2, -2), {}, (2, 3, 4)),
    ((2, 3, 4), (-2, 1, 1), {}, (2, 3, 4, 1, 1)),
    ((2, 3, 4), (-3, 4), {}, (6, 4)),
    ((2, 3, 4, 5), (-3, -3), {}, (6, 20)),
    ((2, 3, 4), (0, -3), {}, (2, 12)),
    ((2, 3, 4), (-3, -2), {}, (6, 4)),
    ((2, 3, 4), (-4, 1, 2, -2), {}, (1, 2, 3, 4)),
    ((2, 3, 4), (2, -4, -1, 3, -2), {}, (2, 1, 3, 4)),
    ((10, 5, 4), (-1, 0), {}, (40, 5)),
    ((10, 5, 4), (-1, 0), {"reverse": True}, (50, 4)),
])
def test_reshape_codes(src, spec, kw, want):
    a = zeros(src)
    assert a.reshape(spec, **kw).shape == want
    assert a.reshape(*spec, **kw).shape == want
    assert a.reshape(shape=spec, **kw).shape == want


def test_reshape_is_a_view():
    a = array(np_arange(2, 3))
    b = a.reshape(3, 2)
    b[:] = -1
    assert (a.asnumpy() == -1).all()
    assert a.reshape(-3).shape == (6,)
    assert array(5).reshape(1).shape == (1,)
    with pytest.raises(ValueError, match="cannot reshape"):
        a.reshape(4, 2)
    with pytest.raises(TypeError, match="unknown keywords"):
        a.reshape((6,), order="F")
    with pytest.raises(TypeError):
        a.reshape()


# --- getitem ------------------------------------------------------------------------------------------
S = slice
A435 = np_arange(4, 3, 5)

# key, result shape, view?  (all read off MXNet 1.9.1 with a (4, 3, 5) array)
GETITEM_CASES = [
    (1, (3, 5), True), (-1, (3, 5), True), (S(1, 3), (2, 3, 5), True),
    (S(None, None, 2), (2, 3, 5), False), ((1,), (3, 5), True), ((1, 2), (5,), True),
    ((1, S(None)), (3, 5), True), ((S(1, 3),), (2, 3, 5), True),
    ((S(1, 3), S(None)), (2, 3, 5), True), ((S(None), 1), (4, 5), False),
    ((1, S(0, 2)), (2, 5), True), ((1, 2, 3), (1,), True),
    ((S(None), S(None), 1), (4, 3), False), ((Ellipsis, 1), (4, 3), False),
    ((None, 1), (1, 3, 5), True), ((S(None, None, -1),), (4, 3, 5), False),
    ([0, 2], (2, 3, 5), False), (np.array([0, 2]), (2, 3, 5), False),
    ((np.int32(1), 2), (5,), True), (np.int64(1), (3, 5), True), (Ellipsis, (4, 3, 5), True),
    ((1, S(0, 2), S(None)), (2, 5), True), ((S(1, 3), S(0, 2)), (2, 2, 5), False),
    ((S(1, 2), S(0, 2)), (1, 2, 5), True), ((2, S(None), S(1, 2)), (3, 1), False),
    (([0, 1], S(None), [1, 2]), (2, 3), False), (([0, 1], S(None), 1), (2, 3), False),
    ((S(None), [0, 1], None, 1), (2, 4, 1), False), ((None, S(None), [0, 1], 1), (1, 4, 2), False),
    ((S(None, None, 2), 1, S(None, None, -2)), (2, 3), False),
    ((S(-1, None), S(2, 0, -1), 4), (1, 2), False),
    ((np.array([[0, 1], [2, 3]]),), (2, 2, 3, 5), False),
    ((1, None, S(None), None), (1, 3, 1, 5), True), ((Ellipsis, None), (4, 3, 5, 1), True),
    ((S(0, 0), 1), (0, 5), None), (range(1, 3), (2, 3, 5), False), (S(5, 9), (0, 3, 5), None),
]


@pytest.mark.parametrize("key, shape, view", GETITEM_CASES)
def test_getitem_like_mxnet(key, shape, view):
    a = array(A435)
    r = a[key]
    assert r.shape == shape
    want = A435[key]
    assert np.array_equal(r.asnumpy(), want.reshape(shape))
    assert r._t.is_contiguous()
    if view is not None:
        r[:] = -1
        assert bool((a.asnumpy() == -1).any()) is view


def test_getitem_with_ndarray_indices():
    a = array(A435)
    assert np.array_equal(a[array([0, 2])].asnumpy(), A435[[0, 2]])
    r = a[array([0, 1]), array([1, 2])]
    assert r.shape == (2, 5) and np.array_equal(r.asnumpy(), A435[[0, 1], [1, 2]])
    assert np.array_equal(a[array([0.0, 2.9])].asnumpy(), A435[[0, 2]])  # floats truncate
    assert a[array(2)].shape == (3, 5)                                 # 0-d index = an int
    assert a[torch.tensor([1, 3])].shape == (2, 3, 5)


def test_getitem_1d_and_0d():                                          # oracle
    b = array([1, 2, 3])
    assert b[1].shape == (1,) and b[1].asnumpy().tolist() == [2]
    assert b[-1].asnumpy().tolist() == [3] and b[(1,)].shape == (1,)
    assert b[[1]].shape == (1,) and b[::2].asnumpy().tolist() == [1, 3]
    s = array(5)
    assert s[()] is s and s[:] is s and s[...] is s
    with pytest.raises(IndexError):
        s[0]


def test_getitem_errors():
    a = array(A435)
    for key in (4, -5, (1, 5), ([0, 4],)):
        with pytest.raises(IndexError, match="out of bounds"):
            a[key]
    with pytest.raises(IndexError, match="too many indices"):
        a[1, 1, 1, 1]
    with pytest.raises(ValueError, match="does not support slicing with key 1.0"):
        a[1.0]
    with pytest.raises(ValueError, match="step cannot be zero"):
        a[::0]
    with pytest.raises(ValueError, match="boolean"):
        a[True]
    with pytest.raises(ValueError, match="boolean"):
        a[np.array([True, False, True, False])]
    with pytest.raises(IndexError, match="single ellipsis"):
        a[..., 1, ...]
    with pytest.raises(IndexError, match="broadcast"):
        a[[0, 1], [0, 1, 2]]


def test_slices_on_first_axis_share_memory():
    a = array(np_arange(4, 2))
    a[1:3][:] = 5
    assert a.asnumpy()[:, 0].tolist() == [0, 5, 5, 6]
    a[0][:] = 9
    assert a.asnumpy()[0].tolist() == [9, 9]
    assert a[3:1].shape == (0, 2)                                        # MXNet raises here


def test_unsigned_wide_dtypes_index():
    for dt in ("uint16", "uint32", "uint64"):
        a = array([1, 2, 3, 4], dtype=dt)
        assert a[[0, 2]].asnumpy().tolist() == [1, 3]
        assert a[::-1].asnumpy().tolist() == [4, 3, 2, 1]
        a[[1, 3]] = 7
        a[::-2] = array([9, 8])
        assert a.asnumpy().tolist() == [1, 8, 3, 9] and a.dtype is np.dtype(dt).type


# --- setitem ------------------------------------------------------------------------------------------
def test_setitem_values():
    x = array([[1, 2], [3, 4]])
    x[1] = array([[[9, 8]]])                                             # oracle: leading 1s
    x[:, 1] = [5, 6]
    x[0, 0] = 300.7
    assert x.asnumpy().tolist() == [[np.float32(300.7), 5], [9, 6]]
    y = zeros(3, dtype="uint8")
    y[:] = 300
    y[1] = -1.5
    assert y.asnumpy().tolist() == [44, 255, 44]                         # oracle
    z = zeros((2, 3))
    z[:] = np.arange(3)
    z[0] = 1
    z[1, ::2] = array([7, 8], dtype="int32")
    z[..., 1] = np.float64(4)
    assert z.asnumpy().tolist() == [[1, 4, 1], [7, 4, 8]]
    z[[0, 1], [2, 0]] = [10, 11]
    z[None, 0] = [[-1, -2, -3]]
    assert z.asnumpy().tolist() == [[-1, -2, -3], [11, 4, 8]]
    b = zeros(3, dtype="bool")
    b[1] = True
    assert b.asnumpy().tolist() == [False, True, False]


def test_setitem_docstring_sequence():                                   # MXNet's own examples
    x = zeros((2, 3))
    x[:] = 1
    x[:, 1:2] = 2
    x[1:2, 1:] = 3
    x[1:, 0:2] = zeros((1, 2))
    x[1, 2] = 4
    assert x.asnumpy().tolist() == [[1, 2, 1], [0, 0, 4]]
    x[[0], [1, 2]] = 5
    x[::-1, 0:2:2] = [6]
    assert x.asnumpy().tolist() == [[6, 5, 5], [6, 0, 4]]


def test_setitem_errors_and_edge_cases():
    x = zeros((2, 2))
    with pytest.raises(ShapeError, match=r"cannot broadcast a value of shape \(3,\)"):
        x[0] = [1, 2, 3]
    with pytest.raises(MXNetError):
        x[:] = zeros((3, 2))
    with pytest.raises(TypeError, match="non-array-like"):
        x[0] = {"a": 1}
    with pytest.raises(IndexError, match="out of bounds"):
        x[2] = 1
    e = zeros((0, 2))
    e[:] = 5                                                             # no-op, as MXNet
    s = array(1.0)
    s[()] = 4
    assert s.asscalar() == 4
    s[:] = array([6])
    assert s.asscalar() == 6
    with pytest.raises(IndexError, match="scalar tensor"):
        s[0] = 1


def test_setitem_overlapping_self():
    a = array(np.arange(5.0))
    a[1:] = a[:-1]
    assert a.asnumpy().tolist() == [0, 0, 1, 2, 3]
    b = array(np.arange(4.0))
    b[::-1] = b
    assert b.asnumpy().tolist() == [3, 2, 1, 0]


def test_mutation_never_rebinds_storage():
    a = zeros((3, 4))
    t, ptr = a._t, a._t.data_ptr()
    a[:] = 1
    a[1] = array([1, 2, 3, 4])
    a[:, 2] = 7
    a[[0, 2], [1, 3]] = 9
    a[::-1, ::2] = 5
    array(np.ones((3, 4))).copyto(a)
    zeros((3, 4), out=a)
    assert a._t is t and a._t.data_ptr() == ptr


def test_views_are_contiguous_windows():
    a = array(np_arange(4, 3))
    v = a[1:3]
    assert v._t.is_contiguous() and v._t.data_ptr() == a._t.data_ptr() + 3 * 4
    assert a[2]._t.data_ptr() == a._t.data_ptr() + 6 * 4
    assert a.reshape(-1)._t.data_ptr() == a._t.data_ptr()


# --- property tests against numpy ---------------------------------------------------------------------
@st.composite
def basic_keys(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    parts = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "none_then_slice", "full"]))
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "full":
            parts.append(slice(None))
        else:
            if kind == "none_then_slice":
                parts.append(None)
            start = draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
            stop = draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
            step = draw(st.one_of(st.none(), st.sampled_from([1, 2, 3, -1, -2])))
            parts.append(slice(start, stop, step))
    cut = draw(st.integers(0, len(parts)))
    key = tuple(parts[:cut])
    if draw(st.booleans()) and len(key) < len(parts):
        key = key + (Ellipsis,)
    return shape, key


def _legacy(want):
    return want.reshape(1) if want.ndim == 0 else want


@settings(max_examples=80, deadline=None)
@given(basic_keys())
def test_basic_getitem_matches_numpy(case):
    shape, key = case
    n = np_arange(*shape)
    a = array(n)
    assert np.array_equal(a[key].asnumpy(), _legacy(n[key]))


@settings(max_examples=80, deadline=None)
@given(basic_keys(), st.booleans())
def test_setitem_matches_numpy(case, as_ndarray):
    shape, key = case
    n = np_arange(*shape)
    a = array(n)
    target_shape = n[key].shape
    value = -np.arange(int(np.prod(target_shape)), dtype=np.float32).reshape(target_shape) - 1
    n[key] = value
    a[key] = array(value) if as_ndarray else value
    assert np.array_equal(a.asnumpy(), n)


_IDX = st.sampled_from([0, -1])               # valid on every axis (sizes >= 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=2, max_size=3).flatmap(
    lambda shape: st.tuples(st.just(tuple(shape)), st.lists(
        st.one_of(_IDX, st.lists(_IDX, min_size=1, max_size=3), st.just(slice(None)),
                  st.none()),
        min_size=1, max_size=len(shape)))))
def test_advanced_getitem_matches_numpy(case):
    shape, parts = case
    key = tuple(np.array(p) if isinstance(p, list) else p for p in parts)
    if not any(isinstance(p, np.ndarray) for p in key):
        key = (np.array([0]),) + key[1:]
    n = np_arange(*shape)
    try:
        want = n[key]
    except IndexError:                              # index arrays that do not broadcast
        with pytest.raises(IndexError, match="broadcast"):
            array(n)[key]
        return
    got = array(n)[key]
    assert got.shape == want.shape and np.array_equal(got.asnumpy(), want)


# --- pickling and torch interop -----------------------------------------------------------------------
def test_pickle_roundtrip():
    for a in (array(np_arange(2, 3)), array([1, 2], dtype="int64", ctx=cpu(1)), array(3.0),
              zeros((0, 2), dtype="uint8")):
        b = pickle.loads(pickle.dumps(a))
        assert b.shape == a.shape and b.dtype is a.dtype and b.context == a.context
        assert np.array_equal(b.asnumpy(), a.asnumpy())
        assert b._t.data_ptr() != a._t.data_ptr() or a.size == 0


def test_unpickle_mxnet_state():
    """MXNet pickles an NDArray as {'handle': raw NDArray bytes}; those load too."""
    src = array(np_arange(2, 2), dtype="float64")
    b = NDArray.__new__(NDArray)
    b.__setstate__({"handle": bytearray(_save_raw(src))})
    assert b.dtype is np.float64 and np.array_equal(b.asnumpy(), src.asnumpy())


def test_from_torch_shares_or_copies():
    t = torch.arange(6.0).reshape(2, 3)
    a = NDArray._from_torch(t, cpu())
    assert a._t.data_ptr() == t.data_ptr() and a.context == cpu()
    t[0, 0] = 42
    assert a.asnumpy()[0, 0] == 42
    nc = NDArray._from_torch(t.t())
    assert nc._t.is_contiguous() and nc.shape == (3, 2) and nc.context == cpu()
    with pytest.raises(TypeError, match="torch.Tensor"):
        NDArray(np.zeros(2))
    with pytest.raises(DTypeError, match="cannot hold"):
        NDArray(torch.zeros(2, dtype=torch.complex64))


def test_wait_to_read_is_harmless():
    a = array([1])
    a.wait_to_read()
    a.wait_to_write()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert a.asnumpy().tolist() == [1]
