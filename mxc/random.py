"""``mx.random``: seeding, and MXNet's sampling functions (those of ``mx.nd.random``).

Random operators (``mx.nd.random.*``, ``mx.sym.random.*``, ``Dropout`` ...) draw from a
counter-based generator (Philox4x32-10, :mod:`mxc.ir.opdefs.random`): each device has a seed and
a draw counter that advances once per execution of a random operator, so a value depends only on
the seed, the draw and the element's index. ``mx.random.seed(s)`` resets both, which makes a
run repeatable on any backend (LLVM or Triton), with any number of threads, however the graph
was fused. Until ``seed`` is called the seed is chosen at random per process (the numbers differ
from run to run, as they do in MXNet without a seed).

Initializers and a few optimizers draw with torch instead; they take their generator from
:func:`generator`, which ``seed`` seeds too.
"""
from __future__ import annotations

import ctypes
import numbers
import threading

import torch

from .base import AttrError, check_call, integer_types  # noqa: F401  (MXNet's module has them)
from .context import Context
from .ir.opdefs.random import set_seed as _set_philox_seed
from .ndarray.random import (exponential, gamma, generalized_negative_binomial, multinomial,
                             negative_binomial, normal, poisson, randint, randn, shuffle,
                             uniform)

__all__ = ["seed", "generator", "uniform", "normal", "randn", "poisson", "exponential", "gamma",
           "multinomial", "negative_binomial", "generalized_negative_binomial", "shuffle",
           "randint", "Context"]

_lock = threading.Lock()
_gens: dict[str, torch.Generator] = {}
_all_seed: int | None = None     # the last seed given with ctx='all'


def _key(device) -> str:
    d = torch.device(device)
    if d.type == "cuda" and d.index is None:
        d = torch.device("cuda", torch.cuda.current_device())
    return str(d)


def generator(device="cpu") -> torch.Generator:
    """The torch generator of ``device`` (a torch device or its name), created on first use;
    for library code that samples with torch (initializers)."""
    k = _key(device)
    with _lock:
        g = _gens.get(k)
        if g is None:
            g = torch.Generator(device=k)
            if _all_seed is None:
                g.seed()
            else:
                g.manual_seed(_all_seed)
            _gens[k] = g
        return g


def seed(seed_state, ctx="all"):
    """Seed the random number generators (MXNet's ``mx.random.seed``).

    Parameters
    ----------
    seed_state : int
        The seed. As in MXNet it is taken as a C ``int`` (``2**32 + 5`` seeds like ``5``).
    ctx : Context or 'all', default 'all'
        Seed this device's generator only, or every device's (those created later too).

    Unlike MXNet, the same seed gives the same numbers on every device (MXNet mixes the
    device id in), so CPU and GPU runs of a seeded program agree.
    """
    if isinstance(seed_state, bool) or not isinstance(seed_state, numbers.Integral):
        raise AttrError(f"mx.random.seed: seed_state must be int; got "
                        f"{type(seed_state).__name__} {seed_state!r}")
    s = ctypes.c_int(int(seed_state)).value & 0xFFFFFFFF
    global _all_seed
    if isinstance(ctx, str) and ctx == "all":
        with _lock:
            _all_seed = s
            for g in _gens.values():
                g.manual_seed(s)
        _set_philox_seed(s)
        return
    if isinstance(ctx, str):
        from .ndarray.ndarray import _as_ctx
        try:
            ctx = _as_ctx(ctx)
        except Exception as e:
            raise AttrError(f"mx.random.seed: ctx must be a Context or 'all'; got {ctx!r}") from e
    if not isinstance(ctx, Context):
        raise AttrError(f"mx.random.seed: ctx must be a Context or 'all'; got "
                        f"{type(ctx).__name__} {ctx!r}")
    dev = ctx.torch_device
    generator(dev).manual_seed(s)
    _set_philox_seed(s, dev)
