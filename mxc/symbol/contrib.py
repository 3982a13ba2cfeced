"""``mx.sym.contrib``'s Python functions (MXNet 1.9.1's python/mxnet/symbol/contrib.py).

The ``_contrib_*`` operators join this module when ``mx.sym`` is populated
(:func:`mxc.symbol.ops.populate` fills the module found in ``sys.modules``), so the functions
here and the operators share one namespace.

- ``rand_zipfian``: samples of an approximately log-uniform (Zipfian) distribution and their
  expected counts, built from ``random.uniform``, as MXNet's.
- ``foreach``, ``while_loop``, ``cond``: MXNet builds control-flow subgraph operators
  (``_foreach``, ``_while_loop``, ``_cond``) whose trip count or branch is decided at run time;
  mxc's compiled programs have no subgraph operators yet, so these raise
  :class:`~mxc.base.UnsupportedError` with what to do instead (the ``mx.nd.contrib`` versions
  run, as MXNet's, as Python loops).
- ``boolean_mask``: its output's size depends on the mask's values, which a compiled
  symbol's static shapes cannot express: UnsupportedError saying what to use instead
  (``mx.nd.contrib.boolean_mask`` runs).
- The quantization (``quantize*``, ``quantized_*``, ``requantize``, ``dequantize``,
  ``calibrate_entropy``) and DGL graph (``dgl_*``, ``edge_id``, ``getnnz``) operators: not
  supported; each name raises :class:`~mxc.base.UnsupportedError` saying why (table
  :data:`UNSUPPORTED`).
"""
from __future__ import annotations

import math

from ..base import UnsupportedError

__all__ = ["UNSUPPORTED", "boolean_mask", "cond", "foreach", "rand_zipfian", "while_loop"]

_QUANT = ("mxc does not support quantized (int8/uint8) operators: MXNet's quantization flow "
          "targets oneDNN/cuDNN int8 kernels; run the float32 model, or bfloat16 through "
          "mx.contrib.amp")
_DGL = ("mxc does not support the DGL graph operators: they work on CSR sparse storage, which "
        "mxc does not have (its arrays are dense); use the DGL library itself")

# name in mx.sym.contrib / mx.nd.contrib -> why it is not supported
UNSUPPORTED = {
    **{n: _QUANT for n in (
        "quantize", "quantize_asym", "quantize_v2", "dequantize", "requantize",
        "calibrate_entropy", "quantized_act", "quantized_batch_norm", "quantized_concat",
        "quantized_conv", "quantized_elemwise_add", "quantized_elemwise_mul",
        "quantized_embedding", "quantized_flatten", "quantized_fully_connected",
        "quantized_pooling", "quantized_rnn")},
    **{n: _DGL for n in (
        "dgl_adjacency", "dgl_csr_neighbor_non_uniform_sample",
        "dgl_csr_neighbor_uniform_sample", "dgl_graph_compact", "dgl_subgraph", "edge_id",
        "getnnz")},
}


def unsupported_function(where: str, name: str):
    """A function named ``name`` that raises UnsupportedError with the table's reason."""
    why = UNSUPPORTED[name]

    def fn(*args, **kwargs):
        raise UnsupportedError(f"{where}.{name}: {why}")

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Not supported by mxc: {why}."
    return fn


for _n in UNSUPPORTED:
    globals()[_n] = unsupported_function("mx.sym.contrib", _n)
del _n


def rand_zipfian(true_classes, num_sampled, range_max):
    """Draw ``num_sampled`` classes from an approximately log-uniform (Zipfian) distribution
    over ``[0, range_max)``: ``P(class) = (log(class + 2) - log(class + 1)) /
    log(range_max + 1)``.

    Returns ``(sampled_classes (int64), expected_count_true (float64),
    expected_count_sampled (float64))``, the expected counts being each class's probability
    times ``num_sampled``.
    """
    from . import random
    from .ops import make_function
    exp, log = make_function("exp"), make_function("log")
    log_range = math.log(range_max + 1)
    rand = random.uniform(0, log_range, shape=(num_sampled,), dtype="float64")
    sampled = (exp(rand) - 1).astype("int64") % range_max     # within [0, range_max)
    true = true_classes.astype("float64")
    count_true = log((true + 2.0) / (true + 1.0)) / log_range * num_sampled
    s64 = sampled.astype("float64")
    count_sampled = log((s64 + 2.0) / (s64 + 1.0)) / log_range * num_sampled
    return sampled, count_true, count_sampled


def _control_flow(name, instead):
    def fn(*args, **kwargs):
        raise UnsupportedError(
            f"mx.sym.contrib.{name}: mxc does not support control-flow subgraph operators "
            f"(MXNet's _{name}) in symbols yet; {instead}")
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Not supported by mxc in symbols: {instead}."
    return fn


foreach = _control_flow(
    "foreach", "unroll the loop in Python (call the step function once per time step on "
    "slices of the data, as mx.rnn's cells' unroll does), or run mx.nd.contrib.foreach "
    "imperatively")
while_loop = _control_flow(
    "while_loop", "unroll a bounded loop in Python with the condition turned into a mask "
    "(mx.sym.where), or run mx.nd.contrib.while_loop imperatively")
cond = _control_flow(
    "cond", "compute both branches and select with mx.sym.where(pred, then, else), or run "
    "mx.nd.contrib.cond imperatively")


def boolean_mask(data, index, axis=0, name=None, **kwargs):
    """Not supported in symbols: the number of rows kept depends on the mask's values."""
    raise UnsupportedError(
        "mx.sym.contrib.boolean_mask: mxc does not support boolean_mask in symbols: its output "
        "size depends on the values of the mask, and mxc compiles symbols to static shapes; "
        "multiply by the mask instead (mx.sym.broadcast_mul(data, mask.reshape((-1, 1)))), "
        "gather known rows with mx.sym.take, or call mx.nd.contrib.boolean_mask imperatively")
