"""Triton renderer: kernels -> Python source with ``@triton.jit`` functions, and their launch.

Pointwise kernels flatten their grid and process ``BLOCK`` elements per program. Reduction
kernels run one program per grid point: each reduction loops over the inner space in chunks of
``RBLOCK`` with a vector accumulator, then inner-scope stores loop once more. Ops Triton's core
language lacks (``tanh``, ``pow``, ``lgamma`` ...; its interpreter cannot call libdevice) are
expanded by :mod:`mxc.codegen.mathlib` first, so the same source runs under
``TRITON_INTERPRET=1`` on a CPU and compiles for sm_90.

Rendering needs no GPU (it is text); :func:`load_source` imports it (interpreted when there is
no CUDA device) and :class:`TritonKernel` launches it on torch tensors.
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import threading

from ..ir.types import DType
from . import mathlib
from .kir import Alu, Instr, Ix, Kernel, Var, reduce_identity, row_major_strides

__all__ = ["render_kernel", "render_module", "load_source", "TritonKernel", "TRITON_OPS",
           "EXPAND", "triton_signature", "compile_cubin"]

TL_TYPES = {
    DType.f32: "tl.float32", DType.f64: "tl.float64", DType.f16: "tl.float16",
    DType.bf16: "tl.bfloat16", DType.i8: "tl.int8", DType.u8: "tl.uint8", DType.bool: "tl.int1",
    DType.i16: "tl.int16", DType.u16: "tl.uint16", DType.i32: "tl.int32", DType.u32: "tl.uint32",
    DType.i64: "tl.int64", DType.u64: "tl.uint64",
}
SIG_TYPES = {
    DType.f32: "fp32", DType.f64: "fp64", DType.f16: "fp16", DType.bf16: "bf16", DType.i8: "i8",
    DType.u8: "u8", DType.bool: "i1", DType.i16: "i16", DType.u16: "u16", DType.i32: "i32",
    DType.u32: "u32", DType.i64: "i64", DType.u64: "u64",
}

# kir.Alu op -> its Triton expression, a format with {0}, {1} for the operands
TRITON_OPS = {
    Alu.add: "({0} + {1})", Alu.sub: "({0} - {1})", Alu.mul: "({0} * {1})", Alu.div: "({0} / {1})",
    Alu.floordiv: "tl.floor({0} / {1})", Alu.mod: "({0} % {1})", Alu.neg: "(-{0})",
    Alu.abs: "tl.abs({0})", Alu.exp: "tl.exp({0})", Alu.log: "tl.log({0})",
    Alu.sqrt: "tl.sqrt({0})", Alu.rsqrt: "tl.rsqrt({0})", Alu.sin: "tl.sin({0})",
    Alu.cos: "tl.cos({0})", Alu.floor: "tl.floor({0})", Alu.ceil: "tl.ceil({0})",
    Alu.erf: "tl.erf({0})", Alu.sigmoid: "tl.sigmoid({0})", Alu.max: "tl.maximum({0}, {1})",
    Alu.min: "tl.minimum({0}, {1})", Alu.lt: "({0} < {1})", Alu.le: "({0} <= {1})",
    Alu.gt: "({0} > {1})", Alu.ge: "({0} >= {1})", Alu.eq: "({0} == {1})", Alu.ne: "({0} != {1})",
    Alu.and_: "({0} & {1})", Alu.or_: "({0} | {1})", Alu.xor: "({0} ^ {1})",
    Alu.not_: "({0} == 0)",
}
# integer // and % truncate (C semantics, compiled and interpreted); floordiv rounds down
INT_DIV = {Alu.div: "({0} // {1})",
           Alu.floordiv: "tl.where((({0} % {1}) != 0) & ((({0} % {1}) < 0) != ({1} < 0)), "
                         "{0} // {1} - 1, {0} // {1})"}
# expanded into the ops above before rendering
EXPAND = set(mathlib.EXPANSIONS) - set(TRITON_OPS)

BLOCK = 1024
RBLOCK_MAX = 1024


def _lit(v, dt: DType) -> str:
    if dt == DType.bool:
        return "True" if v else "False"
    if dt.is_float:
        if math.isnan(v):
            return "float('nan')"
        if math.isinf(v):
            return "float('inf')" if v > 0 else "float('-inf')"
        return repr(float(v))
    return str(int(v))


class _Render:
    def __init__(self, kern: Kernel):
        self.k = mathlib.expand_kernel(kern, EXPAND, float_only=False)
        self.lines: list[str] = []
        self.names: dict[int, str] = {}
        self.ix_cache: dict = {}
        self.reduction = bool(self.k.rdims)

    def emit(self, line, indent=1):
        self.lines.append("    " * indent + line)

    # index expressions as Python/Triton text
    def ix(self, e: Ix) -> str:
        parts = []
        for a, c in e.terms.items():
            if isinstance(a, Var):
                t = str(a)
            elif a[0] == "div":
                t = f"(({self.ix(a[1])}) // {a[2]})"
            else:
                t = f"(({self.ix(a[1])}) % {a[2]})"
            parts.append(t if c == 1 else f"{t} * {c}")
        if e.const or not parts:
            parts.append(str(e.const))
        return " + ".join(parts)

    def render(self) -> str:
        k = self.k
        bufs = [f"b{b.pos}" for b in k.buffers]
        srcs = ", ".join(k.sources) if k.sources else k.name
        self.lines.append(f"# {k.name}: {srcs}")
        self.lines.append("@triton.jit")
        consts = "RBLOCK: tl.constexpr" if self.reduction else "BLOCK: tl.constexpr"
        self.lines.append(f"def {k.name}({', '.join(bufs + [consts])}):")
        if self.reduction:
            self.render_reduction()
        else:
            self.render_pointwise()
        return "\n".join(self.lines) + "\n"

    def _grid_vars(self, lin: str, indent: int):
        gv = self.k.gvars
        for v, s in zip(gv, row_major_strides([v.extent for v in gv])):
            if len(gv) == 1:
                self.emit(f"{v} = {lin}", indent)
            else:
                self.emit(f"{v} = ({lin} // {s}) % {v.extent}", indent)

    def render_pointwise(self):
        total = math.prod(self.k.grid) if self.k.grid else 1
        wide = total >= 2 ** 31 or any(b.numel >= 2 ** 31 for b in self.k.buffers)
        self.emit("pid = tl.program_id(0)")
        if wide:
            self.emit("offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)")
        else:
            self.emit("offs = pid * BLOCK + tl.arange(0, BLOCK)")
        self.emit(f"mask = offs < {total}")
        self._grid_vars("offs", 1)
        for ins in self.k.body:
            self.instr(ins, 1, "mask")

    def render_reduction(self):
        k = self.k
        self.emit("pid = tl.program_id(0)")
        if any(b.numel >= 2 ** 31 for b in k.buffers):
            self.emit("pid = pid.to(tl.int64)")
        self._grid_vars("pid", 1)
        rtotal = math.prod(k.rdims)
        inner_stores = []
        for ins in k.body:
            if ins.op == "store" and ins.inner:
                inner_stores.append(ins)
            elif ins.op == "reduce":
                self.reduce(ins, rtotal)
            elif not ins.inner:
                self.instr(ins, 1, None)
        if inner_stores:
            self.rloop(rtotal, 1, lambda ind: [self.value_tree(s, ind) for s in inner_stores])

    def rloop(self, rtotal, indent, body):
        saved = dict(self.names)
        self.emit(f"for r_start in range(0, {rtotal}, RBLOCK):", indent)
        ind = indent + 1
        self.emit("rr = r_start + tl.arange(0, RBLOCK)", ind)
        self.emit(f"rmask = rr < {rtotal}", ind)
        rv = self.k.rvars
        for v, s in zip(rv, row_major_strides([v.extent for v in rv])):
            self.emit(f"{v} = rr" if len(rv) == 1 else f"{v} = (rr // {s}) % {v.extent}", ind)
        body(ind)
        self.names = saved

    def value_tree(self, ins: Instr, indent):
        """Emit the inner-scope instructions ``ins`` depends on (outer ones are names)."""
        for a in ins.args:
            if a.id not in self.names:
                self.value_tree(a, indent)
        if ins.id not in self.names or ins.op == "store":
            self.instr(ins, indent, "rmask")

    def reduce(self, ins: Instr, rtotal):
        kind = ins.attr
        dt = ins.dtype
        x = ins.args[0]
        init = _reduce_init(kind, dt)
        acc = f"acc{ins.id}"
        rb = min(RBLOCK_MAX, 1 << max(0, (rtotal - 1).bit_length()))
        _ = rb
        self.emit(f"{acc} = tl.full([RBLOCK], {init}, {TL_TYPES[dt]})")

        def body(ind):
            self.value_tree(x, ind)
            v = f"tl.where(rmask, {self.names[x.id]}, {init})"
            if kind == "sum":
                self.emit(f"{acc} = {acc} + {v}", ind)
            elif kind == "prod":
                self.emit(f"{acc} = {acc} * {v}", ind)
            elif kind == "max":
                self.emit(f"{acc} = _max_nan({acc}, {v})", ind)
            else:
                self.emit(f"{acc} = _min_nan({acc}, {v})", ind)
        self.rloop(rtotal, 1, body)
        name = f"v{ins.id}"
        if kind == "sum":
            self.emit(f"{name} = tl.sum({acc}, axis=0)")
        else:
            comb = {"prod": "_mul_combine", "max": "_max_nan", "min": "_min_nan"}[kind]
            self.emit(f"{name} = tl.reduce({acc}, 0, {comb})")
        self.names[ins.id] = name

    def _addr(self, buf, e: Ix, mask) -> str:
        pos = buf.pos if buf.alias_of is None else buf.alias_of
        a = f"b{pos} + ({self.ix(e)})"
        if mask and e.is_const:
            # one fixed element under a block mask: give the pointer the block's shape
            a += f" + tl.zeros_like({'offs' if mask == 'mask' else 'rr'})"
        return a

    def instr(self, ins: Instr, indent, mask):
        n = lambda a: self.names[a.id]  # noqa: E731
        name = f"v{ins.id}"
        op = ins.op
        if op == "const":
            self.names[ins.id] = _lit(ins.attr, ins.dtype)
            return
        if op == "index":
            expr = self.ix(ins.attr)
        elif op == "load":
            buf, e = ins.attr
            if ins.args:                    # a masked view: only where the guard holds
                g = n(ins.args[0])
                both = f"({mask}) & ({g})" if mask else g
                expr = f"tl.load({self._addr(buf, e, mask)}, mask={both}, other=0)"
            else:
                m = f", mask={mask}, other=0" if mask else ""
                expr = f"tl.load({self._addr(buf, e, mask)}{m})"
        elif op == "store":
            buf, e = ins.attr
            val = n(ins.args[0])
            if ins.args[0].op == "const":
                val = f"tl.full([{'BLOCK' if mask == 'mask' else 'RBLOCK'}], {val}, " \
                      f"{TL_TYPES[buf.dtype]})" if mask else val
            m = f", mask={mask}" if mask else ""
            self.emit(f"tl.store({self._addr(buf, e, mask)}, {val}{m})", indent)
            return
        elif op == "cast":
            a = ins.args[0]
            if a.op == "const":
                self.names[ins.id] = _lit(a.attr, ins.dtype)
                return
            expr = f"{n(a)}.to({TL_TYPES[ins.dtype]})"
        elif op == "where":
            c, a, b = ins.args
            expr = f"tl.where({n(c)}, {n(a)}, {n(b)})"
        elif op == "alu":
            adt = ins.args[0].dtype
            fmt = INT_DIV.get(ins.attr) if not adt.is_float else None
            fmt = fmt or TRITON_OPS.get(ins.attr)
            if fmt is None:
                raise RuntimeError(f"Triton renderer: no rendering for {ins.attr}")
            args = [n(a) for a in ins.args]
            if all(a.op == "const" for a in ins.args):
                # constant operands: give Triton a typed tensor to work on
                args[0] = f"tl.full([1], {args[0]}, {TL_TYPES[ins.args[0].dtype]})"
            expr = fmt.format(*args)
        else:
            raise RuntimeError(f"Triton renderer: unexpected instruction {op}")
        self.emit(f"{name} = {expr}", indent)
        self.names[ins.id] = name


def _reduce_init(kind, dt: DType) -> str:
    return _lit(reduce_identity(kind, dt), dt)


HEADER = '''"""Generated by mxc: Triton kernels for {what}."""
import triton
import triton.language as tl


@triton.jit
def _mul_combine(a, b):
    return a * b


@triton.jit
def _max_nan(a, b):
    # NaN propagates (MXNet's max reduction); a != a is a NaN test that is false for ints
    return tl.where((a > b) | (a != a), a, b)


@triton.jit
def _min_nan(a, b):
    return tl.where((a < b) | (a != a), a, b)

'''


def render_kernel(kern: Kernel) -> str:
    return _Render(kern).render()


def render_module(kernels, what: str = "a graph") -> str:
    return HEADER.format(what=what) + "\n\n".join(render_kernel(k) for k in kernels)


# -- loading and launching ---------------------------------------------------------------------------
_load_lock = threading.Lock()


_FALLBACK_DIR = None


def cache_dir() -> str:
    """Where generated Triton source files live (Triton's jit reads a kernel's source from its
    file): ``$MXC_CACHE_DIR/triton``, or a private temporary folder when that is unusable."""
    global _FALLBACK_DIR
    from .. import config
    d = os.path.join(config.cache_root(), "triton")
    try:
        os.makedirs(d, exist_ok=True)
        if os.access(d, os.W_OK | os.X_OK):
            return d
    except OSError:
        pass
    if _FALLBACK_DIR is None:
        import tempfile
        _FALLBACK_DIR = tempfile.mkdtemp(prefix="mxc-triton-")
    return _FALLBACK_DIR


def cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except Exception:
        return False


def interpret_mode() -> bool:
    """Whether Triton kernels run under its interpreter here (no CUDA device)."""
    return not cuda_available()


def _import_triton():
    """Import triton, in interpreter mode on machines without CUDA.

    Triton decides at import whether its own library functions (``tl.sum``, ``tl.sigmoid``)
    are interpreted, so ``TRITON_INTERPRET`` must be set before the first import.
    """
    if interpret_mode():
        if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET", "0") in ("", "0"):
            from ..base import UnsupportedError
            raise UnsupportedError(
                "the Triton backend needs TRITON_INTERPRET=1 on a machine without CUDA, and "
                "triton was imported before mxc could set it; set TRITON_INTERPRET=1 in the "
                "environment (or import mxc first)")
        os.environ.setdefault("TRITON_INTERPRET", "1")
    import triton
    try:
        import triton.experimental.gluon  # noqa: F401  (imported lazily at launch otherwise)
    except Exception:
        pass
    return triton


def write_source(src: str) -> str:
    h = hashlib.sha256(src.encode()).hexdigest()[:20]
    path = os.path.join(cache_dir(), f"{h}.py")
    try:
        with open(path, encoding="utf-8") as f:
            intact = f.read() == src     # the name is the content's hash: check it, never trust
    except (OSError, UnicodeDecodeError):
        intact = False
    if not intact:
        from ..base import atomic_write
        with atomic_write(path, "w") as f:
            f.write(src)
    return path


def load_source(src: str):
    """Import generated source as a module (Triton's jit reads functions' source from files)."""
    _import_triton()
    path = write_source(src)
    name = "mxc_triton_" + os.path.basename(path)[:-3]
    with _load_lock:
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules[name] = mod
        return mod


class TritonKernel:
    """A loaded kernel and its launch configuration; call it with torch tensors."""

    def __init__(self, kern: Kernel, fn):
        self.kernel = kern
        self.fn = fn
        if kern.rdims:
            rt = math.prod(kern.rdims)
            self.meta = {"RBLOCK": min(RBLOCK_MAX, 1 << max(0, (rt - 1).bit_length()))}
            self.grid = (max(1, math.prod(kern.grid)),)
        else:
            total = math.prod(kern.grid) if kern.grid else 1
            self.meta = {"BLOCK": BLOCK}
            self.grid = ((total + BLOCK - 1) // BLOCK,)

    def __call__(self, *tensors):
        self.fn[self.grid](*tensors, **self.meta)


def triton_signature(kern: Kernel) -> tuple[dict, dict]:
    """(signature, constexprs) for ``triton.compile(ASTSource(...))``."""
    sig = {f"b{b.pos}": "*" + SIG_TYPES[b.dtype] for b in kern.buffers}
    if kern.rdims:
        rt = math.prod(kern.rdims)
        sig["RBLOCK"] = "constexpr"
        consts = {"RBLOCK": min(RBLOCK_MAX, 1 << max(0, (rt - 1).bit_length()))}
    else:
        sig["BLOCK"] = "constexpr"
        consts = {"BLOCK": BLOCK}
    return sig, consts


_AOT = r"""
import importlib.util, json, sys
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
path, jobs, arch = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
spec = importlib.util.spec_from_file_location("mxc_aot", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
out = {}
for name, sig, consts in jobs:
    ck = triton.compile(ASTSource(fn=getattr(mod, name), signature=sig, constexprs=consts),
                        target=GPUTarget("cuda", arch, 32))
    out[name] = {"ptx": ck.asm["ptx"], "cubin_bytes": len(ck.asm["cubin"]),
                 "n_regs": getattr(ck, "n_regs", None)}
print(json.dumps(out))
"""


def compile_cubin(kernels, src: str | None = None, arch: int = 90, timeout: float = 300) -> dict:
    """Compile kernels' Triton source for sm_``arch`` with no GPU present.

    Runs in a fresh process without ``TRITON_INTERPRET`` (this process may be interpreting).
    Returns ``{kernel name: {"ptx": text, "cubin_bytes": n, "n_regs": r}}``; raises
    MXNetError with Triton's message if a kernel does not compile.
    """
    import json
    import subprocess
    kernels = list(kernels)
    src = src or render_module(kernels)
    path = write_source(src)
    jobs = []
    for k in kernels:
        sig, consts = triton_signature(k)
        jobs.append([k.name, sig, consts])
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    r = subprocess.run([sys.executable, "-c", _AOT, path, json.dumps(jobs), str(arch)],
                       capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        from ..base import MXNetError
        raise MXNetError(f"Triton could not compile {path} for sm_{arch}:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])
