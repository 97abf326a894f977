"""End to end over real HTTP: moto server built from template.yaml, the real handler behind an SQS poller."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image

from bgremove_local.__main__ import SAMPLES, run_samples
from bgremove_local.runner import Pipeline, running_pipeline
from bgremove_local.template import ACCOUNT_ID, Template

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    with running_pipeline() as running:
        yield running  # type: ignore[misc]


def test_stack_mirrors_the_template(pipeline: Pipeline) -> None:
    template = Template(TEMPLATE, pipeline.stack.endpoint)
    assert pipeline.stack.endpoint.startswith("http://127.0.0.1:")
    assert (
        pipeline.stack.function.handler
        == template.resources[pipeline.stack.function.logical_id]["Properties"]["Handler"]
    )
    assert pipeline.stack.max_receive_count >= 1
    assert f"/{ACCOUNT_ID}/" in pipeline.stack.queue_url
    assert f":{ACCOUNT_ID}:" in pipeline.stack.topic_arn
    assert pipeline.stack.function.report_batch_item_failures
    buckets = pipeline.s3.list_buckets()["Buckets"]
    assert {pipeline.stack.input_bucket, pipeline.stack.output_bucket} <= {b["Name"] for b in buckets}


def test_uploads_with_different_metadata_each_get_their_event(pipeline: Pipeline) -> None:
    photo = (FIXTURES / "coffee.jpg").read_bytes()
    uploads = {
        "e2e/plain.jpg": ({}, "image/png", "RGBA"),
        "e2e/white.jpg": ({"background-color": "#ffffff"}, "image/jpeg", "RGB"),
        "e2e/mask.jpg": ({"background-type": "map"}, "image/png", "L"),
        "e2e/sized.jpg": ({"target-size": "300 200", "format": "webp"}, "image/webp", None),
    }
    for key, (metadata, _, _) in uploads.items():
        pipeline.upload(key, photo, {**metadata, "job-id": key})
    pipeline.upload("e2e/broken.jpg", b"GIF89a but not really")

    events = pipeline.wait_for({*uploads, "e2e/broken.jpg"}, timeout_s=180)

    assert set(events) == {*uploads, "e2e/broken.jpg"}
    for key, (_, content_type, mode) in uploads.items():
        event = events[key]
        assert event["status"] == "COMPLETED", event
        assert event["job_id"] == key
        assert event["output"]["content_type"] == content_type
        body = pipeline.s3.get_object(Bucket=pipeline.stack.output_bucket, Key=event["output"]["key"])[
            "Body"
        ].read()
        image = Image.open(io.BytesIO(body))
        assert image.size == (event["output"]["width"], event["output"]["height"])
        if mode:
            assert image.mode == mode
    assert (
        events["e2e/sized.jpg"]["output"]["width"] == 300
        or events["e2e/sized.jpg"]["output"]["height"] == 200
    )
    assert events["e2e/broken.jpg"]["status"] == "FAILED"
    assert events["e2e/broken.jpg"]["error"]["code"] in {"NOT_AN_IMAGE", "CORRUPT_IMAGE"}
    assert events["e2e/broken.jpg"]["_attributes"]["status"] == "FAILED"


def test_poison_message_lands_in_the_dead_letter_queue(pipeline: Pipeline) -> None:
    # Not an S3 notification: the function fails on it every time (a transient-looking failure).
    pipeline.sqs.send_message(QueueUrl=pipeline.stack.queue_url, MessageBody="{not json")
    deadline = time.monotonic() + 60
    dead: list[dict[str, object]] = []
    while not dead and time.monotonic() < deadline:
        dead = [m for m in pipeline.dead_letters() if m["Body"] == "{not json"]
    assert dead, "the poison message never reached the dead-letter queue"
    receives = int(dead[0]["Attributes"]["ApproximateReceiveCount"])  # type: ignore[index]
    assert receives >= pipeline.stack.max_receive_count


def test_make_run_scenario_passes(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_samples(pipeline, tmp_path, timeout_s=240) == 0
    printed = capsys.readouterr().out
    assert f"{len(SAMPLES)}/{len(SAMPLES)} terminal events" in printed
    assert (tmp_path / "samples" / "coffee-white.jpg").exists()
    assert (tmp_path / "samples" / "chelsea-mask.png").exists()
