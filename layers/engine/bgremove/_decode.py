"""Bytes -> an upright 8-bit RGB or RGBA image in sRGB, at most ``max_pixels`` large."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from bgremove.exceptions import (
    CorruptImageError,
    EmptyInputError,
    ImageTooLargeError,
    InputError,
    NotAnImageError,
    UnsupportedFormatError,
)
from bgremove.limits import MAX_DECODE_PIXELS, MAX_DECODE_SIDE, MAX_JPEG_PIXELS_PER_BYTE

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
_GREY_16_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
# JPEG frame headers (SOFn) whose entropy coding is arithmetic: SOF9-11 and SOF13-15.
_ARITHMETIC_FRAMES = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# What libheif says when a header declares a size over its own limits (pillow-heif raises RuntimeError).
_HEIF_SIZE_LIMIT = "Security limit exceeded"

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
        ``image`` width divided by ``input_size``'s (1.0 unless ``max_pixels`` shrank it); where a side
        stopped at 1 pixel the height shrank by another ratio, so per-axis work uses the sizes.
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
    except Exception as error:  # see _as_input_error: every plugin raises its own types
        raise _as_input_error(error, "the image header is damaged") from None
    fmt = image.format or ""
    if fmt not in SUPPORTED_FORMATS:
        raise UnsupportedFormatError(
            f"{fmt or 'this'} images are not supported; "
            "send JPEG, PNG, WebP, HEIC/HEIF, AVIF, TIFF, BMP or GIF"
        )
    return image


def _as_input_error(error: Exception, what: str) -> InputError:
    """The input error for an exception a decoder raised while reading the file.

    Pillow's plugins and the libraries under them raise whatever they like: ``OSError``, ``SyntaxError``,
    ``ValueError``, ``EOFError``, ``struct.error`` or ``AssertionError`` from Pillow's own, ``RuntimeError``
    from pillow-heif and the AVIF plugin, ``MemoryError`` when a damaged header asks for an absurd buffer.
    Decoding runs only on files whose declared canvas passed :data:`MAX_DECODE_PIXELS`, so memory that an
    honest image of that size needs is bounded: a failure here is the file's, never a reason to retry.
    """
    if isinstance(error, Image.DecompressionBombError) or (
        isinstance(error, RuntimeError) and _HEIF_SIZE_LIMIT in str(error)
    ):
        return ImageTooLargeError(f"the image is too large to process ({error})")
    if isinstance(error, MemoryError):
        return CorruptImageError(f"{what}: decoding it would need far more memory than its size allows")
    return CorruptImageError(f"{what}: {error or type(error).__name__}")


def _check_length_fits_size(data: bytes, fmt: str, size: tuple[int, int]) -> None:
    """Refuse a Huffman-coded JPEG far too short for the canvas it declares (see MAX_JPEG_PIXELS_PER_BYTE).

    libjpeg fills whatever a short scan leaves undecoded with grey and only warns, so a few hundred bytes
    whose header claims 32 MP would otherwise come out as a full-size grey result. Other formats need no
    such floor: Pillow fails on their truncated data, and some compress a plain canvas to almost nothing
    (lossless WebP, CCITT fax TIFF, GIF frames smaller than their screen, arithmetic-coded JPEG).
    """
    width, height = size
    if fmt not in {"JPEG", "MPO"} or width * height <= len(data) * MAX_JPEG_PIXELS_PER_BYTE:
        return
    if _jpeg_frame_marker(data) in _ARITHMETIC_FRAMES:
        return
    raise CorruptImageError(
        f"the file is {len(data):,} bytes, far too short for the {width}x{height} JPEG it declares: "
        "it is truncated or its header is damaged"
    )


def _jpeg_frame_marker(data: bytes) -> int | None:
    """The SOFn marker byte of a JPEG (``0xC0``...``0xCF``), or ``None`` when no frame header is found."""
    position = 2  # after SOI
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None  # not a marker: damaged; Pillow will judge the rest
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
        elif 0xC0 <= marker <= 0xCF and marker not in {0xC4, 0xC8, 0xCC}:  # DHT, JPG and DAC are no frames
            return marker
        elif marker == 0x01 or 0xD0 <= marker <= 0xD9:  # TEM, RSTn, SOI, EOI stand alone
            position += 2
        else:
            position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def target_size_for(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """Largest size with the same aspect ratio and at most ``max_pixels`` pixels.

    A side that would shrink below 1 px stays at 1 and the other side gives up the difference, so the
    area never exceeds ``max_pixels`` (a 1000 x 1 strip at 100 pixels is 100 x 1, not 316 x 1).
    """
    width, height = size
    if width * height <= max_pixels:
        return size
    factor = math.sqrt(max_pixels / (width * height))
    scaled_width = max(1, math.floor(width * factor))
    scaled_height = max(1, math.floor(height * factor))
    if scaled_width * scaled_height > max_pixels:  # only when one side stopped at 1 px
        if scaled_width > scaled_height:
            scaled_width = max_pixels // scaled_height
        else:
            scaled_height = max_pixels // scaled_width
    return scaled_width, scaled_height


def read_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # unreadable EXIF is common in the wild; the pixels are still good
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def decode(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Decode, orient, convert to sRGB and downscale to at most ``max_pixels``.

    Nothing else escapes: whatever a decoder raises on a damaged file becomes one of the errors below.

    Raises
    ------
    EmptyInputError, NotAnImageError, UnsupportedFormatError
        Nothing to decode, or not a format we accept.
    ImageTooLargeError
        The header declares more than ``MAX_DECODE_PIXELS`` or ``MAX_DECODE_SIDE`` (checked before any
        pixel is decoded), or a decoder's own size limit tripped.
    CorruptImageError
        Damaged or truncated data, including a JPEG far too short for the size it declares
        (``MAX_JPEG_PIXELS_PER_BYTE``, checked before decoding).
    """
    image = _open(data)
    fmt = image.format or "UNKNOWN"
    width, height = image.size
    if width * height > MAX_DECODE_PIXELS:
        raise ImageTooLargeError(
            f"the image is {width}x{height} ({width * height / 1e6:.1f} MP); the limit is "
            f"{MAX_DECODE_PIXELS / 1e6:.0f} MP"
        )
    if max(width, height) > MAX_DECODE_SIDE:
        raise ImageTooLargeError(f"the image is {width}x{height}; the limit is {MAX_DECODE_SIDE:,} px a side")
    _check_length_fits_size(data, fmt, (width, height))
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
        image = _to_rgb_or_rgba(image, icc_profile, _colour_key(image, fmt, data))  # mode as loaded
        if image.size != target:
            image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
        if orientation in _TRANSPOSE_FOR_ORIENTATION:
            image = image.transpose(_TRANSPOSE_FOR_ORIENTATION[orientation])
    except Exception as error:  # see _as_input_error: every plugin raises its own types
        raise _as_input_error(error, "the image data is damaged or truncated") from None

    scale = image.size[0] / input_size[0]
    return DecodedImage(
        image=image, input_size=input_size, orientation=orientation, source_format=fmt, scale=scale
    )


