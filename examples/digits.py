"""Digits: an MXNet-trained MLP compiled by mxc, run on real data (scikit-learn's 8x8 digits).

    python examples/digits.py [--target llvm|triton] [--batch 64]

Loads the checkpoint MXNet 1.9.1 wrote (mxc/data/digits_mlp-symbol.json, -0010.params) with
the MXNet API, binds it with simple_bind, runs the compiled forward pass over the test set and
reports accuracy and the largest difference from MXNet's own test-set probabilities.
"""
import argparse
import os
import sys
import time

import numpy as np

import mxc as mx

DATA = os.path.join(os.path.dirname(mx.__file__), "data")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default="llvm", choices=["llvm", "triton"])
    p.add_argument("--batch", type=int, default=99)
    args = p.parse_args(argv)
    if args.target == "triton":
        os.environ["MXC_TARGET"] = "triton"

    d = np.load(os.path.join(DATA, "digits.npz"))
    x = (d["x_test"].reshape(len(d["x_test"]), 64) / 16.0).astype(np.float32)
    y = d["y_test"]
    sym = mx.sym.load(os.path.join(DATA, "digits_mlp-symbol.json"))
    params = mx.nd.load(os.path.join(DATA, "digits_mlp-0010.params"))
    arg_params = {k[4:]: v for k, v in params.items() if k.startswith("arg:")}

    t0 = time.perf_counter()
    exe = sym.simple_bind(mx.cpu(), data=(args.batch, 64), grad_req="null")
    exe.copy_params_from(arg_params, allow_extra_params=False)
    probs = []
    for i in range(0, len(x), args.batch):
        xb = x[i:i + args.batch]
        n = len(xb)
        if n < args.batch:
            xb = np.concatenate([xb, np.zeros((args.batch - n, 64), np.float32)])
        probs.append(exe.forward(is_train=False, data=xb)[0].asnumpy()[:n])
    prob = np.concatenate(probs)
    dt = time.perf_counter() - t0
    acc = float((prob.argmax(1) == y).mean())
    ref = np.load(os.path.join(DATA, "digits_mlp-mxnet.npz"))
    diff = float(np.abs(prob - ref["prob"]).max())
    print(f"digits test set: {len(x)} images, accuracy {acc:.4f} "
          f"(MXNet 1.9.1: {float(ref['accuracy']):.4f}), max |p - p_mxnet| = {diff:.2e}, "
          f"{dt:.2f} s including compilation ({args.target})")
    c = exe._plan("infer")[0]
    print(f"compiled: {len(c.kernels)} kernels + {sum(s.kind == 'extern' for s in c.program.steps)}"
          f" library calls, arena {c.peak_bytes} bytes")
    return 0 if diff < 1e-4 and acc == float(ref["accuracy"]) else 1


if __name__ == "__main__":
    sys.exit(main())
