"""``mx.nd.save`` / ``mx.nd.load``: MXNet's binary NDArray list format (``.params`` files).

Layout (little-endian), as MXNet 1.9.1 writes it (``NDArray::Save`` in src/ndarray/ndarray.cc)::

    uint64 0x112                 list magic
    uint64 0                     reserved
    uint64 N                     array count
    N x array                    see below
    uint64 K                     name count: 0 (a list) or N (a dict)
    K x (uint64 length, bytes)   names, UTF-8 (``arg:fc1_weight``, ``aux:bn_moving_mean``)

One array, format V2 (what :func:`save` writes; MXNet 1.x's default)::

    uint32 0xF993FAC9            V2 magic
    int32  storage type          0 dense ('default'), 1 row_sparse, 2 csr
    int32  ndim, ndim x int64    shape
    int32  dev_type, int32 id    context the array was saved from (1 cpu, 2 gpu, 3 cpu_pinned)
    int32  dtype flag            0 f32, 1 f64, 2 f16, 3 u8, 4 i32, 5 i8, 6 i64, 7 bool, ...
    raw data                     prod(shape) x itemsize bytes, C order

The reader also takes V3 (0xF993FACA: the same layout, written by MXNet under numpy shape
semantics, where ndim 0 is a scalar and dims may be 0), V1 (0xF993FAC8: no storage type) and the
pre-V1 layout (the first uint32 is ndim, then ndim x uint32 dims, then context, dtype, data).
Loaded arrays go to ``cpu(0)``, or to ``gpu(i)`` when they were saved from one and it exists here
(as MXNet does). Sparse arrays raise :class:`~mxc.base.UnsupportedError`; anything malformed raises
:class:`~mxc.base.FormatError` naming the file and byte offset, before any large allocation.
"""
from __future__ import annotations

import io
import os
import struct
import sys

import numpy as np
import torch

from ..base import DTypeError, FormatError, UnsupportedError, atomic_write
from ..context import Context
from ..ir.types import DType
from .ndarray import NDArray

__all__ = ["load", "load_frombuffer", "save"]

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
_STYPE_NAMES = {0: "default", 1: "row_sparse", 2: "csr"}
_DEV_TYPES = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
_LEGACY_MAX_NDIM = 64   # a pre-V1 ndim above this is garbage, not a shape
_REMOTE = ("s3://", "hdfs://", "http://", "https://", "azure://")


# --- writing ----------------------------------------------------------------------------------------
def _collect(data):
    """``(arrays, names)`` from save's ``data`` argument, with MXNet's type rules."""
    if isinstance(data, NDArray):
        return [data], []
    if isinstance(data, dict):
        bad_k = [k for k in data if not isinstance(k, str)]
        bad_v = [k for k, v in data.items() if not isinstance(v, NDArray)]
        if bad_k or bad_v:
            what = (f"key {bad_k[0]!r} of type {type(bad_k[0]).__name__}" if bad_k else
                    f"value {type(data[bad_v[0]]).__name__} under key {bad_v[0]!r}")
            raise TypeError(f"save only accept dict str->NDArray or list of NDArray; got {what}")
        return list(data.values()), list(data.keys())
    if isinstance(data, (list, tuple)):
        bad = [i for i, v in enumerate(data) if not isinstance(v, NDArray)]
        if bad:
            raise TypeError(f"save only accept dict str->NDArray or list of NDArray; item "
                            f"{bad[0]} is a {type(data[bad[0]]).__name__}")
        return list(data), []
    raise ValueError("data needs to either be a NDArray, dict of str, NDArray pairs or a list of "
                     f"NDarrays; got {type(data).__name__}")


def _array_bytes(arr: NDArray) -> np.ndarray:
    """The array's data as a flat little-endian uint8 numpy view (no copy on a little-endian
    CPU)."""
    t = arr._t.detach().reshape(-1)     # 1-D: numpy allows at most 64 dims
    a = t.numpy() if t.device.type == "cpu" else t.cpu().numpy()
    if sys.byteorder == "big" and a.dtype.itemsize > 1:
        a = a.byteswap()
    return a.view(np.uint8)


