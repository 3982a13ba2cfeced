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
compiled kernel as data, not code: a ``_rng_key`` step (a tiny library call) writes the four
words into a buffer every time the program runs, and the generated kernels read them. So a
kernel is compiled once, its results are reproducible for a seed, and they do not depend on how
ops are fused, on the number of threads, or on the backend: the LLVM kernel, the Triton kernel
and the numpy reference (``interp``) compute the same Philox words bit for bit.

Which operators are generated kernels and which are library (extern) steps:

- generated kernels (``_rng_gen``): uniform, normal (Box-Muller), exponential (inversion),
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
from ..registry import (ELEMENTWISE, RANDOM, Elementwise, Extern, OpDef, forward_shape,
                        register_op, unify_shapes)
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
    """Reference of ``_rng_gen``: ``params`` are arrays broadcast to ``shape`` (or empty:
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
            raise MXNetError(f"_rng_gen: unknown distribution {dist!r}")
    r = np.asarray(r)
    if out == DType.f16:        # through float32, as the kernels do (no float64 -> half cast)
        r = r.astype(np.float32)
    return r.astype(out.numpy).reshape(shape)


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
            r = _k_scalar_uniform(k, w, attrs["a"], attrs["b"], out)
            return k.cast(k.cast(r, cdt), out)
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
    raise MXNetError(f"_rng_gen: unknown distribution {dist!r}")


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
    """Reference (and implementation) of ``_rng_sample``."""
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
    name="_rng_key", arguments=(), outputs=("key",),
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
    name="_rng_gen",
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
    name="_rng_randint",
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
    name="_rng_sample",
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
    name="_rng_multinomial",
    attrs=(Attr("shape", "shape", ()), Attr("get_prob", "bool", False),
           Attr("dtype", "dtype", "int32")),
    arguments=("key", "data"),
    outputs=lambda a: ["output0", "output1"] if a.get("get_prob") else ["output"],
    infer_shape=_mn_ext_shape, infer_dtype=_mn_ext_dtype,
    interp=lambda xs, a: _np_multinomial(xs[0], xs[1], a["shape"], a["get_prob"],
                                         DType.parse(a["dtype"])),
    differentiable=False, lower=Extern(_multinomial_extern, "sample_multinomial"),
    doc="Extern multinomial sampler: the first index whose cumulative probability reaches "
        "a uniform number (and, with get_prob, the log-probability of that index).",
))

register_op(OpDef(
    name="_rng_shuffle", arguments=("key", "data"),
    infer_shape=lambda rc, s: (list(s), [s[1]]),
    infer_dtype=lambda rc, d: (list(d), [d[1]]),
    interp=lambda xs, a: (_np_shuffle(xs[0], xs[1]),), differentiable=False,
    lower=Extern(_shuffle_extern, "shuffle"),
    doc="Extern shuffle along axis 0: rows sorted by a 64-bit Philox key each.",
))


# =================================================================================================
# MXNet's samplers: _random_<dist>, _random_<dist>_like, _sample_<dist>
# =================================================================================================
# dist -> (scalar parameters (name, kind, default, doc), _sample_ argument names, how generated)
_DISTS = {
    "uniform": ((("low", "float", 0.0, "Lower bound of the distribution."),
                 ("high", "float", 1.0, "Upper bound of the distribution.")),
                ("low", "high"), "gen"),
    "normal": ((("loc", "float", 0.0, "Mean of the distribution."),
                ("scale", "float", 1.0, "Standard deviation of the distribution.")),
               ("mu", "sigma"), "gen"),
    "gamma": ((("alpha", "float", 1.0, "Alpha parameter (shape) of the gamma distribution."),
               ("beta", "float", 1.0, "Beta parameter (scale) of the gamma distribution.")),
              ("alpha", "beta"), "ext"),
    "exponential": ((("lam", "float", 1.0,
                      "Lambda parameter (rate) of the exponential distribution."),),
                    ("lam",), "gen"),
    "poisson": ((("lam", "float", 1.0, "Lambda parameter (rate) of the Poisson distribution."),),
                ("lam",), "ext"),
    "negative_binomial": ((("k", "int", 1, "Limit of unsuccessful experiments."),
                           ("p", "float", 1.0, "Failure probability in each experiment.")),
                          ("k", "p"), "ext"),
    "generalized_negative_binomial": (
        (("mu", "float", 1.0, "Mean of the negative binomial distribution."),
         ("alpha", "float", 1.0,
          "Alpha (dispersion) parameter of the negative binomial distribution.")),
        ("mu", "alpha"), "ext"),
}

# MXNet's checks of scalar parameters (its messages), run when the op is created
_CHECKS = {
    "uniform": [(lambda a: a["high"] >= a["low"],
                 "low must be less or equal to high in uniform distribution")],
    "normal": [(lambda a: a["scale"] > 0, "scale parameter in gaussian has to be positive")],
    "gamma": [(lambda a: a["alpha"] > 0,
               "alpha parameter in gamma distribution has to be positive"),
              (lambda a: a["beta"] > 0,
               "beta parameter in gamma distribution has to be positive")],
    "exponential": [(lambda a: a["lam"] > 0,
                     "lambda parameter in exponential distribution has to be positive")],
    "poisson": [(lambda a: a["lam"] >= 0,
                 "lambda parameter in poisson distribution has to be non-negative")],
    "negative_binomial": [
        (lambda a: a["k"] >= 0,
         "k parameter in negative binomial distribution has to be non-negative"),
        (lambda a: a["p"] >= 0,
         "p parameter in negative binomial distribution has to be non-negative")],
    "generalized_negative_binomial": [
        (lambda a: a["mu"] >= 0, "mu parameter in generalized negative binomial distribution "
                                 "has to be non-negative"),
        (lambda a: a["alpha"] >= 0, "alpha parameter in generalized negative binomial "
                                    "distribution has to be non-negative")],
}


def _validator(dist):
    def validate(rc):
        for ok, msg in _CHECKS[dist]:
            if not ok(rc.attrs):
                vals = ", ".join(f"{n}={rc.attrs[n]}" for n, *_ in _DISTS[dist][0])
                raise rc.attr_error(f"{msg} (got {vals})")
    return validate


def _scalars(dist, attrs) -> tuple[float, float]:
    """The scalar parameters as the samplers take them (MXNet passes them as float32)."""
    names = [p[0] for p in _DISTS[dist][0]]
    vals = [float(np.float32(attrs[n])) for n in names] + [1.0]
    return vals[0], vals[1]


def _key_words(b):
    key = b.op("_rng_key", [])
    return [b.op("slice_axis", [key], {"axis": 0, "begin": i, "end": i + 1}) for i in range(4)]


def _build_sampler(b, dist, shape, dtype: DType, params=(), scal=(0.0, 1.0)):
    """The primitives drawing ``shape`` numbers of ``dist`` (params: Values broadcast to
    ``shape``, or the scalars ``scal``)."""
    attrs = {"dist": dist, "shape": tuple(shape), "dtype": dtype.np_name,
             "nparams": len(params), "a": scal[0], "b": scal[1]}
    if _DISTS[dist][2] == "gen":
        return b.op("_rng_gen", _key_words(b) + list(params), attrs)
    return b.op("_rng_sample", [b.op("_rng_key", [])] + list(params), attrs)


def _np_sampler(dist, shape, dtype: DType, params=(), scal=(0.0, 1.0)):
    key = next_key("cpu")
    if _DISTS[dist][2] == "gen":
        return _np_gen(key, tuple(shape), dist, dtype, list(params), scal[0], scal[1])
    return _np_sample_ext(key, tuple(shape), dist, dtype, list(params), scal[0], scal[1],
                          f"sample_{dist}")


# -- shape and dtype rules ------------------------------------------------------------------------
def _init_shape(rc, shapes):
    """MXNet's InitShape: ``shape`` (0 dims and an empty shape unknown, taken from the
    consumers as for zeros((0, H)))."""
    s = tuple(rc.attrs["shape"])
    o = rc.out_shapes[0] if rc.out_shapes else None
    if not s:
        return [], [o]
    s = tuple(None if d == 0 else d for d in s)
    if o is not None and len(o) == len(s):
        s = tuple(k if d is None else d for d, k in zip(s, o))
    return [], [s]


def _out_dtype(rc, default: str, allowed: tuple) -> DType:
    """MXNet's SampleOpType: the output's dtype when inference knows it (it must equal
    ``dtype`` when given), else ``dtype``, else ``default``."""
    want = rc.attrs.get("dtype")
    known = rc.out_dtypes[0] if rc.out_dtypes else None
    if known is not None:
        if want is not None and DType.parse(want) != known:
            raise rc.dtype_error(f"output type {known.np_name} does not match the requested "
                                 f"dtype={want}")
        d = known
    else:
        d = DType.parse(want or default)
    if d.np_name not in allowed:
        raise rc.dtype_error(f"output type must be one of {', '.join(allowed)}; got "
                             f"{d.np_name}")
    return d


def _init_dtype(default, allowed):
    def rule(rc, dts):
        return [], [_out_dtype(rc, default, allowed)]
    return rule


def _refine_init(attrs, out_types):
    """Once inference completes the output, the IR's attrs name its shape and dtype."""
    t = out_types[0]
    new = dict(attrs)
    if t.shape_known:
        new["shape"] = tuple(t.shape)
    if t.dtype is not None:
        new["dtype"] = t.dtype.np_name
    return new


