"""Object-detection operators of MXNet 1.9.1 (src/operator/contrib/{multibox_*, bounding_box*,
roi_align*, psroi_pooling*, proposal*, multi_proposal*}, src/operator/roi_pooling*).

Compositions of primitives (fusion makes them kernels):

- ``_contrib_MultiBoxPrior``: anchors are a function of the feature map's shape only: centres
  from ``_arange`` times the step, minus/plus each anchor's half size, concatenated.
- ``_contrib_box_iou``: broadcast min/max/products of coordinate slices.
- ``_contrib_box_decode`` / ``_contrib_box_encode``: elementwise arithmetic on coordinate
  slices (encode gathers the matched reference box with a one-hot batched GEMM).
- ``_contrib_ROIAlign`` and ``_contrib_PSROIPooling``: the bilinear sampling (average pooling)
  of a region is separable, so each region is ``Ay[r] @ data[batch(r)] @ Ax[r]^T`` with small
  row/column weight matrices; only the weights are a library call (``_roi_weights``: sample
  positions and counts depend on the box values), the pooling is two GEMMs, so the gradient
  w.r.t. ``data`` is their adjoint, which is MXNet's backward.

Library calls (data-dependent control flow: sorting, greedy suppression or matching, windows
whose extent depends on input values), each with its reason in ``extra["library_reason"]``:
``_contrib_box_nms``, ``_contrib_bipartite_matching``, ``_contrib_MultiBoxTarget``,
``_contrib_MultiBoxDetection``, ``ROIPooling`` (max over value-dependent windows; its
gradient scatters through the recorded argmax, as MXNet's), ``_contrib_Proposal`` and
``_contrib_MultiProposal``. Greedy loops run on the host (numpy), vectorised parts in torch.

MXNet's gradients kept: ``box_nms`` sends each output row's gradient back to the input row it
came from (suppressed rows get 0; the format conversion is not differentiated, as MXNet's);
``ROIPooling`` / ``ROIAlign`` / ``PSROIPooling`` differentiate ``data`` and give ``rois`` 0;
``MultiBoxPrior``, ``MultiBoxTarget``, ``MultiBoxDetection``, ``box_iou``, ``box_encode``,
``box_decode``, ``bipartite_matching``, ``Proposal`` and ``MultiProposal`` have zero gradients
in MXNet (their backward writes zeros), and so here.

Output shapes are static, as MXNet's: suppressed / unmatched rows are filled with -1.
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import Extern, OpDef, forward_shape, register_op
from ..types import DType, numel, shape_str

_REASON_SORT = ("sorting and greedy suppression: which rows survive depends on the values "
                "(a sequential, data-dependent loop)")


def _f32(x):
    return np.float32(x)


def _zero_vjp(b, op, g):
    """MXNet's backward writes zeros for every input."""
    return tuple(None for _ in op.inputs)


def _coord(b, x, i, n=1):
    """``x[..., i:i+n]`` (a slice of the last axis, kept)."""
    return b.op("slice_axis", [x], {"axis": len(x.shape) - 1, "begin": i, "end": i + n})


def _concat_last(b, parts):
    return b.op("Concat", parts, {"num_args": len(parts), "dim": len(parts[0].shape) - 1})


class _HostCall:
    """An Extern body: ``fn(attrs, *numpy inputs) -> numpy outputs`` run on the host (numpy);
    results are copied into the output tensors (cpu or cuda)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, attrs, ins, outs):
        import torch
        xs = [t.detach().cpu().numpy() for t in ins]
        res = self.fn(attrs, *xs)
        for o, r in zip(outs, res):
            o.copy_(torch.from_numpy(np.ascontiguousarray(r)).to(o.device, o.dtype))


class _TorchCall:
    """An Extern body ``fn(attrs, *torch inputs) -> torch outputs`` (cpu or cuda)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, attrs, ins, outs):
        res = self.fn(attrs, *ins)
        for o, r in zip(outs, res):
            o.copy_(r)


class _HostInterp:
    """The reference of a host-written op: ``fn(attrs, *numpy inputs)`` itself."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, xs, a):
        return self.fn(a, *xs)


def _torch_interp(fn):
    """The reference for a torch-written op: the same function on CPU tensors."""
    def interp(xs, a):
        import torch
        res = fn(a, *[torch.from_numpy(np.ascontiguousarray(x)) for x in xs])
        return tuple(r.numpy() for r in res)
    return interp


# =================================================================================================
# MultiBoxPrior
# =================================================================================================
def _prior_check(rc):
    a = rc.attrs
    if len(a["sizes"]) < 1 or len(a["ratios"]) < 1:
        raise rc.attr_error(f"sizes={a['sizes']} and ratios={a['ratios']}; expected at least "
                            "one size and one ratio")
    if len(a["steps"]) != 2:
        raise rc.attr_error(f"steps={a['steps']}; expected 2 values (step_y, step_x)")
    if len(a["offsets"]) != 2 or not all(0.0 <= o <= 1.0 for o in a["offsets"]):
        raise rc.attr_error(f"offsets={a['offsets']}; expected 2 values (y, x) in [0, 1]")
    if a["steps"][0] * a["steps"][1] < 0:
        raise rc.attr_error(f"steps={a['steps']}; must specify both step_y and step_x (or "
                            "neither, with -1)")


def _prior_rule(rc, shapes):
    s = shapes[0]
    if len(s) < 4 or s[2] <= 0 or s[3] <= 0:
        raise rc.shape_error(f"data has shape ({shape_str(s)}); expected 4-d data "
                             "(batch, channel, height, width) with height, width > 0")
    a = rc.attrs
    n = len(a["sizes"]) + len(a["ratios"]) - 1
    return (1, s[2] * s[3] * n, 4)


def _prior_halves(a, H, W):
    """Per anchor (half width, half height) in float32, in MXNet's order: every size with the
    first ratio, then the first size with every other ratio."""
    out = []
    sizes, ratios = a["sizes"], a["ratios"]
    fH, fW = _f32(H), _f32(W)
    r0 = np.sqrt(_f32(ratios[0]))
    for s in sizes:
        s = _f32(s)
        out.append((s * fH / fW * r0 / _f32(2), s / r0 / _f32(2)))
    s = _f32(sizes[0])
    for r in ratios[1:]:
        r = np.sqrt(_f32(r))
        out.append((s * fH / fW * r / _f32(2), s / r / _f32(2)))
    return out


def _prior_steps(a, H, W):
    sy, sx = a["steps"]
    if sy <= 0 or sx <= 0:
        return _f32(1) / _f32(H), _f32(1) / _f32(W)
    return _f32(sy), _f32(sx)


def _prior_np(xs, a):
    x = xs[0]
    H, W = x.shape[2], x.shape[3]
    sy, sx = _prior_steps(a, H, W)
    cy = (np.arange(H, dtype=np.float32) + _f32(a["offsets"][0])) * sy
    cx = (np.arange(W, dtype=np.float32) + _f32(a["offsets"][1])) * sx
    cyg, cxg = np.meshgrid(cy, cx, indexing="ij")
    parts = []
    for w, h in _prior_halves(a, H, W):
        parts += [cxg - w, cyg - h, cxg + w, cyg + h]
    out = np.stack(parts, -1).reshape(1, -1, 4)
    if a["clip"]:
        out = np.clip(out, 0, 1)
    return (out.astype(x.dtype),)


def _prior_decompose(b, op):
    x = op.inputs[0]
    a = op.attrs
    H, W = x.shape[2], x.shape[3]
    dt = x.dtype.np_name
    sy, sx = _prior_steps(a, H, W)

    def centres(n, off, step, shape):
        r = b.op("_arange", [], {"start": 0.0, "stop": float(n), "dtype": dt})
        r = b.op("_mul_scalar", [b.op("_plus_scalar", [r], {"scalar": float(off)})],
                 {"scalar": float(step)})
        return b.broadcast_to(b.reshape(r, shape), (H, W, 1))

    cy = centres(H, a["offsets"][0], sy, (H, 1, 1))
    cx = centres(W, a["offsets"][1], sx, (1, W, 1))
    parts = []
    for w, h in _prior_halves(a, H, W):
        parts += [b.sub(cx, float(w)), b.sub(cy, float(h)), b.add(cx, float(w)),
                  b.add(cy, float(h))]
    out = b.reshape(_concat_last(b, parts), op.outputs[0].shape)
    if a["clip"]:
        out = b.op("clip", [out], {"a_min": 0.0, "a_max": 1.0})
    return [out]


register_op(OpDef(
    name="_contrib_MultiBoxPrior",
    attrs=(Attr("sizes", "floats", (1.0,), doc="List of sizes of generated MultiBoxPriores."),
           Attr("ratios", "floats", (1.0,),
                doc="List of aspect ratios of generated MultiBoxPriores."),
           Attr("clip", "bool", False, doc="Whether to clip out-of-boundary boxes."),
           Attr("steps", "floats", (-1.0, -1.0),
                doc="Priorbox step across y and x, -1 for auto calculation."),
           Attr("offsets", "floats", (0.5, 0.5),
                doc="Priorbox center offsets, y and x respectively")),
    arguments=("data",), infer_shape=forward_shape(_prior_rule),
    infer_dtype=lambda rc, d: (d, [d[0]]), validate=_prior_check,
    interp=_prior_np, decompose=_prior_decompose, vjp=_zero_vjp,
    aliases=("_npx_multibox_prior",),
    doc="Anchor boxes (1, H*W*(sizes+ratios-1), 4) [xmin, ymin, xmax, ymax] from the feature "
        "map's shape: a composition of arange and elementwise ops. Gradient: zero (MXNet).",
))


# =================================================================================================
# box_iou
# =================================================================================================
_FMT = ("corner", "center")


def _iou_rule(rc, shapes):
    l, r = shapes
    for what, s in (("lhs", l), ("rhs", r)):
        if len(s) < 2 or s[-1] != 4:
            raise rc.shape_error(f"{what} has shape ({shape_str(s)}); expected at least 2 "
                                 "dimensions with a last dimension of 4 (a box)")
    return tuple(l[:-1]) + tuple(r[:-1])


def _as_corner_np(x, fmt):
    x = x.astype(np.float32) if x.dtype == np.float16 else x
    if fmt == "corner":
        return x[..., 0], x[..., 1], x[..., 2], x[..., 3]
    hw, hh = x[..., 2] / 2, x[..., 3] / 2
    return x[..., 0] - hw, x[..., 1] - hh, x[..., 0] + hw, x[..., 1] + hh


def _area_np(x, fmt):
    if fmt == "corner":
        w, h = x[..., 2] - x[..., 0], x[..., 3] - x[..., 1]
    else:
        w, h = x[..., 2], x[..., 3]
    return np.where((w < 0) | (h < 0), 0, w * h).astype(x.dtype)


def _iou_np(xs, a):
    l, r = xs
    fmt = a["format"]
    L = l.reshape(-1, 4)[:, None, :]
    R = r.reshape(-1, 4)[None, :, :]
    lx1, ly1, lx2, ly2 = _as_corner_np(L, fmt)
    rx1, ry1, rx2, ry2 = _as_corner_np(R, fmt)
    iw = np.maximum(np.minimum(lx2, rx2) - np.maximum(lx1, rx1), 0)
    ih = np.maximum(np.minimum(ly2, ry2) - np.maximum(ly1, ry1), 0)
    inter = iw * ih
    with np.errstate(divide="ignore", invalid="ignore"):
        u = _area_np(L, fmt) + _area_np(R, fmt) - inter
        out = np.where(inter <= 0, 0, inter / u)
    return (out.astype(l.dtype).reshape(l.shape[:-1] + r.shape[:-1]),)


def _corner_parts(b, x, fmt):
    """(x1, y1, x2, y2) slices of boxes ``x`` (..., 4) in ``fmt``, as corners."""
    c = [_coord(b, x, i) for i in range(4)]
    if fmt == "corner":
        return c
    hw, hh = b.div(c[2], 2.0), b.div(c[3], 2.0)
    return [b.sub(c[0], hw), b.sub(c[1], hh), b.add(c[0], hw), b.add(c[1], hh)]


def _area(b, x, fmt):
    c = [_coord(b, x, i) for i in range(4)]
    w, h = (b.sub(c[2], c[0]), b.sub(c[3], c[1])) if fmt == "corner" else (c[2], c[3])
    neg = b.op("_logical_or", [b.op("_lesser_scalar", [w], {"scalar": 0.0}),
                               b.op("_lesser_scalar", [h], {"scalar": 0.0})])
    return b.where(neg, b.zeros_like(w), b.mul(w, h))


def box_iou(b, lhs, rhs, fmt):
    """IoU matrix (L, R) of boxes lhs (L, 4) and rhs (R, 4), as MXNet's box_iou."""
    L, R = lhs.shape[0], rhs.shape[0]

    def col(v):                       # (L, 1) -> (L, R)
        return b.broadcast_to(v, (L, R))

    def row(v):                       # (R, 1) -> (L, R)
        return b.broadcast_to(b.reshape(v, (1, R)), (L, R))

    l, r = _corner_parts(b, lhs, fmt), _corner_parts(b, rhs, fmt)
    iw = b.sub(b.minimum(col(l[2]), row(r[2])), b.maximum(col(l[0]), row(r[0])))
    ih = b.sub(b.minimum(col(l[3]), row(r[3])), b.maximum(col(l[1]), row(r[1])))
    inter = b.mul(b.maximum(iw, 0.0), b.maximum(ih, 0.0))
    union = b.sub(b.add(col(_area(b, lhs, fmt)), row(_area(b, rhs, fmt))), inter)
    pos = b.op("_greater_scalar", [inter], {"scalar": 0.0})
    return b.where(pos, b.div(inter, union), b.zeros_like(inter))


