"""``mx.optimizer``: MXNet 1.9.1's optimizers, with every update a compiled, fused kernel.

The Python half (the ``Optimizer`` base class, learning-rate and weight-decay multipliers, update
counts, ``create``/``register``, ``Updater`` and its pickled states) keeps MXNet's names,
signatures, defaults and attribute names, so optimizers and ``.states`` files pickled by MXNet
load here and the reverse.

The math never runs in numpy or torch. For each optimizer, each set of options that change the
math (clipping on or off, momentum or not, centered ...), each weight size, dtype and device,
the update is built as one IR graph::

    update(weight, grad, *states, lr, wd, rescale_grad, ...) -> (new_weight, *new_states)

with every hyperparameter a shape-(1,) input (a new learning rate is a new input value, never a
new compilation), compiled once with :func:`mxc.compile.compile_graph` (the fusion pass makes it
one kernel) and cached. The kernel is bound once per parameter to the weight, gradient and state
storage and to output buffers shared by parameters of the same size; a step writes the
hyperparameters, runs the kernel and copies the outputs back into the weight and states, so they
are updated in place (MXNet's ``out=weight``). Weights are flattened: the update is elementwise,
so every parameter with the same number of elements shares one kernel.
:meth:`Optimizer.fused_update_graph` returns the graph, for reading or printing.

The mathematics of the optimizers that have an MXNet update operator (SGD: ``multi_sgd(_mom)``,
NAG: ``nag_mom``/``sgd``, Signum: ``signum``/``signsgd``, Adam, RMSProp: ``rmsprop``/
``rmspropalex``, Ftrl, FTML) is not written here: ``_build_update`` calls the operator's rule in
:mod:`mxc.ir.opdefs.optimizer` (``sgd_mom``, ``adam`` ...), the same function the OpDefs
``sgd_mom_update``, ``adam_update`` ... decompose with, so the optimizers and the operators
cannot drift apart (tests/test_optimizer_ops.py checks both against MXNet). The printed graph
shows the rule's primitives, not a named ``sgd_mom_update`` op: an OpDef's hyperparameters are
attributes (MXNet's interface), which would make every new learning rate a new compilation, and
a second, tensor-hyperparameter form of each operator would be a second registry entry for the
same math; the rule is the shared unit instead. Optimizers that MXNet writes with NDArray
operators in Python (AdaGrad, AdaDelta, Adamax, Nadam, DCASGD, SGLD) have no update operator and
keep their graphs here.

Numerics follow MXNet 1.9.1 operation by operation (src/operator/optimizer_op-inl.h for the
optimizers with a C++ kernel, python/mxnet/optimizer/optimizer.py for those written with NDArray
operators), in the same order and precision; tests/test_optimizer.py checks 20 steps of each
against MXNet's own. Behaviours worth knowing, all MXNet's:

- ``SGD`` always runs MXNet's aggregated ``multi_sgd_(mom_)update`` kernel for dense arrays
  (``mom = momentum*mom - lr*wd*w - lr*clip(rescale_grad*grad)``; ``w += mom``): the momentum
  state holds the *negative* velocity including the learning rate. ``Updater`` passes SGD up to
  ``aggregate_num`` (``MXNET_OPTIMIZER_AGGREGATION_SIZE``, default 4) weights per call, and the
  learning rate is read after counting the whole group.
- Clipping: for C++-kernel optimizers (SGD, NAG, Signum, Adam, RMSProp, Ftrl) it is on when
  ``clip_gradient`` is truthy and >= 0; AdaGrad, AdaDelta, Adamax and Nadam clip whenever it is
  not None. SGD, NAG, Signum, AdaGrad, AdaDelta and Ftrl clip ``rescale_grad * grad`` (weight
  decay comes after); Adam, RMSProp, Adamax, Nadam and FTML clip ``rescale_grad * grad + wd *
  weight``.
- ``NAG``'s momentum update reads the *new* weight in its weight-decay term (MXNet's kernel
  writes the weight in place first).
- ``Adam`` scales the learning rate by ``sqrt(1 - beta2**t) / (1 - beta1**t)`` (in double, in
  Python) with ``t`` the weight's own update count; ``Adamax`` divides it by ``1 - beta1**t``.
- ``Nadam``'s ``m_schedule`` is one number for the whole optimizer, multiplied at every update
  of every weight.
- ``AdaDelta`` ignores the learning rate and rescales the caller's gradient array in place.
- ``Ftrl`` uses its own ``learning_rate`` (default 0.1) unless an ``lr_scheduler`` is given;
  ``AdaGrad``, ``RMSProp`` and ``Ftrl`` states are float32 whatever the weight's dtype.
- ``multi_precision=True`` with float16 weights keeps a float32 master copy in the state
  (``(momentum, weight32)`` for SGD and NAG, ``(weight32, state)`` for the others), updates it in
  float32 and writes the float16 weight from it, all in the same kernel.
- ``set_wd_mult``: with ``param_idx2name``, every parameter whose name does not end in
  ``_weight`` or ``_gamma`` gets ``wd_mult`` 0 (biases, betas, ...); the symbol's
  ``__lr_mult__``/``__wd_mult__`` attributes and explicit multipliers then override.
"""
from __future__ import annotations

import math
import typing
import warnings

import numpy as np
import torch

from mxc import config
from mxc.base import MXNetError, UnsupportedError
from mxc.ir.core import Builder
from mxc.ir.opdefs import optimizer as _rules
from mxc.ir.types import DType, TensorType
from mxc.memo import memo
from mxc.ndarray import NDArray, zeros
from runtime.registry import Registry

__all__ = [
    "DCASGD",
    "FTML",
    "LAMB",
    "LARS",
    "LBSGD",
    "NAG",
    "SGD",
    "SGLD",
    "AdaDelta",
    "AdaGrad",
    "Adam",
    "Adamax",
    "Ftrl",
    "Nadam",
    "Optimizer",
    "RMSProp",
    "Signum",
    "Test",
    "Updater",
    "ccSGD",
    "clear_kernel_cache",
    "create",
    "get_updater",
    "kernel_cache_info",
    "register",
]

_F16 = np.float16


# --- compiled update kernels -------------------------------------------------------------------
class _Kernel:
    """One compiled update: a graph over flat arrays of ``numel`` elements."""

    __slots__ = (
        "compiled",
        "device",
        "graph",
        "hp_dtype",
        "hp_names",
        "key",
        "out_names",
        "tensor_names",
    )

    def __init__(self, key, graph, compiled, tensor_names, hp_names, out_names, hp_dtype, device):
        self.key = key
        self.graph = graph
        self.compiled = compiled
        self.tensor_names = tensor_names
        self.hp_names = hp_names
        self.out_names = out_names
        self.hp_dtype = hp_dtype
        self.device = device


_KERNELS = memo("optimizer")     # compiled update kernels (mxc.memo)


def kernel_cache_info() -> dict:
    """Entries in the update-kernel cache, cache hits (one per update step that reused a kernel)
    and misses (compilations)."""
    return _KERNELS.info()


def clear_kernel_cache():
    """Forget every compiled update kernel (optimizers rebind on their next step)."""
    _KERNELS.clear()


def _target_for(device: torch.device) -> str:
    from mxc.codegen.backend import target_for_device
    return target_for_device(device.type, eager=True)


# the update rules (and their builder helpers) are the update operators' own
_Ops = _rules.UpdateOps


def _build_kernel(key, opt, opts, numel, tensor_specs, hp_names, hp_dtype, device, mp16):
    """Build and compile the update graph of ``opt`` for ``opts`` over flat arrays."""
    from mxc.compile import compile_graph
    b = Builder(f"{type(opt).__name__.lower()}_update")
    T = {}
    for name, dt in tensor_specs:
        T[name] = b.input(name, TensorType((numel,), dt))
    H = {name: b.input(name, TensorType((1,), hp_dtype)) for name in hp_names}
    ops = _Ops(b, numel)
    if mp16:
        T = dict(T)
        T["grad"] = b.cast(T["grad"], DType.f32)       # float16 gradient, float32 math
    try:
        outs = opt._build_update(ops, T, H, opts)
    except MXNetError as e:
        dts = ", ".join(f"{n} {d.np_name}" for n, d in tensor_specs)
        raise type(e)(f"{type(opt).__name__} update with {dts}: {e}") from None
    if mp16:
        outs = {k: v for k, v in outs.items() if k != "grad"}
        outs["weight16"] = b.cast(outs["weight"], DType.f16)
    out_names = list(outs)
    g = b.build([outs[k] for k in out_names])
    names = [n for n, _ in tensor_specs]
    # new weight and states are written straight into the old ones' storage (no copy back),
    # unless the optimizer moves old values after the kernel (DCASGD's previous weight)
    inplace = {} if getattr(opt, "_moves_old_values", False) else \
        {j: names.index(o) for j, o in enumerate(out_names) if o in names}
    compiled = compile_graph(g, _target_for(device), inplace=inplace)
    return _Kernel(key, g, compiled, [n for n, _ in tensor_specs], list(hp_names), out_names,
                   hp_dtype, device)