def _like_dtype(rc, dts):
    d = dts[0] if dts[0] is not None else (rc.out_dtypes[0] if rc.out_dtypes else None)
    if d is not None and not d.is_float:
        raise rc.dtype_error(f"data has dtype {d.np_name}; the sampler writes float16, float32 "
                             "or float64")
    return [d], [d]


def _multi_shape(rc, shapes):
    """MXNet's MultiSampleOpShape: the parameters share a shape [s]; the output is
    [s] x shape."""
    sshape = tuple(rc.attrs["shape"])
    o = rc.out_shapes[0] if rc.out_shapes else None
    t = None
    if o is not None and len(o) > len(sshape):
        t = tuple(o[:len(o) - len(sshape)])
    names = rc.input_names()
    t = unify_shapes(rc, [t] + list(shapes), ["output"] + names)
    if t is None:
        return list(shapes), [None]
    return [t] * len(shapes), [t + sshape]


def _multi_dtype(rc, dts):
    known = [d for d in dts if d is not None]
    if known and any(d != known[0] for d in known):
        names = rc.input_names()
        raise rc.dtype_error("parameters must share one dtype; got " + ", ".join(
            f"{n}={d.np_name if d else '?'}" for n, d in zip(names, dts)))
    d = known[0] if known else None
    return [d] * len(dts), [_out_dtype(rc, "float32", _FLOAT_OUT)]


