"""``mx.sym`` / ``mx.symbol``: MXNet 1.x's symbolic API on top of the mxc IR."""
from .naming import AttrScope, NameManager, Prefix  # noqa: F401
from .symbol import Group, Symbol, Variable, load, load_json, var  # noqa: F401
from . import ops as _ops
from . import random  # noqa: F401  (before populate: its functions win over the operators')
from . import contrib  # noqa: F401  (before populate: the _contrib_ operators join it)

_ops.populate(globals(), __name__)
from .custom import Custom  # Python operators (mx.operator)
op.Custom = Custom  # noqa: F821


# MXNet's Python-level creation functions (they name nodes _zeros0, _ones0 ... and always
# store the dtype)
def zeros(shape, dtype="float32", name=None, **kwargs):
    return _ops.invoke("_zeros", [], {"shape": shape, "dtype": dtype, **kwargs}, name)


def ones(shape, dtype="float32", name=None, **kwargs):
    return _ops.invoke("_ones", [], {"shape": shape, "dtype": dtype, **kwargs}, name)


def full(shape, val, dtype="float32", name=None, **kwargs):
    return _ops.invoke("_full", [], {"shape": shape, "value": val, "dtype": dtype, **kwargs},
                       name)


def arange(start, stop=None, step=1.0, repeat=1, infer_range=False, name=None,
           dtype="float32"):
    return _ops.invoke("_arange", [], {"start": start, "stop": stop, "step": step,
                                       "repeat": repeat, "infer_range": infer_range,
                                       "dtype": dtype}, name)




# MXNet's Python-level functions (symbol.py): maximum, minimum, hypot, pow, power
from .functions import binary_functions as _binary_functions  # noqa: E402

globals().update(_binary_functions("symbol"))
