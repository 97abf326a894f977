"""What a job is: its states, its record, how it ends, and the words a client is shown of its failure."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from bgremove.events import CompletionEvent, CompletionStatus
from bgremove_api.jobs._time import iso, parse_iso

__all__ = [
    "CLIENT_ERROR_CODES",
    "INPUT_PREFIX",
    "JOB_TIMED_OUT",
    "OPERATOR_FAULT_MESSAGE",
    "Job",
    "JobOutcome",
    "JobStatus",
    "TerminalEventRule",
    "WebhookConfig",
    "job_id_from_input_key",
    "new_job_id",
    "outcome_event",
    "public_error_message",
]

INPUT_PREFIX = "api/"
"""Where submitted inputs go in the input bucket; the jobs queue hears only of events under it."""

JOB_TIMED_OUT = "JOB_TIMED_OUT"
"""Error code of a job failed at its deadline (no completion event came in time)."""

CLIENT_ERROR_CODES = frozenset(
    {
        # bgremove.InputError and its subclasses: the request (image or options) is at fault
        "INVALID_INPUT",
        "EMPTY_INPUT",
        "NOT_AN_IMAGE",
        "UNSUPPORTED_FORMAT",
        "CORRUPT_IMAGE",
        "IMAGE_TOO_LARGE",
        "INVALID_OPTION",
        "BACKGROUND_NOT_FOUND",
        "DELTA_MISMATCH",
        # the processor's own input errors
        "SOURCE_NOT_FOUND",
        "SUPERSEDED",
        JOB_TIMED_OUT,
    }
)
"""Codes whose message a client is shown (without server paths); any other is an operator's fault."""

OPERATOR_FAULT_MESSAGE = "the service is misconfigured; the operator has been told"
"""What a client is shown of a job failed by an operator's fault (``MODEL_NOT_FOUND``, ...)."""

_MAX_ERROR_MESSAGE_CHARS = 1024  # of a completion event's message, as the job keeps it


class JobStatus(StrEnum):
    """A job's state; the last three are terminal."""

    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


@dataclass(frozen=True)
class WebhookConfig:
    """Where and when to tell the client about its job.

    Attributes
    ----------
    url
        The target (checked by the SSRF guard at every delivery).
    events
        The dialect's event names the client asked for (empty: every event).
    dialect
        The dialect's name. Its record's :attr:`~bgremove_api.dialects.dialect.Dialect.webhook` (found by
        name in :data:`bgremove_api.dialects.table.WEBHOOK_DIALECTS`) decides the body and the signature
        scheme.
    """

    url: str
    events: tuple[str, ...]
    dialect: str

    def to_json(self) -> str:
        return json.dumps({"url": self.url, "events": list(self.events), "dialect": self.dialect})

    @classmethod
    def from_json(cls, text: str) -> WebhookConfig:
        data = json.loads(text)
        return cls(url=data["url"], events=tuple(data["events"]), dialect=data["dialect"])


