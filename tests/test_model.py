"""mx.model: checkpoints (MXNet's files both ways, atomic writes), .states files (MXNet's
pickles, read through a restricted unpickler, written byte-for-byte as MXNet writes them), and
the legacy FeedForward API."""
import glob
import logging
import os
import pickle
import shutil

import numpy as np
import pytest

import mxc as mx
from mxc.base import FormatError
from runtime import model
from runtime.io import NDArrayIter
from runtime.module import Module
from runtime.module._states import dumps_states, loads_states

D = os.path.join(os.path.dirname(__file__), "data", "training")
pytestmark = [
    pytest.mark.filterwarnings("ignore:mxnet.model.FeedForward has been deprecated"),
    pytest.mark.filterwarnings("ignore:Calling initializer with init"),
    pytest.mark.filterwarnings("ignore:Parameters already initialized"),
]
SGD = {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4}


def golden(case):
    return np.load(os.path.join(D, case + ".npz"))


def prefixed(z, prefix):
    return {k[len(prefix):]: z[k] for k in z.files if k.startswith(prefix)}


# --- (6) an MXNet-written checkpoint resumes training in mxc -------------------------------------
def test_mxnet_checkpoint_with_states_resumes_in_mxc(tmp_path):
    """MXNet trained epoch 0 and saved ckpt_mlp-symbol.json/-0001.params/-0001.states, then
    trained epoch 1 in the same process; mxc loads the checkpoint (states through the
    restricted unpickler), trains epoch 1 and ends at MXNet's parameters."""
    z = golden("ckpt_mlp")
    prefix = str(tmp_path / "ckpt_mlp")
    for f in glob.glob(os.path.join(D, "ckpt_mlp-*")):
        shutil.copy(f, tmp_path)
    mod = Module.load(prefix, 1, load_optimizer_states=True)
    assert mod.params_initialized and not mod.binded
    mod.fit(NDArrayIter(z["data"], z["label"], batch_size=8), optimizer="sgd",
            optimizer_params=SGD, begin_epoch=1, num_epoch=2)
    states = mod._updater.states
    assert sorted(states) == [0, 1, 2, 3] and states[0].shape == (16, 10)
    arg, _ = mod.get_params()
    for k, ref in prefixed(z, "final:").items():
        np.testing.assert_allclose(arg[k].asnumpy(), ref, rtol=2e-3, atol=1e-6, err_msg=k)
    # without the states (momentum restarts from zero) the result differs: states matter here
    mod2 = Module.load(prefix, 1)
    mod2.fit(NDArrayIter(z["data"], z["label"], batch_size=8), optimizer="sgd",
             optimizer_params=SGD, begin_epoch=1, num_epoch=2)
    assert not np.allclose(mod2.get_params()[0]["fc1_weight"].asnumpy(), z["final:fc1_weight"],
                           rtol=2e-3, atol=1e-6)


