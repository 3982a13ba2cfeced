"""Random numbers: MXNet's samplers and densities, counter-based.

Operators: ``_random_<dist>`` (scalar parameters, a ``shape``; aliases ``random_<dist>``, and
``uniform`` / ``normal``), ``_random_<dist>_like`` (the shape of ``data``), ``_sample_<dist>``
(per-row parameters from input arrays; aliases ``sample_<dist>``), ``_sample_multinomial``,
``_shuffle`` and the densities ``_random_pdf_<dist>`` (aliases ``random_pdf_<dist>``).

**Generation.** Every random value is a pure function of ``(seed, draw, element index)``:
Philox4x32-10 (Salmon et al., SC'11) with key ``(seed_lo, seed_hi)`` and counter
``(index_lo, index_hi | substream << 16, draw_lo, draw_hi)``. ``draw`` is a 64-bit counter of
the device's generator, taken (and bumped) once per execution of a random operator, the way
MXNet's global generator advances with each sampling call. The seed and the draw reach a
compiled kernel as data, not code: a ``_random_key`` step (a tiny library call) writes the four
words into a buffer every time the program runs, and the generated kernels read them. So a
kernel is compiled once, its results are reproducible for a seed, and they do not depend on how
ops are fused, on the number of threads, or on the backend: the LLVM kernel, the Triton kernel
and the numpy reference (``interp``) compute the same Philox words bit for bit.

Which operators are generated kernels and which are library (extern) steps:

- generated kernels (``_random_gen``): uniform, normal (Box-Muller), exponential (inversion),
  randint (modulo of a 64-bit word), for ``_random_*``, ``_random_*_like`` and ``_sample_*``;
- extern steps, deterministic numpy code on the same Philox stream (their rejection loops need
  control flow the kernel IR does not have): gamma (Marsaglia-Tsang), poisson (inversion below
  lambda 12, Numerical Recipes' rejection above), negative_binomial and
  generalized_negative_binomial (a gamma-poisson mixture, as MXNet), multinomial (inverse CDF),
  shuffle (a sort of per-row random keys);
- densities (``_random_pdf_*``) are ordinary elementwise math, decomposed into primitives; the
  autodiff pass differentiates the decomposition, which gives MXNet's gradients (the sample gets
  no gradient for the discrete distributions, as in MXNet).

Uniform draws are bit-identical across backends: ``[0, 1)`` values are multiples of ``2^-24``
(float16/float32) or ``2^-53`` (float64) made from Philox words with integer operations, and
``low + (high - low) * u`` for scalar bounds is computed so that every product is exact (fused
multiply-add or not, the result is the same). The other distributions go through ``log``,
``cos`` ... whose last bits differ between libm, Triton and numpy: they agree to a few ulps.

The generator state (seed and draw counter of each device) lives here, in the compiler core;
``mx.random.seed`` sets it. Unlike MXNet, the same seed gives the same numbers on every device.
"""
from __future__ import annotations

import math
import os
import threading

import numpy as np

from ...base import MXNetError, UnsupportedError
from ..attrs import Attr
from ..registry import (ELEMENTWISE, RANDOM, Elementwise, Extern, OpDef, register_op)
from ..types import DType

__all__ = ["philox4x32", "set_seed", "next_key", "seed_of", "uniform_bits_np"]

# =================================================================================================
# Philox4x32-10
# =================================================================================================
MASK32 = 0xFFFFFFFF
_M0, _M1 = 0xD2511F53, 0xCD9E8D57          # round multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85          # key schedule (Weyl) increments
_ROUNDS = 10
_SUB_SHIFT = 16                             # counter word 1 = index_hi | substream << 16
MAX_ELEMENTS = 1 << 48                      # index_hi must fit in 16 bits


