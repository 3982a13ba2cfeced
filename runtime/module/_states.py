"""Optimizer ``.states`` files: MXNet 1.9.1's pickled ``Updater`` states, read safely.

What MXNet writes (``Module.save_optimizer_states``, ``KVStore.save_optimizer_states``) is
``pickle.dumps(updater.states)`` (protocol 4 under Python 3): a dict from the parameter index (an
int; a parameter name when the kvstore ran the updates) to that parameter's optimizer state,
which is ``None``, an NDArray or a tuple of them (for example Adam's ``(mean, var)``). With
``dump_optimizer=True`` it is the pair ``(states, optimizer)``. An NDArray pickles as::

    mxnet.ndarray.ndarray.NDArray(None)  then  BUILD {'handle': bytearray(<raw NDArray bytes>)}

where the raw bytes are one array in the ``.params`` V2 layout (``NDArray::Save``).

:func:`dumps_states` writes exactly that, naming MXNet's classes (``mxnet.ndarray.ndarray``,
``mxnet.optimizer.optimizer``, ``mxnet.lr_scheduler``, ``numpy.core.multiarray``), so MXNet 1.x
reads mxc's files. :func:`loads_states` reads MXNet's files and mxc's through a restricted
unpickler: a pickle can name any importable callable, so only the globals a states file needs
are admitted (builtins containers, numpy array and scalar reconstruction, NDArray, the optimizer
and learning-rate scheduler classes); anything else raises :class:`~mxc.base.FormatError` naming
the class, before it is called. What the file makes the loader allocate is bounded by the file's
size, and objects are checked before they are built (see "reading" below). :func:`apply_states`
then checks each state against its parameter (shapes, dtypes, nesting) before installing any.
"""
from __future__ import annotations

import copyreg
import io
import pickle
import struct
import types

import numpy as np

from mxc.base import FormatError, MXNetError
from mxc.ndarray import NDArray

__all__ = ["apply_states", "check_state", "dumps_states", "loads_states", "read_states_file",
           "write_states_file"]

_MX_NDARRAY = ("mxnet.ndarray.ndarray", "NDArray")


def _new_ndarray(handle=None):
    """``NDArray(None)`` as MXNet's pickles call it: an empty shell that BUILD fills through
    ``NDArray.__setstate__`` (which reads MXNet's raw bytes)."""
    return NDArray.__new__(NDArray)


# --- writing ----------------------------------------------------------------------------------
def _mx_global(obj):
    """The ``(module, name)`` MXNet knows ``obj`` (a class or function) by, or None."""
    mod = getattr(obj, "__module__", "") or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if obj is _new_ndarray or obj is NDArray:
        return _MX_NDARRAY
    if mod == "runtime.optimizer" or mod.startswith("runtime.optimizer."):
        return ("mxnet.optimizer.optimizer", name)
    if mod == "runtime.lr_scheduler":
        return ("mxnet.lr_scheduler", name)
    if mod.startswith("numpy._core"):
        # numpy 2 pickles name numpy._core; MXNet's numpy (< 1.24) only has numpy.core
        return ("numpy.core" + mod[len("numpy._core"):], name)
    return None


class _MXPickler(pickle._Pickler):  # the Python pickler: its save_global can be overridden
    """Pickles mxc objects under MXNet's class names, in MXNet's layout."""

    def reducer_override(self, obj):
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
            alias = _mx_global(obj)
            if alias is not None:
                return alias[1]     # a str: pickle saves obj through self.save_global
            return NotImplemented
        if isinstance(obj, NDArray):
            from mxc.ndarray.io import _save_raw
            return (_new_ndarray, (None,), {"handle": bytearray(_save_raw(obj))})
        mod = type(obj).__module__ or ""
        if mod.startswith(("runtime.optimizer", "runtime.lr_scheduler")):
            state = obj.__getstate__() if hasattr(obj, "__getstate__") else obj.__dict__
            return (copyreg.__newobj__, (type(obj),), state)
        return NotImplemented

    def save_global(self, obj, name=None):
        alias = _mx_global(obj)
        if alias is None:
            return super().save_global(obj, name)
        module, qname = alias
        if self.proto >= 4:
            self.save(module)
            self.save(qname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + bytes(f"{module}\n{qname}\n", "utf-8"))
        self.memoize(obj)


def dumps_states(states, optimizer=None, dump_optimizer=False) -> bytes:
    """MXNet's ``Updater.get_states(dump_optimizer)`` bytes for ``states`` (and ``optimizer``)."""
    obj = (states, optimizer) if dump_optimizer else states
    buf = io.BytesIO()
    _MXPickler(buf, protocol=4).dump(obj)
    return buf.getvalue()


