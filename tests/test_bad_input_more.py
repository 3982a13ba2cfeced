"""More bad input: malformed symbol JSON, duplicate names, bad shapes, huge arrays and bad
command lines raise MXNetError subclasses (also the builtin MXNet raises) naming the argument,
symbol or file at fault; what MXNet 1.9.1 does is noted on each test."""
import json
import os

import pytest

import mxc as mx
from mxc.base import (AllocationError, FormatError, GraphError, MXNetError, ShapeError,
                      ShapeTypeError)
from mxc.cli import main

DATA = os.path.join(os.path.dirname(__file__), "data", "symbols")
MLP = os.path.join(DATA, "mlp-symbol.json")


def _mlp_doc():
    with open(MLP) as f:
        return json.load(f)


def _fc(num_hidden=3, name="fc"):
    return mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=num_hidden, name=name)


def _module_bind(shape):
    m = mx.mod.Module(_fc(), label_names=None)
    m.bind(data_shapes=[("data", shape)])


# -- symbol JSON (MXNet: MXNetError "Expect '[' but get ..." from its JSON reader) ----------------
def test_heads_not_a_list():
    doc = _mlp_doc()
    doc["heads"] = 5
    with pytest.raises(FormatError, match=r"<json>: 'heads' must be a list .*got int 5"):
        mx.sym.load_json(json.dumps(doc))
    doc["heads"] = {"a": 1}
    with pytest.raises(FormatError, match=r"'heads' must be a list .*got dict"):
        mx.sym.load_json(json.dumps(doc))
    doc["heads"] = [["a", 0, 0]]
    with pytest.raises(FormatError, match=r"head 0 \(\['a', 0, 0\]\) does not refer to a node"):
        mx.sym.load_json(json.dumps(doc))


def test_node_inputs_not_a_list():
    doc = _mlp_doc()
    doc["nodes"][3]["inputs"] = 7
    with pytest.raises(FormatError, match=r"node 3 \(FullyConnected 'fc1'\): 'inputs' must be "
                                          r"a list .*got int 7"):
        mx.sym.load_json(json.dumps(doc))


def test_node_op_and_name_not_strings():
    doc = _mlp_doc()
    doc["nodes"][3]["op"] = {"x": 1}
    with pytest.raises(FormatError, match=r"node 3: 'op' must be a string; got dict"):
        mx.sym.load_json(json.dumps(doc))
    doc = _mlp_doc()
    doc["nodes"][3]["name"] = ["fc1"]
    with pytest.raises(FormatError, match=r"node 3: 'name' must be a string; got list"):
        mx.sym.load_json(json.dumps(doc))


def test_deeply_nested_json_names_the_file(tmp_path):
    text = "[" * 100000 + "]" * 100000
    with pytest.raises(FormatError, match=r"<json>: JSON nested too deeply to read \(more than "
                                          r"100 levels of brackets at line 1 column 101"):
        mx.sym.load_json(text)
    p = tmp_path / "deep-symbol.json"
    p.write_text('{"nodes": ' + text + ', "heads": []}')
    with pytest.raises(FormatError, match=r"deep-symbol.json: JSON nested too deeply"):
        mx.sym.load(str(p))


def _dup_doc():
    """The MLP with fc2's weight renamed fc1_weight: two distinct nodes, one name."""
    doc = _mlp_doc()
    for n in doc["nodes"]:
        if n["name"] == "fc2_weight":
            n["name"] = "fc1_weight"
    return json.dumps(doc)


def test_duplicate_names_in_json_load_and_infer_like_mxnet():
    # MXNet 1.9.1 loads it (nodes are referred to by index), lists the name twice and infers
    # each node's own shape: (128, 784) and (64, 128)
    s = mx.sym.load_json(_dup_doc())
    assert s.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc1_weight", "fc2_bias",
                                  "fc3_weight", "fc3_bias", "softmax_label"]
    args, outs, _ = s.infer_shape(data=(4, 784))
    assert args[1] == (128, 784) and args[3] == (64, 128) and outs == [(4, 10)]
    assert mx.sym.load_json(s.tojson()).list_arguments() == s.list_arguments()


def test_duplicate_names_in_json_cannot_bind():
    # MXNet: simple_bind "Input argument NDArray cannot be un-allocated", bind "Check failed:
    # arg_names.size() == in_args_map.size()"; arg_dict: ValueError "Duplicate names detected"
    s = mx.sym.load_json(_dup_doc())
    with pytest.raises(GraphError, match=r"simple_bind: duplicate names detected: 'fc1_weight' "
                                         r"names 2 different variables") as e:
        s.simple_bind(mx.cpu(), data=(4, 784))
    assert isinstance(e.value, ValueError)
    m = mx.mod.Module(s)
    with pytest.raises(GraphError, match=r"duplicate names detected: 'fc1_weight'"):
        m.bind(data_shapes=[("data", (4, 784))], label_shapes=[("softmax_label", (4,))])


