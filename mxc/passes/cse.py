"""Common subexpression elimination: two ops with the same operator, attrs and inputs compute
the same values, so the later one is replaced by the earlier one.

Ops that draw random numbers in training are never merged; ops with bodies merge only if their
bodies print identically.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.core import Graph, Rewriter
from ..ir.registry import RANDOM
from .base import Pass, PassContext

__all__ = ["CSE"]


@dataclass
class CSE(Pass):
    name = "cse"

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        rw = Rewriter(g)
        seen: dict = {}
        for op in g.ops:
            if RANDOM in op.opdef.traits and op.attrs.get("is_train", True):
                rw.copy(op)
                continue
            key = (op.opname, tuple(sorted((k, repr(v)) for k, v in op.attrs.items())),
                   tuple(id(rw.get(v)) for v in op.inputs),
                   str(op.body) if op.body is not None else None)
            prev = seen.get(key)
            if prev is not None:
                for a, b in zip(op.outputs, prev.outputs):
                    rw.alias(a, b)
                continue
            seen[key] = rw.copy(op)
        return rw.finish()
