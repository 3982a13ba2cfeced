"""MXNet's native data iterators: ``MNISTIter``, ``LibSVMIter``, ``ImageRecordIter``
(``ImageRecordUInt8Iter``, ``ImageRecordInt8Iter``) and ``ImageDetRecordIter``, reachable as
``mx.io.X``.

MXNet implements these in C++ (src/io) and wraps each in ``MXDataIter``; so do these: every one
is an :class:`~runtime.io.MXDataIter`, takes MXNet's keyword arguments (strings too, as MXNet's
Python wrapper passes them), reads its first batch when it is made (MXNet's ``MXDataIter`` does)
and produces the same batches:

* ``MNISTIter`` reads IDX files (gzip'd too), scales pixels by 1/256, shuffles by default with
  MXNet's exact order (``std::shuffle`` with ``mt19937(seed)``, see runtime/cxx_random.py),
  drops the incomplete last batch, and splits by ``num_parts`` / ``part_index`` as MXNet does.
* ``LibSVMIter`` reads zero-based LibSVM files into *dense* batches (mxc has no sparse storage);
  the last batch wraps around (MXNet's only mode) and the next epoch continues after it.
* ``ImageRecordIter`` reproduces MXNet's record order, its batch assembly (``round_batch``:
  the last batch of an epoch is completed from the start of the part and the next epoch starts
  after the records so used; ``num_parts`` splits by bytes at record boundaries, or by record
  count with ``path_imgidx``; ``shuffle`` gives MXNet's permutation), decoding (OpenCV,
  libjpeg-turbo) and its default augmenter step by step (resize, affine, pad, crops, colour,
  mirror, mean/std/scale). With ``seed_aug`` the random draws are MXNet's own, so random crops
  and mirrors come out identical to MXNet's; without it each image gets its own generator
  seeded from ``seed``, so results do not depend on the number of threads.

Decoding and augmentation run on ``preprocess_threads`` worker threads (OpenCV releases the
GIL) while the consumer uses earlier batches: up to ``prefetch_buffer`` batches are in flight.
Batches are assembled in place into a ring of preallocated buffers; the arrays of a batch stay
valid until ``prefetch_buffer`` more batches have been taken (MXNet recycles its batches the
same way), so copy a batch that must live longer.

Where MXNet 1.9.1 misbehaves, mxc does what it meant to do: ``round_batch=False`` reports the
number of unfilled rows as ``pad`` (MXNet reports 0) and zeroes them (MXNet leaves stale rows);
a full batch has ``pad`` 0 (MXNet repeats a stale value after its first wrap-around);
``getindex()`` gives the records' ids (MXNet gives zeros). Bad input raises a
:class:`~mxc.base.FormatError` naming the file, the record and its byte offset;
``skip_bad_records=True`` (an mxc option) logs a warning and skips undecodable records instead.
"""
from __future__ import annotations

import bisect
import gzip
import logging
import math
import os
import struct
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from mxc.base import FormatError, MXNetError, ShapeError
from mxc.ndarray import NDArray

from .cxx_random import MT19937
from .io import DataBatch, DataDesc, MXDataIter

__all__ = ["ImageDetRecordIter", "ImageRecordInt8Iter", "ImageRecordIter",
           "ImageRecordUInt8Iter", "LibSVMIter", "MNISTIter"]

_log = logging.getLogger("mxc.io")
_RAND_MAGIC = 111


# --- parameters (MXNet passes every keyword argument as str(value)) ------------------------------
def _bool(v, name, it):
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("1", "true"):
            return True
        if s in ("0", "false"):
            return False
        raise MXNetError(f"{it}: {name} must be a boolean; got {v!r}")
    return bool(v)


def _int(v, name, it):
    try:
        if isinstance(v, str):
            return int(float(v)) if v.strip().lower() not in ("none", "") else None
        return int(v)
    except (TypeError, ValueError):
        raise MXNetError(f"{it}: {name} must be an integer; got {v!r}") from None


def _float(v, name, it):
    try:
        return float(v)
    except (TypeError, ValueError):
        raise MXNetError(f"{it}: {name} must be a number; got {v!r}") from None


def _shape(v, name, it, ndim=None):
    try:
        if isinstance(v, str):
            s = v.strip().strip("()[]")
            v = [int(x) for x in s.split(",") if x.strip()]
        elif isinstance(v, (int, np.integer)):
            v = [int(v)]
        shape = tuple(int(x) for x in v)
    except (TypeError, ValueError):
        raise MXNetError(f"{it}: {name} must be a shape such as (3, 224, 224); got {v!r}") \
            from None
    if ndim is not None and len(shape) != ndim:
        raise ShapeError(f"{it}: {name} must have {ndim} dimensions; got {shape}")
    if any(d <= 0 for d in shape):
        raise ShapeError(f"{it}: {name} must have positive dimensions; got {shape}")
    return shape


class _Params:
    """MXNet-style parameter parsing: ``spec = {name: (kind, default)}``; unknown names are
    ignored (MXNet's InitAllowUnknown) with a warning, so typos do not pass silently."""

    def __init__(self, it, spec, kwargs, known_extra=()):
        self._it = it
        for name, (kind, default) in spec.items():
            v = kwargs.get(name, default)
            if v is None or kind is None:
                setattr(self, name, v)
                continue
            if kind is bool:
                v = _bool(v, name, it)
            elif kind is int:
                v = _int(v, name, it)
            elif kind is float:
                v = _float(v, name, it)
            elif kind == "shape":
                v = _shape(v, name, it)
            elif kind is str:
                v = str(v)
            setattr(self, name, v)
        unknown = sorted(set(kwargs) - set(spec) - set(known_extra))
        if unknown:
            warnings.warn(f"{it}: unknown arguments ignored (as MXNet does): "
                          f"{', '.join(unknown)}", stacklevel=4)


_PREFETCH = {"prefetch_buffer": (int, 4), "ctx": (str, "gpu"), "dtype": (None, None)}
_COMMON_EXTRA = ("data_name", "label_name")

_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16,
           "int32": np.int32, "int64": np.int64, "uint8": np.uint8, "int8": np.int8}


def _dtype(v, it, allowed=None):
    if v is None or (isinstance(v, str) and v.strip().lower() == "none"):
        return None
    name = np.dtype(v).name if not isinstance(v, str) else v.strip()
    if name not in _DTYPES or (allowed is not None and name not in allowed):
        raise MXNetError(f"{it}: dtype {v!r} is not supported; expected one of "
                         f"{', '.join(allowed or _DTYPES)}")
    return np.dtype(_DTYPES[name])


def _as_nd(a: np.ndarray) -> NDArray:
    """An NDArray sharing ``a``'s memory."""
    return NDArray(torch.from_numpy(a))


def _missing(path, what, it):
    from mxc.recordio import RecordFileNotFoundError
    return RecordFileNotFoundError(f"{it}: {what} {path!r} does not exist")


# --- the MXDataIter protocol ------------------------------------------------------------------
class _NativeIter(MXDataIter):
    """What MXNet's ``MXDataIter`` does around a C++ iterator: the first batch is read when the
    iterator is made; ``provide_data`` / ``provide_label`` come from it; ``next()`` returns
    ``DataBatch(data=[d], label=[l], pad, index)``. Subclasses implement ``_before_first()``
    and ``_next() -> bool`` and set ``self._data``, ``self._label``, ``self._pad``,
    ``self._index``."""

    def _start(self, data_name="data", label_name="softmax_label"):
        self.handle = None
        self._debug_skip_load = False
        self._debug_at_begin = True
        self.first_batch = None
        self.first_batch = self.next()
        data = self.first_batch.data[0]
        label = self.first_batch.label[0]
        self.provide_data = [DataDesc(data_name, data.shape, data.dtype)]
        self.provide_label = [DataDesc(label_name, label.shape, label.dtype)]
        self.batch_size = data.shape[0]

    def debug_skip_load(self):
        """Return the first batch forever (to time a network without the loading)."""
        self._debug_skip_load = True
        _log.info("Set debug_skip_load to be true, will simply return first batch")

    def reset(self):
        self._debug_at_begin = True
        self.first_batch = None
        self._before_first()

    def next(self):
        if self._debug_skip_load and not self._debug_at_begin:
            return DataBatch(data=[self.getdata()], label=[self.getlabel()],
                             pad=self.getpad(), index=self.getindex())
        if self.first_batch is not None:
            batch = self.first_batch
            self.first_batch = None
            return batch
        self._debug_at_begin = False
        if self._next():
            return DataBatch(data=[self.getdata()], label=[self.getlabel()],
                             pad=self.getpad(), index=self.getindex())
        raise StopIteration

    def iter_next(self):
        if self.first_batch is not None:
            return True
        return self._next()

    def getdata(self):
        return self._data

    def getlabel(self):
        return self._label

    def getindex(self):
        return None if self._index is None else np.array(self._index, dtype=np.uint64)

    def getpad(self):
        return self._pad


def _convert(arr: np.ndarray, dtype) -> np.ndarray:
    return arr if dtype is None or arr.dtype == dtype else arr.astype(dtype)


# --- MNISTIter --------------------------------------------------------------------------------
def _read_idx(path, expect_magic, what, it):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise _missing(path, f"{what} file", it) from None
    except IsADirectoryError:
        raise MXNetError(f"{it}: {what} file {path!r} is a directory") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise FormatError(f"{it}: {what} file {path!r}: bad gzip data: {e}") from None
    ndim = 3 if expect_magic == 2051 else 1
    head = 4 * (1 + ndim)
    if len(raw) < head:
        raise FormatError(f"{it}: {what} file {path!r}: truncated at byte offset {len(raw)}: "
                          f"an IDX header of {head} bytes was expected")
    magic = struct.unpack_from(">I", raw, 0)[0]
    if magic != expect_magic:
        raise FormatError(f"{it}: {what} file {path!r}: bad magic number 0x{magic:08x} at byte "
                          f"offset 0; expected 0x{expect_magic:08x} (IDX "
                          f"{'images, ubyte x 3 dims' if ndim == 3 else 'labels, ubyte x 1 dim'})")
    dims = struct.unpack_from(">" + "I" * ndim, raw, 4)
    n = int(np.prod(dims))
    if len(raw) < head + n:
        count = (len(raw) - head) // max(1, int(np.prod(dims[1:])))
        raise FormatError(f"{it}: {what} file {path!r}: truncated: the header says {dims[0]} "
                          f"items ({head + n} bytes) but the file has {len(raw)} bytes; item "
                          f"{count} at byte offset {head + count * int(np.prod(dims[1:]))} is "
                          "incomplete")
    return np.frombuffer(raw, np.uint8, n, head).reshape(dims)


