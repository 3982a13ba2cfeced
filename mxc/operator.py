"""``mx.operator``: operators written in Python (MXNet 1.x's ``CustomOp`` / ``CustomOpProp``).

Write the computation as a :class:`CustomOp` (``forward`` / ``backward`` on ``mx.nd`` arrays,
writing results with :meth:`CustomOp.assign`), describe it with a :class:`CustomOpProp`
(arguments, outputs, auxiliary states, shape and type rules), register the Prop under a name
with :func:`register`, and use it as ``mx.sym.Custom(..., op_type=name)`` or
``mx.nd.Custom(..., op_type=name)``. Other keyword arguments of ``Custom`` reach the Prop's
``__init__`` as strings, as in MXNet.

In the compiled program a Custom node is an opaque step that calls back into Python
(``mxc/ir/opdefs/custom.py``); its gradient is a second such step that calls ``backward``.
Generated kernels fuse around both. The CustomOp instance for a node is made once per bound
shape set (``create_operator``) and shared by that node's forward and backward, as in MXNet.

Differences from MXNet: storage types other than ``'default'`` (sparse) are refused; ``backward``
always receives every array (``declare_backward_dependency`` is answered but does not prune); the
legacy ``PythonOp`` / ``NumpyOp`` / ``NDArrayOp`` interfaces are not supported.
"""
from __future__ import annotations

import collections
import itertools
import json
import threading

import numpy as np

from .base import AttrError, UnsupportedError
from .ir.opdefs import custom as _custom
from .ir.registry import all_ops
from .ndarray.ndarray import NDArray, _ctx_of_device

__all__ = [
    "CustomOp",
    "CustomOpError",
    "CustomOpProp",
    "NDArray",
    "NDArrayOp",
    "NumpyOp",
    "OperatorArguments",
    "PythonOp",
    "get_all_registered_operators",
    "get_operator_arguments",
    "register",
]

CustomOpError = _custom.CustomOpError


class CustomOp:
    """Base class of a Python operator's computation. Override :meth:`forward` and
    :meth:`backward`; write outputs with :meth:`assign` so that ``req`` is honoured."""

    def __init__(self):
        pass

    def forward(self, is_train, req, in_data, out_data, aux):
        """Compute ``out_data`` from ``in_data`` (lists of NDArrays); ``req[i]`` says how to
        write ``out_data[i]`` ('null', 'write', 'inplace' or 'add'); ``aux`` are the auxiliary
        states, which forward may update in place."""
        raise CustomOpError(f"{type(self).__name__} does not override CustomOp.forward")

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        """Compute ``in_grad`` (the gradients of the arguments) from ``out_grad`` and the
        forward's arrays; ``req[i]`` says how to write ``in_grad[i]``."""
        raise CustomOpError(f"{type(self).__name__} does not override CustomOp.backward")

    def assign(self, dst, req, src):
        """Write ``src`` into ``dst`` as ``req`` says: 'null' does nothing, 'write' and
        'inplace' overwrite, 'add' accumulates."""
        if req == "null":
            return
        if req in ("write", "inplace"):
            dst[:] = src
        elif req == "add":
            dst[:] += src
        else:
            raise AttrError(f"CustomOp.assign: req={req!r} is not one of 'null', 'write', "
                            "'inplace', 'add'")


