"""remove.bg's extras through the engine, with real pixels: scale, position, roi, background image, zip.

The fake model's matte is a known rectangle, so every expected box and pixel is worked out here by hand
from the option's documented meaning, not from the engine's code.
"""

from __future__ import annotations

import io
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from bgremove import BBox, Engine, InvalidOptionError, Options, output_format
from tests.fakes import fake_engine, full_matte
from tests.helpers import encode, open_bytes, rect_matte, textured

# A 100 x 80 input whose subject is the rectangle x 20..40, y 10..50 (20 x 40 px, centre (30, 30)).
WIDTH, HEIGHT = 100, 80
SUBJECT = rect_matte(0.2, 0.125, 0.4, 0.625)


@pytest.fixture(scope="module")
def png() -> bytes:
    return encode(textured(WIDTH, HEIGHT, seed=3), "PNG")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return fake_engine(SUBJECT)


def alpha_box(data: bytes) -> tuple[int, int, int, int] | None:
    """Corners (left, top, right, bottom) of the result's non-zero alpha."""
    return open_bytes(data).getchannel("A").getbbox()


def run(engine: Engine, png: bytes, **raw: str) -> tuple[bytes, BBox | None, tuple[int, int]]:
    result = engine.process(png, Options.parse({"format": "png", **raw}))
    return result.data, result.report.result_foreground, result.report.result_size


# ------------------------------------------------------------------------------------- scale, position


@pytest.mark.parametrize(
    ("raw", "size", "corners"),
    [
        # scale 50% of the 100x80 space: the 20x40 box may grow 2x (height binds): 1x -> 20x40, centred.
        ({"scale": "50%"}, (100, 80), (40, 20, 60, 60)),
        # 100%: 2x -> 40x80, centred horizontally, touching top and bottom.
        ({"scale": "100%"}, (100, 80), (30, 0, 70, 80)),
        # 25%: 0.5x -> 10x20; free space 90x60; 0% 100% = left edge, bottom edge.
        ({"scale": "25%", "position": "0% 100%"}, (100, 80), (0, 60, 10, 80)),
        # position alone: same size, centred.
        ({"position": "center"}, (100, 80), (40, 20, 60, 60)),
        # position alone, right/top corner.
        ({"position": "100% 0%"}, (100, 80), (80, 0, 100, 40)),
        # scale with position=original: the centre stays at (30, 30).
        ({"scale": "50%", "position": "original"}, (100, 80), (20, 10, 40, 50)),
        # 100% with position=original: 40x80 centred on x=30 -> 10..50, clamped to the space vertically.
        ({"scale": "100%", "position": "original"}, (100, 80), (10, 0, 50, 80)),
        # target-size: the space is 200x100; 100% = fit (2.5x -> 50x100), centred.
        ({"scale": "100%", "target_size": "200 100"}, (200, 100), (75, 0, 125, 100)),
        # target-size + margin: 10px all round -> space 180x80; 50% of fit (2x) = 1x -> 20x40 centred in it.
        ({"scale": "50%", "target_size": "200 100", "margin": "10px"}, (200, 100), (90, 30, 110, 70)),
        # vertical-alignment places the subject vertically when position is not given.
        ({"scale": "50%", "vertical_alignment": "bottom"}, (100, 80), (40, 40, 60, 80)),
        ({"scale": "50%", "vertical_alignment": "top"}, (100, 80), (40, 0, 60, 40)),
        # crop-to-foreground: the space is the subject's own box (20x40); 50% -> 10x20 centred in it.
        ({"scale": "50%", "crop_to_foreground": "true"}, (20, 40), (5, 10, 15, 30)),
        # no target-size: margins are added around the 100x80 space (here 10px left and right).
        ({"scale": "50%", "margin": "0 10px"}, (120, 80), (50, 20, 70, 60)),
    ],
)
def test_subject_box_in_the_result(
    engine: Engine, png: bytes, raw: dict[str, str], size: tuple[int, int], corners: tuple[int, int, int, int]
):
    data, foreground, result_size = run(engine, png, **raw)
    assert result_size == size
    assert open_bytes(data).size == size
    assert alpha_box(data) == corners
    assert foreground == BBox.from_corners(corners)


