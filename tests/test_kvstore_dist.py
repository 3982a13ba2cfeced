"""kvstore dist_sync over torch.distributed (gloo on loopback): two worker processes against
one process with the global batch, MXNet's 2-bit gradient compression against golden data
from MXNet's own dist_sync (tools/make_kvstore_dist_golden.py), and a worker that dies or hangs.

The workers are this file run as a script (``python tests/test_kvstore_dist.py SCENARIO OUT``),
started by ``mxc launch`` (torchrun) or directly with torchrun's environment; every process is
waited for with a timeout and killed if it outlives it.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOLDEN = os.path.join(HERE, "data", "kvstore_dist", "gc2bit.npz")
STEPS, NW, B = 20, 2, 32          # 20 steps; 2 workers x batch 32 == 1 process x batch 64
NFEAT, NCLS = 10, 4
OPT = {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4}


# --- shared by the workers and the reference ---------------------------------------------------
def dataset():
    rng = np.random.RandomState(7)
    x = rng.standard_normal((STEPS * NW * B, NFEAT)).astype(np.float32)
    y = rng.randint(0, NCLS, len(x)).astype(np.float32)
    return x, y


def part(a, num_parts, part_index):
    """Worker ``part_index``'s share: the rows of its half of every global batch (global
    batch i is rows [64 i, 64 i + 64); worker r reads rows 64 i + 32 r ...)."""
    g = a.reshape(STEPS, num_parts, -1, *a.shape[1:])
    return np.ascontiguousarray(g[:, part_index].reshape(-1, *a.shape[1:]))


def mlp(mx):
    with mx.name.NameManager():       # the same automatic names in every process
        return _mlp(mx)


def _mlp(mx):
    data = mx.sym.Variable("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=16, name="fc1"),
                          act_type="tanh")
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=NCLS, name="fc2"),
                                name="softmax")


def bucket_gen(mx):
    def sym_gen(key):
        data = mx.sym.Variable("data")            # (batch, key, NFEAT)
        h = mx.sym.sum(data, axis=1) * (1.0 / key)
        h = mx.sym.FullyConnected(h, num_hidden=8, name="fc1")
        out = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.relu(h), num_hidden=NCLS,
                                                         name="fc2"), name="softmax")
        return out, ("data",), ("softmax_label",)
    return sym_gen


def train_module(mx, x, y, batch, kvstore, prefix, seed):
    """Module.fit for 2 epochs of STEPS steps; a checkpoint with optimizer states after
    epoch 0, then a resume from it for epoch 1. Returns (params after 1 epoch, after 2,
    after the resume)."""
    mx.random.seed(seed)
    it = mx.io.NDArrayIter(x, y, batch_size=batch, shuffle=False)
    mod = mx.mod.Module(mlp(mx), context=mx.cpu())
    got = {}

    def on_epoch(epoch, sym, arg, aux):
        if epoch == 0:
            got["e1"] = {k: v.asnumpy() for k, v in arg.items()}
            mod.save_checkpoint(prefix, 1, save_optimizer_states=True)

    mod.fit(it, num_epoch=2, kvstore=kvstore, optimizer="sgd", optimizer_params=OPT,
            initializer=mx.init.Xavier(), epoch_end_callback=on_epoch)
    got["e2"] = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    mod2 = mx.mod.Module.load(prefix, 1, load_optimizer_states=True, context=mx.cpu())
    it.reset()
    mod2.fit(it, begin_epoch=1, num_epoch=2, kvstore=kvstore, optimizer="sgd",
             optimizer_params=OPT)
    got["resumed"] = {k: v.asnumpy() for k, v in mod2.get_params()[0].items()}
    return got


def train_bucketing(mx, x, y, batch, kvstore, seed):
    """BucketingModule: STEPS // 2 steps alternating buckets 2 and 3 (data (batch, key, F))."""
    mx.random.seed(seed)
    mod = mx.mod.BucketingModule(bucket_gen(mx), default_bucket_key=3, context=mx.cpu())
    mod.bind(data_shapes=[("data", (batch, 3, NFEAT))], label_shapes=[("softmax_label",
                                                                        (batch,))])
    mod.init_params(initializer=mx.init.Xavier())
    mod.init_optimizer(kvstore=kvstore, optimizer="sgd", optimizer_params=OPT)
    for i in range(STEPS // 2):
        key = 2 + i % 2
        xb = x[i * batch:(i + 1) * batch]
        d = np.stack([xb * (j + 1) for j in range(key)], axis=1)
        db = mx.io.DataBatch([mx.nd.array(d)], [mx.nd.array(y[i * batch:(i + 1) * batch])],
                             bucket_key=key,
                             provide_data=[mx.io.DataDesc("data", d.shape)],
                             provide_label=[mx.io.DataDesc("softmax_label", (batch,))])
        mod.forward_backward(db)
        mod.update()
    return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}


