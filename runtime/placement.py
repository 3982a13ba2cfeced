"""Where an executor's operators and arrays live: MXNet's ``group2ctx`` model parallelism.

Symbols created inside ``with mx.AttrScope(ctx_group='dev1'):`` (or given ``ctx_group=`` /
``attr={'ctx_group': ...}``) carry the attribute ``__ctx_group__``. Binding with
``group2ctx={'dev1': mx.gpu(0), 'dev2': mx.gpu(1)}`` places them, as MXNet 1.9.1 does:

- a variable's arrays (argument, gradient, auxiliary state) are allocated on its group's context
  by ``simple_bind`` (else on the executor's default context); ``bind`` takes the caller's arrays
  where they are, and a grouped variable is read on its group's context;
- an operator runs on its group's context; an operator without a group runs where its first
  input is computed (or, with no placed input, where its first reader runs; else the default
  context);
- a group that ``group2ctx`` does not name is an error; without ``group2ctx`` (or with an empty
  one) everything is on the default context and every bound array must be there too.

Each output array is on the context of the operator that computes it (``out.context``).

Contexts that share a physical device (``cpu(0)`` and ``cpu(1)`` are both the host; ``gpu(0)``
is ``cuda:0``) run as one compiled program: the placement is kept and reported, and nothing is
copied. When the operators span several physical devices, the graph is cut into segments of
consecutive operators on one device (in MXNet's node order), each compiled for its device as an
executor of its own; forward runs them in order and backward in reverse, copying the values and
gradients that cross a cut (MXNet's ``_CrossDeviceCopy``). A gradient that MXNet would refuse to
write to an array on another device than the one computing it is copied there instead.
"""
from __future__ import annotations

import torch

from mxc.base import GraphError, MXNetError
from mxc.context import Context

__all__ = ["Placement", "Segmented", "ContextTypeError", "SPLIT_BY", "var_context",
           "norm_group2ctx", "check_bound_contexts"]

# What makes two contexts one device: "device" (their torch device: every cpu(i) is the host)
# or "context" (every context separately; runs the segmented path on one machine, which is how
# the tests exercise the code that moves data between GPUs)
SPLIT_BY = "device"


class ContextTypeError(MXNetError, TypeError):
    """A ``group2ctx`` that is not a dict of group name -> Context."""


def _key(ctx: Context):
    return ctx if SPLIT_BY == "context" else str(ctx.torch_device)


def norm_group2ctx(group2ctx, where: str):
    """``group2ctx`` checked: ``None`` (also for an empty dict) or a dict str -> Context."""
    if not group2ctx:
        return None
    if not isinstance(group2ctx, dict):
        raise ContextTypeError(f"{where}: group2ctx must be a dict of ctx_group name -> Context; "
                               f"got {type(group2ctx).__name__} {group2ctx!r:.80}")
    for k, v in group2ctx.items():
        if not isinstance(v, Context):
            raise ContextTypeError(f"{where}: group2ctx[{k!r}] must be a Context (mx.cpu(i), "
                                   f"mx.gpu(i)); got {type(v).__name__} {v!r:.60}")
    return dict(group2ctx)


def _group_ctx(node, group2ctx, where):
    group = node.attrs.get("__ctx_group__")
    if group is None or group2ctx is None:
        return None
    ctx = group2ctx.get(group)
    if ctx is None:
        kind = "variable" if node.is_var else f"{node.op}"
        raise GraphError(f"{where}: {kind} '{node.name}' has ctx_group {group!r}, which "
                         f"group2ctx does not assign a context to (it names "
                         f"{sorted(group2ctx)})")
    return ctx


def var_context(node, ctx: Context, group2ctx, where: str) -> Context:
    """The context ``simple_bind`` allocates variable ``node``'s arrays on."""
    return _group_ctx(node, group2ctx, where) or ctx