class MNISTIter(_NativeIter):
    """Iterates on the MNIST dataset's IDX files (MXNet's ``mx.io.MNISTIter``).

    Parameters (keyword only, MXNet's defaults): ``image`` ('./train-images-idx3-ubyte'),
    ``label`` ('./train-labels-idx1-ubyte'), ``batch_size`` (128), ``shuffle`` (True),
    ``flat`` (False), ``seed`` (0), ``silent`` (False), ``num_parts`` (1), ``part_index`` (0),
    ``prefetch_buffer``, ``ctx``, ``dtype`` (None: float32); ``data_name``, ``label_name``.
    """

    _SPEC = {"image": (str, "./train-images-idx3-ubyte"),
             "label": (str, "./train-labels-idx1-ubyte"),
             "batch_size": (int, 128), "shuffle": (bool, True), "flat": (bool, False),
             "seed": (int, 0), "silent": (bool, False), "num_parts": (int, 1),
             "part_index": (int, 0), **_PREFETCH}

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError("MNISTIter can only accept keyword arguments")
        super(MXDataIter, self).__init__()
        it = "MNISTIter"
        p = _Params(it, self._SPEC, kwargs, _COMMON_EXTRA)
        if p.batch_size < 1:
            raise MXNetError(f"{it}: batch_size must be >= 1; got {p.batch_size}")
        if p.num_parts < 1 or not 0 <= p.part_index < p.num_parts:
            raise MXNetError(f"{it}: part_index {p.part_index} must be in [0, num_parts="
                             f"{p.num_parts})")
        imgs = _read_idx(p.image, 2051, "image", it)
        labels = _read_idx(p.label, 2049, "label", it)
        # MXNet's GetPart: [count / num_parts * part_index, ... * (part_index + 1)) in doubles
        def part(count):
            return (int(count / p.num_parts * p.part_index),
                    int(count / p.num_parts * (p.part_index + 1)))
        i0, i1 = part(imgs.shape[0])
        l0, l1 = part(labels.shape[0])
        imgs = imgs[i0:i1]
        labels = labels[l0:l1]
        if imgs.shape[0] != labels.shape[0]:
            raise ShapeError(f"{it}: image file {p.image!r} holds {imgs.shape[0]} images in this "
                             f"part but label file {p.label!r} holds {labels.shape[0]} labels")
        data = imgs.astype(np.float32) * np.float32(1.0 / 256.0)
        label = labels.astype(np.float32)
        if p.shuffle:
            order = list(range(data.shape[0]))
            MT19937(0 + p.seed).shuffle(order)
            data = data[order]
            label = label[order]
        n, rows, cols = data.shape
        self._dtype = _dtype(p.dtype, it)
        self._all_data = _convert(data.reshape(n, rows * cols) if p.flat
                                  else data.reshape(n, 1, rows, cols), self._dtype)
        self._all_label = label
        self._bs = p.batch_size
        self._loc = 0
        self._pad = 0
        self._index = None
        if not p.silent:
            shape = (p.batch_size, rows * cols) if p.flat else (p.batch_size, 1, rows, cols)
            _log.info("MNISTIter: load %d images, shuffle=%d, shape=%s", n, int(p.shuffle),
                      shape)
        if n < p.batch_size:
            raise MXNetError(f"{it}: {n} images in this part is fewer than batch_size "
                             f"{p.batch_size}: no batch can be made")
        self._start(kwargs.get("data_name", "data"), kwargs.get("label_name", "softmax_label"))

    def _before_first(self):
        self._loc = 0

    def _next(self):
        lo = self._loc
        if lo + self._bs > self._all_data.shape[0]:
            return False
        self._data = _as_nd(self._all_data[lo:lo + self._bs].copy())
        self._label = _as_nd(self._all_label[lo:lo + self._bs].copy())
        self._loc += self._bs
        return True


# --- LibSVMIter -------------------------------------------------------------------------------
def _text_part(raw: bytes, part_index: int, num_parts: int):
    """dmlc's text InputSplit: equal byte ranges, each moved to the start of a line."""
    size = len(raw)
    step = (size + num_parts - 1) // num_parts

    def seek(pos):
        if pos == 0 or pos >= size:
            return min(pos, size)
        n = len(raw)
        while pos < n and raw[pos] not in b"\r\n":
            pos += 1
        while pos < n and raw[pos] in b"\r\n":
            pos += 1
        return pos
    begin = min(step * part_index, size)
    end = min(step * (part_index + 1), size)
    if begin == end:
        return b""
    return raw[seek(begin):seek(end)]


def _parse_libsvm(path, width, it, part_index, num_parts, what):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise _missing(path, f"{what} file", it) from None
    raw = _text_part(raw, part_index, num_parts)
    labels, rows = [], []
    for lineno, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        toks = line.split()
        if not toks or toks[0].startswith("#"):
            continue
        row = np.zeros(width, np.float32)
        try:
            labels.append(float(toks[0].split(":")[0]))
            for t in toks[1:]:
                if t.startswith("qid:"):
                    continue
                k, _, v = t.partition(":")
                k = int(k)
                if not 0 <= k < width:
                    raise FormatError(f"{it}: {what} file {path!r}: line {lineno}: feature "
                                      f"index {k} is outside [0, {width}) given by the shape")
                row[k] = float(v) if v else 1.0
        except ValueError:
            raise FormatError(f"{it}: {what} file {path!r}: line {lineno}: expected 'label "
                              f"index:value ...'; got {line[:80]!r}") from None
        rows.append(row)
    return np.array(labels, np.float32), (np.stack(rows) if rows
                                          else np.zeros((0, width), np.float32))


class LibSVMIter(_NativeIter):
    """Batches of zero-based LibSVM rows (MXNet's ``mx.io.LibSVMIter``), as *dense* arrays:
    mxc has no sparse (CSR) storage, so ``data`` has shape ``(batch_size,) + data_shape``.

    Parameters: ``data_libsvm``, ``data_shape`` (1-d), ``label_libsvm`` ('NULL': labels are
    the rows' first field), ``label_shape`` ((1,)), ``batch_size``, ``round_batch`` (True, the
    only mode MXNet supports), ``num_parts``, ``part_index``, ``prefetch_buffer``, ``ctx``,
    ``dtype``; ``data_name``, ``label_name``.
    """

    _SPEC = {"data_libsvm": (str, None), "data_shape": ("shape", None),
             "label_libsvm": (str, "NULL"), "label_shape": ("shape", (1,)),
             "batch_size": (int, None), "round_batch": (bool, True),
             "num_parts": (int, 1), "part_index": (int, 0), **_PREFETCH}

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError("LibSVMIter can only accept keyword arguments")
        super(MXDataIter, self).__init__()
        it = "LibSVMIter"
        p = _Params(it, self._SPEC, kwargs, _COMMON_EXTRA)
        for req in ("data_libsvm", "data_shape", "batch_size"):
            if getattr(p, req) is None:
                raise MXNetError(f"{it}: required argument {req!r} is missing")
        if len(p.data_shape) != 1:
            raise ShapeError(f"{it}: data_shape must have 1 dimension; got {p.data_shape}")
        if not p.round_batch:
            raise MXNetError(f"{it}: round_batch=False is not supported for LibSVMIter "
                             "(MXNet's sparse batch loader has only round_batch=True)")
        if p.num_parts < 1 or not 0 <= p.part_index < p.num_parts:
            raise MXNetError(f"{it}: part_index {p.part_index} must be in [0, num_parts="
                             f"{p.num_parts})")
        labels, data = _parse_libsvm(p.data_libsvm, p.data_shape[0], it, p.part_index,
                                     p.num_parts, "data_libsvm")
        lsize = int(np.prod(p.label_shape))
        if p.label_libsvm != "NULL":
            if lsize <= 1:
                raise ShapeError(f"{it}: label_shape must hold more than 1 value when "
                                 f"label_libsvm is set; got {p.label_shape}")
            _, label = _parse_libsvm(p.label_libsvm, lsize, it, p.part_index, p.num_parts,
                                     "label_libsvm")
            if label.shape[0] < data.shape[0]:
                raise ShapeError(f"{it}: label_libsvm {p.label_libsvm!r} has {label.shape[0]} "
                                 f"rows, fewer than data_libsvm's {data.shape[0]}")
            label = label[:data.shape[0]].reshape((-1,) + p.label_shape)
        else:
            if lsize != 1:
                raise ShapeError(f"{it}: label_shape must be (1,) when label_libsvm is NULL; "
                                 f"got {p.label_shape}")
            label = labels
        if data.shape[0] < p.batch_size:
            raise MXNetError(f"{it}: number of input rows ({data.shape[0]}) must be bigger "
                             f"than the batch size ({p.batch_size})")
        self._dtype = _dtype(p.dtype, it)
        self._rows = _convert(data, self._dtype)
        self._labels = label
        self._bs = p.batch_size
        self._pos = 0               # next row of the base iterator
        self._overflow = 0
        self._index = None
        self._start(kwargs.get("data_name", "data"), kwargs.get("label_name", "softmax_label"))

    def _before_first(self):
        # MXNet's BatchLoader: after a wrap-around the base iterator was already restarted
        if self._overflow == 0:
            self._pos = 0
        else:
            self._overflow = 0

    def _next(self):
        if self._overflow:
            return False
        n = self._rows.shape[0]
        if self._pos >= n:
            return False
        rows = list(range(self._pos, min(n, self._pos + self._bs)))
        self._pos += len(rows)
        pad = 0
        if len(rows) < self._bs:
            pad = self._bs - len(rows)
            rows += list(range(pad))
            self._pos = pad
            self._overflow = pad
        self._data = _as_nd(self._rows[rows])
        self._label = _as_nd(self._labels[rows])
        self._pad = pad
        self._index = rows
        return True


# --- ImageRecordIter: record sources (dmlc InputSplit) -----------------------------------------
class _ChunkSource:
    """dmlc's RecordIO InputSplit over one part: chunks of about ``chunk_bytes``, each ending
    at the last record that starts in the window (grown when one record is larger)."""

    def __init__(self, rf, chunk_bytes):
        self.rf = rf
        self.chunk_bytes = chunk_bytes
        self._i = 0

    def before_first(self):
        self._i = 0

    def next_batch(self, n):
        offs = self.rf.offsets
        i = self._i
        if i >= len(offs):
            return None
        start = offs[i]
        w = self.chunk_bytes
        while True:
            if start + w > self.rf.end:
                j = len(offs)
                break
            j = bisect.bisect_right(offs, start + w - 8) - 1
            if j > i:
                break
            w *= 2
        self._i = j
        return list(range(i, j))


