"""The HTTP API on loopback, as ``sam local start-api`` would serve it: HTTP requests become API Gateway REST
proxy events (payload format 1.0) for the real handler (``bgremove_api.app.lambda_handler``), and its proxy
results become HTTP responses.

As the deployed REST API does (``BinaryMediaTypes: "*/*"``), every request body reaches the handler
base64-encoded, and a body over API Gateway's 10 MB limit is answered by the "gateway" (413, in a body both
dialects' clients read) without invoking the function. One handler instance serves one request at a time,
as one Lambda execution environment does; the rate-limit counters live in the emulator's DynamoDB.

Fixed interface (scripts rely on it): ``http://127.0.0.1:4580`` (``API_PORT`` changes it); the key is
``BGREMOVE_API_KEY`` when set (stored in the local ApiKeys table), otherwise one is created and printed
on a line starting ``api key:``; ``api ready: <url>`` is printed once requests are accepted.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from bgremove_local.emulator import LocalCloud
from bgremove_local.template import ACCOUNT_ID, REGION, Template

DEFAULT_API_PORT = 4580
API_PORT_ENV = "API_PORT"
API_KEY_ENV = "BGREMOVE_API_KEY"
API_FUNCTION = "ApiFunction"
LOCAL_KEY_NAME = "local"
STAGE = "local"

MAX_GATEWAY_BODY_BYTES = 10 * 1024 * 1024
"""API Gateway's request body limit: larger requests never reach the function."""

GATEWAY_TOO_LARGE_BODY = {
    # What template.yaml's REQUEST_TOO_LARGE gateway response sends: both dialects' error shapes in one body.
    "error": {"status": 413, "code": 1009, "message": "request over 10 MB: send image.url instead"},
    "errors": [
        {
            "title": "File too large",
            "code": "file_too_large",
            "detail": "request over 10 MB: send image_url instead",
        }
    ],
}

MAX_LAMBDA_EVENT_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous invocation limit, on the whole event as JSON (bodies in it are base64): raw
uploads over about 4.4 MB never reach the function."""

LAMBDA_TOO_LARGE_BODY = {
    # Lambda refuses the invocation before the function runs. What AWS's client then sees is API Gateway's
    # answer to the failed integration; here it is a 413 in both dialects' shapes, like REQUEST_TOO_LARGE.
    "error": {
        "status": 413,
        "code": 1009,
        "message": "request over Lambda's 6 MB (uploads over about 4.4 MB): send image.url instead",
    },
    "errors": [
        {
            "title": "File too large",
            "code": "file_too_large",
            "detail": "request over Lambda's 6 MB (uploads over about 4.4 MB): send image_url instead",
        }
    ],
}

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of Lambda's context object that powertools' logger and the handler read; the
    remaining time counts down from ``timeout_s`` at creation, as Lambda's does."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


def proxy_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str = "127.0.0.1"
) -> dict[str, Any]:
    """An API Gateway REST proxy event (v1) for one HTTP request; the body base64-encoded (binary)."""
    parts = urlsplit(target)
    query = parse_qsl(parts.query, keep_blank_values=True)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    request_id = str(uuid.uuid4())
    return {
        "resource": "/{proxy+}",
        "path": parts.path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": parts.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/{STAGE}{parts.path}",
            "stage": STAGE,
            "requestId": request_id,
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": dict(headers).get("User-Agent", "")},
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def proxy_result(result: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body bytes of a Lambda proxy result."""
    headers: list[tuple[str, str]] = []
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(v)) for v in values)
    named = {name.lower() for name, _ in headers}
    headers.extend((n, str(v)) for n, v in (result.get("headers") or {}).items() if n.lower() not in named)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return int(result["statusCode"]), headers, body


