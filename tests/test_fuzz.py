"""Seeded mutation fuzzing of the file readers: symbol JSON, ``.params`` and ``.states``.

Valid seeds (MXNet's and mxc's symbol files, MXNet's and mxc's ``.params`` files, ``.states``
files that Module.save_optimizer_states writes for SGD with momentum and Adam, MXNet's checkpoint
states and a pickled optimizer with an lr scheduler) are mutated with a seeded RNG: bit flips,
interesting bytes and integers, truncation, inserted / deleted / duplicated / spliced byte runs,
pickle opcodes replaced, dropped, moved or duplicated (plus random programs of valid opcodes over
the globals a states file may name), and for JSON structural changes to the parsed document
(wrong types, deleted keys, node indices out of range, negative, cyclic or huge, deep nesting,
other operators with as many inputs as they take, unknown operators, bad values for the
attributes each operator declares). Each case goes through the reader and what a script does
next:

- symbol JSON: ``mx.sym.load`` (or ``load_json``), ``list_arguments``/``outputs``/``aux``,
  ``tojson``, ``infer_shape`` with the seed's input shapes, ``simple_bind`` when that succeeds;
- ``.params``: ``mx.nd.load`` (or ``load_frombuffer``) and reading every array back;
- ``.states``: ``Module.load_optimizer_states`` on a bound, trained module, then ``update()``.

Every outcome must be a success or an :class:`mxc.base.MXNetError` subclass: never another
exception, a crash or a hang. The cases run in a worker subprocess (a crash kills only the worker;
a hang is killed after ``CASE_TIMEOUT`` seconds; the worker's address space is capped) that
rebuilds each case from ``(format, master seed, case index)``, so any failure reproduces with::

    python tests/test_fuzz.py --fmt states --case 1234 [--dump DIR]

CI runs ``N_CASES`` cases per format; ``MXC_SLOW=1`` runs ten times as many. ``python
tests/test_fuzz.py [-n N] [--slow]`` runs the same and prints the table of outcomes per format.
Inputs the fuzzer once broke the readers with are kept below as regression cases, minimized.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import glob
import json
import os
import pickletools
import random
import select
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from mxc import config

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
REPO = os.path.dirname(HERE)
MASTER_SEED = 20240611
N_CASES = {"symbol": 1500, "params": 1500, "states": 1500}
SLOW_FACTOR = 10
CASE_TIMEOUT = 30.0                 # seconds for one case (a hang is a failure)
MEM_LIMIT = 3 << 30                 # worker address space: a runaway allocation fails, not OOMs
BIND_LIMIT = 64 << 20               # simple_bind only graphs whose arrays fit in this many bytes
FORMATS = ("symbol", "params", "states")


# --- seeds -------------------------------------------------------------------------------------
def _symbol_seeds():
    """(name, text, input shapes) for each seed symbol file."""
    out = []
    for f in sorted(glob.glob(os.path.join(DATA, "symbols", "*-symbol.json"))):
        with open(os.path.join(f.replace("-symbol.json", "-expect.json"))) as fh:
            shapes = json.load(fh)["input_shapes"]
        with open(f) as fh:
            out.append((os.path.basename(f), fh.read(), shapes))
    # symbol files mxc wrote (the *-mxnet.json beside them are MXNet's reports, not symbols)
    for f, shapes in [("symbols/mxc_written/mlp.json", {"data": [4, 20]}),
                      ("symbols/mxc_written/attrs.json", {"data": [4, 6]}),
                      ("symbols/mxc_written/ops.json", {"x": [2, 3], "y": [2, 3]}),
                      ("params/mlp-symbol.json", {"data": [4, 784]})]:
        with open(os.path.join(DATA, f)) as fh:
            out.append((f, fh.read(), shapes))
    # smaller batches than the expect files use: binding is the slow part
    return [(n, t, {k: [min(v[0], 4)] + v[1:] if v else v for k, v in s.items()})
            for n, t, s in out]


def _params_seeds():
    files = sorted(glob.glob(os.path.join(DATA, "params", "*.params")))
    files.append(os.path.join(DATA, "training", "ckpt_mlp-0001.params"))
    out = []
    for f in files:
        with open(f, "rb") as fh:
            out.append((os.path.basename(f), fh.read()))
    return out


MLP_SYMBOL = os.path.join(DATA, "training", "mlp-symbol.json")


def _mlp_module(optimizer, params):
    """The training MLP (data (8, 10), 3 classes), bound, initialized from a fixed RNG, with
    ``optimizer`` installed and one batch's gradients computed."""
    import numpy as np

    import mxc as mx
    from runtime.io import DataBatch
    from runtime.module import Module
    mod = Module(mx.sym.load(MLP_SYMBOL))
    mod.bind([("data", (8, 10))], [("softmax_label", (8,))])
    rng = np.random.default_rng(0)
    shapes = dict(zip(mod._exec_group.param_names,
                      (a[0].shape for a in mod._exec_group.param_arrays)))
    mod.init_params(arg_params={k: mx.nd.array(rng.standard_normal(s).astype("float32") * .1)
                                for k, s in shapes.items()})
    mod.init_optimizer(optimizer=optimizer, optimizer_params=params)
    batch = DataBatch([mx.nd.array(rng.standard_normal((8, 10)).astype("float32"))],
                      [mx.nd.array(rng.integers(0, 3, 8).astype("float32"))])
    mod.forward_backward(batch)
    return mod


