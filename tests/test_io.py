"""mx.io data iterators (runtime/io.py) and mx.rnn.BucketSentenceIter (runtime/rnn_io.py).

Golden: tests/data/io_golden.npz holds the batches MXNet 1.9.1 produced for every case in
tools/make_io_golden.py (run with the oracle python); here the same ``run_case`` runs the same
specs on mxc's iterators and every batch must match exactly: values, dtypes, shapes, pad,
bucket_key, index and the iterators' provide_data / provide_label.
"""
import importlib.util
import json
import os
import threading

import numpy as np
import pytest

import mxc as mx
from mxc.base import MXNetError
from runtime import io, rnn_io

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "make_io_golden", os.path.join(HERE, "..", "tools", "make_io_golden.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

_Z = np.load(os.path.join(HERE, "data", "io_golden.npz"))
META = json.loads(str(_Z["meta"]))
VALUES = _Z["values"]


class NS:
    io = io
    nd_array = staticmethod(mx.nd.array)
    BucketSentenceIter = rnn_io.BucketSentenceIter


def test_golden_file_is_from_mxnet_and_covers_every_case():
    assert META["mxnet"] == "1.9.1"
    assert set(META["cases"]) == set(gen.CASES)


@pytest.mark.parametrize("name", sorted(gen.CASES))
def test_matches_mxnet(name):
    case = META["cases"][name]
    assert case["spec"] == json.loads(json.dumps(gen.CASES[name])), "regenerate the golden file"
    got = gen.run_case(NS, gen.CASES[name])
    want = case["out"]
    for key in ("provide_data", "provide_label", "batch_size", "default_bucket_key", "buckets"):
        assert got.get(key) == want.get(key), key
    assert [len(e) for e in got["epochs"]] == [len(e) for e in want["epochs"]]
    for e, (gb, wb) in enumerate(zip(got["epochs"], want["epochs"])):
        for b, (g, w) in enumerate(zip(gb, wb)):
            where = f"{name} epoch {e} batch {b}"
            for key in ("pad", "bucket_key", "index", "label_none", "provide_data",
                        "provide_label"):
                assert g.get(key) == w.get(key), f"{where}: {key}"
            for part in ("data", "label"):
                assert len(g[part]) == len(w[part]), f"{where}: {part} count"
                for i, (ga, ref) in enumerate(zip(g[part], w[part])):
                    wa = gen.load_array(VALUES, ref)
                    assert ga.dtype == wa.dtype, f"{where}: {part}[{i}] dtype"
                    assert ga.shape == wa.shape, f"{where}: {part}[{i}] shape"
                    np.testing.assert_array_equal(ga, wa, err_msg=f"{where}: {part}[{i}]")


# --- DataDesc / DataBatch / DataIter -------------------------------------------------------------
def test_datadesc():
    d = io.DataDesc("data", (4, 3))
    assert d == ("data", (4, 3)) and d.name == "data" and d.shape == (4, 3)
    assert d.dtype is np.float32 and d.layout == "NCHW"
    assert repr(d) == "DataDesc[data,(4, 3),<class 'numpy.float32'>,NCHW]"
    name, shape = d
    assert (name, shape) == ("data", (4, 3))
    d2 = io.DataDesc("x", (5, 2), "int32", "TN")
    assert d2.dtype == "int32" and d2.layout == "TN"
    assert io.DataDesc.get_batch_axis("TNC") == 1
    assert io.DataDesc.get_batch_axis(None) == 0
    assert io.DataDesc.get_batch_axis("TC") == -1
    lst = io.DataDesc.get_list([("a", (1, 2)), ("b", (3,))], [("a", np.int32), ("b", np.float16)])
    assert [x.dtype for x in lst] == [np.int32, np.float16] and lst[1] == ("b", (3,))
    assert io.DataDesc.get_list([("a", (1,))], None)[0].dtype is np.float32


def test_databatch():
    b = io.DataBatch([mx.nd.zeros((2, 3))], [mx.nd.zeros((2,))], pad=1)
    assert str(b) == "DataBatch: data shapes: [(2, 3)] label shapes: [(2,)]"
    assert b.index is None and b.bucket_key is None and b.provide_data is None
    assert str(io.DataBatch([mx.nd.zeros((1,))])).endswith("label shapes: None")
    with pytest.raises(TypeError, match="list of NDArrays"):
        io.DataBatch(mx.nd.zeros((2,)))


def test_custom_dataiter_protocol():
    class Count(io.DataIter):
        def __init__(self):
            super().__init__(batch_size=2)
            self.i = 0

        def reset(self):
            self.i = 0

        def iter_next(self):
            self.i += 1
            return self.i <= 3

        def getdata(self):
            return [mx.nd.full((2,), self.i)]

        def getlabel(self):
            return [mx.nd.zeros((2,))]

        def getpad(self):
            return 0

    it = Count()
    got = [b.data[0].asnumpy()[0] for b in it]
    assert got == [1, 2, 3] and it.batch_size == 2
    it.reset()
    b = next(iter(it))
    assert b.pad == 0 and b.index is None


# --- NDArrayIter ---------------------------------------------------------------------------------
def test_ndarrayiter_defaults_and_python_iteration():
    it = io.NDArrayIter(np.arange(12).reshape(6, 2))
    assert it.batch_size == 1 and it.last_batch_handle == "pad"
    assert it.provide_data == [("data", (1, 2))] and it.provide_label == []
    batches = list(it)
    assert len(batches) == 6 and batches[0].label == [] and batches[-1].pad == 0
    assert list(it) == []          # exhausted until reset
    it.reset()
    assert len(list(it)) == 6


def test_ndarrayiter_batches_are_copies():
    src = mx.nd.array(np.arange(8).reshape(4, 2))
    it = io.NDArrayIter(src, batch_size=2)
    b = it.next()
    b.data[0][:] = -1
    np.testing.assert_array_equal(src.asnumpy(), np.arange(8).reshape(4, 2))
    it.reset()
    np.testing.assert_array_equal(it.next().data[0].asnumpy(), [[0, 1], [2, 3]])


def test_ndarrayiter_lengths_must_agree():
    with pytest.raises(ValueError, match=r"data 'data' has 10, label 'softmax_label' has 8"):
        io.NDArrayIter(np.zeros((10, 2)), np.zeros(8), batch_size=2)
    with pytest.raises(MXNetError, match=r"data 'a' has 3, data 'b' has 4"):
        io.NDArrayIter({"a": np.zeros((3, 1)), "b": np.zeros((4, 1))})


def test_ndarrayiter_bad_arguments():
    with pytest.raises(ValueError, match="last_batch_handle must be 'pad', 'discard' or "
                                         "'roll_over'; got 'drop'"):
        io.NDArrayIter(np.zeros((4, 2)), last_batch_handle="drop")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        io.NDArrayIter(np.zeros((4, 2)), batch_size=0)
    with pytest.raises(TypeError, match="must be an NDArray, a numpy.ndarray"):
        io.NDArrayIter("data.csv")
    with pytest.raises(TypeError, match="invalid type .* for data 'x'"):
        io.NDArrayIter({"x": object()})
    with pytest.raises(ValueError, match="empty list"):
        io.NDArrayIter([])


def test_ndarrayiter_list_names_sort_like_mxnet():
    arrays = [np.full((2, 1), i) for i in range(11)]
    it = io.NDArrayIter(arrays, batch_size=2)
    names = [d.name for d in it.provide_data]
    assert names == sorted(f"_{i}_data" for i in range(11))      # '_10_data' before '_2_data'
    b = it.next()
    assert [int(d.asnumpy()[0, 0]) for d in b.data] == [int(n.split("_")[1]) for n in names]


def test_ndarrayiter_shuffle_is_np_random():
    data = np.arange(20).reshape(10, 2)
    np.random.seed(42)
    it = io.NDArrayIter(data, np.arange(10), batch_size=5, shuffle=True)
    got = np.concatenate([b.label[0].asnumpy() for b in it])
    np.random.seed(42)
    idx = np.arange(10)
    np.random.shuffle(idx)
    np.testing.assert_array_equal(got, idx)
    it.reset()                       # data is reshuffled from its current order, as in MXNet
    idx2 = np.arange(10)
    np.random.seed(42)
    np.random.shuffle(idx2)
    np.random.shuffle(idx2)
    got2 = np.concatenate([b.label[0].asnumpy() for b in it])
    np.testing.assert_array_equal(got2, np.arange(10)[idx][idx2])


def test_ndarrayiter_module_fit_pattern():
    """What Module.fit does: next() until StopIteration, reset, again; pads are reported."""
    it = io.NDArrayIter(np.zeros((10, 3)), np.zeros(10), batch_size=4)
    for _ in range(2):
        pads = []
        data_iter = iter(it)
        while True:
            try:
                pads.append(next(data_iter).pad)
            except StopIteration:
                break
        it.reset()
        assert pads == [0, 0, 2]


# --- wrappers ------------------------------------------------------------------------------------
def test_resizeiter_attributes():
    inner = io.NDArrayIter(np.zeros((10, 2)), np.zeros(10), batch_size=5)
    inner.default_bucket_key = 7
    r = io.ResizeIter(inner, 3)
    assert r.batch_size == 5 and r.provide_data == inner.provide_data
    assert r.default_bucket_key == 7
    assert len(list(r)) == 3


def test_prefetchingiter_threads_and_rename():
    a = io.NDArrayIter({"data": np.arange(10).reshape(5, 2)}, batch_size=2)
    b = io.NDArrayIter({"data": np.arange(15).reshape(5, 3)}, np.arange(5), batch_size=2)
    before = threading.active_count()
    p = io.PrefetchingIter([a, b], rename_data=[{"data": "x"}, {"data": "y"}])
    assert threading.active_count() >= before + 2
    assert p.provide_data == [("x", (2, 2)), ("y", (2, 3))]
    assert [d.layout for d in p.provide_data] == ["NCHW", "NCHW"]
    assert p.provide_label == [("softmax_label", (2,))]
    assert p.batch_size == 2
    batches = list(p)
    assert [bt.pad for bt in batches] == [0, 0, 1]
    assert [d.shape for d in batches[0].data] == [(2, 2), (2, 3)]
    assert batches[0].provide_data == p.provide_data
    p.reset()
    assert len(list(p)) == 3
    p.close()
    assert all(not t.is_alive() for t in p.prefetch_threads)


def test_prefetchingiter_mismatch_and_errors():
    a = io.NDArrayIter(np.zeros((4, 2)), batch_size=2)
    b = io.NDArrayIter(np.zeros((6, 2)), batch_size=2)
    p = io.PrefetchingIter([a, b])
    p.next()
    p.next()
    with pytest.raises(MXNetError, match="different numbers of batches"):
        p.next()
    p.close()

    class Boom(io.DataIter):
        def __init__(self):
            super().__init__(1)
            self.provide_data = [io.DataDesc("data", (1, 1))]
            self.provide_label = []

        def next(self):
            raise OSError("disk gone")

    p = io.PrefetchingIter(Boom())
    with pytest.raises(OSError, match="disk gone"):
        p.next()
    p.close()


# --- CSVIter -------------------------------------------------------------------------------------
def test_csviter_errors(tmp_path):
    f = tmp_path / "d.csv"
    np.savetxt(f, np.zeros((4, 3)), delimiter=",")
    with pytest.raises(ValueError, match="3 values per line; expected 4"):
        io.CSVIter(data_csv=str(f), data_shape=(4,), batch_size=2)
    g = tmp_path / "l.csv"
    np.savetxt(g, np.zeros(5), delimiter=",")
    with pytest.raises(ValueError, match="4 lines but label_csv .* has 5"):
        io.CSVIter(data_csv=str(f), data_shape=(3,), label_csv=str(g), batch_size=2)
    with pytest.raises(MXNetError, match="cannot read data_csv"):
        io.CSVIter(data_csv=str(tmp_path / "missing.csv"), data_shape=(3,), batch_size=2)
    it = io.CSVIter(data_csv=str(f), data_shape="(3,)", batch_size=2)
    assert it.provide_data == [("data", (2, 3))] and it.provide_label == [("softmax_label", (2,))]


# --- BucketSentenceIter --------------------------------------------------------------------------
def test_bucketsentenceiter_semantics(capsys):
    sents = [[1, 2], [3, 4], [5, 6, 7], [8, 9, 10], [1] * 9]
    it = rnn_io.BucketSentenceIter(sents, 2, buckets=[4, 2], invalid_label=-1)
    assert "WARNING: discarded 1 sentences longer than the largest bucket." in \
        capsys.readouterr().out
    assert it.buckets == [2, 4] and it.default_bucket_key == 4
    assert it.provide_data == [("data", (2, 4))] and it.provide_data[0].layout == "NT"
    seen = {}
    for b in it:
        seen[b.bucket_key] = (b.data[0].asnumpy(), b.label[0].asnumpy())
        assert b.pad == 0 and b.provide_data[0].shape == b.data[0].shape
        assert b.provide_label[0].name == "softmax_label"
    d2, l2 = seen[2]
    assert sorted(map(tuple, d2)) == [(1, 2), (3, 4)]
    for row, lab in zip(d2, l2):
        assert list(lab) == [row[1], -1]
    d4, l4 = seen[4]
    assert sorted(map(tuple, d4)) == [(5, 6, 7, -1), (8, 9, 10, -1)]
    for row, lab in zip(d4, l4):
        assert list(lab) == list(row[1:]) + [-1]


def test_bucketsentenceiter_bad_input():
    with pytest.raises(ValueError, match="Invalid layout"):
        rnn_io.BucketSentenceIter([[1, 2]] * 4, 2, layout="TC")
    with pytest.raises(ValueError, match="no default buckets"):
        rnn_io.BucketSentenceIter([[1, 2], [1, 2, 3]], 4)


def test_encode_sentences():
    res, vocab = rnn_io.encode_sentences([["a", "b"], ["b", "c"]], invalid_label=1,
                                         start_label=0)
    assert vocab == {"\n": 1, "a": 0, "b": 2, "c": 3}
    assert res == [[0, 2], [2, 3]]
    res2, _ = rnn_io.encode_sentences([["a", "zz"]], vocab=dict(vocab), unknown_token="<unk>",
                                      start_label=4)
    assert res2 == [[0, 4]]
    with pytest.raises(AssertionError, match="Unknown token zz"):
        rnn_io.encode_sentences([["zz"]], vocab=dict(vocab))
