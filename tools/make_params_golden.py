"""Golden ``.params`` files for tests/test_params_io.py, written by the real MXNet 1.9.1.

Three modes, all writing/reading tests/data/params/:

1. ``$PY tools/make_params_golden.py``  (PY=$(../shared/oracle/setup.sh): MXNet 1.9.1's venv)
   Writes .params files with MXNet (dict / list / single array / empty, every dtype MXNet 1.9.1's
   Python API can create, a 0-d array, a V3 file from numpy-shape mode, sparse arrays, a Module
   checkpoint) plus hand-built V1, pre-V1 and gpu-context files laid out as MXNet's
   ``NDArray::Load`` reads them (src/ndarray/ndarray.cc, include/mxnet/tuple.h), which MXNet then
   loads to produce their expected values. Expected contents go to ``expected.npz`` (values,
   keyed ``FILE::NAME`` for dicts and ``FILE::#I`` for lists) and ``expected.json``
   (structure: kind, names in file order, dtypes, shapes).

2. ``python tools/make_params_golden.py --write-mxc``  (the project's python, with mxc)
   Writes ``mxc_*.params`` with ``mxc.ndarray.save`` from the expected values.

3. ``$PY tools/make_params_golden.py --verify-mxc``  (MXNet again)
   Loads every ``mxc_*.params`` with MXNet 1.9.1's ``mx.nd.load`` and asserts names, dtypes,
   shapes and values; prints one line per file. Run it by hand after 2.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "params")

# dtypes MXNet 1.9.1's Python API can create (flags 0..7)
DTYPES = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool"]


def _values(rng, shape, dtype):
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape).astype(dtype)


# --- mode 1: MXNet writes ---------------------------------------------------------------------------
def oracle_write():
    import mxnet as mx
    assert mx.__version__ == "1.9.1", mx.__version__
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240611)
    expected, meta = {}, {}

    def record(fname, loaded):
        """Record what MXNet itself loads back from ``fname``."""
        if isinstance(loaded, dict):
            names = list(loaded)
            arrays = [loaded[n] for n in names]
            keys = [f"{fname}::{n}" for n in names]
        else:
            names, arrays = None, loaded
            keys = [f"{fname}::#{i}" for i in range(len(arrays))]
        for k, a in zip(keys, arrays):
            expected[k] = a.asnumpy()
        meta[fname] = {"kind": "dict" if names is not None else "list", "names": names,
                       "dtypes": [np.dtype(a.dtype).name for a in arrays],
                       "shapes": [list(a.shape) for a in arrays]}

    def save(fname, data, np_shape=False):
        path = os.path.join(OUT, fname)
        if np_shape:
            mx.npx.set_np()
            try:
                data = data()       # numpy-mode arrays must be created in numpy mode
                mx.npx.save(path, data)
                loaded = mx.npx.load(path)
                loaded = {k: v.as_nd_ndarray() for k, v in loaded.items()}
            finally:
                mx.npx.reset_np()
        else:
            mx.nd.save(path, data)
            loaded = mx.nd.load(path)
        record(fname, loaded)
        # the file order of a dict is the save order; make sure the record keeps it
        if isinstance(data, dict) and data:
            assert meta[fname]["names"] == list(data), (fname, meta[fname]["names"])

    # a dict of every dtype, several ranks
    shapes = [(3,), (2, 3), (2, 1, 4), (1, 2, 2, 3)]
    save("dtypes.params", {f"arg:{dt}": mx.nd.array(_values(rng, shapes[i % 4], dt), dtype=dt)
                           for i, dt in enumerate(DTYPES)})
    # a checkpoint-like dict with arg:/aux: names, in a non-sorted order
    save("dict_f32.params", {
        "arg:fc1_weight": mx.nd.array(_values(rng, (16, 8), "float32")),
        "arg:fc1_bias": mx.nd.array(_values(rng, (16,), "float32")),
        "aux:bn_moving_var": mx.nd.array(np.abs(_values(rng, (16,), "float32"))),
        "aux:bn_moving_mean": mx.nd.array(_values(rng, (16,), "float32")),
        "arg:conv0_weight": mx.nd.array(_values(rng, (4, 3, 3, 3), "float32")),
    })
    # a list (no names) and a single array (saved as a one-item list)
    save("list.params", [mx.nd.array(_values(rng, (5,), "float32")),
                         mx.nd.array(_values(rng, (2, 3, 4), "float64")),
                         mx.nd.array(_values(rng, (3, 3), "int32"), dtype="int32")])
    save("single.params", mx.nd.array(_values(rng, (4, 2), "float32")))
    save("empty_list.params", [])
    save("empty_dict.params", {})           # same bytes as an empty list; loads as []
    # non-ASCII names
    save("unicode_names.params", {"arg:poids_é": mx.nd.array([1.5, -2.0]),
                                  "aux:统计": mx.nd.array([[3.0]])})
    # a larger array (multi-block read)
    save("big.params", {"arg:big": mx.nd.array(_values(rng, (256, 64), "float32"))})
    # a 0-d array: MXNet 1.9.1 writes V2 with ndim 0 followed by its data, and (outside numpy
    # mode) cannot load it back itself; record the value by hand
    path = os.path.join(OUT, "scalar0d.params")
    mx.nd.save(path, [mx.nd.array(2.5)])
    expected["scalar0d.params::#0"] = np.array(2.5, dtype=np.float32)
    meta["scalar0d.params"] = {"kind": "list", "names": None, "dtypes": ["float32"],
                               "shapes": [[]]}
    # V3: numpy-shape semantics (0-d and zero-size arrays)
    a = _values(rng, (2, 2), "float32")
    save("v3.params", lambda: {"a": mx.np.array(a), "zero_size": mx.np.zeros((0, 3)),
                               "scalar": mx.np.array(7.0),
                               "i64": mx.np.array(np.arange(5), dtype="int64")}, np_shape=True)
    # sparse (mxc must refuse them clearly)
    mx.nd.save(os.path.join(OUT, "sparse_row_sparse.params"), {"w": mx.nd.sparse.row_sparse_array(
        (np.ones((2, 3), "float32"), [0, 2]), shape=(4, 3))})
    mx.nd.save(os.path.join(OUT, "sparse_csr.params"),
               [mx.nd.array([1.0]), mx.nd.sparse.csr_matrix(np.eye(3, dtype="float32"))])
    # a real Module checkpoint
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
    net = mx.sym.BatchNorm(net, name="bn1")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.bind(data_shapes=[("data", (2, 3))], label_shapes=[("softmax_label", (2,))])
    mx.random.seed(7)
    mod.init_params(mx.init.Xavier())
    mod.save_checkpoint(os.path.join(OUT, "mlp"), 1)
    record("mlp-0001.params", mx.nd.load(os.path.join(OUT, "mlp-0001.params")))

    # hand-built files in the older layouts, read back by MXNet
    def hdr(n):
        return struct.pack("<QQQ", 0x112, 0, n)

    def names(ns):
        return struct.pack("<Q", len(ns)) + b"".join(
            struct.pack("<Q", len(b)) + b for b in (n.encode() for n in ns))

    def ctx_dtype(flag, dev_type=1, dev_id=0):
        return struct.pack("<iii", dev_type, dev_id, flag)

    def v1(a, flag):
        return (struct.pack("<Ii", 0xF993FAC8, a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape)
                + ctx_dtype(flag) + a.astype(a.dtype.newbyteorder("<")).tobytes())

    def legacy(a, flag):
        return (struct.pack("<I", a.ndim) + struct.pack(f"<{a.ndim}I", *a.shape)
                + ctx_dtype(flag) + a.astype(a.dtype.newbyteorder("<")).tobytes())

    def v2(a, flag, dev_type=1, dev_id=0):
        return (struct.pack("<IiI", 0xF993FAC9, 0, a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape)
                + ctx_dtype(flag, dev_type, dev_id) + a.astype(a.dtype.newbyteorder("<")).tobytes())

    w = _values(rng, (2, 3), "float32")
    b = _values(rng, (3,), "int32")
    s = _values(rng, (2, 2), "float64")
    blobs = {
        "v1_legacy.params": hdr(3) + v1(w, 0) + legacy(b, 4) + v1(s, 1)
        + names(["arg:w", "arg:b", "aux:s"]),
        "legacy_list.params": hdr(2) + legacy(w, 0) + legacy(s, 1) + names([]),
        "gpu_ctx.params": hdr(2) + v2(w, 0, dev_type=2, dev_id=1)
        + v2(b, 4, dev_type=3, dev_id=0) + names(["arg:w", "arg:b"]),
    }
    for fname, blob in blobs.items():
        with open(os.path.join(OUT, fname), "wb") as f:
            f.write(blob)
        record(fname, mx.nd.load(os.path.join(OUT, fname)))

    np.savez(os.path.join(OUT, "expected.npz"), **expected)
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"mxnet_version": mx.__version__, "files": meta}, f, indent=1,
                  ensure_ascii=False, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(meta)} golden files + expected.npz/json to {os.path.normpath(OUT)}")


# --- mode 2: mxc writes -----------------------------------------------------------------------------
# files mxc writes from the expected values of these MXNet-written files (same names, same order)
MXC_FILES = {"mxc_dtypes.params": "dtypes.params", "mxc_dict_f32.params": "dict_f32.params",
             "mxc_list.params": "list.params", "mxc_unicode_names.params": "unicode_names.params",
             "mxc_v3_as_v2.params": "v3.params", "mxc_mlp-0001.params": "mlp-0001.params"}


def expected_contents(fname, exp, meta):
    """``(kind, [(name_or_None, ndarray)])`` of golden file ``fname``."""
    m = meta["files"][fname]
    if m["kind"] == "dict":
        return "dict", [(n, exp[f"{fname}::{n}"]) for n in m["names"]]
    return "list", [(None, exp[f"{fname}::#{i}"]) for i in range(len(m["dtypes"]))]


def mxc_write():
    sys.path.insert(0, os.path.join(HERE, ".."))
    from mxc.ndarray import array, save
    exp = np.load(os.path.join(OUT, "expected.npz"))
    with open(os.path.join(OUT, "expected.json"), encoding="utf-8") as f:
        meta = json.load(f)
    for out, src in MXC_FILES.items():
        kind, items = expected_contents(src, exp, meta)
        # mxc writes V2 for everything; MXNet outside numpy mode cannot read a 0-d array, so the
        # V3 file's scalar goes out as shape (1,)
        arrs = [array(v.reshape(1) if v.ndim == 0 else v, dtype=v.dtype) for _, v in items]
        if kind == "dict":
            save(os.path.join(OUT, out), {n: a for (n, _), a in zip(items, arrs)})
        else:
            save(os.path.join(OUT, out), arrs)
        print("mxc wrote", out)


# --- mode 3: MXNet reads what mxc wrote -------------------------------------------------------------
def oracle_verify():
    import mxnet as mx
    exp = np.load(os.path.join(OUT, "expected.npz"))
    with open(os.path.join(OUT, "expected.json"), encoding="utf-8") as f:
        meta = json.load(f)
    for out, src in MXC_FILES.items():
        kind, items = expected_contents(src, exp, meta)
        loaded = mx.nd.load(os.path.join(OUT, out))
        if kind == "dict":
            assert isinstance(loaded, dict) and list(loaded) == [n for n, _ in items], (out, loaded)
            got = [loaded[n] for n, _ in items]
        else:
            assert isinstance(loaded, list) and len(loaded) == len(items), out
            got = loaded
        for (n, want), g in zip(items, got):
            want = want.reshape(1) if want.ndim == 0 else want
            assert np.dtype(g.dtype) == want.dtype, (out, n, g.dtype, want.dtype)
            assert g.shape == want.shape, (out, n, g.shape, want.shape)
            np.testing.assert_array_equal(g.asnumpy(), want, err_msg=f"{out} {n}")
        print(f"MXNet {mx.__version__} loaded {out}: {len(items)} arrays OK")
    print("all mxc-written files load in MXNet with the expected names, dtypes and values")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--write-mxc", action="store_true", help="write mxc_*.params with mxc")
    g.add_argument("--verify-mxc", action="store_true", help="load mxc_*.params with MXNet")
    args = p.parse_args()
    if args.write_mxc:
        mxc_write()
    elif args.verify_mxc:
        oracle_verify()
    else:
        oracle_write()
