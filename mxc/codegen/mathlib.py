"""Math functions as kernel IR: expansions of ALU ops into basic ones.

A renderer that lacks an op (Triton's core language has no ``tanh``, ``lgamma`` or ``pow``; its
interpreter cannot call libdevice; LLVM has no ``erfinv``) asks :func:`expand_kernel` to rewrite
those instructions into ``exp``/``log``/``sqrt``/arithmetic/``where``. The formulas are branch-free
(every piece computed, one selected), so they vectorize and run as one Triton block.

Accuracy, float32, over each function's natural domain (tests/test_math_accuracy.py sweeps every
expansion on both backends against float64 references): relative error below 1e-6 except
``tgamma`` (below 1e-5: ``exp`` of ``lgamma`` amplifies its absolute error) and ``pow`` (about
``|y log x|`` ulps). Sources: Cephes' single-precision polynomials (tanhf, sinhf, atanf, lgamf's
rational pieces near 1 and 2 and its Stirling tail), Giles' erfinv, the asymptotic series for
digamma plus a Taylor polynomial around its positive root (fitted in float64).

Care taken where the naive formulas lose accuracy:

- ``lgamma`` near its zeros at 1 and 2: ``(x-1) C(x-1)`` and ``t B(t)`` (``t = x - 2``) after
  shifting the argument into [1.5, 2.5) with ``lgamma(x) = lgamma(x+1) - log x`` (a
  Lanczos sum loses everything there); reflection with ``sin(pi z)`` on the reduced fraction;
- ``asin``/``acos`` near +-1: ``1 - x^2`` as ``(1 - x)(1 + x)`` (exact there);
- ``acosh``/``asinh`` for huge arguments (``x^2`` overflows): ``log(2|x|)``; ``acosh`` near 1
  through ``log1p``; ``sinh``/``cosh`` where ``exp(|x|)`` overflows but the result does not;
- ``pow`` of negative bases: integer exponents keep the sign of ``x^y`` (odd) or drop it, other
  exponents give NaN; integer powers of integers are rounded to the exact integer;
- ``digamma`` near its root 1.4616...: a polynomial in ``x - x0`` (relative, not absolute,
  accuracy there).

:func:`expand_kernel` also makes integer and half-precision inputs safe for a renderer whose math
needs float32 or float64 (Triton's ``tl.exp``, ``tl.sqrt`` ... accept only those): integers are
computed in float64 and truncated back (MXNet's math on integer types), float16/bfloat16 in
float32; rounding functions are the identity on integers.
"""
from __future__ import annotations

import math

from ..ir.types import DType
from .kir import Instr, KBuilder, Kernel

__all__ = ["EXPANSIONS", "expand_kernel"]


def _poly(k, x, coeffs):
    """Horner: coeffs from highest degree to constant."""
    c = lambda v: k.const(v, x.dtype)
    acc = c(coeffs[0])
    for a in coeffs[1:]:
        acc = k.add(k.mul(acc, x), c(a))
    return acc


def _c(k, v, like):
    return k.const(v, like.dtype)


def sigmoid(k, x):
    one = _c(k, 1.0, x)
    return k.div(one, k.add(one, k.exp(k.neg(x))))


def tanh(k, x):
    # |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf); else 1 - 2/(exp(2|x|)+1) with the sign of x
    ax = k.abs(x)
    z = k.mul(x, x)
    p = _poly(k, z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                     1.33314422036e-1, -3.33332819422e-1])
    small = k.add(x, k.mul(k.mul(x, z), p))
    e = k.exp(k.mul(ax, _c(k, 2.0, x)))
    big = k.sub(_c(k, 1.0, x), k.div(_c(k, 2.0, x), k.add(e, _c(k, 1.0, x))))
    big = k.where(k.lt(x, _c(k, 0.0, x)), k.neg(big), big)
    return k.where(k.lt(ax, _c(k, 0.625, x)), small, big)


def expm1(k, x):
    # |x| < 0.5: polynomial (Taylor to x^7 is < 1e-8 relative there); else exp(x) - 1
    p = _poly(k, x, [1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 0.0])
    return k.where(k.lt(k.abs(x), _c(k, 0.5, x)), p, k.sub(k.exp(x), _c(k, 1.0, x)))


