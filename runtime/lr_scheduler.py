"""``mx.lr_scheduler``: learning-rate schedules, with MXNet 1.9.1's names, defaults and numbers.

A scheduler is called with ``num_update``, the largest number of updates any weight has had
(:attr:`Optimizer.num_update`), and returns the learning rate. As in MXNet:

- ``FactorScheduler`` and ``MultiFactorScheduler`` are stateful: they lower ``base_lr`` in place
  when ``num_update`` passes a boundary *strictly* (``num_update > count + step``), so with
  ``step=10`` updates 1..10 use the first rate and update 11 the second; a ``while`` loop catches
  up when training resumes at a later update. Each change is logged at INFO level as
  ``Update[%d]: Change learning rate to %0.5e`` (FactorScheduler says ``now learning rate
  arrived at %0.5e, will not change in the future`` when it reaches ``stop_factor_lr``).
- ``PolyScheduler`` and ``CosineScheduler`` recompute ``base_lr`` for ``num_update <=
  max_update`` and keep the last value after that.
- Warmup: for ``num_update < warmup_steps`` the rate is ``warmup_begin_lr`` plus a linear share
  of ``base_lr - warmup_begin_lr`` (``'linear'``), or ``warmup_begin_lr`` (``'constant'``).

Attribute names are MXNet's, so a scheduler pickled inside an optimizer by MXNet loads here.
"""
from __future__ import annotations

import logging
from math import cos, pi

# MXNet logs schedule changes on the root logger; users' handlers and log parsers expect that
_log = logging.getLogger()

__all__ = [
    "CosineScheduler",
    "FactorScheduler",
    "LRScheduler",
    "MultiFactorScheduler",
    "PolyScheduler",
]


class LRScheduler:
    """Base class of learning-rate schedulers.

    Parameters
    ----------
    base_lr : float, default 0.01
        The initial learning rate.
    warmup_steps : int, default 0
        Number of warmup updates before the schedule itself starts.
    warmup_begin_lr : float, default 0
        The learning rate warmup starts from.
    warmup_mode : {'linear', 'constant'}, default 'linear'
        ``'linear'`` raises the rate in equal steps; ``'constant'`` keeps ``warmup_begin_lr``.
    """

    def __init__(self, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0, warmup_mode="linear"):
        self.base_lr = base_lr
        if not isinstance(warmup_steps, int):
            raise TypeError(f"warmup_steps must be an int; got "
                                 f"{type(warmup_steps).__name__} {warmup_steps!r}")
        self.warmup_steps = warmup_steps
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        if self.warmup_begin_lr > self.warmup_final_lr:
            raise ValueError("Base lr has to be higher than warmup_begin_lr")
        if self.warmup_steps < 0:
            raise ValueError("Warmup steps has to be positive or 0")
        if warmup_mode not in ("linear", "constant"):
            raise ValueError("Supports only linear and constant modes of warmup")
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update):
        """The learning rate at update ``num_update`` (< ``warmup_steps``) of the warmup."""
        if not num_update < self.warmup_steps:
            raise AssertionError(f"get_warmup_lr: num_update {num_update} is past the "
                                 f"{self.warmup_steps} warmup steps")
        if self.warmup_mode == "linear":
            span = self.warmup_final_lr - self.warmup_begin_lr
            return self.warmup_begin_lr + span * float(num_update) / float(self.warmup_steps)
        if self.warmup_mode == "constant":
            return self.warmup_begin_lr
        raise ValueError(f"Invalid warmup mode {self.warmup_mode}")

    def __call__(self, num_update):
        """The learning rate for ``num_update``, the largest number of updates of any weight."""
        raise NotImplementedError("must override this")


