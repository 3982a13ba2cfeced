"""``mx.image.ImageIter`` and ``mx.image.ImageDetIter``: MXNet's Python image iterators
(``python/mxnet/image/image.py`` and ``detection.py``), over RecordIO files or image lists,
with the augmenters of :mod:`mxc.image`. They run in the calling thread and draw from Python's
``random`` and numpy's global generator in MXNet's order, so seeded runs repeat MXNet's.
For speed use ``mx.io.ImageRecordIter``, which decodes on worker threads.
"""
from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch

from mxc import recordio
from mxc.base import FormatError, MXNetError
from mxc.image.image import CreateAugmenter, _t, imdecode, numeric_types
from mxc.ndarray import NDArray, empty, zeros
from mxc.ndarray import array as nd_array

from .io import DataBatch, DataDesc, DataIter

__all__ = ["ImageDetIter", "ImageIter"]

_log = logging.getLogger("mxc.image")


# --- ImageIter --------------------------------------------------------------------------------
class ImageIter(DataIter):
    """Image data iterator over a RecordIO file (``path_imgrec``, with ``path_imgidx`` for
    shuffling and parts), an image list file (``path_imglist``: ``index<TAB>labels<TAB>path``
    lines, images under ``path_root``) or a Python list ``imglist`` of ``[label..., path]``;
    images pass through ``aug_list`` (default :func:`CreateAugmenter` with ``**kwargs``) and
    come out as float32 NCHW batches (MXNet's ``mx.image.ImageIter``).
    """

    def __init__(self, batch_size, data_shape, label_width=1,
                 path_imgrec=None, path_imglist=None, path_root=None, path_imgidx=None,
                 shuffle=False, part_index=0, num_parts=1, aug_list=None, imglist=None,
                 data_name="data", label_name="softmax_label", dtype="float32",
                 last_batch_handle="pad", **kwargs):
        super().__init__()
        if not (path_imgrec or path_imglist or isinstance(imglist, list)):
            raise ValueError("ImageIter: give path_imgrec, path_imglist or imglist")
        if dtype not in ("int32", "float32", "int64", "float64"):
            raise ValueError(dtype + " label not supported")
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise ValueError(f"ImageIter: last_batch_handle must be 'pad', 'discard' or "
                             f"'roll_over'; got {last_batch_handle!r}")
        class_name = self.__class__.__name__
        if path_imgrec:
            _log.info("%s: loading recordio %s...", class_name, path_imgrec)
            if path_imgidx:
                self.imgrec = recordio.MXIndexedRecordIO(path_imgidx, path_imgrec, "r")
                self.imgidx = list(self.imgrec.keys)
            else:
                self.imgrec = recordio.MXRecordIO(path_imgrec, "r")
                self.imgidx = None
        else:
            self.imgrec = None
        imgkeys = []
        if path_imglist:
            _log.info("%s: loading image list %s...", class_name, path_imglist)
            try:
                fin = open(path_imglist)
            except FileNotFoundError:
                raise recordio.RecordFileNotFoundError(
                    f"{class_name}: image list {path_imglist!r} does not exist") from None
            with fin:
                result = {}
                for lineno, line in enumerate(iter(fin.readline, ""), 1):
                    line = line.strip().split("\t")
                    if len(line) < 3:
                        raise FormatError(f"{class_name}: image list {path_imglist!r}: line "
                                          f"{lineno}: expected 'index<TAB>label...<TAB>path'")
                    try:
                        label = nd_array(np.array(line[1:-1], dtype=np.float64), dtype=dtype)
                        key = int(line[0])
                    except ValueError:
                        raise FormatError(f"{class_name}: image list {path_imglist!r}: line "
                                          f"{lineno}: the index and labels must be numbers") \
                            from None
                    result[key] = (label, line[-1])
                    imgkeys.append(key)
            self.imglist = result
        elif isinstance(imglist, list):
            _log.info("%s: loading image list...", class_name)
            result = {}
            index = 1
            for img in imglist:
                key = str(index)
                index += 1
                if len(img) > 2:
                    label = nd_array(img[:-1], dtype=dtype)
                elif isinstance(img[0], numeric_types):
                    label = nd_array([img[0]], dtype=dtype)
                else:
                    label = nd_array(img[0], dtype=dtype)
                result[key] = (label, img[-1])
                imgkeys.append(str(key))
            self.imglist = result
        else:
            self.imglist = None
        self.path_root = path_root
        self.check_data_shape(data_shape)
        self.provide_data = [DataDesc(data_name, (batch_size,) + tuple(data_shape))]
        if label_width > 1:
            self.provide_label = [DataDesc(label_name, (batch_size, label_width))]
        else:
            self.provide_label = [DataDesc(label_name, (batch_size,))]
        self.batch_size = batch_size
        self.data_shape = tuple(data_shape)
        self.label_width = label_width
        self.shuffle = shuffle
        if self.imgrec is None:
            self.seq = imgkeys
        elif shuffle or num_parts > 1 or path_imgidx:
            if self.imgidx is None:
                raise ValueError("ImageIter: shuffle and num_parts > 1 need path_imgidx for a "
                                 "RecordIO file")
            self.seq = self.imgidx
        else:
            self.seq = None
        if num_parts > 1:
            if not 0 <= part_index < num_parts:
                raise ValueError(f"ImageIter: part_index {part_index} must be in [0, "
                                 f"{num_parts})")
            n = len(self.seq)
            c = n // num_parts
            self.seq = self.seq[part_index * c:(part_index + 1) * c]
        if aug_list is None:
            self.auglist = CreateAugmenter(data_shape, **kwargs)
        else:
            self.auglist = aug_list
        self.cur = 0
        self._allow_read = True
        self.last_batch_handle = last_batch_handle
        self.num_image = len(self.seq) if self.seq is not None else None
        self._cache_data = None
        self._cache_label = None
        self._cache_idx = None
        self.reset()

    def reset(self):
        """Back to the start (reshuffling when ``shuffle``)."""
        if self.seq is not None and self.shuffle:
            random.shuffle(self.seq)
        if self.last_batch_handle != "roll_over" or self._cache_data is None:
            if self.imgrec is not None:
                self.imgrec.reset()
            self.cur = 0
            if self._allow_read is False:
                self._allow_read = True

    def hard_reset(self):
        """Back to the start, dropping rolled-over images."""
        if self.seq is not None and self.shuffle:
            random.shuffle(self.seq)
        if self.imgrec is not None:
            self.imgrec.reset()
        self.cur = 0
        self._allow_read = True
        self._cache_data = None
        self._cache_label = None
        self._cache_idx = None

    def next_sample(self):
        """``(label, encoded image bytes)`` of the next image."""
        if self._allow_read is False:
            raise StopIteration
        if self.seq is not None:
            if self.cur < self.num_image:
                idx = self.seq[self.cur]
            else:
                if self.last_batch_handle != "discard":
                    self.cur = 0
                raise StopIteration
            self.cur += 1
            if self.imgrec is not None:
                s = self.imgrec.read_idx(idx)
                header, img = recordio.unpack(s)
                if self.imglist is None:
                    return header.label, img
                return self.imglist[idx][0], img
            label, fname = self.imglist[idx]
            return label, self.read_image(fname)
        s = self.imgrec.read()
        if s is None:
            if self.last_batch_handle != "discard":
                self.imgrec.reset()
            raise StopIteration
        header, img = recordio.unpack(s)
        return header.label, img

    def _batchify(self, batch_data, batch_label, start=0):
        i = start
        batch_size = self.batch_size
        try:
            while i < batch_size:
                label, s = self.next_sample()
                data = self.imdecode(s)
                try:
                    self.check_valid_image(data)
                except RuntimeError as e:
                    _log.debug("Invalid image, skipping:  %s", str(e))
                    continue
                data = self.augmentation_transform(data)
                bd = batch_data.torch_tensor()
                bd[i] = _t(self.postprocess_data(data)).to(bd.dtype)
                lab = _t(label) if isinstance(label, (NDArray, np.ndarray)) else \
                    torch.tensor(label)
                bl = batch_label.torch_tensor()
                bl[i] = lab.to(bl.dtype).reshape(bl[i].shape)
                i += 1
        except StopIteration:
            if not i:
                raise
        return i

    def next(self):
        """The next batch (``pad`` counts the images repeated to fill the last one)."""
        batch_size = self.batch_size
        c, h, w = self.data_shape
        if self._cache_data is not None:
            batch_data = self._cache_data
            batch_label = self._cache_label
            i = self._cache_idx
        else:
            batch_data = zeros((batch_size, c, h, w))
            batch_label = empty(self.provide_label[0][1])
            i = self._batchify(batch_data, batch_label)
        pad = batch_size - i
        if pad != 0:
            if self.last_batch_handle == "discard":
                raise StopIteration
            if self.last_batch_handle == "roll_over" and self._cache_data is None:
                self._cache_data = batch_data
                self._cache_label = batch_label
                self._cache_idx = i
                raise StopIteration
            self._batchify(batch_data, batch_label, i)
            if self.last_batch_handle == "pad":
                self._allow_read = False
            else:
                self._cache_data = None
                self._cache_label = None
                self._cache_idx = None
        return DataBatch([batch_data], [batch_label], pad=pad)

    def check_data_shape(self, data_shape):
        """``data_shape`` must be (3, h, w)."""
        if not len(data_shape) == 3:
            raise ValueError("data_shape should have length 3, with dimensions CxHxW")
        if not data_shape[0] == 3:
            raise ValueError("This iterator expects inputs to have 3 channels.")

    def check_valid_image(self, data):
        """Raise RuntimeError for an image to skip."""
        if len(data[0].shape) == 0:
            raise RuntimeError("Data shape is wrong")

    def imdecode(self, s):
        """Decode ``s``; a broken image raises a FormatError naming it."""
        def locate():
            if self.seq is not None:
                idx = self.seq[(self.cur % self.num_image) - 1]
            else:
                idx = self.cur - 1
            if self.imglist is not None:
                _, fname = self.imglist[idx]
                return f"filename: {fname}"
            return f"index: {idx}"
        try:
            return imdecode(s)
        except MXNetError as e:
            raise FormatError(f"Broken image {locate()}, {e}") from None

    def read_image(self, fname):
        """The bytes of image file ``fname`` under ``path_root``."""
        path = os.path.join(self.path_root, fname) if self.path_root else fname
        try:
            with open(path, "rb") as fin:
                return fin.read()
        except FileNotFoundError:
            raise recordio.RecordFileNotFoundError(f"{type(self).__name__}: image file "
                                                   f"{path!r} does not exist") from None

    def augmentation_transform(self, data):
        """Apply the augmenters."""
        for aug in self.auglist:
            data = aug(data)
        return data

    def postprocess_data(self, datum):
        """HWC -> CHW."""
        return NDArray(_t(datum).permute(2, 0, 1).contiguous(),
                       datum.context if isinstance(datum, NDArray) else None)


