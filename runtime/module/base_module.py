"""``BaseModule``: the API every module implements, and the high-level loops built on it.

A module moves through MXNet's states, in order: created, ``binded`` (shapes known, executors
and arrays allocated: :meth:`bind`), ``params_initialized`` (:meth:`init_params`,
:meth:`set_params`), ``optimizer_initialized`` (:meth:`init_optimizer`). A call made before the
state it needs raises :class:`~mxc.base.StateError` naming the call that is missing (MXNet used
bare asserts).

On top of ``forward``/``backward``/``update``/``update_metric`` this class gives ``fit``,
``score``, ``predict`` and ``iter_predict`` with MXNet 1.9.1's loop structure (the next batch is
fetched and ``prepare``d before the batch-end callbacks run; the train metric of an epoch is read
at its last batch) and MXNet's log lines through ``self.logger`` (the ``logging`` module by
default)::

    Epoch[%d] Train-%s=%f
    Epoch[%d] Time cost=%.3f
    Epoch[%d] Validation-%s=%f
"""
from __future__ import annotations

import difflib
import logging
import time
import warnings

import numpy as np

from mxc.base import MXNetError, StateError
from mxc.ndarray import NDArray

__all__ = ["BaseModule"]


class InputNameError(MXNetError, ValueError):
    """A data/label/state name that the symbol does not have, or data shapes whose names do not
    match the module's ``data_names``."""


def _as_list(obj):
    if isinstance(obj, (list, tuple)):
        return list(obj)
    return [obj]


def _default_initializer():
    from runtime.initializer import Uniform
    return Uniform(0.01)


_UNIFORM_001 = _default_initializer()


