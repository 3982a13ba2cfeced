"""``mx.rnn`` against what MXNet 1.9.1 built and computed for the same Python code.

tests/data/rnn/cells.json holds, per case, a snippet of Python (run here with ``mx`` = mxc, in a
fresh NameManager) and what MXNet reported for the symbol it built: list_arguments/outputs,
internals, infer_shape, tojson; for cases marked ``forward``, cells.npz holds seeded arguments
and MXNet's forward outputs (tools/make_rnn_golden.py).
"""
import json
import os
import warnings

import numpy as np
import pytest

import mxc as mx
from mxc.testing import assert_close

DATA = os.path.join(os.path.dirname(__file__), "data", "rnn")

with open(os.path.join(DATA, "cells.json")) as _f:
    DOC = json.load(_f)
CASES = DOC["cases"]
FORWARD = [n for n, c in CASES.items() if c["forward"]]


@pytest.fixture(scope="module")
def arrays():
    return np.load(os.path.join(DATA, "cells.npz"))


def _run(code):
    ns = {"mx": mx, "np": np}
    with mx.name.NameManager(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(code, ns)
    return ns


def _shapes(x):
    return [list(s) for s in x]


@pytest.mark.parametrize("case", list(CASES))
def test_lists(case):
    want = CASES[case]
    sym = _run(want["code"])["sym"]
    assert sym.list_arguments() == want["list_arguments"]
    assert sym.list_outputs() == want["list_outputs"]
    assert sym.list_auxiliary_states() == want["list_auxiliary_states"]
    assert sym.get_internals().list_outputs() == want["internals"]


@pytest.mark.parametrize("case", list(CASES))
def test_infer_shape(case):
    want = CASES[case]
    ns = _run(want["code"])
    arg, out, aux = ns["sym"].infer_shape(**ns["shapes"])
    assert _shapes(arg) == want["infer_shape"]["arg_shapes"]
    assert _shapes(out) == want["infer_shape"]["out_shapes"]
    assert _shapes(aux) == want["infer_shape"]["aux_shapes"]


def _nodes(doc):
    return [(n["op"], n["name"], n.get("attrs", {}), [list(i[:2]) for i in n["inputs"]])
            for n in doc["nodes"]]


@pytest.mark.parametrize("case", list(CASES))
def test_tojson(case):
    want = CASES[case]
    sym = _run(want["code"])["sym"]
    mine = json.loads(sym.tojson())
    theirs = want["tojson"]
    for a, b in zip(_nodes(mine), _nodes(theirs)):
        assert a == b
    assert len(mine["nodes"]) == len(theirs["nodes"])
    assert mine["arg_nodes"] == theirs["arg_nodes"]
    assert [h[:2] for h in mine["heads"]] == [h[:2] for h in theirs["heads"]]
    again = mx.sym.load_json(sym.tojson())
    assert again.list_outputs() == sym.list_outputs()


@pytest.mark.parametrize("case", FORWARD)
def test_forward_matches_mxnet(case, arrays):
    want = CASES[case]
    ns = _run(want["code"])
    sym = ns["sym"]
    names = sym.list_arguments()
    args = {n: arrays[f"{case}:arg:{n}"] for n in names}
    c = mx.compile(sym, shapes={n: a.shape for n, a in args.items()}, target="llvm")
    outs = c(**{n: args[n] for n in c.input_names()})
    for i, o in enumerate(outs):
        assert_close(o, arrays[f"{case}:out:{i}"], 1e-4, 1e-5, f"{case} output {i}")


def test_lstm_forward_triton(arrays):
    """The unrolled LSTMCell graph on the Triton backend (the interpreter without a GPU)."""
    case = "lstm_merge_ntc"
    ns = _run(CASES[case]["code"])
    sym = ns["sym"]
    args = {n: arrays[f"{case}:arg:{n}"] for n in sym.list_arguments()}
    c = mx.compile(sym, shapes={n: a.shape for n, a in args.items()}, target="triton")
    for i, o in enumerate(c(**args)):
        assert_close(o, arrays[f"{case}:out:{i}"], 1e-4, 1e-5, f"{case} output {i} (triton)")


def test_lstm_step_kernels_fuse():
    """Each unrolled LSTMCell step is two GEMMs and one kernel for the gate math."""
    cell = mx.rnn.LSTMCell(num_hidden=4, prefix="lstm_")
    out, states = cell.unroll(3, inputs=mx.sym.Variable("data"), layout="TNC",
                              merge_outputs=False)
    c = mx.compile(mx.sym.Group(out + states), shapes={"data": (3, 2, 5)})
    steps = [s for s in c.program.steps if s.kind == "kernel"
             and any("lstm_t1_" in n for n in s.kernel.sources)]
    assert len(steps) == 1, [s.kernel.sources for s in steps]


def test_fused_equals_unfused(arrays):
    """FusedRNNCell and its unfuse() compute the same function once the packed parameters are
    unpacked (MXNet's own consistency check), here on mxc's compiled code."""
    fused = mx.rnn.FusedRNNCell(num_hidden=3, num_layers=2, mode="lstm", bidirectional=True,
                                prefix="f_")
    data = mx.sym.Variable("data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fo, _ = fused.unroll(3, inputs=data, layout="NTC", merge_outputs=True)
    stack = fused.unfuse()
    uo, _ = stack.unroll(3, inputs=data, layout="NTC", merge_outputs=True)
    packed = arrays["unpack:packed"]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 3, 4)).astype(np.float32)
    cf = mx.compile(fo, shapes={"data": x.shape})
    got_f = cf(data=x, f_parameters=packed)[0]
    # per-gate pieces, then each unfused cell's i2h/h2h matrices (MXNet's recipe)
    unpacked = stack.pack_weights(fused.unpack_weights({"f_parameters": packed}))
    cu = mx.compile(uo, shapes={"data": x.shape})
    got_u = cu(**{n: (x if n == "data" else np.asarray(unpacked[n]))
                  for n in cu.input_names()})[0]
    assert_close(got_u, got_f, 1e-4, 1e-5, "unfused vs fused")


