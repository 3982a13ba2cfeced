"""Detection operators (mxc/ir/opdefs/detection.py) beyond the generic op table: hand-made
boxes and an SSD-style training graph against MXNet 1.9.1's recorded numbers
(tools/make_detection_golden.py), data-dependent behaviour, MXNet's names and aliases, and
errors naming the operator, the symbol and the shapes."""
import os
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError
from mxc.testing import assert_close

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from make_detection_golden import run, scenarios

EXTRA = os.path.join(HERE, "data", "ops", "detection", "extra")
SCEN = scenarios()


@pytest.mark.parametrize("name", sorted(SCEN))
def test_structured_scenarios_match_mxnet(name):
    """Forward outputs and gradients (with MXNet's head gradients) of hand-made detection
    inputs, bound and run through the Executor: the SSD graph (MultiBoxPrior + MultiBoxTarget +
    SoftmaxOutput + MakeLoss + MultiBoxDetection), NMS, ROI pooling/align, matching."""
    z = np.load(os.path.join(EXTRA, f"{name}.npz"))
    build, inputs, grads = SCEN[name]
    heads = [z[f"head:{i}"] for i in range(len([k for k in z.files if k.startswith("head:")]))]
    outs, _, gs = run(mx, name, build, inputs, grads, heads or None)
    n_out = len([k for k in z.files if k.startswith("out:")])
    assert len(outs) == n_out
    for i in range(n_out):
        assert_close(outs[i], z[f"out:{i}"], 1e-4, 1e-5, f"{name} output {i}")
    for n in grads:
        assert_close(gs[n], z[f"grad:{n}"], 1e-3, 1e-5, f"{name} d{n}")


def test_ssd_targets_are_not_trivial():
    """The recorded SSD scenario exercises positives of every class, mined negatives and
    ignored anchors, and detections survive NMS (guards the scenario itself)."""
    z = np.load(os.path.join(EXTRA, "ssd.npz"))
    cls_target = z["out:2"]
    assert set(np.unique(cls_target)) == {-1.0, 0.0, 1.0, 2.0, 3.0}
    det = z["out:4"]
    assert (det[..., 0] >= 0).sum() > 10 and (det[..., 0] == -1).any()


def test_names_and_aliases():
    for name in ("MultiBoxPrior", "MultiBoxTarget", "MultiBoxDetection", "box_nms",
                 "box_non_maximum_suppression", "box_iou", "box_encode", "box_decode",
                 "bipartite_matching", "ROIAlign", "Proposal", "MultiProposal", "PSROIPooling"):
        assert hasattr(mx.sym.contrib, name), name
        assert hasattr(mx.nd.contrib, name), name
    assert hasattr(mx.sym, "ROIPooling") and hasattr(mx.nd, "ROIPooling")
    from mxc.ir.registry import canonical_name
    assert canonical_name("_contrib_box_non_maximum_suppression") == "_contrib_box_nms"
    for alias, op in (("_npx_multibox_prior", "_contrib_MultiBoxPrior"),
                      ("_npx_multibox_target", "_contrib_MultiBoxTarget"),
                      ("_npx_multibox_detection", "_contrib_MultiBoxDetection"),
                      ("_npx_roi_pooling", "ROIPooling")):
        assert canonical_name(alias) == op


def test_nms_visible_outputs_and_ndarray_call():
    x = np.load(os.path.join(EXTRA, "nms_doc.npz"))["in:data"]
    s = mx.sym.contrib.box_nms(mx.sym.Variable("data"), name="nms")
    assert s.list_outputs() == ["nms_output"]
    out = mx.nd.contrib.box_nms(mx.nd.array(x), overlap_thresh=0.1, id_index=0,
                                force_suppress=True, valid_thresh=0.05)
    np.testing.assert_allclose(out.asnumpy()[0, :2, 1], [0.6, 0.5], rtol=1e-6)
    assert (out.asnumpy()[1] == -1).all()


