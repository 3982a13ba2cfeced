"""Executors: a Symbol bound to arrays, running compiled plans (MXNet's ``Executor``).

``simple_bind`` infers every shape and dtype and allocates the arrays; ``bind`` uses the
caller's. An executor compiles its symbol once per mode (inference, training) for its shapes
(through a process-wide cache keyed by the graph, shapes, dtypes, target and mode), binds the
plan to its arrays once, and each ``forward`` only copies new inputs in and runs the prepared
steps. Arrays keep their storage for the executor's life: write inputs in place
(``exe.arg_dict['data'][:] = x``) or pass them to ``forward(data=x)``.
"""
from __future__ import annotations

import difflib
import time

import numpy as np
import torch

from mxc.base import GraphError, MXNetError, ShapeError, UnsupportedError, op_prefix
from mxc.context import Context, current_context
from mxc.ir.types import DType
from mxc.memo import memo
from mxc.ndarray import NDArray
from mxc.ndarray import zeros as nd_zeros

from . import profiler as _profiler

__all__ = ["Executor", "UpdateBinding", "simple_bind", "bind", "target_for", "compile_cached",
           "check_sizes", "check_unique_inputs"]

_MEMO = memo("executor")        # compiled symbols by JSON, shapes, dtypes, target, mode


def target_for(ctx: Context) -> str:
    from mxc.codegen.backend import target_for_device
    return target_for_device(ctx.device_type)


def compile_cached(symbol, shapes: dict, dtypes: dict, target: str, is_train: bool,
                   grad_wrt=None, pins=None):
    """``mxc.compile`` through a process-wide cache (executors of the same graph and shapes,
    reshapes and bucket switches share compiled code). ``pins`` (values a monitor watches,
    :mod:`mxc.passes.pin`) are part of the key: a monitored executor gets its own program."""
    from mxc.symbol.convert import compile_symbol as mx_compile
    pins = tuple(sorted(set(pins))) if pins else ()
    # the JSON with its amp_cast nodes: an AMP-converted symbol is a different program
    key = (symbol.tojson(remove_amp_cast=False),
           tuple(sorted((k, tuple(v)) for k, v in shapes.items())),
           tuple(sorted((k, DType.parse(v).np_name) for k, v in dtypes.items())), target,
           bool(is_train), tuple(grad_wrt) if grad_wrt is not None else None, pins)
    def make():
        c = mx_compile(symbol, shapes=shapes, dtypes=dtypes, target=target, is_train=is_train,
                       grad_wrt=grad_wrt, pins=pins or None)
        c.forget_stages()       # kept for the process: only what running it needs
        return c
    return _MEMO.get(key, make)


def check_unique_inputs(symbol, where: str) -> None:
    """Raise :class:`GraphError` if two distinct variables of ``symbol`` share a name.

    MXNet builds, infers and saves such graphs (its JSON refers to nodes by index) but cannot
    bind them: an executor finds its arrays by name ("Duplicate names detected")."""
    names = symbol.list_inputs()
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        desc = ", ".join(f"{n!r} names {names.count(n)} different variables" for n in dups)
        raise GraphError(f"{where}: duplicate names detected: {desc} (inputs: {names}); an "
                         "executor finds its arrays by name, so give each variable its own "
                         "name (to use one input twice, reuse the same Variable object)")


def _consumer(symbol, name):
    """The first operator node reading variable ``name`` and the name of that input slot."""
    for node in symbol._nodes():
        if node.is_var:
            continue
        for pos, (src, _) in enumerate(node.inputs):
            if src.is_var and src.name == name:
                slots = node.opdef.list_inputs(node.params())
                return node, (slots[pos] if pos < len(slots) else f"input {pos}")
    return None, None


def _node_desc(node) -> str:
    attrs = ", ".join(f"{k}={v}" for k, v in node.op_params().items())
    return op_prefix(node.op, node.name) + (f" ({attrs})" if attrs else "")


def check_sizes(symbol, where: str, ctx, arrays) -> None:
    """Before allocating: every array of ``arrays`` (``[(name, shape, dtype)]`` of arguments and
    auxiliary states), and all of them together, must fit in ``ctx``'s memory; the error names
    the operator that reads the argument, its attributes and the shape."""
    from mxc.ndarray.creation import _fmt_bytes, check_alloc, device_memory, nbytes_of
    limit = device_memory(ctx)
    if limit is None:
        return
    total = []
    for name, shape, dt in arrays:
        n = nbytes_of(shape, dt)
        if n > limit:
            node, slot = _consumer(symbol, name)
            check_alloc(shape, dt, ctx, f"{where}: {_node_desc(node)}: {slot} {name!r}"
                        if node is not None else f"{where}: argument {name!r}")
        total.append((n, name, tuple(shape)))
    if sum(t[0] for t in total) > limit:
        from mxc.base import AllocationError
        big = sorted(total, reverse=True)[:3]
        raise AllocationError(f"{where}: the arrays need {_fmt_bytes(sum(t[0] for t in total))}"
                              f" in all, more than the {_fmt_bytes(limit)} of memory of {ctx}; "
                              "largest: " + ", ".join(f"{n} {s} ({_fmt_bytes(b)})"
                                                      for b, n, s in big))


