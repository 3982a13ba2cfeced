"""``mx.model``: checkpoints, the parameter-update helpers shared by modules, and MXNet's
legacy ``FeedForward`` model.

Checkpoint files are MXNet's: ``prefix-symbol.json`` (the symbol) and ``prefix-%04d.params``
(``arg:<name>`` / ``aux:<name>`` arrays in MXNet's binary format). :func:`save_checkpoint`
writes each through a temporary file renamed on success, so a crash half way leaves the
previous checkpoint intact, and logs ``Saved checkpoint to "<params file>"`` at INFO level as
MXNet does.
"""
from __future__ import annotations

import logging
import time
import warnings

import numpy as np

from mxc import config
from mxc.base import FormatError, MXNetError, UnsupportedError
from mxc.context import Context, cpu

from .callback import BatchEndParam, LogValidationMetricsCallback
from .module.base_module import _UNIFORM_001

_LOG_VALIDATION = LogValidationMetricsCallback()     # FeedForward.fit's default, as MXNet's

__all__ = ["BatchEndParam", "FeedForward", "load_checkpoint", "load_params", "save_checkpoint"]


# --- kvstore selection and parameter updates (MXNet's model.py helpers) ------------------------
def _create_kvstore(kvstore, num_device, arg_params):
    """``(kvstore or None, update_on_kvstore)`` as MXNet 1.9.1 decides them: no kvstore for one
    device; updates on the kvstore unless ``MXNET_UPDATE_ON_KVSTORE=0`` or (for ``'local'``)
    a parameter has more than 16M elements."""
    from runtime import kvstore as kvs
    update_on_kvstore = config.get("MXNET_UPDATE_ON_KVSTORE")
    if kvstore is None:
        kv = None
    elif isinstance(kvstore, kvs.KVStoreBase):
        kv = kvstore
    elif isinstance(kvstore, str):
        if num_device == 1 and "dist" not in kvstore:
            kv = None
        else:
            kv = kvs.create(kvstore)
            if kvstore == "local":
                max_size = max(int(np.prod(p.shape)) for p in arg_params.values()) \
                    if arg_params else 0
                if max_size > 1024 * 1024 * 16:
                    update_on_kvstore = False
    else:
        raise TypeError("kvstore must be KVStore, str or None")
    if kv is None:
        update_on_kvstore = False
    else:
        update_on_kvstore &= kv.is_capable(kvs.KVStoreBase.OPTIMIZER)
    return (kv, update_on_kvstore)


def _initialize_kvstore(kvstore, param_arrays, arg_params, param_names, update_on_kvstore):
    """Put the initial parameters in the kvstore (and, when it runs the updates, on every
    device)."""
    for idx, param_on_devs in enumerate(param_arrays):
        name = param_names[idx]
        if not update_on_kvstore:
            kvstore.init(name, arg_params[name])
        else:
            kvstore.broadcast(name, arg_params[name], out=param_on_devs)


def _update_params_on_kvstore(param_arrays, grad_arrays, kvstore, param_names):
    """Push every gradient (summed over devices), update on the kvstore, pull the weights.
    A dist kvstore takes all of them in one call (its allreduces go in buckets)."""
    if getattr(kvstore, "_batched_push", False):
        valid = [i for i, g in enumerate(grad_arrays) if g[0] is not None]
        if valid:
            names = [param_names[i] for i in valid]
            kvstore.push(names, [grad_arrays[i] for i in valid])
            kvstore.pull(names, out=[param_arrays[i] for i in valid])
        return
    for index, (arg_list, grad_list) in enumerate(zip(param_arrays, grad_arrays)):
        if grad_list[0] is None:
            continue
        name = param_names[index]
        kvstore.push(name, grad_list, priority=-index)
        kvstore.pull(name, out=arg_list, priority=-index)


