"""Testing helpers for mxc graphs: check functions and hypothesis strategies."""
from .check import (as_dtype, assert_close, check_compiled, check_grad, check_shape_rule,
                    op_graph, random_inputs)

__all__ = ["as_dtype", "assert_close", "check_compiled", "check_grad", "check_shape_rule",
           "op_graph", "random_inputs"]
