"""MXNet's native iterators (runtime/io_record.py) against MXNet 1.9.1's output on the same
files (tests/data/record, made by tools/make_record_golden.py with the oracle): every batch's
bytes, labels and pad; augmentation statistics; bad input."""
import hashlib
import json
import os
import shutil
import struct
import warnings

import numpy as np
import pytest

import mxc as mx
from mxc.base import FormatError, MXNetError

pytest.importorskip("cv2")

HERE = os.path.join(os.path.dirname(__file__), "data", "record")
META = json.load(open(os.path.join(HERE, "golden.json")))
GOLD = np.load(os.path.join(HERE, "golden.npz"))
REC = os.path.join(HERE, "mx_im2rec.rec")
IDX = os.path.join(HERE, "mx_im2rec.idx")


def md5(a):
    return hashlib.md5(np.ascontiguousarray(a).tobytes()).hexdigest()


def run(it, epochs=2):
    out = []
    for _ in range(epochs):
        for b in it:
            d = b.data[0].asnumpy()
            out.append({"label": b.label[0].asnumpy().tolist(), "pad": int(b.pad),
                        "md5": md5(d), "dtype": d.dtype.str, "shape": list(d.shape),
                        "data": d})
        it.reset()
    return out


def rec_kwargs(name, **extra):
    cfg = dict(META["image_record_iter"]["configs"][name])
    kw = dict(path_imgrec=REC, data_shape=(3, 24, 24), batch_size=5, verbose=False)
    for k, v in cfg.items():
        if v == "IDX":
            v = IDX
        elif v == "LST2":
            v = os.path.join(HERE, "labels2.lst")
        kw[k] = tuple(v) if isinstance(v, list) else v
    kw.update(extra)
    return kw


def epoch_starts(batches, n_per_epoch):
    return {0, n_per_epoch}


@pytest.mark.parametrize("name", sorted(META["image_record_iter"]["configs"]))
def test_image_record_iter_matches_mxnet(name):
    """Same records in the same slots, same pixels (byte for byte), same labels, over two
    epochs (round_batch carry-over included), for plain, normalised, shuffled, partitioned,
    grey, int8/uint8 and augmented (seed_aug) configurations."""
    want = META["image_record_iter"]["batches"][name]
    got = run(mx.io.ImageRecordIter(**rec_kwargs(name, preprocess_threads=2)))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g["label"] == w["label"], (name, i)
        assert g["dtype"] == w["dtype"] and g["shape"] == w["shape"]
        if name == "affine":
            # warpAffine of OpenCV 4 (mxc) and of OpenCV 3.4.2 (MXNet's wheels) can round a
            # rare pixel differently
            d = np.abs(g["data"].astype(int) - GOLD["rec_affine"][i].astype(int))
            assert d.max() <= 1 and (d > 0).mean() < 1e-3, (i, d.max(), (d > 0).mean())
        else:
            assert g["md5"] == w["md5"], (name, i)
    # MXNet's pad is right on the first wrap-around; after it MXNet repeats a stale value
    first_pad = next(i for i, w in enumerate(want) if w["pad"] or i == len(want) - 1)
    assert [g["pad"] for g in got[:first_pad + 1]] == [w["pad"] for w in want[:first_pad + 1]]


def test_image_record_iter_plain_pixels_and_provide():
    got = run(mx.io.ImageRecordIter(**rec_kwargs("plain_uint8")))
    np.testing.assert_array_equal(np.stack([g["data"] for g in got]), GOLD["rec_plain_uint8"])
    it = mx.io.ImageRecordIter(path_imgrec=REC, data_shape=(3, 24, 24), batch_size=5,
                               verbose=False, data_name="x", label_name="y")
    assert [[d.name, list(d.shape), np.dtype(d.dtype).str]
            for d in it.provide_data + it.provide_label] == META["rec_provide"]
    assert isinstance(it, mx.io.MXDataIter)
    assert it.getindex() is None or True
    b = it.next()
    assert b.index.dtype == np.uint64 and len(b.index) == 5


def test_image_record_iter_threads_do_not_change_results():
    kw = dict(path_imgrec=REC, data_shape=(3, 20, 20), batch_size=4, rand_crop=True,
              rand_mirror=True, resize=26, seed=11, verbose=False)
    a = [g["md5"] for g in run(mx.io.ImageRecordIter(preprocess_threads=1, **kw))]
    b = [g["md5"] for g in run(mx.io.ImageRecordIter(preprocess_threads=3, **kw))]
    assert a == b


