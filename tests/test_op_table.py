"""One op table (the golden cases of tools/golden_cases) drives three checks per operator call:

1. the shape/dtype rule equals what the interpreter produces;
2. compiled code (LLVM; the Triton interpreter for a sample) equals the interpreter on fresh
   random inputs drawn by hypothesis;
3. the autodiff gradient equals a finite difference along a random direction (float64).
"""
import functools
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxc as mx
from mxc.ir.interp import interp
from mxc.ir.registry import LOSS, RANDOM, all_ops
from mxc.testing import assert_close, check_grad, check_shape_rule

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from golden_cases import FAMILIES, load_family, make_spd  # noqa: E402

CASES = [(fam, case) for fam in FAMILIES for case in load_family(fam)]
IDS = [f"{fam}/{case.name}" for fam, case in CASES]


def _graph(case, aux_updates=True):
    fn = mx.sym
    for part in case.op.split("."):
        fn = getattr(fn, part)
    sym = fn(**{n: mx.sym.Variable(n) for n in case.inputs}, **case.attrs, name="op")
    from mxc.symbol.convert import to_graph
    sg = to_graph(sym, shapes=dict(case.inputs),
                  dtypes={n: case.dtypes.get(n, "float32") for n in case.inputs},
                  is_train=case.is_train)
    g = sg.graph
    if not aux_updates and sg.aux_updates:
        # new aux-state values (BatchNorm's moving statistics) are not differentiable outputs
        from mxc.ir.core import Graph
        g = Graph(g.name, g.inputs, g.ops, g.outputs[:len(g.outputs) - len(sg.aux_updates)])
    return g


def _inputs(case, g, seed):
    rng = np.random.default_rng(seed)
    out = []
    for v in g.inputs:
        dt = v.type.dtype.numpy
        if v.name in case.ints:
            out.append(rng.integers(0, case.ints[v.name], v.type.shape).astype(dt))
        else:
            lo, hi = case.ranges.get(v.name, (-2.0, 2.0))
            out.append(rng.uniform(lo, hi, v.type.shape).astype(dt))
        if v.name in case.spd:
            out[-1] = make_spd(out[-1])
    return out


@functools.lru_cache(maxsize=None)
def _compiled(idx, target):
    fam, case = CASES[idx]
    from mxc.compile import compile_graph
    return compile_graph(_graph(case), target)


def _random(g):
    return any(RANDOM in op.opdef.traits and op.attrs.get("is_train", True) for op in g.ops)


@pytest.mark.parametrize("idx", range(len(CASES)), ids=IDS)
def test_shape_rule(idx):
    fam, case = CASES[idx]
    g = _graph(case)
    check_shape_rule(g, _inputs(case, g, 0))


@pytest.mark.parametrize("idx", range(len(CASES)), ids=IDS)
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2 ** 31 - 1))
def test_compiled_matches_interp(idx, seed):
    fam, case = CASES[idx]
    g = _graph(case)
    if _random(g):
        pytest.skip("random op: compared statistically elsewhere")
    xs = _inputs(case, g, seed)
    expected = interp(g, xs)
    targets = ["llvm"] + (["triton"] if idx % 4 == 0 and "triton" in case.targets else [])
    for t in targets:
        got = _compiled(idx, t)(*xs)
        for i, (a, e) in enumerate(zip(got, expected)):
            assert_close(a, e, case.rtol, case.atol, f"{IDS[idx]} output {i} ({t})")


@pytest.mark.parametrize("idx", range(len(CASES)), ids=IDS)
def test_finite_difference_gradient(idx):
    fam, case = CASES[idx]
    g = _graph(case, aux_updates=False)
    if not case.grad or case.loss or not case.fd or _random(g):
        pytest.skip("no gradient to check by finite differences for this case")
    if any(v.op is not None and LOSS in v.op.opdef.traits for v in g.outputs):
        pytest.skip("loss layer")
    wrt = [v.name for v in g.inputs if v.type.dtype.is_float and v.name not in case.no_grad
           and v.name not in case.ints]
    if not wrt:
        pytest.skip("no float inputs")
    check_grad(g, _inputs(case, g, 1), wrt=wrt)


def test_every_op_has_its_rules():
    """Registry coverage: every operator has a shape rule, an interpreter, a vjp (or is
    non-differentiable) and a lowering or a decomposition."""
    missing = []
    for name, od in all_ops().items():
        if name == "fused":
            continue
        if od.infer_shape is None:
            missing.append(f"{name}: shape rule")
        if od.interp is None:
            missing.append(f"{name}: interp")
        if od.differentiable and od.vjp is None and od.decompose is None:
            missing.append(f"{name}: vjp (or differentiable=False, or a decomposition)")
        if (od.lower is None) == (od.decompose is None):
            missing.append(f"{name}: exactly one of lower / decompose")
    assert not missing, "operators missing rules:\n" + "\n".join(missing)


def test_operator_table_in_docs_is_current():
    """docs/operators.md lists every operator with its status (tools/gen_op_docs.py)."""
    import subprocess
    r = subprocess.run([sys.executable, os.path.join(HERE, "..", "tools", "gen_op_docs.py"),
                        "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_library_calls_pickle_for_the_compile_cache():
    """Programs are cached with their extern steps: the functions must be importable."""
    import pickle

    from mxc.ir.registry import Extern
    bad = []
    for name, od in all_ops().items():
        if isinstance(od.lower, Extern):
            for what in ("fn", "split"):
                obj = getattr(od.lower, what)
                if obj is None:
                    continue
                try:
                    pickle.dumps(obj)
                except Exception as e:  # noqa: BLE001
                    bad.append(f"{name}.{what}: {e}")
    assert not bad, "\n".join(bad)
