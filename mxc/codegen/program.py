"""The lowered program: buffers and steps, after fusion.

``build_program(graph)`` turns a fused graph into a :class:`Program`: every Value becomes a
buffer (graph inputs and outputs are the caller's; the rest are temporaries the memory planner
places in one arena), each ``fused`` op becomes a kernel step (its body lowered to kernel IR)
and each library op an extern step. A graph output that is a graph input, or listed twice, gets
a copy kernel so every output has its own storage, as MXNet's executors give.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..base import MXNetError
from ..ir.core import Builder, Graph, Value
from ..ir.registry import Extern
from ..ir.types import TensorType
from .kir import Kernel
from .lower import LoweringError, apply_inplace, lower_group

__all__ = ["Program", "BufferSpec", "Step", "build_program"]


@dataclass
class BufferSpec:
    id: int
    name: str
    type: TensorType
    kind: str                 # "input" | "output" | "temp"
    offset: int | None = None  # arena offset for temps (set by memory planning)
    # a temporary stored inside another one: (that buffer's id, byte offset); a Concat's
    # inputs are written straight into its output this way
    view_of: tuple | None = None

    @property
    def nbytes(self) -> int:
        return self.type.nbytes


@dataclass
class Step:
    kind: str                 # "kernel" | "extern"
    name: str
    args: list                # buffer ids: inputs then outputs
    n_in: int
    kernel: Kernel | None = None
    fn: object = None         # extern: fn(attrs, ins, outs)
    attrs: dict = field(default_factory=dict)
    node_name: str | None = None  # the IR op's name (the symbol node)
    split: object = None      # extern: the batch-split rule (Extern.split), if any
    opname: str = ""          # the IR operator

    @property
    def ins(self):
        return self.args[:self.n_in]

    @property
    def outs(self):
        return self.args[self.n_in:]


@dataclass
class Program:
    name: str
    buffers: list
    steps: list
    inputs: list              # buffer ids, in graph input order
    outputs: list             # buffer ids, in graph output order
    arena_bytes: int = 0
    remarks: list = field(default_factory=list)
    # training programs: steps[:n_forward_steps] compute the first n_forward_outputs outputs
    # (forward results and new aux states); the rest is the backward pass
    n_forward_steps: int | None = None
    n_forward_outputs: int | None = None
    # graph output index -> graph input index whose storage it is written into (bind the
    # same array to both)
    inplace: dict = field(default_factory=dict)

    @property
    def kernels(self) -> list[Kernel]:
        return [s.kernel for s in self.steps if s.kind == "kernel"]

    def temps(self):
        return [b for b in self.buffers if b.kind == "temp"]

    def describe_memory(self) -> str:
        lines = [f"memory plan @{self.name}: arena {self.arena_bytes} bytes, "
                 f"{len(self.temps())} temporaries "
                 f"({sum(b.nbytes for b in self.temps())} bytes unplanned)"]
        for b in self.buffers:
            where = f"arena+{b.offset}" if b.kind == "temp" else b.kind
            lines.append(f"  %{b.name}: {b.type} {b.nbytes} B @ {where}")
        return "\n".join(lines)

    def __str__(self):
        lines = [f"program @{self.name}"]
        for s in self.steps:
            ins = ", ".join(f"%{self.buffers[i].name}" for i in s.ins)
            outs = ", ".join(f"%{self.buffers[i].name}" for i in s.outs)
            lines.append(f"  {outs} = {s.kind} {s.name}({ins})")
        lines.append("  return " + ", ".join(f"%{self.buffers[i].name}" for i in self.outputs))
        return "\n".join(lines)


def _copy_kernel(v: Value, name: str) -> Kernel:
    b = Builder(name)
    x = b.input("src", v.type)
    y = b.op("_copy", [x])
    return lower_group(b.build([y]), name, ["copy"])


def _forward_ops(g: Graph, n_forward_outputs: int | None) -> set | None:
    """The ops a training program's forward segment runs (those its first outputs need)."""
    if n_forward_outputs is None:
        return None
    need = set(g.outputs[:n_forward_outputs])
    fwd_ops = set()
    for op in reversed(g.ops):
        if any(v in need for v in op.outputs):
            fwd_ops.add(op)
            need.update(op.inputs)
    return fwd_ops


