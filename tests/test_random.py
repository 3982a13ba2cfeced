"""Random number generation: MXNet's samplers and densities on the counter-based generator.

Checked the way MXNet's tests/python/unittest/test_random.py checks its samplers: the sample
mean and variance against the distribution's, and Pearson's chi-square goodness of fit over
equal-probability buckets (continuous) or values (discrete), with a scipy-free helper here (the
p-value is the regularized upper incomplete gamma function, from torch). Then what a
counter-based generator promises: the same seed gives the same arrays, on the LLVM and the Triton
backend, with one thread or two, fused or not; different seeds and successive calls differ.
Densities (``random_pdf_*``) and their gradients are compared with MXNet 1.9.1's numbers
(tests/data/golden/random.npz, from tools/make_random_golden.py) and with closed forms.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxc as mx
from mxc.base import AttrError, MXNetError, ShapeError
from mxc.compile import compile_graph, default_passes
from mxc.ir.core import Builder
from mxc.ir.interp import interp
from mxc.ir.opdefs import random as R
from mxc.ir.types import DType, TensorType

GOLDEN = os.path.join(os.path.dirname(__file__), "data", "golden", "random.npz")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# -------------------------------------------------------------------------------------------------
# statistics helpers (scipy-free)
# -------------------------------------------------------------------------------------------------
def chi2_sf(stat: float, dof: int) -> float:
    """P(X > stat) for X ~ chi-square(dof): Q(dof/2, stat/2)."""
    return float(torch.special.gammaincc(torch.tensor(dof / 2.0, dtype=torch.float64),
                                         torch.tensor(stat / 2.0, dtype=torch.float64)))


def buckets_from_cdf(cdf, lo, hi, nbuckets):
    """Edges of ``nbuckets`` equal-probability buckets of a continuous distribution, found by
    bisection on its CDF over ``[lo, hi]`` (MXNet's gen_buckets_probs_with_ppf, without a ppf)."""
    edges = [-math.inf]
    for i in range(1, nbuckets):
        q = i / nbuckets
        a, b = lo, hi
        for _ in range(100):
            m = 0.5 * (a + b)
            if cdf(m) < q:
                a = m
            else:
                b = m
        edges.append(0.5 * (a + b))
    edges.append(math.inf)
    return np.array(edges), np.full(nbuckets, 1.0 / nbuckets)


def chi_square_continuous(samples, edges, probs):
    counts = np.histogram(samples, bins=edges)[0]
    expected = probs * samples.size
    stat = float(np.sum((counts - expected) ** 2 / expected))
    return chi2_sf(stat, len(probs) - 1)


def chi_square_discrete(samples, pmf, kmax=200):
    """Values with an expected count of at least 5 each, the rest lumped into the end ones."""
    n = samples.size
    ks = np.arange(kmax)
    p = np.array([pmf(int(k)) for k in ks])
    keep = p * n >= 5
    lo_k, hi_k = ks[keep].min(), ks[keep].max()
    vals = np.arange(lo_k, hi_k + 1)
    probs = p[lo_k:hi_k + 1].copy()
    probs[0] += p[:lo_k].sum()
    probs[-1] = 1.0 - probs[:-1].sum()
    clipped = np.clip(samples.astype(np.int64), lo_k, hi_k)
    counts = np.bincount(clipped - lo_k, minlength=vals.size)
    expected = probs * n
    stat = float(np.sum((counts - expected) ** 2 / expected))
    return chi2_sf(stat, vals.size - 1)


def check_moments(x, mean, var, what, z=6.0, var_rtol=0.05):
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    m, v = x.mean(), x.var(ddof=1)
    assert abs(m - mean) < z * math.sqrt(var / n) + 1e-12, f"{what}: mean {m} vs {mean}"
    assert abs(v - var) < var_rtol * var, f"{what}: variance {v} vs {var}"
    return m, v


def _nb_pmf(k, kk, p):
    return math.exp(math.lgamma(k + kk) - math.lgamma(k + 1) - math.lgamma(kk) +
                    kk * math.log(p) + k * math.log(1 - p))


def _poisson_pmf(k, lam):
    return math.exp(k * math.log(lam) - lam - math.lgamma(k + 1))


def _gamma_cdf(a, scale):
    return lambda x: 0.0 if x <= 0 else float(torch.special.gammainc(
        torch.tensor(a, dtype=torch.float64), torch.tensor(x / scale, dtype=torch.float64)))


# name: (function, kwargs, mean, variance, cdf, bisection range)
CONTINUOUS = {
    "uniform": (mx.nd.random.uniform, {"low": -1.5, "high": 2.5}, 0.5, 16 / 12,
                lambda x: min(max((x + 1.5) / 4.0, 0.0), 1.0), (-1.5, 2.5)),
    "normal": (mx.nd.random.normal, {"loc": 1.0, "scale": 2.0}, 1.0, 4.0,
               lambda x: 0.5 * (1 + math.erf((x - 1.0) / (2.0 * math.sqrt(2)))), (-20, 20)),
    "exponential": (mx.nd.random.exponential, {"scale": 2.0}, 2.0, 4.0,
                    lambda x: 0.0 if x < 0 else 1 - math.exp(-x / 2.0), (0, 60)),
    "gamma": (mx.nd.random.gamma, {"alpha": 2.5, "beta": 0.5}, 1.25, 0.625,
              _gamma_cdf(2.5, 0.5), (0, 30)),
    "gamma_small_alpha": (mx.nd.random.gamma, {"alpha": 0.5, "beta": 2.0}, 1.0, 2.0,
                          _gamma_cdf(0.5, 2.0), (0, 80)),
}
# name: (function, kwargs, mean, variance, pmf)
DISCRETE = {
    "poisson": (mx.nd.random.poisson, {"lam": 4.0}, 4.0, 4.0, lambda k: _poisson_pmf(k, 4.0)),
    "poisson_large": (mx.nd.random.poisson, {"lam": 30.0}, 30.0, 30.0,
                      lambda k: _poisson_pmf(k, 30.0)),
    # MXNet's sampler: Poisson(Gamma(k, (1 - p) / p)): failures before the k-th success,
    # success probability p
    "negative_binomial": (mx.nd.random.negative_binomial, {"k": 3, "p": 0.4}, 3 * 0.6 / 0.4,
                          3 * 0.6 / 0.16, lambda k: _nb_pmf(k, 3, 0.4)),
    "generalized_negative_binomial": (mx.nd.random.generalized_negative_binomial,
                                      {"mu": 2.0, "alpha": 0.5}, 2.0, 2.0 + 0.5 * 4.0,
                                      lambda k: _nb_pmf(k, 2.0, 1.0 / (1 + 2.0 * 0.5))),
    "randint": (mx.nd.random.randint, {"low": -3, "high": 7}, 1.5, (10 ** 2 - 1) / 12,
                lambda k: 0.1 if -3 <= k < 7 else 0.0),
}
N_SAMPLES = 200_000
RESULTS = {}          # name -> (mean, var, p-values), printed by test_report_statistics


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_continuous_moments_and_chi_square(name):
    fn, kw, mean, var, cdf, (lo, hi) = CONTINUOUS[name]
    mx.random.seed(1234)
    edges, probs = buckets_from_cdf(cdf, lo, hi, 20)
    ps = []
    for rep in range(3):
        x = fn(shape=(N_SAMPLES,), **kw).asnumpy()
        assert x.dtype == np.float32
        if rep == 0:
            m, v = check_moments(x, mean, var, name)
        ps.append(chi_square_continuous(x.astype(np.float64), edges, probs))
    RESULTS[name] = (m, v, ps)
    assert min(ps) > 1e-3, f"{name}: chi-square p-values {ps}"


@pytest.mark.parametrize("name", list(DISCRETE))
def test_discrete_moments_and_chi_square(name):
    fn, kw, mean, var, pmf = DISCRETE[name]
    mx.random.seed(4321)
    shift = 3 if name == "randint" else 0
    ps = []
    for rep in range(3):
        x = fn(shape=(N_SAMPLES,), **kw).asnumpy()
        assert np.all(x == np.round(x))
        if rep == 0:
            m, v = check_moments(x, mean, var, name)
        ps.append(chi_square_discrete(x.astype(np.int64) + shift, lambda k: pmf(k - shift)))
    RESULTS[name] = (m, v, ps)
    assert min(ps) > 1e-3, f"{name}: chi-square p-values {ps}"


def test_multinomial_frequencies():
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.0, 0.25, 0.25]], np.float32)
    mx.random.seed(99)
    idx = mx.nd.random.multinomial(mx.nd.array(probs), shape=(50_000,)).asnumpy()
    assert idx.shape == (2, 50_000) and idx.dtype == np.int32
    ps = []
    for row, p in zip(idx, probs):
        counts = np.bincount(row, minlength=4)
        assert counts[p == 0].sum() == 0            # impossible outcomes are never drawn
        nz = p > 0
        exp = p[nz] * row.size
        stat = float(np.sum((counts[nz] - exp) ** 2 / exp))
        ps.append(chi2_sf(stat, int(nz.sum()) - 1))
    RESULTS["multinomial"] = (None, None, ps)
    assert min(ps) > 1e-3, ps


