"""Write golden data for mxc's symbol frontend and shape/type inference, from the real MXNet 1.9.1.

Run with the reference venv (see ../shared/oracle/README.md):

    PY=$(../shared/oracle/setup.sh)
    $PY tools/make_symbol_golden.py

It writes, into tests/data/symbols/:

- ``<net>-symbol.json``: the file ``Symbol.save`` writes in MXNet 1.9.1 for each network below
  (for ``legacy_mlp`` the hand-written old-format file instead, and ``legacy_mlp-upgraded.json``
  with what MXNet 1.9.1 re-saves after loading it);
- ``<net>-expect.json``: what MXNet reports about that symbol (list_*, attrs, internals, children,
  infer_shape / infer_shape_partial / infer_type, tojson);
- ``naming-expect.json``: automatic names and attributes for small snippets of ``mx.sym`` code.
  Each case holds the Python source that was run, so a test can run the same source with
  ``mx = mxc`` and compare what it records.

The project's tests read these files and never import mxnet. The script is deterministic: running
it twice leaves identical bytes.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import textwrap
import warnings

import mxnet as mx
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "symbols")

warnings.simplefilter("ignore")
logging.disable(logging.WARNING)


# ---------------------------------------------------------------------------------------------
# helpers


def shape_list(shapes):
    """A list of shape tuples (or None) as JSON-friendly lists; None stays None."""
    if shapes is None:
        return None
    return [None if s is None else list(s) for s in shapes]


def dtype_list(types):
    if types is None:
        return None
    return [None if t is None else np.dtype(t).name for t in types]


def error_text(exc: BaseException) -> str:
    """The first line of an MXNet error message: enough to match on, stable across runs."""
    msg = str(exc).strip()
    msg = msg.splitlines()[0] if msg else type(exc).__name__
    return re.sub(r"\[\d\d:\d\d:\d\d\] ", "", msg)  # MXNet stamps the time of day


@contextlib.contextmanager
def quiet():
    """MXNet prints infer_shape warnings from Python; keep the generator's output clean."""
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(buf):
        yield


def call(fn, *args, **kwargs):
    """Run fn; return ("ok", value) or ("error", message)."""
    try:
        with quiet():
            return {"ok": fn(*args, **kwargs)}
    except Exception as exc:  # noqa: BLE001 - we record whatever MXNet raises
        return {"error": error_text(exc), "error_type": type(exc).__name__}


def infer_shape_record(sym, partial, kwargs):
    fn = sym.infer_shape_partial if partial else sym.infer_shape
    res = call(fn, **kwargs)
    if "error" in res:
        return res
    arg, out, aux = res["ok"]
    rec = {
        "arg_shapes": shape_list(arg),
        "out_shapes": shape_list(out),
        "aux_shapes": shape_list(aux),
    }
    if arg is not None:
        rec["arg_shape_dict"] = dict(zip(sym.list_arguments(), shape_list(arg)))
    if out is not None:
        rec["out_shape_dict"] = dict(zip(sym.list_outputs(), shape_list(out)))
    if aux is not None:
        rec["aux_shape_dict"] = dict(zip(sym.list_auxiliary_states(), shape_list(aux)))
    return rec


def infer_type_record(sym, kwargs):
    res = call(sym.infer_type, **kwargs)
    if "error" in res:
        return res
    arg, out, aux = res["ok"]
    rec = {"arg_types": dtype_list(arg), "out_types": dtype_list(out), "aux_types": dtype_list(aux)}
    if arg is not None:
        rec["arg_type_dict"] = dict(zip(sym.list_arguments(), dtype_list(arg)))
    return rec


def children_record(sym):
    ch = sym.get_children()
    if ch is None:
        return None
    return {
        "list_outputs": ch.list_outputs(),
        "names": [c.name for c in ch],
    }


def list_attr_record(sym):
    res = call(sym.list_attr)
    return res.get("ok", res)


