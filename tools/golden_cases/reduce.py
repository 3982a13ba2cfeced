"""Reductions (sum, mean, prod, max, min, nansum, nanprod, norm), arg-reductions (argmax,
argmin) and sorting (topk, sort, argsort).

Gradients of reductions are compared at rtol 1e-3 (summation order differs from MXNet's).
Sorting cases draw distinct values (continuous uniform), so the order is unambiguous; tie cases
use small integers and check MXNet's tie order (first occurrence first).
"""
from golden_cases import Case

R = {"grad_rtol": 1e-3, "grad_atol": 1e-5}
X = (3, 4, 5)

CASES = []


def add(*cases):
    CASES.extend(cases)


# --- sum/mean/prod/max/min/nansum/nanprod ------------------------------------------------------
_AXES = [
    ("all", {}),
    ("ax1", {"axis": 1}),
    ("neg", {"axis": -1}),
    ("tuple", {"axis": (0, 2)}),
    ("keep", {"axis": (1,), "keepdims": True}),
    ("exclude", {"axis": 1, "exclude": True}),
    ("exclude_keep", {"axis": (0, -1), "exclude": True, "keepdims": True}),
    ("keep_all", {"keepdims": True}),
    ("empty_exclude", {"axis": (), "exclude": True}),
]
for _op in ("sum", "mean", "prod", "max", "min", "nansum", "nanprod"):
    for _sfx, _a in _AXES:
        rng = {"data": (0.5, 1.5)} if "prod" in _op else {}
        add(Case(_op, {"data": X}, _a, ranges=rng, name=f"{_op}_{_sfx}", **R))
add(
    Case("sum_axis", {"data": X}, {"axis": 2}, name="sum_axis_alias", **R),
    Case("max_axis", {"data": X}, {"axis": 0}, name="max_axis_alias", **R),
    Case("min_axis", {"data": X}, {"axis": (0, 1)}, name="min_axis_alias", **R),
    Case("sum", {"data": (7,)}, {"axis": 0}, name="sum_1d", **R),
    Case("sum", {"data": X}, {"axis": (0, 1, 2), "exclude": True}, name="sum_exclude_all", **R),
    Case("sum", {"data": (2, 3, 4, 5)}, {"axis": (1, 3)}, name="sum_4d_strided", **R),
    Case("mean", {"data": (2, 3, 4, 5)}, {"axis": (0, 2), "keepdims": True},
         name="mean_4d_keep", **R),
    # ties: every element equal to the extreme gets the whole gradient (MXNet)
    Case("max", {"data": X}, {"axis": 1}, ints={"data": 3}, name="max_ties", **R),
    Case("min", {"data": X}, {"axis": (0, 2)}, ints={"data": 3}, name="min_ties", **R),
    Case("sum", {"data": X}, {"axis": 1}, ranges={"data": (-9, 9)}, dtypes={"data": "int32"},
         grad=False, name="sum_i32"),
    Case("max", {"data": X}, {"axis": -1}, ranges={"data": (-9, 9)}, dtypes={"data": "int32"},
         grad=False, name="max_i32"),
    Case("sum", {"data": X}, {"axis": 2}, dtypes={"data": "float16"}, rtol=5e-3, atol=5e-3,
         grad_rtol=5e-3, grad_atol=5e-3, name="sum_f16"),
)

# --- norm ----------------------------------------------------------------------------------------
add(
    Case("norm", {"data": X}, {}, name="norm_all", **R),
    Case("norm", {"data": X}, {"axis": 1}, name="norm_ax1", **R),
    Case("norm", {"data": X}, {"axis": -1, "keepdims": True}, name="norm_keep", **R),
    Case("norm", {"data": X}, {"axis": (0, 2)}, name="norm_tuple", **R),
    Case("norm", {"data": X}, {"ord": 1}, name="norm_l1_all", **R),
    Case("norm", {"data": X}, {"ord": 1, "axis": (1, 2), "keepdims": True}, name="norm_l1_keep",
         **R),
    Case("norm", {"data": X}, {"ord": 1, "axis": 0}, name="norm_l1_ax0", **R),
    Case("norm", {"data": X}, {"axis": 1, "out_dtype": "float32"}, name="norm_out_dtype", **R),
    Case("norm", {"data": (6,)}, {}, name="norm_1d", **R),
)

# --- argmax / argmin (float indices, no gradient) -----------------------------------------------
for _op in ("argmax", "argmin"):
    add(Case(_op, {"data": X}, {"axis": 1}, name=f"{_op}_ax1"),
        Case(_op, {"data": X}, {"axis": -1, "keepdims": True}, name=f"{_op}_keep"),
        Case(_op, {"data": X}, {}, name=f"{_op}_all"),
        Case(_op, {"data": X}, {"axis": 0}, ints={"data": 3}, name=f"{_op}_ties"))
add(Case("argmax_channel", {"data": (4, 6)}, grad=False, name="argmax_channel"),
    Case("argmax_channel", {"data": (2, 3, 4)}, grad=False, name="argmax_channel_3d"))

# --- topk / sort / argsort ----------------------------------------------------------------------
add(
    Case("topk", {"data": X}, {"k": 2}, name="topk_indices"),
    Case("topk", {"data": X}, {"k": 3, "ret_typ": "value"}, name="topk_value"),
    Case("topk", {"data": X}, {"k": 2, "ret_typ": "value", "axis": 1, "is_ascend": True},
         name="topk_value_asc_ax1"),
    Case("topk", {"data": X}, {"k": 2, "ret_typ": "both", "axis": 0}, name="topk_both"),
    Case("topk", {"data": X}, {"k": 2, "ret_typ": "mask", "axis": -2}, name="topk_mask"),
    Case("topk", {"data": X}, {"k": 4, "ret_typ": "value", "axis": None}, name="topk_flat"),
    Case("topk", {"data": X}, {"k": 0, "ret_typ": "value"}, name="topk_k0_fullsort"),
    Case("topk", {"data": X}, {"k": 2, "dtype": "int32"}, name="topk_int32_indices"),
    Case("topk", {"data": X}, {"k": 2, "ret_typ": "both", "dtype": "float64", "is_ascend": True},
         name="topk_both_f64_indices"),
    Case("topk", {"data": (4, 6)}, {"k": 3}, ints={"data": 3}, name="topk_ties"),
    Case("sort", {"data": X}, {"axis": -1}, name="sort"),
    Case("sort", {"data": X}, {"axis": 0, "is_ascend": False}, name="sort_desc_ax0"),
    Case("sort", {"data": X}, {"axis": None}, name="sort_flat"),
    Case("sort", {"data": (4, 6)}, {"axis": 1}, ints={"data": 3}, name="sort_ties"),
    Case("argsort", {"data": X}, {}, name="argsort"),
    Case("argsort", {"data": X}, {"axis": 1, "is_ascend": False}, name="argsort_desc"),
    Case("argsort", {"data": X}, {"axis": None, "dtype": "int32"}, name="argsort_flat_i32"),
    Case("argsort", {"data": (4, 6)}, {"axis": 1}, ints={"data": 3}, name="argsort_ties"),
    Case("argsort", {"data": (4, 6)}, {"axis": 1, "is_ascend": False}, ints={"data": 3},
         name="argsort_ties_desc"),
)
