"""Detection operators (mxc/ir/opdefs/detection.py): MultiBoxPrior, box_iou, box_encode,
box_decode, box_nms, bipartite_matching, ROIPooling, ROIAlign, PSROIPooling, MultiBoxTarget,
MultiBoxDetection, Proposal, MultiProposal.

Inputs are uniform draws, so scores are distinct (orderings are deterministic). ``center``
boxes drawn with positive sizes are always valid; ``corner`` boxes drawn from one range are
sometimes inverted (x2 < x1), which exercises MXNet's zero-area rule. Ops whose MXNet gradient
is zero by design record it (``grad=True``) but skip finite differences (``fd=False``).
ROI-style ``rois`` rows are [batch, x1, y1, x2, y2]; a range (0, N) makes the truncated batch
index valid. Data-dependent behaviour with hand-made boxes is in tests/test_ops_detection.py.
"""
from golden_cases import Case

Z = {"fd": False}            # MXNet's gradient is zero by design

CASES = []


def add(*cases):
    CASES.extend(cases)


add(
    Case("contrib.MultiBoxPrior", {"data": (1, 2, 3, 4)}, {}, name="prior_default", **Z),
    Case("contrib.MultiBoxPrior", {"data": (2, 3, 4, 5)},
         {"sizes": (0.5, 0.25, 0.1), "ratios": (1, 2, 0.5)}, name="prior_sizes_ratios", **Z),
    Case("contrib.MultiBoxPrior", {"data": (1, 1, 5, 3)},
         {"sizes": (0.75, 0.4), "ratios": (1, 3), "clip": True, "steps": (0.2, 0.3),
          "offsets": (0.25, 0.6)}, name="prior_clip_steps", **Z),
    Case("contrib.box_iou", {"lhs": (5, 4), "rhs": (3, 4)}, {}, name="iou_corner",
         ranges={"lhs": (0, 1), "rhs": (0, 1)}, **Z),
    Case("contrib.box_iou", {"lhs": (2, 3, 4), "rhs": (4, 4)}, {"format": "center"},
         name="iou_center", ranges={"lhs": (0.2, 1), "rhs": (0.2, 1)}, **Z),
    Case("contrib.box_decode", {"data": (2, 5, 4), "anchors": (1, 5, 4)}, {},
         name="decode_center", ranges={"data": (-1, 1), "anchors": (0.1, 1)}, **Z),
    Case("contrib.box_decode", {"data": (2, 6, 4), "anchors": (1, 6, 4)},
         {"format": "corner", "std0": 0.1, "std1": 0.2, "std2": 0.3, "std3": 0.4,
          "clip": 0.1}, name="decode_corner_clip", ranges={"data": (-1, 1), "anchors": (0, 1)},
         **Z),
    Case("contrib.box_encode",
         {"samples": (2, 6), "matches": (2, 6), "anchors": (2, 6, 4), "refs": (2, 3, 4),
          "means": (4,), "stds": (4,)}, {}, name="encode",
         ints={"matches": 3}, ranges={"samples": (-1.5, 1.5), "anchors": (0, 1),
                                      "refs": (0, 1), "means": (-0.1, 0.1),
                                      "stds": (0.1, 0.3)}, no_grad=("matches",), **Z),
)

