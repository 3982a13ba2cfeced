"""``mx.recordio``: MXNet's RecordIO files (``.rec``) and their index files (``.idx``).

The byte format is dmlc-core's, which MXNet writes and reads, so files go both ways between
MXNet 1.9.1 and mxc:

* Each record is ``uint32 magic (0xced7230a)``, ``uint32 lrec``, the payload and zero padding to
  a multiple of 4 bytes; all little-endian. ``lrec`` holds the payload length in its low 29 bits
  and a continuation flag in its top 3 bits: 0 for a whole record; 1, 2, 3 for the first, middle
  and last part of a record whose payload contained the magic word at a 4-byte aligned offset.
  The writer splits the payload there and drops the magic word; the reader puts it back.
* An index file has one ``key<TAB>byte offset`` line per record (``MXIndexedRecordIO``).
* An image record's payload starts with ``IRHeader`` packed as ``struct 'IfQQ'`` (flag, label,
  id, id2: 24 bytes); ``flag > 0`` means ``flag`` float32 labels follow the header and
  ``label`` is 0. Then come the encoded image's bytes (:func:`pack`, :func:`pack_img`).

Readers report a bad file as a :class:`~mxc.base.FormatError` that names the file, the record's
number and its byte offset. Writers write to a temporary file beside the target and rename it at
``close()``, so a crash never leaves half a file behind.
"""
from __future__ import annotations

import mmap
import numbers
import os
import struct
from collections import namedtuple
from multiprocessing import current_process

import numpy as np

from .base import FormatError, MXNetError, atomic_write

__all__ = ["IRHeader", "MXIndexedRecordIO", "MXRecordIO", "RecordFileNotFoundError", "pack",
           "pack_img", "unpack", "unpack_img"]

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LEN_MASK = (1 << 29) - 1
_MAX_RECORD = 1 << 29


class RecordFileNotFoundError(MXNetError, FileNotFoundError):
    """A RecordIO or index file that does not exist."""


def _encode_lrec(cflag: int, length: int) -> int:
    return (cflag << 29) | length


def _write_record(f, buf) -> int:
    """Write one record in dmlc's format to the binary file ``f``; the number of bytes."""
    buf = bytes(buf) if not isinstance(buf, bytes) else buf
    n = len(buf)
    if n >= _MAX_RECORD:
        raise MXNetError(f"RecordIO: a record holds at most 2**29 - 1 bytes; got {n}")
    written = 0
    dptr = 0
    pos = buf.find(_MAGIC_BYTES)
    lower_align = n & ~3
    while 0 <= pos < lower_align:
        if pos % 4 == 0:
            # the magic word inside the payload: end this part here and drop the word
            f.write(struct.pack("<II", MAGIC, _encode_lrec(1 if dptr == 0 else 2, pos - dptr)))
            f.write(buf[dptr:pos])
            written += 8 + pos - dptr
            dptr = pos + 4
            pos = buf.find(_MAGIC_BYTES, dptr)
        else:
            pos = buf.find(_MAGIC_BYTES, pos + 1)
    f.write(struct.pack("<II", MAGIC, _encode_lrec(3 if dptr else 0, n - dptr)))
    f.write(buf[dptr:])
    pad = (-n) % 4
    if pad:
        f.write(b"\0" * pad)
    return written + 8 + n - dptr + pad


def _bad(path, index, offset, what) -> FormatError:
    return FormatError(f"RecordIO file {path!r}: record {index} at byte offset {offset}: {what}")


