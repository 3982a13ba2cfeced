"""Shape operators that move no arithmetic, only indices: Reshape (MXNet's special codes),
Flatten, transpose, expand_dims, broadcast_to, SwapAxis, squeeze, slice, slice_axis, slice_like,
tile, repeat, reverse, broadcast_axis, broadcast_like, reshape_like. They lower to :class:`View`
index maps, so they fuse into their neighbours' kernels for free. Concat (a library call),
SliceChannel (slice views) and add_n (a sum) complete the family."""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import (
    ELEMENTWISE,
    VIEW,
    Elementwise,
    Extern,
    OpDef,
    View,
    forward_shape,
    register_op,
    same_shape,
)
from ..types import numel, shape_str
from ._util import norm_axis


def partial_shape(fn):
    """``fn(rc, shapes) -> out shape(s)`` handling unknown (None) dims: needs each input's
    rank only (MXNet's partial inference, where unknown dims stay unknown)."""
    return forward_shape(fn, partial_dims=True)


def out_shape(rc, i=0):
    """The shape inference knows so far for output ``i`` (None when unknown or not given)."""
    outs = getattr(rc, "out_shapes", None)
    return None if not outs or outs[i] is None else tuple(outs[i])


def _unify(rc, a, b, what):
    """Two partial shapes merged (None dims filled from the other), or a ShapeError."""
    if a is None:
        return None if b is None else tuple(b)
    if b is None:
        return tuple(a)
    if len(a) != len(b) or any(x is not None and y is not None and x != y
                               for x, y in zip(a, b)):
        raise rc.shape_error(f"{what}: shapes ({shape_str(a)}) and ({shape_str(b)}) conflict")
    return tuple(x if x is not None else y for x, y in zip(a, b))


def _reshape_back(b, op, g):
    return (b.reshape(g, op.inputs[0].shape),)


# --- Reshape --------------------------------------------------------------------------------------
def _known(*dims):
    return all(d is not None for d in dims)


def _mul(*dims):
    """Product of dims, None when one is unknown."""
    return numel(dims) if _known(*dims) else None


def mx_reshape(rc, src: tuple, spec: tuple, reverse: bool = False) -> tuple:
    """MXNet's Reshape: 0 copies a dim, -1 infers one, -2 copies the rest, -3 merges two,
    -4 splits one into the next two values (one may be -1). ``reverse`` matches from the right.
    Unknown (None) input dims give unknown output dims where they matter, as MXNet's partial
    inference does."""
    src = tuple(src)
    given = tuple(spec)
    spec = given
    if reverse:
        src, spec = src[::-1], spec[::-1]
    out: list = []
    si = 0
    inf = -1
    i = 0

    def take():
        nonlocal si
        if si >= len(src):
            raise rc.shape_error(f"shape={_fmt(given)} consumes more dimensions than the input "
                                 f"({shape_str(src[::-1] if reverse else src)}) has")
        d = src[si]
        si += 1
        return d

    while i < len(spec):
        p = spec[i]
        if p == 0:
            out.append(take())
        elif p == -1:
            if inf >= 0:
                raise rc.attr_error(f"shape={_fmt(given)}: only one dimension can be -1")
            inf = len(out)
            out.append(1)
            si += 1
        elif p == -2:
            while si < len(src):
                out.append(src[si])
                si += 1
        elif p == -3:
            d1, d2 = take(), take()
            out.append(_mul(d1, d2))
        elif p == -4:
            if i + 2 >= len(spec):
                raise rc.attr_error(f"shape={_fmt(given)}: -4 must be followed by two values")
            d0 = take()
            d1, d2 = spec[i + 1], spec[i + 2]
            i += 2
            if d1 == -1 and d2 == -1:
                raise rc.attr_error(f"shape={_fmt(given)}: -4 split with both parts -1")
            if d0 is None:
                d1 = None if d1 == -1 else d1
                d2 = None if d2 == -1 else d2
            else:
                if d1 == -1:
                    d1 = d0 // d2
                if d2 == -1:
                    d2 = d0 // d1
                if d1 * d2 != d0:
                    raise rc.shape_error(f"shape={_fmt(given)}: cannot split dimension {d0} "
                                         f"into {d1} x {d2}")
            out += [d1, d2]
        elif p > 0:
            out.append(p)
            si += 1
        else:
            raise rc.attr_error(f"shape={_fmt(given)}: invalid code {p}; expected a positive "
                                "size, 0, -1, -2, -3 or -4")
        i += 1
    if reverse:
        out = out[::-1]
        src = src[::-1]
        inf = len(out) - 1 - inf if inf >= 0 else -1
    if not _known(*src):
        if inf >= 0:
            out[inf] = None
        return tuple(out)
    total = numel(src)
    if inf >= 0:
        rest = _mul(*out)
        if rest is None:
            out[inf] = None
            return tuple(out)
        if rest == 0 or total % rest:
            raise rc.shape_error(f"cannot reshape input of shape ({shape_str(src)}) into "
                                 f"shape={_fmt(given)}")
        out[inf] = total // rest
    if _known(*out) and numel(out) != total:
        raise rc.shape_error(f"cannot reshape input of shape ({shape_str(src)}) "
                             f"({total} elements) into ({shape_str(tuple(out))}) "
                             f"({numel(out)} elements) from shape={_fmt(given)}")
    return tuple(out)


def _fmt(spec):
    return "(" + ", ".join(map(str, spec)) + ")"


def _reshape_rule(rc, shapes):
    spec = rc.attrs["shape"] or rc.attrs["target_shape"]
    s = shapes[0]
    o = out_shape(rc)
    if s is not None and o is not None and _known(*o) and not _known(*s):
        unknown = [i for i, d in enumerate(s) if d is None]
        if len(unknown) == 1:          # MXNet's ReverseReshapeInferShape
            rest = numel([d for d in s if d is not None])
            if rest and numel(o) % rest == 0:
                s = tuple(numel(o) // rest if d is None else d for d in s)
    if s is None:
        return [None], [None]
    return [tuple(s)], [mx_reshape(rc, s, spec, rc.attrs["reverse"])]


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
    arguments=("data",), infer_shape=_reshape_rule,
    interp=_np_reshape, vjp=_reshape_back, lower=View("reshape"), traits={VIEW},
    aliases=("reshape",),
    doc="Reshape with MXNet's special codes 0, -1, -2, -3, -4 (and reverse).",
))


# --- Flatten, expand_dims -------------------------------------------------------------------------
def _flatten_rule(rc, shapes):
    s = shapes[0]
    if len(s) == 0:
        return (1, 1)
    return (s[0], _mul(*s[1:]))


