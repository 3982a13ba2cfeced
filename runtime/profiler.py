"""``mx.profiler``: time what the compiled programs and NDArray operators do (MXNet's
``mxnet.profiler``).

::

    mx.profiler.set_config(profile_all=True, filename="profile.json", aggregate_stats=True)
    mx.profiler.set_state("run")
    ...                                   # executors, mx.nd operators, Task/Frame/Event/Counter
    mx.profiler.set_state("stop")
    print(mx.profiler.dumps())            # MXNet's aggregate-statistics table (or format="json")
    mx.profiler.dump()                    # Chrome trace JSON: chrome://tracing, ui.perfetto.dev

What is recorded while the profiler runs (and is not paused):

- ``profile_symbolic``: every step an executor runs, one event each: a generated kernel
  (``k3_fc1_relu1``) or a library call (``gemm_fc1``), in category ``operator``, with
  ``args.nodes`` naming the MXNet nodes the step came from (``["fc1", "relu1"]``), ``args.kind``
  (``kernel`` / ``extern``), the operator and the program;
- ``profile_imperative``: every ``mx.nd`` operator call (``sqrt``, ``_plus_scalar`` ...), in
  category ``operator`` with ``args.kind = "imperative"``;
- ``profile_api``: ``Executor.forward`` / ``Executor.backward`` calls, in category ``API``;
- always: the objects scripts create, ``Task`` (category: its domain), ``Frame``
  (``<domain>,frame``), ``Event`` (``event``), ``Counter`` values (``C`` events) and
  ``Marker`` instants (``<domain>,instant_marker``).

``profile_memory`` is accepted (mxc's executors allocate their memory when they are bound, not
per operator, so there are no allocation events to record). With ``aggregate_stats`` every
duration also goes into per-category statistics that :func:`dumps` prints.

The trace is ``{"traceEvents": [...], "displayTimeUnit": "ms"}`` with complete events
(``ph: "X"``, ``ts`` and ``dur`` in microseconds), counters (``"C"``), instants (``"i"``) and
process/thread names (``"M"``); :func:`dump` writes it atomically (``mxc.base.atomic_write``).
When the profiler is off, an executor's run costs one flag check.
"""
from __future__ import annotations

import json
import os
import threading
import time
import warnings

from mxc.base import KVStoreHandle, MXNetError, ProfileHandle, StateError
from mxc.base import c_str, c_str_array, check_call, py_str  # noqa: F401  (MXNet's re-exports)

__all__ = ["set_config", "profiler_set_config", "set_state", "profiler_set_state", "dump",
           "dump_profile", "dumps", "pause", "resume", "set_kvstore_handle", "Domain", "Task",
           "Frame", "Event", "Counter", "Marker"]

profiler_kvstore_handle = KVStoreHandle()

# every key set_config takes, with the value it gets when a call does not give it (each call
# resets the others, as MXNet's parameter parsing does)
_DEFAULTS = {
    "profile_all": False,
    "profile_symbolic": True,
    "profile_imperative": True,
    "profile_memory": True,
    "profile_api": True,
    "filename": "profile.json",
    "continuous_dump": False,
    "dump_period": 1.0,
    "aggregate_stats": False,
    "profile_process": "worker",
}
_BOOL_KEYS = {"profile_all", "profile_symbolic", "profile_imperative", "profile_memory",
              "profile_api", "continuous_dump", "aggregate_stats"}

# The flags the hot paths read (one attribute each): recording executor steps, NDArray calls
SYMBOLIC = False
IMPERATIVE = False
API = False


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.config = dict(_DEFAULTS)
        self.configured = False     # set_config has been called
        self.running = False        # set_state('run')
        self.paused = False
        self.has_run = False        # ran at least once after set_config (dump needs it)
        self.events: list = []      # trace events since the last finished dump
        self.stats: dict = {}       # category -> name -> [count, total, min, max] (ms)
        self.threads: dict = {}     # thread ident -> small tid
        self.last_dump = 0.0
        self.origin_ns = time.time_ns() - time.perf_counter_ns()


_S = _State()


def _now_us() -> float:
    return (_S.origin_ns + time.perf_counter_ns()) / 1000.0


def _tid() -> int:
    ident = threading.get_ident()
    t = _S.threads.get(ident)
    if t is None:
        t = _S.threads.setdefault(ident, len(_S.threads))
    return t