# --- reading ----------------------------------------------------------------------------------
# A .states file is untrusted input, and a pickle is a small program: besides naming callables it
# can ask them for memory (``bytearray(10**12)``), hand numpy a state that crashes it (an object
# array whose shape disagrees with its data) or nest tuples so deep that hashing one overflows
# the C stack. So the loader is the pure-Python unpickler with every opcode that calls, builds or
# hashes something replaced by a checked version:
#
# - calls (REDUCE, NEWOBJ, INST, OBJ) go only to the callables in ``_CALLS``, with arguments of
#   the types a states file uses; what they allocate is charged against a budget of four times
#   the file's size (a file can describe only so much data), checked before the allocation;
# - BUILD sets the state of NDArrays, optimizers, lr schedulers, numpy arrays and dtypes only,
#   each state checked first (shapes against data lengths, no object dtypes);
# - SETITEM(S) / APPEND(S) / ADDITEMS fill only dicts / lists / sets, and tuples nest at most
#   ``_MAX_TUPLE_DEPTH`` deep (the only unbounded recursion in hashing them).
#
# Errors name the file and the byte offset of the opcode that failed.
_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "bytearray", "bytes", "complex",
             "int", "float", "bool", "str", "slice", "range", "object"}
_NUMPY = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
_MAX_TUPLE_DEPTH = 100
_BUDGET_SLACK = 1 << 16         # bytes every file may allocate beyond _BUDGET x its size
_BUDGET = 4                     # an array's bytes are in the file, copied twice or thrice


def _numpy_attr(sub, name):
    import importlib
    for base in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{base}.{sub}"), name)
        except (ImportError, AttributeError):
            continue
    raise FormatError(f"numpy has no {sub}.{name}")


def _optimizer_class(name):
    from runtime import optimizer as opt
    cls = getattr(opt, name, None)
    if isinstance(cls, type) and issubclass(cls, opt.Optimizer):
        return cls
    return None


def _scheduler_class(name):
    from runtime import lr_scheduler as lrs
    cls = getattr(lrs, name, None)
    if isinstance(cls, type) and issubclass(cls, lrs.LRScheduler):
        return cls
    return None


class _Bad(Exception):
    """Raised inside the unpickler; loads_states adds the file name and byte offset."""


def _kind(x) -> str:
    return type(x).__name__


def _short(x) -> str:
    """``x``'s repr on one line, cut at 60 characters."""
    r = " ".join(repr(x).split())
    return r if len(r) <= 60 else r[:57] + "..."


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x) -> bool:
    import numbers
    return isinstance(x, numbers.Real) and not isinstance(x, np.ndarray)


def _plain_dtype(dt, what):
    """``dt`` if it is a numpy dtype without objects, fields or sub-arrays."""
    if not isinstance(dt, np.dtype):
        raise _Bad(f"{what}: expected a numpy dtype; got {_kind(dt)}")
    if dt.hasobject or dt.fields is not None or dt.subdtype is not None:
        raise _Bad(f"{what}: numpy dtype {dt} is not allowed in a .states file (only plain "
                   "numeric, bytes and string dtypes)")
    return dt