def test_uint8_and_int8_iterators():
    it = mx.io.ImageRecordUInt8Iter(path_imgrec=REC, data_shape=(3, 24, 24), batch_size=5,
                                    verbose=False)
    assert it.provide_data[0].dtype == np.uint8
    np.testing.assert_array_equal(it.next().data[0].asnumpy(), GOLD["rec_plain_uint8"][0])
    it = mx.io.ImageRecordInt8Iter(path_imgrec=REC, data_shape=(3, 24, 24), batch_size=5,
                                   verbose=False)
    assert it.next().data[0].dtype == np.int8


def test_augmentation_statistics():
    """Without seed_aug: random mirror about half the time, random crops spread over the
    possible offsets, and the centre crop when not random."""
    # one synthetic image, repeated: a horizontal ramp shows both the crop offset and the flip
    w, h = 40, 24
    ramp = np.tile(np.arange(w, dtype=np.uint8)[None, :, None] * 6, (h, 1, 3))
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ramp-{os.getpid()}.rec")
    rec = mx.recordio.MXRecordIO(path, "w")
    for i in range(64):
        rec.write(mx.recordio.pack_img(mx.recordio.IRHeader(0, float(i), i, 0),
                                       ramp, quality=100, img_fmt=".png"))
    rec.close()
    try:
        it = mx.io.ImageRecordIter(path_imgrec=path, data_shape=(3, 24, 16), batch_size=16,
                                   rand_crop=True, rand_mirror=True, seed=5, verbose=False)
        firsts, flips = [], []
        for _ in range(3):
            for b in it:
                row = b.data[0].asnumpy()[:, 0, 0, :]
                flips += list(row[:, 0] > row[:, -1])
                firsts += list(np.minimum(row[:, 0], row[:, -1]) / 6)
            it.reset()
        n = len(flips)
        assert 0.3 < np.mean(flips) < 0.7, np.mean(flips)
        offsets = np.array(firsts)
        assert offsets.min() == 0 and offsets.max() == w - 16
        assert len(set(offsets.tolist())) > (w - 16) // 2
        assert n == 3 * 64
        it = mx.io.ImageRecordIter(path_imgrec=path, data_shape=(3, 24, 16), batch_size=16,
                                   verbose=False)
        row = it.next().data[0].asnumpy()[0, 0, 0]
        assert row[0] == 6 * ((w - 16) // 2) and row[-1] > row[0]
    finally:
        os.remove(path)


def test_round_batch_false_reports_pad():
    it = mx.io.ImageRecordIter(path_imgrec=REC, data_shape=(3, 24, 24), batch_size=5,
                               round_batch=False, verbose=False)
    pads = [b.pad for b in it]
    assert pads == [0, 0, 3]


def test_detection_iterator_matches_mxnet():
    for name, want in META["det"].items():
        kw = dict(path_imgrec=os.path.join(HERE, "det.rec"), data_shape=(3, 24, 24),
                  batch_size=3, verbose=False)
        if name == "norm":
            kw.update(mean_r=100, mean_g=100, mean_b=100, std_r=50, std_g=50, std_b=50,
                      scale=0.5)
        elif name == "pad10":
            kw.update(label_pad_width=20, label_pad_value=-2)
        it = mx.io.ImageDetRecordIter(**kw)
        assert list(it.provide_label[0].shape) == want["label_shape"]
        got = run(it)
        assert len(got) == len(want["batches"])
        for g, w in zip(got, want["batches"]):
            np.testing.assert_allclose(g["label"], w["label"], rtol=1e-6)
            assert g["md5"] == w["md5"]


@pytest.mark.parametrize("name", ["default", "noshuffle", "seed7_flat", "part1of3",
                                  "part2of3_shuffle"])
def test_mnist_iter_matches_mxnet(name):
    cfg = META["mnist"][name]["cfg"]
    it = mx.io.MNISTIter(image=os.path.join(HERE, "mnist-images-idx3-ubyte"),
                         label=os.path.join(HERE, "mnist-labels-idx1-ubyte"), batch_size=8,
                         silent=True, **cfg)
    assert [list(it.provide_data[0].shape), list(it.provide_label[0].shape)] == \
        META["mnist"][name]["provide"]
    for _ in range(2):
        ds, ls = [], []
        for b in it:
            ds.append(b.data[0].asnumpy())
            ls.append(b.label[0].asnumpy())
        np.testing.assert_array_equal(np.stack(ds), GOLD[f"mnist_{name}_data"])
        np.testing.assert_array_equal(np.stack(ls), GOLD[f"mnist_{name}_label"])
        it.reset()


def test_libsvm_iter_matches_mxnet():
    it = mx.io.LibSVMIter(data_libsvm=os.path.join(HERE, "data.libsvm"), data_shape=(6,),
                          batch_size=4)
    ds, ls, pads = [], [], []
    for _ in range(3):
        for b in it:
            ds.append(b.data[0].asnumpy())
            ls.append(b.label[0].asnumpy())
            pads.append(b.pad)
        it.reset()
    np.testing.assert_allclose(np.stack(ds), GOLD["libsvm_data"], rtol=1e-6)
    np.testing.assert_array_equal(np.stack(ls), GOLD["libsvm_label"])
    assert pads == META["libsvm_pads"]


@pytest.mark.parametrize("round_batch", [True, False])
def test_csv_iter_matches_mxnet(round_batch):
    it = mx.io.CSVIter(data_csv=os.path.join(HERE, "data.csv"), data_shape=(2, 3),
                       batch_size=4, round_batch=round_batch)
    ds, pads = [], []
    for _ in range(2):
        for b in it:
            ds.append(b.data[0].asnumpy())
            pads.append(b.pad)
        it.reset()
    want = GOLD[f"csv_round{int(round_batch)}"]
    got = np.stack(ds)
    want_pads = META[f"csv_round{int(round_batch)}_pads"]
    if not round_batch:       # padded rows are unspecified (MXNet leaves stale rows)
        for g, w, p in zip(got, want, want_pads):
            np.testing.assert_allclose(g[:4 - p], w[:4 - p], rtol=1e-6)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert pads == want_pads


# --- bad input ------------------------------------------------------------------------------------
def _copy(tmp_path, name="x.rec"):
    dst = tmp_path / name
    shutil.copy(REC, dst)
    return dst


def test_truncated_rec_names_file_record_and_offset(tmp_path):
    path = _copy(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-50])
    with pytest.raises(FormatError, match=r"x\.rec.*record 11 at byte offset \d+.*truncated"):
        mx.io.ImageRecordIter(path_imgrec=str(path), data_shape=(3, 24, 24), batch_size=5)


