"""Classic operators (mxc/ir/opdefs/classic.py): hard_sigmoid, softmin, shape_array,
size_array, moments, cumsum, diag, depth_to_space, space_to_depth, batch_take, khatri_rao,
ravel_multi_index, unravel_index, LRN, GroupNorm, SVMOutput."""
from golden_cases import Case

G = {"grad_rtol": 1e-3, "grad_atol": 1e-5, "rtol": 1e-4, "atol": 1e-5}

CASES = []


def add(*cases):
    CASES.extend(cases)


add(
    Case("hard_sigmoid", {"data": (3, 4)}, {}, name="hard_sigmoid", ranges={"data": (-4, 4)}),
    Case("hard_sigmoid", {"data": (2, 5)}, {"alpha": 0.35, "beta": 0.2},
         name="hard_sigmoid_ab", ranges={"data": (-4, 4)}),
    Case("softmin", {"data": (3, 5)}, {}, name="softmin", **G),
    Case("softmin", {"data": (2, 4, 3)}, {"axis": 1, "temperature": 2.5}, name="softmin_axis_t",
         **G),
    Case("shape_array", {"data": (2, 3, 4)}, name="shape_array", grad=False),
    Case("shape_array", {"data": (7,)}, name="shape_array_1d", grad=False),
    Case("size_array", {"data": (2, 3, 4)}, name="size_array", grad=False),
    Case("size_array", {"data": (5,)}, name="size_array_1d", grad=False),
    Case("moments", {"data": (3, 4, 5)}, {"axes": (1,)}, name="moments", **G),
    Case("moments", {"data": (3, 4, 5)}, {"axes": (0, 2), "keepdims": True},
         name="moments_keep", **G),
    Case("moments", {"data": (4, 6)}, {"axes": (0, 1)}, name="moments_all", **G),
    Case("cumsum", {"a": (3, 4)}, {"axis": 1}, name="cumsum", **G),
    Case("cumsum", {"a": (3, 4, 2)}, {"axis": 0}, name="cumsum_axis0", **G),
    Case("cumsum", {"a": (2, 3)}, {}, name="cumsum_flat", **G),
    Case("diag", {"data": (5,)}, {}, name="diag_make", **G),
    Case("diag", {"data": (4,)}, {"k": 2}, name="diag_make_k", **G),
    Case("diag", {"data": (3,)}, {"k": -1}, name="diag_make_kneg", **G),
    Case("diag", {"data": (4, 5)}, {}, name="diag_extract", **G),
    Case("diag", {"data": (4, 5)}, {"k": 2}, name="diag_extract_k", **G),
    Case("diag", {"data": (5, 3)}, {"k": -2}, name="diag_extract_kneg", **G),
    Case("diag", {"data": (2, 3, 4)}, {"k": 1, "axis1": 0, "axis2": 2}, name="diag_nd", **G),
    Case("diag", {"data": (3, 2, 4)}, {"k": -1, "axis1": -1, "axis2": 0},
         name="diag_nd_swapped", **G),
    Case("depth_to_space", {"data": (2, 8, 3, 2)}, {"block_size": 2}, name="depth_to_space"),
    Case("depth_to_space", {"data": (1, 9, 2, 2)}, {"block_size": 3}, name="depth_to_space_3"),
    Case("space_to_depth", {"data": (2, 2, 4, 6)}, {"block_size": 2}, name="space_to_depth"),
    Case("space_to_depth", {"data": (1, 1, 3, 6)}, {"block_size": 3}, name="space_to_depth_3"),
    Case("batch_take", {"a": (4, 5), "indices": (4,)}, name="batch_take",
         ints={"indices": 5}, dtypes={"indices": "int32"}, grad=False),
    Case("batch_take", {"a": (3, 2), "indices": (3,)}, name="batch_take_clip",
         ints={"indices": 6}, dtypes={"indices": "int32"}, grad=False),
    Case("khatri_rao", {"arg0": (2, 3), "arg1": (4, 3)}, {"num_args": 2}, name="khatri_rao",
         grad=False),
    Case("khatri_rao", {"arg0": (2, 2), "arg1": (3, 2), "arg2": (2, 2)}, {"num_args": 3},
         name="khatri_rao_3", grad=False),
    Case("ravel_multi_index", {"data": (2, 5)}, {"shape": (3, 4)}, name="ravel_multi_index",
         ints={"data": 3}, grad=False),
    Case("ravel_multi_index", {"data": (3, 4)}, {"shape": (2, 3, 4)},
         name="ravel_multi_index_3", ints={"data": 2}, grad=False),
    Case("unravel_index", {"data": (6,)}, {"shape": (3, 4)}, name="unravel_index",
         ints={"data": 12}, grad=False),
    Case("unravel_index", {"data": (5,)}, {"shape": (2, 3, 5)}, name="unravel_index_3",
         ints={"data": 40}, grad=False),
    Case("LRN", {"data": (2, 6, 3, 3)}, {"nsize": 3}, name="LRN", **G),
    Case("LRN", {"data": (1, 7, 2, 3)}, {"nsize": 5, "alpha": 0.05, "beta": 0.5, "knorm": 1.5},
         name="LRN_attrs", **G),
    Case("GroupNorm", {"data": (2, 4, 3), "gamma": (2,), "beta": (2,)}, {"num_groups": 2},
         name="GroupNorm", **G),
    Case("GroupNorm", {"data": (2, 6, 2, 2), "gamma": (3,), "beta": (3,)},
         {"num_groups": 3, "eps": 1e-3}, name="GroupNorm_4d", **G),
    Case("GroupNorm", {"data": (3, 4, 5), "gamma": (1,), "beta": (1,)},
         {"num_groups": 1, "output_mean_var": True}, name="GroupNorm_mean_var", fd=False, **G),
    Case("SVMOutput", {"data": (4, 5), "label": (4,)}, {}, name="SVMOutput",
         ints={"label": 5}, no_grad=("label",), loss=True),
    Case("SVMOutput", {"data": (4, 3), "label": (4,)},
         {"margin": 1.5, "regularization_coefficient": 0.7, "use_linear": True},
         name="SVMOutput_linear", ints={"label": 3}, no_grad=("label",), loss=True),
)
add(
    Case("scatter_nd", {"data": (3,), "indices": (2, 3)}, {"shape": (4, 5)}, name="scatter_nd",
         ints={"indices": 4}, dtypes={"indices": "int32"}, no_grad=("indices",)),
    Case("scatter_nd", {"data": (2, 3), "indices": (1, 2)}, {"shape": (6, 3)},
         name="scatter_nd_rows", ints={"indices": 6}, dtypes={"indices": "int32"},
         no_grad=("indices",)),
    Case("_internal._split_v2", {"data": (2, 6, 3)}, {"indices": (), "sections": 3, "axis": 1},
         name="split_v2_sections", **G),
    Case("_internal._split_v2", {"data": (5, 4)}, {"indices": (0, 1, 3), "axis": 0},
         name="split_v2_indices", **G),
    Case("_internal._split_v2", {"data": (2, 3)}, {"indices": (), "sections": 3,
                                                  "axis": -1, "squeeze_axis": True},
         name="split_v2_squeeze", **G),
)
add(
    Case("IdentityAttachKLSparseReg", {"data": (3, 4), "moving_avg": (4,)},
         {"sparseness_target": 0.2, "penalty": 0.5, "momentum": 0.7},
         name="kl_sparse_reg", ranges={"data": (0.1, 0.9), "moving_avg": (0.3, 0.7)},
         is_train=True, fd=False, **G),
    Case("IdentityAttachKLSparseReg", {"data": (5, 3), "moving_avg": (3,)}, {},
         name="kl_sparse_reg_defaults", ranges={"data": (0.1, 0.9), "moving_avg": (0.3, 0.7)},
         is_train=True, fd=False, **G),
)

