"""Loss layers and loss functions beyond the golden cases: traits, names, shape rules and their
errors, and gradients through a small network (MXNet 1.9.1's behaviour, see
mxc/ir/opdefs/loss.py for the evidence)."""
import numpy as np
import pytest

import mxc as mx
from mxc.base import ShapeError
from mxc.ir.registry import LOSS, get_op
from mxc.testing import assert_close

LOSS_LAYERS = ["LinearRegressionOutput", "LogisticRegressionOutput", "MAERegressionOutput",
               "MakeLoss", "make_loss"]


@pytest.mark.parametrize("name", LOSS_LAYERS)
def test_loss_layers_ignore_head_gradient(name):
    assert LOSS in get_op(name).traits


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "smooth_l1"])
def test_loss_functions_use_head_gradient(name):
    assert LOSS not in get_op(name).traits


def test_output_names():
    x = mx.sym.Variable("x")
    assert mx.sym.make_loss(x, name="l").list_outputs() == ["l_loss"]
    assert mx.sym.MakeLoss(x, name="m").list_outputs() == ["m_output"]
    with mx.name.NameManager():
        assert mx.sym.make_loss(x).name == "make_loss0"
        assert mx.sym.LinearRegressionOutput(x).list_arguments() == \
            ["x", "linearregressionoutput0_label"]
        assert mx.sym.softmax_cross_entropy(x, x).list_outputs() == \
            ["softmax_cross_entropy0_output"]


def test_regression_label_shape():
    d = mx.sym.Variable("data")
    s = mx.sym.LinearRegressionOutput(d, mx.sym.Variable("label"), name="reg")
    # MXNet: a (N, 1) output gets a 1-d label by default, otherwise the data's shape
    assert s.infer_shape(data=(4, 1)) == ([(4, 1), (4,)], [(4, 1)], [])
    assert s.infer_shape(data=(4, 3)) == ([(4, 3), (4, 3)], [(4, 3)], [])
    assert s.infer_shape(data=(4, 3), label=(4, 3, 1))[0] == [(4, 3), (4, 3, 1)]
    for bad in [(4,), (12,), (2, 6)]:
        with pytest.raises(ShapeError, match=r"LinearRegressionOutput 'reg': label has shape"):
            s.infer_shape(data=(4, 3), label=bad)


def test_softmax_cross_entropy_shapes():
    s = mx.sym.softmax_cross_entropy(mx.sym.Variable("data"), mx.sym.Variable("label"),
                                     name="ce")
    assert s.infer_shape(data=(2, 3)) == ([(2, 3), (2,)], [(1,)], [])
    with pytest.raises(ShapeError, match=r"softmax_cross_entropy 'ce': data has shape \(2,3,4\)"):
        s.infer_shape(data=(2, 3, 4))
    with pytest.raises(ShapeError, match=r"label has shape \(2,1\)"):
        s.infer_shape(data=(2, 3), label=(2, 1))
    with pytest.raises(ShapeError, match="batch size"):
        s.infer_shape(data=(2, 3), label=(3,))


def test_bad_attributes():
    x = mx.sym.Variable("x")
    with pytest.raises(mx.MXNetError, match="normalization"):
        mx.sym.MakeLoss(x, normalization="mean")
    with pytest.raises(mx.MXNetError, match="unknown attribute"):
        mx.sym.LinearRegressionOutput(x, grad_scal=2.0)


def _mlp_loss(loss_op, **kw):
    data, label = mx.sym.Variable("data"), mx.sym.Variable("label")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    return getattr(mx.sym, loss_op)(fc, label, name="out", **kw)


@pytest.mark.parametrize("op,kw", [("LinearRegressionOutput", {"grad_scale": 2.0}),
                                   ("LogisticRegressionOutput", {}),
                                   ("MAERegressionOutput", {"grad_scale": 0.5})])
def test_regression_gradient_through_fc(op, kw):
    """No head-gradient input; dW = (grad_scale / m) f(out, label)^T x, as MXNet computes."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 5)).astype(np.float32)
    w = rng.uniform(-1, 1, (3, 5)).astype(np.float32)
    b = rng.uniform(-1, 1, (3,)).astype(np.float32)
    y = rng.uniform(0, 1, (4, 3)).astype(np.float32)
    s = _mlp_loss(op, **kw)
    c = mx.compile(s, shapes={"data": x.shape, "label": y.shape},
                   grad_wrt=["fc_weight", "fc_bias"])
    assert c.head_inputs == []
    out, gw, gb = c(data=x, fc_weight=w, fc_bias=b, label=y)
    z = x @ w.T + b
    pred = 1 / (1 + np.exp(-z)) if op.startswith("Logistic") else z
    assert_close(out, pred, 1e-5, 1e-6, "forward")
    d = np.where(pred - y > 0, 1.0, -1.0) if op.startswith("MAE") else pred - y
    d = d * kw.get("grad_scale", 1.0) / 3
    assert_close(gw, d.T @ x, 1e-4, 1e-5, "d weight")
    assert_close(gb, d.sum(0), 1e-4, 1e-5, "d bias")


def test_makeloss_of_expression():
    """MakeLoss over a computed loss: the gradient of its input is grad_scale, whatever comes
    after, and flows back through the expression."""
    x = mx.sym.Variable("x")
    loss = mx.sym.MakeLoss(mx.sym.square(x), grad_scale=0.5, name="l")
    c = mx.compile(loss, shapes={"x": (2, 3)}, grad_wrt=["x"])
    xv = np.arange(6, dtype=np.float32).reshape(2, 3)
    out, gx = c(x=xv)
    assert_close(out, xv ** 2, 0, 0, "forward")
    assert_close(gx, 0.5 * 2 * xv, 1e-6, 1e-6, "d x")


def test_smooth_l1_default_scalar():
    s = mx.sym.smooth_l1(mx.sym.Variable("x"))
    c = mx.compile(s, shapes={"x": (4,)})
    got = c(x=np.array([-2.0, -0.5, 0.3, 1.0], np.float32))[0]
    assert_close(got, [1.5, 0.125, 0.045, 0.5], 1e-6, 1e-7, "smooth_l1 sigma=1")
