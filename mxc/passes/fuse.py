"""Fusion: group primitives into ``fused`` ops, each of which codegen turns into one kernel.

The decision is which values are *materialized* (written to memory); everything else is
computed inside the kernels that need it (and recomputed if two kernels need it, when cheap).
A value is materialized when it is

- a graph output, or an operand or result of a library call (GEMM, convolution);
- needed by two or more kernels and too expensive to recompute (``recompute_limit``), or a
  reduction needed by two or more kernels;
- a reduction whose iteration space does not fit the kernel that would inline it, or that a
  consumer reads at other points than the reduction's own grid point (``transpose(softmax(x))``:
  equal shapes when ``x`` is square, but row ``j``'s max read at output point ``(i, j)``).

Legality is decided on indexing, not shapes: the index expressions of every candidate kernel
are walked (:func:`~mxc.codegen.lower.probe_group`, which emits no instructions: kernels are
lowered once, after fusion, by the program builder), saying at which points each value is
read after the views in between (transpose, broadcast, slice, reshape). A reduction fuses into
its consumers only where they read it at its grid point; two kernels merge only if that holds
in the merged kernel and no expensive value one writes is recomputed at other points for the
other; an anchor stops being stored only where the kernel computes it at the one point it was
stored at.

Each materialized value produced by a primitive anchors a kernel whose *cone* is the primitives
reachable upstream without crossing another materialized value. Kernels with the same iteration
space whose cones overlap, or where one reads the other, then merge into one multi-output kernel
when that creates no cycle and still lowers. Every decision that keeps work apart is a remark
(``mxc dump --why-no-fuse``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..codegen.kir import formula_cost
from ..codegen.lower import (IndexMismatch, LoweringError, group_structure, probe_group,
                              unreshaped_shape)
from ..ir.core import Builder, Graph, Op, Value, frozen
from ..ir.registry import Elementwise, Reduce, View
from ..ir.types import DType
from .base import Pass, PassContext
from .pin import graph_pins

__all__ = ["Fuse", "op_cost"]

_FORMULA_COST: dict = {}
# a recompute cost above this is reported as "over" it (the walk stops there)
_COST_SHOWN = 200


def _cone_cost(ops, memo: dict) -> int:
    """Sum of :func:`op_cost` over ``ops``, memoized per op for one run of the pass."""
    total = 0
    for o in ops:
        c = memo.get(o)
        if c is None:
            c = memo[o] = op_cost(o)
        total += c
    return total


def op_cost(op: Op) -> int:
    """Rough cost per element, read off the OpDef: a view 0, a reduction 1000, an elementwise
    op what its formula costs (:func:`mxc.codegen.kir.formula_cost`: 10 per transcendental ALU
    op in it, else 1), or what the OpDef says (``extra["cost"]``: a Philox random generator is
    ~60 integer ops)."""
    low = op.opdef.lower
    if isinstance(low, View):
        return 0
    if isinstance(low, Reduce):
        return 1000
    if "cost" in op.opdef.extra:
        return op.opdef.extra["cost"]
    if not isinstance(low, Elementwise):
        return 1
    dtypes = tuple(v.dtype or DType.f32 for v in op.inputs)
    ndim = len(op.outputs[0].shape or ())
    key = (op.opname, frozen(op.attrs), dtypes, ndim)
    c = _FORMULA_COST.get(key)
    if c is None:
        c = _FORMULA_COST[key] = formula_cost(low.fn, op.attrs, dtypes, ndim)
    return c


_FUSIBLE: dict[str, bool] = {}


def _fusible(op: Op) -> bool:
    f = _FUSIBLE.get(op.opname)
    if f is None:
        f = _FUSIBLE[op.opname] = isinstance(op.opdef.lower, (Elementwise, View, Reduce))
    return f


@dataclass
class _Kernel:
    anchors: list           # materialized values it writes, in order
    cone: frozenset         # primitive ops it computes (never mutated: cones are shared)
    structure: tuple | None = None
    nbytes: int | None = None   # what it writes (memoized by _anchor_bytes)
    fine: bool | None = None    # recomputes no expensive anchor elsewhere (_Fusion._fine)
    has_reduce: bool | None = None
    refined: frozenset | None = None   # see _refined
    phase: int | None = None           # see _Fusion._kphase
    name: str | None = None            # see _kname


@dataclass
class Fuse(Pass):
    """Group primitives into ``fused`` ops (see module doc)."""

    name = "fuse"
    recompute_limit: int = 8
    # two kernels that each write more than this do not merge: merging saves one launch but
    # keeps both results live at once (batch blocks of im2col columns must come and go)
    merge_limit_bytes: int = 256 << 10
    merge: bool = True
    # the merge phase's work grows with the square of the units (kernels and library calls:
    # its reachability map is updated at every merge); above this many it is skipped, with a
    # remark. Measured on the CPU: merging changed no step time of ResNet-18 (2454 units) or a
    # 60-step unrolled LSTM (2007) and took 15-25% of their compile time; small graphs (an
    # optimizer update, LeNet, the short buckets of a bucketing module) still merge
    merge_max_units: int = 1024

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        return _Fusion(self).run(g, ctx)


class _Fusion:
    """One run of :class:`Fuse`: the pass object holds only its options; what a run learns
    (phases, index walks tried, recompute costs, readers) lives here and dies with it."""

    def __init__(self, cfg: Fuse):
        self.name = cfg.name
        self.recompute_limit = cfg.recompute_limit
        self.merge_limit_bytes = cfg.merge_limit_bytes
        self.merge = cfg.merge
        self.merge_max_units = cfg.merge_max_units

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        self._phase = _phases(g, g.attrs.get("forward_outputs"))
        self._probed: dict = {}
        self._costs: dict = {}
        self._users: dict = {}
        for op in g.ops:
            for v in op.inputs:
                self._users.setdefault(v, []).append(op)
        prod = {v: op for op in g.ops for v in op.outputs}
        order = {op: i for i, op in enumerate(g.ops)}
        mat: set[Value] = set(g.outputs)
        why: dict[Value, str] = {v: "graph output" for v in g.outputs}
        _remark_pins(g, prod, ctx, self.name)
        for op in g.ops:
            if not _fusible(op):
                lib = f"library call {_opdesc(op)}"
                for v in op.inputs:
                    if v in prod and v not in mat:
                        mat.add(v)
                        why[v] = f"operand of {lib}"
                for v in op.outputs:
                    mat.add(v)
                    why.setdefault(v, f"result of {lib}")

        cones: dict = {}
        # downstream first (see _refine)
        candidates = [op for op in reversed(g.ops) if _fusible(op)]
        for _ in range(len(g.ops) + 1):
            changed = self._refine(candidates, lambda: self._cones(g, mat, prod, cones),
                                   mat, why, prod, order, ctx)
            if not changed:
                break
        kernels = self._cones(g, mat, prod, cones)
        merge = self.merge
        if merge:
            units = len(kernels) + sum(1 for op in g.ops if not _fusible(op))
            if units > self.merge_max_units:
                merge = False
                ctx.remark(self.name, "no-merge",
                           f"@{g.name}: {units} kernels and library calls, over "
                           f"merge_max_units={self.merge_max_units}: kernels are not merged")
        if merge:
            for kern in kernels:
                kern.structure = group_structure(_body_for(kern, mat, prod, order)[0])
            kernels = self._merge(g, kernels, mat, prod, order, ctx)
            self._prune_anchors(g, kernels, mat, why, prod, order)
        for v, reason in why.items():
            if v in prod and _fusible(prod[v]) and reason not in ("graph output",):
                ctx.remark(self.name, "materialize",
                           f"{_vname(v)} ({_opdesc(prod[v])}): {reason}")
        return self._emit(g, kernels, mat, prod, order)

    # -- cones ------------------------------------------------------------------------------------
    @staticmethod
    def _cones(g, mat, prod, cache: dict | None = None) -> list[_Kernel]:
        """A kernel per materialized value: its cone, the fusible ops upstream up to other
        materialized values. ``cache`` ({"cone": anchor -> frozenset, "member": op -> anchors,
        "mat": values seen}) carries cones between calls: a cone is recomputed only when one
        of its ops got a newly materialized output (the refinement rounds of an unrolled
        network each split a few kernels; recomputing every cone each round was quadratic)."""
        if cache is None:
            cache = {}
        cones = cache.setdefault("cone", {})
        member = cache.setdefault("member", {})
        _invalidate_cones(mat, prod, cache)
        kernels = []
        for op in g.ops:
            if not _fusible(op):
                continue
            for v in op.outputs:
                if v not in mat:
                    continue
                cone = cones.get(v)
                if cone is None:
                    cone = cones[v] = frozenset(_subcone(op, mat, prod))
                    for o in cone:
                        member.setdefault(o, set()).add(v)
                kernels.append(_Kernel([v], cone))
        return kernels

    def _refine(self, candidates, kernels_now, mat, why, prod, order, ctx) -> bool:
        """Materialize shared expensive values and misfitting reductions; True if any.

        Shared values (computed by two or more kernels) are visited from the last in program
        order to the first (``candidates``: the fusible ops in that order): materializing a
        downstream value (an LSTM's cell state) may leave the values above it (the gates)
        read by one kernel only, so each value is judged on the kernels that read it now
        (:func:`_readers`, a walk down to the nearest materialized values, which the sweep
        has just settled). An unrolled network's backward chain is thus settled in one sweep,
        not a round per step, and no cone is computed before it is (the cones of an unsettled
        chain each hold the whole chain). Visiting in a fixed order also keeps the result
        independent of how sets of ops happen to hash. The kernels (``kernels_now()``) are
        formed only once no shared value changes, to find the reductions that misfit."""
        changed = False
        # shared reductions first: once they are materialized, recomputing the cheap ops above
        # them (x - mean in a normalization) no longer counts them
        reductions = [op for op in candidates if isinstance(op.opdef.lower, Reduce)]
        for group in (reductions, candidates):
            for op in group:
                if all(v in mat for v in op.outputs):
                    continue
                ks = _readers(op, mat, self._users)
                if len(ks) < 2:
                    continue
                if isinstance(op.opdef.lower, Reduce):
                    cost, whole = 1000, True
                else:
                    # only whether it exceeds the limit matters: the walk stops a little past
                    # it (an unsettled chain's cone is the rest of the chain)
                    cost, whole = self._bounded_cost(op, mat, prod, _COST_SHOWN)
                if cost > self.recompute_limit:
                    shown = f"{cost}" if whole else f"over {_COST_SHOWN}"
                    for v in op.outputs:
                        if v not in mat:
                            mat.add(v)
                            why[v] = (f"needed by {len(ks)} kernels; recomputing costs {shown}"
                                      if cost < 1000 else
                                      f"reduction needed by {len(ks)} kernels")
                    changed = True
            if changed:
                return True
        kernels = kernels_now()
        for k in kernels:
            if not _has_reduce(k):
                continue        # one output, no reduction: nothing can misfit
            key = (tuple(k.anchors), frozenset(k.cone))
            if key in self._probed:
                continue
            body, _, m = _body_for(k, mat, prod, order, with_map=True)
            try:
                walk = probe_group(body)
            except LoweringError as e:
                if isinstance(e, IndexMismatch):
                    # a consumer reads the reduction off its grid point: it is computed by a
                    # kernel of its own and read from memory at whatever points are needed
                    back = {bv: v for v, bv in m.items()}
                    v = back.get(e.op.outputs[0])
                    if v is not None and v not in mat:
                        mat.add(v)
                        why[v] = (f"read off its grid point in the kernel of "
                                  f"{_vname(k.anchors[0])} ({_kname(k, order)}): {e}")
                        changed = True
                        continue
                reduces = [op for op in k.cone if isinstance(op.opdef.lower, Reduce)
                           and op.outputs[0] not in k.anchors]
                if not reduces:
                    raise
                for op in reduces:
                    v = op.outputs[0]
                    mat.add(v)
                    why[v] = f"iteration space does not fit its consumer: {e}"
                changed = True
                continue
            self._probed[key] = (walk, m)
        # every kernel's first misfit is fixed in the same round: a reduction left in a cone
        # at this point is in no other kernel's (shared ones were materialized above), so
        # splitting one kernel does not change what the others read
        return changed

    # -- horizontal merging ------------------------------------------------------------------------
    def _merge(self, g, kernels, mat, prod, order, ctx):
        """Merge kernels greedily over the candidate pairs, in one pass: kernels are
        union-find sets, and a merge is refused when it would create a cycle through another
        step (read off reachability bitsets over the contracted graph of kernels and library
        calls, updated at each merge)."""
        ug = _UnitGraph(g, kernels, mat, prod, order)
        n = len(ug.units)
        parent = list(range(n))
        current = {i: kernels[i] for i in range(len(kernels))}
        deps = [set(r) for r in ug.reads]

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        # reachability as bitsets over the original units: mask[r] has the bits of the units
        # merged into representative r, anc[r] those of every unit r depends on (through the
        # contracted graph); a merge only adds paths, so it ORs into the units that reached
        # either part (an exact map, no search per candidate pair)
        mask = [1 << u for u in range(n)]
        anc = [0] * n
        for u in ug.topo_order():
            acc = 0
            for d in deps[u]:
                acc |= mask[d] | anc[d]
            anc[u] = acc
        live = set(range(n))

        def reaches(src, dst) -> bool:
            """Is there a path dst -> ... -> X -> ... -> src with X not src or dst?
            (edges point from a unit to the units it reads)"""
            for d in deps[dst]:
                d = find(d)
                if d != src and d != dst and anc[d] & mask[src]:
                    return True
            return False

        def contract(i, j):
            both = mask[i] | mask[j]
            mask[i] = both
            anc[i] = (anc[i] | anc[j]) & ~both
            reach = both | anc[i]
            live.discard(j)
            for u in live:
                if u != i and anc[u] & both:
                    anc[u] |= reach

        noted = set()
        for i0, j0 in ug.merge_candidates():
            i, j = find(i0), find(j0)
            if i == j:
                continue
            a, b = current[i], current[j]
            merged_structure = _compatible(a.structure, b.structure)
            if merged_structure is None:
                continue
            if self._kphase(a) != self._kphase(b):
                continue            # forward and backward run at different times
            big = min(_anchor_bytes(a), _anchor_bytes(b))
            if big > self.merge_limit_bytes:
                if (i, j) not in noted:
                    noted.add((i, j))
                    ctx.remark(self.name, "no-merge",
                               f"{_kname(a, order)} and {_kname(b, order)}: each writes over "
                               f"{self.merge_limit_bytes} bytes (merged, both stay live)")
                continue
            if reaches(i, j) or reaches(j, i):
                if (i, j) not in noted:
                    noted.add((i, j))
                    ctx.remark(self.name, "no-merge",
                               f"{_kname(a, order)} and {_kname(b, order)}: another step lies "
                               "between them")
                continue
            cand = _Kernel(a.anchors + b.anchors, a.cone | b.cone, merged_structure)
            recompute = None
            if self._independent(a, b, mat, prod, order):
                # nothing to walk: the merged kernel computes each part's values at the points
                # the part alone does; only the outputs' shapes must make one iteration space
                # (what group_structure decides for a pointwise body)
                cand.refined = _refined(a) | _refined(b)
                if len(cand.refined) > 1:
                    shape = tuple(cand.anchors[0].shape)
                    odd = next((v for v in cand.anchors if tuple(v.shape) != shape), None)
                    if odd is not None:
                        recompute = (f"pointwise group outputs differ in shape: {shape} and "
                                     f"{tuple(odd.shape)}")
            else:
                try:
                    body, _, m = _body_for(cand, mat, prod, order, with_map=True)
                    lw = probe_group(body)
                except LoweringError as e:
                    recompute = str(e)
                else:
                    recompute = self._recomputed_anchor(cand, lw, m, mat, prod)
            cand.fine = not recompute
            if recompute:
                if (i, j) not in noted:
                    noted.add((i, j))
                    ctx.remark(self.name, "no-merge",
                               f"{_kname(a, order)} and {_kname(b, order)}: {recompute}")
                continue
            parent[j] = i
            current[i] = cand
            del current[j]
            deps[i] = {find(d) for d in deps[i] | deps[j]} - {i}
            contract(i, j)
        return list(current.values())

    def _bounded_cost(self, op, mat, prod, cap):
        """(cost of the ops a kernel recomputes to produce ``op``'s results, whether that is
        all of it): the walk of :func:`_subcone` summing :func:`op_cost`, stopped once the
        sum passes ``cap``."""
        costs = self._costs
        seen = set()
        stack = [op]
        total = 0
        while stack:
            o = stack.pop()
            if o in seen:
                continue
            seen.add(o)
            c = costs.get(o)
            if c is None:
                c = costs[o] = op_cost(o)
            total += c
            if total > cap:
                return total, False
            for u in o.inputs:
                p = prod.get(u)
                if p is not None and u not in mat and _fusible(p):
                    stack.append(p)
        return total, True

    def _fine(self, k, mat, prod, order) -> bool:
        """Whether kernel ``k`` alone computes every anchor only at the point it stores it
        at (or recomputes only cheap ones there): what :meth:`_recomputed_anchor` accepts."""
        if k.fine is None and len(k.anchors) == 1:
            k.fine = True       # its one output is read by no op inside it (a DAG)
        if k.fine is None:
            hit = self._probed.get((tuple(k.anchors), frozenset(k.cone)))
            try:
                if hit is None:
                    body, _, m = _body_for(k, mat, prod, order, with_map=True)
                    hit = (probe_group(body), m)
                k.fine = self._recomputed_anchor(k, hit[0], hit[1], mat, prod) is None
            except LoweringError:
                k.fine = False
        return k.fine

    def _independent(self, a, b, mat, prod, order) -> bool:
        """Whether merging ``a`` and ``b`` needs no walk of the merged kernel: neither holds a
        reduction (whose grid point a reader must match), neither reads what the other
        writes (so no anchor gains readers at other points), and each alone is
        :meth:`_fine`. Overlapping cones are computed at the union of both parts' points,
        as they were in the two kernels."""
        if _has_reduce(a) or _has_reduce(b):
            return False
        for x, y in ((a, b), (b, a)):
            anchors = set(x.anchors)
            if any(u in anchors for op in y.cone for u in op.inputs):
                return False
        return self._fine(a, mat, prod, order) and self._fine(b, mat, prod, order)

    def _recomputed_anchor(self, kern, lw, m, mat, prod) -> str | None:
        """Why merging would recompute an expensive value, or None: an anchor that the other
        part reads at points other than the one it is stored at is computed again at each
        (merged, it is no longer loaded from memory). Equal shapes do not make equal points:
        ``transpose(y)`` of a square ``y`` reads ``y[j, i]`` at ``(i, j)``."""
        for v in kern.anchors:
            bv = m[v]
            extra = lw.access.get(bv, set()) - {lw.stored[bv]}
            if not extra:
                continue
            cost = _cone_cost(_subcone(v.op, mat, prod), self._costs)
            if cost > self.recompute_limit:
                at = sorted(str(list(p)) for p in extra)
                return (f"{_vname(v)} ({_opdesc(v.op)}) is written at "
                        f"{list(lw.stored[bv])} but read at {', '.join(at[:3])}"
                        f"{' ...' if len(at) > 3 else ''}; merged, its cone (cost {cost}) would "
                        "be computed again there")
        return None

    def _prune_anchors(self, g, kernels, mat, why, prod, order):
        """A value materialized for a consumer that merging then put in the same kernel is
        read by no other step: the kernel computes it and no longer stores it. Only where
        the kernel computes it at the one point it stored it at (its access map, after the
        views between it and its readers), so that it is computed once per element; a value
        read at other points (a transpose of it, even of the same shape) would be recomputed
        there."""
        read = set(g.outputs)
        for op in g.ops:
            if not _fusible(op):
                read.update(op.inputs)
        ext = [set(_external_inputs(k)) for k in kernels]
        for e in ext:
            read |= e
        for kern in kernels:
            drop = [v for v in kern.anchors if v not in read]
            if not drop or len(drop) == len(kern.anchors):
                continue
            try:
                body, _, m = _body_for(kern, mat, prod, order, with_map=True)
                stored = probe_group(body).stored
            except LoweringError:
                continue
            at = {v: stored[m[v]] for v in drop}
            while True:
                keep = [v for v in kern.anchors if v not in drop]
                if not keep:
                    break
                cand = _Kernel(keep, kern.cone, kern.structure)
                try:
                    body, _, m = _body_for(cand, mat, prod, order, with_map=True)
                    access = probe_group(body).access
                except LoweringError:
                    keep = []
                    break
                once = [v for v in drop if access.get(m[v], set()) <= {at[v]}]
                if len(once) == len(drop):
                    break
                drop = once
                if not drop:
                    keep = []
                    break
            if not keep:
                continue
            for v in kern.anchors:
                if v not in keep:
                    mat.discard(v)
                    why.pop(v, None)
            kern.anchors = keep

    def _unit_phase(self, u) -> int:
        if isinstance(u, Op):
            return self._phase.get(u, 0)
        return self._kphase(u)

    def _kphase(self, kern) -> int:
        if kern.phase is None:
            kern.phase = max(self._phase.get(v.op, 0) for v in kern.anchors)
        return kern.phase

    # -- emit ----------------------------------------------------------------------------------------
    def _emit(self, g, kernels, mat, prod, order):
        ug = _UnitGraph(g, kernels, mat, prod, order, self._unit_phase)
        b = Builder(g.name)
        m: dict[Value, Value] = {}
        for v in g.inputs:
            m[v] = b.input(v.name, v.type)
        n_kern = 0
        for u in ug.topo_order():
            payload = ug.units[u]
            if isinstance(payload, Op):
                outs = b.op(payload.opname, [m[v] for v in payload.inputs], payload.attrs,
                            payload.name, parsed=True,
                            out_types=[v.type for v in payload.outputs],
                            out_names=[v.name for v in payload.outputs])
                outs = outs if isinstance(outs, tuple) else (outs,)
                for o, n in zip(payload.outputs, outs):
                    m[o] = n
                continue
            body, ext = _body_for(payload, mat, prod, order)
            kname = f"k{n_kern}_{_kname(payload, order)}"
            n_kern += 1
            body.name = kname
            outs = b.op("fused", [m[v] for v in ext],
                        {"kernel": kname, "num_outputs": len(payload.anchors)},
                        _first_name(payload, order), body=body,
                        out_types=[v.type for v in payload.anchors],
                        out_names=[v.name for v in payload.anchors])
            outs = outs if isinstance(outs, tuple) else (outs,)
            for o, n in zip(payload.anchors, outs):
                m[o] = n
        return b.build([m[v] for v in g.outputs])


class _UnitGraph:
    """Kernels and library calls as a DAG over materialized values."""

    def __init__(self, g, kernels, mat, prod, order, phase_of=None):
        self.units: list = list(kernels) + [op for op in g.ops if not _fusible(op)]
        self.nk = len(kernels)
        owner: dict[Value, int] = {}
        for i, u in enumerate(self.units):
            for v in (u.anchors if i < self.nk else u.outputs):
                owner[v] = i
        self.owner = owner
        self.reads: list[set] = []
        self.pos = []
        for i, u in enumerate(self.units):
            # forward units first (the runtime splits the program there), then by position
            ph = phase_of(u) if phase_of else 0
            if i < self.nk:
                ext = _external_inputs(u)
                self.pos.append((ph, max(order[prod[v]] for v in u.anchors)))
            else:
                ext = u.inputs
                self.pos.append((ph, order[u]))
            self.reads.append({owner[v] for v in ext if v in owner and owner[v] != i})
        if phase_of:
            self._sink_backward_of_forward_values(phase_of)
        self.order = self._topo()

    def _sink_backward_of_forward_values(self, phase_of):
        """Backward work that reads only forward values (a pooling's argmax positions) runs
        just before its first reader instead of right after the forward: its inputs are kept
        for the backward anyway, and its result is not held across the steps in between."""
        first_reader = {}
        for u, r in enumerate(self.reads):
            for d in r:
                if d not in first_reader or self.pos[u] < first_reader[d]:
                    first_reader[d] = self.pos[u]
        for u, r in enumerate(self.reads):
            ph, at = self.pos[u]
            if ph == 1 and u in first_reader and all(self.pos[d][0] == 0 for d in r):
                later = first_reader[u]
                if later[0] == 1 and later[1] > at:
                    self.pos[u] = (1, later[1], -1)

    def _topo(self):
        import heapq
        n = len(self.units)
        indeg = [len(r) for r in self.reads]
        users = [[] for _ in range(n)]
        for u, r in enumerate(self.reads):
            for d in r:
                users[d].append(u)
        heap = [(self.pos[u], u) for u in range(n) if indeg[u] == 0]
        heapq.heapify(heap)
        out = []
        while heap:
            _, u = heapq.heappop(heap)
            out.append(u)
            for w in users[u]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    heapq.heappush(heap, (self.pos[w], w))
        if len(out) != n:
            raise LoweringError("fusion produced a cycle between kernels")
        return out

    def topo_order(self):
        return self.order

    def merge_candidates(self):
        """Kernel pairs whose cones overlap or where one reads the other."""
        by_op: dict = {}
        pairs = []
        seen = set()
        for i in range(self.nk):
            for op in self.units[i].cone:
                by_op.setdefault(op, []).append(i)
        for ks in by_op.values():
            for x in range(len(ks)):
                for y in range(x + 1, len(ks)):
                    p = (min(ks[x], ks[y]), max(ks[x], ks[y]))
                    if p not in seen:
                        seen.add(p)
                        pairs.append(p)
        for j in range(self.nk):
            for i in self.reads[j]:
                if i < self.nk:
                    p = (min(i, j), max(i, j))
                    if p not in seen:
                        seen.add(p)
                        pairs.append(p)
        # siblings: kernels reading the same buffer (one pass over it instead of two)
        by_input: dict = {}
        for i in range(self.nk):
            for v in _external_inputs(self.units[i]):
                by_input.setdefault(v, []).append(i)
        for ks in by_input.values():
            for x in range(len(ks)):
                for y in range(x + 1, min(len(ks), x + 9)):
                    p = (min(ks[x], ks[y]), max(ks[x], ks[y]))
                    if p not in seen:
                        seen.add(p)
                        pairs.append(p)
        return pairs


def _remark_pins(g, prod, ctx, pass_name):
    """Values pinned for a monitor (the graph's ``pins`` attribute, see mxc.passes.pin) are
    graph outputs, so each is stored by the kernel (or library call) that computes it while
    the rest of that kernel fuses as before; say which they are."""
    labels: dict = {}
    for p, i in graph_pins(g.attrs).items():
        labels.setdefault(i, p.describe())
    for i, label in sorted(labels.items()):
        v = g.outputs[i]
        p = prod.get(v)
        where = f" ({_opdesc(p)})" if p is not None else " (an input)"
        ctx.remark(pass_name, "pin", f"%{v.name}{where}: kept materialized for {label}")


def _refined(kern) -> frozenset:
    """The shapes a pointwise kernel's outputs are reshaped from inside it (the iteration
    space candidates of :func:`~mxc.codegen.lower.group_structure`)."""
    if kern.refined is None:
        cone = kern.cone
        kern.refined = frozenset(
            unreshaped_shape(v, lambda u: u.op is not None and u.op in cone)
            for v in kern.anchors)
    return kern.refined


def _has_reduce(kern) -> bool:
    if kern.has_reduce is None:
        kern.has_reduce = any(isinstance(op.opdef.lower, Reduce) for op in kern.cone)
    return kern.has_reduce


def _anchor_bytes(kern) -> int:
    if kern.nbytes is None:
        kern.nbytes = sum(v.type.nbytes for v in kern.anchors)
    return kern.nbytes


def _external_inputs(kern):
    inside = set()
    for op in kern.cone:
        inside.update(op.outputs)
    out, seen = [], set()
    for op in kern.cone:
        for u in op.inputs:
            if u not in inside and u not in seen:
                seen.add(u)
                out.append(u)
    return out


def _compatible(sa, sb):
    """The iteration space of two kernels merged, or None. Equal spaces merge; a pointwise
    kernel joins a reduction kernel when its shape is the reduction's grid (outer-scope
    stores), or the reduced input's shape (inner-scope stores) if the reduction runs over the
    input's trailing axes: over leading ones (a bias gradient's sum over the batch) the
    reduction kernel walks memory with a stride, which a large pointwise kernel must not
    inherit.

    Equal spaces are only where a merge may start: whether the merged kernel reads every
    reduction at its grid point, and recomputes nothing expensive at other points, depends
    on the views between the two parts (a transpose of a square keeps every shape), and the
    merge step decides it from the merged kernel's access map."""
    if sa == sb:
        return sa
    for p, r in ((sa, sb), (sb, sa)):
        if p[1] == () and r[1] != ():
            if p[0] == r[0]:
                return r
            if p[0] == r[2] and _trailing_reduction(r):
                return r
    return None


