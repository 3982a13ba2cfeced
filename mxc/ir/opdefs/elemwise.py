"""Elementwise operators: unary math, same-shape and broadcasting binary ops, scalar forms,
Activation, Cast, where, clip, and the constant generators (zeros_like, _full, ...).

Each op gives a numpy ``interp`` (the oracle) and a scalar ``formula`` for codegen, built with
the scalar handler ``k`` (``k.add``, ``k.exp``, ``k.const(value, dtype)`` ...).

MXNet 1.9.1 behaviours matched here (read off src/operator/mshadow_op.h and
tensor/elemwise_*_op*.{h,cc}, and confirmed against the oracle with tools/golden_cases/elemwise.py):

- ``round`` rounds halves away from zero (C's round); ``rint`` rounds them to even; ``fix``
  truncates. Their gradients, and ``sign``'s, are zero.
- Comparisons and logical ops (``_equal``, ``broadcast_greater``, ``_lesser_scalar``,
  ``logical_not`` ...) return the input's dtype, 1 or 0, and have zero gradients.
- ``%`` follows Python: the result takes the divisor's sign (computed from C's fmod, which is
  exact); ``x % 0`` is 0. Its gradients are 1 and ``-floor(x / y)``.
- ``maximum``/``minimum``: ties send the gradient to the left operand (``x >= y``), never to
  both; ``_maximum_scalar`` passes it where ``x >= s`` (``x <= s`` for minimum). A NaN operand
  gives NaN (``relu`` too), but ``Activation(relu)`` maps NaN to 0; ``sign(NaN)`` is 0.
- ``clip(x, a_min, a_max)`` is ``x > a_max ? a_max : (x < a_min ? a_min : x)`` (so an inverted
  range gives ``a_max`` above it and ``a_min`` elsewhere, and NaN passes through); its gradient
  is 1 on the closed interval ``[a_min, a_max]``.
- Integer inputs: a scalar operand is cast to the input's dtype first (``x + 2.7`` adds 2 to
  an int32 array); division truncates toward zero; math functions (``exp``, ``sqrt``,
  ``power``, ``hypot`` ...) are computed in double precision and truncated back. MXNet traps
  (SIGFPE) on an integer division by zero; mxc gives 0 there instead.
- float16 math is computed in float32 and rounded back.
- ``Activation(softrelu)`` is ``x > 20 ? x : log1p(exp(x))`` with gradient ``1 - exp(-y)``.
- ``mx.sym.maximum / minimum / hypot / pow / power`` are MXNet's Python functions (symbol.py),
  not operators: two symbols give ``_Maximum`` (same shape), a symbol and a number
  ``_MaximumScalar``, two numbers a number. :func:`symbol_functions` provides them.
"""
from __future__ import annotations

import math

import numpy as np

from ..attrs import Attr
from ..registry import (ELEMENTWISE, Elementwise, OpDef, broadcast_shapes, forward_dtype,
                        forward_shape, register_op, same_shape)
from ..types import DType
from ._util import binary, bool_to, broadcast, scalar_op, unary

F = "float"


def _c(k, v, like):
    return k.const(v, like.dtype)


def _f64(x):
    """(x as float64, back) for reference math: computed in double and rounded (or truncated,
    for integers: MXNet's math on integer types) to the input dtype."""
    x = np.asarray(x)
    dt = x.dtype

    def back(r):
        r = np.asarray(r)
        if dt.kind in "iub":
            with np.errstate(invalid="ignore"):
                r = np.trunc(r)
        return r.astype(dt) if dt.kind != "b" else r.astype(np.float32)
    return x.astype(np.float64), back


def _np_torch(fn_name):
    def f(x, a=None):
        import torch
        xd, back = _f64(x)
        return back(getattr(torch.special, fn_name)(torch.from_numpy(xd)).numpy())
    return f


def _np_math(fn):
    """A numpy function evaluated in float64 and brought back to the input dtype."""
    def f(x, a=None):
        xd, back = _f64(x)
        with np.errstate(all="ignore"):
            return back(fn(xd))
    return f


def _gamma_f64(x):
    def g(v):
        try:
            return math.gamma(v)
        except (ValueError, OverflowError):
            if v > 0:
                return math.inf
            return math.nan
    return np.vectorize(g, otypes=[np.float64])(x) if x.size else x


def _lgamma_f64(x):
    def g(v):
        try:
            return math.lgamma(v)
        except (ValueError, OverflowError):
            return math.inf
    return np.vectorize(g, otypes=[np.float64])(x) if x.size else x


# --- unary math ----------------------------------------------------------------------------------
# vjp(b, op, g): x = op.inputs[0], y = op.outputs[0]
def _x(op):
    return op.inputs[0]


def _y(op):
    return op.outputs[0]


M = _np_math
_SQRT_PI = math.sqrt(math.pi)