def test_per_row_samplers_and_like():
    """_sample_* draw ``shape`` samples per parameter element (output: the parameters' shape +
    shape); *_like draw with the shape and dtype of their input."""
    mx.random.seed(7)
    x = mx.nd.random.normal(mx.nd.array([0.0, 5.0]), mx.nd.array([1.0, 3.0]),
                            shape=(60_000,)).asnumpy()
    assert x.shape == (2, 60_000)
    for row, (m, s) in zip(x, [(0, 1), (5, 3)]):
        check_moments(row, m, s * s, f"sample_normal({m}, {s})")
    lo, hi = mx.nd.array([[0.0], [10.0]]), mx.nd.array([[1.0], [14.0]])
    u = mx.nd.random.uniform(lo, hi, shape=(2, 5)).asnumpy()
    assert u.shape == (2, 1, 2, 5)
    assert (u[0] >= 0).all() and (u[0] < 1).all() and (u[1] >= 10).all() and (u[1] < 14).all()
    g = mx.nd.random.gamma(mx.nd.array([0.5, 4.0]), mx.nd.array([2.0, 0.25]),
                           shape=(40_000,)).asnumpy()
    for row, (al, be) in zip(g, [(0.5, 2.0), (4.0, 0.25)]):
        check_moments(row, al * be, al * be * be, f"sample_gamma({al}, {be})", var_rtol=0.08)
    p = mx.nd.random.poisson(mx.nd.array([1.0, 20.0]), shape=(40_000,)).asnumpy()
    for row, la in zip(p, [1.0, 20.0]):
        check_moments(row, la, la, f"sample_poisson({la})")
    e = mx.nd.random.exponential(mx.nd.array([0.5]), shape=(40_000,)).asnumpy()  # scale 0.5
    check_moments(e, 0.5, 0.25, "sample_exponential", var_rtol=0.08)
    ul = mx.nd.random.uniform_like(mx.nd.zeros((300, 200), dtype="float64"), low=2, high=3)
    assert ul.shape == (300, 200) and ul.dtype == np.float64
    check_moments(ul.asnumpy(), 2.5, 1 / 12, "uniform_like")
    nl = mx.nd.random.normal_like(mx.nd.zeros((300, 200)), loc=-1, scale=0.5).asnumpy()
    check_moments(nl, -1, 0.25, "normal_like")
    pl = mx.nd.random.poisson_like(mx.nd.zeros((100, 200)), lam=3).asnumpy()
    check_moments(pl, 3, 3, "poisson_like")


