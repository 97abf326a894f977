"""The remove.bg v1.0 dialect without a model: its names and value words onto the option table, what it
accepts and ignores, its headers and JSON answer, its error shape (403 for keys, 429 with X-RateLimit-*),
and the background image it fetches (through the real handler, a fake engine)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from bgremove.exceptions import InvalidOptionError
from bgremove.options import BackgroundType, OutputFormat, Position
from bgremove_api.dialects import common, removebg
from bgremove_api.dialects.common import Failure
from bgremove_api.exceptions import RateState
from tests.unit.api.fakes import OUTPUT_BUCKET, PNG, Api, fake_api, multipart

PATH = removebg.PATH


@pytest.fixture
def api() -> Iterator[Api]:
    with fake_api() as running:
        yield running


@pytest.mark.parametrize(
    ("size", "pixels"),
    [
        ("preview", 250_000),
        ("small", 250_000),
        ("regular", 250_000),
        ("medium", 1_500_000),
        ("hd", 4_000_000),
        ("full", 25_000_000),
        ("4k", 25_000_000),
        ("AUTO", 25_000_000),
    ],
)
def test_size_words_set_max_pixels(size: str, pixels: int) -> None:
    assert removebg.parse_options({"size": size}).max_pixels == pixels


def test_preview_is_the_default_size() -> None:
    assert removebg.parse_options({}).max_pixels == 250_000


def test_names_map_onto_options() -> None:
    options = removebg.parse_options(
        {
            "format": "jpg",
            "crop": "true",
            "crop_margin": "10px",
            "bg_color": "81d4fa",
            "channels": "rgba",
            "roi": "10% 0% 90% 100%",
            "scale": "80%",
            "position": "center",
            "type": "product",  # accepted and ignored
            "semitransparency": "false",
        }
    )
    assert options.format is OutputFormat.JPEG and options.crop_to_foreground
    assert str(options.margin) == "10px 10px 10px 10px" and options.background_color == (0x81, 0xD4, 0xFA)
    assert str(options.roi) == "10% 0% 90% 100%" and options.scale == 80.0
    assert options.position == Position(50.0, 50.0)
    assert removebg.parse_options({"channels": "alpha"}).background_type is BackgroundType.MAP
    assert removebg.parse_options({"format": "zip"}).format is OutputFormat.ZIP


@pytest.mark.parametrize(
    ("field", "value"),
    [("size", "huge"), ("channels", "rgb"), ("format", "webp2"), ("scale", "5%"), ("crop", "maybe")],
)
def test_bad_values_name_remove_bgs_field(field: str, value: str) -> None:
    with pytest.raises(InvalidOptionError) as raised:
        removebg.parse_options({field: value})
    assert raised.value.option == field


def test_headers_and_error_shape() -> None:
    with fake_api() as api:
        result = api.engine.process(b"image")
    headers = removebg.result_headers(result)
    assert headers["X-Width"] == "300" and headers["X-Height"] == "200" and headers["X-Type"] == "other"
    assert (headers["X-Foreground-Left"], headers["X-Foreground-Top"]) == ("1", "2")
    assert (headers["X-Foreground-Width"], headers["X-Foreground-Height"]) == ("3", "4")
    unauthorised = removebg.error_response(Failure(401, "UNAUTHORIZED", "no key"))
    assert unauthorised.status_code == 403  # remove.bg's status for a bad key
    assert json.loads(str(unauthorised.body))["errors"][0]["code"] == "auth_failed"
    limited = removebg.error_response(
        Failure(429, "RATE_LIMITED", "slow", {"Retry-After": "1"}, RateState(5, 0, 1_800_000_000))
    )
    assert limited.headers["Retry-After"] == "1" and limited.headers["X-RateLimit-Limit"] == "5"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Reset"] == "1800000000"
    (error,) = json.loads(str(limited.body))["errors"]
    assert error == {"title": "Rate limit exceeded", "code": "rate_limit_exceeded", "detail": "slow"}


def test_json_body_and_json_answer(api: Api) -> None:
    body = json.dumps({"image_file_b64": base64.b64encode(b"photo").decode(), "crop": True, "size": "hd"})
    headers = {"X-Api-Key": api.key, "Content-Type": "application/json", "Accept": "application/json"}
    status, reply, data = api.call("POST", PATH, body.encode(), headers)
    assert status == 200, data
    answer = json.loads(data)["data"]
    assert base64.b64decode(answer["result_b64"]) == PNG
    assert (answer["foreground_left"], answer["foreground_top"]) == (1, 2)
    assert (answer["foreground_width"], answer["foreground_height"]) == (3, 4)
    assert int(reply["X-RateLimit-Limit"]) == 1000 and int(reply["X-RateLimit-Remaining"]) < 1000
    image, options, _ = api.engine.calls[-1]
    assert image == b"photo" and options.crop_to_foreground and options.max_pixels == 4_000_000


def test_background_image_by_url_and_by_upload(api: Api) -> None:
    body, headers = multipart({"image_file": b"photo", "bg_image_url": "http://images/sky.jpg"})
    assert api.call("POST", PATH, body, {**headers, "X-Api-Key": api.key})[0] == 200
    _, options, background = api.engine.calls[-1]
    assert options.background_image == "http://images/sky.jpg" and background == b"url:sky.jpg"
    body, headers = multipart({"image_file": b"photo", "bg_image_file": b"sky bytes"})
    assert api.call("POST", PATH, body, {**headers, "X-Api-Key": api.key})[0] == 200
    _, options, background = api.engine.calls[-1]
    assert options.background_image and background == b"sky bytes"
    body, headers = multipart({"image_file": b"photo", "bg_image_url": "http://10.0.0.1/sky.jpg"})
    status, _, data = api.call("POST", PATH, body, {**headers, "X-Api-Key": api.key})
    assert status == 400 and json.loads(data)["errors"][0]["code"] == "url_not_allowed"


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"size": "auto"}, 400, "missing_source"),
        ({"image_file": b"x", "image_file_b64": "eA=="}, 400, "multiple_sources"),
        ({"image_file": b"bad"}, 400, "not_an_image"),
        ({"image_file": b"x", "size": "tiny"}, 400, "invalid_option"),
    ],
)
def test_request_errors(api: Api, fields: dict[str, str | bytes], status: int, code: str) -> None:
    body, headers = multipart(fields)
    got, _, data = api.call("POST", PATH, body, {**headers, "X-Api-Key": api.key})
    assert got == status and json.loads(data)["errors"][0]["code"] == code


def test_bad_key_is_403_and_account_route(api: Api) -> None:
    body, headers = multipart({"image_file": b"x"})
    status, _, data = api.call("POST", PATH, body, headers)
    assert status == 403 and json.loads(data)["errors"][0]["code"] == "auth_failed"
    status, _, data = api.call("GET", removebg.ACCOUNT_PATH, headers={"X-Api-Key": api.key})
    assert status == 200 and json.loads(data)["data"]["attributes"]["credits"]["total"] == 0
    assert api.call("GET", removebg.ACCOUNT_PATH)[0] == 403


def test_rate_limit_is_429_with_remove_bgs_headers() -> None:
    with fake_api(rate_per_second=1) as api:
        body, headers = multipart({"image_file": b"x"})
        statuses = [api.call("POST", PATH, body, {**headers, "X-Api-Key": api.key}) for _ in range(3)]
    assert statuses[0][0] == 200 or statuses[1][0] == 200  # a window boundary may fall between
    _, reply, data = next(s for s in statuses if s[0] == 429)
    assert int(reply["Retry-After"]) >= 1 and reply["X-RateLimit-Remaining"] == "0"
    assert json.loads(data)["errors"][0]["code"] == "rate_limit_exceeded"


def test_json_answer_too_large_for_lambda_is_stored_as_json_and_redirected() -> None:
    # remove.bg clients that ask for JSON must get JSON after the 303, not the raw image
    big = b"\x89PNG" + b"\1" * (common.MAX_INLINE_BODY_BYTES * 3 // 4)
    with fake_api(result_bytes=big) as api:
        body, headers = multipart({"image_file": b"x"})
        headers = {**headers, "X-Api-Key": api.key, "Accept": "application/json"}
        status, reply, data = api.call("POST", PATH, body, headers)
        assert status == 303 and data == b""
        key = "api-results/" + urlsplit(reply["Location"]).path.split("/api-results/", 1)[1]
        assert key.endswith(".json")
        stored = api.runtime.s3.get_object(Bucket=OUTPUT_BUCKET, Key=key)
        assert stored["ContentType"] == "application/json"
        answer = json.loads(stored["Body"].read())["data"]
        assert base64.b64decode(answer["result_b64"]) == big
        assert (answer["foreground_left"], answer["foreground_top"]) == (1, 2)


def test_both_fetches_of_a_request_share_one_deadline_inside_the_functions_time(api: Api) -> None:
    body, headers = multipart({"image_url": "http://images/a.jpg", "bg_image_url": "http://images/sky.jpg"})
    started = time.monotonic()
    assert api.call("POST", PATH, body, {**headers, "X-Api-Key": api.key})[0] == 200
    fetcher = api.runtime.fetcher
    first, second = fetcher.deadlines[-2:]  # type: ignore[attr-defined]
    assert first is not None and first == second
    # the fake context says 29 s remain: the fetches must leave the processing its share of them
    assert first <= started + 29 - common.PROCESSING_RESERVE_S + 1


@pytest.mark.parametrize(
    ("value", "rgb"),
    [
        ("81d4fa", (0x81, 0xD4, 0xFA)),  # remove.bg's own spelling: hex without '#'
        ("#81D4FA", (0x81, 0xD4, 0xFA)),
        ("fff", (255, 255, 255)),  # 3 digits
        ("#0af", (0x00, 0xAA, 0xFF)),
        ("81d4fa77", (0x81, 0xD4, 0xFA)),  # 8 digits: the alpha is not used (the background is opaque)
        ("green", (0, 128, 0)),  # CSS colour names
        ("LightBlue", (173, 216, 230)),
    ],
)
def test_bg_color_takes_remove_bgs_spellings(value: str, rgb: tuple[int, int, int]) -> None:
    assert removebg.parse_options({"bg_color": value}).background_color == rgb


@pytest.mark.parametrize("value", ["not-a-colour", "#12345", "ggg"])
def test_bad_bg_color_names_the_field(value: str) -> None:
    with pytest.raises(InvalidOptionError) as raised:
        removebg.parse_options({"bg_color": value})
    assert raised.value.option == "bg_color"


@pytest.mark.parametrize("code", ["REQUEST_TOO_LARGE", "IMAGE_TOO_LARGE"])
def test_too_large_is_remove_bgs_400_file_too_large(code: str) -> None:
    # remove_bg_api raises UnknownError on a 413; remove.bg itself answers 400 file_too_large
    response = removebg.error_response(Failure(413, code, "too big: send image_url"))
    (error,) = json.loads(str(response.body))["errors"]
    assert response.status_code == 400 and error["code"] == "file_too_large"
