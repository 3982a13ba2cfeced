"""``mx.image``: image decoding, resizing, cropping, augmenters and ``ImageIter``, as MXNet
1.9.1's ``python/mxnet/image/image.py``.

Images are NDArrays in HWC layout (uint8 after decoding, float32 after ``CastAug``), RGB unless
asked otherwise. Decoding and resampling go through OpenCV (mxc/image/_codec.py, the
``image`` extra), as in MXNet. The random choices use Python's ``random`` and numpy's global
generator in MXNet's order, so ``random.seed`` / ``np.random.seed`` reproduce MXNet's crops,
flips and jitters. ``ImageIter`` (a DataIter) lives with the other iterators in
runtime/io_image.py and is served here as ``mx.image.ImageIter``. The pixel arithmetic of the
augmenters is data preparation on the arrays' storage (torch), not operators: it runs on
images of every size without compiling kernels.
"""
from __future__ import annotations

import json
import math
import random
import warnings
from numbers import Number

import numpy as np
import torch

from .. import recordio
from ..base import FormatError, MXNetError
from ..ndarray import NDArray
from ..ndarray import array as nd_array
from . import _codec

__all__ = [
    "Augmenter",
    "BrightnessJitterAug",
    "CastAug",
    "CenterCropAug",
    "ColorJitterAug",
    "ColorNormalizeAug",
    "ContrastJitterAug",
    "CreateAugmenter",
    "ForceResizeAug",
    "HorizontalFlipAug",
    "HueJitterAug",
    "LightingAug",
    "RandomCropAug",
    "RandomGrayAug",
    "RandomOrderAug",
    "RandomSizedCropAug",
    "ResizeAug",
    "SaturationJitterAug",
    "SequentialAug",
    "center_crop",
    "color_normalize",
    "copyMakeBorder",
    "fixed_crop",
    "imdecode",
    "imread",
    "imresize",
    "imrotate",
    "random_crop",
    "random_rotate",
    "random_size_crop",
    "resize_short",
    "scale_down",
]

numeric_types = (float, int, np.generic)


# --- conversions between NDArray, numpy and torch ----------------------------------------------
def _np(src) -> np.ndarray:
    """A numpy view (NDArray / torch on the CPU) or the array itself."""
    if isinstance(src, NDArray):
        t = src._t
        return t.numpy() if t.device.type == "cpu" else t.cpu().numpy()
    if isinstance(src, torch.Tensor):
        return src.detach().cpu().numpy()
    return np.asarray(src)


def _t(src) -> torch.Tensor:
    if isinstance(src, NDArray):
        return src._t
    if isinstance(src, torch.Tensor):
        return src
    return torch.from_numpy(np.ascontiguousarray(src))


def _nd(a, like=None) -> NDArray:
    """``a`` (numpy or torch) as an NDArray (sharing memory where it can)."""
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    ctx = like.context if isinstance(like, NDArray) else None
    return NDArray(a, ctx)


def _into(out, res: NDArray):
    if out is None:
        return res
    if not isinstance(out, NDArray):
        raise TypeError("out must be an NDArray")
    if tuple(out.shape) != tuple(res.shape):
        raise MXNetError(f"out has shape {out.shape}; the result has shape {res.shape}")
    out._t.copy_(res._t)
    return out


# --- decoding and resampling (MXNet's _cvimdecode / _cvimread / _cvimresize operators) ---------
def imdecode(buf, flag=1, to_rgb=True, out=None):
    """Decode an image (JPEG, PNG ...) held in ``buf`` to an HWC uint8 NDArray.

    ``flag``: 1 colour (3 channels), 0 greyscale (1 channel), -1 as stored. ``to_rgb``:
    colour channels in RGB order (False: OpenCV's BGR).
    """
    if isinstance(buf, NDArray):
        data = _np(buf).astype(np.uint8, copy=False).tobytes()
    elif isinstance(buf, (bytes, bytearray, memoryview)):
        data = buf
    elif isinstance(buf, np.ndarray):
        data = np.ascontiguousarray(buf).astype(np.uint8, copy=False).tobytes()
    else:
        raise ValueError("buf must be of type bytes, bytearray or numpy.ndarray,"
                         "if you would like to input type str, please convert to bytes")
    img = _codec.decode(data, int(flag), bgr=not to_rgb, what="imdecode")
    if img.ndim == 2:
        img = img[:, :, None]
    return _into(out, _nd(np.ascontiguousarray(img)))


