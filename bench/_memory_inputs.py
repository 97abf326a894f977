"""Write the memory table's inputs: synthetic photographs made in code, never committed.

    _memory_inputs.py OUT_DIR

Run by ``run_memory.py`` in a process of its own, so that the large arrays made here never count towards
the parent's memory (a child started by ``vfork`` can inherit the parent's peak in ``ru_maxrss``).

Each picture is a smooth coloured background with texture and a lighter elliptical "subject" in the middle,
plus a little noise, so that encoders compress it roughly as they compress a photograph (a flat or random
picture would give unrealistically small or large files, and the encoded input is held in memory while it is
processed). Files of the 16-bit and CMYK cases are tuned to stay under the function's input limit
(``bgremove.limits.MAX_INPUT_BYTES``); the script stops if one is over it. Prints one JSON line with what it
wrote.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms

from bgremove._decode import target_size_for
from bgremove.limits import MAX_DECODE_PIXELS, MAX_INPUT_BYTES, MAX_RESULT_PIXELS, MAX_WORK_PIXELS

SEED = 20261128
JPEG_QUALITY = 90  # a camera's usual setting
# Profiles of the ghostscript ICC set (Debian: libgs-common); the cases that need one say so when missing.
ICC_DIRS = (Path("/usr/share/color/icc/ghostscript"), Path("/usr/share/ghostscript/iccprofiles"))

SIZE_12MP = (4000, 3000)
SIZE_24MP = (5657, 4243)  # 24.0 MP, under MAX_WORK_PIXELS: not downscaled
SIZE_32MP = (6928, 4618)  # 31.99 MP, just under MAX_DECODE_PIXELS
SIZE_SMALL = (800, 600)


def icc_profile(name: str) -> bytes | None:
    for folder in ICC_DIRS:
        path = folder / name
        if path.is_file():
            return path.read_bytes()
    return None


def photo(size: tuple[int, int], *, seed: int = SEED, noise: float = 3.0) -> np.ndarray:
    """A ``(height, width, 3)`` uint8 picture: smooth colour field, texture, a subject, some noise."""
    width, height = size
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(40, 216, (12, 16, 3), dtype=np.uint8), "RGB")
    pixels = np.asarray(coarse.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    detail = Image.fromarray(rng.integers(0, 256, (height // 16, width // 16), dtype=np.uint8), "L")
    texture = np.asarray(detail.resize(size, Image.Resampling.BILINEAR), dtype=np.float32) - 128.0
    pixels += 0.25 * texture[..., None]
    ys = (np.arange(height, dtype=np.float32)[:, None] - height / 2) / (height * 0.35)
    xs = (np.arange(width, dtype=np.float32)[None, :] - width / 2) / (width * 0.22)
    subject = (xs * xs + ys * ys) < 1.0
    pixels[subject] = pixels[subject] * 0.4 + np.array([190.0, 150.0, 120.0], dtype=np.float32)
    del subject, texture, xs, ys
    pixels += rng.normal(0.0, noise, (height, width, 1)).astype(np.float32)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def largest_margin(size: tuple[int, int]) -> int:
    """The largest margin (pixels, all four sides) the engine accepts for an input of ``size``.

    The input is first brought down to ``MAX_WORK_PIXELS`` (the default ``max_pixels``); the result, margins
    included, may be at most ``MAX_RESULT_PIXELS``.
    """
    width, height = target_size_for(size, MAX_WORK_PIXELS)
    margin = 0
    while (width + 2 * (margin + 1)) * (height + 2 * (margin + 1)) <= MAX_RESULT_PIXELS:
        margin += 1
    return margin


def write_png16(path: Path, channels: np.ndarray, color_type: int) -> None:
    """A 16-bit PNG (``color_type`` 0 gray, 2 RGB, 6 RGBA), "Up" filter: Pillow cannot write 16-bit RGB."""
    height, width = channels.shape[:2]
    big_endian = channels.astype(">u2").reshape(height, -1).view(np.uint8)
    filtered = np.empty((height, big_endian.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # Up
    filtered[0, 1:] = big_endian[0]
    filtered[1:, 1:] = big_endian[1:] - big_endian[:-1]  # uint8 arithmetic wraps, as PNG's filter does

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    compressor = zlib.compressobj(6)
    idat = compressor.compress(filtered.tobytes()) + compressor.flush()
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


def to_16bit(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """8-bit values widened to 16 bits with a low byte that varies smoothly and a little at random."""
    wide = pixels.astype(np.uint16) << 8
    return wide | rng.integers(0, 4, pixels.shape, dtype=np.uint16) << 6


def build(out: Path) -> list[dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED + 1)
    written: list[dict[str, Any]] = []

    def record(name: str, path: Path, size: tuple[int, int], description: str, **extra: Any) -> None:
        nbytes = path.stat().st_size
        if nbytes > MAX_INPUT_BYTES:
            raise SystemExit(f"{path.name} is {nbytes} bytes, over MAX_INPUT_BYTES ({MAX_INPUT_BYTES})")
        if size[0] * size[1] > MAX_DECODE_PIXELS:
            raise SystemExit(f"{path.name} is over MAX_DECODE_PIXELS")
        written.append(
            {
                "name": name,
                "path": str(path),
                "size": list(size),
                "megapixels": round(size[0] * size[1] / 1e6, 2),
                "bytes": nbytes,
                "description": description,
                **extra,
            }
        )

    for name, size in (("jpeg_12mp", SIZE_12MP), ("jpeg_24mp", SIZE_24MP), ("jpeg_32mp", SIZE_32MP)):
        path = out / f"{name}.jpg"
        Image.fromarray(photo(size), "RGB").save(path, "JPEG", quality=JPEG_QUALITY)
        record(name, path, size, f"sRGB JPEG, quality {JPEG_QUALITY}", largest_margin_px=largest_margin(size))

    pixels = photo(SIZE_32MP)
    image = Image.fromarray(pixels, "RGB")

    adobe = icc_profile("a98.icc")
    if adobe is not None:
        path = out / "jpeg_32mp_a98.jpg"
        image.save(path, "JPEG", quality=JPEG_QUALITY, icc_profile=adobe)
        record("jpeg_32mp_a98", path, SIZE_32MP, "JPEG tagged Adobe RGB (1998): a full-size ICC transform")

    cmyk_profile = icc_profile("default_cmyk.icc")
    path = out / "tiff_32mp_cmyk.tif"
    cmyk = image.convert("CMYK")
    extra: dict[str, Any] = {"icc_profile": "default_cmyk.icc" if cmyk_profile else None}
    if cmyk_profile is not None:
        cmyk.save(path, "TIFF", compression="tiff_adobe_deflate", icc_profile=cmyk_profile)
    else:
        cmyk.save(path, "TIFF", compression="tiff_adobe_deflate")
    del cmyk
    extra["largest_margin_px"] = largest_margin(SIZE_32MP)
    record("tiff_32mp_cmyk", path, SIZE_32MP, "CMYK TIFF, Deflate", **extra)

    path = out / "png_32mp_rgb16.png"
    write_png16(path, to_16bit(pixels, rng), color_type=2)
    record("png_32mp_rgb16", path, SIZE_32MP, "48-bit RGB PNG")

    path = out / "png_32mp_gray16.png"
    gray = np.asarray(image.convert("L"))
    write_png16(path, to_16bit(gray, rng), color_type=0)
    record("png_32mp_gray16", path, SIZE_32MP, "16-bit grayscale PNG (Pillow mode I;16)")
    del gray

    path = out / "png_32mp_rgba.png"
    alpha = np.full(pixels.shape[:2], 255, dtype=np.uint8)
    alpha[: pixels.shape[0] // 10] = 0  # real transparency: the engine keeps the input's alpha
    Image.fromarray(np.dstack([pixels, alpha]), "RGBA").save(path, "PNG", compress_level=6)
    record("png_32mp_rgba", path, SIZE_32MP, "8-bit RGBA PNG with transparent rows")
    del alpha

    path = out / "jpeg_small.jpg"
    Image.fromarray(photo(SIZE_SMALL), "RGB").save(path, "JPEG", quality=JPEG_QUALITY)
    record("jpeg_small", path, SIZE_SMALL, f"sRGB JPEG, quality {JPEG_QUALITY}")

    if cmyk_profile is not None:
        # A profile LittleCMS cannot open would make the engine fall back to a plain conversion silently.
        ImageCms.ImageCmsProfile(io.BytesIO(cmyk_profile))
    return written


def main() -> None:
    written = build(Path(sys.argv[1]))
    print("INPUTS " + json.dumps(written), flush=True)


if __name__ == "__main__":
    main()
