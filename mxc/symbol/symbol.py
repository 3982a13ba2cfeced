"""``mx.sym.Symbol``: MXNet 1.x's symbolic graph, kept as MXNet keeps it.

A Symbol is a list of output entries ``(node, index)`` over a DAG of nodes; a node is a variable
(``op is None``) or an operator with MXNet's string attributes. Keeping MXNet's representation
makes JSON load/save exact; everything that computes converts the Symbol to the IR first
(:func:`mxc.symbol.convert.to_graph`) and goes down the compiler's one path.
"""
from __future__ import annotations

import json
import os
from typing import Iterable

import numpy as np

from ..base import GraphError, MXNetError, UnsupportedError, atomic_write
from ..ir.registry import canonical_name, get_op
from ..ir.types import DType
from .naming import HIDDEN_KEYS, AttrScope, NameManager, store_key

__all__ = ["Symbol", "Variable", "var", "Group", "load", "load_json", "MXNET_VERSION"]

MXNET_VERSION = 10901


class _Node:
    """One node of the symbol graph. Treated as immutable once its symbol is returned."""

    __slots__ = ("op", "name", "attrs", "inputs", "_parsed")

    def __init__(self, op: str | None, name: str, attrs: dict | None = None,
                 inputs: list | None = None):
        self.op = op                    # canonical MXNet operator name, None for a variable
        self.name = name
        self.attrs = dict(attrs or {})  # MXNet's strings: op params and __annotations__
        self.inputs = list(inputs or [])  # [(node, output index)]
        self._parsed = None

    @property
    def is_var(self) -> bool:
        return self.op is None

    @property
    def opdef(self):
        return get_op(self.op, self.name)

    def params(self) -> dict:
        """Typed operator attributes (parsed and validated once)."""
        if self._parsed is None:
            self._parsed = self.opdef.parse_attrs(self.op_params(), self.name)
        return self._parsed

    def op_params(self) -> dict:
        return {k: v for k, v in self.attrs.items() if not (k.startswith("__") and k.endswith("__"))}

    def num_outputs(self) -> int:
        return 1 if self.is_var else self.opdef.num_outputs(self.params())

    def num_visible(self) -> int:
        return 1 if self.is_var else self.opdef.num_visible(self.params())

    def output_names(self) -> list[str]:
        if self.is_var:
            return [self.name]
        return [f"{self.name}_{o}" for o in self.opdef.list_outputs(self.params())]

    def aux_slots(self) -> set[int]:
        """Input positions that are auxiliary states (BatchNorm's moving mean/var)."""
        if self.is_var:
            return set()
        p = self.params()
        n_args = len(self.opdef.list_arguments(p))
        return set(range(n_args, n_args + len(self.opdef.list_aux(p))))

    def __repr__(self):
        return f"<node {self.op or 'null'} {self.name}>"


def _topo(heads: Iterable[_Node]) -> list[_Node]:
    """Post-order DFS from the heads, inputs in order (nnvm's DFSVisit): MXNet's node order."""
    order, seen = [], set()
    for h in heads:
        if id(h) in seen:
            continue
        stack = [(h, 0)]
        seen.add(id(h))
        while stack:
            node, i = stack[-1]
            if i < len(node.inputs):
                stack[-1] = (node, i + 1)
                child = node.inputs[i][0]
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, 0))
            else:
                stack.pop()
                order.append(node)
    return order