def test_dtypes_and_ranges():
    mx.random.seed(3)
    u64 = mx.nd.random.uniform(-2, 3, shape=(20_000,), dtype="float64").asnumpy()
    assert u64.dtype == np.float64 and u64.min() >= -2 and u64.max() < 3
    assert np.unique(u64).size == u64.size             # 53-bit resolution: no repeats
    u16 = mx.nd.random.uniform(shape=(1000,), dtype="float16").asnumpy()
    assert u16.dtype == np.float16 and u16.min() >= 0 and u16.max() <= 1
    u32 = mx.nd.random.uniform(shape=(100_000,)).asnumpy()
    assert u32.min() >= 0 and u32.max() < 1
    np.testing.assert_array_equal(u32 * 2 ** 24, np.round(u32 * 2 ** 24))   # k * 2^-24
    r = mx.nd.random.randint(-5, 5, shape=(10_000,), dtype="int64").asnumpy()
    assert r.dtype == np.int64 and r.min() == -5 and r.max() == 4
    assert mx.nd.random.randint(0, 10).shape == (1,)             # MXNet: shape defaults to 1
    assert mx.nd.random.uniform().shape == (1,)
    assert mx.nd.random.normal(shape=(4,), dtype="float64").dtype == np.float64


# -------------------------------------------------------------------------------------------------
# reproducibility
# -------------------------------------------------------------------------------------------------
def _draw_all():
    return [mx.nd.random.uniform(-1, 1, shape=(5, 7)).asnumpy(),
            mx.nd.random.normal(shape=(33,)).asnumpy(),
            mx.nd.random.randint(0, 100, shape=(9,)).asnumpy(),
            mx.nd.random.gamma(2, 1, shape=(8,)).asnumpy(),
            mx.nd.random.poisson(3, shape=(8,)).asnumpy(),
            mx.nd.random.multinomial(mx.nd.array([0.3, 0.7]), shape=(16,)).asnumpy(),
            mx.nd.random.shuffle(mx.nd.arange(20)).asnumpy()]


def test_same_seed_same_arrays_different_seed_different():
    mx.random.seed(2024)
    a = _draw_all()
    b = _draw_all()                                  # the generator advanced
    mx.random.seed(2024)
    c = _draw_all()
    mx.random.seed(2025)
    d = _draw_all()
    for x, y, z, w in zip(a, b, c, d):
        np.testing.assert_array_equal(x, z)
        assert not np.array_equal(x, y)
        assert not np.array_equal(x, w)


