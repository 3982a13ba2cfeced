"""``mx.init`` / ``mx.initializer``: MXNet 1.9.1's weight initializers.

Names, signatures, defaults, ``dumps()`` JSON and the name dispatch are MXNet's:

- ``init(InitDesc(name, attrs), arr)``: an ``__init__`` attribute (a JSON string such as
  ``'["zero", {}]'``, which BatchNorm's moving statistics carry) wins: ``create(it)._init_weight``.
  Otherwise the name's suffix decides: ``weight`` -> ``_init_weight``, ``bias`` -> 0,
  ``gamma`` -> 1, ``beta`` -> 0, ``min`` -> 0, ``max`` -> 1; anything else (``data``,
  ``moving_mean`` without its attribute ...) raises ``ValueError: Unknown initialization
  pattern for NAME``.
- ``init(name, arr)`` with a plain string is MXNet's deprecated legacy path (a
  DeprecationWarning): names starting with ``upsampling`` get bilinear weights, ``stn_loc*``
  weights 0 and biases the identity transform, then ``bias``/``gamma``/``beta``/``weight``
  suffixes as above, ``moving_mean``/``moving_inv_var``/``moving_avg``/``min`` -> 0,
  ``moving_var``/``max`` -> 1, anything else the same ValueError.

Random initializers draw with torch from the generator that ``mx.random.seed`` seeds
(:func:`mxc.random.generator`), on the array's device, so a seeded run is repeatable (the
numbers are not MXNet's: its generator is not reproduced).
"""
from __future__ import annotations

import json
import logging
import re
import warnings
from math import sqrt

import numpy as np
import torch

from mxc.ndarray import NDArray
from runtime.registry import Registry

# MXNet logs on the root logger (``Initialized %s as %s: %s``)
_log = logging.getLogger()

__all__ = [
    "Bilinear",
    "Constant",
    "FusedRNN",
    "InitDesc",
    "Initializer",
    "LSTMBias",
    "Load",
    "MSRAPrelu",
    "Mixed",
    "Normal",
    "One",
    "Orthogonal",
    "Uniform",
    "Xavier",
    "Zero",
    "alias",
    "create",
    "register",
]


class InitDesc(str):
    """The name of a variable to initialize, with its attributes.

    Parameters
    ----------
    name : str
        Name of the variable.
    attrs : dict of str to str, optional
        Its attributes (``Symbol.attr_dict()[name]``); ``__init__`` names an initializer.
    global_init : Initializer, optional
        The initializer to fall back to.
    """

    def __new__(cls, name, attrs=None, global_init=None):
        ret = super().__new__(cls, name)
        ret.attrs = attrs or {}
        ret.global_init = global_init
        return ret


# --- random draws --------------------------------------------------------------------------------
def _draw(arr: NDArray, fill) -> None:
    """Fill ``arr`` by ``fill(tensor, generator)`` on a float tensor of its shape (float32, or
    float64 for float64 arrays), then store it with the array's dtype."""
    from mxc.random import generator
    t = arr.torch_tensor()
    dev = t.device
    dt = torch.float64 if t.dtype == torch.float64 else torch.float32
    tmp = torch.empty(tuple(t.shape), dtype=dt, device=dev)
    fill(tmp, generator(dev))
    t.copy_(tmp)


def _uniform(arr: NDArray, low: float, high: float) -> None:
    _draw(arr, lambda x, g: x.uniform_(float(low), float(high), generator=g))


def _normal(arr: NDArray, loc: float, scale: float) -> None:
    _draw(arr, lambda x, g: x.normal_(float(loc), float(scale), generator=g))


def _random_numpy(shape, kind: str, device) -> np.ndarray:
    """A float32 numpy array of uniform(-1, 1) or standard normal numbers from the seeded
    generator."""
    from mxc.random import generator
    x = torch.empty(tuple(int(s) for s in shape), dtype=torch.float32, device=device)
    if kind == "uniform":
        x.uniform_(-1.0, 1.0, generator=generator(device))
    else:
        x.normal_(0.0, 1.0, generator=generator(device))
    return x.cpu().numpy()


