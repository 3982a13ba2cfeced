"""Dynamic loss scaling for Module training (float16 AMP).

MXNet 1.9.1 scales the loss only for Gluon (``amp.init_trainer`` refuses an Optimizer, and
``amp.init()`` merely warns that symbolic loss outputs "do not support dynamic loss scaling").
For a Module, MXNet's route is to convert the model and drive a :class:`LossScaler` by hand,
dividing the gradients through the optimizer's ``rescale_grad`` and testing them with
``multi_all_finite``. :class:`LossScalingModule` is that route packaged as a Module (MXNet has
no name for it; the name is mxc's):

- the symbol gets one extra input, the state ``amp_loss_scale`` (shape ``(1,)``, float32),
  which multiplies the gradient that each loss output (``SoftmaxOutput``,
  ``LinearRegressionOutput``, ``LogisticRegressionOutput``, ``MAERegressionOutput``) sends
  back: the data of the loss op ``x`` is replaced by
  ``BlockGrad(x) + (x * s - BlockGrad(x * s))``, equal to ``x`` in the forward pass (in
  float32) and ``s`` times the gradient in the backward pass. Changing the scale is a copy
  into that state array, never a recompile;
- :meth:`LossScalingModule.update` checks every gradient with ``multi_all_finite`` (chunks of
  200 arrays, as MXNet's LossScaler). On overflow the step is skipped (parameters and
  optimizer states untouched) and the scale is halved; otherwise the optimizer runs with
  ``rescale_grad / scale`` (the gradients are unscaled inside the fused update kernels), and
  after ``scale_seq_len`` clean steps in a row the scale doubles, up to ``max_scale``. This is
  MXNet's :class:`LossScaler` schedule (start 2**16, max 2**24, 2000 steps); the new scale
  takes effect on the next step (Gluon's Trainer reads it one step later);
- checkpoints (``save_checkpoint``, ``fit``'s ``do_checkpoint`` callbacks via ``symbol``) are
  of the user's symbol, without the scale input, so a plain ``Module.load`` reads them.

bfloat16 has float32's exponent range and needs no loss scaling.
"""
from __future__ import annotations

import logging

from runtime.module.module import Module

from .loss_scaler import LossScaler, all_finite

__all__ = ["LossScalingModule", "scale_loss_gradients"]

_log = logging.getLogger("mxc.contrib.amp")

LOSS_SCALE_NAME = "amp_loss_scale"
_LOSS_OPS = ("SoftmaxOutput", "LinearRegressionOutput", "LogisticRegressionOutput",
             "MAERegressionOutput")
_CHUNK = 200


def scale_loss_gradients(sym, scale_name=LOSS_SCALE_NAME):
    """``sym`` with the gradient each loss output sends back multiplied by the input
    ``scale_name`` (a ``(1,)`` float32 variable); forward values are unchanged. Returns
    ``(symbol, number of loss outputs scaled)``."""
    from ... import symbol as S
    from ...base import MXNetError
    from ...symbol.symbol import Symbol, _Node
    if scale_name in sym.list_arguments():
        raise MXNetError(f"scale_loss_gradients: the symbol already has an input named "
                         f"'{scale_name}'")
    scale = S.var(scale_name, shape=(1,), dtype="float32")
    memo: dict = {}
    count = 0

    def copy(node):
        nonlocal count
        got = memo.get(id(node))
        if got is not None:
            return got
        ins = [(copy(src), k) for src, k in node.inputs]
        if node.op in _LOSS_OPS and ins:
            x = S.amp_cast(Symbol([ins[0]]), dtype="float32",
                           name=f"{node.name}_{scale_name}_cast")
            xs = S.broadcast_mul(x, scale, name=f"{node.name}_{scale_name}_mul")
            y = S.elemwise_add(S.BlockGrad(x, name=f"{node.name}_{scale_name}_fwd"),
                               S.elemwise_sub(xs, S.BlockGrad(xs, name=f"{node.name}_"
                                                              f"{scale_name}_stop"),
                                              name=f"{node.name}_{scale_name}_zero"),
                               name=f"{node.name}_{scale_name}_scaled")
            ins[0] = y._outputs[0]
            count += 1
        new = node if node.is_var else _Node(node.op, node.name, node.attrs, ins)
        memo[id(node)] = new
        return new

    return Symbol([(copy(n), i) for n, i in sym._outputs]), count


