"""im2rec: make image lists (``.lst``) and RecordIO files (``.rec`` + ``.idx``) from a folder
of images, with MXNet's ``tools/im2rec.py`` arguments and file formats.

    python -m mxc.tools.im2rec --list [--recursive] [--train-ratio R] [--test-ratio R]
                               [--chunks N] [--no-shuffle] [--exts .jpg .png] PREFIX ROOT
    python -m mxc.tools.im2rec [--resize N] [--center-crop] [--quality Q] [--num-thread N]
                               [--color -1|0|1] [--encoding .jpg|.png] [--pass-through]
                               [--pack-label] PREFIX ROOT
    (also ``mxc im2rec ...``)

``--list`` walks ROOT (with ``--recursive``, every sub-folder is a class, numbered in sorted
order) and writes ``PREFIX.lst`` (or ``PREFIX_train.lst`` / ``_val`` / ``_test`` and
``_<chunk>`` variants): ``index<TAB>label<TAB>relative path`` lines, shuffled as MXNet does
(``random.seed(100)``), so the lists are MXNet's own. Without ``--list`` every
``PREFIX*.lst`` is packed into ``.rec`` / ``.idx`` files beside it: each image is read,
optionally centre-cropped and resized (shorter edge), encoded (``--quality``) and packed with
an ``IRHeader`` (label, or all labels with ``--pack-label``; id = the list index).
``--num-thread`` encodes on that many threads; records are written in list order. An image
that cannot be read is reported on stderr and left out. Files are written to temporary names
and renamed when complete.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

__all__ = ["image_encode", "list_image", "main", "make_list", "read_list", "write_list"]


def list_image(root, recursive, exts):
    """``(index, relative path, label)`` for the images under ``root``, in sorted order;
    with ``recursive`` each folder is a label (printed as ``folder label`` lines)."""
    i = 0
    if recursive:
        cat = {}
        for path, dirs, files in os.walk(root, followlinks=True):
            dirs.sort()
            files.sort()
            for fname in files:
                fpath = os.path.join(path, fname)
                suffix = os.path.splitext(fname)[1].lower()
                if os.path.isfile(fpath) and (suffix in exts):
                    if path not in cat:
                        cat[path] = len(cat)
                    yield (i, os.path.relpath(fpath, root), cat[path])
                    i += 1
        for k, v in sorted(cat.items(), key=lambda x: x[1]):
            print(os.path.relpath(k, root), v)
    else:
        for fname in sorted(os.listdir(root)):
            fpath = os.path.join(root, fname)
            suffix = os.path.splitext(fname)[1].lower()
            if os.path.isfile(fpath) and (suffix in exts):
                yield (i, os.path.relpath(fpath, root), 0)
                i += 1


def write_list(path_out, image_list):
    """Write ``index<TAB>label...<TAB>path`` lines (labels as ``%f``)."""
    from mxc.base import atomic_write
    with atomic_write(path_out, "w") as fout:
        for item in image_list:
            line = f"{item[0]:d}\t"
            for j in item[2:]:
                line += f"{j:f}\t"
            line += f"{item[1]}\n"
            fout.write(line)


def make_list(args):
    """Write the ``.lst`` file(s) for ``args`` (see the module's docstring)."""
    image_list = list(list_image(args.root, args.recursive, args.exts))
    if args.shuffle is True:
        random.seed(100)
        random.shuffle(image_list)
    n = len(image_list)
    chunk_size = (n + args.chunks - 1) // args.chunks
    written = []
    for i in range(args.chunks):
        chunk = image_list[i * chunk_size:(i + 1) * chunk_size]
        str_chunk = f"_{i}" if args.chunks > 1 else ""
        sep = int(chunk_size * args.train_ratio)
        sep_test = int(chunk_size * args.test_ratio)
        if args.train_ratio == 1.0:
            written.append(args.prefix + str_chunk + ".lst")
            write_list(written[-1], chunk)
        else:
            if args.test_ratio:
                written.append(args.prefix + str_chunk + "_test.lst")
                write_list(written[-1], chunk[:sep_test])
            if args.train_ratio + args.test_ratio < 1.0:
                written.append(args.prefix + str_chunk + "_val.lst")
                write_list(written[-1], chunk[sep_test + sep:])
            written.append(args.prefix + str_chunk + "_train.lst")
            write_list(written[-1], chunk[sep_test:sep_test + sep])
    return written


def read_list(path_in):
    """The items ``[index, path, label...]`` of a ``.lst`` file; malformed lines are
    reported (file and line number) and skipped, as MXNet's im2rec does."""
    with open(path_in) as fin:
        for lineno, line in enumerate(fin, 1):
            line = [i.strip() for i in line.strip().split("\t")]
            if len(line) < 3:
                print(f"im2rec: {path_in}:{lineno}: a list line needs at least 3 tab-separated "
                      f"fields (index, label, path); got {len(line)}: skipped", file=sys.stderr)
                continue
            try:
                item = [int(line[0])] + [line[-1]] + [float(i) for i in line[1:-1]]
            except ValueError as e:
                print(f"im2rec: {path_in}:{lineno}: cannot parse {line}: {e}: skipped",
                      file=sys.stderr)
                continue
            yield item


def image_encode(args, item):
    """The packed record for list item ``item``, or None (reported) if it cannot be made."""
    import numpy as np

    from mxc import recordio
    from mxc.image import _codec
    fullpath = os.path.join(args.root, item[1])
    if len(item) > 3 and args.pack_label:
        header = recordio.IRHeader(0, item[2:], item[0], 0)
    else:
        header = recordio.IRHeader(0, item[2], item[0], 0)
    try:
        with open(fullpath, "rb") as fin:
            raw = fin.read()
    except OSError as e:
        print(f"im2rec: cannot read image {fullpath!r}: {e}: skipped", file=sys.stderr)
        return None
    if args.pass_through:
        return recordio.pack(header, raw)
    cv = _codec.cv2()
    img = cv.imdecode(np.frombuffer(raw, np.uint8), args.color)
    if img is None:
        print(f"im2rec: cannot decode image {fullpath!r} ({len(raw)} bytes): skipped",
              file=sys.stderr)
        return None
    if args.center_crop:
        if img.shape[0] > img.shape[1]:
            margin = (img.shape[0] - img.shape[1]) // 2
            img = img[margin:margin + img.shape[1], :]
        else:
            margin = (img.shape[1] - img.shape[0]) // 2
            img = img[:, margin:margin + img.shape[0]]
    if args.resize:
        if img.shape[0] > img.shape[1]:
            newsize = (args.resize, img.shape[0] * args.resize // img.shape[1])
        else:
            newsize = (img.shape[1] * args.resize // img.shape[0], args.resize)
        img = cv.resize(img, newsize)
    try:
        return recordio.pack_img(header, img, quality=args.quality, img_fmt=args.encoding)
    except Exception as e:  # noqa: BLE001  (reported, the image is left out)
        print(f"im2rec: cannot encode image {fullpath!r}: {e}: skipped", file=sys.stderr)
        return None


def write_record(args, lst_path, working_dir):
    """Pack the images of ``lst_path`` into ``.rec`` / ``.idx`` files in ``working_dir``;
    the number of records written."""
    from mxc import recordio
    base = os.path.splitext(os.path.basename(lst_path))[0]
    record = recordio.MXIndexedRecordIO(os.path.join(working_dir, base + ".idx"),
                                        os.path.join(working_dir, base + ".rec"), "w")
    items = list(read_list(lst_path))
    count = 0
    t0 = time.time()
    with ThreadPoolExecutor(max(1, args.num_thread)) as pool:
        results = pool.map(lambda it: image_encode(args, it), items)
        for i, (item, s) in enumerate(zip(items, results)):
            if s is not None:
                record.write_idx(item[0], s)
                count += 1
            if i % 1000 == 0:
                print("time:", time.time() - t0, " count:", i)
                t0 = time.time()
    record.close()
    return count


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="im2rec", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Create an image list or make a record database by reading from an image "
                    "list")
    parser.add_argument("prefix", help="prefix of input/output lst and rec files.")
    parser.add_argument("root", help="path to folder containing images.")
    cgroup = parser.add_argument_group("Options for creating image lists")
    cgroup.add_argument("--list", action="store_true",
                        help="create image list(s) by traversing root folder and output to "
                             "<prefix>.lst; otherwise read <prefix>.lst and create <prefix>.rec")
    cgroup.add_argument("--exts", nargs="+", default=[".jpeg", ".jpg", ".png"],
                        help="list of acceptable image extensions.")
    cgroup.add_argument("--chunks", type=int, default=1, help="number of chunks.")
    cgroup.add_argument("--train-ratio", type=float, default=1.0,
                        help="Ratio of images to use for training.")
    cgroup.add_argument("--test-ratio", type=float, default=0,
                        help="Ratio of images to use for testing.")
    cgroup.add_argument("--recursive", action="store_true",
                        help="recursively walk through subdirs and assign a unique label to "
                             "images in each folder; otherwise only the root folder, label 0.")
    cgroup.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                        help="do not randomize the image order in <prefix>.lst")
    rgroup = parser.add_argument_group("Options for creating database")
    rgroup.add_argument("--pass-through", action="store_true",
                        help="whether to skip transformation and save image as is")
    rgroup.add_argument("--resize", type=int, default=0,
                        help="resize the shorter edge of image to the newsize; original "
                             "images are packed by default.")
    rgroup.add_argument("--center-crop", action="store_true",
                        help="crop the center of the image to make it square.")
    rgroup.add_argument("--quality", type=int, default=95,
                        help="JPEG quality for encoding, 1-100; or PNG compression, 1-9")
    rgroup.add_argument("--num-thread", type=int, default=1,
                        help="number of threads to use for encoding (records keep the list's "
                             "order).")
    rgroup.add_argument("--color", type=int, default=1, choices=[-1, 0, 1],
                        help="color mode of the loaded image: 1 color, 0 grayscale, -1 as is "
                             "(alpha kept).")
    rgroup.add_argument("--encoding", type=str, default=".jpg", choices=[".jpg", ".png"],
                        help="the encoding of the images.")
    rgroup.add_argument("--pack-label", action="store_true",
                        help="also pack multi dimensional labels in the record file")
    args = parser.parse_args(argv)
    args.prefix = os.path.abspath(args.prefix)
    args.root = os.path.abspath(args.root)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not os.path.isdir(args.root):
        print(f"im2rec: error: root {args.root!r} is not a folder", file=sys.stderr)
        return 2
    if args.list:
        make_list(args)
        return 0
    working_dir = args.prefix if os.path.isdir(args.prefix) else os.path.dirname(args.prefix)
    files = sorted(os.path.join(working_dir, f) for f in os.listdir(working_dir)
                   if os.path.isfile(os.path.join(working_dir, f)))
    count = 0
    for fname in files:
        if fname.startswith(args.prefix) and fname.endswith(".lst"):
            print("Creating .rec file from", fname, "in", working_dir)
            count += 1
            try:
                write_record(args, fname, working_dir)
            except Exception as e:
                from mxc.base import MXNetError
                if not isinstance(e, (MXNetError, OSError)):
                    raise
                print(f"im2rec: error: {fname}: {e}", file=sys.stderr)
                return 2
    if not count:
        print(f"Did not find and list file with prefix {args.prefix}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
