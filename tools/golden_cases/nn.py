"""Neural-network layers: Convolution, Deconvolution, Pooling, BatchNorm, LayerNorm,
InstanceNorm, L2Normalization, Dropout, Embedding, UpSampling, LeakyReLU, SoftmaxActivation,
log_softmax, Pad.

Tolerances: gradients that are sums over many products (convolution weights, normalization
statistics) are compared with grad_rtol=1e-3 because MXNet (oneDNN) and torch accumulate them in
different orders in float32; everything else uses the defaults.
"""
from golden_cases import Case

POS = (0.5, 2.0)       # variances
CONV_G = {"grad_rtol": 1e-3, "grad_atol": 1e-4}   # conv gradients: sums of up to ~300 products
NORM_G = {"grad_rtol": 1e-3, "grad_atol": 1e-4}   # normalization gradients: nested reductions


def conv(name, data, weight, bias=None, **attrs):
    inputs = {"data": data, "weight": weight}
    if bias is not None:
        inputs["bias"] = bias
    return Case("Convolution", inputs, attrs, name=name, **CONV_G)


def deconv(name, data, weight, bias=None, grad=True, **attrs):
    inputs = {"data": data, "weight": weight}
    if bias is not None:
        inputs["bias"] = bias
    return Case("Deconvolution", inputs, attrs, name=name, grad=grad, **CONV_G)


def bn(name, data, c, is_train=True, grad=True, **attrs):
    return Case("BatchNorm", {"data": data, "gamma": (c,), "beta": (c,), "moving_mean": (c,),
                              "moving_var": (c,)}, attrs, name=name, is_train=is_train,
                grad=grad, ranges={"moving_var": POS, "gamma": POS},
                no_grad=("moving_mean", "moving_var"), **NORM_G)


