"""The neural-network layers (mxc/ir/opdefs/nn_layers.py) beyond the op table's golden cases:
error messages for bad attributes and shapes, Dropout's statistics in training, BatchNorm's
moving-statistics update, and the places where MXNet 1.9.1's gradient is not the derivative
of its forward (checked against numbers MXNet produced, recorded below)."""
import json
import os

import numpy as np
import pytest

import mxc as mx
from mxc.base import AttrError, ShapeError, UnsupportedError
from mxc.ir.interp import interp
from mxc.symbol.convert import to_graph
from mxc.testing import assert_close, check_grad

HERE = os.path.dirname(os.path.abspath(__file__))
NN = os.path.join(HERE, "data", "ops", "nn")
TARGETS = ["llvm", "triton"]


def V(name="data"):
    return mx.sym.Variable(name)


def _msg_has(excinfo, *parts):
    msg = str(excinfo.value)
    for p in parts:
        assert p in msg, f"{p!r} not in message: {msg}"


# =================================================================================================
# bad attributes: the message names the operator, the symbol, the attribute and what is accepted
# =================================================================================================
@pytest.mark.parametrize("op,kwargs,parts", [
    ("Convolution", {"kernel": (3, 3, 3, 3), "num_filter": 2},
     ["Convolution 'bad'", "kernel=(3, 3, 3, 3)", "expected 1, 2 or 3"]),
    ("Convolution", {"kernel": (3, 3), "stride": (1, 1, 1), "num_filter": 2},
     ["Convolution 'bad'", "stride=(1, 1, 1)", "expected 2"]),
    ("Convolution", {"kernel": (3, 3), "num_filter": 0},
     ["Convolution 'bad'", "num_filter=0", "num_filter >= 1"]),
    ("Convolution", {"kernel": (3, 3), "num_filter": 6, "num_group": 4},
     ["Convolution 'bad'", "num_filter=6", "num_group=4"]),
    ("Convolution", {"kernel": (3, 3), "num_filter": 2, "layout": "NCW"},
     ["Convolution 'bad'", "layout='NCW'", "'NCHW'"]),
    ("Convolution", {"kernel": (3, 3), "num_filter": 2, "cudnn_tune": "fast"},
     ["Convolution 'bad'", "cudnn_tune", "'fastest'"]),
    ("Deconvolution", {"kernel": (3, 3), "num_filter": 2, "adj": (1,)},
     ["Deconvolution 'bad'", "adj=(1,)", "expected 2"]),
    ("Pooling", {"kernel": (2, 2), "pool_type": "lp"},
     ["Pooling 'bad'", "p_value=None", "expected 1, 2 or 3"]),
    ("Pooling", {"pool_type": "max"},
     ["Pooling 'bad'", "kernel=()", "global_pool=True"]),
    ("Pooling", {"kernel": (2, 2), "pool_type": "median"},
     ["Pooling 'bad'", "pool_type='median'", "'avg', 'lp', 'max', 'sum'"]),
    ("Pooling", {"kernel": (2, 2), "stride": (0, 1)},
     ["Pooling 'bad'", "stride=(0, 1)", ">= 1"]),
    ("BatchNorm", {"eps": 0.0}, ["BatchNorm 'bad'", "eps=0.0", "eps > 0"]),
    ("L2Normalization", {"mode": "batch"},
     ["L2Normalization 'bad'", "mode='batch'", "'channel', 'instance', 'spatial'"]),
    ("Dropout", {"p": 1.5}, ["Dropout 'bad'", "p=1.5", "0 <= p <= 1"]),
    ("Dropout", {"mode": "test"}, ["Dropout 'bad'", "mode='test'", "'always', 'training'"]),
    ("LeakyReLU", {"act_type": "mish"},
     ["LeakyReLU 'bad'", "act_type='mish'", "'elu', 'gelu', 'leaky', 'prelu', 'rrelu', 'selu'"]),
    ("LeakyReLU", {"act_type": "rrelu", "lower_bound": 0.5, "upper_bound": 0.1},
     ["LeakyReLU 'bad'", "lower_bound=0.5", "upper_bound"]),
    ("Embedding", {"input_dim": 0, "output_dim": 3},
     ["Embedding 'bad'", "input_dim=0", "input_dim >= 1"]),
    ("Pad", {"mode": "constant", "pad_width": (1, 1, 0, 0, 1, 1, 1, 1)},
     ["Pad 'bad'", "pad_width=(1, 1, 0, 0, 1, 1, 1, 1)", "first two axes"]),
    ("Pad", {"mode": "wrap", "pad_width": (0, 0, 0, 0, 1, 1, 1, 1)},
     ["Pad 'bad'", "mode='wrap'", "'constant', 'edge', 'reflect'"]),
    ("SoftmaxActivation", {"mode": "spatial"},
     ["SoftmaxActivation 'bad'", "mode='spatial'", "'channel', 'instance'"]),
    ("log_softmax", {"temperature": 0.0}, ["log_softmax 'bad'", "temperature=0"]),
])
def test_bad_attributes(op, kwargs, parts):
    with pytest.raises(AttrError) as e:
        getattr(mx.sym, op)(V(), name="bad", **kwargs)
    _msg_has(e, *parts)


