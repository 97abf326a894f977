"""What a hostile or careless client sends, through the real handler on moto: every client mistake is the
dialect's 4xx (never a 5xx), the key is checked before the body is read, every authenticated route counts
against its key, and every wait ends within the function's time."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from bgremove_api import jobs
from bgremove_api.dialects.common import decode_base64
from bgremove_api.exceptions import InvalidBase64Error
from bgremove_api.fetch import Fetched
from bgremove_api.ratelimit import RateLimiter
from bgremove_api.runtime import get_runtime, use_runtime
from tests.unit.api.dialects.test_async_routes import DATA_URI, Stack, jobs_stack
from tests.unit.api.fakes import Api, multipart

DEEP_JSON = b'{"a":' + b"[" * 20000 + b"]" * 20000 + b"}"
HUGE_INTEGER = b'{"image_url":"http://images/x.jpg","size":' + b"9" * 5000 + b"}"


@pytest.fixture
def stack() -> Iterator[Stack]:
    with jobs_stack() as running:
        yield running


def _post_json(
    api: Api, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    return api.call("POST", path, body, {**headers, "Content-Type": "application/json"})


def _json_routes(stack: Stack) -> list[tuple[str, dict[str, str]]]:
    api = stack.api
    return [
        ("/api/v2/remove-background", api.basic()),
        ("/v1.0/removebg", {"X-Api-Key": api.key}),
        ("/v1/predictions", stack.bearer()),
        ("/v1/models/lucataco/remove-bg/predictions", stack.bearer()),
        ("/v1/chat/completions", stack.bearer()),
        ("/v2/images/background-remove", {"X-Api-Key": api.key}),
    ]


# ----------------------------------------------------------------------------------------------- JSON bodies
@pytest.mark.parametrize("body", [DEEP_JSON, HUGE_INTEGER, b"\xff\xfe\x00{not utf-8", b'{"a": NaN}'])
def test_unreadable_json_is_a_4xx_in_every_dialect(stack: Stack, body: bytes) -> None:
    for path, headers in _json_routes(stack):
        status, _, data = _post_json(stack.api, path, body, headers)
        assert 400 <= status < 500, (path, status, data[:300])


def test_json_nested_past_the_depth_limit_is_refused_even_when_python_could_read_it(stack: Stack) -> None:
    nested = b'{"image_url":"http://images/x.jpg","extra":' + b"[" * 200 + b"]" * 200 + b"}"
    status, _, data = _post_json(stack.api, "/v1.0/removebg", nested, {"X-Api-Key": stack.api.key})
    assert status == 400, data
    assert b"nested" in data


@pytest.mark.parametrize("path", ["/v2/jobs", "/v1/predictions"])
@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b"[" * 3000).decode(),
        base64.urlsafe_b64encode(b'{"j":"x","c":' + b"9" * 5000 + b"}").decode(),
        "%ff%fe",
        "A" * 100_000,
    ],
)
def test_a_hostile_cursor_is_400(stack: Stack, path: str, cursor: str) -> None:
    headers = {"X-Api-Key": stack.api.key, **stack.bearer()}
    status, _, data = stack.api.call("GET", f"{path}?cursor={cursor}", headers=headers)
    assert status == 400, data[:300]


@pytest.mark.parametrize("image", ["http://[::1/", "http://[zz]/x.jpg", "https://x:99999/a.jpg", "\x00"])
def test_replicate_unparsable_image_urls_are_4xx(stack: Stack, image: str) -> None:
    body = json.dumps({"version": "u2netp", "input": {"image": image}}).encode()
    status, _, data = stack.api.call("POST", "/v1/predictions", body, stack.bearer())
    assert 400 <= status < 500, data


# ----------------------------------------------------------------------------------------------- remove.bg
def test_removebg_background_file_sent_as_text_is_400(stack: Stack) -> None:
    api = stack.api
    body = json.dumps({"image_url": "http://images/x.jpg", "bg_image_file": "not a file"}).encode()
    status, _, data = _post_json(api, "/v1.0/removebg", body, {"X-Api-Key": api.key})
    assert status == 400, data
    form, headers = multipart({"image_file": b"jpeg", "bg_image_file": "text, not a file"})
    status, _, data = api.call("POST", "/v1.0/removebg", form, {**headers, "X-Api-Key": api.key})
    assert status == 400, data


def test_removebg_rate_headers_on_every_answer_after_admission(stack: Stack) -> None:
    api = stack.api
    status, headers, _ = _post_json(api, "/v1.0/removebg", b'{"size":"auto"}', {"X-Api-Key": api.key})
    assert status == 400
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= headers.keys()
    status, headers, _ = api.call("GET", "/v1.0/account", headers={"X-Api-Key": api.key})
    assert status == 200
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= headers.keys()


# ----------------------------------------------------------------------------------------------- multipart
def _parts(count: int, boundary: str = "b") -> bytes:
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n\r\n'.encode()
    return part * count + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    "body",
    [
        _parts(40_000),
        b'--b\r\nContent-Disposition: form-data; name="image"'
        + b";a=b" * 150_000
        + b"\r\n\r\nx\r\n--b--\r\n",
        b"--b\r\nX-Filler: " + b"y" * 200_000 + b'\r\nContent-Disposition: form-data; name="image"\r\n\r\n'
        b"x\r\n--b--\r\n",
    ],
    ids=["40000-parts", "150000-parameters", "200-KB-header"],
)
def test_multipart_bodies_past_the_caps_are_refused_before_parsing(stack: Stack, body: bytes) -> None:
    api = stack.api
    headers = {"X-Api-Key": api.key, "Content-Type": "multipart/form-data; boundary=b"}
    status, _, data = api.call("POST", "/v1.0/removebg", body, headers)
    assert status == 400, data[:300]
    assert b"multipart" in data


# ----------------------------------------------------------------------------------------------- /v1/files
def test_files_checks_the_key_before_reading_the_body(stack: Stack) -> None:
    headers = {"Content-Type": "multipart/form-data"}  # no boundary, no key
    status, _, _ = stack.api.call("POST", "/v1/files", b"garbage", headers)
    assert status == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"garbage", "multipart/form-data"),
        (
            b'--b\r\nContent-Disposition: form-data; name="content"; filename="a.png"\r\n\r\npng\r\n'
            b'--b\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n\xff\xfe{\r\n--b--\r\n',
            None,
        ),
        (b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--\r\n', None),
        (b'--b\r\nContent-Disposition: form-data; name="content"\r\n\r\nx\r\n', None),
    ],
    ids=["no-boundary", "metadata-not-utf8", "no-content", "no-closing-boundary"],
)
def test_files_malformed_uploads_are_4xx(stack: Stack, body: bytes, content_type: str | None) -> None:
    headers = {**stack.bearer(), "Content-Type": content_type or "multipart/form-data; boundary=b"}
    status, _, data = stack.api.call("POST", "/v1/files", body, headers)
    assert status in (400, 422), data[:300]  # 422: Replicate's invalid input (no content part)


def test_files_a_binary_part_without_a_filename_is_stored(stack: Stack) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="content"\r\n\r\n\xff\xd8\xff\xe0jpeg\r\n--b--\r\n'
    headers = {**stack.bearer(), "Content-Type": "multipart/form-data; boundary=b"}
    status, _, data = stack.api.call("POST", "/v1/files", body, headers)
    assert status == 201, data


@pytest.mark.parametrize("declared", ["text/html", "image/svg+xml", "application/javascript", "text/plain"])
def test_files_are_served_with_nosniff_and_never_as_active_content(stack: Stack, declared: str) -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="content"; filename="x.html"\r\nContent-Type: '
        + declared.encode()
        + b"\r\n\r\n<script>alert(1)</script>\r\n--b--\r\n"
    )
    headers = {**stack.bearer(), "Content-Type": "multipart/form-data; boundary=b"}
    status, _, data = stack.api.call("POST", "/v1/files", body, headers)
    assert status == 201, data
    path = urlsplit(json.loads(data)["urls"]["get"]).path
    status, served, content = stack.api.call("GET", path, headers=stack.bearer())
    assert status == 200
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Type"] == "application/octet-stream"
    assert content == b"<script>alert(1)</script>"


def test_files_keep_image_types(stack: Stack) -> None:
    form, headers = multipart({"content": b"\x89PNG png bytes"})
    status, _, data = stack.api.call("POST", "/v1/files", form, {**stack.bearer(), **headers})
    assert status == 201, data
    file_id = json.loads(data)["id"]
    status, served, _ = stack.api.call("GET", f"/v1/files/{file_id}", headers=stack.bearer())
    assert (status, served["Content-Type"], served["X-Content-Type-Options"]) == (
        200,
        "image/jpeg",
        "nosniff",
    )


# ----------------------------------------------------------------------------------------------- limits
def _frozen_clock(stack: Stack, rate: int, in_flight: int) -> str:
    """A key with these limits, and a limiter whose clock stands still (one window for the whole test)."""
    runtime = stack.api.runtime
    key, _ = runtime.keys.create("limited", rate_per_second=rate, max_in_flight=in_flight)
    limiter = RateLimiter(runtime.limiter.table_name, runtime.limiter._dynamodb, clock=lambda: 1_000_000.5)
    use_runtime(dataclasses.replace(runtime, limiter=limiter))
    return key


def _read_routes(stack: Stack, key: str, job_id: str) -> list[tuple[str, str, dict[str, str]]]:
    bearer = stack.bearer(key)
    api_key = {"X-Api-Key": key}
    return [
        ("GET", "/v1/predictions", bearer),
        ("GET", f"/v1/predictions/{job_id}", bearer),
        ("POST", f"/v1/predictions/{job_id}/cancel", bearer),
        ("GET", f"/v1/files/{job_id}", bearer),
        ("GET", "/v1/models/lucataco/remove-bg/versions/u2netp", bearer),
        ("GET", "/v1/webhooks/default/secret", bearer),
        ("GET", "/v1/models", bearer),
        ("GET", "/v2/jobs", api_key),
        ("GET", f"/v2/jobs/{job_id}", api_key),
        ("GET", "/v1.0/account", api_key),
    ]


def test_every_authenticated_route_counts_against_its_key(stack: Stack) -> None:
    key = _frozen_clock(stack, rate=2, in_flight=1)
    for method, path, headers in _read_routes(stack, key, "0" * 26):
        statuses = [stack.api.call(method, path, headers=headers)[0] for _ in range(4)]
        assert statuses.count(429) >= 2, (path, statuses)
        # A fresh window for the next route: another second on the frozen clock.
        runtime = get_runtime()
        second = runtime.limiter._clock() + 1
        use_runtime(dataclasses.replace(runtime, limiter=_limiter_at(runtime, second)))


def _limiter_at(runtime: Any, now: float) -> RateLimiter:
    return RateLimiter(runtime.limiter.table_name, runtime.limiter._dynamodb, clock=lambda: now)


def test_a_429_on_a_read_route_says_when_to_retry_in_the_dialects_shape(stack: Stack) -> None:
    key = _frozen_clock(stack, rate=1, in_flight=1)
    stack.api.call("GET", "/v1/predictions", headers=stack.bearer(key))
    status, headers, data = stack.api.call("GET", "/v1/predictions", headers=stack.bearer(key))
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert json.loads(data)["status"] == 429  # Replicate's problem details
    status, headers, data = stack.api.call("GET", "/v2/jobs", headers={"X-Api-Key": key})
    assert status == 429
    assert "Retry-After" in headers


def test_a_request_refused_for_in_flight_does_not_use_up_the_rate_window(stack: Stack) -> None:
    runtime = stack.api.runtime
    _, record = runtime.keys.create("in-flight", rate_per_second=5, max_in_flight=1)
    limiter = RateLimiter(runtime.limiter.table_name, runtime.limiter._dynamodb, clock=lambda: 2_000_000.5)
    held = limiter.acquire(record)
    for _ in range(3):
        with pytest.raises(Exception, match="in flight"):
            limiter.acquire(record)
    held.release()
    second = limiter.acquire(record)
    assert second.state.remaining == 3  # 5 - the two admitted requests
    second.release()


# ----------------------------------------------------------------------------------------------- waits
def _short_context(api: Api, remaining_s: int) -> Api:
    return dataclasses.replace(api, timeout_s=remaining_s)


def test_waits_end_within_the_functions_time(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    original = jobs.wait_for

    def recording(*args: Any, **kwargs: Any) -> jobs.Job:
        waits.append(float(args[3]))
        return original(args[0], args[1], args[2], 0.0, **kwargs)

    monkeypatch.setattr(jobs, "wait_for", recording)
    api = _short_context(stack.api, 12)
    headers = {**stack.bearer(), "Prefer": "wait=25"}
    body = json.dumps({"version": "u2netp", "input": {"image": "http://images/a.jpg"}}).encode()
    status, _, data = api.call("POST", "/v1/predictions", body, headers)
    assert status == 201, data
    body = json.dumps(
        {
            "model": "remove-bg",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "http://images/a.jpg"}}],
                }
            ],
        }
    ).encode()
    status, answer_headers, data = api.call("POST", "/v1/chat/completions", body, stack.bearer())
    assert status >= 400
    assert answer_headers.get("x-should-retry") == "false", data
    assert len(waits) == 2
    assert all(0 < wait <= 12 - 1 for wait in waits), waits
    # Each URL fetch had a deadline too (not the fetcher's own 10 s on top of the wait).
    assert all(deadline is not None for deadline in stack.api.runtime.fetcher.deadlines)  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------------- red team
MULTIPART_ROUTES = ("/api/v2/remove-background", "/v1.0/removebg", "/remove-background", "/v1/files")


def _multipart_headers(stack: Stack, path: str, content_type: str) -> dict[str, str]:
    auth = stack.api.basic() if path.startswith("/api/") else {**stack.bearer(), "X-Api-Key": stack.api.key}
    return {**auth, "Content-Type": content_type}


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b'Content-Disposition: form-data; name="f"; a*', "multipart/form-data; boundary=b"),
        (b'Content-Disposition: form-data; name="f" ' + b"(" * 500, "multipart/form-data; boundary=b"),
        (
            b'Content-Disposition: form-data; name="f"\r\nContent-Type: text/plain; charset=' + b"(" * 1000,
            None,
        ),
        (b'Content-Disposition: form-data; name="bg_color"\r\nContent-Type: text/plain; charset=idna', None),
        (
            b'Content-Disposition: form-data; name="bg_color"\r\nContent-Type: text/plain; charset=punycode',
            None,
        ),
        (b'Content-Disposition: form-data; name="f"', "multipart/form-data; boundary=b; a*"),
        (b'Content-Disposition: form-data; name="f"', "multipart/form-data; boundary=b; a=" + "(" * 1000),
        (b'Content-Disposition: form-data; name="x"' + b";\r\n a;a;a;a;a;a;a;a;a;a;a;a;a;a;a;a" * 200, None),
    ],
    ids=[
        "name-star",
        "nested-comments",
        "charset-comments",
        "idna",
        "punycode",
        "ct-star",
        "ct-comments",
        "folded",
    ],
)
def test_headers_the_email_parser_chokes_on_are_400(
    stack: Stack, head: bytes, content_type: str | None
) -> None:
    body = b"--b\r\n" + head + b"\r\n\r\nxn--zz-9999999\r\n--b--\r\n"
    for path in MULTIPART_ROUTES:
        headers = _multipart_headers(stack, path, content_type or "multipart/form-data; boundary=b")
        status, answer, data = stack.api.call("POST", path, body, headers)
        assert 400 <= status < 500, (path, status, data[:300])
        assert answer["X-Content-Type-Options"] == "nosniff"


def test_32_parts_are_read_and_33_refused(stack: Stack) -> None:
    def parts(count: int) -> bytes:
        fields = b"".join(
            b'--b\r\nContent-Disposition: form-data; name="x%d"\r\n\r\nv\r\n' % i for i in range(count - 1)
        )
        image = b'--b\r\nContent-Disposition: form-data; name="image_url"\r\n\r\nhttp://images/a.jpg\r\n'
        return fields + image + b"--b--\r\n"

    headers = _multipart_headers(stack, "/v1.0/removebg", "multipart/form-data; boundary=b")
    assert stack.api.call("POST", "/v1.0/removebg", parts(32), headers)[0] == 200
    status, _, data = stack.api.call("POST", "/v1.0/removebg", parts(33), headers)
    assert status == 400 and b"more than 32 parts" in data


@pytest.mark.parametrize("value", [b"%zz" * 1_400_000, b"%ff" * 1_400_000, b"%"])
def test_urlencoded_bodies_with_bad_or_too_many_escapes_are_400(stack: Stack, value: bytes) -> None:
    headers = {"X-Api-Key": stack.api.key, "Content-Type": "application/x-www-form-urlencoded"}
    status, _, data = stack.api.call("POST", "/v1.0/removebg", b"image_url=" + value, headers)
    assert status == 400, data[:300]


def test_model_predictions_check_the_key_before_the_model(stack: Stack) -> None:
    status, _, _ = stack.api.call("POST", "/v1/models/someone/else/predictions", b"{}", {})
    assert status == 401
    status, _, data = stack.api.call("POST", "/v1/models/someone/else/predictions", b"{}", stack.bearer())
    assert status == 404 and b"someone/else" in data


@pytest.mark.parametrize("file_id", ["\ud800\ud800", "a" * 2000, "0" * 31 + "g"])
def test_replicate_own_file_urls_with_odd_ids_are_422(stack: Stack, file_id: str) -> None:
    body = json.dumps({"input": {"image": f"http://localhost/v1/files/{file_id}"}}).encode()
    status, _, data = stack.api.call(
        "POST", "/v1/models/lucataco/remove-bg/predictions", body, stack.bearer()
    )
    assert status == 422, data[:300]


def test_an_empty_data_uri_is_refused_at_submit(stack: Stack) -> None:
    body = json.dumps({"input": {"image": "data:;base64,"}}).encode()
    status, _, data = stack.api.call(
        "POST", "/v1/models/lucataco/remove-bg/predictions", body, stack.bearer()
    )
    assert 400 <= status < 500 and b"EMPTY_INPUT" in data, data


def test_a_cursor_with_empty_keys_is_400(stack: Stack) -> None:
    cursor = base64.urlsafe_b64encode(b'{"j":"","c":""}').decode()
    status, _, _ = stack.api.call("GET", f"/v1/predictions?cursor={cursor}", headers=stack.bearer())
    assert status == 400


def test_option_names_are_copied_in_the_case_they_are_checked(stack: Stack) -> None:
    body = json.dumps({"input": {"image": DATA_URI, " FORMAT": "jpg"}}).encode()
    status, _, data = stack.api.call(
        "POST", "/v1/models/lucataco/remove-bg/predictions", body, stack.bearer()
    )
    assert status == 201, data
    _, metadata = stack.stored_input(json.loads(data)["id"])
    assert metadata["format"] == "jpeg"  # canonical, as the option table spells it
    body = json.dumps(
        {"model": "851-bg-remove", "lab851BgRemoveParams": {"image": DATA_URI, "FORMAT": "jpg"}}
    )
    status, _, data = stack.api.call(
        "POST", "/v2/images/background-remove", body.encode(), {"X-Api-Key": stack.api.key}
    )
    assert status == 202, data
    _, metadata = stack.stored_input(json.loads(data)["jobId"])
    assert metadata["format"] == "jpeg"


# ----------------------------------------------------------------------------------------------- red team 2
@pytest.mark.parametrize("head", [b"Content-Type: " + b'"' * 8000, b"Content-Type: a" + b" <" * 4000])
def test_part_headers_the_http_policy_parsed_in_quadratic_time_are_read(stack: Stack, head: bytes) -> None:
    # 8 KB of quotes took the HTTP policy's parser 1.5-4 s per part; the classic parser reads it at once.
    # Timed by the fuzz target under make fuzz; here the answer must be the usual one.
    body = (
        b'--b\r\nContent-Disposition: form-data; name="image_file"\r\n' + head + b"\r\n\r\nbad\r\n--b--\r\n"
    )
    headers = {"X-Api-Key": stack.api.key, "Content-Type": "multipart/form-data; boundary=b"}
    status, _, data = stack.api.call("POST", "/v1.0/removebg", body, headers)
    assert status == 400 and b"not an image" in data, data[:300]


@pytest.mark.parametrize(
    "prediction_input",
    [
        {"image": DATA_URI, "format": " " * 450_000},
        {"image": DATA_URI, "format" + " " * 450_000: "png"},
        {"image": DATA_URI, "background_type": "\u3000" * 200_000},
    ],
    ids=["blank-value", "long-key", "ideographic-spaces"],
)
def test_huge_blank_options_are_invalid_options_not_a_record_too_large(
    stack: Stack, prediction_input: dict[str, str]
) -> None:
    body = json.dumps({"version": "u2netp", "input": prediction_input}).encode()
    status, _, data = stack.api.call("POST", "/v1/predictions", body, stack.bearer())
    assert status == 400 and b"INVALID_OPTION" in data, data[:300]


def test_a_long_own_file_url_is_kept_short_in_the_job(stack: Stack) -> None:
    form, headers = multipart({"content": b"\x89PNG png bytes"})
    file_id = json.loads(stack.api.call("POST", "/v1/files", form, {**stack.bearer(), **headers})[2])["id"]
    reference = f"http://localhost/v1/files/{file_id}?" + "q" * 450_000
    body = json.dumps({"version": "u2netp", "input": {"image": reference}}).encode()
    status, _, data = stack.api.call("POST", "/v1/predictions", body, stack.bearer())
    assert status == 201, data[:300]
    assert len(data) < 10_000  # the answer (and the job record) show the reference cut to 2 KB


@pytest.mark.parametrize("filename", ["null", "none", "NULL", "  null  "])
def test_a_background_file_named_like_no_value_is_still_the_background(stack: Stack, filename: str) -> None:
    api = stack.api
    for path, field, auth in (
        ("/remove-background", "background_image", {"X-Api-Key": api.key}),
        ("/v1.0/removebg", "bg_image_file", {"X-Api-Key": api.key}),
    ):
        body = (
            b'--b\r\nContent-Disposition: form-data; name="image_url"\r\n\r\nhttp://images/a.jpg\r\n'
            b'--b\r\nContent-Disposition: form-data; name="'
            + field.encode()
            + b'"; filename="'
            + filename.encode()
            + b'"\r\nContent-Type: image/png\r\n\r\nbg bytes\r\n--b--\r\n'
        )
        headers = {**auth, "Content-Type": "multipart/form-data; boundary=b"}
        calls = len(api.engine.calls)
        status, _, data = api.call("POST", path, body, headers)
        assert status == 200, (path, data[:300])
        assert api.engine.calls[calls][2] == b"bg bytes"  # the background reached the engine


class _EmptyFetcher:
    """Every URL answers no bytes (a 204, an empty file)."""

    def fetch(self, url: str, *, deadline: float | None = None) -> Fetched:
        return Fetched(body=b"", content_type="image/jpeg", final_url=url)


def test_a_url_that_answers_no_bytes_is_refused_at_submit(stack: Stack) -> None:
    use_runtime(dataclasses.replace(stack.api.runtime, fetcher=_EmptyFetcher()))  # type: ignore[arg-type]
    body = json.dumps({"version": "u2netp", "input": {"image": "http://images/empty.jpg"}}).encode()
    status, _, data = stack.api.call("POST", "/v1/predictions", body, stack.bearer())
    assert 400 <= status < 500 and b"EMPTY_INPUT" in data, data[:300]


@pytest.mark.parametrize("text", ["data:" + ";a" * 2_200_000, "x" * 10 + "data:image/png;base64,aGk="])
def test_a_data_uri_prefix_is_looked_for_at_the_start_only(text: str) -> None:
    with pytest.raises(InvalidBase64Error):
        decode_base64("image_file_b64", text)


def test_a_cursor_with_a_lone_surrogate_is_400(stack: Stack) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps({"j": "\ud800", "c": "x"}).encode()).decode()
    status, _, _ = stack.api.call("GET", f"/v1/predictions?cursor={cursor}", headers=stack.bearer())
    assert status == 400


# ----------------------------------------------------------------------------------------------- round 3
@pytest.mark.parametrize(
    ("path", "field", "auth"),
    [
        ("/v1.0/removebg", "image_file", "key"),
        ("/api/v2/remove-background", "image", "basic"),
        ("/remove-background", "image", "key"),
        ("/v1/files", "content", "bearer"),
    ],
)
def test_a_lone_surrogate_in_a_file_field_is_no_5xx(stack: Stack, path: str, field: str, auth: str) -> None:
    # Its bytes reach the engine (here a fake that takes anything; the real one answers NOT_AN_IMAGE).
    headers = {
        "key": {"X-Api-Key": stack.api.key},
        "basic": stack.api.basic(),
        "bearer": stack.bearer(),
    }[auth]
    body = json.dumps({field: "\ud800"}).encode()  # JSON's escape for a lone surrogate
    status, _, data = _post_json(stack.api, path, body, headers)
    assert status < 500, (path, status, data[:300])


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/chat/completions/"), ("GET", "/v1/models/"), ("GET", "/v1/models/remove-bg")],
)
def test_trailing_slashes_and_model_ids_answer_in_the_routes_own_shape(
    stack: Stack, method: str, path: str
) -> None:
    status, headers, data = stack.api.call(method, path)  # no key: the dialect's 401
    assert status == 401
    assert "WWW-Authenticate" not in headers  # Pixian's challenge, the wrong dialect's
    assert json.loads(data)["error"]["type"] == "authentication_error"  # OpenAI's shape


def test_openai_models_retrieve_answers_a_model_or_its_404(stack: Stack) -> None:
    status, _, data = stack.api.call("GET", "/v1/models/remove-bg", headers=stack.bearer())
    assert (status, json.loads(data)["id"], json.loads(data)["object"]) == (200, "remove-bg", "model")
    status, _, data = stack.api.call("GET", "/v1/models/nope", headers=stack.bearer())
    assert (status, json.loads(data)["error"]["code"]) == (404, "MODEL_NOT_FOUND")


def test_an_output_gone_before_its_record_is_a_404(stack: Stack) -> None:
    request = json.dumps({"version": "u2netp", "input": {"image": DATA_URI}}).encode()
    status, _, data = stack.api.call("POST", "/v1/predictions", request, stack.bearer())
    assert status == 201, data
    prediction_id = json.loads(data)["id"]
    stack.finish(prediction_id)
    job = stack.machinery.store.find(prediction_id)
    assert job is not None and job.output_key is not None
    stack.api.runtime.s3.delete_object(Bucket=jobs_bucket(stack), Key=job.output_key)
    status, _, data = stack.api.call("GET", f"/v1/files/{prediction_id}", headers=stack.bearer())
    assert status == 404, data


def jobs_bucket(stack: Stack) -> str:
    return stack.api.runtime.settings.output_bucket


def test_upload_metadata_past_the_cap_is_refused_not_echoed(stack: Stack) -> None:
    body = json.dumps({"content": "abc", "metadata": {"a": "é" * 20_000}}).encode()
    status, _, data = _post_json(stack.api, "/v1/files", body, stack.bearer())
    assert 400 <= status < 500 and len(data) < 10_000, (status, len(data))
    small = json.dumps({"content": "abc", "metadata": {"a": "é"}}).encode()
    status, _, data = _post_json(stack.api, "/v1/files", small, stack.bearer())
    assert (status, json.loads(data)["metadata"]) == (201, {"a": "é"})