def _update_params(param_arrays, grad_arrays, updater, num_device, kvstore=None,
                   param_names=None):
    """Update every device's copy of the parameters with ``updater``; with a kvstore the
    gradients are summed over devices first. The updater index of parameter ``i`` on device
    ``k`` is ``i * num_device + k`` (MXNet's)."""
    updates = [[] for _ in range(num_device)]
    if kvstore and getattr(kvstore, "_batched_push", False):
        valid = [i for i, g in enumerate(grad_arrays) if g[0] is not None]
        if valid:
            names = [param_names[i] for i in valid]
            kvstore.push(names, [grad_arrays[i] for i in valid])
            kvstore.pull(names, out=[grad_arrays[i] for i in valid])
        kvstore = None          # summed over workers: the loop below only updates
    for i, (arg_list, grad_list) in enumerate(zip(param_arrays, grad_arrays)):
        if grad_list[0] is None:
            continue
        index = i
        if kvstore:
            name = param_names[index]
            kvstore.push(name, grad_list, priority=-index)
            kvstore.pull(name, out=grad_list, priority=-index)
        for k, (w, g) in enumerate(zip(arg_list, grad_list)):
            updates[k].append((index * num_device + k, g, w))
    for dev_updates in updates:
        if dev_updates:
            idx, grads, weights = zip(*dev_updates)
            updater(list(idx), list(grads), list(weights))


def _multiple_callbacks(callbacks, *args, **kwargs):
    """Call ``callbacks`` (None, one callable or a list) with the arguments."""
    if isinstance(callbacks, list):
        for cb in callbacks:
            cb(*args, **kwargs)
        return
    if callbacks:
        callbacks(*args, **kwargs)


# --- checkpoints ------------------------------------------------------------------------------
def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """Write ``prefix-symbol.json`` (when ``symbol`` is given) and ``prefix-%04d.params``.

    Both are written to a temporary file and renamed over the target, so a crash half way
    leaves the previous checkpoint intact and no partial file behind. In distributed training
    (a ``dist_*`` kvstore) only rank 0 writes; the workers hold the same parameters.
    """
    from mxc.ndarray import save

    from . import dist
    if not dist.is_writer():
        return      # distributed training: rank 0 writes what every worker holds alike
    if symbol is not None:
        symbol.save(f"{prefix}-symbol.json", remove_amp_cast=remove_amp_cast)
    c = cpu()
    save_dict = {f"arg:{k}": v.as_in_context(c) for k, v in arg_params.items()}
    save_dict.update({f"aux:{k}": v.as_in_context(c) for k, v in aux_params.items()})
    param_name = f"{prefix}-{epoch:04d}.params"
    save(param_name, save_dict)
    logging.info('Saved checkpoint to "%s"', param_name)  # noqa: LOG015 (MXNet's root logger)


def load_params(prefix, epoch):
    """``(arg_params, aux_params)`` from ``prefix-%04d.params``."""
    from mxc.ndarray import load
    fname = f"{prefix}-{epoch:04d}.params"
    save_dict = load(fname)
    arg_params, aux_params = {}, {}
    if not save_dict:
        logging.warning("Params file '%s' is empty", fname)  # noqa: LOG015
        return (arg_params, aux_params)
    if not isinstance(save_dict, dict):
        raise FormatError(f"{fname}: a checkpoint's parameters must be named (arg:/aux: keys); "
                          "this file holds an unnamed list")
    for k, v in save_dict.items():
        tp, _, name = k.partition(":")
        if tp == "arg":
            arg_params[name] = v
        if tp == "aux":
            aux_params[name] = v
    return (arg_params, aux_params)


def load_checkpoint(prefix, epoch):
    """``(symbol, arg_params, aux_params)`` from ``prefix-symbol.json`` and
    ``prefix-%04d.params``."""
    from mxc.symbol import load
    symbol = load(f"{prefix}-symbol.json")
    arg_params, aux_params = load_params(prefix, epoch)
    return (symbol, arg_params, aux_params)


# --- FeedForward ------------------------------------------------------------------------------
def _check_arguments(symbol):
    """No two arguments (or two aux states) of ``symbol`` may share a name."""
    for what, names in (("argument", symbol.list_arguments()),
                        ("auxiliary state", symbol.list_auxiliary_states())):
        seen = set()
        for n in names:
            if n in seen:
                raise MXNetError(f"Find duplicated {what} name \"{n}\", please make the "
                                 f"weight name non-duplicated(using name arguments), "
                                 f"arguments are {names}")
            seen.add(n)


