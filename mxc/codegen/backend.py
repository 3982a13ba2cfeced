"""Backends: compile a Program's kernels for a target and bind it to storage.

One :class:`Backend` object per target (:data:`BACKENDS`): ``llvm`` JIT-compiles every kernel of
the program into one LLVM module for the host CPU; ``triton`` renders one Triton module (run by
Triton's interpreter on a machine without CUDA). A backend's renderer keys its op table by
:class:`mxc.codegen.kir.Alu` (``llvm.FLOAT_OPS``/``INT_OPS`` handlers, ``triton.TRITON_OPS``
expressions); reduction identities and loop strides come from :mod:`mxc.codegen.kir`.
Extern steps call their library function (torch: oneDNN/MKL on the CPU, cuBLAS/cuDNN on the
GPU). :meth:`Executable.bind` resolves every argument once: pointers for LLVM kernels, tensor
views of the arena for the rest, so a run is a loop over prepared calls.
"""
from __future__ import annotations

import abc
import functools
import math
from typing import TYPE_CHECKING

from ..base import MXNetError, ShapeError
from .program import Program

if TYPE_CHECKING:
    import torch

__all__ = ["Executable", "Bound", "Backend", "BACKENDS", "TARGETS", "normalize_target",
           "target_for_device"]

_ALIASES = {"cpu": "llvm", "llvm": "llvm", "triton": "triton", "gpu": "triton", "cuda": "triton"}


def target_for_device(device_type: str, eager: bool = False) -> str:
    """The one place that picks the target: Triton on a GPU; on the CPU ``MXC_TARGET`` for bound
    executors, ``MXC_EAGER_TARGET`` for ``mx.nd`` calls and optimizer updates (``eager``)."""
    if device_type in ("gpu", "cuda"):
        return "triton"
    from .. import config
    return config.get("MXC_EAGER_TARGET" if eager else "MXC_TARGET")


def normalize_target(target: str) -> str:
    t = _ALIASES.get(str(target).lower())
    if t is None:
        raise MXNetError(f"unknown target {target!r}; expected one of {', '.join(_ALIASES)}")
    return t


class Bound:
    """A program bound to storage: ``run()`` executes every step in order."""

    __slots__ = ("calls", "tensors", "arena", "exe")

    def __init__(self, exe, calls, tensors, arena):
        self.exe = exe
        self.calls = calls
        self.tensors = tensors
        self.arena = arena

    def run(self):
        for c in self.calls:
            c()

    def run_steps(self, start: int, end: int | None = None):
        """Run steps[start:end] (a training program's forward or backward half)."""
        for c in self.calls[start:end]:
            c()

    def run_timed(self, start: int, end: int | None, record, sync=None):
        """Run steps[start:end], calling ``record(step index, t0_ns, t1_ns)`` after each with
        its ``time.perf_counter_ns`` interval (``sync()`` first, for devices that run
        asynchronously): what a profiler uses instead of :meth:`run_steps`."""
        import time
        clock = time.perf_counter_ns
        first = start
        for i, c in enumerate(self.calls[start:end]):
            t0 = clock()
            c()
            if sync is not None:
                sync()
            record(first + i, t0, clock())

    def profile(self, repeat: int = 10) -> list[dict]:
        """Time every step over ``repeat`` runs (after one warm-up run): a row per step with
        its name, kind (kernel / extern), operator and median seconds, slowest first."""
        import statistics
        import time
        self.run()
        times = [[] for _ in self.calls]
        for _ in range(max(repeat, 1)):
            for i, c in enumerate(self.calls):
                t0 = time.perf_counter()
                c()
                times[i].append(time.perf_counter() - t0)
        rows = []
        for step, ts in zip(self.exe.prog.steps, times):
            rows.append({"step": step.name, "kind": step.kind,
                         "op": step.opname or step.node_name or "", "seconds":
                         statistics.median(ts)})
        return sorted(rows, key=lambda r: -r["seconds"])


class Backend(abc.ABC):
    """One target's half of an :class:`Executable`: it builds a Program's kernels for the target
    (``__init__``) and makes the call that runs one kernel step on bound tensors
    (:meth:`kernel_call`). Everything else (arena, externs, binding) is target-independent.
    Add a target by subclassing this and listing it in :data:`BACKENDS`."""

    name = ""

    def __init__(self, prog: Program):
        self.prog = prog
        self.device = None          # the torch device its tensors live on
        self._sources: dict[str, str] = {}

    @abc.abstractmethod
    def kernel_call(self, step, tensors):
        """A no-argument callable that runs kernel ``step`` on ``tensors`` (buffer id ->
        tensor, already bound)."""

    def sources(self) -> dict:
        """Generated code, by kind."""
        return self._sources

    def artefacts(self) -> dict:
        """What the persistent program cache keeps for this target."""
        return {}