def log1p(k, x):
    # u = 1 + x; log(u) - ((u - 1) - x) / u corrects the rounding of u (Goldberg); no
    # correction where u is 0 or inf (log gives -inf / inf there)
    one = _c(k, 1.0, x)
    u = k.add(one, x)
    corr = k.div(k.sub(k.sub(u, one), x), u)
    edge = k.or_(k.eq(u, _c(k, 0.0, x)), k.eq(u, _c(k, math.inf, x)))
    r = k.sub(k.log(u), k.where(edge, _c(k, 0.0, x), corr))
    return k.where(k.eq(u, one), x, r)


def _snap(k, r, tol_ulps=4.0):
    """r rounded to the nearest integer when within a few ulps of it: exact integer results
    (log2(8), log10(1000)) survive the rounding of log(x) / log(b), so truncation back to an
    integer type gives what C's log2/log10 give."""
    eps = 2.0 ** -52 if r.dtype == DType.f64 else 2.0 ** -23
    rn = k.floor(k.add(r, _c(k, 0.5, r)))
    close = k.le(k.abs(k.sub(r, rn)), k.mul(k.abs(r), _c(k, tol_ulps * eps, r)))
    return k.where(close, rn, r)


def _half_exp(k, ax):
    """exp(|x|) / 2, finite where exp(|x|) overflows but the half does not (|x| > 88)."""
    e = k.mul(k.exp(ax), _c(k, 0.5, ax))
    h = k.exp(k.sub(ax, _c(k, math.log(2.0), ax)))
    return k.where(k.gt(ax, _c(k, 88.0, ax)), h, e)


def sinh(k, x):
    ax = k.abs(x)
    z = k.mul(x, x)
    # |x| < 1: x + x^3 P(z) (Cephes sinhf); else exp(|x|)/2 - 1/(2 exp(|x|)) with x's sign
    p = _poly(k, z, [2.03721912945e-4, 8.33028376239e-3, 1.66667160211e-1])
    small = k.add(x, k.mul(k.mul(x, z), p))
    h = _half_exp(k, ax)
    big = k.sub(h, k.div(_c(k, 0.25, x), h))
    big = k.where(k.lt(x, _c(k, 0.0, x)), k.neg(big), big)
    return k.where(k.lt(ax, _c(k, 1.0, x)), small, big)


def cosh(k, x):
    h = _half_exp(k, k.abs(x))
    return k.add(h, k.div(_c(k, 0.25, x), h))


def tan(k, x):
    return k.div(k.sin(x), k.cos(x))


def atan(k, x):
    # Cephes atanf: range reduction to |x| <= tan(pi/8)
    ax = k.abs(x)
    t3p8 = _c(k, 2.414213562373095, x)
    tp8 = _c(k, 0.4142135623730950, x)
    one = _c(k, 1.0, x)
    big = k.gt(ax, t3p8)
    mid = k.gt(ax, tp8)
    y0 = k.where(big, _c(k, math.pi / 2, x), k.where(mid, _c(k, math.pi / 4, x), _c(k, 0.0, x)))
    xr = k.where(big, k.neg(k.div(one, ax)),
                 k.where(mid, k.div(k.sub(ax, one), k.add(ax, one)), ax))
    z = k.mul(xr, xr)
    p = _poly(k, z, [8.05374449538e-2, -1.38776856032e-1, 1.99777106478e-1,
                     -3.33329491539e-1])
    r = k.add(y0, k.add(k.mul(k.mul(p, z), xr), xr))
    return k.where(k.lt(x, _c(k, 0.0, x)), k.neg(r), r)


def asin(k, x):
    # asin(x) = atan(x / sqrt((1 - x)(1 + x))): the product is exact near |x| = 1, where
    # 1 - x*x is not; |x| = 1 gives atan(+-inf) = +-pi/2
    one = _c(k, 1.0, x)
    return atan(k, k.div(x, k.sqrt(k.mul(k.sub(one, x), k.add(one, x)))))


def acos(k, x):
    # acos(x) = 2 atan(sqrt((1 - x)/(1 + x)))
    one = _c(k, 1.0, x)
    return k.mul(_c(k, 2.0, x), atan(k, k.sqrt(k.div(k.sub(one, x), k.add(one, x)))))