class CustomOpProp:
    """Base class of a Python operator's description: its interface and shape/type rules.

    ``need_top_grad=False`` marks a loss layer: its backward does not use the gradient of its
    outputs, and an executor asks no head gradient for them."""

    def __init__(self, need_top_grad=True):
        self.need_top_grad_ = need_top_grad

    def infer_shape(self, in_shape):
        """``(in_shapes, out_shapes, aux_shapes)`` from the argument shapes; by default every
        output has the first argument's shape."""
        return in_shape, (in_shape[0],) * len(self.list_outputs()), ()

    def infer_type(self, in_type):
        """``(in_types, out_types, aux_types)`` (numpy types); by default all are the first
        argument's."""
        return (in_type, [in_type[0]] * len(self.list_outputs()),
                [in_type[0]] * len(self.list_auxiliary_states()))

    def infer_storage_type(self, in_stype):
        """Storage types; mxc has dense arrays only ('default')."""
        for i, stype in enumerate(in_stype):
            if stype != "default":
                raise UnsupportedError(f"mxc does not support sparse storage type {stype!r} "
                                       f"for custom operator input {i}")
        return (in_stype, ["default"] * len(self.list_outputs()),
                ["default"] * len(self.list_auxiliary_states()))

    def infer_storage_type_backward(self, ograd_stype, in_stype, out_stype, igrad_stype,
                                    aux_stype):
        """Backward storage types; dense only."""
        for st in list(ograd_stype) + list(in_stype) + list(out_stype) + list(aux_stype):
            if st not in ("default", -1, None):
                raise UnsupportedError(f"mxc does not support sparse storage type {st!r} in "
                                       "a custom operator's backward")
        return (["default"] * len(ograd_stype), ["default"] * len(in_stype),
                ["default"] * len(out_stype), ["default"] * len(igrad_stype),
                ["default"] * len(aux_stype))

    def list_outputs(self):
        return ["output"]

    def list_arguments(self):
        return ["data"]

    def list_auxiliary_states(self):
        return []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        """The arrays backward needs: the head gradients (when ``need_top_grad``), the inputs
        and the outputs. (mxc passes all of them to backward regardless.)"""
        deps = []
        if self.need_top_grad_:
            deps.extend(out_grad)
        deps.extend(in_data)
        deps.extend(out_data)
        return deps

    def create_operator(self, ctx, in_shapes, in_dtypes):
        """Return the :class:`CustomOp` that computes this operator for these shapes."""
        raise CustomOpError(f"{type(self).__name__} does not override "
                            "CustomOpProp.create_operator")


_SERIAL = itertools.count()


class _Registered:
    """The implementation the compiler core calls for one registered op_type: makes Props
    from string kwargs and runs the user's CustomOp on torch tensors wrapped as NDArrays."""

    def __init__(self, op_type: str, prop_cls):
        self.serial = next(_SERIAL)     # tells registrations apart (eager compile caches)
        self.op_type = op_type
        self.prop_cls = prop_cls
        self._props: dict = {}
        self._ops: dict = {}
        self._lock = threading.Lock()

    def _where(self):
        return f"Custom (op_type={self.op_type!r})"

    def prop(self, kwargs: dict):
        k = tuple(kwargs.items())
        p = self._props.get(k)
        if p is None:
            try:
                p = self.prop_cls(**kwargs)
            except TypeError as e:
                raise AttrError(f"{self._where()}: {self.prop_cls.__name__}({_kw(kwargs)}) "
                                f"failed: {e}") from e
            if not isinstance(p, CustomOpProp):
                raise CustomOpError(f"{self._where()}: registered class "
                                    f"{self.prop_cls.__name__} is not a CustomOpProp")
            if type(p).infer_storage_type is not CustomOpProp.infer_storage_type:
                st = p.infer_storage_type(["default"] * len(p.list_arguments()))
                bad = [s for part in st for s in part if s != "default"]
                if bad:
                    raise UnsupportedError(f"{self._where()}: mxc does not support sparse "
                                           f"storage types {bad}; infer_storage_type must "
                                           "return 'default'")
            self._props[k] = p
        return p

    def _operator(self, key, arrays):
        op = self._ops.get(key)
        if op is None:
            with self._lock:
                op = self._ops.get(key)
                if op is None:
                    kwargs = json.loads(key[1]) if key[1] else {}
                    prop = self.prop(kwargs)
                    ctx = _ctx_of_device(arrays[0].device) if arrays else None
                    shapes = [list(t.shape) for t in arrays]
                    dtypes = [np.dtype(str(t.dtype).replace("torch.", "")).type
                              for t in arrays]
                    op = prop.create_operator(ctx, shapes, dtypes)
                    if not isinstance(op, CustomOp):
                        raise CustomOpError(f"{self._where()}: {type(prop).__name__}."
                                            f"create_operator returned "
                                            f"{type(op).__name__}; expected a CustomOp")
                    self._ops[key] = op
        return op

    def forward(self, key, is_train, ins, outs, aux):
        op = self._operator(key, list(ins) + list(aux))
        op.forward(is_train=is_train, req=["write"] * len(outs),
                   in_data=[NDArray(t) for t in ins], out_data=[NDArray(t) for t in outs],
                   aux=[NDArray(t) for t in aux])

    def backward(self, key, out_grad, in_data, out_data, in_grad, aux):
        op = self._operator(key, list(in_data) + list(aux))
        if not out_grad:      # need_top_grad=False: zeros stand for the unused head gradient
            og = [NDArray(t.new_zeros(t.shape)) for t in out_data]
        else:
            og = [NDArray(t) for t in out_grad]
        op.backward(req=["write"] * len(in_grad), out_grad=og,
                    in_data=[NDArray(t) for t in in_data],
                    out_data=[NDArray(t) for t in out_data],
                    in_grad=[NDArray(t) for t in in_grad], aux=[NDArray(t) for t in aux])


