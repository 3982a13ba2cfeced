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

from numbers import Number

from ..base import (GraphError, MXNetError, NotImplementedForSymbol, UnsupportedError,
                    atomic_write)
from ..ir.registry import canonical_name, get_op
from ..ir.types import DType
from .naming import HIDDEN_KEYS, AttrScope, NameManager, attr_key, store_key

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
        """The operator's parameters among the attributes: every key but ``__annotations__``.
        An operator without parameters (``exp``, ``elemwise_add``) has no attribute parser in
        MXNet, so other keys given to it (``foo='bar'``) are kept as plain annotations."""
        p = {k: v for k, v in self.attrs.items() if not (k.startswith("__") and k.endswith("__"))}
        if p and not self.is_var and not any(a.name != "is_train" for a in self.opdef.attrs):
            return {}
        return p

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
        if self.is_var or not self.opdef.aux:
            return set()
        p = self.params()
        n_args = len(self.opdef.list_arguments(p))
        return set(range(n_args, n_args + len(self.opdef.list_aux(p))))

    def __repr__(self):
        return f"<node {self.op or 'null'} {self.name}>"


# Bumped whenever an existing node's inputs change (compose, implicit inputs added): a symbol's
# cached node order is valid only for the generation it was computed in. A bucketing module
# asks for the order of its ~1000-node symbols ~30 times per bucket (5 ms each).
_STRUCTURE = [0]


def _structure_changed():
    _STRUCTURE[0] += 1


def _topo(heads: Iterable[_Node]) -> list[_Node]:
    """Post-order DFS from the heads, inputs in order (nnvm's DFSVisit): MXNet's node order."""
    order, seen = [], set()
    for h in heads:
        if id(h) in seen:
            continue
        seen.add(id(h))
        stack = [(h, iter(h.inputs))]
        while stack:
            node, rest = stack[-1]
            for child, _ in rest:
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