def test_unpack_pack_weights(arrays):
    want = DOC["unpack"]
    cell = mx.rnn.FusedRNNCell(num_hidden=3, num_layers=2, mode="lstm", bidirectional=True,
                               prefix="f_")
    packed = mx.nd.array(arrays["unpack:packed"])
    args = cell.unpack_weights({"f_parameters": packed, "other": mx.nd.ones((2,))})
    assert sorted(args) == want["fused_names"]
    for k in want["fused_names"]:
        assert_close(args[k].asnumpy(), arrays[f"unpack:{k}"], 0, 0, k)
    back = cell.pack_weights(args)
    assert sorted(back) == ["f_parameters", "other"]
    assert_close(back["f_parameters"].asnumpy(), arrays["unpack:packed"], 0, 0, "repacked")

    lstm = mx.rnn.LSTMCell(num_hidden=2, prefix="c_")
    w = {"c_i2h_weight": mx.nd.array(np.arange(24, dtype=np.float32).reshape(8, 3)),
         "c_i2h_bias": mx.nd.array(np.arange(8, dtype=np.float32)),
         "c_h2h_weight": mx.nd.array(np.arange(16, dtype=np.float32).reshape(8, 2)),
         "c_h2h_bias": mx.nd.array(-np.arange(8, dtype=np.float32))}
    cargs = lstm.unpack_weights(w)
    assert sorted(cargs) == want["cell_names"]
    for k in want["cell_names"]:
        assert_close(cargs[k].asnumpy(), arrays[f"unpack_cell:{k}"], 0, 0, k)
    again = lstm.pack_weights(cargs)
    for k, v in w.items():
        assert_close(again[k].asnumpy(), v.asnumpy(), 0, 0, k)


def test_encode_sentences():
    doc = DOC["encode_sentences"]
    for case in doc["cases"]:
        kw = dict(case["kwargs"])
        sents = case.get("sentences", doc["sentences"])
        if "vocab" in kw:
            kw["vocab"] = dict(kw["vocab"])
        res, vocab = mx.rnn.encode_sentences(sents, **kw)
        assert res == case["result"], kw
        assert vocab == case["vocab"], kw


def test_encode_sentences_unknown_word():
    with pytest.raises(mx.MXNetError, match="Unknown token x"):
        mx.rnn.encode_sentences([["a", "x"]], vocab={"a": 0})