@pytest.mark.parametrize("op,kwargs,parts", [
    ("Convolution", {"kernel": (3, 3), "num_filter": 2, "layout": "NHWC"},
     ["Convolution 'bad'", "layout='NHWC'", "not supported", "'NCHW'"]),
    ("Pooling", {"kernel": (2, 2), "layout": "NHWC"},
     ["Pooling 'bad'", "layout='NHWC'", "not supported"]),
    ("Pooling", {"kernel": (2,), "pooling_convention": "same"},
     ["Pooling 'bad'", "pooling_convention='same'", "'valid', 'full'"]),
    ("UpSampling", {"scale": 2, "sample_type": "bilinear", "num_args": 1},
     ["UpSampling 'bad'", "sample_type='bilinear'", "'nearest'"]),
    ("log_softmax", {"use_length": True}, ["log_softmax 'bad'", "use_length=True"]),
])
def test_unsupported_features_fail_early(op, kwargs, parts):
    with pytest.raises(UnsupportedError) as e:
        getattr(mx.sym, op)(V(), name="bad", **kwargs)
    _msg_has(e, *parts)
    assert isinstance(e.value, mx.base.MXNetError)


# =================================================================================================
# bad shapes: the message names the operator, the symbol and both shapes
# =================================================================================================
@pytest.mark.parametrize("make,shapes,parts", [
    (lambda: mx.sym.Convolution(V(), kernel=(3, 3), num_filter=4, name="c1"),
     {"data": (2, 3, 8)}, ["Convolution 'c1'", "(2,3,8)", "4-d input"]),
    (lambda: mx.sym.Convolution(V(), kernel=(3, 3), num_filter=4, name="c1"),
     {"data": (2, 3, 8, 8), "c1_weight": (4, 2, 3, 3)},
     ["Convolution 'c1'", "weight has shape (4,2,3,3)", "expected (4,3,3,3)"]),
    (lambda: mx.sym.Convolution(V(), kernel=(3, 3), num_filter=4, name="c1"),
     {"data": (2, 3, 2, 8)}, ["Convolution 'c1'", "(2,3,2,8)", "exceeds"]),
    (lambda: mx.sym.Convolution(V(), kernel=(3, 3), num_filter=4, num_group=2, name="c1"),
     {"data": (2, 3, 8, 8)}, ["Convolution 'c1'", "3 channels", "num_group=2"]),
    (lambda: mx.sym.Deconvolution(V(), kernel=(3, 3), num_filter=4, name="d1"),
     {"data": (2, 3, 5, 5), "d1_weight": (4, 3, 3, 3)},
     ["Deconvolution 'd1'", "weight has shape (4,3,3,3)", "expected (3,4,3,3)"]),
    (lambda: mx.sym.Deconvolution(V(), kernel=(3, 3), num_filter=4, adj=(2, 2),
                                  stride=(2, 2), name="d1"),
     {"data": (2, 3, 5, 5)}, ["Deconvolution 'd1'", "adj=(2, 2)", "adj < stride"]),
    (lambda: mx.sym.Pooling(V(), kernel=(5, 5), name="p1"),
     {"data": (1, 2, 4, 4)}, ["Pooling 'p1'", "kernel size (5)", "(1,2,4,4)"]),
    (lambda: mx.sym.Pooling(V(), kernel=(2, 2), name="p1"),
     {"data": (1, 2, 4)}, ["Pooling 'p1'", "(1,2,4)", "4-d input"]),
    (lambda: mx.sym.BatchNorm(V(), axis=3, name="bn1"),
     {"data": (2, 3, 4)}, ["BatchNorm 'bn1'", "axis=3", "-3 <= axis < 3"]),
    (lambda: mx.sym.BatchNorm(V(), name="bn1"),
     {"data": (2, 3, 4), "bn1_gamma": (4,)},
     ["BatchNorm 'bn1'", "gamma has shape (4)", "expected (3)"]),
    (lambda: mx.sym.LayerNorm(V(), name="ln1"),
     {"data": (2, 3, 4), "ln1_beta": (3,)},
     ["LayerNorm 'ln1'", "beta has shape (3)", "expected (4)"]),
    (lambda: mx.sym.InstanceNorm(V(), name="in1"),
     {"data": (2, 3)}, ["InstanceNorm 'in1'", "(2,3)", "rank >= 3"]),
    (lambda: mx.sym.L2Normalization(V(), mode="channel", name="l2"),
     {"data": (2, 3)}, ["L2Normalization 'l2'", "mode='channel'", "rank >= 3"]),
    (lambda: mx.sym.Embedding(V(), input_dim=10, output_dim=4, name="emb"),
     {"data": (2, 5), "emb_weight": (10, 5)},
     ["Embedding 'emb'", "weight has shape (10,5)", "expected (10,4)"]),
    (lambda: mx.sym.UpSampling(V("a"), V("b"), scale=2, sample_type="nearest", num_args=2,
                               multi_input_mode="sum", name="up"),
     {"a": (1, 2, 2, 2), "b": (1, 3, 4, 4)}, ["UpSampling 'up'", "arg1 has 3 channels"]),
    (lambda: mx.sym.LeakyReLU(V(), act_type="prelu", name="pr"),
     {"data": (2, 3, 4), "pr_gamma": (4,)}, ["LeakyReLU 'pr'", "gamma has shape (4)", "(3,)"]),
    (lambda: mx.sym.Pad(V(), mode="edge", pad_width=(0, 0, 0, 0, 1, 1), name="pad1"),
     {"data": (2, 3, 4)}, ["Pad 'pad1'", "(2,3,4)", "4-d and 5-d"]),
    (lambda: mx.sym.Pad(V(), mode="reflect", pad_width=(0, 0, 0, 0, 3, 3, 1, 1), name="pad1"),
     {"data": (1, 1, 3, 3)}, ["Pad 'pad1'", "reflect", "smaller than the axis"]),
    (lambda: mx.sym.Dropout(V(), axes=(3,), name="drop"),
     {"data": (2, 3)}, ["Dropout 'drop'", "axis=3", "-2 <= axis < 2"]),
])
def test_bad_shapes(make, shapes, parts):
    s = make()
    with pytest.raises(mx.base.MXNetError) as e:
        s.infer_shape(**shapes)
    _msg_has(e, *parts)


