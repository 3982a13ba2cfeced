"""Elementwise operators: unary math, same-shape and broadcasting binary ops, scalar forms,
Activation, Cast, where, clip, and the constant generators (zeros_like, _full, ...).

Each op gives a numpy ``interp`` (the oracle) and a scalar ``formula`` for codegen, built with
the scalar handler ``k`` (``k.add``, ``k.exp``, ``k.const(value, dtype)`` ...). MXNet semantics
that differ from numpy are noted where they are implemented: ``round`` rounds half away from
zero, comparisons return the input dtype (1/0), ``%`` takes the sign of the divisor.
"""
from __future__ import annotations

import math

import numpy as np

from ..attrs import Attr
from ..registry import (ELEMENTWISE, Elementwise, OpDef, forward_dtype, forward_shape,
                        register_op, same_shape)
from ..types import DType
from ._util import binary, bool_to, broadcast, scalar_op, unary

F = "float"


def _c(k, v, like):
    return k.const(v, like.dtype)


def _np_torch(fn_name):
    def f(x, a=None):
        import torch
        t = torch.from_numpy(np.ascontiguousarray(x))
        return getattr(torch.special, fn_name)(t).numpy()
    return f


# --- unary math ----------------------------------------------------------------------------------
# vjp(b, op, g): x = op.inputs[0], y = op.outputs[0]
def _x(op):
    return op.inputs[0]


def _y(op):
    return op.outputs[0]


unary("negative", lambda x, a: -x, lambda k, a, x: k.neg(x),
      lambda b, op, g: (b.neg(g),))
unary("abs", lambda x, a: np.abs(x), lambda k, a, x: k.abs(x),
      lambda b, op, g: (b.mul(g, b.unary("sign", _x(op))),))
unary("sign", lambda x, a: np.sign(x), lambda k, a, x: k.sign(x),
      lambda b, op, g: (None,))
# MXNet's round is C's round: halves away from zero (numpy's rounds half to even).
unary("round", lambda x, a: np.sign(x) * np.floor(np.abs(x) + 0.5), lambda k, a, x: k.round(x),
      lambda b, op, g: (None,))
unary("rint", lambda x, a: np.rint(x), lambda k, a, x: k.rint(x), lambda b, op, g: (None,))
unary("ceil", lambda x, a: np.ceil(x), lambda k, a, x: k.ceil(x), lambda b, op, g: (None,))
unary("floor", lambda x, a: np.floor(x), lambda k, a, x: k.floor(x), lambda b, op, g: (None,))
unary("trunc", lambda x, a: np.trunc(x), lambda k, a, x: k.trunc(x), lambda b, op, g: (None,))
unary("fix", lambda x, a: np.fix(x), lambda k, a, x: k.trunc(x), lambda b, op, g: (None,))
unary("square", lambda x, a: x * x, lambda k, a, x: k.mul(x, x),
      lambda b, op, g: (b.mul(g, b.mul(_x(op), 2.0)),))
unary("sqrt", lambda x, a: np.sqrt(x), lambda k, a, x: k.sqrt(x),
      lambda b, op, g: (b.div(b.mul(g, 0.5), _y(op)),))
unary("rsqrt", lambda x, a: 1.0 / np.sqrt(x), lambda k, a, x: k.rsqrt(x),
      lambda b, op, g: (b.mul(g, b.mul(b.pow(_y(op), 3.0), -0.5)),))
unary("cbrt", lambda x, a: np.cbrt(x), lambda k, a, x: k.cbrt(x),
      lambda b, op, g: (b.div(g, b.mul(b.square(_y(op)), 3.0)),))
unary("rcbrt", lambda x, a: 1.0 / np.cbrt(x), lambda k, a, x: k.div(_c(k, 1.0, x), k.cbrt(x)),
      lambda b, op, g: (b.mul(g, b.div(b.mul(_y(op), -1.0 / 3.0), _x(op))),))
unary("exp", lambda x, a: np.exp(x), lambda k, a, x: k.exp(x),
      lambda b, op, g: (b.mul(g, _y(op)),))
unary("expm1", lambda x, a: np.expm1(x), lambda k, a, x: k.expm1(x),
      lambda b, op, g: (b.mul(g, b.exp(_x(op))),))
unary("log", lambda x, a: np.log(x), lambda k, a, x: k.log(x),
      lambda b, op, g: (b.div(g, _x(op)),))
unary("log10", lambda x, a: np.log10(x), lambda k, a, x: k.log10(x),
      lambda b, op, g: (b.div(g, b.mul(_x(op), math.log(10.0))),))
unary("log2", lambda x, a: np.log2(x), lambda k, a, x: k.log2(x),
      lambda b, op, g: (b.div(g, b.mul(_x(op), math.log(2.0))),))