def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on numpy arrays (any integer dtype, values < 2^32): the four output
    words as uint64 arrays (values < 2^32). The generated kernels compute the same."""
    u = np.uint64
    c0, c1, c2, c3, k0, k1 = (np.asarray(v).astype(u) for v in (c0, c1, c2, c3, k0, k1))
    m0, m1, mask, sh = u(_M0), u(_M1), u(MASK32), u(32)
    for r in range(_ROUNDS):
        if r:
            k0 = (k0 + u(_W0)) & mask
            k1 = (k1 + u(_W1)) & mask
        p0 = m0 * c0
        p1 = m1 * c2
        c0, c1, c2, c3 = ((p1 >> sh) ^ c1 ^ k0, p1 & mask, (p0 >> sh) ^ c3 ^ k1, p0 & mask)
    return c0, c1, c2, c3


def _k_philox(k, c, key):
    """Philox4x32-10 as kernel IR: ``c`` four counter words, ``key`` two key words (u64
    instructions holding 32-bit values). Only add/mul/and/xor/div, which both renderers have."""
    u64 = DType.u64
    m0, m1 = k.const(_M0, u64), k.const(_M1, u64)
    mask, two32 = k.const(MASK32, u64), k.const(1 << 32, u64)
    c0, c1, c2, c3 = c
    k0, k1 = key
    for r in range(_ROUNDS):
        if r:
            k0 = k.and_(k.add(k0, k.const(_W0, u64)), mask)
            k1 = k.and_(k.add(k1, k.const(_W1, u64)), mask)
        p0 = k.mul(m0, c0)
        p1 = k.mul(m1, c2)
        c0, c1, c2, c3 = (k.xor(k.xor(k.div(p1, two32), c1), k0), k.and_(p1, mask),
                          k.xor(k.xor(k.div(p0, two32), c3), k1), k.and_(p0, mask))
    return c0, c1, c2, c3


# =================================================================================================
# generator state: a seed and a draw counter per device
# =================================================================================================
_lock = threading.Lock()
_state: dict[str, list] = {}        # device -> [seed (64 bits), next draw]
_all_seed: list = [None]           # the last seed given for every device (None: unseeded)
_process_seed = int.from_bytes(os.urandom(8), "little")


def _dev(device) -> str:
    if device is None:
        return "cpu"
    s = str(device)
    if s.startswith("cuda") and ":" not in s:
        import torch
        s = f"cuda:{torch.cuda.current_device()}"
    return s


def set_seed(seed: int, device=None) -> None:
    """Seed the generator of ``device`` (a torch device or its name), or of every device
    (those created later too) when ``device`` is None; the draw counter restarts at 0."""
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    with _lock:
        if device is None:
            _all_seed[0] = seed
            for st in _state.values():
                st[0], st[1] = seed, 0
        else:
            _state[_dev(device)] = [seed, 0]


def seed_of(device=None) -> int:
    """The seed of ``device``'s generator (creating it if needed)."""
    with _lock:
        return _get(_dev(device))[0]


def _get(d: str) -> list:
    st = _state.get(d)
    if st is None:
        seed = _all_seed[0] if _all_seed[0] is not None else _process_seed
        st = _state[d] = [seed, 0]
    return st


def next_key(device=None) -> np.ndarray:
    """The key words of the next draw of ``device``'s generator: int64
    ``[seed_lo, seed_hi, draw_lo, draw_hi]``; the draw counter advances by one."""
    with _lock:
        st = _get(_dev(device))
        seed, draw = st
        st[1] = (draw + 1) & 0xFFFFFFFFFFFFFFFF
    return np.array([seed & MASK32, seed >> 32, draw & MASK32, draw >> 32], dtype=np.int64)


# =================================================================================================
# bits -> numbers (numpy; the kernel formulas below mirror these operation for operation)
# =================================================================================================
_P24 = 2.0 ** -24
_P53 = 2.0 ** -53


def _np_words(key, n: int, sub: int | np.ndarray = 0, idx=None):
    """Philox words for element indices ``idx`` (default ``0..n-1``) and substream ``sub``."""
    if idx is None:
        if n >= MAX_ELEMENTS:
            raise UnsupportedError(f"random arrays of {n} elements (2^48 or more) are not "
                                   "supported by mxc")
        idx = np.arange(n, dtype=np.uint64)
    idx = np.asarray(idx, dtype=np.uint64)
    key = np.asarray(key, dtype=np.int64).astype(np.uint64)
    lo = idx & np.uint64(MASK32)
    hi = (idx >> np.uint64(32)) | (np.asarray(sub, dtype=np.uint64) << np.uint64(_SUB_SHIFT))
    return philox4x32(lo, hi, key[2], key[3], key[0], key[1])