def _bilinear_weights(shape) -> np.ndarray:
    """MXNet's bilinear upsampling kernel for a (.., .., H, W) weight, as float32."""
    n = int(np.prod(shape))
    f = np.ceil(shape[3] / 2.)
    c = (2 * f - 1 - f % 2) / (2. * f)
    i = np.arange(n)
    x = i % shape[3]
    y = (i // shape[3]) % shape[2]
    return ((1 - np.abs(x / f - c)) * (1 - np.abs(y / f - c))).astype(np.float32).reshape(shape)


# --- the base class ------------------------------------------------------------------------------
class Initializer:
    """The base class of initializers: ``init(desc, arr)`` fills ``arr`` according to its name
    (see the module docstring); subclasses define ``_init_weight``."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """Log each initialized array (``Initialized NAME as PATTERN: STAT``); ``print_func``
        maps an NDArray to the string logged (default: its 2-norm over sqrt(size))."""
        self._verbose = verbose
        if print_func is None:
            def asum_stat(x):
                """norm(x) / sqrt(size(x))."""
                from mxc import nd
                return str((nd.norm(x) / sqrt(x.size)).asscalar())
            print_func = asum_stat
        self._print_func = print_func
        return self

    def _verbose_print(self, desc, init, arr):
        if self._verbose and self._print_func:
            _log.info("Initialized %s as %s: %s", desc, init, self._print_func(arr))

    def dumps(self):
        """The initializer as MXNet's JSON: ``'["name", {kwargs}]'``."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, desc, arr):
        """Initialize ``arr`` (an NDArray) for ``desc`` (an :class:`InitDesc`; a plain string
        takes MXNet's deprecated legacy path)."""
        if not isinstance(desc, InitDesc):
            self._legacy_init(desc, arr)
            return
        if desc.global_init is None:
            desc.global_init = self
        init = desc.attrs.get("__init__", "")
        if init:
            create(init)._init_weight(desc, arr)
            self._verbose_print(desc, init, arr)
        elif desc.endswith("weight"):
            self._init_weight(desc, arr)
            self._verbose_print(desc, "weight", arr)
        elif desc.endswith("bias"):
            self._init_bias(desc, arr)
            self._verbose_print(desc, "bias", arr)
        elif desc.endswith("gamma"):
            self._init_gamma(desc, arr)
            self._verbose_print(desc, "gamma", arr)
        elif desc.endswith("beta"):
            self._init_beta(desc, arr)
            self._verbose_print(desc, "beta", arr)
        elif desc.endswith("min"):
            self._init_zero(desc, arr)
            self._verbose_print(desc, "min", arr)
        elif desc.endswith("max"):
            self._init_one(desc, arr)
            self._verbose_print(desc, "max", arr)
        elif desc.endswith("weight_quantize"):
            self._init_quantized_weight(desc, arr)
            self._verbose_print(desc, "weight_quantize", arr)
        elif desc.endswith("bias_quantize"):
            self._init_quantized_bias(desc, arr)
            self._verbose_print(desc, "bias_quantize", arr)
        else:
            self._init_default(desc, arr)

    def _legacy_init(self, name, arr):
        """MXNet's deprecated ``init(str, NDArray)`` path."""
        warnings.warn("Calling initializer with init(str, NDArray) has been deprecated. "
                      "please use init(mx.init.InitDesc(...), NDArray) instead.",
                      DeprecationWarning, stacklevel=3)
        if not isinstance(name, str):
            raise TypeError("name must be string")
        if not isinstance(arr, NDArray):
            raise TypeError("arr must be NDArray")
        if name.startswith("upsampling"):
            self._init_bilinear(name, arr)
        elif name.startswith("stn_loc") and name.endswith("weight"):
            self._init_zero(name, arr)
        elif name.startswith("stn_loc") and name.endswith("bias"):
            self._init_loc_bias(name, arr)
        elif name.endswith("bias"):
            self._init_bias(name, arr)
        elif name.endswith("gamma"):
            self._init_gamma(name, arr)
        elif name.endswith("beta"):
            self._init_beta(name, arr)
        elif name.endswith("weight"):
            self._init_weight(name, arr)
        elif name.endswith("moving_mean"):
            self._init_zero(name, arr)
        elif name.endswith("moving_var"):
            self._init_one(name, arr)
        elif name.endswith(("moving_inv_var", "moving_avg", "min")):
            self._init_zero(name, arr)
        elif name.endswith("max"):
            self._init_one(name, arr)
        else:
            self._init_default(name, arr)

    def _init_bilinear(self, _, arr):
        arr[:] = _bilinear_weights(arr.shape)

    def _init_loc_bias(self, _, arr):
        if arr.shape[0] != 6:
            raise AssertionError(f"stn_loc bias must have 6 elements; got shape {arr.shape}")
        arr[:] = np.array([1.0, 0, 0, 0, 1.0, 0])

    def _init_zero(self, _, arr):
        arr[:] = 0.0

    def _init_one(self, _, arr):
        arr[:] = 1.0

    def _init_bias(self, _, arr):
        arr[:] = 0.0

    def _init_quantized_bias(self, _, arr):
        arr[:] = 0

    def _init_gamma(self, _, arr):
        arr[:] = 1.0

    def _init_beta(self, _, arr):
        arr[:] = 0.0

    def _init_weight(self, name, arr):
        """Fill a weight (subclasses)."""
        raise NotImplementedError("Must override it")

    def _init_quantized_weight(self, _, arr):
        from mxc.random import generator
        t = arr.torch_tensor()
        dev = t.device
        # MXNet draws one number (randint without a shape) and fills the array with it
        v = torch.randint(-127, 127, (1,), generator=generator(dev), device=dev,
                          dtype=torch.int32)
        t.copy_(v.to(torch.int8).expand(tuple(arr.shape)))

    def _init_default(self, name, _):
        raise ValueError(
            f"Unknown initialization pattern for {name}. Default initialization is now limited "
            'to "weight", "bias", "gamma" (1.0), and "beta" (0.0).Please use '
            "mx.sym.Variable(init=mx.init.*) to set initialization pattern")

    def __eq__(self, other):
        if not isinstance(other, Initializer):
            return NotImplemented
        return type(self) is type(other) and self._kwargs == other._kwargs

    __hash__ = object.__hash__


# --- registry (MXNet's mxnet.registry for Initializer) -------------------------------------------
_REG = Registry(Initializer, "initializer", TypeError)
_REGISTRY = _REG.classes


def register(klass, name=None):
    """Register a Initializer subclass under its lower-cased class name (or ``name``) for
    :func:`create`."""
    return _REG.register(klass, name)


alias = _REG.alias


def create(*args, **kwargs):
    """An initializer from a name (``'xavier'``, case-insensitive), a JSON list
    (``'["xavier", {"magnitude": 2}]'``, as ``dumps()`` writes it), a JSON object or dict with an
    ``"initializer"`` key, or an instance (returned as is)."""
    if len(args):
        name, args = args[0], args[1:]
    else:
        name = kwargs.pop("initializer")
    if isinstance(name, Initializer):
        if args or kwargs:
            raise AssertionError("initializer is already an instance. Additional arguments "
                                 "are invalid")
        return name
    if isinstance(name, dict):
        return create(**name)
    if not isinstance(name, str):
        raise TypeError("initializer must be of string type")
    if name.startswith("["):
        if args or kwargs:
            raise AssertionError("a JSON initializer takes no further arguments")
        name, kwargs = json.loads(name)
        return create(name, **kwargs)
    if name.startswith("{"):
        if args or kwargs:
            raise AssertionError("a JSON initializer takes no further arguments")
        return create(**json.loads(name))
    name = name.lower()
    if name not in _REGISTRY:
        raise AssertionError(f"{name} is not registered. Please register with "
                             "initializer.register first")
    return _REGISTRY[name](*args, **kwargs)


# --- Load and Mixed ------------------------------------------------------------------------------
class Load:
    """Initialize from saved arrays (a ``.params`` file name or a dict); ``arg:``/``aux:``
    prefixes are dropped. Names not found go to ``default_init``.

    Parameters
    ----------
    param : str or dict of str to NDArray
    default_init : Initializer, optional
    verbose : bool, default False
        Log where each array came from.
    """

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            from mxc.ndarray import load
            param = load(param)
        if not isinstance(param, dict):
            raise TypeError("Load: param must be a file name or a dict of arrays")
        self.param = {}
        for name, arr in param.items():
            if name.startswith(("arg:", "aux:")):
                self.param[name[4:]] = arr
            else:
                self.param[name] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name, arr):
        if name in self.param:
            if arr.shape != self.param[name].shape:
                raise AssertionError(
                    f"Parameter {name} cannot be initialized from loading. Shape mismatch, "
                    f"target {arr.shape} vs loaded {self.param[name].shape}")
            arr[:] = self.param[name]
            if self.verbose:
                _log.info("Initialized %s by loading", name)
        else:
            if self.default_init is None:
                raise AssertionError(f"Cannot Initialize {name}. Not found in loaded param and "
                                     "no default Initializer is provided.")
            self.default_init(name, arr)
            if self.verbose:
                _log.info("Initialized %s by default", name)


