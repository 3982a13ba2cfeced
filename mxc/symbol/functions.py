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
    return out
