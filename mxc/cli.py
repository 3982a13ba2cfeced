"""``mxc``: the command line.

    mxc dump net-symbol.json --shape data=64,784 [--after STAGE] [--kernels] [--memory]
             [--why-no-fuse] [--target llvm|triton] [--train] [--monitor PATTERN [--monitor-all]]
    mxc run  net-symbol.json --shape data=64,784 [--params net-0000.params] [--repeat N]
             [--profile] [--train]
    mxc bench [bench options]
    mxc im2rec [im2rec options] PREFIX ROOT   (MXNet's tools/im2rec.py)
    mxc launch -n N [--launcher local|ssh] [-H hostfile] python train.py ...
                                             (MXNet's tools/launch.py, over torchrun)

``dump`` prints every stage from the imported graph through each pass to the program and its
memory plan (``--after STAGE``: one of them), the kernels' IR and sources (LLVM IR or Triton)
and the fusion remarks; ``--monitor PATTERN`` compiles the program an
executor with ``mx.mon.Monitor(pattern=PATTERN)`` installed runs (the values it watches are
pinned; ``--why-no-fuse`` lists each as a ``pin`` remark). ``run`` executes the compiled graph
on random inputs (parameters from a .params file if given) and prints the outputs' shapes and
timing; ``--profile`` adds the time of every kernel and library call, slowest first.
"""
from __future__ import annotations

import argparse
import sys
import time

__all__ = ["main"]


class UsageError(Exception):
    """A command line that cannot be carried out as given: ``mxc: error: ...``, exit status 2."""


def _shapes(items):
    """``--shape NAME=D1,D2`` options as ``{name: (d1, d2)}``: positive integer dimensions."""
    from .ir.types import check_shape
    out = {}
    for it in items or []:
        name, eq, dims = it.partition("=")
        if not eq or not name:
            raise UsageError(f"--shape expects NAME=D1,D2,...; got {it!r}")
        parts = dims.replace("x", ",").split(",")
        if not dims or any(not d.strip() for d in parts):
            raise UsageError(f"--shape {it!r}: expected NAME=D1,D2,... with a size for each "
                             "dimension")
        try:
            shape = tuple(int(d) for d in parts)
        except ValueError:
            raise UsageError(f"--shape {it!r}: dimensions must be integers") from None
        if name in out:
            raise UsageError(f"--shape {it!r}: {name!r} is given twice")
        try:
            out[name] = check_shape(shape, f"--shape {it!r}", bind=True)
        except ValueError as e:
            raise UsageError(str(e)) from None
    return out


def _compile(args):
    import mxc as mx
    from .symbol.convert import check_input_shapes
    shapes = _shapes(args.shape)
    sym = mx.sym.load(args.symbol)
    try:
        check_input_shapes(sym, shapes, f"--shape for {args.symbol}")
    except mx.MXNetError as e:
        raise UsageError(str(e)) from None
    grad = None
    if getattr(args, "train", False):
        grad = [n for n in sym.list_arguments() if n not in shapes]
    pins = None
    if getattr(args, "monitor", None) is not None:
        # the values a Monitor(pattern=...) would watch, kept materialized (mxc.passes.pin)
        import re
        try:
            re.compile(args.monitor)
        except re.error as e:
            raise UsageError(f"--monitor {args.monitor!r} is not a regular expression: {e}") \
                from None
        pins = mx.monitor.monitor_pins(sym, args.monitor, args.monitor_all,
                                       train=grad is not None) or None
    return sym, mx.compile(sym, shapes=shapes, target=args.target,
                           is_train=getattr(args, "train", False), grad_wrt=grad, pins=pins)


def cmd_dump(args) -> int:
    _, c = _compile(args)
    if args.after is not None:
        names = c.stage_names()
        if args.after not in names:
            raise UsageError(f"--after {args.after!r}: no such stage; the stages are "
                             f"{', '.join(names)} (a pass run again: name#2)")
    print(c.dump(after=args.after, kernels=args.kernels, memory=args.memory,
                 why_no_fuse=args.why_no_fuse))
    return 0


def cmd_run(args) -> int:
    import numpy as np

    import mxc as mx
    sym, c = _compile(args)
    rng = np.random.default_rng(0)
    params = {}
    if args.params:
        loaded = mx.nd.load(args.params)
        if not isinstance(loaded, dict):
            raise UsageError(f"--params {args.params}: the file holds an unnamed list of "
                             f"{len(loaded)} arrays; mxc run needs parameters saved by name "
                             "(mx.nd.save(fname, {'arg:fc1_weight': ...}) or "
                             "Module.save_checkpoint)")
        for k, v in loaded.items():
            params[k.split(":", 1)[-1]] = v.asnumpy()
    ins = []
    for v in c.graph.inputs:
        if v.name in params:
            ins.append(params[v.name])
        else:
            ins.append(rng.standard_normal(v.type.shape).astype(v.type.dtype.numpy))
    outs = c(*ins)
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        c.executable(*ins)
    dt = (time.perf_counter() - t0) / max(args.repeat, 1)
    for name, o in zip(sym.list_outputs(), outs):
        print(f"{name}: shape {o.shape} dtype {o.dtype} mean {float(np.mean(o)):.6g}")
    print(f"{len(c.kernels)} kernels, {len(c.program.steps)} steps, arena "
          f"{c.peak_bytes} bytes, {dt * 1e3:.3f} ms per run ({c.target})")
    if args.profile:
        print(format_profile(c.profile(ins, repeat=args.repeat)))
    return 0


