"""End to end over real HTTP: moto server built from template.yaml, the real handler behind an SQS poller."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bgremove_local.__main__ import SAMPLES, run_samples
from bgremove_local.poller import Handler
from bgremove_local.runner import Pipeline, running_pipeline
from bgremove_local.template import ACCOUNT_ID, Template

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "images"
TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


POISON = "bgremove-test-poison"


def _fails_on_poison(handler: Handler) -> Handler:
    """The handler, except that an invocation whose batch holds a :data:`POISON` message fails."""

    def invoke(event: dict[str, Any], context: Any) -> Any:
        if any(POISON in record["body"] for record in event["Records"]):
            raise RuntimeError("a fault that outlasts every retry")
        return handler(event, context)

    return invoke


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    with running_pipeline(wrap_handler=_fails_on_poison) as running:
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


def _output(pipeline: Pipeline, event: dict[str, Any]) -> tuple[dict[str, str], Image.Image]:
    """The output object an event names: its user metadata and its image."""
    response = pipeline.s3.get_object(Bucket=pipeline.stack.output_bucket, Key=event["output"]["key"])
    return response["Metadata"], Image.open(io.BytesIO(response["Body"].read()))


def test_reupload_of_identical_bytes_is_processed_again(pipeline: Pipeline) -> None:
    # S3 gives each upload its own event sequencer: the same bytes uploaded again (new options) are a new
    # upload, not a redelivered notification of the first.
    photo = (FIXTURES / "chelsea.jpg").read_bytes()
    key = "e2e/again.jpg"
    pipeline.upload(key, photo, {"background-type": "map", "job-id": "again-1"})
    (first,) = pipeline.wait_for_events(key, 1, timeout_s=120)
    pipeline.upload(key, photo, {"job-id": "again-2"})

    events = pipeline.wait_for_events(key, 2, timeout_s=120)

    assert len(events) == 2, "the re-upload of identical bytes got no event of its own"
    assert events[0] is first
    second = events[1]
    assert (first["status"], first["job_id"]) == ("COMPLETED", "again-1")
    assert first["report"]["options"] == {"background_type": "map"}
    assert (second["status"], second["job_id"]) == ("COMPLETED", "again-2")
    assert second["report"]["options"] == {}
    assert first["input"]["etag"] == second["input"]["etag"]
    assert first["output"]["key"] == second["output"]["key"]
    written, image = _output(pipeline, second)
    assert written["job-id"] == "again-2"
    assert image.mode == "RGBA"  # the second upload's options (a cut-out), not the first's matte


@pytest.mark.slow  # over about 5 s (pytest --durations)
def test_each_of_two_pending_identical_uploads_is_described_by_its_own_metadata(pipeline: Pipeline) -> None:
    # Both uploads are in the queue before either is processed, so the first one is read after the second
    # replaced it. On an unversioned bucket the first upload's metadata is gone: it may end SUPERSEDED, but
    # its event must never carry the second upload's job id or options. The uploads are 3 s apart: S3's
    # Last-Modified has a resolution of one second, and identical bytes uploaded within about a second
    # cannot be told apart on an unversioned bucket (docs/s3-pipeline.md).
    photo = (FIXTURES / "chelsea.jpg").read_bytes()
    key = "e2e/pending-twice.jpg"
    with pipeline.mapping.paused():
        pipeline.upload(key, photo, {"background-type": "map", "job-id": "pending-1"})
        time.sleep(3)
        pipeline.upload(key, photo, {"job-id": "pending-2"})

    events = pipeline.wait_for_events(key, 2, timeout_s=120)

    job_ids = [e["job_id"] for e in events]
    assert len(events) == 2, job_ids
    assert job_ids.count("pending-2") == 1, f"both events describe the second upload: {job_ids}"
    second = next(e for e in events if e["job_id"] == "pending-2")
    first = next(e for e in events if e is not second)
    assert second["status"] == "COMPLETED", second
    assert second["report"]["options"] == {}
    assert first["job_id"] in {"pending-1", None}, first
    if first["status"] == "COMPLETED":
        assert first["report"].get("options", {}) == {"background_type": "map"}
    else:
        assert first["error"]["code"] in {"SUPERSEDED", "SOURCE_NOT_FOUND"}, first["error"]
    written, image = _output(pipeline, second)
    assert written["job-id"] == "pending-2"
    assert image.mode == "RGBA"


@pytest.mark.slow  # over about 5 s (pytest --durations)
def test_poison_message_lands_in_the_dead_letter_queue(pipeline: Pipeline) -> None:
    # The function fails on it every time (a transient fault that never clears): the queue's redrive
    # policy from the template moves it to the dead-letter queue after maxReceiveCount receives.
    pipeline.sqs.send_message(QueueUrl=pipeline.stack.queue_url, MessageBody=POISON)
    deadline = time.monotonic() + 60
    dead: list[dict[str, object]] = []
    while not dead and time.monotonic() < deadline:
        dead = [m for m in pipeline.dead_letters() if m["Body"] == POISON]
    assert dead, "the poison message never reached the dead-letter queue"
    receives = int(dead[0]["Attributes"]["ApproximateReceiveCount"])  # type: ignore[index]
    assert receives >= pipeline.stack.max_receive_count


@pytest.mark.slow  # over about 5 s (pytest --durations)
def test_make_run_scenario_passes(
    pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_samples(pipeline, tmp_path, timeout_s=240) == 0
    printed = capsys.readouterr().out
    assert f"{len(SAMPLES)}/{len(SAMPLES)} terminal events" in printed
    assert (tmp_path / "samples" / "coffee-white.jpg").exists()
    assert (tmp_path / "samples" / "chelsea-mask.png").exists()
