"""Messages that are not uploads of ours, and objects that are: each is answered once, for good.

- a key ending in ``/`` is a folder marker only when it has 0 bytes (notifications carry the size; an S3
  Batch Operations task is looked up);
- a message naming a bucket outside ``INPUT_BUCKETS`` (a forged one naming the output bucket, say) is
  logged, counted and acknowledged, never processed;
- a queue message nobody can read is logged, counted and acknowledged, not retried into the DLQ;
- the shortest function timeout the template allows still processes records.

The engine is the fake one (:func:`tests.fakes.fake_engine`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest

from bgremove.events import CompletionEvent
from processor import completion, handler
from tests.functional.conftest import (
    INPUT_BUCKET,
    OUTPUT_BUCKET,
    REGION,
    FakeContext,
    ScriptedContext,
    Stack,
    install_processor,
    s3_message,
    sqs_batch,
)
from tests.sample_events import load_event


def emf_metrics(text: str) -> list[str]:
    """Names of the metrics in the CloudWatch EMF documents among captured stdout lines."""
    names = []
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            for directive in document["_aws"]["CloudWatchMetrics"]:
                names.extend(metric["Name"] for metric in directive["Metrics"])
    return names


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    """The function's log records with this message (their ``extra`` fields are attributes)."""
    return [record for record in caplog.records if record.getMessage() == message]


# --- folder markers ---------------------------------------------------------------------------------------