unary("log1p", lambda x, a: np.log1p(x), lambda k, a, x: k.log1p(x),
      lambda b, op, g: (b.div(g, b.add(_x(op), 1.0)),))
unary("reciprocal", lambda x, a: 1.0 / x, lambda k, a, x: k.div(_c(k, 1.0, x), x),
      lambda b, op, g: (b.neg(b.mul(g, b.square(_y(op)))),))
unary("sin", lambda x, a: np.sin(x), lambda k, a, x: k.sin(x),
      lambda b, op, g: (b.mul(g, b.unary("cos", _x(op))),))
unary("cos", lambda x, a: np.cos(x), lambda k, a, x: k.cos(x),
      lambda b, op, g: (b.neg(b.mul(g, b.unary("sin", _x(op)))),))
unary("tan", lambda x, a: np.tan(x), lambda k, a, x: k.tan(x),
      lambda b, op, g: (b.mul(g, b.add(b.square(_y(op)), 1.0)),))
unary("arcsin", lambda x, a: np.arcsin(x), lambda k, a, x: k.asin(x),
      lambda b, op, g: (b.div(g, b.sqrt(b.sub(1.0, b.square(_x(op))))),))
unary("arccos", lambda x, a: np.arccos(x), lambda k, a, x: k.acos(x),
      lambda b, op, g: (b.neg(b.div(g, b.sqrt(b.sub(1.0, b.square(_x(op)))))),))
unary("arctan", lambda x, a: np.arctan(x), lambda k, a, x: k.atan(x),
      lambda b, op, g: (b.div(g, b.add(b.square(_x(op)), 1.0)),))
unary("sinh", lambda x, a: np.sinh(x), lambda k, a, x: k.sinh(x),
      lambda b, op, g: (b.mul(g, b.unary("cosh", _x(op))),))
unary("cosh", lambda x, a: np.cosh(x), lambda k, a, x: k.cosh(x),
      lambda b, op, g: (b.mul(g, b.unary("sinh", _x(op))),))
unary("tanh", lambda x, a: np.tanh(x), lambda k, a, x: k.tanh(x),
      lambda b, op, g: (b.mul(g, b.sub(1.0, b.square(_y(op)))),))
unary("arcsinh", lambda x, a: np.arcsinh(x), lambda k, a, x: k.asinh(x),
      lambda b, op, g: (b.div(g, b.sqrt(b.add(b.square(_x(op)), 1.0))),))
unary("arccosh", lambda x, a: np.arccosh(x), lambda k, a, x: k.acosh(x),
      lambda b, op, g: (b.div(g, b.sqrt(b.sub(b.square(_x(op)), 1.0))),))
unary("arctanh", lambda x, a: np.arctanh(x), lambda k, a, x: k.atanh(x),
      lambda b, op, g: (b.div(g, b.sub(1.0, b.square(_x(op)))),))
unary("degrees", lambda x, a: np.degrees(x), lambda k, a, x: k.mul(x, _c(k, 180.0 / math.pi, x)),
      lambda b, op, g: (b.mul(g, 180.0 / math.pi),))
unary("radians", lambda x, a: np.radians(x), lambda k, a, x: k.mul(x, _c(k, math.pi / 180.0, x)),
      lambda b, op, g: (b.mul(g, math.pi / 180.0),))
unary("relu", lambda x, a: np.maximum(x, 0), lambda k, a, x: k.max(x, _c(k, 0.0, x)),
      lambda b, op, g: (b.mul(g, b.op("_greater_scalar", [_x(op)], {"scalar": 0.0})),))
unary("sigmoid", lambda x, a: 1.0 / (1.0 + np.exp(-x)), lambda k, a, x: k.sigmoid(x),
      lambda b, op, g: (b.mul(g, b.mul(_y(op), b.sub(1.0, _y(op)))),))
unary("softsign", lambda x, a: x / (1.0 + np.abs(x)),
      lambda k, a, x: k.div(x, k.add(_c(k, 1.0, x), k.abs(x))),
      lambda b, op, g: (b.div(g, b.square(b.add(b.op("abs", [_x(op)]), 1.0))),))
unary("erf", lambda x, a: _np_torch("erf")(x), lambda k, a, x: k.erf(x),
      lambda b, op, g: (b.mul(g, b.mul(b.exp(b.neg(b.square(_x(op)))),
                                       2.0 / math.sqrt(math.pi))),))
unary("erfinv", lambda x, a: _np_torch("erfinv")(x), lambda k, a, x: k.erfinv(x),
      lambda b, op, g: (b.mul(g, b.mul(b.exp(b.square(_y(op))), math.sqrt(math.pi) / 2.0)),))
