"""Indexing operators with data-dependent indices: take, pick, gather_nd, and the sequence
operators SequenceMask, SequenceLast, SequenceReverse.

Gathers whose addresses depend on data (take, pick, gather_nd, SequenceLast / SequenceReverse
with lengths) are library calls (torch ``index_select`` / ``gather`` / advanced indexing);
take's and gather_nd's gradients are scatter-add calls (``index_add_`` / ``index_put_``). Where the gradient is a comparison against an index it is
built from elementwise ops and views instead, so it fuses: pick's and SequenceLast's gradients
are ``where(arange == index, g, 0)``, SequenceMask is ``where(arange < length, x, value)``.

MXNet semantics kept: index values are truncated toward zero (``static_cast<int>``) and then
clipped (``mode='clip'``) or wrapped (``'wrap'``); take's ``'raise'`` fails on an index outside
``[0, n-1]``; indices and sequence lengths get no gradient.
"""
from __future__ import annotations

import numpy as np

from ...base import MXNetError
from ..attrs import Attr
from ..registry import Extern, OpDef, register_op
from ..types import DType, numel, shape_str
from .shape import _axis_in, _Ctx, _op_ctx, _sh

__all__ = ["index_values"]


def index_values(idx, n: int, mode: str, where: str) -> np.ndarray:
    """MXNet's index conversion: truncate toward zero, then clip into [0, n) or wrap modulo n;
    ``raise`` rejects values outside [0, n-1] (before truncation, as MXNet checks them)."""
    idx = np.asarray(idx)
    if mode == "raise":
        bad = (idx < 0) | (idx > n - 1)
        if np.any(bad):
            raise MXNetError(f"{where}: indices out of bound: {idx[bad].ravel()[:4].tolist()} for "
                             f"an axis of size {n}; mode='raise' expects 0 <= index <= {n - 1}")
    i = np.trunc(idx).astype(np.int64) if idx.dtype.kind == "f" else idx.astype(np.int64)
    if mode == "wrap":
        return np.mod(i, n)
    return np.clip(i, 0, n - 1)


def _torch_index(idx, n: int, mode: str, where: str):
    import torch
    if mode == "raise":
        bad = (idx < 0) | (idx > n - 1)
        if bool(bad.any()):
            raise MXNetError(f"{where}: indices out of bound: {idx[bad].flatten()[:4].tolist()} "
                             f"for an axis of size {n}; mode='raise' expects "
                             f"0 <= index <= {n - 1}")
    i = idx.to(torch.int64)                      # truncates toward zero
    if mode == "wrap":
        return torch.remainder(i, n)
    return i.clamp(0, n - 1)


def _int_index(b, idx, n: int, mode: str):
    """IR: ``idx`` as int32 truncated toward zero, clipped into [0, n) or wrapped modulo n."""
    i = b.cast(idx, "int32")
    if mode == "wrap":
        return b.op("_mod_scalar", [i], {"scalar": float(n)})
    return b.op("clip", [i], {"a_min": 0.0, "a_max": float(n - 1)})


