"""Sequence and miscellaneous MXNet 1.9.1 operators (mostly ``mx.sym.contrib``), each a
composition of primitives unless said otherwise:

- ``_contrib_div_sqrt_dim``: ``x / sqrt(x.shape[-1])``.
- ``_contrib_gradientmultiplier``: identity forward; the gradient is ``scalar * g``.
- ``_contrib_quadratic``: ``a x^2 + b x + c``; gradient ``(2 a x + b) g``.
- ``_contrib_round_ste`` / ``_contrib_sign_ste``: ``round`` / ``sign`` forward with the
  straight-through gradient ``g`` (not the zero derivative of a step function).
- ``_contrib_arange_like``: ``start + floor(i / repeat) * step`` over the input's shape (or the
  size of ``axis``), in the input's dtype; for integer dtypes ``start`` and ``step`` are
  truncated first, as MXNet's kernel does. No gradient (zeros, as MXNet's).
- ``_contrib_index_array``: ``idx[i_1..i_n, j] = i_{axes[j]}`` as int64 (broadcast aranges
  stacked on a new last axis).
- ``_contrib_index_copy(old, index, new)``: ``old`` with rows ``index[i]`` replaced by
  ``new[i]``: a one-hot matrix ``M`` of the indices gives ``old * (1 - rowmask) + M^T new``
  (a GEMM); autodiff gives MXNet's gradients (``g`` with the copied rows zeroed, and
  ``g[index]``). Of repeated indices the last row wins (MXNet leaves the order undefined).
- ``fill_element_0index(lhs, mhs, rhs)``: ``lhs`` with ``lhs[i, rhs[i]] = mhs[i]`` (a one-hot
  blend); MXNet's legacy NDArray function, usable in symbols here too.
- ``_contrib_allclose``: ``all(|a - b| <= atol + rtol |b|)`` (NaNs equal when ``equal_nan``) as
  a 0-d uint8, as MXNet's.
- ``cast_storage``: dense (``stype='default'``) storage only: a copy; gradient ``g``.
- ``_contrib_BatchNormWithReLU``: ``relu(BatchNorm(...))`` with BatchNorm's attributes, inputs,
  auxiliary states and moving-statistics update; its hidden fourth output (MXNet's oneDNN
  workspace) is the ReLU mask here.
- ``_contrib_SyncBatchNorm``: on one device it is BatchNorm over axis 1 whose third output is
  the batch *variance* (as BatchNorm_v1's); ``ndev`` and ``key`` are accepted.
- ``_contrib_interleaved_matmul_{selfatt,encdec}_{qk,valatt}``: the reshape / slice / transpose
  views of the interleaved projections and a batch_dot, with queries scaled by
  ``1 / sqrt(head_dim)`` (float32) in the ``qk`` ops, as MXNet's GEMM alpha does.
- ``_contrib_fft`` / ``_contrib_ifft``: MXNet's cuFFT operators (GPU only there) as products
  with the real DFT matrix: ``fft`` maps real rows to interleaved (re, im) parts of their
  unnormalised DFT, ``ifft`` interleaved complex rows to the real part of their unnormalised
  inverse DFT; each one's gradient is the other (MXNet's backward).
- ``_contrib_count_sketch``: ``out[..., h[i]] += s[i] x[..., i]``, a product with the signed
  one-hot matrix of the hashes (MXNet: GPU only); ``h`` and ``s`` get no gradient.
- ``_contrib_backward_gradientmultiplier``, ``_contrib_backward_quadratic``,
  ``_contrib_backward_index_copy``: MXNet's backward operators of the above, which it registers
  under ``_contrib_`` (so they are ``mx.sym.contrib`` names too).
- ``_contrib_hawkesll`` and its ``_contrib_backward_hawkesll``: see seqmisc_hawkes.py.
- ``CTCLoss`` (``ctc_loss``, ``_contrib_CTCLoss``, ``_contrib_ctc_loss``): see seqmisc_ctc.py; a
  library call (torch's CTC), because the forward-backward recursion over alignments is a
  dynamic program, not a composition of tensor primitives.
"""
from __future__ import annotations

import math

import numpy as np

from ...base import UnsupportedError
from ..attrs import Attr
from ..registry import (
    ELEMENTWISE,
    Elementwise,
    OpDef,
    forward_shape,
    register_op,
    same_shape,
)
from ..types import DType, shape_str
from ._util import SCALAR_ATTRS, norm_axis


def get_op_attrs(name):
    from ..registry import get_op
    return get_op(name).attrs


class _OpRC:
    def __init__(self, op):
        self.attrs, self.name, self.opname = op.attrs, op.name, op.opname

    def _pre(self):
        from ...base import op_prefix
        return op_prefix(self.opname, self.name)

    def attr_error(self, m):
        from ...base import AttrError
        return AttrError(f"{self._pre()}: {m}")

    def shape_error(self, m):
        from ...base import ShapeError
        return ShapeError(f"{self._pre()}: {m}")


def _f32(v: float) -> float:
    return float(np.float32(v))


# --- div_sqrt_dim ---------------------------------------------------------------------------------
def _dsd_np(xs, a):
    x = xs[0]
    return ((x / np.sqrt(np.asarray(x.shape[-1], dtype=x.dtype))).astype(x.dtype),)


register_op(OpDef(
    name="_contrib_div_sqrt_dim", arguments=("data",), infer_shape=same_shape,
    interp=_dsd_np,
    decompose=lambda b, op: [b.div(op.inputs[0], math.sqrt(op.inputs[0].shape[-1]))],
    doc="Rescale the input by the square root of its last dimension: x / sqrt(x.shape[-1]).",
))