STATES_OPTIMIZERS = {"sgd": ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4}),
                     "adam": ("adam", {"learning_rate": 0.01})}


def _states_seeds(mods):
    """(name, bytes, module key) for each seed .states file."""
    from runtime import lr_scheduler
    out = []
    for key, mod in mods.items():
        mod.update()
        fd, path = tempfile.mkstemp(suffix=".states")
        os.close(fd)
        try:
            mod.save_optimizer_states(path)
            with open(path, "rb") as fh:
                out.append((f"{key}.states", fh.read(), key))
        finally:
            os.unlink(path)
    sgd = mods["sgd"]
    sgd._updater.optimizer.lr_scheduler = lr_scheduler.FactorScheduler(step=10, factor=0.5)
    out.append(("sgd_dump.states", sgd._updater.get_states(dump_optimizer=True), "sgd"))
    sgd._updater.optimizer.lr_scheduler = None
    with open(os.path.join(DATA, "training", "ckpt_mlp-0001.states"), "rb") as fh:
        out.append(("mxnet_ckpt_mlp-0001.states", fh.read(), "sgd"))
    return out


# --- mutations ---------------------------------------------------------------------------------
BYTES8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x20]
INTS = [0, 1, 2, 3, 4, 8, 16, 64, 255, 256, 1000, 0x112, 0x7fff, 0xffff, 10 ** 6, 2 ** 24,
        2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 10 ** 9, 2 ** 62, 2 ** 63 - 1, 2 ** 63,
        2 ** 64 - 1, 0xF993FAC9, 0xF993FACA, 0xF993FAC8, -1, -2, -(2 ** 31), -(2 ** 63)]


def _int_bytes(rng, width):
    v = rng.choice(INTS) % (1 << (8 * width))
    return v.to_bytes(width, "little")


def mutate_bytes(data: bytes, rng: random.Random, others) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 8))):
        if not b:
            b = bytearray(rng.randbytes(rng.randrange(1, 16)))
            continue
        op = rng.randrange(10)
        pos = rng.randrange(len(b))
        k = rng.choice((1, 2, 4, 8, 16, 64, 256))
        if op == 0:                                             # bit flip
            b[pos] ^= 1 << rng.randrange(8)
        elif op == 1:                                           # interesting byte
            b[pos] = rng.choice(BYTES8)
        elif op in (2, 3):                                      # interesting integer
            width = rng.choice((1, 2, 4, 8))
            if op == 3:
                pos -= pos % width                              # aligned, like header fields
            b[pos:pos + width] = _int_bytes(rng, width)
        elif op == 4:                                           # truncation
            del b[pos:]
        elif op == 5:                                           # insert a run
            run = rng.randbytes(k) if rng.random() < .5 else bytes([rng.choice(BYTES8)]) * k
            b[pos:pos + 0] = run
        elif op == 6:                                           # delete a run
            del b[pos:pos + k]
        elif op == 7:                                           # duplicate a chunk
            chunk = b[pos:pos + k]
            at = rng.randrange(len(b) + 1)
            b[at:at] = chunk
        elif op == 8:                                           # splice from another seed
            other = rng.choice(others)
            if other:
                s = rng.randrange(len(other))
                chunk = other[s:s + k]
                if rng.random() < .5:
                    b[pos:pos + len(chunk)] = chunk
                else:
                    b[pos:pos] = chunk
        else:                                                   # random byte
            b[pos] = rng.randrange(256)
    return bytes(b)


_OPCODES = [op.code.encode("latin-1") for op in pickletools.opcodes]


def mutate_pickle(data: bytes, rng: random.Random, others) -> bytes:
    """Opcode-aware changes to a valid pickle (frames dropped first half the time, so inserted
    and deleted bytes do not just break a frame length), then byte mutations."""
    try:
        ops = list(pickletools.genops(data))
    except Exception:  # noqa: BLE001
        return mutate_bytes(data, rng, others)
    if rng.random() < .5:
        keep, last = [], 0
        for op, _, pos in ops:
            if op.name == "FRAME":
                keep.append(data[last:pos])
                last = pos + 9
        data = b"".join(keep) + data[last:]
        ops = list(pickletools.genops(data))
    b = bytearray(data)
    bounds = [pos for _, _, pos in ops] + [len(data)]
    for _ in range(rng.choice((1, 1, 2, 3))):
        i = rng.randrange(len(ops))
        op, arg, pos = ops[i]
        end = bounds[i + 1]
        what = rng.randrange(5)
        if what == 0 and end - pos > 1:                          # an interesting argument
            width = min(end - pos - 1, rng.choice((1, 2, 4, 8)))
            b[pos + 1:pos + 1 + width] = _int_bytes(rng, width)
        elif what == 1:                                          # another opcode
            b[pos:pos + 1] = rng.choice(_OPCODES)
        elif what == 2:                                          # drop the opcode
            del b[pos:end]
        elif what == 3:                                          # run it twice
            b[pos:pos] = data[pos:end]
        else:                                                    # move it elsewhere
            at = rng.choice(bounds)
            b[at:at] = data[pos:end]
        break                                                    # offsets moved: one at a time
    if rng.random() < .5:
        return mutate_bytes(bytes(b), rng, others)
    return bytes(b)