def describe(sym, input_shapes, partial_cases, type_inputs):
    """Everything the expect file records about one symbol.

    partial_cases: a list of incomplete input-shape dicts (0 marks an unknown dim); the first is
    also recorded under the top-level keys partial_input_shapes / infer_shape_partial.
    """
    partial_shapes = partial_cases[0]
    internals = sym.get_internals()
    internal_syms = list(internals)
    with quiet():
        int_shapes = internals.infer_shape_partial(**input_shapes)
        int_types = internals.infer_type(**type_inputs)
    rec = {
        "mxnet_version": mx.__version__,
        "repr": repr(sym),
        "name": sym.name,
        "input_shapes": {k: list(v) for k, v in input_shapes.items()},
        "partial_input_shapes": {k: list(v) for k, v in partial_shapes.items()},
        "type_inputs": dict(type_inputs),
        "list_arguments": sym.list_arguments(),
        "list_outputs": sym.list_outputs(),
        "list_auxiliary_states": sym.list_auxiliary_states(),
        "list_inputs": sym.list_inputs(),
        "num_outputs": len(sym),
        "internals": {
            "list_outputs": internals.list_outputs(),
            "names": [s.name for s in internal_syms],
            # children of every internal output, keyed by that output's name; null for variables
            "children": {
                o: children_record(s) for o, s in zip(internals.list_outputs(), internal_syms)
            },
            "out_shapes": dict(zip(internals.list_outputs(), shape_list(int_shapes[1]))),
            "out_types": None
            if int_types[1] is None
            else dict(zip(internals.list_outputs(), dtype_list(int_types[1]))),
        },
        "children": children_record(sym),
        "head_names": [s.name for s in sym],
        "attr_dict": sym.attr_dict(),
        "list_attr": list_attr_record(sym),
        "infer_shape": infer_shape_record(sym, False, input_shapes),
        # infer_shape (not _partial) with an incomplete input returns (None, None, None)
        "infer_shape_with_partial_input": infer_shape_record(sym, False, partial_shapes),
        "infer_shape_partial": infer_shape_record(sym, True, partial_shapes),
        "infer_shape_partial_no_input": infer_shape_record(sym, True, {}),
        "infer_shape_partial_cases": [
            {
                "input": {k: list(v) for k, v in case.items()},
                "infer_shape_partial": infer_shape_record(sym, True, case),
                "infer_shape": infer_shape_record(sym, False, case),
            }
            for case in partial_cases
        ],
        "infer_type": infer_type_record(sym, type_inputs),
        "infer_type_no_input": infer_type_record(sym, {}),
        "tojson": json.loads(sym.tojson()),
    }
    # Loading the saved JSON back must give the same JSON again.
    again = mx.sym.load_json(sym.tojson())
    rec["reload_tojson_equal"] = json.loads(again.tojson()) == rec["tojson"]
    return rec


def dump_json(path, obj):
    text = json.dumps(obj, indent=1, sort_keys=False) + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# networks. Each builder runs inside a fresh NameManager so automatic names start at 0.