def test_nms_topk_and_formats():
    """topk limits the candidates (after sorting); center output converts kept rows only."""
    x = np.array([[[0, 0.9, 0.0, 0.0, 1.0, 1.0], [0, 0.8, 2.0, 2.0, 3.0, 3.0],
                   [0, 0.7, 4.0, 4.0, 5.0, 5.0]]], np.float32)
    out = mx.nd.contrib.box_nms(mx.nd.array(x), topk=2, out_format="center").asnumpy()
    np.testing.assert_allclose(out[0, 0], [0, 0.9, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(out[0, 1], [0, 0.8, 2.5, 2.5, 1, 1])
    assert (out[0, 2] == -1).all()


def test_bipartite_topk_quirk():
    """MXNet checks the limit after matching, so topk=1 yields 2 matches."""
    s = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.4]], np.float32)
    r, c = mx.nd.contrib.bipartite_matching(mx.nd.array(s), threshold=0.05, topk=1)
    np.testing.assert_array_equal(r.asnumpy(), [0, 1, -1])
    np.testing.assert_array_equal(c.asnumpy(), [0, 1])


def test_multibox_prior_matches_formula():
    a = mx.nd.contrib.MultiBoxPrior(mx.nd.zeros((1, 1, 2, 2)), sizes=(0.5,), ratios=(1, 4))
    a = a.asnumpy().reshape(2, 2, 2, 4)
    np.testing.assert_allclose(a[0, 0, 0], [0.0, 0.0, 0.5, 0.5], atol=1e-7)
    np.testing.assert_allclose(a[1, 1, 1], [0.25, 0.625, 1.25, 0.875], atol=1e-7)


def test_roi_gradients_reach_data_only():
    """ROIAlign's gradient w.r.t. data is the adjoint of its bilinear sampling: <dy, f(x)> is
    linear in x; rois get zero (MXNet)."""
    z = np.load(os.path.join(EXTRA, "roialign.npz"))
    data, rois = z["in:data"], z["in:rois"]
    s = mx.sym.contrib.ROIAlign(mx.sym.Variable("data"), mx.sym.Variable("rois"),
                                pooled_size=(3, 3), spatial_scale=0.5)
    ex = s.bind(mx.cpu(), {"data": mx.nd.array(data), "rois": mx.nd.array(rois)},
                args_grad={"data": mx.nd.zeros(data.shape), "rois": mx.nd.ones(rois.shape)})
    y = ex.forward(is_train=True)[0].asnumpy()
    h = np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    ex.backward([mx.nd.array(h)])
    gd = ex.grad_dict["data"].asnumpy()
    assert float((h * y).sum()) == pytest.approx(float((gd * data).sum()), rel=1e-4)
    assert (ex.grad_dict["rois"].asnumpy() == 0).all()


def _infer_err(sym, **shapes):
    with pytest.raises(MXNetError) as e:
        sym.infer_shape(**shapes)
    return str(e.value)


V = mx.sym.Variable


