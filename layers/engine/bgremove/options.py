"""Output options: one typed, validated, immutable object.

Options arrive as strings from S3 metadata, CLI flags or HTTP forms; :meth:`Options.parse` turns such a
mapping into an :class:`Options`, and direct construction validates the same way. Every bad value raises
:class:`~bgremove.exceptions.InvalidOptionError` naming the option.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from bgremove.exceptions import InvalidOptionError

MAX_PIXELS_DEFAULT = 25_000_000
MAX_PIXELS_RANGE = (100, 25_000_000)
TARGET_SIZE_MAX_PIXELS = 25_000_000
JPEG_QUALITY_DEFAULT = 75


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


_FORMAT_ALIASES = {"jpg": "jpeg", "delta-png": "delta_png"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_LENGTH = re.compile(r"^(\d+(?:\.\d+)?)(px|%)?$")
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6})$")

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Length:
    """A margin length: ``value`` pixels, or ``value`` percent of the reference size."""

    value: float
    percent: bool = False

    def to_px(self, reference: int) -> int:
        return round(self.value * reference / 100) if self.percent else round(self.value)

    def __str__(self) -> str:
        number = f"{self.value:g}"
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


def _parse_enum(
    option: str, enum: type[StrEnum], aliases: Mapping[str, str] | None = None
) -> Callable[[Any], Any]:
    def parse(raw: Any) -> StrEnum:
        text = str(raw).strip().lower()
        text = (aliases or {}).get(text, text)
        try:
            return enum(text)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            raise InvalidOptionError(option, f"{raw!r} is not one of {allowed}") from None

    return parse


def _parse_bool(option: str) -> Callable[[Any], bool]:
    def parse(raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise InvalidOptionError(option, f"{raw!r} is not a boolean (true/false)")

    return parse


def _parse_int(option: str) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise InvalidOptionError(option, f"{raw!r} is not an integer")
        if isinstance(raw, int):
            return raw
        text = str(raw).strip().replace("_", "")
        if not re.fullmatch(r"[+-]?\d+", text):
            raise InvalidOptionError(option, f"{raw!r} is not an integer")
        return int(text)

    return parse


def _parse_float(option: str) -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise InvalidOptionError(option, f"{raw!r} is not a number") from None
        if not math.isfinite(value):
            raise InvalidOptionError(option, f"{raw!r} is not a finite number")
        return value

    return parse


def parse_color(raw: Any, option: str = "background_color") -> RGB:
    """Parse ``#RRGGBB`` (the ``#`` may be left out, shells treat it as a comment)."""
    if isinstance(raw, tuple) and len(raw) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in raw):
        return (raw[0], raw[1], raw[2])
    match = _HEX_COLOR.match(str(raw).strip())
    if not match:
        raise InvalidOptionError(option, f"{raw!r} is not a colour of the form #RRGGBB")
    value = int(match.group(1), 16)
    return (value >> 16 & 0xFF, value >> 8 & 0xFF, value & 0xFF)


def parse_margin(raw: Any) -> Margin:
    """Parse 1 to 4 CSS-like lengths (``10px``, ``5%``, bare numbers are pixels)."""
    if isinstance(raw, Margin):
        return raw
    parts = str(raw).replace(",", " ").split()
    if not 1 <= len(parts) <= 4:
        raise InvalidOptionError("margin", f"{raw!r} needs 1 to 4 values such as '10px 5%'")
    lengths = []
    for part in parts:
        match = _LENGTH.match(part.strip().lower())
        if not match:
            raise InvalidOptionError("margin", f"{part!r} is not a length in px or % (e.g. 10px, 5%)")
        value, unit = float(match.group(1)), match.group(2)
        if unit == "%" and value > 100:
            raise InvalidOptionError("margin", f"{part!r} is over 100%")
        if unit != "%" and value > 10_000:
            raise InvalidOptionError("margin", f"{part!r} is over 10000px")
        lengths.append(Length(value, unit == "%"))
    # CSS shorthand: 1 = all, 2 = vertical horizontal, 3 = top horizontal bottom, 4 = top right bottom left.
    if len(lengths) == 1:
        expanded = (lengths[0],) * 4
    elif len(lengths) == 2:
        expanded = (lengths[0], lengths[1], lengths[0], lengths[1])
    elif len(lengths) == 3:
        expanded = (lengths[0], lengths[1], lengths[2], lengths[1])
    else:
        expanded = (lengths[0], lengths[1], lengths[2], lengths[3])
    return Margin(*expanded)