class Mixed:
    """Initialize each parameter with the first initializer whose pattern (a regular
    expression, ``re.match``) matches its name.

    Parameters
    ----------
    patterns : list of str
    initializers : list of Initializer
    """

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise AssertionError("Mixed: one initializer per pattern")
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name, arr):
        for prog, init in self.map:
            if prog.match(name):
                init(name, arr)
                return
        raise ValueError(f"Parameter name {name} did not match any pattern. Consider add a "
                         '".*" pattern at the and with default Initializer.')


# --- initializers --------------------------------------------------------------------------------
@register
@alias("zeros")
class Zero(Initializer):
    """Initialize weights to 0."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        arr[:] = 0


@register
@alias("ones")
class One(Initializer):
    """Initialize weights to 1."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        arr[:] = 1


@register
class Constant(Initializer):
    """Initialize weights to ``value``: a number, or an array of the weight's shape.

    Parameters
    ----------
    value : float or NDArray
    """

    def __init__(self, value):
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, _, arr):
        arr[:] = self.value

    def dumps(self):
        val = self._kwargs["value"]
        if not np.isscalar(val):
            self._kwargs["value"] = val.tolist() if isinstance(val, np.ndarray) else \
                val.asnumpy().tolist()
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])


@register
class Uniform(Initializer):
    """Uniform random weights in ``[-scale, scale]``.

    Parameters
    ----------
    scale : float, default 0.07
    """

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _, arr):
        _uniform(arr, -self.scale, self.scale)