def _iou_decompose(b, op):
    lhs, rhs = op.inputs
    l2 = b.reshape(lhs, (numel(lhs.shape[:-1]), 4))
    r2 = b.reshape(rhs, (numel(rhs.shape[:-1]), 4))
    return [b.reshape(box_iou(b, l2, r2, op.attrs["format"]), op.outputs[0].shape)]


register_op(OpDef(
    name="_contrib_box_iou",
    attrs=(Attr("format", "str", "corner", choices=_FMT,
                doc="The box encoding type: corner [xmin, ymin, xmax, ymax] or center "
                    "[x, y, width, height]."),),
    arguments=("lhs", "rhs"), infer_shape=forward_shape(_iou_rule),
    interp=_iou_np, decompose=_iou_decompose, vjp=_zero_vjp,
    doc="Intersection-over-union of every lhs box with every rhs box: output "
        "(lhs dims..., rhs dims...). Gradient: zero (MXNet).",
))


# =================================================================================================
# box_decode / box_encode
# =================================================================================================
def _decode_rule(rc, shapes):
    d, an = shapes
    if len(d) != 3 or d[-1] != 4:
        raise rc.shape_error(f"data has shape ({shape_str(d)}); expected (B, N, 4)")
    if len(an) < 3 or an[-1] != 4 or numel(an) != d[1] * 4:
        raise rc.shape_error(f"anchors have shape ({shape_str(an)}); expected (1, {d[1]}, 4) "
                             f"for data ({shape_str(d)})")
    return tuple(d)


def _decode_anchor_centres(a_parts, fmt, half):
    ax, ay, aw, ah = a_parts
    if fmt == "corner":
        aw, ah = aw - ax, ah - ay
        ax, ay = ax + aw * half, ay + ah * half
    return ax, ay, aw, ah


def _decode_np(xs, a):
    x, an = xs
    an = an.reshape(1, -1, 4)
    dt = x.dtype.type
    half = dt(0.5)
    ax, ay, aw, ah = _decode_anchor_centres([an[..., i] for i in range(4)], a["format"], half)
    ox = x[..., 0] * dt(a["std0"]) * aw + ax
    oy = x[..., 1] * dt(a["std1"]) * ah + ay
    dw = x[..., 2] * dt(a["std2"])
    dh = x[..., 3] * dt(a["std3"])
    if a["clip"] > 0:
        dw = np.minimum(dw, dt(a["clip"]))
        dh = np.minimum(dh, dt(a["clip"]))
    ow = np.exp(dw) * aw * half
    oh = np.exp(dh) * ah * half
    return (np.stack([ox - ow, oy - oh, ox + ow, oy + oh], -1).astype(x.dtype),)


def _decode_decompose(b, op):
    x, an = op.inputs
    a = op.attrs
    an = b.reshape(an, (1, x.shape[1], 4))
    ap = [b.broadcast_to(_coord(b, an, i), tuple(x.shape[:2]) + (1,)) for i in range(4)]
    ax, ay, aw, ah = ap
    if a["format"] == "corner":
        aw, ah = b.sub(aw, ax), b.sub(ah, ay)
        ax, ay = b.add(ax, b.mul(aw, 0.5)), b.add(ay, b.mul(ah, 0.5))
    c = [_coord(b, x, i) for i in range(4)]
    ox = b.add(b.mul(b.mul(c[0], a["std0"]), aw), ax)
    oy = b.add(b.mul(b.mul(c[1], a["std1"]), ah), ay)
    dw, dh = b.mul(c[2], a["std2"]), b.mul(c[3], a["std3"])
    if a["clip"] > 0:
        dw, dh = b.minimum(dw, a["clip"]), b.minimum(dh, a["clip"])
    ow = b.mul(b.mul(b.exp(dw), aw), 0.5)
    oh = b.mul(b.mul(b.exp(dh), ah), 0.5)
    return [_concat_last(b, [b.sub(ox, ow), b.sub(oy, oh), b.add(ox, ow), b.add(oy, oh)])]


register_op(OpDef(
    name="_contrib_box_decode",
    attrs=tuple(Attr(f"std{i}", "float", 1.0,
                     doc=f"value to be divided from the {i + 1}th encoded values")
                for i in range(4)) + (
        Attr("clip", "float", -1.0,
             doc="If larger than 0, bounding box target will be clipped to this value."),
        Attr("format", "str", "center", choices=_FMT,
             doc="The anchors' encoding: corner [xmin, ymin, xmax, ymax] or center "
                 "[x, y, width, height].")),
    arguments=("data", "anchors"), infer_shape=forward_shape(_decode_rule),
    interp=_decode_np, decompose=_decode_decompose, vjp=_zero_vjp,
    doc="Decode (B, N, 4) offsets against anchors into corner boxes: elementwise. "
        "Gradient: zero (MXNet).",
))


def _encode_rule(rc, shapes):
    s, m, an, r, mean, std = shapes
    if len(s) != 2:
        raise rc.shape_error(f"samples has shape ({shape_str(s)}); expected (B, N)")
    if len(an) != 3 or an[-1] != 4 or tuple(an[:2]) != tuple(s):
        raise rc.shape_error(f"anchors have shape ({shape_str(an)}); expected (B, N, 4) = "
                             f"({s[0]}, {s[1]}, 4) from samples ({shape_str(s)})")
    if tuple(m) != tuple(s):
        raise rc.shape_error(f"matches has shape ({shape_str(m)}); expected ({shape_str(s)}) "
                             "as samples")
    if len(r) != 3 or r[-1] != 4 or r[0] != s[0]:
        raise rc.shape_error(f"refs have shape ({shape_str(r)}); expected (B, M, 4) with "
                             f"B = {s[0]}")
    for what, v in (("means", mean), ("stds", std)):
        if tuple(v) != (4,):
            raise rc.shape_error(f"{what} has shape ({shape_str(v)}); expected (4,)")
    return [tuple(an), tuple(an)]


def _encode_shape(rc, shapes):
    shapes = list(shapes)
    for i in (4, 5):                           # MXNet fills means / stds as (4,)
        if shapes[i] is None:
            shapes[i] = (4,)
    return forward_shape(_encode_rule)(rc, shapes)


def _encode_np(xs, a):
    s, m, an, r, mean, std = xs
    dt = an.dtype.type
    M = r.shape[1]
    idx = np.clip(m.astype(np.int64), 0, M - 1)
    ref = np.take_along_axis(r, idx[..., None].repeat(4, -1), 1)
    half = dt(0.5)
    rw, rh = ref[..., 2] - ref[..., 0], ref[..., 3] - ref[..., 1]
    rx, ry = ref[..., 0] + rw * half, ref[..., 1] + rh * half
    aw, ah = an[..., 2] - an[..., 0], an[..., 3] - an[..., 1]
    ax, ay = an[..., 0] + aw * half, an[..., 1] + ah * half
    valid = s > 0.5
    with np.errstate(all="ignore"):
        t = [((rx - ax) / aw - mean[0]) / std[0], ((ry - ay) / ah - mean[1]) / std[1],
             (np.log(rw / aw) - mean[2]) / std[2], (np.log(rh / ah) - mean[3]) / std[3]]
    t = np.stack([np.where(valid, v, 0) for v in t], -1).astype(an.dtype)
    mask = np.repeat(valid[..., None], 4, -1).astype(an.dtype)
    return t, mask


def _encode_decompose(b, op):
    s, m, an, r, mean, std = op.inputs
    B, N = s.shape
    M = r.shape[1]
    from .nn import build_one_hot
    idx = b.op("clip", [b.op("fix", [m])], {"a_min": 0.0, "a_max": float(M - 1)})
    oh = build_one_hot(b, idx, M, dtype=r.dtype.np_name)                 # (B, N, M)
    ref = b.op("batch_dot", [oh, r])                                       # (B, N, 4)
    rp, ap = [_coord(b, ref, i) for i in range(4)], [_coord(b, an, i) for i in range(4)]
    rw, rh = b.sub(rp[2], rp[0]), b.sub(rp[3], rp[1])
    rx, ry = b.add(rp[0], b.mul(rw, 0.5)), b.add(rp[1], b.mul(rh, 0.5))
    aw, ah = b.sub(ap[2], ap[0]), b.sub(ap[3], ap[1])
    ax, ay = b.add(ap[0], b.mul(aw, 0.5)), b.add(ap[1], b.mul(ah, 0.5))

    def ms(v, i):
        mu = b.reshape(b.op("slice_axis", [mean], {"axis": 0, "begin": i, "end": i + 1}),
                       (1, 1, 1))
        sd = b.reshape(b.op("slice_axis", [std], {"axis": 0, "begin": i, "end": i + 1}),
                       (1, 1, 1))
        return b.div(b.sub(v, mu), sd)

    t = [ms(b.div(b.sub(rx, ax), aw), 0), ms(b.div(b.sub(ry, ay), ah), 1),
         ms(b.log(b.div(rw, aw)), 2), ms(b.log(b.div(rh, ah)), 3)]
    valid = b.op("_greater_scalar", [b.reshape(s, (B, N, 1))], {"scalar": 0.5})
    valid = b.broadcast_to(b.cast(valid, an.dtype), (B, N, 4))
    tgt = _concat_last(b, t)
    return [b.where(valid, tgt, b.zeros_like(tgt)), valid]


