"""Reductions over axes: sum, mean, prod, max, min, nansum, nanprod, norm, and the arg-reductions
argmax, argmin, argmax_channel.

MXNet 1.9.1 conventions (src/operator/tensor/broadcast_reduce_op*.{h,cc}, checked against the
oracle with tools/golden_cases/reduce.py):

- ``axis=None`` or ``()`` reduces everything into shape ``(1,)`` (no 0-d arrays in legacy
  mode), with or without ``exclude``; negative axes count from the end; ``exclude=True``
  reduces the axes *not* listed (listing them all reduces nothing); ``keepdims`` keeps reduced
  axes as size 1.
- Gradients: ``sum`` broadcasts, ``mean`` divides by the count, ``prod`` is ``g * y / x``;
  ``max``/``min`` give the whole gradient to *every* element equal to the extreme; ``nansum``
  and ``nanprod`` give none to NaN elements.
- float16 inputs accumulate in float32 (MXNet sums 3000 float16 ones to 3000); integer inputs
  accumulate in their own type (``mean`` divides with truncation).
- ``norm``: ``ord=2`` is ``sqrt(sum(x^2))`` (a 2-tuple axis gives the Frobenius norm), ``ord=1``
  is ``sum(|x|)``; the gradient is ``x / norm`` (NaN where the norm is 0, as in MXNet) or
  ``sign(x)``. MXNet 1.9.1 fails at run time when ``out_dtype`` differs from the input dtype;
  mxc casts the result instead.
- ``argmax``/``argmin`` return indices in the input's dtype (float32 for float32 inputs), the
  first index among ties; NaN counts as the maximum; ``axis=None`` searches the flattened
  input (shape ``(1,)``, or all ones with ``keepdims``). They have no gradient.
  ``argmax_channel`` is ``argmax(axis=1)``.
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import REDUCE, Extern, OpDef, Reduce, forward_dtype, forward_shape, register_op
from ..types import DType
from ._util import norm_axes, norm_axis

REDUCE_ATTRS = (
    Attr("axis", "shape", None, optional=True,
         doc="The axis or axes along which to reduce; None or () reduces all."),
    Attr("keepdims", "bool", False,
         doc="Keep the reduced axes as dimensions of size one."),
    Attr("exclude", "bool", False,
         doc="Reduce the axes that are NOT in axis instead."),
)


class _RC:
    """What :func:`norm_axes` needs to raise a clear error outside a shape rule."""

    def __init__(self, attrs, name, opname="reduce"):
        self.attrs = attrs
        self.name = name
        self.opname = opname

    def attr_error(self, m):
        from ...base import AttrError, op_prefix
        return AttrError(f"{op_prefix(self.opname, self.name)}: {m}")


def reduce_axes(rc, ndim: int) -> tuple:
    """The reduced axes, sorted and non-negative."""
    axis = rc.attrs["axis"]
    exclude = rc.attrs.get("exclude", False)
    if axis is None or len(axis) == 0:
        return tuple(range(ndim))       # MXNet: no axis (or ()) reduces all, exclude or not
    axes = norm_axes(rc, axis, ndim)
    if exclude:
        axes = tuple(i for i in range(ndim) if i not in axes)
    return axes


def reduced_shape(shape, axes, keepdims) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    out = tuple(d for i, d in enumerate(shape) if i not in axes)
    return out if out else (1,)


def _rule(rc, shapes):
    s = shapes[0]
    return reduced_shape(s, reduce_axes(rc, len(s)), rc.attrs["keepdims"])


def _axes_of(attrs, in_shape):
    return reduce_axes(_RC(attrs, None), len(in_shape))


def _np(fn):
    def f(xs, a):
        x = xs[0]
        axes = reduce_axes(_RC(a, None), x.ndim)
        xa = x.astype(np.float32) if x.dtype == np.float16 else x
        with np.errstate(all="ignore"):
            r = fn(xa, axis=axes, keepdims=True) if axes else xa.copy()
        if x.dtype.kind in "iu" and fn is np.mean:     # integer mean: sum / n, truncated
            n = int(np.prod([x.shape[i] for i in axes])) if axes else 1
            s = np.sum(x, axis=axes, keepdims=True) if axes else x
            r = np.trunc(s / n)
        return (np.asarray(r).astype(x.dtype).reshape(
            reduced_shape(x.shape, axes, a["keepdims"])),)
    return f


def _keep(b, op, v):
    """``v`` (shaped like the output) reshaped so it broadcasts against the input."""
    x = op.inputs[0]
    axes = _axes_of(op.attrs, x.shape)
    return b.reshape(v, reduced_shape(x.shape, axes, True))


def _vjp_sum(b, op, g):
    return (b.broadcast_to(_keep(b, op, g), op.inputs[0].shape),)


def _vjp_mean(b, op, g):
    x = op.inputs[0]
    axes = _axes_of(op.attrs, x.shape)
    n = int(np.prod([x.shape[i] for i in axes])) if axes else 1
    return (b.broadcast_to(_keep(b, op, b.mul(g, 1.0 / n)), x.shape),)


def _vjp_extreme(b, op, g):
    # MXNet: every element equal to the extreme receives the full gradient
    x = op.inputs[0]
    y = b.broadcast_to(_keep(b, op, op.outputs[0]), x.shape)
    gb = b.broadcast_to(_keep(b, op, g), x.shape)
    return (b.mul(gb, b.op("_equal", [x, y])),)


def _vjp_prod(b, op, g):
    x = op.inputs[0]
    y = b.broadcast_to(_keep(b, op, op.outputs[0]), x.shape)
    gb = b.broadcast_to(_keep(b, op, g), x.shape)
    return (b.mul(gb, b.div(y, x)),)


def _vjp_nansum(b, op, g):
    x = op.inputs[0]
    gb = b.broadcast_to(_keep(b, op, g), x.shape)
    return (b.mul(gb, b.op("_equal", [x, x])),)


def _vjp_nanprod(b, op, g):
    x = op.inputs[0]
    y = b.broadcast_to(_keep(b, op, op.outputs[0]), x.shape)
    gb = b.broadcast_to(_keep(b, op, g), x.shape)
    d = b.mul(gb, b.div(y, x))
    return (b.where(b.op("_equal", [x, x]), d, b.zeros_like(d)),)


def _wide(k, x):
    """float16/bfloat16 accumulate in float32 (MXNet's reducers do)."""
    if x.dtype in (DType.f16, DType.bf16):
        return k.cast(x, DType.f32)
    return x


def _mean_post(k, attrs, acc, n):
    return k.div(acc, k.const(n, acc.dtype))


def _nan_to(v):
    def pre(k, x):
        x = _wide(k, x)
        return k.where(k.ne(x, x), k.const(v, x.dtype), x)
    return pre


def _keepdims(attrs):
    return attrs["keepdims"]


for _name, _fn, _kind, _vjp, _post, _pre, _al in (
    ("sum", np.sum, "sum", _vjp_sum, None, _wide, ("sum_axis",)),
    ("mean", np.mean, "sum", _vjp_mean, _mean_post, _wide, ()),
    ("prod", np.prod, "prod", _vjp_prod, None, _wide, ()),
    ("max", np.max, "max", _vjp_extreme, None, None, ("max_axis",)),
    ("min", np.min, "min", _vjp_extreme, None, None, ("min_axis",)),
    ("nansum", np.nansum, "sum", _vjp_nansum, None, _nan_to(0.0), ()),
    ("nanprod", np.nanprod, "prod", _vjp_nanprod, None, _nan_to(1.0), ()),
):
    register_op(OpDef(
        name=_name, attrs=REDUCE_ATTRS, arguments=("data",), infer_shape=forward_shape(_rule),
        interp=_np(_fn), vjp=_vjp,
        differentiable=_vjp is not None,
        lower=Reduce(_kind, _axes_of, _keepdims, _post, _pre), traits={REDUCE}, aliases=_al,
        doc=f"{_name} over the given axes (MXNet's reduce conventions: axis=None -> (1,), "
            "keepdims, exclude).",
    ))


# --- norm ------------------------------------------------------------------------------------------
_OUT_DTYPES = ("float16", "float32", "float64", "int32", "int64", "int8")


def _norm_validate(rc):
    if rc.attrs["ord"] not in (1, 2):
        raise rc.attr_error(f"attribute ord={rc.attrs['ord']} is not supported; expected 1 or 2")


def _norm_dtype(rc, dts):
    od = rc.attrs["out_dtype"]
    return dts, [DType.parse(od) if od is not None else dts[0]]


def _norm_np(xs, a):
    x = xs[0]
    axes = reduce_axes(_RC(a, None), x.ndim)
    xd = x.astype(np.float64)
    if a["ord"] == 1:
        r = np.sum(np.abs(xd), axis=axes, keepdims=True)
    else:
        r = np.sqrt(np.sum(xd * xd, axis=axes, keepdims=True))
    od = a["out_dtype"]
    dt = DType.parse(od).numpy if od is not None else x.dtype
    return (r.reshape(reduced_shape(x.shape, axes, a["keepdims"])).astype(dt),)


def _norm_decompose(b, op):
    x = op.inputs[0]
    a = op.attrs
    axes = reduce_axes(_RC(a, op.name, "norm"), len(x.shape))
    t = b.op("abs", [x]) if a["ord"] == 1 else b.square(x)
    r = b.op("sum", [t], {"axis": axes, "keepdims": a["keepdims"]})
    if a["ord"] == 2:
        r = b.sqrt(r)
    if a["out_dtype"] is not None:
        r = b.cast(r, a["out_dtype"])
    return [r]


register_op(OpDef(
    name="norm",
    attrs=(Attr("ord", "int", 2, doc="Order of the norm: 1 or 2."),
           Attr("axis", "shape", None, optional=True,
                doc="The axis or axes to reduce; None reduces all into shape (1,)."),
           Attr("out_dtype", "str", None, optional=True, choices=_OUT_DTYPES,
                doc="The data type of the output."),
           Attr("keepdims", "bool", False, doc="Keep the reduced axes as size one.")),
    arguments=("data",), infer_shape=forward_shape(_rule), infer_dtype=_norm_dtype,
    interp=_norm_np, vjp=None, decompose=_norm_decompose, validate=_norm_validate,
    aliases=("_sparse_norm",),
    doc="The L1 or L2 norm over the given axes (sum(|x|) or sqrt(sum(x^2))).",
))


# --- argmax / argmin / argmax_channel ----------------------------------------------------------------
def _arg_rule(rc, shapes):
    s = shapes[0]
    ax = rc.attrs["axis"]
    if ax is None:
        return (1,) * len(s) if rc.attrs["keepdims"] else (1,)
    ax = norm_axis(rc, ax, len(s))
    return reduced_shape(s, (ax,), rc.attrs["keepdims"])


def _arg_np(fn):
    def f(xs, a):
        x = xs[0]
        ax = a["axis"]
        if ax is None:
            r = np.asarray(fn(x.reshape(-1))).reshape((1,) * x.ndim if a["keepdims"] else (1,))
        else:
            ax %= x.ndim
            r = fn(x, axis=ax)
            r = np.expand_dims(r, ax) if a["keepdims"] else r
            if r.ndim == 0:
                r = r.reshape(1)
        return (r.astype(x.dtype),)
    return f


def _nan_argmax(x, axis=None):
    # NaN counts as the maximum (the first NaN wins), as in MXNet and torch
    if x.dtype.kind == "f" and np.isnan(x).any():
        return _first_nan(x, axis, np.argmax)
    return np.argmax(x, axis=axis)


def _nan_argmin(x, axis=None):
    if x.dtype.kind == "f" and np.isnan(x).any():
        return _first_nan(x, axis, np.argmin)
    return np.argmin(x, axis=axis)


def _first_nan(x, axis, fn):
    nan = np.isnan(x)
    base = fn(np.where(nan, 0, x), axis=axis)
    has = nan.any(axis=axis)
    return np.where(has, np.argmax(nan, axis=axis), base)


def _arg_run(which, attrs, ins, outs):
    import torch
    x = ins[0]
    ax = attrs["axis"]
    f = torch.argmax if which == "max" else torch.argmin
    if ax is None:
        r = f(x.reshape(-1))
    else:
        r = f(x, dim=ax % x.dim(), keepdim=attrs["keepdims"])
    outs[0].copy_(r.reshape(outs[0].shape))


def _argmax_extern(attrs, ins, outs):
    _arg_run("max", attrs, ins, outs)


def _argmin_extern(attrs, ins, outs):
    _arg_run("min", attrs, ins, outs)


def _arg_extern(which):
    return _argmax_extern if which == "max" else _argmin_extern


for _name, _fn, _which in (("argmax", _nan_argmax, "max"), ("argmin", _nan_argmin, "min")):
    register_op(OpDef(
        name=_name,
        attrs=(Attr("axis", "int", None, optional=True,
                    doc="The axis to search; None searches the flattened input."),
               Attr("keepdims", "bool", False, doc="Keep the reduced axis as size one.")),
        arguments=("data",), infer_shape=forward_shape(_arg_rule), interp=_arg_np(_fn),
        differentiable=False, lower=Extern(_arg_extern(_which), _name),
        doc=f"Indices of the {_which}imum values along an axis (in the input's dtype).",
    ))


def _argmax_channel_rule(rc, shapes):
    s = shapes[0]
    if len(s) < 2:
        raise rc.shape_error(f"data has shape {tuple(s)}; expected at least 2 dimensions")
    return reduced_shape(s, (1,), False)


def _argmax_channel_extern(attrs, ins, outs):
    import torch
    outs[0].copy_(torch.argmax(ins[0], dim=1).reshape(outs[0].shape))


register_op(OpDef(
    name="argmax_channel", attrs=(), arguments=("data",),
    infer_shape=forward_shape(_argmax_channel_rule),
    interp=lambda xs, a: _arg_np(_nan_argmax)(xs, {"axis": 1, "keepdims": False}),
    differentiable=False, lower=Extern(_argmax_channel_extern, "argmax_channel"),
    doc="argmax along axis 1 (the channel axis), in the input's dtype.",
))

_ = forward_dtype
