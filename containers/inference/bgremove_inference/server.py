"""A stand-in for Triton on SageMaker: the KServe v2 HTTP protocol and SageMaker's routes, on CPU.

What the function talks to on AWS is NVIDIA Triton in AWS's ``sagemaker-tritonserver`` image, serving the
repository ``layers/model/triton_repo.py`` builds. This server answers the same requests the same way, so
the function, the local runner and the tests run that path on a machine without a GPU or Docker:

- SageMaker's container routes, as Triton's SageMaker front serves them: ``GET /ping`` (200 once the model
  is ready) and ``POST /invocations`` (an inference request for the default model; binary tensors with the
  content type ``application/vnd.sagemaker-triton.binary+json;json-header-size=N``);
- KServe v2: ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/{m}``, ``.../ready``,
  ``.../config``, ``.../stats`` (Triton's statistics extension: executions per batch size) and
  ``POST /v2/models/{m}[/versions/{v}]/infer`` (binary tensors with ``Inference-Header-Content-Length``);
- errors as Triton writes them, ``{"error": "..."}``: 400 for a request that does not fit the model, 500 for
  a body that is not JSON, 404 for an unknown model, and for a model that failed, 400 on ``/invocations``
  (507 when out of memory), which is what Triton's SageMaker front answers, 500 on the KServe route. The
  messages are Triton's (checked against Triton's SageMaker front: containers/inference/README.md).

The model runs in ONNX Runtime on CPU (Triton's ``onnxruntime`` backend does the same with CUDA), behind
Triton's dynamic batching as ``config.pbtxt`` sets it (:mod:`bgremove_inference.batcher`). Why not Triton
itself: containers/inference/README.md#why-a-stand-in-and-not-triton-itself.

Why :class:`http.server.ThreadingHTTPServer`: a request's thread parses ~300 KiB, waits on a future while
its batch fills and runs, and writes ~400 KiB; a thread per connection is what that needs, and the stand-in
gains no dependency.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from bgremove.models._kserve import (
    HEADER_LENGTH_HEADER,
    JSON_CONTENT_TYPE,
    SAGEMAKER_BINARY_CONTENT_TYPE,
    InferRequest,
    Payload,
    ProtocolError,
    UnparsableError,
    datatype_of,
    decode_request,
    encode_response,
    from_sagemaker,
)
from bgremove_inference.batcher import Batcher
from bgremove_inference.repository import LoadedModel, ModelLoadError, load_model, model_names
from bgremove_inference.settings import ServerSettings

logger = logging.getLogger(__name__)

SERVER_NAME = "bgremove-triton-stand-in"
MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest request body read (Triton's ``--http-max-input-size`` default; SageMaker's own limit is 6 MB)."""
_MODEL_PATH = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/infer|/ready|/config|/stats)?$")
_OUT_OF_MEMORY = ("out of memory", "Out of memory", "OutOfMemory", "Failed to allocate memory")


@dataclass(frozen=True)
class ServiceError(Exception):
    """An answer other than a result: HTTP status and message (sent as ``{"error": message}``)."""

    status: int
    message: str
    failed_model: bool = True
    """For a 500: the model failed running (``/invocations`` answers those 400, as Triton's front does)."""

    def body(self) -> bytes:
        return json.dumps({"error": self.message}).encode()