def _get_kernel(key, make):
    return _KERNELS.get(key, make)


class _BoundUpdate:
    """A kernel bound to one parameter's storage: hyperparameter buffer, output buffers."""

    __slots__ = ("bound", "copies", "event", "hp", "hp_host", "hp_np", "kernel", "outs", "ptrs",
                 "sig", "targets", "tobjs", "w16obj")

    def run(self, values, moves=()):
        if self.hp_host is None:
            self.hp_np[:] = values
        else:                                   # device memory: stage through pinned memory
            if self.event is not None:
                self.event.synchronize()        # the previous copy has left the buffer
            self.hp_np[:] = values
            self.hp.copy_(self.hp_host, non_blocking=True)
            self.event = torch.cuda.Event()
            self.event.record()
        self.bound.run()
        for src, dst in moves:                  # data moves that must see the old values
            dst.copy_(src)
        if self.copies is not None:             # host memory: numpy's copy (one thread, no
            for t, o in self.copies:            # dispatch; torch's is slower on busy hosts)
                np.copyto(t, o)
        else:
            for t, o in zip(self.targets, self.outs):
                t.copy_(o)


_DTYPES = {d.torch: d for d in DType if d is not DType.bf16}
_NP_OK = (torch.float16, torch.float32, torch.float64)
_DTYPES[torch.bfloat16] = DType.bf16


def _flat(a: NDArray) -> torch.Tensor:
    return a.torch_tensor().view(-1)


def _ctx_id(a: NDArray) -> int:
    return a.context.device_id


# --- the base class ----------------------------------------------------------------------------
class Optimizer:
    """The base class of all optimizers (MXNet's ``mx.optimizer.Optimizer``).

    Parameters
    ----------
    rescale_grad : float, default 1.0
        Multiply the gradient by this before updating (often ``1.0 / batch_size``).
    param_idx2name : dict of int to str, optional
        Parameter names by index; names not ending in ``_weight`` or ``_gamma`` get no weight
        decay.
    wd : float, default 0.0
        Weight decay (L2 regularization) coefficient.
    clip_gradient : float, optional
        Clip the gradient to ``[-clip_gradient, clip_gradient]``.
    learning_rate : float, optional
        The learning rate (default 0.01 without ``lr_scheduler``); overrides the scheduler's
        ``base_lr`` when both are given.
    lr_scheduler : LRScheduler, optional
        Learning-rate schedule, called with :attr:`num_update`.
    sym : Symbol, optional
        The symbol being trained: its ``__lr_mult__``/``__wd_mult__`` attributes set
        multipliers.
    begin_num_update : int, default 0
        The update count to start from.
    multi_precision : bool, default False
        Keep a float32 master copy of float16 weights and update it in float32.
    param_dict : dict of int to Parameter, optional
        Gluon parameters (``lr_mult``/``wd_mult`` attributes) by index; not pickled.
    """

    opt_registry: typing.ClassVar[dict] = {}

    def __init__(self, rescale_grad=1., param_idx2name=None, wd=0., clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if self.lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if self.lr_scheduler is not None and learning_rate is not None and \
                self.lr_scheduler.base_lr != learning_rate:
            print(UserWarning("learning rate from ``lr_scheduler`` has been "   # MXNet prints it
                              "overwritten by ``learning_rate`` in optimizer."))
            self.lr_scheduler.base_lr = learning_rate
        self.wd = wd
        self.lr_mult = {}
        self.wd_mult = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts = {0: {}}
        self._index_update_count = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise TypeError("param_idx2name should be a dict of param indexes to names.")
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self.allow_np_array = False
        self.set_lr_mult({})
        self.set_wd_mult({})

    # -- registry -------------------------------------------------------------------------------
    @staticmethod
    def register(klass):
        """Register an optimizer class under its lower-cased name (``create`` finds it)."""
        return _REGISTRY.register(klass)

    @staticmethod
    def create_optimizer(name, **kwargs):
        """An instance of the optimizer registered as ``name`` (case-insensitive)."""
        klass = _REGISTRY.get(name)
        if klass is None:
            raise ValueError(f"Cannot find optimizer {name}; registered: "
                             f"{', '.join(_REGISTRY.names())}")
        return klass(**kwargs)

    # -- learning rate and multipliers ----------------------------------------------------------
    @property
    def learning_rate(self):
        """The current learning rate (the scheduler's at :attr:`num_update`, if any)."""
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr):
        """Set the learning rate; an error when an ``lr_scheduler`` decides it."""
        if self.lr_scheduler is not None:
            raise UserWarning("LRScheduler of the optimizer has already been defined. Note that "
                              "set_learning_rate can mutate the value of the learning rate of "
                              "the optimizer only when the LRScheduler of the optimizer is "
                              "undefined.")
        self.lr = lr

    def set_lr_scale(self, args_lrscale):
        """[DEPRECATED] Use :meth:`set_lr_mult`."""
        raise DeprecationWarning

    def set_lr_mult(self, args_lr_mult):
        """Set learning-rate multipliers by parameter name (or index): the symbol's
        ``__lr_mult__`` attributes first, then ``args_lr_mult``."""
        self.lr_mult = {}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__lr_mult__" in attr[name]:
                    self.lr_mult[name] = float(attr[name]["__lr_mult__"])
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        """Set weight-decay multipliers: 0 for named parameters not ending in ``_weight`` or
        ``_gamma``, then the symbol's ``__wd_mult__`` attributes, then ``args_wd_mult``."""
        self.wd_mult = {}
        for n in self.idx2name.values():
            if not n.endswith(("_weight", "_gamma")):
                self.wd_mult[n] = 0.0
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__wd_mult__" in attr[name]:
                    self.wd_mult[name] = float(attr[name]["__wd_mult__"])
        self.wd_mult.update(args_wd_mult)

    def _set_current_context(self, device_id):
        """Count updates separately for each device (MXNet keeps one table per device)."""
        if device_id not in self._all_index_update_counts:
            self._all_index_update_counts[device_id] = {}
        self._index_update_count = self._all_index_update_counts[device_id]

    def _update_count(self, index):
        """Count one more update of ``index`` (or of each index of a list)."""
        if not isinstance(index, (list, tuple)):
            index = [index]
        for idx in index:
            if idx not in self._index_update_count:
                self._index_update_count[idx] = self.begin_num_update
            self._index_update_count[idx] += 1
            self.num_update = max(self._index_update_count[idx], self.num_update)

    def _scaled(self, base, indices, attr: str, table: dict) -> list:
        """``base`` times each index's multiplier: the parameter's own (``lr_mult`` /
        ``wd_mult`` attribute), else the table's by index, else by the index's name."""
        out = [base for _ in indices]
        for i, index in enumerate(indices):
            if index in self.param_dict:
                out[i] *= getattr(self.param_dict[index], attr)
            elif index in table:
                out[i] *= table[index]
            elif index in self.idx2name:
                out[i] *= table.get(self.idx2name[index], 1.0)
        return out

    def _get_lrs(self, indices):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return self._scaled(lr, indices, "lr_mult", self.lr_mult)

    def _get_lr(self, index):
        return self._get_lrs([index])[0]

    def _get_wds(self, indices):
        return self._scaled(self.wd, indices, "wd_mult", self.wd_mult)

    def _get_wd(self, index):
        return self._get_wds([index])[0]

    # -- states and updates ---------------------------------------------------------------------
    def create_state(self, index, weight):
        """Auxiliary state for ``weight`` (None, an NDArray or a tuple of them)."""

    def create_state_multi_precision(self, index, weight):
        """``create_state``, with a float32 master copy first for float16 weights when
        ``multi_precision`` is on: ``(weight32, state)``."""
        return self._state_with_master(index, weight, master_first=True, who="")

    def _state_with_master(self, index, weight, master_first, who):
        """The state, and a float32 master copy of a float16 weight under multi_precision
        (first or last in the tuple, as each MXNet optimizer orders it); warns as MXNet does
        about float16 accumulation otherwise."""
        if self.multi_precision and weight.dtype == _F16:
            master = weight.astype(np.float32)
            state = self.create_state(index, master)
            return (master, state) if master_first else (state, master)
        if weight.dtype == _F16 and not self.multi_precision:
            warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy or "
                          "slow convergence. Consider using multi_precision=True option of the "
                          f"{who + ' ' if who else ''}optimizer")
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        """Update ``weight`` in place from ``grad`` and ``state``."""
        raise NotImplementedError()

    def update_multi_precision(self, index, weight, grad, state):
        """:meth:`update`, through the float32 master copy for float16 weights when
        ``multi_precision`` is on."""
        if self.multi_precision and weight.dtype == _F16:
            from mxc.ndarray.ops import invoke
            weight_master_copy, original_state = state[0], state[1]
            grad32 = invoke("Cast", [grad], {"dtype": "float32"})
            self.update(index, weight_master_copy, grad32, original_state)
            invoke("Cast", [weight_master_copy], {"dtype": "float16"}, out=weight)
        else:
            self.update(index, weight, grad, state)

    # -- pickling -------------------------------------------------------------------------------
    def __getstate__(self):
        ret = self.__dict__.copy()
        del ret["param_dict"]                   # set again by the trainer
        ret.pop("_bound", None)                 # compiled kernels and buffers: not pickled
        ret.pop("_out_bufs", None)
        return ret

    def __setstate__(self, state):
        self.__dict__ = state
        self.param_dict = {}


