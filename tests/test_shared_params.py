"""Parameters are shared between the batches, reshapes and buckets of a module and keep their
shapes: a batch or bucket that would change one raises (as MXNet 1.9.1 does) instead of
training a throwaway array."""
import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError, ShapeError


def fc_net(num_hidden=3):
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=num_hidden, name="fc")
    return mx.sym.SoftmaxOutput(fc, name="softmax")


def bound_module(net, data_shape=(8, 5)):
    m = mx.mod.Module(net)
    m.bind([mx.io.DataDesc("data", data_shape)],
           [mx.io.DataDesc("softmax_label", (data_shape[0],))])
    m.init_params(initializer=mx.init.Uniform(0.5))
    m.init_optimizer(optimizer_params={"learning_rate": 0.1})
    return m


def batch(shape, n=None):
    n = shape[0] if n is None else n
    return mx.io.DataBatch([mx.nd.ones(shape)], [mx.nd.zeros((n,))])


def test_batch_that_changes_a_parameter_shape_raises():
    m = bound_module(fc_net())
    before = {k: v.asnumpy().copy() for k, v in m.get_params()[0].items()}
    with pytest.raises(ShapeError) as e:
        m.forward(batch((8, 6)), is_train=True)
    assert isinstance(e.value, MXNetError)
    msg = str(e.value)
    assert "fc_weight" in msg and "(3, 5)" in msg and "(3, 6)" in msg
    # nothing was trained on a throwaway array, and the module still works
    after = m.get_params()[0]
    for k in before:
        np.testing.assert_array_equal(after[k].asnumpy(), before[k])
    m.forward(batch((8, 5)), is_train=True)
    m.backward()
    m.update()
    assert m.get_outputs()[0].shape == (8, 3)


def test_batch_size_change_still_shares_parameters():
    m = bound_module(fc_net())
    m.forward(batch((4, 5)), is_train=True)
    m.backward()
    m.update()
    w4 = m.get_params()[0]["fc_weight"].asnumpy()
    m.forward(batch((8, 5)), is_train=False)
    np.testing.assert_array_equal(m.get_params()[0]["fc_weight"].asnumpy(), w4)
    assert m.get_outputs()[0].shape == (8, 3)


def test_fit_stops_at_a_last_batch_of_another_width():
    x = np.random.RandomState(0).rand(16, 5).astype(np.float32)
    y = np.zeros(16, np.float32)
    good = mx.io.NDArrayIter(x, y, batch_size=8)

    class Mixed(mx.io.DataIter):
        """Two good batches, then one whose feature width differs."""

        def __init__(self):
            super().__init__(8)
            self.provide_data = good.provide_data
            self.provide_label = good.provide_label
            self.i = 0

        def reset(self):
            self.i = 0

        def next(self):
            self.i += 1
            if self.i <= 2:
                return batch((8, 5))
            if self.i == 3:
                return batch((8, 6))
            raise StopIteration

    m = mx.mod.Module(fc_net())
    with pytest.raises(ShapeError, match="fc_weight"):
        m.fit(Mixed(), num_epoch=1, optimizer_params={"learning_rate": 0.1})


def test_bucket_that_disagrees_on_a_parameter_shape_raises():
    def gen(key):
        return fc_net(3 if key == 1 else 4), ("data",), ("softmax_label",)

    bm = mx.mod.BucketingModule(gen, default_bucket_key=1)
    bm.bind([mx.io.DataDesc("data", (8, 5))], [mx.io.DataDesc("softmax_label", (8,))])
    bm.init_params()
    bm.init_optimizer()
    b = mx.io.DataBatch([mx.nd.ones((8, 5))], [mx.nd.zeros((8,))], bucket_key=2,
                        provide_data=[mx.io.DataDesc("data", (8, 5))],
                        provide_label=[mx.io.DataDesc("softmax_label", (8,))])
    with pytest.raises(ShapeError) as e:
        bm.forward(b, is_train=True)
    assert "fc_weight" in str(e.value) and "(3, 5)" in str(e.value) and "(4, 5)" in str(e.value)
    # the parameters are untouched and readable
    assert bm.get_params()[0]["fc_weight"].shape == (3, 5)


def test_aux_state_shape_change_raises():
    data = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(
        mx.sym.FullyConnected(mx.sym.BatchNorm(data, name="bn"), num_hidden=2, name="fc"),
        name="softmax")
    m = bound_module(net, (4, 3))
    with pytest.raises(ShapeError, match="bn_"):
        m.forward(batch((4, 7)), is_train=False)


def test_executor_reshape_refuses_aux_change_without_partial_shaping():
    data = mx.sym.Variable("data")
    net = mx.sym.BatchNorm(data, name="bn")
    exe = net.simple_bind(mx.cpu(), data=(2, 3))
    with pytest.raises(ShapeError, match="bn_(gamma|moving_mean)"):
        exe.reshape(data=(2, 4), allow_up_sizing=True)
    new = exe.reshape(partial_shaping=True, allow_up_sizing=True, data=(2, 4))
    assert new.aux_dict["bn_moving_mean"].shape == (4,)