def read_record_at(buf, pos: int, end: int, path, index):
    """Parse the record starting at ``pos`` in the bytes-like ``buf`` (which ends at ``end``).

    Returns ``(payload, next_pos)``; ``payload`` is a memoryview into ``buf`` for a record in
    one part and bytes for a record split around escaped magic words. Raises FormatError naming
    ``path``, record ``index`` and the byte offset for a bad magic word or a truncated record.
    """
    parts = []
    start = pos
    while True:
        if pos + 8 > end:
            raise _bad(path, index, pos, f"truncated: {end - pos} bytes left where an 8-byte "
                       "record header was expected")
        magic, lrec = struct.unpack_from("<II", buf, pos)
        if magic != MAGIC:
            raise _bad(path, index, pos, f"bad magic number 0x{magic:08x} (expected "
                       f"0x{MAGIC:08x}): not a RecordIO file, or corrupt")
        cflag = lrec >> 29
        length = lrec & _LEN_MASK
        padded = (length + 3) & ~3
        if pos + 8 + padded > end:
            raise _bad(path, index, start, f"truncated: the record needs {8 + padded} bytes "
                       f"from byte {pos} but the file ends at byte {end}")
        if cflag not in (0, 1) and not parts:
            raise _bad(path, index, pos, f"record continuation flag {cflag} where a new "
                       "record was expected (corrupt file)")
        parts.append(memoryview(buf)[pos + 8:pos + 8 + length])
        pos += 8 + padded
        if cflag in (0, 3):
            break
        if cflag == 1 and len(parts) > 1:
            raise _bad(path, index, pos, "a record part starts inside another record")
    if len(parts) == 1:
        return parts[0], pos
    return _MAGIC_BYTES.join(bytes(p) for p in parts), pos


class MXRecordIO:
    """Reads or writes a RecordIO file sequentially (MXNet's ``mx.recordio.MXRecordIO``).

    Parameters
    ----------
    uri : str
        Path to the record file.
    flag : str
        ``'w'`` to write (the file is replaced when the writer is closed) or ``'r'`` to read.
    """

    def __init__(self, uri, flag):
        self.uri = os.fspath(uri)
        self.flag = flag
        self.pid = None
        self.is_open = False
        self.writable = flag == "w"
        self._f = None
        self._cm = None
        self._count = 0
        self._where = None
        self.open()

    def open(self):
        """Opens the record file (a writer starts it afresh)."""
        if self.flag == "w":
            self._cm = atomic_write(self.uri, "wb")
            self._f = self._cm.__enter__()
            self._pos = 0
            self.writable = True
        elif self.flag == "r":
            try:
                self._f = open(self.uri, "rb")
            except FileNotFoundError:
                raise RecordFileNotFoundError(
                    f"RecordIO file {self.uri!r} does not exist") from None
            self._size = os.fstat(self._f.fileno()).st_size
            self.writable = False
        else:
            raise ValueError(f"Invalid flag {self.flag}")
        self._count = 0
        self._where = None
        self.pid = current_process().pid
        self.is_open = True

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110  (interpreter shutdown)
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getstate__(self):
        """Pickles as the path and flag; a file open when pickled is opened again on load."""
        is_open = self.is_open
        self.close()
        d = dict(self.__dict__)
        d["is_open"] = is_open
        for k in ("_f", "_cm"):
            d[k] = None
        return d

    def __setstate__(self, d):
        self.__dict__ = d
        is_open = d["is_open"]
        self.is_open = False
        if is_open:
            self.open()

    def _check_pid(self, allow_reset=False):
        """A file opened in another process is reopened (``allow_reset``) or refused."""
        if self.pid != current_process().pid:
            if allow_reset:
                self.reset()
            else:
                raise MXNetError(f"RecordIO file {self.uri!r}: forbidden operation in a "
                                 "process other than the one that opened it")

    def close(self):
        """Closes the record file; a writer's file appears under its name now."""
        if not self.is_open:
            return
        self.is_open = False
        self.pid = None
        if self.writable:
            cm, self._cm = self._cm, None
            self._f = None
            cm.__exit__(None, None, None)
        else:
            self._f.close()
            self._f = None

    def reset(self):
        """Back to the first record (a writer starts the file again, empty)."""
        self.close()
        self.open()

    def write(self, buf):
        """Appends ``buf`` (bytes) as one record."""
        if not self.writable:
            raise MXNetError(f"RecordIO file {self.uri!r} is open for reading; cannot write")
        if not self.is_open:
            raise MXNetError(f"RecordIO file {self.uri!r} is closed")
        self._check_pid(allow_reset=False)
        if isinstance(buf, str):
            buf = buf.encode("utf-8")
        self._pos += _write_record(self._f, buf)
        self._count += 1

    def read(self):
        """The next record as bytes, or None at the end of the file."""
        if self.writable:
            raise MXNetError(f"RecordIO file {self.uri!r} is open for writing; cannot read")
        if not self.is_open:
            raise MXNetError(f"RecordIO file {self.uri!r} is closed")
        self._check_pid(allow_reset=False)
        f = self._f
        start = f.tell()
        where = self._where if self._where is not None else self._count
        self._where = None
        parts = []
        pos = start
        while True:
            head = f.read(8)
            if not head and not parts:
                return None
            if len(head) < 8:
                raise _bad(self.uri, where, pos, f"truncated: {len(head)} bytes left "
                           "where an 8-byte record header was expected")
            magic, lrec = struct.unpack("<II", head)
            if magic != MAGIC:
                raise _bad(self.uri, where, pos, f"bad magic number 0x{magic:08x} "
                           f"(expected 0x{MAGIC:08x}): not a RecordIO file, or corrupt")
            cflag = lrec >> 29
            length = lrec & _LEN_MASK
            padded = (length + 3) & ~3
            if cflag not in (0, 1) and not parts:
                raise _bad(self.uri, where, pos, f"record continuation flag {cflag} "
                           "where a new record was expected (corrupt file)")
            data = f.read(padded)
            if len(data) < padded:
                raise _bad(self.uri, where, start, f"truncated: the record needs "
                           f"{8 + padded} bytes from byte {pos}; the file ends at byte "
                           f"{pos + 8 + len(data)}")
            parts.append(data[:length])
            pos += 8 + padded
            if cflag in (0, 3):
                break
        self._count += 1
        return parts[0] if len(parts) == 1 else _MAGIC_BYTES.join(parts)