register_op(OpDef(
    name="_contrib_box_encode",
    arguments=("samples", "matches", "anchors", "refs", "means", "stds"),
    outputs=("output0", "output1"),
    infer_shape=_encode_shape, interp=_encode_np, decompose=_encode_decompose,
    vjp=_zero_vjp,
    doc="Training targets ((ref centre - anchor centre) / anchor size, log size ratios; "
        "normalised by means/stds) and masks for positive samples; the matched reference is "
        "gathered with a one-hot batched GEMM. Gradient: zero (MXNet).",
))


# =================================================================================================
# box_nms
# =================================================================================================
def _nms_check(rc, s):
    a = rc.attrs
    if len(s) < 2:
        raise rc.shape_error(f"data has shape ({shape_str(s)}); expected at least 2 "
                             "dimensions (..., num_boxes, box_width)")
    width = s[-1]
    need = 5 + (1 if a["id_index"] >= 0 else 0)
    if width < need:
        raise rc.shape_error(f"data has shape ({shape_str(s)}); the last dimension must have "
                             f"at least {need} elements (score, 4 coordinates"
                             f"{', class id' if need == 6 else ''})")
    cs, si, ii = a["coord_start"], a["score_index"], a["id_index"]
    if not 0 <= si < width:
        raise rc.attr_error(f"score_index={si} is out of range for box width {width}")
    if cs <= si <= cs + 3:
        raise rc.attr_error(f"score_index={si} conflicts with the coordinates "
                            f"[{cs}, {cs + 3}]")
    if cs < 0 or cs + 3 >= width:
        raise rc.attr_error(f"coord_start={cs}: coordinates [{cs}, {cs + 3}] are out of range "
                            f"for box width {width}")
    if ii >= 0:
        if ii >= width:
            raise rc.attr_error(f"id_index={ii} is out of range for box width {width}")
        if cs <= ii <= cs + 3:
            raise rc.attr_error(f"id_index={ii} conflicts with the coordinates "
                                f"[{cs}, {cs + 3}]")
        if ii == si:
            raise rc.attr_error(f"id_index={ii} conflicts with score_index={si}")


def _nms_rule(rc, shapes):
    s = shapes[0]
    _nms_check(rc, s)
    return [tuple(s), tuple(s[:-1]) + (1,)]


