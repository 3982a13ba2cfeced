"""Deformable / sampling operators (mxc/ir/opdefs/deformable.py) beyond the golden table:
errors name the operator, symbol and shapes; MXNet's interface (argument lists, inferred
weight / bias, hidden outputs); the gradients MXNet 1.9.1 cannot record on the CPU
(ModulatedDeformableConvolution: finite differences; SparseEmbedding: MXNet's row_sparse
gradient as a dense array)."""
import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError, UnsupportedError

V = mx.sym.Variable


def _infer_err(sym, **shapes):
    with pytest.raises(MXNetError) as e:
        sym.infer_shape(**shapes)
    return str(e.value)


@pytest.mark.parametrize("build,shapes,words", [
    (lambda: mx.sym.contrib.DeformableConvolution(V("data"), V("offset"), kernel=(3, 3),
                                                  num_filter=2, name="dc"),
     {"data": (1, 2, 5, 5), "offset": (1, 18, 4, 3)},
     ["_contrib_DeformableConvolution", "dc", "offset", "(1,18,4,3)", "(1,18,3,3)"]),
    (lambda: mx.sym.contrib.DeformableConvolution(V("data"), V("offset"), kernel=(3, 3),
                                                  num_filter=2, num_group=2, name="dc"),
     {"data": (1, 3, 5, 5), "offset": (1, 18, 3, 3)},
     ["_contrib_DeformableConvolution", "dc", "(1,3,5,5)", "num_group=2"]),
    (lambda: mx.sym.contrib.ModulatedDeformableConvolution(
        V("data"), V("offset"), V("mask"), kernel=(3, 3), num_filter=2, name="mdc"),
     {"data": (1, 2, 5, 5), "offset": (1, 18, 3, 3), "mask": (1, 18, 3, 3)},
     ["_contrib_ModulatedDeformableConvolution", "mdc", "mask", "(1,18,3,3)", "(1,9,3,3)"]),
    (lambda: mx.sym.contrib.ModulatedDeformableConvolution(
        V("data"), V("offset"), V("mask"), kernel=(1, 1), num_filter=2, im2col_step=4,
        name="mdc"),
     {"data": (6, 2, 3, 3), "offset": (6, 2, 3, 3), "mask": (6, 1, 3, 3)},
     ["_contrib_ModulatedDeformableConvolution", "mdc", "im2col_step=4", "6"]),
    (lambda: mx.sym.contrib.DeformablePSROIPooling(V("data"), V("rois"), V("trans"),
                                                   spatial_scale=1.0, output_dim=2,
                                                   group_size=2, pooled_size=2, name="dp"),
     {"data": (1, 8, 4, 4), "rois": (3, 5), "trans": (2, 2, 2, 2)},
     ["_contrib_DeformablePSROIPooling", "dp", "trans", "(2,2,2,2)"]),
    (lambda: mx.sym.contrib.DeformablePSROIPooling(V("data"), V("rois"), spatial_scale=1.0,
                                                   output_dim=3, group_size=2, pooled_size=2,
                                                   no_trans=True, name="dp"),
     {"data": (1, 8, 4, 4), "rois": (3, 5)},
     ["_contrib_DeformablePSROIPooling", "dp", "(1,8,4,4)", "12"]),
])
def test_shape_errors_name_op_symbol_and_shapes(build, shapes, words):
    msg = _infer_err(build(), **shapes)
    for w in words:
        assert w.replace(" ", "") in msg.replace(" ", ""), (w, msg)


def test_attribute_errors():
    with pytest.raises(MXNetError, match="_contrib_DeformableConvolution.*kernel"):
        mx.sym.contrib.DeformableConvolution(V("d"), V("o"), kernel=(3,), num_filter=2)
    with pytest.raises(UnsupportedError, match="_contrib_DeformableConvolution.*layout"):
        mx.sym.contrib.DeformableConvolution(V("d"), V("o"), kernel=(3, 3), num_filter=2,
                                             layout="NCW")
    with pytest.raises(MXNetError, match="_contrib_DeformablePSROIPooling.*trans_std"):
        mx.sym.contrib.DeformablePSROIPooling(V("d"), V("r"), V("t"), spatial_scale=1.0,
                                              output_dim=2, group_size=2, pooled_size=2,
                                              trans_std=2.0)


