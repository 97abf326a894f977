"""The wire format between the function and the inference endpoint; the remote segmenter on a fake."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from bgremove import Options
from bgremove.exceptions import InferenceUnavailableError, RemoteModelError
from bgremove.models import RemoteRegistry, RemoteSegmenter, TracedSegmenter
from bgremove.models._remote import (
    WIRE_VERSION,
    WireFormatError,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from tests.fakes import FAKE_MODEL, FakeRegistry, fake_engine
from tests.helpers import encode, rect_matte, textured

SIZE = (64, 48)  # width, height: not square, so a transposition shows


def _pixels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)


def _matte() -> np.ndarray:
    return np.random.default_rng(1).random((SIZE[1], SIZE[0])).astype(np.float32)


def test_request_round_trip() -> None:
    pixels = _pixels()
    request = decode_request(encode_request("u2netp", pixels, 2))
    assert request.model == "u2netp"
    assert request.sample_bytes == 2
    assert request.pixels.shape == (SIZE[1], SIZE[0], 3)
    assert np.array_equal(request.pixels, pixels)


def test_request_is_the_header_the_name_and_the_raw_pixels() -> None:
    payload = encode_request("isnet", _pixels(), 1)
    assert payload[:4] == b"BGRI"
    assert payload[4] == WIRE_VERSION
    assert struct.unpack_from("<HH", payload, 6) == SIZE
    assert len(payload) == 12 + len("isnet") + SIZE[0] * SIZE[1] * 3


@pytest.mark.parametrize(("sample_bytes", "step"), [(1, 255), (2, 65535)])
def test_response_round_trip_within_half_a_step(sample_bytes: int, step: int) -> None:
    matte = _matte()
    payload = encode_response(matte, sample_bytes)
    assert len(payload) == 10 + SIZE[0] * SIZE[1] * sample_bytes
    decoded = decode_response(payload, SIZE)
    assert decoded.dtype == np.float32 and decoded.shape == matte.shape
    assert np.abs(decoded - matte).max() <= 0.5 / step + 1e-7


def test_response_clips_out_of_range_values() -> None:
    matte = np.array([[-0.5, 1.5]], dtype=np.float32)
    assert decode_response(encode_response(matte, 2)).tolist() == [[0.0, 1.0]]


def _with_byte(payload: bytes, offset: int, value: int) -> bytes:
    changed = bytearray(payload)
    changed[offset] = value
    return bytes(changed)


def test_another_version_is_refused_both_ways() -> None:
    request = _with_byte(encode_request("u2netp", _pixels()), 4, WIRE_VERSION + 1)
    with pytest.raises(WireFormatError, match=f"version {WIRE_VERSION + 1}"):
        decode_request(request)
    response = _with_byte(encode_response(_matte()), 4, WIRE_VERSION + 1)
    with pytest.raises(WireFormatError, match=f"version {WIRE_VERSION + 1}"):
        decode_response(response)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"BGRI",
        b"PNG\x89" + bytes(200),
        encode_request("u2netp", _pixels())[:-1],  # truncated pixels
        encode_request("u2netp", _pixels()) + b"\0",  # trailing bytes
        _with_byte(encode_request("u2netp", _pixels()), 5, 3),  # 3 bytes per sample
        _with_byte(encode_request("u2netp", _pixels()), 10, 4),  # 4 channels
    ],
    ids=["empty", "header-only", "not-ours", "truncated", "trailing", "sample-bytes", "channels"],
)
def test_malformed_requests_are_refused(payload: bytes) -> None:
    with pytest.raises(WireFormatError):
        decode_request(payload)


def test_a_response_of_another_size_is_refused() -> None:
    with pytest.raises(WireFormatError, match="expected 320x320"):
        decode_response(encode_response(_matte()), (320, 320))
    with pytest.raises(WireFormatError):
        decode_response(encode_response(_matte())[:-2], SIZE)


def test_requests_refuse_what_the_header_cannot_say() -> None:
    with pytest.raises(WireFormatError):
        encode_request("", _pixels())
    with pytest.raises(WireFormatError):
        encode_request("x" * 256, _pixels())
    with pytest.raises(WireFormatError):
        encode_request("u2netp", _pixels().astype(np.float32))


# --- the remote segmenter on a fake transport --------------------------------------------------------------
class FakeInvoker:
    """An endpoint in memory: answers every request with ``matte`` (or raises ``error``); records requests."""

    backend = "sagemaker:fake-endpoint"

    def __init__(self, matte: np.ndarray | None = None, error: Exception | None = None) -> None:
        self.matte = matte
        self.error = error
        self.requests: list[bytes] = []

    def invoke(self, payload: bytes) -> bytes:
        self.requests.append(payload)
        if self.error is not None:
            raise self.error
        request = decode_request(payload)
        matte = self.matte if self.matte is not None else np.zeros(request.pixels.shape[:2], np.float32)
        return encode_response(matte, request.sample_bytes)


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
    assert np.array_equal(decode_request(sent).pixels, pixels)
    assert decode_request(sent).model == FAKE_MODEL
    assert inference.backend == "sagemaker:fake-endpoint" and inference.fallback is None
    assert np.abs(inference.prediction - matte).max() <= 0.5 / 65535 + 1e-7
    out = segmenter.to_matte(inference.prediction)
    assert out.mode == "F" and out.size == (64, 64)


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
    invoker = FakeInvoker(error=RemoteModelError("the container answered 404: unknown model"))
    registry, local = _remote_engine(invoker, fallback=True)
    segmenter = registry.get(FAKE_MODEL)
    assert isinstance(segmenter, RemoteSegmenter)

    with pytest.raises(RemoteModelError) as caught:
        segmenter.infer(segmenter.prepare(textured(80, 60)))

    assert caught.value.code == "REMOTE_MODEL_ERROR"
    assert not local.loads


def test_an_answer_in_another_wire_format_is_a_model_error() -> None:
    class OldServer(FakeInvoker):
        def invoke(self, payload: bytes) -> bytes:
            return _with_byte(super().invoke(payload), 4, WIRE_VERSION + 1)

    registry, _ = _remote_engine(OldServer(), fallback=True)
    segmenter = registry.get(FAKE_MODEL)

    with pytest.raises(RemoteModelError, match="version"):
        segmenter.infer(segmenter.prepare(textured(80, 60)))


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
