"""Write golden data for custom operators (tests/data/custom_op_golden.npz) with MXNet 1.9.1.

Run with the reference venv, from the repository root:

    PY=$(../shared/oracle/setup.sh)      # or /root/.cache/mxc-oracle/bin/python
    $PY tools/make_custom_op_golden.py

The operators are tools/golden_cases/custom_ops.py's. Cases (keys prefixed by case name):

- ``mlp``: an MLP (6-8-relu-3) with ``golden_softmax`` as its output layer, trained by
  ``Module.fit`` for 2 epochs of 4 batches of 5 (SGD lr 0.5), from parameters drawn with numpy
  seed 0: ``mlp:data``, ``mlp:label``, ``mlp:init:<name>``, ``mlp:final:<name>``; and the same
  with the built-in SoftmaxOutput: ``mlp_builtin:final:<name>``.
- ``aux``: ``golden_scale_aux`` (scale=2.5) bound with ``grad_req='add'``; two rounds of
  ``forward(is_train=True)`` + ``backward(og0)``: ``aux:data``, ``aux:og0``, ``aux:out``,
  ``aux:grad`` (accumulated), ``aux:count``.
- ``two``: ``golden_two_out`` on ``a=aux:data``, ``b=aux:b`` with head gradients ``aux:og0``,
  ``aux:og1``: ``two:prod``, ``two:sq``, ``two:grad_a``, ``two:grad_b``.
- ``half``: ``golden_cast_half`` output dtype and values: ``half:data``, ``half:out``.
"""
from __future__ import annotations

import os
import sys

import mxnet as mx
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden_cases.custom_ops import define, mlp_setup, mlp_symbol

OUT = os.path.join(HERE, "..", "tests", "data", "custom_op_golden.npz")


def train_mlp(mx, builtin: bool):
    x, y, init = mlp_setup()
    it = mx.io.NDArrayIter(x, y, batch_size=5, shuffle=False, label_name="softmax_label")
    mod = mx.mod.Module(mlp_symbol(mx, builtin), data_names=["data"],
                        label_names=["softmax_label"], context=mx.cpu())
    mod.fit(it, num_epoch=2, optimizer="sgd", optimizer_params={"learning_rate": 0.5},
            arg_params={k: mx.nd.array(v) for k, v in init.items()}, allow_missing=False)
    args, _ = mod.get_params()
    return {k: v.asnumpy() for k, v in args.items()}


def aux_setup():
    rs = np.random.RandomState(1)
    return (rs.randn(3, 4).astype(np.float32), rs.randn(3, 4).astype(np.float32),
            rs.randn(3, 4).astype(np.float32), rs.randn(3, 4).astype(np.float32))


def run_aux(mx):
    """golden_scale_aux with grad_req='add': two training steps."""
    x, og0, _, _ = aux_setup()
    s = mx.sym.Custom(mx.sym.Variable("data"), op_type="golden_scale_aux", scale=2.5,
                      name="sa")
    ex = s.simple_bind(mx.cpu(), data=x.shape, grad_req="add")
    ex.arg_dict["data"][:] = x
    ex.grad_dict["data"][:] = 0
    ex.aux_dict["sa_count"][:] = 0
    for _ in range(2):
        ex.forward(is_train=True)
        ex.backward([mx.nd.array(og0)])
    return {"out": ex.outputs[0].asnumpy(), "grad": ex.grad_dict["data"].asnumpy(),
            "count": ex.aux_dict["sa_count"].asnumpy()}


def run_two(mx):
    """golden_two_out: one forward/backward with head gradients for both outputs."""
    x, og0, y, og1 = aux_setup()
    s = mx.sym.Custom(mx.sym.Variable("a"), mx.sym.Variable("b"), op_type="golden_two_out",
                      name="two")
    ex = s.simple_bind(mx.cpu(), a=x.shape, b=y.shape)
    ex.arg_dict["a"][:] = x
    ex.arg_dict["b"][:] = y
    ex.forward(is_train=True)
    ex.backward([mx.nd.array(og0), mx.nd.array(og1)])
    return {"prod": ex.outputs[0].asnumpy(), "sq": ex.outputs[1].asnumpy(),
            "grad_a": ex.grad_dict["a"].asnumpy(), "grad_b": ex.grad_dict["b"].asnumpy()}


def main():
    define(mx)
    out = {}
    x, y, init = mlp_setup()
    out["mlp:data"], out["mlp:label"] = x, y
    for k, v in init.items():
        out[f"mlp:init:{k}"] = v
    for k, v in train_mlp(mx, False).items():
        out[f"mlp:final:{k}"] = v
    for k, v in train_mlp(mx, True).items():
        out[f"mlp_builtin:final:{k}"] = v
    xa, og0, yb, og1 = aux_setup()
    out["aux:data"], out["aux:og0"], out["aux:b"], out["aux:og1"] = xa, og0, yb, og1
    for k, v in run_aux(mx).items():
        out[f"aux:{k}"] = v
    for k, v in run_two(mx).items():
        out[f"two:{k}"] = v
    xh = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    out["half:data"] = xh
    out["half:out"] = mx.nd.Custom(mx.nd.array(xh), op_type="golden_cast_half").asnumpy()
    tmp = OUT + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, OUT)
    print("wrote", OUT, len(out), "arrays")


if __name__ == "__main__":
    main()
