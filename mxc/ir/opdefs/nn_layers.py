"""Neural-network layers of MXNet 1.9.1: Convolution, Deconvolution, Pooling, BatchNorm,
LayerNorm, InstanceNorm, L2Normalization, Dropout, Embedding, UpSampling, LeakyReLU,
SoftmaxActivation, log_softmax and Pad.

Dense library work (convolution, pooling, gathers, scatter-adds, padding) is an :class:`Extern`
call to torch (oneDNN / cuDNN underneath), forward and backward; normalizations and activations
are composites of reductions and elementwise ops, so the fusion pass turns them (and their
gradients) into a few generated kernels. Every ``interp`` here is plain numpy, written
independently of the torch lowerings it checks.

MXNet behaviours matched (checked against MXNet 1.9.1, see tests/data/ops/nn):

- ``Pooling`` has a hidden second output (the oneDNN workspace) for max pooling with a kernel,
  so symbol JSON ``node_row_ptr`` matches MXNet's; mxc stores the argmax there (int32 flat index
  into the input's spatial dims, -1 for a window with no input element) and max pooling's
  backward scatters through it. ``pooling_convention='full'`` is
  ``1 + ceil((x + 2*pad - kernel) / stride)`` with no shrinking of a last window that starts in
  the padding (an empty max window gives the lowest float, an empty average 0).
- ``BatchNorm``'s outputs are (output, mean, var) where ``var`` holds the *inverse standard
  deviation* ``1/sqrt(var + eps)`` (in inference: of the moving variance); the gradients of
  mean/var are ignored; ``fix_gamma`` uses gamma = 1 and gives gamma a zero gradient.
- ``Dropout`` and ``BatchNorm`` have hidden outputs (mask; mean, var), ``LayerNorm`` and
  ``InstanceNorm`` (mean, std / var), ``L2Normalization`` (norm); rrelu's mask is visible.
- ``Embedding`` clips indices into ``[0, input_dim - 1]`` and truncates fractional ones.
- ``SoftmaxActivation(mode='instance')`` is a softmax over the *last* axis (MXNet flattens
  with FlatTo2D); ``LeakyReLU(act_type='gelu')`` is the erf form.

Where MXNet 1.9.1's gradient is not the derivative of its forward, mxc reproduces MXNet's
gradient (the vjp docstrings say so; tests/test_nn_layers.py holds MXNet's numbers): selu's for
x <= 0, SoftmaxActivation's for instance mode on data of rank > 2 (along axis 1), and average
pooling's with count_include_pad for 'full'-convention windows that overhang the input.
"""
from __future__ import annotations

import math

import numpy as np

from ...base import ShapeError, UnsupportedError
from ..attrs import Attr
from ..registry import (ELEMENTWISE, RANDOM, VIEW, Elementwise, Extern, OpDef, View,
                        forward_dtype, forward_shape, register_op, unify_shapes)
from ..types import DType, numel, shape_str
from ._util import norm_axis



# -- batch parallelism of library calls (see registry.Extern.split) -----------------------------
def _split_batch_first(attrs, in_shapes, out_shapes):
    """Split the data (input 0) and the output along the batch; weights go whole."""
    return [0] + [None] * (len(in_shapes) - 1), [0] * len(out_shapes), None


def _split_batch_all(attrs, in_shapes, out_shapes):
    """Every input and output is split along the batch (pooling and its gradients)."""
    return [0] * len(in_shapes), [0] * len(out_shapes), None


def _split_conv_bwd_data(attrs, in_shapes, out_shapes):
    return [0, None], [0], _rows_of_out_shape


def _split_conv_bwd_weight(attrs, in_shapes, out_shapes):
    return [0, 0], ["sum"], None          # the weight gradient sums over the batch


def _split_pool_bwd_max(attrs, in_shapes, out_shapes):
    return [0, 0], [0], _rows_of_data_shape


def _rows_of_data_shape(attrs, n):
    a = dict(attrs)
    a["data_shape"] = (n,) + tuple(attrs["data_shape"][1:])
    return a


def _rows_of_out_shape(attrs, n):
    a = dict(attrs)
    a["out_shape"] = (n,) + tuple(attrs["out_shape"][1:])
    return a


def _f32(v: float) -> float:
    """A float default as MXNet stores it (a C float printed as a double)."""
    return float(np.float32(v))


def _tshape(t):
    return "(" + ", ".join(map(str, t)) + ("," if len(t) == 1 else "") + ")"


def _fit(rc, shapes, i, want, why):
    """Unify input ``i``'s shape with ``want`` or raise a ShapeError naming both."""
    got = shapes[i]
    try:
        return unify_shapes(rc, [want, got])
    except ShapeError:
        name = rc.input_names()[i]
        raise rc.shape_error(f"{name} has shape ({shape_str(got)}); expected "
                             f"({shape_str(want)}) from {why}") from None


class _OpRC:
    """A rule context for rules evaluated from an op (decompositions, vjps, lowerings)."""

    def __init__(self, opname, attrs, name=None):
        self.opname = opname
        self.attrs = attrs
        self.name = name

    def _where(self):
        return f"{self.opname} '{self.name}'" if self.name else self.opname

    def attr_error(self, m):
        from ...base import AttrError
        return AttrError(f"{self._where()}: {m}")

    def shape_error(self, m):
        return ShapeError(f"{self._where()}: {m}")


def _keep_shape(shape, axes):
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _bshape(ndim, axis, c):
    """(1, .., c, .., 1): a per-channel vector shaped to broadcast along ``axis``."""
    return tuple(c if i == axis else 1 for i in range(ndim))


_LAYOUTS = (None, "NCW", "NCHW", "NCDHW")
_SPATIAL_LAYOUT = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


def _check_layout(rc, nd, accepted_extra=()):
    lay = rc.attrs.get("layout")
    if lay is None:
        return
    if lay not in _LAYOUTS:
        raise UnsupportedError(
            f"{rc.where}: layout={lay!r} is not supported by mxc yet; accepted: None, 'NCW', "
            "'NCHW', 'NCDHW' (transpose the data to channels-first)")
    if nd and lay != _SPATIAL_LAYOUT.get(nd):
        raise rc.attr_error(f"layout={lay!r} does not fit a {nd}-d kernel; expected "
                            f"{_SPATIAL_LAYOUT.get(nd)!r} or None")


def _check_tuple(rc, name, value, nd, low):
    if value and len(value) != nd:
        raise rc.attr_error(f"{name}={_tshape(value)} has {len(value)} entries; expected {nd} "
                            f"(one per kernel dimension, kernel={_tshape(rc.attrs['kernel'])})")
    for v in value:
        if v < low:
            raise rc.attr_error(f"{name}={_tshape(value)}: every entry must be >= {low}")


# =================================================================================================
# numpy references: windows, convolution and its adjoints, pooling
# =================================================================================================
def _win_slices(off, stride, dilate, out_sp):
    return tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                 for o, s, d, n in zip(off, stride, dilate, out_sp))


