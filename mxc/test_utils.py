"""``mx.test_utils``: the helpers MXNet scripts and tests commonly use."""
from __future__ import annotations

import numpy as np

from .context import cpu, current_context

__all__ = ["default_context", "set_default_context", "assert_almost_equal", "almost_equal",
           "same", "rand_ndarray", "rand_shape_nd", "assert_exception"]

_default = None


def default_context():
    return _default or current_context()


def set_default_context(ctx):
    global _default
    _default = ctx


def _np(x):
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


def almost_equal(a, b, rtol=1e-5, atol=1e-20, equal_nan=False):
    return np.allclose(_np(a), _np(b), rtol=rtol, atol=atol, equal_nan=equal_nan)


def assert_almost_equal(a, b, rtol=1e-5, atol=1e-20, names=("a", "b"), equal_nan=False):
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol, equal_nan=equal_nan,
                               err_msg=f"{names[0]} and {names[1]} differ")


def same(a, b):
    return np.array_equal(_np(a), _np(b))


def rand_shape_nd(num_dim, dim=10):
    return tuple(np.random.randint(1, dim + 1, size=num_dim))


def rand_ndarray(shape, stype="default", density=None, dtype=None, ctx=None):
    from .ndarray import array
    if stype != "default":
        from .base import UnsupportedError
        raise UnsupportedError(f"rand_ndarray: stype={stype!r}; mxc supports dense arrays")
    return array(np.random.uniform(-1, 1, shape), ctx=ctx or cpu(), dtype=dtype or "float32")


def assert_exception(f, exception_type, *args, **kwargs):
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError(f"{f} did not raise {exception_type}")
