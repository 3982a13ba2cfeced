"""Spatial and segmentation operators of MXNet 1.9.1, each a composition of primitives (gathers
at computed indices, weights from floor / fraction, views, GEMMs, reductions); fusion makes
them kernels and autodiff differentiates them. All take NCHW data.

- ``Crop`` (``num_args`` 1 or 2, inputs ``arg0``/``arg1``): the (h, w) box of ``arg0`` given by
  ``h_w`` or by ``arg1``'s height and width (``crop_like``), at ``offset`` (y, x) or centred
  (``center_crop``: offset ``(H - h) // 2``). A box view (``_nn_crop``); the data gradient is
  the head gradient zero-padded back (``Pad``), ``crop_like`` gets zeros, as MXNet.
- ``BilinearSampler(data, grid)``: ``grid[:, 0]`` / ``grid[:, 1]`` are x / y in [-1, 1];
  ``x_src = (x + 1) * (W - 1) / 2``; the four neighbours ``floor(x_src) + {0, 1}`` are gathered
  (a library gather at computed indices; its gradient a scatter-add) and weighted with
  ``1 - frac`` / ``frac``. **Border**: a neighbour outside the image reads 0 (zero padding, as
  MXNet's CPU kernel), so its weight contributes nothing to the output or to the grid gradient;
  the grid gradient is the derivative of the weights (MXNet's formula). Hidden output ``tmp``:
  the grid as (N, OH, OW, 2) (MXNet leaves it unset on the CPU).
- ``GridGenerator``: ``affine`` -- ``data`` (N, 6) as (N, 2, 3) matrices times the target
  grid ``[x; y; 1]`` (3, H*W) with ``x = -1 + j * 2 / (W - 1)``, ``y = -1 + i * 2 / (H - 1)``
  (a GEMM; hidden output ``grid_dst`` is that grid); ``warp`` -- ``(flow + [x; y]) /
  ((W - 1) / 2, (H - 1) / 2) - 1`` with pixel coordinates ``x, y`` (hidden ``grid_dst`` (2, H, W)).
- ``SpatialTransformer(data, loc)``: GridGenerator(affine) then BilinearSampler (only
  ``transform_type='affine'`` and ``sampler_type='bilinear'`` exist in MXNet); the target grid is
  computed in double precision as MXNet's; hidden outputs ``grid_dst`` (3, H*W) and
  ``grid_src`` (N, 2, H*W).
- ``_contrib_BilinearResize2D``: separable linear interpolation, along W then along H, each a
  pair of gathers at static indices with static weights (computed in float32 as MXNet's
  kernel: ``src = scale * dst`` with ``align_corners``, else ``scale * (dst + 0.5) - 0.5``
  clamped at 0; ``scale = (in - 1) / (out - 1)`` or ``in / out``, 0 for a size-1 output).
  **Border**: the upper neighbour is clamped to the last row / column (``min(i + 1, in - 1)``),
  never zero. Output sizes follow MXNet's modes: ``size`` (``height``/``width``, or
  ``int(scale * in)``; as MXNet, ``scale_width`` is used only when ``scale_height`` is given),
  ``odd_scale``, ``like`` (second input ``like``, which gets a zero gradient), ``to_even_down``,
  ``to_even_up``, ``to_odd_down``, ``to_odd_up``. Equal sizes copy the input.
- ``_contrib_AdaptiveAvgPooling2D``: output cell ``(i, j)`` averages rows
  ``[floor(i*H/OH), ceil((i+1)*H/OH))`` and the like columns: two GEMMs with 0/1 window
  matrices, then division by the window widths and heights.
- ``Correlation(data1, data2)`` (FlowNet): for each displacement ``(dy, dx)`` in the
  ``(2r+1)^2`` grid (``r = max_displacement // stride2``, steps of ``stride2``), the mean over
  channels and the ``kernel_size``^2 window of ``data1 * data2_shifted`` (``is_multiply``) or
  ``|data1 - data2_shifted|``, both zero-padded by ``pad_size``, at output positions strided by
  ``stride1``; the displaced windows are an im2col view of the padded ``data2``. The gradient
  of ``|a - b|`` is ``+1`` for a and ``-1`` for b where ``a >= b`` (MXNet's sign convention at
  ties). Hidden outputs ``tmp1``/``tmp2``: the padded inputs as (N, H+2p, W+2p, C).
- ``im2col`` / ``col2im``: (N, C, H, W) <-> (N, C*KH*KW, OH*OW) sliding blocks, 1-d or 2-d
  kernels (MXNet's 3-d form is not supported); masked views shared with convolution lowering
  (:mod:`mxc.ir.opdefs.im2col`); each one's gradient is the other.
"""
from __future__ import annotations

import math

import numpy as np

from ...base import UnsupportedError
from ..attrs import Attr
from ..registry import OpDef, forward_shape, register_op
from ..types import shape_str
from .classic import _OpRC, pad_axis


def _sh(s):
    return f"({shape_str(s)})"


def _arange(b, n, dtype="float32"):
    return b.op("_arange", [], {"start": 0.0, "stop": float(n), "dtype": dtype})


def _need_4d(rc, s, what):
    if len(s) != 4:
        raise rc.shape_error(f"{what} has shape {_sh(s)}; expected a 4-d (batch, channel, "
                             "height, width) array")


def _cmp(b, name, x, s):
    return b.op(name, [x], {"scalar": float(s)})


def _inf_div(a, d):
    """``a / d`` in double as C++ computes it (a positive infinity for d = 0)."""
    return a / d if d else math.inf


# =================================================================================================
# Crop
# =================================================================================================
def _crop_validate(rc):
    if rc.attrs["num_args"] not in (1, 2):
        raise rc.attr_error(f"num_args={rc.attrs['num_args']} is not accepted; expected 1 (crop "
                            "to h_w) or 2 (crop to the second input's height and width)")
    for k in ("offset", "h_w"):
        if len(rc.attrs[k]) != 2:
            raise rc.attr_error(f"{k}={rc.attrs[k]} must have two entries (y, x)")


