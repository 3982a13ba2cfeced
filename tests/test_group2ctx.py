"""Model parallelism with ``ctx_group`` / ``group2ctx`` and the executor's backward semantics,
following MXNet 1.9.1's test_model_parallel.py, test_multi_device_exec.py and test_module.py.

Contexts that share a device (cpu(0), cpu(1) ...) run as one program with the placement kept and
reported; with ``runtime.placement.SPLIT_BY = "context"`` every context is its own device, which
runs the segmented path (one executor per device, values and gradients copied across the cuts)
on this machine, the code GPUs use.
"""
import numpy as np
import pytest

import mxc as mx
import runtime.placement as placement


@pytest.fixture(params=["device", "context"])
def split_by(request, monkeypatch):
    monkeypatch.setattr(placement, "SPLIT_BY", request.param)
    return request.param


def reldiff(a, b):
    diff = np.sum(np.abs(a - b))
    norm = np.sum(np.abs(a))
    return 0 if diff == 0 else diff / norm


# -- MXNet's test_model_parallel.py ------------------------------------------------------------
def _chain(dtype):
    data1 = mx.sym.Variable("data1", dtype=dtype)
    data2 = mx.sym.Variable("data2", dtype=dtype)
    data3 = mx.sym.Variable("data3", dtype=dtype)
    with mx.AttrScope(ctx_group="dev1"):
        net = data1 + data2
        net = net * dtype(3)
    with mx.AttrScope(ctx_group="dev2"):
        net = net + data3
    return net


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chain(split_by, dtype, ctx1=mx.cpu(0), ctx2=mx.cpu(1)):
    net = _chain(dtype)
    n, shape = 2, (4, 5)
    arr, arr_grad = [], []
    with mx.Context(ctx1):
        for _ in range(n):
            arr.append(mx.nd.empty(shape, dtype=dtype))
            arr_grad.append(mx.nd.empty(shape, dtype=dtype))
    with mx.Context(ctx2):
        arr.append(mx.nd.empty(shape, dtype=dtype))
        arr_grad.append(mx.nd.empty(shape, dtype=dtype))
    exec1 = net.bind(ctx1, args=arr, args_grad=arr_grad, group2ctx={"dev1": ctx1, "dev2": ctx2})
    arr[0][:] = dtype(1)
    arr[1][:] = dtype(2)
    arr[2][:] = dtype(3)
    arr2 = [a.copyto(ctx1) for a in arr]
    arr_grad2 = [a.copyto(ctx1) for a in arr_grad]
    exec2 = net.bind(ctx1, args=arr2, args_grad=arr_grad2)
    assert exec1.debug_str()
    exec1.forward(is_train=True)
    exec2.forward(is_train=True)
    assert reldiff(exec1.outputs[0].asnumpy(), exec2.outputs[0].asnumpy()) < 1e-6
    assert exec1.outputs[0].context == ctx2 and exec2.outputs[0].context == ctx1
    out_grad = mx.nd.empty(shape, ctx1)
    out_grad[:] = dtype(1)
    exec1.backward([out_grad])
    exec2.backward([out_grad.copyto(ctx1)])
    for a, b in zip(arr_grad, arr_grad2):
        assert reldiff(a.asnumpy(), b.asnumpy()) < 1e-6
    assert [g.context for g in arr_grad] == [ctx1, ctx1, ctx2]
    np.testing.assert_array_equal(exec1.outputs[0].asnumpy(), np.full(shape, 12, dtype))
    assert (exec1._segmented is not None) == (split_by == "context")


