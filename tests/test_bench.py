"""The benchmark harness (``python -m bench``): its first-step (compile time) rows. No timing
asserts: only that the rows come back, with positive figures, and that the table reads them."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.__main__ import compile_times, first_step_table, main  # noqa: E402


def _rows(rows):
    return {(r["model"], r["system"], r.get("cache")): r for r in rows}


def test_first_step_mxc_cold_and_warm_mlp():
    emitted = []
    rows = compile_times(emitted.append, models=["mlp"], systems=["mxc"], threads=1)
    assert rows == emitted
    got = _rows(rows)
    assert set(got) == {("mlp", "mxc", "cold"), ("mlp", "mxc", "warm")}
    for r in got.values():
        assert r["unit"] == "s" and r["median"] > 0 and r["batch"] == 64, r
        assert r["workload"] == "first_step_mlp" and r["rounds"] == 1
        assert set(r["phases"]) == {"bind_s", "init_s", "step_s"}
        assert all(v > 0 for v in r["phases"].values())
        # imports are excluded from the times: the worker preloads what a first step imports
        assert "late_imports" not in r, r["late_imports"]
    table = first_step_table(rows)
    assert "mlp" in table and "below 1 means mxc" in table


def test_first_step_table_ratios():
    rows = [{"model": "lenet", "system": "mxc", "cache": "cold", "median": 3.0, "batch": 64},
            {"model": "lenet", "system": "mxc", "cache": "warm", "median": 1.0, "batch": 64},
            {"model": "lenet", "system": "torch", "median": 2.0},
            {"model": "lenet", "system": "mxnet", "skipped": "MXNet 1.9.1 venv not found"}]
    table = first_step_table(rows)
    line = next(x for x in table.splitlines() if "torch eager" in x)
    assert "1.50x" in line and "0.50x" in line
    assert "skipped: MXNet 1.9.1 venv not found" in table


@pytest.mark.slow
def test_bench_compile_quick_cli(capsys):
    # mxc, torch eager and MXNet (when its venv is present; else a skipped row) on LeNet
    assert main(["--compile", "--quick", "--compile-models", "lenet", "--threads", "1",
                 "--systems", "mxc,torch,mxnet"]) == 0
    out = capsys.readouterr().out
    assert "time to the end of the first training step" in out
    lines = [x for x in out.splitlines() if x.startswith("{")]
    import json
    got = _rows(json.loads(x) for x in lines if '"model"' in x)
    for key in [("lenet", "mxc", "cold"), ("lenet", "mxc", "warm"), ("lenet", "torch", None)]:
        assert got[key].get("median", 0) > 0, got[key]
    assert "median" in got[("lenet", "mxnet", None)] or "skipped" in got[("lenet", "mxnet", None)]
