"""The promise "exactly one completion event per upload", when the side jobs around it fail.

Metrics are best-effort: a broken metrics backend, or the metrics namespace missing from the environment,
must neither fail the upload nor make a retry announce it a second time. The engine is the fake one
(:func:`tests.fakes.fake_engine`): these tests are about the adapter, not about the model.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from bgremove.events import CompletionEvent
from processor import completion, handler
from processor.service import ImageProcessor
from processor.settings import DEFAULT_METRICS_NAMESPACE, Env, ProcessorSettings
from tests.fakes import fake_engine
from tests.functional.conftest import (
    INPUT_BUCKET,
    OUTPUT_BUCKET,
    REGION,
    TABLE,
    FakeContext,
    Stack,
    current,
)
from tests.sample_events import load_event

NOT_AN_IMAGE = b"hello, world"


class BrokenMetrics(Metrics):
    """A metrics backend that fails on every metric."""

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("metrics backend is down")


class RecordingMetrics(Metrics):
    """Notes each metric in ``log`` (shared with :class:`RecordingPublisher`) before recording it."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(namespace=DEFAULT_METRICS_NAMESPACE)
        self.log = log

    def add_metric(self, name: str, unit: MetricUnit | str, value: float, *args: Any, **kwargs: Any) -> None:
        self.log.append(f"metric:{name}")
        super().add_metric(name, unit, value, *args, **kwargs)


class RecordingPublisher(completion.SnsPublisher):
    def __init__(self, sns_client: Any, topic_arn: str, log: list[str]) -> None:
        super().__init__(sns_client, topic_arn)
        self.log = log

    def publish(self, event: CompletionEvent) -> None:
        self.log.append(f"publish:{event.status.value}")
        super().publish(event)


def install_processor(
    aws: Stack,
    monkeypatch: pytest.MonkeyPatch,
    metrics: Metrics,
    publisher: completion.Publisher | None = None,
) -> ImageProcessor:
    """The handler's processor, with the fake engine, the given metrics and the idempotency store on."""
    settings = ProcessorSettings.from_env()
    processor = ImageProcessor(
        fake_engine(),
        boto3.client("s3", region_name=REGION),
        publisher or completion.SnsPublisher(boto3.client("sns", region_name=REGION), aws.topic_arn),
        settings,
        persistence_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table),
        metrics=metrics,
    )
    monkeypatch.setattr(handler, "get_processor", lambda: processor)
    return processor


def sqs_event(key: str, etag: str) -> dict[str, Any]:
    return current(load_event("sqs-s3-put", bucket=INPUT_BUCKET, key=key, etag=etag))


