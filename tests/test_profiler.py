"""mx.profiler, checked the way MXNet's tests/python/unittest/test_profiler.py checks it (same
calls, same assertions; smaller arrays), plus what mxc records: one event per kernel launch and
library call naming the MXNet nodes it came from, a Chrome trace that chrome://tracing and
Perfetto read, MXNet's aggregate-statistics table, and nothing while stopped or paused.
"""
import json
import os
import time
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import mxc as mx
from mxc import profiler
from mxc.base import MXNetError, StateError


@pytest.fixture(autouse=True)
def _fresh_profiler(tmp_path, monkeypatch):
    """Each test in its own directory (MXNet's tests write profile files to the working
    directory) with a profiler that has not been configured."""
    monkeypatch.chdir(tmp_path)
    profiler._S.__init__()
    profiler._refresh()
    yield
    profiler._S.__init__()
    profiler._refresh()


def enable_profiler(profile_filename, run=True, continuous_dump=False, aggregate_stats=False):
    profiler.set_config(profile_symbolic=True,
                        profile_imperative=True,
                        profile_memory=True,
                        profile_api=True,
                        filename=profile_filename,
                        continuous_dump=continuous_dump,
                        aggregate_stats=aggregate_stats
                        )
    if run is True:
        profiler.set_state('run')


def _events(path):
    with open(path) as f:
        return json.load(f)["traceEvents"]


# -- MXNet's tests --------------------------------------------------------------------------------
def test_profiler():
    iter_num = 5
    begin_profiling_iter = 2
    end_profiling_iter = 4

    enable_profiler('test_profiler.json', False, False)

    A = mx.sym.Variable('A')
    B = mx.sym.Variable('B')
    C = mx.symbol.dot(A, B)

    executor = C.simple_bind(mx.cpu(1), 'write', A=(64, 64), B=(64, 64))

    a = mx.random.uniform(-1.0, 1.0, shape=(64, 64))
    b = mx.random.uniform(-1.0, 1.0, shape=(64, 64))

    a.copyto(executor.arg_dict['A'])
    b.copyto(executor.arg_dict['B'])

    for i in range(iter_num):
        if i == begin_profiling_iter:
            profiler.set_state('run')
        if i == end_profiling_iter:
            profiler.set_state('stop')
        executor.forward()
        c = executor.outputs[0]
        c.wait_to_read()

    profiler.dump(True)
    profiler.set_state('stop')
    steps = [e for e in _events('test_profiler.json') if e.get("cat") == "operator"]
    # two profiled iterations of one library call (the GEMM of node 'dot0')
    assert len(steps) == 2
    assert all(e["args"]["nodes"] == [C.name] and e["args"]["kind"] == "extern"
               for e in steps)


def test_profile_create_domain():
    enable_profiler('test_profile_create_domain.json')
    domain = profiler.Domain(name='PythonDomain')
    assert str(domain) == 'PythonDomain'
    profiler.set_state('stop')


def test_profile_create_domain_dept():
    profiler.set_config(profile_symbolic=True, filename='test_profile_create_domain_dept.json')
    profiler.set_state('run')
    domain = profiler.Domain(name='PythonDomain')
    profiler.dump()
    profiler.set_state('stop')
    assert os.path.exists('test_profile_create_domain_dept.json')
    assert domain.name == 'PythonDomain'


def _make_params(n):
    objects = tuple('foo' for _ in range(n))
    template = ''.join('{%d}' % i for i in range(len(objects)))
    return template, objects


def test_profile_task():
    def get_log():
        template, objects = _make_params(50)
        logs = []
        for _ in range(10):
            logs.append(template.format(*objects))
        return logs

    enable_profiler('test_profile_task.json')
    python_domain = profiler.Domain('PythonDomain::test_profile_task')
    task = profiler.Task(python_domain, "test_profile_task")
    task.start()
    var = mx.nd.ones((1000, 500))
    assert len(get_log()) == 10
    var.asnumpy()
    task.stop()
    profiler.set_state('stop')


