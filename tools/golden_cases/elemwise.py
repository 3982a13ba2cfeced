"""Elementwise operators: unary math, binary (same shape, broadcast, scalar), Activation."""
from golden_cases import Case

POS = (0.2, 3.0)        # domain of log, sqrt, ...
UNIT = (-0.9, 0.9)      # domain of arcsin, arctanh, erfinv ...

CASES = [
    Case("Activation", {"data": (4, 7)}, {"act_type": t}, name=f"act_{t}")
    for t in ("relu", "sigmoid", "tanh", "softrelu", "softsign")
] + [
    Case("broadcast_add", {"lhs": (3, 4), "rhs": (1, 4)}, name="broadcast_add"),
    Case("broadcast_mul", {"lhs": (2, 3, 4), "rhs": (3, 1)}, name="broadcast_mul_rank"),
    Case("elemwise_div", {"lhs": (3, 5), "rhs": (3, 5)}, ranges={"rhs": POS},
         name="elemwise_div"),
    Case("exp", {"data": (5, 6)}, name="exp"),
    Case("log", {"data": (5, 6)}, ranges={"data": POS}, name="log"),
]