def test_states_written_byte_for_byte_as_mxnet(tmp_path):
    """Reading MXNet's .states and writing them again gives MXNet's exact bytes (NDArrays
    pickled as mxnet.ndarray.ndarray.NDArray with raw-bytes handles), so MXNet reads mxc's
    files; tools/check_checkpoint_interop.py also checks it with MXNet itself."""
    with open(os.path.join(D, "ckpt_mlp-0001.states"), "rb") as f:
        raw = f.read()
    states = loads_states(raw)
    assert dumps_states(states) == raw
    # through a Module: save_optimizer_states writes what MXNet wrote
    prefix = str(tmp_path / "ckpt_mlp")
    for f in glob.glob(os.path.join(D, "ckpt_mlp-*")):
        shutil.copy(f, tmp_path)
    mod = Module.load(prefix, 1, load_optimizer_states=True)
    mod.bind([("data", (8, 10))], [("softmax_label", (8,))])
    mod.init_optimizer(optimizer_params=SGD)
    mod.save_optimizer_states(str(tmp_path / "again.states"))
    assert (tmp_path / "again.states").read_bytes() == raw


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_states_unpickler_is_restricted(tmp_path):
    evil = pickle.dumps({0: _Evil()})
    with pytest.raises(FormatError, match=r"refusing .*'(posix|os|nt)\.system'"):
        loads_states(evil, "evil.states")
    with pytest.raises(FormatError, match="'builtins.eval'"):
        loads_states(pickle.dumps({0: eval}), "evil.states")
    with pytest.raises(FormatError, match="not a valid optimizer states"):
        loads_states(b"\x80\x04garbage", "bad.states")
    with pytest.raises(FormatError, match="empty"):
        loads_states(b"", "empty.states")
    # a Module refuses it too, naming the file and the class
    z = golden("mlp_sgd")
    mod = Module(mx.sym.load(os.path.join(D, "mlp-symbol.json")))
    mod.bind([("data", (8, 10))], [("softmax_label", (8,))])
    mod.init_params(arg_params={k: mx.nd.array(v) for k, v in prefixed(z, "init:").items()})
    mod.init_optimizer(optimizer_params=SGD)
    f = tmp_path / "evil.states"
    f.write_bytes(evil)
    with pytest.raises(FormatError, match=r"evil\.states.*system"):
        mod.load_optimizer_states(str(f))
    # what is admitted: containers, numbers, numpy arrays, NDArrays, optimizers
    from runtime.optimizer import SGD as SGDOpt
    ok = {0: (mx.nd.ones((2,)), None), 1: [np.arange(3.0), np.float32(2.5), {"a": 1}]}
    back = loads_states(dumps_states(ok))
    np.testing.assert_array_equal(back[0][0].asnumpy(), [1, 1])
    np.testing.assert_array_equal(back[1][0], [0, 1, 2])
    _, opt = loads_states(dumps_states(ok, SGDOpt(momentum=0.9), dump_optimizer=True))
    assert isinstance(opt, SGDOpt) and opt.momentum == 0.9


def test_module_checkpoint_roundtrip_and_log_line(tmp_path, caplog):
    z = golden("mlp_sgd")
    mod = Module(mx.sym.load(os.path.join(D, "mlp-symbol.json")))
    mod.fit(NDArrayIter(z["data"], z["label"], batch_size=8), optimizer_params=SGD,
            arg_params={k: mx.nd.array(v) for k, v in prefixed(z, "init:").items()},
            num_epoch=1)
    prefix = str(tmp_path / "m")
    with caplog.at_level(logging.INFO):
        mod.save_checkpoint(prefix, 3, save_optimizer_states=True)
    assert f'Saved checkpoint to "{prefix}-0003.params"' in caplog.messages
    assert f'Saved optimizer state to "{prefix}-0003.states"' in caplog.messages
    sym, arg, aux = model.load_checkpoint(prefix, 3)
    assert sym.list_arguments() == mod.symbol.list_arguments()
    for k, v in mod.get_params()[0].items():
        np.testing.assert_array_equal(arg[k].asnumpy(), v.asnumpy())
    assert sorted(mx.nd.load(prefix + "-0003.params")) == sorted("arg:" + k for k in arg)
    # model.save_checkpoint logs the same line
    caplog.clear()
    with caplog.at_level(logging.INFO):
        model.save_checkpoint(prefix, 4, sym, arg, aux)
    assert caplog.messages == [f'Saved checkpoint to "{prefix}-0004.params"']
    # the resumed module has the same optimizer states
    m2 = Module.load(prefix, 3, load_optimizer_states=True)
    m2.bind([("data", (8, 10))], [("softmax_label", (8,))])
    m2.init_optimizer(optimizer_params=SGD)
    for k, v in mod._updater.states.items():
        np.testing.assert_array_equal(m2._updater.states[k].asnumpy(), v.asnumpy())


def test_crash_during_save_checkpoint_keeps_previous(tmp_path, monkeypatch):
    z = golden("mlp_sgd")
    sym = mx.sym.load(os.path.join(D, "mlp-symbol.json"))
    arg = {k: mx.nd.array(v) for k, v in prefixed(z, "init:").items()}
    prefix = str(tmp_path / "c")
    model.save_checkpoint(prefix, 1, sym, arg, {})
    def files():
        return {f: open(f, "rb").read() for f in glob.glob(prefix + "*")}

    before = files()
    from mxc.ndarray import io as ndio
    real = ndio._write_array

    def crash(f, a):
        real(f, a)
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(ndio, "_write_array", crash)
    arg2 = {k: v * 2 for k, v in arg.items()}
    with pytest.raises(KeyboardInterrupt):
        model.save_checkpoint(prefix, 1, sym, arg2, {})
    after = files()
    assert after == before                       # old files intact, no temporary left over
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(f) for f in before)
    monkeypatch.setattr(ndio, "_write_array", real)
    _, loaded, _ = model.load_checkpoint(prefix, 1)
    np.testing.assert_array_equal(loaded["fc1_weight"].asnumpy(), z["init:fc1_weight"])


