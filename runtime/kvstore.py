"""``mx.kv``: MXNet 1.x's key-value store for data-parallel training (one machine or several).

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
1.

``create('dist_sync')`` (also ``'dist_device_sync'``, ``'dist_sync_device'``, ``'dist'``)
returns a :class:`DistKVStore`: the same API over ``torch.distributed`` (runtime/dist.py), for
workers started by ``torchrun`` or ``mxc launch``; a push sums over devices then over workers
(allreduce) and every worker runs the updater on the sum, where MXNet's servers run it. It
has MXNet's 2-bit gradient compression. ``'dist_async'`` (no servers to update
asynchronously), ``'nccl'``, ``'horovod'`` and ``'byteps'`` raise
:class:`~mxc.base.UnsupportedError`; ``row_sparse_pull`` pulls dense values. See
docs/distributed.md.
"""
from __future__ import annotations

import time
import warnings
from typing import ClassVar

from mxc.base import MXNetError, UnsupportedError
from mxc.context import Context
from mxc.ndarray import NDArray
from runtime.dist import DistributedError

__all__ = ["DistKVStore", "DistributedError", "KVStore", "KVStoreBase", "create"]

_LOCAL_TYPES = ("local", "device", "local_update_cpu", "local_allreduce_cpu",
                "local_allreduce_device")


def _add_n_into(values, out: NDArray) -> None:
    """``out = values[0] + values[1] + ...`` through the compiled ``add_n`` operator."""
    from mxc.ndarray.ops import invoke
    o = out.torch_tensor()
    if len(values) == 1:
        o.copy_(values[0].torch_tensor().to(o.device))
        return
    # arrays of CPU contexts share torch's CPU device: no copy is needed to sum them
    dev = o.device
    vals = [v if v.torch_tensor().device == dev else v.as_in_context(out.context) for v in values]
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
            self._apply(k, self._merge_local(k, vals, stored), stored)

    def _merge_local(self, k, vals, stored):
        """The sum of one key's pushed values (one per device) in the key's merge buffer."""
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
        return merged

    def _apply(self, k, merged, stored):
        """Run the updater on ``(k, merged, stored)``, or make the stored value the sum."""
        if self._updater is not None:
            if merged.context != stored.context:
                self._store[k] = stored = stored.copyto(merged.context)
            self._updater(k, merged, stored)
        else:
            stored.torch_tensor().copy_(merged.torch_tensor())

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
        _parse_compression(compression_params)
        raise UnsupportedError("mxc supports gradient compression on the dist_* kvstores only "
                               f"({compression_params!r} on {self._type!r}); train without "
                               "compression_params on one machine")

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
        raise UnsupportedError("mxc's kvstores have no servers: with dist_* every worker "
                               "runs the updates itself (set_optimizer)")

    def __repr__(self):
        return f"<KVStore {self._type}>"


# --- 2-bit gradient compression (MXNet's scheme) ---------------------------------------------
def _parse_compression(params):
    """``threshold`` from MXNet's ``{'type': '2bit', 'threshold': t}`` (t defaults to 0.5)."""
    if not isinstance(params, dict):
        raise TypeError("compression_params must be a dict such as {'type': '2bit', "
                        f"'threshold': 0.5}}; got {type(params).__name__}")
    if "type" not in params:
        raise MXNetError("compression_params requires the key 'type' ('2bit')")
    kind = str(params["type"])
    unknown = set(params) - {"type", "threshold"}
    if kind != "2bit":
        raise MXNetError(f"Unknown type for gradient compression {kind!r}; mxc (as MXNet "
                         "1.9.1) has '2bit'")
    if unknown:
        raise MXNetError(f"gradient compression '2bit': unknown parameter(s) "
                         f"{sorted(unknown)}; it takes 'threshold'")
    threshold = float(params.get("threshold", 0.5))
    if not threshold > 0:
        raise MXNetError(f"gradient compression: threshold must be greater than 0; got "
                         f"{threshold}")
    return threshold


def _quantize_2bit(grad, residual, threshold):
    """MXNet's 2-bit quantizer on flat float32 tensors: ``residual += grad``; where the residual
    reaches ``threshold`` the code is 3 (``11``, +threshold) and the residual drops by it,
    where it reaches ``-threshold`` the code is 2 (``10``, -threshold) and the residual rises
    by it, else 0. Returns the codes packed four to a byte, the first element in the high
    bits (MXNet's layout)."""
    import torch
    residual.add_(grad)
    pos = residual >= threshold
    neg = (residual <= -threshold) & ~pos
    residual.sub_(torch.where(pos, threshold, 0.0).to(residual.dtype))
    residual.add_(torch.where(neg, threshold, 0.0).to(residual.dtype))
    codes = pos.to(torch.uint8) * 3 + neg.to(torch.uint8) * 2
    pad = (-codes.numel()) % 4
    if pad:
        codes = torch.cat([codes, codes.new_zeros(pad)])
    c = codes.view(-1, 4)
    return (c[:, 0] << 6) | (c[:, 1] << 4) | (c[:, 2] << 2) | c[:, 3]