class Symbol:
    """A symbolic graph with MXNet 1.x's API (list_arguments, infer_shape, tojson, ...)."""

    __slots__ = ("_outputs", "_order", "__weakref__")

    def __init__(self, outputs: list):
        self._outputs = list(outputs)
        self._order = None

    # -- structure ------------------------------------------------------------------------------
    def _nodes(self) -> list[_Node]:
        """Every node, in MXNet's order (a new list; the order is cached until a node's inputs
        change anywhere or this symbol's outputs are replaced)."""
        cached = getattr(self, "_order", None)
        if cached is not None and cached[0] == _STRUCTURE[0]:
            return list(cached[1])
        order = _topo(n for n, _ in self._outputs)
        self._order = (_STRUCTURE[0], order)
        return list(order)

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
        """The inputs of the head node(s), in order (a group lists each head node's inputs
        once, however many of its outputs the group holds)."""
        outs, seen = [], set()
        for node, _ in self._outputs:
            if id(node) not in seen:
                seen.add(id(node))
                outs += list(node.inputs)
        return Symbol(outs) if outs else None

    def __len__(self):
        return len(self._outputs)

    def __iter__(self):
        return (Symbol([o]) for o in self._outputs)

    def __getitem__(self, index) -> "Symbol":
        """Output ``index`` (an int from 0, or an output name) as a symbol; a slice gives a
        group of outputs. As in MXNet, negative indices are refused."""
        n = len(self._outputs)
        if isinstance(index, slice):
            start = 0 if index.start is None else index.start
            stop = n if index.stop is None else index.stop
            step = 1 if index.step is None else index.step
            return Group([self[i] for i in range(start, stop, step)])
        if isinstance(index, str):
            names = self.list_outputs()
            hits = [i for i, nm in enumerate(names) if nm == index]
            if not hits:
                raise ValueError(f"Cannot find output that matches name {index!r}; outputs "
                                 f"are {names}")
            if len(hits) > 1:
                raise ValueError(f"There are multiple outputs with name {index!r}: outputs "
                                 f"{hits} of {names}")
            index = hits[0]
        if not isinstance(index, (int, np.integer)):
            raise TypeError("Symbol only support integer index to fetch i-th output; got "
                            f"{type(index).__name__} {index!r:.40}")
        index = int(index)
        if index < 0:
            raise SymbolIndexError(f"Symbol index {index}: only nonnegative indices are "
                                   f"accepted (0 .. {n - 1})")
        if index >= n:
            raise IndexError(f"Symbol index {index} out of range for {n} output(s)")
        return Symbol([self._outputs[index]])

    # -- attributes -------------------------------------------------------------------------------
    def _head(self) -> _Node:
        if len(self._outputs) != 1:
            raise MXNetError("this operation needs a single-output symbol; "
                             f"this one has {len(self._outputs)} outputs")
        return self._outputs[0][0]

    def _single_node(self) -> "_Node | None":
        """The node all outputs come from, or None for a group of different nodes."""
        node = self._outputs[0][0]
        return node if all(n is node for n, _ in self._outputs) else None

    def attr(self, key: str) -> str | None:
        """Attribute ``key`` of this symbol's node (``None`` if unset, or for a group).
        ``'name'`` and ``'op_name'`` give the node's name and operator (``'null'`` for a
        variable); hidden keys are found by their plain name too (``'lr_mult'``)."""
        node = self._single_node()
        if node is None:
            return None
        if key == "name":
            return node.name
        if key == "op_name":
            return node.op or "null"
        if key in node.attrs:
            return node.attrs[key]
        return node.attrs.get(store_key(key))

    def list_attr(self, recursive: bool = False) -> dict:
        """The attributes of this symbol's node, hidden keys listed with and without their
        underscores (a group: its first output's node)."""
        if recursive:
            raise DeprecatedError("Symbol.list_attr(recursive=True) has been deprecated; use "
                                  "attr_dict() for the attributes of every node")
        return _listed(self._outputs[0][0].attrs)

    def attr_dict(self) -> dict:
        out = {}
        for n in self._nodes():
            if n.attrs:
                out[n.name] = _listed(n.attrs)
        return out

    def _set_attr(self, **kwargs):
        """Set attributes of this symbol's node (string values; ``lr_mult`` is stored as
        ``__lr_mult__``; ``name`` renames the node). An operator parameter set this way is
        checked as at creation, and nothing changes if it is refused."""
        node = self._single_node()
        if node is None:
            raise GraphError(f"_set_attr: only a single symbol has attributes to set; this is "
                             f"a group of {len(self._outputs)} outputs "
                             f"({', '.join(self.list_outputs())}); set them per output")
        attrs, name = dict(node.attrs), node.name
        for k, v in kwargs.items():
            if not isinstance(v, str):
                raise ValueError(f"Set Attr only accepts string values; got {k}={v!r} "
                                 f"({type(v).__name__})")
            if k == "name":
                name = v
                continue
            attrs[attr_key(k, v, f"{node.op or 'Variable'} '{node.name}'")] = v
        if not node.is_var:
            _Node(node.op, name, attrs).params()        # refuses what the operator refuses
        node.attrs, node.name, node._parsed = attrs, name, None

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
        _structure_changed()
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
        self._order = None

    # -- inference -------------------------------------------------------------------------------
    def _infer(self, what: str, args, kwargs, partial: bool):
        from .convert import infer_symbol
        if args and kwargs:
            raise ValueError(f"infer_{what}: give the known {what}s either positionally or by "
                             f"keyword, not both (got {len(args)} positional and "
                             f"{sorted(kwargs)})")
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
    def _without_amp_cast(self) -> "Symbol":
        """A copy without ``amp_cast``/``amp_multicast`` nodes (their readers read the casts'
        inputs instead), what MXNet saves by default; this symbol if it has none."""
        nodes = self._nodes()
        if not any(n.op in _AMP_CAST_OPS for n in nodes):
            return self
        m: dict[int, tuple] = {}      # id(cast node) -> {output index: entry it forwards}

        def fwd(src, i):
            while src.op in _AMP_CAST_OPS:
                src, i = src.inputs[i]
            return m[id(src)][0], i

        for n in nodes:
            if n.op in _AMP_CAST_OPS:
                continue
            c = _Node(n.op, n.name, n.attrs, [fwd(s, i) for s, i in n.inputs])
            m[id(n)] = (c,)
        return Symbol([fwd(n, i) for n, i in self._outputs])

    def tojson(self, remove_amp_cast: bool = True) -> str:
        """The symbol as MXNet 1.9.1 writes it, byte for byte: nodes in MXNet's order,
        attributes sorted, each input ``[node, output, version]`` (an auxiliary state's
        version is 1), graph attributes ``mxnet_version`` and, with NumPy-shape semantics on,
        ``is_np_shape``. ``remove_amp_cast`` drops AMP's cast nodes first."""
        sym = self._without_amp_cast() if remove_amp_cast else self
        nodes = sym._nodes()
        index = {id(n): i for i, n in enumerate(nodes)}
        versions = _input_versions(nodes)
        jnodes, row = [], [0]
        for n in nodes:
            items = [("op", n.op or "null"), ("name", n.name)]
            if n.attrs:
                attrs = sorted(n.attrs.items())
                items.append(("attrs", ("{", attrs, len(attrs) > 1)))
            ins = [("[", [index[id(s)], i, v], False)
                   for (s, i), v in zip(n.inputs, versions[id(n)])]
            items.append(("inputs", ("[", ins, len(ins) > 10)))
            jnodes.append(("{", items, True))
            row.append(row[-1] + n.num_outputs())

        def ints(xs):
            return ("[", xs, len(xs) > 10)

        from ..util import is_np_shape
        gattrs = [("mxnet_version", ("[", ["int", MXNET_VERSION], False))]
        if is_np_shape():
            gattrs.insert(0, ("is_np_shape", ("[", ["int", 1], False)))
        heads = [("[", [index[id(n)], i, 0], False) for n, i in sym._outputs]
        doc = ("{", [("nodes", ("[", jnodes, True)),
                     ("arg_nodes", ints([i for i, n in enumerate(nodes) if n.is_var])),
                     ("node_row_ptr", ints(row)),
                     ("heads", ("[", heads, len(heads) > 10)),
                     ("attrs", ("{", gattrs, len(gattrs) > 1))], True)
        return _dmlc_json(doc)

    def save(self, fname: str, remove_amp_cast: bool = True):
        """Write :meth:`tojson` to ``fname`` (via a temporary file, renamed on success)."""
        if not isinstance(fname, (str, os.PathLike)):
            raise TypeError(f"fname must be a string; got {type(fname).__name__}")
        with atomic_write(fname, "w") as f:
            f.write(self.tojson() if remove_amp_cast else self.tojson(remove_amp_cast=False))

    def debug_str(self) -> str:
        """MXNet's text dump of the graph: the outputs, then every node in MXNet's order
        (variables by name; operators with their inputs, input versions and attributes)."""
        nodes = self._nodes()
        if len(self._outputs) == 1 and not self._outputs[0][0].inputs:
            node = self._outputs[0][0]
            return (f"Variable:{node.name}\n" if node.is_var
                    else f"AtomicFunctor  Op:{node.op}\n")
        versions = _input_versions(nodes)
        out = ["Symbol Outputs:\n"]
        out += [f"\toutput[{k}]={n.name}({i})\n" for k, (n, i) in enumerate(self._outputs)]
        for n in nodes:
            if n.is_var:
                out.append(f"Variable:{n.name}\n")
                continue
            out.append("--------------------\n")
            out.append(f"Op:{n.op}, Name={n.name}\nInputs:\n")
            for k, ((src, i), v) in enumerate(zip(n.inputs, versions[id(n)])):
                out.append(f"\targ[{k}]={src.name}({i})"
                           + (f" version={v}\n" if src.is_var else "\n"))
            if n.attrs:
                out.append("Attrs:\n")
                out += [f"\t{k}={v}\n" for k, v in sorted(n.attrs.items())]
        return "".join(out)

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
    # A symbol and a number give the scalar op; two symbols the same-shape op (no broadcasting:
    # use broadcast_add ...); anything else is a TypeError, as in MXNet (== too: a Symbol never
    # compares by identity).
    def _bin(self, other, sym_op, scalar_op):
        from . import ops
        if isinstance(other, Symbol):
            return ops.invoke(sym_op, [self, other], {})
        if isinstance(other, (Number, np.generic)) and not isinstance(other, (str, np.str_)):
            return ops.invoke(scalar_op, [self], {"scalar": other})
        raise TypeError(f"type {type(other)} not supported: a Symbol combines with a Symbol "
                        "or a number")

    def _rbin(self, other, scalar_op, sym_method=None):
        from . import ops
        if isinstance(other, Symbol) and sym_method is not None:
            return getattr(other, sym_method)(self)
        if isinstance(other, (Number, np.generic)) and not isinstance(other, (str, np.str_)):
            return ops.invoke(scalar_op, [self], {"scalar": other})
        raise TypeError(f"type {type(other)} not supported: a Symbol combines with a Symbol "
                        "or a number")

    # in-place operators exist only for NDArray (a Symbol is never modified in place)
    def __iadd__(self, other):
        raise NotImplementedForSymbol(self.__iadd__, "+=", other, 1)

    def __isub__(self, other):
        raise NotImplementedForSymbol(self.__isub__, "-=", other)

    def __imul__(self, other):
        raise NotImplementedForSymbol(self.__imul__, "*=", other)

    def __idiv__(self, other):
        raise NotImplementedForSymbol(self.__idiv__, "/=", other)

    def __itruediv__(self, other):
        raise NotImplementedForSymbol(self.__itruediv__, "/=", other)

    # NDArray-only functions: a Symbol has no values until it is bound and run
    def wait_to_read(self):
        raise NotImplementedForSymbol(self.wait_to_read, None)

    def asnumpy(self):
        raise NotImplementedForSymbol(self.asnumpy, None)

    def asscalar(self):
        raise NotImplementedForSymbol(self.asscalar, None)

    def copy(self):
        raise NotImplementedForSymbol(self.copy, None)

    def as_in_context(self):
        raise NotImplementedForSymbol(self.as_in_context, None)

    def detach(self):
        raise NotImplementedForSymbol(self.detach, None)

    def backward(self):
        raise NotImplementedForSymbol(self.backward, None)

    def as_nd_ndarray(self):
        """This symbol (it already is a legacy ``mx.sym`` symbol)."""
        return self

    def as_np_ndarray(self):
        raise UnsupportedError(f"{self!r}.as_np_ndarray(): mx.np symbols (NumPy-array "
                               "semantics) are not supported by mxc; use mx.sym symbols")

    def gradient(self, wrt):
        raise UnsupportedError(f"{self!r}.gradient({wrt!r}): symbolic gradients are not "
                               "available as symbols (MXNet 1.x does not implement them "
                               "either); bind the symbol and call backward() to get gradients")

    def get_backend_symbol(self, backend):
        raise UnsupportedError(f"get_backend_symbol({backend!r}): mxc has no subgraph backends "
                               "(MKLDNN, TensorRT ...); it compiles and fuses the whole graph "
                               "itself when the symbol is bound")

    def optimize_for(self, backend, args=None, aux=None, ctx=None, shape_dict=None,
                     type_dict=None, stype_dict=None, skip_infer=False, **kwargs):
        raise UnsupportedError(f"optimize_for({backend!r}): mxc has no subgraph backends "
                               "(MKLDNN, TensorRT ...); it compiles and fuses the whole graph "
                               "itself when the symbol is bound")

    def __add__(self, o):
        return self._bin(o, "_Plus", "_PlusScalar")

    def __radd__(self, o):
        return self._rbin(o, "_PlusScalar")

    def __sub__(self, o):
        return self._bin(o, "_Minus", "_MinusScalar")

    def __rsub__(self, o):
        return self._rbin(o, "_RMinusScalar", "__sub__")

    def __mul__(self, o):
        return self._bin(o, "_Mul", "_MulScalar")

    def __rmul__(self, o):
        return self._rbin(o, "_MulScalar")

    def __truediv__(self, o):
        return self._bin(o, "_Div", "_DivScalar")

    def __rtruediv__(self, o):
        return self._rbin(o, "_RDivScalar", "__truediv__")

    __div__ = __truediv__
    __rdiv__ = __rtruediv__

    def __mod__(self, o):
        return self._bin(o, "_Mod", "_ModScalar")

    def __rmod__(self, o):
        return self._rbin(o, "_RModScalar", "__mod__")

    def __pow__(self, o):
        return self._bin(o, "_Power", "_PowerScalar")

    def __rpow__(self, o):
        return self._rbin(o, "_rpower_scalar", "__pow__")   # MXNet names it _rpower_scalar0

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
        raise NotImplementedForSymbol(self.__bool__, "bool")

    __nonzero__ = __bool__

    # -- fluent methods (x.reshape(...), x.sum(...)): the same op functions --------------------
    def split_v2(self, *args, **kwargs):
        """``mx.sym.split_v2`` with this symbol first."""
        from .. import symbol as _sym
        return _sym.split_v2(self, *args, **kwargs)

    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        from . import ops
        fn = ops.fluent(item)
        if fn is None:
            raise AttributeError(f"'Symbol' object has no attribute {item!r}")
        return lambda *a, **k: fn(self, *a, **k)


