"""LLVM renderer: kernels -> LLVM IR (llvmlite IRBuilder) -> machine code for the host CPU.

Each kernel becomes ``void @name(ptr noalias %buf0, ..., i64 %lo, i64 %hi)``: the outermost grid
loop runs over ``[lo, hi)`` so a caller can split a kernel across cores. Inside a grid point,
outer-scope instructions are emitted once, each reduction gets its own inner loop with an
accumulator, and inner-scope stores share one final inner loop. The module is optimized at
``MXC_OPT_LEVEL`` (default O2) with the host's features (loop and SLP vectorization) and JIT-compiled with MCJIT.

ALU ops map through the op tables :data:`FLOAT_OPS` / :data:`INT_OPS`, keyed by
:class:`mxc.codegen.kir.Alu`, to handlers that emit them (an instruction, an intrinsic, a libm
call or a few instructions); the ones LLVM has no instruction or intrinsic for call libm, or are
expanded into basic ops by :mod:`mxc.codegen.mathlib`.
"""
from __future__ import annotations

import ctypes
import math
import threading
import time

import llvmlite.binding as llvm
import llvmlite.ir as ir

from ..ir.types import DType
from . import llvm_worker, mathlib
from .kir import Alu, Instr, Ix, Kernel, Var, reduce_identity, split_offsets

__all__ = ["LLVMModule", "render_module", "FLOAT_OPS", "INT_OPS", "host_target_machine"]


def opt_level() -> int:
    """LLVM's optimization level for kernels (``MXC_OPT_LEVEL``; pass pipeline and code
    generator)."""
    from .. import config
    return config.get("MXC_OPT_LEVEL")

_init_lock = threading.Lock()
_initialized = False
_TM = None


def _init():
    global _initialized, _TM
    with _init_lock:
        if not _initialized:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _initialized = True
            _TM = host_target_machine()


_AVX512 = None


def host_has_avx512() -> bool:
    global _AVX512
    if _AVX512 is None:
        _AVX512 = "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")
    return _AVX512


def host_cpu() -> tuple[str, str]:
    """(CPU name, feature string) that kernels are compiled for: the host's."""
    features = llvm.get_host_cpu_features().flatten()
    if host_has_avx512():
        # LLVM tunes AVX-512 CPUs to prefer 256-bit vectors (frequency licences); generated
        # kernels are mostly transcendental-heavy elementwise loops, which run 1.5x faster
        # 16 lanes wide here (bench chain_16m)
        features += ",-prefer-256-bit,+prefer-no-gather,+prefer-no-scatter"
    return llvm.get_host_cpu_name(), features


def host_target_machine():
    """A new TargetMachine for the host CPU and its features (an MCJIT engine takes
    ownership of the one it is given, so each module gets its own)."""
    if not _initialized:
        _init()
    return llvm_worker.target_machine(*host_cpu(), opt_level())


I1 = ir.IntType(1)
I8 = ir.IntType(8)
I16 = ir.IntType(16)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()

_MEM_TYPES = {
    DType.f32: ir.FloatType(), DType.f64: ir.DoubleType(), DType.f16: ir.HalfType(),
    DType.bf16: I16,        # raw bits: llvmlite has no bfloat type (see reg_type)
    DType.i8: I8, DType.u8: I8, DType.bool: I8, DType.i16: I16, DType.u16: I16,
    DType.i32: I32, DType.u32: I32, DType.i64: I64, DType.u64: I64,
}


def mem_type(dt: DType):
    return _MEM_TYPES[dt]


def reg_type(dt: DType):
    """The register type of a value: bool is i1, and bfloat16 is computed in f32 (loads widen
    its bits, stores and casts round to nearest even), as libraries do for bf16 math."""
    if dt == DType.bf16:
        return ir.FloatType()
    return I1 if dt == DType.bool else _MEM_TYPES[dt]


# float ops: intrinsic name, libm base name, or a method of _Emitter
# FLOAT_OPS / INT_OPS (the op tables, keyed by kir.Alu) follow the _Emitter class whose methods
# they name.
# reductions over at most this many elements are emitted without a loop, if the code per
# element times the elements stays within UNROLL_BUDGET (a 5x5 convolution window or a 2x2
# pooling window unrolls; a softmax over 10 classes, an exp per element, stays a loop: unrolled
# it was a thousand lines of IR that took LLVM 0.5 s)
UNROLL_REDUCTIONS = 32
UNROLL_BUDGET = 320
# rough instructions an ALU op becomes (exp and log are inlined polynomials, see _fexp32)
_INLINE_COST = {"exp": 30, "log": 30, "expm1": 30, "log1p": 30, "pow": 60}


def _unroll_reduction(k: Kernel) -> bool:
    """Whether ``k``'s reduction loops are emitted as straight-line code (see
    :data:`UNROLL_REDUCTIONS`)."""
    total = math.prod(k.rdims) if k.rdims else 1
    if total > UNROLL_REDUCTIONS:
        return False
    per_point = sum(_INLINE_COST.get(i.attr, 1) if i.op == "alu" else 1
                    for i in k.body if i.inner)
    return total * per_point <= UNROLL_BUDGET

# expanded into basic ops by mathlib before rendering
EXPAND = {"sigmoid", "erfinv", "digamma", "tanh"}


