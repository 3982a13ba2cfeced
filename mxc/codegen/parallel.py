"""A small parallel-for for LLVM kernels: split the outermost grid range over threads.

Every generated CPU kernel takes ``(buffers..., lo, hi)`` and runs grid rows ``[lo, hi)``;
ctypes releases the GIL for the call, so persistent worker threads each run a chunk while the
calling thread runs the first. Kernels too small to pay for the hand-off (a few microseconds)
run on the calling thread. ``MXC_NUM_THREADS`` sets the thread count (default: the CPUs this
process may use).
"""
from __future__ import annotations

import os
import threading

__all__ = ["num_threads", "pool", "parallel_call", "MIN_PARALLEL_WORK"]

# elements (grid points x reduction length) below which a kernel stays on one thread
MIN_PARALLEL_WORK = int(os.environ.get("MXC_MIN_PARALLEL_WORK", 1 << 16))


def num_threads() -> int:
    n = os.environ.get("MXC_NUM_THREADS")
    if n:
        return max(1, int(n))
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
