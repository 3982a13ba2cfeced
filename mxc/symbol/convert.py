"""Symbol -> IR: the entrance to the compiler's one path.

:func:`to_graph` turns a Symbol into a Graph whose inputs are the symbol's variables (in
``list_inputs`` order) and whose ops are its operator nodes in MXNet's order, with typed attrs.
Types start as what the caller and the variables' ``__shape__``/``__dtype__`` attributes say and
are completed by the ``infer`` pass. ``Symbol.infer_shape`` is that pass, read back in MXNet's
return conventions.
"""
from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..base import GraphError, MXNetError
from ..ir.core import Builder, Graph, Value, infer_op_types
from ..ir.types import DType, TensorType, check_shape
from .symbol import Symbol

__all__ = ["to_graph", "SymbolGraph", "infer_symbol"]


@dataclass
class SymbolGraph:
    """A Graph plus what the MXNet API needs to talk about it by name."""

    graph: Graph
    arg_names: list[str]
    aux_names: list[str]
    output_names: list[str]
    inputs: dict = field(default_factory=dict)   # variable name -> graph input Value
    # one graph input Value per variable node, in list_inputs order: two distinct variables
    # may share a name (MXNet allows it until binding), so ``inputs`` alone cannot tell them
    input_values: list = field(default_factory=list)
    # training: graph outputs after the symbol's own are new values of auxiliary states
    aux_updates: list = field(default_factory=list)   # [aux variable name], in output order

    def input_index(self, name: str) -> int:
        return self.graph.inputs.index(self.inputs[name])


def _unknown_dim(d) -> bool:
    """Whether user dimension ``d`` means "unknown": ``0`` in MXNet 1.x's shapes, ``-1`` with
    NumPy-shape semantics on (where ``0`` is a real zero-size dimension); ``None`` always."""
    from ..util import is_np_shape
    return d is None or (d == -1 if is_np_shape() else d == 0)


def np_unknown_dims(shape):
    """``shape`` with NumPy-shape semantics' unknown ``-1`` dims as ``None`` (unchanged when
    they are off, or for anything that is not a sequence: the shape check reports that)."""
    from ..util import is_np_shape
    if not is_np_shape() or isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        return shape
    return tuple(None if (isinstance(d, int) and d == -1) else d for d in shape)


def _var_shape(node, given):
    if given is not None:
        return tuple(None if _unknown_dim(d) else d for d in given)
    s = node.attrs.get("__shape__")
    if s:
        try:
            t = ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise MXNetError(f"variable '{node.name}': __shape__={s!r:.80} is not a shape") \
                from None
        if t is None:           # "None": an unknown shape, as MXNet writes it in NumPy mode
            return None
        # a stored -1 is an unknown dim in either mode (MXNet writes "[128,-1]" when it
        # upgrades a legacy file under NumPy-shape semantics)
        if isinstance(t, (list, tuple)):
            t = tuple(None if (isinstance(d, int) and d == -1) else d for d in t)
        t = check_shape(t, f"variable '{node.name}': __shape__")
        return tuple(None if _unknown_dim(d) else d for d in t)
    return None


