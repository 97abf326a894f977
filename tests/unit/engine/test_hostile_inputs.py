"""Damaged and hostile inputs end as a result or a known input error code, never as ``INTERNAL_ERROR``.

docs/s3-pipeline.md promises that bad input always ends with a FAILED event carrying one of its error
codes. Here every accepted format is damaged on purpose (bit flips in the header, overwritten bytes,
truncations, edited declared sizes), deterministically from :data:`SEED`, and the decoder and the engine
must either produce a result or raise an :class:`~bgremove.InputError` with one of those codes. The rest
covers what a file can declare to make the engine work too hard: sizes its bytes cannot hold, many frames or
pages, oversized metadata; and the same for the delta that ``decode-delta`` reads.
"""

from __future__ import annotations

import io
import random
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageCms, ImageFile

from bgremove import (
    CorruptImageError,
    ImageTooLargeError,
    InputError,
    NotAnImageError,
    Options,
    apply_delta,
)
from bgremove._decode import decode
from bgremove.limits import MAX_DECODE_SIDE, MAX_JPEG_PIXELS_PER_BYTE
from tests.fakes import fake_engine
from tests.helpers import encode, open_bytes, textured

SEED = 20261121
MUTANTS_PER_SAMPLE = 40
BIG = 25_000_000
DECODE_CODES = frozenset(
    {"EMPTY_INPUT", "NOT_AN_IMAGE", "UNSUPPORTED_FORMAT", "CORRUPT_IMAGE", "IMAGE_TOO_LARGE"}
)

pillow_heif.register_heif_opener()


@pytest.fixture(autouse=True)
def _quiet_pillow() -> Iterator[None]:
    # Damaged files make Pillow warn (corrupt EXIF, truncated tags): expected, and noise at this volume.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ------------------------------------------------------------------------------------------- samples


def _picture(alpha: bool = False) -> Image.Image:
    image = textured(64, 48, seed=7)
    if alpha:
        image = image.convert("RGBA")
        image.putalpha(Image.linear_gradient("L").resize((64, 48)))
    return image


def _palette_with_transparency() -> Image.Image:
    image = _picture().quantize(16)
    image.info["transparency"] = 3
    return image


SAMPLES: dict[str, Callable[[], bytes]] = {
    "JPEG": lambda: encode(_picture(), "JPEG", quality=90),
    "JPEG-progressive": lambda: encode(_picture(), "JPEG", quality=90, progressive=True, optimize=True),
    "PNG": lambda: encode(_picture(), "PNG"),
    "PNG-RGBA": lambda: encode(_picture(alpha=True), "PNG"),
    "PNG-palette": lambda: encode(_palette_with_transparency(), "PNG"),
    "WEBP": lambda: encode(_picture(), "WEBP", quality=80),
    "WEBP-lossless-RGBA": lambda: encode(_picture(alpha=True), "WEBP", lossless=True),
    "TIFF": lambda: encode(_picture(), "TIFF"),
    "TIFF-LZW": lambda: encode(_picture(), "TIFF", compression="tiff_lzw"),
    "GIF": lambda: encode(_picture(), "GIF"),
    "BMP": lambda: encode(_picture(), "BMP"),
    "AVIF": lambda: encode(_picture(), "AVIF", quality=80),
    "AVIF-RGBA": lambda: encode(_picture(alpha=True), "AVIF", quality=80),
    "HEIF": lambda: encode(_picture(), "HEIF", quality=80),
    "HEIF-RGBA": lambda: encode(_picture(alpha=True), "HEIF", quality=80),
}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


# Declared sizes for header edits: degenerate, plausible (decodes into a mostly empty canvas), and a bomb.
_DECLARED_SIZES = ((1, 1), (0, 7), (3000, 2000), (65535, 65535))