_REGISTRY = Registry(Optimizer, "optimizer")
Optimizer.opt_registry = _REGISTRY.classes
register = Optimizer.register
create = Optimizer.create_optimizer


class _Fused(Optimizer):
    """An optimizer whose update is one compiled kernel (see the module docstring).

    Subclasses implement ``_build_update(ops, T, H, opts) -> {output name: Value}``: ``T`` maps
    tensor names (``weight``, ``grad``, state names) to flat graph inputs, ``H`` hyperparameter
    names to shape-(1,) inputs, ``opts`` is the tuple of options that change the math. Output
    ``weight`` replaces the weight; other outputs replace the tensor of the same name.
    """

    def _step(self, index, opts, tensors, hparams, weight16=None, moves=()):
        """Run the update of parameter ``index``.

        ``tensors``: list of (name, NDArray) in graph order, ``weight`` and ``grad`` first;
        ``hparams``: list of (name, float); ``weight16``: the float16 weight when ``weight`` is
        its float32 master copy (multi-precision); ``moves``: (source, destination) NDArrays
        copied after the kernel ran, before the outputs are written back.
        """
        bound_map = self.__dict__.get("_bound")
        if bound_map is None:
            bound_map = self.__dict__["_bound"] = {}
        ent = bound_map.get(index)
        if ent is not None and ent.sig == (opts, weight16 is not None) and \
                len(ent.tobjs) == len(tensors) and ent.w16obj is (
                    None if weight16 is None else weight16.torch_tensor()):
            for (_, a), t in zip(tensors, ent.tobjs):
                if a.torch_tensor() is not t:
                    break
            else:                                       # the same arrays as last time
                _KERNELS.count_hit()
                ent.run([v for _, v in hparams],
                        [(_flat(a), _flat(b)) for a, b in moves] if moves else ())
                return
        w = tensors[0][1]
        numel = w.size
        if numel == 0:
            return
        device = w.torch_tensor().device
        mp16 = weight16 is not None
        tdt = tuple((n, a.torch_tensor().dtype) for n, a in tensors)
        hp_names = tuple(n for n, _ in hparams)
        key = (type(self).__name__, opts, numel, tdt, hp_names, device, mp16)

        def make():
            specs = tuple((n, _DTYPES[d]) for n, d in tdt)
            hp_dtype = DType.f32 if mp16 else specs[0][1]
            return _build_kernel(key, self, opts, numel, specs, hp_names, hp_dtype, device, mp16)
        kern = _get_kernel(key, make)
        by_name = dict(tensors)
        targets = []
        for o in kern.out_names:
            targets.append(_flat(weight16 if o == "weight16" else by_name[o]))
        ins = [_flat(a) for _, a in tensors]
        ptrs = tuple(t.data_ptr() for t in ins) + tuple(t.data_ptr() for t in targets)
        if ent is None or ent.kernel is not kern or ent.ptrs != ptrs:
            ent = self._bind(kern, ins, targets, ptrs, ent)
            bound_map[index] = ent
        ent.sig = (opts, mp16)
        ent.tobjs = tuple(a.torch_tensor() for _, a in tensors)
        ent.w16obj = None if weight16 is None else weight16.torch_tensor()
        ent.run([v for _, v in hparams], [(_flat(a), _flat(b)) for a, b in moves])

    def _bind(self, kern, ins, targets, ptrs, old=None):
        ent = _BoundUpdate()
        ent.kernel = kern
        ent.ptrs = ptrs
        dev = kern.device
        k = len(kern.hp_names)
        if old is not None and old.kernel is kern:      # same kernel, new arrays: keep buffers
            ent.hp, ent.hp_host, ent.hp_np, ent.event = old.hp, old.hp_host, old.hp_np, old.event
        else:
            ent.hp = torch.zeros(max(k, 1), dtype=kern.hp_dtype.torch, device=dev)
            if dev.type == "cpu":
                ent.hp_host = None
                ent.hp_np = ent.hp.numpy()
            else:
                ent.hp_host = torch.zeros(max(k, 1), dtype=kern.hp_dtype.torch).pin_memory()
                ent.hp_np = ent.hp_host.numpy()
            ent.event = None
        hp_views = [ent.hp[i:i + 1] for i in range(k)]
        # output buffers: shared by every parameter this kernel updates (steps are sequential)
        bufs = self.__dict__.setdefault("_out_bufs", {})
        outs = bufs.get(kern.key)
        if outs is None:
            outs = [torch.empty_like(t) for t in targets]
            bufs[kern.key] = outs
        inplace = kern.compiled.program.inplace     # output j written into input i
        bind_outs = [ins[inplace[j]] if j in inplace else o for j, o in enumerate(outs)]
        pairs = [(t, o) for j, (t, o) in enumerate(zip(targets, outs)) if j not in inplace]
        ent.outs = [o for _, o in pairs]
        ent.targets = [t for t, _ in pairs]
        ent.copies = None
        if dev.type == "cpu" and all(t.dtype in _NP_OK for t in ent.targets):
            ent.copies = [(t.numpy(), o.numpy()) for t, o in pairs]
        ent.bound = kern.compiled.executable.bind(ins + hp_views, bind_outs)
        return ent

    def _build_update(self, ops, T, H, opts):
        raise NotImplementedError

    # multi-precision through the same kernel: float16 gradient in, float16 weight out
    def update_multi_precision(self, index, weight, grad, state):
        if self.multi_precision and weight.dtype == _F16:
            self._update_impl(index, state[0], grad, state[1], weight16=weight)
        else:
            self._update_impl(index, weight, grad, state)

    def update(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state)

    def _update_impl(self, index, weight, grad, state, weight16=None):
        raise NotImplementedError

    # -- inspection -----------------------------------------------------------------------------
    def _graph_call(self):
        """(opts, tensor names and dtypes relative to the weight, hyperparameter names) of the
        next update, for :meth:`fused_update_graph`."""
        raise NotImplementedError

    def fused_update_graph(self, shape, dtype="float32", multi_precision=False):
        """The IR graph of this optimizer's update for a weight of ``shape`` and ``dtype``
        (flattened), with the current options. ``multi_precision``: the float16-weight form with
        a float32 master copy."""
        return self._inspect(shape, dtype, multi_precision).graph

    def fused_update_compiled(self, shape, dtype="float32", multi_precision=False):
        """The :class:`mxc.compile.Compiled` update for ``shape`` and ``dtype`` (cached)."""
        return self._inspect(shape, dtype, multi_precision).compiled

    def _inspect(self, shape, dtype, multi_precision):
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        numel = int(np.prod(shape))
        dt = DType.parse(np.dtype(dtype).name)
        mp16 = bool(multi_precision)
        wdt = DType.f32 if mp16 else dt
        opts, names, hp_names = self._graph_call()
        specs = []
        for n, kind in names:
            if n == "grad":
                specs.append((n, DType.f16 if mp16 else wdt))
            else:
                specs.append((n, DType.f32 if kind == "f32" else wdt))
        specs = tuple(specs)
        hp_names = tuple(hp_names)
        device = torch.device("cpu")
        tdt = tuple((n, d.torch) for n, d in specs)
        key = (type(self).__name__, opts, numel, tdt, hp_names, device, mp16)
        return _get_kernel(key, lambda: _build_kernel(key, self, opts, numel, specs, hp_names,
                                                      wdt, device, mp16))