class _Emitter:
    def __init__(self, module: ir.Module, kern: Kernel, reassoc: bool = True):
        self.m = module
        self.k = kern
        self.reassoc = reassoc
        args = [PTR] * len(kern.buffers) + [I64, I64]
        self.fn = ir.Function(module, ir.FunctionType(ir.VoidType(), args), kern.name)
        for i, a in enumerate(self.fn.args[:len(kern.buffers)]):
            a.add_attribute("noalias")
            a.name = f"b{i}_{_safe(kern.buffers[i].name)}"
        self.lo, self.hi = self.fn.args[-2], self.fn.args[-1]
        self.lo.name, self.hi.name = "lo", "hi"
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.vars: dict[Var, ir.Value] = {}
        self.vals: dict[int, ir.Value] = {}
        self.bufptr = {buf.pos: self.fn.args[buf.pos] for buf in kern.buffers}
        self.unroll = _unroll_reduction(kern)

    def intrinsic(self, name: str, ty, nargs: int = 1):
        """Declare (once) an overloaded float intrinsic ``name.<type>`` taking ``nargs`` args."""
        suffix = {"float": "f32", "double": "f64", "half": "f16", "bfloat": "bf16"}[str(ty)]
        full = f"{name}.{suffix}"
        fn = self.m.globals.get(full)
        if fn is None:
            fn = ir.Function(self.m, ir.FunctionType(ty, [ty] * nargs), full)
        return fn

    # -- loops --------------------------------------------------------------------------------
    def loop(self, lo, hi, name, body, carried=()):
        """Counted loop [lo, hi); ``body(i, *carried) -> new carried``. Returns final carried."""
        b = self.b
        pre = b.block
        header = self.fn.append_basic_block(name + ".head")
        bodyb = self.fn.append_basic_block(name + ".body")
        exit_ = self.fn.append_basic_block(name + ".exit")
        b.branch(header)
        b.position_at_end(header)
        i = b.phi(I64, name=name)
        i.add_incoming(lo, pre)
        phis = []
        for c in carried:
            p = b.phi(c.type)
            p.add_incoming(c, pre)
            phis.append(p)
        b.cbranch(b.icmp_signed("<", i, hi), bodyb, exit_)
        b.position_at_end(bodyb)
        new = body(i, *phis) or ()
        i.add_incoming(b.add(i, ir.Constant(I64, 1), flags=["nsw", "nuw"]), b.block)
        for p, n in zip(phis, new):
            p.add_incoming(n, b.block)
        b.branch(header)
        b.position_at_end(exit_)
        return phis

    # -- index expressions ------------------------------------------------------------------------
    def ix(self, e: Ix) -> ir.Value:
        b = self.b
        acc = None
        for a, c in e.terms.items():
            if isinstance(a, Var):
                t = self.vars[a]
            elif a[0] == "div":
                t = b.sdiv(self.ix(a[1]), ir.Constant(I64, a[2]))
            else:
                t = b.srem(self.ix(a[1]), ir.Constant(I64, a[2]))
            if c != 1:
                t = b.mul(t, ir.Constant(I64, c), flags=["nsw"])
            acc = t if acc is None else b.add(acc, t, flags=["nsw"])
        if acc is None:
            return ir.Constant(I64, e.const)
        if e.const:
            acc = b.add(acc, ir.Constant(I64, e.const), flags=["nsw"])
        return acc

    # -- kernel structure ---------------------------------------------------------------------
    def emit(self):
        k = self.k
        gvars = k.gvars
        columns = _column_reduction(k)

        def nest(d):
            if columns and d == len(gvars) - 1:
                lo = self.lo if d == 0 else ir.Constant(I64, 0)
                hi = self.hi if d == 0 else ir.Constant(I64, gvars[d].extent)
                self.emit_columns(gvars[d], lo, hi)
                return
            if d == len(gvars):
                self.emit_point()
                return
            lo = self.lo if d == 0 else ir.Constant(I64, 0)
            hi = self.hi if d == 0 else ir.Constant(I64, gvars[d].extent)

            def body(i):
                self.vars[gvars[d]] = i
                nest(d + 1)
            self.loop(lo, hi, f"g{d}", body)

        nest(0)
        self.b.ret_void()

    def emit_point(self):
        self.vals = {}
        inner_stores = []
        for ins in self.k.body:
            if ins.op == "store" and ins.inner:
                inner_stores.append(ins)
            elif ins.op == "reduce":
                self.vals[ins.id] = self.emit_reduce(ins)
            elif not ins.inner:
                self.value(ins)
        if inner_stores:
            self.rloops(lambda: [self.value(s) for s in inner_stores] and None)

    def emit_columns(self, gv, lo, hi):
        """A reduction over leading axes with the innermost grid axis contiguous in memory
        (a bias gradient's sum over the batch): accumulate a row of results at a time, the
        reduction loop outside and the contiguous grid loop inside (which vectorizes), then
        finish each result (post-ops, stores) in a last pass over the row."""
        b = self.b
        reduces = [i for i in self.k.body if i.op == "reduce"]
        extent = gv.extent
        with b.goto_entry_block():
            accs = {r.id: b.alloca(reg_type(r.dtype), ir.Constant(I64, extent),
                                   name=f"acc{r.id}") for r in reduces}

        def slot(r, i):
            return b.gep(accs[r.id], [b.sub(i, lo)], source_etype=reg_type(r.dtype),
                         inbounds=True)

        def init(i):
            for r in reduces:
                b.store(_reduce_init(r.attr, r.dtype, reg_type(r.dtype)), slot(r, i))
        self.loop(lo, hi, "cinit", init)

        def accumulate():
            outer_vals = dict(self.vals)

            def col(i):
                self.vars[gv] = i
                self.vals = dict(outer_vals)
                for r in reduces:
                    x = self.value(r.args[0])
                    p = slot(r, i)
                    b.store(self.combine(r.attr, r.dtype, b.load(p, typ=reg_type(r.dtype)), x),
                            p)
            self.loop(lo, hi, "col", col)
            self.vals = outer_vals
        self.rloops(lambda: accumulate() and None)

        def finish(i):
            self.vars[gv] = i
            self.vals = {r.id: b.load(slot(r, i), typ=reg_type(r.dtype)) for r in reduces}
            for ins in self.k.body:
                if not ins.inner and ins.op != "reduce":
                    self.value(ins)
        self.loop(lo, hi, "cfin", finish)

    def rloops(self, body, carried=()):
        rvars = self.k.rvars
        outer_vals = dict(self.vals)
        if self.unroll:
            # a small reduction (a pooling window): straight-line code, so the grid's own
            # innermost loop is the one the vectorizer sees
            import itertools
            acc = list(carried)
            for point in itertools.product(*[range(v.extent) for v in rvars]):
                for v, i in zip(rvars, point):
                    self.vars[v] = ir.Constant(I64, i)
                self.vals = dict(outer_vals)
                res = body(*acc)
                acc = list(res) if res is not None else acc
            self.vals = outer_vals
            return acc

        def nest(d, *acc):
            if d == len(rvars):
                self.vals = dict(outer_vals)
                return body(*acc)

            def inner(i, *acc2):
                self.vars[rvars[d]] = i
                return nest(d + 1, *acc2)
            return self.loop(ir.Constant(I64, 0), ir.Constant(I64, rvars[d].extent), f"r{d}",
                             inner, acc)

        out = nest(0, *carried)
        self.vals = outer_vals
        return out

    def emit_reduce(self, ins: Instr):
        kind = ins.attr
        x = ins.args[0]
        ty = reg_type(ins.dtype)
        init = _reduce_init(kind, ins.dtype, ty)

        tree = self._unrolled_tree(kind, ins.dtype, x)
        if tree is not None:
            return self.combine(kind, ins.dtype, init, tree)

        def body(acc):
            v = self.value(x)
            return [self.combine(kind, ins.dtype, acc, v)]
        (res,) = self.rloops(body, [init])
        return res

    def _unrolled_tree(self, kind, dt, x):
        """A small reduction (see :data:`UNROLL_REDUCTIONS`) combined as a balanced tree, so
        its additions are independent instead of one serial chain of FMA latencies (a 5x5
        convolution window: 25 dependent adds -> depth 5). Float sums/products only when
        reassociation is allowed; None when the reduction is emitted as loops."""
        rvars = self.k.rvars
        if not self.unroll or (dt.is_float and kind in ("sum", "prod") and not self.reassoc):
            return None
        import itertools
        outer_vals = dict(self.vals)
        vals = []
        for point in itertools.product(*[range(v.extent) for v in rvars]):
            for v, i in zip(rvars, point):
                self.vars[v] = ir.Constant(I64, i)
            self.vals = dict(outer_vals)
            vals.append(self.value(x))
        self.vals = outer_vals
        while len(vals) > 1:
            nxt = [self.combine(kind, dt, vals[i], vals[i + 1])
                   for i in range(0, len(vals) - 1, 2)]
            if len(vals) % 2:
                nxt.append(vals[-1])
            vals = nxt
        return vals[0]

    def combine(self, kind, dt, a, v):
        b = self.b
        fl = ["reassoc", "nsz", "contract"] if self.reassoc else []
        if dt.is_float:
            if kind == "sum":
                return b.fadd(a, v, flags=fl)
            if kind == "prod":
                return b.fmul(a, v, flags=fl)
            # llvm.maximum / llvm.minimum propagate NaN, as MXNet's max / min reductions do
            name = "llvm.maximum" if kind == "max" else "llvm.minimum"
            return b.call(self.intrinsic(name, a.type, 2), [a, v])
        if kind == "sum":
            return b.add(a, v)
        if kind == "prod":
            return b.mul(a, v)
        signed = dt.is_signed
        op = (">" if kind == "max" else "<")
        c = b.icmp_signed(op, a, v) if signed else b.icmp_unsigned(op, a, v)
        return b.select(c, a, v)

    # -- values ----------------------------------------------------------------------------------
    def value(self, ins: Instr):
        hit = self.vals.get(ins.id)
        if hit is not None:
            return hit
        v = self._value(ins)
        self.vals[ins.id] = v
        return v

    def _value(self, ins: Instr):
        b = self.b
        op = ins.op
        if op == "const":
            return _const(ins.dtype, ins.attr)
        if op == "index":
            return self.ix(ins.attr)
        if op == "load":
            buf, e = ins.attr
            if ins.args:
                return self._masked_load(buf, e, self.value(ins.args[0]))
            p = b.gep(self.bufptr[buf.pos], [self.ix(e)], source_etype=mem_type(buf.dtype),
                      inbounds=True)
            v = b.load(p, typ=mem_type(buf.dtype))
            if buf.dtype == DType.bool:
                v = b.icmp_unsigned("!=", v, ir.Constant(I8, 0))
            elif buf.dtype == DType.bf16:
                v = self._bf16_bits_to_f32(v)
            return v
        if op == "store":
            buf, e = ins.attr
            v = self.value(ins.args[0])
            if buf.dtype == DType.bool:
                v = b.zext(v, I8)
            elif buf.dtype == DType.bf16:
                v = self._f32_to_bf16_bits(v)
            base = self.bufptr[buf.pos if buf.alias_of is None else buf.alias_of]
            p = b.gep(base, [self.ix(e)], source_etype=mem_type(buf.dtype), inbounds=True)
            b.store(v, p)
            return v
        if op == "cast":
            return self.cast(self.value(ins.args[0]), ins.args[0].dtype, ins.dtype)
        if op == "where":
            c, x, y = (self.value(a) for a in ins.args)
            return b.select(c, x, y)
        if op == "alu":
            return self.alu(ins)
        if op == "reduce":
            raise RuntimeError("reduce values are emitted by emit_point")
        raise RuntimeError(f"unknown kernel instruction {op}")

    def _masked_load(self, buf, e, pred):
        """``pred ? buf[e] : 0`` with the load under a branch (the address may be out of
        bounds where ``pred`` is false); the loop vectorizer turns it into a masked load."""
        b = self.b
        ty = mem_type(buf.dtype)
        p = b.gep(self.bufptr[buf.pos], [self.ix(e)], source_etype=ty)
        before = b.block
        with b.if_then(pred):
            v = b.load(p, typ=ty)
            then_end = b.block
        phi = b.phi(ty)
        phi.add_incoming(v, then_end)
        phi.add_incoming(ir.Constant(ty, 0), before)
        if buf.dtype == DType.bool:
            return b.icmp_unsigned("!=", phi, ir.Constant(I8, 0))
        if buf.dtype == DType.bf16:
            return self._bf16_bits_to_f32(phi)
        return phi

    def _bf16_bits_to_f32(self, v):
        """bfloat16 bits (i16) -> the f32 of the same value (exact)."""
        b = self.b
        return b.bitcast(b.shl(b.zext(v, I32), ir.Constant(I32, 16)), ir.FloatType())

    def _f32_to_bf16_bits(self, v):
        """f32 -> bfloat16 bits, rounded to nearest even; NaN stays a (quiet) NaN."""
        b = self.b
        bits = b.bitcast(v, I32)
        lsb = b.and_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 1))
        rounded = b.lshr(b.add(bits, b.add(ir.Constant(I32, 0x7FFF), lsb)),
                         ir.Constant(I32, 16))
        isnan = b.fcmp_unordered("uno", v, v)
        qnan = b.or_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 0x40))
        return b.trunc(b.select(isnan, qnan, rounded), I16)

    def _round_to_bf16(self, v):
        """An f32 rounded to the nearest bfloat16, kept in f32 (a cast to bf16 in registers)."""
        return self._bf16_bits_to_f32(self._f32_to_bf16_bits(v))

    def _f64_to_f32_round_odd(self, v):
        """f64 -> f32 rounding toward zero, with the last bit set when inexact."""
        b = self.b
        f32, i32 = ir.FloatType(), ir.IntType(32)
        t = b.fptrunc(v, f32)
        back = b.fpext(t, ir.DoubleType())
        inexact = b.fcmp_ordered("!=", back, v)
        neg = b.fcmp_ordered("<", v, ir.Constant(ir.DoubleType(), 0.0))
        away = b.select(neg, b.fcmp_ordered("<", back, v), b.fcmp_ordered(">", back, v))
        bits = b.bitcast(t, i32)
        toward_zero = b.select(away, b.sub(bits, ir.Constant(i32, 1)), bits)
        odd = b.or_(toward_zero, ir.Constant(i32, 1))
        return b.bitcast(b.select(inexact, odd, bits), f32)

    def cast(self, v, src: DType, dst: DType):
        b = self.b
        if src == dst:
            return v
        st, dt_ = reg_type(src), reg_type(dst)
        if dst == DType.bool:
            if src.is_float:
                return b.fcmp_unordered("!=", v, ir.Constant(st, 0.0))
            return b.icmp_unsigned("!=", v, ir.Constant(st, 0))
        if src == DType.bool:
            return b.uitofp(v, dt_) if dst.is_float else b.zext(v, dt_)
        if src.is_float and dst.is_float:
            if src == DType.f64 and dst.itemsize < 4:
                # no f64 -> f16/bf16 instruction: LLVM calls a runtime helper the JIT does not
                # have (the process crashed). Round to f32 to odd first, which makes the
                # second rounding exact (f32 has over two more mantissa bits than f16/bf16).
                v, src = self._f64_to_f32_round_odd(v), DType.f32
            # bfloat16 lives in f32 registers: widen to f32, then round to bf16 or convert
            if src == DType.bf16 or dst == DType.bf16:
                if src == DType.f16:
                    v = b.fpext(v, ir.FloatType())
                if dst == DType.bf16:
                    return self._round_to_bf16(v)
                if dst == DType.f16:
                    return b.fptrunc(v, dt_)
                return b.fpext(v, dt_) if dst == DType.f64 else v
            return b.fpext(v, dt_) if dst.itemsize > src.itemsize else b.fptrunc(v, dt_)
        if src.is_float:
            return b.fptosi(v, dt_) if dst.is_signed else b.fptoui(v, dt_)
        if dst.is_float:
            v = b.sitofp(v, dt_) if src.is_signed else b.uitofp(v, dt_)
            return self._round_to_bf16(v) if dst == DType.bf16 else v
        if dst.itemsize > src.itemsize:
            return b.sext(v, dt_) if src.is_signed else b.zext(v, dt_)
        if dst.itemsize < src.itemsize:
            return b.trunc(v, dt_)
        return v

    def alu(self, ins: Instr):
        op = ins.attr
        adt = ins.args[0].dtype
        if adt.is_float:
            handler = FLOAT_OPS[op]
        elif adt == DType.bool and op in _BOOL_OPS:
            handler = INT_OPS[op]
        else:
            handler = INT_OPS.get(op)
            if handler is None:     # integer transcendental: compute in f64
                return self._via_f64(ins)
        return handler(self, adt, [self.value(a) for a in ins.args], op)

    def _via_f64(self, ins):
        args = [self.cast(self.value(a), a.dtype, DType.f64) for a in ins.args]
        r = FLOAT_OPS[ins.attr](self, DType.f64, args, ins.attr)
        return self.cast(r, DType.f64, ins.dtype)

    def _libm(self, base, dt, args):
        b = self.b
        if dt == DType.f64:
            ty, fname = ir.DoubleType(), base
        else:
            ty, fname = ir.FloatType(), base + "f"
        orig = args[0].type
        if orig != ty:
            args = [b.fpext(a, ty) for a in args]
        fn = self.m.globals.get(fname)
        if fn is None:
            fn = ir.Function(self.m, ir.FunctionType(ty, [ty] * len(args)), fname)
        r = b.call(fn, args)
        return b.fptrunc(r, orig) if orig != ty else r

    # float32 exp/log inline (Cephes expf/logf), so loops with them vectorize
    def _fexp32(self, x):
        b = self.b
        f = ir.FloatType()
        c = lambda v: ir.Constant(f, v)  # noqa: E731
        xc = b.select(b.fcmp_ordered(">", x, c(88.72283905206835)), c(88.72283905206835), x)
        xc = b.select(b.fcmp_ordered("<", xc, c(-103.97208)), c(-103.97208), xc)
        fx = b.call(self.intrinsic("llvm.floor", f),
                    [b.fadd(b.fmul(xc, c(1.44269504088896341)), c(0.5))])
        r = b.fsub(b.fsub(xc, b.fmul(fx, c(0.693359375))), b.fmul(fx, c(-2.12194440e-4)))
        z = b.fmul(r, r)
        y = c(1.9875691500e-4)
        fl = ("contract",)
        for a in (1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
                  5.0000001201e-1):
            y = b.fadd(b.fmul(y, r, flags=fl), c(a), flags=fl)
        y = b.fadd(b.fadd(b.fmul(y, z), r), c(1.0))
        n = b.fptosi(fx, I32)
        if host_has_avx512():
            # y * 2^n in one vscalefps, which rounds subnormal results and overflows to inf
            # (x is clamped to [-103.97, 88.72] above, so n is in [-150, 128])
            ldexp = self.m.globals.get("llvm.ldexp.f32.i32") or ir.Function(
                self.m, ir.FunctionType(f, [f, I32]), "llvm.ldexp.f32.i32")
            out = b.call(ldexp, [y, n])
            out = b.select(b.fcmp_ordered(">", x, c(88.72283905206835)), c(float("inf")), out)
            return b.select(b.fcmp_unordered("uno", x, x), x, out)
        # y * 2^n as two scalings, so n in [-150, 128] needs no special cases
        n1 = b.ashr(n, ir.Constant(I32, 1))
        n2 = b.sub(n, n1)

        def pow2(k):
            return b.bitcast(b.shl(b.add(k, ir.Constant(I32, 127)), ir.Constant(I32, 23)), f)
        out = b.fmul(b.fmul(y, pow2(n1)), pow2(n2))
        out = b.select(b.fcmp_ordered(">", x, c(88.72283905206835)), c(float("inf")), out)
        out = b.select(b.fcmp_ordered("<", x, c(-103.97208)), c(0.0), out)
        return b.select(b.fcmp_unordered("uno", x, x), x, out)

    def _flog32(self, x):
        b = self.b
        f = ir.FloatType()
        c = lambda v: ir.Constant(f, v)  # noqa: E731
        sub = b.fcmp_ordered("<", x, c(1.17549435e-38))       # subnormal: scale by 2^23
        xs = b.select(sub, b.fmul(x, c(8388608.0)), x)
        bits = b.bitcast(xs, I32)
        e = b.sub(b.lshr(bits, ir.Constant(I32, 23)), ir.Constant(I32, 126))
        e = b.sub(e, b.select(sub, ir.Constant(I32, 23), ir.Constant(I32, 0)))
        m = b.bitcast(b.or_(b.and_(bits, ir.Constant(I32, 0x807FFFFF)),
                            ir.Constant(I32, 0x3F000000)), f)      # mantissa in [0.5, 1)
        small = b.fcmp_ordered("<", m, c(0.707106781186547524))
        e = b.sub(e, b.zext(small, I32))
        m = b.fsub(b.select(small, b.fadd(m, m), m), c(1.0))
        fe = b.sitofp(e, f)
        z = b.fmul(m, m)
        y = c(7.0376836292e-2)
        fl = ("contract",)
        for a in (-1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
                  -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1):
            y = b.fadd(b.fmul(y, m, flags=fl), c(a), flags=fl)
        y = b.fmul(b.fmul(y, m), z)
        y = b.fadd(y, b.fmul(fe, c(-2.12194440e-4)))
        y = b.fsub(y, b.fmul(z, c(0.5)))
        out = b.fadd(b.fadd(m, y), b.fmul(fe, c(0.693359375)))
        out = b.select(b.fcmp_ordered("==", x, c(float("inf"))), x, out)
        out = b.select(b.fcmp_ordered("==", x, c(0.0)), c(float("-inf")), out)
        out = b.select(b.fcmp_ordered("<", x, c(0.0)), c(float("nan")), out)
        # subnormals and NaN: fall back to the exact formula's edge values
        return b.select(b.fcmp_unordered("uno", x, x), x, out)

    # op handlers: (emitter, operand dtype, operand values, op) -> value
    def _exp(self, dt, a, _):
        return self._fexp32(a[0]) if dt == DType.f32 else self._call_intrinsic("llvm.exp", a)

    def _log(self, dt, a, _):
        return self._flog32(a[0]) if dt == DType.f32 else self._call_intrinsic("llvm.log", a)

    def _call_intrinsic(self, name, a):
        return self.b.call(self.intrinsic(name, a[0].type, len(a)), a)

    def _rsqrt(self, dt, a, _):
        s = self.b.call(self.intrinsic("llvm.sqrt", a[0].type), a)
        return self.b.fdiv(ir.Constant(a[0].type, 1.0), s)

    def _fsign(self, dt, a, _):
        b, x = self.b, a[0]
        one, zero = ir.Constant(x.type, 1.0), ir.Constant(x.type, 0.0)
        pos = b.select(b.fcmp_ordered(">", x, zero), one, zero)
        return b.select(b.fcmp_ordered("<", x, zero), ir.Constant(x.type, -1.0), pos)

    def _fmax(self, dt, a, _):
        return self.b.select(self.b.fcmp_ordered(">", a[0], a[1]), a[0], a[1])

    def _fmin(self, dt, a, _):
        return self.b.select(self.b.fcmp_ordered("<", a[0], a[1]), a[0], a[1])

    def _ffloordiv(self, dt, a, _):
        q = self.b.fdiv(a[0], a[1])
        return self.b.call(self.intrinsic("llvm.floor", q.type), [q])

    def _logic(self, dt, a, name):
        b = self.b
        x, y = (b.fcmp_unordered("!=", v, ir.Constant(v.type, 0.0)) for v in a)
        r = {"and_": b.and_, "or_": b.or_, "xor": b.xor}[name](x, y)
        return r

    def _not(self, dt, a, _):
        b, x = self.b, a[0]
        if x.type == I1:
            return b.xor(x, ir.Constant(I1, 1))
        if dt.is_float:
            return b.fcmp_ordered("==", x, ir.Constant(x.type, 0.0))
        return b.icmp_unsigned("==", x, ir.Constant(x.type, 0))

    def _idiv(self, dt, a, _):
        return self.b.sdiv(*a) if dt.is_signed else self.b.udiv(*a)

    def _ifloordiv(self, dt, a, _):
        b = self.b
        if not dt.is_signed:
            return b.udiv(*a)
        q = b.sdiv(*a)
        r = b.srem(*a)
        zero = ir.Constant(a[0].type, 0)
        adjust = b.and_(b.icmp_signed("!=", r, zero),
                        b.icmp_signed("!=", b.icmp_signed("<", r, zero),
                                      b.icmp_signed("<", a[1], zero)))
        return b.sub(q, b.zext(adjust, a[0].type))

    def _imod(self, dt, a, _):
        return self.b.srem(*a) if dt.is_signed else self.b.urem(*a)

    def _ineg(self, dt, a, _):
        return self.b.sub(ir.Constant(a[0].type, 0), a[0])

    def _iabs(self, dt, a, _):
        b, x = self.b, a[0]
        if not dt.is_signed:
            return x
        return b.select(b.icmp_signed("<", x, ir.Constant(x.type, 0)), self._ineg(dt, a, _), x)

    def _isign(self, dt, a, _):
        b, x = self.b, a[0]
        zero, one = ir.Constant(x.type, 0), ir.Constant(x.type, 1)
        pos = b.select(b.icmp_signed(">", x, zero), one, zero)
        if not dt.is_signed:
            return pos
        return b.select(b.icmp_signed("<", x, zero), ir.Constant(x.type, -1), pos)

    def _imax(self, dt, a, _):
        c = self.b.icmp_signed(">", *a) if dt.is_signed else self.b.icmp_unsigned(">", *a)
        return self.b.select(c, *a)

    def _imin(self, dt, a, _):
        c = self.b.icmp_signed("<", *a) if dt.is_signed else self.b.icmp_unsigned("<", *a)
        return self.b.select(c, *a)

    def _ipow(self, dt, a, _):
        b = self.b
        f64 = ir.DoubleType()
        x, y = (self.cast(v, dt, DType.f64) for v in a)
        r = b.call(self.intrinsic("llvm.pow", f64, 2), [x, y])
        return self.cast(r, DType.f64, dt)


