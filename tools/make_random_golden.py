"""Golden data for MXNet's probability densities (``random_pdf_*``), written by MXNet 1.9.1.

    PY=$(../shared/oracle/setup.sh)      # from the repository root
    $PY tools/make_random_golden.py      # writes tests/data/golden/random.npz

For each case in CASES (a density, ``is_log``, input shapes and ranges, a dtype) the file holds,
under ``<case>/``: the inputs (``sample``, then the distribution's parameters by MXNet's argument
names), ``head`` (a random head gradient), ``output`` (``forward(is_train=True)``) and
``grad:<input>`` for every input after ``backward(head)`` on a ``simple_bind`` executor with
``grad_req='write'``; plus ``cases`` (JSON: name -> op, is_log, argument names, dtype).

``symbol/json`` is MXNet's ``tojson()`` of a Group using every sampler function of
``mx.sym.random`` (numbers and Symbols as parameters, ``*_like``, ``randint``, ``multinomial``,
``shuffle``), the deprecated ``mx.sym.uniform`` / ``normal`` aliases and a density;
``symbol/expect`` (JSON) what MXNet reports for it: ``list_outputs``, ``list_arguments``, and
``infer_shape`` / ``infer_type`` for the input shapes and dtypes stored with them.
Samplers draw from MXNet's own generator, which mxc does not reproduce, so only densities are
recorded; the samplers are tested statistically (tests/test_random.py).

Run it twice: the bytes are the same (fixed seeds; the zip entries carry no timestamps).
"""
from __future__ import annotations

import io
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "golden", "random.npz")

# name: (density, {input: (shape, kind, low, high)}, dtype); kind "u" uniform floats, "i"
# integers in [low, high), "d" rows of a Dirichlet(1, ..., 1) sample (probability vectors)
CASES = {
    "uniform": ("uniform", {"sample": ((2, 3, 4), "u", -1.0, 2.0), "low": ((2, 3), "u", -1.0, 0.0),
                            "high": ((2, 3), "u", 1.0, 2.0)}, "float32"),
    "normal": ("normal", {"sample": ((2, 5), "u", -3.0, 3.0), "mu": ((2,), "u", -1.0, 1.0),
                          "sigma": ((2,), "u", 0.5, 2.0)}, "float32"),
    "normal_f64": ("normal", {"sample": ((3, 2, 2), "u", -3.0, 3.0),
                              "mu": ((3, 2), "u", -1.0, 1.0),
                              "sigma": ((3, 2), "u", 0.5, 2.0)}, "float64"),
    "gamma": ("gamma", {"sample": ((3, 4), "u", 0.2, 3.0), "alpha": ((3,), "u", 0.5, 3.0),
                        "beta": ((3,), "u", 0.5, 2.0)}, "float32"),
    "exponential": ("exponential", {"sample": ((3, 4), "u", 0.1, 3.0),
                                    "lam": ((3,), "u", 0.5, 3.0)}, "float32"),
    "poisson": ("poisson", {"sample": ((3, 4), "i", 0, 8), "lam": ((3,), "u", 0.5, 5.0)},
                "float32"),
    "negative_binomial": ("negative_binomial", {"sample": ((3, 4), "i", 0, 8),
                                                "k": ((3,), "u", 1.0, 5.0),
                                                "p": ((3,), "u", 0.2, 0.8)}, "float32"),
    "generalized_negative_binomial": ("generalized_negative_binomial",
                                      {"sample": ((3, 4), "i", 0, 8),
                                       "mu": ((3,), "u", 1.0, 5.0),
                                       "alpha": ((3,), "u", 0.2, 0.8)}, "float32"),
    "dirichlet": ("dirichlet", {"sample": ((2, 4, 3), "d", 0, 0),
                                "alpha": ((2, 3), "u", 0.5, 3.0)}, "float32"),
    "dirichlet_1d": ("dirichlet", {"sample": ((3,), "d", 0, 0), "alpha": ((3,), "u", 0.5, 3.0)},
                     "float32"),
}


def _inputs(rng, spec, dtype):
    out = {}
    for name, (shape, kind, lo, hi) in spec.items():
        if kind == "u":
            x = rng.uniform(lo, hi, shape)
        elif kind == "i":
            x = rng.integers(lo, hi, shape).astype(np.float64)
        else:
            x = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
        out[name] = x.astype(dtype)
    return out