# --- gradientmultiplier ---------------------------------------------------------------------------
register_op(OpDef(
    name="_contrib_gradientmultiplier", attrs=SCALAR_ATTRS, arguments=("data",),
    infer_shape=same_shape, interp=lambda xs, a: (xs[0].copy(),),
    vjp=lambda b, op, g: (b.mul(g, float(op.attrs["scalar"])),),
    decompose=lambda b, op: [b.op("_copy", [op.inputs[0]])],
    doc="Identity forward; backward multiplies the gradient by `scalar` (lambda).",
))


# --- quadratic ------------------------------------------------------------------------------------
def _quad_formula(k, a, x):
    t = k.add(k.mul(x, k.const(a["a"], x.dtype)), k.const(a["b"], x.dtype))
    return k.add(k.mul(t, x), k.const(a["c"], x.dtype))


def _quad_np(xs, a):
    x = xs[0]
    return ((a["a"] * x + a["b"]) * x + a["c"]).astype(x.dtype),


register_op(OpDef(
    name="_contrib_quadratic",
    attrs=(Attr("a", "float", 0.0, doc="Coefficient of the quadratic term in the quadratic "
                "function."),
           Attr("b", "float", 0.0, doc="Coefficient of the linear term in the quadratic "
                "function."),
           Attr("c", "float", 0.0, doc="Constant term in the quadratic function.")),
    arguments=("data",), infer_shape=same_shape, interp=_quad_np,
    vjp=lambda b, op, g: (b.mul(g, b.add(b.mul(op.inputs[0], 2.0 * op.attrs["a"]),
                                         float(op.attrs["b"]))),),
    lower=Elementwise(_quad_formula), traits={ELEMENTWISE},
    doc="a * x^2 + b * x + c elementwise; gradient (2 a x + b) * g.",
))


# --- straight-through estimators ----------------------------------------------------------------
def _ste(name, prim, np_fn, what):
    register_op(OpDef(
        name=name, arguments=("data",), infer_shape=same_shape,
        interp=lambda xs, a: (np_fn(xs[0]).astype(xs[0].dtype),),
        vjp=lambda b, op, g: (g,),
        decompose=lambda b, op: [b.op(prim, [op.inputs[0]])],
        doc=f"{what} forward; straight-through gradient (the head gradient unchanged).",
    ))


def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


_ste("_contrib_round_ste", "round", _round_half_away, "round (half away from zero)")
_ste("_contrib_sign_ste", "sign", np.sign, "sign")


# --- arange_like ----------------------------------------------------------------------------------
def _al_rule(rc, shapes):
    s = shapes[0]
    if rc.attrs["axis"] is None:
        return tuple(s)
    return (s[norm_axis(rc, rc.attrs["axis"], len(s))],)


def _al_coeffs(a, dt):
    start, step = float(a["start"]), float(a["step"])
    if not dt.is_float:     # MXNet casts start and step to the output type first
        start, step = float(math.trunc(start)), float(math.trunc(step))
    return start, step


def _al_validate(rc):
    if rc.attrs["repeat"] < 1:
        raise rc.attr_error(f"repeat={rc.attrs['repeat']}; expected repeat >= 1")


def _al_np(xs, a):
    x = xs[0]
    n = x.size if a["axis"] is None else x.shape[a["axis"] % x.ndim]
    start, step = _al_coeffs(a, DType.parse(x.dtype))
    v = start + np.floor(np.arange(n, dtype=np.float64) / a["repeat"]) * step
    out = v.astype(x.dtype)
    return (out.reshape(x.shape) if a["axis"] is None else out,)


def _al_decompose(b, op):
    x = op.inputs[0]
    out = op.outputs[0]
    n = int(np.prod(out.shape))
    start, step = _al_coeffs(op.attrs, x.dtype)
    i = b.op("_arange", [], {"start": 0.0, "stop": float(n), "dtype": "float64"})
    if op.attrs["repeat"] != 1:
        i = b.op("floor", [b.div(i, float(op.attrs["repeat"]))])
    v = b.add(b.mul(i, step), start)
    return [b.reshape(b.cast(v, x.dtype), out.shape)]


register_op(OpDef(
    name="_contrib_arange_like", aliases=("_npx_arange_like",),
    attrs=(Attr("start", "float", 0.0, doc="Start of interval. The interval includes this "
                "value. The default start value is 0."),
           Attr("step", "float", 1.0, doc="Spacing between values."),
           Attr("repeat", "int", 1, doc="The repeating time of all elements."),
           Attr("ctx", "str", "", doc="Context of output (imperative calls only)."),
           Attr("axis", "int", None, optional=True, doc="Arange elements according to the size "
                "of this axis of the input (the whole shape when None).")),
    arguments=("data",), infer_shape=forward_shape(_al_rule), interp=_al_np,
    decompose=_al_decompose, differentiable=False, validate=_al_validate,
    doc="Evenly spaced values shaped like the input (or like one of its axes).",
))


# --- index_array ------------------------------------------------------------------------------------
def _ia_axes(rc, ndim):
    axes = rc.attrs["axes"]
    if axes is None:
        return tuple(range(ndim))
    return tuple(norm_axis(rc, a, ndim) for a in axes)


def _ia_rule(rc, shapes):
    s = tuple(shapes[0])
    return s + (len(_ia_axes(rc, len(s))),)


