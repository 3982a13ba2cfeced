"""Device contexts: ``mx.cpu()``, ``mx.gpu(i)``, ``mx.cpu_pinned()`` and the current-context stack.

A :class:`Context` names a device the MXNet way (``cpu(0)``, ``gpu(1)``) and maps it to the torch
device that holds the arrays (:attr:`Context.torch_device`). As in MXNet, creating ``gpu(3)`` on a
machine without that GPU is allowed; allocating an array there raises :class:`DeviceError`.

``with ctx:`` makes ``ctx`` the default for array creation until the block ends; blocks nest, per
thread, exactly as in MXNet::

    with mx.gpu(1):
        a = mx.nd.ones((2, 3))        # on gpu(1)
    mx.current_context()              # cpu(0) again
"""
from __future__ import annotations

import threading
import warnings

from .base import MXNetError

__all__ = [
    "Context",
    "DeviceError",
    "cpu",
    "cpu_pinned",
    "cpu_shared",
    "current_context",
    "gpu",
    "gpu_memory_info",
    "num_gpus",
]


class DeviceError(MXNetError, RuntimeError):
    """A device that is unknown, or not present on this machine (``gpu(0)`` without CUDA)."""


class _ContextMeta(type):
    """Gives :class:`Context` MXNet's deprecated class property ``Context.default_ctx``."""

    @property
    def default_ctx(cls) -> Context:
        warnings.warn("Context.default_ctx has been deprecated. Please use "
                      "Context.current_context() instead.", DeprecationWarning, stacklevel=2)
        return current_context()

    @default_ctx.setter
    def default_ctx(cls, val: Context) -> None:
        warnings.warn("Context.default_ctx has been deprecated. Please use "
                      "Context.current_context() instead.", DeprecationWarning, stacklevel=2)
        if not isinstance(val, Context):
            raise TypeError(f"Context.default_ctx must be a Context; got {type(val).__name__} "
                            f"{val!r}")
        _state().value = val


class _State(threading.local):
    def __init__(self):
        self.value = None       # the current default context (None: cpu(0))
        self.saved = []         # contexts to restore, one per open ``with`` block


_STATE = _State()


def _state() -> _State:
    return _STATE


class Context(metaclass=_ContextMeta):
    """A device: ``Context('cpu')``, ``Context('gpu', 1)`` or a copy of another Context.

    Parameters
    ----------
    device_type : {'cpu', 'gpu', 'cpu_pinned', 'cpu_shared'} or Context
        The kind of device, or a Context to copy.
    device_id : int, default 0
        The device's number (meaningful for GPUs; kept for CPUs as MXNet does).
    """

    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
    devstr2type = {"cpu": 1, "gpu": 2, "cpu_pinned": 3, "cpu_shared": 5}

    def __init__(self, device_type, device_id: int = 0):
        if isinstance(device_type, Context):
            self.device_typeid = device_type.device_typeid
            self.device_id = device_type.device_id
            return
        if device_type not in Context.devstr2type:
            raise DeviceError(f"unknown device type {device_type!r}; expected one of "
                              f"{', '.join(map(repr, Context.devstr2type))}")
        if isinstance(device_id, bool) or not hasattr(device_id, "__index__"):
            raise DeviceError(f"device_id must be a non-negative integer; got "
                              f"{type(device_id).__name__} {device_id!r}")
        device_id = int(device_id)
        if device_id < 0:
            raise DeviceError(f"device_id must be a non-negative integer; got {device_id}")
        self.device_typeid = Context.devstr2type[device_type]
        self.device_id = device_id

    @property
    def device_type(self) -> str:
        """``'cpu'``, ``'gpu'``, ``'cpu_pinned'`` or ``'cpu_shared'``."""
        return Context.devtype2str[self.device_typeid]

    @property
    def torch_device(self):
        """The torch device holding this context's arrays: ``cpu`` for every CPU kind
        (pinned and shared memory are plain host memory here), ``cuda:i`` for ``gpu(i)``."""
        import torch
        if self.device_typeid == 2:
            return torch.device("cuda", self.device_id)
        return torch.device("cpu")

    def _require_available(self) -> None:
        """Raise :class:`DeviceError` unless arrays can be allocated on this context."""
        if self.device_typeid != 2:
            return
        import torch
        if not torch.cuda.is_available():
            raise DeviceError(f"cannot allocate an array on {self}: no CUDA device is available "
                              f"(torch.cuda.is_available() is False); use mx.cpu() instead")
        n = torch.cuda.device_count()
        if self.device_id >= n:
            raise DeviceError(f"cannot allocate an array on {self}: only {n} GPU(s) are visible "
                              f"(gpu(0) .. gpu({n - 1}))")

    def __hash__(self):
        return hash((self.device_typeid, self.device_id))

    def __eq__(self, other):
        return (isinstance(other, Context) and self.device_typeid == other.device_typeid
                and self.device_id == other.device_id)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __str__(self):
        return f"{self.device_type}({self.device_id})"

    __repr__ = __str__

    def __reduce__(self):
        return (Context, (self.device_type, self.device_id))

    def __enter__(self) -> Context:
        st = _state()
        st.saved.append(st.value)
        st.value = self
        return self

    def __exit__(self, ptype, value, trace):
        st = _state()
        st.value = st.saved.pop() if st.saved else None

    @staticmethod
    def current_context() -> Context:
        """The context arrays are created on when none is given (see :func:`current_context`)."""
        return current_context()

    def empty_cache(self) -> None:
        """Release cached, unreferenced device memory of this context (GPU only; a no-op on CPU)."""
        if self.device_typeid != 2:
            return
        import torch
        if torch.cuda.is_available() and self.device_id < torch.cuda.device_count():
            with torch.cuda.device(self.device_id):
                torch.cuda.empty_cache()


def cpu(device_id: int = 0) -> Context:
    """A CPU context: ``Context('cpu', device_id)``."""
    return Context("cpu", device_id)


def gpu(device_id: int = 0) -> Context:
    """A GPU context: ``Context('gpu', device_id)``. Creating it needs no GPU; allocating does."""
    return Context("gpu", device_id)


def cpu_pinned(device_id: int = 0) -> Context:
    """A CPU pinned-memory context: ``Context('cpu_pinned', device_id)`` (host memory here)."""
    return Context("cpu_pinned", device_id)


def cpu_shared(device_id: int = 0) -> Context:
    """A CPU shared-memory context: ``Context('cpu_shared', device_id)`` (host memory here)."""
    return Context("cpu_shared", device_id)


_CPU0 = Context("cpu", 0)


def current_context() -> Context:
    """The context of the innermost ``with ctx:`` block in this thread, else ``cpu(0)``."""
    v = _state().value
    return _CPU0 if v is None else v


def num_gpus() -> int:
    """Number of CUDA devices visible to torch (0 without CUDA)."""
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_memory_info(device_id: int = 0) -> tuple:
    """``(free, total)`` bytes of GPU ``device_id``'s memory."""
    Context("gpu", device_id)._require_available()
    import torch
    free, total = torch.cuda.mem_get_info(device_id)
    return int(free), int(total)


# names MXNet's mxnet.context module has
from .base import check_call, classproperty, with_metaclass  # noqa: E402,F401
