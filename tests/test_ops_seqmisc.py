"""Sequence and miscellaneous operators (mxc/ir/opdefs/seqmisc.py, seqmisc_ctc.py) beyond the
op table (tools/golden_cases/seqmisc.py): CTC's label conventions and lengths, integer and
0-d outputs, operators without a CPU oracle in MXNet (BatchNormWithReLU needs oneDNN; fft,
ifft and count_sketch are GPU-only there; fill_element_0index is an NDArray function),
mx.nd.contrib / mx.sym.contrib's Python functions, errors, and what is unsupported."""
import math

import numpy as np
import pytest

import mxc as mx
from mxc.base import AttrError, MXNetError, ShapeError, UnsupportedError
from mxc.ir.core import Builder
from mxc.ir.registry import get_op, has_op
from mxc.ir.types import DType, TensorType
from mxc.testing import check_compiled, check_grad


def _one_op(opname, shapes, attrs=None, dtypes=None):
    od = get_op(opname)
    b = Builder(opname)
    a = od.parse_attrs(dict(attrs or {}))
    names = od.list_inputs(a)
    ins = [b.input(n, TensorType(tuple(s), DType.parse((dtypes or {}).get(n, "float32"))))
           for n, s in zip(names, shapes)]
    out = b.op(opname, ins, attrs or {})
    outs = list(out) if isinstance(out, tuple) else [out]
    return b.build(outs[:od.num_visible(a)])


# --- names ---------------------------------------------------------------------------------------
def test_names_and_aliases():
    for n in ("CTCLoss", "ctc_loss", "_contrib_CTCLoss", "_contrib_ctc_loss"):
        assert get_op(n).name == "CTCLoss"
    for f in (mx.sym.CTCLoss, mx.sym.ctc_loss, mx.sym.contrib.CTCLoss, mx.sym.contrib.ctc_loss,
              mx.nd.contrib.ctc_loss, mx.sym.contrib.interleaved_matmul_selfatt_qk,
              mx.sym.contrib.interleaved_matmul_encdec_valatt, mx.sym.contrib.arange_like,
              mx.sym.contrib.div_sqrt_dim, mx.sym.contrib.index_array, mx.sym.contrib.index_copy,
              mx.sym.contrib.gradientmultiplier, mx.sym.contrib.quadratic,
              mx.sym.contrib.round_ste, mx.sym.contrib.sign_ste, mx.sym.contrib.allclose,
              mx.sym.fill_element_0index, mx.sym.cast_storage, mx.sym.contrib.BatchNormWithReLU,
              mx.sym.contrib.SyncBatchNorm, mx.sym.contrib.count_sketch, mx.sym.contrib.fft,
              mx.sym.contrib.ifft, mx.nd.contrib.isfinite, mx.nd.contrib.rand_zipfian,
              mx.sym.contrib.rand_zipfian, mx.nd.contrib.foreach, mx.sym.contrib.while_loop,
              mx.nd.contrib.boolean_mask):
        assert callable(f)
    s = mx.sym.contrib.ctc_loss(mx.sym.Variable("d"), mx.sym.Variable("l"),
                                use_label_lengths=True, name="ctc")
    assert s.list_arguments() == ["d", "l", "ctc_label_lengths"]
    assert s.list_outputs() == ["ctc_output0"]     # as MXNet names them


