"""NDArray: MXNet's n-dimensional array, stored as one contiguous torch tensor.

This module is the storage half of ``mx.nd``: shape, dtype, context, copies, views, indexing,
numpy interop and pickling. Arithmetic and math methods are not here: they run as compiled
one-op graphs through the compiler (see DESIGN.md), and are attached to :class:`NDArray` by the
operator layer.

Storage contract (the compiler relies on it):

* ``arr._t`` is a contiguous torch tensor on ``arr._ctx.torch_device``; the compiler reads
  ``arr._t.data_ptr()`` and writes results into it in place. Code outside ``mxc/ndarray`` (the
  runtime) reaches it only through the public accessors :meth:`NDArray.torch_tensor`,
  :meth:`NDArray.from_torch` and :meth:`NDArray.adopt_storage`.
* Mutating methods (``__setitem__``, ``copyto`` into an array, ...) copy into ``_t``; they never
  rebind it, so views and compiled plans that captured the pointer stay valid.
* Views share memory with their base, as in MXNet: ``a[i]``, ``a[i:j]``, ``a.reshape(...)`` and
  basic indexing whose result is contiguous in memory (``a[1, :2]``). Other indexing copies.
"""
from __future__ import annotations

import operator
import warnings
from functools import reduce

import numpy as np
import torch

from ..base import DTypeError, ShapeError, UnsupportedError
from ..context import Context, current_context
from ..ir.types import DType

__all__ = ["NDArray"]

_INT_TYPES = (int, np.integer)
# MXNet's numpy stand-in for bfloat16 (numpy has none): ``NDArray.dtype`` of a bfloat16 array,
# and the dtype of its ``asnumpy()``, which holds the raw 16-bit patterns (as MXNet's does);
# ``astype('float32')`` gives the values
BFLOAT16 = np.dtype([("bfloat16", np.uint16)])
# torch has no gather/scatter kernels for these; they are moved bit-for-bit as their signed twins
_SIGNED_TWIN = {torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}


# --- helpers shared with creation.py and io.py -----------------------------------------------------
def _parse_dtype(dtype, default: DType = DType.f32) -> DType:
    """A user's dtype (``'float32'``, ``np.float32``, ``np.dtype('int8')``, ``None``) as a DType."""
    if dtype is None:
        return default
    if isinstance(dtype, np.dtype) and dtype == BFLOAT16:
        return DType.bf16
    return DType.parse(dtype)


def _ctx_of_device(device: torch.device) -> Context:
    return Context("gpu", device.index or 0) if device.type == "cuda" else Context("cpu", 0)


def _as_ctx(ctx) -> Context:
    """``None`` (the current context), a Context, or its string form ``'gpu(1)'`` / ``'cpu'``."""
    if ctx is None:
        return current_context()
    if isinstance(ctx, Context):
        return ctx
    if isinstance(ctx, str):
        s = ctx.strip()
        if s.endswith(")") and "(" in s:
            kind, _, num = s[:-1].partition("(")
            try:
                return Context(kind, int(num))
            except ValueError:
                pass
        else:
            return Context(s)
    raise TypeError(f"ctx must be a Context such as mx.cpu() or mx.gpu(0); got "
                    f"{type(ctx).__name__} {ctx!r}")


def _torch_from_numpy(a: np.ndarray) -> torch.Tensor:
    """A CPU tensor over ``a`` (``a`` itself when C-contiguous and writeable; 0-d stays 0-d)."""
    if not (a.flags.c_contiguous and a.flags.writeable):
        a = np.array(a, order="C")
    return torch.from_numpy(a)


def _is_int(x) -> bool:
    return isinstance(x, _INT_TYPES) and not isinstance(x, (bool, np.bool_))


