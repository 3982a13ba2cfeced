"""Reductions over axes: sum, mean, prod, max, min, nansum, nanprod.

MXNet 1.x conventions: ``axis=None`` or ``()`` reduces everything into shape ``(1,)`` (there are
no 0-d arrays in legacy mode); ``exclude=True`` reduces the axes *not* listed.
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import REDUCE, OpDef, Reduce, forward_shape, register_op
from ._util import norm_axes

REDUCE_ATTRS = (
    Attr("axis", "shape", None, optional=True,
         doc="The axis or axes along which to reduce; None or () reduces all."),
    Attr("keepdims", "bool", False),
    Attr("exclude", "bool", False),
)


class _RC:
    def __init__(self, attrs, name):
        self.attrs = attrs
        self.name = name

    def attr_error(self, m):
        from ...base import AttrError
        return AttrError(f"{self.name}: {m}")


def reduce_axes(rc, ndim: int) -> tuple:
    """The reduced axes, sorted and non-negative."""
    axis = rc.attrs["axis"]
    if axis is None or len(axis) == 0:
        axes = tuple(range(ndim))
        return () if rc.attrs["exclude"] and axis is not None else axes
    axes = norm_axes(rc, axis, ndim)
    if rc.attrs["exclude"]:
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
    return reduce_axes(_RC(attrs, "reduce"), len(in_shape))


def _np(fn):
    def f(xs, a):
        x = xs[0]
        axes = reduce_axes(_RC(a, "reduce"), x.ndim)
        r = fn(x, axis=axes, keepdims=True) if axes else x.copy()
        return (r.reshape(reduced_shape(x.shape, axes, a["keepdims"])),)
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


def _mean_post(k, attrs, acc, n):
    return k.div(acc, k.const(n, acc.dtype))


def _nan_to(v):
    def pre(k, x):
        return k.where(k.ne(x, x), k.const(v, x.dtype), x)
    return pre


def _keepdims(attrs):
    return attrs["keepdims"]


for _name, _fn, _kind, _vjp, _post, _pre, _al in (
    ("sum", np.sum, "sum", _vjp_sum, None, None, ("sum_axis",)),
    ("mean", np.mean, "sum", _vjp_mean, _mean_post, None, ()),
    ("prod", np.prod, "prod", _vjp_prod, None, None, ()),
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
    ))