# --- CTCLoss -----------------------------------------------------------------------------------------
def _ctc_ref(logits, label, blank):
    """-log p(label | logits) by the alignment recursion, in float64 (one sequence)."""
    lp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    ext = [blank]
    for c in label:
        ext += [c, blank]
    T, S = lp.shape[0], len(ext)
    alpha = np.full((T, S), -np.inf)
    alpha[0, 0] = lp[0, ext[0]]
    if S > 1:
        alpha[0, 1] = lp[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            terms = [alpha[t - 1, s]]
            if s >= 1:
                terms.append(alpha[t - 1, s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(alpha[t - 1, s - 2])
            alpha[t, s] = np.logaddexp.reduce(terms) + lp[t, ext[s]]
    tail = alpha[T - 1, S - 1] if S == 1 else np.logaddexp(alpha[T - 1, S - 1],
                                                           alpha[T - 1, S - 2])
    return -tail


def test_ctc_conventions_match_the_recursion():
    rng = np.random.default_rng(0)
    T, N, A = 7, 3, 5
    x = rng.standard_normal((T, N, A)).astype(np.float32)
    # blank first: labels 1..A-1, padded with 0
    lab = np.array([[2, 1, 0, 0], [3, 3, 2, 0], [1, 2, 1, 4]], np.float32)
    got = mx.nd.CTCLoss(mx.nd.array(x), mx.nd.array(lab)).asnumpy()
    want = [_ctc_ref(x[:, i].astype(np.float64), [int(c) for c in lab[i] if c != 0], 0)
            for i in range(N)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # blank last: labels 0..A-2, padded with -1
    lab2 = np.array([[1, 0, -1, -1], [2, 2, 1, -1], [0, 1, 0, 3]], np.float32)
    got2 = mx.nd.ctc_loss(mx.nd.array(x), mx.nd.array(lab2), blank_label="last").asnumpy()
    want2 = [_ctc_ref(x[:, i].astype(np.float64), [int(c) for c in lab2[i] if c != -1], A - 1)
             for i in range(N)]
    np.testing.assert_allclose(got2, want2, rtol=1e-5)


def test_ctc_lengths_equal_padding_and_truncation():
    rng = np.random.default_rng(1)
    T, N, A = 8, 2, 4
    x = rng.standard_normal((T, N, A)).astype(np.float32)
    padded = np.array([[1, 2, 0], [3, 0, 0]], np.float32)
    by_pad = mx.nd.CTCLoss(mx.nd.array(x), mx.nd.array(padded)).asnumpy()
    garbage = np.array([[1, 2, 3], [3, 1, 2]], np.float32)     # ignored past the lengths
    by_len = mx.nd.CTCLoss(mx.nd.array(x), mx.nd.array(garbage), mx.nd.array([2, 1]),
                           use_label_lengths=True).asnumpy()
    np.testing.assert_allclose(by_len, by_pad, rtol=1e-6)
    # data lengths: the same as cutting the sequence
    got = mx.nd.CTCLoss(mx.nd.array(x), mx.nd.array(padded), mx.nd.array([5, 8]),
                        use_data_lengths=True).asnumpy()
    cut = mx.nd.CTCLoss(mx.nd.array(x[:5, :1]), mx.nd.array(padded[:1])).asnumpy()
    np.testing.assert_allclose(got[0], cut[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], by_pad[1], rtol=1e-6)


@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_ctc_gradient_is_masked_past_the_data_length(target):
    rng = np.random.default_rng(2)
    T, N, A = 6, 2, 4
    d, lab, dl = mx.sym.Variable("d"), mx.sym.Variable("l"), mx.sym.Variable("dl")
    s = mx.sym.CTCLoss(d, lab, dl, use_data_lengths=True, name="ctc")
    c = mx.compile(s, shapes={"d": (T, N, A), "l": (N, 2), "dl": (N,)}, target=target,
                   is_train=True, grad_wrt=["d"])
    x = rng.standard_normal((T, N, A)).astype(np.float32)
    head = np.array([1.0, 2.0], np.float32)
    loss, grad = c(x, np.array([[1, 2], [3, 0]], np.float32), np.array([4, 6], np.float32), head)
    assert loss.shape == (N,)
    assert np.all(grad[4:, 0] == 0) and np.any(grad[:4, 0] != 0) and np.any(grad[4:, 1] != 0)
    # d(loss)/d(logits) of one time step sums to 0 over the alphabet (softmax inside)
    np.testing.assert_allclose(grad.sum(axis=2), 0, atol=1e-5)


def test_ctc_errors():
    d, lab = mx.sym.Variable("d"), mx.sym.Variable("l")
    with pytest.raises(ShapeError, match=r"CTCLoss 'ctc'.*\(4,3\).*3-d"):
        mx.sym.CTCLoss(d, lab, name="ctc").infer_shape(d=(4, 3), l=(3, 2))
    with pytest.raises(ShapeError, match=r"CTCLoss 'ctc'.*same batch size"):
        mx.sym.CTCLoss(d, lab, name="ctc").infer_shape(d=(5, 2, 4), l=(3, 2))
    with pytest.raises(ShapeError, match=r"CTCLoss 'ctc'.*cannot exceed"):
        mx.sym.CTCLoss(d, lab, name="ctc").infer_shape(d=(2, 3, 4), l=(3, 4))
    with pytest.raises(ShapeError, match=r"data_lengths has shape \(4\)"):
        mx.sym.CTCLoss(d, lab, mx.sym.Variable("dl"), use_data_lengths=True,
                       name="ctc").infer_shape(d=(5, 3, 4), l=(3, 2), dl=(4,))
    with pytest.raises(AttrError, match="blank_label"):
        mx.sym.CTCLoss(d, lab, blank_label="middle")


# --- attention matmuls -----------------------------------------------------------------------------
def test_interleaved_matmuls_compose_to_attention():
    """selfatt_qk -> softmax -> selfatt_valatt is multi-head attention (numpy reference)."""
    rng = np.random.default_rng(3)
    L, B, H, D = 4, 2, 3, 5
    qkv = rng.standard_normal((L, B, H * 3 * D)).astype(np.float32)
    x = mx.sym.Variable("qkv")
    att = mx.sym.softmax(mx.sym.contrib.interleaved_matmul_selfatt_qk(x, heads=H), axis=-1)
    out = mx.sym.contrib.interleaved_matmul_selfatt_valatt(x, att, heads=H)
    got = mx.compile(out, shapes={"qkv": qkv.shape})(qkv)[0]
    t = qkv.reshape(L, B, H, 3, D).astype(np.float64)
    q, k, v = (t[:, :, :, i].transpose(1, 2, 0, 3) for i in range(3))    # (B, H, L, D)
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    want = (p @ v).transpose(2, 0, 1, 3).reshape(L, B, H * D)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_interleaved_shape_errors():
    x = mx.sym.Variable("qkv")
    with pytest.raises(ShapeError, match=r"selfatt_qk 'qk'.*\(4,2,10\).*multiple of heads \* 3"):
        mx.sym.contrib.interleaved_matmul_selfatt_qk(x, heads=2, name="qk").infer_shape(
            qkv=(4, 2, 10))
    with pytest.raises(ShapeError, match=r"attention has shape \(4,4,3\)"):
        mx.sym.contrib.interleaved_matmul_selfatt_valatt(
            x, mx.sym.Variable("att"), heads=2, name="va").infer_shape(qkv=(4, 2, 12),
                                                                      att=(4, 4, 3))


# --- small operators: integer and 0-d outputs, errors ---------------------------------------------
def test_integer_and_scalar_outputs():
    x = mx.nd.ones((3, 2))
    ia = mx.nd.contrib.index_array(x)
    assert ia.dtype == np.int64 and ia.shape == (3, 2, 2)
    np.testing.assert_array_equal(ia.asnumpy(), np.stack(np.indices((3, 2)), -1))
    # MXNet 1.9.1 (float32 arithmetic): 0, 0, 1, 1 (inf - -inf <= inf), 1 (float64)
    for a, b, want, dt in (([1e10, 1e-8], [1.00001e10, 1e-9], 0, "float32"),
                           ([1e10, 1e-7], [1.00001e10, 1e-8], 0, "float32"),
                           ([1.0, 2.0], [1.000001, 2.0], 1, "float32"),
                           ([1.0, np.inf], [1.0, -np.inf], 1, "float32"),
                           ([1.0, 1e-8], [1.000001, 1e-9], 1, "float64")):
        ac = mx.nd.contrib.allclose(mx.nd.array(a, dtype=dt), mx.nd.array(b, dtype=dt))
        assert ac.dtype == np.uint8 and ac.shape == () and int(ac.asnumpy()) == want, (a, b)
    nan = mx.nd.array([np.nan, 1.0])
    assert int(mx.nd.contrib.allclose(nan, nan).asnumpy()) == 1
    assert int(mx.nd.contrib.allclose(nan, nan, equal_nan=False).asnumpy()) == 0
    al = mx.nd.contrib.arange_like(mx.nd.ones((5,), dtype="int32"), start=1.5, step=2.7)
    assert al.dtype == np.int32
    np.testing.assert_array_equal(al.asnumpy(), [1, 3, 5, 7, 9])     # start, step truncated


def test_fill_element_0index_and_index_copy():
    lhs = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = mx.nd.fill_element_0index(mx.nd.array(lhs), mx.nd.array([5, 6, 7]),
                                    mx.nd.array([0, 3, 1])).asnumpy()
    want = lhs.copy()
    want[[0, 1, 2], [0, 3, 1]] = [5, 6, 7]
    np.testing.assert_array_equal(out, want)
    g = _one_op("fill_element_0index", [(3, 4), (3,), (3,)])
    check_grad(g, [lhs, np.array([5, 6, 7], np.float32), np.array([0, 3, 1], np.float32)],
               wrt=["lhs", "mhs"])
    x = mx.nd.contrib.index_copy(mx.nd.zeros((5, 3)), mx.nd.array([0, 4, 2]),
                                 mx.nd.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]]))
    np.testing.assert_array_equal(x.asnumpy(), [[1, 2, 3], [0, 0, 0], [7, 8, 9], [0, 0, 0],
                                                [4, 5, 6]])
    with pytest.raises(ShapeError, match="index_copy"):
        mx.nd.contrib.index_copy(mx.nd.zeros((5, 3)), mx.nd.array([0, 1]), mx.nd.ones((3, 3)))


def test_cast_storage_sparse_is_unsupported():
    with pytest.raises(UnsupportedError, match="sparse storage"):
        mx.sym.cast_storage(mx.sym.Variable("x"), stype="csr")
    with pytest.raises(UnsupportedError, match="row_sparse"):
        mx.nd.cast_storage(mx.nd.ones((2, 2)), stype="row_sparse")
    np.testing.assert_array_equal(mx.nd.cast_storage(mx.nd.ones((2, 2)), stype="default")
                                  .asnumpy(), np.ones((2, 2)))


def test_sync_batchnorm_needs_key():
    with pytest.raises(AttrError, match="key"):
        mx.sym.contrib.SyncBatchNorm(mx.sym.Variable("x"))


# --- BatchNormWithReLU: relu(BatchNorm) ---------------------------------------------------------------
def _bind(sym, shapes, vals):
    exe = sym.simple_bind(mx.cpu(), **shapes)
    for k, v in vals.items():
        (exe.arg_dict.get(k) if k in exe.arg_dict else exe.aux_dict[k])[:] = v
    return exe


def test_batchnorm_with_relu_is_relu_of_batchnorm():
    rng = np.random.default_rng(4)
    shapes = {"x": (4, 3, 2, 2)}
    x = mx.sym.Variable("x")
    a = mx.sym.contrib.BatchNormWithReLU(x, fix_gamma=False, name="bn")
    b = mx.sym.relu(mx.sym.BatchNorm(x, fix_gamma=False, name="bn"))
    assert a.list_arguments() == b.list_arguments()
    assert a.list_auxiliary_states() == b.list_auxiliary_states()
    vals = {"x": rng.standard_normal(shapes["x"]), "bn_gamma": rng.uniform(0.5, 2, 3),
            "bn_beta": rng.standard_normal(3), "bn_moving_var": rng.uniform(0.5, 2, 3)}
    ea, eb = _bind(a, shapes, vals), _bind(b, shapes, vals)
    head = mx.nd.array(rng.standard_normal(shapes["x"]))
    for train in (True, False):
        oa, ob = ea.forward(is_train=train)[0], eb.forward(is_train=train)[0]
        np.testing.assert_allclose(oa.asnumpy(), ob.asnumpy(), rtol=1e-5, atol=1e-6)
    ea.forward(is_train=True)
    eb.forward(is_train=True)
    ea.backward([head])
    eb.backward([head])
    for n in ("x", "bn_gamma", "bn_beta"):
        np.testing.assert_allclose(ea.grad_dict[n].asnumpy(), eb.grad_dict[n].asnumpy(),
                                   rtol=1e-4, atol=1e-5)
    for n in ("bn_moving_mean", "bn_moving_var"):
        np.testing.assert_allclose(ea.aux_dict[n].asnumpy(), eb.aux_dict[n].asnumpy(),
                                   rtol=1e-5)
    outs = a.get_internals().list_outputs()
    assert "bn_output" in outs


# --- fft / ifft / count_sketch (GPU-only in MXNet: checked against numpy) ------------------------------
@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_fft_ifft_count_sketch(target):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 8)).astype(np.float32)
    f = np.fft.fft(x.astype(np.float64), axis=-1)
    want = np.stack([f.real, f.imag], -1).reshape(3, 16)
    check_compiled(_one_op("_contrib_fft", [x.shape]), [x], target, rtol=1e-4, atol=1e-4,
                   expected=[want])
    z = rng.standard_normal((2, 1, 2, 10)).astype(np.float32)
    c = z[..., 0::2] + 1j * z[..., 1::2]
    want = (np.fft.ifft(c.astype(np.complex128), axis=-1) * 5).real   # unnormalised, real part
    check_compiled(_one_op("_contrib_ifft", [z.shape]), [z], target, rtol=1e-4, atol=1e-4,
                   expected=[want])
    d = rng.standard_normal((2, 5)).astype(np.float32)
    h = np.array([[0, 2, 1, 2, 0]], np.float32)
    s = np.array([[1, -1, 1, 1, -1]], np.float32)
    want = np.zeros((2, 3))
    for i in range(5):
        want[:, int(h[0, i])] += s[0, i] * d[:, i]
    check_compiled(_one_op("_contrib_count_sketch", [d.shape, h.shape, s.shape],
                           {"out_dim": 3}), [d, h, s], target, rtol=1e-5, atol=1e-6,
                   expected=[want])