def emf_blobs(text: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF documents among the captured stdout lines (logs are JSON lines too)."""
    blobs = []
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            blobs.append(document)
    return blobs


@pytest.mark.parametrize("metrics_kind", ["broken backend", "namespace not in the environment"])
@pytest.mark.parametrize(("data", "status"), [(None, "COMPLETED"), (NOT_AN_IMAGE, "FAILED")])
def test_metrics_failures_never_cause_a_second_event(
    aws: Stack,
    photo: bytes,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    metrics_kind: str,
    data: bytes | None,
    status: str,
) -> None:
    monkeypatch.delenv(Env.METRICS_NAMESPACE)  # powertools' own fallback for the namespace is gone
    metrics = (
        BrokenMetrics(namespace=DEFAULT_METRICS_NAMESPACE)
        if metrics_kind == "broken backend"
        else Metrics(namespace=DEFAULT_METRICS_NAMESPACE)  # as the handler builds it
    )
    install_processor(aws, monkeypatch, metrics)
    etag = aws.upload("once.jpg", photo if data is None else data)
    event = sqs_event("once.jpg", etag)

    first = handler.lambda_handler(event, context)
    retry = handler.lambda_handler(event, context)  # a redelivery, as SQS would send after a failure

    assert first == retry == {"batchItemFailures": []}
    assert [e["status"] for e in aws.events()] == [status]


def test_failed_by_code_metric_goes_to_the_processors_namespace(
    aws: Stack, context: FakeContext, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(Env.METRICS_NAMESPACE)
    install_processor(aws, monkeypatch, Metrics(namespace="ProcessorNamespace"))
    etag = aws.upload("bad.jpg", NOT_AN_IMAGE)

    handler.lambda_handler(sqs_event("bad.jpg", etag), context)

    by_code = [blob for blob in emf_blobs(capsys.readouterr().out) if "FailedByCode" in blob]
    assert [(blob["ErrorCode"], blob["FailedByCode"]) for blob in by_code] == [("NOT_AN_IMAGE", [1.0])]
    assert [m["Namespace"] for m in by_code[0]["_aws"]["CloudWatchMetrics"]] == ["ProcessorNamespace"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, ["metric:Processed", "metric:InferenceMs", "metric:EndToEndMs", "metric:InputMegapixels"]),
        (NOT_AN_IMAGE, ["metric:Failed"]),
    ],
)
def test_metrics_are_recorded_before_the_event_is_published(
    aws: Stack,
    photo: bytes,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes | None,
    expected: list[str],
) -> None:
    log: list[str] = []
    sns = boto3.client("sns", region_name=REGION)
    install_processor(aws, monkeypatch, RecordingMetrics(log), RecordingPublisher(sns, aws.topic_arn, log))
    etag = aws.upload("order.jpg", photo if data is None else data)

    handler.lambda_handler(sqs_event("order.jpg", etag), context)

    assert log == [*expected, f"publish:{'COMPLETED' if data is None else 'FAILED'}"]


def test_output_metadata_someone_else_wrote_is_reprocessed_not_retried_forever(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object under our output key that claims this upload but carries unreadable report metadata."""
    install_processor(aws, monkeypatch, Metrics(namespace=DEFAULT_METRICS_NAMESPACE))
    etag = aws.upload("claimed.jpg", photo)
    event = sqs_event("claimed.jpg", etag)
    sequencer = json.loads(event["Records"][0]["body"])["Records"][0]["s3"]["object"]["sequencer"]
    aws.s3.put_object(
        Bucket=OUTPUT_BUCKET,
        Key="claimed.png",
        Body=b"written by another tool",
        Metadata={
            "source-etag": etag,
            "source-sequencer": sequencer,
            "result-size": "large",
            "input-orientation": "upright",
        },
    )

    assert handler.lambda_handler(event, context) == {"batchItemFailures": []}

    [announced] = aws.events()
    assert announced["status"] == "COMPLETED"
    assert "replayed" not in announced["report"]  # processed afresh, not announced from the stranger's object
    assert len(aws.outputs()["claimed.png"]) == 2
    written = aws.s3.get_object(Bucket=OUTPUT_BUCKET, Key="claimed.png")
    assert written["Body"].read().startswith(b"\x89PNG")
    assert (announced["output"]["width"], announced["output"]["height"]) == (512, 512)


def idempotency_records() -> list[dict[str, Any]]:
    """The idempotency table's records of completed uploads (the outbox's ``event#`` items left out)."""
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=TABLE)["Items"]
    return [item for item in items if not item["id"]["S"].startswith("event#")]


def wire(event: dict[str, Any]) -> dict[str, Any]:
    """A received event without the SNS attributes the test client adds."""
    return {k: v for k, v in event.items() if not k.startswith("_")}


@pytest.mark.parametrize(
    ("data", "result"),
    [(None, ("Succeeded", "again.png")), (NOT_AN_IMAGE, ("PermanentFailure", "NOT_AN_IMAGE"))],
)
def test_a_batch_task_run_again_is_answered_from_the_idempotency_record(
    aws: Stack,
    photo: bytes,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes | None,
    result: tuple[str, str],
) -> None:
    install_processor(aws, monkeypatch, Metrics(namespace=DEFAULT_METRICS_NAMESPACE))
    aws.upload("again.jpg", photo if data is None else data)
    job = load_event("s3-batch-1.0", bucket=INPUT_BUCKET, key="again.jpg")

    first = handler.lambda_handler(job, context)
    again = handler.lambda_handler(job, context)

    assert [(r["resultCode"], r["resultString"]) for r in first["results"] + again["results"]] == [result] * 2
    [published] = aws.events()
    [record] = idempotency_records()
    # The record holds the event's JSON object as published: what the processor stored before the event
    # had a type, so that records of either deployment read back alike.
    assert record["data"]["S"] == json.dumps(wire(published), sort_keys=True)


def test_a_record_an_older_deployment_stored_as_a_plain_object_is_read_back(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_processor(aws, monkeypatch, Metrics(namespace=DEFAULT_METRICS_NAMESPACE))
    aws.upload("older.jpg", photo)
    job = load_event("s3-batch-1.0", bucket=INPUT_BUCKET, key="older.jpg")
    handler.lambda_handler(job, context)
    [published] = aws.events()
    stored = {**wire(published), "output": {**published["output"], "key": "stored/older.png"}, "later": 1}
    [record] = idempotency_records()
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=TABLE,
        Key={"id": record["id"]},
        UpdateExpression="SET #data = :data",
        ExpressionAttributeNames={"#data": "data"},
        ExpressionAttributeValues={":data": {"S": json.dumps(stored, sort_keys=True)}},
    )

    again = handler.lambda_handler(job, context)

    assert [(r["resultCode"], r["resultString"]) for r in again["results"]] == [
        ("Succeeded", "stored/older.png")
    ]
    assert aws.events() == []  # replayed from the record: nothing published again
