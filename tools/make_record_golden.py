"""Golden data for the data pipeline, made by MXNet 1.9.1 (run with the oracle's python):

    $(../shared/oracle/setup.sh) tools/make_record_golden.py [OUT_DIR]   # tests/data/record

Writes into OUT_DIR (small files, committed):

* ``images/``: 10 JPEG and 2 PNG images of different sizes in two class folders, drawn here
  with a seeded generator (smooth shapes plus noise, so JPEG has something to do);
* ``mx_im2rec*``: the lists, ``.rec`` and ``.idx`` files MXNet's own tools/im2rec.py makes
  from them (``--list --recursive``; packing re-encoded with ``--resize 40 --quality 90``, and
  ``--pass-through``);
* ``mx_misc.rec`` / ``.idx``: records with the RecordIO magic word inside their payloads,
  written by ``mx.recordio.MXIndexedRecordIO``;
* ``det.rec``: detection records (multi-object labels); ``mnist-*``: small IDX files;
  ``data.libsvm``, ``data.csv``;
* MXNet reading mxc's own RecordIO file (mxc/data/digits_test.rec, written by mxc's im2rec);
* ``golden.npz`` + ``golden.json``: what MXNet's ImageRecordIter (many configurations,
  with and without augmentation; md5 of every batch's bytes, full uint8 data for the plain
  one), ImageDetRecordIter, MNISTIter, LibSVMIter, CSVIter and mx.image (imdecode, imresize,
  resize_short, center_crop, ImageIter with seeded augmentation) produce on them.

The tests (tests/test_recordio.py, test_image.py, test_io_record.py) read these files and never
import mxnet.
"""
import glob
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import cv2
import mxnet as mx
import numpy as np

OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                      os.path.join(os.path.dirname(__file__), "..", "tests", "data", "record"))
MXNET_REPO = "/work/.mirror/apache+mxnet/repo"
MXNET_COMMIT = "3f8f3be9"
ARR = {}
META = {}


def md5(a):
    return hashlib.md5(np.ascontiguousarray(a).tobytes()).hexdigest()


