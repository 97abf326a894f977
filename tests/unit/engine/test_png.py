"""The engine's PNG writer: lossless for every mode and size, readable by Pillow, on both deflate backends."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from bgremove import _png


def roundtrip(image: Image.Image, **kwargs: int) -> Image.Image:
    data = _png.encode_png(image, **kwargs)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = Image.open(io.BytesIO(data))
    decoded.load()  # Pillow checks every chunk CRC and the zlib stream
    return decoded


def noisy(mode: str, width: int, height: int, seed: int = 0) -> Image.Image:
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 7), (9, 1), (33, 17)])
def test_small_images_round_trip(mode: str, width: int, height: int) -> None:
    image = noisy(mode, width, height)
    decoded = roundtrip(image)
    assert decoded.mode == mode
    assert np.array_equal(np.asarray(decoded), np.asarray(image))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_large_image_split_into_parallel_slices_round_trips(threads: int) -> None:
    # ~5 MB of scanlines: split into `threads` independently compressed slices.
    gradient = np.add.outer(np.arange(900, dtype=np.uint16), np.arange(1400, dtype=np.uint16)).astype(
        np.uint8
    )
    rgba = np.dstack([gradient, gradient[::-1], 255 - gradient, (gradient > 100) * 255]).astype(np.uint8)
    image = Image.fromarray(rgba, "RGBA")
    decoded = roundtrip(image, threads=threads)
    assert np.array_equal(np.asarray(decoded), rgba)


def test_compresses_like_a_real_encoder() -> None:
    flat = Image.new("RGBA", (1000, 1000), (0, 0, 0, 0))
    assert len(_png.encode_png(flat)) < 20_000  # 4 MB of identical pixels


@pytest.mark.parametrize("level", [0, 1, 9])
def test_zlib_fallback_and_levels(monkeypatch: pytest.MonkeyPatch, level: int) -> None:
    monkeypatch.setattr(_png, "_CODEC", zlib)
    monkeypatch.setattr(_png, "_MAX_LEVEL", 9)
    image = noisy("RGB", 700, 600, seed=3)
    assert np.array_equal(np.asarray(roundtrip(image, level=level, threads=2)), np.asarray(image))


def test_refuses_other_modes() -> None:
    with pytest.raises(ValueError, match="mode P"):
        _png.encode_png(Image.new("P", (4, 4)))