def _arange_along(b, n: int, ndim: int, axis: int):
    """int32 0..n-1 shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    r = b.op("_arange", [], {"start": 0.0, "stop": float(n), "dtype": "int32"})
    return b.reshape(r, tuple(n if d == axis else 1 for d in range(ndim)))


# --- take -----------------------------------------------------------------------------------------
_MODES = ("clip", "raise", "wrap")


def _take_axis(rc, ndim):
    return _axis_in(rc, "axis", rc.attrs["axis"], ndim, "input a")


def _take_rule(rc, shapes):
    a, idx = shapes
    if a is None or idx is None or None in idx:     # MXNet needs the whole index shape
        return list(shapes), [None]
    ax = _take_axis(rc, len(a))
    return list(shapes), [tuple(a[:ax]) + tuple(idx) + tuple(a[ax + 1:])]


def _data_dtype(rc, dts):
    return list(dts), [dts[0]]


def _take_np(xs, a):
    x, idx = xs
    ax = _take_axis(_Ctx("take", a), x.ndim)
    return (np.take(x, index_values(idx, x.shape[ax], a["mode"], "take"), axis=ax),)


def _take_fn(attrs, ins, outs):
    import torch
    x, idx = ins
    ax = attrs["axis"] % x.dim()
    i = _torch_index(idx, x.shape[ax], attrs["mode"], "take").reshape(-1)
    flat = tuple(x.shape[:ax]) + (i.numel(),) + tuple(x.shape[ax + 1:])
    torch.index_select(x, ax, i, out=outs[0].view(flat))


def _take_vjp(b, op, g):
    x, idx = op.inputs
    ax = _take_axis(_op_ctx(op), len(x.shape))
    return (b.op("_take_grad", [g, idx], {"axis": ax, "mode": op.attrs["mode"],
                                          "shape": tuple(x.shape)}), None)


register_op(OpDef(
    name="take",
    attrs=(Attr("axis", "int", 0), Attr("mode", "str", "clip", choices=_MODES)),
    arguments=("a", "indices"), infer_shape=_take_rule, infer_dtype=_data_dtype,
    interp=_take_np, vjp=_take_vjp, lower=Extern(_take_fn, "take"),
    doc="Gather slices of a along axis at indices (clip / wrap / raise out-of-range indices); "
        "the gradient scatter-adds into a, indices get none.",
))


def _take_grad_rule(rc, shapes):
    return list(shapes), [tuple(rc.attrs["shape"])]


def _take_grad_np(xs, a):
    g, idx = xs
    shape = tuple(a["shape"])
    ax = a["axis"]
    i = index_values(idx, shape[ax], a["mode"], "take").reshape(-1)
    gm = np.moveaxis(g.reshape(shape[:ax] + (i.size,) + shape[ax + 1:]), ax, 0)
    out = np.zeros((shape[ax],) + shape[:ax] + shape[ax + 1:], g.dtype)
    np.add.at(out, i, gm)
    return (np.moveaxis(out, 0, ax),)


def _take_grad_fn(attrs, ins, outs):
    g, idx = ins
    shape = tuple(attrs["shape"])
    ax = attrs["axis"]
    i = _torch_index(idx, shape[ax], attrs["mode"], "take").reshape(-1)
    out = outs[0]
    out.zero_()
    out.index_add_(ax, i, g.reshape(shape[:ax] + (i.numel(),) + shape[ax + 1:]))


register_op(OpDef(
    name="_take_grad",
    attrs=(Attr("axis", "int"), Attr("mode", "str", "clip", choices=_MODES),
           Attr("shape", "shape")),
    arguments=("grad", "indices"), infer_shape=_take_grad_rule, infer_dtype=_data_dtype,
    interp=_take_grad_np,
    vjp=lambda b, op, gg: (b.op("take", [gg, op.inputs[1]], {"axis": op.attrs["axis"],
                                                             "mode": op.attrs["mode"]}), None),
    lower=Extern(_take_grad_fn, "take_grad"),
    doc="(internal) take's gradient: zeros of `shape` with grad scatter-added at indices.",
))


# --- pick -----------------------------------------------------------------------------------------
def _pick_axis(rc, ndim):
    ax = rc.attrs["axis"]
    if ax is None:
        raise rc.attr_error("axis=None is not supported by pick (as in MXNet 1.9.1); expected "
                            "an axis")
    return _axis_in(rc, "axis", ax, ndim, "data")


def _pick_shapes(rc, s):
    """(index shape, output shape, keepdims shape) for data of shape ``s``."""
    ax = _pick_axis(rc, len(s))
    red = tuple(d for i, d in enumerate(s) if i != ax)
    keep = tuple(1 if i == ax else d for i, d in enumerate(s))
    return red, (keep if rc.attrs["keepdims"] else red), keep


def _pick_rule(rc, shapes):
    s, idx = shapes
    if s is None:
        return list(shapes), [None]
    red, out, keep = _pick_shapes(rc, s)
    if idx is not None and tuple(idx) not in (red, keep):
        if None in idx and len(idx) == len(red):
            idx = red
        else:
            raise rc.shape_error(f"index has shape {_sh(idx)}; expected {_sh(red)} from data of "
                                 f"shape {_sh(s)} and axis={rc.attrs['axis']}")
    return [tuple(s), red if idx is None else tuple(idx)], [out]


def _pick_np(xs, a):
    x, idx = xs
    rc = _Ctx("pick", a)
    ax = _pick_axis(rc, x.ndim)
    _, out, keep = _pick_shapes(rc, x.shape)
    i = index_values(idx, x.shape[ax], a["mode"], "pick").reshape(keep)
    return (np.take_along_axis(x, i, ax).reshape(out),)


def _pick_fn(attrs, ins, outs):
    import torch
    x, idx = ins
    ax = attrs["axis"] % x.dim()
    keep = tuple(1 if d == ax else n for d, n in enumerate(x.shape))
    i = _torch_index(idx, x.shape[ax], attrs["mode"], "pick").reshape(keep)
    torch.gather(x, ax, i, out=outs[0].view(keep))


def _pick_vjp(b, op, g):
    """MXNet: the picked element of each row gets the gradient, the others 0 (a one-hot mask,
    built elementwise so it fuses)."""
    x, idx = op.inputs
    rc = _op_ctx(op)
    ax = _pick_axis(rc, len(x.shape))
    keep = _pick_shapes(rc, x.shape)[2]
    i = b.reshape(_int_index(b, idx, x.shape[ax], op.attrs["mode"]), keep)
    eq = b.op("broadcast_equal", [i, _arange_along(b, x.shape[ax], len(x.shape), ax)])
    gb = b.broadcast_to(b.reshape(g, keep), x.shape)
    return b.where(eq, gb, b.zeros_like(gb)), None


register_op(OpDef(
    name="pick",
    attrs=(Attr("axis", "int", -1, optional=True), Attr("keepdims", "bool", False),
           Attr("mode", "str", "clip", choices=("clip", "wrap"))),
    arguments=("data", "index"), infer_shape=_pick_rule, infer_dtype=_data_dtype,
    interp=_pick_np, vjp=_pick_vjp, lower=Extern(_pick_fn, "pick"),
    aliases=("choose_element_0index",),
    doc="data[..., index, ...] along axis: one element per position of index.",
))


# --- SequenceMask, SequenceLast, SequenceReverse --------------------------------------------------
def _seq_args(a):
    return ["data", "sequence_length"] if a["use_sequence_length"] else ["data"]


def _seq_validate(axes):
    def validate(rc):
        ax = rc.attrs["axis"]
        if ax not in axes:
            ok = " or ".join(map(str, axes))
            raise rc.attr_error(f"axis={ax} is not supported; expected axis {ok} (MXNet "
                                "1.9.1's current implementation)")
    return validate


def _seq_rule(kind):
    def rule(rc, shapes):
        s = shapes[0]
        use = rc.attrs["use_sequence_length"]
        if s is None:
            return list(shapes), [None]
        if len(s) < 2:
            raise rc.shape_error(f"data has shape {_sh(s)}; expected rank >= 2 (time and batch "
                                 "axes)")
        ax = rc.attrs["axis"]
        ins = [tuple(s)]
        if use:
            want = (s[1 - ax],)
            got = shapes[1]
            if got is not None and (len(got) != 1 or got[0] not in (None, want[0])):
                raise rc.shape_error(f"sequence_length has shape {_sh(got)}; expected "
                                     f"{_sh(want)} (the batch size) from data of shape {_sh(s)} "
                                     f"and axis={ax}")
            ins.append(want if want[0] is not None or got is None else tuple(got))
        out = tuple(s) if kind != "last" else tuple(d for i, d in enumerate(s) if i != ax)
        return ins, [out]
    return rule


def _seq_dtype(rc, dts):
    d = dts[0]
    if len(dts) == 2:
        return [d, dts[1] if dts[1] is not None else d], [d]
    return [d], [d]


def _lengths_np(lens):
    lens = np.asarray(lens)
    return np.trunc(lens).astype(np.int64) if lens.dtype.kind == "f" else lens.astype(np.int64)


def _tb(x, axis):
    """(T, B, ...) view of time-major or batch-major data."""
    return x if axis == 0 else np.swapaxes(x, 0, 1)


def _seq_time_mask(b, x, lens, axis, test):
    """Int32 (1/0) of x's shape: ``test`` ("lesser" / "equal") of the time index against the
    per-sequence value ``lens`` (int32, batch shape)."""
    nd = len(x.shape)
    T, B = x.shape[axis], x.shape[1 - axis]
    t = _arange_along(b, T, 2, axis)
    lb = b.reshape(lens, (B, 1) if axis == 1 else (1, B))
    m = b.op(f"broadcast_{test}", [t, lb])                       # (T, B) or (B, T)
    m = b.reshape(m, tuple(x.shape[:2]) + (1,) * (nd - 2))
    return b.broadcast_to(m, x.shape)


def _seq_mask_np(xs, a):
    x = xs[0]
    if not a["use_sequence_length"]:
        return (x.copy(),)
    ax = a["axis"]
    xt = _tb(x, ax)
    L = _lengths_np(xs[1])
    keep = np.arange(xt.shape[0])[:, None] < L[None, :]
    keep = keep.reshape(keep.shape + (1,) * (x.ndim - 2))
    out = np.where(keep, xt, np.asarray(a["value"], x.dtype))
    return (_tb(out, ax).copy(),)


def _seq_mask_decompose(b, op):
    x = op.inputs[0]
    if not op.attrs["use_sequence_length"]:
        return [x]
    lens = b.cast(op.inputs[1], "int32")
    m = _seq_time_mask(b, x, lens, op.attrs["axis"], "lesser")
    return [b.where(m, x, b.full(x.shape, op.attrs["value"], x.dtype))]


def _seq_mask_vjp(b, op, g):
    """MXNet: masked positions get no gradient; sequence_length gets none."""
    x = op.inputs[0]
    if not op.attrs["use_sequence_length"]:
        return (g,)
    lens = b.cast(op.inputs[1], "int32")
    m = _seq_time_mask(b, x, lens, op.attrs["axis"], "lesser")
    return b.where(m, g, b.zeros_like(g)), None


_SEQ_ATTRS = (Attr("use_sequence_length", "bool", False),)
register_op(OpDef(
    name="SequenceMask",
    attrs=_SEQ_ATTRS + (Attr("value", "float", 0.0), Attr("axis", "int", 0)),
    arguments=_seq_args, infer_shape=_seq_rule("mask"), infer_dtype=_seq_dtype,
    validate=_seq_validate((0, 1)), interp=_seq_mask_np, vjp=_seq_mask_vjp,
    decompose=_seq_mask_decompose,
    doc="Set the steps at or beyond each sequence's length to value (axis: the time axis, 0 or "
        "1); without use_sequence_length the identity.",
))


def _last_index_np(lens, T):
    """MXNet reads step length-1; lengths outside [1, T] are clamped (MXNet reads out of range)."""
    return np.clip(_lengths_np(lens) - 1, 0, T - 1)


def _seq_last_np(xs, a):
    x = xs[0]
    xt = _tb(x, a["axis"])
    T = xt.shape[0]
    if not a["use_sequence_length"]:
        return (xt[T - 1].copy(),)
    i = _last_index_np(xs[1], T)
    return (xt[i, np.arange(xt.shape[1])].copy(),)


def _last_index(b, lens, T):
    i = b.op("_minus_scalar", [b.cast(lens, "int32")], {"scalar": 1.0})
    return b.op("clip", [i], {"a_min": 0.0, "a_max": float(T - 1)})


def _seq_last_decompose(b, op):
    x = op.inputs[0]
    ax = op.attrs["axis"]
    if op.attrs["use_sequence_length"]:
        return [b.op("_sequence_last_gather", [x, op.inputs[1]], {"axis": ax})]
    T = x.shape[ax]
    v = b.op("slice_axis", [x], {"axis": ax, "begin": T - 1, "end": T})
    return [b.reshape(v, op.outputs[0].shape)]


def _seq_last_vjp(b, op, g):
    """MXNet: the gradient goes to each sequence's last step; sequence_length gets none."""
    x = op.inputs[0]
    ax = op.attrs["axis"]
    T = x.shape[ax]
    keep = tuple(1 if i == ax else d for i, d in enumerate(x.shape))
    gb = b.broadcast_to(b.reshape(g, keep), x.shape)
    if op.attrs["use_sequence_length"]:
        m = _seq_time_mask(b, x, _last_index(b, op.inputs[1], T), ax, "equal")
    else:
        m = _seq_time_mask(b, x, b.full((x.shape[1 - ax],), T - 1, "int32"), ax, "equal")
    return b.where(m, gb, b.zeros_like(gb)), None