def _ia_np(xs, a):
    x = xs[0]
    axes = range(x.ndim) if a["axes"] is None else [ax % x.ndim for ax in a["axes"]]
    grids = np.indices(x.shape, dtype=np.int64)
    return (np.stack([grids[ax] for ax in axes], axis=-1).reshape(x.shape + (len(list(axes)),)),)


def _ia_decompose(b, op):
    x = op.inputs[0]
    shape = tuple(x.shape)
    nd = len(shape)
    axes = _ia_axes(_OpRC(op), nd)
    parts = []
    for ax in axes:
        r = b.op("_arange", [], {"start": 0.0, "stop": float(shape[ax]), "dtype": "int64"})
        r = b.reshape(r, tuple(shape[ax] if i == ax else 1 for i in range(nd)) + (1,))
        parts.append(b.broadcast_to(r, shape + (1,)))
    if not parts:
        return [b.op("_zeros", [], {"shape": shape + (0,), "dtype": "int64"})]
    if len(parts) == 1:
        return [parts[0]]
    return [b.op("Concat", parts, {"num_args": len(parts), "dim": nd})]


register_op(OpDef(
    name="_contrib_index_array",
    attrs=(Attr("axes", "shape", None, optional=True, doc="The axes to include in the index "
                "array. Supports negative values."),),
    arguments=("data",), infer_shape=forward_shape(_ia_rule),
    infer_dtype=lambda rc, d: (d, [DType.parse("int64")]),
    interp=_ia_np, decompose=_ia_decompose, differentiable=False,
    doc="The index of every element: out[i_1, ..., i_n, j] = i_{axes[j]} (int64).",
))


# --- index_copy -------------------------------------------------------------------------------------
def _ic_rule(rc, shapes):
    old, idx, new = shapes
    if len(idx) != 1 or len(new) < 1 or idx[0] != new[0] or tuple(old[1:]) != tuple(new[1:]) \
            or len(old) < 1 or old[0] < new[0]:
        raise rc.shape_error(f"old_tensor has shape ({shape_str(old)}), index_vector "
                             f"({shape_str(idx)}) and new_tensor ({shape_str(new)}); expected "
                             "a vector index_vector of new_tensor.shape[0] entries, "
                             "new_tensor.shape[1:] == old_tensor.shape[1:] and "
                             "old_tensor.shape[0] >= new_tensor.shape[0]")
    return tuple(old)


def _ic_dtype(rc, dts):
    d = dts[0] if dts[0] is not None else (rc.out_dtypes[0] if rc.out_dtypes else None)
    if d is not None and dts[2] is not None and dts[2] != d:
        raise rc.dtype_error(f"new_tensor has dtype {dts[2].np_name}; expected "
                             f"{d.np_name} (old_tensor's)")
    return [d, dts[1], d], [d]


def _ic_np(xs, a):
    old, idx, new = xs
    out = old.copy()
    for i, j in enumerate(idx.astype(np.int64)):    # in order: the last of repeated indices wins
        out[j] = new[i]
    return (out,)


def _arange_row(b, k, axis):
    """A (k, k) float64 grid of the row (axis 0) or column (axis 1) index."""
    r = b.op("_arange", [], {"start": 0.0, "stop": float(k), "dtype": "float64"})
    r = b.reshape(r, (k, 1) if axis == 0 else (1, k))
    return b.broadcast_to(r, (k, k))


def _onehot(b, idx, depth, dtype):
    return b.op("one_hot", [idx], {"depth": int(depth), "dtype": DType.parse(dtype).np_name})


def _ic_decompose(b, op):
    old, idx, new = op.inputs
    n = old.shape[0]
    k = new.shape[0]
    rest = int(np.prod(old.shape[1:]))
    work = old.dtype if old.dtype.is_float else DType.parse("float64")
    m = _onehot(b, idx, n, work)                                  # (k, n)
    if k > 1:   # a repeated index keeps its last row: drop rows whose index comes again later
        later = b.op("_greater", [_arange_row(b, k, 1), _arange_row(b, k, 0)])   # j > i
        same = b.op("broadcast_equal", [b.reshape(b.cast(idx, work), (k, 1)),
                                        b.reshape(b.cast(idx, work), (1, k))])
        dup = b.sum(b.mul(b.cast(later, work), same), axis=1)    # (k,): later copies of row i
        m = b.op("broadcast_mul", [m, b.reshape(b.op("_equal_scalar", [dup], {"scalar": 0.0}),
                                                (k, 1))])
    keep = b.op("_rminus_scalar", [b.sum(m, axis=0)], {"scalar": 1.0})   # (n,)
    new2 = b.reshape(b.cast(new, work), (k, rest))
    moved = b.dot(m, new2, transpose_a=True)                      # (n, rest)
    old2 = b.reshape(b.cast(old, work), (n, rest))
    out = b.add(b.op("broadcast_mul", [old2, b.reshape(keep, (n, 1))]), moved)
    return [b.cast(b.reshape(out, old.shape), old.dtype)]


register_op(OpDef(
    name="_contrib_index_copy", arguments=("old_tensor", "index_vector", "new_tensor"),
    infer_shape=forward_shape(_ic_rule), infer_dtype=_ic_dtype, interp=_ic_np,
    decompose=_ic_decompose,
    doc="old_tensor with its rows index_vector[i] replaced by new_tensor[i].",
))


# --- fill_element_0index ------------------------------------------------------------------------------
def _fe_rule(rc, shapes):
    lhs, mhs, rhs = shapes
    if len(lhs) != 2 or tuple(mhs) != (lhs[0],) or tuple(rhs) != (lhs[0],):
        raise rc.shape_error(f"lhs has shape ({shape_str(lhs)}), mhs ({shape_str(mhs)}) and rhs "
                             f"({shape_str(rhs)}); expected a matrix lhs (N, M) and vectors mhs "
                             "and rhs of N entries")
    return tuple(lhs)