def _wide_math(formula):
    """A float formula applied as MXNet applies math to other dtypes: integers go through
    float64 and are truncated back; float16/bfloat16 are computed in float32 and rounded."""
    def f(k, a, *xs):
        dt = xs[0].dtype
        if dt in (DType.f32, DType.f64):
            return formula(k, a, *xs)
        wide = DType.f32 if dt.is_float else DType.f64
        r = formula(k, a, *[k.cast(x, wide) for x in xs])
        return k.cast(r, dt)
    f.__wrapped__ = formula
    return f


def _int_identity(formula):
    """Rounding functions are the identity on integers."""
    def f(k, a, x):
        return x if not x.dtype.is_float else _wide_math(formula)(k, a, x)
    return f


W = _wide_math


def _nan_pick(k, x, y, r):
    """MXNet's maximum/minimum return a NaN operand (IsNan(a) ? a : ...); a renderer's max may
    return the other one (LLVM's select on a > b, the GPU's max.f32)."""
    if not x.dtype.is_float:
        return r
    return k.where(k.ne(x, x), x, k.where(k.ne(y, y), y, r))


def _nan_max(k, x, y):
    return _nan_pick(k, x, y, k.max(x, y))


def _nan_min(k, x, y):
    return _nan_pick(k, x, y, k.min(x, y))


def _round_np(x):
    # MXNet's round is C's round: halves away from zero (numpy's rounds half to even)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _zero_grad(b, op, g):
    return (None,)


unary("negative", lambda x, a: -x, lambda k, a, x: k.neg(x),
      lambda b, op, g: (b.neg(g),))
unary("abs", lambda x, a: np.abs(x), lambda k, a, x: k.abs(x),
      lambda b, op, g: (b.mul(g, b.unary("sign", _x(op))),))
unary("sign", lambda x, a: np.where(np.isnan(x), 0, np.sign(x)).astype(x.dtype),   # sign(NaN)=0
      lambda k, a, x: k.sign(x), _zero_grad)
unary("round", M(_round_np), _int_identity(lambda k, a, x: k.round(x)), _zero_grad)
unary("rint", M(np.rint), _int_identity(lambda k, a, x: k.rint(x)), _zero_grad)
unary("ceil", M(np.ceil), _int_identity(lambda k, a, x: k.ceil(x)), _zero_grad)
unary("floor", M(np.floor), _int_identity(lambda k, a, x: k.floor(x)), _zero_grad)
unary("trunc", M(np.trunc), _int_identity(lambda k, a, x: k.trunc(x)), _zero_grad)
unary("fix", M(np.fix), _int_identity(lambda k, a, x: k.trunc(x)), _zero_grad)
unary("square", lambda x, a: x * x, lambda k, a, x: k.mul(x, x),
      lambda b, op, g: (b.mul(g, b.mul(_x(op), 2.0)),))
unary("sqrt", M(np.sqrt), W(lambda k, a, x: k.sqrt(x)),
      lambda b, op, g: (b.div(b.mul(g, 0.5), _y(op)),))
# MXNet: d rsqrt = -1 / (2 x sqrt(x)), from the input
unary("rsqrt", M(lambda x: 1.0 / np.sqrt(x)), W(lambda k, a, x: k.rsqrt(x)),
      lambda b, op, g: (b.mul(g, b.div(-0.5, b.mul(_x(op), b.sqrt(_x(op))))),))
unary("cbrt", M(np.cbrt), W(lambda k, a, x: k.cbrt(x)),
      lambda b, op, g: (b.div(g, b.mul(b.square(_y(op)), 3.0)),))
# MXNet: d rcbrt = -1 / (3 x cbrt(x)), from the input
unary("rcbrt", M(lambda x: 1.0 / np.cbrt(x)), W(lambda k, a, x: k.div(_c(k, 1.0, x), k.cbrt(x))),
      lambda b, op, g: (b.div(g, b.mul(b.mul(_x(op), b.unary("cbrt", _x(op))), -3.0)),))
unary("exp", M(np.exp), W(lambda k, a, x: k.exp(x)),
      lambda b, op, g: (b.mul(g, _y(op)),))
unary("expm1", M(np.expm1), W(lambda k, a, x: k.expm1(x)),
      lambda b, op, g: (b.mul(g, b.exp(_x(op))),))
unary("log", M(np.log), W(lambda k, a, x: k.log(x)),
      lambda b, op, g: (b.div(g, _x(op)),))
unary("log10", M(np.log10), W(lambda k, a, x: k.log10(x)),
      lambda b, op, g: (b.div(g, b.mul(_x(op), math.log(10.0))),))
unary("log2", M(np.log2), W(lambda k, a, x: k.log2(x)),
      lambda b, op, g: (b.div(g, b.mul(_x(op), math.log(2.0))),))
unary("log1p", M(np.log1p), W(lambda k, a, x: k.log1p(x)),
      lambda b, op, g: (b.div(g, b.add(_x(op), 1.0)),))
# MXNet: d reciprocal = -1 / x^2, from the input
unary("reciprocal", M(lambda x: 1.0 / x), W(lambda k, a, x: k.div(_c(k, 1.0, x), x)),
      lambda b, op, g: (b.neg(b.div(g, b.square(_x(op)))),))
