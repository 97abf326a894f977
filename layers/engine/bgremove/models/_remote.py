"""Inference on a remote endpoint (Triton on SageMaker): a :class:`Segmenter` over the KServe v2 protocol.

The engine keeps all of its pre- and post-processing steps: it resizes the image to the network's input
(:func:`~bgremove.models._segmenter.network_pixels`) and sends those uint8 pixels as one ``[1, H, W, 3]``
tensor named :data:`IMAGE_INPUT`; the endpoint's model (built by ``layers/model/triton_repo.py``) normalises
them in its graph, runs the network and maps its output to probabilities exactly as the engine's own code
does, and sends back :data:`MATTE_OUTPUT`, ``FP32 [1, H, W]`` at the network's resolution. The messages are
KServe v2 (:mod:`bgremove.models._kserve`), with Triton's binary tensor extension by default: a 320x320
network takes 300 KiB in and 400 KiB back (ISNet's 1024x1024, 3 MiB and 4 MiB, within SageMaker's 6 MB
real-time payload limit). The probabilities travel as float32, so nothing is lost on the way: with the same
model file the matte is the one local inference gives (identical on CPU through the local stand-in; the tests
allow 1/255 of alpha). A GPU's kernels may differ in the last bits, and the GPU serves u2net from its fp32
file, whose mattes differ from the quantised one's (docs/decisions/0009).

No AWS code here: the transport is an injected :class:`Invoker` (the function provides one on boto3's
``sagemaker-runtime``, tests and the benchmark plain HTTP).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np
from PIL import Image

from bgremove.exceptions import InferenceUnavailableError, RemoteModelError
from bgremove.models._kserve import Payload, ProtocolError, decode_response, encode_request
from bgremove.models._registry import SegmenterRegistry
from bgremove.models._segmenter import Inference, Segmenter, network_pixels
from bgremove.models._spec import ModelSpec

IMAGE_INPUT = "IMAGE"
"""The model's input: ``UINT8 [batch, H, W, 3]``, the pixels at the network's input size."""
MATTE_OUTPUT = "MATTE"
"""The model's output: ``FP32 [batch, H, W]``, probabilities 0..1."""


class Invoker(Protocol):
    """Sends one KServe v2 request to a remote endpoint and returns its response.

    Implementations map their transport's failures onto two errors: :class:`InferenceUnavailableError`
    when the endpoint could not answer now (throttling, 5xx, timeouts, connection failures: transient),
    :class:`RemoteModelError` when it answered that it cannot run the model on this request.
    """

    @property
    def backend(self) -> str:
        """Where it runs, for reports: ``"sagemaker:<endpoint>"``."""
        ...

    def invoke(self, request: Payload) -> Payload:
        """The response to ``request`` (both with the length of their JSON part, for binary tensors)."""
        ...


class RemoteSegmenter:
    """A :class:`Segmenter` (and :class:`~bgremove.models._segmenter.TracedSegmenter`) run by an endpoint.

    ``prepare`` resizes locally, ``infer`` sends the uint8 pixels through the invoker, ``to_matte`` turns
    the returned probabilities into an ``F`` image: the engine's stages and timings stay as they are.

    Parameters
    ----------
    spec
        The model the endpoint runs (its name is checked against the response's ``model_name``, its input
        size against the matte's).
    invoker
        The transport to the endpoint.
    fallback
        Returns the local segmenter of the same model; when given, an unavailable endpoint makes the
        inference run locally (recorded in the :class:`Inference`). ``None``: the error propagates.
    binary
        Tensors as raw bytes (Triton's binary extension, the default) or as JSON numbers.
    """

    def __init__(
        self,
        spec: ModelSpec,
        invoker: Invoker,
        *,
        fallback: Callable[[], Segmenter] | None = None,
        binary: bool = True,
    ) -> None:
        self._spec = spec
        self._invoker = invoker
        self._fallback = fallback
        self._binary = binary

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
            The endpoint cannot run the model on this input, or answered something else than its matte.
        """
        request = encode_request({IMAGE_INPUT: tensor[np.newaxis]}, [MATTE_OUTPUT], binary=self._binary)
        try:
            response = self._invoker.invoke(request)
        except InferenceUnavailableError as error:
            if self._fallback is None:
                raise
            return Inference(self._local(tensor), "local", f"{self.backend}: {error.message}")
        try:
            matte = self._matte(response)
        except ProtocolError as error:
            raise RemoteModelError(f"{self.backend} answered model {self._spec.name!r}: {error}") from None
        return Inference(matte, self.backend)

    def _matte(self, payload: Payload) -> np.ndarray:
        response = decode_response(payload)
        if response.model_name and response.model_name != self._spec.name:
            raise ProtocolError(f"the endpoint serves {response.model_name!r}")
        matte = response.outputs.get(MATTE_OUTPUT)
        width, height = self._spec.input_size
        if matte is None or matte.dtype != np.float32 or matte.shape != (1, height, width):
            described = "none" if matte is None else f"{matte.dtype} {list(matte.shape)}"
            raise ProtocolError(f"{MATTE_OUTPUT} should be float32 [1, {height}, {width}], got {described}")
        result: np.ndarray = matte[0]
        return result

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
    binary
        Tensors as raw bytes (Triton's binary extension, the default) or as JSON numbers.
    """

    def __init__(
        self,
        local: SegmenterRegistry,
        routes: Mapping[str, Invoker],
        *,
        fallback: bool = False,
        binary: bool = True,
    ) -> None:
        self._local = local
        self._routes = dict(routes)
        self._fallback = fallback
        self._binary = binary
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
                segmenter = RemoteSegmenter(spec, self._routes[name], fallback=fallback, binary=self._binary)
                self._remote[name] = segmenter
            return segmenter


__all__ = [
    "IMAGE_INPUT",
    "MATTE_OUTPUT",
    "Invoker",
    "RemoteRegistry",
    "RemoteSegmenter",
]
