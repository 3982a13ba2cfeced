"""Image decoding, encoding and resampling for ``mx.image``, ``mx.recordio`` and the record
iterators, through OpenCV (the ``image`` extra: ``pip install 'mxc[image]'``), imported on first
use.

OpenCV is what MXNet itself calls for these steps (``cv::imdecode``, ``cv::resize``,
``cv::warpAffine``, ``cv::copyMakeBorder``, ``cv::cvtColor``), so the pixels mxc produces are the
ones MXNet 1.9.1 produced: JPEG and PNG decoding, nearest / bilinear / area / Lanczos resizing
agree bit for bit (tests/test_image.py checks them against MXNet's output). Bicubic resizing
differs by at most 1 in a few percent of the pixels: OpenCV 4 changed its rounding after the
OpenCV 3.4 that MXNet's wheels bundle.

The JPEG decoder was chosen by measurement (bench/, ``python -m bench --workloads
imagerec_224``): ``cv2.imdecode`` and ``simplejpeg`` (both libjpeg-turbo) decode identical
pixels at about the same speed (within 10%), Pillow is 1.7x slower. OpenCV is needed anyway for
the geometry, so it is the one dependency; ``MXC_JPEG_DECODER=simplejpeg`` switches JPEG
decoding to simplejpeg where it is installed.
"""
from __future__ import annotations


import numpy as np

from .. import config
from ..base import FormatError, UnsupportedError

__all__ = ["cv2", "decode", "encode", "resize"]

_CV2 = None
_SIMPLEJPEG = None


def cv2():
    """The ``cv2`` module, or UnsupportedError naming the extra that provides it."""
    global _CV2
    if _CV2 is None:
        try:
            import cv2 as mod
        except ImportError as e:
            raise UnsupportedError(
                "mxc's image decoding and augmentation (mx.image, mx.recordio.pack_img / "
                "unpack_img, mx.io.ImageRecordIter, im2rec) need OpenCV: install the 'image' "
                f"extra, pip install 'mxc[image]' (or opencv-python-headless); import cv2 "
                f"failed: {e}") from None
        _CV2 = mod
    return _CV2


def _simplejpeg():
    global _SIMPLEJPEG
    if _SIMPLEJPEG is None:
        try:
            import simplejpeg
        except ImportError:
            simplejpeg = False
        _SIMPLEJPEG = simplejpeg
    return _SIMPLEJPEG


def _is_jpeg(buf) -> bool:
    return len(buf) > 2 and buf[0] == 0xFF and buf[1] == 0xD8


def decode(buf, flag: int = 1, bgr: bool = False, what: str = "image"):
    """Decode the encoded image ``buf`` (bytes-like) to a uint8 HWC numpy array.

    ``flag``: 1 colour (3 channels), 0 grey (1 channel), -1 as stored (alpha kept). Colour
    channels are RGB (MXNet's ``imdecode``) unless ``bgr`` (OpenCV's order, ``unpack_img``).
    Grey images have shape ``(h, w)`` when ``bgr`` (OpenCV) and ``(h, w, 1)`` otherwise.
    Raises FormatError (saying ``what``) for bytes that are not a decodable image.
    """
    mv = np.frombuffer(buf, dtype=np.uint8)
    if mv.size == 0:
        raise FormatError(f"{what}: empty buffer; expected an encoded image (JPEG, PNG ...)")
    img = None
    if flag in (0, 1) and config.get("MXC_JPEG_DECODER") == "simplejpeg" \
            and _is_jpeg(mv) and _simplejpeg():
        try:
            img = _simplejpeg().decode_jpeg(
                mv, colorspace=("GRAY" if flag == 0 else ("BGR" if bgr else "RGB")))
            if flag == 0 and bgr:
                img = img[:, :, 0]
            return img
        except ValueError:
            img = None      # OpenCV gives it a second chance, as MXNet's decoder does
    cv = cv2()
    try:
        img = cv.imdecode(mv, flag)
    except cv.error as e:
        raise FormatError(f"{what}: cannot decode the {mv.size} bytes as an image: "
                          f"{str(e).strip().splitlines()[-1]}") from None
    if img is None:
        head = bytes(mv[:4]).hex()
        raise FormatError(f"{what}: cannot decode the {mv.size} bytes (starting 0x{head}) as "
                          "an image: not a JPEG/PNG/... OpenCV can read, or truncated")
    if img.ndim == 2:
        return img if bgr else img[:, :, None]
    if not bgr and img.shape[2] >= 3:
        code = cv.COLOR_BGR2RGB if img.shape[2] == 3 else cv.COLOR_BGRA2RGBA
        img = cv.cvtColor(img, code)
    return img


def encode(img, img_fmt: str = ".jpg", quality: int = 95) -> bytes:
    """``img`` (uint8 numpy, OpenCV's BGR order) encoded as ``img_fmt`` (``.jpg`` with JPEG
    quality 1-100, ``.png`` with compression 0-9); bytes."""
    cv = cv2()
    params = None
    if img_fmt.upper() in (".JPG", ".JPEG"):
        params = [cv.IMWRITE_JPEG_QUALITY, int(quality)]
    elif img_fmt.upper() == ".PNG":
        params = [cv.IMWRITE_PNG_COMPRESSION, int(quality)]
    img = np.ascontiguousarray(img)
    try:
        ok, buf = cv.imencode(img_fmt, img, params)
    except cv.error as e:
        raise FormatError(f"cannot encode an image of shape {img.shape} and dtype {img.dtype} "
                          f"as {img_fmt!r}: {str(e).strip().splitlines()[-1]}") from None
    if not ok:
        raise FormatError(f"cannot encode an image of shape {img.shape} as {img_fmt!r}")
    return buf.tobytes()


def resize(img, w: int, h: int, interp: int = 1):
    """``img`` (HWC or HW numpy) resized to ``w`` x ``h`` with OpenCV's interpolation
    ``interp`` (0 nearest, 1 bilinear, 2 bicubic, 3 area, 4 Lanczos); keeps a trailing
    channel axis of 1."""
    cv = cv2()
    out = cv.resize(np.ascontiguousarray(img), (int(w), int(h)), interpolation=int(interp))
    if out.ndim == 2 and img.ndim == 3:
        out = out[:, :, None]
    return out
