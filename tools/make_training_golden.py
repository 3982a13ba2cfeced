"""Write golden data for training with MXNet 1.9.1's Module API (tests/data/training/).

Run with the reference venv (see ../shared/oracle/README.md), from the repository root:

    PY=$(../shared/oracle/setup.sh)
    $PY tools/make_training_golden.py

Every case starts from parameters drawn from a fixed numpy seed (given to MXNet as
``arg_params``/``aux_params``, so no MXNet initializer or RNG is involved) and fixed data, and
writes ``<case>-symbol.json`` (MXNet's ``Symbol.save``) and ``<case>.npz``:

- ``mlp_sgd``, ``mlp_adam``, ``mlp_sgd_factor``: an MLP (10-16-relu-3, SoftmaxOutput) trained by
  ``Module.fit`` for 2 epochs of 10 batches (20 updates) with SGD (lr 0.1, momentum 0.9,
  wd 1e-4), Adam (lr 0.01, wd 1e-4) and SGD with ``FactorScheduler(step=5, factor=0.5)``
  (lr 0.2); eval_metric ``['acc', 'ce']`` and the training data as eval_data. The npz holds
  ``data``, ``label``, ``init:<name>``, ``final:<name>`` (parameters after fit), and
  ``log`` (the lines fit logged, through a logger given to the Module; times
  written as 0.000).
- ``mlp_sgd_2dev``: the ``mlp_sgd`` run on ``[cpu(0), cpu(1)]`` with kvstore 'local'
  (each device gets half of every batch; the kvstore sums gradients and runs the updates).
- ``convnet_bn``, ``resblock``, ``lstm``: one ``forward(is_train=True)`` + ``backward()`` of a
  Module: ``data``, ``label``, ``init:<name>`` (args and aux), ``output``, ``grad:<name>``
  (every parameter) and ``aux_after:<name>`` (BatchNorm's moving statistics after the step).
  ``lstm`` is ``mx.rnn.LSTMCell(8, prefix='lstm_')`` unrolled 4 steps over an Embedding.
- ``bucket_lm``: an LSTM language model (Embedding 8, LSTMCell 16, vocab 20) trained by
  ``BucketingModule`` (default bucket 8) on 24 batches of 8 sequences from 6 buckets (3..8
  steps; next token = 3 * token + 1 mod 20) with Adam (lr 0.05): ``bucket_lm-<key>-symbol.json`` per bucket, ``batch<i>_data``,
  ``batch<i>_label``, ``batch_keys``, ``init:<name>``, ``final:<name>``, and ``ce``: the
  cross-entropy of every batch's forward (before its update).
- ``ckpt_mlp``: the ``mlp_sgd`` setup trained 1 epoch and saved with
  ``save_checkpoint(prefix, 1, save_optimizer_states=True)`` (``ckpt_mlp-symbol.json``,
  ``ckpt_mlp-0001.params``, ``ckpt_mlp-0001.states``: the files MXNet users have), then trained
  one more epoch in the same process: ``ckpt_mlp.npz`` has ``final:<name>`` after epoch 2.

Deterministic: fixed seeds, MXNET_SUBGRAPH_BACKEND=NONE, npz written with fixed timestamps.
"""
from __future__ import annotations

import io
import logging
import os
import re
import warnings
import zipfile

import numpy as np

os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import mxnet as mx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "training")
SEED = 20240611

warnings.simplefilter("ignore")


def save_npz(path, arrays):
    """np.savez with fixed zip timestamps (identical bytes on every run)."""
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


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def make_logger(name):
    lg = logging.getLogger(name)
    lg.setLevel(logging.INFO)
    lg.propagate = False
    h = ListHandler()
    lg.handlers[:] = [h]
    return lg, h


def init_params(sym, shapes, rng, scale=0.3):
    """Seeded parameters for every argument that is not an input, and aux states."""
    arg_shapes, _, aux_shapes = sym.infer_shape(**shapes)
    args, auxs = {}, {}
    for n, s in zip(sym.list_arguments(), arg_shapes):
        if n in shapes:
            continue
        if n.endswith("_gamma"):
            v = 1.0 + 0.1 * rng.standard_normal(s)
        elif n.endswith(("_beta", "_bias")):
            v = 0.1 * rng.standard_normal(s)
        else:
            v = rng.uniform(-scale, scale, s)
        args[n] = v.astype(np.float32)
    for n, s in zip(sym.list_auxiliary_states(), aux_shapes):
        if n.endswith("moving_var"):
            v = 1.0 + 0.2 * rng.uniform(0, 1, s)
        else:
            v = 0.1 * rng.standard_normal(s)
        auxs[n] = v.astype(np.float32)
    return args, auxs