def _multi_validate(rc):
    for d in rc.attrs["shape"]:
        if d <= 0:
            raise rc.attr_error(f"shape={tuple(rc.attrs['shape'])}: shape parameter must be "
                                "non-zero within each dimension")


# -- registration ----------------------------------------------------------------------------------
_SHAPE = Attr("shape", "shape", (), doc="Shape of the output.")
_CTX = Attr("ctx", "str", "", doc="Context of output, in format [cpu|gpu|cpu_pinned](n). Only "
                                  "used for imperative calls.")
_DTYPE = Attr("dtype", "dtype", None, optional=True, choices=_FLOAT_OUT,
              doc="DType of the output in case this can't be inferred. Defaults to float32 if "
                  "not defined (dtype=None).")


def _how(dist):
    return ("a generated kernel (Philox in-kernel)" if _DISTS[dist][2] == "gen" else
            "an extern step (rejection loop in numpy on the same Philox stream)")


def _register_dist(dist):
    params, sample_args, _ = _DISTS[dist]
    pattrs = tuple(Attr(n, k, d, doc=doc) for n, k, d, doc in params)

    def random_decompose(b, op):
        v = op.outputs[0]
        return [_build_sampler(b, dist, v.shape, v.dtype, (), _scalars(dist, op.attrs))]

    def random_np(xs, a):
        dt = DType.parse(a["dtype"] or "float32")
        return (_np_sampler(dist, a["shape"], dt, (), _scalars(dist, a)),)

    register_op(OpDef(
        name=f"_random_{dist}", attrs=pattrs + (_SHAPE, _CTX, _DTYPE), arguments=(),
        infer_shape=_init_shape, infer_dtype=_init_dtype("float32", _FLOAT_OUT),
        interp=random_np, differentiable=False, decompose=random_decompose, traits={RANDOM},
        aliases=(f"random_{dist}",) + (("uniform",) if dist == "uniform" else
                                       ("normal",) if dist == "normal" else ()),
        validate=_validator(dist), extra={"refine_attrs": _refine_init},
        doc=f"Draw random samples from a {dist.replace('_', ' ')} distribution; computed by "
            f"{_how(dist)}.",
    ))

    def like_decompose(b, op):
        v = op.outputs[0]
        return [_build_sampler(b, dist, v.shape, v.dtype, (), _scalars(dist, op.attrs))]

    def like_np(xs, a):
        x = np.asarray(xs[0])
        return (_np_sampler(dist, x.shape, DType.parse(x.dtype), (), _scalars(dist, a)),)

    register_op(OpDef(
        name=f"_random_{dist}_like", attrs=pattrs, arguments=("data",),
        infer_shape=lambda rc, s: (list(s) if s[0] is not None else
                                   [rc.out_shapes[0] if rc.out_shapes else None],
                                   [s[0] if s[0] is not None else
                                    (rc.out_shapes[0] if rc.out_shapes else None)]),
        infer_dtype=_like_dtype, interp=like_np, differentiable=False,
        decompose=like_decompose, traits={RANDOM}, validate=_validator(dist),
        doc=f"Random samples of a {dist.replace('_', ' ')} distribution shaped like data (its "
            f"values are not read); computed by {_how(dist)}.",
    ))

    def sample_decompose(b, op):
        v = op.outputs[0]
        m = len(op.attrs["shape"])
        ps = [b.reshape(p, tuple(p.shape) + (1,) * m) if m else p for p in op.inputs]
        return [_build_sampler(b, dist, v.shape, v.dtype, ps)]

    def sample_np(xs, a):
        m = len(a["shape"])
        ps = [np.asarray(x).reshape(np.shape(x) + (1,) * m) for x in xs]
        shape = tuple(np.shape(xs[0])) + tuple(a["shape"])
        dt = DType.parse(a["dtype"] or "float32")
        return (_np_sampler(dist, shape, dt, ps),)

    register_op(OpDef(
        name=f"_sample_{dist}",
        attrs=(Attr("shape", "shape", (), doc="Shape to be sampled from each random "
                                              "distribution."), _DTYPE),
        arguments=sample_args, infer_shape=_multi_shape, infer_dtype=_multi_dtype,
        interp=sample_np, differentiable=False, decompose=sample_decompose, traits={RANDOM},
        aliases=(f"sample_{dist}",), validate=_multi_validate,
        extra={"refine_attrs": lambda attrs, ts: {**attrs, "dtype": ts[0].dtype.np_name}
               if ts[0].dtype is not None else attrs},
        doc=f"Concurrent sampling from multiple {dist.replace('_', ' ')} distributions whose "
            f"parameters are the input arrays (output shape: parameters' shape + shape; no "
            f"gradient, as in MXNet); computed by {_how(dist)}.",
    ))