def test_seed_is_taken_as_a_c_int_and_per_context():
    mx.random.seed(5)
    a = mx.nd.random.uniform(shape=(6,)).asnumpy()
    mx.random.seed(5 + 2 ** 32)                      # MXNet: ctypes.c_int(seed_state)
    np.testing.assert_array_equal(a, mx.nd.random.uniform(shape=(6,)).asnumpy())
    mx.random.seed(5, ctx=mx.cpu())
    np.testing.assert_array_equal(a, mx.nd.random.uniform(shape=(6,)).asnumpy())
    for bad in (1.5, "7", None, True):
        with pytest.raises(ValueError, match="seed_state must be int"):
            mx.random.seed(bad)
        with pytest.raises(MXNetError):
            mx.random.seed(bad)


def test_philox_known_answers():
    """Random123's known-answer vectors for Philox4x32-10."""
    assert [int(w) for w in R.philox4x32(0, 0, 0, 0, 0, 0)] == \
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    assert [int(w) for w in R.philox4x32(*[0xFFFFFFFF] * 6)] == \
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    assert [int(w) for w in R.philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344,
                                         0xa4093822, 0x299f31d0)] == \
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]


def _graph(ops):
    """A graph of ``ops`` ([(opname, attrs)]) returning every output."""
    b = Builder("rand")
    outs = []
    for name, attrs in ops:
        r = b.op(name, [], attrs)
        outs += list(r) if isinstance(r, tuple) else [r]
    return b.build(outs)


def _run(g, target, seed=11, passes=None):
    c = compile_graph(g, target, passes=passes)
    R.set_seed(seed)
    return c()


EXACT = [("_random_uniform", {"shape": (7, 9)}),
         ("_random_uniform", {"shape": (5,), "low": -3.25, "high": 0.1, "dtype": "float64"}),
         ("_random_uniform", {"shape": (4, 3), "low": 2, "high": 9.5, "dtype": "float16"}),
         ("_random_randint", {"low": -7, "high": 1000, "shape": (3, 5)}),
         ("_random_randint", {"low": 0, "high": 3, "shape": (6,), "dtype": "int64"}),
         ("_random_gamma", {"alpha": 0.7, "beta": 2.0, "shape": (9,)}),
         ("_random_poisson", {"lam": 15.0, "shape": (9,)}),
         ("_random_negative_binomial", {"k": 4, "p": 0.3, "shape": (9,)})]
CLOSE = [("_random_normal", {"shape": (4, 4), "loc": 3, "scale": 0.5}),
         ("_random_normal", {"shape": (6,), "dtype": "float64"}),
         ("_random_exponential", {"shape": (8,), "lam": 3.0})]


def test_llvm_triton_and_interp_agree():
    """Uniform and integer draws (and the extern samplers) are bit-identical on LLVM, Triton
    and the numpy reference; the transcendental ones (normal, exponential) agree to ulps."""
    g = _graph(EXACT + CLOSE)
    R.set_seed(11)
    ref = interp(g, [])
    outs = {t: _run(g, t) for t in ("llvm", "triton")}
    for i, (name, attrs) in enumerate(EXACT + CLOSE):
        for t, got in outs.items():
            if i < len(EXACT):
                np.testing.assert_array_equal(got[i], ref[i], err_msg=f"{name} {attrs} {t}")
            else:
                np.testing.assert_allclose(got[i], ref[i], rtol=2e-6, atol=2e-6,
                                           err_msg=f"{name} {attrs} {t}")


def test_fusion_does_not_change_draws():
    b = Builder("fused")
    x = b.input("x", TensorType((6, 8), DType.f32))
    u = b.op("_random_uniform", [], {"shape": (6, 8)})
    n = b.op("_random_normal", [], {"shape": (8,)})
    r = b.op("_random_randint", [], {"low": 0, "high": 50, "shape": (6, 8)})
    y = b.add(b.mul(x, u), n)
    s = b.sum(b.mul(y, b.cast(r, "float32")), axis=1)
    g = b.build([y, s, u])
    xv = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    fused = compile_graph(g, "llvm")
    plain = compile_graph(g, "llvm", passes=default_passes(fuse=False))
    assert len(fused.kernels) < len(plain.kernels)
    R.set_seed(5)
    a = fused(xv)
    R.set_seed(5)
    b2 = plain(xv)
    np.testing.assert_array_equal(a[2], b2[2])
    np.testing.assert_allclose(a[0], b2[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a[1], b2[1], rtol=1e-5, atol=1e-4)


_THREAD_SCRIPT = r"""
import hashlib, mxc as mx
mx.random.seed(77)
h = hashlib.sha256()
for a in (mx.nd.random.uniform(shape=(300, 700)), mx.nd.random.normal(shape=(300, 700)),
          mx.nd.random.randint(0, 1000, shape=(300, 700))):
    h.update(a.asnumpy().tobytes())
print(h.hexdigest())
"""


def test_same_numbers_with_one_or_two_threads():
    digests = []
    for n in ("1", "2"):
        env = dict(os.environ, MXC_NUM_THREADS=n, MXC_MIN_PARALLEL_WORK="1024")
        r = subprocess.run([sys.executable, "-c", _THREAD_SCRIPT], env=env, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        digests.append(r.stdout.strip().splitlines()[-1])
    assert digests[0] == digests[1]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1),
       shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
       dist=st.sampled_from(["uniform", "normal", "randint", "poisson"]))
