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
    MAX_JPEG_SIDE,
    MAX_MARGIN_PX,
    MAX_TARGET_PIXELS,
    MAX_WEBP_SIDE,
    MAX_WORK_PIXELS,
    MIN_WORK_PIXELS,
)

JPEG_QUALITY_DEFAULT = 75
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
        # Fixed-point with the parser's 6 decimals: `:g` would write 1e-06, which the parser refuses.
        number = f"{self.value:.6f}".rstrip("0").rstrip(".")
        return f"{number}%" if self.percent else f"{number}px"


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


def _text(option: str, raw: object) -> str:
    try:
        text = str(raw).strip()
    except ValueError:  # an int past Python's int-to-text digit limit
        raise InvalidOptionError(option, f"{_show(raw)} is too long") from None
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidOptionError(option, f"is longer than {MAX_VALUE_CHARS} characters")
    return text


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
    _LENGTH = re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,6})?)(px|%)?")

    def read(self, option: str, raw: object) -> Margin:
        parts = _text(option, raw).replace(",", " ").split()
        if not 1 <= len(parts) <= 4:
            raise InvalidOptionError(option, f"{_show(raw)} needs 1 to 4 values such as '10px 5%'")
        lengths = []
        for part in parts:
            match = self._LENGTH.fullmatch(part.lower())
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
        checked = []
        for part in (value.top, value.right, value.bottom, value.left):
            number = _as_float(part.value) if isinstance(part, Length) else None
            if number is None or not isinstance(part.percent, bool):
                raise InvalidOptionError(option, f"{_show(part)} is not a finite length")
            # What the text form can say: 6 decimals, and no -0 (``+ 0.0`` turns -0.0 into 0.0).
            length = Length(round(number, 6) + 0.0, part.percent)
            if length.value < 0:
                raise InvalidOptionError(option, f"{length} is negative")
            if length.percent and length.value > 100:
                raise InvalidOptionError(option, f"{length} is over 100%")
            if not length.percent and length.value > MAX_MARGIN_PX:
                raise InvalidOptionError(option, f"{length} is over {MAX_MARGIN_PX}px")
            checked.append(length)
        return Margin(*checked)

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
        f"JPEG {MAX_JPEG_SIDE:,}",
    )
    jpeg_quality: int = option(JPEG_QUALITY_DEFAULT, IntKind(1, 100), "JPEG and WebP quality")
    background_color: RGB | None = option(
        None,
        ColorKind(),
        "paint the background; the result is opaque. Only with `background-type=rgba`",
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
        "where spare vertical space goes with `target-size`",
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
        "which model segments: a name from `bgremove models` (`u2netp`, `isnet` if deployed, or a custom "
        "model's name); empty uses the deployment's default",
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
        elif row.default is not None and not isinstance(row.kind, BoolKind):
            values += f", default {row.kind.describe_value(row.default)}"
        lines.append(f"| `{row.metadata_key}` | {values} | {row.help} |")
    return "\n".join(lines)