def _write_array(f, arr: NDArray) -> None:
    """One array in format V2, exactly as MXNet 1.9.1's ``NDArray::Save`` writes it."""
    shape = arr.shape
    ctx = arr.context
    flag = DType.parse(arr._t.dtype).flag
    f.write(struct.pack("<IiI", V2_MAGIC, 0, len(shape)))
    f.write(struct.pack(f"<{len(shape)}q", *shape))
    f.write(struct.pack("<iii", ctx.device_typeid, ctx.device_id, flag))
    f.write(_array_bytes(arr))


def _write_list(f, arrays, names) -> None:
    f.write(struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays)))
    for a in arrays:
        _write_array(f, a)
    f.write(struct.pack("<Q", len(names)))
    for n in names:
        b = n.encode("utf-8")
        f.write(struct.pack("<Q", len(b)))
        f.write(b)


def _fname(fname) -> str:
    if isinstance(fname, (str, os.PathLike)):
        fname = os.fspath(fname)
    if not isinstance(fname, str):
        raise TypeError(f"fname required to be a string or path; got {type(fname).__name__}")
    if fname.startswith(_REMOTE):
        raise UnsupportedError(f"mxc does not support remote files ({fname}) yet; copy it to a "
                               "local path first")
    return fname


def save(fname, data) -> None:
    """Save a list of NDArrays, a dict ``str -> NDArray`` or a single NDArray (saved as a
    one-item list) to ``fname`` in MXNet's format, readable by MXNet 1.x's ``mx.nd.load``.

    The write is atomic: the data goes to a temporary file beside ``fname`` that replaces it only
    once complete, so an interrupted save leaves any previous file intact.
    """
    arrays, names = _collect(data)
    fname = _fname(fname)
    with atomic_write(fname, "wb") as f:
        _write_list(f, arrays, names)


def _save_raw(arr: NDArray) -> bytes:
    """One array without the list header (MXNet's ``MXNDArraySaveRawBytes``)."""
    b = io.BytesIO()
    _write_array(b, arr)
    return b.getvalue()


# --- reading ----------------------------------------------------------------------------------------
class _Reader:
    """Bounded little-endian reader over a binary stream that knows its size; every read is
    checked against the bytes left, and errors name the source and the byte offset."""

    def __init__(self, f, size: int, name: str):
        self.f = f
        self.size = size
        self.pos = 0
        self.name = name

    @property
    def left(self) -> int:
        return self.size - self.pos

    def error(self, msg: str, at: int | None = None) -> FormatError:
        return FormatError(f"{self.name}: byte {self.pos if at is None else at}: {msg}")

    def _need(self, n: int, what: str) -> None:
        if n > self.left:
            raise self.error(f"file truncated: {what} needs {n} bytes but only {self.left} "
                             f"remain (file size {self.size})")

    def read(self, n: int, what: str) -> bytes:
        self._need(n, what)
        b = self.f.read(n)
        if len(b) != n:
            raise self.error(f"file truncated while reading {what} (it changed during the read?)")
        self.pos += n
        return b

    def unpack(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.read(struct.calcsize("<" + fmt), what))

    def read_into(self, t: torch.Tensor, what: str) -> None:
        """Fill CPU tensor ``t`` straight from the stream (no intermediate copy)."""
        nbytes = t.numel() * t.element_size()
        self._need(nbytes, what)
        if nbytes:
            flat = t.view(-1).numpy()           # 1-D: numpy allows at most 64 dims
            got = self.f.readinto(flat.view(np.uint8))
            if got != nbytes:
                raise self.error(f"file truncated while reading {what}")
            if sys.byteorder == "big" and t.element_size() > 1:
                flat.byteswap(inplace=True)
        self.pos += nbytes


def _placement(dev_type: int, dev_id: int) -> Context:
    """Where a loaded array goes: its GPU if it came from one that exists here, else cpu(0)."""
    if dev_type == 2 and torch.cuda.is_available() and dev_id < torch.cuda.device_count():
        return Context("gpu", dev_id)
    return Context("cpu", 0)


