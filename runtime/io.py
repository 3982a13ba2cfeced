"""``mx.io``: MXNet 1.x's data iterators (``DataDesc``, ``DataBatch``, ``DataIter``,
``NDArrayIter``, ``ResizeIter``, ``PrefetchingIter``, ``CSVIter``; MXNet's native
``ImageRecordIter``, ``ImageRecordUInt8Iter``, ``ImageRecordInt8Iter``, ``ImageDetRecordIter``,
``MNISTIter`` and ``LibSVMIter`` are in io_record.py, served from here).

Names, signatures, defaults and batch contents follow MXNet 1.9.1's ``python/mxnet/io/io.py``,
including its less obvious behaviours, because training scripts depend on them:

* ``NDArrayIter`` names a single array ``data_name`` / ``label_name`` (``'data'`` /
  ``'softmax_label'``), a list of arrays ``'_0_data'``, ``'_1_data'`` ..., and sorts the sources
  of a dict (and of a list) by name.
* numpy inputs become float32 NDArrays (``mx.nd.array``'s default); NDArray inputs keep their
  dtype until a shuffle, which copies through numpy and so also makes them float32, as in MXNet.
* ``last_batch_handle='pad'`` fills the last batch from the start of the data and reports the
  count in ``pad``; ``'discard'`` drops it; ``'roll_over'`` carries it into the first batch of the
  next epoch, whose ``pad`` is then the number of carried samples (MXNet's value).
* ``shuffle=True`` draws from numpy's global RNG (``np.random.shuffle``) once at construction
  and at every ``reset``, so ``np.random.seed`` reproduces MXNet's order exactly.

Batches are copies: changing a batch's arrays never changes the iterator's data. Slicing is data
movement on the arrays' storage, not an operator, so it does not go through the compiler.
"""
from __future__ import annotations

import threading
from collections import OrderedDict, namedtuple

import numpy as np
import torch

from mxc.base import MXNetError, ShapeError
from mxc.ndarray import NDArray
from mxc.ndarray import array as nd_array

__all__ = [
    "CSVIter",
    "DataBatch",
    "DataDesc",
    "DataIter",
    "ImageDetRecordIter",  # noqa: F822  (module __getattr__)
    "ImageRecordInt8Iter",  # noqa: F822  (module __getattr__)
    "ImageRecordIter",  # noqa: F822  (module __getattr__)
    "ImageRecordUInt8Iter",  # noqa: F822  (module __getattr__)
    "LibSVMIter",  # noqa: F822  (module __getattr__)
    "MNISTIter",  # noqa: F822  (module __getattr__)
    "MXDataIter",
    "NDArrayIter",
    "PrefetchingIter",
    "ResizeIter",
]

mx_real_t = np.float32


# --- descriptors and batches ----------------------------------------------------------------------
class DataDesc(namedtuple("DataDesc", ["name", "shape"])):
    """Name, shape, dtype and layout of one data or label input.

    A ``(name, shape)`` namedtuple (so it compares and unpacks as one) with two more attributes,
    ``dtype`` (default ``numpy.float32``) and ``layout`` (default ``'NCHW'``); ``layout``'s ``N``
    marks the batch axis.
    """

    def __new__(cls, name, shape, dtype=mx_real_t, layout="NCHW"):
        ret = super(cls, DataDesc).__new__(cls, name, shape)
        ret.dtype = dtype
        ret.layout = layout
        return ret

    def __repr__(self):
        return f"DataDesc[{self.name},{self.shape},{self.dtype},{self.layout}]"

    @staticmethod
    def get_batch_axis(layout):
        """The axis of ``N`` in ``layout`` (0 when ``layout`` is None; -1 when it has no N)."""
        if layout is None:
            return 0
        return layout.find("N")

    @staticmethod
    def get_list(shapes, types):
        """DataDescs from ``[(name, shape), ...]`` and optionally ``[(name, dtype), ...]``."""
        if types is not None:
            type_dict = dict(types)
            return [DataDesc(x[0], x[1], type_dict[x[0]]) for x in shapes]
        return [DataDesc(x[0], x[1]) for x in shapes]


