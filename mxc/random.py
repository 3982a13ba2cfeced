"""Random number state: one ``torch.Generator`` per device, seeded by :func:`seed`.

Every operator that draws random numbers (Dropout in training, rrelu, ``_random_uniform_like``)
takes its generator from :func:`generator`, so ``mx.random.seed(42)`` makes a run repeatable,
as in MXNet. Until ``seed`` is called, each device's generator starts from a nondeterministic
seed (the numbers differ from run to run, as they do in MXNet without a seed).
"""
from __future__ import annotations

import numbers
import threading

import torch

__all__ = ["generator", "seed"]

_lock = threading.Lock()
_gens: dict[str, torch.Generator] = {}
_all_seed: int | None = None     # the last seed given with ctx='all'


def _key(device) -> str:
    d = torch.device(device)
    if d.type == "cuda" and d.index is None:
        d = torch.device("cuda", torch.cuda.current_device())
    return str(d)


def generator(device="cpu") -> torch.Generator:
    """The generator of ``device`` (a torch device or its name), created on first use."""
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
        The seed; the same seed gives the same random numbers on the same device.
    ctx : Context or 'all', default 'all'
        Seed only this device's generator, or every device's (those created later too).
    """
    if isinstance(seed_state, bool) or not isinstance(seed_state, numbers.Integral):
        from .base import MXNetError
        raise MXNetError(f"mx.random.seed: seed_state must be an integer; got "
                         f"{type(seed_state).__name__} {seed_state!r}")
    s = int(seed_state) & 0xFFFFFFFFFFFFFFFF
    global _all_seed
    if isinstance(ctx, str):
        if ctx != "all":
            from .base import MXNetError
            raise MXNetError(f"mx.random.seed: ctx must be a Context or 'all'; got {ctx!r}")
        with _lock:
            _all_seed = s
            for g in _gens.values():
                g.manual_seed(s)
        return
    dev = ctx.torch_device if hasattr(ctx, "torch_device") else ctx
    generator(dev).manual_seed(s)
