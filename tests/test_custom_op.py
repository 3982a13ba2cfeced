"""Python custom operators (mx.operator.CustomOp / CustomOpProp / register, mx.sym.Custom,
mx.nd.Custom), checked the way MXNet's test_custom_op* do, and against MXNet 1.9.1's results
for the same operators (tests/data/custom_op_golden.npz, written by
tools/make_custom_op_golden.py from tools/golden_cases/custom_ops.py)."""
import json
import os
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from golden_cases.custom_ops import define, mlp_setup, mlp_symbol

define(mx)
GOLD = np.load(os.path.join(HERE, "data", "custom_op_golden.npz"))
TARGETS = ["llvm", "triton"]


def close(a, b, rtol=1e-5, atol=1e-6, what=""):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol, err_msg=what)


# -- the MXNet surface --------------------------------------------------------------------------
def test_module_surface():
    assert issubclass(mx.operator.CustomOpProp, object)
    assert callable(mx.operator.register)
    names = mx.operator.get_all_registered_operators()
    assert "Custom" in names and "FullyConnected" in names and "fused" not in names
    assert "golden_softmax" not in names      # as in MXNet: backend operators only
    import mxc.operator as op_mod
    assert op_mod is mx.operator
    with pytest.raises(mx.base.UnsupportedError, match="NumpyOp"):
        mx.operator.NumpyOp()


def test_symbol_interface_and_json_match_mxnet():
    d = mx.sym.Variable("data")
    s = mx.sym.Custom(d, op_type="golden_scale_aux", scale=2.5, name="sa")
    assert s.list_arguments() == ["data"]
    assert s.list_auxiliary_states() == ["sa_count"]
    assert s.list_outputs() == ["sa_out"]
    arg, out, aux = s.infer_shape(data=(3, 4))
    assert arg == [(3, 4)] and out == [(3, 4)] and aux == [(1,)]
    # a missing argument becomes a variable carrying the node's attributes (MXNet does so)
    sm = mx.sym.Custom(d, op_type="golden_softmax", name="sm")
    assert sm.list_arguments() == ["data", "sm_label"]
    assert sm.infer_shape(data=(4, 3))[0] == [(4, 3), (4,)]

    @mx.operator.register("test_json_kw")
    class KwProp(mx.operator.CustomOpProp):
        def __init__(self, zeta="1", alpha="2"):
            super().__init__()

        def create_operator(self, ctx, shapes, dtypes):
            return mx.operator.CustomOp()

    js = json.loads(mx.sym.Custom(d, zeta=3, op_type="test_json_kw", alpha=[1, 2],
                                  name="c").tojson())
    node = next(n for n in js["nodes"] if n["op"] == "Custom")
    # MXNet 1.9.1 writes: {"alpha": "[1, 2]", "op_type": "test_json_kw", "zeta": "3"}
    assert node["attrs"] == {"alpha": "[1, 2]", "op_type": "test_json_kw", "zeta": "3"}
    assert list(node["attrs"]) == sorted(node["attrs"])
    assert mx.sym.Custom(d, op_type="golden_softmax").name.startswith("custom")


def test_json_round_trip_and_unregistered():
    s = mx.sym.Custom(mx.sym.Variable("data"), op_type="golden_scale_aux", scale=2.5,
                      name="sa")
    s2 = mx.sym.load_json(s.tojson())
    assert s2.tojson() == s.tojson()
    assert s2.list_auxiliary_states() == ["sa_count"]
    bad = s.tojson().replace("golden_scale_aux", "never_registered_op")
    with pytest.raises(MXNetError, match="never_registered_op"):
        mx.sym.load_json(bad)
    with pytest.raises(MXNetError, match="never_registered_op"):
        mx.sym.Custom(mx.sym.Variable("x"), op_type="never_registered_op")


# -- training: custom softmax == SoftmaxOutput == MXNet ---------------------------------------
def _fit(builtin, monkeypatch, target):
    monkeypatch.setenv("MXC_TARGET", target)
    x, y, init = mlp_setup()
    it = mx.io.NDArrayIter(x, y, batch_size=5, shuffle=False, label_name="softmax_label")
    mod = mx.mod.Module(mlp_symbol(mx, builtin), data_names=["data"],
                        label_names=["softmax_label"], context=mx.cpu())
    mod.fit(it, num_epoch=2, optimizer="sgd", optimizer_params={"learning_rate": 0.5},
            arg_params={k: mx.nd.array(v) for k, v in init.items()}, allow_missing=False)
    args, _ = mod.get_params()
    return {k: v.asnumpy() for k, v in args.items()}


