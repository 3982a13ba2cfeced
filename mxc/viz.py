"""``mx.viz``: print_summary (a table of layers, output shapes and parameter counts) and
plot_network (a graphviz Digraph, when the graphviz package is installed)."""
from __future__ import annotations

import json

from .base import UnsupportedError

__all__ = ["print_summary", "plot_network"]


def print_summary(symbol, shape=None, line_length=120, positions=(.44, .64, .74, 1.)):
    """Print each operator with its output shape, parameter count and inputs (MXNet's
    layout); returns the total number of parameters."""
    shape = shape or {}
    internals = symbol.get_internals()
    _, out_shapes, _ = internals.infer_shape_partial(**shape)
    shape_of = dict(zip(internals.list_outputs(), out_shapes or []))
    arg_shapes, _, aux_shapes = symbol.infer_shape_partial(**shape)
    arg_shape = dict(zip(symbol.list_arguments(), arg_shapes or []))
    arg_shape.update(zip(symbol.list_auxiliary_states(), aux_shapes or []))
    nodes = json.loads(symbol.tojson())["nodes"]
    cols = [int(line_length * p) for p in positions]
    heads = ["Layer (type)", "Output Shape", "Param #", "Previous Layer"]

    def row(fields):
        line = ""
        for i, f in enumerate(fields):
            line += str(f)
            line = line[:cols[i]].ljust(cols[i])
        print(line)

    print("_" * line_length)
    row(heads)
    print("=" * line_length)
    total = 0
    for node in nodes:
        if node["op"] == "null":
            continue
        name = node["name"]
        prev = [nodes[i[0]]["name"] for i in node["inputs"] if nodes[i[0]]["op"] != "null"
                or i[0] == 0]
        params = 0
        for i in node["inputs"]:
            src = nodes[i[0]]
            if src["op"] == "null" and src["name"] in arg_shape and src["name"] not in shape:
                s = arg_shape[src["name"]]
                n = 1
                for d in s:
                    n *= d
                params += n if s else 0
        total += params
        out = shape_of.get(f"{name}_output", "")
        out = "x".join(str(d) for d in out) if out else ""
        row([f"{name}({node['op']})", out, params, ", ".join(prev[:1])])
        for p in prev[1:]:
            row(["", "", "", p])
        print("_" * line_length)
    print(f"Total params: {total}")
    print("_" * line_length)
    return total


def plot_network(symbol, title="plot", save_format="pdf", shape=None, dtype=None,
                 node_attrs=None, hide_weights=True):
    try:
        from graphviz import Digraph
    except ImportError:
        raise UnsupportedError("plot_network needs the graphviz Python package "
                               "(pip install graphviz); print_summary works without it") from None
    dot = Digraph(name=title, format=save_format)
    nodes = json.loads(symbol.tojson())["nodes"]
    for i, n in enumerate(nodes):
        if n["op"] == "null" and hide_weights and i not in (0,) and \
                n["name"].endswith(("_weight", "_bias", "_gamma", "_beta", "_moving_mean",
                                    "_moving_var")):
            continue
        dot.node(str(i), f"{n['name']}\n{n['op']}" if n["op"] != "null" else n["name"],
                 **(node_attrs or {}))
        for j in n["inputs"]:
            dot.edge(str(j[0]), str(i))
    return dot
