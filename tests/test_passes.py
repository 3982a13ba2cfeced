"""Passes: infer (partial, bidirectional), DCE, CSE, simplify, decompose, the pipeline's
verification and MXC_DUMP_DIR dumps; fusion remarks."""
import os

import numpy as np
import pytest

import mxc as mx
from mxc.compile import compile_graph
from mxc.ir import Builder, TensorType, interp, parse
from mxc.passes.base import PassContext, Pipeline
from mxc.passes.cse import CSE
from mxc.passes.dce import DCE
from mxc.passes.decompose import Decompose
from mxc.passes.infer import InferTypes
from mxc.passes.simplify import Simplify


def test_infer_fills_weights_from_data_and_keeps_partial():
    text = ("graph @g(%x: f32[?,784], %w: ?[*], %b: ?[*]) {\n"
            "  %fc = FullyConnected(%x, %w, %b) {num_hidden=10} : ?[*]\n"
            "  return %fc\n}\n")
    g = InferTypes().run(parse(text), PassContext())
    assert [str(v.type) for v in g.inputs] == ["f32[?,784]", "f32[10,784]", "f32[10]"]
    assert str(g.outputs[0].type) == "f32[?,10]"
    with pytest.raises(mx.base.ShapeError, match="could not be inferred"):
        InferTypes(require_complete=True).run(parse(text), PassContext())


def test_dce_and_cse():
    text = ("graph @g(%x: f32[4]) {\n"
            "  %a = exp(%x) : f32[4]\n"
            "  %b = exp(%x) : f32[4]\n"
            "  %dead = log(%x) : f32[4]\n"
            "  %c = elemwise_add(%a, %b) : f32[4]\n"
            "  return %c\n}\n")
    g = parse(text)
    out = DCE()(CSE()(g))
    assert str(out) == ("graph @g(%x: f32[4]) {\n"
                        "  %a = exp(%x) : f32[4]\n"
                        "  %c = elemwise_add(%a, %a) : f32[4]\n"
                        "  return %c\n}\n")
    assert str(g).count("exp") == 2        # the input graph is untouched


def test_simplify_rules():
    text = ("graph @g(%x: f32[2,3]) {\n"
            "  %a = _mul_scalar(%x) : f32[2,3]\n"          # scalar=1 (the default)
            "  %r1 = Reshape(%a) {shape=(3,2)} : f32[3,2]\n"
            "  %r2 = Reshape(%r1) {shape=(6,)} : f32[6]\n"
            "  %t = transpose(%x) {axes=(1,0)} : f32[3,2]\n"
            "  %tt = transpose(%t) {axes=(1,0)} : f32[2,3]\n"
            "  %n = negative(%tt) : f32[2,3]\n"
            "  %nn = negative(%n) : f32[2,3]\n"
            "  return %r2, %nn\n}\n")
    out = DCE()(Simplify()(parse(text)))
    assert str(out) == ("graph @g(%x: f32[2,3]) {\n"
                        "  %r2 = Reshape(%x) {shape=(6,)} : f32[6]\n"
                        "  return %r2, %x\n}\n")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for a, e in zip(interp(out, [x]), interp(parse(text), [x])):
        np.testing.assert_array_equal(a, e)


def test_decompose_keeps_names():
    text = ("graph @g(%x: f32[4,5], %w: f32[3,5], %b: f32[3]) {\n"
            "  %fc1 = FullyConnected(%x, %w, %b) {num_hidden=3} : f32[4,3]\n"
            "  return %fc1\n}\n")
    out = Decompose()(parse(text))
    assert [op.opname for op in out.ops] == ["dot", "broadcast_add"]
    assert all(op.name == "fc1" for op in out.ops)
    assert out.outputs[0].name == "fc1"


def test_pipeline_dumps_each_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("MXC_DUMP_DIR", str(tmp_path))
    s = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4,
                                                name="fc1"), act_type="relu", name="relu1")
    mx.compile(s, data=(2, 3))
    files = sorted(os.listdir(tmp_path))
    assert files[0].endswith("00-input.mxir") and files[-1].endswith("-fuse.mxir")
    for f in files:
        text = (tmp_path / f).read_text()
        assert str(parse(text)) == text


def test_pipeline_verifies_between_passes():
    class Breaker:
        name = "breaker"

        def __call__(self, g, ctx):
            g.outputs[0].type = TensorType((9,))
            return g
    b = Builder("g")
    x = b.input("x", TensorType((2,)))
    g = b.build([b.op("exp", [x])])
    with pytest.raises(mx.base.VerifyError, match="rules give f32\\[2\\]"):
        Pipeline([Breaker()]).run(g, PassContext(verify=True))