def _fe_np(xs, a):
    lhs, mhs, rhs = xs
    out = lhs.copy()
    out[np.arange(lhs.shape[0]), rhs.astype(np.int64)] = mhs
    return (out,)


def _fe_decompose(b, op):
    lhs, mhs, rhs = op.inputs
    n, m = lhs.shape
    oh = _onehot(b, rhs, m, lhs.dtype)
    keep = b.op("_rminus_scalar", [oh], {"scalar": 1.0})
    put = b.op("broadcast_mul", [oh, b.reshape(b.cast(mhs, lhs.dtype), (n, 1))])
    return [b.add(b.mul(lhs, keep), put)]


register_op(OpDef(
    name="fill_element_0index", arguments=("lhs", "mhs", "rhs"),
    infer_shape=forward_shape(_fe_rule),
    infer_dtype=lambda rc, d: (d, [d[0]]),
    interp=_fe_np, decompose=_fe_decompose,
    doc="lhs with lhs[i, rhs[i]] = mhs[i] for every row i.",
))


# --- allclose ----------------------------------------------------------------------------------------
def _ac_rule(rc, shapes):
    a, b = shapes
    if tuple(a) != tuple(b):
        raise rc.shape_error(f"a has shape ({shape_str(a)}) and b ({shape_str(b)}); expected "
                             "equal shapes")
    return ()


def _ac_work(dt):
    """MXNet compares in the input's float type (float32 math for half types), else float64."""
    dt = DType.parse(dt)
    if dt in (DType.f32, DType.f64):
        return dt
    return DType.f32 if dt.is_float else DType.f64


def _ac_np(xs, at):
    w = _ac_work(xs[0].dtype).numpy
    a, b = (x.astype(w) for x in xs)
    rtol, atol = w.type(np.float32(at["rtol"])), w.type(np.float32(at["atol"]))
    nan = np.isnan(a) | np.isnan(b)
    close = (a == b) | (np.abs(a - b) <= atol + rtol * np.abs(b))
    val = np.where(nan, bool(at["equal_nan"]) & (np.isnan(a) == np.isnan(b)), close)
    return (np.asarray(np.all(val), dtype=np.uint8),)


def _ac_decompose(bl, op):
    a, b = op.inputs
    at = op.attrs
    work = _ac_work(a.dtype)
    a64, b64 = bl.cast(a, work), bl.cast(b, work)
    tol = bl.add(bl.mul(bl.op("abs", [b64]), _f32(at["rtol"])), _f32(at["atol"]))
    close = bl.op("_lesser_equal", [bl.op("abs", [bl.sub(a64, b64)]), tol])
    close = bl.op("_maximum", [close, bl.op("_equal", [a64, b64])])   # equal infinities
    na = bl.op("_not_equal", [a64, a64])
    nb = bl.op("_not_equal", [b64, b64])
    any_nan = bl.op("_maximum", [na, nb])
    nan_val = bl.op("_equal", [na, nb]) if at["equal_nan"] else bl.zeros_like(na)
    val = bl.where(any_nan, nan_val, close)
    allv = bl.op("min", [val], {})
    return [bl.cast(bl.reshape(allv, ()), "uint8")]


register_op(OpDef(
    name="_contrib_allclose",
    attrs=(Attr("rtol", "float", _f32(1e-5), doc="Relative tolerance."),
           Attr("atol", "float", _f32(1e-8), doc="Absolute tolerance."),
           Attr("equal_nan", "bool", True, doc="Whether to compare NaN's as equal.")),
    arguments=("a", "b"), infer_shape=forward_shape(_ac_rule),
    infer_dtype=lambda rc, d: (d, [DType.parse("uint8")]),
    interp=_ac_np, decompose=_ac_decompose, differentiable=False,
    doc="1 (a 0-d uint8) when |a - b| <= atol + rtol * |b| everywhere, else 0.",
))


# --- cast_storage --------------------------------------------------------------------------------------
def _cs_validate(rc):
    if rc.attrs["stype"] != "default":
        raise UnsupportedError(
            f"{rc.where}: stype={rc.attrs['stype']!r} is sparse storage, which mxc does not "
            "support; mxc keeps every array dense (stype='default')")


register_op(OpDef(
    name="cast_storage",
    attrs=(Attr("stype", "str", choices=("default", "row_sparse", "csr"),
                doc="Output storage type."),),
    arguments=("data",), infer_shape=same_shape, interp=lambda xs, a: (xs[0].copy(),),
    decompose=lambda b, op: [b.op("_copy", [op.inputs[0]])], validate=_cs_validate,
    doc="Casts to a storage type; mxc's arrays are dense, so only stype='default' (a copy).",
))


# --- BatchNormWithReLU / SyncBatchNorm ---------------------------------------------------------------
def _bn():
    from ..registry import get_op
    return get_op("BatchNorm")


def _bnr_rule(rc, shapes):
    from ..registry import RuleCtx
    od = _bn()
    ins, outs = od.infer_shape(RuleCtx(od, rc.attrs, rc.name, None, None, None), shapes)
    return ins, list(outs) + [outs[0]]


def _bnr_dtype(rc, dts):
    from ..registry import RuleCtx
    od = _bn()
    ins, outs = od.infer_dtype(RuleCtx(od, rc.attrs, rc.name, None, None, None), dts)
    return ins, list(outs) + [outs[0]]


