"""The option values that are more than a number or a word: output formats and backgrounds, lengths,
margins, regions and positions, each with the text form the option parsers read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

RGB = tuple[int, int, int]
"""A colour as red, green and blue levels, each 0..255."""


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
        number = fixed_point(self.value)
        return f"{number}%" if self.percent else f"{number}px"


def fixed_point(value: float) -> str:
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
        return f"{fixed_point(self.x)}% {fixed_point(self.y)}%"


POSITION_ORIGINAL = Position(None, None)
POSITION_CENTER = Position(50.0, 50.0)