def test_reproducible_for_any_seed_and_shape(seed, shape, dist):
    fns = {"uniform": lambda: mx.nd.random.uniform(-1, 2, shape=shape),
           "normal": lambda: mx.nd.random.normal(shape=shape),
           "randint": lambda: mx.nd.random.randint(-10, 10 ** 6, shape=shape),
           "poisson": lambda: mx.nd.random.poisson(25.0, shape=shape)}
    mx.random.seed(seed)
    a = fns[dist]().asnumpy()
    b = fns[dist]().asnumpy()
    mx.random.seed(seed)
    np.testing.assert_array_equal(a, fns[dist]().asnumpy())
    assert a.shape == shape
    if dist == "uniform":
        assert (a >= -1).all() and (a < 2).all()
    if dist != "poisson" and a.size >= 2:
        assert not np.array_equal(a, b)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 63 - 1),
       shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple),
       dtype=st.sampled_from(["float16", "float32", "float64"]),
       bounds=st.tuples(st.floats(-100, 100), st.floats(0, 50)))
def test_compiled_uniform_bits_equal_reference(seed, shape, dtype, bounds):
    lo, width = bounds
    g = _graph([("_random_uniform", {"shape": shape, "low": lo, "high": lo + width,
                                      "dtype": dtype})])
    R.set_seed(seed)
    ref = interp(g, [])[0]
    np.testing.assert_array_equal(_run(g, "llvm", seed)[0], ref)


# -------------------------------------------------------------------------------------------------
# graphs: CSE, generated kernels vs extern steps, JSON, executors, backends, gradients
# -------------------------------------------------------------------------------------------------
def _steps(sym, **shapes):
    shapes = {k: v for k, v in shapes.items() if k in sym.list_inputs()}
    prog = str(mx.compile(sym, shapes=shapes).program)
    return [line.split("=", 1)[1].split("(")[0].strip() for line in prog.splitlines()
            if " = " in line]


def test_identical_random_ops_are_different_draws():
    """Two random ops with the same attributes are two draws: CSE must not merge them (and
    nothing may evaluate them at compile time)."""
    c = mx.compile(mx.sym.Group([mx.sym.random.uniform(shape=(4, 4)),
                                 mx.sym.random.uniform(shape=(4, 4))]))
    assert sum(s == "extern random_key" for s in _steps(
        mx.sym.Group([mx.sym.random.uniform(shape=(4, 4)),
                      mx.sym.random.uniform(shape=(4, 4))]))) == 2
    x, y = c()
    assert not np.array_equal(x, y)
    x2, _ = c()                                       # and each run draws anew
    assert not np.array_equal(x, x2)


def test_generated_kernels_and_extern_steps():
    """uniform/normal/exponential/randint (and their *_like and sample_* forms) are generated
    kernels; gamma, poisson, the negative binomials, multinomial and shuffle are extern steps;
    each random op has its key step."""
    r = mx.sym.random
    d = mx.sym.var("d")
    for s in (r.uniform(shape=(3,)), r.normal(shape=(3,)), r.exponential(shape=(3,)),
              r.randint(0, 4, shape=(3,)), r.normal_like(d), r.uniform(d, d, shape=(2,))):
        steps = _steps(s, d=(3,))
        assert steps[0] == "extern random_key", steps
        assert all(x.startswith("kernel") for x in steps[1:]) and len(steps) == 2, steps
    for s, ext in ((r.gamma(shape=(3,)), "random_sample"), (r.poisson(shape=(3,)),
                                                             "random_sample"),
                   (r.negative_binomial(shape=(3,)), "random_sample"),
                   (r.generalized_negative_binomial(shape=(3,)), "random_sample"),
                   (r.gamma_like(d), "random_sample"), (r.multinomial(d, get_prob=False),
                                                        "sample_multinomial"),
                   (r.shuffle(d), "shuffle")):
        steps = _steps(s, d=(3,))
        assert "extern random_key" in steps and f"extern {ext}" in steps, steps