# -- op tables: one handler per kir.Alu op, (emitter, dtype, args, op) -> value ------------------
_CONTRACT = ("contract",)       # allow fused multiply-add (one rounding instead of two)


def _intrinsic(name):
    return lambda e, dt, a, op: e._call_intrinsic(name, a)


def _libm(name):
    return lambda e, dt, a, op: e._libm(name, dt, a)


def _fcmp(pred):
    if pred == "!=":                # true when unordered: NaN != x
        return lambda e, dt, a, op: e.b.fcmp_unordered(pred, *a)
    return lambda e, dt, a, op: e.b.fcmp_ordered(pred, *a)


def _icmp(pred):
    def h(e, dt, a, op):
        if dt.is_signed or dt == DType.bool:
            return e.b.icmp_signed(pred, *a)
        return e.b.icmp_unsigned(pred, *a)
    return h


FLOAT_OPS = {
    Alu.add: lambda e, dt, a, op: e.b.fadd(*a, flags=_CONTRACT),
    Alu.sub: lambda e, dt, a, op: e.b.fsub(*a, flags=_CONTRACT),
    Alu.mul: lambda e, dt, a, op: e.b.fmul(*a, flags=_CONTRACT),
    Alu.div: lambda e, dt, a, op: e.b.fdiv(*a, flags=_CONTRACT),
    Alu.neg: lambda e, dt, a, op: e.b.fneg(a[0]),
    Alu.mod: lambda e, dt, a, op: e.b.frem(*a),
    Alu.exp: _Emitter._exp, Alu.log: _Emitter._log,
    **{getattr(Alu, n): _intrinsic("llvm." + i) for n, i in (
        ("abs", "fabs"), ("log2", "log2"), ("log10", "log10"), ("sqrt", "sqrt"), ("sin", "sin"),
        ("cos", "cos"), ("floor", "floor"), ("ceil", "ceil"), ("round", "round"),
        ("trunc", "trunc"), ("rint", "rint"), ("pow", "pow"))},
    **{getattr(Alu, n): _libm(n) for n in (
        "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf",
        "lgamma", "tgamma", "expm1", "log1p", "cbrt", "hypot", "atan2")},
    Alu.rsqrt: _Emitter._rsqrt, Alu.sign: _Emitter._fsign, Alu.max: _Emitter._fmax,
    Alu.min: _Emitter._fmin, Alu.floordiv: _Emitter._ffloordiv,
    Alu.lt: _fcmp("<"), Alu.le: _fcmp("<="), Alu.gt: _fcmp(">"), Alu.ge: _fcmp(">="),
    Alu.eq: _fcmp("=="), Alu.ne: _fcmp("!="),
    Alu.and_: _Emitter._logic, Alu.or_: _Emitter._logic, Alu.xor: _Emitter._logic,
    Alu.not_: _Emitter._not,
}
# integers; an op missing here (a transcendental) is computed in f64 and converted back
INT_OPS = {
    Alu.add: lambda e, dt, a, op: e.b.add(*a), Alu.sub: lambda e, dt, a, op: e.b.sub(*a),
    Alu.mul: lambda e, dt, a, op: e.b.mul(*a), Alu.div: _Emitter._idiv,
    Alu.floordiv: _Emitter._ifloordiv, Alu.mod: _Emitter._imod, Alu.neg: _Emitter._ineg,
    Alu.abs: _Emitter._iabs, Alu.sign: _Emitter._isign, Alu.max: _Emitter._imax,
    Alu.min: _Emitter._imin, Alu.pow: _Emitter._ipow,
    Alu.and_: lambda e, dt, a, op: e.b.and_(*a), Alu.or_: lambda e, dt, a, op: e.b.or_(*a),
    Alu.xor: lambda e, dt, a, op: e.b.xor(*a), Alu.not_: _Emitter._not,
    Alu.lt: _icmp("<"), Alu.le: _icmp("<="), Alu.gt: _icmp(">"), Alu.ge: _icmp(">="),
    Alu.eq: _icmp("=="), Alu.ne: _icmp("!="),
}
# booleans take the integer forms of these (i1 logic and comparisons)
_BOOL_OPS = frozenset((Alu.and_, Alu.or_, Alu.xor, Alu.not_, Alu.eq, Alu.ne))

