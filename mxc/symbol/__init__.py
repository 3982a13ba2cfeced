"""``mx.sym`` / ``mx.symbol``: MXNet 1.x's symbolic API on top of the mxc IR."""
from .naming import AttrScope, NameManager, Prefix  # noqa: F401
from .symbol import Group, Symbol, Variable, load, load_json, var  # noqa: F401
from . import ops as _ops

_ops.populate(globals(), __name__)
del _ops
