"""Context: MXNet's device names, equality, the ``with ctx:`` stack, and GPU availability."""
import pickle
import threading
import warnings

import pytest
import torch

from mxc.base import MXNetError
from mxc.context import (
    Context,
    DeviceError,
    cpu,
    cpu_pinned,
    cpu_shared,
    current_context,
    gpu,
    num_gpus,
)
from mxc.ndarray import array, zeros

HAS_CUDA = torch.cuda.is_available()


def test_names_and_ids():
    assert str(cpu()) == "cpu(0)" and repr(cpu()) == "cpu(0)"
    assert str(gpu(1)) == "gpu(1)" and repr(gpu(2)) == "gpu(2)"
    assert str(cpu_pinned()) == "cpu_pinned(0)"
    assert str(cpu_shared(3)) == "cpu_shared(3)"
    assert (cpu().device_typeid, gpu().device_typeid, cpu_pinned().device_typeid,
            cpu_shared().device_typeid) == (1, 2, 3, 5)
    assert gpu(3).device_type == "gpu" and gpu(3).device_id == 3
    assert Context("gpu", 2) == gpu(2)
    assert Context(gpu(3)) == gpu(3) and Context(gpu(3)) is not gpu(3)
    assert Context.devtype2str[3] == "cpu_pinned" and Context.devstr2type["gpu"] == 2


def test_equality_and_hash():
    assert cpu() == cpu(0) and not cpu() != cpu(0)
    assert cpu(0) != cpu(1) and cpu(0) != gpu(0) and cpu() != cpu_pinned()
    assert cpu() != "cpu(0)"
    assert len({cpu(), cpu(0), gpu(0), gpu(0), gpu(1)}) == 3
    assert {cpu(): 1}[Context("cpu", 0)] == 1


def test_bad_device_is_mxnet_error():
    with pytest.raises(DeviceError, match="unknown device type 'tpu'"):
        Context("tpu")
    with pytest.raises(MXNetError, match="non-negative"):
        gpu(-1)
    with pytest.raises(MXNetError, match="non-negative integer"):
        gpu("0")


def test_torch_device():
    assert cpu().torch_device == torch.device("cpu")
    assert cpu_pinned().torch_device == torch.device("cpu")
    assert cpu(3).torch_device == torch.device("cpu")
    assert gpu(1).torch_device == torch.device("cuda", 1)


def test_with_block_is_a_stack():
    assert current_context() == cpu(0)
    g = gpu(1)
    with g as entered:
        assert entered is g
        assert current_context() is g
        with cpu(2):
            assert current_context() == cpu(2)
            with g:                                 # the same object entered twice
                assert current_context() is g
            assert current_context() == cpu(2)
        assert current_context() is g
    assert current_context() == cpu(0)
    assert Context.current_context() == cpu(0)


def test_with_block_restores_after_exception():
    with pytest.raises(KeyError), gpu(0):
        raise KeyError("boom")
    assert current_context() == cpu(0)


def test_context_is_per_thread():
    seen = []
    with gpu(5):
        t = threading.Thread(target=lambda: seen.append(current_context()))
        t.start()
        t.join()
        assert current_context() == gpu(5)
    assert seen == [cpu(0)]


def test_arrays_default_to_current_context():
    with cpu(1):
        a = zeros((2,))
        b = array([1, 2])
    assert a.context == cpu(1) and b.context == cpu(1)
    assert zeros(1).context == cpu(0)


def test_default_ctx_is_deprecated_but_works():
    with pytest.warns(DeprecationWarning):
        assert Context.default_ctx == cpu(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            Context.default_ctx = cpu(7)
        assert current_context() == cpu(7)
        with gpu(0):
            assert current_context() == gpu(0)
        assert current_context() == cpu(7)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            Context.default_ctx = cpu(0)
    assert current_context() == cpu(0)
    with pytest.raises(TypeError), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        Context.default_ctx = "cpu(0)"


def test_pickle_roundtrip():
    for c in (cpu(), gpu(3), cpu_pinned(1)):
        c2 = pickle.loads(pickle.dumps(c))
        assert c2 == c and str(c2) == str(c)


def test_num_gpus_matches_torch():
    assert num_gpus() == (torch.cuda.device_count() if HAS_CUDA else 0)


@pytest.mark.skipif(HAS_CUDA, reason="checks the error raised without CUDA")
def test_gpu_context_without_cuda():
    g = gpu(0)                                      # creating the context is allowed
    assert str(g) == "gpu(0)"
    g.empty_cache()                                 # a no-op without CUDA
    with pytest.raises(DeviceError, match=r"cannot allocate an array on gpu\(0\).*CUDA"):
        zeros((2, 3), ctx=g)
    with pytest.raises(MXNetError, match=r"gpu\(0\)"):
        array([1.0]).copyto(g)
    with pytest.raises(DeviceError):
        array([1.0]).as_in_context(gpu(1))
    with gpu(0), pytest.raises(DeviceError):
        array([1.0, 2.0])


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_gpu_allocation_and_copies():
    a = array([[1, 2], [3, 4]], ctx=gpu(0))
    assert a.context == gpu(0) and a._t.device == torch.device("cuda", 0)
    b = a.as_in_context(cpu())
    assert b.context == cpu() and b.asnumpy().tolist() == [[1, 2], [3, 4]]
    with gpu(0):
        z = zeros((3,))
    assert z._t.is_cuda
    with pytest.raises(DeviceError, match="GPU"):
        zeros((1,), ctx=gpu(num_gpus()))