class LossScalingModule(Module):
    """A :class:`~mxc.mod.Module` with dynamic loss scaling (float16 AMP training).

    Takes Module's arguments plus:

    loss_scaler : LossScaler, optional
        The scaler to drive (default: a new one with MXNet's schedule).
    init_scale : float, default 2**16
    scale_seq_len : int, default 2000
        Clean steps in a row after which the scale doubles.
    max_scale : float, default 2**24

    ``loss_scale`` is the scale the next backward uses; ``skipped_steps`` counts the updates
    skipped because a gradient overflowed.
    """

    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=None, work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None,
                 loss_scaler=None, init_scale=2.0 ** 16, scale_seq_len=2000,
                 max_scale=2.0 ** 24):
        from ...base import MXNetError
        from ...context import cpu
        scaled, n = scale_loss_gradients(symbol)
        if n == 0:
            raise MXNetError("LossScalingModule: the symbol has no loss output "
                             f"({', '.join(_LOSS_OPS)}) whose gradient could be scaled")
        states = list(state_names or []) + [LOSS_SCALE_NAME]
        super().__init__(scaled, data_names=data_names, label_names=label_names,
                         logger=logger, context=cpu() if context is None else context,
                         work_load_list=work_load_list, fixed_param_names=fixed_param_names,
                         state_names=states, group2ctxs=group2ctxs,
                         compression_params=compression_params)
        self._amp_user_symbol = symbol
        if loss_scaler is None:
            loss_scaler = LossScaler()
            loss_scaler._loss_scale = loss_scaler._next_loss_scale = float(init_scale)
            loss_scaler._scale_seq_len = int(scale_seq_len)
            loss_scaler._max_loss_scale = float(max_scale)
        self.loss_scaler = loss_scaler
        self._amp_scale = float(loss_scaler._next_loss_scale)   # in the state arrays
        self._amp_scale_set = False
        self.skipped_steps = 0

    @property
    def symbol(self):
        """The user's symbol (checkpoints are written without the loss-scale input)."""
        return self._amp_user_symbol

    @property
    def loss_scale(self) -> float:
        return self._amp_scale

    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False,
                        remove_amp_cast=True):
        scaled = self._symbol
        self._symbol = self._amp_user_symbol
        try:
            super().save_checkpoint(prefix, epoch, save_optimizer_states, remove_amp_cast)
        finally:
            self._symbol = scaled

    def _put_scale(self):
        self._exec_group.set_states(value=self._amp_scale)
        self._amp_scale_set = True

    def bind(self, *args, **kwargs):
        super().bind(*args, **kwargs)
        self._amp_scale_set = False

    def forward(self, data_batch, is_train=None):
        if not self._amp_scale_set and self.binded:
            self._put_scale()
        super().forward(data_batch, is_train)

    def reshape(self, data_shapes, label_shapes=None):
        super().reshape(data_shapes, label_shapes)
        self._amp_scale_set = False

    def set_states(self, states=None, value=None):
        super().set_states(states, value)
        self._amp_scale_set = False      # a scalar ``value`` also hits amp_loss_scale

    def update(self):
        """Unscale and apply the gradients of the last backward, or skip the step if one of
        them overflowed; then move the scale along MXNet's LossScaler schedule."""
        self._require("update", binded=True, params=True, optimizer=True)
        ls = self.loss_scaler
        grads = [g for gl in self._exec_group.grad_arrays for g in gl if g is not None]
        ls._next_loss_scale = self._amp_scale          # the scale these gradients carry
        if ls.update_scale(not all_finite(grads, _CHUNK)):
            self.skipped_steps += 1
        else:
            opt = self._optimizer
            rescale = opt.rescale_grad
            opt.rescale_grad = rescale / self._amp_scale
            try:
                super().update()
            finally:
                opt.rescale_grad = rescale
        if ls._next_loss_scale != self._amp_scale:
            self._amp_scale = float(ls._next_loss_scale)
            self._put_scale()
