"""Automatic mixed precision: insert ``amp_cast`` / ``amp_multicast`` as MXNet 1.9.1's
``ReducePrecision`` graph pass does (what ``mx.contrib.amp.convert_symbol`` runs).

The ops are visited in MXNet's order (the graph's op order, from the symbol's DFS) and each is
handled by the list its operator is in:

- an **fp32** op (``fp32_ops``, an excluded symbol name, or a conditional-fp32 op whose attribute
  has one of the listed values) keeps float32 inputs: an input that an earlier op produced in the
  target dtype is cast back (``<name>_<output>_amp_cast_float32``, shared by all readers);
- a **target-dtype** op (``target_ops``: Convolution, FullyConnected ...) is converted when its
  dtype rule accepts the target dtype for its first input: every input that rule then puts in the
  target dtype is cast (``<name>_amp_cast_float16``; one cast per value, shared), and outputs the
  rule gives in the target dtype are known to be low precision. An op whose target-dtype inputs
  would include an auxiliary state (mutated in place: BatchNorm's moving statistics) stays fp32;
- a **widest-type** op (``widest_ops``: elemwise_add, Concat ...) runs in the target dtype when
  all its inputs are low precision, else in float32 (MXNet 1.9.1's pass casts the low-precision
  inputs back rather than inserting ``amp_multicast``, which ``amp.init``'s wrappers use);
- any **other** op runs in the target dtype when one of its inputs already is (so a chain
  conv -> relu -> pool stays low precision), else as is. An existing ``amp_cast`` to the target
  dtype marks its input and output as low precision.

Graph outputs left in the target dtype are cast back to float32. Cast names follow MXNet:
``<node><suffix>_amp_cast_<dtype>``, where the suffix is empty for a variable, ``_<output name>``
for operators that name their outputs (legacy layers: FullyConnected's ``_output``) and
``_<index>`` for the others (``flatten_0``). ``cast_optional_params`` additionally stores
parameters that are only read through their low-precision cast in the target dtype (their
variable gets ``__dtype__``; :func:`mxc.contrib.amp.convert_model` casts the arrays).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.core import Builder, Graph, Op, Value, infer_op_types
from ..ir.registry import RuleCtx, get_op
from ..ir.types import DType, TensorType
from .base import Pass, PassContext

__all__ = ["NAMED_OUTPUT_OPS", "ReducePrecision"]

# operators whose outputs MXNet names (FListOutputNames): cast names use the output's name
NAMED_OUTPUT_OPS = frozenset({
    "Activation", "BatchNorm", "CTCLoss", "Convolution", "Custom", "Deconvolution", "Dropout",
    "FullyConnected", "GroupNorm", "LRN", "LayerNorm", "LeakyReLU", "Pooling", "RNN",
    "SoftmaxActivation", "SoftmaxOutput", "UpSampling", "Concat", "_rnn_param_concat",
    "_contrib_BatchNormWithReLU", "_contrib_ROIAlign", "_contrib_RROIAlign",
    "_contrib_hawkesll", "_contrib_index_array", "_contrib_interleaved_matmul_encdec_qk",
    "_contrib_interleaved_matmul_encdec_valatt", "_contrib_interleaved_matmul_selfatt_qk",
    "_contrib_interleaved_matmul_selfatt_valatt", "col2im", "im2col", "make_loss", "softmax",
    "softmin", "elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div",
    # MXNet's legacy OperatorProperty layers list their outputs too
    "BatchNorm_v1", "BilinearSampler", "Convolution_v1", "Correlation", "Crop",
    "GridGenerator", "IdentityAttachKLSparseReg", "InstanceNorm", "L2Normalization", "MakeLoss",
    "Pad", "Pooling_v1", "ROIPooling", "SVMOutput", "SequenceLast", "SequenceMask",
    "SequenceReverse", "SliceChannel", "SpatialTransformer", "SwapAxis",
    "_contrib_DeformableConvolution", "_contrib_DeformablePSROIPooling",
    "_contrib_MultiBoxDetection", "_contrib_MultiBoxPrior", "_contrib_MultiBoxTarget",
    "_contrib_MultiProposal", "_contrib_PSROIPooling", "_contrib_Proposal",
    "_contrib_SyncBatchNorm", "_contrib_count_sketch", "_contrib_fft", "_contrib_ifft",
})


@dataclass
class ReducePrecision(Pass):
    """Options are MXNet's: operator names (canonical) per list, conditional fp32 ops as
    ``{op: {attr: [values as MXNet strings]}}``, excluded symbol names, and the names of the
    data inputs (not parameters; only ``cast_optional_params`` reads them).

    ``op_attrs`` (optional) gives, per op of the input graph, its MXNet string attributes, which
    conditional fp32 checks compare (the symbol's own strings; without it the typed attrs are
    compared as strings). :meth:`rewrite` also says where the result came from: ``origin`` maps
    each op of the result that came from an input op to that op (the new casts are absent), and
    ``offline_params`` lists the parameters ``cast_optional_params`` stores in the target
    dtype."""

    name = "reduce_precision"
    target_dtype: DType = DType.f16
    target_ops: frozenset = frozenset()
    fp32_ops: frozenset = frozenset()
    widest_ops: frozenset = frozenset()
    conditional_fp32_ops: dict = field(default_factory=dict)
    excluded: frozenset = frozenset()
    data_names: frozenset = frozenset()
    cast_optional_params: bool = False
    op_attrs: dict | None = None

    def run(self, g: Graph, ctx: PassContext) -> Graph:
        return self.rewrite(g)[0]

    def rewrite(self, g: Graph) -> tuple[Graph, dict, list]:
        """``(graph, origin, offline_params)``: the pass's result and where it came from (see
        the class doc)."""
        r = _Run(self, g)
        out = r.run()
        return out, r.origin, r.offline_params


class _Run:
    def __init__(self, p: ReducePrecision, g: Graph):
        self.p, self.g = p, g
        self.tname = p.target_dtype.np_name
        self.b = Builder(g.name)
        self.mirror: dict[Value, Value] = {}    # old value -> its copy in the new graph
        self.lp: dict[Value, Value] = {}        # old value -> the new value in the target dtype
        self.fp32: dict[Value, Value] = {}      # old value -> the new value cast to float32
        self.cast_ops: set = set()              # ops this pass created
        for v in g.inputs:
            self.mirror[v] = self.b.input(v.name, v.type)
        self.is_input = set(g.inputs)
        self.origin: dict = {}                  # new op -> the input op it copies
        self.offline_params: list = []          # parameters stored in the target dtype

    # -- helpers --------------------------------------------------------------------------------
    def suffix(self, v: Value) -> str:
        if v in self.is_input:
            return ""
        op = v.op
        if canonical(op.opname) in NAMED_OUTPUT_OPS:
            return "_" + op.opdef.list_outputs(op.attrs)[v.index]
        return f"_{v.index}"

    def src_name(self, v: Value) -> str:
        return v.name if v in self.is_input else (v.op.name or "")

    def cast(self, old: Value, src: Value, dt: DType) -> Value:
        name = f"{self.src_name(old)}{self.suffix(old)}_amp_cast_{dt.np_name}"
        out = self.b.op("amp_cast", [src], {"dtype": dt.np_name}, name)
        self.cast_ops.add(out.op)
        return out

    def emit(self, op: Op, inputs: list) -> Op:
        try:
            _, out_t = infer_op_types(op.opdef, op.attrs, op.name, [v.type for v in inputs],
                                      op.body)
        except Exception:      # noqa: BLE001 - a rule that cannot type the new mix: keep old
            out_t = [v.type for v in op.outputs]
        out_t = [TensorType(t.shape if t.shape is not None else o.type.shape, t.dtype)
                 for t, o in zip(out_t, op.outputs)]
        outs = [Value(t, v.name) for t, v in zip(out_t, op.outputs)]
        new = Op(op.opname, inputs, op.attrs, outs, op.name, op.body)
        self.b.ops.append(new)
        self.origin[new] = op
        for o, n in zip(op.outputs, outs):
            self.mirror[o] = n
        return new

    def dtype_rule(self, op: Op, in_dts: list):
        """The op's dtype rule on partial input dtypes: (inputs, outputs), or None when it
        fails or leaves an output unknown (MXNet's FInferType returning false)."""
        od = op.opdef
        try:
            din, dout = od.infer_dtype(RuleCtx(od, op.attrs, op.name), list(in_dts))
        except Exception:      # noqa: BLE001 - the op refuses the target dtype
            return None
        if any(d is None for d in dout):
            return None
        return list(din), list(dout)

    # -- MXNet's helpers ------------------------------------------------------------------------
    def original_or_fp32(self, old: Value) -> Value:
        """keep_original_input_or_cast_it_to_f32"""
        if old in self.fp32:
            return self.fp32[old]
        lp = self.lp.get(old)
        if lp is not None and (lp.op is None or lp.op not in self.cast_ops):
            c = self.cast(old, self.mirror[old], DType.f32)
            self.fp32[old] = c
            return c
        return self.mirror[old]

    def keep_original(self, op: Op) -> Op:
        return self.emit(op, [self.original_or_fp32(v) for v in op.inputs])

    def try_low_precision(self, op: Op) -> bool:
        t = self.p.target_dtype
        n = len(op.inputs)
        rule = self.dtype_rule(op, [t] + [None] * (n - 1))
        if rule is None:
            return False
        in_dts, out_dts = rule
        n_args = len(op.opdef.list_arguments(op.attrs))
        if any(d == t for d in in_dts[n_args:]):        # a mutated auxiliary state
            return False
        ins = []
        for old, d in zip(op.inputs, in_dts):
            if d == t:
                if old not in self.lp:
                    self.lp[old] = self.cast(old, self.mirror[old], t)
                ins.append(self.lp[old])
            else:
                ins.append(self.original_or_fp32(old))
        new = self.emit(op, ins)
        for old, nv, d in zip(op.outputs, new.outputs, out_dts):
            if d == t:
                self.lp[old] = nv
        return True

    def try_widest(self, op: Op) -> bool:
        is_lp = [v in self.lp for v in op.inputs]
        if not any(is_lp):
            return False
        if all(is_lp):
            new = self.emit(op, [self.lp[v] for v in op.inputs])
            rule = self.dtype_rule(op, [self.p.target_dtype] * len(op.inputs))
            if rule is not None:
                for old, nv, d in zip(op.outputs, new.outputs, rule[1]):
                    if d == self.p.target_dtype:
                        self.lp[old] = nv
            return True
        # mixed inputs: MXNet 1.9.1 runs the op in float32 (its low-precision inputs are cast
        # back), not through amp_multicast
        return False

    def conditional_fp32(self, op: Op) -> bool:
        cond = self.p.conditional_fp32_ops.get(canonical(op.opname))
        if not cond:
            return False
        raw = (self.p.op_attrs or {}).get(op)
        for key, values in cond.items():
            if raw is not None:
                got = raw.get(key)
            else:
                got = op.attrs.get(key)
                got = None if got is None else str(got)
            if got is not None and got in values:
                return True
        return False

    # -- the pass -------------------------------------------------------------------------------
    def run(self) -> Graph:
        p = self.p
        for op in self.g.ops:
            name = canonical(op.opname)
            if name in p.fp32_ops or op.name in p.excluded or self.conditional_fp32(op):
                self.keep_original(op)
            elif name in p.target_ops:
                if not self.try_low_precision(op):
                    self.keep_original(op)
            elif name in p.widest_ops:
                if not self.try_widest(op):
                    self.keep_original(op)
            else:
                if not (any(v in self.lp for v in op.inputs) and self.try_low_precision(op)):
                    new = self.keep_original(op)
                    if name == "amp_cast" and \
                            DType.parse(op.attrs["dtype"]) == p.target_dtype:
                        self.lp[op.inputs[0]] = new.outputs[0]
                        self.lp[op.outputs[0]] = new.outputs[0]
        outputs = []
        for v in self.g.outputs:     # low-precision graph outputs are cast back to float32
            if v in self.lp:
                if v not in self.fp32:
                    self.fp32[v] = self.cast(v, self.mirror[v], DType.f32)
                outputs.append(self.fp32[v])
            else:
                outputs.append(self.mirror[v])
        if p.cast_optional_params:
            self.cast_params_offline()
        return self.b.build(outputs)

    def cast_params_offline(self):
        """Parameters read only through their target-dtype cast are stored in that dtype: the
        cast is skipped and the variable typed (``__dtype__`` in the symbol)."""
        t = self.p.target_dtype
        readers: dict[Value, list[Op]] = {}
        for op in self.b.ops:
            for v in op.inputs:
                readers.setdefault(v, []).append(op)
        for old in self.g.inputs:
            if old.name in self.p.data_names or old not in self.lp:
                continue
            new_in = self.mirror[old]
            cast_v = self.lp[old]
            direct = [op for op in readers.get(new_in, []) if op not in self.cast_ops]
            if direct or cast_v.op is None or cast_v.op not in self.cast_ops:
                continue
            for op in readers.get(cast_v, []):
                op.inputs = [new_in if v is cast_v else v for v in op.inputs]
            self.b.ops.remove(cast_v.op)
            self.cast_ops.discard(cast_v.op)
            new_in.type = TensorType(new_in.type.shape, t)
            self.offline_params.append(old.name)


def canonical(opname: str) -> str:
    return get_op(opname).name