def test_state_info_and_begin_state():
    cell = mx.rnn.LSTMCell(num_hidden=5, prefix="p_")
    assert cell.state_info == [{"shape": (0, 5), "__layout__": "NC"}] * 2
    assert cell.state_shape == [(0, 5), (0, 5)]
    s = cell.begin_state()
    assert [x.name for x in s] == ["p_begin_state_0", "p_begin_state_1"]
    assert s[0].list_attr() == {"__layout__": "NC", "dtype": "float32", "shape": "(0, 5)"}
    v = cell.begin_state(func=mx.sym.Variable)
    assert [x.name for x in v] == ["p_begin_state_2", "p_begin_state_3"]
    assert v[0].list_attr() == {"__layout__": "NC", "__shape__": "(0, 5)"}
    cell.reset()
    assert cell.begin_state()[0].name == "p_begin_state_0"
    fused = mx.rnn.FusedRNNCell(num_hidden=4, num_layers=3, mode="gru", bidirectional=True)
    assert fused.state_info == [{"shape": (6, 0, 4), "__layout__": "LNC"}]
    assert fused.params.get("parameters").attr("__init__") == json.dumps(
        ["fusedrnn", {"init": None, "num_hidden": 4, "num_layers": 3, "mode": "gru",
                      "bidirectional": True, "forget_bias": 1.0}])


def test_modifier_cell_guards():
    base = mx.rnn.LSTMCell(num_hidden=3)
    mx.rnn.ZoneoutCell(base, zoneout_states=0.5)
    with pytest.raises(mx.MXNetError, match="modifier cells"):
        base.begin_state()
    with pytest.raises(mx.MXNetError, match="unfuse"):
        mx.rnn.ZoneoutCell(mx.rnn.FusedRNNCell(3))
    with pytest.raises(NotImplementedError):
        mx.rnn.FusedRNNCell(3)(mx.sym.Variable("x"), [])
    with pytest.raises(mx.MXNetError, match="deprecated"):
        mx.rnn.LSTMCell(3).unroll(2, inputs=None)


def test_default_begin_state_compiles_with_gradients():
    """zeros((0, H)) begin states get the batch size from the layers that read them, so the
    default unroll compiles and differentiates (training a cell needs nothing else)."""
    cell = mx.rnn.GRUCell(num_hidden=3, prefix="g_")
    out, _states = cell.unroll(2, inputs=mx.sym.Variable("data"), merge_outputs=True)
    loss = mx.sym.MakeLoss(mx.sym.sum(out))
    c = mx.compile(loss, shapes={"data": (4, 2, 5)}, grad_wrt=["g_i2h_weight"])
    args, _, _ = loss.infer_shape(data=(4, 2, 5))
    res = c(*[np.full(s, 0.1, np.float32) for s in args])
    assert res[-1].shape == (9, 5)
    assert np.isfinite(res[-1]).all()


# -- the fused RNN operator: interface and errors (MXNet 1.9.1's answers, read off the oracle) --
@pytest.mark.parametrize("mode,state_outputs,args,outs,n_params", [
    ("lstm", False, ["data", "rnn_parameters", "rnn_state", "rnn_state_cell"], ["rnn_output"],
     1200),
    ("lstm", True, ["data", "rnn_parameters", "rnn_state", "rnn_state_cell"],
     ["rnn_output", "rnn_state_output", "rnn_statecell_output"], 1200),
    ("gru", True, ["data", "rnn_parameters", "rnn_state"], ["rnn_output", "rnn_state_output"],
     900),
    ("rnn_tanh", False, ["data", "rnn_parameters", "rnn_state"], ["rnn_output"], 300),
])
def test_rnn_op_interface(mode, state_outputs, args, outs, n_params):
    s = mx.sym.RNN(mx.sym.Variable("data"), state_size=5, num_layers=2, mode=mode,
                   bidirectional=True, state_outputs=state_outputs, name="rnn")
    assert s.list_arguments() == args
    assert s.list_outputs() == outs
    arg, out, _ = s.infer_shape(data=(4, 3, 6))
    assert arg == [(4, 3, 6), (n_params,)] + [(4, 3, 5)] * (len(args) - 2)
    assert out == [(4, 3, 10)] + [(4, 3, 5)] * (len(outs) - 1)


def test_rnn_op_partial_shapes_and_json():
    s = mx.sym.RNN(mx.sym.Variable("data"), state_size=5, num_layers=1, mode="lstm", name="r")
    assert s.infer_shape_partial() == ([(), (), (), ()], [()], [])
    assert s.infer_shape_partial(r_state=(1, 3, 5)) == ([(), (), (1, 3, 5), ()], [()], [])
    nodes = json.loads(s.tojson())["nodes"]
    want = {"mode": "lstm", "num_layers": "1", "state_size": "5"}
    assert [(n["op"], n["name"], n.get("attrs")) for n in nodes] == [
        ("null", "data", None), ("null", "r_parameters", want), ("null", "r_state", want),
        ("null", "r_state_cell", want), ("RNN", "r", want)]