def _bnr_np(xs, a):
    y, mean, inv = _bn().interp(xs, a)
    r = np.maximum(y, 0).astype(y.dtype)
    return r, mean, inv, (r > 0).astype(y.dtype)


def _bnr_decompose(b, op):
    y, mean, inv = b.op("BatchNorm", list(op.inputs), dict(op.attrs), op.name, parsed=True)
    r = b.op("relu", [y])
    mask = b.op("BlockGrad", [b.cast(b.op("_greater_scalar", [r], {"scalar": 0.0}), r.dtype)])
    return [r, mean, inv, mask]


def _bnr_aux_update(b, op):
    from .nn_layers import _bn_aux_update
    return _bn_aux_update(b, op)


def _register_bnr():
    od = _bn()
    register_op(OpDef(
        name="_contrib_BatchNormWithReLU", attrs=od.attrs, arguments=od.arguments, aux=od.aux,
        outputs=("output", "mean", "var", "workspace"),
        num_visible_outputs=lambda a: 3 if a["output_mean_var"] else 1,
        infer_shape=_bnr_rule, infer_dtype=_bnr_dtype, interp=_bnr_np,
        decompose=_bnr_decompose, mode_dependent=True, aux_update=_bnr_aux_update,
        validate=od.validate, extra=dict(od.extra),
        doc="relu(BatchNorm(data, ...)): batch normalization fused with a ReLU (MXNet's oneDNN "
            "operator); outputs (output, mean, inverse std) and a hidden workspace (the ReLU "
            "mask).",
    ))


_register_bnr()

_SBN_ATTRS = (
    Attr("eps", "float", _f32(1e-3), doc="Epsilon to prevent div 0"),
    Attr("momentum", "float", _f32(0.9), doc="Momentum for moving average"),
    Attr("fix_gamma", "bool", True, doc="Fix gamma while training"),
    Attr("use_global_stats", "bool", False, doc="Whether use global moving statistics instead "
         "of local batch-norm."),
    Attr("output_mean_var", "bool", False, doc="Output All,normal mean and var"),
    Attr("ndev", "int", 1, doc="The count of GPU devices (accepted; mxc runs one)"),
    Attr("key", "str", doc="Hash key for synchronization (accepted; one device needs none)"),
)
_SBN_BN = ("eps", "momentum", "fix_gamma", "use_global_stats", "output_mean_var")


def _sbn_bn_attrs(a):
    out = {k: a[k] for k in _SBN_BN}
    out["is_train"] = a["is_train"]
    return _bn().parse_attrs({**out, "axis": 1})


def _sbn_rule(rc, shapes):
    from ..registry import RuleCtx
    d = shapes[0]
    if d is not None and len(d) < 2:
        raise rc.shape_error(f"data has shape ({shape_str(d)}); expected (N, C, ...) with the "
                             "channels on axis 1")
    od = _bn()
    return od.infer_shape(RuleCtx(od, _sbn_bn_attrs(rc.attrs), rc.name, None, None, None),
                          shapes)


def _sbn_dtype(rc, dts):
    from ..registry import RuleCtx
    od = _bn()
    return od.infer_dtype(RuleCtx(od, _sbn_bn_attrs(rc.attrs), rc.name, None, None, None), dts)


def _sbn_np(xs, a):
    out, mean, inv = _bn().interp(xs, _sbn_bn_attrs(a))
    var = (1.0 / np.square(inv.astype(np.float64)) - a["eps"]).astype(out.dtype)
    return out, mean, var


def _sbn_decompose(b, op):
    """BatchNorm over axis 1; its inverse std becomes the variance ``1 / invstd^2 - eps``; the
    mean and var outputs pass no gradient (MXNet's backward reads only the output's)."""
    out, mean, inv = b.op("BatchNorm", list(op.inputs), _sbn_bn_attrs(op.attrs), op.name,
                          parsed=True)
    var = b.sub(b.div(1.0, b.square(inv)), float(op.attrs["eps"]))
    return [out, b.op("BlockGrad", [mean]), b.op("BlockGrad", [var])]


def _sbn_aux_update(b, op):
    """BatchNorm_v1's rule (its outputs are mean and biased variance too)."""
    from .classic import _bn1_aux_update
    return _bn1_aux_update(b, op)


register_op(OpDef(
    name="_contrib_SyncBatchNorm", attrs=_SBN_ATTRS, arguments=("data", "gamma", "beta"),
    aux=("moving_mean", "moving_var"), outputs=("output", "mean", "var"),
    num_visible_outputs=lambda a: 3 if a["output_mean_var"] else 1,
    infer_shape=_sbn_rule, infer_dtype=_sbn_dtype, interp=_sbn_np, decompose=_sbn_decompose,
    mode_dependent=True, aux_update=_sbn_aux_update,
    extra={"input_var_attrs": {"moving_mean": {"__init__": '["zero", {}]'},
                               "moving_var": {"__init__": '["one", {}]'}}},
    doc="Synchronized batch normalization; on one device, BatchNorm over axis 1 with outputs "
        "(output, mean, var). ndev and key are accepted.",
))


# --- interleaved multi-head attention matmuls -----------------------------------------------------
_HEADS = (Attr("heads", "int", doc="Set number of heads"),)


def _split(rc, s, what, parts, heads):
    if len(s) != 3:
        raise rc.shape_error(f"{what} has shape ({shape_str(s)}); expected 3-d (seq_length, "
                             f"batch_size, heads * {parts} * head_dim)")
    if heads < 1 or s[2] % (heads * parts):
        raise rc.shape_error(f"{what} has shape ({shape_str(s)}); its last dimension must be "
                             f"a multiple of heads * {parts} = {heads * parts}")
    return s[2] // (heads * parts)