def _reuse_candidates(op, g, users, graph_outputs, taken, fwd_ops=None) -> dict:
    """{output position: input position} for temporaries this kernel could write in place.
    A backward kernel never takes a forward value's storage: backward may run again after one
    forward (MXNet allows it) and must find the saved activations intact."""
    graph_inputs = set(g.inputs)
    used = set(taken.values())
    backward = fwd_ops is not None and op not in fwd_ops
    out = {}
    for j, v in enumerate(op.outputs):
        if j in taken or v in graph_outputs:
            continue
        for i, u in enumerate(op.inputs):
            if i in used or u in graph_inputs or u in graph_outputs or u.op is None:
                continue
            if backward and u.op in fwd_ops:
                continue
            if u.type != v.type or any(x is not op for x in users.get(u, [])):
                continue
            out[j] = i
            used.add(i)
            break
    return out


def build_program(g: Graph, inplace: dict | None = None, no_reuse: bool = False) -> Program:
    """The program of a fused graph. A graph whose ``forward_outputs`` attribute is set (a
    training graph) gets its forward steps first and apart (``Program.n_forward_steps``)."""
    n_forward_outputs = g.attrs.get("forward_outputs")
    bufs: list[BufferSpec] = []
    ids: dict[Value, int] = {}

    def buf(v: Value, kind: str) -> int:
        if v in ids:
            return ids[v]
        if not v.type.known:
            raise MXNetError(f"cannot compile: %{v.name} has incomplete type {v.type}; give the "
                             "input shapes it depends on")
        i = len(bufs)
        bufs.append(BufferSpec(i, v.name or f"t{i}", v.type, kind))
        ids[v] = i
        return i

    inputs = [buf(v, "input") for v in g.inputs]
    out_set = set()
    out_vals = []
    for v in g.outputs:
        if v in ids or v in out_set:      # graph input or repeated output: copy it
            out_vals.append(None)
        else:
            out_vals.append(v)
            out_set.add(v)
    users = g.users()
    fwd_ops = _forward_ops(g, n_forward_outputs)
    # in-place requests that can hold: output o produced by a kernel that is the only reader
    # of input i (which is not itself a graph output)
    candidates = {}
    for o, i in (inplace or {}).items():
        v, w = g.outputs[o], g.inputs[i]
        if out_vals[o] is None or v.op is None or v.op.opname != "fused" or w in g.outputs:
            continue
        if any(u is not v.op for u in users.get(w, [])):
            continue
        candidates[v] = w
    for v in out_vals:
        if v is not None and v not in candidates:
            buf(v, "output")
    steps: list[Step] = []
    realized: dict = {}
    for op in g.ops:
        od = op.opdef
        ins = [buf(v, "temp") for v in op.inputs]
        if op.opname == "fused":
            names = sorted({o.name for o in op.body.ops if o.name},
                           key=[o.name for o in op.body.ops].index)
            want = {}
            for j, v in enumerate(op.outputs):
                w = candidates.get(v)
                if w is not None:
                    # the kernel may not read w at all: then it only borrows the storage
                    if w in op.inputs:
                        want[j] = op.inputs.index(w)
            # memory planning's in-place reuse: a temporary output may take the storage of a
            # temporary input that dies here (read only where the output is written)
            reuse = {} if no_reuse else _reuse_candidates(op, g, users, out_set, want, fwd_ops)
            # lowered once; in-place variants are rewrites of that kernel's buffers
            base = lower_group(op.body, op.attrs["kernel"], names)
            kern = None
            for attempt in ({**want, **reuse}, want):
                if not attempt:
                    continue
                try:
                    kern = apply_inplace(base, attempt, len(op.body.inputs))
                    if attempt is want:
                        reuse = {}
                    break
                except LoweringError:
                    kern = None
            if kern is None:
                kern = base
                want, reuse = {}, {}
            for j, v in enumerate(op.outputs):
                w = candidates.get(v)
                if w is not None and (j in want or w not in op.inputs):
                    ids[v] = ids[w]
                    realized[v] = w
                elif j in reuse:
                    ids[v] = ids[op.inputs[reuse[j]]]
            outs = [buf(v, "output" if v in candidates else "temp") for v in op.outputs]
            steps.append(Step("kernel", kern.name, ins + outs, len(ins), kernel=kern,
                              node_name=op.name))
        elif isinstance(od.lower, Extern):
            outs = [buf(v, "temp") for v in op.outputs]
            steps.append(Step("extern", od.lower.name or od.name, ins + outs, len(ins),
                              fn=od.lower.fn, attrs=dict(op.attrs), node_name=op.name,
                              split=od.lower.split, opname=op.opname))
        else:
            raise MXNetError(f"{op.opname} '{op.name}': not lowered; run the fuse pass before "
                             "building a program")
    n_fwd_steps = None
    if fwd_ops is not None:
        flags = [op in fwd_ops for op in g.ops]
        n_fwd_steps = sum(flags)
        if flags != [True] * n_fwd_steps + [False] * (len(flags) - n_fwd_steps):
            raise MXNetError(f"program @{g.name}: forward and backward steps interleave; the "
                             "fuse pass orders forward work first")
    outputs = []
    copies = []
    for i, (v, orig) in enumerate(zip(out_vals, g.outputs)):
        if v is not None:
            outputs.append(ids[v])
            continue
        o = len(bufs)
        bufs.append(BufferSpec(o, f"{orig.name or 'out'}_out{i}", orig.type, "output"))
        k = _copy_kernel(orig, f"copy_out{i}")
        copies.append((i, Step("kernel", k.name, [ids[orig], o], 1, kernel=k)))
        outputs.append(o)
    if n_fwd_steps is not None:
        fwd_copies = [st for i, st in copies if i < n_forward_outputs]
        steps[n_fwd_steps:n_fwd_steps] = fwd_copies
        n_fwd_steps += len(fwd_copies)
        steps += [st for i, st in copies if i >= n_forward_outputs]
    else:
        steps += [st for _, st in copies]
    prog = Program(g.name, bufs, steps, inputs, outputs, n_forward_steps=n_fwd_steps,
                   n_forward_outputs=n_forward_outputs)
    prog.inplace = {o: i for o, i in (inplace or {}).items()
                    if g.outputs[o] in realized and realized[g.outputs[o]] is g.inputs[i]}
    if not no_reuse:
        _concat_in_place(prog)
    return prog


