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
    """One uploaded object to process. ``key`` is already URL-decoded."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None

    def identity(self) -> dict[str, str]:
        """What makes an upload unique: bucket, key and version id (or ETag on unversioned buckets)."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version": self.version_id or self.etag or "",
        }


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
            )
        )
    return refs


def refs_from_eventbridge(event: dict[str, Any]) -> list[ObjectRef]:
    if event.get("detail-type") != "Object Created":
        return []
    detail = event["detail"]
    obj = detail["object"]
    return [
        ObjectRef(
            bucket=detail["bucket"]["name"],
            key=unquote_plus(obj["key"]),
            version_id=obj.get("version-id") or None,
            etag=obj.get("etag") or None,
            size=obj.get("size"),
        )
    ]


def refs_from_sqs_body(body: str) -> list[ObjectRef]:
    """An SQS message body holds an S3 notification or an EventBridge event."""
    try:
        document = json.loads(body)
    except json.JSONDecodeError as error:
        raise UnrecognisedEventError(f"SQS message body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise UnrecognisedEventError("SQS message body is not a JSON object")
    if document.get("source") == "aws.s3" and "detail" in document:
        return refs_from_eventbridge(document)
    if "Records" in document or document.get("Event") == "s3:TestEvent":
        return refs_from_s3_notification(document)
    raise UnrecognisedEventError("SQS message body is neither an S3 notification nor an EventBridge event")
