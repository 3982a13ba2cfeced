"""mxc/config.py: every environment variable in one table, read in one place."""
import os
import re

import pytest

from mxc import config
from mxc.codegen.backend import target_for_device

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
_VAR = re.compile(r"\b(MXC_[A-Z0-9_]+|MXNET_[A-Z0-9_]+)\b")
# direct reads of the environment outside mxc/config.py
_READ = re.compile(r"(os\.environ(\.get)?|os\.getenv)\s*[\[(]\s*[\"'](MXC_|MXNET_)")


def _sources():
    for top in ("mxc", "runtime"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(".py"):
                    yield os.path.join(d, f)


def test_every_variable_the_code_names_is_in_the_table():
    # MXNET_VERSION is a JSON attribute name, not an environment variable
    unknown = {}
    for path in _sources():
        for v in _VAR.findall(open(path, encoding="utf-8").read()):
            if v not in config.SETTINGS and v != "MXNET_VERSION":
                unknown.setdefault(v, os.path.relpath(path, ROOT))
    assert not unknown, f"variables missing from mxc/config.py: {unknown}"


def test_only_config_reads_mxc_variables():
    readers = [os.path.relpath(p, ROOT) for p in _sources()
               if not p.endswith(os.path.join("mxc", "config.py"))
               and _READ.search(open(p, encoding="utf-8").read())]
    assert not readers, f"read the environment through mxc.config.get: {readers}"


def test_docs_table_is_up_to_date():
    with open(os.path.join(ROOT, "docs", "configuration.md"), encoding="utf-8") as f:
        assert f.read() == config.markdown(), \
            "docs/configuration.md is out of date: mxc config --markdown > docs/configuration.md"


@pytest.mark.parametrize("name,raw,expect", [
    ("MXC_CACHE", "0", False), ("MXC_CACHE", "no", False), ("MXC_CACHE", "1", True),
    ("MXC_CACHE", None, True), ("MXC_VERIFY", "", False), ("MXC_VERIFY", "yes", True),
    ("MXC_NUM_THREADS", "3", 3), ("MXC_NUM_THREADS", "", None), ("MXC_TORCH_THREADS", None, None), ("MXC_TORCH_THREADS", "2", 2),
    ("MXC_TARGET", "triton", "triton"), ("MXC_TARGET", None, "llvm"),
    ("MXNET_OPTIMIZER_AGGREGATION_SIZE", "8", 8),
])
def test_values_parse(monkeypatch, name, raw, expect):
    if raw is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, raw)
    assert config.get(name) == expect


@pytest.mark.parametrize("name,raw,words", [
    ("MXC_NUM_THREADS", "many", ["MXC_NUM_THREADS", "'many'", "integer"]),
    ("MXC_NUM_THREADS", "0", ["MXC_NUM_THREADS", "at least 1"]),
    ("MXC_OPT_LEVEL", "4", ["MXC_OPT_LEVEL", "at most 3"]),
    ("MXC_COMPILE_JOBS", "0", ["MXC_COMPILE_JOBS", "at least 1"]),
    ("MXC_TARGET", "cuda", ["MXC_TARGET", "'cuda'", "llvm", "triton"]),
    ("MXC_JPEG_DECODER", "pil", ["MXC_JPEG_DECODER", "opencv", "simplejpeg"]),
])
def test_bad_values_name_the_variable(monkeypatch, name, raw, words):
    monkeypatch.setenv(name, raw)
    with pytest.raises(config.ConfigError) as e:
        config.get(name)
    for w in words:
        assert w in str(e.value)


def test_unknown_setting_is_a_key_error():
    with pytest.raises(KeyError, match="MXC_NOPE"):
        config.get("MXC_NOPE")


def test_cache_root_and_target(monkeypatch, tmp_path):
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path))
    assert config.cache_root() == str(tmp_path)
    monkeypatch.delenv("MXC_CACHE_DIR")
    assert config.cache_root() == os.path.join(os.path.expanduser("~"), ".cache", "mxc")
    monkeypatch.setenv("MXC_TARGET", "triton")
    monkeypatch.setenv("MXC_EAGER_TARGET", "llvm")
    assert target_for_device("cpu") == "triton"
    assert target_for_device("cpu", eager=True) == "llvm"
    assert target_for_device("gpu") == "triton"


_THREADS_SCRIPT = r"""
import json, os
import mxc
import torch
from mxc.codegen import parallel
parallel.configure_torch()
a, b, out = torch.randn(256, 512), torch.randn(512, 256), torch.empty(256, 256)
call = parallel.extern_call(lambda at, ins, outs: torch.matmul(*ins, out=outs[0]),
                            {}, [a, b], [out], split=lambda at, i, o: ([0, None], [0], None))
call()
# a weight gradient: row blocks of both operands give partial sums (rounded differently)
ga, gb, gout = torch.randn(256, 512), torch.randn(256, 256), torch.empty(512, 256)
gcall = parallel.extern_call(lambda at, ins, outs: torch.matmul(ins[0].t(), ins[1], out=outs[0]),
                             {}, [ga, gb], [gout], split=lambda at, i, o: ([0, 0], ["sum"], None))
for _ in range(12):
    gcall()
print(json.dumps({"sum_ways": len(getattr(gcall, "ways", ())),
                  "sum_ok": bool(torch.allclose(gout, ga.t() @ gb, atol=1e-3)),"omp": os.environ.get("OMP_WAIT_POLICY"), "torch": torch.get_num_threads(),
                  "mxc": parallel.torch_threads(),
                  "call": getattr(call, "__name__", type(call).__name__),
                  "small": parallel.extern_call(lambda at, ins, outs: None, {},
                                                [torch.ones(4, 4)], [torch.ones(4)]).__name__,
                  "ok": bool(torch.allclose(out, a @ b, atol=1e-4))}))
"""


@pytest.mark.parametrize("env, want", [
    # one thread, torch's threads or mxc's batch split, as measured (_Chooser); a tiny call:
    # one thread
    ({"MXC_NUM_THREADS": "2"},
     {"omp": "PASSIVE", "torch": 1, "mxc": 2, "call": "_Chooser", "small": "whole"}),
    # torch held to one thread: mxc splits the batch over its pool
    ({"MXC_NUM_THREADS": "2", "MXC_TORCH_THREADS": "1"},
     {"omp": "PASSIVE", "torch": 1, "mxc": 1, "call": "run", "small": "whole"}),
    ({"MXC_NUM_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE"},
     {"omp": "ACTIVE", "torch": 1, "mxc": 1, "call": "whole", "small": "whole"}),
])
def test_library_calls_get_the_idle_threads(env, want):
    """A large library call runs on one thread, on torch's threads (default MXC_NUM_THREADS:
    mxc's own are idle during the call) or batch-split over mxc's pool, as measured; torch
    stays on one thread outside calls; MXC_TORCH_THREADS=1 leaves only mxc's batch split. import mxc makes OpenMP threads sleep after a call unless the user chose a policy."""
    import json
    import subprocess
    import sys
    full = {k: v for k, v in os.environ.items()
            if k not in ("MXC_TORCH_THREADS", "OMP_WAIT_POLICY", "MXC_NUM_THREADS")}
    full.update(env)
    r = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], env=full, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got.pop("ok") and got.pop("sum_ok")
    # a split summing partial products is never chosen by timing (results would depend on it)
    assert got.pop("sum_ways") == (2 if want["call"] == "_Chooser" else 0)
    assert got == want
