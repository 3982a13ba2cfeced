"""Hypothesis strategies for graphs: random shapes, random primitive graphs, random inputs.

``graphs()`` draws a DAG of elementwise, broadcasting, reduction and view ops over one to three
inputs, so properties (compiled == interpreted, every pass preserves results, the memory plan
never overlaps live buffers, the text form round-trips) are tested on graphs nobody wrote by
hand. Users test their own rewrite rules or backends the same way::

    from hypothesis import given
    from mxc.testing.strategies import graphs, inputs_for

    @given(graphs(), st.integers(0, 2**32 - 1))
    def test_my_backend(g, seed):
        ...
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..ir.core import Builder, Graph
from ..ir.types import DType, TensorType

__all__ = ["shapes", "graphs", "inputs_for", "UNARY", "BINARY"]

UNARY = ["tanh", "sigmoid", "relu", "negative", "abs", "square", "exp", "softsign", "cos",
         "floor", "round"]
BINARY = ["elemwise_add", "elemwise_sub", "elemwise_mul", "_maximum", "_minimum"]
BROADCAST = ["broadcast_add", "broadcast_mul", "broadcast_sub", "broadcast_maximum"]
REDUCE = ["sum", "max", "mean", "min"]


def shapes(min_rank=1, max_rank=3, max_dim=5):
    return st.lists(st.integers(1, max_dim), min_size=min_rank, max_size=max_rank).map(tuple)


@st.composite
def graphs(draw, max_ops=12, max_inputs=3, dtype=DType.f32):
    """A random graph of primitives (and the composites softmax / FullyConnected)."""
    shape = draw(shapes())
    b = Builder("random")
    n_in = draw(st.integers(1, max_inputs))
    pool = [b.input(f"x{i}", TensorType(shape, dtype)) for i in range(n_in)]
    n_ops = draw(st.integers(1, max_ops))
    for _ in range(n_ops):
        kind = draw(st.sampled_from(["unary", "binary", "scalar", "reduce", "bcast", "view",
                                     "view", "softmax"]))
        x = draw(st.sampled_from(pool))
        nd = len(x.shape)
        if kind == "unary":
            v = b.op(draw(st.sampled_from(UNARY)), [x])
        elif kind == "binary":
            same = [p for p in pool if p.shape == x.shape]
            v = b.op(draw(st.sampled_from(BINARY)), [x, draw(st.sampled_from(same))])
        elif kind == "scalar":
            op = draw(st.sampled_from(["_mul_scalar", "_plus_scalar", "_rminus_scalar",
                                       "_maximum_scalar"]))
            v = b.op(op, [x], {"scalar": draw(st.sampled_from([-1.5, 0.5, 2.0]))})
        elif kind == "reduce":
            axes = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd,
                                 unique=True))
            v = b.op(draw(st.sampled_from(REDUCE)), [x],
                     {"axis": tuple(sorted(axes)), "keepdims": draw(st.booleans())})
        elif kind == "bcast":
            axes = tuple(sorted(draw(st.lists(st.integers(0, nd - 1), min_size=1,
                                              max_size=nd, unique=True))))
            r = b.op("sum", [x], {"axis": axes, "keepdims": True})
            v = b.op(draw(st.sampled_from(BROADCAST)), [x, r])
        elif kind == "softmax":
            v = b.op("softmax", [x], {"axis": draw(st.integers(-nd, nd - 1))})
        else:
            how = draw(st.sampled_from(["transpose", "flatten", "expand"]))
            if how == "transpose" and nd > 1:
                perm = draw(st.permutations(list(range(nd))))
                v = b.op("transpose", [x], {"axes": tuple(perm)})
            elif how == "flatten" and nd > 1:
                v = b.op("Reshape", [x], {"shape": (-1,)})
            else:
                v = b.op("expand_dims", [x], {"axis": draw(st.integers(0, nd))})
        pool.append(v)
    computed = pool[n_in:]
    k = draw(st.integers(1, min(3, len(computed))))
    outs = draw(st.lists(st.sampled_from(computed), min_size=1, max_size=k, unique_by=id))
    return b.build(outs)


def inputs_for(g: Graph, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, v.type.shape).astype(v.type.dtype.numpy) for v in g.inputs]
