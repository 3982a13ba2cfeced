"""Errors and small shared helpers.

Every error mxc raises on bad input is an :class:`MXNetError`, so scripts written for MXNet that
``except mx.base.MXNetError`` keep working. Subclasses also derive from the builtin exception a
Python user would expect (``ShapeError`` is a ``ValueError``), and messages start with the operator
and symbol name, then say what was received and what was expected.
"""
from __future__ import annotations

__all__ = [
    "MXNetError", "ShapeError", "DTypeError", "AttrError", "GraphError", "ParseError",
    "VerifyError", "FormatError", "UnsupportedError", "StateError", "ShapeTypeError",
    "AllocationError", "op_prefix", "atomic_write",
]

import os
import tempfile
from contextlib import contextmanager


class MXNetError(RuntimeError):
    """Base of every error mxc raises on bad input (``mx.base.MXNetError``); a RuntimeError, as
    MXNet's is, so ``except RuntimeError`` in old scripts still catches it."""


class ShapeError(MXNetError, ValueError):
    """A shape that does not fit an operator."""


class ShapeTypeError(ShapeError, TypeError):
    """A shape that is not a tuple of ints (``('a', 5)``, ``(4.5, 5)``); MXNet raises TypeError."""


class AllocationError(MXNetError, MemoryError, RuntimeError):
    """An array larger than the device's memory, refused before allocating it."""


class DTypeError(MXNetError, TypeError):
    """A dtype an operator does not accept, or two that disagree."""


class AttrError(MXNetError, ValueError):
    """An operator attribute that is missing, unknown or out of range."""


class GraphError(MXNetError, ValueError):
    """A malformed symbol graph or IR graph (unknown operator, bad reference, cycle)."""


class ParseError(MXNetError, ValueError):
    """IR text that does not parse; the message gives line:col."""


class VerifyError(MXNetError, AssertionError):
    """An IR invariant broken by a pass; the message shows the IR around the bad op."""


class FormatError(MXNetError, ValueError):
    """A file (symbol JSON, .params, .states) that is truncated or not in the expected format."""


class UnsupportedError(MXNetError, NotImplementedError):
    """A feature MXNet has and mxc does not support yet; raised early, with what to do instead."""


class StateError(MXNetError, RuntimeError):
    """An API call made out of order (forward before bind, update before init_optimizer, ...)."""


def op_prefix(opname: str, name: str | None) -> str:
    """``"FullyConnected 'fc1'"``: how every operator error message starts."""
    return f"{opname} '{name}'" if name else opname