def _dequantize_2bit(packed, n, threshold, out):
    """``out +=`` the values of ``n`` packed 2-bit codes: +threshold (``11``), -threshold
    (``10``), 0 otherwise."""
    import torch
    codes = torch.stack([(packed >> 6) & 3, (packed >> 4) & 3, (packed >> 2) & 3,
                         packed & 3], dim=1).reshape(-1)[:n]
    out.add_(torch.where(codes == 3, threshold, 0.0).to(out.dtype))
    out.sub_(torch.where(codes == 2, threshold, 0.0).to(out.dtype))


def _nbytes(t):
    return t.numel() * t.element_size()


class DistKVStore(KVStore):
    """MXNet's ``dist_sync`` / ``dist_device_sync`` kvstore over ``torch.distributed``: a push
    sums the values over this worker's devices, then over all workers (allreduce, in buckets of
    ``MXC_DIST_BUCKET_MB``); the updater (``set_optimizer``) then runs on every worker on the
    same sum, which is what MXNet's servers run, so every replica holds the same weights.
    ``init`` takes rank 0's value (as MXNet, whose rank 0 initialises the servers). Every
    worker must call init/push/barrier with the same keys in the same order."""

    def __init__(self, name="dist_sync"):
        super().__init__(name)
        from runtime import dist
        self._rank, self._world = dist.group(name)
        self._threshold = None
        self._residual: dict = {}
        self._what = f"kvstore {name!r}"
        self._batched_push = True   # Module pushes all gradients in one call (buckets)
        self._comm_seconds = 0.0    # time spent starting and waiting for collectives (bench)
        self._barrier()             # MXNet's workers meet when a dist store is created

    @staticmethod
    def _buckets(items, nbytes):
        """Consecutive runs of ``items`` (``(key, tensor, ...)``) with one dtype and device,
        at most ``MXC_DIST_BUCKET_MB`` each (a larger item is a bucket alone)."""
        from mxc import config
        cap = config.get("MXC_DIST_BUCKET_MB") << 20
        out, cur, size, sig = [], [], 0, None
        for it in items:
            t = it[1]
            s = (t.dtype, t.device)
            b = nbytes(t)
            if cur and (s != sig or size + b > cap):
                out.append(cur)
                cur, size = [], 0
            cur.append(it)
            size += b
            sig = s
        if cur:
            out.append(cur)
        return out

    @staticmethod
    def _flat(bucket):
        if len(bucket) > 1:
            import torch
            return torch.cat([it[1].reshape(-1) for it in bucket])
        return bucket[0][1].reshape(-1).contiguous()

    @staticmethod
    def _scatter(bucket, flat):
        off = 0
        for it in bucket:
            t = it[1]
            n = t.numel()
            if flat.data_ptr() != t.data_ptr():
                t.copy_(flat[off:off + n].view_as(t))
            off += n

    def init(self, key, value):
        """Initialise keys with rank 0's values."""
        import torch.distributed as dist

        from runtime import dist as rdist
        pairs = _pairs(key, value, "init")
        super().init(key, value)
        if self._world == 1:
            return
        items = [(k, self._store[k].torch_tensor()) for k, _ in pairs]
        with rdist.guard(f"{self._what}: init (broadcast from rank 0)"):
            pending = [(b, f, dist.broadcast(f, src=0, async_op=True))
                       for b in self._buckets(items, _nbytes) for f in [self._flat(b)]]
            for b, flat, work in pending:
                work.wait()
                self._scatter(b, flat)

    def push(self, key, value, priority=0):
        """Sum the pushed values over devices and over workers, then update."""
        items = []
        for k, vals in _pairs(key, value, "push"):
            stored = self._stored(k, "push")
            items.append((k, self._merge_local(k, vals, stored), stored))
        if self._threshold is not None:
            self._push_compressed(items)
        elif self._world == 1:
            for k, m, st in items:
                self._apply(k, m, st)
        else:
            self._push_dense(items)

    def _push_dense(self, items):
        import torch.distributed as dist

        from runtime import dist as rdist
        flat_items = [(k, m.torch_tensor(), m, st) for k, m, st in items]
        with rdist.guard(f"{self._what}: push (allreduce of gradients)"):
            t0 = time.perf_counter()
            pending = [(b, f, dist.all_reduce(f, async_op=True))
                       for b in self._buckets(flat_items, _nbytes) for f in [self._flat(b)]]
            self._comm_seconds += time.perf_counter() - t0
            # the updates of one bucket overlap the allreduce of the buckets after it
            for b, flat, work in pending:
                t0 = time.perf_counter()
                work.wait()
                self._comm_seconds += time.perf_counter() - t0
                self._scatter(b, flat)
                for k, _, m, st in b:
                    self._apply(k, m, st)

    def _push_compressed(self, items):
        import torch
        import torch.distributed as dist

        from runtime import dist as rdist
        coded = []
        for k, m, st in items:
            mt = m.torch_tensor()
            if mt.dtype != torch.float32:
                raise MXNetError(f"KVStore.push: key {k!r}: gradient compression is only "
                                 f"supported for float32 arrays (as MXNet); got {m.dtype}")
            g = mt.reshape(-1)
            res = self._residual.get(k)
            if res is None or res.device != g.device:
                res = self._residual[k] = torch.zeros_like(g)
            coded.append((k, _quantize_2bit(g, res, self._threshold), m, st))
        with rdist.guard(f"{self._what}: push (all_gather of 2-bit gradients)"):
            pending = []
            for b in self._buckets(coded, _nbytes):
                flat = self._flat(b)
                if self._world > 1:
                    parts = [torch.empty_like(flat) for _ in range(self._world)]
                    pending.append((b, parts, dist.all_gather(parts, flat, async_op=True)))
                else:
                    pending.append((b, [flat], None))
            for b, parts, work in pending:
                if work is not None:
                    t0 = time.perf_counter()
                    work.wait()
                    self._comm_seconds += time.perf_counter() - t0
                off = 0
                for k, p, m, st in b:
                    out = m.torch_tensor().reshape(-1)
                    out.zero_()
                    for part in parts:         # in rank order: the same sum on every worker
                        _dequantize_2bit(part[off:off + p.numel()], out.numel(),
                                         self._threshold, out)
                    off += p.numel()
                    self._apply(k, m, st)

    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        """Pull whole (dense) values: mxc has no row_sparse storage yet, so every row is
        pulled; ``row_ids`` must be given (as MXNet) and is otherwise unused."""
        if out is None or row_ids is None:
            raise MXNetError("KVStore.row_sparse_pull: out and row_ids must be given")
        self.pull(key, out=out, priority=priority)

    def set_gradient_compression(self, compression_params):
        """MXNet's 2-bit compression of what each worker sends: each worker quantizes its
        gradient plus the residual it keeps to {-t, 0, +t}, the codes (16x fewer bytes than
        float32) are exchanged, and every worker sums the dequantized values."""
        self._threshold = _parse_compression(compression_params)

    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Write the optimizer states, which every worker holds alike: rank 0 writes the file,
        the others write nothing."""
        if self._updater is None:
            raise MXNetError("save_optimizer_states: no optimizer is set on this kvstore "
                             "(set_optimizer)")
        if self._rank == 0:
            super().save_optimizer_states(fname, dump_optimizer)

    @property
    def rank(self):
        """This worker's rank, 0 .. num_workers - 1."""
        return self._rank

    @property
    def num_workers(self):
        """The number of workers."""
        return self._world

    def _barrier(self):
        """All workers wait here; a worker that is gone or does not come within
        MXC_DIST_TIMEOUT seconds makes the others raise DistributedError."""
        if self._world > 1:
            from runtime import dist as rdist
            rdist.barrier(f"{self._what}: barrier")

    barrier = _barrier

    def num_dead_node(self, node_id=4, timeout=60):
        """Dead workers: 0 when every worker reaches this call within ``timeout`` seconds,
        else how many did not (a collective, as every call here; a failure breaks the group).
        mxc has no servers nor scheduler: for those groups (node_id 1, 2) it is 0."""
        if not int(node_id) & 4 or self._world == 1:
            return 0
        import datetime
        import re

        import torch.distributed as dist
        try:
            dist.monitored_barrier(timeout=datetime.timedelta(seconds=timeout),
                                   wait_all_ranks=True)
            return 0
        except RuntimeError as e:
            m = re.search(r"[Rr]anks? ([\d, ]+) failed", str(e))
            return len(m.group(1).split(",")) if m else 1

    def __repr__(self):
        return f"<KVStore {self._type} rank {self._rank} of {self._world}>"


