"""Persistent compile cache: a second process pays no codegen for a graph it has seen.

The key hashes the input graph's text, the pass pipeline's configuration, the target, mxc's
version and the host CPU (name and features, since LLVM code is compiled for them). An entry
holds the fused graph's text, the lowered Program (kernels, extern steps, memory plan), the
fusion remarks and the backend's artefacts: optimized LLVM object code (loaded straight into
the JIT) or Triton source. Entries are written to a temporary file and renamed, so a crash never
leaves a half entry; a corrupt or stale entry is ignored and rewritten.

``MXC_CACHE_DIR`` moves the cache (default ``~/.cache/mxc``); ``MXC_CACHE=0`` disables it.
"""
from __future__ import annotations

import hashlib
import os
import pickle

__all__ = ["enabled", "cache_key", "load", "store", "cache_dir", "CacheEntry"]

FORMAT = 1


def enabled() -> bool:
    return os.environ.get("MXC_CACHE", "1") not in ("0", "", "false", "no")


def cache_dir() -> str:
    base = os.environ.get("MXC_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache",
                                                            "mxc")
    d = os.path.join(base, "compile")
    os.makedirs(d, exist_ok=True)
    return d


def _host() -> str:
    try:
        import llvmlite.binding as llvm
        from .llvm import _init
        _init()
        return llvm.get_host_cpu_name() + ":" + llvm.get_host_cpu_features().flatten()
    except Exception:  # pragma: no cover
        return "unknown"


_HOST = None
_SOURCE = None


def _source_hash() -> str:
    """A hash of the compiler's own source, so any change to mxc invalidates old entries."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            if fn.endswith(".py"):
                with open(os.path.join(dirpath, fn), "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


def cache_key(graph_text: str, target: str, config: str) -> str:
    global _HOST, _SOURCE
    if _HOST is None:
        _HOST = _host()
        _SOURCE = _source_hash()
    h = hashlib.sha256()
    for part in (str(FORMAT), _SOURCE, _HOST, target, config, graph_text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:40]


class CacheEntry:
    """What a compilation leaves behind for the next process."""

    def __init__(self, graph_text, program, remarks, artefacts, n_forward_outputs, extra):
        self.graph_text = graph_text
        self.program = program
        self.remarks = remarks
        self.artefacts = artefacts          # {"llvm.obj": bytes, "llvm": text, ...}
        self.n_forward_outputs = n_forward_outputs
        self.extra = extra                  # pass results the Compiled object reports


def load(key: str) -> CacheEntry | None:
    if not enabled():
        return None
    path = os.path.join(cache_dir(), key + ".pkl")
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError,
            ModuleNotFoundError, TypeError, ValueError):
        return None
    return entry if isinstance(entry, CacheEntry) else None


def load_blob(key: str):
    """A small pickled value stored by :func:`store_blob` (per-kernel object code)."""
    if not enabled():
        return None
    try:
        with open(os.path.join(cache_dir(), key + ".blob"), "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError):
        return None


def store_blob(key: str, value) -> None:
    if not enabled():
        return
    from ..base import atomic_write
    try:
        with atomic_write(os.path.join(cache_dir(), key + ".blob"), "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    except (OSError, pickle.PicklingError):
        pass


def store(key: str, entry: CacheEntry) -> None:
    if not enabled():
        return
    from ..base import atomic_write
    try:
        with atomic_write(os.path.join(cache_dir(), key + ".pkl"), "wb") as f:
            pickle.dump(entry, f, protocol=pickle.HIGHEST_PROTOCOL)
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as e:
        # an uncachable program (say, a local function in an extern step) is just not cached
        import logging
        logging.getLogger("mxc").debug("compile cache: entry %s not stored: %s", key, e)