for _d in _DISTS:
    _register_dist(_d)


# -- randint ---------------------------------------------------------------------------------------
def _randint_validate(rc):
    a = rc.attrs
    if a["high"] < a["low"]:
        raise rc.attr_error(f"low must be less or equal to high in uniform distribution (got "
                            f"low={a['low']}, high={a['high']})")
    if a["high"] == a["low"]:
        # MXNet 1.9.1 divides by zero here (the process dies with SIGFPE)
        raise rc.attr_error(f"low={a['low']} equals high={a['high']}: the range [low, high) is "
                            "empty")


def _randint_decompose(b, op):
    v = op.outputs[0]
    return [b.op("_rng_randint", _key_words(b),
                 {"low": op.attrs["low"], "high": op.attrs["high"], "shape": tuple(v.shape),
                  "dtype": v.dtype.np_name})]


register_op(OpDef(
    name="_random_randint",
    attrs=(Attr("low", "int", doc="Lower bound of the distribution."),
           Attr("high", "int", doc="Upper bound of the distribution."), _SHAPE, _CTX,
           Attr("dtype", "dtype", None, optional=True, choices=("int32", "int64"),
                doc="DType of the output in case this can't be inferred. Defaults to int32 if "
                    "not defined (dtype=None).")),
    arguments=(), infer_shape=_init_shape, infer_dtype=_init_dtype("int32", ("int32", "int64")),
    interp=lambda xs, a: (_np_randint(next_key("cpu"), tuple(a["shape"]), a["low"], a["high"],
                                      DType.parse(a["dtype"] or "int32")),),
    differentiable=False, decompose=_randint_decompose, traits={RANDOM},
    aliases=("random_randint",), validate=_randint_validate,
    extra={"refine_attrs": _refine_init},
    doc="Draw random integers uniformly from [low, high); computed by a generated kernel "
        "(Philox in-kernel).",
))