def _shape(shape, what):
    if _is_int(shape):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(_is_int(d) for d in shape):
        raise _Bad(f"{what}: shape must be a tuple of ints; got {shape!r:.80}")
    if len(shape) > 64 or any(d < 0 for d in shape):
        raise _Bad(f"{what}: invalid shape {tuple(shape)!r:.80}")
    return tuple(shape)


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class _RestrictedUnpickler(pickle._Unpickler):     # the Python unpickler: opcodes replaceable
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, f, source, size):
        super().__init__(f)
        self._src_file = f
        self.source = source
        self.size = size
        self.budget = _BUDGET * size + _BUDGET_SLACK
        self._shells = []           # (NDArray, byte offset) made by NDArray(None): need BUILD
        self._tdepth = {}           # id(tuple) -> (nesting depth, the tuple, kept alive)
        self._fresh = {}            # id -> object: numpy arrays / dtypes this load created

    # -- bookkeeping --------------------------------------------------------------------------
    def offset(self) -> int:
        """Byte offset in the file of the next byte to read (inside a frame too)."""
        pos = self._src_file.tell()
        frame = getattr(getattr(self, "_unframer", None), "current_frame", None)
        if frame is not None:
            with frame.getbuffer() as b:
                pos -= b.nbytes - frame.tell()
        return pos

    def charge(self, nbytes, what):
        if nbytes > self.budget:
            raise _Bad(f"{what} would allocate {nbytes} bytes, more than this {self.size}-byte "
                       "file can describe")
        self.budget -= nbytes

    def depth(self, t) -> int:
        got = self._tdepth.get(id(t))
        if got is not None and got[1] is t:
            return got[0]
        d = 1 + max((self.depth(c) for c in t if type(c) is tuple), default=0)
        if d > _MAX_TUPLE_DEPTH:
            raise _Bad(f"tuples nested more than {_MAX_TUPLE_DEPTH} deep")
        self._tdepth[id(t)] = (d, t)
        return d

    def note_tuple(self, t):
        if type(t) is tuple:
            self.depth(t)
        return t

    # -- globals ------------------------------------------------------------------------------
    def find_class(self, module, name):
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            import builtins
            return getattr(builtins, name)
        if module in ("copyreg", "copy_reg") and name == "_reconstructor":
            return copyreg._reconstructor
        if module == "_codecs" and name == "encode":    # bytes in protocol 0-2 pickles
            import codecs
            return codecs.encode
        if module == "collections" and name == "OrderedDict":
            from collections import OrderedDict
            return OrderedDict
        if (module, name) in _NUMPY:
            if module == "numpy":
                return getattr(np, name)
            return _numpy_attr(module.split(".")[-1], name)
        if name == "NDArray" and module in ("mxnet.ndarray.ndarray", "mxnet.ndarray",
                                            "mxc.ndarray.ndarray", "mxc.ndarray"):
            return _new_ndarray
        if module in ("mxnet.optimizer.optimizer", "mxnet.optimizer", "runtime.optimizer"):
            cls = _optimizer_class(name)
            if cls is not None:
                return cls
        if module in ("mxnet.lr_scheduler", "runtime.lr_scheduler"):
            cls = _scheduler_class(name)
            if cls is not None:
                return cls
        raise FormatError(
            f"{self.source}: byte {self.offset()}: refusing to load optimizer states that "
            f"reference '{module}.{name}': a .states file may only contain dicts, lists, tuples, "
            "numbers, numpy arrays, NDArrays and MXNet's optimizer and lr_scheduler classes")

    # -- calls --------------------------------------------------------------------------------
    def call(self, func, args, kwargs, new=False):
        """``func(*args, **kwargs)`` (``func.__new__(func, ...)`` with ``new``), for the
        callables a states file may use, with their arguments checked."""
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise _Bad(f"call arguments must be a tuple and a dict; got {_kind(args)} and "
                       f"{_kind(kwargs)}")
        check = _CALLS.get(id(func))
        if check is None or check[0] is not func:
            if _is_class(func) and not args and not kwargs:      # optimizer, lr scheduler
                if not new:
                    raise _Bad(f"{func.__name__} objects are restored by NEWOBJ and BUILD, not "
                               "by calling the class")
                return func.__new__(func)
            what = getattr(func, "__name__", None) or _kind(func)
            raise _Bad(f"refusing to call {what!r:.60} with {len(args)} argument(s)")
        return check[1](self, func, args, kwargs, new)

    def load_reduce(self):
        args = self.stack.pop()
        self.stack[-1] = self.call(self.stack[-1], args, {})

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self.call(cls, args, {}, new=True))

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self.call(cls, args, kwargs, new=True))

    def _instantiate(self, klass, args):        # INST and OBJ
        self.append(self.call(klass, tuple(args), {}, new=not args and _is_class(klass)))

    # -- containers ---------------------------------------------------------------------------
    def load_tuple(self):
        super().load_tuple()
        self.note_tuple(self.stack[-1])

    def load_tuple1(self):
        super().load_tuple1()
        self.note_tuple(self.stack[-1])

    def load_tuple2(self):
        super().load_tuple2()
        self.note_tuple(self.stack[-1])

    def load_tuple3(self):
        super().load_tuple3()
        self.note_tuple(self.stack[-1])

    def _target(self, kinds, op):
        obj = self.stack[-1]
        if type(obj) not in kinds:
            raise _Bad(f"{op} applied to a {_kind(obj)}")
        return obj

    def load_setitem(self):
        from collections import OrderedDict
        if len(self.stack) < 3:
            raise _Bad("SETITEM on a short stack")
        value = self.stack.pop()
        key = self.stack.pop()
        self._target((dict, OrderedDict), "SETITEM")[key] = value

    def load_setitems(self):
        from collections import OrderedDict
        items = self.pop_mark()
        d = self._target((dict, OrderedDict), "SETITEMS")
        if len(items) % 2:
            raise _Bad("SETITEMS with an odd number of items")
        for i in range(0, len(items), 2):
            d[items[i]] = items[i + 1]

    def load_append(self):
        value = self.stack.pop()
        self._target((list,), "APPEND").append(value)

    def load_appends(self):
        items = self.pop_mark()
        self._target((list,), "APPENDS").extend(items)

    def load_additems(self):
        items = self.pop_mark()
        self._target((set,), "ADDITEMS").update(items)

    # -- BUILD --------------------------------------------------------------------------------
    def load_build(self):
        from runtime.lr_scheduler import LRScheduler
        from runtime.optimizer import Optimizer
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, NDArray):
            self._build_ndarray(inst, state)
        elif isinstance(inst, Optimizer):
            _build_optimizer(inst, state)
        elif isinstance(inst, LRScheduler):
            _build_scheduler(inst, state)
        elif type(inst) is np.ndarray and self._fresh.get(id(inst)) is inst:
            _build_numpy_array(self, inst, state)
        elif isinstance(inst, np.dtype) and self._fresh.get(id(inst)) is inst:
            _build_dtype(inst, state)
        else:
            raise _Bad(f"BUILD (set the state of an object) applied to a {_kind(inst)}")

    def _build_ndarray(self, inst, state):
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise _Bad(f"the state of a pickled NDArray must be a dict; got {_kind(state)}")
        if "handle" in state:
            handle = state["handle"]
            if not isinstance(handle, (bytes, bytearray)):
                raise _Bad(f"the 'handle' of a pickled NDArray must be bytes; got "
                           f"{_kind(handle)}")
            self.charge(len(handle), "an NDArray")
            from mxc.ndarray.io import _load_raw
            arr = _load_raw(handle, f"{self.source}: the NDArray pickled before byte "
                                    f"{self.offset()}")
        elif set(state) == {"data", "ctx"}:
            data, ctx = state["data"], state["ctx"]
            if type(data) is not np.ndarray:
                raise _Bad(f"the 'data' of a pickled NDArray must be a numpy array; got "
                           f"{_kind(data)}")
            _plain_dtype(data.dtype, "the data of a pickled NDArray")
            if (not isinstance(ctx, (tuple, list)) or len(ctx) != 2
                    or ctx[0] not in ("cpu", "gpu", "cpu_pinned", "cpu_shared")
                    or not _is_int(ctx[1]) or ctx[1] < 0):
                raise _Bad(f"the 'ctx' of a pickled NDArray must be (device type, id); got "
                           f"{ctx!r:.80}")
            self.charge(data.nbytes, "an NDArray")
            arr = NDArray.__new__(NDArray)
            try:
                arr.__setstate__({"data": data, "ctx": tuple(ctx)})
            except (TypeError, ValueError, RuntimeError) as e:
                raise _Bad(f"a pickled NDArray: {e}") from None
        else:
            raise _Bad(f"the state of a pickled NDArray has keys {sorted(state)!r:.80}; "
                       "expected 'handle' (MXNet) or 'data' and 'ctx'")
        inst.adopt_storage(arr)


