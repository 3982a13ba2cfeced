"""Math functions as kernel IR: expansions of ALU ops into basic ones.

A renderer that lacks an op (Triton's core language has no ``tanh``, ``lgamma`` or ``pow``; its
interpreter cannot call libdevice; LLVM has no ``erfinv``) asks :func:`expand_kernel` to rewrite
those instructions into ``exp``/``log``/``sqrt``/arithmetic/``where``. The formulas are branch-free
(both sides computed, one selected), so they vectorize and run as one Triton block, and are
accurate to about 1e-7 relative in float32 (Cephes' single-precision polynomials; Giles'
erfinv; Lanczos for gamma).
"""
from __future__ import annotations

import math

from ..ir.types import DType
from .kir import Instr, KBuilder, Kernel

__all__ = ["expand_kernel", "EXPANSIONS"]


def _poly(k, x, coeffs):
    """Horner: coeffs from highest degree to constant."""
    c = lambda v: k.const(v, x.dtype)  # noqa: E731
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
    # u = 1 + x; log(u) - ((u - 1) - x) / u corrects the rounding of u (Goldberg)
    one = _c(k, 1.0, x)
    u = k.add(one, x)
    corr = k.div(k.sub(k.sub(u, one), x), u)
    r = k.sub(k.log(u), corr)
    return k.where(k.eq(u, one), x, r)


def sinh(k, x):
    ax = k.abs(x)
    z = k.mul(x, x)
    # |x| < 1: x + x^3 P(z) (Cephes sinhf)
    p = _poly(k, z, [2.03721912945e-4, 8.33028376239e-3, 1.66667160211e-1])
    small = k.add(x, k.mul(k.mul(x, z), p))
    e = k.exp(ax)
    big = k.mul(k.sub(e, k.div(_c(k, 1.0, x), e)), _c(k, 0.5, x))
    big = k.where(k.lt(x, _c(k, 0.0, x)), k.neg(big), big)
    return k.where(k.lt(ax, _c(k, 1.0, x)), small, big)


def cosh(k, x):
    e = k.exp(k.abs(x))
    return k.mul(k.add(e, k.div(_c(k, 1.0, x), e)), _c(k, 0.5, x))


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
    # asin(x) = atan(x / sqrt(1 - x^2)), exact at |x| = 1 via atan(+-inf)
    one = _c(k, 1.0, x)
    return atan(k, k.div(x, k.sqrt(k.sub(one, k.mul(x, x)))))


def acos(k, x):
    # acos(x) = 2 atan(sqrt((1 - x)/(1 + x)))
    one = _c(k, 1.0, x)
    return k.mul(_c(k, 2.0, x), atan(k, k.sqrt(k.div(k.sub(one, x), k.add(one, x)))))


def atan2(k, y, x):
    base = atan(k, k.div(y, x))
    pi = _c(k, math.pi, x)
    zero = _c(k, 0.0, x)
    adj = k.where(k.lt(x, zero), k.where(k.lt(y, zero), k.neg(pi), pi), zero)
    return k.add(base, adj)


def asinh(k, x):
    # sign(x) * log1p(|x| + x^2 / (1 + sqrt(1 + x^2)))
    ax = k.abs(x)
    one = _c(k, 1.0, x)
    z = k.mul(ax, ax)
    r = log1p(k, k.add(ax, k.div(z, k.add(one, k.sqrt(k.add(one, z))))))
    return k.where(k.lt(x, _c(k, 0.0, x)), k.neg(r), r)


def acosh(k, x):
    one = _c(k, 1.0, x)
    return k.log(k.add(x, k.sqrt(k.mul(k.sub(x, one), k.add(x, one)))))


def atanh(k, x):
    one = _c(k, 1.0, x)
    return k.mul(_c(k, 0.5, x), log1p(k, k.div(k.mul(_c(k, 2.0, x), x), k.sub(one, x))))


def log10(k, x):
    return k.mul(k.log(x), _c(k, 1.0 / math.log(10.0), x))


def log2(k, x):
    return k.mul(k.log(x), _c(k, 1.0 / math.log(2.0), x))


def pow_(k, x, y):
    """x ** y with numpy's rules for negative bases (integer exponents) and 0 ** 0 = 1."""
    zero = _c(k, 0.0, x)
    one = _c(k, 1.0, x)
    ax = k.abs(x)
    r = k.exp(k.mul(y, k.log(ax)))
    yf = k.floor(y)
    is_int = k.eq(yf, y)
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
    return k.where(k.lt(x, _c(k, 0.0, x)), k.neg(r), r)


def hypot(k, x, y):
    ax, ay = k.abs(x), k.abs(y)
    m = k.max(ax, ay)
    n = k.min(ax, ay)
    safe = k.where(k.eq(m, _c(k, 0.0, x)), _c(k, 1.0, x), m)
    q = k.div(n, safe)
    return k.mul(m, k.sqrt(k.add(_c(k, 1.0, x), k.mul(q, q))))


