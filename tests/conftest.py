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

import pytest  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")


def pytest_collection_modifyitems(config, items):
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture
def data_dir():
    return DATA
