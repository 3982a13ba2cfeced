"""MXNet's module paths and public names under mxc: import forms, one module object per path,
the `mxnet` alias, unsupported packages, mx.runtime.Features, and docs/compat.md."""
import os
import subprocess
import sys

import pytest

import mxc as mx
from mxc.base import MXNetError, UnsupportedError

ROOT = os.path.join(os.path.dirname(__file__), "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gen_compat_doc  # noqa: E402

# modules whose every MXNet name must exist in mxc (issue: MXNet 1.9.1's surface)
COMPLETE = [
    "mxnet", "mxnet.base", "mxnet.context", "mxnet.name", "mxnet.attribute", "mxnet.util",
    "mxnet.runtime", "mxnet.engine", "mxnet.executor", "mxnet.module",
    "mxnet.module.base_module", "mxnet.module.bucketing_module", "mxnet.module.executor_group",
    "mxnet.module.module", "mxnet.module.python_module", "mxnet.module.sequential_module",
    "mxnet.model", "mxnet.monitor", "mxnet.profiler", "mxnet.random", "mxnet.ndarray.random",
    "mxnet.symbol.random", "mxnet.callback", "mxnet.lr_scheduler",
    "mxnet.io.DataIter (methods)", "mxnet.executor.Executor (methods)",
    "mxnet.module.Module (methods)", "mxnet.monitor.Monitor (methods)",
]
# names that need the network (MXNet downloads them); mxc's raise a clear error instead
NETWORK = {"download", "download_model", "get_cifar10", "get_zip_data", "get_bz2_data"}


@pytest.fixture(scope="module")
def surface_rows():
    return {r[0]: r for r in gen_compat_doc.rows()}


def test_compat_doc_is_up_to_date():
    assert gen_compat_doc.main(["--check"]) == 0, "run python tools/gen_compat_doc.py"


@pytest.mark.parametrize("module", COMPLETE)
def test_every_mxnet_name_exists(surface_rows, module):
    name, have, total, partial, missing = surface_rows[module]
    assert [m for m in missing if m not in NETWORK] == [], f"{module} lacks {missing}"
    assert partial == [], f"{module}: fewer parameters than MXNet's in {partial}"


def test_test_utils_has_everything_but_downloads(surface_rows):
    _, _, _, _, missing = surface_rows["mxnet.test_utils"]
    assert set(missing) <= NETWORK


def test_module_paths_are_real_modules_with_one_identity():
    import runtime.module.executor_group as impl
    import mxc.module.executor_group as a
    from mxc.module.executor_group import DataParallelExecutorGroup
    from mxc.module import executor_group as b
    assert a is impl and b is impl
    assert DataParallelExecutorGroup is impl.DataParallelExecutorGroup
    assert mx.mod is mx.module
    assert mx.module.executor_group is impl
    # the implementing module keeps its own identity (spec, name)
    assert impl.__name__ == "runtime.module.executor_group"
    assert impl.__spec__.name == "runtime.module.executor_group"
    import mxc.executor
    assert mxc.executor.Executor is type(mx.sym.Variable("x").simple_bind(mx.cpu(), x=(1,)))
    from mxc.name import NameManager, Prefix  # noqa: F401
    from mxc.attribute import AttrScope
    assert AttrScope is mx.AttrScope
    assert mx.rnd is mx.random


def test_mxnet_alias_runs_an_mxnet_script(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        "import mxnet as mx\n"
        "from mxnet.module.executor_group import DataParallelExecutorGroup\n"
        "import mxnet.ndarray as nd\n"
        "from mxnet.base import MXNetError\n"
        "assert mx.__name__ == 'mxc' and nd is mx.nd\n"
        "x = mx.sym.Variable('data')\n"
        "net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(x, num_hidden=2, name='fc'), "
        "name='softmax')\n"
        "it = mx.io.NDArrayIter(mx.nd.ones((8, 3)), mx.nd.zeros((8,)), batch_size=4)\n"
        "m = mx.mod.Module(net)\n"
        "m.fit(it, num_epoch=1)\n"
        "print('ok', mx.runtime.Features().is_enabled('CPU_SSE2') in (True, False))\n")
    r = subprocess.run([sys.executable, "-m", "mxc.as_mxnet", str(script)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ok True" in r.stdout


@pytest.mark.parametrize("name", ["gluon", "autograd", "onnx", "np", "npx", "rtc"])
def test_unsupported_packages_name_the_feature(name):
    mod = getattr(mx, name)
    with pytest.raises(UnsupportedError, match="mxc does not support"):
        mod.anything
    with pytest.raises(UnsupportedError, match="mxc does not support"):
        __import__(f"mxc.{name}.sub")
    assert isinstance(UnsupportedError("x"), MXNetError)


def test_unknown_top_level_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        mx.no_such_thing  # noqa: B018
    assert not hasattr(mx, "no_such_thing")


def test_runtime_features_as_mxnet():
    f = mx.runtime.Features()
    assert f is mx.runtime.Features()          # one instance, as MXNet's
    names = list(f)
    assert names[:5] == ["CUDA", "CUDNN", "NCCL", "CUDA_RTC", "TENSORRT"]
    for n in ("MKLDNN", "CPU_AVX2", "OPENMP", "DIST_KVSTORE", "LLVM", "TRITON"):
        assert f.is_enabled(n) in (True, False)
    assert f.is_enabled("mkldnn") == f.is_enabled("MKLDNN")   # case-insensitive
    assert f.is_enabled("LLVM")
    import torch
    assert f.is_enabled("CUDA") == torch.cuda.is_available()
    with pytest.raises(RuntimeError, match="Feature 'FOO' is unknown"):
        f.is_enabled("foo")
    assert repr(f["LLVM"]) == "✔ LLVM"
    assert [x.name for x in mx.runtime.feature_list()] == names


def test_errors_are_runtime_errors_as_in_mxnet():
    assert issubclass(MXNetError, RuntimeError)
    with pytest.raises(RuntimeError):
        mx.sym.load_json("{")


def test_base_helpers():
    from mxc import base
    assert base.py_str(b"abc") == "abc"
    assert base.c_str("ab").value == b"ab"
    assert list(base.c_array(base.mx_uint, [1, 2])) == [1, 2]
    base.check_call(0)
    with pytest.raises(MXNetError):
        base.check_call(-1)
    e = base.NotImplementedForSymbol(len, "+", 1)
    assert "len" in str(e) and "not implemented for Symbol" in str(e)


def test_registry_functions():
    create = mx.registry.get_create_func(mx.metric.EvalMetric, "metric")
    acc = create("acc")
    assert type(acc).__name__ == "Accuracy"
    assert create(acc) is acc
    assert "accuracy" in mx.registry.get_registry(mx.metric.EvalMetric)
    with pytest.raises(Exception, match="Cannot find metric"):
        create("no_such_metric")


def test_error_registry_and_log(tmp_path):
    assert issubclass(mx.error.InternalError, MXNetError)
    assert issubclass(mx.error.error_types["ValueError"], ValueError)
    log = tmp_path / "x.log"
    lg = mx.log.get_logger("mxc-test-log", filename=str(log), level=mx.log.INFO)
    lg.info("hello")
    for h in lg.handlers:
        h.flush()
    assert "hello" in log.read_text() and log.read_text().startswith("I")


def test_unsupported_package_under_the_mxnet_alias(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        "import mxnet.contrib\n"
        "from mxnet.contrib.amp import amp\n"
        "from mxnet.base import UnsupportedError\n"
        "try:\n"
        "    from mxnet.contrib.onnx import import_model\n"
        "except UnsupportedError as e:\n"
        "    print('unsupported:', e)\n")
    r = subprocess.run([sys.executable, "-m", "mxc.as_mxnet", str(script)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "unsupported: mxc does not support ONNX import/export" in r.stdout
