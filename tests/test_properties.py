"""Property tests on random graphs (mxc.testing.strategies): every pass and every fusion and
memory-planning decision preserves results against the interpreter; no two live buffers share
arena bytes; the text form round-trips; bad inputs raise the documented errors."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mxc.base import MXNetError
from mxc.codegen.program import build_program
from mxc.compile import compile_graph, default_passes
from mxc.ir import interp, parse, verify
from mxc.passes.base import PassContext, Pipeline
from mxc.passes.memory import liveness, plan_memory
from mxc.testing import assert_close
from mxc.testing.strategies import graphs, inputs_for

SETTINGS = settings(max_examples=int(__import__("os").environ.get("MXC_PROP_EXAMPLES", 40)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _check_no_overlap(prog):
    live = liveness(prog)
    spans = [(prog.buffers[b].offset, prog.buffers[b].offset + prog.buffers[b].nbytes, s, e, b)
             for b, (s, e) in live.items()]
    for i, (o1, e1, s1, t1, b1) in enumerate(spans):
        for o2, e2, s2, t2, b2 in spans[i + 1:]:
            if s1 <= t2 and s2 <= t1:                   # both live at some step
                assert e1 <= o2 or e2 <= o1, f"buffers {b1} and {b2} overlap while live"
    for b in prog.temps():
        assert b.offset is not None and b.offset + b.nbytes <= prog.arena_bytes
        if b.view_of is not None:                 # inside its root's bytes
            root = prog.buffers[b.view_of[0]]
            assert root.offset <= b.offset and b.offset + b.nbytes <= root.offset + root.nbytes


@SETTINGS
@given(graphs(), st.integers(0, 2 ** 31 - 1))
def test_compiled_equals_interp_and_plan_is_sound(g, seed):
    xs = inputs_for(g, seed)
    with np.errstate(all="ignore"):
        expected = interp(g, xs)
    c = compile_graph(g, "llvm")
    _check_no_overlap(c.program)
    with np.errstate(all="ignore"):
        got = c(*xs)
    for i, (a, e) in enumerate(zip(got, expected)):
        assert_close(a, e, 2e-5, 2e-5, f"output {i}")


@SETTINGS
@given(graphs(max_ops=8), st.integers(0, 2 ** 31 - 1))
def test_every_pass_preserves_results(g, seed):
    xs = inputs_for(g, seed)
    ctx = PassContext(verify=True)
    pipe = Pipeline(default_passes())
    pipe.run(g, ctx)
    with np.errstate(all="ignore"):
        expected = interp(g, xs)
        for stage in pipe.stages:
            text = str(stage.graph)
            assert str(parse(text)) == text
            verify(stage.graph)
            for i, (a, e) in enumerate(zip(interp(stage.graph, xs), expected)):
                assert_close(a, e, 2e-5, 2e-5, f"after {stage.name}, output {i}")


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(graphs(max_ops=6), st.integers(0, 2 ** 31 - 1))
def test_triton_equals_interp(g, seed):
    xs = inputs_for(g, seed)
    with np.errstate(all="ignore"):
        expected = interp(g, xs)
        got = compile_graph(g, "triton")(*xs)
    for i, (a, e) in enumerate(zip(got, expected)):
        assert_close(a, e, 2e-5, 2e-5, f"output {i} (triton)")


@SETTINGS
@given(graphs(max_ops=10))
def test_memory_plan_with_and_without_reuse_never_overlaps(g):
    from mxc.compile import compile_graph as cg
    c = cg(g)
    for reuse in (True, False):
        prog = plan_memory(build_program(c.graph, no_reuse=not reuse))
        _check_no_overlap(prog)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["FullyConnected", "Activation", "sum", "transpose", "Reshape",
                        "softmax", "broadcast_to", "expand_dims", "dot"]),
       st.dictionaries(st.sampled_from(["num_hidden", "act_type", "axis", "axes", "shape",
                                        "keepdims", "transpose_a", "no_bias"]),
                       st.one_of(st.integers(-3, 5), st.text(max_size=4),
                                 st.tuples(st.integers(-2, 4), st.integers(-2, 4)),
                                 st.booleans()), max_size=3),
       st.lists(st.lists(st.integers(1, 4), min_size=1, max_size=3), min_size=1, max_size=3))
def test_bad_attrs_and_shapes_raise_mxnet_errors(op, attrs, in_shapes):
    from mxc.testing import op_graph
    try:
        op_graph(op, [tuple(s) for s in in_shapes], attrs)
    except MXNetError:
        pass
    except (TypeError, ValueError) as e:      # arity mistakes in the test's own call
        if "takes inputs" not in str(e):
            raise
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{op} {attrs} {in_shapes}: {type(e).__name__}: {e}")