register_op(OpDef(
    name="Flatten", arguments=("data",), infer_shape=forward_shape(_flatten_rule, partial_dims="unknown"),
    interp=lambda xs, a: (xs[0].reshape(xs[0].shape[0] if xs[0].ndim else 1, -1),),
    vjp=_reshape_back, lower=View("reshape"), traits={VIEW}, aliases=("flatten",),
    doc="(N, d1, d2, ...) -> (N, d1*d2*...).",
))


def _expand_bidi(rc, shapes):
    s, o = shapes[0], out_shape(rc)
    if o is not None:
        ax = rc.attrs["axis"]
        if -len(o) <= ax < len(o):
            ax %= len(o)
            s = _unify(rc, s, o[:ax] + o[ax + 1:], "data and output")
    if s is None:
        return [None], [None]
    return [tuple(s)], [_expand_rule(rc, [tuple(s)])]


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
    infer_shape=_expand_bidi,
    interp=lambda xs, a: (np.expand_dims(xs[0], a["axis"]),),
    vjp=_reshape_back, lower=View("reshape"), traits={VIEW},
))


# --- transpose ------------------------------------------------------------------------------------
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


def _transpose_bidi(rc, shapes):
    s, o = shapes[0], out_shape(rc)
    if o is not None:
        p = _perm(rc, len(o))
        inv = [None] * len(p)
        for k, i in enumerate(p):
            inv[i] = o[k]
        s = _unify(rc, s, tuple(inv), "data and output")
    if s is None:
        return [None], [None]
    return [tuple(s)], [_transpose_rule(rc, [tuple(s)])]


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
    infer_shape=_transpose_bidi,
    interp=lambda xs, a: (np.transpose(xs[0], _perm(_AttrsRC(a), xs[0].ndim)),),
    vjp=_transpose_vjp, lower=View("custom", _transpose_index), traits={VIEW},
    doc="Permute axes; empty axes reverses them.",
))


# --- broadcast_to ---------------------------------------------------------------------------------
def _bto_rule(rc, shapes):
    s = shapes[0]
    t = rc.attrs["shape"]
    if len(t) != len(s):
        raise rc.shape_error(f"cannot broadcast input of shape ({shape_str(s)}) to "
                             f"shape={_fmt(t)}: ranks differ")
    out = []
    for a, b in zip(s, t):
        b = a if b == 0 else b
        if a is not None and a != b and a != 1:
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
    infer_shape=partial_shape(_bto_rule), interp=_bto_np,
    vjp=lambda b, op, g: (b.sum_to(g, op.inputs[0].shape),),
    lower=View("broadcast"), traits={VIEW},
    doc="Broadcast size-1 dims to shape (0 keeps the input's size).",
))


# ==================================================================================================
# MXNet 1.9.1's other shape operators. Index remappings lower to ``View`` index maps (they fuse
# into neighbouring kernels); ops whose second input only lends its shape (slice_like,
# broadcast_like, reshape_like) decompose into the one-input view. Gradients: slices pad the
# gradient with zeros (``_slice_scatter``: a wrapped view plus a mask, both fusible), tiling and
# repeating sum over reshaped views, broadcasting sums back (``sum_to``).
# ==================================================================================================
class _Ctx:
    """A rule context outside shape inference (index maps, interp, vjp): errors name the op."""

    def __init__(self, opname, attrs, name=None):
        self.opname = opname
        self.attrs = attrs
        self.name = name

    @property
    def where(self):
        from ...base import op_prefix
        return op_prefix(self.opname, self.name)

    def attr_error(self, m):
        from ...base import AttrError
        return AttrError(f"{self.where}: {m}")

    def shape_error(self, m):
        from ...base import ShapeError
        return ShapeError(f"{self.where}: {m}")


def _op_ctx(op):
    return _Ctx(op.opname, op.attrs, op.name)


def _tup(t) -> str:
    """A tuple as MXNet prints attributes: ``(1, None, -2)``."""
    t = tuple(t)
    inner = ", ".join("None" if v is None else str(v) for v in t)
    return f"({inner},)" if len(t) == 1 else f"({inner})"


def _sh(s) -> str:
    return f"({shape_str(tuple(s))})"


def _axis_in(rc, key, value, ndim, what="input"):
    """``value`` normalized into [0, ndim), or an AttrError naming ``key`` and the range."""
    if not -ndim <= value < ndim:
        raise rc.attr_error(f"{key}={value} is out of range for a {ndim}-d {what}; expected "
                            f"{-ndim} <= {key} < {ndim}")
    return value % ndim