_AMP_CAST_OPS = ("amp_cast", "amp_multicast")


class DeprecatedError(MXNetError, DeprecationWarning):
    """A call MXNet has deprecated and refuses (it raises DeprecationWarning)."""


class SymbolIndexError(MXNetError, IndexError):
    """A negative output index (MXNet accepts indices from 0)."""


def _input_versions(nodes) -> dict:
    """``id(node) -> [version of each input]`` as nnvm numbers them: a variable's version
    grows by one each time an operator takes it as a mutable input (an auxiliary state);
    other inputs read the variable's current version, operator outputs are version 0."""
    count: dict[int, int] = {}
    out = {}
    for n in nodes:
        vs = []
        aux = n.aux_slots()
        for k, (src, _) in enumerate(n.inputs):
            if not src.is_var:
                vs.append(0)
            elif k in aux:
                count[id(src)] = count.get(id(src), 0) + 1
                vs.append(count[id(src)])
            else:
                vs.append(count.get(id(src), 0))
        out[id(n)] = vs
    return out


_JSON_ESCAPES = str.maketrans({"\r": "\\r", "\n": "\\n", "\\": "\\\\", "\t": "\\t",
                               '"': '\\"'})


def _dmlc_json(v, depth: int = 0) -> str:
    """JSON text laid out as MXNet's writer (dmlc-core's JSONWriter) lays it out.

    ``v`` is a str, an int, or ``(bracket, items, multi_line)`` with ``bracket`` ``"{"``
    (items are ``(key, value)``) or ``"["``. Items are separated by ``", "``; a multi-line
    container puts each item on its own line, indented two spaces per level, and its closing
    bracket on a line of its own. Strings escape only ``\\r \\n \\t \\\\ \\"``; keys are
    written as they are."""
    if isinstance(v, str):
        return '"' + v.translate(_JSON_ESCAPES) + '"'
    if isinstance(v, int):
        return str(v)
    bracket, items, multi = v
    nl = "\n" + "  " * (depth + 1)
    parts = []
    for k, it in enumerate(items):
        head = (", " if k else "") + (nl if multi else "")
        if bracket == "{":
            key, val = it
            parts.append(f'{head}"{key}": {_dmlc_json(val, depth + 1)}')
        else:
            parts.append(head + _dmlc_json(it, depth + 1))
    tail = "\n" + "  " * depth if multi and items else ""
    return bracket + "".join(parts) + tail + ("}" if bracket == "{" else "]")


