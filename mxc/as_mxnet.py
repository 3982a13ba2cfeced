"""Run a script written for MXNet 1.x with mxc in MXNet's place, unchanged.

    python -m mxc.as_mxnet train.py --epochs 2       # `import mxnet as mx` gets mxc
    python -m mxc.as_mxnet -m pytest test_module.py  # a test module written for MXNet

Every ``import mxnet`` / ``import mxnet.x.y`` / ``from mxnet.x import y`` in the script (and in
what it imports) gives the mxc module of the same path.
"""
from __future__ import annotations

import runpy
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        raise SystemExit(0 if argv else 2)
    import mxc  # noqa: F401
    from mxc._aliases import alias_package
    alias_package("mxnet", "mxc")
    if argv[0] == "-m":
        if len(argv) < 2:
            raise SystemExit("mxc.as_mxnet: -m needs a module name")
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
