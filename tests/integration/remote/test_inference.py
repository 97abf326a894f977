"""The Triton stand-in on CPU with the real u2netp, reached as the function reaches it: boto3's
``sagemaker-runtime`` client through the local stand-in for SageMaker's runtime API. Also the Triton model
repository the build makes: its config.pbtxt and ONNX file."""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import onnxruntime as ort
import pytest
from botocore.config import Config
from PIL import Image

from bgremove import Engine, EngineSettings, Options
from bgremove.exceptions import InferenceUnavailableError, RemoteModelError
from bgremove.models import ModelRegistry, Payload, RemoteRegistry, SessionConfig
from bgremove.models._kserve import HEADER_LENGTH_HEADER, decode_response, encode_request
from bgremove.models._remote import IMAGE_INPUT, MATTE_OUTPUT, RemoteSegmenter
from bgremove_inference.config import ModelConfig
from bgremove_inference.repository import ModelLoadError, load_model
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
    with LocalInference(MODELS_DIR, model=MODEL, max_batch=4, queue_delay_us=200_000, threads=1) as running:
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


def _request(pixels: np.ndarray, binary: bool = True) -> Payload:
    return encode_request({IMAGE_INPUT: pixels[np.newaxis]}, [MATTE_OUTPUT], binary=binary)


# --- the repository the build makes ---------------------------------------------------------------------
@pytest.mark.slow  # over about 5 s (pytest --durations)
def test_the_built_repository_has_a_dynamic_batch_dimension_and_dynamic_batching(
    inference: LocalInference,
) -> None:
    folder = MODELS_DIR / ".triton-cpu" / MODEL  # what layers/model/triton_repo.py --device cpu wrote
    config = ModelConfig.read(folder / "config.pbtxt")
    assert config.name == MODEL and config.backend == "onnxruntime"
    assert config.max_batch_size > 1
    assert config.dynamic_batching and config.max_queue_delay_us > 0
    session = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    (image,) = session.get_inputs()
    (matte,) = session.get_outputs()
    assert (image.name, image.type, image.shape) == ("IMAGE", "tensor(uint8)", ["batch", 320, 320, 3])
    assert (matte.name, matte.type, matte.shape) == ("MATTE", "tensor(float)", ["batch", 320, 320])
    pixels = np.random.default_rng(0).integers(0, 256, (3, 320, 320, 3), dtype=np.uint8)
    (batched,) = session.run(["MATTE"], {"IMAGE": pixels})
    alone = [session.run(["MATTE"], {"IMAGE": pixels[i : i + 1]})[0][0] for i in range(3)]
    assert batched.shape == (3, 320, 320)
    assert max(float(np.abs(batched[i] - alone[i]).max()) for i in range(3)) < 1e-5


def test_a_config_that_contradicts_the_graph_is_refused(tmp_path: Path, inference: LocalInference) -> None:
    built = MODELS_DIR / ".triton-cpu" / MODEL
    folder = tmp_path / MODEL
    folder.mkdir()
    os.symlink(built / "1", folder / "1")
    text = (built / "config.pbtxt").read_text()
    (folder / "config.pbtxt").write_text(text.replace("dims: [ 320, 320, 3 ]", "dims: [ 256, 256, 3 ]"))
    with pytest.raises(ModelLoadError, match="dims"):
        load_model(tmp_path, MODEL)
    (folder / "config.pbtxt").write_text(text.replace('name: "MATTE"', 'name: "d0"'))
    with pytest.raises(ModelLoadError, match="'d0' is not in the graph"):
        load_model(tmp_path, MODEL)


# --- the stand-in through SageMaker's runtime API ----------------------------------------------------------
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


def test_json_tensors_give_the_same_matte_as_binary(inference: LocalInference, local_engine: Engine) -> None:
    invoker = SageMakerInvoker(runtime_client(inference), inference.endpoint_name)
    spec = local_engine.registry.spec(MODEL)
    pixels = RemoteSegmenter(spec, invoker).prepare(Image.open(io.BytesIO(photo_bytes("coffee"))))
    binary = RemoteSegmenter(spec, invoker).infer(pixels)
    as_json = RemoteSegmenter(spec, invoker, binary=False).infer(pixels)
    assert np.array_equal(binary, as_json)


