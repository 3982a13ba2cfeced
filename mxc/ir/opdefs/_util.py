"""Helpers that keep one-line operator definitions one line."""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import (ELEMENTWISE, Elementwise, OpDef, broadcast_shapes, forward_shape,
                        register_op, same_dtype, same_shape)

__all__ = ["unary", "binary", "broadcast", "scalar_op", "norm_axis", "norm_axes", "SCALAR_ATTRS",
           "np_dtype", "bool_to"]

SCALAR_ATTRS = (
    Attr("scalar", "float", 1.0, doc="Scalar input value"),
    Attr("is_int", "bool", True, doc="Indicate whether scalar input is int type"),
)


def np_dtype(x) -> np.dtype:
    return np.asarray(x).dtype


def bool_to(x: np.ndarray, like) -> np.ndarray:
    """MXNet comparisons return the input's dtype (1/0), not bool."""
    return np.asarray(x).astype(np.asarray(like).dtype)


def unary(name, np_fn, formula, vjp=None, *, aliases=(), differentiable=True, doc="",
          attrs=(), infer_dtype=None, traits=()):
    """A same-shape unary elementwise op. ``formula(k, attrs, x)``; ``np_fn(x, attrs)``."""
    return register_op(OpDef(
        name=name, attrs=tuple(attrs), arguments=("data",), infer_shape=same_shape,
        infer_dtype=infer_dtype or same_dtype,
        interp=lambda xs, a: (np_fn(xs[0], a),),
        vjp=vjp, differentiable=differentiable and vjp is not None,
        lower=Elementwise(formula), traits={ELEMENTWISE, *traits}, aliases=tuple(aliases),
        doc=doc,
    ))


def binary(name, np_fn, formula, vjp=None, *, aliases=(), differentiable=True, doc="",
           commutative=False, infer_dtype=None, arguments=("lhs", "rhs")):
    """A same-shape binary elementwise op (MXNet's ``elemwise_*`` and ``_maximum`` family)."""
    from ..registry import COMMUTATIVE
    return register_op(OpDef(
        name=name, arguments=arguments, infer_shape=same_shape,
        infer_dtype=infer_dtype or same_dtype,
        interp=lambda xs, a: (np_fn(xs[0], xs[1], a),),
        vjp=vjp, differentiable=differentiable and vjp is not None,
        lower=Elementwise(formula),
        traits={ELEMENTWISE} | ({COMMUTATIVE} if commutative else set()),
        aliases=tuple(aliases), doc=doc,
    ))


def _bcast_rule(rc, shapes):
    a, b = shapes
    return broadcast_shapes(rc, a, b)


def broadcast(name, np_fn, formula, vjp=None, *, aliases=(), differentiable=True, doc="",
              commutative=False, infer_dtype=None):
    """A numpy-broadcasting binary op (MXNet's ``broadcast_*`` family)."""
    from ..registry import COMMUTATIVE
    return register_op(OpDef(
        name=name, arguments=("lhs", "rhs"), infer_shape=forward_shape(_bcast_rule),
        infer_dtype=infer_dtype or same_dtype,
        interp=lambda xs, a: (np_fn(xs[0], xs[1], a),),
        vjp=vjp, differentiable=differentiable and vjp is not None,
        lower=Elementwise(formula),
        traits={ELEMENTWISE} | ({COMMUTATIVE} if commutative else set()),
        aliases=tuple(aliases), doc=doc,
    ))


def scalar_op(name, np_fn, formula, vjp=None, *, aliases=(), differentiable=True, doc=""):
    """``op(data, scalar)``: ``np_fn(x, s)``, ``formula(k, attrs, x)`` reads ``attrs['scalar']``."""
    return register_op(OpDef(
        name=name, attrs=SCALAR_ATTRS, arguments=("data",), infer_shape=same_shape,
        interp=lambda xs, a: (np_fn(xs[0], np.asarray(a["scalar"], dtype=xs[0].dtype)),),
        vjp=vjp, differentiable=differentiable and vjp is not None,
        lower=Elementwise(formula), traits={ELEMENTWISE}, aliases=tuple(aliases), doc=doc,
    ))


def norm_axis(rc, axis: int, ndim: int) -> int:
    """A non-negative axis, or an AttrError naming the operator and the accepted range."""
    if not -ndim <= axis < ndim:
        raise rc.attr_error(f"axis={axis} is out of range for a {ndim}-d input; "
                            f"expected {-ndim} <= axis < {ndim}")
    return axis % ndim


def norm_axes(rc, axes, ndim: int) -> tuple:
    out = sorted({norm_axis(rc, a, ndim) for a in axes})
    if len(out) != len(tuple(axes)):
        raise rc.attr_error(f"axis={tuple(axes)} repeats an axis")
    return tuple(out)
