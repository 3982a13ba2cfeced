"""The SSA IR: Values, Ops, Graphs and a Builder.

A :class:`Graph` holds its inputs, a topologically ordered list of :class:`Op` and its outputs. A
:class:`Value` is defined exactly once (as a graph input or an op output) and is hashed by
identity; its ``name`` is only a hint for printing (the MXNet symbol name, so dumps read like the
user's program). Passes build new graphs with a :class:`Builder` rather than mutate shared ones.

An op may carry a ``body``: a nested Graph (the ``fused`` op made by the fusion pass holds the
primitives that become one kernel).

A graph's ``attrs`` hold facts about its interface that later stages need (``GRAPH_ATTRS`` lists
them): they print in its header (``graph @g(...) attributes {forward_outputs=1} {``), parse back,
verify, and a pipeline carries them from stage to stage unless a pass sets them anew.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from ..base import GraphError
from .registry import OpDef, RuleCtx, get_op
from .types import DType, TensorType

__all__ = ["Value", "Op", "Graph", "Builder", "infer_op_types", "clone_graph", "GRAPH_ATTRS"]

# Graph attributes (see the module doc): name -> what it says. Values are IR attribute values
# (ints, strings, tuples).
GRAPH_ATTRS = {
    "forward_outputs": "outputs before this index are forward results, later ones gradients "
                       "(set by autodiff; the runtime runs forward and backward steps apart)",
    "head_grads": "((input name, output index), ...): the head-gradient input of each "
                  "differentiated output that is not a loss (set by autodiff)",
    "pins": "((output index, op, index, kind, label), ...): values kept materialized and "
            "returned for a monitor (mxc.passes.pin; kind 'out' or 'grad')",
}


class Value:
    """An SSA value: a tensor of ``type``, defined by ``op`` (output ``index``) or a graph input."""

    __slots__ = ("type", "name", "op", "index", "__weakref__")

    def __init__(self, type: TensorType, name: str | None = None, op: "Op | None" = None,
                 index: int = 0):
        self.type = type
        self.name = name
        self.op = op
        self.index = index

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self) -> DType | None:
        return self.type.dtype

    @property
    def ndim(self):
        return self.type.ndim

    def __repr__(self):
        return f"<Value %{self.name or id(self)} : {self.type}>"


class Op:
    """One operation: ``opname`` (a registered OpDef), inputs, typed attrs, outputs.

    ``name`` is the MXNet symbol name (used in error messages and kernel names).
    """

    __slots__ = ("opname", "inputs", "attrs", "outputs", "name", "body")

    def __init__(self, opname: str, inputs: Sequence[Value], attrs: dict, outputs: Sequence[Value],
                 name: str | None = None, body: "Graph | None" = None):
        self.opname = opname
        self.inputs = list(inputs)
        self.attrs = dict(attrs)
        self.outputs = list(outputs)
        self.name = name
        self.body = body
        for i, v in enumerate(self.outputs):
            v.op = self
            v.index = i

    @property
    def opdef(self) -> OpDef:
        return get_op(self.opname)

    @property
    def output(self) -> Value:
        if len(self.outputs) != 1:
            raise GraphError(f"{self.opname} '{self.name}' has {len(self.outputs)} outputs")
        return self.outputs[0]

    def __repr__(self):
        return f"<Op {self.opname} '{self.name}'>"


class Graph:
    """Inputs, a topologically ordered op list, outputs. Treat as immutable once built."""

    __slots__ = ("name", "inputs", "ops", "outputs", "attrs")

    def __init__(self, name: str, inputs: Sequence[Value], ops: Sequence[Op],
                 outputs: Sequence[Value], attrs: dict | None = None):
        self.name = name
        self.inputs = list(inputs)
        self.ops = list(ops)
        self.outputs = list(outputs)
        self.attrs = dict(attrs) if attrs else {}

    def with_attrs(self, **attrs) -> "Graph":
        """The same inputs, ops and outputs with these graph attributes set (None removes)."""
        a = {**self.attrs, **attrs}
        return Graph(self.name, self.inputs, self.ops, self.outputs,
                     {k: v for k, v in a.items() if v is not None})

    def users(self) -> dict[Value, list[Op]]:
        """Map each value to the ops that read it (graph outputs are not listed)."""
        u: dict[Value, list[Op]] = {v: [] for v in self.inputs}
        for op in self.ops:
            for v in op.outputs:
                u.setdefault(v, [])
            for v in op.inputs:
                u.setdefault(v, []).append(op)
        return u

    def values(self) -> Iterable[Value]:
        yield from self.inputs
        for op in self.ops:
            yield from op.outputs

    def __str__(self):
        from .printer import print_graph
        return print_graph(self)

    def __repr__(self):
        return f"<Graph @{self.name}: {len(self.inputs)} inputs, {len(self.ops)} ops>"


def frozen(v):
    """A hashable form of an attribute value (dicts and lists become sorted/ordered tuples),
    for keys built from ops' attributes."""
    if isinstance(v, dict):
        return tuple(sorted((k, frozen(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(frozen(x) for x in v)
    return v


def infer_op_types(opdef: OpDef, attrs: dict, name: str | None, in_types: Sequence[TensorType],
                   body: Graph | None = None, out_types: Sequence[TensorType] | None = None):
    """Run an op's shape and dtype rules on (possibly partial) input types (and, when given,
    the output types known so far, which rules may read as ``rc.out_shapes``).

    Returns ``(refined input types, output types)``; raises ShapeError / DTypeError on conflict.
    """
    rc = RuleCtx(opdef, attrs, name, body,
                 None if out_types is None else [t.shape for t in out_types],
                 None if out_types is None else [t.dtype for t in out_types])
    shapes = [t.shape for t in in_types]
    dtypes = [t.dtype for t in in_types]
    if opdef.infer_shape is None:
        raise GraphError(f"{rc.where}: operator has no shape rule")
    ins, outs = opdef.infer_shape(rc, shapes)
    din, dout = opdef.infer_dtype(rc, dtypes)
    n_out = opdef.num_outputs(attrs)
    if len(outs) != n_out or len(dout) != n_out:
        raise GraphError(f"{rc.where}: rules returned {len(outs)} shapes / {len(dout)} dtypes "
                         f"for {n_out} outputs")
    in_t = [TensorType(None if s is None else tuple(s), d) for s, d in zip(ins, din)]
    out_t = [TensorType(None if s is None else tuple(s), d) for s, d in zip(outs, dout)]
    return in_t, out_t


class Builder:
    """Builds a Graph op by op, inferring output types from the registry's rules.

    ``b.op("FullyConnected", [x, w, bias], {"num_hidden": 128}, name="fc1")`` returns the output
    Value (or a tuple for multi-output ops). Attribute values may be Python values or MXNet
    strings; they are parsed and validated against the OpDef's schema. Convenience methods
    (``add``, ``mul``, ``exp``, ``sum``, ``reshape`` ...) build the common primitives.
    """

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: list[Value] = []
        self.ops: list[Op] = []

    # -- graph structure ----------------------------------------------------------------------
    def input(self, name: str, type: TensorType) -> Value:
        v = Value(type, name)
        self.inputs.append(v)
        return v

    def op(self, opname: str, inputs: Sequence[Value], attrs: dict | None = None,
           name: str | None = None, *, body: Graph | None = None, parsed: bool = False,
           out_types: Sequence[TensorType] | None = None, out_names: Sequence[str] | None = None):
        opdef = get_op(opname, name)
        a = dict(attrs or {}) if parsed else opdef.parse_attrs(dict(attrs or {}), name)
        if out_types is None:
            _, out_types = infer_op_types(opdef, a, name, [v.type for v in inputs], body)
        if out_names is None:
            out_names = _output_hints(opdef, a, name)
        outs = [Value(t, n) for t, n in zip(out_types, out_names)]
        op = Op(opdef.name, inputs, a, outs, name, body)
        self.ops.append(op)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def build(self, outputs: Sequence[Value] | Value, name: str | None = None) -> Graph:
        if isinstance(outputs, Value):
            outputs = [outputs]
        return Graph(name or self.name, self.inputs, self.ops, list(outputs))

    # -- primitive helpers (used by decompositions and vjps) -----------------------------------
    def _binary(self, same: str, bcast: str, scalar: str, rscalar: str | None, x, y):
        if not isinstance(x, Value):
            if rscalar is None:
                raise GraphError(f"{same}: left operand must be a Value")
            return self.op(rscalar, [y], {"scalar": float(x)})
        if not isinstance(y, Value):
            return self.op(scalar, [x], {"scalar": float(y)})
        if x.shape == y.shape:
            return self.op(same, [x, y])
        return self.op(bcast, [x, y])

    def add(self, x, y):
        if not isinstance(x, Value):
            x, y = y, x
        return self._binary("elemwise_add", "broadcast_add", "_plus_scalar", None, x, y)

    def sub(self, x, y):
        return self._binary("elemwise_sub", "broadcast_sub", "_minus_scalar", "_rminus_scalar",
                            x, y)

    def mul(self, x, y):
        if not isinstance(x, Value):
            x, y = y, x
        return self._binary("elemwise_mul", "broadcast_mul", "_mul_scalar", None, x, y)

    def div(self, x, y):
        return self._binary("elemwise_div", "broadcast_div", "_div_scalar", "_rdiv_scalar", x, y)

    def pow(self, x, y):
        return self._binary("_power", "broadcast_power", "_power_scalar", "_rpower_scalar", x, y)

    def maximum(self, x, y):
        if not isinstance(x, Value):
            x, y = y, x
        return self._binary("_maximum", "broadcast_maximum", "_maximum_scalar", None, x, y)

    def minimum(self, x, y):
        if not isinstance(x, Value):
            x, y = y, x
        return self._binary("_minimum", "broadcast_minimum", "_minimum_scalar", None, x, y)

    def unary(self, opname: str, x: Value, **attrs):
        return self.op(opname, [x], attrs)

    def neg(self, x):
        return self.op("negative", [x])

    def exp(self, x):
        return self.op("exp", [x])

    def log(self, x):
        return self.op("log", [x])

    def sqrt(self, x):
        return self.op("sqrt", [x])

    def square(self, x):
        return self.op("square", [x])

    def where(self, c, x, y):
        return self.op("where", [c, x, y])

    def cast(self, x, dtype):
        dt = DType.parse(dtype)
        if x.dtype == dt:
            return x
        return self.op("Cast", [x], {"dtype": dt.np_name})

    def reshape(self, x, shape):
        shape = tuple(int(s) for s in shape)
        if x.shape == shape:
            return x
        return self.op("Reshape", [x], {"shape": shape})

    def transpose(self, x, axes):
        axes = tuple(axes)
        if axes == tuple(range(len(axes))):
            return x
        return self.op("transpose", [x], {"axes": axes})

    def broadcast_to(self, x, shape):
        shape = tuple(shape)
        if x.shape == shape:
            return x
        if len(x.shape) < len(shape):
            x = self.reshape(x, (1,) * (len(shape) - len(x.shape)) + tuple(x.shape))
        return self.op("broadcast_to", [x], {"shape": shape})

    def sum(self, x, axis=None, keepdims=False):
        return self._reduce("sum", x, axis, keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return self._reduce("mean", x, axis, keepdims)

    def max(self, x, axis=None, keepdims=False):
        return self._reduce("max", x, axis, keepdims)

    def _reduce(self, opname, x, axis, keepdims):
        if isinstance(axis, int):
            axis = (axis,)
        attrs = {"keepdims": bool(keepdims)}
        if axis is not None:
            attrs["axis"] = tuple(axis)
        return self.op(opname, [x], attrs)

    def sum_to(self, x: Value, shape: tuple) -> Value:
        """Sum ``x`` down to ``shape`` (the adjoint of numpy broadcasting)."""
        shape = tuple(shape)
        if x.shape == shape:
            return x
        lead = len(x.shape) - len(shape)
        axes = list(range(lead)) + [lead + i for i, d in enumerate(shape)
                                    if d == 1 and x.shape[lead + i] != 1]
        y = self.sum(x, axis=tuple(axes), keepdims=True) if axes else x
        return self.reshape(y, shape)

    def dot(self, x, y, transpose_a=False, transpose_b=False):
        return self.op("dot", [x, y], {"transpose_a": transpose_a, "transpose_b": transpose_b})

    def zeros_like(self, x):
        return self.op("zeros_like", [x])

    def ones_like(self, x):
        return self.op("ones_like", [x])

    def full(self, shape, value, dtype="float32"):
        return self.op("_full", [], {"shape": tuple(shape), "value": float(value),
                                     "dtype": DType.parse(dtype).np_name})


def _output_hints(opdef: OpDef, attrs: dict, name: str | None) -> list[str | None]:
    outs = opdef.list_outputs(attrs)
    if name is None:
        return [None] * len(outs)
    if len(outs) == 1:
        return [name]
    return [name if o == "output" else f"{name}_{o}" for o in outs]


def clone_graph(g: Graph, name: str | None = None) -> tuple[Graph, dict]:
    """A structural copy with fresh Values; returns (graph, old value -> new value)."""
    m: dict[Value, Value] = {}
    ins = []
    for v in g.inputs:
        nv = Value(v.type, v.name)
        m[v] = nv
        ins.append(nv)
    ops = []
    for op in g.ops:
        outs = [Value(v.type, v.name) for v in op.outputs]
        for o, n in zip(op.outputs, outs):
            m[o] = n
        body = clone_graph(op.body)[0] if op.body is not None else None
        ops.append(Op(op.opname, [m[v] for v in op.inputs], op.attrs, outs, op.name, body))
    return Graph(name or g.name, ins, ops, [m[v] for v in g.outputs], g.attrs), m


class Rewriter:
    """Copies a graph op by op into a new one, letting a pass replace ops on the way.

    ``rw.get(v)`` is the new value for old value ``v``; ``rw.copy(op)`` copies an op with mapped
    inputs and fresh outputs; ``rw.alias(old, new)`` maps an old value to a new one (the op that
    defined it is replaced); ``rw.b`` is a Builder appending to the new graph.
    """

    def __init__(self, g: Graph, name: str | None = None):
        self.g = g
        self.b = Builder(name or g.name)
        self.m: dict[Value, Value] = {}
        for v in g.inputs:
            self.m[v] = self.b.input(v.name, v.type)

    def get(self, v: Value) -> Value:
        return self.m[v]

    def alias(self, old: Value, new: Value):
        self.m[old] = new

    def copy(self, op: Op, inputs: Sequence[Value] | None = None) -> Op:
        ins = [self.m[v] for v in op.inputs] if inputs is None else list(inputs)
        outs = [Value(v.type, v.name) for v in op.outputs]
        new = Op(op.opname, ins, op.attrs, outs, op.name, op.body)
        self.b.ops.append(new)
        for o, n in zip(op.outputs, outs):
            self.m[o] = n
        return new

    def finish(self) -> Graph:
        return self.b.build([self.m[v] for v in self.g.outputs])