def test_bad_magic_names_file_record_and_offset(tmp_path):
    path = _copy(tmp_path)
    data = bytearray(path.read_bytes())
    offs = [int(line.split()[1]) for line in open(IDX)]
    third = sorted(offs)[2]
    data[third:third + 4] = b"JUNK"
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=rf"record 2 at byte offset {third}: bad magic"):
        mx.io.ImageRecordIter(path_imgrec=str(path), data_shape=(3, 24, 24), batch_size=5)


def _bad_image_rec(tmp_path):
    path = tmp_path / "bad.rec"
    src = mx.recordio.MXRecordIO(REC, "r")
    dst = mx.recordio.MXRecordIO(str(path), "w")
    i = 0
    while (s := src.read()) is not None:
        if i == 3:
            h, _ = mx.recordio.unpack(s)
            s = mx.recordio.pack(h, b"\xff\xd8garbage, not a JPEG" * 4)
        dst.write(s)
        i += 1
    dst.close()
    src.close()
    return path


def test_undecodable_image_error_and_skip(tmp_path):
    path = _bad_image_rec(tmp_path)
    with pytest.raises(FormatError, match=r"record 3 at byte offset \d+ of .*bad\.rec.*decode"):
        mx.io.ImageRecordIter(path_imgrec=str(path), data_shape=(3, 24, 24), batch_size=5,
                              verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        it = mx.io.ImageRecordIter(path_imgrec=str(path), data_shape=(3, 24, 24),
                                   batch_size=5, verbose=False, skip_bad_records=True)
        ids = [int(i) for b in it for i in b.index[:5 - b.pad]]
    assert any("record 3" in str(w.message) for w in caught)
    bad_id = [int(line.split()[0]) for line in open(IDX)][3]
    all_ids = {int(line.split()[0]) for line in open(IDX)}
    assert set(ids) == all_ids - {bad_id}


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.rec"):
        mx.io.ImageRecordIter(path_imgrec=str(tmp_path / "nope.rec"), data_shape=(3, 8, 8),
                              batch_size=2)
    with pytest.raises(MXNetError, match=r"path_imgidx .*nope\.idx"):
        mx.io.ImageRecordIter(path_imgrec=REC, path_imgidx=str(tmp_path / "nope.idx"),
                              data_shape=(3, 8, 8), batch_size=2)
    with pytest.raises(MXNetError, match="label_width"):
        mx.io.ImageRecordIter(path_imgrec=REC, data_shape=(3, 8, 8), batch_size=2,
                              label_width=3)


def test_idx_file_errors(tmp_path):
    img = tmp_path / "img"
    lab = os.path.join(HERE, "mnist-labels-idx1-ubyte")
    raw = open(os.path.join(HERE, "mnist-images-idx3-ubyte"), "rb").read()
    img.write_bytes(struct.pack(">I", 2049) + raw[4:])
    with pytest.raises(FormatError, match=r"'.*img'.*bad magic number 0x00000801 at byte "
                                          r"offset 0; expected 0x00000803"):
        mx.io.MNISTIter(image=str(img), label=lab, batch_size=4)
    img.write_bytes(raw[:-10])
    with pytest.raises(FormatError, match=r"truncated.*item 56 at byte offset 2368 is incomplete"):
        mx.io.MNISTIter(image=str(img), label=lab, batch_size=4)
    with pytest.raises(FileNotFoundError, match="missing-idx"):
        mx.io.MNISTIter(image=str(tmp_path / "missing-idx"), label=lab, batch_size=4)


def test_mnist_gzip_and_bad_arguments(tmp_path):
    import gzip
    gz = tmp_path / "img.gz"
    gz.write_bytes(gzip.compress(open(os.path.join(HERE, "mnist-images-idx3-ubyte"),
                                      "rb").read()))
    it = mx.io.MNISTIter(image=str(gz), label=os.path.join(HERE, "mnist-labels-idx1-ubyte"),
                         batch_size=8, silent=True)
    np.testing.assert_array_equal(it.next().data[0].asnumpy(), GOLD["mnist_default_data"][0])
    with pytest.raises(MXNetError, match="part_index"):
        mx.io.MNISTIter(image=str(gz), label=os.path.join(HERE, "mnist-labels-idx1-ubyte"),
                        num_parts=2, part_index=2)
    with pytest.raises(TypeError, match="keyword"):
        mx.io.MNISTIter(str(gz))


def test_module_fit_with_image_record_iter():
    """ImageRecordIter feeds Module.fit like any DataIter (one quick epoch)."""
    it = mx.io.ImageRecordIter(path_imgrec=REC, data_shape=(3, 24, 24), batch_size=4,
                               rand_mirror=True, verbose=False, scale=1 / 255.0)
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(mx.sym.Flatten(data), num_hidden=2, name="fc")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.fit(it, num_epoch=1, optimizer="sgd", optimizer_params={"learning_rate": 0.01})
    assert mod.score(it, "acc")[0][1] >= 0


def test_mxnet_reads_mxc_written_digits_as_mxc_does():
    """mxc/data/digits_test.rec was written by mxc's im2rec; MXNet's ImageRecordIter read it
    into the golden batches; mxc reads the same batches."""
    data = os.path.join(os.path.dirname(mx.__file__), "data")
    it = mx.io.ImageRecordIter(path_imgrec=os.path.join(data, "digits_test.rec"),
                               path_imgidx=os.path.join(data, "digits_test.idx"),
                               data_shape=(1, 8, 8), batch_size=32, verbose=False)
    got = run(it, epochs=1)
    want = META["digits_test"]
    assert [g["label"] for g in got] == [w["label"] for w in want]
    assert [g["md5"] for g in got] == [w["md5"] for w in want]
    r = mx.recordio.MXIndexedRecordIO(os.path.join(data, "digits_test.idx"),
                                      os.path.join(data, "digits_test.rec"), "r")
    assert r.keys == META["digits_test_keys"]


def test_mean_img_is_made_saved_and_subtracted_as_mxnet(tmp_path):
    mean_path = tmp_path / "mean.nd"
    it = mx.io.ImageRecordIter(path_imgrec=REC, data_shape=(3, 24, 24), batch_size=5,
                               verbose=False, mean_img=str(mean_path))
    saved = mx.nd.load(str(mean_path))
    np.testing.assert_allclose(saved["mean_img"].asnumpy(), GOLD["rec_mean_img"], rtol=1e-5,
                               atol=1e-4)
    np.testing.assert_allclose(it.next().data[0].asnumpy(), GOLD["rec_mean_img_batch0"],
                               atol=1e-3)
    # a second iterator loads the saved file
    it = mx.io.ImageRecordIter(path_imgrec=REC, data_shape=(3, 24, 24), batch_size=5,
                               verbose=False, mean_img=str(mean_path))
    np.testing.assert_allclose(it.next().data[0].asnumpy(), GOLD["rec_mean_img_batch0"],
                               atol=1e-3)


def test_libsvm_label_file_matches_mxnet():
    it = mx.io.LibSVMIter(data_libsvm=os.path.join(HERE, "data.libsvm"), data_shape=(6,),
                          label_libsvm=os.path.join(HERE, "label.libsvm"), label_shape=(3,),
                          batch_size=4)
    got = np.stack([b.label[0].asnumpy() for b in it])
    np.testing.assert_allclose(got, GOLD["libsvm_label2"])


@pytest.mark.slow
def test_digits_rec_example_trains(tmp_path):
    """examples/digits_rec.py (ImageRecordIter + Module.fit as MXNet's fit.py) learns."""
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "digits_rec.py")
    spec = importlib.util.spec_from_file_location("digits_rec", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--num-epochs", "3", "--lr-step-epochs", "2", "--min-accuracy", "0.8",
                     "--model-prefix", str(tmp_path / "d")]) == 0
