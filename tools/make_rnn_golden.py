"""Record what MXNet 1.9.1's ``mx.rnn`` builds, for tests/test_rnn_cells.py.

    PY=$(../shared/oracle/setup.sh)
    $PY tools/make_rnn_golden.py

Each case is a snippet of Python (stored with the results, so the test runs the very same code
with ``mx`` bound to mxc) that builds RNN cells, unrolls them and leaves ``sym`` (a symbol,
usually a Group of the outputs and the final states) and ``shapes`` (input shapes for
infer_shape). The snippet runs inside a fresh NameManager. Recorded per case:
``list_arguments/outputs/auxiliary_states``, ``get_internals().list_outputs()``, ``infer_shape``
with ``shapes``, ``tojson()`` parsed, and, for cases marked ``forward``, the outputs of
``forward(is_train=False)`` on seeded arguments (arrays in ``cells.npz`` as
``<case>:arg:<name>`` / ``<case>:out:<i>``). Also recorded: FusedRNNCell.unpack_weights of a
seeded packed vector (``unpack:<name>``) and ``mx.rnn.encode_sentences`` results.

Writes tests/data/rnn/cells.json and tests/data/rnn/cells.npz; reruns are byte-identical.
"""
from __future__ import annotations

import json
import os
import warnings
import zlib

import numpy as np

os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE")
import mxnet as mx

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "rnn")