for _op, _fn in {pickle.REDUCE: "load_reduce", pickle.NEWOBJ: "load_newobj",
                 pickle.NEWOBJ_EX: "load_newobj_ex", pickle.TUPLE: "load_tuple",
                 pickle.TUPLE1: "load_tuple1", pickle.TUPLE2: "load_tuple2",
                 pickle.TUPLE3: "load_tuple3", pickle.SETITEM: "load_setitem",
                 pickle.SETITEMS: "load_setitems", pickle.APPEND: "load_append",
                 pickle.APPENDS: "load_appends", pickle.ADDITEMS: "load_additems",
                 pickle.BUILD: "load_build"}.items():
    _RestrictedUnpickler.dispatch[_op[0]] = getattr(_RestrictedUnpickler, _fn)


def _unknown_opcode(code):
    def load(self):
        raise _Bad(f"unknown pickle opcode 0x{code:02x}")
    return load


for _code in range(256):
    _RestrictedUnpickler.dispatch.setdefault(_code, _unknown_opcode(_code))
del _op, _fn, _code


def _is_class(func) -> bool:
    """An optimizer or lr scheduler class (find_class admits no other classes of ours)."""
    from runtime.lr_scheduler import LRScheduler
    from runtime.optimizer import Optimizer
    return isinstance(func, type) and issubclass(func, (Optimizer, LRScheduler))


def _hash_ok(u, items):
    for x in items:
        if type(x) is tuple:
            u.depth(x)


# what each admitted callable may be called with; checker(u, func, args, kwargs, new)
def _c_bytes(u, func, args, kwargs, new):
    if kwargs or len(args) > 3:
        raise _Bad(f"{func.__name__}() takes at most 3 positional arguments here")
    if not args:
        return func()
    x = args[0]
    if _is_int(x):
        if x < 0:
            raise _Bad(f"{func.__name__}({x}): negative size")
        u.charge(x, f"{func.__name__}({x})")
    elif isinstance(x, str):
        if len(args) < 2 or not isinstance(args[1], str) or any(
                not isinstance(a, str) for a in args[1:]):
            raise _Bad(f"{func.__name__}(str) needs an encoding")
        per_char = 1 if args[1].lower().replace("-", "") == "latin1" else 4
        u.charge(per_char * len(x), f"{func.__name__}(str)")
    elif isinstance(x, (bytes, bytearray, list, tuple, range)):
        if len(args) > 1:
            raise _Bad(f"{func.__name__}({_kind(x)}) takes no encoding")
        u.charge(len(x), f"{func.__name__}({_kind(x)})")
    else:
        raise _Bad(f"{func.__name__}() of a {_kind(x)}")
    return func(*args)


