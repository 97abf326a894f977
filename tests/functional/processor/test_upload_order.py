"""Uploads of one key that overtake each other: the output is the newest upload's, each event is honest.

S3 notifies at least once and in no particular order, and the function may process two uploads of a key
at the same time. Whatever the order, an older upload never replaces a newer one's result, and no event
describes options (job id...) its upload did not carry: such an upload ends FAILED with ``SUPERSEDED``.
The engine is the fake one (:func:`tests.fakes.fake_engine`): these tests are about the adapter.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bgremove.events import CompletionEvent
from processor import handler
from tests.functional.conftest import (
    INPUT_BUCKET,
    OUTPUT_BUCKET,
    FakeContext,
    Stack,
    install_processor,
    s3_message,
    sqs_batch,
)

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "events" / "schema" / "completion-event.schema.json").read_text()
)
OLDER, NEWER = "0055AED6DCD90281E5", "0055AED6DCD90281F9"


def put(aws: Stack, key: str, body: bytes, **metadata: str) -> dict[str, Any]:
    """PutObject on the input bucket; the response (ETag quoted, VersionId when versioned)."""
    response: dict[str, Any] = aws.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body, Metadata=metadata)
    response["ETag"] = response["ETag"].strip('"')
    return response


def message(key: str, upload: dict[str, Any], sequencer: str, **fields: Any) -> str:
    return s3_message(key, upload["ETag"], version_id=upload.get("VersionId"), sequencer=sequencer, **fields)


def valid(event: dict[str, Any]) -> dict[str, Any]:
    jsonschema.validate({k: v for k, v in event.items() if not k.startswith("_")}, SCHEMA)
    return event


def output_meta(aws: Stack, key: str) -> dict[str, str]:
    return dict(aws.s3.head_object(Bucket=OUTPUT_BUCKET, Key=key)["Metadata"])


def test_versioned_bucket_older_version_notified_last_keeps_the_newer_result(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_processor(aws, monkeypatch)
    aws.s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    v1 = put(aws, "v.jpg", photo, **{"job-id": "first"})
    v2 = put(aws, "v.jpg", photo, **{"job-id": "second"})

    newer_first = sqs_batch(message("v.jpg", v2, NEWER))
    then_older = sqs_batch(message("v.jpg", v1, OLDER))
    assert handler.lambda_handler(newer_first, context) == {"batchItemFailures": []}
    assert handler.lambda_handler(then_older, context) == {"batchItemFailures": []}

    assert len(aws.outputs()["v.png"]) == 1  # written once, by the newer upload
    assert output_meta(aws, "v.png")["job-id"] == "second"
    completed, superseded = (valid(e) for e in aws.events())
    assert (completed["status"], completed["job_id"]) == ("COMPLETED", "second")
    assert (superseded["status"], superseded["job_id"]) == ("FAILED", "first")
    assert superseded["input"]["version_id"] == v1["VersionId"]
    assert superseded["error"]["code"] == "SUPERSEDED"
    assert NEWER in superseded["error"]["message"]  # names the newer upload
    assert "second" in superseded["error"]["message"]
    assert superseded["_attributes"]["error_code"] == "SUPERSEDED"


def test_sequencers_of_different_lengths_are_ordered_as_s3_documents(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right-padded with zeros: ``..E5`` < ``..E50001`` even though it is shorter and a string prefix."""
    install_processor(aws, monkeypatch)
    aws.s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    v1 = put(aws, "w.jpg", photo, **{"job-id": "first"})
    v2 = put(aws, "w.jpg", photo, **{"job-id": "second"})
    handler.lambda_handler(sqs_batch(message("w.jpg", v2, OLDER + "0001")), context)
    handler.lambda_handler(sqs_batch(message("w.jpg", v1, OLDER)), context)
    assert output_meta(aws, "w.png")["job-id"] == "second"
    assert [e["status"] for e in aws.events()] == ["COMPLETED", "FAILED"]


