"""Accuracy of mathlib's float expansions, and ALU coverage of both renderers.

1. Every expansion in ``mxc.codegen.mathlib.EXPANSIONS`` is swept in float32 over its natural
   domain (a grid, random points, and the edges where naive formulas fail: lgamma near 1 and 2,
   erfinv and asin/acos near +-1, negative bases of pow, huge arguments ...) and compared with a
   float64 reference (numpy/torch/math) at rtol 1e-4. The kernel is built directly in kernel IR
   (load, the ALU op, store) and expanded by mathlib before rendering, so LLVM runs the same
   formula as Triton (it otherwise calls libm for most of these); Triton runs under its
   interpreter on a machine without CUDA.
2. Every ALU op renders and computes the right values for int32, int64 and float16 operands on
   both backends, through each renderer's normal path (its op table plus mathlib for what it
   lacks): integer math goes through float64 and truncates back, as MXNet's does.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mxc.codegen import mathlib
from mxc.codegen.kir import ALU_OPS, Buffer, Ix, KBuilder, Kernel, Var
from mxc.ir.types import DType

BACKENDS = ["llvm", "triton"]
RTOL = 1e-4


# --- running one ALU op as a kernel ------------------------------------------------------------------
def _kernel(op: str, n: int, dtypes, out_dtype, name: str) -> Kernel:
    ins = [Buffer(f"x{i}", dt, n, "in", i) for i, dt in enumerate(dtypes)]
    out = Buffer("y", out_dtype, n, "out", len(dtypes))
    kern = Kernel(name, ins + [out], (n,), (), sources=[op])
    k = KBuilder(kern)
    ix = Ix.var(Var("g", 0, n))
    r = k.alu(op, *[k.load(b, ix) for b in ins])
    k.store(out, ix, r)
    return kern


_counter = [0]


def run_op(op: str, xs, backend: str, expand: bool = False, out_dtype=None) -> np.ndarray:
    """``op`` applied elementwise to the arrays ``xs`` by ``backend``. With ``expand`` the
    kernel is expanded by mathlib first (LLVM would otherwise call libm)."""
    xs = [np.ascontiguousarray(x) for x in xs]
    n = xs[0].size
    dts = [DType.parse(x.dtype) for x in xs]
    odt = out_dtype or (DType.bool if op in ("lt", "le", "gt", "ge", "eq", "ne") else dts[0])
    _counter[0] += 1
    kern = _kernel(op, n, dts, odt, f"k_{op}_{_counter[0]}")
    if expand:
        kern = mathlib.expand_kernel(kern, {op}, float_only=backend == "llvm")
    ts = [torch.from_numpy(x) for x in xs]
    out = torch.empty(n, dtype=odt.torch)
    if backend == "llvm":
        from mxc.codegen.llvm import LLVMModule
        m = LLVMModule([kern])
        m.get(kern.name)(*[t.data_ptr() for t in ts], out.data_ptr(), 0, n)
    else:
        from mxc.codegen import triton as tr
        mod = tr.load_source(tr.render_module([kern]))
        tr.TritonKernel(kern, getattr(mod, kern.name))(*ts, out)
    return out.numpy()


def check(got, ref, rtol=RTOL, atol=0.0, what=""):
    """Relative error within rtol (plus atol); non-finite references matched exactly."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    fin = np.isfinite(ref)
    nonfin_ok = np.where(np.isnan(ref), np.isnan(got), got == ref)
    bad = ~fin & ~nonfin_ok
    assert not bad.any(), (f"{what}: non-finite mismatch at {np.argwhere(bad)[:5].ravel()}: got "
                           f"{got[bad][:5]} expected {ref[bad][:5]}")
    with np.errstate(invalid="ignore"):
        err = np.abs(got - ref) / (atol + rtol * np.abs(ref) + 1e-300)
    err = np.where(fin, np.where(np.isnan(err), np.inf, err), 0.0)
    i = int(np.argmax(err))
    assert err[i] <= 1.0, (f"{what}: relative error {abs(got[i] - ref[i]) / max(abs(ref[i]), 1e-300):.3g}"
                           f" at element {i}: got {got[i]!r}, expected {ref[i]!r}")