def test_two_variables_with_one_name():
    # MXNet: composing, list_arguments and infer_shape work; binding fails
    s = mx.sym.Variable("x") + mx.sym.Variable("x")
    assert s.list_arguments() == ["x", "x"]
    assert s.infer_shape(x=(2, 3)) == ([(2, 3), (2, 3)], [(2, 3)], [])
    with pytest.raises(GraphError, match=r"simple_bind: duplicate names detected: 'x' names 2 "
                                         r"different variables.*reuse the same Variable"):
        s.simple_bind(mx.cpu(), x=(2, 3))
    with pytest.raises(GraphError, match=r"bind: duplicate names detected: 'x'"):
        s.bind(mx.cpu(), {"x": mx.nd.ones((2, 3))})
    with pytest.raises(GraphError, match=r"infer_shape: two arguments are named 'x'"):
        s.infer_shape((2, 3), (4, 5))


# -- shapes --------------------------------------------------------------------------------------
def test_string_dim():
    # MXNet: TypeError "'str' object cannot be interpreted as an integer"
    with pytest.raises(ShapeTypeError, match=r"simple_bind: input 'data': shape \('a', 5\) has "
                                             r"'a' \(str\) at axis 0") as e:
        _fc().simple_bind(mx.cpu(), data=("a", 5))
    assert isinstance(e.value, TypeError) and isinstance(e.value, MXNetError)
    with pytest.raises(ShapeTypeError, match=r"infer_shape: input 'data'"):
        _fc().infer_shape(data=("a", 5))
    with pytest.raises(ShapeTypeError, match=r"input 'data': a shape must be a tuple of ints; "
                                             r"got str '4,5'"):
        _fc().infer_shape(data="4,5")


def test_float_dim_is_not_truncated():
    # MXNet: TypeError "'float' object cannot be interpreted as an integer"
    with pytest.raises(ShapeTypeError, match=r"simple_bind: input 'data': shape \(4.5, 5\) has "
                                             r"4.5 \(float\)") as e:
        _fc().simple_bind(mx.cpu(), data=(4.5, 5))
    assert isinstance(e.value, TypeError)
    with pytest.raises(ShapeTypeError, match=r"infer_shape_partial: input 'data'"):
        _fc().infer_shape_partial(data=(4.5, 5))


def test_negative_dim():
    # MXNet: infer_shape MXNetError "shape dim size must be >= -1, while received -2";
    # simple_bind OverflowError
    with pytest.raises(ShapeError, match=r"simple_bind: input 'data': shape \(-2, 5\) has a "
                                         r"negative dimension -2 at axis 0") as e:
        _fc().simple_bind(mx.cpu(), data=(-2, 5))
    assert isinstance(e.value, ValueError)
    with pytest.raises(ShapeError, match=r"infer_shape: input 'data': .*negative dimension -2"):
        _fc().infer_shape(data=(-2, 5))
    with pytest.raises(ShapeError, match=r"compile: input 'data': .*negative dimension -3"):
        mx.compile(_fc(), shapes={"data": (-3, 5)})
    with pytest.raises(ShapeError, match=r"simple_bind: input 'data': .*negative dimension -1"):
        _fc().simple_bind(mx.cpu(), data=(-1, 5))
    # MXNet's infer_shape reads -1 as an unknown dimension, like 0
    with pytest.warns(UserWarning):
        assert _fc().infer_shape(data=(-1, 5)) == (None, None, None)
    assert _fc().infer_shape_partial(data=(-1, 5))[0][0] == (0, 5)


def test_zero_size_batch_is_an_unknown_dim():
    # MXNet 1.x: 0 is an unknown dim; infer_shape returns Nones, simple_bind fails with
    # "InferShape pass cannot decide shapes ... data: [-1,5]"
    with pytest.warns(UserWarning):
        assert _fc().infer_shape(data=(0, 5)) == (None, None, None)
    with pytest.raises(ShapeError, match=r"simple_bind: input 'data': shape \(0, 5\) has 0 at "
                                         r"axis 0; in MXNet 1.x shapes 0 means an unknown "
                                         r"dimension"):
        _fc().simple_bind(mx.cpu(), data=(0, 5))


