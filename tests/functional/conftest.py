"""Moto-backed AWS for the processing function: buckets, topic, subscriber queue, idempotency table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"
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
        """Put an input object; returns its ETag (quoted, as S3 notifications carry it unquoted)."""
        response = self.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=data, Metadata=metadata or {})
        return str(response["ETag"]).strip('"')

    def events(self) -> list[dict[str, Any]]:
        """Drain the subscriber queue: every completion event published so far, with SNS attributes."""
        received = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.subscriber_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return received
            for message in messages:
                envelope = json.loads(message["Body"])
                event = json.loads(envelope["Message"])
                event["_attributes"] = {
                    k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()
                }
                received.append(event)
                self.sqs.delete_message(QueueUrl=self.subscriber_url, ReceiptHandle=message["ReceiptHandle"])

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


class FakeContext:
    """The parts of a Lambda context that powertools reads."""

    function_name = "ProcessorFunction"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ProcessorFunction"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 120_000


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()