def test_a_key_ending_in_slash_that_holds_an_image_is_processed(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_processor(aws, monkeypatch)
    etag = aws.upload("photos/", photo, {"job-id": "slash"})

    response = handler.lambda_handler(sqs_batch(s3_message("photos/", etag, size=len(photo))), context)

    assert response == {"batchItemFailures": []}
    [event] = aws.events()
    assert (event["status"], event["job_id"], event["input"]["key"]) == ("COMPLETED", "slash", "photos/")
    assert event["output"]["key"] in aws.outputs()


def test_a_zero_byte_folder_marker_notification_is_skipped(
    aws: Stack, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_processor(aws, monkeypatch)
    etag = aws.upload("photos/", b"")
    response = handler.lambda_handler(sqs_batch(s3_message("photos/", etag, size=0)), context)
    assert response == {"batchItemFailures": []}
    assert aws.events() == []
    assert aws.outputs() == {}


@pytest.mark.parametrize("schema_version", ["1.0", "2.0"])
def test_s3_batch_answers_a_zero_byte_folder_marker_as_succeeded_without_an_event(
    aws: Stack, context: FakeContext, monkeypatch: pytest.MonkeyPatch, schema_version: str
) -> None:
    install_processor(aws, monkeypatch)
    aws.upload("photos/", b"")
    job = load_event(f"s3-batch-{schema_version}", bucket=INPUT_BUCKET, key="photos/")

    response = handler.lambda_handler(job, context)

    assert [(r["resultCode"], r["resultString"]) for r in response["results"]] == [
        ("Succeeded", "skipped: folder marker")
    ]
    assert aws.events() == []
    assert aws.outputs() == {}


def test_s3_batch_processes_a_key_ending_in_slash_that_holds_an_image(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_processor(aws, monkeypatch)
    aws.upload("photos/", photo)
    response = handler.lambda_handler(load_event("s3-batch-2.0", bucket=INPUT_BUCKET, key="photos/"), context)
    assert [r["resultCode"] for r in response["results"]] == ["Succeeded"]
    assert [e["status"] for e in aws.events()] == ["COMPLETED"]


# --- buckets other than the input buckets -----------------------------------------------------------------


def test_a_forged_message_naming_the_output_bucket_touches_nothing(
    aws: Stack,
    photo: bytes,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_processor(aws, monkeypatch)
    etag = aws.upload("cat.jpg", photo)
    handler.lambda_handler(sqs_batch(s3_message("cat.jpg", etag)), context)
    assert [e["status"] for e in aws.events()] == ["COMPLETED"]
    output = aws.s3.head_object(Bucket=OUTPUT_BUCKET, Key="cat.png")
    before = aws.outputs()
    capsys.readouterr()

    forged = s3_message("cat.png", output["ETag"].strip('"'), bucket=OUTPUT_BUCKET)
    response = handler.lambda_handler(sqs_batch(forged), context)

    assert response == {"batchItemFailures": []}  # acknowledged: retrying would not make it ours
    assert aws.events() == []  # not one of our uploads: no event
    assert aws.outputs() == before  # nothing read, nothing written
    assert "ForeignBucket" in emf_metrics(capsys.readouterr().out)
    [warning] = logged(caplog, "skipped: not an input bucket")
    assert (warning.levelno, warning.bucket, warning.key) == (logging.WARNING, OUTPUT_BUCKET, "cat.png")  # type: ignore[attr-defined]


def test_a_message_for_another_bucket_is_acknowledged_beside_good_ones(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_processor(aws, monkeypatch)
    etag = aws.upload("ok.jpg", photo)
    batch = sqs_batch(s3_message("x.jpg", etag, bucket="someone-elses-bucket"), s3_message("ok.jpg", etag))
    assert handler.lambda_handler(batch, context) == {"batchItemFailures": []}
    assert [e["input"]["key"] for e in aws.events()] == ["ok.jpg"]


def test_s3_batch_task_for_another_bucket_is_refused(
    aws: Stack, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_processor(aws, monkeypatch)
    response = handler.lambda_handler(load_event("s3-batch-2.0", bucket=OUTPUT_BUCKET, key="x.png"), context)
    assert [(r["resultCode"], r["resultString"]) for r in response["results"]] == [
        ("PermanentFailure", "skipped: not an input bucket")
    ]
    assert aws.events() == []


# --- unreadable messages ----------------------------------------------------------------------------------


MALFORMED = {
    "not JSON": "{this is not json",
    "no Records": json.dumps({"hello": "world"}),
    "unknown document": json.dumps({"Records": [{"eventSource": "aws:kinesis"}]}),
    "S3 record without s3": json.dumps(
        {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}
    ),
}


def test_malformed_messages_are_acknowledged_and_good_ones_processed(
    aws: Stack,
    photo: bytes,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_processor(aws, monkeypatch)
    first = aws.upload("first.jpg", photo)
    second = aws.upload("second.jpg", photo)
    bodies = [s3_message("first.jpg", first), *MALFORMED.values(), s3_message("second.jpg", second)]

    response = handler.lambda_handler(sqs_batch(*bodies), context)

    assert response == {"batchItemFailures": []}  # the malformed ones are not retried into the DLQ
    assert sorted(e["input"]["key"] for e in aws.events()) == ["first.jpg", "second.jpg"]
    assert emf_metrics(capsys.readouterr().out).count("UnrecognisedMessage") == 1  # summed over the batch
    errors = logged(caplog, "unrecognised message acknowledged without processing")
    assert [error.message_id for error in errors] == [f"m-{i}" for i in range(1, 1 + len(MALFORMED))]  # type: ignore[attr-defined]
    assert {error.levelno for error in errors} == {logging.ERROR}


def test_a_direct_invocation_with_an_unrecognised_event_still_raises(
    aws: Stack, context: FakeContext
) -> None:
    from processor.exceptions import UnrecognisedEventError

    with pytest.raises(UnrecognisedEventError):
        handler.lambda_handler({"hello": "world"}, context)


def with_object_field(body: str, name: str, value: object) -> str:
    """An S3 notification body with one field of its object replaced (by a value S3 never sends)."""
    notification = json.loads(body)
    notification["Records"][0]["s3"]["object"][name] = value
    return json.dumps(notification)


@pytest.mark.parametrize(
    ("name", "value"),
    [("versionId", 5), ("versionId", True), ("size", -1), ("size", "53177"), ("sequencer", 55)],
)
def test_a_message_with_a_field_of_the_wrong_type_is_acknowledged_not_retried(
    aws: Stack,
    photo: bytes,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    value: object,
) -> None:
    # A non-text version id would reach S3's GetObject (a validation error, retried into the DLQ); a
    # negative size would reach the completion event, whose schema wants size >= 0.
    install_processor(aws, monkeypatch)
    bad, good = aws.upload("bad.jpg", photo), aws.upload("good.jpg", photo)
    batch = sqs_batch(
        with_object_field(s3_message("bad.jpg", bad), name, value), s3_message("good.jpg", good)
    )

    response = handler.lambda_handler(batch, context)

    assert response == {"batchItemFailures": []}
    assert [e["input"]["key"] for e in aws.events()] == ["good.jpg"]
    assert "bad.png" not in aws.outputs()
    [error] = logged(caplog, "unrecognised message acknowledged without processing")
    assert error.message_id == "m-0"  # type: ignore[attr-defined]
    assert error.error.startswith("malformed S3 notification")  # type: ignore[attr-defined]


def test_a_direct_notification_with_a_negative_size_raises(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processor.exceptions import UnrecognisedEventError

    install_processor(aws, monkeypatch)
    etag = aws.upload("cat.jpg", photo)
    event = json.loads(with_object_field(s3_message("cat.jpg", etag), "size", -1))
    with pytest.raises(UnrecognisedEventError, match="size"):
        handler.lambda_handler(event, context)
    assert aws.events() == []


def _second_task(job: dict[str, Any]) -> None:
    job["tasks"].append({**job["tasks"][0], "taskId": "c2Vjb25kCg", "s3Key": "other.jpg"})


UNANSWERABLE_JOBS: dict[str, Any] = {
    "no invocationId": lambda job: job.pop("invocationId"),
    "no tasks": lambda job: job.update(tasks=[]),
    "two tasks": _second_task,
    "task without taskId": lambda job: job["tasks"][0].pop("taskId"),
    "schema version 0": lambda job: job.update(invocationSchemaVersion=0),
    "schema version null": lambda job: job.update(invocationSchemaVersion=None),
}


@pytest.mark.parametrize("edit", UNANSWERABLE_JOBS.values(), ids=UNANSWERABLE_JOBS.keys())
@pytest.mark.parametrize("schema_version", ["1.0", "2.0"])
def test_an_s3_batch_job_the_function_cannot_answer_raises_before_any_work(
    aws: Stack,
    photo: bytes,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    schema_version: str,
    edit: Any,
) -> None:
    # Its response must echo the invocation and name exactly one task: without them S3 Batch Operations
    # could not read the answer, so the invocation fails as a wiring fault (the job's failure report
    # shows it), and no object is processed whose result could not be reported.
    from processor.exceptions import UnrecognisedEventError

    install_processor(aws, monkeypatch)
    aws.upload("old/item.jpg", photo)
    aws.upload("other.jpg", photo)
    job = load_event(f"s3-batch-{schema_version}", bucket=INPUT_BUCKET, key="old/item.jpg")
    edit(job)

    with pytest.raises(UnrecognisedEventError):
        handler.lambda_handler(job, context)
    assert aws.events() == []
    assert aws.outputs() == {}


# --- the shortest timeout ---------------------------------------------------------------------------------


def test_the_template_minimum_timeout_still_processes_the_first_record(
    aws: Stack, photo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_processor(aws, monkeypatch)
    etag = aws.upload("quick.jpg", photo)
    response = handler.lambda_handler(sqs_batch(s3_message("quick.jpg", etag)), FakeContext(timeout_s=10))
    assert response == {"batchItemFailures": []}
    assert [e["status"] for e in aws.events()] == ["COMPLETED"]


def test_at_the_longest_timeout_records_are_given_back_below_ten_seconds(
    aws: Stack, photo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = ScriptedContext(900_000, 900_000)

    class TimePasses(completion.SnsPublisher):
        def publish(self, event: CompletionEvent) -> None:
            super().publish(event)
            context.remaining_ms = 9_900  # the first record took almost all of the 900 s

    sns = boto3.client("sns", region_name=REGION)
    install_processor(aws, monkeypatch, publisher=TimePasses(sns, aws.topic_arn))
    first, second = aws.upload("a.jpg", photo), aws.upload("b.jpg", photo)
    batch = sqs_batch(s3_message("a.jpg", first), s3_message("b.jpg", second))

    response = handler.lambda_handler(batch, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert [e["input"]["key"] for e in aws.events()] == ["a.jpg"]