def test_fusion_remarks_say_why():
    s = mx.sym.Variable("x")
    a = mx.sym.exp(s, name="a")
    y = mx.sym.dot(a, mx.sym.Variable("w"), name="mm")
    z = mx.sym.Group([mx.sym.log(a, name="l"), y])
    c = mx.compile(z, x=(4, 4), w=(4, 4))
    text = c.dump(why_no_fuse=True)
    assert "%a (exp 'a'): operand of library call dot 'mm'" in text


def test_shared_expensive_value_is_materialized_cheap_one_recomputed():
    b = Builder("g")
    x = b.input("x", TensorType((8, 8)))
    e = b.op("tanh", [b.op("tanh", [b.op("tanh", [x])])])   # cost 12 > recompute limit
    m = b.op("max", [e], {"axis": (1,), "keepdims": True})
    t = b.op("transpose", [e])                               # read at another index
    neg = b.op("negative", [x])                              # cheap, shared
    g = b.build([b.op("broadcast_add", [m, neg]), b.op("elemwise_mul", [t, neg])])
    c = compile_graph(g)
    xv = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    for a, r in zip(c(xv), interp(g, [xv])):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)
    assert any("recomputing costs" in str(r) for r in c.remarks)


# -- fusion decides on indexing, not shapes ------------------------------------------------------
# transpose(softmax(x)) with a square x has every shape of the kernel that computes softmax(x),
# but reads row j's max and sum at output point (i, j): fusing them was accepted on shapes and
# failed in lowering ("max result is read at index [r0], not at its own grid point [g0]").
_NORMS = {
    "softmax": lambda x, ax: mx.sym.softmax(x, axis=ax),
    "log_softmax": lambda x, ax: mx.sym.log_softmax(x, axis=ax),
    "sum_normalize": lambda x, ax: mx.sym.broadcast_div(x, mx.sym.sum(x, axis=ax,
                                                                      keepdims=True)),
    "max": lambda x, ax: mx.sym.broadcast_sub(x, mx.sym.max(x, axis=ax, keepdims=True)),
}
_VIEWS = {
    "transpose": lambda y: mx.sym.transpose(y),
    "swapaxes": lambda y: mx.sym.swapaxes(y, dim1=0, dim2=1),
}


def _view_of_norm(norm, view, shape, axis=-1):
    return _VIEWS[view](_NORMS[norm](mx.sym.Variable("x"), axis))


def _sym_graph(sym, shape):
    from mxc.symbol.convert import to_graph
    return to_graph(sym, shapes={"x": shape}, dtypes={"x": "float32"}).graph


def _positive(shape, seed=0):
    # sum_normalize divides by a row sum: keep it away from 0
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape).astype(np.float32)


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (8, 8), (16, 16), (2, 3), (5, 2)])
@pytest.mark.parametrize("norm", sorted(_NORMS))
@pytest.mark.parametrize("view", sorted(_VIEWS))
def test_view_of_reduction_fuses_on_indexing_not_shape(shape, norm, view):
    from mxc.testing import check_compiled
    g = _sym_graph(_view_of_norm(norm, view, shape), shape)
    c = check_compiled(g, [_positive(shape)], rtol=2e-5, atol=1e-6)
    if shape[0] == shape[1]:
        # the refusal says why: the reduction is read off its grid point, through the view
        text = "\n".join(str(r) for r in c.remarks)
        assert "not at its own grid point" in text and "through " in text, text


@pytest.mark.parametrize("shape,axis,axes", [((4, 4), 0, None), ((2, 4, 4), -1, (0, 2, 1)),
                                             ((3, 3, 3), 1, (2, 1, 0)), ((2, 3, 3), -1, (0, 2, 1))])
def test_batched_attention_scores_transposed_after_softmax(shape, axis, axes):
    from mxc.testing import check_compiled
    s = mx.sym.softmax(mx.sym.Variable("x"), axis=axis)
    s = mx.sym.transpose(s, axes=axes) if axes else mx.sym.transpose(s)
    g = _sym_graph(s, shape)
    check_compiled(g, [_positive(shape)], rtol=2e-5, atol=1e-6)


