"""Triton on SageMaker, on loopback and on CPU: the Triton stand-in behind a stand-in for SageMaker's runtime.

Two HTTP servers on 127.0.0.1, as in AWS:

- the inference container: the Triton stand-in (``containers/inference``, package ``bgremove_inference``)
  serving a Triton model repository built from the repository's ``models/`` by
  ``layers/model/triton_repo.py --device cpu`` (the engine's own ONNX file, with its pre- and
  post-processing in the graph and a dynamic batch dimension): ``GET /ping``, ``POST /invocations`` (KServe
  v2), Triton's dynamic batching as the model's ``config.pbtxt`` sets it, its statistics;
- a runtime front that answers ``POST /endpoints/{name}/invocations`` the way ``sagemaker-runtime``'s
  ``InvokeEndpoint`` does: it forwards the body and its content type to the container, passes a 200 through
  with the container's content type, and wraps any other answer of the container in SageMaker's
  ``ModelError`` (HTTP 424, ``OriginalStatusCode``, ``OriginalMessage``). An unknown endpoint name is
  SageMaker's ``ValidationError``.

boto3's ``sagemaker-runtime`` client reaches the front unchanged when given its URL as ``endpoint_url``,
or through ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` (:meth:`LocalInference.function_environment`), which is
how the local runner points the function at it. Faults can be injected at the front (:class:`Fault`):
SageMaker throttling or 503s, and delays that outlast the function's read timeout.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bgremove.models import DEFAULT_MODEL
from bgremove_local.template import ACCOUNT_ID, REGION

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILDER = REPO_ROOT / "layers" / "model" / "triton_repo.py"

ENDPOINT_NAME = "bgremove-local-inference"
"""The endpoint name the local runner deploys (template parameter ``GpuEndpointName``)."""

_INVOCATIONS = re.compile(r"^/endpoints/([^/]+)/invocations$")
_FORWARD_TIMEOUT_S = 120


class FaultKind(StrEnum):
    """What the runtime front does instead of forwarding a request."""

    THROTTLE = "throttle"
    """SageMaker's ``ThrottlingException`` (HTTP 400)."""
    UNAVAILABLE = "unavailable"
    """SageMaker's ``ServiceUnavailable`` (HTTP 503)."""
    DELAY = "delay"
    """Wait ``delay_s`` before forwarding (past the client's read timeout: a timeout)."""
    DOWN = "down"
    """Close the connection without an answer, as an endpoint that is gone."""


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    delay_s: float = 0.0


