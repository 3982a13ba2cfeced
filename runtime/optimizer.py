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
new compilation). Each optimizer declares that signature once (``_declare()`` ->
:class:`UpdateDecl`: the options that change the math, its state tensors and dtypes, its
hyperparameters); ``create_state``, the graph, every step's arguments and inspection follow
from the declaration. The update is compiled once with :func:`mxc.compile.compile_graph`
(the fusion pass makes it one kernel) and cached. The kernel is bound once per parameter
(:class:`runtime.executor.UpdateBinding`) to the weight, gradient and state storage and to
output buffers shared by parameters of the same size; a step writes the hyperparameters, runs
the kernel and copies the outputs back into the weight and states, so they
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
from runtime.executor import UpdateBinding
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
# the kernels of _KERNELS that run any length (one flat pointwise kernel), by everything in
# their key but the length
_ANY_LENGTH: dict = {}


def kernel_cache_info() -> dict:
    """Entries in the update-kernel cache, cache hits (one per update step that reused a kernel)
    and misses (compilations)."""
    return _KERNELS.info()


def clear_kernel_cache():
    """Forget every compiled update kernel (optimizers rebind on their next step)."""
    _KERNELS.clear()
    _ANY_LENGTH.clear()


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


_DTYPES = {d.torch: d for d in DType if d is not DType.bf16}
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
        counts = self._index_update_count
        for idx in index:
            c = counts[idx] = counts.get(idx, self.begin_num_update) + 1
            if c > self.num_update:
                self.num_update = c

    def _scaled(self, base, indices, attr: str, table: dict) -> list:
        """``base`` times each index's multiplier: the parameter's own (``lr_mult`` /
        ``wd_mult`` attribute), else the table's by index, else by the index's name."""
        return [self._scaled1(base, index, attr, table) for index in indices]

    def _scaled1(self, base, index, attr: str, table: dict):
        if index in self.param_dict:
            return base * getattr(self.param_dict[index], attr)
        if index in table:
            return base * table[index]
        if index in self.idx2name:
            return base * table.get(self.idx2name[index], 1.0)
        return base

    def _get_lrs(self, indices):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return self._scaled(lr, indices, "lr_mult", self.lr_mult)

    def _get_lr(self, index):
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return self._scaled1(lr, index, "lr_mult", self.lr_mult)

    def _get_wds(self, indices):
        return self._scaled(self.wd, indices, "wd_mult", self.wd_mult)

    def _get_wd(self, index):
        return self._scaled1(self.wd, index, "wd_mult", self.wd_mult)

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
        ret.pop("_decl", None)
        return ret

    def __setstate__(self, state):
        self.__dict__ = state
        self.param_dict = {}


_REGISTRY = Registry(Optimizer, "optimizer")
Optimizer.opt_registry = _REGISTRY.classes
register = Optimizer.register
create = Optimizer.create_optimizer


class UpdateDecl(typing.NamedTuple):
    """What one optimizer's update reads and writes for its current options, declared once:
    the kernel's graph inputs, the states ``create_state`` makes and the values a step passes
    all follow from it.

    ``opts``: the options that change the math (part of the kernel's cache key, passed to
    ``_build_update``); ``states``: the state tensors after ``weight`` and ``grad``, as
    ``(name, dtype)`` with dtype ``"w"`` (the weight's, or its float32 master copy's) or
    ``"f32"`` (always float32); ``hparams``: the hyperparameter inputs in order; ``drawn``:
    tensors a step draws afresh (SGLD's noise), of the weight's dtype.
    """
    opts: tuple
    states: tuple
    hparams: tuple
    drawn: tuple = ()


def _with_clip(names, *flags):
    """``names`` plus each ``(flag, name)`` whose flag is on (optional hyperparameters)."""
    return tuple(names) + tuple(n for on, n in flags if on)


