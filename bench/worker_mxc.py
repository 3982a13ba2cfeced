"""Benchmark worker: mxc (python -m bench.worker_mxc)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import mxc as mx  # noqa: E402

from bench import workloads_image as WI  # noqa: E402
from bench import workloads_sym as W  # noqa: E402
from bench.protocol import serve  # noqa: E402


class MxcTraining(W.ModuleTraining):
    def memory(self):
        try:
            exe = self.mod._exec_group.execs[0]
            c = exe._plan("train").compiled
            return {"planned_bytes": c.peak_bytes}
        except Exception:  # noqa: BLE001
            return {}


class MxcFirstStep(W.FirstStep):
    def preload(self):
        super().preload()
        import importlib
        # modules the first bind and step import lazily (the LLVM binding at the first
        # compile, the executor and the kvstore at the first bind)
        for m in ("mxc.codegen.llvm", "mxc.codegen.parallel", "mxc.random", "runtime.executor",
                  "runtime.kvstore", "runtime.model", "runtime.placement", "runtime.profiler",
                  "runtime.dist"):
            importlib.import_module(m)


WORKLOADS = {
    "chain": lambda: W.SymbolForward(mx, W.chain_symbol),
    "tiny": lambda: W.SymbolForward(mx, W.tiny_symbol),
    "mlp": lambda: MxcTraining(mx, W.mlp_symbol, (784,)),
    "lenet": lambda: MxcTraining(mx, W.lenet_symbol, (1, 28, 28)),
    "mlp_bf16": lambda: MxcTraining(mx, W.mlp_bf16_symbol, (784,)),
    "lenet_bf16": lambda: MxcTraining(mx, W.lenet_bf16_symbol, (1, 28, 28)),
    # wall time to the end of the first training step, in a fresh process (bench --compile)
    "first_step": lambda: MxcFirstStep(mx),
    "lstm_lm": lambda: W.BucketingLM(mx),
    "imagerec": lambda: WI.RecordIterRead(mx),
}

if __name__ == "__main__":
    serve(WORKLOADS)
