"""``mx.contrib``: MXNet 1.9.1's experimental contributions, as far as mxc has them.

- :mod:`mxc.contrib.amp`: automatic mixed precision for symbolic models (float16, bfloat16).
- ``symbol`` / ``sym`` and ``ndarray`` / ``nd``: the same modules as ``mx.sym.contrib`` and
  ``mx.nd.contrib``, as in MXNet.
- ``onnx``, ``quantization`` (``quant``), ``tensorboard``, ``text``, ``svrg_optimization``,
  ``io``, ``autograd``, ``tensorrt``: placeholders (:mod:`mxc._unsupported`); using one raises
  :class:`~mxc.base.UnsupportedError` naming the feature and what to do instead.
"""
from __future__ import annotations

from .. import _unsupported
from ..ndarray import contrib as ndarray
from ..symbol import contrib as symbol
from . import amp

sym = symbol
nd = ndarray

_PLACEHOLDERS = ("onnx", "quantization", "quant", "tensorboard", "text", "svrg_optimization",
                 "io", "autograd", "tensorrt")
for _name in _PLACEHOLDERS:
    globals()[_name] = _unsupported.module("contrib." + _name)
del _name

__all__ = [
    "amp",
    "autograd",
    "io",
    "nd",
    "ndarray",
    "onnx",
    "quant",
    "quantization",
    "svrg_optimization",
    "sym",
    "symbol",
    "tensorboard",
    "tensorrt",
    "text",
]