def _np_shape_upgrade(nodes, graph_attrs) -> None:
    """Loading a file written without NumPy-shape semantics while they are on: MXNet rewrites
    each variable's ``__shape__`` in NumPy terms, its unknown 0 dims as -1 (``"[128,-1]"``) and
    an unknown (empty) shape as ``"None"``, so that inference keeps reading them as unknown."""
    from ..util import is_np_shape
    if not is_np_shape():
        return
    flag = graph_attrs.get("is_np_shape") if isinstance(graph_attrs, dict) else None
    if isinstance(flag, list) and len(flag) == 2 and flag[1]:
        return
    import ast
    for n in nodes:
        s = n.attrs.get("__shape__") if n.is_var else None
        if s is None:
            continue
        try:
            t = ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue                    # not a shape: inference reports it
        if isinstance(t, int) and not isinstance(t, bool):
            t = (t,)
        if not isinstance(t, (list, tuple)) \
                or not all(isinstance(d, int) and not isinstance(d, bool) for d in t):
            continue
        n.attrs["__shape__"] = ("None" if not t else
                                "[" + ",".join(str(-1 if d == 0 else d) for d in t) + "]")


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
        if not isinstance(v, str):
            raise ValueError(f"Variable '{name}': Set Attr only accepts string values; got "
                             f"{k}={v!r} ({type(v).__name__})")
        attrs[attr_key(k, v, f"Variable '{name}'")] = v
    if shape is not None:
        # stored as MXNet stores it, str(shape) (shape=3 is "3"), numpy ints as plain ints
        if isinstance(shape, (list, tuple)):
            shape = type(shape)(int(d) if isinstance(d, np.integer) else d for d in shape)
        elif isinstance(shape, np.integer):
            shape = int(shape)
        elif not isinstance(shape, int):
            shape = tuple(shape)
        attrs["__shape__"] = str(shape)
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
            raise ValueError(f"Variable '{name}': attribute name={k} is not supported; "
                             f"additional attributes must start and end with double "
                             f"underscores, e.g. __{k}__ (lr_mult, wd_mult, dtype, init, "
                             "shape and stype are parameters of Variable)")
    return Symbol([(_Node(None, name, attrs), 0)])


