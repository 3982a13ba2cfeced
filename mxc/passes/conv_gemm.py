"""2-D convolutions as GEMMs over im2col views (CPU).

On this CPU, a convolution library call (oneDNN through torch) reaches half the throughput
of one BLAS GEMM of the same FLOPs on LeNet-sized layers, and it is opaque to fusion. So,
for a 2-D, ungrouped, NCHW convolution (see :mod:`mxc.ir.opdefs.im2col` for the views):

- ``Convolution``: ``y = transpose(W (F, CKK) @ cols (CKK, N*P))`` + bias. The im2col copy
  feeding the GEMM is one generated kernel; the transposition back to NCHW, the bias and
  whatever elementwise work follows (the activation) fuse into the GEMM's epilogue kernel.
- ``_conv_backward_weight``: ``dW = dY (F, N*P) @ cols^T``.
- ``_conv_backward_data``: ``dcols = W^T @ dY``, then a reduction over the kernel taps of
  the ``_col2im`` view (col2im as one generated kernel, no scatter).

``dY (F, N*P)`` is ``transpose(dY, (1, 0, 2, 3))``: a copy the fusion pass folds into the
kernel producing ``dY``. On other targets (GPU: cuDNN) the pass leaves convolutions alone.
Every rewrite is a remark (``mxc dump --why-no-fuse`` lists them with the fusion remarks).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.core import Graph, Op, Rewriter, Value
from .base import Pass, PassContext
from .dce import DCE

__all__ = ["ConvToGemm"]

CHUNK_BYTES = 1 << 20      # the L2 cache of one core, on the machines we measure
_OPS = ("Convolution", "_conv_backward_data", "_conv_backward_weight")


def _cfg(op: Op):
    a = op.attrs
    if op.opname == "Convolution":
        k = tuple(a["kernel"])
    else:
        k = tuple(a["out_shape"][2:]) if op.opname == "_conv_backward_weight" else None
    nd = len(a["stride"]) if k is None else len(k)
    stride = tuple(a["stride"]) or (1,) * nd
    dilate = tuple(a["dilate"]) or (1,) * nd
    pad = tuple(a["pad"]) or (0,) * nd
    return k, stride, dilate, pad


def _qualifies(op: Op) -> str | None:
    """None if ``op`` becomes GEMMs here, else why not."""
    a = op.attrs
    if a.get("num_group", 1) != 1:
        return "grouped convolution"
    if op.opname == "Convolution" and a.get("layout") not in (None, "NCHW"):
        return f"layout {a.get('layout')}"
    _, stride, _, _ = _cfg(op)
    if len(stride) != 2:
        return f"{len(stride)}-D convolution"
    if not op.outputs[0].dtype.is_float:
        return "integer convolution"
    return None


def _chunks(n: int, total_bytes: int, budget: int) -> list[tuple[int, int]]:
    """Split a batch of ``n`` into equal blocks whose columns take at most ``budget`` bytes
    (the fewest blocks that do; one sample per block at worst)."""
    for k in range(1, n + 1):
        if n % k == 0 and total_bytes // k <= budget:
            break
    step = n // k
    return [(i, i + step) for i in range(0, n, step)]


@dataclass
class ConvToGemm(Pass):
    """``chunk_bytes`` bounds the im2col columns of one GEMM: a batch whose columns take more
    is split into blocks along the batch axis (the columns of one block are written and read
    while they sit in the L2 cache, and the peak memory of a training step no longer holds
    whole-batch columns). Forward blocks are concatenated into one buffer (each block's
    epilogue writes its rows in place), and elementwise work that follows the convolution
    (its activation) moves into the blocks; weight gradients are sums of per-block GEMMs."""
    name = "conv_gemm"
    chunk_bytes: int = field(default_factory=lambda: CHUNK_BYTES)

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        if ctx.target not in ("cpu", "llvm"):
            return g
        if not any(op.opname in _OPS for op in g.ops):
            return g
        return _ConvRewrite(self.name, self.chunk_bytes).run(g, ctx)


class _ConvRewrite:
    """One run of :class:`ConvToGemm` (the pass object holds only its options)."""

    def __init__(self, name: str, chunk_bytes: int):
        self.name = name
        self.chunk_bytes = chunk_bytes
        self._memo: dict = {}
        self._parts: dict[Value, list[Value]] = {}      # blocked concat -> its blocks

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        rw = Rewriter(g)
        users = g.users()
        for op in g.ops:
            if op.opname not in _OPS:
                if not self._sink(rw, op, users):
                    rw.copy(op)
                continue
            why = _qualifies(op)
            if why is not None:
                ctx.remark(self.name, "keep", f"{op.opname} '{op.name}': library call ({why})")
                rw.copy(op)
                continue
            start = len(rw.b.ops)
            ins = [rw.get(v) for v in op.inputs]
            out = getattr(self, "_" + op.opname.lstrip("_"))(rw.b, op, ins)
            for new in rw.b.ops[start:]:
                if new.name is None:
                    new.name = op.name
            if out.name is None:
                out.name = op.outputs[0].name
            rw.alias(op.outputs[0], out)
            n_blocks = max(1, len(self._parts.get(out, ())))
            ctx.remark(self.name, "gemm", f"{op.opname} '{op.name}': im2col + GEMM"
                       + (f" in {n_blocks} batch blocks" if n_blocks > 1 else ""))
        return DCE().run(rw.finish(), ctx)      # concats whose blocks moved on

    def _blocks(self, n, c, kernel, out_hw, dtype) -> list[tuple[int, int]]:
        per_sample = c * kernel[0] * kernel[1] * out_hw[0] * out_hw[1] * dtype.itemsize
        return _chunks(n, per_sample * n, self.chunk_bytes)

    def _concat(self, b, parts: list[Value]) -> Value:
        if len(parts) == 1:
            return parts[0]
        out = b.op("Concat", parts, {"num_args": len(parts), "dim": 0})
        self._parts[out] = parts
        return out

    def _sink(self, rw, op: Op, users) -> bool:
        """An elementwise op whose only blocked operand is read by it alone runs per block
        (other operands must broadcast along the batch axis): True if rewritten."""
        from ..ir.registry import Elementwise
        if not isinstance(op.opdef.lower, Elementwise) or len(op.outputs) != 1:
            return False
        ins = [rw.get(v) for v in op.inputs]
        blocked = [i for i, v in enumerate(ins) if v in self._parts]
        if len(blocked) != 1 or len(users.get(op.inputs[blocked[0]], ())) != 1:
            return False
        nd = len(op.outputs[0].shape)
        if op.inputs[blocked[0]].shape != op.outputs[0].shape:
            return False
        for i, v in enumerate(ins):
            if i != blocked[0] and len(v.shape) == nd and v.shape[0] != 1:
                return False
        parts = []
        for p in self._parts[ins[blocked[0]]]:
            args = list(ins)
            args[blocked[0]] = p
            parts.append(rw.b.op(op.opname, args, op.attrs, op.name, parsed=True))
        out = self._concat(rw.b, parts)
        out.name = op.outputs[0].name
        rw.alias(op.outputs[0], out)
        return True

    # -- the three rewrites -----------------------------------------------------------------------
    # The pass runs after CSE, so it shares what its rewrites would compute twice itself: one
    # (F, N*P) view of an output gradient for both backward GEMMs, one im2col per input and
    # phase. The forward's im2col is not shared with the weight gradient's: recomputing it
    # (one copy kernel) costs far less than keeping C*KH*KW*N*P floats alive across the step.
    @staticmethod
    def _rows_of(b, x: Value, lo: int, hi: int) -> Value:
        if (lo, hi) == (0, x.shape[0]):
            return x
        return b.op("slice_axis", [x], {"axis": 0, "begin": lo, "end": hi})

    def _cols(self, b, x: Value, op: Op, kernel, lo: int, hi: int) -> Value:
        _, stride, dilate, pad = _cfg(op)
        attrs = {"kernel": tuple(kernel), "stride": stride, "dilate": dilate, "pad": pad}
        key = ("cols", x, lo, hi, op.opname == "Convolution", tuple(sorted(attrs.items())))
        if key not in self._memo:
            cols = b.op("_im2col", [self._rows_of(b, x, lo, hi)], attrs)
            c, kh, kw, n, oh, ow = cols.shape
            self._memo[key] = b.reshape(cols, (c * kh * kw, n * oh * ow))
        return self._memo[key]

    def _rows(self, b, dy: Value, lo: int, hi: int) -> Value:
        """(N, F, OH, OW)[lo:hi] -> (F, (hi-lo)*OH*OW)."""
        key = ("rows", dy, lo, hi)
        if key not in self._memo:
            _, f, oh, ow = dy.shape
            t = b.transpose(self._rows_of(b, dy, lo, hi), (1, 0, 2, 3))
            self._memo[key] = b.reshape(t, (f, (hi - lo) * oh * ow))
        return self._memo[key]

    def _wmat(self, b, w: Value) -> Value:
        key = ("w", w)
        if key not in self._memo:
            self._memo[key] = b.reshape(w, (w.shape[0], -1))
        return self._memo[key]

    def _Convolution(self, b, op, ins) -> Value:
        x, w = ins[0], ins[1]
        f = w.shape[0]
        _, oh, ow = op.outputs[0].shape[1:]
        bias = None if op.attrs["no_bias"] else b.reshape(ins[2], (1, f, 1, 1))
        parts = []
        for lo, hi in self._blocks(x.shape[0], x.shape[1], w.shape[2:], (oh, ow), x.dtype):
            y = b.op("dot", [self._wmat(b, w), self._cols(b, x, op, w.shape[2:], lo, hi)])
            y = b.transpose(b.reshape(y, (f, hi - lo, oh, ow)), (1, 0, 2, 3))
            if bias is not None:
                y = b.op("broadcast_add", [y, bias])
            parts.append(y)
        return self._concat(b, parts)

    def _conv_backward_weight(self, b, op, ins) -> Value:
        x, dy = ins
        shape = tuple(op.attrs["out_shape"])
        dw = None
        for lo, hi in self._blocks(x.shape[0], x.shape[1], shape[2:], dy.shape[2:], x.dtype):
            part = b.op("dot", [self._rows(b, dy, lo, hi),
                                self._cols(b, x, op, shape[2:], lo, hi)],
                        {"transpose_b": True})
            dw = part if dw is None else b.op("elemwise_add", [dw, part])
        return b.reshape(dw, shape)

    def _conv_backward_data(self, b, op, ins) -> Value:
        dy, w = ins
        _, stride, dilate, pad = _cfg(op)
        f, c, kh, kw = w.shape
        n, _, oh, ow = dy.shape
        h, wd = tuple(op.attrs["out_shape"][2:])
        parts = []
        for lo, hi in self._blocks(n, c, (kh, kw), (oh, ow), dy.dtype):
            dcols = b.op("dot", [self._wmat(b, w), self._rows(b, dy, lo, hi)],
                         {"transpose_a": True})
            dcols = b.reshape(dcols, (c, kh, kw, hi - lo, oh, ow))
            win = b.op("_col2im", [dcols], {"kernel": (kh, kw), "stride": stride,
                                            "dilate": dilate, "pad": pad, "out_hw": (h, wd)})
            parts.append(b.op("sum", [win], {"axis": (4, 5)}))
        return self._concat(b, parts)