def test_profile_frame():
    def get_log():
        template, objects = _make_params(50)
        logs = []
        for _ in range(1000):
            logs.append(template.format(*objects))
        return logs

    enable_profiler('test_profile_frame.json')
    python_domain = profiler.Domain('PythonDomain::test_profile_frame')
    frame = profiler.Frame(python_domain, "test_profile_frame")
    frame.start()
    start = time.time()
    var = mx.nd.ones((1000, 500))
    assert len(get_log()) == 1000
    var.asnumpy()
    stop = time.time()
    frame.stop()
    assert stop >= start
    profiler.set_state('stop')


def test_profile_event(do_enable_profiler=True):
    def get_log():
        template, objects = _make_params(50)
        logs = []
        for _ in range(1000):
            logs.append(template.format(*objects))
        return logs

    if do_enable_profiler is True:
        enable_profiler('test_profile_event.json')
    event = profiler.Event("test_profile_event")
    event.start()
    start = time.time()
    var = mx.nd.ones((1000, 500))
    assert len(get_log()) == 1000
    var.asnumpy()
    stop = time.time()
    event.stop()
    assert stop >= start
    if do_enable_profiler is True:
        profiler.set_state('stop')


def test_profile_tune_pause_resume():
    enable_profiler('test_profile_tune_pause_resume.json')
    profiler.pause()
    # "test_profile_task" should *not* show up in tuning analysis
    test_profile_task()
    profiler.resume()
    # "test_profile_event" should show up in tuning analysis
    test_profile_event()
    profiler.pause()
    profiler.set_state('stop')


def test_profile_counter(do_enable_profiler=True):
    def get_log(counter):
        template, objects = _make_params(50)
        range_size = 1000
        logs = []
        for i in range(range_size):
            if i <= range_size / 2:
                counter += 1
            else:
                counter -= 1
            logs.append(template.format(*objects))
        return logs

    if do_enable_profiler is True:
        enable_profiler('test_profile_counter.json')
    python_domain = profiler.Domain('PythonDomain::test_profile_counter')
    counter = profiler.Counter(python_domain, "PythonCounter::test_profile_counter")
    counter.set_value(5)
    counter += 1
    start = time.time()
    log = get_log(counter)
    assert len(log) == 1000
    assert log[0].count('foo') == 50
    stop = time.time()
    assert stop >= start
    if do_enable_profiler is True:
        profiler.set_state('stop')


def test_continuous_profile_and_instant_marker():
    file_name = 'test_continuous_profile_and_instant_marker.json'
    enable_profiler(file_name, True, True, True)
    python_domain = profiler.Domain('PythonDomain::test_continuous_profile')
    last_file_size = 0
    for i in range(5):
        profiler.Marker(python_domain, "StartIteration-" + str(i)).mark('process')
        test_profile_event(False)
        test_profile_counter(False)
        profiler.dump(False)
        # File size should keep increasing
        new_file_size = os.path.getsize(file_name)
        assert new_file_size >= last_file_size
        last_file_size = new_file_size
    profiler.dump(False)
    debug_str = profiler.dumps()
    assert len(debug_str) > 0
    profiler.set_state('stop')
    markers = [e for e in _events(file_name) if e["ph"] == "i"]
    assert [e["name"] for e in markers] == [f"StartIteration-{i}" for i in range(5)]
    assert all(e["s"] == "p" and e["cat"] == "PythonDomain::test_continuous_profile,"
               "instant_marker" for e in markers)


def test_aggregate_stats_valid_json_return():
    file_name = 'test_aggregate_stats_json_return.json'
    enable_profiler(file_name, True, True, True)
    test_profile_event(False)
    debug_str = profiler.dumps(format='json')
    assert len(debug_str) > 0
    target_dict = json.loads(debug_str)
    assert 'Memory' in target_dict and 'Time' in target_dict and 'Unit' in target_dict
    profiler.set_state('stop')