# -- MXNet's test_multi_device_exec.py ---------------------------------------------------------
def _mlp_in_two_stages():
    with mx.AttrScope(ctx_group="stage1"):
        data = mx.sym.Variable("data")
        fc1 = mx.sym.FullyConnected(data=data, name="fc1", num_hidden=16)
        act1 = mx.sym.Activation(data=fc1, name="relu1", act_type="relu")
    set_stage1 = set(act1.list_arguments())
    with mx.AttrScope(ctx_group="stage2"):
        fc2 = mx.sym.FullyConnected(data=act1, name="fc2", num_hidden=8)
        act2 = mx.sym.Activation(data=fc2, name="relu2", act_type="relu")
        fc3 = mx.sym.FullyConnected(data=act2, name="fc3", num_hidden=4)
        fc3 = mx.sym.BatchNorm(fc3, name="bn")
        mlp = mx.sym.SoftmaxOutput(data=fc3, name="softmax")
    return mlp, set_stage1


def test_ctx_group(split_by):
    mlp, set_stage1 = _mlp_in_two_stages()
    group2ctx = {"stage1": mx.cpu(1), "stage2": mx.cpu(2)}
    grad_req_with_null = {arg: "null" if arg == "data" else "write"
                          for arg in mlp.list_arguments()}
    for grad_req in ["write", grad_req_with_null]:
        texec = mlp.simple_bind(mx.cpu(0), group2ctx=group2ctx, data=(1, 200),
                                grad_req=grad_req)
        for arr, name in zip(texec.arg_arrays, mlp.list_arguments()):
            want = group2ctx["stage1"] if name in set_stage1 else group2ctx["stage2"]
            assert arr.context == want, name
        for arr, grad in zip(texec.arg_arrays, texec.grad_arrays):
            assert grad is None or grad.context == arr.context
        assert (texec.grad_dict.get("data") is None) == isinstance(grad_req, dict)
        assert [a.context for a in texec.aux_arrays] == [mx.cpu(2), mx.cpu(2)]
        assert [o.context for o in texec.outputs] == [mx.cpu(2)]
        assert isinstance(texec, mx.executor.Executor)


def test_two_stage_training_matches_one_device(split_by):
    mlp, _ = _mlp_in_two_stages()

    def run(group2ctx):
        exe = mlp.simple_bind(mx.cpu(0), group2ctx=group2ctx, data=(6, 10))
        r = np.random.RandomState(1)
        for name in mlp.list_arguments():
            exe.arg_dict[name][:] = r.uniform(-1, 1, exe.arg_dict[name].shape)
        exe.arg_dict["softmax_label"][:] = [0, 1, 2, 3, 0, 1]
        exe.aux_dict["bn_moving_var"][:] = 1
        exe.forward(is_train=True)
        exe.backward()
        return exe

    e1 = run({"stage1": mx.cpu(1), "stage2": mx.cpu(2)})
    e2 = run(None)
    np.testing.assert_allclose(e1.outputs[0].asnumpy(), e2.outputs[0].asnumpy(), rtol=1e-5)
    for name in mlp.list_arguments():
        np.testing.assert_allclose(e1.grad_dict[name].asnumpy(), e2.grad_dict[name].asnumpy(),
                                   rtol=1e-4, atol=1e-6, err_msg=name)
    for name in mlp.list_auxiliary_states():
        np.testing.assert_allclose(e1.aux_dict[name].asnumpy(), e2.aux_dict[name].asnumpy(),
                                   rtol=1e-5, err_msg=name)


# -- placement rules ----------------------------------------------------------------------------
def _ctxs(exe):
    return ([a.context for a in exe.arg_arrays],
            [None if g is None else g.context for g in exe.grad_arrays],
            [o.context for o in exe.outputs])


