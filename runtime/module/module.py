"""``Module``: a Symbol bound to one executor per context (MXNet's ``mx.mod.Module``).

Binding compiles the symbol's forward and backward for the bound shapes once (the executor's
process-wide compile cache makes a second module, a reshape or a bucket of the same shapes a
lookup). The optimizer runs as compiled update kernels (``runtime.optimizer``). With one context
the module updates its parameters directly (no kvstore, as MXNet); with several, gradients are
summed through the kvstore (``'local'`` by default) and, as in MXNet, the kvstore runs the
updates (``update_on_kvstore``) unless ``MXNET_UPDATE_ON_KVSTORE=0`` or a parameter has more
than 16M elements, in which case the summed gradient is pulled back to every device and each
device updates its copy.

What MXNet users rely on is kept: ``rescale_grad = 1/batch_size`` for optimizers created by
name, ``param_idx2name`` (``i * num_devices + k``, or ``i`` on the kvstore), fixed parameters
(``grad_req='null'``), ``state_names``, the ``Saved checkpoint to "%s"`` log line, and the
``-symbol.json`` / ``-%04d.params`` / ``-%04d.states`` files (readable by MXNet; ``.states``
from MXNet are read through a restricted unpickler).
"""
from __future__ import annotations

import logging
import warnings

from mxc.base import MXNetError, ShapeError, StateError
from mxc.context import Context, cpu
from mxc.ndarray import zeros

from .base_module import _UNIFORM_001, BaseModule, _check_input_names, _parse_data_desc
from .executor_group import DataParallelExecutorGroup

__all__ = ["Module"]

_CPU = cpu()