def imread(filename, flag=1, to_rgb=True, out=None):
    """Read and decode the image file ``filename`` (see :func:`imdecode`)."""
    try:
        with open(filename, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise recordio.RecordFileNotFoundError(f"imread: image file {filename!r} does not "
                                               "exist") from None
    try:
        return imdecode(data, flag, to_rgb, out)
    except FormatError as e:
        raise FormatError(f"imread: {filename!r}: {e}") from None


def imresize(src, w, h, interp=1, out=None):
    """``src`` (HWC) resized to width ``w`` and height ``h`` with OpenCV's interpolation
    ``interp`` (0 nearest, 1 bilinear, 2 bicubic, 3 area, 4 Lanczos)."""
    a = _np(src)
    if a.ndim != 3:
        raise MXNetError(f"imresize: src must be HWC (3 dimensions); got shape {a.shape}")
    res = _codec.resize(a, int(w), int(h), int(interp))
    return _into(out, _nd(res, src))


def scale_down(src_size, size):
    """Scale ``size`` (w, h) down to fit inside ``src_size`` (w, h), keeping its aspect."""
    w, h = size
    sw, sh = src_size
    if sh < h:
        w, h = float(w * sh) / h, sh
    if sw < w:
        w, h = sw, float(h * sw) / w
    return int(w), int(h)


def copyMakeBorder(src, top, bot, left, right, type=0, value=0.0, values=(),
                   out=None):
    """Pad ``src`` (HWC) by the given numbers of pixels (OpenCV's ``copyMakeBorder``:
    ``type`` 0 constant (``value``, or per channel ``values``), 1 replicate, 2 reflect ...)."""
    cv = _codec.cv2()
    a = np.ascontiguousarray(_np(src))
    if values:
        fill = tuple(float(v) for v in values)
        if len(fill) < 4:
            fill = fill + (fill[-1],) * (4 - len(fill)) if len(fill) > 1 else fill * 4
    else:
        fill = (float(value),) * 4
    res = cv.copyMakeBorder(a, int(top), int(bot), int(left), int(right), int(type),
                            value=fill)
    if res.ndim == 2:
        res = res[:, :, None]
    return _into(out, _nd(res, src))


def _get_interp_method(interp, sizes=()):
    """The interpolation for ``interp``: 9 auto (cubic to enlarge, area to shrink, else
    bilinear), 10 random, else ``interp``."""
    if interp == 9:
        if sizes:
            assert len(sizes) == 4
            oh, ow, nh, nw = sizes
            if nh > oh and nw > ow:
                return 2
            if nh < oh and nw < ow:
                return 3
            return 1
        return 2
    if interp == 10:
        return random.randint(0, 4)
    if interp not in (0, 1, 2, 3, 4):
        raise ValueError(f"Unknown interp method {interp}")
    return interp


def resize_short(src, size, interp=2):
    """Resize so that the shorter edge is ``size``, keeping the aspect ratio."""
    h, w, _ = src.shape
    if h > w:
        new_h, new_w = size * h // w, size
    else:
        new_h, new_w = size, size * w // h
    return imresize(src, new_w, new_h, interp=_get_interp_method(interp, (h, w, new_h, new_w)))


def fixed_crop(src, x0, y0, w, h, size=None, interp=2):
    """The ``w`` x ``h`` region at (``x0``, ``y0``), resized to ``size`` (w, h) if given."""
    t = _t(src)[y0:y0 + h, x0:x0 + w].contiguous()
    out = NDArray(t, src.context if isinstance(src, NDArray) else None)
    if size is not None and (w, h) != size:
        sizes = (h, w, size[1], size[0])
        out = imresize(out, *size, interp=_get_interp_method(interp, sizes))
    return out


def random_crop(src, size, interp=2):
    """A random crop of ``size`` (w, h), scaled down to fit; ``(image, (x0, y0, w, h))``."""
    h, w, _ = src.shape
    new_w, new_h = scale_down((w, h), size)
    x0 = random.randint(0, w - new_w)
    y0 = random.randint(0, h - new_h)
    out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
    return out, (x0, y0, new_w, new_h)


def center_crop(src, size, interp=2):
    """The central crop of ``size`` (w, h), scaled down to fit; ``(image, (x0, y0, w, h))``."""
    h, w, _ = src.shape
    new_w, new_h = scale_down((w, h), size)
    x0 = int((w - new_w) / 2)
    y0 = int((h - new_h) / 2)
    out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
    return out, (x0, y0, new_w, new_h)


def color_normalize(src, mean, std=None):
    """``(src - mean) / std`` in place (``src`` float)."""
    t = _t(src)
    if mean is not None:
        t.sub_(_t(mean).to(t.dtype))
    if std is not None:
        t.div_(_t(std).to(t.dtype))
    return src


def random_size_crop(src, size, area, ratio, interp=2, **kwargs):
    """A crop of random area (fraction in ``area``) and aspect ratio (in ``ratio``), resized
    to ``size``; falls back to :func:`center_crop` after 10 tries."""
    h, w, _ = src.shape
    src_area = h * w
    if "min_area" in kwargs:
        warnings.warn("`min_area` is deprecated. Please use `area` instead.",
                      DeprecationWarning, stacklevel=2)
        area = kwargs.pop("min_area")
    if kwargs:
        raise TypeError(f"unexpected keyword arguments for `random_size_crop`: {list(kwargs)}")
    if isinstance(area, numeric_types):
        area = (area, 1.0)
    for _ in range(10):
        target_area = random.uniform(area[0], area[1]) * src_area
        log_ratio = (np.log(ratio[0]), np.log(ratio[1]))
        new_ratio = np.exp(random.uniform(*log_ratio))
        new_w = int(round(np.sqrt(target_area * new_ratio)))
        new_h = int(round(np.sqrt(target_area / new_ratio)))
        if new_w <= w and new_h <= h:
            x0 = random.randint(0, w - new_w)
            y0 = random.randint(0, h - new_h)
            out = fixed_crop(src, x0, y0, new_w, new_h, size, interp)
            return out, (x0, y0, new_w, new_h)
    return center_crop(src, size, interp)


def imrotate(src, rotation_degrees, zoom_in=False, zoom_out=False):
    """Rotate float32 image(s) (CHW or NCHW) by ``rotation_degrees`` about the centre with
    bilinear sampling and zero fill (MXNet's ``BilinearSampler`` grid); ``zoom_in`` crops
    to avoid the fill, ``zoom_out`` shrinks to keep the whole image."""
    if zoom_in and zoom_out:
        raise ValueError("`zoom_in` and `zoom_out` cannot be both True")
    if src.dtype is not np.float32:
        raise TypeError("Only `float32` images are supported by this function")
    x = _t(src)
    expanded = False
    if x.dim() == 3:
        expanded = True
        x = x.unsqueeze(0)
        if not isinstance(rotation_degrees, Number):
            raise TypeError("When a single image is passed the rotation angle is "
                            "required to be a scalar.")
    elif x.dim() != 4:
        raise ValueError("Only 3D and 4D are supported by this function")
    n, _, h, w = x.shape
    if isinstance(rotation_degrees, Number):
        deg = torch.full((n,), float(rotation_degrees), dtype=torch.float32)
    else:
        deg = _t(rotation_degrees).to(torch.float32).reshape(-1).cpu()
    if deg.numel() != n:
        raise ValueError("The number of images must be equal to the number of rotation angles")
    rad = (math.pi * deg / 180).reshape(n, 1, 1)
    hscale, wscale = float(h - 1) / 2, float(w - 1) / 2
    hm = (torch.arange(h, dtype=torch.float32).reshape(h, 1).expand(h, w) - hscale)[None]
    wm = (torch.arange(w, dtype=torch.float32).reshape(1, w).expand(h, w) - wscale)[None]
    c, s = torch.cos(rad), torch.sin(rad)
    wr = (wm * c - hm * s) / wscale
    hr = (wm * s + hm * c) / hscale
    if zoom_in or zoom_out:
        hh, ww = torch.tensor(float(h)), torch.tensor(float(w))
        rho = torch.sqrt(hh * hh + ww * ww)
        ang = torch.atan(hh / ww)
        c1x = torch.abs(rho * torch.cos(ang + torch.abs(rad)))
        c1y = torch.abs(rho * torch.sin(ang + torch.abs(rad)))
        c2x = torch.abs(rho * torch.cos(ang - torch.abs(rad)))
        c2y = torch.abs(rho * torch.sin(ang - torch.abs(rad)))
        mx_, my_ = torch.maximum(c1x, c2x), torch.maximum(c1y, c2y)
        if zoom_out:
            scale = torch.maximum(mx_ / ww, my_ / hh)
        else:
            scale = torch.minimum(ww / mx_, hh / my_)
        wr, hr = wr * scale, hr * scale
    grid = torch.stack([wr, hr], dim=-1).to(x.device)
    out = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                          align_corners=True)
    out = out[0] if expanded else out
    return NDArray(out.contiguous(), src.context if isinstance(src, NDArray) else None)