def test_load_params_errors(tmp_path):
    with pytest.raises(OSError):
        model.load_checkpoint(str(tmp_path / "missing"), 1)
    mx.nd.save(str(tmp_path / "x-0001.params"), [mx.nd.ones((2,))])
    with pytest.raises(FormatError, match="unnamed list"):
        model.load_params(str(tmp_path / "x"), 1)


def test_batch_end_param():
    from runtime import callback
    p = model.BatchEndParam(epoch=1, nbatch=2, eval_metric=None, locals={})
    assert p.epoch == 1 and type(p).__name__ == "BatchEndParams"
    assert model.BatchEndParam is callback.BatchEndParam


# --- FeedForward ---------------------------------------------------------------------------------
def test_feedforward_fit_predict_score_save_load(tmp_path, caplog):
    z = golden("mlp_sgd")
    sym = mx.sym.load(os.path.join(D, "mlp-symbol.json"))
    args = {k: mx.nd.array(v) for k, v in prefixed(z, "init:").items()}
    with pytest.warns(DeprecationWarning):
        ff = model.FeedForward(sym, num_epoch=2, numpy_batch_size=8, arg_params=args,
                               learning_rate=0.1, momentum=0.9, wd=1e-4)
    with caplog.at_level(logging.INFO):
        ff.fit(NDArrayIter(z["data"], z["label"], batch_size=8),
               eval_data=NDArrayIter(z["data"], z["label"], batch_size=8))
    assert any(m.startswith("Epoch[1] Time cost=") for m in caplog.messages)
    assert any(m.startswith("Epoch[1] Validation-accuracy=") for m in caplog.messages)
    # the legacy loop makes the same updates as Module.fit (MXNet's numbers)
    for k, ref in prefixed(golden("mlp_sgd"), "final:").items():
        np.testing.assert_allclose(ff.arg_params[k].asnumpy(), ref, rtol=2e-3, atol=1e-6)
    pred = ff.predict(z["data"])
    assert pred.shape == (80, 3)
    acc = ff.score(NDArrayIter(z["data"], z["label"], batch_size=8))
    assert acc == pytest.approx((pred.argmax(1) == z["label"]).mean())
    out, data, label = ff.predict(NDArrayIter(z["data"][:20], z["label"][:20], batch_size=8),
                                  return_data=True)
    assert out.shape == (20, 3) and data.shape == (20, 10) and label.shape == (20,)
    prefix = str(tmp_path / "ff")
    ff.save(prefix)
    assert os.path.exists(prefix + "-0002.params")
    ff2 = model.FeedForward.load(prefix, 2)
    assert ff2.begin_epoch == 2
    np.testing.assert_allclose(ff2.predict(z["data"]), pred, rtol=1e-6)
    # numpy training data (NDArrayIter with roll_over, shuffled) and create()
    np.random.seed(0)
    ff3 = model.FeedForward.create(sym, z["data"], z["label"], num_epoch=1, numpy_batch_size=8,
                                   learning_rate=0.1)
    assert ff3.arg_params["fc1_weight"].shape == (16, 10)
    with pytest.raises(ValueError, match="y must be specified"):
        ff3.fit(z["data"])


def test_load_checkpoint_missing_a_parameter_says_which(tmp_path):
    z = golden("mlp_sgd")
    sym = mx.sym.load(os.path.join(D, "mlp-symbol.json"))
    arg = {k: mx.nd.array(v) for k, v in prefixed(z, "init:").items() if k != "fc2_bias"}
    prefix = str(tmp_path / "partial")
    model.save_checkpoint(prefix, 1, sym, arg, {})
    mod = Module.load(prefix, 1)
    with pytest.raises(mx.base.MXNetError, match=r"no value for \['fc2_bias'\].*allow_missing"):
        mod.bind([("data", (8, 10))], [("softmax_label", (8,))])
    assert not mod.binded