# --- references (float64) ----------------------------------------------------------------------------
def _t(fn):
    return lambda x: fn(torch.from_numpy(np.asarray(x, np.float64))).numpy()


def _gamma(x):
    def g(v):
        try:
            return math.gamma(v)
        except (ValueError, OverflowError):
            return math.inf if v > 0 else math.nan
    return np.vectorize(g, otypes=[np.float64])(x)


def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _near(c, signs=(1, -1), k=24):
    return [c + s * 2.0 ** -i for i in range(1, k) for s in signs]


def _pts(lo, hi, n=1000, log=False, seed=0):
    rng = np.random.default_rng(seed)
    if log:
        a, b = np.log(lo), np.log(hi)
        return np.concatenate([np.exp(np.linspace(a, b, n)), np.exp(rng.uniform(a, b, n))])
    return np.concatenate([np.linspace(lo, hi, n), rng.uniform(lo, hi, n)])


def _f32(*parts):
    return np.concatenate([np.asarray(p, np.float64).ravel() for p in parts]).astype(np.float32)


# name: [(inputs, reference, atol)]; each input set is float32, the reference sees the same values
def _sweeps():
    S = {}
    S["sigmoid"] = [(_f32(_pts(-88, 88), [0, 1e-8, -1e-8, 20, -20, 80, -87]),
                     lambda x: 1.0 / (1.0 + np.exp(-x)), 0)]
    S["tanh"] = [(_f32(_pts(-10, 10), _pts(-1e-3, 1e-3), [0.625, -0.625, 0.6249, 9, 50, -50,
                                                          1e-30, 0]), np.tanh, 0)]
    S["expm1"] = [(_f32(_pts(-20, 20), _pts(-1e-4, 1e-4), [0.5, -0.5, 88, -88, 0]),
                   np.expm1, 0)]
    S["log1p"] = [(_f32(_pts(-0.999, 10), _pts(-1e-4, 1e-4), _pts(10, 1e30, log=True),
                        [0, -0.5, 1e-30, -1]), np.log1p, 0)]
    S["sinh"] = [(_f32(_pts(-89, 89), _pts(-1e-3, 1e-3), [1, -1, 88.5, -88.9, 0]), np.sinh, 0)]
    S["cosh"] = [(_f32(_pts(-89, 89), [0, 88.9, -88.9]), np.cosh, 0)]
    S["tan"] = [(_f32(_pts(-1.5, 1.5), _pts(-10, 10), [0, 1.57, -1.57]), np.tan, 0)]
    S["atan"] = [(_f32(_pts(-100, 100), _pts(1e-6, 1e30, log=True), [0, 0.4142, 2.4142,
                                                                    -1e30]), np.arctan, 0)]
    edge1 = _near(1.0, (-1,)) + _near(-1.0, (1,)) + [1, -1, 0]
    S["asin"] = [(_f32(_pts(-1, 1), edge1), np.arcsin, 0)]
    S["acos"] = [(_f32(_pts(-1, 1), edge1), np.arccos, 0)]
    S["asinh"] = [(_f32(_pts(-1e3, 1e3), _pts(-1e-3, 1e-3), [1e10, -1e10, 1e30, -1e30, 0]),
                   np.arcsinh, 0)]
    S["acosh"] = [(_f32(_pts(1, 1e3), _near(1.0, (1,)), [1, 1e10, 1e30]), np.arccosh, 0)]
    S["atanh"] = [(_f32(_pts(-0.9999, 0.9999), _near(1.0, (-1,)), _near(-1.0, (1,)),
                        _pts(-1e-3, 1e-3), [0, 1, -1]), np.arctanh, 0)]
    S["log10"] = [(_f32(_pts(1e-30, 1e30, log=True), [1, 10, 0]), np.log10, 0)]
    S["log2"] = [(_f32(_pts(1e-30, 1e30, log=True), [1, 2, 0.5, 0]), np.log2, 0)]
    S["cbrt"] = [(_f32(_pts(-1e3, 1e3), _pts(1e-30, 1e30, log=True), [8, 27, 64, -125, 1000,
                                                                     0]), np.cbrt, 0)]
    S["erfinv"] = [(_f32(_pts(-1, 1), _near(1.0, (-1,)), _near(-1.0, (1,)), _pts(-1e-4, 1e-4),
                         [0, 1, -1]), _t(torch.special.erfinv), 0)]
    S["lgamma"] = [
        (_f32(_pts(1e-30, 1e4, log=True), _pts(0.5, 3.0), _near(1.0), _near(2.0),
              [0.75, 1.25, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 6.49, 1e6, 1e30, 1, 2, 0]),
         _t(torch.lgamma), 0),
        # negative arguments: log|Gamma| crosses zero between the poles; absolute error there
        (_f32(_pts(-10, -1e-3), [-0.5, -1.5, -2.5, -1e-7, -3]), _t(torch.lgamma), 1e-5),
    ]
    S["tgamma"] = [
        (_f32(_pts(1e-3, 34.5), _near(1.0), _near(2.0), [1e-30, 1, 2, 3, 0.5]), _gamma, 0),
        (_f32(_pts(-10, -1e-3), [-0.5, -1.5, -2.5, -2 + 1e-6]), _gamma, 0),
    ]
    S["digamma"] = [
        (_f32(_pts(1e-2, 100), _near(1.4616321, k=22), [1, 2, 1e3, 1e6]),
         _t(torch.special.digamma), 0),
        (_f32(_pts(-10, -1e-2)), _t(torch.special.digamma), 1e-5),
    ]
    S["sign"] = [(_f32(_pts(-3, 3), [0, -0.0, 1e-30, -1e-30]), np.sign, 0)]
    halves = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -3.5, 0, 4, -4, 0.49999997, -0.49999997]
    S["trunc"] = [(_f32(_pts(-5, 5), halves, [1e20, -1e20]), np.trunc, 0)]
    S["round"] = [(_f32(_pts(-5, 5), halves, [1e20, -1e20]), _round_half_away, 0)]
    S["rint"] = [(_f32(_pts(-5, 5), halves, [1e20, -1e20]), np.rint, 0)]
    return S


