"""LLVM's optimizer and code generator for one kernel, in this process or in a worker process.

:func:`compile_ir` turns a kernel's LLVM IR text into object code for a given CPU (name and
feature string) and returns it with the optimized IR. It is the only place mxc runs LLVM's
pipelines, whether in-process or in the compile workers (:class:`mxc.codegen.llvm.CompilePool`),
so both make the same machine code.

Run as a script (``python llvm_worker.py``), this file is one compile worker: it reads requests
from stdin and writes replies to stdout, each a 4-byte little-endian length and a pickle. It
imports llvmlite and nothing of mxc (mxc's package imports torch, which takes seconds to load);
keep it that way.
"""
from __future__ import annotations

import pickle
import struct
import sys

import llvmlite.binding as llvm

_ready = False


def _init():
    global _ready
    if not _ready:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _ready = True


def target_machine(cpu: str, features: str, opt: int = 3):
    _init()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=cpu, features=features, opt=opt, reloc="default",
                                        codemodel="jitdefault")


def compile_ir(text: str, cpu: str, features: str, opt: int = 3) -> tuple[bytes, str]:
    """(object code, optimized IR text) of the module ``text``, optimized at ``opt`` with loop
    and SLP vectorization (and no loop unrolling) for ``cpu`` with ``features``."""
    tm = target_machine(cpu, features, opt)
    mod = llvm.parse_assembly(text)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=opt)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    # no loop unrolling beyond the vectorizer's interleaving: unrolling the small constant
    # loops of pooling windows and im2col blocks after vectorizing them grew those kernels'
    # optimized IR up to 10x and made a cold LeNet's LLVM time 25% longer (1035 -> 831 ms
    # over its 27 kernels), with the same step times (LeNet, MLP, the LSTM LM, max pooling
    # forward and backward at 3 sizes, alternating runs)
    pto.loop_unrolling = False
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return tm.emit_object(mod), str(mod)


def read_msg(f):
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    body = f.read(n)
    if len(body) < n:
        return None
    return pickle.loads(body)


def write_msg(f, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(struct.pack("<I", len(data)) + data)
    f.flush()


def serve(fin, fout) -> None:
    """Answer ``(tag, ir text, cpu, features, opt)`` with ``(tag, object, optimized IR, None)``
    or ``(tag, None, None, error text)`` until stdin closes."""
    _init()
    write_msg(fout, ("ready", None, None, None))
    while True:
        req = read_msg(fin)
        if req is None:
            return
        tag, text, cpu, features, opt = req
        try:
            obj, opt_ir = compile_ir(text, cpu, features, opt)
        except Exception as e:  # noqa: BLE001 - reported to the parent, which compiles itself
            write_msg(fout, (tag, None, None, f"{type(e).__name__}: {e}"))
        else:
            write_msg(fout, (tag, obj, opt_ir, None))


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
