"""Workloads written against MXNet's API; the mxc worker runs them with ``import mxc as mx``,
the MXNet worker with ``import mxnet as mx`` (same code, two systems)."""
import numpy as np


def chain_symbol(mx):
    # 8 elementwise ops with sigmoid and tanh
    x = mx.sym.Variable("x")
    y = mx.sym.sigmoid(x) * 2.0
    y = mx.sym.tanh(y) + 1.0
    y = y * x
    y = mx.sym.exp(y * -0.1)
    y = mx.sym.abs(y - x)
    return y


def tiny_symbol(mx, n_ops=50):
    x = mx.sym.Variable("x")
    w = mx.sym.Variable("w")
    y = x
    kinds = ["add", "mul", "tanh", "relu", "sub"]
    for i in range(n_ops):
        k = kinds[i % len(kinds)]
        if k == "add":
            y = y + w
        elif k == "mul":
            y = y * 0.5
        elif k == "tanh":
            y = mx.sym.tanh(y)
        elif k == "relu":
            y = mx.sym.relu(y)
        else:
            y = y - w
    return y


def mlp_symbol(mx):
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=128, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(net, num_hidden=64, name="fc2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc3")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def lenet_symbol(mx):
    data = mx.sym.Variable("data")
    c1 = mx.sym.Convolution(data, kernel=(5, 5), num_filter=20, name="conv1")
    a1 = mx.sym.Activation(c1, act_type="tanh", name="tanh1")
    p1 = mx.sym.Pooling(a1, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
    c2 = mx.sym.Convolution(p1, kernel=(5, 5), num_filter=50, name="conv2")
    a2 = mx.sym.Activation(c2, act_type="tanh", name="tanh2")
    p2 = mx.sym.Pooling(a2, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool2")
    f = mx.sym.Flatten(p2, name="flatten")
    fc1 = mx.sym.FullyConnected(f, num_hidden=500, name="fc1")
    a3 = mx.sym.Activation(fc1, act_type="tanh", name="tanh3")
    fc2 = mx.sym.FullyConnected(a3, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def amp_symbol(mx, build, target_dtype="bfloat16"):
    """``build``'s symbol converted by ``mx.contrib.amp.convert_symbol`` (the bf16 rows).

    MXNet 1.9.1's Module cannot infer the dtype of a parameter that only feeds an
    ``amp_cast`` ("InferType pass cannot decide dtypes"), so for MXNet the parameters are
    marked float32 (``__dtype__``), as ``convert_model`` would from the parameter arrays."""
    import importlib
    amp = importlib.import_module(mx.__name__ + ".contrib.amp")
    sym = amp.convert_symbol(build(mx), target_dtype=target_dtype)
    if mx.__name__ == "mxnet":
        params = set(sym.list_arguments()) - {"data", "softmax_label"}
        for node in sym.get_internals():
            if node.name in params and node.attr("__dtype__") is None:
                node._set_attr(__dtype__="0")
    return sym


def mlp_bf16_symbol(mx):
    return amp_symbol(mx, mlp_symbol)


def lenet_bf16_symbol(mx):
    return amp_symbol(mx, lenet_symbol)


class SymbolForward:
    """Forward of a symbol bound once (inference), timed per call."""

    def __init__(self, mx, build):
        self.mx, self.build = mx, build

    def setup(self, n=1 << 20, **_):
        mx = self.mx
        sym = self.build(mx)
        shapes = {"x": (n,)}
        if "w" in sym.list_arguments():
            shapes["w"] = (n,)
        self.exe = sym.simple_bind(mx.cpu(), grad_req="null", **shapes)
        rng = np.random.default_rng(0)
        for k, a in self.exe.arg_dict.items():
            a[:] = rng.standard_normal(a.shape).astype(np.float32)
        self.step()
        self.sync()
        return {"bytes": 8 * n + (4 * n if "w" in shapes else 0), "elements": n}

    def step(self):
        self.exe.forward(is_train=False)

    def sync(self):
        self.exe.outputs[0].wait_to_read()


class ModuleTraining:
    """Module.forward_backward + update on a fixed batch (SGD with momentum)."""

    def __init__(self, mx, build, data_shape):
        self.mx, self.build, self.data_shape = mx, build, data_shape

    def setup(self, batch=64, **_):
        mx = self.mx
        sym = self.build(mx)
        shape = (batch,) + tuple(self.data_shape)
        mod = mx.mod.Module(sym, context=mx.cpu())
        mod.bind(data_shapes=[("data", shape)], label_shapes=[("softmax_label", (batch,))])
        mod.init_params(initializer=mx.init.Xavier(magnitude=2.0))
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.01,
                                                              "momentum": 0.9})
        rng = np.random.default_rng(0)
        data = mx.nd.array(rng.standard_normal(shape).astype(np.float32))
        label = mx.nd.array(rng.integers(0, 10, batch).astype(np.float32))
        self.batch = mx.io.DataBatch(data=[data], label=[label])
        self.mod = mod
        self.samples = batch
        for _ in range(3):
            self.step()
        self.sync()
        return {"samples": batch, **self.memory()}

    def step(self):
        self.mod.forward_backward(self.batch)
        self.mod.update()

    def sync(self):
        for a in self.mod.get_outputs():
            a.wait_to_read()

    def memory(self):
        return {}


LM = {"vocab": 1000, "hidden": 200, "layers": 2, "batch": 32,
      "buckets": [10, 20, 30, 40, 50, 60]}


def lstm_sym_gen(mx, fused=False):
    """The LSTM language model as MXNet users write it (mx.rnn cells, unrolled per bucket) or
    with MXNet's fused RNN op (``fused=True``)."""
    v, h, nl = LM["vocab"], LM["hidden"], LM["layers"]

    def sym_gen(seq_len):
        data = mx.sym.Variable("data")
        label = mx.sym.Variable("softmax_label")
        embed = mx.sym.Embedding(data, input_dim=v, output_dim=h, name="embed")
        if fused:
            cell = mx.rnn.FusedRNNCell(h, num_layers=nl, mode="lstm", prefix="lstm_")
        else:
            cell = mx.rnn.SequentialRNNCell()
            for i in range(nl):
                cell.add(mx.rnn.LSTMCell(num_hidden=h, prefix=f"lstm_l{i}_"))
        cell.reset()
        outputs, _ = cell.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.Reshape(outputs, shape=(-1, h))
        pred = mx.sym.FullyConnected(pred, num_hidden=v, name="pred")
        label = mx.sym.Reshape(label, shape=(-1,))
        out = mx.sym.SoftmaxOutput(pred, label, name="softmax")
        return out, ("data",), ("softmax_label",)
    return sym_gen


class BucketingLM:
    """BucketingModule training over batches cycling through the buckets (tokens/s)."""

    def __init__(self, mx, fused=False):
        self.mx, self.fused = mx, fused

    def setup(self, **_):
        mx = self.mx
        b, buckets = LM["batch"], LM["buckets"]
        mod = mx.mod.BucketingModule(lstm_sym_gen(mx, self.fused),
                                     default_bucket_key=max(buckets), context=mx.cpu())
        mod.bind(data_shapes=[("data", (b, max(buckets)))],
                 label_shapes=[("softmax_label", (b, max(buckets)))])
        mod.init_params(initializer=mx.init.Xavier(magnitude=2.0))
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.01,
                                                              "momentum": 0.9})
        rng = np.random.default_rng(0)
        self.batches = []
        for t in buckets:
            d = mx.nd.array(rng.integers(0, LM["vocab"], (b, t)).astype(np.float32))
            lab = mx.nd.array(rng.integers(0, LM["vocab"], (b, t)).astype(np.float32))
            self.batches.append(mx.io.DataBatch(
                data=[d], label=[lab], bucket_key=t,
                provide_data=[mx.io.DataDesc("data", (b, t))],
                provide_label=[mx.io.DataDesc("softmax_label", (b, t))]))
        self.mod = mod
        for batch in self.batches:           # compile / bind every bucket once
            self._train(batch)
        self.sync()
        return {"tokens": b * sum(buckets)}

    def _train(self, batch):
        self.mod.forward_backward(batch)
        self.mod.update()

    def step(self):                          # one pass over every bucket
        for batch in self.batches:
            self._train(batch)

    def sync(self):
        for a in self.mod.get_outputs():
            a.wait_to_read()