class Symbol:
    """A symbolic graph with MXNet 1.x's API (list_arguments, infer_shape, tojson, ...)."""

    __slots__ = ("_outputs", "__weakref__")

    def __init__(self, outputs: list):
        self._outputs = list(outputs)

    # -- structure ------------------------------------------------------------------------------
    def _nodes(self) -> list[_Node]:
        return _topo(n for n, _ in self._outputs)

    def _aux_var_ids(self, nodes=None) -> set[int]:
        aux = set()
        for node in nodes or self._nodes():
            for slot in node.aux_slots():
                if slot < len(node.inputs):
                    src = node.inputs[slot][0]
                    if src.is_var:
                        aux.add(id(src))
        return aux

    @property
    def name(self) -> str | None:
        """The node's name when every output comes from one node (a multi-output op too);
        None for a group of different nodes."""
        nodes = {id(n) for n, _ in self._outputs}
        if len(nodes) != 1:
            return None
        return self._outputs[0][0].name

    def list_outputs(self) -> list[str]:
        return [n.output_names()[i] for n, i in self._outputs]

    def list_arguments(self) -> list[str]:
        nodes = self._nodes()
        aux = self._aux_var_ids(nodes)
        return [n.name for n in nodes if n.is_var and id(n) not in aux]

    def list_auxiliary_states(self) -> list[str]:
        nodes = self._nodes()
        aux = self._aux_var_ids(nodes)
        return [n.name for n in nodes if n.is_var and id(n) in aux]

    def list_inputs(self) -> list[str]:
        return [n.name for n in self._nodes() if n.is_var]

    def get_internals(self) -> "Symbol":
        outs = []
        for n in self._nodes():
            outs += [(n, i) for i in range(n.num_visible())]
        return Symbol(outs)

    def get_children(self) -> "Symbol | None":
        """The inputs of the head node(s), in order (a group lists each head's inputs)."""
        outs = []
        for node, _ in self._outputs:
            outs += list(node.inputs)
        return Symbol(outs) if outs else None

    def __len__(self):
        return len(self._outputs)

    def __iter__(self):
        return (Symbol([o]) for o in self._outputs)

    def __getitem__(self, index) -> "Symbol":
        if isinstance(index, str):
            names = self.list_outputs()
            hits = [i for i, n in enumerate(names) if n == index]
            if not hits:
                raise ValueError(f"There are no outputs named {index!r}; outputs are {names}")
            if len(hits) > 1:
                raise ValueError(f"There are multiple outputs named {index!r}")
            index = hits[0]
        if isinstance(index, slice):
            return Symbol(self._outputs[index])
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"Symbol index must be an int or an output name; got {index!r}")
        if not -len(self._outputs) <= index < len(self._outputs):
            raise IndexError(f"Symbol index {index} out of range for {len(self._outputs)} "
                             "outputs")
        return Symbol([self._outputs[index]])

    # -- attributes -------------------------------------------------------------------------------
    def _head(self) -> _Node:
        if len(self._outputs) != 1:
            raise MXNetError("this operation needs a single-output symbol; "
                             f"this one has {len(self._outputs)} outputs")
        return self._outputs[0][0]

    def attr(self, key: str) -> str | None:
        node = self._head()
        return node.attrs.get(store_key(key), node.attrs.get(key))

    def list_attr(self, recursive: bool = False) -> dict:
        if recursive:
            raise MXNetError("list_attr(recursive=True) was removed from MXNet; use attr_dict()")
        return _listed(self._outputs[0][0].attrs)     # a group: its first output's

    def attr_dict(self) -> dict:
        out = {}
        for n in self._nodes():
            if n.attrs:
                out[n.name] = _listed(n.attrs)
        return out

    def _set_attr(self, **kwargs):
        node = self._head()
        for k, v in kwargs.items():
            if not isinstance(v, str):
                raise ValueError(f"Set Attr only accepts string values; {k}={v!r}")
            node.attrs[store_key(k)] = v
        node._parsed = None

    # -- composition ---------------------------------------------------------------------------
    def __call__(self, *args, **kwargs) -> "Symbol":
        s = self.__copy__()
        s._compose(*args, **kwargs)
        return s

    def _compose(self, *args, name=None, **kwargs):
        if args and kwargs:
            raise TypeError("compose only accepts input Symbols either as positional or "
                            "keyword arguments, not both")
        for a in list(args) + list(kwargs.values()):
            if not isinstance(a, Symbol):
                raise TypeError(f"compose expects Symbol inputs; got {type(a).__name__}")
        nodes = self._nodes()
        variables = [n for n in nodes if n.is_var]
        repl: dict[int, tuple] = {}
        if args:
            argnames = self.list_arguments()
            if len(args) > len(argnames):
                raise TypeError(f"compose: {len(args)} inputs for {len(argnames)} arguments")
            byname = {n.name: n for n in variables}
            for a, nm in zip(args, argnames):
                repl[id(byname[nm])] = a._single_entry()
        else:
            for n in variables:
                if n.name in kwargs:
                    repl[id(n)] = kwargs[n.name]._single_entry()
        for n in nodes:
            n.inputs = [repl.get(id(src), (src, i)) if src.is_var else (src, i)
                        for src, i in n.inputs]
        self._outputs = [repl.get(id(n), (n, i)) if n.is_var else (n, i)
                         for n, i in self._outputs]
        if name is not None and len(self._outputs) == 1 and not self._outputs[0][0].is_var:
            self._outputs[0][0].name = name

    def _single_entry(self):
        if len(self._outputs) != 1:
            raise MXNetError(f"expected a single-output symbol; got {len(self._outputs)} outputs "
                             f"({', '.join(self.list_outputs())})")
        return self._outputs[0]

    def __copy__(self) -> "Symbol":
        nodes = self._nodes()
        m = {}
        for n in nodes:
            c = _Node(n.op, n.name, n.attrs, [(m[id(s)], i) for s, i in n.inputs])
            m[id(n)] = c
        return Symbol([(m[id(n)], i) for n, i in self._outputs])

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __getstate__(self):
        return {"json": self.tojson()}

    def __setstate__(self, state):
        self._outputs = load_json(state["json"])._outputs

    # -- inference -------------------------------------------------------------------------------
    def _infer(self, what: str, args, kwargs, partial: bool):
        from .convert import infer_symbol
        return infer_symbol(self, what, args, kwargs, partial)

    def infer_shape(self, *args, **kwargs):
        """(arg_shapes, out_shapes, aux_shapes); (None, None, None) if not fully inferable."""
        return self._infer("shape", args, kwargs, partial=False)

    def infer_shape_partial(self, *args, **kwargs):
        """Like infer_shape; unknown shapes are () and unknown dims 0, as MXNet reports them."""
        return self._infer("shape", args, kwargs, partial=True)

    def infer_type(self, *args, **kwargs):
        """(arg_types, out_types, aux_types) as numpy types; None entries if unknown."""
        return self._infer("dtype", args, kwargs, partial=False)

    def infer_type_partial(self, *args, **kwargs):
        return self._infer("dtype", args, kwargs, partial=True)

    # -- serialization ---------------------------------------------------------------------------
    def tojson(self) -> str:
        nodes = self._nodes()
        index = {id(n): i for i, n in enumerate(nodes)}
        jn = []
        row = [0]
        for n in nodes:
            d = {"op": n.op or "null", "name": n.name}
            if n.attrs:
                d["attrs"] = dict(n.attrs)
            d["inputs"] = [[index[id(s)], i, 0] for s, i in n.inputs]
            jn.append(d)
            row.append(row[-1] + n.num_outputs())
        doc = {
            "nodes": jn,
            "arg_nodes": [i for i, n in enumerate(nodes) if n.is_var],
            "node_row_ptr": row,
            "heads": [[index[id(n)], i, 0] for n, i in self._outputs],
            "attrs": {"mxnet_version": ["int", MXNET_VERSION]},
        }
        return json.dumps(doc, indent=2)

    def save(self, fname: str, remove_amp_cast: bool = True):
        """Write the JSON to ``fname`` (via a temporary file, renamed on success)."""
        if not isinstance(fname, (str, os.PathLike)):
            raise TypeError("fname must be a string")
        with atomic_write(fname, "w") as f:
            f.write(self.tojson())

    def debug_str(self) -> str:
        from .convert import to_graph
        return str(to_graph(self))

    def __repr__(self):
        if self.name is not None:
            return f"<Symbol {self.name}>"
        return f"<Symbol group [{', '.join(n.name for n, _ in self._outputs)}]>"

    def __hash__(self):
        return id(self)

    # -- binding (runtime) ---------------------------------------------------------------------------
    def simple_bind(self, ctx=None, grad_req="write", type_dict=None, stype_dict=None,
                    group2ctx=None, shared_arg_names=None, shared_exec=None, shared_buffer=None,
                    **kwargs):
        from runtime.executor import simple_bind
        return simple_bind(self, ctx, grad_req=grad_req, type_dict=type_dict,
                           group2ctx=group2ctx, shared_exec=shared_exec, **kwargs)

    def bind(self, ctx, args, args_grad=None, grad_req="write", aux_states=None,
             group2ctx=None, shared_exec=None):
        from runtime.executor import bind
        return bind(self, ctx, args, args_grad=args_grad, grad_req=grad_req,
                    aux_states=aux_states, group2ctx=group2ctx, shared_exec=shared_exec)

    def eval(self, ctx=None, **kwargs):
        exe = self.bind(ctx, kwargs)
        return exe.forward()

    # -- Python operators (MXNet's op names, so automatic names match: _plus0, _mulscalar0) ----
    def _bin(self, other, sym_op, scalar_op):
        from . import ops
        if isinstance(other, Symbol):
            return ops.invoke(sym_op, [self, other], {})
        if isinstance(other, (int, float, np.number, bool)):
            return ops.invoke(scalar_op, [self], {"scalar": other})
        return NotImplemented

    def _rbin(self, other, scalar_op):
        from . import ops
        if isinstance(other, (int, float, np.number, bool)):
            return ops.invoke(scalar_op, [self], {"scalar": other})
        return NotImplemented

    def __add__(self, o):
        return self._bin(o, "_Plus", "_PlusScalar")

    def __radd__(self, o):
        return self._rbin(o, "_PlusScalar")

    def __sub__(self, o):
        return self._bin(o, "_Minus", "_MinusScalar")

    def __rsub__(self, o):
        return self._rbin(o, "_RMinusScalar")

    def __mul__(self, o):
        return self._bin(o, "_Mul", "_MulScalar")

    def __rmul__(self, o):
        return self._rbin(o, "_MulScalar")

    def __truediv__(self, o):
        return self._bin(o, "_Div", "_DivScalar")

    def __rtruediv__(self, o):
        return self._rbin(o, "_RDivScalar")

    __div__ = __truediv__
    __rdiv__ = __rtruediv__

    def __mod__(self, o):
        return self._bin(o, "_Mod", "_ModScalar")

    def __rmod__(self, o):
        return self._rbin(o, "_RModScalar")

    def __pow__(self, o):
        return self._bin(o, "_Power", "_PowerScalar")

    def __rpow__(self, o):
        return self._rbin(o, "_rpower_scalar")      # MXNet names it _rpower_scalar0

    def __neg__(self):
        return self.__mul__(-1.0)

    def __abs__(self):
        from . import ops
        return ops.invoke("abs", [self], {})

    def __eq__(self, o):
        return self._bin(o, "_equal", "_equal_scalar")

    def __ne__(self, o):
        return self._bin(o, "_not_equal", "_not_equal_scalar")

    def __gt__(self, o):
        return self._bin(o, "_greater", "_greater_scalar")

    def __ge__(self, o):
        return self._bin(o, "_greater_equal", "_greater_equal_scalar")

    def __lt__(self, o):
        return self._bin(o, "_lesser", "_lesser_scalar")

    def __le__(self, o):
        return self._bin(o, "_lesser_equal", "_lesser_equal_scalar")

    def __bool__(self):
        raise MXNetError("the truth value of a Symbol is undefined; compare values after "
                         "binding and running the graph")

    # -- fluent methods (x.reshape(...), x.sum(...)): the same op functions --------------------
    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        from . import ops
        fn = ops.fluent(item)
        if fn is None:
            raise AttributeError(f"'Symbol' object has no attribute {item!r}")
        return lambda *a, **k: fn(self, *a, **k)


