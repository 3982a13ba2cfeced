"""``mx.util``: MXNet 1.x's general utilities, for mxc.

NumPy-shape semantics
---------------------
MXNet 1.x shapes use ``0`` for an unknown dimension and ``()`` for an unknown shape. With
NumPy-shape semantics on (``mx.set_np_shape(True)``, ``with mx.np_shape():``,
``@mx.use_np_shape``), ``-1`` is an unknown dimension, ``None`` an unknown shape, and ``0`` a
real zero-size dimension; shape inference (``Symbol.infer_shape[_partial]``) reports shapes that
way and symbol JSON written meanwhile carries the graph attribute ``is_np_shape``. The switch is
per thread, as in MXNet (``MXSetIsNumpyShape`` turns on thread-local semantics).

NumPy-array semantics (``mx.np`` arrays, ``np_array``/``use_np_array``/``use_np``/``set_np``)
belong to MXNet's ``mx.np``/``mx.npx`` frontend, which mxc does not have: turning them on raises
:class:`~mxc.base.UnsupportedError`; asking whether they are on answers ``False``.

The C-runtime helpers (``getenv``/``setenv``, ``get_gpu_count``/``get_gpu_memory``,
``get_cuda_compute_capability``) work on this process and on the GPUs torch sees.
"""
from __future__ import annotations

import functools
import inspect
import logging
import os
import threading

from .base import MXNetError, UnsupportedError, c_str, check_call, py_str  # noqa: F401

__all__ = [
    "get_gpu_count", "get_gpu_memory", "set_np_shape", "is_np_shape", "np_shape", "use_np_shape",
    "set_module", "np_array", "is_np_array", "use_np_array", "use_np", "np_ufunc_legal_option",
    "wrap_np_unary_func", "wrap_np_binary_func", "set_np", "reset_np",
    "get_cuda_compute_capability", "getenv", "setenv", "c_str", "py_str", "check_call",
]

_np_ufunc_default_kwargs = {
    "where": True,
    "casting": "same_kind",
    "order": "K",
    "dtype": None,
    "subok": True,
}


# -- devices -------------------------------------------------------------------------------------
def get_gpu_count() -> int:
    """Number of CUDA GPUs visible to this process (0 without CUDA)."""
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def get_gpu_memory(gpu_dev_id: int) -> tuple:
    """``(free, total)`` bytes of memory of GPU ``gpu_dev_id``."""
    import torch
    if not torch.cuda.is_available():
        raise MXNetError("get_gpu_memory: this call needs a CUDA GPU; none is available "
                         "(torch.cuda.is_available() is False)")
    n = torch.cuda.device_count()
    if not isinstance(gpu_dev_id, int) or isinstance(gpu_dev_id, bool) \
            or not 0 <= gpu_dev_id < n:
        raise MXNetError(f"get_gpu_memory: gpu_dev_id {gpu_dev_id!r} is not a GPU of this "
                         f"machine; {n} GPU(s) are visible (0 .. {n - 1})")
    free, total = torch.cuda.mem_get_info(gpu_dev_id)
    return int(free), int(total)


def get_cuda_compute_capability(ctx) -> int:
    """The CUDA compute capability of GPU context ``ctx`` as an int (``90`` for sm_90)."""
    if getattr(ctx, "device_type", None) != "gpu":
        raise ValueError("Expecting a gpu context to get cuda compute capability, "
                         f"while received ctx {ctx}")
    import torch
    if not torch.cuda.is_available():
        raise OSError(f"get_cuda_compute_capability({ctx}): no CUDA driver is available")
    n = torch.cuda.device_count()
    if not 0 <= ctx.device_id < n:
        raise RuntimeError(f"get_cuda_compute_capability({ctx}): only {n} GPU(s) are visible "
                           f"(gpu(0) .. gpu({n - 1}))")
    major, minor = torch.cuda.get_device_capability(ctx.device_id)
    return major * 10 + minor


# -- environment ---------------------------------------------------------------------------------
def getenv(name: str):
    """The value of environment variable ``name`` in this process, or ``None`` if unset."""
    return os.environ.get(name)


