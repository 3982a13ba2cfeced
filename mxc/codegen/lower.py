"""Lower a group of primitives (the body of a ``fused`` op) to one :class:`Kernel`.

Index-driven, as Inductor does: each group output is stored at the index of the kernel's
iteration space, and a value is computed at an index by recursing into its producer:
elementwise ops compute their inputs at the (broadcast) same index, views remap the index,
reductions fold the inner loop, group inputs load from their buffer. Values are memoized per
(value, index), so a value used twice at one index is computed once.

The kernel's iteration space comes from the group: a pointwise group iterates over its output
shape; a group with reductions (all over the same input shape and axes) iterates its grid over
the kept dims and its inner loop over the reduced ones. Outputs must be indexable in that space
(full input shape or reduced shape); otherwise :class:`LoweringError` says why, and the fusion
pass does not form such groups.
"""
from __future__ import annotations

from ..base import MXNetError
from ..ir.core import Graph, Value, frozen
from ..ir.registry import Elementwise, Reduce, View
from ..ir.types import DType, numel
from ..memo import memo
from .kir import Buffer, Ix, Kernel, KBuilder, Var, delinearize, linearize, rewrite_kernel

__all__ = ["IndexMismatch", "LoweringError", "coalesce", "group_structure", "lower_group",
           "probe_group"]


class LoweringError(MXNetError):
    """A group of ops that cannot become one kernel (the fusion pass avoids these)."""


class IndexMismatch(LoweringError):
    """A reduction's result is read at other points than the reduction's own grid point.

    Shapes say nothing about this: ``transpose(softmax(x))`` with a square ``x`` has every
    shape of the kernel that computes ``softmax(x)``, but reads row ``j``'s max at output
    point ``(i, j)``. Which point a consumer reads is the index expression the views between
    them (transpose, broadcast, slice, reshape) make of the output's index; the reduction
    must be computed elsewhere (materialized) when that is not its grid point. ``op`` is the
    reduction (an op of the group's body), ``views`` the views it is read through."""

    def __init__(self, msg, op, read_at, grid, views=()):
        super().__init__(msg)
        self.op = op
        self.read_at = read_at
        self.grid = grid
        self.views = tuple(views)


def group_structure(body: Graph):
    """(grid shape, rdims, reduce input shape, reduce axes) of a group, or LoweringError."""
    reduces = [op for op in body.ops if isinstance(op.opdef.lower, Reduce)]
    if not reduces:
        refined = {_unreshaped(body, v) for v in body.outputs}
        if len(refined) == 1:
            return next(iter(refined)), (), None, None
        shape = tuple(body.outputs[0].shape)
        for v in body.outputs:
            if tuple(v.shape) != shape:
                raise LoweringError(f"pointwise group outputs differ in shape: {shape} and "
                                    f"{tuple(v.shape)}")
        return shape, (), None, None
    r0 = reduces[0]
    x = tuple(r0.inputs[0].shape)
    axes = tuple(r0.opdef.lower.axes(r0.attrs, x))
    for r in reduces[1:]:
        xr = tuple(r.inputs[0].shape)
        ar = tuple(r.opdef.lower.axes(r.attrs, xr))
        if xr != x or ar != axes:
            raise LoweringError(f"reductions over different spaces in one group: {r0.opname} "
                                f"'{r0.name}' reduces {x} over {axes}, {r.opname} '{r.name}' "
                                f"reduces {xr} over {ar}")
    grid = tuple(d for i, d in enumerate(x) if i not in axes)
    rdims = tuple(x[i] for i in axes)
    return grid, rdims, x, axes


def _unreshaped(body: Graph, v: Value) -> tuple:
    """The shape with the most dims along the chain of reshapes producing ``v`` inside the
    group: a pointwise kernel iterates over it (a row-major reshape keeps element order, so
    the stores are the same), which keeps index expressions affine: the im2col copy feeding a
    GEMM iterates over (C, KH, KW, N, OH, OW), not its (C*KH*KW, N*OH*OW) matrix."""
    inputs = set(body.inputs)
    return unreshaped_shape(v, lambda u: u not in inputs and u.op is not None)


