"""The bundled digits (mxc/data/digits.npz, scikit-learn's 8x8 digits) as RecordIO files, made
the way MXNet users make theirs: JPEG files in one folder per class, then the im2rec tool.

    python tools/make_digits_rec.py        # writes mxc/data/digits_{train,test}.{rec,idx}

Pixels (0..16) are scaled to 0..255 and written as 8x8 greyscale JPEGs (quality 95, optimised
Huffman tables: about 200 bytes each) under <tmp>/<split>/<digit>/<n>.jpg;
``mxc im2rec --list --recursive`` numbers the folders 0..9 (the digit) and shuffles the list
with MXNet's seed; ``mxc im2rec --pass-through`` packs the JPEG files as they are.
"""
import os
import shutil
import sys
import tempfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from mxc.image import _codec
from mxc.tools.im2rec import main as im2rec

DATA = os.path.join(ROOT, "mxc", "data")


def main():
    d = np.load(os.path.join(DATA, "digits.npz"))
    cv = _codec.cv2()
    tmp = tempfile.mkdtemp(prefix="digits-")
    try:
        for split in ("train", "test"):
            x, y = d[f"x_{split}"], d[f"y_{split}"]
            for n, (img, lab) in enumerate(zip(x, y)):
                folder = os.path.join(tmp, split, str(int(lab)))
                os.makedirs(folder, exist_ok=True)
                pix = np.round(img.astype(np.float32) * (255.0 / 16.0)).astype(np.uint8)
                cv.imwrite(os.path.join(folder, f"{n:04d}.jpg"), pix,
                           [cv.IMWRITE_JPEG_QUALITY, 95, cv.IMWRITE_JPEG_OPTIMIZE, 1])
            prefix = os.path.join(tmp, f"digits_{split}")
            assert im2rec(["--list", "--recursive", prefix, os.path.join(tmp, split)]) == 0
            assert im2rec(["--pass-through", prefix,
                           os.path.join(tmp, split)]) == 0
            for ext in (".rec", ".idx"):
                shutil.copy(prefix + ext, os.path.join(DATA, f"digits_{split}{ext}"))
    finally:
        shutil.rmtree(tmp)
    for split in ("train", "test"):
        p = os.path.join(DATA, f"digits_{split}.rec")
        print(p, os.path.getsize(p), "bytes")


if __name__ == "__main__":
    main()