unary("sin", M(np.sin), W(lambda k, a, x: k.sin(x)),
      lambda b, op, g: (b.mul(g, b.unary("cos", _x(op))),))
unary("cos", M(np.cos), W(lambda k, a, x: k.cos(x)),
      lambda b, op, g: (b.neg(b.mul(g, b.unary("sin", _x(op)))),))
# MXNet: d tan = 1 + tan(x)^2, from the output
unary("tan", M(np.tan), W(lambda k, a, x: k.tan(x)),
      lambda b, op, g: (b.mul(g, b.add(b.square(_y(op)), 1.0)),))
unary("arcsin", M(np.arcsin), W(lambda k, a, x: k.asin(x)),
      lambda b, op, g: (b.div(g, b.sqrt(b.sub(1.0, b.square(_x(op))))),))
unary("arccos", M(np.arccos), W(lambda k, a, x: k.acos(x)),
      lambda b, op, g: (b.neg(b.div(g, b.sqrt(b.sub(1.0, b.square(_x(op)))))),))
unary("arctan", M(np.arctan), W(lambda k, a, x: k.atan(x)),
      lambda b, op, g: (b.div(g, b.add(b.square(_x(op)), 1.0)),))
unary("sinh", M(np.sinh), W(lambda k, a, x: k.sinh(x)),
      lambda b, op, g: (b.mul(g, b.unary("cosh", _x(op))),))
unary("cosh", M(np.cosh), W(lambda k, a, x: k.cosh(x)),
      lambda b, op, g: (b.mul(g, b.unary("sinh", _x(op))),))
unary("tanh", M(np.tanh), W(lambda k, a, x: k.tanh(x)),
      lambda b, op, g: (b.mul(g, b.sub(1.0, b.square(_y(op)))),))
unary("arcsinh", M(np.arcsinh), W(lambda k, a, x: k.asinh(x)),
      lambda b, op, g: (b.div(g, b.sqrt(b.add(b.square(_x(op)), 1.0))),))
unary("arccosh", M(np.arccosh), W(lambda k, a, x: k.acosh(x)),
      lambda b, op, g: (b.div(g, b.sqrt(b.sub(b.square(_x(op)), 1.0))),))
unary("arctanh", M(np.arctanh), W(lambda k, a, x: k.atanh(x)),
      lambda b, op, g: (b.div(g, b.sub(1.0, b.square(_x(op)))),))
unary("degrees", M(np.degrees), W(lambda k, a, x: k.mul(x, _c(k, 180.0 / math.pi, x))),
      lambda b, op, g: (b.mul(g, 180.0 / math.pi),))
unary("radians", M(np.radians), W(lambda k, a, x: k.mul(x, _c(k, math.pi / 180.0, x))),
      lambda b, op, g: (b.mul(g, math.pi / 180.0),))
unary("relu", lambda x, a: np.maximum(x, 0).astype(x.dtype),     # relu(NaN) = NaN
      lambda k, a, x: _nan_max(k, x, _c(k, 0, x)),
      lambda b, op, g: (b.mul(g, b.op("_greater_scalar", [_x(op)], {"scalar": 0.0})),))
unary("sigmoid", M(lambda x: 1.0 / (1.0 + np.exp(-x))), W(lambda k, a, x: k.sigmoid(x)),
      lambda b, op, g: (b.mul(g, b.mul(_y(op), b.sub(1.0, _y(op)))),))
unary("softsign", M(lambda x: x / (1.0 + np.abs(x))),
      W(lambda k, a, x: k.div(x, k.add(_c(k, 1.0, x), k.abs(x)))),
      lambda b, op, g: (b.div(g, b.square(b.add(b.op("abs", [_x(op)]), 1.0))),))
unary("erf", _np_torch("erf"), W(lambda k, a, x: k.erf(x)),
      lambda b, op, g: (b.mul(g, b.mul(b.exp(b.neg(b.square(_x(op)))), 2.0 / _SQRT_PI)),))
unary("erfinv", _np_torch("erfinv"), W(lambda k, a, x: k.erfinv(x)),
      lambda b, op, g: (b.mul(g, b.mul(b.exp(b.square(_y(op))), _SQRT_PI / 2.0)),))
# MXNet: d gamma = gamma(x) psi(x); d gammaln = psi(x) (Cephes' psi)
unary("gamma", M(_gamma_f64), W(lambda k, a, x: k.tgamma(x)),
      lambda b, op, g: (b.mul(g, b.mul(_y(op), b.op("_digamma", [_x(op)]))),))
unary("gammaln", M(_lgamma_f64), W(lambda k, a, x: k.lgamma(x)),
      lambda b, op, g: (b.mul(g, b.op("_digamma", [_x(op)])),))
# digamma has no MXNet symbol of its own; it is the derivative of gammaln. Its own gradient
# (trigamma) is not available: it is marked non-differentiable.
unary("_digamma", _np_torch("digamma"), W(lambda k, a, x: k.digamma(x)),
      differentiable=False)