def _listed(attrs: dict) -> dict:
    """Attributes as MXNet lists them: hidden keys also appear without underscores."""
    out = {}
    for k, v in attrs.items():
        out[k] = v
        if k.startswith("__") and k.endswith("__") and k[2:-2] in HIDDEN_KEYS:
            out[k[2:-2]] = v
    return out


# -- creation ---------------------------------------------------------------------------------------
def Variable(name: str, attr: dict | None = None, shape=None, lr_mult=None, wd_mult=None,
             dtype=None, init=None, stype=None, **kwargs) -> Symbol:
    """A free input of the graph (data, label or parameter), with MXNet's annotations."""
    if not isinstance(name, str):
        raise TypeError("Expect a string for variable `name`")
    attrs = {}
    for k, v in AttrScope.current().get(attr).items():
        attrs[store_key(k)] = v
    if shape is not None:
        attrs["__shape__"] = str(tuple(shape) if not isinstance(shape, int) else (shape,))
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(lr_mult)
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(wd_mult)
    if dtype is not None:
        attrs["__dtype__"] = str(DType.parse(dtype).flag)
    if init is not None:
        if not isinstance(init, str):
            init = init.dumps()
        attrs["__init__"] = init
    if stype is not None and stype != "default":
        raise UnsupportedError(f"Variable '{name}': stype={stype!r}; mxc does not support "
                               "sparse storage yet")
    for k, v in kwargs.items():
        if k.startswith("__") and k.endswith("__"):
            attrs[k] = str(v)
        else:
            raise ValueError(f"Variable '{name}': attribute {k} must be of the form __{k}__")
    return Symbol([(_Node(None, name, attrs), 0)])