# name: (code, forward?)
CASES = {
    "lstm_merge_ntc": ("""
cell = mx.rnn.LSTMCell(num_hidden=4, prefix='lstm_')
outputs, states = cell.unroll(3, inputs=mx.sym.Variable('data'), merge_outputs=True)
sym = mx.sym.Group([outputs] + states)
shapes = {'data': (2, 3, 5)}
""", True),
    "lstm_list_tnc": ("""
cell = mx.rnn.LSTMCell(num_hidden=4, prefix='lstm_', forget_bias=0.5)
outputs, states = cell.unroll(3, inputs=mx.sym.Variable('data'), layout='TNC',
                              merge_outputs=False)
sym = mx.sym.Group(outputs + states)
shapes = {'data': (3, 2, 5)}
""", True),
    "lstm_step_inputs": ("""
cell = mx.rnn.LSTMCell(num_hidden=3)
inputs = [mx.sym.Variable('x%d' % i) for i in range(2)]
outputs, states = cell.unroll(2, inputs=inputs)
sym = mx.sym.Group(outputs + states)
shapes = {'x0': (2, 4), 'x1': (2, 4)}
""", True),
    "lstm_variable_states": ("""
cell = mx.rnn.LSTMCell(num_hidden=4, prefix='lstm_')
begin = cell.begin_state(func=mx.sym.Variable)
outputs, states = cell.unroll(2, inputs=mx.sym.Variable('data'), begin_state=begin,
                              layout='TNC', merge_outputs=True)
sym = mx.sym.Group([outputs] + states)
shapes = {'data': (2, 3, 5), 'lstm_begin_state_0': (3, 4), 'lstm_begin_state_1': (3, 4)}
""", True),
    "gru_merge": ("""
cell = mx.rnn.GRUCell(num_hidden=4)
outputs, states = cell.unroll(3, inputs=mx.sym.Variable('data'), merge_outputs=True)
sym = mx.sym.Group([outputs] + states)
shapes = {'data': (2, 3, 5)}
""", True),
    "rnn_relu": ("""
cell = mx.rnn.RNNCell(num_hidden=4, activation='relu', prefix='rnn_')
outputs, states = cell.unroll(3, inputs=mx.sym.Variable('data'))
sym = mx.sym.Group(outputs + states)
shapes = {'data': (2, 3, 5)}
""", True),
    "sequential_dropout": ("""
stack = mx.rnn.SequentialRNNCell()
stack.add(mx.rnn.LSTMCell(num_hidden=4, prefix='l0_'))
stack.add(mx.rnn.DropoutCell(0.5, prefix='d0_'))
stack.add(mx.rnn.GRUCell(num_hidden=3, prefix='l1_'))
outputs, states = stack.unroll(3, inputs=mx.sym.Variable('data'), merge_outputs=True)
sym = mx.sym.Group([outputs] + states)
shapes = {'data': (2, 3, 5)}
""", True),
    "bidirectional_merge": ("""
cell = mx.rnn.BidirectionalCell(mx.rnn.LSTMCell(num_hidden=3, prefix='l_'),
                                mx.rnn.LSTMCell(num_hidden=3, prefix='r_'))
outputs, states = cell.unroll(3, inputs=mx.sym.Variable('data'), merge_outputs=True)
sym = mx.sym.Group([outputs] + sum(states, []))   # states: [l_states, r_states]
shapes = {'data': (2, 3, 4)}
""", True),
    "bidirectional_list": ("""
cell = mx.rnn.BidirectionalCell(mx.rnn.GRUCell(num_hidden=3, prefix='l_'),
                                mx.rnn.GRUCell(num_hidden=3, prefix='r_'),
                                output_prefix='bi_')
outputs, states = cell.unroll(2, inputs=mx.sym.Variable('data'), layout='TNC')
sym = mx.sym.Group(outputs + sum(states, []))
shapes = {'data': (2, 2, 4)}
""", True),
    "fused_lstm_bidir": ("""
cell = mx.rnn.FusedRNNCell(num_hidden=3, num_layers=2, mode='lstm', bidirectional=True,
                           get_next_state=True, prefix='f_')
outputs, states = cell.unroll(3, inputs=mx.sym.Variable('data'), layout='TNC',
                              merge_outputs=True)
sym = mx.sym.Group([outputs] + states)
shapes = {'data': (3, 2, 4)}
""", True),
    "fused_gru_ntc": ("""
cell = mx.rnn.FusedRNNCell(num_hidden=4, mode='gru', get_next_state=True)
outputs, states = cell.unroll(3, inputs=mx.sym.Variable('data'), layout='NTC',
                              merge_outputs=True)
sym = mx.sym.Group([outputs] + states)
shapes = {'data': (2, 3, 5)}
""", True),
    "fused_tanh_list": ("""
cell = mx.rnn.FusedRNNCell(num_hidden=3, num_layers=2, mode='rnn_tanh', dropout=0.3)
outputs, states = cell.unroll(2, inputs=mx.sym.Variable('data'), layout='TNC',
                              merge_outputs=False)
sym = mx.sym.Group(outputs)
shapes = {'data': (2, 2, 4)}
""", True),
    "fused_unfuse": ("""
fused = mx.rnn.FusedRNNCell(num_hidden=3, num_layers=2, mode='lstm', bidirectional=True,
                            dropout=0.2, prefix='u_')
cell = fused.unfuse()
outputs, states = cell.unroll(3, inputs=mx.sym.Variable('data'), merge_outputs=True)
sym = mx.sym.Group([outputs] + sum(states, []))
shapes = {'data': (2, 3, 4)}
""", True),
    "residual_gru": ("""
cell = mx.rnn.ResidualCell(mx.rnn.GRUCell(num_hidden=5, prefix='rg_'))
outputs, states = cell.unroll(3, inputs=mx.sym.Variable('data'), merge_outputs=False)
sym = mx.sym.Group(outputs + states)
shapes = {'data': (2, 3, 5)}
""", True),
    "residual_merge": ("""
cell = mx.rnn.ResidualCell(mx.rnn.RNNCell(num_hidden=4, prefix='rr_'))
outputs, states = cell.unroll(2, inputs=mx.sym.Variable('data'), merge_outputs=True)
sym = mx.sym.Group([outputs] + states)
shapes = {'data': (2, 2, 4)}
""", True),
    "zoneout": ("""
cell = mx.rnn.ZoneoutCell(mx.rnn.LSTMCell(num_hidden=4, prefix='z_'), zoneout_outputs=0.5,
                          zoneout_states=0.3)
outputs, states = cell.unroll(3, inputs=mx.sym.Variable('data'))
sym = mx.sym.Group(outputs + states)
shapes = {'data': (2, 3, 5)}
""", False),
    "shared_params": ("""
params = mx.rnn.RNNParams('shared_')
a = mx.rnn.LSTMCell(num_hidden=4, prefix='a_', params=params)
b = mx.rnn.LSTMCell(num_hidden=4, prefix='b_', params=params)
data = mx.sym.Variable('data')
oa, sa = a.unroll(2, inputs=data, merge_outputs=True)
ob, sb = b.unroll(2, inputs=oa, merge_outputs=True)
sym = mx.sym.Group([ob] + sb)
shapes = {'data': (2, 2, 4)}
""", True),
    "stacked_step": ("""
stack = mx.rnn.SequentialRNNCell()
stack.add(mx.rnn.RNNCell(num_hidden=3, prefix='s0_'))
stack.add(mx.rnn.GRUCell(num_hidden=3, prefix='s1_'))
x = mx.sym.Variable('x')
out, st = stack(x, stack.begin_state())
out2, st2 = stack(out, st)
sym = mx.sym.Group([out2] + st2)
shapes = {'x': (2, 3)}
""", True),
}


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def run_case(name, code):
    ns = {"mx": mx, "np": np}
    with mx.name.NameManager(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(code, ns)
    return ns


def record_case(name, code, forward, arrays):
    ns = run_case(name, code)
    sym, shapes = ns["sym"], ns["shapes"]
    arg_shapes, out_shapes, aux_shapes = sym.infer_shape(**shapes)
    rec = {
        "code": code.strip() + "\n",
        "list_arguments": sym.list_arguments(),
        "list_outputs": sym.list_outputs(),
        "list_auxiliary_states": sym.list_auxiliary_states(),
        "internals": sym.get_internals().list_outputs(),
        "shapes": {k: list(v) for k, v in shapes.items()},
        "infer_shape": {"arg_shapes": [list(s) for s in arg_shapes],
                        "out_shapes": [list(s) for s in out_shapes],
                        "aux_shapes": [list(s) for s in aux_shapes]},
        "tojson": json.loads(sym.tojson()),
        "forward": forward,
    }
    if forward:
        rng = np.random.default_rng(seed_of(name))
        args = {n: rng.uniform(-0.5, 0.5, s).astype(np.float32)
                for n, s in zip(sym.list_arguments(), arg_shapes)}
        exe = sym.bind(mx.cpu(), {n: mx.nd.array(v) for n, v in args.items()})
        outs = exe.forward(is_train=False)
        for n, v in args.items():
            arrays[f"{name}:arg:{n}"] = v
        for i, o in enumerate(outs):
            arrays[f"{name}:out:{i}"] = o.asnumpy()
    return rec


def record_unpack(arrays):
    cell = mx.rnn.FusedRNNCell(num_hidden=3, num_layers=2, mode="lstm", bidirectional=True,
                               prefix="f_")
    n = sum(4 * 3 * ((4 if layer == 0 else 6) + 3 + 2) * 2 for layer in range(2))
    rng = np.random.default_rng(seed_of("unpack"))
    packed = rng.uniform(-1, 1, (n,)).astype(np.float32)
    arrays["unpack:packed"] = packed
    args = cell.unpack_weights({"f_parameters": mx.nd.array(packed), "other": mx.nd.ones((2,))})
    names = sorted(args)
    for k in names:
        arrays[f"unpack:{k}"] = args[k].asnumpy()
    lstm = mx.rnn.LSTMCell(num_hidden=2, prefix="c_")
    w = {"c_i2h_weight": mx.nd.array(np.arange(24, dtype=np.float32).reshape(8, 3)),
         "c_i2h_bias": mx.nd.array(np.arange(8, dtype=np.float32)),
         "c_h2h_weight": mx.nd.array(np.arange(16, dtype=np.float32).reshape(8, 2)),
         "c_h2h_bias": mx.nd.array(-np.arange(8, dtype=np.float32))}
    cell_args = lstm.unpack_weights(w)
    for k in sorted(cell_args):
        arrays[f"unpack_cell:{k}"] = cell_args[k].asnumpy()
    return {"fused_names": names, "cell_names": sorted(cell_args)}


def record_encode():
    sents = [["a", "b", "c"], ["b", "d"], ["e", "a", "a"]]
    out = []
    for kw in [{}, {"invalid_label": 0, "start_label": 0}, {"start_label": 5},
               {"invalid_key": "</s>", "invalid_label": 2}]:
        res, vocab = mx.rnn.encode_sentences(sents, **kw)
        out.append({"kwargs": kw, "result": res, "vocab": vocab})
    vocab = {"a": 0, "b": 1, "<unk>": 7}
    res, v2 = mx.rnn.encode_sentences([["a", "x", "b", "y"]], vocab=dict(vocab),
                                      unknown_token="<unk>", start_label=3)
    out.append({"kwargs": {"vocab": vocab, "unknown_token": "<unk>", "start_label": 3},
                "sentences": [["a", "x", "b", "y"]], "result": res, "vocab": v2})
    return {"sentences": sents, "cases": out}


def main():
    os.makedirs(OUT, exist_ok=True)
    arrays = {}
    doc = {"mxnet_version": mx.__version__, "cases": {}}
    for name, (code, forward) in CASES.items():
        doc["cases"][name] = record_case(name, code, forward, arrays)
    doc["unpack"] = record_unpack(arrays)
    doc["encode_sentences"] = record_encode()
    with open(os.path.join(OUT, "cells.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    np.savez_compressed(os.path.join(OUT, "cells.npz"), **arrays)
    print(f"rnn: {len(CASES)} cell cases, {len(arrays)} arrays")


if __name__ == "__main__":
    main()