def _bits(t: torch.Tensor) -> torch.Tensor:
    """``t`` reinterpreted as a dtype torch can gather and scatter (same bytes)."""
    twin = _SIGNED_TWIN.get(t.dtype)
    return t if twin is None else t.view(twin)


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.device == b.device and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _fit(v: torch.Tensor, shape: tuple, what: str) -> torch.Tensor:
    """Broadcast value ``v`` to ``shape`` as numpy assignment does (leading 1-dims dropped)."""
    shape = tuple(shape)
    src = tuple(v.shape)
    while v.dim() > len(shape) and v.shape[0] == 1:
        v = v[0]
    if tuple(v.shape) == shape:
        return v
    try:
        return v.expand(shape)
    except RuntimeError:
        raise ShapeError(f"{what}: cannot broadcast a value of shape {src} to the indexed shape "
                         f"{shape}") from None


def _scalar_tensor(value, dt: DType) -> torch.Tensor:
    """A 0-d tensor of dtype ``dt`` holding ``value``, converted as MXNet does (C casts: floats
    truncate toward zero, integers wrap)."""
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    with np.errstate(invalid="ignore", over="ignore"):
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"cannot convert {type(value).__name__} {value!r} to {dt.np_name}")
        arr = arr.astype(dt.numpy)
    return _torch_from_numpy(arr)


def _value_tensor(value, dt: DType, device: torch.device, what: str) -> torch.Tensor:
    """``value`` (scalar, NDArray, numpy array, list, torch tensor) as a tensor of dtype ``dt``
    on ``device``; the caller broadcasts it."""
    if isinstance(value, NDArray):
        t = value._t
    elif isinstance(value, torch.Tensor):
        t = value.detach()
    elif isinstance(value, (int, float, bool, complex, np.generic)):
        t = _scalar_tensor(value, dt)
    else:
        try:
            with np.errstate(invalid="ignore", over="ignore"):
                arr = np.asarray(value)
                if arr.dtype == object:
                    raise TypeError
                arr = arr.astype(dt.numpy)
        except (TypeError, ValueError):
            raise TypeError(f"{what}: cannot assign a non-array-like {type(value).__name__} "
                            f"{value!r}; expected a number, an NDArray, a numpy array or a "
                            "(nested) list") from None
        t = _torch_from_numpy(arr)
    if t.device != device:
        t = t.to(device)
    if t.dtype != dt.torch:
        t = t.to(dt.torch)
    return t


def _slice_len(s: slice, n: int) -> int:
    return len(range(*s.indices(n)))


# --- index normalisation -----------------------------------------------------------------------------
class _Adv:
    """An advanced (array) index entry: int64 numpy array, not yet bounds-checked."""

    __slots__ = ("a",)

    def __init__(self, a):
        self.a = a


def _index_entry(idx):
    """One entry of an indexing key as None, int, slice or _Adv (MXNet 1.x legacy rules)."""
    if idx is None or isinstance(idx, slice):
        if isinstance(idx, slice) and idx.step is not None and idx.step == 0:
            raise ValueError("slice step cannot be zero")
        return idx
    if isinstance(idx, (bool, np.bool_)):
        raise ValueError("NDArray does not support boolean indexing: MXNet 1.x only allows it "
                         "in numpy mode (npx.set_np()); use integer indices instead")
    if _is_int(idx):
        return int(idx)
    if isinstance(idx, NDArray):
        idx = idx._t
    if isinstance(idx, torch.Tensor):
        if idx.dtype == torch.bool:
            raise ValueError("NDArray does not support boolean (mask) indexing in MXNet 1.x "
                             "legacy mode; use integer indices instead")
        if idx.dim() == 0:
            return int(idx.item())
        return _Adv(idx.detach().cpu().to(torch.int64).numpy())
    if isinstance(idx, range):
        return _Adv(np.arange(idx.start, idx.stop, idx.step, dtype=np.int64))
    if isinstance(idx, (np.ndarray, list, tuple)):
        if isinstance(idx, tuple) and len(idx) == 0:
            raise ValueError("an empty tuple cannot be used inside an indexing key")
        try:
            a = np.asarray(idx)
        except ValueError:
            raise IndexError(f"index {idx!r} is not a rectangular array of integers") from None
        if a.dtype == np.bool_:
            raise ValueError("NDArray does not support boolean (mask) indexing in MXNet 1.x "
                             "legacy mode; use integer indices instead")
        if a.dtype.kind not in "iuf":
            raise IndexError(f"index arrays must hold integers; got dtype {a.dtype} in {idx!r}")
        return _Adv(a.astype(np.int64))
    raise ValueError(f"NDArray does not support slicing with key {idx!r} of type {type(idx)}.")