register_op(OpDef(
    name="SequenceLast",
    attrs=_SEQ_ATTRS + (Attr("axis", "int", 0),),
    arguments=_seq_args, infer_shape=_seq_rule("last"), infer_dtype=_seq_dtype,
    validate=_seq_validate((0, 1)), interp=_seq_last_np, vjp=_seq_last_vjp,
    decompose=_seq_last_decompose,
    doc="The last step of each sequence (step length-1, or the last step without "
        "use_sequence_length).",
))


def _gather_last_fn(attrs, ins, outs):
    import torch
    x, lens = ins
    xt = x if attrs["axis"] == 0 else x.transpose(0, 1)
    T, B = xt.shape[0], xt.shape[1]
    i = (lens.to(torch.int64) - 1).clamp(0, T - 1)
    outs[0].copy_(xt[i, torch.arange(B, device=x.device)])


register_op(OpDef(
    name="_sequence_last_gather", attrs=(Attr("axis", "int", 0),),
    arguments=("data", "sequence_length"), infer_dtype=_data_dtype,
    infer_shape=lambda rc, sh: _seq_rule("last")(_Ctx(rc.opdef.name, {
        **rc.attrs, "use_sequence_length": True}, rc.name), sh),
    interp=lambda xs, a: _seq_last_np(xs, {**a, "use_sequence_length": True}),
    differentiable=False, lower=Extern(_gather_last_fn, "sequence_last"),
    doc="(internal) SequenceLast with lengths, a gather call; differentiate SequenceLast.",
))