def _column_reduction(k: Kernel) -> bool:
    """Should this reduction kernel accumulate whole rows of results (see emit_columns)?
    Yes when every store is of reduced values (outer scope), no reduction reads another, the
    innermost grid axis is contiguous in the loads and the innermost reduction axis is not."""
    if not k.rdims or not k.grid or k.grid[-1] > 65536:
        return False
    if _unroll_reduction(k):
        return False        # unrolled in place: the grid's innermost loop vectorizes as is
    if any(i.op == "store" and i.inner for i in k.body):
        return False
    reduces = {i.id for i in k.body if i.op == "reduce"}

    def uses_reduce(ins, seen):
        for a in ins.args:
            if a.id in reduces or (a.id not in seen and (seen.add(a.id) or
                                                         uses_reduce(a, seen))):
                return True
        return False
    if any(uses_reduce(i.args[0], set()) for i in k.body if i.op == "reduce"):
        return False
    g_last, r_last = k.gvars[-1], k.rvars[-1]
    loads = [i.attr[1] for i in k.body if i.op == "load" and i.inner]
    return bool(loads) and any(ix.coeff(g_last) == 1 for ix in loads) and \
        all(ix.coeff(r_last) != 1 for ix in loads)


def _safe(n: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in n)[:40]


def _const(dt: DType, v):
    t = reg_type(dt)
    if dt == DType.bool:
        return ir.Constant(I1, int(bool(v)))
    if dt == DType.bf16:
        import torch
        v = float(torch.tensor(float(v), dtype=torch.bfloat16))
    if dt.is_float:
        return ir.Constant(t, float(v))
    return ir.Constant(t, int(v))