@pytest.mark.parametrize("build,shapes,words", [
    (lambda: mx.sym.contrib.box_nms(V("data"), name="nms"), {"data": (2, 5, 4)},
     ["_contrib_box_nms", "nms", "(2,5,4)", "at least 5"]),
    (lambda: mx.sym.contrib.box_nms(V("data"), score_index=3, name="nms"),
     {"data": (2, 5, 6)}, ["_contrib_box_nms", "nms", "score_index=3", "conflicts"]),
    (lambda: mx.sym.contrib.box_iou(V("a"), V("b"), name="iou"), {"a": (3, 4), "b": (2, 5)},
     ["_contrib_box_iou", "iou", "(2,5)", "last dimension of 4"]),
    (lambda: mx.sym.ROIPooling(V("data"), V("rois"), pooled_size=(2, 2), spatial_scale=1.0,
                               name="pool"), {"data": (1, 3, 8, 8), "rois": (4, 4)},
     ["ROIPooling", "pool", "(4,4)", "(num_rois, 5)"]),
    (lambda: mx.sym.contrib.ROIAlign(V("data"), V("rois"), pooled_size=(2, 2),
                                     spatial_scale=1.0, position_sensitive=True, name="al"),
     {"data": (1, 6, 8, 8), "rois": (4, 5)}, ["_contrib_ROIAlign", "al", "6 channels", "4"]),
    (lambda: mx.sym.contrib.MultiBoxTarget(V("a"), V("l"), V("c"), name="tgt"),
     {"a": (2, 10, 4), "l": (2, 3, 5), "c": (2, 3, 10)},
     ["_contrib_MultiBoxTarget", "tgt", "(2,10,4)", "(1, num_anchors, 4)"]),
    (lambda: mx.sym.contrib.MultiBoxDetection(V("c"), V("l"), V("a"), name="det"),
     {"c": (2, 3, 10), "l": (2, 36), "a": (1, 10, 4)},
     ["_contrib_MultiBoxDetection", "det", "(2,36)", "number of anchors"]),
    (lambda: mx.sym.contrib.PSROIPooling(V("data"), V("rois"), spatial_scale=1.0, output_dim=3,
                                         pooled_size=2, name="ps"),
     {"data": (1, 8, 6, 6), "rois": (2, 5)}, ["_contrib_PSROIPooling", "ps", "8 channels", "12"]),
    (lambda: mx.sym.contrib.Proposal(V("c"), V("b"), V("i"), name="rpn"),
     {"c": (1, 9, 4, 4)}, ["_contrib_Proposal", "rpn", "(1,9,4,4)"]),
])
def test_shape_errors_name_op_symbol_and_shapes(build, shapes, words):
    msg = _infer_err(build(), **shapes)
    for w in words:
        assert w in msg, (w, msg)


def test_attribute_errors():
    with pytest.raises(MXNetError, match="_contrib_MultiBoxPrior.*steps"):
        mx.sym.contrib.MultiBoxPrior(V("x"), steps=(0.1, -1.0))
    with pytest.raises(MXNetError, match="_contrib_box_nms.*in_format"):
        mx.sym.contrib.box_nms(V("x"), in_format="xywh")
    with pytest.raises(MXNetError, match="ROIPooling.*spatial_scale"):
        mx.sym.ROIPooling(V("x"), V("r"), pooled_size=(2, 2), spatial_scale=2.0)


def test_runtime_errors():
    with pytest.raises(MXNetError, match="_contrib_Proposal.*batch size 2"):
        mx.nd.contrib.Proposal(mx.nd.ones((2, 24, 3, 3)), mx.nd.zeros((2, 48, 3, 3)),
                               mx.nd.ones((2, 3)) * 48).asnumpy()
    lab = np.array([[[-1, 0.1, 0.1, 0.2, 0.2]]], np.float32)
    with pytest.raises(MXNetError, match="_contrib_MultiBoxTarget.*padding"):
        mx.nd.contrib.MultiBoxTarget(mx.nd.ones((1, 4, 4)), mx.nd.array(lab),
                                     mx.nd.ones((1, 2, 4)))[0].asnumpy()


def test_rroialign_has_no_gradient_and_says_so():
    # MXNet 1.9.1 has none either; refusing beats a silent zero
    s = mx.sym.contrib.RROIAlign(mx.sym.Variable("data"), mx.sym.Variable("rois"),
                                 pooled_size=(2, 2), spatial_scale=1.0, name="rroi")
    exe = s.simple_bind(mx.cpu(), data=(1, 2, 6, 6), rois=(3, 6))
    with pytest.raises(mx.base.UnsupportedError, match="RROIAlign 'rroi'.*no gradient"):
        exe.forward(is_train=True)
        exe.backward(mx.nd.ones((3, 2, 2, 2)))
    with pytest.raises(mx.base.MXNetError, match="RROIAlign.*rroi.*\\(3,5\\)"):
        s.infer_shape(data=(1, 2, 6, 6), rois=(3, 5))
