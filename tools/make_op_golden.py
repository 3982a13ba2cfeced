"""Record MXNet 1.9.1's outputs and gradients for the operator cases in tools/golden_cases.

    PY=$(../shared/oracle/setup.sh)
    $PY tools/make_op_golden.py [family ...]      # default: every family

Writes ``tests/data/ops/<family>/<case>.npz`` with ``in:<name>`` (inputs), ``out:<i>``,
``head:<i>`` (head gradients), ``grad:<name>``, ``aux:<name>`` (aux states after forward) and
``meta`` (a JSON string: op, attrs as MXNet stored them, input order, is_train). Inputs are
seeded from the case name, so reruns are byte-identical.
"""
from __future__ import annotations

import json
import os
import sys
import zlib

import numpy as np

os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE")   # oneDNN subgraphs change internals
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mxnet as mx  # noqa: E402

from golden_cases import FAMILIES, load_family, make_spd  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "data", "ops")


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def sym_fn(op: str):
    mod = mx.sym
    for part in op.split(".")[:-1]:
        mod = getattr(mod, part)
    return getattr(mod, op.split(".")[-1])


def make_inputs(case, rng):
    vals = {}
    for name, shape in case.inputs.items():
        dt = case.dtypes.get(name, "float32")
        if name in case.ints:
            vals[name] = rng.integers(0, case.ints[name], shape).astype(dt)
        else:
            lo, hi = case.ranges.get(name, (-2.0, 2.0))
            vals[name] = rng.uniform(lo, hi, shape).astype(dt)
        if name in case.spd:
            vals[name] = make_spd(vals[name])
    return vals


def record(family: str, case) -> str:
    rng = np.random.default_rng(seed_of(f"{family}/{case.name}"))
    vals = make_inputs(case, rng)
    variables = {n: mx.sym.Variable(n) for n in case.inputs}
    sym = sym_fn(case.op)(**variables, **case.attrs, name="op")
    args = sym.list_arguments()
    aux = sym.list_auxiliary_states()
    missing = [n for n in args + aux if n not in vals]
    if missing:
        raise SystemExit(f"{family}/{case.name}: inputs {missing} not given (have "
                         f"{list(vals)}; the op lists {args} + aux {aux})")
    ctx = mx.cpu()
    arg_arrays = [mx.nd.array(vals[n], dtype=vals[n].dtype) for n in args]
    aux_arrays = [mx.nd.array(vals[n], dtype=vals[n].dtype) for n in aux]
    grad_req = {n: ("null" if (n in case.no_grad or not case.grad or
                               vals[n].dtype.kind not in "f") else "write") for n in args}
    grads = [mx.nd.zeros(a.shape, dtype=a.dtype) for a in arg_arrays]
    exe = sym.bind(ctx, arg_arrays, args_grad=grads, grad_req=grad_req, aux_states=aux_arrays)
    outs = exe.forward(is_train=case.is_train or case.grad)
    out_np = [o.asnumpy() for o in outs]
    data = {f"in:{n}": v for n, v in vals.items()}
    for i, o in enumerate(out_np):
        data[f"out:{i}"] = o
    if case.grad:
        heads = []
        if not case.loss:
            for i, o in enumerate(out_np):
                h = rng.standard_normal(o.shape).astype(o.dtype)
                data[f"head:{i}"] = h
                heads.append(mx.nd.array(h, dtype=h.dtype))
            exe.backward(heads)
        else:
            exe.backward()
        for n, g in zip(args, grads):
            if grad_req[n] != "null":
                data[f"grad:{n}"] = g.asnumpy()
    for n, a in zip(aux, exe.aux_arrays):
        data[f"aux:{n}"] = a.asnumpy()
    node = json.loads(sym.tojson())["nodes"][-1]
    meta = {"op": case.op, "attrs": node.get("attrs", {}), "mx_op": node["op"],
            "arguments": args, "aux": aux, "is_train": bool(case.is_train),
            "n_out": len(out_np), "loss": case.loss}
    data["meta"] = np.array(json.dumps(meta, sort_keys=True))
    d = os.path.join(OUT, family)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"{case.name}.npz")
    np.savez_compressed(path, **data)
    return path


def main(families):
    for fam in families:
        cases = load_family(fam)
        names = [c.name for c in cases]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise SystemExit(f"{fam}: duplicate case names {sorted(dup)}")
        keep = set()
        for c in cases:
            keep.add(os.path.basename(record(fam, c)))
        d = os.path.join(OUT, fam)
        if os.path.isdir(d):
            for f in os.listdir(d):
                if f.endswith(".npz") and f not in keep:
                    os.unlink(os.path.join(d, f))
        print(f"{fam}: {len(cases)} cases")


if __name__ == "__main__":
    main(sys.argv[1:] or FAMILIES)
