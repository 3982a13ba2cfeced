"""Dynamic loss scaling (MXNet 1.9.1's ``contrib/amp/loss_scaler.py``).

:class:`LossScaler` keeps MXNet's schedule: start at 2**16; after a step whose gradients are
not all finite the next scale is halved (the caller skips that step); after 2000 finite steps
in a row it doubles, up to 2**24. MXNet drives it from Gluon's Trainer (``amp.init_trainer``),
which mxc does not have; for Module, :class:`~mxc.contrib.amp.module.LossScalingModule` drives
it (see there).
"""
from __future__ import annotations

import logging

import numpy as np

_log = logging.getLogger("mxc.contrib.amp")

__all__ = ["LossScaler", "all_finite"]


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
        """Whether any gradient is not finite (``multi_all_finite`` over chunks of 200 arrays,
        as MXNet); updates the scale for the next step. ``params`` are gradient NDArrays (or
        objects with MXNet's ``_grad`` list)."""
        grads = []
        for p in params:
            g = getattr(p, "_grad", p)
            if g is None:
                continue
            grads.extend(g if isinstance(g, (list, tuple)) else [g])
        return self.update_scale(not all_finite(grads))

    def update_scale(self, overflow: bool) -> bool:
        """The schedule of :meth:`has_overflow` for an overflow flag computed elsewhere (mxc's
        addition, used by :class:`~mxc.contrib.amp.module.LossScalingModule`)."""
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
        return bool(overflow)


def all_finite(grads, chunk_size: int = 200) -> bool:
    """Whether every array in ``grads`` is finite: ``multi_all_finite`` per device over chunks
    of ``chunk_size`` arrays; NDArrays only reach the host as one flag per device."""
    from ...ndarray import NDArray, multi_all_finite
    by_ctx: dict = {}
    for g in grads:
        if isinstance(g, NDArray):
            by_ctx.setdefault(g.context, []).append(g)
        elif not np.isfinite(np.asarray(g)).all():
            return False
    for arrays in by_ctx.values():
        flag = None
        for i in range(0, len(arrays), chunk_size):
            chunk = arrays[i:i + chunk_size]
            f = multi_all_finite(*chunk, num_arrays=len(chunk))
            flag = f if flag is None else flag * f     # MXNet: init_output=False, AND-ed
        if not bool(flag.asnumpy()[0]):
            return False
    return True
