"""IR: text round trip, parse errors with line:col, verify's invariants, interp."""
import numpy as np
import pytest

from mxc.base import MXNetError, ParseError, ShapeError, VerifyError
from mxc.ir import Builder, DType, Graph, Op, TensorType, Value, interp, parse, verify
from mxc.ir.printer import print_graph


def mlp_graph():
    b = Builder("mlp")
    x = b.input("data", TensorType((64, 784)))
    w = b.input("fc1_weight", TensorType((128, 784)))
    bias = b.input("fc1_bias", TensorType((128,)))
    fc = b.op("FullyConnected", [x, w, bias], {"num_hidden": 128}, name="fc1")
    r = b.op("Activation", [fc], {"act_type": "relu"}, name="relu1")
    return b.build([r])


def test_print_matches_the_design_example():
    text = str(mlp_graph())
    assert text == (
        "graph @mlp(%data: f32[64,784], %fc1_weight: f32[128,784], %fc1_bias: f32[128]) {\n"
        "  %fc1 = FullyConnected(%data, %fc1_weight, %fc1_bias) {num_hidden=128} : f32[64,128]\n"
        "  %relu1 = Activation(%fc1) {act_type=\"relu\"} : f32[64,128]\n"
        "  return %relu1\n"
        "}\n")


def test_round_trip_mixed_attrs_and_names():
    b = Builder("g")
    x = b.input("x", TensorType((2, 3, 4)))
    y = b.input("weird name/1", TensorType((4,), DType.f32))
    t = b.op("transpose", [x], {"axes": (2, 0, 1)})
    r = b.op("Reshape", [t], {"shape": (0, -1), "reverse": True})
    s = b.op("sum", [x], {"axis": (1,), "keepdims": True})
    m = b.op("_mul_scalar", [x], {"scalar": 0.5})
    c = b.op("Cast", [m], {"dtype": "float16"})
    a = b.op("broadcast_add", [x, y])
    a2 = b.op("broadcast_add", [x, y])                      # same hint twice -> made unique
    g = b.build([r, s, c, a, a2])
    text = print_graph(g)
    assert '%"weird name/1"' in text
    again = parse(text)
    assert print_graph(again) == text
    verify(again)


def test_round_trip_nested_body():
    from mxc.compile import compile_graph
    c = compile_graph(mlp_graph())
    fused = c.graph
    assert any(op.opname == "fused" for op in fused.ops)
    text = str(fused)
    assert str(parse(text)) == text
    verify(parse(text))


def test_parse_error_has_line_and_column():
    text = "graph @g(%x: f32[2]) {\n  %y = exp(%z) : f32[2]\n  return %y\n}\n"
    with pytest.raises(ParseError) as e:
        parse(text)
    assert "line 2:12" in str(e.value) and "undefined value %z" in str(e.value)
    with pytest.raises(ParseError, match=r"line 2:8: .*not supported"):
        parse("graph @g(%x: f32[2]) {\n  %y = nosuchop(%x) : f32[2]\n  return %y\n}\n")
    with pytest.raises(ParseError, match=r"line 1:14: expected a dtype"):
        parse("graph @g(%x: float[2]) {\n  return %x\n}\n")
    with pytest.raises(ParseError, match="num_hidden"):
        parse("graph @g(%x: f32[2,3], %w: f32[4,3], %b: f32[4]) {\n"
              "  %y = FullyConnected(%x, %w, %b) {num_hidden=\"x\"} : f32[2,4]\n  return %y\n}\n")


def test_parse_check_types():
    text = "graph @g(%x: f32[2,3]) {\n  %y = exp(%x) : f32[3,2]\n  return %y\n}\n"
    parse(text)    # declared types are trusted by default
    with pytest.raises(ParseError, match="declared type"):
        parse(text, check_types=True)


def test_verify_catches_use_before_definition():
    x = Value(TensorType((2,)), "x")
    late = Value(TensorType((2,)), "late")
    y = Value(TensorType((2,)), "y")
    op1 = Op("exp", [late], {}, [y], "e")
    op2 = Op("negative", [x], {}, [late], "n")
    g = Graph("bad", [x], [op1, op2], [y])
    with pytest.raises(VerifyError) as e:
        verify(g)
    msg = str(e.value)
    assert "used before it is defined" in msg and ">>" in msg   # window marks the bad op


def test_verify_catches_wrong_type_and_double_definition():
    x = Value(TensorType((2, 3)), "x")
    y = Value(TensorType((3, 2)), "y")
    g = Graph("bad", [x], [Op("exp", [x], {}, [y], "e")], [y])
    with pytest.raises(VerifyError, match="rules give f32\\[2,3\\]"):
        verify(g)
    z = Value(TensorType((2, 3)), "z")
    op = Op("exp", [x], {}, [z], "e")
    g2 = Graph("bad", [x], [op, op], [z])
    with pytest.raises(VerifyError, match="defined twice"):
        verify(g2)
    g3 = Graph("bad", [x], [], [Value(TensorType((2,)), "nowhere")])
    with pytest.raises(VerifyError, match="graph output 0"):
        verify(g3)