def _none_array() -> NDArray:
    """MXNet's uninitialised ("none") NDArray, which has no data: an empty float32 array."""
    return NDArray(torch.empty((0,), dtype=torch.float32), Context("cpu", 0))


def _read_array(r: _Reader, i: int) -> NDArray:
    start = r.pos
    label = f"array {i}"
    (magic,) = r.unpack("I", f"the magic number of {label}")
    if magic in (V2_MAGIC, V3_MAGIC):
        version = "V2" if magic == V2_MAGIC else "V3"
        at = r.pos
        (stype,) = r.unpack("i", f"the storage type of {label}")
        if stype != 0:
            if stype in (1, 2):
                raise UnsupportedError(
                    f"{r.name}: {label} (at byte {start}) has storage type "
                    f"'{_STYPE_NAMES[stype]}' ({stype}); mxc supports only dense ('default') "
                    "arrays. Convert it in MXNet with .tostype('default') before saving")
            raise r.error(f"{label}: unknown storage type {stype}; expected 0 (default), "
                          "1 (row_sparse) or 2 (csr)", at)
    elif magic == V1_MAGIC:
        version = "V1"
    else:
        version = "legacy"
        if magic > _LEGACY_MAX_NDIM:
            raise r.error(f"{label}: unknown array magic 0x{magic:08x}; expected 0xf993fac9 (V2), "
                          "0xf993faca (V3), 0xf993fac8 (V1) or a pre-V1 ndim "
                          f"<= {_LEGACY_MAX_NDIM}", start)
    # shape
    at = r.pos
    if version == "legacy":
        ndim = magic
        if ndim * 4 > r.left:
            raise r.error(f"file truncated: {label} has ndim {ndim}, whose shape needs "
                          f"{ndim * 4} bytes but only {r.left} remain", at)
        dims = r.unpack(f"{ndim}I", f"the shape of {label}")
    else:
        (ndim,) = r.unpack("i", f"the ndim of {label}")
        if ndim < 0:
            raise r.error(f"{label}: invalid ndim {ndim}; expected >= 0", at)
        if ndim * 8 > r.left:
            raise r.error(f"{label}: ndim {ndim} is impossible: its shape needs {ndim * 8} bytes "
                          f"but only {r.left} remain", at)
        dims = r.unpack(f"{ndim}q", f"the shape of {label}")
        if any(d < -1 or (d == -1 and version == "V2") for d in dims):
            raise r.error(f"{label}: invalid shape {tuple(dims)}: dimensions must be >= 0", at)
        if -1 in dims:
            # V1 / V3 mark an uninitialised array with an unknown (-1) dimension and store
            # nothing more for it (MXNet's LegacyLoad / np-shape Load)
            return _none_array()
    shape = tuple(int(d) for d in dims)
    shape_at = at
    # context
    at = r.pos
    dev_type, dev_id = r.unpack("ii", f"the context of {label}")
    if dev_type not in _DEV_TYPES or dev_id < 0:
        raise r.error(f"{label}: invalid context (dev_type={dev_type}, dev_id={dev_id}); expected "
                      "dev_type 1 (cpu), 2 (gpu), 3 (cpu_pinned) or 5 (cpu_shared) and "
                      "dev_id >= 0", at)
    # dtype
    at = r.pos
    (flag,) = r.unpack("i", f"the dtype flag of {label}")
    try:
        dt = DType.from_flag(flag)
    except DTypeError:
        known = ", ".join(f"{d.flag} {d.np_name}" for d in DType)
        raise r.error(f"{label}: unknown dtype flag {flag}; expected one of {known}", at) from None
    if dt is DType.bf16:
        raise UnsupportedError(f"{r.name}: {label} (at byte {start}) is bfloat16, which mxc does "
                               "not support yet; cast it to float32 in MXNet before saving")
    # data
    numel = span = 1
    for d in shape:
        numel *= d
        span *= max(d, 1)
    nbytes = numel * dt.itemsize
    if nbytes > r.left:
        raise r.error(f"file truncated: {label} of shape {shape} and dtype {dt.np_name} needs "
                      f"{nbytes} bytes of data but only {r.left} remain")
    if span * dt.itemsize >= 2 ** 63:     # a zero-size array still needs int64 byte strides
        raise r.error(f"{label}: shape {shape} is too large (its strides overflow int64)",
                      shape_at)
    t = torch.empty(shape, dtype=dt.torch)
    r.read_into(t, f"the data of {label}")
    ctx = _placement(dev_type, dev_id)
    if ctx.device_typeid == 2:
        t = t.to(ctx.torch_device)
    return NDArray(t, ctx)


