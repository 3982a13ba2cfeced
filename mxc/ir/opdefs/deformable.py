"""Deformable and rotated sampling operators of MXNet 1.9.1 (src/operator/contrib/
{deformable_convolution*, modulated_deformable_convolution*, nn/deformable_im2col.h,
nn/modulated_deformable_im2col.h, deformable_psroi_pooling*}), and
``_contrib_SparseEmbedding``. All take NCHW data. (``_contrib_RROIAlign`` is not here yet.)

- ``_contrib_DeformableConvolution(data, offset, weight[, bias])`` (DCN v1): column ``(c, i, j)``
  at output position ``(oh, ow)`` is ``data[n, c]`` sampled at ``(oh*sh - ph + i*dh + dy,
  ow*sw - pw + j*dw + dx)``, with ``(dy, dx)`` the offset pair of kernel tap ``(i, j)`` of
  ``c``'s deformable group (offset channels ``2*(i*KW + j)`` and ``+1`` of that group's block
  of ``2*KH*KW``); then a grouped GEMM with the weight (``num_group``) and the bias. Sampling is
  MXNet's ``deformable_im2col_bilinear``: a point reads 0 unless ``0 <= h < H`` and ``0 <= w <
  W``; inside, the lower neighbour is ``floor``, the upper one ``floor + 1`` except in the last
  row / column, where it is clamped and its fraction forced to 0 (the point reads the last
  row / column, never zero padding). The samples are gathers at computed indices (a library
  gather; its gradient a scatter-add), weighted with ``1 - frac`` / ``frac``; the GEMM is
  ``dot`` / ``batch_dot``. Gradients come from autodiff: the data gradient is the adjoint of
  the sampling (MXNet's ``deformable_col2im``), the offset gradient the derivative of the
  bilinear weights, which is what MXNet's ``deformable_col2im_coord`` computes (0 outside the
  image and, along h, in the last row, along w in the last column, where the forward is
  constant); at the measure-zero kinks (integer coordinates, the image's lower/right edge)
  the one-sided derivative taken may differ from MXNet's choice.
- ``_contrib_ModulatedDeformableConvolution(data, offset, mask, weight[, bias])`` (DCN v2):
  the same, sampling with zero padding (``dmcn_im2col_bilinear``: a point reads 0 unless
  ``-1 < h < H`` and ``-1 < w < W``; each of its four neighbours outside the image reads 0),
  every column multiplied by ``mask`` (``(N, num_deformable_group*KH*KW, OH, OW)``). MXNet
  1.9.1 has no CPU backward for it (``modulated_deformable_col2im`` is "only implemented in
  GPU"), so the golden data checks the forward; the gradients here are autodiff's (the exact
  derivative of the forward), checked by finite differences. ``im2col_step`` only batches
  MXNet's work; it is validated as MXNet's (the batch must divide by it when larger).
- ``_contrib_DeformablePSROIPooling(data, rois[, trans])`` (R-FCN with deformable parts): bin
  ``(ph, pw)`` of output channel ``c`` averages ``sample_per_part^2`` bilinear samples of input
  channel ``(c*G + gh)*G + gw`` in its bin, shifted by ``trans * trans_std`` times the roi
  size (``trans`` of class ``c // (output_dim / num_classes)`` at part ``floor(p / P *
  part_size)``); samples outside ``[-0.5, size - 0.5]`` are skipped and the rest clamped to the
  image; the average is over the samples taken (0 when none). Hidden output ``top_count`` (the
  number of samples taken). A composition: positions are elementwise math on the rois and
  ``trans``, the samples are gathers. Gradients by autodiff: data gets the adjoint (MXNet's),
  ``trans`` the derivative of the bilinear weights (MXNet's formula), rois 0 (as MXNet).
- ``_contrib_SparseEmbedding``: ``Embedding`` with dense storage. MXNet's weight gradient is
  ``row_sparse`` (only the looked-up rows); here it is the equal dense array (the same values,
  zeros in the other rows).
"""
from __future__ import annotations

import numpy as np

from ...base import UnsupportedError
from ..attrs import Attr
from ..registry import Extern, OpDef, forward_shape, register_op
from ..types import shape_str


def _sh(s):
    return f"({shape_str(s)})"


class _RC:
    """Error helpers for rules evaluated outside inference (interp, decompositions)."""

    def __init__(self, opname, attrs, name=None):
        self.opname, self.attrs, self.name = opname, attrs, name

    def shape_error(self, m):
        from ...base import ShapeError, op_prefix
        return ShapeError(f"{op_prefix(self.opname, self.name)}: {m}")

    def attr_error(self, m):
        from ...base import AttrError, op_prefix
        return AttrError(f"{op_prefix(self.opname, self.name)}: {m}")


