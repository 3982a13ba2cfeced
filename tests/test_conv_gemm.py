"""Convolutions as im2col GEMMs on the CPU, masked views (im2col, col2im, constant Pad) in
both renderers, and the kernel-IR index rules they rely on."""
import numpy as np
import pytest
import torch

import mxc as mx
from mxc.codegen.kir import Ix, Var
from mxc.compile import compile_graph
from mxc.ir import Builder, TensorType, interp
from mxc.testing import assert_close

CONVS = [  # (in shape, filters, kernel, stride, pad, dilate, no_bias)
    ((2, 3, 9, 9), 4, (3, 3), (1, 1), (0, 0), (1, 1), False),
    ((2, 2, 10, 8), 3, (3, 2), (2, 1), (1, 2), (1, 1), False),
    ((1, 3, 11, 11), 2, (3, 3), (2, 3), (2, 1), (2, 1), True),
    ((3, 1, 6, 6), 5, (5, 5), (1, 1), (2, 2), (1, 1), False),
]


@pytest.mark.parametrize("shape,f,k,s,p,d,no_bias", CONVS)
def test_convolution_as_gemm_matches_torch_forward_and_backward(shape, f, k, s, p, d, no_bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((f, shape[1], *k)).astype(np.float32)
    bias = rng.standard_normal(f).astype(np.float32)
    args = dict(data=mx.sym.Variable("data"), num_filter=f, kernel=k, stride=s, pad=p,
                dilate=d, no_bias=no_bias, name="conv")
    sym = mx.sym.Convolution(**args)
    wrt = ["data", "conv_weight"] + ([] if no_bias else ["conv_bias"])
    c = mx.compile(sym, shapes={"data": shape}, is_train=True, grad_wrt=wrt)
    assert not any(op.opname.startswith(("Convolution", "_conv_backward"))
                   for op in c.graph.ops), "the convolution stayed a library call"
    assert any(r.pass_name == "conv_gemm" for r in c.remarks)

    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = None if no_bias else torch.tensor(bias, requires_grad=True)
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride=s, padding=p, dilation=d)
    head = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(head))

    feed = {"data": x, "conv_weight": w, "conv_bias": bias, "conv_head_grad": head}
    res = c(*[feed[n] for n in c.input_names()])
    assert_close(res[0], yt.detach().numpy(), 1e-4, 1e-4, "forward")
    want = [xt.grad, wt.grad] + ([] if no_bias else [bt.grad])
    for name, got, ref in zip(wrt, res[1:], want):
        assert_close(got, ref.numpy(), 1e-4, 1e-4, f"d{name}")


def test_conv_gemm_leaves_gpu_and_grouped_convolutions_alone():
    data = mx.sym.Variable("data")
    grouped = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), num_group=2, name="g")
    c = mx.compile(grouped, data=(1, 4, 6, 6))
    assert any(op.opname == "Convolution" for op in c.graph.ops)
    assert any("grouped convolution" in str(r) for r in c.remarks)
    plain = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), name="p")
    g = mx.compile(plain, data=(1, 4, 6, 6), target="triton")
    assert any(op.opname == "Convolution" for op in g.graph.ops)


def _view_graph(opname, shape, attrs):
    b = Builder("v")
    x = b.input("x", TensorType(shape))
    return b.build([b.op("exp", [b.op(opname, [x], attrs)])])


VIEWS = [
    ("_im2col", (2, 3, 7, 6), {"kernel": (3, 2), "stride": (2, 1), "dilate": (1, 2),
                               "pad": (1, 1)}),
    ("_im2col", (1, 2, 5, 5), {"kernel": (3, 3), "stride": (1, 1), "dilate": (1, 1),
                               "pad": (0, 0)}),
    ("_col2im", (2, 3, 2, 2, 4, 3), {"kernel": (3, 2), "stride": (2, 2), "dilate": (1, 1),
                                     "pad": (1, 0), "out_hw": (7, 6)}),
]


