"""Shape operators that move no arithmetic, only indices: Reshape (MXNet's special codes),
Flatten, transpose, expand_dims, broadcast_to. They lower to :class:`View` index maps, so they
fuse into their neighbours' kernels for free."""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import VIEW, OpDef, View, forward_shape, register_op
from ..types import numel, shape_str
from ._util import norm_axis


def _reshape_back(b, op, g):
    return (b.reshape(g, op.inputs[0].shape),)


# --- Reshape --------------------------------------------------------------------------------------
def mx_reshape(rc, src: tuple, spec: tuple, reverse: bool = False) -> tuple:
    """MXNet's Reshape: 0 copies a dim, -1 infers one, -2 copies the rest, -3 merges two,
    -4 splits one into the next two values (one may be -1). ``reverse`` matches from the right."""
    src = tuple(src)
    spec = tuple(spec)
    if reverse:
        src, spec = src[::-1], spec[::-1]
    out: list = []
    si = 0
    inf = -1
    i = 0

    def take():
        nonlocal si
        if si >= len(src):
            raise rc.shape_error(f"shape={_fmt(spec)} consumes more dimensions than the input "
                                 f"({shape_str(src)}) has")
        d = src[si]
        si += 1
        return d

    while i < len(spec):
        p = spec[i]
        if p == 0:
            out.append(take())
        elif p == -1:
            if inf >= 0:
                raise rc.attr_error(f"shape={_fmt(spec)}: only one dimension can be -1")
            inf = len(out)
            out.append(1)
            si += 1
        elif p == -2:
            while si < len(src):
                out.append(src[si])
                si += 1
        elif p == -3:
            d1, d2 = take(), take()
            out.append(d1 * d2)
        elif p == -4:
            if i + 2 >= len(spec):
                raise rc.attr_error(f"shape={_fmt(spec)}: -4 must be followed by two values")
            d0 = take()
            d1, d2 = spec[i + 1], spec[i + 2]
            i += 2
            if d1 == -1 and d2 == -1:
                raise rc.attr_error(f"shape={_fmt(spec)}: -4 split with both parts -1")
            if d1 == -1:
                d1 = d0 // d2
            if d2 == -1:
                d2 = d0 // d1
            if d1 * d2 != d0:
                raise rc.shape_error(f"shape={_fmt(spec)}: cannot split dimension {d0} into "
                                     f"{d1} x {d2}")
            out += [d1, d2]
        elif p > 0:
            out.append(p)
            si += 1
        else:
            raise rc.attr_error(f"shape={_fmt(spec)}: invalid code {p}; expected a positive "
                                "size, 0, -1, -2, -3 or -4")
        i += 1
    total = numel(src)
    if inf >= 0:
        rest = numel(out)
        if rest == 0 or total % rest:
            raise rc.shape_error(f"cannot reshape input of shape ({shape_str(src)}) into "
                                 f"shape={_fmt(spec)}")
        out[inf] = total // rest
    if reverse:
        out = out[::-1]
        src = src[::-1]
    if numel(out) != total:
        raise rc.shape_error(f"cannot reshape input of shape ({shape_str(src)}) "
                             f"({total} elements) into ({shape_str(tuple(out))}) "
                             f"({numel(out)} elements) from shape={_fmt(spec[::-1] if reverse else spec)}")
    return tuple(out)


def _fmt(spec):
    return "(" + ", ".join(map(str, spec)) + ")"


def _reshape_rule(rc, shapes):
    spec = rc.attrs["shape"] or rc.attrs["target_shape"]
    return mx_reshape(rc, shapes[0], spec, rc.attrs["reverse"])


class _RC:
    """A minimal rule context for interp (bad shapes were already rejected by inference)."""

    def __init__(self, name):
        self.name = name

    def shape_error(self, m):
        from ...base import ShapeError
        return ShapeError(f"{self.name}: {m}")

    attr_error = shape_error


def _np_reshape(xs, a):
    spec = a["shape"] or a["target_shape"]
    return (xs[0].reshape(mx_reshape(_RC("Reshape"), xs[0].shape, spec, a["reverse"])),)


register_op(OpDef(
    name="Reshape",
    attrs=(Attr("shape", "shape", ()), Attr("reverse", "bool", False),
           Attr("target_shape", "shape", (), doc="(deprecated) use shape"),
           Attr("keep_highest", "bool", False, doc="(deprecated)")),
    arguments=("data",), infer_shape=forward_shape(_reshape_rule),
    interp=_np_reshape, vjp=_reshape_back, lower=View("reshape"), traits={VIEW},
    aliases=("reshape",),
    doc="Reshape with MXNet's special codes 0, -1, -2, -3, -4 (and reverse).",
))


