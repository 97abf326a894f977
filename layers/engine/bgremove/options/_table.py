"""The option table: :class:`Options`, one field per option, and the lookups derived from its fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

from bgremove.exceptions import InvalidOptionError
from bgremove.limits import MAX_JPEG_SIDE, MAX_WEBP_SIDE, MAX_WORK_PIXELS, MIN_WORK_PIXELS
from bgremove.models._spec import BUILTIN_MODELS
from bgremove.options._kinds import (
    MAX_VALUE_CHARS,
    BoolKind,
    ColorKind,
    EnumKind,
    FloatKind,
    IntKind,
    Kind,
    MarginKind,
    NameKind,
    PositionKind,
    ReferenceKind,
    RoiKind,
    ScaleKind,
    SizeKind,
)
from bgremove.options._values import (
    RGB,
    BackgroundType,
    Margin,
    OutputFormat,
    Position,
    Roi,
    VerticalAlignment,
)

JPEG_QUALITY_DEFAULT = 75
MAX_KEY_CHARS = 64
"""Longest option name accepted, blanks around it included."""

T = TypeVar("T")

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
        One line for the CLI, docs/s3-pipeline.md's options table and the API schemas.
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
    """docs/s3-pipeline.md's options table, generated from the option table (a test,
    tests/unit/engine/test_options.py, keeps that page in step)."""
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