def build_mlp():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data=data, name="fc1", num_hidden=128)
    act1 = mx.sym.Activation(data=fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(data=act1, name="fc2", num_hidden=64)
    act2 = mx.sym.Activation(data=fc2, name="relu2", act_type="relu")
    fc3 = mx.sym.FullyConnected(data=act2, name="fc3", num_hidden=10)
    return mx.sym.SoftmaxOutput(data=fc3, name="softmax")


def build_convnet_bn():
    data = mx.sym.Variable("data")
    c1 = mx.sym.Convolution(data=data, kernel=(5, 5), num_filter=20, name="conv1")
    b1 = mx.sym.BatchNorm(data=c1, fix_gamma=False, name="bn1")
    a1 = mx.sym.Activation(data=b1, act_type="relu", name="relu1")
    p1 = mx.sym.Pooling(data=a1, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
    c2 = mx.sym.Convolution(data=p1, kernel=(5, 5), num_filter=50, name="conv2")
    b2 = mx.sym.BatchNorm(data=c2, fix_gamma=False, eps=1e-5, momentum=0.9, name="bn2")
    a2 = mx.sym.Activation(data=b2, act_type="relu", name="relu2")
    p2 = mx.sym.Pooling(data=a2, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool2")
    fl = mx.sym.Flatten(data=p2, name="flatten")
    f1 = mx.sym.FullyConnected(data=fl, num_hidden=500, name="fc1")
    a3 = mx.sym.Activation(data=f1, act_type="tanh", name="tanh3")
    d = mx.sym.Dropout(data=a3, p=0.5, name="drop")
    f2 = mx.sym.FullyConnected(data=d, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(data=f2, name="softmax")


def build_resblock():
    data = mx.sym.Variable("data")
    c1 = mx.sym.Convolution(
        data=data, kernel=(3, 3), pad=(1, 1), num_filter=16, no_bias=True, name="conv1"
    )
    b1 = mx.sym.BatchNorm(data=c1, fix_gamma=False, name="bn1")
    a1 = mx.sym.Activation(data=b1, act_type="relu", name="relu1")
    c2 = mx.sym.Convolution(
        data=a1, kernel=(3, 3), pad=(1, 1), num_filter=16, no_bias=True, name="conv2"
    )
    b2 = mx.sym.BatchNorm(data=c2, fix_gamma=False, name="bn2")
    s = b2 + data  # automatic name: _plus0
    return mx.sym.Activation(data=s, act_type="relu", name="relu2")


def build_lstm_unrolled():
    seq_len, vocab, num_embed, num_hidden = 3, 20, 6, 8
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("softmax_label")
    embed = mx.sym.Embedding(data=data, input_dim=vocab, output_dim=num_embed, name="embed")
    cell = mx.rnn.LSTMCell(num_hidden=num_hidden, prefix="lstm_")
    outputs, _states = cell.unroll(seq_len, inputs=embed, merge_outputs=False)
    # old lstm example layout: time-major concat, then one FC over all steps
    hidden = mx.sym.Concat(*outputs, dim=0, name="concat")
    pred = mx.sym.FullyConnected(data=hidden, num_hidden=vocab, name="pred")
    lab = mx.sym.transpose(data=label)
    lab = mx.sym.Reshape(data=lab, shape=(-1,), name="label_flat")
    return mx.sym.SoftmaxOutput(data=pred, label=lab, name="softmax")


def build_misc_ops():
    x = mx.sym.Variable("x")
    y = mx.sym.Variable("y")
    w = mx.sym.Variable(
        "w", shape=(4, 5), dtype="float32", lr_mult=2.0, wd_mult=0.5, init=mx.init.Constant(0.5)
    )
    s = (x + 1) + (2 - x) + x * y + x / 3 + x**2 - y
    cmp = (x > y) + (x <= 0.5) + (x == y) + (1 < x)
    s = s + cmp + (-x)
    r1 = mx.sym.Reshape(s, shape=(0, -1), name="r_keep_infer")
    r2 = mx.sym.Reshape(s, shape=(-2,), name="r_copy_rest")
    r3 = mx.sym.Reshape(s, shape=(0, -3, 0), name="r_merge")
    r4 = mx.sym.Reshape(s, shape=(-4, 1, 2, -2), name="r_split")
    r5 = mx.sym.Reshape(s, shape=(-1, 0), reverse=True, name="r_reverse")
    r6 = mx.sym.Reshape(s, shape=(0, 0, -4, 2, -1, 0), name="r_split_infer")
    r7 = s.reshape((-3, -2))  # method form, automatic name
    t = mx.sym.transpose(s, axes=(0, 2, 1, 3), name="tr")
    t2 = mx.sym.transpose(s)  # reversed axes, automatic name
    e = mx.sym.expand_dims(x, axis=1, name="ed")
    b1 = mx.sym.broadcast_add(x, w, name="badd")
    b2 = mx.sym.broadcast_mul(x, mx.sym.Reshape(w, shape=(1, 1, 4, 5)))
    b3 = mx.sym.broadcast_to(mx.sym.sum(x, axis=1, keepdims=True), shape=(0, 3, 0, 0), name="bto")
    b4 = mx.sym.broadcast_axis(mx.sym.mean(x, axis=2, keepdims=True), axis=2, size=4, name="bax")
    r_sum1 = mx.sym.sum(s, axis=1, name="sum1")
    r_sum2 = mx.sym.sum(s, axis=(1, 2), keepdims=True, name="sum_keep")
    r_mean = mx.sym.mean(s, axis=1, exclude=True, name="mean_excl")
    r_all = mx.sym.sum(s)
    sm = mx.sym.softmax(s, axis=-1, name="sm")
    sm2 = mx.sym.softmax(s, axis=1, temperature=2.0)
    parts = mx.sym.SliceChannel(x, num_outputs=3, axis=1, name="slice")
    sq = mx.sym.SliceChannel(x, num_outputs=3, axis=1, squeeze_axis=True)
    p = parts[0] + parts[2]
    with mx.AttrScope(ctx_group="dev1"):
        g1 = mx.sym.exp(p, name="exp_dev1")
        g2 = mx.sym.FullyConnected(g1, num_hidden=7)  # auto-created weight/bias get ctx_group too
    with mx.name.Prefix("blk_"):
        fcp = mx.sym.FullyConnected(r1, num_hidden=3, name="fc")
        fca = mx.sym.Activation(fcp, act_type="sigmoid")
    return mx.sym.Group(
        [
            r1,
            r2,
            r3,
            r4,
            r5,
            r6,
            r7,
            t,
            t2,
            e,
            b1,
            b2,
            b3,
            b4,
            r_sum1,
            r_sum2,
            r_mean,
            r_all,
            sm,
            sm2,
            sq[1],
            p,
            g2,
            fca,
        ]
    )


# name: (builder, complete input shapes, partial input-shape cases, infer_type inputs)
NETWORKS = {
    "mlp": (
        build_mlp,
        {"data": (32, 784)},
        [{"data": (0, 784)}, {"data": (32, 0)}, {"softmax_label": (32,)}],
        {"data": "float32"},
    ),
    "convnet_bn": (
        build_convnet_bn,
        {"data": (8, 1, 28, 28)},
        [{"data": (0, 1, 28, 28)}, {"data": (8, 1, 0, 0)}, {"softmax_label": (8,)}],
        {"data": "float32"},
    ),
    "resblock": (
        build_resblock,
        {"data": (4, 16, 8, 8)},
        [{"data": (0, 16, 8, 8)}, {"data": (4, 16, 0, 8)}],
        {"data": "float32"},
    ),
    "lstm_unrolled": (
        build_lstm_unrolled,
        {"data": (4, 3), "softmax_label": (4, 3)},
        [{"data": (0, 3)}, {"data": (4, 3)}, {"softmax_label": (4, 3)}],
        {"data": "float32"},
    ),
    # the first misc_ops case infers x from y backwards through the elementwise ops
    "misc_ops": (
        build_misc_ops,
        {"x": (2, 3, 4, 5), "y": (2, 3, 4, 5)},
        [{"y": (2, 3, 4, 5)}, {"x": (0, 3, 4, 5)}, {"x": (2, 3, 4, 5)}],
        {"x": "float32"},
    ),
}


# ---------------------------------------------------------------------------------------------
# legacy (MXNet 0.8/0.9, pre-NNVM) JSON, hand-written in that format:
#  - ops keep their parameters under "param" (every default spelled out, as 0.8 wrote them)
#    and user attributes under "attr" (hidden keys spelled without underscores);
#  - inputs are [node, index] pairs, nodes carry "backward_source_id";
#  - no "attrs" and no "node_row_ptr"; no mxnet_version, so MXNet treats it as 0.8.0 and runs
#    every upgrader (see src/nnvm/legacy_json_util.cc);
#  - BatchNorm lists only data/gamma/beta: pre-0.9 files did not store auxiliary states, and the
#    loader creates bn1_moving_mean / bn1_moving_var (copying the op's attrs onto them);
#  - "weight_lr_mult" on an op moves to the weight variable as __lr_mult__; "ctx_group" on a
#    variable or op becomes __ctx_group__.


def _legacy_var(name, attr=None):
    node = {"op": "null", "param": {}, "name": name, "inputs": [], "backward_source_id": -1}
    if attr:
        node["attr"] = attr
    return node


def legacy_mlp_json():
    nodes = [
        _legacy_var("data"),
        _legacy_var("fc1_weight"),
        _legacy_var("fc1_bias", {"lr_mult": "2.0", "wd_mult": "0.0"}),
        {
            "op": "FullyConnected",
            "param": {"no_bias": "False", "num_hidden": "128"},
            "attr": {"weight_lr_mult": "0.5", "ctx_group": "stage1"},
            "name": "fc1",
            "inputs": [[0, 0], [1, 0], [2, 0]],
            "backward_source_id": -1,
        },
        _legacy_var("bn1_gamma"),
        _legacy_var("bn1_beta"),
        {
            "op": "BatchNorm",
            "param": {
                "eps": "0.001",
                "fix_gamma": "True",
                "momentum": "0.9",
                "use_global_stats": "False",
            },
            "name": "bn1",
            "inputs": [[3, 0], [4, 0], [5, 0]],
            "backward_source_id": -1,
        },
        {
            "op": "Activation",
            "param": {"act_type": "relu"},
            "name": "relu1",
            "inputs": [[6, 0]],
            "backward_source_id": -1,
        },
        _legacy_var("fc2_weight"),
        _legacy_var("fc2_bias"),
        {
            "op": "FullyConnected",
            "param": {"no_bias": "False", "num_hidden": "64"},
            "name": "fc2",
            "inputs": [[7, 0], [8, 0], [9, 0]],
            "backward_source_id": -1,
        },
        {
            "op": "Activation",
            "param": {"act_type": "relu"},
            "name": "relu2",
            "inputs": [[10, 0]],
            "backward_source_id": -1,
        },
        _legacy_var("fc3_weight"),
        _legacy_var("fc3_bias"),
        {
            "op": "FullyConnected",
            "param": {"no_bias": "False", "num_hidden": "10"},
            "name": "fc3",
            "inputs": [[11, 0], [12, 0], [13, 0]],
            "backward_source_id": -1,
        },
        _legacy_var("softmax_label"),
        {
            "op": "SoftmaxOutput",
            "param": {
                "grad_scale": "1",
                "ignore_label": "-1",
                "multi_output": "False",
                "normalization": "null",
                "use_ignore": "False",
            },
            "name": "softmax",
            "inputs": [[14, 0], [15, 0]],
            "backward_source_id": -1,
        },
    ]
    arg_nodes = [i for i, n in enumerate(nodes) if n["op"] == "null"]
    return {"nodes": nodes, "arg_nodes": arg_nodes, "heads": [[len(nodes) - 1, 0]]}


# ---------------------------------------------------------------------------------------------
# naming: snippets of mx.sym code. Each runs inside a fresh `with mx.name.NameManager():` (and a
# fresh AttrScope), with `mx` bound to mxnet and `rec(sym)` recording the symbol. A test can run
# the same source with `mx` bound to mxc and compare the records.

NAMING_CASES = [
    (
        "arith_operators",
        """
        a = mx.sym.Variable('a')
        b = mx.sym.Variable('b')
        rec(a + b)
        rec(a - b)
        rec(a * b)
        rec(a / b)
        rec(a % b)
        rec(a ** b)
        rec(a + 1)
        rec(1 + a)
        rec(a - 1)
        rec(2 - a)
        rec(a * 2)
        rec(2 * a)
        rec(-a)
        rec(a / 3)
        rec(3 / a)
        rec(a % 2)
        rec(2 % a)
        rec(a ** 2)
        rec(2 ** a)
        rec(abs(a))
        rec(a + b)
    """,
    ),
    (
        "comparisons",
        """
        a = mx.sym.Variable('a')
        b = mx.sym.Variable('b')
        rec(a == b)
        rec(a != b)
        rec(a > b)
        rec(a >= b)
        rec(a < b)
        rec(a <= b)
        rec(a == 1)
        rec(a != 1)
        rec(a > 1)
        rec(a >= 1)
        rec(a < 1)
        rec(a <= 1)
        rec(1 < a)
        rec(1 > a)
    """,
    ),
    (
        "layers_auto_names",
        """
        a = mx.sym.Variable('a')
        rec(mx.sym.FullyConnected(a, num_hidden=4))
        rec(mx.sym.FullyConnected(a, num_hidden=4, no_bias=True))
        rec(mx.sym.FullyConnected(data=a, num_hidden=4, name='fc'))
        rec(mx.sym.Activation(a, act_type='relu'))
        rec(mx.sym.relu(a))
        rec(mx.sym.Convolution(a, kernel=(3, 3), num_filter=2))
        rec(mx.sym.Deconvolution(a, kernel=(2, 2), num_filter=2))
        rec(mx.sym.BatchNorm(a))
        rec(mx.sym.BatchNorm(a, fix_gamma=False, name='bn'))
        rec(mx.sym.Pooling(a, kernel=(2, 2), pool_type='max'))
        rec(mx.sym.Dropout(a, p=0.2))
        rec(mx.sym.Flatten(a))
        rec(mx.sym.flatten(a))
        rec(mx.sym.Embedding(a, input_dim=10, output_dim=3))
        rec(mx.sym.SoftmaxOutput(a))
        rec(mx.sym.SoftmaxOutput(a, name='softmax'))
        rec(mx.sym.LinearRegressionOutput(a))
        rec(mx.sym.LeakyReLU(a, act_type='prelu'))
        rec(mx.sym.softmax(a))
        rec(mx.sym.log_softmax(a))
        rec(mx.sym.Reshape(a, shape=(0, -1)))
        rec(mx.sym.reshape(a, shape=(0, -1)))
        rec(a.reshape((0, -1)))
        rec(mx.sym.sum(a, axis=1))
        rec(a.sum(axis=1))
        rec(mx.sym.exp(a))
        rec(a.exp())
        rec(mx.sym.transpose(a))
        rec(a.transpose())
        rec(mx.sym.broadcast_add(a, a))
        rec(mx.sym.elemwise_add(a, a))
        rec(mx.sym.Concat(a, a, dim=1))
        rec(mx.sym.concat(a, a, dim=1))
        rec(mx.sym.add_n(a, a, a))
        rec(mx.sym.ElementWiseSum(a, a))
        rec(mx.sym.zeros(shape=(2, 3)))
        rec(mx.sym.ones(shape=(2, 3)))
        rec(mx.sym.BlockGrad(a))
        rec(mx.sym.MakeLoss(a))
        rec(mx.sym.FullyConnected(a, num_hidden=4))
    """,
    ),
    (
        "multi_output",
        """
        a = mx.sym.Variable('a')
        s = mx.sym.SliceChannel(a, num_outputs=3, axis=1)
        rec(s)
        rec(s[0])
        rec(s[2])
        rec(s[1] + s[2])
        t = mx.sym.split(a, num_outputs=2, axis=0, name='sp')
        rec(t)
        rec(t[1])
        rec(mx.sym.Group([s[0], t[1], a]))
        rec(mx.sym.BatchNorm(a, name='bn', output_mean_var=True))
        g = mx.sym.Group([a + 1, a * 2])
        rec(g)
        rec(g[1])
        rec(g.get_internals())
    """,
    ),
    (
        "explicit_names_and_variables",
        """
        a = mx.sym.Variable('data')
        w = mx.sym.Variable('myweight')
        rec(mx.sym.FullyConnected(a, weight=w, num_hidden=4, name='fc'))
        rec(mx.sym.FullyConnected(a, weight=w, num_hidden=4))
        rec(mx.sym.FullyConnected(a, num_hidden=4, name='fc'))
        rec(mx.sym.Variable('v', shape=(2, 3), dtype='float16', lr_mult=2.0, wd_mult=0.0,
                            init=mx.init.Xavier()))
        rec(mx.sym.Variable('v2', init='zeros'))
        rec(mx.sym.Variable('v3', attr={'lr_mult': '3'}))
        rec(mx.sym.Variable('v4', attr={'__custom__': 'x'}, __extra__='y'))
        rec(mx.sym.var('v5', shape=(0, 4)))
        rec(mx.sym.FullyConnected(a, num_hidden=4, attr={'lr_mult': '2', '__wd_mult__': '0'}))
        rec(mx.sym.FullyConnected(a, num_hidden=4, name='fc_attr', attr={'ctx_group': 'g'}))
    """,
    ),
    (
        "auto_variable_attrs",
        """
        a = mx.sym.Variable('data')
        rec(mx.sym.FullyConnected(a, num_hidden=4, flatten=False))
        rec(mx.sym.Convolution(a, kernel=(3, 3), num_filter=8, pad=(1, 1), name='conv'))
        rec(mx.sym.BatchNorm(a, fix_gamma=False, eps=1e-5, name='bn'))
        rec(mx.sym.BatchNorm(a, name='bn_default'))
        rec(mx.sym.InstanceNorm(a, name='inorm'))
        rec(mx.sym.LayerNorm(a, name='lnorm'))
        rec(mx.sym.Embedding(a, input_dim=10, output_dim=3, name='embed'))
        rec(mx.sym.LeakyReLU(a, act_type='prelu', name='prelu'))
        rec(mx.sym.SoftmaxOutput(a, name='sm', grad_scale=2.0))
        rec(mx.sym.RNN(a, state_size=4, num_layers=1, mode='lstm', name='rnn'))
    """,
    ),
    (
        "prefix",
        """
        a = mx.sym.Variable('a')
        with mx.name.Prefix('net_'):
            rec(mx.sym.FullyConnected(a, num_hidden=4))
            rec(mx.sym.FullyConnected(a, num_hidden=4, name='fc'))
            rec(a + a)
            rec(mx.sym.Variable('b'))
            rec(mx.sym.BatchNorm(a))
        rec(mx.sym.FullyConnected(a, num_hidden=4))
        rec(a + a)
    """,
    ),
    (
        "nested_name_managers",
        """
        a = mx.sym.Variable('a')
        rec(a + a)
        rec(mx.sym.FullyConnected(a, num_hidden=4))
        with mx.name.NameManager():
            rec(a + a)
            rec(mx.sym.FullyConnected(a, num_hidden=4))
        rec(a + a)
        rec(mx.sym.FullyConnected(a, num_hidden=4))
        with mx.name.Prefix('p1_'):
            rec(a + a)
            with mx.name.Prefix('p2_'):
                rec(a + a)
            rec(a + a)
        rec(a + a)
    """,
    ),
    (
        "attr_scope",
        """
        a = mx.sym.Variable('a')
        with mx.AttrScope(ctx_group='dev1'):
            rec(mx.sym.Variable('v'))
            rec(mx.sym.FullyConnected(a, num_hidden=4, name='fc1'))
            with mx.AttrScope(ctx_group='dev2', __mirror_stage__='True'):
                rec(mx.sym.FullyConnected(a, num_hidden=4, name='fc2'))
                rec(a * 2)
            rec(mx.sym.Activation(a, act_type='relu', name='act', attr={'ctx_group': 'dev3'}))
        rec(mx.sym.FullyConnected(a, num_hidden=4, name='fc3'))
        with mx.AttrScope(lr_mult='0.1'):
            rec(mx.sym.Variable('w_lr'))
            rec(mx.sym.Convolution(a, kernel=(1, 1), num_filter=2, name='conv_lr'))
    """,
    ),
    (
        "attr_scope_bad_key",
        """
        a = mx.sym.Variable('a')
        with mx.AttrScope(foo='bar'):
            rec(mx.sym.Variable('v'))
            rec(mx.sym.FullyConnected(a, num_hidden=4, name='fc'))
    """,
    ),
    (
        "set_attr_and_attr_get",
        """
        a = mx.sym.Variable('a')
        f = mx.sym.FullyConnected(a, num_hidden=4, name='fc')
        f._set_attr(__lr_mult__='0.5', __mood__='happy')
        rec(f)
        rec(f.get_internals()['fc_weight'])
        rec(f.get_internals()['fc_output'])
        rec(f.get_internals()[1])
        v = mx.sym.Variable('v')
        v._set_attr(mood='happy')
        rec(v)
    """,
    ),
    (
        "set_attr_bad_key_on_op",
        """
        a = mx.sym.Variable('a')
        f = mx.sym.FullyConnected(a, num_hidden=4, name='fc')
        rec(f)
        f._set_attr(mood='happy')
        rec(f)
    """,
    ),
    (
        "lstm_cell_names",
        """
        a = mx.sym.Variable('data')
        cell = mx.rnn.LSTMCell(num_hidden=4, prefix='l0_')
        outs, states = cell.unroll(2, inputs=a, merge_outputs=True)
        rec(outs)
        rec(states[0])
        rec(states[1])
        cell2 = mx.rnn.GRUCell(num_hidden=4, prefix='g0_')
        outs2, states2 = cell2.unroll(2, inputs=a, merge_outputs=False)
        rec(outs2[1])
        rec(states2[0])
    """,
    ),
]


def record_symbol(sym):
    rec = {"repr": repr(sym), "name": sym.name}
    for key in ("list_outputs", "list_arguments", "list_auxiliary_states"):
        res = call(getattr(sym, key))
        rec[key] = res.get("ok", res)
    rec["num_outputs"] = len(sym)
    rec["list_attr"] = list_attr_record(sym)
    rec["attr_dict"] = sym.attr_dict()
    # the JSON attrs of every variable node, auto-created ones included
    nodes = json.loads(sym.tojson())["nodes"]
    rec["var_json_attrs"] = {n["name"]: n.get("attrs", {}) for n in nodes if n["op"] == "null"}
    rec["op_json"] = [
        {"op": n["op"], "name": n["name"], "attrs": n.get("attrs", {})}
        for n in nodes
        if n["op"] != "null"
    ]
    return rec


def run_naming_case(code):
    records = []

    def rec(sym):
        records.append(record_symbol(sym))

    src = textwrap.dedent(code).strip("\n") + "\n"
    env = {"mx": mx, "rec": rec}
    error = None
    with mx.name.NameManager(), mx.AttrScope():
        try:
            with quiet():
                exec(compile(src, "<naming case>", "exec"), env)  # noqa: S102 - our own source
        except Exception as exc:  # noqa: BLE001
            error = {"error": error_text(exc), "error_type": type(exc).__name__}
    out = {"code": src, "records": records}
    if error is not None:
        out["error"] = error
    return out


# ---------------------------------------------------------------------------------------------


def main():
    os.makedirs(OUT, exist_ok=True)
    written = []
    for name, (builder, shapes, partial, types) in NETWORKS.items():
        with mx.name.NameManager(), mx.AttrScope():
            sym = builder()
        path = os.path.join(OUT, f"{name}-symbol.json")
        sym.save(path)
        expect = describe(sym, shapes, partial, types)
        dump_json(os.path.join(OUT, f"{name}-expect.json"), expect)
        written += [path, os.path.join(OUT, f"{name}-expect.json")]

    # legacy JSON: write the hand-made old file, load it with MXNet, record what MXNet made of it
    legacy = legacy_mlp_json()
    path = os.path.join(OUT, "legacy_mlp-symbol.json")
    dump_json(path, legacy)
    sym = mx.sym.load(path)
    shapes = {"data": (16, 784)}
    expect = describe(
        sym, shapes, [{"data": (0, 784)}, {"softmax_label": (16,)}], {"data": "float32"}
    )
    expect["source"] = (
        "hand-written MXNet 0.8-style JSON (param/attr keys, no attrs, no aux inputs)"
    )
    dump_json(os.path.join(OUT, "legacy_mlp-expect.json"), expect)
    # what MXNet 1.9.1 writes when it saves the loaded legacy symbol
    sym.save(os.path.join(OUT, "legacy_mlp-upgraded.json"))
    written += [
        path,
        os.path.join(OUT, "legacy_mlp-expect.json"),
        os.path.join(OUT, "legacy_mlp-upgraded.json"),
    ]

    naming = {
        "mxnet_version": mx.__version__,
        "note": "each case's code ran inside `with mx.name.NameManager(), mx.AttrScope():`; "
        "rec(sym) appended one record",
        "cases": {name: run_naming_case(code) for name, code in NAMING_CASES},
    }
    dump_json(os.path.join(OUT, "naming-expect.json"), naming)
    written.append(os.path.join(OUT, "naming-expect.json"))

    for p in written:
        print(os.path.relpath(p, ROOT), os.path.getsize(p))


if __name__ == "__main__":
    sys.exit(main())
