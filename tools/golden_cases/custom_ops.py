"""Custom operators (``mx.operator.CustomOp``) written once for both MXNet 1.9.1 and mxc.

``define(mx)`` registers them with the given ``mx`` module (``mxnet`` under the oracle, ``mxc``
in tests); ``tools/make_custom_op_golden.py`` records MXNet's results with them and
``tests/test_custom_op.py`` checks mxc against those. Written the way MXNet users write custom
ops (numpy inside forward/backward, results through ``self.assign``).

- ``golden_softmax``: softmax with a cross-entropy gradient (``need_top_grad=False``), arguments
  ``data``, ``label``; the gradient is ``softmax - onehot(label)``, as SoftmaxOutput's.
- ``golden_scale_aux``: ``out = data * scale`` (``scale`` a keyword argument, a string to the
  Prop) with an auxiliary state ``count`` (shape (1,)) that a training forward increments.
- ``golden_two_out``: arguments ``a``, ``b``; outputs ``prod = a * b`` and ``sq = a ** 2``.
  (MXNet 1.9.1 cannot bind a custom op with both several outputs and auxiliary states: its
  storage-type inference fails, so the two are separate operators.)
- ``golden_cast_half``: ``out = data`` cast to float16 (its own ``infer_type``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["define", "mlp_setup", "mlp_symbol"]


def define(mx):
    class Softmax(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            x = in_data[0].asnumpy()
            e = np.exp(x - x.max(axis=1, keepdims=True))
            self.assign(out_data[0], req[0], mx.nd.array(e / e.sum(axis=1, keepdims=True)))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            lab = in_data[1].asnumpy().ravel().astype(np.int64)
            g = out_data[0].asnumpy().copy()
            g[np.arange(lab.shape[0]), lab] -= 1.0
            self.assign(in_grad[0], req[0], mx.nd.array(g))
            self.assign(in_grad[1], req[1], mx.nd.zeros(in_grad[1].shape))

    @mx.operator.register("golden_softmax")
    class SoftmaxProp(mx.operator.CustomOpProp):
        def __init__(self):
            super().__init__(need_top_grad=False)

        def list_arguments(self):
            return ["data", "label"]

        def list_outputs(self):
            return ["output"]

        def infer_shape(self, in_shape):
            return [in_shape[0], (in_shape[0][0],)], [in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return Softmax()

    class ScaleAux(mx.operator.CustomOp):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale

        def forward(self, is_train, req, in_data, out_data, aux):
            x = in_data[0].asnumpy()
            self.assign(out_data[0], req[0], mx.nd.array(x * self.scale))
            if is_train:
                aux[0][:] = aux[0].asnumpy() + 1.0

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], mx.nd.array(out_grad[0].asnumpy() * self.scale))

    @mx.operator.register("golden_scale_aux")
    class ScaleAuxProp(mx.operator.CustomOpProp):
        def __init__(self, scale="1.0"):
            super().__init__(need_top_grad=True)
            self.scale = float(scale)

        def list_arguments(self):
            return ["data"]

        def list_outputs(self):
            return ["out"]

        def list_auxiliary_states(self):
            return ["count"]

        def infer_shape(self, in_shape):
            return [in_shape[0]], [in_shape[0]], [(1,)]

        # MXNet 1.9.1's default storage-type rules fail for ops with auxiliary states (its own
        # test_custom_op overrides both, as here)
        def infer_storage_type(self, in_stype):
            return ["default"], ["default"], ["default"]

        def infer_storage_type_backward(self, ograd_stype, in_stype, out_stype, igrad_stype,
                                        aux_stype):
            return ["default"], ["default"], ["default"], ["default"], ["default"]

        def create_operator(self, ctx, shapes, dtypes):
            return ScaleAux(self.scale)

    class TwoOut(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            x = in_data[0].asnumpy()
            y = in_data[1].asnumpy()
            self.assign(out_data[0], req[0], mx.nd.array(x * y))
            self.assign(out_data[1], req[1], mx.nd.array(x * x))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            x = in_data[0].asnumpy()
            y = in_data[1].asnumpy()
            g0 = out_grad[0].asnumpy()
            g1 = out_grad[1].asnumpy()
            self.assign(in_grad[0], req[0], mx.nd.array(g0 * y + g1 * 2.0 * x))
            self.assign(in_grad[1], req[1], mx.nd.array(g0 * x))

    @mx.operator.register("golden_two_out")
    class TwoOutProp(mx.operator.CustomOpProp):
        def list_arguments(self):
            return ["a", "b"]

        def list_outputs(self):
            return ["prod", "sq"]

        def infer_shape(self, in_shape):
            return [in_shape[0], in_shape[0]], [in_shape[0], in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return TwoOut()

    class CastHalf(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0],
                        mx.nd.array(in_data[0].asnumpy().astype(np.float16), dtype=np.float16))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], mx.nd.array(out_grad[0].asnumpy()
                                                        .astype(np.float32)))

    @mx.operator.register("golden_cast_half")
    class CastHalfProp(mx.operator.CustomOpProp):
        def infer_type(self, in_type):
            return [in_type[0]], [np.float16], []

        def create_operator(self, ctx, shapes, dtypes):
            return CastHalf()


def mlp_symbol(mx, builtin: bool):
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("softmax_label")
    h = mx.sym.FullyConnected(data, num_hidden=8, name="fc1")
    h = mx.sym.Activation(h, act_type="relu", name="relu1")
    h = mx.sym.FullyConnected(h, num_hidden=3, name="fc2")
    if builtin:
        return mx.sym.SoftmaxOutput(h, label, name="softmax")
    return mx.sym.Custom(h, label, op_type="golden_softmax", name="softmax")


def mlp_setup():
    rs = np.random.RandomState(0)
    x = rs.randn(20, 6).astype(np.float32)
    y = rs.randint(0, 3, size=(20,)).astype(np.float32)
    init = {"fc1_weight": rs.randn(8, 6) * 0.3, "fc1_bias": rs.randn(8) * 0.1,
            "fc2_weight": rs.randn(3, 8) * 0.3, "fc2_bias": rs.randn(3) * 0.1}
    return x, y, {k: v.astype(np.float32) for k, v in init.items()}