unary("gamma", lambda x, a: np.vectorize(math.gamma, otypes=[x.dtype])(x),
      lambda k, a, x: k.tgamma(x),
      lambda b, op, g: (b.mul(g, b.mul(_y(op), b.op("_digamma", [_x(op)]))),))
unary("gammaln", lambda x, a: np.vectorize(math.lgamma, otypes=[x.dtype])(x),
      lambda k, a, x: k.lgamma(x),
      lambda b, op, g: (b.mul(g, b.op("_digamma", [_x(op)])),))
# digamma has no MXNet symbol of its own; it is the derivative of gammaln. Its own gradient
# (trigamma) is not available: it is marked non-differentiable.
unary("_digamma", lambda x, a: _np_torch("digamma")(x), lambda k, a, x: k.digamma(x),
      differentiable=False)
unary("_copy", lambda x, a: x.copy(), lambda k, a, x: x, lambda b, op, g: (g,),
      aliases=("identity",))
unary("BlockGrad", lambda x, a: x.copy(), lambda k, a, x: x, None, differentiable=False,
      aliases=("stop_gradient",),
      doc="Identity forward; the gradient does not flow through it (MXNet's BlockGrad).")
unary("logical_not", lambda x, a: bool_to(np.logical_not(x), x),
      lambda k, a, x: k.cast(k.eq(x, _c(k, 0, x)), x.dtype), differentiable=False)


def _act_np(x, a):
    t = a["act_type"]
    if t == "relu":
        return np.maximum(x, 0)
    if t == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if t == "tanh":
        return np.tanh(x)
    if t == "softrelu":
        return np.where(x > 20.0, x, np.log1p(np.exp(np.minimum(x, 20.0))))
    return x / (1.0 + np.abs(x))


def _act_formula(k, a, x):
    t = a["act_type"]
    if t == "relu":
        return k.max(x, _c(k, 0.0, x))
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
    lower=Elementwise(_act_formula), traits={ELEMENTWISE},
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