def _reduce_init(kind, dt, ty):
    return ir.Constant(ty, reduce_identity(kind, dt))


def render_module(kernels, name: str = "mxc") -> str:
    """LLVM IR text (before optimization) of a module holding ``kernels``."""
    _init()
    m = ir.Module(name)
    m.triple = llvm.get_process_triple()
    m.data_layout = str(_TM.target_data)
    for k in kernels:
        _Emitter(m, mathlib.expand_kernel(k, EXPAND)).emit()
    return str(m)


class CompilePool:
    """Worker processes that run LLVM's optimizer and code generator on kernels.

    Optimizing and emitting a kernel takes ~20-60 ms and is most of a cold compile; llvmlite
    runs every LLVM call in a process behind one lock, so kernels compile in parallel only in
    separate processes. Each worker runs ``llvm_worker.py`` as a script (it imports llvmlite, not
    mxc or torch: it is ready in ~0.1 s) and answers one kernel at a time over pipes; the calling
    thread compiles too. The machine code is the same as compiling in this process (same LLVM,
    same CPU name and features, same pipeline), so results do not depend on who compiled what.
    A worker that cannot start or dies is dropped and its kernels compile here.
    ``MXC_COMPILE_JOBS`` counts the processes compiling at once, this one included."""

    # seconds the workers may still take once this process has run out of kernels to
    # compile; a worker silent for longer is taken for hung and its kernels compile here
    stall_s = 60.0

    def __init__(self, jobs: int):
        import os
        self.size = max(0, jobs - 1)
        self.pid = os.getpid()
        self.procs: list = []
        self.ready: set = set()             # workers whose start-up message was read
        self.failed = False

    def start(self):
        """Start the workers (without waiting for them) if not yet started."""
        import os
        import subprocess
        import sys
        if self.procs or self.failed or self.size == 0:
            return
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "llvm_worker.py")
        try:
            for _ in range(self.size):
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-u", script], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True))
        except OSError:
            self.failed = True
            self.close()

    def close(self, wait: bool = True):
        """Stop the workers (end of input makes them exit); ``wait=False`` at interpreter
        exit, where waiting for each to finish only delayed the user's process."""
        for p in self.procs:
            try:
                p.stdin.close()
                if wait:
                    p.wait(timeout=1)
            except Exception:  # noqa: BLE001 - best effort at exit
                p.kill()
        self.procs = []
        self.ready = set()

    def compile(self, jobs, local):
        """Results of ``jobs`` (an iterable of ``(tag, ir_text)``, consumed lazily so that
        rendering overlaps compiling) as ``{tag: (object, optimized IR)}``; ``local(text)``
        compiles one in this process."""
        import queue
        import threading as th

        self.start()
        todo: queue.SimpleQueue = queue.SimpleQueue()
        done: dict = {}
        cpu, features = host_cpu()
        level = opt_level()

        def serve(proc):
            try:
                if proc not in self.ready:
                    if llvm_worker.read_msg(proc.stdout) is None:
                        raise OSError("compile worker did not start")
                    self.ready.add(proc)
                while True:
                    job = todo.get()
                    if job is None:
                        return
                    tag, text = job
                    try:
                        llvm_worker.write_msg(proc.stdin, (tag, text, cpu, features, level))
                        reply = llvm_worker.read_msg(proc.stdout)
                    except (OSError, ValueError):
                        reply = None
                    if reply is None or reply[3] is not None:
                        todo.put(job)       # compiled by the calling thread instead
                        if reply is None:
                            raise OSError("compile worker died")
                        continue
                    done[tag] = (reply[1], reply[2])
            except (OSError, ValueError, EOFError):
                self.failed = True      # no new workers; the live ones finish this batch

        threads = [th.Thread(target=serve, args=(p,), daemon=True) for p in self.procs]
        for t in threads:
            t.start()
        n = 0
        for job in jobs:
            todo.put(job)
            n += 1
        # the calling thread compiles too, until the queue is empty
        while True:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                break
            if job is None:
                continue
            done[job[0]] = local(job[1])
        for _ in threads:
            todo.put(None)
        deadline = time.monotonic() + self.stall_s
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in threads):
            # a worker stopped answering (a kernel compiles in well under a second): stop the
            # workers; the ones waiting on them hand their kernels back, compiled below
            self.failed = True
            for p in self.procs:
                p.kill()
            for t in threads:
                t.join()
        # jobs a dying worker handed back after the queue ran dry
        while True:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                break
            if job is not None and job[0] not in done:
                done[job[0]] = local(job[1])
        if self.failed:
            self.close()
            self.size = 0
        assert len(done) == n, "compile pool lost a kernel"
        return done


