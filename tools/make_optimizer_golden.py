"""Golden data for mx.optimizer, mx.lr_scheduler and mx.init, written by the real MXNet 1.9.1.

    PY=$(../shared/oracle/setup.sh)      # from the repository root
    $PY tools/make_optimizer_golden.py   # writes tests/data/optimizer_golden.npz

Keys (one flat .npz; strings are 0-d unicode arrays, JSON where structured):

``opt/<case>/...`` for each optimizer case in CASES: ``config`` (JSON: optimizer name, kwargs,
parameter names and shapes, weight dtype, options applied after creation), ``w<i>_step1`` and
``w<i>_final`` (each parameter after the first and the last of STEPS updates), ``s<i>_<j>``
(the j-th array of parameter i's state after the last update, flattened in MXNet's state
order; a None state is absent), ``num_update`` and, where the case asks, ``lr_trace`` (the
optimizer's ``learning_rate`` after each step) and ``grad_after`` (parameter 0's gradient array
after the last update, for optimizers that modify it). Inputs shared by every case:
``opt/init/w<i>`` (initial weights, float32) and ``opt/grads/g<i>`` (STEPS gradients per
parameter, stacked). Updates go through ``mx.optimizer.get_updater``, the way Module applies
them (``updater(i, grad, weight)`` for each parameter in turn).

``opt/states_pickle/...``: ``bytes`` (uint8) is ``Updater.get_states(dump_optimizer=True)`` after
3 SGD-with-momentum steps, as Module.save_optimizer_states writes it; ``mom<i>`` the momentum
arrays it holds, ``attrs`` (JSON) some optimizer attributes.

``sched`` (JSON, by case): the scheduler class and kwargs, ``calls`` (the num_update
sequence), ``lrs`` (what the scheduler returned) and ``log`` (the INFO messages it logged).

``init/dumps`` (JSON, by name: a constructor expression and the ``dumps()`` string of the
initializer it makes), ``init/create`` (JSON list: a ``create`` argument, kwargs and the
created initializer's ``dumps()``) and ``init/dispatch`` (JSON list): what
``Initializer.__call__`` does for a name, as InitDesc with or without an ``__init__``
attribute, or as a plain string (MXNet's legacy path), with the resulting values or the error
class and message. The probe initializer fills weights with 7.

Run it twice: the bytes are the same (fixed seeds; the zip entries carry no timestamps).
"""
from __future__ import annotations

import io
import json
import logging
import os
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "optimizer_golden.npz")

STEPS = 20
PARAMS = [("fc1_weight", (5, 7)), ("fc1_bias", (35,)), ("bn_gamma", (7, 5))]
# one size: every case compiles one update kernel (each size is a kernel of its own)
IDX2NAME = {i: n for i, (n, _) in enumerate(PARAMS)}