def _op_rc(op):
    return _RC(op.opname, op.attrs, op.name)


def _arange(b, n, dtype="float32"):
    return b.op("_arange", [], {"start": 0.0, "stop": float(n), "dtype": dtype})


def _cmp(b, name, x, s):
    return b.op(name, [x], {"scalar": float(s)})


# =================================================================================================
# deformable convolutions
# =================================================================================================
def _dc_modulated(opname):
    return opname == "_contrib_ModulatedDeformableConvolution"


def _dc_args(modulated):
    def args(attrs):
        names = ["data", "offset"] + (["mask"] if modulated else []) + ["weight"]
        return names if attrs["no_bias"] else names + ["bias"]
    return args


def _dc_cfg(rc):
    a = rc.attrs
    k = tuple(a["kernel"])
    if len(k) != 2:
        raise rc.attr_error(f"kernel={k} is not accepted; MXNet implements only 2-d (h, w) "
                            "kernels for this operator")

    def full(name, dflt):
        v = tuple(a[name]) or (dflt, dflt)
        if len(v) != 2:
            raise rc.attr_error(f"{name}={tuple(a[name])} must have 2 entries like kernel")
        return v
    s, d, p = full("stride", 1), full("dilate", 1), full("pad", 0)
    if any(v <= 0 for v in k + s + d) or any(v < 0 for v in p):
        raise rc.attr_error(f"kernel={k}, stride={s}, dilate={d}, pad={p}; expected positive "
                            "kernel, stride and dilate and non-negative pad")
    return k, s, d, p


def _dc_validate(rc):
    a = rc.attrs
    _dc_cfg(rc)
    if a["layout"] not in (None, "NCHW"):
        raise UnsupportedError(f"{rc.where}: layout={a['layout']!r} is not supported; "
                               "MXNet implements only NCHW for this operator")
    for k in ("num_filter", "num_group", "num_deformable_group"):
        if a[k] < 1:
            raise rc.attr_error(f"{k}={a[k]}; expected >= 1")
    if a["num_filter"] % a["num_group"]:
        raise rc.attr_error(f"num_filter={a['num_filter']} is not divisible by num_group="
                            f"{a['num_group']}")
    if "im2col_step" in a and a["im2col_step"] < 1:
        raise rc.attr_error(f"im2col_step={a['im2col_step']}; expected >= 1")


