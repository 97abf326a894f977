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
        def publish(self, event: dict[str, Any]) -> None:
            super().publish(event)
            context.remaining_ms = 9_900  # the first record took almost all of the 900 s

    sns = boto3.client("sns", region_name=REGION)
    install_processor(aws, monkeypatch, publisher=TimePasses(sns, aws.topic_arn))
    first, second = aws.upload("a.jpg", photo), aws.upload("b.jpg", photo)
    batch = sqs_batch(s3_message("a.jpg", first), s3_message("b.jpg", second))

    response = handler.lambda_handler(batch, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert [e["input"]["key"] for e in aws.events()] == ["a.jpg"]