# --- .states files from untrusted sources: bounded allocations, checked shapes ----------------
def _bound_mlp(optimizer="sgd", **kw):
    mod = Module(mx.sym.load(os.path.join(D, "mlp-symbol.json")))
    mod.bind([("data", (8, 10))], [("softmax_label", (8,))])
    mod.init_params()
    mod.init_optimizer(optimizer=optimizer, optimizer_params=kw or SGD)
    return mod


def test_states_loader_allocates_no_more_than_the_file_describes(tmp_path):
    import tracemalloc
    # 46 bytes asking for bytearray(400 MB): refused before allocating, naming file and offset
    blob = (b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\tbytearray"
            b"\x94\x93\x94J\x00\x00\x00\x19\x85\x94R\x94.")
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=r"big\.states: byte \d+: .*bytearray\(419430400\)"
                                              r" would allocate 419430400 bytes, more than this "
                                              r"46-byte file"):
            loads_states(blob, "big.states")
        assert tracemalloc.get_traced_memory()[1] < 10 << 20
    finally:
        tracemalloc.stop()
    # a bigger size used to be a bare MemoryError; repeated small ones add up to the budget
    with pytest.raises(FormatError, match="more than this"):
        loads_states(pickle.dumps(bytearray, 4)[:-1] + b"\x8a\x08" + (2 ** 62).to_bytes(8, "little")
                     + b"\x85R.", "huge.states")
    # bytearray(256) called 2000 times through the memo: 512 kB from a 10 kB file
    rep = b"\x80\x04(" + b"\x8c\x08builtins\x8c\tbytearray\x93\x94M\x00\x01\x85\x94R" + \
        b"h\x00h\x01R" * 2000 + b"l."
    with pytest.raises(FormatError, match="more than this"):
        loads_states(rep, "many.states")
    assert loads_states(pickle.dumps([bytearray(200)], 4)) == [bytearray(200)]
    # list(range(10**9)), numpy arrays by shape, and tuples nested deep enough to crash hash()
    for blob, what in [
            (b"\x80\x04\x8c\x08builtins\x8c\x04list\x93\x8c\x08builtins\x8c\x05range\x93J\x00"
             b"\xca\x9a;\x85R\x85R.", "range"),
            (pickle.dumps(np.zeros(3), 4).replace(b"K\x03\x85", b"J\x00\x00\x00\x7f\x85"),
             "numpy"),
            (b"\x80\x04}N" + b"\x85" * 100000 + b"Ns.", "nested")]:
        with pytest.raises(FormatError, match=r"x\.states: byte \d+"):
            loads_states(blob, "x.states")
    # an object-dtype array whose shape disagrees with its data crashes numpy: refused first
    obj = pickle.dumps(np.array([1, 2], dtype=object), 4)
    with pytest.raises(FormatError, match="numpy dtype object is not allowed"):
        loads_states(obj, "obj.states")


def test_states_of_the_wrong_shape_fail_at_load_naming_parameter_and_file(tmp_path):
    mod = _bound_mlp()
    f = tmp_path / "bad.states"
    f.write_bytes(dumps_states({0: mx.nd.zeros((3,)), 1: mx.nd.zeros((16,)),
                                2: mx.nd.zeros((3, 16)), 3: mx.nd.zeros((3,))}))
    with pytest.raises(mx.base.ShapeError,
                       match=r"bad\.states: the SGD state of parameter 'fc1_weight' \(index 0, "
                             r"shape \(16, 10\), float32\) has shape \(3,\); expected \(16, 10\)"):
        mod.load_optimizer_states(str(f))
    assert mod._updater.states == {}            # nothing installed
    f.write_bytes(dumps_states({0: mx.nd.zeros((16, 10), dtype="float64")}))
    with pytest.raises(mx.base.DTypeError, match=r"'fc1_weight'.*dtype float64; expected "
                                                 r"float32"):
        mod.load_optimizer_states(str(f))
    f.write_bytes(dumps_states({2: (mx.nd.zeros((3, 16)), mx.nd.zeros((3, 16)))}))
    with pytest.raises(FormatError, match=r"'fc2_weight'.* is a tuple of 2; expected an NDArray "
                                          r"of shape \(3, 16\)"):
        mod.load_optimizer_states(str(f))
    # Adam keeps (mean, var): a single array is refused, the right pair accepted
    mod = _bound_mlp("adam", learning_rate=0.01)
    f.write_bytes(dumps_states({1: mx.nd.zeros((16,))}))
    with pytest.raises(FormatError, match=r"Adam state of parameter 'fc1_bias'.*is an NDArray "
                                          r"of shape \(16,\).*expected a tuple of 2"):
        mod.load_optimizer_states(str(f))
    f.write_bytes(dumps_states({1: (mx.nd.zeros((16,)), mx.nd.zeros((16,)))}))
    mod.load_optimizer_states(str(f))
    # Updater.set_states does not know the weights: checked at the first update, same message
    from runtime import optimizer as opt
    upd = opt.get_updater(opt.SGD(momentum=0.9, param_idx2name={0: "w"}))
    upd.set_states(dumps_states({0: mx.nd.zeros((3,))}))
    with pytest.raises(mx.base.ShapeError, match=r"<states>: the SGD state of parameter 'w' "
                                                 r"\(index 0, shape \(3, 4\).*has shape \(3,\)"):
        upd(0, mx.nd.ones((3, 4)), mx.nd.ones((3, 4)))
    # a kvstore checks against the values it stores
    kv = mx.kv.create("local")
    kv.set_optimizer(opt.SGD(momentum=0.9))
    kv.init("w", mx.nd.ones((3, 4)))
    f.write_bytes(dumps_states({"w": mx.nd.zeros((4, 3))}))
    with pytest.raises(mx.base.ShapeError, match=r"parameter 'w'.*has shape \(4, 3\); expected "
                                                 r"\(3, 4\)"):
        kv.load_optimizer_states(str(f))