@pytest.mark.parametrize("target", TARGETS)
def test_mlp_fit_custom_softmax(target, monkeypatch):
    custom = _fit(False, monkeypatch, target)
    builtin = _fit(True, monkeypatch, target)
    assert sorted(custom) == ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"]
    for k in custom:
        close(custom[k], builtin[k], 1e-4, 1e-5, f"{k}: custom vs SoftmaxOutput ({target})")
        close(custom[k], GOLD[f"mlp:final:{k}"], 1e-4, 1e-5, f"{k}: vs MXNet ({target})")
        close(builtin[k], GOLD[f"mlp_builtin:final:{k}"], 1e-4, 1e-5, f"{k} builtin vs MXNet")


def test_custom_op_in_bucketing_module():
    """A Custom output layer trains under BucketingModule (one symbol per sequence length)."""
    def sym_gen(key):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        h = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
        out = mx.sym.Custom(h, label, op_type="golden_softmax", name="softmax")
        return out, ("data",), ("softmax_label",)

    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=4, context=mx.cpu())
    mod.bind(data_shapes=[("data", (4, 6))], label_shapes=[("softmax_label", (4,))])
    mod.init_params(initializer=mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1})
    rs = np.random.RandomState(3)
    before = mod.get_params()[0]["fc_weight"].asnumpy().copy()
    for key in (4, 2, 4):
        batch = mx.io.DataBatch([mx.nd.array(rs.randn(key, 6))],
                                [mx.nd.array(rs.randint(0, 3, key))], bucket_key=key,
                                provide_data=[("data", (key, 6))],
                                provide_label=[("softmax_label", (key,))])
        mod.forward(batch, is_train=True)
        out = mod.get_outputs()[0].asnumpy()
        assert out.shape == (key, 3)
        close(out.sum(axis=1), np.ones(key), 1e-5, 1e-5, "softmax rows")
        mod.backward()
        mod.update()
    assert not np.allclose(mod.get_params()[0]["fc_weight"].asnumpy(), before)


# -- aux states, grad_req='add', several outputs ---------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
def test_aux_states_and_grad_req_add(target, monkeypatch):
    monkeypatch.setenv("MXC_TARGET", target)
    x, og0 = GOLD["aux:data"], GOLD["aux:og0"]
    s = mx.sym.Custom(mx.sym.Variable("data"), op_type="golden_scale_aux", scale=2.5,
                      name="sa")
    ex = s.simple_bind(mx.cpu(), data=x.shape, grad_req="add")
    ex.arg_dict["data"][:] = x
    ex.grad_dict["data"][:] = 0
    ex.aux_dict["sa_count"][:] = 0
    for _ in range(2):
        ex.forward(is_train=True)
        ex.backward([mx.nd.array(og0)])
    close(ex.outputs[0].asnumpy(), GOLD["aux:out"], what="out")
    close(ex.grad_dict["data"].asnumpy(), GOLD["aux:grad"], what="accumulated grad")
    close(ex.aux_dict["sa_count"].asnumpy(), GOLD["aux:count"], what="aux count")
    # inference leaves the state alone (the op only counts training passes)
    ex.forward(is_train=False)
    close(ex.aux_dict["sa_count"].asnumpy(), GOLD["aux:count"], what="aux after inference")


@pytest.mark.parametrize("target", TARGETS)
def test_multiple_outputs(target, monkeypatch):
    monkeypatch.setenv("MXC_TARGET", target)
    a, b = GOLD["aux:data"], GOLD["aux:b"]
    s = mx.sym.Custom(mx.sym.Variable("a"), mx.sym.Variable("b"), op_type="golden_two_out",
                      name="two")
    assert s.list_outputs() == ["two_prod", "two_sq"]
    # fused work on both sides of the custom op
    s = mx.sym.Group([mx.sym.exp(s[0] * 0.0) * s[0], s[1] + 0.0])
    ex = s.simple_bind(mx.cpu(), a=a.shape, b=b.shape)
    ex.arg_dict["a"][:] = a
    ex.arg_dict["b"][:] = b
    ex.forward(is_train=True)
    ex.backward([mx.nd.array(GOLD["aux:og0"]), mx.nd.array(GOLD["aux:og1"])])
    close(ex.outputs[0].asnumpy(), GOLD["two:prod"], what="prod")
    close(ex.outputs[1].asnumpy(), GOLD["two:sq"], what="sq")
    close(ex.grad_dict["a"].asnumpy(), GOLD["two:grad_a"], what="grad a")
    close(ex.grad_dict["b"].asnumpy(), GOLD["two:grad_b"], what="grad b")


