"""The compile cache never trusts its files: whatever is wrong with an entry (flipped bits,
truncation, random bytes, a pickle of the wrong type, a planted pickle that would run code, an
entry copied under another key) is discarded with one warning line naming the file, and the
next compile gives the uncached outputs and rewrites a good entry. A cache directory that cannot
be used turns the cache off with one warning; compiling still works.

End-to-end checks run the compile in a fresh process (the old cache crashed the process on some
of these). The children pin the key's source hash, so another edit to mxc's source between two
runs cannot change the keys under the test."""
import json
import logging
import os
import pickle
import random
import shutil
import subprocess
import sys

import pytest

from mxc.codegen import cache

PRELUDE = r"""
import json, os, sys
import numpy as np
import mxc as mx
from mxc.codegen import cache
cache._HOST, cache._SOURCE = cache._host(), "pinned-by-test"


def compile_and_run():
    data = mx.sym.Variable("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=16, name="fc1"),
                          act_type="relu", name="r1")
    y = mx.sym.FullyConnected(h, num_hidden=6, name="fc2")
    parts = mx.sym.split(y, num_outputs=2, axis=1, name="sp")
    net = mx.sym.Group([mx.sym.argmax(y, axis=1, name="am"), parts[0] * 2.5, parts[1] + 1])
    c = mx.compile(net, data=(4, 10))
    rng = np.random.default_rng(0)
    ins = [rng.standard_normal(v.type.shape).astype("float32") for v in c.graph.inputs]
    return {"from_cache": c.from_cache, "outs": [np.asarray(o).tolist() for o in c(*ins)]}
"""

RUN = PRELUDE + r"""
print(json.dumps(compile_and_run()))
"""

# every file in turn, at each position (magic, format, key, length, digest, payload start,
# middle and end): one flipped bit is refused and the file deleted; then all files at once
FLIP = PRELUDE + r"""
d = cache.cache_dir()
cases = []
for fn in sorted(os.listdir(d)):
    path = os.path.join(d, fn)
    key, suffix = os.path.splitext(fn)
    good = open(path, "rb").read()
    h = cache._HEADER.size
    for off in (0, 8, 12, h - 40, h - 1, h, (h + len(good)) // 2, len(good) - 1):
        bad = bytearray(good)
        bad[off] ^= 0x01
        open(path, "wb").write(bad)
        got = cache.load(key) if suffix == ".pkl" else cache.load_blob(key)
        cases.append({"file": fn, "offset": off, "loaded": got is not None,
                      "deleted": not os.path.exists(path)})
        open(path, "wb").write(good)
    bad = bytearray(good)
    bad[(cache._HEADER.size + len(good)) // 2] ^= 0x01
    open(path, "wb").write(bad)
out = compile_and_run()
out["cases"] = cases
print(json.dumps(out))
"""


def _child(script, cache_dir, tmp_path=None):
    env = dict(os.environ, MXC_CACHE_DIR=str(cache_dir), MXC_VERIFY="0",
               MXC_CHECK_ROUNDTRIP="0", MXC_CACHE="1")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                       timeout=300, cwd=str(tmp_path or cache_dir))
    assert r.returncode == 0, f"child exited with {r.returncode}:\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def _warnings(stderr):
    return [ln for ln in stderr.splitlines() if "mxc compile cache" in ln]


@pytest.fixture(scope="module")
def primed(tmp_path_factory):
    """A cache filled by one uncached run: its files and the uncached outputs."""
    d = tmp_path_factory.mktemp("primed")
    out, err = _child(RUN, d)
    assert not out["from_cache"] and not _warnings(err)
    files = {fn: (d / "compile" / fn).read_bytes() for fn in os.listdir(d / "compile")}
    assert [f for f in files if f.endswith(".pkl")] and [f for f in files if f.endswith(".blob")]
    return files, out["outs"]


@pytest.fixture
def cache_copy(primed, tmp_path):
    """A fresh cache directory holding the primed entries; returns its ``compile`` folder."""
    d = tmp_path / "cache" / "compile"
    d.mkdir(parents=True)
    for fn, data in primed[0].items():
        (d / fn).write_bytes(data)
    return d


def _assert_good_entries(d, names):
    """Every entry in ``names`` is back in ``d`` and passes every check."""
    for fn in names:
        key, suffix = os.path.splitext(fn)
        payload, _ = cache._read(str(d / fn), key)
        value = cache._unpickle(payload)
        check = cache._check_entry if suffix == ".pkl" else cache._check_kernel_blob
        assert check(value) is None, fn


def _recompile(d, primed, corrupted, tmp_path):
    """The next process compiles with uncached outputs, one warning per corrupted file, and
    leaves good entries behind."""
    files, uncached = primed
    out, err = _child(RUN, d.parent, tmp_path)
    assert out["outs"] == uncached
    warned = _warnings(err)
    assert len(warned) == len(corrupted), err
    for fn in corrupted:
        assert any(str(d / fn) in ln for ln in warned), (fn, warned)
    _assert_good_entries(d, files)
    return out


