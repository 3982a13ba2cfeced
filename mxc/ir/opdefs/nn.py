"""Dense layers and output layers: dot (a GEMM extern call), FullyConnected, softmax,
SoftmaxOutput, and the index generators they decompose into (_arange, one_hot)."""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import (ELEMENTWISE, LOSS, Elementwise, Extern, OpDef, forward_dtype,
                        forward_shape, register_op, unify_shapes)
from ..types import DType, numel, shape_str
from ._util import norm_axis


# --- dot ------------------------------------------------------------------------------------------
def dot_dims(lshape, rshape, ta, tb):
    """MXNet's dot on N-d inputs as a 2-d product: returns (M, K, N, out_shape, lhs2d, rhs2d),
    where lhs2d/rhs2d are the 2-d views (before transposition) of each operand."""
    if len(lshape) == 1 and len(rshape) == 1:
        return 1, lshape[0], 1, (1,), (1, lshape[0]), (rshape[0], 1), lshape[0] == rshape[0]
    if ta:
        l2 = (lshape[0], numel(lshape[1:]))
        k_l, m, lrest = l2[0], l2[1], tuple(lshape[1:])
    else:
        l2 = (numel(lshape[:-1]), lshape[-1])
        m, k_l, lrest = l2[0], l2[1], tuple(lshape[:-1])
    if tb:
        r2 = (numel(rshape[:-1]), rshape[-1])
        n, k_r, rrest = r2[0], r2[1], tuple(rshape[:-1])
    else:
        r2 = (rshape[0], numel(rshape[1:]))
        k_r, n, rrest = r2[0], r2[1], tuple(rshape[1:])
    out = (lrest if len(lshape) > 1 else ()) + (rrest if len(rshape) > 1 else ())
    return m, k_l, n, out or (1,), l2, r2, k_l == k_r


def _dot_rule(rc, shapes):
    a, b = shapes
    ta, tb = rc.attrs["transpose_a"], rc.attrs["transpose_b"]
    if len(a) == 0 or len(b) == 0:
        raise rc.shape_error("dot needs inputs of rank >= 1")
    m, k, n, out, _, _, ok = dot_dims(a, b, ta, tb)
    if not ok:
        raise rc.shape_error(f"lhs ({shape_str(a)}) and rhs ({shape_str(b)}) do not agree on the "
                             f"contracted dimension (transpose_a={ta}, transpose_b={tb})")
    return out


def _dot_np(xs, a):
    x, y = xs
    ta, tb = a["transpose_a"], a["transpose_b"]
    m, k, n, out, l2, r2, _ = dot_dims(x.shape, y.shape, ta, tb)
    x2 = x.reshape(l2)
    y2 = y.reshape(r2)
    r = (x2.T if ta else x2) @ (y2.T if tb else y2)
    return (r.reshape(out),)


def _dot_extern(attrs, ins, outs):
    import torch
    x, y = ins
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    m, k, n, out, l2, r2, _ = dot_dims(tuple(x.shape), tuple(y.shape), ta, tb)
    x2 = x.reshape(l2)
    y2 = y.reshape(r2)
    torch.matmul(x2.t() if ta else x2, y2.t() if tb else y2, out=outs[0].view(m, n))


def _dot_vjp(b, op, g):
    x, y = op.inputs
    ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
    m, k, n, out, l2, r2, _ = dot_dims(x.shape, y.shape, ta, tb)
    x2, y2 = b.reshape(x, l2), b.reshape(y, r2)
    g2 = b.reshape(g, (m, n))
    if not ta and not tb:
        gx, gy = b.dot(g2, y2, transpose_b=True), b.dot(x2, g2, transpose_a=True)
    elif not ta and tb:
        gx, gy = b.dot(g2, y2), b.dot(g2, x2, transpose_a=True)
    elif ta and not tb:
        gx, gy = b.dot(y2, g2, transpose_b=True), b.dot(x2, g2)
    else:
        gx = b.dot(y2, g2, transpose_a=True, transpose_b=True)
        gy = b.dot(g2, x2, transpose_a=True, transpose_b=True)
    return b.reshape(gx, x.shape), b.reshape(gy, y.shape)


register_op(OpDef(
    name="dot",
    attrs=(Attr("transpose_a", "bool", False), Attr("transpose_b", "bool", False),
           Attr("forward_stype", "str", None, optional=True)),
    arguments=("lhs", "rhs"), infer_shape=forward_shape(_dot_rule), interp=_dot_np,
    vjp=_dot_vjp, lower=Extern(_dot_extern, "gemm"),
    doc="Matrix product; N-d operands are flattened to 2-d as MXNet does.",
))