def atan2(k, y, x):
    base = atan(k, k.div(y, x))
    pi = _c(k, math.pi, x)
    zero = _c(k, 0.0, x)
    adj = k.where(k.lt(x, zero), k.where(k.lt(y, zero), k.neg(pi), pi), zero)
    r = k.add(base, adj)
    # atan2(0, x) = 0 for x >= 0 and pi for x < 0 (y/x is NaN for 0/0)
    return k.where(k.eq(y, zero), k.where(k.lt(x, zero), pi, zero), r)


_HUGE = 1.0e9     # beyond it x^2 + 1 == x^2 in float32 and log(2x) is exact to rounding


def asinh(k, x):
    # sign(x) * log1p(|x| + x^2 / (1 + sqrt(1 + x^2))); log(2|x|) for huge |x| (x^2 overflows)
    ax = k.abs(x)
    one = _c(k, 1.0, x)
    z = k.mul(ax, ax)
    r = log1p(k, k.add(ax, k.div(z, k.add(one, k.sqrt(k.add(one, z))))))
    r = k.where(k.gt(ax, _c(k, _HUGE, x)), k.add(k.log(ax), _c(k, math.log(2.0), x)), r)
    return k.where(k.lt(x, _c(k, 0.0, x)), k.neg(r), r)


def acosh(k, x):
    # log1p(t + sqrt(t (t + 2))) with t = x - 1 (exact near 1); log(2x) for huge x
    t = k.sub(x, _c(k, 1.0, x))
    r = log1p(k, k.add(t, k.sqrt(k.mul(t, k.add(t, _c(k, 2.0, x))))))
    return k.where(k.gt(x, _c(k, _HUGE, x)), k.add(k.log(x), _c(k, math.log(2.0), x)), r)


def atanh(k, x):
    one = _c(k, 1.0, x)
    return k.mul(_c(k, 0.5, x), log1p(k, k.div(k.mul(_c(k, 2.0, x), x), k.sub(one, x))))


def log10(k, x):
    return _snap(k, k.mul(k.log(x), _c(k, 1.0 / math.log(10.0), x)))


def log2(k, x):
    return _snap(k, k.mul(k.log(x), _c(k, 1.0 / math.log(2.0), x)))


def pow_(k, x, y):
    """x ** y with C's rules for negative bases (integer exponents keep or drop the sign, others
    give NaN), x ** 0 = 1, and exact integer powers of integers."""
    zero = _c(k, 0.0, x)
    one = _c(k, 1.0, x)
    ax = k.abs(x)
    r = k.exp(k.mul(y, k.log(ax)))
    yf = k.floor(y)
    is_int = k.eq(yf, y)
    # an integer to a non-negative integer power is an integer: round away exp/log's error
    exact = k.and_(k.and_(is_int, k.ge(y, zero)), k.eq(k.floor(ax), ax))
    r = k.where(exact, k.floor(k.add(r, _c(k, 0.5, x))), r)
    half = k.mul(y, _c(k, 0.5, x))
    odd = k.and_(is_int, k.ne(k.floor(half), half))
    neg = k.where(is_int, k.where(odd, k.neg(r), r), _c(k, float("nan"), x))
    r = k.where(k.lt(x, zero), neg, r)
    return k.where(k.eq(y, zero), one, r)


def cbrt(k, x):
    ax = k.abs(x)
    third = _c(k, 1.0 / 3.0, x)
    r = k.exp(k.mul(k.log(ax), third))
    # one Newton step: r -= (r^3 - ax) / (3 r^2)
    r2 = k.mul(r, r)
    r = k.where(k.eq(ax, _c(k, 0.0, x)), ax,
                k.sub(r, k.div(k.sub(k.mul(r2, r), ax), k.mul(_c(k, 3.0, x), r2))))
    # perfect cubes come out exact (cbrt(27) = 3, not 2.9999998)
    rn = k.floor(k.add(r, _c(k, 0.5, x)))
    r = k.where(k.eq(k.mul(k.mul(rn, rn), rn), ax), rn, r)
    return k.where(k.lt(x, _c(k, 0.0, x)), k.neg(r), r)