def test_versioned_bucket_in_order_both_complete_and_the_newer_result_stays(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_processor(aws, monkeypatch)
    aws.s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    v1 = put(aws, "v.jpg", photo, **{"job-id": "first"})
    v2 = put(aws, "v.jpg", photo, **{"job-id": "second"})
    handler.lambda_handler(sqs_batch(message("v.jpg", v1, OLDER)), context)
    handler.lambda_handler(sqs_batch(message("v.jpg", v2, NEWER)), context)
    assert [(e["status"], e["job_id"]) for e in aws.events()] == [
        ("COMPLETED", "first"),
        ("COMPLETED", "second"),
    ]
    assert len(aws.outputs()["v.png"]) == 2
    assert output_meta(aws, "v.png")["job-id"] == "second"


@pytest.mark.parametrize("order", ["in order", "out of order"])
def test_same_bytes_twice_each_event_has_its_own_upload_options(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    """Unversioned: both uploads have one ETag; the first one's metadata is gone once the second lands."""
    install_processor(aws, monkeypatch)
    first = put(aws, "same.jpg", photo, **{"job-id": "first", "background-type": "map"})
    second = put(aws, "same.jpg", photo, **{"job-id": "second", "background-type": "white"})
    assert first["ETag"] == second["ETag"]
    last_modified = aws.s3.head_object(Bucket=INPUT_BUCKET, Key="same.jpg")["LastModified"]
    earlier = message("same.jpg", first, OLDER, event_time=last_modified - timedelta(seconds=30))
    later = message("same.jpg", second, NEWER, event_time=last_modified + timedelta(milliseconds=400))
    messages = [earlier, later] if order == "in order" else [later, earlier]

    for body in messages:
        assert handler.lambda_handler(sqs_batch(body), context) == {"batchItemFailures": []}

    events = {e["event_id"]: valid(e) for e in aws.events()}
    assert len(events) == 2
    by_status = {e["status"]: e for e in events.values()}
    assert by_status["COMPLETED"]["job_id"] == "second"
    assert by_status["COMPLETED"]["report"]["options"]["background_type"] == "white"
    failed = by_status["FAILED"]
    assert failed["error"]["code"] == "SUPERSEDED"
    assert failed["job_id"] is None  # "second" is not this upload's job id, and "first" is lost
    assert "second" in failed["error"]["message"]
    assert list(aws.outputs()) == ["same.jpg"]  # white: opaque JPEG; never the map PNG of "first"
    assert output_meta(aws, "same.jpg")["job-id"] == "second"


# --- two writers at once: the output changes between the check and the write ------------------------------


def interloper(aws: Stack, key: str, *, sequencer: str, source_key: str = "r.jpg") -> None:
    """Another invocation's result, written to ``key`` as if it had processed an upload of ``source_key``."""
    aws.s3.put_object(
        Bucket=OUTPUT_BUCKET,
        Key=key,
        Body=b"the other writer's result",
        Metadata={
            "source-key": source_key,
            "source-etag": "0123456789abcdef0123456789abcdef",
            "source-sequencer": sequencer,
            "job-id": "concurrent",
        },
    )


def write_first(aws: Stack, s3: Any, **interloper_kwargs: Any) -> list[int]:
    """Make the other writer's PutObject land just before this processor's first one."""
    calls = [0]

    def hook(params: dict[str, Any], **_: Any) -> None:
        calls[0] += 1
        if calls[0] == 1:
            interloper(aws, params["Key"], **interloper_kwargs)

    s3.meta.events.register("before-parameter-build.s3.PutObject", hook)
    return calls


def test_a_newer_result_written_concurrently_is_not_overwritten(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, s3 = install_processor(aws, monkeypatch)
    upload = put(aws, "r.jpg", photo, **{"job-id": "mine"})
    write_first(aws, s3, sequencer=NEWER)

    response = handler.lambda_handler(sqs_batch(message("r.jpg", upload, OLDER)), context)

    assert response == {"batchItemFailures": []}
    assert len(aws.outputs()["r.png"]) == 1  # only the other writer's
    assert output_meta(aws, "r.png")["job-id"] == "concurrent"
    [event] = aws.events()
    assert (valid(event)["status"], event["error"]["code"], event["job_id"]) == (
        "FAILED",
        "SUPERSEDED",
        "mine",
    )


@pytest.mark.parametrize(
    ("sequencer", "source_key"),
    [
        ("0055AED6DCD90281A0", "r.jpg"),  # an older upload of the key
        (NEWER, "r.webp"),  # another key with the same output key: not comparable, the later write wins
    ],
)
def test_an_older_or_unrelated_result_written_concurrently_is_replaced(
    aws: Stack,
    photo: bytes,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    sequencer: str,
    source_key: str,
) -> None:
    _, s3 = install_processor(aws, monkeypatch)
    upload = put(aws, "r.jpg", photo, **{"job-id": "mine"})
    puts = write_first(aws, s3, sequencer=sequencer, source_key=source_key)

    response = handler.lambda_handler(sqs_batch(message("r.jpg", upload, OLDER)), context)

    assert response == {"batchItemFailures": []}
    assert puts[0] == 2  # the conditional write failed once, then succeeded on the output seen again
    assert len(aws.outputs()["r.png"]) == 2
    assert output_meta(aws, "r.png")["job-id"] == "mine"
    assert [e["status"] for e in aws.events()] == ["COMPLETED"]


def test_batch_task_without_sequencer_is_ordered_by_last_modified(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 Batch Operations names no sequencer: an old version never replaces a newer version's result."""
    from tests.sample_events import load_event

    install_processor(aws, monkeypatch)
    aws.s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    v1 = put(aws, "b.jpg", photo, **{"job-id": "first"})
    v2 = put(aws, "b.jpg", photo, **{"job-id": "second"})
    handler.lambda_handler(sqs_batch(message("b.jpg", v2, NEWER)), context)
    # The inputs' LastModified orders them: make the newer one's result a second later than v1's.
    written = output_meta(aws, "b.png")
    v1_modified = aws.s3.head_object(Bucket=INPUT_BUCKET, Key="b.jpg", VersionId=v1["VersionId"])[
        "LastModified"
    ]
    later = (v1_modified + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    aws.s3.copy_object(
        Bucket=OUTPUT_BUCKET,
        Key="b.png",
        CopySource={"Bucket": OUTPUT_BUCKET, "Key": "b.png"},
        Metadata={**written, "source-last-modified": later},
        MetadataDirective="REPLACE",
    )
    job = load_event("s3-batch-2.0", bucket=INPUT_BUCKET, key="b.jpg")
    job["tasks"][0]["s3VersionId"] = v1["VersionId"]

    response = handler.lambda_handler(job, context)

    assert [r["resultCode"] for r in response["results"]] == ["PermanentFailure"]
    assert response["results"][0]["resultString"] == "SUPERSEDED"
    assert output_meta(aws, "b.png")["job-id"] == "second"
    assert [(e["status"], e["job_id"]) for e in aws.events()] == [
        ("COMPLETED", "second"),
        ("FAILED", "first"),
    ]


class _AnswerLost:
    """Publishes to SNS, then fails as if SNS's answer never arrived (the first ``lose`` times)."""

    def __init__(self, aws: Stack, lose: int) -> None:
        from processor import completion

        self._sns = completion.SnsPublisher(aws.sns, aws.topic_arn)
        self.lose = lose

    def publish(self, event: CompletionEvent) -> None:
        self._sns.publish(event)
        if self.lose > 0:
            self.lose -= 1
            raise ConnectionError("the publish answer was lost")


def test_a_retry_after_the_publish_republishes_the_decided_event_even_if_a_newer_upload_came(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by ``make chaos``: the retry used to decide again and announce SUPERSEDED under the same
    ``event_id`` as the COMPLETED already sent."""
    install_processor(aws, monkeypatch, publisher=_AnswerLost(aws, lose=1))
    aws.s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    v1 = put(aws, "r.jpg", photo, **{"job-id": "first"})
    first = sqs_batch(message("r.jpg", v1, OLDER))
    assert handler.lambda_handler(first, context) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    v2 = put(aws, "r.jpg", photo, **{"job-id": "second"})
    assert handler.lambda_handler(sqs_batch(message("r.jpg", v2, NEWER)), context) == {
        "batchItemFailures": []
    }

    assert handler.lambda_handler(first, context) == {"batchItemFailures": []}  # the retry

    events = [valid(e) for e in aws.events()]
    by_id: dict[str, list[tuple[str, str | None]]] = {}
    for event in events:
        by_id.setdefault(event["event_id"], []).append((event["status"], event["job_id"]))
    assert sorted(by_id.values()) == [
        [("COMPLETED", "first"), ("COMPLETED", "first")],  # the copy carries the same decision
        [("COMPLETED", "second")],
    ]
    assert output_meta(aws, "r.png")["job-id"] == "second"