class DataBatch:
    """One batch: lists of data and label NDArrays, and its pad count, indices, bucket key and
    optional ``provide_data`` / ``provide_label`` descriptions."""

    def __init__(self, data, label=None, pad=None, index=None, bucket_key=None,
                 provide_data=None, provide_label=None):
        if data is not None and not isinstance(data, (list, tuple)):
            raise TypeError(f"DataBatch: data must be a list of NDArrays; got "
                            f"{type(data).__name__}")
        if label is not None and not isinstance(label, (list, tuple)):
            raise TypeError(f"DataBatch: label must be a list of NDArrays; got "
                            f"{type(label).__name__}")
        self.data = data
        self.label = label
        self.pad = pad
        self.index = index
        self.bucket_key = bucket_key
        self.provide_data = provide_data
        self.provide_label = provide_label

    def __str__(self):
        data_shapes = [d.shape for d in self.data]
        label_shapes = [lb.shape for lb in self.label] if self.label else None
        return f"{self.__class__.__name__}: data shapes: {data_shapes} label shapes: {label_shapes}"


class DataIter:
    """Base class of the data iterators: Python's iterator protocol over ``next()``, which
    returns a :class:`DataBatch` built from ``getdata`` / ``getlabel`` / ``getpad`` /
    ``getindex`` while ``iter_next()`` is true, then raises ``StopIteration``."""

    def __init__(self, batch_size=0):
        self.batch_size = batch_size

    def __iter__(self):
        return self

    def reset(self):
        """Go back to the beginning of the data."""

    def next(self):
        """The next :class:`DataBatch`; ``StopIteration`` at the end of the data."""
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(),
                             pad=self.getpad(), index=self.getindex())
        raise StopIteration

    def __next__(self):
        return self.next()

    def iter_next(self):
        """Move to the next batch; whether there was one."""

    def getdata(self):
        """The data of the current batch (list of NDArray)."""

    def getlabel(self):
        """The label of the current batch (list of NDArray)."""

    def getindex(self):
        """The example indices of the current batch (numpy array), or None."""
        return

    def getpad(self):
        """How many examples at the end of the current batch are padding."""


# --- helpers: canonical inputs and data movement --------------------------------------------------
def _init_data(data, allow_empty, default_name, what):
    """``data`` as MXNet's sorted ``[(name, NDArray), ...]``."""
    if data is None:
        if not allow_empty:
            raise ValueError(f"NDArrayIter: {what} must be given")
        data = []
    if isinstance(data, (np.ndarray, NDArray, torch.Tensor)):
        data = [data]
    if isinstance(data, (list, tuple)):
        data = list(data)
        if not allow_empty and not data:
            raise ValueError(f"NDArrayIter: {what} is an empty list; expected at least one array")
        if len(data) == 1:
            data = OrderedDict([(default_name, data[0])])
        else:
            data = OrderedDict((f"_{i}_{default_name}", d) for i, d in enumerate(data))
    if not isinstance(data, dict):
        raise TypeError(f"NDArrayIter: {what} must be an NDArray, a numpy.ndarray, a list of "
                        f"them or a dict with them as values; got {type(data).__name__}")
    out = {}
    for k, v in data.items():
        if isinstance(v, NDArray):
            out[k] = v
            continue
        try:
            out[k] = nd_array(v)
        except (TypeError, ValueError) as e:
            raise TypeError(f"NDArrayIter: invalid type '{type(v)}' for {what} {k!r}; expected "
                            "NDArray or numpy.ndarray") from e
        if out[k].ndim == 0:
            raise ShapeError(f"NDArrayIter: {what} {k!r} is a scalar; expected an array whose "
                             "first axis holds the examples")
    return sorted(out.items())


