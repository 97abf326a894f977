"""Bytes -> an upright 8-bit RGB or RGBA image in sRGB, at most ``max_pixels`` large."""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from bgremove.exceptions import (
    CorruptImageError,
    EmptyInputError,
    ImageTooLargeError,
    NotAnImageError,
    UnsupportedFormatError,
)
from bgremove.limits import MAX_DECODE_PIXELS

# Pillow format names we accept. MPO is the multi-picture JPEG many phones write.
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF", "HEIF", "AVIF"})

_EXIF_ORIENTATION_TAG = 0x0112
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError)

_heif_registered = False


def _register_heif() -> None:
    """Teach Pillow HEIC/HEIF through pillow-heif, once and only when first needed."""
    global _heif_registered  # noqa: PLW0603 - process-wide plugin registration
    if not _heif_registered:
        import pillow_heif  # noqa: PLC0415 - deferred: only HEIF-capable paths pay for it

        pillow_heif.register_heif_opener()
        _heif_registered = True


@dataclass(frozen=True)
class DecodedImage:
    """An image ready for the model.

    Attributes
    ----------
    image
        Upright, sRGB, mode ``RGB`` or ``RGBA`` (only when the input had real transparency).
    input_size
        ``(width, height)`` of the input after EXIF orientation, before any downscale.
    orientation
        The EXIF orientation (1..8) that was applied; 1 when absent.
    source_format
        Pillow's name for the input format (``JPEG``, ``PNG``...).
    scale
        ``image`` size divided by ``input_size`` (1.0 unless ``max_pixels`` shrank it).
    """

    image: Image.Image
    input_size: tuple[int, int]
    orientation: int
    source_format: str
    scale: float


def probe_format(data: bytes) -> str:
    """Return the format name of ``data`` without decoding pixels (raises like :func:`decode`)."""
    return _open(data).format or "UNKNOWN"


def _open(data: bytes) -> Image.Image:
    if not data:
        raise EmptyInputError("the input is empty (0 bytes)")
    _register_heif()
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise NotAnImageError("the input is not an image in a known format") from None
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(f"the image is too large to process ({error})") from None
    except _DECODE_ERRORS as error:
        raise CorruptImageError(f"the image header is damaged: {error}") from None
    fmt = image.format or ""
    if fmt not in SUPPORTED_FORMATS:
        raise UnsupportedFormatError(
            f"{fmt or 'this'} images are not supported; "
            "send JPEG, PNG, WebP, HEIC/HEIF, AVIF, TIFF, BMP or GIF"
        )
    return image


def target_size_for(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """Largest size with the same aspect ratio and at most ``max_pixels`` pixels."""
    width, height = size
    if width * height <= max_pixels:
        return size
    factor = math.sqrt(max_pixels / (width * height))
    return (max(1, math.floor(width * factor)), max(1, math.floor(height * factor)))


def read_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1  # unreadable EXIF is common in the wild; the pixels are still good
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def decode(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Decode, orient, convert to sRGB and downscale to at most ``max_pixels``.

    Raises
    ------
    EmptyInputError, NotAnImageError, UnsupportedFormatError, CorruptImageError, ImageTooLargeError
    """
    image = _open(data)
    fmt = image.format or "UNKNOWN"
    width, height = image.size
    if width * height > MAX_DECODE_PIXELS:
        raise ImageTooLargeError(
            f"the image is {width}x{height} ({width * height / 1e6:.1f} MP); the limit is "
            f"{MAX_DECODE_PIXELS / 1e6:.0f} MP"
        )
    orientation = read_orientation(image)
    swapped = orientation >= 5
    input_size = (height, width) if swapped else (width, height)
    target = target_size_for((width, height), max_pixels)
    icc_profile = image.info.get("icc_profile")

    try:
        if target != (width, height) and fmt in {"JPEG", "MPO"}:
            # JPEG can decode at 1/2, 1/4, 1/8 scale almost for free; draft never goes below target.
            image.draft("RGB", target)
        image.load()
        image = _to_rgb_or_rgba(image, icc_profile)
        if image.size != target:
            image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    except _DECODE_ERRORS as error:
        raise CorruptImageError(f"the image data is damaged or truncated: {error}") from None

    if orientation in _TRANSPOSE_FOR_ORIENTATION:
        image = image.transpose(_TRANSPOSE_FOR_ORIENTATION[orientation])
    scale = image.size[0] / input_size[0]
    return DecodedImage(
        image=image, input_size=input_size, orientation=orientation, source_format=fmt, scale=scale
    )


def _to_rgb_or_rgba(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    mode = image.mode
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I"}:
        # 16-bit grayscale: Pillow's own conversion clips at 255 instead of scaling.
        pixels = np.asarray(image)
        # I;16* are 16-bit containers; plain I (32-bit) holds whatever depth the file had: use its peak.
        peak_bits = int(pixels.max(initial=0)).bit_length()
        shift = 8 if mode != "I" else max(0, peak_bits - 8)
        image = Image.fromarray((pixels >> shift).clip(0, 255).astype(np.uint8), "L")
        mode = "L"
    elif mode == "F":
        pixels = np.asarray(image, dtype=np.float32)
        peak = float(pixels.max(initial=0.0))
        scale = 255.0 if peak <= 1.0 else 255.0 / peak
        image = Image.fromarray((pixels * scale).clip(0, 255).astype(np.uint8), "L")
        mode = "L"

    has_alpha = mode in {"RGBA", "LA", "PA", "La", "RGBa"} or (
        mode in {"P", "L", "RGB"} and "transparency" in image.info
    )
    wanted = "RGBA" if has_alpha else "RGB"
    if icc_profile and mode in {"RGB", "RGBA", "CMYK"}:
        converted = _icc_to_srgb(image, icc_profile, wanted)
        if converted is not None:
            image = converted
    if image.mode != wanted:
        image = image.convert(wanted)
    if wanted == "RGBA" and image.getchannel("A").getextrema() == (255, 255):
        image = image.convert("RGB")  # an opaque alpha channel only costs time downstream
    return image


_SRGB = ImageCms.createProfile("sRGB")


def _icc_to_srgb(image: Image.Image, icc_profile: bytes, wanted: str) -> Image.Image | None:
    """Convert from the embedded profile to sRGB; ``None`` when already sRGB or the profile is unusable."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        description = ImageCms.getProfileDescription(source) or ""
        if "srgb" in description.lower() and image.mode != "CMYK":
            return None  # tagged sRGB: skip a full-resolution transform that would change nothing
        output_mode = wanted if image.mode in {"RGB", "RGBA"} else "RGB"
        converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken profile should not fail an otherwise good image
    return converted
