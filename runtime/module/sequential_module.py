"""``SequentialModule``: modules chained so that each one's outputs are the next one's data
(MXNet's ``mx.mod.SequentialModule``)."""
from __future__ import annotations

import copy
import logging

from mxc.base import MXNetError

from .base_module import _UNIFORM_001, BaseModule

__all__ = ["SequentialModule"]


class SequentialModule(BaseModule):
    """A chain of modules. ``add(module, take_labels=False, auto_wiring=False)`` appends one:
    ``take_labels`` gives it the batch's labels (any module of the chain may take them);
    ``auto_wiring`` renames the previous module's outputs to this module's ``data_names``."""

    META_TAKE_LABELS = "take_labels"
    META_AUTO_WIRING = "auto_wiring"

    def __init__(self, logger=logging):
        super().__init__(logger=logger)
        self._modules = []
        self._metas = []
        self._label_shapes = None
        self._data_shapes = None
        self._meta_keys = {getattr(SequentialModule, x) for x in dir(SequentialModule)
                           if x.startswith("META_")}

    def add(self, module, **kwargs):
        """Append ``module`` (meta keywords: ``take_labels``, ``auto_wiring``); returns self
        so calls chain. Adding resets the bound/initialized states."""
        for key in kwargs:
            if key not in self._meta_keys:
                raise MXNetError(f'Unknown meta "{key}", a typo? Known: '
                                 f"{sorted(self._meta_keys)}")
        self._modules.append(module)
        self._metas.append(kwargs)
        self.binded = False
        self.params_initialized = False
        self.optimizer_initialized = False
        return self

    @property
    def data_names(self):
        if self._modules:
            return self._modules[0].data_names
        return []

    @property
    def output_names(self):
        if self._modules:
            return self._modules[-1].output_names
        return []

    @property
    def data_shapes(self):
        self._require("data_shapes", binded=True)
        return self._modules[0].data_shapes

    @property
    def label_shapes(self):
        self._require("label_shapes", binded=True)
        return self._label_shapes

    @property
    def output_shapes(self):
        self._require("output_shapes", binded=True)
        return self._modules[-1].output_shapes

    def get_params(self):
        """All modules' parameters merged into one pair of dicts."""
        self._require("get_params", binded=True, params=True)
        arg_params, aux_params = {}, {}
        for module in self._modules:
            arg, aux = module.get_params()
            arg_params.update(arg)
            aux_params.update(aux)
        return (arg_params, aux_params)

    def init_params(self, initializer=_UNIFORM_001, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Initialize every module; parameter names must be unique across the chain."""
        if self.params_initialized and not force_init:
            return
        self._require("init_params", binded=True)
        for module in self._modules:
            module.init_params(initializer=initializer, arg_params=arg_params,
                               aux_params=aux_params, allow_missing=allow_missing,
                               force_init=force_init, allow_extra=allow_extra)

        def _check_name(known, new_names, modules, i):
            for name in new_names:
                if name in known:
                    raise MXNetError(
                        f'Duplicated parameter names: name "{name}" in layer {i} '
                        f"({type(modules[i])}) is already used in layer {known[name]} "
                        f"({type(modules[known[name]])}).")
                known[name] = i

        arg_names, aux_names = {}, {}
        for i_layer, module in enumerate(self._modules):
            arg, aux = module.get_params()
            _check_name(arg_names, arg.keys(), self._modules, i_layer)
            _check_name(aux_names, aux.keys(), self._modules, i_layer)
        self.params_initialized = True

    def bind(self, data_shapes, label_shapes=None, for_training=True,
             inputs_need_grad=False, force_rebind=False, shared_module=None,
             grad_req="write"):
        """Bind the modules in order, each with the previous one's output shapes as data."""
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if inputs_need_grad and not for_training:
            raise MXNetError("bind: inputs_need_grad=True needs for_training=True")
        if shared_module is not None:
            raise MXNetError("Shared module is not supported")
        if not self._modules:
            raise MXNetError("Attempting to bind an empty SequentialModule")
        self.binded = True
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._label_shapes = label_shapes
        my_data_shapes = data_shapes
        anybody_ever_needs_label = False
        for i_layer, module in enumerate(self._modules):
            meta = self._metas[i_layer]
            if meta.get(SequentialModule.META_TAKE_LABELS, False):
                my_label_shapes = label_shapes
                anybody_ever_needs_label = True
            else:
                my_label_shapes = None
            my_inputs_need_grad = bool(inputs_need_grad or (for_training and i_layer > 0))
            if meta.get(SequentialModule.META_AUTO_WIRING, False):
                data_names = module.data_names
                if len(data_names) != len(my_data_shapes):
                    raise MXNetError(f"auto_wiring: module {i_layer} reads {data_names} but "
                                     f"the previous module gives {len(my_data_shapes)} outputs")
                my_data_shapes = [(new_name, shape) for (new_name, (_, shape))
                                  in zip(data_names, my_data_shapes)]
            module.bind(data_shapes=my_data_shapes, label_shapes=my_label_shapes,
                        for_training=for_training, inputs_need_grad=my_inputs_need_grad,
                        force_rebind=force_rebind, shared_module=None, grad_req=grad_req)
            my_data_shapes = module.output_shapes
        if not anybody_ever_needs_label:
            self._label_shapes = None

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """Install the optimizer on every module."""
        self._require("init_optimizer", binded=True, params=True)
        if self.optimizer_initialized and not force_init:
            self.logger.warning("optimizer already initialized, ignoring.")
            return
        for module in self._modules:
            module.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                                  optimizer_params=optimizer_params, force_init=force_init)
        self.optimizer_initialized = True

    def forward(self, data_batch, is_train=None):
        """Forward through the chain (each module's outputs are the next one's data)."""
        self._require("forward", binded=True, params=True)
        data_batch = copy.copy(data_batch)
        for i_layer, module in enumerate(self._modules):
            module.forward(data_batch, is_train=is_train)
            if i_layer + 1 == len(self._modules):
                break
            data_batch.data = module.get_outputs()
            if hasattr(data_batch, "provide_data"):
                data_names = [x[0] for x in module.output_shapes]
                if len(data_names) != len(data_batch.data):
                    raise MXNetError("forward: output names and outputs disagree")
                data_batch.provide_data = [(name, x.shape) for name, x in
                                           zip(data_names, data_batch.data)]

    def backward(self, out_grads=None):
        """Backward through the chain, last module first."""
        self._require("backward", binded=True, params=True)
        for i_layer, module in reversed(list(zip(range(len(self._modules)), self._modules))):
            module.backward(out_grads=out_grads)
            if i_layer == 0:
                break
            out_grads = module.get_input_grads()

    def update(self):
        self._require("update", binded=True, params=True, optimizer=True)
        for module in self._modules:
            module.update()

    def get_outputs(self, merge_multi_context=True):
        self._require("get_outputs", binded=True, params=True)
        return self._modules[-1].get_outputs(merge_multi_context=merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._require("get_input_grads", binded=True, params=True)
        if not self.inputs_need_grad:
            from mxc.base import StateError
            raise StateError("SequentialModule.get_input_grads: bind with "
                             "inputs_need_grad=True first")
        return self._modules[0].get_input_grads(merge_multi_context=merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Update ``eval_metric`` with the outputs of every module that takes labels."""
        self._require("update_metric", binded=True, params=True)
        for meta, module in zip(self._metas, self._modules):
            if meta.get(SequentialModule.META_TAKE_LABELS, False):
                module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        self._require("install_monitor", binded=True)
        for module in self._modules:
            module.install_monitor(mon)


# names MXNet's mxnet.module.sequential_module has
from runtime.initializer import Uniform  # noqa: E402,F401
