"""S3 user metadata <-> options and report.

Uploaders set options as user metadata: ``x-amz-meta-background-color: #ffffff`` arrives in boto3 as
``{"background-color": "#ffffff"}``. Names are the option names with ``-`` for ``_``; ``job-id`` is a
client correlation id echoed in the completion event. Unknown keys are ignored (other tools' metadata
must not break processing); a bad value fails the upload with the option named.
"""

from __future__ import annotations

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


def _box(box: object) -> str:
    return str(box) if box is not None else "none"


def result_metadata(
    report: Report, *, source_key: str, source_etag: str | None, job_id: str | None
) -> dict[str, str]:
    """User metadata written on the output object (S3 allows 2 KB in all: keep values short, ASCII)."""
    meta = {
        "input-size": f"{report.input_size[0]} {report.input_size[1]}",
        "result-size": f"{report.result_size[0]} {report.result_size[1]}",
        "input-foreground": _box(report.input_foreground),
        "result-foreground": _box(report.result_foreground),
        "input-orientation": str(report.orientation),
        "model": report.model,
        "source-key": quote(source_key, safe="/"),  # percent-encoded: metadata must be ASCII
        "source-etag": (source_etag or "").strip('"'),
    }
    if job_id:
        meta["job-id"] = quote(job_id, safe="")
    return meta