def test_pooling_needs_known_spatial_dims_like_mxnet():
    # MXNet 1.9.1 fails the partial inference of a pooling whose spatial dims are unknown
    # (tests/data/symbols/convnet_bn-expect.json, input data=(8, 1, 0, 0))
    s = mx.sym.Pooling(V(), kernel=(2, 2), stride=(2, 2), name="p1")
    with pytest.raises(ShapeError) as e:
        s.infer_shape_partial(data=(8, 1, 0, 0))
    _msg_has(e, "Pooling 'p1'", "spatial dimension 0")
    _, out, _ = s.infer_shape_partial(data=(0, 3, 8, 8))
    assert [list(o) for o in out] == [[0, 3, 4, 4]]


# =================================================================================================
# shapes, outputs and JSON the MXNet way
# =================================================================================================
def test_convolution_fills_weight_and_bias_from_data():
    s = mx.sym.Convolution(V(), kernel=(3, 3), num_filter=8, num_group=2, stride=(2, 2),
                           pad=(1, 1), name="c")
    arg, out, _ = s.infer_shape(data=(4, 6, 9, 9))
    assert dict(zip(s.list_arguments(), arg)) == {
        "data": (4, 6, 9, 9), "c_weight": (8, 3, 3, 3), "c_bias": (8,)}
    assert out == [(4, 8, 5, 5)]
    arg, out, _ = s.infer_shape_partial(data=(0, 6, 0, 9))
    assert arg[1] == (8, 3, 3, 3) and out == [(0, 8, 0, 5)]