def test_aggregate_stats_sorting():
    sort_by_options = {'total': 'Total', 'avg': 'Avg', 'min': 'Min',
                       'max': 'Max', 'count': 'Count'}
    ascending_options = [False, True]

    def check_ascending(lst, asc):
        assert lst == sorted(lst, reverse=not asc)

    def check_sorting(debug_str, sort_by, ascending):
        target_dict = json.loads(debug_str, object_pairs_hook=OrderedDict)
        lst = []
        for domain_name, domain in target_dict['Time'].items():
            lst = [item[sort_by_options[sort_by]] for item_name, item in domain.items()]
            check_ascending(lst, ascending)
        # Memory items do not have stat 'Total'
        if sort_by != 'total':
            for domain_name, domain in target_dict['Memory'].items():
                lst = [item[sort_by_options[sort_by]] for item_name, item in domain.items()]
                check_ascending(lst, ascending)

    file_name = 'test_aggregate_stats_sorting.json'
    enable_profiler(file_name, True, True, True)
    test_profile_event(False)
    # several names in one category, so the order means something
    for i in range(4):
        for _ in range(i + 1):
            e = profiler.Event(f"event_{i}")
            e.start()
            mx.nd.ones((10 * (4 - i), 10)).asnumpy()
            e.stop()
    for sb in sort_by_options:
        for asc in ascending_options:
            debug_str = profiler.dumps(format='json', sort_by=sb, ascending=asc)
            check_sorting(debug_str, sb, asc)
    profiler.set_state('stop')


def test_aggregate_duplication():
    file_name = 'test_aggregate_duplication.json'
    enable_profiler(profile_filename=file_name, run=True, continuous_dump=True,
                    aggregate_stats=True)
    # clear aggregate stats
    profiler.dumps(reset=True)
    inp = mx.nd.zeros(shape=(100, 100))
    y = mx.nd.sqrt(inp)
    inp = inp + 1
    inp = inp + 1
    mx.nd.waitall()
    profiler.dump(False)
    debug_str = profiler.dumps(format='json')
    target_dict = json.loads(debug_str)
    assert 'Time' in target_dict and 'operator' in target_dict['Time'] \
        and 'sqrt' in target_dict['Time']['operator'] \
        and 'Count' in target_dict['Time']['operator']['sqrt'] \
        and '_plus_scalar' in target_dict['Time']['operator'] \
        and 'Count' in target_dict['Time']['operator']['_plus_scalar']
    # they are called once and twice respectively
    assert target_dict['Time']['operator']['sqrt']['Count'] == 1
    assert target_dict['Time']['operator']['_plus_scalar']['Count'] == 2
    profiler.set_state('stop')
    assert y.shape == (100, 100)


# -- mxc's events -----------------------------------------------------------------------------------
def _mlp():
    x = mx.sym.Variable("data")
    h = mx.sym.FullyConnected(x, num_hidden=16, name="fc1")
    h = mx.sym.Activation(h, act_type="relu", name="relu1")
    h = mx.sym.FullyConnected(h, num_hidden=4, name="fc2")
    return mx.sym.SoftmaxOutput(h, name="softmax")


def test_trace_has_kernel_events_naming_nodes():
    exe = _mlp().simple_bind(mx.cpu(), data=(8, 10))
    exe.forward(is_train=True)          # compile before profiling
    exe.backward()
    enable_profiler("trace.json")
    exe.forward(is_train=True)
    exe.backward()
    profiler.set_state("stop")
    profiler.dump()
    with open("trace.json") as f:
        trace = json.load(f)
    assert set(trace) == {"traceEvents", "displayTimeUnit"}
    events = trace["traceEvents"]
    for e in events:
        assert {"ph", "pid", "name"} <= set(e)
        if e["ph"] != "M":
            assert isinstance(e["ts"], (int, float)) and "tid" in e and "cat" in e
        if e["ph"] == "X":
            assert e["dur"] >= 0
    steps = [e for e in events if e.get("cat") == "operator"]
    prog = exe._plans["train"].compiled.program
    # one event per step: every kernel launch and library call of forward and backward
    assert len(steps) == len(prog.steps)
    assert [e["args"]["step"] for e in steps] == list(range(len(prog.steps)))
    kernels = [e for e in steps if e["args"]["kind"] == "kernel"]
    fused = next(e for e in kernels if e["name"].endswith("fc1_relu1"))
    assert fused["args"]["nodes"] == ["fc1", "relu1"]
    assert fused["args"]["phase"] == "forward"
    externs = [e for e in steps if e["args"]["kind"] == "extern"]
    assert externs and all(e["args"]["nodes"] for e in externs)
    assert {e["args"]["phase"] for e in steps} == {"forward", "backward"}
    assert any("fc1_backward" in e["args"]["nodes"] for e in steps)
    api = [e["name"] for e in events if e.get("cat") == "API"]
    assert api == ["Executor.forward", "Executor.backward"]


