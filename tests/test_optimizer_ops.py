"""The optimizer update operators (mxc/ir/opdefs/optimizer.py) against MXNet 1.9.1.

tools/make_optimizer_op_golden.py recorded, for each case, MXNet's outputs *and* every input
array as the call left it (the states are mutated in place, MXNet's FMutateInputs). Checked here:

- ``mx.nd.<op>`` (the eager path): outputs, ``out=weight`` and the mutated states;
- the operator compiled for LLVM and for Triton (interpreter): its visible outputs and the new
  state values its ``aux_update`` rule returns;
- the reference interpreter on the same graph;
- ``mx.sym``: mutated states are auxiliary states, as MXNet lists them;
- the operators are not differentiable, and bad input names the operator.
"""
import json
import os
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError, UnsupportedError
from mxc.ir.core import Builder
from mxc.ir.registry import get_op
from mxc.ir.types import DType, TensorType
from mxc.testing import assert_close

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "ops", "optimizer_ops")
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from make_optimizer_op_golden import CASES, nd_function

NAMES = sorted(CASES)


def _load(name):
    z = np.load(os.path.join(DATA, f"{name}.npz"))
    meta = json.loads(str(z["meta"]))
    n_in = len([k for k in z.files if k.startswith("in:")])
    ins = [z[f"in:{i}"] for i in range(n_in)]
    return z, meta, ins


def _tol(x):
    return (2e-3, 2e-3) if np.asarray(x).dtype == np.float16 else (2e-5, 2e-6)


def _check(actual, expected, what):
    rtol, atol = _tol(expected)
    assert np.asarray(actual).dtype == np.asarray(expected).dtype, \
        f"{what}: dtype {np.asarray(actual).dtype} != MXNet's {np.asarray(expected).dtype}"
    assert_close(actual, expected, rtol, atol, what)


def _opname(op):
    """The registry name of a golden case's ``mx.nd`` function (``contrib.X`` is
    ``_contrib_X``)."""
    return "_contrib_" + op[len("contrib."):] if op.startswith("contrib.") else op


def _graph(op, attrs, ins):
    """The one-op graph returning the visible outputs, then the mutated inputs' new values."""
    od = get_op(_opname(op))
    typed = od.parse_attrs(dict(attrs))
    b = Builder(op)
    vals = [b.input(f"x{i}", TensorType(tuple(x.shape), DType.parse(x.dtype)))
            for i, x in enumerate(ins)]
    outs = b.op(od.name, vals, typed, "op", parsed=True)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    nv = od.num_visible(typed)
    mut = od.aux_update(b, b.ops[-1]) if od.aux_update is not None else []
    return b.build(outs[:nv] + [v for _, v in mut]), nv, [p for p, _ in mut]


@pytest.mark.parametrize("name", NAMES)
def test_nd_against_mxnet(name):
    z, meta, ins = _load(name)
    arrays = [mx.nd.array(x, dtype=x.dtype) for x in ins]
    kw = dict(meta["attrs"])
    op = meta["op"]
    if meta["out_weight"]:
        if op.startswith(("multi_", "preloaded_")):
            nw = kw["num_weights"]
            st = (len(arrays) - (2 if op.startswith("preloaded_") else 0)) // nw
            kw["out"] = [arrays[i * st] for i in range(nw)]
        else:
            kw["out"] = arrays[0]
    res = nd_function(mx.nd, op)(*arrays, **kw)
    outs = res if isinstance(res, (list, tuple)) else [res]
    assert len(outs) == meta["n_out"]
    for i, o in enumerate(outs):
        _check(o.asnumpy(), z[f"out:{i}"], f"{name} output {i}")
    for i, a in enumerate(arrays):
        _check(a.asnumpy(), z[f"after:{i}"], f"{name} input {i} after the call")


# LLVM for every case; the Triton interpreter for a quarter of them (the rest marked slow)
_COMPILED = [pytest.param(n, "llvm", id=f"{n}-llvm") for n in NAMES] + \
    [pytest.param(n, "triton", id=f"{n}-triton",
                  marks=[] if i % 4 == 0 else [pytest.mark.slow]) for i, n in enumerate(NAMES)]


@pytest.mark.parametrize("name,target", _COMPILED)
def test_compiled_against_mxnet(name, target):
    from mxc.compile import compile_graph
    z, meta, ins = _load(name)
    g, nv, mutated = _graph(meta["op"], meta["attrs"], ins)
    res = compile_graph(g, target)(*ins)
    res = res if isinstance(res, (list, tuple)) else [res]
    for i in range(nv):
        if not meta["out_weight"] or meta["n_out"] == nv:
            _check(res[i], z[f"out:{i}"], f"{name} output {i} ({target})")
    for p, r in zip(mutated, res[nv:]):
        _check(r, z[f"after:{p}"], f"{name} new input {p} ({target})")