def _att(rc, s, bh, lq, lk):
    if len(s) != 3 or tuple(s) != (bh, lq, lk):
        raise rc.shape_error(f"attention has shape ({shape_str(s)}); expected ({bh}, {lq}, {lk}) "
                             "(batch_size * heads, query length, key length)")


def _qk_self_rule(rc, shapes):
    (s,) = shapes
    h = rc.attrs["heads"]
    _split(rc, s, "queries_keys_values", 3, h)
    return (s[1] * h, s[0], s[0])


def _valatt_self_rule(rc, shapes):
    s, att = shapes
    h = rc.attrs["heads"]
    d = _split(rc, s, "queries_keys_values", 3, h)
    _att(rc, att, s[1] * h, s[0], s[0])
    return (s[0], s[1], h * d)


def _qk_encdec_rule(rc, shapes):
    q, kv = shapes
    h = rc.attrs["heads"]
    d = _split(rc, q, "queries", 1, h)
    dk = _split(rc, kv, "keys_values", 2, h)
    if d != dk or q[1] != kv[1]:
        raise rc.shape_error(f"queries have shape ({shape_str(q)}) and keys_values "
                             f"({shape_str(kv)}); expected keys_values.shape[2] == 2 * "
                             "queries.shape[2] and the same batch size")
    return (q[1] * h, q[0], kv[0])


def _valatt_encdec_rule(rc, shapes):
    kv, att = shapes
    h = rc.attrs["heads"]
    d = _split(rc, kv, "keys_values", 2, h)
    if len(att) != 3 or att[0] != kv[1] * h or att[2] != kv[0]:
        raise rc.shape_error(f"attention has shape ({shape_str(att)}); expected "
                             f"({kv[1] * h}, query length, {kv[0]}) for keys_values "
                             f"({shape_str(kv)}) and heads={h}")
    return (att[1], kv[1], h * d)


def _proj_np(x, h, parts, j):
    """(L, B, h * parts * d) -> the j-th projection as (B * h, L, d)."""
    L, B, E = x.shape
    d = E // (h * parts)
    p = x.reshape(L, B, h, parts, d)[:, :, :, j, :]
    return p.transpose(1, 2, 0, 3).reshape(B * h, L, d)