def _trailing_reduction(structure) -> bool:
    grid, rdims, x, axes = structure
    return tuple(axes) == tuple(range(len(x) - len(axes), len(x)))


def _phases(g: Graph, n_forward) -> dict:
    """op -> 0 for forward work (needed by the first ``n_forward`` outputs), 1 otherwise."""
    if n_forward is None:
        return {}
    need = set(g.outputs[:n_forward])
    fwd = set()
    for op in reversed(g.ops):
        if any(v in need for v in op.outputs):
            fwd.add(op)
            need.update(op.inputs)
    return {op: 0 if op in fwd else 1 for op in g.ops}


def _invalidate_cones(mat, prod, cache) -> None:
    """Drop from ``cache`` the cones that values materialized since the last call cut (and
    those of anchors no longer materialized)."""
    cones, member = cache.setdefault("cone", {}), cache.setdefault("member", {})
    seen = cache.setdefault("mat", set())
    grown = len(mat) != len(seen)
    for u in mat - seen if grown else ():
        p = prod.get(u)
        for a in list(member.get(p, ())) if p is not None else ():
            c = cones.pop(a, None)
            if c is not None:
                for o in c:
                    member[o].discard(a)
    if not seen <= mat:                 # values no longer materialized: their cones go
        for a in [a for a in cones if a not in mat]:
            for o in cones.pop(a):
                member[o].discard(a)
        cache["mat"] = set(mat)
    elif grown:
        seen |= mat


