"""Seed files for the image fuzzers: one small, valid file per accepted format and variant, made in code.

Every seed is 37 x 23 pixels (a size no encoder pads to, so its fields are easy to find again) and a few
hundred bytes to a few KB: mutations land in headers and chunk structure, not in megabytes of pixel data.
:func:`dimension_fields` finds where each seed stores its width and height, so a mutation can set them to
huge or odd values (the decompression-bomb and integer-overflow cases) without knowing each format.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pillow_heif
from PIL import Image, ImageCms

WIDTH, HEIGHT = 37, 23


def _rgb() -> Image.Image:
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = np.stack([xs * 7 % 256, ys * 11 % 256, (xs * ys) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels)


def _rgba() -> Image.Image:
    image = _rgb().convert("RGBA")
    alpha = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    alpha[4:-4, 6:-6] = 255
    alpha[8:-8, 10:-10] = 128
    image.putalpha(Image.fromarray(alpha))
    return image


def _palette_with_transparency() -> Image.Image:
    image = _rgb().quantize(16)
    image.info["transparency"] = 0
    return image


def _gray16() -> Image.Image:
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    return Image.fromarray((xs * 1700 + ys * 90).astype(np.uint16))  # I;16


def _float() -> Image.Image:
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    return Image.fromarray((xs / WIDTH + ys / HEIGHT).astype(np.float32) * 3.0)  # F


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _save(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _animated(fmt: str, base: Image.Image, **params: Any) -> bytes:
    second = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _save(base, fmt, save_all=True, append_images=[second], duration=50, loop=0, **params)


def _heic() -> bytes:
    pillow_heif.register_heif_opener()  # teaches Pillow to *write* HEIF too
    return _save(_rgb(), "HEIF", quality=60)


def _srgb_icc() -> bytes:
    profile: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return profile


# name -> maker; names read "<FORMAT>-<variant>" and become test ids.
_MAKERS: dict[str, Callable[[], bytes]] = {
    "jpeg-baseline": lambda: _save(_rgb(), "JPEG", quality=80),
    "jpeg-progressive-exif6": lambda: _save(_rgb(), "JPEG", progressive=True, exif=_exif(6)),
    "jpeg-gray": lambda: _save(_rgb().convert("L"), "JPEG"),
    "jpeg-cmyk-icc": lambda: _save(_rgb().convert("CMYK"), "JPEG", icc_profile=_srgb_icc()),
    "mpo": lambda: _animated("MPO", _rgb()),
    "png-rgb": lambda: _save(_rgb(), "PNG"),
    "png-rgba-exif8": lambda: _save(_rgba(), "PNG", exif=_exif(8)),
    "png-gray16": lambda: _save(_gray16(), "PNG"),
    "png-palette-trns": lambda: _save(_palette_with_transparency(), "PNG"),
    "png-la-icc": lambda: _save(_rgba().convert("LA"), "PNG", icc_profile=_srgb_icc()),
    "apng": lambda: _animated("PNG", _rgba()),
    "webp-lossy": lambda: _save(_rgb(), "WEBP", quality=60),
    "webp-lossless-alpha": lambda: _save(_rgba(), "WEBP", lossless=True),
    "webp-animated": lambda: _animated("WEBP", _rgba(), lossless=True),
    "bmp-rgb": lambda: _save(_rgb(), "BMP"),
    "bmp-palette": lambda: _save(_rgb().quantize(16), "BMP"),
    "gif": lambda: _save(_palette_with_transparency(), "GIF"),
    "gif-animated": lambda: _animated("GIF", _rgb().quantize(32)),
    "tiff-raw": lambda: _save(_rgb(), "TIFF"),
    "tiff-lzw-rgba": lambda: _save(_rgba(), "TIFF", compression="tiff_lzw"),
    "tiff-deflate-cmyk": lambda: _save(_rgb().convert("CMYK"), "TIFF", compression="tiff_adobe_deflate"),
    "tiff-gray16": lambda: _save(_gray16(), "TIFF"),
    "tiff-float": lambda: _save(_float(), "TIFF"),
    "tiff-bilevel-packbits": lambda: _save(_rgb().convert("1"), "TIFF", compression="packbits"),
    "heic": _heic,
    "avif": lambda: _save(_rgba(), "AVIF", quality=50),
}

SEED_NAMES: tuple[str, ...] = tuple(_MAKERS)


@cache
def seed(name: str) -> bytes:
    """The seed file ``name`` (made once per process)."""
    return _MAKERS[name]()


# ------------------------------------------------------------------------------------ dimension fields


@dataclass(frozen=True)
class Slot:
    """Where one dimension is stored: ``offset`` and an encoding (a struct format or a named codec)."""

    offset: int
    codec: str  # struct format (">I", "<H"...), "u24-1" (little-endian 24-bit, minus one), "vp8l-w", "vp8l-h"


@dataclass(frozen=True)
class DimensionField:
    """A (width, height) pair in a file, e.g. PNG's IHDR, a GIF frame descriptor, a TIFF tag pair."""

    width: Slot
    height: Slot


