"""``mx.engine`` and the waits of ``mx.nd``: MXNet's execution-engine controls.

MXNet runs operators asynchronously on a dependency engine: a call returns at once, and
``mx.nd.waitall()`` / ``NDArray.wait_to_read()`` block until the work is done, re-raising any
error an operator hit on the way. mxc executes synchronously: every operator, ``forward`` and
``backward`` has finished (or raised) when the call returns, so an error surfaces at the call that
caused it, not at a later wait. The one asynchronous part is work queued on a CUDA device (torch
streams and Triton kernels on a GPU): :func:`waitall` and ``wait_to_read`` synchronise the devices
and raise :class:`EngineError` if queued device work failed.

Bulk execution (:func:`bulk`, :func:`set_bulk_size`) bundles operators in MXNet's engine to cut
scheduling overhead. mxc fuses operators when it compiles a graph instead, and runs eager NDArray
operators one at a time, so the bulk size is kept (per thread, as MXNet keeps it) and returned by
the next call, but it does not change how anything runs.
"""
from __future__ import annotations

import operator
import threading

from .base import MXNetError, check_call  # noqa: F401  (mx.engine.check_call, as MXNet's)

__all__ = ["EngineError", "bulk", "set_bulk_size", "waitall", "wait_device"]


class EngineError(MXNetError, RuntimeError):
    """Queued device work that failed (raised by a wait), or a bad engine setting."""


class _BulkState(threading.local):
    def __init__(self):
        self.size = 0            # MXNet's engine starts with bulking off (size 0)


_BULK = _BulkState()


def set_bulk_size(size: int) -> int:
    """Set the maximum number of operators bundled into one bulk; return the previous size.

    The size is per thread, as in MXNet. mxc executes synchronously and fuses at compile time, so
    the setting is recorded only (see the module docstring).

    Parameters
    ----------
    size : int
        Maximum number of operators that can be bundled in a bulk (0 turns bulking off).

    Returns
    -------
    int
        The previous bulk size.
    """
    n = operator.index(size)    # TypeError for floats, strings and None, as MXNet
    if n < 0:
        raise EngineError(f"set_bulk_size: size must be a non-negative integer; got {n}")
    prev = _BULK.size
    _BULK.size = int(n)
    return prev


class _BulkScope:
    """``with mx.engine.bulk(size):`` sets the bulk size for the block and restores it after."""

    def __init__(self, size):
        self._size = size
        self._old_size = None

    def __enter__(self):
        self._old_size = set_bulk_size(self._size)
        return self

    def __exit__(self, ptype, value, trace):
        set_bulk_size(self._old_size)


def bulk(size: int) -> _BulkScope:
    """A scope in which up to ``size`` operators may be bundled into one bulk::

        with mx.engine.bulk(10):
            x = mx.nd.zeros((1,))
            for i in range(100):
                x += 1

    The previous bulk size is restored when the block ends, even on an exception.
    """
    return _BulkScope(size)


def wait_device(device=None, what: str = "waitall") -> None:
    """Synchronise ``device`` (a torch device; ``None``: every CUDA device this process has
    used) and raise :class:`EngineError` if work queued there failed. CPU work is synchronous,
    so a CPU device needs no wait."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    if device is not None:
        device = torch.device(device)
        if device.type != "cuda":
            return
        devices = [device]
    else:
        # only devices already in use: a wait must not be what initialises CUDA
        if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
            return
        devices = [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    for d in devices:
        try:
            torch.cuda.synchronize(d)
        except RuntimeError as e:   # torch reports failed kernels here (AcceleratorError too)
            raise EngineError(f"{what}: an operation queued on {d} failed: {e}") from e


def waitall() -> None:
    """Wait until all pending work is finished (``mx.nd.waitall()``).

    CPU operators in mxc have already finished when they return; this synchronises every CUDA
    device in use and raises :class:`EngineError` if queued device work failed.
    """
    wait_device(None, "waitall")
