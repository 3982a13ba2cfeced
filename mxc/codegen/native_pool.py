"""A native parallel-for for LLVM kernels: OpenMP's thread team, driven from generated code.

Every generated CPU kernel takes ``(buffers..., lo, hi)``. A *launcher* for kernels of ``n``
buffers, ``mxc_par_<n>(kernel, argv, extent, threads)``, is JIT-compiled once per ``n``: it
calls ``GOMP_parallel`` with an outlined body in which OpenMP thread ``t`` of ``T`` calls
``kernel(argv[0], ..., argv[n-1], extent*t/T, extent*(t+1)/T)``. One ctypes call (which
releases the GIL) then runs a kernel over all threads, with OpenMP's persistent workers, which
spin briefly after a region and then sleep (``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``), and no
Python on the hand-off. The split is by grid rows, exactly as :mod:`mxc.codegen.parallel`'s
Python pool splits, so results do not depend on which runs a kernel.

The OpenMP runtime is the one torch loads (GNU ``libgomp``; Intel's ``libiomp5`` exports the
same entry points), so library calls on torch's intra-op threads and kernels share one team
instead of two sets of threads competing for the cores. Where no OpenMP runtime is found, or
in a child process forked after a team started (OpenMP's workers do not survive a fork),
:func:`launcher` returns None and callers use the Python pool.
"""
from __future__ import annotations

import ctypes
import os
import threading

__all__ = ["available", "launcher"]

_LOCK = threading.Lock()
_STATE: dict = {"pid": None, "ok": None, "fns": {}, "engine": None}


def _openmp_library() -> str | None:
    """The path of the OpenMP runtime torch ships (loaded with torch), if any."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    libdir = os.path.join(os.path.dirname(torch.__file__), "lib")
    for name in ("libgomp.so.1", "libiomp5.so", "libomp.so"):
        path = os.path.join(libdir, name)
        if os.path.exists(path):
            return path
    return None


def _ready() -> bool:
    """Whether generated launchers can run in this process (first call: find and load the
    OpenMP runtime for the JIT)."""
    pid = os.getpid()
    if _STATE["pid"] is not None and _STATE["pid"] != pid:
        return False            # a forked child: the parent's OpenMP team is gone
    if _STATE["ok"] is None:
        import llvmlite.binding as llvm

        from .llvm import _init
        _init()
        path = _openmp_library()
        ok = False
        if path is not None:
            try:
                llvm.load_library_permanently(path)
                ok = all(llvm.address_of_symbol(s) for s in
                         ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads"))
            except RuntimeError:
                ok = False
        _STATE["ok"] = ok
        _STATE["pid"] = pid
    return _STATE["ok"]


def available() -> bool:
    """Whether kernels can run on the native OpenMP launcher here."""
    with _LOCK:
        return _ready()


def _launcher_ir(n: int) -> str:
    """LLVM IR of ``mxc_par_<n>``: see the module docstring."""
    args = ", ".join(f"ptr %a{i}" for i in range(n))
    loads = "\n".join(f"  %p{i} = getelementptr ptr, ptr %argv, i64 {i}\n"
                      f"  %a{i} = load ptr, ptr %p{i}" for i in range(n))
    call_args = ", ".join([f"ptr %a{i}" for i in range(n)] + ["i64 %lo", "i64 %hi"])
    return f"""
declare void @GOMP_parallel(ptr, ptr, i32, i32)
declare i32 @omp_get_thread_num()
declare i32 @omp_get_num_threads()

define internal void @mxc_par_body_{n}(ptr %d) {{
entry:
  %fp = getelementptr {{ptr, ptr, i64}}, ptr %d, i32 0, i32 0
  %fn = load ptr, ptr %fp
  %vp = getelementptr {{ptr, ptr, i64}}, ptr %d, i32 0, i32 1
  %argv = load ptr, ptr %vp
  %ep = getelementptr {{ptr, ptr, i64}}, ptr %d, i32 0, i32 2
  %ext = load i64, ptr %ep
  %t32 = call i32 @omp_get_thread_num()
  %n32 = call i32 @omp_get_num_threads()
  %t = sext i32 %t32 to i64
  %nt = sext i32 %n32 to i64
  %t1 = add i64 %t, 1
  %m0 = mul i64 %ext, %t
  %lo = sdiv i64 %m0, %nt
  %m1 = mul i64 %ext, %t1
  %hi = sdiv i64 %m1, %nt
  %empty = icmp sge i64 %lo, %hi
  br i1 %empty, label %done, label %run
run:
{loads}
  call void %fn({call_args})
  br label %done
done:
  ret void
}}

define void @mxc_par_{n}(ptr %fn, ptr %argv, i64 %ext, i32 %threads) {{
entry:
  %d = alloca {{ptr, ptr, i64}}
  %fp = getelementptr {{ptr, ptr, i64}}, ptr %d, i32 0, i32 0
  store ptr %fn, ptr %fp
  %vp = getelementptr {{ptr, ptr, i64}}, ptr %d, i32 0, i32 1
  store ptr %argv, ptr %vp
  %ep = getelementptr {{ptr, ptr, i64}}, ptr %d, i32 0, i32 2
  store i64 %ext, ptr %ep
  call void @GOMP_parallel(ptr @mxc_par_body_{n}, ptr %d, i32 %threads, i32 0)
  ret void
}}
"""


_PROTO = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32)


def launcher(n: int):
    """The ctypes function ``mxc_par_<n>(kernel address, argv, extent, threads)`` for kernels
    of ``n`` buffers, or None where the native launcher is not available (see the module
    docstring)."""
    fns = _STATE["fns"]
    f = fns.get(n)
    if f is not None and _STATE["pid"] == os.getpid():
        return f
    with _LOCK:
        if not _ready():
            return None
        f = fns.get(n)
        if f is None:
            import llvmlite.binding as llvm

            from . import cache, llvm_worker
            from .llvm import host_cpu, jit
            # object code from the persistent cache, or compiled without optimization (the
            # launcher is a few loads and two calls), linked into the kernels' JIT
            text = _launcher_ir(n)
            key = cache.cache_key(text, "llvm-launcher", "")
            obj = cache.load_blob(key)
            if obj is None:
                obj = llvm_worker.compile_ir(text, *host_cpu(), 0)
                cache.store_blob(key, obj)
            j = jit()
            with j.lock:
                j.ee.add_object_file(llvm.ObjectFileRef.from_data(obj[0]))
                j.ee.finalize_object()
                f = _PROTO(j.ee.get_function_address(f"mxc_par_{n}"))
            fns[n] = f
        return f
