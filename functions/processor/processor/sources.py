"""Recognise the event sources the function accepts and turn each into object references.

Accepted: SQS batches of S3 notifications (the main path), direct S3 notifications, EventBridge
"Object Created" events (directly or through SQS), and S3 Batch Operations jobs (schema 1.0 and 2.0) for
back-filling objects that existed before deployment. ``s3:TestEvent`` messages are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus


class SourceKind(StrEnum):
    SQS = "sqs"
    S3 = "s3"
    EVENTBRIDGE = "eventbridge"
    S3_BATCH = "s3_batch"


class UnrecognisedEventError(ValueError):
    """The event is none of the accepted shapes."""


@dataclass(frozen=True)
class ObjectRef:
    """One uploaded object to process.

    ``key`` is URL-decoded; ``etag`` has no surrounding quotes; ``sequencer`` is S3's per-key event order
    (notifications and EventBridge carry it, S3 Batch Operations does not).
    """

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    sequencer: str | None = None

    def __post_init__(self) -> None:
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
        """Zero-byte "folder" objects the S3 console creates (``photos/``): not uploads."""
        return self.key.endswith("/")


def detect(event: Any) -> SourceKind:
    if not isinstance(event, dict):
        raise UnrecognisedEventError(f"expected a JSON object event, got {type(event).__name__}")
    if "invocationSchemaVersion" in event and "tasks" in event:
        return SourceKind.S3_BATCH
    if event.get("source") == "aws.s3" and "detail" in event:
        return SourceKind.EVENTBRIDGE
    records = event.get("Records")
    if isinstance(records, list) and records:
        source = records[0].get("eventSource")
        if source == "aws:sqs":
            return SourceKind.SQS
        if source == "aws:s3":
            return SourceKind.S3
    if isinstance(records, list) and not records:
        return SourceKind.S3  # an empty batch: nothing to do, answer like a notification
    raise UnrecognisedEventError("not an SQS, S3, EventBridge or S3 Batch Operations event")


def refs_from_s3_notification(notification: dict[str, Any]) -> list[ObjectRef]:
    """Object refs of an S3 notification document (``{"Records": [...]}``); test events give none."""
    if notification.get("Event") == "s3:TestEvent":
        return []
    refs = []
    for record in notification.get("Records", []):
        if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
            "ObjectCreated"
        ):
            continue
        s3 = record["s3"]
        obj = s3["object"]
        refs.append(
            ObjectRef(
                bucket=s3["bucket"]["name"],
                key=unquote_plus(obj["key"]),
                version_id=obj.get("versionId") or None,
                etag=obj.get("eTag") or obj.get("etag") or None,
                size=obj.get("size"),
                sequencer=obj.get("sequencer"),
            )
        )
    return [ref for ref in refs if not ref.is_folder_marker]


def refs_from_eventbridge(event: dict[str, Any]) -> list[ObjectRef]:
    if event.get("detail-type") != "Object Created":
        return []
    detail = event["detail"]
    obj = detail["object"]
    ref = ObjectRef(
        bucket=detail["bucket"]["name"],
        key=unquote_plus(obj["key"]),
        version_id=obj.get("version-id") or None,
        etag=obj.get("etag") or None,
        size=obj.get("size"),
        sequencer=obj.get("sequencer"),
    )
    return [] if ref.is_folder_marker else [ref]


def refs_from_sqs_body(body: str) -> list[ObjectRef]:
    """An SQS message body holds an S3 notification or an EventBridge event, possibly in an SNS envelope
    (S3 -> SNS -> SQS fan-out)."""
    document = _json_object(body)
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        document = _json_object(document["Message"])
    if document.get("source") == "aws.s3" and "detail" in document:
        return refs_from_eventbridge(document)
    if "Records" in document or document.get("Event") == "s3:TestEvent":
        return refs_from_s3_notification(document)
    raise UnrecognisedEventError("SQS message body is neither an S3 notification nor an EventBridge event")


def _json_object(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnrecognisedEventError(f"SQS message body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise UnrecognisedEventError("SQS message body is not a JSON object")
    return document