def _suggest(name, names):
    close = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; arguments are {names}"


class Executor:
    """A symbol bound to arrays (MXNet's ``mx.executor.Executor``; made by ``Symbol.bind`` /
    ``simple_bind``): ``arg_arrays``/``grad_arrays``/``aux_arrays`` and the ``arg_dict``,
    ``grad_dict``, ``aux_dict``, ``output_dict`` views of them, ``outputs``, ``forward``,
    ``backward``, ``reshape``, ``copy_params_from``, ``set_monitor_callback``, ``debug_str``
    and ``get_optimized_symbol``."""

    def __init__(self, symbol, ctx: Context, arg_arrays, grad_arrays, grad_req: dict,
                 aux_arrays, group2ctx=None, outputs=None):
        self._symbol = symbol
        self._ctx = ctx
        self._group2ctx = group2ctx
        self._arg_names = symbol.list_arguments()
        self._aux_names = symbol.list_auxiliary_states()
        self._out_names = symbol.list_outputs()
        self.arg_arrays = list(arg_arrays)
        self.grad_arrays = list(grad_arrays)
        self.aux_arrays = list(aux_arrays)
        self._grad_req = dict(grad_req)
        self._arg_dict = dict(zip(self._arg_names, self.arg_arrays))
        self._grad_dict = {n: g for n, g in zip(self._arg_names, self.grad_arrays)
                           if g is not None}
        self._aux_dict = dict(zip(self._aux_names, self.aux_arrays))
        self._plans: dict = {}
        self._mode_free = None   # no mode-dependent or mutating operator (see forward)
        self._monitor = None
        self._monitor_all = False
        self._monitor_accept = None
        self._watch = None          # what the monitor sees (_Watch), built on first use
        self._pinned: dict = {}     # mode -> {(node, index, kind): NDArray} of pinned values
        self._last_train = False
        shapes = {n: a.shape for n, a in self._inputs().items()}
        dtypes = {n: a.dtype for n, a in self._inputs().items()}
        self._shapes, self._dtypes = shapes, dtypes
        if outputs is not None:
            # (shapes, dtypes) of the outputs, inferred by the caller from these very
            # arrays' shapes and dtypes (a module's bind): no second import of the symbol
            out_shapes, out_types = outputs
        else:
            from mxc.symbol.convert import infer_partial
            (_, out_shapes, _), (_, out_types, _) = infer_partial(symbol, shapes, dtypes,
                                                                  partial=False)
        if out_shapes is None:
            raise ShapeError("cannot bind: output shapes could not be inferred from "
                             f"{shapes}")
        from mxc.ndarray.creation import check_alloc, device_memory, nbytes_of
        limit = device_memory(ctx)
        for (node, _), n, s, t in zip(symbol._outputs, self._out_names, out_shapes, out_types):
            if limit is not None and nbytes_of(s, t) > limit:
                check_alloc(s, t, ctx, f"bind: output {n!r} of {_node_desc(node)}"
                            if not node.is_var else f"bind: output {n!r}")
        # group2ctx: where each operator runs and each output lives (runtime.placement);
        # one compiled program on _run_ctx, or per-device segments when they span devices
        from .placement import Placement, Segmented
        placement = Placement(symbol, ctx, group2ctx,
                              {n: a.context for n, a in self._inputs().items()})
        self._run_ctx = placement.run_ctx
        self.outputs = [nd_zeros(s, ctx=c, dtype=t)
                        for s, t, c in zip(out_shapes, out_types, placement.output_ctx)]
        self._output_dict = dict(zip(self._out_names, self.outputs))
        self._segmented = Segmented(self, placement) if placement.segmented else None

    # -- the bound arrays by name ---------------------------------------------------------------
    @property
    def arg_dict(self) -> dict:
        """Argument name -> its array (the arrays are the executor's: write inputs in place)."""
        return self._arg_dict

    @property
    def grad_dict(self) -> dict:
        """Argument name -> its gradient array, for arguments whose grad_req is not 'null'."""
        return self._grad_dict

    @property
    def aux_dict(self) -> dict:
        """Auxiliary state name -> its array (BatchNorm's moving statistics)."""
        return self._aux_dict

    @property
    def output_dict(self) -> dict:
        """Output name (``fc1_output``) -> its array."""
        return self._output_dict

    def _inputs(self) -> dict:
        d = dict(zip(self._arg_names, self.arg_arrays))
        d.update(zip(self._aux_names, self.aux_arrays))
        return d

    # -- plans ---------------------------------------------------------------------------------
    def _plan(self, mode: str):
        """``(compiled, bound)`` for "infer", or the training plan for "train"."""
        plan = self._plans.get(mode)
        if plan is None:
            watch = self._watch_for()
            if mode == "train":
                plan = _TrainPlan(self, watch)
                self._pinned[mode] = plan.pinned
            else:
                c = compile_cached(self._symbol, self._shapes, self._dtypes,
                                   target_for(self._run_ctx), False,
                                   pins=watch.forward_pins if watch is not None else None)
                arrays = self._inputs()
                ins = [arrays[v.name].torch_tensor() for v in c.inputs]
                outs = [o.torch_tensor() for o in self.outputs]
                # states an operator mutates in every mode (optimizer updates): new values,
                # copied into the aux arrays after each forward, as MXNet writes them in place
                self._infer_aux = _aux_buffers(self, c, len(outs))
                outs += [t for _, t in self._infer_aux]
                outs += _pin_buffers(c, len(outs), self._run_ctx)
                plan = (c, c.executable.bind(ins, outs))
                self._pinned[mode] = _pinned_arrays(c, outs, self._run_ctx)
            self._plans[mode] = plan
        return plan

    def _infer_by_training_plan(self) -> bool:
        """Whether an inference forward can run the forward steps of the training program
        already compiled here instead of compiling an inference program: when no operator
        behaves differently in training (Dropout, BatchNorm) or mutates its inputs, the two
        compute the same outputs (a bucketing module's evaluation then compiles nothing
        new). A monitored executor keeps its own inference program (its pins differ)."""
        if "train" not in self._plans or self._monitor is not None:
            return False
        if self._mode_free is None:
            self._mode_free = not any(
                not n.is_var and (n.opdef.mode_dependent or n.opdef.extra.get("mutate_inputs"))
                for n in self._symbol._nodes())
        return self._mode_free

    # -- execution -----------------------------------------------------------------------------
    def forward(self, is_train: bool = False, **kwargs):
        """Copy ``kwargs`` into the argument arrays and run the forward plan."""
        for k, v in kwargs.items():
            if k not in self.arg_dict:
                raise MXNetError(f"forward: {k!r} is not an argument of this executor"
                                 + _suggest(k, self._arg_names))
            dst = self.arg_dict[k]
            if isinstance(v, NDArray):
                if tuple(v.shape) != tuple(dst.shape):
                    raise ShapeError(f"forward: {k} has shape {tuple(v.shape)}; the executor "
                                     f"was bound with {tuple(dst.shape)} (use reshape)")
                dst.torch_tensor().copy_(v.torch_tensor())
            else:
                a = np.asarray(v)
                if a.shape != tuple(dst.shape):
                    raise ShapeError(f"forward: {k} has shape {a.shape}; the executor was "
                                     f"bound with {tuple(dst.shape)} (use reshape)")
                t = dst.torch_tensor()
                t.copy_(torch.as_tensor(a, dtype=t.dtype))
        t0 = _profiler.API and time.perf_counter_ns()
        if self._segmented is not None:
            if self._monitor is not None:
                raise UnsupportedError("mxc does not support monitor callbacks on an executor "
                                       "whose group2ctx places operators on several devices "
                                       "yet; monitor a single-device executor")
            self._segmented.forward(bool(is_train))
        elif is_train or self._infer_by_training_plan():
            self._plan("train").forward()
        else:
            _, bound = self._plan("infer")
            if _profiler.SYMBOLIC:
                _profiler.record_steps(bound)
            else:
                bound.run()
            for dst, src in self._infer_aux:
                dst.torch_tensor().copy_(src)
        self._last_train = bool(is_train)
        if self._monitor is not None:
            self._report_forward("train" if is_train else "infer")
        if t0:
            _profiler.api_event("Executor.forward", t0, time.perf_counter_ns())
        return self.outputs

    def backward(self, out_grads=None, is_train=True):
        """Gradients of the last training forward into ``grad_arrays`` (``grad_req``: write
        replaces, add accumulates, null skips). ``out_grads`` are the head gradients of the
        outputs that are not loss layers. Auxiliary states (BatchNorm's moving statistics) are
        updated here, as MXNet 1.9.1 does.

        With nothing to differentiate (every ``grad_req`` is ``'null'``, or the graph has no
        arguments) backward does nothing, as in MXNet: no head gradients are needed and
        auxiliary states are left as they are."""
        if all(r == "null" for r in self._grad_req.values()):
            return
        if self._segmented is not None:
            if not self._last_train:
                self._segmented.forward(True)
                self._last_train = True
            self._segmented.backward(out_grads)
            return
        t0 = _profiler.API and time.perf_counter_ns()
        plan = self._plan("train")
        if not self._last_train:
            plan.forward()       # MXNet differentiates the last forward; recompute it in
            self._last_train = True  # training mode so the saved activations exist
        plan.backward(out_grads)
        if self._monitor is not None:
            self._report_backward()
        if t0:
            _profiler.api_event("Executor.backward", t0, time.perf_counter_ns())

    def reshape(self, partial_shaping=False, allow_up_sizing=False, **kwargs) -> "Executor":
        """A new executor for new input shapes, sharing the arrays whose shapes do not
        change (parameters); compiled code comes from the cache."""
        for k in kwargs:
            if k not in self.arg_dict:
                raise MXNetError(f"reshape: {k!r} is not an argument"
                                 + _suggest(k, self._arg_names))
        arg_shapes, _, aux_shapes = self._symbol.infer_shape(**kwargs)
        if arg_shapes is None:
            raise ShapeError(f"reshape: shapes {kwargs} do not determine every argument")
        new_args, new_grads = [], []
        # a new array goes where the old one was (its ctx_group's context)
        for n, a, g, s in zip(self._arg_names, self.arg_arrays, self.grad_arrays, arg_shapes):
            if tuple(a.shape) == tuple(s):
                new_args.append(a)
                new_grads.append(g)
                continue
            if n not in kwargs and not partial_shaping:
                raise ShapeError(f"reshape: argument {n} would change shape from "
                                 f"{tuple(a.shape)} to {tuple(s)}; pass partial_shaping=True")
            if int(np.prod(s)) > a.size and not allow_up_sizing:
                raise ShapeError(f"reshape: argument {n} grows from {tuple(a.shape)} to "
                                 f"{tuple(s)}; pass allow_up_sizing=True")
            new_args.append(nd_zeros(s, ctx=a.context, dtype=a.dtype))
            new_grads.append(None if g is None else nd_zeros(s, ctx=g.context, dtype=g.dtype))
        new_aux = []
        for n, a, s in zip(self._aux_names, self.aux_arrays, aux_shapes):
            if tuple(a.shape) == tuple(s):
                new_aux.append(a)
                continue
            if not partial_shaping:
                raise ShapeError(f"reshape: auxiliary state {n} would change shape from "
                                 f"{tuple(a.shape)} to {tuple(s)}; pass partial_shaping=True")
            new_aux.append(nd_zeros(s, ctx=a.context, dtype=a.dtype))
        exe = Executor(self._symbol, self._ctx, new_args, new_grads, self._grad_req, new_aux,
                       group2ctx=self._group2ctx)
        if self._monitor is not None:      # the monitor follows the executor, as in MXNet
            exe._set_monitor(self._monitor, self._monitor_all, self._monitor_accept)
        return exe

    def copy_params_from(self, arg_params, aux_params=None, allow_extra_params=False):
        for name, arr in (arg_params or {}).items():
            if name in self.arg_dict:
                _copy_into(self.arg_dict[name], arr, name)
            elif not allow_extra_params:
                raise MXNetError(f"copy_params_from: found name {name!r} that is not in the "
                                 "arguments")
        for name, arr in (aux_params or {}).items():
            if name in self.aux_dict:
                _copy_into(self.aux_dict[name], arr, name)
            elif not allow_extra_params:
                raise MXNetError(f"copy_params_from: found name {name!r} that is not in the "
                                 "auxiliary states")

    def set_monitor_callback(self, callback, monitor_all=False):
        """Call ``callback(name, array)`` with every node output the executor computes, named
        as MXNet names them (``fc1_output``; training adds ``fc1_backward_output0`` ...), and
        with ``monitor_all`` every node's inputs first (``data``, ``fc1_data``,
        ``fc1_weight`` ...), in execution order, after each forward and backward. ``name`` is
        a str and ``array`` an NDArray over the executor's storage, valid until the next run.
        The values watched are kept materialized by the compiler (the program is recompiled,
        or taken from the cache, with them pinned); ``callback=None`` removes the monitor and
        the executor runs its unpinned program again."""
        self._set_monitor(callback, monitor_all, None)

    def _set_monitor(self, callback, monitor_all=False, accept=None):
        """``set_monitor_callback`` for names ``accept(name)`` admits (a Monitor's pattern):
        only those values are pinned."""
        if callback is not None and not callable(callback):
            raise MXNetError(f"set_monitor_callback: callback must be callable or None; got "
                             f"{type(callback).__name__}")
        self._monitor = callback
        self._monitor_all = bool(monitor_all)
        self._monitor_accept = accept
        self._watch = None
        self._plans = {}         # recompiled (or found in the cache) with the new pins
        self._pinned = {}
        self._last_train = False

    def _watch_for(self):
        if self._monitor is None:
            return None
        if self._watch is None:
            from .monitor import Watch
            self._watch = Watch(self._symbol, self._monitor_all, self._monitor_accept)
        return self._watch

    def _value(self, src, mode):
        kind = src[0]
        if kind == "var":
            return self.arg_dict.get(src[1], self.aux_dict.get(src[1]))
        return self._pinned.get(mode, {}).get((src[1], src[2], "out"))

    def _report_forward(self, mode):
        watch = self._watch_for()
        cb = self._monitor
        for name, src in watch.forward:
            arr = self._value(src, mode)
            if arr is not None:
                cb(name, arr)

    def _report_backward(self):
        watch = self._watch_for()
        cb = self._monitor
        pinned = self._pinned.get("train", {})
        for name, node, i in watch.backward:
            arr = pinned.get((node, i, "grad"))
            if arr is not None:
                cb(name, arr)

    def get_optimized_symbol(self):
        """The symbol this executor runs. mxc optimizes below the symbol level (the IR passes,
        fusion and memory planning that ``debug_str`` shows), never rewriting the graph of
        MXNet operators, so this is a copy of the bound symbol (MXNet's, without a subgraph
        backend, is the bound symbol too)."""
        return self._symbol.__copy__()

    def debug_str(self) -> str:
        if self._segmented is not None:
            return self._segmented.debug_str()
        c, _ = self._plan("infer")
        return c.dump(after="fuse", memory=True)

    def __repr__(self):
        return f"<Executor {self._symbol.name} @{self._ctx}>"