def test_hidden_outputs_count_in_json_like_mxnet():
    # node_row_ptr counts every output, visible or not (MXNet 1.9.1 oneDNN build)
    cases = [(mx.sym.Pooling(V(), kernel=(2, 2)), 2, 1),
             (mx.sym.Pooling(V(), kernel=(2, 2), pool_type="avg"), 1, 1),
             (mx.sym.Pooling(V(), global_pool=True), 1, 1),
             (mx.sym.BatchNorm(V()), 3, 1), (mx.sym.BatchNorm(V(), output_mean_var=True), 3, 3),
             (mx.sym.Dropout(V()), 2, 1), (mx.sym.LayerNorm(V()), 3, 1),
             (mx.sym.InstanceNorm(V()), 3, 1), (mx.sym.L2Normalization(V()), 2, 1),
             (mx.sym.LeakyReLU(V(), act_type="rrelu"), 2, 2), (mx.sym.LeakyReLU(V()), 1, 1)]
    for s, n_all, n_visible in cases:
        row = json.loads(s.tojson())["node_row_ptr"]
        assert row[-1] - row[-2] == n_all, s.tojson()
        assert len(s.list_outputs()) == n_visible


def test_auto_created_variables_carry_mxnet_attrs():
    bn = json.loads(mx.sym.BatchNorm(V(), name="bn", fix_gamma=False).tojson())
    attrs = {n["name"]: n.get("attrs", {}) for n in bn["nodes"] if n["op"] == "null"}
    assert attrs["bn_moving_mean"] == {"__init__": '["zero", {}]', "fix_gamma": "False"}
    assert attrs["bn_moving_var"] == {"__init__": '["one", {}]', "fix_gamma": "False"}
    pr = json.loads(mx.sym.LeakyReLU(V(), act_type="prelu", name="pr").tojson())
    attrs = {n["name"]: n.get("attrs", {}) for n in pr["nodes"] if n["op"] == "null"}
    assert attrs["pr_gamma"] == {"__init__": '["Constant", {"value": 0.25}]',
                                 "act_type": "prelu"}
    s = mx.sym.BatchNorm(V(), name="bn")
    assert s.list_arguments() == ["data", "bn_gamma", "bn_beta"]
    assert s.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]


def test_deconvolution_target_shape():
    # pad/adj from target_shape as MXNet's InferPad computes them (MXNet 1.9.1's oneDNN kernel
    # itself fails with target_shape, so this compares with the equivalent explicit pad/adj)
    s = mx.sym.Deconvolution(V(), V("w"), kernel=(3, 3), stride=(2, 2), target_shape=(6, 6),
                             num_filter=2, name="d")
    arg, out, _ = s.infer_shape(data=(1, 3, 3, 3))
    assert out == [(1, 2, 6, 6)] and arg[1] == (3, 2, 3, 3)
    ref = mx.sym.Deconvolution(V(), V("w"), kernel=(3, 3), stride=(2, 2), pad=(1, 1),
                               adj=(1, 1), num_filter=2, name="d")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 3, 3)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    a = mx.compile(s, shapes={"data": x.shape, "w": w.shape})(x, w)[0]
    b = mx.compile(ref, shapes={"data": x.shape, "w": w.shape})(x, w)[0]
    assert_close(a, b, 1e-6, 1e-6, "target_shape vs pad/adj")


def test_dilated_deconvolution_gradient():
    # (MXNet's oneDNN deconvolution has no dilated training primitive, so no golden gradient)
    s = mx.sym.Deconvolution(V(), V("w"), V("b"), kernel=(3, 3), stride=(2, 2), dilate=(2, 2),
                             pad=(1, 1), num_filter=2, no_bias=False, name="d")
    g = to_graph(s, shapes={"data": (1, 2, 3, 3), "w": (2, 2, 3, 3), "b": (2,)},
                 dtypes={"data": "float32", "w": "float32", "b": "float32"}).graph
    rng = np.random.default_rng(3)
    check_grad(g, [rng.uniform(-1, 1, v.type.shape) for v in g.inputs])