def _kw(kwargs):
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def register(reg_name):
    """Register a :class:`CustomOpProp` subclass under ``reg_name`` (a decorator):
    ``mx.sym.Custom(..., op_type=reg_name)`` then uses it. Registering a name again replaces
    the earlier class."""
    if not isinstance(reg_name, str) or not reg_name:
        raise AttrError(f"mx.operator.register: the name must be a non-empty string; got "
                        f"{reg_name!r}")

    def do_register(prop_cls):
        if not (isinstance(prop_cls, type) and issubclass(prop_cls, CustomOpProp)):
            raise TypeError(f"mx.operator.register({reg_name!r}): {prop_cls!r} is not a "
                            "CustomOpProp subclass")
        _custom.register_custom(reg_name, _Registered(reg_name, prop_cls))
        return prop_cls
    return do_register


def get_all_registered_operators():
    """Names of all registered operators (MXNet's backend operators and their aliases, as
    MXNet lists them; custom op types are reached through ``Custom``)."""
    names = []
    for od in all_ops().values():
        if od.name == "fused":
            continue
        names.append(od.name)
        names.extend(od.aliases)
    return names


OperatorArguments = collections.namedtuple("OperatorArguments", ["narg", "names", "types"])


def get_operator_arguments(op_name):
    """The parameters of operator ``op_name``: their number, names and type descriptions."""
    from .ir.registry import get_op
    od = get_op(op_name)
    attrs = [a for a in od.attrs if a.name != "is_train"]
    return OperatorArguments(len(attrs), [a.name for a in attrs],
                             [a.describe() + ("" if a.required else f", optional, "
                                              f"default={a.default!r}") for a in attrs])


class _Legacy:
    _what = ""

    def __init__(self, *args, **kwargs):
        raise UnsupportedError(f"mxc does not support the legacy {self._what} interface "
                               "(mx.operator." + type(self).__name__ + "); write a "
                               "CustomOp / CustomOpProp pair and register it instead")


class PythonOp(_Legacy):
    """MXNet's deprecated base of NumpyOp / NDArrayOp: not supported by mxc."""
    _what = "PythonOp"


class NumpyOp(PythonOp):
    """MXNet's deprecated numpy operator: not supported by mxc (use CustomOp)."""
    _what = "NumpyOp"


class NDArrayOp(PythonOp):
    """MXNet's deprecated NDArray operator: not supported by mxc (use CustomOp)."""
    _what = "NDArrayOp"


# MXNet's mx.operator module namespace also carries the ctypes and base helpers its (C-side)
# implementation imports; scripts reach them through it, so they are the same objects here
from array import array  # noqa: E402,F401
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char, c_char_p,  # noqa: E402,F401
                    c_int, c_void_p, cast, pointer)
from threading import Lock  # noqa: E402,F401

from . import context, symbol  # noqa: E402,F401
from .base import (MXCallbackList, NDArrayHandle, OpHandle, c_array,  # noqa: E402,F401
                   c_array_buf, c_str, check_call, ctypes2numpy_shared, mx_float, mx_int,
                   mx_uint, py_str)
from .util import is_np_array  # noqa: E402,F401

c_int_p = POINTER(c_int)
