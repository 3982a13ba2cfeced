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


def resnet18_symbol(mx, num_classes=10):
    """ResNet-18 for CIFAR-style 3x32x32 inputs: a 3x3 stem (no max-pool), four stages of two
    basic blocks (64, 128, 256, 512 filters; stride 2 from the second stage on, with a 1x1
    convolution + BatchNorm shortcut where the shape changes), global average pooling, one
    FullyConnected layer (11.2 M parameters)."""
    eps, mom = 2e-5, 0.9

    def conv_bn(x, filters, kernel, stride, name, act=True):
        pad = (kernel // 2, kernel // 2)
        x = mx.sym.Convolution(x, num_filter=filters, kernel=(kernel, kernel),
                               stride=(stride, stride), pad=pad, no_bias=True,
                               name=name + "_conv")
        x = mx.sym.BatchNorm(x, fix_gamma=False, eps=eps, momentum=mom, name=name + "_bn")
        return mx.sym.Activation(x, act_type="relu", name=name + "_relu") if act else x

    def block(x, filters, stride, name, project):
        y = conv_bn(x, filters, 3, stride, name + "_a")
        y = conv_bn(y, filters, 3, 1, name + "_b", act=False)
        sc = conv_bn(x, filters, 1, stride, name + "_sc", act=False) if project else x
        return mx.sym.Activation(y + sc, act_type="relu", name=name + "_out")

    x = conv_bn(mx.sym.Variable("data"), 64, 3, 1, "stem")
    width = 64
    for i, filters in enumerate((64, 128, 256, 512)):
        for j in range(2):
            stride = 2 if (i > 0 and j == 0) else 1
            x = block(x, filters, stride, f"stage{i + 1}_unit{j + 1}",
                      project=stride != 1 or width != filters)
            width = filters
    x = mx.sym.Pooling(x, global_pool=True, pool_type="avg", kernel=(1, 1), name="pool")
    x = mx.sym.Flatten(x, name="flatten")
    x = mx.sym.FullyConnected(x, num_hidden=num_classes, name="fc")
    return mx.sym.SoftmaxOutput(x, name="softmax")


LSTM60 = {"vocab": 3000, "hidden": 200, "layers": 2, "seq_len": 60, "batch": 32}


def lstm_lm_symbol(mx, seq_len, vocab, hidden, layers, fused=False):
    """An LSTM language model as MXNet users write it: ``mx.rnn`` cells unrolled over
    ``seq_len`` steps (or MXNet's fused RNN op with ``fused=True``), a softmax over the
    vocabulary at every step; ``data`` and ``softmax_label`` are (batch, seq_len)."""
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("softmax_label")
    embed = mx.sym.Embedding(data, input_dim=vocab, output_dim=hidden, name="embed")
    if fused:
        cell = mx.rnn.FusedRNNCell(hidden, num_layers=layers, mode="lstm", prefix="lstm_")
    else:
        cell = mx.rnn.SequentialRNNCell()
        for i in range(layers):
            cell.add(mx.rnn.LSTMCell(num_hidden=hidden, prefix=f"lstm_l{i}_"))
    cell.reset()
    outputs, _ = cell.unroll(seq_len, inputs=embed, merge_outputs=True)
    pred = mx.sym.Reshape(outputs, shape=(-1, hidden))
    pred = mx.sym.FullyConnected(pred, num_hidden=vocab, name="pred")
    label = mx.sym.Reshape(label, shape=(-1,))
    return mx.sym.SoftmaxOutput(pred, label, name="softmax")


def lstm60_symbol(mx):
    """A 2-layer LSTM language model (hidden 200, vocabulary 3000) unrolled over 60 steps."""
    return lstm_lm_symbol(mx, LSTM60["seq_len"], LSTM60["vocab"], LSTM60["hidden"],
                          LSTM60["layers"])


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


# Training steps (passes over every bucket) run before timing: every system reaches its
# steady state, including mxc's runtime, which times each kernel and library call's ways of
# threading over their first 9 calls (mxc.codegen.parallel._Chooser). With 3 warm-up steps a
# 0.3 s timed run of the LSTM LM (about two passes) was mostly those trials.
WARMUP_STEPS = 12


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
        for _ in range(WARMUP_STEPS):
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
    def sym_gen(seq_len):
        out = lstm_lm_symbol(mx, seq_len, LM["vocab"], LM["hidden"], LM["layers"], fused)
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
        for _ in range(WARMUP_STEPS):        # compile / bind every bucket, then settle
            self.step()
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


# The first-step rows (``python -m bench --compile``): model -> (symbol builder, data shape
# and label shape without the batch, classes, default batch, whether the data are token ids
# drawn below ``classes`` rather than normal floats).
FIRST_STEP = {
    "mlp": (mlp_symbol, (784,), (), 10, 64, False),
    "lenet": (lenet_symbol, (1, 28, 28), (), 10, 64, False),
    "resnet18": (resnet18_symbol, (3, 32, 32), (), 10, 32, False),
    "lstm60": (lstm60_symbol, (LSTM60["seq_len"],), (LSTM60["seq_len"],), LSTM60["vocab"],
               LSTM60["batch"], True),
}


class FirstStep:
    """Wall time from nothing to the end of the first training step of a model, in this
    (fresh) process: build the symbol, ``Module.bind`` (for training), ``init_params``,
    ``init_optimizer`` (SGD with momentum), one ``forward_backward`` + ``update`` and
    ``mx.nd.waitall()``. The driver runs it once per process; ``info()`` gives the phases."""

    def __init__(self, mx):
        self.mx = mx

    def setup(self, model="mlp", batch=None, **_):
        build, dshape, lshape, classes, default_batch, ids = FIRST_STEP[model]
        self.build, self.batch_size = build, batch or default_batch
        self.dshape = (self.batch_size,) + tuple(dshape)
        self.lshape = (self.batch_size,) + tuple(lshape)
        rng = np.random.default_rng(0)
        if ids:
            data = rng.integers(0, classes, self.dshape).astype(np.float32)
        else:
            data = rng.standard_normal(self.dshape).astype(np.float32)
        self.data = data
        self.label = rng.integers(0, classes, self.lshape).astype(np.float32)
        self.phases = {}
        self.preload()
        return {"samples": self.batch_size}

    def preload(self):
        """Imports the first step would trigger lazily (imports are not part of the time)."""
        mx = self.mx
        for m in ("mod", "init", "io", "optimizer"):
            getattr(mx, m)

    def step(self):
        import sys
        import time
        mx = self.mx
        before = set(sys.modules)
        t0 = time.perf_counter()
        sym = self.build(mx)
        mod = mx.mod.Module(sym, context=mx.cpu())
        mod.bind(data_shapes=[("data", self.dshape)],
                 label_shapes=[("softmax_label", self.lshape)], for_training=True)
        t1 = time.perf_counter()
        mod.init_params(initializer=mx.init.Xavier(magnitude=2.0))
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.01,
                                                              "momentum": 0.9})
        t2 = time.perf_counter()
        batch = mx.io.DataBatch(data=[mx.nd.array(self.data)],
                                label=[mx.nd.array(self.label)])
        mod.forward_backward(batch)
        mod.update()
        mx.nd.waitall()
        t3 = time.perf_counter()
        self.mod = mod
        self.phases = {"bind_s": t1 - t0, "init_s": t2 - t1, "step_s": t3 - t2}
        # the system's own modules the step imported (preload() should have): their import
        # time is in the figures
        own = mx.__name__.split(".")[0]
        self.late_imports = sorted(m for m in set(sys.modules) - before
                                   if m.split(".")[0] in (own, "runtime"))

    def sync(self):
        self.mx.nd.waitall()

    def info(self):
        return {**self.phases, "late_imports": list(getattr(self, "late_imports", []))}
