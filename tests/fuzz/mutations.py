"""Byte-level mutations of the seed files: a hypothesis strategy that shrinks to the fewest, smallest edits.

A mutated input is a seed plus a list of edits applied in order: byte flips and overwrites, truncation,
insertions, deletions, duplication of a span (a repeated chunk, box or marker segment), a 16/32-bit integer
overwritten with a boundary value, and a width/height pair (found by :func:`seeds.dimension_fields`) set to
huge or odd values. PNG seeds may get their chunk CRCs fixed afterwards, so that edits reach the decoder
instead of stopping at Pillow's CRC check, and may get a whole chunk duplicated.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from hypothesis import strategies as st

from tests.fuzz import seeds

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Dimensions a bug likes: zero, one, around byte and word boundaries, and just under / over the engine's
# 32 MP decode limit (5656 x 5656 is 31.99 MP; 6000 x 6000 is 36 MP).
DIMENSIONS = (0, 1, 2, 255, 256, 4095, 4096, 5656, 6000, 16383, 16384, 32767, 65535, 1 << 24, 2**31 - 1)
INTEGERS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


@dataclass(frozen=True)
class Edit:
    """One edit; ``apply`` may clamp positions to the current length (earlier edits change it)."""

    op: str
    at: int = 0
    arg: int = 0
    payload: bytes = b""

    def apply(self, data: bytearray, name: str) -> bytearray:
        size = len(data)
        at = min(self.at, max(size - 1, 0))
        if self.op == "flip" and size:
            data[at] ^= self.arg or 1
        elif self.op == "set" and size:
            data[at] = self.arg & 0xFF
        elif self.op == "truncate":
            del data[at:]
        elif self.op == "insert":
            data[at:at] = self.payload
        elif self.op == "delete":
            del data[at : at + self.arg]
        elif self.op == "duplicate":
            span = bytes(data[at : at + self.arg])
            dest = min(int.from_bytes(self.payload or b"\0", "big"), size)
            data[dest:dest] = span
        elif self.op in {"int16", "int32"}:
            fmt = (">" if self.payload == b">" else "<") + ("H" if self.op == "int16" else "I")
            mask = 0xFFFF if self.op == "int16" else 0xFFFFFFFF
            if at + struct.calcsize(fmt) <= size:
                struct.pack_into(fmt, data, at, self.arg & mask)
        elif self.op == "dimensions":
            fields = seeds.dimension_fields(name)
            if fields:
                field = fields[self.at % len(fields)]
                width, height = struct.unpack(">QQ", self.payload)
                seeds.write_slot(data, field.width, width)
                seeds.write_slot(data, field.height, height)
        elif self.op == "png-duplicate-chunk":
            chunks = png_chunks(bytes(data))
            if chunks:
                start, end = chunks[self.at % len(chunks)]
                data[end:end] = data[start:end]
        return data


@dataclass(frozen=True)
class Mutant:
    """A seed name, its edits and the resulting bytes (what a failing example prints)."""

    seed: str
    edits: tuple[Edit, ...]
    fix_png_crc: bool
    data: bytes

    def __repr__(self) -> str:
        return f"Mutant(seed={self.seed!r}, edits={list(self.edits)!r}, fix_png_crc={self.fix_png_crc})"


def png_chunks(data: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of every complete chunk of a PNG (length, type, data, CRC), stopping at damage."""
    chunks, at = [], len(PNG_SIGNATURE)
    if not data.startswith(PNG_SIGNATURE):
        return chunks
    while at + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, at)
        end = at + 12 + length
        if end > len(data):
            break
        chunks.append((at, end))
        at = end
    return chunks


def fix_png_crcs(data: bytes) -> bytes:
    out = bytearray(data)
    for start, end in png_chunks(data):
        struct.pack_into(">I", out, end - 4, zlib.crc32(out[start + 4 : end - 4]))
    return bytes(out)


MAGIC_BYTES = 12
"""Long enough to cover every accepted format's magic number (RIFF....WEBP and ....ftyp are 12 bytes)."""


