"""mx.image against MXNet 1.9.1's output (tests/data/record/golden.npz, made by
tools/make_record_golden.py): decoding, resizing, cropping, ImageIter with seeded
augmentation; the augmenters' behaviour; the detection augmenters and ImageDetIter."""
import json
import os
import random

import numpy as np
import pytest

import mxc as mx
from mxc.base import FormatError, UnsupportedError

pytest.importorskip("cv2")

HERE = os.path.join(os.path.dirname(__file__), "data", "record")
META = json.load(open(os.path.join(HERE, "golden.json")))
GOLD = np.load(os.path.join(HERE, "golden.npz"))
FILES = META["mx_image_files"]


@pytest.mark.parametrize("rel", FILES)
def test_decode_resize_crop_match_mxnet(rel):
    key = rel.replace("/", "_")
    buf = open(os.path.join(HERE, rel), "rb").read()
    np.testing.assert_array_equal(mx.image.imdecode(buf).asnumpy(), GOLD[f"imdecode_{key}"])
    np.testing.assert_array_equal(mx.image.imdecode(buf, flag=0).asnumpy(),
                                  GOLD[f"imdecode0_{key}"])
    np.testing.assert_array_equal(mx.image.imdecode(buf, to_rgb=False).asnumpy(),
                                  GOLD[f"imdecodebgr_{key}"])
    np.testing.assert_array_equal(mx.image.imread(os.path.join(HERE, rel)).asnumpy(),
                                  GOLD[f"imdecode_{key}"])
    src = mx.image.imdecode(buf)
    for interp in (0, 1, 3, 4):
        np.testing.assert_array_equal(mx.image.imresize(src, 29, 17, interp).asnumpy(),
                                      GOLD[f"imresize{interp}_{key}"])
    # bicubic: OpenCV 4 rounds a few pixels differently from MXNet's OpenCV 3.4
    d = np.abs(mx.image.imresize(src, 29, 17, 2).asnumpy().astype(int) -
               GOLD[f"imresize2_{key}"].astype(int))
    assert d.max() <= 1 and (d > 0).mean() < 0.1
    np.testing.assert_array_equal(mx.image.resize_short(src, 20, interp=1).asnumpy(),
                                  GOLD[f"resize_short_{key}"])
    np.testing.assert_array_equal(mx.image.center_crop(src, (16, 12), interp=1)[0].asnumpy(),
                                  GOLD[f"center_crop_{key}"])
    np.testing.assert_array_equal(
        mx.image.copyMakeBorder(src, 1, 2, 3, 4, type=0, values=(10, 20, 30)).asnumpy(),
        GOLD[f"border_{key}"])


def test_image_iter_seeded_augmentation_matches_mxnet():
    random.seed(42)
    np.random.seed(42)
    it = mx.image.ImageIter(batch_size=4, data_shape=(3, 20, 20),
                            path_imgrec=os.path.join(HERE, "mx_im2rec.rec"),
                            path_imgidx=os.path.join(HERE, "mx_im2rec.idx"), shuffle=True,
                            rand_crop=True, rand_mirror=True, resize=24, brightness=0.2,
                            contrast=0.2, saturation=0.2, pca_noise=0.1, mean=True, std=True,
                            inter_method=1)
    ds, ls, pads = [], [], []
    for b in it:
        ds.append(b.data[0].asnumpy())
        ls.append(b.label[0].asnumpy())
        pads.append(b.pad)
    np.testing.assert_array_equal(np.stack(ls), GOLD["imageiter_label"])
    np.testing.assert_allclose(np.stack(ds), GOLD["imageiter_data"], rtol=1e-4, atol=1e-4)
    assert pads == META["imageiter_pads"]


def test_image_iter_from_list_matches_mxnet():
    random.seed(3)
    it = mx.image.ImageIter(batch_size=5, data_shape=(3, 16, 16),
                            path_imglist=os.path.join(HERE, "mx_im2rec.lst"),
                            path_root=os.path.join(HERE, "images"), inter_method=1)
    ds, ls = [], []
    for b in it:
        ds.append(b.data[0].asnumpy())
        ls.append(b.label[0].asnumpy())
    np.testing.assert_array_equal(np.stack(ls), GOLD["imageiter_list_label"])
    np.testing.assert_array_equal(np.stack(ds), GOLD["imageiter_list_data"])
    assert isinstance(it, mx.io.DataIter)


def test_image_iter_last_batch_handles():
    rec, idx = os.path.join(HERE, "mx_im2rec.rec"), os.path.join(HERE, "mx_im2rec.idx")
    for handle, want in (("pad", [0, 0, 3]), ("discard", [0, 0])):
        it = mx.image.ImageIter(5, (3, 16, 16), path_imgrec=rec, path_imgidx=idx,
                                last_batch_handle=handle)
        assert [b.pad for b in it] == want
    it = mx.image.ImageIter(5, (3, 16, 16), path_imgrec=rec, path_imgidx=idx,
                            last_batch_handle="roll_over")
    assert [b.pad for b in it] == [0, 0]
    it.reset()
    assert [b.pad for b in it][0] == 3          # two carried images + three new ones
    with pytest.raises(ValueError, match="3 channels"):
        mx.image.ImageIter(5, (1, 16, 16), path_imgrec=rec)


