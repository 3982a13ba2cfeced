"""Every environment variable mxc reads, in one table, read in one place.

``get(name)`` parses the variable each time it is called (tests and users may change the
environment while a process runs), so no module keeps a private copy of a setting. A value that
does not parse raises :class:`ConfigError` naming the variable and the values it takes, instead of
a ``ValueError`` from deep inside a compile. ``mxc config`` prints the table with the values in
effect; ``mxc config --markdown`` writes docs/configuration.md (a test keeps it up to date).

MXNet's own variables that mxc honours (``MXNET_*``) are in the table too, with MXNet's meaning.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from .base import MXNetError

__all__ = ["SETTINGS", "ConfigError", "Setting", "cache_root", "get", "markdown"]


class ConfigError(MXNetError, ValueError):
    """An environment variable of mxc's holds a value it cannot use."""


_OFF = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class Setting:
    """One environment variable: its ``kind`` is ``bool``, ``int``, ``str``, ``path`` or
    ``choice`` (one of ``choices``); ``default`` is what an unset (or empty) variable means, None
    for "computed" (``default_doc`` says how)."""

    name: str
    kind: str
    default: object
    doc: str
    choices: tuple = ()
    default_doc: str = ""
    minimum: int | None = None
    maximum: int | None = None

    def parse(self, raw: str | None):
        if raw is None or (raw == "" and self.kind != "bool"):
            return self.default
        if self.kind == "bool":
            return raw.strip().lower() not in _OFF
        if self.kind == "int":
            try:
                v = int(raw)
            except ValueError:
                raise ConfigError(f"{self.name}={raw!r} is not an integer") from None
            if self.minimum is not None and v < self.minimum:
                raise ConfigError(f"{self.name}={raw!r}: must be at least {self.minimum}")
            if self.maximum is not None and v > self.maximum:
                raise ConfigError(f"{self.name}={raw!r}: must be at most {self.maximum}")
            return v
        if self.kind == "choice":
            if raw not in self.choices:
                raise ConfigError(f"{self.name}={raw!r}: must be one of "
                                  f"{', '.join(self.choices)}")
            return raw
        if self.kind == "path":
            return os.path.expanduser(raw)
        return raw


