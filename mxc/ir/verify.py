"""IR invariants. ``verify(g)`` raises VerifyError with a window of IR around the bad op.

The invariants, checked in one walk:

1. every Value is defined exactly once: as a graph input or as one op's output;
2. every op input is defined before the op (graph inputs, then earlier ops, in order);
3. output back-pointers agree (``v.op is op`` and ``v.index`` is its position);
4. the operator is registered, its attrs are exactly what its schema parses them to, and it has
   the number of inputs and outputs its OpDef lists;
5. when every input type is complete, the output types equal what the op's rules give;
6. graph outputs are defined;
7. a nested body verifies on its own and its signature matches the op's inputs and outputs;
8. graph attributes are ones ``GRAPH_ATTRS`` lists and point at inputs and outputs that exist.
"""
from __future__ import annotations

from ..base import MXNetError, VerifyError
from .core import GRAPH_ATTRS, Graph, infer_op_types
from .printer import print_graph
from .registry import get_op

__all__ = ["verify"]


def _fail(g: Graph, op, msg: str):
    text = print_graph(g, highlight=op)
    lines = text.splitlines()
    idx = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith(">>")), None)
    if idx is None:
        window = lines[:12]
    else:
        window = lines[max(0, idx - 5): idx + 6]
    where = f"{op.opname} '{op.name}': " if op is not None else ""
    raise VerifyError(f"verify @{g.name}: {where}{msg}\n" + "\n".join(window))


def verify(g: Graph, check_types: bool = True) -> Graph:
    """Check the invariants above; return ``g`` so it chains."""
    defined: set = set()
    for v in g.inputs:
        if v in defined:
            _fail(g, None, f"graph input %{v.name} listed twice")
        if v.op is not None:
            _fail(g, None, f"graph input %{v.name} is also an output of {v.op.opname}")
        defined.add(v)
    for op in g.ops:
        try:
            od = get_op(op.opname)
        except MXNetError as e:
            _fail(g, op, str(e))
        for i, v in enumerate(op.inputs):
            if v not in defined:
                _fail(g, op, f"input {i} (%{v.name}) is used before it is defined")
        for i, v in enumerate(op.outputs):
            if v in defined:
                _fail(g, op, f"output {i} (%{v.name}) is defined twice")
            if v.op is not op or v.index != i:
                _fail(g, op, f"output {i} (%{v.name}) points at the wrong op")
            defined.add(v)
        try:
            reparsed = od.parse_attrs(op.attrs, op.name)
        except MXNetError as e:
            _fail(g, op, f"invalid attrs: {e}")
        if reparsed != op.attrs:
            _fail(g, op, f"attrs {op.attrs} are not in canonical form {reparsed}")
        if op.opname != od.name:
            _fail(g, op, f"op uses alias {op.opname!r}; graphs hold canonical names ({od.name})")
        n_in = len(od.list_inputs(op.attrs))
        if od.name != "fused" and len(op.inputs) != n_in:
            _fail(g, op, f"has {len(op.inputs)} inputs; the operator takes {n_in} "
                         f"({', '.join(od.list_inputs(op.attrs))})")
        if len(op.outputs) != od.num_outputs(op.attrs):
            _fail(g, op, f"has {len(op.outputs)} outputs; the operator gives "
                         f"{od.num_outputs(op.attrs)}")
        if op.body is not None:
            try:
                verify(op.body, check_types)
            except VerifyError as e:
                _fail(g, op, f"body does not verify:\n{e}")
            sig_in = [v.type for v in op.body.inputs]
            sig_out = [v.type for v in op.body.outputs]
            if sig_in != [v.type for v in op.inputs] or sig_out != [v.type for v in op.outputs]:
                _fail(g, op, "body signature does not match the op's inputs/outputs")
        if check_types and all(v.type.known for v in op.inputs):
            try:
                _, outs = infer_op_types(od, op.attrs, op.name, [v.type for v in op.inputs],
                                         op.body)
            except MXNetError as e:
                _fail(g, op, f"type rules fail: {e}")
            for i, (v, t) in enumerate(zip(op.outputs, outs)):
                if v.type != t:
                    _fail(g, op, f"output {i} has type {v.type}; the rules give {t}")
    for i, v in enumerate(g.outputs):
        if v not in defined:
            _fail(g, None, f"graph output {i} (%{v.name}) is not defined")
    if g.attrs:
        _check_graph_attrs(g)
    return g


def _check_graph_attrs(g: Graph):
    a = g.attrs
    for k in a:
        if k not in GRAPH_ATTRS:
            _fail(g, None, f"unknown graph attribute {k!r}; graphs carry {sorted(GRAPH_ATTRS)}")
    n_out = len(g.outputs)
    fwd = a.get("forward_outputs")
    if fwd is not None and not (isinstance(fwd, int) and 0 <= fwd <= n_out):
        _fail(g, None, f"forward_outputs={fwd!r} for a graph of {n_out} outputs")
    names = {v.name for v in g.inputs}
    for item in a.get("head_grads", ()):
        if (not isinstance(item, tuple) or len(item) != 2 or item[0] not in names
                or not isinstance(item[1], int) or not 0 <= item[1] < n_out):
            _fail(g, None, f"head_grads entry {item!r}: expected (an input's name, an output "
                           f"index below {n_out})")
    for item in a.get("pins", ()):
        if (not isinstance(item, tuple) or len(item) != 5 or not isinstance(item[0], int)
                or not 0 <= item[0] < n_out):
            _fail(g, None, f"pins entry {item!r}: expected (output index below {n_out}, op, "
                           "index, kind, label)")
