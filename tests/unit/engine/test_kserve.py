"""KServe v2 between the function and the endpoint (Triton's binary extension, SageMaker's content type);
the remote segmenter on a fake endpoint."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from bgremove import Options
from bgremove.exceptions import InferenceUnavailableError, RemoteModelError
from bgremove.models import Payload, RemoteRegistry, RemoteSegmenter, TracedSegmenter
from bgremove.models._kserve import (
    ProtocolError,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    from_sagemaker,
    sagemaker_content_type,
)
from bgremove.models._remote import IMAGE_INPUT, MATTE_OUTPUT
from tests.fakes import FAKE_MODEL, FakeRegistry, fake_engine
from tests.helpers import encode, rect_matte, textured

SIZE = (64, 48)  # width, height: not square, so a transposition shows


def _pixels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (1, SIZE[1], SIZE[0], 3), dtype=np.uint8)


def test_a_binary_request_is_json_then_the_raw_tensor() -> None:
    pixels = _pixels()
    payload = encode_request({IMAGE_INPUT: pixels}, [MATTE_OUTPUT], id="r1")

    assert payload.json_length is not None
    header = json.loads(payload.body[: payload.json_length])
    assert header == {
        "id": "r1",
        "inputs": [
            {
                "name": "IMAGE",
                "shape": [1, 48, 64, 3],
                "datatype": "UINT8",
                "parameters": {"binary_data_size": 9216},
            }
        ],
        "outputs": [{"name": "MATTE", "parameters": {"binary_data": True}}],
    }
    assert payload.body[payload.json_length :] == pixels.tobytes()
    request = decode_request(payload)
    assert np.array_equal(request.inputs[IMAGE_INPUT], pixels) and request.outputs == {MATTE_OUTPUT: True}
    assert request.id == "r1"


def test_triton_documentation_examples_decode() -> None:
    """The request and response of Triton's docs (docs/protocol/extension_binary_data.md, "Examples")."""
    header = b"""{
      "model_name" : "mymodel",
      "inputs" : [
        { "name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32",
          "parameters" : { "binary_data_size" : 16 } },
        { "name" : "input1", "shape" : [ 3 ], "datatype" : "BOOL",
          "parameters" : { "binary_data_size" : 3 } }
      ],
      "outputs" : [ { "name" : "output0", "parameters" : { "binary_data" : true } } ]
    }"""
    input0 = np.array([[1, 2], [3, 4]], np.uint32)
    body = header + input0.tobytes() + bytes([1, 0, 1])  # 19 bytes of binary data, as the docs say
    request = decode_request(Payload(body, len(header)))
    assert np.array_equal(request.inputs["input0"], input0)
    assert request.inputs["input1"].tolist() == [True, False, True]
    assert request.outputs == {"output0": True}

    answer = b'{ "outputs" : [ { "name" : "output0", "shape" : [ 3, 2 ], "datatype"  : "FP32", ' + (
        b'"parameters" : { "binary_data_size" : 24 } } ] }'
    )
    output0 = np.arange(6, dtype=np.float32).reshape(3, 2)
    response = decode_response(Payload(answer + output0.tobytes(), len(answer)))
    assert np.array_equal(response.outputs["output0"], output0)


def test_json_requests_and_responses_carry_the_values_as_numbers() -> None:
    pixels = _pixels()[:, :2, :2]
    payload = encode_request({IMAGE_INPUT: pixels}, [MATTE_OUTPUT], binary=False)
    assert payload.json_length is None
    entry = json.loads(payload.body)["inputs"][0]
    assert entry["data"] == pixels.reshape(-1).tolist() and "parameters" not in entry
    assert np.array_equal(decode_request(payload).inputs[IMAGE_INPUT], pixels)

    matte = np.array([[[0.0, 0.25], [0.5, 1.0]]], np.float32)
    response = decode_response(encode_response("u2net", "1", {MATTE_OUTPUT: matte}, {MATTE_OUTPUT: False}))
    assert response.model_name == "u2net" and response.model_version == "1"
    assert response.outputs[MATTE_OUTPUT].dtype == np.float32
    assert np.array_equal(response.outputs[MATTE_OUTPUT], matte)


def test_a_binary_response_round_trips_exactly() -> None:
    matte = np.random.default_rng(1).random((1, SIZE[1], SIZE[0])).astype(np.float32)
    payload = encode_response("u2net", "1", {MATTE_OUTPUT: matte}, {MATTE_OUTPUT: True})
    assert len(payload.body) - (payload.json_length or 0) == matte.nbytes
    assert np.array_equal(decode_response(payload).outputs[MATTE_OUTPUT], matte)


_BINARY_OUTPUT = (
    b'{"outputs":[{"name":"M","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}'
)


