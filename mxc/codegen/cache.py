"""Persistent compile cache: a second process pays no codegen for a graph it has seen.

The key hashes the input graph's text, the pass pipeline's configuration, the target, mxc's
version and source, the host CPU (name and features, since LLVM code is compiled for them) and
LLVM's version. Two kinds of entry live in ``<MXC_CACHE_DIR>/compile``:

- ``<key>.pkl``: a :class:`CacheEntry`, the fused graph's text, the lowered Program (kernels,
  extern steps, memory plan), the fusion remarks and the backend's artefacts (Triton source);
- ``<key>.blob``: one kernel's optimized LLVM object code and IR, loaded straight into the JIT.

Nothing read back is trusted, because a bad entry would otherwise hurt every later run: a flipped
bit in object code crashes the process (or silently changes a constant) until someone deletes the
cache, and a pickle can name any importable callable. So every file is::

    header (_HEADER): MAGIC, FORMAT, the key it was stored under, payload length,
                      SHA-256 of the payload
    payload:          a pickle

and reading checks all of the header before anything is unpickled (so object code reaches LLVM
only after its checksum verifies; an entry copied under another key's name is refused), then
unpickles through :class:`_Unpickler`, which resolves only mxc's own classes, the functions that
op definitions lower to (the extern calls a Program names), numpy's array reconstruction and a
few plain builtins. An entry that fails any check is deleted, reported as one warning line on
the ``mxc`` logger naming the file and the reason, and treated as a miss: the graph is compiled
again and the entry rewritten. The checksum guards against corruption, not against someone who
can write the cache directory (they could write valid object code), so the directory must be as
trusted as the code that runs from it.

Entries are written to a temporary file and renamed, so a crash never leaves a half entry, and
only after they have been read back through the same checks (what cannot be loaded is not
stored). They are not fsynced: after a power loss an entry may be short or empty, which the
header's length and checksum catch (the entry is discarded and recompiled). ``MXC_CACHE_DIR`` moves the cache (default ``~/.cache/mxc``); ``MXC_CACHE=0`` disables
it. A directory that cannot be created or written (or is a file) turns the cache off for the
process, with one warning; compiling still works.
"""
from __future__ import annotations

import builtins
import hashlib
import io
import logging
import os
import pickle
import stat
import struct
import tempfile
import threading
import types

__all__ = ["enabled", "cache_key", "load", "store", "load_blob", "store_blob", "cache_dir",
           "CacheEntry"]

FORMAT = 5          # 2: header with key and checksum, restricted unpickling; 3: Step.node_name;
                    # 4: extra["inputs"], the fused graph's inputs (its text is parsed lazily);
                    # 5: extra["attrs"], its graph attributes, replace the autodiff/pin fields
MAGIC = b"MXCCACHE"
KEY_LEN = 40        # cache_key's hex digits
# magic, format, key (ASCII), payload length, SHA-256 of the payload; then the payload
_HEADER = struct.Struct(f"<8sI{KEY_LEN}sQ32s")

_log = logging.getLogger("mxc")


def _env_on() -> bool:
    from .. import config
    return config.get("MXC_CACHE")


def enabled() -> bool:
    """Whether this process uses the cache: ``MXC_CACHE`` is not off and the directory works."""
    return _env_on() and cache_dir() is not None


_dir_lock = threading.Lock()
_usable: dict[str, bool] = {}       # directory -> probed result, so each is tried (and warned) once


def cache_dir() -> str | None:
    """The entry directory, created if needed; None (after one warning) if it cannot be used.

    A cache that cannot be written must not fail compiles, so the directory is probed once per
    process by creating and removing a file in it: the one test that covers every case (a file
    in the way, permissions, a read-only mount, ACLs), unlike ``os.access``."""
    from .. import config
    d = os.path.join(config.cache_root(), "compile")
    with _dir_lock:
        ok = _usable.get(d)
        if ok is None:
            try:
                os.makedirs(d, exist_ok=True)
                fd, probe = tempfile.mkstemp(prefix=".probe-", suffix=".tmp", dir=d)
                os.close(fd)
                os.unlink(probe)
                ok = True
            except OSError as e:
                ok = False
                _log.warning("mxc compile cache: disabled for this process: cannot use %s as "
                             "a cache directory (%s); set MXC_CACHE_DIR to a writable "
                             "directory", d, _one_line(e))
            _usable[d] = ok
    return d if ok else None


def _host() -> str:
    try:
        import llvmlite.binding as llvm
        from .llvm import _init
        _init()
        return (llvm.get_host_cpu_name() + ":" + llvm.get_host_cpu_features().flatten()
                + ":llvm" + ".".join(map(str, llvm.llvm_version_info)))
    except Exception:  # pragma: no cover
        return "unknown"


_HOST = None
_SOURCE = None


