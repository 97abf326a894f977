"""The Pixian v2 dialect without a model: its names onto the option table, its headers, its error shape,
HTTP Basic keys, the one-image rule, and the size limits (through the real handler, a fake engine)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest

from bgremove.exceptions import InvalidOptionError
from bgremove.options import BackgroundType, Length, Margin, OutputFormat, VerticalAlignment
from bgremove.report import BBox
from bgremove_api.dialects import common, pixian
from bgremove_api.dialects.common import MAX_INLINE_BODY_BYTES, Failure
from tests.unit.api.fakes import OUTPUT_BUCKET, PNG, Api, fake_api, multipart

PATH = pixian.PATH


@pytest.fixture
def api() -> Iterator[Api]:
    with fake_api() as running:
        yield running


def test_every_pixian_name_maps_onto_its_option() -> None:
    options = pixian.parse_options(
        {
            "test": "True",  # pixian-ai sends Python's spelling
            "max_pixels": "1000000",
            "background.color": "#0055FF",
            "result.crop_to_foreground": "False",
            "result.margin": "10px 5%",
            "result.target_size": "1920 1080",
            "result.vertical_alignment": "bottom",
            "output.format": "jpeg",
            "output.jpeg_quality": "90",
            "image.url": "ignored here",
        }
    )
    assert options.test is True and options.crop_to_foreground is False
    assert options.max_pixels == 1_000_000
    assert options.background_color == (0x00, 0x55, 0xFF)
    assert options.background_type is BackgroundType.RGBA
    assert options.margin == Margin(Length(10), Length(5, True), Length(10), Length(5, True))
    assert options.target_size == (1920, 1080)
    assert options.vertical_alignment is VerticalAlignment.BOTTOM
    assert options.format is OutputFormat.JPEG and options.jpeg_quality == 90


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_pixels", "99"),
        ("max_pixels", "25000001"),
        ("output.jpeg_quality", "101"),
        ("output.format", "webp"),
        ("output.format", "zip"),
        ("result.vertical_alignment", "left"),
        ("background.color", "#12345"),
    ],
)
def test_values_outside_pixians_limits_name_pixians_field(field: str, value: str) -> None:
    with pytest.raises(InvalidOptionError) as raised:
        pixian.parse_options({field: value})
    assert raised.value.option == field


def test_headers_say_sizes_as_w_h_and_boxes_as_top_left_width_height() -> None:
    with fake_api() as api:
        report = api.engine.process(b"image").report
    headers = pixian.result_headers(report, test=False)
    assert headers["X-Input-Size"] == "600 400" and headers["X-Result-Size"] == "300 200"
    assert headers["X-Input-Orientation"] == "6"
    assert report.input_foreground == BBox(10, 20, 30, 40)
    assert headers["X-Input-Foreground"] == "20 10 30 40"  # top left width height
    assert headers["X-Result-Foreground"] == "2 1 3 4"
    assert headers["X-Credits-Charged"] == "1" and "X-Credits-Calculated" not in headers
    test_headers = pixian.result_headers(report, test=True)
    assert test_headers["X-Credits-Charged"] == "0" and test_headers["X-Credits-Calculated"] == "1"


def test_error_shape_and_codes() -> None:
    response = pixian.error_response(Failure(429, "RATE_LIMITED", "slow down", {"Retry-After": "3"}))
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    assert json.loads(str(response.body)) == {"error": {"status": 429, "code": 1003, "message": "slow down"}}
    unknown = pixian.error_response(Failure(400, "SOMETHING_NEW", "x"))
    assert json.loads(str(unknown.body))["error"]["code"] == 1000


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Basic " + base64.b64encode(b"id:KEY").decode(), "KEY"),  # the key as password
        ("Basic " + base64.b64encode(b"KEY:").decode(), "KEY"),  # the key as user
        ("basic " + base64.b64encode(b"KEY").decode(), "KEY"),  # no colon at all
        ("Basic !!!", None),
        ("Bearer KEY", None),
        ("", None),
        (None, None),
    ],
)
def test_basic_auth_key(header: str | None, key: str | None) -> None:
    assert common.basic_auth_key(header) == key


def test_multipart_request_reaches_the_engine_with_the_options(api: Api) -> None:
    body, headers = multipart({"image": b"photo bytes", "result.margin": "5%", "test": "true"})
    status, reply, data = api.call("POST", PATH, body, {**headers, **api.basic()})
    assert status == 200, data
    assert data == PNG and reply["Content-Type"] == "image/png"
    assert reply["X-Credits-Calculated"] == "1"
    (image, options, background) = api.engine.calls[-1]
    assert image == b"photo bytes" and options.test and background is None
    assert str(options.margin) == "5% 5% 5% 5%"


def test_urlencoded_base64_and_url_inputs(api: Api) -> None:
    form = {"image.base64": "data:image/jpeg;base64," + base64.b64encode(b"from b64").decode()}
    headers = {"Content-Type": "application/x-www-form-urlencoded", **api.basic()}
    assert api.call("POST", PATH, urlencode(form).encode(), headers)[0] == 200
    assert api.engine.calls[-1][0] == b"from b64"
    assert api.call("POST", PATH, urlencode({"image.url": "http://images/a.jpg"}).encode(), headers)[0] == 200
    assert api.engine.calls[-1][0] == b"url:a.jpg"
    status, _, data = api.call("POST", PATH, urlencode({"image.url": "http://10.0.0.1/"}).encode(), headers)
    assert status == 400 and json.loads(data)["error"]["code"] == 1012


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"test": "true"}, 400, 1004),
        ({"image": b"x", "image.url": "http://images/a.jpg"}, 400, 1005),
        ({"image": b"bad"}, 400, 1006),
        ({"image.base64": "***"}, 400, 1006),
        ({"image": b"x", "result.margin": "-1px"}, 400, 1007),
    ],
)
def test_request_errors(api: Api, fields: dict[str, str | bytes], status: int, code: int) -> None:
    body, headers = multipart(fields)
    got, _, data = api.call("POST", PATH, body, {**headers, **api.basic()})
    assert got == status and json.loads(data)["error"]["code"] == code


def test_keys_are_checked_before_anything_else(api: Api) -> None:
    body, headers = multipart({"test": "true"})  # would be 1004 with a key
    status, _, data = api.call("POST", PATH, body, headers)
    assert status == 401 and json.loads(data)["error"]["code"] == 1001
    status, _, data = api.call("POST", PATH, body, {**headers, **api.basic("bgr_0123456789ab_" + "a" * 43)})
    assert status == 401 and json.loads(data)["error"]["code"] == 1001


def test_body_over_lambdas_limit_is_a_413_pointing_to_image_url(api: Api) -> None:
    body, headers = multipart({"image": b"\0" * (common.MAX_REQUEST_BODY_BYTES * 3 // 4 + 10)})
    status, _, data = api.call("POST", PATH, body, {**headers, **api.basic()})
    error = json.loads(data)["error"]
    assert status == 413 and error["code"] == 1009 and "image.url" in error["message"]
    assert api.engine.calls == []


def test_result_over_lambdas_limit_is_stored_and_redirected() -> None:
    big = b"\x89PNG" + b"\1" * (MAX_INLINE_BODY_BYTES * 3 // 4 + 10)
    with fake_api(result_bytes=big) as api:
        body, headers = multipart({"image": b"x"})
        status, reply, data = api.call("POST", PATH, body, {**headers, **api.basic()})
        assert status == 303 and data == b""
        assert reply["X-Result-Size"] == "300 200"
        location = reply["Location"]
        assert "X-Amz-Expires=3600" in location and OUTPUT_BUCKET in location
        key = "api-results/" + urlsplit(location).path.split("/api-results/", 1)[1]
        stored = api.runtime.s3.get_object(Bucket=OUTPUT_BUCKET, Key=key)
        assert stored["Body"].read() == big and stored["ContentType"] == "image/png"


def test_result_just_under_the_limit_is_inline() -> None:
    fits = b"\1" * (MAX_INLINE_BODY_BYTES * 3 // 4 - 3)
    with fake_api(result_bytes=fits) as api:
        body, headers = multipart({"image": b"x"})
        status, _, data = api.call("POST", PATH, body, {**headers, **api.basic()})
        assert status == 200 and data == fits


def test_docs_route_serves_the_openapi_document(api: Api) -> None:
    status, _, data = api.call("GET", "/docs?format=json")
    assert status == 200
    spec = json.loads(data)
    bodies = [
        op["requestBody"] for item in spec["paths"].values() for op in item.values() if "requestBody" in op
    ]
    fields = {
        name
        for body in bodies
        for content in body["content"].values()
        for name in content["schema"].get("properties", {})
    }
    assert {"image.url", "image.base64", "background.color", "bg_image_url", "image_file_b64"} <= fields
