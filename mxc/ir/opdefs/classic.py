"""Classic MXNet 1.x operators, each a composition of primitives (fusion makes them kernels):

- ``hard_sigmoid``: ``clip(alpha * x + beta, 0, 1)``, one elementwise primitive; the gradient is
  ``alpha * g`` where ``0 < alpha * x + beta < 1`` (strictly, as MXNet's backward kernel).
- ``softmin``: ``softmax(-x / T)`` along ``axis``; autodiff differentiates the decomposition.
- ``shape_array`` / ``size_array``: the input's shape / element count as int64 constants (no
  gradient, as in MXNet).
- ``moments``: mean and (biased) variance over ``axes`` (which must be given, as in MXNet),
  two outputs.
- ``cumsum`` (MXNet's ``_np_cumsum``): the inclusive prefix sum along ``axis`` (the flattened
  input when None) as a product with an upper-triangular matrix of ones (a GEMM); the gradient is
  the reversed prefix sum, which autodiff derives from the product.
- ``diag``: a 1-d input becomes a square matrix with it on the ``k``-th diagonal (broadcast times
  a band mask); an N-d input gives the ``k``-th diagonal of the planes spanned by ``axis1`` and
  ``axis2`` (moved to the end), appended as the last axis: a strided slice of the flattened plane.
- ``depth_to_space`` / ``space_to_depth``: NCHW reshape / transpose / reshape (DCR order).
- ``batch_take(a, indices)``: ``a[i, indices[i]]`` with indices clipped (``pick`` along axis 1).
- ``khatri_rao``: column-wise Kronecker product of matrices ``(M_i, N)`` -> ``(prod M_i, N)``.
- ``ravel_multi_index`` ((ndim, N) -> (N,)) / ``unravel_index`` ((N,) -> (ndim, N)): index
  arithmetic with the row-major strides of ``shape`` (no gradient); as MXNet's, the first
  unravelled component is not wrapped.
- ``LRN``: ``x / (knorm + alpha / nsize * sum_window(x^2)) ^ beta``, the window of ``nsize``
  channels centred on each channel (zero outside): shifted slices of a zero-padded square.
- ``GroupNorm``: normalise each of ``num_groups`` channel groups of each sample, then scale and
  shift by the group's ``gamma`` / ``beta`` (MXNet 1.9.1 gives them shape ``(num_groups,)``);
  outputs ``(output, mean, std)`` of which ``output_mean_var`` shows the last two; as in MXNet
  the gradients of mean and std are ignored.
- ``SVMOutput``: identity forward; its backward ignores the head gradient and is the L1
  (``use_linear``) or squared hinge-loss gradient with ``margin`` and
  ``regularization_coefficient``, as MXNet's.
- ``_eye``: the identity-like matrix with ones on the ``k``-th diagonal.
- ``_split_v2``: slices of the input along ``axis`` (equal ``sections`` or at ``indices``).
- ``scatter_nd``: a library scatter (data-dependent addresses) into zeros; gradient gather_nd.
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import (
    ELEMENTWISE,
    LOSS,
    Elementwise,
    Extern,
    OpDef,
    forward_shape,
    register_op,
    same_dtype,
    same_shape,
)
from ..types import DType, shape_str
from ._util import norm_axes, norm_axis


class _OpRC:
    """The error helpers of a RuleCtx for an op inside a decomposition."""

    def __init__(self, op):
        self.attrs = op.attrs
        self.name = op.name
        self.opname = op.opname

    def attr_error(self, m):
        from ...base import AttrError, op_prefix
        return AttrError(f"{op_prefix(self.opname, self.name)}: {m}")


def _i64(rc, dts):
    return dts, [DType.parse("int64")] * rc.opdef.num_outputs(rc.attrs)


# --- shared builders ---------------------------------------------------------------------------
def band_mask(b, rows, cols, k, cmp, dtype):
    """A ``(rows, cols)`` matrix of 1/0 in ``dtype``: ``col - row  cmp  k`` with cmp one of
    ``eq`` (the k-th diagonal), ``ge`` (on or above it), ``le`` (on or below it)."""
    r = b.op("_arange", [], {"start": float(k), "stop": float(k + rows), "dtype": "float64"})
    c = b.op("_arange", [], {"start": 0.0, "stop": float(cols), "dtype": "float64"})
    r = b.reshape(r, (rows, 1))
    c = b.reshape(c, (1, cols))
    name = {"eq": "broadcast_equal", "ge": "broadcast_greater_equal",
            "le": "broadcast_lesser_equal"}[cmp]
    return b.cast(b.op(name, [c, r]), dtype)


def _zeros(b, shape, dtype):
    return b.op("_zeros", [], {"shape": tuple(shape), "dtype": DType.parse(dtype).np_name})


def pad_axis(b, x, axis, before, after):
    """Zero-pad ``x`` along ``axis`` (a Concat with zero blocks)."""
    parts = []
    for n in (before, None, after):
        if n is None:
            parts.append(x)
        elif n > 0:
            s = list(x.shape)
            s[axis] = n
            parts.append(_zeros(b, s, x.dtype))
    if len(parts) == 1:
        return x
    return b.op("Concat", parts, {"num_args": len(parts), "dim": axis})


# --- hard_sigmoid --------------------------------------------------------------------------------
def _hs_np(xs, a):
    x = xs[0]
    return (np.clip(a["alpha"] * x.astype(np.float64) + a["beta"], 0, 1).astype(x.dtype),)


def _hs_formula(k, a, x):
    t = k.add(k.mul(x, k.const(a["alpha"], x.dtype)), k.const(a["beta"], x.dtype))
    return k.min(k.max(t, k.const(0.0, x.dtype)), k.const(1.0, x.dtype))


def _hs_vjp(b, op, g):
    a = op.attrs
    x = op.inputs[0]
    t = b.add(b.mul(x, float(a["alpha"])), float(a["beta"]))
    inside = b.mul(b.op("_greater_scalar", [t], {"scalar": 0.0}),
                   b.op("_lesser_scalar", [t], {"scalar": 1.0}))
    return (b.mul(b.mul(g, inside), float(a["alpha"])),)


register_op(OpDef(
    name="hard_sigmoid",
    attrs=(Attr("alpha", "float", 0.2, doc="Slope of hard sigmoid"),
           Attr("beta", "float", 0.5, doc="Bias of hard sigmoid.")),
    arguments=("data",), infer_shape=same_shape, interp=_hs_np, vjp=_hs_vjp,
    lower=Elementwise(_hs_formula), traits={ELEMENTWISE},
    doc="clip(alpha * x + beta, 0, 1); gradient alpha * g strictly inside (0, 1).",
))


# --- softmin -------------------------------------------------------------------------------------
def _softmin_validate(rc):
    if rc.attrs["use_length"]:
        from ...base import UnsupportedError
        raise UnsupportedError(f"{rc.where}: mxc does not support softmin with use_length=True "
                               "yet; mask the input instead (add +inf where padded)")


def _softmin_rule(rc, shapes):
    norm_axis(rc, rc.attrs["axis"], len(shapes[0]))
    return tuple(shapes[0])


def _softmin_dtype(rc, dts):
    d = rc.attrs["dtype"]
    return dts, [DType.parse(d) if d is not None else dts[0]]


def _softmin_np(xs, a):
    from .nn import softmax_np
    x = xs[0]
    if a["dtype"] is not None:
        x = x.astype(DType.parse(a["dtype"]).numpy)
    return (softmax_np(-x, a["axis"], a["temperature"]),)


def _softmin_decompose(b, op):
    from .nn import build_softmax
    x = op.inputs[0]
    if op.attrs["dtype"] is not None:
        x = b.cast(x, op.attrs["dtype"])
    ax = norm_axis(_OpRC(op), op.attrs["axis"], len(x.shape))
    return [build_softmax(b, b.neg(x), ax, op.attrs["temperature"])]


register_op(OpDef(
    name="softmin",
    attrs=(Attr("axis", "int", -1, doc="The axis along which to compute softmin."),
           Attr("temperature", "float", None, optional=True,
                doc="Temperature parameter in softmin."),
           Attr("dtype", "dtype", None, optional=True,
                doc="DType of the output; the input's when None."),
           Attr("use_length", "bool", False, doc="Whether to use the length input (not "
                "supported by mxc).")),
    arguments=("data",), infer_shape=forward_shape(_softmin_rule), infer_dtype=_softmin_dtype,
    interp=_softmin_np, decompose=_softmin_decompose, validate=_softmin_validate,
    doc="softmax(-x / T) along axis.",
))


# --- shape_array / size_array --------------------------------------------------------------------
def _const_vector(b, values):
    parts = [b.op("_full", [], {"shape": (1,), "value": float(v), "dtype": "int64"})
             for v in values]
    if len(parts) == 1:
        return parts[0]
    return b.op("Concat", parts, {"num_args": len(parts), "dim": 0})


register_op(OpDef(
    name="shape_array", arguments=("data",),
    infer_shape=forward_shape(lambda rc, s: (len(s[0]),)), infer_dtype=_i64,
    interp=lambda xs, a: (np.asarray(xs[0].shape, dtype=np.int64).reshape(-1),),
    differentiable=False, aliases=("_npx_shape_array",),
    decompose=lambda b, op: [_const_vector(b, op.inputs[0].shape)],
    doc="The input's shape as a 1-d int64 array.",
))
register_op(OpDef(
    name="size_array", arguments=("data",),
    infer_shape=forward_shape(lambda rc, s: (1,)), infer_dtype=_i64,
    interp=lambda xs, a: (np.asarray([xs[0].size], dtype=np.int64),),
    differentiable=False,
    decompose=lambda b, op: [_const_vector(b, [int(np.prod(op.inputs[0].shape))])],
    doc="The input's number of elements as a 1-element int64 array.",
))


# --- moments -------------------------------------------------------------------------------------
def _mom_axes(rc, ndim):
    axes = rc.attrs["axes"]
    if not axes:        # MXNet 1.9.1 refuses this too
        raise rc.attr_error("axes is empty; expected the axes to reduce (for global moments "
                            "pass every axis)")
    return norm_axes(rc, axes, ndim)


def _mom_rule(rc, shapes):
    s = shapes[0]
    axes = _mom_axes(rc, len(s))
    if rc.attrs["keepdims"]:
        out = tuple(1 if i in axes else d for i, d in enumerate(s))
    else:
        out = tuple(d for i, d in enumerate(s) if i not in axes) or (1,)   # MXNet: never 0-d
    return [out, out]


def _mom_np(xs, a):
    x = xs[0]
    axes = tuple(range(x.ndim)) if a["axes"] is None else tuple(ax % x.ndim for ax in a["axes"])
    z = x.astype(np.float64)
    m = z.mean(axis=axes, keepdims=True)
    v = ((z - m) ** 2).mean(axis=axes, keepdims=True)
    if not a["keepdims"]:
        m, v = m.squeeze(axes).reshape(m.squeeze(axes).shape or (1,)), \
            v.squeeze(axes).reshape(v.squeeze(axes).shape or (1,))
    return m.astype(x.dtype), v.astype(x.dtype)


def _mom_decompose(b, op):
    x = op.inputs[0]
    axes = _mom_axes(_OpRC(op), len(x.shape))
    m = b.mean(x, axis=axes, keepdims=True)
    v = b.mean(b.square(b.op("broadcast_sub", [x, m])), axis=axes, keepdims=True)
    out = op.outputs[0].shape
    return [b.reshape(m, out), b.reshape(v, out)]


register_op(OpDef(
    name="moments",
    attrs=(Attr("axes", "shape", None, optional=True, doc="Array of ints. Axes along which to "
                "compute moments (required in practice: MXNet refuses empty axes)."),
           Attr("keepdims", "bool", False, doc="Keep the reduced axes as size 1.")),
    arguments=("data",), outputs=("output0", "output1"),
    infer_shape=forward_shape(_mom_rule), interp=_mom_np, decompose=_mom_decompose,
    doc="Mean and biased variance over axes.",
))


# --- cumsum --------------------------------------------------------------------------------------
def _cumsum_dtype(rc, dts):
    d = rc.attrs["dtype"]
    return dts, [DType.parse(d) if d is not None else dts[0]]


def _cumsum_rule(rc, shapes):
    s = shapes[0]
    if rc.attrs["axis"] is None:
        return (int(np.prod(s)),)
    norm_axis(rc, rc.attrs["axis"], len(s))
    return tuple(s)


def _cumsum_np(xs, a):
    x = xs[0]
    dt = DType.parse(a["dtype"]).numpy if a["dtype"] is not None else x.dtype
    if a["axis"] is None:
        return (np.cumsum(x.reshape(-1).astype(np.float64)).astype(dt),)
    return (np.cumsum(x.astype(np.float64), axis=a["axis"]).astype(dt),)


def _cumsum_decompose(b, op):
    x = op.inputs[0]
    out_dt = op.outputs[0].dtype
    work = out_dt if out_dt.is_float else DType.parse("float64")
    x = b.cast(x, work)
    if op.attrs["axis"] is None:
        x = b.reshape(x, (int(np.prod(x.shape)),))
        ax = 0
    else:
        ax = norm_axis(_OpRC(op), op.attrs["axis"], len(x.shape))
    nd = len(x.shape)
    perm = [i for i in range(nd) if i != ax] + [ax]
    inv = [perm.index(i) for i in range(nd)]
    xt = b.transpose(x, perm)
    n = x.shape[ax]
    lead = xt.shape[:-1]
    x2 = b.reshape(xt, (int(np.prod(lead)), n))
    upper = band_mask(b, n, n, 0, "ge", work)          # U[i, j] = 1 for j >= i
    y = b.dot(x2, upper)                                # y[:, j] = sum_{i <= j} x[:, i]
    y = b.transpose(b.reshape(y, tuple(lead) + (n,)), inv)
    return [b.cast(y, out_dt)]


register_op(OpDef(
    name="_np_cumsum",
    attrs=(Attr("axis", "int", None, optional=True, doc="Axis along which the cumulative sum "
                "is computed (the flattened array when None)."),
           Attr("dtype", "dtype", None, optional=True, doc="Type of the returned array.")),
    arguments=("a",), infer_shape=forward_shape(_cumsum_rule), infer_dtype=_cumsum_dtype,
    interp=_cumsum_np, decompose=_cumsum_decompose, aliases=("cumsum",),
    doc="Inclusive prefix sum along axis: a product with an upper-triangular matrix of ones.",
))


# --- diag ----------------------------------------------------------------------------------------
def _diag_len(R, C, k):
    return max(0, min(R, C - k) if k >= 0 else min(R + k, C))


def _diag_rule(rc, shapes):
    s = shapes[0]
    a = rc.attrs
    k = a["k"]
    if len(s) == 0:
        raise rc.shape_error("data is a scalar; expected an array with at least 1 dimension")
    if len(s) == 1:
        n = s[0] + abs(k)
        return (n, n)
    a1, a2 = norm_axis(rc, a["axis1"], len(s)), norm_axis(rc, a["axis2"], len(s))
    if a1 == a2:
        raise rc.attr_error(f"axis1={a['axis1']} and axis2={a['axis2']} name the same axis of "
                            f"data ({shape_str(s)}); expected two different axes")
    L = _diag_len(s[a1], s[a2], k)
    if L == 0:
        raise rc.shape_error(f"k={k} is out of range for data ({shape_str(s)}) with "
                             f"axis1={a['axis1']}, axis2={a['axis2']}: the diagonal is empty")
    return tuple(d for i, d in enumerate(s) if i not in (a1, a2)) + (L,)


def _diag_np(xs, a):
    x = xs[0]
    if x.ndim == 1:
        return (np.diag(x, a["k"]),)
    return (np.ascontiguousarray(np.diagonal(x, a["k"], a["axis1"], a["axis2"])),)


def make_diag(b, v, k):
    """``(..., n)`` -> ``(..., n + |k|, n + |k|)`` with ``v`` on the ``k``-th diagonal."""
    n = v.shape[-1]
    N = n + abs(k)
    lead = tuple(v.shape[:-1])
    if k >= 0:      # out[r, r + k] = v[r]: v as a column, padded below
        col = pad_axis(b, v, len(lead), 0, k)
        src = b.reshape(col, lead + (N, 1))
    else:           # out[c - k, c] = v[c]: v as a row, padded right
        row = pad_axis(b, v, len(lead), 0, -k)
        src = b.reshape(row, lead + (1, N))
    mask = band_mask(b, N, N, k, "eq", v.dtype)
    return b.op("broadcast_mul", [b.broadcast_to(src, lead + (N, N)), mask])


def extract_diag(b, x, k):
    """The ``k``-th diagonal of the last two axes, ``(..., R, C)`` -> ``(..., L)``: a strided
    slice of each flattened plane."""
    R, C = x.shape[-2:]
    lead = tuple(x.shape[:-2])
    L = _diag_len(R, C, k)
    start = k if k >= 0 else -k * C
    flat = b.reshape(x, lead + (R * C,))
    nd = len(lead) + 1
    begin = (None,) * (nd - 1) + (start,)
    end = (None,) * (nd - 1) + (start + (L - 1) * (C + 1) + 1,)
    step = (None,) * (nd - 1) + (C + 1,)
    return b.op("slice", [flat], {"begin": begin, "end": end, "step": step})


def _diag_decompose(b, op):
    x = op.inputs[0]
    a = op.attrs
    if len(x.shape) == 1:
        return [make_diag(b, x, a["k"])]
    rc = _OpRC(op)
    a1, a2 = norm_axis(rc, a["axis1"], len(x.shape)), norm_axis(rc, a["axis2"], len(x.shape))
    perm = [i for i in range(len(x.shape)) if i not in (a1, a2)] + [a1, a2]
    return [extract_diag(b, b.transpose(x, perm), a["k"])]


register_op(OpDef(
    name="diag",
    attrs=(Attr("k", "int", 0, doc="Diagonal offset (positive: above the main diagonal)."),
           Attr("axis1", "int", 0, doc="The first axis of the 2-D planes (N-d input)."),
           Attr("axis2", "int", 1, doc="The second axis of the 2-D planes (N-d input).")),
    arguments=("data",), infer_shape=forward_shape(_diag_rule), interp=_diag_np,
    decompose=_diag_decompose,
    doc="A diagonal matrix from a vector, or the k-th diagonals of an array.",
))


# --- depth_to_space / space_to_depth -------------------------------------------------------------
def _d2s_rule(rc, shapes):
    s = shapes[0]
    bs = rc.attrs["block_size"]
    if len(s) != 4:
        raise rc.shape_error(f"data has shape ({shape_str(s)}); expected a 4-d NCHW array")
    if bs < 1 or s[1] % (bs * bs):
        raise rc.shape_error(f"data has {s[1]} channels; expected a multiple of "
                             f"block_size^2 = {bs * bs}")
    return (s[0], s[1] // (bs * bs), s[2] * bs, s[3] * bs)


def _s2d_rule(rc, shapes):
    s = shapes[0]
    bs = rc.attrs["block_size"]
    if len(s) != 4:
        raise rc.shape_error(f"data has shape ({shape_str(s)}); expected a 4-d NCHW array")
    if bs < 1 or s[2] % bs or s[3] % bs:
        raise rc.shape_error(f"data has height {s[2]} and width {s[3]}; expected multiples "
                             f"of block_size = {bs}")
    return (s[0], s[1] * bs * bs, s[2] // bs, s[3] // bs)


def _d2s_np(xs, a):
    x, bs = xs[0], a["block_size"]
    n, c, h, w = x.shape
    y = x.reshape(n, bs, bs, c // (bs * bs), h, w).transpose(0, 3, 4, 1, 5, 2)
    return (np.ascontiguousarray(y.reshape(n, c // (bs * bs), h * bs, w * bs)),)


def _s2d_np(xs, a):
    x, bs = xs[0], a["block_size"]
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // bs, bs, w // bs, bs).transpose(0, 3, 5, 1, 2, 4)
    return (np.ascontiguousarray(y.reshape(n, c * bs * bs, h // bs, w // bs)),)


def _d2s_decompose(b, op):
    x, bs = op.inputs[0], op.attrs["block_size"]
    n, c, h, w = x.shape
    y = b.transpose(b.reshape(x, (n, bs, bs, c // (bs * bs), h, w)), (0, 3, 4, 1, 5, 2))
    return [b.reshape(y, op.outputs[0].shape)]


def _s2d_decompose(b, op):
    x, bs = op.inputs[0], op.attrs["block_size"]
    n, c, h, w = x.shape
    y = b.transpose(b.reshape(x, (n, c, h // bs, bs, w // bs, bs)), (0, 3, 5, 1, 2, 4))
    return [b.reshape(y, op.outputs[0].shape)]


_BS = (Attr("block_size", "int", doc="Blocks of [block_size, block_size] are moved."),)
register_op(OpDef(
    name="depth_to_space", attrs=_BS, arguments=("data",),
    infer_shape=forward_shape(_d2s_rule), interp=_d2s_np, decompose=_d2s_decompose,
    doc="Rearrange channel blocks into spatial blocks (NCHW, DCR order).",
))
register_op(OpDef(
    name="space_to_depth", attrs=_BS, arguments=("data",),
    infer_shape=forward_shape(_s2d_rule), interp=_s2d_np, decompose=_s2d_decompose,
    doc="Rearrange spatial blocks into channels (NCHW): the inverse of depth_to_space.",
))


# --- batch_take ----------------------------------------------------------------------------------
def _bt_rule(rc, shapes):
    a, i = shapes
    if len(a) != 2 or len(i) != 1 or a[0] != i[0]:
        raise rc.shape_error(f"a has shape ({shape_str(a)}) and indices ({shape_str(i)}); "
                             "expected a 2-d array (N, M) and N indices")
    return (a[0],)


def _bt_np(xs, a):
    x, idx = xs
    j = np.clip(idx.astype(np.int64), 0, x.shape[1] - 1)
    return (x[np.arange(x.shape[0]), j],)


def _bt_dtype(rc, dts):
    return dts, [dts[0]]


register_op(OpDef(
    name="batch_take", arguments=("a", "indices"), infer_shape=forward_shape(_bt_rule),
    infer_dtype=_bt_dtype, interp=_bt_np, differentiable=False,   # as MXNet (no FGradient)
    decompose=lambda b, op: [b.op("pick", list(op.inputs), {"axis": 1, "mode": "clip"})],
    doc="a[i, indices[i]] with indices clipped to [0, M).",
))


# --- khatri_rao ----------------------------------------------------------------------------------
def _kr_rule(rc, shapes):
    n = None
    for s in shapes:
        if len(s) != 2 or (n is not None and s[1] != n):
            raise rc.shape_error("inputs have shapes " + ", ".join(f"({shape_str(t)})"
                                 for t in shapes) + "; expected matrices with equal numbers "
                                 "of columns")
        n = s[1]
    return (int(np.prod([s[0] for s in shapes])), n)


def _kr_np(xs, a):
    out = xs[0].astype(np.float64)
    for x in xs[1:]:
        out = (out[:, None, :] * x.astype(np.float64)[None, :, :]).reshape(-1, x.shape[1])
    return (out.astype(xs[0].dtype),)


def _kr_decompose(b, op):
    xs = list(op.inputs)
    k = len(xs)
    n = xs[0].shape[1]
    rows = tuple(x.shape[0] for x in xs)
    acc = None
    for i, x in enumerate(xs):
        shape = tuple(rows[j] if j == i else 1 for j in range(k)) + (n,)
        v = b.reshape(x, shape)
        acc = v if acc is None else b.op("broadcast_mul", [acc, v])
    acc = b.broadcast_to(acc, rows + (n,))
    return [b.reshape(acc, op.outputs[0].shape)]


register_op(OpDef(
    name="khatri_rao",
    attrs=(Attr("num_args", "int", check=lambda v: None if v >= 1 else
                "is not accepted; expected num_args >= 1"),),
    variadic="num_args", infer_shape=forward_shape(_kr_rule), interp=_kr_np,
    decompose=_kr_decompose, differentiable=False,     # as MXNet (no FGradient)
    doc="Column-wise Kronecker product of matrices (M_i, N) -> (prod M_i, N).",
))


# --- ravel_multi_index / unravel_index -----------------------------------------------------------
def _strides(shape):
    st, acc = [], 1
    for d in reversed(shape):
        st.append(acc)
        acc *= d
    return st[::-1]


def _ravel_rule(rc, shapes):
    s = shapes[0]
    shp = rc.attrs["shape"]
    if not shp or len(s) != 2 or s[0] != len(shp):
        raise rc.shape_error(f"data has shape ({shape_str(s)}) and shape={tuple(shp or ())}; "
                             "expected a 2-d array whose first dimension is len(shape)")
    return tuple(s[1:])


def _ravel_np(xs, a):
    x = xs[0].astype(np.float64)
    st = _strides(a["shape"])
    return (sum(x[i] * st[i] for i in range(len(st))).astype(xs[0].dtype),)


def _ravel_decompose(b, op):
    x = op.inputs[0]
    st = _strides(op.attrs["shape"])
    acc = None
    for i, s in enumerate(st):
        row = b.reshape(b.op("slice_axis", [x], {"axis": 0, "begin": i, "end": i + 1}),
                        op.outputs[0].shape)
        term = b.mul(row, float(s))
        acc = term if acc is None else b.add(acc, term)
    return [acc]


def _unravel_rule(rc, shapes):
    if not rc.attrs["shape"]:
        raise rc.attr_error("shape is empty; expected the shape to unravel into")
    if len(shapes[0]) != 1:
        raise rc.shape_error(f"data has shape ({shape_str(shapes[0])}); expected a 1-d array "
                             "of flat indices")
    return (len(rc.attrs["shape"]),) + tuple(shapes[0])


def _unravel_np(xs, a):
    x = xs[0].astype(np.float64)
    shp, st = a["shape"], _strides(a["shape"])
    # the first component is not wrapped (MXNet: an index past the end overflows into it)
    return (np.stack([np.floor(x / st[i]) if i == 0 else np.mod(np.floor(x / st[i]), shp[i])
                      for i in range(len(shp))]).astype(xs[0].dtype),)


def _unravel_decompose(b, op):
    x = op.inputs[0]
    shp, st = op.attrs["shape"], _strides(op.attrs["shape"])
    parts = []
    for i, (d, s) in enumerate(zip(shp, st)):
        q = b.op("floor", [b.div(x, float(s))]) if s != 1 else x
        r = q if i == 0 else b.op("_mod_scalar", [q], {"scalar": float(d)})
        parts.append(b.reshape(r, (1,) + tuple(x.shape)))
    if len(parts) == 1:
        return parts
    return [b.op("Concat", parts, {"num_args": len(parts), "dim": 0})]


_SHP = (Attr("shape", "shape", None, optional=True, doc="Shape of the array into which the "
             "multi-indices apply."),)
register_op(OpDef(
    name="_ravel_multi_index", attrs=_SHP, arguments=("data",),
    infer_shape=forward_shape(_ravel_rule), interp=_ravel_np, decompose=_ravel_decompose,
    differentiable=False, aliases=("ravel_multi_index",),
    doc="Flat row-major indices of the multi-indices in data's columns.",
))
register_op(OpDef(
    name="_unravel_index", attrs=_SHP, arguments=("data",),
    infer_shape=forward_shape(_unravel_rule), interp=_unravel_np,
    decompose=_unravel_decompose, differentiable=False, aliases=("unravel_index",),
    doc="Row-major multi-indices (one row per dimension) of flat indices.",
))


# --- LRN -----------------------------------------------------------------------------------------
def _lrn_rule(rc, shapes):
    s = shapes[0]
    if len(s) < 3:
        raise rc.shape_error(f"data has shape ({shape_str(s)}); expected (N, C, ...) with at "
                             "least 3 dimensions")
    return [tuple(s), tuple(s)]


def _lrn_validate(rc):
    n = rc.attrs["nsize"]
    if n < 1 or n % 2 == 0:
        raise rc.attr_error(f"nsize={n} is not accepted; expected a positive odd number")


def _lrn_np(xs, a):
    x = xs[0].astype(np.float64)
    n, half = a["nsize"], a["nsize"] // 2
    sq = np.pad(x * x, [(0, 0), (half, half)] + [(0, 0)] * (x.ndim - 2))
    s = sum(sq[:, i:i + x.shape[1]] for i in range(n))
    norm = a["knorm"] + a["alpha"] / n * s
    return ((x * norm ** -a["beta"]).astype(xs[0].dtype), norm.astype(xs[0].dtype))


def _lrn_decompose(b, op):
    x = op.inputs[0]
    a = op.attrs
    n, half = a["nsize"], a["nsize"] // 2
    C = x.shape[1]
    sq = pad_axis(b, b.square(x), 1, half, half)
    s = None
    for i in range(n):
        part = b.op("slice_axis", [sq], {"axis": 1, "begin": i, "end": i + C})
        s = part if s is None else b.add(s, part)
    norm = b.add(b.mul(s, float(a["alpha"]) / n), float(a["knorm"]))
    return [b.mul(x, b.pow(norm, -float(a["beta"]))), norm]


register_op(OpDef(
    name="LRN",
    attrs=(Attr("alpha", "float", 1e-4, doc="The variance scaling parameter."),
           Attr("beta", "float", 0.75, doc="The power parameter."),
           Attr("knorm", "float", 2.0, doc="The additive constant k."),
           Attr("nsize", "int", doc="Normalization window width in channels (odd).")),
    arguments=("data",), outputs=("output", "tmp_norm"), num_visible_outputs=1,
    infer_shape=forward_shape(_lrn_rule), interp=_lrn_np, decompose=_lrn_decompose,
    validate=_lrn_validate,
    doc="Local response normalisation across channels.",
))


# --- GroupNorm -----------------------------------------------------------------------------------
def _gn_rule(rc, shapes):
    d, g, bt = shapes
    G = rc.attrs["num_groups"]
    if d is None:
        return list(shapes), [None, None, None]
    if len(d) < 2 or d[1] is None or d[1] % G:
        raise rc.shape_error(f"data has shape ({shape_str(d)}); expected (N, C, ...) with C "
                             f"a multiple of num_groups={G}")
    for nm, s in (("gamma", g), ("beta", bt)):
        if s is not None and tuple(s) != (G,):
            raise rc.shape_error(f"{nm} has shape ({shape_str(s)}); expected ({G},) "
                                 f"(one per group, num_groups={G})")
    return [tuple(d), (G,), (G,)], [tuple(d), (d[0], G), (d[0], G)]


def _gn_validate(rc):
    if rc.attrs["num_groups"] < 1:
        raise rc.attr_error(f"num_groups={rc.attrs['num_groups']} is not accepted; expected "
                            ">= 1")


def _gn_np(xs, a):
    x, g, bt = (v.astype(np.float64) for v in xs)
    G = a["num_groups"]
    N = x.shape[0]
    z = x.reshape(N, G, -1)
    m = z.mean(axis=2, keepdims=True)
    v = ((z - m) ** 2).mean(axis=2, keepdims=True)
    std = np.sqrt(v + a["eps"])
    y = (z - m) / std * g[None, :, None] + bt[None, :, None]
    dt = xs[0].dtype
    return (y.reshape(x.shape).astype(dt), m.reshape(N, G).astype(dt),
            std.reshape(N, G).astype(dt))


def _gn_decompose(b, op):
    x, g, bt = op.inputs
    G = op.attrs["num_groups"]
    N = x.shape[0]
    z = b.reshape(x, (N, G, int(np.prod(x.shape)) // (N * G)))
    m = b.mean(z, axis=2, keepdims=True)
    d = b.op("broadcast_sub", [z, m])
    v = b.mean(b.square(d), axis=2, keepdims=True)
    std = b.sqrt(b.add(v, float(op.attrs["eps"])))
    y = b.op("broadcast_div", [d, std])
    y = b.op("broadcast_mul", [y, b.reshape(g, (1, G, 1))])
    y = b.op("broadcast_add", [y, b.reshape(bt, (1, G, 1))])
    # MXNet's backward reads only the output's gradient: mean and std are stop-gradient views
    return [b.reshape(y, x.shape), b.op("BlockGrad", [b.reshape(m, (N, G))]),
            b.op("BlockGrad", [b.reshape(std, (N, G))])]


register_op(OpDef(
    name="GroupNorm",
    attrs=(Attr("num_groups", "int", 1, doc="Total number of groups."),
           Attr("eps", "float", 1e-5, doc="An epsilon added to the variance."),
           Attr("output_mean_var", "bool", False, doc="Also output the mean and std.")),
    arguments=("data", "gamma", "beta"), outputs=("output", "mean", "std"),
    num_visible_outputs=lambda a: 3 if a["output_mean_var"] else 1,
    infer_shape=_gn_rule, interp=_gn_np, decompose=_gn_decompose, validate=_gn_validate,
    doc="Group normalisation: per sample and channel group, then per-group gamma / beta.",
))


# --- SVMOutput -----------------------------------------------------------------------------------
def _svm_rule(rc, shapes):
    d, lab = shapes
    if d is None:
        return list(shapes), [None]
    if len(d) < 2:
        raise rc.shape_error(f"data has shape ({shape_str(d)}); expected (N, classes)")
    want = (d[0],)
    if lab is not None and tuple(lab) != want:
        raise rc.shape_error(f"label has shape ({shape_str(lab)}); expected ({shape_str(want)}) "
                             f"from data ({shape_str(d)})")
    return [tuple(d), want], [tuple(d)]


def _svm_vjp(b, op, g):
    """MXNet's SVMOutput backward ignores the head gradient: with y the one-hot label,
    ``d = -c [m > x]`` (L1) or ``-2c (m - x) [m > x]`` (L2) for the labelled class and
    ``c [m > -x]`` / ``2c (m + x) [m > -x]`` for the others."""
    x, lab = op.inputs
    a = op.attrs
    m, c = float(a["margin"]), float(a["regularization_coefficient"])
    x2 = b.reshape(x, (x.shape[0], int(np.prod(x.shape[1:]))))
    y = b.op("one_hot", [lab], {"depth": x2.shape[1], "dtype": x.dtype.np_name})
    lt_pos = b.op("_lesser_scalar", [x2], {"scalar": m})             # m > x
    lt_neg = b.op("_greater_scalar", [x2], {"scalar": -m})           # m > -x
    if a["use_linear"]:
        pos = b.mul(lt_pos, -c)
        neg = b.mul(lt_neg, c)
    else:
        pos = b.mul(lt_pos, b.mul(b.op("_rminus_scalar", [x2], {"scalar": m}), -2.0 * c))
        neg = b.mul(lt_neg, b.mul(b.add(x2, m), 2.0 * c))
    d = b.add(b.mul(y, pos), b.mul(b.op("_rminus_scalar", [y], {"scalar": 1.0}), neg))
    return b.reshape(d, x.shape), None


register_op(OpDef(
    name="SVMOutput",
    attrs=(Attr("margin", "float", 1.0, doc="The loss function penalizes outputs that lie "
                "outside this margin."),
           Attr("regularization_coefficient", "float", 1.0,
                doc="Regularization parameter for the SVM."),
           Attr("use_linear", "bool", False, doc="Use the L1 hinge loss (else L2).")),
    arguments=("data", "label"), infer_shape=_svm_rule,
    interp=lambda xs, a: (xs[0].copy(),), vjp=_svm_vjp,
    lower=Elementwise(lambda k, a, x, lab: x), traits={LOSS},
    doc="Identity forward; hinge-loss gradient (head gradient ignored).",
))


# --- _eye ----------------------------------------------------------------------------------------
def _eye_m(a):
    return a["M"] if a["M"] > 0 else a["N"]


def _eye_np(xs, a):
    return (np.eye(a["N"], _eye_m(a), a["k"], dtype=DType.parse(a["dtype"]).numpy),)


def _eye_formula(k, a):
    dt = DType.parse(a["dtype"])
    i, j = k.index(0), k.index(1)
    on = k.eq(k.sub(j, i), k.const(a["k"], i.dtype))
    return k.where(on, k.const(1.0, dt), k.const(0.0, dt))


def _eye_validate(rc):
    for k in ("N", "M"):
        if rc.attrs[k] < 0:
            raise rc.attr_error(f"{k}={rc.attrs[k]} is not accepted; expected {k} >= 0")


register_op(OpDef(
    name="_eye",
    attrs=(Attr("N", "int", doc="Number of rows in the output."),
           Attr("M", "int", 0, doc="Number of columns in the output (N when 0)."),
           Attr("k", "int", 0, doc="Index of the diagonal."),
           Attr("ctx", "str", ""), Attr("dtype", "dtype", "float32")),
    arguments=(), infer_shape=lambda rc, s: ([], [(rc.attrs["N"], _eye_m(rc.attrs))]),
    infer_dtype=lambda rc, d: ([], [DType.parse(rc.attrs["dtype"])]),
    interp=_eye_np, differentiable=False, lower=Elementwise(_eye_formula),
    traits={ELEMENTWISE}, validate=_eye_validate,
    doc="A 2-d array with ones on the k-th diagonal and zeros elsewhere.",
))


# --- _split_v2 -----------------------------------------------------------------------------------
def _split_v2_bounds(rc, shape):
    a = rc.attrs
    ax = norm_axis(rc, a["axis"], len(shape))
    L = shape[ax]
    if a["sections"] > 0:
        if L % a["sections"]:
            raise rc.shape_error(f"data has shape ({shape_str(shape)}); axis {a['axis']} of "
                                 f"length {L} does not split into sections={a['sections']} "
                                 "equal parts")
        step = L // a["sections"]
        starts = [i * step for i in range(a["sections"])]
    else:
        starts = list(a["indices"] or ())
        if not starts:
            raise rc.attr_error("indices is empty and sections=0; expected one of them")
        if any(s < 0 or s > L for s in starts) or starts != sorted(starts):
            raise rc.shape_error(f"indices={tuple(starts)} are not increasing split points "
                                 f"within axis {a['axis']} of data ({shape_str(shape)})")
    ends = starts[1:] + [L]
    return ax, list(zip(starts, ends))


def _split_v2_n(a):
    return a["sections"] if a["sections"] > 0 else len(a["indices"] or ())


def _split_v2_rule(rc, shapes):
    s = shapes[0]
    ax, bounds = _split_v2_bounds(rc, s)
    outs = []
    for lo, hi in bounds:
        o = list(s)
        o[ax] = hi - lo
        if rc.attrs["squeeze_axis"]:
            if hi - lo != 1:
                raise rc.shape_error(f"squeeze_axis=True needs parts of length 1 along axis "
                                     f"{rc.attrs['axis']}; a part has length {hi - lo}")
            del o[ax]
        outs.append(tuple(o))
    return outs


def _split_v2_np(xs, a):
    x = xs[0]

    class _R:
        attrs = a

        @staticmethod
        def attr_error(m):
            return ValueError(m)
        shape_error = attr_error
    ax, bounds = _split_v2_bounds(_R, x.shape)
    outs = [np.take(x, np.arange(lo, hi), axis=ax) for lo, hi in bounds]
    if a["squeeze_axis"]:
        outs = [np.squeeze(o, axis=ax) for o in outs]
    return tuple(outs)


def _split_v2_decompose(b, op):
    x = op.inputs[0]
    ax = norm_axis(_OpRC(op), op.attrs["axis"], len(x.shape))
    outs = []
    starts = [0]
    for o in op.outputs[:-1]:
        n = 1 if op.attrs["squeeze_axis"] else o.shape[ax]
        starts.append(starts[-1] + n)
    for lo, o in zip(starts, op.outputs):
        n = 1 if op.attrs["squeeze_axis"] else o.shape[ax]
        part = b.op("slice_axis", [x], {"axis": ax, "begin": lo, "end": lo + n})
        outs.append(b.reshape(part, o.shape))
    return outs


register_op(OpDef(
    name="_split_v2",
    attrs=(Attr("indices", "shape", None, optional=True, doc="Indices of splits (the start of "
                "each part; the first must be 0)."),
           Attr("axis", "int", 1, doc="Axis along which to split."),
           Attr("squeeze_axis", "bool", False, doc="Remove the split axis (parts of length 1)."),
           Attr("sections", "int", 0, doc="Number of equal sections (0: use indices).")),
    arguments=("data",), outputs=lambda a: [f"output{i}" for i in range(_split_v2_n(a))],
    infer_shape=forward_shape(_split_v2_rule), interp=_split_v2_np,
    decompose=_split_v2_decompose,
    doc="Split along axis into equal sections or at indices (slices of the input).",
))


# --- scatter_nd ----------------------------------------------------------------------------------
def _scatter_nd_rule(rc, shapes):
    d, idx = shapes
    shp = tuple(rc.attrs["shape"])
    if len(idx) < 1 or idx[0] > len(shp) or tuple(d) != tuple(idx[1:]) + shp[idx[0]:]:
        raise rc.shape_error(f"data has shape ({shape_str(d)}), indices ({shape_str(idx)}) and "
                             f"shape={shp}; expected indices (M, Y...) with M <= len(shape) and "
                             "data (Y..., shape[M:]...)")
    return shp


def _scatter_nd_dtype(rc, dts):
    return dts, [dts[0]]


def _scatter_nd_np(xs, a):
    from .indexing import _nd_index_np
    x, idx = xs
    shp = tuple(a["shape"])
    M = idx.shape[0]
    i = _nd_index_np(idx, shp[:M], "scatter_nd")
    out = np.zeros(shp, x.dtype)
    out[tuple(i)] = x.reshape((-1,) + shp[M:])
    return (out,)


def _scatter_nd_fn(attrs, ins, outs):
    from .indexing import _nd_index_torch
    x, idx = ins
    shp = tuple(attrs["shape"])
    M = idx.shape[0]
    i = _nd_index_torch(idx, shp[:M], "scatter_nd")
    out = outs[0]
    out.zero_()
    out.index_put_(tuple(i), x.reshape((-1,) + shp[M:]))


register_op(OpDef(
    name="scatter_nd", attrs=(Attr("shape", "shape", doc="Shape of output."),),
    arguments=("data", "indices"), infer_shape=forward_shape(_scatter_nd_rule),
    infer_dtype=_scatter_nd_dtype, interp=_scatter_nd_np,
    vjp=lambda b, op, g: (b.op("gather_nd", [g, op.inputs[1]]), None),
    lower=Extern(_scatter_nd_fn, "scatter_nd"),
    extra={"library_reason": "writes at data-dependent addresses"},
    doc="Zeros of shape with data written at indices (the inverse of gather_nd); a library "
        "scatter (data-dependent addresses). Gradient: gather_nd of the output gradient.",
))


# --- IdentityAttachKLSparseReg -------------------------------------------------------------------
def _kl_rule(rc, shapes):
    d, avg = shapes
    if d is None:
        return list(shapes), [None]
    if len(d) < 2:
        raise rc.shape_error(f"data has shape ({shape_str(d)}); expected (N, C, ...)")
    if avg is not None and tuple(avg) != (d[1],):
        raise rc.shape_error(f"moving_avg has shape ({shape_str(avg)}); expected ({d[1]},) "
                             f"from data ({shape_str(d)})")
    return [tuple(d), (d[1],)], [tuple(d)]


def _kl_new_avg(b, op):
    """momentum * moving_avg + (1 - momentum) * the mean activation of each channel."""
    x, avg = op.inputs
    axes = tuple(i for i in range(len(x.shape)) if i != 1)
    m = op.attrs["momentum"]
    return b.add(b.mul(avg, float(m)), b.mul(b.mean(x, axis=axes), 1.0 - float(m)))


def _kl_vjp(b, op, g):
    """MXNet adds the KL-sparseness penalty's gradient to the head gradient, per channel:
    ``penalty * (-rho / avg + (1 - rho) / (1 - avg))`` with the moving average as updated in
    this step (MXNet updates it in its backward pass)."""
    x = op.inputs[0]
    a = op.attrs
    rho, pen = float(a["sparseness_target"]), float(a["penalty"])
    avg = _kl_new_avg(b, op)
    t = b.add(b.op("_rdiv_scalar", [avg], {"scalar": -rho}),
              b.op("_rdiv_scalar", [b.op("_rminus_scalar", [avg], {"scalar": 1.0})],
                   {"scalar": 1.0 - rho}))
    t = b.reshape(b.mul(t, pen), (1, x.shape[1]) + (1,) * (len(x.shape) - 2))
    return b.op("broadcast_add", [g, t]), None


def _kl_aux_update(b, op):
    if not op.attrs["is_train"]:
        return []
    return [(1, _kl_new_avg(b, op))]


register_op(OpDef(
    name="IdentityAttachKLSparseReg",
    attrs=(Attr("sparseness_target", "float", 0.1, doc="The sparseness target"),
           Attr("penalty", "float", 0.001, doc="The tradeoff parameter for the sparseness "
                "penalty"),
           Attr("momentum", "float", 0.9, doc="The momentum for running average")),
    arguments=("data",), aux=("moving_avg",), infer_shape=_kl_rule,
    interp=lambda xs, a: (xs[0].copy(),), vjp=_kl_vjp,
    decompose=lambda b, op: [b.op("_copy", [op.inputs[0]])],
    mode_dependent=True, aux_update=_kl_aux_update,
    extra={"input_var_attrs": {"moving_avg": {"__init__": '["zero", {}]'}}},
    doc="Identity forward; backward adds a KL sparseness penalty's gradient per channel and "
        "updates the moving average of the channel activations (training).",
))


# --- Convolution_v1 / Pooling_v1 / BatchNorm_v1: MXNet's legacy operators -----------------------
def _v1_of(new, names, name, doc, **over):
    """A legacy operator with a subset of ``new``'s attributes, computed by ``new``."""
    from ..registry import get_op
    od = get_op(new)
    attrs = tuple(a for a in od.attrs if a.name in names)

    def decompose(b, op):
        return list(_as_list(b.op(new, list(op.inputs), {k: op.attrs[k] for k in names},
                                  op.name)))

    def interp(xs, a):
        full = od.parse_attrs({k: a[k] for k in names})
        return od.interp(xs, full)

    def rule(rc, shapes):
        from ..registry import RuleCtx
        return od.infer_shape(RuleCtx(od, od.parse_attrs({k: rc.attrs[k] for k in names}),
                                      rc.name, None, rc.out_shapes, rc.out_dtypes), shapes)

    def vjp(b, op, g):
        from ..core import Op
        full = od.parse_attrs({k: op.attrs[k] for k in names})
        owners = [(v.op, v.index) for v in op.outputs]
        as_new = Op(new, op.inputs, full, op.outputs, op.name)   # the same op, named as new
        for v, (o, i) in zip(op.outputs, owners):                # (its outputs stay op's)
            v.op, v.index = o, i
        return od.vjp(b, as_new, g)

    def dtype_rule(rc, dts):
        from ..registry import RuleCtx
        return od.infer_dtype(RuleCtx(od, od.parse_attrs({k: rc.attrs[k] for k in names}),
                                      rc.name, None, rc.out_shapes, rc.out_dtypes), dts)

    kw = {"name": name, "attrs": attrs, "arguments": od.arguments, "aux": od.aux,
          "outputs": od.outputs, "num_visible_outputs": od.num_visible_outputs,
          "infer_shape": rule, "infer_dtype": dtype_rule, "interp": interp,
          "decompose": decompose, "vjp": vjp if od.vjp is not None else None,
          "differentiable": od.differentiable, "extra": dict(od.extra), "doc": doc}
    kw.update(over)
    return register_op(OpDef(**kw))