def symbol_case(mx, out):
    r = mx.sym.random
    x, lo, hi, p = (mx.sym.var(n) for n in ("x", "lo", "hi", "p"))
    a, b = mx.sym.var("a"), mx.sym.var("b")
    outs = [x + r.normal(loc=1, scale=2, shape=(3, 4), name="noise"),
            r.uniform(low=lo, high=hi, shape=(2,), name="su"),
            r.uniform(-1, 1, shape=(2, 2), dtype="float64"),
            r.poisson(lam=4, shape=(5,)), r.exponential(2, shape=(2,)),
            r.gamma(a, b, shape=(4,)), r.gamma(2.0, 3.0, shape=(3,)),
            r.negative_binomial(k=3, p=0.4, shape=(2,)),
            r.generalized_negative_binomial(mu=2, alpha=0.5, shape=(2,)),
            r.randint(0, 5, shape=(2,)), r.randint(-3, 3, shape=(3,), dtype="int64"),
            r.randn(2, 3), r.multinomial(p, shape=(3,)), r.shuffle(x),
            r.uniform_like(x, low=2, high=3), r.normal_like(x), r.exponential_like(x, lam=2),
            r.gamma_like(x, alpha=2), r.poisson_like(x), r.negative_binomial_like(x, k=2, p=0.5),
            r.generalized_negative_binomial_like(x), mx.sym.uniform(shape=(2,)),
            mx.sym.normal(shape=(3,)), mx.sym.sample_normal(lo, hi),
            mx.sym.random_pdf_normal(x, mx.sym.var("m"), mx.sym.var("sd"), is_log=True)]
    g = mx.sym.Group(outs)
    shapes = {"x": (3, 4), "lo": (3,), "hi": (3,), "p": (2, 4), "a": (2,), "b": (2,),
              "m": (3,), "sd": (3,)}
    types = {"x": "float32", "lo": "float32", "hi": "float32", "p": "float32", "a": "float64",
             "b": "float64", "m": "float32", "sd": "float32"}
    ashape, oshape, _ = g.infer_shape(**shapes)
    atype, otype, _ = g.infer_type(**types)
    expect = {"list_outputs": g.list_outputs(), "list_arguments": g.list_arguments(),
              "shapes": shapes, "types": types,
              "arg_shapes": [list(s) for s in ashape], "out_shapes": [list(s) for s in oshape],
              "arg_types": [np.dtype(t).name for t in atype],
              "out_types": [np.dtype(t).name for t in otype]}
    out["symbol/json"] = np.array(g.tojson())
    out["symbol/expect"] = np.array(json.dumps(expect, sort_keys=True))


def main():
    import mxnet as mx
    assert mx.__version__ == "1.9.1", mx.__version__
    rng = np.random.default_rng(20240601)
    out: dict = {}
    meta = {}
    for case, (dist, spec, dtype) in CASES.items():
        for is_log in (False, True):
            name = f"{case}{'_log' if is_log else ''}"
            xs = _inputs(rng, spec, dtype)
            args = list(spec)
            sym = getattr(mx.sym, f"random_pdf_{dist}")(
                *[mx.sym.var(a) for a in args], is_log=is_log, name="pdf")
            ex = sym.simple_bind(mx.cpu(), grad_req="write",
                                 type_dict={a: dtype for a in args},
                                 **{a: xs[a].shape for a in args})
            for a in args:
                ex.arg_dict[a][:] = xs[a]
            y = ex.forward(is_train=True)[0].asnumpy()
            head = rng.standard_normal(y.shape).astype(dtype)
            ex.backward(mx.nd.array(head, dtype=dtype))
            for a in args:
                out[f"{name}/{a}"] = xs[a]
                out[f"{name}/grad:{a}"] = ex.grad_dict[a].asnumpy()
            out[f"{name}/head"] = head
            out[f"{name}/output"] = y
            meta[name] = {"op": f"random_pdf_{dist}", "is_log": is_log, "args": args,
                          "dtype": dtype}
            assert np.all(np.isfinite(y)), name
    out["cases"] = np.array(json.dumps(meta, sort_keys=True))
    symbol_case(mx, out)
    buf = io.BytesIO()
    np.savez_compressed(buf, **out)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "wb") as f:
        f.write(buf.getvalue())
    print("wrote", os.path.relpath(OUT), len(meta), "cases,", len(buf.getvalue()), "bytes")


if __name__ == "__main__":
    main()
