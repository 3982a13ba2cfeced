"""MXNet's ``mx.log``: ``get_logger(name, filename, filemode, level)`` with a level-tagged
format (``[12:00:00] I message`` style prefixes, as MXNet's logs print them)."""
from __future__ import annotations

import logging
import sys
import warnings  # noqa: F401  (MXNet's module exposes it)

from logging import CRITICAL, DEBUG, ERROR, INFO, NOTSET, WARNING  # noqa: F401

__all__ = ["get_logger", "getLogger", "CRITICAL", "DEBUG", "ERROR", "INFO", "NOTSET", "WARNING"]

_LABELS = {CRITICAL: "C", ERROR: "E", WARNING: "W", INFO: "I", DEBUG: "D"}


class _Formatter(logging.Formatter):
    """One letter for the level, then time, file:line and the message."""

    def __init__(self):
        super().__init__(datefmt="%H:%M:%S")

    def format(self, record):
        label = _LABELS.get(record.levelno, "U")
        self._style._fmt = (f"{label}%(asctime)s %(process)d %(pathname)s:%(funcName)s:"
                            f"%(lineno)d] %(message)s")
        return super().format(record)


def get_logger(name=None, filename=None, filemode=None, level=WARNING):
    """A logger with MXNet's format, writing to ``filename`` (mode ``filemode``, default 'a')
    or to stderr; configured once per name."""
    logger = logging.getLogger(name)
    if name is not None and not getattr(logger, "_mxc_init", False):
        logger._mxc_init = True
        handler = (logging.FileHandler(filename, filemode or "a") if filename
                   else logging.StreamHandler(sys.stderr))
        handler.setFormatter(_Formatter())
        logger.addHandler(handler)
        logger.setLevel(level)
    return logger


def getLogger(name=None, filename=None, filemode=None, level=WARNING):  # noqa: N802
    """Deprecated name of :func:`get_logger` (as in MXNet)."""
    import warnings as _w
    _w.warn("getLogger is deprecated, use get_logger instead.", DeprecationWarning, stacklevel=2)
    return get_logger(name, filename, filemode, level)
