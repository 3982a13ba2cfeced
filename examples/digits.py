"""Digits: train a convnet with MXNet's Module API, compiled by mxc, on real data.

    python examples/digits.py [--epochs 8] [--target llvm|triton] [--out out/digits]

1. Trains a small convnet (Convolution, BatchNorm, Pooling, Dropout, FullyConnected,
   SoftmaxOutput) on scikit-learn's 8x8 digits (bundled in mxc/data) with ``Module.fit``:
   MXNet's log lines (Speedometer, Train-/Validation- metrics, Time cost) and a progress bar,
   a checkpoint per epoch (``prefix-symbol.json``, ``prefix-%04d.params``, ``.states``).
2. Reloads the last checkpoint with ``Module.load`` and scores it on the held-out test set.
3. Runs a model MXNet 1.9.1 trained (mxc/data/digits_mlp-*) and checks mxc predicts what MXNet
   predicted.
"""
import argparse
import logging
import os
import sys
import time

import numpy as np

import mxc as mx

DATA = os.path.join(os.path.dirname(mx.__file__), "data")


def convnet():
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=16, name="conv1")
    net = mx.sym.BatchNorm(net, fix_gamma=False, name="bn1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
    net = mx.sym.Convolution(net, kernel=(3, 3), pad=(1, 1), num_filter=32, name="conv2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool2")
    net = mx.sym.Flatten(net, name="flatten")
    net = mx.sym.FullyConnected(net, num_hidden=64, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu3")
    net = mx.sym.Dropout(net, p=0.2, name="drop1")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def load_digits():
    d = np.load(os.path.join(DATA, "digits.npz"))
    prep = lambda a: (a.reshape(len(a), 1, 8, 8) / 16.0).astype(np.float32)  # noqa: E731
    return prep(d["x_train"]), d["y_train"].astype(np.float32), \
        prep(d["x_test"]), d["y_test"].astype(np.float32)


def train(args):
    x_train, y_train, x_test, y_test = load_digits()
    n_val = 200
    train_iter = mx.io.NDArrayIter(x_train[n_val:], y_train[n_val:], args.batch, shuffle=True)
    val_iter = mx.io.NDArrayIter(x_train[:n_val], y_train[:n_val], args.batch)
    mod = mx.mod.Module(convnet(), context=mx.cpu())
    n_batches = (len(x_train) - n_val + args.batch - 1) // args.batch
    t0 = time.time()
    mod.fit(train_iter, eval_data=val_iter, eval_metric="acc", num_epoch=args.epochs,
            optimizer="sgd", optimizer_params={"learning_rate": 0.05, "momentum": 0.9,
                                               "wd": 1e-4},
            initializer=mx.init.Xavier(magnitude=2.0),
            batch_end_callback=[mx.callback.Speedometer(args.batch, frequent=10),
                                mx.callback.ProgressBar(total=n_batches)],
            epoch_end_callback=mx.callback.module_checkpoint(mod, args.out,
                                                             save_optimizer_states=True))
    train_s = time.time() - t0

    # reload the last checkpoint and score it on data it never saw
    loaded = mx.mod.Module.load(args.out, args.epochs, load_optimizer_states=True)
    test_iter = mx.io.NDArrayIter(x_test, y_test, args.batch)
    loaded.bind(data_shapes=test_iter.provide_data, label_shapes=test_iter.provide_label,
                for_training=False)
    (name, acc), = loaded.score(test_iter, "acc")
    print(f"test {name} of the reloaded checkpoint {args.out}-{args.epochs:04d}.params: "
          f"{acc:.4f} ({len(x_test)} images; training took {train_s:.1f} s)")
    return acc


def mxnet_trained_model():
    d = np.load(os.path.join(DATA, "digits.npz"))
    x = (d["x_test"].reshape(len(d["x_test"]), 64) / 16.0).astype(np.float32)
    sym, arg_params, aux_params = mx.model.load_checkpoint(os.path.join(DATA, "digits_mlp"), 10)
    exe = sym.simple_bind(mx.cpu(), data=x.shape, grad_req="null")
    exe.copy_params_from(arg_params, aux_params)
    prob = exe.forward(is_train=False, data=x)[0].asnumpy()
    ref = np.load(os.path.join(DATA, "digits_mlp-mxnet.npz"))
    diff = float(np.abs(prob - ref["prob"]).max())
    acc = float((prob.argmax(1) == d["y_test"]).mean())
    print(f"MXNet-trained MLP run by mxc: accuracy {acc:.4f} (MXNet 1.9.1: "
          f"{float(ref['accuracy']):.4f}), max |p - p_mxnet| = {diff:.1e}")
    return diff


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--target", default="llvm", choices=["llvm", "triton"])
    p.add_argument("--out", default=os.path.join("out", "digits"))
    args = p.parse_args(argv)
    if args.target == "triton":
        os.environ["MXC_TARGET"] = "triton"
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mx.random.seed(42)
    np.random.seed(42)
    acc = train(args)
    diff = mxnet_trained_model()
    ok = acc >= 0.95 and diff < 1e-4
    print("OK" if ok else "FAILED: accuracy below 0.95 or predictions differ from MXNet's")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
