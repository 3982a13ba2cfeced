"""IR snapshots of the hard passes: fuse, autodiff, batch_dots, conv_gemm and memory planning.

Each case is a small graph in the IR's text form, the pass run on it, and the result compared
with an expected text (itself parsed back: snapshots round-trip), as tests/test_passes.py does
for DCE, CSE and simplify. The facts that matter are asserted structurally as well (which ops
each kernel holds, which inputs and outputs a gradient graph has, how many GEMMs, which buffers
share storage), so a snapshot that changes for a cosmetic reason says what still holds. Where a
pass rewrites math, the interpreter checks that the result is unchanged.

To update a snapshot after an intended change, print the pass's output and read it against
the structural assertions before pasting it here.
"""
import numpy as np
import pytest

from mxc.codegen.program import build_program
from mxc.ir import interp, parse, verify
from mxc.passes.autodiff import Autodiff
from mxc.passes.base import PassContext
from mxc.passes.batch_dots import BatchDots
from mxc.passes.conv_gemm import ConvToGemm
from mxc.passes.dce import DCE
from mxc.passes.fuse import Fuse
from mxc.passes.memory import ALIGN, liveness, plan_memory


# -- helpers ------------------------------------------------------------------------------------
def _parse(text):
    """The graph of ``text``, which must be canonical (it prints back unchanged) and well typed."""
    g = parse(text, check_types=True)
    assert str(g) == text, f"not canonical; the printer gives:\n{g}"
    verify(g)
    return g


def _run(p, text, target="cpu", options=None):
    """Run pass ``p`` on ``text``; the result verifies and round-trips, the input is unchanged."""
    g = _parse(text)
    ctx = PassContext(target=target)
    ctx.options.update(options or {})
    out = p(g, ctx)
    verify(out)
    s = str(out)
    assert str(parse(s)) == s, "snapshot does not round-trip"
    assert str(g) == text, "the pass changed its input graph"
    return g, out, ctx


def _inputs(g, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 1.5, v.type.shape).astype(v.type.dtype.np_name) for v in g.inputs]