class _TrainPlan:
    """The training program of an executor: forward steps, then backward steps.

    Its inputs are the executor's arrays plus head-gradient buffers; its outputs are the
    executor's outputs, new aux values (written back at backward) and the gradients (into the
    grad arrays for grad_req 'write', into temporaries accumulated for 'add')."""

    def __init__(self, exe: "Executor", watch=None):
        self.exe = exe
        wrt = [n for n in exe._arg_names if exe._grad_req.get(n, "null") != "null"]
        pins = None
        if watch is not None:
            pins = watch.forward_pins + (watch.backward_pins if wrt else ())
        c = compile_cached(exe._symbol, exe._shapes, exe._dtypes, target_for(exe._run_ctx),
                           True, grad_wrt=wrt, pins=pins)
        self.compiled = c
        arrays = exe._inputs()
        self.heads = {}
        ins = []
        for v in c.inputs:
            if v.name in c.head_inputs:
                t = torch.zeros(tuple(v.type.shape), dtype=v.type.dtype.torch,
                                device=exe._run_ctx.torch_device)
                self.heads[v.name] = t
                ins.append(t)
            else:
                ins.append(arrays[v.name].torch_tensor())
        n_out = len(exe.outputs)
        outs = [o.torch_tensor() for o in exe.outputs]
        specs = [c.program.buffers[b] for b in c.program.outputs]
        self.aux_new = _aux_buffers(exe, c, n_out)
        outs += [t for _, t in self.aux_new]
        # states of operators that mutate them in forward (optimizer updates; BatchNorm's
        # moving statistics wait for backward, as in MXNet)
        fwd = _forward_mutated(exe._symbol)
        self.aux_fwd = [(dst, t) for name, (dst, t) in zip(c.aux_updates, self.aux_new)
                        if name in fwd]
        # values pinned for a monitor: forward ones after the aux updates, gradient ones after
        # the gradients (mxc.passes.pin)
        n_fwd_out = c.program.n_forward_outputs or len(specs)
        outs += _pin_buffers(c, len(outs), exe._run_ctx, n_fwd_out)
        self.add = []
        for name, spec in zip(wrt, specs[n_fwd_out:]):
            g = exe.grad_dict[name]
            if exe._grad_req[name] == "add":
                t = torch.empty(tuple(spec.type.shape), dtype=spec.type.dtype.torch,
                                device=exe._run_ctx.torch_device)
                self.add.append((g, NDArray.from_torch(t, exe._run_ctx)))
                outs.append(t)
            else:
                outs.append(g.torch_tensor())
        outs += _pin_buffers(c, len(outs), exe._run_ctx)
        self.pinned = _pinned_arrays(c, outs, exe._run_ctx)
        self.bound = c.executable.bind(ins, outs)
        self.n_fwd = c.program.n_forward_steps or 0
        # head gradients the backward program reads (a BlockGrad output's is never read: it
        # needs none, as in MXNet)
        prog = c.program
        read = {b for st in prog.steps for b in st.ins} | set(prog.outputs)
        self.heads_read = {v.name for v, b in zip(c.inputs, prog.inputs)
                           if v.name in self.heads and b in read}

    def forward(self):
        if _profiler.SYMBOLIC:
            _profiler.record_steps(self.bound, 0, self.n_fwd, "forward")
        else:
            self.bound.run_steps(0, self.n_fwd)
        for dst, src in self.aux_fwd:
            dst.torch_tensor().copy_(src)

    def backward(self, out_grads):
        c = self.compiled
        if c.head_inputs and (out_grads is not None or self.heads_read):
            if out_grads is None:
                outs = ", ".join(self.exe._out_names[i] for i, n in zip(c.head_outputs,
                                                                         c.head_inputs)
                                 if n in self.heads_read)
                raise MXNetError(f"backward: output(s) {outs} are not loss layers, so their "
                                 "gradients must be given: backward(out_grads=[...])")
            if isinstance(out_grads, NDArray):
                out_grads = [out_grads]
            out_grads = list(out_grads)
            for name, idx in zip(c.head_inputs, c.head_outputs):
                if idx >= len(out_grads) or out_grads[idx] is None:
                    raise MXNetError(f"backward: no gradient given for output "
                                     f"{self.exe._out_names[idx]}")
                g = out_grads[idx]
                t = g.torch_tensor() if isinstance(g, NDArray) else torch.as_tensor(np.asarray(g))
                if tuple(t.shape) != tuple(self.heads[name].shape):
                    raise ShapeError(f"backward: out_grads[{idx}] has shape {tuple(t.shape)}; "
                                     f"output {self.exe._out_names[idx]} has shape "
                                     f"{tuple(self.heads[name].shape)}")
                self.heads[name].copy_(t)
        if _profiler.SYMBOLIC:
            _profiler.record_steps(self.bound, self.n_fwd, None, "backward")
        else:
            self.bound.run_steps(self.n_fwd)
        for dst, src in self.aux_new:
            dst.torch_tensor().copy_(src)
        if self.add:
            from mxc.ndarray.ops import invoke
            for g, t in self.add:
                invoke("elemwise_add", [g, t], {}, out=g)