unary("_copy", lambda x, a: x.copy(), lambda k, a, x: x, lambda b, op, g: (g,),
      aliases=("identity",))
unary("BlockGrad", lambda x, a: x.copy(), lambda k, a, x: x, None, differentiable=False,
      aliases=("stop_gradient",),
      doc="Identity forward; the gradient does not flow through it (MXNet's BlockGrad).")
unary("logical_not", lambda x, a: bool_to(np.logical_not(x), x),
      lambda k, a, x: k.cast(k.eq(x, _c(k, 0, x)), x.dtype), differentiable=False)


def _act_np(x0, a):
    t = a["act_type"]
    x, back = _f64(x0)
    with np.errstate(all="ignore"):
        if t == "relu":
            r = np.where(x > 0, x, 0.0)
        elif t == "sigmoid":
            r = 1.0 / (1.0 + np.exp(-x))
        elif t == "tanh":
            r = np.tanh(x)
        elif t == "softrelu":
            r = np.where(x > 20.0, x, np.log1p(np.exp(np.minimum(x, 20.0))))
        else:
            r = x / (1.0 + np.abs(x))
    return back(r)


def _act_formula(k, a, x):
    t = a["act_type"]
    if t == "relu":
        return k.where(k.gt(x, _c(k, 0.0, x)), x, _c(k, 0.0, x))     # Activation: relu(NaN)=0
    if t == "sigmoid":
        return k.sigmoid(x)
    if t == "tanh":
        return k.tanh(x)
    if t == "softrelu":
        # MXNet: x > 20 ? x : log1p(exp(x))
        return k.where(k.gt(x, _c(k, 20.0, x)), x,
                       k.log1p(k.exp(k.min(x, _c(k, 20.0, x)))))
    return k.div(x, k.add(_c(k, 1.0, x), k.abs(x)))


def _act_vjp(b, op, g):
    t = op.attrs["act_type"]
    x, y = op.inputs[0], op.outputs[0]
    if t == "relu":
        d = b.op("_greater_scalar", [y], {"scalar": 0.0})
    elif t == "sigmoid":
        d = b.mul(y, b.sub(1.0, y))
    elif t == "tanh":
        d = b.sub(1.0, b.square(y))
    elif t == "softrelu":
        d = b.sub(1.0, b.exp(b.neg(y)))      # MXNet's softrelu_grad, from the output
    else:
        d = b.div(1.0, b.square(b.add(b.op("abs", [x]), 1.0)))
    return (b.mul(g, d),)


register_op(OpDef(
    name="Activation",
    attrs=(Attr("act_type", "str", choices=("relu", "sigmoid", "softrelu", "softsign", "tanh"),
                doc="Activation function to be applied."),),
    arguments=("data",), infer_shape=same_shape,
    interp=lambda xs, a: (_act_np(xs[0], a),), vjp=_act_vjp,
    lower=Elementwise(W(_act_formula)), traits={ELEMENTWISE},
    doc="Elementwise activation: relu, sigmoid, tanh, softrelu (log(1+exp(x))), softsign.",
))


# --- binary: same shape, broadcasting and scalar -----------------------------------------------
def _sum_to(b, g, v):
    return None if g is None else b.sum_to(g, v.shape)


def _vjp_add(b, op, g):
    return _sum_to(b, g, op.inputs[0]), _sum_to(b, g, op.inputs[1])


def _vjp_sub(b, op, g):
    return _sum_to(b, g, op.inputs[0]), _sum_to(b, b.neg(g), op.inputs[1])


def _vjp_mul(b, op, g):
    x, y = op.inputs
    return _sum_to(b, b.mul(g, y), x), _sum_to(b, b.mul(g, x), y)


def _vjp_div(b, op, g):
    x, y = op.inputs
    gx = b.div(g, y)
    gy = b.neg(b.mul(gx, b.div(x, y)))
    return _sum_to(b, gx, x), _sum_to(b, gy, y)


def _vjp_pow(b, op, g):
    x, y = op.inputs
    z = op.outputs[0]
    gx = b.mul(g, b.mul(y, b.pow(x, b.sub(y, 1.0))))
    gy = b.mul(g, b.mul(z, b.log(x)))
    return _sum_to(b, gx, x), _sum_to(b, gy, y)


def _mask(b, name, x, y):
    return b.op(name if x.shape == y.shape else "broadcast_" + name.lstrip("_"), [x, y])


def _vjp_max(b, op, g):
    x, y = op.inputs   # MXNet: ties send the gradient to the left operand
    return (_sum_to(b, b.mul(g, _mask(b, "_greater_equal", x, y)), x),
            _sum_to(b, b.mul(g, _mask(b, "_lesser", x, y)), y))


def _vjp_min(b, op, g):
    x, y = op.inputs
    return (_sum_to(b, b.mul(g, _mask(b, "_lesser_equal", x, y)), x),
            _sum_to(b, b.mul(g, _mask(b, "_greater", x, y)), y))


def _vjp_mod(b, op, g):
    x, y = op.inputs
    q = b.op("floor", [b.div(x, y)])
    return _sum_to(b, g, x), _sum_to(b, b.neg(b.mul(g, q)), y)