def random_rotate(src, angle_limits, zoom_in=False, zoom_out=False):
    """Rotate by a random angle in ``angle_limits`` (degrees), one per image."""
    if src.ndim == 3:
        rotation_degrees = np.random.uniform(*angle_limits)
    else:
        rotation_degrees = nd_array(np.random.uniform(*angle_limits, size=src.shape[0]))
    return imrotate(src, rotation_degrees, zoom_in=zoom_in, zoom_out=zoom_out)


# --- augmenters -------------------------------------------------------------------------------
class Augmenter:
    """Image augmenter base class: ``aug(src) -> src``; ``dumps()`` describes it as JSON."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        for k, v in self._kwargs.items():
            if isinstance(v, NDArray):
                v = v.asnumpy()
            if isinstance(v, np.ndarray):
                self._kwargs[k] = v.tolist()

    def dumps(self):
        """The augmenter's name and parameters as a JSON string."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, src):
        raise MXNetError(f"{type(self).__name__} is an Augmenter without __call__: subclasses "
                         "implement it")


class SequentialAug(Augmenter):
    """Apply the augmenters ``ts`` in order."""

    def __init__(self, ts):
        super().__init__()
        self.ts = ts

    def dumps(self):
        return [self.__class__.__name__.lower(), [x.dumps() for x in self.ts]]

    def __call__(self, src):
        for aug in self.ts:
            src = aug(src)
        return src


