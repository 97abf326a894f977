"""The completion event: one message per upload, ``COMPLETED`` or ``FAILED``, as a typed value.

The processor builds a :class:`CompletionEvent` for each upload and publishes :meth:`CompletionEvent.to_json`
on the completion topic; the HTTP API's Jobs function reads it back with :meth:`CompletionEvent.from_dict`.
The wire contract is ``events/schema/completion-event.schema.json``: ``schema_version`` changes only with
breaking changes and fields may be added, so a reader ignores fields it does not know and refuses another
major version.

Here, in the engine layer, because every function has that layer; it stays free of boto3 (the engine CLI
and the inference server import the package too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from bgremove.exceptions import BgRemoveError, MalformedEventError

__all__ = [
    "JOB_ID_METADATA_KEY",
    "SCHEMA_VERSION",
    "CompletionEvent",
    "CompletionStatus",
    "ErrorDetails",
    "InputObject",
    "MalformedEventError",
    "OutputObject",
]

SCHEMA_VERSION = "1.0"
_MAJOR_VERSION = SCHEMA_VERSION.partition(".")[0]  # a reader refuses another (a breaking change)

JOB_ID_METADATA_KEY = "job-id"
"""S3 user metadata key (``x-amz-meta-job-id``) the processor echoes as the event's ``job_id``.

The HTTP API sets it to the job's id on every input it submits; any other uploader may set it as its own
correlation id. The processor also writes it, percent-encoded, on the output object."""


class CompletionStatus(StrEnum):
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class InputObject:
    """The upload the event is about: ``key`` is the object key, URL-decoded."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # the fields in their published order

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputObject:
        return cls(
            bucket=_text(data, "input.bucket"),
            key=_text(data, "input.key"),
            version_id=_optional_text(data, "input.version_id"),
            etag=_optional_text(data, "input.etag"),
            size=_optional_count(data, "input.size"),
        )


@dataclass(frozen=True)
class OutputObject:
    """The result the processor wrote (a ``COMPLETED`` event's)."""

    bucket: str
    key: str
    content_type: str
    size: int
    width: int
    height: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # the fields in their published order

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputObject:
        return cls(
            bucket=_text(data, "output.bucket"),
            key=_text(data, "output.key"),
            content_type=_text(data, "output.content_type"),
            size=_count(data, "output.size"),
            width=_count(data, "output.width"),
            height=_count(data, "output.height"),
        )


@dataclass(frozen=True)
class ErrorDetails:
    """Why an upload failed (a ``FAILED`` event's): the engine's error code and message.

    ``option`` names the option at fault of an ``INVALID_OPTION``.
    """

    code: str
    message: str
    option: str | None = None

    @classmethod
    def of(cls, error: BgRemoveError) -> ErrorDetails:
        """The details of ``error`` as :meth:`~bgremove.BgRemoveError.to_dict` gives them."""
        return cls.from_dict(error.to_dict())

    def to_dict(self) -> dict[str, str]:
        data = {"code": self.code, "message": self.message}
        if self.option is not None:
            data["option"] = self.option
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorDetails:
        return cls(
            code=_text(data, "error.code"),
            message=_text(data, "error.message", empty=True),
            option=_optional_text(data, "error.option"),
        )


