"""The rest of MXNet's ``linalg`` family (``mx.sym.linalg.*``, operators ``_linalg_*``); every
operator works on the last two axes, the others are batch axes.

Compositions (fusion makes them kernels, autodiff differentiates them):

- ``extractdiag`` / ``makediag``: the ``offset``-th diagonal as a strided slice of each
  flattened matrix / a broadcast times a band mask (shared with ``diag``).
- ``sumlogdiag``: ``sum(log(diag(A)))``.
- ``extracttrian`` / ``maketrian``: the triangle (lower when ``offset < 0`` or ``offset == 0``
  and ``lower``, else upper) packed row by row (the upper one column by column, as MXNet's:
  the lower triangle of ``A^T``): one slice per row, concatenated / padded rows stacked.
- ``trmm``: ``alpha * op(tri(A)) B`` (or ``B op(tri(A))``): a band mask times ``A``, then GEMM.
- ``syrk``: ``alpha * A A^T`` (or ``A^T A``): one GEMM.
- ``potri``: ``(L L^T)^{-1} = L^{-T} L^{-1}`` from the Cholesky factor: a triangular solve
  against the identity and one GEMM.

Library calls (factorizations and solves have no elementwise / reduction form; torch calls
LAPACK on the CPU and cuSOLVER / cuBLAS on the GPU), each with its gradient as IR:

- ``trsm``: triangular solve ``op(A) X = alpha B`` (``rightside``: ``X op(A) = alpha B``);
  gradient: ``dB = alpha op(A)^{-T} g`` (another ``trsm``) and ``d op(A) = -Y X^T`` with
  ``Y = op(A)^{-T} g``, kept on A's triangle.
- ``potrf``: Cholesky ``A = L L^T``; gradient ``dA = sym(L^{-T} Phi(L^T dL) L^{-1})`` with
  ``Phi`` the lower triangle with a halved diagonal (symmetric, as MXNet's). mxc factors the
  symmetric part ``(A + A^T) / 2`` (MXNet reads the lower triangle): the same for the symmetric
  inputs the operator is defined on, and the gradient above is then exactly the derivative.
- ``inverse``: gradient ``-A^{-T} g A^{-T}``.
- ``det`` / ``slogdet``: gradient ``g det(A) A^{-T}`` / ``g A^{-T}`` (none for the sign).
- ``gelqf``: ``A = L Q`` (LQ of a wide matrix, through QR of ``A^T``).
- ``syevd``: ``A = U^T diag(l) U`` (symmetric eigensolver; eigenvalues ascending, each
  eigenvector's largest-magnitude entry made positive, as MXNet's); gradient
  ``sym(U^T (diag(dl) + F o (U dU^T)) U)``, ``F_ij = 1 / (l_j - l_i)``. Like ``potrf`` it reads
  the symmetric part of A.
"""
from __future__ import annotations

import numpy as np

from ..attrs import Attr
from ..registry import Extern, OpDef, forward_shape, register_op
from ..types import shape_str
from .classic import band_mask, extract_diag, make_diag, pad_axis


def _square(rc, s, what="A"):
    if len(s) < 2 or s[-1] != s[-2]:
        raise rc.shape_error(f"{what} has shape ({shape_str(s)}); expected a (batch of) square "
                             "matrices (..., n, n)")


def _mats(rc, s, what="A"):
    if len(s) < 2:
        raise rc.shape_error(f"{what} has shape ({shape_str(s)}); expected a (batch of) "
                             "matrices with at least 2 dimensions")


def _lapack(opname, fn, *args):
    """A torch linear-algebra call; its failure (a matrix that is not positive definite, a
    singular one) becomes an MXNetError naming the operator, as MXNet's."""
    import torch

    from ...base import MXNetError
    try:
        return fn(*args)
    except torch.linalg.LinAlgError as e:
        raise MXNetError(f"{opname}: {e}") from None