class ImageDetIter(ImageIter):
    """Object detection iterator (MXNet's ``mx.image.ImageDetIter``): labels are
    ``[header_width, object_width, ..., obj0..., obj1...]`` as im2rec packs them for
    detection; batches carry ``(batch_size, max_objects, object_width)`` labels padded with -1
    rows. ``aug_list`` defaults to :func:`mxc.image.CreateDetAugmenter` with ``**kwargs``."""

    def __init__(self, batch_size, data_shape, path_imgrec=None, path_imglist=None,
                 path_root=None, path_imgidx=None, shuffle=False, part_index=0, num_parts=1,
                 aug_list=None, imglist=None, data_name="data", label_name="label",
                 last_batch_handle="pad", **kwargs):
        super().__init__(batch_size=batch_size, data_shape=data_shape,
                         path_imgrec=path_imgrec, path_imglist=path_imglist,
                         path_root=path_root, path_imgidx=path_imgidx, shuffle=shuffle,
                         part_index=part_index, num_parts=num_parts, aug_list=[],
                         imglist=imglist, data_name=data_name, label_name=label_name,
                         last_batch_handle=last_batch_handle)
        from mxc.image.detection import CreateDetAugmenter
        self.auglist = CreateDetAugmenter(data_shape, **kwargs) if aug_list is None \
            else aug_list
        label_shape = self._estimate_label_shape()
        self.provide_label = [DataDesc(label_name, (self.batch_size,) + label_shape)]
        self.label_shape = label_shape

    def _check_valid_label(self, label):
        if len(label.shape) != 2 or label.shape[1] < 5:
            raise RuntimeError(f"Label with shape (1+, 5+) required, {label} received.")
        valid = np.where(np.logical_and(label[:, 0] >= 0, np.logical_and(
            label[:, 3] > label[:, 1], label[:, 4] > label[:, 2])))[0]
        if valid.size < 1:
            raise RuntimeError("Invalid label occurs.")

    def _estimate_label_shape(self):
        max_count = 0
        width = None
        self.reset()
        try:
            while True:
                label, _ = self.next_sample()
                label = self._parse_label(label)
                max_count = max(max_count, label.shape[0])
                width = label.shape[1]
        except StopIteration:
            pass
        self.reset()
        if width is None:
            raise MXNetError(f"{type(self).__name__}: no images to read")
        return (max_count, width)

    def _parse_label(self, label):
        if isinstance(label, NDArray):
            label = label.asnumpy()
        raw = np.asarray(label, dtype=np.float32).ravel()
        if raw.size < 7:
            raise FormatError(f"{type(self).__name__}: label shape is invalid: {raw.shape}; "
                              "expected [header_width, object_width, ..., objects...]")
        header_width = int(raw[0])
        obj_width = int(raw[1])
        if obj_width < 5 or (raw.size - header_width) % obj_width != 0:
            raise FormatError(f"{type(self).__name__}: label shape {raw.shape} inconsistent "
                              f"with annotation width {obj_width}")
        out = np.reshape(raw[header_width:], (-1, obj_width))
        valid = np.where(np.logical_and(out[:, 3] > out[:, 1], out[:, 4] > out[:, 2]))[0]
        if valid.size < 1:
            raise RuntimeError("Encounter sample with no valid label.")
        return out[valid, :]

    def reshape(self, data_shape=None, label_shape=None):
        """Change the data and / or label shape of the batches."""
        if data_shape is not None:
            self.check_data_shape(data_shape)
            self.provide_data = [DataDesc(self.provide_data[0][0],
                                          (self.batch_size,) + tuple(data_shape))]
            self.data_shape = tuple(data_shape)
        if label_shape is not None:
            self.check_label_shape(label_shape)
            self.provide_label = [DataDesc(self.provide_label[0][0],
                                           (self.batch_size,) + tuple(label_shape))]
            self.label_shape = tuple(label_shape)

    def check_label_shape(self, label_shape):
        """``label_shape`` may add objects, never remove them or change their width."""
        if not len(label_shape) == 2:
            raise ValueError("label_shape should have length 2")
        if label_shape[0] < self.label_shape[0]:
            raise ValueError(f"Attempts to reduce label count from {self.label_shape[0]} to "
                             f"{label_shape[0]}, not allowed.")
        if label_shape[1] != self.provide_label[0][1][2]:
            raise ValueError(f"label_shape object width inconsistent: "
                             f"{self.provide_label[0][1][2]} vs {label_shape[1]}.")

    def _batchify(self, batch_data, batch_label, start=0):
        i = start
        try:
            while i < self.batch_size:
                label, s = self.next_sample()
                data = self.imdecode(s)
                try:
                    self.check_valid_image([data])
                    label = self._parse_label(label)
                    data, label = self.augmentation_transform(data, label)
                    self._check_valid_label(label)
                except RuntimeError as e:
                    _log.debug("Invalid image, skipping:  %s", str(e))
                    continue
                bd = batch_data.torch_tensor()
                bd[i] = _t(self.postprocess_data(data)).to(bd.dtype)
                num_object = label.shape[0]
                bl = batch_label.torch_tensor()
                bl[i, :num_object] = torch.from_numpy(np.ascontiguousarray(label, np.float32))
                bl[i, num_object:] = -1
                i += 1
        except StopIteration:
            if not i:
                raise
        return i

    def next(self):
        batch_size = self.batch_size
        c, h, w = self.data_shape
        if self._cache_data is not None:
            batch_data, batch_label, i = self._cache_data, self._cache_label, self._cache_idx
        else:
            batch_data = zeros((batch_size, c, h, w))
            batch_label = empty(self.provide_label[0][1])
            batch_label.torch_tensor().fill_(-1)
            i = self._batchify(batch_data, batch_label)
        pad = batch_size - i
        if pad != 0:
            if self.last_batch_handle == "discard":
                raise StopIteration
            if self.last_batch_handle == "roll_over" and self._cache_data is None:
                self._cache_data, self._cache_label, self._cache_idx = \
                    batch_data, batch_label, i
                raise StopIteration
            self._batchify(batch_data, batch_label, i)
            if self.last_batch_handle == "pad":
                self._allow_read = False
            else:
                self._cache_data = self._cache_label = self._cache_idx = None
        return DataBatch([batch_data], [batch_label], pad=pad)

    def augmentation_transform(self, data, label):
        for aug in self.auglist:
            data, label = aug(data, label)
        return (data, label)

    def draw_next(self, color=None, thickness=2, mean=None, std=None, clip=True,
                  waitKey=None, window_name="draw_next", id2labels=None):
        """Yield augmented images (uint8 HWC, BGR) with their boxes drawn (OpenCV)."""
        from mxc.image import _codec
        cv2 = _codec.cv2()
        count = 0
        try:
            while True:
                label, s = self.next_sample()
                data = self.imdecode(s)
                try:
                    self.check_valid_image([data])
                    label = self._parse_label(label)
                except RuntimeError as e:
                    _log.debug("Invalid image, skipping:  %s", str(e))
                    continue
                count += 1
                data, label = self.augmentation_transform(data, label)
                image = data.asnumpy().astype(np.float32)
                if std is True:
                    std = np.array([58.395, 57.12, 57.375])
                if std is not None:
                    image *= std
                if mean is True:
                    mean = np.array([123.68, 116.28, 103.53])
                if mean is not None:
                    image += mean
                image[:, :, (0, 1, 2)] = image[:, :, (2, 1, 0)]
                if clip:
                    image = np.maximum(0, np.minimum(255, image))
                if color:
                    color = color[::-1]
                image = np.ascontiguousarray(image.astype(np.uint8))
                height, width, _ = image.shape
                for i in range(label.shape[0]):
                    x1 = int(label[i, 1] * width)
                    if x1 < 0:
                        continue
                    y1 = int(label[i, 2] * height)
                    x2 = int(label[i, 3] * width)
                    y2 = int(label[i, 4] * height)
                    bc = np.random.rand(3) * 255 if not color else color
                    cv2.rectangle(image, (x1, y1), (x2, y2), bc, thickness)
                    if id2labels is not None and int(label[i, 0]) in id2labels:
                        text = str(id2labels[int(label[i, 0])])
                        font = cv2.FONT_HERSHEY_SIMPLEX
                        th = cv2.getTextSize(text, font, 0.5, 2)[0][1]
                        cv2.putText(image, text, (x1 + 5, y1 + th + 5), font, 0.5,
                                    (255, 255, 255), 2)
                if waitKey is not None:
                    cv2.imshow(window_name, image)
                    cv2.waitKey(waitKey)
                yield image
        except StopIteration:
            if not count:
                return

    def sync_label_shape(self, it, verbose=False):
        """Give this iterator and ``it`` the same (larger) label shape."""
        if not isinstance(it, ImageDetIter):
            raise TypeError("Synchronize with invalid iterator.")
        train_label_shape = self.label_shape
        val_label_shape = it.label_shape
        if train_label_shape[1] != val_label_shape[1]:
            raise ValueError("object width mismatch.")
        max_count = max(train_label_shape[0], val_label_shape[0])
        if max_count > train_label_shape[0]:
            self.reshape(None, (max_count, train_label_shape[1]))
        if max_count > val_label_shape[0]:
            it.reshape(None, (max_count, val_label_shape[1]))
        if verbose and max_count > min(train_label_shape[0], val_label_shape[0]):
            _log.info("Resized label_shape to (%d, %d).", max_count, train_label_shape[1])
        return it
