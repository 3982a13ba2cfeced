"""MXNet's ``mx.libinfo``. MXNet located its native library here; mxc has none (its kernels are
compiled at run time through LLVM and Triton), so the path finders raise
:class:`~mxc.base.UnsupportedError` saying so, and ``__version__`` is mxc's."""
from __future__ import annotations

import logging  # noqa: F401  (MXNet's module exposes it)
import os  # noqa: F401
import platform  # noqa: F401

from .base import UnsupportedError

__all__ = ["find_lib_path", "find_include_path", "find_conf_path"]

_WHY = ("mxc has no native library (libmxnet.so) or C headers: it compiles its kernels at run "
        "time with LLVM and Triton")


def find_lib_path(prefix="libmxnet"):
    raise UnsupportedError(f"find_lib_path({prefix!r}): {_WHY}")


def find_include_path():
    raise UnsupportedError(f"find_include_path(): {_WHY}")


def find_conf_path(prefix="tvmop"):
    raise UnsupportedError(f"find_conf_path({prefix!r}): {_WHY}; TVM operators are not used")


def __getattr__(name):
    if name == "__version__":
        import mxc
        return mxc.__version__
    raise AttributeError(name)