_DIST_TYPES = ("dist", "dist_sync", "dist_device_sync", "dist_sync_device")


def create(name="local"):
    """Create a key-value store: ``'local'`` (sums on the CPU; the usual choice),
    ``'device'`` (sums on the first device), their aliases ``'local_update_cpu'``,
    ``'local_allreduce_cpu'``, ``'local_allreduce_device'``, or for several workers
    ``'dist_sync'`` / ``'dist_device_sync'`` (:class:`DistKVStore`; every worker must call
    this)."""
    if not isinstance(name, str):
        raise TypeError("name must be a string")
    name = name.lower()
    if name in KVStoreBase.kv_registry:
        return KVStoreBase.kv_registry[name]()
    if name in _LOCAL_TYPES:
        return KVStore(name)
    if "dist" in name and "_async" in name:
        raise UnsupportedError(
            f"mxc does not support the {name!r} kvstore: asynchronous (parameter-server) "
            "updates are not built; mxc's dist kvstores are synchronous allreduce over "
            f"torch.distributed. Supported types: {', '.join(_DIST_TYPES + _LOCAL_TYPES)}")
    if "dist" in name:
        return DistKVStore(name)
    if name in ("nccl", "horovod", "byteps"):
        raise UnsupportedError(f"mxc does not support the {name!r} kvstore; use 'dist_sync' "
                               "(allreduce over torch.distributed, NCCL for CUDA tensors) or "
                               "'local' / 'device' on one machine")
    raise MXNetError(f"Unknown KVStore type {name!r}; expected one of "
                     f"{list(_LOCAL_TYPES + _DIST_TYPES)}")