def _merge_np(o, h):
    """(B * h, L, d) -> (L, B, h * d)."""
    bh, L, d = o.shape
    return o.reshape(bh // h, h, L, d).transpose(2, 0, 1, 3).reshape(L, bh // h, h * d)


def _scale(d):
    return _f32(1.0 / math.sqrt(np.float32(d)))


def _qk_np(q, k):
    return np.matmul(q.astype(np.float64) * _scale(q.shape[-1]),
                     np.swapaxes(k, 1, 2).astype(np.float64))


def _proj(b, x, h, parts, j):
    L, B, E = x.shape
    d = E // (h * parts)
    p = b.reshape(x, (L, B, h, parts, d))
    if parts > 1:
        p = b.op("slice_axis", [p], {"axis": 3, "begin": j, "end": j + 1})
    p = b.reshape(p, (L, B, h, d))
    return b.reshape(b.transpose(p, (1, 2, 0, 3)), (B * h, L, d))


def _merge(b, o, h):
    bh, L, d = o.shape
    o = b.transpose(b.reshape(o, (bh // h, h, L, d)), (2, 0, 1, 3))
    return b.reshape(o, (L, bh // h, h * d))


def _qk(b, q, k):
    q = b.mul(q, _scale(q.shape[-1]))
    return b.op("batch_dot", [q, k], {"transpose_b": True})


def _interleaved(name, arguments, rule, np_fn, dec, doc):
    register_op(OpDef(
        name=name, attrs=_HEADS, arguments=arguments, infer_shape=forward_shape(rule),
        interp=lambda xs, a: (np_fn(xs, a["heads"]).astype(xs[0].dtype),),
        decompose=lambda b, op: [dec(b, op.inputs, op.attrs["heads"])], doc=doc,
    ))


_interleaved(
    "_contrib_interleaved_matmul_selfatt_qk", ("queries_keys_values",), _qk_self_rule,
    lambda xs, h: _qk_np(_proj_np(xs[0], h, 3, 0), _proj_np(xs[0], h, 3, 1)),
    lambda b, xs, h: _qk(b, _proj(b, xs[0], h, 3, 0), _proj(b, xs[0], h, 3, 1)),
    "Self-attention scores q k^T / sqrt(head_dim) from interleaved projections "
    "(seq_length, batch, heads * 3 * head_dim) -> (batch * heads, seq_length, seq_length).")
_interleaved(
    "_contrib_interleaved_matmul_selfatt_valatt", ("queries_keys_values", "attention"),
    _valatt_self_rule,
    lambda xs, h: _merge_np(np.matmul(xs[1].astype(np.float64),
                                      _proj_np(xs[0], h, 3, 2).astype(np.float64)), h),
    lambda b, xs, h: _merge(b, b.op("batch_dot", [xs[1], _proj(b, xs[0], h, 3, 2)]), h),
    "Self-attention output: attention weights times the values of the interleaved "
    "projections, as (seq_length, batch, heads * head_dim).")
_interleaved(
    "_contrib_interleaved_matmul_encdec_qk", ("queries", "keys_values"), _qk_encdec_rule,
    lambda xs, h: _qk_np(_proj_np(xs[0], h, 1, 0), _proj_np(xs[1], h, 2, 0)),
    lambda b, xs, h: _qk(b, _proj(b, xs[0], h, 1, 0), _proj(b, xs[1], h, 2, 0)),
    "Encoder-decoder attention scores q k^T / sqrt(head_dim) from queries (Lq, batch, "
    "heads * head_dim) and interleaved keys/values (Lk, batch, heads * 2 * head_dim).")
_interleaved(
    "_contrib_interleaved_matmul_encdec_valatt", ("keys_values", "attention"),
    _valatt_encdec_rule,
    lambda xs, h: _merge_np(np.matmul(xs[1].astype(np.float64),
                                      _proj_np(xs[0], h, 2, 1).astype(np.float64)), h),
    lambda b, xs, h: _merge(b, b.op("batch_dot", [xs[1], _proj(b, xs[0], h, 2, 1)]), h),
    "Encoder-decoder attention output: attention weights times the values of the interleaved "
    "keys/values, as (Lq, batch, heads * head_dim).")


# --- fft / ifft (MXNet: GPU only, cuFFT) -----------------------------------------------------------
def _fft_rule(kind):
    def rule(rc, shapes):
        s = tuple(shapes[0])
        if len(s) not in (2, 4):
            raise rc.shape_error(f"data has shape ({shape_str(s)}); expected a 2-d or 4-d array "
                                 "(transformed along the last axis)")
        if kind == "ifft":
            if s[-1] % 2:
                raise rc.shape_error(f"data has shape ({shape_str(s)}); expected an even last "
                                     "dimension (interleaved real and imaginary parts)")
            return s[:-1] + (s[-1] // 2,)
        return s[:-1] + (2 * s[-1],)
    return rule


def _dft_np(d):
    """The (d, 2d) real matrix of the DFT of a real row: columns 2k and 2k+1 hold the real and
    imaginary parts of exp(-2 pi i j k / d)."""
    j = np.arange(d)
    theta = 2.0 * np.pi * ((j[:, None] * j[None, :]) % d) / d
    return np.stack([np.cos(theta), -np.sin(theta)], axis=2).reshape(d, 2 * d)


def _dft(b, d, dtype):
    j = b.op("_arange", [], {"start": 0.0, "stop": float(d), "dtype": "float64"})
    jk = b.op("broadcast_mul", [b.reshape(j, (d, 1)), b.reshape(j, (1, d))])
    theta = b.mul(b.op("_mod_scalar", [jk], {"scalar": float(d)}), 2.0 * math.pi / d)
    w = b.op("stack", [b.op("cos", [theta]), b.neg(b.op("sin", [theta]))],
             {"axis": 2, "num_args": 2})
    return b.cast(b.reshape(w, (d, 2 * d)), dtype)


def _fft_np(xs, a):
    x = xs[0]
    d = x.shape[-1]
    y = x.reshape(-1, d).astype(np.float64) @ _dft_np(d)
    return (y.reshape(x.shape[:-1] + (2 * d,)).astype(x.dtype),)


def _ifft_np(xs, a):
    x = xs[0]
    d = x.shape[-1] // 2
    y = x.reshape(-1, 2 * d).astype(np.float64) @ _dft_np(d).T
    return (y.reshape(x.shape[:-1] + (d,)).astype(x.dtype),)


def _fft_decompose(b, op):
    x = op.inputs[0]
    d = x.shape[-1]
    rows = int(np.prod(x.shape[:-1]))
    y = b.dot(b.reshape(x, (rows, d)), _dft(b, d, x.dtype))
    return [b.reshape(y, op.outputs[0].shape)]


def _ifft_decompose(b, op):
    x = op.inputs[0]
    d = x.shape[-1] // 2
    rows = int(np.prod(x.shape[:-1]))
    y = b.dot(b.reshape(x, (rows, 2 * d)), _dft(b, d, x.dtype), transpose_b=True)
    return [b.reshape(y, op.outputs[0].shape)]


_COMPUTE_SIZE = (Attr("compute_size", "int", 128, doc="Maximum size of sub-batch to be "
                      "forwarded at one time (accepted and ignored)"),)

register_op(OpDef(
    name="_contrib_fft", attrs=_COMPUTE_SIZE, arguments=("data",),
    infer_shape=forward_shape(_fft_rule("fft")), interp=_fft_np, decompose=_fft_decompose,
    doc="The (unnormalised) discrete Fourier transform of each real row along the last axis, "
        "as interleaved real and imaginary parts (last dimension doubled): a product with the "
        "DFT matrix; its gradient is MXNet's (the real part of the inverse transform).",
))
register_op(OpDef(
    name="_contrib_ifft", attrs=_COMPUTE_SIZE, arguments=("data",),
    infer_shape=forward_shape(_fft_rule("ifft")), interp=_ifft_np, decompose=_ifft_decompose,
    doc="The real part of the unnormalised inverse discrete Fourier transform of each row of "
        "interleaved complex numbers (last dimension halved; no division by the length, as "
        "MXNet's): a product with the DFT matrix.",
))


# --- count_sketch (MXNet: GPU only) ----------------------------------------------------------------
def _cs_rule(rc, shapes):
    d, h, s = (tuple(x) for x in shapes)
    if len(d) not in (2, 4):
        raise rc.shape_error(f"data has shape ({shape_str(d)}); expected a 2-d or 4-d array")
    for n, v in (("h", h), ("s", s)):
        if v != (1, d[-1]):
            raise rc.shape_error(f"{n} has shape ({shape_str(v)}); expected (1, {d[-1]}) for "
                                 f"data ({shape_str(d)})")
    if rc.attrs["out_dim"] < 1:
        raise rc.attr_error(f"out_dim={rc.attrs['out_dim']}; expected out_dim >= 1")
    return d[:-1] + (rc.attrs["out_dim"],)


def _cs_np(xs, a):
    x, h, s = xs
    k = x.shape[-1]
    m = np.zeros((k, a["out_dim"]), np.float64)
    m[np.arange(k), h.reshape(-1).astype(np.int64)] = s.reshape(-1)
    y = x.reshape(-1, k).astype(np.float64) @ m
    return (y.reshape(x.shape[:-1] + (a["out_dim"],)).astype(x.dtype),)


def _cs_decompose(b, op):
    x, h, s = op.inputs
    k = x.shape[-1]
    n = op.attrs["out_dim"]
    h = b.op("BlockGrad", [b.reshape(h, (k,))])          # hashes and signs: no gradient,
    s = b.op("BlockGrad", [b.reshape(s, (k, 1))])        # as in MXNet
    m = b.op("broadcast_mul", [_onehot(b, h, n, x.dtype), b.cast(s, x.dtype)])
    rows = int(np.prod(x.shape[:-1]))
    y = b.dot(b.reshape(x, (rows, k)), m)
    return [b.reshape(y, op.outputs[0].shape)]


register_op(OpDef(
    name="_contrib_count_sketch",
    attrs=(Attr("out_dim", "int", doc="The output dimension."),
           Attr("processing_batch_size", "int", 32, doc="How many sketch vectors to process "
                "at one time (accepted and ignored).")),
    arguments=("data", "h", "s"), infer_shape=forward_shape(_cs_rule), interp=_cs_np,
    decompose=_cs_decompose,
    doc="Count sketch: out[..., h[i]] += s[i] * data[..., i] (a product with the signed "
        "one-hot matrix of the hashes); h and s get no gradient.",
))


# --- MXNet's backward operators of the above (registered by MXNet under _contrib_, so they are
# names of mx.sym.contrib too) -----------------------------------------------------------------------
register_op(OpDef(
    name="_contrib_backward_gradientmultiplier", attrs=SCALAR_ATTRS, arguments=("data",),
    infer_shape=same_shape,
    interp=lambda xs, a: ((xs[0] * np.asarray(a["scalar"], xs[0].dtype)).astype(xs[0].dtype),),
    decompose=lambda b, op: [b.mul(op.inputs[0], float(op.attrs["scalar"]))],
    doc="The gradient of gradientmultiplier: the head gradient times `scalar`.",
))


def _bq_np(xs, a):
    g, x = xs
    return ((g * (2 * a["a"] * x + a["b"])).astype(g.dtype),)


register_op(OpDef(
    name="_contrib_backward_quadratic", attrs=get_op_attrs("_contrib_quadratic"),
    arguments=("ograd", "data"), infer_shape=same_shape, interp=_bq_np,
    decompose=lambda b, op: [b.mul(op.inputs[0], b.add(b.mul(op.inputs[1],
                                                               2.0 * op.attrs["a"]),
                                                        float(op.attrs["b"])))],
    doc="The gradient of quadratic: ograd * (2 a x + b).",
))


def _bic_rule(rc, shapes):
    g, old, idx, new = shapes
    _ic_rule(rc, [old, idx, new])
    if tuple(g) != tuple(old):
        raise rc.shape_error(f"ograd has shape ({shape_str(g)}); expected old_tensor's "
                             f"({shape_str(old)})")
    return [tuple(old), tuple(idx), tuple(new)]


def _bic_np(xs, a):
    g, _old, idx, new = xs
    i = idx.astype(np.int64)
    g_old = g.copy()
    g_old[i] = 0
    return g_old, np.zeros_like(idx), g[i].astype(new.dtype)


def _bic_decompose(b, op):
    g, old, idx, new = op.inputs
    n = old.shape[0]
    rest = int(np.prod(old.shape[1:]))
    work = g.dtype if g.dtype.is_float else DType.parse("float64")
    m = _onehot(b, idx, n, work)                                        # (k, n)
    keep = b.op("_rminus_scalar", [b.op("_minimum_scalar", [b.sum(m, axis=0)],
                                        {"scalar": 1.0})], {"scalar": 1.0})
    g2 = b.reshape(b.cast(g, work), (n, rest))
    g_old = b.op("broadcast_mul", [g2, b.reshape(keep, (n, 1))])
    g_new = b.dot(m, g2)                                                # rows g[index[i]]
    return [b.cast(b.reshape(g_old, old.shape), old.dtype), b.zeros_like(idx),
            b.cast(b.reshape(g_new, new.shape), new.dtype)]


register_op(OpDef(
    name="_contrib_backward_index_copy",
    arguments=("ograd", "old_tensor", "index_vector", "new_tensor"),
    outputs=("grad_old_tensor", "grad_index_vector", "grad_new_tensor"),
    infer_shape=forward_shape(_bic_rule),
    infer_dtype=lambda rc, d: (d, [d[1], d[2], d[3]]),
    interp=_bic_np, decompose=_bic_decompose, differentiable=False,
    doc="The gradient of index_copy: ograd with the copied rows zeroed (old_tensor), zeros "
        "(index_vector) and ograd's rows at index_vector (new_tensor).",
))


from . import (
    seqmisc_ctc,  # noqa: F401  (CTCLoss)
    seqmisc_hawkes,  # noqa: F401  (_contrib_hawkesll)
)
