"""Every error of both dialects through the local HTTP API, in each dialect's own shape: keys (401/403),
input rules, bad options with Pixian's limits, size limits (413 from Lambda's and the gateway's limits), image
URLs refused or failing (served from 127.0.0.1), and 429 under concurrent load."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.integration.api.api_stack import FIXTURES, ApiStack
from tests.integration.api.async_stack import SharedStack

pytestmark = pytest.mark.integration

PHOTO = (FIXTURES / "coffee.jpg").read_bytes()
PIXIAN = "/api/v2/remove-background"
REMOVEBG = "/v1.0/removebg"


@pytest.fixture(scope="module")
def stack(shared_stack: SharedStack) -> Iterator[ApiStack]:
    with shared_stack.for_module("errors") as running:
        yield running


@pytest.fixture(scope="module")
def key(stack: ApiStack) -> str:
    """A key with room for the quick error requests below (the default allows 10 per second)."""
    created, _ = stack.api.runtime.keys.create(f"errors-{uuid.uuid4().hex[:6]}", rate_per_second=1000)
    return str(created)


def pixian(stack: ApiStack, key: str | None, files: Any = None, **data: str) -> requests.Response:
    auth = ("id", key) if key is not None else None
    return requests.post(f"{stack.url}{PIXIAN}", files=files, data=data, auth=auth, timeout=120)


def removebg(stack: ApiStack, key: str | None, files: Any = None, **data: str) -> requests.Response:
    headers = {"X-Api-Key": key} if key is not None else {}
    return requests.post(f"{stack.url}{REMOVEBG}", files=files, data=data, headers=headers, timeout=120)


def pixian_error(response: requests.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == status and error["code"] == code, error
    return str(error["message"])


def removebg_error(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == code and error["title"], error
    return str(error["detail"])


# ----------------------------------------------------------------------------------------------- keys
def test_missing_wrong_and_revoked_keys(stack: ApiStack) -> None:
    pixian_error(pixian(stack, None, files={"image": PHOTO}), 401, 1001)
    pixian_error(pixian(stack, "bgr_0123456789ab_" + "x" * 43, files={"image": PHOTO}), 401, 1001)
    pixian_error(pixian(stack, "not a key", files={"image": PHOTO}), 401, 1001)
    removebg_error(removebg(stack, None, files={"image_file": PHOTO}), 403, "auth_failed")
    removebg_error(removebg(stack, stack.key + "x", files={"image_file": PHOTO}), 403, "auth_failed")
    name = f"revoked-{uuid.uuid4().hex[:6]}"
    revoked, _ = stack.api.runtime.keys.create(name)
    assert pixian(stack, revoked, files={"image": PHOTO}).status_code == 200
    stack.api.runtime.keys.revoke(name)
    pixian_error(pixian(stack, revoked, files={"image": PHOTO}), 403, 1002)
    removebg_error(removebg(stack, revoked, files={"image_file": PHOTO}), 403, "auth_failed")


# ----------------------------------------------------------------------------------------------- inputs
def test_exactly_one_image_source(stack: ApiStack, key: str) -> None:
    assert "image.url" in pixian_error(pixian(stack, key, test="true"), 400, 1004)
    encoded = base64.b64encode(PHOTO).decode()
    pixian_error(pixian(stack, key, files={"image": PHOTO}, **{"image.base64": encoded}), 400, 1005)
    removebg_error(removebg(stack, key, size="auto"), 400, "missing_source")
    removebg_error(
        removebg(stack, key, files={"image_file": PHOTO}, image_url=f"{stack.images}/coffee.jpg"),
        400,
        "multiple_sources",
    )
    removebg_error(
        requests.post(f"{stack.url}{REMOVEBG}", json={"size": "auto"}, headers={"X-Api-Key": key}),
        400,
        "missing_source",
    )


def test_unreadable_images_and_bodies(stack: ApiStack, key: str) -> None:
    pixian_error(pixian(stack, key, files={"image": b"not an image"}), 400, 1006)
    pixian_error(pixian(stack, key, **{"image.base64": "!!!not base64!!!"}), 400, 1006)
    pixian_error(pixian(stack, key, files={"image": PHOTO[: len(PHOTO) // 3]}), 400, 1006)
    removebg_error(removebg(stack, key, files={"image_file": b""}), 400, "empty_input")
    broken_json = requests.post(
        f"{stack.url}{REMOVEBG}",
        data=b"{not json",
        headers={"X-Api-Key": key, "Content-Type": "application/json"},
    )
    removebg_error(broken_json, 400, "bad_request")
    odd_type = requests.post(
        f"{stack.url}{PIXIAN}", data=PHOTO, headers={"Content-Type": "image/jpeg"}, auth=("id", key)
    )
    pixian_error(odd_type, 400, 1010)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_pixels", "99"),
        ("max_pixels", "25000001"),
        ("output.jpeg_quality", "0"),
        ("output.jpeg_quality", "101"),
        ("output.format", "webp"),
        ("result.vertical_alignment", "left"),
        ("background.color", "blue"),
        ("result.target_size", "100"),
        ("result.margin", "-5px"),
        ("test", "maybe"),
    ],
)
def test_pixian_options_outside_pixians_limits(stack: ApiStack, key: str, field: str, value: str) -> None:
    message = pixian_error(pixian(stack, key, files={"image": PHOTO}, **{field: value}), 400, 1007)
    assert message.startswith(f"{field}:"), message


@pytest.mark.parametrize(("field", "value"), [("size", "huge"), ("format", "gif"), ("channels", "rgb")])
def test_removebg_bad_options(stack: ApiStack, key: str, field: str, value: str) -> None:
    detail = removebg_error(
        removebg(stack, key, files={"image_file": PHOTO}, **{field: value}), 400, "invalid_option"
    )
    assert detail.startswith(f"{field}:"), detail


# ----------------------------------------------------------------------------------------------- sizes
def test_request_over_lambdas_limit_never_reaches_the_function(stack: ApiStack, key: str) -> None:
    # base64 in the event: 6.7 MB, over Lambda's 6 MB. Lambda refuses the event, so the answer cannot be
    # the function's: it is the one body both dialects' clients read, pointing to the URL fields.
    big = b"\xff" * (5 * 1024 * 1024)
    for response in (
        pixian(stack, key, files={"image": big}),
        removebg(stack, key, files={"image_file": big}),
    ):
        assert response.status_code == 413, response.text
        answer = response.json()
        assert answer["error"]["code"] == 1009 and "image.url" in answer["error"]["message"]
        assert (
            answer["errors"][0]["code"] == "file_too_large" and "image_url" in answer["errors"][0]["detail"]
        )


def test_upload_just_under_lambdas_limit_reaches_the_function(stack: ApiStack, key: str) -> None:
    # 4.3 MB raw is about 5.8 MB in the event: the function reads it (and finds it is no image).
    almost = b"\xff" * (4300 * 1024)
    pixian_error(pixian(stack, key, files={"image": almost}), 400, 1006)
    removebg_error(removebg(stack, key, files={"image_file": almost}), 400, "not_an_image")


def test_request_over_the_gateways_limit_is_refused_in_both_shapes(stack: ApiStack, key: str) -> None:
    huge = b"\xff" * (10 * 1024 * 1024 + 1)
    response = pixian(stack, key, files={"image": huge})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == 1009
    assert response.json()["errors"][0]["code"] == "file_too_large"


# ----------------------------------------------------------------------------------------------- URLs
@pytest.mark.parametrize(
    ("path_or_url", "code", "removebg_code"),
    [
        ("ftp://127.0.0.1/coffee.jpg", 1011, "url_bad_scheme"),
        ("http://169.254.169.254/latest/meta-data/", 1012, "url_not_allowed"),
        ("http://10.0.0.1/photo.jpg", 1012, "url_not_allowed"),
        ("http://[::ffff:10.0.0.1]/photo.jpg", 1012, "url_not_allowed"),
        ("/metadata", 1012, "url_not_allowed"),
        ("/missing", 1013, "url_fetch_failed"),
        ("/slow", 1014, "url_timeout"),
        ("/huge", 1015, "url_too_large"),
        ("/redirect/4", 1016, "url_too_many_redirects"),
        ("/loop", 1016, "url_too_many_redirects"),
    ],
)
def test_refused_and_failing_urls(
    stack: ApiStack, key: str, path_or_url: str, code: int, removebg_code: str
) -> None:
    url = f"{stack.images}{path_or_url}" if path_or_url.startswith("/") else path_or_url
    pixian_error(pixian(stack, key, **{"image.url": url}), 400, code)
    removebg_error(removebg(stack, key, image_url=url), 400, removebg_code)


def test_three_redirects_are_followed(stack: ApiStack, key: str) -> None:
    response = pixian(stack, key, **{"image.url": f"{stack.images}/redirect/3"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Input-Size"] == "600 400"


# ----------------------------------------------------------------------------------------------- 429
def test_429_under_concurrent_load(stack: ApiStack) -> None:
    limited, _ = stack.api.runtime.keys.create(f"limited-{uuid.uuid4().hex[:6]}", rate_per_second=2)

    def call(index: int) -> requests.Response:
        # Quick requests (no image: each is counted, then refused with 400), so that all land in ~1 s.
        return removebg(stack, limited, size="auto") if index % 2 else pixian(stack, limited, test="true")

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(call, range(10)))
    limited_ones = [r for r in responses if r.status_code == 429]
    admitted = [r for r in responses if r.status_code == 400]
    # A fixed one-second window admits 2, or up to 4 when the burst straddles a window boundary.
    assert len(limited_ones) + len(admitted) == 10
    assert 2 <= len(admitted) <= 4, [r.status_code for r in responses]
    for response in limited_ones:
        assert int(response.headers["Retry-After"]) >= 1
        if response.request.path_url == REMOVEBG:
            removebg_error(response, 429, "rate_limit_exceeded")
            assert response.headers["X-RateLimit-Limit"] == "2"
            assert response.headers["X-RateLimit-Remaining"] == "0"
        else:
            pixian_error(response, 429, 1003)


# ----------------------------------------------------------------------------------------------- hostile
def test_hostile_bodies_are_the_dialects_400_through_the_local_api(stack: ApiStack, key: str) -> None:
    deep = b'{"a":' + b"[" * 20000 + b"]" * 20000 + b"}"
    response = requests.post(
        f"{stack.url}{REMOVEBG}",
        data=deep,
        headers={"X-Api-Key": key, "Content-Type": "application/json"},
        timeout=60,
    )
    removebg_error(response, 400, "bad_request")
    bomb = (
        b'--b\r\nContent-Disposition: form-data; name="image"' + b";a=b" * 150_000 + b"\r\n\r\nx\r\n--b--\r\n"
    )
    response = requests.post(
        f"{stack.url}{PIXIAN}",
        data=bomb,
        auth=("id", key),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        timeout=60,
    )
    assert "multipart" in pixian_error(response, 400, 1010)


def test_files_without_a_key_is_401_whatever_the_body(stack: ApiStack) -> None:
    response = requests.post(
        f"{stack.url}/v1/files", data=b"garbage", headers={"Content-Type": "multipart/form-data"}, timeout=60
    )
    assert response.status_code == 401, response.text


def test_polls_count_against_the_key(stack: ApiStack) -> None:
    limited, _ = stack.api.runtime.keys.create(
        f"polling-{uuid.uuid4().hex[:6]}", rate_per_second=2, max_in_flight=1
    )

    def poll(index: int) -> requests.Response:
        path = "/v1/predictions" if index % 2 else "/v2/jobs"
        headers = {"Authorization": f"Bearer {limited}", "X-Api-Key": limited}
        return requests.get(f"{stack.url}{path}", headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = [r.status_code for r in pool.map(poll, range(12))]
    # 2 per one-second window: 12 polls within a second or two admit at most 6.
    assert statuses.count(200) <= 6 and statuses.count(429) >= 6, statuses