# name, optimizer, kwargs, extras: idx2name (bool), dtype, lr_mult/wd_mult, sym multipliers,
# scheduler, grad_after
CASES = [
    ("sgd_plain", "sgd", {}, {}),
    ("sgd_mom", "sgd", {"momentum": 0.9}, {}),
    ("sgd_mom_wd_names", "sgd", {"momentum": 0.9, "wd": 0.01}, {"idx2name": True}),
    ("sgd_mom_clip_rescale", "sgd", {"momentum": 0.9, "clip_gradient": 0.5,
                                     "rescale_grad": 0.25, "learning_rate": 0.1}, {}),
    ("sgd_wd_clip", "sgd", {"wd": 0.01, "clip_gradient": 1.0, "learning_rate": 0.05}, {}),
    ("sgd_mults", "sgd", {"momentum": 0.9, "wd": 0.01},
     {"idx2name": True, "lr_mult": {"fc1_weight": 2.0}, "wd_mult": {"fc1_bias": 0.5}}),
    ("sgd_sym_mults", "sgd", {"momentum": 0.5, "wd": 0.02},
     {"idx2name": True, "sym": {"fc1_weight": {"lr_mult": 0.5}, "fc1_bias": {"wd_mult": 2.0}}}),
    ("sgd_sched", "sgd", {"momentum": 0.9, "learning_rate": 0.1},
     {"sched": ["factor", {"step": 7, "factor": 0.5}], "lr_trace": True}),
    ("sgd_mp_mom", "sgd", {"momentum": 0.9, "multi_precision": True, "learning_rate": 0.1},
     {"dtype": "float16"}),
    ("sgd_mp_plain", "sgd", {"multi_precision": True, "wd": 0.01, "learning_rate": 0.1},
     {"dtype": "float16"}),
    ("nag_mom", "nag", {"momentum": 0.9}, {}),
    ("nag_mom_wd_clip", "nag", {"momentum": 0.9, "wd": 0.01, "clip_gradient": 0.5,
                                "rescale_grad": 0.5}, {}),
    ("nag_plain", "nag", {"wd": 0.01}, {}),
    ("nag_mp", "nag", {"momentum": 0.9, "multi_precision": True, "learning_rate": 0.1},
     {"dtype": "float16"}),
    ("adam", "adam", {}, {}),
    ("adam_wd_clip", "adam", {"wd": 0.01, "clip_gradient": 0.5, "rescale_grad": 0.5}, {}),
    ("adam_betas", "adam", {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99,
                            "epsilon": 1e-6}, {}),
    ("adam_begin", "adam", {"begin_num_update": 5, "learning_rate": 0.01}, {}),
    ("adam_mp", "adam", {"multi_precision": True, "learning_rate": 0.01},
     {"dtype": "float16"}),
    ("adagrad", "adagrad", {"learning_rate": 0.1}, {}),
    ("adagrad_opts", "adagrad", {"wd": 0.01, "clip_gradient": 0.5, "eps": 1e-6,
                                 "learning_rate": 0.1}, {}),
    ("rmsprop", "rmsprop", {}, {}),
    ("rmsprop_centered", "rmsprop", {"centered": True}, {}),
    ("rmsprop_centered_opts", "rmsprop", {"centered": True, "clip_weights": 0.5,
                                          "clip_gradient": 0.5, "wd": 0.01,
                                          "learning_rate": 0.01}, {}),
    ("rmsprop_clipw", "rmsprop", {"gamma1": 0.95, "clip_weights": 0.3,
                                  "learning_rate": 0.01}, {}),
    ("adadelta", "adadelta", {}, {"grad_after": True}),
    ("adadelta_opts", "adadelta", {"rho": 0.95, "epsilon": 1e-6, "wd": 0.01,
                                   "clip_gradient": 0.5, "rescale_grad": 0.5},
     {"grad_after": True}),
    ("adamax", "adamax", {}, {}),
    ("adamax_opts", "adamax", {"wd": 0.01, "clip_gradient": 0.5}, {}),
    ("nadam", "nadam", {}, {}),
    ("nadam_opts", "nadam", {"wd": 0.01, "clip_gradient": 0.5, "schedule_decay": 0.01}, {}),
    ("signum", "signum", {}, {}),
    ("signsgd", "signum", {"momentum": 0.0, "wd": 0.01}, {}),
    ("signum_opts", "signum", {"wd_lh": 0.01, "wd": 0.01, "clip_gradient": 0.5,
                               "rescale_grad": 0.5}, {}),
    ("ftrl", "ftrl", {}, {}),
    ("ftrl_opts", "ftrl", {"lamda1": 0.001, "beta": 0.5, "wd": 0.01, "clip_gradient": 0.5,
                           "learning_rate": 0.5}, {}),
    ("ftml", "ftml", {"learning_rate": 0.01}, {}),
    ("ftml_opts", "ftml", {"learning_rate": 0.01, "clip_gradient": 0.5, "wd": 0.01}, {}),
    ("dcasgd", "dcasgd", {"learning_rate": 0.05}, {}),
]

SCHEDULERS = [
    ("factor", "FactorScheduler", {"step": 5, "factor": 0.5}, list(range(41))),
    ("factor_stop", "FactorScheduler", {"step": 3, "factor": 0.1, "stop_factor_lr": 1e-4},
     list(range(25))),
    ("factor_warmup", "FactorScheduler", {"step": 10, "factor": 0.9, "base_lr": 0.1,
                                          "warmup_steps": 5, "warmup_begin_lr": 0.01},
     list(range(41))),
    ("factor_jump", "FactorScheduler", {"step": 4, "factor": 0.5}, [0, 1, 25, 26, 60, 3]),
    ("multifactor", "MultiFactorScheduler", {"step": [5, 12, 20], "factor": 0.3},
     list(range(31))),
    ("multifactor_warmup", "MultiFactorScheduler",
     {"step": [8, 16], "factor": 0.5, "base_lr": 0.2, "warmup_steps": 6,
      "warmup_begin_lr": 0.05, "warmup_mode": "constant"}, list(range(25))),
    ("poly", "PolyScheduler", {"max_update": 30, "base_lr": 0.1, "pwr": 2, "final_lr": 0.001},
     list(range(41))),
    ("poly_warmup", "PolyScheduler", {"max_update": 30, "base_lr": 0.1, "pwr": 1,
                                      "warmup_steps": 5}, list(range(41))),
    ("cosine", "CosineScheduler", {"max_update": 30, "base_lr": 0.1, "final_lr": 0.01},
     list(range(41))),
    ("cosine_warmup", "CosineScheduler", {"max_update": 25, "base_lr": 0.05, "warmup_steps": 5,
                                          "warmup_begin_lr": 0.001}, list(range(31))),
]