def _same_results(a, b, rtol=1e-5, atol=1e-6):
    xs = _inputs(a)
    for got, want in zip(interp(b, xs), interp(a, xs)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def _kernels(g):
    """[(kernel name, [op names in its body])] of a fused graph, in program order."""
    return [(op.attrs["kernel"], [o.opname for o in op.body.ops]) for op in g.ops
            if op.opname == "fused"]


def _library_calls(g):
    return [op.opname for op in g.ops if op.opname != "fused"]


def _remarks(ctx, what=None):
    return [r.message for r in ctx.remarks if what is None or r.what == what]


# -- fuse ---------------------------------------------------------------------------------------
FUSE_GEMM_IN = """\
graph @g(%x: f32[4,8], %w: f32[8,8]) {
  %a = exp(%x) : f32[4,8]
  %b = _mul_scalar(%a) {scalar=2.0} : f32[4,8]
  %mm = dot(%b, %w) : f32[4,8]
  %r = relu(%mm) : f32[4,8]
  %s = sum(%r) {axis=(1,)} : f32[4]
  return %s
}
"""
FUSE_GEMM_OUT = """\
graph @g(%x: f32[4,8], %w: f32[8,8]) {
  %b = fused(%x) {kernel="k0_a_b"} : f32[4,8] {
    graph @k0_a_b(%x: f32[4,8]) {
      %a = exp(%x) : f32[4,8]
      %b = _mul_scalar(%a) {scalar=2.0} : f32[4,8]
      return %b
    }
  }
  %mm = dot(%b, %w) : f32[4,8]
  %s = fused(%mm) {kernel="k1_r_s"} : f32[4] {
    graph @k1_r_s(%mm: f32[4,8]) {
      %r = relu(%mm) : f32[4,8]
      %s = sum(%r) {axis=(1,)} : f32[4]
      return %s
    }
  }
  return %s
}
"""


def test_fuse_prologue_and_epilogue_around_a_gemm():
    # the GEMM's operand and result are materialized; the work before and after it (down to
    # the reduction) becomes one kernel each
    g, out, ctx = _run(Fuse(), FUSE_GEMM_IN)
    assert str(out) == FUSE_GEMM_OUT
    assert _kernels(out) == [("k0_a_b", ["exp", "_mul_scalar"]), ("k1_r_s", ["relu", "sum"])]
    assert _library_calls(out) == ["dot"]
    assert _remarks(ctx, "materialize") == [
        "%b (_mul_scalar 'b'): operand of library call dot 'mm'"]
    _same_results(g, out)


FUSE_SOFTMAX_IN = """\
graph @g(%x: f32[4,8]) {
  %m = max(%x) {axis=(1,), keepdims=true} : f32[4,1]
  %d = broadcast_sub(%x, %m) : f32[4,8]
  %e = exp(%d) : f32[4,8]
  %s = sum(%e) {axis=(1,), keepdims=true} : f32[4,1]
  %y = broadcast_div(%e, %s) : f32[4,8]
  return %y
}
"""
FUSE_SOFTMAX_OUT = """\
graph @g(%x: f32[4,8]) {
  %y = fused(%x) {kernel="k0_m_d_e_etc"} : f32[4,8] {
    graph @k0_m_d_e_etc(%x: f32[4,8]) {
      %m = max(%x) {axis=(1,), keepdims=true} : f32[4,1]
      %d = broadcast_sub(%x, %m) : f32[4,8]
      %e = exp(%d) : f32[4,8]
      %s = sum(%e) {axis=(1,), keepdims=true} : f32[4,1]
      %y = broadcast_div(%e, %s) : f32[4,8]
      return %y
    }
  }
  return %y
}
"""


def test_fuse_row_softmax_is_one_kernel():
    # both reductions run over the same rows and are read at their own grid point: one kernel,
    # nothing stored but the result
    g, out, ctx = _run(Fuse(), FUSE_SOFTMAX_IN)
    assert str(out) == FUSE_SOFTMAX_OUT
    assert len(_kernels(out)) == 1 and _library_calls(out) == []
    assert _remarks(ctx) == []
    _same_results(g, out)


FUSE_TRANSPOSED_IN = """\
graph @g(%x: f32[4,4]) {
  %m = max(%x) {axis=(1,), keepdims=true} : f32[4,1]
  %d = broadcast_sub(%x, %m) : f32[4,4]
  %t = transpose(%d) : f32[4,4]
  return %t
}
"""
FUSE_TRANSPOSED_OUT = """\
graph @g(%x: f32[4,4]) {
  %m = fused(%x) {kernel="k0_m"} : f32[4,1] {
    graph @k0_m(%x: f32[4,4]) {
      %m = max(%x) {axis=(1,), keepdims=true} : f32[4,1]
      return %m
    }
  }
  %t = fused(%x, %m) {kernel="k1_d_t"} : f32[4,4] {
    graph @k1_d_t(%x: f32[4,4], %m: f32[4,1]) {
      %d = broadcast_sub(%x, %m) : f32[4,4]
      %t = transpose(%d) : f32[4,4]
      return %t
    }
  }
  return %t
}
"""


def test_fuse_reduction_read_off_its_grid_point_is_materialized():
    # transpose(x - max(x, rows)) of a square x: every shape fits one kernel, but output point
    # (i, j) needs row j's max; the max gets a kernel of its own and is loaded where needed
    g, out, ctx = _run(Fuse(), FUSE_TRANSPOSED_IN)
    assert str(out) == FUSE_TRANSPOSED_OUT
    assert _kernels(out) == [("k0_m", ["max"]), ("k1_d_t", ["broadcast_sub", "transpose"])]
    (why,) = _remarks(ctx, "materialize")
    assert why.startswith("%m (max 'm'): read off its grid point") and "transpose 't'" in why
    assert any("not at its own grid point" in r for r in _remarks(ctx, "no-merge"))
    _same_results(g, out)


FUSE_SHARED_IN = """\
graph @g(%x: f32[8,8]) {
  %a = tanh(%x) : f32[8,8]
  %b = tanh(%a) : f32[8,8]
  %m = max(%b) {axis=(1,)} : f32[8]
  %t = transpose(%b) : f32[8,8]
  return %m, %t
}
"""
FUSE_SHARED_OUT = """\
graph @g(%x: f32[8,8]) {
  %b, %m = fused(%x) {kernel="k0_a_b_m", num_outputs=2} : f32[8,8], f32[8] {
    graph @k0_a_b_m(%x: f32[8,8]) {
      %a = tanh(%x) : f32[8,8]
      %b = tanh(%a) : f32[8,8]
      %m = max(%b) {axis=(1,)} : f32[8]
      return %b, %m
    }
  }
  %t = fused(%b) {kernel="k1_t"} : f32[8,8] {
    graph @k1_t(%b: f32[8,8]) {
      %t = transpose(%b) : f32[8,8]
      return %t
    }
  }
  return %m, %t
}
"""


def test_fuse_shared_expensive_value_is_stored_once_not_recomputed():
    # tanh(tanh(x)) (cost 20 > recompute_limit 8) feeds two kernels: it is stored by the kernel
    # computing the max, and the transpose is not merged in (it reads b at (j, i): merged, the
    # two tanh would be computed again there)
    g, out, ctx = _run(Fuse(), FUSE_SHARED_IN)
    assert str(out) == FUSE_SHARED_OUT
    assert _kernels(out) == [("k0_a_b_m", ["tanh", "tanh", "max"]), ("k1_t", ["transpose"])]
    assert _remarks(ctx, "materialize") == [
        "%b (tanh 'b'): needed by 2 kernels; recomputing costs 20"]
    (no_merge,) = _remarks(ctx, "no-merge")
    assert "written at [g0, r0] but read at [r0, g0]" in no_merge
    _same_results(g, out)


FUSE_SIBLINGS_IN = """\
graph @g(%x: f32[4,8]) {
  %a = exp(%x) : f32[4,8]
  %b = log(%x) : f32[4,8]
  return %a, %b
}
"""
FUSE_SIBLINGS_OUT = """\
graph @g(%x: f32[4,8]) {
  %a, %b = fused(%x) {kernel="k0_a_b", num_outputs=2} : f32[4,8], f32[4,8] {
    graph @k0_a_b(%x: f32[4,8]) {
      %a = exp(%x) : f32[4,8]
      %b = log(%x) : f32[4,8]
      return %a, %b
    }
  }
  return %a, %b
}
"""
FUSE_SIBLINGS_UNMERGED = """\
graph @g(%x: f32[4,8]) {
  %a = fused(%x) {kernel="k0_a"} : f32[4,8] {
    graph @k0_a(%x: f32[4,8]) {
      %a = exp(%x) : f32[4,8]
      return %a
    }
  }
  %b = fused(%x) {kernel="k1_b"} : f32[4,8] {
    graph @k1_b(%x: f32[4,8]) {
      %b = log(%x) : f32[4,8]
      return %b
    }
  }
  return %a, %b
}
"""


def test_fuse_siblings_reading_one_buffer_merge_into_a_multi_output_kernel():
    g, out, _ = _run(Fuse(), FUSE_SIBLINGS_IN)
    assert str(out) == FUSE_SIBLINGS_OUT
    assert _kernels(out) == [("k0_a_b", ["exp", "log"])]
    assert out.ops[0].attrs["num_outputs"] == 2
    _same_results(g, out)
    # the unfused mode of default_passes(fuse=False): one kernel per materialized value
    _, apart, _ = _run(Fuse(recompute_limit=0, merge=False), FUSE_SIBLINGS_IN)
    assert str(apart) == FUSE_SIBLINGS_UNMERGED


def test_fuse_skips_merging_in_graphs_over_the_unit_bound():
    # the merge phase's cost grows with the square of the units: above merge_max_units the
    # kernels stay apart, and a remark says why
    _, out, ctx = _run(Fuse(merge_max_units=1), FUSE_SIBLINGS_IN)
    assert str(out) == FUSE_SIBLINGS_UNMERGED
    assert _remarks(ctx, "no-merge") == [
        "@g: 2 kernels and library calls, over merge_max_units=1: kernels are not merged"]


# a training graph as autodiff + decompose + cse + dce leave it: y = sum(tanh(x @ w)), dw
FUSE_PHASES_IN = """\
graph @g(%x: f32[4,8], %w: f32[8,8], %y_head_grad: f32[1]) attributes {forward_outputs=1} {
  %h = dot(%x, %w) : f32[4,8]
  %e = tanh(%h) : f32[4,8]
  %y = sum(%e) : f32[1]
  %0 = Reshape(%y_head_grad) {shape=(1, 1)} : f32[1,1]
  %1 = broadcast_to(%0) {shape=(4, 8)} : f32[4,8]
  %2 = square(%e) : f32[4,8]
  %3 = _rminus_scalar(%2) : f32[4,8]
  %4 = elemwise_mul(%1, %3) : f32[4,8]
  %w_grad = dot(%x, %4) {transpose_a=true} : f32[8,8]
  return %y, %w_grad
}
"""
FUSE_PHASES_OUT = """\
graph @g(%x: f32[4,8], %w: f32[8,8], %y_head_grad: f32[1]) attributes {forward_outputs=1} {
  %h = dot(%x, %w) : f32[4,8]
  %e, %y = fused(%h) {kernel="k0_e_y", num_outputs=2} : f32[4,8], f32[1] {
    graph @k0_e_y(%h: f32[4,8]) {
      %e = tanh(%h) : f32[4,8]
      %y = sum(%e) : f32[1]
      return %e, %y
    }
  }
  %4 = fused(%y_head_grad, %e) {kernel="k1_elemwise_mul"} : f32[4,8] {
    graph @k1_elemwise_mul(%y_head_grad: f32[1], %e: f32[4,8]) {
      %0 = Reshape(%y_head_grad) {shape=(1, 1)} : f32[1,1]
      %1 = broadcast_to(%0) {shape=(4, 8)} : f32[4,8]
      %2 = square(%e) : f32[4,8]
      %3 = _rminus_scalar(%2) : f32[4,8]
      %4 = elemwise_mul(%1, %3) : f32[4,8]
      return %4
    }
  }
  %w_grad = dot(%x, %4) {transpose_a=true} : f32[8,8]
  return %y, %w_grad
}
"""


def test_fuse_keeps_forward_and_backward_kernels_apart():
    # the runtime runs the forward steps at forward() and the rest at backward(): a kernel may
    # not mix them. The phase comes from the graph attribute forward_outputs (set by Autodiff).
    g, out, _ = _run(Fuse(), FUSE_PHASES_IN)
    assert str(out) == FUSE_PHASES_OUT
    assert _kernels(out) == [("k0_e_y", ["tanh", "sum"]),
                             ("k1_elemwise_mul", ["Reshape", "broadcast_to", "square",
                                                  "_rminus_scalar", "elemwise_mul"])]
    # the forward kernel stores tanh(h) for the backward one
    assert [v.name for v in out.ops[1].outputs] == ["e", "y"]
    _same_results(g, out)
    # without the phase, the same graph merges forward and backward work into one kernel
    _, joint, _ = _run(Fuse(), FUSE_PHASES_IN.replace(" attributes {forward_outputs=1}", ""))
    assert len(_kernels(joint)) == 1
    assert [v.name for v in joint.ops[1].outputs] == ["y", "4"]


# -- autodiff -----------------------------------------------------------------------------------
AD_MUL_IN = """\
graph @g(%x: f32[3], %w: f32[3]) {
  %e = exp(%x) : f32[3]
  %y = elemwise_mul(%e, %w) : f32[3]
  return %y
}
"""
AD_MUL_OUT = """\
graph @g(%x: f32[3], %w: f32[3], %y_head_grad: f32[3]) attributes {forward_outputs=1, head_grads=(("y_head_grad", 0),)} {
  %e = exp(%x) : f32[3]
  %y = elemwise_mul(%e, %w) : f32[3]
  %0 = elemwise_mul(%y_head_grad, %w) : f32[3]
  %w_grad = elemwise_mul(%y_head_grad, %e) : f32[3]
  %x_grad = elemwise_mul(%0, %e) : f32[3]
  return %y, %x_grad, %w_grad
}
"""


def test_autodiff_joint_graph_shape():
    # graph(x, w) -> y becomes graph(x, w, y_head_grad) -> (y, dx, dw): forward ops first and
    # unchanged, then each op's vjp in reverse order; exp's vjp reuses the forward's exp
    ad = Autodiff(wrt=["x", "w"])
    _, out, ctx = _run(ad, AD_MUL_IN)
    assert str(out) == AD_MUL_OUT
    assert [v.name for v in out.inputs] == ["x", "w", "y_head_grad"]
    assert [v.name for v in out.outputs] == ["y", "x_grad", "w_grad"]
    assert [o.opname for o in out.ops[:2]] == ["exp", "elemwise_mul"]
    assert out.attrs == {"forward_outputs": 1, "head_grads": (("y_head_grad", 0),)}
    x, w, h = _inputs(out)
    _, dx, dw = interp(out, [x, w, h])
    np.testing.assert_allclose(dx, h * w * np.exp(x), rtol=1e-6)
    np.testing.assert_allclose(dw, h * np.exp(x), rtol=1e-6)


AD_SQUARE_IN = """\
graph @g(%x: f32[3]) {
  %y = elemwise_mul(%x, %x) : f32[3]
  return %y
}
"""
AD_SQUARE_OUT = """\
graph @g(%x: f32[3], %y_head_grad: f32[3]) attributes {forward_outputs=1, head_grads=(("y_head_grad", 0),)} {
  %y = elemwise_mul(%x, %x) : f32[3]
  %0 = elemwise_mul(%y_head_grad, %x) : f32[3]
  %1 = elemwise_mul(%y_head_grad, %x) : f32[3]
  %x_grad = elemwise_add(%0, %1) : f32[3]
  return %y, %x_grad
}
"""


def test_autodiff_sums_the_gradients_of_a_value_read_twice():
    # x * x: the vjp gives x one gradient per use; autodiff adds them (CSE later shares the
    # two identical products)
    _, out, _ = _run(Autodiff(wrt=["x"]), AD_SQUARE_IN)
    assert str(out) == AD_SQUARE_OUT
    x, h = _inputs(out)
    np.testing.assert_allclose(interp(out, [x, h])[1], 2 * x * h, rtol=1e-6)


AD_BIAS_IN = """\
graph @g(%x1: f32[2,4], %x2: f32[2,4], %w: f32[3,4], %b: f32[3]) {
  %f1 = FullyConnected(%x1, %w, %b) {num_hidden=3} : f32[2,3]
  %f2 = FullyConnected(%x2, %w, %b) {num_hidden=3} : f32[2,3]
  %y = elemwise_mul(%f1, %f2) : f32[2,3]
  return %y
}
"""
AD_BIAS_OUT = """\
graph @g(%x1: f32[2,4], %x2: f32[2,4], %w: f32[3,4], %b: f32[3], %y_head_grad: f32[2,3]) attributes {forward_outputs=1, head_grads=(("y_head_grad", 0),)} {
  %f1 = FullyConnected(%x1, %w, %b) {num_hidden=3} : f32[2,3]
  %f2 = FullyConnected(%x2, %w, %b) {num_hidden=3} : f32[2,3]
  %y = elemwise_mul(%f1, %f2) : f32[2,3]
  %0 = elemwise_mul(%y_head_grad, %f2) : f32[2,3]
  %1 = elemwise_mul(%y_head_grad, %f1) : f32[2,3]
  %2 = elemwise_add(%1, %0) : f32[2,3]
  %b_grad = sum(%2) {axis=(0,)} : f32[3]
  return %y, %b_grad
}
"""


def test_autodiff_sums_a_shared_bias_once():
    # a bias read by two layers (every step of an unrolled network) gets its two batch sums
    # as one: sum(a) + sum(b) -> sum(a + b), one reduction instead of one per reader
    g = _parse(AD_BIAS_IN)
    out = DCE()(Autodiff(wrt=["b"])(g, PassContext()), PassContext())
    assert str(out) == AD_BIAS_OUT
    assert [o.opname for o in out.ops].count("sum") == 1
    x1, x2, w, b, h = _inputs(out)
    _, db = interp(out, [x1, x2, w, b, h])
    f1, f2 = x1 @ w.T + b, x2 @ w.T + b
    np.testing.assert_allclose(db, (h * f2 + h * f1).sum(0), rtol=1e-5)


AD_LOSS_IN = """\
graph @g(%x: f32[2,3], %w: f32[4,3], %label: f32[2]) {
  %fc = FullyConnected(%x, %w) {num_hidden=4, no_bias=true} : f32[2,4]
  %sm = SoftmaxOutput(%fc, %label) : f32[2,4]
  return %sm
}
"""
AD_LOSS_OUT = """\
graph @g(%x: f32[2,3], %w: f32[4,3], %label: f32[2]) attributes {forward_outputs=1} {
  %fc = FullyConnected(%x, %w) {num_hidden=4, no_bias=true} : f32[2,4]
  %sm = SoftmaxOutput(%fc, %label) : f32[2,4]
  %0 = Reshape(%label) {shape=(2, 1)} : f32[2,1]
  %1 = _arange() {start=0.0, stop=4.0} : f32[4]
  %2 = broadcast_equal(%0, %1) : f32[2,4]
  %3 = Reshape(%label) {shape=(2, 1)} : f32[2,1]
  %4 = elemwise_sub(%sm, %2) : f32[2,4]
  %x_grad = dot(%4, %w) : f32[2,3]
  %w_grad = dot(%4, %x) {transpose_a=true} : f32[4,3]
  %label_grad = zeros_like(%label) : f32[2]
  return %sm, %x_grad, %w_grad, %label_grad
}
"""


def test_autodiff_loss_layer_takes_no_head_gradient():
    # SoftmaxOutput ignores the head gradient (MXNet): no head input; its gradient is
    # softmax - one_hot(label), pushed through FullyConnected's vjp (two GEMMs); the label gets
    # zeros. (%3 is an unused Reshape the SoftmaxOutput vjp builds; DCE removes it.)
    ad = Autodiff()
    _, out, _ = _run(ad, AD_LOSS_IN)
    assert str(out) == AD_LOSS_OUT
    assert "head_grads" not in out.attrs and [v.name for v in out.inputs] == ["x", "w", "label"]
    assert [o.opname for o in out.ops].count("dot") == 2
    x, w = _inputs(out)[:2]
    label = np.array([1, 3], np.float32)
    sm, dx, dw, dl = interp(out, [x, w, label])
    d = sm - np.eye(4, dtype=np.float32)[[1, 3]]
    np.testing.assert_allclose(dx, d @ w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dw, d.T @ x, rtol=1e-5, atol=1e-6)
    assert not dl.any()


AD_BLOCK_IN = """\
graph @g(%x: f32[3], %z: f32[3]) {
  %b = BlockGrad(%z) : f32[3]
  %y = elemwise_add(%x, %b) : f32[3]
  return %y
}
"""
AD_BLOCK_OUT = """\
graph @g(%x: f32[3], %z: f32[3], %y_head_grad: f32[3]) attributes {forward_outputs=1, head_grads=(("y_head_grad", 0),)} {
  %b = BlockGrad(%z) : f32[3]
  %y = elemwise_add(%x, %b) : f32[3]
  %z_grad = zeros_like(%z) : f32[3]
  return %y, %y_head_grad, %z_grad
}
"""


def test_autodiff_blockgrad_stops_the_gradient():
    # dx is the head gradient itself (an input returned as an output: build_program copies
    # it); BlockGrad's input gets zeros
    _, out, _ = _run(Autodiff(wrt=["x", "z"]), AD_BLOCK_IN)
    assert str(out) == AD_BLOCK_OUT
    assert out.outputs[1] is out.inputs[2]


# -- batch_dots ---------------------------------------------------------------------------------
BD_ROWS_IN = """\
graph @g(%x0: f32[2,4], %x1: f32[2,4], %x2: f32[3,4], %w: f32[4,5]) {
  %y0 = dot(%x0, %w) : f32[2,5]
  %y1 = dot(%x1, %w) : f32[2,5]
  %y2 = dot(%x2, %w) : f32[3,5]
  %s = elemwise_add(%y0, %y1) : f32[2,5]
  return %s, %y2
}
"""
BD_ROWS_OUT = """\
graph @g(%x0: f32[2,4], %x1: f32[2,4], %x2: f32[3,4], %w: f32[4,5]) {
  %0 = Concat(%x0, %x1, %x2) {num_args=3, dim=0} : f32[7,4]
  %1 = dot(%0, %w) : f32[7,5]
  %2 = slice_axis(%1) {axis=0, begin=0, end=2} : f32[2,5]
  %3 = slice_axis(%1) {axis=0, begin=2, end=4} : f32[2,5]
  %s = elemwise_add(%2, %3) : f32[2,5]
  %4 = slice_axis(%1) {axis=0, begin=4, end=7} : f32[3,5]
  return %s, %4
}
"""


def test_batch_dots_shared_right_operand_becomes_one_gemm():
    # [x0; x1; x2] @ w, split back into row blocks (views, which fuse)
    g, out, ctx = _run(BatchDots(), BD_ROWS_IN)
    assert str(out) == BD_ROWS_OUT
    assert [o.opname for o in out.ops].count("dot") == 1
    assert [(o.attrs["begin"], o.attrs["end"]) for o in out.ops if o.opname == "slice_axis"] \
        == [(0, 2), (2, 4), (4, 7)]
    assert _remarks(ctx, "batched") == ["3 products with %w -> one GEMM"]
    _same_results(g, out)


BD_SUM_IN = """\
graph @g(%a0: f32[2,4], %a1: f32[2,4], %b0: f32[2,3], %b1: f32[2,3]) {
  %p0 = dot(%a0, %b0) {transpose_a=true} : f32[4,3]
  %p1 = dot(%a1, %b1) {transpose_a=true} : f32[4,3]
  %dw = elemwise_add(%p0, %p1) : f32[4,3]
  return %dw
}
"""
BD_SUM_OUT = """\
graph @g(%a0: f32[2,4], %a1: f32[2,4], %b0: f32[2,3], %b1: f32[2,3]) {
  %0 = Concat(%a0, %a1) {num_args=2, dim=0} : f32[4,4]
  %1 = Concat(%b0, %b1) {num_args=2, dim=0} : f32[4,3]
  %dw = dot(%0, %1) {transpose_a=true} : f32[4,3]
  return %dw
}
"""


def test_batch_dots_sum_of_products_becomes_one_gemm():
    # a0^T b0 + a1^T b1 = [a0; a1]^T [b0; b1]: an RNN's weight gradient over time steps
    g, out, ctx = _run(BatchDots(), BD_SUM_IN)
    assert str(out) == BD_SUM_OUT
    (dot,) = [o for o in out.ops if o.opname == "dot"]
    assert dot.attrs["transpose_a"] and not any(o.opname == "elemwise_add" for o in out.ops)
    assert _remarks(ctx, "batched") == ["a sum of 2 products (dw) -> one GEMM"]
    _same_results(g, out)


BD_CHAIN_IN = """\
graph @g(%x: f32[4,4], %w: f32[4,4]) {
  %h1 = dot(%x, %w) : f32[4,4]
  %h2 = dot(%h1, %w) : f32[4,4]
  return %h2
}
"""


def test_batch_dots_leaves_dependent_products_alone():
    # h2 reads h1 (an RNN's recurrent products): they cannot be one GEMM
    _, out, ctx = _run(BatchDots(), BD_CHAIN_IN)
    assert str(out) == BD_CHAIN_IN and ctx.remarks == []


# -- conv_gemm ----------------------------------------------------------------------------------
CONV_IN = """\
graph @g(%x: f32[2,3,5,5], %w: f32[4,3,3,3], %b: f32[4]) {
  %c = Convolution(%x, %w, %b) {kernel=(3, 3), pad=(1, 1), num_filter=4} : f32[2,4,5,5]
  %r = relu(%c) : f32[2,4,5,5]
  return %r
}
"""
CONV_OUT = """\
graph @g(%x: f32[2,3,5,5], %w: f32[4,3,3,3], %b: f32[4]) {
  %0 = Reshape(%b) {shape=(1, 4, 1, 1)} : f32[1,4,1,1]
  %1 = Reshape(%w) {shape=(4, -1)} : f32[4,27]
  %2 = _im2col(%x) {kernel=(3, 3), stride=(1, 1), dilate=(1, 1), pad=(1, 1)} : f32[3,3,3,2,5,5]
  %3 = Reshape(%2) {shape=(27, 50)} : f32[27,50]
  %4 = dot(%1, %3) : f32[4,50]
  %5 = Reshape(%4) {shape=(4, 2, 5, 5)} : f32[4,2,5,5]
  %6 = transpose(%5) {axes=(1, 0, 2, 3)} : f32[2,4,5,5]
  %c = broadcast_add(%6, %0) : f32[2,4,5,5]
  %r = relu(%c) : f32[2,4,5,5]
  return %r
}
"""


def test_conv_gemm_forward_is_an_im2col_view_and_one_gemm():
    # y = transpose(W (F, C*K*K) @ cols (C*K*K, N*OH*OW)) + bias
    g, out, ctx = _run(ConvToGemm(), CONV_IN)
    assert str(out) == CONV_OUT
    ops = [o.opname for o in out.ops]
    assert ops.count("_im2col") == 1 and ops.count("dot") == 1
    assert "Convolution" not in ops
    (dot,) = [o for o in out.ops if o.opname == "dot"]
    assert [i.op.opname for i in dot.inputs] == ["Reshape", "Reshape"]
    assert dot.inputs[1].op.inputs[0].op.opname == "_im2col"
    assert _remarks(ctx, "gemm") == ["Convolution 'c': im2col + GEMM"]
    _same_results(g, out, rtol=1e-5, atol=1e-5)


def test_conv_gemm_is_cpu_only_and_keeps_grouped_convolutions():
    _, out, ctx = _run(ConvToGemm(), CONV_IN, target="triton")
    assert str(out) == CONV_IN and ctx.remarks == []           # cuDNN on the GPU
    grouped = """\
graph @g(%x: f32[2,4,5,5], %w: f32[4,2,3,3]) {
  %c = Convolution(%x, %w) {kernel=(3, 3), num_filter=4, num_group=2, no_bias=true} : f32[2,4,3,3]
  return %c
}
"""
    _, out, ctx = _run(ConvToGemm(), grouped)
    assert str(out) == grouped
    assert _remarks(ctx, "keep") == ["Convolution 'c': library call (grouped convolution)"]


CONV_BLOCKS_OUT = """\
graph @g(%x: f32[2,3,5,5], %w: f32[4,3,3,3], %b: f32[4]) {
  %0 = Reshape(%b) {shape=(1, 4, 1, 1)} : f32[1,4,1,1]
  %1 = Reshape(%w) {shape=(4, -1)} : f32[4,27]
  %2 = slice_axis(%x) {axis=0, begin=0, end=1} : f32[1,3,5,5]
  %3 = _im2col(%2) {kernel=(3, 3), stride=(1, 1), dilate=(1, 1), pad=(1, 1)} : f32[3,3,3,1,5,5]
  %4 = Reshape(%3) {shape=(27, 25)} : f32[27,25]
  %5 = dot(%1, %4) : f32[4,25]
  %6 = Reshape(%5) {shape=(4, 1, 5, 5)} : f32[4,1,5,5]
  %7 = transpose(%6) {axes=(1, 0, 2, 3)} : f32[1,4,5,5]
  %8 = broadcast_add(%7, %0) : f32[1,4,5,5]
  %9 = slice_axis(%x) {axis=0, begin=1, end=2} : f32[1,3,5,5]
  %10 = _im2col(%9) {kernel=(3, 3), stride=(1, 1), dilate=(1, 1), pad=(1, 1)} : f32[3,3,3,1,5,5]
  %11 = Reshape(%10) {shape=(27, 25)} : f32[27,25]
  %12 = dot(%1, %11) : f32[4,25]
  %13 = Reshape(%12) {shape=(4, 1, 5, 5)} : f32[4,1,5,5]
  %14 = transpose(%13) {axes=(1, 0, 2, 3)} : f32[1,4,5,5]
  %15 = broadcast_add(%14, %0) : f32[1,4,5,5]
  %r = relu(%8) : f32[1,4,5,5]
  %r_1 = relu(%15) : f32[1,4,5,5]
  %r_2 = Concat(%r, %r_1) {num_args=2, dim=0} : f32[2,4,5,5]
  return %r_2
}
"""


def test_conv_gemm_batch_blocks_and_the_activation_moves_into_them():
    # columns over chunk_bytes: one im2col + GEMM per batch block, the relu runs per block and
    # the blocks are concatenated once (build_program writes them in place)
    g, out, ctx = _run(ConvToGemm(chunk_bytes=1000), CONV_IN)
    assert str(out) == CONV_BLOCKS_OUT
    ops = [o.opname for o in out.ops]
    assert ops.count("_im2col") == 2 and ops.count("dot") == 2 and ops.count("relu") == 2
    assert out.outputs[0].op.opname == "Concat"
    assert _remarks(ctx, "gemm") == ["Convolution 'c': im2col + GEMM in 2 batch blocks"]
    _same_results(g, out, rtol=1e-5, atol=1e-5)


CONV_BWD_IN = """\
graph @g(%x: f32[2,3,5,5], %w: f32[4,3,3,3], %dy: f32[2,4,3,3]) {
  %dx = _conv_backward_data(%dy, %w) {stride=(1, 1), dilate=(1, 1), pad=(0, 0), \
out_shape=(2, 3, 5, 5)} : f32[2,3,5,5]
  %dw = _conv_backward_weight(%x, %dy) {stride=(1, 1), dilate=(1, 1), pad=(0, 0), \
out_shape=(4, 3, 3, 3)} : f32[4,3,3,3]
  return %dx, %dw
}
"""
CONV_BWD_OUT = """\
graph @g(%x: f32[2,3,5,5], %w: f32[4,3,3,3], %dy: f32[2,4,3,3]) {
  %0 = Reshape(%w) {shape=(4, -1)} : f32[4,27]
  %1 = transpose(%dy) {axes=(1, 0, 2, 3)} : f32[4,2,3,3]
  %2 = Reshape(%1) {shape=(4, 18)} : f32[4,18]
  %3 = dot(%0, %2) {transpose_a=true} : f32[27,18]
  %4 = Reshape(%3) {shape=(3, 3, 3, 2, 3, 3)} : f32[3,3,3,2,3,3]
  %5 = _col2im(%4) {kernel=(3, 3), stride=(1, 1), dilate=(1, 1), pad=(0, 0), out_hw=(5, 5)} \
: f32[2,3,5,5,3,3]
  %dx = sum(%5) {axis=(4, 5)} : f32[2,3,5,5]
  %6 = _im2col(%x) {kernel=(3, 3), stride=(1, 1), dilate=(1, 1), pad=(0, 0)} : f32[3,3,3,2,3,3]
  %7 = Reshape(%6) {shape=(27, 18)} : f32[27,18]
  %8 = dot(%2, %7) {transpose_b=true} : f32[4,27]
  %dw = Reshape(%8) {shape=(4, 3, 3, 3)} : f32[4,3,3,3]
  return %dx, %dw
}
"""


def test_conv_gemm_backward_data_and_weight():
    # dcols = W^T @ dY(F, N*P), then col2im as a reduction over the kernel taps; dW = dY(F, N*P)
    # @ cols^T. Both GEMMs share the one (F, N*P) view of dY (%2).
    g, out, _ = _run(ConvToGemm(), CONV_BWD_IN)
    assert str(out) == CONV_BWD_OUT
    dots = [o for o in out.ops if o.opname == "dot"]
    assert len(dots) == 2 and dots[0].inputs[1] is dots[1].inputs[0]
    assert [o.opname for o in out.ops].count("_col2im") == 1
    _same_results(g, out, rtol=1e-5, atol=1e-5)


# -- memory planning ----------------------------------------------------------------------------
def _plan(text, options=None):
    """Fuse ``text``, build its program and plan its memory: (fused graph, program)."""
    _, fused, ctx = _run(Fuse(), text, options=options)
    prog = plan_memory(build_program(fused))
    _check_no_overlap(prog)
    return fused, prog


def _check_no_overlap(prog):
    """No two temporaries share arena bytes while both are live (a Concat's parts live inside
    their root buffer and count as it)."""
    live = liveness(prog)
    roots = [(b, live[b.id]) for b in prog.temps() if b.id in live]
    for b in prog.temps():
        assert b.offset is not None and (b.view_of is not None or b.offset % ALIGN == 0)
        assert b.offset + b.nbytes <= prog.arena_bytes
    for i, (a, (s1, e1)) in enumerate(roots):
        for b, (s2, e2) in roots[i + 1:]:
            if s1 <= e2 and s2 <= e1:
                assert a.offset + a.nbytes <= b.offset or b.offset + b.nbytes <= a.offset, \
                    f"%{a.name} and %{b.name} overlap while both live"


def _sharing(prog) -> dict:
    """arena offset -> names of the temporaries placed there (root buffers only)."""
    out: dict = {}
    for b in prog.temps():
        if b.view_of is None:
            out.setdefault(b.offset, []).append(b.name)
    return out


MEM_CHAIN_IN = """\
graph @g(%x: f32[4,8], %w: f32[8,8]) {
  %t1 = dot(%x, %w) : f32[4,8]
  %t2 = dot(%t1, %w) : f32[4,8]
  %t3 = dot(%t2, %w) : f32[4,8]
  %y = dot(%t3, %w) : f32[4,8]
  return %y
}
"""
MEM_CHAIN_PROGRAM = """\
program @g
  %t1 = extern gemm(%x, %w)
  %t2 = extern gemm(%t1, %w)
  %t3 = extern gemm(%t2, %w)
  %y = extern gemm(%t3, %w)
  return %y"""
MEM_CHAIN_PLAN = """\
memory plan @g: arena 256 bytes, 3 temporaries (384 bytes unplanned)
  %x: f32[4,8] 128 B @ input
  %w: f32[8,8] 256 B @ input
  %y: f32[4,8] 128 B @ output
  %t1: f32[4,8] 128 B @ arena+0
  %t2: f32[4,8] 128 B @ arena+128
  %t3: f32[4,8] 128 B @ arena+0"""


def test_memory_chain_reuses_a_dead_temporary():
    # t1 lives over steps 0-1, t2 over 1-2, t3 over 2-3: t3 takes t1's bytes; two slots, not three
    fused, prog = _plan(MEM_CHAIN_IN)
    assert str(fused) == MEM_CHAIN_IN             # library calls only: nothing to fuse
    assert str(prog) == MEM_CHAIN_PROGRAM
    assert prog.describe_memory() == MEM_CHAIN_PLAN
    ids = {b.name: b.id for b in prog.buffers}
    assert liveness(prog) == {ids["t1"]: (0, 1), ids["t2"]: (1, 2), ids["t3"]: (2, 3)}
    assert prog.arena_bytes == 256
    assert _sharing(prog) == {0: ["t1", "t3"], 128: ["t2"]}


MEM_INPLACE_IN = """\
graph @g(%x: f32[4,8], %w: f32[8,8]) {
  %h = dot(%x, %w) : f32[4,8]
  %e = exp(%h) : f32[4,8]
  %y = dot(%e, %w) : f32[4,8]
  return %y
}
"""
MEM_INPLACE_PROGRAM = """\
program @g
  %h = extern gemm(%x, %w)
  %h = kernel k0_e(%h)
  %y = extern gemm(%h, %w)
  return %y"""


def test_memory_kernel_writes_in_place_of_a_temporary_that_dies_there():
    # exp(h) is the only reader of h and has its type: the kernel writes e over h, so the
    # program has one temporary (e is h's buffer)
    fused, prog = _plan(MEM_INPLACE_IN)
    assert _kernels(fused) == [("k0_e", ["exp"])]
    assert str(prog) == MEM_INPLACE_PROGRAM
    kern = prog.steps[1]
    assert kern.ins == kern.outs
    assert [b.name for b in prog.temps()] == ["h"]
    assert prog.arena_bytes == 128


MEM_CONCAT_IN = """\
graph @g(%x0: f32[2,8], %x1: f32[2,8], %w: f32[8,8]) {
  %a = exp(%x0) : f32[2,8]
  %b = tanh(%x1) : f32[2,8]
  %c = Concat(%a, %b) {num_args=2, dim=0} : f32[4,8]
  %y = dot(%c, %w) : f32[4,8]
  return %y
}
"""
MEM_CONCAT_PROGRAM = """\
program @g
  %a = kernel k0_a(%x0)
  %b = kernel k1_b(%x1)
  %y = extern gemm(%c, %w)
  return %y"""
MEM_CONCAT_PLAN = """\
memory plan @g: arena 128 bytes, 3 temporaries (256 bytes unplanned)
  %x0: f32[2,8] 64 B @ input
  %x1: f32[2,8] 64 B @ input
  %w: f32[8,8] 256 B @ input
  %y: f32[4,8] 128 B @ output
  %a: f32[2,8] 64 B @ arena+0
  %b: f32[2,8] 64 B @ arena+64
  %c: f32[4,8] 128 B @ arena+0"""


def test_memory_concat_parts_are_written_in_place():
    # the Concat along axis 0 disappears: each kernel writes its rows of c's buffer
    fused, prog = _plan(MEM_CONCAT_IN)
    assert _kernels(fused) == [("k0_a", ["exp"]), ("k1_b", ["tanh"])]
    assert _library_calls(fused) == ["Concat", "dot"]
    assert str(prog) == MEM_CONCAT_PROGRAM
    assert prog.describe_memory() == MEM_CONCAT_PLAN
    by = {b.name: b for b in prog.buffers}
    assert by["a"].view_of == (by["c"].id, 0) and by["b"].view_of == (by["c"].id, 64)
    assert set(liveness(prog)) == {by["c"].id}        # the parts live as their root
    assert prog.arena_bytes == 128


MEM_TRAIN_PROGRAM = """\
program @g
  %h = extern gemm(%x, %w)
  %e, %y = kernel k0_e_y(%h)
  %4 = kernel k1_elemwise_mul(%y_head_grad, %e)
  %w_grad = extern gemm(%x, %4)
  return %y, %w_grad"""
MEM_TRAIN_PLAN = """\
memory plan @g: arena 256 bytes, 3 temporaries (384 bytes unplanned)
  %x: f32[4,8] 128 B @ input
  %w: f32[8,8] 256 B @ input
  %y_head_grad: f32[1] 4 B @ input
  %y: f32[1] 4 B @ output
  %w_grad: f32[8,8] 256 B @ output
  %h: f32[4,8] 128 B @ arena+0
  %e: f32[4,8] 128 B @ arena+128
  %4: f32[4,8] 128 B @ arena+0"""


def test_memory_training_program_keeps_saved_activations_to_the_end():
    # forward steps 0-1, backward 2-3. e (tanh, saved for the backward) lives to the last step,
    # past its last reader, because backward may run again after one forward; h dies in the
    # forward and the backward's temporary takes its bytes
    fused, prog = _plan(FUSE_PHASES_IN)
    assert str(fused) == FUSE_PHASES_OUT
    assert str(prog) == MEM_TRAIN_PROGRAM
    assert prog.describe_memory() == MEM_TRAIN_PLAN
    assert prog.n_forward_steps == 2
    ids = {b.name: b.id for b in prog.buffers}
    assert liveness(prog) == {ids["h"]: (0, 1), ids["e"]: (1, 3), ids["4"]: (2, 3)}
    assert _sharing(prog) == {0: ["h", "4"], 128: ["e"]}


@pytest.mark.parametrize("text", [FUSE_GEMM_IN, FUSE_SOFTMAX_IN, FUSE_SHARED_IN, BD_ROWS_IN,
                                  CONV_IN],
                         ids=["gemm", "softmax", "shared", "batch_dots", "conv"])
def test_memory_plans_of_the_other_snapshots_are_sound(text):
    # every graph above, after conv_gemm/batch_dots where they apply, plans without overlaps
    _, g, _ = _run(BatchDots(), text)
    _, g, _ = _run(ConvToGemm(), str(g))
    _plan(str(g))


# -- lowering happens once per kernel -------------------------------------------------------------


def _count_lowerings(monkeypatch):
    """Kernel name -> times the lowerer ran for it, from now on (with nothing lowered before
    in this process and no persistent cache)."""
    import collections

    from mxc.codegen import lower
    monkeypatch.setenv("MXC_CACHE", "0")
    lower._LOWERED.clear()
    lower._TEMPLATES.clear()
    counts = collections.Counter()
    real = lower._Lowerer.run

    def counted(self):
        counts[self.kernel.name] += 1
        return real(self)

    monkeypatch.setattr(lower._Lowerer, "run", counted)
    return counts


def test_every_kernel_is_lowered_exactly_once(monkeypatch):
    """Fusion decides on index expressions only (probe_group emits no instructions); the
    program lowers each fused group once, and in-place variants rewrite that kernel."""
    import mxc as mx
    from mxc.codegen import lower

    counts = _count_lowerings(monkeypatch)
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
    net = mx.sym.Activation(net, act_type="tanh")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=5, name="fc")
    net = mx.sym.SoftmaxOutput(mx.sym.BatchNorm(net, name="bn"), name="sm")
    c = mx.compile(net, data=(4, 2, 8, 8), sm_label=(4,), is_train=True,
                   grad_wrt=["conv_weight", "conv_bias", "fc_weight", "fc_bias", "bn_gamma",
                             "bn_beta"])
    names = [s.kernel.name for s in c.program.steps if s.kernel is not None]
    assert len(names) >= 10
    assert "probe" not in counts, "fusion lowered a candidate kernel"
    # each kernel lowered once, or not at all when an identical body was (then it is a copy
    # of that one under its own name)
    assert set(counts) <= set(names) and set(counts.values()) == {1}, counts
    assert len(counts) == len(lower._LOWERED)