@register
class Normal(Initializer):
    """Normal random weights with mean 0 and standard deviation ``sigma``.

    Parameters
    ----------
    sigma : float, default 0.01
    """

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _, arr):
        _normal(arr, 0, self.sigma)


@register
class Orthogonal(Initializer):
    """An orthogonal matrix (Saxe et al., https://arxiv.org/abs/1312.6120): the SVD factor of a
    random (shape[0], prod(shape[1:])) matrix with that shape, times ``scale``.

    Parameters
    ----------
    scale : float, default 1.414
    rand_type : {'uniform', 'normal'}, default 'uniform'
    """

    def __init__(self, scale=1.414, rand_type="uniform"):
        super().__init__(scale=scale, rand_type=rand_type)
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, _, arr):
        nout = arr.shape[0]
        nin = int(np.prod(arr.shape[1:]))
        if self.rand_type not in ("uniform", "normal"):
            raise ValueError(f"Orthogonal: rand_type must be 'uniform' or 'normal'; got "
                             f"{self.rand_type!r}")
        tmp = _random_numpy((nout, nin), self.rand_type, arr.torch_tensor().device)
        u, _, v = np.linalg.svd(tmp, full_matrices=False)
        res = u if u.shape == tmp.shape else v
        arr[:] = self.scale * res.reshape(arr.shape)