def _narrow(arr: NDArray, axis: int, start: int, end: int) -> NDArray:
    """A copy of ``arr[start:end]`` along ``axis`` (MXNet's ``slice_axis``)."""
    t = arr.torch_tensor()
    n = t.shape[axis]
    start = max(0, min(n, start))
    end = max(start, min(n, end))
    return NDArray(t.narrow(axis, start, end - start).clone(
        memory_format=torch.contiguous_format), arr.context)


def _cat(parts, axis: int) -> NDArray:
    return NDArray(torch.cat([p.torch_tensor() for p in parts], dim=axis), parts[0].context)


def _tile0(arr: NDArray, repeats: int) -> NDArray:
    reps = [1] * arr.ndim
    reps[0] = repeats
    return NDArray(arr.torch_tensor().repeat(*reps), arr.context)


# --- NDArrayIter --------------------------------------------------------------------------------
class NDArrayIter(DataIter):
    """Iterates over NDArrays or numpy arrays (or lists / dicts of them) in batches.

    Parameters
    ----------
    data : array, list of arrays or dict of str to array
    label : array, list of arrays or dict of str to array, optional
    batch_size : int, default 1
    shuffle : bool, default False
        Shuffle (with numpy's global RNG) at construction and at every ``reset``.
    last_batch_handle : {'pad', 'discard', 'roll_over'}, default 'pad'
    data_name : str, default 'data'
    label_name : str, default 'softmax_label'
    layout : str, default 'NCHW'
        Where ``N`` is, the batch axis of the batches.
    """

    def __init__(self, data, label=None, batch_size=1, shuffle=False,
                 last_batch_handle="pad", data_name="data",
                 label_name="softmax_label", layout="NCHW"):
        super().__init__(batch_size)
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise ValueError(f"NDArrayIter: last_batch_handle must be 'pad', 'discard' or "
                             f"'roll_over'; got {last_batch_handle!r}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"NDArrayIter: batch_size must be a positive integer; got "
                             f"{batch_size!r}")
        self.data = _init_data(data, False, data_name, "data")
        self.label = _init_data(label, True, label_name, "label")
        lengths = [f"data {k!r} has {v.shape[0]}" for k, v in self.data] + \
            [f"label {k!r} has {v.shape[0]}" for k, v in self.label]
        if len({v.shape[0] for _, v in self.data + self.label}) > 1:
            raise ShapeError("NDArrayIter: data and label must hold the same number of examples "
                             "(length of the first axis); " + ", ".join(lengths))

        self.idx = np.arange(self.data[0][1].shape[0])
        self.shuffle = shuffle
        self.last_batch_handle = last_batch_handle
        self.batch_size = batch_size
        self.cursor = -self.batch_size
        self.num_data = self.idx.shape[0]
        self.reset()

        self.data_list = [x[1] for x in self.data] + [x[1] for x in self.label]
        self.num_source = len(self.data_list)
        self._cache_data = None
        self._cache_label = None
        self.layout = layout

    def _descs(self, source):
        batch_axis = self.layout.find("N")
        return [DataDesc(k, tuple(list(v.shape[:batch_axis]) + [self.batch_size]
                                  + list(v.shape[batch_axis + 1:])),
                         v.dtype, layout=self.layout)
                for k, v in source]

    @property
    def provide_data(self):
        """``[DataDesc]`` of the data: names, batch shapes, dtypes, layout."""
        return self._descs(self.data)

    @property
    def provide_label(self):
        """``[DataDesc]`` of the labels."""
        return self._descs(self.label)

    def hard_reset(self):
        """Go back to the start, dropping any rolled-over examples."""
        if self.shuffle:
            self._shuffle_data()
        self.cursor = -self.batch_size
        self._cache_data = None
        self._cache_label = None

    def reset(self):
        """Go back to the start (with ``roll_over``, after the carried examples)."""
        if self.shuffle:
            self._shuffle_data()
        if self.last_batch_handle == "roll_over" and \
                self.num_data - self.batch_size < self.cursor < self.num_data:
            self.cursor = self.cursor - self.num_data - self.batch_size
        else:
            self.cursor = -self.batch_size

    def iter_next(self):
        self.cursor += self.batch_size
        return self.cursor < self.num_data

    def next(self):
        if not self.iter_next():
            raise StopIteration
        data = self.getdata()
        label = self.getlabel()
        if data[0].shape[self.layout.find("N")] != self.batch_size:
            # 'discard' / 'roll_over': a short last batch is kept (for roll_over) and not returned
            self._cache_data = data
            self._cache_label = label
            raise StopIteration
        return DataBatch(data=data, label=label, pad=self.getpad(), index=None)

    def _getdata(self, data_source, start=None, end=None):
        if start is None and end is None:
            raise ValueError("NDArrayIter: give start or end")
        start = start if start is not None else 0
        if end is None:
            end = data_source[0][1].shape[0] if data_source else 0
        axis = self.layout.find("N")
        return [_narrow(x[1], axis, start, end) for x in data_source]

    def _concat(self, first_data, second_data):
        if (not first_data) or (not second_data):
            return first_data if first_data else second_data
        axis = self.layout.find("N")
        return [_cat([a, b], axis) for a, b in zip(first_data, second_data)]

    @staticmethod
    def _tile(data, repeats):
        return [_tile0(d, repeats) for d in data] if data else []

    def _batchify(self, data_source):
        if not self.cursor < self.num_data:
            raise MXNetError("NDArrayIter: the iterator is at its end; call reset()")
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            if self._cache_data is None and self._cache_label is None:
                raise MXNetError("NDArrayIter: roll_over expected examples kept from the last "
                                 "epoch; none were")
            cache = self._cache_data if self._cache_data is not None else self._cache_label
            second = self._getdata(data_source, end=self.cursor + self.batch_size)
            if self._cache_data is not None:
                self._cache_data = None
            else:
                self._cache_label = None
            return self._concat(cache, second)
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            pad = self.batch_size - self.num_data + self.cursor
            first = self._getdata(data_source, start=self.cursor)
            if pad > self.num_data:
                repeats = pad // self.num_data
                second = self._tile(self._getdata(data_source, end=self.num_data), repeats)
                if pad % self.num_data != 0:
                    second = self._concat(second, self._getdata(data_source,
                                                                end=pad % self.num_data))
            else:
                second = self._getdata(data_source, end=pad)
            return self._concat(first, second)
        end_idx = min(self.cursor + self.batch_size, self.num_data)
        return self._getdata(data_source, self.cursor, end_idx)

    def getdata(self):
        return self._batchify(self.data)

    def getlabel(self):
        return self._batchify(self.label)

    def getpad(self):
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            return self.cursor + self.batch_size - self.num_data
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            return -self.cursor
        return 0

    def _shuffle_data(self):
        np.random.shuffle(self.idx)
        self.data = [(k, nd_array(v.asnumpy()[self.idx], v.context)) for k, v in self.data]
        self.label = [(k, nd_array(v.asnumpy()[self.idx], v.context)) for k, v in self.label]