def test_fft_gradients_are_the_adjoint_transforms():
    rng = np.random.default_rng(6)
    check_grad(_one_op("_contrib_fft", [(2, 6)]), [rng.standard_normal((2, 6))])
    check_grad(_one_op("_contrib_ifft", [(2, 8)]), [rng.standard_normal((2, 8))])
    g = _one_op("_contrib_count_sketch", [(3, 4), (1, 4), (1, 4)], {"out_dim": 3})
    check_grad(g, [rng.standard_normal((3, 4)), np.array([[0, 2, 2, 1]], np.float32),
                   np.array([[1, -1, 1, 1]], np.float32)], wrt=["data"])
    with pytest.raises(ShapeError, match="_contrib_fft.*2-d or 4-d"):
        mx.sym.contrib.fft(mx.sym.Variable("x")).infer_shape(x=(2, 3, 4))


# --- mx.nd.contrib / mx.sym.contrib Python functions ---------------------------------------------------
def test_isinf_isfinite_isnan():
    x = mx.nd.array([1.0, np.inf, np.nan, -np.inf])
    assert mx.nd.contrib.isinf(x).asnumpy().tolist() == [0, 1, 0, 1]
    assert mx.nd.contrib.isfinite(x).asnumpy().tolist() == [1, 0, 0, 0]
    assert mx.nd.contrib.isnan(x).asnumpy().tolist() == [0, 0, 1, 0]
    assert mx.nd.contrib.isnan(x).dtype == np.float32
    i = mx.nd.array([1, 2, -3], dtype="int32")          # MXNet 1.9.1: 0, 1, 0 (int32)
    assert mx.nd.contrib.isinf(i).asnumpy().tolist() == [0, 0, 0]
    assert mx.nd.contrib.isfinite(i).asnumpy().tolist() == [1, 1, 1]
    assert mx.nd.contrib.isnan(i).asnumpy().tolist() == [0, 0, 0]
    assert mx.nd.contrib.isfinite(i).dtype == np.int32


