"""Output options: one table of fields, one typed, validated, immutable :class:`Options`.

Each option is declared once, as a field of :class:`Options` whose metadata is an :class:`OptionField`: its
name, default, kind (type, limits, parser and canonical form) and help text. Everything else derives from
that table:

- :meth:`Options.parse` reads strings (S3 metadata, CLI flags, HTTP forms) and JSON values;
- :meth:`Options.to_dict` writes the canonical strings that :meth:`Options.parse` reads back;
- :data:`OPTION_FIELDS` gives the CLI its flags, the pipeline its metadata keys (``background-color``),
  the HTTP APIs their JSON schema (:meth:`OptionField.json_schema`) and docs/s3-pipeline.md its options
  table (:func:`markdown_table`).

A client that spells options its own way (an HTTP dialect) passes ``names``, a plain mapping from its names
onto field names, to :meth:`Options.parse`; it writes no parsing code of its own::

    Options.parse(form, names={"background.color": "background_color", "result.margin": "margin"})

The constructor takes typed values only; :meth:`Options.parse` is the one place where strings are read.
Every bad value raises :class:`~bgremove.exceptions.InvalidOptionError` naming the option as the caller
spelled it.

The package's modules follow those seams: ``_values`` holds the value types (:class:`Margin`,
:class:`Position`...), ``_kinds`` how each type is read, checked and written, ``_table`` the
:class:`Options` table and what derives from it.
"""

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
from bgremove.options._table import (
    JPEG_QUALITY_DEFAULT,
    MAX_KEY_CHARS,
    OPTION_FIELDS,
    OPTION_KEY,
    OPTION_NAMES,
    OptionField,
    Options,
    markdown_table,
    option,
    option_field,
    parse_margin,
)
from bgremove.options._values import (
    POSITION_CENTER,
    POSITION_ORIGINAL,
    RGB,
    BackgroundType,
    Length,
    Margin,
    OutputFormat,
    Position,
    Roi,
    VerticalAlignment,
)

__all__ = [
    "JPEG_QUALITY_DEFAULT",
    "MAX_KEY_CHARS",
    "MAX_VALUE_CHARS",
    "OPTION_FIELDS",
    "OPTION_KEY",
    "OPTION_NAMES",
    "POSITION_CENTER",
    "POSITION_ORIGINAL",
    "RGB",
    "BackgroundType",
    "BoolKind",
    "ColorKind",
    "EnumKind",
    "FloatKind",
    "IntKind",
    "Kind",
    "Length",
    "Margin",
    "MarginKind",
    "NameKind",
    "OptionField",
    "Options",
    "OutputFormat",
    "Position",
    "PositionKind",
    "ReferenceKind",
    "Roi",
    "RoiKind",
    "ScaleKind",
    "SizeKind",
    "VerticalAlignment",
    "markdown_table",
    "option",
    "option_field",
    "parse_margin",
]
