"""Record MXNet 1.9.1's data-iterator batches as golden data for tests/test_io.py.

    PY=$(../shared/oracle/setup.sh)
    $PY tools/make_io_golden.py            # writes tests/data/io_golden.npz

Every case is a JSON spec (CASES below). ``run_case`` builds the iterator from a spec with a
given namespace (MXNet's ``mx.io`` / ``mx.rnn`` here; mxc's ``runtime.io`` / ``runtime.rnn_io`` in
the test), runs its epochs and returns what the batches held, so the generator and the test run
literally the same steps. The npz holds ``meta`` (JSON: the specs and per-batch scalars) and one
array per batch input. This file imports nothing from mxnet or mxc at module level.
"""
from __future__ import annotations

import json
import os
import random
import sys
import tempfile

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                   "io_golden.npz")


def _arr(spec):
    """An input array from its spec: ``["arange", shape, dtype, offset]``."""
    kind, shape, dtype, off = spec
    assert kind == "arange"
    n = int(np.prod(shape))
    return (np.arange(n, dtype=np.float64) + off).reshape(shape).astype(dtype)


def _inputs(spec, nd_array):
    """``None``, one array, a list or a dict of arrays; ``{"nd": spec}`` makes an NDArray."""
    if spec is None:
        return None
    if isinstance(spec, dict) and "nd" in spec:
        a = _arr(spec["nd"])
        return nd_array(a, dtype=a.dtype)
    if isinstance(spec, dict):
        return {k: _inputs(v, nd_array) for k, v in spec.items()}
    if isinstance(spec, list) and spec and spec[0] == "arange":
        return _arr(spec)
    return [_inputs(s, nd_array) for s in spec]


def _sentences(spec):
    rng = np.random.RandomState(spec["seed"])
    lens = rng.randint(spec["min_len"], spec["max_len"] + 1, size=spec["n"])
    return [[int(x) for x in rng.randint(1, spec["vocab"], size=int(n))] for n in lens]


def _batch_record(b):
    rec = {
        "data": [d.asnumpy() for d in b.data],
        "label": [lb.asnumpy() for lb in (b.label or [])],
        "pad": None if b.pad is None else int(b.pad),
        "bucket_key": None if b.bucket_key is None else int(b.bucket_key),
        "index": None if b.index is None else [int(i) for i in b.index],
        "label_none": b.label is None,
    }
    if b.provide_data is not None:
        rec["provide_data"] = [[d.name, list(d.shape)] for d in b.provide_data]
        rec["provide_label"] = [[d.name, list(d.shape)] for d in b.provide_label]
    return rec


def _descs(descs):
    return [[d.name, [int(x) for x in d.shape], np.dtype(d.dtype).name,
             getattr(d, "layout", None)] for d in descs]


def _make_iter(ns, spec, tmp):
    kind = spec["kind"]
    if kind == "NDArrayIter":
        return ns.io.NDArrayIter(_inputs(spec["data"], ns.nd_array),
                                 _inputs(spec.get("label"), ns.nd_array), **spec.get("kw", {}))
    if kind == "ResizeIter":
        return ns.io.ResizeIter(_make_iter(ns, spec["inner"], tmp), **spec["kw"])
    if kind == "PrefetchingIter":
        return ns.io.PrefetchingIter([_make_iter(ns, s, tmp) for s in spec["inners"]],
                                     **spec.get("kw", {}))
    if kind == "CSVIter":
        kw = dict(spec["kw"])
        for key in ("data_csv", "label_csv"):
            if key in kw:
                path = os.path.join(tmp, key + ".csv")
                np.savetxt(path, _arr(kw[key]).reshape(kw[key][1][0], -1), delimiter=",",
                           fmt="%g")
                kw[key] = path
        return ns.io.CSVIter(**kw)
    if kind == "BucketSentenceIter":
        kw = dict(spec.get("kw", {}))
        if "buckets" in kw:
            kw["buckets"] = list(kw["buckets"])
        return ns.BucketSentenceIter(_sentences(spec["sentences"]), **kw)
    raise ValueError(kind)


def run_case(ns, spec):
    """Run ``spec`` with namespace ``ns`` (attributes ``io``, ``BucketSentenceIter``,
    ``nd_array``); returns ``{"provide_data", "provide_label", "epochs", ...}``."""
    seed = spec.get("seed")
    if seed is not None:
        np.random.seed(seed)
        random.seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        it = _make_iter(ns, spec, tmp)
        out = {"provide_data": _descs(it.provide_data),
               "provide_label": _descs(it.provide_label),
               "batch_size": int(it.batch_size), "epochs": []}
        for attr in ("default_bucket_key", "buckets"):
            if hasattr(it, attr):
                out[attr] = getattr(it, attr)
        for ep in range(spec.get("epochs", 2)):
            batches = []
            limit = spec.get("stop_after", {}).get(str(ep))
            while limit is None or len(batches) < limit:
                try:
                    b = it.next()
                except StopIteration:
                    break
                batches.append(_batch_record(b))
            out["epochs"].append(batches)
            if spec.get("hard_reset"):
                it.hard_reset()
            else:
                it.reset()
        if hasattr(it, "close"):
            it.close()
        elif spec["kind"] == "PrefetchingIter":    # MXNet's stops its threads in __del__
            it.__del__()
    return out