def train_feedforward(mx, x, y, batch, kvstore, seed):
    """The legacy FeedForward model: one epoch of STEPS steps."""
    mx.random.seed(seed)
    it = mx.io.NDArrayIter(x, y, batch_size=batch, shuffle=False)
    model = mx.model.FeedForward(mlp(mx), ctx=mx.cpu(), num_epoch=1, optimizer="sgd",
                                 initializer=mx.init.Xavier(), **OPT)
    model.fit(it, kvstore=kvstore)
    return {k: v.asnumpy() for k, v in model.arg_params.items()}


# --- the worker processes ----------------------------------------------------------------------
def worker_main(outdir):
    import mxc as mx
    kv = mx.kv.create("dist_sync")
    r, n = kv.rank, kv.num_workers
    res = {"rank": np.int64(r), "num_workers": np.int64(n)}
    # init takes rank 0's value; push sums over workers (and devices); pull
    kv.init(3, mx.nd.ones((2, 3)) * (r + 1))
    o = mx.nd.zeros((2, 3))
    kv.pull(3, out=o)
    res["init"] = o.asnumpy()
    kv.push(3, [mx.nd.ones((2, 3)) * (r + 1), mx.nd.ones((2, 3), ctx=mx.cpu(1))])
    kv.pull(3, out=o)
    res["push"] = o.asnumpy()
    kv.pushpull(3, mx.nd.ones((2, 3)) * 10 * (r + 1), out=o)
    res["pushpull"] = o.asnumpy()
    o2 = mx.nd.zeros((2, 3))
    kv.row_sparse_pull(3, out=o2, row_ids=mx.nd.array([0, 1]))
    res["row_sparse_pull"] = o2.asnumpy()
    # string keys, a list of keys, the optimizer on the store
    kv2 = mx.kv.create("dist_device_sync")
    res["type2"] = np.array(kv2.type)
    kv2.init(["a", "b"], [mx.nd.ones((4,)), mx.nd.ones((3, 2))])
    kv2.set_optimizer(mx.optimizer.SGD(learning_rate=0.1, rescale_grad=0.5))
    kv2.push(["a", "b"], [mx.nd.ones((4,)) * (r + 1), mx.nd.ones((3, 2)) * (r + 2)])
    wa, wb = mx.nd.zeros((4,)), mx.nd.zeros((3, 2))
    kv2.pull(["a", "b"], out=[wa, wb])
    res["sgd_a"], res["sgd_b"] = wa.asnumpy(), wb.asnumpy()
    kv2.save_optimizer_states(os.path.join(outdir, "kv2.states"))
    kv._barrier()
    kv.barrier()
    res["dead"] = np.int64(kv.num_dead_node(4, timeout=30))
    # 2-bit gradient compression on MXNet's golden data
    g = np.load(GOLDEN)
    kv3 = mx.kv.create("dist_sync")
    kv3.set_gradient_compression({"type": "2bit", "threshold": float(g["threshold"])})
    shapes = {3: (37,), 7: (4, 20)}
    for k, s in shapes.items():
        kv3.init(k, mx.nd.zeros(s))
    for step in range(5):
        keys = list(shapes)
        kv3.push(keys, [mx.nd.array(g[f"grad_r{r}_k{k}_s{step}"]) for k in keys])
        for k, s in shapes.items():
            out = mx.nd.zeros(s)
            kv3.pull(k, out=out)
            res[f"gc_sum_k{k}_s{step}"] = out.asnumpy()
    kv3.set_optimizer(mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, rescale_grad=0.5))
    for k, s in shapes.items():
        kv3.init(100 + k, mx.nd.ones(s))
    for step in range(5):
        for k, s in shapes.items():
            kv3.push(100 + k, mx.nd.array(g[f"grad_r{r}_k{k}_s{step}"]))
            out = mx.nd.zeros(s)
            kv3.pull(100 + k, out=out)
            res[f"gc_w_k{k}_s{step}"] = out.asnumpy()
    # Module.fit and BucketingModule; parameters initialised with a different seed per rank
    x, y = dataset()
    xp, yp = part(x, n, r), part(y, n, r)
    got = train_module(mx, xp, yp, B, "dist_sync", os.path.join(outdir, "mod"), seed=100 + r)
    for stage, params in got.items():
        for k, v in params.items():
            res[f"mod_{stage}_{k}"] = v
    for k, v in train_bucketing(mx, xp, yp, B, "dist_sync", seed=100 + r).items():
        res[f"bucket_{k}"] = v
    for k, v in train_feedforward(mx, xp, yp, B, "dist_sync", seed=100 + r).items():
        res[f"ff_{k}"] = v
    np.savez(os.path.join(outdir, f"rank{r}.npz"), **res)