def _check_arrays(name, weight, grad):
    if not isinstance(weight, NDArray) or not isinstance(grad, NDArray):
        raise TypeError(f"{name}.update: weight and grad must be NDArrays; got "
                        f"{type(weight).__name__} and {type(grad).__name__}")


def _clip_on(c) -> bool:
    """C++ kernels: ``clip_gradient`` is passed when truthy and applies when >= 0."""
    return bool(c) and c >= 0


def _state_list(state):
    return state if isinstance(state, (tuple, list)) else (state,)


# --- SGD family ----------------------------------------------------------------------------------
@register
class SGD(_Fused):
    """SGD with momentum and weight decay (MXNet's ``multi_sgd_mom_update``)::

        mom = momentum * mom - lr * wd * weight - lr * clip(rescale_grad * grad, clip_gradient)
        weight = weight + mom

    Parameters
    ----------
    momentum : float, default 0.0
        The momentum value.
    lazy_update : bool, default True
        Accepted for compatibility; mxc has no sparse gradients, so updates are dense.
    multi_precision : bool, default False
        Keep a float32 master copy of float16 weights (state ``(mom, weight32)``).
    """

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update
        self.aggregate_num = config.get("MXNET_OPTIMIZER_AGGREGATION_SIZE")

    def create_state_multi_precision(self, index, weight):
        return self._state_with_master(index, weight, master_first=False, who="SGD")

    def create_state(self, index, weight):
        if self.momentum != 0.0:
            return zeros(weight.shape, weight.context, dtype=weight.dtype)
        return None

    def _opts(self):
        return (self.momentum > 0, _clip_on(self.clip_gradient))

    def _graph_call(self):
        mom, clip = self._opts()
        names = [("weight", "w"), ("grad", "w")] + ([("mom", "f32")] if mom else [])
        hp = ["lr", "wd", "rescale_grad"] + (["momentum"] if mom else []) + \
            (["clip_gradient"] if clip else [])
        return self._opts(), names, hp

    def _build_update(self, ops, T, H, opts):
        has_mom, clip = opts
        return _rules.sgd_mom(ops, T, H, has_mom, clip)

    def _update_impl(self, indices, weights, grads, states, weight16=None):
        if not isinstance(indices, (tuple, list)):
            indices, weights, grads, states = [indices], [weights], [grads], [states]
            w16s = [weight16]
        else:
            w16s = list(weight16) if weight16 is not None else [None] * len(indices)
        for w, g in zip(weights, grads):
            _check_arrays("SGD", w, g)
        self._update_count(indices)
        lrs = self._get_lrs(indices)
        wds = self._get_wds(indices)
        has_mom, clip = self._opts()
        for idx, w, g, s, lr, wd, w16 in zip(indices, weights, grads, states, lrs, wds, w16s):
            tensors = [("weight", w), ("grad", g)]
            if has_mom:
                tensors.append(("mom", s))
            hp = [("lr", lr), ("wd", wd), ("rescale_grad", self.rescale_grad)]
            if has_mom:
                hp.append(("momentum", self.momentum))
            if clip:
                hp.append(("clip_gradient", self.clip_gradient))
            self._step(idx, (has_mom, clip), tensors, hp, weight16=w16)

    def update(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state)

    def update_multi_precision(self, index, weight, grad, state):
        if not isinstance(index, (tuple, list)):
            use_mp = self.multi_precision and weight.dtype == _F16
            if use_mp:
                self._update_impl(index, state[1], grad, state[0], weight16=weight)
            else:
                self._update_impl(index, weight, grad, state)
            return
        use_mp = self.multi_precision and weight[0].dtype == _F16
        if use_mp:
            self._update_impl(index, [s[1] for s in state], grad, [s[0] for s in state],
                              weight16=list(weight))
        else:
            self._update_impl(index, weight, grad, state)


@register
class ccSGD(SGD):
    """[DEPRECATED] Same as :class:`SGD`."""


@register
class NAG(_Fused):
    """Nesterov accelerated gradient (MXNet's ``nag_mom_update``; ``sgd_update`` without
    momentum)::

        mom = momentum * mom
        g = clip(rescale_grad * grad, clip_gradient) + wd * weight
        weight = weight - mom + (momentum + 1) * (mom - lr * g)
        mom = mom - lr * (clip(rescale_grad * grad, clip_gradient) + wd * weight)

    The momentum's decay term reads the *updated* weight: MXNet's kernel writes the weight in
    place before it updates the momentum.

    Parameters
    ----------
    momentum : float, default 0.0
        The momentum value.
    multi_precision : bool, default False
        Keep a float32 master copy of float16 weights (state ``(mom, weight32)``).
    """

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def create_state_multi_precision(self, index, weight):
        return self._state_with_master(index, weight, master_first=False, who="NAG")

    def create_state(self, index, weight):
        if self.momentum != 0.0:
            return zeros(weight.shape, weight.context, dtype=weight.dtype)
        return None

    def _graph_call(self):
        clip = _clip_on(self.clip_gradient)
        has_mom = self.momentum != 0.0
        names = [("weight", "w"), ("grad", "w")] + ([("mom", "f32")] if has_mom else [])
        hp = ["lr", "wd", "rescale_grad"] + (["momentum"] if has_mom else []) + \
            (["clip_gradient"] if clip else [])
        return (has_mom, clip), names, hp

    def _build_update(self, ops, T, H, opts):
        has_mom, clip = opts
        if not has_mom:
            return _rules.sgd(ops, T, H, clip)
        # MXNet writes the weight in place first, so the momentum's decay term reads the new one
        return _rules.nag_mom(ops, T, H, clip, inplace=True)

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("NAG", weight, grad)
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        clip = _clip_on(self.clip_gradient)
        has_mom = state is not None and self.momentum > 0
        tensors = [("weight", weight), ("grad", grad)]
        hp = [("lr", lr), ("wd", wd), ("rescale_grad", self.rescale_grad)]
        if has_mom:
            tensors.append(("mom", state))
            hp.append(("momentum", self.momentum))
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        self._step(index, (has_mom, clip), tensors, hp, weight16=weight16)

    def update_multi_precision(self, index, weight, grad, state):
        use_mp = self.multi_precision and weight.dtype == _F16 and \
            isinstance(state, (tuple, list))
        if use_mp:
            self._update_impl(index, state[1], grad, state[0], weight16=weight)
        else:
            self._update_impl(index, weight, grad, state)