def test_placed_subject_keeps_its_pixels(engine: Engine, png: bytes):
    # Moved, not scaled: the subject's pixels are the input's, shifted from (20, 10) to (40, 20).
    data, _, _ = run(engine, png, position="center")
    result = np.asarray(open_bytes(data))
    source = np.asarray(open_bytes(png).convert("RGB"))
    assert np.array_equal(result[20:60, 40:60, :3], source[10:50, 20:40])
    assert (result[:, :40, 3] == 0).all() and (result[:, 60:, 3] == 0).all()


def test_position_original_alone_changes_nothing(engine: Engine, png: bytes):
    plain, _, _ = run(engine, png)
    original, _, _ = run(engine, png, position="original")
    assert np.array_equal(np.asarray(open_bytes(plain)), np.asarray(open_bytes(original)))


def test_placement_is_ignored_by_delta(engine: Engine, png: bytes):
    plain = engine.process(png, Options.parse({"format": "delta_png"}))
    placed = engine.process(png, Options.parse({"format": "delta_png", "scale": "30%", "position": "0 0"}))
    assert placed.data == plain.data


def test_scale_without_a_subject_places_the_whole_image(png: bytes):
    empty = fake_engine(lambda w, h: np.zeros((h, w), dtype=np.uint8))
    result = empty.process(png, Options.parse({"scale": "50%", "format": "png"}))
    assert result.report.result_size == (WIDTH, HEIGHT)
    assert result.report.result_foreground is None


# ------------------------------------------------------------------------------------------------ roi


@pytest.mark.parametrize(
    ("roi", "corners"),
    [
        ("10 20 50 60", (10, 20, 50, 60)),
        ("50% 0% 100% 100%", (50, 0, 100, 80)),
        ("10% 25% 30px 100%", (10, 20, 30, 80)),
        ("90 70 500 500", (90, 70, 100, 80)),  # clipped to the input
    ],
)
def test_roi_clears_the_matte_outside(png: bytes, roi: str, corners: tuple[int, int, int, int]):
    everything = fake_engine(full_matte)
    result = everything.process(png, Options.parse({"roi": roi, "format": "png"}))
    assert result.report.result_size == (WIDTH, HEIGHT)  # the size is kept
    alpha = np.asarray(open_bytes(result.data).getchannel("A"))
    left, top, right, bottom = corners
    assert (alpha[top:bottom, left:right] == 255).all()
    outside = np.ones_like(alpha, dtype=bool)
    outside[top:bottom, left:right] = False
    assert (alpha[outside] == 0).all()
    assert result.report.result_foreground == BBox.from_corners(corners)


def test_roi_keeps_only_the_subject_inside(engine: Engine, png: bytes):
    # The subject is x 20..40; a roi of x 30..100 keeps its right half; crop then crops to what is left.
    _, foreground, size = run(engine, png, roi="30 0 100 80", crop_to_foreground="true")
    assert size == (10, 40)
    assert foreground == BBox(0, 0, 10, 40)


def test_roi_refers_to_the_input_before_max_pixels(png: bytes):
    # max_pixels 2000 halves 100x80 to 50x40; the roi in input pixels lands on the same picture area.
    everything = fake_engine(full_matte)
    result = everything.process(
        png, Options.parse({"roi": "20 20 60 40", "max_pixels": "2000", "format": "png"})
    )
    assert result.report.result_size == (50, 40)
    assert alpha_box(result.data) == (10, 10, 30, 20)
    assert result.report.input_foreground == BBox(20, 20, 40, 20)