A = "arange"
NDI = "NDArrayIter"


def _nd(n, shape=(2,), dtype="float32", off=0):
    return [A, [n, *shape], dtype, off]


CASES = {
    # last_batch_handle variants over 3 epochs: 10 examples, batch 3
    "pad": {"kind": NDI, "data": _nd(10), "label": _nd(10, ()),
            "kw": {"batch_size": 3}, "epochs": 3},
    "discard": {"kind": NDI, "data": _nd(10), "label": _nd(10, ()),
                "kw": {"batch_size": 3, "last_batch_handle": "discard"}, "epochs": 3},
    "roll_over": {"kind": NDI, "data": _nd(10), "label": _nd(10, ()),
                  "kw": {"batch_size": 3, "last_batch_handle": "roll_over"}, "epochs": 4},
    "roll_over_b4": {"kind": NDI, "data": _nd(10, (3,)), "label": _nd(10, ()),
                     "kw": {"batch_size": 4, "last_batch_handle": "roll_over"}, "epochs": 3},
    "roll_over_hard_reset": {"kind": NDI, "data": _nd(10), "label": _nd(10, ()),
                             "kw": {"batch_size": 3, "last_batch_handle": "roll_over"},
                             "epochs": 3, "hard_reset": True},
    "roll_over_midway_reset": {"kind": NDI, "data": _nd(10), "label": _nd(10, ()),
                               "kw": {"batch_size": 3, "last_batch_handle": "roll_over"},
                               "epochs": 3, "stop_after": {"1": 1}},
    "roll_over_no_label": {"kind": NDI, "data": _nd(7, (2, 2)),
                           "kw": {"batch_size": 3, "last_batch_handle": "roll_over"},
                           "epochs": 3},
    "exact": {"kind": NDI, "data": _nd(9), "label": _nd(9, ()), "kw": {"batch_size": 3}},
    # pad longer than the data: tiled (and the remainder appended)
    "pad_tile": {"kind": NDI, "data": _nd(2), "label": _nd(2, ()), "kw": {"batch_size": 5}},
    "pad_tile_rem": {"kind": NDI, "data": _nd(3, (2,)), "label": _nd(3, ()),
                     "kw": {"batch_size": 8}},
    # shuffles draw from np.random: same seed, same order
    "shuffle_pad": {"kind": NDI, "data": _nd(10), "label": _nd(10, ()), "seed": 7,
                    "kw": {"batch_size": 3, "shuffle": True}, "epochs": 3},
    "shuffle_discard": {"kind": NDI, "data": _nd(10), "label": _nd(10, ()), "seed": 3,
                        "kw": {"batch_size": 4, "shuffle": True,
                               "last_batch_handle": "discard"}},
    "shuffle_roll_over": {"kind": NDI, "data": _nd(10), "label": _nd(10, ()), "seed": 11,
                          "kw": {"batch_size": 3, "shuffle": True,
                                 "last_batch_handle": "roll_over"}, "epochs": 3},
    # names: dicts sorted by name, lists named _i_<name>, custom names
    "dict": {"kind": NDI, "data": {"zeta": _nd(6, (2,)), "alpha": _nd(6, (1, 2), off=100)},
             "label": {"lab_b": _nd(6, ()), "lab_a": _nd(6, (2,), off=50)},
             "kw": {"batch_size": 4}},
    "list": {"kind": NDI, "data": [_nd(5, (2,)), _nd(5, (3,), off=7), _nd(5, (), off=1)],
             "label": [_nd(5, ()), _nd(5, (), off=9)], "kw": {"batch_size": 2}},
    "names": {"kind": NDI, "data": _nd(5), "label": _nd(5, ()),
              "kw": {"batch_size": 2, "data_name": "x", "label_name": "y_label"}},
    "no_label": {"kind": NDI, "data": _nd(5), "kw": {"batch_size": 2}},
    # NDArray inputs keep their dtype; numpy int inputs become float32
    "nd_int32": {"kind": NDI, "data": {"nd": _nd(5, (2,), "int32")},
                 "label": {"nd": _nd(5, (), "int32")}, "kw": {"batch_size": 2}},
    "np_int64": {"kind": NDI, "data": _nd(5, (2,), "int64"), "kw": {"batch_size": 2}},
    "nd_int32_shuffle": {"kind": NDI, "data": {"nd": _nd(5, (2,), "int32")}, "seed": 5,
                         "kw": {"batch_size": 2, "shuffle": True}},
    "batch_axis_1": {"kind": NDI, "data": _nd(4, (4, 2)), "label": _nd(4, (4,)),
                     "kw": {"batch_size": 2, "layout": "TNC"}},
    # wrappers
    "resize_up": {"kind": "ResizeIter", "inner": {"kind": NDI, "data": _nd(10),
                                                  "label": _nd(10, ()),
                                                  "kw": {"batch_size": 3}},
                  "kw": {"size": 6}, "epochs": 2},
    "resize_down_keep": {"kind": "ResizeIter",
                         "inner": {"kind": NDI, "data": _nd(10), "label": _nd(10, ()),
                                   "kw": {"batch_size": 3}},
                         "kw": {"size": 2, "reset_internal": False}, "epochs": 3},
    "prefetch": {"kind": "PrefetchingIter",
                 "inners": [{"kind": NDI, "data": _nd(7), "label": _nd(7, ()),
                             "kw": {"batch_size": 3}},
                            {"kind": NDI, "data": _nd(7, (3,), off=5),
                             "label": _nd(7, (), off=1), "kw": {"batch_size": 3}}],
                 "kw": {"rename_data": [{"data": "d1"}, {"data": "d2"}],
                        "rename_label": [{"softmax_label": "l1"},
                                         {"softmax_label": "l2"}]}},
    "prefetch_one": {"kind": "PrefetchingIter",
                     "inners": [{"kind": NDI, "data": _nd(5), "label": _nd(5, ()),
                                 "kw": {"batch_size": 2, "last_batch_handle": "discard"}}]},
    # CSVIter (MXNet's C++ iterator): round_batch carry-over and stale padded rows
    "csv_round": {"kind": "CSVIter", "epochs": 4,
                  "kw": {"data_csv": _nd(10, (3,)), "data_shape": [3],
                         "label_csv": _nd(10, (1,)), "batch_size": 3}},
    "csv_round_big": {"kind": "CSVIter", "epochs": 3,
                      "kw": {"data_csv": _nd(10, (1,)), "data_shape": [1],
                             "label_csv": _nd(10, (2,)), "label_shape": [2],
                             "batch_size": 12}},
    "csv_noround": {"kind": "CSVIter", "epochs": 2,
                    "kw": {"data_csv": _nd(10, (3,)), "data_shape": [1, 3],
                           "batch_size": 4, "round_batch": False}},
    # BucketSentenceIter: seeded sentences, seeded shuffles
    "bucket_default": {"kind": "BucketSentenceIter", "seed": 1,
                       "sentences": {"seed": 0, "n": 60, "min_len": 2, "max_len": 6,
                                     "vocab": 20},
                       "kw": {"batch_size": 4}},
    "bucket_explicit": {"kind": "BucketSentenceIter", "seed": 2,
                        "sentences": {"seed": 1, "n": 40, "min_len": 1, "max_len": 12,
                                      "vocab": 30},
                        "kw": {"batch_size": 3, "buckets": [10, 4, 7],
                               "invalid_label": 0, "data_name": "src",
                               "label_name": "tgt"}},
    "bucket_tn_int": {"kind": "BucketSentenceIter", "seed": 3,
                      "sentences": {"seed": 2, "n": 30, "min_len": 3, "max_len": 9,
                                    "vocab": 15},
                      "kw": {"batch_size": 2, "buckets": [5, 9], "layout": "TN",
                             "dtype": "int32"}},
}