def test_flipped_bit_in_every_file_is_refused(primed, cache_copy, tmp_path):
    files, uncached = primed
    out, err = _child(FLIP, cache_copy.parent, tmp_path)
    assert out["outs"] == uncached
    assert {c["file"] for c in out["cases"]} == set(files)
    assert not [c for c in out["cases"] if c["loaded"] or not c["deleted"]]
    # one line per refused read: each case, then each file once in the final compile
    assert len(_warnings(err)) == len(out["cases"]) + len(files), err
    _assert_good_entries(cache_copy, files)


def test_truncated_entries(primed, cache_copy, tmp_path):
    for i, fn in enumerate(sorted(primed[0])):
        data = primed[0][fn]
        # inside the header, at its end, and one byte short of the payload
        cut = (20, cache._HEADER.size, len(data) - 1)[i % 3]
        (cache_copy / fn).write_bytes(data[:cut])
    _recompile(cache_copy, primed, primed[0], tmp_path)


def test_random_bytes(primed, cache_copy, tmp_path):
    rng = random.Random(0)
    for fn in primed[0]:
        (cache_copy / fn).write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    _recompile(cache_copy, primed, primed[0], tmp_path)


def test_old_format_and_wrong_type_pickles(primed, cache_copy, tmp_path):
    """A bare pickle (the old format, of any type) has no header: refused unread."""
    for fn in primed[0]:
        (cache_copy / fn).write_bytes(pickle.dumps({"not": "an entry"}))
    _recompile(cache_copy, primed, primed[0], tmp_path)


def _call_pickle(module, name, arg):
    """A protocol-4 pickle that calls ``module.name(arg)`` when loaded."""
    def s(x):
        b = x.encode()
        return b"\x8c" + bytes([len(b)]) + b            # SHORT_BINUNICODE
    return b"\x80\x04" + s(module) + s(name) + b"\x93" + s(arg) + b"\x85R."  # STACK_GLOBAL


def test_planted_pickle_runs_nothing(primed, cache_copy, tmp_path):
    """A planted pickle with a valid header and checksum (what someone who knows the format
    writes) still cannot call os.system: the unpickler refuses the global first."""
    marker = tmp_path / "pwned"
    for fn in primed[0]:
        key = os.path.splitext(fn)[0]
        payload = _call_pickle("posix" if os.name == "posix" else "nt", "system",
                               f"touch {marker}")
        (cache_copy / fn).write_bytes(cache._pack(key, payload))
    _recompile(cache_copy, primed, primed[0], tmp_path)
    assert not marker.exists()


def test_entries_copied_under_other_keys(primed, cache_copy, tmp_path):
    """One kernel's object code under the other kernels' keys: unchecked, their symbols are
    missing from the JIT and the first launch jumps to address 0 (SIGSEGV)."""
    blobs = sorted(fn for fn in primed[0] if fn.endswith(".blob"))
    assert len(blobs) >= 2
    for fn in blobs[1:]:
        (cache_copy / fn).write_bytes(primed[0][blobs[0]])
    out = _recompile(cache_copy, primed, blobs[1:], tmp_path)
    assert out["from_cache"]                                # the program itself was fine


# -- in-process checks of single entries -------------------------------------------------------
@pytest.fixture
def cache_env(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("MXC_CACHE", "1")
    caplog.set_level(logging.WARNING, logger="mxc")
    d = cache.cache_dir()
    assert d is not None
    return d


def _discarded(caplog, path):
    lines = [r.getMessage() for r in caplog.records if r.name == "mxc"]
    assert len(lines) == 1 and path in lines[0] and "\n" not in lines[0], lines
    assert not os.path.exists(path)
    return lines[0]


EVIL = [
    ("posix", "system"), ("os", "system"), ("builtins", "exec"), ("builtins", "eval"),
    ("builtins", "open"), ("subprocess", "getoutput"), ("mxc.base", "os.system"),
    ("mxc.base", "os"), ("mxc.codegen.triton", "load_source"),
    ("mxc.codegen.triton", "write_source"), ("mxc.base", "tempfile.mkstemp"),
]


@pytest.mark.parametrize("module,name", EVIL)
def test_unpickler_refuses_before_calling(module, name, cache_env, caplog, tmp_path):
    marker = tmp_path / "pwned"
    payload = _call_pickle(module, name, f"touch {marker}" if "system" in name else str(marker))
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        cache._unpickle(payload)
    key = "a" * cache.KEY_LEN
    path = os.path.join(cache_env, key + ".pkl")
    with open(path, "wb") as f:
        f.write(cache._pack(key, payload))
    assert cache.load(key) is None
    assert "refused" in _discarded(caplog, path)
    assert not marker.exists()


def test_every_library_call_loads():
    """Extern steps name the functions ops lower to: each must pass the unpickler."""
    fns = cache._extern_functions()
    assert len(fns) > 10
    for f in fns:
        got = cache._unpickle(pickle.dumps(f, protocol=pickle.HIGHEST_PROTOCOL))
        # a function comes back as itself; a callable object wrapping one, as an equal copy
        assert got is f or (type(got) is type(f) and vars(got) == vars(f)), f


def test_numpy_values_load():
    import numpy as np
    vals = [np.arange(6, dtype="float32").reshape(2, 3)[:, ::2], np.float32(1.5),
            np.dtype("int64"), {1, 2}, frozenset({3}), slice(1, 5, 2), 2 + 1j, range(3),
            bytearray(b"x")]
    for v in vals:
        got = cache._unpickle(pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL))
        assert type(got) is type(v)