def fault_main(outdir, mode):
    """Push until rank 1 dies (os._exit) or hangs at step 3; rank 0 reports what it got."""
    import mxc as mx
    kv = mx.kv.create("dist_sync")
    kv.init(0, mx.nd.zeros((1000,)))
    t0 = None
    try:
        for step in range(1000):
            if kv.rank == 1 and step == 3:
                if mode == "die":
                    os._exit(3)
                time.sleep(600)
            t0 = time.time()
            kv.push(0, mx.nd.ones((1000,)))
            kv.pull(0, out=mx.nd.zeros((1000,)))
    except mx.MXNetError as e:
        with open(os.path.join(outdir, f"{mode}.txt"), "w") as f:
            f.write(f"{type(e).__name__}\n{time.time() - t0:.2f}\n{e}\n")
        raise


# --- the tests ---------------------------------------------------------------------------------
def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MXC_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.update(extra)
    return env


def _reap(procs, timeout):
    """Wait for every process (``timeout`` seconds in all); kill what is left. Returns
    ``[(returncode, stdout+stderr)]``."""
    deadline = time.time() + timeout
    out = []
    try:
        for p in procs:
            try:
                so, _ = p.communicate(timeout=max(0.1, deadline - time.time()))
                out.append((p.returncode, so.decode(errors="replace")))
            except subprocess.TimeoutExpired:
                out.append((None, "timed out"))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, 9) if hasattr(os, "killpg") else p.kill()
                p.wait(timeout=10)
    return out


def _spawn(args, env):
    return subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


import pytest


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The 2-worker job, started by ``mxc launch -n 2 --launcher local`` (torchrun)."""
    outdir = str(tmp_path_factory.mktemp("dist"))
    p = _spawn([sys.executable, "-m", "mxc.cli", "launch", "-n", "2", "--launcher", "local",
                sys.executable, __file__, "worker", outdir], _env(MXC_DIST_TIMEOUT="60"))
    [(rc, log)] = _reap([p], timeout=240)
    assert rc == 0, log[-4000:]
    return outdir, [dict(np.load(os.path.join(outdir, f"rank{r}.npz"))) for r in range(NW)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, batch 64, the same data, the 'local' kvstore (none: one device)."""
    import mxc as mx
    outdir = str(tmp_path_factory.mktemp("ref"))
    x, y = dataset()
    got = train_module(mx, x, y, NW * B, "local", os.path.join(outdir, "mod"), seed=100)
    got["bucket"] = train_bucketing(mx, x, y, NW * B, "local", seed=100)
    got["ff"] = train_feedforward(mx, x, y, NW * B, "local", seed=100)
    return outdir, got


