"""Bad attributes and shapes of the elementwise, reduction, sorting and linear-algebra operators
raise mxc's errors (subclasses of MXNetError and of the builtin a Python user expects) whose
message starts with the operator and the symbol name and names the attribute or shapes and what
is accepted. Also MXNet's Python-level ``mx.sym.maximum/minimum/hypot/pow/power``."""
from __future__ import annotations

import re

import pytest

import mxc as mx
from mxc.base import AttrError, DTypeError, MXNetError, ShapeError, UnsupportedError

a, b, c = mx.sym.var("a"), mx.sym.var("b"), mx.sym.var("c")


def _raises(exc, fn, *fragments):
    with pytest.raises(exc) as ei:
        fn()
    msg = str(ei.value)
    assert isinstance(ei.value, MXNetError)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return msg


# --- attributes: checked when the symbol is created -------------------------------------------------
@pytest.mark.parametrize("fn,fragments", [
    (lambda: mx.sym.Activation(a, act_type="bogus", name="act"),
     ["Activation 'act'", "act_type='bogus'", "'relu'", "'sigmoid'", "'softrelu'", "'softsign'",
      "'tanh'"]),
    (lambda: mx.sym.clip(a, a_max=1.0, name="clp"), ["clip 'clp'", "a_min", "missing"]),
    (lambda: mx.sym.clip(a, a_min="low", a_max=1.0, name="clp"),
     ["clip 'clp'", "a_min='low'", "number"]),
    (lambda: mx.sym._internal._power_scalar(a, scalar="abc", name="pw"),
     ["_power_scalar 'pw'", "scalar='abc'", "number"]),
    (lambda: mx.sym.norm(a, ord=3, name="nrm"), ["norm 'nrm'", "ord=3", "1 or 2"]),
    (lambda: mx.sym.norm(a, out_dtype="int16", name="nrm"),
     ["norm 'nrm'", "out_dtype='int16'", "'float32'", "'int64'"]),
    (lambda: mx.sym.topk(a, ret_typ="values", name="tk"),
     ["topk 'tk'", "ret_typ='values'", "'both'", "'indices'", "'mask'", "'value'"]),
    (lambda: mx.sym.topk(a, dtype="int16", name="tk"), ["topk 'tk'", "dtype='int16'", "'int32'"]),
    (lambda: mx.sym.argsort(a, dtype="int16", name="srt"),
     ["argsort 'srt'", "dtype='int16'", "'float32'", "'uint8'"]),
    (lambda: mx.sym.sort(a, is_ascend="maybe", name="srt"),
     ["sort 'srt'", "is_ascend='maybe'", "boolean"]),
    (lambda: mx.sym.sum(a, keepdims="yes", name="s"), ["sum 's'", "keepdims='yes'", "boolean"]),
    (lambda: mx.sym.SoftmaxOutput(a, b, normalization="all", name="so"),
     ["SoftmaxOutput 'so'", "normalization='all'", "'null'", "'batch'", "'valid'"]),
    (lambda: mx.sym.FullyConnected(a, num_hidden=0, name="fc"),
     ["FullyConnected 'fc'", "num_hidden=0", "num_hidden >= 1"]),
])
def test_bad_attribute(fn, fragments):
    _raises(AttrError, fn, *fragments)


def test_unsupported_softmax_length():
    _raises(UnsupportedError, lambda: mx.sym.softmax(a, use_length=True, name="sm"),
            "softmax 'sm'", "use_length", "not support")