_POOL: CompilePool | None = None


def compile_pool() -> CompilePool:
    """The process's compile workers (a new set after a fork)."""
    import os
    global _POOL
    if _POOL is None or _POOL.pid != os.getpid():
        from .. import config
        jobs = config.get("MXC_COMPILE_JOBS")
        if jobs is None:
            from .parallel import num_threads
            jobs = min(num_threads(), 16)
        _POOL = CompilePool(jobs)
        import atexit
        atexit.register(_POOL.close, wait=False)
    return _POOL


def prestart_compile_pool():
    """Start the compile workers now (a compilation is about to need them) so that their
    start-up overlaps the passes."""
    compile_pool().start()


class _JIT:
    """Process-wide: one MCJIT engine holding one compiled function per kernel signature.

    Kernels that compute the same thing (an unrolled LSTM's steps, the same layer in every
    bucket) share machine code. A signature not compiled in this process is looked up in the
    persistent cache (object code per kernel) before LLVM is run for it; what is left compiles
    on the :class:`CompilePool`."""

    def __init__(self):
        _init()
        self.ee = llvm.create_mcjit_compiler(llvm.parse_assembly(""), host_target_machine())
        self.symbols: dict[str, str] = {}        # signature hash -> symbol
        self.opt_ir: dict[str, str] = {}         # symbol -> optimized IR text
        self.protos: dict[str, object] = {}      # symbol -> ctypes function
        self.lock = threading.Lock()
        self.stats = {"compiled": 0, "from_disk": 0, "shared": 0}

    def ensure(self, kernels) -> dict:
        """kernel name -> (symbol, element offset per argument), compiling what is new.

        Kernels are compiled with their constant buffer offsets split off
        (:func:`kir.split_offsets`); the caller adds the offsets to the pointers it passes."""
        import dataclasses
        import hashlib

        from . import cache
        out = {}
        with self.lock:
            level = opt_level()
            new: dict[str, tuple] = {}              # symbol -> (kernel, cache key)
            loaded: dict[str, tuple] = {}           # symbol -> (object, optimized IR)
            for k in kernels:
                code = None if k.code_cache is None else k.code_cache.get("llvm")
                if code is None:
                    ks, offsets = split_offsets(k)
                    # the outermost extent is the call's lo, hi, except in a 1-D grid's
                    # column accumulation (its row of accumulators is sized by it) and in the
                    # choice of that accumulation (see _column_reduction)
                    columns = _column_reduction(ks)
                    code = (f"columns={columns}\n"
                            f"{ks.signature(outer_extent=columns and len(ks.grid) == 1)}",
                            offsets)
                    if k.code_cache is not None:
                        k.code_cache["llvm"] = code
                body_sig, offsets = code
                sig = f"O{level} {body_sig}"
                h = hashlib.sha256(sig.encode()).hexdigest()[:24]
                sym = f"mxc_{h}"
                out[k.name] = (sym, offsets)
                if h in self.symbols or sym in new or sym in loaded:
                    self.stats["shared"] += 1
                    continue
                key = cache.cache_key(sig, "llvm-kernel", "")
                hit = cache.load_blob(key)
                if hit is not None:
                    loaded[sym] = hit
                    self.stats["from_disk"] += 1
                else:
                    new[sym] = (k, key)

            def render(sym):
                ks = split_offsets(new[sym][0])[0]
                return render_module([dataclasses.replace(ks, name=sym)], sym)

            def local(text):
                return llvm_worker.compile_ir(text, *host_cpu(), level)

            if len(new) >= 2 and compile_pool().size:
                built = compile_pool().compile(((s, render(s)) for s in new), local)
            else:
                built = {s: local(render(s)) for s in new}
            for sym, (k, key) in new.items():
                cache.store_blob(key, built[sym])
                self.stats["compiled"] += 1
            # object files are added in the kernels' order, whoever compiled them
            for sym in list(loaded) + list(new):
                obj, opt = loaded[sym] if sym in loaded else built[sym]
                self.ee.add_object_file(llvm.ObjectFileRef.from_data(obj))
                self.symbols[sym[4:]] = sym
                self.opt_ir[sym] = opt
            if loaded or new:                   # every kernel already here: nothing to link
                self.ee.finalize_object()
        return out

    def function(self, sym: str, n_buffers: int):
        f = self.protos.get(sym)
        if f is None:
            proto = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_buffers), ctypes.c_int64,
                                     ctypes.c_int64)
            f = proto(self.ee.get_function_address(sym))
            self.protos[sym] = f
        return f


