"""``mx.kv``: MXNet 1.x's key-value store for data-parallel training on one machine.

``create('local')`` (also ``'device'``, ``'local_update_cpu'``, ``'local_allreduce_cpu'``,
``'local_allreduce_device'``) returns a :class:`KVStore` that behaves like MXNet 1.9.1's
``KVStoreLocal``:

- ``init(key, value)`` stores a copy of ``value`` (on the CPU for the ``local`` types, on the
  value's device for the ``device`` types); a key is initialised once.
- ``push(key, values)`` sums the list of values (one per device) with the compiled ``add_n``
  operator into a merge buffer; with an updater installed (``set_optimizer``) the updater runs
  ``updater(key, merged, stored)`` and updates the stored value in place, otherwise the stored
  value becomes the sum.
- ``pull(key, out)`` copies the stored value into every array of ``out``.
- ``pushpull``, ``broadcast``: push then pull; init then pull.

Keys are ints or strings (not both in one store); a list of keys takes a list of values (each an
NDArray or a list of NDArrays, one per device). With string keys the updater sees the string, so
optimizer states are indexed by parameter name, as in MXNet. ``rank`` is 0 and ``num_workers``
1. ``'dist_*'``, ``'nccl'``, ``'horovod'`` and ``'byteps'`` raise
:class:`~mxc.base.UnsupportedError`; sparse (``row_sparse_pull``) and gradient compression are
not supported either.
"""
from __future__ import annotations

import warnings
from typing import ClassVar

from mxc.base import MXNetError, UnsupportedError
from mxc.context import Context
from mxc.ndarray import NDArray

__all__ = ["KVStore", "KVStoreBase", "create"]

_LOCAL_TYPES = ("local", "device", "local_update_cpu", "local_allreduce_cpu",
                "local_allreduce_device")


def _add_n_into(values, out: NDArray) -> None:
    """``out = values[0] + values[1] + ...`` through the compiled ``add_n`` operator."""
    from mxc.ndarray.ops import invoke
    if len(values) == 1:
        out._t.copy_(values[0]._t.to(out._t.device))
        return
    # arrays of CPU contexts share torch's CPU device: no copy is needed to sum them
    dev = out._t.device
    vals = [v if v._t.device == dev else v.as_in_context(out.context) for v in values]
    invoke("add_n", vals, {}, out=out)


class KVStoreBase:
    """The interface of a key-value store for data-parallel training (MXNet's
    ``mx.kvstore.KVStoreBase``)."""

    OPTIMIZER = "optimizer"
    kv_registry: ClassVar[dict] = {}

    def broadcast(self, key, value, out, priority=0):
        raise NotImplementedError()

    def pushpull(self, key, value, out=None, priority=0):
        raise NotImplementedError()

    def set_optimizer(self, optimizer):
        raise NotImplementedError()

    def is_capable(self, capability):
        raise NotImplementedError()

    def save_optimizer_states(self, fname, dump_optimizer=False):
        raise NotImplementedError()

    def load_optimizer_states(self, fname):
        raise NotImplementedError()

    @property
    def type(self):
        raise NotImplementedError()

    @property
    def rank(self):
        raise NotImplementedError()

    @property
    def num_workers(self):
        raise NotImplementedError()

    @staticmethod
    def register(klass):
        """Register a KVStore class under its lower-cased name, for :func:`create`."""
        if not isinstance(klass, type):
            raise TypeError(f"register expects a class; got {klass!r}")
        name = klass.__name__.lower()
        if name in KVStoreBase.kv_registry:
            old = KVStoreBase.kv_registry[name]
            warnings.warn(f"WARNING: New kvstore {klass.__module__}.{klass.__name__} is "
                          f"overriding existing kvstore {old.__module__}.{old.__name__}",
                          stacklevel=2)
        KVStoreBase.kv_registry[name] = klass
        return klass


def _pairs(key, value, what):
    """``[(key, [arrays])]`` from MXNet's key/value argument forms."""
    if isinstance(key, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(key) != len(value):
            n = len(value) if isinstance(value, (list, tuple)) else 1
            raise MXNetError(f"KVStore.{what}: {len(key)} keys but {n} values; give one value "
                             "(an NDArray or a list of NDArrays) per key")
        out = []
        for k, v in zip(key, value):
            out.extend(_pairs(k, v, what))
        return out
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise TypeError(f"KVStore.{what}: a key must be an int or a str; got "
                        f"{type(key).__name__} {key!r}")
    if isinstance(value, NDArray):
        return [(key, [value])]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, NDArray)
                                                           for v in value):
        return [(key, list(value))]
    raise TypeError(f"KVStore.{what}: the value for key {key!r} must be an NDArray or a "
                    f"non-empty list of NDArrays; got {type(value).__name__}")