def _readers(op, mat, users) -> set:
    """The anchors of the kernels whose cones hold ``op`` (those it reaches downstream
    through values that are not materialized): what ``_cones``' membership map holds for
    ``op``, computed from ``op`` down instead of from every cone up."""
    out = set()
    seen = {op}
    stack = [op]
    while stack:
        o = stack.pop()
        for v in o.outputs:
            if v in mat:
                out.add(v)
                continue
            for c in users.get(v, ()):
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
    return out


def _subcone(op, mat, prod) -> set:
    """The ops a kernel recomputes to produce ``op``'s results: up to materialized values."""
    seen = set()
    stack = [op]
    while stack:
        o = stack.pop()
        if o in seen:
            continue
        seen.add(o)
        for u in o.inputs:
            p = prod.get(u)
            if p is not None and u not in mat and _fusible(p):
                stack.append(p)
    return seen


def _body_for(kern: _Kernel, mat, prod, order, with_map=False):
    """The body graph of a kernel and the outside values it reads (its inputs, in order);
    with ``with_map``, also the map from the graph's values to the body's."""
    ops = sorted(kern.cone, key=order.__getitem__)
    inside = set()
    for op in ops:
        inside.update(op.outputs)
    ext = []
    seen = set()
    for op in ops:
        for u in op.inputs:
            if u not in inside and u not in seen:
                seen.add(u)
                ext.append(u)
    b = Builder("body")
    m = {}
    for u in ext:
        m[u] = b.input(u.name, u.type)
    for op in ops:
        outs = [Value(v.type, v.name) for v in op.outputs]
        new = Op(op.opname, [m[u] for u in op.inputs], op.attrs, outs, op.name)
        b.ops.append(new)
        for o, n in zip(op.outputs, outs):
            m[o] = n
    body = b.build([m[v] for v in kern.anchors])
    return (body, ext, m) if with_map else (body, ext)


def _opdesc(op) -> str:
    """How a remark names an op: ``opname 'name'``, or the bare opname when it has no name."""
    return f"{op.opname} '{op.name}'" if op.name else op.opname


def _vname(v) -> str:
    """How a remark names a value: ``%name``, or its op's output position if unnamed."""
    if v.name:
        return f"%{v.name}"
    return f"output {v.index}" if v.op else "an input"


def _first_name(kern, order):
    for op in sorted(kern.cone, key=lambda o: order[o]):
        if op.name:
            return op.name
    return None


def _kname(kern, order) -> str:
    if kern.name is None:
        kern.name = _kernel_name(kern, order)
    return kern.name


def _kernel_name(kern, order) -> str:
    names = []
    for op in sorted(kern.cone, key=lambda o: order[o]):
        n = op.name
        if n and n not in names:
            names.append(n)
    if not names:
        names = [kern.anchors[0].op.opname if kern.anchors[0].op else "k"]
    s = "_".join(names[:3]) + ("_etc" if len(names) > 3 else "")
    return re.sub(r"[^A-Za-z0-9_]", "_", s)[:60]