INIT_DUMPS = {
    "uniform": "Uniform()", "uniform_0.1": "Uniform(0.1)", "normal": "Normal()",
    "normal_0.5": "Normal(0.5)", "xavier": "Xavier()",
    "xavier_gauss": "Xavier(rnd_type='gaussian', factor_type='in', magnitude=2.34)",
    "msraprelu": "MSRAPrelu()", "msraprelu_in": "MSRAPrelu('in', 0.1)",
    "orthogonal": "Orthogonal()", "orthogonal_normal": "Orthogonal(scale=2.0, rand_type='normal')",
    "constant": "Constant(0.5)", "constant_list": "Constant(np.array([1.0, 2.0]))",
    "zero": "Zero()", "one": "One()", "bilinear": "Bilinear()", "lstmbias": "LSTMBias()",
    "lstmbias_2": "LSTMBias(forget_bias=2.0)",
}

INIT_CREATE = [
    ["xavier", {"magnitude": 2}],
    ['["normal", {"sigma": 0.1}]', {}],
    ["zeros", {}], ["ones", {}], ["Uniform", {"scale": 0.3}],
    ['{"initializer": "constant", "value": 4}', {}],
]

DISPATCH_NAMES = [
    ("fc_weight", (2, 3)), ("fc_bias", (3,)), ("bn_gamma", (3,)), ("bn_beta", (3,)),
    ("bn_moving_mean", (3,)), ("bn_moving_var", (3,)), ("bn_moving_inv_var", (3,)),
    ("bn_moving_avg", (3,)), ("q_min", (2,)), ("q_max", (2,)), ("data", (2,)),
    ("weight", (2,)), ("upsampling0_weight", (1, 1, 4, 4)), ("stn_loc_weight", (6, 2)),
    ("stn_loc_bias", (6,)), ("fc_weightx", (2,)), ("bias", (2,)),
]
DISPATCH_INITS = [None, '["constant", {"value": 3.0}]', '["zero", {}]', '["one", {}]', "zeros"]


def _capture_logs():
    rec = []

    class H(logging.Handler):
        def emit(self, r):
            rec.append(r.getMessage())
    h = H(level=logging.INFO)
    root = logging.getLogger()
    root.addHandler(h)
    root.setLevel(logging.INFO)
    return rec, lambda: root.removeHandler(h)


def _leaves(state):
    """A state's arrays in order, nested tuples flattened (None kept as a place)."""
    if isinstance(state, (tuple, list)):
        return [x for s in state for x in _leaves(s)]
    return [state]


def _str(s):
    return np.array(s)


