"""Memory planning over a lowered Program: liveness, then placement in one arena.

A temporary is live from the step that writes it to the last step that reads it. Two
placements are tried and the smaller arena kept: online best fit (temporaries in order of
their first write, each in the smallest free block that fits, reusing the space of those
that died at an earlier step, else growing the arena) and offline greedy by size (largest
first, each in the tightest gap between the placed temporaries whose lifetimes overlap its
own), which fragments less when big short-lived buffers (im2col columns) come and go. Nothing is allocated per run: the executor allocates the arena once when it binds.
Two temporaries never overlap in the arena while both are live (the property tests check it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    another (``view_of``) counts as its root's: the root lives while any part of it does. In a
    training program, a forward temporary read by backward lives to the last step."""
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
    live = {b: (first[b], last.get(b, first[b])) for b in first}
    nf = prog.n_forward_steps
    if nf is not None:
        # a forward value that backward reads lives to the end: backward may run again after
        # one forward (MXNet allows it) and must find the saved activations intact
        end = len(prog.steps) - 1
        live = {b: (s, end if s < nf <= e else e) for b, (s, e) in live.items()}
    return live


@dataclass
class _Block:
    offset: int
    size: int


def plan_memory(prog: Program) -> Program:
    """Assign arena offsets to temporaries (in place on ``prog``) and return it: the smaller
    of two placements, both exact about liveness (see the module doc)."""
    live = liveness(prog)
    sizes = {b: _align(max(prog.buffers[b].nbytes, 1)) for b in live}
    plans = [_place_online(prog, live, sizes), _place_by_size(live, sizes)]
    offsets, top = min(plans, key=lambda p: p[1])
    for b, off in offsets.items():
        prog.buffers[b].offset = off
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


def _place_online(prog, live, sizes):
    """In order of first write, each temporary takes the smallest free block that fits (best
    fit), reusing the space of those already dead, else grows the arena."""
    free: list[_Block] = []
    top = 0
    offsets = {}
    ends: dict[int, list[int]] = {}
    by_start: dict[int, list[int]] = {}
    for b, (s, e) in live.items():
        ends.setdefault(e, []).append(b)
        by_start.setdefault(s, []).append(b)
    for si in range(len(prog.steps)):
        for b in sorted(by_start.get(si, []), key=lambda x: -sizes[x]):
            size = sizes[b]
            best = None
            for blk in free:
                if blk.size >= size and (best is None or blk.size < best.size):
                    best = blk
            if best is not None:
                offsets[b] = best.offset
                if best.size > size:
                    best.offset += size
                    best.size -= size
                else:
                    free.remove(best)
            else:
                offsets[b] = top
                top += size
        for b in ends.get(si, []):
            free.append(_Block(offsets[b], sizes[b]))
            free = _coalesce(free)
    return offsets, top


def _place_by_size(live, sizes):
    """Largest temporaries first, each at the lowest-waste gap between the already placed
    temporaries whose lifetimes overlap its own (offline greedy by size: within a few percent
    of the peak of live bytes where the order of first writes fragments the arena)."""
    order = sorted(live, key=lambda b: (-sizes[b], live[b][0], b))
    n = len(order)
    lo, hi = np.empty(n, np.int64), np.empty(n, np.int64)      # placed lifetimes
    beg, end = np.empty(n, np.int64), np.empty(n, np.int64)    # placed address ranges
    offsets, top = {}, 0
    for k, b in enumerate(order):
        s, e = live[b]
        size = sizes[b]
        hit = np.nonzero((lo[:k] <= e) & (hi[:k] >= s))[0]
        at = 0
        if len(hit):
            hit = hit[np.argsort(beg[hit], kind="stable")]
            # walking the overlapping blocks by address: the gap before each is its start
            # minus the furthest end so far; take the smallest gap that fits (the first such
            # on ties), else the end of them all
            ends = np.maximum.accumulate(end[hit])
            prev = np.concatenate(([0], np.maximum(ends[:-1], 0)))
            gaps = beg[hit] - prev
            fits = np.nonzero(gaps >= size)[0]
            if len(fits):
                at = int(prev[fits[np.argmin(gaps[fits])]])
            else:
                at = max(int(ends[-1]), 0)
        offsets[b] = at
        lo[k], hi[k], beg[k], end[k] = s, e, at, at + size
        top = max(top, at + size)
    return offsets, top


def _coalesce(blocks):
    blocks.sort(key=lambda b: b.offset)
    out = []
    for b in blocks:
        if out and out[-1].offset + out[-1].size == b.offset:
            out[-1].size += b.size
        else:
            out.append(_Block(b.offset, b.size))
    return out
