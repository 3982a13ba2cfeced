"""Record MXNet 1.9.1's results for the structured detection scenarios of
tests/test_ops_detection.py (hand-made boxes, an SSD-style training graph) that the generic
op-golden harness (uniform random inputs) cannot express.

    $(../shared/oracle/setup.sh) tools/make_detection_golden.py

Writes ``tests/data/ops/detection/extra/<scenario>.npz`` with ``in:<name>``, ``out:<i>``,
``head:<i>`` and ``grad:<name>``. The scenarios are defined in :func:`scenarios` with plain
numpy inputs; the test builds the same symbols with mxc (``import mxc as mx``) and compares.
"""
from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "ops", "detection", "extra")


def _ssd_label():
    lab = np.full((2, 3, 5), -1, np.float32)
    lab[0, 0] = [0, 0.10, 0.15, 0.45, 0.50]
    lab[0, 1] = [2, 0.50, 0.40, 0.95, 0.90]
    lab[1, 0] = [1, 0.20, 0.20, 0.70, 0.60]
    return lab


def ssd_symbol(mx, num_classes=3):
    """MultiBoxPrior + MultiBoxTarget + MultiBoxDetection around two 3x3 convolutions."""
    feat = mx.sym.Variable("feat")
    label = mx.sym.Variable("label")
    sizes, ratios = (0.3, 0.6), (1.0, 2.0, 0.5)
    A = len(sizes) + len(ratios) - 1
    anchors = mx.sym.contrib.MultiBoxPrior(feat, sizes=sizes, ratios=ratios, clip=True,
                                           name="prior")
    cls = mx.sym.Convolution(feat, kernel=(3, 3), pad=(1, 1), num_filter=A * (num_classes + 1),
                             name="cls_conv")
    cls = mx.sym.transpose(cls, axes=(0, 2, 3, 1))
    cls = mx.sym.Reshape(cls, shape=(0, -1, num_classes + 1))
    cls_pred = mx.sym.transpose(cls, axes=(0, 2, 1), name="cls_pred")
    loc = mx.sym.Convolution(feat, kernel=(3, 3), pad=(1, 1), num_filter=A * 4,
                             name="loc_conv")
    loc_pred = mx.sym.Flatten(mx.sym.transpose(loc, axes=(0, 2, 3, 1)), name="loc_pred")
    tgt = mx.sym.contrib.MultiBoxTarget(anchors, label, cls_pred, overlap_threshold=0.4,
                                        negative_mining_ratio=3, negative_mining_thresh=0.5,
                                        name="target")
    loc_target, loc_mask, cls_target = tgt[0], tgt[1], tgt[2]
    cls_prob = mx.sym.SoftmaxOutput(cls_pred, cls_target, ignore_label=-1, use_ignore=True,
                                    multi_output=True, normalization="valid", name="cls_prob")
    loc_diff = loc_mask * (loc_pred - loc_target)
    loc_loss = mx.sym.MakeLoss(mx.sym.smooth_l1(loc_diff, scalar=1.0), normalization="valid",
                               name="loc_loss")
    det = mx.sym.contrib.MultiBoxDetection(mx.sym.BlockGrad(cls_prob), mx.sym.BlockGrad(loc_pred),
                                           anchors, nms_threshold=0.45, threshold=0.05,
                                           name="det")
    return mx.sym.Group([cls_prob, loc_loss, mx.sym.BlockGrad(cls_target),
                         mx.sym.BlockGrad(loc_target), mx.sym.BlockGrad(det)])


def _roialign_builder(kw):
    def build(mx):
        return mx.sym.contrib.ROIAlign(mx.sym.Variable("data"), mx.sym.Variable("rois"),
                                       name="roi", **kw)
    return build


