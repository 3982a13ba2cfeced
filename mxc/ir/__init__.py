"""The SSA IR: types, values/ops/graphs, the operator registry, text form, verify, interp."""
from .core import Builder, Graph, Op, Value, clone_graph, infer_op_types
from .interp import interp
from .parser import parse
from .printer import print_graph
from .registry import OpDef, all_ops, get_op, register_op
from .types import DType, TensorType
from .verify import verify

__all__ = ["Builder", "Graph", "Op", "Value", "clone_graph", "infer_op_types", "interp", "parse",
           "print_graph", "OpDef", "all_ops", "get_op", "register_op", "DType", "TensorType",
           "verify"]