# -- multinomial -----------------------------------------------------------------------------------
def _mn_shape(rc, shapes):
    d = shapes[0]
    n = 2 if rc.attrs["get_prob"] else 1
    if d is None or any(x is None for x in d):
        return list(shapes), [None] * n
    return list(shapes), [_multinomial_shape(d, rc.attrs["shape"])] * n


def _mn_dtype(rc, dts):
    out = [DType.parse(rc.attrs["dtype"])]
    if rc.attrs["get_prob"]:
        out.append(dts[0])
    return list(dts), out


def _mn_decompose(b, op):
    r = b.op("_rng_multinomial", [b.op("_rng_key", []), op.inputs[0]],
             {"shape": tuple(op.attrs["shape"]), "get_prob": op.attrs["get_prob"],
              "dtype": op.attrs["dtype"]})
    return list(r) if isinstance(r, tuple) else [r]


def _mn_vjp(b, op, g):
    """MXNet's _backward_sample_multinomial: with get_prob, the gradient of the
    log-probabilities reaches the sampled entries of data as g / p; none without get_prob."""
    if not op.attrs["get_prob"]:
        return (None,)
    data = op.inputs[0]
    idx, _ = op.outputs
    gp = g[1] if isinstance(g, list) else g
    kk = data.shape[-1]
    lead = len(data.shape) - 1
    oh = b.op("one_hot", [idx], {"depth": kk, "dtype": data.dtype.np_name})
    contrib = b.mul(oh, b.reshape(gp, tuple(gp.shape) + (1,)))
    axes = tuple(range(lead, len(contrib.shape) - 1))
    s = b.sum(contrib, axis=axes) if axes else contrib
    s = b.reshape(s, tuple(data.shape))
    nz = b.op("_not_equal_scalar", [s], {"scalar": 0.0})
    den = b.where(nz, data, b.ones_like(data))
    return (b.div(s, den),)


register_op(OpDef(
    name="_sample_multinomial",
    attrs=(Attr("shape", "shape", (), doc="Shape to be sampled from each random distribution."),
           Attr("get_prob", "bool", False, doc="Whether to also return the log probability of "
                                               "sampled result."),
           Attr("dtype", "dtype", "int32",
                choices=("uint8", "int32", "float16", "float32", "float64"),
                doc="DType of the output in case this can't be inferred.")),
    arguments=("data",),
    outputs=lambda a: ["output0", "output1"] if a.get("get_prob") else ["output"],
    infer_shape=_mn_shape, infer_dtype=_mn_dtype,
    interp=lambda xs, a: _np_multinomial(next_key("cpu"), xs[0], a["shape"], a["get_prob"],
                                         DType.parse(a["dtype"])),
    vjp=_mn_vjp, decompose=_mn_decompose, traits={RANDOM}, aliases=("sample_multinomial",),
    doc="Concurrent sampling from multiple multinomial distributions (rows of data, which must "
        "sum to 1); with get_prob also the log-probabilities of the samples, whose gradient "
        "reaches data as MXNet's. Computed by an extern step on the Philox stream.",
))


# -- shuffle ---------------------------------------------------------------------------------------
register_op(OpDef(
    name="_shuffle", arguments=("data",),
    infer_shape=lambda rc, s: ([s[0] or (rc.out_shapes[0] if rc.out_shapes else None)],
                               [s[0] or (rc.out_shapes[0] if rc.out_shapes else None)]),
    interp=lambda xs, a: (_np_shuffle(next_key("cpu"), xs[0]),),
    differentiable=False,
    decompose=lambda b, op: [b.op("_rng_shuffle", [b.op("_rng_key", []),
                                                           op.inputs[0]])],
    traits={RANDOM}, aliases=("shuffle",),
    doc="Randomly shuffle the array along its first axis (not differentiable, as in MXNet); "
        "an extern step sorting the rows by a Philox key each.",
))


