"""The C++ random numbers MXNet's data iterators draw: ``std::mt19937`` and libstdc++'s
distributions as the MXNet 1.9.1 wheels were built with them.

MXNet's iterators shuffle with ``std::shuffle(..., std::mt19937(seed))`` and augment with
``std::uniform_int_distribution`` / ``uniform_real_distribution<float>`` /
``bernoulli_distribution`` / ``normal_distribution<float>`` on an ``mt19937``. Drawing the same
numbers in the same order lets mxc reproduce MXNet's shuffled orders (MNISTIter,
ImageRecordIter) and, with ``seed_aug``, its random crops and mirrors, exactly. The algorithms
(checked against MXNet's output in tests/test_io_record.py):

* ``mt19937`` is numpy's MT19937 with its legacy integer seeding (``init_genrand``), the
  same generator.
* ``uniform_int_distribution(a, b)``: ``r = g()`` until ``r < past`` where ``scaling =
  (2**32 - 1) // (b - a + 1)`` and ``past = (b - a + 1) * scaling``; ``a + r // scaling``.
* ``generate_canonical<float>``: ``float(g()) / 2**32`` (one draw, rounded to float32);
  ``<double>``: ``(g1 + g2 * 2**32) / 2**64`` (two draws).
* ``std::shuffle``: for ``i`` in ``1 .. n-1``, swap ``x[i]`` with ``x[uniform_int(0, i)]``.
* ``normal_distribution<float>``: Marsaglia's polar method on canonical floats, two values
  per round, the second kept for the next draw.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["MT19937"]

_F32 = np.float32
_TWO32 = 4294967296.0


class MT19937:
    """``std::mt19937`` seeded with ``seed`` (taken modulo 2**32), and the distributions."""

    __slots__ = ("_bg", "_buf", "_pos")

    def __init__(self, seed: int = 5489):
        self._bg = None
        self.seed(seed)

    def seed(self, seed: int) -> None:
        seed = int(seed) & 0xFFFFFFFF
        bg = getattr(self, "_bg", None)
        try:
            if bg is None:
                bg = np.random.MT19937(0)
            bg._legacy_seeding(seed)            # init_genrand: 100x cheaper than below
        except AttributeError:
            bg = np.random.RandomState(seed)._bit_generator
        self._bg = bg
        self._buf = None
        self._pos = 0

    def __call__(self) -> int:
        """The next 32-bit output."""
        buf = self._buf
        if buf is None or self._pos >= len(buf):
            # draw ahead in blocks: the sequence is the same, the calls are fewer
            buf = self._buf = self._bg.random_raw(16).tolist()
            self._pos = 0
        v = buf[self._pos]
        self._pos += 1
        return v

    def uniform_int(self, a: int, b: int) -> int:
        """``std::uniform_int_distribution(a, b)``: an integer in ``[a, b]``."""
        urange = b - a
        if urange >= 0xFFFFFFFF:
            return a + self()
        uerange = urange + 1
        scaling = 0xFFFFFFFF // uerange
        past = uerange * scaling
        while True:
            r = self()
            if r < past:
                return a + r // scaling

    def canonical_float(self) -> float:
        """``std::generate_canonical<float, 24>``: a float32 in ``[0, 1)``."""
        v = _F32(_F32(self()) / _F32(_TWO32))
        if v >= 1.0:
            v = np.nextafter(_F32(1.0), _F32(0.0))
        return v

    def canonical_double(self) -> float:
        """``std::generate_canonical<double, 53>``: a double in ``[0, 1)`` from two draws."""
        lo = float(self())
        hi = float(self())
        v = (lo + hi * _TWO32) / (_TWO32 * _TWO32)
        return v if v < 1.0 else math.nextafter(1.0, 0.0)

    def uniform_float(self, a: float, b: float):
        """``std::uniform_real_distribution<float>(a, b)`` (float32 arithmetic)."""
        a = _F32(a)
        b = _F32(b)
        return _F32(_F32(self.canonical_float() * _F32(b - a)) + a)

    def bernoulli(self, p: float = 0.5) -> bool:
        """``std::bernoulli_distribution(p)``."""
        return self.canonical_double() < p

    def normal(self, mean: float, stddev: float):
        """The draws of one ``std::normal_distribution<float>(mean, stddev)`` object, as a
        generator: the polar method makes two values per round and keeps the second."""
        mean = _F32(mean)
        stddev = _F32(stddev)
        while True:
            while True:
                x = _F32(2.0 * float(self.canonical_float()) - 1.0)
                y = _F32(2.0 * float(self.canonical_float()) - 1.0)
                r2 = _F32(x * x + y * y)
                if r2 <= 1.0 and r2 != 0.0:
                    break
            mult = _F32(math.sqrt(float(_F32(-2 * float(np.log(r2)) / r2))))
            yield _F32(_F32(y * mult) * stddev + mean)
            yield _F32(_F32(x * mult) * stddev + mean)

    def shuffle(self, seq) -> None:
        """``std::shuffle(seq.begin(), seq.end(), *this)`` in place (a list)."""
        for i in range(1, len(seq)):
            j = self.uniform_int(0, i)
            seq[i], seq[j] = seq[j], seq[i]
