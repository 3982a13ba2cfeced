"""``mx.nd.Custom``: run a Python operator registered with ``mx.operator.register`` on arrays.

Like every eager operator it is a one-op graph compiled through the pipeline (cached by
attributes, shapes and device); the compiled step calls the user's ``CustomOp.forward``.
Auxiliary states are updated in place, as in MXNet."""
from __future__ import annotations

import torch

from ..base import AttrError, MXNetError
from ..ir.core import Builder
from ..ir.types import DType, TensorType
from ..memo import memo
from .ndarray import NDArray

__all__ = ["Custom"]

_MEMO = memo("nd-custom")


def _compiled(attrs, in_types, device, name):
    from ..compile import compile_graph
    from ..ir.opdefs.custom import custom_impl
    from ..ir.registry import get_op
    from .ops import _freeze, _target_for
    # the registration too: registering the op_type again (another Prop) compiles again
    impl = custom_impl(attrs["op_type"])
    key = (getattr(impl, "serial", id(impl)), _freeze(attrs),
           tuple((t.shape, t.dtype) for t in in_types), str(device))

    def make():
        od = get_op("Custom")
        b = Builder("Custom")
        ins = [b.input(n, t) for n, t in zip(od.list_inputs(attrs), in_types)]
        outs = b.op("Custom", ins, attrs, name, parsed=True)
        outs = list(outs) if isinstance(outs, tuple) else [outs]
        return compile_graph(b.build(outs), _target_for(device)), od.num_visible(attrs)
    return _MEMO.get(key, make)


def Custom(*data, op_type=None, out=None, name=None, **kwargs):
    """Apply the custom operator registered as ``op_type`` to NDArrays (in the Prop's
    ``list_arguments`` order, then its auxiliary states, or by name); other keyword arguments
    go to the Prop's ``__init__`` as strings. Returns an NDArray, or a list for several
    outputs. ``is_train`` is False (mxc has no imperative autograd)."""
    if op_type is None:
        raise AttrError("Custom: required attribute 'op_type' (the name a CustomOpProp was "
                        "registered under with mx.operator.register) is missing")
    from ..ir.registry import get_op
    named = {k: v for k, v in kwargs.items() if isinstance(v, NDArray)}
    params = {k: v for k, v in kwargs.items() if not isinstance(v, NDArray)}
    od = get_op("Custom")
    attrs = od.parse_attrs({"op_type": op_type, **params}, name or "custom")
    order = od.list_inputs(attrs)
    arrays = list(data)
    for i, a in enumerate(arrays):
        if not isinstance(a, NDArray):
            raise TypeError(f"Custom (op_type={op_type!r}): input {i} must be an NDArray; got "
                            f"{type(a).__name__}")
    if named:
        given = dict(zip(order, arrays))
        unknown = [k for k in named if k not in order]
        if unknown:
            raise MXNetError(f"Custom (op_type={op_type!r}): unknown input(s) {unknown}; "
                             f"inputs are {order}")
        given.update(named)
        arrays = [given.get(n) for n in order]
    if len(arrays) != len(order) or any(a is None for a in arrays):
        raise MXNetError(f"Custom (op_type={op_type!r}): takes inputs {order}; got "
                         f"{len([a for a in arrays if a is not None])}")
    devices = {a._t.device for a in arrays}
    if len(devices) > 1:
        raise MXNetError(f"Custom (op_type={op_type!r}): inputs are on different devices")
    device = arrays[0]._t.device if arrays else torch.device("cpu")
    in_types = [TensorType(tuple(a.shape), DType.parse(a._t.dtype)) for a in arrays]
    comp, n_vis = _compiled(attrs, in_types, device, name)
    res = comp.executable(*[a._t for a in arrays])
    n_args = len(od.list_arguments(attrs))
    for a, new in zip(arrays[n_args:], res[n_vis:]):     # auxiliary states change in place
        a._t.copy_(new)
    ctx = arrays[0].context if arrays else None
    outs = [NDArray(t, ctx) for t in res[:n_vis]]
    if out is not None:
        targets = list(out) if isinstance(out, (list, tuple)) else [out]
        for t, o in zip(targets, outs):
            t[:] = o
        return out
    return outs[0] if len(outs) == 1 else outs