def _u24(w):           # [0, 1), multiples of 2^-24
    return (w >> np.uint64(8)).astype(np.float64) * _P24


def _u24o(w):          # (0, 1]
    return ((w >> np.uint64(8)) + np.uint64(1)).astype(np.float64) * _P24


def _m53(wa, wb):
    return (wa >> np.uint64(5)) * np.uint64(1 << 26) + (wb >> np.uint64(6))


def _u53(wa, wb):      # [0, 1), multiples of 2^-53
    return _m53(wa, wb).astype(np.float64) * _P53


def _u53o(wa, wb):     # (0, 1]
    return (_m53(wa, wb) + np.uint64(1)).astype(np.float64) * _P53


def uniform_bits_np(key, n: int, dtype) -> np.ndarray:
    """The ``[0, 1)`` uniform numbers a generated kernel draws for ``n`` elements."""
    w = _np_words(key, n)
    if DType.parse(dtype) == DType.f64:
        return _u53(w[0], w[1])
    return _u24(w[0]).astype(np.float32)


def _round_down_bits(x: float, bits: int) -> float:
    """``x >= 0`` rounded toward zero to ``bits`` significant bits (so that its product with
    a (64 - bits)-bit integer is exact in float64)."""
    if x == 0.0 or not math.isfinite(x):
        return x
    m, e = math.frexp(x)
    return math.ldexp(math.floor(m * (1 << bits)), e - bits)


def _compute_dtype(out: DType) -> DType:
    return DType.f64 if out == DType.f64 else DType.f32


def _np_scalar_uniform(w, low: float, high: float, out: DType):
    """``low + (high - low) * u`` with every product exact (see the module docstring)."""
    if out == DType.f64:
        d = _round_down_bits(high - low, 26)
        m = _m53(w[0], w[1])
        mh = (m >> np.uint64(26)).astype(np.float64) * 2.0 ** -27
        ml = (m & np.uint64((1 << 26) - 1)).astype(np.float64) * _P53
        return (low + d * mh) + d * ml
    lo = float(np.float32(low))
    d = _round_down_bits(float(np.float32(high)) - lo, 29)
    return lo + d * _u24(w[0])


def _np_gen(key, shape, dist: str, out: DType, params: list, a: float, b: float):
    """Reference of ``_random_gen``: ``params`` are arrays broadcast to ``shape`` (or empty:
    the scalars ``a``, ``b``)."""
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    w = _np_words(key, n)
    cdt = np.float64 if out == DType.f64 else np.float32
    wide = out == DType.f64
    ps = [np.broadcast_to(np.asarray(p), shape).reshape(-1).astype(cdt) for p in params]
    with np.errstate(all="ignore"):
        if dist == "uniform":
            if not ps:
                r = _np_scalar_uniform(w, a, b, out)
            else:
                u = _u53(w[0], w[1]) if wide else _u24(w[0]).astype(np.float32)
                r = ps[0] + (ps[1] - ps[0]) * u
        elif dist in ("normal", "exponential"):
            if wide:
                u1, u2 = _u53o(w[0], w[1]), _u53(w[2], w[3])
            else:
                u1, u2 = _u24o(w[0]).astype(np.float32), _u24(w[1]).astype(np.float32)
            if dist == "normal":
                loc, scale = ps if ps else (cdt(a), cdt(b))
                z = np.sqrt(cdt(-2.0) * np.log(u1)) * np.cos(cdt(2.0 * math.pi) * u2)
                r = loc + scale * z
            else:
                lam = ps[0] if ps else cdt(a)
                r = -np.log(u1) / lam
        else:
            raise MXNetError(f"_random_gen: unknown distribution {dist!r}")
    return np.asarray(r).astype(out.numpy).reshape(shape)