class _IndexedSource:
    """dmlc's IndexedRecordIOSplitter: parts by record count, ``n`` records per batch,
    a fresh ``std::shuffle`` permutation at every ``before_first`` when shuffling."""

    def __init__(self, n_total, part_index, num_parts, shuffle, seed):
        step = (n_total + num_parts - 1) // num_parts
        self.begin = min(part_index * step, n_total)
        self.end = min((part_index + 1) * step, n_total)
        self.shuffle = shuffle
        self.rnd = MT19937(_RAND_MAGIC + seed)
        self.n_overflow = 0
        self.before_first()

    def before_first(self):
        if self.shuffle:
            self.perm = list(range(self.begin, self.end))
            self.rnd.shuffle(self.perm)
            self.cur = 0
        else:
            self.cur = self.begin

    def next_batch(self, n):
        k = self.n_overflow or n
        if self.shuffle:
            take = self.perm[self.cur:self.cur + k]
            self.cur += len(take)
            if not take:
                return None
            self.n_overflow = k - len(take)
            return take
        last = min(self.cur + k, self.end)
        self.n_overflow = self.cur + k - last
        chunk = list(range(self.cur, last))
        self.cur = last
        return chunk or None


class _Planner:
    """MXNet's ImageRecordIOParser2::ParseNext, on record numbers instead of pixels: which
    record fills which slot of each batch, the ``idx`` that seeds its augmentation under
    ``seed_aug``, the pad count, and the round-robin carry-over between epochs."""

    def __init__(self, source, batch_size, round_batch, legacy_shuffle, seed, it):
        self.source = source
        self.bs = batch_size
        self.round_batch = round_batch
        self.legacy = legacy_shuffle
        self.rnd = MT19937(_RAND_MAGIC + seed)
        self.n_parsed = 0
        self.overflow = False
        self.inst = []
        self.k = 0
        self.it = it

    def before_first(self):
        if not self.round_batch or not self.overflow:
            self.n_parsed = 0
            self.source.before_first()
        else:
            self.overflow = False

    def parse_next(self, current=0):
        """``(slots, pad)``: ``slots[i]`` is ``(record, idx)`` or None (unfilled); None at the
        end of the epoch."""
        if self.overflow:
            return None
        bs = self.bs
        slots = [None] * bs
        pad = 0
        while current < bs:
            if self.n_parsed == 0:
                chunk = self.source.next_batch(bs)
                if chunk is not None:
                    self.inst = []
                    self.k = 0
                    if not self.legacy:
                        gl = current
                        for r in chunk:
                            if gl < bs:
                                slots[gl] = (r, gl)
                            else:
                                self.inst.append((r, gl))
                            gl += 1
                        n_out = min(bs, gl) - current
                    else:
                        self.inst = [(r, bs + t) for t, r in enumerate(chunk)]
                        n_out = 0
                    self.n_parsed = len(self.inst)
                    if self.legacy:
                        self.rnd.shuffle(self.inst)
                else:
                    if current == 0:
                        return None
                    if self.overflow:
                        raise MXNetError(f"{self.it}: number of input images must be bigger "
                                         f"than the batch size ({bs})")
                    pad = bs - current
                    if not self.round_batch:
                        break
                    self.overflow = True
                    self.source.before_first()
                    n_out = 0
            else:
                n = min(self.n_parsed, bs - current)
                self.n_parsed -= n
                slots[current:current + n] = self.inst[self.k:self.k + n]
                self.k += n
                n_out = n
            current += n_out
        return slots, pad


# --- ImageRecordIter: the default augmenter (src/io/image_aug_default.cc) ----------------------
class _DefaultAug:
    """MXNet's ``aug_default`` augmenter, drawing its random numbers in MXNet's order."""

    def __init__(self, p, it):
        self.p = p
        self.it = it
        if p.min_aspect_ratio is not None:
            self.max_ar, self.min_ar = p.max_aspect_ratio, p.min_aspect_ratio
        else:
            self.max_ar, self.min_ar = 1 + p.max_aspect_ratio, 1 - p.max_aspect_ratio
        self.rotate_list = [int(x) for x in str(p.rotate_list).split(",") if x.strip()] \
            if p.rotate_list not in (None, "") else []
        if not (0 <= p.inter_method <= 4 or 9 <= p.inter_method <= 10):
            raise MXNetError(f"{it}: invalid inter_method {p.inter_method}: valid values are "
                             "0-4, 9, 10")
        if p.random_resized_crop and not (p.min_random_scale == 1.0 and
                                          p.max_random_scale == 1.0 and
                                          p.min_crop_size == -1 and p.max_crop_size == -1 and
                                          not p.rand_crop):
            raise MXNetError(f"{it}: setting random_resized_crop to true conflicts with "
                             "min_random_scale, max_random_scale, min_crop_size, "
                             "max_crop_size, and rand_crop")
        self.affine = (p.max_rotate_angle > 0 or p.max_shear_ratio > 0.0 or p.rotate > 0
                       or self.rotate_list or p.max_random_scale != 1.0
                       or p.min_random_scale != 1.0
                       or (not p.random_resized_crop and
                           (self.min_ar != 1.0 or self.max_ar != 1.0))
                       or p.max_img_size != 1e10 or p.min_img_size != 0.0)

    def _inter(self, ow, oh, nw, nh, rnd):
        m = self.p.inter_method
        if m == 9:
            if nw > ow and nh > oh:
                return 2
            if nw < ow and nh < oh:
                return 3
            return 1
        if m == 10:
            return rnd.uniform_int(0, 4)
        return m

    def __call__(self, src, rnd):
        from mxc.image import _codec
        cv = _codec.cv2()
        p = self.p
        f32 = np.float32
        h_out, w_out = p.data_shape[1], p.data_shape[2]
        res = src
        if p.resize != -1:
            rows, cols = src.shape[:2]
            if rows > cols:
                nh, nw = p.resize * rows // cols, p.resize
            else:
                nh, nw = p.resize, p.resize * cols // rows
            res = _codec.resize(src, nw, nh, self._inter(cols, rows, nw, nh, rnd))
        if self.affine:
            s = f32(rnd.canonical_float() * f32(p.max_shear_ratio) * f32(2)
                    - f32(p.max_shear_ratio))
            angle = rnd.uniform_int(-p.max_rotate_angle, p.max_rotate_angle)
            if p.rotate > 0:
                angle = p.rotate
            if self.rotate_list:
                angle = self.rotate_list[rnd.uniform_int(0, len(self.rotate_list) - 1)]
            a = f32(math.cos(angle / 180.0 * math.pi))
            b = f32(math.sin(angle / 180.0 * math.pi))
            scale = f32(1.0)
            if not p.random_resized_crop:
                scale = f32(rnd.canonical_float() * f32(p.max_random_scale - p.min_random_scale)
                            + f32(p.min_random_scale))
            ratio = f32(1.0)
            if not p.random_resized_crop:
                ratio = f32(rnd.canonical_float() * f32(self.max_ar - self.min_ar)
                            + f32(self.min_ar))
            hs = f32(f32(2) * scale / (f32(1) + ratio))
            ws = f32(ratio * hs)
            rows, cols = res.shape[:2]
            new_w = max(f32(p.min_img_size), min(f32(p.max_img_size), f32(scale * cols)))
            new_h = max(f32(p.min_img_size), min(f32(p.max_img_size), f32(scale * rows)))
            m = np.zeros((2, 3), np.float32)
            m[0, 0] = hs * a - s * b * ws
            m[1, 0] = -b * ws
            m[0, 1] = hs * b + s * a * ws
            m[1, 1] = a * ws
            cw = m[0, 0] * cols + m[0, 1] * rows
            ch = m[1, 0] * cols + m[1, 1] * rows
            m[0, 2] = (new_w - cw) / 2
            m[1, 2] = (new_h - ch) / 2
            if not (1 <= p.inter_method <= 4 or 9 <= p.inter_method <= 10):
                raise MXNetError(f"{self.it}: invalid inter_method {p.inter_method} for the "
                                 "affine transform: valid values are 1-4, 9, 10")
            interp = self._inter(cols, rows, new_w, new_h, rnd)
            fill = (p.fill_value,) * 3
            out = cv.warpAffine(res, m, (int(new_w), int(new_h)), flags=interp,
                                borderMode=cv.BORDER_CONSTANT, borderValue=fill)
            res = out if out.ndim == res.ndim else out.reshape(out.shape + (1,))
        if p.pad > 0:
            fill = (p.fill_value,) * 3
            out = cv.copyMakeBorder(res, p.pad, p.pad, p.pad, p.pad, cv.BORDER_CONSTANT,
                                    value=fill)
            res = out if out.ndim == res.ndim else out.reshape(out.shape + (1,))
        cropped = False
        if p.random_resized_crop:
            if (p.max_random_area != 1.0 or p.min_random_area != 1.0
                    or self.max_ar != 1.0 or self.min_ar != 1.0):
                if not (self.min_ar > 0 and p.min_random_area <= p.max_random_area
                        and self.min_ar <= self.max_ar):
                    raise MXNetError(f"{self.it}: random_resized_crop needs 0 < "
                                     "min_aspect_ratio <= max_aspect_ratio and "
                                     "min_random_area <= max_random_area")
                rows, cols = res.shape[:2]
                area = f32(rows * cols)
                for _ in range(10):
                    rand_area = rnd.uniform_float(p.min_random_area, p.max_random_area)
                    ratio = rnd.uniform_float(self.min_ar, self.max_ar)
                    target = f32(area * rand_area)
                    y_area = int(round(math.sqrt(float(f32(target / ratio)))))
                    x_area = int(round(math.sqrt(float(f32(target * ratio)))))
                    if rnd.canonical_float() > 0.5:
                        y_area, x_area = x_area, y_area
                    if y_area <= rows and x_area <= cols:
                        ry = rnd.uniform_int(0, rows - y_area)
                        rx = rnd.uniform_int(0, cols - x_area)
                        interp = self._inter(x_area, y_area, w_out, h_out, rnd)
                        res = _codec.resize(res[ry:ry + y_area, rx:rx + x_area], w_out, h_out,
                                            interp)
                        cropped = True
                        break
        elif p.max_crop_size != -1 or p.min_crop_size != -1:
            rows, cols = res.shape[:2]
            if not (cols >= p.max_crop_size and rows >= p.max_crop_size
                    and p.max_crop_size >= p.min_crop_size):
                raise MXNetError(f"{self.it}: input image size {cols}x{rows} is smaller than "
                                 f"max_crop_size {p.max_crop_size}")
            size = rnd.uniform_int(p.min_crop_size, p.max_crop_size)
            y, x = rows - size, cols - size
            if p.rand_crop:
                y = rnd.uniform_int(0, y)
                x = rnd.uniform_int(0, x)
            else:
                y //= 2
                x //= 2
            interp = self._inter(size, size, w_out, h_out, rnd)
            res = _codec.resize(res[y:y + size, x:x + size], w_out, h_out, interp)
            cropped = True
        if not cropped:
            rows, cols = res.shape[:2]
            interp = self._inter(cols, rows, w_out, h_out, rnd)
            if rows < h_out:
                new_cols = int(f32(f32(h_out) / f32(rows) * f32(cols)))
                res = _codec.resize(res, new_cols, h_out, interp)
            rows, cols = res.shape[:2]
            if cols < w_out:
                new_rows = int(f32(f32(w_out) / f32(cols) * f32(rows)))
                res = _codec.resize(res, w_out, new_rows, interp)
            rows, cols = res.shape[:2]
            if rows < h_out or cols < w_out:
                raise MXNetError(f"{self.it}: input image size smaller than input shape")
            y, x = rows - h_out, cols - w_out
            if p.rand_crop:
                y = rnd.uniform_int(0, y)
                x = rnd.uniform_int(0, x)
            else:
                y //= 2
                x //= 2
            res = res[y:y + h_out, x:x + w_out]
        if p.brightness > 0 or p.contrast > 0 or p.saturation > 0:
            res = self._color_jitter(res, rnd, cv)
        if p.random_h != 0 or p.random_s != 0 or p.random_l != 0:
            res = self._hls(res, rnd, cv)
        if p.pca_noise > 0:
            res = self._pca(res, rnd)
        return res

    def _color_jitter(self, res, rnd, cv):
        p = self.p
        f32 = np.float32
        alpha_b = f32(1.0 + float(rnd.uniform_float(-p.brightness, p.brightness)))
        alpha_c = f32(1.0 + float(rnd.uniform_float(-p.contrast, p.contrast)))
        alpha_s = f32(1.0 + float(rnd.uniform_float(-p.saturation, p.saturation)))
        order = [0, 1, 2]
        rnd.shuffle(order)
        res = np.ascontiguousarray(res)
        for i in order:
            if i == 0:
                res = _convert_to(res, float(alpha_b), 0.0)
            elif i == 1:
                gray = cv.cvtColor(res, cv.COLOR_RGB2GRAY)     # sic: MXNet's conversion
                mean = f32(cv.mean(gray)[0])
                res = _convert_to(res, float(alpha_c), float(f32(f32(1) - alpha_c) * mean))
            else:
                gray = cv.cvtColor(cv.cvtColor(res, cv.COLOR_RGB2GRAY), cv.COLOR_GRAY2BGR)
                res = cv.addWeighted(res, float(alpha_s), gray, float(f32(1) - alpha_s), 0.0)
        return res

    def _hls(self, res, rnd, cv):
        p = self.p
        hls = cv.cvtColor(np.ascontiguousarray(res), cv.COLOR_BGR2HLS).astype(np.int32)
        draws = []
        for _ in range(3):
            r = rnd.canonical_float()
            r = np.float32(r + np.float32(4) * rnd.canonical_float())
            draws.append(np.float32(r / np.float32(5)))
        rh, rs, rl = draws
        h = int(np.float32(rh * np.float32(p.random_h) * 2 - p.random_h))
        s = int(np.float32(rs * np.float32(p.random_s) * 2 - p.random_s))
        lum = int(np.float32(rl * np.float32(p.random_l) * 2 - p.random_l))
        hls += np.array([h, lum, s], np.int32)
        np.clip(hls, 0, np.array([180, 255, 255], np.int32), out=hls)
        return cv.cvtColor(hls.astype(np.uint8), cv.COLOR_HLS2BGR)

    _F = np.float32
    # eigval * eigvec, products in float32 as MXNet's table
    _EIGVEC = [[_F(55.46) * _F(-0.5675), _F(4.794) * _F(0.7192), _F(1.148) * _F(0.4009)],
               [_F(55.46) * _F(-0.5808), _F(4.794) * _F(-0.0045), _F(1.148) * _F(-0.8140)],
               [_F(55.46) * _F(-0.5836), _F(4.794) * _F(-0.6948), _F(1.148) * _F(0.4203)]]

    def _pca(self, res, rnd):
        normal = rnd.normal(0.0, self.p.pca_noise)      # one distribution, three draws
        a = [next(normal) for _ in range(3)]
        e = self._EIGVEC
        pca_r, pca_g, pca_b = (e[i][0] * a[0] + e[i][1] * a[1] + e[i][2] * a[2] for i in range(3))
        pca = np.array([pca_b, pca_g, pca_r], np.float32)        # the image is BGR
        # MXNet: int v = pixel; v += pca[k] (float sum truncated to int); clamp to [0, 255]
        out = np.trunc(res.astype(np.float32) + pca)
        return np.clip(out, 0, 255).astype(np.uint8)