# --- wrappers -------------------------------------------------------------------------------------
class ResizeIter(DataIter):
    """``data_iter`` cut or stretched to ``size`` batches per epoch (it is reset and restarted
    when it ends early); ``reset_internal`` says whether ``reset`` resets it too."""

    def __init__(self, data_iter, size, reset_internal=True):
        super().__init__()
        self.data_iter = data_iter
        self.size = size
        self.reset_internal = reset_internal
        self.cur = 0
        self.current_batch = None
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        self.batch_size = data_iter.batch_size
        if hasattr(data_iter, "default_bucket_key"):
            self.default_bucket_key = data_iter.default_bucket_key

    def reset(self):
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def iter_next(self):
        if self.cur == self.size:
            return False
        try:
            self.current_batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            self.current_batch = self.data_iter.next()
        self.cur += 1
        return True

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad


class _PrefetchState:
    """What the prefetching threads share with their PrefetchingIter. The threads hold this,
    not the iterator, so dropping the iterator stops them (through ``__del__``)."""

    def __init__(self, iters):
        n = len(iters)
        self.iters = iters
        self.data_ready = [threading.Event() for _ in range(n)]
        self.data_taken = [threading.Event() for _ in range(n)]
        for e in self.data_taken:
            e.set()
        self.started = True
        self.next_batch = [None] * n
        self.errors = [None] * n


