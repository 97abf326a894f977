"""The processing function against moto: real model, real photos, every source, every failure class."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from PIL import Image

from bgremove import ModelSpec
from processor import completion, handler
from processor.service import ImageProcessor, output_key_for
from processor.settings import ProcessorSettings
from tests.functional.conftest import (
    INPUT_BUCKET,
    OUTPUT_BUCKET,
    REGION,
    FakeContext,
    ScriptedContext,
    Stack,
    current,
)
from tests.sample_events import load_event

pytestmark = pytest.mark.integration  # runs the real model

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "events" / "schema" / "completion-event.schema.json").read_text()
)


def sqs_event(
    *uploads: tuple[str, str],
    ids: list[str] | None = None,
    sequencer: str | None = None,
    size: int | None = None,
) -> dict[str, Any]:
    """An SQS batch, one message per (key, etag), each wrapping an S3 notification sent now."""
    records = []
    for index, (key, etag) in enumerate(uploads):
        record = current(load_event("sqs-s3-put", bucket=INPUT_BUCKET, key=key, etag=etag))["Records"][0]
        record["messageId"] = ids[index] if ids else f"message-{index}"
        notification = json.loads(record["body"])
        if sequencer:
            notification["Records"][0]["s3"]["object"]["sequencer"] = sequencer
        if size is not None:
            notification["Records"][0]["s3"]["object"]["size"] = size
        record["body"] = json.dumps(notification)
        records.append(record)
    return {"Records": records}


def assert_valid(event: dict[str, Any]) -> None:
    payload = {k: v for k, v in event.items() if not k.startswith("_")}
    jsonschema.validate(payload, SCHEMA)


def test_upload_with_metadata_gives_output_and_one_event(
    aws: Stack, photo: bytes, context: FakeContext
) -> None:
    etag = aws.upload(
        "shop/astronaut.jpg",
        photo,
        {"background-color": "#ffffff", "crop-to-foreground": "true", "margin": "10px", "job-id": "order-42"},
    )

    response = handler.lambda_handler(sqs_event(("shop/astronaut.jpg", etag)), context)

    assert response == {"batchItemFailures": []}
    output = aws.s3.get_object(Bucket=OUTPUT_BUCKET, Key="shop/astronaut.jpg")
    assert output["ContentType"] == "image/jpeg"
    image = Image.open(io.BytesIO(output["Body"].read()))
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    # white background: the corners are white-ish, the margin adds 10 px each side around the crop
    assert min(image.getpixel((2, 2))) > 240
    meta = output["Metadata"]
    assert meta["job-id"] == "order-42"
    assert meta["source-key"] == "shop/astronaut.jpg"
    assert meta["source-etag"] == etag
    assert meta["model"] == "u2net"
    fg = [int(v) for v in meta["input-foreground"].split()]
    assert [int(v) for v in meta["result-size"].split()] == [fg[2] + 20, fg[3] + 20] == list(image.size)

    events = aws.events()
    assert len(events) == 1
    event = events[0]
    assert_valid(event)
    assert event["status"] == "COMPLETED"
    assert event["job_id"] == "order-42"
    assert event["input"] == {
        "bucket": INPUT_BUCKET,
        "key": "shop/astronaut.jpg",
        "version_id": None,
        "etag": etag,
        "size": len(photo),
    }
    assert event["output"]["key"] == "shop/astronaut.jpg"
    assert (event["output"]["width"], event["output"]["height"]) == image.size
    assert event["report"]["options"]["background_color"] == "#ffffff"
    assert event["_attributes"] == {
        "status": "COMPLETED",
        "error_code": "none",
        "format": "jpeg",
        "model": "u2net",
    }
    assert event["timings_ms"]["engine_inference"] > 0


def test_default_upload_is_transparent_png_named_after_input(
    aws: Stack, photo: bytes, context: FakeContext
) -> None:
    etag = aws.upload("a/b/photo.jpeg", photo)
    handler.lambda_handler(sqs_event(("a/b/photo.jpeg", etag)), context)
    body = aws.s3.get_object(Bucket=OUTPUT_BUCKET, Key="a/b/photo.png")["Body"].read()
    image = Image.open(io.BytesIO(body))
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (512, 512))
    assert image.getchannel("A").getextrema() == (0, 255)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("s3-put", "uploads/summer photo été.jpg"),
        ("eventbridge-object-created", "uploads/summer photo été.jpg"),
        ("sqs-s3-put", "uploads/summer photo été.jpg"),
    ],
)
def test_each_notification_source_decodes_keys(
    aws: Stack, photo: bytes, context: FakeContext, name: str, key: str
) -> None:
    etag = aws.upload(key, photo, {"format": "webp"})
    handler.lambda_handler(current(load_event(name, bucket=INPUT_BUCKET, key=key, etag=etag)), context)
    assert list(aws.outputs()) == ["uploads/summer photo été.webp"]
    events = aws.events()
    assert [e["status"] for e in events] == ["COMPLETED"]
    assert events[0]["input"]["key"] == key


@pytest.mark.parametrize("schema_version", ["1.0", "2.0"])
def test_s3_batch_operations_backfill(
    aws: Stack, photo: bytes, context: FakeContext, schema_version: str
) -> None:
    aws.upload("old/item one.jpg", photo)
    aws.upload("old/broken.jpg", b"not an image at all")
    # S3 Batch Operations sends one task per invocation.
    job = load_event(f"s3-batch-{schema_version}", bucket=INPUT_BUCKET, key="old/item one.jpg")
    broken = load_event(f"s3-batch-{schema_version}", bucket=INPUT_BUCKET, key="old/broken.jpg")

    response = handler.lambda_handler(job, context)
    rejected = handler.lambda_handler(broken, context)

    assert response["invocationSchemaVersion"] == schema_version
    assert response["invocationId"] == job["invocationId"]
    assert [r["resultCode"] for r in response["results"]] == ["Succeeded"]
    assert response["results"][0]["resultString"] == "old/item one.png"
    assert [(r["resultCode"], r["resultString"]) for r in rejected["results"]] == [
        ("PermanentFailure", "NOT_AN_IMAGE")
    ]
    assert "old/item one.png" in aws.outputs()
    written = aws.s3.head_object(Bucket=OUTPUT_BUCKET, Key="old/item one.png")["Metadata"]
    assert written["source-etag"]  # looked up: batch tasks carry no ETag
    assert sorted(e["status"] for e in aws.events()) == ["COMPLETED", "FAILED"]


def test_s3_test_event_is_skipped(aws: Stack, context: FakeContext) -> None:
    response = handler.lambda_handler(load_event("sqs-s3-test-event", bucket=INPUT_BUCKET), context)
    assert response == {"batchItemFailures": []}
    assert aws.outputs() == {}
    assert aws.events() == []


@pytest.mark.parametrize(
    ("data", "metadata", "code", "option"),
    [
        (b"", {}, "EMPTY_INPUT", None),
        (b"hello, world", {}, "NOT_AN_IMAGE", None),
        (None, {"threshold": "2"}, "INVALID_OPTION", "threshold"),
        (None, {"background-type": "purple"}, "INVALID_OPTION", "background_type"),
        (None, {"target-size": "wide"}, "INVALID_OPTION", "target_size"),
    ],
)
def test_bad_input_fails_once_and_is_acknowledged(
    aws: Stack,
    photo: bytes,
    context: FakeContext,
    data: bytes | None,
    metadata: dict[str, str],
    code: str,
    option: str | None,
) -> None:
    etag = aws.upload("bad/input.jpg", photo if data is None else data, {**metadata, "job-id": "j-1"})
    response = handler.lambda_handler(sqs_event(("bad/input.jpg", etag)), context)
    assert response == {"batchItemFailures": []}  # acknowledged: retrying cannot help
    assert aws.outputs() == {}
    events = aws.events()
    assert len(events) == 1
    assert_valid(events[0])
    assert events[0]["status"] == "FAILED"
    assert events[0]["job_id"] == "j-1"
    assert events[0]["error"]["code"] == code
    assert events[0]["error"].get("option") == option
    assert events[0]["_attributes"]["error_code"] == code


def test_deleted_source_fails_with_source_not_found(aws: Stack, context: FakeContext) -> None:
    response = handler.lambda_handler(sqs_event(("gone.jpg", "0123")), context)
    assert response == {"batchItemFailures": []}
    [event] = aws.events()
    assert event["error"]["code"] == "SOURCE_NOT_FOUND"


def test_unknown_metadata_is_ignored(aws: Stack, photo: bytes, context: FakeContext) -> None:
    etag = aws.upload("x.jpg", photo, {"uploaded-by": "camera-app", "background-type": "map"})
    handler.lambda_handler(sqs_event(("x.jpg", etag)), context)
    [event] = aws.events()
    assert event["status"] == "COMPLETED"
    assert event["output"]["content_type"] == "image/png"


def test_duplicate_delivery_gives_one_output_and_one_event(
    aws: Stack, photo: bytes, context: FakeContext
) -> None:
    etag = aws.upload("dup.jpg", photo)
    event = sqs_event(("dup.jpg", etag))
    first = handler.lambda_handler(event, context)
    second = handler.lambda_handler(event, context)
    assert first == second == {"batchItemFailures": []}
    assert aws.outputs() == {"dup.png": aws.outputs()["dup.png"]}
    assert len(aws.outputs()["dup.png"]) == 1
    assert len(aws.events()) == 1


def test_a_new_upload_of_the_same_key_is_processed_again(
    aws: Stack, photo: bytes, context: FakeContext
) -> None:
    first = aws.upload("same.jpg", photo)
    handler.lambda_handler(sqs_event(("same.jpg", first)), context)
    flipped = io.BytesIO()
    Image.open(io.BytesIO(photo)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(flipped, "JPEG")
    second = aws.upload("same.jpg", flipped.getvalue())
    assert second != first
    handler.lambda_handler(sqs_event(("same.jpg", second)), context)
    assert len(aws.outputs()["same.png"]) == 2
    assert [e["input"]["etag"] for e in aws.events()] == [first, second]


def test_same_bytes_uploaded_again_with_new_options_is_a_new_upload(
    aws: Stack, photo: bytes, context: FakeContext
) -> None:
    first = aws.upload("again.jpg", photo, {"background-type": "map"})
    handler.lambda_handler(sqs_event(("again.jpg", first), sequencer="0055AED6DCD90281E5"), context)
    second = aws.upload("again.jpg", photo, {"background-type": "white"})
    assert second == first  # identical bytes: S3 gives the same ETag
    handler.lambda_handler(sqs_event(("again.jpg", second), sequencer="0055AED6DCD90281F9"), context)
    events = aws.events()
    assert [e["output"]["content_type"] for e in events] == ["image/png", "image/jpeg"]
    assert events[0]["event_id"] != events[1]["event_id"]
    assert set(aws.outputs()) == {"again.png", "again.jpg"}


def test_overwritten_before_read_fails_as_superseded(aws: Stack, photo: bytes, context: FakeContext) -> None:
    notified = aws.upload("race.jpg", photo)
    aws.upload("race.jpg", b"newer bytes arrived")  # unversioned bucket: the notified ETag is gone
    assert handler.lambda_handler(sqs_event(("race.jpg", notified)), context) == {"batchItemFailures": []}
    [event] = aws.events()
    assert_valid(event)
    assert event["error"]["code"] == "SUPERSEDED"  # a newer upload replaced it; it has its own event
    assert "overwritten" in event["error"]["message"]
    assert aws.outputs() == {}


def test_oversized_object_fails_before_reading(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_INPUT_BYTES", "4096")
    etag = aws.upload("huge.jpg", photo)
    assert handler.lambda_handler(sqs_event(("huge.jpg", etag)), context) == {"batchItemFailures": []}
    [event] = aws.events()
    assert event["error"]["code"] == "IMAGE_TOO_LARGE"


def test_model_not_deployed_is_an_option_error(aws: Stack, photo: bytes, context: FakeContext) -> None:
    handler.get_engine().registry.register(
        ModelSpec(name="not-deployed", source="not-deployed.onnx", input_size=(320, 320))
    )
    etag = aws.upload("m.jpg", photo, {"model": "not-deployed"})
    assert handler.lambda_handler(sqs_event(("m.jpg", etag)), context) == {"batchItemFailures": []}
    [event] = aws.events()
    assert (event["error"]["code"], event["error"]["option"]) == ("INVALID_OPTION", "model")


def test_folder_markers_are_skipped(aws: Stack, context: FakeContext) -> None:
    etag = aws.upload("photos/", b"")
    assert handler.lambda_handler(sqs_event(("photos/", etag), size=0), context) == {"batchItemFailures": []}
    assert aws.events() == []
    assert aws.outputs() == {}


def test_records_that_cannot_finish_in_time_are_given_back(aws: Stack, photo: bytes) -> None:
    etag = aws.upload("late.jpg", photo)
    almost_out_of_time = ScriptedContext(120_000, 3_000)  # a 120 s batch with 3 s left at this record

    response = handler.lambda_handler(sqs_event(("late.jpg", etag), ids=["m-late"]), almost_out_of_time)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-late"}]}
    assert aws.outputs() == {}
    assert aws.events() == []


# --- transient faults: injected with botocore's event hooks on real (moto) clients --------------------------


def build_processor(aws: Stack, monkeypatch: pytest.MonkeyPatch) -> tuple[ImageProcessor, Any, Any]:
    """A processor whose S3 and SNS clients the test can break."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    s3 = boto3.client("s3", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    settings = ProcessorSettings.from_env()
    processor = ImageProcessor(
        handler.get_engine(),
        s3,
        completion.SnsPublisher(sns, aws.topic_arn),
        settings,
        persistence_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table),
    )
    monkeypatch.setattr(handler, "get_processor", lambda: processor)
    return processor, s3, sns