def _delinearize(off, shape):
    """Row-major multi-index of ``off`` (an int or an index expression)."""
    out = []
    stride = numel(shape)
    for d in shape:
        stride //= d
        out.append(0 if d == 1 else (off // stride) % d)
    return out


# --- SwapAxis -------------------------------------------------------------------------------------
def _swap_dims(rc, ndim):
    return [_axis_in(rc, k, rc.attrs[k], ndim) for k in ("dim1", "dim2")]


def _swap_rule(rc, shapes):
    s = shapes[0]
    if s is None:
        return [None], [None]
    d1, d2 = _swap_dims(rc, len(s))
    o = list(s)
    o[d1], o[d2] = o[d2], o[d1]
    return [tuple(s)], [tuple(o)]


def _swap_index(attrs, in_shape, out_shape, out_idx):
    d1, d2 = _swap_dims(_Ctx("SwapAxis", attrs), len(in_shape))
    idx = list(out_idx)
    idx[d1], idx[d2] = out_idx[d2], out_idx[d1]
    return idx


register_op(OpDef(
    name="SwapAxis", attrs=(Attr("dim1", "int", 0), Attr("dim2", "int", 0)),
    arguments=("data",), infer_shape=_swap_rule,
    interp=lambda xs, a: (np.swapaxes(xs[0], *_swap_dims(_Ctx("SwapAxis", a), xs[0].ndim)),),
    vjp=lambda b, op, g: (b.op("SwapAxis", [g], {"dim1": op.attrs["dim1"],
                                                 "dim2": op.attrs["dim2"]}),),
    lower=View("custom", _swap_index), traits={VIEW}, aliases=("swapaxes",),
    doc="Interchange two axes (negative axes count from the end).",
))


# --- squeeze --------------------------------------------------------------------------------------
def _squeeze_shape(rc, s):
    ax = rc.attrs["axis"]
    nd = len(s)
    if ax is None:
        drop = {i for i, d in enumerate(s) if d == 1}
    else:
        drop = set()
        for a in ax:
            if not -nd <= a < nd:
                raise rc.attr_error(f"axis={_tup(ax)}: axis {a} is out of range for a {nd}-d "
                                    f"input; expected {-nd} <= axis < {nd}")
            a %= nd
            if a in drop:
                raise rc.attr_error(f"axis={_tup(ax)} repeats axis {a}")
            if s[a] not in (1, None):
                raise rc.shape_error(f"axis={_tup(ax)}: cannot squeeze axis {a} of input shape "
                                     f"{_sh(s)}: its size is {s[a]}; expected size 1")
            drop.add(a)
    out = tuple(d for i, d in enumerate(s) if i not in drop)
    return out if out else (1,)


register_op(OpDef(
    name="squeeze", attrs=(Attr("axis", "shape", None, optional=True),), arguments=("data",),
    infer_shape=forward_shape(lambda rc, sh: _squeeze_shape(rc, sh[0]), partial_dims="unknown"),
    interp=lambda xs, a: (xs[0].reshape(_squeeze_shape(_Ctx("squeeze", a), xs[0].shape)),),
    vjp=_reshape_back, lower=View("reshape"), traits={VIEW},
    doc="Remove size-1 axes (all of them, or those in axis); an all-ones shape becomes (1,).",
))


# --- slice, slice_axis, slice_like ----------------------------------------------------------------
def slice_ranges(rc, shape, begin, end, step) -> list:
    """``[(b, s, n)]`` for every axis of ``shape``: output index ``j`` along the axis reads input
    index ``b + s*j`` for ``0 <= j < n``. MXNet's GetIndexRange / SetSliceOpOutputDimSize: None
    entries take the axis' start or end (by the sign of the step), negative indices count from
    the end, out-of-range indices clip. mxc has no empty arrays: an empty selection raises."""
    begin, end, step = tuple(begin), tuple(end), tuple(step or ())
    nd = len(shape)
    if len(begin) != len(end):
        raise rc.attr_error(f"begin={_tup(begin)} and end={_tup(end)} must have the same length")
    if len(begin) > nd:
        raise rc.attr_error(f"begin={_tup(begin)} slices {len(begin)} axes of a {nd}-d input "
                            f"of shape {_sh(shape)}; expected at most {nd} entries")
    if step and len(step) != len(begin):
        raise rc.attr_error(f"step={_tup(step)} has {len(step)} entries; expected "
                            f"{len(begin)} (one per entry of begin) or none")
    out = []
    for i, L in enumerate(shape):
        if i >= len(begin):
            out.append((0, 1, L))
            continue
        s = step[i] if step and step[i] is not None else 1
        if s == 0:
            raise rc.attr_error(f"step={_tup(step)}: step[{i}] is 0; expected a non-zero step")
        if L is None:
            out.append((None, s, None))
            continue
        b = begin[i] if begin[i] is not None else (L - 1 if s < 0 else 0)
        e = end[i] if end[i] is not None else (-1 if s < 0 else L)
        if b < 0:
            b += L
        if e < 0 and end[i] is not None:
            e += L
        if b < 0 and s > 0:
            b = 0
        if b > L - 1 and s < 0:
            b = L - 1
        if b < 0 or b > L - 1:
            b = -1
        e = min(max(e, -1), L)
        n = 0
        if e != b and b >= 0:
            if s > 0:
                n = (e - b - 1) // s + 1 if e > b else 0
            else:
                n = (b - e - 1) // (-s) + 1 if e < b else 0
        if n <= 0:
            order = "begin < end" if s > 0 else "begin > end (step < 0)"
            raise rc.shape_error(
                f"begin={_tup(begin)}, end={_tup(end)}"
                + (f", step={_tup(step)}" if step else "")
                + f" select no elements along axis {i} of input shape {_sh(shape)}; expected "
                f"{order} within the axis' size {L} (mxc has no empty arrays)")
        out.append((b, s, n))
    return out


def _np_slices(ranges):
    out = []
    for b, s, n in ranges:
        stop = b + s * n
        out.append(slice(b, stop if stop >= 0 else None, s))
    return tuple(out)


def _ranges_index(ranges, out_idx):
    return [i if (b, s) == (0, 1) else i * s + b for (b, s, n), i in zip(ranges, out_idx)]


def _shifts(ranges, shape) -> list:
    """``[(axis, begin, lo, hi)]`` of the axes of a slice (``ranges`` as from
    :func:`slice_ranges`) whose begin could be any of several values for these shapes: every
    begin in ``[lo, hi]`` keeps the ``n`` indices ``begin + s*j`` inside the axis."""
    out = []
    for ax, ((b, s, n), L) in enumerate(zip(ranges, shape)):
        if b is None or L is None:
            return []
        span = s * (n - 1)
        lo, hi = max(0, -span), min(L - 1, L - 1 - span)
        if hi > lo:
            out.append((ax, b, lo, hi))
    return out


def _slice_ranges_of(rc, shape):
    a = rc.attrs
    return slice_ranges(rc, shape, a["begin"], a["end"], a["step"])


def _scatter_back(b, g, ranges, full_shape):
    """The gradient of a slice: ``g`` placed at ``ranges`` of a zero array of ``full_shape``."""
    if all((rb, rs, rn) == (0, 1, L) for (rb, rs, rn), L in zip(ranges, full_shape)):
        return b.reshape(g, full_shape)
    return b.op("_slice_scatter", [g], {"shape": tuple(full_shape),
                                         "begin": tuple(r[0] for r in ranges),
                                         "step": tuple(r[1] for r in ranges)})


register_op(OpDef(
    name="slice",
    attrs=(Attr("begin", "shape", none_items=True), Attr("end", "shape", none_items=True),
           Attr("step", "shape", (), none_items=True)),
    arguments=("data",),
    infer_shape=partial_shape(lambda rc, sh: tuple(r[2] for r in _slice_ranges_of(rc, sh[0]))),
    interp=lambda xs, a: (xs[0][_np_slices(_slice_ranges_of(_Ctx("slice", a), xs[0].shape))],),
    vjp=lambda b, op, g: (_scatter_back(b, g, _slice_ranges_of(_op_ctx(op), op.inputs[0].shape),
                                        op.inputs[0].shape),),
    lower=View("custom", lambda a, ish, osh, idx: _ranges_index(
        _slice_ranges_of(_Ctx("slice", a), ish), idx),
        shift=lambda a, ish, osh: _shifts(_slice_ranges_of(_Ctx("slice", a), ish), ish),
        shift_attrs=("begin", "end")),
    traits={VIEW}, aliases=("crop",),
    doc="x[begin:end:step] per axis; None entries and negative indices as in Python.",
))


def slice_axis_range(rc, shape):
    """(axis, begin, end) of slice_axis, normalized and checked as MXNet does."""
    a = rc.attrs
    nd = len(shape)
    ax = _axis_in(rc, "axis", a["axis"], nd)
    L = shape[ax]
    b, e = a["begin"], a["end"]
    if L is None:
        return ax, None, None
    b2 = b + L if b < 0 else b
    e2 = L if e is None else (e + L if e < 0 else e)
    if not 0 <= e2 <= L:
        raise rc.attr_error(f"end={e} is out of range for axis {ax} of input shape {_sh(shape)};"
                            f" expected {-L} <= end <= {L} or None")
    if not 0 <= b2 < L:
        raise rc.attr_error(f"begin={b} is out of range for axis {ax} of input shape "
                            f"{_sh(shape)}; expected {-L} <= begin < {L}")
    if b2 >= e2:
        raise rc.attr_error(f"begin={b} and end={e} select nothing on axis {ax} of input shape "
                            f"{_sh(shape)}; expected begin < end")
    return ax, b2, e2


def _slice_axis_ranges(rc, shape):
    ax, b, e = slice_axis_range(rc, shape)
    n = None if b is None else e - b
    return [(b, 1, n) if i == ax else (0, 1, L) for i, L in enumerate(shape)]


register_op(OpDef(
    name="slice_axis",
    attrs=(Attr("axis", "int"), Attr("begin", "int"), Attr("end", "int", optional=True)),
    arguments=("data",),
    infer_shape=partial_shape(lambda rc, sh: tuple(r[2] for r in _slice_axis_ranges(rc, sh[0]))),
    interp=lambda xs, a: (xs[0][_np_slices(_slice_axis_ranges(_Ctx("slice_axis", a),
                                                              xs[0].shape))],),
    vjp=lambda b, op, g: (_scatter_back(b, g, _slice_axis_ranges(_op_ctx(op),
                                                                 op.inputs[0].shape),
                                        op.inputs[0].shape),),
    lower=View("custom", lambda a, ish, osh, idx: _ranges_index(
        _slice_axis_ranges(_Ctx("slice_axis", a), ish), idx),
        shift=lambda a, ish, osh: _shifts(_slice_axis_ranges(_Ctx("slice_axis", a), ish), ish),
        shift_attrs=("begin", "end")),
    traits={VIEW},
    doc="x[begin:end] along one axis (end=None: to the end).",
))


def _slice_like_shape(rc, s, like):
    axes = rc.attrs["axes"]
    nd = len(s)
    out = list(s)
    if not axes:
        if len(like) != nd:
            raise rc.shape_error(f"data has shape {_sh(s)} and shape_like has shape {_sh(like)};"
                                 " without axes their ranks must be equal")
        sel = list(range(nd))
    else:
        sel = []
        for a in axes:
            a2 = a + nd if a < 0 else a
            if not 0 <= a2 < nd:
                raise rc.attr_error(f"axes={_tup(axes)}: axis {a} is out of range for data of "
                                    f"shape {_sh(s)}; expected {-nd} <= axis < {nd}")
            if a2 >= len(like):
                raise rc.attr_error(f"axes={_tup(axes)}: axis {a} (axis {a2} of data) does not "
                                    f"exist in shape_like of shape {_sh(like)}")
            sel.append(a2)
    for a in sel:
        if _known(like[a], s[a]) and like[a] > s[a]:
            raise rc.shape_error(f"shape_like has size {like[a]} on axis {a}, larger than data "
                                 f"of shape {_sh(s)}; expected shape_like {_sh(like)} to fit "
                                 "inside data")
        out[a] = like[a]
    return tuple(out)


def _slice_like_rule(rc, shapes):
    s, like = shapes
    if s is None or like is None:
        return list(shapes), [None]
    return list(shapes), [_slice_like_shape(rc, tuple(s), tuple(like))]


def _prefix_ranges(out):
    return [(0, 1, o) for o in out]


register_op(OpDef(
    name="slice_like", attrs=(Attr("axes", "shape", ()),), arguments=("data", "shape_like"),
    infer_shape=_slice_like_rule,
    infer_dtype=lambda rc, d: (list(d), [d[0]]),
    interp=lambda xs, a: (xs[0][tuple(slice(0, o) for o in _slice_like_shape(
        _Ctx("slice_like", a), xs[0].shape, xs[1].shape))],),
    vjp=lambda b, op, g: (_scatter_back(b, g, _prefix_ranges(op.outputs[0].shape),
                                        op.inputs[0].shape), None),
    decompose=lambda b, op: [b.op("slice", [op.inputs[0]], {
        "begin": (0,) * len(op.inputs[0].shape), "end": tuple(op.outputs[0].shape)})],
    doc="data sliced from the start to shape_like's size on axes (all axes by default); "
        "shape_like gets no gradient.",
))


# --- _slice_scatter: the gradient of every slice --------------------------------------------------
def _scatter_ranges(attrs, n_shape):
    return list(zip(attrs["begin"], attrs["step"], n_shape))


def _scatter_rule(rc, shapes):
    a = rc.attrs
    full = tuple(a["shape"])
    s = shapes[0]
    if len(a["begin"]) != len(full) or len(a["step"]) != len(full):
        raise rc.attr_error(f"begin={_tup(a['begin'])} and step={_tup(a['step'])} need one "
                            f"entry per axis of shape={_tup(full)}")
    if s is not None and None not in s:
        if len(s) != len(full):
            raise rc.shape_error(f"input of shape {_sh(s)} does not have the rank of "
                                 f"shape={_tup(full)}")
        for (b, st, n), L in zip(_scatter_ranges(a, s), full):
            last = b + st * (n - 1)
            if st == 0 or not (0 <= b < L and 0 <= last < L):
                raise rc.shape_error(f"input of shape {_sh(s)} placed at begin={_tup(a['begin'])}"
                                     f" step={_tup(a['step'])} does not fit shape={_tup(full)}")
    return [s], [full]


def _scatter_np(xs, a):
    x = xs[0]
    out = np.zeros(a["shape"], x.dtype)
    out[_np_slices(_scatter_ranges(a, x.shape))] = x
    return (out,)


def _wrap_map(i, b, s, n, L):
    """Input index read at full index ``i`` (int or index expression): ``(i - b) / s`` where that
    is a slice position, else some in-range index (masked off by ``_slice_scatter_mask``)."""
    if (b, s, n) == (0, 1, L):
        return i
    if s > 0:
        c = (-b) % (s * n)
        return ((i + c) // s) % n
    m = -s * n
    k = max(0, -(-(L - 1 - b) // m))
    return (((i * -1) + (b + k * m)) // (-s)) % n


def _scatter_view_index(attrs, in_shape, out_shape, out_idx):
    return [_wrap_map(i, b, s, n, L) for i, (b, s, n), L in
            zip(out_idx, _scatter_ranges(attrs, in_shape), out_shape)]


def _scatter_view_np(xs, a):
    x = xs[0]
    full = tuple(a["shape"])
    idx = [np.array([_wrap_map(i, b, s, n, L) for i in range(L)], dtype=np.int64)
           for (b, s, n), L in zip(_scatter_ranges(a, x.shape), full)]
    return (x[np.ix_(*idx)],)


def _mask_ranges(attrs):
    return list(zip(attrs["begin"], attrs["step"], attrs["size"]))


def _scatter_decompose(b, op):
    a = op.attrs
    x = op.inputs[0]
    v = b.op("_slice_scatter_view", [x], dict(a))
    full = tuple(a["shape"])
    keep = [i for i, ((rb, rs, rn), L) in enumerate(zip(_scatter_ranges(a, x.shape), full))
            if (rb, rs, rn) != (0, 1, L)]
    ranges = _scatter_ranges(a, x.shape)
    # axes the slice covers entirely need no test: size -1 tells the mask to skip them
    begin = tuple(r[0] if i in keep else 0 for i, r in enumerate(ranges))
    step = tuple(r[1] if i in keep else 1 for i, r in enumerate(ranges))
    size = tuple(r[2] if i in keep else -1 for i, r in enumerate(ranges))
    return [b.op("_slice_scatter_mask", [v], {"begin": begin, "step": step, "size": size})]


def _scatter_vjp(b, op, g):
    a = op.attrs
    x = op.inputs[0]
    begin, end = [], []
    for (rb, rs, rn) in _scatter_ranges(a, x.shape):
        stop = rb + rs * rn
        begin.append(rb)
        end.append(stop if stop >= 0 else None)
    return (b.op("slice", [g], {"begin": tuple(begin), "end": tuple(end),
                                "step": tuple(a["step"])}),)


_SCATTER_ATTRS = (Attr("shape", "shape"), Attr("begin", "shape"), Attr("step", "shape"))
register_op(OpDef(
    name="_slice_scatter", attrs=_SCATTER_ATTRS, arguments=("data",),
    infer_shape=_scatter_rule, interp=_scatter_np, vjp=_scatter_vjp,
    decompose=_scatter_decompose,
    doc="(internal) zeros of `shape` with data placed at begin + step*j: the gradient of a slice.",
))
register_op(OpDef(
    name="_slice_scatter_view", attrs=_SCATTER_ATTRS, arguments=("data",),
    infer_shape=_scatter_rule, interp=_scatter_view_np, differentiable=False,
    lower=View("custom", _scatter_view_index), traits={VIEW},
    doc="(internal) data read at the slice position of each index of `shape` (wrapped into range "
        "elsewhere); _slice_scatter_mask zeroes the positions outside the slice.",
))


def _mask_formula(k, a, x):
    from ..types import DType
    cond = None
    for d, (b, s, n) in enumerate(_mask_ranges(a)):
        if n < 0:
            continue                      # the slice covers this axis
        i = k.index(d)
        lo, hi = (b, b + s * (n - 1)) if s > 0 else (b + s * (n - 1), b)
        c = k.and_(k.ge(i, k.const(lo, DType.i64)), k.le(i, k.const(hi, DType.i64)))
        if abs(s) > 1:
            r = k.mod(k.sub(i, k.const(b, DType.i64)) if s > 0 else
                      k.sub(k.const(b, DType.i64), i), k.const(abs(s), DType.i64))
            c = k.and_(c, k.eq(r, k.const(0, DType.i64)))
        cond = c if cond is None else k.and_(cond, c)
    if cond is None:
        return x
    return k.where(cond, x, k.const(0, x.dtype))


def _mask_np(xs, a):
    x = xs[0]
    keep = np.ones(x.shape, bool)
    for d, ((b, s, n), L) in enumerate(zip(_mask_ranges(a), x.shape)):
        if n < 0:
            continue
        pos = np.zeros(L, bool)
        pos[_np_slices([(b, s, n)])[0]] = True
        shape = [1] * x.ndim
        shape[d] = L
        keep = keep & pos.reshape(shape)
    return (np.where(keep, x, np.zeros((), x.dtype)),)


register_op(OpDef(
    name="_slice_scatter_mask",
    attrs=(Attr("begin", "shape"), Attr("step", "shape"), Attr("size", "shape")),
    arguments=("data",), infer_shape=same_shape, interp=_mask_np,
    vjp=lambda b, op, g: (b.op("_slice_scatter_mask", [g], dict(op.attrs)),),
    lower=Elementwise(_mask_formula), traits={ELEMENTWISE},
    doc="(internal) data where the index lies on the slice begin + step*j (0 <= j < size) of "
        "every axis with size >= 0, else 0.",
))


# --- tile, repeat ---------------------------------------------------------------------------------
def _tile_dims(rc, s):
    """(data shape, reps), both padded with leading 1s to one rank (numpy's tile)."""
    reps = tuple(rc.attrs["reps"])
    for r in reps:
        if r < 1:
            raise rc.attr_error(f"reps={_tup(reps)} has the entry {r}; expected every entry >= 1 "
                                "(mxc has no empty arrays)")
    nd = max(len(s), len(reps))
    return (1,) * (nd - len(s)) + tuple(s), (1,) * (nd - len(reps)) + reps


def _tile_shape(rc, s):
    s2, r2 = _tile_dims(rc, s)
    return tuple(_mul(a, r) for a, r in zip(s2, r2))


def _tile_index(attrs, in_shape, out_shape, out_idx):
    lead = len(out_shape) - len(in_shape)
    return [out_idx[lead + i] % d for i, d in enumerate(in_shape)]


def _tile_vjp(b, op, g):
    x = op.inputs[0]
    s2, r2 = _tile_dims(_op_ctx(op), x.shape)
    split, axes = [], []
    for d, r in zip(s2, r2):
        if r != 1:
            axes.append(len(split))
            split.append(r)
        split.append(d)
    if not axes:
        return (b.reshape(g, x.shape),)
    y = b.sum(b.reshape(g, split), axis=tuple(axes))
    return (b.reshape(y, x.shape),)


register_op(OpDef(
    name="tile", attrs=(Attr("reps", "shape"),), arguments=("data",),
    infer_shape=forward_shape(lambda rc, sh: _tile_shape(rc, sh[0]), partial_dims="unknown"),
    interp=lambda xs, a: (np.tile(xs[0], _tile_dims(_Ctx("tile", a), xs[0].shape)[1]),),
    vjp=_tile_vjp, lower=View("custom", _tile_index), traits={VIEW},
    doc="Repeat the whole array reps[i] times along axis i (numpy's tile).",
))


def _repeat_axis(rc, s):
    R = rc.attrs["repeats"]
    if R < 1:
        raise rc.attr_error(f"repeats={R}; expected repeats >= 1 (mxc has no empty arrays)")
    ax = rc.attrs["axis"]
    if ax is None:
        return None
    return _axis_in(rc, "axis", ax, len(s))


def _repeat_shape(rc, s):
    R = rc.attrs["repeats"]
    ax = _repeat_axis(rc, s)
    if ax is None:
        return (_mul(*s, R),)
    return tuple(_mul(d, R) if i == ax else d for i, d in enumerate(s))


def _repeat_index(attrs, in_shape, out_shape, out_idx):
    R = attrs["repeats"]
    ax = _repeat_axis(_Ctx("repeat", attrs), in_shape)
    if ax is None:
        return _delinearize(out_idx[0] // R, in_shape)
    idx = list(out_idx)
    idx[ax] = out_idx[ax] // R
    return idx


def _repeat_vjp(b, op, g):
    x = op.inputs[0]
    R = op.attrs["repeats"]
    ax = _repeat_axis(_op_ctx(op), x.shape)
    if R == 1:
        return (b.reshape(g, x.shape),)
    if ax is None:
        y = b.sum(b.reshape(g, (numel(x.shape), R)), axis=1)
    else:
        s = tuple(x.shape)
        y = b.sum(b.reshape(g, s[:ax + 1] + (R,) + s[ax + 1:]), axis=ax + 1)
    return (b.reshape(y, x.shape),)


register_op(OpDef(
    name="repeat", attrs=(Attr("repeats", "int"), Attr("axis", "int", None, optional=True)),
    arguments=("data",), infer_shape=partial_shape(lambda rc, sh: _repeat_shape(rc, sh[0])),
    interp=lambda xs, a: (np.repeat(xs[0], a["repeats"], a["axis"]),),
    vjp=_repeat_vjp, lower=View("custom", _repeat_index), traits={VIEW},
    doc="Repeat each element `repeats` times along axis (axis=None: of the flattened array).",
))


# --- reverse --------------------------------------------------------------------------------------
def _reverse_axes(rc, ndim):
    """Axes reversed an odd number of times (MXNet applies each listed axis in turn)."""
    axes = rc.attrs["axis"]
    flip = set()
    for a in axes:
        if not 0 <= a < ndim:
            raise rc.attr_error(f"axis={_tup(axes)}: axis {a} is out of range for a {ndim}-d "
                                f"input; expected 0 <= axis < {ndim} (MXNet 1.9.1's reverse "
                                "takes no negative axes)")
        flip ^= {a}
    return flip


def _reverse_index(attrs, in_shape, out_shape, out_idx):
    flip = _reverse_axes(_Ctx("reverse", attrs), len(in_shape))
    return [i * -1 + (L - 1) if d in flip else i for d, (i, L) in enumerate(zip(out_idx,
                                                                               in_shape))]


def _reverse_rule(rc, shapes):
    s = _unify(rc, shapes[0], out_shape(rc), "data and output")
    if s is None:
        return [None], [None]
    _reverse_axes(rc, len(s))
    return [s], [s]


def _reverse_np(xs, a):
    x = xs[0]
    flip = _reverse_axes(_Ctx("reverse", a), x.ndim)
    return (np.flip(x, tuple(sorted(flip))).copy() if flip else x.copy(),)


register_op(OpDef(
    name="reverse", attrs=(Attr("axis", "shape"),), arguments=("data",),
    infer_shape=_reverse_rule,
    interp=_reverse_np,
    vjp=lambda b, op, g: (b.op("reverse", [g], {"axis": tuple(op.attrs["axis"])}),),
    lower=View("custom", _reverse_index), traits={VIEW}, aliases=("flip",),
    doc="Reverse the order of elements along the given axes.",
))


# --- broadcast_axis, broadcast_like, reshape_like -------------------------------------------------
def _bcast_axis_shape(rc, s):
    axes, size = tuple(rc.attrs["axis"]), tuple(rc.attrs["size"])
    if len(axes) != len(size):
        raise rc.attr_error(f"axis={_tup(axes)} and size={_tup(size)} must have the same length")
    out = list(s)
    nd = len(s)
    for a, n in zip(axes, size):
        if not 0 <= a < nd:
            raise rc.attr_error(f"axis={_tup(axes)}: axis {a} is out of range for a {nd}-d "
                                f"input; expected 0 <= axis < {nd} (MXNet 1.9.1's broadcast_axis "
                                "takes no negative axes)")
        if s[a] not in (1, None):
            raise rc.shape_error(f"axis={_tup(axes)}: axis {a} of input shape {_sh(s)} has size "
                                 f"{s[a]}; expected size 1 to broadcast")
        if n < 1:
            raise rc.attr_error(f"size={_tup(size)} has the entry {n}; expected sizes >= 1 (mxc "
                                "has no empty arrays)")
        out[a] = n
    return tuple(out)


register_op(OpDef(
    name="broadcast_axis", attrs=(Attr("axis", "shape", ()), Attr("size", "shape", ())),
    arguments=("data",), infer_shape=forward_shape(lambda rc, sh: _bcast_axis_shape(rc, sh[0]),
                                                partial_dims="unknown"),
    interp=lambda xs, a: (np.broadcast_to(xs[0], _bcast_axis_shape(
        _Ctx("broadcast_axis", a), xs[0].shape)).copy(),),
    vjp=lambda b, op, g: (b.sum_to(g, op.inputs[0].shape),),
    lower=View("broadcast"), traits={VIEW}, aliases=("broadcast_axes",),
    doc="Broadcast size-1 axes to the given sizes.",
))


def _bcast_like_shape(rc, l, r):
    la, ra = rc.attrs["lhs_axes"], rc.attrs["rhs_axes"]
    if la is None or ra is None:
        if len(l) != len(r):
            raise rc.shape_error(f"lhs of shape {_sh(l)} cannot be broadcast like rhs of shape "
                                 f"{_sh(r)}: ranks differ")
        for x, y in zip(l, r):
            if x != y and x != 1:
                raise rc.shape_error(f"lhs of shape {_sh(l)} cannot be broadcast like rhs of "
                                     f"shape {_sh(r)}: a dimension of size {x} is not 1")
        return tuple(r)
    if len(la) != len(ra):
        raise rc.attr_error(f"lhs_axes={_tup(la)} and rhs_axes={_tup(ra)} must have the same "
                            "length")
    out = list(l)
    for a, b in zip(la, ra):
        a2 = _axis_in(rc, "lhs_axes", a, len(l), "lhs")
        b2 = _axis_in(rc, "rhs_axes", b, len(r), "rhs")
        if l[a2] != 1:
            raise rc.shape_error(f"lhs_axes={_tup(la)}: axis {a2} of lhs of shape {_sh(l)} has "
                                 f"size {l[a2]}; expected size 1 to broadcast to {r[b2]}")
        out[a2] = r[b2]
    return tuple(out)


def _like_rule(fn):
    def rule(rc, shapes):
        l, r = shapes
        if l is None or r is None or None in l or None in r:
            return list(shapes), [None]
        return list(shapes), [fn(rc, tuple(l), tuple(r))]
    return rule


def _lhs_dtype(rc, dts):
    return list(dts), [dts[0]]


register_op(OpDef(
    name="broadcast_like",
    attrs=(Attr("lhs_axes", "shape", None, optional=True),
           Attr("rhs_axes", "shape", None, optional=True)),
    arguments=("lhs", "rhs"), infer_shape=_like_rule(_bcast_like_shape), infer_dtype=_lhs_dtype,
    interp=lambda xs, a: (np.broadcast_to(xs[0], _bcast_like_shape(
        _Ctx("broadcast_like", a), xs[0].shape, xs[1].shape)).copy(),),
    vjp=lambda b, op, g: (b.sum_to(g, op.inputs[0].shape), None),
    decompose=lambda b, op: [b.broadcast_to(op.inputs[0], op.outputs[0].shape)],
    doc="Broadcast lhs to rhs's shape (or lhs_axes to the sizes of rhs_axes); rhs gets no "
        "gradient.",
))


def _rl_range(rc, which, nd):
    a = rc.attrs
    b, e = a[f"{which}_begin"], a[f"{which}_end"]
    b2 = 0 if b is None else (b + nd if b < 0 else b)
    e2 = nd if e is None else (e + nd if e < 0 else e)
    if not (0 <= b2 < e2 <= nd):
        raise rc.attr_error(f"{which}_begin={b}, {which}_end={e} give the axes [{b2}, {e2}) of "
                            f"the {nd}-d {which}; expected 0 <= begin < end <= {nd}")
    return b2, e2


def _reshape_like_shape(rc, l, r):
    lb, le = _rl_range(rc, "lhs", len(l))
    rb, re = _rl_range(rc, "rhs", len(r))
    out = tuple(l[:lb]) + tuple(r[rb:re]) + tuple(l[le:])
    if numel(out) != numel(l):
        raise rc.shape_error(f"cannot reshape lhs of shape {_sh(l)} ({numel(l)} elements) into "
                             f"{_sh(out)} ({numel(out)} elements) taken from rhs of shape "
                             f"{_sh(r)}")
    return out


register_op(OpDef(
    name="reshape_like",
    attrs=tuple(Attr(n, "int", None, optional=True)
                for n in ("lhs_begin", "lhs_end", "rhs_begin", "rhs_end")),
    arguments=("lhs", "rhs"), infer_shape=_like_rule(_reshape_like_shape),
    infer_dtype=_lhs_dtype,
    interp=lambda xs, a: (xs[0].reshape(_reshape_like_shape(_Ctx("reshape_like", a),
                                                            xs[0].shape, xs[1].shape)),),
    vjp=lambda b, op, g: (b.reshape(g, op.inputs[0].shape), None),
    decompose=lambda b, op: [b.reshape(op.inputs[0], op.outputs[0].shape)],
    doc="Reshape lhs[lhs_begin:lhs_end] to rhs[rhs_begin:rhs_end]'s dims; rhs gets no gradient.",
))


# --- Concat, SliceChannel -------------------------------------------------------------------------
def _concat_axis(rc, ndim):
    d = rc.attrs["dim"]
    if not -ndim <= d < ndim:
        raise rc.attr_error(f"dim={d} is out of range for {ndim}-d inputs; expected "
                            f"{-ndim} <= dim < {ndim}")
    return d % ndim


def _concat_rule(rc, shapes):
    known = [(i, tuple(s)) for i, s in enumerate(shapes) if s is not None]
    o = out_shape(rc)
    if not known:
        return list(shapes), [o]
    i0, s0 = known[0]
    nd = len(s0)
    ax = _concat_axis(rc, nd)
    common = [None] * nd
    src = [None] * nd
    for i, s in known:
        if len(s) != nd:
            raise rc.shape_error(f"arg{i0} has shape {_sh(s0)} and arg{i} has shape {_sh(s)}; "
                                 "expected inputs of one rank")
        for d in range(nd):
            if d == ax or s[d] is None:
                continue
            if common[d] is None:
                common[d], src[d] = s[d], i
            elif common[d] != s[d]:
                j = src[d]
                raise rc.shape_error(f"shapes do not match: arg{j} has shape "
                                     f"{_sh(shapes[j])} and arg{i} has shape {_sh(s)}; expected "
                                     f"equal sizes on every axis except dim={rc.attrs['dim']}")
    if o is not None and len(o) == nd:
        for d in range(nd):
            if d != ax and common[d] is None:
                common[d] = o[d]
    sizes = [None if s is None else s[ax] for s in shapes]
    missing = [i for i, n in enumerate(sizes) if n is None]
    if len(missing) == 1 and o is not None and len(o) == nd and o[ax] is not None:
        rest = sum(n for n in sizes if n is not None)
        if o[ax] > rest:            # the one unknown size, from the output's
            sizes[missing[0]] = o[ax] - rest
    ins = []
    for s in sizes:
        t = list(common)
        t[ax] = s
        ins.append(tuple(t))
    out = list(common)
    out[ax] = sum(sizes) if None not in sizes else None
    return ins, [tuple(out)]


def _concat_fn(attrs, ins, outs):
    import torch
    ax = attrs["dim"] % ins[0].dim()
    torch.cat(list(ins), dim=ax, out=outs[0])


def _concat_vjp(b, op, g):
    ax = _concat_axis(_op_ctx(op), len(g.shape))
    if len(op.inputs) == 1:
        return (g,)
    out, off = [], 0
    for v in op.inputs:
        n = v.shape[ax]
        out.append(b.op("slice_axis", [g], {"axis": ax, "begin": off, "end": off + n}))
        off += n
    return tuple(out)


register_op(OpDef(
    name="Concat",
    attrs=(Attr("num_args", "int", check=lambda v: None if v >= 1 else
                "is not accepted; expected num_args >= 1"),
           Attr("dim", "int", 1)),
    variadic="num_args", infer_shape=_concat_rule,
    interp=lambda xs, a: (np.concatenate(xs, axis=a["dim"] % xs[0].ndim),),
    vjp=_concat_vjp, lower=Extern(_concat_fn, "concat"), aliases=("concat",),
    doc="Join the inputs along dim; the gradient slices the output gradient back.",
))


def _split_info(rc, s):
    a = rc.attrs
    n = a["num_outputs"]
    ax = _axis_in(rc, "axis", a["axis"], len(s))
    L = s[ax]
    if L is None:
        part = tuple(None if i == ax else d for i, d in enumerate(s))
        out = tuple(d for i, d in enumerate(s) if i != ax) if a["squeeze_axis"] else part
        return ax, None, part, out
    if L % n:
        raise rc.shape_error(f"cannot split axis {ax} of input shape {_sh(s)} (size {L}) into "
                             f"num_outputs={n} equal parts; expected a size divisible by {n}")
    if a["squeeze_axis"] and L != n:
        raise rc.shape_error(f"squeeze_axis=True needs axis {ax} of input shape {_sh(s)} to have"
                             f" size num_outputs={n}; it has size {L}")
    part = tuple(L // n if i == ax else d for i, d in enumerate(s))
    out = tuple(d for i, d in enumerate(s) if i != ax) if a["squeeze_axis"] else part
    return ax, L // n, part, out


def _split_rule(rc, s):
    _, _, _, out = _split_info(rc, s[0])
    return [out] * rc.attrs["num_outputs"]


def _split_np(xs, a):
    x = xs[0]
    ax, _, _, out = _split_info(_Ctx("SliceChannel", a), x.shape)
    return tuple(p.reshape(out) for p in np.split(x, a["num_outputs"], axis=ax))


def _split_decompose(b, op):
    x = op.inputs[0]
    ax, k, _, out = _split_info(_op_ctx(op), x.shape)
    res = []
    for i in range(op.attrs["num_outputs"]):
        v = x if k == x.shape[ax] else b.op("slice_axis", [x], {"axis": ax, "begin": i * k,
                                                                "end": (i + 1) * k})
        res.append(b.reshape(v, out))
    return res


def _split_vjp(b, op, g):
    x = op.inputs[0]
    ax, _, part, _ = _split_info(_op_ctx(op), x.shape)
    gs = list(g) if isinstance(g, (list, tuple)) else [g]
    gs = [b.reshape(v, part) for v in gs]
    if len(gs) == 1:
        return (gs[0],)
    return (b.op("Concat", gs, {"num_args": len(gs), "dim": ax}),)


register_op(OpDef(
    name="SliceChannel",
    # capped: each output gets a name and a value, so num_outputs=2**31 (in a symbol file, say)
    # would hang listing them; 65536 parts of one axis is more than any model splits
    attrs=(Attr("num_outputs", "int", check=lambda v: None if 1 <= v <= 65536 else
                "is not accepted; expected 1 <= num_outputs <= 65536"),
           Attr("axis", "int", 1), Attr("squeeze_axis", "bool", False)),
    arguments=("data",), outputs=lambda a: [f"output{i}" for i in range(a["num_outputs"])],
    infer_shape=partial_shape(_split_rule), interp=_split_np, vjp=_split_vjp,
    decompose=_split_decompose, aliases=("split",),
    doc="Split into num_outputs equal parts along axis (slice views); squeeze_axis drops the "
        "axis when each part has size 1. The gradient concatenates the output gradients.",
))


# --- add_n ----------------------------------------------------------------------------------------
def _add_n_rule(rc, shapes):
    from ..registry import unify_shapes
    names = [f"arg{i}" for i in range(len(shapes))] + ["output"]
    s = unify_shapes(rc, list(shapes) + [out_shape(rc)], names)
    return [s] * len(shapes), [s]


def _add_n_decompose(b, op):
    xs = list(op.inputs)
    acc = xs[0]
    for v in xs[1:]:
        acc = b.op("elemwise_add", [acc, v])
    return [acc]


register_op(OpDef(
    name="add_n",
    attrs=(Attr("num_args", "int", check=lambda v: None if v >= 1 else
                "is not accepted; expected num_args >= 1"),),
    variadic="num_args", infer_shape=_add_n_rule,
    interp=lambda xs, a: (sum(xs[1:], xs[0].copy()),),
    vjp=lambda b, op, g: tuple(g for _ in op.inputs),
    decompose=_add_n_decompose, aliases=("ElementWiseSum",),
    doc="Sum of the inputs (elementwise); each input gets the output gradient.",
))


# --- stack ----------------------------------------------------------------------------------------
def _stack_axis(rc, ndim):
    return _axis_in(rc, "axis", rc.attrs["axis"], ndim + 1, "output")


def _stack_rule(rc, shapes):
    from ..registry import unify_shapes
    s = unify_shapes(rc, shapes, [f"arg{i}" for i in range(len(shapes))])
    if s is None:
        return list(shapes), [None]
    ax = _stack_axis(rc, len(s))
    return [s] * len(shapes), [tuple(s[:ax]) + (len(shapes),) + tuple(s[ax:])]


def _stack_decompose(b, op):
    x = op.inputs[0]
    ax = _stack_axis(_op_ctx(op), len(x.shape))
    one = tuple(x.shape[:ax]) + (1,) + tuple(x.shape[ax:])
    parts = [b.reshape(v, one) for v in op.inputs]
    if len(parts) == 1:
        return parts
    return [b.op("Concat", parts, {"num_args": len(parts), "dim": ax})]


def _stack_vjp(b, op, g):
    x = op.inputs[0]
    ax = _stack_axis(_op_ctx(op), len(x.shape))
    return tuple(b.reshape(b.op("slice_axis", [g], {"axis": ax, "begin": i, "end": i + 1}),
                           x.shape) if len(op.inputs) > 1 else b.reshape(g, x.shape)
                 for i in range(len(op.inputs)))


register_op(OpDef(
    name="stack",
    attrs=(Attr("axis", "int", 0),
           Attr("num_args", "int", check=lambda v: None if v >= 1 else
                "is not accepted; expected num_args >= 1")),
    variadic="num_args", infer_shape=_stack_rule,
    interp=lambda xs, a: (np.stack(xs, axis=_stack_axis(_Ctx("stack", a), xs[0].ndim)),),
    vjp=_stack_vjp, decompose=_stack_decompose,
    doc="Join same-shape inputs along a new axis (expand_dims views and a Concat call).",
))