def make_images():
    d = os.path.join(OUT, "images")
    shutil.rmtree(d, ignore_errors=True)
    rng = np.random.default_rng(2024)
    for k in range(12):
        cls = "cat" if k % 2 else "dog"
        os.makedirs(os.path.join(d, cls), exist_ok=True)
        h, w = 30 + 3 * k, 44 - 2 * k + (k % 3) * 5
        y, x = np.mgrid[0:h, 0:w]
        img = np.stack([x * 255.0 / w, y * 255.0 / h,
                        128 + 100 * np.sin((x + 2 * y + 7 * k) / 6.0)], -1)
        cv2.circle(img, (w // 2, h // 2), min(h, w) // 3, (30 * k % 255, 200, 50), -1)
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        if k in (5, 10):
            cv2.imwrite(os.path.join(d, cls, f"img{k:02d}.png"), img)
        else:
            cv2.imwrite(os.path.join(d, cls, f"img{k:02d}.jpg"), img,
                        [cv2.IMWRITE_JPEG_QUALITY, 85])
    return d


def run_im2rec(images):
    src = subprocess.run(["git", "-C", MXNET_REPO, "show", f"{MXNET_COMMIT}:tools/im2rec.py"],
                         check=True, capture_output=True, text=True).stdout
    tmp = tempfile.mkdtemp()
    tool = os.path.join(tmp, "im2rec.py")
    with open(tool, "w") as f:
        f.write(src)
    py = sys.executable
    for f in glob.glob(os.path.join(OUT, "mx_im2rec*")) + glob.glob(os.path.join(OUT, "mx_split*")):
        os.remove(f)
    prefix = os.path.join(OUT, "mx_im2rec")
    subprocess.run([py, tool, "--list", "--recursive", prefix, images], check=True,
                   capture_output=True)
    subprocess.run([py, tool, "--list", "--recursive", "--train-ratio", "0.75",
                    "--test-ratio", "0.1", os.path.join(tmp, "split"), images], check=True,
                   capture_output=True)
    for name in sorted(os.listdir(tmp)):
        if name.endswith(".lst"):
            shutil.copy(os.path.join(tmp, name), os.path.join(OUT, "mx_" + name))
    subprocess.run([py, tool, "--resize", "40", "--quality", "90", prefix, images], check=True,
                   capture_output=True)
    pt = os.path.join(tmp, "pt")
    shutil.copy(prefix + ".lst", pt + ".lst")
    subprocess.run([py, tool, "--pass-through", pt, images], check=True, capture_output=True)
    for ext in (".rec", ".idx"):
        shutil.copy(pt + ext, os.path.join(OUT, "mx_im2rec_pt" + ext))
    shutil.rmtree(tmp)


def misc_records():
    magic = bytes.fromhex("0a23d7ce")
    recs = [b"", b"a", b"abcd", b"xyzuv", magic, b"ab" + magic + b"cd",
            magic + b"zz" + magic * 3 + b"q", b"1234" + magic + b"5678" + magic,
            bytes(range(256)) * 3,
            mx.recordio.pack(mx.recordio.IRHeader(0, [1.5, 2.5, 3.5], 77, 3), b"payload")]
    w = mx.recordio.MXIndexedRecordIO(os.path.join(OUT, "mx_misc.idx"),
                                      os.path.join(OUT, "mx_misc.rec"), "w")
    for i, r in enumerate(recs):
        w.write_idx(i * 10, r)
    w.close()
    META["misc_records"] = [r.hex() for r in recs]


def batches(it, epochs=2, full=None):
    out = []
    for _ in range(epochs):
        for b in it:
            d = b.data[0].asnumpy()
            out.append({"label": b.label[0].asnumpy().tolist(), "pad": int(b.pad),
                        "md5": md5(d), "dtype": d.dtype.str, "shape": list(d.shape)})
            if full is not None:
                full.append(d.copy())
        it.reset()
    return out


REC_CONFIGS = {
    "plain": {},
    "plain_uint8": {"dtype": "uint8"},
    "idx": {"path_imgidx": "IDX"},
    "gray": {"data_shape": (1, 24, 24)},
    "norm": {"mean_r": 123.7, "mean_g": 116.3, "mean_b": 103.5, "std_r": 58.4, "std_g": 57.1,
             "std_b": 57.4, "scale": 0.5},
    "shuffle": {"shuffle": True, "seed": 3},
    "shuffle_idx": {"shuffle": True, "path_imgidx": "IDX", "seed": 1},
    "parts_1of3": {"num_parts": 3, "part_index": 1},
    "parts_2of3_idx": {"num_parts": 3, "part_index": 2, "path_imgidx": "IDX"},
    "resize": {"resize": 30},
    "crop_mirror": {"rand_crop": True, "rand_mirror": True, "seed_aug": 5},
    "resized_crop": {"random_resized_crop": True, "min_random_area": 0.3,
                     "max_aspect_ratio": 1.3, "min_aspect_ratio": 0.7, "seed_aug": 4},
    "affine": {"max_rotate_angle": 15, "max_shear_ratio": 0.1, "max_aspect_ratio": 0.2,
               "min_random_scale": 0.9, "max_random_scale": 1.1, "seed_aug": 9,
               "dtype": "uint8"},
    "pad_crop": {"pad": 3, "rand_crop": True, "fill_value": 0, "seed_aug": 1},
    "contrast_illum": {"max_random_contrast": 0.3, "max_random_illumination": 20,
                       "seed_aug": 2},
    "pca": {"pca_noise": 0.5, "seed_aug": 12},
    "labels2": {"label_width": 2, "path_imglist": "LST2"},
    "int8": {"dtype": "int8", "mean_r": 100, "mean_g": 110, "mean_b": 120},
}


def image_record_iter():
    rec = os.path.join(OUT, "mx_im2rec.rec")
    idx = os.path.join(OUT, "mx_im2rec.idx")
    # a list with two labels per image, for path_imglist / label_width
    lst2 = os.path.join(OUT, "labels2.lst")
    with open(os.path.join(OUT, "mx_im2rec.lst")) as f, open(lst2, "w") as g:
        for line in f:
            i, lab, path = line.rstrip("\n").split("\t")
            g.write(f"{i}\t{float(lab):f}\t{int(i) * 0.5:f}\t{path}\n")
    res = {}
    for name, cfg in REC_CONFIGS.items():
        kw = dict(path_imgrec=rec, data_shape=(3, 24, 24), batch_size=5,
                  preprocess_threads=1, verbose=False)
        kw.update(cfg)
        for k, v in list(kw.items()):
            if v == "IDX":
                kw[k] = idx
            elif v == "LST2":
                kw[k] = lst2
        full = [] if name in ("plain_uint8", "affine") else None
        res[name] = batches(mx.io.ImageRecordIter(**kw), full=full)
        if full is not None:
            ARR[f"rec_{name}"] = np.stack(full)
    META["image_record_iter"] = {"configs": {k: {kk: (list(vv) if isinstance(vv, tuple) else vv)
                                                  for kk, vv in v.items()}
                                              for k, v in REC_CONFIGS.items()},
                                 "batches": res}
    # mean_img: MXNet computes the mean image of the file, saves it, and subtracts it
    tmp = tempfile.mkdtemp()
    mean_path = os.path.join(tmp, "mean.nd")
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 24, 24), batch_size=5,
                               verbose=False, mean_img=mean_path, preprocess_threads=1)
    ARR["rec_mean_img"] = mx.nd.load(mean_path)["mean_img"].asnumpy()
    ARR["rec_mean_img_batch0"] = it.next().data[0].asnumpy()
    shutil.rmtree(tmp)
    it = mx.io.ImageRecordIter(path_imgrec=rec, data_shape=(3, 24, 24), batch_size=5,
                               verbose=False, data_name="x", label_name="y")
    META["rec_provide"] = [[d.name, list(d.shape), np.dtype(d.dtype).str]
                           for d in it.provide_data + it.provide_label]