def _position(size: int) -> st.SearchStrategy[int]:
    """Positions biased towards the header after the magic number, where one byte changes the most.

    Edits anywhere, the magic number included, stay possible; but most edits keep the file recognisable, so
    they reach a format's parser instead of ending as ``NOT_AN_IMAGE``.
    """
    last = max(size - 1, 0)
    header = st.integers(min(MAGIC_BYTES, last), min(127, last))
    return st.one_of(header, st.integers(min(MAGIC_BYTES, last), last), st.integers(0, last))


@st.composite
def _edit(draw: st.DrawFn, size: int) -> Edit:
    op = draw(
        st.sampled_from(
            [
                "flip",
                "set",
                "truncate",
                "insert",
                "delete",
                "duplicate",
                "int16",
                "int32",
                "dimensions",
                "png-duplicate-chunk",
            ]
        )
    )
    at = draw(_position(size))
    if op == "truncate":  # cutting into the magic number only says NOT_AN_IMAGE (or EMPTY_INPUT) again
        last = max(size - 1, 0)
        return Edit(op, draw(st.integers(min(MAGIC_BYTES, last), last)))
    if op == "flip":
        return Edit(op, at, draw(st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128, 255])))
    if op == "set":
        return Edit(op, at, draw(st.sampled_from([0, 0xFF, 0x7F, 0x80]) | st.integers(0, 255)))
    if op == "insert":
        return Edit(op, at, payload=draw(st.binary(min_size=1, max_size=64)))
    if op in {"delete", "duplicate"}:
        length = draw(st.integers(1, 64) | st.integers(1, max(size, 1)))
        dest = draw(_position(size)).to_bytes(4, "big")
        return Edit(op, at, length, dest)
    if op in {"int16", "int32"}:
        value = draw(st.sampled_from(INTEGERS) | st.integers(0, 0xFFFFFFFF))
        return Edit(op, at, value, draw(st.sampled_from([b"<", b">"])))
    if op == "dimensions":
        dimension = st.sampled_from(DIMENSIONS) | st.integers(0, 1 << 32)
        width, height = draw(dimension), draw(dimension)
        return Edit(op, draw(st.integers(0, 7)), payload=struct.pack(">QQ", width, height))
    if op == "png-duplicate-chunk":
        return Edit(op, draw(st.integers(0, 15)))
    raise AssertionError(op)


@st.composite
def mutants(draw: st.DrawFn, name: str, max_edits: int = 6) -> Mutant:
    """Seed ``name`` with 0 to ``max_edits`` edits (0: the seed itself must still work)."""
    original = seeds.seed(name)
    data = bytearray(original)
    edits = []
    for _ in range(draw(st.integers(0, max_edits))):
        edit = draw(_edit(len(data)))
        edits.append(edit)
        data = edit.apply(data, name)
    # A bad CRC stops Pillow at the first damaged chunk: mostly fix them, so edits reach the decoder.
    fix = original.startswith(PNG_SIGNATURE) and draw(st.sampled_from([True, True, True, False]))
    result = fix_png_crcs(bytes(data)) if fix else bytes(data)
    return Mutant(name, tuple(edits), fix, result)


# Magic numbers of every format Pillow knows that we accept or refuse, followed by random bytes: reaches
# each plugin's header parser from nothing.
MAGICS = (
    b"",
    b"\xff\xd8\xff\xe0",
    b"\xff\xd8\xff\xe1",
    PNG_SIGNATURE,
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"RIFF\x00\x00\x00\x00WEBPVP8L",
    b"RIFF\x00\x00\x00\x00WEBPVP8X",
    b"BM",
    b"GIF89a",
    b"GIF87a",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x00\x18ftypheic",
    b"\x00\x00\x00\x1cftypavif",
    b"\x00\x00\x01\x00",  # ICO: refused
    b"8BPS",  # PSD: refused
    b"P6\n",  # PPM: refused
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000
    b"%PDF-",
    b"<svg",
)


@st.composite
def random_images(draw: st.DrawFn) -> Mutant:
    """A known magic number (or none) followed by up to 512 random bytes."""
    data = draw(st.sampled_from(MAGICS)) + draw(st.binary(max_size=512))
    return Mutant("random-bytes", (), False, data)