var = Variable


def Group(symbols) -> Symbol:
    """One symbol whose outputs are the outputs of ``symbols``, in order."""
    symbols = list(symbols)
    if not symbols or not all(isinstance(s, Symbol) for s in symbols):
        raise TypeError("Expected a list of symbols as input")
    outs = []
    for s in symbols:
        outs += s._outputs
    return Symbol(outs)


def _upgrade_legacy(node: _Node):
    """What MXNet does to symbol files written before 0.9 when it loads them: per-argument
    ``<arg>_lr_mult``/``<arg>_wd_mult`` move onto that argument's variable, and inputs the
    operator later gained (BatchNorm's moving mean/var) become new variables."""
    od = node.opdef
    params = od.parse_attrs({k: v for k, v in node.attrs.items() if k in
                             {a.name for a in od.attrs}}, node.name)
    names = od.list_inputs(params)
    for k in list(node.attrs):
        for suffix in ("lr_mult", "wd_mult"):
            if k.endswith("_" + suffix) and k[: -len(suffix) - 1] in names:
                pos = names.index(k[: -len(suffix) - 1])
                if pos < len(node.inputs) and node.inputs[pos][0].is_var:
                    node.inputs[pos][0].attrs[f"__{suffix}__"] = node.attrs[k]
                del node.attrs[k]
    var_attrs = od.extra.get("input_var_attrs", {})
    for an in names[len(node.inputs):]:
        va = dict(node.attrs)
        va.update(var_attrs.get(an, {}))
        node.inputs.append((_Node(None, f"{node.name}_{an}", va), 0))
    node._parsed = None


