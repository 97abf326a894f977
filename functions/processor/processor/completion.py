"""The completion event: one versioned JSON message per upload, COMPLETED or FAILED.

The contract is documented in the README and as JSON Schema in ``events/schema/completion-event.schema.json``.
SNS message attributes ``status``, ``error_code``, ``format`` and ``model`` let subscribers filter.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from bgremove import BgRemoveError, Report, Result
from processor.sources import ObjectRef

SCHEMA_VERSION = "1.0"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
NO_VALUE = "none"  # SNS attributes cannot be empty strings


class Publisher(Protocol):
    def publish(self, event: dict[str, Any]) -> None: ...


def event_id_for(ref: ObjectRef) -> str:
    """Deterministic per upload: a redelivered event carries the same id, so subscribers can de-duplicate."""
    identity = ref.identity()
    name = f"s3://{identity['bucket']}/{identity['key']}#{identity['version']}#{identity['sequencer']}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


@dataclass(frozen=True)
class OutputObject:
    bucket: str
    key: str
    content_type: str
    size: int
    width: int
    height: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "content_type": self.content_type,
            "size": self.size,
            "width": self.width,
            "height": self.height,
        }


def _input_dict(ref: ObjectRef, size: int | None) -> dict[str, Any]:
    return {
        "bucket": ref.bucket,
        "key": ref.key,
        "version_id": ref.version_id,
        "etag": ref.etag,
        "size": size if size is not None else ref.size,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(
    ref: ObjectRef,
    status: str,
    *,
    job_id: str | None,
    input_size: int | None,
    timings_ms: dict[str, float],
    **rest: Any,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id_for(ref),
        "status": status,
        "job_id": job_id,
        "timestamp": _now(),
        "input": _input_dict(ref, input_size),
        **rest,
        "timings_ms": {k: round(v, 1) for k, v in timings_ms.items()},
    }


def completed_event(
    ref: ObjectRef,
    *,
    job_id: str | None,
    input_size: int | None,
    output: OutputObject,
    report: dict[str, Any],
    timings_ms: dict[str, float],
) -> dict[str, Any]:
    return _event(
        ref,
        COMPLETED,
        job_id=job_id,
        input_size=input_size,
        timings_ms=timings_ms,
        output=output.to_dict(),
        report=report,
        error=None,
        model=report.get("model"),
    )


def replayed_event(
    ref: ObjectRef,
    *,
    job_id: str | None,
    input_size: int | None,
    output: OutputObject,
    report: Report,
) -> dict[str, Any]:
    """The COMPLETED event for an output an earlier attempt wrote but did not announce.

    ``report`` is the one stored with the output (see :func:`processor.metadata.report_from_metadata`);
    its timings and options were not stored, so the event carries none, and ``replayed`` marks it.
    """
    stored = {k: v for k, v in report.to_dict().items() if k not in ("timings_ms", "options")}
    return completed_event(
        ref,
        job_id=job_id,
        input_size=input_size,
        output=output,
        report={**stored, "replayed": True},
        timings_ms={},
    )


def failed_event(
    ref: ObjectRef,
    *,
    job_id: str | None,
    input_size: int | None,
    error: BgRemoveError,
    model: str | None,
    timings_ms: dict[str, float],
) -> dict[str, Any]:
    return _event(
        ref,
        FAILED,
        job_id=job_id,
        input_size=input_size,
        timings_ms=timings_ms,
        output=None,
        report=None,
        error=error.to_dict(),
        model=model,
    )


def message_attributes(event: dict[str, Any]) -> dict[str, dict[str, str]]:
    """SNS attributes for filter policies, e.g. ``{"status": ["FAILED"]}``."""
    error = event.get("error") or {}
    report = event.get("report") or {}

    def attr(value: Any) -> dict[str, str]:
        return {"DataType": "String", "StringValue": str(value) if value else NO_VALUE}

    return {
        "status": attr(event["status"]),
        "error_code": attr(error.get("code")),
        "format": attr(report.get("format")),
        "model": attr(event.get("model")),
    }


class SnsPublisher:
    """Publishes completion events to an SNS topic."""

    def __init__(self, sns_client: Any, topic_arn: str) -> None:
        self._sns = sns_client
        self._topic_arn = topic_arn

    def publish(self, event: dict[str, Any]) -> None:
        self._sns.publish(
            TopicArn=self._topic_arn,
            Message=json.dumps(event, separators=(",", ":")),
            MessageAttributes=message_attributes(event),
        )


def result_output(bucket: str, key: str, result: Result) -> OutputObject:
    return OutputObject(bucket, key, result.content_type, len(result.data), result.width, result.height)


def stored_output(bucket: str, key: str, size: int, report: Report) -> OutputObject:
    """The output object an earlier attempt wrote, described by its stored report."""
    width, height = report.result_size
    return OutputObject(bucket, key, report.content_type, size, width, height)


class EventOutbox:
    """Each upload's first decided event, kept before it is published, so that a retry republishes it.

    A retry after the publish (the function died, SNS's answer was lost, the idempotency record was not
    saved) must not decide again: a newer upload of the key may have replaced the output in between, and the
    retry would announce FAILED ``SUPERSEDED`` under the ``event_id`` of the COMPLETED already sent. The
    first decision is written with a conditional put (``event#<event_id>`` in the idempotency table, with
    its TTL); a later attempt's put fails its condition, and the kept event is published instead. Only
    retries read it back: the first attempt, the common case, costs one write and no read.

    Parameters
    ----------
    dynamodb_client
        boto3 DynamoDB client.
    table
        The idempotency table (partition key ``id``, TTL attribute ``expiration``).
    ttl_seconds
        How long a decision is kept (the idempotency TTL).
    """

    def __init__(self, dynamodb_client: Any, table: str, ttl_seconds: int) -> None:
        self._dynamodb = dynamodb_client
        self._table = table
        self._ttl_seconds = ttl_seconds

    @staticmethod
    def _key(event_id: str) -> dict[str, dict[str, str]]:
        return {"id": {"S": f"event#{event_id}"}}

    def get(self, event_id: str) -> dict[str, Any] | None:
        """The event decided earlier for this upload, if any."""
        item = self._dynamodb.get_item(TableName=self._table, Key=self._key(event_id), ConsistentRead=True)
        stored = item.get("Item")
        return json.loads(stored["event"]["S"]) if stored else None

    def keep_first(self, event: dict[str, Any]) -> dict[str, Any]:
        """Keep ``event`` unless an event was already decided for its upload; returns the one to publish."""
        item = {
            **self._key(event["event_id"]),
            "event": {"S": json.dumps(event, separators=(",", ":"))},
            "expiration": {"N": str(int(time.time()) + self._ttl_seconds)},
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(id)"
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self.get(event["event_id"]) or event
        return event
