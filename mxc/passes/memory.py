"""Memory planning over a lowered Program: liveness, then best-fit placement in one arena.

A temporary is live from the step that writes it to the last step that reads it. Temporaries
are placed in order of their first write; each takes the smallest free block that fits
(best fit), reusing the space of temporaries that died at an earlier step, else grows the
arena. Nothing is allocated per run: the executor allocates the arena once when it binds.
Two temporaries never overlap in the arena while both are live (the property tests check it).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..codegen.program import Program

__all__ = ["plan_memory", "liveness", "ALIGN"]

ALIGN = 64


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _root(prog, b):
    while prog.buffers[b].view_of is not None:
        b = prog.buffers[b].view_of[0]
    return b


def liveness(prog: Program) -> dict[int, tuple[int, int]]:
    """Temp buffer id -> (first step writing it, last step reading it). A buffer stored inside
    another (``view_of``) counts as its root's: the root lives while any part of it does."""
    first, last = {}, {}
    for si, s in enumerate(prog.steps):
        for b in s.outs:
            if prog.buffers[b].kind == "temp":
                r = _root(prog, b)
                first.setdefault(r, si)
                last[r] = max(last.get(r, si), si)
        for b in s.ins:
            if prog.buffers[b].kind == "temp":
                r = _root(prog, b)
                last[r] = si if r not in last else max(last[r], si)
    return {b: (first[b], last.get(b, first[b])) for b in first}


@dataclass
class _Block:
    offset: int
    size: int


def plan_memory(prog: Program) -> Program:
    """Assign arena offsets to temporaries (in place on ``prog``) and return it."""
    live = liveness(prog)
    free: list[_Block] = []
    top = 0
    ends: dict[int, list[int]] = {}
    for b, (s, e) in live.items():
        ends.setdefault(e, []).append(b)
    by_start: dict[int, list[int]] = {}
    for b, (s, e) in live.items():
        by_start.setdefault(s, []).append(b)
    for si in range(len(prog.steps)):
        for b in sorted(by_start.get(si, []), key=lambda x: -prog.buffers[x].nbytes):
            size = _align(max(prog.buffers[b].nbytes, 1))
            best = None
            for blk in free:
                if blk.size >= size and (best is None or blk.size < best.size):
                    best = blk
            if best is not None:
                prog.buffers[b].offset = best.offset
                if best.size > size:
                    best.offset += size
                    best.size -= size
                else:
                    free.remove(best)
            else:
                prog.buffers[b].offset = top
                top += size
        for b in ends.get(si, []):
            size = _align(max(prog.buffers[b].nbytes, 1))
            free.append(_Block(prog.buffers[b].offset, size))
            free = _coalesce(free)
    for spec in prog.buffers:                 # buffers stored inside others
        if spec.kind == "temp" and spec.view_of is not None:
            off = 0
            b = spec.id
            while prog.buffers[b].view_of is not None:
                root, o = prog.buffers[b].view_of
                off += o
                b = root
            spec.offset = prog.buffers[b].offset + off
    prog.arena_bytes = top
    return prog


def _coalesce(blocks):
    blocks.sort(key=lambda b: b.offset)
    out = []
    for b in blocks:
        if out and out[-1].offset + out[-1].size == b.offset:
            out[-1].size += b.size
        else:
            out.append(_Block(b.offset, b.size))
    return out
