"""Check helpers: what mxc's own tests use, public so users can test their graphs the same way.

- :func:`check_shape_rule`: the types inference gives equal what the interpreter produces;
- :func:`check_compiled`: compiled code (LLVM, Triton) equals the reference interpreter;
- :func:`check_grad`: the autodiff gradient equals a central finite difference along a random
  direction (computed in float64 with the interpreter);
- :func:`op_graph`: a one-op graph for an operator, attributes and input shapes.
"""
from __future__ import annotations

import numpy as np

from ..ir.core import Builder, Graph
from ..ir.interp import interp
from ..ir.registry import LOSS, get_op
from ..ir.types import DType, TensorType
from ..passes.autodiff import Autodiff
from ..passes.base import PassContext
from ..passes.infer import InferTypes

__all__ = ["op_graph", "check_shape_rule", "check_compiled", "check_grad", "random_inputs",
           "as_dtype", "assert_close", "assert_close_fp64", "interp_fp64", "fp64_reference"]


def op_graph(opname: str, shapes, attrs: dict | None = None, dtypes=None, name="op") -> Graph:
    """``graph(inputs) -> op(inputs)`` with every output returned."""
    od = get_op(opname)
    a = od.parse_attrs(dict(attrs or {}), name)
    names = od.list_inputs(a)
    if od.variadic:
        names = [f"arg{i}" for i in range(len(shapes))]
    if len(shapes) != len(names):
        raise ValueError(f"{opname} takes inputs {names}; got {len(shapes)} shapes")
    dtypes = dtypes or [DType.f32] * len(shapes)
    b = Builder(opname)
    ins = [b.input(n, TensorType(tuple(s), DType.parse(d))) for n, s, d in zip(names, shapes,
                                                                            dtypes)]
    outs = b.op(opname, ins, attrs or {}, name)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    return b.build(outs)


def random_inputs(g: Graph, rng=None, low=-2.0, high=2.0, ints=None) -> list[np.ndarray]:
    """Random inputs for ``g``: uniform floats in [low, high); integer inputs in [0, ints)."""
    rng = rng or np.random.default_rng(0)
    out = []
    for v in g.inputs:
        dt = v.type.dtype
        if dt.is_float:
            out.append(rng.uniform(low, high, v.type.shape).astype(dt.numpy))
        elif dt == DType.bool:
            out.append(rng.integers(0, 2, v.type.shape).astype(bool))
        else:
            out.append(rng.integers(0, ints or 5, v.type.shape).astype(dt.numpy))
    return out


def assert_close(actual, expected, rtol=1e-5, atol=1e-6, what=""):
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {a.shape} != expected {e.shape}")
    ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if not ok.all():
        idx = np.argwhere(~ok)[:5]
        detail = ", ".join(f"{tuple(i)}: {a[tuple(i)]:.7g} vs {e[tuple(i)]:.7g}" for i in idx)
        err = np.nanmax(np.abs(a - e) / (atol + rtol * np.abs(e)))
        raise AssertionError(f"{what}: {(~ok).sum()} of {a.size} elements differ "
                             f"(worst {err:.3g}x tolerance); {detail}")


def interp_fp64(g: Graph, inputs) -> list[np.ndarray]:
    """The interpreter's outputs for ``g`` computed in float64 (floating inputs widened)."""
    g64 = as_dtype(g, DType.f64)
    return interp(g64, _widen(g64, inputs))


def _widen(g64: Graph, inputs) -> list:
    return [np.asarray(x, np.float64) if v.type.dtype.is_float else np.asarray(x)
            for x, v in zip(inputs, g64.inputs)]


def fp64_reference(g: Graph, inputs, samples: int = 3, rel: float = 2.0 ** -21, seed: int = 0):
    """``(outputs, errors)``: ``g``'s outputs computed in float64, and for each an estimate
    of the error a float32 evaluation may make at each element.

    The estimate is forward error analysis by perturbation: ``g``'s primitive form (after
    decomposition, what compiled code computes) runs in float64 ``samples`` times with every
    op's result multiplied by ``1 + d``, ``|d| <= rel`` random (a few float32 roundings per
    op: reduction order, fused multiply-adds and a kernel's own exp differ from numpy's), and
    the error is the largest deviation from the exact run. It is large exactly where the
    computation is ill-conditioned: a difference of nearly equal values multiplied by a large
    one, a chain of squares, a floor or round near a step, an overflow."""
    from ..passes.base import Pipeline
    from ..passes.decompose import Decompose
    g64 = as_dtype(g, DType.f64)
    xs = _widen(g64, inputs)
    with np.errstate(all="ignore"):
        exact = interp(g64, xs)
        prim = Pipeline([InferTypes(), Decompose()]).run(g64, PassContext())
        rng = np.random.default_rng(seed)
        err = [np.zeros(np.shape(e)) for e in exact]
        for _ in range(samples):
            outs = _interp_perturbed(prim, xs, rel, rng)
            for i, (o, e) in enumerate(zip(outs, exact)):
                d = np.abs(np.asarray(o, np.float64) - np.asarray(e, np.float64))
                d = np.where(np.isnan(d), np.inf, d)
                err[i] = np.maximum(err[i], d)
    return exact, err


def _interp_perturbed(g: Graph, xs, rel, rng) -> list:
    from ..ir.interp import interp_op
    env = dict(zip(g.inputs, xs))
    for op in g.ops:
        outs = interp_op(op, [env[v] for v in op.inputs])
        for v, o in zip(op.outputs, outs):
            if v.type.dtype.is_float:
                o = o * (1.0 + rel * rng.uniform(-1.0, 1.0, np.shape(o)))
            env[v] = o
    return [env[v] for v in g.outputs]