def test_rnn_op_shape_errors():
    d = mx.sym.Variable("data")
    s = mx.sym.RNN(d, state_size=5, num_layers=1, mode="lstm", name="r")
    with pytest.raises(mx.base.ShapeError, match=r"RNN 'r': parameters has shape \(10\); "
                                                 r"expected \(260\)"):
        s.infer_shape(data=(4, 3, 6), r_parameters=(10,))
    with pytest.raises(mx.base.ShapeError, match=r"RNN 'r': state has shape \(2,3,5\)"):
        s.infer_shape(data=(4, 3, 6), r_state=(2, 3, 5))
    with pytest.raises(mx.base.ShapeError, match="rank-3"):
        s.infer_shape(data=(4, 3))


@pytest.mark.parametrize("kw,what", [({"projection_size": 2}, "projection_size"),
                                     ({"lstm_state_clip_min": -1.0,
                                       "lstm_state_clip_max": 1.0}, "lstm_state_clip_min"),
                                     ({"use_sequence_length": True}, "use_sequence_length")])
def test_rnn_op_unsupported(kw, what):
    with pytest.raises(mx.base.UnsupportedError, match=f"RNN 'r': {what}"):
        mx.sym.RNN(mx.sym.Variable("data"), state_size=3, num_layers=1, mode="lstm", name="r",
                   **kw)


def test_rnn_op_bad_attrs():
    d = mx.sym.Variable("data")
    with pytest.raises(mx.base.AttrError, match="state_size=0"):
        mx.sym.RNN(d, state_size=0, num_layers=1, mode="gru")
    with pytest.raises(mx.base.AttrError, match="mode"):
        mx.sym.RNN(d, state_size=2, num_layers=1, mode="lstmp")
    with pytest.raises(mx.base.AttrError, match="num_layers"):
        mx.sym.RNN(d, state_size=2, mode="gru")


def test_rnn_op_dropout():
    """p drops between layers in training only: inference equals p=0; training runs Dropout."""
    rng = np.random.default_rng(3)
    shapes = {"data": (3, 2, 4), "parameters": (4 * 3 * (4 + 3 + 2) + 4 * 3 * (3 + 3 + 2),),
              "state": (2, 2, 3), "state_cell": (2, 2, 3)}
    vals = {k: rng.uniform(-0.5, 0.5, v).astype(np.float32) for k, v in shapes.items()}
    ins = {k: mx.sym.Variable(k) for k in shapes}
    ref = mx.compile(mx.sym.RNN(**ins, state_size=3, num_layers=2, mode="lstm"), shapes=shapes)
    drop = mx.sym.RNN(**ins, state_size=3, num_layers=2, mode="lstm", p=0.5)
    got = mx.compile(drop, shapes=shapes)(**vals)[0]
    assert_close(got, ref(**vals)[0], 0, 0, "inference ignores p")
    train = mx.compile(drop, shapes=shapes, is_train=True)
    out = train(**vals)[0]
    assert out.shape == (3, 2, 3) and np.isfinite(out).all()
    assert not np.allclose(out, got)        # the first layer's output was dropped out


def test_rnn_checkpoint_unpacks_and_packs(tmp_path):
    """save_rnn_checkpoint stores per-gate weights (as MXNet's does); loading packs them."""
    cell = mx.rnn.LSTMCell(num_hidden=2, prefix="c_")
    out, _ = cell.unroll(2, inputs=mx.sym.Variable("data"), merge_outputs=True)
    rng = np.random.default_rng(5)
    args = {"c_i2h_weight": mx.nd.array(rng.standard_normal((8, 3))),
            "c_i2h_bias": mx.nd.array(rng.standard_normal((8,))),
            "c_h2h_weight": mx.nd.array(rng.standard_normal((8, 2))),
            "c_h2h_bias": mx.nd.array(rng.standard_normal((8,)))}
    prefix = str(tmp_path / "lstm")
    cb = mx.rnn.do_rnn_checkpoint(cell, prefix, period=2)
    cb(0, out, args, {})
    assert not os.path.exists(prefix + "-0001.params")
    cb(1, out, args, {})
    saved = mx.nd.load(prefix + "-0002.params")
    assert sorted(saved) == sorted(f"arg:c_{g}{k}_{w}" for g in ("i2h", "h2h")
                                   for k in ("_i", "_f", "_c", "_o") for w in ("weight", "bias"))
    sym, arg, aux = mx.rnn.load_rnn_checkpoint(cell, prefix, 2)
    assert sym.list_arguments() == out.list_arguments() and aux == {}
    assert sorted(arg) == sorted(args)
    for k, v in args.items():
        assert_close(arg[k].asnumpy(), v.asnumpy(), 0, 0, k)
