"""Codegen: fusion into one kernel, vectorized LLVM, Triton under the interpreter and to cubin,
renderer coverage of every ALU op, index simplification."""
import numpy as np
import pytest

import mxc as mx
from mxc.codegen import llvm as llvm_r
from mxc.codegen import triton as triton_r
from mxc.codegen.kir import ALU_OPS, Alu, Ix, Var, delinearize, linearize
from mxc.compile import compile_graph
from mxc.ir import Builder, TensorType, interp
from mxc.testing import assert_close


def chain_graph(n=4096):
    """Six elementwise ops with a broadcast operand: sigmoid(tanh(x*s + b)^2 - exp(-x))."""
    b = Builder("chain")
    x = b.input("x", TensorType((n // 64, 64)))
    bias = b.input("bias", TensorType((64,)))
    y = b.op("broadcast_add", [b.op("_mul_scalar", [x], {"scalar": 0.5}), bias])   # 1, 2
    y = b.op("square", [b.op("tanh", [y])])                                         # 3, 4
    y = b.op("elemwise_sub", [y, b.op("exp", [b.op("negative", [x])])])             # 5, (6, 7)
    y = b.op("sigmoid", [y])                                                        # 8
    return b.build([y])


@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_elementwise_chain_is_one_kernel(target):
    g = chain_graph()
    c = compile_graph(g, target)
    kernels = [s for s in c.program.steps if s.kind == "kernel"]
    assert len(c.program.steps) == 1 and len(kernels) == 1, str(c.program)
    assert c.program.arena_bytes == 0          # nothing in between is materialized
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((64, 64)).astype(np.float32),
          rng.standard_normal(64).astype(np.float32)]
    assert_close(c(*xs)[0], interp(g, xs)[0], 1e-5, 1e-6, f"chain on {target}")


def test_llvm_kernel_uses_vector_instructions():
    c = compile_graph(chain_graph(), "llvm")
    opt = c.sources["llvm.opt"]
    assert "<8 x float>" in opt or "<16 x float>" in opt, "the loop was not vectorized"
    # transcendental ops are inline, so nothing but intrinsics is called in the loop
    calls = [ln for ln in opt.splitlines() if " call " in ln and "@llvm." not in ln]
    assert not calls, calls
    asm = c.executable.module.assembly()
    assert any(r in asm for r in ("ymm", "zmm")), "no AVX vector registers in the assembly"


def test_triton_kernel_compiles_to_cubin_for_sm90():
    c = compile_graph(chain_graph(), "triton")
    src = c.sources["triton"]
    assert "@triton.jit" in src and "# k0_" in src
    res = triton_r.compile_cubin(c.kernels, src)
    (name,) = [k.name for k in c.kernels]
    assert res[name]["cubin_bytes"] > 0
    assert ".target sm_90" in res[name]["ptx"]


def test_reduction_kernel_cubin_and_interpreter():
    s = mx.sym.softmax(mx.sym.Variable("x"), axis=-1)
    c = mx.compile(s, x=(6, 37), target="triton")
    assert len(c.kernels) == 1 and c.kernels[0].is_reduction
    x = np.random.default_rng(1).standard_normal((6, 37)).astype(np.float32)
    e = np.exp(x - x.max(1, keepdims=True))
    assert_close(c(x)[0], e / e.sum(1, keepdims=True), 1e-5, 1e-6, "softmax")
    res = triton_r.compile_cubin(c.kernels, c.sources["triton"])
    assert all(v["cubin_bytes"] > 0 for v in res.values())


def test_both_renderers_cover_every_alu_op():
    llvm_has = set(llvm_r.FLOAT_OPS) | llvm_r.EXPAND
    triton_has = set(triton_r.TRITON_OPS) | triton_r.EXPAND
    assert set(ALU_OPS) - llvm_has == set()
    assert set(ALU_OPS) - triton_has == set()
    # op tables are keyed by the enum (no string mini-language): handlers / expressions
    for table in (llvm_r.FLOAT_OPS, llvm_r.INT_OPS, triton_r.TRITON_OPS, triton_r.INT_DIV):
        assert all(isinstance(k, Alu) for k in table)
    assert all(callable(h) for h in (*llvm_r.FLOAT_OPS.values(), *llvm_r.INT_OPS.values()))
    assert set(Alu) == set(ALU_OPS) and Alu.and_ == "and_" and f"{Alu.exp}" == "exp"


def test_one_backend_object_per_target():
    """An Executable delegates to its target's Backend: kernels built once at construction,
    one call per kernel step; reduction identities come from kir, not from each renderer."""
    from mxc.codegen.backend import BACKENDS, TARGETS, Backend
    from mxc.codegen.kir import reduce_identity, row_major_strides
    from mxc.ir.types import DType
    assert TARGETS == ("llvm", "triton")
    s = mx.sym.max(mx.sym.exp(mx.sym.Variable("x")), axis=1)
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    for target in TARGETS:
        c = mx.compile(s, x=(3, 5), target=target)
        be = c.executable.backend
        assert type(be) is BACKENDS[target] and isinstance(be, Backend) and be.name == target
        assert_close(c(x)[0], np.exp(x).max(1), 1e-6, 1e-6, target)
    assert (c.executable.module is None) and "triton" in c.executable.artefacts()
    assert reduce_identity("max", DType.i8) == -128 and reduce_identity("min", DType.u8) == 255
    assert reduce_identity("max", DType.f32) == float("-inf")
    assert reduce_identity("min", DType.bool) == 1 and reduce_identity("max", DType.bool) == 0
    assert row_major_strides([2, 3, 4]) == [12, 4, 1] and row_major_strides([]) == []


def test_generated_names_and_headers():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=8, name="fc1")
    r = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    c = mx.compile(r, data=(4, 5), target="triton")
    assert [k.name for k in c.kernels] == ["k0_fc1_relu1"]
    assert "# k0_fc1_relu1: fc1, relu1" in c.sources["triton"]
    gemm = [s for s in c.program.steps if s.kind == "extern"]
    assert len(gemm) == 1 and gemm[0].name == "gemm"


def test_index_expressions_simplify():
    i, j = Var("g", 0, 6), Var("g", 1, 8)
    idx = [Ix.var(i), Ix.var(j)]
    flat = linearize(idx, (6, 8))
    assert flat == Ix({i: 8, j: 1})
    back = delinearize(flat, (6, 8))
    assert back == idx                                  # (8i + j) // 8 -> i, % 8 -> j
    # reshape (6,8) -> (3,2,8) -> (6,8) stays affine
    mid = delinearize(linearize(idx, (6, 8)), (3, 2, 8))
    again = delinearize(linearize(mid, (3, 2, 8)), (6, 8))
    assert again == idx and all(x.is_affine for x in again)
    assert (Ix.var(j) // 8) == Ix.c(0) and (Ix.var(j) % 8) == Ix.var(j)


def test_contiguous_dims_coalesce_to_one_loop():
    b = Builder("g")
    x = b.input("x", TensorType((4, 5, 6)))
    y = b.op("exp", [b.op("Reshape", [x], {"shape": (20, 6)})])
    c = compile_graph(b.build([y]), "llvm")
    (k,) = c.kernels
    assert k.grid == (120,)


def test_integer_and_float16_kernels():
    for dt in ("int32", "float16"):
        x = mx.sym.Variable("x", dtype=dt)
        s = mx.sym.broadcast_maximum(x * 3, mx.sym.Variable("y", dtype=dt))
        c = mx.compile(s, x=(5, 7), y=(1, 7))
        rng = np.random.default_rng(2)
        xv = rng.integers(-5, 5, (5, 7)).astype(dt)
        yv = rng.integers(-5, 5, (1, 7)).astype(dt)
        out = c(xv, yv)[0]
        assert out.dtype == np.dtype(dt)
        np.testing.assert_array_equal(out, np.maximum(xv * 3, yv))


@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_inplace_outputs_granted_when_safe(target):
    import torch
    b = Builder("upd")
    w = b.input("w", TensorType((6, 8)))
    g = b.input("g", TensorType((6, 8)))
    m = b.input("m", TensorType((6, 8)))
    m2 = b.sub(b.mul(m, 0.9), g)
    w2 = b.add(w, m2)
    c = compile_graph(b.build([w2, m2]), target, inplace={0: 0, 1: 2})
    assert c.program.inplace == {0: 0, 1: 2}
    W, G, M = (torch.randn(6, 8) for _ in range(3))
    W0, M0 = W.clone(), M.clone()
    c.executable.bind([W, G, M], [W, M]).run()
    assert torch.allclose(M, M0 * 0.9 - G, atol=1e-6)
    assert torch.allclose(W, W0 + M0 * 0.9 - G, atol=1e-6)
    with pytest.raises(mx.MXNetError, match="bind the same array"):
        c.executable.bind([W, G, M], [torch.empty(6, 8), M])


def test_inplace_refused_when_the_input_is_read_elsewhere():
    b = Builder("t")
    x = b.input("x", TensorType((4, 4)))
    y = b.add(x, b.op("transpose", [x]))            # reads x at (i, j) and (j, i)
    c = compile_graph(b.build([y]), inplace={0: 0})
    assert c.program.inplace == {}
    xv = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(c(xv)[0], xv + xv.T)


@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_scalar_operand_after_a_reduction(target):
    # max(sum(x), c): the NaN test of the scalar c is folded, not a [1] block stored into a
    # scalar pointer (which Triton refused)
    x = mx.sym.Variable("x")
    a = np.random.default_rng(0).random((4, 5)).astype(np.float32)
    a[0] = 0
    c = mx.compile(mx.sym.maximum(mx.sym.sum(x, axis=1), 1.0), x=(4, 5), target=target)
    np.testing.assert_allclose(c(a)[0], np.maximum(a.sum(1), 1.0), rtol=1e-6)
    c = mx.compile(mx.sym.maximum(mx.sym.sum(x), float("nan")), x=(4, 5), target=target)
    assert np.isnan(c(a)[0]).all()


@pytest.mark.parametrize("times,pick", [((4.0, 2.0, 1.0), 2), ((4.0, 1.0, 2.0), 1),
                                        ((2.0, 1.9, 1.8), 0)])
def test_library_calls_choose_among_threadings_by_measurement(times, pick, monkeypatch):
    """One thread, torch's threads or mxc's batch split: each is timed after a warm-up and
    the fastest is kept; a split way must save 15% over the plain one (a fake clock: each
    way advances it by its duration)."""
    import time

    from mxc.codegen.parallel import _Chooser
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    calls = []

    def way(k):
        def f():
            calls.append(k)
            clock[0] += times[k] + (5.0 if len(calls) <= 3 else 0.0)    # slow warm-ups
        return f
    c = _Chooser(*(way(k) for k in range(3)))
    for _ in range(3 * (_Chooser.TRIALS + 1)):
        c()
    assert [calls.count(k) for k in range(3)] == [_Chooser.TRIALS + 1] * 3
    calls.clear()
    c()
    c()
    assert calls == [pick, pick]


@pytest.mark.parametrize("whole_s,split_s,pick", [(0.004, 0.001, "split"),
                                                  (0.001, 0.004, "whole")])
def test_parallel_kernels_choose_whole_or_split_by_measurement(whole_s, split_s, pick):
    import time

    from mxc.codegen.parallel import _Chooser
    calls = []

    def whole():
        calls.append("whole")
        time.sleep(whole_s)

    def split():
        calls.append("split")
        time.sleep(split_s)
    c = _Chooser(whole, split)
    for _ in range(2 * (_Chooser.TRIALS + 1)):
        c()
    assert calls.count("whole") == calls.count("split") == _Chooser.TRIALS + 1
    calls.clear()
    c()
    c()
    assert calls == [pick, pick]


def test_calls_of_one_kernel_share_their_trials():
    """Calls of the same compiled kernel over the same extent (an unrolled network's steps)
    share one set of trials: once one has chosen, the others run the choice from their first
    call, and results stay those of the whole call."""
    from mxc.codegen.parallel import _Chooser, _Trials
    trials = _Trials(2)
    calls = []

    def ways(tag):
        return (lambda: calls.append((tag, "whole")), lambda: calls.append((tag, "split")))
    a = _Chooser(*ways("a"), trials=trials)
    b = _Chooser(*ways("b"), trials=trials)
    for _ in range(2 * (_Chooser.TRIALS + 1)):
        a()
    assert trials.pick in (0, 1) and len(calls) == 2 * (_Chooser.TRIALS + 1)
    calls.clear()
    b()
    assert calls == [("b", ("whole", "split")[trials.pick])]


def _rows_kernel(rows=37, cols=24):
    """A compiled elementwise kernel over ``rows`` grid rows, its ctypes function and
    tensors to run it on."""
    import torch
    b = Builder("rows")
    x = b.input("x", TensorType((rows, cols)))
    g = b.build([b.op("tanh", [b.op("exp", [b.op("_mul_scalar", [x], {"scalar": 0.5})])])])
    c = compile_graph(g)
    k = c.program.kernels[0]
    fn, offsets = c.executable.module.raw(k.name)
    assert not any(offsets)
    X = torch.randn(rows, cols)
    return fn, k, X, torch.tanh(torch.exp(X * 0.5))


@pytest.mark.parametrize("threads", [2, 3, 5])
def test_native_launcher_runs_every_row_once(threads):
    """The generated OpenMP launcher splits [0, extent) into one contiguous block per thread
    (extents that do not divide, more threads than rows of work) and computes exactly what
    one call over all rows computes."""
    import ctypes

    import torch

    from mxc.codegen import native_pool
    if not native_pool.available():
        pytest.skip("no OpenMP runtime next to torch")
    fn, k, X, want = _rows_kernel()
    whole, split = torch.full_like(X, float("nan")), torch.full_like(X, float("nan"))
    fn(X.data_ptr(), whole.data_ptr(), 0, k.grid[0])
    argv = (ctypes.c_void_p * 2)(X.data_ptr(), split.data_ptr())
    native_pool.launcher(2)(ctypes.cast(fn, ctypes.c_void_p).value, argv, k.grid[0], threads)
    assert torch.equal(split, whole)
    torch.testing.assert_close(split, want)


@pytest.mark.parametrize("pool", ["openmp", "python"])
def test_parallel_call_splits_on_either_pool_with_the_same_result(pool, monkeypatch):
    import mxc.codegen.parallel as par
    monkeypatch.setenv("MXC_KERNEL_POOL", pool)
    monkeypatch.setenv("MXC_NUM_THREADS", "2")
    monkeypatch.setattr(par, "MIN_PARALLEL_WORK", 1)
    monkeypatch.setattr(par, "NATIVE_MIN_WORK", 1)
    import torch
    fn, k, X, want = _rows_kernel()
    Y = torch.full_like(X, float("nan"))
    call = par.parallel_call(fn, [X.data_ptr(), Y.data_ptr()], k.grid[0], X.numel())
    assert isinstance(call, par._Chooser)
    ref = torch.full_like(X, float("nan"))
    fn(X.data_ptr(), ref.data_ptr(), 0, k.grid[0])
    for way in call.ways:               # the whole call and the split one
        Y.fill_(float("nan"))
        way()
        assert torch.equal(Y, ref)
    torch.testing.assert_close(Y, want)


def test_native_launcher_is_not_used_in_a_forked_child():
    """OpenMP's workers do not survive a fork: a child of a process that ran kernels on the
    team runs them whole (or on the Python pool) instead of hanging on the dead team."""
    import os

    import torch

    import mxc.codegen.parallel as par
    from mxc.codegen import native_pool
    if not native_pool.available() or not hasattr(os, "fork"):
        pytest.skip("no OpenMP runtime next to torch, or no fork")
    fn, k, X, want = _rows_kernel()
    Y = torch.empty_like(X)
    old = par.NATIVE_MIN_WORK
    par.NATIVE_MIN_WORK = 1
    try:
        call = par.parallel_call(fn, [X.data_ptr(), Y.data_ptr()], k.grid[0], X.numel())
    finally:
        par.NATIVE_MIN_WORK = old
    split = call.ways[1] if isinstance(call, par._Chooser) else call
    split()                             # the team runs in this process
    pid = os.fork()
    if pid == 0:                        # the child: no team, the same result
        code = 1
        try:
            Y.fill_(0.0)
            split()
            if native_pool.launcher(2) is None and torch.allclose(Y, want):
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_kernels_differing_only_in_offsets_share_code():
    # an unrolled recurrence: step t's kernel reads row block t of x; with the constant offset
    # split off, the steps are one compiled function called at different addresses
    import torch
    b = Builder("rnn")
    x = b.input("x", TensorType((4, 2, 16)))
    w = b.input("w", TensorType((16, 16)))
    h = b.input("h0", TensorType((2, 16)))
    for t in range(4):
        xt = b.op("reshape", [b.op("slice_axis", [x], {"axis": 0, "begin": t, "end": t + 1})],
                  {"shape": (2, 16)})
        h = b.op("tanh", [b.add(xt, b.op("dot", [h, w]))])
    g = b.build([h])
    c = compile_graph(g)
    m = c.executable.module
    names = [k.name for k in c.program.kernels]
    assert len(names) == 4, str(c.program)
    assert len({m.symbols[n] for n in names[:3]}) == 1     # the last one writes a new buffer
    assert sorted(m.byte_offsets[n][0] for n in names) == [0, 128, 256, 384]
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(s).astype(np.float32) for s in ((4, 2, 16), (16, 16), (2, 16))]
    assert_close(c(*xs)[0], interp(g, xs)[0], 1e-5, 1e-6, "unrolled tanh recurrence")
    # the public entry point takes buffer base addresses and applies the offsets itself
    k1 = c.program.kernels[1]
    ts = [torch.from_numpy(a) for a in xs[:1]] + [torch.randn(2, 16)]
    want = np.tanh(xs[0][1] + ts[1].numpy())
    ptr = {"in": [ts[0].data_ptr() if bf.numel == 128 else ts[1].data_ptr()
                  for bf in k1.buffers if bf.role == "in"], "out": [ts[1].data_ptr()]}
    assert [bf.role for bf in k1.buffers] == ["in", "in", "out"]
    m.get(k1.name)(*ptr["in"], *ptr["out"], 0, k1.grid[0])
    assert_close(ts[1].numpy(), want, 1e-5, 1e-6, "LLVMModule.get with offsets")


def test_the_same_layer_at_another_batch_size_shares_code():
    # the outermost grid range is the call's (lo, hi): a kernel over 4 rows and one over 8
    # rows of the same layer are one compiled function
    from mxc.codegen.llvm import jit
    syms = []
    for n in (4, 8):
        b = Builder("layer")
        x = b.input("x", TensorType((n, 3, 64)))
        y = b.op("tanh", [b.op("_mul_scalar", [x], {"scalar": 0.25})])
        g = b.build([y])
        c = compile_graph(g)
        (k,) = c.program.kernels
        syms.append(c.executable.module.symbols[k.name])
        xv = np.random.default_rng(n).standard_normal((n, 3, 64)).astype(np.float32)
        assert_close(c(xv)[0], np.tanh(xv * 0.25), 1e-5, 1e-6, f"batch {n}")
    assert syms[0] == syms[1]
    assert jit().stats["shared"] >= 1


def test_small_reductions_unroll_only_within_the_code_budget():
    # a 5x5 window of multiply-adds unrolls into straight-line code; a softmax over 10 classes
    # (an inlined exp per element) stays a loop: unrolled it was ~1200 lines of IR
    from mxc.codegen.llvm import _unroll_reduction
    kinds = {}
    for name, build in (
            ("window", lambda b, x: b.op("sum", [b.op("square", [x])], {"axis": (1, 2)})),
            ("softmax", lambda b, x: b.op("softmax", [x], {"axis": -1}))):
        b = Builder(name)
        x = b.input("x", TensorType((6, 5, 5)) if name == "window" else TensorType((64, 10)))
        c = compile_graph(b.build([build(b, x)]))
        reductions = [k for k in c.program.kernels if k.rdims]
        assert reductions, str(c.program)
        kinds[name] = {_unroll_reduction(k) for k in reductions}
        xv = np.random.default_rng(2).standard_normal(x.type.shape).astype(np.float32)
        assert_close(c(xv)[0], interp(c.imported, [xv])[0], 1e-5, 1e-6, name)
    assert kinds == {"window": {True}, "softmax": {False}}, kinds