def parse_target_size(raw: Any) -> tuple[int, int]:
    """Parse ``"W H"`` (also ``WxH`` or ``W,H``)."""
    if isinstance(raw, tuple) and len(raw) == 2:
        width, height = raw
    else:
        parts = re.split(r"[\s,x×]+", str(raw).strip().lower())
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise InvalidOptionError("target_size", f"{raw!r} is not two positive integers 'W H'")
        width, height = int(parts[0]), int(parts[1])
    if width < 1 or height < 1:
        raise InvalidOptionError("target_size", f"{raw!r}: width and height must be at least 1")
    if width * height > TARGET_SIZE_MAX_PIXELS:
        raise InvalidOptionError("target_size", f"{raw!r} is over {TARGET_SIZE_MAX_PIXELS} pixels")
    return (int(width), int(height))


def _optional(parser: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", "none", "null"}):
            return None
        return parser(raw)

    return parse


def _parse_model(raw: Any) -> str:
    text = str(raw).strip()
    if not text:
        raise InvalidOptionError("model", "must not be empty")
    return text


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "format": _parse_enum("format", OutputFormat, _FORMAT_ALIASES),
    "jpeg_quality": _parse_int("jpeg_quality"),
    "background_color": _optional(parse_color),
    "background_type": _parse_enum("background_type", BackgroundType),
    "threshold": _parse_float("threshold"),
    "crop_to_foreground": _parse_bool("crop_to_foreground"),
    "margin": _optional(parse_margin),
    "target_size": _optional(parse_target_size),
    "vertical_alignment": _parse_enum("vertical_alignment", VerticalAlignment),
    "max_pixels": _parse_int("max_pixels"),
    "test": _parse_bool("test"),
    "model": _optional(_parse_model),
}