def _convert_to(img, alpha, beta):
    """OpenCV's ``Mat::convertTo(dst, -1, alpha, beta)`` on uint8: round and saturate."""
    return np.clip(np.rint(img.astype(np.float32) * np.float32(alpha) + np.float32(beta)),
                   0, 255).astype(np.uint8)


# --- ImageRecordIter ----------------------------------------------------------------------------
_REC_PARAMS = {
    # ImageRecParserParam
    "path_imglist": (str, ""), "path_imgrec": (str, ""), "path_imgidx": (str, ""),
    "aug_seq": (str, "aug_default"), "label_width": (int, 1), "data_shape": ("shape", None),
    "preprocess_threads": (int, 4), "verbose": (bool, True), "num_parts": (int, 1),
    "part_index": (int, 0), "device_id": (int, 0), "shuffle_chunk_size": (int, 0),
    "shuffle_chunk_seed": (int, 0), "seed_aug": (None, None),
    # ImageRecordParam
    "shuffle": (bool, False), "seed": (int, 0),
    # BatchParam
    "batch_size": (int, None), "round_batch": (bool, True),
    **_PREFETCH,
    # DefaultImageAugmentParam
    "resize": (int, -1), "rand_crop": (bool, False), "random_resized_crop": (bool, False),
    "max_rotate_angle": (int, 0), "max_aspect_ratio": (float, 0.0),
    "min_aspect_ratio": (None, None), "max_shear_ratio": (float, 0.0),
    "max_crop_size": (int, -1), "min_crop_size": (int, -1), "max_random_scale": (float, 1.0),
    "min_random_scale": (float, 1.0), "max_random_area": (float, 1.0),
    "min_random_area": (float, 1.0), "max_img_size": (float, 1e10), "min_img_size": (float, 0.0),
    "brightness": (float, 0.0), "contrast": (float, 0.0), "saturation": (float, 0.0),
    "pca_noise": (float, 0.0), "random_h": (int, 0), "random_s": (int, 0), "random_l": (int, 0),
    "rotate": (int, -1), "fill_value": (int, 255), "inter_method": (int, 1), "pad": (int, 0),
    "rotate_list": (None, None),
    # ImageNormalizeParam
    "mirror": (bool, False), "rand_mirror": (bool, False), "mean_img": (str, ""),
    "mean_r": (float, 0.0), "mean_g": (float, 0.0), "mean_b": (float, 0.0),
    "mean_a": (float, 0.0), "std_r": (float, 1.0), "std_g": (float, 1.0), "std_b": (float, 1.0),
    "std_a": (float, 1.0), "scale": (float, 1.0), "max_random_contrast": (float, 0.0),
    "max_random_illumination": (float, 0.0),
    # mxc
    "skip_bad_records": (bool, False),
}

_CHUNK_BYTES = 64 << 20


class _Slot:
    __slots__ = ("error", "id", "ok")

    def __init__(self):
        self.ok = False
        self.id = 0
        self.error = None