def _nms_suppress(bx, fmt, thr):
    """``suppress(i, j)``: IoU of box i with boxes j (an index array) > thr, with MXNet's
    box_nms arithmetic (float32): Intersect along x and y, BoxArea (0 for negative sizes)."""
    x1, y1, x2, y2 = _as_corner_np(bx, fmt)
    area = _area_np(bx, fmt)

    def overlap(i, j):
        iw = np.maximum(np.minimum(x2[i], x2[j]) - np.maximum(x1[i], x1[j]), 0)
        ih = np.maximum(np.minimum(y2[i], y2[j]) - np.maximum(y1[i], y1[j]), 0)
        inter = (iw * ih).astype(bx.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            return inter / (area[i] + area[j] - inter) > thr
    return overlap


def _greedy_keep(n, suppress, ids=None):
    """Greedy suppression in score order over ``n`` boxes: each surviving box i drops the later
    surviving boxes j where ``suppress(i, j)`` (a bool array) holds; with ``ids`` only boxes of
    the same class suppress each other. Overlaps are computed one row at a time (no n x n
    matrix), so the cost follows the survivors."""
    alive = np.ones(n, bool)
    for i in range(n):
        if not alive[i]:
            continue
        j = i + 1 + np.nonzero(alive[i + 1:])[0]
        if ids is not None:
            j = j[ids[j] == ids[i]]
        if j.size:
            alive[j[suppress(i, j)]] = False
    return alive


def _convert_fmt_np(c, src, dst):
    """MXNet's in-place corner<->center conversion of output rows; rows whose first coordinate
    is negative (the -1 fill, and any such box) are left as they are, as MXNet's."""
    if src == dst:
        return c
    c = c.copy()
    keep = c[..., 0] >= 0
    a0, a1, a2, a3 = (c[..., i].copy() for i in range(4))
    if dst == "center":
        new = [(a0 + a2) / 2, (a1 + a3) / 2, a2 - a0, a3 - a1]
    else:
        new = [a0 - a2 / 2, a1 - a3 / 2, a0 + a2 / 2, a1 + a3 / 2]
    for i in range(4):
        c[..., i] = np.where(keep, new[i].astype(c.dtype), c[..., i])
    return c


def _nms_np(a, x):
    shape = x.shape
    N, W = shape[-2], shape[-1]
    B = numel(shape[:-2]) if len(shape) > 2 else 1
    xd = x.reshape(B, N, W)
    cs, si, ii = a["coord_start"], a["score_index"], a["id_index"]
    topk = N if a["topk"] < 0 else min(N, a["topk"])
    if topk < 1:
        return x.copy(), np.arange(B * N, dtype=x.dtype).reshape(shape[:-1] + (1,))
    out = np.full((B, N, W), -1, x.dtype)
    rec = np.full((B, N), -1, x.dtype)
    for b in range(B):
        s = xd[b, :, si]
        valid = s > _f32(a["valid_thresh"]) if x.dtype == np.float32 else s > a["valid_thresh"]
        if ii >= 0:
            valid &= xd[b, :, ii] != a["background_id"]
        cand = np.nonzero(valid)[0]
        cand = cand[np.argsort(-s[cand].astype(np.float64), kind="stable")][:topk]
        if cand.size == 0:
            continue
        suppress = _nms_suppress(xd[b, cand, cs:cs + 4], a["in_format"],
                                 xd.dtype.type(a["overlap_thresh"]))
        ids = None
        if ii >= 0 and not a["force_suppress"]:
            ids = xd[b, cand, ii].astype(np.int64)        # MXNet compares int-cast ids
        kept = cand[_greedy_keep(cand.size, suppress, ids)]
        out[b, :kept.size] = xd[b, kept]
        rec[b, :kept.size] = b * N + kept
    out[..., cs:cs + 4] = _convert_fmt_np(out[..., cs:cs + 4], a["in_format"], a["out_format"])
    return out.reshape(shape), rec.reshape(shape[:-1] + (1,))


def _nms_grad_np(a, g, rec):
    """The gradient of each output row goes to the input row it came from (its record)."""
    W = g.shape[-1]
    gf = g.reshape(-1, W)
    r = rec.reshape(-1).astype(np.int64)
    out = np.zeros_like(gf)
    m = r >= 0
    out[r[m]] = gf[m]
    return (out.reshape(g.shape),)


def _nms_grad_t(a, g, rec):
    import torch
    W = g.shape[-1]
    gf = g.reshape(-1, W)
    r = rec.reshape(-1).long()
    m = r >= 0
    out = torch.zeros_like(gf)
    out[r[m]] = gf[m]
    return (out.reshape(g.shape),)


def _nms_vjp(b, op, g):
    g0 = g[0] if isinstance(g, (list, tuple)) else g
    return (b.op("_box_nms_grad", [g0, op.outputs[1]]),)


_NMS_ATTRS = (
    Attr("overlap_thresh", "float", 0.5,
         doc="Overlapping(IoU) threshold to suppress object with smaller score."),
    Attr("valid_thresh", "float", 0.0,
         doc="Filter input boxes to those whose scores greater than valid_thresh."),
    Attr("topk", "int", -1,
         doc="Apply nms to topk boxes with descending scores, -1 to no restriction."),
    Attr("coord_start", "int", 2, doc="Start index of the consecutive 4 coordinates."),
    Attr("score_index", "int", 1, doc="Index of the scores/confidence of boxes."),
    Attr("id_index", "int", -1, doc="Optional, index of the class categories, -1 to disable."),
    Attr("background_id", "int", -1,
         doc="Optional, id of the background class which will be ignored in nms."),
    Attr("force_suppress", "bool", False,
         doc="Optional, if set false and id_index is provided, nms will only apply to boxes "
             "belongs to the same category"),
    Attr("in_format", "str", "corner", choices=_FMT, doc="The input box encoding type."),
    Attr("out_format", "str", "corner", choices=_FMT, doc="The output box encoding type."),
)

register_op(OpDef(
    name="_contrib_box_nms", attrs=_NMS_ATTRS, arguments=("data",),
    outputs=("output", "record"), num_visible_outputs=1,
    infer_shape=forward_shape(_nms_rule),
    infer_dtype=lambda rc, d: (d, [d[0], d[0]]),
    interp=lambda xs, a: _nms_np(a, xs[0]), vjp=_nms_vjp,
    lower=Extern(_HostCall(_nms_np), "box_nms"),
    aliases=("_contrib_box_non_maximum_suppression",),
    extra={"library_reason": _REASON_SORT},
    doc="Non-maximum suppression per batch: rows sorted by score (descending, stable), kept "
        "rows first, suppressed / invalid rows -1; a hidden record output keeps each output "
        "row's input position. Gradient: each output row's gradient goes back to its input "
        "row (MXNet's), suppressed rows get 0.",
))

register_op(OpDef(
    name="_box_nms_grad", arguments=("grad", "record"),
    infer_shape=lambda rc, shapes: (list(shapes), [shapes[0]]),
    infer_dtype=lambda rc, d: (d, [d[0]]),
    interp=lambda xs, a: _nms_grad_np(a, *xs), differentiable=False,
    lower=Extern(_TorchCall(_nms_grad_t), "box_nms_grad"),
    extra={"library_reason": "writes at data-dependent addresses (the NMS record)"},
    doc="(internal) box_nms's gradient: each row of grad written to the input row its record "
        "names.",
))


# =================================================================================================
# bipartite_matching
# =================================================================================================
def _bm_rule(rc, shapes):
    s = shapes[0]
    if len(s) < 2:
        raise rc.shape_error(f"data has shape ({shape_str(s)}); expected a score matrix with "
                             "at least 2 dimensions (..., N, M)")
    return [tuple(s[:-1]), tuple(s[:-2]) + (s[-1],)]


def _bm_np(a, x):
    shape = x.shape
    N, M = shape[-2], shape[-1]
    B = numel(shape[:-2]) if len(shape) > 2 else 1
    xs = x.reshape(B, N * M)
    rows = np.full((B, N), -1, x.dtype)
    cols = np.full((B, M), -1, x.dtype)
    thr = a["threshold"]
    asc = a["is_ascend"]
    topk = a["topk"]
    for b in range(B):
        s = xs[b]
        key = s.astype(np.float64) if asc else -s.astype(np.float64)
        order = np.argsort(key, kind="stable")
        count = 0
        full = min(N, M)
        for j in order:
            r, c = divmod(int(j), M)
            if rows[b, r] != -1 or cols[b, c] != -1:
                continue
            if (not asc and s[j] > thr) or (asc and s[j] < thr):
                rows[b, r] = c
                cols[b, c] = r
                count += 1
                if (topk > 0 and count > topk) or count == full:
                    break
            else:
                break
    return rows.reshape(shape[:-1]), cols.reshape(shape[:-2] + (M,))


register_op(OpDef(
    name="_contrib_bipartite_matching",
    attrs=(Attr("is_ascend", "bool", False, doc="Use ascend order for scores instead of "
                "descending. Please set threshold accordingly."),
           Attr("threshold", "float", doc="Ignore matching when score < thresh, if "
                "is_ascend=false, or ignore score > thresh, if is_ascend=true."),
           Attr("topk", "int", -1, doc="Limit the number of matches to topk, set -1 for no "
                "limit")),
    arguments=("data",), outputs=("output0", "output1"),
    infer_shape=forward_shape(_bm_rule), infer_dtype=lambda rc, d: (d, [d[0], d[0]]),
    interp=lambda xs, a: _bm_np(a, xs[0]), vjp=_zero_vjp,
    lower=Extern(_HostCall(_bm_np), "bipartite_matching"),
    extra={"library_reason": "greedy matching in sorted score order (sequential, "
                             "data-dependent)"},
    doc="Greedy bipartite matching of a (..., N, M) score matrix in score order: the matched "
        "column of each row and the matched row of each column, -1 where unmatched; as MXNet, "
        "topk > 0 stops after topk + 1 matches. Gradient: zero (MXNet).",
))


# =================================================================================================
# ROI operators: shared checks
# =================================================================================================
def _roi_shapes(rc, d, r):
    if len(d) != 4:
        raise rc.shape_error(f"data has shape ({shape_str(d)}); expected a 4-d feature map "
                             "(batch, channel, height, width)")
    if len(r) != 2 or r[1] != 5:
        raise rc.shape_error(f"rois have shape ({shape_str(r)}); expected (num_rois, 5) rows "
                             "[batch_index, x1, y1, x2, y2]")


def _roi_dtype(rc, d):
    known = [x for x in d if x is not None]
    if len(known) == 2 and known[0] != known[1]:
        raise rc.dtype_error(f"data is {known[0].np_name} and rois {known[1].np_name}; "
                             "expected one dtype")
    dt = known[0] if known else None
    return [dt, dt], [dt] * rc.opdef.num_outputs(rc.attrs)


def _cround(x):
    """C's round(): halves away from zero (torch.round rounds them to even)."""
    import torch
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


# =================================================================================================
# ROIPooling (library: max over value-dependent windows, argmax recorded for the gradient)
# =================================================================================================
def _roipool_rule(rc, shapes):
    d, r = shapes
    _roi_shapes(rc, d, r)
    ph, pw = rc.attrs["pooled_size"]
    s = (r[0], d[1], ph, pw)
    return [s, s]


def _roipool_check(rc):
    ps = rc.attrs["pooled_size"]
    if len(ps) != 2 or min(ps) <= 0:
        raise rc.attr_error(f"pooled_size={ps}; expected 2 positive values (h, w)")
    if not 0.0 <= rc.attrs["spatial_scale"] <= 1.0:
        raise rc.attr_error(f"spatial_scale={rc.attrs['spatial_scale']} is out of range; "
                            "expected a value in [0, 1]")


def _roipool_dtype(rc, d):
    ins, outs = _roi_dtype(rc, d)
    return ins, [outs[0], DType.i64]


def _roipool_t(a, data, rois):
    import torch
    N, C, H, W = data.shape
    PH, PW = a["pooled_size"]
    R = rois.shape[0]
    ss = torch.tensor(a["spatial_scale"], dtype=torch.float32)
    out = torch.zeros((R, C, PH, PW), dtype=data.dtype, device=data.device)
    arg = torch.full((R, C, PH, PW), -1, dtype=torch.int64, device=data.device)
    rc = rois.detach().cpu()
    for n in range(R):
        b = int(rc[n, 0].item())
        if b < 0 or b >= N:
            continue
        sw, sh, ew, eh = (int(_cround(rc[n, i].float() * ss).item()) for i in (1, 2, 3, 4))
        rh, rw = max(eh - sh + 1, 1), max(ew - sw + 1, 1)
        bh = torch.tensor(rh, dtype=rc.dtype) / PH
        bw = torch.tensor(rw, dtype=rc.dtype) / PW
        p = torch.arange(PH, dtype=rc.dtype)
        q = torch.arange(PW, dtype=rc.dtype)
        hs = (torch.floor(p * bh).long() + sh).clamp(0, H)
        he = (torch.ceil((p + 1) * bh).long() + sh).clamp(0, H)
        ws = (torch.floor(q * bw).long() + sw).clamp(0, W)
        we = (torch.ceil((q + 1) * bw).long() + sw).clamp(0, W)
        h0, h1 = int(hs.min()), int(he.max())
        w0, w1 = int(ws.min()), int(we.max())
        if h1 <= h0 or w1 <= w0:
            continue                                   # every bin empty: 0, argmax -1
        dev = data.device
        x = data[b, :, h0:h1, w0:w1]                                           # (C, rh, rw)
        neg = torch.tensor(-np.finfo(np.float32).max, dtype=data.dtype, device=dev)
        # separable max with MXNet's tie rule (first maximum in row-major order): the first
        # maximum of each row within each column bin, then the first row holding the maximum
        m1 = torch.full((C, h1 - h0, PW), float(neg), dtype=data.dtype, device=dev)
        a1 = torch.zeros((C, h1 - h0, PW), dtype=torch.int64, device=dev)
        for q, (lo, hi) in enumerate(zip(ws.tolist(), we.tolist())):
            if hi > lo:
                m1[:, :, q], a1[:, :, q] = x[:, :, lo - w0:hi - w0].max(-1)
                a1[:, :, q] += lo - w0
        val = torch.full((C, PH, PW), float(neg), dtype=data.dtype, device=dev)
        ah = torch.zeros((C, PH, PW), dtype=torch.int64, device=dev)
        for p_, (lo, hi) in enumerate(zip(hs.tolist(), he.tolist())):
            if hi > lo:
                val[:, p_], ah[:, p_] = m1[:, lo - h0:hi - h0].max(1)
                ah[:, p_] += lo - h0
        aw = torch.gather(a1, 1, ah)
        ok = ((he > hs)[:, None] & (we > ws)[None, :]).to(dev)
        ok = ok[None] & (val > neg)
        out[n] = torch.where(ok, val, torch.zeros_like(val))
        glob = ((b * C + torch.arange(C, device=dev))[:, None, None] * H + h0 + ah) * W + w0 + aw
        arg[n] = torch.where(ok, glob, torch.full_like(glob, -1))
    return out, arg


def _roipool_grad_t(a, g, arg, data):
    import torch
    out = torch.zeros_like(data).reshape(-1)
    i = arg.reshape(-1)
    m = i >= 0
    out.index_add_(0, i[m], g.reshape(-1)[m])
    return (out.reshape(data.shape),)


def _roipool_vjp(b, op, g):
    g0 = g[0] if isinstance(g, (list, tuple)) else g
    return (b.op("_roi_pooling_grad", [g0, op.outputs[1], op.inputs[0]]), None)


register_op(OpDef(
    name="ROIPooling",
    attrs=(Attr("pooled_size", "shape", doc="ROI pooling output shape (h,w) "),
           Attr("spatial_scale", "float", doc="Ratio of input feature map height (or w) to raw "
                "image height (or w). Equals the reciprocal of total stride in convolutional "
                "layers")),
    arguments=("data", "rois"), outputs=("output", "maxidx"), num_visible_outputs=1,
    infer_shape=forward_shape(_roipool_rule), validate=_roipool_check,
    infer_dtype=_roipool_dtype,
    interp=_torch_interp(_roipool_t), vjp=_roipool_vjp,
    lower=Extern(_TorchCall(_roipool_t), "roi_pooling"),
    aliases=("_npx_roi_pooling",),
    extra={"library_reason": "max over windows whose bounds are computed from the roi values"},
    doc="Max pooling of each region [batch, x1, y1, x2, y2] (rounded to the feature grid) "
        "into pooled_size bins; empty bins give 0. Gradient: data gets the head gradient at "
        "each bin's argmax (first maximum in row-major order), rois 0, as MXNet.",
))

register_op(OpDef(
    name="_roi_pooling_grad", arguments=("grad", "maxidx", "data"),
    infer_shape=lambda rc, shapes: (list(shapes), [shapes[2]]),
    infer_dtype=lambda rc, d: (d, [d[0]]),
    interp=_torch_interp(_roipool_grad_t), differentiable=False,
    lower=Extern(_TorchCall(_roipool_grad_t), "roi_pooling_grad"),
    extra={"library_reason": "scatter-adds at the recorded argmax positions"},
    doc="(internal) ROIPooling's gradient: the head gradient scatter-added at each argmax.",
))


# =================================================================================================
# ROIAlign / PSROIPooling: separable sampling weights (library) + two GEMMs (primitives)
# =================================================================================================
def _axis_weights_align(start, bin_, grid, P, L, gmax):
    """Bilinear weights (R, P, L) of one axis: sample ``i < grid`` of bin ``p`` sits at
    ``start + p * bin + (i + .5) * bin / grid``; out-of-range samples (< -1 or > L) weigh 0,
    samples are clamped to [0, L - 1] as MXNet's ROIAlign."""
    import torch
    dt = start.dtype
    R = start.shape[0]
    p = torch.arange(P, dtype=dt, device=start.device)[None, :, None]
    i = torch.arange(gmax, dtype=dt, device=start.device)[None, None, :]
    s, bn, gr = start[:, None, None], bin_[:, None, None], grid[:, None, None]
    y = s + p * bn + (i + 0.5) * bn / gr.to(dt)
    use = (i < gr.to(dt)) & ~((y < -1.0) | (y > L))
    y = torch.clamp(y, min=0.0)
    lo = torch.floor(y).long()
    top = lo >= L - 1
    lo = torch.where(top, torch.full_like(lo, L - 1), lo)
    hi = torch.where(top, lo, lo + 1)
    y = torch.where(top, lo.to(dt), y)
    ly = y - lo.to(dt)
    hy = 1.0 - ly
    z = torch.zeros_like(ly)
    wl, wh = torch.where(use, hy, z), torch.where(use, ly, z)
    out = torch.zeros((R, P, L), dtype=dt, device=start.device)
    out.scatter_add_(2, lo.clamp(0, L - 1), wl)
    out.scatter_add_(2, hi.clamp(0, L - 1), wh)
    return out


def _axis_weights_window(lo_f, hi_f, L):
    """Averaging weights (R, P, L): 1 / (end - start) over [start, end) clipped to [0, L)."""
    import torch
    lo = torch.floor(lo_f).long().clamp(0, L)
    hi = torch.ceil(hi_f).long().clamp(0, L)
    x = torch.arange(L, device=lo.device)[None, None]
    m = (x >= lo[..., None]) & (x < hi[..., None])
    n = (hi - lo).clamp(min=1).to(lo_f.dtype)[..., None]
    return torch.where(m, 1.0 / n, torch.zeros((), dtype=lo_f.dtype, device=lo.device))


def _roi_weights_t(a, rois):
    """(Ay (R, PH, N*H), Ax (R, PW, W)) for the rois: ``out[r] = Ay[r] @ data[b] @ Ax[r]^T``
    with the batch index folded into Ay's columns (rows of other images weigh 0)."""
    import torch

    from ...base import MXNetError
    N, H, W = a["data_shape"]
    PH, PW = a["pooled_size"]
    dt = rois.dtype
    ss = torch.tensor(a["spatial_scale"], dtype=torch.float32).to(dt)
    bidx = rois[:, 0].to(torch.int64)
    x1, y1, x2, y2 = (rois[:, i] for i in (1, 2, 3, 4))
    if a["mode"] == "align":
        off = 0.5 if a["aligned"] else 0.0
        sw, sh, ew, eh = x1 * ss - off, y1 * ss - off, x2 * ss - off, y2 * ss - off
        rw, rh = ew - sw, eh - sh
        if a["aligned"]:
            if bool(((rw <= 0) | (rh <= 0)).any()):
                raise MXNetError(f"_contrib_ROIAlign '{a.get('where') or ''}': with aligned=True "
                                 "every roi must have a positive width and height (MXNet's "
                                 "check roi_width > 0)")
        else:
            rw, rh = torch.clamp(rw, min=1.0), torch.clamp(rh, min=1.0)
        bh, bw = rh / PH, rw / PW
        sr = a["sample_ratio"]
        if sr > 0:
            gh = torch.full_like(bidx, sr)
            gw = torch.full_like(bidx, sr)
        else:
            gh = torch.ceil(rh / PH).long()
            gw = torch.ceil(rw / PW).long()
        R = rois.shape[0]
        ghm = int(gh.max().item()) if R else 1
        gwm = int(gw.max().item()) if R else 1
        ay = _axis_weights_align(sh, bh, gh, PH, H, max(ghm, 1))
        ax = _axis_weights_align(sw, bw, gw, PW, W, max(gwm, 1))
        ay = ay / (gh * gw).to(dt)[:, None, None]
    else:                                                       # psroi
        sw, sh = _cround(x1) * ss, _cround(y1) * ss
        ew, eh = (_cround(x2) + 1.0) * ss, (_cround(y2) + 1.0) * ss
        rw = torch.clamp(ew - sw, min=0.1)
        rh = torch.clamp(eh - sh, min=0.1)
        bh, bw = rh / PH, rw / PW
        p = torch.arange(PH, dtype=dt, device=rois.device)[None]
        q = torch.arange(PW, dtype=dt, device=rois.device)[None]
        ay = _axis_weights_window(p * bh[:, None] + sh[:, None],
                                  (p + 1) * bh[:, None] + sh[:, None], H)
        ax = _axis_weights_window(q * bw[:, None] + sw[:, None],
                                  (q + 1) * bw[:, None] + sw[:, None], W)
    valid = (bidx >= 0) & (bidx < N)
    ay = torch.where(valid[:, None, None], ay, torch.zeros_like(ay))
    full = torch.zeros((rois.shape[0], PH, N, H), dtype=dt, device=rois.device)
    sel = torch.nn.functional.one_hot(bidx.clamp(0, N - 1), N).to(dt)      # (R, N)
    full = sel[:, None, :, None] * ay[:, :, None, :]
    return full.reshape(rois.shape[0], PH, N * H), ax


def _roi_weights_rule(rc, shapes):
    r = shapes[0]
    N, H, W = rc.attrs["data_shape"]
    PH, PW = rc.attrs["pooled_size"]
    return [(r[0], PH, N * H), (r[0], PW, W)]


register_op(OpDef(
    name="_roi_weights",
    attrs=(Attr("mode", "str", choices=("align", "psroi")),
           Attr("data_shape", "shape", doc="(N, H, W) of the feature map"),
           Attr("pooled_size", "shape"), Attr("spatial_scale", "float"),
           Attr("sample_ratio", "int", -1), Attr("aligned", "bool", False),
           Attr("where", "str", "", doc="the ROI op's symbol name, for errors")),
    arguments=("rois",), outputs=("wy", "wx"),
    infer_shape=forward_shape(_roi_weights_rule), infer_dtype=lambda rc, d: (d, [d[0], d[0]]),
    interp=_torch_interp(_roi_weights_t), differentiable=False,
    lower=Extern(_TorchCall(_roi_weights_t), "roi_weights"),
    extra={"library_reason": "sample positions, counts and windows depend on the roi values"},
    doc="(internal) separable sampling weights of ROIAlign ('align': bilinear, adaptive grid) "
        "and PSROIPooling ('psroi': window averages): Ay (R, PH, N*H) with the roi's image "
        "selected, Ax (R, PW, W). The rois get no gradient (MXNet's is 0).",
))


def _roi_pool_by_weights(b, data, wy, wx, groups=None):
    """``out[r, c] = wy[r] @ data[batch(r), c] @ wx[r]^T`` as two GEMMs; ``groups`` =
    (Co, Gh, Gw, mask) selects, for bin (p, q), input channel (c, gh(p), gw(q)) as the
    position-sensitive operators do (a 0/1 mask and a sum)."""
    N, C, H, W = data.shape
    R, PH, _ = wy.shape
    PW = wx.shape[1]
    d = b.reshape(b.transpose(data, (0, 2, 1, 3)), (N * H, C * W))
    y1 = b.dot(b.reshape(wy, (R * PH, N * H)), d)                           # (R*PH, C*W)
    y1 = b.reshape(y1, (R, PH * C, W))
    y2 = b.op("batch_dot", [y1, wx], {"transpose_b": True})                 # (R, PH*C, PW)
    if groups is None:
        return b.transpose(b.reshape(y2, (R, PH, C, PW)), (0, 2, 1, 3))
    Co, Gh, Gw, mask = groups
    y2 = b.reshape(y2, (R, PH, Co, Gh, Gw, PW))
    y2 = b.op("broadcast_mul", [y2, b.reshape(mask, (1, PH, 1, Gh, Gw, PW))])
    y2 = b.sum(y2, axis=(3, 4))                                            # (R, PH, Co, PW)
    return b.transpose(y2, (0, 2, 1, 3))


def _group_mask(b, PH, PW, Gh, Gw, fh, fw, dt):
    """0/1 (PH, Gh, Gw, PW): 1 where g = fh(p) and g' = fw(q) (built from aranges)."""
    def sel(P, G, f):
        p = b.op("_arange", [], {"start": 0.0, "stop": float(P), "dtype": dt})
        gp = b.reshape(f(p), (P, 1))
        g = b.reshape(b.op("_arange", [], {"start": 0.0, "stop": float(G), "dtype": dt}),
                      (1, G))
        return b.cast(b.op("broadcast_equal", [gp, g]), dt)                 # (P, G)
    mh = b.reshape(sel(PH, Gh, fh), (PH, Gh, 1, 1))
    mw = b.reshape(b.transpose(sel(PW, Gw, fw), (1, 0)), (1, 1, Gw, PW))
    return b.op("broadcast_mul", [mh, mw])


def _roialign_rule(rc, shapes):
    d, r = shapes
    _roi_shapes(rc, d, r)
    ph, pw = rc.attrs["pooled_size"]
    c = d[1]
    if rc.attrs["position_sensitive"]:
        if c % (ph * pw):
            raise rc.shape_error(f"data has {c} channels ({shape_str(d)}); with "
                                 f"position_sensitive the channels must be divisible by "
                                 f"pooled_size[0]*pooled_size[1] = {ph * pw}")
        c //= ph * pw
    return (r[0], c, ph, pw)


def _roialign_weights(b, op, mode, extra):
    data, rois = op.inputs
    a = op.attrs
    N, _, H, W = data.shape
    attrs = {"mode": mode, "data_shape": (N, H, W), "spatial_scale": a["spatial_scale"],
             "where": op.name or ""}
    attrs.update(extra)
    return b.op("_roi_weights", [rois], attrs)


def _roialign_decompose(b, op):
    data = op.inputs[0]
    a = op.attrs
    PH, PW = a["pooled_size"]
    wy, wx = _roialign_weights(b, op, "align", {"pooled_size": (PH, PW),
                                                "sample_ratio": a["sample_ratio"],
                                                "aligned": a["aligned"]})
    groups = None
    if a["position_sensitive"]:
        ident = lambda v: v
        mask = _group_mask(b, PH, PW, PH, PW, ident, ident, data.dtype.np_name)
        groups = (data.shape[1] // (PH * PW), PH, PW, mask)
    return [_roi_pool_by_weights(b, data, wy, wx, groups)]


def _roi_ref(data, rois, wattrs, groups=None):
    """Reference: the same sampling weights, pooled with einsum (float64)."""
    import torch
    wy, wx = _roi_weights_t(wattrs, torch.from_numpy(np.ascontiguousarray(rois)))
    wy, wx = wy.double().numpy(), wx.double().numpy()
    N, C, H, W = data.shape
    R, PH, _ = wy.shape
    d = data.astype(np.float64).transpose(0, 2, 1, 3).reshape(N * H, C, W)
    out = np.einsum("rpk,kcw,rqw->rcpq", wy, d, wx)
    if groups is not None:
        Co, Gh, Gw, fh, fw = groups
        PW = wx.shape[1]
        out = out.reshape(R, Co, Gh, Gw, PH, PW)
        p, q = np.arange(PH), np.arange(PW)
        out = out[:, :, fh(p)[:, None], fw(q)[None, :], p[:, None], q[None, :]]
    return (out.astype(data.dtype),)


def _roialign_np(xs, a):
    data, rois = xs
    N, C, H, W = data.shape
    PH, PW = a["pooled_size"]
    wa = {"mode": "align", "data_shape": (N, H, W), "pooled_size": (PH, PW),
          "spatial_scale": a["spatial_scale"], "sample_ratio": a["sample_ratio"],
          "aligned": a["aligned"], "where": ""}
    groups = None
    if a["position_sensitive"]:
        ident = lambda v: v
        groups = (C // (PH * PW), PH, PW, ident, ident)
    return _roi_ref(data, rois, wa, groups)


def _roialign_check(rc):
    _roipool_check(rc)


register_op(OpDef(
    name="_contrib_ROIAlign",
    attrs=(Attr("pooled_size", "shape", doc="ROI Align output roi feature map height and "
                "width: (h, w)"),
           Attr("spatial_scale", "float", doc="Ratio of input feature map height (or w) to raw "
                "image height (or w). Equals the reciprocal of total stride in convolutional "
                "layers"),
           Attr("sample_ratio", "int", -1, doc="Optional sampling ratio of ROI align, using "
                "adaptive size by default."),
           Attr("position_sensitive", "bool", False, doc="Whether to perform position-sensitive "
                "RoI pooling."),
           Attr("aligned", "bool", False, doc="Center-aligned ROIAlign introduced in "
                "Detectron2.")),
    arguments=("data", "rois"), infer_shape=forward_shape(_roialign_rule),
    infer_dtype=_roi_dtype, validate=_roialign_check,
    interp=_roialign_np, decompose=_roialign_decompose,
    doc="Bilinear ROI align (Mask R-CNN): each bin averages a grid of bilinear samples "
        "(sample_ratio per axis, or ceil(roi size / pooled size)); out-of-map samples count 0. "
        "Separable, so it is Ay @ data @ Ax^T per roi: the weights are a library call on the "
        "rois, the pooling two GEMMs; autodiff gives data MXNet's gradient, rois get 0. "
        "position_sensitive picks channel (c, ph, pw) for bin (ph, pw). A negative batch index "
        "gives zeros (MXNet leaves those outputs unwritten).",
))


# --- PSROIPooling ----------------------------------------------------------------------------------
def _psroi_group(a):
    return a["group_size"] if a["group_size"] > 0 else a["pooled_size"]


def _psroi_rule(rc, shapes):
    d, r = shapes
    _roi_shapes(rc, d, r)
    a = rc.attrs
    G = _psroi_group(a)
    need = a["output_dim"] * G * G
    if d[1] < need:
        raise rc.shape_error(f"data has {d[1]} channels ({shape_str(d)}); expected at least "
                             f"output_dim * group_size^2 = {need}")
    return (r[0], a["output_dim"], a["pooled_size"], a["pooled_size"])


def _psroi_check(rc):
    a = rc.attrs
    if a["pooled_size"] <= 0 or a["output_dim"] <= 0 or a["group_size"] < 0:
        raise rc.attr_error(f"pooled_size={a['pooled_size']}, output_dim={a['output_dim']}, "
                            f"group_size={a['group_size']}; expected positive sizes")
    if not 0.0 <= a["spatial_scale"] <= 1.0:
        raise rc.attr_error(f"spatial_scale={a['spatial_scale']} is out of range; expected a "
                            "value in [0, 1]")


def _psroi_sel(P, G):
    """Group index of bin p: clip(floor(p * G / P), 0, G - 1) (float arithmetic, as MXNet)."""
    def f(p):
        v = np.floor(np.asarray(p, np.float32) * np.float32(G) / np.float32(P))
        return np.clip(v.astype(np.int64), 0, G - 1)
    return f


def _psroi_np(xs, a):
    data, rois = xs
    N, _, H, W = data.shape
    P, G, Co = a["pooled_size"], _psroi_group(a), a["output_dim"]
    wa = {"mode": "psroi", "data_shape": (N, H, W), "pooled_size": (P, P),
          "spatial_scale": a["spatial_scale"], "sample_ratio": -1, "aligned": False,
          "where": ""}
    return _roi_ref(data[:, :Co * G * G], rois, wa, (Co, G, G, _psroi_sel(P, G),
                                                       _psroi_sel(P, G)))


def _psroi_decompose(b, op):
    data = op.inputs[0]
    a = op.attrs
    P, G, Co = a["pooled_size"], _psroi_group(a), a["output_dim"]
    if data.shape[1] != Co * G * G:
        data = b.op("slice_axis", [data], {"axis": 1, "begin": 0, "end": Co * G * G})
    wy, wx = _roialign_weights(b, op, "psroi", {"pooled_size": (P, P)})
    dt = data.dtype.np_name

    def f(p):
        v = b.op("floor", [b.div(b.mul(p, float(G)), float(P))])
        return b.op("clip", [v], {"a_min": 0.0, "a_max": float(G - 1)})
    mask = _group_mask(b, P, P, G, G, f, f, dt)
    return [_roi_pool_by_weights(b, data, wy, wx, (Co, G, G, mask))]


register_op(OpDef(
    name="_contrib_PSROIPooling",
    attrs=(Attr("spatial_scale", "float", doc="Ratio of input feature map height (or w) to raw "
                "image height (or w). Equals the reciprocal of total stride in convolutional "
                "layers"),
           Attr("output_dim", "int", doc="fix output dim"),
           Attr("pooled_size", "int", doc="fix pooled size"),
           Attr("group_size", "int", 0, doc="fix group size")),
    arguments=("data", "rois"), infer_shape=forward_shape(_psroi_rule),
    infer_dtype=_roi_dtype, validate=_psroi_check,
    interp=_psroi_np, decompose=_psroi_decompose,
    doc="Position-sensitive ROI pooling (R-FCN): bin (ph, pw) of output channel c averages "
        "input channel (c, gh, gw) over the bin's window (rounded roi, +1 end, min size 0.1); "
        "empty bins give 0. Window averages are separable: library weights on the rois, two "
        "GEMMs and a channel-selection mask; autodiff gives data MXNet's gradient, rois 0.",
))


# =================================================================================================
# MultiBoxTarget
# =================================================================================================
_VAR = Attr("variances", "floats", (0.1, 0.1, 0.2, 0.2),
            doc="Variances to be encoded in box regression target.")


def _mbt_rule(rc, shapes):
    an, lab, cls = shapes
    if len(an) != 3 or an[0] != 1 or an[1] <= 0 or an[2] != 4:
        raise rc.shape_error(f"anchor has shape ({shape_str(an)}); expected (1, num_anchors, 4) "
                             "shared across the batch")
    if len(lab) != 3 or lab[1] <= 0 or lab[2] < 5:
        raise rc.shape_error(f"label has shape ({shape_str(lab)}); expected (batch, num_labels, "
                             "label_width >= 5) rows [class, xmin, ymin, xmax, ymax]")
    if len(cls) != 3 or cls[2] != an[1]:
        raise rc.shape_error(f"cls_pred has shape ({shape_str(cls)}); expected (batch, "
                             f"num_classes, {an[1]}) for anchor ({shape_str(an)})")
    return [(lab[0], an[1] * 4), (lab[0], an[1] * 4), (lab[0], an[1])]


def _mbt_check(rc):
    if len(rc.attrs["variances"]) != 4:
        raise rc.attr_error(f"variances={rc.attrs['variances']}; expected 4 values")


def _overlaps_np(anchors, gt):
    """IoU (A, L) of anchors (A, 4) and ground truths (L, 4), MXNet's MultiBox arithmetic."""
    a, g = anchors[:, None, :], gt[None, :, :]
    iw = np.maximum(0, np.minimum(a[..., 2], g[..., 2]) - np.maximum(a[..., 0], g[..., 0]))
    ih = np.maximum(0, np.minimum(a[..., 3], g[..., 3]) - np.maximum(a[..., 1], g[..., 1]))
    inter = (iw * ih).astype(anchors.dtype)
    u = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) +
         (g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1]) - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(u == 0, 0, inter / u).astype(anchors.dtype)


def _loc_targets_np(an, gt, var):
    f = np.float32
    an, gt = an.astype(f), gt.astype(f)
    aw, ah = an[:, 2] - an[:, 0], an[:, 3] - an[:, 1]
    ax, ay = (an[:, 0] + an[:, 2]) * f(0.5), (an[:, 1] + an[:, 3]) * f(0.5)
    gw, gh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    gx, gy = (gt[:, 0] + gt[:, 2]) * f(0.5), (gt[:, 1] + gt[:, 3]) * f(0.5)
    v = [f(x) for x in var]
    with np.errstate(all="ignore"):
        return np.stack([(gx - ax) / aw / v[0], (gy - ay) / ah / v[1],
                         np.log(gw / aw) / v[2], np.log(gh / ah) / v[3]], -1)


def _mbt_np(a, anchor, label, cls_pred):
    from ...base import MXNetError
    dt = anchor.dtype
    anchors = anchor.reshape(-1, 4)
    B, L, _ = label.shape
    A = anchors.shape[0]
    loc_t = np.zeros((B, A, 4), dt)
    loc_m = np.zeros((B, A, 4), dt)
    cls_t = np.full((B, A), a["ignore_label"], dt)
    for b in range(B):
        lab = label[b]
        K = 0
        for i in range(L):
            if float(lab[i, 0]) == -1.0:
                if not np.all(lab[i, 1:5] == -1.0):
                    raise MXNetError(f"_contrib_MultiBoxTarget: label row {i} of batch {b} has "
                                     f"class -1 but coordinates {lab[i, 1:5].tolist()}; padding "
                                     "rows must be all -1")
                break
            K += 1
        if K == 0:
            continue
        ov = _overlaps_np(anchors, lab[:K, 1:5])                          # (A, K)
        gt_flag = np.zeros(K, bool)
        flag = np.full(A, -1, np.int8)
        best_iou = np.full(A, -1.0, np.float32)
        best_gt = np.full(A, -1, np.int64)
        npos = 0
        while not gt_flag.all():
            m = np.where((flag == 1)[:, None] | gt_flag[None, :], -np.inf, ov)
            j = int(np.argmax(m))
            aj, gk = divmod(j, K)
            if not m[aj, gk] > np.float32(1e-6):
                break
            best_iou[aj], best_gt[aj] = ov[aj, gk], gk
            npos += 1
            gt_flag[gk] = True
            flag[aj] = 1
        if a["overlap_threshold"] > 0:
            free = np.nonzero(flag != 1)[0]
            bg = np.argmax(ov[free], axis=1)
            bi = ov[free, bg]
            best_iou[free], best_gt[free] = bi, bg
            pos = free[bi > np.float32(a["overlap_threshold"])]
            flag[pos] = 1
            npos += pos.size
        if a["negative_mining_ratio"] > 0:
            nneg = int(np.float32(npos) * np.float32(a["negative_mining_ratio"]))
            nneg = min(nneg, A - npos)
            if nneg > 0:
                free = np.nonzero(flag != 1)[0]
                need = free[best_iou[free] < 0]          # not matched above: best gt now
                if need.size:
                    k = np.argmax(ov[need], axis=1)
                    best_iou[need], best_gt[need] = ov[need, k], k
                cand = free[(best_iou[free] < np.float32(a["negative_mining_thresh"])) &
                            (flag[free] == -1)]
                if cand.size < nneg:
                    raise MXNetError(f"_contrib_MultiBoxTarget: {cand.size} negative "
                                     f"candidates for {nneg} negative samples in batch {b}")
                p = cls_pred[b][:, cand]                                   # (C, n)
                mx = p.max(0)
                prob = np.exp(p[0] - mx) / np.exp(p - mx).sum(0, dtype=p.dtype)
                order = np.argsort(prob.astype(np.float64), kind="stable")
                flag[cand[order[:nneg]]] = 0
        else:
            flag[flag != 1] = 0
        pos = np.nonzero(flag == 1)[0]
        cls_t[b, pos] = lab[best_gt[pos], 0] + 1
        loc_m[b, pos] = 1
        loc_t[b, pos] = _loc_targets_np(anchors[pos], lab[best_gt[pos], 1:5],
                                        a["variances"]).astype(dt)
        cls_t[b, flag == 0] = 0
    return loc_t.reshape(B, A * 4), loc_m.reshape(B, A * 4), cls_t


register_op(OpDef(
    name="_contrib_MultiBoxTarget",
    attrs=(Attr("overlap_threshold", "float", 0.5, doc="Anchor-GT overlap threshold to be "
                "regarded as a positive match."),
           Attr("ignore_label", "float", -1.0, doc="Label for ignored anchors."),
           Attr("negative_mining_ratio", "float", -1.0, doc="Max negative to positive samples "
                "ratio, use -1 to disable mining"),
           Attr("negative_mining_thresh", "float", 0.5, doc="Threshold used for negative "
                "mining."),
           Attr("minimum_negative_samples", "int", 0, doc="Minimum number of negative samples."),
           _VAR),
    arguments=("anchor", "label", "cls_pred"),
    outputs=("loc_target", "loc_mask", "cls_target"),
    infer_shape=forward_shape(_mbt_rule), validate=_mbt_check,
    infer_dtype=lambda rc, d: (d, [d[0]] * 3),
    interp=lambda xs, a: _mbt_np(a, *xs), vjp=_zero_vjp,
    lower=Extern(_HostCall(_mbt_np), "multibox_target"), aliases=("_npx_multibox_target",),
    extra={"library_reason": "greedy anchor/ground-truth matching and hard-negative mining "
                             "(sequential, data-dependent)"},
    doc="SSD training targets: each ground truth takes its best anchor (greedy), other anchors "
        "match their best ground truth above overlap_threshold; negatives are all the rest, or "
        "the hardest by background probability (negative_mining_ratio). Outputs loc_target, "
        "loc_mask (B, A*4) and cls_target (B, A) (class + 1, 0 background, ignore_label). "
        "Gradient: zero (MXNet). minimum_negative_samples is accepted and unused, as in "
        "MXNet's CPU code.",
))


# =================================================================================================
# MultiBoxDetection
# =================================================================================================
def _mbd_rule(rc, shapes):
    cp, lp, an = shapes
    if len(cp) != 3 or len(lp) != 2 or len(an) != 3:
        raise rc.shape_error(f"cls_prob ({shape_str(cp)}), loc_pred ({shape_str(lp)}), anchor "
                             f"({shape_str(an)}); expected (batch, num_classes, num_anchors), "
                             "(batch, num_anchors * 4) and (1, num_anchors, 4)")
    if cp[2] != an[1] or lp[1] != cp[2] * 4 or an[1] <= 0 or an[2] != 4:
        raise rc.shape_error(f"cls_prob ({shape_str(cp)}), loc_pred ({shape_str(lp)}) and anchor "
                             f"({shape_str(an)}) disagree on the number of anchors; expected "
                             "(B, C, A), (B, A*4) and (1, A, 4)")
    return (cp[0], an[1], 6)


def _mbd_np(a, cls_prob, loc_pred, anchor):
    dt = cls_prob.dtype
    B, C, A = cls_prob.shape
    an = anchor.reshape(A, 4)
    out = np.full((B, A, 6), -1, dt)
    v = [dt.type(x) for x in a["variances"]]
    aw, ah = an[:, 2] - an[:, 0], an[:, 3] - an[:, 1]
    ax, ay = (an[:, 0] + an[:, 2]) / dt.type(2), (an[:, 1] + an[:, 3]) / dt.type(2)
    thr = a["nms_threshold"]
    for b in range(B):
        if C > 1:
            p = cls_prob[b, 1:]
            cid = np.argmax(p, 0) + 1
            score = p[cid - 1, np.arange(A)]
            none = score <= -1
            cid = np.where(none, 0, cid)
            score = np.where(none, dt.type(-1), score)
        else:
            cid = np.zeros(A, np.int64)
            score = np.full(A, -1, dt)
        cid = np.where((cid > 0) & (score < dt.type(a["threshold"])), 0, cid)
        lp = loc_pred[b].reshape(A, 4)
        ox = lp[:, 0] * v[0] * aw + ax
        oy = lp[:, 1] * v[1] * ah + ay
        ow = np.exp(lp[:, 2] * v[2]) * aw / dt.type(2)
        oh = np.exp(lp[:, 3] * v[3]) * ah / dt.type(2)
        box = np.stack([ox - ow, oy - oh, ox + ow, oy + oh], -1)
        if a["clip"]:
            box = np.maximum(0, np.minimum(1, box)).astype(dt)
        rows = np.concatenate([(cid - 1).astype(dt)[:, None], score[:, None], box], -1)
        rows = rows[cid - 1 >= 0]
        n = rows.shape[0]
        out[b, :n] = rows
        if n < 1 or thr <= 0 or thr > 1:
            continue
        order = np.argsort(-rows[:, 1].astype(np.float64), kind="stable")
        keep = n
        if 0 < a["nms_topk"] < n:
            keep = a["nms_topk"]
            out[b, keep:n, 0] = -1
        srt = rows[order[:keep]]
        bx = srt[:, 2:6]
        area = (bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1])
        t = dt.type(thr)

        def suppress(i, j, bx=bx, area=area, t=t):
            """CalculateOverlap(i, j) >= nms_threshold (0 when the union is <= 0)."""
            w = np.maximum(0, np.minimum(bx[i, 2], bx[j, 2]) - np.maximum(bx[i, 0], bx[j, 0]))
            h = np.maximum(0, np.minimum(bx[i, 3], bx[j, 3]) - np.maximum(bx[i, 1], bx[j, 1]))
            inter = w * h
            u = area[i] + area[j] - inter
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(u <= 0, 0, inter / u) >= t
        alive = _greedy_keep(keep, suppress, None if a["force_suppress"] else srt[:, 0])
        srt[~alive, 0] = -1
        out[b, :keep] = srt
    return (out,)