@pytest.mark.parametrize(
    "payload",
    [
        Payload(b"not json"),
        Payload(b"[]"),
        Payload(b'{"outputs":[{"name":"M","shape":[2],"datatype":"FP32","data":[1]}]}'),  # too few values
        Payload(b'{"outputs":[{"name":"M","shape":[2],"datatype":"FP99","data":[1,2]}]}'),  # no such type
        Payload(b'{"outputs":[{"name":"M","shape":[-1],"datatype":"FP32","data":[1]}]}'),  # negative dim
        Payload(_BINARY_OUTPUT + b"\0" * 7, len(_BINARY_OUTPUT)),  # a byte short
        Payload(_BINARY_OUTPUT, len(_BINARY_OUTPUT)),  # no binary part at all
        Payload(_BINARY_OUTPUT + b"\0" * 8, len(_BINARY_OUTPUT) + 1),  # a wrong JSON length
        Payload(b'{"error":"unexpected shape for input IMAGE"}'),
    ],
    ids=[
        "garbage",
        "array",
        "short-data",
        "type",
        "negative",
        "short-binary",
        "no-binary",
        "bad-length",
        "error",
    ],
)
def test_malformed_responses_are_refused(payload: Payload) -> None:
    with pytest.raises(ProtocolError):
        decode_response(payload)


def test_trailing_bytes_after_the_tensors_are_refused() -> None:
    payload = encode_request({IMAGE_INPUT: _pixels()}, [MATTE_OUTPUT])
    with pytest.raises(ProtocolError, match="after the binary tensors"):
        decode_request(Payload(payload.body + b"\0", payload.json_length))


def test_sagemaker_carries_the_json_length_in_the_content_type() -> None:
    payload = encode_request({IMAGE_INPUT: _pixels()}, [MATTE_OUTPUT])
    content_type = sagemaker_content_type(payload)
    assert (
        content_type == f"application/vnd.sagemaker-triton.binary+json;json-header-size={payload.json_length}"
    )
    assert from_sagemaker(payload.body, content_type) == payload
    assert sagemaker_content_type(Payload(b"{}")) == "application/json"
    assert from_sagemaker(b"{}", "application/json") == Payload(b"{}")
    for bad in ("x", "-1", "99999999"):
        with pytest.raises(ProtocolError):
            from_sagemaker(b"{}", f"application/vnd.sagemaker-triton.binary+json;json-header-size={bad}")


# --- the remote segmenter on a fake transport --------------------------------------------------------------
class FakeInvoker:
    """An endpoint in memory: answers every request with ``matte`` (or raises ``error``); records requests."""

    backend = "sagemaker:fake-endpoint"

    def __init__(
        self, matte: np.ndarray | None = None, error: Exception | None = None, model_name: str = FAKE_MODEL
    ) -> None:
        self.matte = matte
        self.error = error
        self.model_name = model_name
        self.requests: list[Payload] = []

    def invoke(self, request: Payload) -> Payload:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        decoded = decode_request(request)
        pixels = decoded.inputs[IMAGE_INPUT]
        matte = self.matte if self.matte is not None else np.zeros(pixels.shape[1:3], np.float32)
        return encode_response(self.model_name, "1", {MATTE_OUTPUT: matte[np.newaxis]}, decoded.outputs)


def _remote_engine(invoker: FakeInvoker, *, fallback: bool) -> tuple[RemoteRegistry, FakeRegistry]:
    local = FakeRegistry(rect_matte(0.25, 0.25, 0.75, 0.75))
    return RemoteRegistry(local, {FAKE_MODEL: invoker}, fallback=fallback), local


def test_the_segmenter_sends_the_resized_pixels_and_reads_the_matte() -> None:
    local = FakeRegistry(rect_matte(0, 0, 1, 1))
    spec = local.spec(FAKE_MODEL)  # 64x64 network
    matte = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))
    invoker = FakeInvoker(matte)
    segmenter = RemoteSegmenter(spec, invoker)
    assert isinstance(segmenter, TracedSegmenter)

    image = textured(200, 100)
    pixels = segmenter.prepare(image)
    inference = segmenter.infer_traced(pixels)

    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
    (sent,) = invoker.requests
    assert np.array_equal(decode_request(sent).inputs[IMAGE_INPUT], pixels[np.newaxis])
    assert inference.backend == "sagemaker:fake-endpoint" and inference.fallback is None
    assert np.array_equal(inference.prediction, matte), "float32 both ways: the matte arrives exactly"
    out = segmenter.to_matte(inference.prediction)
    assert out.mode == "F" and out.size == (64, 64)


