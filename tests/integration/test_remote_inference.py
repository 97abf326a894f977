"""The inference server on CPU with the real u2netp, reached as the function reaches it: boto3's
``sagemaker-runtime`` client through the local stand-in for SageMaker's runtime API."""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.config import Config
from PIL import Image

from bgremove import Engine, EngineSettings, Options
from bgremove.exceptions import InferenceUnavailableError, RemoteModelError
from bgremove.models import ModelRegistry, RemoteRegistry, SessionConfig
from bgremove.models._remote import encode_request
from bgremove_local.inference import Fault, FaultKind, LocalInference
from processor.inference import SageMakerInvoker
from tests.helpers import FAST_MODEL_FILE, MODELS_DIR, PHOTOS, photo_bytes

pytestmark = pytest.mark.integration

MODEL = "u2netp"
SNAP_PAIRS = ({0, 5}, {250, 255})
"""The engine snaps alpha <= 4 to 0 and >= 251 to 255: one step across either edge reads as five."""


def assert_alpha_within_one_step(local: np.ndarray, remote: np.ndarray) -> None:
    """Equal within 1/255, except a pixel one step across the noise snap (see :data:`SNAP_PAIRS`)."""
    assert local.shape == remote.shape
    diff = np.abs(local.astype(int) - remote.astype(int))
    beyond = diff > 1
    pairs = {frozenset((int(a), int(b))) for a, b in zip(local[beyond], remote[beyond], strict=True)}
    assert pairs <= {frozenset(p) for p in SNAP_PAIRS}, (
        f"differences beyond 1/255: {sorted(map(sorted, pairs))}"
    )
    assert beyond.mean() < 1e-3, f"{int(beyond.sum())} pixels across the snap"


def alpha_of(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


@pytest.fixture(scope="module")
def inference() -> Iterator[LocalInference]:
    if not FAST_MODEL_FILE.is_file():
        pytest.fail(f"{FAST_MODEL_FILE} is missing: run `make model MODEL=u2netp`", pytrace=False)
    with LocalInference(MODELS_DIR, models=(MODEL,), max_batch=4, max_wait_ms=200, threads=1) as running:
        yield running


def runtime_client(inference: LocalInference, read_timeout: float = 60) -> Any:
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=inference.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(
            read_timeout=read_timeout, connect_timeout=2, retries={"mode": "standard", "max_attempts": 1}
        ),
    )


@pytest.fixture(scope="module")
def local_engine() -> Engine:
    return Engine(EngineSettings(model_dirs=(MODELS_DIR,), default_model=MODEL, threads=1))


@pytest.fixture(scope="module")
def remote_engine(inference: LocalInference) -> Engine:
    settings = EngineSettings(model_dirs=(MODELS_DIR,), default_model=MODEL, threads=1)
    invoker = SageMakerInvoker(runtime_client(inference), inference.endpoint_name)
    local = ModelRegistry(settings.model_dirs, SessionConfig())
    return Engine(settings, registry=RemoteRegistry(local, {MODEL: invoker}))


def test_the_server_answers_ping(inference: LocalInference) -> None:
    with urllib.request.urlopen(f"{inference.container.url}/ping", timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("photo", PHOTOS)
def test_results_equal_local_inference_within_one_step(
    photo: str, local_engine: Engine, remote_engine: Engine
) -> None:
    options = Options.parse({"background_type": "map"})
    local = local_engine.process(photo_bytes(photo), options)
    remote = remote_engine.process(photo_bytes(photo), options)

    assert local.report.backend == "local"
    assert remote.report.backend == "sagemaker:bgremove-local-inference"
    assert remote.report.result_foreground == local.report.result_foreground
    assert_alpha_within_one_step(alpha_of(local.data), alpha_of(remote.data))


def test_concurrent_requests_form_batches(inference: LocalInference) -> None:
    client = runtime_client(inference)
    invoker = SageMakerInvoker(client, inference.endpoint_name)
    pixels = np.asarray(Image.open(io.BytesIO(photo_bytes("coffee"))).convert("RGB").resize((320, 320)))
    payload = encode_request(MODEL, pixels)
    before = inference.batch_sizes(MODEL)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: invoker.invoke(payload), range(8)))

    after = inference.batch_sizes(MODEL)
    formed = {size: after.get(size, 0) - before.get(size, 0) for size in after}
    formed = {size: count for size, count in formed.items() if count}
    assert sum(size * count for size, count in formed.items()) == 8
    assert max(formed) > 1, f"no request shared a batch: {formed}"
    assert max(formed) <= 4  # MAX_BATCH
    assert len(set(answers)) == 1, "the same image must get the same matte whatever batch it rode in"
    stats = json.loads(urllib.request.urlopen(f"{inference.container.url}/stats", timeout=10).read())
    assert stats["models"][MODEL]["batches"] == {str(k): v for k, v in sorted(after.items())}


def test_a_model_the_server_lacks_is_a_model_error(inference: LocalInference) -> None:
    invoker = SageMakerInvoker(runtime_client(inference), inference.endpoint_name)
    pixels = np.zeros((1024, 1024, 3), np.uint8)
    with pytest.raises(RemoteModelError, match=r"404.*isnet"):
        invoker.invoke(encode_request("isnet", pixels))


def test_a_wrong_input_size_is_a_model_error(inference: LocalInference) -> None:
    invoker = SageMakerInvoker(runtime_client(inference), inference.endpoint_name)
    with pytest.raises(RemoteModelError, match="WRONG_INPUT_SIZE"):
        invoker.invoke(encode_request(MODEL, np.zeros((100, 100, 3), np.uint8)))


def test_garbage_is_a_model_error(inference: LocalInference) -> None:
    invoker = SageMakerInvoker(runtime_client(inference), inference.endpoint_name)
    with pytest.raises(RemoteModelError, match="BAD_REQUEST"):
        invoker.invoke(b"not the wire format")


def test_an_unknown_endpoint_is_unavailable(inference: LocalInference) -> None:
    invoker = SageMakerInvoker(runtime_client(inference), "no-such-endpoint")
    with pytest.raises(InferenceUnavailableError, match="ValidationError"):
        invoker.invoke(encode_request(MODEL, np.zeros((320, 320, 3), np.uint8)))


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (Fault(FaultKind.THROTTLE), "ThrottlingException"),
        (Fault(FaultKind.UNAVAILABLE), "ServiceUnavailable"),
        (Fault(FaultKind.DELAY, delay_s=2.5), "ReadTimeout"),
        (Fault(FaultKind.DOWN), "Connection"),
    ],
    ids=["throttled", "503", "timeout", "down"],
)
def test_throttling_errors_timeouts_and_outages_are_unavailable(
    inference: LocalInference, fault: Fault, said: str
) -> None:
    invoker = SageMakerInvoker(runtime_client(inference, read_timeout=1), inference.endpoint_name)
    inference.fault = fault
    try:
        with pytest.raises(InferenceUnavailableError, match=said):
            invoker.invoke(encode_request(MODEL, np.zeros((320, 320, 3), np.uint8)))
    finally:
        inference.fault = None
