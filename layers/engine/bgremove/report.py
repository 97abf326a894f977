"""What every result says about itself (sizes, orientation, foreground boxes, model, timings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A pixel counts as foreground for bounding boxes and cropping from this alpha (about 10%) up:
# low enough to keep soft hair, high enough to ignore the faint haze a matte leaves on backgrounds.
FOREGROUND_ALPHA_LEVEL = 26

STAGES = ("decode", "preprocess", "inference", "postprocess", "compose", "encode")


@dataclass(frozen=True)
class BBox:
    """An axis-aligned box: ``left top width height`` in pixels (as Pixian's X-*-Foreground headers)."""

    left: int
    top: int
    width: int
    height: int

    @classmethod
    def from_corners(cls, corners: tuple[int, int, int, int]) -> BBox:
        left, top, right, bottom = corners
        return cls(left, top, right - left, bottom - top)

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    def corners(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.right, self.bottom)

    def __str__(self) -> str:
        return f"{self.left} {self.top} {self.width} {self.height}"

    def to_list(self) -> list[int]:
        return [self.left, self.top, self.width, self.height]


@dataclass(frozen=True)
class Report:
    """Facts about one result.

    Attributes
    ----------
    input_size, result_size
        ``(width, height)``; the input's after EXIF orientation.
    orientation
        EXIF orientation of the input, 1..8 (1 when absent).
    input_foreground, result_foreground
        Foreground bounding box in input and in result coordinates; ``None`` when no subject was found.
    model
        Registry name of the model that segmented.
    format, content_type
        Output format actually written (``auto`` resolved) and its MIME type.
    timings_ms
        Milliseconds per stage (decode, preprocess, inference, postprocess, compose, encode) and total.
    options
        The options that differed from the defaults, canonical strings.
    backend
        Where inference ran: ``"local"`` (in this process) or ``"sagemaker:<endpoint>"``; its time is
        ``timings_ms["inference"]``.
    fallback
        Why a model routed to an endpoint ran locally instead (the endpoint was unavailable and the
        deployment allows the fallback), else ``None``.
    decontaminated
        Whether the subject's colours on its soft edges were estimated without the old background
        (option ``decontaminate``): false when it is off, for results that keep the input's colours or show
        none (``map``, ``overlay``, ``zip``) and when the matte has no soft pixel.
    """

    input_size: tuple[int, int]
    result_size: tuple[int, int]
    orientation: int
    input_foreground: BBox | None
    result_foreground: BBox | None
    model: str
    format: str
    content_type: str
    source_format: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    backend: str = "local"
    fallback: str | None = None
    decontaminated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, used by ``--json`` and completion events."""
        return {
            "input_size": list(self.input_size),
            "result_size": list(self.result_size),
            "orientation": self.orientation,
            "input_foreground": self.input_foreground.to_list() if self.input_foreground else None,
            "result_foreground": self.result_foreground.to_list() if self.result_foreground else None,
            "model": self.model,
            "format": self.format,
            "content_type": self.content_type,
            "source_format": self.source_format,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "options": dict(self.options),
            "backend": self.backend,
            **({"fallback": self.fallback} if self.fallback else {}),
            "decontaminated": self.decontaminated,
        }