def test_json_tensors_give_the_same_matte() -> None:
    spec = FakeRegistry(rect_matte(0, 0, 1, 1)).spec(FAKE_MODEL)
    matte = np.random.default_rng(3).random((64, 64)).astype(np.float32)
    invoker = FakeInvoker(matte)
    pixels = RemoteSegmenter(spec, invoker).prepare(textured(90, 70))

    binary = RemoteSegmenter(spec, invoker).infer(pixels)
    as_json = RemoteSegmenter(spec, invoker, binary=False).infer(pixels)

    assert invoker.requests[0].json_length is not None and invoker.requests[1].json_length is None
    assert np.array_equal(binary, as_json) and np.array_equal(binary, matte)


def test_the_engine_reports_the_endpoint_as_backend() -> None:
    invoker = FakeInvoker(np.ones((64, 64), np.float32))
    registry, local = _remote_engine(invoker, fallback=False)
    engine = fake_engine(registry=local)
    engine.registry = registry

    result = engine.process(encode(textured(80, 60), "PNG"), Options.parse({"background_type": "map"}))

    assert result.report.backend == "sagemaker:fake-endpoint"
    assert result.report.to_dict()["backend"] == "sagemaker:fake-endpoint"
    assert "fallback" not in result.report.to_dict()
    assert len(invoker.requests) == 1
    assert not local.loads, "the local model must not run when the endpoint answers"
    alpha = np.asarray(Image.open(io.BytesIO(result.data)))
    assert alpha.min() == 255  # the endpoint's all-ones matte, not the local model's rectangle


def test_an_unavailable_endpoint_fails_without_the_fallback() -> None:
    invoker = FakeInvoker(error=InferenceUnavailableError("throttled"))
    registry, local = _remote_engine(invoker, fallback=False)
    engine = fake_engine(registry=local)
    engine.registry = registry

    with pytest.raises(InferenceUnavailableError) as caught:
        engine.process(encode(textured(80, 60), "PNG"))

    assert caught.value.code == "INFERENCE_UNAVAILABLE"
    assert not local.loads


def test_an_unavailable_endpoint_runs_locally_with_the_fallback_and_says_so() -> None:
    invoker = FakeInvoker(error=InferenceUnavailableError("read timeout"))
    registry, local = _remote_engine(invoker, fallback=True)
    engine = fake_engine(registry=local)
    engine.registry = registry

    result = engine.process(encode(textured(80, 60), "PNG"), Options.parse({"background_type": "map"}))

    assert result.report.backend == "local"
    assert result.report.fallback == "sagemaker:fake-endpoint: read timeout"
    assert result.report.to_dict()["fallback"] == "sagemaker:fake-endpoint: read timeout"
    assert local.loads == [FAKE_MODEL]
    alpha = np.asarray(Image.open(io.BytesIO(result.data)))
    assert alpha[0, 0] == 0 and alpha[30, 40] == 255  # the local model's centred rectangle


def test_a_model_error_never_falls_back() -> None:
    invoker = FakeInvoker(error=RemoteModelError("the container answered 400: unexpected shape"))
    registry, local = _remote_engine(invoker, fallback=True)
    segmenter = registry.get(FAKE_MODEL)
    assert isinstance(segmenter, RemoteSegmenter)

    with pytest.raises(RemoteModelError) as caught:
        segmenter.infer(segmenter.prepare(textured(80, 60)))

    assert caught.value.code == "REMOTE_MODEL_ERROR"
    assert not local.loads


@pytest.mark.parametrize(
    ("invoker", "said"),
    [
        (FakeInvoker(model_name="u2netp"), "serves 'u2netp'"),
        (FakeInvoker(np.zeros((32, 32), np.float32)), r"float32 \[1, 32, 32\]"),
        (FakeInvoker(np.zeros((64, 64), np.float64)), "float64"),
    ],
    ids=["another-model", "another-size", "another-type"],
)
def test_an_answer_that_is_not_this_models_matte_is_a_model_error(invoker: FakeInvoker, said: str) -> None:
    registry, local = _remote_engine(invoker, fallback=True)
    segmenter = registry.get(FAKE_MODEL)

    with pytest.raises(RemoteModelError, match=said):
        segmenter.infer(segmenter.prepare(textured(80, 60)))
    assert not local.loads


def test_the_registry_routes_only_the_named_models() -> None:
    local = FakeRegistry(rect_matte(0, 0, 1, 1), names=(FAKE_MODEL, "other"), undeployed=(FAKE_MODEL,))
    registry = RemoteRegistry(local, {FAKE_MODEL: FakeInvoker()})

    assert registry.names() == [FAKE_MODEL, "other"]
    assert registry.is_available(FAKE_MODEL), "a routed model is served by its endpoint, file or not"
    assert isinstance(registry.get(FAKE_MODEL), RemoteSegmenter)
    assert registry.get(FAKE_MODEL) is registry.get(FAKE_MODEL)
    assert not isinstance(registry.get("other"), RemoteSegmenter)
    assert registry.backend(FAKE_MODEL) == "sagemaker:fake-endpoint"
    assert registry.backend("other") == "local"
    assert local.loads == ["other"]
