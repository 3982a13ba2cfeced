"""Dense layers and output layers: dot (a GEMM extern call), FullyConnected, softmax,
SoftmaxOutput, and the index generators they decompose into (_arange, one_hot)."""
from __future__ import annotations

import numpy as np

from ...base import ShapeError
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
    if len(a) == 1 and len(b) == 1 and (ta or tb):
        raise rc.attr_error(f"transpose_a={ta}, transpose_b={tb} with two 1-d inputs "
                            f"({shape_str(a)}) and ({shape_str(b)}); expected no transpose "
                            "(MXNet cannot transpose a vector product)")
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


def _dot_split(attrs, in_shapes, out_shapes):
    """Row blocks of the lhs give row blocks of the product; with transpose_a (A^T B, a
    weight gradient) row blocks of both operands give partial products that sum up."""
    lhs, rhs = in_shapes
    if attrs["transpose_a"]:
        if len(lhs) == 2 and len(rhs) == 2 and not attrs["transpose_b"]:
            return [0, 0], ["sum"], None
        return None
    return ([0, None], [0], None) if len(lhs) >= 2 else None


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
    vjp=_dot_vjp, lower=Extern(_dot_extern, "gemm", split=_dot_split),
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
    o = rc.out_shapes[0] if rc.out_shapes else None
    if data is not None and o is not None and len(o) == (2 if a["flatten"] else len(data)):
        # MXNet: unknown batch (leading) dims of the data come from the output's
        n_lead = 1 if a["flatten"] else len(data) - 1
        data = tuple(o[i] if i < n_lead and d is None else d for i, d in enumerate(data))
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
        except ShapeError:
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
    """softmax(x / t) along axis, computed in float64, returned in x's dtype."""
    x = np.asarray(x)
    z = x.astype(np.float64)
    z = z if t is None or t == 1.0 else z / t
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


def build_softmax(b, x, axis, temperature=None):
    m = b.max(x, axis=axis, keepdims=True)
    z = b.op("broadcast_sub", [x, m])
    if temperature is not None and temperature != 1.0:
        z = b.div(z, float(temperature))
    e = b.exp(z)
    s = b.sum(e, axis=axis, keepdims=True)
    return b.op("broadcast_div", [e, s])


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


def _softmax_validate(rc):
    if rc.attrs["use_length"]:
        from ...base import UnsupportedError
        raise UnsupportedError(f"{rc.where}: mxc does not support softmax with use_length=True "
                               "yet; mask the input instead (e.g. add -inf where padded)")


def _softmax_dtype(rc, dts):
    d = rc.attrs["dtype"]
    return dts, [DType.parse(d) if d is not None else dts[0]]


def _softmax_np(xs, a):
    x = xs[0]
    if a["dtype"] is not None:
        x = x.astype(DType.parse(a["dtype"]).numpy)
    return (softmax_np(x, a["axis"], a["temperature"]),)


def _softmax_decompose(b, op):
    x = op.inputs[0]
    if op.attrs["dtype"] is not None:
        x = b.cast(x, op.attrs["dtype"])
    ax = norm_axis(_AxisRC(op), op.attrs["axis"], len(x.shape))
    return [build_softmax(b, x, ax, op.attrs["temperature"])]


def _softmax_vjp_cast(b, op, g):
    (gx,) = _softmax_vjp(b, op, g)
    return (b.cast(gx, op.inputs[0].dtype),)


