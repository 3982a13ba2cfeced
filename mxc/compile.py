"""``mxc.compile``: a symbol (or IR graph) down the one path, with every stage kept.

The default pipeline, one pass a line::

    infer       complete every shape and dtype (MXNet's rules, bidirectional)
    decompose   composites (FullyConnected, softmax, SoftmaxOutput ...) -> primitives
    simplify    local rewrites: x*1 -> x, reshape(reshape(x)) -> reshape(x) ...
    cse         one op for each distinct computation
    batch_dots  independent GEMMs sharing an operand, and sums of GEMMs, become one GEMM
    dce         drop what no output needs
    conv_gemm   CPU: 2-D convolutions -> im2col/col2im views + GEMMs
    fuse        group primitives into kernels (materialize only what must be)
    -- then, on the lowered program --
    lower       each kernel group -> kernel IR; library calls -> extern steps
    plan_memory liveness + best-fit placement of temporaries in one arena

``Compiled`` keeps the imported graph, each pass's graph, the program, the kernels, their
sources (LLVM IR before and after optimization, or Triton source) and a callable.
"""
from __future__ import annotations

import numpy as np

from .base import MXNetError
from .codegen import cache
from .codegen.backend import Executable, normalize_target
from .codegen.program import Program, build_program
from .gcpause import paused
from .ir.core import Graph
from .passes.autodiff import Autodiff
from .passes.base import PassContext, Pipeline, unique_names
from .passes.batch_dots import BatchDots
from .passes.conv_gemm import ConvToGemm
from .passes.cse import CSE
from .passes.dce import DCE
from .passes.decompose import Decompose
from .passes.fuse import Fuse
from .passes.infer import InferTypes
from .passes.memory import plan_memory
from .passes.simplify import Simplify

__all__ = ["compile", "compile_graph", "Compiled", "default_passes"]


def default_passes(fuse: bool = True, grad_wrt=None, n_diff_outputs=None, taps=()):
    passes = [InferTypes(require_complete=True)]  # complete every shape and dtype
    if grad_wrt is not None:                        # gradients as IR (joint graph)
        passes.append(Autodiff(wrt=list(grad_wrt), n_diff_outputs=n_diff_outputs,
                               taps=tuple(taps)))
    passes += [
        Decompose(),                         # composites -> primitives
        Simplify(),                          # local rewrites
        CSE(),                               # one op per distinct computation
        BatchDots(),                         # many small GEMMs sharing an operand -> one
        CSE(),                               # (batching concatenates the same pieces twice)
        DCE(),                               # drop what no output needs
        # CPU: 2-D convolutions -> im2col views + GEMMs (after CSE: the forward's im2col is
        # recomputed for the weight gradient, not kept alive across the step)
        ConvToGemm(),
    ]
    if fuse:
        passes.append(Fuse())                # primitives -> kernel groups
    else:
        passes.append(Fuse(recompute_limit=0, merge=False))
    return passes