def test_rand_zipfian():
    true = mx.nd.array([3, 4])
    sampled, ct, cs = mx.nd.contrib.rand_zipfian(true, 6, 10)
    assert sampled.dtype == np.int64 and sampled.shape == (6,)
    assert ct.dtype == np.float64 and cs.shape == (6,)
    sv = sampled.asnumpy()
    assert ((0 <= sv) & (sv < 10)).all()
    prob = lambda c: np.log((c + 2.0) / (c + 1.0)) / np.log(11)
    np.testing.assert_allclose(ct.asnumpy(), prob(np.array([3.0, 4.0])) * 6)
    np.testing.assert_allclose(cs.asnumpy(), prob(sv.astype(np.float64)) * 6)
    outs = mx.sym.contrib.rand_zipfian(mx.sym.Variable("t"), 4, 10)
    res = mx.compile(mx.sym.Group(list(outs)), shapes={"t": (2,)})(np.array([1.0, 2.0],
                                                                            np.float32))
    assert res[0].shape == (4,) and res[0].dtype == np.int64 and (res[0] < 10).all()


def test_nd_control_flow():
    def step(x, states):
        s = states[0] + x
        return [s * 2], [s]

    data = mx.nd.array(np.arange(6, dtype=np.float32).reshape(3, 2))
    outs, states = mx.nd.contrib.foreach(step, data, [mx.nd.zeros(2)])
    np.testing.assert_array_equal(outs[0].asnumpy(), 2 * np.cumsum(data.asnumpy(), axis=0))
    np.testing.assert_array_equal(states[0].asnumpy(), data.asnumpy().sum(0))

    outs, vars_ = mx.nd.contrib.while_loop(
        cond=lambda i, s: i <= 5, func=lambda i, s: ([i + s], [i + 1, s + i]),
        loop_vars=(mx.nd.array([0]), mx.nd.array([1])), max_iterations=10)
    assert outs[0].shape == (10, 1)
    np.testing.assert_array_equal(outs[0].asnumpy()[:6, 0], [1, 2, 4, 7, 11, 16])
    assert vars_[0].asnumpy().tolist() == [6] and vars_[1].asnumpy().tolist() == [16]

    a, b = mx.nd.array([1]), mx.nd.array([2])
    r = mx.nd.contrib.cond(a * b < 5, lambda: (a + 5) * (b + 5), lambda: (a - 5) * (b - 5))
    assert r.asnumpy().tolist() == [42]
    with pytest.raises(ValueError, match="max_iterations"):
        mx.nd.contrib.while_loop(lambda i: i < 1, lambda i: (i, i), [a])