# =================================================================================================
# Dropout in training: statistics, and the gradient uses the forward's mask
# =================================================================================================
@pytest.mark.parametrize("target", TARGETS)
def test_dropout_training_statistics(target):
    p = 0.3
    s = mx.sym.Dropout(V(), p=p, name="drop")
    shape = (64, 50) if target == "llvm" else (16, 25)
    c = mx.compile(s, shapes={"data": shape}, target=target, is_train=True,
                   grad_wrt=["data"])
    x = np.random.default_rng(0).uniform(0.5, 2.0, shape).astype(np.float32)
    head = np.ones(shape, np.float32)
    out, gx = c(x, head)
    kept = out != 0
    # kept elements are scaled by 1 / (1 - p); the rest are zero
    assert_close(out[kept], x[kept] / (1 - p), 1e-6, 1e-6, "scaled")
    frac = 1.0 - kept.mean()
    n = out.size
    assert abs(frac - p) < 4 * np.sqrt(p * (1 - p) / n), frac
    # the mask's mean is 1 (inverted dropout keeps the expectation)
    mask = gx
    assert abs(mask.mean() - 1.0) < 4 * np.sqrt(p / (1 - p) / n)
    # backward multiplies by the very mask the forward drew: grad == out / x
    assert_close(gx, out / x, 1e-6, 1e-6, "grad is out / x")
    # a second run draws a new mask
    out2, _ = c(x, head)
    assert (out2 != out).any()


def test_dropout_axes_share_the_mask_and_inference_is_identity():
    s = mx.sym.Dropout(V(), p=0.5, axes=(1,), name="drop")
    x = np.ones((8, 6, 5), np.float32)
    out, gx = mx.compile(s, shapes={"data": x.shape}, is_train=True, grad_wrt=["data"])(
        x, np.ones_like(x))
    assert (out == out[:, :1, :]).all()          # one draw per (batch, position), shared on 1
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert_close(gx, out, 0, 0, "grad == mask")
    y = mx.compile(s, shapes={"data": x.shape}, is_train=False)(x)[0]
    assert_close(y, x, 0, 0, "inference")


def test_dropout_always_mode_and_seed():
    s = mx.sym.Dropout(V(), p=0.5, mode="always", name="drop")
    x = np.ones((20, 20), np.float32)
    c = mx.compile(s, shapes={"data": x.shape}, is_train=False)
    import mxc.random
    mxc.random.seed(7)
    a = c(x)[0]
    mxc.random.seed(7)
    b = c(x)[0]
    assert (a == 0).any() and (a == 2).any()      # dropped in inference too
    assert_close(a, b, 0, 0, "same seed, same mask")
    mxc.random.seed(8)
    assert (c(x)[0] != a).any()
    with pytest.raises(mx.base.MXNetError):
        mxc.random.seed(1.5)
    mxc.random.seed(3, ctx=mx.cpu())


def test_rrelu():
    x = np.linspace(-2, 2, 8).astype(np.float32)
    # inference: the slope is (lower + upper) / 2 (MXNet 1.9.1's output for this x)
    rrelu_out = [-0.459, -0.3278571, -0.1967143, -0.0655714, 0.2857143, 0.8571429, 1.4285715,
                 2.0]
    s = mx.sym.LeakyReLU(V(), act_type="rrelu", name="r")
    y, mask = mx.compile(s, shapes={"data": x.shape})(x)
    assert_close(y, rrelu_out, 1e-6, 1e-6, "rrelu inference")
    # training (MXNet 1.9.1 itself crashes there): a random slope in [lower, upper] per element
    c = mx.compile(s, shapes={"data": (200,)}, is_train=True, grad_wrt=["data"])
    x = np.linspace(-2, 2, 200).astype(np.float32)
    y, mask, gx = c(x, np.ones_like(x), np.zeros_like(x))
    assert ((mask >= 0.125) & (mask <= 0.334 + 1e-6)).all() and mask.std() > 0.02
    assert_close(y, np.where(x > 0, x, mask * x), 1e-6, 1e-6, "rrelu training")
    assert_close(gx, np.where(y > 0, 1.0, mask), 1e-6, 1e-6, "rrelu gradient")


# =================================================================================================
# BatchNorm's moving statistics
# =================================================================================================
def _bn_graph(case_attrs, shapes):
    args = {n: V(n) for n in shapes}
    s = mx.sym.BatchNorm(**args, name="op", **case_attrs)
    return to_graph(s, shapes=shapes, dtypes={n: "float32" for n in shapes}, is_train=True)