def test_reduction_of_a_transposed_reduction_and_sibling_reductions():
    """sum(transpose(x - max(x, rows)), rows): the outer sum's input reads the max at other
    rows; and two sums of x and x.T of a square x share a kernel's shapes but not its points."""
    from mxc.testing import check_compiled
    b = Builder("g")
    x = b.input("x", TensorType((6, 6)))
    m = b.op("max", [x], {"axis": (1,), "keepdims": True})
    d = b.op("transpose", [b.op("broadcast_sub", [x, m])])
    s1 = b.op("sum", [d], {"axis": (1,)})
    s2 = b.op("sum", [b.op("transpose", [x])], {"axis": (1,)})
    s3 = b.op("sum", [x], {"axis": (1,)})
    g = b.build([s1, b.op("elemwise_add", [s2, s3]), b.op("transpose", [b.op("broadcast_div",
                                                                                [x, m])])])
    check_compiled(g, [_positive((6, 6))], rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(3, 3), (8, 8), (2, 3)])
@pytest.mark.parametrize("norm", sorted(_NORMS))
@pytest.mark.parametrize("view", sorted(_VIEWS))
def test_view_of_reduction_forward_and_backward_in_an_executor(shape, norm, view):
    """The same graphs bound with gradients: the backward's reductions (softmax's
    sum(dy * y)) read the transposed head gradient, which fusion must index the same way."""
    from mxc.testing import assert_close
    from mxc.testing.check import as_dtype, grad_graph
    sym = _view_of_norm(norm, view, shape)
    xv = _positive(shape, 1)
    head = np.random.default_rng(2).standard_normal(shape[::-1]).astype(np.float32)
    exe = sym.simple_bind(mx.cpu(), x=shape, grad_req="write")
    inference = exe.forward(is_train=False, x=mx.nd.array(xv))[0].asnumpy()
    exe.forward(is_train=True, x=mx.nd.array(xv))
    exe.backward(mx.nd.array(head))
    g64 = as_dtype(_sym_graph(sym, shape), "float64")
    jg, _ = grad_graph(g64, ["x"])
    y, dx = interp(jg, [xv.astype(np.float64), head.astype(np.float64)])
    assert_close(inference, y, 1e-5, 1e-6, f"{norm} {view} inference")
    assert_close(exe.outputs[0].asnumpy(), y, 1e-5, 1e-6, f"{norm} {view} forward")
    assert_close(exe.grad_dict["x"].asnumpy(), dx, 1e-4, 1e-5, f"{norm} {view} gradient")


def test_transpose_of_softmax_on_triton():
    from mxc.testing import check_compiled
    g = _sym_graph(_view_of_norm("softmax", "transpose", (8, 8)), (8, 8))
    check_compiled(g, [_positive((8, 8))], target="triton", rtol=2e-5, atol=1e-6)


def test_merge_does_not_recompute_an_expensive_value_read_at_other_points():
    """y = tanh(tanh(tanh(x))) (cost 30) and z = transpose(y) * 2 have the same shape; merged,
    z would compute y again at (j, i) instead of loading it: the merge is refused, and says so."""
    b = Builder("g")
    x = b.input("x", TensorType((8, 8)))
    y = b.op("tanh", [b.op("tanh", [b.op("tanh", [x])])])
    z = b.op("_mul_scalar", [b.op("transpose", [y])], {"scalar": 2.0})
    g = b.build([y, z])
    c = compile_graph(g)
    xv = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    for a, r in zip(c(xv), interp(g, [xv])):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)
    assert len(c.kernels) == 2
    assert any("would be computed again" in str(r) for r in c.remarks), c.remarks


def test_attention_with_transposed_probabilities_compiles_and_trains():
    """softmax over attention scores, swapped before the second batch_dot: the GEMM operand's
    kernel read the softmax's row statistics at swapped points (LoweringError before)."""
    from mxc.testing import assert_close
    q, k, v = (mx.sym.Variable(n) for n in "qkv")
    p = mx.sym.softmax(mx.sym.batch_dot(q, k, transpose_b=True) * 0.125, axis=-1)
    out = mx.sym.batch_dot(mx.sym.swapaxes(p, dim1=1, dim2=2), v)
    rng = np.random.default_rng(0)
    xs = {n: rng.standard_normal((2, 8, 8)).astype(np.float32) for n in "qkv"}
    pt = xs["q"] @ xs["k"].transpose(0, 2, 1) * 0.125
    pt = np.exp(pt - pt.max(-1, keepdims=True))
    pt /= pt.sum(-1, keepdims=True)
    ref = pt.transpose(0, 2, 1) @ xs["v"]
    c = mx.compile(out, {n: (2, 8, 8) for n in "qkv"})
    assert_close(c(**xs)[0], ref, 1e-5, 1e-5, "attention")
    exe = out.simple_bind(mx.cpu(), q=(2, 8, 8), k=(2, 8, 8), v=(2, 8, 8), grad_req="write")
    exe.forward(is_train=True, **{n: mx.nd.array(x) for n, x in xs.items()})
    assert_close(exe.outputs[0].asnumpy(), ref, 1e-5, 1e-5, "attention (train)")
    exe.backward(mx.nd.ones((2, 8, 8)))
    # with a head of ones, dv = (P^T)^T @ ones = P @ ones: P's rows sum to 1
    assert_close(exe.grad_dict["v"].asnumpy(), np.ones((2, 8, 8)), 1e-5, 1e-5, "dv")


