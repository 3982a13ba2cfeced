"""Batch matrix products across a graph: few large GEMMs instead of many small ones.

An unrolled RNN multiplies every time step's input by the same weight, and its weight
gradient is a sum over time of products. Libraries are far more efficient on one large GEMM
than on T small ones, so (what cuDNN's fused RNN does by hand, found here in any graph):

1. *Shared right operand*: independent ``dot(A_i, W)`` (no ``A_i`` depends on another one's
   result) become ``dot(concat(A_i), W)``, split back into row blocks (views, which fuse).
   ``# sum_i-indexed rows:  [A_0; A_1; ...] W = [A_0 W; A_1 W; ...]``
2. *Sum of products*: ``dot(A_0^T, B_0) + dot(A_1^T, B_1) + ...`` (an add tree whose leaves are
   used only there) becomes ``dot(concat(A)^T, concat(B))``.
   ``# sum_t A_t^T B_t = [A_0; A_1; ...]^T [B_0; B_1; ...]``

Groups smaller than ``min_group`` are left alone; every rewrite is a remark.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.core import Builder, Graph, Op, Value
from .base import Pass, PassContext

__all__ = ["BatchDots", "toposort"]


def toposort(g: Graph) -> Graph:
    """The graph with its ops in a topological order that keeps the given order where it can
    (Kahn's algorithm, ready ops by their original position)."""
    import heapq
    pos = {op: i for i, op in enumerate(g.ops)}
    prod = {v: op for op in g.ops for v in op.outputs}
    indeg = {}
    users: dict = {}
    for op in g.ops:
        deps = {prod[v] for v in op.inputs if v in prod}
        indeg[op] = len(deps)
        for d in deps:
            users.setdefault(d, []).append(op)
    heap = [(pos[op], id(op), op) for op in g.ops if indeg[op] == 0]
    heapq.heapify(heap)
    out = []
    while heap:
        _, _, op = heapq.heappop(heap)
        out.append(op)
        for u in users.get(op, []):
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, (pos[u], id(u), u))
    if len(out) != len(g.ops):
        from ..base import GraphError
        raise GraphError(f"@{g.name}: the graph has a cycle")
    return Graph(g.name, g.inputs, out, g.outputs)


def _is_dot(op, ta=None, tb=None):
    if op is None or op.opname != "dot":
        return False
    a = op.attrs
    return (ta is None or a["transpose_a"] == ta) and (tb is None or a["transpose_b"] == tb) \
        and len(op.inputs[0].shape) == 2 and len(op.inputs[1].shape) == 2


