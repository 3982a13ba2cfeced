"""Benchmark worker: Apache MXNet 1.9.1 (run with the oracle venv's python)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import mxnet as mx  # noqa: E402
import workloads_image as WI  # noqa: E402
import workloads_sym as W  # noqa: E402
from protocol import serve  # noqa: E402


class MXNetTraining(W.ModuleTraining):
    def memory(self):
        try:
            text = self.mod._exec_group.execs[0].debug_str()
            for line in text.splitlines():
                if line.startswith("Total") and "MB allocated" in line:
                    return {"planned_bytes": int(float(line.split()[1]) * (1 << 20))}
        except Exception:  # noqa: BLE001
            pass
        return {}


WORKLOADS = {
    "chain": lambda: W.SymbolForward(mx, W.chain_symbol),
    "tiny": lambda: W.SymbolForward(mx, W.tiny_symbol),
    "mlp": lambda: MXNetTraining(mx, W.mlp_symbol, (784,)),
    "lenet": lambda: MXNetTraining(mx, W.lenet_symbol, (1, 28, 28)),
    # AMP bfloat16 (oneDNN bf16 primitives: on a CPU without AVX-512 their creation fails and
    # the row records that error instead of a figure)
    "mlp_bf16": lambda: MXNetTraining(mx, W.mlp_bf16_symbol, (784,)),
    "lenet_bf16": lambda: MXNetTraining(mx, W.lenet_bf16_symbol, (1, 28, 28)),
    "lstm_lm": lambda: W.BucketingLM(mx),
    "first_step": lambda: W.FirstStep(mx),
    "lstm_lm_fused": lambda: W.BucketingLM(mx, fused=True),
    # ctx='cpu': the C++ iterator decodes on OMP_NUM_THREADS threads (its default 'gpu' mode
    # caps them at half the cores: one, on this machine)
    "imagerec": lambda: WI.RecordIterRead(mx, {"ctx": "cpu"}),
}

if __name__ == "__main__":
    serve(WORKLOADS)
