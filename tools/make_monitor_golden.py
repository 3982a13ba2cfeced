"""Record what MXNet 1.9.1 shows a monitor, for tests/test_monitor.py.

Run with the reference venv (see ../shared/oracle/README.md):

    PY=$(../shared/oracle/setup.sh)
    $PY tools/make_monitor_golden.py

Writes tests/data/monitor_golden.json with

- ``ops``: for the first golden case of every operator family in tools/golden_cases, the names
  an executor bound with ``set_monitor_callback(cb, monitor_all=True)`` reports in an inference
  forward (``data``, ``op_data`` / ``op_input0``, ..., ``op_output``): how MXNet names each
  operator's inputs and outputs;
- ``nets``: for a small MLP and a small conv net (fixed parameters, fixed batch), the
  ``Monitor.toc()`` results of ``Module`` runs: inference and ``forward_backward``, with and
  without ``monitor_all``, ``sort`` on and off, the default statistic and a mean-absolute one.

MXNet's oneDNN subgraph backend (on by default in this build) would rename fused nodes
(``sg_mkldnn_conv_bn_act_0_output``); it is turned off, as MXNet's own monitor tests do.
Backward values that MXNet reports without computing them (the gradient of an input nobody
asked for: ``fc1_backward_output0`` when ``data`` has grad_req 'null', a label's gradient,
pooling's workspace) are uninitialized memory in MXNet; they are stored as None.
"""
from __future__ import annotations

import json
import os
import sys

os.environ["MXNET_SUBGRAPH_BACKEND"] = "NONE"

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
OUT = os.path.join(HERE, "..", "tests", "data", "monitor_golden.json")


def op_names(mx, np):
    from golden_cases import FAMILIES, load_family
    out = {}
    for fam in FAMILIES:
        for case in load_family(fam):
            if case.op in out:
                continue
            fn = mx.sym
            for part in case.op.split("."):
                fn = getattr(fn, part)
            sym = fn(**{n: mx.sym.Variable(n) for n in case.inputs}, **case.attrs, name="op")
            names = []
            exe = sym.simple_bind(mx.cpu(), grad_req="null", **dict(case.inputs))
            exe.set_monitor_callback(lambda n, a: names.append(n.decode()), monitor_all=True)
            exe.forward(is_train=False)
            mx.nd.waitall()
            out[case.op] = {"case": f"{fam}/{case.name}", "names": names}
    return out


def nets(mx, np):
    from golden_cases.monitor_nets import build_nets
    out = {}
    for name, (sym, data_shape, n_class, uncomputed) in build_nets(mx).items():
        rng = np.random.RandomState(0)
        x = rng.uniform(-1, 1, data_shape).astype("float32")
        y = (np.arange(data_shape[0]) % n_class).astype("float32")
        arg_shapes, _, aux_shapes = sym.infer_shape(data=data_shape)
        prng = np.random.RandomState(1)
        params = {n: prng.uniform(-0.5, 0.5, s).astype("float32")
                  for n, s in zip(sym.list_arguments(), arg_shapes)
                  if n not in ("data", "softmax_label")}
        aux = {n: (np.zeros(s, "float32") if n.endswith("mean") else np.ones(s, "float32"))
               for n, s in zip(sym.list_auxiliary_states(), aux_shapes)}
        runs = {}
        for train in (False, True):
            for mall in (False, True):
                for sort in (False, True):
                    for stat in ("default", "mean_abs"):
                        kw = {}
                        if stat == "mean_abs":
                            kw["stat_func"] = lambda a: mx.nd.sum(mx.nd.abs(a)) / a.size
                        mon = mx.mon.Monitor(1, pattern=".*", sort=sort, monitor_all=mall, **kw)
                        it = mx.io.NDArrayIter(x, y, batch_size=data_shape[0])
                        mod = mx.mod.Module(sym, context=mx.cpu())
                        mod.bind(it.provide_data, it.provide_label, for_training=train)
                        mod.init_params(arg_params={k: mx.nd.array(v) for k, v in params.items()},
                                        aux_params={k: mx.nd.array(v) for k, v in aux.items()})
                        mod.install_monitor(mon)
                        batch = next(iter(it))
                        mon.tic()
                        if train:
                            mod.forward_backward(batch)
                        else:
                            mod.forward(batch, is_train=False)
                        res = []
                        for n, k, v in mon.toc():
                            res.append([n, k, None if k in uncomputed else v])
                        runs[f"train={int(train)} all={int(mall)} sort={int(sort)} "
                             f"stat={stat}"] = res
        out[name] = {"data_shape": list(data_shape), "n_class": n_class,
                     "x": x.tolist(), "params": {k: v.tolist() for k, v in params.items()},
                     "aux": {k: v.tolist() for k, v in aux.items()}, "runs": runs}
    return out


def main():
    import mxnet as mx
    import numpy as np
    data = {"mxnet_version": mx.__version__, "ops": op_names(mx, np), "nets": nets(mx, np)}
    with open(OUT + ".tmp", "w") as f:
        json.dump(data, f, indent=0, sort_keys=True)
        f.write("\n")
    os.replace(OUT + ".tmp", OUT)
    print(f"wrote {OUT}: {len(data['ops'])} operators, {len(data['nets'])} nets")


if __name__ == "__main__":
    main()