def unreshaped_shape(v: Value, inside) -> tuple:
    """The shape with the most dims along the chain of reshapes producing ``v``, walking up
    while ``inside(value)`` says the value is computed in the group (see
    :func:`_unreshaped`; fusion asks it of kernels it has not built yet)."""
    best = tuple(v.shape)
    while inside(v):
        low = v.op.opdef.lower
        if not (isinstance(low, View) and low.kind == "reshape"):
            break
        v = v.op.inputs[0]
        if len(v.shape) > len(best):
            best = tuple(v.shape)
    return best


class _Lowerer:
    def __init__(self, body: Graph, name: str, shifts: dict | None = None):
        grid, rdims, x, axes = group_structure(body)
        self.body = body
        # {view op: [(axis, index delta)]}: what a template adds to the index along a
        # shifting view's axis (its begin becomes a parameter, see _template)
        self.shifts = shifts or {}
        self.kernel = Kernel(name, [], grid, rdims)
        self.k = KBuilder(self.kernel)
        self.x, self.axes = x, axes
        self.gvars = [Ix.var(v) for v in self.kernel.gvars]
        self.rvars = [Ix.var(v) for v in self.kernel.rvars]
        self.memo: dict = {}
        self.reduce_memo: dict = {}
        # the access map: every point (an index expression over the loop variables) at which
        # each value of the body is computed or loaded, and where each output is stored
        self.access: dict[Value, set] = {}
        self.stored: dict[Value, tuple] = {}
        self._path: list = []           # values being computed, outermost first
        self.guard = None               # the mask of the masked views being read through
        self.in_buf: dict[Value, Buffer] = {}
        pos = 0
        for v in body.inputs:
            self.in_buf[v] = Buffer(v.name or f"in{pos}", v.dtype, numel(v.shape), "in", pos)
            pos += 1
        self.out_bufs = []
        for v in body.outputs:
            self.out_bufs.append(Buffer(v.name or f"out{pos}", v.dtype, numel(v.shape), "out",
                                        pos))
            pos += 1
        self.kernel.buffers = list(self.in_buf.values()) + self.out_bufs

    # index spaces ------------------------------------------------------------------------------
    def full_index(self) -> list:
        """Index of the reduction input shape from (grid vars, reduction vars)."""
        g = iter(self.gvars)
        r = iter(self.rvars)
        return [next(r) if i in self.axes else next(g) for i in range(len(self.x))]

    def output_index(self, v: Value) -> list:
        shape = tuple(v.shape)
        if self.x is None:
            grid = tuple(self.kernel.grid)
            if shape == grid:
                return list(self.gvars)
            return delinearize(linearize(self.gvars, grid), shape)   # a reshape of the grid
        if shape == self.x:
            return self.full_index()
        keep = tuple(1 if i in self.axes else d for i, d in enumerate(self.x))
        if shape == keep:
            g = iter(self.gvars)
            return [Ix.c(0) if i in self.axes else next(g) for i in range(len(self.x))]
        grid = tuple(self.kernel.grid)
        if shape == grid:
            return list(self.gvars)
        if not grid and shape == (1,):
            return [Ix.c(0)]
        raise LoweringError(f"group output %{v.name} of shape {shape} fits neither the reduced "
                            f"input {self.x} nor its reduction {grid}")

    # evaluation ---------------------------------------------------------------------------------
    def eval(self, v: Value, idx: list):
        key = (v, tuple(idx), None if self.guard is None else self.guard.id)
        self.access.setdefault(v, set()).add(key[1])
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        self._path.append(v)
        try:
            r = self._eval(v, idx)
        finally:
            self._path.pop()
        self.memo[key] = r
        return r

    def _eval(self, v: Value, idx):
        if v in self.in_buf:
            buf, ix = self.in_buf[v], linearize(idx, v.shape)
            mask = self.guard
            if mask is not None and ix.is_affine:
                lo, hi = ix.bounds()
                if 0 <= lo and hi < buf.numel:
                    # the address stays inside the buffer everywhere (col2im: a tap off the
                    # edge reads a neighbouring row): load unconditionally, the view selects
                    mask = None
            return self.k.load(buf, ix, mask=mask)
        op = v.op
        low = op.opdef.lower
        if isinstance(low, Elementwise):
            args = [self.eval(u, _bcast_index(idx, v.shape, u.shape)) for u in op.inputs]
            saved = self.k.index_env
            self.k.index_env = idx
            try:
                out = low.fn(self.k, op.attrs, *args)
            finally:
                self.k.index_env = saved
            if isinstance(out, (tuple, list)):
                out = out[v.index]
            if out.dtype != v.dtype:
                out = self.k.cast(out, v.dtype)
            return out
        if isinstance(low, View):
            u = op.inputs[0]
            in_idx = view_index(low, op.attrs, u.shape, v.shape, idx)
            moved = self.shifts.get(op)
            if moved is not None:
                for ax, delta in moved:
                    in_idx[ax] = in_idx[ax] + delta
            mask = None
            if low.guard is not None:
                mask = self._mask(low.guard(op.attrs, tuple(u.shape), tuple(v.shape),
                                            list(idx)))
            if mask is None:
                return self.eval(u, in_idx)
            outer = self.guard
            self.guard = mask if outer is None else self.k.and_(outer, mask)
            try:
                val = self.eval(u, in_idx)
                inner = self.guard
            finally:
                self.guard = outer
            fill = low.fill(op.attrs) if callable(low.fill) else low.fill
            if fill == 0 and val.op == "load" and val.args == (inner,):
                return val                  # the masked load already reads 0 there
            return self.k.where(mask, val, self.k.const(fill, val.dtype))
        if isinstance(low, Reduce):
            return self._reduce(op, v, idx)
        raise LoweringError(f"{op.opname} '{op.name}' cannot be part of a generated kernel "
                            "(it is a library call)")

    def _mask(self, conds):
        """The bool value of a masked view's conditions; None when they always hold."""
        k = self.k
        parts = []
        for c in conds:
            if c[0] == "range":
                _, ix, lo, hi = c
                ix = Ix.wrap(ix)
                blo, bhi = ix.bounds()
                if blo < lo:
                    parts.append(k.ge(k.ix(ix), k.const(lo, DType.i64)))
                if bhi >= hi:
                    parts.append(k.lt(k.ix(ix), k.const(hi, DType.i64)))
            elif c[0] == "divisible":
                _, ix, m = c
                r = Ix.wrap(ix) % int(m)
                if r.is_const:
                    if r.const != 0:
                        parts.append(k.const(False, DType.bool))
                    continue
                parts.append(k.eq(k.ix(r), k.const(0, DType.i64)))
            else:
                raise LoweringError(f"unknown view condition {c[0]!r}")
        if not parts:
            return None
        m = parts[0]
        for p in parts[1:]:
            m = k.and_(m, p)
        return m

    def _check_grid_point(self, op, v, idx):
        """IndexMismatch unless the reduction ``op`` is read at its own grid point."""
        axes = self.axes
        shape = tuple(v.shape)
        if op.attrs.get("keepdims"):
            outer = [i for d, i in enumerate(idx) if d not in axes]
        elif not self.kernel.grid:
            outer = []
        else:
            outer = list(idx)
        if outer != self.gvars:
            views = [p.op for p in self._path[:-1] if p.op is not None
                     and isinstance(p.op.opdef.lower, View)]
            through = ("" if not views else ", through " + ", ".join(
                f"{o.opname} '{o.name}'" for o in views))
            raise IndexMismatch(f"{op.opname} '{op.name}' result is read at index {outer}, not "
                                f"at its own grid point {self.gvars} (shape {shape}){through}",
                                op, outer, list(self.gvars), views)

    def _reduce(self, op, v, idx):
        self._check_grid_point(op, v, idx)
        hit = self.reduce_memo.get(op)
        if hit is not None:
            return hit
        low = op.opdef.lower
        # the reduction's value does not depend on where its reader is masked (a padded view
        # of it): its own input is read in full, unguarded
        outer_guard, self.guard = self.guard, None
        try:
            x = self.eval(op.inputs[0], self.full_index())
        finally:
            self.guard = outer_guard
        if low.pre is not None:
            x = low.pre(self.k, x)
        acc = self.k.reduce(low.kind, x)
        if low.post is not None:
            acc = low.post(self.k, op.attrs, acc, numel(self.kernel.rdims))
        if acc.dtype != v.dtype:
            acc = self.k.cast(acc, v.dtype)
        self.reduce_memo[op] = acc
        return acc

    def run(self) -> Kernel:
        # every value first, then every store: an output written in place of an input is
        # stored only after all reads of that input at the same grid point
        vals = []
        for v, buf in zip(self.body.outputs, self.out_bufs):
            idx = self.output_index(v)
            self.stored[v] = tuple(idx)
            vals.append((buf, linearize(idx, v.shape), self.eval(v, idx)))
        for buf, ix, val in vals:
            self.k.store(buf, ix, val)
        return self.kernel