def _prefetch(state: _PrefetchState, i: int) -> None:
    while True:
        state.data_taken[i].wait()
        if not state.started:
            break
        try:
            state.next_batch[i] = state.iters[i].next()
        except StopIteration:
            state.next_batch[i] = None
        except BaseException as e:  # noqa: BLE001  (handed to the consumer, raised there)
            state.next_batch[i] = None
            state.errors[i] = e
        state.data_taken[i].clear()
        state.data_ready[i].set()


class PrefetchingIter(DataIter):
    """Reads the next batch of each of ``iters`` in a background thread (one per iterator) while
    the current one is used; batches of the iterators are joined (data after data, label after
    label). ``rename_data`` / ``rename_label``: one ``{old_name: new_name}`` dict per iterator.
    An exception raised by an iterator in its thread is raised again by ``next()``."""

    def __init__(self, iters, rename_data=None, rename_label=None):
        super().__init__()
        if not isinstance(iters, list):
            iters = [iters]
        if not iters:
            raise ValueError("PrefetchingIter: iters is empty; expected at least one DataIter")
        self.n_iter = len(iters)
        self.iters = iters
        self.rename_data = rename_data
        self.rename_label = rename_label
        self.batch_size = self.provide_data[0][1][0]
        self._state = _PrefetchState(iters)
        self.data_ready = self._state.data_ready
        self.data_taken = self._state.data_taken
        self.next_batch = self._state.next_batch
        self.current_batch = [None for _ in range(self.n_iter)]
        self.prefetch_threads = [threading.Thread(target=_prefetch, args=(self._state, i),
                                                  daemon=True, name=f"PrefetchingIter-{i}")
                                 for i in range(self.n_iter)]
        for thread in self.prefetch_threads:
            thread.start()

    @property
    def started(self):
        """Whether the prefetching threads run (``close()`` stops them)."""
        return self._state.started

    def close(self):
        """Stop the prefetching threads (also done when the iterator is garbage collected)."""
        state = self.__dict__.get("_state")
        if state is None or not state.started:
            return
        state.started = False
        for e in state.data_taken:
            e.set()
        for thread in self.prefetch_threads:
            if thread is not threading.current_thread():
                thread.join()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110  (interpreter shutdown)
            pass

    def _renamed(self, attr, renames):
        if renames is None:
            return [d for i in self.iters for d in getattr(i, attr)]
        return [DataDesc(r[x.name], x.shape, x.dtype) if isinstance(x, DataDesc) else DataDesc(*x)
                for r, i in zip(renames, self.iters) for x in getattr(i, attr)]

    @property
    def provide_data(self):
        return self._renamed("provide_data", self.rename_data)

    @property
    def provide_label(self):
        return self._renamed("provide_label", self.rename_label)

    def _raise_pending(self):
        errors = self._state.errors
        for i, e in enumerate(errors):
            if e is not None:
                errors[i] = None
                raise e

    def reset(self):
        for e in self.data_ready:
            e.wait()
        for it in self.iters:
            it.reset()
        for e in self.data_ready:
            e.clear()
        self._state.errors[:] = [None] * self.n_iter
        for e in self.data_taken:
            e.set()

    def iter_next(self):
        for e in self.data_ready:
            e.wait()
        self._raise_pending()
        if self.next_batch[0] is None:
            if any(b is not None for b in self.next_batch):
                raise MXNetError("PrefetchingIter: the iterators hold different numbers of "
                                 "batches (the first one ended before the others)")
            return False
        for i, batch in enumerate(self.next_batch):
            if batch is None or batch.pad != self.next_batch[0].pad:
                raise MXNetError(
                    f"PrefetchingIter: the iterators hold different numbers of examples "
                    f"(iterator 0 gave pad={self.next_batch[0].pad}, iterator {i} "
                    f"{'ended' if batch is None else f'gave pad={batch.pad}'})")
        self.current_batch = DataBatch([d for b in self.next_batch for d in b.data],
                                       [lb for b in self.next_batch for lb in (b.label or [])],
                                       self.next_batch[0].pad,
                                       self.next_batch[0].index,
                                       provide_data=self.provide_data,
                                       provide_label=self.provide_label)
        for e in self.data_ready:
            e.clear()
        for e in self.data_taken:
            e.set()
        return True

    def next(self):
        if self.iter_next():
            return self.current_batch
        raise StopIteration

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad


# --- CSVIter ----------------------------------------------------------------------------------
def _shape_param(v, what):
    if isinstance(v, str):
        v = v.strip().strip("()[]")
        v = tuple(int(x) for x in v.split(",") if x.strip())
    elif isinstance(v, (int, np.integer)):
        v = (int(v),)
    try:
        v = tuple(int(x) for x in v)
    except TypeError:
        raise TypeError(f"CSVIter: {what} must be a tuple of ints; got {v!r}") from None
    return v


def _read_csv(path, shape, what):
    try:
        rows = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except OSError as e:
        raise MXNetError(f"CSVIter: cannot read {what} {path!r}: {e}") from None
    except ValueError as e:
        raise MXNetError(f"CSVIter: {what} {path!r} is not a CSV of numbers: {e}") from None
    width = int(np.prod(shape))
    if rows.size and rows.shape[1] != width:
        raise ShapeError(f"CSVIter: {what} {path!r} has {rows.shape[1]} values per line; "
                         f"expected {width} for shape {shape}")
    return rows.reshape((rows.shape[0],) + tuple(shape))


class CSVIter(DataIter):
    """Batches of rows of CSV files (MXNet's ``mx.io.CSVIter``), each line reshaped to
    ``data_shape`` / ``label_shape``; labels are zeros without ``label_csv``.

    With ``round_batch=True`` (the default) the last batch of an epoch is completed from the
    start of the data and the next epoch starts after the examples so used, as MXNet's loader
    does; with ``round_batch=False`` the last batch keeps the previous batch's examples in its
    padded rows. ``pad`` counts the padded rows either way; ``index`` holds the row numbers.
    """

    def __init__(self, data_csv, data_shape, batch_size, label_csv=None, label_shape=(1,),
                 round_batch=True, dtype="float32", data_name="data",
                 label_name="softmax_label", **kwargs):
        super().__init__(int(batch_size))
        kwargs.pop("prefetch_buffer", None)
        kwargs.pop("ctx", None)
        kwargs.pop("shuffle", None)
        if kwargs:
            raise TypeError(f"CSVIter got unexpected arguments: {', '.join(sorted(kwargs))}")
        if self.batch_size < 1:
            raise ValueError(f"CSVIter: batch_size must be positive; got {batch_size!r}")
        self.data_shape = _shape_param(data_shape, "data_shape")
        self.label_shape = _shape_param(label_shape, "label_shape")
        self.round_batch = bool(round_batch) if not isinstance(round_batch, str) else \
            round_batch.lower() in ("1", "true")
        self.dtype = np.dtype(dtype or "float32")
        data = _read_csv(data_csv, self.data_shape, "data_csv")
        if label_csv == "NULL":        # MXNet's spelling of "no label file"
            label_csv = None
        if label_csv is not None:
            label = _read_csv(label_csv, self.label_shape, "label_csv")
            if label.shape[0] != data.shape[0]:
                raise ShapeError(f"CSVIter: data_csv {data_csv!r} has {data.shape[0]} lines "
                                 f"but label_csv {label_csv!r} has {label.shape[0]}")
        else:
            label = np.zeros((data.shape[0],) + self.label_shape)
        if self.label_shape == (1,):
            label = label.reshape(label.shape[0])
        if data.shape[0] == 0:
            raise MXNetError(f"CSVIter: data_csv {data_csv!r} holds no lines")
        self._data = data.astype(self.dtype)
        self._label = label.astype(np.float32)
        self._n = data.shape[0]
        self._buf_data = np.zeros((self.batch_size,) + self._data.shape[1:], self.dtype)
        self._buf_label = np.zeros((self.batch_size,) + self._label.shape[1:], np.float32)
        self._buf_index = np.zeros(self.batch_size, np.uint64)
        self._start = 0        # where the current epoch starts (round_batch carry-over)
        self._pos = 0
        self._pad = 0
        self._done = False
        self.provide_data = [DataDesc(data_name, (self.batch_size,) + self._data.shape[1:],
                                      self.dtype.type)]
        self.provide_label = [DataDesc(label_name, (self.batch_size,) + self._label.shape[1:],
                                       np.float32)]

    def _epoch_overflow(self, start):
        """Examples taken from the start of the data by this epoch's last batch."""
        rem = (self._n - start) % self.batch_size
        return 0 if rem == 0 else self.batch_size - rem

    def reset(self):
        if self.round_batch:
            self._start = self._epoch_overflow(self._start) % self._n
        else:
            self._start = 0
        self._pos = self._start
        self._done = False

    def iter_next(self):
        if self._done or self._pos >= self._n:
            self._done = True
            return False
        k = min(self.batch_size, self._n - self._pos)
        rows = np.arange(self._pos, self._pos + k)
        self._pad = self.batch_size - k
        if self._pad and self.round_batch:
            rows = np.concatenate([rows, np.arange(self._pad) % self._n])
            k = self.batch_size
        self._buf_data[:k] = self._data[rows]
        self._buf_label[:k] = self._label[rows]
        self._buf_index[:k] = rows
        self._pos += self.batch_size
        return True

    def getdata(self):
        return [nd_array(self._buf_data, dtype=self.dtype)]

    def getlabel(self):
        return [nd_array(self._buf_label)]

    def getindex(self):
        return self._buf_index.copy()

    def getpad(self):
        return self._pad