class MXIndexedRecordIO(MXRecordIO):
    """Reads or writes a RecordIO file with an index file, for random access by key
    (MXNet's ``mx.recordio.MXIndexedRecordIO``).

    Parameters
    ----------
    idx_path : str
        Path to the index file (``key<TAB>offset`` lines).
    uri : str
        Path to the record file.
    flag : str
        ``'w'`` or ``'r'``.
    key_type : type
        Type of the keys (int).
    """

    def __init__(self, idx_path, uri, flag, key_type=int):
        self.idx_path = os.fspath(idx_path)
        self.idx = {}
        self.keys = []
        self.key_type = key_type
        self.fidx = None
        self._idx_cm = None
        super().__init__(uri, flag)

    def open(self):
        super().open()
        self.idx = {}
        self.keys = []
        if self.writable:
            self._idx_cm = atomic_write(self.idx_path, "w")
            self.fidx = self._idx_cm.__enter__()
            return
        try:
            self.fidx = open(self.idx_path)
        except FileNotFoundError:
            super().close()
            raise RecordFileNotFoundError(
                f"index file {self.idx_path!r} (for RecordIO file {self.uri!r}) does not "
                "exist") from None
        for lineno, line in enumerate(iter(self.fidx.readline, ""), 1):
            fields = line.strip().split("\t")
            if fields == [""]:
                continue
            try:
                key = self.key_type(fields[0])
                pos = int(fields[1])
            except (ValueError, IndexError):
                super().close()
                raise FormatError(f"index file {self.idx_path!r}: line {lineno}: expected "
                                  f"'key<TAB>byte offset'; got {line.rstrip()!r}") from None
            if not 0 <= pos < max(self._size, 1):
                super().close()
                raise FormatError(f"index file {self.idx_path!r}: line {lineno}: byte offset "
                                  f"{pos} is outside RecordIO file {self.uri!r} "
                                  f"({self._size} bytes)")
            self.idx[key] = pos
            self.keys.append(key)

    def close(self):
        """Closes the record and index files."""
        if not self.is_open:
            return
        super().close()
        if self._idx_cm is not None:
            cm, self._idx_cm = self._idx_cm, None
            self.fidx = None
            cm.__exit__(None, None, None)
        elif self.fidx is not None:
            self.fidx.close()
            self.fidx = None

    def __getstate__(self):
        d = super().__getstate__()
        d["fidx"] = None
        d["_idx_cm"] = None
        return d

    def seek(self, idx):
        """Moves the read position to the record with key ``idx``."""
        if self.writable:
            raise MXNetError(f"RecordIO file {self.uri!r} is open for writing; cannot seek")
        self._check_pid(allow_reset=True)
        try:
            pos = self.idx[idx]
        except KeyError:
            raise KeyError(f"key {idx!r} is not in index file {self.idx_path!r}") from None
        self._f.seek(pos)
        self._where = f"with key {idx!r}"

    def tell(self):
        """The writer's position: the byte offset the next record will start at."""
        if not self.writable:
            raise MXNetError(f"RecordIO file {self.uri!r} is open for reading; tell() is the "
                             "writer's position")
        return self._pos

    def read_idx(self, idx):
        """The record with key ``idx``."""
        self.seek(idx)
        return self.read()

    def write_idx(self, idx, buf):
        """Appends ``buf`` as the record with key ``idx``."""
        key = self.key_type(idx)
        pos = self.tell()
        self.write(buf)
        self.fidx.write(f"{key}\t{pos}\n")
        self.idx[key] = pos
        self.keys.append(key)


