"""Modules written in Python: ``PythonModule`` (most of the API as no-ops) and
``PythonLossModule`` (a loss whose gradient is a Python function), MXNet's classes of the same
names."""
from __future__ import annotations

import logging

from mxc.base import MXNetError
from mxc.ndarray import NDArray

from .base_module import _UNIFORM_001, BaseModule

__all__ = ["PythonLossModule", "PythonModule"]


class PythonModule(BaseModule):
    """A module implemented in Python; subclasses override what they need.

    Parameters
    ----------
    data_names : list of str
    label_names : list of str or None
    output_names : list of str
    logger : Logger
    """

    def __init__(self, data_names, label_names, output_names, logger=logging):
        super().__init__(logger=logger)
        if isinstance(data_names, tuple):
            data_names = list(data_names)
        if isinstance(label_names, tuple):
            label_names = list(label_names)
        self._data_names = data_names
        self._label_names = label_names
        self._output_names = output_names
        self._data_shapes = None
        self._label_shapes = None
        self._output_shapes = None

    @property
    def data_names(self):
        return self._data_names

    @property
    def output_names(self):
        return self._output_names

    @property
    def data_shapes(self):
        return self._data_shapes

    @property
    def label_shapes(self):
        return self._label_shapes

    @property
    def output_shapes(self):
        return self._output_shapes

    def get_params(self):
        """No parameters: ``({}, {})``."""
        return ({}, {})

    def init_params(self, initializer=_UNIFORM_001, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        """Nothing to initialize (subclasses with parameters override this)."""

    def update(self):
        """Nothing to update (subclasses with parameters override this)."""

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        """Update ``eval_metric`` with ``labels`` and this module's outputs."""
        if self._label_shapes is None:
            return
        if pre_sliced:
            raise MXNetError("PythonModule does not support presliced labels")
        eval_metric.update(labels, self.get_outputs())

    def bind(self, data_shapes, label_shapes=None, for_training=True,
             inputs_need_grad=False, force_rebind=False, shared_module=None,
             grad_req="write"):
        """Record the shapes and compute the output shapes."""
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if grad_req != "write":
            raise MXNetError("Python module only support write gradient")
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        if len(data_shapes) != len(self._data_names) or \
                [x[0] for x in data_shapes] != list(self._data_names):
            raise MXNetError(f"bind: data_shapes {[tuple(x) for x in data_shapes]} do not "
                             f"match data_names {self._data_names}")
        self._data_shapes = data_shapes
        self._label_shapes = label_shapes
        if label_shapes is not None and (
                self._label_names is None or len(self._label_names) != len(label_shapes)
                or [x[0] for x in label_shapes] != list(self._label_names)):
            raise MXNetError(f"bind: label_shapes {[tuple(x) for x in label_shapes]} do "
                             f"not match label_names {self._label_names}")
        self._output_shapes = self._compute_output_shapes()
        self.binded = True

    def _compute_output_shapes(self):
        """Subclasses return ``[(name, shape)]`` of the outputs from the bound shapes."""
        raise NotImplementedError()

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        """No optimizer needed (subclasses with parameters override this)."""


class PythonLossModule(PythonModule):
    """A loss module: its output is its input (the scores), and its input gradient is
    ``grad_func(scores, labels)`` (a numpy array or NDArray).

    Parameters
    ----------
    name : str, default 'pyloss'
        The output is named ``name + '_output'``.
    data_names : list of one str, default ``('data',)``
    label_names : list of one str, default ``('softmax_label',)``
    grad_func : callable, optional
    """

    def __init__(self, name="pyloss", data_names=("data",), label_names=("softmax_label",),
                 logger=logging, grad_func=None):
        super().__init__(data_names, label_names, [name + "_output"], logger=logger)
        self._name = name
        if len(data_names) != 1 or len(label_names) != 1:
            raise MXNetError("PythonLossModule takes exactly one data name and one label name")
        self._scores = None
        self._labels = None
        self._scores_grad = None
        if grad_func is not None and not callable(grad_func):
            raise TypeError("grad_func must be callable")
        self._grad_func = grad_func

    def _compute_output_shapes(self):
        return [(self._name + "_output", self._data_shapes[0][1])]

    def forward(self, data_batch, is_train=None):
        """Keep the scores (and, in training, the labels) for backward."""
        self._scores = data_batch.data[0]
        if is_train is None:
            is_train = self.for_training
        if is_train:
            self._labels = data_batch.label[0]

    def get_outputs(self, merge_multi_context=True):
        if merge_multi_context is not True:
            raise MXNetError("PythonLossModule: merge_multi_context must be True")
        return [self._scores]

    def backward(self, out_grads=None):
        """Compute the scores' gradient with ``grad_func``."""
        if out_grads is not None:
            raise MXNetError("For a loss module, out_grads should be None")
        if not self.for_training:
            from mxc.base import StateError
            raise StateError("PythonLossModule.backward: bind with for_training=True first")
        self._backward_impl()

    def _backward_impl(self):
        if self._grad_func is not None:
            grad = self._grad_func(self._scores, self._labels)
            if not isinstance(grad, NDArray):
                from mxc.ndarray import array
                grad = array(grad)
            self._scores_grad = grad
        else:
            raise NotImplementedError()

    def get_input_grads(self, merge_multi_context=True):
        if merge_multi_context is not True:
            raise MXNetError("PythonLossModule: merge_multi_context must be True")
        return [self._scores_grad]

    def install_monitor(self, mon):
        """A Python module runs no executors, so there is nothing to monitor (MXNet raises
        NotImplementedError here; UnsupportedError is one)."""
        from mxc.base import UnsupportedError
        raise UnsupportedError("mxc does not support install_monitor on a PythonModule: it "
                               "runs no executors (MXNet raises NotImplementedError too)")


# names MXNet's mxnet.module.python_module has
from mxc import ndarray as nd  # noqa: E402,F401
from runtime.initializer import Uniform  # noqa: E402,F401
