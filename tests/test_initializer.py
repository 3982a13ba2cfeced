"""mx.init: dumps(), create() and the name dispatch exactly as MXNet 1.9.1 (golden data in
tests/data/optimizer_golden.npz, init/*), and the statistics of the random initializers."""
import json
import logging
import os

import numpy as np
import pytest

import mxc as mx
from mxc import random as mxrandom
from runtime import initializer as init

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "optimizer_golden.npz")


def _golden():
    with np.load(GOLDEN) as d:
        return {k: json.loads(str(d[k])) for k in ("init/dumps", "init/create", "init/dispatch")}


_GOLDEN = _golden()


def test_dumps_match_mxnet():
    env = {"np": np, **{k: getattr(init, k) for k in init.__all__}}
    cases = _GOLDEN["init/dumps"]
    assert len(cases) >= 15
    for expr, want in cases.values():
        assert eval(expr, env).dumps() == want, expr


def test_create_matches_mxnet():
    for arg, kw, want in _GOLDEN["init/create"]:
        assert init.create(arg, **kw).dumps() == want, arg
    x = init.Xavier()
    assert init.create(x) is x
    assert init.create({"initializer": "normal", "sigma": 2.0}).sigma == 2.0
    with pytest.raises(AssertionError, match="nope is not registered"):
        init.create("nope")


class _Probe(init.Initializer):
    def _init_weight(self, _, arr):
        arr[:] = 7.0


@pytest.mark.parametrize("case", _GOLDEN["init/dispatch"],
                         ids=[f"{c['name']}-{c['init']}" for c in _GOLDEN["init/dispatch"]])
def test_name_dispatch_matches_mxnet(case):
    arr = mx.nd.full(tuple(case["shape"]), -5.0)
    probe = _Probe()
    spec = case["init"]
    try:
        with pytest.warns(DeprecationWarning) if spec == "legacy" else _nothing():
            if spec == "legacy":
                probe(case["name"], arr)
            else:
                probe(init.InitDesc(case["name"], {} if spec is None else {"__init__": spec}),
                      arr)
    except Exception as e:  # noqa: BLE001
        assert "error" in case, f"{case['name']} / {spec}: MXNet did not raise; mxc raised {e!r}"
        assert type(e).__name__ == case["error"] and str(e) == case["message"]
        return
    assert "error" not in case, f"{case['name']} / {spec}: MXNet raised {case['error']}"
    np.testing.assert_allclose(arr.asnumpy().ravel(), case["values"], rtol=1e-7)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_initdesc_and_global_init():
    d = init.InitDesc("fc_weight", {"__init__": '["one", {}]'})
    assert isinstance(d, str) and d == "fc_weight" and d.attrs["__init__"] == '["one", {}]'
    assert d.global_init is None
    u = init.Uniform()
    arr = mx.nd.zeros((2, 2))
    u(d, arr)
    assert d.global_init is u and np.all(arr.asnumpy() == 1)
    assert init.InitDesc("x").attrs == {}


# --- random initializers -------------------------------------------------------------------------
def test_uniform_and_normal_statistics():
    mxrandom.seed(11)
    a = mx.nd.zeros((300, 400))
    init.Uniform(0.1)(init.InitDesc("w_weight"), a)
    x = a.asnumpy()
    assert x.min() >= -0.1 and x.max() <= 0.1 and x.max() > 0.099 and x.min() < -0.099
    assert abs(x.mean()) < 1e-3 and abs(x.std() - 0.1 / np.sqrt(3)) < 1e-3
    init.Normal(0.5)(init.InitDesc("w_weight"), a)
    x = a.asnumpy()
    assert abs(x.mean()) < 5e-3 and abs(x.std() - 0.5) < 5e-3


@pytest.mark.parametrize("rnd,factor,mag", [("uniform", "avg", 3), ("gaussian", "in", 2.34),
                                            ("uniform", "out", 1.0)])
def test_xavier_statistics(rnd, factor, mag):
    shape = (64, 32, 3, 3)
    fan_in, fan_out = 32 * 9, 64 * 9
    f = {"avg": (fan_in + fan_out) / 2, "in": fan_in, "out": fan_out}[factor]
    scale = np.sqrt(mag / f)
    a = mx.nd.zeros(shape)
    init.Xavier(rnd, factor, mag)(init.InitDesc("conv_weight"), a)
    x = a.asnumpy()
    if rnd == "uniform":
        assert np.abs(x).max() <= scale and np.abs(x).max() > 0.99 * scale
        assert abs(x.std() - scale / np.sqrt(3)) < 0.03 * scale
    else:
        assert abs(x.std() - scale) < 0.03 * scale
    assert abs(x.mean()) < 0.02 * scale