def _expand_key(key, shape: tuple) -> list:
    """The key as a list of None / int / slice / _Adv with one non-None entry per axis."""
    if not isinstance(key, tuple):
        key = (key,)
    out: list = []
    ell = None
    for idx in key:
        if idx is Ellipsis:
            if ell is not None:
                raise IndexError("an index can only have a single ellipsis ('...')")
            ell = len(out)
            continue
        out.append(_index_entry(idx))
    n_real = sum(e is not None for e in out)
    if n_real > len(shape):
        raise IndexError(f"too many indices ({n_real}) for array with {len(shape)} dimensions")
    fill = [slice(None)] * (len(shape) - n_real)
    if ell is None:
        out += fill
    else:
        out[ell:ell] = fill
    ax = 0
    for i, e in enumerate(out):     # bounds-check integers, normalise negatives
        if e is None:
            continue
        n = shape[ax]
        if isinstance(e, int):
            if not -n <= e < n:
                raise IndexError(f"index {e} is out of bounds for axis {ax} with size {n}")
            out[i] = e + n if e < 0 else e
        elif isinstance(e, _Adv):
            a = e.a
            bad = (a < -n) | (a >= n)
            if bad.any():
                raise IndexError(f"index {int(a[bad].flat[0])} is out of bounds for axis {ax} "
                                 f"with size {n}")
            e.a = np.where(a < 0, a + n, a)
        ax += 1
    return out


def _contiguous_flat(slcs: list, shape: tuple):
    """MXNet's rule for whether basic slicing ``slcs`` (one slice per axis) selects one contiguous
    run of memory; returns ``(flat_begin, flat_end)`` if so, else None."""
    lens = [_slice_len(s, n) for s, n in zip(slcs, shape)]
    total = reduce(operator.mul, lens, 1)
    if total > 1:
        subset = False
        for s, n, m in zip(reversed(slcs), reversed(shape), reversed(lens)):
            step = s.indices(n)[2]
            if m == 0:
                break
            if m > 1 and step != 1:
                return None
            if subset:
                if m > 1:
                    return None
            elif m < n:
                subset = True
    if total == 0:
        return 0, 0
    fb = fe = 0
    for s, n, m in zip(slcs, shape, lens):
        b = s.indices(n)[0]
        fb = fb * n + b
        fe = fe * n + b + m - 1
    return fb, fe + 1


def _flat_index(entries: list, shape: tuple) -> np.ndarray:
    """Flat element indices selected by ``entries`` (numpy indexing semantics: integers join the
    advanced block; a non-adjacent advanced block moves to the front), shaped like the result."""
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    items = []                                  # (kind, value, axis)
    ax = 0
    for e in entries:
        if e is None:
            items.append(("new", None, None))
        elif isinstance(e, slice):
            items.append(("slice", e, ax))
            ax += 1
        else:
            items.append(("adv", np.asarray(e.a if isinstance(e, _Adv) else e, np.int64), ax))
            ax += 1
    adv = [i for i, it in enumerate(items) if it[0] == "adv"]
    try:
        bshape = np.broadcast_shapes(*(items[i][1].shape for i in adv)) if adv else ()
    except ValueError:
        raise IndexError("shape mismatch: indexing arrays could not be broadcast together with "
                         f"shapes {' '.join(str(items[i][1].shape) for i in adv)}") from None
    block = ("block", None, None)
    if not adv:
        order = items
    elif adv == list(range(adv[0], adv[-1] + 1)):
        order = items[:adv[0]] + [block] + items[adv[-1] + 1:]
    else:
        order = [block] + [it for it in items if it[0] != "adv"]
    out_shape: list = []
    for kind, v, a in order:
        if kind == "block":
            out_shape += bshape
        elif kind == "new":
            out_shape.append(1)
        else:
            out_shape.append(_slice_len(v, shape[a]))
    r = len(out_shape)
    flat = np.zeros(out_shape, np.int64)
    pos = 0
    for kind, v, a in order:
        if kind == "block":
            for i in adv:
                arr = np.broadcast_to(items[i][1], bshape) * strides[items[i][2]]
                flat += arr.reshape((1,) * pos + tuple(bshape) + (1,) * (r - pos - len(bshape)))
            pos += len(bshape)
        elif kind == "new":
            pos += 1
        else:
            idx = np.arange(*v.indices(shape[a]), dtype=np.int64) * strides[a]
            flat += idx.reshape((1,) * pos + (idx.size,) + (1,) * (r - pos - 1))
            pos += 1
    return flat


