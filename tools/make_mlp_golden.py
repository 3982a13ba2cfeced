"""Write golden data for MLP inference (and one backward pass) from the real MXNet 1.9.1.

Run with the reference venv (see ../shared/oracle/README.md):

    PY=$(../shared/oracle/setup.sh)
    $PY -m pip install scikit-learn    # optional: real digits instead of a seeded random batch
    $PY tools/make_mlp_golden.py

Nothing is trained. The script builds ``mlp_digits`` (64-32-16-10: FullyConnected fc1/fc2/fc3,
Activation relu1/relu2, SoftmaxOutput softmax), fills its parameters from a fixed numpy seed,
and writes into tests/data/golden/:

- ``mlp_digits-symbol.json`` and ``mlp_digits-0000.params``: written by ``Module.save_checkpoint``
  (the files MXNet users have on disk; params keys are ``arg:<name>`` / ``aux:<name>``);
- ``mlp_digits.npz`` with
    ``data`` (N, 64) float32 and ``label`` (N,) float32: the batch (sklearn's digits, pixels / 16,
    if sklearn imports, else seeded uniform noise; ``data_source`` says which),
    ``arg:<name>``: the parameter values (same as in the .params file),
    ``output``: ``Module.forward(is_train=False)`` output (softmax probabilities),
    ``output_train``: the output of ``forward(is_train=True)`` on a simple_bind executor,
    ``grad:<name>``: gradients of every argument (data and softmax_label included) after
      that forward + ``backward()`` with grad_req='write' (SoftmaxOutput's head gradient),
    ``internal:<output name>``: every non-variable output of ``get_internals()``
      (``fc1_output``, ``relu1_output``, ... ``softmax_output``) from an is_train=False forward.

Deterministic: fixed seeds, and the .npz is written with fixed zip timestamps.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import warnings
import zipfile

import numpy as np

# MXNet 1.9.1's oneDNN subgraph backend (on by default in this build) fuses FullyConnected+relu and
# then returns wrong values for fc1_output / relu1_output ... when a Group of get_internals()
# outputs is bound (relu1_output was off by up to 1.6 here). Plain executors are right.
os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE")

import mxnet as mx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "golden")
PREFIX = os.path.join(OUT, "mlp_digits")
BATCH = 32
SEED = 20240601

warnings.simplefilter("ignore")
logging.disable(logging.WARNING)


def build_symbol():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data=data, name="fc1", num_hidden=32)
    act1 = mx.sym.Activation(data=fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(data=act1, name="fc2", num_hidden=16)
    act2 = mx.sym.Activation(data=fc2, name="relu2", act_type="relu")
    fc3 = mx.sym.FullyConnected(data=act2, name="fc3", num_hidden=10)
    return mx.sym.SoftmaxOutput(data=fc3, name="softmax")


def load_batch(rng):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        x = rng.uniform(0.0, 1.0, size=(BATCH, 64)).astype(np.float32)
        y = rng.randint(0, 10, size=(BATCH,)).astype(np.float32)
        print(
            "warning: sklearn not importable; using seeded noise, not the committed digits batch",
            file=sys.stderr,
        )
        return x, y, "seeded uniform noise (sklearn not importable)"
    digits = load_digits()
    idx = rng.permutation(len(digits.target))[:BATCH]
    x = (digits.data[idx] / 16.0).astype(np.float32)
    y = digits.target[idx].astype(np.float32)
    return x, y, f"sklearn.datasets.load_digits, rows {idx.tolist()}, pixels / 16"


def make_params(sym, rng):
    """Glorot-uniform weights and small nonzero biases, in list_arguments order."""
    arg_shapes, _, _ = sym.infer_shape(data=(BATCH, 64), softmax_label=(BATCH,))
    params = {}
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name in ("data", "softmax_label"):
            continue
        if name.endswith("_weight"):
            fan_out, fan_in = shape
            lim = np.sqrt(6.0 / (fan_in + fan_out))
            params[name] = rng.uniform(-lim, lim, size=shape).astype(np.float32)
        else:
            params[name] = rng.uniform(-0.1, 0.1, size=shape).astype(np.float32)
    return params


def check_against_numpy(x, y, p, internal, grads):
    """The MXNet numbers must match a plain numpy MLP (float64), or the golden data is wrong."""
    w = {k: v.astype(np.float64) for k, v in p.items()}
    fc1 = x @ w["fc1_weight"].T + w["fc1_bias"]
    r1 = np.maximum(fc1, 0)
    fc2 = r1 @ w["fc2_weight"].T + w["fc2_bias"]
    r2 = np.maximum(fc2, 0)
    fc3 = r2 @ w["fc3_weight"].T + w["fc3_bias"]
    e = np.exp(fc3 - fc3.max(1, keepdims=True))
    sm = e / e.sum(1, keepdims=True)
    ref = {
        "fc1_output": fc1,
        "relu1_output": r1,
        "fc2_output": fc2,
        "relu2_output": r2,
        "fc3_output": fc3,
        "softmax_output": sm,
    }
    for k, v in ref.items():
        assert np.allclose(internal[k], v, atol=1e-5), k
    # SoftmaxOutput ignores the head gradient: d fc3 = softmax - onehot(label)
    # (grad_scale=1, normalization='null': no division by the batch size)
    g3 = sm - np.eye(10)[y.astype(int)]
    g2 = (g3 @ w["fc3_weight"]) * (fc2 > 0)
    g1 = (g2 @ w["fc2_weight"]) * (fc1 > 0)
    ref_grads = {
        "fc3_weight": g3.T @ r2,
        "fc3_bias": g3.sum(0),
        "fc2_weight": g2.T @ r1,
        "fc2_bias": g2.sum(0),
        "fc1_weight": g1.T @ x,
        "fc1_bias": g1.sum(0),
        "data": g1 @ w["fc1_weight"],
        "softmax_label": np.zeros_like(y),
    }
    for k, v in ref_grads.items():
        assert np.allclose(grads[k], v, atol=1e-5), k


def save_npz(path, arrays):
    """np.savez, but with fixed zip timestamps so the file's bytes do not change between runs."""
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    os.replace(tmp, path)


def main():
    os.makedirs(OUT, exist_ok=True)
    mx.random.seed(SEED)
    rng = np.random.RandomState(SEED)
    x, y, source = load_batch(rng)

    with mx.name.NameManager():
        sym = build_symbol()
    params = make_params(sym, rng)
    arg_params = {k: mx.nd.array(v) for k, v in params.items()}

    # --- Module inference, and the checkpoint files
    mod = mx.mod.Module(sym, data_names=["data"], label_names=["softmax_label"], context=mx.cpu())
    mod.bind(
        data_shapes=[("data", (BATCH, 64))],
        label_shapes=[("softmax_label", (BATCH,))],
        for_training=False,
    )
    mod.set_params(arg_params, {})
    batch = mx.io.DataBatch(data=[mx.nd.array(x)], label=[mx.nd.array(y)])
    mod.forward(batch, is_train=False)
    output = mod.get_outputs()[0].asnumpy()
    mod.save_checkpoint(PREFIX, 0)

    # --- forward(is_train=True) + backward on a simple_bind executor, grads of every argument
    exe = sym.simple_bind(mx.cpu(), grad_req="write", data=(BATCH, 64), softmax_label=(BATCH,))
    for name, arr in exe.arg_dict.items():
        if name == "data":
            arr[:] = x
        elif name == "softmax_label":
            arr[:] = y
        else:
            arr[:] = params[name]
    exe.forward(is_train=True)
    output_train = exe.outputs[0].asnumpy()
    exe.backward()
    grads = {name: g.asnumpy() for name, g in exe.grad_dict.items() if g is not None}

    # --- internals
    internals = sym.get_internals()
    outs = [o for o in internals.list_outputs() if o.endswith("_output")]
    group = mx.sym.Group([internals[o] for o in outs])
    iexe = group.simple_bind(mx.cpu(), grad_req="null", data=(BATCH, 64), softmax_label=(BATCH,))
    for name, arr in iexe.arg_dict.items():
        arr[:] = x if name == "data" else y if name == "softmax_label" else params[name]
    iexe.forward(is_train=False)
    internal = {o: a.asnumpy() for o, a in zip(outs, iexe.outputs)}

    # sanity: the checkpoint loads back to the same values, and the outputs agree
    _, ck_args, ck_aux = mx.model.load_checkpoint(PREFIX, 0)
    assert not ck_aux and sorted(ck_args) == sorted(params)
    for k, v in params.items():
        assert np.array_equal(ck_args[k].asnumpy(), v)
    assert np.allclose(output, output_train, atol=1e-6)
    assert np.allclose(internal["softmax_output"], output, atol=1e-6)
    check_against_numpy(x, y, params, internal, grads)

    arrays = {
        "data": x,
        "label": y,
        "output": output,
        "output_train": output_train,
        "data_source": np.array(source),
        "mxnet_version": np.array(mx.__version__),
        "argument_names": np.array(sym.list_arguments()),
    }
    arrays.update({f"arg:{k}": v for k, v in params.items()})
    arrays.update({f"grad:{k}": v for k, v in grads.items()})
    arrays.update({f"internal:{k}": v for k, v in internal.items()})
    save_npz(PREFIX + ".npz", arrays)

    for suffix in ("-symbol.json", "-0000.params", ".npz"):
        p = PREFIX + suffix
        print(os.path.relpath(p, ROOT), os.path.getsize(p))
    acc = float((output.argmax(1) == y).mean())
    print("data:", source.split(",")[0], "| untrained accuracy", acc, "| grads:", sorted(grads))


if __name__ == "__main__":
    sys.exit(main())
