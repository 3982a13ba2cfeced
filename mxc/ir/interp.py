"""The reference interpreter: evaluates any Graph op by op with each OpDef's ``interp``.

This is the oracle compiled code is tested against; it is not on the execution path.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..base import MXNetError, ShapeError
from .core import Graph

__all__ = ["interp", "interp_op"]


def interp_op(op, xs: Sequence[np.ndarray]) -> tuple:
    od = op.opdef
    if op.body is not None:
        return tuple(interp(op.body, list(xs)))
    if od.interp is None:
        raise MXNetError(f"{od.name} '{op.name}': operator has no reference interpreter")
    outs = od.interp(list(xs), op.attrs)
    if not isinstance(outs, (tuple, list)):
        outs = (outs,)
    res = []
    for v, o in zip(op.outputs, outs):
        o = np.asarray(o)
        if v.type.dtype is not None and v.type.dtype.np_name != "bfloat16":
            o = o.astype(v.type.dtype.numpy, copy=False)
        if v.type.shape_known and o.shape != tuple(v.type.shape):
            raise ShapeError(f"{od.name} '{op.name}': interp produced shape {o.shape}, type says "
                             f"{v.type}")
        res.append(o)
    return tuple(res)


def interp(g: Graph, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Evaluate ``g`` on numpy inputs (a list in ``g.inputs`` order, or a dict by name)."""
    if isinstance(inputs, Mapping):
        missing = [v.name for v in g.inputs if v.name not in inputs]
        if missing:
            raise MXNetError(f"interp @{g.name}: missing inputs {missing}")
        inputs = [inputs[v.name] for v in g.inputs]
    if len(inputs) != len(g.inputs):
        raise MXNetError(f"interp @{g.name}: {len(inputs)} inputs for {len(g.inputs)} parameters")
    env = {}
    for v, x in zip(g.inputs, inputs):
        x = np.asarray(x)
        if v.type.dtype is not None and v.type.dtype.np_name != "bfloat16":
            x = x.astype(v.type.dtype.numpy, copy=False)
        env[v] = x
    for op in g.ops:
        outs = interp_op(op, [env[v] for v in op.inputs])
        for v, o in zip(op.outputs, outs):
            env[v] = o
    return [env[v] for v in g.outputs]
