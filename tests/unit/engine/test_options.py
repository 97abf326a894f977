"""Option parsing: strings in (metadata, CLI, forms), one validated ``Options`` out, or INVALID_OPTION."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from bgremove import BackgroundType, InvalidOptionError, Options, OutputFormat, VerticalAlignment
from bgremove.options import (
    OPTION_FIELDS,
    OPTION_NAMES,
    Length,
    Margin,
    OptionField,
    markdown_table,
    option_field,
)


def test_defaults():
    options = Options.parse({})
    assert options == Options()
    assert options.format is OutputFormat.AUTO
    assert options.jpeg_quality == 75
    assert options.background_color is None
    assert options.background_type is BackgroundType.RGBA
    assert options.threshold == 0.0
    assert options.decontaminate is True
    assert options.crop_to_foreground is False
    assert options.margin is None
    assert options.target_size is None
    assert options.vertical_alignment is VerticalAlignment.MIDDLE
    assert options.max_pixels == 25_000_000
    assert options.test is False
    assert options.model is None
    assert options.is_delta is False
    assert options.to_dict() == {}


def test_every_option_from_strings():
    options = Options.parse(
        {
            "format": "webp",
            "jpeg_quality": "90",
            "background_color": "#102030",
            "background_type": "rgba",
            "threshold": "0.25",
            "crop_to_foreground": "true",
            "margin": "10px 5%",
            "target_size": "640 480",
            "vertical_alignment": "bottom",
            "max_pixels": "1000000",
            "test": "yes",
            "model": "u2netp",
        }
    )
    assert options.format is OutputFormat.WEBP
    assert options.jpeg_quality == 90
    assert options.background_color == (0x10, 0x20, 0x30)
    assert options.background_type is BackgroundType.RGBA
    assert options.threshold == 0.25
    assert options.crop_to_foreground is True
    assert options.margin == Margin(Length(10), Length(5, True), Length(10), Length(5, True))
    assert options.target_size == (640, 480)
    assert options.vertical_alignment is VerticalAlignment.BOTTOM
    assert options.max_pixels == 1_000_000
    assert options.test is True
    assert options.model == "u2netp"


def test_option_names_cover_every_field():
    assert set(OPTION_NAMES) == set(Options.__dataclass_fields__)


@pytest.mark.parametrize(
    "key",
    [
        "background_color",
        "background-color",
        "Background-Color",
        "BACKGROUND_COLOR",
        "  background_Color ",
        "x-amz-meta-background-color"[len("x-amz-meta-") :],
    ],
)
def test_keys_accept_dashes_underscores_and_any_case(key: str):
    assert Options.parse({key: "#ff0000"}).background_color == (255, 0, 0)


@pytest.mark.parametrize("key", ["Jpeg-Quality", "JPEG_QUALITY", "jpeg-quality"])
def test_keys_any_spelling_int(key: str):
    assert Options.parse({key: "33"}).jpeg_quality == 33


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("auto", OutputFormat.AUTO),
        ("png", OutputFormat.PNG),
        ("PNG", OutputFormat.PNG),
        ("jpeg", OutputFormat.JPEG),
        ("jpg", OutputFormat.JPEG),
        ("JPG", OutputFormat.JPEG),
        (" Jpeg ", OutputFormat.JPEG),
        ("webp", OutputFormat.WEBP),
        ("delta_png", OutputFormat.DELTA_PNG),
        ("delta-png", OutputFormat.DELTA_PNG),
        ("Delta_PNG", OutputFormat.DELTA_PNG),
    ],
)
def test_format_values_and_aliases(raw: str, expected: OutputFormat):
    options = Options.parse({"format": raw})
    assert options.format is expected
    assert options.is_delta == (expected is OutputFormat.DELTA_PNG)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
        (True, True),
        (False, False),
    ],
)
@pytest.mark.parametrize("option", ["crop_to_foreground", "test", "decontaminate"])
def test_booleans(option: str, raw: object, expected: bool):
    assert getattr(Options.parse({option: raw}), option) is expected


@pytest.mark.parametrize("raw", ["Ff8000", "#FF8000", "ff8000", "#ff8000", " #ff8000 "])
def test_colours_with_and_without_hash(raw: str):
    assert Options.parse({"background_color": raw}).background_color == (255, 128, 0)


@pytest.mark.parametrize(
    ("raw", "px"),
    [
        # Margin.to_px(200, 100) returns (top, right, bottom, left); % of width for left/right, of height
        # for top/bottom.
        ("10", (10, 10, 10, 10)),
        ("10px", (10, 10, 10, 10)),
        ("10PX", (10, 10, 10, 10)),
        ("10px 20px", (10, 20, 10, 20)),
        ("1px 2px 3px", (1, 2, 3, 2)),
        ("1 2 3 4", (1, 2, 3, 4)),
        ("1px,2px,3px,4px", (1, 2, 3, 4)),
        ("10%", (10, 20, 10, 20)),
        ("10% 5%", (10, 10, 10, 10)),
        ("0 50% 0 25%", (0, 100, 0, 50)),
        ("100%", (100, 200, 100, 200)),
        ("2.5px", (2, 2, 2, 2)),  # round half to even: 2.5 -> 2
        ("0", (0, 0, 0, 0)),
    ],
)
def test_margin_css_expansion_and_units(raw: str, px: tuple[int, int, int, int]):
    margin = Options.parse({"margin": raw}).margin
    assert margin is not None
    assert margin.to_px(200, 100) == px


def test_margin_units_are_kept():
    margin = Options.parse({"margin": "10px 5%"}).margin
    assert margin is not None
    assert (margin.top.percent, margin.right.percent, margin.bottom.percent, margin.left.percent) == (
        False,
        True,
        False,
        True,
    )
    assert str(margin) == "10px 5% 10px 5%"


@pytest.mark.parametrize("raw", ["640 480", "640x480", "640X480", "640,480", " 640  480 ", "640×480"])
def test_target_size(raw: str):
    assert Options.parse({"target_size": raw}).target_size == (640, 480)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("top", VerticalAlignment.TOP),
        ("MIDDLE", VerticalAlignment.MIDDLE),
        ("Bottom", VerticalAlignment.BOTTOM),
    ],
)
def test_vertical_alignment(raw: str, expected: VerticalAlignment):
    assert Options.parse({"vertical_alignment": raw}).vertical_alignment is expected


@pytest.mark.parametrize("background_type", list(BackgroundType))
def test_every_background_type(background_type: BackgroundType):
    assert (
        Options.parse({"background_type": background_type.value.upper()}).background_type is background_type
    )


@pytest.mark.parametrize(("raw", "expected"), [("0", 0.0), ("1", 1.0), ("0.5", 0.5), (" .75 ", 0.75)])
def test_threshold(raw: str, expected: float):
    assert Options.parse({"threshold": raw}).threshold == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [("100", 100), ("25000000", 25_000_000), ("1_000_000", 1_000_000)]
)
def test_max_pixels(raw: str, expected: int):
    assert Options.parse({"max_pixels": raw}).max_pixels == expected


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("100", 100), (" 42 ", 42)])
def test_jpeg_quality(raw: str, expected: int):
    assert Options.parse({"jpeg_quality": raw}).jpeg_quality == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"margin": ""},
        {"margin": "none"},
        {"target_size": "null"},
        {"background_color": ""},
        {"format": ""},
        {"jpeg_quality": "  "},
        {"model": None},
        {"threshold": None},
        {"test": ""},
    ],
)
def test_empty_values_mean_default(raw: dict[str, object]):
    assert Options.parse(raw) == Options()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("format", "gif"),
        ("format", "png8"),
        ("jpeg_quality", "0"),
        ("jpeg_quality", "101"),
        ("jpeg_quality", "abc"),
        ("jpeg_quality", "7.5"),
        ("jpeg_quality", "-5"),
        ("background_color", "red"),
        ("background_color", "#12345"),
        ("background_color", "#1234567"),
        ("background_color", "#GGGGGG"),
        ("background_color", "rgb(1,2,3)"),
        ("background_type", "transparent"),
        ("background_type", "black"),
        ("threshold", "-0.1"),
        ("threshold", "1.5"),
        ("threshold", "nan"),
        ("threshold", "inf"),
        ("threshold", "half"),
        ("crop_to_foreground", "maybe"),
        ("crop_to_foreground", "2"),
        ("test", "sure"),
        ("margin", "abc"),
        ("margin", "10em"),
        ("margin", "-5px"),
        ("margin", "1 2 3 4 5"),
        ("margin", "101%"),
        ("margin", "10px 200%"),
        ("margin", "10001px"),
        ("target_size", "abc"),
        ("target_size", "100"),
        ("target_size", "100 200 300"),
        ("target_size", "0 100"),
        ("target_size", "100 0"),
        ("target_size", "-5 10"),
        ("target_size", "1.5 2"),
        ("target_size", "6000 6000"),  # 36 MP, over the 25 MP result limit
        ("vertical_alignment", "center"),
        ("vertical_alignment", "left"),
        ("max_pixels", "99"),
        ("max_pixels", "25000001"),
        ("max_pixels", "many"),
        ("max_pixels", "0"),
    ],
)
def test_bad_values_name_the_option(key: str, value: str):
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({key: value})
    assert caught.value.option == key
    assert caught.value.code == "INVALID_OPTION"
    assert caught.value.to_dict()["option"] == key
    assert key in caught.value.message


@pytest.mark.parametrize("key", ["Jpeg-Quality", "JPEG_QUALITY"])
def test_bad_values_use_the_canonical_name(key: str):
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({key: "0"})
    assert caught.value.option == "jpeg_quality"


def test_unknown_key():
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({"Backgruond-Color": "#ffffff"})
    assert caught.value.option == "backgruond_color"
    assert caught.value.code == "INVALID_OPTION"


def test_unknown_key_ignored_on_request():
    options = Options.parse({"colour": "#ffffff", "crop_to_foreground": "true"}, ignore_unknown=True)
    assert options == Options(crop_to_foreground=True)


def test_unknown_key_ignored_even_with_a_bad_value():
    assert Options.parse({"whatever": "!!!"}, ignore_unknown=True) == Options()


@pytest.mark.parametrize("background_type", ["map", "green", "white", "blur", "overlay"])
def test_background_color_only_with_rgba(background_type: str):
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({"background_type": background_type, "background_color": "#ffffff"})
    assert caught.value.option == "background_color"


def test_background_color_with_explicit_rgba_is_fine():
    options = Options.parse({"background_type": "rgba", "background_color": "#00ff00"})
    assert options.background_color == (0, 255, 0)


# --------------------------------------------------------------------------- direct construction


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("format", "jpg"),
        ("jpeg_quality", "80"),
        ("background_color", "00ff00"),
        ("threshold", "0.5"),
        ("margin", "5px"),
        ("target_size", "10 20"),
        ("crop_to_foreground", "yes"),
        ("vertical_alignment", "top"),
        ("max_pixels", "1000"),
        ("test", "true"),
    ],
)
def test_direct_construction_takes_typed_values_only(name: str, text: str):
    """Text is read in one place, ``parse``; the constructor refuses it instead of guessing."""
    with pytest.raises(InvalidOptionError) as caught:
        Options(**{name: text})  # type: ignore[arg-type]
    assert caught.value.option == name
    assert "Options.parse" in caught.value.message
    assert getattr(Options.parse({name: text}), name) is not None


def test_direct_construction_with_typed_values():
    options = Options(
        format=OutputFormat.JPEG,
        jpeg_quality=80,
        background_color=(0, 255, 0),
        threshold=1,
        margin=Margin(Length(5), Length(5), Length(5), Length(5)),
        target_size=(10, 20),
        crop_to_foreground=True,
    )
    assert options == Options.parse(
        {
            "format": "jpeg",
            "jpeg_quality": "80",
            "background_color": "#00ff00",
            "threshold": "1",
            "margin": "5px",
            "target_size": "10 20",
            "crop_to_foreground": "true",
        }
    )
    assert isinstance(options.threshold, float)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"jpeg_quality": 0}, "jpeg_quality"),
        ({"jpeg_quality": True}, "jpeg_quality"),
        ({"threshold": 2.0}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"max_pixels": 50}, "max_pixels"),
        ({"target_size": (0, 5)}, "target_size"),
        ({"target_size": (-3, 5)}, "target_size"),
        ({"target_size": (6000, 6000)}, "target_size"),
        ({"background_color": (300, 0, 0)}, "background_color"),
        ({"background_color": (-1, 0, 0)}, "background_color"),
        ({"background_color": (1, 2, 3), "background_type": BackgroundType.MAP}, "background_color"),
        ({"format": "bmp"}, "format"),
        ({"crop_to_foreground": 1}, "crop_to_foreground"),
        ({"max_pixels": 1000.0}, "max_pixels"),
        ({"target_size": (10.0, 20)}, "target_size"),
        ({"background_color": (1, 2)}, "background_color"),
        ({"margin": Margin(Length(-1), Length(0), Length(0), Length(0))}, "margin"),
        ({"model": ""}, "model"),
    ],
)
def test_direct_construction_validates(kwargs: dict[str, object], option: str):
    with pytest.raises(InvalidOptionError) as caught:
        Options(**kwargs)  # type: ignore[arg-type]
    assert caught.value.option == option


def test_options_are_immutable():
    options = Options()
    with pytest.raises(AttributeError):
        options.threshold = 0.5  # type: ignore[misc]


# ----------------------------------------------------------------------------------- round trip


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"format": "jpg", "jpeg_quality": "90"},
        {"background_color": "#A0B0C0"},
        {"background_type": "map", "threshold": "0.5"},
        {"background_type": "overlay", "test": "1"},
        {"crop_to_foreground": "yes", "margin": "10px 5% 3px", "target_size": "640x480"},
        {"vertical_alignment": "top", "max_pixels": "4000000", "model": "isnet"},
        {"format": "delta-png", "threshold": "0.125", "margin": "2.5% 7px"},
        {"threshold": "0.1234567", "margin": "0.000001px 99.999999%"},  # no precision lost, no 1e-06
        {"threshold": "1e-7"},
        {
            "format": "webp",
            "jpeg_quality": "1",
            "background_color": "010203",
            "threshold": "1",
            "crop_to_foreground": "true",
            "margin": "100%",
            "target_size": "1 1",
            "vertical_alignment": "bottom",
            "max_pixels": "100",
            "test": "true",
            "model": "u2netp",
        },
    ],
)
def test_to_dict_round_trip(raw: dict[str, str]):
    options = Options.parse(raw)
    canonical = options.to_dict()
    assert all(isinstance(v, str) for v in canonical.values())
    assert Options.parse(canonical) == options
    assert Options.parse(canonical).to_dict() == canonical


def test_to_dict_lists_only_non_defaults_in_canonical_form():
    options = Options.parse(
        {"format": "JPG", "background_color": "AABBCC", "target_size": "640x480", "crop_to_foreground": "1"}
    )
    assert options.to_dict() == {
        "format": "jpeg",
        "background_color": "#aabbcc",
        "target_size": "640 480",
        "crop_to_foreground": "true",
    }


# ------------------------------------------------------------------------------- the option table


def test_table_rows_are_the_dataclass_fields_in_order():
    assert [row.name for row in OPTION_FIELDS] == [f.name for f in fields(Options)]
    assert all(row.default == f.default for row, f in zip(OPTION_FIELDS, fields(Options), strict=True))
    assert Options() == Options(**{row.name: row.default for row in OPTION_FIELDS})


def test_metadata_keys_and_cli_flags_derive_from_names():
    row = option_field("background_color")
    assert row.metadata_key == "background-color"
    assert row.cli_flag == "--background-color"


@pytest.mark.parametrize("row", OPTION_FIELDS, ids=lambda row: row.name)
def test_every_option_has_help_and_a_json_schema(row: OptionField):
    schema = row.json_schema()
    assert row.help and schema["description"] == row.help
    assert schema["type"] in {"string", "integer", "number", "boolean"}
    if row.default is not None:
        assert Options.parse({row.name: schema["default"]}) == Options()


@pytest.mark.parametrize(
    "row", [row for row in OPTION_FIELDS if row.default is not None], ids=lambda row: row.name
)
def test_every_default_dumps_and_parses_back(row: OptionField):
    assert row.read(row.name, row.dump(row.default)) == row.default


def test_decontaminate_is_on_by_default_and_every_spelling_turns_it_off():
    row = option_field("decontaminate")
    assert row.default is True
    assert row.metadata_key == "decontaminate" and row.cli_flag == "--decontaminate"
    assert row.json_schema() == {"type": "boolean", "default": True, "description": row.help}
    assert Options().to_dict() == {}  # on is the default: it is not written out
    for raw in (
        {"decontaminate": "false"},
        {"DECONTAMINATE": "off"},
        {"decontaminate": False},
        {"decontaminate": 0},
    ):
        options = Options.parse(raw)
        assert options.decontaminate is False
        assert options.to_dict() == {"decontaminate": "false"}
        assert Options.parse(options.to_dict()) == options
    assert Options.parse({"decontaminate": ""}).decontaminate is True  # blank means the default
    with pytest.raises(InvalidOptionError, match="decontaminate"):
        Options.parse({"decontaminate": "sometimes"})
    with pytest.raises(InvalidOptionError, match="decontaminate"):
        Options(decontaminate=1)  # type: ignore[arg-type]  # the constructor takes a bool only
    assert "| `decontaminate` | `true`/`false`, default true |" in markdown_table()


def test_readme_options_table_is_generated_from_the_table():
    guide = (Path(__file__).parents[3] / "docs" / "s3-pipeline.md").read_text()
    assert markdown_table() in guide, (
        "docs/s3-pipeline.md options table is stale: paste the output of bgremove.options.markdown_table()"
    )


# ---------------------------------------------------------------------- a dialect's own names


DIALECT = {"background.color": "background_color", "result.margin": "margin", "output.format": "format"}


def test_dialect_names_map_onto_fields():
    options = Options.parse(
        {"background.color": "#ff0000", "Result.Margin": "5%", "output.format": "jpg"}, names=DIALECT
    )
    assert options.background_color == (255, 0, 0)
    assert options.margin is not None and options.margin.top == Length(5, True)
    assert options.format is OutputFormat.JPEG


def test_dialect_errors_name_the_option_as_the_client_spells_it():
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({"result.margin": "10em"}, names=DIALECT)
    assert caught.value.option == "result.margin"


def test_dialect_cross_field_error_names_the_client_spelling():
    names = {**DIALECT, "bg": "background_type"}
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({"background.color": "#ffffff", "bg": "map"}, names=names)
    assert caught.value.option == "background.color"


def test_dialect_accepts_only_its_own_names():
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({"background_color": "#ffffff"}, names=DIALECT)
    assert caught.value.option == "background_color"
    assert Options.parse({"background_color": "#ffffff"}, names=DIALECT, ignore_unknown=True) == Options()


def test_two_spellings_of_one_option_must_agree():
    assert Options.parse({"background-color": "#FFFFFF", "background_color": "ffffff"}).background_color
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({"background-color": "#ffffff", "background_color": "#000000"})
    assert caught.value.option == "background_color"


# ------------------------------------------------------------------------------------ JSON values


def test_json_values():
    options = Options.parse(
        {"jpeg_quality": 80, "threshold": 1, "crop_to_foreground": True, "target_size": [640, 480]}
    )
    assert (options.jpeg_quality, options.threshold, options.crop_to_foreground) == (80, 1.0, True)
    assert options.target_size == (640, 480)
    assert Options.parse({"jpeg_quality": 80.0}).jpeg_quality == 80


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("jpeg_quality", 7.5),
        ("jpeg_quality", True),
        ("threshold", False),
        ("target_size", [640]),
        ("target_size", [640, "x"]),
        ("target_size", [0, 10]),
    ],
)
def test_bad_json_values(key: str, value: object):
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({key: value})
    assert caught.value.option == key


# ----------------------------------------------------------------------------- hostile text


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("jpeg_quality", "²"),  # str.isdigit() says yes, int() says no
        ("jpeg_quality", "٣"),  # int() says 3: only ASCII digits are numbers here
        ("max_pixels", "１０００"),
        ("max_pixels", "9" * 5000),  # over Python's int-string limit
        ("threshold", "٠.٥"),
        ("threshold", "1" * 5000),
        ("target_size", "٣ ٣"),
        ("target_size", "²0 10"),
        ("target_size", "9" * 5000 + " 1"),
        ("margin", "٣px"),
        ("margin", "1" * 400 + "px"),
        ("background_color", "#" + "f" * 5000),
        ("format", "png" * 1000),
        ("model", "m" * 1000),
    ],
)
def test_hostile_values_are_invalid_options(key: str, value: str):
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({key: value})
    assert caught.value.option == key
    assert len(caught.value.message) < 600


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("threshold", 10**400),  # json.loads gives such ints; float() overflows
        ("threshold", -(10**400)),
        ("jpeg_quality", 10**400),
        ("format", 10**5000),  # past Python's int-to-text digit limit
        ("max_pixels", 10**5000),
        ("margin", 10**5000),
        ("target_size", [10**5000, 1]),
        ("background_color", 10**5000),
    ],
    ids=lambda value: value if isinstance(value, str) else "huge",
)
def test_huge_json_numbers_are_invalid_options(key: str, value: object):
    with pytest.raises(InvalidOptionError) as caught:
        Options.parse({key: value})
    assert caught.value.option == key
    assert len(caught.value.message) < 200


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 10**400},
        {"jpeg_quality": 10**5000},
        {"format": 10**5000},
        {"margin": Margin(*[Length(10**400)] * 4)},
        {"margin": Margin(*[Length(-(10**400))] * 4)},
        {"margin": Margin(*[Length(10**5000)] * 4)},
        {"margin": Margin(*[Length("5")] * 4)},  # type: ignore[arg-type]
        {"target_size": (10**5000, 1)},
    ],
    ids=lambda kwargs: next(iter(kwargs)),
)
def test_huge_typed_values_are_invalid_options(kwargs: dict[str, object]):
    with pytest.raises(InvalidOptionError) as caught:
        Options(**kwargs)  # type: ignore[arg-type]
    assert caught.value.option == next(iter(kwargs))


def test_negative_zero_margin_round_trips():
    options = Options(margin=Margin(Length(0), Length(0), Length(0), Length(-0.0)))
    assert options.to_dict() == {"margin": "0px 0px 0px 0px"}
    assert Options.parse(options.to_dict()) == options
