"""Options for remove.bg's extras: background image, region of interest, scale, position, zip output.

Parsing, limits, canonical text (round trip) and the conflicts between options, as the option table
declares them; the pixels are checked in ``test_engine_placement.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from bgremove import InvalidOptionError, Options, OutputFormat, output_format
from bgremove.limits import MAX_DECODE_SIDE, MAX_REFERENCE_CHARS
from bgremove.options import POSITION_CENTER, POSITION_ORIGINAL, Length, Position, Roi, option_field


def refused(raw: dict[str, Any], option: str) -> InvalidOptionError:
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse(raw)
    assert caught.value.option == option
    assert caught.value.code == "INVALID_OPTION"
    return caught.value


def round_trips(options: Options) -> None:
    written = options.to_dict()
    assert Options.parse(written) == options
    assert Options.parse({option_field(k).metadata_key: v for k, v in written.items()}) == options


# ------------------------------------------------------------------------------------- background image


def test_background_image_is_a_reference_kept_as_given():
    options = Options.parse({"background-image": "  backgrounds/Wall 1.jpg "})
    assert options.background_image == "backgrounds/Wall 1.jpg"
    assert options.to_dict() == {"background_image": "backgrounds/Wall 1.jpg"}
    round_trips(options)


def test_background_image_long_keys_up_to_the_limit():
    key = "k/" + "x" * (MAX_REFERENCE_CHARS - 2)
    assert Options.parse({"background_image": key}).background_image == key
    error = refused({"background_image": key + "x"}, "background_image")
    assert f"{MAX_REFERENCE_CHARS}" in error.message


@pytest.mark.parametrize("raw", [5, 1.5, ["a"], {"key": "a"}, True])
def test_background_image_must_be_text(raw: object):
    refused({"background_image": raw}, "background_image")


def test_background_image_blank_means_none():
    assert Options.parse({"background_image": "  "}).background_image is None


def test_background_image_makes_the_result_opaque():
    options = Options.parse({"background_image": "bg.jpg"})
    assert output_format(options).format is OutputFormat.JPEG  # auto: opaque result
    assert output_format(Options.parse({"background_image": "bg.jpg", "format": "png"})).extension == "png"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"background_color": "#ffffff"}, "background_color"),
        ({"background_type": "map"}, "background_type=map"),
        ({"background_type": "blur"}, "background_type=blur"),
        ({"background_type": "white"}, "background_type=white"),
        ({"format": "zip"}, "format=zip"),
        ({"format": "delta_png"}, "format=delta_png"),
    ],
)
def test_background_image_conflicts(raw: dict[str, str], words: str):
    error = refused({"background-image": "bg.jpg", **raw}, "background_image")
    assert words in error.message


def test_background_image_conflict_is_named_as_the_caller_spells_it():
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse(
            {"bg_image_url": "https://example.com/a.jpg", "bg_color": "#000000"},
            names={"bg_image_url": "background_image", "bg_color": "background_color"},
        )
    assert caught.value.option == "bg_image_url"


def test_background_image_typed_constructor():
    assert Options(background_image="a.png").background_image == "a.png"
    with pytest.raises(InvalidOptionError):
        Options(background_image="")
    with pytest.raises(InvalidOptionError):
        Options(background_image=b"a.png")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ roi


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0 0 640 480", Roi(Length(0), Length(0), Length(640), Length(480))),
        ("10px 20px 30px 40px", Roi(Length(10), Length(20), Length(30), Length(40))),
        ("10% 0% 90% 100%", Roi(Length(10, True), Length(0, True), Length(90, True), Length(100, True))),
        ("10%, 5px, 50%, 100px", Roi(Length(10, True), Length(5), Length(50, True), Length(100))),
        ("0.5% 0 99.5% 1.25px", Roi(Length(0.5, True), Length(0), Length(99.5, True), Length(1.25))),
    ],
)
def test_roi_values(raw: str, expected: Roi):
    options = Options.parse({"roi": raw})
    assert options.roi == expected
    round_trips(options)


def test_roi_resolves_against_a_size():
    roi = Options.parse({"roi": "10% 20px 50% 100%"}).roi
    assert roi is not None
    assert roi.to_px(200, 100) == (20, 20, 100, 100)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("0 0 100", "4 values"),
        ("0 0 100 100 5", "4 values"),
        ("a b c d", "not a length"),
        ("-5 0 10 10", "not a length"),
        ("0 0 101% 50%", "over 100%"),
        (f"0 0 {MAX_DECODE_SIDE + 1} 10", f"over {MAX_DECODE_SIDE}px"),
        ("50 0 50 10", "x2 (50px) must be greater than x1 (50px)"),
        ("0 60% 10 40%", "y2 (40%) must be greater than y1 (60%)"),
    ],
)
def test_roi_refused(raw: str, words: str):
    error = refused({"roi": raw}, "roi")
    assert words in error.message


def test_roi_mixed_units_are_checked_against_the_input_later():
    # 90% of the width against 10px: only the input's size can tell; the parser lets it through.
    assert Options.parse({"roi": "90% 0 10px 100%"}).roi is not None


def test_roi_typed_constructor_checks_lengths():
    with pytest.raises(InvalidOptionError) as caught:
        Options(roi=Roi(Length(0), Length(0), Length(float("nan")), Length(5)))
    assert caught.value.option == "roi"


# --------------------------------------------------------------------------------------- scale, position


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("original", None),
        ("ORIGINAL", None),
        ("10%", 10.0),
        ("100%", 100.0),
        ("55.5%", 55.5),
        ("80", 80.0),
        (50, 50.0),
    ],
)
def test_scale_values(raw: object, expected: float | None):
    options = Options.parse({"scale": raw})
    assert options.scale == expected
    round_trips(options)
    if expected is not None:
        assert options.to_dict()["scale"].endswith("%")


@pytest.mark.parametrize(
    "raw", ["9.99%", "0%", "100.1%", "0.5", "-50%", "half", "50%%", float("nan"), 1e400, True]
)
def test_scale_refused(raw: object):
    error = refused({"scale": raw}, "scale")
    assert "original" in error.message or "number" in error.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("original", POSITION_ORIGINAL),
        ("center", POSITION_CENTER),
        ("Centre", POSITION_CENTER),
        ("50%", POSITION_CENTER),
        ("0% 100%", Position(0.0, 100.0)),
        ("25, 75", Position(25.0, 75.0)),
        ("12.5%", Position(12.5, 12.5)),
        (30, Position(30.0, 30.0)),
    ],
)
def test_position_values(raw: object, expected: Position):
    options = Options.parse({"position": raw})
    assert options.position == expected
    round_trips(options)


@pytest.mark.parametrize("raw", ["101%", "-1%", "left", "10% 20% 30%", "50%% 1", "1e1%", True])
def test_position_refused(raw: object):
    refused({"position": raw}, "position")


def test_position_typed_constructor():
    assert Options(position=Position(None, None)).position == POSITION_ORIGINAL
    for bad in (Position(50.0, None), Position(None, 50.0), Position(200.0, 0.0), Position(True, 1.0)):  # type: ignore[arg-type]
        with pytest.raises(InvalidOptionError) as caught:
            Options(position=bad)
        assert caught.value.option == "position"


def test_places_subject():
    assert not Options().places_subject
    assert not Options.parse({"position": "original"}).places_subject
    assert Options.parse({"position": "center"}).places_subject
    assert Options.parse({"scale": "50%"}).places_subject
    assert Options.parse({"scale": "50%", "position": "original"}).places_subject


# ------------------------------------------------------------------------------------------------ zip


def test_zip_format():
    options = Options.parse({"format": "ZIP"})
    assert options.format is OutputFormat.ZIP and options.is_zip
    info = output_format(options)
    assert (info.format, info.extension, info.content_type) == (OutputFormat.ZIP, "zip", "application/zip")
    round_trips(options)


def test_zip_with_background_options_is_allowed():
    # color.jpg holds the input's own colours: background options are irrelevant to it, not an error.
    assert Options.parse({"format": "zip", "background_color": "#ff0000"}).is_zip
    assert Options.parse({"format": "zip", "background_type": "map"}).is_zip


def test_json_schema_of_the_new_options():
    assert option_field("background_image").json_schema()["maxLength"] == MAX_REFERENCE_CHARS
    assert "zip" in option_field("format").json_schema()["enum"]
    for name in ("roi", "scale", "position"):
        assert option_field(name).json_schema()["type"] == "string"
