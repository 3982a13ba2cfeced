"""mxc: a compiler for Apache MXNet 1.x symbolic graphs.

``import mxc as mx`` gives MXNet 1.x's user-facing API (``mx.sym``, ``mx.nd``, ``mx.mod`` ...)
backed by a compiler: symbols become an SSA IR, passes rewrite it, codegen emits LLVM (CPU) or
Triton (GPU) kernels, and a runtime executes the plan. ``mx.compile(symbol, ...)`` exposes every
stage for inspection.
"""
import os as _os
import sys as _sys

if "torch" not in _sys.modules:
    # torch's OpenMP threads sleep when a library call ends instead of spinning on the cores
    # mxc's own threads run the next kernel on (mxc.codegen.parallel); the user's setting wins
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
del _os, _sys

from . import base  # noqa: F401
from .base import MXNetError  # noqa: F401
from . import context  # noqa: F401
from .context import Context, cpu, cpu_pinned, current_context, gpu, num_gpus  # noqa: F401
from . import symbol  # noqa: F401
from . import symbol as sym  # noqa: F401
from .symbol import AttrScope  # noqa: F401
from .symbol import naming as name  # noqa: F401
from . import ndarray  # noqa: F401
from . import ndarray as nd  # noqa: F401
from .ndarray import ops as _nd_ops
from . import compile as _compile_module  # noqa: F401  (mxc.compile the module, first)
from .symbol.convert import compile_symbol as compile  # noqa: F401,A001
from . import util  # noqa: F401
from .util import is_np_shape, np_shape, set_np_shape, use_np_shape  # noqa: F401
from .util import is_np_array, np_array, use_np, use_np_array  # noqa: F401

_nd_ops.populate(vars(ndarray), "mxc.ndarray")
from .ndarray.custom import Custom as _nd_custom  # noqa: E402

ndarray.Custom = ndarray.op.Custom = _nd_custom      # Python operators (mx.operator)
del _nd_custom
from .symbol.functions import binary_functions as _binary_functions  # noqa: E402

vars(ndarray).update(_binary_functions("ndarray"))
del _nd_ops, _binary_functions

__version__ = "0.1.0"

# MXNet's module paths (mx.mod, mx.io, mx.executor, mxc.module.executor_group ...): one table
# in _aliases, served both as attributes (imported on first use) and as import paths.
from . import _aliases  # noqa: E402

# mxc's own modules, imported on first use
_LAZY = {"rnn", "random", "test_utils", "engine", "util", "runtime", "log", "error", "libinfo",
         "registry", "misc", "operator"}


def __getattr__(name):
    import importlib
    import importlib.util
    if name.startswith("__"):
        raise AttributeError(f"module 'mxc' has no attribute {name!r}")
    if "mxc." + name in _aliases.ALIASES:
        mod = importlib.import_module("mxc." + name)
    elif name in _LAZY and importlib.util.find_spec("mxc." + name) is not None:
        mod = importlib.import_module("mxc." + name)
    else:
        mod = importlib.import_module("mxc._unsupported").module(name)
        if mod is None:
            raise AttributeError(f"module 'mxc' has no attribute {name!r}")
    globals()[name] = mod
    return mod