def check_bound_contexts(names, arrays, ctx: Context, what: str, where: str) -> None:
    """Without ``group2ctx`` every bound array must be on the executor's context (MXNet)."""
    for n, a in zip(names, arrays):
        if a is not None and a.context != ctx:
            raise MXNetError(f"{where}: {what} {n!r} is on {a.context} while binding with "
                             f"ctx={ctx}; all of them must be on {ctx} unless group2ctx places "
                             "parts of the graph on other contexts")


class Placement:
    """The context of every node of ``symbol``, from the variables' arrays and ``group2ctx``.

    ``node_ctx[id(node)]`` is each node's context, ``output_ctx`` that of each output of the
    symbol, ``devices`` the distinct physical devices (see :data:`SPLIT_BY`) the operators and
    arrays use, ``run_ctx`` the context one compiled program runs on when there is one device.
    """

    def __init__(self, symbol, ctx: Context, group2ctx, var_ctx: dict, where: str = "bind"):
        self.group2ctx = group2ctx
        nodes = symbol._nodes()
        place: dict[int, Context] = {}
        for n in nodes:
            if n.is_var:   # a grouped variable is read on its group's context (copied there)
                place[id(n)] = _group_ctx(n, group2ctx, where) or var_ctx.get(n.name, ctx)
        if group2ctx is None:
            for n in nodes:
                place.setdefault(id(n), ctx)
        else:
            for n in nodes:                              # forward: group, else first input's
                if n.is_var:
                    continue
                c = _group_ctx(n, group2ctx, where)
                if c is None:
                    c = next((place[id(s)] for s, _ in n.inputs if id(s) in place), None)
                if c is not None:
                    place[id(n)] = c
            for n in reversed(nodes):                    # backward: readers place the rest
                if id(n) in place:
                    for s, _ in n.inputs:
                        place.setdefault(id(s), place[id(n)])
            for n in nodes:
                place.setdefault(id(n), ctx)
        self.node_ctx = place
        self.output_ctx = [place[id(n)] for n, _ in symbol._outputs]
        ops = [place[id(n)] for n in nodes if not n.is_var]
        used = ops + [place[id(n)] for n in nodes if n.is_var] + [ctx]
        keys = []
        for c in (ops or used):
            if _key(c) not in keys:
                keys.append(_key(c))
        var_keys = {_key(var_ctx.get(n.name, ctx)) for n in nodes if n.is_var}
        self.segmented = len(keys) > 1 or bool(var_keys - set(keys))
        first = ops[0] if ops else (self.output_ctx[0] if self.output_ctx else ctx)
        self.run_ctx = ctx if _key(ctx) == _key(first) else first


# -- several devices: a chain of per-device executors ------------------------------------------
class _Segment:
    def __init__(self, key, ctx):
        self.key, self.ctx = key, ctx
        self.nodes: list = []
        self.exe = None
        self.outputs: list = []        # entries (node, index) of the full graph it produces
        self.staged: list = []         # (variable name, array of this segment, "arg"/"aux")
        self.cuts: list = []           # (entry of another segment, input array, grad array)


def _ekey(entry):
    return id(entry[0]), entry[1]


