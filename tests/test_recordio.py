"""mx.recordio and the im2rec tool against files MXNet 1.9.1 wrote (tests/data/record, made by
tools/make_record_golden.py): reading them, writing the same bytes, and bad files."""
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

import mxc as mx
from mxc.base import FormatError, MXNetError

HERE = os.path.join(os.path.dirname(__file__), "data", "record")
META = json.load(open(os.path.join(HERE, "golden.json")))
RECS = [bytes.fromhex(h) for h in META["misc_records"]]


def test_reads_mxnet_file_sequentially_and_by_key():
    r = mx.recordio.MXRecordIO(os.path.join(HERE, "mx_misc.rec"), "r")
    got = []
    while (s := r.read()) is not None:
        got.append(s)
    assert got == RECS
    r.reset()
    assert r.read() == RECS[0]
    r.close()
    r = mx.recordio.MXIndexedRecordIO(os.path.join(HERE, "mx_misc.idx"),
                                      os.path.join(HERE, "mx_misc.rec"), "r")
    assert r.keys == [10 * i for i in range(len(RECS))]
    for i in reversed(range(len(RECS))):
        assert r.read_idx(10 * i) == RECS[i]
    with pytest.raises(KeyError, match="mx_misc.idx"):
        r.read_idx(5)
    r.close()


def test_writes_the_bytes_mxnet_writes(tmp_path):
    w = mx.recordio.MXIndexedRecordIO(str(tmp_path / "a.idx"), str(tmp_path / "a.rec"), "w")
    assert w.tell() == 0
    for i, s in enumerate(RECS):
        w.write_idx(i * 10, s)
    w.close()
    assert (tmp_path / "a.rec").read_bytes() == open(os.path.join(HERE, "mx_misc.rec"),
                                                     "rb").read()
    assert (tmp_path / "a.idx").read_text() == open(os.path.join(HERE, "mx_misc.idx")).read()


def test_pack_unpack():
    h, s = mx.recordio.unpack(RECS[-1])
    assert h.flag == 3 and h.id == 77 and h.id2 == 3 and s == b"payload"
    np.testing.assert_array_equal(h.label, np.array([1.5, 2.5, 3.5], np.float32))
    assert mx.recordio.pack(mx.recordio.IRHeader(0, [1.5, 2.5, 3.5], 77, 3), b"payload") == \
        RECS[-1]
    packed = mx.recordio.pack(mx.recordio.IRHeader(9, 4.0, 12, 0), b"xy")
    assert len(packed) == 24 + 2
    h, s = mx.recordio.unpack(packed)
    assert h == mx.recordio.IRHeader(0, 4.0, 12, 0) and s == b"xy"
    assert type(h).__name__ == "HEADER"
    with pytest.raises(FormatError, match="shorter than its 24-byte header"):
        mx.recordio.unpack(b"abc")


def test_pack_img_unpack_img():
    pytest.importorskip("cv2")
    img = (np.arange(12 * 10 * 3) % 251).astype(np.uint8).reshape(12, 10, 3)
    s = mx.recordio.pack_img(mx.recordio.IRHeader(0, 1.0, 5, 0), img, img_fmt=".png")
    h, out = mx.recordio.unpack_img(s)
    assert h.id == 5
    np.testing.assert_array_equal(out, img)
    s = mx.recordio.pack_img(mx.recordio.IRHeader(0, 1.0, 5, 0), img, quality=90)
    _, out = mx.recordio.unpack_img(s, 0)
    assert out.shape == (12, 10)
    with pytest.raises(FormatError, match="cannot decode"):
        mx.recordio.unpack_img(mx.recordio.pack(mx.recordio.IRHeader(0, 1.0, 5, 0), b"junk"))


def test_writer_is_atomic_and_pickles(tmp_path):
    path = tmp_path / "w.rec"
    w = mx.recordio.MXRecordIO(str(path), "w")
    w.write(b"hello")
    assert not path.exists()          # a temporary name until close()
    w.close()
    assert path.exists()
    r = mx.recordio.MXRecordIO(str(path), "r")
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.read() == b"hello" and r2.read() is None
    with pytest.raises(MXNetError, match="open for reading"):
        r2.write(b"x")


def test_truncated_and_bad_magic(tmp_path):
    data = open(os.path.join(HERE, "mx_misc.rec"), "rb").read()
    bad = tmp_path / "t.rec"
    bad.write_bytes(data[:-3])
    r = mx.recordio.MXRecordIO(str(bad), "r")
    for _ in range(len(RECS) - 1):
        r.read()
    with pytest.raises(FormatError, match=r"t\.rec.*record 9 at byte offset \d+: truncated"):
        r.read()
    corrupt = bytearray(data)
    offs = [int(line.split()[1]) for line in open(os.path.join(HERE, "mx_misc.idx"))]
    corrupt[offs[4]:offs[4] + 4] = b"\0\0\0\0"
    bad.write_bytes(bytes(corrupt))
    r = mx.recordio.MXRecordIO(str(bad), "r")
    for _ in range(4):
        r.read()
    with pytest.raises(FormatError, match=rf"record 4 at byte offset {offs[4]}: bad magic"):
        r.read()


