"""S3 user metadata <-> options and report.

Uploaders set options as user metadata: ``x-amz-meta-background-color: #ffffff`` arrives in boto3 as
``{"background-color": "#ffffff"}``. Names are the option names with ``-`` for ``_``; ``job-id`` is a
client correlation id echoed in the completion event. Unknown keys are ignored (other tools' metadata
must not break processing); a bad value fails the upload with the option named.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from urllib.parse import quote

from bgremove import Options, Report

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


def _box(box: object) -> str:
    return str(box) if box is not None else "none"


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