@dataclass
class BatchDots(Pass):
    name = "batch_dots"
    min_group: int = 2

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        users = g.users()
        outs = set(g.outputs)
        # dependency bitsets over candidate dots: bit i set in dep[v] if v depends on dot i
        cands = [op for op in g.ops if _is_dot(op, ta=False)]
        bit = {op: 1 << i for i, op in enumerate(cands)}
        dep: dict[Value, int] = {v: 0 for v in g.inputs}
        for op in g.ops:
            m = 0
            for v in op.inputs:
                m |= dep.get(v, 0)
            m |= bit.get(op, 0)
            for v in op.outputs:
                dep[v] = m
        replace: dict[Op, list] = {}      # old op -> (new ops to emit there, value mapping)
        b = Builder(g.name)
        b.inputs = list(g.inputs)
        new_ops: list[Op] = []
        alias: dict[Value, Value] = {}
        removed: set = set()

        # 1. independent dots sharing their right operand
        groups: dict = {}
        for op in cands:
            key = (id(op.inputs[1]), op.attrs["transpose_b"], op.inputs[0].shape[1],
                   op.inputs[0].dtype)
            groups.setdefault(key, []).append(op)
        for members in groups.values():
            if len(members) < self.min_group:
                continue
            gm = 0
            for op in members:
                gm |= bit[op]
            if any(dep[op.inputs[0]] & gm for op in members):
                continue                   # sequential (an RNN's recurrent products)
            self._batch_rows(b, members, new_ops, alias, removed)
            ctx.remark(self.name, "batched", f"{len(members)} products with "
                                             f"%{members[0].inputs[1].name} -> one GEMM")

        # 2. sums of products A_t^T B_t
        for op in g.ops:
            if op.opname != "elemwise_add" or op in removed:
                continue
            leaves = self._sum_leaves(op, users, outs, removed)
            if leaves is None or len(leaves) < self.min_group:
                continue
            # the root must not feed another add of the same tree (take maximal trees only)
            if any(u.opname == "elemwise_add" and self._sum_leaves(u, users, outs, removed)
                   for u in users.get(op.outputs[0], [])):
                continue
            self._batch_sum(b, op, leaves, new_ops, alias, removed, users)
            ctx.remark(self.name, "batched", f"a sum of {len(leaves)} products "
                                             f"({op.name or op.opname}) -> one GEMM")
        if not new_ops:
            return g
        return _rebuild(g, [op for op in g.ops if op not in removed] + new_ops, alias)

    # -- rewrites -----------------------------------------------------------------------------------
    def _batch_rows(self, b, members, new_ops, alias, removed):
        rhs = members[0].inputs[1]
        tb = members[0].attrs["transpose_b"]
        lhs = [op.inputs[0] for op in members]
        start = len(b.ops)
        cat = b.op("Concat", lhs, {"dim": 0, "num_args": len(lhs)})
        big = b.dot(cat, rhs, transpose_b=tb)
        row = 0
        for op in members:
            n = op.inputs[0].shape[0]
            part = b.op("slice_axis", [big], {"axis": 0, "begin": row, "end": row + n})
            row += n
            alias[op.outputs[0]] = part
            removed.add(op)
        for o in b.ops[start:]:
            o.name = o.name or members[0].name
        new_ops.extend(b.ops[start:])
        del b.ops[start:]

    def _sum_leaves(self, op, users, outs, removed):
        """Leaves dot(A^T, B) of the add tree rooted at ``op`` (None if not such a tree)."""
        leaves = []
        stack = [op]
        while stack:
            o = stack.pop()
            for v in o.inputs:
                p = v.op
                single = len(users.get(v, [])) == 1 and v not in outs
                if p is not None and p.opname == "elemwise_add" and single and p not in removed:
                    stack.append(p)
                elif p is not None and _is_dot(p, ta=True, tb=False) and single and \
                        p not in removed:
                    leaves.append(p)
                else:
                    return None
        shapes = {(lf.inputs[0].shape[1], lf.inputs[1].shape[1], lf.inputs[0].dtype)
                  for lf in leaves}
        return leaves if len(shapes) == 1 else None

    def _batch_sum(self, b, root, leaves, new_ops, alias, removed, users):
        start = len(b.ops)
        a = b.op("Concat", [lf.inputs[0] for lf in leaves], {"dim": 0, "num_args": len(leaves)})
        c = b.op("Concat", [lf.inputs[1] for lf in leaves], {"dim": 0, "num_args": len(leaves)})
        total = b.dot(a, c, transpose_a=True)
        for o in b.ops[start:]:
            o.name = o.name or root.name
        total.name = root.outputs[0].name
        alias[root.outputs[0]] = total
        # the tree's adds and dots go away
        stack = [root]
        while stack:
            o = stack.pop()
            removed.add(o)
            for v in o.inputs:
                p = v.op
                if p is not None and p in leaves:
                    removed.add(p)
                elif p is not None and p.opname == "elemwise_add" and p not in removed:
                    stack.append(p)
        new_ops.extend(b.ops[start:])
        del b.ops[start:]


def _final(alias, v):
    while v in alias:
        v = alias[v]
    return v


def _rebuild(g: Graph, ops: list, alias: dict) -> Graph:
    """A fresh graph of ``ops`` (old ops kept, new ops added) in a topological order, with
    every use of a replaced value pointing at its replacement."""
    import heapq
    prod = {}
    for op in ops:
        for v in op.outputs:
            prod[v] = op
    pos = {op: i for i, op in enumerate(ops)}
    deps = {op: {prod[_final(alias, v)] for v in op.inputs if _final(alias, v) in prod}
            for op in ops}
    users: dict = {}
    for op, ds in deps.items():
        for d in ds:
            users.setdefault(d, []).append(op)
    indeg = {op: len(ds) for op, ds in deps.items()}
    heap = [(pos[op], id(op), op) for op in ops if indeg[op] == 0]
    heapq.heapify(heap)
    b = Builder(g.name)
    m: dict = {}
    for v in g.inputs:
        m[v] = b.input(v.name, v.type)
    n = 0
    while heap:
        _, _, op = heapq.heappop(heap)
        n += 1
        outs = [Value(v.type, v.name) for v in op.outputs]
        b.ops.append(Op(op.opname, [m[_final(alias, v)] for v in op.inputs], op.attrs, outs,
                        op.name, op.body))
        for o, nv in zip(op.outputs, outs):
            m[o] = nv
        for u in users.get(op, []):
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, (pos[u], id(u), u))
    if n != len(ops):
        from ..base import GraphError
        raise GraphError(f"@{g.name}: batching matrix products created a cycle")
    return b.build([m[_final(alias, v)] for v in g.outputs])