class ImageRecordIter(_NativeIter):
    """Batches of images from a RecordIO file made by im2rec (MXNet's
    ``mx.io.ImageRecordIter``): decoded, augmented, normalised, in NCHW.

    Takes MXNet's keyword arguments: ``path_imgrec`` (required), ``data_shape`` (required,
    (channels, height, width); 1 channel decodes grey, 3 colour, 4 keeps alpha),
    ``batch_size`` (required), ``path_imgidx``, ``path_imglist`` (labels by record id),
    ``label_width``, ``shuffle``, ``seed``, ``round_batch``, ``num_parts``, ``part_index``,
    ``preprocess_threads``, ``prefetch_buffer``, ``dtype`` ('float32', 'uint8', 'int8'),
    the augmenter's (``resize``, ``rand_crop``, ``random_resized_crop``, ``max_rotate_angle``,
    ``rotate``, ``max_aspect_ratio``, ``min_aspect_ratio``, ``max_shear_ratio``,
    ``min/max_crop_size``, ``min/max_random_scale``, ``min/max_random_area``,
    ``min/max_img_size``, ``brightness``, ``contrast``, ``saturation``, ``pca_noise``,
    ``random_h/s/l``, ``fill_value``, ``inter_method``, ``pad``), ``seed_aug``, the
    normaliser's (``mirror``, ``rand_mirror``, ``mean_img``, ``mean_r/g/b/a``,
    ``std_r/g/b/a``, ``scale``, ``max_random_contrast``, ``max_random_illumination``),
    ``data_name``, ``label_name``; mxc adds ``skip_bad_records``.
    """

    _ITER = "ImageRecordIter"
    _DEFAULT_DTYPE = None

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError(f"{self._ITER} can only accept keyword arguments")
        super(MXDataIter, self).__init__()
        it = self._ITER
        p = _Params(it, self._SPEC, kwargs, _COMMON_EXTRA)
        self._p = p
        for req in ("path_imgrec", "data_shape", "batch_size"):
            if not getattr(p, req):
                raise MXNetError(f"{it}: required argument {req!r} is missing")
        if len(p.data_shape) != 3:
            raise ShapeError(f"{it}: data_shape must be (channels, height, width); got "
                             f"{p.data_shape}")
        if p.data_shape[0] not in (1, 3, 4):
            raise ShapeError(f"{it}: data_shape must have 1, 3 or 4 channels; got "
                             f"{p.data_shape}")
        if p.batch_size < 1:
            raise MXNetError(f"{it}: batch_size must be >= 1; got {p.batch_size}")
        if p.label_width < self._MIN_LABEL_WIDTH:
            raise MXNetError(f"{it}: label_width must be >= {self._MIN_LABEL_WIDTH}; got "
                             f"{p.label_width}")
        if p.preprocess_threads < 1:
            raise MXNetError(f"{it}: preprocess_threads must be >= 1; got "
                             f"{p.preprocess_threads}")
        if p.aug_seq.strip() not in (self._AUG, ""):
            raise MXNetError(f"{it}: unknown augmenter {p.aug_seq!r} in aug_seq; the "
                             f"registered one is {self._AUG!r}")
        if hasattr(p, "min_aspect_ratio"):
            p.min_aspect_ratio = None if p.min_aspect_ratio in (None, "None") \
                else float(p.min_aspect_ratio)
        p.seed_aug = None if p.seed_aug in (None, "None") else _int(p.seed_aug, "seed_aug", it)
        dt = _dtype(p.dtype, it, ("float32", "uint8", "int8")) if p.dtype is not None \
            else self._DEFAULT_DTYPE
        self._out_dtype = np.dtype(np.float32) if dt is None else dt
        from mxc.image import _codec
        _codec.cv2()            # the image extra, or a clear error now
        from mxc.recordio import RecordFile
        if not os.path.exists(p.path_imgrec):
            raise _missing(p.path_imgrec, "path_imgrec", it)
        self._aug = self._make_aug(p, it)
        self._label_map = self._read_imglist(p.path_imglist) if p.path_imglist else None
        if p.path_imgidx:
            self._rf = RecordFile(p.path_imgrec)
            order = self._read_idx_offsets(p.path_imgidx)
            self._recs = order
            source = _IndexedSource(len(order), p.part_index, p.num_parts, p.shuffle, p.seed)
            legacy = False
        else:
            self._rf = RecordFile(p.path_imgrec, p.part_index, p.num_parts)
            self._recs = None
            chunk = (p.shuffle_chunk_size << 17) if p.shuffle_chunk_size > 0 \
                else self._CHUNK_BYTES
            source = _ChunkSource(self._rf, chunk)
            legacy = p.shuffle
        self._planner = self._make_planner(source, legacy)
        self._seeds = MT19937(self._RAND + p.seed)
        self._norm = self._normalizer()
        c, h, w = p.data_shape
        lw = self._label_cols()
        self._label_shape = (p.batch_size,) if lw == 1 else (p.batch_size, lw)
        self._nbuf = max(2, p.prefetch_buffer) + 1
        self._bufs = [(np.zeros((p.batch_size, c, h, w), self._out_dtype),
                       np.zeros((p.batch_size, lw), np.float32))
                      for _ in range(self._nbuf)]
        self._next_buf = 0
        self._pool = ThreadPoolExecutor(max_workers=p.preprocess_threads,
                                        thread_name_prefix=it)
        self._inflight = []           # [(buf index, futures, slots, pad)]
        self._epoch_done = False
        self._lock = threading.Lock()
        if p.verbose:
            _log.info("%s: %s, use %d threads for decoding..", it, p.path_imgrec,
                      p.preprocess_threads)
        if self._mean_img is None and p.mean_img and self._out_dtype != np.uint8:
            self._make_mean_img(p.mean_img)
        self._pad = 0
        self._index = None
        self._start(kwargs.get("data_name", "data"), kwargs.get("label_name", "softmax_label"))

    # -- set-up -----------------------------------------------------------------------------------
    _SPEC = _REC_PARAMS
    _AUG = "aug_default"
    _MIN_LABEL_WIDTH = 1
    _RAND = _RAND_MAGIC
    _CHUNK_BYTES = _CHUNK_BYTES

    def _make_aug(self, p, it):
        return _DefaultAug(p, it)

    def _make_planner(self, source, legacy):
        p = self._p
        return _Planner(source, p.batch_size, p.round_batch, legacy, p.seed, self._ITER)

    def _label_cols(self):
        return self._p.label_width

    def _read_imglist(self, path):
        it = self._ITER
        lw = self._p.label_width
        table = {}
        try:
            f = open(path)
        except FileNotFoundError:
            raise _missing(path, "path_imglist", it) from None
        with f:
            for lineno, line in enumerate(f, 1):
                toks = line.split()
                if not toks:
                    continue
                try:
                    key = int(float(toks[0]))
                    labels = [float(t) for t in toks[1:1 + lw]]
                except ValueError:
                    raise FormatError(f"{it}: image list {path!r}: line {lineno}: expected "
                                      "'index<TAB>label...<TAB>path'") from None
                if len(labels) < lw:
                    raise FormatError(f"{it}: image list {path!r}: line {lineno}: "
                                      f"{len(labels)} labels; label_width is {lw}")
                table[key] = np.array(labels, np.float32)
        if self._p.verbose:
            _log.info("Loaded ImageList from %s %d Image records", path, len(table))
        return table

    def _read_idx_offsets(self, path):
        it = self._ITER
        try:
            f = open(path)
        except FileNotFoundError:
            raise _missing(path, "path_imgidx", it) from None
        offs = []
        with f:
            for lineno, line in enumerate(f, 1):
                toks = line.split()
                if not toks:
                    continue
                try:
                    offs.append((int(toks[1]), lineno))
                except (ValueError, IndexError):
                    raise FormatError(f"{it}: index file {path!r}: line {lineno}: expected "
                                      f"'key<TAB>byte offset'; got {line.rstrip()!r}") from None
        offs.sort()
        where = {o: i for i, o in enumerate(self._rf.offsets)}
        out = []
        for o, lineno in offs:
            if o not in where:
                raise FormatError(f"{it}: index file {path!r}: line {lineno}: byte offset {o} "
                                  f"is not the start of a record in {self._rf.path!r}")
            out.append(where[o])
        return out

    def _normalizer(self):
        p = self._p
        c = p.data_shape[0]
        f32 = np.float32
        self._mean_img = None
        if p.mean_img and self._out_dtype != np.uint8 and os.path.exists(p.mean_img):
            from mxc.ndarray import load
            arrs = load(p.mean_img)
            arrs = list(arrs.values()) if isinstance(arrs, dict) else list(arrs)
            if len(arrs) != 1:
                raise FormatError(f"{self._ITER}: mean_img {p.mean_img!r} holds {len(arrs)} "
                                  "arrays; expected 1 (the mean image)")
            self._mean_img = arrs[0].asnumpy().astype(np.float32)
            if self._mean_img.shape != tuple(p.data_shape):
                raise ShapeError(f"{self._ITER}: mean_img {p.mean_img!r} has shape "
                                 f"{self._mean_img.shape}; expected {tuple(p.data_shape)}")
        std = np.array([p.std_r, p.std_g, p.std_b, p.std_a], f32)
        mean = np.array([p.mean_r, p.mean_g, p.mean_b, p.mean_a], f32)
        if c == 1:
            std, mean = std[:1], mean[:1]
        else:
            std, mean = std[:c], mean[:c]
        return {"std": std, "mean": mean, "mean_int": np.round(mean).astype(np.int16)}

    def _make_mean_img(self, path):
        """MXNet's CreateMeanImg: the mean of every image of the part after augmentation,
        saved as an NDArray file ``{'mean_img': ...}``."""
        from mxc.ndarray import array, save
        p = self._p
        if p.verbose:
            _log.info("Cannot find %s: create mean image, this will take some time...", path)
        total = np.zeros(p.data_shape, np.float64)
        n = 0
        rnd = MT19937(_RAND_MAGIC)
        c = p.data_shape[0]
        for i in range(len(self._rf)):
            res, _, _ = self._load(i, rnd)
            res = res if res.ndim == 3 else res[:, :, None]
            if c >= 3:
                res = res[:, :, [2, 1, 0] + ([3] if c == 4 else [])]
            total += res.transpose(2, 0, 1)
            n += 1
        if n == 0:
            raise MXNetError(f"{self._ITER}: no images to compute mean_img from")
        self._mean_img = (total / n).astype(np.float32)
        save(path, {"mean_img": array(self._mean_img)})
        if p.verbose:
            _log.info("Save mean image to %s..", path)

    # -- one record -------------------------------------------------------------------------------
    def _where(self, i):
        rf = self._rf
        return f"record {i} at byte offset {rf.offsets[i]} of {rf.path!r}"

    def _load(self, i, rnd):
        """Decode and augment record ``i``: ``(image HWC/HW uint8 BGR, labels, id)``."""
        from mxc.image import _codec
        p = self._p
        it = self._ITER
        payload = self._rf.record(i)
        if len(payload) < 24:
            raise FormatError(f"{it}: {self._where(i)}: {len(payload)} bytes is shorter than "
                              "the 24-byte image record header")
        flag, label, rid, _ = struct.unpack_from("<IfQQ", payload, 0)
        content = payload[24:]
        labels = None
        if flag > 0:
            if len(content) < 4 * flag:
                raise FormatError(f"{it}: {self._where(i)}: its header says {flag} labels but "
                                  f"only {len(content)} bytes follow")
            labels = np.frombuffer(content, np.float32, flag)
            content = content[4 * flag:]
        if self._label_map is not None:
            if rid not in self._label_map:
                raise FormatError(f"{it}: {self._where(i)}: image id {rid} is not in "
                                  f"path_imglist {p.path_imglist!r}")
            lab = self._label_map[rid]
        elif labels is not None:
            if labels.size != p.label_width:
                raise FormatError(f"{it}: {self._where(i)}: the record provides a "
                                  f"{labels.size}-dimensional label but label_width is "
                                  f"{p.label_width}")
            lab = labels
        else:
            if p.label_width != 1:
                raise FormatError(f"{it}: {self._where(i)}: label_width must be 1 unless an "
                                  "imglist is provided or the rec file is packed with multi "
                                  "dimensional label")
            lab = np.array([label], np.float32)
        c = p.data_shape[0]
        flag_cv = 0 if c == 1 else (1 if c == 3 else -1)
        img = _codec.decode(content, flag_cv, bgr=True,
                            what=f"{it}: {self._where(i)} (image id {rid})")
        if c == 4 and (img.ndim != 3 or img.shape[2] != 4):
            raise FormatError(f"{it}: invalid image with index {rid} ({self._where(i)}): "
                              f"expected 4 channels, got {1 if img.ndim == 2 else img.shape[2]}")
        res = self._aug(img, rnd)
        return res, lab, rid

    def _work(self, i, idx, seed, data_out, label_out, slot):
        """Fill one batch row: decode, augment, mirror, normalise (on a worker thread)."""
        p = self._p
        try:
            rnd = self._engine(seed if p.seed_aug is None else idx + p.seed_aug + _RAND_MAGIC)
            res, lab, rid = self._load(i, rnd)
            self._write(res, rnd, data_out)
            label_out[...] = lab
            slot.id = rid
            slot.ok = True
        except FormatError as e:
            if not p.skip_bad_records:
                slot.error = e
            else:
                slot.error = None
                warnings.warn(f"{self._ITER}: skipping a bad record: {e}", stacklevel=1)
        except MXNetError as e:
            slot.error = e
        except Exception as e:  # noqa: BLE001  (re-raised on the consumer's thread)
            slot.error = MXNetError(f"{self._ITER}: {self._where(i)}: {type(e).__name__}: {e}")

    def _engine(self, seed):
        """This thread's generator, re-seeded (seeding is cheap; making one is not)."""
        tls = self.__dict__.setdefault("_tls", threading.local())
        rnd = getattr(tls, "rnd", None)
        if rnd is None:
            rnd = tls.rnd = MT19937(seed)
        else:
            rnd.seed(seed)
        return rnd

    def _write(self, res, rnd, out):
        p = self._p
        if res.ndim == 2:
            res = res[:, :, None]
        c = res.shape[2]
        h, w = p.data_shape[1], p.data_shape[2]
        if res.shape[0] != h or res.shape[1] != w or c != p.data_shape[0]:
            raise ShapeError(f"{self._ITER}: an augmented image has shape {res.shape}; "
                             f"expected ({h}, {w}, {p.data_shape[0]})")
        mirrored = (p.rand_mirror and rnd.bernoulli(0.5)) or p.mirror
        dt = self._out_dtype
        if c == 3:
            src = res[:, :, ::-1]                   # BGR -> RGB (a view)
        elif c == 4:
            src = res[:, :, [2, 1, 0, 3]]           # BGRA -> RGBA
        else:
            src = res
        chw = src.transpose(2, 0, 1)
        if dt == np.uint8:
            out[...] = chw[:, :, ::-1] if mirrored else chw
            return
        if dt == np.int8:
            mean = self._mean_img
            if mean is not None:
                v = chw.astype(np.int16) - np.round(mean).astype(np.int16)
            else:
                v = chw.astype(np.int16) - self._norm["mean_int"][:, None, None]
            v = np.clip(v, -128, 127).astype(np.int8)
            out[...] = v[:, :, ::-1] if mirrored else v
            return
        f32 = np.float32
        contrast = f32(f32(f32(f32(rnd.canonical_float() * f32(p.max_random_contrast)) * f32(2))
                           - f32(p.max_random_contrast) + f32(1)) * f32(p.scale))
        illum = f32(f32(f32(rnd.canonical_float() * f32(p.max_random_illumination)) * f32(2)
                        - f32(p.max_random_illumination)) * f32(p.scale))
        std = self._norm["std"]
        mult = (contrast / std).astype(f32)
        bias = (illum / std).astype(f32)
        if self._mean_img is not None:
            # the mean image is taken at the source position, before mirroring (as MXNet)
            x = chw.astype(f32)
            x -= self._mean_img
            x = x[:, :, ::-1] if mirrored else x
            out[...] = x
        else:
            out[...] = chw[:, :, ::-1] if mirrored else chw    # one pass: convert + place
            if self._norm["mean"].any():
                out -= self._norm["mean"][:, None, None]
        # (x - mean) * mult + bias, in float32 and in this order, as MXNet
        if (mult != 1).any():
            out *= mult[:, None, None]
        if bias.any():
            out += bias[:, None, None]

    # -- batches ----------------------------------------------------------------------------------
    def _submit(self):
        """Plan the next batch and start its rows on the workers; False at the epoch's end."""
        if self._epoch_done:
            return False
        plan = self._planner.parse_next()
        if plan is None:
            self._epoch_done = True
            return False
        slots, pad = plan
        b = self._next_buf
        self._next_buf = (b + 1) % self._nbuf
        data, label = self._bufs[b]
        states = []
        futures = []
        for r, s in enumerate(slots):
            st = _Slot()
            states.append(st)
            if s is None:
                data[r] = 0
                label[r] = 0
                continue
            rec, idx = s
            if self._recs is not None:
                rec = self._recs[rec]
            seed = self._seeds()
            futures.append(self._pool.submit(self._work, rec, idx, seed, data[r], label[r], st))
        self._inflight.append((b, futures, states, pad))
        return True

    def _fill(self):
        while len(self._inflight) < max(1, self._p.prefetch_buffer) and self._submit():
            pass

    def _next(self):
        self._fill()
        if not self._inflight:
            return False
        b, futures, states, pad = self._inflight.pop(0)
        for f in futures:
            f.result()
        for st in states:
            if st.error is not None:
                self._abandon()
                raise st.error
        data, label = self._bufs[b]
        bad = [r for r, st in enumerate(states) if not st.ok]
        n_planned = self._p.batch_size - (pad if not self._p.round_batch else 0)
        bad = [r for r in bad if r < n_planned]
        if bad:
            pad = self._refill(b, states, bad, pad)
        self._fill()
        self._data = _as_nd(data)
        self._label = _as_nd(label.reshape(self._label_shape))
        self._pad = pad
        self._index = [st.id for st in states]
        return True

    def _refill(self, b, states, bad, pad):
        """``skip_bad_records``: move the good rows up and fill the rest with later records."""
        data, label = self._bufs[b]
        good = [r for r, st in enumerate(states) if st.ok]
        for dst, src in enumerate(good):
            if dst != src:
                data[dst] = data[src]
                label[dst] = label[src]
                states[dst], states[src] = states[src], states[dst]
        n = len(good)
        bs = self._p.batch_size
        while n < bs:
            plan = self._planner.parse_next(current=bs - 1)
            if plan is None:
                break
            slot = plan[0][bs - 1]
            if slot is None:
                break
            rec, idx = slot
            if self._recs is not None:
                rec = self._recs[rec]
            st = _Slot()
            self._work(rec, idx, self._seeds(), data[n], label[n], st)
            if st.error is not None:
                raise st.error
            if st.ok:
                states[n] = st
                n += 1
        data[n:] = 0
        label[n:] = 0
        return max(pad, bs - n)

    def _abandon(self):
        for _, futures, _, _ in self._inflight:
            for f in futures:
                f.cancel()
        for _, futures, _, _ in self._inflight:
            for f in futures:
                if not f.cancelled():
                    try:
                        f.result()
                    except Exception:  # noqa: BLE001, S110
                        pass
        self._inflight = []

    def _before_first(self):
        self._abandon()
        self._epoch_done = False
        self._planner.before_first()

    def close(self):
        """Stop the worker threads (also done when the iterator is garbage collected)."""
        pool = self.__dict__.get("_pool")
        if pool is not None:
            self._abandon()
            pool.shutdown(wait=True)
            self._pool = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110
            pass