def _bcast_index(idx, out_shape, in_shape):
    """numpy broadcasting: right-align, size-1 input dims read index 0."""
    if tuple(in_shape) == tuple(out_shape):
        return idx
    lead = len(out_shape) - len(in_shape)
    return [Ix.c(0) if d == 1 else idx[lead + i] for i, d in enumerate(in_shape)]


def view_index(low: View, attrs, in_shape, out_shape, idx):
    if low.kind == "reshape":
        return delinearize(linearize(idx, out_shape), in_shape)
    if low.kind == "broadcast":
        lead = len(out_shape) - len(in_shape)
        return [Ix.c(0) if d == 1 else idx[lead + i] for i, d in enumerate(in_shape)]
    return [Ix.wrap(i) for i in low.index(attrs, tuple(in_shape), tuple(out_shape), list(idx))]


class _Indexer(_Lowerer):
    """The index half of :class:`_Lowerer`: it walks the same index expressions (through
    views, into reductions) and fills the same ``access``/``stored`` maps, raising the same
    IndexMismatch, but emits no instructions (no formulas, no masks, no kernel)."""

    def eval(self, v: Value, idx: list):
        key = (v, tuple(idx))
        self.access.setdefault(v, set()).add(key[1])
        if key in self.memo:
            return None
        self.memo[key] = True
        self._path.append(v)
        try:
            self._eval(v, idx)
        finally:
            self._path.pop()
        return None

    def _eval(self, v: Value, idx):
        if v in self.in_buf:
            return
        op = v.op
        low = op.opdef.lower
        if isinstance(low, Elementwise):
            for u in op.inputs:
                self.eval(u, _bcast_index(idx, v.shape, u.shape))
        elif isinstance(low, View):
            u = op.inputs[0]
            self.eval(u, view_index(low, op.attrs, u.shape, v.shape, idx))
        elif isinstance(low, Reduce):
            self._reduce(op, v, idx)
        else:
            raise LoweringError(f"{op.opname} '{op.name}' cannot be part of a generated kernel "
                                "(it is a library call)")

    def _reduce(self, op, v, idx):
        self._check_grid_point(op, v, idx)
        if op not in self.reduce_memo:
            self.reduce_memo[op] = True
            self.eval(op.inputs[0], self.full_index())

    def run(self):
        for v in self.body.outputs:
            idx = self.output_index(v)
            self.stored[v] = tuple(idx)
            self.eval(v, idx)
        return None


