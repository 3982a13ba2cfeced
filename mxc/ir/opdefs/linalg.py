"""Linear algebra: batch_dot (a batched GEMM library call) and linalg.gemm / linalg.gemm2
(composites: a batched GEMM plus the elementwise ``alpha * AB + beta * C`` around it, which
fuses into one kernel). ``dot`` lives in nn.py beside FullyConnected.

MXNet 1.9.1 behaviours matched here (src/operator/tensor/dot-inl.h, la_op.{h,cc}, checked
against the oracle with tools/golden_cases/linalg.py):

- ``batch_dot`` takes two N-d arrays, N >= 3, with equal leading (batch) dimensions, and
  multiplies their last two dimensions (``transpose_a/b`` transpose those).
- ``linalg.gemm(A, B, C, alpha, beta, transpose_a, transpose_b, axis)`` is
  ``alpha * op(A) op(B) + beta * C`` over matrices whose rows lie along ``axis`` (default -2)
  and columns along the last axis; every other dimension is a batch dimension and must be
  equal in A, B and C (no broadcasting). ``gemm2`` has no C. ``axis`` must not be the last
  axis. With ``beta = 0`` mxc drops ``C`` from the computation (its gradient is 0).
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import Extern, OpDef, forward_shape, register_op
from ..types import shape_str
from ._util import norm_axis

_T = (Attr("transpose_a", "bool", False, doc="Transpose the first input before the product."),
      Attr("transpose_b", "bool", False, doc="Transpose the second input before the product."))


# --- batch_dot ------------------------------------------------------------------------------------
def _bd_rule(rc, shapes):
    a, b = shapes
    ta, tb = rc.attrs["transpose_a"], rc.attrs["transpose_b"]
    if len(a) < 3 or len(b) < 3 or len(a) != len(b):
        raise rc.shape_error(f"lhs has shape ({shape_str(a)}) and rhs ({shape_str(b)}); "
                             "expected two N-d arrays with N >= 3 (batch_dot multiplies the "
                             "last two dimensions)")
    if tuple(a[:-2]) != tuple(b[:-2]):
        raise rc.shape_error(f"lhs ({shape_str(a)}) and rhs ({shape_str(b)}) have different "
                             "batch dimensions; expected equal leading dimensions")
    m, ka = (a[-1], a[-2]) if ta else (a[-2], a[-1])
    kb, n = (b[-1], b[-2]) if tb else (b[-2], b[-1])
    if ka != kb:
        raise rc.shape_error(f"lhs ({shape_str(a)}) and rhs ({shape_str(b)}) do not agree on the "
                             f"contracted dimension ({ka} vs {kb}; transpose_a={ta}, "
                             f"transpose_b={tb})")
    return tuple(a[:-2]) + (m, n)


def _mT(x):
    return np.swapaxes(x, -1, -2)


def _bd_np(xs, a):
    x, y = xs
    x = _mT(x) if a["transpose_a"] else x
    y = _mT(y) if a["transpose_b"] else y
    return (np.matmul(x.astype(np.float64), y.astype(np.float64)).astype(xs[0].dtype),)


def _bd_extern(attrs, ins, outs):
    import torch
    x, y = ins
    x = x.transpose(-1, -2) if attrs["transpose_a"] else x
    y = y.transpose(-1, -2) if attrs["transpose_b"] else y
    torch.matmul(x, y, out=outs[0])


def batch_dot(b, x, y, transpose_a=False, transpose_b=False):
    return b.op("batch_dot", [x, y], {"transpose_a": transpose_a, "transpose_b": transpose_b})


def _bd_vjp(b, op, g):
    x, y = op.inputs
    ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
    bd = lambda u, v, p=False, q=False: batch_dot(b, u, v, p, q)
    if not ta and not tb:
        return bd(g, y, False, True), bd(x, g, True, False)
    if not ta and tb:
        return bd(g, y), bd(g, x, True, False)
    if ta and not tb:
        return bd(y, g, False, True), bd(x, g)
    return bd(y, g, True, True), bd(g, x, True, True)


register_op(OpDef(
    name="batch_dot",
    attrs=_T + (Attr("forward_stype", "str", None, optional=True,
                     choices=("None", "csr", "default", "row_sparse"),
                     doc="Storage type hint (dense only in mxc)."),),
    arguments=("lhs", "rhs"), infer_shape=forward_shape(_bd_rule), interp=_bd_np,
    vjp=_bd_vjp, lower=Extern(_bd_extern, "batched_gemm"), aliases=("_npx_batch_dot",),
    doc="Batched matrix product over the last two dimensions of N-d arrays (N >= 3).",
))


# --- linalg.gemm / gemm2 ------------------------------------------------------------------------
def _mm_axis(rc, ndim):
    ax = norm_axis(rc, rc.attrs["axis"], ndim)
    if ax == ndim - 1:
        raise rc.attr_error(f"axis={rc.attrs['axis']} names the last axis of a {ndim}-d input; "
                            "expected the row axis, other than the last (column) axis")
    return ax


def _gemm_out(rc, a, b):
    """Output shape of op(A) op(B) with rows along ``axis`` and columns along the last axis."""
    ta, tb = rc.attrs["transpose_a"], rc.attrs["transpose_b"]
    if len(a) < 2 or len(a) != len(b):
        raise rc.shape_error(f"A has shape ({shape_str(a)}) and B ({shape_str(b)}); expected "
                             "tensors of equal rank >= 2")
    ax = _mm_axis(rc, len(a))
    batch_a = [d for i, d in enumerate(a) if i not in (ax, len(a) - 1)]
    batch_b = [d for i, d in enumerate(b) if i not in (ax, len(b) - 1)]
    if batch_a != batch_b:
        raise rc.shape_error(f"A ({shape_str(a)}) and B ({shape_str(b)}) differ outside the "
                             f"matrix axes ({ax}, {len(a) - 1}); expected equal batch dimensions")
    m, ka = (a[-1], a[ax]) if ta else (a[ax], a[-1])
    kb, n = (b[-1], b[ax]) if tb else (b[ax], b[-1])
    if ka != kb:
        raise rc.shape_error(f"A ({shape_str(a)}) and B ({shape_str(b)}) do not agree on the "
                             f"contracted dimension ({ka} vs {kb}; transpose_a={ta}, "
                             f"transpose_b={tb}, axis={rc.attrs['axis']})")
    out = list(a)
    out[ax], out[-1] = m, n
    return tuple(out)


def _gemm_rule(rc, shapes):
    a, b, c = shapes
    out = _gemm_out(rc, a, b)
    if tuple(c) != out:
        raise rc.shape_error(f"C has shape ({shape_str(c)}); expected ({shape_str(out)}) from "
                             f"A ({shape_str(a)}) and B ({shape_str(b)})")
    return out


def _gemm2_rule(rc, shapes):
    return _gemm_out(rc, *shapes)


def _to_last2(x, ax):
    return np.moveaxis(x, ax, -2)


def _gemm_np(xs, a, with_c):
    A, B = xs[0], xs[1]
    ax = a["axis"] % A.ndim
    A2, B2 = _to_last2(A, ax).astype(np.float64), _to_last2(B, ax).astype(np.float64)
    A2 = _mT(A2) if a["transpose_a"] else A2
    B2 = _mT(B2) if a["transpose_b"] else B2
    r = a["alpha"] * np.matmul(A2, B2)
    if with_c:
        r = r + a["beta"] * _to_last2(xs[2], ax).astype(np.float64)
    return (np.moveaxis(r, -2, ax).astype(A.dtype),)


def _perm_to_last2(ndim, ax):
    return [i for i in range(ndim) if i not in (ax, ndim - 1)] + [ax, ndim - 1]


def _inverse(p):
    inv = [0] * len(p)
    for o, i in enumerate(p):
        inv[i] = o
    return inv


class _OpRC:
    def __init__(self, op):
        self.attrs = op.attrs
        self.name = op.name
        self.opname = op.opname

    def attr_error(self, m):
        from ...base import AttrError, op_prefix
        return AttrError(f"{op_prefix(self.opname, self.name)}: {m}")


def _gemm_decompose(b, op):
    """op(A) op(B) as one library GEMM (``dot`` for matrices, ``batch_dot`` for batches: no
    copies when the rows lie along axis -2), then ``alpha * . + beta * C`` as elementwise ops
    that fuse into one kernel; another row axis is moved next to the last one and back."""
    a = op.attrs
    nd = len(op.inputs[0].shape)
    ax = _mm_axis(_OpRC(op), nd)
    perm = _perm_to_last2(nd, ax)
    ins = [b.transpose(v, perm) for v in op.inputs]        # identity for axis = -2
    ta, tb = a["transpose_a"], a["transpose_b"]
    if nd == 2:
        y = b.dot(ins[0], ins[1], transpose_a=ta, transpose_b=tb)
    else:
        y = batch_dot(b, ins[0], ins[1], ta, tb)
    if a["alpha"] != 1.0:
        y = b.mul(y, float(a["alpha"]))
    if len(ins) == 3 and a["beta"] != 0.0:
        c = ins[2] if a["beta"] == 1.0 else b.mul(ins[2], float(a["beta"]))
        y = b.add(y, c)
    return [b.transpose(y, _inverse(perm))]


_GEMM_ATTRS = _T + (Attr("alpha", "float", 1.0, doc="Scalar factor multiplied with A*B."),)
_AXIS = (Attr("axis", "int", -2, doc="Axis corresponding to the matrix rows."),)

register_op(OpDef(
    name="_linalg_gemm",
    attrs=_GEMM_ATTRS + (Attr("beta", "float", 1.0, doc="Scalar factor multiplied with C."),)
    + _AXIS,
    arguments=("A", "B", "C"), infer_shape=forward_shape(_gemm_rule),
    interp=lambda xs, a: _gemm_np(xs, a, True), decompose=_gemm_decompose,
    aliases=("linalg_gemm",),
    doc="alpha * op(A) op(B) + beta * C over batches of matrices (rows along axis).",
))
register_op(OpDef(
    name="_linalg_gemm2",
    attrs=_GEMM_ATTRS + _AXIS,
    arguments=("A", "B"), infer_shape=forward_shape(_gemm2_rule),
    interp=lambda xs, a: _gemm_np(xs, a, False), decompose=_gemm_decompose,
    aliases=("linalg_gemm2",),
    doc="alpha * op(A) op(B) over batches of matrices (rows along axis).",
))