def test_a_body_lowered_before_is_not_lowered_again(monkeypatch):
    """Buckets of an unrolled network repeat their steps: a fused body with the structure of
    one lowered before (operators, attributes, types, wiring) is a renamed copy of that
    kernel, and computes the same."""
    import numpy as np

    import mxc as mx

    counts = _count_lowerings(monkeypatch)

    def rnn(steps):
        cell = mx.rnn.RNNCell(num_hidden=6, prefix="r_")
        out, _ = cell.unroll(steps, inputs=mx.sym.Variable("data"), merge_outputs=True)
        return mx.sym.sum(out)

    rng = np.random.default_rng(0)
    results = []
    for steps in (3, 5):
        sym = rnn(steps)
        shapes = {"data": (2, steps, 4), "r_i2h_weight": (6, 4), "r_h2h_weight": (6, 6),
                  "r_i2h_bias": (6,), "r_h2h_bias": (6,)}
        before = sum(counts.values())
        c = mx.compile(sym, **shapes)
        lowered = sum(counts.values()) - before
        results.append((steps, lowered, len(c.program.kernels)))
        a = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
        h = np.zeros((2, 6), np.float32)
        total = 0.0
        for t in range(steps):          # RNNCell: tanh(i2h(x_t) + h2h(h))
            h = np.tanh(a["data"][:, t] @ a["r_i2h_weight"].T + a["r_i2h_bias"]
                        + h @ a["r_h2h_weight"].T + a["r_h2h_bias"])
            total += h.sum()
        got = c(*[a[v.name] for v in c.graph.inputs])[0]
        np.testing.assert_allclose(np.asarray(got).reshape(()), total, rtol=1e-4, atol=1e-4)
    (_, _, _), (_, second, kernels) = results
    assert second < kernels, results       # the 5-step graph reuses the 3-step one's steps