def check_input_shapes(sym: Symbol, shapes: dict, where: str, bind: bool = False) -> dict:
    """``shapes`` (input name -> shape) checked against ``sym``: every name is an input
    (else :class:`MXNetError` with the inputs, or the closest one) and every shape a tuple of
    ints (:func:`~mxc.ir.types.check_shape`; with ``bind``, no unknown 0 dims). Returns the
    shapes as tuples. The one check behind infer_shape, simple_bind, Module.bind and compile.
    """
    inputs = sym.list_inputs()
    out = {}
    for k, v in (shapes or {}).items():
        if k not in inputs:
            import difflib
            close = difflib.get_close_matches(str(k), inputs, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise MXNetError(f"{where}: {k!r} is not an input of this symbol{hint} (inputs are "
                             f"{inputs})")
        if v is None:
            continue
        out[k] = check_shape(v, f"{where}: input {k!r}", bind=bind)
    return out


def _var_dtype(node, given):
    if given is not None:
        return DType.parse(given)
    s = node.attrs.get("__dtype__")
    if s:
        try:
            return DType.from_flag(int(s))
        except ValueError:
            return DType.parse(s)
    return None


def to_graph(sym: Symbol, shapes: dict | None = None, dtypes: dict | None = None,
             is_train: bool = False, name: str = "main", infer: bool = True,
             where: str = "compile") -> SymbolGraph:
    """Convert ``sym`` to the IR; ``shapes``/``dtypes`` give input types by variable name.

    With ``is_train`` the mode-dependent ops (Dropout, BatchNorm) get ``is_train=true``.
    ``infer`` runs the shape/dtype inference pass (partial results allowed). ``shapes`` are
    checked first (:func:`check_input_shapes`); errors start with ``where``.
    """
    from ..gcpause import paused
    with paused():
        return _to_graph(sym, shapes, dtypes, is_train, name, infer, where)


def _to_graph(sym, shapes, dtypes, is_train, name, infer, where) -> SymbolGraph:
    shapes = check_input_shapes(sym, shapes, where)
    dtypes = dtypes or {}
    nodes = sym._nodes()
    aux_ids = sym._aux_var_ids(nodes)
    b = Builder(name)
    env: dict[int, list[Value]] = {}
    sg = SymbolGraph(None, [], [], sym.list_outputs())
    # ops whose rules left a type open or refined an input: inference starts from them (none:
    # it would change nothing)
    unsettled = set()
    for node in nodes:
        if node.is_var:
            t = TensorType(_var_shape(node, shapes.get(node.name)),
                           _var_dtype(node, dtypes.get(node.name)))
            v = b.input(node.name, t)
            env[id(node)] = [v]
            (sg.aux_names if id(node) in aux_ids else sg.arg_names).append(node.name)
            sg.inputs.setdefault(node.name, v)
            sg.input_values.append(v)
            continue
        od = node.opdef
        attrs = dict(node.params())
        if od.mode_dependent:
            attrs["is_train"] = bool(is_train)
        ins = [env[id(src)][i] for src, i in node.inputs]
        in_t, out_t = infer_op_types(od, attrs, node.name, [v.type for v in ins])
        outs = b.op(od.name, ins, attrs, node.name, parsed=True, out_types=out_t)
        if not (all(t.known for t in out_t) and all(t == v.type for t, v in zip(in_t, ins))):
            unsettled.add(b.ops[-1])
        env[id(node)] = list(outs) if isinstance(outs, tuple) else [outs]
    g = b.build([env[id(n)][i] for n, i in sym._outputs])
    if infer and unsettled:
        from ..passes.infer import InferTypes
        m = {}
        g = InferTypes().run_with_map(g, m, unsettled=unsettled)
        sg.inputs = {k: m[v] for k, v in sg.inputs.items()}
        sg.input_values = [m[v] for v in sg.input_values]
    # training graphs return new aux values (BatchNorm's moving statistics); operators that
    # mutate their states in every mode (optimizer updates, MXNet's FMutateInputs) do always
    if is_train or any(op.opdef.extra.get("mutate_inputs") for op in g.ops):
        g = _append_aux_updates(g, sg)
    sg.graph = g
    return sg


def _append_aux_updates(g: Graph, sg: SymbolGraph) -> Graph:
    """Training graphs also return the new values of auxiliary states (BatchNorm's moving
    statistics), built by each op's ``aux_update`` rule; ``sg.aux_updates`` names them."""
    if not any(op.opdef.aux_update is not None for op in g.ops):
        return g
    from ..ir.core import Rewriter
    rw = Rewriter(g)
    extra = []
    for op in g.ops:
        new = rw.copy(op)
        if op.opdef.aux_update is None:
            continue
        start = len(rw.b.ops)
        for pos, val in op.opdef.aux_update(rw.b, new):
            src = new.inputs[pos]
            # an aux state computed by another op has no storage (nor has a state that the
            # symbol lists as an argument: multi_sgd_mom_update's interleaved moms)
            if src in rw.b.inputs and src.name in sg.aux_names:
                extra.append((src.name, val))
        for o in rw.b.ops[start:]:
            o.name = o.name or f"{op.name}_aux_update"
    out = rw.finish()
    sg.inputs = {k: rw.get(v) for k, v in sg.inputs.items()}
    sg.input_values = [rw.get(v) for v in sg.input_values]
    sg.aux_updates = [name for name, _ in extra]
    return Graph(out.name, out.inputs, out.ops, list(out.outputs) + [v for _, v in extra])


def infer_symbol(sym: Symbol, what: str, args, kwargs, partial: bool):
    given = _given(sym, what, args, kwargs)
    where = f"infer_{what}" + ("_partial" if partial else "")
    if what == "shape":
        sg = to_graph(sym, shapes={k: np_unknown_dims(v) for k, v in given.items()}, where=where)
    else:
        sg = to_graph(sym, dtypes=given, where=where)
    return _report(sym, sg, what, partial)


def infer_partial(sym: Symbol, shapes: dict, dtypes: dict, partial: bool = True):
    """``(sym.infer_shape_partial(**shapes), sym.infer_type_partial(**dtypes))`` from one import
    of the symbol into the IR (binding asks both of every bucket's symbol); ``partial=False``:
    ``(sym.infer_shape(**shapes), sym.infer_type(**dtypes))``."""
    shapes = _given(sym, "shape", (), shapes)
    dtypes = _given(sym, "dtype", (), dtypes)
    where = "infer_shape_partial" if partial else "infer_shape"
    sg = to_graph(sym, shapes={k: np_unknown_dims(v) for k, v in shapes.items()},
                  dtypes=dtypes, where=where)
    return _report(sym, sg, "shape", partial), _report(sym, sg, "dtype", partial)


def _given(sym: Symbol, what: str, args, kwargs) -> dict:
    """The known shapes (dtypes) by input name, from positional ``args`` or ``kwargs``."""
    arg_names = sym.list_arguments()
    given: dict = {}
    if args:
        if len(args) > len(arg_names):
            raise MXNetError(f"infer_{what}: {len(args)} positional inputs for "
                             f"{len(arg_names)} arguments {arg_names}")
        for n, v in zip(arg_names, args):
            if v is None:
                continue
            if n in given and given[n] != v:
                raise GraphError(f"infer_{what}: two arguments are named {n!r} and were given "
                                 f"{given[n]!r} and {v!r}; give distinct variables distinct "
                                 "names")
            given[n] = v
    inputs = set(sym.list_inputs())
    for k, v in kwargs.items():
        if k not in inputs:
            raise MXNetError(f"infer_{what}: {k!r} is not an input of this symbol; inputs are "
                             f"{sorted(inputs)}")
        if v is not None:
            given[k] = v
    return given


def _report(sym: Symbol, sg: SymbolGraph, what: str, partial: bool):
    """``(arg, out, aux)`` shapes or dtypes of the imported ``sg`` the way MXNet reports them
    (or three Nones, with MXNet's warning, when ``partial`` is off and some are unknown)."""
    g = sg.graph

    from ..util import is_np_shape
    np_shape = is_np_shape()

    def get(v):
        # MXNet's conventions: an unknown shape is () and an unknown dim 0; with NumPy-shape
        # semantics on, None and -1
        t = v.type
        if what == "shape":
            if t.shape is None:
                return None if np_shape else ()
            return tuple((-1 if np_shape else 0) if d is None else d for d in t.shape)
        return None if t.dtype is None else np.dtype(t.dtype.np_name).type

    aux_ids = sym._aux_var_ids()
    is_aux = [id(n) in aux_ids for n in sym._nodes() if n.is_var]
    arg_v = [v for v, a in zip(sg.input_values, is_aux) if not a]
    aux_v = [v for v, a in zip(sg.input_values, is_aux) if a]
    outs = list(g.outputs)
    if not partial:
        unknown = [(sg_name, v) for sg_name, v in zip(sg.arg_names + sg.aux_names, arg_v + aux_v)
                   if not (v.type.shape_known if what == "shape" else v.type.dtype is not None)]
        out_unknown = [v for v in outs
                       if not (v.type.shape_known if what == "shape" else v.type.dtype is not None)]
        if unknown or out_unknown:
            # MXNet warns about the arguments (not the auxiliary states), ten at most
            lines = [f"{n}: {get(v)}" for n, v in unknown if n in sg.arg_names]
            if len(lines) > 10:
                lines = lines[:10] + ["..."]
            if what == "shape":
                warnings.warn("Cannot decide shape for the following arguments (0s in shape "
                              "means unknown dimensions). Consider providing them as input:\n\t"
                              + "\n\t".join(lines), stacklevel=4)
            else:
                warnings.warn("Cannot decide type for the following arguments. Consider "
                              "providing them as input:\n\t" + "\n\t".join(lines),
                              stacklevel=4)
            return None, None, None
    return [get(v) for v in arg_v], [get(v) for v in outs], [get(v) for v in aux_v]


def compile_symbol(symbol, shapes: dict | None = None, dtypes: dict | None = None,
                   target: str = "llvm", is_train: bool = False, grad_wrt=None, pins=None,
                   **shape_kwargs):
    """``mxc.compile``: compile an ``mx.sym`` Symbol (or an IR Graph) for ``target``
    (``llvm``/``cpu`` or ``triton``/``gpu``). ``shapes`` gives input shapes by name (also as
    keyword arguments); dtypes default to float32 where nothing decides them. ``grad_wrt`` lists
    the inputs to differentiate and ``pins`` the values to keep (see
    :func:`mxc.compile.compile_graph`). The Symbol is imported into an IR graph here, in the
    frontend; the compiler (:mod:`mxc.compile`) takes graphs only."""
    from ..codegen.backend import normalize_target
    from ..compile import compile_graph
    from ..passes.base import PassContext
    if isinstance(symbol, Graph):
        return compile_graph(symbol, target, grad_wrt=grad_wrt, pins=pins)
    from ..gcpause import paused
    shapes = dict(shapes or {})
    shapes.update(shape_kwargs)
    dtypes = dict(dtypes or {})
    with paused():
        sg = to_graph(symbol, shapes=shapes, dtypes=dtypes, is_train=is_train,
                      name=symbol.name or "main")
        g = _default_float32(sg.graph)
        return compile_graph(g, target, PassContext(target=normalize_target(target),
                                                    is_train=is_train), symbol_graph=sg,
                             grad_wrt=grad_wrt, n_diff_outputs=len(sg.output_names),
                             pins=pins)


def _default_float32(g: Graph) -> Graph:
    """Inputs whose dtype nothing decided are float32 (MXNet's default)."""
    from ..passes.infer import InferTypes
    if all(v.type.dtype is not None for v in g.inputs):
        return g
    start = {v: v.type.with_dtype(DType.f32) for v in g.inputs if v.type.dtype is None}
    return InferTypes().run_with_map(g, {}, start)