# --- FullyConnected ------------------------------------------------------------------------------
def _fc_args(attrs):
    return ["data", "weight"] if attrs["no_bias"] else ["data", "weight", "bias"]


def _fc_validate(rc):
    if rc.attrs["num_hidden"] < 1:
        raise rc.attr_error(f"num_hidden={rc.attrs['num_hidden']}; expected num_hidden >= 1")


def _fc_rule(rc, shapes):
    a = rc.attrs
    h = a["num_hidden"]
    data = shapes[0]
    k = None
    out = None
    if data is not None:
        if a["flatten"]:
            rest = data[1:]
            if any(d is None for d in rest):
                # MXNet: the flattened feature size must be known (only the batch may be 0)
                raise rc.shape_error(f"data has shape ({shape_str(data)}); its feature "
                                     "dimensions must be known")
            k = numel(rest)
            out = (data[0] if data else None, h)
        else:
            k = data[-1]
            out = tuple(data[:-1]) + (h,)
    if data is None:                 # MXNet infers nothing until the data's rank is known
        return list(shapes), [None]
    want_w = (h, k)
    names = rc.input_names()
    new = [data]
    for i, (nm, want) in enumerate(zip(names[1:], [want_w, (h,)]), start=1):
        got = shapes[i]
        try:
            s = unify_shapes(rc, [want, got])
        except Exception:
            raise rc.shape_error(
                f"{nm} has shape ({shape_str(got)}); expected ({shape_str(want)}) from "
                f"num_hidden={h} and data ({shape_str(data)})") from None
        new.append(s)
    return new, [out]


def _fc_np(xs, a):
    x, w = xs[0], xs[1]
    x2 = x.reshape(x.shape[0], -1) if a["flatten"] else x
    y = x2 @ w.T
    if not a["no_bias"]:
        y = y + xs[2]
    return (y,)


def _fc_decompose(b, op):
    x, w = op.inputs[0], op.inputs[1]
    if op.attrs["flatten"] and len(x.shape) != 2:
        x = b.reshape(x, (x.shape[0], numel(x.shape[1:])))
    y = b.dot(x, w, transpose_b=True)
    if not op.attrs["no_bias"]:
        y = b.op("broadcast_add", [y, op.inputs[2]])
    return [y]


def _fc_vjp(b, op, g):
    x, w = op.inputs[0], op.inputs[1]
    x2 = b.reshape(x, (x.shape[0], numel(x.shape[1:]))) if op.attrs["flatten"] else \
        b.reshape(x, (numel(x.shape[:-1]), x.shape[-1]))
    g2 = b.reshape(g, (x2.shape[0], op.attrs["num_hidden"]))
    gx = b.reshape(b.dot(g2, w), x.shape)
    gw = b.dot(g2, x2, transpose_a=True)
    if op.attrs["no_bias"]:
        return gx, gw
    return gx, gw, b.sum(g2, axis=0)


register_op(OpDef(
    name="FullyConnected",
    attrs=(Attr("num_hidden", "int", doc="Number of hidden nodes of the output."),
           Attr("no_bias", "bool", False), Attr("flatten", "bool", True)),
    arguments=_fc_args, infer_shape=_fc_rule, interp=_fc_np, vjp=_fc_vjp,
    decompose=_fc_decompose, validate=_fc_validate,
    doc="y = x W^T + b; x is flattened to 2-d unless flatten=False.",
))


# --- softmax ---------------------------------------------------------------------------------------
def softmax_np(x, axis, t=None):
    z = x if t is None or t == 1.0 else x / t
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def build_softmax(b, x, axis, temperature=None):
    m = b.max(x, axis=axis, keepdims=True)
    z = b.op("broadcast_sub", [x, m])
    if temperature is not None and temperature != 1.0:
        z = b.div(z, float(temperature))
    e = b.exp(z)
    s = b.sum(e, axis=axis, keepdims=True)
    return b.op("broadcast_div", [e, s])


def _softmax_axis(op_or_rc, ndim):
    return norm_axis(op_or_rc, op_or_rc.attrs["axis"], ndim)


class _AxisRC:
    def __init__(self, op):
        self.attrs = op.attrs
        self.name = op.name
        self.opname = op.opname

    def attr_error(self, m):
        from ...base import AttrError
        return AttrError(f"{self.opname} '{self.name}': {m}")


def _softmax_rule(rc, shapes):
    norm_axis(rc, rc.attrs["axis"], len(shapes[0]))
    return tuple(shapes[0])


