"""The process group under mxc's ``dist_*`` kvstores: ``torch.distributed`` (gloo on the CPU,
NCCL for CUDA tensors), formed from the environment that ``torchrun`` (or ``mxc launch``) sets.

:func:`group` joins (once per process) and returns ``(rank, num_workers)``. The environment is
torchrun's: ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``. MXNet's launcher
variables fill the gaps where they map: ``DMLC_NUM_WORKER`` -> ``WORLD_SIZE``,
``DMLC_PS_ROOT_URI`` / ``DMLC_PS_ROOT_PORT`` -> ``MASTER_ADDR`` / ``MASTER_PORT``,
``DMLC_WORKER_ID`` / ``DMLC_RANK`` -> ``RANK``. A process whose ``DMLC_ROLE`` is ``server`` or
``scheduler`` has nothing to do (mxc has no parameter servers: every worker runs the updates)
and exits with status 0 when it creates the kvstore, as MXNet's servers leave the script.

Every collective runs under :func:`guard`: a worker that died (connection closed) or that does
not answer within ``MXC_DIST_TIMEOUT`` seconds makes the others raise :class:`DistributedError`
naming the operation, the rank and the timeout, instead of hanging. At a normal exit the
workers meet at a barrier (MXNet's ``barrier_before_exit``) and leave the group.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import logging
import os
import sys

from mxc import config
from mxc.base import MXNetError

__all__ = [
    "DistributedError",
    "group",
    "guard",
    "is_active",
    "is_writer",
    "num_workers",
    "rank",
]

_STATE: dict = {}          # "rank", "world", "timeout", "failed" once the group is formed


class DistributedError(MXNetError):
    """Distributed training failed: a worker died or did not answer within the timeout, or
    the process group could not be formed."""


def _env_from_dmlc() -> None:
    """Fill torchrun's variables from MXNet's launcher variables where they are missing."""
    env = os.environ
    pairs = (("WORLD_SIZE", ("DMLC_NUM_WORKER",)),
             ("MASTER_ADDR", ("DMLC_PS_ROOT_URI",)),
             ("MASTER_PORT", ("DMLC_PS_ROOT_PORT",)),
             ("RANK", ("DMLC_WORKER_ID", "DMLC_RANK")))
    for name, sources in pairs:
        if env.get(name):
            continue
        for s in sources:
            if env.get(s):
                env[name] = env[s]
                break


def _missing() -> list:
    return [n for n in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
            if not os.environ.get(n)]


def _backend() -> str:
    choice = config.get("MXC_DIST_BACKEND")
    if choice != "auto":
        return choice
    import torch
    if torch.cuda.is_available():
        return "cpu:gloo,cuda:nccl"
    return "gloo"


def group(kv_type: str = "dist_sync"):
    """Join the process group (once per process): ``(rank, num_workers)``."""
    if "rank" in _STATE:
        return _STATE["rank"], _STATE["world"]
    role = os.environ.get("DMLC_ROLE", "worker")
    if role in ("server", "scheduler"):
        logging.info("mxc: DMLC_ROLE=%s: mxc has no parameter servers (every worker runs the "  # noqa: LOG015
                     "updates); this process exits", role)
        sys.exit(0)
    _env_from_dmlc()
    missing = _missing()
    if missing:
        raise DistributedError(
            f"kvstore {kv_type!r}: the process group cannot be formed: {', '.join(missing)} "
            "not set. Start every worker with torchrun (torchrun --nproc-per-node=N "
            "script.py) or `mxc launch -n N script.py`, which set RANK, WORLD_SIZE, "
            "MASTER_ADDR and MASTER_PORT")
    import torch.distributed as dist
    if not dist.is_available():
        raise DistributedError(f"kvstore {kv_type!r}: this torch has no torch.distributed")
    timeout = config.get("MXC_DIST_TIMEOUT")
    if not dist.is_initialized():
        try:
            dist.init_process_group(_backend(), init_method="env://",
                                    timeout=datetime.timedelta(seconds=timeout))
        except Exception as e:
            raise DistributedError(
                f"kvstore {kv_type!r}: joining the process group at "
                f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} as rank "
                f"{os.environ['RANK']} of {os.environ['WORLD_SIZE']} failed (the other "
                f"workers did not all join within MXC_DIST_TIMEOUT={timeout} s?): {e}") \
                from e
        atexit.register(_leave)
        _hook_excepthook()
    _STATE.update(rank=dist.get_rank(), world=dist.get_world_size(), timeout=timeout,
                  failed=False)
    return _STATE["rank"], _STATE["world"]


def is_active() -> bool:
    """Whether this process has joined a dist kvstore's group."""
    return "rank" in _STATE


def rank() -> int:
    return _STATE.get("rank", 0)


def num_workers() -> int:
    return _STATE.get("world", 1)


def is_writer() -> bool:
    """Whether this process writes shared files (checkpoints): rank 0, or any process outside
    distributed training."""
    return _STATE.get("rank", 0) == 0


@contextlib.contextmanager
def guard(what: str):
    """Turn a failure of a collective into :class:`DistributedError` (and remember that the
    group is broken, so that the exit does not wait at a barrier)."""
    if _STATE.get("failed"):
        raise DistributedError(f"{what}: the process group already failed on this worker "
                               f"(rank {rank()} of {num_workers()}); restart the job from "
                               "the last checkpoint")
    try:
        yield
    except DistributedError:
        _STATE["failed"] = True
        raise
    except RuntimeError as e:     # torch.distributed.DistError and gloo's errors are these
        _STATE["failed"] = True
        raise DistributedError(
            f"{what} failed on rank {rank()} of {num_workers()}: a worker died or did not "
            f"answer within MXC_DIST_TIMEOUT={_STATE.get('timeout')} s ({e}). Restart the job "
            "from the last checkpoint (Module.load / begin_epoch)") from e


def barrier(what: str = "barrier") -> None:
    import torch.distributed as dist
    with guard(what):
        dist.barrier()


def _hook_excepthook() -> None:
    old = sys.excepthook

    def hook(*args):
        _STATE["failed"] = True     # an uncaught error: do not wait for the others at exit
        old(*args)
    sys.excepthook = hook


def _leave() -> None:
    import torch.distributed as dist
    if not dist.is_initialized():
        return
    try:
        if not _STATE.get("failed"):
            dist.barrier()
    except Exception:  # noqa: BLE001, S110 (leaving: a peer that is gone is no error now)
        pass
    with contextlib.suppress(Exception):
        dist.destroy_process_group()
    _STATE.clear()
