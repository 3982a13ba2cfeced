"""Elementwise operators: unary math, binary (same shape, broadcast, scalar), comparisons and
logical ops, clip, Activation.

Ranges keep each function on its natural domain; edge-case variants probe the ends of it (near
the poles of arcsin/arctanh/erfinv, lgamma's zeros at 1 and 2, negative bases of power,
negative divisors of mod ...). A few cases run on int32 and float16 inputs, where MXNet
supports them.
"""
from golden_cases import Case

POS = (0.2, 3.0)        # domain of log, sqrt, ...
UNIT = (-0.9, 0.9)      # domain of arcsin, arctanh, erfinv ...
S = (4, 7)              # plain shape
S3 = (2, 3, 5)          # a 3-d variant
F16 = {"rtol": 3e-3, "atol": 2e-3, "grad_rtol": 5e-3, "grad_atol": 5e-3}

CASES = []


def add(*cases):
    CASES.extend(cases)


# --- unary math ----------------------------------------------------------------------------------
# op: (plain range, [(edge name suffix, range)])
UNARY = {
    "abs": ((-2, 2), []),
    "sign": ((-2, 2), []),
    "round": ((-3, 3), []),
    "ceil": ((-3, 3), [("wide", (-1e6, 1e6))]),
    "floor": ((-3, 3), []),
    "trunc": ((-3, 3), [("wide", (-1e6, 1e6))]),
    "fix": ((-3, 3), [("wide", (-1e6, 1e6))]),
    "rint": ((-3, 3), [("wide", (-1e6, 1e6))]),
    "square": ((-2, 2), []),
    "sqrt": (POS, [("tiny", (1e-4, 1e-2)), ("big", (100.0, 1e4))]),
    "rsqrt": (POS, [("tiny", (1e-2, 5e-2))]),
    "cbrt": ((-3, 3), [("big", (10.0, 1000.0))]),
    "rcbrt": (POS, [("neg", (-3.0, -0.2))]),
    "exp": ((-2, 2), [("wide", (-20.0, 20.0))]),
    "expm1": ((-2, 2), [("small", (-1e-3, 1e-3))]),
    "log": (POS, [("wide", (1e-3, 1e3))]),
    "log10": (POS, [("wide", (1e-3, 1e3))]),
    "log2": (POS, [("wide", (1e-3, 1e3))]),
    "log1p": ((-0.5, 2.0), [("small", (-1e-3, 1e-3))]),
    "reciprocal": (POS, [("neg", (-3.0, -0.2))]),
    "negative": ((-2, 2), []),
    "sin": ((-3, 3), [("wide", (-30.0, 30.0))]),
    "cos": ((-3, 3), [("wide", (-30.0, 30.0))]),
    "tan": ((-1.2, 1.2), [("pole", (1.4, 1.55))]),
    "arcsin": (UNIT, [("edge", (0.95, 0.9999))]),
    "arccos": (UNIT, [("edge", (-0.9999, -0.95))]),
    "arctan": ((-4, 4), [("wide", (-100.0, 100.0))]),
    "sinh": ((-2, 2), [("small", (-0.1, 0.1))]),
    "cosh": ((-2, 2), [("wide", (-20.0, 20.0))]),
    "tanh": ((-4, 4), [("small", (-0.05, 0.05))]),
    "arcsinh": ((-4, 4), [("small", (-0.01, 0.01))]),
    "arccosh": ((1.1, 4.0), [("edge", (1.0001, 1.01))]),
    "arctanh": (UNIT, [("edge", (0.95, 0.999))]),
    "degrees": ((-4, 4), []),
    "radians": ((-200, 200), [("wide", (-1e4, 1e4))]),
    "relu": ((-2, 2), []),
    "sigmoid": ((-6, 6), [("wide", (-30.0, 30.0))]),
    "softsign": ((-3, 3), [("wide", (-100.0, 100.0))]),
    "gamma": ((0.2, 4.0), [("neg", (-2.9, -2.1))]),
    "gammaln": ((0.2, 6.0), [("near1", (0.95, 1.05)), ("near2", (1.95, 2.05)),
                             ("neg", (-2.9, -2.1)), ("big", (10.0, 50.0))]),
    "erf": ((-3, 3), [("small", (-0.01, 0.01))]),
    "erfinv": (UNIT, [("edge", (0.98, 0.995))]),
    "identity": ((-2, 2), []),
    "logical_not": ((-2, 2), []),
}