class Module(BaseModule):
    """A module wrapping a Symbol (functionally MXNet's FeedForward under the module API).

    Parameters
    ----------
    symbol : Symbol
    data_names : list of str, default ``('data',)``
    label_names : list of str, default ``('softmax_label',)``
    logger : Logger, default ``logging``
    context : Context or list of Context, default ``cpu()``
        Several contexts train data-parallel (each gets a slice of every batch).
    work_load_list : list of number, optional
        Relative batch share of each context (default: equal).
    fixed_param_names : list of str, optional
        Parameters that are not trained (no gradient is computed for them).
    state_names : list of str, optional
        Inputs that are neither data nor label (zero-initialized, set with ``set_states``).
    group2ctxs : dict or list of dict, optional
        ``ctx_group`` attribute to context (accepted; every group runs on the executor's
        context).
    compression_params : dict, optional
        Gradient compression for the kvstore (``{'type': '2bit', 'threshold': t}``, on the
        ``dist_*`` kvstores; see docs/distributed.md).
    """

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=_CPU, work_load_list=None,
                 fixed_param_names=None, state_names=None, group2ctxs=None,
                 compression_params=None):
        super().__init__(logger=logger)
        if isinstance(context, Context):
            context = [context]
        context = list(context)
        if not context:
            raise MXNetError("Module: context must be a Context or a non-empty list of them")
        self._context = context
        if work_load_list is None:
            work_load_list = [1] * len(self._context)
        if len(work_load_list) != len(self._context):
            raise MXNetError(f"Module: work_load_list has {len(work_load_list)} entries for "
                             f"{len(self._context)} contexts")
        self._work_load_list = work_load_list
        self._group2ctxs = group2ctxs
        self._symbol = symbol
        data_names = list(data_names) if data_names is not None else []
        label_names = list(label_names) if label_names is not None else []
        state_names = list(state_names) if state_names is not None else []
        fixed_param_names = list(fixed_param_names) if fixed_param_names is not None else []
        _check_input_names(symbol, data_names, "data", True)
        _check_input_names(symbol, label_names, "label", False)
        _check_input_names(symbol, state_names, "state", True)
        _check_input_names(symbol, fixed_param_names, "fixed_param", True)
        arg_names = symbol.list_arguments()
        input_names = data_names + label_names + state_names
        self._param_names = [x for x in arg_names if x not in input_names]
        self._fixed_param_names = fixed_param_names
        self._aux_names = symbol.list_auxiliary_states()
        self._data_names = data_names
        self._label_names = label_names
        self._state_names = state_names
        self._output_names = symbol.list_outputs()
        self._arg_params = None
        self._aux_params = None
        self._params_dirty = False
        self._compression_params = compression_params
        self._optimizer = None
        self._kvstore = None
        self._update_on_kvstore = None
        self._updater = None
        self._preload_opt_states = None
        self._grad_req = None
        self._exec_group = None
        self._data_shapes = None
        self._label_shapes = None

    # -- checkpoints --------------------------------------------------------------------------
    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs):
        """A Module from ``prefix-symbol.json`` and ``prefix-%04d.params`` (and, with
        ``load_optimizer_states``, ``prefix-%04d.states`` once the optimizer is installed).
        ``kwargs`` go to the constructor (data_names, label_names, context, ...)."""
        from runtime.model import load_checkpoint
        sym, args, auxs = load_checkpoint(prefix, epoch)
        mod = Module(symbol=sym, **kwargs)
        mod._arg_params = args
        mod._aux_params = auxs
        mod.params_initialized = True
        if load_optimizer_states:
            mod._preload_opt_states = f"{prefix}-{epoch:04d}.states"
        return mod

    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False,
                        remove_amp_cast=True):
        """Write ``prefix-symbol.json``, ``prefix-%04d.params`` and, with
        ``save_optimizer_states``, ``prefix-%04d.states``; every file is written to a
        temporary name and renamed, so a crash leaves the previous checkpoint intact. With a
        dist kvstore only rank 0 writes (the workers hold the same parameters)."""
        from runtime import dist
        if not dist.is_writer():
            return
        self._symbol.save(f"{prefix}-symbol.json", remove_amp_cast=remove_amp_cast)
        param_name = f"{prefix}-{epoch:04d}.params"
        self.save_params(param_name)
        # MXNet logs these on the root logger, not self.logger
        logging.info('Saved checkpoint to "%s"', param_name)  # noqa: LOG015
        if save_optimizer_states:
            state_name = f"{prefix}-{epoch:04d}.states"
            self.save_optimizer_states(state_name)
            logging.info('Saved optimizer state to "%s"', state_name)  # noqa: LOG015

    def _reset_bind(self):
        self.binded = False
        self._exec_group = None
        self._data_shapes = None
        self._label_shapes = None

    # -- names and shapes ---------------------------------------------------------------------
    @property
    def data_names(self):
        """Names of the data inputs."""
        return self._data_names

    @property
    def label_names(self):
        """Names of the labels."""
        return self._label_names

    @property
    def output_names(self):
        """Names of the symbol's outputs."""
        return self._output_names

    @property
    def state_names(self):
        """Names of the state inputs."""
        return self._state_names

    @property
    def fixed_param_names(self):
        """Names of the parameters that are not trained."""
        return self._fixed_param_names

    @property
    def data_shapes(self):
        """The bound data DataDescs."""
        self._require("data_shapes", binded=True)
        return self._data_shapes

    @property
    def label_shapes(self):
        """The bound label DataDescs (None without labels)."""
        self._require("label_shapes", binded=True)
        return self._label_shapes

    @property
    def output_shapes(self):
        """``[(name, shape)]`` of the outputs for the bound batch size."""
        self._require("output_shapes", binded=True)
        return self._exec_group.get_output_shapes()

    # -- parameters ---------------------------------------------------------------------------
    def get_params(self):
        """``(arg_params, aux_params)``: CPU arrays holding the current values."""
        self._require("get_params", params=True)
        if self._params_dirty:
            self._sync_params_from_devices()
        return (self._arg_params, self._aux_params)

    def init_params(self, initializer=_UNIFORM_001, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Initialize parameters and aux states: copied from ``arg_params`` / ``aux_params``
        where present, else from ``initializer`` (called with an ``InitDesc`` carrying the
        symbol's attributes, in sorted name order); a name missing from a given dict is an
        error unless ``allow_missing``."""
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. "
                          "init_params call ignored.", stacklevel=2)
            return
        self._require("init_params", binded=True)

        def _impl(desc, arr, cache):
            name = str(desc)
            if cache is not None:
                if name in cache:
                    src = cache[name]
                    if src is not arr:
                        if tuple(src.shape) != tuple(arr.shape):
                            raise ShapeError(
                                f"init_params: {name} is given with shape {tuple(src.shape)} "
                                f"but the module bound with data shapes "
                                f"{[tuple(d) for d in self._data_shapes]} needs "
                                f"{tuple(arr.shape)}")
                        src.copyto(arr)
                else:
                    if not allow_missing:
                        raise MXNetError(f"{name} is not presented (init_params: the given "
                                         "parameters miss it; pass allow_missing=True to "
                                         "initialize it with the initializer)")
                    if initializer is not None:
                        initializer(desc, arr)
            else:
                if initializer is None:
                    raise MXNetError(f"init_params: no value and no initializer for {name}")
                initializer(desc, arr)

        from runtime.initializer import InitDesc
        attrs = self._symbol.attr_dict()
        for name, arr in sorted(self._arg_params.items()):
            _impl(InitDesc(name, attrs.get(name, None)), arr, arg_params)
        for name, arr in sorted(self._aux_params.items()):
            _impl(InitDesc(name, attrs.get(name, None)), arr, aux_params)
        self.params_initialized = True
        self._params_dirty = False
        self._exec_group.set_params(self._arg_params, self._aux_params, allow_extra=allow_extra)

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        """Assign parameter and aux state values (copied to every device)."""
        if not allow_missing:
            self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                             allow_missing=allow_missing, force_init=force_init,
                             allow_extra=allow_extra)
            return
        if self.params_initialized and not force_init:
            warnings.warn("Parameters already initialized and force_init=False. "
                          "set_params call ignored.", stacklevel=2)
            return
        self._require("set_params", binded=True)
        self._exec_group.set_params(arg_params, aux_params, allow_extra=allow_extra)
        self._params_dirty = True
        self.params_initialized = True

    # -- binding ------------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True,
             inputs_need_grad=False, force_rebind=False, shared_module=None,
             grad_req="write"):
        """Allocate arrays and bind one executor per context for these shapes.

        ``shared_module`` (bucketing): a bound, initialized Module whose parameter arrays this
        one shares. ``grad_req``: 'write', 'add' or 'null', globally or per argument.
        """
        if force_rebind:
            self._reset_bind()
        if self.binded:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if not for_training and inputs_need_grad:
            raise MXNetError("bind: inputs_need_grad=True needs for_training=True")
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._grad_req = grad_req
        self._data_shapes, self._label_shapes = _parse_data_desc(
            self.data_names, self.label_names, data_shapes, label_shapes)
        if shared_module is not None:
            if not isinstance(shared_module, Module):
                raise MXNetError("bind: shared_module must be a Module")
            if not (shared_module.binded and shared_module.params_initialized):
                raise StateError("bind: shared_module must be bound and have its parameters "
                                 "initialized (call bind and init_params on it first)")
            shared_group = shared_module._exec_group
            if len(shared_group.execs) < len(self._context):
                raise MXNetError("bind: shared_module has fewer contexts than this module")
        else:
            shared_group = None
        self._exec_group = DataParallelExecutorGroup(
            self._symbol, self._context, self._work_load_list, self._data_shapes,
            self._label_shapes, self._param_names, for_training, inputs_need_grad,
            shared_group, logger=self.logger, fixed_param_names=self._fixed_param_names,
            grad_req=grad_req, group2ctxs=self._group2ctxs, state_names=self._state_names)
        self._total_exec_bytes = self._exec_group._total_exec_bytes
        if shared_module is not None:
            self.params_initialized = True
            self._arg_params = shared_module._arg_params
            self._aux_params = shared_module._aux_params
        elif self.params_initialized:
            # re-binding (or Module.load): copy the known parameters to the new executors
            missing = [n for n in self._param_names if n not in self._arg_params] + \
                [n for n in self._aux_names if n not in self._aux_params]
            if missing:
                self._reset_bind()
                raise MXNetError(f"bind: the module's parameters (from Module.load or an "
                                 f"earlier bind) have no value for {missing}; create the "
                                 "Module from the symbol and call set_params(arg_params, "
                                 "aux_params, allow_missing=True) to initialize them")
            self._exec_group.set_params(self._arg_params, self._aux_params)
        else:
            self._arg_params = {name: zeros(x[0].shape, dtype=x[0].dtype)
                                for name, x in zip(self._param_names,
                                                   self._exec_group.param_arrays)}
            self._aux_params = {name: zeros(x[0].shape, dtype=x[0].dtype)
                                for name, x in zip(self._aux_names,
                                                   self._exec_group.aux_arrays)}
        if shared_module is not None and shared_module.optimizer_initialized:
            self.borrow_optimizer(shared_module)
        self.binded = True

    def reshape(self, data_shapes, label_shapes=None):
        """Rebind for new input shapes (parameters shared; executors cached by shape)."""
        self._require("reshape", binded=True)
        self._data_shapes, self._label_shapes = _parse_data_desc(
            self.data_names, self.label_names, data_shapes, label_shapes)
        self._exec_group.reshape(self._data_shapes, self._label_shapes)

    # -- optimizer ----------------------------------------------------------------------------
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Install the optimizer (``optimizer_params`` go to ``mx.optimizer.create`` with
        ``rescale_grad=1/batch_size`` unless given) and, for several contexts, the kvstore."""
        self._require("init_optimizer", binded=True, params=True)
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring...")
            return
        from runtime import optimizer as opt
        from runtime.model import _create_kvstore, _initialize_kvstore
        if self._params_dirty:
            self._sync_params_from_devices()
        (kvstore, update_on_kvstore) = _create_kvstore(kvstore, len(self._context),
                                                       self._arg_params)
        batch_size = self._exec_group.batch_size
        if kvstore and "dist" in kvstore.type and "_sync" in kvstore.type:
            batch_size *= kvstore.num_workers
        rescale_grad = 1.0 / batch_size
        idx2name = {}
        if update_on_kvstore:
            idx2name.update(enumerate(self._exec_group.param_names))
        else:
            for k in range(len(self._context)):
                idx2name.update({i * len(self._context) + k: n
                                 for i, n in enumerate(self._exec_group.param_names)})
        if isinstance(optimizer, str):
            optimizer_params = dict(optimizer_params)
            if "rescale_grad" not in optimizer_params:
                optimizer_params["rescale_grad"] = rescale_grad
            optimizer = opt.create(optimizer, sym=self.symbol, param_idx2name=idx2name,
                                   **optimizer_params)
        else:
            if not isinstance(optimizer, opt.Optimizer):
                raise TypeError(f"init_optimizer: optimizer must be a name or an Optimizer; "
                                f"got {type(optimizer).__name__}")
            if optimizer.rescale_grad != rescale_grad:
                warnings.warn(
                    "Optimizer created manually outside Module but rescale_grad is not "
                    f"normalized to 1.0/batch_size/num_workers ({optimizer.rescale_grad} vs. "
                    f"{rescale_grad}). Is this intended?",
                    stacklevel=2)
            if not optimizer.idx2name:
                optimizer.idx2name = idx2name.copy()
        self._optimizer = optimizer
        self._kvstore = kvstore
        self._update_on_kvstore = update_on_kvstore
        self._updater = None
        if kvstore:
            if self._compression_params:
                kvstore.set_gradient_compression(self._compression_params)
            if update_on_kvstore:
                kvstore.set_optimizer(self._optimizer)
            _initialize_kvstore(kvstore=kvstore, param_arrays=self._exec_group.param_arrays,
                                arg_params=self._arg_params, param_names=self._param_names,
                                update_on_kvstore=update_on_kvstore)
        if not update_on_kvstore:
            self._updater = opt.get_updater(optimizer)
        self.optimizer_initialized = True
        if self._preload_opt_states is not None:
            self.load_optimizer_states(self._preload_opt_states)
            self._preload_opt_states = None

    def borrow_optimizer(self, shared_module):
        """Use ``shared_module``'s optimizer, kvstore and updater (bucketing)."""
        if not shared_module.optimizer_initialized:
            raise StateError("borrow_optimizer: the shared module's optimizer is not "
                             "initialized; call init_optimizer() on it first")
        self._optimizer = shared_module._optimizer
        self._kvstore = shared_module._kvstore
        self._update_on_kvstore = shared_module._update_on_kvstore
        self._updater = shared_module._updater
        self.optimizer_initialized = True

    # -- computation --------------------------------------------------------------------------
    def forward(self, data_batch, is_train=None):
        """Forward on a batch (``is_train`` None: ``for_training``). A batch whose shapes
        differ from the bound ones reshapes the module first, as MXNet does."""
        self._require("forward", binded=True, params=True)
        curr_data_shapes = tuple(tuple(i.shape) for i in self._data_shapes)
        if isinstance(data_batch, list):
            if not data_batch:
                raise MXNetError("forward: Encountered empty data batch")
            new_data_shapes = []
            for i in range(len(data_batch[0].data)):
                shape = tuple(data_batch[0].data[i].shape)
                for db in data_batch:
                    if shape != tuple(db.data[i].shape):
                        raise ShapeError("All data batches in a list need to have the same "
                                         "shape")
                new_data_shapes.append((len(data_batch) * shape[0],) + shape[1:])
            new_data_shapes = tuple(new_data_shapes)
        else:
            if data_batch.data is None:
                raise MXNetError("forward: the batch has no data")
            new_data_shapes = tuple(tuple(i.shape) for i in data_batch.data)
        if curr_data_shapes != new_data_shapes:
            if len(new_data_shapes) != len(curr_data_shapes):
                raise MXNetError(f"forward: the batch has {len(new_data_shapes)} data array(s) "
                                 f"but the module reads {len(curr_data_shapes)} "
                                 f"({self._data_names})")
            from runtime.io import DataDesc
            if getattr(data_batch, "provide_data", None):
                new_dshape = data_batch.provide_data
            else:
                new_dshape = [DataDesc(i.name, shape, i.dtype, i.layout)
                              for i, shape in zip(self._data_shapes, new_data_shapes)]
            if getattr(data_batch, "provide_label", None):
                new_lshape = data_batch.provide_label
            elif getattr(data_batch, "label", None) and self._label_shapes:
                new_lshape = [DataDesc(i.name, tuple(j.shape), i.dtype, i.layout)
                              for i, j in zip(self._label_shapes, data_batch.label)]
            else:
                new_lshape = None
            self.reshape(new_dshape, new_lshape)
        self._exec_group.forward(data_batch, is_train)

    def backward(self, out_grads=None):
        """Backward on the last forward (``out_grads`` for outputs that are not losses)."""
        self._require("backward", binded=True, params=True)
        self._exec_group.backward(out_grads=out_grads)

    def update(self):
        """Update the parameters from the last backward's gradients."""
        self._require("update", binded=True, params=True, optimizer=True)
        from runtime.model import _update_params, _update_params_on_kvstore
        self._params_dirty = True
        if self._update_on_kvstore:
            _update_params_on_kvstore(self._exec_group.param_arrays,
                                      self._exec_group.grad_arrays,
                                      self._kvstore, self._exec_group.param_names)
        else:
            _update_params(self._exec_group.param_arrays, self._exec_group.grad_arrays,
                           updater=self._updater, num_device=len(self._context),
                           kvstore=self._kvstore, param_names=self._exec_group.param_names)

    def get_outputs(self, merge_multi_context=True):
        """Outputs of the last forward (merged over devices by default)."""
        self._require("get_outputs", binded=True, params=True)
        return self._exec_group.get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        """Gradients of the data inputs (bind with ``inputs_need_grad=True``)."""
        self._require("get_input_grads", binded=True, params=True)
        if not self.inputs_need_grad:
            raise StateError("Module.get_input_grads: the module was bound without input "
                             "gradients; call bind(..., inputs_need_grad=True) first")
        return self._exec_group.get_input_grads(merge_multi_context=merge_multi_context)

    def get_states(self, merge_multi_context=True):
        """The state arrays (``[[state_dev1, state_dev2], ...]``)."""
        self._require("get_states", binded=True, params=True)
        return self._exec_group.get_states(merge_multi_context=merge_multi_context)

    def set_states(self, states=None, value=None):
        """Set the state arrays from ``states`` or to the scalar ``value``."""
        self._require("set_states", binded=True, params=True)
        self._exec_group.set_states(states, value)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Accumulate ``eval_metric`` over the last outputs and ``labels``."""
        self._require("update_metric", binded=True)
        self._exec_group.update_metric(eval_metric, labels, pre_sliced)

    def _sync_params_from_devices(self):
        self._exec_group.get_params(self._arg_params, self._aux_params)
        self._params_dirty = False

    # -- optimizer states ---------------------------------------------------------------------
    def save_optimizer_states(self, fname):
        """Write the optimizer states (MXNet's pickled Updater states) to ``fname``."""
        self._require("save_optimizer_states", optimizer=True)
        if self._update_on_kvstore:
            self._kvstore.save_optimizer_states(fname)
        else:
            from ._states import dumps_states, write_states_file
            write_states_file(fname, dumps_states(self._updater.states))

    def load_optimizer_states(self, fname):
        """Load optimizer states written by :meth:`save_optimizer_states` or by MXNet (read
        through a restricted unpickler)."""
        self._require("load_optimizer_states", optimizer=True)
        if self._update_on_kvstore:
            self._kvstore.load_optimizer_states(fname)
        else:
            from ._states import apply_states, loads_states, read_states_file
            # each state is checked against its parameter (index i * num_device + k) at load
            nd = len(self._context)
            weights = {i * nd + k: (name, arr)
                       for i, (name, arrs) in enumerate(zip(self._exec_group.param_names,
                                                            self._exec_group.param_arrays))
                       for k, arr in enumerate(arrs)}
            apply_states(self._updater, loads_states(read_states_file(fname), str(fname)),
                         str(fname), weights)

    def install_monitor(self, mon):
        """Install a monitor (``mx.mon.Monitor``) on every executor, present and future (its
        executors recompile, or take from the cache, programs that keep the watched values);
        ``None`` removes it."""
        self._require("install_monitor", binded=True)
        self._exec_group.install_monitor(mon)

    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Nothing to prepare for dense parameters (row_sparse pulls are not supported)."""
        self._require("prepare", binded=True)
        if sparse_row_id_fn is not None:
            warnings.warn(UserWarning("Parameters are not updated in the KVStore. "
                                      "No need to call sparse_row_id_fn."), stacklevel=2)


# names MXNet's mxnet.module.module has
from mxc import context as ctx, ndarray as nd  # noqa: E402,F401
from runtime import optimizer as opt  # noqa: E402,F401
from runtime.initializer import InitDesc, Uniform  # noqa: E402,F401
from runtime.io import DataDesc  # noqa: E402,F401


def __getattr__(name):
    # runtime.model imports this package: MXNet's re-export of load_checkpoint resolves on use
    if name == "load_checkpoint":
        from runtime.model import load_checkpoint
        return load_checkpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