class ResizeAug(Augmenter):
    """Resize the shorter edge to ``size``."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        return resize_short(src, self.size, self.interp)


class ForceResizeAug(Augmenter):
    """Resize to ``size`` (w, h), ignoring the aspect ratio."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        sizes = (src.shape[0], src.shape[1], self.size[1], self.size[0])
        return imresize(src, *self.size, interp=_get_interp_method(self.interp, sizes))


class RandomCropAug(Augmenter):
    """A random crop of ``size`` (w, h)."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        return random_crop(src, self.size, self.interp)[0]


class RandomSizedCropAug(Augmenter):
    """A crop of random area and aspect ratio, resized to ``size`` (w, h)."""

    def __init__(self, size, area, ratio, interp=2, **kwargs):
        super().__init__(size=size, area=area, ratio=ratio, interp=interp)
        self.size = size
        if "min_area" in kwargs:
            warnings.warn("`min_area` is deprecated. Please use `area` instead.",
                          DeprecationWarning, stacklevel=2)
            self.area = kwargs.pop("min_area")
        else:
            self.area = area
        self.ratio = ratio
        self.interp = interp
        if kwargs:
            raise TypeError(f"unexpected keyword arguments for `RandomSizedCropAug`: "
                            f"{list(kwargs)}")

    def __call__(self, src):
        return random_size_crop(src, self.size, self.area, self.ratio, self.interp)[0]


class CenterCropAug(Augmenter):
    """The central crop of ``size`` (w, h)."""

    def __init__(self, size, interp=2):
        super().__init__(size=size, interp=interp)
        self.size = size
        self.interp = interp

    def __call__(self, src):
        return center_crop(src, self.size, self.interp)[0]


class RandomOrderAug(Augmenter):
    """Apply the augmenters ``ts`` in a random order."""

    def __init__(self, ts):
        super().__init__()
        self.ts = ts

    def dumps(self):
        return [self.__class__.__name__.lower(), [x.dumps() for x in self.ts]]

    def __call__(self, src):
        random.shuffle(self.ts)
        for t in self.ts:
            src = t(src)
        return src


def _float_tensor(src, what):
    t = _t(src)
    if not t.is_floating_point():
        raise MXNetError(f"{what}: expects a float image (put CastAug before it); got dtype "
                         f"{src.dtype}")
    return t


class BrightnessJitterAug(Augmenter):
    """Scale by ``1 + U(-brightness, brightness)``."""

    def __init__(self, brightness):
        super().__init__(brightness=brightness)
        self.brightness = brightness

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.brightness, self.brightness)
        _float_tensor(src, "BrightnessJitterAug").mul_(alpha)
        return src


_GRAY_COEF = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32)


class ContrastJitterAug(Augmenter):
    """Blend with the mean grey level: ``alpha * src + (1 - alpha) * mean_gray``."""

    def __init__(self, contrast):
        super().__init__(contrast=contrast)
        self.contrast = contrast
        self.coef = nd_array([[[0.299, 0.587, 0.114]]])

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.contrast, self.contrast)
        t = _float_tensor(src, "ContrastJitterAug")
        gray = t * _GRAY_COEF.to(t.dtype)
        gray = (3.0 * (1.0 - alpha) / gray.numel()) * gray.sum()
        t.mul_(alpha)
        t.add_(gray)
        return src


class SaturationJitterAug(Augmenter):
    """Blend each pixel with its grey level."""

    def __init__(self, saturation):
        super().__init__(saturation=saturation)
        self.saturation = saturation
        self.coef = nd_array([[[0.299, 0.587, 0.114]]])

    def __call__(self, src):
        alpha = 1.0 + random.uniform(-self.saturation, self.saturation)
        t = _float_tensor(src, "SaturationJitterAug")
        gray = (t * _GRAY_COEF.to(t.dtype)).sum(dim=2, keepdim=True)
        gray.mul_(1.0 - alpha)
        t.mul_(alpha)
        t.add_(gray)
        return src


class HueJitterAug(Augmenter):
    """Rotate the hue by ``U(-hue, hue) * pi`` in YIQ space."""

    def __init__(self, hue):
        super().__init__(hue=hue)
        self.hue = hue
        self.tyiq = np.array([[0.299, 0.587, 0.114],
                              [0.596, -0.274, -0.321],
                              [0.211, -0.523, 0.311]])
        self.ityiq = np.array([[1.0, 0.956, 0.621],
                               [1.0, -0.272, -0.647],
                               [1.0, -1.107, 1.705]])

    def __call__(self, src):
        alpha = random.uniform(-self.hue, self.hue)
        u = np.cos(alpha * np.pi)
        w = np.sin(alpha * np.pi)
        bt = np.array([[1.0, 0.0, 0.0], [0.0, u, -w], [0.0, w, u]])
        t = np.dot(np.dot(self.ityiq, bt), self.tyiq).T
        x = _float_tensor(src, "HueJitterAug")
        out = x @ torch.from_numpy(t.astype(np.float32)).to(x.dtype)
        return NDArray(out.contiguous(), src.context)


class ColorJitterAug(RandomOrderAug):
    """Brightness, contrast and saturation jitter in a random order."""

    def __init__(self, brightness, contrast, saturation):
        ts = []
        if brightness > 0:
            ts.append(BrightnessJitterAug(brightness))
        if contrast > 0:
            ts.append(ContrastJitterAug(contrast))
        if saturation > 0:
            ts.append(SaturationJitterAug(saturation))
        super().__init__(ts)


class LightingAug(Augmenter):
    """AlexNet-style PCA lighting noise: add ``eigvec @ (alpha * eigval)``, ``alpha`` drawn
    from ``N(0, alphastd)``."""

    def __init__(self, alphastd, eigval, eigvec):
        super().__init__(alphastd=alphastd, eigval=eigval, eigvec=eigvec)
        self.alphastd = alphastd
        self.eigval = eigval
        self.eigvec = eigvec

    def __call__(self, src):
        alpha = np.random.normal(0, self.alphastd, size=(3,))
        rgb = np.dot(self.eigvec * alpha, self.eigval)
        t = _float_tensor(src, "LightingAug")
        t.add_(torch.from_numpy(np.asarray(rgb, np.float32)).to(t.dtype))
        return src


class ColorNormalizeAug(Augmenter):
    """``(src - mean) / std``."""

    def __init__(self, mean, std):
        super().__init__(mean=mean, std=std)
        self.mean = mean if mean is None or isinstance(mean, NDArray) else nd_array(mean)
        self.std = std if std is None or isinstance(std, NDArray) else nd_array(std)

    def __call__(self, src):
        _float_tensor(src, "ColorNormalizeAug")
        return color_normalize(src, self.mean, self.std)


class RandomGrayAug(Augmenter):
    """With probability ``p``, replace the image by its grey level (in all channels)."""

    def __init__(self, p):
        super().__init__(p=p)
        self.p = p
        self.mat = nd_array([[0.21, 0.21, 0.21], [0.72, 0.72, 0.72], [0.07, 0.07, 0.07]])

    def __call__(self, src):
        if random.random() < self.p:
            x = _float_tensor(src, "RandomGrayAug")
            src = NDArray((x @ self.mat._t.to(x.dtype)).contiguous(), src.context)
        return src


class HorizontalFlipAug(Augmenter):
    """With probability ``p``, flip left-right."""

    def __init__(self, p):
        super().__init__(p=p)
        self.p = p

    def __call__(self, src):
        if random.random() < self.p:
            src = NDArray(torch.flip(_t(src), dims=[1]).contiguous(), src.context)
        return src


class CastAug(Augmenter):
    """Cast to ``typ`` (float32)."""

    def __init__(self, typ="float32"):
        super().__init__(type=typ)
        self.typ = typ

    def __call__(self, src):
        return src.astype(self.typ)


def CreateAugmenter(data_shape, resize=0, rand_crop=False, rand_resize=False,
                    rand_mirror=False, mean=None, std=None, brightness=0, contrast=0,
                    saturation=0, hue=0, pca_noise=0, rand_gray=0, inter_method=2):
    """MXNet's standard augmenter list for ``data_shape`` (c, h, w): resize, crop (random,
    random-sized or centre), mirror, cast to float32, colour jitter, hue, PCA lighting, random
    grey, normalisation (``mean=True`` / ``std=True`` use ImageNet's values)."""
    auglist = []
    if resize > 0:
        auglist.append(ResizeAug(resize, inter_method))
    crop_size = (data_shape[2], data_shape[1])
    if rand_resize:
        if not rand_crop:
            raise ValueError("CreateAugmenter: rand_resize needs rand_crop=True")
        auglist.append(RandomSizedCropAug(crop_size, 0.08, (3.0 / 4.0, 4.0 / 3.0),
                                          inter_method))
    elif rand_crop:
        auglist.append(RandomCropAug(crop_size, inter_method))
    else:
        auglist.append(CenterCropAug(crop_size, inter_method))
    if rand_mirror:
        auglist.append(HorizontalFlipAug(0.5))
    auglist.append(CastAug())
    if brightness or contrast or saturation:
        auglist.append(ColorJitterAug(brightness, contrast, saturation))
    if hue:
        auglist.append(HueJitterAug(hue))
    if pca_noise > 0:
        eigval = np.array([55.46, 4.794, 1.148])
        eigvec = np.array([[-0.5675, 0.7192, 0.4009],
                           [-0.5808, -0.0045, -0.8140],
                           [-0.5836, -0.6948, 0.4203]])
        auglist.append(LightingAug(pca_noise, eigval, eigvec))
    if rand_gray > 0:
        auglist.append(RandomGrayAug(rand_gray))
    if mean is True:
        mean = nd_array([123.68, 116.28, 103.53])
    elif mean is not None:
        if not (isinstance(mean, (np.ndarray, NDArray)) and mean.shape[0] in (1, 3)):
            raise ValueError("CreateAugmenter: mean must be True or an array of 1 or 3 values")
    if std is True:
        std = nd_array([58.395, 57.12, 57.375])
    elif std is not None:
        if not (isinstance(std, (np.ndarray, NDArray)) and std.shape[0] in (1, 3)):
            raise ValueError("CreateAugmenter: std must be True or an array of 1 or 3 values")
    if mean is not None or std is not None:
        auglist.append(ColorNormalizeAug(mean, std))
    return auglist
