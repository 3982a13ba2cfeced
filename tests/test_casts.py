"""Narrowing float casts in generated code round exactly as numpy/torch do, including from
float64 (which LLVM cannot narrow to 16 bits in one instruction inside the JIT: it once
crashed the process)."""
import numpy as np
import pytest
import torch

import mxc as mx


def _values():
    rng = np.random.RandomState(0)
    half_grid = np.arange(-2048, 2048, dtype=np.float64) / 1024      # f16 ties at the last bit
    ties = (half_grid[:-1] + half_grid[1:]) / 2
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504, 65520, 65519.99, 1e-8,
                         6e-8, 5.96e-8, 2.98e-8, -1e-300, 1e300, 3.0001, 1 + 2 ** -11,
                         1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -11 - 2 ** -40])
    rand = np.concatenate([rng.randn(2000) * 10 ** rng.uniform(-9, 6, 2000),
                           rng.uniform(-1, 1, 500)])
    return np.concatenate([specials, ties, rand])


def test_float64_to_float16_rounds_once_as_numpy():
    """numpy rounds f64 -> f16 exactly (torch goes through f32 and can round twice)."""
    vals = _values()
    x = mx.sym.Variable("x", dtype="float64")
    e = mx.sym.Cast(x, dtype="float16").simple_bind(mx.cpu(), x=vals.shape,
                                                     type_dict={"x": "float64"})
    e.arg_dict["x"][:] = vals
    got = e.forward()[0].asnumpy().astype(np.float64)
    with np.errstate(over="ignore"):
        want = vals.astype(np.float16).astype(np.float64)
    np.testing.assert_array_equal(got, want)


def _nearest_bf16(vals):
    """The bfloat16 nearest each float64 (ties to even), from the candidates around torch's
    (possibly twice-rounded) answer."""
    c = torch.from_numpy(vals).to(torch.bfloat16)
    bits = c.view(torch.int16)
    cands = [(bits + d).view(torch.bfloat16).to(torch.float64).numpy() for d in (-1, 0, 1)]
    err = np.stack([np.abs(k - vals) for k in cands])
    even = np.stack([((bits + d) % 2 == 0).numpy() for d in (-1, 0, 1)])
    err = np.where(np.isnan(err), np.inf, err)
    best = err == err.min(axis=0)
    pick = np.argmax(best * (1 + even), axis=0)     # the nearest; on a tie, the even one
    out = np.choose(pick, cands)
    return np.where(~np.isfinite(vals) | (np.abs(vals) > 3e38), cands[1], out)


def test_float64_to_bfloat16_rounds_once():
    vals = _values()
    vals = vals[np.isfinite(vals) & (np.abs(vals) < 1e30) & (np.abs(vals) > 1e-30)]
    x = mx.sym.Variable("x", dtype="float64")
    y = mx.sym.Cast(mx.sym.Cast(x, dtype="bfloat16"), dtype="float64")
    got = mx.compile(y, shapes={"x": vals.shape}, dtypes={"x": "float64"})(x=vals)[0]
    np.testing.assert_array_equal(got, _nearest_bf16(vals))


def test_bfloat16_arithmetic_in_kernels_is_bfloat16_not_half():
    """bf16 values keep bf16's range (1e30 is finite; IEEE half overflows at 65504) and its
    8-bit precision, computed in f32 registers between a rounded load and a rounded store."""
    x = mx.sym.Variable("x")
    b = mx.sym.Cast(x, dtype="bfloat16")
    y = mx.sym.Cast(b * b + 1, dtype="float32")
    vals = np.array([1e15, 3.0, -2.5, 0.1, 1e-20], np.float32)
    got = mx.compile(y, shapes={"x": vals.shape})(x=vals)[0]
    xb = torch.from_numpy(vals).to(torch.bfloat16).to(torch.float32)
    want = (xb * xb + 1).to(torch.bfloat16).to(torch.float32).numpy()
    np.testing.assert_allclose(got, want, rtol=2 ** -7)
    assert np.isfinite(got).all() and got[0] > 1e29