def _recording() -> bool:
    return _S.configured and _S.running and not _S.paused


def _refresh():
    """Recompute the hot-path flags from the state and the configuration."""
    global SYMBOLIC, IMPERATIVE, API
    on = _recording()
    c = _S.config
    SYMBOLIC = on and (c["profile_all"] or c["profile_symbolic"])
    IMPERATIVE = on and (c["profile_all"] or c["profile_imperative"])
    API = on and (c["profile_all"] or c["profile_api"])
    from mxc.ndarray import ops as nd_ops
    nd_ops._profile_hook = _imperative if IMPERATIVE else None


# -- recording ----------------------------------------------------------------------------------
def _add(event: dict, category: str | None = None, dur_us: float | None = None):
    with _S.lock:
        _S.events.append(event)
        if dur_us is not None and _S.config["aggregate_stats"]:
            ms = dur_us / 1000.0
            row = _S.stats.setdefault(category, {}).get(event["name"])
            if row is None:
                _S.stats[category][event["name"]] = [1, ms, ms, ms]
            else:
                row[0] += 1
                row[1] += ms
                row[2] = min(row[2], ms)
                row[3] = max(row[3], ms)
    if _S.config["continuous_dump"]:
        now = time.monotonic()
        if now - _S.last_dump >= float(_S.config["dump_period"]):
            _S.last_dump = now
            _write(finished=False)


def _duration(name: str, cat: str, start_us: float, end_us: float, args: dict | None = None):
    ev = {"name": name, "cat": cat, "ph": "X", "ts": round(start_us, 3),
          "dur": round(max(end_us - start_us, 0.0), 3), "pid": os.getpid(), "tid": _tid()}
    if args:
        ev["args"] = args
    _add(ev, cat, end_us - start_us)


def record_steps(bound, start: int = 0, end: int | None = None, phase: str = "forward"):
    """Run ``bound``'s steps ``start:end`` (an executor's program, mxc.codegen.backend.Bound),
    one trace event per kernel launch or library call. Called instead of ``run_steps`` while
    the profiler records symbolic execution."""
    prog = bound.exe.prog
    steps = prog.steps
    sync = _synchronizer(bound)

    def record(i, t0_ns, t1_ns):
        st = steps[i]
        if st.kind == "kernel":
            nodes = list(st.kernel.sources) if st.kernel is not None else []
            name = st.name
        else:
            nodes = [st.node_name] if st.node_name else []
            name = f"{st.name}_{st.node_name}" if st.node_name else st.name
        t0 = (_S.origin_ns + t0_ns) / 1000.0
        t1 = (_S.origin_ns + t1_ns) / 1000.0
        _duration(name, "operator", t0, t1,
                  {"kind": st.kind, "nodes": nodes, "program": prog.name, "phase": phase,
                   "step": i, **({"op": st.opname} if st.kind == "extern" else {})})

    bound.run_timed(start, end, record, sync)


def _synchronizer(bound):
    dev = getattr(bound.exe, "device", None)
    if dev is not None and dev.type == "cuda":
        import torch
        return torch.cuda.synchronize
    return None


def _imperative(opname: str, t0_ns: int, t1_ns: int):
    if not IMPERATIVE:
        return
    _duration(opname, "operator", (_S.origin_ns + t0_ns) / 1000.0,
              (_S.origin_ns + t1_ns) / 1000.0, {"kind": "imperative"})


def api_event(name: str, t0_ns: int, t1_ns: int):
    """An API call (``Executor.forward``) that took ``t0_ns..t1_ns`` (perf_counter_ns)."""
    if API:
        _duration(name, "API", (_S.origin_ns + t0_ns) / 1000.0,
                  (_S.origin_ns + t1_ns) / 1000.0)


# -- configuration and state --------------------------------------------------------------------
def _parse_bool(key, v):
    if isinstance(v, bool):
        return v
    if isinstance(v, (int,)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "1", "false", "0"):
        return v.strip().lower() in ("true", "1")
    raise MXNetError(f"profiler.set_config: {key}={v!r} is not a boolean")


