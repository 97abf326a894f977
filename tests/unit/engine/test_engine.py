"""The engine end to end with a fake model: formats, modes, backgrounds, geometry, threshold, report, delta.

The fake model's matte is exact and known (see ``tests.helpers``), so every expected pixel is computed here
from the input image and that matte, independently of the engine's code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from bgremove import (
    BBox,
    Engine,
    EngineSettings,
    InvalidOptionError,
    ModelNotFoundError,
    ModelRegistry,
    ModelSpec,
    Options,
    apply_delta,
    output_format,
)
from bgremove._compose import watermark
from bgremove._matte import refine
from bgremove.limits import MAX_DECODE_SIDE
from bgremove.report import STAGES
from tests.fakes import FAKE_MODEL, FakeRegistry, MatteFn, fake_engine, fake_registry
from tests.helpers import (
    empty_matte,
    encode,
    expected_cutout,
    gradient_matte,
    open_bytes,
    rect_matte,
    soft_ellipse_matte,
    textured,
)

# A 200 x 100 image whose subject (per the fake model) is the rectangle x 50..150, y 20..80.
RECT = rect_matte(0.25, 0.2, 0.75, 0.8)
RECT_BOX = BBox(50, 20, 100, 60)
BACKGROUND_POINT = (5, 5)  # (x, y)
ONE_PIXEL = encode(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG")
FOREGROUND_POINT = (100, 50)


@pytest.fixture(scope="module")
def image() -> Image.Image:
    return textured(200, 100, seed=1)


@pytest.fixture(scope="module")
def png(image: Image.Image) -> bytes:
    return encode(image, "PNG")


def _run(data: bytes, raw: dict[str, str] | None = None, matte: MatteFn = RECT):
    result = fake_engine(matte).process(data, Options.parse(raw or {}))
    return result, open_bytes(result.data)


# ------------------------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    ("raw", "fmt", "mode"),
    [
        ({}, "png", "RGBA"),
        ({"background_color": "#123456"}, "jpeg", "RGB"),
        ({"background_type": "white"}, "jpeg", "RGB"),
        ({"background_type": "green"}, "jpeg", "RGB"),
        ({"background_type": "blur"}, "jpeg", "RGB"),
        ({"background_type": "overlay"}, "jpeg", "RGB"),
        ({"background_type": "map"}, "png", "L"),
        ({"format": "png"}, "png", "RGBA"),
        ({"format": "png", "background_type": "white"}, "png", "RGB"),
        ({"format": "png", "background_type": "map"}, "png", "L"),
        ({"format": "jpeg"}, "jpeg", "RGB"),
        ({"format": "jpg", "background_type": "map"}, "jpeg", "L"),
        ({"format": "webp"}, "webp", "RGBA"),
        ({"format": "webp", "background_type": "green"}, "webp", "RGB"),
        ({"format": "delta_png"}, "delta_png", "RGBA"),
        ({"format": "delta_png", "background_type": "white"}, "delta_png", "RGBA"),
    ],
)
def test_format_and_mode(png: bytes, raw: dict[str, str], fmt: str, mode: str):
    content_type, extension, pillow_format = {
        "png": ("image/png", "png", "PNG"),
        "delta_png": ("image/png", "png", "PNG"),
        "jpeg": ("image/jpeg", "jpg", "JPEG"),
        "webp": ("image/webp", "webp", "WEBP"),
    }[fmt]
    result, picture = _run(png, raw)
    assert result.content_type == content_type
    assert result.extension == extension
    assert result.report.content_type == content_type
    assert result.report.format == fmt
    assert picture.format == pillow_format
    assert picture.mode == mode
    assert picture.size == (200, 100)
    assert (result.width, result.height) == (200, 100)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"background_type": "map"},
        {"background_type": "blur"},
        {"background_color": "#000000"},
        {"format": "webp", "background_type": "overlay"},
        {"format": "jpg"},
        {"format": "delta-png", "background_type": "white"},
        {"background_type": "white", "target_size": "70000 10"},
        {"format": "delta-png", "target_size": "70000 10"},
    ],
)
def test_output_format_is_known_before_processing(png: bytes, raw: dict[str, str]):
    options = Options.parse(raw)
    predicted = output_format(options)
    result = fake_engine(RECT).process(png, options)
    assert predicted.format.value == result.report.format
    assert predicted.extension == result.extension
    assert predicted.content_type == result.content_type


def test_delta_format_is_reported_as_delta(png: bytes):
    result, _ = _run(png, {"format": "delta-png"})
    assert result.report.format == "delta_png"


def test_map_as_webp_decodes(png: bytes):
    result, picture = _run(png, {"format": "webp", "background_type": "map"})
    assert result.content_type == "image/webp"
    assert picture.size == (200, 100)
    gray = np.asarray(picture.convert("L"), dtype=int)
    assert gray[FOREGROUND_POINT[1], FOREGROUND_POINT[0]] >= 250
    assert gray[BACKGROUND_POINT[1], BACKGROUND_POINT[0]] <= 5


def test_jpeg_of_transparent_result_is_flattened_on_white(png: bytes, image: Image.Image):
    _, picture = _run(png, {"format": "jpeg", "jpeg_quality": "95"})
    assert picture.mode == "RGB"
    pixels = np.asarray(picture, dtype=int)
    original = np.asarray(image, dtype=int)
    background = pixels[:15, :40]  # well away from the subject's edge
    assert np.abs(background - 255).max() <= 6
    subject = pixels[30:70, 60:140]
    assert np.abs(subject - original[30:70, 60:140]).mean() <= 6


def test_jpeg_quality_changes_size(png: bytes):
    low, _ = _run(png, {"background_type": "white", "jpeg_quality": "10"})
    high, _ = _run(png, {"background_type": "white", "jpeg_quality": "95"})
    assert len(low.data) < len(high.data)


# -------------------------------------------------------------------------------- backgrounds


def _expected_alpha() -> np.ndarray:
    return RECT(200, 100)


def test_rgba_cutout(png: bytes, image: Image.Image):
    _, picture = _run(png)
    pixels = np.asarray(picture)
    alpha = _expected_alpha()
    assert np.array_equal(pixels[..., 3], alpha)
    visible = alpha > 0
    assert np.array_equal(pixels[..., :3][visible], np.asarray(image)[visible])


def test_soft_edges_keep_colour_and_alpha(png: bytes, image: Image.Image):
    _, picture = _run(png, {"decontaminate": "false"}, matte=soft_ellipse_matte)
    pixels = np.asarray(picture)
    alpha = soft_ellipse_matte(200, 100)
    assert set(np.unique(alpha)) == {0, 128, 255}
    assert np.array_equal(pixels[..., 3], alpha)
    partial = alpha == 128
    assert np.array_equal(pixels[..., :3][partial], np.asarray(image)[partial])


@pytest.mark.parametrize(
    ("raw", "colour"),
    [
        ({"background_type": "white"}, (255, 255, 255)),
        ({"background_type": "green"}, (0, 255, 0)),
        ({"background_color": "#123456"}, (0x12, 0x34, 0x56)),
        ({"background_color": "ABCDEF", "background_type": "rgba"}, (0xAB, 0xCD, 0xEF)),
    ],
)
def test_solid_backgrounds(png: bytes, image: Image.Image, raw: dict[str, str], colour: tuple[int, int, int]):
    _, picture = _run(png, {**raw, "format": "png"})
    pixels = np.asarray(picture)
    alpha = _expected_alpha()
    assert (pixels[alpha == 0] == colour).all()
    assert np.array_equal(pixels[alpha == 255], np.asarray(image)[alpha == 255])


def test_solid_background_blends_soft_edges(png: bytes, image: Image.Image):
    raw = {"background_type": "white", "format": "png", "decontaminate": "false"}
    _, picture = _run(png, raw, matte=soft_ellipse_matte)
    alpha = soft_ellipse_matte(200, 100)
    partial = alpha == 128
    expected = np.asarray(image, dtype=float)[partial] * 128 / 255 + 255 * 127 / 255
    assert np.abs(np.asarray(picture, dtype=float)[partial] - expected).max() <= 1.5


def test_map_is_the_matte(png: bytes):
    _, picture = _run(png, {"background_type": "map"}, matte=soft_ellipse_matte)
    assert np.array_equal(np.asarray(picture), soft_ellipse_matte(200, 100))


def test_overlay_tints_the_background_only(png: bytes, image: Image.Image):
    _, picture = _run(png, {"background_type": "overlay", "format": "png"})
    pixels = np.asarray(picture, dtype=int)
    original = np.asarray(image, dtype=int)
    alpha = _expected_alpha()
    assert np.array_equal(pixels[alpha == 255], original[alpha == 255])
    background, before = pixels[alpha == 0], original[alpha == 0]
    # Tinted towards magenta: more red and blue relative to green than the original had.
    assert (background[:, 0] - background[:, 1]).mean() > (before[:, 0] - before[:, 1]).mean() + 50
    assert (background[:, 2] - background[:, 1]).mean() > (before[:, 2] - before[:, 1]).mean() + 50
    assert not np.array_equal(background, before)


def test_blur_smooths_the_background_only(png: bytes, image: Image.Image):
    _, picture = _run(png, {"background_type": "blur", "format": "png"})
    pixels = np.asarray(picture, dtype=int)
    original = np.asarray(image, dtype=int)
    alpha = _expected_alpha()
    assert np.array_equal(pixels[alpha == 255], original[alpha == 255])

    def roughness(block: np.ndarray) -> float:
        return float(np.abs(np.diff(block, axis=1)).mean() + np.abs(np.diff(block, axis=0)).mean())

    # The strip above the subject is all background.
    assert roughness(pixels[:18]) < roughness(original[:18]) / 2
    # Still the same picture, only blurred: the average colour barely moves.
    assert np.abs(pixels[:18].mean(axis=(0, 1)) - original[:18].mean(axis=(0, 1))).max() < 20


# ------------------------------------------------------------------------------------- geometry


def test_crop_to_foreground_keeps_the_subject(png: bytes, image: Image.Image):
    result, picture = _run(png, {"crop_to_foreground": "true"})
    assert picture.size == (100, 60)
    assert result.report.result_foreground == BBox(0, 0, 100, 60)
    assert result.report.input_foreground == RECT_BOX
    pixels = np.asarray(picture)
    assert (pixels[..., 3] == 255).all()
    assert np.array_equal(pixels[..., :3], np.asarray(image)[20:80, 50:150])


def test_crop_to_foreground_at_the_origin(image: Image.Image, png: bytes):
    _, picture = _run(
        png, {"crop_to_foreground": "true", "background_type": "map"}, rect_matte(0, 0, 0.5, 0.5)
    )
    assert picture.size == (100, 50)
    assert (np.asarray(picture) == 255).all()


@pytest.mark.parametrize("background", ["white", "green", "overlay", "blur", "map"])
def test_crop_to_foreground_every_background(png: bytes, image: Image.Image, background: str):
    _, picture = _run(png, {"crop_to_foreground": "true", "background_type": background, "format": "png"})
    assert picture.size == (100, 60)
    if background == "map":
        assert (np.asarray(picture) == 255).all()
    else:
        assert np.array_equal(np.asarray(picture), np.asarray(image)[20:80, 50:150])


@pytest.mark.parametrize(
    ("raw", "padding"),
    [
        ({}, (0, 0, 0, 0)),  # transparent
        ({"background_type": "white"}, (255, 255, 255)),
        ({"background_color": "#102030"}, (0x10, 0x20, 0x30)),
        ({"background_type": "map"}, (0,)),
    ],
)
def test_crop_with_margin(png: bytes, image: Image.Image, raw: dict[str, str], padding: tuple[int, ...]):
    result, picture = _run(png, {**raw, "format": "png", "crop_to_foreground": "true", "margin": "10px"})
    assert picture.size == (120, 80)
    assert result.report.result_size == (120, 80)
    assert result.report.result_foreground == BBox(10, 10, 100, 60)
    assert result.report.input_foreground == RECT_BOX
    pixels = np.asarray(picture)
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    ring = np.ones((80, 120), dtype=bool)
    ring[10:70, 10:110] = False
    if len(padding) == 4:
        assert (pixels[ring][:, 3] == 0).all()
    else:
        assert (pixels[ring] == padding).all()
    inner = pixels[10:70, 10:110]
    if raw.get("background_type") == "map":
        assert (inner == 255).all()
    else:
        assert np.array_equal(inner[..., :3], np.asarray(image)[20:80, 50:150])


def test_margin_percent_and_asymmetric(png: bytes):
    # Crop 100 x 60; "10% 5px 0 20%": top 6, right 5, bottom 0, left 20.
    result, picture = _run(png, {"crop_to_foreground": "1", "margin": "10% 5px 0 20%"})
    assert picture.size == (100 + 5 + 20, 60 + 6)
    assert result.report.result_foreground == BBox(20, 6, 100, 60)


@pytest.mark.parametrize(
    ("align", "top"),
    [("top", 0), ("middle", 60), ("bottom", 120)],
)
def test_target_size_with_alignment(png: bytes, align: str, top: int):
    # Crop 100 x 60 into 300 x 300: scaled 3x to 300 x 180; 120 rows to spare.
    result, picture = _run(
        png, {"crop_to_foreground": "true", "target_size": "300 300", "vertical_alignment": align}
    )
    assert picture.size == (300, 300)
    assert result.report.result_foreground == BBox(0, top, 300, 180)
    alpha = np.asarray(picture)[..., 3]
    assert (alpha[top : top + 180] == 255).all()
    assert (np.delete(alpha, np.s_[top : top + 180], axis=0) == 0).all()


def test_target_size_without_crop_fits_whole_image(png: bytes, image: Image.Image):
    # 200 x 100 into 100 x 100: 100 x 50 at y = 25; the subject's box shrinks by half.
    result, picture = _run(png, {"target_size": "100 100", "background_type": "white", "format": "png"})
    assert picture.size == (100, 100)
    assert result.report.result_foreground == BBox(25, 35, 50, 30)
    pixels = np.asarray(picture)
    assert (pixels[:25] == 255).all() and (pixels[75:] == 255).all()
    reference = np.asarray(image.resize((100, 50), Image.Resampling.LANCZOS), dtype=int)
    subject = pixels[25 + 12 : 25 + 38, 25 + 3 : 75 - 3].astype(int)
    assert np.abs(subject - reference[12:38, 28:72]).mean() <= 3


def test_margin_and_target_size(png: bytes):
    # Target 200 x 200 with 20 px margins: room 160 x 160; crop 100 x 60 -> 160 x 96 at y = 20 + 32.
    result, picture = _run(png, {"crop_to_foreground": "1", "target_size": "200x200", "margin": "20px"})
    assert picture.size == (200, 200)
    assert result.report.result_foreground == BBox(20, 52, 160, 96)
    alpha = np.asarray(picture)[..., 3]
    assert (alpha[:20] == 0).all() and (alpha[:, :20] == 0).all()
    assert (alpha[-20:] == 0).all() and (alpha[:, -20:] == 0).all()


def test_margin_with_no_room_in_target(png: bytes):
    with pytest.raises(InvalidOptionError) as caught:
        fake_engine(RECT).process(png, Options.parse({"target_size": "50 50", "margin": "25px"}))
    assert caught.value.option == "margin"


def test_no_foreground(png: bytes):
    result, picture = _run(png, {"crop_to_foreground": "true", "margin": "5px"}, matte=empty_matte)
    assert result.report.input_foreground is None
    assert result.report.result_foreground is None
    assert picture.size == (210, 110)  # whole image plus margins
    assert (np.asarray(picture)[..., 3] == 0).all()


# ------------------------------------------------------------------------------------ threshold


@pytest.fixture(scope="module")
def ramp_png() -> bytes:
    return encode(textured(256, 16), "PNG")


def _alpha_for_threshold(ramp_png: bytes, threshold: str) -> np.ndarray:
    _, picture = _run(ramp_png, {"threshold": threshold, "background_type": "map"}, matte=gradient_matte)
    return np.asarray(picture)


def test_threshold_zero_keeps_soft_alpha(ramp_png: bytes):
    alpha = _alpha_for_threshold(ramp_png, "0")
    assert len(np.unique(alpha)) > 200
    # Only the model's noise at the very ends is snapped: the middle of the ramp is untouched.
    assert np.array_equal(alpha[:, 10:246], gradient_matte(256, 16)[:, 10:246])


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.9, 1.0])
def test_threshold_cuts_hard(ramp_png: bytes, threshold: float):
    alpha = _alpha_for_threshold(ramp_png, str(threshold))
    assert set(np.unique(alpha)) <= {0, 255}
    row = alpha[0]
    ramp = gradient_matte(256, 16)[0]
    # Kept where the matte is at or above threshold * 255 (one level of rounding either way).
    assert (row[ramp >= threshold * 255 + 1] == 255).all()
    assert (row[ramp < threshold * 255 - 1] == 0).all()
    assert (alpha == row).all()


def test_higher_threshold_removes_more(ramp_png: bytes):
    removed = [int((_alpha_for_threshold(ramp_png, str(t)) == 0).sum()) for t in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert removed == sorted(removed)
    assert len(set(removed)) == len(removed)
    half = _alpha_for_threshold(ramp_png, "0.5")
    assert abs(int((half == 0).sum()) - 128 * 16) <= 2 * 16


def test_refine_snaps_model_noise():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    alpha = np.asarray(refine(Image.fromarray(levels, "L"), (16, 16), threshold=0.0)).ravel()
    assert (alpha[:5] == 0).all()  # 0..4 -> 0
    assert (alpha[251:] == 255).all()  # 251..255 -> 255
    assert np.array_equal(alpha[5:251], np.arange(5, 251))


def test_refine_upsamples_to_the_work_size():
    small = Image.fromarray(np.array([[0, 255], [0, 255]], dtype=np.uint8), "L")
    alpha = refine(small, (40, 20), threshold=0.5)
    assert alpha.size == (40, 20)
    pixels = np.asarray(alpha)
    assert (pixels[:, :15] == 0).all() and (pixels[:, 25:] == 255).all()


# --------------------------------------------------------------------------------- input alpha


def test_input_transparency_stays_transparent(image: Image.Image):
    rgba = image.convert("RGBA")
    alpha = np.full((100, 200), 255, dtype=np.uint8)
    alpha[:, :100] = 0  # left half transparent
    alpha[:, 150:] = 128  # right quarter half-transparent
    rgba.putalpha(Image.fromarray(alpha, "L"))
    engine = fake_engine(rect_matte(0, 0, 1, 1))  # the model says: everything is subject
    result = engine.process(encode(rgba, "PNG"), Options())
    out = np.asarray(open_bytes(result.data))[..., 3]
    assert (out[:, :100] == 0).all()
    assert (out[:, 100:150] == 255).all()
    assert (np.abs(out[:, 150:].astype(int) - 128) <= 1).all()
    assert fake_registry(engine).fake.seen_modes == ["RGBA"]
    assert result.report.input_foreground == BBox(100, 0, 100, 100)


# ---------------------------------------------------------------------------------- watermark


@pytest.mark.parametrize(
    "raw",
    [{}, {"background_type": "map"}, {"background_type": "white", "format": "png"}],
)
def test_watermark_changes_pixels_all_over(raw: dict[str, str]):
    data = encode(textured(400, 300, seed=3), "PNG")
    engine = fake_engine(rect_matte(0, 0, 1, 1))
    plain = np.asarray(open_bytes(engine.process(data, Options.parse(raw)).data), dtype=int)
    marked_image = open_bytes(engine.process(data, Options.parse({**raw, "test": "true"})).data)
    marked = np.asarray(marked_image, dtype=int)
    assert marked.shape == plain.shape
    changed = np.abs(marked - plain).reshape(300, 400, -1).max(axis=-1) > 10
    assert 0.01 < changed.mean() < 0.6  # a visible stamp, not a wipe
    for rows in (slice(0, 150), slice(150, 300)):
        for cols in (slice(0, 200), slice(200, 400)):
            assert changed[rows, cols].any()  # repeated over the whole result


def _stamp_by_stamp(image: Image.Image) -> Image.Image:
    """The watermark as first written: every stamp drawn on a full-size mask (the look to keep)."""
    width, height = image.size
    size = max(12, min(width, height) // 8)
    font = ImageFont.load_default(size=size)
    stamp = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(stamp)
    step_x, step_y = size * 6, size * 3
    for row, y in enumerate(range(-size, height + size, step_y)):
        shift = (row % 2) * step_x // 2
        for x in range(-step_x + shift, width + step_x, step_x):
            draw.text((x, y), "PREVIEW", fill=150, font=font)
    grey = {"L": 128, "RGB": (128, 128, 128), "RGBA": (128, 128, 128, 255)}[image.mode]
    return Image.composite(Image.new(image.mode, image.size, grey), image, stamp)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
@pytest.mark.parametrize(
    "size", [(1, 1), (5, 300), (300, 5), (97, 101), (400, 300), (1234, 987), (20000, 30)]
)
def test_watermark_looks_as_drawn_stamp_by_stamp(mode: str, size: tuple[int, int]):
    rng = np.random.default_rng(size[0] * 7 + size[1])
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], *channels), dtype=np.uint8), mode)
    assert np.array_equal(np.asarray(watermark(image)), np.asarray(_stamp_by_stamp(image)))


@pytest.mark.parametrize("target_size", ["400 300", "200000 1", "1 200000", "25000000 1"])
def test_watermark_work_does_not_grow_with_the_canvas(monkeypatch: pytest.MonkeyPatch, target_size: str):
    # One stamp tile (two rows of the pattern) is drawn, then copied: a handful of text renderings on
    # a tile-sized image whatever the canvas; drawing stamp by stamp took ~350,000 on 25,000,000 x 1.
    drawn_on: list[tuple[int, int]] = []
    text = ImageDraw.ImageDraw.text

    def counting(self: ImageDraw.ImageDraw, *args: Any, **kwargs: Any) -> None:
        drawn_on.append(self.im.size)
        text(self, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", counting)
    width, height = (int(v) for v in target_size.split())
    _, picture = _run(ONE_PIXEL, {"target_size": target_size, "test": "true", "format": "png"})
    assert picture.size == (width, height)
    stamp_height = max(12, min(width, height) // 8)
    assert 1 <= len(drawn_on) <= 8
    assert set(drawn_on) == {(6 * stamp_height, 6 * stamp_height)}


# -------------------------------------------------------------------------------------- report


def test_report_basics(png: bytes):
    options = Options.parse({"background_type": "white", "format": "png", "jpeg_quality": "80"})
    result = fake_engine(RECT).process(png, options)
    report = result.report
    assert report.input_size == (200, 100)
    assert report.result_size == (200, 100)
    assert report.orientation == 1
    assert report.input_foreground == RECT_BOX
    assert report.result_foreground == RECT_BOX
    assert report.model == "fake"
    assert report.format == "png"
    assert report.content_type == "image/png"
    assert report.source_format == "PNG"
    assert report.options == options.to_dict()
    assert set(report.timings_ms) == {*STAGES, "total"}
    assert all(value >= 0 for value in report.timings_ms.values())
    assert report.timings_ms["total"] >= max(v for k, v in report.timings_ms.items() if k != "total")
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["input_size"] == [200, 100]
    assert as_dict["input_foreground"] == [50, 20, 100, 60]
    assert as_dict["result_foreground"] == [50, 20, 100, 60]
    assert as_dict["options"] == {"background_type": "white", "format": "png", "jpeg_quality": "80"}
    assert set(as_dict["timings_ms"]) == {*STAGES, "total"}


def test_report_with_downscale(png: bytes):
    engine = fake_engine(RECT)
    result = engine.process(png, Options(max_pixels=5000))  # 200 x 100 -> 100 x 50
    assert fake_registry(engine).fake.seen_sizes == [(100, 50)]
    assert result.report.input_size == (200, 100)
    assert result.report.result_size == (100, 50)
    assert result.report.input_foreground == RECT_BOX  # input coordinates
    assert result.report.result_foreground == BBox(25, 10, 50, 30)  # result coordinates
    assert open_bytes(result.data).size == (100, 50)


def test_report_with_downscale_and_crop(png: bytes):
    result = fake_engine(RECT).process(png, Options.parse({"max_pixels": "5000", "crop_to_foreground": "1"}))
    assert result.report.result_size == (50, 30)
    assert result.report.input_foreground == RECT_BOX
    assert result.report.result_foreground == BBox(0, 0, 50, 30)


def test_report_of_rotated_jpeg(image: Image.Image):
    # Stored 100 x 200, EXIF 6: upright it is 200 x 100, and the subject box is in upright coordinates.
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = image.transpose(Image.Transpose.ROTATE_90)
    data = encode(stored, "JPEG", quality=95, exif=exif)
    result = fake_engine(RECT).process(data, Options())
    assert result.report.orientation == 6
    assert result.report.source_format == "JPEG"
    assert result.report.input_size == (200, 100)
    assert result.report.result_size == (200, 100)
    assert result.report.input_foreground == RECT_BOX


def test_default_options(png: bytes):
    engine = fake_engine(RECT)
    assert engine.process(png).data == engine.process(png, Options()).data


def test_model_option_selects_registered_model(png: bytes):
    result = fake_engine(RECT).process(png, Options(model="fake"))
    assert result.report.model == "fake"
    assert result.report.options == {"model": "fake"}


# ------------------------------------------------------------------------------ model resolution
#
# The rule: a name the *request* gives that this deployment cannot serve is the request's fault
# (INVALID_OPTION, option "model"); a default model that is misspelt or missing is the deployment's fault
# (MODEL_NOT_FOUND), and so is the default's file missing even when a request names it.

MISSPELT = "u2netpp"


def _engine(default: str = FAKE_MODEL, *, undeployed: tuple[str, ...] = ()) -> tuple[Engine, FakeRegistry]:
    registry = FakeRegistry(RECT, names=(FAKE_MODEL, "other", "absent"), undeployed=("absent", *undeployed))
    settings = EngineSettings(model_dirs=(), default_model=default, threads=1)
    return Engine(settings, registry=registry), registry


def test_resolve_model_without_a_request_is_the_default():
    engine, _ = _engine()
    assert engine.resolve_model(None) == engine.registry.spec(FAKE_MODEL)
    assert engine.resolve_model("") == engine.registry.spec(FAKE_MODEL)  # the option unset
    assert engine.model_name(None) == FAKE_MODEL


def test_resolve_model_with_a_request():
    engine, _ = _engine()
    assert engine.resolve_model("other").name == "other"
    assert engine.model_name("other") == "other"
    assert engine.model_name("no-such-model") == "no-such-model"  # names only; nothing is checked


def test_requested_model_selects_the_segmenter(png: bytes):
    engine, registry = _engine()
    result = engine.process(png, Options(model="other"))
    assert result.report.model == "other"
    assert registry.loads == ["other"]


@pytest.mark.parametrize("requested", ["no-such-model", MISSPELT])
def test_unknown_requested_model_is_an_invalid_option(png: bytes, requested: str):
    engine, registry = _engine()
    for call in (engine.resolve_model, engine.segmenter, engine.warm_up):
        with pytest.raises(InvalidOptionError) as caught:
            call(requested)
        assert caught.value.option == "model"
        assert repr(requested) in caught.value.message
    with pytest.raises(InvalidOptionError):
        engine.process(png, Options(model=requested))
    assert registry.loads == []


def test_undeployed_requested_model_is_an_invalid_option(png: bytes):
    engine, _ = _engine()
    with pytest.raises(InvalidOptionError) as caught:
        engine.process(png, Options(model="absent"))
    assert caught.value.option == "model"
    assert "not deployed" in caught.value.message
    with pytest.raises(InvalidOptionError):
        engine.warm_up("absent")


def test_misspelt_default_is_model_not_found(png: bytes):
    engine, _ = _engine(default=MISSPELT)
    with pytest.raises(ModelNotFoundError) as caught:
        engine.process(png)
    assert caught.value.code == "MODEL_NOT_FOUND"
    assert repr(MISSPELT) in caught.value.message
    with pytest.raises(ModelNotFoundError):
        engine.process(png, Options())
    with pytest.raises(ModelNotFoundError):
        engine.resolve_model(None)


def test_misspelt_default_fails_warm_up():
    engine, _ = _engine(default=MISSPELT)
    with pytest.raises(ModelNotFoundError) as caught:
        engine.warm_up()
    assert not isinstance(caught.value, InvalidOptionError)


def test_misspelt_default_fails_warm_up_with_the_real_registry(tmp_path: Path):
    # The processor's cold start: Engine(settings).warm_up() with BGREMOVE_DEFAULT_MODEL misspelt.
    engine = Engine(EngineSettings(model_dirs=(tmp_path,), default_model=MISSPELT, threads=1))
    assert isinstance(engine.registry, ModelRegistry)
    with pytest.raises(ModelNotFoundError, match=MISSPELT):
        engine.warm_up()


def test_misspelt_default_still_serves_requests_for_real_models(png: bytes):
    engine, _ = _engine(default=MISSPELT)
    assert engine.process(png, Options(model="other")).report.model == "other"


def test_request_naming_the_misspelt_default_is_an_invalid_option(png: bytes):
    # The request asked for a model that does not exist: its fault, whatever the default says.
    engine, _ = _engine(default=MISSPELT)
    with pytest.raises(InvalidOptionError) as caught:
        engine.process(png, Options(model=MISSPELT))
    assert caught.value.option == "model"


@pytest.mark.parametrize("requested", [None, "absent"])
def test_undeployed_default_is_model_not_found_even_when_requested(png: bytes, requested: str | None):
    # Every request would fail the same way: the deployment is at fault, not this request.
    engine, _ = _engine(default="absent")
    with pytest.raises(ModelNotFoundError) as caught:
        engine.process(png, Options(model=requested))
    assert not isinstance(caught.value, InvalidOptionError)
    with pytest.raises(ModelNotFoundError):
        engine.warm_up(requested)


def test_engine_takes_any_registry_implementing_the_protocol(png: bytes):
    registry = FakeRegistry(RECT)
    assert not isinstance(registry, ModelRegistry)
    spec = ModelSpec(name="mine", source="mine.onnx", input_size=(32, 32))
    settings = EngineSettings(model_dirs=(), default_model="mine", threads=1, custom_models=(spec,))
    engine = Engine(settings, registry=registry)
    assert engine.registry is registry
    assert registry.spec("mine") is spec  # custom models are registered through the protocol
    assert engine.segmenter() is registry.get("mine")
    assert engine.process(png).report.model == "mine"


# --------------------------------------------------------------------------------------- delta


def test_delta_through_engine(png: bytes, image: Image.Image):
    result, delta = _run(png, {"format": "delta_png", "decontaminate": "false"}, matte=soft_ellipse_matte)
    assert delta.mode == "RGBA" and delta.size == (200, 100)
    alpha = soft_ellipse_matte(200, 100)
    pixels = np.asarray(delta)
    assert (pixels[alpha == 0] == (0, 0, 0, 0)).all()
    assert (pixels[alpha == 255] == (255, 255, 255, 0)).all()
    partial = alpha == 128
    assert np.array_equal(pixels[partial, :3], np.asarray(image)[partial])
    assert (pixels[partial, 3] == 128).all()
    rebuilt = np.asarray(apply_delta(png, result.data))
    assert np.array_equal(rebuilt, expected_cutout(image, alpha))


def test_delta_rebuilds_the_plain_cutout(png: bytes):
    delta, _ = _run(png, {"format": "delta_png"}, matte=soft_ellipse_matte)
    _, cutout = _run(png, {}, matte=soft_ellipse_matte)
    assert np.array_equal(np.asarray(apply_delta(png, delta.data)), np.asarray(cutout))


def test_delta_ignores_geometry_and_colour(png: bytes):
    plain, _ = _run(png, {"format": "delta_png"})
    fancy, picture = _run(
        png,
        {
            "format": "delta_png",
            "crop_to_foreground": "true",
            "margin": "10px",
            "target_size": "50 50",
            "vertical_alignment": "top",
            "background_color": "#ff0000",
        },
    )
    assert picture.size == (200, 100)
    assert fancy.report.result_size == (200, 100)
    assert fancy.report.result_foreground == RECT_BOX
    assert np.array_equal(np.asarray(picture), np.asarray(open_bytes(plain.data)))


def test_delta_refuses_downscale(png: bytes):
    with pytest.raises(InvalidOptionError) as caught:
        fake_engine(RECT).process(png, Options.parse({"format": "delta_png", "max_pixels": "19999"}))
    assert caught.value.option == "max_pixels"
    # At exactly the input's size nothing is downscaled, so delta is fine.
    result = fake_engine(RECT).process(png, Options.parse({"format": "delta_png", "max_pixels": "20000"}))
    assert result.report.result_size == (200, 100)


@pytest.mark.parametrize("size", [(1, 101), (101, 1)])
def test_delta_refuses_downscale_of_a_one_pixel_strip(size: tuple[int, int]):
    # 1 x 101 at 100 pixels is 1 x 100: the width keeps its pixel, so the downscale shows in the height
    # only. The check once looked at the width's ratio alone and sent a 1 x 100 delta for a 1 x 101 input.
    with pytest.raises(InvalidOptionError) as caught:
        fake_engine().process(
            encode(Image.new("RGB", size), "PNG"), Options.parse({"format": "delta_png", "max_pixels": "100"})
        )
    assert caught.value.option == "max_pixels"


def _lower_half(width: int, height: int) -> np.ndarray:
    matte = np.zeros((height, width), np.uint8)
    matte[height // 2 :, :] = 255
    return matte


@pytest.mark.parametrize("size", [(1, 1000), (1000, 1)])
def test_input_foreground_of_a_strip_shrunk_along_one_side(size: tuple[int, int]):
    # 1 x 1000 at 100 pixels works at 1 x 100: the box maps back by each side's own ratio, not the width's.
    tall = size[1] > size[0]
    matte = _lower_half if tall else (lambda w, h: _lower_half(h, w).T.copy())
    result, _ = _run(encode(Image.new("RGB", size), "PNG"), {"max_pixels": "100"}, matte)
    box = result.report.input_foreground
    assert box is not None
    start, length = (box.top, box.height) if tall else (box.left, box.width)
    assert 450 <= start <= 550 and 450 <= length <= 550, box


def test_delta_of_rotated_jpeg(image: Image.Image):
    exif = Image.Exif()
    exif[0x0112] = 8
    data = encode(image.transpose(Image.Transpose.ROTATE_270), "JPEG", quality=95, exif=exif)
    result, delta = _run(data, {"format": "delta_png", "decontaminate": "false"}, matte=soft_ellipse_matte)
    assert delta.size == (200, 100)
    rebuilt = np.asarray(apply_delta(data, result.data))
    upright = open_bytes(data).transpose(Image.Transpose.ROTATE_90).convert("RGB")
    assert np.array_equal(rebuilt, expected_cutout(upright, soft_ellipse_matte(200, 100)))


def test_blur_margins_continue_the_blurred_background(png: bytes, image: Image.Image):
    _, picture = _run(png, {"background_type": "blur", "format": "png", "margin": "20px"})
    pixels = np.asarray(picture).astype(np.float32)
    band = np.concatenate([pixels[:20].reshape(-1, 3), pixels[-20:].reshape(-1, 3)])
    # not black bars: the margin holds the (blurred) picture's own colours
    assert band.mean() > 0.5 * np.asarray(image).astype(np.float32).mean()


# --------------------------------------------------------------------------- what each format can hold


@pytest.mark.parametrize(
    ("raw", "limit"),
    [
        ({"format": "webp", "target_size": "20000 100"}, "16,383"),
        ({"format": "webp", "target_size": "100 16384"}, "16,383"),
        ({"format": "jpeg", "target_size": "70000 100"}, "65,500"),
        ({"format": "jpeg", "target_size": "65501 1", "background_type": "white"}, "65,500"),
    ],
)
def test_target_size_over_the_format_limit_is_refused_before_decoding(raw: dict[str, str], limit: str):
    engine = fake_engine()
    with pytest.raises(InvalidOptionError) as caught:
        engine.process(b"", Options.parse(raw))  # even empty input: the options alone decide
    assert caught.value.option == "target_size"
    width, height = raw["target_size"].split()
    assert f"at most {limit} px a side" in caught.value.message
    assert f"would be {width}x{height}" in caught.value.message
    assert "png" in caught.value.message
    assert fake_registry(engine).fake.seen_sizes == []


@pytest.mark.parametrize(
    "raw",
    [
        {"format": "webp", "target_size": "16383 7"},
        {"format": "webp", "target_size": "7 16383"},
        {"format": "jpeg", "target_size": "65500 3"},
        {"format": "png", "target_size": "100000 3"},
        {"format": "delta_png", "target_size": "100000 3"},  # delta ignores target_size
    ],
)
def test_results_at_the_format_limit_are_written(raw: dict[str, str]):
    result, picture = _run(ONE_PIXEL, raw)
    assert picture.size == result.report.result_size
    if raw["format"] != "delta_png":
        assert picture.size == tuple(int(v) for v in raw["target_size"].split())


@pytest.mark.parametrize("raw", [{"background_type": "white"}, {"background_color": "#ffffff"}, {}])
def test_auto_picks_png_when_target_size_outgrows_jpeg(raw: dict[str, str]):
    options = Options.parse({**raw, "target_size": "70000 100"})
    assert output_format(options).format.value == "png"  # known before decoding, as the pipeline needs
    result, picture = _run(ONE_PIXEL, {**raw, "target_size": "70000 100"})
    assert (result.report.format, result.extension, picture.format) == ("png", "png", "PNG")
    assert picture.size == (70000, 100)
    # Within JPEG's limit an opaque result stays JPEG.
    assert (
        output_format(Options.parse({"background_type": "white", "target_size": "65500 100"})).extension
        == "jpg"
    )


def test_wide_input_too_large_for_webp_names_format():
    panorama = encode(textured(20000, 20, seed=2), "PNG")
    engine = fake_engine(RECT)
    with pytest.raises(InvalidOptionError) as caught:
        engine.process(panorama, Options.parse({"format": "webp"}))
    assert caught.value.option == "format"
    assert "would be 20000x20" in caught.value.message
    assert "at most 16,383 px a side" in caught.value.message


def test_crop_that_makes_the_result_fit_is_not_refused():
    # The subject spans half the width: cropped, 10000 px fits WebP; the size is judged after the crop.
    panorama = encode(textured(20000, 20, seed=2), "PNG")
    _, picture = _run(panorama, {"format": "webp", "crop_to_foreground": "true"})
    assert picture.format == "WEBP"
    assert picture.size == (10000, 12)


def test_margin_that_outgrows_webp_names_format():
    with pytest.raises(InvalidOptionError) as caught:
        fake_engine().process(ONE_PIXEL, Options.parse({"format": "webp", "margin": "0 10000px"}))
    assert caught.value.option == "format"
    assert "would be 20001x1" in caught.value.message


def test_opaque_auto_result_wider_than_jpeg_is_refused_not_renamed():
    # auto was resolved to JPEG from the options (the output key ends in .jpg already): switching to PNG
    # now would write PNG bytes under a .jpg name, so the request is refused, naming format. Inputs are at
    # most JPEG's 65,500 px a side, so it takes margins to get there.
    wide = encode(Image.new("RGB", (60000, 2), (10, 200, 30)), "PNG")
    raw = {"background_type": "white", "margin": "0 3000px"}
    assert output_format(Options.parse(raw)).extension == "jpg"
    with pytest.raises(InvalidOptionError) as caught:
        fake_engine().process(wide, Options.parse(raw))
    assert caught.value.option == "format"
    assert "auto picks jpeg" in caught.value.message
    assert "would be 66000x2" in caught.value.message
    # Asking for PNG works.
    _, picture = _run(wide, {**raw, "format": "png"})
    assert picture.size == (66000, 2)


@pytest.mark.parametrize("target_size", ["2000000 1", "1 2000000", "100000 20"])
def test_blur_bars_on_a_long_canvas_resample_a_bounded_axis(
    monkeypatch: pytest.MonkeyPatch, target_size: str
):
    # Pillow's resampling keeps ~12 bytes per filter tap for each output pixel of an axis: bilinear onto a
    # 25,000,000-px axis took 0.9 GB. Only nearest neighbour (no tables) may produce a long axis.
    resized: list[tuple[tuple[int, int], int]] = []
    resize = Image.Image.resize

    def recording(
        self: Image.Image, size: tuple[int, int], resample: int | None = None, **kw: Any
    ) -> Image.Image:
        resized.append((tuple(size), resample))  # type: ignore[arg-type]
        return resize(self, size, resample, **kw)

    monkeypatch.setattr(Image.Image, "resize", recording)
    _, picture = _run(ONE_PIXEL, {"target_size": target_size, "background_type": "blur", "format": "png"})
    assert picture.size == tuple(int(v) for v in target_size.split())
    assert resized  # the bars were resampled from the blurred picture
    for size, resample in resized:
        assert max(size) <= MAX_DECODE_SIDE or resample == Image.Resampling.NEAREST, (size, resample)
    # A one-colour picture: its blur, and so the bars, are that colour everywhere.
    assert np.asarray(picture).reshape(-1, 3).std(axis=0).max() < 1