@register
class Signum(_Fused):
    """Signum: the sign of a momentum (MXNet's ``signum_update``; ``signsgd_update`` without
    momentum)::

        mom = momentum * mom - (1 - momentum) * (wd * weight + clip(rescale_grad * grad))
        weight = (1 - lr * wd_lh) * weight + lr * sign(mom)

    Without momentum: ``weight = (1 - lr * wd) * weight - lr * sign(grad)`` (``rescale_grad``,
    ``clip_gradient`` and ``wd_lh`` play no part, as in MXNet).

    Parameters
    ----------
    learning_rate : float, default 0.01
    momentum : float, default 0.9
    wd_lh : float, default 0.0
        Decoupled weight decay.
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum
        self.wd_lh = wd_lh

    def create_state(self, index, weight):
        if self.momentum != 0.0:
            return zeros(weight.shape, weight.context, dtype=weight.dtype)
        return None

    def _graph_call(self):
        clip = _clip_on(self.clip_gradient)
        has_mom = self.momentum != 0.0
        if has_mom:
            return ((True, clip), [("weight", "w"), ("grad", "w"), ("mom", "w")],
                    ["lr", "wd", "rescale_grad", "momentum", "wd_lh"] +
                    (["clip_gradient"] if clip else []))
        return (False, False), [("weight", "w"), ("grad", "w")], ["lr", "wd"]

    def _build_update(self, ops, T, H, opts):
        has_mom, clip = opts
        if not has_mom:
            return _rules.signsgd(ops, T, H)
        return _rules.signum(ops, T, H, clip)

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("Signum", weight, grad)
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        if state is not None:
            clip = _clip_on(self.clip_gradient)
            momentum = self.momentum if self.momentum > 0 else 0.0
            hp = [("lr", lr), ("wd", wd), ("rescale_grad", self.rescale_grad),
                  ("momentum", momentum), ("wd_lh", self.wd_lh or 0.0)]
            if clip:
                hp.append(("clip_gradient", self.clip_gradient))
            self._step(index, (True, clip), [("weight", weight), ("grad", grad), ("mom", state)],
                       hp, weight16=weight16)
        else:
            self._step(index, (False, False), [("weight", weight), ("grad", grad)],
                       [("lr", lr), ("wd", wd)], weight16=weight16)


# --- adaptive optimizers with a C++ kernel in MXNet -----------------------------------------------
@register
class Adam(_Fused):
    """Adam (MXNet's ``adam_update``, with the bias correction folded into the learning rate)::

        lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        g = clip(rescale_grad * grad + wd * weight, clip_gradient)
        mean = beta1 * mean + (1 - beta1) * g
        var = beta2 * var + (1 - beta2) * g * g
        weight = weight - lr_t * mean / (sqrt(var) + epsilon)

    Parameters
    ----------
    learning_rate : float, default 0.001
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-8
    lazy_update : bool, default True
        Accepted for compatibility (dense updates).
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 lazy_update=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lazy_update = lazy_update

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),   # mean
                zeros(weight.shape, weight.context, dtype=weight.dtype))   # variance

    def _graph_call(self):
        clip = _clip_on(self.clip_gradient)
        return ((clip,), [("weight", "w"), ("grad", "w"), ("mean", "w"), ("var", "w")],
                ["lr", "wd", "rescale_grad", "beta1", "beta2", "epsilon"] +
                (["clip_gradient"] if clip else []))

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        return _rules.adam(ops, T, H, clip)

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("Adam", weight, grad)
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        t = self._index_update_count[index]
        coef1 = 1. - self.beta1 ** t
        coef2 = 1. - self.beta2 ** t
        lr *= math.sqrt(coef2) / coef1
        clip = _clip_on(self.clip_gradient)
        mean, var = state
        hp = [("lr", lr), ("wd", wd), ("rescale_grad", self.rescale_grad),
              ("beta1", self.beta1), ("beta2", self.beta2), ("epsilon", self.epsilon)]
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        self._step(index, (clip,), [("weight", weight), ("grad", grad), ("mean", mean),
                                    ("var", var)], hp, weight16=weight16)


@register
class RMSProp(_Fused):
    """RMSProp (MXNet's ``rmsprop_update``; ``rmspropalex_update`` when ``centered``)::

        g = clip(rescale_grad * grad + wd * weight, clip_gradient)
        n = (1 - gamma1) * g * g + gamma1 * n
        centered=False:  weight = weight - lr * g / sqrt(n + epsilon)
        centered=True:   m = (1 - gamma1) * g + gamma1 * m
                         delta = gamma2 * delta - lr * g / sqrt(n - m * m + epsilon)
                         weight = weight + delta
        weight = clip(weight, clip_weights)            (when clip_weights is set)

    Parameters
    ----------
    learning_rate : float, default 0.001
    gamma1 : float, default 0.9
    gamma2 : float, default 0.9
    epsilon : float, default 1e-8
    centered : bool, default False
    clip_weights : float, optional
    """

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8,
                 centered=False, clip_weights=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.centered = centered
        self.epsilon = epsilon
        self.clip_weights = clip_weights

    def create_state(self, index, weight):
        if self.centered:
            return (zeros(weight.shape, weight.context),    # n
                    zeros(weight.shape, weight.context),    # g
                    zeros(weight.shape, weight.context))    # delta
        return (zeros(weight.shape, weight.context),)      # n

    def _opts(self):
        return (bool(self.centered), _clip_on(self.clip_gradient), _clip_on(self.clip_weights))

    def _graph_call(self):
        centered = self._opts()[0]
        names = [("weight", "w"), ("grad", "w"), ("n", "f32")]
        if centered:
            names += [("g", "f32"), ("delta", "f32")]
        return self._opts(), names, self._hp_names()

    def _hp_names(self):
        centered, clip, clipw = self._opts()
        return (["lr", "wd", "rescale_grad", "gamma1"] + (["gamma2"] if centered else []) +
                ["epsilon"] + (["clip_gradient"] if clip else []) +
                (["clip_weights"] if clipw else []))

    def _build_update(self, ops, T, H, opts):
        centered, clip, clipw = opts
        if centered:
            return _rules.rmspropalex(ops, T, H, clip, clipw)
        return _rules.rmsprop(ops, T, H, clip, clipw)

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("RMSProp", weight, grad)
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        vals = {"lr": lr, "wd": wd, "rescale_grad": self.rescale_grad, "gamma1": self.gamma1,
                "gamma2": self.gamma2, "epsilon": self.epsilon,
                "clip_gradient": self.clip_gradient, "clip_weights": self.clip_weights}
        hp = [(n, vals[n]) for n in self._hp_names()]
        if not self.centered:
            (n,) = state
            tensors = [("weight", weight), ("grad", grad), ("n", n)]
        else:
            n, g, delta = state
            tensors = [("weight", weight), ("grad", grad), ("n", n), ("g", g), ("delta", delta)]
        self._step(index, self._opts(), tensors, hp, weight16=weight16)


@register
class Ftrl(_Fused):
    """FTRL-proximal (MXNet's ``ftrl_update``)::

        g = clip(rescale_grad * grad, clip_gradient)
        z += g - (sqrt(n + g * g) - sqrt(n)) * weight / lr
        n += g * g
        weight = (sign(z) * lamda1 - z) / ((beta + sqrt(n)) / lr + wd) * (abs(z) > lamda1)

    Parameters
    ----------
    lamda1 : float, default 0.01
        L1 regularization coefficient.
    learning_rate : float, default 0.1
    beta : float, default 1
    """

    def __init__(self, lamda1=0.01, learning_rate=0.1, beta=1, **kwargs):
        super().__init__(**kwargs)
        self.lamda1 = lamda1
        self.beta = beta
        self.lr = learning_rate

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context),    # z
                zeros(weight.shape, weight.context))    # n

    def _graph_call(self):
        clip = _clip_on(self.clip_gradient)
        return ((clip,), [("weight", "w"), ("grad", "w"), ("z", "f32"), ("n", "f32")],
                ["lr", "wd", "rescale_grad", "beta", "lamda1"] +
                (["clip_gradient"] if clip else []))

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        return _rules.ftrl(ops, T, H, clip)

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("Ftrl", weight, grad)
        self._update_count(index)
        wd = self._get_wd(index)
        lr = self._get_lr(index)
        clip = _clip_on(self.clip_gradient)
        z, n = state
        hp = [("lr", lr), ("wd", wd), ("rescale_grad", self.rescale_grad),
              ("beta", self.beta), ("lamda1", self.lamda1)]
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        self._step(index, (clip,), [("weight", weight), ("grad", grad), ("z", z), ("n", n)],
                   hp, weight16=weight16)


