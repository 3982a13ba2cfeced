"""Golden parity: mxc's operators against MXNet 1.9.1's recorded outputs and gradients.

The cases live in tools/golden_cases/<family>.py; tools/make_op_golden.py recorded MXNet's
results into tests/data/ops/<family>/<case>.npz. Forward runs on both backends; backward runs
the autodiff joint graph with MXNet's head gradients.
"""
import json
import os
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.testing import assert_close

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from golden_cases import FAMILIES, load_family  # noqa: E402

CASES = [(fam, case) for fam in FAMILIES for case in load_family(fam)]
IDS = [f"{fam}/{case.name}" for fam, case in CASES]


def _load(fam, case):
    path = os.path.join(HERE, "data", "ops", fam, f"{case.name}.npz")
    if not os.path.exists(path):
        pytest.fail(f"no golden data for {fam}/{case.name}: run "
                    f"`$(../shared/oracle/setup.sh) tools/make_op_golden.py {fam}`")
    z = np.load(path)
    return z, json.loads(str(z["meta"]))


def _symbol(case):
    fn = mx.sym
    for part in case.op.split("."):
        fn = getattr(fn, part)
    variables = {n: mx.sym.Variable(n) for n in case.inputs}
    return fn(**variables, **case.attrs, name="op")


def _compile(case, z, target, grad_wrt=None):
    sym = _symbol(case)
    names = sym.list_inputs()
    shapes = {n: z[f"in:{n}"].shape for n in names}
    dtypes = {n: z[f"in:{n}"].dtype for n in names}
    c = mx.compile(sym, shapes=shapes, dtypes=dtypes, target=target,
                   is_train=case.is_train or grad_wrt is not None, grad_wrt=grad_wrt)
    return sym, c


@pytest.mark.parametrize("target", ["llvm", "triton"])
@pytest.mark.parametrize("fam,case", CASES, ids=IDS)
def test_forward(fam, case, target):
    if target not in case.targets:
        pytest.skip(f"{target} not listed for this case")
    z, meta = _load(fam, case)
    sym, c = _compile(case, z, target)
    assert sym.list_arguments() == meta["arguments"]
    assert sym.list_auxiliary_states() == meta["aux"]
    outs = c(*[z[f"in:{n}"] for n in c.input_names()])
    for i in range(meta["n_out"]):
        assert_close(outs[i], z[f"out:{i}"], case.rtol, case.atol,
                     f"{fam}/{case.name} output {i} ({target})")


# the Triton interpreter runs the unrolled RNN backward slowly: a sample of those in CI
GRAD = [pytest.param(fam, case, target, id=f"{i}-{target}",
                     marks=[pytest.mark.slow] if (fam, target) == ("rnn", "triton") else [])
        for i, (fam, case) in zip(IDS, CASES) if case.grad for target in ("llvm", "triton")]


@pytest.mark.parametrize("fam,case,target", GRAD)
def test_backward(fam, case, target):
    if target not in case.targets:
        pytest.skip(f"{target} not listed for this case")
    z, meta = _load(fam, case)
    wrt = [n for n in meta["arguments"] if f"grad:{n}" in z.files and n not in case.no_grad]
    sym, c = _compile(case, z, target, grad_wrt=wrt)
    heads = [z[f"head:{i}"] for i in range(len(c.head_inputs))]
    res = c(*[z[f"in:{n}"] for n in c.input_names()[:len(c.input_names()) - len(heads)]],
            *heads)
    grads = res[len(res) - len(wrt):]
    for n, g in zip(wrt, grads):
        assert_close(g, z[f"grad:{n}"], case.grad_rtol, case.grad_atol,
                     f"{fam}/{case.name} d{n} ({target})")