def _np_randint(key, shape, low: int, high: int, out: DType):
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    w = _np_words(key, n)
    w64 = w[0] * np.uint64(1 << 32) + w[1]
    r = (w64 % np.uint64(high - low)).astype(np.int64) + np.int64(low)
    return r.astype(out.numpy).reshape(shape)


# =================================================================================================
# bits -> numbers (kernel IR)
# =================================================================================================
def _k_words(k, kw, shape, sub: int = 0):
    """Philox words of the element at the kernel's current index (``k.index_env``) of an
    array of ``shape``; ``kw``: the four key words (i64 instructions)."""
    from ...codegen.kir import linearize
    u64 = DType.u64
    idx = k.cast(k.ix(linearize(k.index_env, shape)), u64)
    mask = k.const(MASK32, u64)
    lo = k.and_(idx, mask)
    hi = k.div(idx, k.const(1 << 32, u64))
    if sub:
        hi = k.add(hi, k.const(sub << _SUB_SHIFT, u64))
    kw = [k.cast(x, u64) for x in kw]
    return _k_philox(k, (lo, hi, kw[2], kw[3]), (kw[0], kw[1]))


def _k_u24(k, w, open_: bool = False):
    m = k.div(w, k.const(256, DType.u64))
    if open_:
        m = k.add(m, k.const(1, DType.u64))
    return k.mul(k.cast(m, DType.f64), k.const(_P24, DType.f64))


def _k_m53(k, wa, wb):
    u64 = DType.u64
    return k.add(k.mul(k.div(wa, k.const(32, u64)), k.const(1 << 26, u64)),
                 k.div(wb, k.const(64, u64)))


def _k_u53(k, wa, wb, open_: bool = False):
    m = _k_m53(k, wa, wb)
    if open_:
        m = k.add(m, k.const(1, DType.u64))
    return k.mul(k.cast(m, DType.f64), k.const(_P53, DType.f64))


def _k_scalar_uniform(k, w, low: float, high: float, out: DType):
    f64, u64 = DType.f64, DType.u64
    if out == DType.f64:
        d = k.const(_round_down_bits(high - low, 26), f64)
        m = _k_m53(k, w[0], w[1])
        mh = k.mul(k.cast(k.div(m, k.const(1 << 26, u64)), f64), k.const(2.0 ** -27, f64))
        ml = k.mul(k.cast(k.and_(m, k.const((1 << 26) - 1, u64)), f64), k.const(_P53, f64))
        return k.add(k.add(k.const(low, f64), k.mul(d, mh)), k.mul(d, ml))
    lo = float(np.float32(low))
    d = _round_down_bits(float(np.float32(high)) - lo, 29)
    return k.add(k.const(lo, f64), k.mul(k.const(d, f64), _k_u24(k, w[0])))


def _gen_formula(k, attrs, *xs):
    out = DType.parse(attrs["dtype"])
    shape = tuple(attrs["shape"])
    w = _k_words(k, xs[:4], shape)
    params = list(xs[4:])
    dist = attrs["dist"]
    wide = out == DType.f64
    cdt = _compute_dtype(out)
    ps = [k.cast(p, cdt) for p in params]

    def c(v):
        return k.const(v, cdt)
    if dist == "uniform":
        if not ps:
            return k.cast(_k_scalar_uniform(k, w, attrs["a"], attrs["b"], out), out)
        u = _k_u53(k, w[0], w[1]) if wide else k.cast(_k_u24(k, w[0]), cdt)
        return k.cast(k.add(ps[0], k.mul(k.sub(ps[1], ps[0]), u)), out)
    if wide:
        u1, u2 = _k_u53(k, w[0], w[1], True), _k_u53(k, w[2], w[3])
    else:
        u1, u2 = k.cast(_k_u24(k, w[0], True), cdt), k.cast(_k_u24(k, w[1]), cdt)
    if dist == "normal":
        p1, p2 = ps if ps else (c(attrs["a"]), c(attrs["b"]))
        z = k.mul(k.sqrt(k.mul(c(-2.0), k.log(u1))), k.cos(k.mul(c(2.0 * math.pi), u2)))
        return k.cast(k.add(p1, k.mul(p2, z)), out)
    if dist == "exponential":
        lam = ps[0] if ps else c(attrs["a"])
        return k.cast(k.div(k.neg(k.log(u1)), lam), out)
    raise MXNetError(f"_random_gen: unknown distribution {dist!r}")


