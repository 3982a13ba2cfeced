"""Image pipeline workloads: ``ImageRecordIter`` at 224x224 with random crop and mirror, the
same way in every system (mxc, MXNet 1.9.1's C++ iterator, a torch DataLoader).

The driver makes one RecordIO file per run (:func:`make_rec`, ImageNet-like: JPEG quality 90,
shorter edge 256) and hands its path to every worker, so all read the same bytes. One step is
one epoch over the file (so batches prefetched before the clock starts do not count);
``images`` in the setup reply turns seconds per step into images/s. The worker
threads (``preprocess_threads``, DataLoader workers) come from ``MXC_NUM_THREADS`` (the bench's
1 and 2 threads). Stdlib + numpy at import: MXNet's venv imports this too.
"""
import os
import struct

IMAGE_SHAPE = (3, 224, 224)


def threads():
    return int(os.environ.get("MXC_NUM_THREADS", "1"))


def make_rec(path, n=192, seed=0):
    """``n`` synthetic photos (smooth colour fields, shapes, noise; 256 x 256..384) as a
    RecordIO file with its index, written with mxc's recordio and OpenCV."""
    import numpy as np

    from mxc import recordio
    from mxc.image import _codec
    cv = _codec.cv2()
    rng = np.random.default_rng(seed)
    w = recordio.MXIndexedRecordIO(path[:-4] + ".idx", path, "w")
    for i in range(n):
        h, wd = 256, int(rng.integers(256, 385))
        base = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
        img = cv.resize(base, (wd, h), interpolation=cv.INTER_CUBIC)
        for _ in range(6):
            c = tuple(int(v) for v in rng.integers(0, 256, 3))
            cv.circle(img, (int(rng.integers(0, wd)), int(rng.integers(0, h))),
                      int(rng.integers(10, 80)), c, -1)
        noise = rng.normal(0, 8, img.shape)
        img = np.clip(img + noise, 0, 255).astype(np.uint8)
        w.write_idx(i, recordio.pack_img(recordio.IRHeader(0, float(i % 10), i, 0), img,
                                         quality=90))
    w.close()
    return path


class RecordIterRead:
    """``mx.io.ImageRecordIter`` (mxc or MXNet): one batch per step."""

    def __init__(self, mx, extra=None):
        self.mx = mx
        self.extra = extra or {}

    def setup(self, rec=None, batch=32, images=192, **_):
        self.it = self.mx.io.ImageRecordIter(
            path_imgrec=rec, data_shape=IMAGE_SHAPE, batch_size=batch, rand_crop=True,
            rand_mirror=True, preprocess_threads=threads(), verbose=False, **self.extra)
        self.step()
        return {"images": images, "threads": threads()}

    def step(self):
        """One epoch (all the file's images): prefetched batches cannot flatter it."""
        self.it.reset()
        for b in self.it:
            self.out = b.data[0]
        if hasattr(self.out, "wait_to_read"):
            self.out.wait_to_read()


def read_records(rec):
    """The payloads of a RecordIO file (stdlib): a list of bytes."""
    with open(rec, "rb") as f:
        data = f.read()
    out, pos = [], 0
    while pos + 8 <= len(data):
        _, lrec = struct.unpack_from("<II", data, pos)
        n = lrec & ((1 << 29) - 1)
        out.append(data[pos + 8:pos + 8 + n])
        pos += 8 + ((n + 3) & ~3)
    return out