class _Fused(Optimizer):
    """An optimizer whose update is one compiled kernel (see the module docstring).

    A subclass declares its update once (:meth:`_declare` -> :class:`UpdateDecl`) and writes
    its math (``_build_update(ops, T, H, opts) -> {output name: Value}``: ``T`` maps tensor
    names to flat graph inputs, ``H`` hyperparameter names to shape-(1,) inputs). Output
    ``weight`` replaces the weight; other outputs replace the tensor of the same name. A
    hyperparameter's value is ``lr``/``wd`` (the index's, multipliers applied), else what
    :meth:`_hyper` derives for the index, else the optimizer's attribute of that name.
    States are zeros of the declared dtypes (one state alone, not in a tuple, when
    ``_state_single``; ``None`` when there is none).
    """

    _state_single = False       # one state: the array itself (MXNet's SGD, NAG, AdaGrad ...)
    _master_first = True        # multi-precision state: (weight32, state), else (state, weight32)
    _group_count = False        # count a whole aggregated group before reading learning rates
    _moves_old_values = False   # moves after the kernel need the old values: no in-place writes
    _counted = True             # updates count towards num_update (not the Test optimizer's)

    def _declare(self) -> UpdateDecl:
        raise NotImplementedError(f"{type(self).__name__} declares no update")

    # The declaration depends on the optimizer's public attributes only: kept until one is set
    # (those a step writes, the update count and Nadam's schedule, change no declaration).
    _STEP_ATTRS = frozenset(("num_update", "m_schedule"))

    def __setattr__(self, name, value):
        if name[0] != "_" and name not in self._STEP_ATTRS:
            self.__dict__.pop("_decl", None)
        object.__setattr__(self, name, value)

    def _declared(self) -> UpdateDecl:
        d = self.__dict__.get("_decl")
        if d is None:
            d = self.__dict__["_decl"] = self._declare()
        return d

    def _build_update(self, ops, T, H, opts):
        raise NotImplementedError(f"{type(self).__name__} has no update rule")

    def _hyper(self, index, lr, wd, t) -> dict:
        """Hyperparameter values derived for ``index`` (``t``: its update count)."""
        return {}

    def _moves(self, weight, states) -> list:
        """(source, destination) arrays copied after the kernel, before the write-back (called
        when ``_moves_old_values``)."""
        return []

    def _draw(self, name, weight) -> NDArray:
        raise NotImplementedError(f"{type(self).__name__} draws no {name}")

    # -- states ---------------------------------------------------------------------------------
    def create_state(self, index, weight):
        arrays = tuple(zeros(weight.shape, weight.context,
                             dtype=weight.dtype if kind == "w" else np.float32)
                       for _, kind in self._declared().states)
        if not arrays:
            return None
        return arrays[0] if self._state_single and len(arrays) == 1 else arrays

    def create_state_multi_precision(self, index, weight):
        return self._state_with_master(index, weight, master_first=self._master_first,
                                       who="" if self._master_first else type(self).__name__)

    # -- updates --------------------------------------------------------------------------------
    def update(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state)

    def update_multi_precision(self, index, weight, grad, state):
        """:meth:`update`; for float16 weights under ``multi_precision`` through the float32
        master copy in the state, in the same kernel (float16 gradient in, float16 weight out).
        ``index`` may be a list (an aggregated call), with lists of the rest."""
        many = isinstance(index, (tuple, list))
        first = weight[0] if many else weight
        if not (self.multi_precision and first.dtype == _F16):
            self._update_impl(index, weight, grad, state)
            return
        m, s = (0, 1) if self._master_first else (1, 0)
        if many:
            self._update_impl(index, [st[m] for st in state], grad, [st[s] for st in state],
                              weight16=list(weight))
        else:
            self._update_impl(index, state[m], grad, state[s], weight16=weight)

    def _update_impl(self, index, weight, grad, state, weight16=None):
        if isinstance(index, (tuple, list)):
            w16s = list(weight16) if weight16 is not None else [None] * len(index)
            items = list(zip(index, weight, grad, state, w16s))
        else:
            items = [(index, weight, grad, state, weight16)]
        name = type(self).__name__
        for _, w, g, _, _ in items:
            _check_arrays(name, w, g)
        d = self._declared()
        if self._group_count:
            self._update_count([i for i, *_ in items])
        get = self._index_update_count.get
        for idx, w, g, st, w16 in items:
            if self._counted and not self._group_count:
                self._update_count(idx)
            if st is None:
                arrays = [w, g]
            elif isinstance(st, NDArray):
                arrays = [w, g, st]
            else:
                arrays = [w, g] + [s for s in st if s is not None]
            if len(arrays) != 2 + len(d.states):
                raise MXNetError(f"{name}.update of parameter {idx!r}: its state holds "
                                 f"{len(arrays) - 2} arrays; the update needs {len(d.states)} "
                                 f"({', '.join(n for n, _ in d.states) or 'none'})")
            moves = self._moves(w, arrays[2:]) if self._moves_old_values else ()
            for n in d.drawn:
                arrays.append(self._draw(n, w))
            lr, wd = self._get_lr(idx), self._get_wd(idx)
            got = self._hyper(idx, lr, wd, get(idx, 0))
            values = [got[n] if n in got else lr if n == "lr" else wd if n == "wd" else
                      getattr(self, n) for n in d.hparams]
            self._step(idx, d, arrays, values, w16, moves)

    def _step(self, index, d: UpdateDecl, arrays, values, weight16=None, moves=()):
        """Run the update of parameter ``index`` declared by ``d``.

        ``arrays``: the NDArrays in graph order (weight, grad, states, drawn tensors);
        ``values``: the hyperparameters in declared order; ``weight16``: the float16 weight
        when ``weight`` is its float32 master copy (multi-precision); ``moves``: (source,
        destination) NDArrays copied after the kernel ran, before the outputs are written back.
        """
        bound_map = self.__dict__.get("_bound")
        if bound_map is None:
            bound_map = self.__dict__["_bound"] = {}
        w16obj = None if weight16 is None else weight16.torch_tensor()
        rec = bound_map.get(index)          # (binding, declaration, tensors, weight16) last time
        ent = None
        if rec is not None:
            ent, prev_d, tobjs, prev16 = rec
            if prev_d is d and prev16 is w16obj and len(tobjs) == len(arrays):
                for a, t in zip(arrays, tobjs):
                    if a.torch_tensor() is not t:
                        break
                else:                                       # the same arrays as last time
                    _KERNELS.count_hit()
                    ent.run(values, [(_flat(a), _flat(b)) for a, b in moves] if moves else ())
                    return
        w = arrays[0]
        numel = w.size
        if numel == 0:
            return
        device = w.torch_tensor().device
        mp16 = weight16 is not None
        names = ("weight", "grad") + tuple(n for n, _ in d.states) + d.drawn
        tdt = tuple((n, a.torch_tensor().dtype) for n, a in zip(names, arrays))
        base = (type(self).__name__, d.opts, tdt, d.hparams, device, mp16)
        # an update compiled for one length serves every length when it is one flat
        # pointwise kernel (Executable.flat_extent); updates with reductions (LAMB's norms)
        # compile per length
        kern = _ANY_LENGTH.get(base)
        extent = numel
        if kern is not None:
            _KERNELS.count_hit()
        else:
            key = base[:2] + (numel,) + base[2:]

            def make():
                specs = tuple((n, _DTYPES[dt]) for n, dt in tdt)
                hp_dtype = DType.f32 if mp16 else specs[0][1]
                return _build_kernel(key, self, d.opts, numel, specs, d.hparams, hp_dtype,
                                     device, mp16)
            kern = _get_kernel(key, make)
            if kern.compiled.executable.flat_extent() is not None:
                _ANY_LENGTH.setdefault(base, kern)
            else:
                extent = None
        by_name = dict(zip(names, arrays))
        targets = [_flat(weight16 if o == "weight16" else by_name[o]) for o in kern.out_names]
        ins = [_flat(a) for a in arrays]
        ptrs = tuple(t.data_ptr() for t in ins) + tuple(t.data_ptr() for t in targets)
        if ent is None or ent.program is not kern.compiled or ent.ptrs != ptrs:
            ent = UpdateBinding(kern.compiled, ins, targets, len(kern.hp_names), kern.hp_dtype,
                                kern.device, self.__dict__.setdefault("_out_bufs", {}),
                                kern.key, old=ent, extent=extent)
        bound_map[index] = (ent, d, tuple(a.torch_tensor() for a in arrays), w16obj)
        ent.run(values, [(_flat(a), _flat(b)) for a, b in moves])

    # -- inspection -----------------------------------------------------------------------------
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
        d = self._declared()
        specs = [("weight", wdt), ("grad", DType.f16 if mp16 else wdt)]
        specs += [(n, DType.f32 if kind == "f32" else wdt) for n, kind in d.states]
        specs += [(n, wdt) for n in d.drawn]
        specs = tuple(specs)
        device = torch.device("cpu")
        tdt = tuple((n, t.torch) for n, t in specs)
        key = (type(self).__name__, d.opts, numel, tdt, d.hparams, device, mp16)
        return _get_kernel(key, lambda: _build_kernel(key, self, d.opts, numel, specs,
                                                      d.hparams, wdt, device, mp16))


