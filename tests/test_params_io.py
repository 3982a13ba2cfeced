"""``.params`` files: MXNet-written files load, mxc writes MXNet's bytes exactly, bad files fail
cleanly with FormatError. Golden files come from tools/make_params_golden.py (MXNet 1.9.1)."""
import json
import os
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mxc.ndarray.io as nio
from mxc.base import FormatError, MXNetError, UnsupportedError
from mxc.context import cpu, cpu_pinned
from mxc.ndarray import NDArray, array, load, load_frombuffer, save, zeros

DATA = os.path.join(os.path.dirname(__file__), "data", "params")
with open(os.path.join(DATA, "expected.json"), encoding="utf-8") as _f:
    META = json.load(_f)["files"]
EXPECTED = dict(np.load(os.path.join(DATA, "expected.npz")))
HAS_CUDA = torch.cuda.is_available()


def path(name):
    return os.path.join(DATA, name)


def raw(name):
    with open(path(name), "rb") as f:
        return f.read()


def expected_items(fname):
    """[(name or None, ndarray)] that MXNet loads from golden file ``fname``."""
    m = META[fname]
    if m["kind"] == "dict":
        return [(n, EXPECTED[f"{fname}::{n}"]) for n in m["names"]]
    return [(None, EXPECTED[f"{fname}::#{i}"]) for i in range(len(m["dtypes"]))]


def as_items(loaded):
    if isinstance(loaded, dict):
        return list(loaded.items())
    return [(None, a) for a in loaded]


def check_loaded(loaded, fname):
    want = expected_items(fname)
    assert isinstance(loaded, dict if META[fname]["kind"] == "dict" else list)
    got = as_items(loaded)
    assert [n for n, _ in got] == [n for n, _ in want]
    for (n, g), (_, w) in zip(got, want):
        assert isinstance(g, NDArray)
        assert g.dtype is w.dtype.type, (fname, n)
        assert g.shape == w.shape, (fname, n)
        assert g.context == cpu()
        np.testing.assert_array_equal(g.asnumpy(), w, err_msg=f"{fname} {n}")


GOLDEN = sorted(f for f in META if f not in ("gpu_ctx.params",))


# --- MXNet-written files load -------------------------------------------------------------------------
@pytest.mark.parametrize("fname", GOLDEN)
def test_load_mxnet_files(fname):
    check_loaded(load(path(fname)), fname)
    check_loaded(load_frombuffer(raw(fname)), fname)


def test_load_structure_details():
    d = load(path("dict_f32.params"))
    assert list(d)[:2] == ["arg:fc1_weight", "arg:fc1_bias"]            # file order kept
    assert load(path("empty_dict.params")) == []                         # as MXNet: no names
    assert list(load(path("unicode_names.params"))) == ["arg:poids_é", "aux:统计"]
    s = load(path("scalar0d.params"))                                    # V2 0-d: MXNet 1.9.1
    assert s[0].shape == () and s[0].asscalar() == 2.5                   # can't read it back
    v3 = load(path("v3.params"))
    assert v3["zero_size"].shape == (0, 3) and v3["scalar"].shape == ()
    mlp = load(path("mlp-0001.params"))
    assert {k.split(":")[0] for k in mlp} == {"arg", "aux"}
    assert mlp["aux:bn1_moving_var"].shape == (4,)


def test_load_gpu_saved_arrays():
    """Arrays saved from gpu(1) / cpu_pinned load on cpu(0) when that GPU is absent (as MXNet)."""
    d = load(path("gpu_ctx.params"))
    for n, w in expected_items("gpu_ctx.params"):
        np.testing.assert_array_equal(d[n].asnumpy(), w)
    want = "gpu" if HAS_CUDA and torch.cuda.device_count() > 1 else "cpu"
    assert d["arg:w"].context.device_type == want
    assert d["arg:b"].context == cpu()


def test_sparse_files_are_refused_clearly():
    with pytest.raises(UnsupportedError,
                       match=r"sparse_row_sparse\.params: array 0 \(at byte 24\) has storage type "
                             r"'row_sparse' \(1\).*tostype\('default'\)"):
        load(path("sparse_row_sparse.params"))
    with pytest.raises(UnsupportedError, match=r"sparse_csr\.params: array 1 .*'csr' \(2\)"):
        load(path("sparse_csr.params"))