def _flatten(out, values):
    """Move the arrays of ``out`` into the flat list ``values``; each becomes
    ``[offset, shape, dtype]`` (all golden values are small integers: stored as int32)."""
    for batches in out["epochs"]:
        for rec in batches:
            for part in ("data", "label"):
                refs = []
                for a in rec[part]:
                    assert np.array_equal(a, np.round(a)) and np.abs(a).max(initial=0) < 2**31
                    off = sum(v.size for v in values)
                    values.append(np.asarray(a, np.float64).ravel())
                    refs.append([off, list(a.shape), a.dtype.name])
                rec[part] = refs
    return out


def load_array(values, ref):
    """The array ``ref`` (``[offset, shape, dtype]``) from the flat ``values``."""
    off, shape, dtype = ref
    n = int(np.prod(shape))
    return values[off:off + n].reshape(shape).astype(dtype)


def main():
    import mxnet as mx
    from mxnet.rnn import BucketSentenceIter

    class NS:
        io = mx.io
        nd_array = staticmethod(mx.nd.array)

    NS.BucketSentenceIter = BucketSentenceIter
    values, meta = [], {"mxnet": mx.__version__, "cases": {}}
    for name, spec in CASES.items():
        out = run_case(NS, spec)
        meta["cases"][name] = {"spec": spec, "out": _flatten(out, values)}
        print(name, [len(e) for e in out["epochs"]], file=sys.stderr)
    np.savez_compressed(OUT, meta=np.array(json.dumps(meta)),
                        values=np.concatenate(values).astype(np.int32))
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
