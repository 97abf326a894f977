"""Turn whatever invoked the function into references to the uploaded objects, with powertools' data classes.

Accepted: SQS batches of S3 notifications (the main path), direct S3 notifications, EventBridge
"Object Created" events (directly or through SQS), and S3 Batch Operations jobs (schema 1.0 and 2.0) for
back-filling objects that existed before deployment. An SQS message may also carry its notification in an
SNS envelope (S3 -> SNS -> SQS fan-out).

Everything here is read through one entry point, :func:`parse`. The one exception is an SQS batch: its
messages must succeed or fail one by one (powertools' ``BatchProcessor`` reports the failed ones), so
:func:`parse` only recognises the batch and the record handler reads each message with
:func:`refs_from_sqs_record`, which shares the notification reader with :func:`parse`::

    parsed = sources.parse(event)
    if parsed.kind is SourceKind.SQS:
        # inside BatchProcessor's record handler, one message at a time
        refs = sources.refs_from_sqs_record(record)
    else:
        refs = parsed.refs

Skipped without error: ``s3:TestEvent`` messages, events other than object creation, zero-byte "folder"
objects (``photos/`` with ``size`` 0; a key ending in ``/`` that holds bytes is an upload like any other)
and empty ``Records`` lists. Anything else raises :class:`UnrecognisedEventError`. S3 Batch Operations
tasks carry no size, so their folder markers are recognised later, by the processor, once it has looked
the object up.

A document of an accepted shape whose fields have the wrong type is malformed, and unrecognised too: the
readers never pass on what the processor could not use. :class:`ObjectRef` checks every field (a version
id, ETag or sequencer that is not text; a size that is not a non-negative integer), and :func:`parse`
checks that an S3 Batch Operations job can be answered: schema version ``1.0`` or ``2.0``, an invocation
id, and exactly one task with its task id (S3 Batch Operations invokes the function once per object of
the manifest; its response names that one task). JSON ``null`` and ``""`` mean "absent" for the optional
fields. Only the notification's time is read leniently (see :func:`_timestamp`).

Each reference keeps what orders uploads of one key: S3's ``sequencer`` (compare them with
:func:`compare_sequencers`) and the notification's time (``eventTime``, or EventBridge's ``time``).

Object keys are URL-decoded: S3 notifications encode them (``red flower.jpg`` arrives as
``red+flower.jpg``) and powertools' ``S3Object.key`` returns them as sent, so they are decoded here;
powertools' EventBridge and S3 Batch Operations classes decode their keys themselves.
"""

from __future__ import annotations

import json
import reprlib
import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import (
    S3BatchOperationEvent,
    S3Event,
    S3EventBridgeNotificationEvent,
    SQSRecord,
)
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import S3BatchOperationTask
from aws_lambda_powertools.utilities.data_classes.sns_event import SNSMessage

from processor.exceptions import UnrecognisedEventError

__all__ = [
    "ObjectRef",
    "ParsedEvent",
    "SourceKind",
    "compare_sequencers",
    "parse",
    "refs_from_message_body",
    "refs_from_sqs_record",
]

_S3_TEST_EVENT = "s3:TestEvent"
_OBJECT_CREATED_DETAIL = "Object Created"
_BATCH_SCHEMA_VERSIONS = frozenset({"1.0", "2.0"})
_HEX_DIGITS = frozenset(string.hexdigits)


class SourceKind(StrEnum):
    """Which service invoked the function."""

    SQS = "sqs"
    S3 = "s3"
    EVENTBRIDGE = "eventbridge"
    S3_BATCH = "s3_batch"


@dataclass(frozen=True)
class ObjectRef:
    """One uploaded object to process.

    ``key`` is URL-decoded; ``etag`` has no surrounding quotes; ``sequencer`` is S3's per-key event order
    (notifications and EventBridge carry it, S3 Batch Operations does not; see
    :func:`compare_sequencers`); ``event_time`` is when S3 finished the upload (the notification's
    ``eventTime``, EventBridge's ``time``; ``None`` for S3 Batch Operations), timezone-aware. Neither
    ``size`` nor ``event_time`` is part of :meth:`identity`.

    Every field is checked on construction, the one place that does so for every event source: ``bucket``
    and ``key`` are non-empty text, ``version_id``, ``etag`` and ``sequencer`` text or ``None``, ``size``
    a non-negative ``int`` (not ``bool``) or ``None``, as the completion event's ``input`` requires, and
    ``event_time`` an aware :class:`~datetime.datetime` or ``None``.

    Raises
    ------
    TypeError, ValueError
        A field of the wrong type or value, named in the message. The readers of this module turn these
        into :class:`UnrecognisedEventError`: the document that gave them is malformed.
    """

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    sequencer: str | None = None
    event_time: datetime | None = None

    def __post_init__(self) -> None:
        # A document of the right shape with fields of the wrong type is malformed too (see _malformed).
        for name in ("bucket", "key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be non-empty text, got {reprlib.repr(value)}")
        for name in ("version_id", "etag", "sequencer"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be text or absent, got {reprlib.repr(value)}")
        if self.size is not None and (type(self.size) is not int or self.size < 0):
            raise ValueError(f"size must be a non-negative integer or absent, got {reprlib.repr(self.size)}")
        if self.event_time is not None and (
            not isinstance(self.event_time, datetime) or self.event_time.utcoffset() is None
        ):
            raise TypeError(
                f"event_time must be a timezone-aware datetime, got {reprlib.repr(self.event_time)}"
            )
        if self.etag is not None:
            object.__setattr__(self, "etag", self.etag.strip('"') or None)

    def identity(self) -> dict[str, str]:
        """What makes an upload unique, for idempotency and event ids.

        Version id (or ETag on unversioned buckets) tells contents apart; the sequencer tells apart two
        uploads of identical bytes (same ETag) with, say, different options, while a redelivered
        notification keeps its sequencer and so stays a duplicate.
        """
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version": self.version_id or self.etag or "",
            "sequencer": self.sequencer or "",
        }

    @property
    def is_folder_marker(self) -> bool:
        """A zero-byte "folder" object as the S3 console creates them (``photos/``): not an upload.

        Only when the size is known to be 0: a key ending in ``/`` that holds bytes is processed, and an
        unknown size (S3 Batch Operations) must be looked up first.
        """
        return self.key.endswith("/") and self.size == 0


