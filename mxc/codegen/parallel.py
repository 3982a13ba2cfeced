"""mxc's threads: a parallel-for for LLVM kernels and batch-split library calls.

Every generated CPU kernel takes ``(buffers..., lo, hi)`` and runs grid rows ``[lo, hi)``;
ctypes releases the GIL for the call, so persistent worker threads each run a chunk while the
calling thread runs the first. Kernels too small to pay for the hand-off (a few microseconds)
run on the calling thread. ``MXC_NUM_THREADS`` sets the thread count (default: the CPUs this
process may use).
"""
from __future__ import annotations

import os
import threading

from .. import config

__all__ = ["num_threads", "pool", "parallel_call", "extern_call", "configure_torch",
           "MIN_PARALLEL_WORK"]

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


class _Worker(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True, name="mxc-worker")
        self.job = None
        self.ready = threading.Event()
        self.done = threading.Event()
        self.error = None
        self.start()

    def run(self):
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


def parallel_call(fn, ptrs, extent: int, work: int):
    """A zero-argument callable running ``fn(*ptrs, lo, hi)`` over ``[0, extent)``, split over
    the pool's threads when ``work`` is large enough to pay for it."""
    n = pool().size if work >= MIN_PARALLEL_WORK else 1
    n = min(n, extent)
    if n <= 1:
        args = tuple(ptrs) + (0, extent)
        return lambda: fn(*args)
    bounds = [extent * i // n for i in range(n + 1)]
    chunks = [tuple(ptrs) + (bounds[i], bounds[i + 1]) for i in range(n)]
    p = pool()
    return lambda: p.run(fn, chunks)


_TORCH_CONFIGURED = False


def configure_torch():
    """Library calls run single-threaded inside torch (``MXC_TORCH_THREADS``, default 1):
    mxc parallelizes large ones itself, and torch's OpenMP threads cost more than they save
    on small calls (and spin against everything else on a busy machine)."""
    global _TORCH_CONFIGURED
    if not _TORCH_CONFIGURED:
        _TORCH_CONFIGURED = True
        import torch
        torch.set_num_threads(config.get("MXC_TORCH_THREADS"))


def extern_call(fn, attrs, ins, outs, split=None):
    """A zero-argument callable for a library call; split along the batch over the pool's
    threads when the call is large and its ``split`` rule allows it (torch releases the GIL).
    An output marked ``"sum"`` (a weight gradient summed over the batch) gets a private buffer
    per chunk, added up after the chunks ran."""
    def whole():
        fn(attrs, ins, outs)
    work = sum(t.numel() for t in ins) + sum(t.numel() for t in outs)
    n_threads = pool().size
    if split is None or n_threads <= 1 or work < 4 * MIN_PARALLEL_WORK:
        return whole
    rule = split(attrs, [tuple(t.shape) for t in ins], [tuple(t.shape) for t in outs])
    if rule is None:
        return whole
    in_axes, out_axes, chunk_attrs = rule
    rows = next((t.shape[0] for t, ax in zip(list(ins) + list(outs), list(in_axes) +
                                              list(out_axes)) if ax == 0), 0)
    n = min(n_threads, rows)
    if n <= 1:
        return whole
    bounds = [rows * i // n for i in range(n + 1)]
    chunks = []
    partials = []          # outputs that are sums over the batch: one private buffer a chunk
    for c, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        ci = [t[lo:hi] if ax == 0 else t for t, ax in zip(ins, in_axes)]
        co = []
        for k, (t, ax) in enumerate(zip(outs, out_axes)):
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
    if not partials:
        return lambda: p.run(fn, chunks)

    def run():
        p.run(fn, chunks)
        for total, part in partials:
            total.add_(part)
    return run