@pytest.mark.parametrize("shape, exc, msg", [
    (("a", 5), ShapeTypeError, r"has 'a' \(str\)"),
    ((4.5, 5), ShapeTypeError, r"has 4.5 \(float\)"),
    ((-2, 5), ShapeError, r"negative dimension -2"),
    ((0, 5), ShapeError, r"0 means an unknown dimension"),
])
def test_module_bind_bad_shapes(shape, exc, msg):
    # MXNet: TypeError "unsupported operand type(s) for /" (str), accepted (float), ValueError
    # "Too many slices. Some splits are empty." (negative, zero)
    with pytest.raises(exc, match=r"bind: data_shapes 'data': shape .*" + msg):
        _module_bind(shape)


def test_nd_zeros_negative_names_the_argument():
    # MXNet: MXNetError "shape dim size must be >= -1, while received -2"
    with pytest.raises(ShapeError, match=r"zeros: argument 'shape': shape \(-2, 3\) has a "
                                         r"negative dimension -2 at axis 0") as e:
        mx.nd.zeros((-2, 3))
    assert isinstance(e.value, ValueError)
    with pytest.raises(ShapeTypeError, match=r"ones: argument 'shape': .*2.5 \(float\)"):
        mx.nd.ones((2.5, 3))


def test_huge_weight_is_refused_before_allocating():
    # MXNet: num_hidden=1e12 is not an int32 ("Invalid Parameter format for num_hidden");
    # a weight too big for memory: "Failed to allocate CPU Memory"
    sym = _fc(num_hidden=10 ** 12, name="big")
    with pytest.raises(AllocationError, match=r"simple_bind: FullyConnected 'big' "
                                              r"\(num_hidden=1000000000000\): weight "
                                              r"'big_weight': shape \(1000000000000, 5\) float32 "
                                              r"needs 18.2 TiB, more than") as e:
        sym.simple_bind(mx.cpu(), data=(4, 5))
    assert isinstance(e.value, MemoryError)
    m = mx.mod.Module(sym, label_names=None)
    with pytest.raises(AllocationError, match=r"bind: FullyConnected 'big'.*'big_weight'"):
        m.bind(data_shapes=[("data", (4, 5))])
    with pytest.raises(AllocationError, match=r"zeros: shape \(1000000000000, 1000\) float32"):
        mx.nd.zeros((10 ** 12, 1000))
    bc = mx.sym.broadcast_to(mx.sym.Variable("x"), shape=(10 ** 12, 1000), name="bc")
    with pytest.raises(AllocationError, match=r"bind: output 'bc_output' of broadcast_to 'bc' "
                                              r"\(shape=\(1000000000000, 1000\)\)"):
        bc.bind(mx.cpu(), {"x": mx.nd.ones((1, 1))})


# -- command line (one line "mxc: error: ...", exit status 2, no traceback) -----------------------
def _cli(capsys, *argv):
    rc = main(list(argv))
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("mxc: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_cli_negative_shape_is_refused_before_compiling(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path / "cache"))
    for _ in range(2):          # the same error both times: nothing was cached
        err = _cli(capsys, "dump", MLP, "--shape", "data=-2,5")
        assert "--shape 'data=-2,5': shape (-2, 5) has a negative dimension -2" in err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.*"))


def test_cli_shape_for_a_non_input(capsys):
    err = _cli(capsys, "dump", MLP, "--shape", "foo=2,5")
    assert "'foo' is not an input" in err and "mlp-symbol.json" in err
    err = _cli(capsys, "dump", MLP, "--shape", "dat=2,5")
    assert "did you mean 'data'?" in err


def test_cli_empty_shape(capsys):
    err = _cli(capsys, "dump", MLP, "--shape", "data=")
    assert "--shape 'data='" in err and "a size for each dimension" in err
    err = _cli(capsys, "dump", MLP, "--shape", "data=0,784")
    assert "0 means an unknown dimension" in err


def test_cli_unknown_after_pass(capsys):
    err = _cli(capsys, "dump", MLP, "--shape", "data=2,784", "--after", "nosuchpass")
    assert "--after 'nosuchpass': no such stage; the stages are input, infer" in err


def test_cli_params_file_with_an_unnamed_list(capsys, tmp_path):
    p = tmp_path / "list.params"
    mx.nd.save(str(p), [mx.nd.zeros((2, 3))])
    err = _cli(capsys, "run", MLP, "--shape", "data=2,784", "--params", str(p), "--repeat", "1")
    assert f"--params {p}: the file holds an unnamed list of 1 arrays" in err