@pytest.mark.parametrize("case", ["bn_train", "bn_train_fix_gamma", "bn_train_2d",
                                  "bn_train_axis_last"])
def test_batchnorm_aux_update_matches_mxnet(case):
    """New moving_mean / moving_var (MXNet updates them in its backward) against MXNet's
    values recorded after forward + backward, and against the numpy formula with the biased
    batch variance."""
    z = np.load(os.path.join(NN, f"{case}.npz"))
    meta = json.loads(str(z["meta"]))
    names = ["data", "gamma", "beta", "moving_mean", "moving_var"]
    shapes = {n: z[f"in:{n}"].shape for n in names}
    attrs = {k: v for k, v in meta["attrs"].items()}
    sg = _bn_graph(attrs, shapes)
    assert sg.aux_updates == ["moving_mean", "moving_var"]
    xs = [z[f"in:{n}"] for n in names]
    res = interp(sg.graph, xs)
    new_mm, new_mv = res[-2], res[-1]
    assert_close(new_mm, z["aux:moving_mean"], 1e-5, 1e-6, f"{case} moving_mean")
    assert_close(new_mv, z["aux:moving_var"], 1e-4, 1e-6, f"{case} moving_var")
    # the numpy reference: momentum * old + (1 - momentum) * batch statistic (biased variance)
    x = xs[0].astype(np.float64)
    ax = int(attrs.get("axis", 1)) % x.ndim
    axes = tuple(i for i in range(x.ndim) if i != ax)
    m = float(attrs.get("momentum", 0.9))
    want_mm = m * xs[3] + (1 - m) * x.mean(axis=axes)
    want_mv = m * xs[4] + (1 - m) * x.var(axis=axes)
    assert_close(new_mm, want_mm, 1e-5, 1e-6, "numpy moving_mean")
    assert_close(new_mv, want_mv, 1e-4, 1e-6, "numpy moving_var")
    for target in TARGETS:
        c = mx.compile(mx.sym.BatchNorm(**{n: V(n) for n in names}, name="op", **attrs),
                       shapes=shapes, target=target, is_train=True)
        assert c.aux_updates == ["moving_mean", "moving_var"]
        got = c(*xs)
        assert_close(got[-2], z["aux:moving_mean"], 1e-5, 1e-6, f"{case} {target}")
        assert_close(got[-1], z["aux:moving_var"], 1e-4, 1e-6, f"{case} {target}")


def test_batchnorm_aux_unchanged_in_inference_and_global_stats():
    shapes = {n: s for n, s in zip(["data", "gamma", "beta", "moving_mean", "moving_var"],
                                   [(4, 3, 2), (3,), (3,), (3,), (3,)])}
    assert _bn_graph({"use_global_stats": True}, shapes).aux_updates == []
    args = {n: V(n) for n in shapes}
    sg = to_graph(mx.sym.BatchNorm(**args, name="op"), shapes=shapes, is_train=False)
    assert sg.aux_updates == []


# =================================================================================================
# where MXNet's gradient is not the derivative of its forward: MXNet 1.9.1's own numbers
# (recorded with the oracle: MXNET_SUBGRAPH_BACKEND=NONE, bind + forward(is_train=True) +
# backward(heads), inputs and heads as written below)
# =================================================================================================
def _grad(sym, inputs: dict, heads, target="llvm", wrt=None):
    wrt = wrt or list(inputs)
    c = mx.compile(sym, shapes={k: v.shape for k, v in inputs.items()}, target=target,
                   is_train=True, grad_wrt=wrt)
    res = c(*[inputs[n] for n in c.input_names()[:len(inputs)]], *heads)
    return res[:len(res) - len(wrt)], dict(zip(wrt, res[len(res) - len(wrt):]))


SELU_GRAD = [[0.0804294, 0.2564698, 0.6667916], [1.5655774, 1.3659112, 1.5760515]]


@pytest.mark.parametrize("target", TARGETS)
def test_selu_gradient_is_mxnets(target):
    # MXNet: lambda * (y > 0 ? 1 : alpha + y), not the derivative y + lambda * alpha
    x = np.linspace(-2, 1, 6).astype(np.float32).reshape(2, 3)
    h = np.linspace(0.5, 1.5, 6).astype(np.float32).reshape(2, 3)
    _, g = _grad(mx.sym.LeakyReLU(V(), act_type="selu"), {"data": x}, [h], target)
    assert_close(g["data"], SELU_GRAD, 1e-5, 1e-6, "selu grad")