SWEEPS = _sweeps()


def _binary_sweeps():
    rng = np.random.default_rng(1)
    S = {}
    # pow: positive bases over a wide range, negative bases with integer exponents, zeros
    xb = np.exp(rng.uniform(np.log(1e-3), np.log(1e3), 2000))
    yb = rng.uniform(-8, 8, 2000)
    xn = -rng.uniform(0.1, 10, 1000)
    yn = rng.integers(-6, 7, 1000).astype(np.float64)
    xs = [2, -2, -2, -3, -1.5, 0, 0, 0, 3, 10, -10, -8, 1, -1, 7, -0.5]
    ys = [10, 3, 2, 3, 2, 0, -1, 2, 15, 7, 7, 1.0 / 3, 1e9, 1e9 + 1, 2, 0.5]
    x = _f32(xb, xn, xs)
    y = _f32(yb, yn, ys)
    S["pow"] = [((x, y), np.power, 0)]
    a = _f32(rng.uniform(-100, 100, 2000), [3, 1e30, 1e-30, 0, -4, 1e20, 0])
    b = _f32(rng.uniform(-100, 100, 2000), [4, 1e30, 1e-30, 0, 3, 1, -5])
    S["hypot"] = [((a, b), np.hypot, 0)]
    S["atan2"] = [((a, b), np.arctan2, 0)]
    return S


BINARY = _binary_sweeps()


def test_every_expansion_is_swept():
    assert set(SWEEPS) | set(BINARY) == set(mathlib.EXPANSIONS)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_unary_expansion_accuracy(name, backend):
    for i, (x, ref, atol) in enumerate(SWEEPS[name]):
        with np.errstate(all="ignore"):
            expected = ref(x.astype(np.float64))
            got = run_op(name, [x], backend, expand=True)
        check(got, expected, RTOL, atol, f"{name} sweep {i} ({backend})")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_expansion_accuracy(name, backend):
    for i, ((x, y), ref, atol) in enumerate(BINARY[name]):
        with np.errstate(all="ignore"):
            expected = ref(x.astype(np.float64), y.astype(np.float64))
            got = run_op(name, [x, y], backend, expand=True)
        check(got, expected, RTOL, atol, f"{name} sweep {i} ({backend})")