def _dc_geometry(rc, d, modulated):
    """Checks the data shape; returns (k, s, dl, p, OH, OW)."""
    a = rc.attrs
    k, s, dl, p = _dc_cfg(rc)
    if len(d) != 4:
        raise rc.shape_error(f"data has shape {_sh(d)}; expected a 4-d (batch, channel, "
                             "height, width) array")
    g, dg = a["num_group"], a["num_deformable_group"]
    if d[1] % g or d[1] % dg:
        raise rc.shape_error(f"data has {d[1]} channels (shape {_sh(d)}), not divisible by "
                             f"num_group={g} and num_deformable_group={dg}")
    if modulated and d[0] > a["im2col_step"] and d[0] % a["im2col_step"]:
        raise rc.shape_error(f"data has batch size {d[0]} (shape {_sh(d)}); a batch larger "
                             f"than im2col_step={a['im2col_step']} must be divisible by it")
    out = []
    for x, kk, ss, dd, pp in zip(d[2:], k, s, dl, p):
        span = dd * (kk - 1) + 1
        if span > x + 2 * pp:
            raise rc.shape_error(f"data has shape {_sh(d)}: the dilated kernel {k} exceeds "
                                 f"the padded input (pad={p}, dilate={dl})")
        out.append((x + 2 * pp - span) // ss + 1)
    return k, s, dl, p, out[0], out[1]


def _dc_rule_for(modulated):
    def rule(rc, shapes):
        from .nn_layers import _fit
        a = rc.attrs
        nw = 3 if modulated else 2                     # position of weight
        n_in = len(shapes)
        if any(shapes[i] is None or None in shapes[i] for i in range(nw)):
            return list(shapes), [None]
        d = tuple(shapes[0])
        k, _, _, _, oh, ow = _dc_geometry(rc, d, modulated)
        dg, K = a["num_deformable_group"], k[0] * k[1]
        want_off = (d[0], dg * 2 * K, oh, ow)
        if tuple(shapes[1]) != want_off:
            raise rc.shape_error(f"offset has shape {_sh(shapes[1])}; expected "
                                 f"{_sh(want_off)} (batch, 2 * num_deformable_group * "
                                 f"kernel size, output height, output width) for data {_sh(d)}")
        if modulated and tuple(shapes[2]) != (d[0], dg * K, oh, ow):
            raise rc.shape_error(f"mask has shape {_sh(shapes[2])}; expected "
                                 f"{_sh((d[0], dg * K, oh, ow))} (batch, num_deformable_group "
                                 "* kernel size, output height, output width)")
        f, g = a["num_filter"], a["num_group"]
        new = list(shapes[:nw])
        why = f"num_filter={f}, num_group={g}, kernel={k} and data {_sh(d)}"
        new.append(_fit(rc, shapes, nw, (f, d[1] // g) + k, why))
        if n_in > nw + 1:
            new.append(_fit(rc, shapes, nw + 1, (f,), f"num_filter={f}"))
        return new, [(d[0], f, oh, ow)]
    return rule


def _dc_sample_np(data, py, px, modulated):
    """Bilinear samples of data (N, dg, Cg, H, W) at py, px (N, dg, K, L) ->
    (N, dg, Cg, K, L), MXNet's rule for each variant (float32 math as MXNet's kernels)."""
    N, dg, Cg, H, W = data.shape
    dt = data.dtype
    y0, x0 = np.floor(py), np.floor(px)
    if modulated:
        valid = (py > -1) & (px > -1) & (py < H) & (px < W)
        ly, lx = py - y0, px - x0
    else:
        valid = (py >= 0) & (px >= 0) & (py < H) & (px < W)
        ly = np.where(y0 >= H - 1, 0, py - y0).astype(dt)
        lx = np.where(x0 >= W - 1, 0, px - x0).astype(dt)
    n = np.arange(N)[:, None, None, None]
    d = np.arange(dg)[None, :, None, None]
    out = np.zeros((N, dg, Cg) + py.shape[2:], dt)
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        yy, xx = y0 + dy, x0 + dx
        ok = valid.copy()
        if modulated:
            ok &= (yy >= 0) & (yy <= H - 1) & (xx >= 0) & (xx <= W - 1)
        yi = np.clip(yy, 0, H - 1).astype(np.int64)
        xi = np.clip(xx, 0, W - 1).astype(np.int64)
        v = data[n, d, :, yi, xi]                              # (N, dg, K, L, Cg)
        wy = (1 - ly) if dy == 0 else ly
        wx = (1 - lx) if dx == 0 else lx
        wgt = np.where(ok, wy * wx, 0).astype(dt)
        out += np.moveaxis(v * wgt[..., None], -1, 2)
    return out


def _dc_np_for(modulated):
    def interp(xs, a):
        opname = ("_contrib_ModulatedDeformableConvolution" if modulated
                  else "_contrib_DeformableConvolution")
        rc = _RC(opname, a)
        data, offset = xs[0], xs[1]
        mask = xs[2] if modulated else None
        w = xs[3 if modulated else 2]
        bias = None if a["no_bias"] else xs[-1]
        (kh, kw), (sh, sw), (dh, dw), (ph, pw), OH, OW = _dc_geometry(rc, data.shape, modulated)
        N, C, H, W = data.shape
        dg, g, F = a["num_deformable_group"], a["num_group"], a["num_filter"]
        K = kh * kw
        off = offset.reshape(N, dg, kh, kw, 2, OH, OW)
        by = (np.arange(OH) * sh - ph)[None, :] + (np.arange(kh) * dh)[:, None]   # (kh, OH)
        bx = (np.arange(OW) * sw - pw)[None, :] + (np.arange(kw) * dw)[:, None]   # (kw, OW)
        py = off[:, :, :, :, 0] + by[None, None, :, None, :, None].astype(data.dtype)
        px = off[:, :, :, :, 1] + bx[None, None, None, :, None, :].astype(data.dtype)
        py = py.reshape(N, dg, K, OH * OW)
        px = px.reshape(N, dg, K, OH * OW)
        cols = _dc_sample_np(data.reshape(N, dg, C // dg, H, W), py, px, modulated)
        if modulated:
            cols = cols * mask.reshape(N, dg, 1, K, OH * OW)
        cols = cols.reshape(N, g, C // g * K, OH * OW).astype(np.float64)
        wm = w.reshape(g, F // g, C // g * K).astype(np.float64)
        out = np.einsum("gfk,ngkl->ngfl", wm, cols).reshape(N, F, OH, OW)
        if bias is not None:
            out = out + bias.reshape(1, F, 1, 1)
        return (out.astype(data.dtype),)
    return interp


def _dc_decompose(b, op):
    modulated = _dc_modulated(op.opname)
    a = op.attrs
    data, offset = op.inputs[0], op.inputs[1]
    mask = op.inputs[2] if modulated else None
    weight = op.inputs[3 if modulated else 2]
    bias = None if a["no_bias"] else op.inputs[-1]
    (kh, kw), (sh, sw), (dh, dw), (ph, pw), OH, OW = _dc_geometry(_op_rc(op), data.shape,
                                                                 modulated)
    N, C, H, W = data.shape
    dg, g, F = a["num_deformable_group"], a["num_group"], a["num_filter"]
    Cg, K, L = C // dg, kh * kw, OH * OW
    dt = data.dtype.np_name
    sp = (N, dg, kh, kw, OH, OW)

    def comp(i):
        v = b.op("slice_axis", [b.reshape(offset, (N, dg, kh, kw, 2, OH, OW))],
                 {"axis": 4, "begin": i, "end": i + 1})
        return b.reshape(v, sp)

    def base(n_out, s, p_, n_k, d_, axis_k, axis_o):
        o = b.reshape(b.sub(b.mul(_arange(b, n_out, dt), float(s)), float(p_)),
                      tuple(n_out if i == axis_o else 1 for i in range(6)))
        kk = b.reshape(b.mul(_arange(b, n_k, dt), float(d_)),
                       tuple(n_k if i == axis_k else 1 for i in range(6)))
        return b.add(o, kk)
    py = b.add(comp(0), base(OH, sh, ph, kh, dh, 2, 4))
    px = b.add(comp(1), base(OW, sw, pw, kw, dw, 3, 5))
    y0, x0 = b.op("floor", [py]), b.op("floor", [px])
    ly, lx = b.sub(py, y0), b.sub(px, x0)
    if modulated:
        valid = b.mul(b.mul(_cmp(b, "_greater_scalar", py, -1), _cmp(b, "_greater_scalar", px,
                                                                       -1)),
                      b.mul(_cmp(b, "_lesser_scalar", py, H), _cmp(b, "_lesser_scalar", px, W)))
    else:
        valid = b.mul(b.mul(_cmp(b, "_greater_equal_scalar", py, 0),
                            _cmp(b, "_greater_equal_scalar", px, 0)),
                      b.mul(_cmp(b, "_lesser_scalar", py, H), _cmp(b, "_lesser_scalar", px, W)))
        # last row / column: the upper neighbour is clamped and its fraction forced to 0
        ly = b.mul(ly, _cmp(b, "_lesser_scalar", y0, H - 1))
        lx = b.mul(lx, _cmp(b, "_lesser_scalar", x0, W - 1))
    table = b.reshape(b.transpose(b.reshape(data, (N, dg, Cg, H, W)), (0, 1, 3, 4, 2)),
                      (N * dg * H * W, Cg))
    nd = b.reshape(b.mul(_arange(b, N * dg, "float64"), float(H * W)), (N, dg, 1, 1, 1, 1))
    y0d, x0d = b.cast(y0, "float64"), b.cast(x0, "float64")
    total = None
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        yy = b.add(y0d, float(dy)) if dy else y0d
        xx = b.add(x0d, float(dx)) if dx else x0d
        ok = valid
        if modulated:
            ok = b.mul(ok, b.cast(b.mul(b.mul(_cmp(b, "_greater_equal_scalar", yy, 0),
                                              _cmp(b, "_lesser_equal_scalar", yy, H - 1)),
                                        b.mul(_cmp(b, "_greater_equal_scalar", xx, 0),
                                              _cmp(b, "_lesser_equal_scalar", xx, W - 1))),
                              dt))
        yi = b.op("clip", [yy], {"a_min": 0.0, "a_max": float(H - 1)})
        xi = b.op("clip", [xx], {"a_min": 0.0, "a_max": float(W - 1)})
        idx = b.add(b.add(nd, b.mul(yi, float(W))), xi)
        v = b.op("take", [table, idx], {"axis": 0})              # (N, dg, kh, kw, OH, OW, Cg)
        wy = b.sub(1.0, ly) if dy == 0 else ly
        wx = b.sub(1.0, lx) if dx == 0 else lx
        wgt = b.reshape(b.mul(b.mul(wy, wx), ok), sp + (1,))
        term = b.mul(v, wgt)
        total = term if total is None else b.add(total, term)
    if modulated:
        total = b.mul(total, b.reshape(mask, sp + (1,)))
    # columns (dg, Cg, kh, kw, N, OH, OW) = (C * K, N * L), channel-major as the weight
    cols = b.reshape(b.transpose(total, (1, 6, 2, 3, 0, 4, 5)), (g, C // g * K, N * L))
    wm = b.reshape(weight, (g, F // g, C // g * K))
    if g == 1:
        out = b.dot(b.reshape(wm, (F, C * K)), b.reshape(cols, (C * K, N * L)))
    else:
        out = b.op("batch_dot", [wm, cols])                      # (g, F/g, N*L)
    out = b.reshape(b.transpose(b.reshape(out, (F, N, L)), (1, 0, 2)), (N, F, OH, OW))
    if bias is not None:
        out = b.add(out, b.reshape(bias, (1, F, 1, 1)))
    return [out]


_DC_ATTRS = (
    Attr("kernel", "shape", doc="Convolution kernel size: (h, w) or (d, h, w)"),
    Attr("stride", "shape", (), doc="Convolution stride: (h, w) or (d, h, w). Defaults to 1 for "
         "each dimension."),
    Attr("dilate", "shape", (), doc="Convolution dilate: (h, w) or (d, h, w). Defaults to 1 for "
         "each dimension."),
    Attr("pad", "shape", (), doc="Zero pad for convolution: (h, w) or (d, h, w). Defaults to no "
         "padding."),
    Attr("num_filter", "int", doc="Convolution filter(channel) number"),
    Attr("num_group", "int", 1, doc="Number of group partitions."),
    Attr("num_deformable_group", "int", 1, doc="Number of deformable group partitions."),
    Attr("workspace", "int", 1024, doc="Maximum temperal workspace allowed for convolution (MB)."
         " Accepted and ignored."),
    Attr("no_bias", "bool", False, doc="Whether to disable bias parameter."),
)
_DC_LAYOUT = Attr("layout", "str", None, optional=True, choices=("NCW", "NCHW", "NCDHW"),
                  doc="Set layout for input, output and weight (only NCHW is implemented, "
                      "as in MXNet).")

register_op(OpDef(
    name="_contrib_DeformableConvolution", attrs=_DC_ATTRS + (_DC_LAYOUT,),
    arguments=_dc_args(False), infer_shape=_dc_rule_for(False), interp=_dc_np_for(False),
    decompose=_dc_decompose, validate=_dc_validate,
    doc="Deformable convolution (DCN v1): bilinear samples at offset kernel taps (0 outside "
        "the image, last row/column clamped), then a grouped GEMM with the weight; gathers at "
        "computed indices + GEMM, gradients by autodiff (MXNet's).",
))

register_op(OpDef(
    name="_contrib_ModulatedDeformableConvolution",
    attrs=_DC_ATTRS + (Attr("im2col_step", "int", 64, doc="Maximum number of images per "
                            "im2col computation; The total batch size should be divisable by "
                            "this value or smaller than this value; if you face out of memory "
                            "problem, you can try to use a smaller value here."), _DC_LAYOUT),
    arguments=_dc_args(True), infer_shape=_dc_rule_for(True), interp=_dc_np_for(True),
    decompose=_dc_decompose, validate=_dc_validate,
    doc="Modulated deformable convolution (DCN v2): zero-padded bilinear samples at offset "
        "kernel taps times the mask, then a grouped GEMM; gradients by autodiff (MXNet 1.9.1 "
        "has no CPU backward).",
))


# =================================================================================================
# SparseEmbedding (dense storage)
# =================================================================================================
def _register_sparse_embedding():
    from . import nn_layers as nl
    register_op(OpDef(
        name="_contrib_SparseEmbedding",
        attrs=(Attr("input_dim", "int", doc="Vocabulary size of the input indices."),
               Attr("output_dim", "int", doc="Dimension of the embedding vectors."),
               Attr("dtype", "dtype", "float32", doc="Data type of weight."),
               Attr("deterministic", "bool", False, doc="Force the backward gradient "
                    "calculation to be executed based on a deterministic order at the cost "
                    "of slower speed (the gradient here is always deterministic).")),
        arguments=("data", "weight"), infer_shape=nl._emb_rule, infer_dtype=nl._emb_dtype,
        interp=nl._emb_np, vjp=nl._emb_vjp, lower=Extern(nl._emb_extern, "embedding_gather"),
        validate=nl._emb_validate,
        doc="Embedding (out[..., :] = weight[clip(int(data), 0, input_dim - 1), :]) with dense "
            "storage: MXNet's weight gradient is row_sparse (the looked-up rows); here it is "
            "the equal dense array (zeros in the other rows).",
    ))


_register_sparse_embedding()


# =================================================================================================
# DeformablePSROIPooling
# =================================================================================================
def _dps_cfg(a):
    """(P, G, part, S, Co)."""
    P, G = a["pooled_size"], a["group_size"]
    return P, G, a["part_size"] or P, a["sample_per_part"], a["output_dim"]


def _dps_validate(rc):
    a = rc.attrs
    for k in ("output_dim", "group_size", "pooled_size", "sample_per_part"):
        if a[k] < 1:
            raise rc.attr_error(f"{k}={a[k]}; expected >= 1")
    if a["part_size"] < 0:
        raise rc.attr_error(f"part_size={a['part_size']}; expected >= 0 (0: pooled_size)")
    for k, hi in (("spatial_scale", 1.0), ("trans_std", 1.0)):
        if not 0.0 <= a[k] <= hi:
            raise rc.attr_error(f"{k}={a[k]} is out of range; expected a value in [0, {hi}]")


def _dps_args(attrs):
    return ["data", "rois"] if attrs["no_trans"] else ["data", "rois", "trans"]


def _dps_rule(rc, shapes):
    a = rc.attrs
    d, r = shapes[0], shapes[1]
    P, G, part, _, Co = _dps_cfg(a)
    if len(d) != 4:
        raise rc.shape_error(f"data has shape {_sh(d)}; expected a 4-d feature map (batch, "
                             "channel, height, width)")
    if len(r) != 2 or r[1] != 5:
        raise rc.shape_error(f"rois have shape {_sh(r)}; expected (num_rois, 5) rows "
                             "[batch_index, x1, y1, x2, y2]")
    if d[1] < Co * G * G:
        raise rc.shape_error(f"data has {d[1]} channels ({shape_str(d)}); expected at least "
                             f"output_dim * group_size^2 = {Co * G * G}")
    if not a["no_trans"]:
        t = shapes[2]
        if (len(t) != 4 or t[0] != r[0] or t[1] < 2 or t[1] % 2 or tuple(t[2:]) != (part, part)
                or Co % (t[1] // 2)):
            raise rc.shape_error(f"trans has shape {_sh(t)}; expected ({r[0]}, 2 * "
                                 f"num_classes, {part}, {part}) with num_classes dividing "
                                 f"output_dim={Co}")
    o = (r[0], Co, P, P)
    return [o, o]


def _dps_dtype(rc, dts):
    known = [x for x in dts if x is not None]
    if any(x != known[0] for x in known):
        raise rc.dtype_error("data, rois and trans must share one dtype; got "
                             + ", ".join(x.np_name for x in known))
    dt = known[0] if known else None
    return [dt] * len(dts), [dt, dt]


def _dps_np(xs, a):
    data, rois = xs[0], xs[1]
    dt = data.dtype
    f = dt.type
    N, _, H, W = data.shape
    P, G, part, S, Co = _dps_cfg(a)
    R = rois.shape[0]
    ss = np.float32(a["spatial_scale"])

    def rnd(v):
        return np.where(v >= 0, np.floor(v + f(0.5)), np.ceil(v - f(0.5))).astype(dt)
    sw = (rnd(rois[:, 1]) * ss - f(0.5)).astype(dt)
    sh = (rnd(rois[:, 2]) * ss - f(0.5)).astype(dt)
    ew = ((rnd(rois[:, 3]) + f(1)) * ss - f(0.5)).astype(dt)
    eh = ((rnd(rois[:, 4]) + f(1)) * ss - f(0.5)).astype(dt)
    rw, rh = np.maximum(ew - sw, f(0.1)), np.maximum(eh - sh, f(0.1))
    bw, bh = rw / f(P), rh / f(P)
    sbw, sbh = bw / f(S), bh / f(S)
    p = np.arange(P).astype(dt)
    partix = np.floor(p / f(P) * f(part)).astype(np.int64)
    gix = np.clip(np.floor(p * f(G) / f(P)).astype(np.int64), 0, G - 1)
    if a["no_trans"]:
        tx = ty = np.zeros((R, Co, P, P), dt)
    else:
        t = xs[2]
        ncls = t.shape[1] // 2
        cls = np.arange(Co) // (Co // ncls)
        tt = t.reshape(R, ncls, 2, part, part)[:, cls][:, :, :, partix][:, :, :, :, partix]
        tx = tt[:, :, 0] * f(a["trans_std"])
        ty = tt[:, :, 1] * f(a["trans_std"])
    ws = p[None, None, None, :] * bw[:, None, None, None] + sw[:, None, None, None]
    ws = ws + tx * rw[:, None, None, None]
    hs = p[None, None, :, None] * bh[:, None, None, None] + sh[:, None, None, None]
    hs = hs + ty * rh[:, None, None, None]
    i = np.arange(S).astype(dt)
    w = ws[..., None, None] + i.reshape(1, 1, 1, 1, 1, S) * sbw.reshape(R, 1, 1, 1, 1, 1)
    h = hs[..., None, None] + i.reshape(1, 1, 1, 1, S, 1) * sbh.reshape(R, 1, 1, 1, 1, 1)
    valid = (w >= -0.5) & (w <= W - 0.5) & (h >= -0.5) & (h <= H - 0.5)
    w = np.clip(w, 0, W - 1).astype(dt)
    h = np.clip(h, 0, H - 1).astype(dt)
    x1, x2, y1, y2 = (np.floor(w), np.ceil(w), np.floor(h), np.ceil(h))
    dx, dy = w - x1, h - y1
    c = (np.arange(Co)[:, None, None] * G + gix[None, :, None]) * G + gix[None, None, :]
    bi = np.clip(np.trunc(rois[:, 0]).astype(np.int64), 0, N - 1)
    bidx = bi.reshape(R, 1, 1, 1, 1, 1)
    cidx = c.reshape(1, Co, P, P, 1, 1)

    def at(y, x):
        return data[bidx, cidx, y.astype(np.int64), x.astype(np.int64)]
    val = ((1 - dx) * (1 - dy) * at(y1, x1) + (1 - dx) * dy * at(y2, x1)
           + dx * (1 - dy) * at(y1, x2) + dx * dy * at(y2, x2))
    val = np.where(valid, val, 0).astype(dt)
    cnt = valid.sum(axis=(4, 5)).astype(dt)
    out = val.sum(axis=(4, 5)) / np.maximum(cnt, 1)
    return (out.astype(dt), cnt)


def _dps_decompose(b, op):
    a = op.attrs
    data, rois = op.inputs[0], op.inputs[1]
    N, C, H, W = data.shape
    P, G, part, S, Co = _dps_cfg(a)
    R = rois.shape[0]
    dt = data.dtype.np_name

    def col(i):
        return b.op("slice_axis", [rois], {"axis": 1, "begin": i, "end": i + 1})   # (R, 1)
    ss = float(np.float32(a["spatial_scale"]))

    def rnd(v):
        return b.op("round", [v])
    sw = b.sub(b.mul(rnd(col(1)), ss), 0.5)
    sh = b.sub(b.mul(rnd(col(2)), ss), 0.5)
    ew = b.sub(b.mul(b.add(rnd(col(3)), 1.0), ss), 0.5)
    eh = b.sub(b.mul(b.add(rnd(col(4)), 1.0), ss), 0.5)
    rw = b.maximum(b.sub(ew, sw), 0.1)
    rh = b.maximum(b.sub(eh, sh), 0.1)
    bw, bh = b.div(rw, float(P)), b.div(rh, float(P))
    sbw, sbh = b.div(bw, float(S)), b.div(bh, float(S))
    p = _arange(b, P, dt)
    shp6 = (R, Co, P, P, S, S)

    def r6(v, axes_sizes):
        return b.reshape(v, tuple(axes_sizes.get(i, 1) for i in range(6)))
    if a["no_trans"]:
        tx = ty = None
    else:
        t = op.inputs[2]
        ncls = t.shape[1] // 2
        cls = b.op("floor", [b.div(_arange(b, Co, "float64"), float(Co // ncls))])
        partix = b.op("floor", [b.mul(b.div(p, float(P)), float(part))])
        tt = b.reshape(t, (R, ncls, 2, part, part))
        tt = b.op("take", [tt, cls], {"axis": 1})                     # (R, Co, 2, part, part)
        tt = b.op("take", [tt, partix], {"axis": 3})                  # (R, Co, 2, P, part)
        tt = b.op("take", [tt, partix], {"axis": 4})                  # (R, Co, 2, P, P)
        std = float(np.float32(a["trans_std"]))
        tx = b.mul(b.reshape(b.op("slice_axis", [tt], {"axis": 2, "begin": 0, "end": 1}),
                             (R, Co, P, P)), std)
        ty = b.mul(b.reshape(b.op("slice_axis", [tt], {"axis": 2, "begin": 1, "end": 2}),
                             (R, Co, P, P)), std)
    R1 = {0: R}
    ws = b.add(b.mul(r6(p, {3: P}), r6(bw, R1)), r6(sw, R1))
    hs = b.add(b.mul(r6(p, {2: P}), r6(bh, R1)), r6(sh, R1))
    if tx is not None:
        ws = b.add(ws, b.mul(r6(tx, {0: R, 1: Co, 2: P, 3: P}), r6(rw, R1)))
        hs = b.add(hs, b.mul(r6(ty, {0: R, 1: Co, 2: P, 3: P}), r6(rh, R1)))
    i = _arange(b, S, dt)
    w = b.add(ws, b.mul(r6(i, {5: S}), r6(sbw, R1)))
    h = b.add(hs, b.mul(r6(i, {4: S}), r6(sbh, R1)))
    w = b.broadcast_to(w, shp6)
    h = b.broadcast_to(h, shp6)
    valid = b.mul(b.mul(_cmp(b, "_greater_equal_scalar", w, -0.5),
                        _cmp(b, "_lesser_equal_scalar", w, W - 0.5)),
                  b.mul(_cmp(b, "_greater_equal_scalar", h, -0.5),
                        _cmp(b, "_lesser_equal_scalar", h, H - 0.5)))
    w = b.op("clip", [w], {"a_min": 0.0, "a_max": float(W - 1)})
    h = b.op("clip", [h], {"a_min": 0.0, "a_max": float(H - 1)})
    x1, x2 = b.op("floor", [w]), b.op("ceil", [w])
    y1, y2 = b.op("floor", [h]), b.op("ceil", [h])
    dx, dy = b.sub(w, x1), b.sub(h, y1)
    gi = b.op("clip", [b.op("floor", [b.div(b.mul(_arange(b, P, "float64"), float(G)),
                                              float(P))])], {"a_min": 0.0, "a_max": float(G - 1)})
    ch = b.add(b.mul(b.add(b.mul(r6(_arange(b, Co, "float64"), {1: Co}), float(G)),
                           r6(gi, {2: P})), float(G)), r6(gi, {3: P}))   # (1, Co, P, P, 1, 1)
    bi = b.op("clip", [b.op("fix", [b.cast(col(0), "float64")])],
              {"a_min": 0.0, "a_max": float(N - 1)})
    base = b.mul(b.add(b.mul(r6(bi, R1), float(C)), ch), float(H * W))  # (R, Co, P, P, 1, 1)
    flat = b.reshape(data, (N * C * H * W,))

    def at(y, x):
        idx = b.add(base, b.add(b.mul(b.cast(y, "float64"), float(W)), b.cast(x, "float64")))
        return b.op("take", [flat, idx], {"axis": 0})
    odx, ody = b.sub(1.0, dx), b.sub(1.0, dy)
    val = b.add(b.add(b.mul(b.mul(odx, ody), at(y1, x1)), b.mul(b.mul(odx, dy), at(y2, x1))),
                b.add(b.mul(b.mul(dx, ody), at(y1, x2)), b.mul(b.mul(dx, dy), at(y2, x2))))
    val = b.mul(val, valid)
    cnt = b.sum(valid, axis=(4, 5))
    out = b.div(b.sum(val, axis=(4, 5)), b.op("_maximum_scalar", [cnt], {"scalar": 1.0}))
    return [out, cnt]


register_op(OpDef(
    name="_contrib_DeformablePSROIPooling",
    attrs=(Attr("spatial_scale", "float", doc="Ratio of input feature map height (or w) to raw "
                "image height (or w). Equals the reciprocal of total stride in convolutional "
                "layers"),
           Attr("output_dim", "int", doc="fix output dim"),
           Attr("group_size", "int", doc="fix group size"),
           Attr("pooled_size", "int", doc="fix pooled size"),
           Attr("part_size", "int", 0, doc="fix part size"),
           Attr("sample_per_part", "int", 1, doc="fix samples per part"),
           Attr("trans_std", "float", 0.0, doc="fix transition std"),
           Attr("no_trans", "bool", False, doc="Whether to disable trans parameter.")),
    arguments=_dps_args, outputs=("output", "top_count"), num_visible_outputs=1,
    infer_shape=forward_shape(_dps_rule), infer_dtype=_dps_dtype, validate=_dps_validate,
    interp=_dps_np, decompose=_dps_decompose,
    doc="Deformable position-sensitive ROI pooling: each bin averages sample_per_part^2 "
        "bilinear samples shifted by trans * trans_std * roi size (out-of-map samples skipped, "
        "others clamped); gathers + elementwise math, gradients by autodiff (rois get 0).",
))
