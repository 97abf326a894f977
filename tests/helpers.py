"""Shared test helpers: synthetic images, encoders and mattes for the fake model (``tests/fakes.py``)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tests.fakes import MatteFn

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "images"
MODELS_DIR = REPO_ROOT / "models"
MODEL_FILE = MODELS_DIR / "u2net.onnx"  # the default model
FAST_MODEL_FILE = MODELS_DIR / "u2netp.onnx"  # the fast tier
PHOTOS = ("astronaut", "coffee", "chelsea")

# --------------------------------------------------------------------------------------------- mattes


def ellipse_matte(width: int, height: int) -> np.ndarray:
    """A hard centred ellipse with semi-axes of 30% of the width and 35% of the height."""
    ys, xs = np.mgrid[0:height, 0:width]
    cx, cy = (width - 1) / 2, (height - 1) / 2
    inside = ((xs - cx) / (0.30 * width)) ** 2 + ((ys - cy) / (0.35 * height)) ** 2 <= 1.0
    return np.where(inside, 255, 0).astype(np.uint8)


def soft_ellipse_matte(width: int, height: int) -> np.ndarray:
    """Like :func:`ellipse_matte` but with a ring of half-transparent (128) pixels around a solid core."""
    ys, xs = np.mgrid[0:height, 0:width]
    cx, cy = (width - 1) / 2, (height - 1) / 2
    radius = ((xs - cx) / (0.30 * width)) ** 2 + ((ys - cy) / (0.35 * height)) ** 2
    return np.where(radius <= 0.6, 255, np.where(radius <= 1.0, 128, 0)).astype(np.uint8)


def rect_matte(left: float, top: float, right: float, bottom: float, value: int = 255) -> MatteFn:
    """A hard rectangle given as fractions of the width and height (right and bottom exclusive)."""

    def matte(width: int, height: int) -> np.ndarray:
        out = np.zeros((height, width), dtype=np.uint8)
        out[round(top * height) : round(bottom * height), round(left * width) : round(right * width)] = value
        return out

    return matte


def gradient_matte(width: int, height: int) -> np.ndarray:
    """Alpha rising linearly from 0 at the left edge to 255 at the right edge."""
    row = np.rint(np.linspace(0, 255, width)).astype(np.uint8)
    return np.repeat(row[np.newaxis, :], height, axis=0)


def empty_matte(width: int, height: int) -> np.ndarray:
    return np.zeros((height, width), dtype=np.uint8)


# ------------------------------------------------------------------------------------------- images


def photo_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.jpg").read_bytes()


def photo(name: str) -> Image.Image:
    with Image.open(FIXTURES / f"{name}.jpg") as image:
        return image.convert("RGB")


def textured(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth-ish colourful RGB image with many distinct pixel values (a crop of a real photo)."""
    base = photo("coffee")
    rng = np.random.default_rng(seed)
    left = int(rng.integers(0, base.width - min(width, base.width) + 1))
    top = int(rng.integers(0, base.height - min(height, base.height) + 1))
    crop = base.crop((left, top, left + min(width, base.width), top + min(height, base.height)))
    return crop.resize((width, height), Image.Resampling.BILINEAR) if crop.size != (width, height) else crop


QUADRANT_COLOURS = {
    "top_left": (255, 0, 0),
    "top_right": (0, 255, 0),
    "bottom_left": (0, 0, 255),
    "bottom_right": (255, 255, 255),
}


def quadrants(width: int = 96, height: int = 64) -> Image.Image:
    """Four solid quadrants of different colours: no rotation or mirror maps it onto itself."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    hw, hh = width // 2, height // 2
    pixels[:hh, :hw] = QUADRANT_COLOURS["top_left"]
    pixels[:hh, hw:] = QUADRANT_COLOURS["top_right"]
    pixels[hh:, :hw] = QUADRANT_COLOURS["bottom_left"]
    pixels[hh:, hw:] = QUADRANT_COLOURS["bottom_right"]
    return Image.fromarray(pixels, "RGB")


def quadrant_means(image: Image.Image) -> dict[str, tuple[float, float, float]]:
    """Mean colour of the inner half of each quadrant (away from edges blurred by JPEG)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    height, width = pixels.shape[:2]
    hw, hh = width // 2, height // 2
    qw, qh = hw // 4, hh // 4
    boxes = {
        "top_left": (0, 0),
        "top_right": (hw, 0),
        "bottom_left": (0, hh),
        "bottom_right": (hw, hh),
    }
    out = {}
    for name, (x, y) in boxes.items():
        region = pixels[y + qh : y + hh - qh, x + qw : x + hw - qw]
        out[name] = tuple(float(v) for v in region.reshape(-1, 3).mean(axis=0))
    return out  # type: ignore[return-value]


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def open_bytes(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def colour_close(actual: tuple[float, ...], expected: tuple[float, ...], tolerance: float) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def expected_cutout(image: Image.Image, alpha: np.ndarray) -> np.ndarray:
    """The RGBA cut-out by definition: background fully transparent, the rest input colour + alpha."""
    rgb = np.asarray(image.convert("RGB"))
    out = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    visible = alpha > 0
    out[visible, :3] = rgb[visible]
    out[..., 3] = alpha
    return out