def test_operators_without_a_group_follow_their_inputs():
    d1, d3 = mx.sym.Variable("d1"), mx.sym.Variable("d3")
    with mx.AttrScope(ctx_group="dev1"):
        n1 = mx.sym.exp(d1, name="n1")
    with mx.AttrScope(ctx_group="dev2"):
        n2 = mx.sym.elemwise_add(n1, d3, name="n2")
    n3 = mx.sym.sin(n2, name="n3")
    exe = mx.sym.Group([n1, n3]).simple_bind(
        mx.cpu(0), group2ctx={"dev1": mx.cpu(1), "dev2": mx.cpu(2)}, d1=(2,), d3=(2,),
        grad_req="null")
    assert _ctxs(exe) == ([mx.cpu(0), mx.cpu(0)], [None, None], [mx.cpu(1), mx.cpu(2)])
    exe.forward(d1=np.zeros(2), d3=np.ones(2))
    np.testing.assert_allclose(exe.outputs[1].asnumpy(), np.sin([2.0, 2.0]), rtol=1e-6)
    with mx.AttrScope(ctx_group="dev1"):
        ones = mx.sym.ones((2,), name="o1")
    exe = (ones + d3).simple_bind(mx.cpu(0), group2ctx={"dev1": mx.cpu(1)}, d3=(2,),
                                  grad_req="null")
    assert _ctxs(exe)[2] == [mx.cpu(1)]
    exe = (mx.sym.ones((2,)) + d3).simple_bind(mx.cpu(0), group2ctx={"dev1": mx.cpu(1)},
                                               d3=(2,), grad_req="null")
    assert _ctxs(exe)[2] == [mx.cpu(0)]


def test_grouped_variables_and_bind():
    with mx.AttrScope(ctx_group="g"):
        w = mx.sym.Variable("w")
    q = mx.sym.exp(w, name="q")
    g2c = {"g": mx.cpu(5)}
    assert _ctxs(q.simple_bind(mx.cpu(0), group2ctx=g2c, w=(2,))) == \
        ([mx.cpu(5)], [mx.cpu(5)], [mx.cpu(5)])
    assert _ctxs(w.simple_bind(mx.cpu(0), group2ctx=g2c, w=(2,))) == \
        ([mx.cpu(5)], [mx.cpu(5)], [mx.cpu(5)])
    a7 = mx.nd.ones((2,), ctx=mx.cpu(7))
    exe = q.bind(mx.cpu(0), args=[a7], args_grad=[mx.nd.zeros((2,), ctx=mx.cpu(5))],
                 group2ctx=g2c)
    assert _ctxs(exe) == ([mx.cpu(7)], [mx.cpu(5)], [mx.cpu(5)])
    np.testing.assert_allclose(exe.forward(is_train=True)[0].asnumpy(), [np.e, np.e],
                               rtol=1e-6)
    exe.backward(mx.nd.ones((2,)))
    np.testing.assert_allclose(exe.grad_arrays[0].asnumpy(), [np.e, np.e], rtol=1e-6)
    new = exe.reshape(w=(3,), allow_up_sizing=True)
    assert _ctxs(new) == ([mx.cpu(7)], [mx.cpu(5)], [mx.cpu(5)])
    assert new._group2ctx == g2c


def test_placement_errors():
    x = mx.sym.Variable("x")
    with mx.AttrScope(ctx_group="g"):
        y = mx.sym.exp(x, name="y")
    with pytest.raises(mx.base.GraphError, match="'g'"):
        y.simple_bind(mx.cpu(0), group2ctx={"other": mx.cpu(3)}, x=(2,))
    with pytest.raises(TypeError, match="Context"):
        y.simple_bind(mx.cpu(0), group2ctx={"g": "cpu"}, x=(2,))
    assert _ctxs(y.simple_bind(mx.cpu(0), group2ctx={}, x=(2,), grad_req="null")) == \
        ([mx.cpu(0)], [None], [mx.cpu(0)])
    with pytest.raises(mx.base.MXNetError, match="cpu\\(7\\)"):
        y.bind(mx.cpu(0), args=[mx.nd.ones((2,), ctx=mx.cpu(7))])
    with pytest.raises(mx.base.MXNetError, match="cpu\\(3\\)"):
        y.bind(mx.cpu(0), args=[mx.nd.ones((2,))], args_grad=[mx.nd.ones((2,), ctx=mx.cpu(3))])