# --- mxc writes MXNet's bytes -------------------------------------------------------------------------
BYTE_IDENTICAL = ["dtypes.params", "dict_f32.params", "list.params", "empty_list.params",
                  "empty_dict.params", "unicode_names.params", "big.params", "mlp-0001.params",
                  "scalar0d.params", "single.params"]


def rebuild(fname):
    """The data MXNet saved into ``fname``, as mxc arrays in the same container."""
    items = expected_items(fname)
    arrays = [array(v, dtype=v.dtype) for _, v in items]
    if fname == "single.params":
        return arrays[0]
    if fname == "empty_dict.params":
        return {}
    if META[fname]["kind"] == "dict":
        return {n: a for (n, _), a in zip(items, arrays)}
    return arrays


@pytest.mark.parametrize("fname", BYTE_IDENTICAL)
def test_save_is_byte_identical_to_mxnet(fname, tmp_path):
    """mxc.save of the same data gives MXNet 1.9.1's file byte for byte."""
    out = tmp_path / "out.params"
    save(out, rebuild(fname))
    assert out.read_bytes() == raw(fname)


@pytest.mark.parametrize("fname", ["v1_legacy.params", "legacy_list.params", "v3.params"])
def test_old_formats_resave_as_v2(fname, tmp_path):
    out = tmp_path / "out.params"
    save(out, load(path(fname)))
    check_loaded(load(out), fname)
    assert struct.unpack_from("<I", out.read_bytes(), 24)[0] == nio.V2_MAGIC


@pytest.mark.parametrize("fname", sorted(f for f in os.listdir(DATA) if f.startswith("mxc_")))
def test_mxc_written_files_are_stable(fname, tmp_path):
    """tests/data/params/mxc_*.params were written by mxc and verified to load in MXNet 1.9.1
    (tools/make_params_golden.py --verify-mxc); mxc must keep writing the same bytes."""
    src = {"mxc_v3_as_v2.params": "v3.params"}.get(fname, fname[len("mxc_"):])
    data = rebuild(src)
    if src == "v3.params":
        data = {k: (v.reshape(1) if v.ndim == 0 else v) for k, v in data.items()}
    out = tmp_path / "out.params"
    save(out, data)
    assert out.read_bytes() == raw(fname)


def test_saved_context_is_recorded():
    a = array([1.0, 2.0], ctx=cpu_pinned(0))
    b = nio._save_raw(a)
    dev_type, dev_id = struct.unpack_from("<ii", b, 4 + 4 + 4 + 8)
    assert (dev_type, dev_id) == (3, 0)


# --- round trips --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8", "int32", "int8",
                                   "int64", "bool", "int16", "uint16", "uint32", "uint64"])
def test_roundtrip_dtypes(dtype, tmp_path):
    rng = np.random.default_rng(0)
    v = (rng.standard_normal((3, 4)) * 50).astype(dtype)
    a = array(v, dtype=dtype)
    save(tmp_path / "a.params", {"x": a, "y": a[1:3], "s": array(7, dtype=dtype),
                                 "e": zeros((0, 2), dtype=dtype)})
    d = load(tmp_path / "a.params")
    assert d["x"].dtype is np.dtype(dtype).type
    np.testing.assert_array_equal(d["x"].asnumpy(), v)
    np.testing.assert_array_equal(d["y"].asnumpy(), v[1:3])
    assert d["s"].shape == () and d["e"].shape == (0, 2)


def test_save_forms(tmp_path):
    a, b = array([1, 2]), array([[3.0]])
    save(str(tmp_path / "l"), [a, b])
    assert [x.shape for x in load(str(tmp_path / "l"))] == [(2,), (1, 1)]
    save(tmp_path / "t", (a, b))
    assert len(load(tmp_path / "t")) == 2
    save(tmp_path / "s", a)
    assert isinstance(load(tmp_path / "s"), list)
    with pytest.raises(TypeError, match="dict str->NDArray"):
        save(tmp_path / "x", {1: a})
    with pytest.raises(TypeError, match="dict str->NDArray"):
        save(tmp_path / "x", {"a": np.zeros(2)})
    with pytest.raises(TypeError, match="item 1"):
        save(tmp_path / "x", [a, 3])
    with pytest.raises(ValueError, match="data needs to either be"):
        save(tmp_path / "x", 5)
    with pytest.raises(TypeError, match="fname"):
        save(5, [a])
    with pytest.raises(UnsupportedError, match="remote"):
        save("s3://bucket/x.params", [a])
    assert not os.path.exists(tmp_path / "x")