def _crop_box(rc, s, like):
    _need_4d(rc, s, "data (arg0)")
    a = rc.attrs
    if a["num_args"] == 1:
        h, w = a["h_w"]
        if not (1 <= h <= s[2] and 1 <= w <= s[3]):
            raise rc.shape_error(f"h_w={tuple(a['h_w'])} does not fit data of shape {_sh(s)}; "
                                 "expected 1 <= h <= height and 1 <= w <= width")
    else:
        if len(like) != 4:
            raise rc.shape_error(f"crop_like (arg1) has shape {_sh(like)}; expected a 4-d array")
        h, w = like[2], like[3]
        if h > s[2] or w > s[3]:
            raise rc.shape_error(f"crop_like (arg1) of shape {_sh(like)} is larger than data "
                                 f"of shape {_sh(s)}")
    if a["center_crop"]:
        oy, ox = (s[2] - h) // 2, (s[3] - w) // 2
    else:
        oy, ox = a["offset"]
        if not (0 <= oy <= s[2] - h and 0 <= ox <= s[3] - w):
            raise rc.shape_error(f"offset={tuple(a['offset'])} puts the ({h}, {w}) box outside "
                                 f"data of shape {_sh(s)}; expected 0 <= offset <= "
                                 f"({s[2] - h}, {s[3] - w})")
    return oy, ox, h, w


def _crop_rule(rc, shapes):
    s = shapes[0]
    _, _, h, w = _crop_box(rc, s, shapes[1] if len(shapes) > 1 else None)
    return (s[0], s[1], h, w)


def _crop_np(xs, a):
    oy, ox, h, w = _crop_box(_NpRC("Crop", a), xs[0].shape, xs[1].shape if len(xs) > 1 else None)
    return (xs[0][:, :, oy:oy + h, ox:ox + w].copy(),)


def _crop_decompose(b, op):
    x = op.inputs[0]
    like = op.inputs[1].shape if len(op.inputs) > 1 else None
    oy, ox, h, w = _crop_box(_OpRC(op), x.shape, like)
    n, c = x.shape[:2]
    return [b.op("_nn_crop", [x], {"begin": (0, 0, oy, ox), "end": (n, c, oy + h, ox + w)})]


def _crop_vjp(b, op, g):
    x = op.inputs[0]
    like = op.inputs[1].shape if len(op.inputs) > 1 else None
    oy, ox, h, w = _crop_box(_OpRC(op), x.shape, like)
    H, W = x.shape[2:]
    gx = b.op("Pad", [g], {"mode": "constant",
                           "pad_width": (0, 0, 0, 0, oy, H - h - oy, ox, W - w - ox)})
    return (gx,) + (None,) * (len(op.inputs) - 1)


class _NpRC:
    """Error helpers for rules evaluated outside inference (interp)."""

    def __init__(self, opname, attrs):
        self.opname, self.attrs, self.name = opname, attrs, None

    def shape_error(self, m):
        from ...base import ShapeError, op_prefix
        return ShapeError(f"{op_prefix(self.opname, None)}: {m}")

    def attr_error(self, m):
        from ...base import AttrError, op_prefix
        return AttrError(f"{op_prefix(self.opname, None)}: {m}")


register_op(OpDef(
    name="Crop",
    attrs=(Attr("num_args", "int", doc="Number of inputs: 1 (crop to h_w) or 2 (crop to the "
                "second input's height and width)"),
           Attr("offset", "shape", (0, 0), doc="crop offset coordinate: (y, x)"),
           Attr("h_w", "shape", (0, 0), doc="crop height and width: (h, w)"),
           Attr("center_crop", "bool", False, doc="crop the centre instead of at offset")),
    variadic="num_args", infer_shape=forward_shape(_crop_rule), interp=_crop_np,
    decompose=_crop_decompose, vjp=_crop_vjp, validate=_crop_validate,
    doc="The (h, w) box of NCHW data at offset (or centred); h, w from h_w or from crop_like. "
        "Gradient: zero-padded head gradient; crop_like gets zeros.",
))


# =================================================================================================
# bilinear sampling (BilinearSampler, SpatialTransformer)
# =================================================================================================
_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))