def _np_mod(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.mod(x, y)
    return np.where(y == 0, 0, r).astype(np.result_type(x, y))


def _mod_formula(k, x, y):
    # Python / numpy modulo: the result takes the divisor's sign; x % 0 is 0 (MXNet)
    zero = k.const(0, x.dtype)
    if x.dtype.is_float:
        r = k.sub(x, k.mul(k.floor(k.div(x, y)), y))
    else:
        r = k.mod(x, y)
        r = k.where(k.and_(k.ne(r, zero), k.ne(k.lt(r, zero), k.lt(y, zero))), k.add(r, y), r)
    return k.where(k.eq(y, zero), zero, r)


def _cmp(kname):
    return lambda k, a, x, y: k.cast(getattr(k, kname)(x, y), x.dtype)


def _logic(kname):
    def f(k, a, x, y):
        z = k.const(0, x.dtype)
        return k.cast(getattr(k, kname)(k.ne(x, z), k.ne(y, z)), x.dtype)
    return f


# name: (numpy, formula(k, x, y), vjp, commutative)
_BINARY = {
    "add": (lambda x, y: x + y, lambda k, x, y: k.add(x, y), _vjp_add, True),
    "sub": (lambda x, y: x - y, lambda k, x, y: k.sub(x, y), _vjp_sub, False),
    "mul": (lambda x, y: x * y, lambda k, x, y: k.mul(x, y), _vjp_mul, True),
    "div": (lambda x, y: x / y, lambda k, x, y: k.div(x, y), _vjp_div, False),
    "power": (lambda x, y: np.power(x, y), lambda k, x, y: k.pow(x, y), _vjp_pow, False),
    "maximum": (np.maximum, lambda k, x, y: k.max(x, y), _vjp_max, True),
    "minimum": (np.minimum, lambda k, x, y: k.min(x, y), _vjp_min, True),
    "mod": (_np_mod, _mod_formula, _vjp_mod, False),
    "hypot": (np.hypot, lambda k, x, y: k.hypot(x, y), _vjp_hypot, True),
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
    return k.const(a["scalar"], x.dtype)


scalar_op("_plus_scalar", lambda x, s: x + s, lambda k, a, x: k.add(x, _s(k, a, x)),
          lambda b, op, g: (g,), aliases=("_PlusScalar",))
scalar_op("_minus_scalar", lambda x, s: x - s, lambda k, a, x: k.sub(x, _s(k, a, x)),
          lambda b, op, g: (g,), aliases=("_MinusScalar",))
scalar_op("_rminus_scalar", lambda x, s: s - x, lambda k, a, x: k.sub(_s(k, a, x), x),
          lambda b, op, g: (b.neg(g),), aliases=("_RMinusScalar",))
scalar_op("_mul_scalar", lambda x, s: x * s, lambda k, a, x: k.mul(x, _s(k, a, x)),
          lambda b, op, g: (b.mul(g, op.attrs["scalar"]),), aliases=("_MulScalar",))
scalar_op("_div_scalar", lambda x, s: x / s, lambda k, a, x: k.div(x, _s(k, a, x)),
          lambda b, op, g: (b.div(g, op.attrs["scalar"]),), aliases=("_DivScalar",))
scalar_op("_rdiv_scalar", lambda x, s: s / x, lambda k, a, x: k.div(_s(k, a, x), x),
          lambda b, op, g: (b.neg(b.div(b.mul(g, op.outputs[0]), op.inputs[0])),),
          aliases=("_RDivScalar",))
scalar_op("_power_scalar", lambda x, s: np.power(x, s), lambda k, a, x: k.pow(x, _s(k, a, x)),
          lambda b, op, g: (b.mul(g, b.mul(b.pow(op.inputs[0], op.attrs["scalar"] - 1.0),
                                           op.attrs["scalar"])),), aliases=("_PowerScalar",))
scalar_op("_rpower_scalar", lambda x, s: np.power(s, x), lambda k, a, x: k.pow(_s(k, a, x), x),
          lambda b, op, g: (b.mul(g, b.mul(op.outputs[0], math.log(op.attrs["scalar"]))),),
          aliases=("_RPowerScalar",))
scalar_op("_maximum_scalar", np.maximum, lambda k, a, x: k.max(x, _s(k, a, x)),
          lambda b, op, g: (b.mul(g, b.op("_greater_equal_scalar", [op.inputs[0]],
                                          {"scalar": op.attrs["scalar"]})),),
          aliases=("_MaximumScalar",))
scalar_op("_minimum_scalar", np.minimum, lambda k, a, x: k.min(x, _s(k, a, x)),
          lambda b, op, g: (b.mul(g, b.op("_lesser_equal_scalar", [op.inputs[0]],
                                          {"scalar": op.attrs["scalar"]})),),
          aliases=("_MinimumScalar",))
scalar_op("_mod_scalar", _np_mod, lambda k, a, x: _mod_formula(k, x, _s(k, a, x)),
          lambda b, op, g: (g,), aliases=("_ModScalar",))
scalar_op("_rmod_scalar", lambda x, s: _np_mod(s, x), lambda k, a, x: _mod_formula(k, _s(k, a, x), x),
          lambda b, op, g: (b.neg(b.mul(g, b.op("floor", [b.div(op.attrs["scalar"],
                                                                  op.inputs[0])]))),),
          aliases=("_RModScalar",))
scalar_op("_hypot_scalar", lambda x, s: np.hypot(x, s), lambda k, a, x: k.hypot(x, _s(k, a, x)),
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


register_op(OpDef(
    name="where", arguments=("condition", "x", "y"), infer_shape=_where_shape,
    infer_dtype=_where_dtype, interp=_where_np, vjp=_where_vjp,
    lower=Elementwise(lambda k, a, c, x, y: k.where(k.ne(c, k.const(0, c.dtype)), x, y)),
    traits={ELEMENTWISE},
    doc="x where condition is non-zero, else y; a 1-d condition selects rows (MXNet).",
))


def _clip_vjp(b, op, g):
    x = op.inputs[0]
    lo = b.op("_greater_equal_scalar", [x], {"scalar": op.attrs["a_min"]})
    hi = b.op("_lesser_equal_scalar", [x], {"scalar": op.attrs["a_max"]})
    return (b.mul(g, b.mul(lo, hi)),)


register_op(OpDef(
    name="clip", attrs=(Attr("a_min", F), Attr("a_max", F)), arguments=("data",),
    infer_shape=same_shape, interp=lambda xs, a: (np.clip(xs[0], a["a_min"], a["a_max"]),),
    vjp=_clip_vjp,
    lower=Elementwise(lambda k, a, x: k.min(k.max(x, k.const(a["a_min"], x.dtype)),
                                            k.const(a["a_max"], x.dtype))),
    traits={ELEMENTWISE},
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
    s = rc.attrs["shape"]
    return [], [tuple(s)]


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
        traits={ELEMENTWISE}, aliases=_al,
    ))
register_op(OpDef(
    name="_full", attrs=_GEN_ATTRS + (Attr("value", F),), arguments=(),
    infer_shape=_full_shape, infer_dtype=_full_dtype,
    interp=lambda xs, a: (np.full(a["shape"], a["value"], DType.parse(a["dtype"]).numpy),),
    differentiable=False,
    lower=Elementwise(lambda k, a: k.const(a["value"], DType.parse(a["dtype"]))),
    traits={ELEMENTWISE}, aliases=("full",),
))

_ = forward_shape, forward_dtype  # re-exported helpers used by sibling modules
