"""IR text form. ``parse(print_graph(g))`` prints identically (see ``mxc.ir.parser``).

::

    graph @mlp(%data: f32[64,784], %fc1_weight: f32[128,784], %fc1_bias: f32[128]) {
      %fc1 = FullyConnected(%data, %fc1_weight, %fc1_bias) {num_hidden=128} : f32[64,128]
      %relu1 = Activation(%fc1) {act_type="relu"} : f32[64,128]
      return %relu1
    }

Graph attributes (``mxc.ir.core.GRAPH_ATTRS``) print after the inputs:
``graph @train(...) attributes {forward_outputs=1} {``.

Values print as their name hint (the MXNet symbol name), made unique with ``_1``, ``_2`` ...;
values without a hint print as ``%0``, ``%1`` .... Attributes equal to their default are omitted.
An op with a body (``fused``) prints the nested graph in braces after its type.
"""
from __future__ import annotations

import re

from .attrs import REQUIRED, fmt_ir_value
from .registry import get_op

__all__ = ["print_graph", "Namer", "fmt_name"]

_BARE = re.compile(r"^[A-Za-z0-9_.$-]+$")


def fmt_name(n: str) -> str:
    if _BARE.match(n):
        return n
    return '"' + n.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Namer:
    """Assigns unique printed names to Values, stable for a given graph."""

    def __init__(self):
        self.names: dict = {}
        self.used: set[str] = set()
        self.counter = 0

    def name(self, v) -> str:
        n = self.names.get(v)
        if n is not None:
            return n
        hint = v.name
        if hint:
            n = hint
            k = 1
            while n in self.used:
                n = f"{hint}_{k}"
                k += 1
        else:
            while str(self.counter) in self.used:
                self.counter += 1
            n = str(self.counter)
            self.counter += 1
        self.used.add(n)
        self.names[v] = n
        return n

    def ref(self, v) -> str:
        n = self.names.get(v)
        if n is None:
            return f"%<undefined {v.name or hex(id(v))}>"
        return "%" + fmt_name(n)


def fmt_attrs(opname: str, attrs: dict) -> str:
    try:
        schema = get_op(opname).attrs
    except Exception:
        schema = ()
    defaults = {a.name: a.default for a in schema}
    order = [a.name for a in schema] + sorted(k for k in attrs if k not in defaults)
    parts = []
    for k in order:
        if k not in attrs:
            continue
        v = attrs[k]
        d = defaults.get(k, REQUIRED)
        if d is not REQUIRED and _eq(v, d):
            continue
        parts.append(f"{k}={fmt_ir_value(v)}")
    return "{" + ", ".join(parts) + "}" if parts else ""


def _eq(a, b):
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    return a == b


def print_graph(g, indent: int = 0, highlight=None, namer: Namer | None = None) -> str:
    """The graph's text; ``highlight`` (an Op) is marked with ``>>`` for error windows."""
    lines: list[str] = []
    _print(g, indent, namer or Namer(), lines, highlight)
    return "\n".join(lines) + ("\n" if indent == 0 else "")


def _print(g, indent, namer, lines, highlight):
    pad = "  " * indent
    args = ", ".join(f"%{fmt_name(namer.name(v))}: {v.type}" for v in g.inputs)
    head = ""
    if g.attrs:
        head = " attributes {" + ", ".join(f"{k}={fmt_ir_value(v)}"
                                            for k, v in sorted(g.attrs.items())) + "}"
    lines.append(f"{pad}graph @{fmt_name(g.name)}({args}){head} {{")
    for op in g.ops:
        # inputs are printed before outputs are named, so an op can't appear to read itself
        ins = ", ".join(namer.ref(v) for v in op.inputs)
        outs = ", ".join("%" + fmt_name(namer.name(v)) for v in op.outputs)
        attrs = fmt_attrs(op.opname, op.attrs)
        types = ", ".join(str(v.type) for v in op.outputs)
        mark = ">>" if op is highlight else "  "
        head = f"{outs} = " if op.outputs else ""
        text = f"{pad}{mark}{head}{op.opname}({ins})" + (f" {attrs}" if attrs else "") + \
            (f" : {types}" if op.outputs else "")
        if op.body is not None:
            lines.append(text + " {")
            _print(op.body, indent + 2, Namer(), lines, highlight)
            lines.append(f"{pad}  }}")
        else:
            lines.append(text)
    rets = ", ".join(namer.ref(v) for v in g.outputs)
    lines.append(f"{pad}  return {rets}")
    lines.append(f"{pad}}}")