def probe_group(body: Graph) -> "_Indexer | _Probe":
    """Walk ``body``'s index expressions without lowering it: LoweringError (an
    :class:`IndexMismatch` when a reduction is read off its grid point) if it cannot be one
    kernel, else the walker, whose ``access`` maps each value to the points it is computed
    at and ``stored`` each output to the point it is written at (what the fusion pass
    compares: how a consumer indexes a producer, not just their shapes). It emits no
    instructions: fusion decides on indices, and each kernel is lowered once, by
    :func:`lower_group`.

    Successful walks are remembered by the body's structure (operators, attributes, types
    and wiring, not names), so the candidates of an unrolled network's steps, and of every
    bucket that repeats them, are walked once; what fails is walked again, so that its
    error names its own ops."""
    key, values = _structure(body)
    if key is None:
        return _walk(body)
    access, stored = _PROBES.get(key, lambda: _positional(_walk(body), values))
    return _Probe({values[i]: pts for i, pts in access.items()},
                  {values[i]: pt for i, pt in stored.items()})


def _walk(body: Graph) -> "_Indexer":
    ix = _Indexer(body, "probe")
    ix.run()
    return ix


def _positional(ix: "_Indexer", values: list):
    """``ix``'s maps keyed by the values' positions in :func:`_structure` order."""
    pos = {v: i for i, v in enumerate(values)}
    return ({pos[v]: frozenset(pts) for v, pts in ix.access.items()},
            {pos[v]: pt for v, pt in ix.stored.items()})


