"""``mx.nd.random``: MXNet's random-number functions for NDArrays.

``uniform``, ``normal``, ``randn``, ``poisson``, ``exponential``, ``gamma``,
``negative_binomial``, ``generalized_negative_binomial`` and ``randint`` take numbers (one
distribution: the ``_random_*`` operators, ``shape`` samples on ``ctx``) or NDArrays (one
distribution per element: the ``_sample_*`` operators, ``shape`` samples each), as in MXNet 1.9.1;
``multinomial`` and ``shuffle`` take an array. The ``*_like`` functions (``uniform_like`` ...)
are the ``_random_*_like`` operators themselves, added to this module with every other operator
function. Numbers come from the counter-based generator of :mod:`mxc.ir.opdefs.random`, seeded by
``mx.random.seed``.
"""
from __future__ import annotations

from ..base import MXNetError, ShapeError, numeric_types
from ..symbol.ops import _Null
from .ndarray import NDArray

__all__ = ["uniform", "normal", "randn", "poisson", "exponential", "gamma", "multinomial",
           "negative_binomial", "generalized_negative_binomial", "shuffle", "randint"]


def _invoke(opname, inputs, attrs, out):
    from .ops import invoke
    return invoke(opname, inputs, {k: v for k, v in attrs.items() if v is not _Null}, out=out)


def _random_helper(dist, params, names, shape, dtype, ctx, out, kwargs, sampler=True):
    """MXNet's dispatch: numbers -> ``_random_<dist>`` (``shape`` defaults to 1, ``ctx`` to
    the current context); NDArrays -> ``_sample_<dist>`` on their device."""
    fn = dist
    if isinstance(params[0], NDArray):
        for p in params[1:]:
            if not isinstance(p, NDArray):
                raise AssertionError("Distribution parameters must all have the same type, but "
                                     f"got both {type(params[0])} and {type(p)}.")
        if not sampler:
            raise MXNetError(f"random.{fn}: the bounds must be numbers; mxc (like MXNet 1.9.1) "
                             "has no per-element randint sampler")
        return _invoke(f"_sample_{dist}", list(params), {"shape": shape, "dtype": dtype,
                                                          **kwargs}, out)
    if isinstance(params[0], numeric_types) and not isinstance(params[0], bool):
        from ..context import current_context
        for p in params[1:]:
            if not isinstance(p, numeric_types) or isinstance(p, bool):
                raise AssertionError("Distribution parameters must all have the same type, but "
                                     f"got both {type(params[0])} and {type(p)}.")
        if ctx is None:
            ctx = current_context()
        if shape is _Null:
            shape = 1 if out is None else out.shape
        if out is None and (shape == () or shape == []):
            raise ShapeError(f"random.{fn}: shape=() has no size; give the shape of the output "
                             "(an int or a tuple of ints)")
        attrs = dict(zip(names, params))
        attrs.update({"shape": shape, "ctx": str(ctx), "dtype": dtype, **kwargs})
        return _invoke(f"_random_{dist}", [], attrs, out)
    raise ValueError("Distribution parameters must be either NDArray or numbers, but got "
                     f"{type(params[0])}.")


def uniform(low=0, high=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples from a uniform distribution on ``[low, high)``: ``shape`` samples (numbers), or
    ``shape`` samples per element of the NDArrays ``low`` and ``high`` (output shape
    ``low.shape + shape``). ``dtype``: float16, float32 (default) or float64."""
    return _random_helper("uniform", [low, high], ["low", "high"], shape, dtype, ctx, out, kwargs)


def normal(loc=0, scale=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples from a normal distribution with mean ``loc`` and standard deviation ``scale``
    (numbers or NDArrays, as :func:`uniform`)."""
    return _random_helper("normal", [loc, scale], ["loc", "scale"], shape, dtype, ctx, out,
                          kwargs)


def randn(*shape, **kwargs):
    """Standard normal samples of shape ``shape`` (``loc``, ``scale``, ``dtype``, ``ctx``,
    ``out`` as keywords): ``randn(2, 3)``."""
    loc = kwargs.pop("loc", 0)
    scale = kwargs.pop("scale", 1)
    dtype = kwargs.pop("dtype", _Null)
    ctx = kwargs.pop("ctx", None)
    out = kwargs.pop("out", None)
    for v, n in ((loc, "loc"), (scale, "scale")):
        if not isinstance(v, (int, float, NDArray)):
            raise AssertionError(f"randn: {n} must be a number or an NDArray; got "
                                 f"{type(v).__name__}")
    return _random_helper("normal", [loc, scale], ["loc", "scale"], shape, dtype, ctx, out,
                          kwargs)


def poisson(lam=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples from a Poisson distribution with rate ``lam`` (floating-point results)."""
    return _random_helper("poisson", [lam], ["lam"], shape, dtype, ctx, out, kwargs)


def exponential(scale=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples from an exponential distribution with scale ``scale`` (rate ``1/scale``)."""
    return _random_helper("exponential", [1.0 / scale], ["lam"], shape, dtype, ctx, out,
                          kwargs)


def gamma(alpha=1, beta=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples from a gamma distribution with shape ``alpha`` and scale ``beta``."""
    return _random_helper("gamma", [alpha, beta], ["alpha", "beta"], shape, dtype, ctx, out,
                          kwargs)


def negative_binomial(k=1, p=1, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Samples from a negative binomial distribution: failures before ``k`` successes with
    failure probability ``p`` per experiment (floating-point results)."""
    return _random_helper("negative_binomial", [k, p], ["k", "p"], shape, dtype, ctx, out,
                          kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=_Null, dtype=_Null, ctx=None, out=None,
                                  **kwargs):
    """Samples from a generalized negative binomial distribution with mean ``mu`` and
    dispersion ``alpha``."""
    return _random_helper("generalized_negative_binomial", [mu, alpha], ["mu", "alpha"], shape,
                          dtype, ctx, out, kwargs)


def multinomial(data, shape=_Null, get_prob=False, out=None, dtype="int32", **kwargs):
    """Indices drawn from the multinomial distributions in the last axis of ``data`` (which must
    sum to 1); ``shape`` samples per distribution; with ``get_prob`` also their
    log-probabilities (a list of two arrays)."""
    return _invoke("_sample_multinomial", [data], {"shape": shape, "get_prob": get_prob,
                                                   "dtype": dtype, **kwargs}, out)


def shuffle(data, **kwargs):
    """``data`` with its first axis randomly permuted."""
    out = kwargs.pop("out", None)
    return _invoke("_shuffle", [data], kwargs, out)


def randint(low, high, shape=_Null, dtype=_Null, ctx=None, out=None, **kwargs):
    """Integers drawn uniformly from ``[low, high)``; ``dtype`` int32 (default) or int64."""
    return _random_helper("randint", [low, high], ["low", "high"], shape, dtype, ctx, out,
                          kwargs, sampler=False)