register_op(OpDef(
    name="_contrib_MultiBoxDetection",
    attrs=(Attr("clip", "bool", True, doc="Clip out-of-boundary boxes."),
           Attr("threshold", "float", 0.01, doc="Threshold to be a positive prediction."),
           Attr("background_id", "int", 0, doc="Background id."),
           Attr("nms_threshold", "float", 0.5, doc="Non-maximum suppression threshold."),
           Attr("force_suppress", "bool", False, doc="Suppress all detections regardless of "
                "class_id."),
           Attr("variances", "floats", (0.1, 0.1, 0.2, 0.2), doc="Variances to be decoded from "
                "box regression output."),
           Attr("nms_topk", "int", -1, doc="Keep maximum top k detections before nms, -1 for "
                "no limit.")),
    arguments=("cls_prob", "loc_pred", "anchor"),
    infer_shape=forward_shape(_mbd_rule), validate=_mbt_check,
    infer_dtype=lambda rc, d: (d, [d[0]]),
    interp=lambda xs, a: _mbd_np(a, *xs), vjp=_zero_vjp,
    lower=Extern(_HostCall(_mbd_np), "multibox_detection"),
    aliases=("_npx_multibox_detection",),
    extra={"library_reason": _REASON_SORT},
    doc="SSD detections (B, A, 6) rows [class, score, xmin, ymin, xmax, ymax]: best "
        "non-background class per anchor (class 0 is background; background_id is accepted "
        "and unused, as in MXNet's CPU code), boxes decoded with the variances, sorted by "
        "score, greedy NMS (IoU >= nms_threshold; per class unless force_suppress) marks "
        "suppressed rows' class -1; rows past the detections are -1. Gradient: zero (MXNet).",
))


