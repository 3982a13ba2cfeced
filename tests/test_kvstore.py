"""mx.kv: MXNet 1.x's single-machine KVStore (init / push sums over devices / pull / pushpull /
broadcast / set_optimizer / optimizer states) and its errors."""
import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError, UnsupportedError
from runtime import kvstore as kvs


@pytest.mark.parametrize("name", ["local", "device", "local_update_cpu", "local_allreduce_cpu",
                                  "local_allreduce_device"])
def test_create_types(name):
    kv = kvs.create(name)
    assert kv.type == name and kv.rank == 0 and kv.num_workers == 1
    assert kv.is_capable(kvs.KVStoreBase.OPTIMIZER)
    assert isinstance(kv, kvs.KVStoreBase)


@pytest.mark.parametrize("name", ["dist_async", "nccl", "horovod"])
def test_kvstore_types_mxc_lacks_are_refused(name):
    # dist_sync / dist_device_sync run over torch.distributed (tests/test_kvstore_dist.py)
    with pytest.raises(UnsupportedError, match=name):
        kvs.create(name)


def test_unknown_type():
    with pytest.raises(MXNetError, match="Unknown KVStore type 'lcoal'"):
        kvs.create("lcoal")
    with pytest.raises(TypeError):
        kvs.create(3)


def test_push_sums_over_devices_and_pull_into_lists():
    kv = kvs.create("local")
    shape = (2, 3)
    kv.init(3, mx.nd.ones(shape))
    out = mx.nd.zeros(shape)
    kv.pull(3, out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.ones(shape))
    vals = [mx.nd.ones(shape, ctx=mx.cpu(i)) * (i + 1) for i in range(4)]
    kv.push(3, vals)
    outs = [mx.nd.zeros(shape, ctx=mx.cpu(i)) for i in range(4)]
    kv.pull(3, out=outs)
    for o in outs:
        np.testing.assert_array_equal(o.asnumpy(), np.full(shape, 10.0))
    # a list of keys with a list of values each
    kv.init([5, 7], [mx.nd.zeros(shape), mx.nd.zeros(shape)])
    kv.push([5, 7], [[mx.nd.ones(shape), mx.nd.ones(shape)], mx.nd.ones(shape) * 4])
    a, b = mx.nd.zeros(shape), mx.nd.zeros(shape)
    kv.pull([5, 7], out=[a, b])
    np.testing.assert_array_equal(a.asnumpy(), np.full(shape, 2.0))
    np.testing.assert_array_equal(b.asnumpy(), np.full(shape, 4.0))
    # pushpull: into the values themselves when out is None
    vals = [mx.nd.ones(shape), mx.nd.ones(shape) * 2]
    kv.pushpull(5, vals)
    for v in vals:
        np.testing.assert_array_equal(v.asnumpy(), np.full(shape, 3.0))
    # broadcast: init + pull
    outs = [mx.nd.zeros(shape), mx.nd.zeros(shape)]
    kv.broadcast(9, mx.nd.ones(shape) * 6, out=outs)
    np.testing.assert_array_equal(outs[1].asnumpy(), np.full(shape, 6.0))


def test_set_optimizer_updates_on_the_store(tmp_path):
    """With an optimizer, a push runs updater(key, summed_grad, stored_weight)."""
    kv = kvs.create("local")
    kv.init("w", mx.nd.ones((4,)))
    opt = mx.optimizer.create("sgd", learning_rate=0.1, momentum=0.9)
    kv.set_optimizer(opt)
    kv.push("w", [mx.nd.ones((4,)), mx.nd.ones((4,))])      # grad = 2
    out = mx.nd.zeros((4,))
    kv.pull("w", out=out)
    np.testing.assert_allclose(out.asnumpy(), np.full(4, 1 - 0.1 * 2), rtol=1e-6)
    kv.push("w", [mx.nd.ones((4,)), mx.nd.ones((4,))])
    kv.pull("w", out=out)
    # momentum: mom = 0.9 * (-0.2) - 0.2 = -0.38
    np.testing.assert_allclose(out.asnumpy(), np.full(4, 0.8 - 0.38), rtol=1e-6)
    assert list(kv._updater.states) == ["w"]          # string keys index the states
    f = str(tmp_path / "kv.states")
    kv.save_optimizer_states(f)
    kv2 = kvs.create("local")
    kv2.init("w", mx.nd.ones((4,)))
    kv2.set_optimizer(mx.optimizer.create("sgd", learning_rate=0.1, momentum=0.9))
    kv2.load_optimizer_states(f)
    np.testing.assert_allclose(kv2._updater.states["w"].asnumpy(), np.full(4, -0.38),
                               rtol=1e-6)
    kv.save_optimizer_states(f, dump_optimizer=True)
    kv2.load_optimizer_states(f)
    assert kv2._updater.optimizer.momentum == 0.9


def test_errors():
    kv = kvs.create("local")
    with pytest.raises(MXNetError, match="not been initialized"):
        kv.pull(1, out=mx.nd.zeros((2,)))
    kv.init(1, mx.nd.zeros((2,)))
    with pytest.raises(MXNetError, match="duplicate init"):
        kv.init(1, mx.nd.zeros((2,)))
    with pytest.raises(MXNetError, match="mixes key types"):
        kv.init("a", mx.nd.zeros((2,)))
    with pytest.raises(MXNetError, match="shape"):
        kv.push(1, mx.nd.zeros((3,)))
    with pytest.raises(MXNetError, match="2 keys but 1 values"):
        kv.push([1, 2], [mx.nd.zeros((2,))])
    with pytest.raises(MXNetError, match="out must be given"):
        kv.pull(1)
    with pytest.raises(UnsupportedError):
        kv.row_sparse_pull(1, out=mx.nd.zeros((2,)), row_ids=mx.nd.zeros((1,)))
    with pytest.raises(MXNetError, match="Gradient compression"):
        kv.set_gradient_compression({"type": "2bit"})
    with pytest.raises(MXNetError, match="Cannot save states"):
        kv.save_optimizer_states("x.states")


def test_exposed_as_mx_kv():
    assert mx.kv.create is kvs.create


def test_module_with_a_kvstore_object_updates_on_the_store():
    """A KVStore object given to fit is used even on one device (MXNet's rule), updates run
    on the store (states indexed by parameter name), and the numbers are MXNet's."""
    import os

    from runtime.io import NDArrayIter
    from runtime.module import Module
    d = os.path.join(os.path.dirname(__file__), "data", "training")
    z = np.load(os.path.join(d, "mlp_sgd.npz"))
    kv = kvs.create("local")
    mod = Module(mx.sym.load(os.path.join(d, "mlp-symbol.json")))
    mod.fit(NDArrayIter(z["data"], z["label"], batch_size=8), kvstore=kv,
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-4},
            arg_params={k[5:]: mx.nd.array(z[k]) for k in z.files if k.startswith("init:")},
            num_epoch=2)
    assert mod._kvstore is kv and mod._update_on_kvstore and mod._updater is None
    assert sorted(kv._updater.states) == ["fc1_bias", "fc1_weight", "fc2_bias", "fc2_weight"]
    arg, _ = mod.get_params()
    for k in z.files:
        if k.startswith("final:"):
            np.testing.assert_allclose(arg[k[6:]].asnumpy(), z[k], rtol=2e-3, atol=1e-6)