def format_profile(rows, top: int = 40) -> str:
    """A table of :meth:`Bound.profile` rows: the slowest ``top`` steps and the total per
    operator."""
    total = sum(r["seconds"] for r in rows) or 1e-30
    lines = [f"{'step':48s} {'kind':7s} {'op':24s} {'us':>9s} {'%':>6s}"]
    for r in rows[:top]:
        lines.append(f"{r['step'][:48]:48s} {r['kind']:7s} {r['op'][:24]:24s} "
                     f"{r['seconds'] * 1e6:9.1f} {100 * r['seconds'] / total:6.1f}")
    by_op: dict = {}
    for r in rows:
        key = (r["kind"], r["op"])
        by_op[key] = by_op.get(key, 0.0) + r["seconds"]
    lines.append("")
    lines.append(f"{'by operator':56s} {'us':>9s} {'%':>6s}")
    for (kind, op), sec in sorted(by_op.items(), key=lambda kv: -kv[1]):
        lines.append(f"{kind + ' ' + op:56s} {sec * 1e6:9.1f} {100 * sec / total:6.1f}")
    lines.append(f"{'total':56s} {total * 1e6:9.1f}")
    return "\n".join(lines)


def cmd_bench(rest) -> int:
    from bench.__main__ import main as bench_main
    return bench_main(rest)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return cmd_bench(argv[1:])
    if argv and argv[0] == "launch":
        from .tools.launch import main as launch_main
        return launch_main(argv[1:])
    if argv and argv[0] == "im2rec":
        from .tools.im2rec import main as im2rec_main
        return im2rec_main(argv[1:])
    if argv and argv[0] == "config":
        from .config import _main as config_main
        return config_main(argv[1:])
    p = argparse.ArgumentParser(prog="mxc", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("dump", "run"):
        q = sub.add_parser(name)
        q.add_argument("symbol", help="an MXNet -symbol.json file")
        q.add_argument("--shape", action="append", metavar="NAME=D1,D2",
                       help="an input shape (repeat for several inputs)")
        q.add_argument("--target", default="llvm", help="llvm (cpu) or triton (gpu)")
        q.add_argument("--train", action="store_true",
                       help="compile the training graph (forward + gradients)")
        if name == "dump":
            q.add_argument("--after", metavar="STAGE", help="only this stage (a pass, "
                           "\"program\" or \"memory\")")
            q.add_argument("--kernels", action="store_true", help="kernel IR and sources")
            q.add_argument("--memory", action="store_true", help="the memory plan")
            q.add_argument("--why-no-fuse", action="store_true", help="fusion remarks")
            q.add_argument("--monitor", metavar="PATTERN",
                           help="compile as for an mx.mon.Monitor with this pattern: the values "
                                "it watches are pinned (see --why-no-fuse)")
            q.add_argument("--monitor-all", action="store_true",
                           help="with --monitor: the monitor watches node inputs too")
        else:
            q.add_argument("--params", help="a .params file with the parameters")
            q.add_argument("--repeat", type=int, default=10)
            q.add_argument("--profile", action="store_true",
                           help="time every kernel and library call")
    sub.add_parser("bench", help="run the benchmarks (see python -m bench --help)")
    sub.add_parser("launch", help="start a distributed (dist_sync) job with torchrun, taking "
                                  "MXNet's tools/launch.py arguments (see python -m "
                                  "mxc.tools.launch --help)")
    sub.add_parser("config", help="every environment variable mxc reads, with the values in "
                                  "effect (--markdown: docs/configuration.md)")
    sub.add_parser("im2rec", help="image lists and RecordIO files from a folder of images "
                                  "(see python -m mxc.tools.im2rec --help)")
    args = p.parse_args(argv)
    from .base import MXNetError
    try:
        return {"dump": cmd_dump, "run": cmd_run}[args.cmd](args)
    except (UsageError, MXNetError, OSError) as e:
        # one line, no traceback: what the user gave that cannot be used
        msg = " ".join(str(e).split()) if isinstance(e, UsageError) else str(e)
        print(f"mxc: error: {args.cmd}: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