# -- the segmented path in detail ---------------------------------------------------------------
def _compare(sym, shapes, group2ctx, grad_req="write", out_grads=True):
    def run(g2c):
        rng = np.random.RandomState(0)
        exe = sym.simple_bind(mx.cpu(0), group2ctx=g2c, grad_req=grad_req, **shapes)
        for a in exe.arg_arrays:
            a[:] = rng.uniform(-1, 1, a.shape)
        for a in exe.aux_arrays:
            a[:] = rng.uniform(0.5, 1, a.shape)
        for g in exe.grad_dict.values():
            g[:] = 0.5
        outs = [o.asnumpy() for o in exe.forward(is_train=True)]
        ogs = [mx.nd.array(rng.uniform(-1, 1, o.shape)) for o in outs] if out_grads else None
        exe.backward(ogs)
        return exe, outs

    e1, o1 = run(group2ctx)
    e2, o2 = run(None)
    assert e1._segmented is not None
    for a, b in zip(o1, o2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert sorted(e1.grad_dict) == sorted(e2.grad_dict)
    for k in e1.grad_dict:
        np.testing.assert_allclose(e1.grad_dict[k].asnumpy(), e2.grad_dict[k].asnumpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=k)
    for k in e1.aux_dict:
        np.testing.assert_allclose(e1.aux_dict[k].asnumpy(), e2.aux_dict[k].asnumpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=k)
    return e1


@pytest.mark.parametrize("grad_req", ["write", "add"])
def test_segments_share_variables_and_outputs(monkeypatch, grad_req):
    monkeypatch.setattr(placement, "SPLIT_BY", "context")
    x, w = mx.sym.Variable("x"), mx.sym.Variable("w")
    with mx.AttrScope(ctx_group="a"):
        h = mx.sym.FullyConnected(x, w, num_hidden=4, no_bias=True, name="h")
    with mx.AttrScope(ctx_group="b"):
        k = mx.sym.broadcast_mul(mx.sym.tanh(h, name="t"), mx.sym.sum(w, name="sw"), name="k")
    # h is an output and also read by the other device; w is read by both; x is an output
    g = mx.sym.Group([h, k, mx.sym.sin(k, name="after"), x])
    exe = _compare(g, {"x": (3, 4)}, {"a": mx.cpu(1), "b": mx.cpu(2)}, grad_req=grad_req)
    assert [o.context for o in exe.outputs] == [mx.cpu(1), mx.cpu(2), mx.cpu(2), mx.cpu(0)]
    assert [[n.name for n in s.nodes] for s in exe._segmented.segments] == \
        [["h"], ["t", "sw", "k", "after"]]


def test_segments_back_and_forth(monkeypatch):
    monkeypatch.setattr(placement, "SPLIT_BY", "context")
    x = mx.sym.Variable("x")
    with mx.AttrScope(ctx_group="a"):
        p1 = mx.sym.exp(x, name="p1")
    with mx.AttrScope(ctx_group="b"):
        p2 = mx.sym.sin(p1, name="p2")
    with mx.AttrScope(ctx_group="a"):
        p3 = mx.sym.elemwise_mul(p2, p1, name="p3")
    exe = _compare(p3, {"x": (2, 3)}, {"a": mx.cpu(1), "b": mx.cpu(2)})
    assert [s.ctx for s in exe._segmented.segments] == [mx.cpu(1), mx.cpu(2), mx.cpu(1)]
    exe.forward(is_train=True)
    with pytest.raises(mx.base.MXNetError, match="p3_output"):
        exe.backward()
    assert "segment 1 on cpu(2): p2" in exe.debug_str()


def test_segments_with_batchnorm_and_a_loss(monkeypatch):
    monkeypatch.setattr(placement, "SPLIT_BY", "context")
    mlp, _ = _mlp_in_two_stages()
    _compare(mlp, {"data": (3, 5)}, {"stage1": mx.cpu(1), "stage2": mx.cpu(2)},
             out_grads=False)


# -- Module (MXNet's test_module.py) ------------------------------------------------------------
def _check_module_ctx_group(ctxs, group2ctxs, grad_ctxs=None):
    with mx.AttrScope(ctx_group="dev1"):
        a = mx.sym.Variable("a")
        a = a * 2
    with mx.AttrScope(ctx_group="dev2"):
        b = mx.sym.Variable("b")
        c = a + b
    shape = (2, 5)
    mod1 = mx.mod.Module(c, context=ctxs, data_names=["a", "b"], label_names=None,
                         group2ctxs=group2ctxs)
    mod1.bind(data_shapes=[["a", shape], ["b", shape]], inputs_need_grad=True)
    mod1.init_params()
    mod1.forward(data_batch=mx.io.DataBatch(data=[mx.nd.ones(shape), mx.nd.ones(shape)]),
                 is_train=True)
    mod1.backward([mx.nd.ones(shape)])
    mod1_input_grads = mod1.get_input_grads()

    mod2 = mx.mod.Module(c, context=ctxs, data_names=["a", "b"], label_names=None)
    mod2.bind(data_shapes=[["a", shape], ["b", shape]], inputs_need_grad=True)
    mod2.init_params()
    mod2.forward(data_batch=mx.io.DataBatch(data=[mx.nd.ones(shape), mx.nd.ones(shape)]),
                 is_train=True)
    mod2.backward([mx.nd.ones(shape)])
    mod2_input_grads = mod2.get_input_grads()

    if grad_ctxs is not None:
        assert mod1_input_grads[0].context == grad_ctxs[0]
        assert mod1_input_grads[1].context == grad_ctxs[1]
    assert np.all(mod1_input_grads[0].asnumpy() == mod2_input_grads[0].asnumpy())
    assert np.all(mod1_input_grads[1].asnumpy() == mod2_input_grads[1].asnumpy())
    assert np.all(mod1_input_grads[0].asnumpy() == 2)


def test_module_ctx_group(split_by):
    _check_module_ctx_group([mx.cpu(0)], {"dev1": mx.cpu(1), "dev2": mx.cpu(2)},
                            grad_ctxs=[mx.cpu(1), mx.cpu(2)])
    _check_module_ctx_group([mx.cpu(0), mx.cpu(1)],
                            [{"dev1": mx.cpu(2), "dev2": mx.cpu(3)},
                             {"dev1": mx.cpu(4), "dev2": mx.cpu(5)}])
    _check_module_ctx_group([mx.cpu(0), mx.cpu(1)], {"dev1": mx.cpu(2), "dev2": mx.cpu(3)})
    _check_module_ctx_group([mx.cpu(0), mx.cpu(1)], {"dev1": mx.cpu(2), "dev2": [mx.cpu(3)]})
    _check_module_ctx_group([mx.cpu(0), mx.cpu(1)],
                            {"dev1": mx.cpu(2), "dev2": [mx.cpu(3), mx.cpu(3)]})
    _check_module_ctx_group([mx.cpu(0), mx.cpu(1)],
                            {"dev1": [mx.cpu(2), mx.cpu(2)], "dev2": [mx.cpu(3), mx.cpu(3)]})


def test_bucket_module_ctx_group():
    num_hidden, batch_size = 10, 5

    def sym_gen(seq_len):
        with mx.AttrScope(ctx_group="dev1"):
            data = mx.sym.Variable("data")
            weight = mx.sym.Variable("dev1_weight")
            bias = mx.sym.Variable("dev1_bias")
            fc = data
            for i in range(seq_len):
                fc = mx.sym.FullyConnected(data=fc, weight=weight, bias=bias,
                                           name="dev1_fc_%d" % i, num_hidden=num_hidden)
        with mx.AttrScope(ctx_group="dev2"):
            label = mx.sym.Variable("label")
            weight = mx.sym.Variable("dev2_weight")
            bias = mx.sym.Variable("dev2_bias")
            for i in range(seq_len):
                fc = mx.sym.FullyConnected(data=fc, weight=weight, bias=bias,
                                           name="dev2_fc_%d" % i, num_hidden=num_hidden)
            sym = mx.sym.SoftmaxOutput(fc, label, name="softmax")
        return sym, ("data",), ("label",)

    mod = mx.mod.BucketingModule(sym_gen=sym_gen, default_bucket_key=10, context=[mx.cpu(0)],
                                 group2ctxs=[{"dev1": mx.cpu(1), "dev2": mx.cpu(2)}])
    mod.bind(data_shapes=[["data", (batch_size, num_hidden)]],
             label_shapes=[["label", (batch_size,)]], for_training=True, inputs_need_grad=True)
    assert mod.binded
    exe = mod._curr_module._exec_group.execs[0]
    assert exe.arg_dict["dev1_weight"].context == mx.cpu(1)
    assert exe.arg_dict["dev2_weight"].context == mx.cpu(2)


# -- backward with nothing to differentiate (MXNet: a no-op) -------------------------------------
def test_backward_without_gradients_is_a_noop():
    x = mx.sym.Variable("x")
    y = mx.sym.exp(x, name="y")
    exe = y.simple_bind(mx.cpu(), x=(2,), grad_req="null")
    exe.forward(is_train=True)
    exe.backward()                                  # no head gradient needed
    exe.backward(mx.nd.ones((2,)))
    assert exe.grad_arrays == [None]
    y.simple_bind(mx.cpu(), x=(2,), grad_req="null").backward()   # before any forward
    z = mx.sym.ones((2, 3), name="o") * 2          # no arguments at all
    ez = z.simple_bind(mx.cpu())
    ez.forward(is_train=True)
    ez.backward()
    exe = y.bind(mx.cpu(), args={"x": mx.nd.ones((2,))})   # no gradient arrays
    exe.forward(is_train=True)
    exe.backward()
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), [np.e, np.e], rtol=1e-6)
    # with a gradient to compute, a non-loss output still needs its head gradient
    exe = y.simple_bind(mx.cpu(), x=(2,))
    exe.forward(is_train=True)
    with pytest.raises(mx.base.MXNetError, match="y_output"):
        exe.backward()