def _sample_np(data, gx, gy):
    """MXNet's CPU BilinearSampler on numpy: gx, gy (N, OH, OW) in [-1, 1]."""
    n, c, h, w = data.shape
    xr = (gx + 1) * (w - 1) / 2
    yr = (gy + 1) * (h - 1) / 2
    x0, y0 = np.floor(xr), np.floor(yr)
    wy = (1 - (yr - y0)).astype(data.dtype)
    wx = (1 - (xr - x0)).astype(data.dtype)
    ni = np.arange(n)[:, None, None]
    out = np.zeros((n, gx.shape[1], gx.shape[2], c), data.dtype)
    for dy, dx in _CORNERS:
        yy, xx = y0 + dy, x0 + dx
        m = (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
        yi = np.clip(yy, 0, h - 1).astype(np.int64)
        xi = np.clip(xx, 0, w - 1).astype(np.int64)
        v = np.where(m[..., None], data[ni, :, yi, xi], 0).astype(data.dtype)
        ky = wy if dy == 0 else 1 - wy
        kx = wx if dx == 0 else 1 - wx
        out = out + v * ky[..., None] * kx[..., None]
    return out.transpose(0, 3, 1, 2)


def _sample(b, data, gx, gy):
    """IR: bilinear samples of NCHW ``data`` at normalised coordinates gx, gy (N, OH, OW)."""
    n, c, h, w = data.shape
    _, oh, ow = gx.shape
    xr = b.div(b.mul(b.add(gx, 1.0), float(w - 1)), 2.0)
    yr = b.div(b.mul(b.add(gy, 1.0), float(h - 1)), 2.0)
    x0, y0 = b.op("floor", [xr]), b.op("floor", [yr])
    wy = b.sub(1.0, b.sub(yr, y0))
    wx = b.sub(1.0, b.sub(xr, x0))
    flat = b.reshape(b.transpose(data, (0, 2, 3, 1)), (n * h * w, c))
    base = b.reshape(b.mul(_arange(b, n, "float64"), float(h * w)), (n, 1, 1))
    y0d, x0d = b.cast(y0, "float64"), b.cast(x0, "float64")
    total = None
    for dy, dx in _CORNERS:
        yy = b.add(y0d, float(dy)) if dy else y0d
        xx = b.add(x0d, float(dx)) if dx else x0d
        inside = b.mul(b.mul(_cmp(b, "_greater_equal_scalar", yy, 0), _cmp(
            b, "_lesser_equal_scalar", yy, h - 1)), b.mul(_cmp(
                b, "_greater_equal_scalar", xx, 0), _cmp(b, "_lesser_equal_scalar", xx, w - 1)))
        yi = b.op("clip", [yy], {"a_min": 0.0, "a_max": float(h - 1)})
        xi = b.op("clip", [xx], {"a_min": 0.0, "a_max": float(w - 1)})
        idx = b.add(b.add(base, b.mul(yi, float(w))), xi)
        v = b.op("take", [flat, idx], {"axis": 0})                   # (N, OH, OW, C)
        v = b.mul(v, b.reshape(b.cast(inside, data.dtype), (n, oh, ow, 1)))
        ky = wy if dy == 0 else b.sub(1.0, wy)
        kx = wx if dx == 0 else b.sub(1.0, wx)
        term = b.mul(b.mul(v, b.reshape(ky, (n, oh, ow, 1))), b.reshape(kx, (n, oh, ow, 1)))
        total = term if total is None else b.add(total, term)
    return b.transpose(total, (0, 3, 1, 2))


def _bs_rule(rc, shapes):
    d, g = shapes
    _need_4d(rc, d, "data")
    if len(g) != 4 or g[1] != 2 or g[0] != d[0]:
        raise rc.shape_error(f"grid has shape {_sh(g)} for data of shape {_sh(d)}; expected "
                             f"({d[0]}, 2, height, width)")
    return [(d[0], d[1], g[2], g[3]), (g[0], g[2], g[3], 2)]


def _bs_np(xs, a):
    data, grid = xs
    return (_sample_np(data, grid[:, 0], grid[:, 1]), grid.transpose(0, 2, 3, 1).copy())


def _bs_decompose(b, op):
    data, grid = op.inputs
    n, _, oh, ow = grid.shape
    gx = b.reshape(b.op("slice_axis", [grid], {"axis": 1, "begin": 0, "end": 1}), (n, oh, ow))
    gy = b.reshape(b.op("slice_axis", [grid], {"axis": 1, "begin": 1, "end": 2}), (n, oh, ow))
    return [_sample(b, data, gx, gy), b.transpose(grid, (0, 2, 3, 1))]


_CUDNN_OFF = Attr("cudnn_off", "bool", None, optional=True,
                  doc="whether to turn cudnn off (no effect in mxc)")

register_op(OpDef(
    name="BilinearSampler", attrs=(_CUDNN_OFF,), arguments=("data", "grid"),
    outputs=("output", "tmp"), num_visible_outputs=1,
    infer_shape=forward_shape(_bs_rule), interp=_bs_np, decompose=_bs_decompose,
    doc="Bilinear samples of data at grid (x, y in [-1, 1]); zero outside the image.",
))


# =================================================================================================
# GridGenerator
# =================================================================================================
def _target(rc):
    t = rc.attrs["target_shape"]
    if len(t) != 2 or t[0] <= 0 or t[1] <= 0:
        raise rc.shape_error(f"target_shape={tuple(t)} is not accepted; expected a positive "
                             "(height, width)")
    return t


def _gg_rule(rc, shapes):
    s = shapes[0]
    if rc.attrs["transform_type"] == "affine":
        if len(s) != 2 or s[1] != 6:
            raise rc.shape_error(f"data has shape {_sh(s)}; with transform_type='affine' "
                                 "expected (batch, 6) affine matrices")
        h, w = _target(rc)
        return [(s[0], 2, h, w), (3, h * w)]
    if len(s) != 4 or s[1] != 2:
        raise rc.shape_error(f"data has shape {_sh(s)}; with transform_type='warp' expected an "
                             "optical flow (batch, 2, height, width)")
    return [tuple(s), (2, s[2], s[3])]


def _affine_dst_np(h, w, dtype, double):
    k = np.arange(h * w)
    if double:      # SpatialTransformer: -1 + (k % W) * 2.0 / (W - 1) in double
        with np.errstate(divide="ignore", invalid="ignore"):
            x = -1.0 + (k % w) * 2.0 / np.float64(w - 1)
            y = -1.0 + (k // w) * 2.0 / np.float64(h - 1)
        x, y = x.astype(dtype), y.astype(dtype)
    else:           # GridGenerator: -1 + x * DType(2.0 / (W - 1)) in DType
        x = (k % w).astype(dtype) * dtype.type(_inf_div(2.0, w - 1)) + dtype.type(-1)
        y = (k // w).astype(dtype) * dtype.type(_inf_div(2.0, h - 1)) + dtype.type(-1)
    return np.stack([x, y, np.ones(h * w, dtype)]).astype(dtype)


def _affine_dst(b, h, w, dtype, double):
    """IR: the target grid [x; y; 1] (3, H*W) in ``dtype``."""
    xs = b.reshape(b.broadcast_to(b.reshape(_arange(b, w, "float64"), (1, w)), (h, w)),
                   (1, h * w))
    ys = b.reshape(b.broadcast_to(b.reshape(_arange(b, h, "float64"), (h, 1)), (h, w)),
                   (1, h * w))
    rows = []
    for v, n in ((xs, w), (ys, h)):
        if double:
            r = b.cast(b.add(b.div(b.mul(v, 2.0), float(n - 1)), -1.0), dtype)
        else:
            r = b.add(b.mul(b.cast(v, dtype), _inf_div(2.0, n - 1)), -1.0)
        rows.append(r)
    rows.append(b.full((1, h * w), 1.0, dtype))
    return b.op("Concat", rows, {"num_args": 3, "dim": 0})


def _gg_np(xs, a):
    x = xs[0]
    if a["transform_type"] == "affine":
        h, w = a["target_shape"]
        dst = _affine_dst_np(h, w, x.dtype, False)
        out = np.matmul(x.reshape(-1, 2, 3), dst).reshape(x.shape[0], 2, h, w)
        return (out.astype(x.dtype), dst)
    n, _, h, w = x.shape
    dst = np.stack([np.broadcast_to(np.arange(w, dtype=x.dtype), (h, w)),
                    np.broadcast_to(np.arange(h, dtype=x.dtype)[:, None], (h, w))])
    ws = np.array([(w - 1.0) / 2.0, (h - 1.0) / 2.0], x.dtype).reshape(1, 2, 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (x + dst[None]) / ws - x.dtype.type(1)
    return (out.astype(x.dtype), dst.copy())


def _gg_decompose(b, op):
    x = op.inputs[0]
    dt = x.dtype
    if op.attrs["transform_type"] == "affine":
        h, w = op.attrs["target_shape"]
        dst = _affine_dst(b, h, w, dt, False)
        out = b.dot(b.reshape(x, (x.shape[0] * 2, 3)), dst)
        return [b.reshape(out, (x.shape[0], 2, h, w)), dst]
    n, _, h, w = x.shape
    xs = b.broadcast_to(b.reshape(_arange(b, w, dt.np_name), (1, 1, 1, w)), (1, 1, h, w))
    ys = b.broadcast_to(b.reshape(_arange(b, h, dt.np_name), (1, 1, h, 1)), (1, 1, h, w))
    chans = []
    for i, (pix, size) in enumerate(((xs, w), (ys, h))):
        f = b.op("slice_axis", [x], {"axis": 1, "begin": i, "end": i + 1})
        chans.append(b.sub(b.div(b.add(f, pix), (size - 1.0) / 2.0), 1.0))
    out = b.op("Concat", chans, {"num_args": 2, "dim": 1})
    dst = b.reshape(b.op("Concat", [xs, ys], {"num_args": 2, "dim": 1}), (2, h, w))
    return [out, dst]


register_op(OpDef(
    name="GridGenerator",
    attrs=(Attr("transform_type", "str", choices=("affine", "warp"),
                doc="affine: data is (batch, 6) affine matrices; warp: an optical flow "
                    "(batch, 2, h, w)"),
           Attr("target_shape", "shape", (0, 0), doc="output (H, W) for affine")),
    arguments=("data",), outputs=("output", "grid_dst"), num_visible_outputs=1,
    infer_shape=forward_shape(_gg_rule), interp=_gg_np, decompose=_gg_decompose,
    doc="Sampling grid (batch, 2, H, W) in [-1, 1] from affine matrices or an optical flow.",
))


# =================================================================================================
# SpatialTransformer
# =================================================================================================
def _st_rule(rc, shapes):
    d, loc = shapes
    _need_4d(rc, d, "data")
    if len(loc) != 2 or loc[1] != 6 or loc[0] != d[0]:
        raise rc.shape_error(f"loc has shape {_sh(loc)} for data of shape {_sh(d)}; expected "
                             f"({d[0]}, 6) affine parameters")
    h, w = _target(rc)
    return [(d[0], d[1], h, w), (3, h * w), (d[0], 2, h * w)]


def _st_np(xs, a):
    data, loc = xs
    h, w = a["target_shape"]
    dst = _affine_dst_np(h, w, data.dtype, True)
    src = np.matmul(loc.reshape(-1, 2, 3), dst).astype(data.dtype)
    n = data.shape[0]
    out = _sample_np(data, src[:, 0].reshape(n, h, w), src[:, 1].reshape(n, h, w))
    return (out, dst, src)


def _st_decompose(b, op):
    data, loc = op.inputs
    h, w = op.attrs["target_shape"]
    n = data.shape[0]
    dst = _affine_dst(b, h, w, data.dtype, True)
    src = b.reshape(b.dot(b.reshape(loc, (n * 2, 3)), dst), (n, 2, h * w))
    gx = b.reshape(b.op("slice_axis", [src], {"axis": 1, "begin": 0, "end": 1}), (n, h, w))
    gy = b.reshape(b.op("slice_axis", [src], {"axis": 1, "begin": 1, "end": 2}), (n, h, w))
    return [_sample(b, data, gx, gy), dst, src]


register_op(OpDef(
    name="SpatialTransformer",
    attrs=(Attr("target_shape", "shape", (0, 0), doc="output shape (h, w)"),
           Attr("transform_type", "str", choices=("affine",), doc="transformation type"),
           Attr("sampler_type", "str", choices=("bilinear",), doc="sampling type"),
           _CUDNN_OFF),
    arguments=("data", "loc"), outputs=("output", "grid_dst", "grid_src"),
    num_visible_outputs=1, infer_shape=forward_shape(_st_rule), interp=_st_np,
    decompose=_st_decompose,
    doc="Affine grid from loc, then bilinear sampling of data (zero outside the image).",
))


# =================================================================================================
# _contrib_BilinearResize2D
# =================================================================================================
_RESIZE_MODES = ("size", "odd_scale", "like", "to_even_down", "to_even_up", "to_odd_down",
                 "to_odd_up")


def _f32mul(a, b_):
    return int(np.float32(a) * np.float32(b_))


def _resize_hw(rc, s, like):
    a = rc.attrs
    m = a["mode"]
    H, W = s[2], s[3]
    if m == "size":
        if a["scale_height"] is not None:
            if a["scale_width"] is None:
                raise rc.attr_error("scale_width must be given with scale_height (MXNet reads "
                                    "both when scale_height is set)")
            h, w = _f32mul(a["scale_height"], H), _f32mul(a["scale_width"], W)
        else:
            h, w = a["height"], a["width"]
    elif m == "odd_scale":
        if a["scale_height"] is None or a["scale_width"] is None:
            raise rc.attr_error("mode='odd_scale' needs scale_height and scale_width")
        h = _f32mul(H, a["scale_height"]) if H % 2 == 0 else _f32mul(H - 1, a["scale_height"]) + 1
        w = _f32mul(W, a["scale_width"]) if W % 2 == 0 else _f32mul(W - 1, a["scale_width"]) + 1
    elif m == "like":
        if len(like) != 4:
            raise rc.shape_error(f"like has shape {_sh(like)}; expected a 4-d array")
        h, w = like[2], like[3]
    else:
        even = m.startswith("to_even")
        step = -1 if m.endswith("down") else 1
        h = H if (H % 2 == 0) == even else H + step
        w = W if (W % 2 == 0) == even else W + step
    if h <= 0 or w <= 0:
        raise rc.shape_error(f"data of shape {_sh(s)} resizes to ({h}, {w}) with mode="
                             f"{m!r}; expected a positive size")
    return h, w


def _resize_rule(rc, shapes):
    s = shapes[0]
    _need_4d(rc, s, "data")
    h, w = _resize_hw(rc, s, shapes[1] if len(shapes) > 1 else None)
    return (s[0], s[1], h, w)


def _resize_validate(rc):
    a = rc.attrs
    if a["height"] < 1 or a["width"] < 1:
        raise rc.attr_error(f"height={a['height']}, width={a['width']}; expected >= 1")


def _src_index_np(n_in, n_out, align):
    """MXNet's float32 source coordinates, lower index, upper index and weights per output."""
    if n_out > 1:
        scale = (np.float32(n_in - 1) / np.float32(n_out - 1) if align
                 else np.float32(n_in) / np.float32(n_out))
    else:
        scale = np.float32(0)
    d = np.arange(n_out)
    if align:
        src = scale * d.astype(np.float32)
    else:
        src = (np.float64(scale) * (d + 0.5) - 0.5).astype(np.float32)
        src = np.where(src < 0, np.float32(0), src)
    i0 = np.floor(src)
    lam1 = (src - i0).astype(np.float32)
    i0 = np.minimum(i0, n_in - 1).astype(np.int64)
    return i0, np.minimum(i0 + 1, n_in - 1), lam1


def _resize_np(xs, a):
    x = xs[0]
    h, w = _resize_hw(_NpRC("_contrib_BilinearResize2D", a), x.shape,
                      xs[1].shape if len(xs) > 1 else None)
    if (h, w) == x.shape[2:]:
        return (x.copy(),)
    for axis, n in ((3, w), (2, h)):
        i0, i1, lam1 = _src_index_np(x.shape[axis], n, a["align_corners"])
        l1 = lam1.astype(x.dtype)
        l0 = (1 - l1).astype(x.dtype)
        shp = (n,) if axis == 3 else (n, 1)
        x = (l0.reshape(shp) * np.take(x, i0, axis) + l1.reshape(shp) * np.take(x, i1, axis))
    return (x.astype(xs[0].dtype),)


def _resize_axis(b, x, axis, n_out, align):
    n_in = x.shape[axis]
    if n_out > 1:
        scale = (np.float32(n_in - 1) / np.float32(n_out - 1) if align
                 else np.float32(n_in) / np.float32(n_out))
    else:
        scale = np.float32(0)
    if align:
        src = b.mul(_arange(b, n_out, "float32"), float(scale))
    else:
        src = b.cast(b.sub(b.mul(b.add(_arange(b, n_out, "float64"), 0.5), float(scale)), 0.5),
                     "float32")
        src = b.maximum(src, 0.0)
    i0 = b.op("floor", [src])
    lam1 = b.cast(b.sub(src, i0), x.dtype)
    lam0 = b.sub(1.0, lam1)
    i0 = b.minimum(i0, float(n_in - 1))
    i1 = b.minimum(b.add(i0, 1.0), float(n_in - 1))
    shp = (n_out,) if axis == 3 else (n_out, 1)
    v0 = b.op("take", [x, b.cast(i0, "int32")], {"axis": axis})
    v1 = b.op("take", [x, b.cast(i1, "int32")], {"axis": axis})
    return b.add(b.mul(b.reshape(lam0, shp), v0), b.mul(b.reshape(lam1, shp), v1))


def _resize_decompose(b, op):
    x = op.inputs[0]
    h, w = _resize_hw(_OpRC(op), x.shape, op.inputs[1].shape if len(op.inputs) > 1 else None)
    if (h, w) == tuple(x.shape[2:]):
        return [b.op("_copy", [x])]
    y = _resize_axis(b, x, 3, w, op.attrs["align_corners"])
    return [_resize_axis(b, y, 2, h, op.attrs["align_corners"])]


register_op(OpDef(
    name="_contrib_BilinearResize2D",
    attrs=(Attr("height", "int", 1, doc="output height (mode 'size' without scale_height)"),
           Attr("width", "int", 1, doc="output width (mode 'size' without scale_height)"),
           Attr("scale_height", "float", None, optional=True, doc="sampling scale of the height"),
           Attr("scale_width", "float", None, optional=True, doc="sampling scale of the width"),
           Attr("mode", "str", "size", choices=_RESIZE_MODES, doc="resizing mode"),
           Attr("align_corners", "bool", True, doc="align the corner pixels' centres")),
    arguments=lambda a: ["data", "like"] if a.get("mode") == "like" else ["data"],
    infer_shape=forward_shape(_resize_rule), interp=_resize_np, decompose=_resize_decompose,
    validate=_resize_validate,
    doc="Bilinear resize of NCHW data (separable static gathers; borders clamp).",
))


# =================================================================================================
# _contrib_AdaptiveAvgPooling2D
# =================================================================================================
def _aap_out(rc, s):
    o = tuple(rc.attrs["output_size"])
    if len(o) == 1:
        o = (o[0], o[0])
    elif len(o) != 2:
        o = (1, 1)               # MXNet: no size (or more than two numbers) pools to 1 x 1
    if o[0] <= 0 or o[1] <= 0:
        raise rc.shape_error(f"output_size={tuple(rc.attrs['output_size'])} is not accepted; "
                             "expected positive sizes")
    return o


def _aap_rule(rc, shapes):
    s = shapes[0]
    _need_4d(rc, s, "data")
    oh, ow = _aap_out(rc, s)
    return (s[0], s[1], oh, ow)


def _windows_np(n_in, n_out):
    o = np.arange(n_out)
    st = np.floor((o * n_in).astype(np.float32) / np.float32(n_out)).astype(np.int64)
    en = np.ceil(((o + 1) * n_in).astype(np.float32) / np.float32(n_out)).astype(np.int64)
    return st, en


def _aap_np(xs, a):
    x = xs[0]
    oh, ow = _aap_out(_NpRC("_contrib_AdaptiveAvgPooling2D", a), x.shape)
    out = np.zeros(x.shape[:2] + (oh, ow), x.dtype)
    hs, he = _windows_np(x.shape[2], oh)
    ws, we = _windows_np(x.shape[3], ow)
    for i in range(oh):
        for j in range(ow):
            s = x[:, :, hs[i]:he[i], ws[j]:we[j]].sum(axis=(2, 3), dtype=np.float64)
            out[:, :, i, j] = s / (we[j] - ws[j]) / (he[i] - hs[i])
    return (out,)


def _window_matrix(b, n_in, n_out, dtype):
    """IR: the (n_out, n_in) 0/1 window matrix and the (n_out,) window sizes."""
    o = _arange(b, n_out, "float32")
    st = b.op("floor", [b.div(b.mul(o, float(n_in)), float(n_out))])
    en = b.op("ceil", [b.div(b.mul(b.add(o, 1.0), float(n_in)), float(n_out))])
    j = b.reshape(_arange(b, n_in, "float32"), (1, n_in))
    m = b.mul(b.op("broadcast_greater_equal", [j, b.reshape(st, (n_out, 1))]),
              b.op("broadcast_lesser", [j, b.reshape(en, (n_out, 1))]))
    return b.cast(m, dtype), b.cast(b.sub(en, st), dtype)


def _aap_decompose(b, op):
    x = op.inputs[0]
    n, c, h, w = x.shape
    oh, ow = _aap_out(_OpRC(op), x.shape)
    mw, kw = _window_matrix(b, w, ow, x.dtype)
    mh, kh = _window_matrix(b, h, oh, x.dtype)
    t = b.dot(b.reshape(x, (n * c * h, w)), mw, transpose_b=True)          # (NCH, OW)
    t = b.reshape(b.transpose(b.reshape(t, (n * c, h, ow)), (0, 2, 1)), (n * c * ow, h))
    t = b.dot(t, mh, transpose_b=True)                                      # (NC OW, OH)
    t = b.transpose(b.reshape(t, (n, c, ow, oh)), (0, 1, 3, 2))
    return [b.div(b.div(t, b.reshape(kw, (1, 1, 1, ow))), b.reshape(kh, (1, 1, oh, 1)))]


register_op(OpDef(
    name="_contrib_AdaptiveAvgPooling2D",
    attrs=(Attr("output_size", "shape", (), doc="int (output size) or (height, width)"),),
    arguments=("data",), infer_shape=forward_shape(_aap_rule), interp=_aap_np,
    decompose=_aap_decompose,
    doc="Average of the adaptive window [floor(i*H/OH), ceil((i+1)*H/OH)) x (likewise W): "
        "window-matrix GEMMs.",
))


# =================================================================================================
# im2col / col2im
# =================================================================================================
def _blocks_attrs(rc, nsp):
    """(kernel, stride, dilate, pad) as 2-d tuples; 1-d forms get a unit height."""
    a = rc.attrs
    k = tuple(a["kernel"])
    if len(k) == 3:
        from ...base import op_prefix
        raise UnsupportedError(f"{op_prefix(rc.opname, rc.name)}: mxc does not support 3-d "
                               "(d, h, w) kernels yet; 1-d and 2-d kernels are supported")
    if len(k) not in (1, 2) or (nsp is not None and len(k) != nsp):
        raise rc.shape_error(f"kernel={k} does not match {nsp}-d spatial input; expected "
                             f"a kernel with one entry per spatial axis")

    def full(name, dflt):
        v = tuple(a[name]) or (dflt,) * len(k)
        if len(v) != len(k):
            raise rc.attr_error(f"{name}={tuple(a[name])} must have {len(k)} entries like kernel")
        return v
    st, dl, pd = full("stride", 1), full("dilate", 1), full("pad", 0)
    if any(v <= 0 for v in k + st + dl) or any(v < 0 for v in pd):
        raise rc.attr_error(f"kernel={k}, stride={st}, dilate={dl}, pad={pd}; expected positive "
                            "kernel, stride and dilate and non-negative pad")
    if len(k) == 1:
        return (1,) + k, (1,) + st, (1,) + dl, (0,) + pd
    return k, st, dl, pd


def _blocks_out(rc, sp, k, s, d, p, what):
    out = []
    for x, kk, ss, dd, pp in zip(sp, k, s, d, p):
        span = dd * (kk - 1) + 1
        if span > x + 2 * pp:
            raise rc.shape_error(f"{what} {_sh(sp)} with pad {p[-len(sp):]} is smaller than the "
                                 f"dilated kernel {tuple(k[-len(sp):])}")
        out.append((x + 2 * pp - span) // ss + 1)
    return out


class _BRC:
    """A rule context that knows its operator's name (RuleCtx keeps it on its OpDef)."""

    def __init__(self, rc, opname):
        self.rc, self.opname = rc, opname

    def __getattr__(self, k):
        return getattr(self.rc, k)


def _im2col_rule(rc, shapes):
    s = shapes[0]
    if len(s) not in (3, 4):
        k = tuple(rc.attrs["kernel"])
        if len(k) == 3:
            _blocks_attrs(_BRC(rc, "im2col"), None)
        raise rc.shape_error(f"data has shape {_sh(s)}; expected (N, C, W) or (N, C, H, W)")
    k, st, dl, pd = _blocks_attrs(_BRC(rc, "im2col"), len(s) - 2)
    sp = (1,) * (4 - len(s)) + tuple(s[2:])
    oh, ow = _blocks_out(rc, sp, k, st, dl, pd, "data of spatial shape")
    return (s[0], s[1] * k[0] * k[1], oh * ow)


def _as_4d(b, x):
    return x if len(x.shape) == 4 else b.reshape(x, tuple(x.shape[:2]) + (1, x.shape[2]))


def _im2col_build(b, x, k, st, dl, pd):
    x4 = _as_4d(b, x)
    n, c = x4.shape[:2]
    cols = b.op("_im2col", [x4], {"kernel": k, "stride": st, "dilate": dl, "pad": pd})
    oh, ow = cols.shape[4:]
    return b.reshape(b.transpose(cols, (3, 0, 1, 2, 4, 5)), (n, c * k[0] * k[1], oh * ow))


def _col2im_build(b, g, out_shape, k, st, dl, pd):
    """col2im of ``g`` (N, C*KH*KW, L) into ``out_shape`` ((N, C, W) or (N, C, H, W))."""
    n, c = out_shape[:2]
    sp = (1,) * (4 - len(out_shape)) + tuple(out_shape[2:])
    oh, ow = (_out(x, kk, ss, dd, pp) for x, kk, ss, dd, pp in zip(sp, k, st, dl, pd))
    cols = b.transpose(b.reshape(g, (n, c, k[0], k[1], oh, ow)), (1, 2, 3, 0, 4, 5))
    img = b.op("_col2im", [cols], {"kernel": k, "stride": st, "dilate": dl, "pad": pd,
                                   "out_hw": sp})
    return b.reshape(b.sum(img, axis=(4, 5)), tuple(out_shape))


def _out(x, k, s, d, p):
    return (x + 2 * p - d * (k - 1) - 1) // s + 1


def _im2col_np(xs, a):
    from .im2col import _im2col_np as cols_np
    x = xs[0]
    k, st, dl, pd = _blocks_attrs(_NpRC("im2col", a), x.ndim - 2)
    x4 = x if x.ndim == 4 else x[:, :, None, :]
    cols = cols_np([x4], {"kernel": k, "stride": st, "dilate": dl, "pad": pd})[0]
    n, c = x.shape[:2]
    return (cols.transpose(3, 0, 1, 2, 4, 5).reshape(n, c * k[0] * k[1], -1).copy(),)


def _im2col_decompose(b, op):
    x = op.inputs[0]
    k, st, dl, pd = _blocks_attrs(_BRC(_OpRC(op), "im2col"), len(x.shape) - 2)
    return [_im2col_build(b, x, k, st, dl, pd)]


def _im2col_vjp(b, op, g):
    x = op.inputs[0]
    k, st, dl, pd = _blocks_attrs(_BRC(_OpRC(op), "im2col"), len(x.shape) - 2)
    return (_col2im_build(b, g, x.shape, k, st, dl, pd),)


_BLOCK_ATTRS = (
    Attr("kernel", "shape", doc="Sliding kernel size: (w,) or (h, w)."),
    Attr("stride", "shape", (), doc="The stride between adjacent sliding blocks (default 1)."),
    Attr("dilate", "shape", (), doc="The spacing between adjacent kernel points (default 1)."),
    Attr("pad", "shape", (), doc="The zero-value padding on both sides (default 0)."),
)

register_op(OpDef(
    name="im2col", attrs=_BLOCK_ATTRS, arguments=("data",),
    infer_shape=forward_shape(_im2col_rule), interp=_im2col_np, decompose=_im2col_decompose,
    vjp=_im2col_vjp,
    doc="Sliding blocks (N, C*KH*KW, OH*OW) of (N, C, H, W) data (a masked view); gradient "
        "col2im.",
))


def _col2im_target(rc, s):
    a = rc.attrs
    o = tuple(a["output_size"])
    if len(s) != 3:
        raise rc.shape_error(f"data has shape {_sh(s)}; expected (N, C*prod(kernel), L)")
    if len(o) != len(tuple(a["kernel"])):
        raise rc.attr_error(f"output_size={o} and kernel={tuple(a['kernel'])} must have the "
                            "same number of dimensions")
    k, st, dl, pd = _blocks_attrs(_BRC(rc, "col2im"), len(o))
    sp = (1,) * (2 - len(o)) + o
    oh, ow = _blocks_out(rc, sp, k, st, dl, pd, "output_size")
    if s[2] != oh * ow or s[1] % (k[0] * k[1]):
        raise rc.shape_error(f"data has shape {_sh(s)}; with output_size={o} and kernel="
                             f"{tuple(a['kernel'])} expected (N, C*{k[0] * k[1]}, {oh * ow})")
    return (s[0], s[1] // (k[0] * k[1])) + o, (k, st, dl, pd)


def _col2im_rule(rc, shapes):
    return _col2im_target(rc, shapes[0])[0]


def _col2im_np(xs, a):
    from .im2col import _col2im_np as img_np
    g = xs[0]
    out, (k, st, dl, pd) = _col2im_target(_NpRC("col2im", a), g.shape)
    n, c = out[:2]
    sp = (1,) * (4 - len(out)) + tuple(out[2:])
    oh, ow = (_out(x, kk, ss, dd, pp) for x, kk, ss, dd, pp in zip(sp, k, st, dl, pd))
    cols = g.reshape(n, c, k[0], k[1], oh, ow).transpose(1, 2, 3, 0, 4, 5)
    img = img_np([cols], {"kernel": k, "stride": st, "dilate": dl, "pad": pd, "out_hw": sp})[0]
    return (img.sum(axis=(4, 5)).reshape(out).astype(g.dtype),)


def _col2im_decompose(b, op):
    g = op.inputs[0]
    out, (k, st, dl, pd) = _col2im_target(_OpRC(op), g.shape)
    return [_col2im_build(b, g, out, k, st, dl, pd)]


def _col2im_vjp(b, op, g):
    _, (k, st, dl, pd) = _col2im_target(_OpRC(op), op.inputs[0].shape)
    return (_im2col_build(b, g, k, st, dl, pd),)


register_op(OpDef(
    name="col2im", attrs=(Attr("output_size", "shape", doc="The spatial size of the output "
                               "image: (w,) or (h, w)."),) + _BLOCK_ATTRS,
    arguments=("data",), infer_shape=forward_shape(_col2im_rule), interp=_col2im_np,
    decompose=_col2im_decompose, vjp=_col2im_vjp,
    doc="Sums sliding blocks (N, C*KH*KW, L) back into (N, C, H, W) images (the adjoint of "
        "im2col); gradient im2col.",
))


# =================================================================================================
# Correlation
# =================================================================================================
def _corr_geometry(rc, s):
    a = rc.attrs
    ks, md, s1, s2, p = (a["kernel_size"], a["max_displacement"], a["stride1"], a["stride2"],
                         a["pad_size"])
    kr = (ks - 1) // 2
    border = md + kr
    hp, wp = s[2] + 2 * p, s[3] + 2 * p
    th = math.ceil(float(np.float32(hp - 2 * border) / np.float32(s1)))
    tw = math.ceil(float(np.float32(wp - 2 * border) / np.float32(s1)))
    if th < 1 or tw < 1:
        raise rc.shape_error(f"data of shape {_sh(s)} with pad_size={p} is too small for "
                             f"max_displacement={md} and kernel_size={ks}: the neighbourhood "
                             "and kernel do not fit")
    r = md // s2
    return {"ks": ks, "md": md, "s1": s1, "s2": s2, "p": p, "th": th, "tw": tw, "r": r,
            "G": 2 * r + 1, "hp": hp, "wp": wp}


def _corr_validate(rc):
    a = rc.attrs
    for k in ("kernel_size", "stride1", "stride2"):
        if a[k] < 1:
            raise rc.attr_error(f"{k}={a[k]}; expected >= 1")
    for k in ("max_displacement", "pad_size"):
        if a[k] < 0:
            raise rc.attr_error(f"{k}={a[k]}; expected >= 0")
    if a["kernel_size"] % 2 == 0:
        raise rc.attr_error(f"kernel_size={a['kernel_size']}; expected an odd number")


def _corr_rule(rc, shapes):
    s1_, s2_ = shapes
    _need_4d(rc, s1_, "data1")
    if tuple(s2_) != tuple(s1_):
        raise rc.shape_error(f"data1 has shape {_sh(s1_)} and data2 has shape {_sh(s2_)}; "
                             "expected equal shapes")
    g = _corr_geometry(rc, s1_)
    n, c = s1_[:2]
    tmp = (n, g["hp"], g["wp"], c)
    return [(n, g["G"] ** 2, g["th"], g["tw"]), tmp, tmp]


def _corr_np(xs, a):
    d1, d2 = xs
    g = _corr_geometry(_NpRC("Correlation", a), d1.shape)
    p, md, ks, s1, s2, r, G = (g[k] for k in ("p", "md", "ks", "s1", "s2", "r", "G"))
    pad = ((0, 0), (0, 0), (p, p), (p, p))
    p1, p2 = np.pad(d1, pad).astype(np.float64), np.pad(d2, pad).astype(np.float64)
    n, c = d1.shape[:2]
    th, tw = g["th"], g["tw"]
    out = np.zeros((n, G * G, th, tw))
    ys = md + np.arange(th) * s1
    xs_ = md + np.arange(tw) * s1
    for tc in range(G * G):
        oy, ox = (tc // G - r) * s2, (tc % G - r) * s2
        for h in range(ks):
            for w in range(ks):
                a1 = p1[:, :, (ys + h)[:, None], (xs_ + w)[None, :]]
                a2 = p2[:, :, (ys + h + oy)[:, None], (xs_ + w + ox)[None, :]]
                v = a1 * a2 if a["is_multiply"] else np.abs(a1 - a2)
                out[:, tc] += v.sum(axis=1)
    out /= ks * ks * c
    t1 = np.pad(d1, pad).transpose(0, 2, 3, 1).copy()
    t2 = np.pad(d2, pad).transpose(0, 2, 3, 1).copy()
    return (out.astype(d1.dtype), t1, t2)


def _corr_decompose(b, op):
    d1, d2 = op.inputs
    g = _corr_geometry(_OpRC(op), d1.shape)
    p, md, ks, s1, s2, r, G, th, tw = (g[k] for k in ("p", "md", "ks", "s1", "s2", "r", "G",
                                                      "th", "tw"))
    n, c = d1.shape[:2]

    def padded(x):      # zero blocks concatenated (Pad's view has no gradient through autodiff)
        return pad_axis(b, pad_axis(b, x, 2, p, p), 3, p, p)
    p1, p2 = padded(d1), padded(d2)
    hs, ws = (th - 1) * s1 + ks, (tw - 1) * s1 + ks          # rows / cols the windows touch
    a = b.op("slice", [p1], {"begin": (0, 0, md, md), "end": (n, c, md + hs, md + ws)})
    lo = md - r * s2
    win = b.op("slice", [p2], {"begin": (0, 0, lo, lo),
                               "end": (n, c, lo + hs + 2 * r * s2, lo + ws + 2 * r * s2)})
    cols = b.op("_im2col", [win], {"kernel": (G, G), "stride": (1, 1), "dilate": (s2, s2),
                                   "pad": (0, 0)})                  # (C, G, G, N, hs, ws)
    a6 = b.reshape(b.transpose(a, (1, 0, 2, 3)), (c, 1, 1, n, hs, ws))
    if op.attrs["is_multiply"]:
        v = b.mul(a6, cols)
    else:
        diff = b.sub(a6, cols)
        sign = b.sub(b.mul(b.op("broadcast_greater_equal", [a6, cols]), 2.0), 1.0)
        v = b.mul(diff, sign)
    s = b.sum(v, axis=0)                                           # (G, G, N, hs, ws)
    if (ks, s1) != (1, 1):
        s4 = b.reshape(s, (1, G * G * n, hs, ws))
        s6 = b.op("_im2col", [s4], {"kernel": (ks, ks), "stride": (s1, s1), "dilate": (1, 1),
                                    "pad": (0, 0)})                # (GGN, ks, ks, 1, th, tw)
        s = b.sum(s6, axis=(1, 2))
    s = b.div(b.reshape(s, (G * G, n, th, tw)), float(ks * ks * c))
    out = b.transpose(s, (1, 0, 2, 3))
    return [out, b.transpose(p1, (0, 2, 3, 1)), b.transpose(p2, (0, 2, 3, 1))]


register_op(OpDef(
    name="Correlation",
    attrs=(Attr("kernel_size", "int", 1, doc="kernel size for Correlation (odd)"),
           Attr("max_displacement", "int", 1, doc="Max displacement of Correlation"),
           Attr("stride1", "int", 1, doc="stride1 quantize data1 globally"),
           Attr("stride2", "int", 1, doc="stride2 quantize data2 within the neighborhood "
                "centered around data1"),
           Attr("pad_size", "int", 0, doc="pad for Correlation"),
           Attr("is_multiply", "bool", True, doc="multiplication (True) or absolute "
                "difference (False)")),
    arguments=("data1", "data2"), outputs=("output", "tmp1", "tmp2"), num_visible_outputs=1,
    infer_shape=forward_shape(_corr_rule), interp=_corr_np, decompose=_corr_decompose,
    validate=_corr_validate,
    doc="FlowNet correlation of data1 with displaced windows of data2 (an im2col view), "
        "mean over channels and kernel window.",
))
