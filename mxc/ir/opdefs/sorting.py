"""Sorting: topk, sort, argsort (library calls: torch.sort into the outputs) and the scatter their
gradients need.

MXNet 1.9.1 behaviours matched here (src/operator/tensor/ordering_op-inl.h, checked against the
oracle with tools/golden_cases/reduce.py):

- Sorting is stable: among equal values the first occurrence comes first, ascending or
  descending (``topk([1, 3, 3], k=2)`` gives indices ``[1, 2]``).
- ``axis=None`` sorts the flattened input; ``topk`` with ``k < 1`` returns the whole axis
  sorted; ``k`` larger than the axis is an error.
- ``topk`` outputs: ``ret_typ='indices'`` (default) one output of indices in ``dtype``
  (float32 by default); ``'mask'`` one output shaped like the input (input dtype) with 1 at the
  top k; ``'value'`` the values (plus a hidden indices output); ``'both'`` [values, indices].
  ``sort`` has a hidden indices output too; ``argsort`` returns indices in ``dtype``.
- Gradients: the values' head gradient is scattered back to where each value came from
  (``topk`` value/both, ``sort``); indices, masks and ``argsort`` have zero gradients.
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import Extern, OpDef, register_op
from ..types import DType, numel, shape_str
from ._util import norm_axis

_IDX_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8")
_HIDDEN_IDX = DType.i64


def _axis_len(rc, shape):
    """(normalized axis or None, length of the sorted axis)."""
    ax = rc.attrs["axis"]
    if ax is None:
        return None, numel(shape)
    ax = norm_axis(rc, ax, len(shape))
    return ax, shape[ax]


def _k(rc, shape):
    ax, n = _axis_len(rc, shape)
    k = rc.attrs.get("k", 0)
    if k < 1:
        k = n
    if k > n:
        raise rc.attr_error(f"k={k} is larger than the {n} elements along "
                            f"{'the flattened input' if ax is None else f'axis {ax}'} of data "
                            f"({shape_str(shape)}); expected k <= {n} (k < 1 sorts the whole axis)")
    return ax, n, k


def _sorted_shape(shape, ax, k):
    if ax is None:
        return (k,)
    return tuple(k if i == ax else d for i, d in enumerate(shape))


# --- reference (numpy, stable) -----------------------------------------------------------------
def _order_np(x, ax, ascend):
    """Stable sorting indices along ``ax`` (None: of the flattened input)."""
    if ax is None:
        x = x.reshape(-1)
        ax = 0
    if ascend:
        key = x
    elif x.dtype.kind == "u":
        key = x.max() - x if x.size else x
    else:
        key = -x.astype(np.float64) if x.dtype.kind == "f" else -x.astype(np.int64)
    return np.argsort(key, axis=ax, kind="stable"), x, ax


def _topk_np(xs, a):
    x = xs[0]
    ax = a["axis"]
    axn = None if ax is None else ax % x.ndim
    n = x.size if axn is None else x.shape[axn]
    k = a["k"] if a["k"] >= 1 else n
    idx, xf, axe = _order_np(x, axn, a["is_ascend"])
    idx = np.take(idx, np.arange(k), axis=axe)
    vals = np.take_along_axis(xf, idx, axis=axe)
    rt = a["ret_typ"]
    idt = DType.parse(a["dtype"]).numpy
    if rt == "mask":
        m = np.zeros_like(xf)
        np.put_along_axis(m, idx, 1, axis=axe)
        return (m.reshape(x.shape),)
    if rt == "indices":
        return (idx.astype(idt),)
    if rt == "value":
        return (vals, idx.astype(np.int64))
    return (vals, idx.astype(idt))


def _sort_np(xs, a):
    x = xs[0]
    ax = a["axis"]
    axn = None if ax is None else ax % x.ndim
    idx, xf, axe = _order_np(x, axn, a["is_ascend"])
    return (np.take_along_axis(xf, idx, axis=axe), idx.astype(np.int64))


def _argsort_np(xs, a):
    x = xs[0]
    ax = a["axis"]
    axn = None if ax is None else ax % x.ndim
    idx, _, _ = _order_np(x, axn, a["is_ascend"])
    return (idx.astype(DType.parse(a["dtype"]).numpy),)


# --- library calls -----------------------------------------------------------------------------------
def _torch_sort(x, ax, ascend):
    import torch
    if ax is None:
        x = x.reshape(-1)
        ax = 0
    vals, idx = torch.sort(x, dim=ax, descending=not ascend, stable=True)
    return vals, idx, ax


def _topk_extern(attrs, ins, outs):
    import torch
    x = ins[0]
    ax = attrs["axis"]
    ax = None if ax is None else ax % x.dim()
    vals, idx, axe = _torch_sort(x, ax, attrs["is_ascend"])
    n = vals.shape[axe]
    k = attrs["k"] if attrs["k"] >= 1 else n
    vals, idx = vals.narrow(axe, 0, k), idx.narrow(axe, 0, k)
    rt = attrs["ret_typ"]
    if rt == "mask":
        m = torch.zeros(x.shape if ax is not None else (x.numel(),), dtype=x.dtype,
                        device=x.device)
        m.scatter_(axe, idx, 1)
        outs[0].copy_(m.reshape(outs[0].shape))
    elif rt == "indices":
        outs[0].copy_(idx)
    else:
        outs[0].copy_(vals)
        outs[1].copy_(idx)


def _sort_extern(attrs, ins, outs):
    x = ins[0]
    ax = attrs["axis"]
    vals, idx, _ = _torch_sort(x, None if ax is None else ax % x.dim(), attrs["is_ascend"])
    outs[0].copy_(vals)
    outs[1].copy_(idx)


def _argsort_extern(attrs, ins, outs):
    x = ins[0]
    ax = attrs["axis"]
    _, idx, _ = _torch_sort(x, None if ax is None else ax % x.dim(), attrs["is_ascend"])
    outs[0].copy_(idx)


# --- gradient: scatter the values' gradient back ---------------------------------------------------------
def _scatter_shape(rc, shapes):
    return list(shapes), [tuple(rc.attrs["shape"])]


def _scatter_dtype(rc, dts):
    return dts, [dts[0]]


def _scatter_np(xs, a):
    g, idx = xs
    shape = tuple(a["shape"])
    ax = a["axis"]
    out = np.zeros(shape if ax is not None else (numel(shape),), dtype=g.dtype)
    if ax is None:
        np.add.at(out, idx.reshape(-1).astype(np.int64), g.reshape(-1))
        return (out.reshape(shape),)
    grids = list(np.indices(g.shape, sparse=True))
    grids[ax] = idx.astype(np.int64)
    np.add.at(out, tuple(grids), g)
    return (out,)


def _scatter_extern(attrs, ins, outs):
    g, idx = ins
    out = outs[0]
    out.zero_()
    ax = attrs["axis"]
    if ax is None:
        out.view(-1).scatter_add_(0, idx.reshape(-1).long(), g.reshape(-1))
    else:
        out.scatter_add_(ax, idx.long(), g)


register_op(OpDef(
    name="_topk_scatter",
    attrs=(Attr("axis", "int", None, optional=True,
                doc="the sorted axis; None: indices into the flattened output"),
           Attr("shape", "shape", doc="the output (sorted input's) shape")),
    arguments=("grad", "indices"), infer_shape=_scatter_shape, infer_dtype=_scatter_dtype,
    interp=_scatter_np, differentiable=False, lower=Extern(_scatter_extern, "scatter_add"),
    doc="out = zeros(shape); out[indices along axis] += grad: the gradient of topk/sort values.",
))


def _scatter_back(b, op, g_vals, idx):
    x = op.inputs[0]
    ax = op.attrs["axis"]
    ax = None if ax is None else ax % len(x.shape)
    return b.op("_topk_scatter", [g_vals, idx], {"axis": ax, "shape": tuple(x.shape)})


# --- topk -------------------------------------------------------------------------------------------------
def _topk_outputs(attrs):
    return ["output"] if attrs["ret_typ"] in ("indices", "mask") else ["output0", "output1"]


def _topk_visible(attrs):
    return 2 if attrs["ret_typ"] == "both" else 1


def _topk_shape(rc, shapes):
    s = shapes[0]
    n_out = 1 if rc.attrs["ret_typ"] in ("indices", "mask") else 2
    if s is None or any(d is None for d in s):
        return list(shapes), [None] * n_out
    s = tuple(s)
    ax, _, k = _k(rc, s)
    if rc.attrs["ret_typ"] == "mask":
        return [s], [s]
    out = _sorted_shape(s, ax, k)
    return [s], [out] * n_out


def _topk_dtype(rc, dts):
    d = dts[0]
    idt = DType.parse(rc.attrs["dtype"])
    rt = rc.attrs["ret_typ"]
    if rt == "mask":
        return dts, [d]
    if rt == "indices":
        return dts, [idt]
    if rt == "value":
        return dts, [d, _HIDDEN_IDX]
    return dts, [d, idt]


def _topk_vjp(b, op, g):
    if op.attrs["ret_typ"] not in ("value", "both"):
        return (None,)
    return (_scatter_back(b, op, g[0], op.outputs[1]),)


register_op(OpDef(
    name="topk",
    attrs=(Attr("axis", "int", -1, optional=True,
                doc="Axis along which to choose the top k; None uses the flattened input."),
           Attr("k", "int", 1, doc="Number of top elements; k < 1 sorts the whole axis."),
           Attr("ret_typ", "str", "indices", choices=("both", "indices", "mask", "value"),
                doc="Return values, indices, both, or a 0/1 mask of the top k."),
           Attr("is_ascend", "bool", False, doc="Choose the k smallest instead of the largest."),
           Attr("dtype", "str", "float32", choices=_IDX_DTYPES,
                doc="DType of the output indices (ret_typ indices or both).")),
    arguments=("data",), outputs=_topk_outputs, num_visible_outputs=_topk_visible,
    infer_shape=_topk_shape, infer_dtype=_topk_dtype, interp=_topk_np, vjp=_topk_vjp,
    lower=Extern(_topk_extern, "topk"), aliases=("_npx_topk",),
    doc="The top k elements (or their indices, or a mask) along an axis; stable on ties.",
))


# --- sort / argsort -------------------------------------------------------------------------------------
def _sort_shape(rc, shapes, n_out):
    s = shapes[0]
    if s is None or any(d is None for d in s):
        return list(shapes), [None] * n_out
    s = tuple(s)
    ax, n = _axis_len(rc, s)
    return [s], [_sorted_shape(s, ax, n)] * n_out


register_op(OpDef(
    name="sort",
    attrs=(Attr("axis", "int", -1, optional=True,
                doc="Axis to sort along; None sorts the flattened input."),
           Attr("is_ascend", "bool", True, doc="Sort in ascending order.")),
    arguments=("data",), outputs=("output0", "output1"), num_visible_outputs=1,
    infer_shape=lambda rc, shapes: _sort_shape(rc, shapes, 2),
    infer_dtype=lambda rc, dts: (dts, [dts[0], _HIDDEN_IDX]),
    interp=_sort_np, vjp=lambda b, op, g: (_scatter_back(b, op, g[0], op.outputs[1]),),
    lower=Extern(_sort_extern, "sort"), aliases=("_npi_sort",),
    doc="A sorted copy along an axis (stable); the gradient goes back to each value's origin.",
))

register_op(OpDef(
    name="argsort",
    attrs=(Attr("axis", "int", -1, optional=True,
                doc="Axis to sort along; None sorts the flattened input."),
           Attr("is_ascend", "bool", True, doc="Sort in ascending order."),
           Attr("dtype", "str", "float32", choices=_IDX_DTYPES,
                doc="DType of the output indices.")),
    arguments=("data",), infer_shape=lambda rc, shapes: _sort_shape(rc, shapes, 1),
    infer_dtype=lambda rc, dts: (dts, [DType.parse(rc.attrs["dtype"])]),
    interp=_argsort_np, differentiable=False, lower=Extern(_argsort_extern, "argsort"),
    aliases=("_npi_argsort",),
    doc="The indices that sort the input along an axis (stable), in dtype.",
))
