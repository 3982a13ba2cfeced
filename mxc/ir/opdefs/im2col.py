"""im2col and its adjoint as masked views: how a 2-D convolution becomes a GEMM.

``_im2col(x)`` views (N, C, H, W) data as the column matrix (C, KH, KW, N, OH, OW) of a
convolution: ``cols[c, i, j, n, oh, ow] = x[n, c, oh*sh + i*dh - ph, ow*sw + j*dw - pw]``,
zero where that position falls in the padding. Reshaped to (C*KH*KW, N*OH*OW), the
convolution is ``W (F, C*KH*KW) @ cols``; its weight gradient ``dY (F, N*OH*OW) @ cols^T``.

``_col2im(dcols)`` views column gradients (C, KH, KW, N, OH, OW) as (N, C, H, W, KH, KW): for
each input position and kernel tap, the column entry that position fed (zero where no output
position reads it); summed over the last two axes it is the data gradient. Both are views, so
the fusion pass folds them into the kernels that read them (the copy feeding the GEMM, the
reduction that sums the taps). See :mod:`mxc.passes.conv_gemm`.
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import VIEW, OpDef, View, forward_shape, register_op

_ATTRS = (Attr("kernel", "shape"), Attr("stride", "shape"), Attr("dilate", "shape"),
          Attr("pad", "shape"))


def _out_size(x, k, s, d, p):
    return (x + 2 * p - d * (k - 1) - 1) // s + 1


# --- im2col ------------------------------------------------------------------------------------
def _im2col_rule(rc, shapes):
    n, c, h, w = shapes[0]
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = (rc.attrs[a] for a in ("kernel", "stride",
                                                                     "dilate", "pad"))
    return (c, kh, kw, n, _out_size(h, kh, sh, dh, ph), _out_size(w, kw, sw, dw, pw))


def _im2col_pos(attrs, idx):
    (sh, sw), (dh, dw), (ph, pw) = attrs["stride"], attrs["dilate"], attrs["pad"]
    c, i, j, n, oh, ow = idx
    return n, c, oh * sh + i * dh - ph, ow * sw + j * dw - pw


def _im2col_index(attrs, in_shape, out_shape, idx):
    return list(_im2col_pos(attrs, idx))


def _im2col_guard(attrs, in_shape, out_shape, idx):
    _, _, y, x = _im2col_pos(attrs, idx)
    return [("range", y, 0, in_shape[2]), ("range", x, 0, in_shape[3])]


def _im2col_np(xs, a):
    x = xs[0]
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = a["kernel"], a["stride"], a["dilate"], a["pad"]
    oh, ow = _out_size(h, kh, sh, dh, ph), _out_size(w, kw, sw, dw, pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.empty((c, kh, kw, n, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            win = xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                     j * dw: j * dw + sw * (ow - 1) + 1: sw]
            out[:, i, j] = win.transpose(1, 0, 2, 3)
    return (out,)


def _im2col_vjp(b, op, g):
    """The adjoint of the column view: col2im (each input position sums the column entries it
    fed), so compositions that read windows through ``_im2col`` (im2col, Correlation) get their
    gradients from autodiff."""
    x = op.inputs[0]
    cols = b.op("_col2im", [g], dict(op.attrs, out_hw=tuple(x.shape[2:])))
    return (b.sum(cols, axis=(4, 5)),)


register_op(OpDef(
    name="_im2col", attrs=_ATTRS, arguments=("data",),
    infer_shape=forward_shape(_im2col_rule), interp=_im2col_np, vjp=_im2col_vjp,
    lower=View("custom", _im2col_index, guard=_im2col_guard), traits={VIEW},
    doc="The column matrix (C, KH, KW, N, OH, OW) of a 2-D convolution's (N, C, H, W) input "
        "(a masked view: zero in the padding); its gradient is col2im.",
))


# --- col2im ------------------------------------------------------------------------------------
def _col2im_rule(rc, shapes):
    c, kh, kw, n, _, _ = shapes[0]
    h, w = rc.attrs["out_hw"]
    return (n, c, h, w, kh, kw)


def _shift(k, d, s):
    """A multiple of ``s`` that makes ``pos + pad - tap*d`` non-negative for every tap."""
    return s * (-(-((k - 1) * d) // s))


def _col2im_parts(attrs, in_shape, idx):
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = (attrs[a] for a in ("kernel", "stride", "dilate",
                                                                 "pad"))
    n, c, y, x, i, j = idx
    ty, tx = y + ph - i * dh, x + pw - j * dw          # = oh*sh, ow*sw where valid
    my, mx = _shift(kh, dh, sh), _shift(kw, dw, sw)
    oh = ty if sh == 1 else (ty + my) // sh - my // sh
    ow = tx if sw == 1 else (tx + mx) // sw - mx // sw
    conds = [("range", ty, 0, (in_shape[4] - 1) * sh + 1),
             ("range", tx, 0, (in_shape[5] - 1) * sw + 1)]
    if sh > 1:
        conds.append(("divisible", ty + my, sh))
    if sw > 1:
        conds.append(("divisible", tx + mx, sw))
    return [c, i, j, n, oh, ow], conds


def _col2im_index(attrs, in_shape, out_shape, idx):
    return _col2im_parts(attrs, in_shape, idx)[0]


def _col2im_guard(attrs, in_shape, out_shape, idx):
    return _col2im_parts(attrs, in_shape, idx)[1]


def _col2im_np(xs, a):
    cols = xs[0]
    c, kh, kw, n, oh, ow = cols.shape
    h, w = a["out_hw"]
    (sh, sw), (dh, dw), (ph, pw) = a["stride"], a["dilate"], a["pad"]
    out = np.zeros((n, c, h, w, kh, kw), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            for y in range(h):
                ty = y + ph - i * dh
                if ty < 0 or ty % sh or ty // sh >= oh:
                    continue
                for x in range(w):
                    tx = x + pw - j * dw
                    if tx < 0 or tx % sw or tx // sw >= ow:
                        continue
                    out[:, :, y, x, i, j] = cols[:, i, j, :, ty // sh, tx // sw].T
    return (out,)


register_op(OpDef(
    name="_col2im", attrs=_ATTRS + (Attr("out_hw", "shape", doc="the input's (H, W)"),),
    arguments=("data",), infer_shape=forward_shape(_col2im_rule), interp=_col2im_np,
    differentiable=False, lower=View("custom", _col2im_index, guard=_col2im_guard),
    traits={VIEW},
    doc="Column gradients (C, KH, KW, N, OH, OW) seen from the input side as (N, C, H, W, KH, "
        "KW): the entry each input position fed through each tap, zero where it fed none "
        "(a masked view; summed over the taps it is col2im).",
))
