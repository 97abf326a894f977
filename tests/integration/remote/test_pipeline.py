"""End to end on the local runner with inference offloaded: template.yaml with ``GpuEndpoint=existing``, the
real handler, and the Triton stand-in (CPU, u2netp's Triton repository) behind the stand-in for SageMaker's
runtime API."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import numpy as np
import pytest
from PIL import Image

from bgremove import Engine, EngineSettings, Options
from bgremove_local.inference import Fault, FaultKind, LocalInference, pipeline_arguments
from bgremove_local.runner import Pipeline, running_pipeline
from tests.helpers import FAST_MODEL_FILE, MODELS_DIR, REPO_ROOT, photo_bytes
from tests.integration.remote.test_inference import assert_alpha_within_one_step

pytestmark = pytest.mark.integration

SCHEMA = json.loads((REPO_ROOT / "events" / "schema" / "completion-event.schema.json").read_text())

MODEL = "u2netp"
TIMEOUT_S = 4
RECEIVES = 2


@pytest.fixture(scope="module")
def inference() -> Iterator[LocalInference]:
    if not FAST_MODEL_FILE.is_file():
        pytest.fail(f"{FAST_MODEL_FILE} is missing: run `make model MODEL=u2netp`", pytrace=False)
    with LocalInference(MODELS_DIR, model=MODEL, max_batch=4, queue_delay_us=10_000, threads=1) as running:
        yield running


@pytest.fixture(scope="module")
def pipeline(inference: LocalInference) -> Iterator[Pipeline]:
    remote = pipeline_arguments(inference)
    with running_pipeline(
        overrides={**remote["overrides"], "DefaultModel": MODEL, "MaxReceiveCount": str(RECEIVES)},
        environment={
            **remote["environment"],
            # isnet goes to the same endpoint, which serves u2netp: Triton's 400 (unexpected shape)
            "SAGEMAKER_ENDPOINTS": f"isnet={inference.endpoint_name}",
            "SAGEMAKER_TIMEOUT_SECONDS": str(TIMEOUT_S),
        },
        quiet=True,
    ) as running:
        yield running


def _output_alpha(pipeline: Pipeline, event: dict[str, Any]) -> np.ndarray:
    body = pipeline.s3.get_object(Bucket=pipeline.stack.output_bucket, Key=event["output"]["key"])["Body"]
    return np.asarray(Image.open(io.BytesIO(body.read())).convert("L"))


def _wait_for_dead_letter(pipeline: Pipeline, key: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in pipeline.dead_letters():
            if key.rpartition("/")[2] in message["Body"]:  # the S3 notification; its key may be URL-encoded
                return message
    raise AssertionError(f"{key} never reached the dead-letter queue")


def test_the_function_environment_routes_the_default_model(
    pipeline: Pipeline, inference: LocalInference
) -> None:
    environment = pipeline.stack.function.environment
    assert environment["SAGEMAKER_ENDPOINT_NAME"] == inference.endpoint_name  # from GpuEndpoint=existing
    assert environment["INFERENCE_FALLBACK"] == "off"


def test_results_are_those_of_local_inference(pipeline: Pipeline, inference: LocalInference) -> None:
    before = inference.requests
    pipeline.upload("remote/coffee.jpg", photo_bytes("coffee"), {"background-type": "map"})

    (event,) = pipeline.wait_for_events("remote/coffee.jpg", 1, timeout_s=180)

    assert event["status"] == "COMPLETED", event
    report = event["report"]
    assert report["backend"] == f"sagemaker:{inference.endpoint_name}"
    assert "fallback" not in report
    jsonschema.validate({k: v for k, v in event.items() if not k.startswith("_")}, SCHEMA)
    assert report["timings_ms"]["inference"] > 0
    assert inference.requests == before + 1
    local = Engine(EngineSettings(model_dirs=(MODELS_DIR,), default_model=MODEL, threads=1)).process(
        photo_bytes("coffee"), Options.parse({"background_type": "map"})
    )
    assert_alpha_within_one_step(
        np.asarray(Image.open(io.BytesIO(local.data))), _output_alpha(pipeline, event)
    )
    metadata = pipeline.s3.head_object(Bucket=pipeline.stack.output_bucket, Key=event["output"]["key"])
    assert metadata["Metadata"]["inference-backend"] == report["backend"]


def test_concurrent_uploads_all_run_on_the_endpoint(pipeline: Pipeline, inference: LocalInference) -> None:
    # The local poller runs one invocation at a time (Lambda would run several): the uploads reach the server
    # one by one here; batches of concurrent requests are shown in test_remote_inference.py.
    keys = {f"remote/many-{i}.jpg" for i in range(4)}
    for key in keys:
        pipeline.upload(key, photo_bytes("chelsea"))

    events = pipeline.wait_for(keys, timeout_s=240)

    assert set(events) == keys
    assert {e["status"] for e in events.values()} == {"COMPLETED"}
    assert {e["report"]["backend"] for e in events.values()} == {f"sagemaker:{inference.endpoint_name}"}
    assert sum(inference.batch_sizes().values()) >= len(keys)


def test_a_model_error_is_retried_then_dead_lettered(pipeline: Pipeline, inference: LocalInference) -> None:
    before = inference.requests
    pipeline.upload("remote/isnet.jpg", photo_bytes("coffee"), {"model": "isnet"})

    dead = _wait_for_dead_letter(pipeline, "remote/isnet.jpg", timeout_s=90)

    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= RECEIVES
    assert inference.requests - before >= RECEIVES, "each delivery asked the endpoint again"
    assert not [e for e in pipeline.poll_events(wait_s=0) if e["input"]["key"] == "remote/isnet.jpg"]


@pytest.mark.parametrize(
    "fault",
    [Fault(FaultKind.DELAY, delay_s=TIMEOUT_S + 1), Fault(FaultKind.THROTTLE), Fault(FaultKind.DOWN)],
    ids=["timeout", "throttled", "down"],
)
@pytest.mark.slow  # over about 5 s (pytest --durations)
def test_an_unavailable_endpoint_is_retried_then_dead_lettered(
    pipeline: Pipeline, inference: LocalInference, fault: Fault
) -> None:
    key = f"remote/unavailable-{fault.kind.value}.jpg"
    inference.fault = fault
    try:
        pipeline.upload(key, photo_bytes("chelsea"))
        dead = _wait_for_dead_letter(pipeline, key, timeout_s=120)
    finally:
        inference.fault = None
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= RECEIVES
    assert not [e for e in pipeline.poll_events(wait_s=0) if e["input"]["key"] == key]