SA_OUT = [[[0.1438038, 0.3335928, 0.3570042, 0.1655992],
           [0.1326197, 0.1083497, 0.213764, 0.5452666],
           [0.5224563, 0.293331, 0.1127488, 0.0714639]],
          [[0.087069, 0.2266576, 0.4009677, 0.2853057],
           [0.2711108, 0.1382458, 0.1706208, 0.4200225],
           [0.4005544, 0.3711327, 0.159342, 0.0689708]]]
SA_GRAD = [[[0.1465217, 0.1990179, -0.1350284, -0.2049198],
            [-0.0841796, 0.0368334, 0.2133559, 0.2761503],
            [-0.0661432, -0.250752, -0.0903288, -0.0173676]],
           [[0.0754499, 0.2137579, 0.0515572, -0.2629015],
            [-0.2534778, -0.033113, 0.1112723, 0.3473248],
            [0.1725514, -0.1900528, -0.1606352, -0.0479084]]]


@pytest.mark.parametrize("target", TARGETS)
def test_softmax_activation_instance_3d_gradient_is_mxnets(target):
    # forward: softmax over the last axis; MXNet's backward: the softmax gradient along axis 1
    x = np.sin(np.arange(24)).astype(np.float32).reshape(2, 3, 4)
    h = np.cos(np.arange(24)).astype(np.float32).reshape(2, 3, 4)
    outs, g = _grad(mx.sym.SoftmaxActivation(V()), {"data": x}, [h], target)
    assert_close(outs[0], SA_OUT, 1e-5, 1e-6, "softmax activation")
    assert_close(g["data"], SA_GRAD, 1e-5, 1e-6, "softmax activation grad")


POOL_OUT = [[[[0.4435444, 0.2782292, -0.7515065], [0.101185, 0.5648424, -0.4161834],
              [-0.1860024, 0.6783769, -0.072957]]]]
POOL_GRAD = [[[[0.1111111, 0.1111111, 0.1711447, 0.0600336, 0.013795, -0.0462385],
               [0.1111111, 0.1111111, 0.1711447, 0.0600336, 0.013795, -0.0462385],
               [0.0011119, 0.0011119, -0.0114815, -0.0125935, -0.027314, -0.0147205],
               [-0.1099992, -0.1099992, -0.1826262, -0.0726271, -0.041109, 0.031518],
               [-0.0033136, -0.0033136, 0.0078263, 0.0111398, 0.0264912, 0.0153514],
               [0.1066856, 0.1066856, 0.1904525, 0.0837669, 0.0676002, -0.0161667]]]]


@pytest.mark.parametrize("target", TARGETS)
def test_avg_pooling_full_convention_gradient_is_mxnets(target):
    # the last window overhangs the input: forward divides by 2 (x2 in 2-d), MXNet's backward
    # by the full kernel size 3 (x3)
    x = np.sin(np.arange(36)).astype(np.float32).reshape(1, 1, 6, 6)
    h = np.cos(np.arange(9)).astype(np.float32).reshape(1, 1, 3, 3)
    s = mx.sym.Pooling(V(), kernel=(3, 3), stride=(2, 2), pool_type="avg",
                       pooling_convention="full")
    outs, g = _grad(s, {"data": x}, [h], target)
    assert_close(outs[0], POOL_OUT, 1e-5, 1e-6, "avg pool full")
    assert_close(g["data"], POOL_GRAD, 1e-5, 1e-6, "avg pool full grad")


BN_GRAD_DATA = [[[0.4639082, -0.6734914], [-0.4217142, 0.3039376], [-1.4702851, 2.7756524]],
                [[0.2966088, -0.1046979], [-0.1342462, -0.1648811], [-1.2215965, 0.8726274]],
                [[-0.0829134, 0.2838403], [0.3490208, -0.4354603], [-0.3062847, -0.5305991]],
                [[-0.644426, 0.4611726], [0.9895903, -0.4862458], [1.2027371, -1.3222476]]]
BN_GRAD_GAMMA = [-0.2920847, 3.0091445, -2.9071405]
BN_GRAD_BETA = [6.6546965, -3.2253678, -3.9702442]
BN_AUX = ([0.0062691, 0.0730299, -0.0670514], [0.9279654, 0.9083294, 0.9114357])