class _ReshapeRC:
    """Error context for :func:`mxc.ir.opdefs.shape.mx_reshape` used by :meth:`NDArray.reshape`."""

    name = "NDArray.reshape"

    def shape_error(self, m):
        return ShapeError(f"NDArray.reshape: {m}")

    attr_error = shape_error


# --- the array ------------------------------------------------------------------------------------
class NDArray:
    """An n-dimensional array on a device (MXNet's ``mx.nd.NDArray``).

    Create arrays with :func:`mx.nd.array`, :func:`mx.nd.zeros` and friends; the constructor is
    for the runtime. ``NDArray(tensor, ctx)`` wraps a torch tensor: it shares its memory when the
    tensor is contiguous and on ``ctx``'s device, and copies it otherwise.
    """

    # numpy defers binary operators with an NDArray on the right to NDArray (as in MXNet)
    __array_priority__ = 1000.0

    def __init__(self, data: torch.Tensor, ctx: Context | None = None):
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"NDArray wraps a torch.Tensor; got {type(data).__name__}. Use "
                            "mx.nd.array(...) to create an array from data")
        if ctx is None:
            ctx = _ctx_of_device(data.device)
        elif not isinstance(ctx, Context):
            ctx = _as_ctx(ctx)
        if data.dtype not in _TORCH_DTYPES:
            raise DTypeError(f"NDArray cannot hold torch dtype {data.dtype}; expected one of "
                             f"{', '.join(d.np_name for d in _DTYPES)}")
        dev = ctx.torch_device
        if data.device != dev:
            ctx._require_available()
            data = data.to(dev)
        if data.requires_grad:
            data = data.detach()
        if not data.is_contiguous():
            data = data.contiguous()
        self._t = data
        self._ctx = ctx

    # -- torch storage: the public accessors (mxc extensions; not in MXNet's API) ---------------
    # The runtime (``runtime/``) reaches an array's storage only through these three.
    @classmethod
    def from_torch(cls, tensor: torch.Tensor, ctx: Context | None = None) -> NDArray:
        """Wrap a torch tensor as an NDArray (an mxc extension).

        The array shares ``tensor``'s memory when it is contiguous and already on ``ctx``'s
        device (default: the tensor's own device); otherwise it holds a contiguous copy there.
        A tensor that requires grad is detached. Same as ``NDArray(tensor, ctx)``."""
        return cls(tensor, ctx)

    # kept for mxc code written before the public name
    _from_torch = from_torch

    def torch_tensor(self) -> torch.Tensor:
        """The torch tensor holding this array's data (an mxc extension): no copy, no sync.

        It is contiguous, on ``self.context``'s device, with this array's shape and dtype.
        Writing into it in place (``copy_``, ``add_``, indexed assignment ...) writes the array,
        and every view sharing its memory; compiled plans capture its ``data_ptr()``, so do not
        resize it or change its dtype. For a copy use :meth:`asnumpy` or :meth:`copy`."""
        return self._t

    def adopt_storage(self, other: NDArray) -> None:
        """Make this array an alias of ``other``: the same torch tensor and context (an mxc
        extension).

        This *rebinds* storage, which the mutating methods never do: views of this array and
        compiled plans that captured its old tensor keep the old memory. It is meant for an
        array being constructed, e.g. one made by ``NDArray.__new__`` while unpickling, before
        anything has seen its storage. To overwrite the data instead, use ``other.copyto(self)``.
        """
        self._t, self._ctx = other._t, other._ctx

    # -- properties -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """Tuple of dimension sizes."""
        return tuple(self._t.shape)

    @property
    def dtype(self):
        """Element type as a numpy type class (``numpy.float32``), as MXNet returns it."""
        if self._t.dtype == torch.bfloat16:
            return BFLOAT16
        return _DTYPE_OF_TORCH[self._t.dtype].numpy.type

    @property
    def context(self) -> Context:
        """Device context of the array."""
        return self._ctx

    ctx = context

    @property
    def size(self) -> int:
        """Number of elements."""
        return self._t.numel()

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self._t.dim()

    @property
    def stype(self) -> str:
        """Storage type: always ``'default'`` (dense); mxc has no sparse arrays."""
        return "default"

    # -- conversion -----------------------------------------------------------------------------
    def asnumpy(self) -> np.ndarray:
        """A numpy copy of the array (blocks until pending writes are done)."""
        t = self._t.detach()
        if t.dtype == torch.bfloat16:       # the bit patterns, typed as MXNet types them
            return t.view(torch.int16).cpu().numpy().view(BFLOAT16).copy()
        if t.device.type == "cpu":
            return t.numpy().copy()
        return t.cpu().numpy()

    def asscalar(self):
        """The only element as a numpy scalar; the array must have exactly one element."""
        if self.size != 1:
            raise ValueError(f"The current array is not a scalar: it has shape {self.shape} "
                             f"({self.size} elements)")
        a = self.asnumpy()
        return a[0] if a.ndim == 1 else a.reshape(())[()]

    def __array__(self, dtype=None, copy=None):
        a = self.asnumpy()
        return a if dtype is None else a.astype(dtype, copy=False)

    def astype(self, dtype, copy: bool = True) -> NDArray:
        """A copy cast to ``dtype`` on the same context; ``self`` if ``copy=False`` and the
        dtype already matches."""
        dt = _parse_dtype(dtype)
        if not copy and dt.torch == self._t.dtype:
            return self
        return NDArray(self._t.to(dt.torch, copy=True), self._ctx)

    def copyto(self, other):
        """Copy into ``other``: an NDArray of the same shape (its dtype is kept: values are
        cast) or a Context (a new array there). Returns the destination."""
        if isinstance(other, NDArray):
            if other is self:
                warnings.warn("You are attempting to copy an array to itself", RuntimeWarning,
                              stacklevel=2)
                return False
            if other.shape != self.shape:
                raise ShapeError(f"copyto: the destination has shape {other.shape}; expected "
                                 f"{self.shape}, the shape of the source")
            src = self._t
            if _shares_memory(src, other._t):
                src = src.clone()
            other._t.copy_(src)
            return other
        if isinstance(other, Context):
            other._require_available()
            return NDArray(self._t.to(other.torch_device, copy=True), other)
        raise TypeError(f"copyto does not support type {type(other)}; expected an NDArray or "
                        "a Context")

    def copy(self) -> NDArray:
        """A copy on the same context."""
        return self.copyto(self._ctx)

    def as_in_context(self, context: Context) -> NDArray:
        """``self`` if it already lives on ``context``, else a copy there."""
        context = _as_ctx(context)
        if context == self._ctx:
            return self
        return self.copyto(context)

    as_in_ctx = as_in_context

    def reshape(self, *shape, **kwargs) -> NDArray:
        """A view with a new shape (shares memory). Accepts ``reshape(2, 3)``,
        ``reshape((2, 3))`` or ``reshape(shape=(2, 3))``, with MXNet's special values 0 (copy
        this dim), -1 (infer), -2 (copy the rest), -3 (merge two), -4 (split one), and
        ``reverse=True`` to match special values from the right."""
        bad = [k for k in kwargs if k not in ("shape", "reverse")]
        if bad:
            raise TypeError(f"Got unknown keywords in reshape: {', '.join(bad)}. Accepted "
                            "keyword arguments are 'shape' and 'reverse'.")
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        elif not shape:
            shape = kwargs.get("shape")
            if shape is None:
                raise TypeError("reshape() needs a shape: reshape(2, 3) or reshape(shape=(2, 3))")
            if _is_int(shape):
                shape = (shape,)
        if not all(_is_int(d) for d in shape):
            raise TypeError(f"reshape: shape must be integers; got {tuple(shape)!r}")
        from ..ir.opdefs.shape import mx_reshape
        new = mx_reshape(_ReshapeRC(), self.shape, tuple(int(d) for d in shape),
                         bool(kwargs.get("reverse", False)))
        return NDArray(self._t.view(new), self._ctx)

    # -- indexing -------------------------------------------------------------------------------
    def _at(self, idx: int) -> NDArray:
        """View of row ``idx`` of the first axis (a 1-D array gives shape ``(1,)``, as MXNet)."""
        n = self._t.shape[0]
        i = idx + n if idx < 0 else idx
        if not 0 <= i < n:
            raise IndexError(f"index {idx} is out of bounds for axis 0 with size {n}")
        t = self._t[i] if self._t.dim() > 1 else self._t[i:i + 1]
        return NDArray(t, self._ctx)

    def _slice(self, start, stop) -> NDArray:
        """View of rows ``start:stop`` of the first axis."""
        b, e, _ = slice(start, stop).indices(self._t.shape[0])
        return NDArray(self._t[b:max(b, e)], self._ctx)

    def __getitem__(self, key) -> NDArray:
        """``x[key]``: MXNet 1.x indexing.

        Integers, slices, ``None`` and ``...`` are basic indexing; the result is a view sharing
        memory when the selected elements are contiguous (``x[1]``, ``x[1:3]``, ``x[1, :2]``) and
        a copy otherwise (``x[:, 1]``, steps). Lists, numpy arrays and NDArrays of integers are
        advanced indexing (numpy rules) and always copy. Indexing every axis with an integer
        gives shape ``(1,)``, as MXNet does without numpy semantics.
        """
        shape = self.shape
        if not shape:
            if ((isinstance(key, tuple) and not key) or key is Ellipsis
                    or (isinstance(key, slice) and key == slice(None))):
                return self
            raise IndexError(f"too many indices for a 0-d NDArray: {key!r}; a scalar array "
                             "accepts only () and : as index")
        if isinstance(key, tuple) and not key:
            return self
        if _is_int(key):
            return self._at(int(key))
        if isinstance(key, slice) and (key.step is None or key.step == 1):
            if key.start is None and key.stop is None:
                return self
            return self._slice(key.start, key.stop)
        entries = _expand_key(key, shape)
        if any(isinstance(e, _Adv) for e in entries):
            return self._gather(entries)
        real = [e for e in entries if e is not None]
        slcs = [slice(e, e + 1) if isinstance(e, int) else e for e in real]
        out_shape = []
        ax = 0
        for e in entries:
            if e is None:
                out_shape.append(1)
                continue
            if not isinstance(e, int):
                out_shape.append(_slice_len(e, shape[ax]))
            ax += 1
        if not out_shape:
            out_shape = [1]
        run = _contiguous_flat(slcs, shape)
        if run is not None:
            return NDArray(self._t.view(-1)[run[0]:run[1]].view(out_shape), self._ctx)
        if all(s.indices(n)[2] > 0 for s, n in zip(slcs, shape)):
            t = self._t[tuple(slcs)].clone(memory_format=torch.contiguous_format)
            return NDArray(t.view(out_shape), self._ctx)
        return NDArray(self._gather(entries)._t.reshape(out_shape), self._ctx)

    def _gather(self, entries) -> NDArray:
        flat = _flat_index(entries, self.shape)
        idx = torch.from_numpy(flat).to(self._t.device)
        out = _bits(self._t).view(-1)[idx].view(self._t.dtype)
        return NDArray(out, self._ctx)

    def __setitem__(self, key, value):
        """``x[key] = value``: write into this array in place (views see the change).

        ``key`` follows :meth:`__getitem__`; ``value`` is a number, NDArray, numpy array or
        nested list, cast to this array's dtype and broadcast to the indexed shape.
        """
        what = f"NDArray[{key!r}] = ..."
        t = self._t
        if t.dim() == 0:
            if not (isinstance(key, slice) or key is Ellipsis
                    or (isinstance(key, tuple) and not key)):
                raise IndexError("scalar tensor can only accept `()` and `:` as index")
            self._assign(t, value, what)
            return
        if t.numel() == 0:
            return
        if isinstance(key, slice) and key == slice(None):
            self._assign(t, value, what)
            return
        entries = _expand_key(key, self.shape)
        has_adv = any(isinstance(e, _Adv) for e in entries)
        if not has_adv and all(e is None or isinstance(e, int) or e.indices(n)[2] > 0
                               for e, n in zip([e for e in entries if e is not None],
                                               self.shape)):
            self._assign(t[tuple(entries)], value, what)
            return
        flat = _flat_index(entries, self.shape)
        v = _fit(_value_tensor(value, _DTYPE_OF_TORCH[t.dtype], t.device, what),
                 flat.shape, what)
        if isinstance(value, NDArray) and _shares_memory(v, t):
            v = v.clone()
        idx = torch.from_numpy(flat.reshape(-1)).to(t.device)
        _bits(t).view(-1)[idx] = _bits(v.reshape(-1))

    def _assign(self, target: torch.Tensor, value, what: str) -> None:
        v = _value_tensor(value, _DTYPE_OF_TORCH[target.dtype], target.device, what)
        if _shares_memory(v, target):
            v = v.clone()
        target.copy_(_fit(v, tuple(target.shape), what))

    # -- python protocol ------------------------------------------------------------------------
    def __len__(self) -> int:
        """Length of the first axis."""
        if self._t.dim() == 0:
            raise TypeError("len() of a 0-d NDArray")
        return self._t.shape[0]

    def __iter__(self):
        """Iterate over the first axis (views, as ``x[i]``)."""
        for i in range(len(self)):
            yield self._at(i)

    def __bool__(self) -> bool:
        n = self.size
        if n == 0:
            return False
        if n == 1:
            return bool(self.asscalar())
        raise ValueError("The truth value of an NDArray with multiple elements is ambiguous.")

    __nonzero__ = __bool__

    def __hash__(self):
        return id(self) // 16

    def __repr__(self) -> str:
        shape_info = "x".join(str(d) for d in self.shape)
        return f"\n{self.asnumpy()}\n<{type(self).__name__} {shape_info} @{self._ctx}>"

    def __getstate__(self):
        return {"data": self.asnumpy(), "ctx": (self._ctx.device_type, self._ctx.device_id)}

    def __setstate__(self, state):
        if "handle" in state:       # a pickle written by MXNet itself (raw NDArray bytes)
            from .io import _load_raw
            self.adopt_storage(_load_raw(state["handle"]))
            return
        ctx = Context(*state["ctx"])
        t = _torch_from_numpy(np.asarray(state["data"]))
        if ctx.torch_device.type != "cpu":
            ctx._require_available()
            t = t.to(ctx.torch_device)
        self._t, self._ctx = t, ctx

    # -- arithmetic: compiled one-op graphs (mxc.ndarray.ops), as MXNet's operators ------------
    def _bin(self, other, array_op, scalar_op, out=None):
        from .ops import invoke
        if isinstance(other, NDArray):
            return invoke(array_op, [self, other], {}, out=out)
        if isinstance(other, (int, float, bool, np.number)):
            return invoke(scalar_op, [self], {"scalar": float(other)}, out=out)
        if isinstance(other, np.ndarray):
            from .creation import array
            return invoke(array_op, [self, array(other, ctx=self._ctx, dtype=self.dtype)], {},
                          out=out)
        return NotImplemented

    def _rbin(self, other, array_op, rscalar_op):
        """``other <op> self`` for a scalar or numpy ``other``."""
        from .ops import invoke
        if isinstance(other, (int, float, bool, np.number)):
            return invoke(rscalar_op, [self], {"scalar": float(other)})
        if isinstance(other, np.ndarray):
            from .creation import array
            return invoke(array_op, [array(other, ctx=self._ctx, dtype=self.dtype), self], {})
        return NotImplemented

    def __add__(self, o):
        return self._bin(o, "broadcast_add", "_plus_scalar")

    __radd__ = __add__

    def __iadd__(self, o):
        return self._bin(o, "broadcast_add", "_plus_scalar", out=self)

    def __sub__(self, o):
        return self._bin(o, "broadcast_sub", "_minus_scalar")

    def __rsub__(self, o):
        return self._rbin(o, "broadcast_sub", "_rminus_scalar")

    def __isub__(self, o):
        return self._bin(o, "broadcast_sub", "_minus_scalar", out=self)

    def __mul__(self, o):
        return self._bin(o, "broadcast_mul", "_mul_scalar")

    __rmul__ = __mul__

    def __imul__(self, o):
        return self._bin(o, "broadcast_mul", "_mul_scalar", out=self)

    def __truediv__(self, o):
        return self._bin(o, "broadcast_div", "_div_scalar")

    def __rtruediv__(self, o):
        return self._rbin(o, "broadcast_div", "_rdiv_scalar")

    def __itruediv__(self, o):
        return self._bin(o, "broadcast_div", "_div_scalar", out=self)

    __div__, __rdiv__, __idiv__ = __truediv__, __rtruediv__, __itruediv__

    def __mod__(self, o):
        return self._bin(o, "broadcast_mod", "_mod_scalar")

    def __rmod__(self, o):
        return self._rbin(o, "broadcast_mod", "_rmod_scalar")

    def __imod__(self, o):
        return self._bin(o, "broadcast_mod", "_mod_scalar", out=self)

    def __pow__(self, o):
        return self._bin(o, "broadcast_power", "_power_scalar")

    def __rpow__(self, o):
        return self._rbin(o, "broadcast_power", "_rpower_scalar")

    def __neg__(self):
        from .ops import invoke
        return invoke("_mul_scalar", [self], {"scalar": -1.0})

    def __abs__(self):
        from .ops import invoke
        return invoke("abs", [self], {})

    def __eq__(self, o):
        return self._bin(o, "broadcast_equal", "_equal_scalar")

    def __ne__(self, o):
        return self._bin(o, "broadcast_not_equal", "_not_equal_scalar")

    def __gt__(self, o):
        return self._bin(o, "broadcast_greater", "_greater_scalar")

    def __ge__(self, o):
        return self._bin(o, "broadcast_greater_equal", "_greater_equal_scalar")

    def __lt__(self, o):
        return self._bin(o, "broadcast_lesser", "_lesser_scalar")

    def __le__(self, o):
        return self._bin(o, "broadcast_lesser_equal", "_lesser_equal_scalar")

    __hash__ = __hash__   # defining __eq__ would otherwise drop it

    @property
    def T(self):
        from .ops import invoke
        return invoke("transpose", [self], {})

    def split_v2(self, *args, **kwargs):
        """``mx.nd.split_v2`` with this array first."""
        from .. import ndarray as _nd
        return _nd.split_v2(self, *args, **kwargs)

    def __getattr__(self, item):
        """Fluent methods: ``x.exp()``, ``x.sum(axis=1)``, ``x.softmax()`` ... are the operator
        functions of ``mx.nd`` with ``x`` as the first input."""
        if item.startswith("_"):
            raise AttributeError(item)
        from ..ir.registry import has_op
        if not has_op(item):
            raise AttributeError(f"'NDArray' object has no attribute {item!r}")
        from .ops import make_function
        fn = make_function(item)
        return lambda *a, **k: fn(self, *a, **k)

    def wait_to_read(self) -> None:
        """Block until pending writes to this array are done.

        mxc runs operators synchronously, so a CPU array is always ready (an operator's error
        was raised by the call that ran it). A GPU array's device is synchronised; if work
        queued there failed, :class:`mxc.engine.EngineError` is raised here."""
        if self._t.device.type == "cuda":
            from ..engine import wait_device
            wait_device(self._t.device, "wait_to_read")

    def wait_to_write(self) -> None:
        """Block until pending reads and writes of this array are done."""
        self.wait_to_read()


_DTYPES = list(DType)
_TORCH_DTYPES = {d.torch for d in _DTYPES}
_DTYPE_OF_TORCH = {d.torch: d for d in _DTYPES}
