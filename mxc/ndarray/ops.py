"""``mx.nd.<op>``: every registered operator as an eager NDArray function.

There is no second set of operator implementations: a call builds a one-op graph, compiles it
down the normal path (decompose, fuse, lower, LLVM or Triton) once per (operator, attributes,
input shapes and dtypes, device), caches it, and runs it on the arrays' storage. Outputs are new
arrays, or ``out=`` arrays written in place.
"""
from __future__ import annotations

import time

import torch

from ..base import MXNetError
from ..ir.core import Builder
from ..ir.registry import get_op
from ..ir.types import DType, TensorType
from ..memo import memo
from .ndarray import NDArray

__all__ = ["invoke", "make_function", "populate", "cache_info", "clear_cache"]

_MEMO = memo("nd-ops")                  # one compiled program per op, attrs, input types, device


def _freeze(v):
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    return v


def _target_for(device: torch.device) -> str:
    from ..codegen.backend import target_for_device
    return target_for_device(device.type, eager=True)


class _OneOp:
    """A compiled one-op program and the number of visible outputs."""

    def __init__(self, opname, attrs, in_types, device, name):
        from ..compile import compile_graph
        od = get_op(opname)
        b = Builder(od.name)
        names = od.list_inputs(attrs) if not od.variadic else \
            [f"arg{i}" for i in range(len(in_types))]
        ins = [b.input(n, t) for n, t in zip(names, in_types)]
        outs = b.op(od.name, ins, attrs, name, parsed=True)
        outs = list(outs) if isinstance(outs, tuple) else [outs]
        self.n_visible = od.num_visible(attrs)
        # operators that mutate inputs (MXNet's FMutateInputs: optimizer states) return the new
        # values through their aux_update rule; they are written back into those inputs
        mut = od.aux_update(b, b.ops[-1]) if od.extra.get("mutate_inputs") else []
        self.mutated = [p for p, _ in mut]
        g = b.build(outs[: self.n_visible] + [v for _, v in mut])
        self.compiled = compile_graph(g, _target_for(device))
        types = [v.type for v in g.outputs]
        self.out_types = types[: self.n_visible]
        self.mut_types = types[self.n_visible:]
        self.device = device


def _attr_device(attrs) -> torch.device:
    """The device of an operator without inputs: its ``ctx`` attribute (MXNet's samplers and
    creation operators, ``ctx='gpu(0)'``), else the CPU."""
    ctx = attrs.get("ctx") if isinstance(attrs, dict) else None
    if not ctx:
        return torch.device("cpu")
    from .ndarray import _as_ctx
    c = _as_ctx(ctx)
    c._require_available()
    return c.torch_device


def _get(opname, attrs, arrays, name):
    device = arrays[0]._t.device if arrays else _attr_device(attrs)
    in_types = [TensorType(tuple(a.shape), DType.parse(a._t.dtype)) for a in arrays]
    key = (opname, _freeze(attrs), tuple((t.shape, t.dtype) for t in in_types), str(device))
    return _MEMO.get(key, lambda: _OneOp(opname, attrs, in_types, device, name))


def cache_info() -> dict:
    return _MEMO.info()


def clear_cache():
    _MEMO.clear()


# set by runtime.profiler while it records imperative operators: fn(opname, t0_ns, t1_ns)
_profile_hook = None


def invoke(opname: str, inputs, attrs: dict | None = None, out=None, name: str | None = None):
    """Run operator ``opname`` on NDArrays; returns an NDArray, or a list for multi-output ops."""
    od = get_op(opname)
    raw = dict(attrs or {})
    if od.variadic and od.variadic not in raw:
        raw[od.variadic] = len(inputs)
    typed = od.parse_attrs({k: v for k, v in raw.items() if v is not None or
                            _optional(od, k)}, name or od.name)
    arrays = []
    for i, x in enumerate(inputs):
        if not isinstance(x, NDArray):
            raise TypeError(f"{od.name}: input {i} must be an NDArray; got {type(x).__name__}")
        arrays.append(x)
    devices = {a._t.device for a in arrays}
    if len(devices) > 1:
        raise MXNetError(f"{od.name}: inputs are on different devices "
                         f"({', '.join(str(a.context) for a in arrays)})")
    op = _get(od.name, typed, arrays, name)
    ctx = arrays[0].context if arrays else None
    if out is None:
        outs = [NDArray.from_torch(torch.empty(tuple(t.shape), dtype=t.dtype.torch,
                                               device=op.device), ctx)
                for t in op.out_types]
    else:
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        if len(outs) != len(op.out_types):
            raise MXNetError(f"{od.name}: out= has {len(outs)} arrays for "
                             f"{len(op.out_types)} outputs")
        for o, t in zip(outs, op.out_types):
            if tuple(o.shape) != tuple(t.shape):
                raise MXNetError(f"{od.name}: out= array has shape {tuple(o.shape)}; the "
                                 f"result has shape {tuple(t.shape)}")
    ins = [a._t for a in arrays]
    tgt = []
    for o, t in zip(outs, op.out_types):
        dt = t.dtype.torch
        tgt.append(o._t if o._t.dtype == dt and not _aliases(o._t, ins) else
                   torch.empty(tuple(t.shape), dtype=dt, device=op.device))
    mut = [torch.empty(tuple(t.shape), dtype=t.dtype.torch, device=op.device)
           for t in op.mut_types]
    tgt += mut
    if _profile_hook is None:
        op.compiled.executable.bind(ins, tgt).run()
    else:                               # mx.profiler records imperative calls
        t0 = time.perf_counter_ns()
        op.compiled.executable.bind(ins, tgt).run()
        if op.compiled.executable.device.type == "cuda":
            torch.cuda.synchronize()
        _profile_hook(od.name, t0, time.perf_counter_ns())
    for o, t in zip(outs, tgt):
        if t is not o._t:
            o._t.copy_(t)
    for p, t in zip(op.mutated, mut):      # mutated inputs (optimizer states), in place
        arrays[p]._t.copy_(t)
    if out is not None:
        return out
    return outs[0] if len(outs) == 1 else outs


