"""Output options: one table of fields, one typed, validated, immutable :class:`Options`.

Each option is declared once, as a field of :class:`Options` whose metadata is an :class:`OptionField`: its
name, default, kind (type, limits, parser and canonical form) and help text. Everything else derives from
that table:

- :meth:`Options.parse` reads strings (S3 metadata, CLI flags, HTTP forms) and JSON values;
- :meth:`Options.to_dict` writes the canonical strings that :meth:`Options.parse` reads back;
- :data:`OPTION_FIELDS` gives the CLI its flags, the pipeline its metadata keys (``background-color``),
  the HTTP APIs their JSON schema (:meth:`OptionField.json_schema`) and the README its options table
  (:func:`markdown_table`).

A client that spells options its own way (an HTTP dialect) passes ``names``, a plain mapping from its names
onto field names, to :meth:`Options.parse`; it writes no parsing code of its own::

    Options.parse(form, names={"background.color": "background_color", "result.margin": "margin"})

The constructor takes typed values only; :meth:`Options.parse` is the one place where strings are read.
Every bad value raises :class:`~bgremove.exceptions.InvalidOptionError` naming the option as the caller
spelled it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from bgremove.exceptions import InvalidOptionError
from bgremove.limits import (
    MAX_DECODE_SIDE,
    MAX_JPEG_SIDE,
    MAX_MARGIN_PX,
    MAX_REFERENCE_CHARS,
    MAX_SCALE_PERCENT,
    MAX_TARGET_PIXELS,
    MAX_WEBP_SIDE,
    MAX_WORK_PIXELS,
    MIN_SCALE_PERCENT,
    MIN_WORK_PIXELS,
)
from bgremove.models._spec import BUILTIN_MODELS

JPEG_QUALITY_DEFAULT = 75
MAX_KEY_CHARS = 64
"""Longest option name accepted, blanks around it included."""

# Long enough for any real value, short enough that no regex or int() conversion can be made to crawl.
MAX_VALUE_CHARS = 200

T = TypeVar("T")
RGB = tuple[int, int, int]


class OutputFormat(StrEnum):
    AUTO = "auto"
    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"
    DELTA_PNG = "delta_png"
    ZIP = "zip"


class BackgroundType(StrEnum):
    RGBA = "rgba"
    MAP = "map"
    GREEN = "green"
    WHITE = "white"
    BLUR = "blur"
    OVERLAY = "overlay"


class VerticalAlignment(StrEnum):
    TOP = "top"
    MIDDLE = "middle"
    BOTTOM = "bottom"


@dataclass(frozen=True)
class Length:
    """A margin length: ``value`` pixels, or ``value`` percent of the reference size."""

    value: float
    percent: bool = False

    def to_px(self, reference: int) -> int:
        return round(self.value * reference / 100) if self.percent else round(self.value)

    def __str__(self) -> str:
        number = _fixed(self.value)
        return f"{number}%" if self.percent else f"{number}px"


def _fixed(value: float) -> str:
    """Fixed-point with the parsers' 6 decimals: `:g` would write 1e-06, which the parsers refuse."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Margin:
    """CSS-style margin (top, right, bottom, left).

    Percentages refer to the width (left, right) or height (top, bottom) of the target size when one is
    set, else of the image the margin surrounds.
    """

    top: Length
    right: Length
    bottom: Length
    left: Length

    def to_px(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Resolve to pixels as ``(top, right, bottom, left)``."""
        return (
            self.top.to_px(height),
            self.right.to_px(width),
            self.bottom.to_px(height),
            self.left.to_px(width),
        )

    def __str__(self) -> str:
        return " ".join(str(part) for part in (self.top, self.right, self.bottom, self.left))


@dataclass(frozen=True)
class Roi:
    """Region of interest ``x1 y1 x2 y2``: left, top, right and bottom edges (right and bottom exclusive).

    Pixels are the input's (after EXIF orientation, before ``max_pixels``); percentages refer to its width
    (``x1``, ``x2``) or height (``y1``, ``y2``).
    """

    x1: Length
    y1: Length
    x2: Length
    y2: Length

    def to_px(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The box as ``(left, top, right, bottom)`` pixels of a ``width`` x ``height`` image (unclipped)."""
        return (self.x1.to_px(width), self.y1.to_px(height), self.x2.to_px(width), self.y2.to_px(height))

    def __str__(self) -> str:
        return " ".join(str(part) for part in (self.x1, self.y1, self.x2, self.y2))


@dataclass(frozen=True)
class Position:
    """Where the subject sits in the space it is placed in (remove.bg's ``position``).

    ``x`` and ``y`` are percentages of the free space, as CSS ``background-position``: 0 puts the subject
    against the left (top) edge, 100 against the right (bottom) edge, 50 centres it. Both ``None``
    (:data:`POSITION_ORIGINAL`): the subject's centre stays where it was in the input.
    """

    x: float | None
    y: float | None

    @property
    def is_original(self) -> bool:
        return self.x is None

    def __str__(self) -> str:
        if self.x is None or self.y is None:
            return "original"
        return f"{_fixed(self.x)}% {_fixed(self.y)}%"


POSITION_ORIGINAL = Position(None, None)
POSITION_CENTER = Position(50.0, 50.0)


# ----------------------------------------------------------------------------------------------- kinds
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
        """The accepted values, in words (README table, CLI help)."""
        return self.metavar or ""

    def describe_value(self, value: T) -> str:
        """One value as the README shows it."""
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
        return "original" if value is None else f"{_fixed(value)}%"

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


# ----------------------------------------------------------------------------------------------- table

OPTION_KEY = "bgremove.option"
"""Key of the :class:`OptionField` in each :class:`Options` field's metadata."""


@dataclass(frozen=True)
class OptionField:
    """One row of the option table.

    Attributes
    ----------
    name
        Field name, with ``_`` (``background_color``).
    default
        Value when the option is not given (``None``: the option is off or the engine decides).
    kind
        Type, limits, parser and canonical form.
    help
        One line for the CLI, the README and the API schemas.
    """

    name: str
    default: Any
    kind: Kind[Any]
    help: str

    @property
    def metadata_key(self) -> str:
        """S3 user-metadata key (``x-amz-meta-background-color`` arrives as ``background-color``)."""
        return self.name.replace("_", "-")

    @property
    def cli_flag(self) -> str:
        return f"--{self.metadata_key}"

    @property
    def optional(self) -> bool:
        return self.default is None

    def read(self, option: str, raw: object) -> Any:
        """A value from text or JSON; ``None`` and blank text (and ``none``/``null``) mean the default."""
        if isinstance(raw, str) and len(raw) > MAX_VALUE_CHARS and not raw.strip():
            # Blank means the default, but not at any length: the raw text is kept (metadata, job records).
            raise InvalidOptionError(option, f"is {len(raw):,} blank characters; at most {MAX_VALUE_CHARS}")
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", "none", "null"}):
            return self.default
        return self.kind.check(option, self.kind.read(option, raw))

    def dump(self, value: Any) -> str:
        return self.kind.dump(value)

    def json_schema(self) -> dict[str, Any]:
        schema = {**self.kind.json_schema(), "description": self.help}
        if self.default is not None:
            schema["default"] = self.default.value if isinstance(self.default, StrEnum) else self.default
        return schema


def option(default: T, kind: Kind[Any], help: str) -> T:
    # Returns a dataclasses.Field at run time; typed as the default so mypy checks the field's type.
    row = OptionField("", default, kind, help)
    return field(default=default, metadata={OPTION_KEY: row})


@dataclass(frozen=True)
class Options:
    """Everything a caller can ask of one result. Defaults give a transparent PNG cut-out.

    Each field is one option; its :class:`OptionField` (type, limits, help) is the documentation. Build
    from text with :meth:`parse`; the constructor takes typed values and validates them the same way.
    """

    format: OutputFormat = option(
        OutputFormat.AUTO,
        EnumKind(OutputFormat, {"jpg": "jpeg", "delta-png": "delta_png"}),
        f"auto: PNG when the result has transparency (and for `map`) or when `target-size` is over "
        f"{MAX_JPEG_SIDE:,} px a side, JPEG when opaque. WebP holds at most {MAX_WEBP_SIDE:,} px a side, "
        f"JPEG {MAX_JPEG_SIDE:,}. zip (remove.bg's, `application/zip`): `color.jpg`, the input's own colours "
        "whatever the background options, and `alpha.png`, the matte, both with the result's geometry",
    )
    jpeg_quality: int = option(JPEG_QUALITY_DEFAULT, IntKind(1, 100), "JPEG and WebP quality")
    background_color: RGB | None = option(
        None,
        ColorKind(),
        "paint the background; the result is opaque. Only with `background-type=rgba`",
    )
    background_image: str | None = option(
        None,
        ReferenceKind(),
        "composite the cut-out onto this image, cover-fitted to the whole result (scaled to fill it, "
        "centred, the overflow cut off; used as it is when it has exactly the result's size; its own "
        "transparency flattened onto white); the result is opaque. The caller fetches it (a missing S3 "
        "object is `BACKGROUND_NOT_FOUND`) and it is decoded under the input's limits (a bad one is "
        "`INVALID_OPTION`). "
        "Only with `background-type=rgba`; not with `background-color`, `zip` or `delta_png`",
    )
    background_type: BackgroundType = option(
        BackgroundType.RGBA,
        EnumKind(BackgroundType),
        "transparent; the matte as grayscale; solid green/white; original background blurred behind the "
        "subject; the matte shown as a magenta tint over the background",
    )
    threshold: float = option(
        0.0,
        FloatKind(0.0, 1.0),
        "0 keeps soft edges; above 0 the matte is cut hard at that level (higher = more aggressive)",
    )
    decontaminate: bool = option(
        True,
        BoolKind(),
        "estimate the subject's own colour on its soft edges, without the old background's, so that no halo "
        "shows on a new background: transparent results, `delta_png` and every background but `map` and "
        "`overlay`; `zip` keeps the input's colours. On by default; the report says whether it ran",
    )
    roi: Roi | None = option(
        None,
        RoiKind(),
        "region of interest: only the subject inside it is kept. The model still sees the whole image; the "
        "matte outside the box is cleared (x2 and y2 exclusive; px of the input as oriented, % of its width "
        "and height), also for `delta_png` and `zip`. The result keeps its size; `crop-to-foreground` crops "
        "to what is left",
    )
    crop_to_foreground: bool = option(False, BoolKind(), "crop to the subject's bounding box (alpha >= 10%)")
    margin: Margin | None = option(
        None,
        MarginKind(),
        "added around the result (top right bottom left). % of the result's width/height, or of "
        "`target-size` when set (margins then lie inside it). Margins show the background: transparent, "
        "the colour, the blurred picture for `blur`, black for `map` and `overlay`",
    )
    target_size: tuple[int, int] | None = option(
        None, SizeKind(), "fit the result inside W x H (scaling up or down), centred horizontally"
    )
    vertical_alignment: VerticalAlignment = option(
        VerticalAlignment.MIDDLE,
        EnumKind(VerticalAlignment),
        "where spare vertical space goes with `target-size`, and with `scale` when `position` is not given",
    )
    scale: float | None = option(
        None,
        ScaleKind(),
        "the subject's size (remove.bg's): its box (alpha >= 10%) is cut out and scaled, up or down, to fit "
        "that share of the width and height of the space it is placed in: inside the margins of "
        "`target-size` when set, else its own box with `crop-to-foreground`, else the input's size "
        "(margins then added around, as usual). The rest is background. Centred unless `position` says "
        "otherwise (vertically by `vertical-alignment`). `original`: unscaled, or fitted to `target-size`. "
        "Ignored by `delta_png`",
    )
    position: Position | None = option(
        None,
        PositionKind(),
        "where the subject's box sits in that space: 0% puts it against the left/top edge, 100% against "
        "the right/bottom, 50% 50% (`center`) centres it; `original` keeps its centre where it was (as a "
        "share of the input's size). Without `scale` the subject keeps its size (fitted to `target-size` "
        "when set); `original` without `scale` changes nothing. Replaces `vertical-alignment`. Ignored by "
        "`delta_png`",
    )
    max_pixels: int = option(
        MAX_WORK_PIXELS,
        IntKind(MIN_WORK_PIXELS, MAX_WORK_PIXELS),
        "larger inputs are downscaled to this many pixels before processing",
    )
    test: bool = option(False, BoolKind(), 'watermarked preview (a repeated "PREVIEW" stamp)')
    model: str | None = option(
        None,
        NameKind(),
        "which model segments: "
        + "; ".join(f"`{spec.name}`: {spec.tier}" for spec in BUILTIN_MODELS)
        + "; or a custom model's name (`bgremove models` lists them). Empty uses the deployment's default",
    )

    def __post_init__(self) -> None:
        for row in OPTION_FIELDS:
            value = getattr(self, row.name)
            if value is None and row.optional:
                continue
            object.__setattr__(self, row.name, row.kind.typed(row.name, value))
        if self.background_color is not None and self.background_type is not BackgroundType.RGBA:
            raise InvalidOptionError(
                "background_color",
                f"cannot be combined with background_type={self.background_type.value}",
            )
        if self.background_image is not None:
            self._check_background_image()

    def _check_background_image(self) -> None:
        """A background image replaces the transparent background; any other background contradicts it."""
        if self.background_color is not None:
            raise InvalidOptionError(
                "background_image", "cannot be combined with background_color: give an image or a colour"
            )
        if self.background_type is not BackgroundType.RGBA:
            raise InvalidOptionError(
                "background_image",
                f"cannot be combined with background_type={self.background_type.value} (only rgba)",
            )
        if self.format in (OutputFormat.ZIP, OutputFormat.DELTA_PNG):
            raise InvalidOptionError(
                "background_image",
                f"cannot be combined with format={self.format.value}, which holds the subject's colours and "
                "matte, not a composite",
            )

    @classmethod
    def parse(
        cls,
        raw: Mapping[str, Any],
        *,
        names: Mapping[str, str] | None = None,
        ignore_unknown: bool = False,
    ) -> Options:
        """Build options from text or JSON values (metadata, form fields, CLI flags, request bodies).

        Parameters
        ----------
        raw
            Option values by name. ``None``, blank text, ``none`` and ``null`` mean "default".
        names
            A caller's own spelling of the options, mapped onto field names, e.g.
            ``{"bg_color": "background_color"}``. Without it, keys are the field names in any case, with
            ``-`` or ``_``. With it, only its keys are accepted (case-insensitive) and errors name the
            option as the caller spells it.
        ignore_unknown
            Skip keys that name no option (S3 metadata also carries other tools' keys).

        Raises
        ------
        InvalidOptionError
            For a bad value, a value given twice under two spellings, or an unknown key unless
            ``ignore_unknown``.
        """
        lookup = (
            {key.strip().lower(): (key, target) for key, target in names.items()}
            if names is not None
            else None
        )
        values: dict[str, Any] = {}
        spelled: dict[str, str] = {}
        for key, value in raw.items():
            if len(key) > MAX_KEY_CHARS:  # no option's name, however spelled, is this long
                raise InvalidOptionError(f"{key.strip()[:40]}...", "is not a known option")
            if lookup is None:
                option = key.strip().lower().replace("-", "_")
                target = option
            else:
                option, target = lookup.get(key.strip().lower(), (key, ""))
            row = _BY_NAME.get(target)
            if row is None:
                if ignore_unknown:
                    continue
                raise InvalidOptionError(option, "is not a known option")
            parsed = row.read(option, value)
            if target in values and values[target] != parsed:
                raise InvalidOptionError(option, f"conflicts with {spelled[target]!r} given too")
            values[target] = parsed
            spelled[target] = option
        try:
            return cls(**values)
        except InvalidOptionError as error:  # a cross-field rule: name the option as the caller did
            if error.option in spelled:
                raise InvalidOptionError(spelled[error.option], error.message.partition(": ")[2]) from None
            raise

    @property
    def is_delta(self) -> bool:
        return self.format is OutputFormat.DELTA_PNG

    @property
    def is_zip(self) -> bool:
        return self.format is OutputFormat.ZIP

    @property
    def places_subject(self) -> bool:
        """Whether ``scale`` or ``position`` moves the subject (``position=original`` alone does not)."""
        return self.scale is not None or (self.position is not None and not self.position.is_original)

    def to_dict(self) -> dict[str, str]:
        """Options that differ from the defaults, as canonical strings (for reports and metadata)."""
        return {
            row.name: row.dump(getattr(self, row.name))
            for row in OPTION_FIELDS
            if getattr(self, row.name) != row.default
        }


def _table() -> tuple[OptionField, ...]:
    rows = []
    for dataclass_field in fields(Options):
        row: OptionField = dataclass_field.metadata[OPTION_KEY]
        rows.append(OptionField(dataclass_field.name, row.default, row.kind, row.help))
    return tuple(rows)


OPTION_FIELDS: tuple[OptionField, ...] = _table()
"""The option table, in documentation order."""

_BY_NAME = {row.name: row for row in OPTION_FIELDS}

OPTION_NAMES: tuple[str, ...] = tuple(_BY_NAME)
"""Every option name, in documentation order."""


def option_field(name: str) -> OptionField:
    """The table row of one option (``KeyError`` for an unknown name)."""
    return _BY_NAME[name]


def parse_margin(raw: str) -> Margin:
    """Parse 1 to 4 CSS-like lengths (``10px``, ``5%``; bare numbers are pixels)."""
    value: Margin = option_field("margin").read("margin", raw)
    return value


def markdown_table() -> str:
    """The README's options table, generated from the option table (a test keeps the README in step)."""
    lines = ["| metadata key / CLI flag | values | meaning |", "|---|---|---|"]
    for row in OPTION_FIELDS:
        values = row.kind.describe()
        if isinstance(row.kind, EnumKind):
            default = f"`{row.dump(row.default)}`"
            values = values.replace(default, f"{default} (default)", 1)
        elif row.default is not None and (row.default is True or not isinstance(row.kind, BoolKind)):
            values += f", default {row.kind.describe_value(row.default)}"
        lines.append(f"| `{row.metadata_key}` | {values} | {row.help} |")
    return "\n".join(lines)
