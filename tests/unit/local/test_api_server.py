"""The local API adapter as API Gateway and Lambda behave: events over Lambda's 6 MB are refused before the
function runs (a 413 both dialects' clients read), unknown paths are 404, and a request whose length
cannot be known (negative, garbage, chunked) is refused instead of hanging or reading nothing."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from bgremove_local.api_server import MAX_LAMBDA_EVENT_BYTES, ApiGateway, _request_handler, store_key
from tests.unit.api.fakes import Api, fake_api


class RecordingHandler:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}


def test_an_event_over_lambdas_limit_never_reaches_the_function() -> None:
    handler = RecordingHandler()
    gateway = ApiGateway(handler, "ApiFunction", 29, 2048)
    raw_limit = MAX_LAMBDA_EVENT_BYTES * 3 // 4  # base64 in the event
    status, _, body = gateway.invoke("POST", "/v1.0/removebg", [], b"\xff" * raw_limit)
    assert status == 413 and handler.events == []
    answer = json.loads(body)
    assert answer["error"]["code"] == 1009 and "image.url" in answer["error"]["message"]
    assert answer["errors"][0]["code"] == "file_too_large" and "image_url" in answer["errors"][0]["detail"]
    status, _, _ = gateway.invoke("POST", "/v1.0/removebg", [], b"\xff" * (raw_limit - 8 * 1024))
    assert status == 200 and len(handler.events) == 1


@pytest.fixture
def server() -> Iterator[tuple[str, int, RecordingHandler]]:
    handler = RecordingHandler()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _request_handler(ApiGateway(handler, "f", 29, 128)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", httpd.server_address[1], handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Length": "-5"}, 400),
        ({"Content-Length": "ten"}, 400),
        ({"Transfer-Encoding": "chunked"}, 411),
    ],
)
def test_a_body_of_unknown_length_is_refused(
    server: tuple[str, int, RecordingHandler], headers: dict[str, str], status: int
) -> None:
    host, port, handler = server
    connection = http.client.HTTPConnection(host, port, timeout=5)
    connection.putrequest("POST", "/api/v2/remove-background", skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    if "Transfer-Encoding" in headers:
        connection.send(b"4\r\nabcd\r\n0\r\n\r\n")
    response = connection.getresponse()
    assert response.status == status
    connection.close()
    assert handler.events == []


@pytest.fixture
def api() -> Iterator[Api]:
    with fake_api() as running:
        yield running


def test_an_unknown_path_is_404(api: Api) -> None:
    status, _, data = api.call("GET", "/nope")
    assert status == 404, data
    assert json.loads(data)["error"]["status"] == 404
    status, _, data = api.call("POST", "/v1.0/nope")
    assert status == 404 and json.loads(data)["errors"][0]["code"] == "not_found"


@pytest.mark.parametrize("key", ["", "secret", "bgr_123_abc", "x" * 300, "bgr_0123456789ab_" + "!" * 43])
def test_a_local_key_not_of_the_keys_form_says_what_the_form_is(api: Api, key: str) -> None:
    with pytest.raises(SystemExit, match=r"bgr_<12 hex digits>_<43 characters.*bgremove-keys"):
        store_key(api.runtime, key)


def test_a_local_key_made_elsewhere_is_stored_and_authenticates(api: Api) -> None:
    key = "bgr_0123456789ab_" + "A" * 43
    store_key(api.runtime, key)
    store_key(api.runtime, key)  # given again (a restart with the same key): no error
    assert api.runtime.keys.authenticate(key).key_id == "0123456789ab"
