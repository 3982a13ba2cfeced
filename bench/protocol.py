"""The worker side of the benchmark protocol (stdlib only: it also runs under MXNet's venv).

A worker reads one JSON command per line on stdin and answers one JSON line on stdout:
``{"cmd": "setup", "workload": w, "params": {...}}`` -> ``{"ok": true, ...}``;
``{"cmd": "run", "workload": w, "iters": n}`` -> ``{"seconds": t}``;
``{"cmd": "quit"}``. Workloads are objects with ``setup(**params)``, ``step()`` and optional
``info()``; a worker module defines ``WORKLOADS = {name: factory}``.
"""
import json
import sys
import time
import traceback


def serve(workloads):
    out = sys.stdout
    sys.stdout = sys.stderr          # library chatter must not corrupt the protocol
    live = {}
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            cmd = msg["cmd"]
            if cmd == "quit":
                break
            if cmd == "setup":
                name = msg["workload"]
                if name not in workloads:
                    reply = {"ok": False, "error": f"workload {name} not supported here"}
                else:
                    t = time.perf_counter()
                    w = workloads[name]()
                    info = w.setup(**msg.get("params", {})) or {}
                    live[name] = w
                    reply = {"ok": True, "setup_s": time.perf_counter() - t, **info}
            elif cmd == "run":
                w = live[msg["workload"]]
                n = int(msg["iters"])
                t = time.perf_counter()
                for _ in range(n):
                    w.step()
                if hasattr(w, "sync"):
                    w.sync()
                reply = {"seconds": (time.perf_counter() - t) / n}
            elif cmd == "info":
                w = live[msg["workload"]]
                reply = w.info() if hasattr(w, "info") else {}
            else:
                reply = {"ok": False, "error": f"unknown command {cmd}"}
        except Exception as e:  # noqa: BLE001 - reported to the driver
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}",
                     "trace": traceback.format_exc()[-2000:]}
        out.write(json.dumps(reply) + "\n")
        out.flush()
