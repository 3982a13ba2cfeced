"""Optimizer ``.states`` files: MXNet 1.9.1's pickled ``Updater`` states, read safely.

What MXNet writes (``Module.save_optimizer_states``, ``KVStore.save_optimizer_states``) is
``pickle.dumps(updater.states)`` (protocol 4 under Python 3): a dict from the parameter index (an
int; a parameter name when the kvstore ran the updates) to that parameter's optimizer state,
which is ``None``, an NDArray or a tuple of them (for example Adam's ``(mean, var)``). With
``dump_optimizer=True`` it is the pair ``(states, optimizer)``. An NDArray pickles as::

    mxnet.ndarray.ndarray.NDArray(None)  then  BUILD {'handle': bytearray(<raw NDArray bytes>)}

where the raw bytes are one array in the ``.params`` V2 layout (``NDArray::Save``).

:func:`dumps_states` writes exactly that, naming MXNet's classes (``mxnet.ndarray.ndarray``,
``mxnet.optimizer.optimizer``, ``mxnet.lr_scheduler``, ``numpy.core.multiarray``), so MXNet 1.x
reads mxc's files. :func:`loads_states` reads MXNet's files and mxc's through a restricted
unpickler: a pickle can name any importable callable, so only the globals a states file needs
are admitted (builtins containers, numpy array and scalar reconstruction, NDArray, the optimizer
and learning-rate scheduler classes); anything else raises :class:`~mxc.base.FormatError` naming
the class, before it is called.
"""
from __future__ import annotations

import copyreg
import io
import pickle
import types

from mxc.base import FormatError
from mxc.ndarray import NDArray

__all__ = ["dumps_states", "loads_states", "read_states_file", "write_states_file"]

_MX_NDARRAY = ("mxnet.ndarray.ndarray", "NDArray")


def _new_ndarray(handle=None):
    """``NDArray(None)`` as MXNet's pickles call it: an empty shell that BUILD fills through
    ``NDArray.__setstate__`` (which reads MXNet's raw bytes)."""
    return NDArray.__new__(NDArray)


# --- writing ----------------------------------------------------------------------------------
def _mx_global(obj):
    """The ``(module, name)`` MXNet knows ``obj`` (a class or function) by, or None."""
    mod = getattr(obj, "__module__", "") or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if obj is _new_ndarray or obj is NDArray:
        return _MX_NDARRAY
    if mod == "runtime.optimizer" or mod.startswith("runtime.optimizer."):
        return ("mxnet.optimizer.optimizer", name)
    if mod == "runtime.lr_scheduler":
        return ("mxnet.lr_scheduler", name)
    if mod.startswith("numpy._core"):
        # numpy 2 pickles name numpy._core; MXNet's numpy (< 1.24) only has numpy.core
        return ("numpy.core" + mod[len("numpy._core"):], name)
    return None


class _MXPickler(pickle._Pickler):  # the Python pickler: its save_global can be overridden
    """Pickles mxc objects under MXNet's class names, in MXNet's layout."""

    def reducer_override(self, obj):
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            alias = _mx_global(obj)
            if alias is not None:
                return alias[1]     # a str: pickle saves obj through self.save_global
            return NotImplemented
        if isinstance(obj, NDArray):
            from mxc.ndarray.io import _save_raw
            return (_new_ndarray, (None,), {"handle": bytearray(_save_raw(obj))})
        mod = type(obj).__module__ or ""
        if mod.startswith(("runtime.optimizer", "runtime.lr_scheduler")):
            state = obj.__getstate__() if hasattr(obj, "__getstate__") else obj.__dict__
            return (copyreg.__newobj__, (type(obj),), state)
        return NotImplemented

    def save_global(self, obj, name=None):
        alias = _mx_global(obj)
        if alias is None:
            return super().save_global(obj, name)
        module, qname = alias
        if self.proto >= 4:
            self.save(module)
            self.save(qname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + bytes(f"{module}\n{qname}\n", "utf-8"))
        self.memoize(obj)