@dataclass(frozen=True)
class Job:
    """One job's record (the table layout is in :mod:`bgremove_api.jobs.store`)."""

    job_id: str
    owner_key_id: str
    dialect: str
    model: str
    status: JobStatus
    created_at: str
    started_at: str | None
    completed_at: str | None
    options: dict[str, str]
    input_key: str
    output_key: str | None
    output_content_type: str | None
    error_code: str | None
    error_message: str | None
    webhook: WebhookConfig | None
    idempotency_key: str | None
    report: dict[str, Any] | None
    extra: dict[str, Any]
    webhook_status: dict[str, str] = field(default_factory=dict)
    """Delivery state per webhook event: ``pending``, ``delivered`` or ``failed``."""
    deadline_at: str | None = None
    """When the job is ``FAILED`` (:data:`JOB_TIMED_OUT`) if still unfinished; ``None`` in records written
    before deadlines existed (the store then counts from ``created_at``)."""
    fingerprint: str | None = None
    """SHA-256 of the request (:func:`~bgremove_api.jobs.submit.request_fingerprint`): a reused idempotency
    key must bring the same."""


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended, as :meth:`~bgremove_api.jobs.JobStore.complete` records it.

    Attributes
    ----------
    status
        A terminal state.
    completed_at, started_at
        When the work ended and began (ISO 8601).
    model
        The model that ran (``None``: the one recorded at submit stays).
    output_key, output_content_type
        The result in the output bucket (``COMPLETED`` only).
    report
        The engine's report (JSON).
    error_code, error_message
        Why it failed; the message as a client may read it (:func:`public_error_message`).
    """

    status: JobStatus
    completed_at: str
    started_at: str | None = None
    model: str | None = None
    output_key: str | None = None
    output_content_type: str | None = None
    report: Mapping[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        if not self.status.terminal:
            raise ValueError(f"{self.status} is not a terminal state")

    @classmethod
    def from_event(cls, event: CompletionEvent) -> JobOutcome:
        """What the processor's completion event says of the upload's job (a failure's message made safe
        for clients: :func:`public_error_message`)."""
        error, output = event.error, event.output
        code = error.code if error is not None else None
        return cls(
            status=JobStatus.COMPLETED if event.status is CompletionStatus.COMPLETED else JobStatus.FAILED,
            completed_at=event.timestamp,
            # The event tells when the work ended and how long it took: the start follows.
            started_at=_started_at(event.timestamp, event.timings_ms.get("end_to_end")),
            model=event.model or None,
            output_key=output.key if output is not None else None,
            output_content_type=output.content_type if output is not None else None,
            report=event.report,
            error_code=code,
            error_message=public_error_message(code, raw_error_message(event)),
        )


def raw_error_message(event: CompletionEvent) -> str | None:
    """The event's own words of its failure, as long as a job keeps them (for the operator's log)."""
    message = event.error.message[:_MAX_ERROR_MESSAGE_CHARS] if event.error is not None else ""
    return message or None


def _started_at(completed_at: str, end_to_end_ms: float | None) -> str | None:
    ended = parse_iso(completed_at)
    if ended is None or end_to_end_ms is None:
        return None
    return iso(ended - timedelta(milliseconds=float(end_to_end_ms)))


# A server path (two or more segments, not inside a URL or an S3 key) or a command in backticks.
_SERVER_DETAIL = re.compile(r"(?<![\w:/.~-])(?:/[\w.@+~-]+){2,}/?|`[^`]*`")
_ASIDE = re.compile(r"\s*\([^()]*\)")


def public_error_message(code: str | None, message: str | None) -> str | None:
    """The words a client is shown of a failed job's error: never a server path, never an operator's fault.

    A job fails with the processor's error (its completion event). For a code of :data:`CLIENT_ERROR_CODES`
    (the request's fault) the message is kept, less any aside that holds a server path or a command
    (``(... not found in /opt/models; run `make model`)``) and any path left; any other code is an
    operator's fault (``MODEL_NOT_FOUND``, ``INTERNAL_ERROR``, ...): the client reads
    :data:`OPERATOR_FAULT_MESSAGE` and the details stay in the logs. Applying it twice changes nothing.
    """
    if message is None:
        return None
    if code not in CLIENT_ERROR_CODES:
        return OPERATOR_FAULT_MESSAGE
    kept = _ASIDE.sub(lambda aside: "" if _SERVER_DETAIL.search(aside.group()) else aside.group(), message)
    return _SERVER_DETAIL.sub("(a server path)", kept).strip()


TerminalEventRule = Callable[["Job"], "str | None"]
"""``job -> the event its end is announced with``, or ``None`` when no webhook wants one: a dialect's rule
(:class:`bgremove_api.webhooks.WebhookDialect`)."""


def outcome_event(job: Job) -> str | None:
    """The default announcement of a finished job with a webhook: the outcome's name, ``completed`` or
    ``failed``, if the webhook's filter wants it (an empty filter wants every event); ``None`` for a job
    without a webhook or not finished."""
    if job.webhook is None or not job.status.terminal:
        return None
    name = "completed" if job.status is JobStatus.COMPLETED else "failed"
    return name if not job.webhook.events or name in job.webhook.events else None


def new_job_id() -> str:
    """26 lowercase base32 characters (130 random bits), safe in S3 keys, URLs and every dialect."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def job_id_from_input_key(key: str) -> str | None:
    """The job id an input key under :data:`INPUT_PREFIX` names (``api/<job id>/<name>``), else ``None``."""
    if not key.startswith(INPUT_PREFIX):
        return None
    job_id, slash, name = key[len(INPUT_PREFIX) :].partition("/")
    return job_id if job_id and slash and name else None
