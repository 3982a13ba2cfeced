"""``mx.sym.Custom``: a node calling a Python operator registered with
``mx.operator.register`` (see :mod:`mxc.operator`)."""
from __future__ import annotations

from ..base import AttrError
from .ops import invoke
from .symbol import Symbol

__all__ = ["Custom"]


def Custom(*data, op_type=None, name=None, attr=None, **kwargs):
    """Apply the custom operator registered as ``op_type`` to ``data`` (Symbols, in the
    Prop's ``list_arguments`` order, or by argument name). Other keyword arguments are passed
    to the Prop's ``__init__`` as strings and stored in the symbol's attributes, as MXNet does.
    Arguments not given become variables named ``<name>_<argument>``."""
    if op_type is None:
        raise AttrError("Custom: required attribute 'op_type' (the name a CustomOpProp was "
                        "registered under with mx.operator.register) is missing")
    kwargs.pop("out", None)
    named = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
    params = {k: v for k, v in kwargs.items() if not isinstance(v, Symbol)}
    for i, s in enumerate(data):
        if not isinstance(s, Symbol):
            raise TypeError(f"Custom (op_type={op_type!r}): positional input {i} must be a "
                            f"Symbol; got {type(s).__name__}")
    if named and data:
        from ..ir.opdefs.custom import custom_impl
        impl = custom_impl(str(op_type), f"Custom (op_type={op_type!r})")
        kw = {k: v if isinstance(v, str) else str(v) for k, v in params.items()}
        p = impl.prop(kw)
        order = list(p.list_arguments()) + list(p.list_auxiliary_states())
        inputs = dict(zip(order, data))
        inputs.update(named)
    else:
        inputs = named or list(data)
    return invoke("Custom", inputs, {"op_type": op_type, **params}, name, attr)