class FeedForward:
    """MXNet's legacy model API (deprecated in MXNet in favour of ``mx.mod.Module``): train and
    predict a single-data, single-output network on numpy arrays or a DataIter.

    Parameters
    ----------
    symbol : Symbol
    ctx : Context or list of Context, optional (default ``[cpu()]``)
    num_epoch : int, optional
    epoch_size : int, optional
        Batches per epoch (default: one pass over the data).
    optimizer : str or Optimizer, default 'sgd'
    initializer : Initializer, default ``Uniform(0.01)``
    numpy_batch_size : int, default 128
        Batch size for numpy inputs.
    arg_params, aux_params : dict of str to NDArray, optional
    allow_extra_params : bool, default False
        Drop parameters the symbol does not use instead of failing.
    begin_epoch : int, default 0
    kwargs
        Optimizer arguments (``learning_rate``, ``momentum``, ``wd`` ...).
    """

    def __init__(self, symbol, ctx=None, num_epoch=None, epoch_size=None, optimizer="sgd",
                 initializer=_UNIFORM_001, numpy_batch_size=128, arg_params=None, aux_params=None,
                 allow_extra_params=False, begin_epoch=0, **kwargs):
        warnings.warn("mxnet.model.FeedForward has been deprecated. "
                      "Please use mxnet.mod.Module instead.", DeprecationWarning, stacklevel=2)
        from mxc.symbol import Symbol
        if isinstance(symbol, Symbol):
            self.symbol = symbol
            self.sym_gen = None
        else:
            if not callable(symbol):
                raise TypeError("FeedForward: symbol must be a Symbol or a callable sym_gen")
            self.symbol = None
            self.sym_gen = symbol
        self.arg_params = arg_params
        self.aux_params = aux_params
        self.allow_extra_params = allow_extra_params
        self.argument_checked = False
        if self.sym_gen is None:
            self._check_arguments()
        if ctx is None:
            ctx = [cpu()]
        elif isinstance(ctx, Context):
            ctx = [ctx]
        self.ctx = ctx
        self.num_epoch = num_epoch
        self.epoch_size = epoch_size
        self.kwargs = kwargs.copy()
        self.optimizer = optimizer
        self.initializer = initializer
        self.numpy_batch_size = numpy_batch_size
        self._pred_exec = None
        self.begin_epoch = begin_epoch

    def _check_arguments(self):
        if self.argument_checked:
            return
        self.argument_checked = True
        _check_arguments(self.symbol)
        if self.allow_extra_params:
            if self.arg_params:
                names = set(self.symbol.list_arguments())
                self.arg_params = {k: v for k, v in self.arg_params.items() if k in names}
            if self.aux_params:
                names = set(self.symbol.list_auxiliary_states())
                self.aux_params = {k: v for k, v in self.aux_params.items() if k in names}

    @staticmethod
    def _is_data_arg(name):
        return name.endswith(("data", "label"))

    def _init_params(self, inputs, overwrite=False):
        """Create and initialize the parameters for these input DataDescs."""
        from mxc.ndarray import zeros
        from runtime.io import DataDesc
        inputs = [x if isinstance(x, DataDesc) else DataDesc(*x) for x in inputs]
        input_shapes = {item.name: item.shape for item in inputs}
        arg_shapes, _, aux_shapes = self.symbol.infer_shape(**input_shapes)
        if arg_shapes is None:
            raise MXNetError(f"FeedForward: cannot infer shapes from {input_shapes}")
        input_dtypes = {item.name: item.dtype for item in inputs}
        arg_dtypes, _, aux_dtypes = self.symbol.infer_type(**input_dtypes)
        arg_names = self.symbol.list_arguments()
        input_names = input_shapes.keys()
        param_names = [key for key in arg_names if key not in input_names]
        aux_names = self.symbol.list_auxiliary_states()
        arg_params = {k: zeros(shape=s, dtype=t)
                      for k, s, t in zip(arg_names, arg_shapes, arg_dtypes) if k in param_names}
        aux_params = {k: zeros(shape=s, dtype=t)
                      for k, s, t in zip(aux_names, aux_shapes, aux_dtypes)}
        for k, v in arg_params.items():
            if self.arg_params and k in self.arg_params and (not overwrite):
                arg_params[k][:] = self.arg_params[k][:]
            else:
                self.initializer(k, v)
        for k, v in aux_params.items():
            if self.aux_params and k in self.aux_params and (not overwrite):
                aux_params[k][:] = self.aux_params[k][:]
            else:
                self.initializer(k, v)
        self.arg_params = arg_params
        self.aux_params = aux_params
        return (arg_names, list(param_names), aux_names)

    def __getstate__(self):
        this = self.__dict__.copy()
        this["_pred_exec"] = None
        return this

    def __setstate__(self, state):
        self.__dict__.update(state)

    def _init_predictor(self, input_shapes, type_dict=None):
        """Bind (or reuse) the prediction executor on the first context."""
        from runtime.executor import simple_bind
        shapes = {name: self.arg_params[name].shape for name in self.arg_params}
        shapes.update(dict(input_shapes))
        if self._pred_exec is not None:
            arg_shapes, _, _ = self.symbol.infer_shape(**shapes)
            if arg_shapes is None:
                raise MXNetError("Incomplete input shapes")
            if [tuple(s) for s in arg_shapes] == [tuple(x.shape)
                                                  for x in self._pred_exec.arg_arrays]:
                return
        pred_exec = simple_bind(self.symbol, self.ctx[0], grad_req="null",
                                type_dict=type_dict, **shapes)
        pred_exec.copy_params_from(self.arg_params, self.aux_params)
        _check_arguments(self.symbol)
        self._pred_exec = pred_exec

    def _init_iter(self, X, y, is_train):
        """A DataIter for ``X`` (numpy arrays and NDArrays become an NDArrayIter)."""
        from mxc.ndarray import NDArray
        from runtime import io
        if isinstance(X, (np.ndarray, NDArray)):
            if y is None:
                if is_train:
                    raise ValueError("y must be specified when X is numpy.ndarray")
                y = np.zeros(X.shape[0])
            if not isinstance(y, (np.ndarray, NDArray)):
                raise TypeError("y must be ndarray when X is numpy.ndarray")
            if X.shape[0] != y.shape[0]:
                raise ValueError("The numbers of data points and labels not equal")
            if isinstance(y, NDArray):
                y = y.asnumpy()
            if y.ndim == 2 and y.shape[1] == 1:
                y = y.flatten()
            if y.ndim != 1:
                raise ValueError("Label must be 1D or 2D (with 2nd dimension being 1)")
            if is_train:
                return io.NDArrayIter(X, y, min(X.shape[0], self.numpy_batch_size),
                                      shuffle=is_train, last_batch_handle="roll_over")
            return io.NDArrayIter(X, y, min(X.shape[0], self.numpy_batch_size), shuffle=False)
        if not isinstance(X, io.DataIter):
            raise TypeError("X must be DataIter, NDArray or numpy.ndarray")
        return X

    def _init_eval_iter(self, eval_data):
        from runtime import io
        if eval_data is None:
            return eval_data
        if isinstance(eval_data, (tuple, list)) and len(eval_data) == 2:
            if eval_data[0] is not None:
                if eval_data[1] is None and isinstance(eval_data[0], io.DataIter):
                    return eval_data[0]
                input_data = (np.array(eval_data[0]) if isinstance(eval_data[0], list)
                              else eval_data[0])
                input_label = (np.array(eval_data[1]) if isinstance(eval_data[1], list)
                               else eval_data[1])
                return self._init_iter(input_data, input_label, is_train=True)
            raise ValueError("Eval data is NONE")
        if not isinstance(eval_data, io.DataIter):
            raise TypeError("Eval data must be DataIter, or NDArray/numpy.ndarray/list pair "
                            "(i.e. tuple/list of length 2)")
        return eval_data

    def _type_dict(self, X):
        from runtime.io import DataDesc
        type_dict = {key: value.dtype for key, value in self.arg_params.items()}
        for x in X.provide_data:
            type_dict[x[0]] = x.dtype if isinstance(x, DataDesc) else np.float32
        return type_dict

    def predict(self, X, num_batch=None, return_data=False, reset=True):
        """Run prediction on the first context; returns numpy arrays (one, or a list for
        several outputs), and with ``return_data`` also the data and labels."""
        X = self._init_iter(X, None, is_train=False)
        if reset:
            X.reset()
        data_shapes = X.provide_data
        data_names = [x[0] for x in data_shapes]
        self._init_predictor(data_shapes, self._type_dict(X))
        batch_size = X.batch_size
        data_arrays = [self._pred_exec.arg_dict[name] for name in data_names]
        output_list = [[] for _ in range(len(self._pred_exec.outputs))]
        if return_data:
            data_list = [[] for _ in X.provide_data]
            label_list = [[] for _ in X.provide_label]
        i = 0
        for batch in X:
            for src, dst in zip(batch.data, data_arrays):
                dst.torch_tensor().copy_(src.torch_tensor())
            self._pred_exec.forward(is_train=False)
            real_size = batch_size - (batch.pad or 0)
            for o_list, o_nd in zip(output_list, self._pred_exec.outputs):
                o_list.append(o_nd[0:real_size].asnumpy())
            if return_data:
                for j, x in enumerate(batch.data):
                    data_list[j].append(x[0:real_size].asnumpy())
                for j, x in enumerate(batch.label):
                    label_list[j].append(x[0:real_size].asnumpy())
            i += 1  # noqa: SIM113 (counts the batches run, as MXNet's loop does)
            if num_batch is not None and i == num_batch:
                break
        outputs = [np.concatenate(x) for x in output_list]
        if len(outputs) == 1:
            outputs = outputs[0]
        if return_data:
            data = [np.concatenate(x) for x in data_list]
            label = [np.concatenate(x) for x in label_list]
            if len(data) == 1:
                data = data[0]
            if len(label) == 1:
                label = label[0]
            return outputs, data, label
        return outputs

    def score(self, X, eval_metric="acc", num_batch=None, batch_end_callback=None,
              reset=True):
        """Run the model on ``X`` and return the value of ``eval_metric``."""
        from runtime import metric
        if not isinstance(eval_metric, metric.EvalMetric):
            eval_metric = metric.create(eval_metric)
        X = self._init_iter(X, None, is_train=False)
        if reset:
            X.reset()
        data_names = [x[0] for x in X.provide_data]
        self._init_predictor(X.provide_data, self._type_dict(X))
        data_arrays = [self._pred_exec.arg_dict[name] for name in data_names]
        for i, batch in enumerate(X):
            if num_batch is not None and i == num_batch:
                break
            for src, dst in zip(batch.data, data_arrays):
                dst.torch_tensor().copy_(src.torch_tensor())
            self._pred_exec.forward(is_train=False)
            eval_metric.update(batch.label, self._pred_exec.outputs)
            if batch_end_callback is not None:
                params = BatchEndParam(epoch=0, nbatch=i, eval_metric=eval_metric,
                                       locals=locals())
                _multiple_callbacks(batch_end_callback, params)
        return eval_metric.get()[1]

    def fit(self, X, y=None, eval_data=None, eval_metric="acc", epoch_end_callback=None,
            batch_end_callback=None, kvstore="local", logger=None, work_load_list=None,
            monitor=None, eval_end_callback=_LOG_VALIDATION, eval_batch_end_callback=None):
        """Train on ``X`` (DataIter, or numpy/NDArray with labels ``y``) for epochs
        ``begin_epoch`` .. ``num_epoch - 1``; logs ``Epoch[%d] Time cost=%.3f`` per epoch and,
        with ``eval_data``, ``Epoch[%d] Validation-%s=%f`` (``eval_end_callback``'s
        default)."""
        from runtime import metric
        from runtime import optimizer as opt
        data = self._init_iter(X, y, is_train=True)
        eval_data = self._init_eval_iter(eval_data)
        if self.sym_gen:
            self.symbol = self.sym_gen(data.default_bucket_key)
            self._check_arguments()
        self.kwargs["sym"] = self.symbol
        arg_names, param_names, aux_names = self._init_params(data.provide_data
                                                              + data.provide_label)
        if not isinstance(eval_metric, metric.EvalMetric):
            eval_metric = metric.create(eval_metric)
        (kvstore, update_on_kvstore) = _create_kvstore(kvstore, len(self.ctx), self.arg_params)
        param_idx2name = {}
        if update_on_kvstore:
            param_idx2name.update(enumerate(param_names))
        else:
            for i, n in enumerate(param_names):
                for k in range(len(self.ctx)):
                    param_idx2name[i * len(self.ctx) + k] = n
        self.kwargs["param_idx2name"] = param_idx2name
        if isinstance(self.optimizer, str):
            batch_size = data.batch_size
            if kvstore and "dist" in kvstore.type and "_async" not in kvstore.type:
                batch_size *= kvstore.num_workers
            optimizer = opt.create(self.optimizer, rescale_grad=(1.0 / batch_size),
                                   **(self.kwargs))
        elif isinstance(self.optimizer, opt.Optimizer):
            optimizer = self.optimizer
            if not optimizer.idx2name:
                optimizer.idx2name = param_idx2name.copy()
        else:
            raise TypeError("optimizer must be a name or an Optimizer")
        _train_multi_device(self.symbol, self.ctx, arg_names, param_names, aux_names,
                            self.arg_params, self.aux_params,
                            begin_epoch=self.begin_epoch, end_epoch=self.num_epoch,
                            epoch_size=self.epoch_size, optimizer=optimizer,
                            kvstore=kvstore, update_on_kvstore=update_on_kvstore,
                            train_data=data, eval_data=eval_data, eval_metric=eval_metric,
                            epoch_end_callback=epoch_end_callback,
                            batch_end_callback=batch_end_callback, logger=logger,
                            work_load_list=work_load_list, monitor=monitor,
                            eval_end_callback=eval_end_callback,
                            eval_batch_end_callback=eval_batch_end_callback)

    def save(self, prefix, epoch=None, remove_amp_cast=True):
        """Checkpoint to ``prefix-symbol.json`` and ``prefix-%04d.params`` (epoch default:
        ``num_epoch``)."""
        if epoch is None:
            epoch = self.num_epoch
        if epoch is None:
            raise MXNetError("FeedForward.save: give the epoch (num_epoch is not set)")
        save_checkpoint(prefix, epoch, self.symbol, self.arg_params, self.aux_params,
                        remove_amp_cast=remove_amp_cast)

    @staticmethod
    def load(prefix, epoch, ctx=None, **kwargs):
        """A FeedForward from a checkpoint (``begin_epoch=epoch``)."""
        symbol, arg_params, aux_params = load_checkpoint(prefix, epoch)
        return FeedForward(symbol, ctx=ctx, arg_params=arg_params, aux_params=aux_params,
                           begin_epoch=epoch, **kwargs)

    @staticmethod
    def create(symbol, X, y=None, ctx=None, num_epoch=None, epoch_size=None, optimizer="sgd",
               initializer=_UNIFORM_001, eval_data=None, eval_metric="acc",
               epoch_end_callback=None, batch_end_callback=None, kvstore="local", logger=None,
               work_load_list=None, eval_end_callback=_LOG_VALIDATION,
               eval_batch_end_callback=None, **kwargs):
        """Create a FeedForward and fit it (functional style)."""
        model = FeedForward(symbol, ctx=ctx, num_epoch=num_epoch, epoch_size=epoch_size,
                            optimizer=optimizer, initializer=initializer, **kwargs)
        model.fit(X, y, eval_data=eval_data, eval_metric=eval_metric,
                  epoch_end_callback=epoch_end_callback, batch_end_callback=batch_end_callback,
                  kvstore=kvstore, logger=logger, work_load_list=work_load_list,
                  eval_end_callback=eval_end_callback,
                  eval_batch_end_callback=eval_batch_end_callback)
        return model