# --- attributes that depend on the input's shape: checked by shape inference ----------------------------
@pytest.mark.parametrize("sym,shapes,fragments", [
    (lambda: mx.sym.sum(a, axis=3, name="s"), {"a": (3, 4)},
     ["sum 's'", "axis=3", "-2 <= axis < 2"]),
    (lambda: mx.sym.mean(a, axis=(1, -1), name="m"), {"a": (3, 4)},
     ["mean 'm'", "axis=(1, -1)", "repeats"]),
    (lambda: mx.sym.max(a, axis=-3, exclude=True, name="mx"), {"a": (3, 4)},
     ["max 'mx'", "axis=-3"]),
    (lambda: mx.sym.norm(a, axis=2, name="nrm"), {"a": (3, 4)}, ["norm 'nrm'", "axis=2"]),
    (lambda: mx.sym.argmax(a, axis=2, name="am"), {"a": (3, 4)},
     ["argmax 'am'", "axis=2", "-2 <= axis < 2"]),
    (lambda: mx.sym.argmin(a, axis=-3, name="am"), {"a": (3, 4)}, ["argmin 'am'", "axis=-3"]),
    (lambda: mx.sym.topk(a, k=9, name="tk"), {"a": (3, 4)},
     ["topk 'tk'", "k=9", "k <= 4"]),
    (lambda: mx.sym.topk(a, k=13, axis=None, name="tk"), {"a": (3, 4)},
     ["topk 'tk'", "k=13", "flattened", "k <= 12"]),
    (lambda: mx.sym.sort(a, axis=5, name="srt"), {"a": (3, 4)}, ["sort 'srt'", "axis=5"]),
    (lambda: mx.sym.softmax(a, axis=2, name="sm"), {"a": (3, 4)}, ["softmax 'sm'", "axis=2"]),
    (lambda: mx.sym.linalg.gemm2(a, b, axis=-1, name="g2"), {"a": (3, 4), "b": (4, 6)},
     ["_linalg_gemm2 'g2'", "axis=-1", "last"]),
    (lambda: mx.sym.dot(a, b, transpose_a=True, name="d"), {"a": (3,), "b": (3,)},
     ["dot 'd'", "transpose_a=True", "1-d"]),
])
def test_bad_attribute_for_shape(sym, shapes, fragments):
    _raises(AttrError, lambda: sym().infer_shape(**shapes), *fragments)


# --- shapes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sym,shapes,fragments", [
    (lambda: mx.sym.elemwise_add(a, b, name="add"), {"a": (3, 4), "b": (2, 4)},
     ["elemwise_add 'add'", "lhs has shape (3,4)", "rhs has shape (2,4)"]),
    (lambda: mx.sym._internal._maximum(a, b, name="mx"), {"a": (3, 4), "b": (3, 1)},
     ["_maximum 'mx'", "(3,4)", "(3,1)"]),
    (lambda: mx.sym.broadcast_add(a, b, name="badd"), {"a": (3, 4), "b": (2, 4)},
     ["broadcast_add 'badd'", "(3,4)", "(2,4)", "broadcast"]),
    (lambda: mx.sym.broadcast_power(a, b, name="bp"), {"a": (2, 3, 4), "b": (5,)},
     ["broadcast_power 'bp'", "(2,3,4)", "(5)"]),
    (lambda: mx.sym.dot(a, b, name="d"), {"a": (3, 4), "b": (5, 6)},
     ["dot 'd'", "(3,4)", "(5,6)", "contracted"]),
    (lambda: mx.sym.dot(a, b, transpose_a=True, name="d"), {"a": (3, 4), "b": (4, 6)},
     ["dot 'd'", "transpose_a=True"]),
    (lambda: mx.sym.batch_dot(a, b, name="bd"), {"a": (3, 4), "b": (4, 6)},
     ["batch_dot 'bd'", "(3,4)", "N >= 3"]),
    (lambda: mx.sym.batch_dot(a, b, name="bd"), {"a": (2, 3, 4), "b": (3, 4, 6)},
     ["batch_dot 'bd'", "batch dimensions"]),
    (lambda: mx.sym.batch_dot(a, b, transpose_b=True, name="bd"), {"a": (2, 3, 4), "b": (2, 4, 6)},
     ["batch_dot 'bd'", "contracted", "transpose_b=True"]),
    (lambda: mx.sym.linalg.gemm(a, b, c, name="g"), {"a": (3, 4), "b": (4, 6), "c": (3, 5)},
     ["_linalg_gemm 'g'", "C has shape (3,5)", "expected (3,6)"]),
    (lambda: mx.sym.linalg.gemm2(a, b, name="g2"), {"a": (2, 3, 4), "b": (1, 4, 5)},
     ["_linalg_gemm2 'g2'", "batch dimensions"]),
    (lambda: mx.sym.linalg.gemm2(a, b, name="g2"), {"a": (3, 4), "b": (5, 6)},
     ["_linalg_gemm2 'g2'", "contracted"]),
    (lambda: mx.sym.SoftmaxOutput(a, b, name="so"), {"a": (3, 4), "b": (4,)},
     ["SoftmaxOutput 'so'", "label has shape", "(3)"]),
    (lambda: mx.sym.SoftmaxOutput(a, b, multi_output=True, name="so"),
     {"a": (2, 3, 4), "b": (2, 5)}, ["SoftmaxOutput 'so'", "(2,4)"]),
    (lambda: mx.sym.FullyConnected(a, b, num_hidden=5, no_bias=True, name="fc"),
     {"a": (2, 6), "b": (5, 7)}, ["FullyConnected 'fc'", "weight", "(5,6)"]),
    (lambda: mx.sym.argmax_channel(a, name="amc"), {"a": (6,)},
     ["argmax_channel 'amc'", "at least 2"]),
])
def test_bad_shapes(sym, shapes, fragments):
    _raises(ShapeError, lambda: sym().infer_shape(**shapes), *fragments)


