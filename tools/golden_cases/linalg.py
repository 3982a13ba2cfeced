"""Linear algebra and dense layers: dot (every flattening rule), batch_dot, linalg.gemm,
linalg.gemm2, FullyConnected, softmax and SoftmaxOutput (every attribute)."""
from golden_cases import Case

G = {"grad_rtol": 1e-3, "grad_atol": 1e-5, "rtol": 1e-4, "atol": 1e-5}

CASES = []


def add(*cases):
    CASES.extend(cases)


# --- dot ---------------------------------------------------------------------------------------
add(
    Case("dot", {"lhs": (4, 5), "rhs": (5, 3)}, name="dot", **G),
    Case("dot", {"lhs": (5, 4), "rhs": (5, 3)}, {"transpose_a": True}, name="dot_ta", **G),
    Case("dot", {"lhs": (4, 5), "rhs": (3, 5)}, {"transpose_b": True}, name="dot_tb", **G),
    Case("dot", {"lhs": (5, 4), "rhs": (3, 5)}, {"transpose_a": True, "transpose_b": True},
         name="dot_tatb", **G),
    Case("dot", {"lhs": (6,), "rhs": (6,)}, name="dot_1d_1d", **G),
    Case("dot", {"lhs": (5,), "rhs": (5, 3)}, name="dot_1d_2d", **G),
    Case("dot", {"lhs": (4, 5), "rhs": (5,)}, name="dot_2d_1d", **G),
    Case("dot", {"lhs": (5,), "rhs": (5, 3)}, {"transpose_a": True}, name="dot_1d_2d_ta", **G),
    Case("dot", {"lhs": (3,), "rhs": (4, 3)}, {"transpose_b": True}, name="dot_1d_2d_tb", **G),
    Case("dot", {"lhs": (2, 3, 4), "rhs": (4, 5)}, name="dot_3d_2d", **G),
    Case("dot", {"lhs": (2, 3, 4), "rhs": (4, 2, 3)}, name="dot_3d_3d", **G),
    Case("dot", {"lhs": (4, 3, 2), "rhs": (4, 5)}, {"transpose_a": True}, name="dot_3d_ta", **G),
    Case("dot", {"lhs": (2, 3, 4), "rhs": (5, 2, 4)}, {"transpose_b": True}, name="dot_3d_tb",
         **G),
    Case("dot", {"lhs": (4, 3, 2), "rhs": (3, 2, 4)}, {"transpose_a": True, "transpose_b": True},
         name="dot_3d_tatb", **G),
)

# --- batch_dot ------------------------------------------------------------------------------------
add(
    Case("batch_dot", {"lhs": (3, 4, 5), "rhs": (3, 5, 2)}, name="batch_dot", **G),
    Case("batch_dot", {"lhs": (3, 5, 4), "rhs": (3, 5, 2)}, {"transpose_a": True},
         name="batch_dot_ta", **G),
    Case("batch_dot", {"lhs": (3, 4, 5), "rhs": (3, 2, 5)}, {"transpose_b": True},
         name="batch_dot_tb", **G),
    Case("batch_dot", {"lhs": (3, 5, 4), "rhs": (3, 2, 5)},
         {"transpose_a": True, "transpose_b": True}, name="batch_dot_tatb", **G),
    Case("batch_dot", {"lhs": (2, 2, 3, 4), "rhs": (2, 2, 4, 3)}, name="batch_dot_4d", **G),
    Case("batch_dot", {"lhs": (1, 1, 6), "rhs": (1, 6, 1)}, name="batch_dot_vec", **G),
)

# --- linalg.gemm / gemm2 ----------------------------------------------------------------------
add(
    Case("linalg.gemm", {"A": (4, 5), "B": (5, 3), "C": (4, 3)}, name="gemm", **G),
    Case("linalg.gemm", {"A": (2, 5, 4), "B": (2, 3, 5), "C": (2, 4, 3)},
         {"transpose_a": True, "transpose_b": True, "alpha": 0.5, "beta": -2.0},
         name="gemm_batched_t", **G),
    Case("linalg.gemm", {"A": (2, 4, 3, 5), "B": (2, 5, 3, 2), "C": (2, 4, 3, 2)},
         {"axis": -3, "alpha": 1.5, "beta": 0.0}, name="gemm_axis", **G),
    Case("linalg.gemm", {"A": (4, 5), "B": (3, 5), "C": (4, 3)},
         {"transpose_b": True, "beta": 0.25}, name="gemm_tb", **G),
    Case("linalg.gemm2", {"A": (4, 5), "B": (5, 3)}, name="gemm2", **G),
    Case("linalg.gemm2", {"A": (2, 5, 4), "B": (2, 5, 3)}, {"transpose_a": True, "alpha": -1.5},
         name="gemm2_ta", **G),
    Case("linalg.gemm2", {"A": (2, 3, 4, 5), "B": (2, 3, 3, 5)}, {"transpose_b": True},
         name="gemm2_4d_tb", **G),
    Case("linalg.gemm2", {"A": (4, 2, 5), "B": (5, 2, 3)}, {"axis": 0, "alpha": 2.0},
         name="gemm2_axis0", **G),
    Case("linalg.gemm2", {"A": (2, 4, 3, 5), "B": (2, 3, 3, 5)},
         {"axis": -3, "transpose_b": True}, name="gemm2_axis_tb", **G),
)

