"""Passes: ``Graph -> Graph`` callables with a name and options as dataclass fields.

A :class:`Pipeline` runs passes in order, keeps each stage's graph (``mxc.compile`` exposes
them), verifies between passes when asked (tests always do; ``MXC_VERIFY=1`` does in normal
runs), and with ``MXC_DUMP_DIR`` set writes each stage's IR to ``NN-<pass>.mxir`` there.
Decisions that are not errors (a fusion refused, a buffer not reused) go to ``ctx.remarks``
with their reason; ``mxc dump --why-no-fuse`` prints them.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from .. import config
from ..ir.core import Graph
from ..ir.verify import verify

__all__ = ["Pass", "PassContext", "Pipeline", "Stage", "Remark"]


@dataclass
class Remark:
    pass_name: str
    what: str          # e.g. "no-fuse"
    message: str

    def __str__(self):
        return f"[{self.pass_name}] {self.what}: {self.message}"


@dataclass
class PassContext:
    """Options shared by a pipeline's passes and the remarks they leave."""

    target: str = "cpu"
    is_train: bool = False
    verify: bool = field(default_factory=lambda: config.get("MXC_VERIFY"))
    # re-parse each stage's text and compare (tests set MXC_CHECK_ROUNDTRIP=1)
    roundtrip: bool = field(default_factory=lambda: config.get("MXC_CHECK_ROUNDTRIP"))
    dump_dir: str | None = field(default_factory=lambda: config.get("MXC_DUMP_DIR"))
    remarks: list = field(default_factory=list)
    options: dict = field(default_factory=dict)

    def remark(self, pass_name: str, what: str, message: str):
        self.remarks.append(Remark(pass_name, what, message))


class Pass:
    """Base class: subclasses set ``name`` and implement ``run(graph, ctx) -> graph``."""

    name = "pass"

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        raise TypeError(f"{type(self).__name__} must implement run()")

    def __call__(self, g: Graph, ctx: PassContext | None = None) -> Graph:
        out = self.run(g, ctx or PassContext())
        if g.attrs and out is not g and any(k not in out.attrs for k in g.attrs):
            # graph attributes describe the interface: they carry over unless the pass sets
            # them anew
            out = out.with_attrs(**{k: v for k, v in g.attrs.items() if k not in out.attrs})
        return out

    def __repr__(self):
        return f"<pass {self.name}>"


@dataclass
class Stage:
    name: str
    graph: Graph
    seconds: float

    @property
    def text(self) -> str:
        return str(self.graph)


class Pipeline:
    """Passes in order; ``run`` returns the last graph and keeps every stage in ``stages``."""

    def __init__(self, passes, name: str = "pipeline"):
        self.passes = list(passes)
        self.name = name
        self.stages: list[Stage] = []

    def run(self, g: Graph, ctx: PassContext | None = None) -> Graph:
        ctx = ctx or PassContext()
        self.stages = [Stage("input", g, 0.0)]
        self._dump(ctx, 0, "input", g)
        self._check(g, ctx, "input")
        for i, p in enumerate(self.passes, start=1):
            t0 = time.perf_counter()
            g = p(g, ctx)
            self.stages.append(Stage(p.name, g, time.perf_counter() - t0))
            self._dump(ctx, i, p.name, g)
            self._check(g, ctx, p.name)
        return g

    @staticmethod
    def _check(g, ctx, stage):
        if ctx.verify:
            verify(g)
        if ctx.roundtrip:
            from ..base import VerifyError
            from ..ir.parser import parse
            text = str(g)
            again = str(parse(text))
            if again != text:
                raise VerifyError(f"stage {stage}: IR text does not round-trip:\n{text}\n"
                                  f"--- reparsed ---\n{again}")

    def stage_names(self) -> list[str]:
        """The stages' names, a pass run again named ``name#2``, ``name#3`` ... (the pipeline
        runs ``cse`` twice)."""
        return unique_names([s.name for s in self.stages])

    def stage(self, name: str) -> Graph:
        """The graph after stage ``name`` (``cse`` the first CSE, ``cse#2`` the second)."""
        for n, s in zip(self.stage_names(), self.stages):
            if n == name:
                return s.graph
        raise KeyError(f"no stage named {name!r}; stages: {self.stage_names()}")

    @staticmethod
    def _dump(ctx, i, name, g):
        if not ctx.dump_dir:
            return
        os.makedirs(ctx.dump_dir, exist_ok=True)
        from ..base import atomic_write
        with atomic_write(os.path.join(ctx.dump_dir, f"{g.name}.{i:02d}-{name}.mxir"), "w") as f:
            f.write(str(g))


def unique_names(names) -> list[str]:
    """``names`` with repeats numbered: ``["a", "b", "a"] -> ["a", "b", "a#2"]``."""
    seen: dict = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out