@pytest.mark.parametrize("target", ["llvm", "triton"])
@pytest.mark.parametrize("opname,shape,attrs", VIEWS)
def test_masked_views_fuse_and_match_numpy(target, opname, shape, attrs):
    g = _view_graph(opname, shape, attrs)
    c = compile_graph(g, target)
    assert [s.kind for s in c.program.steps] == ["kernel"]      # the view is in the kernel
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    assert_close(c(x)[0], interp(g, [x])[0], 1e-5, 1e-6, f"{opname} on {target}")


def test_im2col_interp_is_the_convolution():
    """cols reshaped to (C*KH*KW, N*OH*OW), multiplied by the (F, C*KH*KW) weights, is the
    convolution: the views' reference semantics are right, not only self-consistent."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    attrs = {"kernel": (3, 2), "stride": (2, 1), "dilate": (1, 2), "pad": (1, 1)}
    cols = interp(_view_graph("_im2col", x.shape, attrs), [x])[0]
    cols = np.log(cols)                              # undo the test graph's exp
    c, kh, kw, n, oh, ow = cols.shape
    y = (w.reshape(4, -1) @ cols.reshape(c * kh * kw, -1)).reshape(4, n, oh, ow)
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), stride=(2, 1),
                                     padding=(1, 1), dilation=(1, 2)).numpy()
    assert_close(y.transpose(1, 0, 2, 3), ref, 1e-4, 1e-5, "im2col GEMM")


@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_constant_pad_fuses_edge_and_reflect_are_library_calls(target):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5)).astype(np.float32)
    width = (0, 0, 0, 0, 1, 2, 2, 1)
    for mode, kinds in (("constant", ["kernel"]), ("edge", ["extern", "kernel"]),
                        ("reflect", ["extern", "kernel"])):
        s = mx.sym.exp(mx.sym.Pad(mx.sym.Variable("x"), mode=mode, pad_width=width,
                                  constant_value=0.5))
        c = mx.compile(s, x=x.shape, target=target)
        assert [st.kind for st in c.program.steps] == kinds, (mode, str(c.program))
        np_mode = {"constant": "constant", "edge": "edge", "reflect": "reflect"}[mode]
        kw = {"constant_values": 0.5} if mode == "constant" else {}
        ref = np.exp(np.pad(x, ((0, 0), (0, 0), (1, 2), (2, 1)), mode=np_mode, **kw))
        assert_close(c(x=x)[0], ref, 1e-5, 1e-6, f"Pad {mode} on {target}")


def test_floor_division_pulls_out_exact_multiples():
    g0, g1 = Var("g", 0, 64), Var("g", 1, 36864)
    e = Ix({g0: 36864, g1: 1}) // 24
    assert e == Ix({g0: 1536}) + Ix.var(g1) // 24
    m = Ix({g0: 36864, g1: 1}) % 24
    assert m == Ix.var(g1) % 24


@pytest.mark.parametrize("n", [5, 27, 32, 33])
def test_short_reductions_unrolled_match_numpy(n):
    b = Builder("r")
    x = b.input("x", TensorType((7, n)))
    g = b.build([b.op("sum", [b.op("exp", [x])], {"axis": (1,)})])
    c = compile_graph(g, "llvm")
    xv = np.random.default_rng(n).standard_normal((7, n)).astype(np.float32)
    assert_close(c(xv)[0], np.exp(xv.astype(np.float64)).sum(1), 1e-5, 1e-5, f"sum of {n}")


def test_fusion_is_deterministic():
    """Equal graphs fuse equally however their ops hash (the compile cache and bitwise
    reproducibility rely on it)."""
    cell = mx.rnn.LSTMCell(num_hidden=3, prefix="l_")
    out, _ = cell.unroll(4, inputs=mx.sym.Variable("data"), layout="TNC", merge_outputs=True)
    texts = {str(mx.compile(out, data=(4, 2, 5), is_train=True,
                            grad_wrt=["l_i2h_weight", "l_h2h_weight"]).graph)
             for _ in range(4)}
    assert len(texts) == 1


def test_batch_blocks_match_torch_and_bound_the_columns(monkeypatch):
    """Columns over the budget split the batch: every block's GEMMs, the concatenated
    forward with its activation moved into the blocks, summed weight gradients."""
    import mxc.passes.conv_gemm as cg
    monkeypatch.setattr(cg, "CHUNK_BYTES", 3 * 25 * 36 * 4 * 2)      # two samples a block
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 3, 10, 10)).astype(np.float32)
    w = rng.standard_normal((4, 3, 5, 5)).astype(np.float32) * 0.2
    bias = rng.standard_normal(4).astype(np.float32)
    sym = mx.sym.Activation(mx.sym.Convolution(mx.sym.Variable("data"), num_filter=4,
                                               kernel=(5, 5), name="conv"),
                            act_type="tanh", name="act")
    wrt = ["data", "conv_weight", "conv_bias"]
    c = mx.compile(sym, shapes={"data": x.shape}, is_train=True, grad_wrt=wrt)
    assert any("in 3 batch blocks" in str(r) for r in c.remarks), c.remarks
    gemms = [s for s in c.program.steps if s.kind == "extern" and s.name == "gemm"]
    assert len(gemms) == 9                  # forward, weight and data gradients, per block

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, bias))
    yt = torch.tanh(torch.nn.functional.conv2d(xt, wt, bt))
    head = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(head))
    feed = {"data": x, "conv_weight": w, "conv_bias": bias, "act_head_grad": head}
    res = c(*[feed[n] for n in c.input_names()])
    assert_close(res[0], yt.detach().numpy(), 1e-4, 1e-4, "forward")
    for name, got, ref in zip(wrt, res[1:], (xt.grad, wt.grad, bt.grad)):
        assert_close(got, ref.numpy(), 1e-4, 1e-4, f"d{name}")


def test_lenet_training_plan_stays_small():
    """LeNet at batch 64, forward + backward: block-wise columns, argmax positions computed
    just before the pooling backward, greedy-by-size placement. MXNet 1.9.1 plans 12 MB of
    temporaries for the same graph; this plan is under 0.8x of that (forward values that
    backward reads stay intact to the end, so that backward can run twice, as in MXNet)."""
    data = mx.sym.Variable("data")
    net = data
    for i, f in ((1, 20), (2, 50)):
        net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=f, name=f"conv{i}")
        net = mx.sym.Activation(net, act_type="tanh", name=f"tanh{i}")
        net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2),
                             name=f"pool{i}")
    net = mx.sym.FullyConnected(mx.sym.Flatten(net), num_hidden=500, name="fc1")
    net = mx.sym.FullyConnected(mx.sym.Activation(net, act_type="tanh"), num_hidden=10,
                                name="fc2")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    wrt = [n for n in net.list_arguments() if n not in ("data", "softmax_label")]
    c = mx.compile(net, data=(64, 1, 28, 28), softmax_label=(64,), is_train=True,
                   grad_wrt=wrt)
    assert c.program.arena_bytes <= 0.8 * 12 * (1 << 20), c.program.arena_bytes
    # the argmax positions (written by a kernel of their own) are not written after the
    # forward and held across the whole backward
    steps = c.program.steps
    fwd = c.program.n_forward_steps
    mask = [i for i, s in enumerate(steps) if s.kind == "kernel" and i >= fwd
            and s.name.endswith("_pool1")]
    assert mask and all(i > len(steps) // 2 for i in mask), [s.name for s in steps]


def test_big_independent_kernels_do_not_merge():
    b = Builder("m")
    x = b.input("x", TensorType((512, 256)))
    g = b.build([b.op("exp", [x]), b.op("log", [x])])
    c = compile_graph(g)
    assert len([s for s in c.program.steps if s.kind == "kernel"]) == 2
    assert any("no-merge" == r.what and "bytes" in r.message for r in c.remarks)
    small = Builder("s")
    x = small.input("x", TensorType((8, 8)))
    c = compile_graph(small.build([small.op("exp", [x]), small.op("log", [x])]))
    assert len([s for s in c.program.steps if s.kind == "kernel"]) == 1
