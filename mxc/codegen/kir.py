"""Kernel IR: one kernel per fused group, read by both renderers (LLVM and Triton).

A :class:`Kernel` has buffers (its arguments), an iteration space and a flat SSA body:

- ``grid``: outer loop extents; every grid point is independent (parallel on CPU cores / GPU
  programs);
- ``rdims``: reduction loop extents (empty for a pointwise kernel); values that depend on the
  reduction loop variables live in the *inner* scope, everything else in the *outer* scope;
- ``body``: :class:`Instr` in order: ``const``, ``index`` (an index expression as a value),
  ``load`` (with an optional bool mask operand: 0 where false, the address not read),
  ``alu`` (op in :data:`ALU_OPS`), ``cast``, ``where``, ``reduce`` (inner -> outer),
  ``store``.

Buffer indices are symbolic :class:`Ix` expressions over loop variables, simplified with the
variables' ranges (``(8*i + j) // 8 -> i`` when ``0 <= j < 8``), so views (reshape, transpose,
broadcast, slice) fold into the addresses of loads and stores and contiguous accesses stay
affine, which is what vectorizers need.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from ..ir.types import DType

__all__ = ["Ix", "Var", "Instr", "Kernel", "Buffer", "KBuilder", "Alu", "ALU_OPS", "UNARY_OPS",
           "BINARY_OPS", "CMP_OPS", "REDUCE_KINDS", "linearize", "delinearize",
           "split_offsets", "rewrite_kernel", "reduce_identity", "row_major_strides"]


# ------------------------------------------------------------------------------------------------
# index expressions
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Var:
    """A loop variable: ``kind`` is ``g`` (grid) or ``r`` (reduction), ``extent`` its range."""

    kind: str
    pos: int
    extent: int

    def __repr__(self):
        return f"{self.kind}{self.pos}"


class Ix:
    """An integer expression ``const + sum(coeff * atom)``; atoms are loop variables or
    ``("div", Ix, c)`` / ``("mod", Ix, c)`` with ``c > 0`` (floor semantics, non-negative
    operands). Immutable; arithmetic simplifies eagerly."""

    __slots__ = ("terms", "const", "_h")

    def __init__(self, terms: dict | None = None, const: int = 0):
        self.terms = {a: c for a, c in (terms or {}).items() if c != 0}
        self.const = int(const)
        self._h = None

    # construction
    @staticmethod
    def var(v: Var) -> "Ix":
        return Ix({v: 1}) if v.extent > 1 else Ix()

    @staticmethod
    def c(v: int) -> "Ix":
        return Ix({}, v)

    @staticmethod
    def wrap(x) -> "Ix":
        return x if isinstance(x, Ix) else Ix.c(int(x))

    # identity
    def key(self):
        return (tuple(sorted(((_akey(a), c) for a, c in self.terms.items()))), self.const)

    def __hash__(self):
        if self._h is None:
            self._h = hash(self.key())
        return self._h

    def __eq__(self, other):
        return isinstance(other, Ix) and self.key() == other.key()

    @property
    def is_const(self):
        return not self.terms

    @property
    def is_affine(self):
        return all(isinstance(a, Var) for a in self.terms)

    def vars(self) -> set:
        out = set()
        for a in self.terms:
            if isinstance(a, Var):
                out.add(a)
            else:
                out |= a[1].vars()
        return out

    # arithmetic
    def __add__(self, o):
        o = Ix.wrap(o)
        t = dict(self.terms)
        for a, c in o.terms.items():
            t[a] = t.get(a, 0) + c
        return _recombine(Ix(t, self.const + o.const))

    __radd__ = __add__

    def __neg__(self):
        return Ix({a: -c for a, c in self.terms.items()}, -self.const)

    def __sub__(self, o):
        return self + (-Ix.wrap(o))

    def __mul__(self, k):
        if isinstance(k, Ix):
            if k.is_const:
                k = k.const
            elif self.is_const:
                return k * self.const
            else:
                raise ValueError("index expressions must stay linear (Ix * Ix)")
        k = int(k)
        return Ix({a: c * k for a, c in self.terms.items()}, self.const * k)

    __rmul__ = __mul__

    def _split(self, c: int):
        """Find the largest ``d | c`` (d > 1) such that ``self = d*Q + R`` where Q collects
        the terms whose coefficients ``d`` divides and ``0 <= R < d``: then
        ``self // c = Q // (c/d)`` and ``self % c = d*(Q % (c/d)) + R``. Returns (d, Q, R)."""
        for d in _divisors_desc(c):
            q_terms, r_terms = {}, {}
            for a, k in self.terms.items():
                if k % d == 0:
                    q_terms[a] = k // d
                else:
                    r_terms[a] = k
            qc, rc = divmod(self.const, d)
            rest = Ix(r_terms, rc)
            rlo, rhi = rest.bounds()
            if 0 <= rlo and rhi < d:
                return d, Ix(q_terms, qc), rest
        return None

    def _pull_multiples(self, c: int):
        """``self = c*Q + R`` with Q the terms (and whole multiples of the constant) that
        ``c`` divides, when there are any and ``R >= 0``: then ``self // c = Q + R // c`` and
        ``self % c = R % c`` (``(36864*g0 + g1) // 24 -> 1536*g0 + g1 // 24``)."""
        q_terms, r_terms = {}, {}
        for a, k in self.terms.items():
            (q_terms if k % c == 0 else r_terms)[a] = k
        qc, rc = divmod(self.const, c)
        if not q_terms and qc == 0:
            return None
        r = Ix(r_terms, rc)
        if r.bounds()[0] < 0:
            return None
        return Ix({a: k // c for a, k in q_terms.items()}, qc), r

    def __floordiv__(self, c):
        c = int(c)
        if c == 1:
            return self
        lo, hi = self.bounds()
        if 0 <= lo and hi < c:
            return Ix.c(0)
        if lo >= 0 and lo // c == hi // c:
            return Ix.c(lo // c)
        sp = self._split(c)
        if sp is not None:
            d, q, _ = sp
            return q if d == c else q // (c // d)
        pulled = self._pull_multiples(c)
        if pulled is not None:
            q, r = pulled
            return q + r // c
        if len(self.terms) == 1 and self.const == 0:
            (a, k), = self.terms.items()
            if not isinstance(a, Var) and a[0] == "div" and k == 1:
                return Ix({("div", a[1], a[2] * c): 1})
        return Ix({("div", self, c): 1})

    def __mod__(self, c):
        c = int(c)
        if c == 1:
            return Ix.c(0)
        lo, hi = self.bounds()
        if 0 <= lo and hi < c:
            return self
        sp = self._split(c)
        if sp is not None:
            d, q, r = sp
            return r if d == c else (q % (c // d)) * d + r
        pulled = self._pull_multiples(c)
        if pulled is not None:
            return pulled[1] % c
        if len(self.terms) == 1 and self.const == 0:
            (a, k), = self.terms.items()
            if not isinstance(a, Var) and a[0] == "mod" and k == 1 and a[2] % c == 0:
                return a[1] % c
        return Ix({("mod", self, c): 1})

    def bounds(self) -> tuple[int, int]:
        lo = hi = self.const
        for a, k in self.terms.items():
            alo, ahi = _abounds(a)
            if k >= 0:
                lo += k * alo
                hi += k * ahi
            else:
                lo += k * ahi
                hi += k * alo
        return lo, hi

    def subs(self, m: dict) -> "Ix":
        """Substitute variables by index expressions."""
        out = Ix.c(self.const)
        for a, k in self.terms.items():
            if isinstance(a, Var):
                out = out + Ix.wrap(m.get(a, Ix({a: 1}))) * k
            elif a[0] == "div":
                out = out + (a[1].subs(m) // a[2]) * k
            else:
                out = out + (a[1].subs(m) % a[2]) * k
        return out

    def coeff(self, v: Var) -> int:
        return self.terms.get(v, 0)

    def __repr__(self):
        parts = []
        for a, c in sorted(self.terms.items(), key=lambda t: repr(_akey(t[0]))):
            s = repr(a) if isinstance(a, Var) else f"({a[1]!r} {'//' if a[0] == 'div' else '%'} {a[2]})"
            parts.append(s if c == 1 else f"{c}*{s}")
        if self.const or not parts:
            parts.append(str(self.const))
        return " + ".join(parts)


def _divisors_desc(c: int) -> list[int]:
    small, large = [], []
    i = 1
    while i * i <= c:
        if c % i == 0:
            small.append(i)
            if i != c // i:
                large.append(c // i)
        i += 1
    return sorted((d for d in small + large if d > 1), reverse=True)


def _akey(a):
    if isinstance(a, Var):
        return ("v", a.kind, a.pos, a.extent)
    return (a[0], a[1].key(), a[2])


def _abounds(a):
    if isinstance(a, Var):
        return 0, a.extent - 1
    lo, hi = a[1].bounds()
    if a[0] == "div":
        return lo // a[2], hi // a[2]
    if 0 <= lo and hi < a[2]:
        return lo, hi
    return 0, a[2] - 1


def _recombine(ix: Ix) -> Ix:
    """``k*c*(x // c) + k*(x % c) -> k*x``: undo a delinearize followed by a linearize."""
    changed = True
    while changed:
        changed = False
        for a, k in list(ix.terms.items()):
            if isinstance(a, Var) or a[0] != "mod":
                continue
            x, c = a[1], a[2]
            d = ("div", x, c)
            dk = next((kk for aa, kk in ix.terms.items()
                       if not isinstance(aa, Var) and _akey(aa) == _akey(d)), None)
            if dk is not None and dk == k * c:
                t = {aa: kk for aa, kk in ix.terms.items()
                     if _akey(aa) not in (_akey(a), _akey(d))}
                ix = Ix(t, ix.const) + x * k
                changed = True
                break
    return ix


def linearize(idx, shape) -> Ix:
    """Row-major offset of a multi-index."""
    off = Ix.c(0)
    stride = 1
    for i, d in zip(reversed(list(idx)), reversed(list(shape))):
        if d != 1:
            off = off + Ix.wrap(i) * stride
        stride *= d
    return off


def delinearize(off: Ix, shape) -> list:
    """Multi-index of a row-major offset."""
    out = []
    stride = 1
    strides = []
    for d in reversed(list(shape)):
        strides.append(stride)
        stride *= d
    strides.reverse()
    for d, s in zip(shape, strides):
        out.append(Ix.c(0) if d == 1 else (off // s) % d)
    return out


# ------------------------------------------------------------------------------------------------
# instructions and kernels
# ------------------------------------------------------------------------------------------------
UNARY_OPS = ("neg", "abs", "sign", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt",
             "rsqrt", "cbrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
             "asinh", "acosh", "atanh", "floor", "ceil", "round", "trunc", "rint", "erf",
             "erfinv", "lgamma", "tgamma", "digamma", "sigmoid", "not_")
BINARY_OPS = ("add", "sub", "mul", "div", "floordiv", "mod", "pow", "max", "min", "hypot",
              "atan2", "and_", "or_", "xor")
CMP_OPS = ("lt", "le", "gt", "ge", "eq", "ne")
ALU_OPS = UNARY_OPS + BINARY_OPS + CMP_OPS
REDUCE_KINDS = ("sum", "prod", "max", "min")


class _OpEnum(str, enum.Enum):
    def __str__(self):
        return self.value

    def __format__(self, spec):
        return format(self.value, spec)


#: Every ALU op, the key of a backend's op table. A ``str`` enum: ``Alu.exp == "exp"`` and
#: hashes alike, so the ``attr`` of an ``alu`` instruction looks a handler up directly.
Alu = _OpEnum("Alu", [(n, n) for n in ALU_OPS])


def reduce_identity(kind: str, dt: DType):
    """The value a ``kind`` reduction starts from in ``dt``: 0, 1, or the lowest / highest
    value of the type (-inf / inf for floats) for max / min."""
    if kind == "sum":
        return 0.0 if dt.is_float else 0
    if kind == "prod":
        return 1.0 if dt.is_float else 1
    if dt.is_float:
        return float("-inf") if kind == "max" else float("inf")
    if dt == DType.bool:
        return 0 if kind == "max" else 1
    bits = dt.itemsize * 8
    lo, hi = ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if dt.is_signed
              else (0, (1 << bits) - 1))
    return lo if kind == "max" else hi


def row_major_strides(extents) -> list[int]:
    """Strides of a row-major walk over ``extents`` (the last varies fastest)."""
    strides = [1] * len(extents)
    for i in range(len(extents) - 2, -1, -1):
        strides[i] = strides[i + 1] * extents[i + 1]
    return strides


@dataclass(frozen=True)
class Buffer:
    name: str
    dtype: DType
    numel: int
    role: str           # "in" | "out"
    pos: int            # argument position
    alias_of: int | None = None   # an output written in place of this input buffer position


@dataclass(eq=False)
class Instr:
    """``op`` in const/index/load/alu/cast/where/reduce/store; ``args`` are Instr operands;
    ``attr`` holds the constant, the Ix, the Buffer, the ALU op name or the reduce kind."""

    op: str
    args: tuple
    dtype: DType | None
    attr: Any = None
    inner: bool = False
    id: int = -1

    def __repr__(self):
        return f"%{self.id}"


@dataclass
class Kernel:
    name: str
    buffers: list
    grid: tuple
    rdims: tuple
    body: list = field(default_factory=list)
    sources: list = field(default_factory=list)   # MXNet op names it came from
    # shared by kernels with these very instructions and addresses (the renamed copies of one
    # lowered kernel, see lower._renamed): what a backend derives from them alone (the LLVM
    # JIT's signature and split offsets) is computed once for all of them
    code_cache: dict | None = field(default=None, compare=False, repr=False)

    @property
    def gvars(self) -> list[Var]:
        return [Var("g", i, e) for i, e in enumerate(self.grid)]

    @property
    def rvars(self) -> list[Var]:
        return [Var("r", i, e) for i, e in enumerate(self.rdims)]

    @property
    def is_reduction(self) -> bool:
        return bool(self.rdims)

    def stores(self):
        return [i for i in self.body if i.op == "store"]

    def signature(self, outer_extent: bool = True) -> str:
        """Canonical text of what the kernel computes (no names): equal signatures, equal
        machine code, so one compiled function serves every kernel with that signature.

        Buffer sizes are left out (code addresses buffers only through its index
        expressions) except whether one needs 64-bit indices; apply :func:`split_offsets`
        first so that kernels differing only in where their data starts (step ``t`` of an
        unrolled network reading row block ``t``) share code too. ``outer_extent=False``
        leaves out the outermost grid extent, for a renderer whose code takes that range at
        the call (the LLVM kernels' ``lo, hi``): the same layer over another batch or
        sequence length is then the same function (index expressions that depend on the
        extent still differ in their text)."""
        grid = self.grid if outer_extent or not self.grid else ("*",) + tuple(self.grid[1:])
        parts = [f"grid={grid} rdims={self.rdims}"]
        for b in self.buffers:
            wide = "wide " if b.numel >= 2 ** 31 else ""
            parts.append(f"{b.role} {wide}{b.dtype.short} @{b.pos} alias={b.alias_of}")
        for ins in self.body:
            attr = ins.attr
            if isinstance(attr, tuple) and attr and isinstance(attr[0], Buffer):
                attr = (attr[0].pos,) + tuple(attr[1:])
            args = ",".join(str(a.id) for a in ins.args)
            dt = ins.dtype.short if ins.dtype else "-"
            parts.append(f"{ins.op} {attr!r} ({args}) {dt} {int(ins.inner)}")
        return "\n".join(parts)

    def __str__(self):
        lines = [f"kernel {self.name} grid={self.grid} rdims={self.rdims}"]
        for b in self.buffers:
            lines.append(f"  {b.role} {b.name}: {b.dtype.short}[{b.numel}]")
        for ins in self.body:
            scope = "  inner" if ins.inner else "  outer"
            args = ", ".join(repr(a) for a in ins.args)
            at = ins.attr.name if isinstance(ins.attr, Buffer) else ins.attr
            dt = ins.dtype.short if ins.dtype else ""
            lhs = f"%{ins.id} = " if ins.op != "store" else ""
            lines.append(f"{scope} {lhs}{ins.op}[{at}]({args}) {dt}")
        return "\n".join(lines)


def rewrite_kernel(k: Kernel, *, name=None, buffers=None, grid=None, rdims=None,
                   sources=None, access=None, index=None) -> Kernel:
    """A copy of ``k`` (same instructions, same ids) with the given parts replaced: each
    load's and store's ``(buffer, index)`` goes through ``access``, each ``index``
    instruction's expression through ``index``. Kernels are not mutated: a rewrite is a
    copy (lowered kernels are shared by memos and by in-place variants)."""
    out = Kernel(k.name if name is None else name, k.buffers if buffers is None else buffers,
                 k.grid if grid is None else tuple(grid),
                 k.rdims if rdims is None else tuple(rdims), [],
                 k.sources if sources is None else sources)
    for ins in k.body:
        attr = ins.attr
        if access is not None and ins.op in ("load", "store"):
            attr = access(*attr)
        elif index is not None and ins.op == "index":
            attr = index(attr)
        out.body.append(Instr(ins.op, tuple(out.body[a.id] for a in ins.args), ins.dtype,
                              attr, ins.inner, ins.id))
    return out


def split_offsets(k: Kernel) -> tuple[Kernel, tuple]:
    """``k`` with each buffer's common constant offset taken out of its addresses, and those
    offsets (elements, per argument position).

    Calling the returned kernel with argument ``p`` pointing ``offsets[p]`` elements into the
    buffer computes exactly what ``k`` computes on the buffer: the step-``t`` kernels of an
    unrolled network (the same code reading and writing row block ``t`` of shared buffers)
    become one kernel called at ``t`` offsets. An offset is the smallest constant term among
    the buffer's accesses (an in-place output's accesses count with the input it is written
    through), never below 0, so the shifted pointer stays inside the buffer. Returns ``k``
    itself when there is nothing to take out."""
    def base_of(buf):
        return buf.pos if buf.alias_of is None else buf.alias_of

    base = {}
    for ins in k.body:
        if ins.op in ("load", "store"):
            buf, e = ins.attr
            p = base_of(buf)
            base[p] = e.const if p not in base else min(base[p], e.const)
    offsets = tuple(max(base.get(b.pos, 0), 0) for b in k.buffers)
    if not any(offsets):
        return k, offsets
    return rewrite_kernel(k, access=lambda buf, e: (buf, e - offsets[base_of(buf)])), offsets


class KBuilder:
    """Appends instructions to a kernel body, hash-consing identical ones; it is the scalar
    handler ``k`` that OpDef formulas call (``k.add(x, y)``, ``k.exp(x)``, ``k.const(1, f32)``).
    """

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self._memo: dict = {}
        self.index_env: list | None = None   # set by the lowering for ``k.index(d)``

    def _emit(self, op, args, dtype, attr=None) -> Instr:
        key = (op, tuple(id(a) for a in args), dtype, _hkey(attr))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        inner = any(a.inner for a in args) and op != "reduce"
        if op in ("index", "load") and attr is not None:
            ix = attr if op == "index" else attr[1]
            inner = inner or any(v.kind == "r" for v in ix.vars())
        ins = Instr(op, tuple(args), dtype, attr, inner, len(self.kernel.body))
        self.kernel.body.append(ins)
        self._memo[key] = ins
        return ins

    # values
    def const(self, value, dtype: DType) -> Instr:
        if dtype is None:
            dtype = DType.f32
        if dtype == DType.bool:
            value = bool(value)
        elif dtype.is_int:
            if isinstance(value, float) and not math.isfinite(value):
                # a non-finite scalar met an integer tensor (x == inf): saturate, so that
                # comparisons keep their mathematical answer (nan compares as 0)
                bits = dtype.itemsize * 8
                lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if dtype.is_signed \
                    else (0, (1 << bits) - 1)
                value = 0 if value != value else (hi if value > 0 else lo)
            value = int(value)
        else:
            value = float(value)
        return self._emit("const", (), dtype, value)

    def index(self, d: int) -> Instr:
        return self.ix(self.index_env[d])

    def ix(self, ix: Ix) -> Instr:
        return self._emit("index", (), DType.i64, ix)

    def load(self, buf: Buffer, ix: Ix, mask: Instr | None = None) -> Instr:
        """``buf[ix]``; with ``mask`` (a bool value) a masked load: 0 where the mask is false,
        and ``ix`` is not read there (it may be out of bounds)."""
        return self._emit("load", () if mask is None else (mask,), buf.dtype, (buf, ix))

    def store(self, buf: Buffer, ix: Ix, value: Instr) -> Instr:
        if value.dtype != buf.dtype:
            value = self.cast(value, buf.dtype)
        ins = Instr("store", (value,), None, (buf, ix),
                    value.inner or any(v.kind == "r" for v in ix.vars()), len(self.kernel.body))
        self.kernel.body.append(ins)
        return ins

    def reduce(self, kind: str, x: Instr) -> Instr:
        return self._emit("reduce", (x,), x.dtype, kind)

    def cast(self, x: Instr, dtype: DType) -> Instr:
        if x.dtype == dtype:
            return x
        return self._emit("cast", (x,), dtype)

    def where(self, c: Instr, a: Instr, b: Instr) -> Instr:
        a, b = self._promote(a, b)
        if c.dtype != DType.bool:
            c = self.ne(c, self.const(0, c.dtype))
        if c.op == "const":                 # decided when the kernel is built
            return a if c.attr else b
        return self._emit("where", (c, a, b), a.dtype)

    def _promote(self, a, b):
        if a.dtype == b.dtype:
            return a, b
        if a.op == "const":
            return self.const(a.attr, b.dtype), b
        if b.op == "const":
            return a, self.const(b.attr, a.dtype)
        raise TypeError(f"kernel {self.kernel.name}: operands of different dtypes "
                        f"{a.dtype} and {b.dtype}")

    def alu(self, op: str, *args) -> Instr:
        if op in CMP_OPS:
            a, b = self._promote(*args)
            if a.op == "const" and b.op == "const":
                # a comparison of constants (the NaN test x != x of a scalar operand) is a
                # constant: folded, so no backend sees a value with no grid position
                return self.const(_CMP_FOLD[op](a.attr, b.attr), DType.bool)
            return self._emit("alu", (a, b), DType.bool, op)
        if op in ("and_", "or_", "xor") and args[0].dtype == DType.bool:
            a, b = args
            return self._emit("alu", (a, b), DType.bool, op)
        if len(args) == 2:
            a, b = self._promote(*args)
            return self._emit("alu", (a, b), a.dtype, op)
        return self._emit("alu", args, args[0].dtype, op)


# What an ALU op costs per element, in units of an add: the transcendental ones are ~10 (a
# vectorized exp is ~2.5 cycles per element, more than storing a value and loading it again, so
# one that two kernels need is materialized rather than recomputed); everything else is 1.
EXPENSIVE_ALU = frozenset({
    "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "cbrt", "sin", "cos",
    "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf",
    "erfinv", "lgamma", "tgamma", "digamma", "sigmoid", "pow", "hypot", "atan2"})
EXPENSIVE_COST = 10


def formula_cost(fn, attrs, dtypes, ndim: int = 1) -> int:
    """The per-element cost of an elementwise formula ``fn(k, attrs, *xs)`` for inputs of
    ``dtypes`` (and an output of rank ``ndim``, for formulas that read their index): it is built
    once into a scratch kernel and its ALU instructions are counted
    (``EXPENSIVE_COST`` for each in :data:`EXPENSIVE_ALU`; 1 when there is none)."""
    kern = Kernel("cost", [], (1,), ())
    k = KBuilder(kern)
    k.index_env = [Ix.c(0)] * max(ndim, 1)
    xs = []
    for i, dt in enumerate(dtypes):
        buf = Buffer(f"x{i}", dt, 1, "in", i)
        xs.append(k.load(buf, Ix.c(0)))
    fn(k, attrs, *xs)
    n = sum(1 for ins in kern.body if ins.op == "alu" and ins.attr in EXPENSIVE_ALU)
    return EXPENSIVE_COST * n if n else 1


_CMP_FOLD = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
             "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b}


def _hkey(attr):
    if isinstance(attr, tuple):
        return tuple(_hkey(a) for a in attr)
    if isinstance(attr, Buffer):
        return ("buf", attr.name, attr.pos)
    if isinstance(attr, Ix):
        return ("ix", attr.key())
    if isinstance(attr, float) and attr != attr:
        return ("nan",)
    return attr


def _alu_method(name):
    def m(self, *args):
        return self.alu(name, *args)
    m.__name__ = name
    return m


for _op in ALU_OPS:
    setattr(KBuilder, _op, _alu_method(_op))