class ApiGateway:
    """Turns HTTP requests into proxy events for ``handler``, one at a time, like one Lambda instance."""

    def __init__(self, handler: Handler, function_name: str, timeout_s: int, memory_mb: int) -> None:
        self._handler = handler
        self._function_name = function_name
        self._timeout_s = timeout_s
        self._memory_mb = memory_mb
        self._instance = threading.Lock()

    @staticmethod
    def too_large() -> tuple[int, list[tuple[str, str]], bytes]:
        """The gateway's own answer to a body over 10 MB (the function is not invoked)."""
        return 413, list(GATEWAY_HEADERS), json.dumps(GATEWAY_TOO_LARGE_BODY).encode()

    def invoke(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if len(body) > MAX_GATEWAY_BODY_BYTES:
            return self.too_large()
        event = proxy_event(method, target, headers, body)
        if len(json.dumps(event).encode()) > MAX_LAMBDA_EVENT_BYTES:
            # Lambda refuses the invocation; the function never runs.
            return 413, list(GATEWAY_HEADERS), json.dumps(LAMBDA_TOO_LARGE_BODY).encode()
        with self._instance:  # the function's time starts when the instance takes the request
            context = LambdaContext(self._function_name, self._memory_mb, self._timeout_s, str(uuid.uuid4()))
            result = self._handler(event, context)
        return proxy_result(result)


def _request_handler(gateway: ApiGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            declared = (self.headers.get("Content-Length") or "").strip()
            if self.headers.get("Transfer-Encoding") and not declared:
                # A body without a length (chunked) is not read: answered, then the connection closed.
                self.close_connection = True
                status, headers, body = _plain_error(411, "Length Required")
            elif declared and not (declared.isascii() and declared.isdigit()):
                self.close_connection = True
                status, headers, body = _plain_error(400, "Bad Content-Length")
            elif int(declared or 0) > MAX_GATEWAY_BODY_BYTES:
                # Refused before the body is read, as API Gateway does; the connection cannot be reused.
                self.close_connection = True
                status, headers, body = gateway.too_large()
            else:
                length = int(declared or 0)
                data = self.rfile.read(length) if length else b""
                status, headers, body = gateway.invoke(
                    self.command, self.path, list(self.headers.items()), data
                )
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        # BaseHTTPRequestHandler dispatches on do_<METHOD>: every method goes to the function, as in AWS.
        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve  # noqa: N815

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # The HTTP server's own refusals (a request line or headers too long, a method API Gateway
            # does not route) as JSON like the gateway's, never an HTML page; an unknown method is 405.
            status, headers, body = _plain_error(405 if code == 501 else code, message or "bad request")
            self.close_connection = True
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and code >= 200:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet, like the rest of the local runner

    return Handler


GATEWAY_HEADERS = (("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff"))
"""Headers of the answers the gateway gives itself (the function's own carry the same ``nosniff``)."""


def _plain_error(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, list(GATEWAY_HEADERS), json.dumps({"message": message}).encode()


def api_environment(template: Template, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The API function's environment variables from the template (names resolved for the emulator)."""
    props = template.properties(API_FUNCTION)
    variables = props.get("Environment", {}).get("Variables", {})
    return {**{k: str(v) for k, v in variables.items()}, **(extra or {})}


@dataclass
class RunningApi:
    """A served API: its base URL, the key to call it with, and the handler's runtime (keys, settings)."""

    url: str
    key: str
    server: ThreadingHTTPServer
    runtime: Any


def load_api_handler(template: Template, code_root: Path) -> Handler:
    """Import the API function's handler from its code folder, as Lambda does."""
    props = template.properties(API_FUNCTION)
    code_dir = (code_root / str(props["CodeUri"])).resolve()
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    module_name, _, attribute = str(props["Handler"]).rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


@contextmanager
def running_api(
    cloud: LocalCloud,
    template_path: Path,
    *,
    port: int | None = None,
    key: str | None = None,
    overrides: Mapping[str, str] | None = None,
    environment: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = print,
) -> Iterator[RunningApi]:
    """Serve the API function on 127.0.0.1 against ``cloud`` (already started) until the block ends.

    Parameters
    ----------
    port
        ``None``: ``API_PORT`` or 4580; 0: any free port (tests).
    key
        ``None``: ``BGREMOVE_API_KEY`` when set, else a new key (printed on an ``api key:`` line).
    environment
        Added to the function's variables (e.g. ``URL_FETCH_ALLOW_LOOPBACK=true`` for tests that fetch
        from a local server: off unless asked for, as in AWS).
    """
    template = Template(template_path, cloud.endpoint, dict(overrides or {}))
    env = api_environment(template, environment)
    # The handler's modules read only what they are given: settings from this mapping, AWS endpoints and
    # credentials from the process environment, which the local runner points at the emulator.
    handler = load_api_handler(template, template_path.parent)  # puts functions/api on sys.path first
    from bgremove_api.app import runtime_from_env  # noqa: PLC0415
    from bgremove_api.runtime import use_runtime  # noqa: PLC0415

    runtime = runtime_from_env(env)
    use_runtime(runtime)
    key = key if key is not None else os.environ.get(API_KEY_ENV) or None
    if key is None:
        key, _ = runtime.keys.create(f"{LOCAL_KEY_NAME}-{uuid.uuid4().hex[:8]}")
        if echo:
            echo(f"api key: {key}")
    else:
        store_key(runtime, key, cloud.endpoint)
    props = template.properties(API_FUNCTION)
    gateway = ApiGateway(
        handler, API_FUNCTION, int(props.get("Timeout", 29)), int(props.get("MemorySize", 128))
    )
    chosen = port if port is not None else int(os.environ.get(API_PORT_ENV) or DEFAULT_API_PORT)
    server = ThreadingHTTPServer(("127.0.0.1", chosen), _request_handler(gateway))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="api-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    if echo:
        echo(f"api ready: {url}")
    try:
        yield RunningApi(url, key, server, runtime)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        use_runtime(None)


def store_key(runtime: Any, key: str, endpoint: str = "http://127.0.0.1:4577") -> None:
    """Put a given key (``BGREMOVE_API_KEY``, made by ``bgremove-keys create``) into the local ApiKeys
    table, with the function's default limits.

    Raises
    ------
    SystemExit
        ``key`` is not of the form ``bgremove-keys`` makes: what the form is and how to get one.
    """
    from bgremove_api.exceptions import KeyNameTakenError  # noqa: PLC0415

    key = key.strip()
    try:
        runtime.keys.add(key, f"{LOCAL_KEY_NAME}-{key.split('_')[1] if key.count('_') >= 2 else ''}")
    except ValueError:
        raise SystemExit(
            f"{API_KEY_ENV} is not a key of the form bgremove-keys makes: bgr_<12 hex digits>_<43 characters "
            f"of A-Z a-z 0-9 _ ->. Unset it and the server makes one and prints it on its 'api key:' line, "
            f"or make one with: bgremove-keys --endpoint-url {endpoint} create NAME"
        ) from None
    except KeyNameTakenError:
        pass  # the same key given again: it is stored already


# ----------------------------------------------------------------------------------------------- make run
@dataclass(frozen=True)
class ApiSample:
    """One request ``make run`` sends through the local API, as a client of that dialect would."""

    name: str
    path: str
    headers: dict[str, str]
    body: bytes
    shown_options: str


def api_samples(key: str, image: bytes) -> tuple[ApiSample, ...]:
    """One request per dialect: Pixian (urlencoded, HTTP Basic) and remove.bg (JSON, X-Api-Key)."""
    encoded = base64.b64encode(image).decode()
    basic = base64.b64encode(f"local:{key}".encode()).decode()
    pixian_form = {
        "image.base64": encoded,
        "background.color": "#ffffff",
        "result.crop_to_foreground": "true",
    }
    return (
        ApiSample(
            "api: pixian v2",
            "/api/v2/remove-background",
            {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
            urlencode(pixian_form).encode(),
            "background.color=#ffffff result.crop_to_foreground=true",
        ),
        ApiSample(
            "api: remove.bg v1.0",
            "/v1.0/removebg",
            {"X-Api-Key": key, "Content-Type": "application/json"},
            json.dumps({"image_file_b64": encoded, "size": "auto", "crop": True}).encode(),
            "size=auto crop=true",
        ),
    )


def send_sample(url: str, sample: ApiSample) -> tuple[int, dict[str, str], bytes, float]:
    """POST ``sample``; returns status, headers, body and seconds taken."""
    request = urllib.request.Request(
        url + sample.path, data=sample.body, headers=sample.headers, method="POST"
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read(), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read(), time.monotonic() - started


def async_api_samples(key: str, image: bytes) -> tuple[ApiSample, ...]:
    """One job per asynchronous dialect: Replicate (``Prefer: wait``), OpenAI-style, Apiframe (polled)."""
    data_uri = "data:image/jpeg;base64," + base64.b64encode(image).decode()
    bearer = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    chat = {
        "model": "remove-bg",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_uri}}]}],
    }
    apiframe = {"model": "851-bg-remove", "lab851BgRemoveParams": {"image": data_uri, "format": "png"}}
    return (
        ApiSample(
            "api: replicate",
            "/v1/predictions",
            {**bearer, "Prefer": "wait"},
            json.dumps({"version": "u2netp", "input": {"image": data_uri}}).encode(),
            "version=u2netp",
        ),
        ApiSample(
            "api: openai-style", "/v1/chat/completions", bearer, json.dumps(chat).encode(), "model=remove-bg"
        ),
        ApiSample(
            "api: apiframe v2",
            "/v2/images/background-remove",
            {"X-API-Key": key, "Content-Type": "application/json"},
            json.dumps(apiframe).encode(),
            "format=png",
        ),
    )


def send_async_sample(
    url: str, sample: ApiSample, timeout_s: float = 60
) -> tuple[int, dict[str, str], bytes, float]:
    """Submit ``sample``, follow its dialect's answer to the result bytes; returns as :func:`send_sample`."""
    started = time.monotonic()
    status, headers, body, _ = send_sample(url, sample)
    if status not in (200, 201, 202):
        return status, headers, body, time.monotonic() - started
    answer = json.loads(body)
    auth = {k: v for k, v in sample.headers.items() if k in ("Authorization", "X-API-Key")}
    deadline = started + timeout_s
    if "jobId" in answer:  # Apiframe: poll the job until it ends
        while answer.get("status") not in ("COMPLETED", "FAILED") and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = _get_json(f"{url}/v2/jobs/{answer.get('id') or answer['jobId']}", auth)
        result, auth = answer.get("result"), {}
    elif "choices" in answer:  # OpenAI-style: the content is a presigned URL
        result, auth = answer["choices"][0]["message"]["content"], {}
    else:  # Replicate: wait on the prediction, then read its output with the key
        while answer.get("status") in ("starting", "processing") and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = _get_json(answer["urls"]["get"], auth)
        result = answer.get("output")
    if not result:
        return 500, {}, json.dumps(answer).encode(), time.monotonic() - started
    request = urllib.request.Request(str(result), headers=auth)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read(), time.monotonic() - started


def _get_json(url: str, headers: Mapping[str, str]) -> dict[str, Any]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=dict(headers)), timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer
