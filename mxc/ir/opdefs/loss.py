"""Loss layers and loss functions: LinearRegressionOutput, LogisticRegressionOutput,
MAERegressionOutput, MakeLoss, make_loss (output layers whose backward ignores the head
gradient: trait LOSS), softmax_cross_entropy and smooth_l1 (ordinary differentiable ops).

MXNet 1.9.1 behaviours matched here (read off src/operator/regression_output-inl.h,
make_loss-inl.h, loss_binary_op-inl.h and confirmed against the oracle):

- ``*RegressionOutput``: the forward is identity (sigmoid for Logistic); the data gradient is
  ``grad_scale / m * f(out, label)`` with ``m = label.size / label.shape[0]`` (outputs per
  example) and ``f = out - label`` (Linear, Logistic) or ``out - label > 0 ? 1 : -1`` (MAE: a
  tie gives -1). The label gets no gradient. An unknown label takes the data's shape, or
  ``(N,)`` when the data is ``(N, 1)``.
- ``MakeLoss``: identity forward; gradient ``grad_scale`` everywhere, divided by the number of
  rows of the data flattened to 2-d (``prod(shape[:-1])``) for ``normalization='batch'``, or by
  ``max(1, count(data > valid_thresh))`` for ``'valid'``.
- ``make_loss``: identity forward, output named ``loss``; gradient ones. MXNet stores and
  ignores any attribute given to it (``grad_scale`` included); mxc accepts MakeLoss's three and
  ignores them likewise.
- ``softmax_cross_entropy(data (N, C), label (N,))``: ``-sum_i log softmax(data)[i, label_i]``,
  shape ``(1,)``; gradient ``(softmax(data) - onehot(label)) * head_grad``.
- ``smooth_l1(data, scalar=sigma)``: ``0.5 (sigma x)^2`` for ``|x| < 1/sigma^2``, else
  ``|x| - 0.5/sigma^2``; gradient ``sigma^2 x`` or ``sign(x)``.
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import ELEMENTWISE, LOSS, Elementwise, OpDef, register_op, same_shape
from ..types import numel, shape_str
from .nn import build_one_hot, softmax_np


# --- regression outputs ------------------------------------------------------------------------
def _reg_shape(rc, shapes):
    data, label = shapes
    if data is None:
        return [data, label], [None]
    data = tuple(data)
    if label is None:
        if len(data) == 2 and data[1] == 1:
            label = (data[0],)          # MXNet: a 1-d label by default for (N, 1) outputs
        else:
            label = data
        return [data, label], [data]
    label = tuple(label)
    bad = False
    if len(label) == 0 or len(data) == 0:
        bad = True
    else:
        if label[0] is not None and data[0] is not None and label[0] != data[0]:
            bad = True
        nl, nd = _numel_known(label), _numel_known(data)
        if nl is not None and nd is not None and nl != nd:
            bad = True
    if bad:
        raise rc.shape_error(f"label has shape ({shape_str(label)}); expected the data's batch "
                             f"size and number of elements (data ({shape_str(data)}))")
    return [data, label], [data]


def _numel_known(s):
    if s is None or any(d is None for d in s):
        return None
    return numel(s)


def _reg_dtype(rc, dts):
    d = dts[0] if dts[0] is not None else dts[1]
    return [d, dts[1] or d], [d]


def _sigmoid_np(x):
    return 1.0 / (1.0 + np.exp(-x))


def _reg_scale(op):
    label = op.inputs[1]
    per_example = numel(label.shape) // label.shape[0] if label.shape[0] else 1
    return op.attrs["grad_scale"] / per_example


def _reg_vjp(kind):
    def vjp(b, op, g):
        _x, label = op.inputs
        y = op.outputs[0]
        lab = b.reshape(label, y.shape)
        if lab.dtype != y.dtype:
            lab = b.cast(lab, y.dtype)
        d = b.sub(y, lab)
        scale = _reg_scale(op)
        if kind == "mae":
            # mshadow_op::minus_sign: a - b > 0 ? 1 : -1 (a tie gives -1)
            pos = b.op("_greater_scalar", [d], {"scalar": 0.0})
            grad = b.sub(b.mul(pos, 2.0 * scale), scale)
        else:
            grad = b.mul(d, scale) if scale != 1.0 else d
        return grad, None
    vjp.__doc__ = ("MXNet's RegressionBackward: grad_scale / (label.size / label.shape[0]) * "
                   + ("sign(out - label) with sign(0) = -1" if kind == "mae" else
                      "(out - label)") + "; the head gradient is ignored, the label gets none.")
    return vjp


def _identity_decompose(b, op):
    return [b.op("_copy", [op.inputs[0]])]


for _name, _kind, _doc in (
    ("LinearRegressionOutput", "linear",
     "Identity forward; backward (out - label) * grad_scale / m (squared loss)."),
    ("LogisticRegressionOutput", "logistic",
     "sigmoid(data) forward; backward (out - label) * grad_scale / m (logistic loss)."),
    ("MAERegressionOutput", "mae",
     "Identity forward; backward sign(out - label) * grad_scale / m (absolute loss)."),
):
    register_op(OpDef(
        name=_name,
        attrs=(Attr("grad_scale", "float", 1.0, doc="Scale the gradient by a float factor"),),
        arguments=("data", "label"), infer_shape=_reg_shape, infer_dtype=_reg_dtype,
        interp=((lambda xs, a: (_sigmoid_np(xs[0]),)) if _kind == "logistic"
                else (lambda xs, a: (xs[0].copy(),))),
        vjp=_reg_vjp(_kind),
        decompose=((lambda b, op: [b.op("sigmoid", [op.inputs[0]])]) if _kind == "logistic"
                   else _identity_decompose),
        traits={LOSS}, doc=_doc,
    ))


# --- MakeLoss / make_loss --------------------------------------------------------------------
_MAKELOSS_ATTRS = (
    Attr("grad_scale", "float", 1.0,
         doc="Gradient scale as a supplement to unary and binary operators"),
    Attr("valid_thresh", "float", 0.0,
         doc="clip each element in the array to 0 when it is less than ``valid_thresh``. "
             "This is used when ``normalization`` is set to ``'valid'``."),
    Attr("normalization", "str", "null", choices=("null", "batch", "valid"),
         doc="If this is set to null, the output gradient will not be normalized. If this is "
             "set to batch, the output gradient will be divided by the batch size. If this is "
             "set to valid, the output gradient will be divided by the number of valid input "
             "elements."),
)


def _makeloss_vjp(b, op, g):
    """MXNet's MakeLoss backward: grad_scale, / rows of the 2-d flattened data ('batch'), or
    / max(1, count(data > valid_thresh)) ('valid'); the head gradient is ignored."""
    x = op.inputs[0]
    a = op.attrs
    gs = a["grad_scale"]
    norm = a["normalization"]
    if norm == "valid":
        keep = b.op("_greater_scalar", [x], {"scalar": a["valid_thresh"]})
        cnt = b.sum(b.reshape(keep, (numel(x.shape),)), axis=0)
        cnt = b.maximum(cnt, 1.0)
        r = b.op("_rdiv_scalar", [cnt], {"scalar": gs})
        return (b.broadcast_to(r, x.shape),)
    if norm == "batch":
        rows = numel(x.shape[:-1]) if len(x.shape) > 1 else 1
        gs = gs / rows
    return (b.full(x.shape, gs, x.dtype),)


register_op(OpDef(
    name="MakeLoss", attrs=_MAKELOSS_ATTRS, arguments=("data",), infer_shape=same_shape,
    interp=lambda xs, a: (xs[0].copy(),), vjp=_makeloss_vjp, decompose=_identity_decompose,
    traits={LOSS},
    doc="Identity forward; the gradient is grad_scale (normalized by 'batch' or 'valid'), "
        "whatever the head gradient.",
))


register_op(OpDef(
    name="make_loss",
    attrs=tuple(Attr(a.name, a.kind, None, choices=a.choices, optional=True,
                     doc="accepted and ignored, as MXNet 1.9.1 does") for a in _MAKELOSS_ATTRS),
    arguments=("data",), outputs=("loss",), infer_shape=same_shape,
    interp=lambda xs, a: (xs[0].copy(),),
    vjp=lambda b, op, g: (b.ones_like(op.inputs[0]),),
    decompose=_identity_decompose, traits={LOSS},
    doc="Identity forward; the gradient is ones, whatever the head gradient (MXNet's "
        "make_loss ignores grad_scale and the other MakeLoss attributes).",
))


# --- softmax_cross_entropy ----------------------------------------------------------------------
def _sce_shape(rc, shapes):
    data, label = shapes
    if data is not None and len(data) != 2:
        raise rc.shape_error(f"data has shape ({shape_str(data)}); softmax_cross_entropy "
                             "only accepts 2-d data (batch, classes)")
    if label is not None and len(label) != 1:
        raise rc.shape_error(f"label has shape ({shape_str(label)}); softmax_cross_entropy "
                             "only accepts a 1-d label (batch,)")
    if data is not None and label is not None and None not in (data[0], label[0]) \
            and data[0] != label[0]:
        raise rc.shape_error(f"data ({shape_str(data)}) and label ({shape_str(label)}) "
                             "disagree on the batch size")
    if data is not None and label is None:
        label = (data[0],)
    if data is None:
        return [data, label], [None]
    return [tuple(data), tuple(label)], [(1,)]


def _sce_np(xs, a):
    x, label = xs
    p = softmax_np(x.astype(np.float64), 1)
    idx = label.astype(np.int64)
    return (np.array([-np.log(p[np.arange(x.shape[0]), idx]).sum()], dtype=x.dtype),)


def _log_softmax(b, x):
    m = b.max(x, axis=1, keepdims=True)
    z = b.op("broadcast_sub", [x, m])
    s = b.log(b.sum(b.exp(z), axis=1, keepdims=True))
    return b.op("broadcast_sub", [z, s])


def _sce_decompose(b, op):
    x, label = op.inputs
    oh = build_one_hot(b, label, x.shape[1], dtype=x.dtype)
    picked = b.neg(b.mul(oh, _log_softmax(b, x)))       # negated inside the one reduction
    return [b.sum(b.reshape(picked, (numel(x.shape),)), axis=0)]


def _sce_vjp(b, op, g):
    """(softmax(data) - onehot(label)) * head_grad; no gradient for the label (MXNet refuses
    to compute one)."""
    x, label = op.inputs
    p = b.exp(_log_softmax(b, x))
    oh = build_one_hot(b, label, x.shape[1], dtype=x.dtype)
    d = b.sub(p, oh)
    return b.op("broadcast_mul", [d, b.reshape(g, (1, 1))]), None


def _sce_dtype(rc, dts):
    d = dts[0]
    return [d, dts[1] or d], [d]


register_op(OpDef(
    name="softmax_cross_entropy", arguments=("data", "label"), infer_shape=_sce_shape,
    infer_dtype=_sce_dtype, interp=_sce_np, vjp=_sce_vjp, decompose=_sce_decompose,
    doc="Sum over the batch of -log softmax(data)[label]; output shape (1,).",
))


# --- smooth_l1 ------------------------------------------------------------------------------------
def _sl1_np(xs, a):
    x = xs[0]
    s2 = np.asarray(a["scalar"] * a["scalar"], dtype=x.dtype)
    inv = 1.0 / s2
    return (np.where(x > inv, x - 0.5 * inv,
                     np.where(x < -inv, -x - 0.5 * inv, 0.5 * x * x * s2)).astype(x.dtype),)


def _sl1_formula(k, a, x):
    s2 = a["scalar"] * a["scalar"]

    def c(v):
        return k.const(v, x.dtype)
    inv = c(1.0 / s2)
    half = c(0.5 / s2)
    quad = k.mul(k.mul(k.mul(x, x), c(0.5)), c(s2))
    return k.where(k.gt(x, inv), k.sub(x, half),
                   k.where(k.lt(x, k.neg(inv)), k.sub(k.neg(x), half), quad))


def _sl1_vjp(b, op, g):
    """MXNet's smooth_l1_gradient: 1 above 1/sigma^2, -1 below -1/sigma^2, else sigma^2 x."""
    x = op.inputs[0]
    s2 = op.attrs["scalar"] * op.attrs["scalar"]
    d = b.op("clip", [b.mul(x, s2)], {"a_min": -1.0, "a_max": 1.0})
    return (b.mul(g, d),)


register_op(OpDef(
    name="smooth_l1",
    attrs=(Attr("scalar", "float", 1.0, doc="sigma: the switch point is 1/sigma^2"),),
    arguments=("data",), infer_shape=same_shape,
    interp=_sl1_np, vjp=_sl1_vjp, lower=Elementwise(_sl1_formula), traits={ELEMENTWISE},
    doc="Smooth L1: 0.5 (sigma x)^2 where |x| < 1/sigma^2, |x| - 0.5/sigma^2 elsewhere.",
))