# =================================================================================================
# densities: _random_pdf_<dist>(sample, parameters...; is_log)
# =================================================================================================
# MXNet's pdf parameters: gamma's beta is a *rate* here (a log b + (a-1) log x - b x - lgamma a),
# unlike the samplers' scale; negative_binomial's p is the failure probability
_PDFS = {
    "uniform": ("low", "high"), "normal": ("mu", "sigma"), "gamma": ("alpha", "beta"),
    "exponential": ("lam",), "poisson": ("lam",), "negative_binomial": ("k", "p"),
    "generalized_negative_binomial": ("mu", "alpha"), "dirichlet": ("alpha",),
}
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _pdf_rule(vparm: bool):
    def rule(rc, shapes):
        from ..types import shape_str
        x = tuple(shapes[0])
        names = rc.input_names()
        p = tuple(shapes[1])
        for n, s in zip(names[2:], shapes[2:]):
            if tuple(s) != p:
                raise rc.shape_error(f"{n} has shape ({shape_str(s)}) and {names[1]} has shape "
                                     f"({shape_str(p)}); the parameters must share one shape")
        if len(p) > len(x):
            raise rc.shape_error(f"dimension of input samples ({len(x)}) must be at least "
                                 f"dimension of distribution parameters ({len(p)})")
        want = x[:len(p)]
        if vparm and p:
            want = want[:-1] + (x[-1],)
        if p != want:
            raise rc.shape_error(f"{names[1]} has shape ({shape_str(p)}); expected "
                                 f"({shape_str(want)}), the leading dims of sample "
                                 f"({shape_str(x)})" + (" with its last dim" if vparm else ""))
        if vparm:
            return (1,) if len(x) == 1 else x[:-1]
        return x
    return rule


def _np_lpdf(dist, x, ps):
    """Log-density in float64 (``ps`` broadcast against ``x``)."""
    lg = _lgamma_np
    if dist == "uniform":
        lo, hi = ps
        return np.broadcast_to(-np.log(hi - lo), x.shape)
    if dist == "normal":
        mu, s = ps
        return -0.5 * (x - mu) ** 2 / (s * s) - np.log(_SQRT_2PI * s)
    if dist == "gamma":
        a, be = ps
        return a * np.log(be) + (a - 1) * np.log(x) - be * x - lg(a)
    if dist == "exponential":
        lam, = ps
        return np.log(lam) - lam * x
    if dist == "poisson":
        lam, = ps
        return x * np.log(lam) - lg(x + 1) - lam
    if dist in ("negative_binomial", "generalized_negative_binomial"):
        if dist == "negative_binomial":
            k, p = ps
        else:
            mu, alpha = ps
            k, p = 1.0 / alpha, 1.0 / (mu * alpha + 1.0)
        k, p = np.broadcast_to(k, x.shape), np.broadcast_to(p, x.shape)
        return lg(x + k) - lg(x + 1) - lg(k) + k * np.log(p) + x * np.log(1 - p)
    raise MXNetError(f"_random_pdf_{dist}: unknown distribution")


def _pdf_np(dist):
    def f(xs, a):
        x = np.asarray(xs[0])
        x64 = x.astype(np.float64)
        with np.errstate(all="ignore"):
            if dist == "dirichlet":
                al = np.asarray(xs[1]).astype(np.float64)
                m = x.ndim - al.ndim
                ab = al.reshape(al.shape[:-1] + (1,) * m + al.shape[-1:])
                c = _lgamma_np(al.sum(-1)) - _lgamma_np(al).sum(-1)
                lp = ((ab - 1) * np.log(x64)).sum(-1) + c.reshape(c.shape + (1,) * m)
                lp = lp.reshape((1,) if x.ndim == 1 else x.shape[:-1])
            else:
                ps = [np.asarray(p).astype(np.float64) for p in xs[1:]]
                ps = [p.reshape(p.shape + (1,) * (x.ndim - p.ndim)) for p in ps]
                lp = _np_lpdf(dist, x64, ps)
            r = lp if a["is_log"] else np.exp(lp)
        return (np.asarray(r).astype(x.dtype),)
    return f


