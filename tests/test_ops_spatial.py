"""Spatial operators (mxc/ir/opdefs/spatial.py) beyond the op table: errors name the operator,
symbol and shapes; attribute validation; MXNet's interface (argument / output names, hidden
outputs); border behaviour; the 1-d im2col / col2im form (MXNet 1.9.1's own fails inside its
kernel, so there is no golden data for it); the Triton runs of the Correlation cases that the
golden table keeps to LLVM."""
import dataclasses
import os
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import AttrError, MXNetError, UnsupportedError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, HERE)

V = mx.sym.Variable


def _infer_err(sym, **shapes):
    with pytest.raises(MXNetError) as e:
        sym.infer_shape(**shapes)
    return str(e.value)


@pytest.mark.parametrize("build,shapes,words", [
    (lambda: mx.sym.Crop(V("data"), num_args=1, h_w=(4, 2), name="cr"), {"data": (1, 2, 3, 5)},
     ["Crop", "cr", "h_w=(4, 2)", "(1,2,3,5)"]),
    (lambda: mx.sym.Crop(V("data"), num_args=1, h_w=(2, 2), offset=(2, 0), name="cr"),
     {"data": (1, 2, 3, 5)}, ["Crop", "cr", "offset=(2, 0)", "(1,2,3,5)"]),
    (lambda: mx.sym.Crop(V("data"), V("like"), num_args=2, name="cr"),
     {"data": (1, 2, 3, 5), "like": (1, 1, 4, 4)}, ["Crop", "cr", "(1,1,4,4)", "(1,2,3,5)"]),
    (lambda: mx.sym.BilinearSampler(V("data"), V("grid"), name="bs"),
     {"data": (2, 3, 4, 4), "grid": (2, 3, 5, 5)}, ["BilinearSampler", "bs", "(2,3,5,5)"]),
    (lambda: mx.sym.BilinearSampler(V("data"), V("grid"), name="bs"),
     {"data": (2, 3, 4), "grid": (2, 2, 5, 5)}, ["BilinearSampler", "bs", "(2,3,4)", "4-d"]),
    (lambda: mx.sym.GridGenerator(V("data"), transform_type="affine", target_shape=(3, 3),
                                  name="gg"), {"data": (2, 4)}, ["GridGenerator", "gg", "(2,4)"]),
    (lambda: mx.sym.GridGenerator(V("data"), transform_type="affine", name="gg"),
     {"data": (2, 6)}, ["GridGenerator", "gg", "target_shape"]),
    (lambda: mx.sym.GridGenerator(V("data"), transform_type="warp", name="gg"),
     {"data": (2, 3, 4, 4)}, ["GridGenerator", "gg", "(2,3,4,4)", "warp"]),
    (lambda: mx.sym.SpatialTransformer(V("data"), V("loc"), target_shape=(2, 2),
                                       transform_type="affine", sampler_type="bilinear",
                                       name="st"),
     {"data": (2, 3, 4, 4), "loc": (2, 4)}, ["SpatialTransformer", "st", "(2,4)"]),
    (lambda: mx.sym.contrib.BilinearResize2D(V("data"), height=2, width=2, name="rz"),
     {"data": (2, 3, 4)}, ["_contrib_BilinearResize2D", "rz", "(2,3,4)"]),
    (lambda: mx.sym.contrib.BilinearResize2D(V("data"), mode="odd_scale", name="rz"),
     {"data": (2, 3, 4, 4)}, ["_contrib_BilinearResize2D", "rz", "scale_height"]),
    (lambda: mx.sym.contrib.BilinearResize2D(V("data"), scale_height=0.5, name="rz"),
     {"data": (2, 3, 4, 4)}, ["_contrib_BilinearResize2D", "rz", "scale_width"]),
    (lambda: mx.sym.contrib.AdaptiveAvgPooling2D(V("data"), output_size=2, name="ap"),
     {"data": (2, 3, 4)}, ["_contrib_AdaptiveAvgPooling2D", "ap", "(2,3,4)"]),
    (lambda: mx.sym.Correlation(V("a"), V("b"), name="co"), {"a": (1, 2, 4, 4), "b": (1, 2, 4, 5)},
     ["Correlation", "co", "(1,2,4,4)", "(1,2,4,5)"]),
    (lambda: mx.sym.Correlation(V("a"), V("b"), max_displacement=3, name="co"),
     {"a": (1, 2, 4, 4), "b": (1, 2, 4, 4)}, ["Correlation", "co", "(1,2,4,4)", "do not fit"]),
    (lambda: mx.sym.im2col(V("data"), kernel=(5, 5), name="ic"), {"data": (1, 2, 4, 6)},
     ["im2col", "ic", "(4,6)", "kernel"]),
    (lambda: mx.sym.col2im(V("data"), output_size=(4, 4), kernel=(2, 2), name="ci"),
     {"data": (1, 8, 10)}, ["col2im", "ci", "(1,8,10)", "9"]),
])
def test_shape_errors_name_op_symbol_and_shapes(build, shapes, words):
    msg = _infer_err(build(), **shapes)
    for w in words:
        assert w in msg, (w, msg)


