"""The whole stack on loopback, shared by the tests of tests/integration/api: the pipeline (processor, jobs
and webhooks functions behind their SQS pollers) on moto, the API adapter in front of it, the fast model
(``u2netp``) as the deployment default, a small image server, and a webhook receiver that records every
delivery (and can answer 500 to the first tries, to see retries).

It starts once for the package (:class:`SharedStack`, the ``shared_stack`` fixture of the package's
conftest.py); each test module sees it through :meth:`SharedStack.for_module`, with an API key and a webhook
receiver of its own, so that job lists, usage, rate limits and deliveries stay the module's.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

from bgremove_local.api_server import running_api
from bgremove_local.runner import Pipeline, running_pipeline
from tests.integration.api.api_stack import (
    API_TEST_ENVIRONMENT,
    FIXTURES,
    OVERRIDES,
    TEMPLATE,
    ApiStack,
    image_server,
)

WEBHOOK_RETRY_DELAYS_S = "1,1,1"
"""Retries after 1 s each on the local stack (30 s, 2, 8 and 15 min in AWS)."""


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Records every POST; answers 500 to the first ``fail_first`` POSTs to a path ending ``/flaky``."""

    url: str = ""
    fail_first: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    refused: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, delivery: Delivery) -> int:
        with self._lock:
            refused_here = sum(1 for d in self.refused if d.path == delivery.path)
            if delivery.path.endswith("/flaky") and refused_here < self.fail_first:
                self.refused.append(delivery)
                return 500
            self.deliveries.append(delivery)
            return 200

    def wait_for(self, path: str, count: int = 1, timeout_s: float = 60.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                found = [d for d in self.deliveries if d.path == path]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{count} deliveries to {path} expected, got {len(found)}")


def _receiver_handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.record(Delivery(self.path, headers, body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(receiver))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass(frozen=True)
class AsyncStack(ApiStack):
    """The API with the pipeline behind it: an :class:`ApiStack` that also runs jobs and webhooks."""

    pipeline: Pipeline
    receiver: WebhookReceiver

    def other_key(self, name: str) -> str:
        key, _ = self.api.runtime.keys.create(name)
        return str(key)


@contextmanager
def async_stack() -> Iterator[AsyncStack]:
    """Start everything; stop it all when the block ends (the process environment is the functions' until
    then)."""
    with ExitStack() as stack:
        pipeline = stack.enter_context(
            running_pipeline(
                overrides=OVERRIDES,
                quiet=True,
                environment={
                    "BGREMOVE_DEFAULT_MODEL": "u2netp",
                    "WEBHOOK_RETRY_DELAYS_S": WEBHOOK_RETRY_DELAYS_S,
                },
                allow_loopback=True,  # the webhook receiver listens on 127.0.0.1
            )
        )
        images = stack.enter_context(image_server())
        receiver = stack.enter_context(webhook_receiver())
        # keys without limits of their own may send quickly; the rate limit tests make keys with low ones
        extra = {**API_TEST_ENVIRONMENT, "DEFAULT_RATE_PER_SECOND": "1000", "DEFAULT_MAX_IN_FLIGHT": "100"}
        api = stack.enter_context(
            running_api(pipeline.cloud, TEMPLATE, port=0, overrides=OVERRIDES, environment=extra, echo=None)
        )
        yield AsyncStack(api, images, pipeline.cloud, pipeline, receiver)


class SharedStack:
    """One :func:`async_stack` for many test modules: started on first use, stopped by :meth:`close`.

    One stack at a time per process: moto's state is global and the stack sets the process environment,
    so tests that start stacks of their own close this one first (it starts again when next asked for).
    """

    def __init__(self) -> None:
        self._running: ExitStack | None = None
        self._stack: AsyncStack | None = None

    def get(self) -> AsyncStack:
        if self._stack is None:
            with ExitStack() as starting:
                self._stack = starting.enter_context(async_stack())
                self._running = starting.pop_all()
        return self._stack

    @contextmanager
    def for_module(self, name: str) -> Iterator[AsyncStack]:
        """The stack as one test module sees it: its own API key (its job lists, usage and rate limits) and
        its own webhook receiver (its deliveries and refusals)."""
        shared = self.get()
        key, _ = shared.api.runtime.keys.create(f"{name}-{uuid.uuid4().hex[:8]}")
        with webhook_receiver() as receiver:
            yield replace(shared, api=replace(shared.api, key=str(key)), receiver=receiver)

    def close(self) -> None:
        running, self._running, self._stack = self._running, None, None
        if running is not None:
            running.close()


def small_jpeg(side: int = 64) -> bytes:
    """A tiny JPEG (jobs that only need to exist)."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (200, 80, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def photo() -> bytes:
    return (FIXTURES / "coffee.jpg").read_bytes()