_ROUNDING = ("round", "ceil", "floor", "trunc", "fix", "rint")
for _op, (_rng, _edges) in UNARY.items():
    add(Case(_op, {"data": S}, ranges={"data": _rng}, name=_op))
    for _suffix, _r in _edges:
        # wide float32 values sit on integers, where rounding steps: forward only
        add(Case(_op, {"data": S3}, ranges={"data": _r}, name=f"{_op}_{_suffix}",
                 grad=_op not in _ROUNDING))

# MXNet-internal names of the same ops
add(Case("_internal._copy", {"data": S}, name="_copy"),
    # BlockGrad: identity forward, zero gradient (integer-valued data: no finite differences)
    Case("BlockGrad", {"data": S}, ints={"data": 5}, name="BlockGrad"),
    Case("stop_gradient", {"data": S}, ints={"data": 5}, name="stop_gradient"),
    Case("logical_not", {"data": S}, ints={"data": 3}, name="logical_not_zeros"))

# Activation: every act_type, 2-d and 4-d
for _t in ("relu", "sigmoid", "tanh", "softrelu", "softsign"):
    add(Case("Activation", {"data": S}, {"act_type": _t}, name=f"act_{_t}"),
        Case("Activation", {"data": (2, 3, 2, 4)}, {"act_type": _t}, ranges={"data": (-25, 25)},
             name=f"act_{_t}_wide"))

# float16 and int32 inputs
for _op, _rng in (("exp", (-2, 2)), ("log", POS), ("sqrt", POS), ("tanh", (-3, 3)),
                  ("sigmoid", (-4, 4)), ("abs", (-2, 2)), ("round", (-3, 3)),
                  ("gammaln", (0.5, 4.0)), ("erf", (-2, 2)), ("arcsin", UNIT)):
    add(Case(_op, {"data": S}, ranges={"data": _rng}, dtypes={"data": "float16"},
             name=f"{_op}_f16", **F16))
for _op in ("abs", "sign", "negative", "square", "round", "floor", "relu", "exp", "cbrt",
            "degrees", "sqrt", "logical_not"):
    _r = (0.0, 6.0) if _op == "sqrt" else (-6.0, 6.0)
    add(Case(_op, {"data": S}, ranges={"data": _r}, dtypes={"data": "int32"},
             name=f"{_op}_i32", grad=False))

# --- binary: same shape --------------------------------------------------------------------------
_SAME = {
    "elemwise_add": ({}, {}), "elemwise_sub": ({}, {}), "elemwise_mul": ({}, {}),
    "elemwise_div": ({}, {"rhs": POS}),
    "_internal._maximum": ({}, {}), "_internal._minimum": ({}, {}),
    "_internal._power": ({"lhs": POS}, {}),
    "_internal._mod": ({"lhs": (-5, 5)}, {"rhs": (0.5, 3.0)}),
    "_internal._hypot": ({}, {}),
}
for _op, (_lr, _rr) in _SAME.items():
    _n = _op.split(".")[-1].lstrip("_")
    add(Case(_op, {"lhs": S, "rhs": S}, ranges={**_lr, **_rr}, name=_n))