def test_fusion_cost_is_read_off_the_opdef_formula():
    # 10 per transcendental ALU op in the formula, 1 for cheap math, 0 for views: no name list
    from mxc.passes.fuse import op_cost
    from mxc.symbol.convert import to_graph
    x = mx.sym.Variable("x")
    want = {"exp": 10, "sinh": 10, "arcsin": 10, "log10": 10, "cbrt": 10, "relu": 1, "clip": 1,
            "square": 1, "transpose": 0, "sum": 1000}
    for name, cost in want.items():
        fn = getattr(mx.sym, name)
        s = fn(x, 0, 1) if name == "clip" else fn(x)
        g = to_graph(s, shapes={"x": (4, 4)}).graph
        assert [op_cost(o) for o in g.ops] == [cost], name
    g = to_graph(mx.sym.Activation(x, act_type="relu") + mx.sym.Activation(x, act_type="tanh"),
                 shapes={"x": (4,)}).graph
    assert [op_cost(o) for o in g.ops if o.opname == "Activation"] == [1, 10]


@pytest.mark.parametrize("name,attrs,shapes,wrt", [
    ("_pad_view", {"pad_width": (1, 2, 0, 1), "constant_value": 0.0}, [(3, 4)], None),
    ("_nn_crop", {"begin": (1, 0), "end": (3, 3)}, [(4, 4)], None),
    ("_where", {}, [(3, 1), (3, 4), (3, 4)], ["x1", "x2"]),
    ("_pad_lib", {"mode": "edge", "pad_width": (0, 0, 0, 0, 1, 1, 2, 0),
                  "constant_value": 0.0}, [(1, 2, 3, 4)], None),
])
def test_internal_ops_used_in_decompositions_have_gradients(name, attrs, shapes, wrt):
    # a decomposition that autodiff expands may use them: no silent zero gradient
    from mxc.ir.core import Builder
    from mxc.ir.types import DType, TensorType
    from mxc.testing import check_grad
    rng = np.random.default_rng(0)
    b = Builder("t")
    ins = [b.input(f"x{i}", TensorType(s, DType.f64)) for i, s in enumerate(shapes)]
    g = b.build([b.op(name, ins, attrs)])
    vals = [rng.standard_normal(s) for s in shapes]
    if name == "_where":
        vals[0] = (vals[0] > 0).astype(np.float64)
    grads = check_grad(g, vals, **({} if wrt is None else {"wrt": wrt}))
    assert all(np.abs(v).sum() > 0 for v in grads.values())


def test_a_view_without_gradient_rule_is_an_error_not_a_zero_gradient():
    from mxc.base import GraphError
    from mxc.ir.core import Builder
    from mxc.ir.types import DType, TensorType
    from mxc.passes.autodiff import Autodiff
    from mxc.passes.base import PassContext
    b = Builder("t")
    x = b.input("x", TensorType((2, 3, 2, 2, 3, 3), DType.f32))
    y = b.op("_col2im", [x], {"kernel": (3, 3), "stride": (1, 1), "dilate": (1, 1),
                              "pad": (1, 1), "out_hw": (2, 2)})
    with pytest.raises(GraphError, match="_col2im.*no gradient rule"):
        Autodiff(wrt=["x"]).run(b.build([b.sum(y)]), PassContext())


def test_recompute_cost_past_the_shown_limit_is_reported_as_over_it():
    # the cost walk stops past 200 (an unsettled chain's cone can be the rest of the chain)
    b = Builder("g")
    x = b.input("x", TensorType((4, 8)))
    e = x
    for _ in range(25):                                      # 25 tanh: cost 250
        e = b.op("tanh", [e])
    t = b.op("transpose", [e])                               # read at another index
    g = b.build([b.op("sum", [e], {"axis": (1,)}), t])
    c = compile_graph(g)
    xv = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    for a, r in zip(c(xv), interp(g, [xv])):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)
    assert any("recomputing costs over 200" in str(r) for r in c.remarks), c.remarks
