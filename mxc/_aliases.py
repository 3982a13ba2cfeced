"""MXNet's module paths, served by the modules that implement them.

MXNet's runtime modules (``mxnet.module``, ``mxnet.io``, ``mxnet.executor`` ...) live in mxc's
top-level ``runtime`` package; scripts reach them as ``mx.mod.Module`` and also as
``import mxnet.module.executor_group`` or ``from mxnet.monitor import Monitor``. One table,
:data:`ALIASES`, maps each such name to the module that implements it, and one import hook
serves it, so ``import mxc.module.executor_group``, ``from mxc.module import module`` and
``mxc.module`` (attribute access) give the *same* module object as ``runtime.module...``: classes
keep one identity and monkeypatching a module is seen everywhere.

:func:`alias_package` maps a whole package under another name, ``alias_package("mxnet", "mxc")``,
so that a script or test module written for MXNet imports mxc unchanged
(``python -m mxc.as_mxnet script.py``).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

from . import _unsupported

__all__ = ["ALIASES", "alias_package", "resolve"]

# mxc.<name> -> the module implementing MXNet's mxnet.<name>
ALIASES = {
    "mxc.mod": "runtime.module",
    "mxc.module": "runtime.module",
    "mxc.io": "runtime.io",
    "mxc.metric": "runtime.metric",
    "mxc.optimizer": "runtime.optimizer",
    "mxc.lr_scheduler": "runtime.lr_scheduler",
    "mxc.init": "runtime.initializer",
    "mxc.initializer": "runtime.initializer",
    "mxc.callback": "runtime.callback",
    "mxc.kv": "runtime.kvstore",
    "mxc.kvstore": "runtime.kvstore",
    "mxc.model": "runtime.model",
    "mxc.executor": "runtime.executor",
    "mxc.monitor": "runtime.monitor",
    "mxc.mon": "runtime.monitor",
    "mxc.profiler": "runtime.profiler",
    "mxc.viz": "mxc.viz",
    "mxc.visualization": "mxc.viz",
    "mxc.name": "mxc.symbol.naming",
    "mxc.attribute": "mxc.symbol.naming",
    "mxc.rnd": "mxc.random",
    "mxc.registry": "runtime.registry",
    "mxc.recordio": "mxc.recordio",
    "mxc.image": "mxc.image",
    "mxc.img": "mxc.image",
    "mxc.contrib": "mxc.contrib",
}

_PACKAGES: dict[str, str] = {}     # "mxnet" -> "mxc", set by alias_package


def resolve(fullname: str) -> str | None:
    """The real module name behind an aliased one (longest aliased prefix wins), or None."""
    for prefix, target in _PACKAGES.items():
        if fullname == prefix or fullname.startswith(prefix + "."):
            real = target + fullname[len(prefix):]
            return resolve(real) or real
    parts = fullname.split(".")
    for i in range(len(parts), 1, -1):
        target = ALIASES.get(".".join(parts[:i]))
        if target is not None:
            return ".".join([target] + parts[i:])
    return None


class _AliasLoader(importlib.abc.Loader):
    """Returns the real module for the alias: nothing is executed twice."""

    def __init__(self, real: str):
        self.real = real

    def create_module(self, spec):
        module = importlib.import_module(self.real)
        self._spec = getattr(module, "__spec__", None)
        return module

    def exec_module(self, module):
        # the import system stamped the alias's spec on the real module: give it back its own
        if self._spec is not None:
            module.__spec__ = self._spec


class _PlaceholderLoader(importlib.abc.Loader):
    def __init__(self, name):
        self.name = name

    def create_module(self, spec):
        return _unsupported.module(self.name)

    def exec_module(self, module):
        pass


def _unsupported_spec(fullname: str, alias: str):
    """The spec of ``mxc.X`` for a feature mxc lacks (mxc._unsupported); importing below it
    (``mxc.gluon.nn``) raises UnsupportedError naming the feature."""
    found = _unsupported.lookup(fullname)
    if found is None:
        return None
    key, entry = found
    if fullname != "mxc." + key:
        from .base import UnsupportedError
        raise UnsupportedError(f"mxc does not support {entry[0]} (import {fullname}); "
                               f"{entry[1]}")
    return importlib.util.spec_from_loader(alias, _PlaceholderLoader(key))


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        placeholder = _unsupported_spec(resolve(fullname) or fullname, fullname)
        if placeholder is not None:
            return placeholder
        real = resolve(fullname)
        if real is None or real == fullname:
            return None
        if real in sys.modules:
            loader = _AliasLoader(real)
        elif importlib.util.find_spec(real) is None:
            return None
        else:
            loader = _AliasLoader(real)
        return importlib.util.spec_from_loader(fullname, loader)


_FINDER = _AliasFinder()
if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _FINDER)


def alias_package(name: str, target: str = "mxc") -> None:
    """Make ``import name`` and ``import name.x.y`` give ``target`` and ``target.x.y``."""
    _PACKAGES[name] = target
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        if not sys.modules[mod].__name__.startswith(target):
            del sys.modules[mod]