def _vjp_hypot(b, op, g):
    x, y = op.inputs
    h = op.outputs[0]
    return _sum_to(b, b.mul(g, b.div(x, h)), x), _sum_to(b, b.mul(g, b.div(y, h)), y)


def _is_int(x) -> bool:
    return np.asarray(x).dtype.kind in "iub"


def _np_div(x, y):
    """x / y; integers truncate toward zero and give 0 for a zero divisor."""
    if not _is_int(x):
        return x / y
    dt = np.result_type(x, y)
    xd, yd = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(all="ignore"):
        q = np.trunc(xd / np.where(yd == 0, 1, yd))
    return np.where(yd == 0, 0, q).astype(dt)


def _np_mod(x, y):
    """Python's modulo (the divisor's sign), from C's fmod as MXNet computes it; x % 0 is 0."""
    dt = np.result_type(x, y)
    xd, yd = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(all="ignore"):
        r = np.fmod(xd, np.where(yd == 0, 1, yd))
        r = np.where((r != 0) & ((r < 0) != (yd < 0)), r + yd, r)
    return np.where(yd == 0, 0, r).astype(dt)


def _np_pow(x, y):
    if not _is_int(x):
        return np.power(x, y)
    dt = np.result_type(x, y)
    with np.errstate(all="ignore"):        # computed in double, truncated (MXNet's math::pow)
        return np.trunc(np.power(np.asarray(x, np.float64), np.asarray(y, np.float64))).astype(dt)


def _np_hypot(x, y):
    if not _is_int(x):
        return np.hypot(x, y)
    dt = np.result_type(x, y)
    return np.trunc(np.hypot(np.asarray(x, np.float64), np.asarray(y, np.float64))).astype(dt)


def _safe_divisor(k, y):
    """(y == 0, y with zeros replaced by 1): integer division by zero traps on CPUs."""
    zero = k.const(0, y.dtype)
    z = k.eq(y, zero)
    return z, k.where(z, k.const(1, y.dtype), y)


def _div_formula(k, x, y):
    if x.dtype.is_float:
        return k.div(x, y)
    z, ys = _safe_divisor(k, y)
    return k.where(z, k.const(0, x.dtype), k.div(x, ys))     # truncates (C, MXNet)


def _mod_formula(k, x, y):
    # Python modulo: r = fmod(x, y) (exact), plus y where r and y differ in sign; x % 0 is 0
    zero = k.const(0, x.dtype)
    z, ys = _safe_divisor(k, y)
    r = k.mod(x, ys)
    r = k.where(k.and_(k.ne(r, zero), k.ne(k.lt(r, zero), k.lt(ys, zero))), k.add(r, ys), r)
    return k.where(z, zero, r)


def _cmp(kname):
    return lambda k, a, x, y: k.cast(getattr(k, kname)(x, y), x.dtype)


def _logic(kname):
    def f(k, a, x, y):
        z = k.const(0, x.dtype)
        return k.cast(getattr(k, kname)(k.ne(x, z), k.ne(y, z)), x.dtype)
    return f


_POW = W(lambda k, a, x, y: k.pow(x, y))
_HYPOT = W(lambda k, a, x, y: k.hypot(x, y))

# name: (numpy, formula(k, x, y), vjp, commutative)
_BINARY = {
    "add": (lambda x, y: x + y, lambda k, x, y: k.add(x, y), _vjp_add, True),
    "sub": (lambda x, y: x - y, lambda k, x, y: k.sub(x, y), _vjp_sub, False),
    "mul": (lambda x, y: x * y, lambda k, x, y: k.mul(x, y), _vjp_mul, True),
    "div": (_np_div, _div_formula, _vjp_div, False),
    "power": (_np_pow, lambda k, x, y: _POW(k, None, x, y), _vjp_pow, False),
    "maximum": (np.maximum, lambda k, x, y: _nan_max(k, x, y), _vjp_max, True),
    "minimum": (np.minimum, lambda k, x, y: _nan_min(k, x, y), _vjp_min, True),
    "mod": (_np_mod, _mod_formula, _vjp_mod, False),
    "hypot": (_np_hypot, lambda k, x, y: _HYPOT(k, None, x, y), _vjp_hypot, True),
}
_COMPARE = {
    "equal": (np.equal, "eq"), "not_equal": (np.not_equal, "ne"),
    "greater": (np.greater, "gt"), "greater_equal": (np.greater_equal, "ge"),
    "lesser": (np.less, "lt"), "lesser_equal": (np.less_equal, "le"),
}
_LOGIC = {
    "logical_and": (np.logical_and, "and_"), "logical_or": (np.logical_or, "or_"),
    "logical_xor": (np.logical_xor, "xor"),
}