def _pdf_decompose(dist):
    def decompose(b, op):
        x = op.inputs[0]
        is_log = op.attrs["is_log"]
        nd = len(x.shape)
        if dist == "dirichlet":
            al = op.inputs[1]
            m = nd - len(al.shape)
            ab = b.reshape(al, tuple(al.shape[:-1]) + (1,) * m + tuple(al.shape[-1:]))
            t = b.sum(b.mul(b.sub(ab, 1.0), b.log(x)), axis=nd - 1, keepdims=True)
            ka = len(al.shape) - 1
            c = b.sub(b.op("gammaln", [b.sum(al, axis=ka, keepdims=True)]),
                      b.sum(b.op("gammaln", [al]), axis=ka, keepdims=True))
            c = b.reshape(c, tuple(al.shape[:-1]) + (1,) * (m + 1))
            lp = b.reshape(b.add(t, c), tuple(op.outputs[0].shape))
            return [lp if is_log else b.exp(lp)]
        ps = [b.reshape(p, tuple(p.shape) + (1,) * (nd - len(p.shape))) for p in op.inputs[1:]]
        if dist in ("poisson", "negative_binomial", "generalized_negative_binomial"):
            x = b.op("BlockGrad", [x])     # MXNet: no gradient for a discrete sample
        if dist == "uniform":
            lo, hi = ps
            d = b.sub(hi, lo)
            r = b.neg(b.log(d)) if is_log else b.div(1.0, d)
            return [b.broadcast_to(r, tuple(x.shape))]
        if dist == "normal":
            mu, s = ps
            dx = b.sub(x, mu)
            expo = b.div(b.mul(b.mul(dx, dx), -0.5), b.mul(s, s))
            if is_log:
                return [b.sub(expo, b.log(b.mul(s, _SQRT_2PI)))]
            return [b.div(b.exp(expo), b.mul(s, _SQRT_2PI))]
        if dist == "exponential":
            lam, = ps
            if is_log:
                return [b.sub(b.log(lam), b.mul(lam, x))]
            return [b.mul(lam, b.exp(b.neg(b.mul(lam, x))))]
        if dist == "gamma":
            al, be = ps
            lp = b.sub(b.sub(b.add(b.mul(al, b.log(be)), b.mul(b.sub(al, 1.0), b.log(x))),
                             b.mul(be, x)), b.op("gammaln", [al]))
        elif dist == "poisson":
            lam, = ps
            lp = b.sub(b.sub(b.mul(x, b.log(lam)), b.op("gammaln", [b.add(x, 1.0)])), lam)
        else:
            if dist == "negative_binomial":
                k, p = ps
            else:
                mu, al = ps
                k = b.div(1.0, al)
                p = b.div(1.0, b.add(b.mul(mu, al), 1.0))
            lp = b.add(b.add(b.sub(b.sub(b.op("gammaln", [b.add(x, k)]),
                                         b.op("gammaln", [b.add(x, 1.0)])),
                                   b.op("gammaln", [k])),
                             b.mul(k, b.log(p))),
                       b.mul(x, b.log(b.sub(1.0, p))))
        return [lp if is_log else b.exp(lp)]
    return decompose


_PDF_DOCS = {
    "uniform": "1 / (high - low) (the sample's support is not checked, as in MXNet)",
    "normal": "exp(-(x - mu)^2 / (2 sigma^2)) / (sqrt(2 pi) sigma)",
    "gamma": "beta^alpha x^(alpha-1) exp(-beta x) / Gamma(alpha) (beta is the rate)",
    "exponential": "lam exp(-lam x)",
    "poisson": "lam^x exp(-lam) / x! (no gradient for the sample)",
    "negative_binomial": "Gamma(x+k) / (x! Gamma(k)) p^k (1-p)^x (p: failure probability; no "
                         "gradient for the sample)",
    "generalized_negative_binomial": "negative binomial with k = 1/alpha, p = 1/(mu alpha + 1) "
                                     "(no gradient for the sample)",
    "dirichlet": "Gamma(sum alpha) / prod Gamma(alpha_j) prod x_j^(alpha_j - 1) over the last "
                 "axis",
}

for _d, _params in _PDFS.items():
    register_op(OpDef(
        name=f"_random_pdf_{_d}",
        attrs=(Attr("is_log", "bool", False, doc="If set, compute the density of the "
                                                 "log-probability instead of the probability."),),
        arguments=("sample",) + _params,
        infer_shape=forward_shape(_pdf_rule(_d == "dirichlet")),
        interp=_pdf_np(_d), decompose=_pdf_decompose(_d), aliases=(f"random_pdf_{_d}",),
        doc=f"Density (or log-density with is_log) of {_d.replace('_', ' ')} distributions at "
            f"the samples: {_PDF_DOCS[_d]}. The parameters' shape is the leading part of the "
            "sample's; gradients w.r.t. sample and parameters are MXNet's (autodiff of this "
            "formula).",
    ))