class LLVMBackend(Backend):
    """Every kernel of the program JIT-compiled into one LLVM module for the host CPU; a call
    resolves the kernel's argument pointers once and splits its outer loop across cores."""

    name = "llvm"

    def __init__(self, prog: Program):
        import torch

        from .llvm import LLVMModule
        super().__init__(prog)
        self.device = torch.device("cpu")
        self.module = LLVMModule(prog.kernels, prog.name) if prog.kernels else None

    # the code takes its outermost extent at the call (lo, hi)
    extent_at_call = True

    def kernel_call(self, step, tensors, extent=None):
        from .parallel import parallel_call
        k = step.kernel
        fn, offsets = self.module.raw(k.name)
        ptrs = [tensors[b].data_ptr() + o for b, o in zip(step.args, offsets)]
        if extent is None:
            extent = k.grid[0] if k.grid else 1
            work = math.prod(k.grid or (1,)) * math.prod(k.rdims or (1,))
        else:
            work = extent
        # the same machine code over the same extent costs the same: one set of trials
        return parallel_call(fn, ptrs, extent, work, key=(self.module.symbols[k.name], extent))

    def sources(self) -> dict:
        """``llvm`` / ``llvm.opt``: the module's IR before / after optimization (computed on
        first access)."""
        if self.module is not None and "llvm" not in self._sources:
            self._sources["llvm"] = self.module.ir
            self._sources["llvm.opt"] = self.module.optimized_ir
        return self._sources


class TritonBackend(Backend):
    """One Triton module rendered for the program (run by Triton's interpreter on a machine
    without CUDA); a call launches the kernel on the bound tensors."""

    name = "triton"

    def __init__(self, prog: Program):
        import torch

        from . import triton as tr
        super().__init__(prog)
        self.device = torch.device("cuda") if tr.cuda_available() else torch.device("cpu")
        self.runners = {}
        if prog.kernels:
            src = tr.render_module(prog.kernels, f"graph @{prog.name}")
            self._sources["triton"] = src
            mod = tr.load_source(src)
            self.runners = {k.name: tr.TritonKernel(k, getattr(mod, k.name))
                            for k in prog.kernels}

    def kernel_call(self, step, tensors):
        return functools.partial(self.runners[step.kernel.name], *[tensors[b] for b in step.args])

    def artefacts(self) -> dict:
        """The rendered source (the cache keeps it; LLVM code is cached per kernel)."""
        return dict(self._sources)


#: target name -> its backend class
BACKENDS = {"llvm": LLVMBackend, "triton": TritonBackend}
TARGETS = tuple(BACKENDS)