@pytest.mark.parametrize("target", TARGETS)
def test_batchnorm_mean_var_head_gradients_are_ignored(target):
    x = np.sin(np.arange(24)).astype(np.float32).reshape(4, 3, 2)
    gamma = np.array([1.5, 0.5, 2.0], np.float32)
    beta = np.array([0.1, -0.2, 0.3], np.float32)
    heads = [np.cos(np.arange(24)).astype(np.float32).reshape(4, 3, 2),
             np.array([1.0, 2.0, 3.0], np.float32), np.array([-1.0, 0.5, 2.0], np.float32)]
    names = ["data", "gamma", "beta", "moving_mean", "moving_var"]
    s = mx.sym.BatchNorm(*[V(n) for n in names], name="bn", fix_gamma=False,
                         output_mean_var=True)
    ins = {"data": x, "gamma": gamma, "beta": beta, "moving_mean": np.zeros(3, np.float32),
               "moving_var": np.ones(3, np.float32)}
    outs, g = _grad(s, ins, heads, target, wrt=["data", "gamma", "beta"])
    assert_close(g["data"], BN_GRAD_DATA, 1e-4, 1e-5, "bn data grad")
    assert_close(g["gamma"], BN_GRAD_GAMMA, 1e-4, 1e-5, "bn gamma grad")
    assert_close(g["beta"], BN_GRAD_BETA, 1e-4, 1e-5, "bn beta grad")
    # outputs: (output, mean, invstd), then the new moving statistics (momentum 0.9)
    assert_close(outs[1], x.mean(axis=(0, 2)), 1e-5, 1e-6, "mean output")
    assert_close(outs[2], 1 / np.sqrt(x.var(axis=(0, 2)) + 1e-3), 1e-5, 1e-6, "invstd output")
    assert_close(outs[3], BN_AUX[0], 1e-5, 1e-6, "moving_mean")
    assert_close(outs[4], BN_AUX[1], 1e-5, 1e-6, "moving_var")


LN_GRAD_DATA = [[0.9397197, 0.7342099, -0.3257371, -1.2976733, -0.9248786, 0.8743596],
                [1.0199209, 0.9499124, -0.0392232, -1.1977564, -1.1832207, 0.4503671],
                [1.0555323, 1.154133, 0.28745, -1.0256352, -1.41206, -0.0594198],
                [0.981801, 1.3051947, 0.6584325, -0.7383763, -1.5635684, -0.6434835]]


def test_layernorm_mean_std_head_gradients_are_ignored():
    x = np.sin(np.arange(24)).astype(np.float32).reshape(4, 6)
    gamma = np.linspace(0.5, 1.5, 6).astype(np.float32)
    heads = [np.cos(np.arange(24)).astype(np.float32).reshape(4, 6),
             np.arange(4, dtype=np.float32).reshape(4, 1),
             -np.arange(4, dtype=np.float32).reshape(4, 1)]
    s = mx.sym.LayerNorm(V(), V("gamma"), V("beta"), output_mean_var=True)
    _, g = _grad(s, {"data": x, "gamma": gamma, "beta": np.zeros(6, np.float32)}, heads)
    assert_close(g["data"], LN_GRAD_DATA, 1e-4, 1e-5, "layernorm data grad")


# =================================================================================================
# fusion: the normalizations become few kernels
# =================================================================================================
def test_batchnorm_training_kernel_count():
    names = ["data", "gamma", "beta", "moving_mean", "moving_var"]
    s = mx.sym.BatchNorm(*[V(n) for n in names], name="bn", fix_gamma=False)
    shapes = {"data": (8, 4, 5, 5), "gamma": (4,), "beta": (4,), "moving_mean": (4,), "moving_var": (4,)}
    # training forward: one kernel for mean and variance (two passes over the data), one for
    # the output, two tiny ones for the new moving statistics; backward: sum(g), sum(g * xhat)
    # and dx
    fwd = mx.compile(s, shapes=shapes, is_train=True)
    assert len(fwd.kernels) <= 4, fwd.dump(after="fuse")
    both = mx.compile(s, shapes=shapes, is_train=True, grad_wrt=["data", "gamma", "beta"])
    assert len(both.kernels) <= 7, both.dump(after="fuse")
    inf = mx.compile(s, shapes=shapes, is_train=False)
    assert len(inf.kernels) == 1, inf.dump(after="fuse")
