"""LLVM compiles kernels in worker processes (codegen.llvm.CompilePool) with the machine code it
would make in this process, and falls back to this process when a worker is gone."""
import numpy as np
import pytest

import mxc as mx
from mxc.codegen import llvm as L
from mxc.codegen import llvm_worker
from mxc.ir.core import Builder
from mxc.ir.types import DType, TensorType


def _texts(n):
    from mxc.compile import compile_graph
    texts = []
    for i in range(n):
        b = Builder(f"k{i}")
        x = b.input("x", TensorType((3, 5 + i), DType.f32))
        y = b.op("_mul_scalar", [b.op("exp", [x])], {"scalar": float(i + 2)})
        c = compile_graph(b.build([y]))
        k = [s.kernel for s in c.program.steps if s.kernel is not None][0]
        texts.append((f"t{i}", L.render_module([k], f"t{i}")))
    return texts


def test_workers_make_the_same_machine_code():
    jobs = _texts(4)
    pool = L.CompilePool(3)
    try:
        local = {t: llvm_worker.compile_ir(text, *L.host_cpu(), L.opt_level()) for t, text in jobs}
        calls = []

        def count_local(text):
            calls.append(text)
            return llvm_worker.compile_ir(text, *L.host_cpu(), L.opt_level())

        built = pool.compile(iter(jobs), count_local)
        assert set(built) == {t for t, _ in jobs}
        for t in built:
            assert built[t][0] == local[t][0], f"object code of {t} differs"
            assert built[t][1] == local[t][1]
        assert not pool.failed and len(pool.procs) == 2
    finally:
        pool.close()


def test_a_dead_worker_hands_its_kernels_back():
    jobs = _texts(5)
    pool = L.CompilePool(3)
    try:
        pool.start()
        for p in pool.procs:
            p.kill()
            p.wait()
        built = pool.compile(iter(jobs), lambda text: llvm_worker.compile_ir(
            text, *L.host_cpu(), L.opt_level()))
        assert set(built) == {t for t, _ in jobs}
        assert pool.failed and pool.size == 0 and not pool.procs
    finally:
        pool.close()


def test_a_worker_that_cannot_start_is_not_an_error(monkeypatch):
    import subprocess

    def refuse(*a, **k):
        raise OSError("no processes here")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    pool = L.CompilePool(4)
    built = pool.compile(iter(_texts(3)), lambda text: llvm_worker.compile_ir(
        text, *L.host_cpu(), L.opt_level()))
    assert len(built) == 3 and pool.failed


def test_a_worker_error_is_compiled_here():
    good = _texts(2)
    jobs = good + [("bad", "this is not LLVM IR")]
    pool = L.CompilePool(2)
    seen = []

    def local(text):
        seen.append(text)
        if text.startswith("this is not"):
            return (b"", "refused")
        return llvm_worker.compile_ir(text, *L.host_cpu(), L.opt_level())

    try:
        built = pool.compile(iter(jobs), local)
        assert built["bad"] == (b"", "refused")
        assert "this is not LLVM IR" in seen
    finally:
        pool.close()


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_a_program_compiled_on_workers_runs(monkeypatch, jobs, tmp_path):
    """A LeNet-sized training program compiles on the pool (or in-process) to the same results."""
    monkeypatch.setenv("MXC_COMPILE_JOBS", jobs)
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(L, "_POOL", None)
    monkeypatch.setattr(L, "_JIT_INSTANCE", None)
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=7 + int(jobs), name="fc")
    net = mx.sym.Activation(net, act_type="tanh")
    net = mx.sym.softmax(mx.sym.sin(net) * 3 + 1)
    net = mx.sym.Group([net, mx.sym.sum(mx.sym.exp(net), axis=0), mx.sym.max(net, axis=1)])
    c = mx.compile(net, data=(5, 6))
    x = np.random.RandomState(0).rand(5, 6).astype(np.float32)
    w = np.random.RandomState(1).rand(7 + int(jobs), 6).astype(np.float32)
    bias = np.zeros(7 + int(jobs), np.float32)
    y, s0, m1 = c(x, w, bias)
    h = np.tanh(x @ w.T)
    z = np.sin(h) * 3 + 1
    ref = np.exp(z - z.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(s0), np.exp(ref).sum(0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(m1), ref.max(1), rtol=1e-5)
    assert L.jit().stats["compiled"] >= 2
    pool = L._POOL
    assert pool is not None and pool.size == int(jobs) - 1
    pool.close()


def test_the_same_workers_serve_many_batches():
    pool = L.CompilePool(2)
    try:
        for r in range(3):
            jobs = [(f"{t}_{r}", text) for t, text in _texts(2 + r)]
            built = pool.compile(iter(jobs), lambda text: llvm_worker.compile_ir(
                text, *L.host_cpu(), L.opt_level()))
            assert set(built) == {t for t, _ in jobs}
        assert not pool.failed and len(pool.procs) == 1
    finally:
        pool.close()


def test_a_hung_worker_is_stopped_and_its_kernels_compiled_here():
    import subprocess
    import sys
    jobs = _texts(4)
    pool = L.CompilePool(2)
    pool.stall_s = 1.0
    # a worker that takes its kernel and never answers
    mute = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    pool.procs = [mute]
    pool.ready = {mute}
    try:
        built = pool.compile(iter(jobs), lambda text: llvm_worker.compile_ir(
            text, *L.host_cpu(), L.opt_level()))
        assert set(built) == {t for t, _ in jobs}
        assert pool.failed and mute.poll() is not None
    finally:
        mute.kill()
        pool.close()