def set_config(**kwargs):
    """Configure the profiler (keyword arguments only; each call resets the keys it does not
    give to their defaults): ``profile_all`` (False), ``profile_symbolic`` (True: executor
    steps), ``profile_imperative`` (True: mx.nd calls), ``profile_memory`` (True),
    ``profile_api`` (True: executor API calls), ``filename`` ('profile.json'),
    ``continuous_dump`` (False: also write the trace every ``dump_period`` seconds while
    recording), ``dump_period`` (1.0), ``aggregate_stats`` (False: keep statistics for
    :func:`dumps`), ``profile_process`` ('worker')."""
    cfg = dict(_DEFAULTS)
    for k, v in kwargs.items():
        if k not in _DEFAULTS:
            import difflib
            close = difflib.get_close_matches(k, list(_DEFAULTS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise MXNetError(f"profiler.set_config: unknown argument {k!r}{hint} (arguments: "
                             f"{', '.join(_DEFAULTS)})")
        if k in _BOOL_KEYS:
            v = _parse_bool(k, v)
        elif k == "dump_period":
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise MXNetError(f"profiler.set_config: dump_period={v!r} is not a number") \
                    from None
            if v <= 0:
                raise MXNetError(f"profiler.set_config: dump_period={v} must be positive")
        elif k == "profile_process":
            _check_process(v, "set_config")
        elif k == "filename":
            v = os.fspath(v) if not isinstance(v, str) else v
        cfg[k] = v
    with _S.lock:
        _S.config = cfg
        _S.configured = True
    _refresh()


def profiler_set_config(mode="symbolic", filename="profile.json"):
    """Deprecated form of :func:`set_config`: ``mode`` 'symbolic' or 'all'."""
    warnings.warn("profiler.profiler_set_config() is deprecated. Please use "
                  "profiler.set_config() instead", stacklevel=2)
    if mode not in ("symbolic", "all", "imperative", "memory", "api"):
        raise MXNetError(f"profiler_set_config: mode {mode!r}; expected 'symbolic' or 'all'")
    set_config(**{"profile_" + mode: True, "filename": filename})


def _check_process(profile_process, where):
    if profile_process not in ("worker", "server"):
        raise MXNetError(f"profiler.{where}: profile_process={profile_process!r}; expected "
                         "'worker' or 'server'")
    if profile_process == "server":
        from mxc.base import UnsupportedError
        raise UnsupportedError("mxc does not support profiling a kvstore server process "
                               "(profile_process='server'); mxc's distributed kvstore has no "
                               "server processes")


def set_state(state="stop", profile_process="worker"):
    """Start (``'run'``) or stop (``'stop'``) recording."""
    if state not in ("run", "stop"):
        raise MXNetError(f"profiler.set_state: state {state!r}; expected 'run' or 'stop'")
    _check_process(profile_process, "set_state")
    with _S.lock:
        _S.running = state == "run"
        if _S.running and _S.configured:
            _S.has_run = True
    _refresh()


def profiler_set_state(state="stop"):
    """Deprecated form of :func:`set_state`."""
    warnings.warn("profiler.profiler_set_state() is deprecated. Please use "
                  "profiler.set_state() instead", stacklevel=2)
    set_state(state)


def pause(profile_process="worker"):
    """Stop recording until :func:`resume` (the profiler stays in the 'run' state)."""
    _check_process(profile_process, "pause")
    _S.paused = True
    _refresh()


def resume(profile_process="worker"):
    """Resume recording after :func:`pause`."""
    _check_process(profile_process, "resume")
    _S.paused = False
    _refresh()


def set_kvstore_handle(handle):
    global profiler_kvstore_handle
    profiler_kvstore_handle = handle


# -- output ---------------------------------------------------------------------------------------
def _trace() -> dict:
    pid = os.getpid()
    meta = [{"name": "process_name", "ph": "M", "pid": pid, "args": {"name": "mxc"}}]
    for ident, tid in sorted(_S.threads.items(), key=lambda kv: kv[1]):
        meta.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                     "args": {"name": f"thread {tid}"}})
    with _S.lock:
        events = list(_S.events)
    return {"traceEvents": meta + events, "displayTimeUnit": "ms"}