class Executable:
    """Compiled kernels of one Program for one target (its :class:`Backend`), bound to storage
    by :meth:`bind`."""

    def __init__(self, prog: Program, target: str = "llvm", artefacts: dict | None = None):
        from .parallel import configure_torch
        configure_torch()
        self.prog = prog
        self.target = normalize_target(target)
        self.backend = BACKENDS[self.target](prog)
        self.device = self.backend.device

    @property
    def module(self):
        """The LLVM module (the ``llvm`` target only)."""
        return getattr(self.backend, "module", None)

    @property
    def sources(self) -> dict:
        """Generated code: ``llvm`` / ``llvm.opt`` (IR before / after optimization) or
        ``triton`` (Python source); computed on first access."""
        return self.backend.sources()

    def artefacts(self) -> dict:
        """What the persistent program cache keeps (LLVM code is cached per kernel)."""
        return self.backend.artefacts()

    # -- binding --------------------------------------------------------------------------------
    def flat_extent(self) -> int | None:
        """``n`` when the program is one pointwise kernel over flat buffers of ``n`` elements
        (and scalars of 1), addressed only at the grid point or at 0, on a backend whose code
        takes its extent at the call: the same code then computes any length (:meth:`bind`
        ``extent=``), as one compiled update serves every parameter size. Else None."""
        from .kir import Ix
        prog = self.prog
        if not getattr(self.backend, "extent_at_call", False) or len(prog.steps) != 1:
            return None
        step = prog.steps[0]
        k = step.kernel if step.kind == "kernel" else None
        if k is None or len(k.grid) != 1 or k.rdims or k.grid[0] < 2:
            return None
        n = k.grid[0]
        if any(spec.kind == "temp" or tuple(spec.type.shape) not in ((n,), (1,))
               for spec in prog.buffers):
            return None
        g0 = Ix.var(k.gvars[0])
        for ins in k.body:
            if ins.op == "index" or (ins.op in ("load", "store")
                                     and ins.attr[1] != g0 and ins.attr[1] != Ix.c(0)):
                return None
        return n

    def _check(self, t: torch.Tensor, spec, what, extent=None):
        shape = tuple(spec.type.shape)
        if extent is not None and shape != (1,):
            shape = (extent,)
        if tuple(t.shape) != shape or t.dtype != spec.type.dtype.torch:
            raise ShapeError(f"{what} %{spec.name}: got {tuple(t.shape)} {t.dtype}; the program "
                             f"was compiled for {shape} {spec.type.dtype.np_name}")
        if not t.is_contiguous():
            raise MXNetError(f"{what} %{spec.name}: storage must be contiguous")

    def bind(self, inputs, outputs, extent: int | None = None) -> Bound:
        """Bind ``inputs`` and ``outputs`` (torch tensors of the program's shapes and
        dtypes); ``extent``: flat buffers of that length instead of the compiled one (only
        for a program :meth:`flat_extent` accepts)."""
        prog = self.prog
        if extent is not None and self.flat_extent() is None:
            raise MXNetError(f"program @{prog.name} is not one flat pointwise kernel: it "
                             f"runs only the length it was compiled for")
        if len(inputs) != len(prog.inputs) or len(outputs) != len(prog.outputs):
            raise MXNetError(f"program @{prog.name} takes {len(prog.inputs)} inputs and "
                             f"{len(prog.outputs)} outputs; got {len(inputs)} and {len(outputs)}")
        import torch
        tensors: dict[int, torch.Tensor] = {}
        for bid, t in zip(prog.inputs, inputs):
            self._check(t, prog.buffers[bid], "input", extent)
            tensors[bid] = t
        for k, (bid, t) in enumerate(zip(prog.outputs, outputs)):
            self._check(t, prog.buffers[bid], "output", extent)
            if bid in tensors and tensors[bid] is not t:
                i = prog.inplace.get(k)
                raise MXNetError(f"output {k} (%{prog.buffers[bid].name}) is computed in place "
                                 f"of input {i}: bind the same array to both")
            tensors[bid] = t
        arena = torch.empty(max(prog.arena_bytes, 1), dtype=torch.uint8, device=self.device)
        for spec in prog.buffers:
            if spec.kind == "temp":
                if spec.offset is None:
                    raise MXNetError(f"temporary %{spec.name} has no arena offset; run "
                                     "plan_memory first")
                n = spec.nbytes
                view = arena[spec.offset: spec.offset + n].view(spec.type.dtype.torch)
                tensors[spec.id] = view.view(tuple(spec.type.shape))
        calls = []
        for step in prog.steps:
            if step.kind == "kernel":
                calls.append(self.backend.kernel_call(step, tensors) if extent is None else
                             self.backend.kernel_call(step, tensors, extent))
            else:
                from .parallel import extern_call
                ins = [tensors[b] for b in step.ins]
                outs = [tensors[b] for b in step.outs]
                calls.append(extern_call(step.fn, step.attrs, ins, outs, step.split))
        return Bound(self, calls, tensors, arena)

    def new_outputs(self):
        import torch
        return [torch.empty(tuple(self.prog.buffers[b].type.shape),
                            dtype=self.prog.buffers[b].type.dtype.torch, device=self.device)
                for b in self.prog.outputs]

    def __call__(self, *inputs):
        """Run once on torch tensors (allocating outputs); returns the output tensors."""
        bound, outs = self.bind_new(*inputs)
        bound.run()
        return outs

    def bind_new(self, *inputs):
        """Bound to copies of ``inputs`` (anything torch.as_tensor takes) and new outputs;
        returns (bound, outputs)."""
        import torch
        ins = []
        for bid, x in zip(self.prog.inputs, inputs):
            spec = self.prog.buffers[bid]
            t = torch.as_tensor(x, device=self.device)
            t = t.to(spec.type.dtype.torch).contiguous()
            ins.append(t)
        outs = self.new_outputs()
        for o, i in self.prog.inplace.items():     # written in place: work on a copy
            ins[i] = ins[i].clone()
            outs[o] = ins[i]
        return self.bind(ins, outs), outs