def cpu_repository(models_dir: Path, model: str) -> Path:
    """The Triton repository of ``model`` for CPU under ``models_dir/.triton-cpu``, built if missing or stale.

    ``layers/model/triton_repo.py --device cpu`` (in the pinned tool venv of ``make model``): the engine's own
    file, wrapped; a repository already up to date is kept (about a second to check).
    """
    command = [sys.executable, str(BUILDER), model, "--device", "cpu", "--models-dir", str(models_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"building the Triton repository of {model} failed: {done.stderr.strip()[-2000:]}")
    return models_dir / ".triton-cpu"


class LocalInference:
    """The Triton stand-in and a SageMaker runtime front, both on loopback.

    Parameters
    ----------
    models_dir
        Where the engine's ONNX files are (the repository is built from them, under ``.triton-cpu``).
    model
        The model the endpoint serves (``SAGEMAKER_TRITON_DEFAULT_MODEL_NAME``).
    endpoint_name
        The one endpoint the front knows.
    max_batch, queue_delay_us
        Triton's dynamic batching (``max_batch_size``, ``max_queue_delay_microseconds``): written into this
        instance's copy of the model's ``config.pbtxt``; ``None`` keeps the built config's values.
    threads
        ONNX Runtime threads of the container (0: every core).
    """

    def __init__(
        self,
        models_dir: Path,
        *,
        model: str = DEFAULT_MODEL,
        endpoint_name: str = ENDPOINT_NAME,
        max_batch: int | None = None,
        queue_delay_us: int | None = None,
        threads: int = 0,
    ) -> None:
        from bgremove_inference.server import InferenceServer, InferenceService  # noqa: PLC0415
        from bgremove_inference.settings import ServerSettings  # noqa: PLC0415

        built = cpu_repository(models_dir, model)
        self._scratch = tempfile.TemporaryDirectory(prefix="bgremove-triton-")
        self.repository = Path(self._scratch.name)
        _instance_copy(built / model, self.repository / model, max_batch, queue_delay_us)
        settings = ServerSettings(
            repository=self.repository, default_model=model, host="127.0.0.1", port=0, threads=threads
        )
        self.model = model
        self.endpoint_name = endpoint_name
        self.container = InferenceServer(InferenceService(settings), "127.0.0.1", 0)
        self.front = _RuntimeFront(self)
        self.fault: Fault | None = None
        self.requests = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """The runtime front's URL: ``endpoint_url`` for boto3's ``sagemaker-runtime`` client."""
        host, port = self.front.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalInference:
        self.container.start()
        thread = threading.Thread(target=self.front.serve_forever, name="sagemaker-front", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both servers: afterwards every call is refused (connection refused), as an endpoint gone."""
        self.front.shutdown()
        self.front.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self.container.stop()
        self._scratch.cleanup()

    def __enter__(self) -> LocalInference:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def function_environment(self) -> dict[str, str]:
        """What the function needs to reach the front through its ordinary ``sagemaker-runtime`` client."""
        return {"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.url}

    def stats(self) -> dict[str, Any]:
        """The container's ``GET /v2/models/{model}/stats`` (Triton's statistics extension)."""
        stats: dict[str, Any] = self.container.service.stats(self.model)["model_stats"][0]
        return stats

    def batch_sizes(self) -> dict[int, int]:
        """Batch size -> executions of that size the container ran (its ``batch_stats``)."""
        return {entry["batch_size"]: entry["compute_infer"]["count"] for entry in self.stats()["batch_stats"]}

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1


def _instance_copy(built: Path, target: Path, max_batch: int | None, queue_delay_us: int | None) -> None:
    """``target``: the built model's config with these batching values, and links to its version folders."""
    config = (built / "config.pbtxt").read_text()
    if max_batch is not None:
        config = re.sub(r"(?m)^max_batch_size: \d+$", f"max_batch_size: {max_batch}", config)
    if queue_delay_us is not None:
        config = re.sub(
            r"max_queue_delay_microseconds: \d+", f"max_queue_delay_microseconds: {queue_delay_us}", config
        )
    target.mkdir(parents=True)
    (target / "config.pbtxt").write_text(config)
    for version in (p for p in built.iterdir() if p.is_dir() and p.name.isdigit()):
        os.symlink(version.resolve(), target / version.name, target_is_directory=True)


class _RuntimeFront(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, inference: LocalInference) -> None:
        super().__init__(("127.0.0.1", 0), _FrontHandler)
        self.inference = inference


class _FrontHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RuntimeFront

    def do_POST(self) -> None:
        inference = self.server.inference
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        inference.count_request()
        match = _INVOCATIONS.match(self.path)
        if match is None or match.group(1) != inference.endpoint_name:
            name = match.group(1) if match else self.path
            message = f"Endpoint {name} of account {ACCOUNT_ID} not found."
            self._error(HTTPStatus.BAD_REQUEST, "ValidationError", {"message": message})
            return
        fault = inference.fault
        if fault is not None and fault.kind is FaultKind.DOWN:
            self.close_connection = True
            return
        if fault is not None and fault.kind is FaultKind.THROTTLE:
            self._error(HTTPStatus.BAD_REQUEST, "ThrottlingException", {"message": "Rate exceeded"})
            return
        if fault is not None and fault.kind is FaultKind.UNAVAILABLE:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable", {"message": "unavailable"})
            return
        if fault is not None and fault.kind is FaultKind.DELAY:
            time.sleep(fault.delay_s)
        host, port = inference.container.server_address[:2]
        connection = http.client.HTTPConnection(str(host), int(port), timeout=_FORWARD_TIMEOUT_S)
        try:
            connection.request(
                "POST",
                "/invocations",
                body=body,
                headers={
                    "Content-Type": self.headers.get("Content-Type") or "application/octet-stream",
                    "Accept": self.headers.get("Accept") or "application/octet-stream",
                },
            )
            response = connection.getresponse()
            answer = response.read()
        except OSError as error:  # the container is gone: SageMaker reports its own 5xx
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "ServiceUnavailable", {"message": str(error)})
            return
        finally:
            connection.close()
        if response.status != HTTPStatus.OK:
            said = answer.decode(errors="replace")
            log_group = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/"
            self._error(
                HTTPStatus.FAILED_DEPENDENCY,
                "ModelError",
                {
                    "message": f"Received error ({response.status}) from primary with message {said!r}",
                    "OriginalStatusCode": response.status,
                    "OriginalMessage": said,
                    "LogStreamArn": log_group + inference.endpoint_name,
                },
            )
            return
        self._send(
            HTTPStatus.OK,
            response.getheader("Content-Type") or "application/octet-stream",
            answer,
            {"x-Amzn-Invoked-Production-Variant": "AllTraffic"},
        )

    def _error(self, status: int, code: str, fields: dict[str, Any]) -> None:
        # botocore's rest-json parser reads the code from this header and the modelled fields from the body.
        self._send(status, "application/json", json.dumps(fields).encode(), {"x-amzn-ErrorType": f"{code}:"})

    def _send(self, status: int, content_type: str, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up first (its read timeout)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request otherwise


def pipeline_arguments(inference: LocalInference) -> dict[str, Any]:
    """:func:`~bgremove_local.runner.running_pipeline` arguments that send the default model to ``inference``.

    The template's own switch (``GpuEndpoint=existing``, ``GpuEndpointName``) sets the function's
    ``SAGEMAKER_ENDPOINT_NAME``; the environment points its ``sagemaker-runtime`` client at the front.
    """
    return {
        "overrides": {"GpuEndpoint": "existing", "GpuEndpointName": inference.endpoint_name},
        "environment": inference.function_environment(),
    }
