"""S3 user metadata <-> options and report.

Uploaders set options as user metadata: ``x-amz-meta-background-color: #ffffff`` arrives in boto3 as
``{"background-color": "#ffffff"}``. Names are the option names with ``-`` for ``_``; ``job-id`` is a
client correlation id echoed in the completion event. Unknown keys are ignored (other tools' metadata
must not break processing); a bad value fails the upload with the option named.

The output object carries the report the other way: :func:`result_metadata` writes it and
:func:`report_from_metadata` reads it back, so a retry can announce an output an earlier attempt wrote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from urllib.parse import quote

from bgremove import BBox, Options, OutputFormat, Report

JOB_ID_KEY = "job-id"
MAX_JOB_ID_LENGTH = 256


def options_from_metadata(metadata: Mapping[str, str]) -> Options:
    """Options from user metadata; unknown keys ignored, bad values raise ``InvalidOptionError``."""
    raw = {key.lower(): value for key, value in metadata.items() if key.lower() != JOB_ID_KEY}
    return Options.parse(raw, ignore_unknown=True)


def job_id_from_metadata(metadata: Mapping[str, str]) -> str | None:
    for key, value in metadata.items():
        if key.lower() == JOB_ID_KEY and value:
            return value[:MAX_JOB_ID_LENGTH]
    return None


# S3 allows 2 KB of user metadata (keys + values, UTF-8). Everything but these two values is short and
# bounded; these two are capped so that a long key or job id can never make PutObject fail.
MAX_SOURCE_KEY_CHARS = 1024
MAX_ENCODED_JOB_ID_CHARS = 512


NO_BOX = "none"


def _box(box: BBox | None) -> str:
    return str(box) if box is not None else NO_BOX


def _capped(encoded: str, limit: int) -> str:
    """Percent-encoded text, or ``sha256:<hex>`` of it when too long to fit the metadata budget."""
    if len(encoded) <= limit:
        return encoded
    return "sha256:" + hashlib.sha256(encoded.encode()).hexdigest()


def result_metadata(
    report: Report,
    *,
    source_key: str,
    source_etag: str | None,
    source_sequencer: str | None,
    job_id: str | None,
) -> dict[str, str]:
    """User metadata written on the output object: ASCII, under S3's 2 KB limit.

    ``source-key`` and ``job-id`` are percent-encoded (metadata must be ASCII); if either would be too long
    it is replaced by its SHA-256. ``source-etag`` and ``source-sequencer`` identify the upload the result
    belongs to, so a retry can recognise its own earlier output.
    """
    meta = {
        "input-size": f"{report.input_size[0]} {report.input_size[1]}",
        "result-size": f"{report.result_size[0]} {report.result_size[1]}",
        "input-foreground": _box(report.input_foreground),
        "result-foreground": _box(report.result_foreground),
        "input-orientation": str(report.orientation),
        "model": report.model,
        "format": report.format,
        "source-format": report.source_format,
        "source-key": _capped(quote(source_key, safe="/"), MAX_SOURCE_KEY_CHARS),
        "source-etag": source_etag or "",
        "source-sequencer": source_sequencer or "",
    }
    if job_id:
        meta["job-id"] = _capped(quote(job_id, safe=""), MAX_ENCODED_JOB_ID_CHARS)
    return meta


def is_result_of(written: Mapping[str, str], *, source_etag: str, source_sequencer: str | None) -> bool:
    """Whether output metadata names this upload (ETag and sequencer) as its source.

    Same bytes uploaded twice have the same ETag but different sequencers: each upload is its own.
    """
    return written.get("source-etag") == source_etag and written.get("source-sequencer", "") == (
        source_sequencer or ""
    )


def report_from_metadata(written: Mapping[str, str], *, content_type: str) -> Report | None:
    """The report :func:`result_metadata` wrote, read back; ``None`` when ``written`` is not all ours.

    Parameters
    ----------
    written
        User metadata of an output object.
    content_type
        The object's ``Content-Type`` (S3 keeps it outside the user metadata).

    Returns
    -------
    Report or None
        Sizes, orientation, boxes, model, format and source format as written; ``timings_ms`` and
        ``options`` are not stored and come back empty. ``None`` when a field is missing or malformed
        (another tool's object, or an older writer's): the caller then processes the upload again, which
        costs one recomputation, where raising would fail every retry of the upload.
    """
    try:
        output_format = OutputFormat(written["format"])
        orientation = int(written["input-orientation"])
        if output_format is OutputFormat.AUTO or not 1 <= orientation <= 8 or not written["model"]:
            return None
        return Report(
            input_size=_size(written["input-size"]),
            result_size=_size(written["result-size"]),
            orientation=orientation,
            input_foreground=_parse_box(written["input-foreground"]),
            result_foreground=_parse_box(written["result-foreground"]),
            model=written["model"],
            format=output_format.value,
            content_type=content_type,
            source_format=written["source-format"],
        )
    except (KeyError, ValueError):
        return None


def _counts(text: str, count: int) -> tuple[int, ...]:
    """``count`` space-separated non-negative integers; ``ValueError`` otherwise."""
    values = tuple(int(part) for part in text.split())
    if len(values) != count or min(values) < 0:
        raise ValueError(f"expected {count} non-negative integers, got {text!r}")
    return values


def _size(text: str) -> tuple[int, int]:
    width, height = _counts(text, 2)
    return width, height


def _parse_box(text: str) -> BBox | None:
    return None if text == NO_BOX else BBox(*_counts(text, 4))