def test_an_index_walk_is_remembered_by_body_structure(monkeypatch):
    """Fusion walks a candidate kernel's indices once per structure: compiling the same graph
    again (another bucket's identical step) walks nothing."""
    import mxc as mx
    from mxc.codegen import lower

    monkeypatch.setenv("MXC_CACHE", "0")
    lower._PROBES.clear()
    walks = []
    real = lower._Indexer.run

    def counted(self):
        walks.append(1)
        return real(self)

    monkeypatch.setattr(lower._Indexer, "run", counted)
    x = mx.sym.Variable("x")
    y = mx.sym.softmax(mx.sym.tanh(x) * 2, axis=-1)
    net = mx.sym.Group([y, mx.sym.sum(mx.sym.exp(x), axis=1)])
    first = mx.compile(net, x=(4, 6))
    n = len(walks)
    assert n > 0
    again = mx.compile(net, x=(4, 6))
    assert len(walks) == n
    assert str(again.graph) == str(first.graph)


# -- kernels that differ only in where their slices begin ---------------------------------------


def _slice_bodies():
    """(case, [bodies]): fused bodies equal up to the begins of their slices."""
    from mxc.ir.core import Builder
    from mxc.ir.types import DType, TensorType

    def body(shape, f):
        b = Builder("k")
        x = b.input("x", TensorType(shape, DType.f32))
        b2 = b.input("y", TensorType(shape, DType.f32))
        return b.build([f(b, x, b2)])

    cases = {
        # a row block of a (T*N, C) matrix, as an unrolled step reads it
        "rows": [body((12, 5), lambda b, x, y, t=t: b.op("exp", [b.op(
            "slice_axis", [x], {"axis": 0, "begin": t, "end": t + 3})])) for t in (0, 3, 9, 4)],
        # two slices of one value (LSTM gates), each its own begin
        "two": [body((4, 10), lambda b, x, y, g=g, h=h: b.op("elemwise_add", [
            b.op("slice_axis", [x], {"axis": 1, "begin": g, "end": g + 4}),
            b.op("slice_axis", [y], {"axis": 1, "begin": h, "end": h + 4})]))
            for g, h in ((0, 6), (6, 0), (2, 3))],
        "step": [body((3, 17), lambda b, x, y, t=t: b.op("negative", [b.op(
            "slice", [x], {"begin": (0, t), "end": (3, t + 9), "step": (1, 2)})]))
            for t in (0, 5, 8)],
        "reverse": [body((12, 2), lambda b, x, y, t=t: b.op("abs", [b.op(
            "slice", [x], {"begin": (t,), "end": (t - 5 if t > 4 else None,),
                           "step": (-1,)})])) for t in (4, 7, 11)],
        # a slice read through a reshape into a reduction
        "reduce": [body((8, 6), lambda b, x, y, t=t: b.op("sum", [b.op("Reshape", [b.op(
            "slice_axis", [x], {"axis": 0, "begin": t, "end": t + 4})], {"shape": (2, 12)})],
            {"axis": 1})) for t in (0, 1, 4)],
        # a masked view (zero padding) of a slice
        "pad": [body((2, 9, 4), lambda b, x, y, t=t: b.op("exp", [b.op("_pad_view", [b.op(
            "slice_axis", [x], {"axis": 1, "begin": t, "end": t + 5})],
            {"pad_width": (0, 0, 1, 1, 1, 1)})])) for t in (0, 2, 4)],
        "transpose": [body((6, 7), lambda b, x, y, t=t: b.op("transpose", [b.op(
            "slice_axis", [x], {"axis": 1, "begin": t, "end": t + 3})])) for t in (0, 4, 2)],
    }
    return cases


