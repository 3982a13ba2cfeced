"""Pins: values the compiler must keep materialized and hand back, whatever fusion decides.

A debugger that watches intermediate results (MXNet's ``Monitor``, an executor's monitor
callback) needs values that fusion would otherwise compute inside a kernel and never store.
``compile_graph(..., pins=[...])`` takes them as :class:`Pin` records, named the way the
imported graph names them (the op's name, which is the MXNet symbol name, and an index):

- ``Pin("fc1", 0)``: output 0 of the op named ``fc1`` (the forward value);
- ``Pin("fc1", 1, kind="grad")``: the gradient that ``fc1``'s vjp gives its input 1 (its own
  contribution, before contributions from other readers are summed; differentiated graphs
  only, and only for ops that take part in the gradient).

A pinned value becomes an extra output of the graph (forward pins after the graph's own
outputs, gradient pins after the gradients), so every pass keeps it and the caller gets it in
its own buffer. Fusion treats it like any output: the kernel that computes it also stores it,
and the rest of that kernel is fused as before. The graph's ``pins`` attribute lists each
granted pin with its output index (the fuse pass reports them as ``pin`` remarks); the pins
are part of the compile-cache key. ``Compiled.pins`` maps each granted pin to its output index.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..base import GraphError
from ..ir.core import Graph

__all__ = ["Pin", "append_pins", "graph_pins"]

KINDS = ("out", "grad")


@dataclass(frozen=True, order=True)
class Pin:
    """One value to keep: output ``index`` of op ``op`` (``kind="out"``), or the gradient
    op ``op`` gives its input ``index`` (``kind="grad"``). ``label`` names who asked for it
    (``"monitor fc1_output"``) in remarks."""

    op: str
    index: int = 0
    kind: str = "out"
    label: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise GraphError(f"pin {self.op!r}: kind {self.kind!r}; expected one of {KINDS}")
        if not isinstance(self.index, int) or self.index < 0:
            raise GraphError(f"pin {self.op!r}: index {self.index!r} is not a non-negative int")

    def record(self) -> tuple:
        """``(op, index, kind, label)``: the pin in a ``pins`` graph attribute entry, after
        its output index."""
        return (self.op, self.index, self.kind, self.label)

    def describe(self) -> str:
        return self.label or (f"{self.op}:{self.index}" if self.kind == "out"
                              else f"{self.op}:grad{self.index}")


def append_pins(g: Graph, pins) -> tuple[Graph, dict]:
    """``g`` with the values of the forward pins appended to its outputs, and
    ``{pin: output index}``. A value that already is an output keeps its index (no copy)."""
    by_name: dict = {}
    for op in g.ops:
        if op.name is not None:
            by_name.setdefault(op.name, op)
    outs = list(g.outputs)
    where = {}
    for i, v in enumerate(outs):
        where.setdefault(v, i)
    result = {}
    for p in pins:
        if p.kind != "out":
            continue
        op = by_name.get(p.op)
        if op is None:
            raise GraphError(f"pin {p.describe()}: no op named {p.op!r} in @{g.name}")
        if p.index >= len(op.outputs):
            raise GraphError(f"pin {p.describe()}: {op.opname} '{op.name}' has "
                             f"{len(op.outputs)} output(s); asked for output {p.index}")
        v = op.outputs[p.index]
        if v not in where:
            where[v] = len(outs)
            outs.append(v)
        result[p] = where[v]
    if not result:
        return g, result
    entries = tuple(g.attrs.get("pins", ())) + tuple((i,) + p.record()
                                                    for p, i in sorted(result.items()))
    return Graph(g.name, g.inputs, g.ops, outs, {**g.attrs, "pins": entries}), result


def graph_pins(attrs: dict) -> dict:
    """``{Pin: output index}`` from a graph's attributes (its ``pins`` entries)."""
    return {Pin(op, index, kind, label): i for i, op, index, kind, label in attrs.get("pins", ())}