def test_symbol_json_round_trip_and_mxnet_golden():
    d = np.load(GOLDEN)
    js = str(d["symbol/json"])
    exp = json.loads(str(d["symbol/expect"]))
    s = mx.sym.load_json(js)                           # MXNet's JSON loads ...
    assert s.tojson() == js                            # ... and is written back byte for byte
    assert mx.sym.load_json(s.tojson()).tojson() == js
    assert s.list_outputs() == exp["list_outputs"]
    assert s.list_arguments() == exp["list_arguments"]
    ash, osh, _ = s.infer_shape(**exp["shapes"])
    assert [list(x) for x in ash] == exp["arg_shapes"]
    assert [list(x) for x in osh] == exp["out_shapes"]
    aty, oty, _ = s.infer_type(**exp["types"])
    assert [np.dtype(t).name for t in aty] == exp["arg_types"]
    assert [np.dtype(t).name for t in oty] == exp["out_types"]
    ex = s.simple_bind(mx.cpu(), type_dict=exp["types"], **exp["shapes"])
    ex.arg_dict["p"][:] = mx.nd.array([[0.25] * 4] * 2)
    for n in ("a", "b", "sd", "hi"):
        ex.arg_dict[n][:] = 1.0
    mx.random.seed(8)
    outs = [o.asnumpy() for o in ex.forward()]
    mx.random.seed(8)
    again = [o.asnumpy() for o in ex.forward()]
    for o, a, shp in zip(outs, again, exp["out_shapes"]):
        assert list(o.shape) == shp
        np.testing.assert_array_equal(o, a)


def test_symbol_api_names_and_dispatch():
    r = mx.sym.random
    x = mx.sym.var("x")
    assert json.loads(r.uniform(shape=(2, 3)).tojson())["nodes"][0]["attrs"] == \
        {"high": "1", "low": "0", "shape": "(2, 3)"}
    assert json.loads(r.uniform(x, x).tojson())["nodes"][-1]["op"] == "_sample_uniform"
    assert r.normal_like(x).name.startswith("normal_like")
    assert r.multinomial(x).list_outputs()[-1].endswith("_output1")     # get_prob=True here
    assert len(mx.nd.random.multinomial(mx.nd.array([0.5, 0.5]), get_prob=True)) == 2
    assert not hasattr(mx.sym.random, "pdf_normal")     # MXNet: only *_like join the module
    assert hasattr(mx.sym, "random_pdf_normal") and hasattr(mx.sym, "sample_normal")
    with pytest.raises(AssertionError):
        r.uniform(x, 1.0)
    with pytest.raises(AssertionError):
        mx.nd.random.uniform(mx.nd.array([0.0]), 1.0)
    with pytest.raises(ValueError):
        r.uniform("a", "b")


@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_module_forward_backends(monkeypatch, target):
    """A Module on either backend draws the numbers of the reference generator."""
    monkeypatch.setenv("MXC_TARGET", target)
    data = mx.sym.var("data")
    out = data + mx.sym.random.uniform(shape=(4, 5)) + \
        mx.sym.Cast(mx.sym.random.randint(0, 3, shape=(4, 5)), dtype="float32")
    mod = mx.mod.Module(out, data_names=["data"], label_names=None)
    mod.bind(data_shapes=[("data", (4, 5))], for_training=False)
    mod.init_params()
    mx.random.seed(31)
    mod.forward(mx.io.DataBatch([mx.nd.zeros((4, 5))]), is_train=False)
    got = mod.get_outputs()[0].asnumpy()
    R.set_seed(31)
    u = R._np_gen(R.next_key(), (4, 5), "uniform", DType.f32, [], 0.0, 1.0)
    ri = R._np_randint(R.next_key(), (4, 5), 0, 3, DType.i32)
    np.testing.assert_array_equal(got, u + ri.astype(np.float32))


def test_dropout_mask_is_the_same_on_both_backends():
    s = mx.sym.Dropout(mx.sym.var("data"), p=0.3, mode="always")
    x = np.ones((16, 40), np.float32)
    res = []
    for t in ("llvm", "triton"):
        c = mx.compile(s, shapes={"data": x.shape}, target=t)
        mx.random.seed(12)
        res.append(c(x)[0])
    np.testing.assert_array_equal(res[0], res[1])
    assert 0.2 < (res[0] == 0).mean() < 0.4


def test_no_gradient_through_samplers():
    """MXNet: zero gradients for the parameters of _sample_* and the data of *_like."""
    mu, sg, d = mx.sym.var("mu"), mx.sym.var("sigma"), mx.sym.var("d")
    s = mx.sym.Group([mx.sym.random.normal(mu, sg, shape=(3,)), mx.sym.random.uniform_like(d)])
    c = mx.compile(s, shapes={"mu": (2,), "sigma": (2,), "d": (4,)},
                   grad_wrt=["mu", "sigma", "d"])
    res = c(np.zeros(2, np.float32), np.ones(2, np.float32), np.zeros(4, np.float32),
            np.ones((2, 3), np.float32), np.ones(4, np.float32))
    for gr in res[2:]:
        np.testing.assert_array_equal(gr, np.zeros_like(gr))


def test_multinomial_get_prob_gradient():
    """MXNet's _backward_sample_multinomial: d data[i, j] = sum, over the samples of row i
    that drew j, of head / data[i, j]."""
    s = mx.sym.random.multinomial(mx.sym.var("p"), shape=(6,), get_prob=True)
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]], np.float32)
    c = mx.compile(s, shapes={"p": probs.shape}, grad_wrt=["p"])
    head = np.random.default_rng(0).standard_normal((2, 6)).astype(np.float32)
    mx.random.seed(1)
    idx, logp, grad = c(probs, np.zeros((2, 6), np.float32), head)
    np.testing.assert_allclose(logp, np.log(np.take_along_axis(probs, idx, 1)), rtol=1e-6)
    want = np.zeros_like(probs)
    for i in range(2):
        for j, k in enumerate(idx[i]):
            want[i, k] += head[i, j] / probs[i, k]
    np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-6)