def test_infer_type_and_nd_custom():
    x = GOLD["half:data"]
    s = mx.sym.Custom(mx.sym.Variable("data"), op_type="golden_cast_half")
    _, out_t, _ = s.infer_type(data=np.float32)
    assert out_t == [np.float16]
    y = mx.nd.Custom(mx.nd.array(x), op_type="golden_cast_half")
    assert y.dtype == np.float16
    close(y.asnumpy(), GOLD["half:out"], what="half")
    # nd.Custom updates auxiliary states in place (a non-training call leaves count alone)
    cnt = mx.nd.zeros((1,))
    r = mx.nd.Custom(mx.nd.array(x), cnt, op_type="golden_scale_aux", scale="2")
    close(r.asnumpy(), x * 2, what="nd scale")
    outs = mx.nd.Custom(mx.nd.array(x), mx.nd.ones(x.shape), op_type="golden_two_out")
    assert isinstance(outs, list) and len(outs) == 2
    close(outs[1].asnumpy(), x * x, what="nd two outputs")


# -- need_top_grad, assign -----------------------------------------------------------------------
def test_need_top_grad_false_takes_no_head_gradient():
    d = mx.sym.Variable("data")
    s = mx.sym.Custom(d, mx.sym.Variable("label"), op_type="golden_softmax", name="sm")
    ex = s.simple_bind(mx.cpu(), data=(4, 3), label=(4,), grad_req={"data": "write",
                                                                    "label": "null"})
    x = np.random.RandomState(0).randn(4, 3).astype(np.float32)
    lab = np.array([0, 2, 1, 2], np.float32)
    ex.forward(is_train=True, data=x, label=lab)
    ex.backward()                       # no out_grads: a loss layer
    e = np.exp(x - x.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    p[np.arange(4), lab.astype(int)] -= 1
    close(ex.grad_dict["data"].asnumpy(), p, what="softmax grad")


def test_assign_honours_req():
    op = mx.operator.CustomOp()
    dst = mx.nd.ones((2, 2))
    op.assign(dst, "null", mx.nd.array([[5, 5], [5, 5]]))
    close(dst.asnumpy(), np.ones((2, 2)))
    op.assign(dst, "write", mx.nd.array([[2, 2], [2, 2]]))
    close(dst.asnumpy(), 2 * np.ones((2, 2)))
    op.assign(dst, "inplace", np.full((2, 2), 3.0, np.float32))
    close(dst.asnumpy(), 3 * np.ones((2, 2)))
    op.assign(dst, "add", mx.nd.ones((2, 2)))
    close(dst.asnumpy(), 4 * np.ones((2, 2)))
    with pytest.raises(MXNetError, match="req"):
        op.assign(dst, "bogus", mx.nd.ones((2, 2)))


def test_req_add_inside_backward():
    """A CustomOp whose backward writes its gradient twice with 'add' after a 'write'."""
    class Twice(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], in_data[0] * 3)

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], out_grad[0])
            self.assign(in_grad[0], "add", out_grad[0] * 2)

    @mx.operator.register("test_twice")
    class TwiceProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Twice()

    s = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_twice")
    ex = s.simple_bind(mx.cpu(), x=(2, 3))
    ex.forward(is_train=True, x=np.ones((2, 3), np.float32))
    close(ex.outputs[0].asnumpy(), 3 * np.ones((2, 3)))
    ex.backward([mx.nd.ones((2, 3))])
    close(ex.grad_dict["x"].asnumpy(), 3 * np.ones((2, 3)))


