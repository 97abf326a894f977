"""``MAX_INPUT_BYTES``: objects over it fail with IMAGE_TOO_LARGE, and the message states sizes in MiB."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools import Logger

from bgremove.events import CompletionEvent, ErrorDetails
from processor.service import ImageProcessor
from processor.settings import DEFAULT_MAX_INPUT_BYTES, SERVICE_NAME, ProcessorSettings
from processor.sources import ObjectRef
from tests.fakes import fake_engine

MIB = 1024 * 1024

# The handler's logger: the service logs through a child of it.
Logger(service=SERVICE_NAME)


class UnreadBody:
    """A GetObject body that must not be read: the size alone decides."""

    closed = False

    def read(self) -> bytes:
        raise AssertionError("an oversized body was read")

    def close(self) -> None:
        self.closed = True


class SizedS3:
    """An S3 client whose every object is ``length`` bytes long."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.body = UnreadBody()

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"ContentLength": self.length, "Body": self.body, "Metadata": {}}


class Collect:
    def __init__(self) -> None:
        self.events: list[CompletionEvent] = []

    def publish(self, event: CompletionEvent) -> None:
        self.events.append(event)


@pytest.mark.parametrize(
    ("limit", "length", "message"),
    [
        (DEFAULT_MAX_INPUT_BYTES, 150 * MIB, "the object is 150 MiB; the limit is 100 MiB"),
        (DEFAULT_MAX_INPUT_BYTES, 100 * MIB + MIB // 2, "the object is 100.5 MiB; the limit is 100 MiB"),
        (3 * MIB // 2, 5 * MIB // 2, "the object is 2.5 MiB; the limit is 1.5 MiB"),
        (4096, 30_000, "the object is 0.029 MiB; the limit is 0.0039 MiB"),
    ],
)
def test_oversized_object_is_rejected_with_the_configured_limit_in_mib(
    limit: int, length: int, message: str
) -> None:
    s3, events = SizedS3(length), Collect()
    settings = ProcessorSettings(
        output_bucket="out", topic_arn="arn:topic", input_buckets=("in",), max_input_bytes=limit
    )
    processor = ImageProcessor(fake_engine(), s3, events, settings)

    event = processor.process(ObjectRef("in", "big.tif", etag="0123"))

    assert isinstance(event, CompletionEvent)
    assert event.error == ErrorDetails("IMAGE_TOO_LARGE", message)
    assert events.events == [event]
    assert s3.body.closed


def test_object_at_the_limit_is_read() -> None:
    s3 = SizedS3(DEFAULT_MAX_INPUT_BYTES)
    settings = ProcessorSettings(output_bucket="out", topic_arn="arn:topic", input_buckets=("in",))
    processor = ImageProcessor(fake_engine(), s3, Collect(), settings)
    with pytest.raises(AssertionError, match="an oversized body was read"):
        processor.process(ObjectRef("in", "big.tif", etag="0123"))