@register
class FTML(_Fused):
    """FTML, Follow the Moving Leader (MXNet's ``ftml_update``)::

        g = clip(rescale_grad * grad + wd * weight, clip_gradient)
        v = beta2 * v + (1 - beta2) * g * g
        d_t = (1 - beta1**t) / lr * (sqrt(v / (1 - beta2**t)) + epsilon)
        z = beta1 * z + (1 - beta1) * g - (d_t - beta1 * d) * weight
        d = d_t;  weight = -z / d_t

    Parameters
    ----------
    beta1 : float, default 0.6
    beta2 : float, default 0.999
    epsilon : float, default 1e-8
    """

    def __init__(self, beta1=0.6, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),   # d_0
                zeros(weight.shape, weight.context, dtype=weight.dtype),   # v_0
                zeros(weight.shape, weight.context, dtype=weight.dtype))   # z_0

    def _graph_call(self):
        clip = _clip_on(self.clip_gradient)
        return ((clip,), [("weight", "w"), ("grad", "w"), ("d", "w"), ("v", "w"), ("z", "w")],
                ["lr", "wd", "rescale_grad", "beta1", "beta2", "epsilon", "t"] +
                (["clip_gradient"] if clip else []))

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        return _rules.ftml(ops, T, H, clip)

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("FTML", weight, grad)
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        t = self._index_update_count[index]
        clip = _clip_on(self.clip_gradient)
        d, v, z = state
        hp = [("lr", lr), ("wd", wd), ("rescale_grad", self.rescale_grad), ("beta1", self.beta1),
              ("beta2", self.beta2), ("epsilon", self.epsilon), ("t", float(t))]
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        self._step(index, (clip,), [("weight", weight), ("grad", grad), ("d", d), ("v", v),
                                    ("z", z)], hp, weight16=weight16)


# --- optimizers MXNet writes with NDArray operators ----------------------------------------------
# Each NDArray operation of MXNet's Python becomes one op of the graph, in the same order; a
# Python scalar (computed in double) is a hyperparameter input rounded once to the array dtype,
# as MXNet's scalar operators round it.
@register
class AdaGrad(_Fused):
    """AdaGrad::

        grad = clip(grad * rescale_grad, clip_gradient)
        history += square(grad)
        weight += (grad / sqrt(history + eps) + weight * wd) * -lr

    Parameters
    ----------
    eps : float, default 1e-7
        Added to the history before the square root.
    """

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return zeros(weight.shape, weight.context)     # history (float32, as in MXNet)

    def _graph_call(self):
        clip = self.clip_gradient is not None
        return ((clip,), [("weight", "w"), ("grad", "w"), ("history", "f32")],
                ["neg_lr", "wd", "rescale_grad", "eps"] + (["clip_gradient"] if clip else []))

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        b = ops.b
        w = T["weight"]
        g = b.mul(T["grad"], H["rescale_grad"])
        if clip:
            g = ops.clip(g, H["clip_gradient"])
        hist = b.add(T["history"], b.square(g))
        div = b.div(g, b.sqrt(b.add(hist, H["eps"])))
        new_w = b.add(w, b.mul(b.add(div, b.mul(w, H["wd"])), H["neg_lr"]))
        return {"weight": new_w, "history": hist}

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("AdaGrad", weight, grad)
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        clip = self.clip_gradient is not None
        hp = [("neg_lr", -lr), ("wd", wd), ("rescale_grad", self.rescale_grad),
              ("eps", self.float_stable_eps)]
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        self._step(index, (clip,), [("weight", weight), ("grad", grad), ("history", state)], hp,
                   weight16=weight16)


@register
class AdaDelta(_Fused):
    """AdaDelta (the learning rate plays no part, as in MXNet)::

        grad *= rescale_grad                      (the caller's gradient array, in place)
        g = clip(grad, clip_gradient)
        acc_g = rho * acc_g + (1 - rho) * g * g
        delta = sqrt(acc_delta + epsilon) / sqrt(acc_g + epsilon) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta * delta
        weight -= delta + wd * weight

    Parameters
    ----------
    rho : float, default 0.90
    epsilon : float, default 1e-5
    """

    def __init__(self, rho=0.90, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context),   # accumulated g
                zeros(weight.shape, weight.context))   # accumulated delta

    def _graph_call(self):
        clip = self.clip_gradient is not None
        return ((clip,), [("weight", "w"), ("grad", "w"), ("acc_g", "f32"), ("acc_delta", "f32")],
                ["wd", "rescale_grad", "rho", "one_minus_rho", "epsilon"] +
                (["clip_gradient"] if clip else []))

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        b = ops.b
        w = T["weight"]
        scaled = b.mul(T["grad"], H["rescale_grad"])
        g = ops.clip(scaled, H["clip_gradient"]) if clip else scaled
        rho, omr, eps = H["rho"], H["one_minus_rho"], H["epsilon"]
        acc_g = b.add(b.mul(T["acc_g"], rho), b.mul(b.mul(g, omr), g))
        delta = b.mul(b.div(b.sqrt(b.add(T["acc_delta"], eps)), b.sqrt(b.add(acc_g, eps))), g)
        acc_d = b.add(b.mul(T["acc_delta"], rho), b.mul(b.mul(delta, omr), delta))
        new_w = b.sub(w, b.add(delta, b.mul(w, H["wd"])))
        return {"weight": new_w, "grad": scaled, "acc_g": acc_g, "acc_delta": acc_d}

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("AdaDelta", weight, grad)
        wd = self._get_wd(index)
        self._update_count(index)
        clip = self.clip_gradient is not None
        acc_g, acc_delta = state
        hp = [("wd", wd), ("rescale_grad", self.rescale_grad), ("rho", self.rho),
              ("one_minus_rho", 1. - self.rho), ("epsilon", self.epsilon)]
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        self._step(index, (clip,), [("weight", weight), ("grad", grad), ("acc_g", acc_g),
                                    ("acc_delta", acc_delta)], hp, weight16=weight16)


@register
class Adamax(_Fused):
    """AdaMax, Adam with the infinity norm::

        lr_t = lr / (1 - beta1**t)
        g = clip(grad * rescale_grad + wd * weight, clip_gradient)
        m = beta1 * m + (1 - beta1) * g
        u = maximum(beta2 * u, abs(g))
        weight -= lr_t * m / u

    Parameters
    ----------
    learning_rate : float, default 0.002
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    """

    def __init__(self, learning_rate=0.002, beta1=0.9, beta2=0.999, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),   # mean
                zeros(weight.shape, weight.context, dtype=weight.dtype))   # variance

    def _graph_call(self):
        clip = self.clip_gradient is not None
        return ((clip,), [("weight", "w"), ("grad", "w"), ("m", "w"), ("u", "w")],
                ["lr", "wd", "rescale_grad", "beta1", "one_minus_beta1", "beta2"] +
                (["clip_gradient"] if clip else []))

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        b = ops.b
        w = T["weight"]
        g = b.add(b.mul(T["grad"], H["rescale_grad"]), b.mul(w, H["wd"]))
        if clip:
            g = ops.clip(g, H["clip_gradient"])
        m = b.add(b.mul(T["m"], H["beta1"]), b.mul(g, H["one_minus_beta1"]))
        u = b.op("_maximum", [b.mul(T["u"], H["beta2"]), b.op("abs", [g])])
        new_w = b.sub(w, b.div(b.mul(m, H["lr"]), u))
        return {"weight": new_w, "m": m, "u": u}

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("Adamax", weight, grad)
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        t = self._index_update_count[index]
        lr /= (1. - self.beta1 ** t)
        clip = self.clip_gradient is not None
        m, u = state
        hp = [("lr", lr), ("wd", wd), ("rescale_grad", self.rescale_grad),
              ("beta1", self.beta1), ("one_minus_beta1", 1. - self.beta1), ("beta2", self.beta2)]
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        self._step(index, (clip,), [("weight", weight), ("grad", grad), ("m", m), ("u", u)], hp,
                   weight16=weight16)


