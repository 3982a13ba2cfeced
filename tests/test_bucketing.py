"""BucketingModule: an LSTM language model over 6 buckets trains like MXNet 1.9.1's
(tests/data/training/bucket_lm*, from tools/make_training_golden.py; slow: compiling six
unrolled LSTMs for training takes tens of seconds on a cold compile cache), and, on a small
bigram model over the same 6 buckets, buckets share one copy of the parameters, switching
buckets does not grow memory, compiled code comes from the cache, and checkpoints round-trip."""
import gc
import os

import numpy as np
import pytest
import torch

import mxc as mx
from mxc.base import StateError
from mxc.ndarray import NDArray
from runtime.io import DataBatch, DataDesc
from runtime.module import BucketingModule

D = os.path.join(os.path.dirname(__file__), "data", "training")
KEYS = [3, 4, 5, 6, 7, 8]


def sym_gen(key):
    """MXNet's LSTM language model for sequences of ``key`` steps (its own JSON)."""
    sym = mx.sym.load(os.path.join(D, f"bucket_lm-{key}-symbol.json"))
    return sym, ("data",), ("softmax_label",)


def bigram_gen(key):
    """A small language model (Embedding -> FullyConnected per step) for ``key`` steps."""
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("softmax_label")
    emb = mx.sym.Embedding(data, input_dim=20, output_dim=8, name="embed")
    pred = mx.sym.Reshape(emb, shape=(-1, 8))
    pred = mx.sym.FullyConnected(pred, num_hidden=20, name="pred")
    label = mx.sym.Reshape(label, shape=(-1,))
    return mx.sym.SoftmaxOutput(pred, label=label, name="softmax"), ("data",), \
        ("softmax_label",)


@pytest.fixture(scope="module")
def golden():
    return np.load(os.path.join(D, "bucket_lm.npz"))


def batches(z):
    out = []
    for i, key in enumerate(z["batch_keys"]):
        d, lb = z[f"batch{i}_data"], z[f"batch{i}_label"]
        out.append(DataBatch([mx.nd.array(d)], [mx.nd.array(lb)], bucket_key=int(key),
                             provide_data=[DataDesc("data", d.shape)],
                             provide_label=[DataDesc("softmax_label", lb.shape)]))
    return out


def new_module(z):
    mod = BucketingModule(sym_gen, default_bucket_key=8)
    mod.bind([("data", (8, 8))], [("softmax_label", (8, 8))])
    mod.set_params({k[5:]: mx.nd.array(z[k]) for k in z.files if k.startswith("init:")}, {})
    return mod


def train(mod, bs, optimizer="adam", optimizer_params=(("learning_rate", 0.05),)):
    if not mod.optimizer_initialized:
        mod.init_optimizer(optimizer=optimizer, optimizer_params=optimizer_params)
    ces = []
    for b in bs:
        mod.forward(b, is_train=True)
        prob = mod.get_outputs()[0].asnumpy()
        lab = b.label[0].asnumpy().reshape(-1).astype(int)
        ces.append(float(-np.log(np.maximum(prob[np.arange(len(lab)), lab], 1e-10)).mean()))
        mod.backward()
        mod.update()
    return np.array(ces)


@pytest.fixture(scope="module")
def bigram(golden):
    """The bigram model trained on the 24 batches (6 buckets), Xavier-initialized."""
    mod = BucketingModule(bigram_gen, default_bucket_key=8)
    mod.bind([("data", (8, 8))], [("softmax_label", (8, 8))])
    mx.random.seed(1)
    mod.init_params(initializer=mx.init.Xavier())
    ces = train(mod, batches(golden))
    return mod, ces


@pytest.fixture(scope="module")
def trained(golden):
    """The MXNet run replayed: 24 batches, forward (record the cross-entropy) / backward /
    update with Adam."""
    mod = new_module(golden)
    return mod, train(mod, batches(golden))


@pytest.mark.slow
def test_lstm_language_model_trains_like_mxnet(golden, trained):
    mod, ces = trained
    np.testing.assert_allclose(ces, golden["ce"], rtol=2e-3, atol=1e-4)
    # the loss goes down: from log(20) ~ 3.0 to about 1
    assert ces[:6].mean() > 2.8 and ces[-6:].mean() < 1.3
    arg, _ = mod.get_params()
    for k in golden.files:
        if k.startswith("final:"):
            np.testing.assert_allclose(arg[k[6:]].asnumpy(), golden[k], rtol=2e-3, atol=1e-5,
                                       err_msg=k)
    assert sorted(mod._buckets) == KEYS