def optimizer_cases(mx, out):
    rng = np.random.default_rng(20240612)
    inits = [rng.standard_normal(s).astype(np.float32) for _, s in PARAMS]
    grads = [(rng.standard_normal((STEPS,) + s) * 1.5).astype(np.float32) for _, s in PARAMS]
    for i, (w, g) in enumerate(zip(inits, grads)):
        out[f"opt/init/w{i}"] = w
        out[f"opt/grads/g{i}"] = g
    for case, name, kwargs, extra in CASES:
        dtype = extra.get("dtype", "float32")
        kw = dict(kwargs)
        if extra.get("idx2name"):
            kw["param_idx2name"] = dict(IDX2NAME)
        if "sym" in extra:
            vs = [mx.sym.Variable(n, **extra["sym"].get(n, {})) for n, _ in PARAMS]
            kw["sym"] = mx.sym.Group(vs)
        if "sched" in extra:
            sname, skw = extra["sched"]
            kw["lr_scheduler"] = {"factor": mx.lr_scheduler.FactorScheduler}[sname](**skw)
        opt = mx.optimizer.create(name, **kw)
        if "lr_mult" in extra:
            opt.set_lr_mult(extra["lr_mult"])
        if "wd_mult" in extra:
            opt.set_wd_mult(extra["wd_mult"])
        upd = mx.optimizer.get_updater(opt)
        ws = [mx.nd.array(w, dtype=dtype) for w in inits]
        lr_trace = []
        gnd = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for step in range(STEPS):
                for i, w in enumerate(ws):
                    gnd = mx.nd.array(grads[i][step], dtype=dtype)
                    upd(i, gnd, w)
                    if i == 0:
                        g0 = gnd
                if step == 0:
                    for i, w in enumerate(ws):
                        out[f"opt/{case}/w{i}_step1"] = w.asnumpy()
                lr_trace.append(opt.learning_rate)
        for i, w in enumerate(ws):
            out[f"opt/{case}/w{i}_final"] = w.asnumpy()
            st = upd.states[i]
            for j, a in enumerate(_leaves(st)):
                if a is not None:
                    out[f"opt/{case}/s{i}_{j}"] = a.asnumpy()
        out[f"opt/{case}/num_update"] = np.array(opt.num_update)
        if extra.get("lr_trace"):
            out[f"opt/{case}/lr_trace"] = np.array(lr_trace, dtype=np.float64)
        if extra.get("grad_after"):
            out[f"opt/{case}/grad_after"] = g0.asnumpy()
        cfg = {"optimizer": name, "kwargs": kwargs, "dtype": dtype,
               "extra": {k: v for k, v in extra.items()}, "params": PARAMS}
        out[f"opt/{case}/config"] = _str(json.dumps(cfg, sort_keys=True))
        print("optimizer", case, "num_update", opt.num_update)

    # pickled Updater states, as Module.save_optimizer_states writes them
    opt = mx.optimizer.create("sgd", momentum=0.9, learning_rate=0.1, wd=0.001,
                              param_idx2name=dict(IDX2NAME), rescale_grad=0.5)
    upd = mx.optimizer.get_updater(opt)
    ws = [mx.nd.array(w) for w in inits]
    for step in range(3):
        for i, w in enumerate(ws):
            upd(i, mx.nd.array(grads[i][step]), w)
    blob = upd.get_states(dump_optimizer=True)
    out["opt/states_pickle/bytes"] = np.frombuffer(blob, dtype=np.uint8)
    for i in range(len(ws)):
        out[f"opt/states_pickle/mom{i}"] = upd.states[i].asnumpy()
        out[f"opt/states_pickle/w{i}"] = ws[i].asnumpy()
    attrs = {"lr": opt.lr, "momentum": opt.momentum, "wd": opt.wd, "num_update": opt.num_update,
             "rescale_grad": opt.rescale_grad, "wd_mult": opt.wd_mult,
             "index_update_count": {str(k): v for k, v in opt._index_update_count.items()}}
    out["opt/states_pickle/attrs"] = _str(json.dumps(attrs, sort_keys=True))


def scheduler_cases(mx, out):
    cases = {}
    for case, cls, kwargs, calls in SCHEDULERS:
        rec, done = _capture_logs()
        s = getattr(mx.lr_scheduler, cls)(**kwargs)
        lrs = [s(n) for n in calls]
        done()
        cases[case] = {"cls": cls, "kwargs": kwargs, "calls": calls, "lrs": lrs, "log": rec}
        print("scheduler", case, len(rec), "log lines")
    out["sched"] = _str(json.dumps(cases, sort_keys=True))


def initializer_cases(mx, out):
    init = mx.init
    env = {"np": np, **{k: getattr(init, k) for k in dir(init) if k[:1].isupper()}}
    out["init/dumps"] = _str(json.dumps({key: [expr, eval(expr, env).dumps()]
                                         for key, expr in INIT_DUMPS.items()}, sort_keys=True))
    out["init/create"] = _str(json.dumps([[arg, kw, init.create(arg, **kw).dumps()]
                                          for arg, kw in INIT_CREATE]))

    class Probe(init.Initializer):
        def _init_weight(self, _, arr):
            arr[:] = 7.0

    probe = Probe()
    dispatch = []
    for name, shape in DISPATCH_NAMES:
        for k, spec in enumerate(DISPATCH_INITS + ["legacy"]):
            arr = mx.nd.full(shape, -5.0)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if spec == "legacy":
                        probe(name, arr)
                    else:
                        attrs = {} if spec is None else {"__init__": spec}
                        probe(init.InitDesc(name, attrs), arr)
                res = {"values": arr.asnumpy().ravel().tolist()}
            except Exception as e:  # noqa: BLE001
                res = {"error": type(e).__name__, "message": str(e)}
            dispatch.append({"name": name, "shape": shape, "init": spec, **res})
    out["init/dispatch"] = _str(json.dumps(dispatch))
    print("initializer: dumps", len(INIT_DUMPS), "dispatch", len(DISPATCH_NAMES))


def main():
    import mxnet as mx
    assert mx.__version__ == "1.9.1", mx.__version__
    out: dict = {}
    optimizer_cases(mx, out)
    scheduler_cases(mx, out)
    initializer_cases(mx, out)
    buf = io.BytesIO()
    np.savez_compressed(buf, **out)
    with open(OUT, "wb") as f:
        f.write(buf.getvalue())
    print("wrote", os.path.relpath(OUT), len(out), "arrays,", len(buf.getvalue()), "bytes")


if __name__ == "__main__":
    main()
