# ruff: noqa: C408
"""Models for AMP conversion golden data (tools/make_amp_golden.py writes MXNet's converted
JSON, tests/test_amp.py compares mxc's). ``build(mx)`` works with mxnet and with mxc."""


def build(mx):
    """{name: (symbol, convert_symbol kwargs)}"""
    S = mx.sym

    def mlp():
        d = S.var("data")
        fc1 = S.FullyConnected(d, num_hidden=128, name="fc1")
        a = S.Activation(fc1, act_type="relu", name="relu1")
        fc2 = S.FullyConnected(a, num_hidden=10, name="fc2")
        return S.SoftmaxOutput(fc2, name="softmax")

    def lenet():
        d = S.var("data")
        c1 = S.Convolution(d, kernel=(5, 5), num_filter=20, name="conv1")
        a1 = S.Activation(c1, act_type="tanh", name="tanh1")
        p1 = S.Pooling(a1, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
        c2 = S.Convolution(p1, kernel=(5, 5), num_filter=50, name="conv2")
        a2 = S.Activation(c2, act_type="tanh", name="tanh2")
        p2 = S.Pooling(a2, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool2")
        f = S.flatten(p2, name="flatten")
        fc1 = S.FullyConnected(f, num_hidden=500, name="fc1")
        a3 = S.Activation(fc1, act_type="tanh", name="tanh3")
        fc2 = S.FullyConnected(a3, num_hidden=10, name="fc2")
        return S.SoftmaxOutput(fc2, name="softmax")

    def resblock():
        d = S.var("data")
        c1 = S.Convolution(d, kernel=(3, 3), pad=(1, 1), num_filter=8, name="conv1")
        bn = S.BatchNorm(c1, name="bn1")
        r = S.Activation(bn, act_type="relu", name="relu1")
        c2 = S.Convolution(r, kernel=(3, 3), pad=(1, 1), num_filter=8, name="conv2")
        s = S.elemwise_add(c2, d, name="add1")
        sr = S.Activation(s, act_type="softrelu", name="softrelu1")
        cat = S.Concat(sr, c1, dim=1, name="cat")
        p = S.Pooling(cat, global_pool=True, kernel=(1, 1), pool_type="avg", name="gap")
        fc = S.FullyConnected(p, num_hidden=4, name="fc")
        sm = S.softmax(fc, name="sm")
        return S.Group([S.MakeLoss(S.sum(sm * fc, name="prod"), name="loss"), S.BlockGrad(fc)])

    out = {}
    for td in ("float16", "bfloat16"):
        out[f"mlp_{td}"] = (mlp(), {"target_dtype": td})
        out[f"lenet_{td}"] = (lenet(), {"target_dtype": td})
        out[f"resblock_{td}"] = (resblock(), {"target_dtype": td})
        out[f"lenet_excluded_{td}"] = (lenet(), dict(target_dtype=td,
                                                     excluded_sym_names=["conv2"]))
        out[f"mlp_optional_{td}"] = (mlp(), dict(target_dtype=td, data_names=["data"],
                                                 cast_optional_params=True))
    out["mlp_custom_lists"] = (mlp(), dict(target_dtype="float16",
                                           target_dtype_ops=["FullyConnected", "Activation"],
                                           fp32_ops=["SoftmaxOutput"], conditional_fp32_ops=[]))
    return out