@pytest.mark.parametrize("name", ["foreach", "while_loop", "cond"])
def test_symbol_control_flow_is_unsupported_with_advice(name):
    with pytest.raises(UnsupportedError, match=f"mx.sym.contrib.{name}.*subgraph"):
        getattr(mx.sym.contrib, name)(None, None, None)


def test_boolean_mask():
    d = mx.nd.array(np.arange(12, dtype=np.float32).reshape(4, 3))
    np.testing.assert_array_equal(
        mx.nd.contrib.boolean_mask(d, mx.nd.array([1, 0, 1, 0])).asnumpy(),
        [[0, 1, 2], [6, 7, 8]])
    assert mx.nd.contrib.boolean_mask(d, mx.nd.zeros(4)).shape == (0, 3)
    with pytest.raises(ShapeError, match="boolean_mask"):
        mx.nd.contrib.boolean_mask(d, mx.nd.ones(3))
    with pytest.raises(UnsupportedError, match="output size depends on the values"):
        mx.sym.contrib.boolean_mask(mx.sym.Variable("d"), mx.sym.Variable("m"))


def test_quantization_and_dgl_are_unsupported_not_registered():
    from mxc.symbol.contrib import UNSUPPORTED
    assert "quantized_conv" in UNSUPPORTED and "dgl_subgraph" in UNSUPPORTED
    for n in UNSUPPORTED:
        assert not has_op(f"_contrib_{n}")
        for mod, where in ((mx.sym.contrib, "mx.sym.contrib"), (mx.nd.contrib, "mx.nd.contrib")):
            with pytest.raises(UnsupportedError, match=f"{where}.{n}: mxc does not support"):
                getattr(mod, n)()
    with pytest.raises(MXNetError):
        mx.nd.contrib.quantize_v2(mx.nd.ones(2))