class InferenceService:
    """The loaded model and its batcher; :meth:`infer` answers one KServe v2 request.

    As SageMaker's Triton image does (``--model-control-mode=explicit --load-model=<default>``), only the
    default model is loaded: ``settings.default_model``, or the repository's only model.

    Raises
    ------
    ModelLoadError
        No model to serve, several and no default named, or the model cannot be loaded.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        names = model_names(settings.repository)
        name = settings.default_model
        if not name:
            if len(names) != 1:
                raise ModelLoadError(
                    f"{settings.repository} holds {len(names)} models ({', '.join(names) or 'none'}): name "
                    "the one to serve (SAGEMAKER_TRITON_DEFAULT_MODEL_NAME)"
                )
            name = names[0]
        if name not in names:
            raise ModelLoadError(f"no model {name!r} in {settings.repository} ({', '.join(names) or 'none'})")
        model = load_model(settings.repository, name, threads=settings.threads)
        self.default_model = name
        self.models: dict[str, LoadedModel] = {name: model}
        self.batchers: dict[str, Batcher] = {
            name: Batcher(
                name,
                model.execute,
                max_batch=model.config.max_batch_size if model.config.dynamic_batching else 1,
                max_wait_s=model.config.max_queue_delay_us / 1e6,
            )
        }
        logger.info(
            "model %s version %s ready: max_batch_size %d, dynamic batching %s (%d us)",
            name,
            model.version,
            model.config.max_batch_size,
            "on" if model.config.dynamic_batching else "off",
            model.config.max_queue_delay_us,
        )

    @property
    def ready(self) -> bool:
        return bool(self.models)

    def model(self, name: str, version: str | None = None) -> LoadedModel:
        model = self.models.get(name)
        if model is None:
            raise ServiceError(HTTPStatus.NOT_FOUND, f"Request for unknown model: '{name}' is not found")
        if version not in (None, "", model.version):
            raise ServiceError(
                HTTPStatus.NOT_FOUND, f"Request for unknown model: '{name}' version {version} is not found"
            )
        return model

    def infer(self, name: str, payload: Payload, *, version: str | None = None) -> Payload:
        """The response to one request for model ``name``.

        Raises
        ------
        ServiceError
            400: not KServe v2, or inputs that do not fit the model; 404: no such model; 500: the model
            failed on the batch.
        """
        model = self.model(name, version)
        try:
            request = decode_request(payload)
        except UnparsableError as error:
            message = f"failed to parse the request JSON buffer: {error}"
            raise ServiceError(HTTPStatus.INTERNAL_SERVER_ERROR, message, failed_model=False) from None
        except ProtocolError as error:
            raise ServiceError(HTTPStatus.BAD_REQUEST, str(error)) from None
        inputs, rows = _validate(model, request)
        wanted = request.outputs or {o.name: request.binary_default for o in model.config.outputs}
        unknown = [o for o in wanted if o not in {t.name for t in model.config.outputs}]
        if unknown:
            raise ServiceError(
                HTTPStatus.BAD_REQUEST, f"unexpected inference output '{unknown[0]}' for model '{name}'"
            )
        try:
            outputs = self.batchers[name].submit(inputs, rows).result()
        except Exception as error:  # the model's failure; onnxruntime's errors are untyped
            raise ServiceError(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(error).__name__}: {error}") from None
        selected = {output: outputs[output] for output in wanted}
        return encode_response(name, model.version, selected, wanted, id=request.id)

    def metadata(self, name: str) -> dict[str, Any]:
        model = self.model(name)
        config = model.config
        return {
            "name": name,
            "versions": [model.version],
            "platform": "onnxruntime_onnx",
            "inputs": [
                {"name": t.name, "datatype": t.datatype, "shape": t.shape(config.batched)}
                for t in config.inputs
            ],
            "outputs": [
                {"name": t.name, "datatype": t.datatype, "shape": t.shape(config.batched)}
                for t in config.outputs
            ],
        }

    def stats(self, name: str | None = None) -> dict[str, Any]:
        """Triton's statistics extension: per model, executions and their time per batch size."""
        entries = []
        for model_name, model in self.models.items():
            if name is not None and model_name != name:
                continue
            stats = self.batchers[model_name].stats()
            entries.append(
                {
                    "name": model_name,
                    "version": model.version,
                    "inference_count": stats.inference_count,
                    "execution_count": stats.execution_count,
                    "inference_stats": {
                        "success": {"count": stats.success_count, "ns": sum(stats.compute_ns.values())},
                        "fail": {"count": stats.failure_count, "ns": 0},
                        "queue": {"count": stats.success_count, "ns": stats.queue_ns},
                        "compute_infer": {
                            "count": stats.execution_count,
                            "ns": sum(stats.compute_ns.values()),
                        },
                    },
                    "batch_stats": [
                        {
                            "batch_size": size,
                            "compute_infer": {"count": count, "ns": stats.compute_ns[size]},
                        }
                        for size, count in sorted(stats.executions.items())
                    ],
                }
            )
        if name is not None and not entries:
            self.model(name)  # raises the 404
        return {"model_stats": entries}

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()


def _validate(model: LoadedModel, request: InferRequest) -> tuple[dict[str, np.ndarray], int]:
    """The request's inputs as the model takes them, and its batch size; 400 as Triton words it."""
    config = model.config
    prefix = f"[request id: {request.id or '<id_unknown>'}]"
    declared = {t.name: t for t in config.inputs}
    for name in request.inputs:
        if name not in declared:
            raise ServiceError(
                HTTPStatus.BAD_REQUEST,
                f"{prefix} unexpected inference input '{name}' for model '{config.name}'",
            )
    rows: int | None = None
    inputs: dict[str, np.ndarray] = {}
    for name, tensor in declared.items():
        array = request.inputs.get(name)
        if array is None:
            raise ServiceError(
                HTTPStatus.BAD_REQUEST,
                f"{prefix} expected {len(declared)} inputs but got {len(request.inputs)} inputs for model "
                f"'{config.name}'. Got input(s) {list(request.inputs)}, but missing required input(s) "
                f"['{name}']",
            )
        if datatype_of(array) != tensor.datatype:
            raise ServiceError(
                HTTPStatus.BAD_REQUEST,
                f"{prefix} inference input '{name}' data-type is '{datatype_of(array)}', but model "
                f"'{config.name}' expects '{tensor.datatype}'",
            )
        shape = list(array.shape)
        body = shape[1:] if config.batched else shape
        fits = len(body) == len(tensor.dims) and all(
            d in (-1, s) for d, s in zip(tensor.dims, body, strict=True)
        )
        if not fits or (config.batched and not shape):
            raise ServiceError(
                HTTPStatus.BAD_REQUEST,
                f"{prefix} unexpected shape for input '{name}' for model '{config.name}'. Expected "
                f"{_dims(tensor.shape(config.batched))}, got {_dims(shape)}",
            )
        if config.batched:
            if rows is not None and shape[0] != rows:
                raise ServiceError(
                    HTTPStatus.BAD_REQUEST, f"{prefix} inputs of model '{config.name}' differ in batch size"
                )
            rows = shape[0]
        inputs[name] = array
    rows = rows if rows is not None else 1
    if config.batched and not 1 <= rows <= config.max_batch_size:
        raise ServiceError(
            HTTPStatus.BAD_REQUEST,
            f"{prefix} inference request batch-size must be <= {config.max_batch_size} for '{config.name}'",
        )
    if not config.batched:
        inputs = {name: array[np.newaxis] for name, array in inputs.items()}  # the batcher's row axis
    return inputs, rows