class KVStore(KVStoreBase):
    """A single-machine key-value store (MXNet's ``KVStoreLocal``); make one with
    :func:`create`."""

    def __init__(self, name="local"):
        self._type = name
        self._device_comm = "device" in name
        self._store: dict = {}
        self._merge: dict = {}
        self._updater = None
        self._str_keys = None

    # -- keys ---------------------------------------------------------------------------------
    def _check_key(self, key, what):
        is_str = isinstance(key, str)
        if self._str_keys is None:
            self._str_keys = is_str
        elif self._str_keys != is_str:
            kind = "string" if self._str_keys else "integer"
            raise MXNetError(f"KVStore.{what}: key {key!r} mixes key types: this store "
                             f"already uses {kind} keys")

    def _stored(self, key, what):
        self._check_key(key, what)
        if key not in self._store:
            raise MXNetError(f"KVStore.{what}: key {key!r} has not been initialized; call "
                             "init(key, value) first")
        return self._store[key]

    # -- operations ---------------------------------------------------------------------------
    def init(self, key, value):
        """Initialise ``key`` (or each of a list of keys) with a copy of ``value``."""
        for k, vals in _pairs(key, value, "init"):
            self._check_key(k, "init")
            if k in self._store:
                raise MXNetError(f"KVStore.init: duplicate init of key {k!r}")
            v = vals[0]
            ctx = v.context if self._device_comm else Context("cpu", 0)
            self._store[k] = v.copyto(ctx)

    def push(self, key, value, priority=0):
        """Sum the values pushed for each key (over devices) and update the stored value: with
        the updater if one is set, else by replacing it with the sum."""
        for k, vals in _pairs(key, value, "push"):
            stored = self._stored(k, "push")
            for v in vals:
                if tuple(v.shape) != tuple(stored.shape):
                    raise MXNetError(f"KVStore.push: key {k!r} holds shape "
                                     f"{tuple(stored.shape)}; pushed shape {tuple(v.shape)}")
            merged = self._merge.get(k)
            ctx = vals[0].context if self._device_comm else stored.context
            if merged is None or merged.context != ctx or merged.dtype != vals[0].dtype:
                from mxc.ndarray import zeros
                merged = zeros(stored.shape, ctx=ctx, dtype=vals[0].dtype)
                self._merge[k] = merged
            _add_n_into(vals, merged)
            if self._updater is not None:
                if merged.context != stored.context:
                    self._store[k] = stored = stored.copyto(merged.context)
                self._updater(k, merged, stored)
            else:
                stored._t.copy_(merged._t)

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copy the stored value of each key into every array of ``out``."""
        if out is None:
            raise MXNetError("KVStore.pull: out must be given (the arrays to pull into)")
        for k, outs in _pairs(key, out, "pull"):
            stored = self._stored(k, "pull")
            for o in outs:
                if tuple(o.shape) != tuple(stored.shape):
                    raise MXNetError(f"KVStore.pull: key {k!r} holds shape "
                                     f"{tuple(stored.shape)}; out has shape {tuple(o.shape)}")
                stored.copyto(o)

    def pushpull(self, key, value, out=None, priority=0):
        """``push(key, value)`` then ``pull`` into ``out`` (into ``value`` if ``out`` is
        None)."""
        self.push(key, value, priority)
        self.pull(key, value if out is None else out, priority)

    def broadcast(self, key, value, out, priority=0):
        """``init(key, value)`` then ``pull(key, out)``."""
        self.init(key, value)
        self.pull(key, out, priority)

    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        raise UnsupportedError("mxc does not support row_sparse arrays yet, so "
                               "KVStore.row_sparse_pull is not available; use pull")

    def set_gradient_compression(self, compression_params):
        if not self._device_comm:
            raise MXNetError("Gradient compression is not supported for this type of "
                             f"kvstore ({self._type!r})")
        raise UnsupportedError("mxc does not support gradient compression yet "
                               f"({compression_params!r}); train without compression_params")

    def set_optimizer(self, optimizer):
        """Run ``optimizer`` on the store: every push updates the stored weights."""
        from runtime.optimizer import get_updater
        self._set_updater(get_updater(optimizer))

    def is_capable(self, capability):
        if capability.lower() == KVStoreBase.OPTIMIZER:
            return True
        raise ValueError(f"Unknown capability: {capability}")

    @property
    def type(self):
        """The type string this store was created with."""
        return self._type

    @property
    def rank(self):
        return 0

    @property
    def num_workers(self):
        return 1

    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Write the updater's states to ``fname`` as MXNet does (a pickle MXNet can read)."""
        if self._updater is None:
            raise MXNetError("Cannot save states for distributed training")
        from runtime.module._states import dumps_states, write_states_file
        write_states_file(fname, dumps_states(self._updater.states, self._updater.optimizer,
                                              dump_optimizer))

    def load_optimizer_states(self, fname):
        """Load states written by :meth:`save_optimizer_states` (or by MXNet)."""
        if self._updater is None:
            raise MXNetError("Cannot load states for distributed training")
        from runtime.module._states import apply_states, loads_states, read_states_file
        apply_states(self._updater, loads_states(read_states_file(fname), str(fname)),
                     str(fname), {k: (k, v) for k, v in self._store.items()})

    def _set_updater(self, updater):
        """Install ``updater(key, merged_value, stored_value)``, run at every push."""
        self._updater = updater

    def _barrier(self):
        """All workers wait here; with one worker there is nothing to wait for."""

    def _send_command_to_servers(self, head, body):
        raise UnsupportedError("mxc's kvstore has no servers (distributed training is not "
                               "supported yet)")

    def __repr__(self):
        return f"<KVStore {self._type}>"


def create(name="local"):
    """Create a key-value store: ``'local'`` (sums on the CPU; the usual choice),
    ``'device'`` (sums on the first device), or their aliases ``'local_update_cpu'``,
    ``'local_allreduce_cpu'``, ``'local_allreduce_device'``."""
    if not isinstance(name, str):
        raise TypeError("name must be a string")
    name = name.lower()
    if name in KVStoreBase.kv_registry:
        return KVStoreBase.kv_registry[name]()
    if name in _LOCAL_TYPES:
        return KVStore(name)
    if "dist" in name or name in ("nccl", "horovod", "byteps"):
        raise UnsupportedError(f"mxc does not support the {name!r} kvstore yet (distributed "
                               "and NCCL training are planned over torch.distributed); use "
                               "'local' or 'device' on one machine")
    raise MXNetError(f"Unknown KVStore type {name!r}; expected one of {list(_LOCAL_TYPES)}")
