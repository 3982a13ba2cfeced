"""Benchmark worker: PyTorch eager (``--mode eager``) or torch.compile (``--mode compile``)."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

from bench.protocol import serve  # noqa: E402

MODE = "compile" if "--mode=compile" in sys.argv or "compile" in sys.argv[1:] else "eager"


def maybe_compile(fn):
    return torch.compile(fn) if MODE == "compile" else fn


class Chain:
    def setup(self, n=1 << 20, **_):
        self.x = torch.randn(n)

        def f(x):
            y = torch.sigmoid(x) * 2.0
            y = torch.tanh(y) + 1.0
            y = y * x
            y = torch.exp(y * -0.1)
            return torch.abs(y - x)
        self.f = maybe_compile(f)
        self.step()
        return {"bytes": 8 * n, "elements": n}

    def step(self):
        self.out = self.f(self.x)


class Tiny:
    def setup(self, n=1 << 20, n_ops=50, **_):
        self.x, self.w = torch.randn(n), torch.randn(n)

        def f(x, w):
            y = x
            for i in range(n_ops):
                k = i % 5
                if k == 0:
                    y = y + w
                elif k == 1:
                    y = y * 0.5
                elif k == 2:
                    y = torch.tanh(y)
                elif k == 3:
                    y = torch.relu(y)
                else:
                    y = y - w
            return y
        self.f = maybe_compile(f)
        self.step()
        return {"bytes": 12 * n, "elements": n}

    def step(self):
        self.out = self.f(self.x, self.w)


class Triad:
    """Streaming bandwidth: a = b + 2 c (reads 2, writes 1)."""

    def setup(self, n=1 << 24, **_):
        self.a, self.b, self.c = torch.empty(n), torch.randn(n), torch.randn(n)
        return {"bytes": 12 * n, "elements": n}

    def step(self):
        torch.add(self.b, self.c, alpha=2.0, out=self.a)


class Training:
    def __init__(self, build, shape):
        self.build, self.shape = build, shape

    def setup(self, batch=64, **_):
        torch.manual_seed(0)
        self.model = self.build()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.x = torch.randn((batch,) + self.shape)
        self.y = torch.randint(0, 10, (batch,))
        loss = torch.nn.CrossEntropyLoss()
        model = self.model

        def train_step(x, y):
            out = model(x)
            return loss(out, y)
        self.fwd = maybe_compile(train_step)
        for _ in range(3):
            self.step()
        return {"samples": batch}

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        self.fwd(self.x, self.y).backward()
        self.opt.step()


class AutocastTraining(Training):
    """The same training step with the forward under ``torch.autocast("cpu", bfloat16)``
    (parameters and optimizer in float32, as mxc's and MXNet's AMP)."""

    def setup(self, batch=64, **_):
        build = self.build

        class _Auto(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = build()

            def forward(self, x):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return self.net(x).float()
        self.build = _Auto
        return super().setup(batch=batch)


def mlp():
    return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 10))


def lenet():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 20, 5), torch.nn.Tanh(), torch.nn.MaxPool2d(2, 2),
        torch.nn.Conv2d(20, 50, 5), torch.nn.Tanh(), torch.nn.MaxPool2d(2, 2),
        torch.nn.Flatten(), torch.nn.Linear(800, 500), torch.nn.Tanh(), torch.nn.Linear(500, 10))


class LSTMLM:
    """nn.Embedding + nn.LSTM (2 x 200) + Linear over the same buckets (tokens/s)."""

    def setup(self, **_):
        from bench.workloads_sym import LM
        torch.manual_seed(0)
        v, h = LM["vocab"], LM["hidden"]
        self.emb = torch.nn.Embedding(v, h)
        self.lstm = torch.nn.LSTM(h, h, num_layers=LM["layers"])
        self.out = torch.nn.Linear(h, v)
        params = list(self.emb.parameters()) + list(self.lstm.parameters()) + \
            list(self.out.parameters())
        self.opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
        self.loss = torch.nn.CrossEntropyLoss()
        b = LM["batch"]
        self.batches = [(torch.randint(0, v, (t, b)), torch.randint(0, v, (t * b,)))
                        for t in LM["buckets"]]

        def fwd(x, y):
            o, _ = self.lstm(self.emb(x))
            return self.loss(self.out(o.reshape(-1, h)), y)
        self.fwd = maybe_compile(fwd)
        self.step()
        return {"tokens": b * sum(LM["buckets"])}

    def step(self):
        for x, y in self.batches:
            self.opt.zero_grad(set_to_none=True)
            self.fwd(x, y).backward()
            self.opt.step()


class _BasicBlock(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        nn = torch.nn
        self.a = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                               nn.BatchNorm2d(cout, eps=2e-5), nn.ReLU(),
                               nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                               nn.BatchNorm2d(cout, eps=2e-5))
        self.sc = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                                 nn.BatchNorm2d(cout, eps=2e-5))
                   if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return torch.relu(self.a(x) + self.sc(x))


def resnet18(num_classes=10):
    """The ResNet-18 of ``workloads_sym.resnet18_symbol`` (CIFAR-style stem, no max-pool)."""
    nn = torch.nn
    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64, eps=2e-5), nn.ReLU()]
    width = 64
    for i, filters in enumerate((64, 128, 256, 512)):
        for j in range(2):
            layers.append(_BasicBlock(width, filters, 2 if (i > 0 and j == 0) else 1))
            width = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


class _LSTM60(torch.nn.Module):
    """``workloads_sym.lstm60_symbol``: Embedding + 2-layer nn.LSTM (batch-first) + Linear."""

    def __init__(self):
        super().__init__()
        from bench.workloads_sym import LSTM60
        v, h = LSTM60["vocab"], LSTM60["hidden"]
        self.h = h
        self.emb = torch.nn.Embedding(v, h)
        self.lstm = torch.nn.LSTM(h, h, num_layers=LSTM60["layers"], batch_first=True)
        self.out = torch.nn.Linear(h, v)

    def forward(self, x):
        o, _ = self.lstm(self.emb(x))
        return self.out(o.reshape(-1, self.h))


def _first_step_model(model):
    """model -> (module factory, input shape without the batch, classes, default batch,
    integer ids): the torch twins of ``workloads_sym.FIRST_STEP``."""
    from bench.workloads_sym import LSTM60
    t = LSTM60["seq_len"]
    return {"mlp": (mlp, (784,), 10, 64, False),
            "lenet": (lenet, (1, 28, 28), 10, 64, False),
            "resnet18": (resnet18, (3, 32, 32), 10, 32, False),
            "lstm60": (_LSTM60, (t,), LSTM60["vocab"], LSTM60["batch"], True)}[model]


class FirstStep:
    """Wall time from nothing to the end of the first training step (fresh process): build the
    module, the SGD optimizer (momentum 0.9), one forward + backward + ``opt.step()``; with
    ``compile`` the forward and loss go through ``torch.compile`` (compiled at that step)."""

    def setup(self, model="mlp", batch=None, **_):
        self.build, shape, classes, default_batch, ids = _first_step_model(model)
        b = batch or default_batch
        torch.manual_seed(0)
        if ids:
            self.x = torch.randint(0, classes, (b,) + shape)
            self.y = torch.randint(0, classes, (b * shape[0],))
        else:
            self.x = torch.randn((b,) + shape)
            self.y = torch.randint(0, classes, (b,))
        self.phases = {}
        # imports the first step would trigger lazily (imports are not part of the time):
        # the first optimizer imports torch._dynamo, the first compile torch._inductor
        import importlib
        importlib.import_module("torch._dynamo")
        if MODE == "compile":
            importlib.import_module("torch._inductor.compile_fx")
        return {"samples": b}

    def step(self):
        import time
        t0 = time.perf_counter()
        model = self.build()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss = torch.nn.CrossEntropyLoss()

        def train_step(x, y):
            return loss(model(x), y)
        fwd = maybe_compile(train_step)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        fwd(self.x, self.y).backward()
        opt.step()
        t2 = time.perf_counter()
        self.model = model
        self.phases = {"bind_s": t1 - t0, "step_s": t2 - t1}

    def info(self):
        return dict(self.phases)


class _RecordDataset(torch.utils.data.Dataset):
    """The records of a RecordIO file, decoded with OpenCV (the decoder mxc uses), randomly
    cropped to 224x224 and mirrored, as float32 CHW RGB with the label."""

    def __init__(self, rec):
        from bench.workloads_image import read_records
        self.recs = read_records(rec)

    def __len__(self):
        return len(self.recs)

    def __getitem__(self, i):
        import cv2
        import numpy as np
        s = self.recs[i]
        label = struct.unpack_from("<f", s, 4)[0]
        img = cv2.imdecode(np.frombuffer(s, np.uint8, offset=24), 1)
        h, w = img.shape[:2]
        y = np.random.randint(0, h - 224 + 1)
        x = np.random.randint(0, w - 224 + 1)
        img = img[y:y + 224, x:x + 224, ::-1]
        if np.random.rand() < 0.5:
            img = img[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float(), label


def _worker_init(_):
    import cv2
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


class RecordLoader:
    """A plain torch DataLoader over the same RecordIO file (torchvision needs a newer torch
    than this environment's), ``MXC_NUM_THREADS`` worker processes: one epoch per step."""

    def setup(self, rec=None, batch=32, images=192, **_):
        from bench.workloads_image import threads
        n = threads()
        self.loader = torch.utils.data.DataLoader(
            _RecordDataset(rec), batch_size=batch, shuffle=False, num_workers=n,
            persistent_workers=True, drop_last=True, worker_init_fn=_worker_init,
            prefetch_factor=4)
        self.step()
        return {"images": images, "threads": n}

    def step(self):
        """One epoch over the file."""
        for b in self.loader:
            self.out = b


WORKLOADS = {
    "lstm_lm": LSTMLM,
    "chain": Chain, "tiny": Tiny, "triad": Triad,
    "mlp": lambda: Training(mlp, (784,)),
    "lenet": lambda: Training(lenet, (1, 28, 28)),
    "mlp_bf16": lambda: AutocastTraining(mlp, (784,)),
    "lenet_bf16": lambda: AutocastTraining(lenet, (1, 28, 28)),
    "first_step": FirstStep,
}
if MODE == "eager":
    WORKLOADS["imagerec"] = RecordLoader

if __name__ == "__main__":
    serve(WORKLOADS)