@pytest.mark.parametrize("suffix,value,why", [
    (".pkl", {"a": 1}, "holds a dict"),
    (".pkl", cache.CacheEntry("g", "not a program", [], {}, {}), "CacheEntry.program"),
    (".blob", (b"obj", 3), "not an (object code, IR) pair"),
    (".blob", [b"obj", "ir"], "holds a list"),
])
def test_valid_pickle_of_the_wrong_type(suffix, value, why, cache_env, caplog):
    key = "b" * cache.KEY_LEN
    path = os.path.join(cache_env, key + suffix)
    with open(path, "wb") as f:
        f.write(cache._pack(key, pickle.dumps(value)))
    assert (cache.load if suffix == ".pkl" else cache.load_blob)(key) is None
    assert why in _discarded(caplog, path)


def test_program_entry_under_another_key(primed, cache_env, caplog):
    pkl = next(fn for fn in primed[0] if fn.endswith(".pkl"))
    key = "c" * cache.KEY_LEN
    path = os.path.join(cache_env, key + ".pkl")
    with open(path, "wb") as f:
        f.write(primed[0][pkl])
    assert cache.load(key) is None
    assert "stored under key" in _discarded(caplog, path)


def test_missing_entry_is_a_quiet_miss(cache_env, caplog):
    assert cache.load("d" * cache.KEY_LEN) is None
    assert cache.load_blob("d" * cache.KEY_LEN) is None
    assert not caplog.records


def test_store_then_load(cache_env, caplog):
    key = "e" * cache.KEY_LEN
    cache.store_blob(key, (b"\x7fELF", "define void @f()"))
    assert cache.load_blob(key) == (b"\x7fELF", "define void @f()")
    assert not [f for f in os.listdir(cache_env) if f.endswith(".tmp")]
    assert not caplog.records


def test_unloadable_value_is_not_stored(cache_env, caplog):
    """What the unpickler would refuse is never written (it would be refused on every run)."""
    key = "f" * cache.KEY_LEN
    cache.store_blob(key, (os.getcwd, "x"))
    assert not os.path.exists(os.path.join(cache_env, key + ".blob"))


# -- unusable cache directories --------------------------------------------------------------
def _tiny_compile():
    import numpy as np

    import mxc as mx
    x = mx.sym.Variable("x")
    c = mx.compile(mx.sym.Activation(x * 3.0 + 1.0, act_type="tanh"), x=(3, 5))
    a = np.linspace(-1, 1, 15, dtype="float32").reshape(3, 5)
    np.testing.assert_allclose(np.asarray(c(a)[0]), np.tanh(a * 3 + 1), rtol=1e-5, atol=1e-6)
    return c


def _unusable(path, monkeypatch, caplog):
    monkeypatch.setenv("MXC_CACHE_DIR", str(path))
    monkeypatch.setenv("MXC_CACHE", "1")
    caplog.set_level(logging.WARNING, logger="mxc")
    assert not _tiny_compile().from_cache
    assert not _tiny_compile().from_cache
    lines = [r.getMessage() for r in caplog.records if r.name == "mxc"]
    assert len(lines) == 1 and "disabled" in lines[0] and str(path) in lines[0], lines
    assert not cache.enabled()


def test_cache_dir_is_a_file(tmp_path, monkeypatch, caplog):
    f = tmp_path / "a-file"
    f.write_text("x")
    _unusable(f, monkeypatch, caplog)


def test_cache_dir_under_a_file(tmp_path, monkeypatch, caplog):
    f = tmp_path / "a-file"
    f.write_text("x")
    _unusable(f / "cache", monkeypatch, caplog)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only directories")
def test_read_only_cache_dir(tmp_path, monkeypatch, caplog):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        _unusable(d, monkeypatch, caplog)
    finally:
        d.chmod(0o700)
        shutil.rmtree(d)


def test_triton_source_files_are_checked_and_the_folder_falls_back(tmp_path, monkeypatch):
    """Generated Triton source is imported: a tampered file is rewritten, and an unusable
    MXC_CACHE_DIR falls back to a private temporary folder."""
    from mxc.codegen import triton as tr
    monkeypatch.setenv("MXC_CACHE_DIR", str(tmp_path))
    src = "X = 1\n"
    path = tr.write_source(src)
    with open(path, "w") as f:
        f.write("import os\nX = 2\n")
    assert tr.write_source(src) == path
    assert open(path).read() == src
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MXC_CACHE_DIR", str(blocker))
    p2 = tr.write_source(src)
    assert open(p2).read() == src and not p2.startswith(str(blocker))
