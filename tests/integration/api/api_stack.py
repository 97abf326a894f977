"""The HTTP API on loopback: template.yaml's tables and buckets on moto, the real handler behind the local API
Gateway adapter, the fast model (``u2netp``) as the deployment default, and a small image server on
127.0.0.1 for URL inputs (loopback allowed by the explicit setting only).

:func:`api_stack` is the API alone (the browser tests'); the tests of tests/integration/api share one whole
stack, the pipeline included (:mod:`tests.integration.api.async_stack`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bgremove_local.api_server import RunningApi, running_api
from bgremove_local.emulator import LocalCloud

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "template.yaml"
FIXTURES = REPO / "tests" / "fixtures" / "images"
OVERRIDES = {"DefaultModel": "u2netp"}

URL_FETCH_MAX_BYTES = 3_000_000
"""The stack's cap on URL inputs: the image server's ``/huge`` is over it."""

URL_FETCH_TIMEOUT_S = 2
"""The stack's URL fetch time limit: the image server's ``/slow`` answers after 3 s."""

API_TEST_ENVIRONMENT = {
    "URL_FETCH_ALLOW_LOOPBACK": "true",
    "URL_FETCH_MAX_BYTES": str(URL_FETCH_MAX_BYTES),
    "URL_FETCH_TIMEOUT_S": str(URL_FETCH_TIMEOUT_S),
}
"""Added to the API function's variables: URL inputs from the image server, and its limits."""


@dataclass(frozen=True)
class ApiStack:
    api: RunningApi
    images: str  # base URL of the local image server
    cloud: LocalCloud

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def key(self) -> str:
        return self.api.key


class _Images(BaseHTTPRequestHandler):
    """``/coffee.jpg`` (any fixture), ``/redirect/N`` (N hops, then the photo), ``/loop``, ``/metadata``
    (a redirect to the instance metadata address), ``/huge`` (over the byte cap), ``/slow``, ``/missing``."""

    def do_GET(self) -> None:
        path = self.path
        if path.startswith("/redirect/"):
            hops = int(path.rsplit("/", 1)[1])
            return self._redirect(f"/redirect/{hops - 1}" if hops > 1 else "/coffee.jpg")
        if path == "/loop":
            return self._redirect("/loop")
        if path == "/metadata":
            return self._redirect("http://169.254.169.254/latest/meta-data/")
        if path == "/huge":
            return self._send(200, b"\xff" * (URL_FETCH_MAX_BYTES + 1), "image/jpeg")
        if path == "/slow":
            time.sleep(URL_FETCH_TIMEOUT_S + 1)
            return self._send(200, (FIXTURES / "coffee.jpg").read_bytes(), "image/jpeg")
        photo = FIXTURES / path.lstrip("/")
        if path.count("/") == 1 and photo.is_file():
            return self._send(200, photo.read_bytes(), "image/jpeg")
        return self._send(404, b"not found", "text/plain")

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # /huge: the fetcher hangs up
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def image_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def api_stack() -> Iterator[ApiStack]:
    """Start everything; the process environment is the function's (as Lambda's) until the block ends."""
    cloud = LocalCloud(TEMPLATE, overrides=OVERRIDES)
    cloud.start()
    saved = dict(os.environ)
    try:
        os.environ.update({k: v for k, v in cloud.function_environment().items() if v != ""})
        os.environ.update({"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_TRACE_DISABLED": "1"})
        with (
            image_server() as images,
            running_api(
                cloud, TEMPLATE, port=0, overrides=OVERRIDES, environment=API_TEST_ENVIRONMENT, echo=None
            ) as api,
        ):
            yield ApiStack(api, images, cloud)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        cloud.stop()
