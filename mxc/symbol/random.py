"""``mx.sym.random``: MXNet's random-number functions for symbols.

Numbers as parameters give a ``_random_<dist>`` node (``shape`` samples of one distribution);
Symbols give a ``_sample_<dist>`` node (``shape`` samples per element of the parameters), as in
MXNet 1.9.1. ``multinomial`` (note: ``get_prob`` defaults to True here, as in MXNet's symbol
API) and ``shuffle`` take a symbol. The ``*_like`` functions are the ``_random_*_like`` operators,
added to this module with every other operator function.
"""
from __future__ import annotations

from ..base import numeric_types
from .ops import _Null, invoke
from .symbol import Symbol

__all__ = ["uniform", "normal", "randn", "poisson", "exponential", "gamma", "multinomial",
           "negative_binomial", "generalized_negative_binomial", "shuffle", "randint"]


def _call(opname, inputs, params, kwargs):
    name = kwargs.pop("name", None)
    attr = kwargs.pop("attr", None)
    params = dict(params)
    params.update(kwargs)
    return invoke(opname, inputs, {k: v for k, v in params.items() if v is not _Null}, name,
                  attr)


def _random_helper(dist, params, names, shape, dtype, kwargs, sampler=True):
    if isinstance(params[0], Symbol):
        for p in params[1:]:
            if not isinstance(p, Symbol):
                raise AssertionError("Distribution parameters must all have the same type, but "
                                     f"got both {type(params[0])} and {type(p)}.")
        if not sampler:
            raise TypeError(f"random.{dist}: the bounds must be numbers (MXNet 1.9.1 has no "
                            "per-element randint sampler)")
        return _call(f"_sample_{dist}", list(params), {"shape": shape, "dtype": dtype}, kwargs)
    if isinstance(params[0], numeric_types) and not isinstance(params[0], bool):
        for p in params[1:]:
            if not isinstance(p, numeric_types) or isinstance(p, bool):
                raise AssertionError("Distribution parameters must all have the same type, but "
                                     f"got both {type(params[0])} and {type(p)}.")
        attrs = dict(zip(names, params))
        attrs.update({"shape": shape, "dtype": dtype})
        return _call(f"_random_{dist}", [], attrs, kwargs)
    raise ValueError("Distribution parameters must be either Symbol or numbers, but got "
                     f"{type(params[0])}.")


def uniform(low=0, high=1, shape=_Null, dtype=_Null, **kwargs):
    """A uniform sampler node on ``[low, high)`` (numbers: ``_random_uniform``; Symbols: one
    distribution per element, ``_sample_uniform``)."""
    return _random_helper("uniform", [low, high], ["low", "high"], shape, dtype, kwargs)


def normal(loc=0, scale=1, shape=_Null, dtype=_Null, **kwargs):
    """A normal sampler node with mean ``loc`` and standard deviation ``scale``."""
    return _random_helper("normal", [loc, scale], ["loc", "scale"], shape, dtype, kwargs)


def randn(*shape, **kwargs):
    """A standard normal sampler node of shape ``shape`` (``loc``, ``scale``, ``dtype`` as
    keywords)."""
    loc = kwargs.pop("loc", 0)
    scale = kwargs.pop("scale", 1)
    dtype = kwargs.pop("dtype", _Null)
    for v, n in ((loc, "loc"), (scale, "scale")):
        if not isinstance(v, (int, float, Symbol)):
            raise AssertionError(f"randn: {n} must be a number or a Symbol; got "
                                 f"{type(v).__name__}")
    return _random_helper("normal", [loc, scale], ["loc", "scale"], shape, dtype, kwargs)


def poisson(lam=1, shape=_Null, dtype=_Null, **kwargs):
    """A Poisson sampler node with rate ``lam``."""
    return _random_helper("poisson", [lam], ["lam"], shape, dtype, kwargs)


def exponential(scale=1, shape=_Null, dtype=_Null, **kwargs):
    """An exponential sampler node with scale ``scale`` (rate ``1/scale``)."""
    return _random_helper("exponential", [1.0 / scale], ["lam"], shape, dtype, kwargs)


def gamma(alpha=1, beta=1, shape=_Null, dtype=_Null, **kwargs):
    """A gamma sampler node with shape ``alpha`` and scale ``beta``."""
    return _random_helper("gamma", [alpha, beta], ["alpha", "beta"], shape, dtype, kwargs)


def negative_binomial(k=1, p=1, shape=_Null, dtype=_Null, **kwargs):
    """A negative binomial sampler node (``k`` successes, failure probability ``p``)."""
    return _random_helper("negative_binomial", [k, p], ["k", "p"], shape, dtype, kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=_Null, dtype=_Null, **kwargs):
    """A generalized negative binomial sampler node (mean ``mu``, dispersion ``alpha``)."""
    return _random_helper("generalized_negative_binomial", [mu, alpha], ["mu", "alpha"], shape,
                          dtype, kwargs)


def multinomial(data, shape=_Null, get_prob=True, dtype="int32", **kwargs):
    """A multinomial sampler node over the last axis of ``data``; with ``get_prob`` (the
    default here, as in MXNet's symbol API) it has a second output, the log-probabilities."""
    return _call("_sample_multinomial", [data], {"shape": shape, "get_prob": get_prob,
                                                 "dtype": dtype}, kwargs)


def shuffle(data, **kwargs):
    """A node shuffling ``data`` along its first axis."""
    return _call("_shuffle", [data], {}, kwargs)


def randint(low, high, shape=_Null, dtype=_Null, **kwargs):
    """A node drawing integers uniformly from ``[low, high)``."""
    return _random_helper("randint", [low, high], ["low", "high"], shape, dtype, kwargs,
                          sampler=False)