def _dims(shape: list[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"  # Triton's spelling: [-1,320,320,3]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: SageMaker reuses its connections
    server: InferenceServer

    def do_GET(self) -> None:
        service = self.server.service
        path = self.path.split("?", 1)[0]
        try:
            if path == "/ping":
                status = HTTPStatus.OK if service.ready else HTTPStatus.SERVICE_UNAVAILABLE
                self._send(status, JSON_CONTENT_TYPE, b"")
            elif path in ("/v2/health/live", "/v2/health/ready"):
                self._send(HTTPStatus.OK if service.ready else HTTPStatus.BAD_REQUEST, JSON_CONTENT_TYPE, b"")
            elif path == "/v2":
                self._json(
                    {"name": SERVER_NAME, "version": "1", "extensions": ["binary_tensor_data", "statistics"]}
                )
            elif path == "/v2/models/stats":
                self._json(service.stats())
            elif (match := _MODEL_PATH.match(path)) is not None:
                name, version, action = match.groups()
                model = service.model(name, version)
                if action is None:
                    self._json(service.metadata(name))
                elif action == "/ready":
                    self._send(HTTPStatus.OK, JSON_CONTENT_TYPE, b"")
                elif action == "/config":
                    self._json(model.config.as_json())
                elif action == "/stats":
                    self._json(service.stats(name))
                else:
                    raise ServiceError(HTTPStatus.METHOD_NOT_ALLOWED, f"GET {path}")
            else:
                raise ServiceError(HTTPStatus.NOT_FOUND, f"no route for GET {path}")
        except ServiceError as error:
            self._send(error.status, JSON_CONTENT_TYPE, error.body())

    def do_POST(self) -> None:
        service = self.server.service
        path = self.path.split("?", 1)[0]
        try:
            body = self._body()
            if path == "/invocations":
                self._invocations(service, body)
                return
            match = _MODEL_PATH.match(path)
            if match is None or match.group(3) != "/infer":
                raise ServiceError(HTTPStatus.NOT_FOUND, f"no route for POST {path}")
            length = self.headers.get(HEADER_LENGTH_HEADER)
            if length is not None and not (length.isascii() and length.isdigit()):
                raise ServiceError(HTTPStatus.BAD_REQUEST, f"{HEADER_LENGTH_HEADER}: {length[:20]!r}")
            answer = service.infer(
                match.group(1), Payload(body, int(length) if length else None), version=match.group(2)
            )
        except ServiceError as error:
            self._send(error.status, JSON_CONTENT_TYPE, error.body())
            return
        if answer.json_length is None:
            self._send(HTTPStatus.OK, JSON_CONTENT_TYPE, answer.body)
        else:
            self._send(
                HTTPStatus.OK,
                "application/octet-stream",
                answer.body,
                {HEADER_LENGTH_HEADER: str(answer.json_length)},
            )

    def _invocations(self, service: InferenceService, body: bytes) -> None:
        """SageMaker's route: the default model; binary tensors announced in the content type."""
        try:
            payload = from_sagemaker(body, self.headers.get("Content-Type"))
        except ProtocolError as error:
            raise ServiceError(HTTPStatus.BAD_REQUEST, str(error)) from None
        try:
            answer = service.infer(service.default_model, payload)
        except ServiceError as error:
            if error.status != HTTPStatus.INTERNAL_SERVER_ERROR or not error.failed_model:
                raise
            # Triton's SageMaker front answers a failed inference with 400, or 507 when out of memory
            status = 507 if any(text in error.message for text in _OUT_OF_MEMORY) else HTTPStatus.BAD_REQUEST
            raise ServiceError(status, error.message) from None
        if answer.json_length is None:
            self._send(HTTPStatus.OK, JSON_CONTENT_TYPE, answer.body)
        else:
            self._send(HTTPStatus.OK, f"{SAGEMAKER_BINARY_CONTENT_TYPE}{answer.json_length}", answer.body)

    def _body(self) -> bytes:
        raw = self.headers.get("Content-Length") or "0"
        length = int(raw) if raw.isascii() and raw.isdigit() else -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            raise ServiceError(HTTPStatus.BAD_REQUEST, f"request body of {raw[:20]} bytes is not accepted")
        return self.rfile.read(length)

    def _json(self, document: dict[str, Any]) -> None:
        self._send(HTTPStatus.OK, JSON_CONTENT_TYPE, json.dumps(document).encode())

    def _send(
        self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
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