_GLOBALS = [("builtins", n) for n in ("bytearray", "bytes", "list", "tuple", "dict", "set",
                                     "frozenset", "int", "float", "str", "complex", "slice",
                                     "range", "object", "bool")] + [
    ("copyreg", "_reconstructor"), ("collections", "OrderedDict"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
    ("mxnet.ndarray.ndarray", "NDArray"), ("mxnet.optimizer.optimizer", "SGD"),
    ("mxnet.optimizer.optimizer", "Adam"), ("mxnet.optimizer.optimizer", "LARS"),
    ("mxnet.lr_scheduler", "FactorScheduler"), ("mxnet.lr_scheduler", "MultiFactorScheduler"),
    ("_codecs", "encode"), ("no_such_module", "thing")]
_STRS = ["f4", "<f8", "b", "O", "V8", "S3", "U2", "f4,f4", "(3,)f4", "latin1", "C", "F",
         "handle", "data", "ctx", "cpu", "gpu", "lr", "momentum", "step", "", "x" * 100]


def gen_pickle(rng: random.Random, raws) -> bytes:
    """A random program of valid pickle opcodes over the globals a states file may name (and
    some it may not), with interesting arguments: reaches the call and BUILD checks with
    argument combinations byte mutations of a real file rarely make."""
    out = [b"\x80\x04"]
    memo = 0

    def push_value():
        r = rng.random()
        if r < .3:
            v = rng.choice(INTS)
            if 0 <= v < 256:
                return b"K" + bytes([v])
            if -(2 ** 31) <= v < 2 ** 31:
                return b"J" + v.to_bytes(4, "little", signed=True)
            n = (v.bit_length() + 8) // 8
            return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)
        if r < .5:
            t = rng.choice(_STRS).encode()
            return b"\x8c" + bytes([len(t)]) + t
        if r < .65:
            b = rng.choice(raws) if raws and rng.random() < .5 else rng.randbytes(
                rng.choice((0, 1, 4, 8, 16)))
            return b"B" + len(b).to_bytes(4, "little") + b
        if r < .75:
            return rng.choice([b"N", b"\x88", b"\x89"])
        if r < .85:
            return b"G" + rng.choice([b"\x7f\xf8" + bytes(6), bytes(8), b"\x40" + bytes(7)])
        m, g = rng.choice(_GLOBALS)
        return (b"\x8c" + bytes([len(m)]) + m.encode() + b"\x8c" + bytes([len(g)]) + g.encode()
                + b"\x93")

    for _ in range(rng.randrange(3, 40)):
        r = rng.random()
        if r < .35:
            out.append(push_value())
        elif r < .5:                                  # call: global, args, REDUCE / NEWOBJ
            m, g = rng.choice(_GLOBALS)
            out.append(b"\x8c" + bytes([len(m)]) + m.encode() + b"\x8c" + bytes([len(g)])
                       + g.encode() + b"\x93")
            k = rng.randrange(4)
            out.append(b"".join(push_value() for _ in range(k)))
            out.append([b")", b"\x85", b"\x86", b"\x87"][k])
            out.append(rng.choice([b"R", b"R", b"\x81"]))
        elif r < .6:
            out.append(rng.choice([b"(", b"}", b"]", b")", b"\x8f"]))
        elif r < .75:
            out.append(rng.choice([b"t", b"\x85", b"\x86", b"\x87", b"s", b"u", b"a", b"e",
                                   b"b", b"d", b"l", b"\x90", b"\x91", b"R", b"\x81", b"2",
                                   b"0", b"1"]))
        elif r < .85:
            out.append(b"\x94")
            memo += 1
        elif memo:
            out.append(b"h" + bytes([rng.randrange(min(memo, 256))]))
    out.append(b".")
    return b"".join(out)


BAD_VALUES = [None, True, False, 0, -1, 1.5, 2 ** 31, 2 ** 63, -(2 ** 63) - 1, 10 ** 30, 1e308,
              float("nan"), float("inf"), "", "x", "-1", "0", "1e400", "nan", [], [[]], {},
              {"a": 1}, "9" * 50, [0, 0, 0], [-1, 0, 0], "null"]
BAD_ATTRS = ["", "-1", "0", "1", "2147483648", "9223372036854775808", "1e400", "nan", "inf",
             "-inf", "(0,0)", "(-1,-1)", "(1,2,3,4,5,6,7,8,9,10)", "()", "[]", "None", "True",
             "False", "abc", "((1,2),3)", "(1,", "1.5", " ", "\x00", "(2147483648,)", "0x10",
             "(1, -5)", "(100000, 100000)", "1" * 400, "[1,2]", "{}", "relu", "float16",
             "int64", "__shape__", "(0,)", "65536", "-2147483649"]
