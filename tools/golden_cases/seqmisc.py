"""Sequence and miscellaneous operators (mxc/ir/opdefs/seqmisc.py, seqmisc_ctc.py): CTCLoss,
the interleaved multi-head attention matmuls, div_sqrt_dim, gradientmultiplier, quadratic,
round_ste, sign_ste, arange_like, index_array, index_copy, allclose, cast_storage and
SyncBatchNorm. (BatchNormWithReLU needs MXNet's oneDNN build, fill_element_0index is an
NDArray-only function in MXNet, and the GPU-only contrib operators have no CPU oracle: those
are checked in tests/test_ops_seqmisc.py.)"""
from golden_cases import Case

G = {"grad_rtol": 1e-3, "grad_atol": 1e-5, "rtol": 1e-4, "atol": 1e-5}
CTC = {"grad_rtol": 1e-3, "grad_atol": 1e-5, "rtol": 1e-4, "atol": 1e-4}

CASES = []


def add(*cases):
    CASES.extend(cases)


# --- small contrib operators -----------------------------------------------------------------------
add(
    Case("contrib.div_sqrt_dim", {"data": (2, 3, 8)}, name="div_sqrt_dim"),
    Case("contrib.div_sqrt_dim", {"data": (5, 3)}, name="div_sqrt_dim_2d"),
    Case("contrib.gradientmultiplier", {"data": (3, 4)}, {"scalar": 0.3},
         name="gradientmultiplier", fd=False),
    Case("contrib.gradientmultiplier", {"data": (2, 5)}, {"scalar": -1.0},
         name="gradientmultiplier_reverse", fd=False),
    Case("contrib.quadratic", {"data": (3, 4)}, {"a": 1.5, "b": -2.0, "c": 0.5},
         name="quadratic"),
    Case("contrib.quadratic", {"data": (2, 3)}, {}, name="quadratic_default"),
    Case("contrib.round_ste", {"data": (3, 5)}, name="round_ste", ranges={"data": (-3, 3)},
         fd=False),
    Case("contrib.sign_ste", {"data": (4, 3)}, name="sign_ste", fd=False),
    Case("contrib.arange_like", {"data": (2, 3, 4)}, {"start": 1.0, "step": 2.0, "repeat": 3},
         name="arange_like", grad=False),
    Case("contrib.arange_like", {"data": (3, 5)}, {"start": -2.5, "step": 0.5, "axis": -1},
         name="arange_like_axis", grad=False),
    Case("contrib.arange_like", {"data": (6,)}, {"start": 1.5, "step": 2.7}, name="arange_like_int",
         ints={"data": 4}, dtypes={"data": "int32"}, grad=False),
    Case("contrib.index_array", {"data": (2, 3, 4)}, name="index_array", grad=False),
    Case("contrib.index_array", {"data": (3, 2, 2)}, {"axes": (1, 0)}, name="index_array_axes",
         grad=False),
    Case("contrib.index_array", {"data": (4, 3)}, {"axes": (-1,)}, name="index_array_neg",
         grad=False),
    Case("contrib.index_copy", {"old_tensor": (6, 3), "index_vector": (1,), "new_tensor": (1, 3)},
         name="index_copy", ints={"index_vector": 6}, no_grad=("index_vector",)),
    Case("contrib.index_copy", {"old_tensor": (7, 2, 2), "index_vector": (2,),
                                "new_tensor": (2, 2, 2)},
         name="index_copy_3d", ints={"index_vector": 7}, dtypes={"index_vector": "int64"},
         no_grad=("index_vector",)),
    Case("contrib.allclose", {"a": (3, 4), "b": (3, 4)}, name="allclose_false", grad=False),
    Case("contrib.allclose", {"a": (3, 4), "b": (3, 4)}, {"rtol": 1.0, "atol": 0.0},
         name="allclose_true", ranges={"a": (1, 2), "b": (1, 2)}, grad=False),
    Case("cast_storage", {"data": (3, 4)}, {"stype": "default"}, name="cast_storage"),
)

# --- SyncBatchNorm (one device: BatchNorm over axis 1, var output = variance) ----------------------
add(
    Case("contrib.SyncBatchNorm", {"data": (4, 3, 2, 2), "gamma": (3,), "beta": (3,),
                                   "moving_mean": (3,), "moving_var": (3,)},
         {"key": "sbn", "fix_gamma": False}, name="SyncBatchNorm_train", is_train=True,
         ranges={"moving_var": (0.5, 2)}, fd=False, **G),
    Case("contrib.SyncBatchNorm", {"data": (5, 2, 3), "gamma": (2,), "beta": (2,),
                                   "moving_mean": (2,), "moving_var": (2,)},
         {"key": "sbn2", "output_mean_var": True}, name="SyncBatchNorm_mean_var",
         is_train=True, ranges={"moving_var": (0.5, 2)}, fd=False, **G),
    Case("contrib.SyncBatchNorm", {"data": (3, 4, 2), "gamma": (4,), "beta": (4,),
                                   "moving_mean": (4,), "moving_var": (4,)},
         {"key": "sbn3", "fix_gamma": False, "eps": 1e-4}, name="SyncBatchNorm_infer",
         ranges={"moving_var": (0.5, 2)}, grad=False),
)