class Compiled:
    """Every stage of one compilation; call it with inputs to run the compiled code."""

    def __init__(self, graph: Graph | None, pipeline: Pipeline, program: Program,
                 exe: Executable, ctx: PassContext, symbol_graph=None, graph_text: str = "",
                 inputs=None, attrs=None):
        # the fused graph; from the cache, its text is parsed on first use (a warm ResNet-18
        # spent seconds parsing graphs it only needed the inputs of: ``inputs`` has them)
        self._graph = graph
        self._graph_text = graph_text
        self._inputs = list(inputs) if inputs is not None else None
        self._attrs = dict(attrs) if attrs is not None else None
        self.pipeline = pipeline
        self.program = program
        self.executable = exe
        self.ctx = ctx
        self.symbol_graph = symbol_graph
        self.from_cache = False
        self._trimmed = False       # intermediate stages forgotten (forget_stages)

    @property
    def graph(self) -> Graph:
        """The final (fused) graph."""
        if self._graph is None:
            from .ir.parser import parse
            from .passes.base import Stage
            self._graph = parse(self._graph_text)
            self.pipeline.stages = [s if s.graph is not None else
                                    Stage(s.name, self._graph, s.seconds)
                                    for s in self.pipeline.stages]
        return self._graph

    @property
    def inputs(self) -> list:
        """The compiled function's inputs (Values: name and type), in order."""
        return self._inputs if self._inputs is not None else list(self.graph.inputs)

    @property
    def graph_attrs(self) -> dict:
        """The final graph's attributes (``mxc.ir.core.GRAPH_ATTRS``)."""
        return self._attrs if self._attrs is not None else self.graph.attrs

    @property
    def pins(self) -> dict:
        """``{Pin: output index}`` of the values kept for a monitor (see mxc.passes.pin)."""
        from .passes.pin import graph_pins
        return graph_pins(self.graph_attrs)

    # stages
    @property
    def imported(self) -> Graph:
        return self.pipeline.stages[0].graph

    @property
    def stages(self) -> list:
        self.graph      # noqa: B018 - a cached compilation's last stage is parsed on demand
        return list(zip(self.pipeline.stage_names(), [s.graph for s in self.pipeline.stages]))

    def forget_stages(self):
        """Keep only the imported and the final graph (an executor's compilations: the
        intermediate graphs of every bucket were most of a bucketing module's memory, and
        freeing them at exit took seconds); :meth:`stage` recompiles to show another."""
        st = self.pipeline.stages
        if len(st) > 2:
            self.pipeline.stages = [st[0], st[-1]]
            self._trimmed = True

    def stage_names(self) -> list[str]:
        """Every stage :meth:`dump` shows: the imported graph (``input``), each pass (one run
        twice is ``name#2``), then ``program`` (each kernel lowered, the steps in order,
        concats written in place) and ``memory`` (the arena plan)."""
        return unique_names(["input"] + [p.name for p in self.pipeline.passes]) + \
            list(CODEGEN_STAGES)

    def stage_text(self, name: str) -> str:
        """What :meth:`dump` prints for stage ``name``."""
        if name == "program":
            return str(self.program)
        if name == "memory":
            return self.program.describe_memory()
        return str(self.stage(name))

    def stage(self, name: str) -> Graph:
        """The graph after pass ``name`` (recompiled without the cache if this compilation came
        from it, since cached entries keep only the input and the final graph, or if its
        stages were forgotten)."""
        self.graph      # noqa: B018 - see stages
        if ((self.from_cache or self._trimmed)
                and name not in self.pipeline.stage_names()):
            ctx = PassContext(target=self.ctx.target, is_train=self.ctx.is_train,
                              options=dict(self.ctx.options))
            pipe = Pipeline([type(p)(**_fields(p)) for p in self.pipeline.passes])
            pipe.run(self.imported, ctx)
            self.pipeline.stages = pipe.stages
        return self.pipeline.stage(name)

    @property
    def kernels(self):
        return self.program.kernels

    @property
    def sources(self) -> dict:
        return self.executable.sources

    @property
    def target(self) -> str:
        return self.executable.target

    @property
    def remarks(self):
        return self.ctx.remarks

    @property
    def peak_bytes(self) -> int:
        """Planned bytes of temporaries (the arena); inputs and outputs are the caller's."""
        return self.program.arena_bytes

    def input_names(self) -> list[str]:
        return [v.name for v in self.inputs]

    @property
    def aux_updates(self) -> list[str]:
        """Aux states whose new values follow the symbol's outputs (training graphs)."""
        return list(self.symbol_graph.aux_updates) if self.symbol_graph is not None else []

    @property
    def head_inputs(self) -> list[str]:
        """Names of the head-gradient inputs a differentiated graph takes (after the inputs)."""
        return [n for n, _ in self.graph_attrs.get("head_grads", ())]

    @property
    def head_outputs(self) -> list[int]:
        """For each head-gradient input, the index of the output it is the gradient of."""
        return [i for _, i in self.graph_attrs.get("head_grads", ())]

    def __call__(self, *args, **kwargs):
        """Run on numpy arrays (positional in input order, or by name); returns numpy arrays."""
        names = self.input_names()
        if args and kwargs:
            raise MXNetError("pass inputs positionally or by name, not both")
        if kwargs:
            missing = [n for n in names if n not in kwargs]
            if missing:
                raise MXNetError(f"missing inputs {missing}; inputs are {names}")
            args = [kwargs[n] for n in names]
        if len(args) != len(names):
            raise MXNetError(f"{len(args)} inputs for {len(names)} parameters {names}")
        outs = self.executable(*[np.asarray(a) for a in args])
        return [o.cpu().numpy() for o in outs]

    def profile(self, inputs, repeat: int = 10) -> list[dict]:
        """Per-step timings (see :meth:`Bound.profile`) of runs on ``inputs`` (numpy arrays in
        input order)."""
        bound, _ = self.executable.bind_new(*[np.asarray(a) for a in inputs])
        return bound.profile(repeat)

    def dump(self, after: str | None = None, kernels: bool = False, memory: bool = False,
             why_no_fuse: bool = False) -> str:
        """Each stage's text (or only stage ``after``, see :meth:`stage_names`); ``kernels``
        adds each kernel's IR and source, ``memory`` the memory plan, ``why_no_fuse`` the
        fusion remarks. A compilation from the cache shows its input and final graphs."""
        parts = []
        if after is None:
            shown = [name for name, _ in self.stages] + list(CODEGEN_STAGES)
        else:
            if after not in self.stage_names():
                raise KeyError(f"no stage named {after!r}; stages: {self.stage_names()}")
            shown = [after]
        graphs = dict(self.stages) if after is None else {}
        for name in shown:
            text = str(graphs[name]) if name in graphs else self.stage_text(name)
            parts.append(f"// ---- {name} ----\n{text}")
        if kernels:
            if "program" not in shown:
                parts.append(f"// ---- program ----\n{self.program}")
            for k in self.kernels:
                parts.append(f"// ---- kernel IR {k.name} ----\n{k}")
            for name, src in self.sources.items():
                parts.append(f"// ---- {name} source ----\n{src}")
        if memory and "memory" not in shown:
            parts.append(f"// ---- memory ----\n{self.program.describe_memory()}")
        if why_no_fuse:
            rs = [str(r) for r in self.remarks] or ["(no remarks)"]
            parts.append("// ---- fusion remarks ----\n" + "\n".join(rs))
        return "\n".join(parts)