@register
class Nadam(_Fused):
    """Nesterov Adam::

        g = clip(grad * rescale_grad + wd * weight, clip_gradient)
        momentum_t = beta1 * (1 - 0.5 * 0.96**(t * schedule_decay))      (and t + 1)
        m_schedule *= momentum_t                     (one number for the whole optimizer)
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        m_bar = (1 - momentum_t) * g / (1 - m_schedule)
                + momentum_t1 * m / (1 - m_schedule * momentum_t1)
        weight -= lr * m_bar / (sqrt(v / (1 - beta2**t)) + epsilon)

    Parameters
    ----------
    learning_rate : float, default 0.001
    beta1 : float, default 0.9
    beta2 : float, default 0.999
    epsilon : float, default 1e-8
    schedule_decay : float, default 0.004
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 schedule_decay=0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),   # mean
                zeros(weight.shape, weight.context, dtype=weight.dtype))   # variance

    _HP = ("lr", "wd", "rescale_grad", "beta1", "one_minus_beta1", "beta2", "one_minus_beta2",
           "one_minus_m_schedule", "one_minus_m_schedule_next", "one_minus_beta2_t",
           "one_minus_momentum_t", "momentum_t_1", "epsilon")

    def _graph_call(self):
        clip = self.clip_gradient is not None
        return ((clip,), [("weight", "w"), ("grad", "w"), ("m", "w"), ("v", "w")],
                list(self._HP) + (["clip_gradient"] if clip else []))

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        b = ops.b
        w = T["weight"]
        g = b.add(b.mul(T["grad"], H["rescale_grad"]), b.mul(w, H["wd"]))
        if clip:
            g = ops.clip(g, H["clip_gradient"])
        m = b.add(b.mul(T["m"], H["beta1"]), b.mul(g, H["one_minus_beta1"]))
        v = b.add(b.mul(T["v"], H["beta2"]), b.mul(b.mul(g, H["one_minus_beta2"]), g))
        g_prime = b.div(g, H["one_minus_m_schedule"])
        m_prime = b.div(m, H["one_minus_m_schedule_next"])
        v_prime = b.div(v, H["one_minus_beta2_t"])
        m_bar = b.add(b.mul(g_prime, H["one_minus_momentum_t"]), b.mul(m_prime, H["momentum_t_1"]))
        new_w = b.sub(w, b.div(b.mul(m_bar, H["lr"]), b.add(b.sqrt(v_prime), H["epsilon"])))
        return {"weight": new_w, "m": m, "v": v}

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("Nadam", weight, grad)
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        t = self._index_update_count[index]
        momentum_t = self.beta1 * (1. - 0.5 * (pow(0.96, t * self.schedule_decay)))
        momentum_t_1 = self.beta1 * (1. - 0.5 * (pow(0.96, (t + 1) * self.schedule_decay)))
        self.m_schedule = self.m_schedule * momentum_t
        m_schedule_next = self.m_schedule * momentum_t_1
        clip = self.clip_gradient is not None
        m, v = state
        vals = {"lr": lr, "wd": wd, "rescale_grad": self.rescale_grad, "beta1": self.beta1,
                "one_minus_beta1": 1. - self.beta1, "beta2": self.beta2,
                "one_minus_beta2": 1. - self.beta2, "one_minus_m_schedule": 1. - self.m_schedule,
                "one_minus_m_schedule_next": 1. - m_schedule_next,
                "one_minus_beta2_t": 1. - pow(self.beta2, t),
                "one_minus_momentum_t": 1. - momentum_t, "momentum_t_1": momentum_t_1,
                "epsilon": self.epsilon}
        hp = [(n, vals[n]) for n in self._HP]
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        self._step(index, (clip,), [("weight", weight), ("grad", grad), ("m", m), ("v", v)], hp,
                   weight16=weight16)


@register
class DCASGD(_Fused):
    """Delay-compensated asynchronous SGD::

        g = clip(grad * rescale_grad, clip_gradient)
        mom = momentum * mom - lr * (g + wd * weight + lamda * g * g * (weight - previous))
        previous = weight;  weight += mom

    Parameters
    ----------
    momentum : float, default 0.0
    lamda : float, default 0.04
    """

    _moves_old_values = True        # previous = the old weight, copied after the kernel

    def __init__(self, momentum=0.0, lamda=0.04, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.weight_previous = {}
        self.lamda = lamda

    def create_state(self, index, weight):
        if self.momentum == 0.0:
            return (None, weight.copy())                                   # previous weight
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),   # momentum
                weight.copy())                                             # previous weight

    def _graph_call(self):
        clip = self.clip_gradient is not None
        has_mom = self.momentum != 0.0
        names = [("weight", "w"), ("grad", "w")] + ([("mom", "w")] if has_mom else []) + \
            [("previous", "w")]
        return ((has_mom, clip), names, ["neg_lr", "wd", "rescale_grad", "lamda"] +
                (["momentum"] if has_mom else []) + (["clip_gradient"] if clip else []))

    def _build_update(self, ops, T, H, opts):
        has_mom, clip = opts
        b = ops.b
        w = T["weight"]
        g = b.mul(T["grad"], H["rescale_grad"])
        if clip:
            g = ops.clip(g, H["clip_gradient"])
        inner = b.add(b.add(g, b.mul(w, H["wd"])),
                      b.mul(b.mul(b.mul(g, H["lamda"]), g), b.sub(w, T["previous"])))
        step = b.mul(inner, H["neg_lr"])
        mom = b.add(b.mul(T["mom"], H["momentum"]), step) if has_mom else step
        out = {"weight": b.add(w, mom)}
        if has_mom:
            out["mom"] = mom
        return out

    def _update_impl(self, index, weight, grad, state, weight16=None):
        _check_arrays("DCASGD", weight, grad)
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        clip = self.clip_gradient is not None
        mom, previous = state
        has_mom = mom is not None
        tensors = [("weight", weight), ("grad", grad)] + ([("mom", mom)] if has_mom else []) + \
            [("previous", previous)]
        hp = [("neg_lr", -lr), ("wd", wd), ("rescale_grad", self.rescale_grad),
              ("lamda", self.lamda)]
        if has_mom:
            hp.append(("momentum", self.momentum))
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        # previous = weight (the old one): a move after the kernel, before the write-back
        self._step(index, (has_mom, clip), tensors, hp, weight16=weight16,
                   moves=[(weight, previous)])


@register
class SGLD(_Fused):
    """Stochastic gradient Langevin dynamics::

        weight += -lr / 2 * (clip(grad * rescale_grad, clip_gradient) + wd * weight)
        weight += normal(0, sqrt(lr))

    The noise is drawn from the generator of ``mx.random.seed`` and added in the same kernel.
    """

    def create_state(self, index, weight):
        return None

    def _graph_call(self):
        clip = self.clip_gradient is not None
        return ((clip,), [("weight", "w"), ("grad", "w"), ("noise", "w")],
                ["neg_half_lr", "wd", "rescale_grad", "sqrt_lr"] +
                (["clip_gradient"] if clip else []))

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        b = ops.b
        w = T["weight"]
        g = b.mul(T["grad"], H["rescale_grad"])
        if clip:
            g = ops.clip(g, H["clip_gradient"])
        w1 = b.add(w, b.mul(b.add(g, b.mul(w, H["wd"])), H["neg_half_lr"]))
        return {"weight": b.add(w1, b.mul(T["noise"], H["sqrt_lr"]))}

    def _update_impl(self, index, weight, grad, state, weight16=None):
        from mxc.random import generator
        _check_arrays("SGLD", weight, grad)
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        clip = self.clip_gradient is not None
        wt = weight.torch_tensor()
        dev = wt.device
        noise = torch.randn(weight.shape, generator=generator(dev), device=dev, dtype=wt.dtype)
        hp = [("neg_half_lr", -lr / 2), ("wd", wd), ("rescale_grad", self.rescale_grad),
              ("sqrt_lr", math.sqrt(lr))]
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        self._step(index, (clip,), [("weight", weight), ("grad", grad),
                                    ("noise", NDArray(noise, weight.context))], hp,
                   weight16=weight16)


@register
class Test(_Fused):
    """The test optimizer: ``weight += grad * rescale_grad``; the state copies the weight."""

    def create_state(self, index, weight):
        return zeros(weight.shape, weight.context)

    def _graph_call(self):
        return ((), [("weight", "w"), ("grad", "w"), ("state", "w")], ["rescale_grad"])

    def _build_update(self, ops, T, H, opts):
        b = ops.b
        w = b.add(T["weight"], b.mul(T["grad"], H["rescale_grad"]))
        return {"weight": w, "state": b.op("_copy", [w])}

    def _update_impl(self, index, weight, grad, state, weight16=None):
        self._step(index, (), [("weight", weight), ("grad", grad), ("state", state)],
                   [("rescale_grad", self.rescale_grad)], weight16=weight16)


def _unsupported(name, what):
    def __init__(self, *args, **kwargs):
        raise UnsupportedError(f"mxc does not support the {name} optimizer yet ({what}); use "
                               "SGD, NAG, Adam, RMSProp, AdaGrad, AdaDelta, Adamax, Nadam, "
                               "Signum, Ftrl, FTML or DCASGD")
    return type(name, (Optimizer,), {"__init__": __init__, "__doc__":
                                     f"MXNet's {name} optimizer: not supported by mxc yet."})


LARS = register(_unsupported("LARS", "layer-wise adaptive rate scaling"))
LBSGD = register(_unsupported("LBSGD", "large-batch SGD"))


@register
class LAMB(_Fused):
    """LAMB (layer-wise adaptive moments for batch training), as MXNet 1.9.1 runs it with its
    ``lamb_update_phase1`` / ``lamb_update_phase2`` operators, here fused into one kernel built
    from the same rules (mxc/ir/opdefs/optimizer.py)::

        g = mean_hat / (sqrt(var_hat) + epsilon) + wd * weight     (phase 1; moments updated)
        r1 = ||weight|| (clipped to [lower_bound, upper_bound] when given), r2 = ||g||
        weight = weight - lr * r1 / r2 * g                           (phase 2; lr when 0)

    ``1 - beta**t`` are kernel inputs like the learning rate, so a step never recompiles. MXNet
    aggregates up to 45 weights into one ``multi_lamb_update`` call; the per-weight math is the
    same, and mxc runs one kernel per weight.

    Parameters
    ----------
    beta1, beta2, epsilon : float
        Adam's moment decays and denominator term.
    lower_bound, upper_bound : float, optional
        Bounds of the weight norm ``r1``.
    bias_correction : bool, default True
        Divide the moments by ``1 - beta**t``.
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-6,
                 lower_bound=None, upper_bound=None, bias_correction=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound
        self.bias_correction = bias_correction

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),   # mean
                zeros(weight.shape, weight.context, dtype=weight.dtype))   # variance

    def _opts(self):
        return (bool(self.clip_gradient), bool(self.bias_correction), bool(self.lower_bound),
                bool(self.upper_bound))

    def _graph_call(self):
        clip, bc, lower, upper = self._opts()
        return (self._opts(), [("weight", "w"), ("grad", "w"), ("mean", "w"), ("var", "w")],
                ["lr", "wd", "rescale_grad", "beta1", "beta2", "epsilon"]
                + (["one_minus_beta1_t", "one_minus_beta2_t"] if bc else [])
                + (["clip_gradient"] if clip else []) + (["lower_bound"] if lower else [])
                + (["upper_bound"] if upper else []))

    def _build_update(self, ops, T, H, opts):
        clip, bc, lower, upper = opts
        b = ops.b
        p1 = _rules.lamb_phase1(ops, T, H, clip, bc)
        g = p1["weight"]
        w = T["weight"]
        r1 = b.sqrt(b.sum(b.mul(w, w), axis=(0,), keepdims=True))
        r2 = b.sqrt(b.sum(b.mul(g, g), axis=(0,), keepdims=True))
        p2 = _rules.lamb_phase2(ops, {"weight": w, "g": g, "r1": r1, "r2": r2}, H, lower, upper)
        return {"weight": p2["weight"], "mean": p1["mean"], "var": p1["var"]}

    def _update_impl(self, index, weight, grad, state, weight16=None):
        if isinstance(index, (tuple, list)):        # an aggregated call: weight by weight
            w16s = weight16 if weight16 is not None else [None] * len(index)
            for i, w, g, st, w16 in zip(index, weight, grad, state, w16s):
                self._update_impl(i, w, g, st, w16)
            return
        _check_arrays("LAMB", weight, grad)
        self._update_count(index)
        clip, bc, lower, upper = self._opts()
        hp = [("lr", self._get_lr(index)), ("wd", self._get_wd(index)),
              ("rescale_grad", self.rescale_grad), ("beta1", self.beta1),
              ("beta2", self.beta2), ("epsilon", self.epsilon)]
        if bc:
            # as the operator computes them (mxc/ir/opdefs/optimizer.py _lamb1_hp)
            c = _rules._lamb1_hp({"beta1": self.beta1, "beta2": self.beta2,
                                  "t": self._index_update_count[index], "epsilon": 0.0,
                                  "wd": 0.0, "rescale_grad": 1.0, "clip_gradient": -1.0})
            hp += [("one_minus_beta1_t", c["one_minus_beta1_t"]),
                   ("one_minus_beta2_t", c["one_minus_beta2_t"])]
        if clip:
            hp.append(("clip_gradient", self.clip_gradient))
        if lower:
            hp.append(("lower_bound", self.lower_bound))
        if upper:
            hp.append(("upper_bound", self.upper_bound))
        mean, var = state
        self._step(index, self._opts(), [("weight", weight), ("grad", grad), ("mean", mean),
                                         ("var", var)], hp, weight16=weight16)

    def update_multi_precision(self, index, weight, grad, state):
        if isinstance(index, (tuple, list)):
            for i, w, g, st in zip(index, weight, grad, state):
                self.update_multi_precision(i, w, g, st)
            return
        super().update_multi_precision(index, weight, grad, state)


