"""Spatial / segmentation operators (mxc/ir/opdefs/spatial.py): Crop, BilinearSampler,
GridGenerator, SpatialTransformer, contrib.BilinearResize2D (every mode),
contrib.AdaptiveAvgPooling2D, Correlation (both is_multiply settings), im2col, col2im."""
from golden_cases import Case

G = {"grad_rtol": 1e-3, "grad_atol": 1e-5, "rtol": 1e-4, "atol": 1e-5}

CASES = []


def add(*cases):
    CASES.extend(cases)


# --- Crop ------------------------------------------------------------------------------------------
add(
    Case("Crop", {"arg0": (2, 3, 5, 6)}, {"num_args": 1, "h_w": (2, 3), "offset": (1, 2)},
         name="crop_hw"),
    Case("Crop", {"arg0": (1, 2, 6, 5)}, {"num_args": 1, "h_w": (3, 2), "center_crop": True},
         name="crop_hw_center"),
    Case("Crop", {"arg0": (2, 2, 5, 7), "arg1": (1, 4, 3, 4)}, {"num_args": 2},
         name="crop_like"),
    Case("Crop", {"arg0": (2, 2, 5, 7), "arg1": (3, 1, 2, 4)},
         {"num_args": 2, "offset": (2, 3)}, name="crop_like_offset"),
    Case("Crop", {"arg0": (1, 3, 7, 6), "arg1": (1, 1, 4, 3)},
         {"num_args": 2, "center_crop": True}, name="crop_like_center"),
)

# --- bilinear sampling -----------------------------------------------------------------------------
add(
    # grids reach outside [-1, 1]: the zero-padded border is exercised
    Case("BilinearSampler", {"data": (2, 3, 4, 5), "grid": (2, 2, 3, 4)}, {},
         name="bilinear_sampler", ranges={"grid": (-1.3, 1.3)}, **G),
    Case("BilinearSampler", {"data": (1, 2, 6, 3), "grid": (1, 2, 5, 5)}, {},
         name="bilinear_sampler_inside", ranges={"grid": (-0.95, 0.95)}, **G),
    Case("GridGenerator", {"data": (2, 6)}, {"transform_type": "affine",
                                             "target_shape": (3, 4)},
         name="grid_affine", **G),
    Case("GridGenerator", {"data": (2, 2, 3, 5)}, {"transform_type": "warp"},
         name="grid_warp", **G),
    Case("SpatialTransformer", {"data": (2, 3, 5, 6), "loc": (2, 6)},
         {"target_shape": (4, 3), "transform_type": "affine", "sampler_type": "bilinear"},
         name="spatial_transformer", ranges={"loc": (-1.0, 1.0)}, **G),
    Case("SpatialTransformer", {"data": (1, 2, 4, 4), "loc": (1, 6)},
         {"target_shape": (5, 5), "transform_type": "affine", "sampler_type": "bilinear"},
         name="spatial_transformer_up", ranges={"loc": (-0.6, 0.6)}, **G),
)

# --- BilinearResize2D -----------------------------------------------------------------------------
R = "contrib.BilinearResize2D"
add(
    Case(R, {"data": (2, 3, 4, 5)}, {"height": 7, "width": 9}, name="resize_size", **G),
    Case(R, {"data": (2, 3, 4, 5)}, {"height": 7, "width": 9, "align_corners": False},
         name="resize_size_half_pixel", **G),
    Case(R, {"data": (1, 2, 8, 9)}, {"height": 3, "width": 4}, name="resize_down", **G),
    Case(R, {"data": (1, 2, 8, 9)}, {"height": 3, "width": 4, "align_corners": False},
         name="resize_down_half_pixel", **G),
    Case(R, {"data": (1, 2, 4, 4)}, {"height": 1, "width": 5}, name="resize_to_one_row", **G),
    Case(R, {"data": (2, 2, 3, 5)}, {"scale_height": 2.0, "scale_width": 1.5},
         name="resize_scale", **G),
    Case(R, {"data": (1, 2, 5, 4)}, {"scale_height": 0.5, "scale_width": 2.0,
                                     "mode": "odd_scale"}, name="resize_odd_scale", **G),
    Case(R, {"data": (1, 2, 3, 4), "like": (2, 1, 6, 5)}, {"mode": "like"},
         name="resize_like", **G),
    Case(R, {"data": (1, 2, 5, 4)}, {"mode": "to_even_down"}, name="resize_to_even_down", **G),
    Case(R, {"data": (1, 2, 5, 4)}, {"mode": "to_even_up"}, name="resize_to_even_up", **G),
    Case(R, {"data": (1, 2, 5, 4)}, {"mode": "to_odd_down"}, name="resize_to_odd_down", **G),
    Case(R, {"data": (1, 2, 5, 4)}, {"mode": "to_odd_up", "align_corners": False},
         name="resize_to_odd_up", **G),
    Case(R, {"data": (1, 2, 3, 4)}, {"height": 3, "width": 4}, name="resize_same", **G),
)