def _limit(codec: str) -> int:
    if codec == "u24-1":
        return 1 << 24
    if codec.startswith("vp8l"):
        return 1 << 14
    return (1 << (8 * struct.calcsize(codec))) - 1


def write_slot(data: bytearray, slot: Slot, value: int) -> None:
    """Store ``value`` (clamped to what the slot can hold) in ``slot``; out-of-range offsets are skipped."""
    value = max(0, min(value, _limit(slot.codec)))
    if slot.codec == "u24-1":
        if slot.offset + 3 <= len(data):
            data[slot.offset : slot.offset + 3] = max(value - 1, 0).to_bytes(3, "little")
        return
    if slot.codec.startswith("vp8l"):
        if slot.offset + 4 <= len(data):
            (bits,) = struct.unpack_from("<I", data, slot.offset)
            shift = 0 if slot.codec == "vp8l-w" else 14
            bits = bits & ~(0x3FFF << shift) | (max(value - 1, 0) & 0x3FFF) << shift
            struct.pack_into("<I", data, slot.offset, bits)
        return
    if slot.offset + struct.calcsize(slot.codec) <= len(data):
        struct.pack_into(slot.codec, data, slot.offset, value)


def _find_all(data: bytes, needle: bytes) -> list[int]:
    found, start = [], data.find(needle)
    while start >= 0:
        found.append(start)
        start = data.find(needle, start + 1)
    return found


@cache
def dimension_fields(name: str) -> tuple[DimensionField, ...]:
    """Every place seed ``name`` stores its size, found by searching for 37 and 23 in the usual encodings."""
    data = seed(name)
    fields: list[DimensionField] = []
    for fmt in (">I", "<I", ">H", "<H"):
        step = struct.calcsize(fmt)
        for at in _find_all(data, struct.pack(fmt[0] + 2 * fmt[1], WIDTH, HEIGHT)):
            fields.append(DimensionField(Slot(at, fmt), Slot(at + step, fmt)))  # PNG, GIF, BMP, HEIF ispe
    for at in _find_all(data, struct.pack(">HH", HEIGHT, WIDTH)):  # JPEG SOFn: height first
        fields.append(DimensionField(Slot(at + 2, ">H"), Slot(at, ">H")))
    for at in _find_all(data, (WIDTH - 1).to_bytes(3, "little") + (HEIGHT - 1).to_bytes(3, "little")):
        fields.append(DimensionField(Slot(at, "u24-1"), Slot(at + 3, "u24-1")))  # WebP VP8X canvas
    for at in _find_all(data, b"VP8L"):  # chunk id, size, signature 0x2f, then 14-bit width-1, height-1
        fields.append(DimensionField(Slot(at + 9, "vp8l-w"), Slot(at + 9, "vp8l-h")))
    for at in _find_all(data, b"ispe"):  # HEIF/AVIF image spatial extents: version+flags, then width, height
        fields.append(DimensionField(Slot(at + 8, ">I"), Slot(at + 12, ">I")))
    # Little-endian TIFF IFD entries for ImageWidth (256) and ImageLength (257): tag, type, count 1, value.
    widths, heights = (
        [
            Slot(at + 8, fmt)
            for kind, fmt in ((3, "<H"), (4, "<I"))
            for at in _find_all(data, struct.pack("<HHI", tag, kind, 1))
        ]
        for tag in (256, 257)
    )
    fields += [DimensionField(w, h) for w, h in zip(widths, heights, strict=False)]
    return tuple(dict.fromkeys(fields))
