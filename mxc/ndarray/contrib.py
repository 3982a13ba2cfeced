"""``mx.nd.contrib``'s Python functions (MXNet 1.9.1's python/mxnet/ndarray/contrib.py).

The ``_contrib_*`` operators join this module when ``mx.nd`` is populated, so the functions
here and the operators share one namespace.

- ``isinf`` / ``isfinite`` / ``isnan``: elementwise tests returning 1/0 in the input's dtype.
- ``rand_zipfian``: log-uniform (Zipfian) class samples and their expected counts.
- ``foreach``, ``while_loop``, ``cond``: control flow run as Python loops over NDArrays, as
  MXNet's imperative versions are (``mx.sym.contrib``'s raise UnsupportedError).
- ``boolean_mask``: the rows of ``data`` whose mask entry is nonzero (a data-dependent size:
  the count is read first, then the rows are gathered; no symbol version).
- The quantization and DGL graph operators raise UnsupportedError (the table in
  :mod:`mxc.symbol.contrib`).
"""
from __future__ import annotations

import math

import numpy as np

from ..symbol.contrib import UNSUPPORTED, unsupported_function

__all__ = [
    "boolean_mask",
    "cond",
    "foreach",
    "isfinite",
    "isinf",
    "isnan",
    "rand_zipfian",
    "while_loop",
]

for _n in UNSUPPORTED:
    globals()[_n] = unsupported_function("mx.nd.contrib", _n)
del _n


def _nd():
    from .. import ndarray
    return ndarray


def _is_float(data):
    return np.dtype(data.dtype).kind == "f"


def isinf(data):
    """1 where ``data`` is +inf or -inf, else 0 (in data's dtype)."""
    nd = _nd()
    if not _is_float(data):         # integers are never infinite
        return nd.zeros_like(data)
    return nd.abs(data) == math.inf


def isfinite(data):
    """1 where ``data`` is neither infinite nor NaN, else 0 (in data's dtype)."""
    nd = _nd()
    if not _is_float(data):         # integers are always finite
        return nd.ones_like(data)
    not_nan = data == data  # noqa: PLR0124  (NaN is the one value unequal to itself)
    not_inf = nd.abs(data) != math.inf
    return nd.logical_and(not_inf, not_nan)


def isnan(data):
    """1 where ``data`` is NaN, else 0 (in data's dtype)."""
    return data != data  # noqa: PLR0124  (NaN is the one value unequal to itself)


def rand_zipfian(true_classes, num_sampled, range_max, ctx=None):
    """Draw ``num_sampled`` classes from an approximately log-uniform (Zipfian) distribution
    over ``[0, range_max)``: ``P(class) = (log(class + 2) - log(class + 1)) /
    log(range_max + 1)``.

    Returns ``(sampled_classes (int64), expected_count_true (float64),
    expected_count_sampled (float64))``.
    """
    nd = _nd()
    from ..context import current_context
    ctx = ctx or current_context()
    log_range = math.log(range_max + 1)
    rand = nd.random.uniform(0, log_range, shape=(num_sampled,), dtype="float64", ctx=ctx)
    sampled = (nd.exp(rand) - 1).astype("int64") % range_max     # within [0, range_max)
    true = true_classes.as_in_context(ctx).astype("float64")
    count_true = nd.log((true + 2.0) / (true + 1.0)) / log_range * num_sampled
    s64 = sampled.astype("float64")
    count_sampled = nd.log((s64 + 2.0) / (s64 + 1.0)) / log_range * num_sampled
    return sampled, count_true, count_sampled


def boolean_mask(data, index, axis=0, out=None, name=None):
    """The slices ``data[i]`` (along axis 0) where ``index[i]`` is nonzero, in order; the
    output's first dimension is the number of nonzero mask entries (MXNet's
    ``_contrib_boolean_mask``, which supports ``axis=0`` only)."""
    from ..base import ShapeError, UnsupportedError
    nd = _nd()
    if axis != 0:
        raise UnsupportedError(f"boolean_mask: axis={axis} is not supported (MXNet 1.9.1 "
                               "masks axis 0 only)")
    if index.ndim != 1 or data.ndim < 1 or index.shape[0] != data.shape[0]:
        raise ShapeError(f"boolean_mask: data has shape {tuple(data.shape)} and index "
                         f"{tuple(index.shape)}; expected a vector index with data.shape[0] "
                         "entries")
    n = data.shape[0]
    keep = (index != 0).astype("float64")
    count = int(nd.sum(keep).asscalar())
    if count == 0:
        res = nd.zeros((0,) + tuple(data.shape[1:]), ctx=data.context, dtype=data.dtype)
    else:
        # kept positions first, each group in order: sort the keys i - n * keep
        key = nd.arange(n, dtype="float64", ctx=data.context) - keep * float(n)
        pos = nd.slice_axis(nd.argsort(key, is_ascend=True), axis=0, begin=0, end=count)
        res = nd.take(data, pos, axis=0)
    if out is not None:
        out[:] = res
        return out
    return res