def test_shuffle_is_a_uniform_permutation_of_rows():
    x = mx.nd.array(np.arange(15).reshape(5, 3))
    mx.random.seed(0)
    pos = np.zeros((5, 5))
    for _ in range(1500):
        y = mx.nd.random.shuffle(x).asnumpy()
        np.testing.assert_array_equal(np.sort(y[:, 0]), np.arange(0, 15, 3))
        np.testing.assert_array_equal(y[:, 1:] - y[:, :1], np.tile([1, 2], (5, 1)))
        pos[np.arange(5), (y[:, 0] // 3).astype(int)] += 1
    p = chi2_sf(float(((pos - 300) ** 2 / 300).sum()), 16)
    RESULTS["shuffle"] = (None, None, [p])
    assert p > 1e-3


# -------------------------------------------------------------------------------------------------
# bad input
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, words", [
    (lambda: mx.nd.random.normal(0, 0, shape=3), ["_random_normal", "scale", "positive"]),
    (lambda: mx.nd.random.uniform(2, 1, shape=3), ["_random_uniform", "low must be less"]),
    (lambda: mx.nd.random.gamma(0, 1, shape=3), ["_random_gamma", "alpha"]),
    (lambda: mx.nd.random.poisson(-1, shape=3), ["_random_poisson", "lambda"]),
    (lambda: mx.nd.random.randint(5, 5, shape=3), ["_random_randint", "low=5", "empty"]),
    (lambda: mx.sym.random.exponential(scale=-1.0, shape=(2,)),
     ["_random_exponential", "lambda"]),
])
def test_bad_parameters_name_the_operator(call, words):
    with pytest.raises(AttrError) as e:
        call()
    for w in words:
        assert w in str(e.value)


def test_bad_shapes_and_dtypes():
    with pytest.raises(ShapeError):
        mx.nd.random.normal(mx.nd.zeros((2,)), mx.nd.ones((3,)))
    with pytest.raises(ShapeError, match="shape"):
        mx.nd.random.randn()
    with pytest.raises(AttrError, match="dtype"):
        mx.nd.random.uniform(shape=(2,), dtype="int32")
    with pytest.raises(AttrError, match="non-zero"):
        mx.sym.random.uniform(mx.sym.var("a"), mx.sym.var("b"), shape=(0, 2))
    with pytest.raises(MXNetError, match="dtype"):
        mx.nd.random.uniform_like(mx.nd.zeros((2,), dtype="int32"))
    with pytest.raises(ShapeError, match="leading dims"):
        mx.nd.random_pdf_normal(mx.nd.zeros((2, 3)), mx.nd.zeros((3,)), mx.nd.ones((3,)))