def _is_attr_value(x) -> bool:
    """Scalars, strings, tuples of numbers: what can only be an attribute."""
    if isinstance(x, (bool, int, float, str)):
        return True
    return isinstance(x, tuple) and all(isinstance(v, (int, float, type(None))) for v in x)


def _optional(od, key):
    a = next((x for x in od.attrs if x.name == key), None)
    return a is not None and a.optional


def _aliases(t, ins):
    p = t.untyped_storage().data_ptr()
    return any(x.untyped_storage().data_ptr() == p for x in ins)


def make_function(called: str, hint: str | None = None):
    od = get_op(called)

    def fn(*args, out=None, name=None, **kwargs):
        # MXNet's generated signatures: inputs first, then attributes, positionally too
        named = {k: v for k, v in kwargs.items() if isinstance(v, NDArray)}
        params = {k: v for k, v in kwargs.items() if not isinstance(v, NDArray)}
        if od.variadic:
            for i, a in enumerate(args):
                if not isinstance(a, NDArray):
                    raise TypeError(f"{called}: input {i} must be an NDArray; got "
                                    f"{type(a).__name__}")
            return invoke(called, list(args) + list(named.values()), params, out=out,
                          name=name)
        # leading arrays are inputs, what follows them attributes (mx.nd.tile(x, (2, 1)));
        # the attributes decide how many inputs there are (num_args, no_bias ...)
        args = list(args)
        n_in = 0
        while n_in < len(args) and (isinstance(args[n_in], NDArray) or
                                    not _is_attr_value(args[n_in])):
            n_in += 1
        in_args, attr_args = args[:n_in], args[n_in:]
        if attr_args:
            free = [a.name for a in od.attrs if a.name not in params and a.name != "is_train"]
            if len(attr_args) > len(free):
                raise TypeError(f"{called}: too many positional arguments")
            params.update(zip(free, attr_args))
        probe = od.parse_attrs({k: v for k, v in params.items() if v is not None}, called)
        order = od.list_inputs(probe)
        free_inputs = [n for n in order if n not in named]
        while len(in_args) > len(free_inputs) and in_args[-1] is None:
            in_args.pop()           # an input the attributes dropped (bias=None, no_bias=True)
        if len(in_args) > len(free_inputs):
            raise TypeError(f"{called}: {len(in_args)} inputs given; the operator takes "
                            f"{len(order)} ({', '.join(order) or 'none'})")
        given = dict(named)
        for n, a in zip(free_inputs, in_args):
            if a is None:
                continue
            if not isinstance(a, NDArray):
                raise TypeError(f"{called}: input {n} must be an NDArray; got "
                                f"{type(a).__name__}")
            given[n] = a
        missing = [n for n in order if n not in given]
        if missing and given:
            raise MXNetError(f"{od.name}: missing inputs {missing}")
        return invoke(called, [given[n] for n in order if n in given], params, out=out,
                      name=name)

    fn.__name__ = hint or called
    fn.__qualname__ = hint or called
    fn.__doc__ = od.doc or f"{od.name} operator (eager)."
    return fn


def populate(namespace: dict, package: str):
    """``mx.nd``'s operator functions, laid out as ``mx.sym``'s."""
    from ..symbol.ops import populate as _populate
    from .cached_op import CachedOp
    _populate(namespace, package, make_function)
    namespace["CachedOp"] = CachedOp           # mx.nd.CachedOp, mx.nd.op.CachedOp (MXNet's)
    namespace["op"].CachedOp = CachedOp