class ImageRecordUInt8Iter(ImageRecordIter):
    """``ImageRecordIter`` with uint8 data (MXNet's deprecated ``ImageRecordUInt8Iter``: no
    mean/std normalisation)."""

    _ITER = "ImageRecordUInt8Iter"
    _DEFAULT_DTYPE = np.dtype(np.uint8)


class ImageRecordInt8Iter(ImageRecordIter):
    """``ImageRecordIter`` with int8 data: pixel minus the rounded mean, saturated (MXNet's
    deprecated ``ImageRecordInt8Iter``)."""

    _ITER = "ImageRecordInt8Iter"
    _DEFAULT_DTYPE = np.dtype(np.int8)


# --- ImageDetRecordIter -------------------------------------------------------------------------
class _InstanceBatches:
    """MXNet's BatchLoader over the ImageDetRecordIter instance stream: chunks of the part in
    file order (shuffled within each chunk with ``std::shuffle``), ``batch_size`` at a time;
    with ``round_batch`` the last batch wraps to the start and the next epoch continues after
    the wrapped records."""

    def __init__(self, source, batch_size, round_batch, shuffle, seed, it):
        self.source = source
        self.bs = batch_size
        self.round_batch = round_batch
        self.shuffle = shuffle
        self.rnd = MT19937(233 + seed)
        self.it = it
        self.order = []
        self.ptr = 0
        self.num_overflow = 0

    def _restart(self):
        self.source.before_first()
        self.order = []
        self.ptr = 0

    def _next_instance(self):
        while self.ptr >= len(self.order):
            chunk = self.source.next_batch(self.bs)
            if chunk is None:
                return None
            self.order = list(chunk)
            if self.shuffle:
                self.rnd.shuffle(self.order)
            self.ptr = 0
        r = self.order[self.ptr]
        self.ptr += 1
        return r

    def before_first(self):
        if not self.round_batch or self.num_overflow == 0:
            self._restart()
        else:
            self.num_overflow = 0

    def parse_next(self, current=0):
        if self.num_overflow:
            return None
        slots = [None] * self.bs
        top = current
        while top < self.bs:
            r = self._next_instance()
            if r is None:
                break
            slots[top] = (r, top)
            top += 1
        if top == self.bs:
            return slots, 0
        if top == current:
            return None
        if not self.round_batch:
            return slots, self.bs - top
        self._restart()
        while top < self.bs:
            r = self._next_instance()
            if r is None:
                raise MXNetError(f"{self.it}: number of input must be bigger than batch size")
            slots[top] = (r, top)
            top += 1
            self.num_overflow += 1
        return slots, self.num_overflow


def _tuple(v, kind, name, it):
    if isinstance(v, str):
        v = [x for x in v.strip().strip("()[]").split(",") if x.strip()]
    elif not isinstance(v, (list, tuple)):
        v = [v]
    try:
        return [kind(float(x)) if kind is int else kind(x) for x in v]
    except (TypeError, ValueError):
        raise MXNetError(f"{it}: {name} must be a tuple of numbers; got {v!r}") from None