def test_pow_integer_powers_are_exact():
    x = np.array([2, 3, 5, 7, 10, -2, -3, 9, 11], np.float32)
    y = np.array([10, 7, 5, 4, 6, 9, 5, 3, 4], np.float32)
    for backend in BACKENDS:
        got = run_op("pow", [x, y], backend, expand=True)
        np.testing.assert_array_equal(got, np.power(x.astype(np.float64), y).astype(np.float32))


# --- every ALU op on int32 / int64 / float16 through each renderer's normal path -------------------
_CMP = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
        "eq": np.equal, "ne": np.not_equal}


def _c_div(a, b):
    return np.trunc(a / b)


def _c_mod(a, b):
    return np.fmod(a, b)


_INT_REF = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": _c_div,
    "floordiv": lambda a, b: np.floor(a / b), "mod": _c_mod, "max": np.maximum,
    "min": np.minimum, "and_": np.bitwise_and, "or_": np.bitwise_or, "xor": np.bitwise_xor,
    "pow": np.power, "hypot": np.hypot, "atan2": np.arctan2,
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "expm1": np.expm1,
    "log": np.log, "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "sqrt": np.sqrt,
    "rsqrt": lambda a: 1.0 / np.sqrt(a), "cbrt": np.cbrt, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh, "acosh": np.arccosh,
    "atanh": np.arctanh, "floor": np.floor, "ceil": np.ceil, "round": _round_half_away,
    "trunc": np.trunc, "rint": np.rint, "erf": _t(torch.special.erf),
    "erfinv": _t(torch.special.erfinv), "lgamma": _t(torch.lgamma), "tgamma": _gamma,
    "digamma": _t(torch.special.digamma), "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    **_CMP,
}
# integer operands for which every op's result is finite
_INT_DOMAIN = {
    "log": (1, 9), "log1p": (0, 9), "log2": (1, 9), "log10": (1, 9), "sqrt": (0, 9),
    "rsqrt": (1, 9), "acosh": (1, 9), "asin": (-1, 2), "acos": (-1, 2), "atanh": (0, 1),
    "erfinv": (0, 1), "lgamma": (1, 9), "tgamma": (1, 9), "digamma": (1, 9), "exp": (-9, 9),
    "expm1": (-9, 9), "sinh": (-9, 9), "cosh": (-9, 9),
}
_SKIP = {"not_"}      # not_ yields a bool under an integer type; no op emits it on integers


def _int_case(op, dt, rng):
    lo, hi = _INT_DOMAIN.get(op, (-9, 10))
    n = 64
    a = rng.integers(lo, hi, n).astype(dt)
    if op in ("div", "floordiv", "mod"):
        b = rng.choice([-4, -3, -2, -1, 1, 2, 3, 5], n).astype(dt)
    elif op == "pow":
        a = rng.integers(-4, 6, n).astype(dt)
        b = rng.integers(0, 6, n).astype(dt)
    else:
        b = rng.integers(-9, 10, n).astype(dt)
    return a, b


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_every_alu_op_on_integers(dtype, backend):
    rng = np.random.default_rng(2)
    failures = []
    for op in ALU_OPS:
        if op in _SKIP:
            continue
        a, b = _int_case(op, np.dtype(dtype), rng)
        args = [a, b] if op in _INT_REF and _nargs(op) == 2 else [a]
        with np.errstate(all="ignore"):
            ref = _INT_REF[op](*[v.astype(np.float64) if op not in ("and_", "or_", "xor")
                                 else v for v in args])
        if op not in _CMP:
            ref = np.trunc(np.asarray(ref, np.float64))
        try:
            got = run_op(op, args, backend)
            np.testing.assert_array_equal(got.astype(np.float64), np.asarray(ref, np.float64))
        except Exception as e:  # noqa: BLE001  (collect every failing op, report them together)
            failures.append(f"{op}: {str(e).splitlines()[0][:300]}")
    assert not failures, f"{dtype} on {backend}:\n" + "\n".join(failures)