def np_conv(x, w, b, stride, pad, dilate, groups):
    """N-d grouped convolution, cross-correlation as MXNet/cuDNN compute it."""
    nd = x.ndim - 2
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    n, c = x.shape[:2]
    f = w.shape[0]
    k = w.shape[2:]
    out_sp = tuple((xp.shape[2 + i] - dilate[i] * (k[i] - 1) - 1) // stride[i] + 1
                   for i in range(nd))
    g = groups
    out = np.zeros((n, g, f // g) + out_sp, dtype=np.result_type(x, w))
    for off in np.ndindex(*k):
        win = xp[(slice(None), slice(None)) + _win_slices(off, stride, dilate, out_sp)]
        wv = w[(slice(None), slice(None)) + off].reshape(g, f // g, c // g)
        out += np.einsum("ngc...,gfc->ngf...", win.reshape((n, g, c // g) + out_sp), wv)
    out = out.reshape((n, f) + out_sp)
    if b is not None:
        out = out + b.reshape((1, f) + (1,) * nd)
    return out


def np_conv_data_grad(gy, w, in_sp, stride, pad, dilate, groups):
    """The adjoint of :func:`np_conv` in its data (a transposed convolution)."""
    nd = len(in_sp)
    n, f = gy.shape[:2]
    g = groups
    cg = w.shape[1]
    k = w.shape[2:]
    out_sp = gy.shape[2:]
    full = np.zeros((n, g, cg) + tuple(in_sp[i] + 2 * pad[i] for i in range(nd)),
                    dtype=np.result_type(gy, w))
    gg = gy.reshape((n, g, f // g) + tuple(out_sp))
    for off in np.ndindex(*k):
        wv = w[(slice(None), slice(None)) + off].reshape(g, f // g, cg)
        sl = (slice(None),) * 3 + _win_slices(off, stride, dilate, out_sp)
        full[sl] += np.einsum("ngf...,gfc->ngc...", gg, wv)
    crop = (slice(None),) * 3 + tuple(slice(pad[i], pad[i] + in_sp[i]) for i in range(nd))
    return full[crop].reshape((n, g * cg) + tuple(in_sp))


def np_conv_weight_grad(x, gy, k, stride, pad, dilate, groups):
    """The adjoint of :func:`np_conv` in its weight."""
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    n, c = x.shape[:2]
    f = gy.shape[1]
    g = groups
    out_sp = tuple(gy.shape[2:])
    gw = np.zeros((g, f // g, c // g) + tuple(k), dtype=np.result_type(x, gy))
    gg = gy.reshape((n, g, f // g) + out_sp)
    for off in np.ndindex(*k):
        win = xp[(slice(None), slice(None)) + _win_slices(off, stride, dilate, out_sp)]
        gw[(slice(None),) * 3 + off] = np.einsum("ngcs,ngfs->gfc",
                                                 win.reshape(n, g, c // g, -1),
                                                 gg.reshape(n, g, f // g, -1))
    return gw.reshape((f, c // g) + tuple(k))


# =================================================================================================
# Convolution
# =================================================================================================
def _conv_cfg(a):
    """(kernel, stride, dilate, pad) with MXNet's defaults filled in."""
    k = tuple(a["kernel"])
    nd = len(k)
    stride = tuple(a["stride"]) or (1,) * nd
    dilate = tuple(a["dilate"]) or (1,) * nd
    pad = tuple(a["pad"]) or (0,) * nd
    return k, stride, dilate, pad


_CONV_COMMON = (
    Attr("kernel", "shape", doc="Convolution kernel size: (w,), (h, w) or (d, h, w)"),
    Attr("stride", "shape", (), doc="Convolution stride: (w,), (h, w) or (d, h, w); default 1"),
    Attr("dilate", "shape", (), doc="Convolution dilate: (w,), (h, w) or (d, h, w); default 1"),
    Attr("pad", "shape", (), doc="Zero pad for convolution: (w,), (h, w) or (d, h, w); "
                                 "default 0"),
)
_CUDNN_LAYOUT = (
    Attr("cudnn_tune", "str", None, optional=True,
         choices=("fastest", "limited_workspace", "off"), doc="accepted and ignored"),
    Attr("cudnn_off", "bool", False, doc="accepted and ignored"),
    Attr("layout", "str", None, optional=True,
         choices=("NCDHW", "NCHW", "NCW", "NDHWC", "NHWC"),
         doc="NCW/NCHW/NCDHW only (channels-last layouts are not supported by mxc yet)"),
)


def _conv_validate_common(rc):
    a = rc.attrs
    k = a["kernel"]
    nd = len(k)
    if nd not in (1, 2, 3):
        raise rc.attr_error(f"kernel={_tshape(k)} has {nd} entries; expected 1, 2 or 3 "
                            "(1-D, 2-D or 3-D convolution)")
    _check_tuple(rc, "kernel", k, nd, 1)
    _check_tuple(rc, "stride", a["stride"], nd, 1)
    _check_tuple(rc, "dilate", a["dilate"], nd, 1)
    _check_tuple(rc, "pad", a["pad"], nd, 0)
    if a["num_filter"] < 1:
        raise rc.attr_error(f"num_filter={a['num_filter']}; expected num_filter >= 1")
    if a["num_group"] < 1:
        raise rc.attr_error(f"num_group={a['num_group']}; expected num_group >= 1")
    _check_layout(rc, nd)


def _conv_validate(rc):
    _conv_validate_common(rc)
    a = rc.attrs
    if a["num_filter"] % a["num_group"]:
        raise rc.attr_error(f"num_filter={a['num_filter']} is not divisible by "
                            f"num_group={a['num_group']}; expected a multiple of num_group")


def _conv_args(attrs):
    return ["data", "weight"] if attrs["no_bias"] else ["data", "weight", "bias"]


def _check_data_rank(rc, data, nd, what="convolution"):
    if len(data) != nd + 2:
        raise rc.shape_error(f"data has shape ({shape_str(data)}); a {nd}-D {what} "
                             f"(kernel={_tshape(rc.attrs['kernel'])}) expects a "
                             f"{nd + 2}-d input (batch, channel, {nd} spatial dims)")


def _conv_rule(rc, shapes):
    a = rc.attrs
    k, stride, dilate, pad = _conv_cfg(a)
    nd = len(k)
    data = shapes[0]
    n_out = 1
    if data is None:
        return list(shapes), [None] * n_out
    data = tuple(data)
    _check_data_rank(rc, data, nd)
    f, g = a["num_filter"], a["num_group"]
    c = data[1]
    if c is not None and c % g:
        raise rc.shape_error(f"data has {c} channels (shape ({shape_str(data)})), not divisible "
                             f"by num_group={g}")
    why = f"num_filter={f}, num_group={g}, kernel={_tshape(k)} and data ({shape_str(data)})"
    new = [data, _fit(rc, shapes, 1, (f, None if c is None else c // g) + k, why)]
    if not a["no_bias"]:
        new.append(_fit(rc, shapes, 2, (f,), f"num_filter={f}"))
    sp = []
    for i in range(nd):
        x = data[2 + i]
        if x is None:
            sp.append(None)
            continue
        dk = dilate[i] * (k[i] - 1) + 1
        if dk > x + 2 * pad[i]:
            raise rc.shape_error(f"data has shape ({shape_str(data)}): the dilated kernel "
                                 f"({dk}) exceeds spatial dimension {i} padded to "
                                 f"{x + 2 * pad[i]} (kernel={_tshape(k)}, pad={_tshape(pad)}, "
                                 f"dilate={_tshape(dilate)})")
        sp.append((x + 2 * pad[i] - dk) // stride[i] + 1)
    return new, [(data[0], f) + tuple(sp)]


def _conv_np(xs, a):
    _, stride, dilate, pad = _conv_cfg(a)
    b = None if a["no_bias"] else xs[2]
    return (np_conv(xs[0], xs[1], b, stride, pad, dilate, a["num_group"]),)


def _torch_conv_fn(nd, kind):
    import torch.nn.functional as F
    import torch.nn.grad as G
    return {("fwd", 1): F.conv1d, ("fwd", 2): F.conv2d, ("fwd", 3): F.conv3d,
            ("tr", 1): F.conv_transpose1d, ("tr", 2): F.conv_transpose2d,
            ("tr", 3): F.conv_transpose3d,
            ("dx", 1): G.conv1d_input, ("dx", 2): G.conv2d_input, ("dx", 3): G.conv3d_input,
            ("dw", 1): G.conv1d_weight, ("dw", 2): G.conv2d_weight,
            ("dw", 3): G.conv3d_weight}[(kind, nd)]


def _conv_extern(attrs, ins, outs):
    k, stride, dilate, pad = _conv_cfg(attrs)
    b = None if attrs["no_bias"] else ins[2]
    fn = _torch_conv_fn(len(k), "fwd")
    outs[0].copy_(fn(ins[0], ins[1], b, stride, pad, dilate, attrs["num_group"]))


def _sum_except(b, v, axis):
    """Sum ``v`` over every axis but ``axis`` (a per-channel reduction), shape (C,)."""
    axes = tuple(i for i in range(len(v.shape)) if i != axis)
    return b.sum(v, axis=axes) if axes else v


def _conv_vjp(b, op, g):
    a = op.attrs
    x, w = op.inputs[0], op.inputs[1]
    _, stride, dilate, pad = _conv_cfg(a)
    common = {"stride": stride, "dilate": dilate, "pad": pad, "num_group": a["num_group"]}
    gx = b.op("_conv_backward_data", [g, w], dict(common, out_shape=tuple(x.shape)))
    gw = b.op("_conv_backward_weight", [x, g], dict(common, out_shape=tuple(w.shape)))
    if a["no_bias"]:
        return gx, gw
    return gx, gw, _sum_except(b, g, 1)


register_op(OpDef(
    name="Convolution",
    attrs=_CONV_COMMON + (
        Attr("num_filter", "int", doc="Convolution filter(channel) number"),
        Attr("num_group", "int", 1, doc="Number of group partitions."),
        Attr("workspace", "int", 1024, doc="accepted and ignored"),
        Attr("no_bias", "bool", False, doc="Whether to disable bias parameter."),
    ) + _CUDNN_LAYOUT,
    arguments=_conv_args, infer_shape=_conv_rule, interp=_conv_np, vjp=_conv_vjp,
    lower=Extern(_conv_extern, "convolution", split=_split_batch_first),
    validate=_conv_validate,
    doc="1-D/2-D/3-D grouped, strided, padded, dilated convolution (NCW/NCHW/NCDHW); "
        "weight (num_filter, C/num_group, *kernel).",
))


# --- convolution adjoints (backward ops) ------------------------------------------------------
_CONV_BWD_ATTRS = (
    Attr("stride", "shape"), Attr("dilate", "shape"), Attr("pad", "shape"),
    Attr("num_group", "int", 1), Attr("out_shape", "shape", doc="shape of the result"),
)


def _out_shape_rule(rc, shapes):
    return list(shapes), [tuple(rc.attrs["out_shape"])]


def _conv_bwd_data_np(xs, a):
    gy, w = xs
    in_sp = tuple(a["out_shape"][2:])
    return (np_conv_data_grad(gy, w, in_sp, a["stride"], a["pad"], a["dilate"],
                              a["num_group"]),)


def _conv_bwd_data_extern(attrs, ins, outs):
    gy, w = ins
    fn = _torch_conv_fn(len(attrs["stride"]), "dx")
    outs[0].copy_(fn(tuple(attrs["out_shape"]), w, gy, attrs["stride"], attrs["pad"],
                     attrs["dilate"], attrs["num_group"]))


def _conv_bwd_weight_np(xs, a):
    x, gy = xs
    k = tuple(a["out_shape"][2:])
    return (np_conv_weight_grad(x, gy, k, a["stride"], a["pad"], a["dilate"],
                                a["num_group"]),)


def _conv_bwd_weight_extern(attrs, ins, outs):
    x, gy = ins
    fn = _torch_conv_fn(len(attrs["stride"]), "dw")
    outs[0].copy_(fn(x, tuple(attrs["out_shape"]), gy, attrs["stride"], attrs["pad"],
                     attrs["dilate"], attrs["num_group"]))


register_op(OpDef(
    name="_conv_backward_data", attrs=_CONV_BWD_ATTRS, arguments=("grad", "weight"),
    infer_shape=_out_shape_rule, interp=_conv_bwd_data_np, differentiable=False,
    lower=Extern(_conv_bwd_data_extern, "convolution_backward_data",
                 split=_split_conv_bwd_data),
    doc="Gradient of a convolution in its data (a transposed convolution); second-order "
        "gradients are not supported.",
))
register_op(OpDef(
    name="_conv_backward_weight", attrs=_CONV_BWD_ATTRS, arguments=("data", "grad"),
    infer_shape=_out_shape_rule, interp=_conv_bwd_weight_np, differentiable=False,
    lower=Extern(_conv_bwd_weight_extern, "convolution_backward_weight",
                 split=_split_conv_bwd_weight),
    doc="Gradient of a convolution in its weight; second-order gradients are not supported.",
))


# =================================================================================================
# Deconvolution
# =================================================================================================
def _deconv_pad_adj(a, in_sp):
    """MXNet's DeconvolutionParam::InferPad: (pad, adj), computed from target_shape if set."""
    k, stride, dilate, pad = _conv_cfg(a)
    nd = len(k)
    adj = tuple(a["adj"]) or (0,) * nd
    ts = tuple(a["target_shape"])
    if ts and any(t != 0 for t in ts):
        p_out, a_out = [], []
        for i in range(nd):
            x = in_sp[i]
            if x is None:
                p_out.append(pad[i])
                a_out.append(adj[i])
                continue
            total = stride[i] * (x - 1) + dilate[i] * (k[i] - 1) + 1 - ts[i]
            a_out.append(total % 2)
            p_out.append((total + 1) // 2)
        return tuple(p_out), tuple(a_out), True
    return pad, adj, False


def _deconv_validate(rc):
    _conv_validate_common(rc)
    a = rc.attrs
    nd = len(a["kernel"])
    _check_tuple(rc, "adj", a["adj"], nd, 0)
    ts = a["target_shape"]
    if ts and len(ts) != nd:
        raise rc.attr_error(f"target_shape={_tshape(ts)} has {len(ts)} entries; expected {nd}")
    if a["num_filter"] % a["num_group"]:
        raise rc.attr_error(f"num_filter={a['num_filter']} is not divisible by "
                            f"num_group={a['num_group']}; expected a multiple of num_group")


def _deconv_rule(rc, shapes):
    a = rc.attrs
    k, stride, dilate, _ = _conv_cfg(a)
    nd = len(k)
    data = shapes[0]
    if data is None:
        return list(shapes), [None]
    data = tuple(data)
    _check_data_rank(rc, data, nd, "deconvolution")
    f, g = a["num_filter"], a["num_group"]
    c = data[1]
    if c is not None and c % g:
        raise rc.shape_error(f"data has {c} channels (shape ({shape_str(data)})), not divisible "
                             f"by num_group={g}")
    why = f"num_filter={f}, num_group={g}, kernel={_tshape(k)} and data ({shape_str(data)})"
    new = [data, _fit(rc, shapes, 1, (c, f // g) + k, why)]
    if not a["no_bias"]:
        new.append(_fit(rc, shapes, 2, (f,), f"num_filter={f}"))
    pad, adj, from_target = _deconv_pad_adj(a, data[2:])
    sp = []
    for i in range(nd):
        x = data[2 + i]
        if adj[i] >= stride[i]:
            what = (f"target_shape={_tshape(a['target_shape'])} needs adj={adj[i]}"
                    if from_target else f"adj={_tshape(a['adj'])}")
            raise rc.shape_error(f"{what} in dimension {i}; expected adj < stride "
                                 f"(stride={_tshape(stride)})")
        if x is None:
            sp.append(None)
            continue
        o = stride[i] * (x - 1) + dilate[i] * (k[i] - 1) + 1 - 2 * pad[i] + adj[i]
        if o < 1 or pad[i] < 0:
            raise rc.shape_error(f"data has shape ({shape_str(data)}): output dimension {i} "
                                 f"would be {o}; check pad/target_shape")
        sp.append(o)
    return new, [(data[0], f) + tuple(sp)]


def _deconv_np(xs, a):
    x, w = xs[0], xs[1]
    k, stride, dilate, _ = _conv_cfg(a)
    pad, adj, _ = _deconv_pad_adj(a, x.shape[2:])
    out_sp = tuple(stride[i] * (x.shape[2 + i] - 1) + dilate[i] * (k[i] - 1) + 1 - 2 * pad[i]
                   + adj[i] for i in range(len(k)))
    y = np_conv_data_grad(x, w, out_sp, stride, pad, dilate, a["num_group"])
    if not a["no_bias"]:
        y = y + xs[2].reshape((1, -1) + (1,) * len(k))
    return (y,)


def _deconv_extern(attrs, ins, outs):
    x, w = ins[0], ins[1]
    k, stride, dilate, _ = _conv_cfg(attrs)
    pad, adj, _ = _deconv_pad_adj(attrs, tuple(x.shape[2:]))
    b = None if attrs["no_bias"] else ins[2]
    fn = _torch_conv_fn(len(k), "tr")
    outs[0].copy_(fn(x, w, b, stride, pad, adj, attrs["num_group"], dilate))


def _deconv_vjp(b, op, g):
    """The data gradient of a transposed convolution is the convolution of the head gradient
    with the same weight; the weight gradient is the convolution weight-gradient with the roles
    of data and output swapped; the bias gradient a per-channel sum."""
    a = op.attrs
    x, w = op.inputs[0], op.inputs[1]
    k, stride, dilate, _ = _conv_cfg(a)
    pad, _, _ = _deconv_pad_adj(a, x.shape[2:])
    gx = b.op("Convolution", [g, w], {"kernel": k, "stride": stride, "dilate": dilate,
                                      "pad": pad, "num_filter": x.shape[1],
                                      "num_group": a["num_group"], "no_bias": True})
    gw = b.op("_conv_backward_weight", [g, x],
              {"stride": stride, "dilate": dilate, "pad": pad, "num_group": a["num_group"],
               "out_shape": tuple(w.shape)})
    if a["no_bias"]:
        return gx, gw
    return gx, gw, _sum_except(b, g, 1)


register_op(OpDef(
    name="Deconvolution",
    attrs=_CONV_COMMON + (
        Attr("adj", "shape", (), doc="Adjustment for output shape: (w,), (h, w) or (d, h, w)"),
        Attr("target_shape", "shape", (), doc="Shape of the output tensor: (w,), (h, w) or "
                                              "(d, h, w); sets pad and adj"),
        Attr("num_filter", "int", doc="Number of output filters."),
        Attr("num_group", "int", 1, doc="Number of groups partition."),
        Attr("workspace", "int", 512, doc="accepted and ignored"),
        Attr("no_bias", "bool", True, doc="Whether to disable bias parameter."),
    ) + _CUDNN_LAYOUT,
    arguments=_conv_args, infer_shape=_deconv_rule, interp=_deconv_np, vjp=_deconv_vjp,
    lower=Extern(_deconv_extern, "conv_transpose"), validate=_deconv_validate,
    doc="Transposed convolution; weight (C, num_filter/num_group, *kernel); output "
        "stride*(x-1) + dilate*(kernel-1) + 1 - 2*pad + adj (or target_shape).",
))


# =================================================================================================
# Pooling
# =================================================================================================
_POOL_ATTRS = (
    Attr("kernel", "shape", (), doc="Pooling kernel size: (y, x) or (d, y, x)"),
    Attr("pool_type", "str", "max", choices=("avg", "lp", "max", "sum"),
         doc="Pooling type to be applied."),
    Attr("global_pool", "bool", False, doc="Ignore kernel size, do global pooling based on "
                                           "current input feature map."),
    Attr("cudnn_off", "bool", False, doc="accepted and ignored"),
    Attr("pooling_convention", "str", "valid", choices=("full", "same", "valid"),
         doc="valid: floor((x + 2p - k) / s) + 1; full: ceil(...) + 1"),
    Attr("stride", "shape", (), doc="Stride: for pooling (y, x) or (d, y, x). Defaults to 1 "
                                    "for each dimension."),
    Attr("pad", "shape", (), doc="Pad for pooling: (y, x) or (d, y, x). Defaults to no "
                                 "padding."),
    Attr("p_value", "int", None, optional=True, doc="Value of p for Lp pooling (1, 2 or 3)"),
    Attr("count_include_pad", "bool", None, optional=True,
         doc="avg pooling: count the padded elements (default True)"),
    Attr("layout", "str", None, optional=True,
         choices=("NCDHW", "NCHW", "NCW", "NDHWC", "NHWC", "NWC"),
         doc="NCW/NCHW/NCDHW only (channels-last layouts are not supported by mxc yet)"),
)


def _pool_has_workspace(attrs) -> bool:
    # MXNet 1.9.1 (oneDNN build): max pooling with a kernel has a hidden workspace output
    return attrs["pool_type"] == "max" and len(attrs["kernel"]) > 0


def _pool_outputs(attrs):
    return ["output", "workspace"] if _pool_has_workspace(attrs) else ["output"]


def _pool_validate(rc):
    a = rc.attrs
    k = a["kernel"]
    if a["pooling_convention"] == "same":
        raise UnsupportedError(
            f"{rc.where}: pooling_convention='same' is not supported by mxc yet (MXNet 1.9.1 "
            "only half-supports it, for 1-D max pooling); accepted: 'valid', 'full'")
    if len(k) > 3 or (len(k) == 0 and not a["global_pool"]):
        raise rc.attr_error(f"kernel={_tshape(k)} has {len(k)} entries; expected 1, 2 or 3 "
                            "(or global_pool=True)")
    nd = len(k)
    if nd:
        _check_tuple(rc, "kernel", k, nd, 1)
        _check_tuple(rc, "stride", a["stride"], nd, 1)
        _check_tuple(rc, "pad", a["pad"], nd, 0)
    _check_layout(rc, 0)
    if a["pool_type"] == "lp" and a["p_value"] not in (1, 2, 3):
        raise rc.attr_error(f"p_value={a['p_value']} with pool_type='lp'; expected 1, 2 or 3")


def pool_geometry(a, shape):
    """(kernel, stride, pad, out spatial) of a pooling on data ``shape`` (complete spatial)."""
    sp = tuple(shape[2:])
    nd = len(sp)
    if a["global_pool"]:
        return sp, (1,) * nd, (0,) * nd, (1,) * nd
    k = tuple(a["kernel"])
    stride = tuple(a["stride"]) or (1,) * nd
    pad = tuple(a["pad"]) or (0,) * nd
    out = []
    for x, kk, s, p in zip(sp, k, stride, pad):
        if a["pooling_convention"] == "full":
            out.append(1 - (-(x + 2 * p - kk) // s))          # 1 + ceil((x+2p-k)/s)
        else:
            out.append(1 + (x + 2 * p - kk) // s)
    return k, stride, pad, tuple(out)


def _pool_rule(rc, shapes):
    a = rc.attrs
    data = shapes[0]
    n_out = len(_pool_outputs(a))
    if data is None:
        return list(shapes), [None] * n_out
    data = tuple(data)
    if not 3 <= len(data) <= 5:
        raise rc.shape_error(f"data has shape ({shape_str(data)}); expected a 3-d, 4-d or 5-d "
                             "input (batch, channel, 1 to 3 spatial dims)")
    nd = len(data) - 2
    if a["global_pool"]:
        out = data[:2] + (1,) * nd
        return [data], [out] * n_out
    k = tuple(a["kernel"])
    if len(k) != nd:
        raise rc.shape_error(f"data has shape ({shape_str(data)}); a {len(k)}-D pooling "
                             f"(kernel={_tshape(k)}) expects a {len(k) + 2}-d input")
    pad = tuple(a["pad"]) or (0,) * nd
    for i in range(nd):
        x = data[2 + i]
        if x is None:
            raise rc.shape_error(f"data has shape ({shape_str(data)}): spatial dimension {i} "
                                 f"must be known to check kernel={_tshape(k)}")
        if k[i] > x + 2 * pad[i]:
            raise rc.shape_error(f"data has shape ({shape_str(data)}): kernel size ({k[i]}) "
                                 f"exceeds spatial dimension {i} padded to {x + 2 * pad[i]} "
                                 f"(kernel={_tshape(k)}, pad={_tshape(pad)})")
    _, _, _, out_sp = pool_geometry(a, (0, 0) + data[2:])
    out = data[:2] + out_sp
    return [data], [out] * n_out


def _pool_dtype(rc, dts):
    d = dts[0]
    outs = [d, DType.i32] if _pool_has_workspace(rc.attrs) else [d]
    return [d], outs


def _lowest(dtype):
    return np.finfo(dtype).min


def _np_pool_windows(x, a):
    """The pooling windows of ``x`` as an array (N, C, K, *out) plus the geometry."""
    k, stride, pad, out_sp = pool_geometry(a, x.shape)
    nd = len(k)
    fill = _lowest(x.dtype) if a["pool_type"] == "max" else 0
    extra = [max(0, (o - 1) * s + kk - (xx + 2 * p))
             for o, s, kk, xx, p in zip(out_sp, stride, k, x.shape[2:], pad)]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p + e) for p, e in zip(pad, extra)],
                constant_values=fill)
    wins = [xp[(slice(None), slice(None)) + _win_slices(off, stride, (1,) * nd, out_sp)]
            for off in np.ndindex(*k)]
    return np.stack(wins, axis=2), (k, stride, pad, out_sp, xp.shape)


def _pool_counts(a, in_sp, k, stride, pad, out_sp, dtype):
    """avg pooling's divisor per output position (MXNet's pool_size formula)."""
    cip = a["count_include_pad"] is not False
    cnt = np.ones((), dtype=np.float64)
    for x, kk, s, p, o in zip(in_sp, k, stride, pad, out_sp):
        start = np.arange(o) * s - p
        if cip:
            c = np.minimum(start + kk, x + p) - start
        else:
            c = np.minimum(start + kk, x) - np.maximum(start, 0)
        cnt = np.multiply.outer(cnt, c.astype(np.float64))
    return cnt.astype(dtype)


def _lp_root(v, p):
    if p == 1:
        return v
    if p == 2:
        return np.sqrt(v)
    return np.cbrt(v)


def _pool_np(xs, a):
    x = xs[0]
    w, (k, stride, pad, out_sp, _) = _np_pool_windows(x, a)
    t = a["pool_type"]
    if t == "max":
        y = w.max(axis=2)
    elif t == "sum":
        y = w.sum(axis=2)
    elif t == "avg":
        y = w.sum(axis=2) / _pool_counts(a, x.shape[2:], k, stride, pad, out_sp, x.dtype)
    else:
        y = _lp_root((w ** a["p_value"]).sum(axis=2), a["p_value"])
    if not _pool_has_workspace(a):
        return (y.astype(x.dtype),)
    am = w.argmax(axis=2)
    offs = np.array(list(np.ndindex(*k))).reshape((len(list(np.ndindex(*k))), len(k)))
    o_grid = np.indices(out_sp)
    valid = np.ones(am.shape, dtype=bool)
    flat = np.zeros(am.shape, dtype=np.int64)
    for i in range(len(k)):
        pos = o_grid[i] * stride[i] - pad[i] + offs[am, i]
        valid &= (pos >= 0) & (pos < x.shape[2 + i])
        flat = flat * x.shape[2 + i] + pos
    ws = np.where(valid, flat, -1).astype(np.int32)
    return y.astype(x.dtype), ws


def _torch_pool(x, a, want_index):
    """Pooling with MXNet's semantics on a torch tensor: (output, argmax flat index or None)."""
    import torch
    import torch.nn.functional as F
    k, stride, pad, out_sp = pool_geometry(a, tuple(x.shape))
    in_sp = tuple(x.shape[2:])
    squeeze = len(k) == 1
    if squeeze:                                      # 1-D as 2-D with a unit height
        x = x.unsqueeze(2)
        k, stride, pad, out_sp, in_sp = ((1,) + k, (1,) + stride, (0,) + pad, (1,) + out_sp,
                                         (1,) + in_sp)
    nd = len(k)
    maxp = F.max_pool2d if nd == 2 else F.max_pool3d
    avgp = F.avg_pool2d if nd == 2 else F.avg_pool3d
    t = a["pool_type"]
    extra = [max(0, (o - 1) * s + kk - (xx + 2 * p))
             for o, s, kk, xx, p in zip(out_sp, stride, k, in_sp, pad)]
    fast = not any(extra) and all(2 * p <= kk for p, kk in zip(pad, k))
    idx = None
    if fast:
        if t == "max":
            if want_index:
                y, idx = maxp(x, k, stride, pad, return_indices=True)
            else:
                y = maxp(x, k, stride, pad)
        elif t == "avg":
            y = avgp(x, k, stride, pad, count_include_pad=a["count_include_pad"] is not False)
        elif t == "sum":
            y = avgp(x, k, stride, pad, divisor_override=1)
        else:
            y = avgp(x ** a["p_value"], k, stride, pad, divisor_override=1)
    else:
        pads = []
        for p, e in zip(reversed(pad), reversed(extra)):
            pads += [p, p + e]
        fill = torch.finfo(x.dtype).min if t == "max" else 0.0
        xp = F.pad(x, pads, value=fill)
        if t == "max":
            if want_index:
                y, idx = maxp(xp, k, stride, 0, return_indices=True)
                idx = _unpad_index(idx, tuple(xp.shape[2:]), in_sp, pad)
            else:
                y = maxp(xp, k, stride, 0)
        elif t == "lp":
            y = avgp(xp ** a["p_value"], k, stride, 0, divisor_override=1)
        else:
            y = avgp(xp, k, stride, 0, divisor_override=1)
            if t == "avg":
                cnt = _pool_counts(a, in_sp, k, stride, pad, out_sp, np.float64)
                y = y / torch.as_tensor(cnt, dtype=y.dtype, device=y.device)
    if t == "lp":
        p = a["p_value"]
        y = y if p == 1 else (torch.sqrt(y) if p == 2 else torch.sign(y) * y.abs() ** (1 / 3))
    if squeeze:
        y = y.squeeze(2)
        idx = None if idx is None else idx.squeeze(2)
    return y, idx


def _unpad_index(idx, padded_sp, in_sp, pad):
    """Flat indices into the padded spatial dims -> into the input's, -1 outside it."""
    import torch
    rem = idx
    coords = []
    for d in reversed(padded_sp):
        coords.append(rem % d)
        rem = rem // d
    coords.reverse()
    valid = torch.ones_like(idx, dtype=torch.bool)
    flat = torch.zeros_like(idx)
    for c, p, x in zip(coords, pad, in_sp):
        c = c - p
        valid &= (c >= 0) & (c < x)
        flat = flat * x + c
    return torch.where(valid, flat, torch.full_like(flat, -1))


def _pool_extern(attrs, ins, outs):
    ws = len(outs) > 1
    y, idx = _torch_pool(ins[0], attrs, ws)
    outs[0].copy_(y)
    if ws:
        outs[1].copy_(idx)


def _pool_vjp(b, op, g):
    """Max pooling: the head gradient goes to each window's argmax (first maximum in scan
    order), recorded in the workspace output. sum / lp: the derivative. avg: MXNet 1.9.1
    (oneDNN) divides the head gradient by the full kernel size when count_include_pad, also
    for the windows of pooling_convention='full' that overhang the padded input, whose forward
    divisor is smaller (1 + ceil((x + 2p - k)/s) windows, the last one clipped at x + p):
    there mxc reproduces MXNet's gradient rather than the derivative (tests/test_nn_layers.py
    holds MXNet's numbers). With count_include_pad=False it is the derivative."""
    a = op.attrs
    x = op.inputs[0]
    gy = g[0] if isinstance(g, list) else g
    if _pool_has_workspace(a):
        k, stride, _, _ = pool_geometry(a, tuple(x.shape))
        return (b.op("_pooling_backward_max", [gy, op.outputs[1]],
                     {"data_shape": tuple(x.shape), "kernel": tuple(k),
                      "stride": tuple(stride)}),)
    attrs = {k: v for k, v in a.items()}
    return (b.op("_pooling_backward", [gy, x], attrs),)


# --- pooling as generated kernels ----------------------------------------------------------------
# Without padding or an overhanging last window, a pooling is a reduction over a window view
# (out index (n, c, oh, ow, kh, kw) reads x[n, c, oh*sh + kh, ow*sw + kw]: affine), so it
# fuses with its neighbours; max pooling's workspace (the first argmax of each window, as a
# flat index into the input plane, MXNet's and torch's convention) comes from the same kernel.
# Otherwise the pooling is a library call (_pooling_lib).
def _pool_kernel_geometry(a, shape):
    """(kernel, stride, out) when the pooling can be generated code, else None."""
    if len(shape) != 4 or a["pool_type"] not in ("max", "avg", "sum"):
        return None
    k, stride, pad, out = pool_geometry(a, tuple(shape))
    if any(pad):
        return None
    if any((o - 1) * st + kk > x for o, st, kk, x in zip(out, stride, k, shape[2:])):
        return None                         # 'full' convention with an overhanging window
    return k, stride, out


def _window_index(attrs, in_shape, out_shape, idx):
    (sh, sw) = attrs["stride"]
    n, c, oh, ow, kh, kw = idx
    return [n, c, oh * sh + kh, ow * sw + kw]


def _window_rule(rc, shapes):
    n, c, h, w = shapes[0]
    (kh, kw), (sh, sw) = rc.attrs["kernel"], rc.attrs["stride"]
    return (n, c, (h - kh) // sh + 1, (w - kw) // sw + 1, kh, kw)


def _window_np(xs, a):
    x = xs[0]
    (kh, kw), (sh, sw) = a["kernel"], a["stride"]
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((n, c, oh, ow, kh, kw), x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, :, :, i, j] = x[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    return (out,)


register_op(OpDef(
    name="_pool_window", attrs=(Attr("kernel", "shape"), Attr("stride", "shape")),
    arguments=("data",), infer_shape=forward_shape(_window_rule), interp=_window_np,
    differentiable=False, lower=View("custom", _window_index), traits={VIEW},
    doc="The pooling windows of (N, C, H, W) data as (N, C, OH, OW, KH, KW) (a view).",
))


def _spread_index(attrs, in_shape, out_shape, idx):
    (sh, sw) = attrs["stride"]
    n, c, h, w = idx
    return [n, c, h // sh, w // sw]


register_op(OpDef(
    name="_pool_spread", attrs=(Attr("stride", "shape"), Attr("out_hw", "shape")),
    arguments=("data",),
    infer_shape=forward_shape(lambda rc, s: tuple(s[0][:2]) + tuple(rc.attrs["out_hw"])),
    interp=lambda xs, a: (np.repeat(np.repeat(xs[0], a["stride"][0], 2), a["stride"][1], 3),),
    differentiable=False, lower=View("custom", _spread_index), traits={VIEW},
    doc="Each window's value spread over the window's input positions (non-overlapping "
        "windows that tile the input exactly; a view).",
))


def _pool_decompose(b, op):
    a = op.attrs
    x = op.inputs[0]
    geo = _pool_kernel_geometry(a, x.shape)
    if geo is None:
        outs = b.op("_pooling_lib", [x], a, parsed=True)
        return list(outs) if isinstance(outs, tuple) else [outs]
    (kh, kw), (sh, sw), (oh, ow) = geo
    n, c, h, w = x.shape
    win = b.op("_pool_window", [x], {"kernel": (kh, kw), "stride": (sh, sw)})
    t = a["pool_type"]
    if t != "max":
        y = b.op("sum", [win], {"axis": (4, 5)})
        return [b.mul(y, 1.0 / (kh * kw)) if t == "avg" else y]
    y = b.op("max", [win], {"axis": (4, 5)})
    # the first position (in scan order) holding the window's maximum
    hit = b.op("broadcast_equal", [win, b.reshape(y, (n, c, oh, ow, 1, 1))])
    pos = b.reshape(b.op("_arange", [], {"start": 0.0, "stop": float(kh * kw),
                                         "dtype": x.dtype.np_name}), (1, 1, 1, 1, kh, kw))
    cand = b.op("where", [hit, b.op("broadcast_add", [b.mul(hit, 0.0), pos]),
                          b.add(b.mul(hit, 0.0), float(kh * kw))])
    first = b.op("min", [cand], {"axis": (4, 5)})
    row = b.op("floor", [b.mul(first, 1.0 / kw)])
    col = b.sub(first, b.mul(row, float(kw)))
    oh_i = b.reshape(b.op("_arange", [], {"start": 0.0, "stop": float(oh), "step": 1.0,
                                          "dtype": x.dtype.np_name}), (1, 1, oh, 1))
    ow_i = b.reshape(b.op("_arange", [], {"start": 0.0, "stop": float(ow),
                                          "dtype": x.dtype.np_name}), (1, 1, 1, ow))
    hh = b.op("broadcast_add", [row, b.mul(oh_i, float(sh))])
    ww = b.op("broadcast_add", [col, b.mul(ow_i, float(sw))])
    flat = b.add(b.mul(hh, float(w)), ww)
    return [y, b.cast(flat, op.outputs[1].dtype)]


_POOL_DOC = ("max/avg/sum/lp pooling over 1-3 spatial dims; pooling_convention 'valid' or "
             "'full' (ceil); global_pool pools the whole feature map.")

register_op(OpDef(
    name="Pooling", attrs=_POOL_ATTRS, arguments=("data",), outputs=_pool_outputs,
    num_visible_outputs=1, infer_shape=_pool_rule, infer_dtype=_pool_dtype, interp=_pool_np,
    vjp=_pool_vjp, decompose=_pool_decompose, validate=_pool_validate, doc=_POOL_DOC,
))
register_op(OpDef(
    name="_pooling_lib", attrs=_POOL_ATTRS, arguments=("data",), outputs=_pool_outputs,
    num_visible_outputs=1, infer_shape=_pool_rule, infer_dtype=_pool_dtype, interp=_pool_np,
    differentiable=False, lower=Extern(_pool_extern, "pooling", split=_split_batch_all),
    validate=_pool_validate, doc="Pooling as a library call (padding, overhang, lp, 1-D/3-D).",
))


# --- pooling backward ------------------------------------------------------------------------
def _pool_bwd_max_np(xs, a):
    gy, ws = xs
    shp = tuple(a["data_shape"])
    n, c = shp[:2]
    m = numel(shp[2:])
    gx = np.zeros((n, c, m + 1), dtype=gy.dtype)
    idx = ws.reshape(n, c, -1).astype(np.int64)
    idx = np.where(idx < 0, m, idx)
    nn_, cc = np.indices(idx.shape[:2])
    for j in range(idx.shape[2]):
        np.add.at(gx, (nn_, cc, idx[:, :, j]), gy.reshape(n, c, -1)[:, :, j])
    return (gx[:, :, :m].reshape(shp),)


def _pool_bwd_max_extern(attrs, ins, outs):
    import torch
    gy, ws = ins
    shp = tuple(attrs["data_shape"])
    n, c = shp[:2]
    m = numel(shp[2:])
    gx = torch.zeros((n, c, m + 1), dtype=gy.dtype, device=gy.device)
    idx = ws.reshape(n, c, -1).to(torch.int64)
    idx = torch.where(idx < 0, torch.full_like(idx, m), idx)
    gx.scatter_add_(2, idx, gy.reshape(n, c, -1))
    outs[0].copy_(gx[:, :, :m].reshape(shp))


def _pool_bwd_max_decompose(b, op):
    """Non-overlapping windows that tile the input: each input position takes its window's
    gradient where it is the recorded argmax (a pointwise kernel); else the library
    scatter-add."""
    g, ws = op.inputs
    shp = tuple(op.attrs["data_shape"])
    k, st = tuple(op.attrs["kernel"]), tuple(op.attrs["stride"])
    if len(shp) == 4 and len(g.shape) == 4 and len(k) == 2 and k == st:
        n, c, h, w = shp
        oh, ow = g.shape[2:]
        if (h, w) == (oh * k[0], ow * k[1]):
            sh, sw = k
            attrs = {"stride": (sh, sw), "out_hw": (h, w)}
            gb = b.op("_pool_spread", [g], attrs)
            wb = b.op("_pool_spread", [ws], attrs)
            here = b.reshape(b.op("_arange", [], {"start": 0.0, "stop": float(h * w),
                                                  "dtype": ws.dtype.np_name}), (1, 1, h, w))
            mine = b.op("broadcast_equal", [wb, here])
            return [b.op("where", [mine, gb, b.zeros_like(gb)])]
    return [b.op("_pooling_backward_max_lib", op.inputs, op.attrs, parsed=True)]


_POOL_BWD_MAX_ATTRS = (Attr("data_shape", "shape"),
                       Attr("kernel", "shape", (), doc="the forward's kernel (2-D: both)"),
                       Attr("stride", "shape", (), doc="the forward's stride"))

_POOL_BWD_MAX_DOC = ("Max pooling's gradient: the head gradient to the argmax positions "
                     "recorded in the forward's workspace.")

register_op(OpDef(
    name="_pooling_backward_max", attrs=_POOL_BWD_MAX_ATTRS,
    arguments=("grad", "workspace"),
    infer_shape=lambda rc, s: (list(s), [tuple(rc.attrs["data_shape"])]),
    infer_dtype=lambda rc, d: (list(d), [d[0]]),
    interp=_pool_bwd_max_np, differentiable=False, decompose=_pool_bwd_max_decompose,
    doc=_POOL_BWD_MAX_DOC,
))

register_op(OpDef(
    name="_pooling_backward_max_lib", attrs=_POOL_BWD_MAX_ATTRS,
    arguments=("grad", "workspace"),
    infer_shape=lambda rc, s: (list(s), [tuple(rc.attrs["data_shape"])]),
    infer_dtype=lambda rc, d: (list(d), [d[0]]),
    interp=_pool_bwd_max_np, differentiable=False,
    lower=Extern(_pool_bwd_max_extern, "max_pooling_backward",
                 split=_split_pool_bwd_max),
    doc="Max pooling's gradient: scatter-add of the head gradient to the argmax positions "
        "recorded in the forward's workspace.",
))


def _pool_bwd_np(xs, a):
    gy, x = xs
    w, (k, stride, pad, out_sp, pshape) = _np_pool_windows(x, a)
    t = a["pool_type"]
    gxp = np.zeros(pshape, dtype=gy.dtype)
    nd = len(k)
    if t == "avg":
        if a["count_include_pad"] is not False:      # MXNet's backward divisor (see vjp)
            gy = gy / gy.dtype.type(numel(k))
        else:
            gy = gy / _pool_counts(a, x.shape[2:], k, stride, pad, out_sp, gy.dtype)
    if t == "max":
        am = w.argmax(axis=2)
    if t == "lp":
        p = a["p_value"]
        y = _lp_root((w ** p).sum(axis=2), p)
    for j, off in enumerate(np.ndindex(*k)):
        sl = (slice(None), slice(None)) + _win_slices(off, stride, (1,) * nd, out_sp)
        if t == "max":
            gxp[sl] += gy * (am == j)
        elif t == "lp" and p > 1:
            gxp[sl] += gy * w[:, :, j] ** (p - 1) / y ** (p - 1)
        else:
            gxp[sl] += gy
    crop = (slice(None), slice(None)) + tuple(slice(p_, p_ + xx)
                                              for p_, xx in zip(pad, x.shape[2:]))
    return (gxp[crop],)


def _pool_bwd_extern(attrs, ins, outs):
    import torch
    gy, x = ins
    if attrs["pool_type"] == "avg" and attrs["count_include_pad"] is not False:
        # MXNet's backward divides by the full kernel size (see _pool_vjp)
        k, _, _, _ = pool_geometry(attrs, tuple(x.shape))
        attrs = dict(attrs, pool_type="sum")
        gy = gy / numel(k)
    with torch.enable_grad():
        xr = x.detach().requires_grad_(True)
        y, _ = _torch_pool(xr, attrs, False)
        (gx,) = torch.autograd.grad(y, xr, gy)
    outs[0].copy_(gx)


register_op(OpDef(
    name="_pooling_backward", attrs=_POOL_ATTRS, arguments=("grad", "data"),
    outputs=("output",),
    infer_shape=lambda rc, s: (list(s), [s[1]]), interp=_pool_bwd_np, differentiable=False,
    lower=Extern(_pool_bwd_extern, "pooling_backward", split=_split_batch_all),
    doc="avg/sum/lp (and workspace-less max) pooling's gradient, by differentiating the "
        "library pooling.",
))


# =================================================================================================
# BatchNorm
# =================================================================================================
def _param_dtype(d):
    """MXNet keeps BatchNorm's parameters and statistics in float32 for half-precision data."""
    if d is None:
        return None
    return DType.f32 if d in (DType.f16, DType.bf16) else d


def _bn_rule(rc, shapes):
    a = rc.attrs
    data = shapes[0]
    if data is None:
        return list(shapes), [None, None, None]
    data = tuple(data)
    ax = norm_axis(rc, a["axis"], len(data))
    c = data[ax]
    why = f"axis={a['axis']} of data ({shape_str(data)})"
    new = [data] + [_fit(rc, shapes, i, (c,), why) for i in range(1, 5)]
    return new, [data, (c,), (c,)]


def _bn_dtype(rc, dts):
    d = dts[0]
    p = _param_dtype(d)
    if p is None:
        known = [t for t in dts[1:] if t is not None]
        p = known[0] if known else None
    names = rc.input_names()
    for n, t in zip(names[1:], dts[1:]):
        if t is not None and p is not None and t != p:
            raise rc.dtype_error(f"{n} has dtype {t.np_name}; expected {p.np_name} for data "
                                 f"of dtype {d.np_name if d else '?'}")
    return [d, p, p, p, p], [d, p, p]


def _bn_axes(a, ndim):
    ax = norm_axis(_OpRC("BatchNorm", a), a["axis"], ndim)
    return ax, tuple(i for i in range(ndim) if i != ax)


def _bn_uses_batch_stats(a):
    return bool(a["is_train"]) and not a["use_global_stats"]


def _bn_np(xs, a):
    x, gamma, beta, mm, mv = xs
    ax, axes = _bn_axes(a, x.ndim)
    bs = _bshape(x.ndim, ax, x.shape[ax])
    acc = np.float64 if x.dtype == np.float64 else np.float32
    xf = x.astype(acc)
    if _bn_uses_batch_stats(a):
        mean = xf.mean(axis=axes)
        var = ((xf - mean.reshape(bs)) ** 2).mean(axis=axes)
    else:
        mean, var = mm.astype(acc), mv.astype(acc)
    invstd = 1.0 / np.sqrt(var + acc(a["eps"]))
    gam = np.ones_like(gamma) if a["fix_gamma"] else gamma
    y = (xf - mean.reshape(bs)) * invstd.reshape(bs) * gam.reshape(bs) + beta.reshape(bs)
    return y.astype(x.dtype), mean.astype(gamma.dtype), invstd.astype(gamma.dtype)


def _bn_decompose(b, op):
    a = op.attrs
    x, gamma, beta, mm, mv = op.inputs
    ax, axes = _bn_axes(a, len(x.shape))
    c = x.shape[ax]
    bs = _bshape(len(x.shape), ax, c)
    pdt = gamma.dtype
    xw = b.cast(x, pdt)
    if _bn_uses_batch_stats(a):
        # statistics reduce to (C,) directly (the op's outputs), read back through views
        mean = b.mean(xw, axis=axes)
        xc = b.sub(xw, b.reshape(mean, bs))
        var = b.mean(b.square(xc), axis=axes)
        inv = b.op("rsqrt", [b.add(var, a["eps"])])
        inv_k = b.reshape(inv, bs)
    else:
        mean = b.op("_copy", [mm])
        inv = b.op("rsqrt", [b.add(mv, a["eps"])])
        xc = b.sub(xw, b.reshape(mm, bs))
        inv_k = b.reshape(inv, bs)
    scale = inv_k if a["fix_gamma"] else b.mul(inv_k, b.reshape(gamma, bs))
    y = b.add(b.mul(xc, scale), b.reshape(beta, bs))
    return [b.cast(y, x.dtype), mean, inv]


def _bn_vjp(b, op, g):
    """MXNet's BatchNorm gradient. With batch statistics (training, not use_global_stats),
    with xhat = (x - mean) * invstd and N elements per channel:
    dx = gamma * invstd * (g - mean(g) - xhat * mean(g * xhat)), dgamma = sum(g * xhat),
    dbeta = sum(g). With the moving statistics: dx = g * gamma * invstd. fix_gamma uses
    gamma = 1 and gives gamma a zero gradient. The gradients of the mean/var outputs and the
    moving statistics (aux states) are none: MXNet ignores those head gradients."""
    a = op.attrs
    x, gamma = op.inputs[0], op.inputs[1]
    ax, axes = _bn_axes(a, len(x.shape))
    c = x.shape[ax]
    bs = _bshape(len(x.shape), ax, c)
    gy = b.cast(g[0] if isinstance(g, list) else g, gamma.dtype)
    xw = b.cast(x, gamma.dtype)
    mean_b = b.reshape(op.outputs[1], bs)
    inv_b = b.reshape(op.outputs[2], bs)
    xhat = b.mul(b.sub(xw, mean_b), inv_b)
    sum_g = b.sum(gy, axis=axes)                       # (C,): dbeta
    scale = inv_b if a["fix_gamma"] else b.mul(inv_b, b.reshape(gamma, bs))
    batch = _bn_uses_batch_stats(a)
    sum_gx = b.sum(b.mul(gy, xhat), axis=axes) if batch or not a["fix_gamma"] else None
    if batch:
        n = numel(x.shape) // c
        inner = b.sub(b.sub(gy, b.reshape(b.mul(sum_g, 1.0 / n), bs)),
                      b.mul(xhat, b.reshape(b.mul(sum_gx, 1.0 / n), bs)))
        dx = b.mul(inner, scale)
    else:
        dx = b.mul(gy, scale)
    dgamma = b.zeros_like(gamma) if a["fix_gamma"] else sum_gx
    return b.cast(dx, x.dtype), dgamma, sum_g, None, None


def _bn_aux_update(b, op):
    """Training-mode moving statistics, as MXNet 1.9.1 updates them (in its backward pass):
    moving_mean = momentum * moving_mean + (1 - momentum) * batch mean and
    moving_var = momentum * moving_var + (1 - momentum) * batch var, where the batch variance
    is the *biased* one (divided by N, not N - 1), recovered from the inverse std output as
    MXNet's INVSTD_TO_VARIANCE does: 1 / invstd^2 - eps. Nothing changes in inference or with
    use_global_stats."""
    a = op.attrs
    if not _bn_uses_batch_stats(a):
        return []
    mm, mv = op.inputs[3], op.inputs[4]
    mean, inv = op.outputs[1], op.outputs[2]
    m = a["momentum"]
    var = b.sub(b.div(1.0, b.square(inv)), a["eps"])
    new_mm = b.add(b.mul(mm, m), b.mul(mean, 1.0 - m))
    new_mv = b.add(b.mul(mv, m), b.mul(var, 1.0 - m))
    return [(3, new_mm), (4, new_mv)]


def _bn_validate(rc):
    if rc.attrs["eps"] <= 0:
        raise rc.attr_error(f"eps={rc.attrs['eps']}; expected eps > 0")


register_op(OpDef(
    name="BatchNorm",
    attrs=(
        Attr("eps", "float", 0.0010000000474974513, doc="Epsilon to prevent div 0."),
        Attr("momentum", "float", _f32(0.9), doc="Momentum for moving average"),
        Attr("fix_gamma", "bool", True, doc="Fix gamma while training"),
        Attr("use_global_stats", "bool", False, doc="Whether use global moving statistics "
                                                    "instead of local batch-norm."),
        Attr("output_mean_var", "bool", False, doc="Output the mean and inverse std"),
        Attr("axis", "int", 1, doc="Specify which shape axis the channel is specified"),
        Attr("cudnn_off", "bool", False, doc="accepted and ignored"),
        Attr("min_calib_range", "float", None, optional=True, doc="accepted and ignored"),
        Attr("max_calib_range", "float", None, optional=True, doc="accepted and ignored"),
    ),
    arguments=("data", "gamma", "beta"), aux=("moving_mean", "moving_var"),
    outputs=("output", "mean", "var"),
    num_visible_outputs=lambda a: 3 if a["output_mean_var"] else 1,
    infer_shape=_bn_rule, infer_dtype=_bn_dtype, interp=_bn_np, vjp=_bn_vjp,
    decompose=_bn_decompose, mode_dependent=True, aux_update=_bn_aux_update,
    validate=_bn_validate,
    extra={"input_var_attrs": {"moving_mean": {"__init__": '["zero", {}]'},
                               "moving_var": {"__init__": '["one", {}]'}}},
    doc="Batch normalization over every axis but `axis`; training uses batch statistics, "
        "inference (or use_global_stats) the moving ones. Outputs (output, mean, inverse std).",
))


# =================================================================================================
# LayerNorm, InstanceNorm, L2Normalization
# =================================================================================================
def _ln_rule(rc, shapes):
    a = rc.attrs
    data = shapes[0]
    if data is None:
        return list(shapes), [None, None, None]
    data = tuple(data)
    ax = norm_axis(rc, a["axis"], len(data))
    c = data[ax]
    why = f"axis={a['axis']} of data ({shape_str(data)})"
    new = [data] + [_fit(rc, shapes, i, (c,), why) for i in (1, 2)]
    st = _keep_shape(data, (ax,))
    return new, [data, st, st]


def _ln_axis(a, ndim):
    return norm_axis(_OpRC("LayerNorm", a), a["axis"], ndim)


def _ln_np(xs, a):
    x, gamma, beta = xs
    ax = _ln_axis(a, x.ndim)
    bs = _bshape(x.ndim, ax, x.shape[ax])
    mean = x.mean(axis=ax, keepdims=True)
    std = np.sqrt(((x - mean) ** 2).mean(axis=ax, keepdims=True) + x.dtype.type(a["eps"]))
    y = (x - mean) / std * gamma.reshape(bs) + beta.reshape(bs)
    return y, mean, std


def _ln_decompose(b, op):
    a = op.attrs
    x, gamma, beta = op.inputs
    ax = _ln_axis(a, len(x.shape))
    bs = _bshape(len(x.shape), ax, x.shape[ax])
    mean = b.mean(x, axis=ax, keepdims=True)
    xc = b.sub(x, mean)
    var = b.mean(b.square(xc), axis=ax, keepdims=True)
    std = b.sqrt(b.add(var, a["eps"]))
    y = b.add(b.mul(b.div(xc, std), b.reshape(gamma, bs)), b.reshape(beta, bs))
    return [y, mean, std]


def _ln_vjp(b, op, g):
    """LayerNorm's gradient (MXNet ignores the head gradients of mean and std):
    xhat = (x - mean) / std, gx = g * gamma,
    dx = (gx - mean(gx) - xhat * mean(gx * xhat)) / std along axis;
    dgamma = sum(g * xhat), dbeta = sum(g) over the other axes."""
    a = op.attrs
    x, gamma = op.inputs[0], op.inputs[1]
    ax = _ln_axis(a, len(x.shape))
    c = x.shape[ax]
    bs = _bshape(len(x.shape), ax, c)
    gy = g[0] if isinstance(g, list) else g
    std = op.outputs[2]
    xhat = b.div(b.sub(x, op.outputs[1]), std)
    gx = b.mul(gy, b.reshape(gamma, bs))
    m1 = b.mean(gx, axis=ax, keepdims=True)
    m2 = b.mean(b.mul(gx, xhat), axis=ax, keepdims=True)
    dx = b.div(b.sub(b.sub(gx, m1), b.mul(xhat, m2)), std)
    return dx, _sum_except(b, b.mul(gy, xhat), ax), _sum_except(b, gy, ax)


def _eps_validate(rc):
    if rc.attrs["eps"] < 0:
        raise rc.attr_error(f"eps={rc.attrs['eps']}; expected eps >= 0")


register_op(OpDef(
    name="LayerNorm",
    attrs=(Attr("axis", "int", -1, doc="The axis to perform layer normalization."),
           Attr("eps", "float", _f32(1e-5), doc="An `epsilon` parameter to prevent division "
                                                "by 0."),
           Attr("output_mean_var", "bool", False, doc="Output the mean and std")),
    arguments=("data", "gamma", "beta"), outputs=("output", "mean", "std"),
    num_visible_outputs=lambda a: 3 if a["output_mean_var"] else 1,
    infer_shape=_ln_rule, interp=_ln_np, vjp=_ln_vjp, decompose=_ln_decompose,
    validate=_eps_validate,
    doc="(x - mean) / sqrt(var + eps) * gamma + beta along `axis`; outputs (output, mean, std).",
))


def _in_rule(rc, shapes):
    data = shapes[0]
    if data is None:
        return list(shapes), [None, None, None]
    data = tuple(data)
    if len(data) < 3:
        raise rc.shape_error(f"data has shape ({shape_str(data)}); InstanceNorm expects an "
                             "input of rank >= 3 (batch, channel, spatial ...)")
    c = data[1]
    why = f"the channel axis (1) of data ({shape_str(data)})"
    new = [data] + [_fit(rc, shapes, i, (c,), why) for i in (1, 2)]
    return new, [data, data[:2], data[:2]]


def _in_np(xs, a):
    x, gamma, beta = xs
    axes = tuple(range(2, x.ndim))
    bs = _bshape(x.ndim, 1, x.shape[1])
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + x.dtype.type(a["eps"])) * gamma.reshape(bs) + \
        beta.reshape(bs)
    return y, mean.reshape(x.shape[:2]), var.reshape(x.shape[:2])


def _in_decompose(b, op):
    x, gamma, beta = op.inputs
    axes = tuple(range(2, len(x.shape)))
    bs = _bshape(len(x.shape), 1, x.shape[1])
    mean = b.mean(x, axis=axes, keepdims=True)
    xc = b.sub(x, mean)
    var = b.mean(b.square(xc), axis=axes, keepdims=True)
    inv = b.op("rsqrt", [b.add(var, op.attrs["eps"])])
    y = b.add(b.mul(b.mul(xc, inv), b.reshape(gamma, bs)), b.reshape(beta, bs))
    nc = tuple(x.shape[:2])
    return [y, b.reshape(mean, nc), b.reshape(var, nc)]


def _in_vjp(b, op, g):
    """InstanceNorm's gradient: LayerNorm's over the spatial axes of each (n, c), with
    dgamma/dbeta summed over the batch and spatial axes."""
    x, gamma = op.inputs[0], op.inputs[1]
    axes = tuple(range(2, len(x.shape)))
    keep = _keep_shape(x.shape, axes)
    bs = _bshape(len(x.shape), 1, x.shape[1])
    gy = g[0] if isinstance(g, list) else g
    inv = b.op("rsqrt", [b.add(b.reshape(op.outputs[2], keep), op.attrs["eps"])])
    xhat = b.mul(b.sub(x, b.reshape(op.outputs[1], keep)), inv)
    gx = b.mul(gy, b.reshape(gamma, bs))
    m1 = b.mean(gx, axis=axes, keepdims=True)
    m2 = b.mean(b.mul(gx, xhat), axis=axes, keepdims=True)
    dx = b.mul(b.sub(b.sub(gx, m1), b.mul(xhat, m2)), inv)
    return dx, _sum_except(b, b.mul(gy, xhat), 1), _sum_except(b, gy, 1)


register_op(OpDef(
    name="InstanceNorm",
    attrs=(Attr("eps", "float", _f32(1e-3), doc="An `epsilon` parameter to prevent division "
                                                "by 0."),),
    arguments=("data", "gamma", "beta"), outputs=("output", "mean", "var"),
    num_visible_outputs=1, infer_shape=_in_rule, interp=_in_np, vjp=_in_vjp,
    decompose=_in_decompose, validate=_eps_validate,
    doc="Normalizes each (sample, channel) over its spatial axes, then gamma/beta per channel.",
))


def _l2_axes(mode, ndim):
    if mode == "instance":
        return tuple(range(1, ndim))
    if mode == "channel":
        return (1,)
    return tuple(range(2, ndim))


def _l2_norm_shape(mode, data):
    if mode == "instance":
        return (data[0],)
    if mode == "channel":
        return (data[0], 1) + tuple(data[2:])
    return tuple(data[:2])


def _l2_rule(rc, shapes):
    data = tuple(shapes[0])
    mode = rc.attrs["mode"]
    need = 2 if mode == "instance" else 3
    if len(data) < need:
        raise rc.shape_error(f"data has shape ({shape_str(data)}); mode={mode!r} expects an "
                             f"input of rank >= {need}")
    return [data, _l2_norm_shape(mode, data)]


def _l2_np(xs, a):
    x = xs[0]
    axes = _l2_axes(a["mode"], x.ndim)
    n = np.sqrt((x * x).sum(axis=axes, keepdims=True) + x.dtype.type(a["eps"]))
    return x / n, n.reshape(_l2_norm_shape(a["mode"], x.shape))


def _l2_decompose(b, op):
    x = op.inputs[0]
    axes = _l2_axes(op.attrs["mode"], len(x.shape))
    n = b.sqrt(b.add(b.sum(b.square(x), axis=axes, keepdims=True), op.attrs["eps"]))
    return [b.div(x, n), b.reshape(n, _l2_norm_shape(op.attrs["mode"], x.shape))]


def _l2_vjp(b, op, g):
    """y = x / n, n = sqrt(sum(x^2) + eps): dx = (g - y * sum(g * y)) / n (MXNet's
    g / n - x * sum(g * x) / n^3); the norm output's head gradient is ignored."""
    x = op.inputs[0]
    axes = _l2_axes(op.attrs["mode"], len(x.shape))
    gy = g[0] if isinstance(g, list) else g
    y = op.outputs[0]
    n = b.reshape(op.outputs[1], _keep_shape(x.shape, axes))
    s = b.sum(b.mul(gy, y), axis=axes, keepdims=True)
    return (b.div(b.sub(gy, b.mul(y, s)), n),)


register_op(OpDef(
    name="L2Normalization",
    attrs=(Attr("eps", "float", _f32(1e-10), doc="A small constant for numerical stability."),
           Attr("mode", "str", "instance", choices=("channel", "instance", "spatial"),
                doc="Specify the dimension along which to compute L2 norm.")),
    arguments=("data",), outputs=("output", "norm"), num_visible_outputs=1,
    infer_shape=forward_shape(_l2_rule), interp=_l2_np, vjp=_l2_vjp,
    decompose=_l2_decompose, validate=_eps_validate,
    doc="x / sqrt(sum(x^2) + eps) per instance (all but axis 0), channel (axis 1) or spatial "
        "(axes 2..).",
))


# =================================================================================================
# Random numbers (Dropout, rrelu): ``_random_uniform_like`` is defined with MXNet's other
# samplers in random.py (Philox, counter-based); the reference interpreters here draw from the
# same stream, so interp and compiled code agree
# =================================================================================================
def _np_uniform(shape, low, high, dtype):
    from .random import _np_gen, _scalars, next_key
    lo, hi = _scalars("uniform", {"low": low, "high": high})
    return _np_gen(next_key("cpu"), tuple(shape), "uniform", DType.parse(np.dtype(dtype).name),
                   [], lo, hi)


# =================================================================================================
# Dropout
# =================================================================================================
def _dropout_validate(rc):
    p = rc.attrs["p"]
    if not 0.0 <= p <= 1.0:
        raise rc.attr_error(f"p={p}; expected 0 <= p <= 1")


def _dropout_mask_shape(a, shape):
    axes = a["axes"]
    return tuple(1 if i in axes or i - len(shape) in axes else d for i, d in enumerate(shape))


def _dropout_rule(rc, shapes):
    data = tuple(shapes[0])
    for ax in rc.attrs["axes"]:
        norm_axis(rc, ax, len(data))
    return [data, _dropout_mask_shape(rc.attrs, data)]


def _dropout_active(a):
    return (a["is_train"] or a["mode"] == "always") and a["p"] > 0


def _np_dropout_mask(u, p):
    keep = 1.0 - p
    return np.where(u < keep, 1.0 / keep if keep > 0 else 0.0, 0.0).astype(u.dtype)


def _dropout_np(xs, a):
    x = xs[0]
    ms = _dropout_mask_shape(a, x.shape)
    if not _dropout_active(a):
        return x.copy(), np.ones(ms, dtype=x.dtype)
    mask = _np_dropout_mask(_np_uniform(ms, 0.0, 1.0, x.dtype), a["p"])
    return x * mask, mask


def _dropout_mask_formula(k, a, u):
    keep = 1.0 - a["p"]
    scale = 1.0 / keep if keep > 0 else 0.0
    return k.where(k.lt(u, k.const(keep, u.dtype)), k.const(scale, u.dtype),
                   k.const(0.0, u.dtype))


register_op(OpDef(
    name="_nn_dropout_mask", attrs=(Attr("p", "float"),), arguments=("data",),
    infer_shape=lambda rc, s: (list(s), [s[0]]),
    interp=lambda xs, a: (_np_dropout_mask(xs[0], a["p"]),), differentiable=False,
    lower=Elementwise(_dropout_mask_formula), traits={ELEMENTWISE},
    doc="Dropout's mask from uniform numbers u: 1/(1-p) where u < 1-p, else 0.",
))


def _dropout_decompose(b, op):
    a = op.attrs
    x = op.inputs[0]
    ms = _dropout_mask_shape(a, x.shape)
    if not _dropout_active(a):
        return [x, b.full(ms, 1.0, x.dtype)]
    src = x if ms == tuple(x.shape) else b.full(ms, 0.0, x.dtype)
    u = b.op("_random_uniform_like", [src])
    mask = b.op("_nn_dropout_mask", [u], {"p": a["p"]})
    return [b.mul(x, mask), mask]


def _dropout_vjp(b, op, g):
    """Training (or mode='always'): the gradient is the head gradient times the same mask the
    forward drew (an output of the op); inference: the identity."""
    gy = g[0] if isinstance(g, list) else g
    if not _dropout_active(op.attrs):
        return (gy,)
    return (b.mul(gy, op.outputs[1]),)


register_op(OpDef(
    name="Dropout",
    attrs=(Attr("p", "float", 0.5, doc="Fraction of the input that gets dropped out during "
                                       "training time."),
           Attr("mode", "str", "training", choices=("always", "training"),
                doc="Whether to only turn on dropout during training or to also turn on for "
                    "inference."),
           Attr("axes", "shape", (), doc="Axes for variational dropout kernel."),
           Attr("cudnn_off", "bool", False, optional=True, doc="accepted and ignored")),
    arguments=("data",), outputs=("output", "mask"), num_visible_outputs=1,
    infer_shape=forward_shape(_dropout_rule), interp=_dropout_np, vjp=_dropout_vjp,
    decompose=_dropout_decompose, mode_dependent=True, traits={RANDOM},
    validate=_dropout_validate,
    doc="Training: x * mask, mask = Bernoulli(1 - p) / (1 - p) (shared along `axes`); "
        "inference: the identity (unless mode='always').",
))


# =================================================================================================
# Embedding
# =================================================================================================
_EMB_DTYPES = ("bfloat16", "float16", "float32", "float64", "int32", "int64", "int8", "uint8")


def _emb_validate(rc):
    a = rc.attrs
    for n in ("input_dim", "output_dim"):
        if a[n] < 1:
            raise rc.attr_error(f"{n}={a[n]}; expected {n} >= 1")
    if a["dtype"] not in _EMB_DTYPES:
        raise rc.attr_error(f"dtype={a['dtype']!r} is not accepted; expected one of "
                            f"{', '.join(map(repr, _EMB_DTYPES))}")


def _emb_rule(rc, shapes):
    a = rc.attrs
    data = shapes[0]
    why = f"input_dim={a['input_dim']} and output_dim={a['output_dim']}"
    if data is None:                 # MXNet infers nothing until the indices' shape is known
        return list(shapes), [None]
    w = _fit(rc, shapes, 1, (a["input_dim"], a["output_dim"]), why)
    out = None if data is None else tuple(data) + (a["output_dim"],)
    return [data, w], [out]


def _emb_dtype(rc, dts):
    # MXNet's EmbeddingOpType: a weight whose dtype is known decides the output's; `dtype` is
    # only the default for a weight of unknown dtype
    dt = dts[1] if dts[1] is not None else DType.parse(rc.attrs["dtype"])
    return [dts[0], dt], [dt]


def _emb_index_np(x, n):
    return np.clip(np.trunc(x.astype(np.float64)), 0, n - 1).astype(np.int64) \
        if x.dtype.kind == "f" else np.clip(x.astype(np.int64), 0, n - 1)


def _emb_np(xs, a):
    x, w = xs
    return (w[_emb_index_np(x, a["input_dim"])],)


def _emb_index(x, n):
    import torch
    idx = x.to(torch.int64)          # truncates fractional indices toward zero, as MXNet
    return idx.clamp_(0, n - 1).reshape(-1)


def _emb_extern(attrs, ins, outs):
    import torch
    x, w = ins
    torch.index_select(w, 0, _emb_index(x, attrs["input_dim"]),
                       out=outs[0].view(-1, attrs["output_dim"]))


def _emb_vjp(b, op, g):
    """The weight gradient is a scatter-add of the head gradient rows at the (clipped)
    indices; the indices get no gradient."""
    x = op.inputs[0]
    return None, b.op("_embedding_backward", [x, g],
                      {"input_dim": op.attrs["input_dim"], "output_dim": op.attrs["output_dim"]})


register_op(OpDef(
    name="Embedding",
    attrs=(Attr("input_dim", "int", doc="Vocabulary size of the input indices."),
           Attr("output_dim", "int", doc="Dimension of the embedding vectors."),
           Attr("dtype", "dtype", "float32", doc="Data type of weight."),
           Attr("sparse_grad", "bool", False, doc="accepted; the gradient is dense in mxc")),
    arguments=("data", "weight"), infer_shape=_emb_rule, infer_dtype=_emb_dtype,
    interp=_emb_np, vjp=_emb_vjp, lower=Extern(_emb_extern, "embedding_gather"),
    validate=_emb_validate, aliases=("_sparse_Embedding",),
    doc="out[..., :] = weight[clip(int(data), 0, input_dim - 1), :].",
))


def _emb_bwd_np(xs, a):
    x, gy = xs
    idx = _emb_index_np(x, a["input_dim"]).reshape(-1)
    gw = np.zeros((a["input_dim"], a["output_dim"]), dtype=gy.dtype)
    np.add.at(gw, idx, gy.reshape(-1, a["output_dim"]))
    return (gw,)


def _emb_bwd_extern(attrs, ins, outs):
    x, gy = ins
    o = outs[0]
    o.zero_()
    o.index_add_(0, _emb_index(x, attrs["input_dim"]), gy.reshape(-1, attrs["output_dim"]))


register_op(OpDef(
    name="_embedding_backward",
    attrs=(Attr("input_dim", "int"), Attr("output_dim", "int")),
    arguments=("data", "grad"),
    infer_shape=lambda rc, s: (list(s), [(rc.attrs["input_dim"], rc.attrs["output_dim"])]),
    infer_dtype=lambda rc, d: (list(d), [d[1]]),
    interp=_emb_bwd_np, differentiable=False,
    lower=Extern(_emb_bwd_extern, "embedding_scatter_add"),
    doc="Embedding's weight gradient: rows of grad added at the indices (index_add_).",
))


# =================================================================================================
# crop / concat helpers (internal ops used by UpSampling and Pad)
# =================================================================================================
def _crop_rule(rc, shapes):
    s = tuple(shapes[0])
    b_, e_ = rc.attrs["begin"], rc.attrs["end"]
    if len(b_) != len(s) or len(e_) != len(s) or any(
            not 0 <= lo <= hi <= d for lo, hi, d in zip(b_, e_, s)):
        raise rc.shape_error(f"cannot crop [{_tshape(b_)}, {_tshape(e_)}) from data of shape "
                             f"({shape_str(s)})")
    return tuple(hi - lo for lo, hi in zip(b_, e_))


def _crop_np(xs, a):
    return (xs[0][tuple(slice(lo, hi) for lo, hi in zip(a["begin"], a["end"]))].copy(),)


def _crop_index(attrs, in_shape, out_shape, idx):
    return [i + lo for i, lo in zip(idx, attrs["begin"])]


def _nn_crop_vjp(b, op, g):
    """The head gradient zero-padded back to the input's shape."""
    a = op.attrs
    x = op.inputs[0]
    pw = []
    for lo, hi, d in zip(a["begin"], a["end"], x.shape):
        pw += [lo, d - hi]
    return (b.op("_pad_view", [g], {"pad_width": tuple(pw), "constant_value": 0.0}),)


register_op(OpDef(
    name="_nn_crop", attrs=(Attr("begin", "shape"), Attr("end", "shape")),
    arguments=("data",), infer_shape=forward_shape(_crop_rule), interp=_crop_np,
    vjp=_nn_crop_vjp, lower=View("custom", _crop_index), traits={VIEW},
    doc="The box [begin, end) of data (a view; the backward of constant padding and of "
        "concatenation).",
))


def _concat_rule(rc, shapes):
    d = rc.attrs["dim"]
    s0 = tuple(shapes[0])
    for s in shapes[1:]:
        if len(s) != len(s0) or any(x != y for i, (x, y) in enumerate(zip(s, s0)) if i != d):
            raise rc.shape_error(f"cannot concatenate shapes ({shape_str(s0)}) and "
                                 f"({shape_str(s)}) along axis {d}")
    return s0[:d] + (sum(s[d] for s in shapes),) + s0[d + 1:]


def _concat_extern(attrs, ins, outs):
    import torch
    torch.cat(list(ins), dim=attrs["dim"], out=outs[0])


def _concat_vjp(b, op, g):
    d = op.attrs["dim"]
    out, start = [], 0
    for v in op.inputs:
        begin = [0] * len(v.shape)
        end = list(g.shape)
        begin[d], end[d] = start, start + v.shape[d]
        out.append(b.op("_nn_crop", [g], {"begin": tuple(begin), "end": tuple(end)}))
        start += v.shape[d]
    return tuple(out)


register_op(OpDef(
    name="_nn_concat", attrs=(Attr("num_args", "int"), Attr("dim", "int", 1)),
    variadic="num_args", infer_shape=forward_shape(_concat_rule),
    interp=lambda xs, a: (np.concatenate(xs, axis=a["dim"]),), vjp=_concat_vjp,
    lower=Extern(_concat_extern, "concat"),
    doc="Concatenation along dim (UpSampling's multi-input concat mode).",
))


# =================================================================================================
# UpSampling (nearest)
# =================================================================================================
def _up_validate(rc):
    a = rc.attrs
    if a["sample_type"] == "bilinear":
        raise UnsupportedError(
            f"{rc.where}: sample_type='bilinear' is not supported by mxc yet; accepted: "
            "'nearest' (for bilinear upsampling use Deconvolution with a bilinear-initialized "
            "weight)")
    if a["scale"] < 1:
        raise rc.attr_error(f"scale={a['scale']}; expected scale >= 1")
    if a["num_args"] < 1:
        raise rc.attr_error(f"num_args={a['num_args']}; expected num_args >= 1")


def _up_rule(rc, shapes):
    a = rc.attrs
    s = a["scale"]
    for i, sh in enumerate(shapes):
        if len(sh) != 4:
            raise rc.shape_error(f"arg{i} has shape ({shape_str(sh)}); UpSampling (nearest) "
                                 "expects 4-d inputs (batch, channel, y, x)")
    d0 = shapes[0]
    oh, ow = d0[2] * s, d0[3] * s
    c = 0
    for i, sh in enumerate(shapes):
        if oh % sh[2] or ow % sh[3] or sh[0] != d0[0]:
            raise rc.shape_error(f"arg{i} has shape ({shape_str(sh)}); its batch must be "
                                 f"{d0[0]} and its height/width must divide the output's "
                                 f"({oh}, {ow}) = arg0's ({d0[2]}, {d0[3]}) * scale={s}")
        if a["multi_input_mode"] == "sum":
            if c and c != sh[1]:
                raise rc.shape_error(f"arg{i} has {sh[1]} channels; multi_input_mode='sum' "
                                     f"needs every input to have {c}")
            c = sh[1]
        else:
            c += sh[1]
    return (d0[0], c, oh, ow)


def _up_np_one(x, oh, ow):
    return x.repeat(oh // x.shape[2], axis=2).repeat(ow // x.shape[3], axis=3)


def _up_np(xs, a):
    oh, ow = xs[0].shape[2] * a["scale"], xs[0].shape[3] * a["scale"]
    ups = [_up_np_one(x, oh, ow) for x in xs]
    if len(ups) == 1:
        return (ups[0],)
    if a["multi_input_mode"] == "sum":
        return (sum(ups[1:], ups[0]),)
    return (np.concatenate(ups, axis=1),)


def _up_index(attrs, in_shape, out_shape, idx):
    sh, sw = out_shape[2] // in_shape[2], out_shape[3] // in_shape[3]
    return [idx[0], idx[1], idx[2] // sh, idx[3] // sw]


def _block_sum(b, g, x):
    """Sum (N, C, H*sh, W*sw) over its sh x sw blocks to x's (N, C, H, W)."""
    n, c, h, w = x.shape
    sh, sw = g.shape[2] // h, g.shape[3] // w
    if sh == sw == 1:
        return g
    return b.sum(b.reshape(g, (n, c, h, sh, w, sw)), axis=(3, 5))


def _up_nearest_vjp(b, op, g):
    return (_block_sum(b, g, op.inputs[0]),)


register_op(OpDef(
    name="_upsampling_nearest", attrs=(Attr("out_hw", "shape"),), arguments=("data",),
    infer_shape=forward_shape(lambda rc, s: tuple(s[0][:2]) + tuple(rc.attrs["out_hw"])),
    interp=lambda xs, a: (_up_np_one(xs[0], *a["out_hw"]),), vjp=_up_nearest_vjp,
    lower=View("custom", _up_index), traits={VIEW},
    doc="Nearest-neighbour upsampling of (N, C, H, W) to out_hw (a view: index // scale).",
))


def _up_decompose(b, op):
    xs = op.inputs
    out = op.outputs[0].shape
    ups = [b.op("_upsampling_nearest", [x], {"out_hw": tuple(out[2:])}) for x in xs]
    if len(ups) == 1:
        return [ups[0]]
    if op.attrs["multi_input_mode"] == "sum":
        y = ups[0]
        for u in ups[1:]:
            y = b.add(y, u)
        return [y]
    return [b.op("_nn_concat", ups, {"num_args": len(ups), "dim": 1})]


def _up_vjp(b, op, g):
    """Each input's gradient is the sum of the head gradient over its scale x scale blocks
    (after taking its channel slice in concat mode), as MXNet's sum-pooling backward."""
    out, start = [], 0
    concat = op.attrs["multi_input_mode"] == "concat" and len(op.inputs) > 1
    for x in op.inputs:
        gi = g
        if concat:
            gi = b.op("_nn_crop", [g], {"begin": (0, start, 0, 0),
                                        "end": (g.shape[0], start + x.shape[1]) +
                                        tuple(g.shape[2:])})
            start += x.shape[1]
        out.append(_block_sum(b, gi, x))
    return tuple(out)


register_op(OpDef(
    name="UpSampling",
    attrs=(Attr("scale", "int", doc="Up sampling scale"),
           Attr("num_filter", "int", 0, doc="Input filter. Only used by bilinear sample_type."),
           Attr("sample_type", "str", choices=("bilinear", "nearest"),
                doc="upsampling method (nearest only in mxc)"),
           Attr("multi_input_mode", "str", "concat", choices=("concat", "sum"),
                doc="How to handle multiple input."),
           Attr("num_args", "int", doc="Number of inputs to be upsampled."),
           Attr("workspace", "int", 512, doc="accepted and ignored")),
    variadic="num_args", infer_shape=forward_shape(_up_rule), interp=_up_np, vjp=_up_vjp,
    decompose=_up_decompose, validate=_up_validate,
    doc="Nearest-neighbour upsampling by `scale`; several inputs are upsampled to arg0's "
        "output size and concatenated along channels (or summed).",
))


# =================================================================================================
# LeakyReLU
# =================================================================================================
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946
_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _lrelu_args(attrs):
    return ["data", "gamma"] if attrs["act_type"] == "prelu" else ["data"]


def _lrelu_outputs(attrs):
    return ["output", "mask"] if attrs["act_type"] == "rrelu" else ["output"]


def _lrelu_rule(rc, shapes):
    a = rc.attrs
    data = shapes[0]
    n_out = len(_lrelu_outputs(a))
    if data is None:
        return list(shapes), [None] * n_out
    data = tuple(data)
    new = [data]
    if a["act_type"] == "prelu":
        if len(data) < 2:
            raise rc.shape_error(f"data has shape ({shape_str(data)}); prelu expects an input "
                                 "of rank >= 2 (gamma is per channel, axis 1)")
        gs = shapes[1]
        if gs is None or any(d is None for d in gs):
            gs = (data[1],)
        elif tuple(gs) not in ((data[1],), (1,)):
            raise rc.shape_error(f"gamma has shape ({shape_str(gs)}); expected ({data[1]},) "
                                 f"(one slope per channel of data ({shape_str(data)})) or (1,)")
        new.append(tuple(gs))
    return new, [data] * n_out


def _np_elu(x, s):
    return np.where(x > 0, x, s * np.expm1(np.minimum(x, 0)))


def _np_gelu(x):
    import torch
    t = torch.from_numpy(np.ascontiguousarray(x))
    return (0.5 * x * (1.0 + torch.special.erf(t * _SQRT_HALF).numpy())).astype(x.dtype)


def _lrelu_np(xs, a):
    x = xs[0]
    t = a["act_type"]
    dt = x.dtype.type
    if t == "leaky":
        return (np.where(x > 0, x, dt(a["slope"]) * x),)
    if t == "elu":
        return (_np_elu(x, dt(a["slope"])).astype(x.dtype),)
    if t == "selu":
        return ((dt(SELU_LAMBDA) * _np_elu(x, dt(SELU_ALPHA))).astype(x.dtype),)
    if t == "gelu":
        return (_np_gelu(x),)
    if t == "prelu":
        gam = xs[1].reshape(_bshape(x.ndim, 1, xs[1].shape[0]))
        return (np.where(x > 0, x, gam * x),)
    if a["is_train"]:
        mask = _np_uniform(x.shape, a["lower_bound"], a["upper_bound"], x.dtype)
    else:
        mask = np.zeros_like(x)
    slope = mask if a["is_train"] else dt((a["lower_bound"] + a["upper_bound"]) / 2.0)
    return np.where(x > 0, x, slope * x), mask


def _xelu_formula(k, a, x):
    t = a["act_type"]
    zero = k.const(0.0, x.dtype)
    pos = k.gt(x, zero)
    if t == "leaky":
        return k.where(pos, x, k.mul(x, k.const(a["slope"], x.dtype)))
    if t in ("elu", "selu"):
        alpha = a["slope"] if t == "elu" else SELU_ALPHA
        neg = k.mul(k.const(alpha, x.dtype), k.expm1(k.min(x, zero)))
        y = k.where(pos, x, neg)
        return y if t == "elu" else k.mul(y, k.const(SELU_LAMBDA, x.dtype))
    # gelu: 0.5 x (1 + erf(x / sqrt 2))
    half = k.const(0.5, x.dtype)
    return k.mul(k.mul(half, x), k.add(k.const(1.0, x.dtype),
                                       k.erf(k.mul(x, k.const(_SQRT_HALF, x.dtype)))))


def _xelu_grad_formula(k, a, g, r):
    """The derivative times g; ``r`` is the output (leaky, elu, selu: MXNet's
    xelu_grad / elu_grad / selu_grad read the output) or the input (gelu)."""
    t = a["act_type"]
    zero = k.const(0.0, r.dtype)
    one = k.const(1.0, r.dtype)
    pos = k.gt(r, zero)
    if t == "leaky":
        d = k.where(pos, one, k.const(a["slope"], r.dtype))
    elif t == "elu":
        d = k.where(pos, one, k.add(r, k.const(a["slope"], r.dtype)))
    elif t == "selu":
        # MXNet's selu_grad(y) = lambda * (y > 0 ? 1 : alpha + y); the derivative would be
        # y + lambda * alpha for y <= 0, but parity with MXNet's gradient wins (see _lrelu_vjp)
        d = k.mul(k.const(SELU_LAMBDA, r.dtype),
                  k.where(pos, one, k.add(r, k.const(SELU_ALPHA, r.dtype))))
    else:
        cdf = k.mul(k.const(0.5, r.dtype),
                    k.add(one, k.erf(k.mul(r, k.const(_SQRT_HALF, r.dtype)))))
        pdf = k.mul(k.const(_INV_SQRT_2PI, r.dtype),
                    k.exp(k.mul(k.const(-0.5, r.dtype), k.mul(r, r))))
        d = k.add(cdf, k.mul(r, pdf))
    return k.mul(g, d)


def _np_xelu_grad(g, r, a):
    t = a["act_type"]
    dt = r.dtype.type
    if t == "leaky":
        d = np.where(r > 0, dt(1), dt(a["slope"]))
    elif t == "elu":
        d = np.where(r > 0, dt(1), r + dt(a["slope"]))
    elif t == "selu":
        d = dt(SELU_LAMBDA) * np.where(r > 0, dt(1), r + dt(SELU_ALPHA))
    else:
        import torch
        cdf = 0.5 * (1.0 + torch.special.erf(torch.from_numpy(r * dt(_SQRT_HALF))).numpy())
        d = cdf + r * dt(_INV_SQRT_2PI) * np.exp(dt(-0.5) * r * r)
    return (g * d).astype(g.dtype)


_XELU_ATTRS = (Attr("act_type", "str", choices=("leaky", "elu", "selu", "gelu")),
               Attr("slope", "float", 0.25))


def _xelu_vjp(b, op, g):
    a = op.attrs
    ref = op.inputs[0] if a["act_type"] == "gelu" else op.outputs[0]
    return (b.op("_nn_xelu_grad", [g, ref], a),)


register_op(OpDef(
    name="_nn_xelu", attrs=_XELU_ATTRS, arguments=("data",),
    infer_shape=lambda rc, s: (list(s), [s[0]]),
    interp=lambda xs, a: _lrelu_np(xs, dict(a, lower_bound=0.0, upper_bound=0.0,
                                            is_train=False)),
    vjp=_xelu_vjp, lower=Elementwise(_xelu_formula), traits={ELEMENTWISE},
    doc="LeakyReLU's leaky / elu / selu / gelu activations.",
))
register_op(OpDef(
    name="_nn_xelu_grad", attrs=_XELU_ATTRS, arguments=("grad", "ref"),
    infer_shape=lambda rc, s: (list(s), [s[0]]),
    interp=lambda xs, a: (_np_xelu_grad(xs[0], xs[1], a),), differentiable=False,
    lower=Elementwise(_xelu_grad_formula), traits={ELEMENTWISE},
    doc="The gradient of _nn_xelu from the output (leaky, elu, selu) or the input (gelu).",
))


def _bcast_rule2(rc, shapes):
    from ..registry import broadcast_shapes
    return broadcast_shapes(rc, tuple(shapes[0]), tuple(shapes[1]))


def _prelu_formula(k, a, x, s):
    return k.where(k.gt(x, k.const(0.0, x.dtype)), x, k.mul(s, x))


def _prelu_np(x, s):
    return np.where(x > 0, x, s * x)


def _prelu_dx_formula(k, a, g, x, s):
    return k.where(k.gt(x, k.const(0.0, x.dtype)), g, k.mul(g, s))


def _prelu_vjp(b, op, g):
    x, s = op.inputs
    dx = b.op("_nn_prelu_dx", [g, x, s])
    ds = b.sum_to(b.mul(g, b.minimum(x, 0.0)), tuple(s.shape))
    return dx, ds


register_op(OpDef(
    name="_nn_prelu", arguments=("data", "slope"), infer_shape=forward_shape(_bcast_rule2),
    interp=lambda xs, a: (_prelu_np(xs[0], xs[1]),), vjp=_prelu_vjp,
    lower=Elementwise(_prelu_formula), traits={ELEMENTWISE},
    doc="x > 0 ? x : slope * x with a broadcast slope (prelu, rrelu).",
))
register_op(OpDef(
    name="_nn_prelu_dx", arguments=("grad", "data", "slope"),
    infer_shape=forward_shape(lambda rc, s: tuple(s[0])),
    interp=lambda xs, a: (np.where(xs[1] > 0, xs[0], xs[0] * xs[2]),), differentiable=False,
    lower=Elementwise(_prelu_dx_formula), traits={ELEMENTWISE},
    doc="The data gradient of _nn_prelu: x > 0 ? g : g * slope.",
))


def _lrelu_validate(rc):
    a = rc.attrs
    if a["act_type"] == "rrelu" and a["lower_bound"] > a["upper_bound"]:
        raise rc.attr_error(f"lower_bound={a['lower_bound']} > upper_bound="
                            f"{a['upper_bound']}; expected lower_bound <= upper_bound")


def _lrelu_decompose(b, op):
    a = op.attrs
    x = op.inputs[0]
    t = a["act_type"]
    if t in ("leaky", "elu", "selu", "gelu"):
        return [b.op("_nn_xelu", [x], {"act_type": t, "slope": a["slope"]})]
    if t == "prelu":
        gam = op.inputs[1]
        gb = b.reshape(gam, _bshape(len(x.shape), 1, gam.shape[0]))
        return [b.op("_nn_prelu", [x, gb])]
    # rrelu
    if a["is_train"]:
        u = b.op("_random_uniform_like", [x], {"low": a["lower_bound"],
                                               "high": a["upper_bound"]})
        return [b.op("_nn_prelu", [x, u]), u]
    slope = (a["lower_bound"] + a["upper_bound"]) / 2.0
    return [b.op("_nn_xelu", [x], {"act_type": "leaky", "slope": slope}), b.zeros_like(x)]


def _lrelu_vjp(b, op, g):
    """MXNet's gradients: leaky/elu/selu from the output (xelu_grad, elu_grad, selu_grad),
    gelu from the input. selu's is MXNet's ``lambda * (y > 0 ? 1 : alpha + y)``, which for
    y <= 0 is *not* the derivative (that is ``y + lambda * alpha``): mxc reproduces MXNet 1.9.1's
    gradient (mshadow_op.h selu_grad; tests/test_nn_layers.py holds MXNet's numbers); prelu: dx = x > 0 ? g : g * gamma, dgamma = sum of g * min(x, 0)
    over the non-channel axes (or all, for a single gamma); rrelu: dx = out > 0 ? g : g * mask
    (training) or the leaky gradient with slope (lower + upper) / 2 (inference)."""
    a = op.attrs
    t = a["act_type"]
    x = op.inputs[0]
    gy = g[0] if isinstance(g, list) else g
    if t in ("leaky", "elu", "selu", "gelu"):
        ref = x if t == "gelu" else op.outputs[0]
        return (b.op("_nn_xelu_grad", [gy, ref], {"act_type": t, "slope": a["slope"]}),)
    if t == "prelu":
        gam = op.inputs[1]
        gb = b.reshape(gam, _bshape(len(x.shape), 1, gam.shape[0]))
        dx = b.op("_nn_prelu_dx", [gy, x, gb])
        dg = b.reshape(b.sum_to(b.mul(gy, b.minimum(x, 0.0)), gb.shape), gam.shape)
        return dx, dg
    if a["is_train"]:
        return (b.op("_nn_prelu_dx", [gy, op.outputs[0], op.outputs[1]]),)
    slope = (a["lower_bound"] + a["upper_bound"]) / 2.0
    return (b.op("_nn_xelu_grad", [gy, op.outputs[0]], {"act_type": "leaky", "slope": slope}),)


register_op(OpDef(
    name="LeakyReLU",
    attrs=(Attr("act_type", "str", "leaky",
                choices=("elu", "gelu", "leaky", "prelu", "rrelu", "selu"),
                doc="Activation function to be applied."),
           Attr("slope", "float", 0.25, doc="Init slope for the activation. (For leaky and elu "
                                            "only)"),
           Attr("lower_bound", "float", 0.125, doc="Lower bound of random slope. (For rrelu "
                                                   "only)"),
           Attr("upper_bound", "float", _f32(0.334), doc="Upper bound of random slope. (For "
                                                         "rrelu only)")),
    arguments=_lrelu_args, outputs=_lrelu_outputs, infer_shape=_lrelu_rule, interp=_lrelu_np,
    vjp=_lrelu_vjp, decompose=_lrelu_decompose, mode_dependent=True,
    validate=_lrelu_validate,
    extra={"input_var_attrs": {"gamma": {"__init__": '["Constant", {"value": 0.25}]'}}},
    doc="leaky: x > 0 ? x : slope*x; prelu: learned slope per channel; rrelu: random slope in "
        "[lower, upper] (training) or their mean; elu, selu, gelu (erf form).",
))


# =================================================================================================
# SoftmaxActivation, log_softmax
# =================================================================================================
def _sa_axes(a, ndim):
    # MXNet flattens the data to 2-d with FlatTo2D (all but the last axis become rows), so
    # "instance" is a softmax over the last axis; "channel" is over axis 1
    return (ndim - 1,) if a["mode"] == "instance" else (1,)


def _sa_np(xs, a):
    x = xs[0]
    axes = _sa_axes(a, x.ndim)
    z = x - x.max(axis=axes, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=axes, keepdims=True),)


def _sa_decompose(b, op):
    from .nn import build_softmax
    x = op.inputs[0]
    return [build_softmax(b, x, _sa_axes(op.attrs, len(x.shape))[0])]


def _sa_vjp(b, op, g):
    """MXNet 1.9.1's SoftmaxActivation backward is the softmax gradient along axis 1 in both
    modes: y * (g - sum(g * y, axis=1)). For 2-d data (the usual case) that is the derivative
    of the instance-mode forward; for instance mode on data of rank > 2 (forward along the last
    axis) it is not, and mxc reproduces MXNet's gradient (tests/test_nn_layers.py holds MXNet's
    numbers)."""
    y = op.outputs[0]
    gy = b.mul(g, y)
    return (b.sub(gy, b.mul(y, b.sum(gy, axis=(1,), keepdims=True))),)


def _sa_rule(rc, shapes):
    s = tuple(shapes[0])
    if len(s) < 2:
        raise rc.shape_error(f"data has shape ({shape_str(s)}); SoftmaxActivation expects an "
                             "input of rank >= 2")
    return s


register_op(OpDef(
    name="SoftmaxActivation",
    attrs=(Attr("mode", "str", "instance", choices=("channel", "instance"),
                doc="instance: softmax over each instance's flattened values; channel: over "
                    "axis 1."),),
    arguments=("data",), infer_shape=forward_shape(_sa_rule), interp=_sa_np, vjp=_sa_vjp,
    decompose=_sa_decompose,
    doc="Softmax over the last axis (instance: MXNet flattens to 2-d keeping the last axis) or "
        "over the channel axis 1.",
))


def _ls_validate(rc):
    a = rc.attrs
    if a["use_length"]:
        raise UnsupportedError(f"{rc.where}: use_length=True is not supported by mxc yet; "
                               "accepted: use_length=False")
    if a["temperature"] is not None and a["temperature"] == 0:
        raise rc.attr_error("temperature=0; expected a non-zero temperature")
    if a["dtype"] is not None and a["dtype"] not in ("float16", "float32", "float64"):
        raise rc.attr_error(f"dtype={a['dtype']!r} is not accepted; expected one of None, "
                            "'float16', 'float32', 'float64'")


def _ls_axis(a, ndim):
    return norm_axis(_OpRC("log_softmax", a), a["axis"], ndim)


def _ls_rule(rc, shapes):
    norm_axis(rc, rc.attrs["axis"], len(shapes[0]))
    return tuple(shapes[0])


def _ls_dtype(rc, dts):
    d = dts[0]
    o = DType.parse(rc.attrs["dtype"]) if rc.attrs["dtype"] else d
    return [d], [o]


def _ls_np(xs, a):
    x = xs[0]
    ax = _ls_axis(a, x.ndim)
    t = a["temperature"]
    z = x / x.dtype.type(t) if t is not None and t != 1.0 else x
    z = z - z.max(axis=ax, keepdims=True)
    y = z - np.log(np.exp(z).sum(axis=ax, keepdims=True))
    return (y.astype(DType.parse(a["dtype"]).numpy if a["dtype"] else x.dtype),)


def _ls_decompose(b, op):
    a = op.attrs
    x = op.inputs[0]
    ax = _ls_axis(a, len(x.shape))
    t = a["temperature"]
    z = b.div(x, float(t)) if t is not None and t != 1.0 else x
    z = b.sub(z, b.max(z, axis=ax, keepdims=True))
    y = b.sub(z, b.log(b.sum(b.exp(z), axis=ax, keepdims=True)))
    return [b.cast(y, op.outputs[0].dtype)]


def _ls_vjp(b, op, g):
    """d log_softmax: g - softmax * sum(g) along axis, divided by the temperature."""
    a = op.attrs
    x = op.inputs[0]
    ax = _ls_axis(a, len(x.shape))
    gy = b.cast(g, x.dtype)
    y = b.cast(op.outputs[0], x.dtype)
    gx = b.sub(gy, b.mul(b.exp(y), b.sum(gy, axis=ax, keepdims=True)))
    t = a["temperature"]
    if t is not None and t != 1.0:
        gx = b.div(gx, float(t))
    return (gx,)


register_op(OpDef(
    name="log_softmax",
    attrs=(Attr("axis", "int", -1, doc="The axis along which to compute softmax."),
           Attr("temperature", "float", None, optional=True, doc="Temperature parameter in "
                                                                 "softmax"),
           Attr("dtype", "dtype", None, optional=True, doc="DType of the output"),
           Attr("use_length", "bool", False, optional=True, doc="not supported (must be "
                                                                "False)")),
    arguments=("data",), infer_shape=forward_shape(_ls_rule), infer_dtype=forward_dtype(
        lambda rc, d: _ls_dtype(rc, d)[1][0]),
    interp=_ls_np, vjp=_ls_vjp, decompose=_ls_decompose, validate=_ls_validate,
    doc="log(softmax(x / T)) along axis, computed as z - log(sum(exp(z))) with z = x/T - max.",
))


# =================================================================================================
# Pad
# =================================================================================================
def _pad_validate(rc):
    pw = rc.attrs["pad_width"]
    if len(pw) % 2 or any(p < 0 for p in pw):
        raise rc.attr_error(f"pad_width={_tshape(pw)}: expected 2 non-negative entries per "
                            "axis (before, after)")
    if len(pw) >= 4 and any(pw[:4]):
        raise rc.attr_error(f"pad_width={_tshape(pw)}: padding on the first two axes (batch, "
                            "channel) must be zero")


def _pad_rule(rc, shapes):
    a = rc.attrs
    data = shapes[0]
    if data is None:
        return list(shapes), [None]
    data = tuple(data)
    pw = a["pad_width"]
    if len(data) not in (4, 5):
        raise rc.shape_error(f"data has shape ({shape_str(data)}); Pad supports only 4-d and "
                             "5-d inputs")
    if len(pw) != 2 * len(data):
        raise rc.shape_error(f"pad_width={_tshape(pw)} has {len(pw)} entries; expected "
                             f"{2 * len(data)} (2 per axis of data ({shape_str(data)}))")
    out = []
    for i, d in enumerate(data):
        lo, hi = pw[2 * i], pw[2 * i + 1]
        if d is not None and a["mode"] == "reflect" and (lo >= d or hi >= d):
            raise rc.shape_error(f"pad_width={_tshape(pw)}: reflect padding of axis {i} "
                                 f"(size {d}) must be smaller than the axis")
        out.append(None if d is None else d + lo + hi)
    return [data], [tuple(out)]


_NP_PAD = {"constant": "constant", "edge": "edge", "reflect": "reflect"}
_TORCH_PAD = {"constant": "constant", "edge": "replicate", "reflect": "reflect"}


def _pad_np(xs, a):
    x = xs[0]
    pw = a["pad_width"]
    widths = [(pw[2 * i], pw[2 * i + 1]) for i in range(x.ndim)]
    if a["mode"] == "constant":
        return (np.pad(x, widths, constant_values=a["constant_value"]),)
    return (np.pad(x, widths, mode=_NP_PAD[a["mode"]]),)


def _torch_pad(x, a):
    import torch.nn.functional as F
    pw = a["pad_width"]
    pads = []
    for i in reversed(range(2, x.dim())):
        pads += [pw[2 * i], pw[2 * i + 1]]
    if a["mode"] == "constant":
        return F.pad(x, pads, mode="constant", value=a["constant_value"])
    return F.pad(x, pads, mode=_TORCH_PAD[a["mode"]])


def _pad_extern(attrs, ins, outs):
    outs[0].copy_(_torch_pad(ins[0], attrs))


def _pad_vjp(b, op, g):
    """constant: the gradient is the unpadded box of the head gradient (a view, fused);
    edge / reflect: the padded border's gradients fold back onto the input (library call)."""
    a = op.attrs
    x = op.inputs[0]
    pw = a["pad_width"]
    if a["mode"] == "constant":
        begin = tuple(pw[2 * i] for i in range(len(x.shape)))
        end = tuple(lo + d for lo, d in zip(begin, x.shape))
        return (b.op("_nn_crop", [g], {"begin": begin, "end": end}),)
    return (b.op("_pad_backward", [g], {"mode": a["mode"], "pad_width": pw}),)


_PAD_ATTRS = (
    Attr("mode", "str", choices=("constant", "edge", "reflect"), doc="Padding type to use."),
    Attr("pad_width", "shape", doc="Widths of the padding regions applied to the edges "
                                   "of each axis: (before_1, after_1, ... )"),
    Attr("constant_value", "float", 0.0, doc="The value used for padding when `mode` is "
                                             "'constant'."))


def _pad_decompose(b, op):
    """constant padding is a masked view (fused into its consumer); edge / reflect a library
    call."""
    if op.attrs["mode"] == "constant":
        return [b.op("_pad_view", op.inputs, {"pad_width": op.attrs["pad_width"],
                                              "constant_value": op.attrs["constant_value"]})]
    return [b.op("_pad_lib", op.inputs, op.attrs, parsed=True)]


register_op(OpDef(
    name="Pad", attrs=_PAD_ATTRS,
    arguments=("data",), infer_shape=_pad_rule, interp=_pad_np, vjp=_pad_vjp,
    decompose=_pad_decompose, validate=_pad_validate, aliases=("pad",),
    doc="Pads the spatial axes of a 4-d or 5-d input: constant, edge (replicate) or reflect.",
))
register_op(OpDef(
    name="_pad_lib", attrs=_PAD_ATTRS, arguments=("data",), infer_shape=_pad_rule,
    interp=_pad_np, vjp=_pad_vjp, lower=Extern(_pad_extern, "pad"),
    validate=_pad_validate, doc="Edge / reflect padding as a library call.",
))


def _pad_view_index(attrs, in_shape, out_shape, idx):
    pw = attrs["pad_width"]
    return [i - pw[2 * d] for d, i in enumerate(idx)]


def _pad_view_guard(attrs, in_shape, out_shape, idx):
    pw = attrs["pad_width"]
    return [("range", i - pw[2 * d], 0, in_shape[d]) for d, i in enumerate(idx)
            if pw[2 * d] or pw[2 * d + 1]]


def _pad_view_rule(rc, shapes):
    pw = rc.attrs["pad_width"]
    return tuple(d + pw[2 * i] + pw[2 * i + 1] for i, d in enumerate(shapes[0]))


def _pad_view_vjp(b, op, g):
    """The unpadded box of the head gradient."""
    pw = op.attrs["pad_width"]
    x = op.inputs[0]
    begin = tuple(pw[2 * i] for i in range(len(x.shape)))
    end = tuple(lo + d for lo, d in zip(begin, x.shape))
    return (b.op("_nn_crop", [g], {"begin": begin, "end": end}),)


register_op(OpDef(
    name="_pad_view", attrs=(Attr("pad_width", "shape"), Attr("constant_value", "float", 0.0)),
    arguments=("data",), infer_shape=forward_shape(_pad_view_rule),
    interp=lambda xs, a: _pad_np(xs, dict(a, mode="constant")), vjp=_pad_view_vjp,
    lower=View("custom", _pad_view_index, guard=_pad_view_guard,
               fill=lambda a: a["constant_value"]),
    traits={VIEW}, doc="Constant padding of any axes (a masked view: fused into consumers).",
))


def _pad_bwd_rule(rc, shapes):
    pw = rc.attrs["pad_width"]
    g = tuple(shapes[0])
    return [g], [tuple(d - pw[2 * i] - pw[2 * i + 1] for i, d in enumerate(g))]


def _pad_bwd_np(xs, a):
    g = xs[0]
    pw = a["pad_width"]
    shp = tuple(d - pw[2 * i] - pw[2 * i + 1] for i, d in enumerate(g.shape))
    # the adjoint of padding: every padded position adds its gradient to its source
    idx = []
    for i, d in enumerate(shp):
        lo, hi = pw[2 * i], pw[2 * i + 1]
        src = np.pad(np.arange(d), (lo, hi), mode=_NP_PAD[a["mode"]])
        idx.append(src)
    gx = np.zeros(shp, dtype=g.dtype)
    np.add.at(gx, np.ix_(*idx), g)
    return (gx,)


def _pad_bwd_extern(attrs, ins, outs):
    import torch
    g = ins[0]
    pw = attrs["pad_width"]
    shp = tuple(d - pw[2 * i] - pw[2 * i + 1] for i, d in enumerate(g.shape))
    with torch.enable_grad():
        x = torch.zeros(shp, dtype=g.dtype, device=g.device, requires_grad=True)
        (gx,) = torch.autograd.grad(_torch_pad(x, attrs), x, g)
    outs[0].copy_(gx)


register_op(OpDef(
    name="_pad_backward",
    attrs=(Attr("mode", "str", choices=("constant", "edge", "reflect")),
           Attr("pad_width", "shape")),
    arguments=("grad",), infer_shape=_pad_bwd_rule, interp=_pad_bwd_np, differentiable=False,
    lower=Extern(_pad_bwd_extern, "pad_backward"),
    doc="The gradient of edge / reflect padding: border gradients added to their sources.",
))