def fail_first(client: Any, operation: str, error: Exception, times: int = 1) -> list[int]:
    calls = [0]

    def hook(**_: Any) -> None:
        calls[0] += 1
        if calls[0] <= times:
            raise error

    client.meta.events.register(f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}", hook)
    return calls


def throttled(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, operation
    )


def test_partial_batch_failure_retries_only_the_failed_item(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, s3, _ = build_processor(aws, monkeypatch)
    good = aws.upload("good.jpg", photo)
    flaky = aws.upload("flaky.jpg", photo)
    calls = [0]

    def break_flaky(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == "flaky.jpg":
            calls[0] += 1
            raise throttled("GetObject")

    s3.meta.events.register("before-parameter-build.s3.GetObject", break_flaky)
    event = sqs_event(("good.jpg", good), ("flaky.jpg", flaky), ids=["m-good", "m-flaky"])

    response = handler.lambda_handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-flaky"}]}
    assert list(aws.outputs()) == ["good.png"]
    assert [e["input"]["key"] for e in aws.events()] == ["good.jpg"]

    s3.meta.events.unregister("before-parameter-build.s3.GetObject", break_flaky)
    retry = handler.lambda_handler(
        event, context
    )  # SQS redelivers the whole batch's failed item (and, here, all)
    assert retry == {"batchItemFailures": []}
    assert {k: len(v) for k, v in aws.outputs().items()} == {"good.png": 1, "flaky.png": 1}
    assert sorted(e["input"]["key"] for e in aws.events()) == [
        "flaky.jpg"
    ]  # good.jpg was not announced twice


def test_sns_failure_after_upload_retries_without_duplicates(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, s3, sns = build_processor(aws, monkeypatch)
    etag = aws.upload("partial.jpg", photo, {"background-color": "#ffffff", "job-id": "j-7"})
    calls = fail_first(
        sns, "Publish", EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com")
    )
    puts = [0]
    s3.meta.events.register("before-call.s3.PutObject", lambda **_: puts.__setitem__(0, puts[0] + 1))
    event = sqs_event(("partial.jpg", etag), ids=["m-1"])

    first = handler.lambda_handler(event, context)
    assert first == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert aws.events() == []  # nothing announced yet
    assert len(aws.outputs()["partial.jpg"]) == 1  # but the output exists

    second = handler.lambda_handler(event, context)
    assert second == {"batchItemFailures": []}
    assert calls[0] == 2
    assert puts[0] == 1  # the retry found the output and did not write (or compute) it again
    assert len(aws.outputs()["partial.jpg"]) == 1
    [announced] = aws.events()
    assert announced["status"] == "COMPLETED"
    assert announced["report"]["replayed"] is True
    assert announced["report"]["format"] == "jpeg"
    assert announced["job_id"] == "j-7"
    assert announced["_attributes"]["format"] == "jpeg"
    assert_valid(announced)

    third = handler.lambda_handler(event, context)  # a late duplicate after success: silent
    assert third == {"batchItemFailures": []}
    assert aws.events() == []


def test_transient_s3_read_failure_is_retried_then_succeeds(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, s3, _ = build_processor(aws, monkeypatch)
    etag = aws.upload("slow.jpg", photo)
    fail_first(s3, "GetObject", throttled("GetObject"))
    event = sqs_event(("slow.jpg", etag), ids=["m-slow"])
    assert handler.lambda_handler(event, context) == {"batchItemFailures": [{"itemIdentifier": "m-slow"}]}
    assert aws.events() == []
    assert handler.lambda_handler(event, context) == {"batchItemFailures": []}
    assert len(aws.outputs()["slow.png"]) == 1
    assert [e["status"] for e in aws.events()] == ["COMPLETED"]


def test_direct_s3_invoke_raises_on_transient_failure(
    aws: Stack, photo: bytes, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, s3, _ = build_processor(aws, monkeypatch)
    etag = aws.upload("async.jpg", photo)
    fail_first(s3, "GetObject", throttled("GetObject"))
    event = current(load_event("s3-put", bucket=INPUT_BUCKET, key="async.jpg", etag=etag))
    with pytest.raises(ClientError):
        handler.lambda_handler(event, context)  # Lambda's async retry delivers it again
    assert handler.lambda_handler(event, context) == {"processed": 1}
    assert [e["status"] for e in aws.events()] == ["COMPLETED"]


@pytest.mark.parametrize(
    ("key", "extension", "prefix", "expected"),
    [
        ("cat.jpg", "png", "", "cat.png"),
        ("a/b/cat.photo.jpeg", "webp", "out/", "out/a/b/cat.photo.webp"),
        ("noext", "png", "", "noext.png"),
        ("dir.v2/noext", "png", "", "dir.v2/noext.png"),
        (".hidden", "png", "", ".hidden.png"),
    ],
)
def test_output_key(key: str, extension: str, prefix: str, expected: str) -> None:
    assert output_key_for(key, extension, prefix) == expected
