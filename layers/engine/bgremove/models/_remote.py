"""Inference on a remote endpoint (a SageMaker GPU endpoint): the wire format and a :class:`Segmenter`.

The engine keeps all pre- and post-processing: it resizes the image to the network's input
(:func:`~bgremove.models._segmenter.network_pixels`) and sends those uint8 pixels; the endpoint normalises
them with the engine's own code (:func:`~bgremove.models._segmenter.normalise`), runs the network, maps
the output to probabilities (:func:`~bgremove.models._segmenter.probabilities`) and sends the matte back at
the network's resolution. No AWS code here: the transport is an injected :class:`Invoker` (the function
provides one on boto3's ``sagemaker-runtime``, tests a fake or plain HTTP).

Wire format, version 1 (all integers little-endian; content type :data:`CONTENT_TYPE`)
--------------------------------------------------------------------------------------

Request (12-byte header, the model's name, the pixels)::

    offset  size     field
    0       4        magic b"BGRI"
    4       1        version (1)
    5       1        bytes per matte sample wanted in the response: 1 (uint8) or 2 (uint16)
    6       2        width W (uint16)
    8       2        height H (uint16)
    10      1        channels (3: RGB)
    11      1        length N of the model name (1..255)
    12      N        model name, UTF-8 (a registry name: u2netp, u2net, isnet, a custom model's)
    12+N    W*H*3    pixels, uint8, row-major, RGB interleaved

Response (10-byte header, the matte)::

    0       4        magic b"BGRO"
    4       1        version (1)
    5       1        bytes per sample B (1 or 2, as requested)
    6       2        width W (the network's)
    8       2        height H
    10      W*H*B    matte, row-major; probability = value / 255 (B=1) or value / 65535 (B=2)

A 320x320 network (u2netp, u2net) takes 300 KiB in and 200 KiB back at 2 bytes per sample; ISNet's
1024x1024, 3 MiB and 2 MiB, within SageMaker's 6 MB real-time payload limit. Two bytes per sample are
the default: with one byte the results moved by up to 35/255 from local inference on the test photos (the
engine upsamples the matte in logit space, which magnifies steps near 0 and 1); with two, by at most 1/255
before the engine's noise snap (alpha <= 4/255 becomes 0, >= 251/255 becomes 255), so a pixel right at
that edge can read 0 locally and 5 remotely (``tests/integration/test_remote_inference.py``). A reader refuses
another magic or version (:class:`WireFormatError`): both ends are upgraded together, server first.

Errors travel as HTTP status codes with a JSON body ``{"code": ..., "message": ...}``: see the inference
server's README (``containers/inference/README.md``).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

from bgremove.exceptions import InferenceUnavailableError, RemoteModelError
from bgremove.models._registry import SegmenterRegistry
from bgremove.models._segmenter import Inference, Segmenter, network_pixels
from bgremove.models._spec import ModelSpec

WIRE_VERSION = 1
CONTENT_TYPE = "application/x-bgremove-matte"
REQUEST_MAGIC = b"BGRI"
RESPONSE_MAGIC = b"BGRO"
MATTE_SAMPLE_BYTES = 2
"""Bytes per matte sample the engine asks for (see the module's notes on precision)."""

_REQUEST_HEADER = struct.Struct("<4sBBHHBB")
_RESPONSE_HEADER = struct.Struct("<4sBBHH")
_MAX_SIDE = 0xFFFF
_CHANNELS = 3
_SAMPLE_TYPES: dict[int, np.dtype[np.unsignedinteger[Any]]] = {1: np.dtype("<u1"), 2: np.dtype("<u2")}


class WireFormatError(ValueError):
    """Bytes that are not a well-formed message of this wire-format version."""


@dataclass(frozen=True)
class MatteRequest:
    """A decoded request: which model, which pixels (``HxWx3`` uint8), how precise a matte to return."""

    model: str
    pixels: np.ndarray
    sample_bytes: int


def encode_request(model: str, pixels: np.ndarray, sample_bytes: int = MATTE_SAMPLE_BYTES) -> bytes:
    """The request for ``model`` to segment ``pixels`` (``HxWx3`` uint8, the network's input size)."""
    name = model.encode()
    if not 1 <= len(name) <= 255:
        raise WireFormatError(f"model name must be 1..255 bytes of UTF-8, got {len(name)}")
    if sample_bytes not in _SAMPLE_TYPES:
        raise WireFormatError(f"bytes per matte sample must be 1 or 2, got {sample_bytes}")
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != _CHANNELS:
        raise WireFormatError(f"pixels must be HxWx3 uint8, got {pixels.shape} {pixels.dtype}")
    height, width = pixels.shape[:2]
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise WireFormatError(f"{width}x{height} does not fit the header")
    header = _REQUEST_HEADER.pack(
        REQUEST_MAGIC, WIRE_VERSION, sample_bytes, width, height, _CHANNELS, len(name)
    )
    return header + name + np.ascontiguousarray(pixels).tobytes()


def decode_request(payload: bytes) -> MatteRequest:
    """Read a request; raises :class:`WireFormatError` for anything but a complete version-1 request."""
    if len(payload) < _REQUEST_HEADER.size:
        raise WireFormatError(f"request of {len(payload)} bytes is shorter than its header")
    magic, version, sample_bytes, width, height, channels, name_length = _REQUEST_HEADER.unpack_from(payload)
    _check_preamble(magic, REQUEST_MAGIC, version)
    if sample_bytes not in _SAMPLE_TYPES or channels != _CHANNELS or not (width and height and name_length):
        raise WireFormatError(
            f"bad request header: {sample_bytes} bytes per sample, {channels} channels, {width}x{height}, "
            f"name of {name_length} bytes"
        )
    start = _REQUEST_HEADER.size + name_length
    expected = start + width * height * _CHANNELS
    if len(payload) != expected:
        raise WireFormatError(f"request of {len(payload)} bytes, its header says {expected}")
    try:
        model = payload[_REQUEST_HEADER.size : start].decode()
    except UnicodeDecodeError:
        raise WireFormatError("the model name is not UTF-8") from None
    pixels = np.frombuffer(payload, dtype=np.uint8, offset=start).reshape(height, width, _CHANNELS)
    return MatteRequest(model, pixels, sample_bytes)


def encode_response(matte: np.ndarray, sample_bytes: int = MATTE_SAMPLE_BYTES) -> bytes:
    """The response carrying ``matte`` (``HxW`` float probabilities 0..1), quantised to ``sample_bytes``."""
    if sample_bytes not in _SAMPLE_TYPES:
        raise WireFormatError(f"bytes per matte sample must be 1 or 2, got {sample_bytes}")
    height, width = matte.shape
    peak = (1 << (8 * sample_bytes)) - 1
    quantised = np.clip(np.rint(matte * peak), 0, peak).astype(_SAMPLE_TYPES[sample_bytes])
    header = _RESPONSE_HEADER.pack(RESPONSE_MAGIC, WIRE_VERSION, sample_bytes, width, height)
    return header + quantised.tobytes()


def decode_response(payload: bytes, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a response into ``HxW`` float32 probabilities; ``expected_size`` is ``(width, height)``.

    Raises
    ------
    WireFormatError
        Another magic or version, a truncated body, or a matte of another size than expected.
    """
    if len(payload) < _RESPONSE_HEADER.size:
        raise WireFormatError(f"response of {len(payload)} bytes is shorter than its header")
    magic, version, sample_bytes, width, height = _RESPONSE_HEADER.unpack_from(payload)
    _check_preamble(magic, RESPONSE_MAGIC, version)
    if sample_bytes not in _SAMPLE_TYPES:
        raise WireFormatError(f"bad response header: {sample_bytes} bytes per sample")
    if expected_size is not None and (width, height) != expected_size:
        raise WireFormatError(f"matte of {width}x{height}, expected {expected_size[0]}x{expected_size[1]}")
    expected = _RESPONSE_HEADER.size + width * height * sample_bytes
    if len(payload) != expected:
        raise WireFormatError(f"response of {len(payload)} bytes, its header says {expected}")
    samples = np.frombuffer(payload, dtype=_SAMPLE_TYPES[sample_bytes], offset=_RESPONSE_HEADER.size).reshape(
        height, width
    )
    matte: np.ndarray = samples.astype(np.float32) * np.float32(1.0 / ((1 << (8 * sample_bytes)) - 1))
    return matte


def _check_preamble(magic: bytes, expected: bytes, version: int) -> None:
    if magic != expected:
        raise WireFormatError(f"not a bgremove message (magic {magic!r}, expected {expected!r})")
    if version != WIRE_VERSION:
        raise WireFormatError(f"wire-format version {version}; this side speaks version {WIRE_VERSION}")


class Invoker(Protocol):
    """Sends one request to a remote endpoint and returns its response body.

    Implementations map their transport's failures onto two errors: :class:`InferenceUnavailableError`
    when the endpoint could not answer now (throttling, 5xx, timeouts, connection failures: transient),
    :class:`RemoteModelError` when it answered that it cannot run the model on this request.
    """

    @property
    def backend(self) -> str:
        """Where it runs, for reports: ``"sagemaker:<endpoint>"``."""
        ...

    def invoke(self, payload: bytes) -> bytes:
        """The response body to ``payload``."""
        ...


class RemoteSegmenter:
    """A :class:`Segmenter` (and :class:`~bgremove.models._segmenter.TracedSegmenter`) run by an endpoint.

    ``prepare`` resizes locally, ``infer`` sends the uint8 pixels through the invoker, ``to_matte`` turns
    the returned probabilities into an ``F`` image: the engine's stages and timings stay as they are.

    Parameters
    ----------
    spec
        The model the endpoint runs (the request names it; its input size is checked on the response).
    invoker
        The transport to the endpoint.
    fallback
        Returns the local segmenter of the same model; when given, an unavailable endpoint makes the
        inference run locally (recorded in the :class:`Inference`). ``None``: the error propagates.
    """

    def __init__(
        self,
        spec: ModelSpec,
        invoker: Invoker,
        *,
        fallback: Callable[[], Segmenter] | None = None,
    ) -> None:
        self._spec = spec
        self._invoker = invoker
        self._fallback = fallback

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def backend(self) -> str:
        return self._invoker.backend

    def prepare(self, image: Image.Image) -> np.ndarray:
        """The network's input size, as uint8 pixels: normalisation happens where the network runs."""
        return network_pixels(image, self._spec)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        return self.infer_traced(tensor).prediction

    def infer_traced(self, tensor: np.ndarray) -> Inference:
        """Probabilities (``HxW`` float32) from the endpoint, or from the local model when it is down.

        Raises
        ------
        InferenceUnavailableError
            The endpoint could not answer and no fallback is configured.
        RemoteModelError
            The endpoint cannot run the model on this input, or answered in another wire format.
        """
        payload = encode_request(self._spec.name, tensor)
        try:
            response = self._invoker.invoke(payload)
        except InferenceUnavailableError as error:
            if self._fallback is None:
                raise
            return Inference(self._local(tensor), "local", f"{self.backend}: {error.message}")
        try:
            matte = decode_response(response, self._spec.input_size)
        except WireFormatError as error:
            raise RemoteModelError(f"{self.backend} answered model {self._spec.name!r}: {error}") from None
        return Inference(matte, self.backend)

    def _local(self, pixels: np.ndarray) -> np.ndarray:
        assert self._fallback is not None
        local = self._fallback()
        # The pixels are already at the network's size: prepare's resize is then an exact copy.
        matte = local.to_matte(local.infer(local.prepare(Image.fromarray(pixels, "RGB"))))
        values: np.ndarray = np.asarray(matte, dtype=np.float32)
        return values * np.float32(1 / 255) if matte.mode == "L" else values  # "F" mattes are 0..1 already

    def to_matte(self, prediction: np.ndarray) -> Image.Image:
        return Image.fromarray(np.asarray(prediction, dtype=np.float32), "F")


class RemoteRegistry:
    """A :class:`SegmenterRegistry` that serves some models from endpoints and the rest locally.

    Parameters
    ----------
    local
        The registry of specs and local models (names, specs, custom models are all its).
    routes
        Model name -> the invoker of the endpoint that runs it. Names not in it run locally.
    fallback
        Whether a routed model runs locally while its endpoint is unavailable.
    """

    def __init__(
        self, local: SegmenterRegistry, routes: Mapping[str, Invoker], *, fallback: bool = False
    ) -> None:
        self._local = local
        self._routes = dict(routes)
        self._fallback = fallback
        self._remote: dict[str, RemoteSegmenter] = {}
        self._lock = threading.Lock()

    def register(self, spec: ModelSpec) -> None:
        with self._lock:
            self._local.register(spec)
            self._remote.pop(spec.name, None)

    def names(self) -> list[str]:
        return self._local.names()

    def spec(self, name: str) -> ModelSpec:
        return self._local.spec(name)

    def is_available(self, name: str) -> bool:
        """A routed model counts as available: its endpoint answers for it."""
        spec = self._local.spec(name)  # raises ModelNotFoundError for an unknown name
        return spec.name in self._routes or self._local.is_available(name)

    def backend(self, name: str) -> str:
        """Where ``name`` runs: its endpoint's label, or ``"local"``."""
        return self._routes[name].backend if name in self._routes else "local"

    def get(self, name: str) -> Segmenter:
        if name not in self._routes:
            return self._local.get(name)
        spec = self._local.spec(name)
        with self._lock:
            segmenter = self._remote.get(name)
            if segmenter is None or segmenter.spec != spec:
                fallback = (lambda: self._local.get(name)) if self._fallback else None
                segmenter = RemoteSegmenter(spec, self._routes[name], fallback=fallback)
                self._remote[name] = segmenter
            return segmenter


__all__ = [
    "CONTENT_TYPE",
    "WIRE_VERSION",
    "Invoker",
    "MatteRequest",
    "RemoteRegistry",
    "RemoteSegmenter",
    "WireFormatError",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
]