def nd_dict(d):
    return {k: mx.nd.array(v) for k, v in d.items()}


# --- networks -----------------------------------------------------------------------------------
def mlp():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
    act = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(act, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def convnet_bn():
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv1")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn1")
    x = mx.sym.Activation(x, act_type="relu", name="relu1")
    x = mx.sym.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    x = mx.sym.Convolution(x, kernel=(3, 3), num_filter=6, pad=(1, 1), name="conv2")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn2")
    x = mx.sym.Activation(x, act_type="relu", name="relu2")
    x = mx.sym.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type="avg", name="pool2")
    x = mx.sym.Flatten(x, name="flat")
    x = mx.sym.FullyConnected(x, num_hidden=5, name="fc")
    return mx.sym.SoftmaxOutput(x, name="softmax")


def resblock():
    data = mx.sym.Variable("data")
    x = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=4, no_bias=True,
                           name="conv0")
    x = mx.sym.BatchNorm(x, fix_gamma=False, name="bn0")
    sc = mx.sym.Activation(x, act_type="relu", name="relu0")
    y = mx.sym.Convolution(sc, kernel=(3, 3), pad=(1, 1), num_filter=4, no_bias=True,
                           name="conv1")
    y = mx.sym.BatchNorm(y, fix_gamma=False, name="bn1")
    y = mx.sym.Activation(y, act_type="relu", name="relu1")
    y = mx.sym.Convolution(y, kernel=(3, 3), pad=(1, 1), num_filter=4, no_bias=True,
                           name="conv2")
    y = mx.sym.BatchNorm(y, fix_gamma=False, name="bn2")
    z = mx.sym.Activation(y + sc, act_type="relu", name="relu2")
    z = mx.sym.Pooling(z, global_pool=True, kernel=(1, 1), pool_type="avg", name="gap")
    z = mx.sym.Flatten(z, name="flat")
    z = mx.sym.FullyConnected(z, num_hidden=3, name="fc")
    return mx.sym.SoftmaxOutput(z, name="softmax")


def lstm_net(seq_len=4, vocab=12, embed=6, hidden=8):
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("softmax_label")
    emb = mx.sym.Embedding(data, input_dim=vocab, output_dim=embed, name="embed")
    cell = mx.rnn.LSTMCell(num_hidden=hidden, prefix="lstm_")
    outputs, _ = cell.unroll(seq_len, inputs=emb, merge_outputs=True)
    pred = mx.sym.Reshape(outputs, shape=(-1, hidden))
    pred = mx.sym.FullyConnected(pred, num_hidden=vocab, name="pred")
    label = mx.sym.Reshape(label, shape=(-1,))
    return mx.sym.SoftmaxOutput(pred, label=label, name="softmax")


# --- cases --------------------------------------------------------------------------------------
def mlp_data(rng):
    x = rng.standard_normal((80, 10)).astype(np.float32)
    w = rng.standard_normal((10, 3))
    y = np.argmax(x @ w + 0.5 * rng.standard_normal((80, 3)), axis=1).astype(np.float32)
    return x, y