IRHeader = namedtuple("HEADER", ["flag", "label", "id", "id2"])
"""The header of an image record: ``flag`` (set by :func:`pack` to the number of labels when
``label`` is an array, else 0), ``label`` (a float, or an array of floats), ``id`` (the record's
id) and ``id2`` (its high bits, usually 0)."""

_IR_FORMAT = "IfQQ"
_IR_SIZE = struct.calcsize(_IR_FORMAT)


def pack(header, s):
    """``header`` (an :data:`IRHeader`) and the bytes ``s`` as one image-record payload."""
    header = IRHeader(*header)
    if isinstance(s, str):
        s = s.encode("utf-8")
    if isinstance(header.label, numbers.Number):
        header = header._replace(flag=0)
    else:
        label = np.asarray(header.label, dtype=np.float32)
        header = header._replace(flag=label.size, label=0)
        s = label.tobytes() + bytes(s)
    return struct.pack(_IR_FORMAT, *header) + bytes(s)


def unpack(s):
    """``(IRHeader, payload bytes)`` of an image record; ``header.label`` is a float32 array
    when the record holds more than one label (``flag > 0``)."""
    if len(s) < _IR_SIZE:
        raise FormatError(f"image record of {len(s)} bytes is shorter than its "
                          f"{_IR_SIZE}-byte header")
    header = IRHeader(*struct.unpack(_IR_FORMAT, s[:_IR_SIZE]))
    s = s[_IR_SIZE:]
    if header.flag > 0:
        if len(s) < 4 * header.flag:
            raise FormatError(f"image record: its header says {header.flag} labels "
                              f"({4 * header.flag} bytes) but only {len(s)} bytes follow it")
        header = header._replace(label=np.frombuffer(s, np.float32, header.flag))
        s = s[header.flag * 4:]
    return header, s


def unpack_img(s, iscolor=-1):
    """``(IRHeader, image)``: the record's image decoded as OpenCV does (BGR order for colour,
    ``iscolor`` as ``cv2.imdecode``'s flag: -1 unchanged, 0 grey, 1 colour)."""
    from .image import _codec
    header, s = unpack(s)
    img = _codec.decode(s, iscolor, bgr=True, what=f"image of record id {header.id}")
    return header, img


def pack_img(header, img, quality=95, img_fmt=".jpg"):
    """``header`` and the numpy image ``img`` (BGR order, as OpenCV) encoded as ``img_fmt``
    (``.jpg`` with JPEG ``quality`` 1-100, ``.png`` with compression level ``quality`` 0-9)
    as one image-record payload."""
    from .image import _codec
    return pack(header, _codec.encode(img, img_fmt, quality))