def test_dtype_mismatch():
    msg = _raises(DTypeError, lambda: mx.sym.elemwise_add(a, b, name="add").infer_type(
        a="float32", b="int32"), "elemwise_add 'add'", "lhs=float32", "rhs=int32")
    assert re.search(r"share one dtype", msg)


def test_errors_are_the_builtins_users_catch():
    with pytest.raises(ValueError):
        mx.sym.broadcast_add(a, b).infer_shape(a=(3, 4), b=(2, 4))
    with pytest.raises(ValueError):
        mx.sym.Activation(a, act_type="bogus")
    with pytest.raises(NotImplementedError):
        mx.sym.softmax(a, use_length=True)


def test_compile_reports_the_same_error():
    with pytest.raises(ShapeError, match="broadcast_mul 'bm'"):
        mx.compile(mx.sym.broadcast_mul(a, b, name="bm"), shapes={"a": (3, 4), "b": (3, 5)})


# --- MXNet's Python-level functions of mx.sym --------------------------------------------------------
def _op_of(s):
    import json
    return json.loads(s.tojson())["nodes"][-1]["op"]


def test_symbol_maximum_minimum_hypot_pow():
    assert _op_of(mx.sym.maximum(a, b)) == "_maximum"
    assert _op_of(mx.sym.maximum(a, 2)) == "_maximum_scalar"
    assert _op_of(mx.sym.maximum(2, a)) == "_maximum_scalar"
    assert _op_of(mx.sym.minimum(a, b)) == "_minimum"
    assert _op_of(mx.sym.minimum(0.5, a)) == "_minimum_scalar"
    assert _op_of(mx.sym.hypot(a, b)) == "_hypot"
    assert _op_of(mx.sym.hypot(a, 3)) == "_hypot_scalar"
    assert _op_of(mx.sym.pow(a, b)) == "_power"
    assert _op_of(mx.sym.pow(a, 2)) == "_power_scalar"
    assert _op_of(mx.sym.pow(2, a)) == "_rpower_scalar"
    assert _op_of(mx.sym.power(a, 3)) == "_power_scalar"
    assert mx.sym.maximum(2, 3.5) == 3.5 and mx.sym.minimum(2, 3.5) == 2
    assert mx.sym.pow(2, 3) == 8 and mx.sym.power(2, 3) == 8
    assert mx.sym.hypot(3, 4) == 5.0
    # MXNet's automatic names come from the internal op called: _maximum0, _maximumscalar0
    with mx.sym.NameManager():
        assert mx.sym.maximum(a, b).name == "_maximum0"
        assert mx.sym.maximum(a, 1).name == "_maximumscalar0"


def test_symbol_maximum_values_and_no_broadcasting():
    import numpy as np
    x = np.array([3, 5, 2, 10], np.float32)
    y = np.array([10, 2, 2, 1], np.float32)
    c1 = mx.compile(mx.sym.maximum(a, b), shapes={"a": (4,), "b": (4,)})
    np.testing.assert_array_equal(c1(x, y)[0], np.maximum(x, y))
    c2 = mx.compile(mx.sym.maximum(a, 4), shapes={"a": (4,)})
    np.testing.assert_array_equal(c2(x)[0], np.maximum(x, 4))
    with pytest.raises(ShapeError):
        mx.sym.maximum(a, b).infer_shape(a=(3, 4), b=(1, 4))


def test_symbol_maximum_bad_types():
    with pytest.raises(TypeError, match="not supported"):
        mx.sym.maximum(a, "x")
    with pytest.raises(TypeError, match="not supported"):
        mx.sym.pow("2", a)