def test_backward_without_gradients_leaves_aux_states():
    x = mx.sym.Variable("x")
    bn = mx.sym.BatchNorm(x, name="bn", fix_gamma=False)
    exe = bn.simple_bind(mx.cpu(), x=(4, 2), grad_req="null")
    exe.arg_dict["x"][:] = np.arange(8).reshape(4, 2)
    exe.forward(is_train=True)
    exe.backward(mx.nd.ones((4, 2)))
    np.testing.assert_array_equal(exe.aux_dict["bn_moving_mean"].asnumpy(), [0, 0])


@pytest.mark.gpu
def test_cpu_and_gpu_groups():
    """Real devices: a group on the GPU and one on the host, forward and backward."""
    x = mx.sym.Variable("x")
    with mx.AttrScope(ctx_group="g"):
        h = mx.sym.FullyConnected(x, num_hidden=8, name="h")
    with mx.AttrScope(ctx_group="c"):
        out = mx.sym.tanh(h, name="out")
    exe = out.simple_bind(mx.cpu(0), group2ctx={"g": mx.gpu(0), "c": mx.cpu(0)}, x=(4, 6))
    ref = out.simple_bind(mx.cpu(0), x=(4, 6))
    assert exe._segmented is not None
    assert exe.arg_dict["h_weight"].context == mx.gpu(0)
    rng = np.random.RandomState(0)
    for name in out.list_arguments():
        v = rng.uniform(-1, 1, exe.arg_dict[name].shape)
        exe.arg_dict[name][:] = v
        ref.arg_dict[name][:] = v
    og = mx.nd.array(rng.uniform(-1, 1, (4, 8)))
    for e in (exe, ref):
        e.forward(is_train=True)
        e.backward([og])
    assert exe.outputs[0].context == mx.cpu(0)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), ref.outputs[0].asnumpy(), rtol=1e-4)
    for name in out.list_arguments():
        np.testing.assert_allclose(exe.grad_dict[name].asnumpy(), ref.grad_dict[name].asnumpy(),
                                   rtol=1e-4, atol=1e-5)