_ITERABLES = (list, tuple, set, frozenset, dict, str, bytes, bytearray, range)


def _c_seq(u, func, args, kwargs, new):
    if kwargs or len(args) > 1:
        raise _Bad(f"{func.__name__}() takes at most one argument here")
    if new and func in (list, set) and args:
        raise _Bad(f"{func.__name__}.__new__ with arguments")
    if args:
        x = args[0]
        if not isinstance(x, _ITERABLES):
            raise _Bad(f"{func.__name__}() of a {_kind(x)}")
        u.charge(8 * len(x), f"{func.__name__}() of {len(x)} items")
        if func in (set, frozenset):
            _hash_ok(u, x)
    out = func.__new__(func) if new and func in (list, set) else func(*args)
    return u.note_tuple(out)


def _c_dict(u, func, args, kwargs, new):
    if len(args) > 1 or not all(isinstance(k, str) for k in kwargs):
        raise _Bad(f"{func.__name__}() takes at most one argument here")
    if new and (args or kwargs):
        raise _Bad(f"{func.__name__}.__new__ with arguments")
    if args:
        x = args[0]
        if isinstance(x, dict):
            pass
        elif isinstance(x, (list, tuple)):
            _hash_ok(u, [p[0] for p in x if isinstance(p, (tuple, list)) and p])
        else:
            raise _Bad(f"{func.__name__}() of a {_kind(x)}")
        u.charge(16 * len(x), f"{func.__name__}() of {len(x)} items")
    return func.__new__(func) if new else func(*args, **kwargs)


def _c_scalar(u, func, args, kwargs, new):
    if kwargs or len(args) > 3 or not all(isinstance(a, (int, float, complex, str, bytes))
                                          for a in args):
        raise _Bad(f"{func.__name__}() of {', '.join(_kind(a) for a in args)}")
    return func(*args)


def _c_slice(u, func, args, kwargs, new):
    if kwargs or not 1 <= len(args) <= 3 or not all(a is None or _is_int(a) for a in args):
        raise _Bad(f"{func.__name__}() takes 1 to 3 ints here")
    if func is range:
        if any(a is None for a in args):
            raise _Bad("range() of None")
        r = range(*args)
        try:
            n = len(r)
        except OverflowError:
            n = None
        if n is None or n > u.budget:
            raise _Bad(f"range{args!r:.60} is longer than this file can describe")
        return r
    return func(*args)


def _c_object(u, func, args, kwargs, new):
    if args or kwargs:
        raise _Bad("object() takes no arguments")
    return object()


def _c_reconstructor(u, func, args, kwargs, new):
    """Protocol 0 and 1 pickles make objects with ``_reconstructor(cls, object, None)``."""
    if kwargs or len(args) != 3 or args[1] is not object or args[2] is not None \
            or not (_is_class(args[0]) or args[0] is _new_ndarray):
        raise _Bad("copyreg._reconstructor is admitted only for NDArrays, optimizers and lr "
                   "schedulers")
    if args[0] is _new_ndarray:
        return _c_new_ndarray(u, _new_ndarray, (), {}, False)
    return object.__new__(args[0])


def _c_codecs_encode(u, func, args, kwargs, new):
    if kwargs or len(args) != 2 or not isinstance(args[0], str) \
            or args[1] not in ("latin1", "latin-1"):
        raise _Bad("_codecs.encode takes (str, 'latin1') here")
    u.charge(len(args[0]), "_codecs.encode")
    return func(*args)


def _c_new_ndarray(u, func, args, kwargs, new):
    if kwargs or len(args) > 1 or (new and args):
        raise _Bad("NDArray() takes one argument (None) here")
    arr = _new_ndarray()
    u._shells.append((arr, u.offset()))
    return arr


def _c_np_reconstruct(u, func, args, kwargs, new):
    if kwargs or len(args) != 3 or args[0] is not np.ndarray \
            or not isinstance(args[2], (bytes, str)) or len(args[2]) > 16:
        raise _Bad("numpy _reconstruct takes (numpy.ndarray, shape, typecode) here")
    shape = _shape(args[1], "numpy _reconstruct")
    dt = _plain_dtype(np.dtype(args[2]), "numpy _reconstruct")
    u.charge(_numel(shape) * dt.itemsize, f"a numpy array of shape {shape}")
    arr = func(np.ndarray, shape, args[2])
    u._fresh[id(arr)] = arr
    return arr