def test_modes_select_what_is_recorded():
    exe = _mlp().simple_bind(mx.cpu(), data=(2, 10), grad_req="null")
    exe.forward()
    profiler.set_config(profile_symbolic=False, profile_imperative=True, profile_api=False,
                        filename="imp.json")
    profiler.set_state("run")
    exe.forward()
    mx.nd.sqrt(mx.nd.ones((3,)))
    profiler.set_state("stop")
    profiler.dump()
    names = [e["name"] for e in _events("imp.json") if e["ph"] == "X"]
    assert names == ["sqrt"]
    profiler.set_config(profile_all=True, profile_symbolic=False, profile_imperative=False,
                        profile_api=False, filename="all.json")
    profiler.set_state("run")
    exe.forward()
    profiler.set_state("stop")
    profiler.dump()
    kinds = {e["args"].get("kind") for e in _events("all.json") if e.get("cat") == "operator"}
    assert "kernel" in kinds or "extern" in kinds


def test_stopped_and_paused_record_nothing():
    exe = _mlp().simple_bind(mx.cpu(), data=(2, 10), grad_req="null")
    exe.forward()
    enable_profiler("p.json", run=False, aggregate_stats=True)
    exe.forward()                      # configured, not running
    mx.nd.sqrt(mx.nd.ones((3,)))
    profiler.set_state("run")
    profiler.pause()
    exe.forward()                      # paused
    t = profiler.Task(profiler.Domain("D"), "paused_task")
    t.start()
    t.stop()
    profiler.resume()
    e = profiler.Event("resumed_event")
    e.start()
    e.stop()
    profiler.set_state("stop")
    exe.forward()                      # stopped
    profiler.dump()
    names = [x["name"] for x in _events("p.json") if x["ph"] != "M"]
    assert names == ["resumed_event"]
    stats = json.loads(profiler.dumps(format="json"))["Time"]
    assert stats == {"event": {"resumed_event": stats["event"]["resumed_event"]}}
    # profiling off: the executor's hot path reads one flag
    assert profiler.SYMBOLIC is False and profiler.IMPERATIVE is False


def test_counter_marker_task_frame_event():
    enable_profiler("objs.json", aggregate_stats=True)
    d = profiler.Domain("PythonDomain")
    c = d.new_counter("cnt", 5)
    c += 3
    c -= 1
    c.increment(2)
    c.decrement()
    c.set_value(10)
    assert c.value == 10 and str(c) == "cnt"
    d.new_marker("mk").mark("global")
    profiler.Marker(d, "mk2").mark("thread")
    task = d.new_task("tsk")
    for _ in range(3):
        task.start()
        task.stop()
    frame = d.new_frame("frm")
    frame.start()
    frame.stop()
    ev = profiler.Event("evt")
    ev.start()
    ev.stop()
    profiler.set_state("stop")
    profiler.dump()
    events = [e for e in _events("objs.json") if e["ph"] != "M"]
    counts = [e["args"]["cnt"] for e in events if e["ph"] == "C"]
    assert counts == [5, 8, 7, 9, 8, 10]
    assert [(e["name"], e["s"]) for e in events if e["ph"] == "i"] == [("mk", "g"),
                                                                       ("mk2", "t")]
    cats = {(e["name"], e["cat"]) for e in events if e["ph"] == "X"}
    assert cats == {("tsk", "PythonDomain"), ("frm", "PythonDomain,frame"), ("evt", "event")}
    stats = json.loads(profiler.dumps(format="json"))["Time"]
    assert stats["PythonDomain"]["tsk"]["Count"] == 3
    assert list(stats) == ["PythonDomain", "PythonDomain,frame", "PythonDomain,instant_marker",
                           "event"]
    with pytest.raises(MXNetError):
        profiler.Marker(d, "x").mark("galaxy")
    with pytest.raises(MXNetError):
        profiler.Task("not a domain", "t")