def _declared_size_edits(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """``data`` with its header claiming other sizes, where the format keeps the size somewhere simple."""
    for width, height in _DECLARED_SIZES:
        label = f"declares {width}x{height}"
        buf = bytearray(data)
        if name.startswith("JPEG"):
            sof = max(buf.find(b"\xff\xc0"), buf.find(b"\xff\xc2"))
            buf[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
        elif name.startswith("PNG"):
            buf[16:24] = struct.pack(">II", width, height)
            buf[29:33] = struct.pack(">I", zlib.crc32(bytes(buf[12:29])))  # a valid CRC: only the size lies
        elif name == "GIF":
            buf[6:10] = struct.pack("<HH", width, height)
            descriptor = buf.find(b"\x2c", 13)
            buf[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
        elif name == "BMP":
            buf[18:26] = struct.pack("<ii", width, height)
        elif name.startswith("WEBP"):
            frame = buf.find(b"\x9d\x01\x2a")  # lossy key frame start code, then 14-bit width and height
            if frame < 0:
                continue
            buf[frame + 3 : frame + 7] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
        elif name.startswith(("AVIF", "HEIF")):
            extents = buf.find(b"ispe")
            buf[extents + 8 : extents + 16] = struct.pack(">II", width, height)
        elif name.startswith("TIFF"):
            (ifd,) = struct.unpack("<I", buf[4:8])
            (count,) = struct.unpack("<H", buf[ifd : ifd + 2])
            for index in range(count):
                entry = ifd + 2 + 12 * index
                tag, kind = struct.unpack("<HH", buf[entry : entry + 4])
                if tag in (256, 257):  # ImageWidth, ImageLength
                    value = width if tag == 256 else height
                    packed = struct.pack("<H", value & 0xFFFF) if kind == 3 else struct.pack("<I", value)
                    buf[entry + 8 : entry + 8 + len(packed)] = packed
        yield label, bytes(buf)


def _mutants(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """Damaged copies of ``data``: the same ones on every run (one generator per sample, fixed seed)."""
    rng = random.Random(f"{SEED}-{name}")
    head = min(len(data), 1024)  # headers, box and chunk tables, segment markers live here
    for _ in range(MUTANTS_PER_SAMPLE):
        buf = bytearray(data)
        kind = rng.choice(("flip", "overwrite", "truncate", "scatter"))
        if kind == "flip":
            offset, bit = rng.randrange(head), rng.randrange(8)
            buf[offset] ^= 1 << bit
            label = f"bit {bit} of byte {offset} flipped"
        elif kind == "overwrite":
            offset, value = rng.randrange(head), rng.choice((0x00, 0xFF, rng.randrange(256)))
            buf[offset] = value
            label = f"byte {offset} set to {value:#04x}"
        elif kind == "truncate":
            length = rng.randrange(1, len(buf))
            del buf[length:]
            label = f"truncated to {length} bytes"
        else:
            offsets = sorted(rng.randrange(len(buf)) for _ in range(4))
            for offset in offsets:
                buf[offset] = rng.randrange(256)
            label = f"bytes {offsets} overwritten"
        yield label, bytes(buf)
    yield from _declared_size_edits(name, data)


def _outcome(run: Callable[[], object]) -> str | None:
    """``None`` when ``run`` ends as docs/s3-pipeline.md promises, else what went wrong."""
    try:
        run()
    except InputError as error:
        return None if error.code in DECODE_CODES else f"unexpected code {error.code}: {error}"
    except Exception as error:  # reporting every leak is the point
        return f"{type(error).__name__}: {error}"
    return None


@pytest.mark.parametrize("name", SAMPLES)
def test_damaged_files_decode_or_fail_with_an_input_error(name: str):
    data = SAMPLES[name]()
    assert decode(data, max_pixels=BIG).image.size == (64, 48)  # the undamaged sample is good
    failures = []
    for label, mutant in _mutants(name, data):

        def run(mutant: bytes = mutant) -> None:
            decoded = decode(mutant, max_pixels=100_000)
            assert decoded.image.mode in {"RGB", "RGBA"}
            assert decoded.image.width * decoded.image.height <= 100_000

        if (problem := _outcome(run)) is not None:
            failures.append(f"{name}, {label}: {problem}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", SAMPLES)
def test_damaged_files_through_the_engine(name: str):
    engine = fake_engine()
    failures = []
    for label, mutant in _mutants(name, SAMPLES[name]()):

        def run(mutant: bytes = mutant) -> None:
            result = engine.process(mutant, Options(max_pixels=100_000))
            assert open_bytes(result.data).size == result.report.result_size

        if (problem := _outcome(run)) is not None:
            failures.append(f"{name}, {label}: {problem}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("fmt", ["AVIF", "HEIF"])
def test_heif_family_plugin_errors_are_input_errors(fmt: str):
    # The primary item id points at no item: the AVIF plugin raises RuntimeError for this.
    data = bytearray(SAMPLES[fmt]())
    primary = data.find(b"pitm")
    data[primary + 8 : primary + 10] = struct.pack(">H", 0x7777)
    with pytest.raises((CorruptImageError, NotAnImageError)):
        decode(bytes(data), max_pixels=BIG)


_STAGES: dict[str, tuple[object, str]] = {
    "open": (Image, "open"),
    "load": (ImageFile.ImageFile, "load"),
    "convert": (Image.Image, "convert"),
    "resize": (Image.Image, "resize"),
    "transpose": (Image.Image, "transpose"),
}


def _oriented_palette_png() -> bytes:
    # Palette (needs convert), EXIF orientation 6 (needs transpose), 64x48 (resized below 3072 pixels).
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(_palette_with_transparency(), "PNG", exif=exif)


@pytest.mark.parametrize("stage", _STAGES)
@pytest.mark.parametrize(
    "error",
    [RuntimeError("plugin failed"), MemoryError(), AssertionError(), OSError("libtiff"), ValueError()],
)
def test_any_decoder_failure_is_corrupt_image(monkeypatch: pytest.MonkeyPatch, stage: str, error: Exception):
    data = _oriented_palette_png()
    assert decode(data, max_pixels=1000).image.size == (27, 36)

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    owner, attribute = _STAGES[stage]
    monkeypatch.setattr(owner, attribute, fail)
    with pytest.raises(CorruptImageError) as caught:
        decode(data, max_pixels=1000)
    assert caught.value.code == "CORRUPT_IMAGE"


def test_decompression_bomb_found_while_loading_is_too_large(monkeypatch: pytest.MonkeyPatch):
    data = encode(_picture(), "PNG")

    def bomb(self: Image.Image) -> None:
        raise Image.DecompressionBombError("a frame larger than the header said")

    monkeypatch.setattr(ImageFile.ImageFile, "load", bomb)
    with pytest.raises(ImageTooLargeError):
        decode(data, max_pixels=BIG)


@pytest.mark.parametrize("where", ["exif", "icc"])
def test_unreadable_metadata_is_ignored(monkeypatch: pytest.MonkeyPatch, where: str):
    # Orientation and colour profile are extras: failing to read them must not fail a good picture.
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("metadata parser failed")

    if where == "exif":
        monkeypatch.setattr(Image.Image, "getexif", fail)
        data = encode(_picture(), "JPEG", quality=90)
    else:
        monkeypatch.setattr(ImageCms, "profileToProfile", fail)
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
        data = encode(_picture(), "PNG", icc_profile=profile)
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.size == (64, 48)
    assert decoded.orientation == 1


# ----------------------------------------------------------------------- sizes the bytes cannot hold


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A small, complete JPEG (SOI ... EOI) whose frame header claims ``width x height``."""
    data = bytearray(encode(_picture(), "JPEG", quality=90))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_jpeg_far_too_short_for_its_size_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch):
    data = _jpeg_declaring(6000, 5333)  # 32 MP from ~2 KB: libjpeg would "decode" it into a grey canvas
    assert data.endswith(b"\xff\xd9")  # complete, so it is not Pillow's truncation check that refuses it
    assert len(data) * MAX_JPEG_PIXELS_PER_BYTE < 6000 * 5333

    def no_pixels(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_pixels)
    with pytest.raises(CorruptImageError) as caught:
        decode(data, max_pixels=BIG)
    assert "6000x5333" in caught.value.message
    assert f"{len(data):,} bytes" in caught.value.message


def test_engine_refuses_a_jpeg_too_short_for_its_size():
    with pytest.raises(CorruptImageError):
        fake_engine().process(_jpeg_declaring(6000, 5333), Options())


def test_dense_but_real_jpeg_decodes():
    # Solid grey, progressive with optimised Huffman tables: 255 pixels per byte, about the densest
    # Pillow can write (a DC-only scan script reaches the 512 limit of Huffman coding).
    data = encode(Image.new("L", (6000, 5000), 0), "JPEG", progressive=True, optimize=True)
    assert 200 < 6000 * 5000 / len(data) < MAX_JPEG_PIXELS_PER_BYTE
    decoded = decode(data, max_pixels=10_000)
    assert decoded.input_size == (6000, 5000)
    assert decoded.image.getextrema() == ((0, 0), (0, 0), (0, 0))


# ``cjpeg -arithmetic`` of a solid black 6000x5000 greyscale picture: 128 bytes, 234,375 pixels per byte.
# Arithmetic coding (SOF9) has no per-block minimum, so the density floor does not apply to it.
ARITHMETIC_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c19"
    "12130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc9000b08"
    "1388177001011100ffcc000600101005ffda0008010100003f00ff00bfd19280ffd9"
)


def test_tiny_arithmetic_coded_jpeg_is_not_refused():
    assert len(ARITHMETIC_JPEG) == 128
    decoded = decode(ARITHMETIC_JPEG, max_pixels=10_000)
    assert decoded.input_size == (6000, 5000)
    assert decoded.image.getextrema() == ((0, 0), (0, 0), (0, 0))


def test_truncated_images_are_refused_not_padded():
    # Pillow pads truncated files with grey when this process-wide switch is on; nothing may turn it on.
    import bgremove.cli  # noqa: F401 - everything the engine's users import

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = encode(_picture(), "JPEG", quality=90)
    with pytest.raises(CorruptImageError):
        decode(data[: len(data) - 40], max_pixels=BIG)  # scan data cut short, no EOI


@pytest.mark.parametrize("size", [(65_501, 1), (1, 65_501), (320_000, 100), (32_000_000, 1)])
def test_very_long_sides_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]):
    # Within 32 MP, but resampling such an axis costs gigabytes (a 93 KB PNG of 32,000,000 x 1: 2 GB).
    ihdr = struct.pack(">IIBBBBB", *size, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")

    def no_pixels(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_pixels)
    with pytest.raises(ImageTooLargeError) as caught:
        decode(data, max_pixels=BIG)
    assert f"{MAX_DECODE_SIDE:,} px a side" in caught.value.message


def test_longest_accepted_side_decodes():
    data = encode(Image.new("RGB", (MAX_DECODE_SIDE, 2), (9, 99, 199)), "PNG")
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.size == (MAX_DECODE_SIDE, 2)


# ------------------------------------------------------------------------------- frames, pages, metadata


def _frames(count: int) -> list[Image.Image]:
    return [Image.new("RGB", (32, 24), (200, (7 * i) % 256, 255 - i % 256)) for i in range(count)]


@pytest.mark.parametrize(("fmt", "params"), [("GIF", {}), ("PNG", {}), ("TIFF", {})])
def test_only_the_first_frame_or_page_is_read(fmt: str, params: dict[str, object]):
    frames = _frames(300)
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=20, **params)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 300
    # Cut off in the middle of the animation: anything that walked the frames would fail on the cut.
    damaged = data[: len(data) // 2]
    decoded = decode(damaged, max_pixels=BIG)
    assert decoded.image.getpixel((5, 5)) == (200, 0, 255)
    result = fake_engine().process(damaged, Options.parse({"format": "png", "background_type": "white"}))
    assert open_bytes(result.data).getpixel((5, 5)) == (200, 0, 255)


def test_animated_webp_with_many_frames():
    frames = _frames(300)
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=20, lossless=True)
    decoded = decode(data, max_pixels=BIG)
    assert decoded.image.getpixel((5, 5)) == (200, 0, 255)
    with pytest.raises(CorruptImageError):  # the container is checked whole when it is opened
        decode(data[: len(data) // 2], max_pixels=BIG)


def test_oversized_colour_profile_in_jpeg_is_ignored():
    # Up to 255 APP2 segments: a 3 MB "profile" that is no valid profile at all.
    junk = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes() + bytes(3_000_000)
    data = encode(_picture(), "JPEG", quality=90, icc_profile=junk)
    assert len(data) > 3_000_000
    assert decode(data, max_pixels=BIG).image.size == (64, 48)


_INFLATES_TO_50_MB = zlib.compress(bytes(50_000_000), 9)


@pytest.mark.parametrize(
    ("kind", "header"),
    [(b"zTXt", b"Comment\0\0"), (b"iTXt", b"Comment\0\1\0\0\0"), (b"iCCP", b"profile\0\0")],
)
def test_png_metadata_bombs_are_refused(kind: bytes, header: bytes):
    # Pillow stops inflating a metadata chunk at MAX_TEXT_CHUNK (1 MiB): 50 MB never materialise.
    png = encode(_picture(), "PNG")
    before_pixels = png[:33] + _png_chunk(kind, header + _INFLATES_TO_50_MB) + png[33:]  # after IHDR
    with pytest.raises(CorruptImageError):
        decode(before_pixels, max_pixels=BIG)


def test_png_text_bomb_after_the_pixels_is_not_read():
    png = encode(_picture(), "PNG")
    end = png.rfind(b"IEND") - 4
    bomb = _png_chunk(b"zTXt", b"Comment\0\0" + _INFLATES_TO_50_MB)
    decoded = decode(png[:end] + bomb + png[end:], max_pixels=BIG)
    assert decoded.image.size == (64, 48)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_huge_or_looping_exif_is_harmless(fmt: str):
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "x" * (60_000 if fmt == "JPEG" else 5_000_000)  # JPEG's APP1 holds at most 64 KB
    decoded = decode(encode(_picture(), fmt, exif=exif), max_pixels=BIG)
    assert (decoded.orientation, decoded.image.size) == (6, (48, 64))
    # An IFD whose "next IFD" offset points back at itself.
    looping = b"Exif\0\0MM\0\x2a\0\0\0\x08" + struct.pack(">HHHII", 1, 0x0112, 3, 1, 6 << 16) + b"\0\0\0\x08"
    decoded = decode(encode(_picture(), "JPEG", exif=looping), max_pixels=BIG)
    assert decoded.image.size in {(64, 48), (48, 64)}


# ------------------------------------------------------------------------------------------ the delta


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 8))
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "delta",
    [
        _png_header(30_000, 30_000),  # over Pillow's own bomb limit
        _png_header(9_000, 9_000),  # under it, but not the input's size: never decoded
        _png_header(64, 48),  # the right size, but no pixels
        b"GIF89a" + bytes(20),
        _png_chunk(b"IHDR", b"")[:5],
    ],
    ids=["bomb", "large", "no-pixels", "gif-header", "garbage"],
)
def test_hostile_delta_is_an_input_error(delta: bytes):
    source = encode(_picture(), "PNG")
    with pytest.raises(InputError):
        apply_delta(source, delta)


def test_delta_of_another_size_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch):
    source = encode(_picture(), "PNG")
    delta = encode(Image.new("RGBA", (640, 480)), "PNG")
    decode(source, max_pixels=BIG)  # load the source's plugins before pixels are forbidden
    loads: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def counting(self: ImageFile.ImageFile) -> object:
        loads.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting)
    with pytest.raises(InputError):
        apply_delta(source, delta)
    assert (640, 480) not in loads


def test_palette_transparency_of_every_png_bit_depth():
    for bits in (1, 2, 4, 8):
        indices = np.array([[0, 1] * 4], dtype=np.uint8)
        per_byte = 8 // bits
        packed = bytearray()
        for start in range(0, 8, per_byte):
            byte = 0
            for k in range(per_byte):
                byte |= int(indices[0, start + k]) << (8 - bits * (k + 1))
            packed.append(byte)
        ihdr = struct.pack(">IIBBBBB", 8, 1, bits, 3, 0, 0, 0)
        data = (
            b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"PLTE", bytes([255, 0, 0, 0, 0, 255]))
            + _png_chunk(b"tRNS", bytes([0, 128]))
            + _png_chunk(b"IDAT", zlib.compress(b"\0" + bytes(packed)))
            + _png_chunk(b"IEND", b"")
        )
        pixels = np.asarray(decode(data, max_pixels=BIG).image)
        assert pixels[0, 0, 3] == 0, bits
        assert pixels[0, 1].tolist() == [0, 0, 255, 128], bits