def test_augmenters():
    img = mx.nd.array(np.random.RandomState(0).randint(0, 255, (30, 40, 3)), dtype="uint8")
    augs = mx.image.CreateAugmenter((3, 20, 20), resize=24, rand_crop=True, rand_mirror=True,
                                    mean=True, std=True, brightness=0.1, contrast=0.1,
                                    saturation=0.1, hue=0.1, pca_noise=0.1, rand_gray=0.5)
    names = [type(a).__name__ for a in augs]
    assert names == ["ResizeAug", "RandomCropAug", "HorizontalFlipAug", "CastAug",
                     "ColorJitterAug", "HueJitterAug", "LightingAug", "RandomGrayAug",
                     "ColorNormalizeAug"]
    out = img
    for a in augs:
        out = a(out)
    assert out.shape == (20, 20, 3) and out.dtype == np.float32
    assert json.loads(augs[0].dumps()) == ["resizeaug", {"size": 24, "interp": 2}]
    flip = mx.image.HorizontalFlipAug(1.0)(img)
    np.testing.assert_array_equal(flip.asnumpy(), img.asnumpy()[:, ::-1])
    x = mx.image.CastAug()(img)
    mx.image.BrightnessJitterAug(0.0)(x)
    np.testing.assert_array_equal(x.asnumpy(), img.asnumpy().astype(np.float32))
    gray = mx.image.RandomGrayAug(1.0)(x).asnumpy()
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], rtol=1e-5)
    crop, (x0, y0, w, h) = mx.image.random_size_crop(img, (10, 10), 0.3, (0.75, 1.33))
    assert crop.shape == (10, 10, 3) and 0 <= x0 <= 40 - w and 0 <= y0 <= 30 - h
    f = mx.image.CastAug()(img)
    rot = mx.image.imrotate(mx.nd.array(f.asnumpy().transpose(2, 0, 1)), 0.0)
    np.testing.assert_allclose(rot.asnumpy(), f.asnumpy().transpose(2, 0, 1), atol=1e-3)
    assert mx.image.scale_down((640, 480), (720, 120)) == (640, 106)


def test_detection_augmenters_and_iter():
    img = mx.nd.array(np.random.RandomState(1).randint(0, 255, (40, 50, 3)), dtype="uint8")
    label = np.array([[0, 0.1, 0.2, 0.5, 0.6], [1, 0.4, 0.4, 0.9, 0.8]], np.float32)
    out, lab = mx.image.DetHorizontalFlipAug(1.0)(img, label.copy())
    np.testing.assert_allclose(lab[:, 1], 1 - label[:, 3])
    np.testing.assert_array_equal(out.asnumpy(), img.asnumpy()[:, ::-1])
    random.seed(0)
    out, lab = mx.image.DetRandomPadAug(area_range=(1.5, 2.0))(img, label.copy())
    assert out.shape[0] >= 40 and out.shape[1] >= 50
    assert (lab[:, 3] - lab[:, 1] < label[:, 3] - label[:, 1] + 1e-6).all()
    random.seed(0)
    out, lab = mx.image.DetRandomCropAug(min_object_covered=0.5)(img, label.copy())
    assert lab.shape[1] == 5 and (lab[:, 1:] >= 0).all() and (lab[:, 1:] <= 1).all()
    augs = mx.image.CreateDetAugmenter((3, 24, 24), rand_crop=0.5, rand_pad=0.5,
                                       rand_mirror=True, mean=True, std=True)
    img2, label2 = img, label.copy()
    for a in augs:
        img2, label2 = a(img2, label2)
    assert img2.shape == (24, 24, 3) and label2.shape[1] == 5
    # ImageDetIter over MXNet's detection records
    it = mx.image.ImageDetIter(3, (3, 24, 24), path_imgrec=os.path.join(HERE, "det.rec"))
    assert it.provide_label[0].shape == (3, 3, 5)
    b = it.next()
    assert b.data[0].shape == (3, 3, 24, 24) and b.label[0].shape == (3, 3, 5)
    lab0 = b.label[0].asnumpy()[0]
    np.testing.assert_allclose(lab0[0], [0, 0.0, 0.1, 0.4, 0.7], rtol=1e-6)
    assert (lab0[1:] == -1).all()


def test_bad_input():
    with pytest.raises(FormatError, match="cannot decode"):
        mx.image.imdecode(b"definitely not an image")
    with pytest.raises(ValueError, match="bytes"):
        mx.image.imdecode("a string")
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        mx.image.imread("/nonexistent/nope.jpg")


def test_missing_opencv_names_the_extra(monkeypatch):
    import builtins

    from mxc.image import _codec
    real_import = builtins.__import__

    def no_cv2(name, *args, **kwargs):
        if name == "cv2":
            raise ImportError("No module named 'cv2'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(_codec, "_CV2", None)
    monkeypatch.setattr(builtins, "__import__", no_cv2)
    with pytest.raises(UnsupportedError, match=r"mxc\[image\]"):
        mx.image.imdecode(b"\xff\xd8\xff")


def test_simplejpeg_decoder_gives_the_same_pixels(monkeypatch):
    pytest.importorskip("simplejpeg")
    buf = open(os.path.join(HERE, FILES[0]), "rb").read()
    want = mx.image.imdecode(buf).asnumpy()
    monkeypatch.setenv("MXC_JPEG_DECODER", "simplejpeg")
    np.testing.assert_array_equal(mx.image.imdecode(buf).asnumpy(), want)
    np.testing.assert_array_equal(mx.image.imdecode(buf, flag=0).asnumpy(),
                                  GOLD[f"imdecode0_{FILES[0].replace('/', '_')}"])