def _randint_formula(k, attrs, *kw):
    out = DType.parse(attrs["dtype"])
    w = _k_words(k, kw, tuple(attrs["shape"]))
    u64 = DType.u64
    w64 = k.add(k.mul(w[0], k.const(1 << 32, u64)), w[1])
    r = k.mod(w64, k.const(attrs["high"] - attrs["low"], u64))
    return k.cast(k.add(k.cast(r, DType.i64), k.const(attrs["low"], DType.i64)), out)


# =================================================================================================
# samplers with rejection loops (extern steps; numpy, vectorized, deterministic)
# =================================================================================================
# substreams (counter word 1, bits 16..31) of one element: 0 for the generated kernels,
# multinomial and shuffle; gamma's attempts 1.., its a < 1 boost, then poisson's draws
_GAMMA_SUB, _GAMMA_TRIES, _BOOST_SUB = 1, 8191, 16383
_POIS_SUB, _POIS_TRIES = 16384, 49150


def _lgamma_np(x):
    import torch
    return torch.lgamma(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))).numpy()


def _np_gamma(key, idx, a, b, what: str):
    """Gamma(shape a, scale b) for elements ``idx`` (Marsaglia and Tsang's method with the
    ``u^(1/a)`` boost for a < 1, as MXNet's sampler); invalid parameters give NaN."""
    n = idx.size
    out = np.full(n, np.nan)
    with np.errstate(all="ignore"):
        ok_par = (a >= 0) & (b >= 0) & np.isfinite(a) & np.isfinite(b)
        d = np.where(a < 1, a + 2.0 / 3.0, a - 1.0 / 3.0)
        c = 1.0 / np.sqrt(9.0 * d)
        pend = np.nonzero(ok_par)[0]
        for t in range(_GAMMA_TRIES):
            if pend.size == 0:
                break
            ii = idx[pend]
            w = _np_words(key, 0, _GAMMA_SUB + 2 * t, ii)
            z = np.sqrt(-2.0 * np.log(_u53o(w[0], w[1]))) * np.cos(2.0 * math.pi * _u53(w[2], w[3]))
            v = _np_words(key, 0, _GAMMA_SUB + 2 * t + 1, ii)
            lu = np.log(_u53o(v[0], v[1]))               # log(1 - U), U in [0, 1)
            dd, cc = d[pend], c[pend]
            x = 1.0 + cc * z
            vv = x * x * x
            acc = (z > -1.0 / cc) & (lu < 0.5 * z * z + dd * (1.0 - vv + np.log(vv)))
            out[pend[acc]] = (dd * vv)[acc]
            pend = pend[~acc]
        if pend.size:
            raise MXNetError(f"{what}: the gamma sampler did not accept a sample in "
                             f"{_GAMMA_TRIES} attempts (alpha={a[pend[0]]})")
        small = np.nonzero(ok_par & (a < 1))[0]
        if small.size:
            w = _np_words(key, 0, _BOOST_SUB, idx[small])
            out[small] *= _u53(w[0], w[1]) ** (1.0 / a[small])
        return out * b