def test_states_container_errors_name_the_file(tmp_path):
    mod = _bound_mlp()
    f = tmp_path / "list.states"
    f.write_bytes(pickle.dumps([1, 2], 4))
    with pytest.raises(FormatError, match=r"list\.states: optimizer states must be a dict of "
                                          r"index -> state; got list"):
        mod.load_optimizer_states(str(f))
    f.write_bytes(pickle.dumps(({}, {"lr": 1}), 4))
    with pytest.raises(FormatError, match=r"list\.states: holds \(states, optimizer\) but the "
                                          r"optimizer is a dict"):
        mod.load_optimizer_states(str(f))


def test_killed_writer_leaves_no_temporary_behind(tmp_path):
    """A process SIGKILLed inside atomic_write leaves <name>.<pid>-<host>.<rand>.tmp; the next
    write of the same file removes it (its pid is gone), but never a live writer's."""
    import signal
    import subprocess
    import sys
    target = tmp_path / "m-0001.params"
    child = (
        "import sys, time\n"
        "from mxc.base import atomic_write\n"
        "with atomic_write(sys.argv[1]) as f:\n"
        "    f.write(b'x' * 100000); f.flush()\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(120)\n")

    def start():
        p = subprocess.Popen([sys.executable, "-c", child, str(target)], stdout=subprocess.PIPE)
        assert p.stdout.readline().strip() == b"ready"
        return p

    def temps():
        return sorted(n for n in os.listdir(tmp_path) if n.endswith(".tmp"))

    p = start()
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()
    orphan = temps()
    assert len(orphan) == 1 and orphan[0].startswith(f"m-0001.params.{p.pid}-")
    # another host's temporary of the same name and an unrelated file stay
    other = tmp_path / ("m-0001.params.%d-ffffffff.abc.tmp" % p.pid)
    other.write_bytes(b"")
    (tmp_path / "n.params.1.tmp").write_bytes(b"")
    mx.nd.save(str(target), {"a": mx.nd.ones((2,))})
    assert temps() == sorted([other.name, "n.params.1.tmp"])
    np.testing.assert_array_equal(mx.nd.load(str(target))["a"].asnumpy(), [1, 1])
    # a live writer's temporary survives a concurrent save; a killed, unreaped (zombie) one not
    p = start()
    live = [n for n in temps() if n.startswith(f"m-0001.params.{p.pid}-")]
    mx.nd.save(str(target), {"a": mx.nd.zeros((2,))})
    assert all(n in temps() for n in live) and len(live) == 1
    os.kill(p.pid, signal.SIGKILL)
    import time
    for _ in range(100):          # wait until it is a zombie, without reaping it
        with open(f"/proc/{p.pid}/stat", "rb") as fh:
            if fh.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                break
        time.sleep(0.05)
    mx.nd.save(str(target), {"a": mx.nd.zeros((2,))})
    assert live[0] not in temps()
    p.wait()
    p.stdout.close()