@dataclass(frozen=True)
class Options:
    """Everything a caller can ask of one result. Defaults give a transparent PNG cut-out.

    Parameters
    ----------
    format
        ``auto`` picks PNG when the result has transparency (and for ``map``), JPEG when opaque.
    jpeg_quality
        1..100, used by JPEG and WebP.
    background_color
        RGB triple painted behind the subject; the result is opaque. Only with ``background_type=rgba``.
    background_type
        ``rgba`` transparent, ``map`` the matte as grayscale, ``green``/``white`` solid, ``blur`` the original
        background blurred, ``overlay`` the matte shown over the image.
    threshold
        0 keeps soft edges; above 0 the matte is cut hard at that level (higher removes more).
    crop_to_foreground
        Crop to the subject's bounding box.
    margin
        Added around the result (inside ``target_size`` when both are set).
    target_size
        ``(width, height)``: the result is scaled to fit inside, centred horizontally.
    vertical_alignment
        Where spare vertical space goes with ``target_size``.
    max_pixels
        Larger inputs are downscaled to this many pixels before processing.
    test
        Adds a visible watermark (free preview mode).
    model
        Registry name of the segmentation model; ``None`` uses the engine's default.
    """

    format: OutputFormat = OutputFormat.AUTO
    jpeg_quality: int = JPEG_QUALITY_DEFAULT
    background_color: RGB | None = None
    background_type: BackgroundType = BackgroundType.RGBA
    threshold: float = 0.0
    crop_to_foreground: bool = False
    margin: Margin | None = None
    target_size: tuple[int, int] | None = None
    vertical_alignment: VerticalAlignment = VerticalAlignment.MIDDLE
    max_pixels: int = MAX_PIXELS_DEFAULT
    test: bool = False
    model: str | None = field(default=None)

    def __post_init__(self) -> None:
        # Normalise loosely typed values (plain strings, lists) so direct construction is as safe as parse().
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not _has_canonical_type(f.name, value):
                object.__setattr__(self, f.name, _PARSERS[f.name](value))
        # Tuples pass the type check above, but their values still need the parsers' range checks.
        if self.target_size is not None:
            object.__setattr__(self, "target_size", parse_target_size(self.target_size))
        if self.background_color is not None:
            object.__setattr__(self, "background_color", parse_color(self.background_color))
        if not 1 <= self.jpeg_quality <= 100:
            raise InvalidOptionError("jpeg_quality", f"{self.jpeg_quality} is not in 1..100")
        if not 0.0 <= self.threshold <= 1.0:
            raise InvalidOptionError("threshold", f"{self.threshold:g} is not in 0..1")
        low, high = MAX_PIXELS_RANGE
        if not low <= self.max_pixels <= high:
            raise InvalidOptionError("max_pixels", f"{self.max_pixels} is not in {low}..{high}")
        if self.background_color is not None and self.background_type is not BackgroundType.RGBA:
            raise InvalidOptionError(
                "background_color",
                f"cannot be combined with background_type={self.background_type.value}",
            )

    @classmethod
    def parse(cls, raw: Mapping[str, Any], *, ignore_unknown: bool = False) -> Options:
        """Build options from a mapping of strings (metadata, form fields, CLI).

        Keys may use ``-`` or ``_`` and any case. ``None`` or empty values mean "default".

        Raises
        ------
        InvalidOptionError
            For a bad value, or an unknown key unless ``ignore_unknown``.
        """
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = key.strip().lower().replace("-", "_")
            parser = _PARSERS.get(name)
            if parser is None:
                if ignore_unknown:
                    continue
                raise InvalidOptionError(name, "is not a known option")
            if value is None or (isinstance(value, str) and not value.strip() and name != "test"):
                continue
            values[name] = parser(value)
        return cls(**values)

    @property
    def is_delta(self) -> bool:
        return self.format is OutputFormat.DELTA_PNG

    def to_dict(self) -> dict[str, str]:
        """Options that differ from the defaults, as canonical strings (for reports and metadata)."""
        defaults = Options()
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(defaults, f.name):
                continue
            if f.name == "background_color" and value is not None:
                out[f.name] = "#{:02x}{:02x}{:02x}".format(*value)
            elif f.name == "target_size" and value is not None:
                out[f.name] = f"{value[0]} {value[1]}"
            elif isinstance(value, bool):
                out[f.name] = str(value).lower()
            elif isinstance(value, float):
                out[f.name] = f"{value:g}"
            else:
                out[f.name] = str(value)
        return out


def _has_canonical_type(name: str, value: Any) -> bool:
    canonical: dict[str, Callable[[Any], bool]] = {
        "format": lambda v: isinstance(v, OutputFormat),
        "background_type": lambda v: isinstance(v, BackgroundType),
        "vertical_alignment": lambda v: isinstance(v, VerticalAlignment),
        "jpeg_quality": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "max_pixels": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "threshold": lambda v: isinstance(v, float),
        "crop_to_foreground": lambda v: isinstance(v, bool),
        "test": lambda v: isinstance(v, bool),
        "margin": lambda v: isinstance(v, Margin),
        "target_size": lambda v: isinstance(v, tuple) and len(v) == 2 and all(isinstance(i, int) for i in v),
        "background_color": lambda v: isinstance(v, tuple) and len(v) == 3,
        "model": lambda v: isinstance(v, str),
    }
    return canonical[name](value)


OPTION_NAMES: tuple[str, ...] = tuple(_PARSERS)
"""Every option name, in documentation order."""