# =================================================================================================
# Proposal / MultiProposal (RPN)
# =================================================================================================
def _rpn_anchors(a):
    """Base anchors (A, 4) of MXNet's GenerateAnchors (ratios outer, scales inner), float32
    with the double intermediates of the C code."""
    f, d = np.float32, np.float64
    fs = a["feature_stride"]
    base = [f(0), f(0), f(fs - 1.0), f(fs - 1.0)]
    w = f(base[2] - base[0] + f(1))
    h = f(base[3] - base[1] + f(1))
    xc = f(d(base[0]) + 0.5 * (d(w) - 1.0))
    yc = f(d(base[1]) + 0.5 * (d(h) - 1.0))
    size = f(w * h)
    out = []
    for r in a["ratios"]:
        for s in a["scales"]:
            r32, s32 = f(r), f(s)
            sr = np.floor(f(size / r32))
            nw = f(np.floor(f(np.sqrt(sr) + f(0.5))) * s32)
            nh = f(np.floor(f(f(nw / s32 * r32) + f(0.5))) * s32)
            out.append([xc - f(0.5) * (nw - f(1)), yc - f(0.5) * (nh - f(1)),
                        xc + f(0.5) * (nw - f(1)), yc + f(0.5) * (nh - f(1))])
    return np.asarray(out, np.float32)