@pytest.mark.parametrize("case", sorted(_slice_bodies()))
def test_slices_differing_in_begin_share_one_template(case, monkeypatch):
    """Bodies equal up to their slices' begins lower once, with the begins as parameters;
    each body's kernel is that template with its begins substituted: the same code and
    offsets as lowering the body itself, and the same values as the reference interpreter."""
    import numpy as np

    from mxc.codegen import lower
    from mxc.codegen.kir import split_offsets
    from mxc.ir.interp import interp

    counts = _count_lowerings(monkeypatch)
    bodies = _slice_bodies()[case]
    rng = np.random.default_rng(0)
    for i, g in enumerate(bodies):
        got = lower.lower_group(g, f"k{i}")
        own = lower.coalesce(lower._Lowerer(g, f"own{i}").run())
        a, oa = split_offsets(got)
        b, ob = split_offsets(own)
        if case == "pad":
            # a known begin can prove some padding checks always hold; the template keeps
            # the checks that hold for some begin only: different code, same values below
            assert oa == ob
        else:
            assert (a.signature(), oa) == (b.signature(), ob), (case, i)
    # one lowering for the template (kernel k0), none for the other bodies
    assert counts["k0"] == 1 and not any(counts[f"k{i}"] for i in range(1, len(bodies)))
    assert len(lower._TEMPLATES) == 1 and lower._TEMPLATES.hits == len(bodies) - 1
    for g in bodies:
        xs = [rng.standard_normal(v.shape).astype(np.float32) for v in g.inputs]
        want = interp(g, xs)[0]
        np.testing.assert_allclose(np.asarray(mx_compile_graph(g)(*xs)[0]), want, rtol=1e-6,
                                   atol=1e-6)


def mx_compile_graph(g):
    from mxc.compile import compile_graph
    return compile_graph(g, "llvm")


def test_a_template_that_cannot_lower_falls_back_to_the_body():
    """A body whose begins cannot become parameters (here: a reduction read at a shifted
    point would not be its own grid point) is lowered as it is, with its own result or
    error."""
    from mxc.codegen import lower
    from mxc.ir.core import Builder
    from mxc.ir.types import DType, TensorType

    lower._TEMPLATES.clear()
    lower._LOWERED.clear()
    b = Builder("k")
    x = b.input("x", TensorType((6, 4), DType.f32))
    s = b.op("sum", [x], {"axis": 1})
    g = b.build([b.op("slice_axis", [s], {"axis": 0, "begin": 2, "end": 4})])
    with pytest.raises(lower.LoweringError):
        lower.lower_group(g, "k")
    assert lower._TEMPLATES.misses == 1