def assert_close_fp64(actual, ref64, err=None, rtol=2e-5, atol=2e-5, what="",
                      multiplier=4.0):
    """``actual`` (a float32 computation) against the float64 reference ``ref64``: each
    element may be off by ``atol + rtol*|ref64|`` plus ``multiplier`` times ``err`` there,
    the error float32 evaluation itself may make (:func:`fp64_reference`), in the spirit of
    torch._dynamo's ``same`` with an fp64 reference. Where the reference is NaN ``actual``
    must be NaN; where it is infinite, equal; where the budget is infinite (float32 overflows
    on the way), anything non-finite passes."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(ref64, dtype=np.float64)
    b = np.zeros(e.shape) if err is None else np.asarray(err, dtype=np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {a.shape} != expected {e.shape}")
    with np.errstate(all="ignore"):
        budget = atol + rtol * np.abs(e) + multiplier * b
        ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True) | (np.abs(a - e) <= budget)
        ok |= np.isinf(budget) & ~np.isfinite(a)
    if not ok.all():
        idx = np.argwhere(~ok)[:5]
        detail = ", ".join(f"{tuple(int(j) for j in i)}: {a[tuple(i)]:.7g} vs "
                           f"{e[tuple(i)]:.7g} (float32 error estimate {b[tuple(i)]:.3g})"
                           for i in idx)
        raise AssertionError(f"{what}: {(~ok).sum()} of {a.size} elements differ from the "
                             f"float64 reference; {detail}")


def check_shape_rule(g: Graph, inputs):
    """Inferred output types equal the interpreter's output shapes and dtypes."""
    outs = interp(g, inputs)
    for v, o in zip(g.outputs, outs):
        assert tuple(v.type.shape) == o.shape, f"%{v.name}: rule {v.type} vs interp {o.shape}"
    return outs


def check_compiled(g: Graph, inputs, target="llvm", rtol=1e-5, atol=1e-6, expected=None):
    """Compile ``g`` for ``target`` and compare its outputs with the interpreter's."""
    from ..compile import compile_graph
    expected = expected if expected is not None else interp(g, inputs)
    c = compile_graph(g, target)
    got = c(*inputs)
    for i, (a, e) in enumerate(zip(got, expected)):
        assert_close(a, e, rtol, atol, f"{g.name} output {i} on {target}")
    return c


def as_dtype(g: Graph, dtype) -> Graph:
    """``g`` with its floating inputs retyped to ``dtype`` and types re-inferred."""
    dt = DType.parse(dtype)
    b = Builder(g.name)
    m = {}
    for v in g.inputs:
        t = v.type.with_dtype(dt) if v.type.dtype.is_float else v.type
        m[v] = b.input(v.name, t)
    for op in g.ops:
        outs = b.op(op.opname, [m[u] for u in op.inputs], op.attrs, op.name, parsed=True,
                    body=op.body)
        outs = outs if isinstance(outs, tuple) else (outs,)
        for o, n in zip(op.outputs, outs):
            m[o] = n
    return b.build([m[v] for v in g.outputs])


def grad_graph(g: Graph, wrt=None) -> tuple[Graph, Autodiff]:
    ad = Autodiff(wrt=wrt)
    jg = ad.run(InferTypes().run(g, PassContext()), PassContext())
    return jg, ad


def check_grad(g: Graph, inputs, wrt=None, eps=1e-4, rtol=1e-3, atol=1e-5, rng=None):
    """Directional finite-difference check of the autodiff gradient, in float64.

    ``f(x) = sum_i <out_i(x), h_i>`` with random head gradients ``h``; its derivative along a
    random direction ``d`` must equal ``sum <grad(x), d>``. Loss layers are skipped (their
    MXNet gradient is not the derivative of their output).
    """
    rng = rng or np.random.default_rng(1)
    if any(v.op is not None and LOSS in v.op.opdef.traits for v in g.outputs):
        raise ValueError("check_grad: loss layers' gradients are checked against MXNet instead")
    g64 = as_dtype(g, DType.f64)
    names = [v.name for v in g64.inputs]
    float_ins = [n for n, v in zip(names, g64.inputs) if v.type.dtype.is_float]
    wrt = wrt or float_ins
    jg, ad = grad_graph(g64, wrt)
    xs = [np.asarray(x, dtype=np.float64) if v.type.dtype.is_float else np.asarray(x)
          for x, v in zip(inputs, g64.inputs)]
    heads = [rng.standard_normal(v.type.shape) for v in g64.outputs]
    res = interp(jg, xs + heads)
    grads = dict(zip(wrt, res[len(g64.outputs):]))
    d = {n: rng.standard_normal(x.shape) for n, x in zip(names, xs) if n in wrt}

    def f(sign):
        shifted = [x + sign * eps * d[n] if n in d else x for n, x in zip(names, xs)]
        outs = interp(g64, shifted)
        return sum(float(np.sum(o * h)) for o, h in zip(outs, heads))

    numeric = (f(1) - f(-1)) / (2 * eps)
    analytic = sum(float(np.sum(grads[n] * d[n])) for n in wrt)
    if not np.isclose(analytic, numeric, rtol=rtol, atol=atol):
        raise AssertionError(f"{g.name}: directional derivative {analytic:.8g} (autodiff) vs "
                             f"{numeric:.8g} (finite difference)")
    return grads