class _Probe:
    """A remembered walk: the ``access`` and ``stored`` maps of :class:`_Indexer`."""

    __slots__ = ("access", "stored")

    def __init__(self, access, stored):
        self.access = access
        self.stored = stored


# successful index walks by body structure (positional access / stored maps)
_PROBES = memo("probe", limit=8192)


def _structure(body: Graph, unshifted: frozenset = frozenset()):
    """A hashable key for what ``body`` computes, and its values in key order (inputs, then
    each op's outputs); key None if an attribute cannot be hashed. The ops in ``unshifted``
    (shifting views) are keyed without the attributes that choose their begins."""
    values = list(body.inputs)
    pos = {v: i for i, v in enumerate(values)}
    parts = [tuple(v.type for v in values)]
    for op in body.ops:
        attrs = op.attrs
        if op in unshifted:
            drop = op.opdef.lower.shift_attrs
            attrs = {n: a for n, a in attrs.items() if n not in drop}
        parts.append((op.opname, frozen(attrs), tuple(pos[u] for u in op.inputs),
                      tuple(o.type for o in op.outputs)))
        for o in op.outputs:
            pos[o] = len(values)
            values.append(o)
    parts.append(tuple(pos[v] for v in body.outputs))
    key = tuple(parts)
    try:
        hash(key)
    except TypeError:
        return None, values
    return key, values


def lower_group(body: Graph, name: str, sources=(), inplace: dict | None = None) -> Kernel:
    """The kernel computing ``body``'s outputs from its inputs (buffers in that order).

    ``inplace`` maps body output positions to body input positions whose storage they reuse;
    it is honoured only when safe (a pointwise kernel that reads that input exactly where it
    writes the output), else LoweringError says why."""
    key = _structure(body)[0]
    if key is None:
        kern = coalesce(_Lowerer(body, name).run())
    else:
        # the memo keeps its own copy: callers may rewrite theirs
        kern = _renamed(_LOWERED.get(key, lambda: _lower_new(body, name)), body, name)
    kern.sources = list(sources)
    if inplace:
        kern = apply_inplace(kern, inplace, len(body.inputs))
    return kern


# lowered kernels by body structure (see _structure): the steps of every bucket of an
# unrolled network that compute the same thing are lowered once per process
_LOWERED = memo("lowered", limit=2048)


def _lower_new(body: Graph, name: str) -> Kernel:
    """The kernel of a body structure not lowered before: instantiated from the template of
    its structure up to the begins of its slices when there is one, else lowered."""
    shifts = _body_shifts(body)
    if shifts:
        key = _structure(body, frozenset(s[0] for s in shifts))[0]
        t = _TEMPLATES.get(key, lambda: _template(body, name, shifts))
        if t is not _NO_TEMPLATE:
            return t.instantiate([b - lo for _, _, b, lo, _ in shifts])
    return coalesce(_Lowerer(body, name).run())


def _body_shifts(body: Graph) -> list:
    """``[(op, axis, begin, lo, hi)]``: the axes of the body's shifting views (slices) whose
    begin could take other values for the same shapes (:class:`View` ``shift``)."""
    out = []
    for op in body.ops:
        low = op.opdef.lower
        if isinstance(low, View) and low.shift is not None:
            for ax, b, lo, hi in low.shift(op.attrs, tuple(op.inputs[0].shape),
                                           tuple(op.outputs[0].shape)):
                out.append((op, ax, b, lo, hi))
    return out


class _Template:
    """A kernel lowered with the begins of its slices as parameters: loop-like variables
    ``p<k>`` ranging over each begin's valid values (less ``lo``), so every simplification of
    its index expressions holds for all of them. :meth:`instantiate` substitutes one body's
    begins, which gives the kernel lowering that body computes (the same loads and stores at
    the same addresses; only simplifications that needed a known begin may be missing)."""

    __slots__ = ("kernel", "params", "touched")

    def __init__(self, kernel: Kernel, params: list):
        self.kernel = kernel
        self.params = params
        ps = set(params)
        # the index expressions that mention a parameter (by identity: the kernel holds them)
        self.touched = {id(ix) for ix in _kernel_ixs(kernel) if ix.vars() & ps}

    def instantiate(self, values) -> Kernel:
        m = {p: Ix.c(v) for p, v in zip(self.params, values)}
        touched = self.touched

        def sub(ix):
            return ix.subs(m) if id(ix) in touched else ix
        return rewrite_kernel(self.kernel, index=sub, access=lambda b, ix: (b, sub(ix)))


