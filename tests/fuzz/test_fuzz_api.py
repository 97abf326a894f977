"""Fuzz every route of the HTTP API through the real handler (moto tables and bucket, a fake engine).

Requests are drawn as a careless or hostile client sends them: any route the app has (read from the app
itself, so a new route is fuzzed without a change here) and unknown paths; with the key in the dialect's
header, a wrong key or none; bodies that are valid requests of each dialect, mutated ones, random bytes,
JSON of any shape (deep, huge numbers, wrong types), multipart with odd parts and headers, urlencoded;
random query strings and cursors, path parameters, ``Prefer`` and ``Accept`` headers.

Invariants:

- No answer is a 5xx: a client's bytes are always the client's mistake (a dialect's 4xx) or a success. The
  one 5xx allowed is the OpenAI-style chat route's documented "not finished yet" (504 ``JOB_UNFINISHED``
  with ``x-should-retry: false``) when its wait for the job runs out, which here it always does.
- The key is checked before the body is read: without a valid key every authenticated route answers 401
  (403 for remove.bg, as remove.bg does), whatever the body; only unknown paths (404), bodies over the
  size limit (413) and the public routes answer otherwise.
- Under ``make fuzz`` an example (one request) must answer within 2 s; under ``make test`` the profile's
  10 s deadline holds (no timed assertion on a shared CI machine).
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from bgremove_api.app import app
from tests.unit.api.dialects.test_async_routes import Stack, jobs_stack

PUBLIC_PATHS = frozenset({"/", "/docs"})
"""Routes that answer without a key (the try-it page, Swagger UI); every other route needs one."""

ANSWER_WITHIN = (
    timedelta(seconds=2) if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else settings.default.deadline
)
"""Under ``make fuzz``: the slowest answer allowed (parsing included); else the profile's deadline."""

FUNCTION_TIME_S = 3
"""The Lambda context's time per request: waits (``Prefer: wait``, the chat route) end after about 1 s."""

_PARAMETER = re.compile(r"<(\w+)>")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(64))
DATA_URI = "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()


def _routes() -> list[tuple[str, str]]:
    found = [(route.method, route.path) for route in [*app._static_routes, *app._dynamic_routes]]
    assert len(found) >= 15, found  # the resolver's private lists: fail loudly if powertools renames them
    return found


ROUTES = _routes()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with jobs_stack() as running:
        yield running


# ----------------------------------------------------------------------------------------------- values
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            "http://images/a.jpg",
            DATA_URI,
            "http://[::1/",
            "file:///etc/passwd",
            "",
            " ",
            "auto",
            "data:;base64,",
        ]
    ),
    st.sampled_from(["http://127.0.0.1:1/\ud800", "http://x/y?\udfff", "http://localhost/v1/files/\ud800"]),
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
FIELD_NAMES = [
    "image", "image.url", "image.base64", "image_file", "image_file_b64", "image_url", "bg_image_url",
    "bg_image_file", "bg_color", "size", "format", "crop", "scale", "position", "result.margin", "version",
    "input", "webhook", "webhook_events_filter", "model", "messages", "params", "content", "metadata",
    "stream", "idempotency_key", "test", "type", "roi", "channels", "semitransparency",
]  # fmt: skip
field_names = st.sampled_from(FIELD_NAMES) | st.text(max_size=20)