def _np_poisson(key, idx, lam, what: str):
    """Poisson(lam) for elements ``idx``: inversion of the CDF below lam 12, Numerical Recipes'
    rejection from a Lorentzian above (MXNet's method there); invalid lam gives NaN."""
    n = idx.size
    out = np.full(n, np.nan)
    with np.errstate(all="ignore"):
        valid = (lam >= 0) & np.isfinite(lam)
        out[valid & (lam == 0)] = 0.0
        small = np.nonzero(valid & (lam > 0) & (lam < 12))[0]
        if small.size:
            w = _np_words(key, 0, _POIS_SUB, idx[small])
            u = _u53(w[0], w[1])
            lam_s = lam[small]
            p = np.exp(-lam_s)
            cdf = p.copy()
            k = np.zeros(small.size)
            act = np.nonzero(u > cdf)[0]
            while act.size:
                k[act] += 1.0
                p[act] *= lam_s[act] / k[act]
                cdf[act] += p[act]
                act = act[(u[act] > cdf[act]) & (p[act] > 0)]
            out[small] = k
        big = np.nonzero(valid & (lam >= 12))[0]
        if big.size:
            lb = lam[big]
            sq = np.sqrt(2.0 * lb)
            ll = np.log(lb)
            g = lb * ll - _lgamma_np(lb + 1.0)
            res = np.empty(big.size)
            pend = np.arange(big.size)
            for t in range(_POIS_TRIES):
                if pend.size == 0:
                    break
                w = _np_words(key, 0, _POIS_SUB + 1 + t, idx[big[pend]])
                y = np.tan(math.pi * _u53(w[0], w[1]))
                em = np.floor(sq[pend] * y + lb[pend])
                ratio = 0.9 * (1.0 + y * y) * np.exp(em * ll[pend] - _lgamma_np(em + 1.0) -
                                                     g[pend])
                acc = (em >= 0) & (_u53(w[2], w[3]) <= ratio)
                res[pend[acc]] = em[acc]
                pend = pend[~acc]
            if pend.size:
                raise MXNetError(f"{what}: the poisson sampler did not accept a sample in "
                                 f"{_POIS_TRIES} attempts (lam={lb[pend[0]]})")
            out[big] = res
    return out


_EXT_DISTS = ("gamma", "poisson", "negative_binomial", "generalized_negative_binomial")


def _np_sample_ext(key, shape, dist: str, out: DType, params: list, a: float, b: float,
                   what: str = "sampler"):
    """Reference (and implementation) of ``_random_sample_ext``."""
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if n >= MAX_ELEMENTS:
        raise UnsupportedError(f"{what}: random arrays of {n} elements (2^48 or more) are not "
                               "supported by mxc")
    idx = np.arange(n, dtype=np.uint64)
    if params:
        ps = [np.broadcast_to(np.asarray(p, dtype=np.float64), shape).reshape(-1)
              for p in params]
    else:
        ps = [np.full(n, a, dtype=np.float64), np.full(n, b, dtype=np.float64)]
    with np.errstate(all="ignore"):
        if dist == "gamma":
            r = _np_gamma(key, idx, ps[0], ps[1], what)
        elif dist == "poisson":
            r = _np_poisson(key, idx, ps[0], what)
        elif dist == "negative_binomial":
            k, p = ps[0], ps[1]
            lam = _np_gamma(key, idx, k, (1.0 - p) / p, what)
            r = _np_poisson(key, idx, lam, what)
        elif dist == "generalized_negative_binomial":
            mu, alpha = ps[0], ps[1]
            lam = np.where(alpha == 0, mu,
                           _np_gamma(key, idx, 1.0 / alpha, alpha * mu, what))
            r = _np_poisson(key, idx, lam, what)
        else:
            raise MXNetError(f"{what}: unknown distribution {dist!r}")
    return r.astype(out.numpy).reshape(shape)


def _np_multinomial(key, data, shape, get_prob: bool, odt: DType):
    """``_sample_multinomial``: inverse CDF of each row of ``data`` at uniform numbers."""
    import torch
    data = np.asarray(data)
    kk = data.shape[-1]
    rows = data.size // kk if kk else 0
    oshape = _multinomial_shape(data.shape, shape)
    m = int(np.prod(oshape)) // max(rows, 1) if rows else 0
    w = _np_words(key, rows * m)
    u = _u53o(w[0], w[1]).reshape(rows, m)
    d2 = data.reshape(rows, kk).astype(np.float64)
    cdf = np.cumsum(d2, axis=1)
    pick = torch.searchsorted(torch.from_numpy(cdf), torch.from_numpy(u)).numpy()
    pick = np.minimum(pick, kk - 1)
    res = [pick.astype(odt.numpy).reshape(oshape)]
    if get_prob:
        with np.errstate(divide="ignore"):
            lp = np.log(np.take_along_axis(data.reshape(rows, kk), pick, axis=1))
        res.append(lp.astype(data.dtype).reshape(oshape))
    return tuple(res)