@pytest.mark.slow  # over about 5 s (pytest --durations)
def test_concurrent_requests_form_batches(inference: LocalInference) -> None:
    client = runtime_client(inference)
    invoker = SageMakerInvoker(client, inference.endpoint_name)
    pixels = np.asarray(Image.open(io.BytesIO(photo_bytes("coffee"))).convert("RGB").resize((320, 320)))
    request = _request(pixels)
    before = inference.batch_sizes()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: invoker.invoke(request), range(8)))

    after = inference.batch_sizes()
    formed = {size: after.get(size, 0) - before.get(size, 0) for size in after}
    formed = {size: count for size, count in formed.items() if count}
    assert sum(size * count for size, count in formed.items()) == 8
    assert max(formed) > 1, f"no request shared a batch: {formed}"
    assert max(formed) <= 4  # max_batch_size
    mattes = [decode_response(answer).outputs[MATTE_OUTPUT] for answer in answers]
    assert all(np.array_equal(mattes[0], m) for m in mattes), "one image, one matte, whatever its batch"
    url = f"{inference.container.url}/v2/models/{MODEL}/stats"
    (stats,) = json.loads(urllib.request.urlopen(url, timeout=10).read())["model_stats"]
    assert {e["batch_size"]: e["compute_infer"]["count"] for e in stats["batch_stats"]} == after


def test_the_kserve_route_takes_the_binary_header(inference: LocalInference) -> None:
    request = _request(np.zeros((320, 320, 3), np.uint8))
    http = urllib.request.Request(
        f"{inference.container.url}/v2/models/{MODEL}/infer",
        data=request.body,
        headers={HEADER_LENGTH_HEADER: str(request.json_length), "Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(http, timeout=60) as response:
        length = int(response.headers[HEADER_LENGTH_HEADER])
        answer = decode_response(Payload(response.read(), length))
    assert answer.model_name == MODEL and answer.outputs[MATTE_OUTPUT].shape == (1, 320, 320)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{inference.container.url}/v2/models/isnet", timeout=10)
    assert caught.value.code == 404 and "unknown model" in json.loads(caught.value.read())["error"]


def test_another_models_input_is_a_model_error(inference: LocalInference) -> None:
    """isnet's 1024x1024 pixels sent to the u2netp endpoint: Triton's 400, unexpected shape."""
    invoker = SageMakerInvoker(runtime_client(inference), inference.endpoint_name)
    with pytest.raises(RemoteModelError, match=r"400.*Expected \[-1,320,320,3\], got \[1,1024,1024,3\]"):
        invoker.invoke(_request(np.zeros((1024, 1024, 3), np.uint8)))


def test_a_wrong_type_is_a_model_error(inference: LocalInference) -> None:
    invoker = SageMakerInvoker(runtime_client(inference), inference.endpoint_name)
    request = encode_request({IMAGE_INPUT: np.zeros((1, 320, 320, 3), np.float32)}, [MATTE_OUTPUT])
    with pytest.raises(RemoteModelError, match="data-type is 'FP32', but model 'u2netp' expects 'UINT8'"):
        invoker.invoke(request)


def test_garbage_is_a_model_error(inference: LocalInference) -> None:
    """Triton answers a body that is not JSON with 500 (its other refusals are 400)."""
    invoker = SageMakerInvoker(runtime_client(inference), inference.endpoint_name)
    with pytest.raises(RemoteModelError, match=r"500.*failed to parse the request JSON"):
        invoker.invoke(Payload(b"not KServe v2"))


def test_an_unknown_endpoint_is_unavailable(inference: LocalInference) -> None:
    invoker = SageMakerInvoker(runtime_client(inference), "no-such-endpoint")
    with pytest.raises(InferenceUnavailableError, match="ValidationError"):
        invoker.invoke(_request(np.zeros((320, 320, 3), np.uint8)))


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
            invoker.invoke(_request(np.zeros((320, 320, 3), np.uint8)))
    finally:
        inference.fault = None
