"""End to end on the local runner with inference offloaded to an endpoint that is down and the local fallback
on (``InferenceFallback=on``): uploads complete in the function, and their reports say so."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator

import jsonschema
import numpy as np
import pytest
from PIL import Image

from bgremove import Engine, EngineSettings, Options
from bgremove_local.runner import Pipeline, running_pipeline
from tests.helpers import FAST_MODEL_FILE, MODELS_DIR, REPO_ROOT, photo_bytes

pytestmark = pytest.mark.integration

SCHEMA = json.loads((REPO_ROOT / "events" / "schema" / "completion-event.schema.json").read_text())

MODEL = "u2netp"
ENDPOINT = "bgremove-gone"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    if not FAST_MODEL_FILE.is_file():
        pytest.fail(f"{FAST_MODEL_FILE} is missing: run `make model MODEL=u2netp`", pytrace=False)
    with running_pipeline(
        overrides={
            "GpuEndpoint": "existing",
            "GpuEndpointName": ENDPOINT,
            "InferenceFallback": "on",
            "DefaultModel": MODEL,
        },
        environment={"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": f"http://127.0.0.1:{_closed_port()}"},
        quiet=True,
    ) as running:
        yield running


@pytest.mark.slow  # over about 5 s (pytest --durations)
def test_an_endpoint_that_is_down_falls_back_to_the_function(pipeline: Pipeline) -> None:
    assert pipeline.stack.function.environment["INFERENCE_FALLBACK"] == "on"
    pipeline.upload("fallback/coffee.jpg", photo_bytes("coffee"), {"background-type": "map"})

    (event,) = pipeline.wait_for_events("fallback/coffee.jpg", 1, timeout_s=180)

    assert event["status"] == "COMPLETED", event
    report = event["report"]
    assert report["backend"] == "local"
    assert report["fallback"].startswith(f"sagemaker:{ENDPOINT}: ")
    assert "EndpointConnectionError" in report["fallback"]
    jsonschema.validate({k: v for k, v in event.items() if not k.startswith("_")}, SCHEMA)
    body = pipeline.s3.get_object(Bucket=pipeline.stack.output_bucket, Key=event["output"]["key"])["Body"]
    local = Engine(EngineSettings(model_dirs=(MODELS_DIR,), default_model=MODEL, threads=1)).process(
        photo_bytes("coffee"), Options.parse({"background_type": "map"})
    )
    # the same model on the same machine: identical, not merely close
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(local.data))), np.asarray(Image.open(io.BytesIO(body.read())))
    )
