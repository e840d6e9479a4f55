"""A minimal reader of the protobuf wire format: enough to walk an ONNX file's fields
without the ``onnx`` package (not part of the base install)."""

from __future__ import annotations

from collections.abc import Iterator


class Truncated(ValueError):
    """The data ends inside a protobuf field."""


def varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise Truncated("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) pairs of one message; length-delimited values as views.

    Raises :class:`Truncated` when a field runs past the end and ValueError when the bytes
    are not a sequence of protobuf fields.
    """
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("a malformed field (number 0)")
        if wire == 0:
            value, pos = varint(buf, pos)
            yield number, value
        elif wire == 2:
            length, pos = varint(buf, pos)
            if pos + length > len(buf):
                raise Truncated("truncated field")
            yield number, buf[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(buf):
                raise Truncated("truncated field")
            yield number, int.from_bytes(buf[pos : pos + size], "little")
            pos += size
        else:  # groups (3, 4) are not used by onnx.proto
            raise ValueError(f"unsupported wire type {wire}")
