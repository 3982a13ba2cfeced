"""Name registries of classes (``mx.metric.register``, ``mx.init.register`` ...), as MXNet's
``mxnet.registry``: names are case-insensitive; re-registering a name warns and overrides."""
from __future__ import annotations

import warnings

__all__ = ["Registry"]


class Registry:
    """``register(klass, name=None)`` and the ``alias(*names)`` decorator for one base class."""

    def __init__(self, base: type, what: str, error: type = TypeError):
        self.base = base
        self.what = what
        self.error = error
        self.classes: dict = {}

    def register(self, klass, name=None):
        if not (isinstance(klass, type) and issubclass(klass, self.base)):
            raise self.error(f"Can only register subclass of {self.base.__name__}; got "
                             f"{klass!r}")
        name = (name or klass.__name__).lower()
        old = self.classes.get(name)
        if old is not None:
            warnings.warn(f"New {self.what} {klass.__module__}.{klass.__name__} registered with "
                          f"name {name} is overriding existing {self.what} "
                          f"{old.__module__}.{old.__name__}", UserWarning, stacklevel=3)
        self.classes[name] = klass
        return klass

    def alias(self, *aliases):
        """Class decorator: register the class under more names too."""
        def reg(klass):
            for name in aliases:
                self.register(klass, name)
            return klass
        return reg

    def get(self, name: str):
        return self.classes.get(name.lower())

    def names(self):
        return sorted(self.classes)
