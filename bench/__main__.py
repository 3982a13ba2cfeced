"""``python -m bench``: mxc against its peers, measured in the same run.

Each system runs in its own long-lived worker process (mxc; torch eager; torch.compile; MXNet
1.9.1 from the oracle venv when it is present). Rounds are interleaved (every workload on every
system, then again), so load on this shared machine hits all systems alike; each figure is the
median of the rounds with its min-max. Output: one JSON line per (workload, system, threads),
then a table of ratios mxc / peer (speed-ups: above 1 means mxc is faster; for memory, below 1
means mxc plans less).

    python -m bench                       # everything, 1 and 2 threads
    python -m bench --quick               # fewer rounds, smaller sizes (CI smoke test)
    python -m bench --workloads chain_16m,mlp_b64 --threads 2 --rounds 7
    python -m bench --workloads lenet_bf16,mlp_bf16 --rounds 1 --no-compile
    python -m bench --compile             # only the first-step (compile time) rows
    python -m bench --compile --quick --systems mxc   # mlp, mxc cold and warm (CI smoke test)

The first-step rows (``--compile``; also after the throughput rows unless ``--no-compile``)
time, for ``mlp`` (batch 64), ``lenet`` (64), ``resnet18`` (CIFAR-style 3x32x32, 32) and
``lstm60`` (2-layer LSTM language model unrolled over 60 steps, hidden 200, vocabulary 3000,
32), the wall time from nothing to the end of the first training step (build the symbol,
``Module.bind`` for training, ``init_params``, ``init_optimizer('sgd')``, one
``forward_backward`` + ``update``, ``mx.nd.waitall()``; torch: build the module and optimizer,
one forward + backward + ``step()``), each in a fresh worker process, imports excluded: mxc
cold (empty ``MXC_CACHE_DIR``) and warm (a second process on the filled cache), MXNet 1.9.1,
torch eager, torch.compile cold (empty ``TORCHINDUCTOR_CACHE_DIR``) and warm. Their table
gives mxc cold / peer and mxc warm / peer in seconds: below 1 means mxc starts faster.

The bf16 rows (``mlp_bf16``, ``lenet_bf16``) train the ``mlp_b64`` / ``lenet_b64`` models (batch
64, SGD with momentum) in mixed precision: mxc and MXNet run the symbol converted by
``mx.contrib.amp.convert_symbol(target_dtype="bfloat16")`` (bf16 GEMMs/convolutions, float32
parameters), torch runs its model under ``torch.autocast("cpu", torch.bfloat16)``. Asking for
a bf16 row also runs its float32 row in the same run, and the table adds each system's bf16 /
float32 speed ratio. bf16 speed depends on the CPU: with AVX-512 BF16 or AMX the GEMMs run in
bf16 natively; on an AVX2-only CPU they are emulated (converted), and MXNet 1.9.1's oneDNN
cannot create bf16 primitives at all (its row then records that error instead of a figure).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name -> (worker workload, params, unit, how to turn seconds/step + setup info into the unit,
#          higher_is_better)
WORKLOADS = {
    "triad_16m": ("triad", {"n": 1 << 24}, "GB/s", lambda s, i: i["bytes"] / s / 1e9, True),
    "chain_1m": ("chain", {"n": 1 << 20}, "GB/s", lambda s, i: i["bytes"] / s / 1e9, True),
    "chain_16m": ("chain", {"n": 1 << 24}, "GB/s", lambda s, i: i["bytes"] / s / 1e9, True),
    "tiny50": ("tiny", {"n": 16}, "us/op", lambda s, i: s / 50 * 1e6, False),
    "mlp_b64": ("mlp", {"batch": 64}, "samples/s", lambda s, i: i["samples"] / s, True),
    "mlp_b256": ("mlp", {"batch": 256}, "samples/s", lambda s, i: i["samples"] / s, True),
    "lenet_b64": ("lenet", {"batch": 64}, "samples/s", lambda s, i: i["samples"] / s, True),
    "lstm_lm": ("lstm_lm", {}, "tokens/s", lambda s, i: i["tokens"] / s, True),
    "lstm_lm_fused": ("lstm_lm_fused", {}, "tokens/s", lambda s, i: i["tokens"] / s, True),
    # AMP bfloat16 training of the two models above (see the module docstring)
    "mlp_bf16": ("mlp_bf16", {"batch": 64}, "samples/s", lambda s, i: i["samples"] / s, True),
    "lenet_bf16": ("lenet_bf16", {"batch": 64}, "samples/s", lambda s, i: i["samples"] / s,
                   True),
    # ImageRecordIter, 224x224, random crop + mirror (bench/workloads_image.py)
    "imagerec_224": ("imagerec", {"batch": 32}, "images/s", lambda s, i: i["images"] / s,
                     True),
}
# Pause before every timed run: the previous system's OpenMP threads keep spinning on the
# cores after its run (Intel OpenMP under MXNet: KMP_BLOCKTIME, 200 ms by default), and the
# next system's threads would start on busy cores. Measured on 2 cores, mxc at 2 threads
# right after MXNet's run: 0.86-0.89x of its own 1-thread speed; alone, 1.2-1.3x.
COOLDOWN_S = 0.5

QUICK = {"triad_16m": {"n": 1 << 20}, "chain_16m": {"n": 1 << 22},
         "imagerec_224": {"images": 64}}
SYSTEMS = ["mxc", "torch", "torch.compile", "mxnet"]
FP32_OF = {"mlp_bf16": "mlp_b64", "lenet_bf16": "lenet_b64"}     # the bf16 rows' float32 twins


def with_fp32_twins(workloads):
    """``workloads`` plus the float32 row of every bf16 row asked for (same run)."""
    out = list(workloads)
    for w in workloads:
        if w in FP32_OF and FP32_OF[w] not in out:
            out.insert(out.index(w), FP32_OF[w])
    return out


def oracle_python() -> str | None:
    p = os.environ.get("MXC_ORACLE_PY") or os.path.expanduser("~/.cache/mxc-oracle/bin/python")
    return p if os.path.exists(p) else None


class Worker:
    def __init__(self, system: str, threads: int, cache_dir: str, env: dict | None = None):
        env = dict(os.environ, **(env or {}), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   MXC_NUM_THREADS=str(threads), MXNET_CPU_WORKER_NTHREADS=str(threads),
                   MXC_CACHE_DIR=cache_dir, MXNET_SUBGRAPH_BACKEND="MKLDNN",
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("MXC_VERIFY", None)
        env.pop("MXC_CHECK_ROUNDTRIP", None)
        if system == "mxc":
            cmd = [sys.executable, os.path.join(HERE, "worker_mxc.py")]
        elif system == "torch":
            cmd = [sys.executable, os.path.join(HERE, "worker_torch.py"), "eager"]
        elif system == "torch.compile":
            cmd = [sys.executable, os.path.join(HERE, "worker_torch.py"), "compile"]
        else:
            cmd = [oracle_python(), os.path.join(HERE, "worker_mxnet.py")]
        self.system = system
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)

    def ask(self, **msg) -> dict:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            return {"ok": False, "error": f"{self.system} worker exited"}
        return json.loads(line)

    def close(self):
        try:
            self.ask(cmd="quit")
        except (BrokenPipeError, OSError):
            pass
        self.proc.wait(timeout=30)


def _prepare(kind, params, cache_dir):
    """Workload inputs made once per run and shared by every system (a RecordIO file)."""
    if kind == "imagerec" and "rec" not in params:
        from bench.workloads_image import make_rec
        path = os.path.join(cache_dir, "imagerec.rec")
        if not os.path.exists(path):
            make_rec(path, n=params.get("images", 192))
        params = dict(params, rec=path)
    return params


def run(workloads, systems, threads_list, rounds, budget, quick, emit):
    results = []
    cache_dir = tempfile.mkdtemp(prefix="mxc-bench-cache-")
    for threads in threads_list:
        workers = {s: Worker(s, threads, cache_dir) for s in systems}
        try:
            ready = {}
            for wname in workloads:
                kind, params, unit, conv, _ = WORKLOADS[wname]
                params = dict(params, **(QUICK.get(wname, {}) if quick else {}))
                params = _prepare(kind, params, cache_dir)
                for s, w in workers.items():
                    r = w.ask(cmd="setup", workload=f"{kind}", params=params)
                    if r.get("ok"):
                        t1 = w.ask(cmd="run", workload=kind, iters=1)
                        if "seconds" not in t1:
                            r = t1
                        else:
                            iters = max(1, int(budget / max(t1["seconds"], 1e-7)))
                            ready[(wname, s)] = (kind, iters, r, [])
                    if not r.get("ok", True) or (wname, s) not in ready:
                        emit({"workload": wname, "system": s, "threads": threads,
                              "skipped": r.get("error", "unsupported")})
            for _ in range(rounds):
                for wname in workloads:
                    for s, w in workers.items():
                        key = (wname, s)
                        if key not in ready:
                            continue
                        kind, iters, info, times = ready[key]
                        # a fresh setup per workload would be fairer for caches; the same
                        # warmed-up state for every system is the next best thing
                        time.sleep(COOLDOWN_S)
                        r = w.ask(cmd="run", workload=kind, iters=iters)
                        if "seconds" in r:
                            times.append(r["seconds"])
            for (wname, s), (kind, iters, info, times) in ready.items():
                if not times:
                    continue
                _, _, unit, conv, hib = WORKLOADS[wname]
                vals = [conv(t, info) for t in times]
                rec = {"workload": wname, "system": s, "threads": threads, "unit": unit,
                       "median": statistics.median(vals), "min": min(vals), "max": max(vals),
                       "rounds": len(vals), "iters": iters}
                if "planned_bytes" in info:
                    rec["planned_bytes"] = info["planned_bytes"]
                results.append(rec)
                emit(rec)
        finally:
            for w in workers.values():
                w.close()
    return results


COMPILE_MODELS = ["mlp", "lenet", "resnet18", "lstm60"]
# the first-step rows: (system, cache state); the peers of the table after mxc's two
FIRST_STEP_ROWS = [("mxc", "cold"), ("mxc", "warm"), ("mxnet", None), ("torch", None),
                   ("torch.compile", "cold"), ("torch.compile", "warm")]
PEER_NAMES = {("mxnet", None): "MXNet 1.9.1", ("torch", None): "torch eager",
              ("torch.compile", "cold"): "torch.compile cold",
              ("torch.compile", "warm"): "torch.compile warm"}


def first_step(system, model, threads, cache_dir, env=None, batch=None):
    """A fresh worker process of ``system``: the wall time from nothing to the end of the
    first training step of ``model`` (imports excluded) -> ``{"seconds", "phases"}`` or
    ``{"error"}``."""
    w = Worker(system, threads, cache_dir, env=env)
    try:
        params = {"model": model} if batch is None else {"model": model, "batch": batch}
        r = w.ask(cmd="setup", workload="first_step", params=params)
        if not r.get("ok"):
            return {"error": r.get("error", "unsupported")}
        t = w.ask(cmd="run", workload="first_step", iters=1)
        if "seconds" not in t:
            return {"error": t.get("error", "no time")}
        info = w.ask(cmd="info", workload="first_step")
        return {"seconds": t["seconds"], "samples": r.get("samples"),
                "phases": {k: v for k, v in info.items() if k.endswith("_s")},
                "late_imports": info.get("late_imports", [])}
    finally:
        w.close()


def compile_times(emit, models=None, systems=None, threads=1, rounds=1, batch=None):
    """Wall time to the end of the first training step (bind / compile + init + one
    forward_backward + update), each in a fresh worker process: mxc cold (empty
    ``MXC_CACHE_DIR``) and warm (a second process on the filled cache), MXNet 1.9.1, torch
    eager, torch.compile cold (empty ``TORCHINDUCTOR_CACHE_DIR``) and warm. ``rounds``
    repeats every row (a new cache each round), interleaved. Emits and returns one record
    per (model, system, cache)."""
    models = list(models or COMPILE_MODELS)
    systems = list(systems or SYSTEMS)
    out = []
    for model in models:
        times, phases, errors, samples, late = {}, {}, {}, None, {}
        for _ in range(rounds):
            caches, made = {}, []
            for system, cache in FIRST_STEP_ROWS:
                if system not in systems or (system, cache) in errors:
                    continue
                if system == "mxnet" and oracle_python() is None:
                    errors[(system, cache)] = ("MXNet 1.9.1 venv not found "
                                               "(../shared/oracle/setup.sh); set MXC_ORACLE_PY")
                    continue
                if cache == "cold":
                    caches[system] = tempfile.mkdtemp(prefix=f"mxc-bench-first-{system}-")
                cdir = caches.get(system) or tempfile.mkdtemp(prefix="mxc-bench-first-")
                made.append(cdir)
                env = {"TORCHINDUCTOR_CACHE_DIR": cdir} if system == "torch.compile" else {}
                r = first_step(system, model, threads, cdir, env=env, batch=batch)
                if "error" in r:
                    errors[(system, cache)] = r["error"]
                    continue
                samples = r.get("samples") or samples
                times.setdefault((system, cache), []).append(r["seconds"])
                for k, v in r["phases"].items():
                    phases.setdefault((system, cache), {}).setdefault(k, []).append(v)
                late.setdefault((system, cache), set()).update(r.get("late_imports", ()))
            for d in set(made):
                shutil.rmtree(d, ignore_errors=True)
        for system, cache in FIRST_STEP_ROWS:
            key = (system, cache)
            rec = {"workload": f"first_step_{model}", "model": model, "system": system,
                   "threads": threads}
            if cache:
                rec["cache"] = cache
            if key in times:
                vals = times[key]
                rec.update(unit="s", median=statistics.median(vals), min=min(vals),
                           max=max(vals), rounds=len(vals), batch=samples,
                           phases={k: statistics.median(v)
                                   for k, v in phases.get(key, {}).items()})
                if late.get(key):
                    # modules imported inside the timed step (the worker's preload misses them)
                    rec["late_imports"] = sorted(late[key])
            elif key in errors:
                rec["skipped"] = errors[key]
            else:
                continue
            out.append(rec)
            emit(rec)
    return out


def first_step_table(rows):
    """mxc's cold and warm first-step times against every peer's, as ratios."""
    by = {(r["model"], r["system"], r.get("cache")): r for r in rows if "median" in r}
    models = list(dict.fromkeys(r["model"] for r in rows))
    if not models:
        return ""
    lines = ["", ("time to the end of the first training step (bind/compile + init + one "
                  "forward_backward + update; fresh process, imports excluded)"),
             (f"{'model':9s} {'batch':>5s} {'mxc cold':>9s} {'mxc warm':>9s}  {'peer':19s} "
              f"{'time':>9s} {'cold/peer':>9s} {'warm/peer':>9s}")]
    for m in models:
        cold, warm = by.get((m, "mxc", "cold")), by.get((m, "mxc", "warm"))
        any_mxc = cold or warm
        head = (f"{m:9s} {any_mxc['batch'] if any_mxc else '-':>5} "
                f"{_sec(cold):>9s} {_sec(warm):>9s}")
        first = True
        for key, name in PEER_NAMES.items():
            q = by.get((m,) + key)
            skipped = next((r for r in rows if r["model"] == m and r["system"] == key[0]
                            and r.get("cache") == key[1] and "skipped" in r), None)
            if q is None and skipped is None:
                continue
            lead = head if first else " " * len(head)
            first = False
            if q is None:
                lines.append(f"{lead}  {name:19s} skipped: {skipped['skipped'][:60]}")
                continue
            rc = f"{cold['median'] / q['median']:.2f}x" if cold else "-"
            rw = f"{warm['median'] / q['median']:.2f}x" if warm else "-"
            lines.append(f"{lead}  {name:19s} {_sec(q):>9s} {rc:>9s} {rw:>9s}")
        if first:
            lines.append(head)
    lines.append("(ratios: mxc seconds / peer seconds; below 1 means mxc reaches the end of "
                 "its first step sooner)")
    return "\n".join(lines)


def _sec(r):
    return f"{r['median']:.2f} s" if r and "median" in r else "-"


def table(results):
    by = {}
    for r in results:
        by[(r["workload"], r["threads"], r["system"])] = r
    lines = ["", f"{'workload':12s} {'thr':>3s} {'mxc':>12s} {'unit':10s} "
             + " ".join(f"{'vs ' + p:>17s}" for p in SYSTEMS[1:])]
    for (wl, thr, sysname), r in sorted(by.items()):
        if sysname != "mxc":
            continue
        hib = WORKLOADS[wl][4]
        cells = []
        for p in SYSTEMS[1:]:
            q = by.get((wl, thr, p))
            if q is None:
                cells.append(f"{'-':>17s}")
                continue
            ratio = r["median"] / q["median"] if hib else q["median"] / r["median"]
            cells.append(f"{ratio:>16.2f}x")
        lines.append(f"{wl:12s} {thr:>3d} {r['median']:>12.4g} {r['unit']:10s} "
                     + " ".join(cells))
    mem = [(r["workload"], r["threads"], r) for r in results if "planned_bytes" in r]
    for wl, thr, r in mem:
        if r["system"] != "mxc":
            continue
        q = by.get((wl, thr, "mxnet"))
        if q and q.get("planned_bytes"):
            lines.append(f"{wl:12s} {thr:>3d} planned memory mxc {r['planned_bytes']} B, "
                         f"MXNet {q['planned_bytes']} B: "
                         f"{r['planned_bytes'] / q['planned_bytes']:.2f}x")
    for wl, fp32 in FP32_OF.items():
        for thr in sorted({t for (w, t, _) in by if w == wl}):
            cells = []
            for p in SYSTEMS:
                lo, hi = by.get((wl, thr, p)), by.get((fp32, thr, p))
                if lo and hi:
                    cells.append(f"{p} {lo['median'] / hi['median']:.2f}x")
            if cells:
                lines.append(f"{wl:12s} {thr:>3d} bf16 / fp32 speed ({fp32}): "
                             + ", ".join(cells))
    lines.append("(ratios: mxc speed / peer speed; for us/op peer time / mxc time)")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--budget", type=float, default=0.3, help="seconds per timed run")
    p.add_argument("--quick", action="store_true", help="small sizes, 2 rounds")
    p.add_argument("--no-compile", action="store_true",
                   help="skip the first-step (compile time) rows")
    p.add_argument("--compile", action="store_true",
                   help="only the first-step (compile time) rows, no throughput workloads")
    p.add_argument("--compile-models", default=None,
                   help=f"first-step models (default {','.join(COMPILE_MODELS)}; "
                        "with --quick: mlp)")
    p.add_argument("--compile-rounds", type=int, default=1,
                   help="fresh processes per first-step row (median)")
    p.add_argument("--out", help="also append the JSON lines to this file")
    a = p.parse_args(argv)
    systems = [s for s in a.systems.split(",") if s]
    asked = list(systems)            # the first-step rows record a missing MXNet per model
    if "mxnet" in systems and oracle_python() is None:
        print(json.dumps({"system": "mxnet", "skipped": "MXNet 1.9.1 venv not found "
                          "(../shared/oracle/setup.sh); set MXC_ORACLE_PY"}))
        systems.remove("mxnet")
    rounds = 2 if a.quick else a.rounds
    budget = 0.05 if a.quick else a.budget
    sink = open(a.out, "a") if a.out else None

    def emit(rec):
        line = json.dumps(rec)
        print(line, flush=True)
        if sink:
            sink.write(line + "\n")
    t0 = time.time()
    threads = [int(t) for t in a.threads.split(",")]
    results, first = [], []
    if not a.compile:
        results = run(with_fp32_twins([w for w in a.workloads.split(",") if w]), systems,
                      threads, rounds, budget, a.quick, emit)
    if a.compile or not a.no_compile:
        models = (a.compile_models.split(",") if a.compile_models
                  else ["mlp"] if a.quick else COMPILE_MODELS)
        first = compile_times(emit, models=[m for m in models if m], systems=asked,
                              threads=max(threads), rounds=a.compile_rounds)
    if results:
        print(table(results))
    print(first_step_table(first))
    print(f"(bench took {time.time() - t0:.0f} s)")
    if sink:
        sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