class FactorScheduler(LRScheduler):
    """Multiply the learning rate by ``factor`` every ``step`` updates: the rate changes when
    ``num_update`` first exceeds a multiple of ``step`` (update ``step + 1``, ``2 * step + 1``
    ...), and stops at ``stop_factor_lr``.

    Parameters
    ----------
    step : int
        Updates between two changes (>= 1).
    factor : float, default 1
        The multiplier (<= 1).
    stop_factor_lr : float, default 1e-8
        The rate stops changing once it would fall below this value.
    base_lr, warmup_steps, warmup_begin_lr, warmup_mode
        As in :class:`LRScheduler`.
    """

    def __init__(self, step, factor=1, stop_factor_lr=1e-8, base_lr=0.01, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise ValueError("Schedule step must be greater or equal than 1 round")
        if factor > 1.0:
            raise ValueError("Factor must be no more than 1 to make lr reduce")
        self.step = step
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        # a loop, not an if: training resumed at a later update catches up at once; far behind
        # (a checkpoint many steps back), in closed form: the loop would run for ever
        steps = (num_update - self.count - 1) // self.step
        if steps > 1000:
            lr = self.base_lr * self.factor ** steps if self.factor > 0 else 0.0
            self.count += steps * self.step
            self.base_lr = self.stop_factor_lr if lr < self.stop_factor_lr else lr
            _log.info("Update[%d]: Change learning rate to %0.5e", num_update, self.base_lr)
        while num_update > self.count + self.step:
            self.count += self.step
            self.base_lr *= self.factor
            if self.base_lr < self.stop_factor_lr:
                self.base_lr = self.stop_factor_lr
                _log.info("Update[%d]: now learning rate arrived at %0.5e, will not "
                          "change in the future", num_update, self.base_lr)
            else:
                _log.info("Update[%d]: Change learning rate to %0.5e", num_update, self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiply the learning rate by ``factor`` each time ``num_update`` passes one of the
    (increasing) boundaries in ``step``.

    Parameters
    ----------
    step : list of int
        Increasing update counts (each >= 1) after which the rate changes.
    factor : float, default 1
        The multiplier (<= 1).
    base_lr, warmup_steps, warmup_begin_lr, warmup_mode
        As in :class:`LRScheduler`.
    """

    def __init__(self, step, factor=1, base_lr=0.01, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not (isinstance(step, list) and len(step) >= 1):
            raise AssertionError(f"step must be a non-empty list of update counts; got {step!r}")
        for i, s in enumerate(step):
            if i != 0 and s <= step[i - 1]:
                raise ValueError("Schedule step must be an increasing integer list")
            if s < 1:
                raise ValueError("Schedule step must be greater or equal than 1 round")
        if factor > 1.0:
            raise ValueError("Factor must be no more than 1 to make lr reduce")
        self.step = step
        self.cur_step_ind = 0
        self.factor = factor
        self.count = 0

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind <= len(self.step) - 1:
            if num_update > self.step[self.cur_step_ind]:
                self.count = self.step[self.cur_step_ind]
                self.cur_step_ind += 1
                self.base_lr *= self.factor
                _log.info("Update[%d]: Change learning rate to %0.5e", num_update, self.base_lr)
            else:
                return self.base_lr
        return self.base_lr


class PolyScheduler(LRScheduler):
    """Polynomial decay after warmup:
    ``final_lr + (base_lr - final_lr) * (1 - (num_update - warmup_steps) / max_steps) ** pwr``
    for ``num_update <= max_update`` (``max_steps = max_update - warmup_steps``); the last
    value after that.

    Parameters
    ----------
    max_update : int
        The update at which the rate reaches ``final_lr`` (>= 1).
    base_lr : float, default 0.01
        The rate the decay starts from.
    pwr : int, default 2
        The power of the decay.
    final_lr : float, default 0
        The rate after ``max_update``.
    warmup_steps, warmup_begin_lr, warmup_mode
        As in :class:`LRScheduler`.
    """

    def __init__(self, max_update, base_lr=0.01, pwr=2, final_lr=0, warmup_steps=0,
                 warmup_begin_lr=0, warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(max_update, int):
            raise TypeError(f"max_update must be an int; got "
                                 f"{type(max_update).__name__} {max_update!r}")
        if max_update < 1:
            raise ValueError("maximum number of updates must be strictly positive")
        self.power = pwr
        self.base_lr_orig = self.base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            frac = float(num_update - self.warmup_steps) / float(self.max_steps)
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * \
                pow(1 - frac, self.power)
        return self.base_lr


class CosineScheduler(LRScheduler):
    """Cosine decay after warmup:
    ``final_lr + (base_lr - final_lr) * (1 + cos(pi * (num_update - warmup_steps) /
    max_steps)) / 2`` for ``num_update <= max_update``; the last value after that.

    Parameters
    ----------
    max_update : int
        The update at which the rate reaches ``final_lr`` (>= 1).
    base_lr : float, default 0.01
        The rate the decay starts from.
    final_lr : float, default 0
        The rate after ``max_update``.
    warmup_steps, warmup_begin_lr, warmup_mode
        As in :class:`LRScheduler`.
    """

    def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0, warmup_begin_lr=0,
                 warmup_mode="linear"):
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(max_update, int):
            raise TypeError(f"max_update must be an int; got "
                                 f"{type(max_update).__name__} {max_update!r}")
        if max_update < 1:
            raise ValueError("maximum number of updates must be strictly positive")
        self.base_lr_orig = base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) * \
                (1 + cos(pi * (num_update - self.warmup_steps) / self.max_steps)) / 2
        return self.base_lr