def _write(finished: bool):
    from mxc.base import atomic_write
    path = _S.config["filename"]
    text = json.dumps(_trace(), indent=1)
    try:
        with atomic_write(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise MXNetError(f"profiler.dump: cannot write {path!r}: {e}") from None
    if finished:
        with _S.lock:
            _S.events = []


def dump(finished=True, profile_process="worker"):
    """Write the trace recorded so far to the configured ``filename`` (atomically). With
    ``finished`` the recorded events are then dropped: the next dump starts a new trace."""
    _check_process(profile_process, "dump")
    if not _S.has_run:
        raise StateError("profiler.dump: the profiler hasn't been run; call "
                         "profiler.set_config(...) and profiler.set_state('run') first")
    _write(finished=bool(finished))


def dump_profile():
    """Deprecated form of :func:`dump`."""
    warnings.warn("profiler.dump_profile() is deprecated. Please use profiler.dump() instead",
                  stacklevel=2)
    dump(True)


_SORT = {"total": 1, "avg": None, "min": 2, "max": 3, "count": 0}
_TABLE_HEAD = ("Name                          Total Count        Time (ms)    Min Time (ms)    "
               "Max Time (ms)    Avg Time (ms)\n"
               "----                          -----------        ---------    -------------    "
               "-------------    -------------\n")


def _fmt_g(x: float) -> str:
    """A statistic in MXNet's JSON (four significant digits)."""
    s = "%.4g" % x
    return "0" if s in ("0", "-0") else s


def dumps(reset=False, format="table", sort_by="total", ascending=False):
    """The aggregate statistics (``aggregate_stats=True``) as MXNet's table (``format='table'``)
    or JSON (``'json'``), each category's entries sorted by ``sort_by`` ('total', 'avg',
    'min', 'max', 'count'); ``reset`` clears the statistics afterwards. Without
    ``aggregate_stats`` the result is empty, as in MXNet."""
    if format not in ("table", "json"):
        raise MXNetError(f"Invalid value provided for format: {format}. Support: 'table', "
                         "'json'")
    if sort_by not in _SORT:
        raise MXNetError(f"Invalid value provided for sort_by: {sort_by}. Support: 'total', "
                         "'avg', 'min', 'max', 'count'")
    if ascending not in (False, True):
        raise MXNetError(f"Invalid value provided for ascending: {ascending}. Support: False, "
                         "True")
    if reset not in (False, True):
        raise MXNetError(f"Invalid value provided for reset: {reset}. Support: False, True")
    if not _S.config["aggregate_stats"] or not _S.configured:
        return ""
    with _S.lock:
        stats = {cat: {n: list(r) for n, r in rows.items()} for cat, rows in _S.stats.items()}
        if reset:
            _S.stats = {}

    def key(item):
        c, total, lo, hi = item[1]
        return {"total": total, "avg": total / c, "min": lo, "max": hi, "count": c}[sort_by]

    ordered = {cat: sorted(rows.items(), key=key, reverse=not ascending)
               for cat, rows in sorted(stats.items())}
    if format == "json":
        return _json_stats(ordered)
    out = ["\nProfile Statistics:\n\tNote the difference in units for different entries.\n"]
    for cat, rows in ordered.items():
        out.append(f"{cat}\n=================\n{_TABLE_HEAD}")
        for name, (c, total, lo, hi) in rows:
            out.append(f"{name:<25s}{c:>16d}{total:>17.4f}{lo:>17.4f}{hi:>17.4f}"
                       f"{total / c:>17.4f}\n")
        out.append("\n")
    return "".join(out)


def _json_stats(ordered) -> str:
    """MXNet's JSON layout: categories under "Time", "Memory" (none in mxc) and "Unit"."""
    lines = ["{", '    "Time": {']
    cats = list(ordered.items())
    for ci, (cat, rows) in enumerate(cats):
        lines.append(f"        {json.dumps(cat)}: {{")
        for ri, (name, (c, total, lo, hi)) in enumerate(rows):
            lines.append(f"            {json.dumps(name)}: {{")
            lines.append(f'                "Count": {c},')
            lines.append(f'                "Total": {_fmt_g(total)},')
            lines.append(f'                "Min": {_fmt_g(lo)},')
            lines.append(f'                "Max": {_fmt_g(hi)},')
            lines.append(f'                "Avg": {_fmt_g(total / c)}')
            lines.append("            }")
            if ri != len(rows) - 1:
                lines.append("            ,")
        lines.append("        }")
        if ci != len(cats) - 1:
            lines.append("        ,")
    lines += ["    }", "    ,", '    "Memory": {', "    }", ",", '    "Unit": {',
              '        "Time": "ms",', '        "Memory": "kB"', "    }", "}", ""]
    return "\n".join(lines)


# -- objects scripts create -----------------------------------------------------------------------
class Domain:
    """A category that groups tasks, frames, counters and markers (``Domain('PythonDomain')``)."""

    def __init__(self, name):
        self.name = str(name)
        self.handle = ProfileHandle()

    def __str__(self):
        return self.name

    def new_task(self, name):
        return Task(self, name)

    def new_frame(self, name):
        return Frame(self, name)

    def new_counter(self, name, value=None):
        return Counter(self, name, value)

    def new_marker(self, name):
        return Marker(self, name)


class _Duration:
    """start()/stop() pairs, one complete event each while the profiler records."""

    _category = "event"

    def __init__(self, name):
        self.name = str(name)
        self.handle = ProfileHandle()
        self._t0 = None

    def start(self):
        """Start timing."""
        self._t0 = _now_us() if _recording() else None

    def stop(self):
        """Stop timing: records the interval if the profiler recorded when it started and
        still does (a paused profiler records nothing)."""
        t0, self._t0 = self._t0, None
        if t0 is not None and _recording():
            _duration(self.name, self._category, t0, _now_us())

    def __str__(self):
        return self.name


class Task(_Duration):
    """A named unit of work in ``domain``; passes through it are aggregated together."""

    def __init__(self, domain, name):
        super().__init__(name)
        self.domain = _domain(domain, "Task")
        self._category = self.domain.name


class Frame(_Duration):
    """A named, repeated period in ``domain`` (category ``<domain>,frame``)."""

    def __init__(self, domain, name):
        super().__init__(name)
        self.domain = _domain(domain, "Frame")
        self._category = f"{self.domain.name},frame"


class Event(_Duration):
    """A named region of code (category ``event``)."""


class Counter:
    """A value tracked over time in ``domain``: ``set_value``, ``increment``, ``decrement``,
    ``+=`` and ``-=`` each record the new value while the profiler records."""

    def __init__(self, domain, name, value=None):
        self.name = str(name)
        self.domain = _domain(domain, "Counter")
        self.handle = ProfileHandle()
        self.value = 0
        if value is not None:
            self.set_value(value)

    def _emit(self):
        if _recording():
            _add({"name": self.name, "cat": self.domain.name, "ph": "C",
                  "ts": round(_now_us(), 3), "pid": os.getpid(), "tid": _tid(),
                  "args": {self.name: self.value}})

    def set_value(self, value):
        self.value = _int(value, "Counter.set_value")
        self._emit()

    def increment(self, delta=1):
        self.value += _int(delta, "Counter.increment")
        self._emit()

    def decrement(self, delta=1):
        self.value -= _int(delta, "Counter.decrement")
        self._emit()

    def __iadd__(self, delta):
        self.increment(delta)
        return self

    def __isub__(self, delta):
        self.decrement(delta)
        return self

    def __str__(self):
        return self.name


_SCOPES = {"global": "g", "process": "p", "thread": "t", "task": "t", "marker": "t"}


class Marker:
    """An instant in time in ``domain``: ``mark(scope)`` with scope 'global', 'process',
    'thread', 'task' or 'marker'."""

    def __init__(self, domain, name):
        self.name = str(name)
        self.domain = _domain(domain, "Marker")

    def mark(self, scope="process"):
        if scope not in _SCOPES:
            raise MXNetError(f"Marker.mark: scope {scope!r}; expected one of "
                             f"{', '.join(_SCOPES)}")
        if _recording():
            _add({"name": self.name, "cat": f"{self.domain.name},instant_marker", "ph": "i",
                  "s": _SCOPES[scope], "ts": round(_now_us(), 3), "pid": os.getpid(),
                  "tid": _tid(), "args": {"scope": scope}})
            with _S.lock:
                if _S.config["aggregate_stats"]:
                    _S.stats.setdefault(f"{self.domain.name},instant_marker", {})


def _domain(domain, what) -> Domain:
    if not isinstance(domain, Domain):
        raise MXNetError(f"profiler.{what}: domain must be a profiler.Domain; got "
                         f"{type(domain).__name__}")
    return domain


def _int(v, where) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise MXNetError(f"profiler.{where}: {v!r} is not an integer") from None