for _n, (_np, _f, _v, _comm) in _BINARY.items():
    same = {"add": "elemwise_add", "sub": "elemwise_sub", "mul": "elemwise_mul",
            "div": "elemwise_div"}.get(_n, "_" + _n)
    same_alias = {"add": ("_plus", "_Plus", "_add"), "sub": ("_minus", "_Minus", "_sub"),
                  "mul": ("_mul", "_Mul"), "div": ("_div", "_Div"),
                  "power": ("_Power",), "maximum": ("_Maximum",), "minimum": ("_Minimum",),
                  "mod": ("_Mod",), "hypot": ("_Hypot",)}[_n]
    binary(same, (lambda f: lambda x, y, a: f(x, y))(_np),
           (lambda f: lambda k, a, x, y: f(k, x, y))(_f), _v, aliases=same_alias,
           commutative=_comm)
    broadcast("broadcast_" + _n, (lambda f: lambda x, y, a: f(x, y))(_np),
              (lambda f: lambda k, a, x, y: f(k, x, y))(_f), _v, commutative=_comm,
              aliases={"add": ("broadcast_plus",), "sub": ("broadcast_minus",)}.get(_n, ()))

for _n, (_np, _kn) in {**_COMPARE, **_LOGIC}.items():
    fml = _cmp(_kn) if _n in _COMPARE else _logic(_kn)
    npf = (lambda f: lambda x, y, a: bool_to(f(x, y), x))(_np)
    binary("_" + _n, npf, fml, differentiable=False, aliases=("_" + _n.title().replace("_", ""),),
           commutative=_n in ("equal", "not_equal", "logical_and", "logical_or", "logical_xor"))
    broadcast("broadcast_" + _n, npf, fml, differentiable=False,
              commutative=_n in ("equal", "not_equal", "logical_and", "logical_or",
                                 "logical_xor"))


# scalar forms behind Python operators: x + 2, 2 - x, x ** 2, x > 0 ...
def _s(k, a, x):
    return k.const(a["scalar"], x.dtype)     # cast to the input's dtype first, as MXNet does


def _log(v: float) -> float:
    return math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan)


scalar_op("_plus_scalar", lambda x, s: x + s, lambda k, a, x: k.add(x, _s(k, a, x)),
          lambda b, op, g: (g,), aliases=("_PlusScalar",))
scalar_op("_minus_scalar", lambda x, s: x - s, lambda k, a, x: k.sub(x, _s(k, a, x)),
          lambda b, op, g: (g,), aliases=("_MinusScalar",))
scalar_op("_rminus_scalar", lambda x, s: s - x, lambda k, a, x: k.sub(_s(k, a, x), x),
          lambda b, op, g: (b.neg(g),), aliases=("_RMinusScalar",))
scalar_op("_mul_scalar", lambda x, s: x * s, lambda k, a, x: k.mul(x, _s(k, a, x)),
          lambda b, op, g: (b.mul(g, op.attrs["scalar"]),), aliases=("_MulScalar",))
scalar_op("_div_scalar", _np_div, lambda k, a, x: _div_formula(k, x, _s(k, a, x)),
          lambda b, op, g: (b.div(g, op.attrs["scalar"]),), aliases=("_DivScalar",))
scalar_op("_rdiv_scalar", lambda x, s: _np_div(s, x),
          lambda k, a, x: _div_formula(k, _s(k, a, x), x),
          lambda b, op, g: (b.neg(b.div(b.mul(g, op.outputs[0]), op.inputs[0])),),
          aliases=("_RDivScalar",))
scalar_op("_power_scalar", _np_pow, W(lambda k, a, x: k.pow(x, _s(k, a, x))),
          lambda b, op, g: (b.mul(g, b.mul(b.pow(op.inputs[0], op.attrs["scalar"] - 1.0),
                                           op.attrs["scalar"])),), aliases=("_PowerScalar",))
scalar_op("_rpower_scalar", lambda x, s: _np_pow(s, x), W(lambda k, a, x: k.pow(_s(k, a, x), x)),
          lambda b, op, g: (b.mul(g, b.mul(op.outputs[0], _log(op.attrs["scalar"]))),),
          aliases=("_RPowerScalar",))
scalar_op("_maximum_scalar", np.maximum, lambda k, a, x: _nan_max(k, x, _s(k, a, x)),
          lambda b, op, g: (b.mul(g, b.op("_greater_equal_scalar", [op.inputs[0]],
                                          {"scalar": op.attrs["scalar"]})),),
          aliases=("_MaximumScalar",))
scalar_op("_minimum_scalar", np.minimum, lambda k, a, x: _nan_min(k, x, _s(k, a, x)),
          lambda b, op, g: (b.mul(g, b.op("_lesser_equal_scalar", [op.inputs[0]],
                                          {"scalar": op.attrs["scalar"]})),),
          aliases=("_MinimumScalar",))
scalar_op("_mod_scalar", _np_mod, lambda k, a, x: _mod_formula(k, x, _s(k, a, x)),
          lambda b, op, g: (g,), aliases=("_ModScalar",))
scalar_op("_rmod_scalar", lambda x, s: _np_mod(s, x),
          lambda k, a, x: _mod_formula(k, _s(k, a, x), x),
          lambda b, op, g: (b.neg(b.mul(g, b.op("floor", [b.div(op.attrs["scalar"],
                                                                  op.inputs[0])]))),),
          aliases=("_RModScalar",))