@dataclass(frozen=True)
class CompletionEvent:
    """One upload's outcome, as published (see the module docstring for the contract).

    A ``COMPLETED`` event has an ``output`` and no ``error``; a ``FAILED`` one an ``error`` and no ``output``.

    Attributes
    ----------
    event_id
        Deterministic per upload: a redelivered event carries the same id.
    job_id
        The upload's :data:`JOB_ID_METADATA_KEY` metadata, echoed (``None`` when it had none).
    timestamp
        When the processor decided the outcome (ISO 8601, UTC, milliseconds, ``Z``).
    report
        The engine's report (:meth:`bgremove.Report.to_dict`) of a ``COMPLETED`` event, as published: the
        processor may leave fields out (a replayed event has no timings) or add some (``replayed``).
    model
        The model that ran, or would have run.
    timings_ms
        Milliseconds per step of the processor (download, inference, ..., ``end_to_end``).
    """

    event_id: str
    status: CompletionStatus
    job_id: str | None
    timestamp: str
    input: InputObject
    output: OutputObject | None = None
    report: Mapping[str, Any] | None = None
    error: ErrorDetails | None = None
    model: str | None = None
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION

    def __post_init__(self) -> None:
        completed = self.status is CompletionStatus.COMPLETED
        if completed and (self.output is None or self.error is not None):
            raise MalformedEventError("a COMPLETED event has an output and no error")
        if not completed and (self.error is None or self.output is not None):
            raise MalformedEventError("a FAILED event has an error and no output")

    def to_dict(self) -> dict[str, Any]:
        """The event as published (its fields in the order the processor always wrote them)."""
        return {
            "schema_version": self.schema_version,
            "event_id": self.event_id,
            "status": self.status.value,
            "job_id": self.job_id,
            "timestamp": self.timestamp,
            "input": self.input.to_dict(),
            "output": self.output.to_dict() if self.output is not None else None,
            "report": dict(self.report) if self.report is not None else None,
            "error": self.error.to_dict() if self.error is not None else None,
            "model": self.model,
            "timings_ms": dict(self.timings_ms),
        }

    def to_json(self) -> str:
        """The message body: compact JSON of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: object) -> CompletionEvent:
        """The event a decoded message holds.

        Raises
        ------
        MalformedEventError
            ``data`` is not a completion event of schema version 1 (the message names the field at fault).
        """
        if not isinstance(data, Mapping):
            raise MalformedEventError(f"a completion event is a JSON object, not {type(data).__name__}")
        version = _text(data, "schema_version")
        if version.partition(".")[0] != _MAJOR_VERSION:
            raise MalformedEventError(f"schema_version {version[:16]!r} is not one this reader knows")
        status = _text(data, "status")
        if status not in set(CompletionStatus):
            raise MalformedEventError(f"status {status[:32]!r} is none of {', '.join(CompletionStatus)}")
        output, report, error = data.get("output"), data.get("report"), data.get("error")
        return cls(
            event_id=_text(data, "event_id"),
            status=CompletionStatus(status),
            job_id=_optional_text(data, "job_id"),
            timestamp=_text(data, "timestamp"),
            input=InputObject.from_dict(_object(data, "input")),
            output=OutputObject.from_dict(_object(data, "output")) if output is not None else None,
            report=dict(_object(data, "report")) if report is not None else None,
            error=ErrorDetails.from_dict(_object(data, "error")) if error is not None else None,
            model=_optional_text(data, "model"),
            timings_ms=_timings(data),
            schema_version=version,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> CompletionEvent:
        """The event a message body holds; :class:`MalformedEventError` when it holds none."""
        try:
            data = json.loads(text)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
            raise MalformedEventError(f"the message is not JSON ({error})") from None
        return cls.from_dict(data)


# A missing field whose value may be null reads as null; any other field must be there, of its type.
def _value(data: Mapping[str, Any], path: str, *, nullable: bool) -> Any:
    name = path.rsplit(".", 1)[-1]
    if name not in data and not nullable:
        raise MalformedEventError(f"{path} is missing")
    return data.get(name)


def _text(data: Mapping[str, Any], path: str, *, empty: bool = False) -> str:
    value = _value(data, path, nullable=False)
    if not isinstance(value, str) or not (value or empty):
        raise MalformedEventError(f"{path} must be a {'' if empty else 'non-empty '}string")
    return value


def _optional_text(data: Mapping[str, Any], path: str) -> str | None:
    value = _value(data, path, nullable=True)
    if value is not None and not isinstance(value, str):
        raise MalformedEventError(f"{path} must be a string or null")
    return value


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(data: Mapping[str, Any], path: str) -> int:
    value = _value(data, path, nullable=False)
    if not _is_count(value):
        raise MalformedEventError(f"{path} must be a whole number")
    return int(value)


def _optional_count(data: Mapping[str, Any], path: str) -> int | None:
    value = _value(data, path, nullable=True)
    if value is not None and not _is_count(value):
        raise MalformedEventError(f"{path} must be a whole number or null")
    return value if value is None else int(value)


def _object(data: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    value = _value(data, path, nullable=False)
    if not isinstance(value, Mapping):
        raise MalformedEventError(f"{path} must be an object")
    return value


def _timings(data: Mapping[str, Any]) -> dict[str, float]:
    timings = _object(data, "timings_ms")
    for name, value in timings.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise MalformedEventError(f"timings_ms.{str(name)[:32]} must be a number")
    return dict(timings)
