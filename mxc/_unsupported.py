"""Modules of MXNet that mxc does not have, present under their names so that ``mx.gluon`` and
``import mxnet.gluon`` in an MXNet script fail at the first use with an
:class:`~mxc.base.UnsupportedError` that names the feature, instead of an AttributeError that
looks like a typo. :data:`FEATURES` is the list; a feature that lands replaces its entry with a
real module."""
from __future__ import annotations

import sys
import types

from .base import UnsupportedError

__all__ = ["FEATURES", "UnsupportedModule", "module"]

# mxc.<name>: (the feature, what to do instead)
FEATURES = {
    "api": ("MXNet 2's FFI function registry (mx.api)", "call mx.nd / mx.sym functions"),
    "gluon": ("Gluon (imperative blocks, HybridBlock, Trainer)",
              "write the model with mx.sym and train it with mx.mod.Module"),
    "autograd": ("imperative autograd (autograd.record / NDArray.backward)",
                 "bind a symbol with grad_req and call Executor.backward"),
    "np": ("MXNet 2-style numpy arrays (mx.np)", "use mx.nd, or numpy on asnumpy()"),
    "npx": ("MXNet 2-style numpy extensions (mx.npx)", "use mx.nd / mx.sym operators"),
    "numpy": ("MXNet 2-style numpy arrays (mx.numpy)", "use mx.nd"),
    "numpy_extension": ("MXNet 2-style numpy extensions", "use mx.nd / mx.sym operators"),
    "np_symbol": ("MXNet 2-style numpy symbols", "use mx.sym"),
    "numpy_dispatch_protocol": ("numpy dispatch of MXNet 2-style arrays", "use mx.nd"),
    "numpy_op_fallback": ("MXNet 2-style numpy operator fallbacks", "use mx.nd"),
    "numpy_op_signature": ("MXNet 2-style numpy operator signatures", "use mx.nd"),
    "onnx": ("ONNX import/export", "save the model as -symbol.json and .params"),
    # mx.contrib is real (amp, symbol, ndarray); these of its submodules are not
    "contrib.onnx": ("ONNX import/export (mx.contrib.onnx)",
                     "save the model as -symbol.json and .params"),
    "contrib.quantization": ("int8 quantization (mx.contrib.quantization)",
                             "run the model in float32, or in bfloat16/float16 with "
                             "mx.contrib.amp"),
    "contrib.quant": ("int8 quantization (mx.contrib.quant)",
                      "run the model in float32, or in bfloat16/float16 with mx.contrib.amp"),
    "contrib.tensorboard": ("the TensorBoard callback (mx.contrib.tensorboard)",
                            "log metrics with mx.callback or your own batch_end_callback"),
    "contrib.text": ("text vocabularies and embeddings (mx.contrib.text)",
                     "build the vocabulary in Python and load vectors with mx.nd.array"),
    "contrib.svrg_optimization": ("SVRG optimization (mx.contrib.svrg_optimization)",
                                  "train with mx.mod.Module and an mx.optimizer optimizer"),
    "contrib.io": ("DataLoaderIter (mx.contrib.io), which wraps Gluon data loaders",
                   "use mx.io iterators"),
    "contrib.autograd": ("imperative autograd (mx.contrib.autograd)",
                         "bind a symbol with grad_req and call Executor.backward"),
    "contrib.tensorrt": ("TensorRT integration (mx.contrib.tensorrt)",
                         "mxc compiles its own kernels (Triton on NVIDIA GPUs)"),
    "rtc": ("CUDA runtime compilation of user CUDA source (mx.rtc)",
            "mxc compiles its own kernels; write the computation as mx.sym operators"),
    "tvmop": ("TVM operators", "mxc generates its own kernels"),
    "torch": ("the Torch plugin (mx.th / mx.torch)", "use mx.nd operators"),
    "th": ("the Torch plugin (mx.th / mx.torch)", "use mx.nd operators"),
    "library": ("loading C++ operator libraries (mx.library.load)",
                "write the operator as mx.sym operators"),
    "notebook": ("notebook callbacks (mx.notebook)", "use mx.callback"),
    "executor_manager": ("the legacy DataParallelExecutorManager",
                         "mx.module.executor_group.DataParallelExecutorGroup does its work"),
    "ndarray_doc": ("MXNet's generated NDArray doc classes", "help(mx.nd.OPERATOR)"),
    "symbol_doc": ("MXNet's generated Symbol doc classes", "help(mx.sym.OPERATOR)"),
    "kvstore_server": ("the parameter-server kvstore server (ps-lite)",
                       "kvstore='dist_sync' runs over torch.distributed"),
}


class UnsupportedModule(types.ModuleType):
    """A module standing for a feature mxc lacks: every public attribute raises."""

    def __init__(self, name: str, feature: str, instead: str):
        super().__init__(name, f"mxc does not support {feature}.")
        self.__path__ = []      # a package, so that importing below it reaches mxc's finder
        self.__feature = feature
        self.__instead = instead

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        public = self.__name__.replace("mxc", "mx", 1)
        raise UnsupportedError(f"mxc does not support {self.__feature} ({public}.{attr}); "
                               f"{self.__instead}")

    def __repr__(self):
        return f"<module {self.__name__!r}: mxc does not support {self.__feature}>"


def module(name: str) -> UnsupportedModule | None:
    """The placeholder module ``mxc.<name>`` (made once, kept in sys.modules), or None when
    ``name`` is not an unsupported feature. ``name`` may be dotted (``contrib.onnx``): a
    submodule of a real package."""
    entry = FEATURES.get(name)
    if entry is None:
        return None
    full = "mxc." + name
    mod = sys.modules.get(full)
    if not isinstance(mod, UnsupportedModule):
        mod = UnsupportedModule(full, *entry)
        sys.modules[full] = mod
    return mod


def lookup(fullname: str):
    """``(key, (feature, instead))`` of the unsupported feature that module path ``mxc.a.b...``
    is or lies under (the longest listed prefix), or None."""
    parts = fullname.split(".")
    if len(parts) < 2 or parts[0] != "mxc":
        return None
    for i in range(len(parts), 1, -1):
        key = ".".join(parts[1:i])
        if key in FEATURES:
            return key, FEATURES[key]
    return None