class _DetAug:
    """MXNet's ``det_aug_default``: resize, HSL / contrast jitter, mirror, pad and the crop
    samplers (IoU / coverage constraints, ``center`` or ``overlap`` emission), then fit to
    ``data_shape`` (``force``, ``shrink`` or ``fit``), updating the boxes (fractions of the
    image) with the pixels."""

    _TUPLES = ("min_crop_scales", "max_crop_scales", "min_crop_aspect_ratios",
               "max_crop_aspect_ratios", "min_crop_overlaps", "max_crop_overlaps",
               "min_crop_sample_coverages", "max_crop_sample_coverages",
               "min_crop_object_coverages", "max_crop_object_coverages", "max_crop_trials")

    def __init__(self, p, it):
        self.p = p
        self.it = it
        if not (0 <= p.inter_method <= 4 or 9 <= p.inter_method <= 10):
            raise MXNetError(f"{it}: invalid inter_method {p.inter_method}: valid values are "
                             "0-4, 9, 10")
        if p.resize_mode not in ("force", "shrink", "fit"):
            raise MXNetError(f"{it}: resize_mode must be 'force', 'shrink' or 'fit'; got "
                             f"{p.resize_mode!r}")
        if p.crop_emit_mode not in ("center", "overlap"):
            raise MXNetError(f"{it}: crop_emit_mode must be 'center' or 'overlap'; got "
                             f"{p.crop_emit_mode!r}")
        n = p.num_crop_sampler
        for name in self._TUPLES:
            vals = _tuple(getattr(p, name), int if name == "max_crop_trials" else float,
                          name, it)
            if n > 1 and len(vals) == 1:
                vals = vals * n
            if n >= 1 and len(vals) != n:
                raise MXNetError(f"{it}: {name} has {len(vals)} values; num_crop_sampler is "
                                 f"{n}")
            setattr(self, name, vals)
        for i in range(n):
            if not (self.min_crop_scales[i] >= 0 and self.max_crop_scales[i] <= 1
                    and self.max_crop_scales[i] > self.min_crop_scales[i]
                    and self.min_crop_aspect_ratios[i] >= 0
                    and self.max_crop_aspect_ratios[i] >= self.min_crop_aspect_ratios[i]
                    and self.max_crop_overlaps[i] >= self.min_crop_overlaps[i]
                    and self.max_crop_sample_coverages[i] >= self.min_crop_sample_coverages[i]
                    and self.max_crop_object_coverages[i] >= self.min_crop_object_coverages[i]):
                raise MXNetError(f"{it}: crop sampler {i}: need 0 <= min_crop_scale < "
                                 "max_crop_scale <= 1 and min <= max for the aspect ratios, "
                                 "overlaps and coverages")

    _inter = _DefaultAug._inter

    @staticmethod
    def _parse(raw, it, where):
        raw = [float(x) for x in raw]
        if len(raw) < 7:
            raise FormatError(f"{it}: {where}: a detection label needs at least 7 values "
                              f"(header_width, object_width, then objects); got {len(raw)}")
        hw, ow = int(raw[0]), int(raw[1])
        if hw < 2 or ow < 5 or (len(raw) - hw) % ow:
            raise FormatError(f"{it}: {where}: detection label of {len(raw)} values does not "
                              f"fit header_width {hw} and object_width {ow}")
        objs = [raw[i:i + ow] for i in range(hw, len(raw), ow)]
        objs = [o for o in objs if o[3] > o[1] and o[4] > o[2]]
        return raw[:hw], ow, objs

    @staticmethod
    def _inter_area(a, b):
        w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
        h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
        return w * h if w > 0 and h > 0 else 0.0

    @staticmethod
    def _project(o, box):
        o = list(o)
        o[1] = max(0.0, (o[1] - box[0]) / box[2])
        o[2] = max(0.0, (o[2] - box[1]) / box[3])
        o[3] = min(1.0, (o[3] - box[0]) / box[2])
        o[4] = min(1.0, (o[4] - box[1]) / box[3])
        return o

    def _try_crop(self, objs, box, i):
        if not objs:
            return objs
        p = self.p
        lo_ov, hi_ov = self.min_crop_overlaps[i], self.max_crop_overlaps[i]
        lo_sc, hi_sc = self.min_crop_sample_coverages[i], self.max_crop_sample_coverages[i]
        lo_oc, hi_oc = self.min_crop_object_coverages[i], self.max_crop_object_coverages[i]
        barea = box[2] * box[3]
        if lo_ov > 0 or hi_ov < 1 or lo_sc > 0 or hi_sc < 1 or lo_oc > 0 or hi_oc < 1:
            valid = False
            for o in objs:
                gt = (o[1], o[2], o[3] - o[1], o[4] - o[2])
                inter = self._inter_area(box, gt)
                garea = gt[2] * gt[3]
                if lo_ov > 0 or hi_ov < 1:
                    ovp = inter / (barea + garea - inter) if inter > 0 else 0.0
                    if ovp < lo_ov or ovp > hi_ov:
                        continue
                if lo_sc > 0 or hi_sc < 1:
                    c = inter / barea
                    if c < lo_sc or c > hi_sc:
                        continue
                if lo_oc > 0 or hi_oc < 1:
                    c = inter / garea
                    if c < lo_oc or c > hi_oc:
                        continue
                valid = True
                break
            if not valid:
                return None
        out = []
        for o in objs:
            if p.crop_emit_mode == "center":
                cx, cy = (o[1] + o[3]) * 0.5, (o[2] + o[4]) * 0.5
                if not (box[0] <= cx < box[0] + box[2] and box[1] <= cy < box[1] + box[3]):
                    continue
                out.append(self._project(o, box))
            else:
                gt = (o[1], o[2], o[3] - o[1], o[4] - o[2])
                if self._inter_area(box, gt) / (gt[2] * gt[3]) > p.emit_overlap_thresh:
                    out.append(self._project(o, box))
        return out or None

    def __call__(self, src, label, rnd, where):
        from mxc.image import _codec
        cv = _codec.cv2()
        p = self.p
        res = src
        if p.resize != -1:
            rows, cols = src.shape[:2]
            if rows > cols:
                nh, nw = p.resize * rows // cols, p.resize
            else:
                nh, nw = p.resize, p.resize * cols // rows
            res = _codec.resize(src, nw, nh, self._inter(cols, rows, nw, nh, rnd))
        header, ow, objs = self._parse(label, self.it, where)
        if (p.random_hue_prob > 0 or p.random_saturation_prob > 0
                or p.random_illumination_prob > 0 or p.random_contrast_prob > 0):
            h = int(rnd.uniform_float(-1, 1) * np.float32(p.max_random_hue))
            s = int(rnd.uniform_float(-1, 1) * np.float32(p.max_random_saturation))
            lum = int(rnd.uniform_float(-1, 1) * np.float32(p.max_random_illumination))
            c = float(rnd.uniform_float(-1, 1) * np.float32(p.max_random_contrast))
            h = h if rnd.canonical_float() < p.random_hue_prob else 0
            s = s if rnd.canonical_float() < p.random_saturation_prob else 0
            lum = lum if rnd.canonical_float() < p.random_illumination_prob else 0
            c = c if rnd.canonical_float() < p.random_contrast_prob else 0
            if h or s or lum:
                hls = cv.cvtColor(np.ascontiguousarray(res), cv.COLOR_BGR2HLS).astype(np.int32)
                hls += np.array([h, lum, s], np.int32)
                np.clip(hls, 0, np.array([180, 255, 255], np.int32), out=hls)
                res = cv.cvtColor(hls.astype(np.uint8), cv.COLOR_HLS2BGR)
            if abs(c) > 1e-3:
                res = _convert_to(res, float(np.float32(c + 1.0)), 0.0)
        if p.rand_mirror_prob > 0 and rnd.canonical_float() < p.rand_mirror_prob:
            objs = [[o[0], 1.0 - o[3], o[2], 1.0 - o[1], o[4]] + o[5:] for o in objs]
            res = np.ascontiguousarray(res[:, ::-1])
        if p.rand_pad_prob > 0 and p.max_pad_scale > 1.0:
            if rnd.canonical_float() < p.rand_pad_prob:
                scale = float(rnd.uniform_float(1.0, p.max_pad_scale))
                if scale >= 1.05:
                    x0 = float(rnd.uniform_float(0.0, scale - 1))
                    y0 = float(rnd.uniform_float(0.0, scale - 1))
                    box = (-x0, -y0, scale, scale)
                    objs = [self._project(o, box) for o in objs]
                    rows, cols = res.shape[:2]
                    left, top = int(x0 * cols), int(y0 * rows)
                    right = int((scale - x0 - 1) * cols)
                    bot = int((scale - y0 - 1) * rows)
                    out = cv.copyMakeBorder(res, top, bot, left, right,
                                            cv.BORDER_CONSTANT | cv.BORDER_ISOLATED,
                                            value=(p.fill_value,) * 3)
                    res = out if out.ndim == res.ndim else out[:, :, None]
        if p.rand_crop_prob > 0 and p.num_crop_sampler > 0:
            if rnd.canonical_float() < p.rand_crop_prob:
                indices = list(range(p.num_crop_sampler))
                rnd.shuffle(indices)
                done = False
                for i in indices:
                    if done:
                        break
                    for _ in range(self.max_crop_trials[i]):
                        rows, cols = res.shape[:2]
                        box = self._crop_box(i, rnd, cols / rows)
                        new = self._try_crop(objs, box, i)
                        if new is not None:
                            objs = new
                            done = True
                            left, top = int(box[0] * cols), int(box[1] * rows)
                            w, h = int(box[2] * cols), int(box[3] * rows)
                            res = res[top:top + h, left:left + w]
                            break
        H, W = p.data_shape[1], p.data_shape[2]
        rows, cols = res.shape[:2]
        if p.resize_mode == "force":
            res = _codec.resize(res, W, H, self._inter(cols, rows, W, H, rnd))
        else:
            ratio = min(H / rows, W / cols)
            if p.resize_mode == "fit" or rows > H or cols > W:
                nh, nw = int(ratio * rows), int(ratio * cols)
                res = _codec.resize(res, nw, nh, self._inter(cols, rows, nw, nh, rnd))
        flat = list(header)
        for o in objs:
            flat.extend(o)
        return res, np.array(flat, np.float32)

    def _crop_box(self, i, rnd, img_ar):
        f32 = np.float32
        scale = f32(rnd.uniform_float(self.min_crop_scales[i], self.max_crop_scales[i])
                    + f32(1e-12))
        lo = max(f32(self.min_crop_aspect_ratios[i] / img_ar), f32(scale * scale))
        hi = min(f32(self.max_crop_aspect_ratios[i] / img_ar), f32(1.0 / (scale * scale)))
        ratio = f32(math.sqrt(float(rnd.uniform_float(lo, hi))))
        w = min(1.0, float(scale * ratio))
        h = min(1.0, float(scale / ratio))
        x0 = float(rnd.uniform_float(0.0, 1 - w))
        y0 = float(rnd.uniform_float(0.0, 1 - h))
        return (x0, y0, w, h)


_DET_PARAMS = {
    # ImageDetRecParserParam
    "path_imglist": (str, ""), "path_imgrec": (str, ""), "aug_seq": (str, "det_aug_default"),
    "label_width": (int, -1), "data_shape": ("shape", None), "preprocess_threads": (int, 4),
    "verbose": (bool, True), "num_parts": (int, 1), "part_index": (int, 0),
    "shuffle_chunk_size": (int, 0), "shuffle_chunk_seed": (int, 0),
    "label_pad_width": (int, 0), "label_pad_value": (float, -1.0),
    # ImageDetRecordParam, BatchParam, PrefetcherParam
    "shuffle": (bool, False), "seed": (int, 0), "batch_size": (int, None),
    "round_batch": (bool, True), **_PREFETCH,
    # DefaultImageDetAugmentParam
    "resize": (int, -1), "rand_crop_prob": (float, 0.0), "min_crop_scales": (None, (0.0,)),
    "max_crop_scales": (None, (1.0,)), "min_crop_aspect_ratios": (None, (1.0,)),
    "max_crop_aspect_ratios": (None, (1.0,)), "min_crop_overlaps": (None, (0.0,)),
    "max_crop_overlaps": (None, (1.0,)), "min_crop_sample_coverages": (None, (0.0,)),
    "max_crop_sample_coverages": (None, (1.0,)), "min_crop_object_coverages": (None, (0.0,)),
    "max_crop_object_coverages": (None, (1.0,)), "num_crop_sampler": (int, 1),
    "crop_emit_mode": (str, "center"), "emit_overlap_thresh": (float, 0.3),
    "max_crop_trials": (None, (25,)), "rand_pad_prob": (float, 0.0),
    "max_pad_scale": (float, 1.0), "max_random_hue": (int, 0), "random_hue_prob": (float, 0.0),
    "max_random_saturation": (int, 0), "random_saturation_prob": (float, 0.0),
    "max_random_illumination": (int, 0), "random_illumination_prob": (float, 0.0),
    "max_random_contrast": (float, 0.0), "random_contrast_prob": (float, 0.0),
    "rand_mirror_prob": (float, 0.0), "fill_value": (int, 127), "inter_method": (int, 1),
    "resize_mode": (str, "force"),
    # ImageDetNormalizeParam
    "mean_img": (str, ""), "mean_r": (float, 0.0), "mean_g": (float, 0.0),
    "mean_b": (float, 0.0), "mean_a": (float, 0.0), "std_r": (float, 0.0),
    "std_g": (float, 0.0), "std_b": (float, 0.0), "std_a": (float, 0.0),
    "scale": (float, 1.0),
    # mxc (shared code paths with ImageRecordIter)
    "skip_bad_records": (bool, False), "path_imgidx": (str, ""), "seed_aug": (None, None),
    "dtype": (None, None),
}