register_op(OpDef(
    name="softmax",
    attrs=(Attr("axis", "int", -1, doc="The axis along which to compute softmax."),
           Attr("temperature", "float", None, optional=True,
                doc="Temperature parameter in softmax."),
           Attr("dtype", "dtype", None, optional=True,
                doc="DType of the output; the input's when None."),
           Attr("use_length", "bool", False, doc="Whether to use the length input (not "
                "supported by mxc).")),
    arguments=("data",), infer_shape=forward_shape(_softmax_rule), infer_dtype=_softmax_dtype,
    interp=_softmax_np, vjp=_softmax_vjp_cast, decompose=_softmax_decompose,
    validate=_softmax_validate,
    doc="exp(x/T) / sum(exp(x/T)) along axis; gradient (g*y - y*sum(g*y)) / T.",
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
    step = a["step"]
    if not dt.is_float and float(step).is_integer() and float(start).is_integer():
        v = k.add(k.mul(i, k.const(int(step), i.dtype)), k.const(int(start), i.dtype))
        return k.cast(v, dt)                      # integer iota: integer arithmetic
    v = k.cast(i, DType.f64) if not dt.is_float else k.cast(i, dt)
    v = k.add(k.mul(v, k.const(step, v.dtype)), k.const(start, v.dtype))
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
def _so_label_shapes(a, data):
    """Label shapes MXNet accepts for ``data`` (the first is the default), besides ``data``'s own
    shape (probability labels)."""
    data = tuple(data)
    if a["multi_output"]:
        n = data[0]
        spatial = numel(data[2:])
        return [(n, spatial), (n,) + data[2:], (n, 1) + data[2:]]
    return [data[:-1]]


def _so_rule(rc, shapes):
    data, label = shapes
    if data is not None and any(d is None for d in data):
        # partial data: MXNet still fills the label's shape (unknown dims stay unknown)
        want = _so_label_shapes(rc.attrs, data)[0] if len(data) >= 2 else None
        return [data, label if label is not None else want], [tuple(data)]
    if data is None:
        return [data, label], [None]
    data = tuple(data)
    if len(data) < 2:
        raise rc.shape_error(f"data has shape ({shape_str(data)}); expected at least 2 dimensions")
    ok = _so_label_shapes(rc.attrs, data)
    if label is None:
        return [data, ok[0]], [data]
    label = tuple(label)
    if label != data and label not in ok:
        want = " or ".join(f"({shape_str(s)})" for s in ok)
        raise rc.shape_error(f"label has shape ({shape_str(label)}); expected {want} from data "
                             f"({shape_str(data)}) (or the data's shape for probability labels)")
    return [data, label], [data]


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
    return (softmax_np(x.reshape(ws), ax).reshape(x.shape).astype(x.dtype),)


def _so_decompose(b, op):
    x = op.inputs[0]
    ax, ws = _so_layout(op.attrs, x.shape)
    return [b.reshape(build_softmax(b, b.reshape(x, ws), ax), x.shape)]


def _so_vjp(b, op, g):
    """MXNet 1.9.1's SoftmaxOutput gradient (src/operator/softmax_output-inl.h), the head
    gradient ignored (a loss layer); the label gets none:

    - probability labels (label shaped like data): ``(out - label) * grad_scale``;
    - otherwise ``out - onehot(label)`` on the working layout ((n, k) rows, (n, k, s) for
      multi_output); ``smooth_alpha`` replaces the one-hot by ``1 - alpha`` / ``alpha / (k-1)``
      (not for multi_output: MXNet's multi_output branch ignores it);
      with ``use_ignore`` rows whose label is ``ignore_label`` get 0. The layout uses the first
      ``n`` labels of the flattened label (MXNet reads a 2-d non-multi label that way);
    - scaled by ``grad_scale / cnt``: ``cnt`` is 1 ('null'), the number of labels ('batch'; for
      multi_output the batch size), or the labels not equal to ``ignore_label`` (at least 1;
      counted with or without use_ignore) for 'valid'. multi_output also divides by the
      spatial size unless 'valid';
    - ``out_grad=True`` multiplies by the softmax output: MXNet 1.9.1 passes its output where
      the head gradient was meant to go.
    """
    a = op.attrs
    x, label = op.inputs
    y = op.outputs[0]
    scale = a["grad_scale"]
    if tuple(label.shape) == tuple(x.shape):
        grad = b.sub(y, b.cast(label, x.dtype))
        if scale != 1.0:
            grad = b.mul(grad, scale)
        if a["out_grad"]:
            grad = b.mul(grad, y)
        return grad, None
    ax, ws = _so_layout(a, x.shape)
    c = ws[1]
    p = b.reshape(y, ws)
    lab_all = b.reshape(label, (numel(label.shape),))
    if a["multi_output"]:
        lab = b.reshape(label, (ws[0], ws[2]))
        oh = build_one_hot(b, lab, c, dtype=x.dtype)                  # (n, s, c)
        oh = b.transpose(oh, (0, 2, 1))
        lab_b = b.reshape(lab, (ws[0], 1, ws[2]))
    else:
        lab = lab_all
        if numel(label.shape) != ws[0]:
            lab = b.op("slice_axis", [lab_all], {"axis": 0, "begin": 0, "end": ws[0]})
        oh = build_one_hot(b, lab, c, dtype=x.dtype)                  # (n, c)
        lab_b = b.reshape(lab, (ws[0], 1))
    alpha = a["smooth_alpha"]
    if alpha and not a["multi_output"]:       # MXNet's multi_output branch does not smooth
        oh = b.add(b.mul(oh, 1.0 - alpha - alpha / (c - 1)), alpha / (c - 1))
    grad = b.sub(p, oh)
    if a["use_ignore"]:
        keep = b.cast(b.op("_not_equal_scalar", [lab_b], {"scalar": a["ignore_label"]}), x.dtype)
        grad = b.op("broadcast_mul", [grad, keep])
    norm = a["normalization"]
    n_labels = numel(label.shape)
    const = scale
    if a["multi_output"] and norm != "valid":
        const /= ws[2]
    if norm == "batch":
        const /= ws[0] if a["multi_output"] else n_labels
    if norm == "valid":
        # MXNet compares int(label) with int(ignore_label)
        lab_i = b.op("trunc", [b.cast(lab_all, x.dtype)])
        ign = float(int(a["ignore_label"]))
        valid = b.cast(b.op("_not_equal_scalar", [lab_i], {"scalar": ign}), x.dtype)
        cnt = b.maximum(b.sum(valid, axis=0), 1.0)
        grad = b.op("broadcast_div", [b.mul(grad, const) if const != 1.0 else grad,
                                      b.reshape(cnt, (1,) * len(ws))])
    elif const != 1.0:
        grad = b.mul(grad, const)
    if a["out_grad"]:
        grad = b.mul(grad, p)
    return b.reshape(grad, x.shape), None


register_op(OpDef(
    name="SoftmaxOutput",
    attrs=(Attr("grad_scale", "float", 1.0, doc="Scales the gradient by a float factor."),
           Attr("ignore_label", "float", -1.0,
                doc="Label value ignored in backward when use_ignore is set."),
           Attr("multi_output", "bool", False, doc="Softmax along axis 1 of N-d data."),
           Attr("use_ignore", "bool", False, doc="Ignore ignore_label in backward."),
           Attr("preserve_shape", "bool", False, doc="Softmax along the last axis."),
           Attr("normalization", "str", "null", choices=("null", "batch", "valid"),
                doc="Normalizes the gradient."),
           Attr("out_grad", "bool", False,
                doc="Multiplies the gradient with the output (MXNet 1.9.1's behaviour)."),
           Attr("smooth_alpha", "float", 0.0, doc="Label smoothing constant.")),
    arguments=("data", "label"), infer_shape=_so_rule, infer_dtype=_so_dtype, interp=_so_np,
    vjp=_so_vjp, decompose=_so_decompose, traits={LOSS}, aliases=("Softmax",),
    doc="Softmax forward; backward is (softmax - onehot(label)) scaled, ignoring the head grad.",
))

_ = numel_known, DType