def _valid_bodies() -> list[dict[str, Any]]:
    """One valid request per dialect: the seeds the mutations start from."""
    return [
        {"image.url": "http://images/a.jpg", "result.crop_to_foreground": "true"},
        {"image_url": "http://images/a.jpg", "size": "auto", "bg_color": "fff"},
        {"version": "u2netp", "input": {"image": DATA_URI, "format": "png"}, "webhook": "http://images/h"},
        {"input": {"image": "http://images/a.jpg"}},
        {"model": "remove-bg", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": DATA_URI}}]}]},
        {"model": "851-bg-remove", "params": {"image": DATA_URI}},
    ]  # fmt: skip


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["valid", "mutated", "any", "deep", "number", "raw"]))
    if kind == "valid":
        return json.dumps(draw(st.sampled_from(_valid_bodies()))).encode()
    if kind == "mutated":
        body = dict(draw(st.sampled_from(_valid_bodies())))
        for name in draw(st.lists(field_names, max_size=3)):
            body[name] = draw(json_values)
        return json.dumps(body).encode()
    if kind == "deep":
        depth = draw(st.sampled_from([33, 100, 999, 1001, 5000, 30000]))
        opening, closing = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return (opening * depth + "1" + closing * depth).encode()
    if kind == "number":
        digits = draw(st.sampled_from([20, 400, 4300, 4301, 5000]))
        return json.dumps({"image_url": "http://images/a.jpg", "size": 0}).replace("0", "9" * digits).encode()
    if kind == "raw":
        return draw(st.sampled_from([b"NaN", b'{"a": Infinity}', b"\xff\xfe{", b"[]", b"null", b"{", b'"x"']))
    return json.dumps(draw(json_values)).encode()


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    boundary = draw(st.sampled_from(["b", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "x" * 70]))
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        name = draw(field_names)
        disposition = draw(
            st.sampled_from(
                [
                    f'form-data; name="{name}"',
                    f'form-data; name="{name}"; filename="a.jpg"',
                    f"form-data; name={name}; filename*=UTF-8''%C3%A9.jpg",
                    "form-data",
                    f'form-data; name="{name}"' + "; a=b" * 40,
                    f'form-data; name="{name}"; a*',
                    f'form-data; name="{name}" ' + "(" * 300,
                    f'form-data; name="{name}"' + ";\r\n a;a;a;a;a;a;a;a" * 20,
                    "",
                ]
            )
        )
        content_type = draw(
            st.sampled_from(
                [
                    "",
                    "image/jpeg",
                    "text/plain; charset=utf-8",
                    "text/html",
                    "x",
                    "text/plain; charset=idna",
                    "text/plain; charset=punycode",
                    "text/plain; charset=utf-16",
                    "text/plain; charset=(",
                ]
            )
        )
        head = f"Content-Disposition: {disposition}\r\n" + (
            f"Content-Type: {content_type}\r\n" if content_type else ""
        )
        value = draw(st.binary(max_size=64) | st.just(JPEG) | st.text(max_size=30).map(str.encode))
        parts.append(f"--{boundary}\r\n{head}\r\n".encode() + value + b"\r\n")
    closing = draw(st.sampled_from([f"--{boundary}--\r\n", "", f"--{boundary}"]))
    header = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                f'multipart/form-data; boundary="{boundary}"',
                "multipart/form-data",
                "multipart/form-data; boundary=",
                f"multipart/form-data; boundary={boundary}" + "; a=b" * 100,
                f"multipart/form-data; boundary={boundary}; a*",
            ]
        )
    )
    return b"".join(parts) + closing.encode(), header


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    method, template = draw(st.sampled_from([*ROUTES, ("GET", "/nope"), ("DELETE", "/v1/predictions")]))
    path = _PARAMETER.sub(lambda _: quote(draw(_path_values), safe=""), template)
    query = draw(
        st.dictionaries(st.sampled_from(["cursor", "status", "limit", "x"]), _query_values, max_size=2)
    )
    target = f"{path}?{urlencode(query)}" if query else path
    headers: dict[str, str] = {}
    body = b""
    shape = draw(st.sampled_from(["none", "json", "multipart", "urlencoded", "bytes"]))
    if shape == "json":
        body = draw(json_bodies())
        headers["Content-Type"] = draw(
            st.sampled_from(["application/json", "application/json; charset=utf-8", ""])
        )
    elif shape == "multipart":
        body, headers["Content-Type"] = draw(multipart_bodies())
    elif shape == "urlencoded":
        pairs = draw(st.lists(st.tuples(field_names, st.text(max_size=30)), max_size=6))
        body = urlencode(pairs).encode() + draw(st.sampled_from([b"", b"&a=%zz", b"&a=%", b"&b=%ff%fe"]))
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif shape == "bytes":
        body = draw(st.binary(max_size=256))
        headers["Content-Type"] = draw(
            st.sampled_from(["text/plain", "image/jpeg", "application/xml", "ü/ä"])
        )
    for name, values in (("Prefer", ["wait", "wait=1", "wait=99999999", "respond-async", "wait=-1"]),
                         ("Accept", ["application/json", "image/*", "*/*"]),
                         ("Idempotency-Key", ["k", "k" * 300])):  # fmt: skip
        if draw(st.booleans()):
            headers[name] = draw(st.sampled_from(values))
    return method, target, headers, body


_path_values = st.sampled_from(
    ["0" * 32, "0" * 26, "lucataco", "remove-bg", "u2netp", "..", "%2e"]
) | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
_query_values = st.text(max_size=40) | st.binary(max_size=200).map(
    lambda raw: base64.urlsafe_b64encode(raw).decode()
) | st.sampled_from([base64.urlsafe_b64encode(b"[" * 3000).decode(), "A" * 5000])  # fmt: skip


def _auth(stack: Stack, path: str, kind: str) -> dict[str, str]:
    if kind == "none":
        return {}
    key = stack.api.key if kind == "valid" else "bgr_0123456789ab_" + "A" * 43
    if path.startswith("/api/v2/"):
        return {"Authorization": "Basic " + base64.b64encode(f"id:{key}".encode()).decode()}
    return {"Authorization": f"Bearer {key}", "X-Api-Key": key}


# ----------------------------------------------------------------------------------------------- target
@settings(deadline=ANSWER_WITHIN)
@given(request=requests(), auth=st.sampled_from(["valid", "valid", "wrong", "none"]))
def test_no_request_gets_a_5xx_and_the_key_comes_first(
    stack: Stack, request: tuple[str, str, dict[str, str], bytes], auth: str
) -> None:
    method, target, headers, body = request
    path = target.split("?", 1)[0]
    api = stack.api.__class__(stack.api.runtime, stack.api.engine, stack.api.key, timeout_s=FUNCTION_TIME_S)
    note(f"{method} {target} auth={auth} headers={headers} body={body[:300]!r}")
    status, _, data = api.call(method, target, body, {**headers, **_auth(stack, path, auth)})
    note(f"answer {status}: {data[:300]!r}")
    unfinished = status == 504 and b'"JOB_UNFINISHED"' in data and path == "/v1/chat/completions"
    assert 200 <= status < 500 or unfinished, (status, data[:300])
    known = any(re.fullmatch(_route_pattern(template), path) for _, template in ROUTES)
    if auth != "valid" and known and path not in PUBLIC_PATHS and status not in (404, 405, 413):
        assert status in (401, 403), (status, data[:300])


def _route_pattern(template: str) -> str:
    return _PARAMETER.sub("[^/]+", re.escape(template)) + "/*"