def _as_list(x):
    return x if isinstance(x, tuple) else (x,)


_CONV_V1 = ("kernel", "stride", "dilate", "pad", "num_filter", "num_group", "workspace",
            "no_bias", "cudnn_tune", "cudnn_off", "layout")
_v1_of("Convolution", _CONV_V1, "Convolution_v1",
       "MXNet's legacy convolution (the Convolution attributes of 1.x's first version).")
_POOL_V1 = ("kernel", "pool_type", "global_pool", "pooling_convention", "stride", "pad")
_v1_of("Pooling", _POOL_V1, "Pooling_v1",
       "MXNet's legacy pooling (max / avg / sum; valid or full convention).")


def _bn1_rule(rc, shapes):
    d = shapes[0]
    if d is not None and len(d) != 4:
        raise rc.shape_error(f"data has shape ({shape_str(d)}); BatchNorm_v1 expects a 4-d "
                             "(N, C, H, W) array (use BatchNorm for other ranks)")
    from ..registry import RuleCtx, get_op
    od = get_op("BatchNorm")
    a = od.parse_attrs({k: rc.attrs[k] for k in _BN_V1})
    return od.infer_shape(RuleCtx(od, a, rc.name, None, rc.out_shapes, rc.out_dtypes), shapes)


_BN_V1 = ("eps", "momentum", "fix_gamma", "use_global_stats", "output_mean_var")


