"""Errors and small shared helpers.

Every error mxc raises on bad input is an :class:`MXNetError`, so scripts written for MXNet that
``except mx.base.MXNetError`` keep working. Subclasses also derive from the builtin exception a
Python user would expect (``ShapeError`` is a ``ValueError``), and messages start with the operator
and symbol name, then say what was received and what was expected.
"""
from __future__ import annotations

__all__ = [
    "MXNetError", "ShapeError", "DTypeError", "AttrError", "GraphError", "ParseError",
    "VerifyError", "FormatError", "UnsupportedError", "StateError", "op_prefix", "atomic_write",
]

import os
import tempfile
from contextlib import contextmanager


class MXNetError(Exception):
    """Base of every error mxc raises on bad input (``mx.base.MXNetError``)."""


class ShapeError(MXNetError, ValueError):
    """A shape that does not fit an operator."""


class DTypeError(MXNetError, TypeError):
    """A dtype an operator does not accept, or two that disagree."""


class AttrError(MXNetError, ValueError):
    """An operator attribute that is missing, unknown or out of range."""


class GraphError(MXNetError, ValueError):
    """A malformed symbol graph or IR graph (unknown operator, bad reference, cycle)."""


class ParseError(MXNetError, ValueError):
    """IR text that does not parse; the message gives line:col."""


class VerifyError(MXNetError, AssertionError):
    """An IR invariant broken by a pass; the message shows the IR around the bad op."""


class FormatError(MXNetError, ValueError):
    """A file (symbol JSON, .params, .states) that is truncated or not in the expected format."""


class UnsupportedError(MXNetError, NotImplementedError):
    """A feature MXNet has and mxc does not support yet; raised early, with what to do instead."""


class StateError(MXNetError, RuntimeError):
    """An API call made out of order (forward before bind, update before init_optimizer, ...)."""


def op_prefix(opname: str, name: str | None) -> str:
    """``"FullyConnected 'fc1'"``: how every operator error message starts."""
    return f"{opname} '{name}'" if name else opname


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Write to a temporary file beside ``path`` and rename it over ``path`` on success.

    A crash (or exception) half way leaves the previous file untouched and no partial file behind.
    """
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (or the old one's)
        try:
            perm = os.stat(path).st_mode & 0o7777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            perm = 0o666 & ~umask
        os.chmod(tmp, perm)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