_NO_TEMPLATE = object()     # a structure lowered per body (its template did not lower)


def _template(body: Graph, name: str, shifts: list):
    params, moved = [], {}
    for k, (op, ax, b, lo, hi) in enumerate(shifts):
        p = Var("p", k, hi - lo + 1)
        params.append(p)
        moved.setdefault(op, []).append((ax, Ix.var(p) + (lo - b)))
    try:
        kern = coalesce(_Lowerer(body, name, moved).run())
    except Exception:  # noqa: BLE001 - the body is lowered as it is; its own error, if any
        return _NO_TEMPLATE
    return _Template(kern, params)


# kernel templates by body structure up to slice begins (see _Template)
_TEMPLATES = memo("templates", limit=2048)


def _renamed(kern: Kernel, body: Graph, name: str) -> Kernel:
    """``kern`` (lowered from a body of the same structure as ``body``) with ``body``'s
    buffer names and kernel name ``name``."""
    import dataclasses
    names = [v.name or f"in{i}" for i, v in enumerate(body.inputs)]
    n_in = len(names)
    names += [v.name or f"out{n_in + j}" for j, v in enumerate(body.outputs)]
    bufs = [dataclasses.replace(b, name=names[b.pos]) for b in kern.buffers]
    by_pos = {b.pos: b for b in bufs}
    out = rewrite_kernel(kern, name=name, buffers=bufs, sources=[],
                         access=lambda b, ix: (by_pos[b.pos], ix))
    if kern.code_cache is None:
        kern.code_cache = {}
    out.code_cache = kern.code_cache        # same instructions and addresses
    return out


def apply_inplace(kern: Kernel, inplace: dict, n_in: int) -> Kernel:
    """``kern`` with output buffers ({output position: input position}) aliasing input
    buffers; LoweringError unless each such output is written exactly where its input is read
    (a pointwise kernel)."""
    import dataclasses
    if kern.rdims:
        raise LoweringError(f"{kern.name}: in-place outputs need a pointwise kernel")
    bufs = list(kern.buffers)
    for out_pos, in_pos in inplace.items():
        ob = bufs[n_in + out_pos]
        ib = bufs[in_pos]
        if ob.dtype != ib.dtype or ob.numel != ib.numel:
            raise LoweringError(f"{kern.name}: {ob.name} cannot reuse {ib.name}'s storage "
                                f"({ob.dtype.short}[{ob.numel}] vs {ib.dtype.short}[{ib.numel}])")
        stores = [i.attr[1] for i in kern.body if i.op == "store" and i.attr[0] is ob]
        loads = [i.attr[1] for i in kern.body if i.op == "load" and i.attr[0].pos == ib.pos]
        if len(stores) != 1 or any(ix != stores[0] for ix in loads):
            raise LoweringError(f"{kern.name}: {ib.name} is read at other elements than "
                                f"{ob.name} writes; not done in place")
        other = [o for o, i in inplace.items() if i == in_pos and o != out_pos]
        if other:
            raise LoweringError(f"{kern.name}: two outputs in place of {ib.name}")
        bufs[n_in + out_pos] = dataclasses.replace(ob, alias_of=ib.pos)
    m = {b.pos: b for b in bufs}
    return rewrite_kernel(kern, buffers=bufs, access=lambda b, ix: (m[b.pos], ix))


# --------------------------------------------------------------------------------------------------
# loop coalescing
# --------------------------------------------------------------------------------------------------
def _kernel_ixs(kern: Kernel):
    for ins in kern.body:
        if ins.op == "index":
            yield ins.attr
        elif ins.op in ("load", "store"):
            yield ins.attr[1]


