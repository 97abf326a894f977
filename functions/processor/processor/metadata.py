"""S3 user metadata <-> options and report.

Uploaders set options as user metadata: ``x-amz-meta-background-color: #ffffff`` arrives in boto3 as
``{"background-color": "#ffffff"}``. Names are the option names with ``-`` for ``_``; ``job-id``
(:data:`bgremove.events.JOB_ID_METADATA_KEY`) is a client correlation id echoed in the completion event
(the HTTP API sets it to the job's id). Unknown keys are ignored (other tools' metadata must not break
processing); a bad value fails the upload with the option named.

The output object carries the report the other way: :func:`result_metadata` writes it and
:func:`report_from_metadata` reads it back, so a retry can announce an output an earlier attempt wrote.
It also names the upload it was made from (``source-key``, ``source-etag``, ``source-sequencer``,
``source-last-modified``): :func:`is_result_of` recognises a retry's own output, and
:func:`newer_source` tells whether an output belongs to a later upload of the same key, which an older
upload must never overwrite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from bgremove import BBox, Options, OutputFormat, Report
from bgremove.events import JOB_ID_METADATA_KEY
from processor.sources import compare_sequencers

MAX_JOB_ID_LENGTH = 256


def options_from_metadata(metadata: Mapping[str, str]) -> Options:
    """Options from user metadata; unknown keys ignored, bad values raise ``InvalidOptionError``."""
    raw = {key.lower(): value for key, value in metadata.items() if key.lower() != JOB_ID_METADATA_KEY}
    return Options.parse(raw, ignore_unknown=True)


def job_id_from_metadata(metadata: Mapping[str, str]) -> str | None:
    for key, value in metadata.items():
        if key.lower() == JOB_ID_METADATA_KEY and value:
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


_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _source_key(key: str) -> str:
    return _capped(quote(key, safe="/"), MAX_SOURCE_KEY_CHARS)


def _time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT) if moment is not None else ""


def _parse_time(text: str | None) -> datetime | None:
    try:
        return datetime.strptime(text or "", _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def result_metadata(
    report: Report,
    *,
    source_key: str,
    source_etag: str | None,
    source_sequencer: str | None,
    job_id: str | None,
    source_last_modified: datetime | None = None,
) -> dict[str, str]:
    """User metadata written on the output object: ASCII, under S3's 2 KB limit.

    ``source-key`` and ``job-id`` are percent-encoded (metadata must be ASCII); if either would be too long
    it is replaced by its SHA-256. ``source-etag``, ``source-sequencer`` and ``source-last-modified`` (the
    input's ``LastModified``, UTC, to the second, as S3 reports it) identify and order the upload the
    result belongs to, so that a retry can recognise its own earlier output and an older upload never
    replaces a newer one's result.
    """
    meta = {
        "input-size": f"{report.input_size[0]} {report.input_size[1]}",
        "result-size": f"{report.result_size[0]} {report.result_size[1]}",
        "input-foreground": _box(report.input_foreground),
        "result-foreground": _box(report.result_foreground),
        "input-orientation": str(report.orientation),
        "model": report.model,
        "inference-backend": report.backend,
        "decontaminated": "true" if report.decontaminated else "false",
        "format": report.format,
        "source-format": report.source_format,
        "source-key": _source_key(source_key),
        "source-etag": source_etag or "",
        "source-sequencer": source_sequencer or "",
        "source-last-modified": _time(source_last_modified),
    }
    if job_id:
        meta[JOB_ID_METADATA_KEY] = _capped(quote(job_id, safe=""), MAX_ENCODED_JOB_ID_CHARS)
    return meta


def is_result_of(
    written: Mapping[str, str],
    *,
    source_etag: str,
    source_sequencer: str | None,
    source_last_modified: datetime | None = None,
) -> bool:
    """Whether output metadata names this upload (ETag and sequencer) as its source.

    Same bytes uploaded twice have the same ETag but different sequencers: each upload is its own. An
    upload known without a sequencer (S3 Batch Operations) is recognised by ETag and ``LastModified``
    where the output recorded one, else only by an output that has no sequencer either.
    """
    if written.get("source-etag") != source_etag:
        return False
    if source_sequencer:
        return written.get("source-sequencer", "") == source_sequencer
    recorded = _parse_time(written.get("source-last-modified"))
    if recorded is not None and source_last_modified is not None:
        return recorded == source_last_modified.replace(microsecond=0)
    return not written.get("source-sequencer")


def newer_source(
    written: Mapping[str, str],
    *,
    source_key: str,
    source_sequencer: str | None,
    source_last_modified: datetime | None,
) -> str | None:
    """If the output was made from a later upload of ``source_key`` than the one described: that upload.

    Uploads of one key are ordered by their S3 event ``sequencer`` when both are known (see
    :func:`processor.sources.compare_sequencers`); otherwise, as a fallback (S3 Batch Operations tasks
    and outputs they wrote carry none), by the inputs' ``LastModified``, to the second: an upload in an
    earlier second is older. Nothing orders uploads of different keys (``cat.jpg`` and ``cat.png`` share
    the output ``cat.png``), nor two uploads in the same second without sequencers: ``None`` then, and the
    upload processed last wins, as before.

    Returns
    -------
    str or None
        A description of the newer upload for the error message (ETag, sequencer, last modified,
        job id), or ``None`` when the output is not known to be newer.
    """
    if written.get("source-key") != _source_key(source_key):
        return None
    their_sequencer = written.get("source-sequencer", "")
    order = compare_sequencers(their_sequencer, source_sequencer or "")
    if order is None:
        theirs = _parse_time(written.get("source-last-modified"))
        ours = source_last_modified.replace(microsecond=0) if source_last_modified is not None else None
        order = 1 if theirs is not None and ours is not None and theirs > ours else 0
    if order <= 0:
        return None
    facts = {
        "ETag": written.get("source-etag", ""),
        "sequencer": their_sequencer,
        "last modified": written.get("source-last-modified", ""),
        "job-id": unquote(written.get(JOB_ID_METADATA_KEY, "")),
    }
    return ", ".join(f"{name} {value}" for name, value in facts.items() if value)


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
            # Outputs written before inference could be offloaded carry no backend: they ran locally.
            backend=written.get("inference-backend") or "local",
            # Outputs written before the foreground colour estimation carry no flag: it did not run.
            decontaminated=written.get("decontaminated") == "true",
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
