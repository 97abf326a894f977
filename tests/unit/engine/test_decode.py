"""Decoding: every accepted format, odd modes, ICC profiles, EXIF orientation and the max_pixels downscale."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageCms

from bgremove._decode import decode, probe_format
from tests.helpers import (
    QUADRANT_COLOURS,
    colour_close,
    encode,
    photo,
    photo_bytes,
    quadrant_means,
    quadrants,
    textured,
)

BIG = 25_000_000


def _mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


# ----------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("fmt", "params", "expected_format", "tolerance"),
    [
        ("JPEG", {"quality": 95}, "JPEG", 6.0),
        ("PNG", {}, "PNG", 0.0),
        ("WEBP", {"lossless": True}, "WEBP", 0.0),
        ("WEBP", {"quality": 90}, "WEBP", 6.0),
        ("BMP", {}, "BMP", 0.0),
        ("TIFF", {}, "TIFF", 0.0),
        ("TIFF", {"compression": "tiff_lzw"}, "TIFF", 0.0),
        ("AVIF", {"quality": 90}, "AVIF", 8.0),
    ],
)
def test_decodes_supported_formats(
    fmt: str, params: dict[str, object], expected_format: str, tolerance: float
):
    original = textured(96, 64)
    decoded = decode(encode(original, fmt, **params), max_pixels=BIG)
    assert decoded.source_format == expected_format
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (96, 64)
    assert decoded.input_size == (96, 64)
    assert decoded.orientation == 1
    assert decoded.scale == 1.0
    assert _mean_abs_diff(decoded.image, original) <= tolerance


def test_decodes_heic():
    pillow_heif.register_heif_opener()
    original = textured(96, 64)
    data = encode(original, "HEIF", quality=90)
    decoded = decode(data, max_pixels=BIG)
    assert decoded.source_format == "HEIF"
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (96, 64)
    assert _mean_abs_diff(decoded.image, original) <= 8.0
    assert probe_format(data) == "HEIF"


def test_gif_first_frame_of_animation():
    red = Image.new("RGB", (40, 30), (255, 0, 0))
    blue = Image.new("RGB", (40, 30), (0, 0, 255))
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2  # really animated
    decoded = decode(data, max_pixels=BIG)
    assert decoded.source_format == "GIF"
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (40, 30)
    assert np.asarray(decoded.image)[15, 20].tolist() == [255, 0, 0]


def test_cmyk_jpeg_becomes_rgb():
    # Pure red, yellow and blue in CMYK; Pillow writes and reads back CMYK JPEGs.
    cmyk = np.zeros((32, 48, 4), dtype=np.uint8)
    cmyk[:, :16] = (0, 255, 255, 0)  # red
    cmyk[:, 16:32] = (0, 0, 255, 0)  # yellow
    cmyk[:, 32:] = (255, 255, 0, 0)  # blue
    data = encode(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.mode == "RGB"
    pixels = np.asarray(decoded.image, dtype=np.float64)
    assert colour_close(tuple(pixels[16, 8]), (255, 0, 0), 20)
    assert colour_close(tuple(pixels[16, 24]), (255, 255, 0), 20)
    assert colour_close(tuple(pixels[16, 40]), (0, 0, 255), 20)


def test_16_bit_grayscale_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 256).astype(np.uint16)
    pixels = np.repeat(ramp[np.newaxis, :], 8, axis=0)
    data = encode(Image.fromarray(pixels), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.mode == "RGB"
    row = np.asarray(decoded.image)[4, :, 0].astype(int)
    assert row.min() <= 2
    assert row.max() >= 253
    assert abs(int(row[128]) - 128) <= 3  # the middle of the ramp stays in the middle
    assert (np.diff(row) >= 0).all()
    # Clipping would have made most of the ramp white; scaling keeps it spread out.
    assert (row == 255).sum() <= 3


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _chunk_kinds(data: bytes) -> list[bytes]:
    kinds, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kinds.append(data[position + 4 : position + 8])
        position += 12 + length
    return kinds


def test_16_bit_grayscale_colour_key_becomes_transparency():
    # Neighbours of the key (1000) share its high byte, so only a 16-bit comparison tells them apart.
    pixels = np.array([[0, 1000, 999, 1001, 40000, 1000, 65535, 1000]] * 3, dtype=np.uint16)
    data = encode(Image.fromarray(pixels), "PNG", transparency=1000)
    assert b"tRNS" in _chunk_kinds(data)  # Pillow really wrote the key
    with Image.open(io.BytesIO(data)) as written:
        assert (written.mode, written.info["transparency"]) == ("I;16", 1000)
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.mode == "RGBA"
    alpha = np.asarray(decoded.image)[..., 3]
    assert alpha[0].tolist() == [255, 0, 255, 255, 255, 0, 255, 0]
    assert (alpha == alpha[0]).all()
    grey = np.asarray(decoded.image)[0, :, 0].astype(int)
    assert [grey[0], grey[4], grey[6]] == [0, 40000 >> 8, 255]  # still scaled, not clipped


def _grey_png(bits: int, values: list[int], key: int) -> bytes:
    """A one-row greyscale PNG of ``bits`` per pixel with a ``tRNS`` key, written by hand."""
    if bits == 16:
        row = struct.pack(f">{len(values)}H", *values)
    else:
        per_byte = 8 // bits
        row = bytes(
            sum(value << (8 - bits * (k + 1)) for k, value in enumerate(values[i : i + per_byte]))
            for i in range(0, len(values), per_byte)
        )
    ihdr = struct.pack(">IIBBBBB", len(values), 1, bits, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"tRNS", struct.pack(">H", key))
        + _png_chunk(b"IDAT", zlib.compress(b"\0" + row))
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16])
def test_grayscale_colour_key_of_every_bit_depth(bits: int):
    top = (1 << bits) - 1
    values = [0, top, top // 2, 1, 0, top, top // 2, 1]
    key = 1 if bits == 1 else top // 2
    decoded = decode(_grey_png(bits, values, key), max_pixels=BIG)
    assert decoded.image.mode == "RGBA"
    alpha = np.asarray(decoded.image)[0, :, 3].tolist()
    assert alpha == [0 if value == key else 255 for value in values]


def test_16_bit_rgb_colour_key_becomes_transparency():
    # Pillow keeps 8 bits of each 16-bit sample; the key is compared at that precision.
    samples = [[0, 0, 0], [1000, 2000, 3000], [65535, 0, 0], [1000, 2000, 3000]]
    ihdr = struct.pack(">IIBBBBB", 4, 1, 16, 2, 0, 0, 0)
    row = b"".join(struct.pack(">3H", *sample) for sample in samples)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"tRNS", struct.pack(">3H", 1000, 2000, 3000))
        + _png_chunk(b"IDAT", zlib.compress(b"\0" + row))
        + _png_chunk(b"IEND", b"")
    )
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.mode == "RGBA"
    assert np.asarray(decoded.image)[0, :, 3].tolist() == [255, 0, 255, 0]


def test_palette_png_with_transparency_becomes_rgba():
    image = Image.new("P", (40, 30), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 - 2) * 3)
    image.paste(1, (20, 0, 40, 30))
    data = encode(image, "PNG", transparency=0)
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.mode == "RGBA"
    pixels = np.asarray(decoded.image)
    assert pixels[15, 5, 3] == 0  # colour index 0 is transparent
    assert pixels[15, 30].tolist() == [0, 0, 255, 255]


def test_la_becomes_rgba():
    gray = np.full((30, 40), 100, dtype=np.uint8)
    alpha = np.zeros((30, 40), dtype=np.uint8)
    alpha[:, 20:] = 255
    image = Image.merge("LA", [Image.fromarray(gray), Image.fromarray(alpha)])
    decoded = decode(encode(image, "PNG"), max_pixels=BIG)
    assert decoded.image.mode == "RGBA"
    pixels = np.asarray(decoded.image)
    assert pixels[10, 30].tolist() == [100, 100, 100, 255]
    assert pixels[10, 5, 3] == 0


def test_rgba_with_real_transparency_stays_rgba():
    image = textured(40, 30).convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize((40, 30)))
    decoded = decode(encode(image, "PNG"), max_pixels=BIG)
    assert decoded.image.mode == "RGBA"
    assert np.array_equal(np.asarray(decoded.image), np.asarray(image))


def test_rgba_with_opaque_alpha_becomes_rgb():
    original = textured(40, 30)
    decoded = decode(encode(original.convert("RGBA"), "PNG"), max_pixels=BIG)
    assert decoded.image.mode == "RGB"
    assert np.array_equal(np.asarray(decoded.image), np.asarray(original))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_grayscale_becomes_rgb(fmt: str):
    gray = Image.linear_gradient("L").resize((64, 48))
    decoded = decode(encode(gray, fmt), max_pixels=BIG)
    assert decoded.image.mode == "RGB"
    r, g, b = (np.asarray(c) for c in decoded.image.split())
    assert np.array_equal(r, g) and np.array_equal(g, b)
    assert _mean_abs_diff(decoded.image.getchannel("R"), gray) <= 3


def test_one_bit_png_becomes_rgb():
    image = Image.new("1", (40, 30), 0)
    image.paste(1, (0, 0, 20, 30))
    decoded = decode(encode(image, "PNG"), max_pixels=BIG)
    assert decoded.image.mode == "RGB"
    assert np.asarray(decoded.image)[15, 5].tolist() == [255, 255, 255]
    assert np.asarray(decoded.image)[15, 35].tolist() == [0, 0, 0]


# ------------------------------------------------------------------------------------------ ICC


def _swapped_red_green_profile() -> bytes:
    """sRGB with the red and green colorants swapped: a valid RGB profile that is not sRGB.

    An image tagged with it and holding pure red means "sRGB green", and vice versa, so a decoder that
    really converts to sRGB must swap those two colours; one that ignores the profile will not.
    """
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack(">I", data[128:132])
    entries = {}
    for index in range(count):
        signature, offset, size = struct.unpack(">4sII", data[132 + 12 * index : 144 + 12 * index])
        entries[signature] = (index, offset, size)
    red_index, red_offset, red_size = entries[b"rXYZ"]
    green_index, green_offset, green_size = entries[b"gXYZ"]
    struct.pack_into(">4sII", data, 132 + 12 * red_index, b"rXYZ", green_offset, green_size)
    struct.pack_into(">4sII", data, 132 + 12 * green_index, b"gXYZ", red_offset, red_size)
    old, new = "sRGB built-in".encode("utf-16-be"), "RG swap test!".encode("utf-16-be")
    assert old in data
    profile = bytes(data).replace(old, new)
    assert "srgb" not in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile))).lower()
    return profile


def _primaries(mode: str = "RGB") -> Image.Image:
    pixels = np.zeros((8, 24, 3), dtype=np.uint8)
    pixels[:, :8] = (255, 0, 0)
    pixels[:, 8:16] = (0, 255, 0)
    pixels[:, 16:] = (0, 0, 255)
    image = Image.fromarray(pixels, "RGB")
    if mode == "RGBA":
        image.putalpha(Image.fromarray(np.tile(np.array([255, 128], dtype=np.uint8), (8, 12))))
    return image


def test_non_srgb_profile_is_converted_to_srgb():
    data = encode(_primaries(), "PNG", icc_profile=_swapped_red_green_profile())
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.mode == "RGB"
    row = np.asarray(decoded.image, dtype=np.float64)[4]
    assert colour_close(tuple(row[4]), (0, 255, 0), 3)
    assert colour_close(tuple(row[12]), (255, 0, 0), 3)
    assert colour_close(tuple(row[20]), (0, 0, 255), 3)


def test_non_srgb_profile_keeps_alpha():
    original = _primaries("RGBA")
    data = encode(original, "PNG", icc_profile=_swapped_red_green_profile())
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.mode == "RGBA"
    pixels = np.asarray(decoded.image)
    assert np.array_equal(pixels[..., 3], np.asarray(original)[..., 3])
    assert colour_close(tuple(pixels[4, 4, :3]), (0, 255, 0), 3)


def test_srgb_tagged_image_decodes_unchanged():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    original = textured(40, 30)
    decoded = decode(encode(original, "PNG", icc_profile=srgb), max_pixels=BIG)
    assert decoded.image.mode == "RGB"
    assert _mean_abs_diff(decoded.image, original) <= 1.0


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_broken_icc_profile_is_ignored(fmt: str):
    original = textured(48, 32)
    data = encode(original, fmt, icc_profile=b"this is not an ICC profile" * 8)
    assert Image.open(io.BytesIO(data)).info.get("icc_profile")  # really embedded
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (48, 32)
    assert _mean_abs_diff(decoded.image, original) <= (0.0 if fmt == "PNG" else 6.0)


# ------------------------------------------------------------------------------------ orientation

# How the stored pixels relate to the upright picture, straight from the EXIF definition of tag 0x0112
# ("the 0th row is the visual ..., the 0th column is the visual ..."), written without PIL's tables.
_STORED_FROM_UPRIGHT = {
    1: lambda u: u,  # top, left
    2: lambda u: u[:, ::-1],  # top, right
    3: lambda u: u[::-1, ::-1],  # bottom, right
    4: lambda u: u[::-1, :],  # bottom, left
    5: lambda u: u.swapaxes(0, 1),  # left, top
    6: lambda u: u[:, ::-1].swapaxes(0, 1),  # right, top
    7: lambda u: u[::-1, ::-1].swapaxes(0, 1),  # right, bottom
    8: lambda u: u[::-1, :].swapaxes(0, 1),  # left, bottom
}


def _oriented_jpeg(upright: Image.Image, orientation: int, **params: object) -> bytes:
    stored = np.ascontiguousarray(_STORED_FROM_UPRIGHT[orientation](np.asarray(upright)))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(stored, "RGB"), "JPEG", quality=95, exif=exif, **params)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_undone(orientation: int):
    upright = quadrants(96, 64)
    data = _oriented_jpeg(upright, orientation)
    stored_size = Image.open(io.BytesIO(data)).size
    assert stored_size == ((64, 96) if orientation >= 5 else (96, 64))
    decoded = decode(data, max_pixels=BIG)
    assert decoded.orientation == orientation
    assert decoded.image.size == (96, 64)
    assert decoded.input_size == (96, 64)
    means = quadrant_means(decoded.image)
    for name, colour in QUADRANT_COLOURS.items():
        assert colour_close(means[name], colour, 12), (name, means[name])


def test_exif_orientation_with_downscale_reports_upright_input_size():
    upright = quadrants(192, 128)
    data = _oriented_jpeg(upright, 6)
    decoded = decode(data, max_pixels=192 * 128 // 4)
    assert decoded.orientation == 6
    assert decoded.input_size == (192, 128)
    assert decoded.image.size == (96, 64)
    assert decoded.scale == pytest.approx(0.5)
    means = quadrant_means(decoded.image)
    for name, colour in QUADRANT_COLOURS.items():
        assert colour_close(means[name], colour, 12), (name, means[name])


@pytest.mark.parametrize("value", [0, 9, 255])
def test_out_of_range_orientation_is_ignored(value: int):
    exif = Image.Exif()
    exif[0x0112] = value
    data = encode(quadrants(96, 64), "JPEG", quality=95, exif=exif)
    decoded = decode(data, max_pixels=BIG)
    assert decoded.orientation == 1
    assert decoded.image.size == (96, 64)
    assert colour_close(quadrant_means(decoded.image)["top_left"], QUADRANT_COLOURS["top_left"], 12)


def test_png_exif_orientation_is_undone():
    upright = quadrants(96, 64)
    stored = np.ascontiguousarray(_STORED_FROM_UPRIGHT[8](np.asarray(upright)))
    exif = Image.Exif()
    exif[0x0112] = 8
    decoded = decode(encode(Image.fromarray(stored, "RGB"), "PNG", exif=exif), max_pixels=BIG)
    assert decoded.orientation == 8
    assert np.array_equal(np.asarray(decoded.image), np.asarray(upright))


# ------------------------------------------------------------------------------------- downscale


@pytest.mark.parametrize(
    ("name", "fmt", "max_pixels"),
    [
        ("astronaut", "JPEG", 10_000),  # JPEG: decoded through draft mode (1/2, 1/4, 1/8 DCT scaling)
        ("coffee", "JPEG", 30_000),
        ("coffee", "JPEG", 100),
        ("chelsea", "PNG", 20_000),  # PNG: full decode, then resize
        ("coffee", "WEBP", 50_000),
    ],
)
def test_max_pixels_downscale(name: str, fmt: str, max_pixels: int):
    original = photo(name)
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = photo_bytes(name) if fmt == "JPEG" else encode(original, fmt, **params)
    decoded = decode(data, max_pixels=max_pixels)
    width, height = decoded.image.size
    assert decoded.input_size == original.size
    assert width * height <= max_pixels
    # As large as allowed: one more pixel each way would break the limit or the aspect ratio.
    assert (width + 1) * (height + 1) > max_pixels
    assert width / height == pytest.approx(original.width / original.height, rel=1 / width + 1 / height)
    assert decoded.scale == pytest.approx(width / original.width)
    reference = original.resize((width, height), Image.Resampling.LANCZOS)
    assert _mean_abs_diff(decoded.image, reference) <= 12.0


def test_no_downscale_at_exactly_max_pixels():
    original = textured(50, 40)
    decoded = decode(encode(original, "PNG"), max_pixels=2000)
    assert decoded.image.size == (50, 40)
    assert decoded.scale == 1.0
    assert np.array_equal(np.asarray(decoded.image), np.asarray(original))


@pytest.mark.parametrize(("size", "max_pixels"), [((1000, 1), 100), ((1, 1000), 100), ((5000, 3), 1000)])
def test_downscale_of_a_strip_stays_within_max_pixels(size: tuple[int, int], max_pixels: int):
    # Scaling both sides by sqrt(max_pixels / area) would leave the short side under 1 px: it stays at
    # 1 and the long side gives up the rest.
    decoded = decode(encode(Image.new("RGB", size, (200, 100, 50)), "PNG"), max_pixels=max_pixels)
    width, height = decoded.image.size
    assert width * height <= max_pixels
    assert (width * height) >= max_pixels // 2
    assert (width >= height) == (size[0] >= size[1])