def _c_np_scalar(u, func, args, kwargs, new):
    if kwargs or len(args) != 2 or not isinstance(args[1], bytes):
        raise _Bad("numpy scalar takes (dtype, bytes) here")
    dt = _plain_dtype(args[0], "numpy scalar")
    if len(args[1]) != dt.itemsize:
        raise _Bad(f"numpy scalar of dtype {dt} needs {dt.itemsize} bytes; got {len(args[1])}")
    return func(dt, args[1])


def _c_np_dtype(u, func, args, kwargs, new):
    if kwargs or not 1 <= len(args) <= 3 or not isinstance(args[0], (str, bytes)) \
            or len(args[0]) > 16 or not all(isinstance(a, (bool, int)) for a in args[1:]):
        raise _Bad("numpy dtype takes (typecode, align, copy) here")
    dt = func(*args)
    _plain_dtype(dt, "numpy dtype")
    u._fresh[id(dt)] = dt
    return dt


def _c_np_frombuffer(u, func, args, kwargs, new):
    if kwargs or len(args) != 4 or not isinstance(args[0], (bytes, bytearray)) \
            or args[3] not in ("C", "F"):
        raise _Bad("numpy _frombuffer takes (bytes, dtype, shape, order) here")
    dt = _plain_dtype(args[1], "numpy _frombuffer")
    shape = _shape(args[2], "numpy _frombuffer")
    if _numel(shape) * dt.itemsize != len(args[0]):
        raise _Bad(f"numpy _frombuffer: {len(args[0])} bytes do not hold shape {shape} of "
                   f"{dt}")
    return func(args[0], dt, shape, args[3])


def _build_numpy_array(u, arr, state):
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise _Bad(f"the state of a numpy array must be a 4- or 5-tuple; got {_kind(state)}")
    shape, dt, fortran, data = state[-4:]
    shape = _shape(shape, "numpy array state")
    _plain_dtype(dt, "numpy array state")
    if not isinstance(fortran, (bool, int)) or not isinstance(data, bytes):
        raise _Bad("numpy array state: expected (shape, dtype, is_fortran, bytes)")
    if len(data) != _numel(shape) * dt.itemsize:
        raise _Bad(f"numpy array state: {len(data)} bytes do not hold shape {shape} of {dt}")
    u.charge(len(data), "a numpy array")
    arr.__setstate__(state)


def _build_dtype(dt, state):
    if (not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4)
            or state[1] not in ("<", ">", "|", "=") or state[2:5] != (None, None, None)
            or state[5] not in (-1, dt.itemsize) or state[6] not in (-1, dt.alignment)
            or state[7] != dt.flags or (len(state) == 9 and state[8] is not None)):
        raise _Bad(f"invalid state {state!r:.120} for numpy dtype {dt}")
    dt.__setstate__(state)


