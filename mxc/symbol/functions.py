"""Python-level functions of MXNet's frontends that are not operators themselves.

``mx.sym.maximum/minimum/hypot/pow/power`` (mxnet.symbol.symbol): two symbols give the
same-shape op (``_Maximum``, no broadcasting), a symbol and a number the scalar op
(``_MaximumScalar``; for ``pow`` a number base gives ``_RPowerScalar``), two numbers a number.
``mx.nd.maximum/...`` (mxnet.ndarray.ndarray) are the same but broadcast two arrays
(``broadcast_maximum``).
"""
from __future__ import annotations

from numbers import Number

import numpy as np

__all__ = ["binary_functions"]

# name: (op for two tensors (symbol), op for two tensors (ndarray), scalar op, reversed scalar
#        op, the function on two numbers)
_TABLE = {
    "maximum": ("_Maximum", "broadcast_maximum", "_MaximumScalar", "_MaximumScalar", max),
    "minimum": ("_Minimum", "broadcast_minimum", "_MinimumScalar", "_MinimumScalar", min),
    "hypot": ("_Hypot", "broadcast_hypot", "_HypotScalar", "_HypotScalar",
              lambda a, b: float(np.hypot(a, b))),
    "pow": ("_Power", "broadcast_power", "_PowerScalar", "_RPowerScalar", lambda a, b: a ** b),
}


def binary_functions(kind: str) -> dict:
    """The functions for ``kind`` ``"symbol"`` or ``"ndarray"``: maximum, minimum, hypot,
    pow and its alias power."""
    if kind == "symbol":
        from .ops import make_function
        from .symbol import Symbol as T
        pos = 0
    else:
        from ..ndarray.ndarray import NDArray as T
        from ..ndarray.ops import make_function
        pos = 1
    out = {}
    for name, row in _TABLE.items():
        tensors, scalar, rscalar, numbers = row[pos], row[2], row[3], row[4]

        def fn(left, right, _t=tensors, _s=scalar, _r=rscalar, _n=numbers):
            if isinstance(left, T) and isinstance(right, T):
                return make_function(_t)(left, right)
            if isinstance(left, T) and isinstance(right, Number):
                return make_function(_s)(left, scalar=right)
            if isinstance(left, Number) and isinstance(right, T):
                return make_function(_r)(right, scalar=left)
            if isinstance(left, Number) and isinstance(right, Number):
                return _n(left, right)
            raise TypeError(f"{name}: types ({type(left).__name__}, {type(right).__name__}) "
                            "not supported")
        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = f"Elementwise {name} of tensors or numbers (MXNet's Python function)."
        out[name] = fn
    out["power"] = out["pow"]
    out.update(_more_functions(kind, make_function, T))
    return out


# mx.nd's ufunc helpers (mxnet.ndarray.ndarray: add, subtract ...): name: (broadcasting op,
# scalar op, reversed scalar op (None: commutative), the function on two numbers)
_ND_UFUNCS = {
    "add": ("broadcast_add", "_plus_scalar", None, lambda a, b: a + b),
    "subtract": ("broadcast_sub", "_minus_scalar", "_rminus_scalar", lambda a, b: a - b),
    "multiply": ("broadcast_mul", "_mul_scalar", None, lambda a, b: a * b),
    "divide": ("broadcast_div", "_div_scalar", "_rdiv_scalar", lambda a, b: a / b),
    "modulo": ("broadcast_mod", "_mod_scalar", "_rmod_scalar", lambda a, b: a % b),
    "equal": ("broadcast_equal", "_equal_scalar", None, lambda a, b: 1 if a == b else 0),
    "not_equal": ("broadcast_not_equal", "_not_equal_scalar", None,
                  lambda a, b: 1 if a != b else 0),
    "greater": ("broadcast_greater", "_greater_scalar", "_lesser_scalar",
                lambda a, b: 1 if a > b else 0),
    "greater_equal": ("broadcast_greater_equal", "_greater_equal_scalar",
                      "_lesser_equal_scalar", lambda a, b: 1 if a >= b else 0),
    "lesser": ("broadcast_lesser", "_lesser_scalar", "_greater_scalar",
               lambda a, b: 1 if a < b else 0),
    "lesser_equal": ("broadcast_lesser_equal", "_lesser_equal_scalar", "_greater_equal_scalar",
                     lambda a, b: 1 if a <= b else 0),
    "logical_and": ("broadcast_logical_and", "_logical_and_scalar", None,
                    lambda a, b: 1 if a and b else 0),
    "logical_or": ("broadcast_logical_or", "_logical_or_scalar", None,
                   lambda a, b: 1 if a or b else 0),
    "logical_xor": ("broadcast_logical_xor", "_logical_xor_scalar", None,
                    lambda a, b: 1 if bool(a) != bool(b) else 0),
}