def _nargs(op):
    from mxc.codegen.kir import BINARY_OPS, CMP_OPS
    return 2 if op in BINARY_OPS or op in CMP_OPS else 1


_FLOAT_REF = {"div": np.divide, "floordiv": lambda a, b: np.floor(a / b)}
_F16_DOMAIN = {
    "log": (0.1, 8), "log1p": (-0.5, 8), "log2": (0.1, 8), "log10": (0.1, 8), "sqrt": (0.1, 8),
    "rsqrt": (0.1, 8), "acosh": (1, 8), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9),
    "atanh": (-0.9, 0.9), "erfinv": (-0.9, 0.9), "lgamma": (0.1, 8), "tgamma": (0.1, 6),
    "digamma": (0.1, 8), "pow": (0.1, 4), "tan": (-1.2, 1.2),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_alu_op_on_float16(backend):
    rng = np.random.default_rng(3)
    failures = []
    for op in ALU_OPS:
        if op in _SKIP or op in ("and_", "or_", "xor"):     # bitwise: integers and bools only
            continue
        lo, hi = _F16_DOMAIN.get(op, (-4, 4))
        a = rng.uniform(lo, hi, 64).astype(np.float16)
        b = rng.uniform(0.5, 3, 64).astype(np.float16) if op in ("div", "floordiv", "mod",
                                                                  "pow") \
            else rng.uniform(-4, 4, 64).astype(np.float16)
        args = [a, b] if _nargs(op) == 2 else [a]
        with np.errstate(all="ignore"):
            ref = _FLOAT_REF.get(op, _INT_REF[op])(*[v.astype(np.float64) for v in args])
        if op not in _CMP:
            ref = np.asarray(ref).astype(np.float16).astype(np.float64)
        try:
            got = run_op(op, args, backend)
            check(got, ref, 2e-3, 2e-3, f"{op} float16")
        except Exception as e:  # noqa: BLE001
            failures.append(f"{op}: {str(e).splitlines()[0][:300]}")
    assert not failures, f"float16 on {backend}:\n" + "\n".join(failures)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bool_logic(backend):
    a = np.array([0, 1, 0, 1], bool)
    b = np.array([0, 0, 1, 1], bool)
    for op, ref in (("and_", np.logical_and), ("or_", np.logical_or), ("xor", np.logical_xor),
                    ("eq", np.equal), ("ne", np.not_equal)):
        got = run_op(op, [a, b], backend, out_dtype=DType.bool)
        np.testing.assert_array_equal(got, ref(a, b), err_msg=f"{op} on bool ({backend})")


@pytest.mark.slow
def test_expansions_compile_to_cubin_for_sm90():
    """Every expansion, and the integer / float16 / bool rewrites, build for sm_90 (no GPU
    needed): the interpreter accepts things the compiler does not, and the reverse."""
    from mxc.codegen import triton as tr
    from mxc.codegen.kir import BINARY_OPS
    kerns = []
    for i, op in enumerate(sorted(mathlib.EXPANSIONS)):
        n = 2 if op in BINARY_OPS else 1
        kerns.append(_kernel(op, 1000, [DType.f32] * n, DType.f32, f"c{i}_{op}"))
    for j, (op, dt) in enumerate([("exp", DType.i32), ("pow", DType.i64), ("floordiv", DType.i32),
                                  ("sign", DType.i64), ("cbrt", DType.i32), ("exp", DType.f16),
                                  ("lgamma", DType.f16), ("tanh", DType.bf16),
                                  ("and_", DType.bool), ("xor", DType.bool)]):
        n = 2 if op in BINARY_OPS else 1
        kerns.append(_kernel(op, 1000, [dt] * n, dt, f"d{j}_{op}"))
    try:
        res = tr.compile_cubin(kerns)
    except Exception as e:      # pragma: no cover - a machine without Triton's CUDA toolchain
        if "ptxas" in str(e) or "No such file" in str(e):
            pytest.skip(f"Triton cannot compile for sm_90 here: {str(e)[:200]}")
        raise
    assert set(res) == {k.name for k in kerns}
    assert all(v["cubin_bytes"] > 0 for v in res.values())