# box_nms rows [id, score, x1, y1, x2, y2]: ids truncate to 0..2, scores distinct
add(
    Case("contrib.box_nms", {"data": (2, 8, 6)}, {"overlap_thresh": 0.3, "valid_thresh": 0.4},
         name="nms_default", ranges={"data": (0, 3)}),
    Case("contrib.box_nms", {"data": (10, 6)},
         {"overlap_thresh": 0.2, "id_index": 0, "topk": 6, "valid_thresh": 0.3},
         name="nms_classes_topk", ranges={"data": (0, 3)}),
    Case("contrib.box_nms", {"data": (2, 2, 7, 6)},
         {"overlap_thresh": 0.25, "id_index": 0, "force_suppress": True, "background_id": 1},
         name="nms_force_background", ranges={"data": (0, 3)}),
    Case("contrib.box_nms", {"data": (2, 9, 7)},
         {"overlap_thresh": 0.3, "coord_start": 0, "score_index": 4, "id_index": 5,
          "in_format": "center", "out_format": "corner"},
         name="nms_center_to_corner", ranges={"data": (0.2, 3)}, fd=False),
    Case("contrib.box_non_maximum_suppression", {"data": (1, 6, 6)},
         {"overlap_thresh": 0.4, "out_format": "center"}, name="nms_alias_to_center",
         ranges={"data": (0.2, 3)}, fd=False),
    Case("contrib.bipartite_matching", {"data": (2, 4, 3)}, {"threshold": 0.2},
         name="bipartite", ranges={"data": (0, 1)}, **Z),
    Case("contrib.bipartite_matching", {"data": (5, 6)},
         {"threshold": 0.7, "is_ascend": True, "topk": 2}, name="bipartite_ascend_topk",
         ranges={"data": (0, 1)}, **Z),
)

# ROI operators: rois rows [batch, x1, y1, x2, y2]; a range (0, 2) gives batch 0 or 1
R = {"grad_rtol": 1e-3, "grad_atol": 1e-5}
add(
    Case("ROIPooling", {"data": (2, 3, 6, 7), "rois": (4, 5)},
         {"pooled_size": (2, 3), "spatial_scale": 1.0}, name="roipool",
         ranges={"rois": (0, 1.999)}, no_grad=("rois",)),
    Case("ROIPooling", {"data": (2, 2, 5, 5), "rois": (3, 5)},
         {"pooled_size": (3, 2), "spatial_scale": 0.5}, name="roipool_scale",
         ranges={"rois": (0, 1.999)}, no_grad=("rois",)),
    Case("contrib.ROIAlign", {"data": (2, 3, 4, 5), "rois": (4, 5)},
         {"pooled_size": (2, 2), "spatial_scale": 1.0}, name="roialign",
         ranges={"rois": (0, 1.999)}, no_grad=("rois",), **R),
    Case("contrib.ROIAlign", {"data": (2, 2, 3, 4), "rois": (3, 5)},
         {"pooled_size": (3, 2), "spatial_scale": 0.9, "sample_ratio": 2},
         name="roialign_ratio", ranges={"rois": (0, 1.999)}, no_grad=("rois",), **R),
    Case("contrib.ROIAlign", {"data": (2, 8, 3, 3), "rois": (3, 5)},
         {"pooled_size": (2, 2), "spatial_scale": 1.0, "position_sensitive": True,
          "sample_ratio": 3}, name="roialign_ps", ranges={"rois": (0, 1.999)},
         no_grad=("rois",), **R),
    Case("contrib.PSROIPooling", {"data": (2, 8, 4, 4), "rois": (3, 5)},
         {"spatial_scale": 1.0, "output_dim": 2, "pooled_size": 2}, name="psroipool",
         ranges={"rois": (0, 1.999)}, no_grad=("rois",), **R),
    Case("contrib.PSROIPooling", {"data": (2, 9, 5, 4), "rois": (3, 5)},
         {"spatial_scale": 0.8, "output_dim": 1, "pooled_size": 4, "group_size": 3},
         name="psroipool_group", ranges={"rois": (0, 1.999)}, no_grad=("rois",), **R),
)