def test_kwargs_reach_prop_as_strings():
    seen = []

    @mx.operator.register("test_kwargs")
    class KwProp(mx.operator.CustomOpProp):
        def __init__(self, factor, flag="no"):
            super().__init__()
            seen.append((factor, flag))
            self.factor = float(factor)

        def create_operator(self, ctx, shapes, dtypes):
            factor = self.factor

            class Op(mx.operator.CustomOp):
                def forward(self, is_train, req, in_data, out_data, aux):
                    self.assign(out_data[0], req[0], in_data[0] * factor)

                def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
                    self.assign(in_grad[0], req[0], out_grad[0] * factor)
            return Op()

    y = mx.nd.Custom(mx.nd.ones((2,)), op_type="test_kwargs", factor=1.5, flag=True)
    close(y.asnumpy(), [1.5, 1.5])
    assert ("1.5", "True") in seen
    with pytest.raises(MXNetError, match="test_kwargs"):
        mx.sym.Custom(mx.sym.Variable("x"), op_type="test_kwargs")   # factor is required


# -- errors ------------------------------------------------------------------------------------
def test_infer_shape_wrong_arity():
    @mx.operator.register("test_bad_shape")
    class BadProp(mx.operator.CustomOpProp):
        def list_outputs(self):
            return ["a", "b"]

        def infer_shape(self, in_shape):
            return [in_shape[0]], [in_shape[0]], []          # one output shape for two

        def create_operator(self, ctx, shapes, dtypes):
            return mx.operator.CustomOp()

    s = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_bad_shape", name="bad")
    with pytest.raises(MXNetError, match=r"Custom 'bad'.*test_bad_shape.*1 output shapes.*2"):
        s.infer_shape(x=(2, 3))


def test_forward_exception_propagates_with_op_name():
    class Boom(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            raise ValueError("user forward failed")

    @mx.operator.register("test_boom")
    class BoomProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Boom()

    s = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_boom", name="boomer")
    ex = s.simple_bind(mx.cpu(), x=(2,))
    with pytest.raises(ValueError, match=r"boomer.*test_boom.*forward.*user forward failed"):
        ex.forward(is_train=False, x=np.ones(2, np.float32))
    with pytest.raises(ValueError, match="user forward failed"):
        mx.nd.Custom(mx.nd.ones((2,)), op_type="test_boom")


def test_backward_and_infer_shape_exceptions_name_the_op():
    class Fine(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], in_data[0])

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            raise KeyError("no gradient here")

    @mx.operator.register("test_bad_backward")
    class BwdProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Fine()

    s = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_bad_backward", name="bb")
    ex = s.simple_bind(mx.cpu(), x=(2,))
    ex.forward(is_train=True, x=np.ones(2, np.float32))
    with pytest.raises(KeyError, match=r"bb.*test_bad_backward.*backward.*no gradient here"):
        ex.backward([mx.nd.ones((2,))])

    @mx.operator.register("test_bad_infer")
    class ShapeProp(mx.operator.CustomOpProp):
        def infer_shape(self, in_shape):
            raise RuntimeError("shape rule broke")

        def create_operator(self, ctx, shapes, dtypes):
            return Fine()

    s = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_bad_infer", name="bi")
    with pytest.raises(RuntimeError, match=r"bi.*test_bad_infer.*infer_shape.*shape rule broke"):
        s.infer_shape(x=(2, 3))


def test_sparse_storage_refused():
    @mx.operator.register("test_sparse")
    class SparseProp(mx.operator.CustomOpProp):
        def infer_storage_type(self, in_stype):
            return ["csr"], ["csr"], []

        def create_operator(self, ctx, shapes, dtypes):
            return mx.operator.CustomOp()

    with pytest.raises(mx.base.UnsupportedError, match="sparse"):
        mx.sym.Custom(mx.sym.Variable("x"), op_type="test_sparse")