def _subst_kernel(kern: Kernel, m: dict, grid, rdims) -> Kernel:
    return rewrite_kernel(kern, grid=grid, rdims=rdims, index=lambda ix: ix.subs(m),
                          access=lambda b, ix: (b, ix.subs(m)))


def coalesce(kern: Kernel) -> Kernel:
    """Merge adjacent loop dims while every index stays free of div/mod on the merged var
    (a contiguous (N, C) elementwise kernel becomes one loop of N*C)."""
    for kind in ("g", "r"):
        while True:
            dims = list(kern.grid if kind == "g" else kern.rdims)
            merged = False
            for d in range(len(dims) - 1):
                cand = _try_merge(kern, kind, d)
                if cand is not None:
                    kern = cand
                    merged = True
                    break
            if not merged:
                break
        # drop size-1 dims
        dims = list(kern.grid if kind == "g" else kern.rdims)
        if any(e == 1 for e in dims) and len(dims) > 0:
            keep = [i for i, e in enumerate(dims) if e != 1]
            old = [Var(kind, i, e) for i, e in enumerate(dims)]
            m = {}
            for new_pos, i in enumerate(keep):
                m[old[i]] = Ix.var(Var(kind, new_pos, dims[i]))
            for i, e in enumerate(dims):
                if e == 1:
                    m[old[i]] = Ix.c(0)
            nd = [dims[i] for i in keep]
            kern = _subst_kernel(kern, m, nd if kind == "g" else kern.grid,
                                 nd if kind == "r" else kern.rdims)
    if not kern.rdims and any(i.op == "reduce" for i in kern.body):
        kern = _drop_trivial_reductions(kern)
    return kern


def _drop_trivial_reductions(kern: Kernel) -> Kernel:
    """Reductions over only size-1 axes reduce one element: the element itself."""
    out = Kernel(kern.name, kern.buffers, kern.grid, (), [], kern.sources)
    m: dict[int, object] = {}
    for ins in kern.body:
        if ins.op == "reduce":
            m[ins.id] = m[ins.args[0].id]
            continue
        new = type(ins)(ins.op, tuple(m[a.id] for a in ins.args), ins.dtype, ins.attr, False,
                        len(out.body))
        out.body.append(new)
        m[ins.id] = new
    return out


def _merge_blocked(ix: Ix, a: Var, b: Var, e1: int) -> bool:
    """A quick refusal of merging loop vars ``a`` (outer) and ``b`` (inner, extent ``e1``) into
    one for ``ix``: only ``c*(e1*a + b)`` survives the merge without div/mod on the merged var,
    so ``a`` or ``b`` inside a div/mod, or coefficients not in ratio ``e1``, refuse it (what
    the substitution in :func:`_try_merge` would find, without substituting; extents of 1
    are left to it)."""
    ca = cb = 0
    for t, c in ix.terms.items():
        if isinstance(t, Var):
            if t == a:
                ca = c
            elif t == b:
                cb = c
        elif t[1].vars() & {a, b}:
            return True
    return ca != e1 * cb


def _try_merge(kern: Kernel, kind: str, d: int):
    dims = list(kern.grid if kind == "g" else kern.rdims)
    e0, e1 = dims[d], dims[d + 1]
    new_dims = dims[:d] + [e0 * e1] + dims[d + 2:]
    old = [Var(kind, i, e) for i, e in enumerate(dims)]
    merged = Var(kind, d, e0 * e1)
    m = {}
    for i, v in enumerate(old):
        if i < d:
            m[v] = Ix.var(Var(kind, i, dims[i]))
        elif i > d + 1:
            m[v] = Ix.var(Var(kind, i - 1, dims[i]))
    mv = Ix.var(merged)
    m[old[d]] = mv // e1
    m[old[d + 1]] = mv % e1
    ixs = list(_kernel_ixs(kern))
    if e0 > 1 and e1 > 1 and any(_merge_blocked(ix, old[d], old[d + 1], e1) for ix in ixs):
        return None
    for ix in ixs:
        if not (ix.vars() & {old[d], old[d + 1]}):
            continue
        new = ix.subs(m)
        for a in new.terms:
            if not isinstance(a, Var) and merged in a[1].vars():
                return None
    return _subst_kernel(kern, m, new_dims if kind == "g" else kern.grid,
                         new_dims if kind == "r" else kern.rdims)