def _mT_np(x):
    return np.swapaxes(x, -1, -2)


def _f64(x):
    return np.asarray(x, dtype=np.float64)


# --- extractdiag / makediag / sumlogdiag -------------------------------------------------------
_OFF = (Attr("offset", "int", 0, doc="Offset of the diagonal versus the main diagonal."),)


def _extractdiag_rule(rc, shapes):
    s = shapes[0]
    _mats(rc, s)
    k = rc.attrs["offset"]
    R, C = s[-2], s[-1]
    L = min(R, C - k) if k >= 0 else min(R + k, C)
    if L <= 0:
        raise rc.shape_error(f"offset={k} is out of range for A ({shape_str(s)})")
    return tuple(s[:-2]) + (L,)


register_op(OpDef(
    name="_linalg_extractdiag", attrs=_OFF, arguments=("A",),
    infer_shape=forward_shape(_extractdiag_rule),
    interp=lambda xs, a: (np.ascontiguousarray(np.diagonal(xs[0], a["offset"], -2, -1)),),
    decompose=lambda b, op: [extract_diag(b, op.inputs[0], op.attrs["offset"])],
    aliases=("linalg_extractdiag",),
    doc="The offset-th diagonal of each matrix (a strided slice).",
))


def _makediag_np(xs, a):
    x, k = xs[0], a["offset"]
    n = x.shape[-1] + abs(k)
    out = np.zeros(x.shape[:-1] + (n, n), x.dtype)
    i = np.arange(x.shape[-1])
    r, c = (i, i + k) if k >= 0 else (i - k, i)
    out[..., r, c] = x
    return (out,)


def _makediag_rule(rc, shapes):
    s = shapes[0]
    if len(s) < 1:
        raise rc.shape_error("A is a scalar; expected (batches of) vectors")
    return tuple(s[:-1]) + (s[-1] + abs(rc.attrs["offset"]),) * 2


register_op(OpDef(
    name="_linalg_makediag", attrs=_OFF, arguments=("A",),
    infer_shape=forward_shape(_makediag_rule),
    interp=_makediag_np,
    decompose=lambda b, op: [make_diag(b, op.inputs[0], op.attrs["offset"])],
    aliases=("linalg_makediag",),
    doc="Square matrices with the input vectors on the offset-th diagonal.",
))


def _sumlogdiag_rule(rc, shapes):
    _square(rc, shapes[0])
    return tuple(shapes[0][:-2]) or (1,)        # MXNet: a matrix gives shape (1,)


def _sumlogdiag_decompose(b, op):
    d = extract_diag(b, op.inputs[0], 0)
    return [b.reshape(b.sum(b.log(d), axis=len(d.shape) - 1), op.outputs[0].shape)]


register_op(OpDef(
    name="_linalg_sumlogdiag", arguments=("A",), infer_shape=forward_shape(_sumlogdiag_rule),
    interp=lambda xs, a: (np.log(_f64(np.diagonal(xs[0], 0, -2, -1))).sum(-1)
                          .astype(xs[0].dtype).reshape(xs[0].shape[:-2] or (1,)),),
    decompose=_sumlogdiag_decompose, aliases=("linalg_sumlogdiag",),
    doc="Sum of the logarithms of the diagonal elements of each square matrix.",
))


# --- extracttrian / maketrian ------------------------------------------------------------------
_TRIAN = _OFF + (Attr("lower", "bool", True, doc="The lower triangle (else the upper); only "
                      "relevant when offset = 0."),)


def _is_lower(a):
    return a["offset"] < 0 or (a["offset"] == 0 and a["lower"])


def _trian_rows(n, m):
    """Rows of the lower triangle ``col - row <= -m`` of an n x n matrix: (row, length)."""
    return [(i, i - m + 1) for i in range(m, n)]


