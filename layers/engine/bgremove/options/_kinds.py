"""Kinds: how each option's values are read from text or JSON, checked, and written back.

A kind knows one type; the option table (:mod:`bgremove.options._table`) gives each option one kind.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from bgremove.exceptions import InvalidOptionError
from bgremove.limits import (
    MAX_DECODE_SIDE,
    MAX_MARGIN_PX,
    MAX_REFERENCE_CHARS,
    MAX_SCALE_PERCENT,
    MAX_TARGET_PIXELS,
    MIN_SCALE_PERCENT,
)
from bgremove.options._values import (
    POSITION_CENTER,
    POSITION_ORIGINAL,
    RGB,
    Length,
    Margin,
    Position,
    Roi,
    fixed_point,
)

# Long enough for any real value, short enough that no regex or int() conversion can be made to crawl.
MAX_VALUE_CHARS = 200

T = TypeVar("T")


# A kind knows one type: how to read it from text or JSON, how to check a typed value, how to write it back.


def _show(value: object) -> str:
    """``repr(value)`` for an error message, cut short; never raises (huge ints refuse ``str``)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's int-to-text digit limit
        return f"<{type(value).__name__} too long to show>"
    return text if len(text) <= 60 else f"{text[:57]}..."


def _as_float(value: object) -> float | None:
    """``value`` as a finite float, or ``None`` (NaN, infinities, ints too large for a float, non-numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _text(option: str, raw: object, limit: int = MAX_VALUE_CHARS) -> str:
    try:
        text = str(raw).strip()
    except ValueError:  # an int past Python's int-to-text digit limit
        raise InvalidOptionError(option, f"{_show(raw)} is too long") from None
    if len(text) > limit:
        raise InvalidOptionError(option, f"is longer than {limit} characters")
    return text


def _checked_length(option: str, part: object, max_px: int) -> Length:
    """``part`` as a :class:`Length` the text form can say (6 decimals, no -0), at most 100% or ``max_px``."""
    number = _as_float(part.value) if isinstance(part, Length) else None
    if number is None or not isinstance(part, Length) or not isinstance(part.percent, bool):
        raise InvalidOptionError(option, f"{_show(part)} is not a finite length")
    length = Length(round(number, 6) + 0.0, part.percent)  # ``+ 0.0`` turns -0.0 into 0.0
    if length.value < 0:
        raise InvalidOptionError(option, f"{length} is negative")
    if length.percent and length.value > 100:
        raise InvalidOptionError(option, f"{length} is over 100%")
    if not length.percent and length.value > max_px:
        raise InvalidOptionError(option, f"{length} is over {max_px}px")
    return length


_LENGTH = re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,6})?)(px|%)?")
_PERCENT = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,6})?)%?")


class Kind(Generic[T]):
    """How one option's values are read, checked and written.

    Subclasses implement :meth:`read` (text or JSON value -> typed value) and may narrow :meth:`check`
    (typed value -> the same value, or :class:`InvalidOptionError`).
    """

    python_type: type | tuple[type, ...] = object
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    def read(self, option: str, raw: object) -> T:
        raise NotImplementedError

    def check(self, option: str, value: T) -> T:
        return value

    def dump(self, value: T) -> str:
        return str(value)

    def describe(self) -> str:
        """The accepted values, in words (docs/s3-pipeline.md's options table, CLI help)."""
        return self.metavar or ""

    def describe_value(self, value: T) -> str:
        """One value as docs/s3-pipeline.md's options table shows it."""
        return self.dump(value)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string"}

    def typed(self, option: str, value: object) -> T:
        """``value`` from the constructor: the right Python type, then :meth:`check`."""
        # bool is an int subclass: True is no jpeg_quality, and 1 is no crop_to_foreground.
        wrong_bool = isinstance(value, bool) != (self.python_type is bool)
        if wrong_bool or not isinstance(value, self.python_type):
            expected = getattr(self.python_type, "__name__", str(self.python_type))
            raise InvalidOptionError(
                option,
                f"expects {expected}, got {type(value).__name__} {_show(value)} (use Options.parse for text)",
            )
        return self.check(option, value)  # type: ignore[arg-type]


class EnumKind(Kind[StrEnum]):
    def __init__(self, enum: type[StrEnum], aliases: Mapping[str, str] | None = None) -> None:
        self.enum = enum
        self.python_type = enum
        self.aliases = dict(aliases or {})
        self.choices = tuple(member.value for member in enum)

    def read(self, option: str, raw: object) -> StrEnum:
        text = _text(option, raw).lower()
        try:
            return self.enum(self.aliases.get(text, text))
        except ValueError:
            allowed = ", ".join(self.choices)
            raise InvalidOptionError(option, f"{_show(raw)} is not one of {allowed}") from None

    def dump(self, value: StrEnum) -> str:
        return value.value

    def describe(self) -> str:
        names = {member.value: f"`{member.value}`" for member in self.enum}
        for alias, target in self.aliases.items():
            names[target] += f" (`{alias}`)"
        return ", ".join(names.values())

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": [*self.choices, *self.aliases]}


class BoolKind(Kind[bool]):
    python_type = bool
    metavar = "true/false"
    TRUE: ClassVar[frozenset[str]] = frozenset({"1", "true", "yes", "on"})
    FALSE: ClassVar[frozenset[str]] = frozenset({"0", "false", "no", "off"})

    def read(self, option: str, raw: object) -> bool:
        if isinstance(raw, bool):
            return raw
        text = _text(option, raw).lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise InvalidOptionError(option, f"{_show(raw)} is not a boolean (true/false)")

    def dump(self, value: bool) -> str:
        return "true" if value else "false"

    def describe(self) -> str:
        return "`true`/`false`"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class IntKind(Kind[int]):
    python_type = int
    _PATTERN = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*")  # ASCII digits only: int() also takes '٣'

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.metavar = f"{low}..{high}"

    def read(self, option: str, raw: object) -> int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():  # JSON clients may send 80.0
            return int(raw)
        text = _text(option, raw)
        if len(text) > 20 or not self._PATTERN.fullmatch(text):
            raise InvalidOptionError(option, f"{_show(raw)} is not an integer")
        return int(text)

    def check(self, option: str, value: int) -> int:
        if not self.low <= value <= self.high:
            raise InvalidOptionError(option, f"{_show(value)} is not in {self.low}..{self.high}")
        return value

    def describe(self) -> str:
        return f"{self.low:,}..{self.high:,}"

    def describe_value(self, value: int) -> str:
        return f"{value:,}"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


class FloatKind(Kind[float]):
    python_type = (float, int)
    _PATTERN = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self.metavar = f"{low:g}..{high:g}"

    def read(self, option: str, raw: object) -> float:
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            text = _text(option, raw)
            if not self._PATTERN.fullmatch(text):
                raise InvalidOptionError(option, f"{_show(raw)} is not a number")
            raw = float(text)
        value = _as_float(raw)
        if value is None:
            raise InvalidOptionError(option, f"{_show(raw)} is not a finite number")
        return value

    def check(self, option: str, value: float) -> float:
        number = _as_float(value)
        if number is None or not self.low <= number <= self.high:
            raise InvalidOptionError(option, f"{_show(value)} is not in {self.low:g}..{self.high:g}")
        return number

    def dump(self, value: float) -> str:
        # repr is the shortest text that reads back as the same float (`:g` keeps 6 digits only).
        text = repr(float(value))
        return text.removesuffix(".0")

    def describe(self) -> str:
        return f"{self.low:g}..{self.high:g}"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": self.low, "maximum": self.high}


class ColorKind(Kind[RGB]):
    python_type = tuple
    metavar = "#RRGGBB"
    _PATTERN = re.compile(r"#?([0-9a-fA-F]{6})")

    def read(self, option: str, raw: object) -> RGB:
        match = self._PATTERN.fullmatch(_text(option, raw))
        if not match:
            raise InvalidOptionError(option, f"{_show(raw)} is not a colour of the form #RRGGBB")
        value = int(match.group(1), 16)
        return (value >> 16 & 0xFF, value >> 8 & 0xFF, value & 0xFF)

    def check(self, option: str, value: RGB) -> RGB:
        if len(value) != 3 or not all(type(c) is int and 0 <= c <= 255 for c in value):
            raise InvalidOptionError(option, f"{_show(value)} is not three integers in 0..255")
        return value

    def dump(self, value: RGB) -> str:
        return "#{:02x}{:02x}{:02x}".format(*value)

    def describe(self) -> str:
        return "`#RRGGBB` (the `#` may be omitted)"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^#?[0-9a-fA-F]{6}$"}


class MarginKind(Kind[Margin]):
    python_type = Margin
    metavar = "'10px 5%'"

    def read(self, option: str, raw: object) -> Margin:
        parts = _text(option, raw).replace(",", " ").split()
        if not 1 <= len(parts) <= 4:
            raise InvalidOptionError(option, f"{_show(raw)} needs 1 to 4 values such as '10px 5%'")
        lengths = []
        for part in parts:
            match = _LENGTH.fullmatch(part.lower())
            if not match:
                raise InvalidOptionError(option, f"{_show(part)} is not a length in px or % (e.g. 10px, 5%)")
            lengths.append(Length(float(match.group(1)), match.group(2) == "%"))
        # CSS shorthand: 1 = all, 2 = vertical horizontal, 3 = top horizontal bottom, 4 = each side.
        top, right, bottom, left = {
            1: (0, 0, 0, 0),
            2: (0, 1, 0, 1),
            3: (0, 1, 2, 1),
            4: (0, 1, 2, 3),
        }[len(lengths)]
        return self.check(option, Margin(lengths[top], lengths[right], lengths[bottom], lengths[left]))

    def check(self, option: str, value: Margin) -> Margin:
        parts = (value.top, value.right, value.bottom, value.left)
        return Margin(*(_checked_length(option, part, MAX_MARGIN_PX) for part in parts))

    def describe(self) -> str:
        return "1 to 4 CSS-like lengths in px or %, e.g. `10px 20% 5px 15%`"


class SizeKind(Kind[tuple[int, int]]):
    python_type = tuple
    metavar = "'W H'"
    _PATTERN = re.compile(r"([0-9]{1,9})[\s,x×]+([0-9]{1,9})")

    def read(self, option: str, raw: object) -> tuple[int, int]:
        if isinstance(raw, list | tuple) and len(raw) == 2:  # JSON clients: [640, 480]
            width, height = (IntKind(1, MAX_TARGET_PIXELS).read(option, v) for v in raw)
            return self.check(option, (width, height))
        match = self._PATTERN.fullmatch(_text(option, raw).lower())
        if not match:
            raise InvalidOptionError(option, f"{_show(raw)} is not two positive integers 'W H'")
        return self.check(option, (int(match.group(1)), int(match.group(2))))

    def check(self, option: str, value: tuple[int, int]) -> tuple[int, int]:
        if len(value) != 2 or not all(type(v) is int for v in value):
            raise InvalidOptionError(option, f"{_show(value)} is not two integers (width, height)")
        width, height = value
        if width < 1 or height < 1:
            raise InvalidOptionError(option, f"{_show(value)}: width and height must be at least 1")
        if width * height > MAX_TARGET_PIXELS:
            raise InvalidOptionError(option, f"{_show(value)} is over {MAX_TARGET_PIXELS:,} pixels")
        return value

    def dump(self, value: tuple[int, int]) -> str:
        return f"{value[0]} {value[1]}"

    def describe(self) -> str:
        return f"`W H` (also `WxH`), at most {MAX_TARGET_PIXELS:,} pixels"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^[0-9]+[ ,xX×]+[0-9]+$"}


class NameKind(Kind[str]):
    python_type = str
    metavar = "NAME"

    def describe(self) -> str:
        return "a name"

    def read(self, option: str, raw: object) -> str:
        text = _text(option, raw)
        if not text:
            raise InvalidOptionError(option, "must not be empty")
        return text

    def check(self, option: str, value: str) -> str:
        return self.read(option, value)


class ReferenceKind(Kind[str]):
    """Where something the caller must fetch lives (an S3 key, a URL): any non-blank text, kept as given."""

    python_type = str
    metavar = "KEY|FILE"

    def describe(self) -> str:
        return f"an S3 key in the upload's bucket (a file for the CLI), {MAX_REFERENCE_CHARS:,} chars at most"

    def read(self, option: str, raw: object) -> str:
        if not isinstance(raw, str):  # a number or a list is no reference (str() would invent one)
            raise InvalidOptionError(option, f"{_show(raw)} is not text")
        text = _text(option, raw, MAX_REFERENCE_CHARS)
        if not text:
            raise InvalidOptionError(option, "must not be empty")
        return text

    def check(self, option: str, value: str) -> str:
        return self.read(option, value)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": MAX_REFERENCE_CHARS}


class RoiKind(Kind[Roi]):
    python_type = Roi
    metavar = "'X1 Y1 X2 Y2'"

    def read(self, option: str, raw: object) -> Roi:
        parts = _text(option, raw).replace(",", " ").split()
        if len(parts) != 4:
            raise InvalidOptionError(option, f"{_show(raw)} needs 4 values 'x1 y1 x2 y2' in px or %")
        lengths = []
        for part in parts:
            match = _LENGTH.fullmatch(part.lower())
            if not match:
                raise InvalidOptionError(option, f"{_show(part)} is not a length in px or % (e.g. 10px, 5%)")
            lengths.append(Length(float(match.group(1)), match.group(2) == "%"))
        return self.check(option, Roi(*lengths))

    def check(self, option: str, value: Roi) -> Roi:
        x1, y1, x2, y2 = (
            _checked_length(option, part, MAX_DECODE_SIDE)
            for part in (value.x1, value.y1, value.x2, value.y2)
        )
        # Edges in one unit can be compared now; mixed units only against the input (see _geometry.roi_box).
        for low, high, axis in ((x1, x2, "x"), (y1, y2, "y")):
            if low.percent == high.percent and high.value <= low.value:
                raise InvalidOptionError(option, f"{axis}2 ({high}) must be greater than {axis}1 ({low})")
        return Roi(x1, y1, x2, y2)

    def describe(self) -> str:
        return "`x1 y1 x2 y2` in px or % of the input, e.g. `10% 0% 90% 100%` or `0 0 640 480`"


class ScaleKind(Kind[float | None]):
    """remove.bg's ``scale``: ``original`` (``None``) or a percentage, kept as a number of percent."""

    python_type = (float, int)
    metavar = "original|PERCENT%"

    def read(self, option: str, raw: object) -> float | None:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return self._number(option, raw)
        text = _text(option, raw).lower()
        if text == "original":
            return None
        match = _PERCENT.fullmatch(text)
        if not match:
            raise InvalidOptionError(option, f"{_show(raw)} is not 'original' nor a percentage such as 80%")
        return self._number(option, float(match.group(1)))

    def _number(self, option: str, raw: float) -> float:
        value = _as_float(raw)
        if value is None:
            raise InvalidOptionError(option, f"{_show(raw)} is not a finite number")
        return value

    def check(self, option: str, value: float | None) -> float | None:
        if value is None:
            return None
        number = _as_float(value)
        if number is not None:
            number = round(number, 6) + 0.0
        if number is None or not MIN_SCALE_PERCENT <= number <= MAX_SCALE_PERCENT:
            raise InvalidOptionError(
                option,
                f"{_show(value)} is not in {MIN_SCALE_PERCENT:g}%..{MAX_SCALE_PERCENT:g}% (or original)",
            )
        return number

    def dump(self, value: float | None) -> str:
        return "original" if value is None else f"{fixed_point(value)}%"

    def describe(self) -> str:
        return f"`original` (default), `{MIN_SCALE_PERCENT:g}%`..`{MAX_SCALE_PERCENT:g}%`"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^(original|[0-9]+(\.[0-9]+)?%?)$"}


class PositionKind(Kind[Position]):
    python_type = Position
    metavar = "original|center|'X% Y%'"
    _NAMED: ClassVar[dict[str, Position]] = {
        "original": POSITION_ORIGINAL,
        "center": POSITION_CENTER,
        "centre": POSITION_CENTER,
    }

    def read(self, option: str, raw: object) -> Position:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return self.check(option, Position(raw, raw))
        text = _text(option, raw).lower()
        if text in self._NAMED:
            return self._NAMED[text]
        parts = text.replace(",", " ").split()
        matches = [_PERCENT.fullmatch(part) for part in parts]
        if not 1 <= len(parts) <= 2 or not all(matches):
            raise InvalidOptionError(
                option, f"{_show(raw)} is not original, center, or one or two percentages such as '50% 100%'"
            )
        x, y = (float(match.group(1)) for match in (matches * 2)[:2] if match)
        return self.check(option, Position(x, y))

    def check(self, option: str, value: Position) -> Position:
        if value.x is None and value.y is None:
            return POSITION_ORIGINAL
        checked = []
        for part in (value.x, value.y):
            number = _as_float(part)
            if number is None or not 0 <= number <= 100:
                raise InvalidOptionError(option, f"{_show(part)} is not a percentage in 0..100")
            checked.append(round(number, 6) + 0.0)
        return Position(*checked)

    def describe(self) -> str:
        return "`original` (default), `center`, or `X% Y%` (one value for both), 0%..100%"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^(original|center|centre|[0-9.]+%?([ ,]+[0-9.]+%?)?)$"}
