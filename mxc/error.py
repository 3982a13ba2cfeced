"""MXNet's ``mx.error``: the registry of error classes that map a backend error's type name to
a Python exception. mxc raises its errors directly; the registry lets code that registers its
own error types, or looks them up by name, keep working."""
from __future__ import annotations

from .base import MXNetError

__all__ = ["MXNetError", "InternalError", "register", "register_error", "error_types"]

# error type name -> class; MXNet's names, mapped to mxc's classes where they share a meaning
error_types: dict[str, type] = {"MXNetError": MXNetError}


def register_error(func_name=None, cls=None):
    """Register an error class under a name: ``register_error("ValueError", MyError)``, or as a
    decorator ``@register_error`` / ``@register_error("Name")``."""
    if callable(func_name) and cls is None:
        cls, func_name = func_name, func_name.__name__

    def reg(klass):
        error_types[func_name or klass.__name__] = klass
        return klass
    return reg(cls) if cls is not None else reg


register = register_error


@register_error
class InternalError(MXNetError):
    """An internal error of mxc (a bug): please report it with the graph that caused it."""


for _name, _builtin in (("ValueError", ValueError), ("TypeError", TypeError),
                        ("AttributeError", AttributeError), ("IndexError", IndexError),
                        ("NotImplementedError", NotImplementedError)):
    register_error(_name, type(_name, (MXNetError, _builtin), {
        "__module__": __name__, "__doc__": f"An MXNetError that is also a {_name}."}))
del _name, _builtin
