"""Deformable / rotated sampling operators (mxc/ir/opdefs/deformable.py):
contrib.DeformableConvolution, contrib.ModulatedDeformableConvolution,
contrib.DeformablePSROIPooling, contrib.SparseEmbedding.

Offsets are drawn wide enough that samples leave the image on every side (MXNet's border
rules). One small case per operator runs on Triton (the interpreter is slow); the others are
LLVM-only. MXNet 1.9.1 has no CPU backward for ModulatedDeformableConvolution: it records the
forward only (``grad=False``); its gradients are checked by finite differences in
tests/test_ops_deformable.py.
"""
from golden_cases import Case

G = {"grad_rtol": 1e-3, "grad_atol": 1e-4, "rtol": 1e-4, "atol": 1e-5}
L = {"targets": ("llvm",)}

CASES = []


def add(*cases):
    CASES.extend(cases)


# --- DeformableConvolution ------------------------------------------------------------------------
D = "contrib.DeformableConvolution"
add(
    Case(D, {"data": (1, 2, 4, 4), "offset": (1, 8, 3, 3), "weight": (2, 2, 2, 2),
             "bias": (2,)}, {"kernel": (2, 2), "num_filter": 2},
         name="deform_conv_small", ranges={"offset": (-1.5, 1.5)}, **G),
    Case(D, {"data": (2, 4, 5, 6), "offset": (2, 36, 5, 6), "weight": (4, 2, 3, 3),
             "bias": (4,)},
         {"kernel": (3, 3), "pad": (1, 1), "num_filter": 4, "num_group": 2,
          "num_deformable_group": 2}, name="deform_conv_groups",
         ranges={"offset": (-2.5, 2.5)}, **G, **L),
    Case(D, {"data": (1, 3, 7, 6), "offset": (1, 18, 3, 2), "weight": (2, 3, 3, 3)},
         {"kernel": (3, 3), "stride": (2, 2), "dilate": (2, 1), "pad": (1, 0), "num_filter": 2,
          "no_bias": True}, name="deform_conv_stride_dilate",
         ranges={"offset": (-3, 3)}, **G, **L),
)

# --- SparseEmbedding: MXNet 1.9.1 computes its gradient only into row_sparse arrays (the golden
# generator binds dense ones), so the forward is recorded; tests/test_ops_deformable.py checks
# the dense gradient against the row_sparse values MXNet gives ------------------------------------
add(
    Case("contrib.SparseEmbedding", {"data": (2, 3), "weight": (5, 4)},
         {"input_dim": 5, "output_dim": 4}, name="sparse_embedding", ints={"data": 5},
         grad=False),
    Case("contrib.SparseEmbedding", {"data": (7,), "weight": (3, 2)},
         {"input_dim": 3, "output_dim": 2}, name="sparse_embedding_clip",
         ranges={"data": (-1.5, 4.5)}, grad=False, **L),
)

# --- ModulatedDeformableConvolution (forward only: MXNet 1.9.1's backward is GPU-only) -----------
M = "contrib.ModulatedDeformableConvolution"
add(
    Case(M, {"data": (1, 2, 4, 4), "offset": (1, 8, 3, 3), "mask": (1, 4, 3, 3),
             "weight": (2, 2, 2, 2), "bias": (2,)}, {"kernel": (2, 2), "num_filter": 2},
         name="mdeform_conv_small", ranges={"offset": (-1.5, 1.5), "mask": (0, 1)},
         grad=False),
    Case(M, {"data": (2, 4, 5, 6), "offset": (2, 36, 5, 6), "mask": (2, 18, 5, 6),
             "weight": (4, 2, 3, 3), "bias": (4,)},
         {"kernel": (3, 3), "pad": (1, 1), "num_filter": 4, "num_group": 2,
          "num_deformable_group": 2}, name="mdeform_conv_groups",
         ranges={"offset": (-2.5, 2.5), "mask": (0, 1)}, grad=False, **L),
    Case(M, {"data": (1, 3, 7, 6), "offset": (1, 18, 3, 2), "mask": (1, 9, 3, 2),
             "weight": (2, 3, 3, 3)},
         {"kernel": (3, 3), "stride": (2, 2), "dilate": (2, 1), "pad": (1, 0), "num_filter": 2,
          "no_bias": True}, name="mdeform_conv_stride_dilate",
         ranges={"offset": (-3, 3), "mask": (-1, 1)}, grad=False, **L),
)

# --- DeformablePSROIPooling: 8 images so that rois drawn from (0, 8) have valid batch indices
# and coordinates spread over the 8x8 map; trans shifts samples off the map ----------------------
P = "contrib.DeformablePSROIPooling"
add(
    Case(P, {"data": (8, 8, 8, 8), "rois": (3, 5), "trans": (3, 2, 2, 2)},
         {"spatial_scale": 1.0, "output_dim": 2, "group_size": 2, "pooled_size": 2,
          "sample_per_part": 2, "trans_std": 0.3}, name="deform_psroi",
         ranges={"rois": (0, 8), "trans": (-1, 1)}, no_grad=("rois",), **G),
    Case(P, {"data": (8, 18, 8, 8), "rois": (4, 5), "trans": (4, 4, 2, 2)},
         {"spatial_scale": 0.75, "output_dim": 2, "group_size": 3, "pooled_size": 3,
          "part_size": 2, "sample_per_part": 3, "trans_std": 0.5}, name="deform_psroi_classes",
         ranges={"rois": (0, 8), "trans": (-1, 1)}, no_grad=("rois",), **G, **L),
    Case(P, {"data": (8, 12, 8, 8), "rois": (3, 5)},
         {"spatial_scale": 1.0, "output_dim": 3, "group_size": 2, "pooled_size": 4,
          "sample_per_part": 2, "no_trans": True}, name="deform_psroi_no_trans",
         ranges={"rois": (0, 8)}, no_grad=("rois",), **G, **L),
)
