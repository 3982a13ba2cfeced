"""mxc's threads: a parallel-for for LLVM kernels, and the threads of library calls.

Every generated CPU kernel takes ``(buffers..., lo, hi)`` and runs grid rows ``[lo, hi)``.
A kernel split over threads runs on OpenMP's team through a generated launcher
(:mod:`mxc.codegen.native_pool`: one ctypes call, no Python on the hand-off), or, with
``MXC_KERNEL_POOL=python`` or no OpenMP runtime, on persistent Python worker threads (ctypes
releases the GIL for the call), each running a chunk while the calling thread runs the first.
Kernels too small to pay for the hand-off run on the calling thread. ``MXC_NUM_THREADS`` sets
the thread count (default: the CPUs this process may use).

A program's steps run in order, so while a library call (GEMM, convolution) runs, mxc's own
workers are idle: a large call may run on torch's intra-op threads (``MXC_TORCH_THREADS``,
default ``MXC_NUM_THREADS``) or split along the batch over mxc's threads, whichever measures
faster than one thread (measured on 2 cores: a 50x500 @ 500x512 GEMM 770 us on one thread,
532 us split by rows, 444 us on torch's two threads; an LSTM's 32-row GEMMs gain more from
the batch split). torch stays on one thread outside library calls. ``MXC_TORCH_THREADS=1``
leaves only the batch split. ``import mxc`` sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is set
or torch is already loaded: OpenMP threads that spin after a call take the cores mxc's next
kernel splits onto.
"""
from __future__ import annotations

import os
import threading

from .. import config

__all__ = ["num_threads", "torch_threads", "pool", "parallel_call", "extern_call",
           "configure_torch", "MIN_PARALLEL_WORK"]

# elements (grid points x reduction length) below which a kernel stays on one thread
MIN_PARALLEL_WORK = config.get("MXC_MIN_PARALLEL_WORK")


def num_threads() -> int:
    n = config.get("MXC_NUM_THREADS")
    if n:
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def torch_threads() -> int:
    """Threads torch uses inside a library call (``MXC_TORCH_THREADS``, default
    :func:`num_threads`)."""
    return config.get("MXC_TORCH_THREADS") or num_threads()


class _Worker(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True, name="mxc-worker")
        self.job = None
        self.ready = threading.Event()
        self.done = threading.Event()
        self.error = None
        self.start()

    def run(self):
        _torch_threads_here()
        while True:
            self.ready.wait()
            self.ready.clear()
            fn, args = self.job
            try:
                fn(*args)
            except BaseException as e:  # pragma: no cover - surfaced by the caller
                self.error = e
            self.done.set()


class _Pool:
    def __init__(self, n: int):
        self.workers = [_Worker() for _ in range(n - 1)]
        self.lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self.workers) + 1

    def run(self, fn, chunks):
        """Call ``fn(*args)`` for every args tuple in ``chunks`` (at most ``size``)."""
        with self.lock:
            mine, rest = chunks[0], chunks[1:]
            used = self.workers[:len(rest)]
            for w, args in zip(used, rest):
                w.error = None
                w.done.clear()
                w.job = (fn, args)
                w.ready.set()
            fn(*mine)
            for w in used:
                w.done.wait()
                if w.error is not None:
                    raise w.error


_POOL = None
_POOL_LOCK = threading.Lock()


def pool() -> _Pool:
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = _Pool(num_threads())
    return _POOL


# kernels of fewer elements stay on one thread when the native (OpenMP) launcher splits them:
# its hand-off costs a few microseconds, not the Python pool's tens (2 cores, exp+tanh over
# 1024 floats: 8.7 us whole, 6.5 us on the launcher, 45 us on the Python pool)
NATIVE_MIN_WORK = 4096


def _native_pool():
    """:mod:`native_pool` when kernels split on OpenMP's team here, else None."""
    if config.get("MXC_KERNEL_POOL") != "openmp":
        return None
    from . import native_pool
    return native_pool if native_pool.available() else None