def _rpn_image(a, score, delta, info):
    """One image's proposals: (post_nms_top_n, 4) boxes and (post_nms_top_n,) scores."""
    f, d = np.float32, np.float64
    A, H, W = score.shape
    fs = a["feature_stride"]
    base = _rpn_anchors(a)
    if base.shape[0] != A:
        from ...base import MXNetError
        raise MXNetError(f"{a.get('_opname', '_contrib_Proposal')}: cls_prob has {A} anchors "
                         f"per position; expected len(ratios) * len(scales) = {base.shape[0]}")
    jj, kk = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")         # (H, W)
    sx = (kk * fs).astype(np.float32)[..., None]
    sy = (jj * fs).astype(np.float32)[..., None]
    x1, y1 = base[:, 0] + sx, base[:, 1] + sy                                # (H, W, A)
    x2, y2 = base[:, 2] + sx, base[:, 3] + sy
    sc = score.transpose(1, 2, 0).astype(np.float32).copy()
    dl = delta.reshape(A, 4, H, W).transpose(2, 3, 0, 1).astype(np.float32)  # (H, W, A, 4)
    im_h, im_w, im_s = (f(v) for v in info[:3])
    if a["iou_loss"]:
        p = [x1 + dl[..., 0], y1 + dl[..., 1], x2 + dl[..., 2], y2 + dl[..., 3]]
    else:
        wd = f(d(f(x2 - x1)) + 1.0)
        ht = f(d(f(y2 - y1)) + 1.0)
        cx = f(d(x1) + 0.5 * (d(wd) - 1.0))
        cy = f(d(y1) + 0.5 * (d(ht) - 1.0))
        pcx, pcy = f(dl[..., 0] * wd + cx), f(dl[..., 1] * ht + cy)
        pw, ph = f(np.exp(dl[..., 2]) * wd), f(np.exp(dl[..., 3]) * ht)
        p = [f(d(pcx) - 0.5 * (d(pw) - 1.0)), f(d(pcy) - 0.5 * (d(ph) - 1.0)),
             f(d(pcx) + 0.5 * (d(pw) - 1.0)), f(d(pcy) + 0.5 * (d(ph) - 1.0))]
    lim = [im_w - f(1), im_h - f(1), im_w - f(1), im_h - f(1)]
    p = [np.maximum(np.minimum(v, m), f(0)).astype(np.float32) for v, m in zip(p, lim)]
    real_h, real_w = int(f(im_h / f(fs))), int(f(im_w / f(fs)))
    if H < real_h or W < real_w:
        from ...base import MXNetError
        raise MXNetError(f"{a.get('_opname', '_contrib_Proposal')}: im_info gives a "
                         f"{real_h} x {real_w} feature map larger than the score map {H} x {W}")
    sc[(jj >= real_h) | (kk >= real_w)] = -1
    min_size = f(f(a["rpn_min_size"]) * im_s)
    iw, ih = p[2] - p[0] + f(1), p[3] - p[1] + f(1)
    small = (iw < min_size) | (ih < min_size)
    half = f(min_size / f(2))
    p = [np.where(small, p[0] - half, p[0]), np.where(small, p[1] - half, p[1]),
         np.where(small, p[2] + half, p[2]), np.where(small, p[3] + half, p[3])]
    sc[small] = -1
    boxes = np.stack(p, -1).reshape(-1, 4).astype(np.float32)
    sc = sc.reshape(-1)
    count = sc.size
    pre = a["rpn_pre_nms_top_n"] if a["rpn_pre_nms_top_n"] > 0 else count
    pre = min(pre, count)
    post_n = min(a["rpn_post_nms_top_n"], pre)
    order = np.argsort(-sc.astype(np.float64), kind="stable")[:pre]
    bx, bs = boxes[order], sc[order]
    area = (bx[:, 2] - bx[:, 0] + f(1)) * (bx[:, 3] - bx[:, 1] + f(1))
    sup = np.zeros(pre, bool)
    keep = []
    thr = f(a["threshold"])
    for i in range(pre):
        if len(keep) >= post_n:
            break
        if sup[i]:
            continue
        keep.append(i)
        j = np.arange(i + 1, pre)
        j = j[~sup[j]]
        w = np.maximum(f(0), np.minimum(bx[i, 2], bx[j, 2]) - np.maximum(bx[i, 0], bx[j, 0])
                       + f(1))
        h = np.maximum(f(0), np.minimum(bx[i, 3], bx[j, 3]) - np.maximum(bx[i, 1], bx[j, 1])
                       + f(1))
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            ovr = inter / (area[i] + area[j] - inter)
        sup[j[ovr > thr]] = True
    P = a["rpn_post_nms_top_n"]
    idx = np.asarray([keep[i] if i < len(keep) else keep[i % len(keep)] for i in range(P)],
                     np.int64)
    return bx[idx], bs[idx]


