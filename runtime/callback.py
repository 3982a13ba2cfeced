"""``mx.callback``: MXNet 1.x's training callbacks (MXNet 1.9.1's ``python/mxnet/callback.py``).

Batch-end callbacks receive a :data:`BatchEndParam` ``(epoch, nbatch, eval_metric, locals)``;
epoch-end callbacks receive ``(epoch, symbol, arg_params, aux_params)``. Log lines go to the root
logger through ``logging.info`` with MXNet's exact formats, so existing log parsers keep working::

    Epoch[0] Batch [0-50]\\tSpeed: 1234.56 samples/sec\\taccuracy=0.812500
    Epoch[0] Batch [0-50]\\tSpeed: 1234.56 samples/sec\\taccuracy=0.812500   (auto_reset=False)
    Iter[0] Batch [50]\\tSpeed: 1234.56 samples/sec                          (no eval_metric)
    Iter[0] Batch[50] Train-accuracy=0.812500                               (log_train_metric)
    Epoch[0] Validation-accuracy=0.812500                                   (LogValidation...)
"""
from __future__ import annotations

import logging
import math
import time
from collections import namedtuple

__all__ = [
    "BatchEndParam",
    "LogValidationMetricsCallback",
    "ProgressBar",
    "Speedometer",
    "do_checkpoint",
    "log_train_metric",
    "module_checkpoint",
]

# MXNet logs through ``logging.info`` (the root logger, configuring it on first use when it has
# no handler); so do we, so that scripts' logging setups behave as they did
_info = logging.info

# MXNet defines it in mx.model (the namedtuple's type name is 'BatchEndParams')
BatchEndParam = namedtuple("BatchEndParams", ["epoch", "nbatch", "eval_metric", "locals"])


def module_checkpoint(mod, prefix, period=1, save_optimizer_states=False):
    """Epoch-end callback: ``mod.save_checkpoint(prefix, epoch + 1, save_optimizer_states)``
    every ``period`` epochs."""
    period = int(max(1, period))

    def _callback(iter_no, sym=None, arg=None, aux=None):
        if (iter_no + 1) % period == 0:
            mod.save_checkpoint(prefix, iter_no + 1, save_optimizer_states)
    return _callback


def do_checkpoint(prefix, period=1):
    """Epoch-end callback writing ``prefix-symbol.json`` and ``prefix-%04d.params`` (epoch + 1)
    every ``period`` epochs, through ``mx.model.save_checkpoint``."""
    period = int(max(1, period))

    def _callback(iter_no, sym, arg, aux):
        if (iter_no + 1) % period == 0:
            from runtime.model import save_checkpoint
            save_checkpoint(prefix, iter_no + 1, sym, arg, aux)
    return _callback


def log_train_metric(period, auto_reset=False):
    """Batch-end callback logging ``Iter[%d] Batch[%d] Train-%s=%f`` every ``period`` batches
    (and resetting the metric's local statistics after each log with ``auto_reset``)."""
    def _callback(param):
        if param.nbatch % period == 0 and param.eval_metric is not None:
            name_value = param.eval_metric.get_name_value()
            for name, value in name_value:
                _info("Iter[%d] Batch[%d] Train-%s=%f", param.epoch, param.nbatch, name, value)
            if auto_reset:
                param.eval_metric.reset_local()
    return _callback


class Speedometer:
    """Batch-end callback logging the training speed and metrics every ``frequent`` batches.

    Parameters
    ----------
    batch_size : int
        Samples per batch (speed = frequent * batch_size / seconds since the last log).
    frequent : int, default 50
    auto_reset : bool, default True
        Reset the metric's local statistics after each log, so each line reports the last
        ``frequent`` batches (``Batch [50-100]``); otherwise lines report ``Batch [0-100]``.
    """

    def __init__(self, batch_size, frequent=50, auto_reset=True):
        self.batch_size = batch_size
        self.frequent = frequent
        self.init = False
        self.tic = 0
        self.last_count = 0
        self.auto_reset = auto_reset

    def __call__(self, param):
        count = param.nbatch
        if self.last_count > count:
            self.init = False
        self.last_count = count

        if self.init:
            if count % self.frequent == 0:
                try:
                    speed = self.frequent * self.batch_size / (time.time() - self.tic)
                except ZeroDivisionError:
                    speed = float("inf")
                if param.eval_metric is not None:
                    name_value = param.eval_metric.get_name_value()
                    if self.auto_reset:
                        param.eval_metric.reset_local()
                        msg = "Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec"
                        msg += "\t%s=%f" * len(name_value)
                        _info(msg, param.epoch, count - self.frequent, count, speed,
                              *sum(name_value, ()))
                    else:
                        msg = "Epoch[%d] Batch [0-%d]\tSpeed: %.2f samples/sec"
                        msg += "\t%s=%f" * len(name_value)
                        _info(msg, param.epoch, count, speed, *sum(name_value, ()))
                else:
                    _info("Iter[%d] Batch [%d]\tSpeed: %.2f samples/sec",
                          param.epoch, count, speed)
                self.tic = time.time()
        else:
            self.init = True
            self.tic = time.time()


class ProgressBar:
    """Batch-end callback logging a progress bar ``[====----] 50%`` of ``total`` batches,
    ``length`` characters wide."""

    def __init__(self, total, length=80):
        self.bar_len = length
        self.total = total

    def __call__(self, param):
        count = param.nbatch
        filled_len = round(self.bar_len * count / float(self.total))
        percents = math.ceil(100.0 * count / float(self.total))
        prog_bar = "=" * filled_len + "-" * (self.bar_len - filled_len)
        _info("[%s] %s%s\r", prog_bar, percents, "%")


class LogValidationMetricsCallback:
    """Logs ``Epoch[%d] Validation-%s=%f`` for each metric (as an eval_end_callback)."""

    def __call__(self, param):
        if not param.eval_metric:
            return
        name_value = param.eval_metric.get_name_value()
        for name, value in name_value:
            _info("Epoch[%d] Validation-%s=%f", param.epoch, name, value)



def __getattr__(name):
    # MXNet's mxnet.callback has save_checkpoint too (from mxnet.model, which imports this
    # module: resolved on first use)
    if name == "save_checkpoint":
        from runtime.model import save_checkpoint
        return save_checkpoint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