def _build_optimizer(opt, state):
    """An optimizer's pickled ``__dict__``, checked against a default instance of its class
    (attributes mxc has and the file lacks keep their defaults)."""
    import warnings
    from runtime.lr_scheduler import LRScheduler
    name = type(opt).__name__
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise _Bad(f"the state of optimizer {name} must be a dict of attributes; got "
                   f"{_kind(state)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            default = type(opt)()
    except Exception as e:  # noqa: BLE001 -- an optimizer mxc cannot create (LARS, ...)
        raise _Bad(f"optimizer {name}: {e}") from None
    ref = default.__getstate__()
    for k, want in ref.items():
        if k not in state:
            continue
        got = state[k]
        bad = False
        if k == "lr_scheduler":
            bad = got is not None and not isinstance(got, LRScheduler)
        elif isinstance(want, (bool, int, float)) or k in ("clip_gradient", "clip_weights"):
            # lr is None when an lr_scheduler gives it
            bad = not (_is_real(got) or (got is None and (want is None or k == "lr")))
        elif isinstance(want, dict):
            bad = not isinstance(got, dict)
            if not bad and k in ("lr_mult", "wd_mult", "_index_update_count"):
                bad = not all(_is_real(v) for v in got.values())
            if not bad and k == "_all_index_update_counts":
                bad = not all(isinstance(v, dict) and all(_is_real(c) for c in v.values())
                              for v in got.values())
        if k in ("num_update", "begin_num_update", "aggregate_num"):
            bad = not _is_int(got) or got < 0          # counters; 0 aggregate_num loops forever
        if k == "_index_update_count" and not bad:
            bad = not all(_is_int(c) and c >= 0 for c in got.values())
        if k == "idx2name" and not bad:             # names index lr_mult / wd_mult
            bad = not all(isinstance(v, str) for v in got.values())
        if k == "sym_info":                         # () or (attr_dict, list_arguments)
            bad = not (got == () or (isinstance(got, tuple) and len(got) == 2
                                     and isinstance(got[0], dict) and isinstance(got[1], list)))
        if bad:
            raise _Bad(f"optimizer {name}: attribute {k!r} is {_kind(got)} {_short(got)}; "
                       f"expected a value like {_short(want)}")
    merged = {**ref, **state}
    if merged.get("lr") is None and merged.get("lr_scheduler") is None:
        raise _Bad(f"optimizer {name}: no learning rate (lr and lr_scheduler are both None)")
    opt.__setstate__(merged)


def _real(v):
    return _is_real(v) and v == v           # not NaN


def _count(lo):
    return lambda v: _is_int(v) and v >= lo


def _steps(v):
    return (isinstance(v, list) and v and all(_is_int(s) and s >= 1 for s in v)
            and all(a < b for a, b in zip(v, v[1:])))


# what every attribute of each scheduler must be, as its constructor checks it: a file that
# breaks these makes __call__ loop forever (step 0), divide by zero or compare str with int
_SCHED_ATTRS = {
    "LRScheduler": {"base_lr": _real, "warmup_steps": _count(0), "warmup_begin_lr": _real,
                    "warmup_final_lr": _real,
                    "warmup_mode": lambda v: v in ("linear", "constant")},
    "FactorScheduler": {"step": _count(1), "factor": lambda v: _real(v) and 0 <= v <= 1,
                        "stop_factor_lr": _real, "count": _count(0)},
    "MultiFactorScheduler": {"step": _steps, "factor": lambda v: _real(v) and 0 <= v <= 1,
                             "cur_step_ind": _count(0), "count": _count(0)},
    "PolyScheduler": {"power": lambda v: _real(v) and v >= 0, "base_lr_orig": _real,
                      "max_update": _count(1), "final_lr": _real, "max_steps": _count(1)},
    "CosineScheduler": {"base_lr_orig": _real, "max_update": _count(1), "final_lr": _real,
                        "max_steps": _count(1)},
}


def _build_scheduler(sched, state):
    name = type(sched).__name__
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise _Bad(f"the state of lr scheduler {name} must be a dict of attributes; got "
                   f"{_kind(state)}")
    for cls in type(sched).__mro__:
        for k, ok in _SCHED_ATTRS.get(cls.__name__, {}).items():
            if k not in state:
                raise _Bad(f"lr scheduler {name}: attribute {k!r} is missing")
            if not ok(state[k]):
                raise _Bad(f"lr scheduler {name}: attribute {k!r} has the invalid value "
                           f"{_kind(state[k])} {_short(state[k])}")
    if name == "MultiFactorScheduler" and state["cur_step_ind"] > len(state["step"]):
        raise _Bad(f"lr scheduler {name}: cur_step_ind {state['cur_step_ind']} is past the "
                   f"{len(state['step'])} steps")
    sched.__dict__.update(state)


_CALLS = {id(f): (f, c) for f, c in [
    (bytes, _c_bytes), (bytearray, _c_bytes),
    (list, _c_seq), (tuple, _c_seq), (set, _c_seq), (frozenset, _c_seq),
    (dict, _c_dict), (__import__("collections").OrderedDict, _c_dict),
    (int, _c_scalar), (float, _c_scalar), (bool, _c_scalar), (complex, _c_scalar),
    (str, _c_scalar), (slice, _c_slice), (range, _c_slice), (object, _c_object),
    (copyreg._reconstructor, _c_reconstructor), (_new_ndarray, _c_new_ndarray),
    (__import__("codecs").encode, _c_codecs_encode),
    (np.dtype, _c_np_dtype),
]}
for _sub, _name, _c in [("multiarray", "_reconstruct", _c_np_reconstruct),
                        ("multiarray", "scalar", _c_np_scalar),
                        ("numeric", "_frombuffer", _c_np_frombuffer)]:
    try:
        _f = _numpy_attr(_sub, _name)
    except FormatError:
        continue
    _CALLS[id(_f)] = (_f, _c)
del _sub, _name, _c

# what a malformed pickle makes the Python unpickler (or a checked callable) raise
_LOAD_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                LookupError, struct.error, OverflowError, RecursionError, MemoryError)