SETTINGS: dict[str, Setting] = {s.name: s for s in [
    # --- compiling -------------------------------------------------------------------------
    Setting("MXC_TARGET", "choice", "llvm",
            "Backend of executors bound on the CPU context: `llvm` (native code) or `triton` "
            "(Triton kernels, run on the CPU by Triton's interpreter when "
            "TRITON_INTERPRET=1).", choices=("llvm", "triton")),
    Setting("MXC_EAGER_TARGET", "choice", "llvm",
            "Backend of `mx.nd` operator calls and optimizer update kernels on the CPU.",
            choices=("llvm", "triton")),
    Setting("MXC_VERIFY", "bool", False,
            "Verify the IR after every pass (the tests always do)."),
    Setting("MXC_CHECK_ROUNDTRIP", "bool", False,
            "Print each stage's IR as text, parse it back and compare (the tests set it)."),
    Setting("MXC_DUMP_DIR", "path", None,
            "Write every stage's IR to `NN-<pass>.mxir` in this folder."),
    Setting("MXC_OPT_LEVEL", "int", 2,
            "LLVM optimization level of CPU kernels (1-3). O3 compiles ~2x slower (it unrolls "
            "aggressively) for kernels that are as fast overall: faster pooling, slower "
            "reductions and im2col blocks (LeNet training step within 2%).", minimum=1, maximum=3),
    Setting("MXC_COMPILE_JOBS", "int", None,
            "Processes that run LLVM on new kernels at once, this one included (the others are "
            "worker processes started at the first compile); `1` compiles in this process "
            "only. Machine code does not depend on it.",
            default_doc="the CPUs this process may run on, at most 16", minimum=1),
    # --- compile cache ---------------------------------------------------------------------
    Setting("MXC_CACHE", "bool", True,
            "The persistent compile cache; `0` turns it off."),
    Setting("MXC_CACHE_DIR", "path", None,
            "Folder of the persistent compile cache and of Triton's generated sources; one that "
            "cannot be written turns the cache off with a warning.",
            default_doc="`~/.cache/mxc`"),
    # --- threads ---------------------------------------------------------------------------
    Setting("MXC_NUM_THREADS", "int", None,
            "Worker threads of mxc's kernel pool.",
            default_doc="the CPUs this process may run on", minimum=1),
    Setting("MXC_KERNEL_POOL", "choice", "openmp",
            "How generated CPU kernels split over threads: `openmp` (a generated launcher on "
            "the OpenMP team torch loads: a few microseconds a hand-off, no Python) or "
            "`python` (mxc's Python worker threads). Without an OpenMP runtime, or in a child "
            "process forked after the team started, kernels use the Python threads.",
            choices=("openmp", "python")),
    Setting("MXC_TORCH_THREADS", "int", None,
            "Threads torch may use inside library calls (GEMM, convolution). mxc's own threads "
            "are idle during a library call, so by default the call gets them all; with `1`, "
            "mxc splits large calls along the batch over its own threads instead.",
            default_doc="`MXC_NUM_THREADS`'s value", minimum=1),
    Setting("MXC_MIN_PARALLEL_WORK", "int", 1 << 16,
            "Elements (grid points x reduction length) below which a kernel runs on one "
            "thread.", minimum=1),
    # --- data ------------------------------------------------------------------------------
    Setting("MXC_JPEG_DECODER", "choice", "opencv",
            "JPEG decoder of `mx.image` and the record iterators: `opencv`, or `simplejpeg` "
            "where installed.", choices=("opencv", "simplejpeg")),
    # --- distributed training (kvstore dist_*) ---------------------------------------------
    Setting("MXC_DIST_TIMEOUT", "int", 300,
            "Seconds a `dist_*` kvstore waits for the other workers (joining, every allreduce, "
            "barriers) before raising DistributedError.", minimum=1),
    Setting("MXC_DIST_BACKEND", "choice", "auto",
            "torch.distributed backend of the `dist_*` kvstores: `auto` (gloo, plus NCCL for "
            "CUDA tensors where CUDA is present), `gloo` or `nccl`.",
            choices=("auto", "gloo", "nccl")),
    Setting("MXC_DIST_BUCKET_MB", "int", 25,
            "Megabytes of gradients a `dist_*` kvstore sums in one allreduce.", minimum=1),
    # --- MXNet's variables that mxc honours ------------------------------------------------
    Setting("MXNET_HOME", "path", None,
            "MXNet's data folder (downloads of `mx.test_utils`).",
            default_doc="`~/.mxnet`"),
    Setting("MXNET_UPDATE_ON_KVSTORE", "bool", True,
            "As MXNet: run the optimizer inside the kvstore when the kvstore allows it."),
    Setting("MXNET_OPTIMIZER_AGGREGATION_SIZE", "int", 4,
            "As MXNet: how many weights one SGD update call aggregates.", minimum=1),
    # --- the test suite --------------------------------------------------------------------
    Setting("MXC_SLOW", "bool", False,
            "Tests: run the long versions of the fuzzer and property tests."),
    Setting("MXC_PROP_EXAMPLES", "int", None,
            "Tests: graphs per property test (overrides the CI and MXC_SLOW counts).",
            default_doc="by MXC_SLOW", minimum=1),
    Setting("MXC_PROP_STATS", "path", None,
            "Tests: append the property tests' graph counts to this file."),
]}


def get(name: str):
    """The value of setting ``name`` now (parsed; the default when unset)."""
    try:
        s = SETTINGS[name]
    except KeyError:
        raise KeyError(f"{name} is not one of mxc's settings (mxc/config.py)") from None
    return s.parse(os.environ.get(name))


def cache_root() -> str:
    """``MXC_CACHE_DIR``, or ``~/.cache/mxc`` when unset."""
    return get("MXC_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "mxc")


def markdown() -> str:
    """docs/configuration.md."""
    intro = ("Generated from `mxc/config.py` by `mxc config --markdown`; do not edit. "
             "Every environment variable mxc reads. `mxc config` prints the values in effect.")
    lines = ["# Configuration", "", intro, "",
             "| variable | values | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS.values():
        values = " \\| ".join(f"`{c}`" for c in s.choices) if s.kind == "choice" else \
            {"bool": "`0` / `1`", "int": "integer", "path": "path", "str": "text"}[s.kind]
        if s.default_doc:
            default = s.default_doc
        elif s.default is None:
            default = "unset"
        elif s.kind == "bool":
            default = "`1`" if s.default else "`0`"
        else:
            default = f"`{s.default}`"
        lines.append(f"| `{s.name}` | {values} | {default} | {s.doc} |")
    return "\n".join(lines) + "\n"


def _main(argv):
    if argv[:1] == ["--markdown"]:
        sys.stdout.write(markdown())
        return 0
    for s in SETTINGS.values():
        raw = os.environ.get(s.name)
        try:
            v = s.parse(raw)
        except ConfigError as e:
            v = f"<{e}>"
        src = "environment" if raw is not None else "default"
        shown = s.default_doc if v is None and s.default_doc else v
        print(f"{s.name:34s} {shown!s:30s} ({src})")
    return 0