ColourKey = int | tuple[int, int, int]
"""A PNG ``tRNS`` colour: pixels of exactly this value are transparent."""


def _colour_key(image: Image.Image, fmt: str, data: bytes) -> ColourKey | None:
    """The transparent colour of a greyscale or truecolour image, in the units of its decoded pixels.

    Pillow reports PNG's ``tRNS`` value at the file's bit depth, but scales 2- and 4-bit grey up to 8 bits
    and keeps only the high byte of 16-bit RGB. Palette images are left to Pillow, which handles them.
    """
    key = image.info.get("transparency")
    mode = image.mode
    if mode in {"1", "L"} | _GREY_16_BIT_MODES and isinstance(key, int) and not isinstance(key, bool):
        depth = _png_bit_depth(data) if fmt == "PNG" else 8
        if mode == "L" and depth < 8:
            return key * (255 // ((1 << depth) - 1))
        return key
    if mode == "RGB" and isinstance(key, tuple) and len(key) == 3 and all(isinstance(v, int) for v in key):
        shift = 8 if fmt == "PNG" and _png_bit_depth(data) == 16 else 0
        red, green, blue = (value >> shift for value in key)
        return red, green, blue
    return None


def _png_bit_depth(data: bytes) -> int:
    """The bit depth in a PNG's IHDR (which the specification puts first), 8 if it is not there."""
    return data[24] if data[12:16] == b"IHDR" and len(data) > 24 else 8


def _to_rgb_or_rgba(
    image: Image.Image, icc_profile: bytes | None, colour_key: ColourKey | None
) -> Image.Image:
    mode = image.mode
    # A colour key is compared at the file's own precision (16-bit grey below), before any conversion.
    keyed = None
    if colour_key is not None:
        pixels = np.asarray(image)
        if mode == "1":
            hit = pixels == bool(colour_key)
        elif pixels.ndim == 3:
            hit = (pixels[..., :3] == np.asarray(colour_key, dtype=pixels.dtype)).all(axis=-1)
        else:
            hit = pixels == colour_key
        keyed = Image.fromarray(np.where(hit, 0, 255).astype(np.uint8), "L")
    if mode in _GREY_16_BIT_MODES:
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
    if keyed is not None:
        image.info.pop("transparency", None)  # applied: Pillow must not apply it again on conversion
        image = image.convert("RGB")
        image.putalpha(keyed)
        mode = "RGBA"

    has_alpha = mode in {"RGBA", "LA", "PA", "La", "RGBa"} or (mode == "P" and "transparency" in image.info)
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
    except Exception:  # a broken profile should not fail an otherwise good image
        return None
    return converted