class UpdateBinding:
    """A compiled update program (an optimizer's) bound to storage that outlives a step.

    The program reads tensors (weight, gradient, states) and scalar inputs (hyperparameters: a
    new value is never a new compilation) and writes new values: straight into an input's
    storage where the program computes that output in place, otherwise into output buffers
    shared by every binding of the same program (steps are sequential) and copied back into
    their targets after the run. :meth:`run` writes the scalars, runs the program, applies
    ``moves`` (copies that must see the old values) and writes the results back.
    """

    __slots__ = ("bound", "copies", "event", "hp", "hp_host", "hp_np", "outs", "program",
                 "ptrs", "targets")

    _NP_OK = (torch.float16, torch.float32, torch.float64)

    def __init__(self, compiled, ins, targets, n_scalars, scalar_dtype, device, out_bufs: dict,
                 key, old: UpdateBinding | None = None, extent: int | None = None):
        self.program = compiled
        self.ptrs = tuple(t.data_ptr() for t in ins) + tuple(t.data_ptr() for t in targets)
        if old is not None and old.program is compiled:     # new arrays: keep the scalars
            self.hp, self.hp_host, self.hp_np, self.event = old.hp, old.hp_host, old.hp_np, \
                old.event
        else:
            self.hp = torch.zeros(max(n_scalars, 1), dtype=scalar_dtype.torch, device=device)
            if device.type == "cpu":
                self.hp_host = None
                self.hp_np = self.hp.numpy()
            else:                               # device memory: staged through pinned memory
                self.hp_host = torch.zeros(max(n_scalars, 1),
                                           dtype=scalar_dtype.torch).pin_memory()
                self.hp_np = self.hp_host.numpy()
            self.event = None
        hp_views = [self.hp[i:i + 1] for i in range(n_scalars)]
        okey = (key, targets[0].numel() if targets else 0)    # one kernel serves many lengths
        outs = out_bufs.get(okey)
        if outs is None:
            outs = out_bufs[okey] = [torch.empty_like(t) for t in targets]
        inplace = compiled.program.inplace      # output j written into input i
        bind_outs = [ins[inplace[j]] if j in inplace else o for j, o in enumerate(outs)]
        pairs = [(t, o) for j, (t, o) in enumerate(zip(targets, outs)) if j not in inplace]
        self.outs = [o for _, o in pairs]
        self.targets = [t for t, _ in pairs]
        self.copies = None
        if device.type == "cpu" and all(t.dtype in self._NP_OK for t in self.targets):
            self.copies = [(t.numpy(), o.numpy()) for t, o in pairs]
        self.bound = compiled.executable.bind(ins + hp_views, bind_outs, extent)

    def run(self, values, moves=()):
        if self.hp_host is None:
            self.hp_np[:] = values
        else:
            if self.event is not None:
                self.event.synchronize()        # the previous copy has left the buffer
            self.hp_np[:] = values
            self.hp.copy_(self.hp_host, non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record()
        self.bound.run()
        for src, dst in moves:
            dst.copy_(src)
        if self.copies is not None:             # host memory: numpy's copy (one thread, no
            for t, o in self.copies:            # dispatch; torch's is slower on busy hosts)
                np.copyto(t, o)
        else:
            for t, o in zip(self.targets, self.outs):
                t.copy_(o)


def _aux_buffers(exe, c, n_out: int) -> list:
    """``[(aux NDArray, new-value buffer)]`` for the program outputs after the ``n_out``
    visible ones that carry new auxiliary-state values (``c.aux_updates`` names them)."""
    specs = [c.program.buffers[b] for b in c.program.outputs]
    return [(exe.aux_dict[name], torch.empty(tuple(spec.type.shape), dtype=spec.type.dtype.torch,
                                             device=exe._run_ctx.torch_device))
            for name, spec in zip(c.aux_updates, specs[n_out:])]


def _forward_mutated(symbol) -> set:
    """Names of the auxiliary states that operators mutate in forward (MXNet's FMutateInputs
    on optimizer updates)."""
    out = set()
    for node in symbol._nodes():
        if not node.is_var and node.opdef.extra.get("mutate_inputs"):
            out |= {src.name for src, _ in node.inputs if src.is_var}
    return out


def _pin_buffers(c, start: int, ctx, stop: int | None = None) -> list:
    """Storage for the program outputs ``start:stop`` that hold pinned values."""
    specs = [c.program.buffers[b] for b in c.program.outputs]
    stop = len(specs) if stop is None else stop
    return [torch.empty(tuple(sp.type.shape), dtype=sp.type.dtype.torch, device=ctx.torch_device)
            for sp in specs[start:stop]]


def _pinned_arrays(c, outs: list, ctx) -> dict:
    """``{(node, index, kind): NDArray}`` over the output storage of each pinned value."""
    return {(p.op, p.index, p.kind): NDArray.from_torch(outs[i], ctx)
            for p, i in c.pins.items() if i < len(outs)}


def _copy_into(dst: NDArray, src, name):
    if tuple(dst.shape) != tuple(src.shape):
        raise ShapeError(f"{name}: shape {tuple(src.shape)} does not match the bound "
                         f"{tuple(dst.shape)}")
    t = src.torch_tensor() if isinstance(src, NDArray) else torch.as_tensor(np.asarray(src))
    d = dst.torch_tensor()
    d.copy_(t.to(d.dtype))


def _norm_grad_req(grad_req, names):
    if isinstance(grad_req, str):
        req = {n: grad_req for n in names}
    elif isinstance(grad_req, (list, tuple)):
        if len(grad_req) != len(names):
            raise MXNetError(f"grad_req has {len(grad_req)} entries for {len(names)} arguments")
        req = dict(zip(names, grad_req))
    else:
        req = {n: "null" for n in names}
        for k, v in dict(grad_req).items():
            if k not in req:
                raise MXNetError(f"grad_req names {k!r}, which is not an argument"
                                 + _suggest(k, names))
            req[k] = v
    for k, v in req.items():
        if v not in ("write", "add", "null", "inplace"):
            raise MXNetError(f"grad_req[{k!r}]={v!r}; expected 'write', 'add' or 'null'")
    return req


def simple_bind(symbol, ctx=None, grad_req="write", type_dict=None, group2ctx=None,
                shared_exec=None, **shapes) -> Executor:
    """Infer shapes and dtypes from ``shapes``/``type_dict``, allocate arrays, bind."""
    from mxc.symbol.convert import check_input_shapes
    ctx = ctx or current_context()
    check_unique_inputs(symbol, "simple_bind")
    shapes = check_input_shapes(symbol, shapes, "simple_bind", bind=True)
    args = symbol.list_arguments()
    aux = symbol.list_auxiliary_states()
    arg_shapes, _, aux_shapes = symbol.infer_shape_partial(**shapes)
    unknown = [n for n, s in zip(args + aux, list(arg_shapes) + list(aux_shapes))
               if not s or 0 in s]
    if unknown:
        raise ShapeError(f"simple_bind: cannot infer the shapes of {unknown} from {shapes}; "
                         "give them as keyword arguments")
    types = {k: v for k, v in (type_dict or {}).items()}
    # partial: whatever the given types (and __dtype__ attributes) leave open is float32,
    # MXNet's default, without infer_type's "Cannot decide type" warning
    arg_types, _, aux_types = symbol.infer_type_partial(**types)
    arg_types = [t or np.float32 for t in arg_types]
    aux_types = [t or np.float32 for t in aux_types]
    req = _norm_grad_req(grad_req, args)
    check_sizes(symbol, "simple_bind", ctx,
                list(zip(args, arg_shapes, arg_types)) + list(zip(aux, aux_shapes, aux_types))
                + [(n, s, t) for n, s, t in zip(args, arg_shapes, arg_types)
                   if req[n] != "null"])
    shared = {}
    if shared_exec is not None:
        shared = {**shared_exec.arg_dict, **shared_exec.aux_dict}
    from .placement import norm_group2ctx, var_context
    group2ctx = norm_group2ctx(group2ctx, "simple_bind")
    where = {n.name: var_context(n, ctx, group2ctx, "simple_bind")
             for n in symbol._nodes() if n.is_var}

    def alloc(name, shape, dt):
        s = shared.get(name)
        if s is not None and tuple(s.shape) == tuple(shape) and s.dtype == np.dtype(dt) \
                and s.context == where[name]:
            return s
        return nd_zeros(shape, ctx=where[name], dtype=dt)

    arg_arrays = [alloc(n, s, t) for n, s, t in zip(args, arg_shapes, arg_types)]
    grad_arrays = [nd_zeros(s, ctx=where[n], dtype=t) if req[n] != "null" else None
                   for n, s, t in zip(args, arg_shapes, arg_types)]
    aux_arrays = [alloc(n, s, t) for n, s, t in zip(aux, aux_shapes, aux_types)]
    return Executor(symbol, ctx, arg_arrays, grad_arrays, req, aux_arrays, group2ctx=group2ctx)


def bind(symbol, ctx, args, args_grad=None, grad_req="write", aux_states=None,
         group2ctx=None, shared_exec=None, _outputs=None) -> Executor:
    """Bind ``symbol`` to the caller's arrays (lists in argument order, or dicts by name).
    ``_outputs`` (mxc's modules): the outputs' (shapes, dtypes), already inferred from these
    arrays."""
    ctx = ctx or current_context()
    check_unique_inputs(symbol, "bind")
    names = symbol.list_arguments()
    aux_names = symbol.list_auxiliary_states()

    def listify(x, nm, what, required=True):
        if x is None:
            if required and nm:
                raise MXNetError(f"bind: {what} not given; expected {nm}")
            return [None] * len(nm)
        if isinstance(x, dict):
            missing = [n for n in nm if n not in x]
            if missing and required:
                raise MXNetError(f"bind: {what} is missing {missing}")
            return [x.get(n) for n in nm]
        x = list(x)
        if len(x) != len(nm):
            raise MXNetError(f"bind: {len(x)} {what} for {len(nm)} names {nm}")
        return x

    arg_arrays = listify(args, names, "args")
    aux_arrays = listify(aux_states, aux_names, "aux_states")
    grad_arrays = listify(args_grad, names, "args_grad", required=False)
    req = _norm_grad_req(grad_req, names)
    for n, g in zip(names, grad_arrays):
        if g is None:
            req[n] = "null"
    for n, a in zip(names + aux_names, arg_arrays + aux_arrays):
        if not isinstance(a, NDArray):
            raise TypeError(f"bind: {n} must be an NDArray; got {type(a).__name__}")
    from .placement import check_bound_contexts, norm_group2ctx
    group2ctx = norm_group2ctx(group2ctx, "bind")
    if group2ctx is None:
        check_bound_contexts(names, arg_arrays, ctx, "argument", "bind")
        check_bound_contexts(names, grad_arrays, ctx, "gradient array of", "bind")
        check_bound_contexts(aux_names, aux_arrays, ctx, "auxiliary state", "bind")
    return Executor(symbol, ctx, arg_arrays, grad_arrays, req, aux_arrays, group2ctx=group2ctx,
                    outputs=_outputs)


# names MXNet's mxnet.executor module has (C-API helpers and handle types, from mxc.base)
from mxc import ndarray  # noqa: E402,F401
from mxc.base import (ExecutorHandle, NDArrayHandle, SymbolHandle, c_array_buf,  # noqa: E402,F401
                      c_handle_array, c_str_array, check_call, mx_int, mx_uint, py_str)

py_array = __import__("array").array