def run_mlp_case(name, optimizer, optimizer_params, context=None, kvstore="local"):
    rng = np.random.RandomState(SEED)
    x, y = mlp_data(rng)
    sym = mlp()
    args, auxs = init_params(sym, {"data": (8, 10), "softmax_label": (8,)}, rng)
    logger, handler = make_logger("mxc_golden_" + name)
    mod = mx.mod.Module(sym, logger=logger, context=context or mx.cpu())
    train = mx.io.NDArrayIter(x, y, batch_size=8, shuffle=False)
    val = mx.io.NDArrayIter(x, y, batch_size=8, shuffle=False)
    mod.fit(train, eval_data=val, eval_metric=["acc", "ce"], kvstore=kvstore,
            optimizer=optimizer, optimizer_params=optimizer_params,
            arg_params=nd_dict(args), aux_params=nd_dict(auxs), num_epoch=2)
    final_args, _ = mod.get_params()
    # the times vary between runs: stored as 0.000 so the file's bytes do not
    log = [re.sub(r"Time cost=[\d.]+", "Time cost=0.000", ln) for ln in handler.lines]
    out = {"data": x, "label": y, "log": np.array(log)}
    out.update({f"init:{k}": v for k, v in args.items()})
    out.update({f"final:{k}": v.asnumpy() for k, v in final_args.items()})
    sym.save(os.path.join(OUT, "mlp-symbol.json"))
    save_npz(os.path.join(OUT, name + ".npz"), out)
    print(name, handler.lines[-3:])


def run_grad_case(name, sym, data, label, shapes, rng, data_names=("data",),
                  label_names=("softmax_label",)):
    args, auxs = init_params(sym, shapes, rng)
    mod = mx.mod.Module(sym, data_names=data_names, label_names=label_names)
    mod.bind([(data_names[0], data.shape)], [(label_names[0], label.shape)])
    mod.set_params(nd_dict(args), nd_dict(auxs))
    batch = mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)])
    mod.forward(batch, is_train=True)
    mod.backward()
    out = {"data": data, "label": label, "output": mod.get_outputs()[0].asnumpy()}
    out.update({f"init:{k}": v for k, v in {**args, **auxs}.items()})
    ex = mod._exec_group.execs[0]
    for k in args:
        out[f"grad:{k}"] = ex.grad_dict[k].asnumpy()
    for k in auxs:
        out[f"aux_after:{k}"] = ex.aux_dict[k].asnumpy()
    sym.save(os.path.join(OUT, name + "-symbol.json"))
    save_npz(os.path.join(OUT, name + ".npz"), out)
    print(name, sorted(k for k in out if k.startswith("grad:")))


class ListIter(mx.io.DataIter):
    """Fixed batches with bucket keys (what the tests replay in mxc)."""

    def __init__(self, batches, default_key, batch_size):
        super().__init__(batch_size)
        self.batches = batches
        self.default_bucket_key = default_key
        self.provide_data = [mx.io.DataDesc("data", (batch_size, default_key))]
        self.provide_label = [mx.io.DataDesc("softmax_label", (batch_size, default_key))]
        self.i = 0

    def reset(self):
        self.i = 0

    def next(self):
        if self.i >= len(self.batches):
            raise StopIteration
        key, d, lb = self.batches[self.i]
        self.i += 1
        return mx.io.DataBatch([mx.nd.array(d)], [mx.nd.array(lb)], bucket_key=key,
                               provide_data=[mx.io.DataDesc("data", d.shape)],
                               provide_label=[mx.io.DataDesc("softmax_label", lb.shape)])


