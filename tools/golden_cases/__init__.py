"""Operator golden-data cases, one module per operator family.

Each module defines ``CASES``: a list of :class:`Case`. ``tools/make_op_golden.py`` (run with
the oracle python) records MXNet 1.9.1's outputs and gradients for every case into
``tests/data/ops/<family>/<case>.npz``; ``tests/test_op_golden.py`` checks mxc against them on
both backends. This file is imported by both (it must not import mxnet or mxc).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Case:
    """One operator call.

    op:      the ``mx.sym`` function name (``"FullyConnected"``, ``"broadcast_add"``,
             ``"linalg.gemm2"`` for submodules)
    inputs:  {input name: shape}, in the op's argument order; aux states included
    attrs:   operator attributes as Python values (passed to both MXNet and mxc)
    name:    unique within the family; the data file's name
    ranges:  {input name: (low, high)} for uniform random floats (default (-2, 2))
    ints:    {input name: n} for integer-valued inputs in [0, n) (labels, indices), stored as
             float32 unless ``dtypes`` says otherwise
    dtypes:  {input name: dtype name} (default float32)
    is_train: run MXNet's forward with is_train (BatchNorm batch statistics, ...)
    grad:    record gradients (backward with random head gradients, or none for loss layers)
    no_grad: inputs whose gradient is not compared (labels, indices)
    rtol/atol: tolerances for the comparison (forward, backward)
    targets: backends the test runs
    """

    op: str
    inputs: dict
    attrs: dict = field(default_factory=dict)
    name: str = ""
    ranges: dict = field(default_factory=dict)
    ints: dict = field(default_factory=dict)
    dtypes: dict = field(default_factory=dict)
    is_train: bool = False
    grad: bool = True
    no_grad: tuple = ()
    rtol: float = 1e-4
    atol: float = 1e-5
    grad_rtol: float = 1e-4
    grad_atol: float = 1e-5
    targets: tuple = ("llvm", "triton")
    loss: bool = False      # a loss layer: backward without head gradients
    spd: tuple = ()         # inputs made symmetric positive definite (see make_spd)
    fd: bool = True         # False: MXNet's gradient is by design not the forward's derivative
    #                         (a regularizer attached to an identity), so no finite differences


def make_spd(x):
    """``x x^T / n + I`` over the last two axes: a well-conditioned symmetric positive-definite
    matrix (Cholesky, inverse and determinant cases)."""
    import numpy as np
    n = x.shape[-1]
    y = np.matmul(x, np.swapaxes(x, -1, -2)) / n + np.eye(n)
    return y.astype(x.dtype)


FAMILIES = ["elemwise", "nn", "shape", "reduce", "linalg", "loss", "rnn", "classic", "linalg2",
            "spatial", "detection", "seqmisc", "deformable"]


def load_family(name):
    import importlib
    try:
        mod = importlib.import_module(f"golden_cases.{name}")
    except ModuleNotFoundError:
        return []
    return list(mod.CASES)