add(
    Case("elemwise_div", {"lhs": S3, "rhs": S3}, ranges={"rhs": (-3.0, -0.2)}, name="div_neg"),
    Case("_internal._power", {"lhs": S, "rhs": S}, ranges={"lhs": (-3, -0.5)}, ints={"rhs": 4},
         no_grad=("rhs",), name="power_negbase"),
    Case("_internal._mod", {"lhs": S, "rhs": S}, ranges={"lhs": (-5, 5), "rhs": (-3.0, -0.5)},
         name="mod_negdiv"),
    Case("_internal._Maximum", {"lhs": S, "rhs": S}, ints={"lhs": 3, "rhs": 3},
         name="maximum_ties"),
    Case("_internal._Minimum", {"lhs": S, "rhs": S}, ints={"lhs": 3, "rhs": 3},
         name="minimum_ties"),
    Case("_internal._plus", {"lhs": S3, "rhs": S3}, name="plus_alias"),
    Case("elemwise_add", {"lhs": S, "rhs": S}, dtypes={"lhs": "float16", "rhs": "float16"},
         name="add_f16", **F16),
    Case("elemwise_mul", {"lhs": S, "rhs": S}, dtypes={"lhs": "float16", "rhs": "float16"},
         name="mul_f16", **F16),
    Case("elemwise_sub", {"lhs": S, "rhs": S}, ranges={"lhs": (-9, 9), "rhs": (-9, 9)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="sub_i32"),
    Case("_internal._minimum", {"lhs": S3, "rhs": S3}, ranges={"lhs": (-9, 9), "rhs": (-9, 9)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="minimum_i32"),
    Case("elemwise_add", {"lhs": S, "rhs": S}, ranges={"lhs": (-9, 9), "rhs": (-9, 9)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="add_i32"),
    Case("elemwise_div", {"lhs": S, "rhs": S}, ranges={"lhs": (-9, 9), "rhs": (1, 5)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="div_i32"),
    Case("elemwise_div", {"lhs": S, "rhs": S}, ranges={"lhs": (-9, 9), "rhs": (-5, -1)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="div_i32_neg"),
    Case("_internal._mod", {"lhs": S, "rhs": S}, ranges={"lhs": (-9, 9), "rhs": (1, 5)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="mod_i32"),
    Case("_internal._mod", {"lhs": S, "rhs": S}, ranges={"lhs": (-9, 9), "rhs": (-5, -1)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="mod_i32_neg"),
    Case("_internal._power", {"lhs": S, "rhs": S}, ranges={"lhs": (-4, 5), "rhs": (0, 4)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="power_i32"),
    Case("_internal._maximum", {"lhs": S, "rhs": S}, ranges={"lhs": (-9, 9), "rhs": (-9, 9)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="maximum_i32"),
    Case("_internal._hypot", {"lhs": S, "rhs": S}, ranges={"lhs": (-9, 9), "rhs": (-9, 9)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="hypot_i32"),
)

# --- binary: broadcasting ------------------------------------------------------------------------
_BC = {
    "broadcast_add": ({}, {}), "broadcast_sub": ({}, {}), "broadcast_mul": ({}, {}),
    "broadcast_div": ({}, {"rhs": POS}), "broadcast_mod": ({"lhs": (-5, 5)}, {"rhs": (0.5, 3.0)}),
    "broadcast_power": ({"lhs": POS}, {}), "broadcast_maximum": ({}, {}),
    "broadcast_minimum": ({}, {}), "broadcast_hypot": ({}, {}),
}
_SHAPES = [("row", (3, 4), (1, 4)), ("rank", (2, 3, 4), (3, 1)), ("both", (2, 1, 4), (3, 1)),
           ("left", (1, 5), (3, 5))]
for _op, (_lr, _rr) in _BC.items():
    for _sfx, _a, _b in _SHAPES:
        add(Case(_op, {"lhs": _a, "rhs": _b}, ranges={**_lr, **_rr}, name=f"{_op}_{_sfx}"))
    add(Case(_op, {"lhs": (2, 3), "rhs": (2, 3)}, ranges={**_lr, **_rr}, name=f"{_op}_same"))
add(
    Case("broadcast_plus", {"lhs": (4, 1), "rhs": (1, 6)}, name="broadcast_plus_alias"),
    Case("broadcast_minus", {"lhs": (4,), "rhs": (3, 4)}, name="broadcast_minus_alias"),
    Case("broadcast_mod", {"lhs": (3, 4), "rhs": (4,)}, ranges={"lhs": (-5, 5),
                                                             "rhs": (-3.0, -0.5)},
         name="broadcast_mod_negdiv"),
    Case("broadcast_power", {"lhs": (3, 4), "rhs": (4,)}, ranges={"lhs": (-3, -0.5)},
         ints={"rhs": 4}, no_grad=("rhs",), name="broadcast_power_negbase"),
    Case("broadcast_maximum", {"lhs": (3, 4), "rhs": (1, 4)}, ints={"lhs": 3, "rhs": 3},
         name="broadcast_maximum_ties"),
    Case("broadcast_minimum", {"lhs": (3, 4), "rhs": (3, 1)}, ints={"lhs": 3, "rhs": 3},
         name="broadcast_minimum_ties"),
    Case("broadcast_add", {"lhs": (3, 4), "rhs": (1, 4)}, ranges={"lhs": (-9, 9),
                                                               "rhs": (-9, 9)},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="broadcast_add_i32"),
    Case("broadcast_mul", {"lhs": (3, 4), "rhs": (3, 1)},
         dtypes={"lhs": "float16", "rhs": "float16"}, name="broadcast_mul_f16", **F16),
)

# --- comparisons and logical ops (non-differentiable; input dtype 1/0) ---------------------------
_CMP = ("equal", "not_equal", "greater", "greater_equal", "lesser", "lesser_equal",
        "logical_and", "logical_or", "logical_xor")
for _c in _CMP:
    add(Case(f"_internal._{_c}", {"lhs": S, "rhs": S}, ints={"lhs": 3, "rhs": 3}, name=_c),
        Case(f"broadcast_{_c}", {"lhs": (3, 4), "rhs": (3, 1)}, ints={"lhs": 3, "rhs": 3},
             name=f"broadcast_{_c}"),
        Case(f"_internal._{_c}_scalar", {"data": S}, {"scalar": 1.0}, ints={"data": 3},
             name=f"{_c}_scalar"),
        # float operands (no ties), a rank-changing broadcast, a fractional scalar
        Case(f"_internal._{_c}", {"lhs": S3, "rhs": S3}, ranges={"lhs": (-1, 1),
                                                             "rhs": (-1, 1)},
             name=f"{_c}_float"),
        Case(f"broadcast_{_c}", {"lhs": (2, 3, 4), "rhs": (4,)}, name=f"broadcast_{_c}_rank"),
        Case(f"_internal._{_c}_scalar", {"data": S3}, {"scalar": -0.25},
             name=f"{_c}_scalar_float"))
add(
    Case("_internal._equal", {"lhs": S, "rhs": S}, ints={"lhs": 3, "rhs": 3},
         dtypes={"lhs": "int32", "rhs": "int32"}, grad=False, name="equal_i32"),
    Case("_internal._greater_scalar", {"data": S}, {"scalar": 1.0}, ints={"data": 3},
         dtypes={"data": "int32"}, grad=False, name="greater_scalar_i32"),
    Case("_internal._logical_and_scalar", {"data": S}, {"scalar": 0.0}, ints={"data": 3},
         name="logical_and_scalar_zero"),
)

# --- scalar forms ------------------------------------------------------------------------------
_SCALAR = [
    ("_plus_scalar", 1.5, {}), ("_minus_scalar", 1.5, {}), ("_rminus_scalar", 1.5, {}),
    ("_mul_scalar", -2.5, {}), ("_div_scalar", -2.5, {}), ("_rdiv_scalar", 3.0, POS),
    ("_power_scalar", 2.0, {}), ("_rpower_scalar", 2.0, {}), ("_maximum_scalar", 0.5, {}),
    ("_minimum_scalar", 0.5, {}), ("_mod_scalar", 1.5, (-5, 5)), ("_rmod_scalar", 3.0, POS),
    ("_hypot_scalar", 1.5, {}),
]
for _op, _s, _r in _SCALAR:
    add(Case(f"_internal.{_op}", {"data": S}, {"scalar": _s},
             ranges={"data": _r} if _r else {}, name=_op.lstrip("_")))
add(
    Case("_internal._power_scalar", {"data": S3}, {"scalar": 3.0}, name="power_scalar_cube_neg"),
    Case("_internal._power_scalar", {"data": S3}, {"scalar": 0.5}, ranges={"data": POS},
         name="power_scalar_sqrt"),
    Case("_internal._power_scalar", {"data": S3}, {"scalar": -1.5}, ranges={"data": POS},
         name="power_scalar_negexp"),
    Case("_internal._rpower_scalar", {"data": S3}, {"scalar": 0.5}, name="rpower_scalar_half"),
    Case("_internal._mod_scalar", {"data": S3}, {"scalar": -1.5}, ranges={"data": (-5, 5)},
         name="mod_scalar_negdiv"),
    Case("_internal._rmod_scalar", {"data": S3}, {"scalar": -4.0}, ranges={"data": POS},
         name="rmod_scalar_neg"),
    Case("_internal._rdiv_scalar", {"data": S3}, {"scalar": -2.0}, ranges={"data": (-3, -0.2)},
         name="rdiv_scalar_neg"),
    Case("_internal._maximum_scalar", {"data": S3}, {"scalar": 1.0}, ints={"data": 3},
         name="maximum_scalar_ties"),
    Case("_internal._minimum_scalar", {"data": S3}, {"scalar": 1.0}, ints={"data": 3},
         name="minimum_scalar_ties"),
    Case("_internal._PlusScalar", {"data": S3}, {"scalar": -0.5}, name="plus_scalar_alias"),
    Case("_internal._plus_scalar", {"data": S}, {"scalar": 2.7}, ranges={"data": (-9, 9)},
         dtypes={"data": "int32"}, grad=False, name="plus_scalar_i32"),
    Case("_internal._minus_scalar", {"data": S}, {"scalar": 3.0}, ranges={"data": (-9, 9)},
         dtypes={"data": "int32"}, grad=False, name="minus_scalar_i32"),
    Case("_internal._rminus_scalar", {"data": S3}, {"scalar": -1.25},
         dtypes={"data": "float16"}, name="rminus_scalar_f16", **F16),
    Case("_internal._hypot_scalar", {"data": S3}, {"scalar": 0.0}, name="hypot_scalar_zero"),
    Case("_internal._div_scalar", {"data": S}, {"scalar": 2.0}, ranges={"data": (-9, 9)},
         dtypes={"data": "int32"}, grad=False, name="div_scalar_i32"),
    Case("_internal._mod_scalar", {"data": S}, {"scalar": 3.0}, ranges={"data": (-9, 9)},
         dtypes={"data": "int32"}, grad=False, name="mod_scalar_i32"),
    Case("_internal._rmod_scalar", {"data": S}, {"scalar": -7.0}, ranges={"data": (1, 6)},
         dtypes={"data": "int32"}, grad=False, name="rmod_scalar_i32"),
    Case("_internal._power_scalar", {"data": S}, {"scalar": 3.0}, ranges={"data": (-5, 5)},
         dtypes={"data": "int32"}, grad=False, name="power_scalar_i32"),
    Case("_internal._rpower_scalar", {"data": S}, {"scalar": 2.0}, ranges={"data": (0, 9)},
         dtypes={"data": "int32"}, grad=False, name="rpower_scalar_i32"),
    Case("_internal._mul_scalar", {"data": S}, {"scalar": 0.5}, dtypes={"data": "float16"},
         name="mul_scalar_f16", **F16),
)

# --- clip ---------------------------------------------------------------------------------------
add(
    Case("clip", {"data": S}, {"a_min": -1.0, "a_max": 1.5}, name="clip"),
    Case("clip", {"data": S3}, {"a_min": 0.0, "a_max": 1.0}, ints={"data": 3}, name="clip_edges"),
    Case("clip", {"data": S3}, {"a_min": 1.0, "a_max": -1.0}, name="clip_inverted"),
    Case("clip", {"data": S}, {"a_min": -2.5, "a_max": 3.5}, ranges={"data": (-9, 9)},
         dtypes={"data": "int32"}, grad=False, name="clip_i32"),
)
