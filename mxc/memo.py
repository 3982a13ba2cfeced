"""The in-memory compile memo: compiled programs kept for the life of the process, by key.

Every place that compiles on demand (executors binding a symbol, ``mx.nd`` operator calls,
``mx.nd.Custom``, optimizer update kernels) keeps its programs in one :class:`Memo` of its own
name, made here (so do fusion's index walks and the lowered kernels, by body structure: the
memos ``probe`` and ``lowered``), so one call reports (:func:`info`) or forgets (:func:`clear`) all of them. The
persistent cache on disk (:mod:`mxc.codegen.cache`) sits below: a miss here that hits there
costs no code generation. A key is built by its owner from everything that changes the program
(graph, shapes, dtypes, target, options); two threads missing the same key at once compile it
once (the second waits for the first).
"""
from __future__ import annotations

import threading

__all__ = ["Memo", "clear", "info", "memo"]

_MEMOS: dict[str, Memo] = {}
_REG_LOCK = threading.Lock()


class Memo:
    """Compiled things by key, with hit and miss counts."""

    def __init__(self, name: str, limit: int | None = None):
        self.name = name
        self.limit = limit          # entries kept; past it the memo starts over
        self._d: dict = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key, make):
        """The entry of ``key``, made by ``make()`` on the first request."""
        hit = self._d.get(key)
        if hit is not None:
            self.hits += 1
            return hit
        with self._lock:
            hit = self._d.get(key)
            if hit is None:
                self.misses += 1
                hit = make()
                if self.limit is not None and len(self._d) >= self.limit:
                    self._d.clear()
                self._d[key] = hit
            else:
                self.hits += 1
        return hit

    def count_hit(self):
        """Count a use of an entry its owner kept a reference to."""
        self.hits += 1

    def info(self) -> dict:
        return {"entries": len(self._d), "hits": self.hits, "misses": self.misses}

    def clear(self):
        with self._lock:
            self._d.clear()
            self.hits = self.misses = 0

    def __len__(self):
        return len(self._d)


def memo(name: str, limit: int | None = None) -> Memo:
    """The process's memo called ``name`` (made on first use, keeping at most ``limit``
    entries)."""
    m = _MEMOS.get(name)
    if m is None:
        with _REG_LOCK:
            m = _MEMOS.setdefault(name, Memo(name, limit))
    return m


def info() -> dict:
    """``{memo name: {"entries", "hits", "misses"}}`` for every memo."""
    return {n: m.info() for n, m in sorted(_MEMOS.items())}


def clear(name: str | None = None):
    """Forget the programs of memo ``name``, or of all of them."""
    for n, m in list(_MEMOS.items()):
        if name is None or n == name:
            m.clear()