# --- Updater --------------------------------------------------------------------------------------
class Updater:
    """Applies an optimizer to (index, grad, weight) triples, keeping each index's state
    (MXNet's ``kvstore`` updater; Module calls it for every parameter and device)."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.states = {}
        self.states_synced = {}
        self.aggregate_updates = optimizer.aggregate_num > 0

    def __call__(self, index, grad, weight):
        """Update ``weight`` (or each weight of a list) from ``grad`` in place."""
        if not isinstance(index, (list, tuple)):
            indices, grads, weights = [index], [grad], [weight]
        else:
            indices, grads, weights = list(index), list(grad), list(weight)
        if weights:
            self.optimizer._set_current_context(_ctx_id(weights[0]))
        for i, idx in enumerate(indices):
            if isinstance(idx, bytes):
                indices[i] = idx = idx.decode()
            if idx not in self.states:
                self.states[idx] = self.optimizer.create_state_multi_precision(idx, weights[i])
                self.states_synced[idx] = True
            elif not self.states_synced[idx]:
                if getattr(self, "_states_unchecked", None):    # loaded by set_states
                    from runtime.module._states import check_loaded_state
                    check_loaded_state(self, idx, weights[i])
                self.states[idx] = self.sync_state_context(self.states[idx], weights[i].context)
                self.states_synced[idx] = True
        if self.aggregate_updates:
            by_type: dict = {}
            for i, w, g in zip(indices, weights, grads):
                by_type.setdefault(w.dtype, []).append((i, w, g))
            n = self.optimizer.aggregate_num
            for group in by_type.values():
                idxs, ws, gs = zip(*group)
                cur = 0
                while cur < len(idxs):
                    states = [self.states[idxs[cur + j]] for j in range(min(n, len(idxs) - cur))]
                    self.optimizer.update_multi_precision(list(idxs[cur:cur + n]),
                                                          list(ws[cur:cur + n]),
                                                          list(gs[cur:cur + n]), states)
                    cur += n
        else:
            for i, w, g in zip(indices, weights, grads):
                self.optimizer.update_multi_precision(i, w, g, self.states[i])

    def sync_state_context(self, state, context):
        """``state`` with every NDArray moved to ``context``."""
        if isinstance(state, NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(s, context) for s in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def set_states(self, states):
        """Load states from :meth:`get_states`' bytes, or from a ``.states`` file's bytes
        written by MXNet 1.x (its NDArray, optimizer and scheduler classes become mxc's; a
        restricted unpickler admits nothing else)."""
        from runtime.module._states import apply_states, loads_states
        apply_states(self, loads_states(states))

    def get_states(self, dump_optimizer=False):
        """The states as MXNet's pickle bytes (``(states, optimizer)`` with
        ``dump_optimizer``), under MXNet's class names so MXNet 1.x reads them too."""
        from runtime.module._states import dumps_states
        return dumps_states(self.states, self.optimizer, dump_optimizer=dump_optimizer)


def get_updater(optimizer):
    """An :class:`Updater` for ``optimizer``."""
    return Updater(optimizer)