# the stages after the passes (see Compiled.stage_names)
CODEGEN_STAGES = ("program", "memory")


def _fields(p) -> dict:
    import dataclasses
    if dataclasses.is_dataclass(p):
        return {f.name: getattr(p, f.name) for f in dataclasses.fields(p) if f.init}
    return {}


def compile_graph(g: Graph, target: str = "llvm", ctx: PassContext | None = None,
                  passes=None, symbol_graph=None, grad_wrt=None,
                  n_diff_outputs=None, inplace: dict | None = None, pins=None) -> Compiled:
    """Compile an IR graph whose input types are complete.

    With ``grad_wrt`` (input names) the graph is differentiated first: the compiled function
    takes the inputs, then a head gradient for each non-loss output (``Compiled.head_inputs``),
    and returns the outputs, then the gradients in ``grad_wrt`` order.

    ``inplace`` ({output index: input index}) asks for outputs written into their input's
    storage (an optimizer's new weight into the weight); ``Compiled.program.inplace`` says
    which were granted: bind the same array to both.

    ``pins`` (:class:`~mxc.passes.pin.Pin`) are values kept materialized and returned as
    extra outputs, forward ones after the graph's outputs, gradient ones after the gradients
    (``Compiled.pins`` gives their output indices); fusion stores each where it is computed
    and fuses the rest as before."""
    with paused():
        return _compile_graph(g, target, ctx, passes, symbol_graph, grad_wrt, n_diff_outputs,
                              inplace, pins)


