"""SageMaker's real-time container contract on the standard library: ``GET /ping``, ``POST /invocations``.

Why :class:`http.server.ThreadingHTTPServer` and not a framework: the work is one ONNX Runtime call per
batch on a worker thread (:mod:`bgremove_inference.batcher`); an HTTP thread only reads ~300 KiB, waits
on a future and writes ~200 KiB. A thread per connection is what dynamic batching needs (requests wait
while their batch fills), SageMaker keeps few connections per instance, and the image gains no
dependency to pin, patch and scan. ``GET /stats`` reports the batch sizes formed per model.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from bgremove.exceptions import BgRemoveError
from bgremove.models import (
    BUILTIN_MODELS,
    U2NET,
    U2NET_FP32,
    ModelRegistry,
    ModelSpec,
    OnnxSegmenter,
    SessionConfig,
)
from bgremove.models._remote import WireFormatError, decode_request, encode_response
from bgremove.models._segmenter import probabilities
from bgremove_inference.batcher import Batcher, OverloadedError
from bgremove_inference.settings import ServerSettings

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
"""Largest request body read (SageMaker's own limit is 6 MB; ISNet's 1024x1024 request is 3 MiB)."""

JSON = "application/json"


@dataclass(frozen=True)
class ServiceError(Exception):
    """An answer other than a matte: HTTP status, stable code, message (sent as JSON)."""

    status: int
    code: str
    message: str

    def body(self) -> bytes:
        return json.dumps({"code": self.code, "message": self.message}).encode()


class InferenceService:
    """The models and their batchers; :meth:`invoke` answers one wire-format request.

    Models are loaded at start-up, through the engine's registry (same specs, digests, shape checks and
    session settings as the function), with the execution providers the settings ask for.

    Raises
    ------
    bgremove.ConfigurationError
        A setting is malformed, CUDA is required and missing, or a model named in ``MODELS`` is unknown.
    bgremove.ModelError
        A model file is missing (when named in ``MODELS``) or cannot be loaded.
    """

    def __init__(self, settings: ServerSettings) -> None:
        import onnxruntime as ort  # noqa: PLC0415 - the heavy import only where models are served

        self.settings = settings
        providers = settings.providers(list(ort.get_available_providers()))
        self.registry = ModelRegistry(
            [settings.model_dir],
            SessionConfig(intra_op_threads=settings.threads, providers=providers),
            specs=(*_builtin_specs(settings.model_dir, providers), *settings.custom_models),
        )
        names = settings.models or tuple(n for n in self.registry.names() if self.registry.is_available(n))
        self.models: dict[str, OnnxSegmenter] = {}
        self.batchers: dict[str, Batcher] = {}
        for name in names:
            segmenter = self.registry.get(name)
            self.models[name] = segmenter
            self.batchers[name] = Batcher(
                name,
                functools.partial(_run_batch, segmenter),
                max_batch=settings.max_batch,
                max_wait_s=settings.max_wait_ms / 1000,
                max_queue=settings.max_queue,
            )
            logger.info(
                "model %s ready: providers %s, fixed batch size %s",
                name,
                segmenter.providers,
                segmenter.fixed_batch,
            )

    @property
    def ready(self) -> bool:
        return bool(self.models)

    def invoke(self, payload: bytes) -> bytes:
        """The response to one request.

        Raises
        ------
        ServiceError
            400 ``BAD_REQUEST`` (not the wire format, or not this version), 404 ``MODEL_NOT_FOUND``, 400
            ``WRONG_INPUT_SIZE``, 500 ``MODEL_FAILED``, 503 ``OVERLOADED``, 504 ``TIMEOUT``.
        """
        try:
            request = decode_request(payload)
        except WireFormatError as error:
            raise ServiceError(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", str(error)) from None
        batcher = self.batchers.get(request.model)
        if batcher is None:
            served = ", ".join(sorted(self.models)) or "none"
            raise ServiceError(
                HTTPStatus.NOT_FOUND, "MODEL_NOT_FOUND", f"{request.model!r} is not served here ({served})"
            )
        expected = self.models[request.model].spec.input_size
        height, width = request.pixels.shape[:2]
        if (width, height) != expected:
            raise ServiceError(
                HTTPStatus.BAD_REQUEST,
                "WRONG_INPUT_SIZE",
                f"{request.model} takes {expected[0]}x{expected[1]}, the request holds {width}x{height}",
            )
        try:
            matte = batcher.submit(request.pixels, self.settings.request_timeout_s)
        except OverloadedError as error:
            raise ServiceError(HTTPStatus.SERVICE_UNAVAILABLE, "OVERLOADED", str(error)) from None
        except TimeoutError:
            raise ServiceError(
                HTTPStatus.GATEWAY_TIMEOUT, "TIMEOUT", f"no result in {self.settings.request_timeout_s} s"
            ) from None
        except BgRemoveError as error:
            raise ServiceError(HTTPStatus.INTERNAL_SERVER_ERROR, "MODEL_FAILED", error.message) from None
        return encode_response(matte, request.sample_bytes)

    def stats(self) -> dict[str, Any]:
        """Per model: batches formed by size, providers in use, the network's fixed batch size if any."""
        return {
            "max_batch": self.settings.max_batch,
            "max_wait_ms": self.settings.max_wait_ms,
            "models": {
                name: {
                    "batches": self.batchers[name].stats(),
                    "busy_ms": round(self.batchers[name].busy_ms(), 1),
                    "providers": segmenter.providers,
                    "fixed_batch": segmenter.fixed_batch,
                }
                for name, segmenter in self.models.items()
            },
        }

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()