def _check_arrays(name, weight, grad):
    if not isinstance(weight, NDArray) or not isinstance(grad, NDArray):
        raise TypeError(f"{name}.update: weight and grad must be NDArrays; got "
                        f"{type(weight).__name__} and {type(grad).__name__}")


def _clip_on(c) -> bool:
    """C++ kernels: ``clip_gradient`` is passed when truthy and applies when >= 0."""
    return bool(c) and c >= 0


_SGD_HP = ("lr", "wd", "rescale_grad")


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

    _state_single = True
    _master_first = False
    _group_count = True             # multi_sgd: the learning rate after counting the group

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update
        self.aggregate_num = config.get("MXNET_OPTIMIZER_AGGREGATION_SIZE")

    def _declare(self):
        # as MXNet: a state whenever momentum != 0, momentum math only when it is > 0 (a
        # negative momentum keeps its state and runs plain SGD)
        mom, clip = self.momentum > 0, _clip_on(self.clip_gradient)
        return UpdateDecl((mom, clip), (("mom", "w"),) if self.momentum != 0.0 else (),
                          _with_clip(_SGD_HP, (mom, "momentum"), (clip, "clip_gradient")))

    def _build_update(self, ops, T, H, opts):
        has_mom, clip = opts
        return _rules.sgd_mom(ops, T, H, has_mom, clip)


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

    _state_single = True
    _master_first = False

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def _declare(self):
        # a state whenever momentum != 0; the momentum update only when it is > 0
        mom, clip = self.momentum > 0, _clip_on(self.clip_gradient)
        return UpdateDecl((mom, clip), (("mom", "w"),) if self.momentum != 0.0 else (),
                          _with_clip(_SGD_HP, (mom, "momentum"), (clip, "clip_gradient")))

    def _build_update(self, ops, T, H, opts):
        has_mom, clip = opts
        if not has_mom:
            return _rules.sgd(ops, T, H, clip)
        # MXNet writes the weight in place first, so the momentum's decay term reads the new one
        return _rules.nag_mom(ops, T, H, clip, inplace=True)


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

    _state_single = True

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum
        self.wd_lh = wd_lh

    def _declare(self):
        if self.momentum == 0.0:
            return UpdateDecl((False, False), (), ("lr", "wd"))
        clip = _clip_on(self.clip_gradient)
        return UpdateDecl((True, clip), (("mom", "w"),),
                          _with_clip(_SGD_HP + ("momentum", "wd_lh"), (clip, "clip_gradient")))

    def _hyper(self, index, lr, wd, t):
        return {"momentum": self.momentum if self.momentum > 0 else 0.0,
                "wd_lh": self.wd_lh or 0.0}

    def _build_update(self, ops, T, H, opts):
        has_mom, clip = opts
        if not has_mom:
            return _rules.signsgd(ops, T, H)
        return _rules.signum(ops, T, H, clip)


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

    def _declare(self):
        clip = _clip_on(self.clip_gradient)
        return UpdateDecl((clip,), (("mean", "w"), ("var", "w")),
                          _with_clip(_SGD_HP + ("beta1", "beta2", "epsilon"),
                                     (clip, "clip_gradient")))

    def _hyper(self, index, lr, wd, t):
        return {"lr": lr * math.sqrt(1. - self.beta2 ** t) / (1. - self.beta1 ** t)}

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        return _rules.adam(ops, T, H, clip)


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

    def _declare(self):
        centered = bool(self.centered)
        clip, clipw = _clip_on(self.clip_gradient), _clip_on(self.clip_weights)
        states = (("n", "f32"), ("g", "f32"), ("delta", "f32")) if centered else (("n", "f32"),)
        return UpdateDecl((centered, clip, clipw), states,
                          _with_clip(_SGD_HP + ("gamma1",), (centered, "gamma2"),
                                     (True, "epsilon"), (clip, "clip_gradient"),
                                     (clipw, "clip_weights")))

    def _build_update(self, ops, T, H, opts):
        centered, clip, clipw = opts
        if centered:
            return _rules.rmspropalex(ops, T, H, clip, clipw)
        return _rules.rmsprop(ops, T, H, clip, clipw)


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

    def _declare(self):
        clip = _clip_on(self.clip_gradient)
        return UpdateDecl((clip,), (("z", "f32"), ("n", "f32")),
                          _with_clip(_SGD_HP + ("beta", "lamda1"), (clip, "clip_gradient")))

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        return _rules.ftrl(ops, T, H, clip)


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

    def _declare(self):
        clip = _clip_on(self.clip_gradient)
        return UpdateDecl((clip,), (("d", "w"), ("v", "w"), ("z", "w")),
                          _with_clip(_SGD_HP + ("beta1", "beta2", "epsilon", "t"),
                                     (clip, "clip_gradient")))

    def _hyper(self, index, lr, wd, t):
        return {"t": float(t)}

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        return _rules.ftml(ops, T, H, clip)


# --- optimizers MXNet writes with NDArray operators ----------------------------------------------
# Each NDArray operation of MXNet's Python becomes one op of the graph, in the same order; a
# Python scalar (computed in double) is a hyperparameter input rounded once to the array dtype,
# as MXNet's scalar operators round it. Clipping is on whenever clip_gradient is not None.
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

    _state_single = True

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def _declare(self):
        clip = self.clip_gradient is not None
        return UpdateDecl((clip,), (("history", "f32"),),     # float32, as in MXNet
                          _with_clip(("neg_lr", "wd", "rescale_grad", "eps"),
                                     (clip, "clip_gradient")))

    def _hyper(self, index, lr, wd, t):
        return {"neg_lr": -lr, "eps": self.float_stable_eps}

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

    def _declare(self):
        clip = self.clip_gradient is not None
        return UpdateDecl((clip,), (("acc_g", "f32"), ("acc_delta", "f32")),
                          _with_clip(("wd", "rescale_grad", "rho", "one_minus_rho", "epsilon"),
                                     (clip, "clip_gradient")))

    def _hyper(self, index, lr, wd, t):
        return {"one_minus_rho": 1. - self.rho}

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

    def _declare(self):
        clip = self.clip_gradient is not None
        return UpdateDecl((clip,), (("m", "w"), ("u", "w")),
                          _with_clip(_SGD_HP + ("beta1", "one_minus_beta1", "beta2"),
                                     (clip, "clip_gradient")))

    def _hyper(self, index, lr, wd, t):
        return {"lr": lr / (1. - self.beta1 ** t), "one_minus_beta1": 1. - self.beta1}

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

    def _declare(self):
        clip = self.clip_gradient is not None
        return UpdateDecl((clip,), (("m", "w"), ("v", "w")), _with_clip(
            _SGD_HP + ("beta1", "one_minus_beta1", "beta2", "one_minus_beta2",
                       "one_minus_m_schedule", "one_minus_m_schedule_next", "one_minus_beta2_t",
                       "one_minus_momentum_t", "momentum_t_1", "epsilon"),
            (clip, "clip_gradient")))

    def _hyper(self, index, lr, wd, t):
        momentum_t = self.beta1 * (1. - 0.5 * (pow(0.96, t * self.schedule_decay)))
        momentum_t_1 = self.beta1 * (1. - 0.5 * (pow(0.96, (t + 1) * self.schedule_decay)))
        self.m_schedule = self.m_schedule * momentum_t      # once per update, as in MXNet
        return {"one_minus_beta1": 1. - self.beta1, "one_minus_beta2": 1. - self.beta2,
                "one_minus_m_schedule": 1. - self.m_schedule,
                "one_minus_m_schedule_next": 1. - self.m_schedule * momentum_t_1,
                "one_minus_beta2_t": 1. - pow(self.beta2, t),
                "one_minus_momentum_t": 1. - momentum_t, "momentum_t_1": momentum_t_1}

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