# --- MXNet's backward operators; hawkesll's two implementations --------------------------------------
def test_backward_operators():
    g, x = mx.nd.array([1, 2]), mx.nd.array([3, 4])
    np.testing.assert_array_equal(mx.nd.contrib.backward_quadratic(g, x, a=1.0, b=2.0)
                                  .asnumpy(), [8, 20])
    np.testing.assert_array_equal(mx.nd.contrib.backward_gradientmultiplier(g, scalar=0.5)
                                  .asnumpy(), [0.5, 1])
    og = np.arange(10, dtype=np.float32).reshape(5, 2)
    g_old, g_idx, g_new = mx.nd.contrib.backward_index_copy(
        mx.nd.array(og), mx.nd.zeros((5, 2)), mx.nd.array([0, 3]), mx.nd.zeros((2, 2)))
    np.testing.assert_array_equal(g_old.asnumpy(), og * np.array([[0], [1], [1], [0], [1]]))
    np.testing.assert_array_equal(g_new.asnumpy(), og[[0, 3]])
    assert not g_idx.asnumpy().any()


@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_hawkesll_backward_library_matches_mxnet_recursion(target):
    """The compiled backward (torch autograd of the recursion) equals the interpreter's
    (MXNet's hand-derived gradient recursion), on fresh inputs."""
    rng = np.random.default_rng(7)
    N, K, T = 3, 2, 5
    xs = [rng.standard_normal(N).astype(np.float32), np.zeros((N, K), np.float32),
          rng.uniform(0.5, 2, (N, K)).astype(np.float32),
          rng.uniform(0.1, 0.5, K).astype(np.float32), rng.uniform(0.5, 2, K).astype(np.float32),
          rng.uniform(0, 1, (N, K)).astype(np.float32),
          rng.uniform(0.1, 1, (N, T)).astype(np.float32),
          rng.integers(0, K, (N, T)).astype(np.int32), np.array([5, 2, 0], np.float32),
          rng.uniform(5.5, 7, N).astype(np.float32)]
    g = _one_op("_contrib_backward_hawkesll",
                [x.shape for x in xs], dtypes={"marks": "int32"})
    check_compiled(g, xs, target, rtol=1e-4, atol=1e-5)
    with pytest.raises(ShapeError, match="_contrib_hawkesll 'hk'.*alpha \\(3\\)"):
        s = mx.sym.contrib.hawkesll(*[mx.sym.Variable(n) for n in
                                      ("lda", "alpha", "beta", "state", "lags", "marks",
                                       "valid_length", "max_time")], name="hk")
        s.infer_shape(lda=(2, 2), alpha=(3,), beta=(2,), state=(2, 2), lags=(2, 4),
                      marks=(2, 4), valid_length=(2,), max_time=(2,))