def scenarios():
    """name -> (builder(mx) -> symbol, inputs {name: array}, grad names)."""
    rng = np.random.default_rng(7)
    s = {}
    s["ssd"] = (ssd_symbol, {
        "feat": rng.uniform(-1, 1, (2, 4, 4, 4)).astype(np.float32),
        "cls_conv_weight": rng.normal(0, 0.3, (16, 4, 3, 3)).astype(np.float32),
        "cls_conv_bias": np.zeros(16, np.float32),
        "loc_conv_weight": rng.normal(0, 0.1, (16, 4, 3, 3)).astype(np.float32),
        "loc_conv_bias": np.zeros(16, np.float32),
        "label": _ssd_label()}, ["feat", "cls_conv_weight", "loc_conv_weight", "cls_conv_bias"])
    # MXNet's documented box_nms example (with two batches, one all below valid_thresh)
    nms_x = np.array([[[0, 0.5, 0.1, 0.1, 0.2, 0.2], [1, 0.4, 0.1, 0.1, 0.2, 0.2],
                       [0, 0.3, 0.1, 0.1, 0.14, 0.14], [2, 0.6, 0.5, 0.5, 0.7, 0.8]],
                      [[0, 0.01, 0.1, 0.1, 0.2, 0.2], [1, 0.02, 0.3, 0.3, 0.5, 0.5],
                       [0, 0.03, 0.1, 0.1, 0.14, 0.14], [2, 0.04, 0.5, 0.5, 0.7, 0.8]]],
                     np.float32)
    s["nms_doc"] = (lambda mx: mx.sym.contrib.box_nms(
        mx.sym.Variable("data"), overlap_thresh=0.1, coord_start=2, score_index=1, id_index=0,
        force_suppress=True, valid_thresh=0.05, name="nms"), {"data": nms_x}, ["data"])
    s["nms_per_class"] = (lambda mx: mx.sym.contrib.box_nms(
        mx.sym.Variable("data"), overlap_thresh=0.1, id_index=0, name="nms"),
        {"data": nms_x[:1]}, ["data"])
    # ROI ops with real boxes on a 2-image 8x10 map (stride 2 image coordinates)
    rois = np.array([[0, 1.0, 2.0, 11.0, 9.0], [1, 4.5, 0.5, 17.0, 15.0],
                     [0, 0.0, 0.0, 19.5, 15.5], [1, 6.0, 6.0, 7.0, 7.5]], np.float32)
    feat = rng.uniform(-1, 1, (2, 8, 8, 10)).astype(np.float32)
    for nm, kw in (("roialign", {"pooled_size": (3, 3), "spatial_scale": 0.5}),
                   ("roialign_aligned", {"pooled_size": (2, 4), "spatial_scale": 0.5,
                                         "aligned": True, "sample_ratio": 2}),
                   ("roialign_ps", {"pooled_size": (2, 2), "spatial_scale": 0.5,
                                    "position_sensitive": True})):
        s[nm] = (_roialign_builder(kw), {"data": feat, "rois": rois}, ["data", "rois"])
    s["roipool"] = (lambda mx: mx.sym.ROIPooling(
        mx.sym.Variable("data"), mx.sym.Variable("rois"), pooled_size=(3, 2),
        spatial_scale=0.5, name="roi"), {"data": feat, "rois": rois}, ["data", "rois"])
    s["psroipool"] = (lambda mx: mx.sym.contrib.PSROIPooling(
        mx.sym.Variable("data"), mx.sym.Variable("rois"), spatial_scale=0.5, output_dim=2,
        pooled_size=2, name="roi"), {"data": feat, "rois": rois}, ["data", "rois"])
    s["bipartite_doc"] = (lambda mx: mx.sym.contrib.bipartite_matching(
        mx.sym.Variable("data"), threshold=1e-12, is_ascend=False, name="bm"),
        {"data": np.array([[0.5, 0.6], [0.1, 0.2], [0.3, 0.4]], np.float32)}, [])
    # rotated rois [batch, cx, cy, w, h, angle in degrees] (forward only: MXNet has no gradient)
    rrois = np.array([[0, 5, 4, 6, 3, 30], [1, 2.5, 7, 4.2, 5.1, -60], [0, 10, 8, 3, 3, 90],
                      [1, 0, 0, 20, 18, 0], [0, 5, 5, 0.5, 0.2, 15]], np.float32)
    for nm, kw in (("rroialign", {"pooled_size": (2, 3), "spatial_scale": 1.0}),
                   ("rroialign_ratio", {"pooled_size": (3, 3), "spatial_scale": 0.5,
                                        "sampling_ratio": 2})):
        s[nm] = ((lambda kw: lambda mx: mx.sym.contrib.RROIAlign(
            mx.sym.Variable("data"), mx.sym.Variable("rois"), name="rroi", **kw))(kw),
            {"data": feat, "rois": rrois}, [])
    return s


def run(mx, name, build, inputs, grads, heads=None):
    """Bind, forward (training), backward with head gradients; returns (outs, heads, grads)."""
    sym = build(mx)
    args = sym.list_arguments()
    arrays = {n: mx.nd.array(inputs[n]) for n in args}
    gbufs = {n: mx.nd.zeros(inputs[n].shape) for n in grads}
    req = {n: ("write" if n in grads else "null") for n in args}
    exe = sym.bind(mx.cpu(), arrays, args_grad=gbufs, grad_req=req)
    outs = [o.asnumpy() for o in exe.forward(is_train=True)]
    if grads:
        if heads is None:
            rng = np.random.default_rng(3)
            heads = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
        exe.backward([mx.nd.array(h) for h in heads])
    return outs, heads, {n: gbufs[n].asnumpy() for n in grads}


def main():
    import mxnet as mx
    os.makedirs(OUT, exist_ok=True)
    for name, (build, inputs, grads) in scenarios().items():
        outs, heads, gs = run(mx, name, build, inputs, grads)
        data = {f"in:{k}": v for k, v in inputs.items()}
        data.update({f"out:{i}": o for i, o in enumerate(outs)})
        data.update({f"head:{i}": h for i, h in enumerate(heads or [])})
        data.update({f"grad:{k}": v for k, v in gs.items()})
        np.savez_compressed(os.path.join(OUT, f"{name}.npz"), **data)
        print(name, [o.shape for o in outs])


if __name__ == "__main__":
    sys.exit(main())