# --- special values, against what MXNet 1.9.1 printed for the same inputs -------------------------
_NAN = float("nan")
_X = np.array([[1, _NAN, 3], [_NAN, _NAN, _NAN], [2, -1, 0.5]], np.float32)


def _run(sym, shapes, target, *inputs, grad=None):
    import mxc as mx
    if grad is None:
        return mx.compile(sym, shapes=shapes, target=target)(*inputs)
    c = mx.compile(sym, shapes=shapes, target=target, is_train=True, grad_wrt=["x"])
    return c(*inputs, grad)


@pytest.mark.parametrize("target", BACKENDS)
def test_nan_handling_matches_mxnet(target):
    import mxc as mx
    x = mx.sym.var("x")
    y = mx.sym.var("y")
    ones = np.ones(3, np.float32)
    # nansum / nanprod skip NaN, and NaN elements get no gradient (values from MXNet 1.9.1)
    out, g = _run(mx.sym.nansum(x, axis=1), {"x": (3, 3)}, target, _X, grad=ones)
    np.testing.assert_array_equal(out, [4.0, 0.0, 1.5])
    np.testing.assert_array_equal(g, [[1, 0, 1], [0, 0, 0], [1, 1, 1]])
    out, g = _run(mx.sym.nanprod(x, axis=1), {"x": (3, 3)}, target, _X, grad=ones)
    np.testing.assert_array_equal(out, [3.0, 1.0, -1.0])
    np.testing.assert_array_equal(g, [[3, 0, 1], [0, 0, 0], [-0.5, 1, -2]])
    # argmax/argmin: the first NaN counts as the extreme
    np.testing.assert_array_equal(_run(mx.sym.argmax(x, axis=1), {"x": (3, 3)}, target, _X)[0],
                                  [1, 0, 0])
    np.testing.assert_array_equal(_run(mx.sym.argmin(x, axis=1), {"x": (3, 3)}, target, _X)[0],
                                  [1, 0, 1])
    # maximum / relu / clip propagate NaN; Activation(relu) and sign map it to 0
    a = np.array([_NAN, 1, _NAN], np.float32)
    b = np.array([1, _NAN, _NAN], np.float32)
    assert np.isnan(_run(mx.sym.maximum(x, y), {"x": (3,), "y": (3,)}, target, a, b)[0]).all()
    assert np.isnan(_run(mx.sym.minimum(x, y), {"x": (3,), "y": (3,)}, target, a, b)[0]).all()
    np.testing.assert_array_equal(
        _run(mx.sym.maximum(x, 0), {"x": (3,)}, target, a)[0], [_NAN, 1, _NAN])
    np.testing.assert_array_equal(_run(mx.sym.relu(x), {"x": (3,)}, target, a)[0],
                                  [_NAN, 1, _NAN])
    np.testing.assert_array_equal(
        _run(mx.sym.Activation(x, act_type="relu"), {"x": (3,)}, target, a)[0], [0, 1, 0])
    np.testing.assert_array_equal(_run(mx.sym.clip(x, 0, 0.5), {"x": (3,)}, target, a)[0],
                                  [_NAN, 0.5, _NAN])
    np.testing.assert_array_equal(_run(mx.sym.sign(x), {"x": (3,)}, target, a)[0], [0, 1, 0])


@pytest.mark.parametrize("target", BACKENDS)
def test_rounding_halves_match_mxnet(target):
    import mxc as mx
    x = mx.sym.var("x")
    h = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -0.49999997], np.float32)
    r = {op: _run(getattr(mx.sym, op)(x), {"x": (8,)}, target, h)[0]
         for op in ("round", "rint", "fix", "trunc", "ceil", "floor")}
    np.testing.assert_array_equal(r["round"], [-3, -2, -1, 1, 2, 3, 0, 0])    # away from zero
    np.testing.assert_array_equal(r["rint"], [-2, -2, -0, 0, 2, 2, 0, 0])     # to even
    np.testing.assert_array_equal(r["fix"], [-2, -1, 0, 0, 1, 2, 0, 0])
    np.testing.assert_array_equal(r["trunc"], r["fix"])
    np.testing.assert_array_equal(r["ceil"], np.ceil(h))
    np.testing.assert_array_equal(r["floor"], np.floor(h))