def dumps_states(states, optimizer=None, dump_optimizer=False) -> bytes:
    """MXNet's ``Updater.get_states(dump_optimizer)`` bytes for ``states`` (and ``optimizer``)."""
    obj = (states, optimizer) if dump_optimizer else states
    buf = io.BytesIO()
    _MXPickler(buf, protocol=4).dump(obj)
    return buf.getvalue()


# --- reading ----------------------------------------------------------------------------------
_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "bytearray", "bytes", "complex",
             "int", "float", "bool", "str", "slice", "range", "object"}
_NUMPY = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


def _numpy_attr(sub, name):
    import importlib
    for base in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{base}.{sub}"), name)
        except (ImportError, AttributeError):
            continue
    raise FormatError(f"numpy has no {sub}.{name}")


def _optimizer_class(name):
    from runtime import optimizer as opt
    cls = getattr(opt, name, None)
    if isinstance(cls, type) and issubclass(cls, opt.Optimizer):
        return cls
    return None


def _scheduler_class(name):
    from runtime import lr_scheduler as lrs
    cls = getattr(lrs, name, None)
    if isinstance(cls, type) and issubclass(cls, lrs.LRScheduler):
        return cls
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f, source):
        super().__init__(f)
        self.source = source

    def find_class(self, module, name):
        if module == "builtins" and name in _BUILTINS:
            import builtins
            return getattr(builtins, name)
        if module in ("copyreg", "copy_reg") and name == "_reconstructor":
            return copyreg._reconstructor
        if module == "collections" and name == "OrderedDict":
            from collections import OrderedDict
            return OrderedDict
        if (module, name) in _NUMPY:
            if module == "numpy":
                import numpy as np
                return getattr(np, name)
            return _numpy_attr(module.split(".")[-1], name)
        if name == "NDArray" and module in ("mxnet.ndarray.ndarray", "mxnet.ndarray",
                                            "mxc.ndarray.ndarray", "mxc.ndarray"):
            return _new_ndarray
        if module in ("mxnet.optimizer.optimizer", "mxnet.optimizer", "runtime.optimizer"):
            cls = _optimizer_class(name)
            if cls is not None:
                return cls
        if module in ("mxnet.lr_scheduler", "runtime.lr_scheduler"):
            cls = _scheduler_class(name)
            if cls is not None:
                return cls
        raise FormatError(
            f"{self.source}: refusing to load optimizer states that reference "
            f"'{module}.{name}': a .states file may only contain dicts, lists, tuples, numbers, "
            "numpy arrays, NDArrays and MXNet's optimizer and lr_scheduler classes")


def loads_states(data: bytes, source: str = "<states>"):
    """Unpickle optimizer states (MXNet's or mxc's) through the restricted unpickler.

    Returns what was pickled: the states dict, or ``(states, optimizer)``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"optimizer states must be bytes; got {type(data).__name__}")
    if len(data) == 0:
        raise FormatError(f"{source}: empty file; expected pickled optimizer states")
    try:
        return _RestrictedUnpickler(io.BytesIO(bytes(data)), source).load()
    except FormatError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as e:
        raise FormatError(f"{source}: not a valid optimizer states file "
                          f"({type(e).__name__}: {e})") from None


def write_states_file(fname, data: bytes) -> None:
    """Write ``data`` to ``fname`` through a temporary file renamed on success."""
    from mxc.base import atomic_write
    with atomic_write(fname, "wb") as f:
        f.write(data)


def read_states_file(fname) -> bytes:
    with open(fname, "rb") as f:
        return f.read()


def apply_states(updater, loaded) -> None:
    """Install unpickled states into ``updater`` as MXNet's ``Updater.set_states`` does."""
    if isinstance(loaded, tuple) and len(loaded) == 2:
        updater.states, updater.optimizer = loaded
    else:
        updater.states = loaded
    if not isinstance(updater.states, dict):
        raise FormatError(f"optimizer states must be a dict of index -> state; got "
                          f"{type(updater.states).__name__}")
    updater.states_synced = dict.fromkeys(updater.states.keys(), False)
