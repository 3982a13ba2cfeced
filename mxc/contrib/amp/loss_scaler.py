"""Dynamic loss scaling (MXNet 1.9.1's ``contrib/amp/loss_scaler.py``).

:class:`LossScaler` keeps MXNet's schedule: start at 2**16; after a step whose gradients are
not all finite the next scale is halved (the caller skips that step); after 2000 finite steps
in a row it doubles, up to 2**24. MXNet drives it from Gluon's Trainer (``amp.init_trainer``),
which mxc does not have; a Module training loop can call :meth:`LossScaler.has_overflow` on the
executor's gradient arrays itself.
"""
from __future__ import annotations

import logging

import numpy as np

_log = logging.getLogger("mxc.contrib.amp")

__all__ = ["LossScaler"]


class LossScaler:
    """Dynamic loss scaler for AMP.

    Properties
    ----------
    loss_scale : float
        The current loss scale
    """

    def __init__(self):
        self._loss_scale = 2.0 ** 16
        self._next_loss_scale = self._loss_scale
        self._max_loss_scale = 2.0 ** 24
        self._scale_seq_len = 2000
        self._unskipped = 0

    @property
    def loss_scale(self) -> float:
        return self._loss_scale

    def has_overflow(self, params) -> bool:
        """Whether any gradient is not finite; updates the scale for the next step. ``params``
        are gradient NDArrays (or objects with MXNet's ``_grad`` list)."""
        grads = []
        for p in params:
            g = getattr(p, "_grad", p)
            if g is None:
                continue
            grads.extend(g if isinstance(g, (list, tuple)) else [g])
        overflow = not all(bool(np.isfinite(_numpy(g)).all()) for g in grads)
        self._loss_scale = self._next_loss_scale
        if overflow:
            self._next_loss_scale = self._loss_scale / 2.0
            self._unskipped = 0
            _log.info("AMP: decreasing loss scale to %f", self._next_loss_scale)
        else:
            self._unskipped += 1
        if self._unskipped == self._scale_seq_len:
            self._unskipped = 0
            self._next_loss_scale = min(self._max_loss_scale, self._loss_scale * 2.0)
            _log.info("AMP: increasing loss scale to %f", self._next_loss_scale)
        return overflow


def _numpy(g):
    return g.asnumpy() if hasattr(g, "asnumpy") else np.asarray(g)