def _multinomial_shape(dshape, shape):
    dshape, shape = tuple(dshape), tuple(shape)
    if len(dshape) == 1:
        return shape if shape else (1,)
    return dshape[:-1] + shape


def _np_shuffle_perm(key, rows: int) -> np.ndarray:
    w = _np_words(key, rows)
    return np.argsort(w[0] * np.uint64(1 << 32) + w[1], kind="stable")


def _np_shuffle(key, data):
    data = np.asarray(data)
    if data.ndim == 0:
        return data.copy()
    return data[_np_shuffle_perm(key, data.shape[0])]


# -- extern entry points (torch tensors in, written in place) ------------------------------------
def _to_np(t):
    return t.detach().cpu().numpy()


def _write(out, arr):
    import torch
    out.copy_(torch.from_numpy(np.ascontiguousarray(arr)).to(out.device))


def _key_extern(attrs, ins, outs):
    _write(outs[0], next_key(outs[0].device))


def _sample_extern(attrs, ins, outs):
    res = _np_sample_ext(_to_np(ins[0]), tuple(outs[0].shape), attrs["dist"],
                         DType.parse(outs[0].dtype), [_to_np(t) for t in ins[1:]],
                         attrs["a"], attrs["b"], f"sample_{attrs['dist']}")
    _write(outs[0], res)


def _multinomial_extern(attrs, ins, outs):
    res = _np_multinomial(_to_np(ins[0]), _to_np(ins[1]), attrs["shape"], attrs["get_prob"],
                          DType.parse(outs[0].dtype))
    for o, r in zip(outs, res):
        _write(o, r)


def _shuffle_extern(attrs, ins, outs):
    import torch
    x = ins[1]
    if x.dim() == 0:
        outs[0].copy_(x)
        return
    perm = _np_shuffle_perm(_to_np(ins[0]), x.shape[0])
    outs[0].copy_(x[torch.from_numpy(perm).to(x.device)])


# =================================================================================================
# primitives: the key step, the generated kernel, the extern samplers
# =================================================================================================
register_op(OpDef(
    name="_random_key", arguments=(), outputs=("key",),
    infer_shape=lambda rc, s: ([], [(4,)]),
    infer_dtype=lambda rc, d: ([], [DType.i64]),
    interp=lambda xs, a: (next_key("cpu"),), differentiable=False,
    lower=Extern(_key_extern, "random_key"), traits={RANDOM},
    doc="The next draw of the device's generator: int64 [seed_lo, seed_hi, draw_lo, draw_hi] "
        "(the generator advances each time the step runs; never merged by CSE).",
))

_FLOAT_OUT = ("float16", "float32", "float64")


def _gen_args(attrs):
    return ["k0", "k1", "c0", "c1"] + [f"p{i}" for i in range(attrs.get("nparams") or 0)]


def _gen_shape(rc, shapes):
    return list(shapes), [tuple(rc.attrs["shape"])]


def _gen_dtype(rc, dts):
    return list(dts), [DType.parse(rc.attrs["dtype"])]


def _gen_np(xs, a):
    key = np.concatenate([np.asarray(x).reshape(-1)[:1] for x in xs[:4]])
    return (_np_gen(key, tuple(a["shape"]), a["dist"], DType.parse(a["dtype"]), list(xs[4:]),
                    a["a"], a["b"]),)


register_op(OpDef(
    name="_random_gen",
    attrs=(Attr("dist", "str", choices=("uniform", "normal", "exponential")),
           Attr("shape", "shape"), Attr("dtype", "dtype", "float32"),
           Attr("nparams", "int", 0), Attr("a", "float", 0.0), Attr("b", "float", 1.0)),
    arguments=_gen_args, infer_shape=_gen_shape, infer_dtype=_gen_dtype,
    interp=_gen_np, differentiable=False, lower=Elementwise(_gen_formula),
    traits={ELEMENTWISE}, extra={"cost": 10},
    doc="Generated-kernel sampler: Philox words of each element's index, turned into a "
        "uniform (a, b), normal (loc a, scale b) or exponential (rate a) number; with nparams "
        "> 0 the parameters are inputs broadcast to the output instead.",
))