def sign(k, x):
    zero = _c(k, 0.0, x)
    one = _c(k, 1.0, x)
    return k.where(k.gt(x, zero), one, k.where(k.lt(x, zero), k.neg(one), zero))


def trunc(k, x):
    return k.where(k.lt(x, _c(k, 0.0, x)), k.ceil(x), k.floor(x))


def round_(k, x):
    # halves away from zero
    half = _c(k, 0.5, x)
    r = k.floor(k.add(k.abs(x), half))
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
    return k.mul(p, x)


_LANCZOS_G = 7.0
_LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012,
            9.9843695780195716e-6, 1.5056327351493116e-7]


def _lanczos_log_gamma_pos(k, x):
    """log Gamma(x) for x >= 0.5 (Lanczos, g=7, n=9)."""
    one = _c(k, 1.0, x)
    z = k.sub(x, one)
    a = _c(k, _LANCZOS[0], x)
    for i, ci in enumerate(_LANCZOS[1:], start=1):
        a = k.add(a, k.div(_c(k, ci, x), k.add(z, _c(k, float(i), x))))
    t = k.add(z, _c(k, _LANCZOS_G + 0.5, x))
    half_log_2pi = _c(k, 0.5 * math.log(2 * math.pi), x)
    return k.add(k.add(half_log_2pi, k.mul(k.add(z, _c(k, 0.5, x)), k.log(t))),
                 k.sub(k.log(a), t))


def lgamma(k, x):
    # reflection for x < 0.5: log|Gamma(x)| = log(pi / |sin(pi x)|) - lgamma(1 - x)
    half = _c(k, 0.5, x)
    one = _c(k, 1.0, x)
    pi = _c(k, math.pi, x)
    refl = k.lt(x, half)
    xp = k.where(refl, k.sub(one, x), x)
    lg = _lanczos_log_gamma_pos(k, xp)
    s = k.abs(k.sin(k.mul(pi, x)))
    r = k.sub(k.log(k.div(pi, s)), lg)
    return k.where(refl, r, lg)


def tgamma(k, x):
    half = _c(k, 0.5, x)
    one = _c(k, 1.0, x)
    pi = _c(k, math.pi, x)
    refl = k.lt(x, half)
    xp = k.where(refl, k.sub(one, x), x)
    g = k.exp(_lanczos_log_gamma_pos(k, xp))
    r = k.div(pi, k.mul(k.sin(k.mul(pi, x)), g))
    return k.where(refl, r, g)


def digamma(k, x):
    # psi(x) = psi(x + 6) - sum_{i<6} 1/(x+i); asymptotic series for x + 6; reflection for x<0.5
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
    r = k.sub(psi, k.div(pi, tan(k, k.mul(pi, x))))
    return k.where(refl, r, psi)


EXPANSIONS = {
    "sigmoid": sigmoid, "tanh": tanh, "expm1": expm1, "log1p": log1p, "sinh": sinh,
    "cosh": cosh, "tan": tan, "atan": atan, "asin": asin, "acos": acos, "atan2": atan2,
    "asinh": asinh, "acosh": acosh, "atanh": atanh, "log10": log10, "log2": log2, "pow": pow_,
    "cbrt": cbrt, "hypot": hypot, "sign": sign, "trunc": trunc, "round": round_, "rint": rint,
    "erfinv": erfinv, "lgamma": lgamma, "tgamma": tgamma, "digamma": digamma,
}


def expand_kernel(kern: Kernel, ops: set, float_only: bool = True) -> Kernel:
    """A copy of ``kern`` where ALU instructions whose op is in ``ops`` are expanded."""
    if not any(i.op == "alu" and i.attr in ops and (not float_only or i.args[0].dtype.is_float)
               for i in kern.body):
        return kern
    out = Kernel(kern.name, kern.buffers, kern.grid, kern.rdims, [], kern.sources)
    k = KBuilder(out)
    m: dict[int, Instr] = {}
    for ins in kern.body:
        args = [m[a.id] for a in ins.args]
        if ins.op == "alu" and ins.attr in ops and (not float_only or
                                                    ins.args[0].dtype.is_float):
            dt = args[0].dtype
            if dt in (DType.f16, DType.bf16):
                wide = [k.cast(a, DType.f32) for a in args]
                r = k.cast(EXPANSIONS[ins.attr](k, *wide), dt)
            else:
                r = EXPANSIONS[ins.attr](k, *args)
        elif ins.op == "const":
            r = k.const(ins.attr, ins.dtype)
        elif ins.op == "index":
            r = k.ix(ins.attr)
        elif ins.op == "load":
            r = k.load(*ins.attr)
        elif ins.op == "store":
            r = k.store(ins.attr[0], ins.attr[1], args[0])
        elif ins.op == "cast":
            r = k.cast(args[0], ins.dtype)
        elif ins.op == "where":
            r = k._emit("where", tuple(args), ins.dtype)
        elif ins.op == "reduce":
            r = k.reduce(ins.attr, args[0])
        else:
            r = k._emit("alu", tuple(args), ins.dtype, ins.attr)
        m[ins.id] = r
    return out
