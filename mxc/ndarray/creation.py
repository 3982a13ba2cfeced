"""Array creation: ``mx.nd.array``, ``zeros``, ``ones``, ``empty``, ``full``, ``arange``.

Names, argument orders and defaults are MXNet 1.x's: ``dtype`` defaults to float32 (for
``array``, to the source's dtype when the source is an NDArray), ``ctx`` to the current context
(``with mx.gpu(0): ...``), and ``shape`` may be an int or a tuple.
"""
from __future__ import annotations

import functools
import math
import os

import numpy as np
import torch

from ..base import AllocationError, AttrError, ShapeError, UnsupportedError
from ..ir.types import DType, check_shape
from .ndarray import NDArray, _as_ctx, _is_int, _parse_dtype, _torch_from_numpy

__all__ = ["arange", "array", "empty", "full", "ones", "zeros"]


def _shape_arg(shape, fn: str) -> tuple:
    """``shape`` (an int or a sequence of ints) as a tuple of non-negative ints."""
    return check_shape(shape, f"{fn}: argument 'shape'", unknown=False)


def _fmt_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def device_memory(ctx) -> int | None:
    """Total bytes of memory of ``ctx``'s device (physical RAM for the CPU); None if unknown."""
    return _device_memory(ctx.device_type == "gpu", ctx.device_id)


@functools.lru_cache(maxsize=None)
def _device_memory(gpu: bool, device_id: int) -> int | None:
    try:
        if gpu:
            return int(torch.cuda.get_device_properties(device_id).total_memory)
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, RuntimeError, AttributeError, AssertionError):
        return None


def nbytes_of(shape, dtype) -> int:
    n = DType.parse(dtype).itemsize
    for d in shape:
        n *= int(d)
    return n


def check_alloc(shape, dtype, ctx, what: str) -> int:
    """The bytes an array of ``shape`` and ``dtype`` needs on ``ctx``; raises
    :class:`AllocationError` (naming ``what``, the shape and the device) when that is more than
    the device has, before anything is allocated. Binding uses it with the operator and
    argument as ``what``; array creation with the function's name."""
    dt = DType.parse(dtype)
    n = nbytes_of(shape, dt)
    limit = device_memory(ctx)
    if limit is not None and n > limit:
        raise AllocationError(f"{what}: shape {tuple(shape)} {dt.np_name} needs "
                              f"{_fmt_bytes(n)}, more than the {_fmt_bytes(limit)} of memory "
                              f"of {ctx}")
    return n


def _alloc(shape: tuple, ctx, dt: DType, fill=None, fn: str = "allocate") -> NDArray:
    ctx._require_available()
    check_alloc(shape, dt, ctx, fn)
    dev = ctx.torch_device
    if fill is None:
        t = torch.empty(shape, dtype=dt.torch, device=dev)
    elif fill == 0:
        t = torch.zeros(shape, dtype=dt.torch, device=dev)
    else:
        t = torch.ones(shape, dtype=dt.torch, device=dev)
    return NDArray(t, ctx)


def _check_extra(fn: str, stype, kwargs) -> None:
    if stype not in (None, "default"):
        raise UnsupportedError(f"{fn}: mxc does not support sparse storage (stype={stype!r}) yet; "
                               "use the default dense storage")
    if kwargs:
        raise TypeError(f"{fn}() got unexpected keyword arguments: {', '.join(kwargs)}")


def _into_out(fn: str, res: NDArray, out) -> NDArray:
    if out is None:
        return res
    if not isinstance(out, NDArray):
        raise TypeError(f"{fn}: out must be an NDArray; got {type(out).__name__}")
    if out.shape != res.shape:
        raise ShapeError(f"{fn}: out has shape {out.shape}; expected {res.shape}")
    out._t.copy_(res._t)
    return out


def empty(shape, ctx=None, dtype=None, stype=None) -> NDArray:
    """A new array of ``shape`` with uninitialised contents.

    Parameters
    ----------
    shape : int or tuple of int
    ctx : Context, optional
        Device (default: the current context).
    dtype : str or numpy dtype, optional
        Element type (default ``float32``).
    """
    _check_extra("empty", stype, {})
    return _alloc(_shape_arg(shape, "empty"), _as_ctx(ctx), _parse_dtype(dtype), fn="empty")


def zeros(shape, ctx=None, dtype=None, stype=None, out=None, **kwargs) -> NDArray:
    """A new array of ``shape`` filled with zeros (``dtype`` default ``float32``); with
    ``out=``, fills ``out`` instead and returns it."""
    _check_extra("zeros", stype, kwargs)
    res = _alloc(_shape_arg(shape, "zeros"), _as_ctx(ctx), _parse_dtype(dtype), fill=0,
                 fn="zeros")
    return _into_out("zeros", res, out)


