"""Moto-backed AWS for the processing function: buckets, topic, subscriber queue, idempotency table.

Also the messages S3 would send: :func:`current` dates the sample events in ``events/`` now (the function
compares a notification's time with the object's ``LastModified``), and :func:`s3_message` writes one S3
notification with the fields a test needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from moto import mock_aws

from bgremove_local import client
from bgremove_local.poller import LambdaContext
from bgremove_local.template import REGION
from processor import completion, handler
from processor.service import ImageProcessor
from processor.settings import ProcessorSettings
from tests.fakes import fake_engine
from tests.sample_events import load_event

INPUT_BUCKET = "test-input"
OUTPUT_BUCKET = "test-output"
TABLE = "test-idempotency"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
SAMPLE_TIMES = ("2026-11-21T12:00:00.000Z", "2026-11-21T12:00:00Z")  # eventTime, EventBridge time


def iso(moment: datetime) -> str:
    """A time as S3 notifications write it: ``2026-11-21T12:00:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def current(event: Any) -> Any:
    """A sample event dated now: S3 notifies an upload after it, never days before its object's time."""
    text = json.dumps(event)
    for sample in SAMPLE_TIMES:
        text = text.replace(sample, iso(datetime.now(UTC)))
    return json.loads(text)


def s3_message(
    key: str,
    etag: str,
    *,
    bucket: str = INPUT_BUCKET,
    version_id: str | None = None,
    sequencer: str | None = "0055AED6DCD90281E5",
    size: int | None = None,
    event_time: datetime | None = None,
) -> str:
    """The body S3 sends to the queue for one upload (``event_time`` defaults to now)."""
    notification = load_event("s3-put", bucket=bucket)
    obj = notification["Records"][0]["s3"]["object"]
    obj.update(key=quote_plus(key, safe="/"), eTag=etag)
    for name, value in (("versionId", version_id), ("sequencer", sequencer), ("size", size)):
        if value is None:
            obj.pop(name, None)
        else:
            obj[name] = value
    notification["Records"][0]["eventTime"] = iso(event_time or datetime.now(UTC))
    return json.dumps(notification)


def sqs_batch(*bodies: str) -> dict[str, Any]:
    """An SQS event of these message bodies, with message ids ``m-0``, ``m-1``..."""
    template = load_event("sqs-s3-put")["Records"][0]
    return {"Records": [{**template, "messageId": f"m-{i}", "body": body} for i, body in enumerate(bodies)]}


@dataclass
class Stack:
    s3: Any
    sns: Any
    sqs: Any
    topic_arn: str
    subscriber_url: str

    def upload(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> str:
        """Put an input object; returns its ETag (unquoted, as S3 notifications carry it)."""
        return client.upload(self.s3, INPUT_BUCKET, key, data, metadata)

    def events(self) -> list[dict[str, Any]]:
        """Drain the subscriber queue: every completion event published so far, with SNS attributes."""
        received: list[dict[str, Any]] = []
        while batch := client.receive_events(self.sqs, self.subscriber_url):
            received.extend(batch)
        return received

    def outputs(self) -> dict[str, list[str]]:
        """Output keys -> their version ids (the output bucket is versioned to catch duplicate writes)."""
        versions: dict[str, list[str]] = {}
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=OUTPUT_BUCKET):
            for version in page.get("Versions", []):
                versions.setdefault(version["Key"], []).append(version["VersionId"])
        return versions


@pytest.fixture
def photo() -> bytes:
    return (FIXTURES / "astronaut.jpg").read_bytes()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "BgRemoveTest",
        "POWERTOOLS_SERVICE_NAME": "bgremove",
        "OUTPUT_BUCKET": OUTPUT_BUCKET,
        "INPUT_BUCKETS": INPUT_BUCKET,
        "IDEMPOTENCY_TABLE": TABLE,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        s3.create_bucket(Bucket=INPUT_BUCKET)
        s3.create_bucket(Bucket=OUTPUT_BUCKET)
        s3.put_bucket_versioning(Bucket=OUTPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        topic_arn = sns.create_topic(Name="completion")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv("COMPLETION_TOPIC_ARN", topic_arn)
        from processor import handler

        get_processor = handler.get_processor  # tests may monkeypatch the module attribute
        get_processor.cache_clear()
        yield Stack(s3, sns, sqs, topic_arn, queue_url)
        get_processor.cache_clear()


class FakeContext(LambdaContext):
    """The local runner's Lambda context for the template's function, by default with its 120 s timeout."""

    def __init__(self, timeout_s: float = 120) -> None:
        super().__init__("ProcessorFunction", timeout_s=timeout_s, memory_mb=2048)


class ScriptedContext(FakeContext):
    """A context without a clock: ``start_ms`` left when first asked (the handler's time budget asks at
    the start of the batch), then whatever :attr:`remaining_ms` says (``then_ms`` until a test changes it).
    """

    def __init__(self, start_ms: int, then_ms: int) -> None:
        super().__init__()
        self.start_ms: int | None = start_ms
        self.remaining_ms = then_ms

    def get_remaining_time_in_millis(self) -> int:
        start, self.start_ms = self.start_ms, None
        return start if start is not None else self.remaining_ms


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


def install_processor(
    aws: Stack,
    monkeypatch: pytest.MonkeyPatch,
    *,
    publisher: completion.Publisher | None = None,
    metrics: Metrics | None = None,
) -> tuple[ImageProcessor, Any]:
    """The handler's processor as Lambda builds it, with the fake engine.

    The idempotency store is on and metrics go to the handler's (printed as EMF when the invocation
    ends); ``publisher`` replaces the SNS one. Returns the processor and its S3 client, on which a test
    can hook botocore events.
    """
    settings = ProcessorSettings.from_env()
    s3 = boto3.client("s3", region_name=REGION)
    processor = ImageProcessor(
        fake_engine(),
        s3,
        publisher or completion.SnsPublisher(boto3.client("sns", region_name=REGION), aws.topic_arn),
        settings,
        persistence_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table),
        metrics=metrics or handler.metrics,
        outbox=completion.EventOutbox(
            boto3.client("dynamodb", region_name=REGION),
            settings.idempotency_table,
            settings.idempotency_ttl_seconds,
        ),
    )
    monkeypatch.setattr(handler, "get_processor", lambda: processor)
    return processor, s3
