"""``mx.nd.CachedOp``: a symbol called like a function on NDArrays (MXNet's imperative handle on
a graph, the machinery under Gluon's hybridized blocks).

``CachedOp(sym, flags=())(*arrays)`` takes one array per ``sym.list_inputs()`` (arguments and
auxiliary states, in that order of appearance) and returns the output (a list when the symbol
has several). The compiled program is made once per set of input shapes, dtypes and context
(mxc's compile cache shares it with executors of the same graph); each call copies the inputs
in and returns fresh output arrays, or writes ``out=``. mxc has no imperative autograd, so a
CachedOp runs inference (``is_train=False``); MXNet's ``flags`` (static_alloc, static_shape ...)
tune its memory manager and are accepted without effect.
"""
from __future__ import annotations

from ..base import MXNetError

__all__ = ["CachedOp"]


class CachedOp:
    """Cached operator handle: ``op = CachedOp(sym); outs = op(x, w, b)``."""

    __slots__ = ("_sym", "_flags", "_inputs", "_args", "_aux", "_exes")

    def __init__(self, sym, flags=()):
        from ..symbol import Symbol
        if not isinstance(sym, Symbol):
            raise TypeError(f"CachedOp: expected a Symbol; got {type(sym).__name__}")
        self._sym = sym
        self._flags = dict(flags)
        self._inputs = sym.list_inputs()
        self._args = set(sym.list_arguments())
        self._aux = set(sym.list_auxiliary_states())
        self._exes: dict = {}

    def __call__(self, *args, **kwargs):
        from .ndarray import NDArray
        out = kwargs.pop("out", None)
        kwargs.pop("default_ctx", None)
        if kwargs:
            raise TypeError("CachedOp.__call__ got unexpected keyword argument(s): "
                            + ", ".join(kwargs))
        if len(args) != len(self._inputs):
            raise MXNetError(f"CachedOp: the symbol takes {len(self._inputs)} inputs "
                             f"({', '.join(self._inputs)}); {len(args)} given")
        for n, a in zip(self._inputs, args):
            if not isinstance(a, NDArray):
                raise TypeError(f"CachedOp: input {n} must be an NDArray; got "
                                f"{type(a).__name__}")
        ctx = args[0].context if args else None
        key = tuple((tuple(a.shape), str(a.dtype), str(a.context)) for a in args)
        exe = self._exes.get(key)
        by_name = dict(zip(self._inputs, args))
        if exe is None:
            from ..context import current_context
            exe = self._sym.bind(ctx or current_context(),
                                 args={n: by_name[n].copy() for n in self._inputs
                                       if n in self._args},
                                 aux_states={n: by_name[n].copy() for n in self._inputs
                                             if n in self._aux},
                                 grad_req="null")
            self._exes[key] = exe
        else:
            for n, a in by_name.items():
                a.copyto(exe.arg_dict[n] if n in self._args else exe.aux_dict[n])
        outs = exe.forward(is_train=False)
        if out is not None:
            targets = [out] if isinstance(out, NDArray) else list(out)
            if len(targets) != len(outs):
                raise MXNetError(f"CachedOp: out= has {len(targets)} arrays; the symbol has "
                                 f"{len(outs)} outputs")
            for t, o in zip(targets, outs):
                o.copyto(t)
            return out
        res = [o.copy() for o in outs]
        return res[0] if len(res) == 1 else res