class ImageDetRecordIter(ImageRecordIter):
    """Batches of images and detection labels from a RecordIO file (MXNet's
    ``mx.io.ImageDetRecordIter``).

    Each record's label is ``[header_width, object_width, (extra header...), objects...]``,
    an object ``[class, xmin, ymin, xmax, ymax, (extra...)]`` with coordinates as fractions of
    the image. The batch label has shape ``(batch_size, 4 + label_pad_width)``: per image
    ``[channels, height, width, n, label (n values, after augmentation)...]`` padded with
    ``label_pad_value``; ``label_pad_width`` 0 (the default) is the widest label in the file.
    Takes MXNet's arguments: the parser's (``path_imgrec``, ``path_imglist``, ``data_shape``,
    ``batch_size``, ``label_width``, ``label_pad_width``, ``label_pad_value``, ``shuffle``,
    ``seed``, ``round_batch``, ``num_parts``, ``part_index``, ``preprocess_threads``), the
    augmenter's (``resize``, ``resize_mode``, ``rand_crop_prob`` and the crop samplers'
    ``min/max_crop_scales``, ``..._aspect_ratios``, ``..._overlaps``,
    ``..._sample_coverages``, ``..._object_coverages``, ``num_crop_sampler``,
    ``crop_emit_mode``, ``emit_overlap_thresh``, ``max_crop_trials``; ``rand_pad_prob``,
    ``max_pad_scale``, ``fill_value``; ``rand_mirror_prob``; ``max_random_hue`` /
    ``saturation`` / ``illumination`` / ``contrast`` and their ``random_..._prob``;
    ``inter_method``) and the normaliser's (``mean_r/g/b/a``, ``std_r/g/b/a`` (0: none),
    ``scale``). With ``resize_mode`` 'shrink' or 'fit' a smaller image sits in the top-left
    corner of its zero-filled slot.
    """

    _ITER = "ImageDetRecordIter"
    _SPEC = _DET_PARAMS
    _AUG = "det_aug_default"
    _MIN_LABEL_WIDTH = -1
    _RAND = 233
    _CHUNK_BYTES = 8 << 20

    def _make_aug(self, p, it):
        return _DetAug(p, it)

    def _make_planner(self, source, legacy):
        p = self._p
        return _InstanceBatches(source, p.batch_size, p.round_batch, p.shuffle, p.seed,
                                self._ITER)

    def _label_cols(self):
        p = self._p
        widest = 0
        if self._label_map is not None:
            widest = max((v.size for v in self._label_map.values()), default=0)
        else:
            for i in range(len(self._rf)):
                payload = self._rf.record(i)
                flag = struct.unpack_from("<I", payload, 0)[0] if len(payload) >= 4 else 0
                if flag == 0:
                    raise FormatError(f"{self._ITER}: {self._where(i)}: not enough label packed "
                                      "in img_list or rec file (a detection record needs a "
                                      "label array)")
                if p.label_width > 0 and flag != p.label_width:
                    raise FormatError(f"{self._ITER}: {self._where(i)}: the record provides a "
                                      f"{flag}-dimensional label but label_width is "
                                      f"{p.label_width}")
                widest = max(widest, flag)
        if widest > p.label_pad_width:
            if p.label_pad_width > 0:
                raise MXNetError(f"{self._ITER}: label_pad_width {p.label_pad_width} is smaller "
                                 f"than the widest label, {widest}")
            p.label_pad_width = widest
        if p.verbose:
            _log.info("%s: label padding width: %d", self._ITER, p.label_pad_width)
        return p.label_pad_width + 4

    def _read_imglist(self, path):
        it = self._ITER
        table = {}
        try:
            f = open(path)  # noqa: SIM115
        except FileNotFoundError:
            raise _missing(path, "path_imglist", it) from None
        with f:
            for lineno, line in enumerate(f, 1):
                toks = line.split()
                if len(toks) < 3:
                    continue
                try:
                    key = int(float(toks[0]))
                    vals = [float(t) for t in toks[1:-1]]
                except ValueError:
                    raise FormatError(f"{it}: image list {path!r}: line {lineno}: expected "
                                      "'index<TAB>labels...<TAB>path'") from None
                if self._p.label_width > 0 and len(vals) != self._p.label_width:
                    raise FormatError(f"{it}: image list {path!r}: line {lineno}: "
                                      f"{len(vals)} labels; label_width is "
                                      f"{self._p.label_width}")
                table[key] = np.array(vals, np.float32)
        return table

    def _normalizer(self):
        self._mean_img = None
        p = self._p
        if p.mean_img and os.path.exists(p.mean_img):
            from mxc.ndarray import load
            arrs = load(p.mean_img)
            arrs = list(arrs.values()) if isinstance(arrs, dict) else list(arrs)
            self._mean_img = arrs[0].asnumpy().astype(np.float32)
        return {}

    def _make_mean_img(self, path):
        from mxc.ndarray import array, save
        total = None
        n = 0
        rnd = MT19937(self._RAND)
        for i in range(len(self._rf)):
            res, _, _ = self._load(i, rnd)
            out = np.zeros(self._p.data_shape, np.float32)
            self._place(res, out)
            total = out.astype(np.float64) if total is None else total + out
            n += 1
        if n == 0:
            raise MXNetError(f"{self._ITER}: no images to compute mean_img from")
        self._mean_img = (total / n).astype(np.float32)
        save(path, {"mean_img": array(self._mean_img)})

    def _load(self, i, rnd):
        from mxc.image import _codec
        p = self._p
        it = self._ITER
        payload = self._rf.record(i)
        if len(payload) < 24:
            raise FormatError(f"{it}: {self._where(i)}: {len(payload)} bytes is shorter than "
                              "the 24-byte image record header")
        flag, _, rid, _ = struct.unpack_from("<IfQQ", payload, 0)
        content = payload[24:]
        labels = None
        if flag > 0:
            if len(content) < 4 * flag:
                raise FormatError(f"{it}: {self._where(i)}: its header says {flag} labels but "
                                  f"only {len(content)} bytes follow")
            labels = np.frombuffer(content, np.float32, flag)
            content = content[4 * flag:]
        if self._label_map is not None:
            if rid not in self._label_map:
                raise FormatError(f"{it}: {self._where(i)}: image id {rid} is not in "
                                  f"path_imglist {p.path_imglist!r}")
            lab = self._label_map[rid]
        elif labels is not None:
            lab = labels
        else:
            raise FormatError(f"{it}: {self._where(i)}: not enough label packed in img_list or "
                              "rec file")
        c = p.data_shape[0]
        img = _codec.decode(content, 0 if c == 1 else (1 if c == 3 else -1), bgr=True,
                            what=f"{it}: {self._where(i)} (image id {rid})")
        if c == 4 and (img.ndim != 3 or img.shape[2] != 4):
            raise FormatError(f"{it}: invalid image with index {rid} ({self._where(i)}): "
                              "expected 4 channels")
        res, lab = self._aug(img, lab, rnd, self._where(i))
        return res, lab, rid

    def _place(self, res, out):
        if res.ndim == 2:
            res = res[:, :, None]
        c = res.shape[2]
        if c >= 3:
            res = res[:, :, [2, 1, 0, 3][:c]]
        out[...] = 0
        out[:, :res.shape[0], :res.shape[1]] = res.transpose(2, 0, 1)

    def _work(self, i, idx, seed, data_out, label_out, slot):
        p = self._p
        try:
            res, lab, rid = self._load(i, self._engine(seed))
            if lab.size > p.label_pad_width:
                raise FormatError(f"{self._ITER}: {self._where(i)}: a label of {lab.size} "
                                  f"values does not fit label_pad_width {p.label_pad_width}")
            self._place(res, data_out)
            x = data_out
            if p.mean_r > 0 or p.mean_g > 0 or p.mean_b > 0 or p.mean_a > 0:
                means = [p.mean_r, p.mean_g, p.mean_b, p.mean_a]
                x[0] -= np.float32(p.mean_r)
                if x.shape[0] >= 3:
                    x[1] -= np.float32(p.mean_g)
                    x[2] -= np.float32(p.mean_b)
                if x.shape[0] == 4:
                    x[3] -= np.float32(means[3])
            elif self._mean_img is not None:
                x -= self._mean_img
            stds = [p.std_r, p.std_g, p.std_b, p.std_a]
            for k in range(x.shape[0]):
                sd = stds[0] if x.shape[0] == 1 else stds[k]
                if (k == 0 or x.shape[0] >= 3) and sd > 0:
                    x[k] /= np.float32(sd)
            if p.scale != 1.0:
                x *= np.float32(p.scale)
            label_out[...] = np.float32(p.label_pad_value)
            rows, cols = res.shape[:2]
            label_out[0] = 1 if res.ndim == 2 else res.shape[2]
            label_out[1] = rows
            label_out[2] = cols
            label_out[3] = lab.size
            label_out[4:4 + lab.size] = lab
            slot.id = rid
            slot.ok = True
        except FormatError as e:
            if not p.skip_bad_records:
                slot.error = e
            else:
                warnings.warn(f"{self._ITER}: skipping a bad record: {e}", stacklevel=1)
        except MXNetError as e:
            slot.error = e
        except Exception as e:  # noqa: BLE001  (re-raised on the consumer's thread)
            slot.error = MXNetError(f"{self._ITER}: {self._where(i)}: {type(e).__name__}: {e}")
