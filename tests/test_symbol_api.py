"""The mx.sym API surface beyond the golden graphs: composition, indexing, groups, attributes,
scopes, copies, pickling, eval."""
import copy
import pickle

import numpy as np
import pytest

import mxc as mx


def test_compose_by_call_replaces_variables():
    data = mx.sym.Variable("data")
    net1 = mx.sym.FullyConnected(data, num_hidden=10, name="fc1")
    net2 = mx.sym.Activation(mx.sym.Variable("data"), act_type="relu", name="act")
    composed = net2(data=net1)
    assert composed.list_arguments() == ["data", "fc1_weight", "fc1_bias"]
    assert net2.list_arguments() == ["data"]                  # the original is untouched
    pos = net2(net1)
    assert pos.list_arguments() == composed.list_arguments()
    _, out, _ = composed.infer_shape(data=(4, 7))
    assert out == [(4, 10)]
    with pytest.raises(TypeError, match="Symbol inputs"):
        net2(data=3)


def test_indexing_group_internals_children():
    x = mx.sym.Variable("x")
    parts = mx.sym.SliceChannel(x, num_outputs=3, name="sl") if hasattr(mx.sym, "SliceChannel") \
        else None
    a = mx.sym.exp(x, name="a")
    b = mx.sym.log(x, name="b")
    g = mx.sym.Group([a, b])
    assert len(g) == 2 and g.list_outputs() == ["a_output", "b_output"]
    assert g[1].list_outputs() == ["b_output"] and g["a_output"].name == "a"
    assert [s.name for s in g] == ["a", "b"]
    with pytest.raises(ValueError, match="Cannot find output"):
        g["c_output"]
    with pytest.raises(IndexError):
        g[5]
    fc = mx.sym.FullyConnected(a, num_hidden=3, name="fc")
    internals = fc.get_internals()
    assert internals.list_outputs() == ["x", "a_output", "fc_weight", "fc_bias", "fc_output"]
    assert fc.get_children().list_outputs() == ["a_output", "fc_weight", "fc_bias"]
    assert x.get_children() is None
    if parts is not None:
        assert parts.list_outputs() == ["sl_output0", "sl_output1", "sl_output2"]


def test_attributes_and_scopes():
    w = mx.sym.Variable("w", shape=(2, 3), dtype="float16", lr_mult=0.5, wd_mult=0,
                        init=mx.init.Constant(1.5) if hasattr(mx, "init") else None)
    assert w.attr("lr_mult") == "0.5" and w.attr("__lr_mult__") == "0.5"
    assert w.attr("__shape__") == "(2, 3)" and w.attr("__dtype__") == "2"
    attrs = w.list_attr()
    assert attrs["lr_mult"] == "0.5" and attrs["__wd_mult__"] == "0"
    with mx.AttrScope(ctx_group="stage1"):
        y = mx.sym.exp(w, name="y")
    assert y.attr("ctx_group") == "stage1"
    assert y.attr_dict()["y"] == {"__ctx_group__": "stage1", "ctx_group": "stage1"}
    y._set_attr(mirror_stage="True")
    assert y.attr("__mirror_stage__") == "True"
    with pytest.raises(ValueError, match="string"):
        y._set_attr(foo=1)
    with mx.name.Prefix("net_"):
        z = mx.sym.exp(w)
        v = mx.sym.FullyConnected(w, num_hidden=2, name="fc")
    assert z.name.startswith("net_exp") and v.name == "net_fc"
    assert v.list_arguments() == ["w", "net_fc_weight", "net_fc_bias"]


def test_auto_variables_get_mxnet_attrs():
    fc = mx.sym.FullyConnected(mx.sym.Variable("d"), num_hidden=4, no_bias=True, name="f")
    import json
    nodes = {n["name"]: n for n in json.loads(fc.tojson())["nodes"]}
    assert nodes["f_weight"]["attrs"] == {"no_bias": "True", "num_hidden": "4"}


def test_copy_pickle_and_json_roundtrip():
    x = mx.sym.Variable("x")
    y = mx.sym.sum(mx.sym.exp(x) * 2, axis=1, name="s")
    for other in (copy.copy(y), copy.deepcopy(y), pickle.loads(pickle.dumps(y)),
                  mx.sym.load_json(y.tojson())):
        assert other.tojson() == y.tojson()


def test_python_operators_need_symbols_or_numbers():
    x = mx.sym.Variable("x")
    assert (x + x).list_arguments() == ["x"]
    with pytest.raises(TypeError):
        x + "a"
    with pytest.raises(mx.base.NotImplementedForSymbol, match="bool"):
        bool(x)


def test_eval_and_infer_type():
    x = mx.sym.Variable("x")
    y = mx.sym.broadcast_add(x, mx.sym.Variable("b"))
    out = y.eval(ctx=mx.cpu(), x=mx.nd.ones((2, 3)), b=mx.nd.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(out[0].asnumpy(), [[2, 3, 4], [2, 3, 4]])
    arg_t, out_t, _ = y.infer_type(x="float16")
    assert arg_t == [np.float16, np.float16] and out_t == [np.float16]
    with pytest.raises(mx.base.DTypeError, match="broadcast_add"):
        y.infer_type(x="float16", b="float32")


def test_op_function_signatures_follow_mxnet():
    import inspect
    sig = inspect.signature(mx.sym.FullyConnected)
    assert list(sig.parameters)[:6] == ["data", "weight", "bias", "num_hidden", "no_bias",
                                       "flatten"]
    assert sig.parameters["no_bias"].default is False
    fc = mx.sym.FullyConnected(mx.sym.Variable("d"), None, None, 7, True, name="p")
    assert fc.list_arguments() == ["d", "p_weight"]
    assert "num_hidden" in mx.sym.FullyConnected.__doc__


def test_node_order_cache_follows_structure_changes():
    """A symbol's node order is cached, and a compose anywhere (even through another symbol
    sharing the nodes) invalidates it."""

    a = mx.sym.Variable("a")
    e = mx.sym.exp(a, name="e")
    grouped = mx.sym.Group([e, mx.sym.sin(e, name="s")])
    assert e.list_arguments() == ["a"] and grouped.list_arguments() == ["a"]
    assert e._nodes() is not e._nodes() and e._nodes() == e._nodes()
    e._compose(a=mx.sym.log(mx.sym.Variable("b"), name="l"))
    assert e.list_arguments() == ["b"]
    assert grouped.list_arguments() == ["b"]            # the shared exp node was recomposed
    assert [n.name for n in grouped._nodes()] == ["b", "l", "e", "s"]
    back = pickle.loads(pickle.dumps(grouped))
    assert back.list_arguments() == ["b"] and back.list_outputs() == grouped.list_outputs()