def test_roi_applies_to_delta(png: bytes):
    everything = fake_engine(full_matte)
    delta = open_bytes(
        everything.process(png, Options.parse({"roi": "0 0 50% 100%", "format": "delta_png"})).data
    )
    pixels = np.asarray(delta)
    assert (pixels[:, 50:] == 0).all()  # background: transparent black
    assert (pixels[:, :50] == (255, 255, 255, 0)).all()  # foreground: transparent white


def test_roi_that_leaves_nothing_is_an_option_error(png: bytes):
    with pytest.raises(InvalidOptionError) as caught:
        fake_engine(full_matte).process(png, Options.parse({"roi": "90% 0 10px 100%"}))
    assert caught.value.option == "roi"
    assert "100x80" in caught.value.message


# ------------------------------------------------------------------------------------- background image


def halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue."""
    picture = Image.new("RGB", (width, height), (255, 0, 0))
    picture.paste((0, 0, 255), (width // 2, 0, width, height))
    return picture


def outside_subject(result: np.ndarray, corners: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = corners
    mask = np.ones(result.shape[:2], dtype=bool)
    mask[top:bottom, left:right] = False
    return mask


def test_background_of_the_result_size_is_used_as_it_is(engine: Engine, png: bytes):
    background = textured(WIDTH, HEIGHT, seed=9)
    result = engine.process(
        png,
        Options.parse({"background_image": "bg.png", "format": "png"}),
        background=encode(background, "PNG"),
    )
    picture = np.asarray(open_bytes(result.data))
    assert picture.shape == (HEIGHT, WIDTH, 3)  # opaque
    expected = np.asarray(background)
    mask = outside_subject(picture, (20, 10, 40, 50))
    assert np.array_equal(picture[mask], expected[mask])
    source = np.asarray(open_bytes(png).convert("RGB"))
    assert np.array_equal(picture[10:50, 20:40], source[10:50, 20:40])  # the subject on top


@pytest.mark.parametrize(
    "background_size",
    [
        (200, 80),  # covers at 1x: its middle 100 columns (50..150) are kept, split at result column 50
        (40, 80),  # 2.5x to cover the width (100x200): the middle 80 rows kept, split at column 50
        (400, 40),  # 2x to cover the height (800x80): columns 350..450 kept, split at column 50
    ],
)
def test_background_is_cover_fitted(engine: Engine, png: bytes, background_size: tuple[int, int]):
    background = encode(halves(*background_size), "PNG")
    result = engine.process(
        png, Options.parse({"background_image": "bg", "format": "png"}), background=background
    )
    picture = np.asarray(open_bytes(result.data)).astype(int)
    assert picture.shape == (HEIGHT, WIDTH, 3)
    # Left of the subject (x 20..40) all red, right of the split's resampling ringing all blue, and the
    # split itself where centring puts it.
    assert (np.abs(picture[:, :18] - (255, 0, 0)) <= 1).all()
    assert (np.abs(picture[:, 58:] - (0, 0, 255)) <= 1).all()
    assert (picture[:, 46, 0] > picture[:, 46, 2]).all() and (picture[:, 54, 2] > picture[:, 54, 0]).all()


def test_background_covers_margins_and_target_size(engine: Engine, png: bytes):
    background = encode(Image.new("RGB", (30, 30), (0, 128, 0)), "PNG")
    options = Options.parse(
        {"background_image": "bg", "crop_to_foreground": "true", "margin": "10px", "format": "png"}
    )
    result = engine.process(png, options, background=background)
    picture = np.asarray(open_bytes(result.data)).astype(int)
    assert picture.shape == (60, 40, 3)  # 20x40 subject + 10px all round
    mask = outside_subject(picture, (10, 10, 30, 50))
    assert (np.abs(picture[mask] - (0, 128, 0)) <= 1).all()


def test_background_with_scale_fills_the_canvas(engine: Engine, png: bytes):
    background = encode(Image.new("RGB", (7, 3), (200, 100, 50)), "PNG")
    options = Options.parse({"background_image": "bg", "scale": "25%", "position": "0 0", "format": "png"})
    picture = np.asarray(open_bytes(engine.process(png, options, background=background).data)).astype(int)
    mask = outside_subject(picture, (0, 0, 10, 20))
    assert (np.abs(picture[mask] - (200, 100, 50)) <= 1).all()


# Shapes whose cover-fit box came out a hair outside the background in floating point (321 / (321 / 600)
# is 600.0000000000001), which Pillow refused: "box offset can't be negative", an INTERNAL_ERROR.
@pytest.mark.parametrize(
    ("input_size", "subject", "raw", "result_size", "corners"),
    [
        # A portrait photo on a landscape background: the height binds (x 1.2025).
        ((321, 481), (0.4, 0.4, 0.6, 0.6), {}, (321, 481), (128, 192, 193, 289)),
        # A square result from crop_to_foreground (a 93 x 93 subject) and a 10 px margin.
        (
            (200, 200),
            (0.2, 0.2, 0.665, 0.665),
            {"crop_to_foreground": "true", "margin": "10px"},
            (113, 113),
            (10, 10, 103, 103),
        ),
        ((113, 113), (0.4, 0.4, 0.6, 0.6), {}, (113, 113), (45, 45, 68, 68)),
        # One pixel wide.
        ((1, 57), (0.0, 0.4, 1.0, 0.6), {}, (1, 57), (0, 23, 1, 34)),
    ],
)
def test_background_cover_fit_of_awkward_shapes(
    input_size: tuple[int, int],
    subject: tuple[float, float, float, float],
    raw: dict[str, str],
    result_size: tuple[int, int],
    corners: tuple[int, int, int, int],
):
    background = encode(Image.new("RGB", (600, 400), (0, 128, 0)), "PNG")
    options = Options.parse({"background_image": "bg", "format": "png", **raw})
    result = fake_engine(rect_matte(*subject)).process(
        encode(textured(*input_size, seed=4), "PNG"), options, background=background
    )
    picture = np.asarray(open_bytes(result.data)).astype(int)
    assert picture.shape == (result_size[1], result_size[0], 3)
    assert (np.abs(picture[outside_subject(picture, corners)] - (0, 128, 0)) <= 1).all()


def test_portrait_on_a_landscape_background_keeps_its_middle():
    # 321 x 481 on 600 x 400: scaled x 1.2025 to cover the height, the middle 266.9 columns are kept
    # (166.5..433.5), all inside the blue band 160..440.
    stripes = Image.new("RGB", (600, 400), (255, 0, 0))
    stripes.paste((0, 0, 255), (160, 0, 440, 400))
    options = Options.parse({"background_image": "bg", "format": "png"})
    result = fake_engine(rect_matte(0.4, 0.4, 0.6, 0.6)).process(
        encode(textured(321, 481, seed=4), "PNG"), options, background=encode(stripes, "PNG")
    )
    picture = np.asarray(open_bytes(result.data)).astype(int)
    mask = outside_subject(picture, (128, 192, 193, 289))
    assert (np.abs(picture[mask] - (0, 0, 255)) <= 1).all()


def test_background_transparency_is_flattened_onto_white(engine: Engine, png: bytes):
    background = encode(Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0)), "PNG")
    result = engine.process(
        png, Options.parse({"background_image": "bg", "format": "png"}), background=background
    )
    picture = np.asarray(open_bytes(result.data))
    assert picture.shape[2] == 3
    assert (picture[0:5, 0:5] == 255).all()


def test_background_auto_format_is_jpeg(engine: Engine, png: bytes):
    options = Options.parse({"background_image": "bg"})
    result = engine.process(png, options, background=encode(Image.new("RGB", (5, 5)), "PNG"))
    assert result.content_type == "image/jpeg" == output_format(options).content_type
    assert open_bytes(result.data).format == "JPEG"


@pytest.mark.parametrize(
    ("background", "code"),
    [
        (b"not an image at all", "NOT_AN_IMAGE"),
        (b"", "EMPTY_INPUT"),
        (encode(Image.new("RGB", (40, 40)), "PNG")[:60], "CORRUPT_IMAGE"),
    ],
)
def test_bad_background_is_an_option_error(engine: Engine, png: bytes, background: bytes, code: str):
    with pytest.raises(InvalidOptionError) as caught:
        engine.process(png, Options.parse({"background_image": "bg"}), background=background)
    assert caught.value.option == "background_image"
    assert code in caught.value.message


def test_background_bomb_is_refused_before_decoding(engine: Engine, png: bytes):
    # A PNG header claiming 20000 x 20000 (400 MP): the decoder's pixel limit refuses it from the header.
    header = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    header[16:24] = (20000).to_bytes(4, "big") * 2
    header[29:33] = zlib.crc32(bytes(header[12:29])).to_bytes(4, "big")  # IHDR's CRC
    with pytest.raises(InvalidOptionError) as caught:
        engine.process(png, Options.parse({"background_image": "bg"}), background=bytes(header))
    assert "IMAGE_TOO_LARGE" in caught.value.message


def test_background_option_without_bytes_is_an_option_error(engine: Engine, png: bytes):
    with pytest.raises(InvalidOptionError) as caught:
        engine.process(png, Options.parse({"background_image": "bg"}))
    assert caught.value.option == "background_image"
    assert "not supplied" in caught.value.message


def test_background_bytes_without_the_option_is_a_caller_bug(engine: Engine, png: bytes):
    with pytest.raises(ValueError, match="background_image is not set"):
        engine.process(png, Options(), background=png)


# ------------------------------------------------------------------------------------------------ zip


def members(data: bytes) -> dict[str, Image.Image]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
        return {name: open_bytes(archive.read(name)) for name in archive.namelist()}


def test_zip_holds_the_colour_image_and_the_matte(engine: Engine, png: bytes):
    result = engine.process(png, Options.parse({"format": "zip", "jpeg_quality": "95"}))
    assert (result.content_type, result.extension, result.report.format) == ("application/zip", "zip", "zip")
    parts = members(result.data)
    color, alpha = parts["color.jpg"], parts["alpha.png"]
    assert (color.format, color.mode, color.size) == ("JPEG", "RGB", (WIDTH, HEIGHT))
    assert (alpha.format, alpha.mode, alpha.size) == ("PNG", "L", (WIDTH, HEIGHT))
    expected_alpha = SUBJECT(WIDTH, HEIGHT)
    assert np.array_equal(np.asarray(alpha), expected_alpha)
    # The colour image is the input's, background included (JPEG: close, not equal).
    source = np.asarray(open_bytes(png).convert("RGB")).astype(int)
    assert np.abs(np.asarray(color).astype(int) - source).mean() < 4


def test_zip_ignores_background_options_for_the_colour(engine: Engine, png: bytes):
    plain = members(engine.process(png, Options.parse({"format": "zip"})).data)
    painted = members(
        engine.process(png, Options.parse({"format": "zip", "background_color": "#00ff00"})).data
    )
    assert np.array_equal(np.asarray(plain["color.jpg"]), np.asarray(painted["color.jpg"]))


def test_zip_follows_the_geometry(engine: Engine, png: bytes):
    options = Options.parse(
        {"format": "zip", "crop_to_foreground": "true", "margin": "5px", "roi": "0 0 30 80"}
    )
    result = engine.process(png, options)
    parts = members(result.data)
    assert result.report.result_size == parts["color.jpg"].size == parts["alpha.png"].size == (20, 50)
    alpha = np.asarray(parts["alpha.png"])
    assert (alpha[5:45, 5:15] == 255).all()
    alpha_outside = alpha.copy()
    alpha_outside[5:45, 5:15] = 0
    assert (alpha_outside == 0).all()
    color = np.asarray(parts["color.jpg"]).astype(int)
    assert color[:2].mean() <= 4  # margins are black (JPEG: nearly)
