"""The pipeline as its users see it: put an image in, read completion events out.

The runner uses these against the emulator and the tests against moto's in-process mock, so both read
events the way a subscriber does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def upload(s3: Any, bucket: str, key: str, data: bytes, metadata: Mapping[str, str] | None = None) -> str:
    """Put an input object with its options as user metadata; returns its ETag without quotes.

    Parameters
    ----------
    s3
        A boto3 S3 client.
    bucket, key
        Where to put it (the input bucket).
    data
        The image bytes.
    metadata
        ``x-amz-meta-*`` options, e.g. ``{"background-color": "#ffffff"}``.
    """
    response = s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata=dict(metadata or {}))
    return str(response["ETag"]).strip('"')


def receive_events(sqs: Any, queue_url: str, *, wait_s: int = 0) -> list[dict[str, Any]]:
    """Completion events waiting in an SQS queue subscribed to the topic (one receive: at most 10).

    Each message is deleted once read. The SNS message attributes are added to each event under
    ``"_attributes"`` (name -> value), so callers can check what a filter policy would see.

    Parameters
    ----------
    sqs
        A boto3 SQS client.
    queue_url
        The subscriber queue (raw message delivery off: bodies are SNS envelopes).
    wait_s
        Long-polling wait; 0 returns at once.
    """
    response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s)
    events = []
    for message in response.get("Messages", []):
        envelope = json.loads(message["Body"])
        event: dict[str, Any] = json.loads(envelope["Message"])
        event["_attributes"] = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
        events.append(event)
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return events
