"""Golden data for tests/test_kvstore_dist.py: MXNet 1.9.1's ``dist_sync`` kvstore with 2-bit
gradient compression, run by MXNet itself (one scheduler, one server, two workers on loopback,
started here the way MXNet's tools/launch.py --launcher local starts them).

    /root/.cache/mxc-oracle/bin/python tools/make_kvstore_dist_golden.py

writes tests/data/kvstore_dist/gc2bit.npz: for each step the gradients each worker pushed
(``grad_r<rank>_k<key>_s<step>``) and what every worker pulled back, without an optimizer
(``sum_k<key>_s<step>``: the server's sum of the dequantized pushes) and with SGD on the server
(``w_k<key>_s<step>``)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "kvstore_dist",
                   "gc2bit.npz")
SHAPES = {3: (37,), 7: (4, 20)}
STEPS = 5
THRESHOLD = 0.5


def grads(rank, key, step):
    rng = np.random.RandomState(1000 * rank + 10 * key + step)
    return rng.uniform(-1.3, 1.3, SHAPES[key]).astype(np.float32)


def worker(path):
    import mxnet as mx
    kv = mx.kv.create("dist_sync")
    kv.set_gradient_compression({"type": "2bit", "threshold": THRESHOLD})
    out = {}
    for key, shape in SHAPES.items():
        kv.init(key, mx.nd.zeros(shape))
    kv._barrier()
    for step in range(STEPS):
        for key, shape in SHAPES.items():
            kv.push(key, mx.nd.array(grads(kv.rank, key, step)))
            o = mx.nd.zeros(shape)
            kv.pull(key, out=o)
            out[f"sum_k{key}_s{step}"] = o.asnumpy()
    kv._barrier()
    # then SGD on the server (one store per process: ps-lite allows one)
    kv2 = kv                    # the same store, now with an optimizer
    kv2.set_optimizer(mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, rescale_grad=0.5))
    for key, shape in SHAPES.items():
        kv2.init(100 + key, mx.nd.ones(shape))
    kv2._barrier()
    for step in range(STEPS):
        for key, shape in SHAPES.items():
            kv2.push(100 + key, mx.nd.array(grads(kv.rank, key, step)))
            o = mx.nd.zeros(shape)
            kv2.pull(100 + key, out=o)
            out[f"w_k{key}_s{step}"] = o.asnumpy()
    kv2._barrier()
    if kv.rank == 0:
        for step in range(STEPS):
            for key in SHAPES:
                for r in range(kv.num_workers):
                    out[f"grad_r{r}_k{key}_s{step}"] = grads(r, key, step)
        out["threshold"] = np.float32(THRESHOLD)
        np.savez(path, **out)


def main():
    if os.environ.get("DMLC_ROLE"):
        import mxnet  # noqa: F401  (a scheduler or server serves inside the import)
        if os.environ["DMLC_ROLE"] == "worker":
            worker(sys.argv[1])
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, DMLC_NUM_WORKER="2", DMLC_NUM_SERVER="1",
               DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(port))
    path = os.path.abspath(OUT)
    procs = [subprocess.Popen([sys.executable, __file__, path], env=dict(env, DMLC_ROLE=role))
             for role in ("scheduler", "server", "worker", "worker")]
    try:
        rcs = [p.wait(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    if any(rcs):
        sys.exit(f"a process failed: exit statuses {rcs}")
    print("wrote", path)


if __name__ == "__main__":
    main()