var = Variable


def Group(symbols, create_fn=None) -> Symbol:
    """One symbol whose outputs are the outputs of ``symbols``, in order; ``create_fn`` (a
    Symbol subclass, default :class:`Symbol`) makes the result from its output entries."""
    symbols = list(symbols) if symbols is not None else []
    if not symbols or not all(isinstance(s, Symbol) for s in symbols):
        raise TypeError("Expected a list of symbols as input; got "
                        + ("an empty list" if not symbols else
                           ", ".join(type(s).__name__ for s in symbols)))
    outs = []
    for s in symbols:
        outs += s._outputs
    return (create_fn or Symbol)(outs)


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
        _structure_changed()
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
    if not isinstance(jnodes, list):
        raise FormatError(f"{source}: 'nodes' must be a list; got {type(jnodes).__name__} "
                          f"{_snip(jnodes)}")
    legacy = any(isinstance(n, dict) and ("param" in n or "attr" in n) for n in jnodes) \
        or "attrs" not in doc
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
        n_var = node.params().get(od.variadic) if od.variadic else None
        if isinstance(n_var, int) and n_var > len(node.inputs):
            # checked before listing the inputs: num_args=2**31 would build that many names
            raise FormatError(f"{where}: {od.variadic}={n_var} but the node has "
                              f"{len(node.inputs)} inputs")
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
    _np_shape_upgrade(nodes, doc.get("attrs"))
    return Symbol(heads)