# --- AdaptiveAvgPooling2D --------------------------------------------------------------------------
A = "contrib.AdaptiveAvgPooling2D"
add(
    Case(A, {"data": (2, 3, 5, 6)}, {}, name="adaptive_avg_global", **G),
    Case(A, {"data": (2, 3, 7, 5)}, {"output_size": (3, 2)}, name="adaptive_avg_3x2", **G),
    Case(A, {"data": (1, 2, 5, 5)}, {"output_size": 3}, name="adaptive_avg_int", **G),
    Case(A, {"data": (1, 2, 3, 4)}, {"output_size": (5, 6)}, name="adaptive_avg_up", **G),
)

# --- Correlation (small: the Triton interpreter runs one program per output element; three of
# the four run on Triton in tests/test_ops_spatial.py, marked slow) ---------------------------
L = {"targets": ("llvm",)}
add(
    Case("Correlation", {"data1": (1, 2, 5, 6), "data2": (1, 2, 5, 6)},
         {"kernel_size": 3, "max_displacement": 1, "stride1": 2, "stride2": 1, "pad_size": 1},
         name="correlation", **G, **L),
    Case("Correlation", {"data1": (1, 2, 5, 6), "data2": (1, 2, 5, 6)},
         {"kernel_size": 1, "max_displacement": 2, "stride2": 2, "pad_size": 1},
         name="correlation_stride2", **G),
    Case("Correlation", {"data1": (1, 2, 5, 5), "data2": (1, 2, 5, 5)},
         {"kernel_size": 3, "max_displacement": 1, "pad_size": 1, "is_multiply": False},
         name="correlation_absdiff", **G, **L),
    Case("Correlation", {"data1": (1, 2, 4, 4), "data2": (1, 2, 4, 4)},
         {"kernel_size": 1, "max_displacement": 3, "stride1": 3, "stride2": 3, "pad_size": 3,
          "is_multiply": False}, name="correlation_absdiff_strided", **G, **L),
)

# --- im2col / col2im (MXNet 1.9.1's 1-d form fails inside its kernel: tests/test_ops_spatial.py
# checks mxc's 1-d form against the 2-d one) --------------------------------------------------
add(
    Case("im2col", {"data": (2, 3, 5, 6)}, {"kernel": (2, 3), "stride": (1, 2), "pad": (1, 1)},
         name="im2col"),
    Case("im2col", {"data": (1, 2, 6, 6)}, {"kernel": (3, 2), "dilate": (2, 1),
                                            "stride": (2, 2)}, name="im2col_dilate"),
    Case("col2im", {"data": (2, 18, 18)}, {"output_size": (5, 6), "kernel": (2, 3),
                                           "stride": (1, 2), "pad": (1, 1)}, name="col2im"),
    Case("col2im", {"data": (1, 12, 6)}, {"output_size": (6, 6), "kernel": (3, 2),
                                          "dilate": (2, 1), "stride": (1, 2)},
         name="col2im_dilate"),
)

# CI cost: the first case of each operator runs on both backends, the others on LLVM only (the
# decompositions are the same graphs on both; the Triton interpreter is slow)
_seen = set()
for _c in CASES:
    if _c.op in _seen:
        _c.targets = ("llvm",)
    _seen.add(_c.op)