def hypot(k, x, y):
    ax, ay = k.abs(x), k.abs(y)
    m = k.max(ax, ay)
    n = k.min(ax, ay)
    safe = k.where(k.eq(m, _c(k, 0.0, x)), _c(k, 1.0, x), m)
    q = k.div(n, safe)
    h = k.mul(m, k.sqrt(k.add(_c(k, 1.0, x), k.mul(q, q))))
    # integer hypotenuses come out exact (hypot(5, 12) = 13)
    hn = k.floor(k.add(h, _c(k, 0.5, x)))
    exact = k.and_(k.ge(hn, _c(k, 1.0, x)),
                   k.eq(k.mul(hn, hn), k.add(k.mul(ax, ax), k.mul(ay, ay))))
    return k.where(exact, hn, h)


def sign(k, x):
    zero = _c(k, 0.0, x)
    one = _c(k, 1.0, x)
    return k.where(k.gt(x, zero), one, k.where(k.lt(x, zero), k.neg(one), zero))


def trunc(k, x):
    return k.where(k.lt(x, _c(k, 0.0, x)), k.ceil(x), k.floor(x))


def round_(k, x):
    # halves away from zero: floor(|x|) + (frac >= 0.5); floor(|x| + 0.5) would round
    # 0.49999997 up (the sum rounds to 1)
    ax = k.abs(x)
    f = k.floor(ax)
    r = k.add(f, k.where(k.ge(k.sub(ax, f), _c(k, 0.5, x)), _c(k, 1.0, x), _c(k, 0.0, x)))
    return k.where(k.lt(x, _c(k, 0.0, x)), k.neg(r), r)


def rint(k, x):
    # halves to even
    f = k.floor(x)
    d = k.sub(x, f)
    half = _c(k, 0.5, x)
    one = _c(k, 1.0, x)
    fh = k.mul(f, half)
    f_odd = k.ne(k.floor(fh), fh)
    up = k.where(k.gt(d, half), one, k.where(k.lt(d, half), _c(k, 0.0, x),
                                             k.where(f_odd, one, _c(k, 0.0, x))))
    return k.add(f, up)


def erfinv(k, x):
    # Giles, "Approximating the erfinv function" (single precision), branch-free
    one = _c(k, 1.0, x)
    w = k.neg(k.log(k.mul(k.sub(one, x), k.add(one, x))))
    w1 = k.sub(w, _c(k, 2.5, x))
    p1 = _poly(k, w1, [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                       0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941])
    w2 = k.sub(k.sqrt(w), _c(k, 3.0, x))
    p2 = _poly(k, w2, [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
                       0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682])
    p = k.where(k.lt(w, _c(k, 5.0, x)), p1, p2)
    r = k.mul(p, x)
    # erfinv(+-1) = +-inf (the tail polynomial has the wrong sign at w = inf)
    inf = _c(k, math.inf, x)
    return k.where(k.eq(k.abs(x), one), k.where(k.lt(x, _c(k, 0.0, x)), k.neg(inf), inf), r)


# Cephes lgamf: log Gamma(2 + t) = t B(t) for |t| <= 0.5; log Gamma(1 + t) = t C(t), |t| <= 0.25
_LGAM_B = [6.055172732649237e-4, -1.311620815545743e-3, 2.863437556468661e-3,
           -7.366775108654962e-3, 2.058355474821512e-2, -6.735323259371034e-2,
           3.224669577325661e-1, 4.227843421859038e-1]