# --- FullyConnected ----------------------------------------------------------------------------
add(
    Case("FullyConnected", {"data": (4, 6), "weight": (5, 6), "bias": (5,)}, {"num_hidden": 5},
         name="fc", **G),
    Case("FullyConnected", {"data": (3, 2, 4), "weight": (5, 8), "bias": (5,)},
         {"num_hidden": 5}, name="fc_flatten_3d", **G),
    Case("FullyConnected", {"data": (2, 3, 4), "weight": (5, 4), "bias": (5,)},
         {"num_hidden": 5, "flatten": False}, name="fc_noflatten_3d", **G),
    Case("FullyConnected", {"data": (4, 6), "weight": (3, 6)},
         {"num_hidden": 3, "no_bias": True}, name="fc_no_bias", **G),
    Case("FullyConnected", {"data": (2, 3, 4), "weight": (2, 4)},
         {"num_hidden": 2, "no_bias": True, "flatten": False}, name="fc_noflatten_nobias", **G),
)

# --- softmax ------------------------------------------------------------------------------------
add(
    Case("softmax", {"data": (4, 7)}, name="softmax", **G),
    Case("softmax", {"data": (2, 5, 3)}, {"axis": 1}, name="softmax_axis1", **G),
    Case("softmax", {"data": (2, 5, 3)}, {"axis": 0, "temperature": 2.5}, name="softmax_temp",
         **G),
    Case("softmax", {"data": (3, 6)}, {"temperature": 0.5}, ranges={"data": (-20, 20)},
         name="softmax_wide", **G),
)

# --- SoftmaxOutput: loss layer (backward without head gradients) ---------------------------------
_SO = dict(loss=True, no_grad=("label",), **G)
add(
    Case("SoftmaxOutput", {"data": (5, 4), "label": (5,)}, {}, ints={"label": 4},
         name="so", **_SO),
    Case("SoftmaxOutput", {"data": (5, 4), "label": (5,)}, {"grad_scale": 0.5,
                                                            "normalization": "batch"},
         ints={"label": 4}, name="so_batch", **_SO),
    Case("SoftmaxOutput", {"data": (6, 4), "label": (6,)},
         {"use_ignore": True, "ignore_label": 1.0}, ints={"label": 4}, name="so_ignore", **_SO),
    Case("SoftmaxOutput", {"data": (6, 4), "label": (6,)},
         {"use_ignore": True, "ignore_label": 1.0, "normalization": "valid"},
         ints={"label": 4}, name="so_ignore_valid", **_SO),
    Case("SoftmaxOutput", {"data": (6, 4), "label": (6,)},
         {"ignore_label": 1.0, "normalization": "valid", "grad_scale": 3.0},
         ints={"label": 4}, name="so_valid_no_use_ignore", **_SO),
    Case("SoftmaxOutput", {"data": (6, 4), "label": (6,)}, {"smooth_alpha": 0.1},
         ints={"label": 4}, name="so_smooth", **_SO),
    Case("SoftmaxOutput", {"data": (6, 4), "label": (6,)},
         {"smooth_alpha": 0.2, "use_ignore": True, "ignore_label": 2.0},
         ints={"label": 4}, name="so_smooth_ignore", **_SO),
    Case("SoftmaxOutput", {"data": (2, 3, 4), "label": (2, 3)}, {}, ints={"label": 12},
         name="so_flatten_3d", **_SO),
    Case("SoftmaxOutput", {"data": (2, 3, 4), "label": (2, 3)}, {"preserve_shape": True},
         ints={"label": 4}, name="so_preserve", **_SO),
    Case("SoftmaxOutput", {"data": (2, 3, 4), "label": (2, 3)},
         {"preserve_shape": True, "normalization": "batch"}, ints={"label": 4},
         name="so_preserve_batch", **_SO),
    Case("SoftmaxOutput", {"data": (2, 3, 4), "label": (2, 4)}, {"multi_output": True},
         ints={"label": 3}, name="so_multi", **_SO),
    Case("SoftmaxOutput", {"data": (2, 3, 2, 2), "label": (2, 4)},
         {"multi_output": True, "normalization": "batch"}, ints={"label": 3},
         name="so_multi_batch", **_SO),
    Case("SoftmaxOutput", {"data": (2, 3, 4), "label": (2, 4)},
         {"multi_output": True, "normalization": "valid", "use_ignore": True,
          "ignore_label": 0.0}, ints={"label": 3}, name="so_multi_valid_ignore", **_SO),
    Case("SoftmaxOutput", {"data": (2, 3, 4), "label": (2, 4)},
         {"multi_output": True, "normalization": "valid", "ignore_label": 2.0,
          "grad_scale": 2.0}, ints={"label": 3}, name="so_multi_valid", **_SO),
    Case("SoftmaxOutput", {"data": (2, 3, 2, 2), "label": (2, 2, 2)},
         {"multi_output": True, "smooth_alpha": 0.3}, ints={"label": 3},
         name="so_multi_smooth_nd_label", **_SO),
    Case("SoftmaxOutput", {"data": (4, 3), "label": (4, 3)}, {"grad_scale": 2.0,
                                                              "normalization": "batch"},
         ranges={"label": (0.0, 1.0)}, name="so_prob_label", **_SO),
    Case("SoftmaxOutput", {"data": (5, 4), "label": (5,)}, {"out_grad": True},
         ints={"label": 4}, name="so_out_grad", **_SO),
    Case("Softmax", {"data": (5, 4), "label": (5,)}, {}, ints={"label": 4},
         name="so_alias_softmax", **_SO),
)
