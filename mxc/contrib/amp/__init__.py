"""Automatic mixed precision (MXNet 1.9.1's ``mx.contrib.amp``): see :mod:`.amp`."""
from . import amp, lists, loss_scaler
from .amp import *
from .loss_scaler import LossScaler

__all__ = amp.__all__ + ["amp", "lists", "loss_scaler", "LossScaler"]