# --- MXNet's legacy *_v1 operators ---------------------------------------------------------------
POS = (0.5, 2.0)
CONV_G = {"grad_rtol": 1e-3, "grad_atol": 1e-4}


def bn1(name, data, c, is_train=True, fd=True, **attrs):
    return Case("BatchNorm_v1", {"data": data, "gamma": (c,), "beta": (c,), "moving_mean": (c,),
                                 "moving_var": (c,)}, attrs, name=name, is_train=is_train,
                grad=is_train, fd=fd,
                ranges={"moving_var": POS, "gamma": POS},
                no_grad=("moving_mean", "moving_var"), **CONV_G)


add(
    Case("Convolution_v1", {"data": (2, 3, 6, 6), "weight": (4, 3, 3, 3), "bias": (4,)},
         {"kernel": (3, 3), "num_filter": 4}, name="conv_v1", **CONV_G),
    Case("Convolution_v1", {"data": (1, 4, 7, 7), "weight": (4, 2, 3, 3)},
         {"kernel": (3, 3), "num_filter": 4, "num_group": 2, "stride": (2, 2), "pad": (1, 1),
          "no_bias": True}, name="conv_v1_group_stride", **CONV_G),
    Case("Pooling_v1", {"data": (2, 3, 6, 6)}, {"kernel": (2, 2), "stride": (2, 2)},
         name="pool_v1_max"),
    Case("Pooling_v1", {"data": (1, 2, 7, 7)}, {"kernel": (3, 3), "stride": (2, 2),
                                                "pad": (1, 1), "pool_type": "avg"},
         name="pool_v1_avg_pad"),
    Case("Pooling_v1", {"data": (1, 2, 6, 6)}, {"kernel": (3, 3), "stride": (2, 2),
                                                "pooling_convention": "full",
                                                "pool_type": "sum"}, name="pool_v1_full_sum"),
    Case("Pooling_v1", {"data": (2, 2, 5, 5)}, {"kernel": (1, 1), "global_pool": True,
                                                "pool_type": "avg"}, name="pool_v1_global"),
    bn1("bn_v1_train", (4, 3, 2, 2), 3),
    # MXNet ignores the gradients of the visible mean and var: not a derivative, no FD check
    bn1("bn_v1_train_gamma_mean_var", (3, 2, 3, 2), 2, fix_gamma=False, output_mean_var=True,
        momentum=0.8, fd=False),
    bn1("bn_v1_inference", (2, 3, 2, 2), 3, is_train=False, fix_gamma=False),
    bn1("bn_v1_global_stats", (2, 3, 2, 2), 3, use_global_stats=True),
)
add(
    Case("_internal._eye", {}, {"N": 3, "M": 4, "k": 1}, name="eye", grad=False),
    Case("_internal._eye", {}, {"N": 4, "k": -2, "dtype": "int32"}, name="eye_int", grad=False),
    Case("_internal._linspace", {}, {"start": 2.0, "stop": 3.0, "num": 5}, name="linspace",
         grad=False),
    Case("_internal._linspace", {}, {"start": 0.0, "stop": 7.0, "num": 4, "dtype": "int32"},
         name="linspace_int", grad=False),
    Case("_internal._linspace", {}, {"start": -1.0, "stop": 1.0, "num": 6, "endpoint": False},
         name="linspace_no_endpoint", grad=False),
)