def _rev_src_np(lens, T, B):
    """Source step of each (t, b): length-1-t inside the sequence, t beyond it. Lengths are
    clamped into [0, T] (MXNet writes out of range for longer ones)."""
    L = np.clip(_lengths_np(lens), 0, T)
    t = np.arange(T)[:, None]
    return np.where(t < L[None, :], L[None, :] - 1 - t, t)


def _seq_rev_np(xs, a):
    x = xs[0]
    T = x.shape[0]
    if not a["use_sequence_length"]:
        return (x[::-1].copy(),)
    src = _rev_src_np(xs[1], T, x.shape[1])
    return (x[src, np.arange(x.shape[1])[None, :]].copy(),)


def _seq_rev_decompose(b, op):
    x = op.inputs[0]
    if op.attrs["use_sequence_length"]:
        return [b.op("_sequence_reverse_gather", [x, op.inputs[1]])]
    return [b.op("reverse", [x], {"axis": (0,)})]


def _seq_rev_vjp(b, op, g):
    """Reversing each sequence is its own inverse: the gradient is reversed the same way."""
    return b.op("SequenceReverse", [g] + list(op.inputs[1:]), dict(op.attrs)), None


register_op(OpDef(
    name="SequenceReverse",
    attrs=_SEQ_ATTRS + (Attr("axis", "int", 0),),
    arguments=_seq_args, infer_shape=_seq_rule("reverse"), infer_dtype=_seq_dtype,
    validate=_seq_validate((0,)), interp=_seq_rev_np, vjp=_seq_rev_vjp,
    decompose=_seq_rev_decompose,
    doc="Reverse the first length steps of each sequence along the time axis (axis 0).",
))