register_op(OpDef(
    name="_random_randint_gen",
    attrs=(Attr("low", "int"), Attr("high", "int"), Attr("shape", "shape"),
           Attr("dtype", "dtype", "int32")),
    arguments=("k0", "k1", "c0", "c1"), infer_shape=_gen_shape, infer_dtype=_gen_dtype,
    interp=lambda xs, a: (_np_randint(
        np.concatenate([np.asarray(x).reshape(-1)[:1] for x in xs[:4]]),
        tuple(a["shape"]), a["low"], a["high"], DType.parse(a["dtype"])),),
    differentiable=False, lower=Elementwise(_randint_formula), traits={ELEMENTWISE},
    extra={"cost": 10},
    doc="Generated-kernel randint: low + (64-bit Philox word mod (high - low)).",
))


def _ext_args(attrs):
    return ["key"] + [f"p{i}" for i in range(attrs.get("nparams") or 0)]


register_op(OpDef(
    name="_random_sample_ext",
    attrs=(Attr("dist", "str", choices=_EXT_DISTS), Attr("shape", "shape"),
           Attr("dtype", "dtype", "float32"), Attr("nparams", "int", 0),
           Attr("a", "float", 1.0), Attr("b", "float", 1.0)),
    arguments=_ext_args, infer_shape=_gen_shape, infer_dtype=_gen_dtype,
    interp=lambda xs, a: (_np_sample_ext(xs[0], tuple(a["shape"]), a["dist"],
                                         DType.parse(a["dtype"]), list(xs[1:]), a["a"], a["b"],
                                         f"sample_{a['dist']}"),),
    differentiable=False, lower=Extern(_sample_extern, "random_sample"),
    doc="Extern sampler (rejection loops): gamma (a=alpha, b=beta scale), poisson (a=lam), "
        "negative_binomial (a=k, b=p), generalized_negative_binomial (a=mu, b=alpha), from the "
        "same Philox stream as the generated kernels.",
))


def _mn_ext_shape(rc, shapes):
    d = shapes[1]
    if d is None or any(x is None for x in d):
        return list(shapes), [None] * (2 if rc.attrs["get_prob"] else 1)
    o = _multinomial_shape(d, rc.attrs["shape"])
    return list(shapes), [o] * (2 if rc.attrs["get_prob"] else 1)


def _mn_ext_dtype(rc, dts):
    o = [DType.parse(rc.attrs["dtype"])]
    if rc.attrs["get_prob"]:
        o.append(dts[1])
    return list(dts), o


register_op(OpDef(
    name="_random_multinomial_ext",
    attrs=(Attr("shape", "shape", ()), Attr("get_prob", "bool", False),
           Attr("dtype", "dtype", "int32")),
    arguments=("key", "data"),
    outputs=lambda a: ["output", "prob"] if a.get("get_prob") else ["output"],
    infer_shape=_mn_ext_shape, infer_dtype=_mn_ext_dtype,
    interp=lambda xs, a: _np_multinomial(xs[0], xs[1], a["shape"], a["get_prob"],
                                         DType.parse(a["dtype"])),
    differentiable=False, lower=Extern(_multinomial_extern, "sample_multinomial"),
    doc="Extern multinomial sampler: the first index whose cumulative probability reaches "
        "a uniform number (and, with get_prob, the log-probability of that index).",
))

register_op(OpDef(
    name="_random_shuffle_ext", arguments=("key", "data"),
    infer_shape=lambda rc, s: (list(s), [s[1]]),
    infer_dtype=lambda rc, d: (list(d), [d[1]]),
    interp=lambda xs, a: (_np_shuffle(xs[0], xs[1]),), differentiable=False,
    lower=Extern(_shuffle_extern, "shuffle"),
    doc="Extern shuffle along axis 0: rows sorted by a 64-bit Philox key each.",
))
