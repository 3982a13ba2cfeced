"""mx.engine and the waits of mx.nd: bulk scopes, set_bulk_size, waitall, wait_to_read.

Calls and assertions follow MXNet 1.9.1's own tests (tests/python/unittest/test_engine.py and
test_exc_handling.py); MXNet's return values were taken from the real MXNet 1.9.1."""
import threading

import numpy as np
import pytest

import mxc as mx
from mxc import engine
from mxc.base import MXNetError, ShapeError


@pytest.fixture(autouse=True)
def _restore_bulk_size():
    prev = engine.set_bulk_size(0)
    yield
    engine.set_bulk_size(prev)


def test_bulk():
    # MXNet's test_engine.test_bulk, as it is written there
    with mx.engine.bulk(10):
        x = mx.nd.ones((10,))
        x *= 2
        x += 1
        x.wait_to_read()
        x += 1
        assert (x.asnumpy() == 4).all()
        for _ in range(100):
            x += 1
    assert (x.asnumpy() == 104).all()


def test_set_bulk_size_returns_previous():
    # MXNet 1.9.1: the engine starts at 0; each call returns the size it replaces
    assert mx.engine.set_bulk_size(5) == 0
    assert mx.engine.set_bulk_size(0) == 5
    assert mx.engine.set_bulk_size(15) == 0
    with mx.engine.bulk(7) as scope:
        assert type(scope).__name__ == "_BulkScope"
        assert mx.engine.set_bulk_size(7) == 7
    assert mx.engine.set_bulk_size(2) == 15
    assert mx.engine.set_bulk_size(True) == 2      # a bool is an int, as in MXNet
    assert mx.engine.set_bulk_size(np.int64(3)) == 1


def test_bulk_restores_on_exception():
    mx.engine.set_bulk_size(4)
    with pytest.raises(ShapeError):
        with mx.engine.bulk(32):
            mx.nd.ones((2, 3)) + mx.nd.ones((4, 5))
    assert mx.engine.set_bulk_size(0) == 4


def test_nested_bulk_scopes():
    with mx.engine.bulk(8):
        with mx.engine.bulk(16):
            assert mx.engine.set_bulk_size(16) == 16
        assert mx.engine.set_bulk_size(8) == 8
    assert mx.engine.set_bulk_size(0) == 0


@pytest.mark.parametrize("bad", [2.5, "3", None])
def test_set_bulk_size_rejects_non_integers(bad):
    # MXNet: TypeError "'float' object cannot be interpreted as an integer"
    with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
        mx.engine.set_bulk_size(bad)
    assert mx.engine.set_bulk_size(0) == 0


def test_set_bulk_size_rejects_negative():
    # MXNet 1.9.1 accepts -3 and then fails on the next call ("vector::reserve"); mxc refuses it
    # at the call that gives it
    with pytest.raises(MXNetError, match="non-negative"):
        mx.engine.set_bulk_size(-3)
    assert mx.engine.set_bulk_size(0) == 0
    with pytest.raises(MXNetError):
        with mx.engine.bulk(-1):
            pass
    assert mx.engine.set_bulk_size(0) == 0


def test_bulk_size_is_per_thread():
    mx.engine.set_bulk_size(9)
    seen = []

    def other():
        seen.append(mx.engine.set_bulk_size(3))

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == [0]
    assert mx.engine.set_bulk_size(0) == 9


def test_waitall_and_wait_to_read_return_none():
    a = mx.nd.ones((2, 2))
    b = a * 3
    assert mx.nd.waitall() is None
    assert b.wait_to_read() is None
    assert b.wait_to_write() is None
    assert (b.asnumpy() == 3).all()
    assert mx.nd.waitall is mx.engine.waitall


def test_error_surfaces_at_the_call():
    # MXNet defers an operator's error to the next wait (test_exc_handling); mxc executes
    # synchronously, so the call itself raises, and later waits are clean
    with pytest.raises(MXNetError):
        mx.nd.dot(mx.nd.ones((2, 3)), mx.nd.ones((2, 3)))
    mx.nd.waitall()
    mx.nd.waitall()


def test_symbolic_error_surfaces_at_forward():
    x = mx.sym.Variable("x")
    z = mx.sym.Variable("z")
    out = mx.sym.dot(z, x)
    with pytest.raises(MXNetError):
        ex = out.bind(mx.cpu(), args={"x": mx.nd.ones((2, 2)), "z": mx.nd.ones((3, 3))})
        ex.forward()
    mx.nd.waitall()


def test_wait_device_ignores_cpu():
    engine.wait_device("cpu")
    engine.wait_device(None)


@pytest.mark.gpu
def test_waitall_synchronises_gpu():
    import torch
    a = mx.nd.ones((256, 256), ctx=mx.gpu(0))
    b = mx.nd.dot(a, a)
    mx.nd.waitall()
    b.wait_to_read()
    assert torch.cuda.current_stream().query()
    assert float(b.asnumpy()[0, 0]) == 256.0