def _gather_rev_fn(attrs, ins, outs):
    import torch
    x, lens = ins
    T, B = x.shape[0], x.shape[1]
    L = lens.to(torch.int64).clamp(0, T)[None, :]
    t = torch.arange(T, device=x.device)[:, None]
    src = torch.where(t < L, L - 1 - t, t)
    outs[0].copy_(x[src, torch.arange(B, device=x.device)[None, :]])


register_op(OpDef(
    name="_sequence_reverse_gather", arguments=("data", "sequence_length"),
    infer_dtype=_data_dtype,
    infer_shape=lambda rc, sh: _seq_rule("reverse")(_Ctx(rc.opdef.name, {
        "use_sequence_length": True, "axis": 0}, rc.name), sh),
    interp=lambda xs, a: _seq_rev_np(xs, {"use_sequence_length": True}),
    differentiable=False, lower=Extern(_gather_rev_fn, "sequence_reverse"),
    doc="(internal) SequenceReverse with lengths, a gather call; differentiate SequenceReverse.",
))

_ = DType, numel, shape_str


# --- gather_nd ------------------------------------------------------------------------------------
def _gather_nd_shape(rc, s, ishape):
    if len(ishape) < 2:
        raise rc.shape_error(f"indices has shape {_sh(ishape)}; expected at least 2 dimensions "
                             "(M, Y0, ...)")
    M = ishape[0]
    if M > len(s):
        raise rc.shape_error(f"indices of shape {_sh(ishape)} index {M} axes of data of shape "
                             f"{_sh(s)}; expected at most {len(s)}")
    return tuple(ishape[1:]) + tuple(s[M:])


