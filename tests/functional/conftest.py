"""Moto-backed AWS for the processing function: buckets, topic, subscriber queue, idempotency table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bgremove_local import client
from bgremove_local.poller import LambdaContext
from bgremove_local.template import REGION

INPUT_BUCKET = "test-input"
OUTPUT_BUCKET = "test-output"
TABLE = "test-idempotency"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"


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
    """The local runner's Lambda context for the template's function, with its default 120 s timeout."""

    def __init__(self) -> None:
        super().__init__("ProcessorFunction", timeout_s=120, memory_mb=2048)


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()