def test_verify_catches_bad_attrs_and_arity():
    x = Value(TensorType((2, 3)), "x")
    y = Value(TensorType((2, 3)), "y")
    g = Graph("bad", [x], [Op("Activation", [x], {"act_type": "nope"}, [y], "a")], [y])
    with pytest.raises(VerifyError, match="act_type"):
        verify(g)
    y2 = Value(TensorType((2, 3)), "y2")
    g2 = Graph("bad", [x], [Op("elemwise_add", [x], {}, [y2], "a")], [y2])
    with pytest.raises(VerifyError, match="has 1 inputs; the operator takes 2"):
        verify(g2)


TRAIN_TEXT = """\
graph @train(%x: f32[3], %y_head_grad: f32[3]) attributes {forward_outputs=1, head_grads=(("y_head_grad", 0),), pins=((2, "y", 0, "out", "monitor y"),)} {
  %y = exp(%x) : f32[3]
  %x_grad = elemwise_mul(%y_head_grad, %y) : f32[3]
  return %y, %x_grad, %y
}
"""


def test_graph_attributes_print_parse_and_verify():
    # facts about a graph's interface (which outputs are gradients, which inputs are head
    # gradients, which outputs a monitor pinned) live in the graph and survive its text
    g = verify(parse(TRAIN_TEXT))
    assert g.attrs == {"forward_outputs": 1, "head_grads": (("y_head_grad", 0),),
                       "pins": ((2, "y", 0, "out", "monitor y"),)}
    assert str(g) == TRAIN_TEXT
    # with_attrs sets or (None) removes, sharing the ops
    h = g.with_attrs(pins=None)
    assert "pins" not in h.attrs and h.ops == g.ops and "pins" in g.attrs
    for bad, msg in [("forward_outputs=4", "forward_outputs=4"),
                     ('head_grads=(("z", 0),)', "head_grads entry"),
                     ("pins=((7, \"y\", 0, \"out\", \"\"),)", "pins entry"),
                     ("phase=1", "unknown graph attribute 'phase'")]:
        text = TRAIN_TEXT.replace(TRAIN_TEXT[TRAIN_TEXT.index("{") + 1:
                                             TRAIN_TEXT.index("} {")], bad)
        with pytest.raises(VerifyError, match=msg.replace("(", r"\(")):
            verify(parse(text))


def test_passes_carry_graph_attributes_and_keep_no_state():
    # a pass that does not set a graph attribute hands on its input's; pass objects are
    # options only, so running one twice (or on two graphs) cannot leak state between runs
    import dataclasses

    from mxc.compile import default_passes
    g = parse(TRAIN_TEXT)
    passes = default_passes()
    before = [dict(vars(p)) for p in passes]
    for p in passes:
        g = p(g)
        assert g.attrs["forward_outputs"] == 1 and g.attrs["pins"][0][0] == 2, p.name
    assert [dict(vars(p)) for p in passes] == before
    assert all(dataclasses.is_dataclass(p) for p in passes)


def test_builder_rejects_shapes_that_do_not_fit():
    b = Builder("g")
    x = b.input("x", TensorType((64, 784)))
    w = b.input("w", TensorType((1, 100)))
    with pytest.raises(ShapeError) as e:
        b.op("FullyConnected", [x, w], {"num_hidden": 128, "no_bias": True}, name="fc1")
    msg = str(e.value)
    assert msg.startswith("FullyConnected 'fc1': weight has shape (1,100); expected (128,784)")
    with pytest.raises(ShapeError, match="elemwise_add 'add': shapes do not match: lhs has shape "
                                         r"\(2,3\) and rhs has shape \(3,2\)"):
        b.op("elemwise_add", [b.input("a", TensorType((2, 3))), b.input("c", TensorType((3, 2)))],
             name="add")


def test_interp_evaluates_by_name_and_checks_arity():
    g = mlp_graph()
    rng = np.random.default_rng(0)
    ins = {"data": rng.standard_normal((64, 784)), "fc1_weight": rng.standard_normal((128, 784)),
           "fc1_bias": rng.standard_normal(128)}
    (out,) = interp(g, ins)
    ref = np.maximum(ins["data"].astype(np.float32) @ ins["fc1_weight"].astype(np.float32).T
                     + ins["fc1_bias"].astype(np.float32), 0)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    assert out.dtype == np.float32
    with pytest.raises(MXNetError, match="missing inputs"):
        interp(g, {"data": ins["data"]})
