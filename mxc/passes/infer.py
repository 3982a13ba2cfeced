"""Shape and dtype inference: every op's rules to a fixed point, partial types allowed.

Rules are bidirectional where MXNet's are (FullyConnected fills its weight's shape from the
data's), so a pass over the ops can refine graph inputs; the pass repeats until nothing changes.
Conflicts raise ShapeError / DTypeError naming the operator, the symbol and both shapes.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..base import DTypeError, MXNetError, ShapeError
from ..ir.core import Graph, Op, Value, infer_op_types
from ..ir.types import TensorType, shape_str
from .base import Pass, PassContext

__all__ = ["InferTypes", "merge_types"]


def merge_types(a: TensorType, b: TensorType, where: str) -> TensorType:
    """The most specific type compatible with both, or an error naming both."""
    if a == b:
        return a
    if a.dtype is not None and b.dtype is not None and a.dtype != b.dtype:
        raise DTypeError(f"{where}: dtype {a.dtype.np_name} conflicts with {b.dtype.np_name}")
    dt = a.dtype if a.dtype is not None else b.dtype
    if a.shape is None:
        shape = b.shape
    elif b.shape is None:
        shape = a.shape
    else:
        if len(a.shape) != len(b.shape):
            raise ShapeError(f"{where}: shape ({shape_str(a.shape)}) conflicts with "
                             f"({shape_str(b.shape)})")
        dims = []
        for x, y in zip(a.shape, b.shape):
            if x is not None and y is not None and x != y:
                raise ShapeError(f"{where}: shape ({shape_str(a.shape)}) conflicts with "
                                 f"({shape_str(b.shape)})")
            dims.append(x if x is not None else y)
        shape = tuple(dims)
    return TensorType(shape, dt)


@dataclass
class InferTypes(Pass):
    """Complete every type the rules can decide; ``require_complete`` fails on what is left."""

    name = "infer"
    require_complete: bool = False
    max_rounds: int = 20

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        return self.run_with_map(g, {})

    def run_with_map(self, g: Graph, mapping: dict, start: dict | None = None,
                     unsettled=None) -> Graph:
        """A worklist over the ops: the first sweep is in program order, then an op runs
        again only when a type it reads or writes changed (types only ever get more
        specific, so this reaches the same fixed point as sweeping every op until nothing
        changes, without rerunning the unaffected ones: an unrolled network whose begin
        states learn their batch size from downstream used to take three full sweeps).

        ``start`` gives types to begin from in place of some Values' own. ``unsettled``
        (ops, for a graph whose builder ran every op's rules) limits the first sweep to the
        ops whose rules left a type open or refined an input: the others can change only
        when a neighbour does, which queues them."""
        types: dict[Value, TensorType] = {v: v.type for v in g.values()}
        if start:                   # types to begin from in place of some Values' own
            types.update(start)
        users: dict[Value, list] = {}
        for op in g.ops:
            for v in op.inputs:
                users.setdefault(v, []).append(op)
        first = g.ops if unsettled is None else [op for op in g.ops if op in unsettled]
        work = deque(first)
        queued = set(first)
        budget = self.max_rounds * max(len(g.ops), 1)
        while work and budget > 0:
            budget -= 1
            op = work.popleft()
            queued.discard(op)
            for v in self._step(op, types):
                for o in users.get(v, []) + ([v.op] if v.op is not None else []):
                    if o is not op and o not in queued:
                        queued.add(o)
                        work.append(o)
        if self.require_complete:
            for v, t in types.items():
                if not t.known:
                    who = f"{v.op.opname} '{v.op.name}'" if v.op else f"input '{v.name}'"
                    raise ShapeError(f"{who}: type {t} could not be inferred; give the shapes "
                                     "of the inputs it depends on")
        return _retype(g, types, mapping)

    @staticmethod
    def _step(op: Op, types) -> list:
        """Run ``op``'s rules; the values whose types they refined."""
        ins = [types[v] for v in op.inputs]
        try:
            new_in, new_out = infer_op_types(op.opdef, op.attrs, op.name, ins, op.body,
                                             out_types=[types[v] for v in op.outputs])
        except MXNetError:
            raise
        changed = []
        where = None
        for vals, new, what in ((op.inputs, new_in, "input"), (op.outputs, new_out, "output")):
            for v, t in zip(vals, new):
                old = types[v]
                if t == old:
                    continue
                if where is None:
                    where = f"{op.opname} '{op.name}'"
                m = merge_types(old, t, f"{where}: {what} %{v.name}")
                if m != old:
                    types[v] = m
                    changed.append(v)
        return changed


def _retype(g: Graph, types, mapping: dict) -> Graph:
    """A copy of ``g`` whose Values carry ``types``; ``mapping`` receives old -> new."""
    for v in g.inputs:
        mapping[v] = Value(types[v], v.name)
    ops = []
    for op in g.ops:
        outs = [Value(types[v], v.name) for v in op.outputs]
        for o, n in zip(op.outputs, outs):
            mapping[o] = n
        attrs = op.attrs
        refine = op.opdef.extra.get("refine_attrs")
        if refine is not None:       # attrs that name an inferred shape (zeros((0, H)))
            attrs = refine(attrs, [types[v] for v in op.outputs])
        ops.append(Op(op.opname, [mapping[v] for v in op.inputs], attrs, outs, op.name,
                      op.body))
    return Graph(g.name, [mapping[v] for v in g.inputs], ops, [mapping[v] for v in g.outputs],
                 g.attrs)