CASES = [
    # --- Convolution ---------------------------------------------------------------------------
    conv("conv2d", (2, 3, 6, 6), (4, 3, 3, 3), (4,), kernel=(3, 3), num_filter=4),
    conv("conv2d_stride_pad_dilate", (2, 2, 7, 7), (3, 2, 3, 3), (3,), kernel=(3, 3),
         stride=(2, 2), pad=(1, 1), dilate=(2, 2), num_filter=3),
    conv("conv2d_group_nobias", (2, 4, 5, 5), (4, 2, 3, 3), kernel=(3, 3), num_group=2,
         num_filter=4, no_bias=True),
    conv("conv2d_rect", (1, 2, 5, 7), (3, 2, 2, 3), (3,), kernel=(2, 3), stride=(1, 2),
         pad=(1, 0), num_filter=3),
    conv("conv1d", (2, 3, 10), (4, 3, 3), (4,), kernel=(3,), stride=(2,), pad=(1,),
         num_filter=4),
    conv("conv3d", (1, 2, 4, 5, 5), (2, 2, 2, 3, 3), (2,), kernel=(2, 3, 3), pad=(0, 1, 1),
         num_filter=2),
    conv("conv2d_1x1", (2, 3, 4, 4), (2, 3, 1, 1), (2,), kernel=(1, 1), num_filter=2),
    conv("conv2d_depthwise", (1, 3, 5, 5), (3, 1, 3, 3), kernel=(3, 3), pad=(1, 1),
         num_group=3, num_filter=3, no_bias=True),
    # --- Deconvolution -------------------------------------------------------------------------
    deconv("deconv2d", (2, 3, 4, 4), (3, 2, 3, 3), kernel=(3, 3), num_filter=2),
    deconv("deconv2d_stride_pad_adj_bias", (1, 2, 3, 3), (2, 3, 3, 3), (3,), kernel=(3, 3),
           stride=(2, 2), pad=(1, 1), adj=(1, 1), num_filter=3, no_bias=False),
    # (target_shape: MXNet 1.9.1's oneDNN deconvolution fails at run time with it; its shape
    # rule and pad/adj arithmetic are checked in tests/test_nn_layers.py)
    deconv("deconv2d_k4s2p1", (1, 2, 3, 3), (2, 2, 4, 4), kernel=(4, 4), stride=(2, 2),
           pad=(1, 1), num_filter=2),
    deconv("deconv2d_group", (1, 4, 3, 3), (4, 2, 3, 3), kernel=(3, 3), num_group=2,
           num_filter=4),
    # MXNet's oneDNN deconvolution has no dilated training primitive: forward only here (the
    # gradient is checked by finite differences in tests/test_nn_layers.py)
    deconv("deconv2d_dilate_stride", (1, 2, 3, 3), (2, 2, 3, 3), kernel=(3, 3), dilate=(2, 2),
           stride=(2, 2), num_filter=2, grad=False),
    deconv("deconv1d", (2, 2, 5), (2, 3, 3), kernel=(3,), stride=(2,), num_filter=3),
    # --- Pooling ----------------------------------------------------------------------------------
    Case("Pooling", {"data": (2, 3, 6, 6)}, {"kernel": (2, 2), "stride": (2, 2)},
         name="pool_max"),
    Case("Pooling", {"data": (2, 2, 7, 7)}, {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1),
                                             "pool_type": "avg"}, name="pool_avg_pad"),
    Case("Pooling", {"data": (2, 2, 7, 7)}, {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1),
                                             "pool_type": "avg", "count_include_pad": False},
         name="pool_avg_pad_exclude"),
    Case("Pooling", {"data": (1, 2, 7, 7)}, {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1),
                                             "pool_type": "max"}, name="pool_max_pad"),
    Case("Pooling", {"data": (1, 2, 6, 6)}, {"kernel": (3, 3), "stride": (2, 2),
                                             "pooling_convention": "full"},
         name="pool_max_full"),
    # MXNet's backward of this one is not the derivative of its forward (the overhanging last
    # window: forward divides by 2, backward by 3): forward here, the gradient against MXNet's
    # numbers in tests/test_nn_layers.py
    Case("Pooling", {"data": (1, 2, 6, 6)}, {"kernel": (3, 3), "stride": (2, 2),
                                             "pooling_convention": "full", "pool_type": "avg"},
         name="pool_avg_full", grad=False),
    Case("Pooling", {"data": (1, 2, 6, 6)}, {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1),
                                             "pooling_convention": "full", "pool_type": "avg",
                                             "count_include_pad": False},
         name="pool_avg_full_pad_exclude"),
    Case("Pooling", {"data": (1, 2, 5, 5)}, {"kernel": (2, 2), "stride": (2, 2), "pad": (1, 1),
                                             "pooling_convention": "full", "pool_type": "max"},
         name="pool_max_full_pad_edge", grad=False),
    Case("Pooling", {"data": (1, 2, 5, 5)}, {"kernel": (2, 2), "pool_type": "sum"},
         name="pool_sum"),
    Case("Pooling", {"data": (2, 3, 4, 5)}, {"global_pool": True, "pool_type": "avg"},
         name="pool_global_avg"),
    Case("Pooling", {"data": (2, 3, 4, 5)}, {"global_pool": True, "kernel": (1, 1)},
         name="pool_global_max"),
    Case("Pooling", {"data": (2, 3, 9)}, {"kernel": (3,), "stride": (2,)}, name="pool1d_max"),
    Case("Pooling", {"data": (1, 2, 4, 4, 4)}, {"kernel": (2, 2, 2), "stride": (2, 2, 2),
                                                "pool_type": "avg"}, name="pool3d_avg"),
    Case("Pooling", {"data": (1, 2, 4, 4, 4)}, {"kernel": (2, 2, 2), "stride": (1, 2, 2)},
         name="pool3d_max"),
    Case("Pooling", {"data": (1, 2, 5, 5)}, {"kernel": (2, 2), "stride": (2, 2),
                                             "pool_type": "lp", "p_value": 2},
         ranges={"data": (0.5, 2.0)}, name="pool_lp2"),
    # --- BatchNorm ------------------------------------------------------------------------------
    bn("bn_train", (4, 3, 5, 5), 3, fix_gamma=False),
    bn("bn_train_fix_gamma", (4, 3, 4, 4), 3),
    bn("bn_train_2d", (8, 5), 5, fix_gamma=False, momentum=0.8),
    bn("bn_train_axis_last", (4, 5, 3), 3, fix_gamma=False, axis=-1, eps=1e-5),
    # (with output_mean_var, MXNet ignores the head gradients of mean and var, which a finite
    # difference would not: forward here; tests/test_nn_layers.py checks they are ignored)
    bn("bn_train_mean_var", (4, 3, 3, 3), 3, fix_gamma=False, output_mean_var=True,
       grad=False),
    bn("bn_global_stats", (4, 3, 4, 4), 3, fix_gamma=False, use_global_stats=True),
    bn("bn_inference", (4, 3, 4, 4), 3, is_train=False, grad=False, fix_gamma=False),
    bn("bn_inference_mean_var", (2, 3, 4), 3, is_train=False, grad=False,
       output_mean_var=True),
    # --- LayerNorm, InstanceNorm, L2Normalization ------------------------------------------
    Case("LayerNorm", {"data": (4, 6), "gamma": (6,), "beta": (6,)}, name="layernorm",
         **NORM_G),
    Case("LayerNorm", {"data": (2, 3, 5), "gamma": (3,), "beta": (3,)}, {"axis": 1},
         name="layernorm_axis1", **NORM_G),
    Case("LayerNorm", {"data": (3, 4, 5), "gamma": (5,), "beta": (5,)},
         {"output_mean_var": True, "eps": 1e-3}, name="layernorm_mean_std", grad=False),
    Case("LayerNorm", {"data": (3, 4, 5), "gamma": (5,), "beta": (5,)}, {"eps": 1e-3},
         name="layernorm_eps", **NORM_G),
    Case("InstanceNorm", {"data": (2, 3, 4, 4), "gamma": (3,), "beta": (3,)},
         name="instancenorm", **NORM_G),
    Case("InstanceNorm", {"data": (2, 3, 6), "gamma": (3,), "beta": (3,)}, {"eps": 1e-5},
         name="instancenorm_1d", **NORM_G),
    Case("L2Normalization", {"data": (3, 4, 5)}, name="l2norm_instance", **NORM_G),
    Case("L2Normalization", {"data": (2, 3, 4, 4)}, {"mode": "channel"},
         name="l2norm_channel", **NORM_G),
    Case("L2Normalization", {"data": (2, 3, 4, 4)}, {"mode": "spatial", "eps": 1e-6},
         name="l2norm_spatial", **NORM_G),
    # --- Dropout: inference only (training is random; tests/test_nn_layers.py checks its
    # statistics) ------------------------------------------------------------------------------
    Case("Dropout", {"data": (4, 5)}, {"p": 0.5}, name="dropout_inference", grad=False),
    Case("Dropout", {"data": (2, 3, 4)}, {"p": 0.3, "axes": (1,)},
         name="dropout_inference_axes", grad=False),
    # --- Embedding -------------------------------------------------------------------------------
    Case("Embedding", {"data": (2, 5), "weight": (6, 4)}, {"input_dim": 6, "output_dim": 4},
         ints={"data": 6}, no_grad=("data",), name="embedding"),
    Case("Embedding", {"data": (7,), "weight": (3, 5)}, {"input_dim": 3, "output_dim": 5},
         ints={"data": 3}, no_grad=("data",), name="embedding_repeats"),
    # --- UpSampling (nearest) --------------------------------------------------------------------
    Case("UpSampling", {"arg0": (1, 2, 3, 3)}, {"scale": 2, "sample_type": "nearest",
                                                "num_args": 1}, name="upsampling"),
    Case("UpSampling", {"arg0": (2, 1, 2, 3)}, {"scale": 3, "sample_type": "nearest",
                                                "num_args": 1}, name="upsampling_scale3"),
    Case("UpSampling", {"arg0": (1, 2, 2, 2), "arg1": (1, 2, 4, 4)},
         {"scale": 2, "sample_type": "nearest", "num_args": 2, "multi_input_mode": "sum"},
         name="upsampling_sum"),
    Case("UpSampling", {"arg0": (1, 2, 2, 2), "arg1": (1, 3, 4, 4)},
         {"scale": 2, "sample_type": "nearest", "num_args": 2}, name="upsampling_concat"),
    # --- LeakyReLU ----------------------------------------------------------------------------
    Case("LeakyReLU", {"data": (3, 4, 5)}, {}, name="lrelu_leaky"),
    Case("LeakyReLU", {"data": (3, 4, 5)}, {"act_type": "leaky", "slope": 0.1},
         name="lrelu_leaky_slope"),
    Case("LeakyReLU", {"data": (3, 4, 5)}, {"act_type": "elu", "slope": 0.7}, name="lrelu_elu"),
    # MXNet's selu gradient for x <= 0 is lambda * (alpha + y), not the derivative: forward
    # parity on both signs here, gradient parity on x > 0; tests/test_nn_layers.py checks the
    # negative side against MXNet's numbers
    Case("LeakyReLU", {"data": (3, 4, 5)}, {"act_type": "selu"}, name="lrelu_selu", grad=False),
    Case("LeakyReLU", {"data": (3, 4)}, {"act_type": "selu"}, name="lrelu_selu_pos",
         ranges={"data": (0.1, 2.0)}),
    Case("LeakyReLU", {"data": (3, 4, 5)}, {"act_type": "gelu"}, name="lrelu_gelu"),
    Case("LeakyReLU", {"data": (2, 3, 4), "gamma": (3,)}, {"act_type": "prelu"},
         name="lrelu_prelu"),
    Case("LeakyReLU", {"data": (2, 3, 2, 2), "gamma": (1,)}, {"act_type": "prelu"},
         name="lrelu_prelu_shared"),
    # (rrelu: its second visible output, the mask, is uninitialized memory in MXNet's inference
    # and its training mode crashes MXNet 1.9.1; tests/test_nn_layers.py checks the output)
    # --- SoftmaxActivation, log_softmax ------------------------------------------------------
    Case("SoftmaxActivation", {"data": (3, 5)}, {}, name="softmax_act_instance"),
    # instance mode on 3-d data: forward over the last axis, but MXNet's backward works along
    # axis 1 (see the vjp): forward parity here, the gradient in tests/test_nn_layers.py
    Case("SoftmaxActivation", {"data": (3, 2, 4)}, {}, name="softmax_act_instance_3d",
         grad=False),
    Case("SoftmaxActivation", {"data": (2, 3, 4)}, {"mode": "channel"},
         name="softmax_act_channel"),
    Case("log_softmax", {"data": (3, 5)}, {}, name="log_softmax"),
    Case("log_softmax", {"data": (4, 3, 2)}, {"axis": 0, "temperature": 2.0},
         name="log_softmax_axis0_temperature"),
    # --- Pad --------------------------------------------------------------------------------------
    Case("Pad", {"data": (1, 2, 3, 3)}, {"mode": "constant", "pad_width": (0, 0, 0, 0, 1, 2, 2, 1),
                                         "constant_value": 0.5}, name="pad_constant"),
    Case("Pad", {"data": (1, 2, 3, 4)}, {"mode": "edge", "pad_width": (0, 0, 0, 0, 2, 1, 1, 3)},
         name="pad_edge"),
    Case("Pad", {"data": (2, 1, 4, 4)}, {"mode": "reflect",
                                         "pad_width": (0, 0, 0, 0, 2, 1, 3, 1)},
         name="pad_reflect"),
    Case("Pad", {"data": (1, 2, 2, 3, 3)}, {"mode": "constant",
                                            "pad_width": (0, 0, 0, 0, 1, 0, 0, 1, 1, 1)},
         name="pad_constant_5d"),
    Case("Pad", {"data": (1, 1, 3, 3, 2)}, {"mode": "reflect",
                                            "pad_width": (0, 0, 0, 0, 1, 1, 2, 0, 1, 1)},
         name="pad_reflect_5d"),
]