def _extracttrian_rule(rc, shapes):
    s = shapes[0]
    _square(rc, s)
    m = abs(rc.attrs["offset"])
    if m >= s[-1]:
        raise rc.shape_error(f"offset={rc.attrs['offset']} is out of range for A "
                             f"({shape_str(s)})")
    n = s[-1] - m
    return tuple(s[:-2]) + (n * (n + 1) // 2,)


def _extracttrian_np(xs, a):
    x = xs[0] if _is_lower(a) else _mT_np(xs[0])
    m = abs(a["offset"])
    parts = [x[..., i, :ln] for i, ln in _trian_rows(x.shape[-1], m)]
    return (np.concatenate(parts, axis=-1),)


def _last2_T(b, x):
    nd = len(x.shape)
    return b.transpose(x, list(range(nd - 2)) + [nd - 1, nd - 2])


def _extracttrian_decompose(b, op):
    a = op.attrs
    x = op.inputs[0] if _is_lower(a) else _last2_T(b, op.inputs[0])
    nd = len(x.shape)
    m = abs(a["offset"])
    lead = tuple(x.shape[:-2])
    parts = []
    for i, ln in _trian_rows(x.shape[-1], m):
        begin = (None,) * (nd - 2) + (i, 0)
        end = (None,) * (nd - 2) + (i + 1, ln)
        row = b.op("slice", [x], {"begin": begin, "end": end})
        parts.append(b.reshape(row, lead + (ln,)))
    if len(parts) == 1:
        return parts
    return [b.op("Concat", parts, {"num_args": len(parts), "dim": nd - 2})]


register_op(OpDef(
    name="_linalg_extracttrian", attrs=_TRIAN, arguments=("A",),
    infer_shape=forward_shape(_extracttrian_rule), interp=_extracttrian_np,
    decompose=_extracttrian_decompose, aliases=("linalg_extracttrian",),
    doc="The lower or upper triangle of each square matrix, packed into a vector.",
))


def _trian_n(rc, M):
    n = round((np.sqrt(8 * M + 1) - 1) / 2)
    if n * (n + 1) // 2 != M:
        raise rc.shape_error(f"A's last dimension {M} is not a triangular number n(n+1)/2; "
                             "expected a packed triangle")
    return n


def _maketrian_rule(rc, shapes):
    s = shapes[0]
    if len(s) < 1:
        raise rc.shape_error("A is a scalar; expected (batches of) packed triangles")
    n = _trian_n(rc, s[-1]) + abs(rc.attrs["offset"])
    return tuple(s[:-1]) + (n, n)


def _maketrian_np(xs, a):
    x = xs[0]
    m = abs(a["offset"])
    nt = round((np.sqrt(8 * x.shape[-1] + 1) - 1) / 2)
    n = nt + m
    out = np.zeros(x.shape[:-1] + (n, n), x.dtype)
    pos = 0
    for i, ln in _trian_rows(n, m):
        out[..., i, :ln] = x[..., pos:pos + ln]
        pos += ln
    return (out if _is_lower(a) else np.ascontiguousarray(_mT_np(out)),)


class _RC:
    def __init__(self, op):
        self.attrs = op.attrs
        self.name = op.name
        self.opname = op.opname

    def shape_error(self, m):
        from ...base import ShapeError, op_prefix
        return ShapeError(f"{op_prefix(self.opname, self.name)}: {m}")


def _maketrian_decompose(b, op):
    x = op.inputs[0]
    a = op.attrs
    m = abs(a["offset"])
    n = _trian_n(_RC(op), x.shape[-1]) + m
    lead = tuple(x.shape[:-1])
    ax = len(lead)
    rows = []
    if m:
        rows.append(b.op("_zeros", [], {"shape": lead + (m, n), "dtype": x.dtype.np_name}))
    pos = 0
    for i, ln in _trian_rows(n, m):
        seg = b.op("slice_axis", [x], {"axis": ax, "begin": pos, "end": pos + ln})
        seg = pad_axis(b, seg, ax, 0, n - ln)
        rows.append(b.reshape(seg, lead + (1, n)))
        pos += ln
    out = rows[0] if len(rows) == 1 else b.op("Concat", rows, {"num_args": len(rows),
                                                                "dim": ax})
    return [out if _is_lower(a) else _last2_T(b, out)]


register_op(OpDef(
    name="_linalg_maketrian", attrs=_TRIAN, arguments=("A",),
    infer_shape=forward_shape(_maketrian_rule), interp=_maketrian_np,
    decompose=_maketrian_decompose, aliases=("linalg_maketrian",),
    doc="Square triangular matrices from packed triangles (the inverse of extracttrian).",
))


# --- trmm / syrk ---------------------------------------------------------------------------------
_TRI_ATTRS = (Attr("transpose", "bool", False, doc="Use transposed of the triangular matrix"),
              Attr("rightside", "bool", False, doc="Multiply triangular matrix from the right "
                   "to non-triangular one."),
              Attr("lower", "bool", True, doc="True if the triangular matrix is lower "
                   "triangular, false if it is upper triangular."),
              Attr("alpha", "float", 1.0, doc="Scalar factor to be applied to the result."))


def _tri_rule(rc, shapes):
    A, B = shapes
    _square(rc, A)
    _mats(rc, B, "B")
    n = A[-1]
    k = B[-1] if rc.attrs["rightside"] else B[-2]
    if tuple(A[:-2]) != tuple(B[:-2]) or k != n:
        side = "columns" if rc.attrs["rightside"] else "rows"
        raise rc.shape_error(f"A has shape ({shape_str(A)}) and B ({shape_str(B)}); expected "
                             f"equal batch dimensions and B's {side} to match A's size {n}")
    return tuple(B)


def _tri_np(A, lower):
    return np.tril(A) if lower else np.triu(A)


def _trmm_np(xs, a):
    A, B = _f64(xs[0]), _f64(xs[1])
    T = _tri_np(A, a["lower"])
    T = _mT_np(T) if a["transpose"] else T
    r = B @ T if a["rightside"] else T @ B
    return ((a["alpha"] * r).astype(xs[1].dtype),)


def _tri_mask(b, A, lower):
    n = A.shape[-1]
    mask = band_mask(b, n, n, 0, "le" if lower else "ge", A.dtype)
    return b.op("broadcast_mul", [A, mask])


def _gemm2(b, x, y, ta=False, tb=False, alpha=1.0):
    return b.op("_linalg_gemm2", [x, y], {"transpose_a": ta, "transpose_b": tb,
                                           "alpha": float(alpha)})


def _trmm_decompose(b, op):
    a = op.attrs
    A, B = op.inputs
    T = _tri_mask(b, A, a["lower"])
    if a["rightside"]:
        return [_gemm2(b, B, T, False, a["transpose"], a["alpha"])]
    return [_gemm2(b, T, B, a["transpose"], False, a["alpha"])]


register_op(OpDef(
    name="_linalg_trmm", attrs=_TRI_ATTRS, arguments=("A", "B"),
    infer_shape=forward_shape(_tri_rule), interp=_trmm_np, decompose=_trmm_decompose,
    aliases=("linalg_trmm",),
    doc="alpha * op(tri(A)) B or alpha * B op(tri(A)): a triangle mask and a GEMM.",
))


def _syrk_rule(rc, shapes):
    s = shapes[0]
    _mats(rc, s)
    n = s[-1] if rc.attrs["transpose"] else s[-2]
    return tuple(s[:-2]) + (n, n)


def _syrk_np(xs, a):
    A = _f64(xs[0])
    r = _mT_np(A) @ A if a["transpose"] else A @ _mT_np(A)
    return ((a["alpha"] * r).astype(xs[0].dtype),)


def _syrk_decompose(b, op):
    A = op.inputs[0]
    t = op.attrs["transpose"]
    return [_gemm2(b, A, A, t, not t, op.attrs["alpha"])]


register_op(OpDef(
    name="_linalg_syrk",
    attrs=(Attr("transpose", "bool", False, doc="Use transpose of input matrix."),
           Attr("alpha", "float", 1.0, doc="Scalar factor to be applied to the result.")),
    arguments=("A",), infer_shape=forward_shape(_syrk_rule), interp=_syrk_np,
    decompose=_syrk_decompose, aliases=("linalg_syrk",),
    doc="alpha * A A^T (or alpha * A^T A with transpose): one GEMM.",
))


# --- trsm ----------------------------------------------------------------------------------------
def _trsm_np(xs, a):
    A, B = _f64(xs[0]), _f64(xs[1])
    T = _tri_np(A, a["lower"])
    T = _mT_np(T) if a["transpose"] else T
    if a["rightside"]:       # X T = alpha B  <=>  T^T X^T = alpha B^T
        r = _mT_np(np.linalg.solve(_mT_np(T), _mT_np(B)))
    else:
        r = np.linalg.solve(T, B)
    return ((a["alpha"] * r).astype(xs[1].dtype),)


def _trsm_fn(attrs, ins, outs):
    import torch
    A, B = ins
    upper = not attrs["lower"]
    if attrs["transpose"]:
        A, upper = A.transpose(-1, -2), not upper
    X = torch.linalg.solve_triangular(A, B, upper=upper, left=not attrs["rightside"])
    if attrs["alpha"] != 1.0:
        X = X * attrs["alpha"]
    outs[0].copy_(X)


def trsm(b, A, B, transpose=False, rightside=False, lower=True, alpha=1.0):
    return b.op("_linalg_trsm", [A, B], {"transpose": transpose, "rightside": rightside,
                                          "lower": lower, "alpha": float(alpha)})


def _trsm_vjp(b, op, g):
    a = op.attrs
    A = op.inputs[0]
    X = op.outputs[0]
    t, rs, lo = a["transpose"], a["rightside"], a["lower"]
    Y = trsm(b, A, g, not t, rs, lo, 1.0)              # op(A)^{-T} g  (or g op(A)^{-T})
    dB = b.mul(Y, float(a["alpha"])) if a["alpha"] != 1.0 else Y
    if rs:      # d op(A) = -X^T Y
        dop = _gemm2(b, X, Y, True, False, -1.0)
    else:       # d op(A) = -Y X^T
        dop = _gemm2(b, Y, X, False, True, -1.0)
    dA = _last2_T(b, dop) if t else dop
    return _tri_mask(b, dA, lo), dB


register_op(OpDef(
    name="_linalg_trsm", attrs=_TRI_ATTRS, arguments=("A", "B"),
    infer_shape=forward_shape(_tri_rule), interp=_trsm_np, vjp=_trsm_vjp,
    lower=Extern(_trsm_fn, "trsm"),
    extra={"library_reason": "a triangular solve is sequential substitution: no elementwise or reduction form"}, aliases=("linalg_trsm",),
    doc="Solve op(tri(A)) X = alpha B (or X op(tri(A)) = alpha B): a library triangular "
        "solve (no elementwise form).",
))


# --- inverse / det / slogdet ---------------------------------------------------------------------
def _sq_rule(rc, shapes):
    _square(rc, shapes[0])
    return tuple(shapes[0])


def _inverse_fn(attrs, ins, outs):
    import torch
    outs[0].copy_(_lapack("_linalg_inverse", torch.linalg.inv, ins[0]))


def _inverse_vjp(b, op, g):
    Y = op.outputs[0]
    t = _gemm2(b, Y, g, True, False)
    return (_gemm2(b, t, Y, False, True, -1.0),)


register_op(OpDef(
    name="_linalg_inverse", arguments=("A",), infer_shape=forward_shape(_sq_rule),
    interp=lambda xs, a: (np.linalg.inv(_f64(xs[0])).astype(xs[0].dtype),),
    vjp=_inverse_vjp, lower=Extern(_inverse_fn, "inverse"),
    extra={"library_reason": "LU factorization with pivoting"}, aliases=("linalg_inverse",),
    doc="Inverse of each square matrix (a library LU solve); gradient -A^-T g A^-T.",
))


def _det_rule(rc, shapes):
    s = shapes[0]
    _square(rc, s)
    out = tuple(s[:-2]) or (1,)
    return out


def _det_fn(attrs, ins, outs):
    import torch
    outs[0].copy_(torch.linalg.det(ins[0]).reshape(outs[0].shape))


def _inv_T(b, A):
    return _last2_T(b, b.op("_linalg_inverse", [A]))


def _det_vjp(b, op, g):
    A = op.inputs[0]
    s = b.mul(g, op.outputs[0])
    s = b.reshape(s, tuple(A.shape[:-2]) + (1, 1))
    return (b.op("broadcast_mul", [_inv_T(b, A), s]),)


register_op(OpDef(
    name="_linalg_det", arguments=("A",), outputs=("output0",),
    infer_shape=forward_shape(_det_rule),
    interp=lambda xs, a: (np.linalg.det(_f64(xs[0])).astype(xs[0].dtype)
                          .reshape(xs[0].shape[:-2] or (1,)),),
    vjp=_det_vjp, lower=Extern(_det_fn, "det"),
    extra={"library_reason": "LU factorization with pivoting"}, aliases=("linalg_det",),
    doc="Determinant of each square matrix (a library LU); gradient g det(A) A^-T.",
))


def _slogdet_rule(rc, shapes):
    out = _det_rule(rc, shapes)
    return [out, out]


def _slogdet_np(xs, a):
    s, l = np.linalg.slogdet(_f64(xs[0]))
    shp = xs[0].shape[:-2] or (1,)
    return (np.asarray(s).astype(xs[0].dtype).reshape(shp),
            np.asarray(l).astype(xs[0].dtype).reshape(shp))


def _slogdet_fn(attrs, ins, outs):
    import torch
    s, l = torch.linalg.slogdet(ins[0])
    outs[0].copy_(s.reshape(outs[0].shape))
    outs[1].copy_(l.reshape(outs[1].shape))


def _slogdet_vjp(b, op, g):
    A = op.inputs[0]
    gl = g[1] if isinstance(g, (list, tuple)) else g
    if gl is None:
        return (None,)
    s = b.reshape(gl, tuple(A.shape[:-2]) + (1, 1))
    return (b.op("broadcast_mul", [_inv_T(b, A), s]),)


register_op(OpDef(
    name="_linalg_slogdet", arguments=("A",), outputs=("output0", "output1"),
    infer_shape=forward_shape(_slogdet_rule), interp=_slogdet_np, vjp=_slogdet_vjp,
    lower=Extern(_slogdet_fn, "slogdet"),
    extra={"library_reason": "LU factorization with pivoting"}, aliases=("linalg_slogdet",),
    doc="Sign and log-absolute determinant (a library LU); gradient g A^-T for the log.",
))


# --- potrf / potri -------------------------------------------------------------------------------
def _potrf_fn(attrs, ins, outs):
    import torch
    A = ins[0]
    outs[0].copy_(_lapack("_linalg_potrf", torch.linalg.cholesky,
                          (A + A.transpose(-1, -2)) * 0.5))


def _potrf_np(xs, a):
    A = _f64(xs[0])
    return (np.linalg.cholesky((A + _mT_np(A)) / 2).astype(xs[0].dtype),)


def _eye_like(b, A):
    n = A.shape[-1]
    e = b.op("_eye", [], {"N": n, "dtype": A.dtype.np_name})
    return b.broadcast_to(b.reshape(e, (1,) * (len(A.shape) - 2) + (n, n)), A.shape)


def _potrf_vjp(b, op, g):
    """dA = sym(L^-T Phi(L^T dL) L^-1), Phi(X): the lower triangle of X, diagonal halved."""
    L = op.outputs[0]
    n = L.shape[-1]
    P = _gemm2(b, L, g, True, False)                          # L^T dL
    half = b.add(band_mask(b, n, n, -1, "le", L.dtype),       # strictly lower: 1, diagonal: 1/2
                 b.mul(band_mask(b, n, n, 0, "eq", L.dtype), 0.5))
    P = b.op("broadcast_mul", [P, half])
    S = trsm(b, L, P, transpose=True)                         # L^-T Phi
    S = trsm(b, L, S, rightside=True)                         # (L^-T Phi) L^-1
    return (b.mul(b.add(S, _last2_T(b, S)), 0.5),)


register_op(OpDef(
    name="_linalg_potrf", arguments=("A",), infer_shape=forward_shape(_sq_rule),
    interp=_potrf_np, vjp=_potrf_vjp, lower=Extern(_potrf_fn, "cholesky"),
    extra={"library_reason": "a factorization (sequential column updates)"},
    aliases=("linalg_potrf",),
    doc="Cholesky factor L (lower) of each symmetric positive-definite matrix (a library "
        "factorization).",
))


def _potri_np(xs, a):
    L = np.tril(_f64(xs[0]))
    Li = np.linalg.inv(L)
    return ((_mT_np(Li) @ Li).astype(xs[0].dtype),)


def _potri_decompose(b, op):
    L = op.inputs[0]
    Li = trsm(b, L, _eye_like(b, L))                          # L^-1
    return [_gemm2(b, Li, Li, True, False)]                   # L^-T L^-1


register_op(OpDef(
    name="_linalg_potri", arguments=("A",), infer_shape=forward_shape(_sq_rule),
    interp=_potri_np, decompose=_potri_decompose, aliases=("linalg_potri",),
    doc="(L L^T)^-1 from a Cholesky factor L: a triangular solve and a GEMM.",
))


# --- gelqf ---------------------------------------------------------------------------------------
def _gelqf_rule(rc, shapes):
    s = shapes[0]
    _mats(rc, s)
    if s[-2] > s[-1]:
        raise rc.shape_error(f"A has shape ({shape_str(s)}); expected matrices with no more "
                             "rows than columns (m <= n)")
    return [tuple(s), tuple(s[:-1]) + (s[-2],)]


def _gelqf_np(xs, a):
    A = _f64(xs[0])
    q, r = np.linalg.qr(_mT_np(A))          # A^T = Q' R'  =>  A = R'^T Q'^T
    return (np.ascontiguousarray(_mT_np(q)).astype(xs[0].dtype),
            np.ascontiguousarray(_mT_np(r)).astype(xs[0].dtype))


def _gelqf_fn(attrs, ins, outs):
    import torch
    q, r = _lapack("_linalg_gelqf", torch.linalg.qr, ins[0].transpose(-1, -2))
    outs[0].copy_(q.transpose(-1, -2))
    outs[1].copy_(r.transpose(-1, -2))


def _gelqf_vjp(b, op, g):
    """dA = L^-T (dQ + copyltu(M) Q) with M = L^T dL - dQ Q^T and copyltu(M) the symmetric
    matrix with M's lower triangle."""
    Q, L = op.outputs
    gQ, gL = g
    gQ = gQ if gQ is not None else b.zeros_like(Q)
    gL = gL if gL is not None else b.zeros_like(L)
    m = L.shape[-1]
    M = b.sub(_gemm2(b, L, gL, True, False), _gemm2(b, gQ, Q, False, True))
    low = b.op("broadcast_mul", [M, band_mask(b, m, m, 0, "le", M.dtype)])
    strict = b.op("broadcast_mul", [M, band_mask(b, m, m, -1, "le", M.dtype)])
    C = b.add(low, _last2_T(b, strict))
    return (trsm(b, L, b.add(gQ, _gemm2(b, C, Q)), transpose=True),)


register_op(OpDef(
    name="_linalg_gelqf", arguments=("A",), outputs=("output0", "output1"),
    infer_shape=forward_shape(_gelqf_rule), interp=_gelqf_np, vjp=_gelqf_vjp,
    lower=Extern(_gelqf_fn, "lq"),
    extra={"library_reason": "a factorization (Householder reflections)"}, aliases=("linalg_gelqf",),
    doc="LQ factorization A = L Q of wide matrices (a library QR of A^T); outputs Q, L.",
))


# --- syevd ---------------------------------------------------------------------------------------
def _syevd_rule(rc, shapes):
    s = shapes[0]
    _square(rc, s)
    return [tuple(s), tuple(s[:-1])]


def _row_signs_np(U):
    """MXNet's convention: each eigenvector (row) has its largest-magnitude entry positive."""
    idx = np.abs(U).argmax(axis=-1)[..., None]
    s = np.sign(np.take_along_axis(U, idx, axis=-1))
    return U * np.where(s == 0, 1.0, s)


def _syevd_np(xs, a):
    A = _f64(xs[0])
    w, V = np.linalg.eigh((A + _mT_np(A)) / 2)
    U = _row_signs_np(_mT_np(V))
    return (np.ascontiguousarray(U).astype(xs[0].dtype), w.astype(xs[0].dtype))


def _syevd_fn(attrs, ins, outs):
    import torch
    A = ins[0]
    w, V = _lapack("_linalg_syevd", torch.linalg.eigh, (A + A.transpose(-1, -2)) * 0.5)
    U = V.transpose(-1, -2)
    idx = U.abs().argmax(dim=-1, keepdim=True)
    s = torch.sign(torch.gather(U, -1, idx))
    outs[0].copy_(U * torch.where(s == 0, torch.ones_like(s), s))
    outs[1].copy_(w)


def _syevd_vjp(b, op, g):
    """A = U^T diag(l) U (eigenvectors as rows): dA = sym(U^T (diag(dl) + F o (U dU^T)) U) with
    F_ij = 1 / (l_j - l_i) off the diagonal."""
    U, lam = op.outputs
    gU, gl = g
    n = U.shape[-1]
    lead = tuple(U.shape[:-2])
    eye = band_mask(b, n, n, 0, "eq", U.dtype)
    off = b.op("_rminus_scalar", [eye], {"scalar": 1.0})
    M = None
    if gl is not None:
        M = b.op("broadcast_mul", [b.reshape(gl, lead + (1, n)), eye])
    if gU is not None:
        diff = b.op("broadcast_sub", [b.reshape(lam, lead + (1, n)),
                                      b.reshape(lam, lead + (n, 1))])   # l_j - l_i
        F = b.op("broadcast_div", [off, b.op("broadcast_add", [diff, eye])])
        T = b.mul(F, _gemm2(b, U, gU, False, True))
        M = T if M is None else b.add(M, T)
    if M is None:
        return (None,)
    S = _gemm2(b, _gemm2(b, U, M, True, False), U)
    return (b.mul(b.add(S, _last2_T(b, S)), 0.5),)


register_op(OpDef(
    name="_linalg_syevd", arguments=("A",), outputs=("output0", "output1"),
    infer_shape=forward_shape(_syevd_rule), interp=_syevd_np, vjp=_syevd_vjp,
    lower=Extern(_syevd_fn, "eigh"),
    extra={"library_reason": "an iterative eigensolver"}, aliases=("linalg_syevd",),
    doc="Eigendecomposition A = U^T diag(l) U of symmetric matrices (a library eigensolver); "
        "eigenvalues ascending, each eigenvector's largest-magnitude entry positive.",
))