_LGAM_C = [1.369488127325832e-1, -1.590086327657347e-1, 1.692415923504637e-1,
           -2.067882815621965e-1, 2.705806208275915e-1, -4.006931650563372e-1,
           8.224670749082976e-1, -5.772156501719101e-1]
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _lgamma_pos(k, x):
    """log Gamma(x) for x >= 0 (Cephes lgamf, branch-free): Stirling for x >= 6.5; below,
    the argument is shifted into [1.5, 2.5) (lgamma(x) = lgamma(x - m) + log((x-1)...(x-m)),
    or lgamma(x + m) - log(x (x+1)...)) and lgamma(2 + t) = t B(t); near 1, (x-1) C(x-1)."""
    c = lambda v: _c(k, v, x)
    one = c(1.0)
    # x in [1.5, 6.5): m = round(x) - 2 downward shifts, t = x - round(x)
    n = k.floor(k.add(x, c(0.5)))
    t_up = k.sub(x, n)
    p1 = k.sub(x, one)
    p2 = k.mul(p1, k.sub(x, c(2.0)))
    p3 = k.mul(p2, k.sub(x, c(3.0)))
    p4 = k.mul(p3, k.sub(x, c(4.0)))
    z_up = k.where(k.ge(n, c(6.0)), p4, k.where(k.ge(n, c(5.0)), p3,
                                                 k.where(k.ge(n, c(4.0)), p2,
                                                         k.where(k.ge(n, c(3.0)), p1, one))))
    # x < 1.5 (outside [0.75, 1.25)): one or two upward shifts
    tiny = k.lt(x, c(0.5))
    z_dn = k.where(tiny, k.mul(x, k.add(x, one)), x)
    t_dn = k.where(tiny, x, k.sub(x, one))
    up = k.ge(x, c(1.5))
    t = k.where(up, t_up, t_dn)
    q = k.where(up, k.log(z_up), k.neg(k.log(z_dn)))
    mid = k.add(k.mul(t, _poly(k, t, _LGAM_B)), q)
    near1 = k.mul(p1, _poly(k, p1, _LGAM_C))
    mid = k.where(k.and_(k.ge(x, c(0.75)), k.lt(x, c(1.25))), near1, mid)
    # Stirling for x >= 6.5 (x clamped so the unused branch stays finite)
    xs = k.max(x, c(6.5))
    w = k.div(one, k.mul(xs, xs))
    corr = k.div(_poly(k, w, [6.789774945028216e-4, -2.769887652139868e-3,
                              8.333316229807355e-2]), xs)
    stir = k.add(k.sub(k.mul(k.sub(xs, c(0.5)), k.log(xs)), xs), k.add(c(_LOG_SQRT_2PI), corr))
    return k.where(k.ge(x, c(6.5)), stir, mid)


def _sin_pi_frac(k, q):
    """(sin(pi z) >= 0 with z the distance of q to the nearest integer <= 0.5, floor(q)), for the
    reflection formulas: pi * q itself would lose the fraction for large q."""
    p = k.floor(q)
    z = k.sub(q, p)
    z = k.where(k.gt(z, _c(k, 0.5, q)), k.sub(_c(k, 1.0, q), z), z)
    return k.sin(k.mul(z, _c(k, math.pi, q))), p


def lgamma(k, x):
    # x < 0: log|Gamma(x)| = log(pi) - log(|x| sin(pi z)) - lgamma(|x|)  (Cephes' reflection)
    neg = k.lt(x, _c(k, 0.0, x))
    ax = k.abs(x)
    lg = _lgamma_pos(k, ax)
    s, _ = _sin_pi_frac(k, ax)
    refl = k.sub(k.sub(_c(k, math.log(math.pi), x), k.log(k.mul(ax, s))), lg)
    return k.where(neg, refl, lg)


def tgamma(k, x):
    # sign * exp(lgamma(x)); Gamma(x) < 0 for x in (-1, 0), (-3, -2) ... (floor(x) odd);
    # NaN at the poles 0, -1, -2 ... (C's tgamma gives NaN at negative integers)
    zero = _c(k, 0.0, x)
    g = k.exp(lgamma(k, x))
    fl = k.floor(x)
    half = k.mul(fl, _c(k, 0.5, x))
    odd = k.ne(k.floor(half), half)
    neg = k.lt(x, zero)
    g = k.where(k.and_(neg, odd), k.neg(g), g)
    # factorials come out exact while the type holds them (tgamma(8) = 5040)
    big = 2.0 ** 53 if x.dtype == DType.f64 else 2.0 ** 24
    gn = k.floor(k.add(g, _c(k, 0.5, x)))
    exact = k.and_(k.and_(k.eq(fl, x), k.gt(x, zero)), k.lt(g, _c(k, big, x)))
    g = k.where(exact, gn, g)
    return k.where(k.and_(neg, k.eq(fl, x)), _c(k, float("nan"), x), g)