def _gather_nd_rule(rc, shapes):
    s, ish = shapes
    if s is None or ish is None or None in s or None in ish:
        return list(shapes), [None]
    return list(shapes), [_gather_nd_shape(rc, tuple(s), tuple(ish))]


def _nd_index_np(idx, dims, where):
    """(M, N) int64 indices: MXNet checks -d <= i <= d-1, truncates, wraps negatives once."""
    idx = np.asarray(idx).reshape(len(dims), -1)
    d = np.asarray(dims).reshape(-1, 1)
    bad = (idx < -d) | (idx > d - 1)
    if np.any(bad):
        raise MXNetError(f"{where}: index {idx[bad].ravel()[0]!r} is out of bounds for an axis "
                         f"of size {int(np.broadcast_to(d, idx.shape)[bad].ravel()[0])}")
    i = np.trunc(idx).astype(np.int64) if idx.dtype.kind == "f" else idx.astype(np.int64)
    return np.where(i < 0, i + d, i)


def _nd_index_torch(idx, dims, where):
    import torch
    idx = idx.reshape(len(dims), -1)
    d = torch.tensor(dims, device=idx.device).reshape(-1, 1)
    bad = (idx < -d) | (idx > d - 1)
    if bool(bad.any()):
        raise MXNetError(f"{where}: index {idx[bad].flatten()[0].item()!r} is out of bounds for "
                         f"an axis of size {int(d.expand_as(idx)[bad].flatten()[0])}")
    i = idx.to(torch.int64)
    return torch.where(i < 0, i + d, i)


def _gather_nd_np(xs, a):
    x, idx = xs
    M = idx.shape[0]
    i = _nd_index_np(idx, x.shape[:M], "gather_nd")
    return (x[tuple(i)].reshape(tuple(idx.shape[1:]) + x.shape[M:]),)


def _gather_nd_fn(attrs, ins, outs):
    x, idx = ins
    M = idx.shape[0]
    i = _nd_index_torch(idx, tuple(x.shape[:M]), "gather_nd")
    outs[0].view((i.shape[1],) + tuple(x.shape[M:])).copy_(x[tuple(i)])


register_op(OpDef(
    name="gather_nd", arguments=("data", "indices"), infer_shape=_gather_nd_rule,
    infer_dtype=_data_dtype, interp=_gather_nd_np,
    vjp=lambda b, op, g: (b.op("_gather_nd_grad", [g, op.inputs[1]],
                               {"shape": tuple(op.inputs[0].shape)}), None),
    lower=Extern(_gather_nd_fn, "gather_nd"),
    doc="out[y...] = data[indices[0, y...], ..., indices[M-1, y...], ...]; negative indices "
        "count from the end; the gradient scatter-adds, indices get none.",
))


def _gather_nd_grad_np(xs, a):
    g, idx = xs
    shape = tuple(a["shape"])
    M = idx.shape[0]
    i = _nd_index_np(idx, shape[:M], "gather_nd")
    out = np.zeros(shape, g.dtype)
    np.add.at(out, tuple(i), g.reshape((i.shape[1],) + shape[M:]))
    return (out,)


def _gather_nd_grad_fn(attrs, ins, outs):
    g, idx = ins
    shape = tuple(attrs["shape"])
    M = idx.shape[0]
    i = _nd_index_torch(idx, shape[:M], "gather_nd")
    out = outs[0]
    out.zero_()
    out.index_put_(tuple(i), g.reshape((i.shape[1],) + shape[M:]), accumulate=True)


register_op(OpDef(
    name="_gather_nd_grad", attrs=(Attr("shape", "shape"),), arguments=("grad", "indices"),
    infer_shape=lambda rc, sh: (list(sh), [tuple(rc.attrs["shape"])]), infer_dtype=_data_dtype,
    interp=_gather_nd_grad_np,
    vjp=lambda b, op, gg: (b.op("gather_nd", [gg, op.inputs[1]]), None),
    lower=Extern(_gather_nd_grad_fn, "gather_nd_grad"),
    doc="(internal) gather_nd's gradient: zeros of `shape` with grad scatter-added at indices "
        "(MXNet's backward does not wrap negative indices; this one does, as the forward).",
))