def test_save_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "model-0001.params"
    save(target, {"arg:w": array([1.0, 2.0])})
    before = target.read_bytes()
    calls = []
    real = nio._array_bytes

    def failing(arr):
        calls.append(arr)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(arr)

    monkeypatch.setattr(nio, "_array_bytes", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save(target, {"arg:w": array([5.0, 6.0]), "arg:b": array([7.0])})
    assert target.read_bytes() == before                   # old file untouched
    assert sorted(os.listdir(tmp_path)) == ["model-0001.params"]    # no temp file left


# --- bad files ----------------------------------------------------------------------------------------
TRUNCATE = ["dtypes.params", "v1_legacy.params", "v3.params", "unicode_names.params",
            "list.params", "scalar0d.params", "gpu_ctx.params", "legacy_list.params"]


@pytest.mark.parametrize("fname", TRUNCATE)
def test_every_truncation_is_a_format_error(fname):
    blob = raw(fname)
    for n in range(len(blob)):
        with pytest.raises(FormatError, match=r"<buffer>: byte \d+: ") as e:
            load_frombuffer(blob[:n])
        assert isinstance(e.value, MXNetError)


def test_truncated_file_names_file_and_offset(tmp_path):
    blob = raw("dict_f32.params")
    for n in range(0, len(blob), 13):
        p = tmp_path / "cut.params"
        p.write_bytes(blob[:n])
        with pytest.raises(FormatError, match=r"cut\.params: byte \d+: "):
            load(p)
    p.write_bytes(blob[:100])
    with pytest.raises(FormatError, match=r"byte 64: file truncated: array 0 of shape \(16, 8\) "
                                          r"and dtype float32 needs 512 bytes of data but only "
                                          r"36 remain"):
        load(p)


@pytest.mark.parametrize("content, msg", [
    (b"", r"byte 0: empty file"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, (r"byte 0: not an MXNet NDArray file: expected the "
                                         r"magic 0x112 at byte 0, found b'\\x89PNG")),
    (b"hello world, this is a text file\n", r"byte 0: not an MXNet NDArray file"),
    (b"\x12\x01\x00", r"byte 0: file truncated: 3 bytes"),
])
def test_foreign_files(tmp_path, content, msg):
    p = tmp_path / "foreign.params"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=r"foreign\.params: " + msg):
        load(p)


def hdr(n):
    return struct.pack("<QQQ", 0x112, 0, n)


def v2(shape, flag=0, data=None, stype=0, dev=(1, 0), magic=0xF993FAC9):
    nbytes = int(np.prod(shape)) * 4 if data is None else len(data)
    return (struct.pack("<Iii", magic, stype, len(shape)) + struct.pack(f"<{len(shape)}q", *shape)
            + struct.pack("<iii", dev[0], dev[1], flag) + (b"\0" * nbytes if data is None
                                                            else data))


NONAMES = struct.pack("<Q", 0)


