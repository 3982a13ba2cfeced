"""MXNet's AMP operator lists, restricted to the operators mxc has."""
from . import symbol_bf16, symbol_fp16  # noqa: F401