def _source_hash(root: str | None = None) -> str:
    """A fingerprint of the compiler's own source, so any change to mxc invalidates old entries:
    every ``.py`` file's path, size and modification time (a stat per file, not a read: this
    runs in every process that compiles, and reading the ~150 files cost a warm start 6 ms). An
    edit changes the time; a fresh checkout or install gets new times and starts a new cache."""
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = []
    stack = [root]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.name.endswith(".py"):
                    st = e.stat()
                    parts.append(f"{e.path[len(root):]}\0{st.st_size}\0{st.st_mtime_ns}")
                elif e.name != "__pycache__" and e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
    parts.sort()
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cache_key(graph_text: str, target: str, config: str) -> str:
    global _HOST, _SOURCE
    if _HOST is None:
        _HOST = _host()
        _SOURCE = _source_hash()
    h = hashlib.sha256()
    for part in (str(FORMAT), _SOURCE, _HOST, target, config, graph_text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:KEY_LEN]


class CacheEntry:
    """What a compilation leaves behind for the next process."""

    def __init__(self, graph_text, program, remarks, artefacts, extra):
        self.graph_text = graph_text
        self.program = program
        self.remarks = remarks
        self.artefacts = artefacts          # {"triton": source}
        self.extra = extra                  # the final graph's inputs and attributes


# -- reading and writing one entry file -----------------------------------------------------
class _Bad(Exception):
    """An entry that must not be used; the message is the reason, on one line."""


def _one_line(e: BaseException, limit: int = 200) -> str:
    s = " ".join(str(e).split()) or type(e).__name__
    return s if len(s) <= limit else s[:limit] + "..."


def _pack(key: str, payload: bytes) -> bytes:
    k = key.encode("ascii")
    if len(k) != KEY_LEN:
        raise ValueError(f"compile cache keys are {KEY_LEN} characters; got {key!r}")
    return _HEADER.pack(MAGIC, FORMAT, k, len(payload), hashlib.sha256(payload).digest()) + payload