def test_missing_and_malformed_index(tmp_path):
    rec = os.path.join(HERE, "mx_misc.rec")
    with pytest.raises(FileNotFoundError, match=r"index file .*nope\.idx"):
        mx.recordio.MXIndexedRecordIO(str(tmp_path / "nope.idx"), rec, "r")
    with pytest.raises(FileNotFoundError, match="nope.rec"):
        mx.recordio.MXRecordIO(str(tmp_path / "nope.rec"), "r")
    idx = tmp_path / "bad.idx"
    idx.write_text("0\t0\nzzz\n")
    with pytest.raises(FormatError, match=r"bad\.idx.*line 2"):
        mx.recordio.MXIndexedRecordIO(str(idx), rec, "r")
    idx.write_text("0\t99999\n")
    with pytest.raises(FormatError, match="outside RecordIO file"):
        mx.recordio.MXIndexedRecordIO(str(idx), rec, "r")


def test_partition_matches_dmlc(tmp_path):
    """RecordFile's byte partition: the parts cover every record once, in order."""
    from mxc.recordio import RecordFile
    path = os.path.join(HERE, "mx_im2rec.rec")
    whole = RecordFile(path)
    for n in (1, 2, 3, 5):
        seen = []
        for k in range(n):
            seen += RecordFile(path, k, n).offsets
        assert seen == whole.offsets


# --- im2rec ---------------------------------------------------------------------------------------
def _im2rec(*args):
    from mxc.tools.im2rec import main
    return main([str(a) for a in args])


def test_im2rec_lists_are_mxnets(tmp_path, capsys):
    images = os.path.join(HERE, "images")
    assert _im2rec("--list", "--recursive", tmp_path / "mx_im2rec", images) == 0
    assert (tmp_path / "mx_im2rec.lst").read_text() == \
        open(os.path.join(HERE, "mx_im2rec.lst")).read()
    assert _im2rec("--list", "--recursive", "--train-ratio", "0.75", "--test-ratio", "0.1",
                   tmp_path / "split", images) == 0
    for part in ("train", "val", "test"):
        assert (tmp_path / f"split_{part}.lst").read_text() == \
            open(os.path.join(HERE, f"mx_split_{part}.lst")).read()


def test_im2rec_records_match_mxnets(tmp_path):
    pytest.importorskip("cv2")
    images = os.path.join(HERE, "images")
    shutil.copy(os.path.join(HERE, "mx_im2rec.lst"), tmp_path / "pt.lst")
    assert _im2rec("--pass-through", tmp_path / "pt", images) == 0
    assert (tmp_path / "pt.rec").read_bytes() == \
        open(os.path.join(HERE, "mx_im2rec_pt.rec"), "rb").read()
    assert (tmp_path / "pt.idx").read_text() == \
        open(os.path.join(HERE, "mx_im2rec_pt.idx")).read()
    shutil.copy(os.path.join(HERE, "mx_im2rec.lst"), tmp_path / "re.lst")
    assert _im2rec("--resize", "40", "--quality", "90", "--num-thread", "2",
                   tmp_path / "re", images) == 0
    mine = mx.recordio.MXIndexedRecordIO(str(tmp_path / "re.idx"), str(tmp_path / "re.rec"),
                                         "r")
    theirs = mx.recordio.MXIndexedRecordIO(os.path.join(HERE, "mx_im2rec.idx"),
                                           os.path.join(HERE, "mx_im2rec.rec"), "r")
    assert mine.keys == theirs.keys
    for k in mine.keys:
        h1, a = mx.recordio.unpack_img(mine.read_idx(k))
        h2, b = mx.recordio.unpack_img(theirs.read_idx(k))
        assert h1 == h2 or (h1.id == h2.id and h1.label == h2.label)
        assert a.shape == b.shape
        # same resize (OpenCV bilinear); JPEG encoders of different libjpeg builds may differ
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0


def test_im2rec_pack_label_and_cli(tmp_path):
    pytest.importorskip("cv2")
    images = os.path.join(HERE, "images")
    lines = open(os.path.join(HERE, "labels2.lst")).read()
    (tmp_path / "two.lst").write_text(lines)
    out = subprocess.run([sys.executable, "-m", "mxc.cli", "im2rec", "--pack-label",
                          "--encoding", ".png", str(tmp_path / "two"), images],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    r = mx.recordio.MXIndexedRecordIO(str(tmp_path / "two.idx"), str(tmp_path / "two.rec"), "r")
    h, img = mx.recordio.unpack_img(r.read_idx(4))
    assert h.flag == 2 and list(h.label) == [0.0, 2.0] and img.ndim == 3


def test_im2rec_reports_bad_images(tmp_path, capsys):
    pytest.importorskip("cv2")
    root = tmp_path / "imgs"
    root.mkdir()
    shutil.copy(os.path.join(HERE, "images", "cat", "img01.jpg"), root / "a.jpg")
    (root / "b.jpg").write_bytes(b"not an image")
    assert _im2rec("--list", "--no-shuffle", tmp_path / "l", root) == 0
    assert _im2rec(tmp_path / "l", root) == 0
    assert "cannot decode image" in capsys.readouterr().err
    r = mx.recordio.MXIndexedRecordIO(str(tmp_path / "l.idx"), str(tmp_path / "l.rec"), "r")
    assert r.keys == [0]


def test_raw_format_is_dmlc():
    """The first record of an MXNet-written file: magic, lrec (length | cflag << 29)."""
    data = open(os.path.join(HERE, "mx_misc.rec"), "rb").read()
    magic, lrec = struct.unpack_from("<II", data, 0)
    assert magic == 0xCED7230A and lrec == 0