@pytest.mark.parametrize("name", NAMES[::3])
def test_interp_against_mxnet(name):
    from mxc.ir.interp import interp
    z, meta, ins = _load(name)
    g, nv, mutated = _graph(meta["op"], meta["attrs"], ins)
    res = interp(g, ins)
    for i in range(nv):
        _check(res[i], z[f"out:{i}"], f"{name} output {i} (interp)")
    for p, r in zip(mutated, res[nv:]):
        _check(r, z[f"after:{p}"], f"{name} new input {p} (interp)")


def test_mutated_inputs_are_auxiliary_states():
    """MXNet's symbols list mutated inputs as auxiliary states (nnvm's FMutateInputs)."""
    w, g, m, v = (mx.sym.Variable(n) for n in ("w", "g", "m", "v"))
    s = mx.sym.sgd_mom_update(w, g, m, lr=0.1, momentum=0.9, name="u")
    assert s.list_arguments() == ["w", "g"]
    assert s.list_auxiliary_states() == ["m"]
    assert s.list_outputs() == ["u_output"]
    s = mx.sym.adam_update(w, g, m, v, lr=0.1, name="a")
    assert s.list_auxiliary_states() == ["m", "v"]
    s = mx.sym.mp_sgd_mom_update(w, g, m, v, lr=0.1, name="a")
    assert s.list_arguments() == ["w", "g"] and s.list_auxiliary_states() == ["m", "v"]
    assert "_sparse_sgd_update" in mx.nd.__dict__ or hasattr(mx.nd.sparse, "sgd_update")


def test_symbol_executor_matches_nd():
    """A bound symbol computes the same new weight as mx.nd."""
    w, g, m = (mx.sym.Variable(n) for n in ("w", "g", "m"))
    s = mx.sym.sgd_mom_update(w, g, m, lr=0.1, momentum=0.9, wd=0.01)
    rng = np.random.default_rng(0)
    wv, gv, mv = (rng.normal(size=(4,)).astype(np.float32) for _ in range(3))
    exe = s.bind(mx.cpu(), {"w": mx.nd.array(wv), "g": mx.nd.array(gv)}, grad_req="null",
                 aux_states={"m": mx.nd.array(mv)})
    out = exe.forward()[0].asnumpy()
    mom = mx.nd.array(mv)
    ref = mx.nd.sgd_mom_update(mx.nd.array(wv), mx.nd.array(gv), mom, lr=0.1, momentum=0.9,
                               wd=0.01)
    assert_close(out, ref.asnumpy())
    # MXNet writes the state in place at every forward (inference or training); the weight
    # argument is not written (the output is the new weight)
    assert_close(exe.aux_dict["m"].asnumpy(), mom.asnumpy())
    assert_close(exe.arg_dict["w"].asnumpy(), wv)
    out2 = exe.forward(is_train=True)[0].asnumpy()
    ref2 = mx.nd.sgd_mom_update(mx.nd.array(wv), mx.nd.array(gv), mom, lr=0.1, momentum=0.9,
                                wd=0.01)
    assert_close(out2, ref2.asnumpy())
    assert_close(exe.aux_dict["m"].asnumpy(), mom.asnumpy())


def test_not_differentiable():
    for name in ("sgd_update", "adam_update", "multi_sgd_mom_update", "multi_sum_sq",
                 "all_finite", "reset_arrays", "lamb_update_phase2",
                 "_contrib_group_adagrad_update"):
        assert not get_op(name).differentiable


def test_bad_input_names_the_operator():
    with pytest.raises(MXNetError, match="sgd_mom_update.*mom"):
        mx.nd.sgd_mom_update(mx.nd.ones((3,)), mx.nd.ones((3,)), mx.nd.ones((4,)), lr=0.1)
    with pytest.raises(MXNetError, match="mp_sgd_update.*weight32.*float32"):
        mx.nd.mp_sgd_update(mx.nd.ones((3,), dtype="float16"), mx.nd.ones((3,), dtype="float16"),
                            mx.nd.ones((3,), dtype="float16"), lr=0.1)
    with pytest.raises(MXNetError, match="multi_sgd_update.*lrs"):
        mx.nd.multi_sgd_update(mx.nd.ones(2), mx.nd.ones(2), lrs=(0.1, 0.2), wds=(0.,),
                               num_weights=1)
    with pytest.raises(MXNetError, match="lamb_update_phase2.*r1"):
        mx.nd.lamb_update_phase2(mx.nd.ones(3), mx.nd.ones(3), mx.nd.ones(3), mx.nd.ones(1),
                                 lr=0.1)
    with pytest.raises(UnsupportedError, match="init_output"):
        mx.nd.all_finite(mx.nd.ones(3), init_output=False)