def test_ctc_trains_as_in_mxnet():
    """A linear layer trained through MakeLoss(ctc_loss) by plain SGD: the loss trajectory
    MXNet 1.9.1 printed for the same script (every 4th of 20 steps)."""
    rng = np.random.RandomState(0)
    T, N, A, F = 8, 4, 5, 6
    fc = mx.sym.FullyConnected(mx.sym.Reshape(mx.sym.Variable("data"), shape=(-1, F)),
                               num_hidden=A, name="fc")
    loss = mx.sym.MakeLoss(mx.sym.contrib.ctc_loss(mx.sym.Reshape(fc, shape=(T, N, A)),
                                                   mx.sym.Variable("label"), name="ctc"))
    exe = loss.simple_bind(mx.cpu(), data=(T, N, F), label=(N, 3))
    exe.arg_dict["data"][:] = rng.randn(T, N, F).astype("float32")
    exe.arg_dict["label"][:] = np.array([[1, 2, 0], [3, 3, 1], [4, 0, 0], [2, 1, 4]], "float32")
    exe.arg_dict["fc_weight"][:] = rng.randn(A, F).astype("float32") * 0.1
    exe.arg_dict["fc_bias"][:] = 0
    seen = []
    for _ in range(20):
        seen.append(exe.forward(is_train=True)[0].asnumpy().sum())
        exe.backward()
        for n in ("fc_weight", "fc_bias"):
            exe.arg_dict[n][:] = exe.arg_dict[n].asnumpy() - 0.05 * exe.grad_dict[n].asnumpy()
    np.testing.assert_allclose(seen[::4], [31.55728, 17.09918, 15.44504, 14.51388, 13.88309],
                               rtol=1e-4)