def _check_input_names(symbol, names, typename, throw):
    """Every name in ``names`` must be an argument of ``symbol``; otherwise say which, and
    suggest the symbol's inputs (its arguments that are not parameters)."""
    args = symbol.list_arguments()
    for name in names:
        if name in args:
            continue
        candidates = [a for a in args if not a.endswith(("_weight", "_bias", "_gamma", "_beta"))]
        close = difflib.get_close_matches(name, candidates, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = (f"You created Module with Module(..., {typename}_names={list(names)}) but input "
               f"with name {name!r} is not found in symbol.list_arguments().{hint} The "
               f"symbol's inputs that are not parameters are: {candidates}")
        if throw:
            raise InputNameError(msg)
        warnings.warn(msg, stacklevel=3)


def _check_names_match(data_names, data_shapes, name, throw):
    """The names in ``data_shapes`` must be ``data_names`` (in any order)."""
    actual = [x[0] for x in data_shapes]
    if sorted(data_names) != sorted(actual):
        missing = [n for n in data_names if n not in actual]
        extra = [n for n in actual if n not in data_names]
        parts = []
        if missing:
            parts.append(f"{name}_names has {missing} with no shape")
        if extra:
            sugg = []
            for e in extra:
                close = difflib.get_close_matches(e, missing or list(data_names), n=1)
                sugg.append(f"{e!r} (did you mean {close[0]!r}?)" if close else repr(e))
            parts.append(f"{name}_shapes names {', '.join(sugg)}, not in {name}_names")
        msg = (f"Data provided by {name}_shapes don't match names specified by {name}_names "
               f"({[tuple(x) for x in data_shapes]} vs. {list(data_names)}): "
               + "; ".join(parts))
        if throw:
            raise InputNameError(msg)
        warnings.warn(msg, stacklevel=3)


def _parse_data_desc(data_names, label_names, data_shapes, label_shapes):
    """DataDescs from ``(name, shape)`` pairs, with the names checked."""
    from runtime.io import DataDesc
    from mxc.ir.types import check_shape
    if data_shapes is None:
        raise MXNetError("bind: data_shapes is required (typically data_iter.provide_data)")

    def descs(shapes, kind):
        out = []
        for x in shapes:
            x = x if isinstance(x, DataDesc) else DataDesc(*x)
            shape = check_shape(x.shape, f"bind: {kind}_shapes {x.name!r}", bind=True)
            out.append(DataDesc(x.name, shape, x.dtype, x.layout))
        return out

    data_shapes = descs(data_shapes, "data")
    _check_names_match(data_names, data_shapes, "data", True)
    if label_shapes is not None:
        label_shapes = descs(label_shapes, "label")
        _check_names_match(label_names, label_shapes, "label", False)
    else:
        _check_names_match(label_names, [], "label", False)
    return data_shapes, label_shapes


def _batch_end_param(**kw):
    from runtime.model import BatchEndParam
    return BatchEndParam(**kw)


def _metric_module():
    from runtime import metric
    return metric


class BaseModule:
    """The base class of modules (MXNet's ``mx.mod.BaseModule``).

    A module is a computation machine with states (``binded``, ``for_training``,
    ``params_initialized``, ``optimizer_initialized``, ``inputs_need_grad``), input/output
    information (``data_names``, ``output_names``; after binding ``data_shapes``,
    ``label_shapes``, ``output_shapes``), parameters (``get_params``, ``set_params``,
    ``init_params``), setup (``bind``, ``init_optimizer``, ``prepare``), computation
    (``forward``, ``backward``, ``update``, ``get_outputs``, ``get_input_grads``,
    ``update_metric``), and the loops ``fit``, ``score``, ``predict`` built on them.
    """

    def __init__(self, logger=logging):
        self.logger = logger
        self.binded = False
        self.for_training = False
        self.inputs_need_grad = False
        self.params_initialized = False
        self.optimizer_initialized = False
        self._symbol = None
        self._total_exec_bytes = 0

    # -- state checks -------------------------------------------------------------------------
    def _require(self, what, binded=False, params=False, optimizer=False):
        """Raise StateError naming the missing call when ``what`` is called too early."""
        cls = type(self).__name__
        if binded and not self.binded:
            raise StateError(f"{cls}.{what}: the module is not bound; call bind(data_shapes, "
                             "label_shapes) (or fit) first")
        if params and not self.params_initialized:
            raise StateError(f"{cls}.{what}: the parameters are not initialized; call "
                             "init_params() (or set_params / fit) first")
        if optimizer and not self.optimizer_initialized:
            raise StateError(f"{cls}.{what}: the optimizer is not initialized; call "
                             "init_optimizer() first")

    # -- high-level API -----------------------------------------------------------------------
    def forward_backward(self, data_batch):
        """``forward(data_batch, is_train=True)`` then ``backward()``."""
        self.forward(data_batch, is_train=True)
        self.backward()

    def score(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None,
              score_end_callback=None, reset=True, epoch=0, sparse_row_id_fn=None):
        """Run prediction on ``eval_data`` and evaluate ``eval_metric`` (an EvalMetric, a
        name, or a list of them); returns ``eval_metric.get_name_value()``."""
        self._require("score", binded=True, params=True)
        if reset:
            eval_data.reset()
        metric = _metric_module()
        if not isinstance(eval_metric, metric.EvalMetric):
            eval_metric = metric.create(eval_metric)
        eval_metric.reset()
        actual_num_batch = 0
        for nbatch, eval_batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(eval_batch, is_train=False)
            if isinstance(eval_batch, list):
                self.update_metric(eval_metric, [eb.label for eb in eval_batch], pre_sliced=True)
            else:
                self.update_metric(eval_metric, eval_batch.label)
            if batch_end_callback is not None:
                params = _batch_end_param(epoch=epoch, nbatch=nbatch, eval_metric=eval_metric,
                                          locals=locals())
                for callback in _as_list(batch_end_callback):
                    callback(params)
            actual_num_batch += 1
        if score_end_callback:
            params = _batch_end_param(epoch=epoch, nbatch=actual_num_batch,
                                      eval_metric=eval_metric, locals=locals())
            for callback in _as_list(score_end_callback):
                callback(params)
        return eval_metric.get_name_value()

    def iter_predict(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None):
        """Yield ``(outputs, nbatch, batch)`` for each batch (outputs without the padding)."""
        self._require("iter_predict", binded=True, params=True)
        if reset:
            eval_data.reset()
        for nbatch, eval_batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(eval_batch, is_train=False)
            pad = eval_batch.pad or 0
            outputs = [out[0:out.shape[0] - pad] for out in self.get_outputs()]
            yield (outputs, nbatch, eval_batch)

    def predict(self, eval_data, num_batch=None, merge_batches=True, reset=True,
                always_output_list=False, sparse_row_id_fn=None):
        """Run prediction and collect the outputs.

        ``eval_data`` is a DataIter, or an NDArray / numpy array (one forward, its first
        output returned). With ``merge_batches`` the batches' outputs are concatenated (padding
        removed): one NDArray if there is one output and not ``always_output_list``, else a
        list. Without it, a list of per-batch output lists.
        """
        self._require("predict", binded=True, params=True)
        from runtime.io import DataBatch, DataIter
        if isinstance(eval_data, (NDArray, np.ndarray)):
            if isinstance(eval_data, np.ndarray):
                from mxc.ndarray import array
                eval_data = array(eval_data)
            self.forward(DataBatch([eval_data]))
            return self.get_outputs()[0]
        if not isinstance(eval_data, DataIter):
            raise ValueError("eval_data must be of type NDArray or DataIter")  # noqa: TRY004
        if reset:
            eval_data.reset()
        output_list = []
        for nbatch, eval_batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.prepare(eval_batch, sparse_row_id_fn=sparse_row_id_fn)
            self.forward(eval_batch, is_train=False)
            pad = eval_batch.pad or 0
            outputs = [out[0:out.shape[0] - pad].copy() for out in self.get_outputs()]
            output_list.append(outputs)
        if len(output_list) == 0:
            return output_list
        if merge_batches:
            num_outputs = len(output_list[0])
            for out in output_list:
                if len(out) != num_outputs:
                    raise MXNetError("Cannot merge batches, as num of outputs is not the same "
                                     "in mini-batches. Maybe bucketing is used?")
            import torch
            merged = [NDArray(torch.cat([out[i].torch_tensor() for out in output_list], dim=0),
                              output_list[0][i].context) for i in range(num_outputs)]
            if num_outputs == 1 and not always_output_list:
                return merged[0]
            return merged
        return output_list

    def fit(self, train_data, eval_data=None, eval_metric="acc",
            epoch_end_callback=None, batch_end_callback=None, kvstore="local",
            optimizer="sgd", optimizer_params=(("learning_rate", 0.01),),
            eval_end_callback=None,
            eval_batch_end_callback=None, initializer=_UNIFORM_001,
            arg_params=None, aux_params=None, allow_missing=False,
            force_rebind=False, force_init=False, begin_epoch=0, num_epoch=None,
            validation_metric=None, monitor=None, sparse_row_id_fn=None):
        """Train the module's parameters on ``train_data`` for epochs ``begin_epoch`` ..
        ``num_epoch - 1``: bind, init_params (``arg_params`` / ``aux_params`` before
        ``initializer``), init_optimizer, then per batch forward_backward, update,
        update_metric and the batch-end callbacks; per epoch the log lines
        ``Epoch[%d] Train-<metric>=%f`` and ``Epoch[%d] Time cost=%.3f``, the epoch-end
        callbacks ``(epoch, symbol, arg_params, aux_params)``, and with ``eval_data``
        :meth:`score` and ``Epoch[%d] Validation-<metric>=%f``."""
        if num_epoch is None:
            raise MXNetError("fit: please specify number of epochs (num_epoch)")
        self.bind(data_shapes=train_data.provide_data, label_shapes=train_data.provide_label,
                  for_training=True, force_rebind=force_rebind)
        if monitor is not None:
            self.install_monitor(monitor)
        self.init_params(initializer=initializer, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
        if validation_metric is None:
            validation_metric = eval_metric
        metric = _metric_module()
        if not isinstance(eval_metric, metric.EvalMetric):
            eval_metric = metric.create(eval_metric)

        for epoch in range(begin_epoch, num_epoch):
            tic = time.time()
            eval_metric.reset()
            nbatch = 0
            data_iter = iter(train_data)
            end_of_batch = False
            try:
                next_data_batch = next(data_iter)
            except StopIteration:
                raise MXNetError(f"fit: epoch {epoch}: train_data yielded no batch (did it "
                                 "reset?)") from None
            eval_name_vals = []
            while not end_of_batch:
                data_batch = next_data_batch
                if monitor is not None:
                    monitor.tic()
                self.forward_backward(data_batch)
                self.update()
                if isinstance(data_batch, list):
                    self.update_metric(eval_metric, [db.label for db in data_batch],
                                       pre_sliced=True)
                else:
                    self.update_metric(eval_metric, data_batch.label)
                try:
                    next_data_batch = next(data_iter)
                    self.prepare(next_data_batch, sparse_row_id_fn=sparse_row_id_fn)
                except StopIteration:
                    end_of_batch = True
                if monitor is not None:
                    monitor.toc_print()
                if end_of_batch:
                    eval_name_vals = eval_metric.get_global_name_value()
                if batch_end_callback is not None:
                    params = _batch_end_param(epoch=epoch, nbatch=nbatch,
                                              eval_metric=eval_metric, locals=locals())
                    for callback in _as_list(batch_end_callback):
                        callback(params)
                nbatch += 1

            for name, val in eval_name_vals:
                self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, val)
            toc = time.time()
            self.logger.info("Epoch[%d] Time cost=%.3f", epoch, (toc - tic))

            # sync aux params across devices
            arg_params_, aux_params_ = self.get_params()
            self.set_params(arg_params_, aux_params_)

            if epoch_end_callback is not None:
                for callback in _as_list(epoch_end_callback):
                    callback(epoch, self.symbol, arg_params_, aux_params_)

            if eval_data is not None:
                res = self.score(eval_data, validation_metric,
                                 score_end_callback=eval_end_callback,
                                 batch_end_callback=eval_batch_end_callback, epoch=epoch)
                for name, val in res:
                    self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, val)

            train_data.reset()

    # -- symbol information -------------------------------------------------------------------
    @property
    def data_names(self):
        """Names of the data inputs."""
        raise NotImplementedError()

    @property
    def output_names(self):
        """Names of the outputs."""
        raise NotImplementedError()

    # -- input/output information -------------------------------------------------------------
    @property
    def data_shapes(self):
        """``[(name, shape)]`` of the data inputs (DataDescs)."""
        raise NotImplementedError()

    @property
    def label_shapes(self):
        """``[(name, shape)]`` of the labels, or None without labels."""
        raise NotImplementedError()

    @property
    def output_shapes(self):
        """``[(name, shape)]`` of the outputs."""
        raise NotImplementedError()

    # -- parameters ---------------------------------------------------------------------------
    def get_params(self):
        """``(arg_params, aux_params)``: dicts of name to NDArray (CPU copies)."""
        raise NotImplementedError()

    def init_params(self, initializer=_UNIFORM_001, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Initialize parameters and aux states: from ``arg_params`` / ``aux_params`` where
        given, else with ``initializer``."""
        raise NotImplementedError()

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        """Assign parameter and aux state values (``init_params`` with no initializer)."""
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init,
                         allow_extra=allow_extra)

    def save_params(self, fname):
        """Save the parameters to ``fname`` (``arg:``/``aux:`` keys, MXNet's .params format;
        written atomically)."""
        from mxc.context import Context
        from mxc.ndarray import save
        arg_params, aux_params = self.get_params()
        cpu = Context("cpu", 0)
        save_dict = {f"arg:{k}": v.as_in_context(cpu) for k, v in arg_params.items()}
        save_dict.update({f"aux:{k}": v.as_in_context(cpu) for k, v in aux_params.items()})
        save(fname, save_dict)

    def load_params(self, fname):
        """Load parameters saved by :meth:`save_params` (or MXNet) and set them."""
        from mxc.base import FormatError
        from mxc.ndarray import load
        save_dict = load(fname)
        if not isinstance(save_dict, dict):
            raise FormatError(f"{fname}: a parameter file must store names (arg:/aux: keys); "
                              "this one holds an unnamed list")
        arg_params, aux_params = {}, {}
        for k, value in save_dict.items():
            arg_type, _, name = k.partition(":")
            if arg_type == "arg" and name:
                arg_params[name] = value
            elif arg_type == "aux" and name:
                aux_params[name] = value
            else:
                raise FormatError(f"Invalid param file {fname}: key {k!r} does not start with "
                                  "'arg:' or 'aux:'")
        self.set_params(arg_params, aux_params)

    def get_states(self, merge_multi_context=True):
        """The state arrays (``state_names``); none for a plain BaseModule."""
        self._require("get_states", binded=True, params=True)
        if merge_multi_context:
            raise MXNetError("get_states: merge_multi_context=True is not supported")
        return []

    def set_states(self, states=None, value=None):
        """Set the state arrays; a plain BaseModule has none."""
        self._require("set_states", binded=True, params=True)
        if states or value:
            raise MXNetError("set_states: this module has no states")

    def install_monitor(self, mon):
        """Install a monitor on all executors."""
        raise NotImplementedError()

    # -- computations -------------------------------------------------------------------------
    def prepare(self, data_batch, sparse_row_id_fn=None):
        """Prepare for a batch (switch bucket, reshape); nothing to do for a BaseModule."""
        if sparse_row_id_fn is not None:
            warnings.warn(UserWarning("sparse_row_id_fn is not invoked for BaseModule."),
                          stacklevel=2)

    def forward(self, data_batch, is_train=None):
        """Forward computation (``is_train`` None: ``for_training``)."""
        raise NotImplementedError()

    def backward(self, out_grads=None):
        """Backward computation (``out_grads`` for outputs that are not losses)."""
        raise NotImplementedError()

    def get_outputs(self, merge_multi_context=True):
        """Outputs of the last forward."""
        raise NotImplementedError()

    def get_input_grads(self, merge_multi_context=True):
        """Gradients of the inputs from the last backward (bind with inputs_need_grad)."""
        raise NotImplementedError()

    def update(self):
        """Update the parameters with the installed optimizer."""
        raise NotImplementedError()

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Accumulate ``eval_metric`` over the last forward's outputs and ``labels``."""
        raise NotImplementedError()

    # -- setup --------------------------------------------------------------------------------
    def bind(self, data_shapes, label_shapes=None, for_training=True,
             inputs_need_grad=False, force_rebind=False, shared_module=None,
             grad_req="write"):
        """Bind executors for these input shapes."""
        raise NotImplementedError()

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Install an optimizer (and a kvstore for several devices)."""
        raise NotImplementedError()

    # -- misc ---------------------------------------------------------------------------------
    @property
    def symbol(self):
        """The symbol of this module (for BucketingModule, the current bucket's)."""
        return self._symbol


# names MXNet's mxnet.module.base_module has
from mxc import ndarray  # noqa: E402,F401
from mxc.context import cpu  # noqa: E402,F401
from runtime import metric  # noqa: E402,F401
from runtime.initializer import Uniform  # noqa: E402,F401
from runtime.io import DataBatch, DataDesc, DataIter  # noqa: E402,F401
from runtime.callback import BatchEndParam  # noqa: E402,F401
