"""Decomposition: replace composite operators (FullyConnected, softmax, SoftmaxOutput ...) by the
primitives their OpDef's ``decompose`` builds, recursively, until only primitives remain.

New ops keep the composite's symbol name (so kernels are named after the user's layers); the
composite's outputs keep their value names.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..base import GraphError
from ..ir.core import Builder, Graph, Op, Rewriter, Value
from .base import Pass, PassContext

__all__ = ["Decompose", "expand_op"]


def expand_op(b: Builder, op: Op, depth: int = 0) -> list[Value]:
    """Append the primitives computing ``op`` (whose inputs are already in ``b``'s graph) to
    ``b`` and return its outputs."""
    od = op.opdef
    if od.decompose is None or od.lower is not None:
        new = Op(op.opname, op.inputs, op.attrs, [Value(v.type, v.name) for v in op.outputs],
                 op.name, op.body)
        b.ops.append(new)
        return new.outputs
    if depth > 20:
        raise GraphError(f"{op.opname} '{op.name}': decomposition does not terminate")
    sub = Builder(b.name)
    outs = od.decompose(sub, op)
    if len(outs) != len(op.outputs):
        raise GraphError(f"{op.opname} '{op.name}': decomposition gave {len(outs)} outputs for "
                         f"{len(op.outputs)}")
    m: dict[Value, Value] = {}
    for sop in sub.ops:
        if sop.name is None:
            sop.name = op.name
        ins = [m.get(v, v) for v in sop.inputs]
        if ins != sop.inputs:
            sop = Op(sop.opname, ins, sop.attrs, sop.outputs, sop.name, sop.body)
        res = expand_op(b, sop, depth + 1)
        for o, n in zip(sop.outputs, res):
            m[o] = n
    result = [m.get(v, v) for v in outs]
    for orig, new in zip(op.outputs, result):
        if new.type != orig.type:
            raise GraphError(f"{op.opname} '{op.name}': decomposition gives {new.type} for "
                             f"output {orig.name}, expected {orig.type}")
        if new.name is None:
            new.name = orig.name
    return result


@dataclass
class Decompose(Pass):
    name = "decompose"

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        rw = Rewriter(g)
        for op in g.ops:
            od = op.opdef
            if od.decompose is None or od.lower is not None:
                rw.copy(op)
                continue
            tmp = Op(op.opname, [rw.get(v) for v in op.inputs], op.attrs,
                     [Value(v.type, v.name) for v in op.outputs], op.name, op.body)
            for old, new in zip(op.outputs, expand_op(rw.b, tmp)):
                rw.alias(old, new)
        return rw.finish()