# MultiBoxTarget / MultiBoxDetection on uniform draws (structured SSD inputs are in
# tests/test_ops_detection.py); labels' classes are fractional here, which MXNet copies (+1)
add(
    Case("contrib.MultiBoxTarget", {"anchor": (1, 12, 4), "label": (2, 3, 5),
                                    "cls_pred": (2, 3, 12)}, {},
         name="mbt_default", ranges={"anchor": (0, 1), "label": (0, 1)}, **Z),
    Case("contrib.MultiBoxTarget", {"anchor": (1, 16, 4), "label": (2, 2, 6),
                                    "cls_pred": (2, 4, 16)},
         {"overlap_threshold": 0.1, "negative_mining_ratio": 2.0,
          "negative_mining_thresh": 0.4, "ignore_label": -2, "variances": (0.2, 0.2, 0.1, 0.1)},
         name="mbt_mining", ranges={"anchor": (0, 1), "label": (0, 1)}, **Z),
    Case("contrib.MultiBoxDetection", {"cls_prob": (2, 3, 10), "loc_pred": (2, 40),
                                       "anchor": (1, 10, 4)}, {"threshold": 0.2},
         name="mbd_default", ranges={"cls_prob": (0, 1), "loc_pred": (-1, 1),
                                     "anchor": (0, 1)}, **Z),
    Case("contrib.MultiBoxDetection", {"cls_prob": (1, 4, 12), "loc_pred": (1, 48),
                                       "anchor": (1, 12, 4)},
         {"clip": False, "threshold": 0.1, "nms_threshold": 0.3, "force_suppress": True,
          "nms_topk": 5, "variances": (0.1, 0.2, 0.3, 0.2)},
         name="mbd_topk_force", ranges={"cls_prob": (0, 1), "loc_pred": (-1, 1),
                                        "anchor": (0, 1)}, **Z),
)

# Proposal / MultiProposal: im_info rows [height, width, scale] drawn from (15, 20), so the
# valid feature map is 3-4 cells of a 5 x 5 map (the rest scores -1)
P = {"ratios": (0.5, 1.0), "scales": (1.0, 2.0), "feature_stride": 4}
add(
    Case("contrib.Proposal", {"cls_prob": (1, 8, 5, 5), "bbox_pred": (1, 16, 5, 5),
                              "im_info": (1, 3)},
         dict(P, rpn_pre_nms_top_n=40, rpn_post_nms_top_n=12, threshold=0.5, rpn_min_size=0,
              output_score=True), name="proposal",
         ranges={"cls_prob": (0, 1), "bbox_pred": (-0.5, 0.5), "im_info": (15, 20)}, **Z),
    Case("contrib.Proposal", {"cls_prob": (1, 8, 5, 5), "bbox_pred": (1, 16, 5, 5),
                              "im_info": (1, 3)},
         dict(P, rpn_pre_nms_top_n=-1, rpn_post_nms_top_n=30, threshold=0.3, rpn_min_size=0,
              iou_loss=True), name="proposal_iou_loss_repeat",
         ranges={"cls_prob": (0, 1), "bbox_pred": (-2, 2), "im_info": (15, 20)}, **Z),
    Case("contrib.MultiProposal", {"cls_prob": (2, 8, 5, 5), "bbox_pred": (2, 16, 5, 5),
                                   "im_info": (2, 3)},
         dict(P, rpn_pre_nms_top_n=50, rpn_post_nms_top_n=10, threshold=0.6, rpn_min_size=0,
              output_score=True), name="multiproposal",
         ranges={"cls_prob": (0, 1), "bbox_pred": (-0.5, 0.5), "im_info": (15, 20)}, **Z),
)
add(
    Case("contrib.Proposal", {"cls_prob": (1, 8, 4, 4), "bbox_pred": (1, 16, 4, 4),
                              "im_info": (1, 3)},
         dict(P, rpn_pre_nms_top_n=20, rpn_post_nms_top_n=6, threshold=0.7, rpn_min_size=1,
              output_score=True), name="proposal_min_size",
         ranges={"cls_prob": (0, 1), "bbox_pred": (-1, 1), "im_info": (15, 20)}, **Z),
)

# CI cost: the first case of each operator runs on both backends, the others on LLVM only
# (library calls are the same on both; the Triton interpreter is slow)
_seen = set()
for _c in CASES:
    if _c.op in _seen:
        _c.targets = ("llvm",)
    _seen.add(_c.op)
