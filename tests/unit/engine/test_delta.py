"""Delta PNG: ``make_delta`` and ``apply_delta`` against the cut-out computed by definition."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bgremove import apply_delta
from bgremove.delta import make_delta
from tests.helpers import encode, expected_cutout, open_bytes, textured


def _matte(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Background (0), foreground (255) and every partial level in between, in blocks."""
    rng = np.random.default_rng(seed)
    matte = np.zeros((height, width), dtype=np.uint8)
    matte[:, width // 3 : 2 * width // 3] = 255
    edge = rng.integers(1, 255, size=(height, width // 6), dtype=np.uint8)
    matte[:, 2 * width // 3 : 2 * width // 3 + width // 6] = edge
    matte[0, :255] = np.arange(1, 256)[: min(255, width)]  # every level appears at least once
    return matte


def test_make_delta_by_definition():
    image = textured(300, 40)
    matte = _matte(300, 40)
    delta = np.asarray(make_delta(image, Image.fromarray(matte, "L")))
    rgb = np.asarray(image)
    assert delta.shape == (40, 300, 4)
    assert (delta[matte == 0] == (0, 0, 0, 0)).all()  # background: transparent black
    assert (delta[matte == 255] == (255, 255, 255, 0)).all()  # foreground: transparent white, "keep"
    partial = (matte > 0) & (matte < 255)
    assert np.array_equal(delta[partial, :3], rgb[partial])
    assert np.array_equal(delta[partial, 3], matte[partial])


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP"])
def test_round_trip_equals_cutout(fmt: str):
    image = textured(300, 40, seed=2)
    matte = _matte(300, 40, seed=3)
    params = {"lossless": True} if fmt == "WEBP" else {}
    source = encode(image, fmt, **params)
    delta_png = encode(make_delta(image, Image.fromarray(matte, "L")), "PNG")
    rebuilt = apply_delta(source, delta_png)
    assert rebuilt.mode == "RGBA"
    assert rebuilt.size == (300, 40)
    assert np.array_equal(np.asarray(rebuilt), expected_cutout(image, matte))


def test_round_trip_with_white_input_pixels():
    # A partial pixel that happens to be pure white must not be confused with "keep the input".
    image = Image.new("RGB", (20, 10), (255, 255, 255))
    matte = np.full((10, 20), 255, dtype=np.uint8)
    matte[:, :5] = 0
    matte[:, 5:10] = 77
    source = encode(image, "PNG")
    delta_png = encode(make_delta(image, Image.fromarray(matte, "L")), "PNG")
    assert np.array_equal(np.asarray(apply_delta(source, delta_png)), expected_cutout(image, matte))


def test_round_trip_of_a_jpeg_input():
    image = textured(120, 80, seed=5)
    source = encode(image, "JPEG", quality=90)
    decoded = open_bytes(source).convert("RGB")  # what any client holding the JPEG decodes
    matte = _matte(120, 80, seed=6)
    delta_png = encode(make_delta(decoded, Image.fromarray(matte, "L")), "PNG")
    assert np.array_equal(np.asarray(apply_delta(source, delta_png)), expected_cutout(decoded, matte))


def test_delta_compresses_better_than_cutout():
    # The point of a delta: flat areas where the cut-out holds the photo's texture.
    image = textured(400, 300, seed=7)
    matte = np.zeros((300, 400), dtype=np.uint8)
    matte[50:250, 100:300] = 255
    matte[49, 100:300] = 128
    alpha = Image.fromarray(matte, "L")
    delta_size = len(encode(make_delta(image, alpha), "PNG"))
    cutout = image.convert("RGBA")
    cutout.putalpha(alpha)
    assert delta_size < len(encode(cutout, "PNG")) / 5
