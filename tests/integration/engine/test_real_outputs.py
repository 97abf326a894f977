"""The real model through every output option: backgrounds, formats, geometry, orientation, downscale."""

from __future__ import annotations

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from bgremove import BBox, Engine, InvalidOptionError, Options, apply_delta
from tests.helpers import encode, iou, open_bytes, photo, photo_bytes
from tests.integration.conftest import Run
from tests.integration.engine.test_real_photos import PROBES

pytestmark = pytest.mark.integration


def _alpha(data: bytes) -> np.ndarray:
    picture = open_bytes(data)
    return np.asarray(picture.getchannel("A") if picture.mode == "RGBA" else picture.convert("L"))


# ------------------------------------------------------------------------------- backgrounds


@pytest.mark.parametrize(
    ("background_type", "pillow_format", "mode"),
    [
        ("rgba", "PNG", "RGBA"),
        ("map", "PNG", "L"),
        ("white", "JPEG", "RGB"),
        ("green", "JPEG", "RGB"),
        ("blur", "JPEG", "RGB"),
        ("overlay", "JPEG", "RGB"),
    ],
)
def test_every_background_type(run: Run, background_type: str, pillow_format: str, mode: str):
    result = run("coffee", background_type=background_type)
    picture = open_bytes(result.data)
    assert picture.format == pillow_format
    assert picture.mode == mode
    assert picture.size == (600, 400)
    assert result.report.result_size == (600, 400)
    pixels = np.asarray(picture.convert("RGB"), dtype=int)
    original = np.asarray(photo("coffee"), dtype=int)
    table = PROBES["coffee"]["background"][0]  # wood, top right
    cup = PROBES["coffee"]["subject"][0]  # crema
    at_table = pixels[table[1], table[0]]
    at_cup = pixels[cup[1], cup[0]]
    if background_type == "white":
        assert (np.abs(at_table - 255) <= 8).all()
    elif background_type == "green":
        assert (np.abs(at_table - (0, 255, 0)) <= 12).all()
    elif background_type in ("blur", "overlay"):
        assert not (np.abs(at_table - original[table[1], table[0]]) <= 2).all()
    if background_type != "map":
        # The subject keeps its own colours (JPEG tolerance).
        assert (np.abs(at_cup - original[cup[1], cup[0]]) <= 12).all()


def test_background_color(run: Run):
    picture = open_bytes(run("chelsea", background_color="#3050a0", format="png").data)
    assert picture.mode == "RGB"
    x, y = PROBES["chelsea"]["background"][1]
    assert picture.getpixel((x, y)) == (0x30, 0x50, 0xA0)


@pytest.mark.parametrize(
    ("raw", "pillow_format", "mode"),
    [
        ({"format": "png"}, "PNG", "RGBA"),
        ({"format": "jpeg"}, "JPEG", "RGB"),
        ({"format": "webp"}, "WEBP", "RGBA"),
        ({"format": "delta_png"}, "PNG", "RGBA"),
        ({"format": "jpeg", "background_type": "map"}, "JPEG", "L"),
        ({"format": "webp", "background_type": "white"}, "WEBP", "RGB"),
        ({"format": "png", "background_type": "overlay"}, "PNG", "RGB"),
    ],
)
def test_every_format(run: Run, raw: dict[str, str], pillow_format: str, mode: str):
    result = run("astronaut", **raw)
    picture = open_bytes(result.data)
    assert picture.format == pillow_format
    assert picture.mode == mode
    assert picture.size == (512, 512)


def test_webp_alpha_matches_png(run: Run):
    png = _alpha(run("astronaut", format="png").data)
    webp = _alpha(run("astronaut", format="webp").data)
    assert np.abs(png.astype(int) - webp.astype(int)).mean() < 2


# ---------------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_crop_to_foreground(run: Run, name: str):
    full = run(name, background_type="map")
    box = full.report.input_foreground
    assert box is not None
    cropped = run(name, background_type="map", crop_to_foreground="true")
    assert cropped.report.result_size == (box.width, box.height)
    assert cropped.report.result_foreground == BBox(0, 0, box.width, box.height)
    assert cropped.report.input_foreground == box
    matte = np.asarray(open_bytes(full.data))
    assert np.array_equal(
        np.asarray(open_bytes(cropped.data)), matte[box.top : box.bottom, box.left : box.right]
    )