def _bn1_np(xs, a):
    from ..registry import get_op
    od = get_op("BatchNorm")
    out, mean, inv = od.interp(xs, od.parse_attrs({**{k: a[k] for k in _BN_V1},
                                                   "is_train": a["is_train"]}))
    var = (1.0 / np.square(inv.astype(np.float64)) - a["eps"]).astype(out.dtype)
    return out, mean, var


def _bn1_decompose(b, op):
    """BatchNorm over axis 1, whose third output (the inverse std) becomes the variance:
    ``1 / invstd^2 - eps``."""
    attrs = {k: op.attrs[k] for k in _BN_V1}
    attrs["is_train"] = op.attrs["is_train"]
    out, mean, inv = b.op("BatchNorm", list(op.inputs), attrs, op.name)
    var = b.sub(b.div(1.0, b.square(inv)), float(op.attrs["eps"]))
    # MXNet's backward reads only the output's gradient
    return [out, b.op("BlockGrad", [mean]), b.op("BlockGrad", [var])]


def _bn1_aux_update(b, op):
    """As BatchNorm's: moving = momentum * moving + (1 - momentum) * batch statistic (biased
    variance), in training without use_global_stats."""
    a = op.attrs
    if not a["is_train"] or a["use_global_stats"]:
        return []
    mm, mv = op.inputs[3], op.inputs[4]
    m = float(a["momentum"])
    return [(3, b.add(b.mul(mm, m), b.mul(op.outputs[1], 1.0 - m))),
            (4, b.add(b.mul(mv, m), b.mul(op.outputs[2], 1.0 - m)))]