@pytest.mark.parametrize("blob, exc, msg", [
    (hdr(2 ** 60), FormatError, r"byte 16: array count 1152921504606846976 is impossible"),
    (hdr(1) + struct.pack("<Iii", 0xF993FAC9, 0, 2 ** 31 - 1), FormatError,
     r"byte 32: array 0: ndim 2147483647 is impossible"),
    (hdr(1) + struct.pack("<Iii", 0xF993FAC9, 0, -1), FormatError, r"array 0: invalid ndim -1"),
    (hdr(1) + struct.pack("<Iii", 0xF993FAC9, 0, 2) + struct.pack("<qq", 2 ** 40, 2 ** 40)
     + struct.pack("<iii", 1, 0, 0), FormatError,
     (r"byte 64: file truncated: array 0 of shape \(1099511627776, 1099511627776\) and dtype "
      r"float32 needs 4835703278458516698824704 bytes")),
    (hdr(1) + v2((2, -3)), FormatError, r"byte 32: array 0: invalid shape \(2, -3\)"),
    (hdr(1) + v2((0, 2 ** 40, 2 ** 40)) + NONAMES, FormatError,
     r"byte 32: array 0: shape \(0, 1099511627776, 1099511627776\) is too large"),
    (hdr(1) + v2((2,), flag=99) + NONAMES, FormatError,
     r"byte 52: array 0: unknown dtype flag 99; expected one of 0 float32"),
    (hdr(1) + v2((2,), flag=12) + NONAMES, UnsupportedError, r"array 0 .* is bfloat16"),
    (hdr(1) + v2((2,), stype=7) + NONAMES, FormatError,
     r"byte 28: array 0: unknown storage type 7"),
    (hdr(1) + v2((2,), dev=(9, 0)) + NONAMES, FormatError,
     r"byte 44: array 0: invalid context \(dev_type=9"),
    (hdr(1) + v2((2,)) + struct.pack("<Q", 3), FormatError,
     r"byte 64: name count 3 does not match the array count 1"),
    (hdr(1) + v2((2,)) + struct.pack("<QQ", 1, 2 ** 62), FormatError,
     r"byte 72: file truncated: name 0 has length 4611686018427387904"),
    (hdr(1) + v2((2,)) + struct.pack("<QQ", 1, 2) + b"\xff\xfe", FormatError,
     r"byte 80: name 0 is not valid UTF-8"),
    (hdr(1) + struct.pack("<I", 0x12345678) + b"\0" * 40, FormatError,
     r"byte 24: array 0: unknown array magic 0x12345678"),
    (hdr(1) + struct.pack("<I", 60) + b"\0" * 40, FormatError,
     r"byte 28: file truncated: array 0 has ndim 60, whose shape needs 240 bytes"),
], ids=["count", "ndim", "neg-ndim", "dims", "neg-dim", "strides", "dtype", "bf16", "stype", "dev", "names",
        "name-len", "utf8", "magic", "legacy-ndim"])
def test_bad_headers(blob, exc, msg):
    with pytest.raises(exc, match=msg):
        load_frombuffer(blob)


def test_trailing_bytes_are_ignored_like_mxnet():
    d = load_frombuffer(raw("dict_f32.params") + b"garbage")
    assert len(d) == 5


def test_uninitialised_arrays_in_v1_and_v3():
    """V1 / V3 mark MXNet's "none" array with a -1 dim and store nothing more for it."""
    none_v3 = struct.pack("<Iiiq", 0xF993FACA, 0, 1, -1)
    d = load_frombuffer(hdr(2) + none_v3 + v2((2,), magic=0xF993FACA) + NONAMES)
    assert d[0].shape == (0,) and d[1].shape == (2,)
    none_v1 = struct.pack("<Iiq", 0xF993FAC8, 1, -1)
    assert load_frombuffer(hdr(1) + none_v1 + NONAMES)[0].size == 0


def test_load_frombuffer_types():
    blob = raw("list.params")
    assert len(load_frombuffer(bytearray(blob))) == 3
    assert len(load_frombuffer(memoryview(blob))) == 3
    with pytest.raises(TypeError, match="bytes"):
        load_frombuffer(blob.decode("latin-1"))
    with pytest.raises(TypeError):
        load(123)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["dtypes.params", "v1_legacy.params", "v3.params", "dict_f32.params"]),
       st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), min_size=1, max_size=4))
def test_corrupted_bytes_never_crash(fname, flips):
    blob = bytearray(raw(fname))
    for pos, val in flips:
        blob[pos % len(blob)] = val
    try:
        load_frombuffer(bytes(blob))
    except (FormatError, UnsupportedError):
        pass


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_gpu_roundtrip(tmp_path):
    from mxc.context import gpu
    a = array([[1.0, 2.0]], ctx=gpu(0))
    save(tmp_path / "g.params", {"w": a})
    blob = (tmp_path / "g.params").read_bytes()
    assert struct.unpack_from("<ii", blob, 24 + 12 + 16) == (2, 0)      # saved from gpu(0)
    d = load(tmp_path / "g.params")
    assert d["w"].context == gpu(0) and d["w"].asnumpy().tolist() == [[1.0, 2.0]]
