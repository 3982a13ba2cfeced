"""The persistent compile cache: a second process pays no codegen for a graph it has seen."""
import json
import os
import subprocess
import sys

SCRIPT = r"""
from mxc.codegen.llvm import jit
import json, sys, time
import mxc as mx
data = mx.sym.Variable("data")
net = mx.sym.FullyConnected(data, num_hidden=16, name="fc1")
net = mx.sym.SoftmaxOutput(mx.sym.Activation(net, act_type="relu", name="r1"), name="sm")
t = time.perf_counter()
c = mx.compile(net, data=(8, 12), is_train=True, grad_wrt=["fc1_weight", "fc1_bias"])
dt = time.perf_counter() - t
import numpy as np
rng = np.random.default_rng(0)
ins = [rng.standard_normal(v.type.shape).astype("float32") for v in c.graph.inputs]
out = c(*ins)
print(json.dumps({"from_cache": c.from_cache, "seconds": dt, "jit": jit().stats,
                  "sum": [float(np.sum(o)) for o in out], "kernels": len(c.kernels)}))
"""


def _run(env):
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_second_process_hits_the_cache(tmp_path):
    env = dict(os.environ, MXC_CACHE_DIR=str(tmp_path), MXC_VERIFY="0",
               MXC_CHECK_ROUNDTRIP="0")
    first = _run(env)
    second = _run(env)
    assert not first["from_cache"] and second["from_cache"]
    assert first["jit"]["compiled"] > 0 and second["jit"]["compiled"] == 0   # no LLVM runs
    assert first["sum"] == second["sum"] and first["kernels"] == second["kernels"]
    files = os.listdir(tmp_path / "compile")
    assert len([f for f in files if f.endswith(".pkl")]) == 1          # the program
    assert len([f for f in files if f.endswith(".blob")]) == second["kernels"]  # its kernels


def test_corrupt_entry_is_ignored_and_rewritten(tmp_path):
    env = dict(os.environ, MXC_CACHE_DIR=str(tmp_path), MXC_VERIFY="0",
               MXC_CHECK_ROUNDTRIP="0")
    _run(env)
    for entry in (tmp_path / "compile").iterdir():      # the program and every kernel
        entry.write_bytes(b"not a pickle")
    again = _run(env)
    assert not again["from_cache"]
    assert _run(env)["from_cache"]


def test_cache_can_be_disabled(tmp_path):
    env = dict(os.environ, MXC_CACHE_DIR=str(tmp_path), MXC_CACHE="0")
    assert not _run(env)["from_cache"] and not _run(env)["from_cache"]


def test_a_hit_parses_the_fused_graph_only_when_asked(tmp_path, monkeypatch):
    import numpy as np

    import mxc as mx
    import mxc.ir.parser as parser
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path))
    data = mx.sym.Variable("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=6, name="fc"), name="sm")
    args = dict(data=(4, 5), is_train=True, grad_wrt=["fc_weight", "fc_bias"])
    cold = mx.compile(net, **args)
    real = parser.parse

    def refuse(*a, **k):
        raise AssertionError("a cache hit parsed the fused graph's text")

    monkeypatch.setattr(parser, "parse", refuse)
    warm = mx.compile(net, **args)
    assert warm.from_cache and not cold.from_cache
    assert [(v.name, v.type) for v in warm.inputs] == [(v.name, v.type) for v in cold.inputs]
    xs = [np.full(v.type.shape, 0.5, np.float32) for v in warm.inputs]
    for a, b in zip(warm(*xs), cold(*xs)):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(parser, "parse", real)
    assert str(warm.graph) == str(cold.graph)
    assert [n for n, _ in warm.stages] == ["input", "cached"]


def test_a_hit_reports_head_gradients_and_pins_from_the_graph_attributes(tmp_path, monkeypatch):
    # what autodiff and the pins decided is in the final graph's attributes, which the entry
    # carries: a hit reports the same head-gradient inputs, phases and pins without parsing
    import mxc as mx
    import mxc.ir.parser as parser
    from mxc.passes.pin import Pin
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path))
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    net = mx.sym.tanh(fc, name="act")
    args = dict(data=(2, 4), is_train=True, grad_wrt=["fc_weight"],
                pins=[Pin("fc", 0, label="monitor fc"), Pin("fc", 0, kind="grad")])
    cold = mx.compile(net, **args)
    monkeypatch.setattr(parser, "parse", None)
    warm = mx.compile(net, **args)
    assert warm.from_cache and not cold.from_cache
    assert warm.head_inputs == cold.head_inputs == ["act_head_grad"]
    assert warm.head_outputs == cold.head_outputs == [0]
    assert warm.pins == cold.pins and set(cold.pins) == set(args["pins"])
    assert warm.graph_attrs == cold.graph.attrs
    assert warm.program.n_forward_outputs == cold.program.n_forward_outputs == 2


def test_forgotten_stages_are_recompiled_on_request(monkeypatch):
    import mxc as mx
    monkeypatch.setenv("MXC_CACHE", "0")
    net = mx.sym.tanh(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc"))
    c = mx.compile(net, data=(2, 4))
    names = [n for n, _ in c.stages]
    simplified = str(c.stage("simplify"))
    c.forget_stages()
    assert [n for n, _ in c.stages] == [names[0], names[-1]]
    assert str(c.stage("simplify")) == simplified      # recompiled to show it
    assert [n for n, _ in c.stages] == names


def test_source_fingerprint_follows_every_python_file(tmp_path):
    """The cache key's source part changes when any .py file of the tree is edited, added or
    removed, and ignores bytecode and other files."""
    from mxc.codegen.cache import _source_hash
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    a = tmp_path / "a.py"
    a.write_text("x = 1\n")
    (tmp_path / "pkg" / "b.py").write_text("y = 2\n")
    h0 = _source_hash(str(tmp_path))
    assert _source_hash(str(tmp_path)) == h0
    (tmp_path / "pkg" / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"\0" * 8)
    (tmp_path / "notes.txt").write_text("not source")
    assert _source_hash(str(tmp_path)) == h0
    st = a.stat()
    a.write_text("x = 3\n")                              # same size: the time tells
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    h1 = _source_hash(str(tmp_path))
    assert h1 != h0
    (tmp_path / "pkg" / "c.py").write_text("")
    h2 = _source_hash(str(tmp_path))
    assert h2 not in (h0, h1)
    (tmp_path / "pkg" / "c.py").unlink()
    assert _source_hash(str(tmp_path)) == h1