def test_attribute_errors():
    with pytest.raises(AttrError, match="Crop.*num_args=3"):
        mx.sym.Crop(V("a"), V("b"), V("c"), num_args=3, name="cr")
    with pytest.raises(AttrError, match="Correlation.*kernel_size=2.*odd"):
        mx.sym.Correlation(V("a"), V("b"), kernel_size=2, name="co")
    with pytest.raises(AttrError, match="GridGenerator.*transform_type"):
        mx.sym.GridGenerator(V("a"), transform_type="projective", name="gg")
    with pytest.raises(AttrError, match="SpatialTransformer.*sampler_type"):
        mx.sym.SpatialTransformer(V("a"), V("l"), target_shape=(2, 2), transform_type="affine",
                                  sampler_type="nearest")
    with pytest.raises(AttrError, match="_contrib_BilinearResize2D.*mode"):
        mx.sym.contrib.BilinearResize2D(V("a"), mode="bicubic")
    with pytest.raises(UnsupportedError, match="im2col 'ic'.*3-d"):
        mx.sym.im2col(V("a"), kernel=(2, 2, 2), name="ic").infer_shape(a=(1, 1, 4, 4, 4))


def test_interface_matches_mxnet():
    """Argument and output names as MXNet 1.9.1 lists them; hidden outputs stay hidden."""
    cases = [
        (mx.sym.BilinearSampler(V("d"), V("g"), name="bs"), ["d", "g"]),
        (mx.sym.GridGenerator(V("d"), transform_type="warp", name="gg"), ["d"]),
        (mx.sym.SpatialTransformer(V("d"), V("l"), target_shape=(2, 2), transform_type="affine",
                                   sampler_type="bilinear", name="st"), ["d", "l"]),
        (mx.sym.Correlation(V("a"), V("b"), name="co"), ["a", "b"]),
        (mx.sym.Crop(V("a"), V("b"), num_args=2, name="cr"), ["a", "b"]),
        (mx.sym.contrib.BilinearResize2D(V("a"), V("b"), mode="like", name="rz"), ["a", "b"]),
        (mx.sym.contrib.BilinearResize2D(V("a"), height=3, width=3, name="rz"), ["a"]),
    ]
    for s, args in cases:
        assert s.list_arguments() == args
        assert s.list_outputs() == [s.name + "_output"]
    assert mx.sym.Crop(V("a"), num_args=1, h_w=(1, 1)).list_arguments() == ["a"]
    assert mx.sym.contrib.BilinearResize2D is not None and hasattr(mx.nd.contrib,
                                                                   "AdaptiveAvgPooling2D")