def _scan(path, buf, begin: int, end: int, first_index: int = 0):
    """Byte offsets of the records that start in ``buf[begin:end]`` (a whole number of
    records); FormatError names ``path``, the record number and its offset if one is bad."""
    offsets = []
    pos = begin
    i = first_index
    unpack_from = struct.unpack_from
    while pos < end:
        if pos + 8 > end:
            raise _bad(path, i, pos, f"truncated: {end - pos} bytes left where an 8-byte "
                       "record header was expected")
        magic, lrec = unpack_from("<II", buf, pos)
        if magic != MAGIC:
            raise _bad(path, i, pos, f"bad magic number 0x{magic:08x} (expected "
                       f"0x{MAGIC:08x}): not a RecordIO file, or corrupt")
        cflag = lrec >> 29
        if cflag in (0, 1):
            offsets.append(pos)
            i += 1
        nxt = pos + 8 + (((lrec & _LEN_MASK) + 3) & ~3)
        if nxt > end:
            raise _bad(path, i - 1, offsets[-1] if offsets else pos,
                       f"truncated: the record needs {nxt - pos} bytes from byte {pos} but "
                       f"the file ends at byte {end}")
        pos = nxt
    return offsets


def _seek_record_begin(buf, pos: int, size: int) -> int:
    """The first record start at or after the 4-aligned ``pos`` (dmlc's RecordIOSplitter:
    a magic word followed by a flag of 0 or 1); ``size`` if there is none."""
    while pos + 8 <= size:
        if struct.unpack_from("<I", buf, pos)[0] == MAGIC:
            if (struct.unpack_from("<I", buf, pos + 4)[0] >> 29) in (0, 1):
                return pos
            pos += 8
        else:
            pos += 4
    return size


class RecordFile:
    """A RecordIO file mapped in memory, for the iterators: the records of one part
    (``num_parts`` / ``part_index``, split by bytes at record boundaries as dmlc's InputSplit
    does) and their payloads by position, safe to read from several threads."""

    def __init__(self, path, part_index: int = 0, num_parts: int = 1):
        self.path = os.fspath(path)
        try:
            self._file = open(self.path, "rb")
        except FileNotFoundError:
            raise RecordFileNotFoundError(f"RecordIO file {self.path!r} does not exist") \
                from None
        except IsADirectoryError:
            raise RecordFileNotFoundError(f"RecordIO path {self.path!r} is a directory; "
                                          "expected a .rec file") from None
        self.size = os.fstat(self._file.fileno()).st_size
        if num_parts < 1 or not 0 <= part_index < num_parts:
            raise MXNetError(f"RecordIO file {self.path!r}: part_index {part_index} must be in "
                             f"[0, num_parts={num_parts})")
        self.buf = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) \
            if self.size else b""
        # dmlc InputSplitBase::ResetPartition: equal byte ranges (rounded up to 4 bytes),
        # each moved forward to the next record start
        step = (self.size + num_parts - 1) // num_parts
        step = (step + 3) // 4 * 4
        begin = min(step * part_index, self.size)
        end = min(step * (part_index + 1), self.size)
        if begin != end:
            if end != self.size:
                end = _seek_record_begin(self.buf, end, self.size)
            if begin != 0:
                begin = _seek_record_begin(self.buf, begin, self.size)
        self.begin, self.end = begin, max(begin, end)
        self.offsets = _scan(self.path, self.buf, self.begin, self.end)

    def __len__(self):
        return len(self.offsets)

    def record(self, i: int):
        """The payload of record ``i`` of this part (a memoryview or bytes)."""
        return read_record_at(self.buf, self.offsets[i], self.end, self.path, i)[0]

    def close(self):
        if isinstance(self.buf, mmap.mmap):
            try:
                self.buf.close()
            except BufferError:     # a payload view is still alive; the GC closes it later
                pass
        self._file.close()