_BOGUS_OPS = ["", "null", "NoSuchOp", "_Plus", "fullyconnected", "Custom", "_foreach",
              "_while_loop", "_cond", "_contrib_quantize", "_npi_add", "_CachedOp", 5, None, [],
              "FullyConnected\x00"]


def _op_names():
    """MXNet's operators, and mxc's own (internal ones too: a file may name them)."""
    from mxc.ir.registry import all_ops
    with open(os.path.join(DATA, "mxnet_ops.json")) as fh:
        return sorted(set(json.load(fh)["ops"]) | set(all_ops()))


def _op_attrs(op):
    """The attribute names mxc declares for ``op`` ([] if it has none or is unknown)."""
    from mxc.ir.registry import get_op
    try:
        return [a.name for a in get_op(op).attrs]
    except Exception:  # noqa: BLE001
        return []


def _arity(op, attrs):
    """How many inputs mxc expects ``op`` to have with ``attrs`` (None if it cannot tell)."""
    from mxc.ir.registry import get_op
    try:
        od = get_op(op)
        return len(od.list_inputs(od.parse_attrs(attrs if isinstance(attrs, dict) else {})))
    except Exception:  # noqa: BLE001
        return None


def _paths(obj, prefix=()):
    """Every (path, value) in a JSON document."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _set(doc, path, value):
    for p in path[:-1]:
        doc = doc[p]
    doc[path[-1]] = value


def _delete(doc, path):
    for p in path[:-1]:
        doc = doc[p]
    del doc[path[-1]]


DEEP = "__DEEP__"


def mutate_json(doc, rng: random.Random, op_names):
    """Structural mutations of a parsed symbol document (in place); returns the text."""
    deep = None
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    n = len(nodes) if isinstance(nodes, list) else 0
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        what = rng.randrange(10)
        node = rng.choice(nodes) if n and what < 6 else None
        if isinstance(node, dict) and what == 0:               # the operator
            node["op"] = rng.choice(op_names) if rng.random() < .6 else rng.choice(_BOGUS_OPS)
            k = _arity(node["op"], node.get("attrs")) if isinstance(node["op"], str) else None
            here = nodes.index(node)
            if k is not None and here and rng.random() < .7:   # as many inputs as it takes
                node["inputs"] = [[rng.randrange(here), 0, 0] for _ in range(k)]
        elif isinstance(node, dict) and what == 1:             # an attribute
            attrs = node.setdefault("attrs", {}) if rng.random() < .9 else node
            declared = _op_attrs(node.get("op")) if isinstance(node.get("op"), str) else []
            if isinstance(attrs, dict) and declared and rng.random() < .4:
                attrs[rng.choice(declared)] = rng.choice(BAD_ATTRS)
            elif isinstance(attrs, dict):
                keys = [k for k in attrs if k not in ("op", "name", "inputs")]
                key = rng.choice(keys) if keys and rng.random() < .7 else rng.choice(
                    ["num_hidden", "kernel", "stride", "pad", "axis", "shape", "act_type",
                     "num_outputs", "no_bias", "__shape__", "__dtype__", "num_filter", "eps",
                     "dtype", "num_args", "begin", "end", "reps", "bogus_attr", "__init__"])
                attrs[key] = rng.choice(BAD_ATTRS) if rng.random() < .9 else rng.choice(
                    BAD_VALUES)
        elif isinstance(node, dict) and what == 2:             # an input reference
            inputs = node.get("inputs")
            if isinstance(inputs, list) and inputs and rng.random() < .8:
                i = rng.randrange(len(inputs))
                entry = inputs[i]
                idx = rng.choice([n, n + 5, -1, -n - 1, nodes.index(node), 2 ** 31, 2 ** 63,
                                  10 ** 20, 1.5, "0", None, rng.randrange(max(n, 1))])
                if isinstance(entry, list) and entry and rng.random() < .7:
                    j = rng.randrange(len(entry))
                    entry[j] = idx if j == 0 else rng.choice([1, 5, -1, 2 ** 40, None, "0"])
                else:
                    inputs[i] = rng.choice([[idx, 0, 0], [idx], [idx, 0], [idx, 0, 0, 0], idx,
                                            {"node": idx}, "x"])
            elif isinstance(inputs, list) and inputs:
                if rng.random() < .5:
                    inputs.pop(rng.randrange(len(inputs)))
                else:
                    inputs.append(copy.deepcopy(rng.choice(inputs)))
            else:
                node["inputs"] = rng.choice(BAD_VALUES)
        elif isinstance(node, dict) and what == 3:             # the name
            others = [m.get("name") for m in nodes if isinstance(m, dict)]
            node["name"] = rng.choice(others + ["", None, 3, "a" * 1000, "x\x00y", "données"])
        elif isinstance(node, dict) and what == 4:             # delete a key of the node
            if node:
                del node[rng.choice(list(node))]
        elif what == 5 and n:                                  # nodes: shuffle, drop, copy
            i, j = rng.randrange(n), rng.randrange(n)
            r = rng.random()
            if r < .4:
                nodes[i], nodes[j] = nodes[j], nodes[i]
            elif r < .7:
                nodes.pop(i)
                n -= 1
            else:
                nodes.insert(j, copy.deepcopy(nodes[i]))
                n += 1
        elif what == 6 and isinstance(doc, dict):              # heads, arg_nodes, row ptrs
            key = rng.choice(["heads", "arg_nodes", "node_row_ptr", "attrs"])
            r = rng.random()
            if r < .4 and isinstance(doc.get(key), list) and doc[key]:
                i = rng.randrange(len(doc[key]))
                doc[key][i] = rng.choice([[n, 0, 0], [n - 1, 99, 0], [-1, 0, 0], 2 ** 63, n,
                                          -1, None, [0], []])
            elif r < .7:
                doc[key] = rng.choice(BAD_VALUES)
            else:
                doc.pop(key, None)
        elif what == 7:                                        # any value, a wrong type
            paths = list(_paths(doc))[1:]
            if paths:
                path, _ = rng.choice(paths)
                _set(doc, path, rng.choice(BAD_VALUES))
        elif what == 8:                                        # delete anything
            paths = list(_paths(doc))[1:]
            if paths:
                _delete(doc, rng.choice(paths)[0])
        elif rng.random() < .3:                                # deep nesting somewhere
            paths = list(_paths(doc))[1:]
            if paths and deep is None:
                path, _ = rng.choice(paths)
                _set(doc, path, DEEP)
                depth = rng.choice((50, 200, 1000, 100000))
                deep = ("[" * depth + "]" * depth) if rng.random() < .5 else \
                    ('{"a":' * depth + "1" + "}" * depth)
    text = json.dumps(doc)
    if deep is not None:
        text = text.replace(json.dumps(DEEP), deep, 1)
    return text


# --- the worker: builds and runs cases -----------------------------------------------------------
class Fuzzer:
    """Seeds, case generation and the loaders under test (in the worker process)."""

    def __init__(self):
        import mxc  # noqa: F401  (import cost once, before the first case)
        self.sym_seeds = _symbol_seeds()
        self.sym_docs = [json.loads(t) for _, t, _ in self.sym_seeds]
        self.op_names = _op_names()
        self.params_seeds = _params_seeds()
        self.mods = {k: _mlp_module(*v) for k, v in STATES_OPTIMIZERS.items()}
        self.states_seeds = _states_seeds(self.mods)
        from mxc.ndarray.io import _save_raw
        self.raw_arrays = [_save_raw(a[0]) for a in self.mods["sgd"]._exec_group.param_arrays]
        self.tmp = tempfile.mkdtemp(prefix="mxc-fuzz-")

    # -- generation -----------------------------------------------------------------------------
    def case(self, fmt, index, master=MASTER_SEED):
        """``(seed name, data bytes, extra)`` of case ``index`` of ``fmt``."""
        rng = random.Random(f"{master}/{fmt}/{index}")
        if fmt == "symbol":
            i = rng.randrange(len(self.sym_seeds))
            name, text, shapes = self.sym_seeds[i]
            if rng.random() < .15:                  # bytes: mostly invalid JSON or UTF-8
                others = [t.encode() for _, t, _ in self.sym_seeds]
                return name, mutate_bytes(text.encode(), rng, others), shapes
            return name, mutate_json(copy.deepcopy(self.sym_docs[i]), rng,
                                     self.op_names).encode(), shapes
        if fmt == "params":
            name, data = rng.choice(self.params_seeds)
            return name, mutate_bytes(data, rng, [d for _, d in self.params_seeds]), None
        name, data, key = rng.choice(self.states_seeds)
        others = [d for _, d, _ in self.states_seeds]
        r = rng.random()
        if r < .2:
            return "generated", gen_pickle(rng, self.raw_arrays), key
        if r < .65:
            return name, mutate_pickle(data, rng, others), key
        return name, mutate_bytes(data, rng, others), key

    # -- running --------------------------------------------------------------------------------
    def run(self, fmt, index, data, extra):
        """Run one case; returns the outcome ('ok...' or the exception) or raises."""
        path = os.path.join(self.tmp, f"case{index}.{'json' if fmt == 'symbol' else fmt}")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            return getattr(self, "_run_" + fmt)(path, index, data, extra)
        finally:
            os.unlink(path)

    def _run_symbol(self, path, index, data, shapes):
        import mxc as mx
        if index % 2:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            sym = mx.sym.load_json(text) if text is not None else mx.sym.load(path)
        else:
            sym = mx.sym.load(path)
        args = sym.list_arguments()
        sym.list_outputs()
        sym.list_auxiliary_states()
        sym.tojson()
        given = {k: tuple(v) for k, v in shapes.items() if k in args}
        arg_shapes, out_shapes, aux_shapes = sym.infer_shape(**given)
        if arg_shapes is None:
            return "ok (shapes incomplete)"
        nbytes = 0
        for s in list(arg_shapes) * 2 + list(out_shapes) + list(aux_shapes):
            size = 8
            for d in s:
                size *= d
            nbytes += size
        if nbytes > BIND_LIMIT:
            return "ok (not bound: too large)"
        sym.simple_bind(mx.cpu(), **given)
        return "ok"

    def _run_params(self, path, index, data, _):
        import mxc as mx
        got = mx.nd.load(path) if index % 2 == 0 else mx.nd.load_frombuffer(data)
        for v in (got.values() if isinstance(got, dict) else got):
            v.asnumpy()
        return "ok"

    def _run_states(self, path, index, data, key):
        mod = self.mods[key]
        upd = mod._updater
        upd.states, upd.states_synced, upd.optimizer = {}, {}, mod._optimizer
        upd._states_unchecked = set()
        mod.load_optimizer_states(path)
        mod.update()
        return "ok"


def _classify(exc) -> tuple[str, bool]:
    from mxc.base import MXNetError
    return type(exc).__name__, isinstance(exc, MXNetError)


def worker_main():
    """Serve cases: read 'fmt index master' lines, answer one JSON line each."""
    import resource
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT, MEM_LIMIT))
    except (ValueError, OSError):
        pass
    import warnings
    warnings.simplefilter("ignore")     # "Cannot decide type ...": thousands of them
    fz = Fuzzer()
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        fmt, index, master = line.split()
        index, master = int(index), int(master)
        seed, data, extra = fz.case(fmt, index, master)
        t = time.perf_counter()
        try:
            outcome, ok, msg = fz.run(fmt, index, data, extra), True, ""
        except Exception as e:  # noqa: BLE001 -- classified: only MXNetError is allowed
            outcome, ok = _classify(e)
            msg = str(e)[:300]
        rec = {"fmt": fmt, "case": index, "seed": seed, "outcome": outcome, "ok": ok,
               "msg": msg if not ok else "", "s": round(time.perf_counter() - t, 4)}
        out.write(json.dumps(rec) + "\n")
        out.flush()


# --- the driver: runs a worker, survives its crashes and hangs ----------------------------------
class Driver:
    def __init__(self):
        self.proc = None

    def _start(self):
        env = dict(os.environ)
        env.setdefault("MXC_CACHE_DIR", tempfile.mkdtemp(prefix="mxc-fuzz-cache-"))
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     cwd=REPO, text=True, bufsize=1)
        first = self._read(120.0)
        if first is None or not first.get("ready"):
            raise RuntimeError(f"fuzz worker did not start: {first}")

    def _read(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return "timeout"
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def close(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc = None

    def run(self, fmt, index, master=MASTER_SEED):
        if self.proc is None:
            self._start()
        self.proc.stdin.write(f"{fmt} {index} {master}\n")
        self.proc.stdin.flush()
        rec = self._read(CASE_TIMEOUT)
        if isinstance(rec, dict):
            return rec
        if rec == "timeout":
            self.proc.kill()
            outcome = f"hang (> {CASE_TIMEOUT:.0f} s)"
        else:
            rc = self.proc.wait()
            outcome = f"crash (exit {rc})"
        self.proc.wait()
        self.proc.stdout.close()
        self.proc = None
        return {"fmt": fmt, "case": index, "seed": "?", "outcome": outcome, "ok": False,
                "msg": "", "s": CASE_TIMEOUT}


def run_campaign(driver, fmt, n, master=MASTER_SEED, start=0):
    """Run ``n`` cases of ``fmt``; returns (Counter of outcomes, list of failing records)."""
    counts, failures = collections.Counter(), []
    for i in range(start, start + n):
        rec = driver.run(fmt, i, master)
        counts[rec["outcome"]] += 1
        if not rec["ok"]:
            failures.append(rec)
    return counts, failures


def format_table(results) -> str:
    """results: {fmt: Counter}. One block per format: cases tried, outcomes by type."""
    lines = []
    for fmt, counts in results.items():
        lines.append(f"{fmt}: {sum(counts.values())} mutations")
        for outcome, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {k:7d}  {outcome}")
    return "\n".join(lines)


def _n(fmt):
    slow = config.get("MXC_SLOW")
    return N_CASES[fmt] * (SLOW_FACTOR if slow else 1)


# --- tests ---------------------------------------------------------------------------------------
RESULTS: dict = {}


@pytest.fixture(scope="module")
def driver():
    d = Driver()
    yield d
    d.close()
    if RESULTS:
        print("\nfuzz outcomes\n" + format_table(RESULTS))


@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzz(driver, fmt):
    counts, failures = run_campaign(driver, fmt, _n(fmt))
    RESULTS[fmt] = counts
    print(f"\n{format_table({fmt: counts})}")
    assert not failures, (
        f"{len(failures)} of {sum(counts.values())} {fmt} mutations did not end in success or "
        "an MXNetError; reproduce one with python tests/test_fuzz.py --fmt FMT --case N --dump "
        "DIR:\n" + "\n".join(f"  case {r['case']} (seed {r['seed']}): {r['outcome']}: "
                              f"{r['msg']}" for r in failures[:20]))


# --- regressions: inputs the fuzzer found, minimized --------------------------------------------
_MLP_JSON = ('{"nodes": [{"op": "null", "name": "x", "inputs": []}, %s], "arg_nodes": [0], '
             '"heads": [[1, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}}')
# symbol JSON: (text, input shapes)
SYMBOL_REGRESSIONS = {
    # 'nodes' not a list: TypeError ('int' object is not iterable) from the legacy-file check
    "nodes_not_a_list": ('{"nodes": -1, "heads": [[0, 0, 0]], "attrs": {}}', {}),
    # num_args far above the inputs: listing 2**31 input names hung the loader
    "concat_num_args_huge": (_MLP_JSON % '{"op": "Concat", "name": "c", "attrs": {"num_args": '
                             '"2147483648"}, "inputs": [[0, 0, 0], [0, 0, 0]]}', {"x": (2, 3)}),
    # num_outputs of 2**31 - 1: listing the outputs hung the loader
    "slice_channel_num_outputs_huge": (_MLP_JSON % '{"op": "SliceChannel", "name": "s", '
                                       '"attrs": {"num_outputs": "2147483647"}, "inputs": '
                                       '[[0, 0, 0]]}', {"x": (2, 4)}),
    "fused_num_outputs_huge": (_MLP_JSON % '{"op": "fused", "name": "f", "attrs": '
                               '{"num_outputs": "2147483647"}, "inputs": []}', {}),
}
# .params files, each refused with a FormatError
PARAMS_REGRESSIONS = {
    # a V2 float32 array of shape (0, 2**62): no data, but byte strides past int64; loaded,
    # then asnumpy() raised numpy's ValueError ("array is too big")
    "zero_size_huge_strides": b"\x12\x01" + bytes(14) + b"\x01" + bytes(7) + b"\xc9\xfa\x93\xf9"
                              + bytes(4) + b"\x02" + bytes(3) + bytes(15) + b"@\x01" + bytes(19),
}
# .states files, each refused with a FormatError (before: what it did instead)
STATES_REGRESSIONS = {
    # bytearray(400 MB) from 46 bytes: allocated it (a bare MemoryError for bigger sizes)
    "bytearray_400MB": b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94"
                       b"\x8c\tbytearray\x94\x93\x94J\x00\x00\x00\x19\x85\x94R\x94.",
    # list(range(10**9)): 8 GB
    "list_of_range": b"\x80\x04\x8c\x08builtins\x8c\x04list\x93\x8c\x08builtins\x8c\x05range"
                     b"\x93J\x00\xca\x9a;\x85R\x85R.",
    # a dict key that is a tuple nested 100000 deep: hashing it overflowed the C stack (crash)
    "deep_tuple_key": b"\x80\x04}N" + b"\x85" * 100000 + b"Ns.",
    # an object array of shape (10**9,) holding 2 items: numpy's __setstate__ crashed
    "object_array_shape_mismatch":
        b"\x80\x04\x8c\x16numpy._core.multiarray\x94\x8c\x0c_reconstruct\x94\x93\x94\x8c\x05"
        b"numpy\x94\x8c\x07ndarray\x94\x93\x94K\x00\x85\x94C\x01b\x94\x87\x94R\x94(K\x01J\x00"
        b"\xca\x9a;\x85\x94h\x03\x8c\x05dtype\x94\x93\x94\x8c\x02O8\x94\x89\x88\x87\x94R\x94("
        b"K\x03\x8c\x01|\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?t\x94b\x89]\x94(K\x01K\x02e"
        b"t\x94b.",
    # FactorScheduler with step 0: the first update looped for ever (so did MXNet)
    "factor_scheduler_step_0":
        b"\x80\x04\x8c\x12mxnet.lr_scheduler\x8c\x0fFactorScheduler\x93)\x81}(\x8c\x07base_lrG?"
        b"\x84z\xe1G\xae\x14{\x8c\x0cwarmup_stepsK\x00\x8c\x0fwarmup_final_lrG?\x84z\xe1G\xae"
        b"\x14{\x8c\x0fwarmup_begin_lrK\x00\x8c\x0bwarmup_mode\x8c\x06linear\x8c\x04stepK\x00"
        b"\x8c\x06factorK\x01\x8c\x0estop_factor_lrG>Ey\x8e\xe20\x8c:\x8c\x05countK\x00ub.",
    # an optimizer whose idx2name maps an index to a dict: TypeError (unhashable) at update()
    "optimizer_idx2name_not_str": b"\x80\x04\x8c\x19mxnet.optimizer.optimizer\x8c\x03SGD\x93)"
                                  b"\x81}(\x8c\x08idx2name}K\x03}sub.",
}
# (states, SGD optimizer with aggregate_num=0), loaded into a module whose updater aggregates:
# update() looped for ever (cur += 0); valid, so it must load and update
SGD_AGGREGATE_0 = (
    b"\x80\x04}\x8c\x19mxnet.optimizer.optimizer\x8c\x03SGD\x93)\x81}(\x8c\x0crescale_gradG?\xf0"
    b"\x00\x00\x00\x00\x00\x00\x8c\x0clr_schedulerN\x8c\x02lrG?\x84z\xe1G\xae\x14{\x8c\x02wdG\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x8c\x07lr_mult}\x8c\x07wd_mult}\x8c\x10begin_num_updateK\x00"
    b"\x8c\nnum_updateK\x00\x8c\x18_all_index_update_counts}K\x00}\x94s\x8c\x13_index_update_"
    b"counth\x00\x8c\rclip_gradientN\x8c\x0fmulti_precision\x89\x8c\raggregate_numK\x00\x8c\x08"
    b"idx2name}\x8c\x08sym_info)\x8c\x0eallow_np_array\x89\x8c\x08momentumG?\xec\xcc\xcc\xcc\xcc"
    b"\xcc\xcd\x8c\x0blazy_update\x88ub\x86.")


@contextlib.contextmanager
def _time_limit(seconds):
    """Fail (instead of hanging the test run) if the block runs longer than ``seconds``."""
    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _expect_mxnet_error(fn, *args):
    from mxc.base import MXNetError
    with _time_limit(60):
        try:
            fn(*args)
        except MXNetError as e:
            return e
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"{type(e).__name__} instead of an MXNetError: {e}")
    pytest.fail("no error")


@pytest.mark.parametrize("name", sorted(STATES_REGRESSIONS))
def test_states_regression(name):
    from mxc.base import FormatError
    from runtime.module._states import loads_states
    e = _expect_mxnet_error(loads_states, STATES_REGRESSIONS[name], name + ".states")
    assert isinstance(e, FormatError) and str(e).startswith(f"{name}.states: byte ")


def test_states_regression_optimizer_without_aggregation(tmp_path):
    mod = _mlp_module(*STATES_OPTIMIZERS["sgd"])
    assert mod._updater.aggregate_updates
    f = tmp_path / "agg0.states"
    f.write_bytes(SGD_AGGREGATE_0)
    with _time_limit(60):
        mod.load_optimizer_states(str(f))
        mod.update()
    assert mod._updater.optimizer.aggregate_num == 0 and not mod._updater.aggregate_updates


def test_factor_scheduler_far_behind_is_closed_form():
    """A scheduler whose count is far behind num_update (a resumed or edited state) catches up
    at once, to what stepping one update at a time gives."""
    from runtime.lr_scheduler import FactorScheduler
    stepped = FactorScheduler(step=2, factor=0.99, stop_factor_lr=1e-12, base_lr=1.0)
    for n in range(1, 5002):
        stepped(n)
    jumped = FactorScheduler(step=2, factor=0.99, stop_factor_lr=1e-12, base_lr=1.0)
    assert jumped(5001) == pytest.approx(stepped.base_lr, rel=1e-9)
    assert jumped.count == stepped.count
    huge = FactorScheduler(step=1, factor=0.5)
    with _time_limit(10):
        assert huge(10 ** 15) == huge.stop_factor_lr


@pytest.mark.parametrize("name", sorted(PARAMS_REGRESSIONS))
def test_params_regression(name, tmp_path):
    import mxc as mx
    from mxc.base import FormatError
    p = tmp_path / f"{name}.params"
    p.write_bytes(PARAMS_REGRESSIONS[name])

    def go():
        for v in mx.nd.load(str(p)):
            v.asnumpy()
    assert isinstance(_expect_mxnet_error(go), FormatError)


@pytest.mark.parametrize("name", sorted(SYMBOL_REGRESSIONS))
def test_symbol_regression(name):
    import mxc as mx
    text, shapes = SYMBOL_REGRESSIONS[name]

    def go():
        s = mx.sym.load_json(text)
        s.list_arguments()
        s.list_outputs()
        s.tojson()
        s.infer_shape(**shapes)
    _expect_mxnet_error(go)


# --- command line --------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--fmt", choices=FORMATS, action="append",
                    help="formats to fuzz (default: all)")
    ap.add_argument("-n", type=int, help="cases per format (default: the CI count)")
    ap.add_argument("--slow", action="store_true", help="ten times the CI count (MXC_SLOW)")
    ap.add_argument("--master", type=int, default=MASTER_SEED, help="master seed")
    ap.add_argument("--start", type=int, default=0, help="first case index")
    ap.add_argument("--case", type=int, help="run only this case, in this process, and show "
                                             "its traceback")
    ap.add_argument("--dump", help="with --case: write the mutated input into this directory")
    a = ap.parse_args(argv)
    if a.worker:
        return worker_main()
    fmts = a.fmt or list(FORMATS)
    if a.case is not None:
        fz = Fuzzer()
        for fmt in fmts:
            seed, data, extra = fz.case(fmt, a.case, a.master)
            print(f"{fmt} case {a.case}: seed {seed}, {len(data)} bytes")
            if a.dump:
                os.makedirs(a.dump, exist_ok=True)
                p = os.path.join(a.dump, f"{fmt}-{a.master}-{a.case}.bin")
                with open(p, "wb") as fh:
                    fh.write(data)
                print(f"  written to {p}")
            print("  outcome:", fz.run(fmt, a.case, data, extra))
        return 0
    if a.slow:
        os.environ["MXC_SLOW"] = "1"
    d = Driver()
    results, bad = {}, []
    t = time.time()
    try:
        for fmt in fmts:
            counts, failures = run_campaign(d, fmt, a.n if a.n is not None else _n(fmt),
                                            a.master, a.start)
            results[fmt] = counts
            bad += failures
    finally:
        d.close()
    print(format_table(results))
    print(f"({time.time() - t:.1f} s, master seed {a.master})")
    for r in bad:
        print(f"FAIL {r['fmt']} case {r['case']} (seed {r['seed']}): {r['outcome']}: {r['msg']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
