"""``background-image`` through the S3 path: the function reads the named key from the upload's bucket.

The engine is the fake one with a known subject (x 20..40, y 10..50 of a 100 x 80 input), so every
background pixel of the output must be the background object's own.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import numpy as np
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from PIL import Image

from processor import completion, handler
from processor.service import ImageProcessor
from processor.settings import ProcessorSettings
from tests.fakes import fake_engine
from tests.functional.conftest import OUTPUT_BUCKET, REGION, FakeContext, Stack, s3_message, sqs_batch
from tests.helpers import encode, rect_matte, textured

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "events" / "schema" / "completion-event.schema.json").read_text()
)
SUBJECT = rect_matte(0.2, 0.125, 0.4, 0.625)


def install(aws: Stack, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The handler's processor on the fake engine with :data:`SUBJECT`; returns its S3 client."""
    settings = ProcessorSettings.from_env()
    s3 = boto3.client("s3", region_name=REGION)
    processor = ImageProcessor(
        fake_engine(SUBJECT),
        s3,
        completion.SnsPublisher(boto3.client("sns", region_name=REGION), aws.topic_arn),
        settings,
        persistence_store=DynamoDBPersistenceLayer(table_name=settings.idempotency_table),
    )
    monkeypatch.setattr(handler, "get_processor", lambda: processor)
    return s3


def valid(event: dict[str, Any]) -> dict[str, Any]:
    jsonschema.validate({k: v for k, v in event.items() if not k.startswith("_")}, SCHEMA)
    return event


def test_background_image_from_the_input_bucket(
    aws: Stack, monkeypatch: pytest.MonkeyPatch, context: FakeContext
) -> None:
    install(aws, monkeypatch)
    wall = textured(100, 80, seed=5)
    aws.upload("backgrounds/wall.png", encode(wall, "PNG"))  # no notification sent for it here
    photo = encode(textured(100, 80, seed=1), "PNG")
    etag = aws.upload("shop/item.png", photo, {"background-image": "backgrounds/wall.png", "format": "png"})

    response = handler.lambda_handler(sqs_batch(s3_message("shop/item.png", etag)), context)

    assert response == {"batchItemFailures": []}
    [event] = aws.events()
    valid(event)
    assert event["status"] == "COMPLETED"
    assert event["report"]["options"]["background_image"] == "backgrounds/wall.png"
    assert event["timings_ms"]["download_background"] >= 0
    output = aws.s3.get_object(Bucket=OUTPUT_BUCKET, Key="shop/item.png")
    picture = np.asarray(Image.open(io.BytesIO(output["Body"].read())))
    assert picture.shape == (80, 100, 3)  # opaque
    outside = np.ones((80, 100), dtype=bool)
    outside[10:50, 20:40] = False
    assert np.array_equal(picture[outside], np.asarray(wall)[outside])
    assert np.array_equal(picture[10:50, 20:40], np.asarray(Image.open(io.BytesIO(photo)))[10:50, 20:40])


def test_missing_background_fails_once_without_retry(
    aws: Stack, monkeypatch: pytest.MonkeyPatch, context: FakeContext
) -> None:
    install(aws, monkeypatch)
    etag = aws.upload(
        "shop/item.png", encode(textured(100, 80), "PNG"), {"background-image": "backgrounds/gone.png"}
    )
    message = sqs_batch(s3_message("shop/item.png", etag))

    first = handler.lambda_handler(message, context)
    again = handler.lambda_handler(message, context)  # a redelivery: the idempotency record answers

    assert first == again == {"batchItemFailures": []}  # acknowledged: no retry loop
    [event] = aws.events()
    valid(event)
    assert event["status"] == "FAILED"
    assert event["error"]["code"] == "BACKGROUND_NOT_FOUND"
    assert "backgrounds/gone.png" in event["error"]["message"]
    assert event["_attributes"]["error_code"] == "BACKGROUND_NOT_FOUND"  # what a filter policy sees
    assert aws.outputs() == {}


def test_background_that_is_no_image_is_an_option_error(
    aws: Stack, monkeypatch: pytest.MonkeyPatch, context: FakeContext
) -> None:
    install(aws, monkeypatch)
    aws.upload("backgrounds/notes.txt", b"not an image")
    etag = aws.upload(
        "item.png", encode(textured(100, 80), "PNG"), {"background-image": "backgrounds/notes.txt"}
    )

    assert handler.lambda_handler(sqs_batch(s3_message("item.png", etag)), context) == {
        "batchItemFailures": []
    }

    [event] = aws.events()
    assert event["status"] == "FAILED"
    assert (event["error"]["code"], event["error"]["option"]) == ("INVALID_OPTION", "background_image")
    assert "NOT_AN_IMAGE" in event["error"]["message"]


def test_zip_output_through_the_s3_path(
    aws: Stack, monkeypatch: pytest.MonkeyPatch, context: FakeContext
) -> None:
    install(aws, monkeypatch)
    etag = aws.upload(
        "shop/item.png", encode(textured(100, 80), "PNG"), {"format": "zip", "roi": "0 0 30 80"}
    )

    assert handler.lambda_handler(sqs_batch(s3_message("shop/item.png", etag)), context) == {
        "batchItemFailures": []
    }

    [event] = aws.events()
    valid(event)
    assert (event["output"]["key"], event["output"]["content_type"]) == ("shop/item.zip", "application/zip")
    output = aws.s3.get_object(Bucket=OUTPUT_BUCKET, Key="shop/item.zip")
    assert output["ContentType"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(output["Body"].read())) as archive:
        alpha = np.asarray(Image.open(io.BytesIO(archive.read("alpha.png"))))
        color = Image.open(io.BytesIO(archive.read("color.jpg")))
    assert color.size == (100, 80) and color.format == "JPEG"
    assert alpha[10:50, 20:30].min() == 255 and alpha[:, 30:].max() == 0  # the roi cut the subject at x 30