def _proposal_np(a, cls_prob, bbox_pred, im_info, multi=False):
    B, A2 = cls_prob.shape[:2]
    A = A2 // 2
    if not multi and B != 1:
        from ...base import MXNetError
        raise MXNetError(f"_contrib_Proposal: cls_prob has batch size {B}; MXNet's Proposal "
                         "handles one image per call (use MultiProposal)")
    a = dict(a, _opname="_contrib_MultiProposal" if multi else "_contrib_Proposal")
    P = a["rpn_post_nms_top_n"]
    out = np.zeros((B * P, 5), np.float32)
    score = np.zeros((B * P, 1), np.float32)
    for b in range(B):
        bx, bs = _rpn_image(a, cls_prob[b, A:], bbox_pred[b], im_info[b])
        out[b * P:(b + 1) * P, 0] = b
        out[b * P:(b + 1) * P, 1:] = bx
        score[b * P:(b + 1) * P, 0] = bs
    return out, score


def _multi_proposal_np(a, *xs):
    return _proposal_np(a, *xs, multi=True)


def _proposal_shape(multi):
    def rule(rc, shapes):
        c, bp, info = shapes
        if c is None:
            return list(shapes), [None, None]
        if len(c) != 4 or c[1] % 2:
            raise rc.shape_error(f"cls_prob has shape ({shape_str(c)}); expected (batch, "
                                 "2 * num_anchors, height, width)")
        want_bp = (c[0], c[1] * 2, c[2], c[3])
        want_info = (c[0], 3)
        for what, s, w in (("bbox_pred", bp, want_bp), ("im_info", info, want_info)):
            if s is not None and tuple(s) != w:
                raise rc.shape_error(f"{what} has shape ({shape_str(s)}); expected "
                                     f"({shape_str(w)}) from cls_prob ({shape_str(c)})")
        n = rc.attrs["rpn_post_nms_top_n"] * (c[0] if multi else 1)
        return [tuple(c), want_bp, want_info], [(n, 5), (n, 1)]
    return rule


def _proposal_dtype(rc, d):
    f32 = DType.parse("float32")
    for n, x in zip(("cls_prob", "bbox_pred", "im_info"), d):
        if x is not None and x != f32:
            raise rc.dtype_error(f"{n} is {x.np_name}; MXNet's Proposal computes in float32")
    return [f32] * 3, [f32, f32]


_RPN_ATTRS = (
    Attr("rpn_pre_nms_top_n", "int", 6000, doc="Number of top scoring boxes to keep before "
         "applying NMS to RPN proposals"),
    Attr("rpn_post_nms_top_n", "int", 300, doc="Number of top scoring boxes to keep after "
         "applying NMS to RPN proposals"),
    Attr("threshold", "float", 0.7, doc="NMS value, below which to suppress."),
    Attr("rpn_min_size", "int", 16, doc="Minimum height or width in proposal"),
    Attr("scales", "floats", (4.0, 8.0, 16.0, 32.0), doc="Used to generate anchor windows by "
         "enumerating scales"),
    Attr("ratios", "floats", (0.5, 1.0, 2.0), doc="Used to generate anchor windows by "
         "enumerating ratios"),
    Attr("feature_stride", "int", 16, doc="The size of the receptive field each unit in the "
         "convolution layer of the rpn,for example the product of all stride's prior to this "
         "layer."),
    Attr("output_score", "bool", False, doc="Add score to outputs"),
    Attr("iou_loss", "bool", False, doc="Usage of IoU Loss"),
)

for _name, _multi, _fn in (("_contrib_Proposal", False, _proposal_np),
                           ("_contrib_MultiProposal", True, _multi_proposal_np)):
    register_op(OpDef(
        name=_name, attrs=_RPN_ATTRS, arguments=("cls_prob", "bbox_pred", "im_info"),
        outputs=("output", "score"),
        num_visible_outputs=lambda a: 2 if a["output_score"] else 1,
        infer_shape=_proposal_shape(_multi), infer_dtype=_proposal_dtype,
        interp=_HostInterp(_fn), vjp=_zero_vjp,
        lower=Extern(_HostCall(_fn), _name[9:].lower()),
        extra={"library_reason": _REASON_SORT},
        doc=("Region proposals (RPN): anchors (ratios x scales, shifted by feature_stride) "
             "moved by bbox_pred (or added, iou_loss), clipped to the image, small ones scored "
             "-1, top rpn_pre_nms_top_n by score, greedy NMS (IoU > threshold, +1 pixel "
             "areas), rpn_post_nms_top_n rows [batch, x1, y1, x2, y2] (repeating the kept ones "
             "when fewer survive); the scores are a second output shown with output_score. "
             + ("One row block per image. " if _multi else "One image (batch 1). ")
             + "Gradient: zero (MXNet)."),
    ))


# =================================================================================================
# RROIAlign (library: the sampling grid of each rotated roi depends on its values)
# =================================================================================================
def _rroi_rule(rc, shapes):
    d, r = shapes
    if len(d) != 4:
        raise rc.shape_error(f"data has shape ({shape_str(d)}); expected a 4-d feature map "
                             "(batch, channel, height, width)")
    if len(r) != 2 or r[1] != 6:
        raise rc.shape_error(f"rois have shape ({shape_str(r)}); expected (num_rois, 6) rows "
                             "[batch_index, center_x, center_y, width, height, angle_degrees]")
    ph, pw = rc.attrs["pooled_size"]
    return [(r[0], d[1], ph, pw)]


def _rroi_weights(a, rois, H, W):
    """Per roi, the (PH*PW, H*W) matrix of averaged bilinear sampling weights (float64): MXNet's
    pre_calc_for_bilinear_interpolate, summed over each bin's sampling points."""
    import math
    PH, PW = a["pooled_size"]
    ss, sr = a["spatial_scale"], a["sampling_ratio"]
    out = []
    for row in rois:
        cw, ch = row[1] * ss, row[2] * ss
        rw, rh = max(row[3] * ss, 1.0), max(row[4] * ss, 1.0)
        theta = row[5] * math.pi / 180.0
        bh, bw = rh / PH, rw / PW
        gh = sr if sr > 0 else int(math.ceil(rh / PH))
        gw = sr if sr > 0 else int(math.ceil(rw / PW))
        cos_t, sin_t = math.cos(theta), math.sin(theta)
        wm = np.zeros((PH * PW, H * W))
        for ph in range(PH):
            for pw in range(PW):
                acc = wm[ph * PW + pw]
                for iy in range(gh):
                    yy = -rh / 2.0 + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        xx = -rw / 2.0 + pw * bw + (ix + 0.5) * bw / gw
                        x = xx * cos_t + yy * sin_t + cw
                        y = yy * cos_t - xx * sin_t + ch
                        if y < -1.0 or y > H or x < -1.0 or x > W:
                            continue
                        y, x = max(y, 0.0), max(x, 0.0)
                        yl, xl = int(y), int(x)
                        if yl >= H - 1:
                            yh = yl = H - 1
                            y = float(yl)
                        else:
                            yh = yl + 1
                        if xl >= W - 1:
                            xh = xl = W - 1
                            x = float(xl)
                        else:
                            xh = xl + 1
                        ly, lx = y - yl, x - xl
                        hy, hx = 1.0 - ly, 1.0 - lx
                        acc[yl * W + xl] += hy * hx
                        acc[yl * W + xh] += hy * lx
                        acc[yh * W + xl] += ly * hx
                        acc[yh * W + xh] += ly * lx
        out.append(wm / (gh * gw))
    return out


def _rroi_t(a, data, rois):
    import torch
    N, C, H, W = data.shape
    PH, PW = a["pooled_size"]
    rc = rois.detach().cpu().double().numpy()
    out = torch.zeros((rc.shape[0], C, PH, PW), dtype=data.dtype, device=data.device)
    for n, wm in enumerate(_rroi_weights(a, rc, H, W)):
        b = int(rc[n, 0])
        if not 0 <= b < N:
            continue                    # a roi outside the batch gives zeros
        w = torch.from_numpy(wm).to(device=data.device, dtype=data.dtype)
        out[n] = (data[b].reshape(C, H * W) @ w.T).reshape(C, PH, PW)
    return (out,)


def _rroi_vjp(b, op, g):
    from ...base import UnsupportedError
    raise UnsupportedError(f"_contrib_RROIAlign '{op.name}': has no gradient (MXNet 1.9.1 "
                           "has none either); wrap its input in BlockGrad to train the rest")


register_op(OpDef(
    name="_contrib_RROIAlign",
    attrs=(Attr("pooled_size", "shape", doc="RROI align output shape (h,w) "),
           Attr("spatial_scale", "float", doc="Ratio of input feature map height (or width) to "
                "raw image height (or width). Equals the reciprocal of total stride in "
                "convolutional layers"),
           Attr("sampling_ratio", "int", -1, doc="Optional sampling ratio of RROI align, using "
                "adaptive size by default.")),
    arguments=("data", "rois"), infer_shape=forward_shape(_rroi_rule), validate=_roipool_check,
    infer_dtype=_roi_dtype, interp=_torch_interp(_rroi_t), vjp=_rroi_vjp,
    lower=Extern(_TorchCall(_rroi_t), "rroi_align"),
    extra={"library_reason": "each rotated roi's sampling grid and weights depend on its "
                             "values"},
    doc="Rotated ROI Align: each roi [batch_index, center_x, center_y, width, height, angle in "
        "degrees] (scaled by spatial_scale, at least 1x1) is split into pooled_size bins, each "
        "the mean of sampling_ratio^2 (adaptive: ceil(roi size / pooled size)) bilinear samples "
        "on the rotated grid; samples beyond one pixel outside the map count as 0. No gradient "
        "(as MXNet 1.9.1).",
))