def test_bigram_model_loss_decreases(bigram):
    _, ces = bigram
    assert ces[:6].mean() > 2.5 and ces[-6:].mean() < 0.7 * ces[:6].mean()


def test_buckets_share_parameter_storage(bigram):
    mod, _ = bigram
    default = mod._buckets[8]._exec_group.execs[0]
    for key in KEYS:
        ex = mod._buckets[key]._exec_group.execs[0]
        for name in ("embed_weight", "pred_weight", "pred_bias"):
            assert ex.arg_dict[name] is default.arg_dict[name]
            assert ex.grad_dict[name] is default.grad_dict[name]
        assert mod._buckets[key]._updater is mod._buckets[8]._updater
    assert mod._buckets[3]._arg_params is mod._buckets[8]._arg_params


def _live_arrays():
    gc.collect()
    objs = gc.get_objects()
    nd = [o for o in objs if type(o) is NDArray]
    storages = {}
    for o in objs:
        if issubclass(type(o), torch.Tensor):
            s = o.untyped_storage()
            storages[s.data_ptr()] = s.nbytes()
    return len(nd), sum(storages.values())


def test_switching_buckets_does_not_grow_memory(golden, bigram):
    """100 switches among the 6 buckets (forward, backward, update each time): after the first
    pass, the number of live NDArrays and the bytes of live tensors stay the same."""
    mod, _ = bigram
    bs = batches(golden)
    by_key = {b.bucket_key: b for b in bs}
    order = [KEYS[i % 6] for i in range(100)]
    for key in KEYS:                      # first pass: every bucket has run once
        mod.forward_backward(by_key[key])
        mod.update()
    n0, bytes0 = _live_arrays()
    for key in order:
        mod.forward_backward(by_key[key])
        mod.update()
    n1, bytes1 = _live_arrays()
    assert (n1, bytes1) == (n0, bytes0)
    assert len(mod._buckets) == 6


def test_compiled_code_comes_from_the_cache(golden, bigram):
    """A second BucketingModule over the same buckets compiles nothing new."""
    from runtime import executor
    mod, _ = bigram
    n = len(executor._MEMO)
    other = BucketingModule(bigram_gen, default_bucket_key=8)
    other.bind([("data", (8, 8))], [("softmax_label", (8, 8))])
    other.set_params(*mod.get_params())
    train(other, batches(golden)[:6])
    assert len(executor._MEMO) == n


def test_checkpoint_roundtrip(golden, bigram, tmp_path):
    mod, _ = bigram
    prefix = str(tmp_path / "lm")
    mod.save_checkpoint(prefix, 2)
    for key in KEYS:
        assert os.path.exists(f"{prefix}-{key}-symbol.json")
    loaded = BucketingModule.load(prefix, 2, sym_gen=bigram_gen, default_bucket_key=8)
    loaded.bind([("data", (8, 8))], [("softmax_label", (8, 8))], for_training=False)
    b = batches(golden)[1]                       # bucket 3
    loaded.forward(b, is_train=False)
    mod.forward(b, is_train=False)
    np.testing.assert_allclose(loaded.get_outputs()[0].asnumpy(),
                               mod.get_outputs()[0].asnumpy(), rtol=1e-6, atol=1e-7)
    assert loaded.symbol.list_arguments() == bigram_gen(3)[0].list_arguments()


def test_state_errors(golden):
    mod = BucketingModule(bigram_gen, default_bucket_key=8)
    b = batches(golden)[0]
    with pytest.raises(StateError, match="call bind"):
        mod.forward(b)
    with pytest.raises(StateError, match="call bind"):
        mod.switch_bucket(3, [("data", (8, 3))], [("softmax_label", (8, 3))])
    mod.bind([("data", (8, 8))], [("softmax_label", (8, 8))])
    with pytest.raises(StateError, match="call init_params"):
        mod.init_optimizer()
    with pytest.raises(StateError, match="call init_params"):
        mod.forward(b)
    mod.init_params()
    with pytest.raises(StateError, match="call init_optimizer"):
        mod.update()
    assert mod.data_names == ["data"] or list(mod.data_names) == ["data"]
    assert mod.output_names == ["softmax_output"]
