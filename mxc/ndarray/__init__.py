"""``mx.nd``: NDArray, array creation and ``.params`` files (save / load)."""
from .ndarray import NDArray  # noqa: I001  (the class first; the modules below build on it)
from .creation import arange, array, empty, full, ones, zeros
from .io import load, load_frombuffer, save
from ..engine import waitall
from . import random  # noqa: F401  (mx.nd.random; the operators' functions join it later)
from . import contrib  # noqa: F401  (mx.nd.contrib; the _contrib_ operators join it later)

__all__ = ["NDArray", "arange", "array", "empty", "full", "load", "load_frombuffer", "ones",
           "save", "waitall", "zeros"]
