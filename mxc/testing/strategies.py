"""Hypothesis strategies for graphs: random shapes, random primitive graphs, random inputs,
random pass pipelines.

``graphs()`` draws a DAG of elementwise, broadcasting, reduction and view ops over one to three
inputs, so properties (compiled == interpreted, every pass preserves results, the memory plan
never overlaps live buffers, the text form round-trips) are tested on graphs nobody wrote by
hand. Users test their own rewrite rules or backends the same way::

    from hypothesis import given
    from mxc.testing.strategies import graphs, inputs_for

    @given(graphs(), st.integers(0, 2**32 - 1))
    def test_my_backend(g, seed):
        ...

The cases where shapes say least about indexing are drawn on purpose, often: square shapes
(where a transpose keeps the shape, so ``transpose(softmax(x))`` has every shape of
``softmax(x)`` but reads it at other points), views feeding reductions (``sum(transpose(x))``,
the reduction of a slice or a reversal) and reductions feeding views (``transpose(x - max(x))``,
a keepdims reduction transposed before it broadcasts back). :func:`graph_features` names which
of these a graph has, for ``hypothesis.event`` statistics.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..ir.core import Builder, Graph
from ..ir.registry import Elementwise, Reduce, View
from ..ir.types import DType, TensorType

__all__ = ["shapes", "square_shapes", "graphs", "inputs_for", "pipelines", "graph_features",
           "UNARY", "BINARY", "OPTIONAL_PASSES", "FUSE_MODES"]

UNARY = ["tanh", "sigmoid", "relu", "negative", "abs", "square", "exp", "softsign", "cos",
         "floor", "round"]
BINARY = ["elemwise_add", "elemwise_sub", "elemwise_mul", "_maximum", "_minimum"]
BROADCAST = ["broadcast_add", "broadcast_mul", "broadcast_sub", "broadcast_maximum"]
REDUCE = ["sum", "max", "mean", "min"]
# views that keep every element (a transpose of a square keeps the shape too) and views that
# select some (a slice, a reversal)
VIEWS = ["transpose", "swapaxes", "flatten", "expand", "reverse", "slice"]
NORMALIZE = ["softmax", "log_softmax", "sub_max", "sub_mean"]
KINDS = ["unary", "binary", "scalar", "reduce", "bcast", "view", "view", "softmax",
         "view_reduce", "reduce_view", "bcast_view"]

# strategies built once (hypothesis validates each new strategy object it draws from)
_S = {name: st.sampled_from(vals) for name, vals in (
    ("unary", UNARY), ("binary", BINARY), ("bcast", BROADCAST), ("reduce", REDUCE),
    ("views", VIEWS), ("normalize", NORMALIZE), ("kind", KINDS),
    ("select_view", ["transpose", "swapaxes", "reverse", "slice"]),
    ("scalar_op", ["_mul_scalar", "_plus_scalar", "_rminus_scalar", "_maximum_scalar"]),
    ("scalar", [-1.5, 0.5, 2.0]))}


def _pick(draw, seq):
    return seq[draw(st.integers(0, len(seq) - 1))]


def _axes(draw, nd):
    """A non-empty sorted tuple of distinct axes below ``nd``."""
    mask = draw(st.integers(1, 2 ** nd - 1))
    return tuple(i for i in range(nd) if mask >> i & 1)


def shapes(min_rank=1, max_rank=3, max_dim=5):
    return st.lists(st.integers(1, max_dim), min_size=min_rank, max_size=max_rank).map(tuple)


@st.composite
def square_shapes(draw, max_dim=5):
    """Shapes whose transposes keep them: ``(n, n)``, ``(n, n, n)``, ``(b, n, n)``, ``(n, n, b)``
    (attention scores are square)."""
    n = draw(st.integers(2, max_dim))
    form = draw(st.sampled_from(["nn", "bnn", "nnn", "nnb"]))
    b = draw(st.integers(1, max_dim))
    return {"nn": (n, n), "bnn": (b, n, n), "nnn": (n, n, n), "nnb": (n, n, b)}[form]


def _view(draw, b, x, how):
    """A view of ``x`` (``how`` in VIEWS); ``x`` itself where it does not apply."""
    nd = len(x.shape)
    if how == "transpose" and nd > 1:
        return b.op("transpose", [x], {"axes": _pick(draw, _perms(nd))})
    if how == "swapaxes" and nd > 1:
        d1 = draw(st.integers(0, nd - 1))
        d2 = _pick(draw, [d for d in range(nd) if d != d1])
        return b.op("SwapAxis", [x], {"dim1": d1, "dim2": d2})
    if how == "flatten" and nd > 1:
        return b.op("Reshape", [x], {"shape": (-1,)})
    if how == "reverse":
        return b.op("reverse", [x], {"axis": (draw(st.integers(0, nd - 1)),)})
    if how == "slice":
        axes = [i for i, d in enumerate(x.shape) if d > 1]
        if axes:
            ax = _pick(draw, axes)
            d = x.shape[ax]
            begin = draw(st.integers(0, d - 1))
            end = draw(st.integers(begin + 1, d))
            return b.op("slice_axis", [x], {"axis": ax, "begin": begin, "end": end})
    if how in ("transpose", "swapaxes", "flatten", "slice"):
        return x
    return b.op("expand_dims", [x], {"axis": draw(st.integers(0, nd))})


def _normalize(draw, b, x, axis):
    how = draw(_S["normalize"])
    if how in ("softmax", "log_softmax"):
        return b.op(how, [x], {"axis": axis})
    ax = (axis % len(x.shape),)
    r = b.op("max" if how == "sub_max" else "mean", [x], {"axis": ax, "keepdims": True})
    return b.op("broadcast_sub", [x, r])


def _reduce(draw, b, x):
    return b.op(draw(_S["reduce"]), [x],
                {"axis": _axes(draw, len(x.shape)), "keepdims": draw(st.booleans())})


@st.composite
def graphs(draw, max_ops=12, max_inputs=3, dtype=DType.f32, square=True):
    """A random graph of up to ``max_ops`` primitives (and the composites softmax /
    log_softmax); with ``square``, half the graphs have a square input shape."""
    shape = draw(st.one_of(shapes(), square_shapes()) if square else shapes())
    b = Builder("random")
    n_in = draw(st.integers(1, max_inputs))
    pool = [b.input(f"x{i}", TensorType(shape, dtype)) for i in range(n_in)]
    n_ops = draw(st.integers(1, max_ops))
    for _ in range(n_ops):
        if len(b.ops) >= n_ops:
            break               # steps that build several ops count each
        if draw(st.integers(0, 9)) == 0:
            continue            # what the shrinker sets to drop an op from a failing graph
        kind = draw(_S["kind"])
        # half the time an operand among the newest values: deeper chains, views of views
        x = _pick(draw, pool[-2:] if draw(st.booleans()) else pool)
        nd = len(x.shape)
        if kind == "unary":
            v = b.op(draw(_S["unary"]), [x])
        elif kind == "binary":
            same = [p for p in pool if p.shape == x.shape]
            v = b.op(draw(_S["binary"]), [x, _pick(draw, same)])
        elif kind == "scalar":
            v = b.op(draw(_S["scalar_op"]), [x], {"scalar": draw(_S["scalar"])})
        elif kind == "reduce":
            v = _reduce(draw, b, x)
        elif kind == "bcast":
            r = b.op("sum", [x], {"axis": _axes(draw, nd), "keepdims": True})
            v = b.op(draw(_S["bcast"]), [x, r])
        elif kind == "softmax":
            v = b.op("softmax", [x], {"axis": draw(st.integers(-nd, nd - 1))})
        elif kind == "view_reduce":
            # a reduction of a view: sum(transpose(x)), max(x[:, 1:3]), mean(reverse(x))
            w = _view(draw, b, x, draw(_S["select_view"]))
            if w is not x:
                pool.append(w)
            v = _reduce(draw, b, w)
        elif kind == "reduce_view":
            # a view of a normalization: transpose(softmax(x)), swapaxes(x - max(x))
            y = _normalize(draw, b, x, draw(st.integers(-nd, nd - 1)))
            pool.append(y)
            v = _view(draw, b, y, draw(_S["select_view"]))
        elif kind == "bcast_view":
            # a keepdims reduction viewed before it broadcasts back: x + transpose(sum(x, 1))
            r = b.op(draw(_S["reduce"]), [x], {"axis": _axes(draw, nd), "keepdims": True})
            perms = [p for p in _perms(nd) if all(r.shape[p[i]] in (1, x.shape[i])
                                                  for i in range(nd))]
            perm = _pick(draw, perms)
            if perm != tuple(range(nd)):
                r = b.op("transpose", [r], {"axes": perm})
            v = b.op(draw(_S["bcast"]), [x, r])
        else:
            v = _view(draw, b, x, draw(_S["views"]))
            if v is x:
                continue
        pool.append(v)
    computed = pool[n_in:]
    if not computed:
        computed = [b.op("negative", [pool[0]])]
    # up to three distinct outputs (shrinks towards the last value computed)
    k = draw(st.integers(1, min(3, len(computed))))
    outs = []
    for _ in range(k):
        v = computed[len(computed) - 1 - draw(st.integers(0, len(computed) - 1))]
        if all(v is not o for o in outs):
            outs.append(v)
    return b.build(outs)


def _perms(n):
    """Permutations of ``range(n)``, the identity first."""
    import itertools
    return list(itertools.permutations(range(n)))


def graph_features(g: Graph) -> list[str]:
    """Which of the index-sensitive cases ``g`` has: ``square`` (an input whose last two dims
    are equal), ``view->reduce`` (a reduction of a value computed through a view) and
    ``reduce->view`` (a view of a value computed from a reduction); softmax and log_softmax
    count as reductions."""
    def is_reduce(op):
        return isinstance(op.opdef.lower, Reduce) or op.opname in ("softmax", "log_softmax")

    def is_view(op):
        return isinstance(op.opdef.lower, View)

    from_view, from_reduce = set(), set()
    feats = set()
    for v in g.inputs:
        if len(v.shape) >= 2 and v.shape[-1] == v.shape[-2] > 1:
            feats.add("square")
    for op in g.ops:
        ins_view = any(u in from_view for u in op.inputs)
        ins_red = any(u in from_reduce for u in op.inputs)
        if is_reduce(op) and ins_view:
            feats.add("view->reduce")
        if is_view(op) and ins_red:
            feats.add("reduce->view")
        elementwise = isinstance(op.opdef.lower, Elementwise)
        for o in op.outputs:
            if is_view(op) or (ins_view and (elementwise or is_view(op))):
                from_view.add(o)
            if is_reduce(op) or (ins_red and (elementwise or is_view(op))):
                from_reduce.add(o)
    return sorted(feats)


OPTIONAL_PASSES = ("simplify", "cse", "batch_dots", "dce", "conv_gemm")
FUSE_MODES = ("default", "no_merge", "no_recompute", "off")


@st.composite
def pipelines(draw):
    """``(label, passes)``: the default pipeline with each optional pass on or off and fusion
    in one of its modes (shrinks to the default pipeline). Type inference and decomposition
    always run: codegen needs complete types and primitives."""
    off = draw(st.sets(st.sampled_from(OPTIONAL_PASSES)))
    fuse = draw(st.sampled_from(FUSE_MODES))
    return _label(off, fuse), make_passes(off, fuse)


def _label(off, fuse) -> str:
    """``"-cse -dce fuse=off"``: the passes left out and the fusion mode."""
    return " ".join([f"-{p}" for p in sorted(off)] + [f"fuse={fuse}"])


def make_passes(off=(), fuse="default") -> list:
    """The default pipeline less the passes in ``off``, with fusion in mode ``fuse``."""
    from ..passes.batch_dots import BatchDots
    from ..passes.conv_gemm import ConvToGemm
    from ..passes.cse import CSE
    from ..passes.dce import DCE
    from ..passes.decompose import Decompose
    from ..passes.fuse import Fuse
    from ..passes.infer import InferTypes
    from ..passes.simplify import Simplify
    passes = [InferTypes(require_complete=True), Decompose()]
    for name, p in (("simplify", Simplify), ("cse", CSE), ("batch_dots", BatchDots),
                    ("cse", CSE), ("dce", DCE), ("conv_gemm", ConvToGemm)):
        if name not in off:
            passes.append(p())
    passes.append({"default": lambda: Fuse(), "no_merge": lambda: Fuse(merge=False),
                   "no_recompute": lambda: Fuse(recompute_limit=0),
                   "off": lambda: Fuse(recompute_limit=0, merge=False)}[fuse]())
    return passes


def inputs_for(g: Graph, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, v.type.shape).astype(v.type.dtype.numpy) for v in g.inputs]