def _softmax_vjp(b, op, g):
    y = op.outputs[0]
    ax = norm_axis(_AxisRC(op), op.attrs["axis"], len(y.shape))
    gy = b.mul(g, y)
    s = b.sum(gy, axis=ax, keepdims=True)
    gx = b.sub(gy, b.op("broadcast_mul", [y, s]))
    t = op.attrs["temperature"]
    if t is not None and t != 1.0:
        gx = b.div(gx, float(t))
    return (gx,)


register_op(OpDef(
    name="softmax",
    attrs=(Attr("axis", "int", -1), Attr("temperature", "float", None, optional=True),
           Attr("dtype", "dtype", None, optional=True), Attr("use_length", "bool", False)),
    arguments=("data",), infer_shape=forward_shape(_softmax_rule),
    interp=lambda xs, a: (softmax_np(xs[0], a["axis"], a["temperature"]),),
    vjp=_softmax_vjp,
    decompose=lambda b, op: [build_softmax(b, op.inputs[0],
                                           norm_axis(_AxisRC(op), op.attrs["axis"],
                                                     len(op.inputs[0].shape)),
                                           op.attrs["temperature"])],
    doc="exp(x/T) / sum(exp(x/T)) along axis.",
))


# --- index generators: _arange, one_hot ---------------------------------------------------------
def _arange_len(a):
    start, stop, step, rep = a["start"], a["stop"], a["step"], a["repeat"]
    if stop is None:
        start, stop = 0.0, start
    n = int(np.ceil((stop - start) / step))
    return max(n, 0) * rep, start


def _arange_rule(rc, shapes):
    n, _ = _arange_len(rc.attrs)
    return [], [(n,)]


def _arange_np(xs, a):
    n, start = _arange_len(a)
    i = np.arange(n) // a["repeat"]
    return ((start + i * a["step"]).astype(DType.parse(a["dtype"]).numpy),)


def _arange_formula(k, a):
    _, start = _arange_len(a)
    dt = DType.parse(a["dtype"])
    i = k.index(0)
    if a["repeat"] != 1:
        i = k.floordiv(i, k.const(a["repeat"], i.dtype))
    v = k.cast(i, DType.f64) if not dt.is_float else k.cast(i, dt)
    v = k.add(k.mul(v, k.const(a["step"], v.dtype)), k.const(start, v.dtype))
    return k.cast(v, dt)


register_op(OpDef(
    name="_arange",
    attrs=(Attr("start", "float"), Attr("stop", "float", None, optional=True),
           Attr("step", "float", 1.0), Attr("repeat", "int", 1),
           Attr("infer_range", "bool", False), Attr("ctx", "str", ""),
           Attr("dtype", "dtype", "float32")),
    arguments=(), infer_shape=_arange_rule,
    infer_dtype=lambda rc, d: ([], [DType.parse(rc.attrs["dtype"])]),
    interp=_arange_np, differentiable=False, lower=Elementwise(_arange_formula),
    traits={ELEMENTWISE}, aliases=("arange",),
))


def _one_hot_rule(rc, shapes):
    return tuple(shapes[0]) + (rc.attrs["depth"],)


def _one_hot_np(xs, a):
    x = xs[0]
    eq = x[..., None].astype(np.int64) == np.arange(a["depth"])
    return (np.where(eq, a["on_value"], a["off_value"]).astype(DType.parse(a["dtype"]).numpy),)


def build_one_hot(b, x, depth, on=1.0, off=0.0, dtype="float32"):
    xi = b.reshape(x, tuple(x.shape) + (1,))
    r = b.op("_arange", [], {"start": 0.0, "stop": float(depth), "dtype": x.dtype.np_name})
    eq = b.op("broadcast_equal", [xi, r])
    eq = b.cast(eq, dtype)
    if on != 1.0 or off != 0.0:
        eq = b.add(b.mul(eq, on - off), off)
    return eq


register_op(OpDef(
    name="one_hot",
    attrs=(Attr("depth", "int"), Attr("on_value", "float", 1.0), Attr("off_value", "float", 0.0),
           Attr("dtype", "dtype", "float32")),
    arguments=("indices",), infer_shape=forward_shape(_one_hot_rule),
    infer_dtype=forward_dtype(lambda rc, d: DType.parse(rc.attrs["dtype"])),
    interp=_one_hot_np, differentiable=False,
    decompose=lambda b, op: [build_one_hot(b, op.inputs[0], op.attrs["depth"],
                                           op.attrs["on_value"], op.attrs["off_value"],
                                           op.attrs["dtype"])],
))


