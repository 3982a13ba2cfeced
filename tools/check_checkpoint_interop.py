"""Check that MXNet 1.9.1 reads and resumes a checkpoint written by mxc (symbol, params and
optimizer states), and ends where MXNet's own run ends.

Two steps, from the repository root:

    python tools/check_checkpoint_interop.py write /tmp/interop        # mxc (project python)
    PY=$(../shared/oracle/setup.sh)
    $PY tools/check_checkpoint_interop.py verify /tmp/interop          # MXNet

``write`` trains the MLP of tests/data/training/ckpt_mlp.npz (same data, same initial
parameters as tools/make_training_golden.py's ``ckpt_mlp`` case) for one epoch with mxc's
Module (SGD, lr 0.1, momentum 0.9, wd 1e-4) and saves ``mxc_mlp-symbol.json``,
``mxc_mlp-0001.params`` and ``mxc_mlp-0001.states``; it also writes ``kv.states`` from a
kvstore updater with ``dump_optimizer=True`` (states plus the pickled optimizer).

``verify`` loads them with ``mx.mod.Module.load(prefix, 1, load_optimizer_states=True)``,
trains epoch 1 in MXNet and compares the parameters with MXNet's own two-epoch run
(``final:*`` in ckpt_mlp.npz): exit status 0 when they agree to rtol 2e-3. It also unpickles
``kv.states`` with MXNet and runs one update with the optimizer it contains.
"""
from __future__ import annotations

import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "training")
SGD = {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4}


def init_params():
    """The initial parameters of make_training_golden's MLP cases (same seed and order)."""
    z = np.load(os.path.join(DATA, "mlp_sgd.npz"))
    return {k[5:]: z[k] for k in z.files if k.startswith("init:")}


def write(out):
    sys.path.insert(0, ROOT)
    import mxc as mx
    from runtime import kvstore
    from runtime.io import NDArrayIter
    from runtime.module import Module
    os.makedirs(out, exist_ok=True)
    z = np.load(os.path.join(DATA, "ckpt_mlp.npz"))
    sym = mx.sym.load(os.path.join(DATA, "mlp-symbol.json"))
    mod = Module(sym)
    mod.fit(NDArrayIter(z["data"], z["label"], batch_size=8), optimizer="sgd",
            optimizer_params=SGD,
            arg_params={k: mx.nd.array(v) for k, v in init_params().items()}, num_epoch=1)
    mod.save_checkpoint(os.path.join(out, "mxc_mlp"), 1, save_optimizer_states=True)
    kv = kvstore.create("local")
    kv.init("w", mx.nd.ones((3,)))
    kv.set_optimizer(mx.optimizer.create("sgd", learning_rate=0.1, momentum=0.9))
    kv.push("w", [mx.nd.ones((3,)), mx.nd.ones((3,))])
    kv.save_optimizer_states(os.path.join(out, "kv.states"), dump_optimizer=True)
    print("wrote", sorted(os.listdir(out)))


def verify(out):
    import pickle
    os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE")
    import mxnet as mx
    z = np.load(os.path.join(DATA, "ckpt_mlp.npz"))
    mod = mx.mod.Module.load(os.path.join(out, "mxc_mlp"), 1, load_optimizer_states=True)
    train = mx.io.NDArrayIter(z["data"], z["label"], batch_size=8, shuffle=False)
    mod.fit(train, optimizer="sgd", optimizer_params=SGD, begin_epoch=1, num_epoch=2)
    arg, _ = mod.get_params()
    worst = 0.0
    ok = True
    for k in sorted(arg):
        ref = z["final:" + k]
        got = arg[k].asnumpy()
        err = float(np.max(np.abs(got - ref) / (np.abs(ref) + 1e-3)))
        worst = max(worst, err)
        ok &= np.allclose(got, ref, rtol=2e-3, atol=1e-6)
        print(f"{k}: max rel err {err:.2e}")
    with open(os.path.join(out, "kv.states"), "rb") as f:
        states, opt = pickle.loads(f.read())  # MXNet's own (unrestricted) reader
    updater = mx.optimizer.get_updater(opt)
    updater.states = states
    updater.states_synced = dict.fromkeys(states, False)
    w = mx.nd.ones((3,)) * 0.8
    updater("w", mx.nd.ones((3,)) * 2, w)
    expect = 0.8 + (0.9 * -0.2 - 0.2)
    kv_ok = type(opt).__name__ == "SGD" and np.allclose(w.asnumpy(), expect, rtol=1e-6)
    print("kv.states (with the optimizer) in MXNet:", type(opt).__name__, w.asnumpy(),
          "expected", expect)
    print("OK" if ok and kv_ok else "MISMATCH", f"(worst {worst:.2e})")
    return 0 if ok and kv_ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "verify"):
        sys.exit(__doc__)
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        sys.exit(verify(sys.argv[2]))