def det_records():
    rng = np.random.default_rng(7)
    path = os.path.join(OUT, "det.rec")
    w = mx.recordio.MXRecordIO(path, "w")
    for i in range(7):
        img = rng.integers(0, 255, (30 + 2 * i, 36, 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (5, 5), 0)
        nobj = 1 + i % 3
        lab = [2, 5] + sum([[i % 4, 0.1 * k, 0.1, 0.4 + 0.1 * k, 0.7] for k in range(nobj)],
                           [])
        w.write(mx.recordio.pack_img(mx.recordio.IRHeader(0, lab, i, 0), img, quality=90))
    w.close()
    out = {}
    for name, cfg in {"plain": {}, "norm": {"mean_r": 100, "mean_g": 100, "mean_b": 100,
                                            "std_r": 50, "std_g": 50, "std_b": 50,
                                            "scale": 0.5},
                      "pad10": {"label_pad_width": 20, "label_pad_value": -2}}.items():
        kw = dict(path_imgrec=path, data_shape=(3, 24, 24), batch_size=3,
                  preprocess_threads=1, verbose=False)
        kw.update(cfg)
        it = mx.io.ImageDetRecordIter(**kw)
        out[name] = {"batches": batches(it), "label_shape": list(it.provide_label[0].shape)}
    META["det"] = out


def mnist():
    rng = np.random.default_rng(5)
    n, rows, cols = 57, 7, 6
    img = rng.integers(0, 256, (n, rows, cols), dtype=np.uint8)
    lab = rng.integers(0, 10, n, dtype=np.uint8)
    import struct
    with open(os.path.join(OUT, "mnist-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, rows, cols) + img.tobytes())
    with open(os.path.join(OUT, "mnist-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 2049, n) + lab.tobytes())
    cfgs = {"default": {}, "noshuffle": {"shuffle": False}, "seed7_flat": {"seed": 7,
                                                                           "flat": True},
            "part1of3": {"num_parts": 3, "part_index": 1, "shuffle": False},
            "part2of3_shuffle": {"num_parts": 3, "part_index": 2}}
    meta = {}
    for name, cfg in cfgs.items():
        kw = dict(image=os.path.join(OUT, "mnist-images-idx3-ubyte"),
                  label=os.path.join(OUT, "mnist-labels-idx1-ubyte"), batch_size=8,
                  silent=True)
        kw.update(cfg)
        it = mx.io.MNISTIter(**kw)
        ds, ls = [], []
        for b in it:
            ds.append(b.data[0].asnumpy())
            ls.append(b.label[0].asnumpy())
        ARR[f"mnist_{name}_data"] = np.stack(ds)
        ARR[f"mnist_{name}_label"] = np.stack(ls)
        meta[name] = {"cfg": cfg, "provide": [list(it.provide_data[0].shape),
                                              list(it.provide_label[0].shape)]}
    META["mnist"] = meta


def libsvm_csv():
    rng = np.random.default_rng(11)
    lines = []
    for i in range(11):
        feats = sorted(rng.choice(6, size=rng.integers(0, 4), replace=False).tolist())
        lines.append(" ".join([f"{(i % 3) - 1:g}"] +
                              [f"{k}:{rng.uniform(-2, 2):.3f}" for k in feats]))
    with open(os.path.join(OUT, "data.libsvm"), "w") as f:
        f.write("\n".join(lines) + "\n")
    it = mx.io.LibSVMIter(data_libsvm=os.path.join(OUT, "data.libsvm"), data_shape=(6,),
                          batch_size=4)
    ds, ls, pads = [], [], []
    for _ in range(3):
        for b in it:
            ds.append(b.data[0].asnumpy())
            ls.append(b.label[0].asnumpy())
            pads.append(int(b.pad))
        it.reset()
    with open(os.path.join(OUT, "label.libsvm"), "w") as f:
        for i in range(11):
            f.write(f"0 {i % 3}:1 {(i + 1) % 3}:{i * 0.5:g}\n")
    it = mx.io.LibSVMIter(data_libsvm=os.path.join(OUT, "data.libsvm"), data_shape=(6,),
                          label_libsvm=os.path.join(OUT, "label.libsvm"), label_shape=(3,),
                          batch_size=4)
    ARR["libsvm_label2"] = np.stack([b.label[0].asnumpy() for b in it])
    ARR["libsvm_data"] = np.stack(ds)
    ARR["libsvm_label"] = np.stack(ls)
    META["libsvm_pads"] = pads
    data = rng.uniform(-5, 5, (9, 6)).round(3)
    np.savetxt(os.path.join(OUT, "data.csv"), data, delimiter=",", fmt="%.3f")
    for rb in (True, False):
        it = mx.io.CSVIter(data_csv=os.path.join(OUT, "data.csv"), data_shape=(2, 3),
                           batch_size=4, round_batch=rb)
        ds, pads = [], []
        for _ in range(2):
            for b in it:
                ds.append(b.data[0].asnumpy())
                pads.append(int(b.pad))
            it.reset()
        ARR[f"csv_round{int(rb)}"] = np.stack(ds)
        META[f"csv_round{int(rb)}_pads"] = pads


def mx_image():
    files = sorted(glob.glob(os.path.join(OUT, "images", "*", "*")))
    meta = []
    for f in files[:4]:
        rel = os.path.relpath(f, OUT)
        buf = open(f, "rb").read()
        key = rel.replace("/", "_")
        ARR[f"imdecode_{key}"] = mx.image.imdecode(buf).asnumpy()
        ARR[f"imdecode0_{key}"] = mx.image.imdecode(buf, flag=0).asnumpy()
        ARR[f"imdecodebgr_{key}"] = mx.image.imdecode(buf, to_rgb=False).asnumpy()
        src = mx.image.imdecode(buf)
        for interp in (0, 1, 2, 3, 4):
            ARR[f"imresize{interp}_{key}"] = mx.image.imresize(src, 29, 17, interp).asnumpy()
        ARR[f"resize_short_{key}"] = mx.image.resize_short(src, 20, interp=1).asnumpy()
        ARR[f"center_crop_{key}"] = mx.image.center_crop(src, (16, 12), interp=1)[0].asnumpy()
        ARR[f"border_{key}"] = mx.image.copyMakeBorder(src, 1, 2, 3, 4, type=0,
                                                       values=(10, 20, 30)).asnumpy()
        meta.append(rel)
    META["mx_image_files"] = meta
    # ImageIter with seeded augmentation (Python's random and numpy's generator)
    random.seed(42)
    np.random.seed(42)
    it = mx.image.ImageIter(batch_size=4, data_shape=(3, 20, 20),
                            path_imgrec=os.path.join(OUT, "mx_im2rec.rec"),
                            path_imgidx=os.path.join(OUT, "mx_im2rec.idx"), shuffle=True,
                            rand_crop=True, rand_mirror=True, resize=24, brightness=0.2,
                            contrast=0.2, saturation=0.2, pca_noise=0.1, mean=True, std=True,
                            inter_method=1)
    ds, ls, pads = [], [], []
    for b in it:
        ds.append(b.data[0].asnumpy())
        ls.append(b.label[0].asnumpy())
        pads.append(int(b.pad))
    ARR["imageiter_data"] = np.stack(ds)
    ARR["imageiter_label"] = np.stack(ls)
    META["imageiter_pads"] = pads
    random.seed(3)
    it = mx.image.ImageIter(batch_size=5, data_shape=(3, 16, 16),
                            path_imglist=os.path.join(OUT, "mx_im2rec.lst"),
                            path_root=os.path.join(OUT, "images"), inter_method=1)
    ds, ls = [], []
    for b in it:
        ds.append(b.data[0].asnumpy())
        ls.append(b.label[0].asnumpy())
    ARR["imageiter_list_data"] = np.stack(ds)
    ARR["imageiter_list_label"] = np.stack(ls)


def read_mxc_digits():
    """MXNet reading a RecordIO file written by mxc (its im2rec tool): mxc/data/digits_test."""
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mxc", "data")
    it = mx.io.ImageRecordIter(path_imgrec=os.path.join(data, "digits_test.rec"),
                               path_imgidx=os.path.join(data, "digits_test.idx"),
                               data_shape=(1, 8, 8), batch_size=32, verbose=False)
    META["digits_test"] = batches(it, epochs=1)
    r = mx.recordio.MXIndexedRecordIO(os.path.join(data, "digits_test.idx"),
                                      os.path.join(data, "digits_test.rec"), "r")
    META["digits_test_keys"] = [int(k) for k in r.keys]


def main():
    os.makedirs(OUT, exist_ok=True)
    images = make_images()
    run_im2rec(images)
    misc_records()
    image_record_iter()
    det_records()
    mnist()
    libsvm_csv()
    mx_image()
    read_mxc_digits()
    np.savez_compressed(os.path.join(OUT, "golden.npz"), **ARR)
    META["mxnet_version"] = mx.__version__
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump(META, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(OUT, "**"), recursive=True)
                if os.path.isfile(p))
    print(f"wrote {OUT}: {total} bytes")


if __name__ == "__main__":
    main()