# --- Flatten, expand_dims ----------------------------------------------------------------------
def _flatten_rule(rc, shapes):
    s = shapes[0]
    if len(s) == 0:
        return (1, 1)
    return (s[0], numel(s[1:]))


register_op(OpDef(
    name="Flatten", arguments=("data",), infer_shape=forward_shape(_flatten_rule),
    interp=lambda xs, a: (xs[0].reshape(xs[0].shape[0] if xs[0].ndim else 1, -1),),
    vjp=_reshape_back, lower=View("reshape"), traits={VIEW}, aliases=("flatten",),
    doc="(N, d1, d2, ...) -> (N, d1*d2*...).",
))


def _expand_rule(rc, shapes):
    s = shapes[0]
    ax = rc.attrs["axis"]
    if not -len(s) - 1 <= ax <= len(s):
        raise rc.attr_error(f"axis={ax} is out of range for a {len(s)}-d input; expected "
                            f"{-len(s) - 1} <= axis <= {len(s)}")
    ax = ax % (len(s) + 1)
    return tuple(s[:ax]) + (1,) + tuple(s[ax:])


register_op(OpDef(
    name="expand_dims", attrs=(Attr("axis", "int"),), arguments=("data",),
    infer_shape=forward_shape(_expand_rule),
    interp=lambda xs, a: (np.expand_dims(xs[0], a["axis"]),),
    vjp=_reshape_back, lower=View("reshape"), traits={VIEW},
))


# --- transpose --------------------------------------------------------------------------------------
def _perm(rc, ndim):
    axes = rc.attrs["axes"]
    if not axes:
        return tuple(range(ndim))[::-1]
    if len(axes) != ndim:
        raise rc.attr_error(f"axes={tuple(axes)} has {len(axes)} entries for a {ndim}-d input")
    p = tuple(norm_axis(rc, a, ndim) for a in axes)
    if sorted(p) != list(range(ndim)):
        raise rc.attr_error(f"axes={tuple(axes)} is not a permutation of 0..{ndim - 1}")
    return p


class _AttrsRC:
    def __init__(self, attrs, name="transpose"):
        self.attrs = attrs
        self.name = name

    def attr_error(self, m):
        from ...base import AttrError
        return AttrError(f"{self.name}: {m}")


def _transpose_rule(rc, shapes):
    s = shapes[0]
    return tuple(s[i] for i in _perm(rc, len(s)))


def _transpose_index(attrs, in_shape, out_shape, out_idx):
    p = _perm(_AttrsRC(attrs), len(in_shape))
    idx = [None] * len(p)
    for o, i in enumerate(p):
        idx[i] = out_idx[o]
    return idx


def _transpose_vjp(b, op, g):
    p = _perm(_AttrsRC(op.attrs), len(op.inputs[0].shape))
    inv = [0] * len(p)
    for o, i in enumerate(p):
        inv[i] = o
    return (b.transpose(g, inv),)


register_op(OpDef(
    name="transpose", attrs=(Attr("axes", "shape", ()),), arguments=("data",),
    infer_shape=forward_shape(_transpose_rule),
    interp=lambda xs, a: (np.transpose(xs[0], _perm(_AttrsRC(a), xs[0].ndim)),),
    vjp=_transpose_vjp, lower=View("custom", _transpose_index), traits={VIEW},
    doc="Permute axes; empty axes reverses them.",
))


# --- broadcast_to -------------------------------------------------------------------------------
def _bto_rule(rc, shapes):
    s = shapes[0]
    t = rc.attrs["shape"]
    if len(t) != len(s):
        raise rc.shape_error(f"cannot broadcast input of shape ({shape_str(s)}) to "
                             f"shape={_fmt(t)}: ranks differ")
    out = []
    for a, b in zip(s, t):
        b = a if b == 0 else b
        if a != b and a != 1:
            raise rc.shape_error(f"cannot broadcast input of shape ({shape_str(s)}) to "
                                 f"shape={_fmt(t)}: a dimension of size {a} is not 1")
        out.append(b)
    return tuple(out)


def _bto_np(xs, a):
    x = xs[0]
    t = tuple(d if d != 0 else x.shape[i] for i, d in enumerate(a["shape"]))
    return (np.broadcast_to(x, t).copy(),)


register_op(OpDef(
    name="broadcast_to", attrs=(Attr("shape", "shape", ()),), arguments=("data",),
    infer_shape=forward_shape(_bto_rule), interp=_bto_np,
    vjp=lambda b, op, g: (b.sum_to(g, op.inputs[0].shape),),
    lower=View("broadcast"), traits={VIEW},
    doc="Broadcast size-1 dims to shape (0 keeps the input's size).",
))