scalar_op("_hypot_scalar", _np_hypot, W(lambda k, a, x: k.hypot(x, _s(k, a, x))),
          lambda b, op, g: (b.mul(g, b.div(op.inputs[0], op.outputs[0])),),
          aliases=("_HypotScalar",))
for _n, (_np, _kn) in {**_COMPARE, **_LOGIC}.items():
    if _n in _COMPARE:
        f = (lambda kn: lambda k, a, x: k.cast(getattr(k, kn)(x, _s(k, a, x)), x.dtype))(_kn)
    else:
        f = (lambda kn: lambda k, a, x: k.cast(getattr(k, kn)(
            k.ne(x, k.const(0, x.dtype)), k.ne(_s(k, a, x), k.const(0, x.dtype))), x.dtype))(_kn)
    scalar_op(f"_{_n}_scalar", (lambda fn: lambda x, s: bool_to(fn(x, s), x))(_np), f,
              differentiable=False, aliases=(f"_{_n.title().replace('_', '')}Scalar",))


# --- where, clip, Cast ---------------------------------------------------------------------------
def _where_shape(rc, shapes):
    c, x, y = shapes
    from ..registry import unify_shapes
    s = unify_shapes(rc, [x, y], ["x", "y"])
    if c is not None and s is not None and len(c) == 1 and len(s) >= 1 and c[0] in (s[0], None):
        return [c, s, s], [s]            # MXNet: a 1-d condition selects whole rows
    s = unify_shapes(rc, [c, x, y], ["condition", "x", "y"])
    return [s, s, s], [s]


def _where_dtype(rc, dts):
    c, x, y = dts
    if x is not None and y is not None and x != y:
        raise rc.dtype_error(f"x and y must share one dtype; got x={x.np_name}, y={y.np_name}")
    d = x or y
    return [c, d, d], [d]


def _where_np(xs, a):
    c, x, y = xs
    if c.ndim == 1 and x.ndim > 1:
        c = c.reshape((-1,) + (1,) * (x.ndim - 1))
    return (np.where(c != 0, x, y),)


def _where_vjp(b, op, g):
    c = op.inputs[0]
    z = b.zeros_like(g)
    cc = c if c.shape == g.shape else b.broadcast_to(
        b.reshape(c, (c.shape[0],) + (1,) * (len(g.shape) - 1)), g.shape)
    return None, b.where(cc, g, z), b.where(cc, z, g)


def _where_decompose(b, op):
    c, x, y = op.inputs
    if len(c.shape) == 1 and len(x.shape) > 1:
        # a 1-d condition selects rows: line it up with the first axis, not the last
        c = b.reshape(c, (c.shape[0],) + (1,) * (len(x.shape) - 1))
    return [b.op("_where", [c, x, y])]


def _bwhere_shape(rc, shapes):
    from ..registry import unify_shapes
    c, x, y = shapes
    s = unify_shapes(rc, [x, y], ["x", "y"])
    if c is not None and s is not None and None not in c and None not in s:
        broadcast_shapes(rc, tuple(c), tuple(s))        # the condition broadcasts
    return [c, s, s], [s]


register_op(OpDef(
    name="where", arguments=("condition", "x", "y"), infer_shape=_where_shape,
    infer_dtype=_where_dtype, interp=_where_np, vjp=_where_vjp, decompose=_where_decompose,
    doc="x where condition is non-zero, else y; a 1-d condition selects rows (MXNet).",
))
def _bwhere_vjp(b, op, g):
    """The branches' gradients: ``g`` where each was chosen, summed back over the axes it was
    broadcast along; none for the condition."""
    c, x, y = op.inputs
    z = b.zeros_like(g)
    return (None, b.sum_to(b.op("_where", [c, g, z]), tuple(x.shape)),
            b.sum_to(b.op("_where", [c, z, g]), tuple(y.shape)))


register_op(OpDef(
    name="_where", arguments=("condition", "x", "y"), infer_shape=_bwhere_shape,
    infer_dtype=_where_dtype,
    interp=lambda xs, a: (np.where(xs[0] != 0, xs[1], xs[2]),),
    vjp=_bwhere_vjp,
    lower=Elementwise(lambda k, a, c, x, y: k.where(k.ne(c, k.const(0, c.dtype)), x, y)),
    traits={ELEMENTWISE},
    doc="where with numpy broadcasting of the condition (what `where` lowers to).",
))


def _clip_vjp(b, op, g):
    x = op.inputs[0]
    lo = b.op("_greater_equal_scalar", [x], {"scalar": op.attrs["a_min"]})
    hi = b.op("_lesser_equal_scalar", [x], {"scalar": op.attrs["a_max"]})
    return (b.mul(g, b.mul(lo, hi)),)


def _clip_np(xs, a):
    x = xs[0]
    lo = np.asarray(a["a_min"]).astype(x.dtype)
    hi = np.asarray(a["a_max"]).astype(x.dtype)
    return (np.where(x > hi, hi, np.where(x < lo, lo, x)).astype(x.dtype),)


