"""Record MXNet 1.9.1's optimizer update operators for tests/test_optimizer_ops.py.

The generic tools/make_op_golden.py records outputs only; these operators also *mutate* their
state inputs (MXNet's FMutateInputs), so this records, per case, the inputs, the outputs and
every input array as the call left it. Run with the oracle's Python:

    /root/.cache/mxc-oracle/bin/python tools/make_optimizer_op_golden.py

Writes tests/data/ops/optimizer_ops/<case>.npz with ``in:<i>``, ``out:<i>``, ``after:<i>``
and ``meta`` (JSON: op, attrs, out_weight). ``CASES`` is imported by the test too (it needs no
MXNet).
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "ops", "optimizer_ops")

S = (3, 4)        # weight shape
S2 = (5,)         # a second weight (multi_* ops)


def _w(shape=S, dtype="float32"):
    return ("normal", shape, dtype)


def _pos(shape=S, dtype="float32"):
    return ("positive", shape, dtype)


def _small(shape=S, dtype="float32"):
    return ("small", shape, dtype)


def _mom_attrs(clip=False):
    a = {"lr": 0.1, "momentum": 0.9, "wd": 0.01, "rescale_grad": 0.5}
    if clip:
        a["clip_gradient"] = 0.3
    return a


def _f16(shape=S):
    return ("normal", shape, "float16")


# name: (op, [input specs], attrs, out_weight)  -- out_weight: call with out=inputs[0]
# ("master", i) is input i as float32 (an mp op's weight32 master copy)
CASES = {
    "sgd_update": ("sgd_update", [_w(), _w()], {"lr": 0.1, "wd": 0.01}, False),
    "sgd_update_clip": ("sgd_update", [_w(), _w()],
                        {"lr": 0.1, "wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 0.3}, True),
    "sgd_mom_update": ("sgd_mom_update", [_w(), _w(), _small()], _mom_attrs(), False),
    "sgd_mom_update_clip": ("sgd_mom_update", [_w(), _w(), _small()], _mom_attrs(True), True),
    "mp_sgd_update": ("mp_sgd_update", [_f16(), _f16(), ("master", 0)],
                      {"lr": 0.1, "wd": 0.01, "clip_gradient": 0.5}, True),
    "mp_sgd_mom_update": ("mp_sgd_mom_update", [_f16(), _f16(), _small(), ("master", 0)],
                          _mom_attrs(), True),
    "nag_mom_update": ("nag_mom_update", [_w(), _w(), _small()], _mom_attrs(), False),
    "nag_mom_update_clip": ("nag_mom_update", [_w(), _w(), _small()], _mom_attrs(True),
                            False),
    "mp_nag_mom_update": ("mp_nag_mom_update", [_f16(), _f16(), _small(), ("master", 0)],
                          _mom_attrs(True), True),
    "adam_update": ("adam_update", [_w(), _w(), _small(), _pos()],
                    {"lr": 0.01, "wd": 0.01, "rescale_grad": 0.5}, True),
    "adam_update_clip": ("adam_update", [_w(), _w(), _small(), _pos()],
                         {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6,
                          "clip_gradient": 0.2}, False),
    "rmsprop_update": ("rmsprop_update", [_w(), _w(), _pos()],
                       {"lr": 0.01, "wd": 0.01, "gamma1": 0.9}, True),
    "rmsprop_update_clip": ("rmsprop_update", [_w(), _w(), _pos()],
                            {"lr": 0.05, "clip_gradient": 0.3, "clip_weights": 0.5}, False),
    "rmspropalex_update": ("rmspropalex_update", [_w(), _w(), _pos(), _small(), _small()],
                           {"lr": 0.01, "wd": 0.01, "gamma1": 0.9, "gamma2": 0.8}, True),
    "rmspropalex_update_clip": ("rmspropalex_update", [_w(), _w(), _pos(), _small(), _small()],
                                {"lr": 0.01, "clip_gradient": 0.3, "clip_weights": 0.8},
                                False),
    "ftrl_update": ("ftrl_update", [_w(), _w(), _w(), _pos()],
                    {"lr": 0.1, "lamda1": 0.1, "beta": 1.0, "wd": 0.01}, True),
    "ftrl_update_clip": ("ftrl_update", [_w(), _w(), _w(), _pos()],
                         {"lr": 0.1, "clip_gradient": 0.4, "rescale_grad": 2.0}, False),
    "ftml_update": ("ftml_update", [_w(), _w(), _pos(), _pos(), _small()],
                    {"lr": 0.01, "t": 3, "wd": 0.01}, True),
    "ftml_update_clip": ("ftml_update", [_w(), _w(), _pos(), _pos(), _small()],
                         {"lr": 0.01, "t": 1, "beta1": 0.5, "clip_grad": 0.3}, False),
    "signsgd_update": ("signsgd_update", [_w(), _w()], {"lr": 0.1, "wd": 0.01}, True),
    "signum_update": ("signum_update", [_w(), _w(), _small()],
                      {"lr": 0.1, "momentum": 0.9, "wd": 0.01, "wd_lh": 0.02}, True),
    "signum_update_clip": ("signum_update", [_w(), _w(), _small()],
                           {"lr": 0.1, "momentum": 0.5, "clip_gradient": 0.2}, False),
    "lamb_update_phase1": ("lamb_update_phase1", [_w(), _w(), _small(), _pos()],
                           {"t": 3, "wd": 0.01, "rescale_grad": 0.5}, False),
    "lamb_update_phase1_nobias": ("lamb_update_phase1", [_w(), _w(), _small(), _pos()],
                                  {"t": 2, "wd": 0.0, "bias_correction": False,
                                   "clip_gradient": 0.3}, False),
    "lamb_update_phase2": ("lamb_update_phase2", [_w(), _w(), _pos((1,)), _pos((1,))],
                           {"lr": 0.1}, True),
    "lamb_update_phase2_bounds": ("lamb_update_phase2", [_w(), _w(), _pos((1,)), _pos((1,))],
                                  {"lr": 0.1, "lower_bound": 0.8, "upper_bound": 1.2}, False),
    "lamb_update_phase2_zero": ("lamb_update_phase2", [_w(), _w(), ("zeros", (1,), "float32"),
                                                       _pos((1,))], {"lr": 0.1}, False),
    "mp_lamb_update_phase1": ("mp_lamb_update_phase1",
                              [_f16(), _f16(), _small(), _pos(), ("master", 0)],
                              {"t": 3, "wd": 0.01}, False),
    "mp_lamb_update_phase2": ("mp_lamb_update_phase2",
                              [_f16(), _w(), _pos((1,)), _pos((1,)), ("master", 0)],
                              {"lr": 0.1, "lower_bound": 0.5}, True),
    "multi_sgd_update": ("multi_sgd_update", [_w(), _w(), _w(S2), _w(S2)],
                         {"lrs": (0.1, 0.2), "wds": (0.01, 0.0), "num_weights": 2,
                          "rescale_grad": 0.5}, True),
    "multi_sgd_mom_update": ("multi_sgd_mom_update",
                             [_w(), _w(), _small(), _w(S2), _w(S2), _small(S2)],
                             {"lrs": (0.1, 0.2), "wds": (0.01, 0.0), "momentum": 0.9,
                              "num_weights": 2, "clip_gradient": 0.4}, True),
    "multi_mp_sgd_update": ("multi_mp_sgd_update",
                            [_f16(), _f16(), ("master", 0), _f16(S2), _f16(S2), ("master", 3)],
                            {"lrs": (0.1, 0.2), "wds": (0.01, 0.0), "num_weights": 2}, True),
    "multi_mp_sgd_mom_update": ("multi_mp_sgd_mom_update",
                                [_f16(), _f16(), _small(), ("master", 0),
                                 _f16(S2), _f16(S2), _small(S2), ("master", 4)],
                                {"lrs": (0.1, 0.2), "wds": (0.01, 0.0), "momentum": 0.9,
                                 "num_weights": 2}, True),
    "preloaded_multi_sgd_update": ("preloaded_multi_sgd_update",
                                   [_w(), _w(), _w(S2), _w(S2), ("lrs", (2,), "float32"),
                                    ("wds", (2,), "float32")],
                                   {"num_weights": 2, "clip_gradient": 0.5}, True),
    "preloaded_multi_sgd_mom_update": ("preloaded_multi_sgd_mom_update",
                                       [_w(), _w(), _small(), _w(S2), _w(S2), _small(S2),
                                        ("lrs", (2,), "float32"), ("wds", (2,), "float32")],
                                       {"num_weights": 2, "momentum": 0.9}, True),
    "preloaded_multi_mp_sgd_update": ("preloaded_multi_mp_sgd_update",
                                      [_f16(), _f16(), ("master", 0), _f16(S2), _f16(S2),
                                       ("master", 3), ("lrs", (2,), "float32"),
                                       ("wds", (2,), "float32")],
                                      {"num_weights": 2}, True),
    "preloaded_multi_mp_sgd_mom_update": ("preloaded_multi_mp_sgd_mom_update",
                                          [_f16(), _f16(), _small(), ("master", 0),
                                           _f16(S2), _f16(S2), _small(S2), ("master", 4),
                                           ("lrs", (2,), "float32"), ("wds", (2,), "float32")],
                                          {"num_weights": 2, "momentum": 0.9,
                                           "rescale_grad": 0.5}, True),
    "multi_sum_sq": ("multi_sum_sq", [_w(), _w(S2), _w((2, 3))], {"num_arrays": 3}, False),
    "multi_sum_sq_f16": ("multi_sum_sq", [_f16(), _f16(S2)], {"num_arrays": 2}, False),
    "multi_lars": ("multi_lars", [("lrs", (4,), "float32"), ("lars_w", (4,), "float32"),
                                  ("lars_g", (4,), "float32"), ("wds", (4,), "float32")],
                   {"eta": 0.01, "eps": 1e-8, "rescale_grad": 0.5}, False),
    "all_finite": ("all_finite", [_w()], {}, False),
    "all_finite_inf": ("all_finite", [("inf", S, "float32")], {}, False),
    "all_finite_f16": ("all_finite", [("nan", S, "float16")], {}, False),
    "multi_all_finite": ("multi_all_finite", [_w(), _w(S2)], {"num_arrays": 2}, False),
    "multi_all_finite_nan": ("multi_all_finite", [_w(), ("nan", S2, "float32")],
                             {"num_arrays": 2}, False),
    "reset_arrays": ("reset_arrays", [_w(), _w(S2), _f16((2,))],
                     {"num_arrays": 3}, False),
    # MXNet takes the gradient only as row_sparse ("rsp": dense values with a zero row, passed
    # to MXNet as row_sparse, so that row is absent and updated lazily) and needs out=weight
    "group_adagrad_update": ("contrib.group_adagrad_update",
                             [_w((4, 3)), ("rsp", (4, 3), "float32"), _pos((4, 1))],
                             {"lr": 0.1, "rescale_grad": 0.5}, True),
    "group_adagrad_update_clip": ("contrib.group_adagrad_update",
                                  [_w((3, 2, 2)), ("rsp", (3, 2, 2), "float32"),
                                   ("zeros", (3, 1), "float32")],
                                  {"lr": 0.05, "clip_gradient": 0.3, "epsilon": 1e-3}, True),
}


def nd_function(nd, op):
    """``mx.nd.<op>``, ``op`` possibly dotted (``contrib.group_adagrad_update``)."""
    for part in op.split("."):
        nd = getattr(nd, part)
    return nd


def make_inputs(specs, seed):
    rng = np.random.default_rng(seed)
    out = []
    for sp in specs:
        if sp[0] == "master":
            out.append(out[sp[1]].astype(np.float32))
            continue
        kind, shape, dtype = sp
        if kind == "normal":
            x = rng.normal(0, 1, shape)
        elif kind == "positive":
            x = rng.uniform(0.1, 1.0, shape)
        elif kind == "small":
            x = rng.normal(0, 0.1, shape)
        elif kind == "rsp":
            x = rng.normal(0, 1, shape)
            x[1] = 0.0                              # a row the row_sparse gradient lacks
        elif kind == "zeros":
            x = np.zeros(shape)
        elif kind == "lrs":
            x = rng.uniform(0.05, 0.2, shape)
        elif kind == "wds":
            x = rng.uniform(0.0, 0.01, shape)
        elif kind == "lars_w":
            x = rng.uniform(0.5, 4.0, shape)
            x[0] = 0.0                              # no LARS for a zero weight norm
        elif kind == "lars_g":
            x = rng.uniform(0.5, 4.0, shape)
            x[1] = 0.0                              # nor for a zero gradient norm
        elif kind in ("inf", "nan"):
            x = rng.normal(0, 1, shape)
            x.flat[3] = np.inf if kind == "inf" else np.nan
        else:
            raise ValueError(kind)
        out.append(np.asarray(x, dtype=dtype))
    return out


def main():
    import mxnet as mx
    os.makedirs(OUT, exist_ok=True)
    only = set(sys.argv[1:])
    for seed, (name, (op, specs, attrs, out_weight)) in enumerate(sorted(CASES.items())):
        if only and name not in only:
            continue
        ins = make_inputs(specs, seed)
        arrays = [mx.nd.array(x, dtype=x.dtype) for x in ins]
        call = [a.tostype("row_sparse") if sp[0] == "rsp" else a
                for a, sp in zip(arrays, specs)]
        fn = nd_function(mx.nd, op)
        nw = attrs.get("num_weights", 1)
        kw = dict(attrs)
        if out_weight:
            if op.startswith(("multi_", "preloaded_")):
                st = (len(arrays) - (2 if op.startswith("preloaded_") else 0)) // nw
                kw["out"] = [arrays[i * st] for i in range(nw)]
            else:
                kw["out"] = arrays[0]
        res = fn(*call, **kw)
        if res is None:
            res = []
        outs = res if isinstance(res, (list, tuple)) else [res]
        rec = {f"in:{i}": x for i, x in enumerate(ins)}
        rec.update({f"out:{i}": o.asnumpy() for i, o in enumerate(outs)})
        rec.update({f"after:{i}": a.asnumpy() for i, a in enumerate(arrays)})
        meta = {"op": op, "attrs": attrs, "out_weight": out_weight, "n_out": len(outs),
                "mxnet": mx.__version__}
        rec["meta"] = np.array(json.dumps(meta))
        tmp = os.path.join(OUT, f".{name}.tmp.npz")
        np.savez(tmp, **rec)
        os.replace(tmp, os.path.join(OUT, f"{name}.npz"))
        print(f"{name}: {len(outs)} outputs")


if __name__ == "__main__":
    main()