def ones(shape, ctx=None, dtype=None, stype=None, out=None, **kwargs) -> NDArray:
    """A new array of ``shape`` filled with ones (``dtype`` default ``float32``); with
    ``out=``, fills ``out`` instead and returns it."""
    _check_extra("ones", stype, kwargs)
    res = _alloc(_shape_arg(shape, "ones"), _as_ctx(ctx), _parse_dtype(dtype), fill=1,
                 fn="ones")
    return _into_out("ones", res, out)


def full(shape, val, ctx=None, dtype="float32", out=None) -> NDArray:
    """A new array of ``shape`` filled with ``val``, cast to ``dtype`` (default ``float32``);
    with ``out=``, fills ``out`` instead and returns it."""
    if out is None:
        out = empty(shape, ctx, dtype)
    elif not isinstance(out, NDArray):
        raise TypeError(f"full: out must be an NDArray; got {type(out).__name__}")
    out[:] = val
    return out


def array(source_array, ctx=None, dtype=None) -> NDArray:
    """A new array holding a copy of ``source_array``.

    Parameters
    ----------
    source_array : array_like
        An NDArray, numpy array, torch tensor, number or (nested) sequence.
    ctx : Context, optional
        Device (default: the current context).
    dtype : str or numpy dtype, optional
        Element type. Default: the source's dtype if it is an NDArray, else ``float32`` (as in
        MXNet: ``mx.nd.array(np.arange(3))`` is float32, not int64).
    """
    ctx = _as_ctx(ctx)
    if isinstance(source_array, NDArray):
        dt = _parse_dtype(dtype, DType.parse(source_array._t.dtype))
        src = source_array._t
    elif isinstance(source_array, torch.Tensor):
        dt = _parse_dtype(dtype)
        src = source_array.detach()
    else:
        dt = _parse_dtype(dtype)
        try:
            with np.errstate(invalid="ignore", over="ignore"):
                a = np.asarray(source_array)
                if a.dtype == object:
                    raise TypeError
                # always a fresh copy: never alias the caller's data (bfloat16, which numpy
                # lacks, is rounded from float32 by torch)
                a = a.astype(np.float32 if dt is DType.bf16 else dt.numpy)
        except (TypeError, ValueError):
            raise TypeError(f"source_array must be array like object; got "
                            f"{type(source_array).__name__} {source_array!r:.80}") from None
        src = _torch_from_numpy(a)
        ctx._require_available()
        return NDArray(src.to(ctx.torch_device, dtype=dt.torch), ctx)
    ctx._require_available()
    t = src.to(device=ctx.torch_device, dtype=dt.torch, copy=True)
    return NDArray(t.contiguous(), ctx)


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None,
           dtype="float32") -> NDArray:
    """Evenly spaced values in ``[start, stop)``, each repeated ``repeat`` times.

    ``arange(5)`` is ``[0, 1, 2, 3, 4]``; ``arange(2, 6, step=1.5, repeat=2)`` is
    ``[2, 2, 3.5, 3.5, 5, 5]``. The length is ``ceil((stop - start) / step) * repeat``; element
    ``i`` is ``start + (i // repeat) * step`` computed in ``dtype`` (for integer dtypes ``start``
    and ``step`` are truncated first, as MXNet does).
    """
    if infer_range is not None:
        import warnings
        warnings.warn("`infer_range` argument has been deprecated", DeprecationWarning,
                      stacklevel=2)
    if stop is None:
        start, stop = 0, start
    try:
        start, stop, step = float(start), float(stop), float(step)
    except (TypeError, ValueError):
        raise TypeError(f"arange: start, stop and step must be numbers; got "
                        f"({start!r}, {stop!r}, {step!r})") from None
    fmt = f"(start, stop, step) = ({start:g}, {stop:g}, {step:g})"
    if step == 0:
        raise AttrError(f"arange: invalid range {fmt}: step must not be 0")
    if step > 0 and not start < stop:
        raise AttrError(f"arange: invalid range {fmt}: with step > 0, start must be < stop")
    if step < 0 and not start > stop:
        raise AttrError(f"arange: invalid range {fmt}: with step < 0, start must be > stop")
    if not _is_int(repeat) or repeat < 1:
        raise AttrError(f"arange: repeat must be a positive integer; got {repeat!r}")
    ctx = _as_ctx(ctx)
    dt = _parse_dtype(dtype)
    n = math.ceil((stop - start) / step) * int(repeat)
    ctx._require_available()
    dev = ctx.torch_device
    k = torch.arange(n, device=dev) // int(repeat)
    if dt.is_float:
        # f32/f64: one multiply and one add in dtype (MXNet's kernel); f16: in float32, rounded
        # once (MXNet 1.9.1 returns zeros for non-integer float16 ranges; we return the values)
        wt = torch.float32 if dt is DType.f16 else dt.torch
        s = torch.tensor(start, dtype=dt.torch).to(wt)
        d = torch.tensor(step, dtype=dt.torch).to(wt)
        t = (k.to(wt) * d + s).to(dt.torch)
    else:
        t = (k * int(step) + int(start)).to(dt.torch)
    return NDArray(t, ctx)
