"""bgremove.env: every setting read the same way, and every bad one an INVALID_SETTING naming its variable."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from bgremove import BgRemoveError, ConfigurationError, InputError
from bgremove import env as setting

NAME = "SOME_SETTING"


def refused(call: Callable[..., object], *args: object, **kwargs: object) -> ConfigurationError:
    """The :class:`ConfigurationError` ``call(*args, **kwargs)`` raises, checked to be a well-formed one."""
    with pytest.raises(ConfigurationError) as caught:
        call(*args, **kwargs)
    error = caught.value
    assert error.code == "INVALID_SETTING"
    assert error.setting == NAME
    assert error.message.startswith(f"{NAME}: ")
    assert error.to_dict() == {"code": "INVALID_SETTING", "message": error.message, "setting": NAME}
    assert isinstance(error, BgRemoveError)
    assert not isinstance(error, InputError)  # the deployment is at fault, not a request
    assert len(error.message) < 200  # a huge value is never echoed whole
    return error


# --- text ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "fallback"),
        ({NAME: ""}, "fallback"),
        ({NAME: " \t\n"}, "fallback"),
        ({NAME: "value"}, "value"),
        ({NAME: "  two words \n"}, "two words"),
        ({"OTHER": "value"}, "fallback"),
    ],
)
def test_text_is_stripped_and_blank_means_the_default(environ: dict[str, str], expected: str) -> None:
    assert setting.text(environ, NAME, "fallback") == expected


def test_text_defaults_to_empty() -> None:
    assert setting.text({}, NAME) == ""


def test_helpers_read_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME, " 42 ")
    assert setting.text(os.environ, NAME) == "42"
    monkeypatch.setenv(NAME, "42")
    assert setting.whole_number(os.environ, NAME, 0, low=0, high=100) == 42


# --- required -----------------------------------------------------------------------------------------------
def test_required_gives_the_stripped_value() -> None:
    assert setting.required({NAME: " bucket \n"}, NAME) == "bucket"


@pytest.mark.parametrize("environ", [{}, {NAME: ""}, {NAME: "   "}, {NAME: "\n\t"}])
def test_required_refuses_unset_and_blank(environ: dict[str, str]) -> None:
    error = refused(setting.required, environ, NAME)
    assert error.message == f"{NAME}: is required but not set"


def test_required_all_gives_every_value_in_order() -> None:
    environ = {"B": " b ", NAME: "a"}
    assert setting.required_all(environ, NAME, "B") == ("a", "b")
    assert setting.required_all(environ) == ()


def test_required_all_names_the_first_missing_and_lists_the_others() -> None:
    error = refused(setting.required_all, {"B": "b"}, NAME, "B", "C", "D")
    assert error.message == f"{NAME}: is required but not set (nor is C, D)"
    assert refused(setting.required_all, {"B": "b"}, NAME, "B").message == f"{NAME}: is required but not set"


# --- whole_number -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", 0),
        ("1", 1),
        ("100", 100),
        ("007", 7),  # leading zeros are still the number
        ("0" * 11 + "9", 9),  # as long as the whole is at most 12 characters
    ],
)
def test_whole_number_reads_ascii_digits(raw: str, expected: int) -> None:
    assert setting.whole_number({NAME: raw}, NAME, 5, low=0, high=100) == expected


@pytest.mark.parametrize("environ", [{}, {NAME: ""}])
def test_whole_number_unset_or_empty_is_the_default(environ: dict[str, str]) -> None:
    # The default is the caller's: it is not checked against the range.
    assert setting.whole_number(environ, NAME, -1, low=0, high=100) == -1


@pytest.mark.parametrize(
    "raw",
    [
        " ",  # blank is not unset for a number
        "\t\n",
        " 5",
        "5 ",
        "5\n",
        "\u00a05",  # no-break space
        "+5",
        "-5",
        "-0",
        "5.0",
        "5.",
        "1e2",
        "0x10",
        "1_0",
        "5 5",
        "five",
        "\u00b2",  # superscript two: str.isdigit() takes it, int() refuses it
        "5\u00b2",
        "\u00b9\u2070",  # superscript 10
        "\uff15",  # fullwidth five: int() would read it
        "\u0665",  # Arabic-Indic five: int() would read it
        "\u096b",  # Devanagari five
        "\U0001d7d3",  # mathematical bold five
        "\u2464",  # circled five: isdigit() is true
        "0" * 12 + "5",  # over 12 characters, even with leading zeros
        "9" * 5000,  # past int()'s 4,300-digit limit: refused by its length first
        "1" * 1_000_000,
    ],
)
def test_whole_number_refuses_anything_but_plain_digits(raw: str) -> None:
    error = refused(setting.whole_number, {NAME: raw}, NAME, 5, low=0, high=100)
    assert error.message.startswith(f"{NAME}: must be a whole number from 0 to 100, got ")


@pytest.mark.parametrize(
    ("raw", "low", "high"), [("9", 10, 20), ("21", 10, 20), ("0", 1, 1024), ("10", 0, 9)]
)
def test_whole_number_refuses_values_out_of_range(raw: str, low: int, high: int) -> None:
    error = refused(setting.whole_number, {NAME: raw}, NAME, low, low=low, high=high)
    assert error.message == f"{NAME}: must be a whole number from {low} to {high}, got {raw!r}"


def test_whole_number_bounds_are_inclusive() -> None:
    assert setting.whole_number({NAME: "10"}, NAME, 15, low=10, high=20) == 10
    assert setting.whole_number({NAME: "20"}, NAME, 15, low=10, high=20) == 20


def test_whole_number_takes_every_value_of_a_range_wider_than_twelve_digits() -> None:
    high = 10**15
    assert setting.whole_number({NAME: str(high)}, NAME, 0, low=0, high=high) == high
    refused(setting.whole_number, {NAME: str(high + 1)}, NAME, 0, low=0, high=high)


def test_a_huge_value_is_cut_short_in_the_message() -> None:
    error = refused(setting.whole_number, {NAME: "7" * 100_000}, NAME, 5, low=0, high=100)
    assert error.message.endswith(f"got {'7' * 40 + '...'!r}")


# --- switch -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["1", "true", "yes", "on", "TRUE", "Yes", "On", " on ", "true\n"])
def test_switch_on_words(raw: str) -> None:
    assert setting.switch({NAME: raw}, NAME) is True


@pytest.mark.parametrize("raw", ["0", "false", "no", "off", "FALSE", "No", "OFF", " off ", "0\n"])
def test_switch_off_words(raw: str) -> None:
    assert setting.switch({NAME: raw}, NAME, default=True) is False


@pytest.mark.parametrize("environ", [{}, {NAME: ""}, {NAME: "  "}])
@pytest.mark.parametrize("default", [False, True])
def test_switch_unset_or_blank_is_the_default(environ: dict[str, str], default: bool) -> None:
    assert setting.switch(environ, NAME, default) is default


def test_switch_defaults_to_off() -> None:
    assert setting.switch({}, NAME) is False


@pytest.mark.parametrize(
    "raw",
    ["maybe", "enabled", "y", "n", "2", "-1", "of", "truee", "on off", "\uff11", "ｏｎ", "x" * 100_000],
)
def test_switch_refuses_any_other_word(raw: str) -> None:
    # A typo must not silently turn a guard off (nor on).
    error = refused(setting.switch, {NAME: raw}, NAME)
    assert "1/true/yes/on, 0/false/no/off" in error.message


def test_switch_words_are_the_documented_ones() -> None:
    assert sorted(setting.TRUE_WORDS) == ["1", "on", "true", "yes"]
    assert sorted(setting.FALSE_WORDS) == ["0", "false", "no", "off"]
    assert not setting.TRUE_WORDS & setting.FALSE_WORDS


# --- csv ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a", ("a",)),
        ("a,b", ("a", "b")),
        (" a , b ,, c,", ("a", "b", "c")),
        ("a,a", ("a", "a")),  # kept as listed: a caller that wants each once says so
        ("a b, c", ("a b", "c")),
    ],
)
def test_csv_items_are_stripped_and_empty_ones_dropped(raw: str, expected: tuple[str, ...]) -> None:
    assert setting.csv({NAME: raw}, NAME) == expected


@pytest.mark.parametrize("environ", [{}, {NAME: ""}, {NAME: "  "}, {NAME: ","}, {NAME: " , ,, "}])
def test_csv_with_no_item_is_the_default(environ: dict[str, str]) -> None:
    assert setting.csv(environ, NAME) == ()
    assert setting.csv(environ, NAME, ("x", "y")) == ("x", "y")


@pytest.mark.parametrize(("raw", "expected"), [("30", (30,)), (" 0, 120 ,900", (0, 120, 900)), (",5,", (5,))])
def test_whole_numbers_reads_each_item(raw: str, expected: tuple[int, ...]) -> None:
    assert setting.whole_numbers({"D": raw}, "D", (1,), low=0, high=900, max_count=3) == expected


def test_whole_numbers_unset_or_blank_is_the_default() -> None:
    assert setting.whole_numbers({}, "D", (7, 8), low=0, high=9, max_count=3) == (7, 8)
    assert setting.whole_numbers({"D": " , "}, "D", (7, 8), low=0, high=9, max_count=3) == (7, 8)


@pytest.mark.parametrize("raw", ["901", "1,x", "-1", "1,2,3,4", "1;2", "²"])
def test_whole_numbers_refuses_bad_lists_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        setting.whole_numbers({"DELAYS": raw}, "DELAYS", (1,), low=0, high=900, max_count=3)
    assert caught.value.code == "INVALID_SETTING"
    assert "DELAYS" in str(caught.value.to_dict())