# --- SoftmaxOutput ------------------------------------------------------------------------------
def _so_rule(rc, shapes):
    a = rc.attrs
    data, label = shapes
    if data is None:
        return [data, label], [None]
    if a["multi_output"]:
        want = (data[0],) + tuple(data[2:])
    elif a["preserve_shape"]:
        want = tuple(data[:-1])
    else:
        want = (data[0],)
    if label is not None and tuple(label) != want and numel_known(label) != numel_known(want):
        raise rc.shape_error(f"label has shape ({shape_str(label)}); expected "
                             f"({shape_str(want)}) from data ({shape_str(data)})")
    return [data, label if label is not None else want], [tuple(data)]


def numel_known(s):
    if s is None or any(d is None for d in s):
        return None
    return numel(s)


def _so_dtype(rc, dts):
    d = dts[0]
    return [d, dts[1] or d], [d]


def _so_layout(op_attrs, shape):
    """(softmax axis, 2-d/3-d working shape) for SoftmaxOutput's modes."""
    if op_attrs["multi_output"]:
        return 1, (shape[0], shape[1], numel(shape[2:]))
    if op_attrs["preserve_shape"]:
        return 1, (numel(shape[:-1]), shape[-1])
    return 1, (shape[0], numel(shape[1:]))


def _so_np(xs, a):
    x = xs[0]
    ax, ws = _so_layout(a, x.shape)
    return (softmax_np(x.reshape(ws), ax).reshape(x.shape),)


def _so_decompose(b, op):
    x = op.inputs[0]
    ax, ws = _so_layout(op.attrs, x.shape)
    return [b.reshape(build_softmax(b, b.reshape(x, ws), ax), x.shape)]


def _so_vjp(b, op, g):
    """MXNet's SoftmaxOutput gradient: (softmax - onehot(label)) * grad_scale / norm.

    The head gradient is ignored (a loss layer); with use_ignore, rows whose label equals
    ignore_label get no gradient; normalization 'batch' divides by the batch size, 'valid' by
    the number of labels not ignored; smooth_alpha spreads alpha over the wrong classes.
    The label gets no gradient.
    """
    a = op.attrs
    x, label = op.inputs
    y = op.outputs[0]
    ax, ws = _so_layout(a, x.shape)
    c = ws[1]
    p = b.reshape(y, ws)
    if a["multi_output"]:
        lab = b.reshape(label, (ws[0], ws[2]))
        oh = build_one_hot(b, lab, c, dtype=x.dtype)                  # (n, x, c)
        oh = b.transpose(oh, (0, 2, 1))
        lab_b = b.reshape(lab, (ws[0], 1, ws[2]))
    else:
        lab = b.reshape(label, (ws[0],))
        oh = build_one_hot(b, lab, c, dtype=x.dtype)                  # (n, c)
        lab_b = b.reshape(lab, (ws[0], 1))
    alpha = a["smooth_alpha"]
    if alpha:
        oh = b.add(b.mul(oh, 1.0 - alpha - alpha / (c - 1)), alpha / (c - 1))
    grad = b.sub(p, oh)
    scale = a["grad_scale"]
    if a["use_ignore"]:
        keep = b.op("_not_equal_scalar", [lab_b], {"scalar": a["ignore_label"]})
        keep = b.cast(keep, x.dtype)
        grad = b.op("broadcast_mul", [grad, keep])
    norm = a["normalization"]
    if norm == "batch":
        grad = b.mul(grad, scale / ws[0])
    elif norm == "valid":
        if a["use_ignore"]:
            cnt = b.sum(b.reshape(keep, (numel(keep.shape),)), axis=0)
            cnt = b.maximum(cnt, 1.0)
            grad = b.op("broadcast_div", [b.mul(grad, scale), b.reshape(cnt, (1,) * len(ws))])
        else:
            grad = b.mul(grad, scale / (numel(label.shape)))
    elif scale != 1.0:
        grad = b.mul(grad, scale)
    return b.reshape(grad, x.shape), None


register_op(OpDef(
    name="SoftmaxOutput",
    attrs=(Attr("grad_scale", "float", 1.0), Attr("ignore_label", "float", -1.0),
           Attr("multi_output", "bool", False), Attr("use_ignore", "bool", False),
           Attr("preserve_shape", "bool", False),
           Attr("normalization", "str", "null", choices=("null", "batch", "valid")),
           Attr("out_grad", "bool", False), Attr("smooth_alpha", "float", 0.0)),
    arguments=("data", "label"), infer_shape=_so_rule, infer_dtype=_so_dtype, interp=_so_np,
    vjp=_so_vjp, decompose=_so_decompose, traits={LOSS}, aliases=("Softmax",),
    doc="Softmax forward; backward is (softmax - onehot(label)) scaled, ignoring the head grad.",
))

_ = numel_known, DType