def loads_states(data: bytes, source: str = "<states>"):
    """Unpickle optimizer states (MXNet's or mxc's) through the restricted unpickler.

    Returns what was pickled: the states dict, or ``(states, optimizer)``. Anything else in
    the file (or a malformed file) raises :class:`~mxc.base.FormatError` naming ``source`` and
    the byte offset."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"optimizer states must be bytes; got {type(data).__name__}")
    if len(data) == 0:
        raise FormatError(f"{source}: empty file; expected pickled optimizer states")
    data = bytes(data)
    u = _RestrictedUnpickler(io.BytesIO(data), source, len(data))
    try:
        obj = u.load()
        for arr, at in u._shells:
            if not hasattr(arr, "_t"):
                raise _Bad(f"the NDArray created at byte {at} never got its data (no BUILD)")
        return obj
    except _Bad as e:
        raise FormatError(f"{source}: byte {u.offset()}: not a valid optimizer states file: "
                          f"{e}") from None
    except MXNetError:
        raise
    except _LOAD_ERRORS as e:
        raise FormatError(f"{source}: byte {u.offset()}: not a valid optimizer states file "
                          f"({type(e).__name__}: {str(e)[:200]})") from None


def write_states_file(fname, data: bytes) -> None:
    """Write ``data`` to ``fname`` through a temporary file renamed on success."""
    from mxc.base import atomic_write
    with atomic_write(fname, "wb") as f:
        f.write(data)


def read_states_file(fname) -> bytes:
    with open(fname, "rb") as f:
        return f.read()


def _split_loaded(loaded, source):
    """``(states, optimizer or None)`` from what a states file held."""
    from runtime.optimizer import Optimizer
    opt = None
    if isinstance(loaded, tuple) and len(loaded) == 2:
        loaded, opt = loaded
        if not isinstance(opt, Optimizer):
            raise FormatError(f"{source}: holds (states, optimizer) but the optimizer is a "
                              f"{type(opt).__name__}; expected an mx.optimizer.Optimizer")
    if not isinstance(loaded, dict):
        raise FormatError(f"{source}: optimizer states must be a dict of index -> state; got "
                          f"{type(loaded).__name__}")
    return loaded, opt


def _describe(x) -> str:
    if isinstance(x, NDArray):
        return f"an NDArray of shape {x.shape} and dtype {np.dtype(x.dtype).name}"
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of {len(x)}"
    return "None" if x is None else f"a {type(x).__name__}"


def _check_state(got, want, where):
    """``got`` (loaded) has the structure, shapes and dtypes of ``want`` (a fresh state)."""
    from mxc.base import DTypeError, ShapeError
    if isinstance(want, NDArray):
        if not isinstance(got, NDArray):
            raise FormatError(f"{where} is {_describe(got)}; expected {_describe(want)}")
        if tuple(got.shape) != tuple(want.shape):
            raise ShapeError(f"{where} has shape {tuple(got.shape)}; expected "
                             f"{tuple(want.shape)}")
        if np.dtype(got.dtype) != np.dtype(want.dtype):
            raise DTypeError(f"{where} has dtype {np.dtype(got.dtype).name}; expected "
                             f"{np.dtype(want.dtype).name}")
    elif isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            raise FormatError(f"{where} is {_describe(got)}; expected {_describe(want)}")
        for i, (g, w) in enumerate(zip(got, want)):
            _check_state(g, w, f"{where} (item {i})")
    # None or anything else: the optimizer keeps no NDArray state here; the file's is unused


def check_state(optimizer, key, state, name, weight, source):
    """Raise unless ``state`` (loaded from ``source``) is what ``optimizer`` keeps for
    ``weight``, the parameter ``name`` at updater index ``key``: the same nesting of
    NDArrays, each of the expected shape and dtype."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # float16 without multi_precision warns
        want = optimizer.create_state_multi_precision(key, weight)
    where = (f"{source}: the {type(optimizer).__name__} state of parameter {name!r} "
             f"(index {key!r}, shape {tuple(weight.shape)}, "
             f"{np.dtype(weight.dtype).name})")
    _check_state(state, want, where)


def check_loaded_state(updater, key, weight):
    """At the first update of ``key`` after :func:`apply_states`: check a state nobody
    checked at load (``Updater.set_states`` does not know the weights)."""
    pending = getattr(updater, "_states_unchecked", None)
    if pending and key in pending:
        pending.discard(key)
        name = updater.optimizer.idx2name.get(key, key)
        check_state(updater.optimizer, key, updater.states[key], name, weight,
                    getattr(updater, "_states_source", "<states>"))


def apply_states(updater, loaded, source="<states>", weights=None) -> None:
    """Install unpickled states into ``updater`` as MXNet's ``Updater.set_states`` does.

    ``weights`` (updater index -> ``(parameter name, weight NDArray)``), when the caller knows
    them: every state for one of them must match what the optimizer keeps for that weight
    (else ShapeError / DTypeError / FormatError naming the parameter and ``source``), checked
    before anything is installed; the others are checked at their first update."""
    states, opt = _split_loaded(loaded, source)
    optimizer = opt if opt is not None else updater.optimizer
    weights = weights or {}
    for key, state in states.items():
        hit = weights.get(key)
        if hit is not None:
            check_state(optimizer, key, state, hit[0], hit[1], source)
    if opt is not None:
        updater.optimizer = opt
        updater.aggregate_updates = opt.aggregate_num > 0   # as if created with it
    updater.states = states
    updater.states_synced = dict.fromkeys(states.keys(), False)
    updater._states_source = source
    updater._states_unchecked = {k for k in states if k not in weights}