_JIT_INSTANCE = None
_JIT_LOCK = threading.Lock()


def jit() -> _JIT:
    global _JIT_INSTANCE
    if _JIT_INSTANCE is None:
        with _JIT_LOCK:
            if _JIT_INSTANCE is None:
                _JIT_INSTANCE = _JIT()
    return _JIT_INSTANCE


class LLVMModule:
    """The compiled kernels of one program; ``get(name)`` returns a ctypes function.

    Code lives in the process-wide JIT (one function per distinct kernel); ``ir`` is the
    program's LLVM IR before optimization, ``optimized_ir`` that of its distinct kernels after.
    """

    def __init__(self, kernels, name: str = "mxc"):
        self.kernels = list(kernels)
        self.name = name
        self._by_name = {k.name: k for k in self.kernels}
        placed = jit().ensure(self.kernels)
        self.symbols = {n: sym for n, (sym, _) in placed.items()}
        # byte offset to add to each argument's pointer (the offsets split off for sharing)
        self.byte_offsets = {
            n: tuple(o * b.dtype.itemsize for o, b in zip(offs, self._by_name[n].buffers))
            for n, (_, offs) in placed.items()}
        self._ir = None

    @property
    def ir(self) -> str:
        if self._ir is None:
            self._ir = render_module(self.kernels, self.name)
        return self._ir

    @property
    def optimized_ir(self) -> str:
        seen = []
        for k in self.kernels:
            sym = self.symbols[k.name]
            if sym not in seen:
                seen.append(sym)
        j = jit()
        return "\n".join(f"; kernel {', '.join(k.name for k in self.kernels if self.symbols[k.name] == s)}"
                         f"\n{j.opt_ir[s]}" for s in seen)

    def raw(self, name: str):
        """(ctypes function, byte offsets): call it with each buffer's address plus its offset,
        then the grid range ``lo, hi``."""
        return (jit().function(self.symbols[name], len(self._by_name[name].buffers)),
                self.byte_offsets[name])

    def get(self, name: str):
        """A function taking the buffers' addresses, then ``lo, hi``."""
        fn, offs = self.raw(name)
        if not any(offs):
            return fn
        return lambda *a: fn(*(p + o for p, o in zip(a, offs)), *a[len(offs):])

    def assembly(self) -> str:
        j = jit()
        syms = dict.fromkeys(self.symbols.values())
        return "\n".join(host_target_machine().emit_assembly(llvm.parse_assembly(j.opt_ir[s]))
                         for s in syms)