_v1_of("BatchNorm", _BN_V1, "BatchNorm_v1",
       "MXNet's legacy batch normalization over the channels of 4-d data; outputs (output, "
       "mean, var).", infer_shape=_bn1_rule, interp=_bn1_np, decompose=_bn1_decompose,
       mode_dependent=True, aux_update=_bn1_aux_update, vjp=None, infer_dtype=same_dtype)


# --- _linspace -----------------------------------------------------------------------------------
def _linspace_step(a):
    n = a["num"]
    div = (n - 1) if a["endpoint"] else n
    return (a["stop"] - a["start"]) / div if div > 0 else 0.0


def _linspace_np(xs, a):
    i = np.arange(a["num"], dtype=np.float64)
    return ((a["start"] + i * _linspace_step(a)).astype(DType.parse(a["dtype"]).numpy),)


def _linspace_formula(k, a):
    """start + i * step in float64, then cast (truncation for integer dtypes, as MXNet)."""
    dt = DType.parse(a["dtype"])
    v = k.cast(k.index(0), DType.f64)
    v = k.add(k.mul(v, k.const(_linspace_step(a), DType.f64)), k.const(a["start"], DType.f64))
    return k.cast(v, dt)


def _linspace_validate(rc):
    if rc.attrs["num"] < 0:
        raise rc.attr_error(f"num={rc.attrs['num']} is not accepted; expected num >= 0")


register_op(OpDef(
    name="_linspace",
    attrs=(Attr("start", "float", doc="Start of interval."),
           Attr("stop", "float", None, optional=True, doc="End of interval."),
           Attr("step", "float", 1.0, doc="Unused (MXNet's range parameters)."),
           Attr("repeat", "int", 1, doc="Unused (MXNet's range parameters)."),
           Attr("infer_range", "bool", False, doc="Unused."),
           Attr("ctx", "str", ""), Attr("dtype", "dtype", "float32"),
           Attr("num", "int", 0, doc="Number of samples to generate."),
           Attr("endpoint", "bool", True, doc="Whether stop is the last sample.")),
    arguments=(), infer_shape=lambda rc, s: ([], [(rc.attrs["num"],)]),
    infer_dtype=lambda rc, d: ([], [DType.parse(rc.attrs["dtype"])]),
    interp=_linspace_np, differentiable=False, lower=Elementwise(_linspace_formula),
    traits={ELEMENTWISE}, validate=_linspace_validate,
    doc="num evenly spaced samples over [start, stop] (or [start, stop)).",
))