def test_crop_with_margin(run: Run):
    box = run("coffee", background_type="map").report.input_foreground
    assert box is not None
    result = run("coffee", crop_to_foreground="true", margin="10px 20px")
    assert result.report.result_size == (box.width + 40, box.height + 20)
    assert result.report.result_foreground == BBox(20, 10, box.width, box.height)
    alpha = _alpha(result.data)
    assert (alpha[:10] == 0).all() and (alpha[-10:] == 0).all()
    assert (alpha[:, :20] == 0).all() and (alpha[:, -20:] == 0).all()
    cup = PROBES["coffee"]["subject"][0]
    assert alpha[cup[1] - box.top + 10, cup[0] - box.left + 20] > 200


@pytest.mark.parametrize("align", ["top", "middle", "bottom"])
def test_crop_margin_and_target_size(run: Run, align: str):
    # Coffee's subject is wider than tall; a 300 x 300 target with 5% margins leaves 270 x 270 inside.
    result = run(
        "coffee", crop_to_foreground="true", margin="5%", target_size="300 300", vertical_alignment=align
    )
    assert result.report.result_size == (300, 300)
    box = result.report.result_foreground
    assert box is not None
    assert box.left >= 15 and box.top >= 15 and box.right <= 285 and box.bottom <= 285
    assert (box.left, box.right) == (15, 285)  # width-bound: fills the inner width
    assert box.height < 270
    expected_top = {"top": 15, "middle": 15 + (270 - box.height) // 2, "bottom": 285 - box.height}[align]
    assert abs(box.top - expected_top) <= 1
    alpha = _alpha(result.data)
    outside = np.ones_like(alpha, dtype=bool)
    outside[box.top : box.bottom, box.left : box.right] = False
    assert (alpha[outside] == 0).all()
    assert (alpha[box.top : box.bottom, box.left : box.right] > 200).mean() > 0.3


def test_target_size_upscales_portrait_subject(run: Run):
    # Astronaut's subject is about as tall as the image; into 200 x 600 it becomes width-bound, upscaled.
    result = run("astronaut", crop_to_foreground="1", target_size="1000 1200", background_type="white")
    picture = open_bytes(result.data)
    assert picture.size == (1000, 1200)
    box = result.report.result_foreground
    assert box is not None
    source = result.report.input_foreground
    assert source is not None
    assert box.width == 1000 or box.height == 1200
    assert box.width / box.height == pytest.approx(source.width / source.height, rel=0.02)


# ------------------------------------------------------------------------------- orientation


@pytest.mark.parametrize("name", ["coffee", "astronaut"])
def test_orientation_6_gives_the_same_matte(engine: Engine, name: str):
    upright = photo(name)
    exif = Image.Exif()
    exif[0x0112] = 6
    # Orientation 6 stores the picture turned 90 degrees counter-clockwise (the camera was turned).
    rotated_jpeg = encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)
    upright_jpeg = encode(upright, "JPEG", quality=95)
    options = Options.parse({"background_type": "map"})
    rotated = engine.process(rotated_jpeg, options)
    straight = engine.process(upright_jpeg, options)
    assert rotated.report.orientation == 6
    assert rotated.report.input_size == upright.size
    assert rotated.report.result_size == upright.size
    a = np.asarray(open_bytes(rotated.data)) >= 128
    b = np.asarray(open_bytes(straight.data)) >= 128
    assert iou(a, b) > 0.95
    # Without the EXIF tag the same stored pixels are processed sideways, at the stored size.
    plain = engine.process(encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95), options)
    assert plain.report.orientation == 1
    assert plain.report.result_size == upright.size[::-1]


# --------------------------------------------------------------------------------- downscale


