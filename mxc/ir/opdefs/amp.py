"""Automatic mixed precision's cast operators (MXNet's src/operator/tensor/amp_cast.*), the ones
``mx.contrib.amp.convert_symbol`` inserts (see :mod:`mxc.passes.amp`):

- ``amp_cast(data, dtype)``: casts between the floating types AMP uses (float32, float16,
  bfloat16) and is the identity on every other type (an int32 input stays int32 whatever
  ``dtype`` says). The gradient is cast back to the input's dtype.
- ``amp_multicast(data_0 ... data_{n-1}, num_outputs=n, cast_narrow=False)``: casts its inputs
  to one common type. Without ``cast_narrow`` that is float32 when any input is float32, else the
  first input's dtype (MXNet's rule, so an int32 first input makes a float16 second input int32);
  with ``cast_narrow`` it is the narrow type: float16 (or bfloat16) when any input has it, else
  float32. Inputs that are not float32/float16/bfloat16 pass unchanged. Each gradient is cast
  back to its input's dtype.

Both are compositions of the ``Cast`` primitive (fusion folds them into the neighbouring
kernels); ``mxc dump`` shows them by name until decomposition.
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import OpDef, register_op
from ..types import DType

__all__ = ["AMP_DTYPES", "amp_cast_dtype", "multicast_dtypes"]

AMP_DTYPES = (DType.f32, DType.f16, DType.bf16)


def amp_cast_dtype(src: DType | None, dtype: DType) -> DType | None:
    """The output dtype of ``amp_cast(x: src, dtype)`` (None while ``src`` is unknown)."""
    if src is None:
        return None
    return dtype if src in AMP_DTYPES else src


def multicast_dtypes(dts: list, cast_narrow: bool) -> list:
    """The output dtypes of ``amp_multicast`` over input dtypes ``dts`` (MXNet's
    AMPMultiCastType: the later narrow type wins with ``cast_narrow``)."""
    common = DType.f32 if cast_narrow else dts[0]
    for d in dts:
        if not cast_narrow and d == DType.f32:
            common = DType.f32
        elif cast_narrow and d in (DType.f16, DType.bf16):
            common = d
    return [None if d is None else (common if d in AMP_DTYPES else d) for d in dts]


def _to(x: np.ndarray, dt: DType) -> np.ndarray:
    """numpy ``x`` as ``dt``; bfloat16 (no numpy type) is rounded to nearest even by torch and
    carried in float32, as the reference interpreter carries it."""
    if dt == DType.bf16:
        import torch
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return t.to(torch.bfloat16).to(torch.float32).numpy()
    return np.asarray(x).astype(dt.numpy)


def _pass_shape(rc, shapes):
    """Each output has its input's shape, in both directions (MXNet's ElemwiseShape reads the
    outputs too: a parameter's shape comes back through its cast from the layer reading it)."""
    outs = list(rc.out_shapes) if rc.out_shapes else [None] * len(shapes)
    shapes = [s if s is not None else o for s, o in zip(shapes, outs)]
    return list(shapes), list(shapes)


# -- amp_cast ---------------------------------------------------------------------------------------
def _cast_rule(rc, dts):
    return list(dts), [amp_cast_dtype(dts[0], DType.parse(rc.attrs["dtype"]))]


def _cast_interp(xs, a):
    x = np.asarray(xs[0])
    dt = DType.parse(a["dtype"])
    # the reference interpreter carries bfloat16 values in float32 arrays
    if x.dtype.kind != "f" or x.dtype == np.float64:
        return (x,)
    return (_to(x, dt),)


def _cast_decompose(b, op):
    x = op.inputs[0]
    return [b.cast(x, op.outputs[0].dtype)]


def _cast_vjp(b, op, g):
    return (b.cast(g, op.inputs[0].dtype),)


register_op(OpDef(
    name="amp_cast",
    attrs=(Attr("dtype", "dtype", doc="Output data type."),),
    arguments=("data",), infer_shape=_pass_shape, infer_dtype=_cast_rule,
    interp=_cast_interp, vjp=_cast_vjp, decompose=_cast_decompose,
    doc="Cast function between low precision float/FP32 used by AMP: casts float32, float16 "
        "and bfloat16 to ``dtype``; other types pass unchanged. The gradient is cast back.",
))


# -- amp_multicast ----------------------------------------------------------------------------------
def _n(attrs) -> int:
    return int(attrs.get("num_outputs") or 0)


def _multi_rule(rc, dts):
    if any(d is None for d in dts):
        return list(dts), [None] * len(dts)
    return list(dts), multicast_dtypes(list(dts), rc.attrs["cast_narrow"])


def _multi_interp(xs, a):
    # (bfloat16 values arrive as float32 arrays here: a bfloat16 input read as float32 is
    # exact, so only cast_narrow's rounding of float32 partners to bfloat16 is not modelled)
    xs = [np.asarray(x) for x in xs]
    dts = [DType.parse(x.dtype.name) for x in xs]
    outs = multicast_dtypes(dts, a["cast_narrow"])
    return tuple(x if d == o else _to(x, o) for x, d, o in zip(xs, dts, outs))


def _multi_decompose(b, op):
    return [b.cast(x, o.dtype) for x, o in zip(op.inputs, op.outputs)]


def _multi_vjp(b, op, g):
    g = g if isinstance(g, (list, tuple)) else [g]
    return tuple(None if gi is None else b.cast(gi, x.dtype) for gi, x in zip(g, op.inputs))


register_op(OpDef(
    name="amp_multicast",
    attrs=(Attr("num_outputs", "int", doc="Number of input/output pairs to be casted to the "
                                          "widest type."),
           Attr("cast_narrow", "bool", False, doc="Whether to cast to the narrowest type")),
    variadic="num_outputs",
    outputs=lambda a: [f"output{i}" for i in range(_n(a))],
    infer_shape=_pass_shape, infer_dtype=_multi_rule,
    interp=_multi_interp, vjp=_multi_vjp, decompose=_multi_decompose,
    doc="Cast function used by AMP, that casts its inputs to the common widest type (float32 if "
        "any input is float32), or with ``cast_narrow`` to the narrowest (float16/bfloat16 if "
        "any input has it); types other than float32/float16/bfloat16 pass unchanged.",
))