def test_kvstore_api(job):
    _, (r0, r1) = job
    assert (int(r0["rank"]), int(r1["rank"])) == (0, 1)
    assert int(r0["num_workers"]) == 2
    for r in (r0, r1):
        np.testing.assert_array_equal(r["init"], np.ones((2, 3)))       # rank 0's value
        np.testing.assert_array_equal(r["push"], np.full((2, 3), 1 + 1 + 2 + 1))
        np.testing.assert_array_equal(r["pushpull"], np.full((2, 3), 30))
        np.testing.assert_array_equal(r["row_sparse_pull"], r["pushpull"])
        np.testing.assert_allclose(r["sgd_a"], 1 - 0.1 * 0.5 * 3, rtol=1e-6)
        np.testing.assert_allclose(r["sgd_b"], 1 - 0.1 * 0.5 * 5, rtol=1e-6)
        assert str(r["type2"]) == "dist_device_sync"
        assert int(r["dead"]) == 0


def test_optimizer_states_written_by_rank0_only(job):
    outdir, _ = job
    assert os.path.exists(os.path.join(outdir, "kv2.states"))
    # checkpoints: rank 0's files only (the workers share outdir)
    assert sorted(f for f in os.listdir(outdir) if f.startswith("mod")) == \
        ["mod-0001.params", "mod-0001.states", "mod-symbol.json"]


def test_gradient_compression_matches_mxnet(job):
    _, ranks = job
    g = np.load(GOLDEN)
    for r in ranks:
        for step in range(5):
            for k in (3, 7):
                np.testing.assert_array_equal(r[f"gc_sum_k{k}_s{step}"],
                                              g[f"sum_k{k}_s{step}"], err_msg=f"{k} {step}")
                np.testing.assert_allclose(r[f"gc_w_k{k}_s{step}"], g[f"w_k{k}_s{step}"],
                                           rtol=1e-6, atol=1e-6)


def test_two_bit_codec_formula():
    """The codec alone against MXNet's formula written out element by element."""
    import torch

    from runtime.kvstore import _dequantize_2bit, _quantize_2bit
    rng = np.random.RandomState(0)
    t = 0.5
    res_ref = np.zeros(23, np.float32)
    res = torch.zeros(23)
    for _ in range(4):
        gr = rng.uniform(-1.3, 1.3, 23).astype(np.float32)
        want = np.zeros(23, np.float32)
        for i in range(23):
            res_ref[i] += gr[i]
            if res_ref[i] >= t:
                want[i] = t
                res_ref[i] -= t
            elif res_ref[i] <= -t:
                want[i] = -t
                res_ref[i] += t
        packed = _quantize_2bit(torch.from_numpy(gr), res, t)
        assert packed.dtype == torch.uint8 and packed.numel() == 6
        out = torch.zeros(23)
        _dequantize_2bit(packed, 23, t, out)
        np.testing.assert_array_equal(out.numpy(), want)
        np.testing.assert_array_equal(res.numpy(), res_ref)


def test_two_workers_equal_one_process_with_the_global_batch(job, reference):
    _, (r0, r1) = job
    _, ref = reference
    for stage in ("e1", "e2", "resumed"):
        for name, want in ref[stage].items():
            a, b = r0[f"mod_{stage}_{name}"], r1[f"mod_{stage}_{name}"]
            np.testing.assert_array_equal(a, b)      # replicas stay bit-identical
            np.testing.assert_allclose(a, want, rtol=1e-4, atol=1e-5, err_msg=f"{stage} {name}")
    # the resumed run repeats epoch 1 exactly
    for name in ref["e2"]:
        np.testing.assert_array_equal(r0[f"mod_resumed_{name}"], r0[f"mod_e2_{name}"])


def test_bucketing_module_two_workers(job, reference):
    _, (r0, r1) = job
    _, ref = reference
    for name, want in ref["bucket"].items():
        np.testing.assert_array_equal(r0[f"bucket_{name}"], r1[f"bucket_{name}"])
        np.testing.assert_allclose(r0[f"bucket_{name}"], want, rtol=1e-4, atol=1e-5)