def setenv(name: str, value) -> None:
    """Set environment variable ``name`` to ``value`` in this process (``None`` unsets it)."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


# -- NumPy-shape semantics -----------------------------------------------------------------------
class _NpState(threading.local):
    def __init__(self):
        self.np_shape = False


_STATE = _NpState()
_set_np_shape_logged = False


def set_np_shape(active) -> bool:
    """Turn NumPy-shape semantics on or off for this thread; returns the previous state.

    With them on, ``()`` is the shape of a scalar, ``0`` a zero-size dimension and ``-1`` an
    unknown one (off, MXNet 1.x's default: ``0`` is unknown)."""
    global _set_np_shape_logged
    if active:
        if not _set_np_shape_logged:
            logging.info("NumPy-shape semantics has been activated in your code. This is "
                         "required for creating and manipulating scalar and zero-size tensors, "
                         "which were not supported in MXNet before, as in the official NumPy "
                         "library.")
            _set_np_shape_logged = True
    elif is_np_array():
        raise ValueError("Deactivating NumPy shape semantics while NumPy array semantics is "
                         "still active is not allowed; call reset_np() to deactivate both")
    prev = _STATE.np_shape
    _STATE.np_shape = bool(active)
    return prev


def is_np_shape() -> bool:
    """Whether NumPy-shape semantics are on in this thread."""
    return _STATE.np_shape


class _NumpyShapeScope:
    """``with np_shape(active):``: NumPy-shape semantics on (or off) inside the block, restored
    after it. Use :func:`np_shape` to make one."""

    def __init__(self, is_np_shape):  # noqa: A002 (MXNet's parameter name)
        self._enter_is_np_shape = is_np_shape
        self._prev_is_np_shape = None

    def __enter__(self):
        if self._enter_is_np_shape is not None:
            self._prev_is_np_shape = set_np_shape(self._enter_is_np_shape)

    def __exit__(self, ptype, value, trace):
        if self._enter_is_np_shape is not None \
                and self._prev_is_np_shape != self._enter_is_np_shape:
            set_np_shape(self._prev_is_np_shape)


def np_shape(active=True) -> _NumpyShapeScope:
    """A scope for ``with``: NumPy-shape semantics ``active`` inside it."""
    return _NumpyShapeScope(active)


def _wrap_class(cls, wrap):
    """Wrap every function, static/class method and property ``cls`` defines (or inherits)
    with ``wrap``, keeping static and class methods what they are."""
    for klass in reversed(cls.__mro__[:-1]):          # object's own members stay as they are
        for name, member in list(vars(klass).items()):
            if name in ("__dict__", "__weakref__", "__module__", "__doc__", "__qualname__"):
                continue
            if name in vars(cls) and klass is not cls:
                continue
            if isinstance(member, staticmethod):
                setattr(cls, name, staticmethod(wrap(member.__func__)))
            elif isinstance(member, classmethod):
                setattr(cls, name, classmethod(wrap(member.__func__)))
            elif isinstance(member, property):
                setattr(cls, name, property(
                    None if member.fget is None else wrap(member.fget),
                    None if member.fset is None else wrap(member.fset),
                    None if member.fdel is None else wrap(member.fdel), member.__doc__))
            elif inspect.isfunction(member):
                setattr(cls, name, wrap(member))
    return cls


def _scoped(func, scope, what):
    if inspect.isclass(func):
        return _wrap_class(func, lambda f: _scoped(f, scope, what))
    if callable(func):
        @functools.wraps(func)
        def _with_scope(*args, **kwargs):
            with scope():
                return func(*args, **kwargs)
        return _with_scope
    raise TypeError(f"{what} can only decorate classes and callable objects, while received "
                    f"a {type(func)}")


def use_np_shape(func):
    """Decorate a function (or every method and property of a class) to run with NumPy-shape
    semantics on."""
    return _scoped(func, lambda: np_shape(True), "use_np_shape")


# -- NumPy-array semantics (mx.np arrays): not in mxc --------------------------------------------
def _no_np_array(what: str) -> UnsupportedError:
    return UnsupportedError(f"{what}: NumPy-array semantics (mx.np / mx.npx arrays) are not "
                            "supported by mxc; use mx.nd arrays (NumPy-shape semantics alone "
                            "work: mx.np_shape / mx.use_np_shape / mx.set_np_shape)")


class _NumpyArrayScope:
    """``with np_array(False):``: NumPy-array semantics off inside the block (they are never on
    in mxc). Use :func:`np_array` to make one."""

    def __init__(self, is_np_array):  # noqa: A002 (MXNet's parameter name)
        if is_np_array:
            raise _no_np_array("np_array(active=True)")
        self._is_np_array = False

    def __enter__(self):
        return self

    def __exit__(self, ptype, value, trace):
        return None


def np_array(active=True) -> _NumpyArrayScope:
    """A scope for NumPy-array semantics; ``active=True`` raises
    :class:`~mxc.base.UnsupportedError` (mxc has no ``mx.np`` arrays)."""
    return _NumpyArrayScope(active)


def is_np_array() -> bool:
    """Whether NumPy-array semantics are on: never, in mxc."""
    return False


def use_np_array(func):
    """Raises :class:`~mxc.base.UnsupportedError`: NumPy-array semantics (``mx.np`` arrays) are
    not supported by mxc."""
    raise _no_np_array(f"use_np_array({getattr(func, '__name__', type(func).__name__)})")


def use_np(func):
    """Raises :class:`~mxc.base.UnsupportedError`: ``use_np`` turns on NumPy-array semantics
    too, which mxc does not support (use :func:`use_np_shape` for the shape semantics)."""
    raise _no_np_array(f"use_np({getattr(func, '__name__', type(func).__name__)})")


def set_np(shape=True, array=True) -> None:
    """Set NumPy-shape and NumPy-array semantics together; ``array=True`` raises
    :class:`~mxc.base.UnsupportedError` (call ``set_np(shape=..., array=False)`` or
    :func:`set_np_shape`)."""
    if not shape and array:
        raise ValueError("NumPy Shape semantics is required in using NumPy array semantics.")
    if array:
        raise _no_np_array("set_np(array=True)")
    set_np_shape(shape)


def reset_np() -> None:
    """Turn NumPy-shape (and array) semantics off."""
    set_np(shape=False, array=False)


# -- NumPy ufunc keyword checks ------------------------------------------------------------------
def np_ufunc_legal_option(key, value) -> bool:
    """Whether ``key=value`` is a legal NumPy ufunc keyword argument."""
    if key == "where":
        return True
    if key == "casting":
        return value in {"no", "equiv", "safe", "same_kind", "unsafe"}
    if key == "order":
        return isinstance(value, str)
    if key == "dtype":
        import numpy as np
        return value in {np.int8, np.uint8, np.int32, np.int64, np.float16, np.float32,
                         np.float64, "int8", "uint8", "int32", "int64", "float16", "float32",
                         "float64"}
    if key == "subok":
        return isinstance(value, bool)
    return False


def _check_ufunc_kwargs(kwargs, fname, binary):
    for key, value in kwargs.items():
        if key not in _np_ufunc_default_kwargs:
            raise TypeError(f"{key} is an invalid keyword to function '{fname}'")
        if value != _np_ufunc_default_kwargs[key]:
            if np_ufunc_legal_option(key, value):
                raise UnsupportedError(f"{key}={value} is not implemented yet"
                                       + ("" if binary else f" for operator {fname}"))
            raise TypeError(f"{key} {value} not understood" if binary
                            else f"{key}={value} not understood for operator {fname}")


def wrap_np_unary_func(func):
    """Wrap a NumPy-style unary function ``func(x, out=None)``: NumPy's ufunc keywords at their
    defaults are accepted, other legal values raise :class:`~mxc.base.UnsupportedError` (a
    NotImplementedError), unknown keywords TypeError."""
    @functools.wraps(func)
    def _wrap_np_unary_func(x, out=None, **kwargs):
        _check_ufunc_kwargs(kwargs, func.__name__, binary=False)
        return func(x, out=out)
    return _wrap_np_unary_func


def wrap_np_binary_func(func):
    """:func:`wrap_np_unary_func` for binary functions ``func(x1, x2, out=None)``."""
    @functools.wraps(func)
    def _wrap_np_binary_func(x1, x2, out=None, **kwargs):
        _check_ufunc_kwargs(kwargs, func.__name__, binary=True)
        return func(x1, x2, out=out)
    return _wrap_np_binary_func


def set_module(module):
    """Decorator that sets ``__module__`` of a function or class to ``module``."""
    def decorator(func):
        if module is not None:
            func.__module__ = module
        return func
    return decorator
