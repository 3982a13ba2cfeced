"""``mx.image`` (also ``mx.img``): image decoding, resizing and augmentation, ``ImageIter``
and, in ``mx.image.detection`` (``mx.image.det``), the detection augmenters and
``ImageDetIter``. Needs OpenCV: ``pip install 'mxc[image]'``."""
from . import detection, image
from . import detection as det
from .detection import *  # noqa: F403
from .detection import __all__ as _det_all
from .image import *  # noqa: F403
from .image import __all__ as _image_all

__all__ = [*_image_all, *_det_all, "ImageIter", "ImageDetIter", "image", "detection",  # noqa: F822
           "det"]


def __getattr__(name):
    # the iterators are DataIters: they live with the other iterators in runtime/
    if name in ("ImageIter", "ImageDetIter"):
        from runtime import io_image
        return getattr(io_image, name)
    raise AttributeError(f"module 'mxc.image' has no attribute {name!r}")