def parallel_call(fn, ptrs, extent: int, work: int, key=None):
    """A zero-argument callable running ``fn(*ptrs, lo, hi)`` over ``[0, extent)``, split over
    threads when that pays: on OpenMP's team through a generated launcher
    (:mod:`mxc.codegen.native_pool`, ``MXC_KERNEL_POOL=openmp``, kernels of ``work`` >=
    ``NATIVE_MIN_WORK`` grid points x reduction length), else on the Python pool (work >=
    ``MIN_PARALLEL_WORK``); smaller kernels run on the calling thread, larger ones time
    themselves (:class:`_Chooser`). Both split the same grid rows, which changes no result,
    so the choice is free to depend on timing. Calls with the same ``key`` (the same compiled
    kernel over the same extent: the steps of an unrolled network, every bucket's copy of a
    layer) share their trials and their choice."""
    threads = num_threads()
    native = _native_pool() if threads > 1 and work >= NATIVE_MIN_WORK else None
    if native is None and work < MIN_PARALLEL_WORK:
        threads = 1
    n = min(threads, extent)
    args = tuple(ptrs) + (0, extent)

    def whole():
        fn(*args)
    if n <= 1:
        return whole
    if native is not None:
        import ctypes
        argv = (ctypes.c_void_p * len(ptrs))(*ptrs)
        addr = ctypes.cast(fn, ctypes.c_void_p).value
        pid = os.getpid()
        launch = []                         # the launcher, fetched at the first split run

        def on_team():
            if os.getpid() != pid:          # a forked child: no OpenMP team to run on
                return whole()
            if not launch:
                launch.append(native.launcher(len(ptrs)) or (lambda *_: whole()))
            launch[0](addr, argv, extent, n)
        return _Chooser(whole, on_team, trials=_shared_trials(key, "openmp", n))
    bounds = [extent * i // n for i in range(n + 1)]
    chunks = [tuple(ptrs) + (bounds[i], bounds[i + 1]) for i in range(n)]
    p = pool()
    return _Chooser(whole, lambda: p.run(fn, chunks), trials=_shared_trials(key, "python", n))


# trials shared by calls of one compiled kernel over one extent (see parallel_call)
_SHARED: dict = {}


def _shared_trials(key, how: str, n: int):
    if key is None:
        return None
    k = (key, how, n)
    t = _SHARED.get(k)
    if t is None:
        t = _SHARED.setdefault(k, _Trials(2))
    return t


class _Trials:
    """The measurements of a :class:`_Chooser`'s ways and the choice made from them; calls
    that cost the same (one kernel over one extent) share one."""

    __slots__ = ("times", "pick")

    def __init__(self, n_ways: int):
        self.times = tuple([] for _ in range(n_ways))
        self.pick = None


class _Chooser:
    """Runs a call whichever way measured fastest on this machine: ``ways[0]`` is the plain
    one (a kernel whole, a library call on one thread), the others split it over threads.

    Waking a parked worker thread costs tens to hundreds of microseconds, so a kernel that
    takes ~100 us on one thread runs slower split (measured: an SGD update of 100k floats,
    35 us whole, 177 us split on two threads); element counts do not tell (a 256k-element
    kernel took 50 us, a 184k-element one 650 us). The first runs time every way (after one
    warm-up each); from then on the call is the fastest one, a split way only when it saves
    at least 15% over the plain one."""

    __slots__ = ("ways", "trials", "run")
    TRIALS = 2

    def __init__(self, *ways, trials: _Trials | None = None):
        self.ways = ways
        self.trials = trials if trials is not None else _Trials(len(ways))
        self.run = None

    @property
    def whole(self):
        return self.ways[0]

    @property
    def times(self):
        return self.trials.times

    def __call__(self):
        if self.run is not None:
            return self.run()
        tr = self.trials
        if tr.pick is not None:             # decided by a call sharing the trials
            self.run = self.ways[tr.pick]
            return self.run()
        import time
        times = tr.times
        which = min(range(len(self.ways)), key=lambda k: len(times[k]))
        t0 = time.perf_counter()
        self.ways[which]()
        times[which].append(time.perf_counter() - t0)
        if all(len(t) > self.TRIALS for t in times):         # warm-up + trials each
            best = [min(t[1:]) for t in times]
            k = min(range(len(best)), key=best.__getitem__)
            tr.pick = k if k == 0 or best[k] < 0.85 * best[0] else 0
            self.run = self.ways[tr.pick]
        return None


_TORCH_CONFIGURED = False


def _torch_threads_here():
    """A worker thread's library calls run on one torch thread: a worker runs a chunk of a
    call beside the calling thread's chunk (OpenMP keeps the count per thread, and a thread
    that never set it starts a team per core: 2 workers x 2 OpenMP threads on 2 cores)."""
    import sys
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def configure_torch():
    """torch runs on one thread outside library calls; a library call raises it to
    :func:`torch_threads` where that pays (:func:`_on_torch_threads`)."""
    global _TORCH_CONFIGURED
    if not _TORCH_CONFIGURED:
        _TORCH_CONFIGURED = True
        import torch
        torch.set_num_threads(1)


def _on_torch_threads(whole, nt, work, batch_split=None):
    """A library call on one thread (``whole``), on torch's ``nt`` threads, or split along the
    batch over mxc's pool (``batch_split``), whichever measures fastest (:class:`_Chooser`).
    Waking sleeping OpenMP threads costs tens of microseconds, so small calls lose (2 cores: a
    64x128 @ 128x64 GEMM 30 us on one thread, 59 us on two; a 64x784 @ 784x128 one 357 vs
    232 us), and which split wins depends on the shape (LeNet's convolution GEMMs gain more
    from torch's threads, an LSTM's 32-row GEMMs from batch chunks). Calls below
    ``MIN_PARALLEL_WORK`` elements run on one thread. Outside these calls torch stays on one
    thread (:func:`configure_torch`): the runtime's own small torch operations (copies,
    accumulations) would otherwise wake OpenMP threads every time. Setting torch's thread
    count costs well under a microsecond."""
    import torch
    if work < MIN_PARALLEL_WORK:
        return whole

    def threaded():
        torch.set_num_threads(nt)
        try:
            whole()
        finally:
            torch.set_num_threads(1)
    ways = (whole, threaded) if batch_split is None else (whole, threaded, batch_split)
    return _Chooser(*ways)


def extern_call(fn, attrs, ins, outs, split=None):
    """A zero-argument callable for a library call: on one thread, on torch's threads
    (:func:`torch_threads`) or split along the batch over the pool's threads where its
    ``split`` rule allows (torch releases the GIL), whichever pays
    (:func:`_on_torch_threads`); with torch held to one thread, large calls are batch-split."""
    def whole():
        fn(attrs, ins, outs)
    work = sum(t.numel() for t in ins) + sum(t.numel() for t in outs)
    nt = torch_threads()
    big = work >= 4 * MIN_PARALLEL_WORK
    batch_split = _batch_split(fn, attrs, ins, outs, split) if split is not None and big \
        else None
    if nt > 1:
        # a split that sums partial products (a weight gradient) rounds differently from the
        # whole call: not offered to a timing-based choice, so results do not depend on timing
        offer = batch_split if batch_split is not None and not batch_split.partials else None
        return _on_torch_threads(whole, nt, work, offer)
    return batch_split or whole


def _batch_split(fn, attrs, ins, outs, split):
    """``fn`` over row blocks of the batch on the pool's threads, or None when the ``split``
    rule or the shapes do not allow it. An output marked ``"sum"`` (a weight gradient summed
    over the batch) gets a private buffer per chunk, added up after the chunks ran."""
    n_threads = pool().size
    if n_threads <= 1:
        return None
    rule = split(attrs, [tuple(t.shape) for t in ins], [tuple(t.shape) for t in outs])
    if rule is None:
        return None
    in_axes, out_axes, chunk_attrs = rule
    rows = next((t.shape[0] for t, ax in zip(list(ins) + list(outs), list(in_axes) +
                                              list(out_axes)) if ax == 0), 0)
    n = min(n_threads, rows)
    if n <= 1:
        return None
    bounds = [rows * i // n for i in range(n + 1)]
    chunks = []
    partials = []          # outputs that are sums over the batch: one private buffer a chunk
    for c, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        ci = [t[lo:hi] if ax == 0 else t for t, ax in zip(ins, in_axes)]
        co = []
        for t, ax in zip(outs, out_axes):
            if ax == 0:
                co.append(t[lo:hi])
            elif ax == "sum":
                buf = t if c == 0 else t.new_empty(t.shape)
                if c:
                    partials.append((t, buf))
                co.append(buf)
            else:
                co.append(t)
        ca = chunk_attrs(attrs, hi - lo) if chunk_attrs else attrs
        chunks.append((ca, ci, co))
    p = pool()

    def run():
        p.run(fn, chunks)
        for total, part in partials:
            total.add_(part)
    run.partials = bool(partials)
    return run