class Segmented:
    """Runs an executor whose operators span several devices as per-device executors."""

    def __init__(self, exe, placement: Placement):
        from mxc.ndarray import zeros as nd_zeros
        from mxc.symbol.symbol import Symbol, _Node

        from .executor import Executor
        self.exe = exe
        sym = exe._symbol
        nodes = sym._nodes()
        place = placement.node_ctx
        segs: list[_Segment] = []
        owner: dict[int, _Segment] = {}
        for n in nodes:
            if n.is_var:
                continue
            c = place[id(n)]
            if not segs or segs[-1].key != _key(c):
                segs.append(_Segment(_key(c), c))
            segs[-1].nodes.append(n)
            owner[id(n)] = segs[-1]
        self.segments = segs
        finals = {_ekey(e) for e in sym._outputs}
        readers: dict[int, set] = {}       # id(variable) -> segments reading it
        needed: dict[tuple, list] = {}     # entry -> the later segments reading it
        for s in segs:
            for n in s.nodes:
                for src, i in n.inputs:
                    if src.is_var:
                        readers.setdefault(id(src), set()).add(id(s))
                    elif owner[id(src)] is not s:
                        lst = needed.setdefault((id(src), i), [])
                        if s not in lst:
                            lst.append(s)
        taken = set(sym.list_inputs()) | {n.name for n in nodes}

        def fresh(base):
            name, k = base, 0
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            taken.add(name)
            return name

        # shapes and dtypes of every entry that crosses a cut
        cut_entries = [(n, i) for n in nodes if not n.is_var
                       for i in range(n.num_outputs()) if (id(n), i) in needed]
        cut_types = {}
        if cut_entries:
            probe = Symbol(cut_entries)
            ins = set(probe.list_inputs())
            shp = {k: v for k, v in exe._shapes.items() if k in ins}
            dts = {k: v for k, v in exe._dtypes.items() if k in ins}
            _, oshapes, _ = probe.infer_shape(**shp)
            _, otypes, _ = probe.infer_type(**dts)
            for e, s, t in zip(cut_entries, oshapes, otypes):
                cut_types[_ekey(e)] = (s, t)

        grad_req = exe._grad_req
        wants_grad = any(r != "null" for r in grad_req.values())
        arrays = exe._inputs()
        grads = exe.grad_dict
        aux_names = set(exe._aux_names)
        self.staged_grads: dict[str, list] = {}
        self.direct_grads: set[str] = set()     # gradients a segment writes in place
        for s in segs:
            members = {id(n) for n in s.nodes}
            copies: dict[int, object] = {}
            cut_vars: dict[tuple, object] = {}
            sub_args, sub_grads, sub_req, sub_aux = {}, {}, {}, {}
            for n in s.nodes:
                new_inputs = []
                for src, i in n.inputs:
                    if id(src) in members:
                        new_inputs.append((copies[id(src)], i))
                    elif src.is_var:
                        new_inputs.append((src, i))
                    else:
                        key = (id(src), i)
                        if key not in cut_vars:
                            vname = fresh(f"{src.name}_output{i}_to_{s.ctx.device_type}"
                                          f"{s.ctx.device_id}")
                            cut_vars[key] = (_Node(None, vname), (src, i))
                        new_inputs.append((cut_vars[key][0], 0))
                copies[id(n)] = _Node(n.op, n.name, n.attrs, new_inputs)
            s.outputs = [(n, i) for n in s.nodes for i in range(n.num_outputs())
                         if (id(n), i) in needed or (id(n), i) in finals]
            sub = Symbol([(copies[id(n)], i) for n, i in s.outputs])
            sub_arg_names = sub.list_arguments()
            for name in sub_arg_names + sub.list_auxiliary_states():
                cut = next((c for c in cut_vars.values() if c[0].name == name), None)
                if cut is not None:
                    shape, dt = cut_types[_ekey(cut[1])]
                    a = nd_zeros(shape, ctx=s.ctx, dtype=dt)
                    g = nd_zeros(shape, ctx=s.ctx, dtype=dt) if wants_grad else None
                    sub_args[name], sub_grads[name] = a, g
                    sub_req[name] = "write" if wants_grad else "null"
                    s.cuts.append((cut[1], a, g))
                    continue
                src = arrays[name]
                kind = "aux" if name in aux_names else "arg"
                table = sub_aux if kind == "aux" else sub_args
                node_id = next(id(v) for v in nodes if v.is_var and v.name == name)
                direct = (_key(src.context) == s.key and len(readers[node_id]) == 1)
                if direct:
                    table[name] = src
                    if kind == "arg":
                        sub_grads[name] = grads.get(name)
                        sub_req[name] = grad_req.get(name, "null") if name in grads else "null"
                        if sub_req[name] != "null":
                            self.direct_grads.add(name)
                    continue
                a = nd_zeros(src.shape, ctx=s.ctx, dtype=src.dtype)
                table[name] = a
                s.staged.append((name, a, kind))
                if kind == "arg":
                    if grad_req.get(name, "null") != "null" and name in grads:
                        g = nd_zeros(src.shape, ctx=s.ctx, dtype=src.dtype)
                        sub_grads[name], sub_req[name] = g, "write"
                        self.staged_grads.setdefault(name, []).append(g)
                    else:
                        sub_grads[name], sub_req[name] = None, "null"
            sub_aux_names = sub.list_auxiliary_states()
            s.exe = Executor(sub, s.ctx, [sub_args[n] for n in sub_arg_names],
                             [sub_grads.get(n) for n in sub_arg_names], sub_req,
                             [sub_aux[n] for n in sub_aux_names])
        self._producer = {}
        for s in segs:
            for k, e in enumerate(s.outputs):
                self._producer[_ekey(e)] = (s, k)

    def forward(self, is_train: bool):
        arrays = self.exe._inputs()
        for s in self.segments:
            for name, a, _ in s.staged:
                a.torch_tensor().copy_(arrays[name].torch_tensor())
            for entry, a, _ in s.cuts:
                ps, k = self._producer[_ekey(entry)]
                a.torch_tensor().copy_(ps.exe.outputs[k].torch_tensor())
            s.exe.forward(is_train=is_train)
        for (n, i), out in zip(self.exe._symbol._outputs, self.exe.outputs):
            if n.is_var:
                out.torch_tensor().copy_(arrays[n.name].torch_tensor())
            else:
                ps, k = self._producer[(id(n), i)]
                out.torch_tensor().copy_(ps.exe.outputs[k].torch_tensor())

    def backward(self, out_grads):
        from mxc.ndarray import NDArray
        if isinstance(out_grads, NDArray):
            out_grads = [out_grads]
        pending: dict[tuple, list] = {}
        var_heads: dict[str, list] = {}      # outputs that are variables: gradient = head
        if out_grads is not None:
            out_grads = list(out_grads)
            for (n, i), g in zip(self.exe._symbol._outputs, out_grads):
                if g is None:
                    continue
                t = g.torch_tensor() if isinstance(g, NDArray) else torch.as_tensor(g)
                if n.is_var:
                    var_heads.setdefault(n.name, []).append(t)
                else:
                    pending.setdefault((id(n), i), []).append(t)
        for s in reversed(self.segments):
            og = []
            for e in s.outputs:
                parts = pending.get(_ekey(e))
                if not parts:
                    og.append(None)
                    continue
                dev = s.ctx.torch_device
                total = parts[0].to(dev)
                for p in parts[1:]:
                    total = total + p.to(dev)
                og.append(NDArray.from_torch(total, s.ctx))
            s.exe.backward(og if any(g is not None for g in og) else None)
            for entry, _, g in s.cuts:
                if g is not None:
                    pending.setdefault(_ekey(entry), []).append(g.torch_tensor())
            for name, a, kind in s.staged:
                if kind == "aux":
                    self.exe.aux_dict[name].torch_tensor().copy_(a.torch_tensor())
        for name, parts in self.staged_grads.items():
            dst = self.exe.grad_dict[name].torch_tensor()
            total = parts[0].torch_tensor().to(dst.device)
            for p in parts[1:]:
                total = total + p.torch_tensor().to(dst.device)
            if self.exe._grad_req[name] == "add":
                dst.add_(total)
            else:
                dst.copy_(total)
        read = set(self.staged_grads) | self.direct_grads
        for name, parts in var_heads.items():
            g = self.exe.grad_dict.get(name)
            if g is None:
                continue
            dst = g.torch_tensor()
            total = sum(p.to(dst.device, dst.dtype) for p in parts)
            if name in read or self.exe._grad_req[name] == "add":
                dst.add_(total)
            else:
                dst.copy_(total)

    def debug_str(self) -> str:
        return "\n".join(f"# segment {k} on {s.ctx}: {', '.join(n.name for n in s.nodes)}\n"
                         + s.exe.debug_str() for k, s in enumerate(self.segments))
