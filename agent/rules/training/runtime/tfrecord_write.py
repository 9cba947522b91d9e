"""Writing TFRecord files of ``tf.train.Example`` records without TensorFlow, copied into
converted scripts by utilities.py (image_ops.py reads them back: ``TFRecordDataset``,
``parse_single_example``).

``Example``/``Features``/``Feature`` and the three value lists take TF's keyword arguments
and ``SerializeToString()`` writes the protobuf wire format TF's messages use (the feature
map's entries in insertion order; protobuf leaves that order free, so bytes may differ from
TF's while every parser reads the same record). ``TFRecordWriter`` frames each record as TF
does: its length, the length's masked CRC-32C, the bytes, their masked CRC-32C; GZIP and
ZLIB options compress the whole file. No ``__future__`` import: the code is inlined.
"""

import gzip
import struct
import zlib
from functools import cache
from typing import Any

import numpy as np


class BytesList:
    """tf.train.BytesList."""

    def __init__(self, value: Any = ()) -> None:
        self.value = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in value]

    def SerializeToString(self) -> bytes:  # noqa: N802
        return b"".join(_pb_field(1, v) for v in self.value)


class FloatList:
    """tf.train.FloatList (float32, packed)."""

    def __init__(self, value: Any = ()) -> None:
        self.value = [float(v) for v in np.asarray(value, dtype=np.float32).reshape(-1)]

    def SerializeToString(self) -> bytes:  # noqa: N802
        if not self.value:
            return b""
        return _pb_field(1, struct.pack(f"<{len(self.value)}f", *self.value))


class Int64List:
    """tf.train.Int64List (packed varints, negatives as 64-bit two's complement)."""

    def __init__(self, value: Any = ()) -> None:
        self.value = [int(v) for v in np.asarray(value, dtype=np.int64).reshape(-1)]

    def SerializeToString(self) -> bytes:  # noqa: N802
        if not self.value:
            return b""
        return _pb_field(1, b"".join(_pb_varint(v & (2**64 - 1)) for v in self.value))


class Feature:
    """tf.train.Feature: one of bytes_list, float_list, int64_list."""

    def __init__(self, bytes_list: Any = None, float_list: Any = None,
                 int64_list: Any = None) -> None:
        given = [(n, v) for n, v in ((1, bytes_list), (2, float_list), (3, int64_list))
                 if v is not None]
        if len(given) > 1:
            raise ValueError("tf.train.Feature: one of bytes_list, float_list, int64_list")
        self.kind = given[0] if given else None
        self.bytes_list, self.float_list, self.int64_list = bytes_list, float_list, int64_list

    def SerializeToString(self) -> bytes:  # noqa: N802
        if self.kind is None:
            return b""
        number, value = self.kind
        return _pb_field(number, value.SerializeToString())


class Features:
    """tf.train.Features: a map of names to Features."""

    def __init__(self, feature: Any = None) -> None:
        self.feature = dict(feature or {})

    def SerializeToString(self) -> bytes:  # noqa: N802
        return b"".join(_pb_field(1, _pb_field(1, str(k).encode("utf-8"))
                               + _pb_field(2, v.SerializeToString()))
                        for k, v in self.feature.items())


class Example:
    """tf.train.Example."""

    def __init__(self, features: Any = None) -> None:
        self.features = features if features is not None else Features()

    def SerializeToString(self) -> bytes:  # noqa: N802
        return _pb_field(1, self.features.SerializeToString())


class TFRecordWriter:
    """tf.io.TFRecordWriter: ``write`` each record's bytes, ``close`` (or leave the
    ``with`` block) to finish the file; ``options`` "GZIP"/"ZLIB" compress it."""

    def __init__(self, path: Any, options: Any = None) -> None:
        kind = getattr(options, "compression_type", options) or ""
        if kind not in ("", "GZIP", "ZLIB"):
            raise ValueError(f"TFRecordWriter: unknown compression {kind!r}")
        self.file: Any = gzip.open(str(path), "wb") if kind == "GZIP" else open(str(path), "wb")
        self.packer: Any = zlib.compressobj() if kind == "ZLIB" else None

    def write(self, record: Any) -> None:
        data = record.encode("utf-8") if isinstance(record, str) else bytes(record)
        length = struct.pack("<Q", len(data))
        framed = b"".join([length, struct.pack("<I", _masked_crc(length)), data,
                           struct.pack("<I", _masked_crc(data))])
        self.file.write(self.packer.compress(framed) if self.packer is not None else framed)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        if self.file.closed:
            return
        if self.packer is not None:
            self.file.write(self.packer.flush())
        self.file.close()

    def __enter__(self) -> "TFRecordWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _pb_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _pb_field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _pb_varint(number << 3 | 2) + _pb_varint(len(payload)) + payload


@cache
def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


def _masked_crc(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C, rotated right by 15 bits plus a constant."""
    crc = 0xFFFFFFFF
    table = _crc32c_table()
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