def _train_multi_device(symbol, ctx, arg_names, param_names, aux_names, arg_params, aux_params,
                        begin_epoch, end_epoch, epoch_size, optimizer, kvstore,
                        update_on_kvstore, train_data, eval_data=None, eval_metric=None,
                        epoch_end_callback=None, batch_end_callback=None, logger=None,
                        work_load_list=None, monitor=None, eval_end_callback=None,
                        eval_batch_end_callback=None):
    """FeedForward's training loop (MXNet's, on a DataParallelExecutorGroup)."""
    from runtime.optimizer import get_updater

    from .module.executor_group import DataParallelExecutorGroup
    if logger is None:
        logger = logging
    if work_load_list is None:
        work_load_list = [1] * len(ctx)
    group = DataParallelExecutorGroup(symbol, ctx, work_load_list, train_data.provide_data,
                                      train_data.provide_label, param_names, True, False,
                                      logger=logger)
    if monitor:
        group.install_monitor(monitor)
    group.set_params(arg_params, aux_params)
    updater = None
    if not update_on_kvstore:
        updater = get_updater(optimizer)
    else:
        kvstore.set_optimizer(optimizer)
    if kvstore:
        _initialize_kvstore(kvstore=kvstore, param_arrays=group.param_arrays,
                            arg_params=arg_params, param_names=group.param_names,
                            update_on_kvstore=update_on_kvstore)
    train_data.reset()
    for epoch in range(begin_epoch, end_epoch):
        tic = time.time()
        eval_metric.reset()
        nbatch = 0
        while True:
            do_reset = True
            for data_batch in train_data:
                if getattr(data_batch, "bucket_key", None) not in (
                        None, getattr(train_data, "default_bucket_key", None)):
                    raise UnsupportedError("FeedForward does not support bucketing in mxc; "
                                           "use mx.mod.BucketingModule")
                if monitor is not None:
                    monitor.tic()
                group.forward(data_batch, is_train=True)
                group.backward()
                if update_on_kvstore:
                    _update_params_on_kvstore(group.param_arrays, group.grad_arrays, kvstore,
                                              group.param_names)
                else:
                    _update_params(group.param_arrays, group.grad_arrays, updater=updater,
                                   num_device=len(ctx), kvstore=kvstore,
                                   param_names=group.param_names)
                if monitor is not None:
                    monitor.toc_print()
                group.update_metric(eval_metric, data_batch.label, pre_sliced=False)
                nbatch += 1
                if batch_end_callback is not None:
                    params = BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                           locals=locals())
                    _multiple_callbacks(batch_end_callback, params)
                if epoch_size is not None and nbatch >= epoch_size:
                    do_reset = False
                    break
            if do_reset:
                logger.info("Epoch[%d] Resetting Data Iterator", epoch)
                train_data.reset()
            if epoch_size is None or nbatch >= epoch_size:
                break
        toc = time.time()
        logger.info("Epoch[%d] Time cost=%.3f", epoch, (toc - tic))
        if epoch_end_callback or epoch + 1 == end_epoch:
            group.get_params(arg_params, aux_params)
        _multiple_callbacks(epoch_end_callback, epoch, symbol, arg_params, aux_params)
        if eval_data:
            eval_metric.reset()
            eval_data.reset()
            total_num_batch = 0
            for i, eval_batch in enumerate(eval_data):
                group.forward(eval_batch, is_train=False)
                group.update_metric(eval_metric, eval_batch.label, pre_sliced=False)
                if eval_batch_end_callback is not None:
                    params = BatchEndParam(epoch=epoch, nbatch=i, eval_metric=eval_metric,
                                           locals=locals())
                    _multiple_callbacks(eval_batch_end_callback, params)
                total_num_batch += 1
            if eval_end_callback is not None:
                params = BatchEndParam(epoch=epoch, nbatch=total_num_batch,
                                       eval_metric=eval_metric, locals=locals())
                _multiple_callbacks(eval_end_callback, params)
            eval_data.reset()


# names MXNet's mxnet.model module has
from collections import namedtuple  # noqa: E402,F401

from mxc import ndarray as nd, symbol as sym  # noqa: E402,F401
from mxc.base import mx_real_t  # noqa: E402,F401
from runtime import io, kvstore as kvs, metric, optimizer as opt  # noqa: E402,F401
from runtime.initializer import Uniform  # noqa: E402,F401
from runtime.io import DataDesc  # noqa: E402,F401
from runtime.optimizer import get_updater  # noqa: E402,F401

try:  # FeedForward is a scikit-learn estimator where scikit-learn is installed, as in MXNet
    from sklearn.base import BaseEstimator as BASE_ESTIMATOR
    SKLEARN_INSTALLED = True
except ImportError:
    BASE_ESTIMATOR = object
    SKLEARN_INSTALLED = False


class DataParallelExecutorManager:
    """MXNet's legacy executor manager (used by its old FeedForward internals)."""

    def __init__(self, *args, **kwargs):
        raise UnsupportedError(
            "mxc does not support the legacy DataParallelExecutorManager; "
            "mx.module.executor_group.DataParallelExecutorGroup (what Module uses) does its work")
