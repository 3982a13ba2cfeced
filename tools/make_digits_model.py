"""Bundle the digits data set and an MXNet-trained model (run with the oracle python).

    $(../shared/oracle/setup.sh) tools/make_digits_model.py

Writes mxc/data/digits.npz (scikit-learn's 8x8 digits: 1797 images, pixel values 0..16, as
uint8, with a fixed train/test split) and mxc/data/digits_mlp-symbol.json /
digits_mlp-0010.params (an MLP 64-64-32-10 trained by MXNet 1.9.1's Module.fit), plus
mxc/data/digits_mlp-mxnet.npz with MXNet's test-set probabilities and accuracy.
"""
import os

import mxnet as mx
import numpy as np
from sklearn.datasets import load_digits

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mxc", "data")
os.makedirs(OUT, exist_ok=True)

d = load_digits()
x = d.images.astype(np.uint8)               # (1797, 8, 8), 0..16
y = d.target.astype(np.uint8)
rng = np.random.RandomState(0)
perm = rng.permutation(len(x))
n_test = 297
test, train = perm[:n_test], perm[n_test:]
np.savez_compressed(os.path.join(OUT, "digits.npz"), x_train=x[train], y_train=y[train],
                    x_test=x[test], y_test=y[test])

mx.random.seed(0)
np.random.seed(0)
data = mx.sym.Variable("data")
net = mx.sym.FullyConnected(data, num_hidden=64, name="fc1")
net = mx.sym.Activation(net, act_type="relu", name="relu1")
net = mx.sym.FullyConnected(net, num_hidden=32, name="fc2")
net = mx.sym.Activation(net, act_type="relu", name="relu2")
net = mx.sym.FullyConnected(net, num_hidden=10, name="fc3")
net = mx.sym.SoftmaxOutput(net, name="softmax")

xf = lambda a: (a.reshape(len(a), 64) / 16.0).astype(np.float32)  # noqa: E731
train_iter = mx.io.NDArrayIter(xf(x[train]), y[train].astype(np.float32), batch_size=50,
                               shuffle=True)
mod = mx.mod.Module(net, context=mx.cpu())
mod.fit(train_iter, num_epoch=10, optimizer="sgd",
        optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
        initializer=mx.init.Xavier(magnitude=2.0), eval_metric="acc")
prefix = os.path.join(OUT, "digits_mlp")
mod.save_checkpoint(prefix, 10)
test_iter = mx.io.NDArrayIter(xf(x[test]), y[test].astype(np.float32), batch_size=99)
prob = mod.predict(test_iter).asnumpy()
acc = float((prob.argmax(1) == y[test]).mean())
print("MXNet test accuracy", acc)
np.savez_compressed(prefix + "-mxnet.npz", prob=prob, accuracy=np.float64(acc))
