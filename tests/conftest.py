"""Test session setup: every graph a test compiles is verified after each pass and round-tripped
through the IR text form; Triton runs under its interpreter when there is no CUDA device."""
import os

os.environ.setdefault("MXC_VERIFY", "1")
os.environ.setdefault("MXC_CHECK_ROUNDTRIP", "1")
os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
# a compile cache of the session's own: every graph goes through the verified pipeline once
if "MXC_CACHE_DIR" not in os.environ:
    import tempfile
    os.environ["MXC_CACHE_DIR"] = tempfile.mkdtemp(prefix="mxc-test-cache-")

try:
    import torch
    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
except ImportError:  # pragma: no cover
    pass

import zlib  # noqa: E402

import pytest  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")


def pytest_collection_modifyitems(config, items):
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    run_slow = os.environ.get("MXC_SLOW", "") not in ("", "0")
    skip_slow = pytest.mark.skip(reason="slow: sampled out (MXC_SLOW=1 runs every slow test)")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)
        # slow checks: all of them with MXC_SLOW=1, else a fixed sample of about a third
        if "slow" in item.keywords and not run_slow and zlib.crc32(item.nodeid.encode()) % 3:
            item.add_marker(skip_slow)


@pytest.fixture
def data_dir():
    return DATA