# --- interleaved multi-head attention matmuls ----------------------------------------------------
add(
    Case("contrib.interleaved_matmul_selfatt_qk", {"queries_keys_values": (5, 2, 3 * 2 * 4)},
         {"heads": 2}, name="selfatt_qk", **G),
    Case("contrib.interleaved_matmul_selfatt_qk", {"queries_keys_values": (3, 1, 3 * 3 * 2)},
         {"heads": 3}, name="selfatt_qk_3h", **G),
    Case("contrib.interleaved_matmul_selfatt_valatt",
         {"queries_keys_values": (5, 2, 3 * 2 * 4), "attention": (4, 5, 5)}, {"heads": 2},
         name="selfatt_valatt", **G),
    Case("contrib.interleaved_matmul_encdec_qk",
         {"queries": (4, 2, 2 * 3), "keys_values": (6, 2, 2 * 2 * 3)}, {"heads": 2},
         name="encdec_qk", **G),
    Case("contrib.interleaved_matmul_encdec_valatt",
         {"keys_values": (6, 2, 2 * 2 * 3), "attention": (4, 4, 6)}, {"heads": 2},
         name="encdec_valatt", **G),
)

# --- CTCLoss -------------------------------------------------------------------------------------------
add(
    Case("CTCLoss", {"data": (10, 3, 5), "label": (3, 4)}, {}, name="ctc_first",
         ints={"label": 5}, no_grad=("label",), **CTC),
    Case("ctc_loss", {"data": (9, 2, 4), "label": (2, 3)}, {"blank_label": "last"},
         name="ctc_last", ints={"label": 3}, no_grad=("label",), **CTC),
    Case("contrib.ctc_loss", {"data": (8, 3, 6), "label": (3, 3)}, {}, name="ctc_int_label",
         ints={"label": 6}, dtypes={"label": "int32"}, no_grad=("label",), **CTC),
    Case("contrib.CTCLoss", {"data": (10, 3, 5), "label": (3, 3), "data_lengths": (3,)},
         {"use_data_lengths": True}, name="ctc_data_lengths", ints={"label": 5},
         ranges={"data_lengths": (8, 8.49)}, no_grad=("label", "data_lengths"), **CTC),
    Case("CTCLoss", {"data": (10, 2, 5), "label": (2, 3), "data_lengths": (2,)},
         {"use_data_lengths": True}, name="ctc_data_lengths_full", ints={"label": 5},
         ranges={"data_lengths": (10, 10.49)}, no_grad=("label", "data_lengths"), **CTC),
    Case("CTCLoss", {"data": (9, 3, 5), "label": (3, 4), "label_lengths": (3,)},
         {"use_label_lengths": True, "blank_label": "last"}, name="ctc_label_lengths",
         ints={"label": 4}, ranges={"label_lengths": (1, 4.49)},
         no_grad=("label", "label_lengths"), **CTC),
    Case("CTCLoss", {"data": (10, 2, 4), "label": (2, 3), "data_lengths": (2,),
                     "label_lengths": (2,)},
         {"use_data_lengths": True, "use_label_lengths": True, "blank_label": "last"},
         name="ctc_both_lengths", ints={"label": 3},
         ranges={"data_lengths": (7, 7.49), "label_lengths": (1, 3.49)},
         no_grad=("label", "data_lengths", "label_lengths"), **CTC),
)

# --- hawkesll (MXNet's gradient: d output / d (lda, alpha, beta); the out_state head and the
# state get none, so no finite differences) ----------------------------------------------------------
_HK = {"lda": (0.5, 2), "alpha": (0.1, 0.5), "beta": (0.5, 2), "state": (0, 1),
       "lags": (0.1, 1)}
add(
    Case("contrib.hawkesll", {"lda": (3, 2), "alpha": (2,), "beta": (2,), "state": (3, 2),
                              "lags": (3, 5), "marks": (3, 5), "valid_length": (3,),
                              "max_time": (3,)},
         name="hawkesll", ranges={**_HK, "max_time": (5.5, 7)},
         ints={"marks": 2, "valid_length": 6}, dtypes={"marks": "int32"},
         no_grad=("lags", "marks", "valid_length", "max_time"), fd=False, **G),
    Case("contrib.hawkesll", {"lda": (4, 3), "alpha": (3,), "beta": (3,), "state": (4, 3),
                              "lags": (4, 6), "marks": (4, 6), "valid_length": (4,),
                              "max_time": (4,)},
         name="hawkesll_k3", ranges={**_HK, "max_time": (6.5, 9)},
         ints={"marks": 3, "valid_length": 7}, dtypes={"marks": "int32"},
         no_grad=("lags", "marks", "valid_length", "max_time"), fd=False, **G),
)
