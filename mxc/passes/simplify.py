"""Local simplifications, registered by op name; each rule states its math in a comment.

A rule gets the op (with inputs already mapped into the new graph) and returns the Value that
replaces its single output, or None to keep the op.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.core import Graph, Op, Rewriter, Value
from ..ir.registry import View
from .base import Pass, PassContext

__all__ = ["Simplify", "RULES", "rule"]

RULES: dict = {}


def rule(*opnames):
    def deco(fn):
        for n in opnames:
            RULES.setdefault(n, []).append(fn)
        return fn
    return deco


@rule("_copy", "BlockGrad")
def _identity(b, op, x):
    # copy(x) -> x ; BlockGrad(x) -> x (after autodiff it is the identity)
    return x


@rule("Reshape", "Flatten", "expand_dims", "broadcast_to", "transpose")
def _same_shape_view(b, op, x):
    # view(x) -> x when nothing moves
    if op.opname == "transpose":
        return None
    return x if tuple(x.shape) == tuple(op.outputs[0].shape) else None


@rule("Reshape", "Flatten", "expand_dims")
def _reshape_chain(b, op, x):
    # reshape(reshape(x)) -> reshape(x)
    p = x.op
    if p is not None and isinstance(p.opdef.lower, View) and p.opdef.lower.kind == "reshape":
        return b.reshape(p.inputs[0], op.outputs[0].shape)
    return None


@rule("transpose")
def _transpose(b, op, x):
    from ..ir.opdefs.shape import _AttrsRC, _perm
    perm = _perm(_AttrsRC(op.attrs), len(x.shape))
    # transpose(x, identity) -> x
    if perm == tuple(range(len(perm))):
        return x
    # transpose(transpose(x, p), q) -> transpose(x, p o q)
    p = x.op
    if p is not None and p.opname == "transpose":
        inner = _perm(_AttrsRC(p.attrs), len(x.shape))
        return b.transpose(p.inputs[0], tuple(inner[i] for i in perm))
    return None


@rule("Cast")
def _cast(b, op, x):
    # cast(x, dtype(x)) -> x
    return x if x.dtype == op.outputs[0].dtype else None


@rule("_mul_scalar", "_div_scalar", "_power_scalar")
def _scalar_one(b, op, x):
    # x*1 -> x ; x/1 -> x ; x**1 -> x
    return x if op.attrs["scalar"] == 1.0 else None


@rule("_plus_scalar", "_minus_scalar")
def _scalar_zero(b, op, x):
    # x+0 -> x ; x-0 -> x
    return x if op.attrs["scalar"] == 0.0 else None


@rule("negative")
def _double_neg(b, op, x):
    # -(-x) -> x
    p = x.op
    return p.inputs[0] if p is not None and p.opname == "negative" else None


@dataclass
class Simplify(Pass):
    name = "simplify"

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        rw = Rewriter(g)
        for op in g.ops:
            rules = RULES.get(op.opname)
            if rules and len(op.outputs) == 1 and op.inputs:
                ins = [rw.get(v) for v in op.inputs]
                tmp = Op(op.opname, ins, op.attrs, [Value(v.type, v.name) for v in op.outputs],
                         op.name)
                rep = None
                n_before = len(rw.b.ops)
                for r in rules:
                    rep = r(rw.b, tmp, ins[0])
                    if rep is not None:
                        break
                if rep is not None and rep.type == op.outputs[0].type:
                    for new in rw.b.ops[n_before:]:
                        new.name = new.name or op.name
                    if rep.name is None:
                        rep.name = op.outputs[0].name
                    rw.alias(op.outputs[0], rep)
                    continue
                del rw.b.ops[n_before:]
            rw.copy(op)
        return rw.finish()
