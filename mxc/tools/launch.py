"""launch: start a distributed MXNet training job (``kvstore='dist_sync'``) with MXNet's
``tools/launch.py`` arguments; ``torchrun`` starts the workers underneath.

    mxc launch -n 2 [--launcher local] python train.py --kv-store dist_sync
    mxc launch -n 8 -H hosts --launcher ssh [--sync-dst-dir DIR] python train.py ...
    (also ``python -m mxc.tools.launch ...``)

``-n`` is the number of workers. mxc has no parameter servers (every worker runs the updates
after an allreduce), so ``-s/--num-servers`` and ``--env-server`` are accepted and have
nothing to start. ``--launcher local`` runs ``torchrun --standalone --nproc-per-node=N`` on
this machine. ``--launcher ssh`` reads the hosts (one per line, ``host`` or ``host:sshport``)
from ``-H``, starts ``torchrun --nnodes=H --node-rank=i --nproc-per-node=N/H`` on each over
ssh (N must be a multiple of the number of hosts used), with the first host as the master,
after copying the current folder to ``--sync-dst-dir`` with rsync when that is given.
``--env NAME`` passes this machine's value of NAME to the workers, ``--env-worker NAME:VALUE``
sets one. The workers get MXNet's ``DMLC_ROLE=worker`` and ``DMLC_NUM_WORKER=N`` besides
torchrun's ``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` / ``MASTER_PORT``, and on the local
launcher ``MXC_NUM_THREADS`` = CPUs / N unless set. ``--max-restarts`` is torchrun's (restart
the whole group that many times after a failure; the script resumes from its checkpoint).
``--dry-run`` prints the commands instead of running them. The exit status is torchrun's
(non-zero when a worker failed).
"""
from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys

__all__ = ["main"]


def _parser():
    p = argparse.ArgumentParser(prog="mxc launch", description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--num-workers", required=True, type=int,
                   help="number of worker processes")
    p.add_argument("-s", "--num-servers", type=int,
                   help="accepted for MXNet's launch.py; mxc has no servers")
    p.add_argument("-H", "--hostfile", help="hosts, one per line (ssh launcher)")
    p.add_argument("--sync-dst-dir", help="ssh launcher: rsync the current folder there first")
    p.add_argument("--launcher", default="ssh", choices=["local", "ssh", "mpi", "sge", "yarn"],
                   help="local or ssh (MXNet's default is ssh)")
    p.add_argument("--env-server", action="append", default=[], help="accepted; no servers")
    p.add_argument("--env-worker", action="append", default=[], metavar="NAME:VALUE",
                   help="set an environment variable for the workers")
    p.add_argument("--env", action="append", default=[], metavar="NAME",
                   help="pass this machine's value of NAME to the workers")
    p.add_argument("--p3", action="store_true", help="accepted for MXNet's launch.py; ignored")
    p.add_argument("--max-restarts", type=int, default=0,
                   help="torchrun: restarts of the worker group after a failure")
    p.add_argument("--master-port", type=int, help="ssh launcher: the rendezvous port")
    p.add_argument("--dry-run", action="store_true", help="print the commands only")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the training command")
    return p


def _command(cmd, local=True):
    """``script.py args`` runs with Python (this one on the local launcher, where a bare
    ``python`` is this one too); a full command line runs as it is."""
    if cmd and cmd[0].endswith(".py"):
        return [sys.executable if local else "python3", *cmd]
    if local and cmd and cmd[0] in ("python", "python3"):
        return [sys.executable, *cmd[1:]]
    return list(cmd)


def _worker_env(args, local: bool) -> dict:
    env = {"DMLC_ROLE": "worker", "DMLC_NUM_WORKER": str(args.num_workers),
           "DMLC_NUM_SERVER": "0"}
    for name in args.env:
        if name in os.environ:
            env[name] = os.environ[name]
    for item in args.env_worker:
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise SystemExit(f"mxc launch: --env-worker expects NAME:VALUE; got {item!r}")
        env[name] = value
    if local and "MXC_NUM_THREADS" not in os.environ and "MXC_NUM_THREADS" not in env:
        env["MXC_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // args.num_workers))
    return env


def _torchrun(extra):
    return [sys.executable, "-m", "torch.distributed.run", *extra]


def _hosts(path):
    hosts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                host, _, port = line.partition(":")
                hosts.append((host, port or "22"))
    if not hosts:
        raise SystemExit(f"mxc launch: the hostfile {path} lists no host")
    return hosts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        raise SystemExit("mxc launch: give the training command (e.g. python train.py)")
    if args.num_workers < 1:
        raise SystemExit(f"mxc launch: -n must be at least 1; got {args.num_workers}")
    if args.launcher in ("mpi", "sge", "yarn"):
        raise SystemExit(f"mxc launch: --launcher {args.launcher} is not supported; use local "
                         "or ssh (or start torchrun yourself on each machine)")
    n = args.num_workers
    if args.launcher == "local" or (args.launcher == "ssh" and not args.hostfile):
        env = _worker_env(args, local=True)
        full = _torchrun(["--standalone", "--nnodes=1", f"--nproc-per-node={n}",
                          f"--max-restarts={args.max_restarts}", "--no-python",
                          *_command(cmd)])
        if args.dry_run:
            print(" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(full))
            return 0
        try:
            return subprocess.call(full, env={**os.environ, **env})
        except KeyboardInterrupt:
            return 130
    hosts = _hosts(args.hostfile)[:n]
    if n % len(hosts):
        raise SystemExit(f"mxc launch: {n} workers do not divide evenly over {len(hosts)} "
                         "hosts (torchrun starts the same number on each); change -n or the "
                         "hostfile")
    per = n // len(hosts)
    port = args.master_port or _free_port()
    env = _worker_env(args, local=False)
    workdir = args.sync_dst_dir or os.getcwd()
    cmds = []
    for i, (host, sshport) in enumerate(hosts):
        if args.sync_dst_dir:
            cmds.append(("sync", ["rsync", "-az", "--exclude=.git", "-e", f"ssh -p {sshport}",
                                  "./", f"{host}:{args.sync_dst_dir}"]))
        remote = ["python3", "-m", "torch.distributed.run",
                  f"--nnodes={len(hosts)}", f"--node-rank={i}", f"--nproc-per-node={per}",
                  f"--master-addr={hosts[0][0]}", f"--master-port={port}",
                  f"--max-restarts={args.max_restarts}", "--no-python",
                  *_command(cmd, local=False)]
        line = (f"cd {shlex.quote(workdir)} && "
                + " ".join(f"export {k}={shlex.quote(v)};" for k, v in env.items())
                + " " + shlex.join(remote))
        cmds.append(("run", ["ssh", "-o", "StrictHostKeyChecking=no", "-p", sshport, host,
                             line]))
    if args.dry_run:
        for _, c in cmds:
            print(shlex.join(c))
        return 0
    for kind, c in cmds:
        if kind == "sync" and subprocess.call(c):
            raise SystemExit(f"mxc launch: {shlex.join(c)} failed")
    procs = [subprocess.Popen(c) for kind, c in cmds if kind == "run"]
    try:
        rcs = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        return 130
    return next((rc for rc in rcs if rc), 0)


if __name__ == "__main__":
    sys.exit(main())