# digamma around its positive root x0: psi(x) = d P(d), d = x - x0 (fitted in float64)
_PSI_X0_HI = 1.4616321325302124
_PSI_X0_LO = 1.2438149843418955e-08
_PSI_ROOT = [0.024232612321795792, -0.03529268092041337, 0.048718808173906177,
             -0.07210495249572305, 0.1078258458032516, -0.1639442327613859,
             0.2584997479454559, -0.4427631624457783, 0.9676722454624636]


def digamma(k, x):
    # psi(x) = psi(x + 6) - sum_{i<6} 1/(x+i); asymptotic series for x + 6; reflection for x<0.5;
    # near the root x0 = 1.4616..., a polynomial in x - x0 keeps the relative accuracy
    half = _c(k, 0.5, x)
    one = _c(k, 1.0, x)
    pi = _c(k, math.pi, x)
    refl = k.lt(x, half)
    xp = k.where(refl, k.sub(one, x), x)
    acc = _c(k, 0.0, x)
    for i in range(6):
        acc = k.sub(acc, k.div(one, k.add(xp, _c(k, float(i), x))))
    y = k.add(xp, _c(k, 6.0, x))
    inv = k.div(one, y)
    inv2 = k.mul(inv, inv)
    # psi(y) ~ log y - 1/(2y) - sum_n B_2n / (2n y^2n)
    psi = k.add(acc, k.sub(k.sub(k.log(y), k.mul(inv, half)),
                           k.mul(inv2, _poly(k, inv2, [1.0 / 132, -1.0 / 240, 1.0 / 252,
                                                       -1.0 / 120, 1.0 / 12]))))
    # reflection: psi(1 - x) - pi / tan(pi x), with tan(pi x) from the reduced fraction
    fl = k.floor(x)
    z = k.sub(x, fl)                                    # in [0, 1)
    tpx = tan(k, k.mul(z, pi))
    r = k.sub(psi, k.div(pi, tpx))
    d = k.sub(k.sub(x, _c(k, _PSI_X0_HI, x)), _c(k, _PSI_X0_LO, x))
    root = k.mul(d, _poly(k, d, _PSI_ROOT))
    psi = k.where(k.lt(k.abs(d), _c(k, 0.25, x)), root, psi)
    r = k.where(refl, r, psi)
    # poles: -inf at 0, NaN at the negative integers (as torch and scipy give)
    zero = _c(k, 0.0, x)
    r = k.where(k.and_(k.lt(x, zero), k.eq(fl, x)), _c(k, float("nan"), x), r)
    return k.where(k.eq(x, zero), _c(k, -math.inf, x), r)


EXPANSIONS = {
    "sigmoid": sigmoid, "tanh": tanh, "expm1": expm1, "log1p": log1p, "sinh": sinh,
    "cosh": cosh, "tan": tan, "atan": atan, "asin": asin, "acos": acos, "atan2": atan2,
    "asinh": asinh, "acosh": acosh, "atanh": atanh, "log10": log10, "log2": log2, "pow": pow_,
    "cbrt": cbrt, "hypot": hypot, "sign": sign, "trunc": trunc, "round": round_, "rint": rint,
    "erfinv": erfinv, "lgamma": lgamma, "tgamma": tgamma, "digamma": digamma,
}


# ops a renderer with float32/float64-only math (Triton) computes natively on integers ...
INT_NATIVE = frozenset({"add", "sub", "mul", "div", "floordiv", "mod", "neg", "abs", "max",
                        "min", "and_", "or_", "xor", "not_", "lt", "le", "gt", "ge", "eq", "ne"})
# ... and on float16/bfloat16
HALF_NATIVE = frozenset({"add", "sub", "mul", "div", "mod", "neg", "abs", "max", "min", "and_",
                         "or_", "xor", "not_", "lt", "le", "gt", "ge", "eq", "ne"})
# rounding is the identity on integers
INT_IDENTITY = frozenset({"round", "rint", "floor", "ceil", "trunc"})
_BOOL_LOGIC = frozenset({"and_", "or_", "xor"})


def _float_op(k, op, args, ops):
    return EXPANSIONS[op](k, *args) if op in ops else k.alu(op, *args)


