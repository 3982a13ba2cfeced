"""Tensor types of the IR: a dtype and a shape, either of which may be partly unknown.

Before shape inference a Value's type may be partial (MXNet allows ``infer_shape_partial``): an
unknown dimension is ``None`` and an unknown rank is ``shape=None``. After the ``infer`` pass every
type in a graph is complete. Text form: ``f32[64,784]``, ``f32[64,?]``, ``f32[*]``, ``?[2,3]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..base import DTypeError, ShapeError, ShapeTypeError

__all__ = ["DType", "TensorType", "Shape", "shape_str", "numel", "dtype_of", "check_shape"]

Shape = tuple  # tuple[int | None, ...]


class DType(Enum):
    """Element types, with MXNet's type flags (``__dtype__`` attribute, .params files)."""

    # name = (short, numpy name, mxnet flag)
    f32 = ("f32", "float32", 0)
    f64 = ("f64", "float64", 1)
    f16 = ("f16", "float16", 2)
    u8 = ("u8", "uint8", 3)
    i32 = ("i32", "int32", 4)
    i8 = ("i8", "int8", 5)
    i64 = ("i64", "int64", 6)
    bool = ("bool", "bool", 7)
    i16 = ("i16", "int16", 8)
    u16 = ("u16", "uint16", 9)
    u32 = ("u32", "uint32", 10)
    u64 = ("u64", "uint64", 11)
    bf16 = ("bf16", "bfloat16", 12)

    def __init__(self, short, np_name, flag):
        self.short = short
        self.np_name = np_name
        self.flag = flag

    def __repr__(self):
        return f"DType.{self.short}"

    @property
    def is_float(self) -> bool:
        return self in (DType.f16, DType.f32, DType.f64, DType.bf16)

    @property
    def is_int(self) -> bool:
        return not self.is_float and self is not DType.bool

    @property
    def is_signed(self) -> bool:
        return self in (DType.i8, DType.i16, DType.i32, DType.i64) or self.is_float

    @property
    def itemsize(self) -> int:
        return _ITEMSIZE[self]

    @property
    def numpy(self) -> np.dtype:
        if self is DType.bf16:
            raise DTypeError("bfloat16 has no numpy dtype; use torch storage")
        return np.dtype(self.np_name)

    @property
    def torch(self):
        import torch
        return getattr(torch, self.np_name)

    @classmethod
    def from_flag(cls, flag: int) -> "DType":
        for d in cls:
            if d.flag == flag:
                return d
        raise DTypeError(f"unknown MXNet dtype flag {flag}")

    @classmethod
    def parse(cls, x) -> "DType":
        """Accept a DType, short name (``f32``), numpy name/dtype, numpy type, torch dtype."""
        if isinstance(x, DType):
            return x
        if isinstance(x, str):
            for d in cls:
                if x in (d.short, d.np_name):
                    return d
            raise DTypeError(f"unknown dtype {x!r}; expected one of "
                             f"{', '.join(d.np_name for d in cls)}")
        mod = type(x).__module__
        if mod == "torch":
            return cls.parse(str(x).removeprefix("torch."))
        try:
            return cls.parse(np.dtype(x).name)
        except TypeError as e:
            raise DTypeError(f"unknown dtype {x!r}") from e


_SHORT = {d.short: d for d in DType}


def dtype_of(x) -> DType:
    return DType.parse(x)


_ITEMSIZE = {DType.bool: 1, DType.u8: 1, DType.i8: 1, DType.f16: 2, DType.bf16: 2,
             DType.i16: 2, DType.u16: 2, DType.f32: 4, DType.i32: 4, DType.u32: 4,
             DType.f64: 8, DType.i64: 8, DType.u64: 8}


@dataclass(frozen=True, slots=True)
class TensorType:
    """A tensor type; ``shape=None`` is unknown rank, ``None`` dims are unknown sizes."""

    shape: tuple | None
    dtype: DType | None = DType.f32

    def __post_init__(self):
        if self.shape is not None and not isinstance(self.shape, tuple):
            object.__setattr__(self, "shape", tuple(self.shape))

    @property
    def known(self) -> bool:
        return self.dtype is not None and self.shape_known

    @property
    def shape_known(self) -> bool:
        return self.shape is not None and all(d is not None for d in self.shape)

    @property
    def ndim(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def numel(self) -> int:
        return numel(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize

    def with_dtype(self, dtype) -> "TensorType":
        return TensorType(self.shape, dtype)

    def __str__(self) -> str:
        dt = self.dtype.short if self.dtype is not None else "?"
        return f"{dt}[{shape_str(self.shape)}]"

    __repr__ = __str__


def shape_str(shape) -> str:
    if shape is None:
        return "*"
    return ",".join("?" if d is None else str(d) for d in shape)


def numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _is_dim(d) -> bool:
    return isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_))


def check_shape(shape, what: str, bind: bool = False, unknown: bool = True) -> tuple:
    """``shape`` (an int or a sequence of ints) as a tuple of Python ints, or an error that
    starts with ``what`` (``"simple_bind: input 'data'"``).

    The one place user-given shapes are checked (infer_shape, simple_bind, Module.bind,
    mx.compile, nd.zeros, ``mxc --shape``). Non-integer dimensions (``'a'``, ``4.5``, ``True``)
    raise :class:`ShapeTypeError` (a TypeError, as MXNet raises), negative ones
    :class:`ShapeError`. For inference (the default) ``0``, ``None`` and ``-1`` (as MXNet's
    infer_shape reads it) are unknown dimensions, returned as 0, None and None. With ``bind``
    (arrays are about to be allocated for a graph) every dimension must be >= 1: MXNet 1.x's 0
    means unknown, so the error says that. With ``unknown=False`` (an array's own shape, as in
    ``nd.zeros``) dimensions are ints >= 0.
    """
    if _is_dim(shape):
        shape = (shape,)
    if isinstance(shape, (str, bytes, dict, set)) or not hasattr(shape, "__iter__"):
        raise ShapeTypeError(f"{what}: a shape must be a tuple of ints; got "
                             f"{type(shape).__name__} {shape!r:.80}")
    dims = tuple(shape)
    infer = unknown and not bind
    for i, d in enumerate(dims):
        if d is None and infer:
            continue
        if not _is_dim(d):
            raise ShapeTypeError(f"{what}: shape {dims!r:.80} has {d!r:.40} "
                                 f"({type(d).__name__}) at axis {i}; dimensions must be ints")
        if d < (-1 if infer else 0):
            raise ShapeError(f"{what}: shape {dims} has a negative dimension {int(d)} at axis "
                             f"{i}; dimensions must be "
                             + (">= 1" if bind else ">= 0 (0 or -1 for an unknown one)" if infer
                                else ">= 0"))
    dims = tuple(None if d is None or d == -1 else int(d) for d in dims)
    if bind:
        zeros = [i for i, d in enumerate(dims) if d == 0]
        if zeros:
            raise ShapeError(f"{what}: shape {dims} has 0 at axis {zeros[0]}; in MXNet 1.x "
                             "shapes 0 means an unknown dimension, so it cannot be bound (a "
                             "zero-size batch is not supported); give every dimension's size")
    return dims
