"""Automatic mixed precision (MXNet 1.9.1's ``mx.contrib.amp``): see :mod:`.amp`; dynamic loss
scaling for Module training (mxc's :class:`LossScalingModule`): see :mod:`.module`."""
from . import amp, lists, loss_scaler
from .amp import *
from .loss_scaler import LossScaler

__all__ = amp.__all__ + ["amp", "lists", "loss_scaler", "LossScaler", "LossScalingModule",
                         "scale_loss_gradients"]


def __getattr__(name):
    # runtime.module imports mxc: load the Module subclass on first use
    if name in ("LossScalingModule", "scale_loss_gradients", "module"):
        import importlib
        module = importlib.import_module(__name__ + ".module")
        return module if name == "module" else getattr(module, name)
    raise AttributeError(f"module 'mxc.contrib.amp' has no attribute '{name}'")