class MXDataIter(DataIter):
    """The class of MXNet's native iterators (``MNISTIter``, ``LibSVMIter``,
    ``ImageRecordIter`` ...: see runtime/io_record.py), which are its subclasses here, so
    ``isinstance(it, mx.io.MXDataIter)`` holds as in MXNet. MXNet's constructor takes a handle
    to a C++ iterator; mxc has no C++ iterators to hand, so making one directly is refused."""

    def __init__(self, handle=None, data_name="data", label_name="softmax_label", **_):
        from mxc.base import UnsupportedError
        raise UnsupportedError("mxc does not support wrapping a C++ data iterator handle "
                               "(MXDataIter(handle)); use mx.io.ImageRecordIter, MNISTIter, "
                               "LibSVMIter, CSVIter, NDArrayIter or a Python DataIter")


# MXNet's native iterators (they subclass MXDataIter) live in io_record.py, loaded on first use
_NATIVE = ("ImageDetRecordIter", "ImageRecordInt8Iter", "ImageRecordIter",
           "ImageRecordUInt8Iter", "LibSVMIter", "MNISTIter")


def __getattr__(name):
    if name in _NATIVE:
        from . import io_record
        return getattr(io_record, name)
    raise AttributeError(f"module 'runtime.io' has no attribute {name!r}")