def test_interface_matches_mxnet():
    dc = mx.sym.contrib.DeformableConvolution(V("data"), V("offset"), kernel=(3, 3), pad=(1, 1),
                                              num_filter=4, num_group=2, name="dc")
    assert dc.list_arguments() == ["data", "offset", "dc_weight", "dc_bias"]
    args, outs, _ = dc.infer_shape(data=(2, 4, 5, 6), offset=(2, 18, 5, 6))
    assert args == [(2, 4, 5, 6), (2, 18, 5, 6), (4, 2, 3, 3), (4,)] and outs == [(2, 4, 5, 6)]
    mdc = mx.sym.contrib.ModulatedDeformableConvolution(V("data"), V("offset"), V("mask"),
                                                        kernel=(2, 2), num_filter=3,
                                                        no_bias=True, name="m")
    assert mdc.list_arguments() == ["data", "offset", "mask", "m_weight"]
    dp = mx.sym.contrib.DeformablePSROIPooling(V("data"), V("rois"), V("trans"),
                                               spatial_scale=0.5, output_dim=2, group_size=2,
                                               pooled_size=3, name="dp")
    assert dp.list_arguments() == ["data", "rois", "trans"]
    assert dp.list_outputs() == ["dp_output"]
    se = mx.sym.contrib.SparseEmbedding(V("data"), input_dim=4, output_dim=5, name="se")
    assert se.list_arguments() == ["data", "se_weight"]
    assert se.infer_shape(data=(2, 3))[:2] == ([(2, 3), (4, 5)], [(2, 3, 5)])


def _grads(sym, vals, head):
    exe = sym.simple_bind(mx.cpu(), type_dict={k: v.dtype.name for k, v in vals.items()},
                          **{k: v.shape for k, v in vals.items()})
    for k, v in vals.items():
        exe.arg_dict[k][:] = v
    exe.forward(is_train=True)
    exe.backward([mx.nd.array(head, dtype=head.dtype)])
    return {k: exe.grad_dict[k].asnumpy() for k in vals}


def _loss(sym, vals, head):
    exe = sym.simple_bind(mx.cpu(), grad_req="null",
                          type_dict={k: v.dtype.name for k, v in vals.items()},
                          **{k: v.shape for k, v in vals.items()})
    for k, v in vals.items():
        exe.arg_dict[k][:] = v
    return float((exe.forward()[0].asnumpy().astype(np.float64) * head).sum())


def test_modulated_deformable_convolution_gradient_finite_differences():
    """MXNet 1.9.1's backward for this op is GPU-only; every input's gradient here is checked
    against central differences (float64 inputs) in a random direction."""
    rng = np.random.default_rng(0)
    sym = mx.sym.contrib.ModulatedDeformableConvolution(
        V("data"), V("offset"), V("mask"), V("weight"), V("bias"), kernel=(2, 2), num_filter=2,
        num_deformable_group=2, pad=(1, 0))
    vals = {"data": rng.uniform(-1, 1, (1, 2, 3, 4)), "offset": rng.uniform(-1.3, 1.3,
                                                                           (1, 16, 4, 3)),
            "mask": rng.uniform(0, 1, (1, 8, 4, 3)), "weight": rng.uniform(-1, 1, (2, 2, 2, 2)),
            "bias": rng.uniform(-1, 1, (2,))}
    vals = {k: v.astype(np.float64) for k, v in vals.items()}
    head = rng.standard_normal((1, 2, 4, 3))
    g = _grads(sym, vals, head)
    eps = 1e-6
    for k in vals:
        d = rng.standard_normal(vals[k].shape)
        hi = dict(vals, **{k: vals[k] + eps * d})
        lo = dict(vals, **{k: vals[k] - eps * d})
        fd = (_loss(sym, hi, head) - _loss(sym, lo, head)) / (2 * eps)
        assert abs(fd - float((g[k] * d).sum())) <= 1e-6 * max(1.0, abs(fd)), k


def test_sparse_embedding_dense_gradient_equals_mxnets_row_sparse():
    """MXNet 1.9.1 (attach_grad(stype='row_sparse'), head 2) gives rows 0..3 all 2.0 for
    indices [[1, 3], [0, 2]]; an index used twice adds up; unused rows are 0 (absent in
    MXNet's row_sparse array)."""
    w = np.arange(24, dtype=np.float32).reshape(6, 4)
    sym = mx.sym.contrib.SparseEmbedding(V("data"), V("weight"), input_dim=6, output_dim=4)
    g = _grads(sym, {"data": np.array([[1, 3], [0, 2]], np.float32), "weight": w},
               np.full((2, 2, 4), 2, np.float32))["weight"]
    assert np.array_equal(g, np.r_[np.full((4, 4), 2.0), np.zeros((2, 4))])
    g = _grads(sym, {"data": np.array([[1, 1], [5, 9]], np.float32), "weight": w},
               np.ones((2, 2, 4), np.float32))["weight"]
    assert np.array_equal(g[[0, 1, 5]], [[0] * 4, [2] * 4, [2] * 4])    # 9 clips to 5


def test_deformable_convolution_zero_offsets_is_convolution():
    rng = np.random.default_rng(1)
    x = mx.nd.array(rng.uniform(-1, 1, (2, 4, 5, 5)))
    w = mx.nd.array(rng.uniform(-1, 1, (6, 2, 3, 3)))
    b = mx.nd.array(rng.uniform(-1, 1, (6,)))
    kw = {"kernel": (3, 3), "pad": (1, 1), "stride": (2, 1), "num_filter": 6, "num_group": 2}
    ref = mx.nd.Convolution(x, w, b, **kw).asnumpy()
    off = mx.nd.zeros((2, 18, 3, 5))
    out = mx.nd.contrib.DeformableConvolution(x, off, w, b, **kw).asnumpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