def _read(path: str, key: str) -> tuple[bytes, os.stat_result]:
    """The verified payload of the entry at ``path`` and the file's stat.

    Raises FileNotFoundError for a miss and :class:`_Bad` for anything else wrong. The length
    is checked against the file's size before reading, so a garbled header cannot ask for a
    huge allocation; O_NONBLOCK keeps a FIFO planted at the path from blocking the open."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Bad("not a regular file")
        head = f.read(_HEADER.size)
        if len(head) < _HEADER.size:
            raise _Bad(f"truncated: {len(head)} bytes, shorter than the {_HEADER.size}-byte "
                       "header")
        magic, version, stored_key, n, digest = _HEADER.unpack(head)
        if magic != MAGIC:
            raise _Bad("not an mxc cache entry (bad magic)")
        if version != FORMAT:
            raise _Bad(f"format {version}; this mxc reads format {FORMAT}")
        if stored_key != key.encode("ascii"):
            raise _Bad(f"stored under key {stored_key.decode('ascii', 'replace')!r}, not "
                       f"{key!r} (a copied or renamed entry)")
        if st.st_size != _HEADER.size + n:
            raise _Bad(f"{st.st_size} bytes; the header says {_HEADER.size + n} (truncated or "
                       "extended)")
        payload = f.read(n)
    if len(payload) != n:
        raise _Bad(f"truncated while reading: {len(payload)} of {n} payload bytes")
    if hashlib.sha256(payload).digest() != digest:
        raise _Bad("SHA-256 checksum mismatch (corrupted)")
    return payload, st


# the plain builtins a pickled Program may name (lists, dicts, tuples, ... need no global)
_BUILTINS = frozenset({"set", "frozenset", "slice", "complex", "range", "bytearray"})
# numpy's array, scalar and dtype reconstruction (numpy 2 names numpy._core, 1.x numpy.core)
_NUMPY = frozenset({("numpy", "ndarray"), ("numpy", "dtype")} | {
    (f"{base}.{sub}", name) for base in ("numpy._core", "numpy.core")
    for sub, name in (("multiarray", "_reconstruct"), ("multiarray", "scalar"),
                      ("numeric", "_frombuffer"))})


def _in_mxc(module) -> bool:
    return isinstance(module, str) and (module == "mxc" or module.startswith("mxc."))


def _extern_functions() -> set:
    """The functions an extern step may hold: what registered ops lower to (``Extern.fn`` and
    ``Extern.split``). Other mxc functions are refused: some do I/O or import generated source
    (``triton.load_source``), which a pickle could call with arguments of its choosing."""
    from ..ir import opdefs  # noqa: F401  (registers the ops)
    from ..ir.registry import Extern, all_ops
    fns = set()
    for od in all_ops().values():
        if isinstance(od.lower, Extern):
            for f in (od.lower.fn, od.lower.split):
                if f is None:
                    continue
                fns.add(f)
                # a callable object wrapping the op's function (detection's _TorchCall(fn))
                # pickles as its class and that function
                fns.update(v for v in getattr(f, "__dict__", {}).values()
                           if isinstance(v, types.FunctionType))
    return fns


class _Unpickler(pickle.Unpickler):
    """Resolves only the globals a cache entry legitimately names; anything else is refused
    before it can be called. A pickle names ``module.name`` and the unpickler calls it, so
    plain ``pickle.load`` of a planted file runs ``os.system``."""

    _externs = None

    def find_class(self, module, name):
        if module == "builtins" and name in _BUILTINS:
            return getattr(builtins, name)
        if (module, name) in _NUMPY:
            return super().find_class(module, name)
        if _in_mxc(module):
            obj = super().find_class(module, name)   # imports only mxc's own modules
            # check what was resolved, not the name: "mxc.base" / "os.system" resolves to os's
            if isinstance(obj, type) and _in_mxc(obj.__module__):
                return obj
            if isinstance(obj, types.FunctionType) and _in_mxc(obj.__module__):
                if self._externs is None:
                    self._externs = _extern_functions()
                if obj in self._externs:
                    return obj
        raise pickle.UnpicklingError(f"refused global {module}.{name}: a cache entry may only "
                                     "name mxc's classes, op library calls, numpy arrays and "
                                     "plain builtins")


def _unpickle(payload: bytes):
    from ..gcpause import paused
    with paused():          # a program is ~10^5 objects: no collector passes while they come
        return _Unpickler(io.BytesIO(payload)).load()


def _discard(path: str, reason: str, st: os.stat_result | None = None) -> None:
    """Delete a bad entry (best effort) and say so in one line. With ``st``, only the file that
    was read is deleted, not a good one another process has just renamed into its place."""
    try:
        if st is None or os.path.samestat(st, os.stat(path)):
            os.unlink(path)
    except OSError:
        pass
    _log.warning("mxc compile cache: discarded %s: %s; it will be recompiled and rewritten",
                 path, reason)


def _load(key: str, suffix: str, check):
    """The value stored under ``key`` if every check passes (``check(value)`` returns None or
    what is wrong with it); else None, having discarded the file if there was one."""
    if not _env_on():
        return None
    d = cache_dir()
    if d is None:
        return None
    path = os.path.join(d, key + suffix)
    st = None
    try:
        payload, st = _read(path, key)
        value = _unpickle(payload)
        wrong = check(value)
        if wrong:
            raise _Bad(wrong)
        return value
    except FileNotFoundError:
        return None
    except _Bad as e:
        _discard(path, str(e), st)
    except Exception as e:  # noqa: BLE001 -- unpickling refused or failed, unreadable file, ...
        _discard(path, f"cannot load ({type(e).__name__}: {_one_line(e)})", st)
    return None


def _store(key: str, suffix: str, value) -> None:
    """Write ``value`` under ``key``; failing to cache never fails a compile. What cannot be
    read back through :class:`_Unpickler` is not written: it would be refused, warned about
    and recompiled on every later run."""
    if not _env_on():
        return
    d = cache_dir()
    if d is None:
        return
    from ..base import atomic_write
    path = os.path.join(d, key + suffix)
    try:
        from ..gcpause import paused
        with paused():
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            _unpickle(payload)
        data = _pack(key, payload)
        os.makedirs(d, exist_ok=True)       # removed since it was probed: make it again
        with atomic_write(path, "wb", durable=False) as f:
            f.write(data)
    except Exception as e:  # noqa: BLE001
        # an uncachable program (say, a local function in an extern step) is just not cached
        _log.debug("compile cache: %s not stored: %s: %s", path, type(e).__name__, e)


def _check_entry(v) -> str | None:
    from .program import Program
    if not isinstance(v, CacheEntry):
        return f"holds a {type(v).__name__}, not a CacheEntry"
    for attr, types_ in (("graph_text", str), ("program", Program), ("remarks", list),
                         ("artefacts", dict), ("extra", dict)):
        if not isinstance(getattr(v, attr, None), types_):
            return f"CacheEntry.{attr} is a {type(getattr(v, attr, None)).__name__}"
    return None


def _check_kernel_blob(v) -> str | None:
    if (isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], bytes)
            and isinstance(v[1], str)):
        return None
    return f"holds a {type(v).__name__}, not an (object code, IR) pair"


def load(key: str) -> CacheEntry | None:
    """The compiled program stored under ``key``, or None (a miss or a discarded entry)."""
    return _load(key, ".pkl", _check_entry)


def store(key: str, entry: CacheEntry) -> None:
    _store(key, ".pkl", entry)


def load_blob(key: str) -> tuple[bytes, str] | None:
    """One kernel's ``(object code, optimized IR)`` stored by :func:`store_blob`, or None.

    The object code is returned only after its checksum verifies: LLVM aborts the process on a
    malformed object file."""
    return _load(key, ".blob", _check_kernel_blob)


def store_blob(key: str, value: tuple[bytes, str]) -> None:
    _store(key, ".blob", value)
