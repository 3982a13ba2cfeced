"""Dead code elimination: drop ops none of whose outputs reach a graph output.

Graph inputs are kept even when unused (they are the graph's signature: MXNet arguments).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.core import Graph, Rewriter
from .base import Pass, PassContext

__all__ = ["DCE"]


@dataclass
class DCE(Pass):
    name = "dce"

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        live = set(g.outputs)
        keep = set()
        for op in reversed(g.ops):
            if any(v in live for v in op.outputs):
                keep.add(op)
                live.update(op.inputs)
        if len(keep) == len(g.ops):
            return g                # nothing dead (graphs are not mutated: share it)
        rw = Rewriter(g)
        for op in g.ops:
            if op in keep:
                rw.copy(op)
        return rw.finish()