def test_aggregate_table_layout():
    enable_profiler("t.json", aggregate_stats=True)
    d = profiler.Domain("PythonDomain")
    for name in ("a_name_longer_than_twenty_five_characters", "short", "short"):
        t = profiler.Task(d, name)
        t.start()
        t.stop()
    mx.nd.sqrt(mx.nd.ones((4,)))
    profiler.set_state("stop")
    table = profiler.dumps()
    lines = table.split("\n")
    assert lines[:3] == ["", "Profile Statistics:",
                         "\tNote the difference in units for different entries."]
    head = ("Name                          Total Count        Time (ms)    Min Time (ms)    "
            "Max Time (ms)    Avg Time (ms)")
    rule = ("----                          -----------        ---------    -------------    "
            "-------------    -------------")
    i = lines.index("PythonDomain")
    assert lines[i + 1:i + 4] == ["=================", head, rule]
    rows = {ln.split()[0]: ln for ln in lines[i + 4:i + 6]}
    assert set(rows) == {"a_name_longer_than_twenty_five_characters", "short"}
    short = rows["short"].split()
    assert short[1] == "2" and len(rows["short"]) == 25 + 16 + 4 * 17
    assert all(len(x.split(".")[1]) == 4 for x in short[2:])
    assert len(rows["a_name_longer_than_twenty_five_characters"]) == 41 + 16 + 4 * 17
    j = lines.index("operator")
    assert lines[j + 4].split()[:2] == ["sqrt", "1"]
    assert table.endswith("\n\n")
    assert profiler.dumps(reset=True) == table
    assert profiler.dumps() == lines[0] + "\n" + "\n".join(lines[1:3]) + "\n"


def test_dump_is_atomic_and_needs_a_run():
    with pytest.raises(StateError):
        profiler.dump()
    enable_profiler("out.json")
    profiler.Event("e").start()
    profiler.set_state("stop")
    profiler.dump(finished=False)
    profiler.dump()
    assert os.listdir(".") == ["out.json"]       # no temporary file left behind
    with open("out.json") as f:
        json.load(f)
    # a finished dump starts a new trace
    profiler.set_state("run")
    profiler.set_state("stop")
    profiler.dump()
    assert [e for e in _events("out.json") if e["ph"] != "M"] == []


def test_bad_arguments():
    with pytest.raises(MXNetError, match="unknown argument 'profile_everything'"):
        profiler.set_config(profile_everything=True)
    with pytest.raises(MXNetError):
        profiler.set_config(profile_all="maybe")
    with pytest.raises(MXNetError):
        profiler.set_state("go")
    enable_profiler("x.json", aggregate_stats=True)
    for kw in ({"format": "xml"}, {"sort_by": "median"}, {"ascending": "yes"},
               {"reset": 2}):
        with pytest.raises(MXNetError):
            profiler.dumps(**kw)
    assert profiler.dumps(format="json")
    profiler.set_config(filename="y.json")          # aggregate_stats back to its default
    assert profiler.dumps() == ""


def test_deprecated_aliases():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        profiler.profiler_set_config(mode="all", filename="dep.json")
        profiler.profiler_set_state("run")
        mx.nd.sqrt(mx.nd.ones((2,)))
        profiler.profiler_set_state("stop")
        profiler.dump_profile()
    assert len([x for x in w if issubclass(x.category, UserWarning)]) >= 4
    assert [e["name"] for e in _events("dep.json") if e["ph"] == "X"] == ["sqrt"]


def test_profile_values_unchanged():
    """Profiling runs the same steps: results are identical."""
    exe = _mlp().simple_bind(mx.cpu(), data=(4, 10), grad_req="null")
    rng = np.random.default_rng(0)
    for a in exe.arg_arrays:
        a[:] = rng.standard_normal(a.shape).astype("float32")
    ref = exe.forward()[0].asnumpy()
    enable_profiler("v.json")
    got = exe.forward()[0].asnumpy()
    profiler.set_state("stop")
    np.testing.assert_array_equal(got, ref)