def _more_functions(kind: str, make_function, T) -> dict:
    """``eye``, ``linspace`` and ``split_v2`` (both frontends) and, for ``mx.nd``, the ufunc
    helpers."""
    out = {}
    if kind == "ndarray":
        for name, (bc, sc, rsc, numbers) in _ND_UFUNCS.items():
            def uf(lhs, rhs, _b=bc, _s=sc, _r=rsc, _n=numbers, _name=name):
                if isinstance(lhs, Number) and isinstance(rhs, Number):
                    return _n(lhs, rhs)
                if isinstance(lhs, T) and isinstance(rhs, Number):
                    return make_function(_s)(lhs, scalar=float(rhs))
                if isinstance(lhs, Number) and isinstance(rhs, T):
                    return make_function(_r or _s)(rhs, scalar=float(lhs))
                if isinstance(lhs, T) and isinstance(rhs, T):
                    return make_function(_b)(lhs, rhs)
                raise TypeError(f"{_name}: types ({type(lhs).__name__}, "
                                f"{type(rhs).__name__}) not supported")
            uf.__name__ = uf.__qualname__ = name
            uf.__doc__ = (f"``{name}`` of two arrays (broadcasting, {bc}), an array and a "
                          "number, or two numbers (MXNet's mx.nd ufunc helper).")
            out[name] = uf
        out["true_divide"] = out["divide"]

        def moveaxis(tensor, source, destination):
            """Move axes ``source`` to positions ``destination`` (a transpose)."""
            nd = len(tensor.shape)
            src = (source,) if isinstance(source, int) else tuple(source)
            dst = (destination,) if isinstance(destination, int) else tuple(destination)
            if len(src) != len(dst):
                raise ValueError("`source` and `destination` arguments must have the same "
                                 "number of elements")
            for what, axes in (("source", src), ("destination", dst)):
                if any(not -nd <= a < nd for a in axes):
                    raise ValueError(f"moveaxis: {what}={axes} is out of range for a {nd}-d "
                                     "array")
            src = tuple(a % nd for a in src)
            dst = tuple(a % nd for a in dst)
            order = [n for n in range(nd) if n not in src]
            for d, s in sorted(zip(dst, src)):
                order.insert(d, s)
            return make_function("transpose")(tensor, axes=tuple(order))

        def concatenate(arrays, axis=0, always_copy=True):
            """Join a list of arrays along ``axis`` (an existing one)."""
            from ..base import ShapeError
            if not isinstance(arrays, list) or not arrays or not isinstance(arrays[0], T):
                raise TypeError("concatenate: expected a non-empty list of NDArrays")
            if not always_copy and len(arrays) == 1:
                return arrays[0]
            a0 = arrays[0]
            for arr in arrays[1:]:
                if (arr.shape[:axis] != a0.shape[:axis] or
                        arr.shape[axis + 1:] != a0.shape[axis + 1:] or arr.dtype != a0.dtype):
                    raise ShapeError(f"concatenate: array {arr.shape} {arr.dtype} does not "
                                     f"match {a0.shape} {a0.dtype} outside axis {axis}")
            return make_function("Concat")(*arrays, num_args=len(arrays), dim=axis)

        def onehot_encode(indices, out):
            """Write the one-hot encoding of ``indices`` into ``out`` (N, depth) and return it
            (MXNet's legacy helper)."""
            out[:] = make_function("one_hot")(indices, depth=out.shape[1], dtype=out.dtype)
            return out

        out["moveaxis"] = moveaxis
        out["concatenate"] = concatenate
        out["onehot_encode"] = onehot_encode

    def eye(N, M=0, k=0, dtype=None, **kwargs):
        """A 2-d array with ones on the ``k``-th diagonal (operator ``_eye``)."""
        attrs = {"N": N, "M": M, "k": k, "dtype": dtype or "float32"}
        ctx = kwargs.pop("ctx", None)
        if kind == "ndarray" and ctx is not None:
            kwargs["ctx"] = ctx
        return make_function("_eye")(**attrs, **kwargs)

    def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False):
        """Split ``ary`` along ``axis`` into equal sections (an int) or at the given indices (a
        tuple), as MXNet's split_v2 (operator ``_split_v2``)."""
        from ..base import AttrError
        if isinstance(indices_or_sections, int):
            size = ary.shape[axis] if kind == "ndarray" else None
            if size is not None and size % indices_or_sections:
                raise AttrError(f"split_v2: axis {axis} of length {size} does not split into "
                                f"{indices_or_sections} equal sections")
            attrs = {"sections": indices_or_sections}
        elif isinstance(indices_or_sections, tuple):
            attrs = {"indices": (0,) + tuple(indices_or_sections)}
        else:
            raise ValueError(  # noqa: TRY004  (MXNet's exception)
                "indices_or_sections must either int or tuple of ints")
        return make_function("_split_v2")(ary, axis=axis, squeeze_axis=squeeze_axis, **attrs)

    def linspace(start, stop, num, endpoint=True, ctx=None, dtype=None, name=None):
        """``num`` evenly spaced samples from ``start`` to ``stop`` (operator ``_linspace``)."""
        attrs = {"start": start, "stop": stop, "num": num, "endpoint": endpoint,
                 "dtype": dtype or "float32"}
        if kind == "ndarray":
            return make_function("_linspace")(**attrs, **({"ctx": ctx} if ctx else {}))
        return make_function("_linspace")(**attrs, **({"name": name} if name else {}))

    out["eye"] = eye
    out["split_v2"] = split_v2
    out["linspace"] = linspace
    return out