def _clip_formula(k, a, x):
    # MXNet: x > a_max ? a_max : (x < a_min ? a_min : x)
    lo, hi = k.const(a["a_min"], x.dtype), k.const(a["a_max"], x.dtype)
    return k.where(k.gt(x, hi), hi, k.where(k.lt(x, lo), lo, x))


register_op(OpDef(
    name="clip", attrs=(Attr("a_min", F, doc="Minimum value"), Attr("a_max", F, doc="Maximum value")),
    arguments=("data",), infer_shape=same_shape, interp=_clip_np, vjp=_clip_vjp,
    lower=Elementwise(_clip_formula), traits={ELEMENTWISE},
    doc="Clips x to [a_min, a_max]: x > a_max ? a_max : (x < a_min ? a_min : x) (MXNet's order); "
        "the gradient passes on the closed interval.",
))


def _cast_dtype(rc, dts):
    return dts, [DType.parse(rc.attrs["dtype"])]


def _cast_np(xs, a):
    x = xs[0]
    dt = DType.parse(a["dtype"])
    if dt.is_int and np.asarray(x).dtype.kind == "f":
        x = np.trunc(x)
    return (np.asarray(x).astype(dt.numpy),)


register_op(OpDef(
    name="Cast",
    attrs=(Attr("dtype", "dtype", doc="Output data type."),),
    arguments=("data",), infer_shape=same_shape, infer_dtype=_cast_dtype, interp=_cast_np,
    vjp=lambda b, op, g: (b.cast(g, op.inputs[0].dtype),),
    lower=Elementwise(lambda k, a, x: k.cast(x, DType.parse(a["dtype"]))),
    traits={ELEMENTWISE}, aliases=("cast",),
))


# --- generators --------------------------------------------------------------------------------
def _like_shape(rc, shapes):
    return list(shapes), [shapes[0]]


register_op(OpDef(
    name="zeros_like", arguments=("data",), infer_shape=_like_shape,
    interp=lambda xs, a: (np.zeros_like(xs[0]),), differentiable=False,
    lower=Elementwise(lambda k, a, x: k.const(0, x.dtype)), traits={ELEMENTWISE},
))
register_op(OpDef(
    name="ones_like", arguments=("data",), infer_shape=_like_shape,
    interp=lambda xs, a: (np.ones_like(xs[0]),), differentiable=False,
    lower=Elementwise(lambda k, a, x: k.const(1, x.dtype)), traits={ELEMENTWISE},
))


def _full_shape(rc, shapes):
    # MXNet 1.x: a 0 in shape is an unknown dim, taken from the consumers (an RNN cell's
    # begin state zeros((0, H)) gets the batch size of the layer that reads it)
    s = tuple(None if d == 0 else d for d in rc.attrs["shape"])
    o = rc.out_shapes[0] if rc.out_shapes else None
    if o is not None and len(o) == len(s):
        s = tuple(k if d is None else d for d, k in zip(s, o))
    return [], [s]


def _full_refine(attrs, out_types):
    """Once inference completes the output, the IR's shape attr names it (no 0 dims left)."""
    t = out_types[0]
    if 0 in attrs["shape"] and t.shape_known:
        return {**attrs, "shape": tuple(t.shape)}
    return attrs


def _full_dtype(rc, dts):
    return [], [DType.parse(rc.attrs["dtype"])]


_GEN_ATTRS = (Attr("shape", "shape", ()), Attr("ctx", "str", ""),
              Attr("dtype", "dtype", "float32"))
for _name, _val, _al in (("_zeros", 0.0, ("zeros",)), ("_ones", 1.0, ("ones",))):
    register_op(OpDef(
        name=_name, attrs=_GEN_ATTRS, arguments=(), infer_shape=_full_shape,
        infer_dtype=_full_dtype,
        interp=(lambda v: lambda xs, a: (np.full(a["shape"], v, DType.parse(a["dtype"]).numpy),))(
            _val),
        differentiable=False,
        lower=Elementwise((lambda v: lambda k, a: k.const(v, DType.parse(a["dtype"])))(_val)),
        traits={ELEMENTWISE}, aliases=_al, extra={"refine_attrs": _full_refine},
    ))
register_op(OpDef(
    name="_full", attrs=_GEN_ATTRS + (Attr("value", F),), arguments=(),
    infer_shape=_full_shape, infer_dtype=_full_dtype,
    interp=lambda xs, a: (np.full(a["shape"], a["value"], DType.parse(a["dtype"]).numpy),),
    differentiable=False,
    lower=Elementwise(lambda k, a: k.const(a["value"], DType.parse(a["dtype"]))),
    traits={ELEMENTWISE}, aliases=("full",), extra={"refine_attrs": _full_refine},
))

# --- MXNet's Python-level functions of mx.sym: maximum, minimum, hypot, pow, power ---------------
_ = forward_shape, forward_dtype  # re-exported helpers used by sibling modules