def _compile_graph(g, target, ctx, passes, symbol_graph, grad_wrt, n_diff_outputs, inplace,
                   pins) -> Compiled:
    ctx = ctx or PassContext(target=normalize_target(target))
    default = passes is None
    pins = tuple(sorted(set(pins or ())))
    taps = tuple(p for p in pins if p.kind == "grad")
    if taps and grad_wrt is None:
        raise MXNetError(f"gradient pins {[p.describe() for p in taps]} need a differentiated "
                         "graph (grad_wrt)")
    if pins:
        from .passes.pin import append_pins
        g, _ = append_pins(g, pins)
    pipe = Pipeline(passes if passes is not None else
                    default_passes(grad_wrt=grad_wrt, n_diff_outputs=n_diff_outputs,
                                   taps=taps),
                    name=g.name)
    key = None
    # programs that call user Python (Custom ops) are never stored: their steps reference
    # objects that live only in this process (see mxc/ir/opdefs/custom.py)
    host_cb = any(op.opdef.extra.get("host_callback") for op in g.ops)
    if default and cache.enabled() and not ctx.dump_dir and not host_cb:
        key = cache.cache_key(str(g), normalize_target(target),
                              repr(pipe.passes) + repr(ctx.is_train) + repr(inplace)
                              + repr(pins))
        hit = cache.load(key)
        if hit is not None:
            return _from_cache(hit, g, pipe, ctx, target, symbol_graph)
    if normalize_target(target) == "llvm" and len(g.ops) >= 8:
        from .codegen.llvm import prestart_compile_pool
        prestart_compile_pool()         # workers start while the passes run
    out = pipe.run(g, ctx)
    prog = plan_memory(build_program(out, inplace))
    exe = Executable(prog, target)
    if key is not None:
        # the final graph's inputs and attributes, so that a hit need not parse its text
        extra = {"inputs": list(out.inputs), "attrs": dict(out.attrs)}
        cache.store(key, cache.CacheEntry(str(out), prog, list(ctx.remarks), exe.artefacts(),
                                          extra))
    return Compiled(out, pipe, prog, exe, ctx, symbol_graph)


def _from_cache(hit, g, pipe, ctx, target, symbol_graph) -> "Compiled":
    """Rebuild a Compiled from a cache entry: no passes, no codegen."""
    from .ir.parser import parse
    from .passes.base import Stage
    inputs, attrs = hit.extra.get("inputs"), hit.extra.get("attrs")
    out = parse(hit.graph_text) if inputs is None or attrs is None else None
    ctx.remarks.extend(hit.remarks)
    pipe.stages = [Stage("input", g, 0.0), Stage("cached", out, 0.0)]
    exe = Executable(hit.program, target, artefacts=hit.artefacts)
    c = Compiled(out, pipe, hit.program, exe, ctx, symbol_graph, hit.graph_text, inputs, attrs)
    c.from_cache = True
    return c


def compile(graph: Graph, target: str = "llvm", grad_wrt=None, pins=None) -> Compiled:
    """Compile an IR graph for ``target`` (``llvm``/``cpu`` or ``triton``/``gpu``). Symbols
    are compiled by ``mxc.compile`` (:func:`mxc.symbol.convert.compile_symbol`), which imports
    them into a graph first; this module knows only the IR."""
    if not isinstance(graph, Graph):
        raise TypeError(f"mxc.compile.compile takes an IR Graph, not {type(graph).__name__}; "
                        "use mxc.compile(symbol, ...) for a Symbol")
    return compile_graph(graph, target, grad_wrt=grad_wrt, pins=pins)