def _rewrite(k, op, args, ops, generic):
    """The replacement of ``alu op(args)``, or None to copy it unchanged."""
    dt = args[0].dtype
    if not generic:
        if op not in ops or dt == DType.bool:
            return None
        if dt.is_int:           # computed in float64 and truncated (MXNet's math on integers)
            return k.cast(EXPANSIONS[op](k, *[k.cast(a, DType.f64) for a in args]), dt)
        if dt in (DType.f16, DType.bf16):
            return k.cast(EXPANSIONS[op](k, *[k.cast(a, DType.f32) for a in args]), dt)
        return EXPANSIONS[op](k, *args)
    if dt == DType.bool and op in _BOOL_LOGIC:
        # as selects: Triton's interpreter cannot `&` a scalar bool with a block of bools
        a, b = args
        if op == "and_":
            return k.where(a, b, k.const(False, DType.bool))
        if op == "or_":
            return k.where(a, k.const(True, DType.bool), b)
        return k.ne(a, b)
    if not dt.is_float:                     # integers and bool
        if op in INT_NATIVE:
            return None
        if op in INT_IDENTITY:
            return args[0]
        if op == "sign":
            return sign(k, *args)
        r = _float_op(k, op, [k.cast(a, DType.f64) for a in args], ops)
        return k.cast(r, dt) if r.dtype == DType.f64 else r
    if dt in (DType.f16, DType.bf16) and op not in HALF_NATIVE:
        r = _float_op(k, op, [k.cast(a, DType.f32) for a in args], ops)
        return k.cast(r, dt) if r.dtype == DType.f32 else r
    return EXPANSIONS[op](k, *args) if op in ops else None


def _needs(ins, ops, generic) -> bool:
    if ins.op != "alu":
        return False
    dt = ins.args[0].dtype
    if not generic:
        return ins.attr in ops and dt != DType.bool
    if dt == DType.bool and ins.attr in _BOOL_LOGIC:
        return True
    if not dt.is_float:
        return ins.attr not in INT_NATIVE
    if dt in (DType.f16, DType.bf16) and ins.attr not in HALF_NATIVE:
        return True
    return ins.attr in ops


def expand_kernel(kern: Kernel, ops: set, float_only: bool = True) -> Kernel:
    """A copy of ``kern`` where ALU instructions whose op is in ``ops`` are expanded (integer
    operands in float64, truncated back; float16/bfloat16 in float32).

    ``float_only=False`` is for renderers whose math takes only float32/float64 (Triton):
    then integer ALU ops other than :data:`INT_NATIVE` are computed in float64 and truncated
    back (rounding ops are the identity, ``sign`` stays integral), float16/bfloat16 ops
    other than :data:`HALF_NATIVE` are computed in float32 and rounded back, and logic on
    bools becomes selects (Triton's interpreter cannot broadcast a scalar bool in ``&``).
    """
    generic = not float_only
    for _ in range(4):          # expansions may emit ops that need rewriting in turn
        if not any(_needs(i, ops, generic) for i in kern.body):
            break
        kern = _expand_once(kern, ops, generic)
    return kern


def _expand_once(kern: Kernel, ops: set, generic: bool) -> Kernel:
    out = Kernel(kern.name, kern.buffers, kern.grid, kern.rdims, [], kern.sources)
    k = KBuilder(out)
    m: dict[int, Instr] = {}
    for ins in kern.body:
        args = [m[a.id] for a in ins.args]
        r = None
        if ins.op == "alu":
            r = _rewrite(k, ins.attr, args, ops, generic) if _needs(ins, ops, generic) else None
            if r is not None and r.dtype != ins.dtype:
                r = k.cast(r, ins.dtype)
            if r is None:
                r = k._emit("alu", tuple(args), ins.dtype, ins.attr)
        elif ins.op == "const":
            r = k.const(ins.attr, ins.dtype)
        elif ins.op == "index":
            r = k.ix(ins.attr)
        elif ins.op == "load":
            r = k.load(*ins.attr, mask=args[0] if args else None)
        elif ins.op == "store":
            r = k.store(ins.attr[0], ins.attr[1], args[0])
        elif ins.op == "cast":
            r = k.cast(args[0], ins.dtype)
        elif ins.op == "where":
            r = k._emit("where", tuple(args), ins.dtype)
        elif ins.op == "reduce":
            r = k.reduce(ins.attr, args[0])
        else:
            raise RuntimeError(f"kernel {kern.name}: unknown instruction {ins.op}")
        m[ins.id] = r
    return out
