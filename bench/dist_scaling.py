"""Data-parallel scaling of ``kvstore='dist_sync'`` on this machine, and a model of where it
stops scaling on a cluster.

    python -m bench.dist_scaling                   # 1 vs 2 worker processes, then the model
    python -m bench.dist_scaling --workers 1,2,4 --steps 30 --hidden 1024

Each run starts N worker processes on loopback (gloo; torchrun's environment, one mxc thread
per process) that train the same MLP (784-H-H-10, batch ``--batch`` per worker) with
Module + dist_sync for ``--steps`` timed steps after warm-up. Rank 0 reports: step time,
samples/s per process and in all, and the time per step spent in the allreduce (the kvstore's
time in collectives). Output: one JSON line per run, a table, then the paper model.

The model (``model_table``): ring allreduce moves ``2 (W - 1) / W * S`` bytes per worker per
step for ``S`` bytes of gradients, so one step takes ``compute + 2 (W-1)/W * S / bandwidth +
2 (W-1) * latency`` (mxc does not overlap the allreduce with backward: the compiled backward
is one program; buckets overlap only the optimizer update). Efficiency is
``compute / step``; the table shows it for gradient sizes and link speeds at 8-64 workers.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def worker(args, out):
    import numpy as np

    import mxc as mx
    kv = mx.kv.create("dist_sync")
    data = mx.sym.Variable("data")
    h = data
    for i in range(2):
        h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=args.hidden, name=f"fc{i}"),
                              act_type="relu")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10, name="out"),
                               name="softmax")
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.bind(data_shapes=[("data", (args.batch, 784))],
             label_shapes=[("softmax_label", (args.batch,))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(kvstore=kv, optimizer="sgd",
                       optimizer_params={"learning_rate": 0.01, "momentum": 0.9})
    rng = np.random.RandomState(kv.rank)
    batch = mx.io.DataBatch([mx.nd.array(rng.standard_normal((args.batch, 784)))],
                            [mx.nd.array(rng.randint(0, 10, args.batch))])
    for _ in range(3):
        mod.forward_backward(batch)
        mod.update()
    kv._barrier()
    kv._comm_seconds = 0.0
    t_fb = t_up = 0.0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        a = time.perf_counter()
        mod.forward_backward(batch)
        b = time.perf_counter()
        mod.update()
        t_up += time.perf_counter() - b
        t_fb += b - a
    mod.get_params()             # waits for the last update
    wall = time.perf_counter() - t0
    grad_bytes = sum(int(np.prod(a[0].shape)) * 4 for a in mod._exec_group.param_arrays)
    if kv.rank == 0:
        rec = {"workers": kv.num_workers, "batch_per_worker": args.batch,
               "hidden": args.hidden, "grad_bytes": grad_bytes,
               "step_ms": 1e3 * wall / args.steps,
               "fwd_bwd_ms": 1e3 * t_fb / args.steps,
               "update_ms": 1e3 * t_up / args.steps,
               "allreduce_ms": 1e3 * kv._comm_seconds / args.steps,
               "samples_per_s_per_process": args.batch * args.steps / wall,
               "samples_per_s_total": kv.num_workers * args.batch * args.steps / wall}
        with open(out, "w") as f:
            json.dump(rec, f)


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(n, args, tmp):
    out = os.path.join(tmp, f"w{n}.json")
    port = str(_port())
    argv = [sys.executable, "-m", "bench.dist_scaling", "--worker", out,
            "--steps", str(args.steps), "--batch", str(args.batch),
            "--hidden", str(args.hidden)]
    procs = []
    for r in range(n):
        env = dict(os.environ, RANK=str(r), WORLD_SIZE=str(n), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=port, MXC_NUM_THREADS=str(args.threads), OMP_NUM_THREADS="1",
                   MXC_DIST_TIMEOUT="120",
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        procs.append(subprocess.Popen(argv, env=env, cwd=ROOT))
    try:
        rcs = [p.wait(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    if any(rcs):
        raise SystemExit(f"bench.dist_scaling: a worker failed ({rcs})")
    with open(out) as f:
        return json.load(f)


def model_table(compute_s=(0.05, 0.2), grad_mb=(7.3, 100.0, 500.0),
                links_gbit=(10, 25, 100), workers=(8, 16, 32, 64), latency_s=20e-6):
    """Scaling efficiency ``compute / (compute + ring allreduce)`` of a step."""
    rows = []
    for c in compute_s:
        for mb in grad_mb:
            for g in links_gbit:
                bw = g * 1e9 / 8
                eff = []
                for w in workers:
                    comm = 2 * (w - 1) / w * mb * 1e6 / bw + 2 * (w - 1) * latency_s
                    eff.append(c / (c + comm))
                rows.append((c, mb, g, eff))
    return rows


def format_model(rows, workers=(8, 16, 32, 64)):
    lines = [f"{'compute/step':>12s} {'grads MB':>9s} {'link Gb/s':>9s} "
             + " ".join(f"{'W=' + str(w):>7s}" for w in workers)]
    for c, mb, g, eff in rows:
        lines.append(f"{c * 1e3:10.0f}ms {mb:9.1f} {g:9d} "
                     + " ".join(f"{100 * e:6.0f}%" for e in eff))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dist_scaling",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", default="1,2")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1, help="mxc threads per worker")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args, args.worker)
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.workers.split(",")):
            rec = run(n, args, tmp)
            print(json.dumps(rec), flush=True)
            results.append(rec)
    base = results[0]["samples_per_s_total"]
    print(f"\n{'workers':>7s} {'step ms':>8s} {'fwd+bwd':>8s} {'update':>7s} "
          f"{'allreduce':>9s} {'samples/s/proc':>14s} {'total':>8s} {'speed-up':>8s}")
    for r in results:
        print(f"{r['workers']:7d} {r['step_ms']:8.1f} {r['fwd_bwd_ms']:8.1f} "
              f"{r['update_ms']:7.1f} {r['allreduce_ms']:9.2f} "
              f"{r['samples_per_s_per_process']:14.0f} {r['samples_per_s_total']:8.0f} "
              f"{r['samples_per_s_total'] / base:8.2f}")
    print(f"\ngradients: {results[0]['grad_bytes'] / 1e6:.1f} MB per step")
    print("\nmodel: efficiency (compute / step) of ring allreduce, no overlap with backward")
    print(format_model(model_table()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
