"""mxc: a compiler for Apache MXNet 1.x symbolic graphs.

``import mxc as mx`` gives MXNet 1.x's user-facing API (``mx.sym``, ``mx.nd``, ``mx.mod`` ...)
backed by a compiler: symbols become an SSA IR, passes rewrite it, codegen emits LLVM (CPU) or
Triton (GPU) kernels, and a runtime executes the plan. ``mx.compile(symbol, ...)`` exposes every
stage for inspection.
"""
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
from .compile import compile  # noqa: F401,A001

_nd_ops.populate(vars(ndarray), "mxc.ndarray")
from .symbol.functions import binary_functions as _binary_functions  # noqa: E402

vars(ndarray).update(_binary_functions("ndarray"))
del _nd_ops, _binary_functions

__version__ = "0.1.0"

# MXNet's runtime modules, imported on first use: mx.mod, mx.io, mx.metric, mx.optimizer ...
_LAZY = {
    "mod": "runtime.module", "module": "runtime.module", "io": "runtime.io",
    "metric": "runtime.metric", "optimizer": "runtime.optimizer",
    "lr_scheduler": "runtime.lr_scheduler", "init": "runtime.initializer",
    "initializer": "runtime.initializer", "callback": "runtime.callback",
    "kv": "runtime.kvstore", "kvstore": "runtime.kvstore", "model": "runtime.model",
    "rnn": "mxc.rnn", "random": "mxc.random", "viz": "mxc.viz", "visualization": "mxc.viz",
    "test_utils": "mxc.test_utils",
}


def __getattr__(name):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'mxc' has no attribute {name!r}")
    import importlib
    mod = importlib.import_module(target)
    globals()[name] = mod
    return mod