@register
class DCASGD(_Fused):
    """Delay-compensated asynchronous SGD::

        g = clip(grad * rescale_grad, clip_gradient)
        mom = momentum * mom - lr * (g + wd * weight + lamda * g * g * (weight - previous))
        previous = weight;  weight += mom

    The state is ``(mom, previous weight)``, ``(None, previous weight)`` without momentum.

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

    def _declare(self):
        clip = self.clip_gradient is not None
        mom = self.momentum != 0.0
        return UpdateDecl((mom, clip), ((("mom", "w"),) if mom else ()) + (("previous", "w"),),
                          _with_clip(("neg_lr", "wd", "rescale_grad", "lamda"),
                                     (mom, "momentum"), (clip, "clip_gradient")))

    def create_state(self, index, weight):
        mom = zeros(weight.shape, weight.context, dtype=weight.dtype) \
            if self.momentum != 0.0 else None
        return (mom, weight.copy())

    def _hyper(self, index, lr, wd, t):
        return {"neg_lr": -lr}

    def _moves(self, weight, states):
        return [(weight, states[-1])]       # previous = the old weight

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


@register
class SGLD(_Fused):
    """Stochastic gradient Langevin dynamics::

        weight += -lr / 2 * (clip(grad * rescale_grad, clip_gradient) + wd * weight)
        weight += normal(0, sqrt(lr))

    The noise is drawn from the generator of ``mx.random.seed`` and added in the same kernel.
    """

    def _declare(self):
        clip = self.clip_gradient is not None
        return UpdateDecl((clip,), (), _with_clip(("neg_half_lr", "wd", "rescale_grad",
                                                   "sqrt_lr"), (clip, "clip_gradient")),
                          drawn=("noise",))

    def _hyper(self, index, lr, wd, t):
        return {"neg_half_lr": -lr / 2, "sqrt_lr": math.sqrt(lr)}

    def _draw(self, name, weight):
        from mxc.random import generator
        wt = weight.torch_tensor()
        dev = wt.device
        noise = torch.randn(weight.shape, generator=generator(dev), device=dev, dtype=wt.dtype)
        return NDArray(noise, weight.context)

    def _build_update(self, ops, T, H, opts):
        (clip,) = opts
        b = ops.b
        w = T["weight"]
        g = b.mul(T["grad"], H["rescale_grad"])
        if clip:
            g = ops.clip(g, H["clip_gradient"])
        w1 = b.add(w, b.mul(b.add(g, b.mul(w, H["wd"])), H["neg_half_lr"]))
        return {"weight": b.add(w1, b.mul(T["noise"], H["sqrt_lr"]))}


@register
class Test(_Fused):
    """The test optimizer: ``weight += grad * rescale_grad``; the state copies the weight."""

    _state_single = True
    _counted = False

    def _declare(self):
        return UpdateDecl((), (("state", "f32"),), ("rescale_grad",))

    def _build_update(self, ops, T, H, opts):
        b = ops.b
        w = b.add(T["weight"], b.mul(T["grad"], H["rescale_grad"]))
        return {"weight": w, "state": b.op("_copy", [w])}


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

    def _declare(self):
        clip, bc = bool(self.clip_gradient), bool(self.bias_correction)
        lower, upper = bool(self.lower_bound), bool(self.upper_bound)
        return UpdateDecl((clip, bc, lower, upper), (("mean", "w"), ("var", "w")), _with_clip(
            _SGD_HP + ("beta1", "beta2", "epsilon"), (bc, "one_minus_beta1_t"),
            (bc, "one_minus_beta2_t"), (clip, "clip_gradient"), (lower, "lower_bound"),
            (upper, "upper_bound")))

    def _hyper(self, index, lr, wd, t):
        if not self.bias_correction:
            return {}
        # as the operator computes them (mxc/ir/opdefs/optimizer.py _lamb1_hp)
        c = _rules._lamb1_hp({"beta1": self.beta1, "beta2": self.beta2, "t": t,
                              "epsilon": 0.0, "wd": 0.0, "rescale_grad": 1.0,
                              "clip_gradient": -1.0})
        return {"one_minus_beta1_t": c["one_minus_beta1_t"],
                "one_minus_beta2_t": c["one_minus_beta2_t"]}

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