@register
class Xavier(Initializer):
    """Xavier (Glorot) initialization: uniform in ``[-c, c]`` (or normal with standard
    deviation ``c``) with ``c = sqrt(magnitude / factor)``; ``factor`` is ``fan_in``,
    ``fan_out`` or their mean, where ``fan_in = shape[1] * prod(shape[2:])`` and ``fan_out =
    shape[0] * prod(shape[2:])``.

    Parameters
    ----------
    rnd_type : {'uniform', 'gaussian'}, default 'uniform'
    factor_type : {'avg', 'in', 'out'}, default 'avg'
    magnitude : float, default 3
    """

    def __init__(self, rnd_type="uniform", factor_type="avg", magnitude=3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _scale(self, name, shape):
        hw_scale = 1.
        if len(shape) < 2:
            raise ValueError(f"Xavier initializer cannot be applied to vector {name}. It requires "
                             "at least 2D.")
        if len(shape) > 2:
            hw_scale = np.prod(shape[2:])
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        if self.factor_type == "avg":
            factor = (fan_in + fan_out) / 2.0
        elif self.factor_type == "in":
            factor = fan_in
        elif self.factor_type == "out":
            factor = fan_out
        else:
            raise ValueError("Incorrect factor type")
        return np.sqrt(self.magnitude / factor)

    def _init_weight(self, name, arr):
        scale = self._scale(name, arr.shape)
        if self.rnd_type == "uniform":
            _uniform(arr, -scale, scale)
        elif self.rnd_type == "gaussian":
            _normal(arr, 0, scale)
        else:
            raise ValueError("Unknown random type")


@register
class MSRAPrelu(Xavier):
    """He (MSRA) initialization for PReLU networks (https://arxiv.org/abs/1502.01852): Xavier
    with gaussian numbers and ``magnitude = 2 / (1 + slope**2)``.

    Parameters
    ----------
    factor_type : {'avg', 'in', 'out'}, default 'avg'
    slope : float, default 0.25
    """

    def __init__(self, factor_type="avg", slope=0.25):
        magnitude = 2. / (1 + slope ** 2)
        super().__init__("gaussian", factor_type, magnitude)
        self._kwargs = {"factor_type": factor_type, "slope": slope}


@register
class Bilinear(Initializer):
    """Bilinear interpolation weights for upsampling (Deconvolution) layers."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        arr[:] = _bilinear_weights(arr.shape)


@register
class LSTMBias(Initializer):
    """LSTM biases: 0, except ``forget_bias`` for the forget gate (the second of 4 gates).

    Parameters
    ----------
    forget_bias : float, default 1.0
    """

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        arr[:] = 0.0
        num_hidden = int(arr.shape[0] / 4)
        arr[num_hidden:2 * num_hidden] = self.forget_bias


@register
class FusedRNN(Initializer):
    """Initializer for fused RNN parameters (MXNet's ``FusedRNNCell``). mxc keeps its
    ``dumps()`` form; initializing with it is not supported yet."""

    def __init__(self, init, num_hidden, num_layers, mode, bidirectional=False,
                 forget_bias=1.0):
        if isinstance(init, str):
            klass, kwargs = json.loads(init)
            init = _REGISTRY[klass.lower()](**kwargs)
        super().__init__(init=init.dumps() if init is not None else None,
                         num_hidden=num_hidden, num_layers=num_layers, mode=mode,
                         bidirectional=bidirectional, forget_bias=forget_bias)
        self._init = init
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._forget_bias = forget_bias

    def _init_weight(self, desc, arr):
        from mxc.base import UnsupportedError
        raise UnsupportedError(f"FusedRNN initializer for '{desc}': mxc does not support fused "
                               "RNN parameter packing yet; initialize the unfused cells")