def test_msraprelu_statistics_and_errors():
    a = mx.nd.zeros((256, 128))
    init.MSRAPrelu("in", 0.25)(init.InitDesc("fc_weight"), a)
    want = np.sqrt(2.0 / (1 + 0.25 ** 2) / 128)
    assert abs(a.asnumpy().std() - want) < 0.03 * want
    with pytest.raises(ValueError, match="Xavier initializer cannot be applied to vector "
                                         "fc_weight. It requires at least 2D."):
        init.Xavier()(init.InitDesc("fc_weight"), mx.nd.zeros((5,)))
    with pytest.raises(ValueError, match="Incorrect factor type"):
        init.Xavier(factor_type="sum")(init.InitDesc("fc_weight"), mx.nd.zeros((5, 5)))


@pytest.mark.parametrize("shape,rand_type", [((20, 50), "uniform"), ((50, 20), "normal"),
                                              ((8, 3, 2, 2), "uniform")])
def test_orthogonal(shape, rand_type):
    a = mx.nd.zeros(shape)
    init.Orthogonal(scale=1.5, rand_type=rand_type)(init.InitDesc("w_weight"), a)
    m = a.asnumpy().reshape(shape[0], -1)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, 1.5 ** 2 * np.eye(gram.shape[0]), atol=1e-4)


def test_seeded_draws_repeat():
    def draw(seed):
        mxrandom.seed(seed)
        a = mx.nd.zeros((4, 5))
        init.Xavier()(init.InitDesc("w_weight"), a)
        return a.asnumpy()
    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
    h = mx.nd.zeros((3, 4), dtype="float16")
    init.Normal(1.0)(init.InitDesc("h_weight"), h)
    assert h.dtype == np.float16 and np.any(h.asnumpy() != 0)


# --- the others ----------------------------------------------------------------------------------
def test_constant_zero_one_bilinear_lstmbias():
    a = mx.nd.zeros((2, 3))
    init.Constant(2.5)(init.InitDesc("c_weight"), a)
    assert np.all(a.asnumpy() == 2.5)
    v = mx.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3))
    c = init.Constant(v)
    c(init.InitDesc("c_weight"), a)
    np.testing.assert_array_equal(a.asnumpy(), v.asnumpy())
    assert c.dumps() == '["constant", {"value": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]}]'
    init.create("ones")(init.InitDesc("c_weight"), a)
    assert np.all(a.asnumpy() == 1)
    b = mx.nd.zeros((1, 1, 4, 4))
    init.Bilinear()(init.InitDesc("up_weight"), b)
    k = np.array([0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(b.asnumpy()[0, 0], np.outer(k, k), rtol=1e-7)
    lb = mx.nd.ones((8,))
    init.LSTMBias(2.0)(init.InitDesc("lstm_i2h_bias", {"__init__": init.LSTMBias(2.0).dumps()}),
                       lb)
    np.testing.assert_array_equal(lb.asnumpy(), [0, 0, 2, 2, 0, 0, 0, 0])


def test_load_and_mixed(tmp_path):
    params = {"arg:fc_weight": mx.nd.ones((2, 2)) * 3, "aux:bn_moving_mean": mx.nd.ones((2,))}
    fname = str(tmp_path / "x.params")
    mx.nd.save(fname, params)
    ld = init.Load(fname, default_init=init.Constant(9), verbose=True)
    assert sorted(ld.param) == ["bn_moving_mean", "fc_weight"]
    a = mx.nd.zeros((2, 2))
    ld("fc_weight", a)
    assert np.all(a.asnumpy() == 3)
    with pytest.warns(DeprecationWarning):
        ld("other_weight", a)
    assert np.all(a.asnumpy() == 9)
    with pytest.raises(AssertionError, match="Shape mismatch"):
        ld("fc_weight", mx.nd.zeros((3,)))
    with pytest.raises(AssertionError, match="no default Initializer"):
        init.Load({"a": mx.nd.ones((1,))})("b", mx.nd.zeros((1,)))
    mixed = init.Mixed(["bias", ".*"], [init.Zero(), init.Constant(4)])
    bias, w = mx.nd.ones((3,)), mx.nd.zeros((3,))
    with pytest.warns(DeprecationWarning):
        mixed("bias", bias)          # re.match: the name must start with the pattern
    with pytest.warns(DeprecationWarning):
        mixed("fc_weight", w)
    assert np.all(bias.asnumpy() == 0) and np.all(w.asnumpy() == 4)
    with pytest.raises(ValueError, match="did not match any pattern"):
        init.Mixed(["a"], [init.Zero()])("b", w)


def test_register_alias_and_verbose(caplog):
    @init.register
    @init.alias("myinit_alias")
    class MyInit(init.Initializer):
        def _init_weight(self, _, arr):
            arr[:] = 0.5

    assert type(init.create("myinit")) is MyInit and type(init.create("MYINIT_ALIAS")) is MyInit
    a = mx.nd.zeros((2, 2))
    with caplog.at_level(logging.INFO):
        MyInit().set_verbosity(True)(init.InitDesc("x_weight"), a)
    assert np.all(a.asnumpy() == 0.5)
    assert any(r.getMessage() == "Initialized x_weight as weight: 0.5" for r in caplog.records)
    assert init.Uniform(0.1) == init.Uniform(0.1) and init.Uniform(0.1) != init.Uniform(0.2)