def _concat_in_place(prog: Program):
    """A Concat along axis 0 of temporaries each written by one earlier step: let those steps
    write into row blocks of the Concat's output and drop the copy (MXNet does the same)."""
    writers: dict[int, list] = {}
    for si, st in enumerate(prog.steps):
        for b in st.outs:
            writers.setdefault(b, []).append(si)
    drop = set()
    claimed: set = set()
    for si, st in enumerate(prog.steps):
        if st.kind != "extern" or st.opname != "Concat" or st.attrs.get("dim") != 0:
            continue
        out = prog.buffers[st.outs[0]]
        ins = [prog.buffers[b] for b in st.ins]
        if out.kind != "temp" or out.view_of is not None or len(set(st.ins)) != len(st.ins):
            continue
        ok = all(b.kind == "temp" and b.view_of is None and b.id not in claimed and
                 len(writers.get(b.id, [])) == 1 and writers[b.id][0] < si and
                 b.type.dtype == out.type.dtype and
                 tuple(b.type.shape[1:]) == tuple(out.type.shape[1:]) for b in ins)
        if not ok:
            continue
        off = 0
        for b in ins:
            b.view_of = (out.id, off)
            claimed.add(b.id)
            off += b.nbytes
        drop.add(si)
    if drop:
        prog.steps = [st for i, st in enumerate(prog.steps) if i not in drop]
        if prog.n_forward_steps is not None:
            prog.n_forward_steps -= sum(1 for i in drop if i < prog.n_forward_steps)