# -------------------------------------------------------------------------------------------------
# densities
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["llvm", "triton"])
def test_pdf_values_and_gradients_match_mxnet(target):
    d = np.load(GOLDEN)
    for name, m in json.loads(str(d["cases"])).items():
        args = m["args"]
        sym = getattr(mx.sym, m["op"])(*[mx.sym.var(a) for a in args], is_log=m["is_log"])
        xs = [d[f"{name}/{a}"] for a in args]
        c = mx.compile(sym, shapes={a: x.shape for a, x in zip(args, xs)},
                       dtypes={a: m["dtype"] for a in args}, grad_wrt=args, target=target)
        res = c(*xs, d[f"{name}/head"])
        np.testing.assert_allclose(res[0], d[f"{name}/output"], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{name} output")
        for a, gr in zip(args, res[1:]):
            np.testing.assert_allclose(gr, d[f"{name}/grad:{a}"], rtol=2e-4, atol=1e-5,
                                       err_msg=f"{name} grad {a}")


def _lpdf_closed_form(dist, x, p):
    lg = np.vectorize(math.lgamma)
    if dist == "normal":
        mu, s = p
        return -((x - mu) ** 2) / (2 * s * s) - np.log(s * math.sqrt(2 * math.pi))
    if dist == "gamma":                     # beta is a rate in MXNet's density
        a, b = p
        return a * np.log(b) + (a - 1) * np.log(x) - b * x - lg(a)
    if dist == "exponential":
        return np.log(p[0]) - p[0] * x
    if dist == "poisson":
        return x * np.log(p[0]) - p[0] - lg(x + 1)
    if dist == "negative_binomial":
        k, q = p
        return lg(x + k) - lg(x + 1) - lg(k) + k * np.log(q) + x * np.log(1 - q)
    return np.broadcast_to(-np.log(p[1] - p[0]), x.shape)        # uniform


@pytest.mark.parametrize("dist", ["normal", "gamma", "exponential", "poisson",
                                  "negative_binomial", "uniform"])
def test_pdf_closed_forms_and_total_mass(dist):
    rng = np.random.default_rng(3)
    params = {"normal": [rng.uniform(-1, 1, 2), rng.uniform(0.5, 2, 2)],
              "gamma": [rng.uniform(1, 3, 2), rng.uniform(0.5, 2, 2)],
              "exponential": [rng.uniform(0.5, 3, 2)], "poisson": [rng.uniform(0.5, 6, 2)],
              "negative_binomial": [rng.uniform(1, 4, 2), rng.uniform(0.3, 0.8, 2)],
              "uniform": [rng.uniform(-1, 0, 2), rng.uniform(1, 2, 2)]}[dist]
    discrete = dist in ("poisson", "negative_binomial")
    if discrete:
        grid = np.arange(0, 400, dtype=np.float64)
    elif dist in ("normal", "uniform"):
        grid = np.linspace(-8, 12, 40001)
    else:
        grid = np.linspace(1e-6, 60, 60001)
    x = np.stack([grid, grid])
    fn = getattr(mx.nd, f"random_pdf_{dist}")
    nd_p = [mx.nd.array(p, dtype="float64") for p in params]
    lp = fn(mx.nd.array(x, dtype="float64"), *nd_p, is_log=True).asnumpy()
    pdf = fn(mx.nd.array(x, dtype="float64"), *nd_p).asnumpy()
    want = _lpdf_closed_form(dist, x, [p[:, None] for p in params])
    np.testing.assert_allclose(lp, want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(pdf, np.exp(want), rtol=1e-9, atol=1e-12)
    if dist != "uniform":
        mass = pdf.sum(1) if discrete else np.trapezoid(pdf, grid, axis=1)
        np.testing.assert_allclose(mass, 1.0, rtol=1e-4)


def test_pdf_dirichlet_closed_form():
    rng = np.random.default_rng(4)
    alpha = rng.uniform(0.5, 3, (2, 3))
    x = rng.dirichlet([1, 1, 1], size=(2, 5))
    lp = mx.nd.random_pdf_dirichlet(mx.nd.array(x, dtype="float64"),
                                    mx.nd.array(alpha, dtype="float64"), is_log=True).asnumpy()
    assert lp.shape == (2, 5)
    want = np.array([[sum((alpha[i, j] - 1) * math.log(x[i, s, j]) for j in range(3)) +
                      math.lgamma(alpha[i].sum()) - sum(math.lgamma(a) for a in alpha[i])
                      for s in range(5)] for i in range(2)])
    np.testing.assert_allclose(lp, want, rtol=1e-10)
    assert mx.nd.random_pdf_dirichlet(mx.nd.array([0.2, 0.3, 0.5]),
                                      mx.nd.array([1.0, 2.0, 3.0])).shape == (1,)


def test_report_statistics():
    """Not a check: prints the moments and chi-square p-values found above (pytest -s)."""
    for name, (m, v, ps) in sorted(RESULTS.items()):
        ms = "" if m is None else f"mean {m:.4f} var {v:.4f} "
        print(f"{name:32s} {ms}p {', '.join(f'{p:.3f}' for p in ps)}")


@pytest.mark.slow
def test_philox_kernels_compile_for_sm90():
    """The generated Triton source (64-bit integer Philox rounds) builds for an H100/H200."""
    from mxc.codegen import triton as tr
    g = _graph([("_random_uniform", {"shape": (4, 5)}), ("_random_normal", {"shape": (3,)}),
                ("_random_randint", {"low": 0, "high": 9, "shape": (6,)})])
    c = compile_graph(g, "triton")
    res = tr.compile_cubin(c.kernels, c.sources["triton"])
    assert set(res) == {k.name for k in c.kernels}
    assert all(r["cubin_bytes"] > 0 for r in res.values())


@pytest.mark.gpu
def test_gpu_draws_equal_cpu_draws():
    """Same seed, same numbers on the GPU (Triton) as on the CPU (LLVM)."""
    out = {}
    for ctx in (mx.cpu(), mx.gpu(0)):
        mx.random.seed(17)
        out[str(ctx)] = [mx.nd.random.uniform(-1, 1, shape=(257, 3), ctx=ctx).asnumpy(),
                         mx.nd.random.randint(0, 10 ** 6, shape=(99,), ctx=ctx).asnumpy(),
                         mx.nd.random.gamma(2.0, 1.0, shape=(50,), ctx=ctx).asnumpy(),
                         mx.nd.random.normal(shape=(64,), ctx=ctx).asnumpy()]
    a, b = out.values()
    for x, y in zip(a[:3], b[:3]):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(a[3], b[3], rtol=1e-5, atol=1e-5)