def run_bucketing():
    rng = np.random.RandomState(SEED + 7)
    vocab, embed, hidden, batch = 20, 8, 16, 8
    keys = [3, 4, 5, 6, 7, 8]
    order = [8, 3, 5, 4, 6, 7, 3, 8, 5, 4, 6, 7] * 2
    batches = []
    for k in order:
        # a learnable sequence: next token = (token * 3 + 1) mod vocab, with some noise
        start = rng.randint(0, vocab, size=(batch, 1))
        seq = [start]
        for _ in range(k):
            seq.append((seq[-1] * 3 + 1) % vocab)
        seq = np.concatenate(seq, axis=1)
        d = seq[:, :k].astype(np.float32)
        lb = seq[:, 1:k + 1].astype(np.float32)
        batches.append((k, d, lb))

    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        emb = mx.sym.Embedding(data, input_dim=vocab, output_dim=embed, name="embed")
        cell = mx.rnn.LSTMCell(num_hidden=hidden, prefix="lstm_")
        outputs, _ = cell.unroll(seq_len, inputs=emb, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, hidden))
        pred = mx.sym.FullyConnected(pred, num_hidden=vocab, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        pred = mx.sym.SoftmaxOutput(pred, label=label, name="softmax")
        return pred, ("data",), ("softmax_label",)

    for k in keys:
        sym_gen(k)[0].save(os.path.join(OUT, f"bucket_lm-{k}-symbol.json"))
    sym8 = sym_gen(8)[0]
    args, auxs = init_params(sym8, {"data": (batch, 8), "softmax_label": (batch, 8)}, rng,
                             scale=0.2)
    mod = mx.mod.BucketingModule(sym_gen, default_bucket_key=8)
    mod.bind([("data", (batch, 8))], [("softmax_label", (batch, 8))])
    mod.set_params(nd_dict(args), nd_dict(auxs))
    mod.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.05})
    ces = []
    it = ListIter(batches, 8, batch)
    for b in it:
        mod.forward(b, is_train=True)
        prob = mod.get_outputs()[0].asnumpy()
        lab = b.label[0].asnumpy().reshape(-1).astype(int)
        ces.append(float(-np.log(np.maximum(prob[np.arange(len(lab)), lab], 1e-10)).mean()))
        mod.backward()
        mod.update()
    final, _ = mod.get_params()
    out = {"batch_keys": np.array(order), "ce": np.array(ces)}
    for i, (k, d, lb) in enumerate(batches):
        out[f"batch{i}_data"] = d
        out[f"batch{i}_label"] = lb
    out.update({f"init:{k}": v for k, v in args.items()})
    out.update({f"final:{k}": v.asnumpy() for k, v in final.items()})
    save_npz(os.path.join(OUT, "bucket_lm.npz"), out)
    print("bucket_lm ce", np.round(ces, 3))


def run_checkpoint():
    rng = np.random.RandomState(SEED)
    x, y = mlp_data(rng)
    sym = mlp()
    args, auxs = init_params(sym, {"data": (8, 10), "softmax_label": (8,)}, rng)
    prefix = os.path.join(OUT, "ckpt_mlp")
    logger, _ = make_logger("mxc_golden_ckpt")
    mod = mx.mod.Module(sym, logger=logger)
    train = mx.io.NDArrayIter(x, y, batch_size=8, shuffle=False)
    opt = {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4}

    def save_ckpt(epoch, symbol, arg, aux):
        if epoch == 0:
            mod.save_checkpoint(prefix, 1, save_optimizer_states=True)

    mod.fit(train, optimizer="sgd", optimizer_params=opt, arg_params=nd_dict(args),
            aux_params=nd_dict(auxs), num_epoch=2, epoch_end_callback=save_ckpt)
    final, _ = mod.get_params()
    out = {"data": x, "label": y}
    out.update({f"final:{k}": v.asnumpy() for k, v in final.items()})
    save_npz(prefix + ".npz", out)
    print("ckpt_mlp written")


def main():
    os.makedirs(OUT, exist_ok=True)
    run_mlp_case("mlp_sgd", "sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4})
    run_mlp_case("mlp_adam", "adam", {"learning_rate": 0.01, "wd": 1e-4})
    run_mlp_case("mlp_sgd_factor", "sgd",
                 {"learning_rate": 0.2,
                  "lr_scheduler": mx.lr_scheduler.FactorScheduler(step=5, factor=0.5)})
    run_mlp_case("mlp_sgd_2dev", "sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4},
                 context=[mx.cpu(0), mx.cpu(1)])

    rng = np.random.RandomState(SEED + 1)
    x = rng.standard_normal((4, 1, 12, 12)).astype(np.float32)
    y = rng.randint(0, 5, size=(4,)).astype(np.float32)
    run_grad_case("convnet_bn", convnet_bn(), x, y,
                  {"data": x.shape, "softmax_label": y.shape}, rng)
    rng = np.random.RandomState(SEED + 2)
    x = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
    y = rng.randint(0, 3, size=(4,)).astype(np.float32)
    run_grad_case("resblock", resblock(), x, y, {"data": x.shape, "softmax_label": y.shape},
                  rng)
    rng = np.random.RandomState(SEED + 3)
    x = rng.randint(0, 12, size=(3, 4)).astype(np.float32)
    y = rng.randint(0, 12, size=(3, 4)).astype(np.float32)
    run_grad_case("lstm", lstm_net(), x, y, {"data": x.shape, "softmax_label": y.shape}, rng)
    run_bucketing()
    run_checkpoint()


if __name__ == "__main__":
    main()
