"""Result picture -> bytes in the requested format."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from PIL import Image

from bgremove._png import encode_png
from bgremove.limits import MAX_JPEG_SIDE, MAX_PNG_SIDE, MAX_WEBP_SIDE
from bgremove.options import OutputFormat

CONTENT_TYPES = {
    OutputFormat.PNG: "image/png",
    OutputFormat.DELTA_PNG: "image/png",
    OutputFormat.JPEG: "image/jpeg",
    OutputFormat.WEBP: "image/webp",
    OutputFormat.ZIP: "application/zip",
}
EXTENSIONS = {
    OutputFormat.PNG: "png",
    OutputFormat.DELTA_PNG: "png",
    OutputFormat.JPEG: "jpg",
    OutputFormat.WEBP: "webp",
    OutputFormat.ZIP: "zip",
}
MAX_SIDES = {
    OutputFormat.PNG: MAX_PNG_SIDE,
    OutputFormat.DELTA_PNG: MAX_PNG_SIDE,
    OutputFormat.JPEG: MAX_JPEG_SIDE,
    OutputFormat.WEBP: MAX_WEBP_SIDE,
    OutputFormat.ZIP: MAX_JPEG_SIDE,  # its color.jpg
}
"""The widest and tallest result each format can hold (what its encoder accepts)."""
# WebP "method" trades encoder effort for size. Measured on cut-outs (docs/decisions/0002-webp-method-2.md):
# method 2 is ~1.6x faster than Pillow's default 4 for files 7-17% larger; 0 is faster still but 50-80%
# larger; 6 is 10x slower for 2%.
WEBP_METHOD = 2

ZIP_COLOR_NAME = "color.jpg"
ZIP_ALPHA_NAME = "alpha.png"
"""Members of a ``zip`` result, named as remove.bg names them."""


@dataclass(frozen=True)
class Encoded:
    data: bytes
    format: OutputFormat
    content_type: str
    extension: str


def resolve_format(
    requested: OutputFormat,
    *,
    transparent: bool,
    mask: bool,
    target_size: tuple[int, int] | None = None,
) -> OutputFormat:
    """``auto`` -> PNG or JPEG; any other format is returned as it is.

    ``auto`` is PNG when the result has transparency or is a mask (lossless edges), and when
    ``target_size`` (the result's exact size when set) is wider or taller than JPEG can hold; else JPEG.
    The choice depends on the options only, so the output can be named before the input is decoded; an
    opaque result that outgrows JPEG through the input's own size is refused later (see ``fits``).
    """
    if requested is not OutputFormat.AUTO:
        return requested
    too_large_for_jpeg = target_size is not None and not fits(OutputFormat.JPEG, target_size)
    return OutputFormat.PNG if transparent or mask or too_large_for_jpeg else OutputFormat.JPEG


def fits(fmt: OutputFormat, size: tuple[int, int]) -> bool:
    """Whether a ``size`` (width, height) result can be written as ``fmt`` (see :data:`MAX_SIDES`)."""
    return max(size) <= MAX_SIDES[fmt]


def encode(
    image: Image.Image, fmt: OutputFormat, *, quality: int, png_compress_level: int, threads: int = 1
) -> Encoded:
    """Encode ``image`` (``RGBA``, ``RGB`` or ``L``); JPEG flattens transparency onto white.

    PNG goes through the engine's own writer (:mod:`bgremove._png`: one filter, parallel ISA-L deflate),
    about 4x faster than Pillow's at level 1 on large cut-outs for files within a few percent of its size.
    """
    if fmt in (OutputFormat.PNG, OutputFormat.DELTA_PNG):
        data = encode_png(image, level=png_compress_level, threads=threads)
        return Encoded(data, fmt, CONTENT_TYPES[fmt], EXTENSIONS[fmt])
    buffer = io.BytesIO()
    if fmt is OutputFormat.JPEG:
        if image.mode == "RGBA":
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        image.save(buffer, "JPEG", quality=quality)
    elif fmt is OutputFormat.WEBP:
        image.save(buffer, "WEBP", quality=quality, method=WEBP_METHOD, alpha_quality=100)
    else:  # pragma: no cover - resolve_format never returns AUTO; ZIP goes through encode_zip
        raise ValueError(f"cannot encode {fmt}")
    return Encoded(buffer.getvalue(), fmt, CONTENT_TYPES[fmt], EXTENSIONS[fmt])


def encode_zip(
    color: Image.Image, alpha: Image.Image, *, quality: int, png_compress_level: int, threads: int = 1
) -> Encoded:
    """remove.bg's zip: ``color.jpg`` (``color``, mode ``RGB``) and ``alpha.png`` (``alpha``, mode ``L``).

    Members are stored, not deflated: JPEG and PNG data are compressed already.
    """
    jpeg = io.BytesIO()
    color.save(jpeg, "JPEG", quality=quality)
    png = encode_png(alpha, level=png_compress_level, threads=threads)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(ZIP_COLOR_NAME, jpeg.getvalue())
        archive.writestr(ZIP_ALPHA_NAME, png)
    fmt = OutputFormat.ZIP
    return Encoded(buffer.getvalue(), fmt, CONTENT_TYPES[fmt], EXTENSIONS[fmt])
