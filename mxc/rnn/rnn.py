"""MXNet 1.x's ``mx.rnn`` checkpoint helpers (python/mxnet/rnn/rnn.py): checkpoints of models
built with cells store the cells' *unpacked* weights (one array per gate; for FusedRNNCell,
per layer, direction and gate), and loading packs them again."""
from __future__ import annotations

import warnings

from .rnn_cell import BaseRNNCell

__all__ = ["rnn_unroll", "save_rnn_checkpoint", "load_rnn_checkpoint", "do_rnn_checkpoint"]


def rnn_unroll(cell, length, inputs=None, begin_state=None, input_prefix="", layout="NTC"):
    """Deprecated (MXNet 1.x): use ``cell.unroll``."""
    warnings.warn("rnn_unroll is deprecated. Please call cell.unroll directly.", stacklevel=2)
    return cell.unroll(length=length, inputs=inputs, begin_state=begin_state, layout=layout)


def _as_list(cells):
    return [cells] if isinstance(cells, BaseRNNCell) else list(cells)


def save_rnn_checkpoint(cells, prefix, epoch, symbol, arg_params, aux_params):
    """``mx.model.save_checkpoint`` with each cell's weights unpacked first
    (``prefix-symbol.json`` and ``prefix-%04d.params``)."""
    from runtime.model import save_checkpoint
    for cell in _as_list(cells):
        arg_params = cell.unpack_weights(arg_params)
    save_checkpoint(prefix, epoch, symbol, arg_params, aux_params)


def load_rnn_checkpoint(cells, prefix, epoch):
    """``mx.model.load_checkpoint`` with each cell's weights packed again; returns
    ``(symbol, arg_params, aux_params)``."""
    from runtime.model import load_checkpoint
    sym, arg, aux = load_checkpoint(prefix, epoch)
    for cell in _as_list(cells):
        arg = cell.pack_weights(arg)
    return sym, arg, aux


def do_rnn_checkpoint(cells, prefix, period=1):
    """An epoch-end callback that saves a checkpoint every ``period`` epochs with the cells'
    weights unpacked."""
    period = int(max(1, period))

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            save_rnn_checkpoint(cells, prefix, iter_no + 1, sym, arg, aux)
    return _callback