def test_max_pixels_downscale(run: Run):
    # The fast tier: at 200x200 px u2net leaves the held helmet half transparent (a model's judgement, not the
    # downscale's), which the subject probes would read as a failure of the downscale.
    full = run("astronaut", background_type="map", model="u2netp")
    small = run("astronaut", background_type="map", max_pixels="40000", model="u2netp")
    width, height = small.report.result_size
    assert width * height <= 40_000
    assert width == height  # square stays square
    assert small.report.input_size == (512, 512)
    matte = np.asarray(open_bytes(small.data))
    assert matte.shape == (height, width)
    scale = width / 512
    for x, y in PROBES["astronaut"]["subject"]:
        assert matte[int(y * scale), int(x * scale)] > 200
    for x, y in PROBES["astronaut"]["background"]:
        assert matte[int(y * scale), int(x * scale)] < 50
    big_box, small_box = full.report.input_foreground, small.report.input_foreground
    assert big_box is not None and small_box is not None
    # The reported input box is in input coordinates, close to the full-resolution one.
    slack = 2 / scale + 4
    for a, b in zip(big_box.corners(), small_box.corners(), strict=True):
        assert abs(a - b) <= slack
    result_box = small.report.result_foreground
    assert result_box is not None
    assert result_box.right <= width and result_box.bottom <= height


def test_max_pixels_on_landscape(run: Run):
    result = run("coffee", max_pixels="60000", background_type="white")
    width, height = result.report.result_size
    assert width * height <= 60_000
    assert width / height == pytest.approx(1.5, rel=0.02)
    assert open_bytes(result.data).size == (width, height)


# --------------------------------------------------------------------------------- the rest


@pytest.mark.parametrize("raw", [{}, {"background_type": "map"}])
def test_watermark_changes_pixels(run: Run, raw: dict[str, str]):
    plain = open_bytes(run("chelsea", **raw).data)
    marked = open_bytes(run("chelsea", test="true", **raw).data)
    assert marked.size == plain.size and marked.mode == plain.mode
    difference = np.abs(np.asarray(marked, dtype=int) - np.asarray(plain, dtype=int))
    changed = difference.reshape(300, 451, -1).max(axis=-1) > 10
    assert 0.01 < changed.mean() < 0.6


@pytest.mark.parametrize("name", ["chelsea", "astronaut"])
def test_delta_round_trip_equals_cutout(run: Run, name: str):
    delta = run(name, format="delta_png")
    assert delta.report.result_size == delta.report.input_size
    rebuilt = apply_delta(photo_bytes(name), delta.data)
    cutout = open_bytes(run(name).data)
    assert np.array_equal(np.asarray(rebuilt), np.asarray(cutout))


def test_delta_refuses_downscale(engine: Engine):
    with pytest.raises(InvalidOptionError) as caught:
        engine.process(photo_bytes("coffee"), Options.parse({"format": "delta_png", "max_pixels": "100000"}))
    assert caught.value.option == "max_pixels"


def test_threshold_on_real_matte(run: Run):
    soft = _alpha(run("chelsea", background_type="map").data)
    low = _alpha(run("chelsea", background_type="map", threshold="0.2").data)
    high = _alpha(run("chelsea", background_type="map", threshold="0.9").data)
    assert set(np.unique(low)) <= {0, 255} and set(np.unique(high)) <= {0, 255}
    assert len(np.unique(soft)) > 50  # the cat's whiskers and fur give a soft edge
    assert (high == 255).sum() <= (low == 255).sum()
    assert np.array_equal(high == 255, soft >= round(0.9 * 255))


def test_heic_input_gives_the_same_subject(engine: Engine, run: Run):
    pillow_heif.register_heif_opener()
    heic = encode(photo("coffee"), "HEIF", quality=90)
    result = engine.process(heic, Options.parse({"background_type": "map"}))
    assert result.report.source_format == "HEIF"
    reference = _alpha(run("coffee", background_type="map").data) >= 128
    assert iou(np.asarray(open_bytes(result.data)) >= 128, reference) > 0.95


def test_same_input_same_output(engine: Engine, run: Run):
    again = engine.process(photo_bytes("coffee"), Options())
    assert again.data == run("coffee").data