def test_create_operator_must_return_custom_op():
    @mx.operator.register("test_not_op")
    class NotOpProp(mx.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return object()

    with pytest.raises(MXNetError, match="test_not_op.*CustomOp"):
        mx.nd.Custom(mx.nd.ones((2,)), op_type="test_not_op")


def test_programs_with_custom_ops_are_not_cached():
    """Steps of a Custom op call user Python: such programs stay out of the persistent compile
    cache, so a second compile in a fresh state is not a cache hit."""
    s = mx.sym.Custom(mx.sym.Variable("x"), op_type="golden_scale_aux", scale=2.5,
                      name="sa")
    for _ in range(2):
        c = mx.compile(s, x=(2, 3))
        assert not c.from_cache
        out = c(np.ones((2, 3), np.float32), np.zeros((1,), np.float32))
        close(out[0], 2.5 * np.ones((2, 3)))


def test_mxnet_sqr_with_aux_numeric_gradient():
    """MXNet's test_custom_op (dense part): forward sets an aux state that backward reads;
    check_numeric_gradient through the op, and through casts around it."""
    from mxc.test_utils import check_numeric_gradient

    class Sqr(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            aux[0][:] = 1
            self.assign(out_data[0], req[0], in_data[0] * in_data[0])

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], 2 * in_data[0] * out_grad[0])
            assert (aux[0].asnumpy() == 1).all()

    @mx.operator.register("test_sqr")
    class SqrProp(mx.operator.CustomOpProp):
        def __init__(self):
            super().__init__(need_top_grad=True)

        def list_arguments(self):
            return ["data"]

        def list_outputs(self):
            return ["output"]

        def list_auxiliary_states(self):
            return ["aux"]

        def infer_shape(self, in_shape):
            return in_shape, [in_shape[0]], [in_shape[0]]

        def infer_type(self, in_type):
            return in_type, [in_type[0]], [in_type[0]]

        def create_operator(self, ctx, shapes, dtypes):
            return Sqr()

    data = mx.sym.Variable("data")
    aux = mx.sym.Variable("aux")
    op = mx.sym.Custom(data=data, aux=aux, name="sqr", op_type="test_sqr")
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, size=(4, 10)))
    aux = mx.nd.zeros_like(x)
    check_numeric_gradient(op, [x], [aux])
    data = mx.sym.cast(data, dtype="float64")
    op = mx.sym.cast(op, dtype="float32")
    check_numeric_gradient(op, [x], [aux])


def test_registering_again_replaces_the_operator():
    def make(k):
        class Op(mx.operator.CustomOp):
            def forward(self, is_train, req, in_data, out_data, aux):
                self.assign(out_data[0], req[0], in_data[0] * k)

        class Prop(mx.operator.CustomOpProp):
            def create_operator(self, ctx, shapes, dtypes):
                return Op()
        return Prop

    mx.operator.register("test_again")(make(2.0))
    close(mx.nd.Custom(mx.nd.ones((3,)), op_type="test_again").asnumpy(), [2, 2, 2])
    mx.operator.register("test_again")(make(5.0))
    close(mx.nd.Custom(mx.nd.ones((3,)), op_type="test_again").asnumpy(), [5, 5, 5])


def test_two_devices_and_checkpoint(tmp_path):
    """Data-parallel fit over two contexts gives MXNet's parameters; the checkpoint's
    -symbol.json (op 'Custom') loads back and predicts."""
    x, y, init = mlp_setup()
    it = mx.io.NDArrayIter(x, y, batch_size=5, shuffle=False, label_name="softmax_label")
    mod = mx.mod.Module(mlp_symbol(mx, False), data_names=["data"],
                        label_names=["softmax_label"], context=[mx.cpu(0), mx.cpu(1)])
    mod.fit(it, num_epoch=2, optimizer="sgd", optimizer_params={"learning_rate": 0.5},
            arg_params={k: mx.nd.array(v) for k, v in init.items()}, allow_missing=False)
    args, _ = mod.get_params()
    for k, v in args.items():
        close(v.asnumpy(), GOLD[f"mlp:final:{k}"], 1e-4, 1e-5, f"{k} (2 devices)")
    prefix = str(tmp_path / "custom_mlp")
    mod.save_checkpoint(prefix, 2)
    with open(prefix + "-symbol.json") as fh:
        assert any(n["op"] == "Custom" and n["attrs"] == {"op_type": "golden_softmax"}
                   for n in json.load(fh)["nodes"])
    sym, arg_params, aux_params = mx.model.load_checkpoint(prefix, 2)
    m2 = mx.mod.Module(sym, context=mx.cpu())
    m2.bind([("data", (5, 6))], [("softmax_label", (5,))], for_training=False)
    m2.set_params(arg_params, aux_params)
    pred = m2.predict(mx.io.NDArrayIter(x, y, batch_size=5)).asnumpy()
    assert pred.shape == (20, 3)
    close(pred.sum(axis=1), np.ones(20), 1e-5, 1e-5, "softmax rows")