def compare_sequencers(first: str, second: str) -> int | None:
    """Order two S3 ``sequencer`` values of the same key: -1, 0 or 1 as ``first`` is earlier, equal, later.

    S3 documents sequencers as hexadecimal strings of possibly different lengths, to be compared by first
    right-padding the shorter with zeros, then comparing lexicographically (the notification-content
    page of the S3 user guide; older versions of that page said left-pad, the current one says
    right-pad). Case is ignored. ``None`` when either is empty or not hexadecimal: not comparable.
    """
    if not first or not second or not set(first) | set(second) <= _HEX_DIGITS:
        return None
    width = max(len(first), len(second))
    left, right = first.upper().ljust(width, "0"), second.upper().ljust(width, "0")
    return (left > right) - (left < right)


@dataclass(frozen=True)
class ParsedEvent:
    """What one invocation asks for.

    Attributes
    ----------
    kind
        The invoking service.
    refs
        The objects to process, in event order. Always empty for :attr:`SourceKind.SQS`: each message is
        read on its own with :func:`refs_from_sqs_record`. For :attr:`SourceKind.S3_BATCH`, the object of
        the job's one task (a folder marker included: every task must be answered).
    job
        :attr:`SourceKind.S3_BATCH` only: the job, whose invocation id, schema version and task id the
        response echoes (all checked by :func:`parse`); see :meth:`batch_tasks`.
    """

    kind: SourceKind
    refs: tuple[ObjectRef, ...] = ()
    job: S3BatchOperationEvent | None = None

    def batch_tasks(self) -> Iterator[tuple[S3BatchOperationTask, ObjectRef]]:
        """The S3 Batch Operations job's task with its object (exactly one); nothing for other sources."""
        if self.job is None:
            return iter(())
        return zip(self.job.tasks, self.refs, strict=True)


def parse(event: object) -> ParsedEvent:
    """Recognise the event's source and read the objects it names.

    Parameters
    ----------
    event
        The invocation payload as Lambda passes it.

    Returns
    -------
    ParsedEvent
        The source and its object references (for SQS, the source only: see :func:`refs_from_sqs_record`).

    Raises
    ------
    UnrecognisedEventError
        The event is none of the accepted shapes, or a malformed one: a field of the wrong type, or an S3
        Batch Operations job whose response could not be built (see the module's docstring).
    """
    if not isinstance(event, dict):
        raise UnrecognisedEventError(f"expected a JSON object event, got {type(event).__name__}")
    if "invocationSchemaVersion" in event and "tasks" in event:
        with _malformed("S3 Batch Operations job"):
            job = _answerable_job(event)
            return ParsedEvent(SourceKind.S3_BATCH, tuple(_ref_from_batch_task(t) for t in job.tasks), job)
    if _first_record_source(event) == "aws:sqs":
        return ParsedEvent(SourceKind.SQS)
    kind, refs = _read_notification(event)
    return ParsedEvent(kind, tuple(refs))


def refs_from_sqs_record(record: SQSRecord) -> list[ObjectRef]:
    """The objects one SQS message names (see :func:`refs_from_message_body`)."""
    return refs_from_message_body(record.body)


def refs_from_message_body(body: str) -> list[ObjectRef]:
    """The objects an SQS message body names.

    The body holds an S3 notification or an EventBridge event, possibly in an SNS envelope.

    Raises
    ------
    UnrecognisedEventError
        The body is not JSON, or not one of those documents, or a malformed one.
    """
    document = _json_object(body)
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        document = _json_object(SNSMessage(document).message)
    return _read_notification(document)[1]


# --- readers ---------------------------------------------------------------------------------------------