# --- control flow ---------------------------------------------------------------------------------
def _flatten(args, what):
    nd = _nd()
    if isinstance(args, nd.NDArray):
        return [args], 0
    if not isinstance(args, (list, tuple)):
        raise TypeError(f"{what} must be an NDArray or a (nested) list of NDArrays; got "
                        f"{type(args).__name__}")
    flat, fmts = [], []
    for a in args:
        f, fmt = _flatten(a, what)
        flat.extend(f)
        fmts.append(fmt)
    return flat, fmts


def _regroup(args, fmt):
    if isinstance(fmt, int):
        if fmt == 0:
            return args[0], args[1:]
        return args[:fmt], args[fmt:]
    out = []
    for f in fmt:
        r, args = _regroup(args, f)
        out.append(r)
    return out, args


def _scalar(x, type_, what):
    if hasattr(x, "asscalar"):
        x = x.asscalar()
    try:
        return type_(x)
    except (TypeError, ValueError):
        raise ValueError(f"Cannot convert {what} to python {type_.__name__}") from None


def foreach(body, data, init_states):
    """Run ``body(data_slice, states) -> (outputs, new_states)`` over axis 0 of ``data`` (an
    NDArray or a list of them); returns ``(outputs stacked along a new axis 0, final
    states)``."""
    nd = _nd()
    _flatten(data, "foreach data")
    _flatten(init_states, "foreach init_states")
    single = isinstance(data, nd.NDArray)
    n = data.shape[0] if single else data[0].shape[0]
    states = init_states
    steps = []
    out_fmt = None
    for i in range(n):
        x = data[i] if single else [d[i] for d in data]
        outs, states = body(x, states)
        outs, out_fmt = _flatten(outs, "foreach output")
        steps.append(outs)
    stacked = [nd.stack(*items) for items in zip(*steps)]
    if out_fmt is not None:
        stacked, _ = _regroup(stacked, out_fmt)
    return stacked, states


def while_loop(cond, func, loop_vars, max_iterations=None):
    """While ``cond(*loop_vars)`` holds and fewer than ``max_iterations`` steps ran,
    ``func(*loop_vars) -> (step_output, new_loop_vars)``. Returns ``(step outputs stacked
    along axis 0 and padded to max_iterations rows, final loop_vars)``; the padding rows are
    uninitialised, as MXNet's."""
    nd = _nd()
    if max_iterations is None:
        raise ValueError("max_iterations should be specified")
    max_iterations = _scalar(max_iterations, int, "max_iteration")
    single = isinstance(loop_vars, nd.NDArray)
    loop_vars = [loop_vars] if single else list(loop_vars)
    if not loop_vars:
        raise ValueError("loop_vars should contain at least one element")

    def step(vars_):
        out, new = func(*vars_)
        out = [] if out is None else out
        new = [] if new is None else new
        new = [new] if isinstance(new, nd.NDArray) else list(new)
        if len(new) != len(vars_):
            raise ValueError("The length of loop_vars should be consistent during the loop")
        return out, new

    steps, out_fmt = [], None
    while len(steps) < max_iterations and _scalar(cond(*loop_vars), bool,
                                                  "Return value of cond"):
        out, loop_vars = step(loop_vars)
        out, out_fmt = _flatten(out, "while output")
        if steps and len(out) != len(steps[0]):
            raise ValueError("Number of elements in step_output should be the same in each "
                             "step")
        steps.append(out)
    stacked = []
    for items in zip(*steps):
        rows = [nd.expand_dims(x, axis=0) for x in items]
        if len(steps) != max_iterations:
            rows.append(nd.empty((max_iterations - len(steps),) + tuple(items[0].shape),
                                 ctx=items[0].context, dtype=items[0].dtype))
        stacked.append(nd.concat(*rows, dim=0))
    if out_fmt is not None:
        stacked, _ = _regroup(stacked, out_fmt)
    return stacked, (loop_vars[0] if single else loop_vars)


def cond(pred, then_func, else_func):
    """``then_func()`` if the scalar ``pred`` is true, else ``else_func()``."""
    if _scalar(pred, bool, "pred"):
        return then_func()
    return else_func()
