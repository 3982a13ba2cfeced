"""Name registries of classes (``mx.metric.register``, ``mx.init.register`` ...), as MXNet's
``mxnet.registry``: names are case-insensitive; re-registering a name warns and overrides."""
from __future__ import annotations

import warnings

__all__ = ["Registry", "get_registry", "get_register_func", "get_alias_func", "get_create_func"]

string_types = (str,)
_BY_BASE: dict = {}     # base class -> its Registry (the metric, initializer and optimizer ones...)


class Registry:
    """``register(klass, name=None)`` and the ``alias(*names)`` decorator for one base class."""

    def __init__(self, base: type, what: str, error: type = TypeError):
        self.base = base
        self.what = what
        self.error = error
        self.classes: dict = {}
        _BY_BASE[base] = self

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


def _registry(base_class, nickname: str) -> Registry:
    reg = _BY_BASE.get(base_class)
    if reg is None:
        reg = Registry(base_class, nickname)
    return reg


def get_registry(base_class) -> dict:
    """A copy of the name -> class table of ``base_class``'s registry."""
    reg = _BY_BASE.get(base_class)
    return dict(reg.classes) if reg is not None else {}


def get_register_func(base_class, nickname: str):
    """``register(klass, name=None)`` for ``base_class``'s registry (MXNet's helper)."""
    reg = _registry(base_class, nickname)

    def register(klass, name=None):
        return reg.register(klass, name)
    register.__doc__ = f"Register a {nickname} class under its (lower-cased) name."
    return register


def get_alias_func(base_class, nickname: str):
    """The ``@alias(*names)`` class decorator for ``base_class``'s registry."""
    return _registry(base_class, nickname).alias


def get_create_func(base_class, nickname: str):
    """``create(x, *args, **kwargs)``: ``x`` an instance (returned as is), a registered name,
    or a JSON string ``'["name", {kwargs}]'`` as :meth:`dumps` writes."""
    reg = _registry(base_class, nickname)

    def create(*args, **kwargs):
        if args:
            name, args = args[0], args[1:]
        else:
            name = kwargs.pop(nickname)
        if isinstance(name, base_class):
            if args or kwargs:
                raise reg.error(f"{nickname} is already an instance; extra arguments "
                                f"{args} {kwargs} cannot be applied")
            return name
        if not isinstance(name, str):
            raise reg.error(f"{nickname} must be a name or a {base_class.__name__}; got "
                            f"{type(name).__name__}")
        if name.startswith("["):
            import json
            if args or kwargs:
                raise reg.error(f"{nickname} given as JSON takes no other arguments")
            name, kwargs = json.loads(name)
        klass = reg.get(name)
        if klass is None:
            raise reg.error(f"Cannot find {nickname} {name!r}; registered: {reg.names()}")
        return klass(*args, **kwargs)
    create.__doc__ = f"Create a {nickname} from a name, a JSON string or an instance."
    return create
