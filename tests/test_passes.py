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