def _read_notification(document: dict[str, Any]) -> tuple[SourceKind, list[ObjectRef]]:
    """An S3 notification document or an S3 EventBridge event, whether it came directly or in a message."""
    if document.get("source") == "aws.s3" and "detail" in document:
        with _malformed("S3 EventBridge event"):
            return SourceKind.EVENTBRIDGE, _refs_from_eventbridge(S3EventBridgeNotificationEvent(document))
    if document.get("Event") == _S3_TEST_EVENT:
        return SourceKind.S3, []
    records = document.get("Records")
    if isinstance(records, list) and (not records or _first_record_source(document) == "aws:s3"):
        with _malformed("S3 notification"):
            return SourceKind.S3, _refs_from_s3_event(S3Event(document))
    raise UnrecognisedEventError(
        "not an SQS batch, S3 notification, S3 EventBridge event or S3 Batch Operations job"
    )


def _refs_from_s3_event(event: S3Event) -> list[ObjectRef]:
    refs = []
    for record in event.records:
        if record.get("eventSource") != "aws:s3" or not record.event_name.startswith("ObjectCreated"):
            continue
        obj = record.s3.get_object
        refs.append(
            ObjectRef(
                bucket=record.s3.bucket.name,
                key=unquote_plus(obj.key),  # S3Object.key is returned as sent: URL-encoded
                version_id=_given(obj.get("versionId")),
                etag=_given(obj.get("eTag"), obj.get("etag")),
                size=obj.get("size"),  # null: unknown; anything but an int >= 0: malformed
                sequencer=_given(obj.get("sequencer")),
                event_time=_timestamp(record.get("eventTime")),
            )
        )
    return [ref for ref in refs if not ref.is_folder_marker]


def _refs_from_eventbridge(event: S3EventBridgeNotificationEvent) -> list[ObjectRef]:
    if event.detail_type != _OBJECT_CREATED_DETAIL:
        return []
    obj = event.detail.object
    ref = ObjectRef(
        bucket=event.detail.bucket.name,
        key=obj.key,  # decoded by powertools
        version_id=_given(obj.get("version-id")),  # absent on unversioned buckets
        etag=_given(obj.get("etag")),
        size=obj.get("size"),  # null: unknown; anything but an int >= 0: malformed
        sequencer=_given(obj.get("sequencer")),
        event_time=_timestamp(event.get("time")),
    )
    return [] if ref.is_folder_marker else [ref]


def _answerable_job(event: dict[str, Any]) -> S3BatchOperationEvent:
    """The S3 Batch Operations job, if its response can be built: what that response echoes is there.

    The response (powertools' ``S3BatchOperationResponse``) repeats the schema version and invocation id
    and holds exactly one result, for the job's one task, named by its task id. The task's object is
    checked by :class:`ObjectRef` when it is read.

    Raises
    ------
    ValueError
        One of those is missing or malformed (:func:`_malformed` makes it an UnrecognisedEventError).
    """
    version, invocation, tasks = event["invocationSchemaVersion"], event.get("invocationId"), event["tasks"]
    if not isinstance(version, str) or version not in _BATCH_SCHEMA_VERSIONS:
        raise ValueError(f"invocationSchemaVersion must be one of 1.0, 2.0, got {reprlib.repr(version)}")
    if not isinstance(invocation, str) or not invocation:
        raise ValueError(f"invocationId must be non-empty text, got {reprlib.repr(invocation)}")
    if not isinstance(tasks, list) or len(tasks) != 1 or not isinstance(tasks[0], dict):
        raise ValueError(f"tasks must be a list of exactly one task object, got {reprlib.repr(tasks)}")
    task_id = tasks[0].get("taskId")
    if not isinstance(task_id, str) or not task_id:
        raise ValueError(f"taskId must be non-empty text, got {reprlib.repr(task_id)}")
    return S3BatchOperationEvent(event)


def _ref_from_batch_task(task: S3BatchOperationTask) -> ObjectRef:
    # Decoded by powertools; the bucket comes from s3BucketArn (schema 1.0) or s3Bucket (2.0).
    return ObjectRef(bucket=task.s3_bucket, key=task.s3_key, version_id=_given(task.get("s3VersionId")))


def _given(*values: Any) -> Any:
    """An optional field as the document gives it: the first of ``values`` that is neither JSON ``null``
    nor ``""`` (which mean absent), else ``None``.

    That value is passed on as it is, of whatever type: :class:`ObjectRef` checks it, so that a malformed
    one (``"versionId": 5``, ``"size": -1``) makes the document unrecognised rather than absent.
    """
    return next((value for value in values if value is not None and value != ""), None)


def _timestamp(value: object) -> datetime | None:
    """An ISO-8601 time as a timezone-aware datetime (UTC when it names no zone); ``None`` if unreadable.

    A missing or odd timestamp must not make a notification unreadable: it only disables the check that
    needs it (see :class:`processor.service.ImageProcessor`).
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@contextmanager
def _malformed(what: str) -> Iterator[None]:
    """A recognised document that lacks a field the readers need is unrecognised too, not a crash."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise UnrecognisedEventError(f"malformed {what}: {type(error).__name__}: {error}") from None


def _first_record_source(document: Mapping[str, Any]) -> object:
    records = document.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        return records[0].get("eventSource")
    return None


def _json_object(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnrecognisedEventError(f"SQS message body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise UnrecognisedEventError("SQS message body is not a JSON object")
    return document