def _read_list(r: _Reader):
    if r.size == 0:
        raise r.error("empty file; expected an MXNet NDArray file (.params) starting with the "
                      "magic 0x112")
    if r.size < 8:
        head = r.read(r.size, "the header")
        raise r.error(f"file truncated: {r.size} bytes ({head!r}) is too short for the 24-byte "
                      "header of an MXNet NDArray file", 0)
    (magic,) = r.unpack("Q", "the list magic")
    if magic != LIST_MAGIC:
        head = struct.pack("<Q", magic)
        raise r.error(f"not an MXNet NDArray file: expected the magic 0x112 at byte 0, found "
                      f"{head!r} (0x{magic:x})", 0)
    r.unpack("Q", "the reserved header field")
    at = r.pos
    (n,) = r.unpack("Q", "the array count")
    if n * 4 > r.left:
        raise r.error(f"array count {n} is impossible: every array needs at least 4 bytes but "
                      f"only {r.left} remain", at)
    arrays = [_read_array(r, i) for i in range(n)]
    at = r.pos
    (k,) = r.unpack("Q", "the name count")
    if k not in (0, n):
        raise r.error(f"name count {k} does not match the array count {n}; expected 0 (a list) "
                      f"or {n} (a dict)", at)
    names = []
    for j in range(k):
        at = r.pos
        (length,) = r.unpack("Q", f"the length of name {j}")
        if length > r.left:
            raise r.error(f"file truncated: name {j} has length {length} but only {r.left} "
                          "bytes remain", at)
        raw = r.read(length, f"name {j}")
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise r.error(f"name {j} is not valid UTF-8: {raw[:40]!r} ({e.reason})",
                          at + 8 + e.start) from None
    # bytes after the names are ignored, as MXNet does
    if k == 0:
        return arrays
    return dict(zip(names, arrays))


def load(fname):
    """Load a list or dict of NDArrays saved by :func:`save` or by MXNet (``mx.nd.save``,
    ``mod.save_checkpoint``, Gluon ``save_parameters``).

    Returns a dict ``str -> NDArray`` if the file stores names, else a list (an empty dict saves
    as an empty list, as in MXNet). Raises :class:`~mxc.base.FormatError` for files that are
    truncated or not in MXNet's format.
    """
    fname = _fname(fname)
    with open(fname, "rb", buffering=1 << 16) as f:
        size = os.fstat(f.fileno()).st_size
        return _read_list(_Reader(f, size, fname))


def load_frombuffer(buf):
    """Like :func:`load`, from the bytes of a file (``bytes``, ``bytearray`` or
    ``memoryview``)."""
    if isinstance(buf, str):
        raise TypeError("buf required to be bytes (the contents of a .params file), not str")
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise TypeError(f"buf required to be bytes; got {type(buf).__name__}")
    b = bytes(buf)
    return _read_list(_Reader(io.BytesIO(b), len(b), "<buffer>"))


def _load_raw(buf, name: str = "<pickled NDArray>") -> NDArray:
    """One array without the list header (MXNet's ``MXNDArrayLoadFromRawBytes``, used by its
    pickles); errors name ``name``."""
    b = bytes(buf)
    return _read_array(_Reader(io.BytesIO(b), len(b), name), 0)