def _builtin_specs(model_dir: Path, providers: Sequence[str]) -> tuple[ModelSpec, ...]:
    """The engine's models; on CUDA, ``u2net`` from its fp32 file when the model data has it.

    The Lambda layer's ``u2net.onnx`` runs most convolutions as 8-bit ``QLinearConv``, which the CUDA
    provider does not implement: those convolutions would run on the CPU. The fp32 original
    (``u2net-fp32.onnx``) runs them all on the GPU; its mattes differ from the quantised file's by what the
    quantisation changes (docs/decisions/0009-u2net-static-quantisation.md).
    """
    on_gpu = "CUDAExecutionProvider" in providers
    if not on_gpu or not (model_dir / U2NET_FP32.source).is_file():
        return tuple(BUILTIN_MODELS)
    return tuple(U2NET_FP32 if spec.name == U2NET.name else spec for spec in BUILTIN_MODELS)


def _run_batch(segmenter: OnnxSegmenter, pixels: np.ndarray) -> Sequence[np.ndarray]:
    """One batch through the network, with the engine's normalisation and output mapping.

    A network exported with a fixed batch size (most U2-Net and ISNet files: 1) runs the batch in slices
    of that size, the last one padded.
    """
    tensor = segmenter.normalise(pixels)
    step = segmenter.fixed_batch
    if step is None or step == len(tensor):
        raw = segmenter.infer_batch(tensor)
    else:
        slices = []
        for start in range(0, len(tensor), step):
            part = tensor[start : start + step]
            if len(part) < step:
                part = np.concatenate([part, np.zeros((step - len(part), *part.shape[1:]), part.dtype)])
            slices.append(segmenter.infer_batch(part))
        raw = np.concatenate(slices)[: len(tensor)]
    return [probabilities(output, segmenter.spec) for output in raw]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: SageMaker reuses its connections
    server: InferenceServer

    def do_GET(self) -> None:
        service = self.server.service
        if self.path == "/ping":
            ready = service.ready
            self._send(HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE, JSON, b"{}")
        elif self.path == "/stats":
            self._send(HTTPStatus.OK, JSON, json.dumps(service.stats()).encode())
        else:
            self._send(HTTPStatus.NOT_FOUND, JSON, ServiceError(404, "NOT_FOUND", self.path).body())

    def do_POST(self) -> None:
        if self.path != "/invocations":
            self._send(HTTPStatus.NOT_FOUND, JSON, ServiceError(404, "NOT_FOUND", self.path).body())
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            error = ServiceError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "BAD_REQUEST", f"{length} bytes")
            self._send(error.status, JSON, error.body())
            return
        payload = self.rfile.read(length)
        try:
            body = self.server.service.invoke(payload)
        except ServiceError as error:
            self._send(error.status, JSON, error.body())
            return
        self._send(HTTPStatus.OK, self.headers.get("Accept") or "application/octet-stream", body)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the caller gave up first (its read timeout)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)


class InferenceServer(ThreadingHTTPServer):
    """The HTTP server around an :class:`InferenceService`; ``serve_forever`` or :meth:`start`."""

    daemon_threads = True

    def __init__(self, service: InferenceService, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.service = service
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> InferenceServer:
        """Serve on a background thread (tests, the local runner)."""
        self._thread = threading.Thread(target=self.serve_forever, name="inference-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.service.close()