def _host_tag() -> str:
    """8 hex digits naming this machine in temporary file names (a directory may be shared)."""
    import socket
    import zlib
    return f"{zlib.crc32(socket.gethostname().encode('utf-8', 'replace')):08x}"


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` (on this machine) still runs; a zombie counts as finished."""
    if pid <= 0:
        return True             # not a pid we wrote: leave its file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:             # EPERM: someone else's live process
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _remove_dead_temps(d: str, base: str, host: str) -> None:
    """Delete ``<base>.<pid>-<host>.<random>.tmp`` files in ``d`` left by killed writers: ones
    made on this machine by a process that no longer runs. A live writer's (any process on
    another machine, or a running one here) is left alone."""
    import re
    pat = re.compile(re.escape(base) + r"\.(\d{1,10})-" + host + r"\.[A-Za-z0-9_]+\.tmp")
    try:
        names = os.listdir(d)
    except OSError:
        return
    prefix = base + "."
    for name in names:
        m = pat.fullmatch(name) if name.startswith(prefix) and name.endswith(".tmp") else None
        if m and not _pid_alive(int(m.group(1))):
            try:
                os.unlink(os.path.join(d, name))
            except OSError:
                pass


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", durable: bool = True):
    """Write to a temporary file beside ``path`` and rename it over ``path`` on success.

    A crash (or exception) half way leaves the previous file untouched and no partial file behind.
    The temporary is named ``<name>.<pid>-<host>.<random>.tmp``; one that a killed process
    (SIGKILL, power loss) could not remove is deleted by the next atomic_write of the same file
    on the same machine, once that process is gone.

    ``durable=False`` (the compile cache, whose entries carry their own length and checksum
    and are only ever written once per key) skips the fsync and the sweep for dead
    temporaries: after a power loss such a file may be empty or short, which its reader
    detects, but it is never a mix of old and new.
    """
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    host = _host_tag()
    if durable:
        _remove_dead_temps(d, base, host)
    fd, tmp = tempfile.mkstemp(prefix=f"{base}.{os.getpid()}-{host}.", suffix=".tmp", dir=d)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (or the old one's)
        try:
            perm = os.stat(path).st_mode & 0o7777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            perm = 0o666 & ~umask
        os.chmod(tmp, perm)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------------------------------------
# MXNet's mxnet.base names that scripts and MXNet's own modules import. mxc has no C library:
# the ctypes helpers convert values the way MXNet's did (so code that builds C arguments still
# runs), and check_call checks a status code.

import ctypes as _ctypes  # noqa: E402

import numpy as _np  # noqa: E402

string_types = (str,)
integer_types = (int, _np.int32, _np.int64)
numeric_types = (float, int, _np.generic)
mx_real_t = _np.float32
mx_int = _ctypes.c_int
mx_uint = _ctypes.c_uint
mx_int64 = _ctypes.c_int64
mx_float = _ctypes.c_float
mx_float_p = _ctypes.POINTER(mx_float)
# opaque handles of MXNet's C API: void pointers, as there
NDArrayHandle = FunctionHandle = OpHandle = CachedOpHandle = SymbolHandle = _ctypes.c_void_p
ExecutorHandle = DataIterCreatorHandle = DataIterHandle = KVStoreHandle = _ctypes.c_void_p
RecordIOHandle = RtcHandle = CudaModuleHandle = CudaKernelHandle = ProfileHandle = _ctypes.c_void_p


class NotImplementedForSymbol(MXNetError):
    """An NDArray-only function called on a Symbol (``bool(sym)``, ``sym.asnumpy()``)."""

    def __init__(self, function, alias=None, *args):
        self.function = getattr(function, "__name__", str(function))
        self.alias = alias
        what = f"Function {self.function}"
        if alias:
            what += f' (namely operator "{alias}")'
        if args:
            what += f" with arguments ({', '.join(str(type(a)) for a in args)})"
        super().__init__(what + " is not implemented for Symbol and only available in NDArray.")


class NotSupportedForSparseNDArray(UnsupportedError):
    """A function called on sparse storage, which mxc does not have."""

    def __init__(self, function, alias=None, *args):
        name = getattr(function, "__name__", str(function))
        super().__init__(f"Function {name}" + (f' (namely operator "{alias}")' if alias else "")
                         + " is not supported for sparse NDArrays: mxc has dense storage only")


def check_call(ret) -> None:
    """Raise MXNetError when a C-style status code is not 0 (MXNet's wrapper of its C API)."""
    if ret != 0:
        raise MXNetError(f"call failed with status {ret}")


def py_str(x) -> str:
    """bytes from a C call -> str."""
    return x.decode("utf-8") if isinstance(x, (bytes, bytearray)) else str(x)


def c_str(string: str):
    """str -> a C ``char*`` (ctypes)."""
    return _ctypes.c_char_p(string.encode("utf-8"))


def c_str_array(strings):
    """A sequence of str -> a C ``char*[]``."""
    arr = (_ctypes.c_char_p * len(strings))()
    arr[:] = [s.encode("utf-8") for s in strings]
    return arr


def c_array(ctype, values):
    """A C array of ``ctype`` holding ``values``."""
    out = (ctype * len(values))()
    out[:] = values
    return out


def c_array_buf(ctype, buf):
    """A C array of ``ctype`` sharing the memory of a buffer (``array.array``, numpy)."""
    return (ctype * len(buf)).from_buffer(buf)


def c_handle_array(objs):
    """The ``handle`` attributes of objects as a C ``void*[]``."""
    arr = (_ctypes.c_void_p * len(objs))()
    arr[:] = [o.handle for o in objs]
    return arr


def _as_list(obj):
    """``obj`` if it is a list or tuple, else ``[obj]`` (MXNet's helper, used by its tests)."""
    if isinstance(obj, (list, tuple)):
        return obj
    return [obj]


def ctypes2numpy_shared(cptr, shape):
    """A float32 numpy array of ``shape`` sharing the memory a ``POINTER(mx_float)`` points to
    (MXNet's helper of the same name)."""
    if not isinstance(cptr, _ctypes.POINTER(mx_float)):
        raise MXNetError("ctypes2numpy_shared: expected a POINTER(mx_float)")
    size = 1
    for s in shape:
        size *= s
    buf = (mx_float * size).from_address(_ctypes.addressof(cptr.contents))
    return _np.frombuffer(buf, dtype=_np.float32).reshape(shape)


class MXCallbackList(_ctypes.Structure):
    """MXNet's C structure of callbacks handed to a custom operator's C side (the layout of
    MXNet 1.9.1's ``MXCallbackList``); mxc calls Python operators directly and keeps it for
    code that builds one."""

    _fields_ = [
        ("num_callbacks", _ctypes.c_int),
        ("callbacks", _ctypes.POINTER(_ctypes.CFUNCTYPE(_ctypes.c_int))),
        ("contexts", _ctypes.POINTER(_ctypes.c_void_p)),
    ]


def data_dir_default() -> str:
    """MXNet's data folder, ``~/.mxnet`` (``MXNET_HOME`` overrides it; see :func:`data_dir`)."""
    return os.path.join(os.path.expanduser("~"), ".mxnet")


def data_dir() -> str:
    from . import config
    return config.get("MXNET_HOME") or data_dir_default()


class _ClassProperty:
    """A property read (and, with ``.setter``, written) on the class itself."""

    def __init__(self, fget, fset=None):
        self.fget, self.fset = fget, fset

    def __get__(self, obj, cls=None):
        return self.fget.__get__(obj, cls if cls is not None else type(obj))()

    def __set__(self, obj, value):
        if self.fset is None:
            raise MXNetError(f"the class property of {obj!r} has no setter")
        cls = obj if isinstance(obj, type) else type(obj)
        return self.fset.__get__(None, cls)(value)

    def setter(self, func):
        self.fset = func if isinstance(func, (classmethod, staticmethod)) else classmethod(func)
        return self


class _ClassPropertyMeta(type):
    """Lets assignment on the class go through a class property's setter."""

    def __setattr__(cls, key, value):
        prop = cls.__dict__.get(key)
        if isinstance(prop, _ClassProperty):
            return prop.__set__(cls, value)
        return super().__setattr__(key, value)


def classproperty(func):
    """``@classproperty``: a read-only property of the class (MXNet's helper)."""
    return _ClassProperty(func if isinstance(func, (classmethod, staticmethod))
                          else classmethod(func))


def with_metaclass(meta, *bases):
    """A base class that gives its subclasses the metaclass ``meta`` (MXNet's helper)."""
    return meta("_WithMetaclassBase", bases or (object,), {})