def test_ndarray_calls():
    x = mx.nd.array(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(mx.nd.Crop(x, mx.nd.ones((1, 1, 2, 2)), num_args=2,
                                             center_crop=True).asnumpy()[0, 0],
                                  [[5, 6], [9, 10]])
    # MXNet's size mode: scale_width is read only when scale_height is given
    assert mx.nd.contrib.BilinearResize2D(x, scale_height=2., scale_width=0.5).shape == (1, 1, 8,
                                                                                         2)
    assert mx.nd.contrib.BilinearResize2D(x, scale_width=0.5).shape == (1, 1, 1, 1)
    assert mx.nd.contrib.AdaptiveAvgPooling2D(x).asnumpy().ravel().tolist() == [7.5]
    assert mx.nd.Correlation(x, x).shape == (1, 9, 2, 2)


def test_bilinear_sampler_zero_outside_the_image():
    """Grid points outside [-1, 1] by more than a pixel read zeros and get no gradient."""
    data = np.random.default_rng(0).standard_normal((1, 2, 3, 3)).astype(np.float32)
    grid = np.full((1, 2, 2, 2), 3.0, np.float32)
    sym = mx.sym.BilinearSampler(V("data"), V("grid"))
    c = mx.compile(sym, shapes={"data": data.shape, "grid": grid.shape}, is_train=True,
                   grad_wrt=["data", "grid"])
    out, gd, gg = c(data, grid, np.ones((1, 2, 2, 2), np.float32))
    assert not out.any() and not gd.any() and not gg.any()


def test_bilinear_resize_clamps_at_the_border():
    """Half-pixel upsampling: the last output column reads only the last input column."""
    x = np.arange(8, dtype=np.float32).reshape(1, 1, 2, 4)
    y = mx.nd.contrib.BilinearResize2D(mx.nd.array(x), height=2, width=8,
                                       align_corners=False).asnumpy()
    np.testing.assert_allclose(y[0, 0, :, -1], x[0, 0, :, -1])
    np.testing.assert_allclose(y[0, 0, :, 0], x[0, 0, :, 0])


@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_im2col_col2im_1d_match_the_2d_form(target):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9)).astype(np.float32)
    kw = {"kernel": (3,), "stride": (2,), "pad": (1,), "dilate": (1,)}
    kw2 = {k: (1 if k != "pad" else 0,) + v for k, v in kw.items()}
    s1 = mx.sym.im2col(V("x"), **kw)
    s2 = mx.sym.im2col(V("x"), **kw2)
    c1 = mx.compile(s1, shapes={"x": x.shape}, target=target, is_train=True, grad_wrt=["x"])
    c2 = mx.compile(s2, shapes={"x": (2, 3, 1, 9)}, target=target, is_train=True,
                    grad_wrt=["x"])
    head = rng.standard_normal((2, 9, 5)).astype(np.float32)
    o1, g1 = c1(x, head)
    o2, g2 = c2(x.reshape(2, 3, 1, 9), head)
    np.testing.assert_allclose(o1, o2)
    np.testing.assert_allclose(g1, g2.reshape(x.shape))
    assert o1.shape == (2, 9, 5)
    # col2im of the 1-d form folds the columns back: col2im(im2col(x)) counts each position's
    # windows
    back = mx.sym.col2im(V("c"), output_size=(9,), **kw)
    cb = mx.compile(back, shapes={"c": o1.shape}, target=target)
    cnt = mx.compile(back, shapes={"c": o1.shape}, target=target)(np.ones_like(o1))[0]
    np.testing.assert_allclose(cb(o1)[0], x * cnt, rtol=1e-6)


# --- Correlation on Triton (the golden table runs these cases on LLVM only) ------------------------
def _triton_correlation_cases():
    from golden_cases import load_family
    return [c for c in load_family("spatial") if c.op == "Correlation" and
            "triton" not in c.targets]


@pytest.mark.slow
@pytest.mark.parametrize("case", _triton_correlation_cases(), ids=lambda c: c.name)
def test_correlation_triton_golden(case):
    import test_op_golden as golden
    case = dataclasses.replace(case, targets=("llvm", "triton"))
    golden.test_forward("spatial", case, "triton")
    golden.test_backward("spatial", case, "triton")


def test_none_for_an_input_the_mode_leaves_out():
    # MXNet's signature is BilinearResize2D(data, like, height, ...): None is the absent `like`
    d = mx.sym.var("data")
    s = mx.sym.contrib.BilinearResize2D(d, None, scale_height=2.0, scale_width=2.0,
                                        mode="odd_scale")
    assert s.list_arguments() == ["data"]
    assert s.infer_shape(data=(1, 1, 4, 4))[1] == [(1, 1, 8, 8)]