def _snip(x) -> str:
    """A short repr of part of a JSON document, safe for deep or huge values."""
    import reprlib
    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother, r.maxlist, r.maxdict = 3, 60, 60, 6, 6
    return r.repr(x)


def _is_entry(ent) -> bool:
    """``[node, output]`` or ``[node, output, version]`` with int fields (MXNet's entries)."""
    return (isinstance(ent, list) and 2 <= len(ent) <= 3
            and all(isinstance(x, int) and not isinstance(x, bool) for x in ent))


def _deep_at(text, limit: int) -> str:
    """`` (more than N levels of brackets at line L column C)`` for the first bracket nested
    deeper than ``limit`` (strings skipped), or ``""``."""
    import re
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8", "replace")
    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > limit:
                pos = m.start()
                line = text.count("\n", 0, pos) + 1
                col = pos - (text.rfind("\n", 0, pos) + 1) + 1
                return (f" (more than {limit} levels of brackets at line {line} column {col}, "
                        f"char {pos})")
        elif c in "]}":
            depth -= 1
    return ""


def load(fname: str) -> Symbol:
    """Load a symbol from a ``-symbol.json`` file written by MXNet (any 1.x) or mxc."""
    if not isinstance(fname, (str, os.PathLike)):
        raise TypeError("fname must be a string")
    try:
        with open(fname, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        from ..base import FormatError
        raise FormatError(f"{fname}: not a symbol JSON file (byte {e.start} is not UTF-8)") \
            from None
    return load_json(text, source=os.fspath(fname))


def load_json(json_str: str, source: str = "<json>") -> Symbol:
    """Build a Symbol from MXNet's JSON (``nodes``, ``heads``; legacy ``param``/``attr`` too)."""
    from ..base import FormatError
    try:
        doc = json.loads(json_str)
    except json.JSONDecodeError as e:
        raise FormatError(f"{source}: invalid JSON at line {e.lineno} column {e.colno} "
                          f"(char {e.pos}): {e.msg}") from None
    except RecursionError:
        raise FormatError(f"{source}: JSON nested too deeply to read"
                          + _deep_at(json_str, 100) + "; a symbol file nests 5 levels at most") \
            from None
    if not isinstance(doc, dict) or "nodes" not in doc or "heads" not in doc:
        missing = [k for k in ("nodes", "heads") if not isinstance(doc, dict) or k not in doc]
        raise FormatError(f"{source}: not an MXNet symbol file: missing key(s) "
                          f"{', '.join(repr(k) for k in missing)}")
    jnodes = doc["nodes"]
    if not isinstance(doc["heads"], list):
        raise FormatError(f"{source}: 'heads' must be a list of [node, output, version] "
                          f"entries; got {type(doc['heads']).__name__} {_snip(doc['heads'])}")
    legacy = any(isinstance(n, dict) and ("param" in n or "attr" in n) for n in jnodes
                 if isinstance(jnodes, list)) or "attrs" not in doc
    if not isinstance(jnodes, list):
        raise FormatError(f"{source}: 'nodes' must be a list")
    nodes: list[_Node] = []
    for i, jn in enumerate(jnodes):
        where = f"{source}: node {i}"
        if not isinstance(jn, dict) or "op" not in jn or "name" not in jn:
            raise FormatError(f"{where}: a node needs 'op' and 'name'; got {_snip(jn)}")
        op, name = jn["op"], jn["name"]
        for key, v in (("op", op), ("name", name)):
            if not isinstance(v, str):
                raise FormatError(f"{where}: '{key}' must be a string; got "
                                  f"{type(v).__name__} {_snip(v)}")
        where = f"{source}: node {i} ({op} {name!r})"
        attrs = {}
        for key in ("param", "attr", "attrs"):   # legacy files split params and user attrs
            a = jn.get(key) or {}
            if not isinstance(a, dict):
                raise FormatError(f"{where}: '{key}' must be an object")
            for k, v in a.items():
                k = str(k)
                # legacy "attr" held user annotations without underscores
                attrs[store_key(k) if key == "attr" else k] = str(v)
        inputs = []
        jins = jn.get("inputs", [])
        if not isinstance(jins, list):
            raise FormatError(f"{where}: 'inputs' must be a list of [node, output, version] "
                              f"entries; got {type(jins).__name__} {_snip(jins)}")
        for j, ent in enumerate(jins):
            if not _is_entry(ent):
                raise FormatError(f"{where}: input {j} must be [node, output(, version)]; got "
                                  f"{_snip(ent)}")
            nid, idx = ent[0], ent[1]
            if not 0 <= nid < len(jnodes):
                raise FormatError(f"{where}: input {j} refers to node {nid}, out of range "
                                  f"(the file has {len(jnodes)} nodes)")
            if nid >= i:
                raise FormatError(f"{where}: input {j} refers to node {nid}, which is not "
                                  "defined before it (a cycle or an out-of-order node list)")
            src = nodes[nid]
            if not 0 <= idx < src.num_outputs():
                raise FormatError(f"{where}: input {j} refers to output {idx} of node {nid} "
                                  f"({src.name!r}), which has {src.num_outputs()} outputs")
            inputs.append((src, idx))
        if op == "null":
            if inputs:
                raise FormatError(f"{where}: a variable node cannot have inputs")
            nodes.append(_Node(None, name, attrs))
            continue
        od = get_op(op, f"{source}: node {i} {name!r}")
        node = _Node(canonical_name(op), name, attrs, inputs)
        if legacy:
            _upgrade_legacy(node)
        try:
            node.params()
        except MXNetError as e:
            raise type(e)(f"{source}: node {i}: {e}") from None
        n_in = len(od.list_inputs(node.params()))
        if len(node.inputs) != n_in and not od.variadic:
            raise FormatError(f"{where}: has {len(node.inputs)} inputs; {op} takes {n_in} "
                              f"({', '.join(od.list_inputs(node.params()))})")
        nodes.append(node)
    heads = []
    for j, ent in enumerate(doc["heads"]):
        if not _is_entry(ent) or not 0 <= ent[0] < len(nodes):
            raise FormatError(f"{source}: head {j} ({_snip(ent)}) does not refer to a node")
        if not 0 <= ent[1] < nodes[ent[0]].num_outputs():
            raise FormatError(f"{source}: head {j} refers to output {ent[1]} of node {ent[0]}, "
                              f"which has {nodes[ent[0]].num_outputs()} outputs")
        heads.append((nodes[ent[0]], ent[1]))
    if not heads:
        raise FormatError(f"{source}: the symbol has no heads (outputs)")
    return Symbol(heads)