def test_optimizers_lower_to_the_operators_rules():
    """mx.optimizer's kernels are built from the same rules as the operators: one step of SGD
    with momentum equals multi_sgd_mom_update, Adam's equals adam_update (with MXNet's
    bias-corrected learning rate), RMSProp(centered)'s equals rmspropalex_update."""
    rng = np.random.default_rng(1)
    w0, g0 = (rng.normal(size=(6,)).astype(np.float32) for _ in range(2))

    opt = mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5)
    w, st = mx.nd.array(w0), None
    st = opt.create_state(0, w)
    opt.update([0], [w], [mx.nd.array(g0)], [st])
    wr, mom = mx.nd.array(w0), mx.nd.zeros(6)
    mx.nd.multi_sgd_mom_update(wr, mx.nd.array(g0), mom, out=[wr], lrs=(0.1,), wds=(0.01,),
                               momentum=0.9, rescale_grad=0.5, num_weights=1)
    assert_close(w.asnumpy(), wr.asnumpy())
    assert_close(st.asnumpy(), mom.asnumpy())

    opt = mx.optimizer.Adam(learning_rate=0.01, wd=0.01)
    w = mx.nd.array(w0)
    mean, var = opt.create_state(0, w)
    opt.update(0, w, mx.nd.array(g0), (mean, var))
    lr = 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9)
    wr, m2, v2 = mx.nd.array(w0), mx.nd.zeros(6), mx.nd.zeros(6)
    mx.nd.adam_update(wr, mx.nd.array(g0), m2, v2, lr=lr, wd=0.01, out=wr)
    assert_close(w.asnumpy(), wr.asnumpy())
    assert_close(var.asnumpy(), v2.asnumpy())

    opt = mx.optimizer.RMSProp(learning_rate=0.01, centered=True)
    w = mx.nd.array(w0)
    n, gs, d = opt.create_state(0, w)
    opt.update(0, w, mx.nd.array(g0), (n, gs, d))
    wr, n2, g2, d2 = mx.nd.array(w0), mx.nd.zeros(6), mx.nd.zeros(6), mx.nd.zeros(6)
    mx.nd.rmspropalex_update(wr, mx.nd.array(g0), n2, g2, d2, lr=0.01, gamma1=0.9, gamma2=0.9,
                             out=wr)
    assert_close(w.asnumpy(), wr.asnumpy())
    assert_close(d.asnumpy(), d2.asnumpy())


def test_group_adagrad_update():
    """contrib.group_adagrad_update: history is a mutated auxiliary state of one value per row;
    a dense gradient with a zero row leaves that row (weight and history) unchanged, as MXNet's
    lazy row_sparse update does; a history that is not one value per row is refused."""
    w, g, h = (mx.sym.Variable(n) for n in ("w", "g", "h"))
    s = mx.sym.contrib.group_adagrad_update(w, g, h, lr=0.1, name="u")
    assert s.list_arguments() == ["w", "g"] and s.list_auxiliary_states() == ["h"]
    assert s.infer_shape(w=(5, 2, 3))[2] == [(5, 1)]
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=(4, 3)).astype(np.float32)
    g0 = rng.normal(size=(4, 3)).astype(np.float32)
    g0[2] = 0
    wv, hv = mx.nd.array(w0), mx.nd.ones((4, 1))
    mx.nd.contrib.group_adagrad_update(wv, mx.nd.array(g0), hv, lr=0.1, out=wv)
    hist = 1 + (g0 ** 2).mean(axis=1, keepdims=True)
    assert_close(hv.asnumpy(), hist)
    assert_close(wv.asnumpy(), w0 - 0.1 * g0 / np.sqrt(hist + 1e-5))
    assert_close(wv.asnumpy()[2], w0[2])
    with pytest.raises(MXNetError, match="group_adagrad_update.*history"):
        mx.nd.contrib.group_adagrad_update(mx.nd.ones((4, 3)), mx.nd.ones((4, 3)),
                                           mx.nd.ones((4, 3)), lr=0.1)
