"""Reverse-mode autodiff as an IR transformation: gradients are IR built from the vjp rules.

``Autodiff(wrt=[...])`` turns ``graph(inputs) -> outputs`` into the joint graph
``graph(inputs, head grads) -> (outputs, d inputs)``: the forward ops, then for each op in
reverse order its OpDef's ``vjp`` (with the Builder, the op and the gradient of its outputs),
summing the gradients of values used more than once. Because the gradient is IR, backward
kernels are fused and memory-planned like forward ones.

MXNet's special gradients live in the vjps:

- loss layers (trait ``LOSS``: SoftmaxOutput, *RegressionOutput, MakeLoss) ignore the head
  gradient, so their outputs get no head-gradient input (``g`` is None);
- non-differentiable ops (BlockGrad, comparisons, argmax ...) stop the gradient;
- inputs nothing differentiable reaches get a zero gradient;
- a differentiable composite without a vjp (``vjp=None`` with ``decompose``) is expanded into
  its primitives first and differentiated through them.

Ops created for the backward pass carry the forward op's name + ``_backward`` (kernel names
read ``k5_fc1_backward``) and ``phase`` information for the runtime: the joint graph's first
``len(outputs)`` outputs are the forward results.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..base import GraphError
from ..ir.core import Graph, Op, Rewriter, Value
from ..ir.registry import LOSS, View
from .base import Pass, PassContext

__all__ = ["Autodiff", "head_grad_name", "grad_name"]


def head_grad_name(out: Value, i: int) -> str:
    return f"{out.name or f'out{i}'}_head_grad"


def grad_name(v: Value) -> str:
    return f"{v.name}_grad"


@dataclass
class Autodiff(Pass):
    """Append the gradients of ``wrt`` (graph input names; None = all) to the graph.

    Outputs produced by loss layers need no head gradient; others get an input
    ``<output>_head_grad``. The result says what it did in its graph attributes:
    ``forward_outputs`` (how many outputs come before the gradients) and ``head_grads`` (each
    head-gradient input with the output it belongs to).
    """

    name = "autodiff"
    wrt: list | None = None
    # only the first n outputs are differentiated (later ones, such as new values of
    # auxiliary states, pass through); None: all of them
    n_diff_outputs: int | None = None
    # gradient pins (:class:`~mxc.passes.pin.Pin` with kind "grad"): the gradient an op's vjp
    # gives one of its inputs, returned after the gradients; each pin granted (its op takes
    # part in the gradient) is listed in the result's ``pins`` graph attribute
    taps: tuple = ()

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        g = _expand_vjp_free(g)
        rw = Rewriter(g)
        new_ops = {}
        for op in g.ops:
            new_ops[op] = rw.copy(op)
        b = rw.b
        grads: dict[Value, Value] = {}
        heads = []
        n_diff = len(g.outputs) if self.n_diff_outputs is None else self.n_diff_outputs
        for i, out in enumerate(g.outputs[:n_diff]):
            prod = out.op
            if prod is not None and _is_loss(prod):
                continue
            h = b.input(head_grad_name(out, i), out.type)
            heads.append((h.name, i))
            _accumulate(b, grads, rw.get(out), h, None)
        loss_ops = {out.op for out in g.outputs[:n_diff] if out.op is not None
                    and _is_loss(out.op)}
        # a tap names one op: names shared by several ops (a composite expanded into
        # primitives that keep its name) have no single gradient to report
        names: dict = {}
        for op in g.ops:
            names[op.name] = names.get(op.name, 0) + 1
        tapped = {p.op for p in self.taps if p.kind == "grad" and names.get(p.op) == 1}
        contrib: dict = {}      # op name -> its vjp's per-input gradients (tapped ops only)
        # values that depend on an input whose gradient is wanted: an op none of whose inputs
        # does needs no vjp (a gradient flowing into it would be dropped anyway)
        wanted = None if self.wrt is None else set(self.wrt)
        live = {v for v in g.inputs if wanted is None or v.name in wanted}
        for op in g.ops:
            if any(v in live for v in op.inputs):
                live.update(op.outputs)
        for op in reversed(g.ops):
            nop = new_ops[op]
            gs = [grads.get(v) for v in nop.outputs]
            is_loss = op in loss_ops
            if not is_loss and all(x is None for x in gs):
                continue
            if op.name not in tapped and not any(v in live for v in op.inputs):
                continue
            od = op.opdef
            if isinstance(od.lower, View) and od.vjp is None and \
                    any(v.dtype is not None and v.dtype.is_float for v in op.inputs):
                # a view moves values: it always has a gradient, so one without a rule is a
                # missing rule, not a zero gradient
                raise GraphError(f"autodiff: {op.opname} '{op.name}' has no gradient rule "
                                 f"(a view meant for after autodiff reached by a gradient)")
            if not od.differentiable or od.vjp is None:
                continue
            if len(gs) == 1:
                g_arg = gs[0]
            else:
                g_arg = [x if x is not None else b.zeros_like(v) for x, v in zip(gs, nop.outputs)]
            start = len(b.ops)
            in_grads = od.vjp(b, nop, g_arg)
            for new in b.ops[start:]:
                if new.name is None:
                    new.name = f"{op.name}_backward" if op.name else None
            in_grads = list(in_grads) if isinstance(in_grads, (list, tuple)) else [in_grads]
            if len(in_grads) < len(nop.inputs):
                in_grads += [None] * (len(nop.inputs) - len(in_grads))
            if op.name in tapped and op.name not in contrib:
                contrib[op.name] = (op, nop, list(in_grads))
            for v, gi in zip(nop.inputs, in_grads):
                if gi is None:
                    continue
                if gi.type.shape != v.type.shape:
                    raise GraphError(f"{op.opname} '{op.name}': vjp gives gradient of shape "
                                     f"{gi.type.shape} for input %{v.name} of shape "
                                     f"{v.type.shape}")
                _accumulate(b, grads, v, gi, op.name)
        wrt = self.wrt if self.wrt is not None else [v.name for v in g.inputs]
        by_name = {v.name: rw.get(v) for v in g.inputs}
        outs = [rw.get(v) for v in g.outputs]
        n_forward = len(outs)
        for n in wrt:
            if n not in by_name:
                raise GraphError(f"autodiff: {n!r} is not an input of @{g.name}")
            v = by_name[n]
            gv = grads.get(v)
            if gv is None:
                gv = b.zeros_like(v)
            elif gv.type.dtype != v.type.dtype:
                gv = b.cast(gv, v.type.dtype)
            if gv.op is not None and gv.name is None:
                gv.name = grad_name(v)
            outs.append(gv)
        pins = tuple(g.attrs.get("pins", ())) + self._append_taps(g, b, outs, contrib, wrt)
        # later passes keep forward and backward work apart (the runtime runs them separately)
        return b.build(outs).with_attrs(forward_outputs=n_forward, head_grads=tuple(heads) or None,
                                        pins=pins or None)

    def _append_taps(self, g, b, outs, contrib, wrt) -> tuple:
        """Gradient pins as outputs after the gradients; returns their ``pins`` attribute
        entries. An op takes part in the gradient (MXNet gives it a backward node) when its vjp
        ran and it reads, directly or not, one of the inputs differentiated; an input its vjp
        gives no gradient (a label) gets zeros."""
        grads = [p for p in self.taps if p.kind == "grad"]
        if not grads:
            return ()
        granted = []
        wrt_inputs = {v for v in g.inputs if v.name in set(wrt)}
        reaches = set(wrt_inputs)
        for op in g.ops:
            if any(v in reaches for v in op.inputs):
                reaches.update(op.outputs)
        for p in grads:
            entry = contrib.get(p.op)
            if entry is None:
                continue
            op, nop, in_grads = entry
            if not any(v in reaches for v in op.inputs) or p.index >= len(nop.inputs):
                continue
            gv = in_grads[p.index]
            if gv is None:
                n0 = len(b.ops)
                gv = b.zeros_like(nop.inputs[p.index])
                for new in b.ops[n0:]:
                    new.name = new.name or f"{op.name}_backward"
            if gv.name is None:
                gv.name = f"{op.name}_in{p.index}_grad"
            if gv not in outs:          # already returned (a gradient asked for): no copy
                outs.append(gv)
            granted.append((outs.index(gv),) + p.record())
        return tuple(granted)


def _is_loss(op) -> bool:
    """A loss layer: trait LOSS, or an op whose ``extra["is_loss"](op)`` says so per instance
    (a Custom op whose Prop has ``need_top_grad=False``)."""
    if LOSS in op.opdef.traits:
        return True
    rule = op.opdef.extra.get("is_loss")
    return bool(rule(op)) if rule is not None else False


def _expand_vjp_free(g: Graph) -> Graph:
    """Differentiable composites without a vjp (the fused RNN op) are differentiated through
    their decomposition: expand them first."""
    if not any(op.opdef.vjp is None and op.opdef.decompose is not None and op.opdef.differentiable
               for op in g.ops):
        return g
    from .decompose import expand_op
    rw = Rewriter(g)
    for op in g.ops:
        od = op.opdef
        if od.vjp is None and od.decompose is not None and od.differentiable:
            tmp = Op(op.opname, [rw.get(v) for v in op.inputs], op.attrs,
                     [Value(v.type, v.name) for v in op.outputs], op.name, op.body)
            for old, new in zip(op.outputs, expand_op(rw.b, tmp)):
                rw.alias(old, new)
        else:
            rw.copy(op)
    return rw.finish()


def _accumulate(b, grads, v, gi, opname):
    prev = grads.get(v)
    if prev is None:
        grads[v] = gi
        return
    n0 = len(b.ops)
    p, q = prev.op, gi.op
    if (p is not None and q is not None and p.opname == q.opname == "sum"
            and p.attrs == q.attrs and p.inputs[0].type == q.inputs[0].type):
        # sum(a) + sum(b) -> sum(a + b): a parameter read at every step of an unrolled
        # network (a bias) gets one reduction of the summed step gradients instead of one
        # reduction per step (the per-step sums are left to DCE)
        s = b.op("sum", [b.op("elemwise_add", [p.inputs[0], q.inputs[0]])], p.attrs)
    else:
        s = b.op("elemwise_add", [prev, gi]) if prev.shape == gi.shape else b.add(prev, gi)
    for new in b.ops[n0:]:
        new.name = new.name or (f"{opname}_backward" if opname else None)
    grads[v] = s