def test_feedforward_two_workers(job, reference):
    _, (r0, r1) = job
    _, ref = reference
    for name, want in ref["ff"].items():
        np.testing.assert_array_equal(r0[f"ff_{name}"], r1[f"ff_{name}"])
        np.testing.assert_allclose(r0[f"ff_{name}"], want, rtol=1e-4, atol=1e-5, err_msg=name)


def test_checkpoints_match_the_single_process_run(job, reference):
    import mxc as mx
    outdir, _ = job
    refdir, _ = reference
    a = mx.nd.load(os.path.join(outdir, "mod-0001.params"))
    b = mx.nd.load(os.path.join(refdir, "mod-0001.params"))
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_allclose(a[k].asnumpy(), b[k].asnumpy(), rtol=1e-4, atol=1e-5)
    with open(os.path.join(outdir, "mod-symbol.json")) as f1, \
            open(os.path.join(refdir, "mod-symbol.json")) as f2:
        assert f1.read() == f2.read()


def _fault_job(tmp_path, mode, timeout):
    """Rank 1 exits (``die``) or hangs (``hang``) at step 3; rank 0's outcome."""
    port = str(_port())
    procs = [_spawn([sys.executable, __file__, "fault", str(tmp_path), mode],
                    _env(RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                         MASTER_PORT=port, MXC_DIST_TIMEOUT=str(timeout)))
             for r in range(2)]
    try:
        [(rc, log)] = _reap(procs[:1], timeout=90)
    finally:
        _reap(procs[1:], timeout=1)                     # rank 1: dead, or hung and killed
    assert rc not in (0, None), log[-3000:]
    assert "DistributedError" in log and "rank 0 of 2" in log, log[-3000:]
    with open(tmp_path / f"{mode}.txt") as f:
        name, took = f.readline().strip(), float(f.readline())
    assert name == "DistributedError"
    return took


def test_dead_worker_makes_the_others_fail_fast(tmp_path):
    """A worker killed mid-epoch: the other raises DistributedError well inside the
    timeout (gloo sees the connection close)."""
    took = _fault_job(tmp_path, "die", timeout=30)
    assert took < 30, took


@pytest.mark.slow
def test_hung_worker_makes_the_others_fail_after_the_timeout(tmp_path):
    took = _fault_job(tmp_path, "hang", timeout=5)
    assert 4 < took < 15, took


def test_create_errors(monkeypatch):
    import mxc as mx
    from mxc.base import UnsupportedError
    from runtime.dist import DistributedError
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "DMLC_ROLE",
                 "DMLC_NUM_WORKER", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_WORKER_ID",
                 "DMLC_RANK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DistributedError, match="torchrun"):
        mx.kv.create("dist_sync")
    with pytest.raises(UnsupportedError, match="dist_sync"):
        mx.kv.create("dist_async")
    with pytest.raises(mx.MXNetError, match="Unknown KVStore type"):
        mx.kv.create("nonsense")


def test_launch_dry_run(capsys, tmp_path):
    from mxc.cli import main
    assert main(["launch", "-n", "2", "--launcher", "local", "--dry-run", "train.py",
                 "--kv-store", "dist_sync"]) == 0
    out = capsys.readouterr().out
    assert "torch.distributed.run --standalone" in out and "--nproc-per-node=2" in out
    assert "DMLC_NUM_WORKER=2" in out and "train.py --kv-store dist_sync" in out
    hosts = tmp_path / "hosts"
    hosts.write_text("h1\nh2:2222\n")
    assert main(["launch", "-n", "4", "-H", str(hosts), "--dry-run", "python", "t.py"]) == 0
    out = capsys.readouterr().out
    assert "--node-rank=1" in out and "--master-addr=h1" in out and "-p 2222 h2" in out
    with pytest.raises(SystemExit, match="divide evenly"):
        main(["launch", "-n", "3", "-H", str(hosts), "--dry-run", "python", "t.py"])


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    if sys.argv[1] == "worker":
        worker_main(sys.argv[2])
    else:
        fault_main(sys.argv[2], sys.argv[3])
