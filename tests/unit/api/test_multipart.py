"""Multipart bodies as real clients send them (through the real handler, a fake engine): unquoted and
reordered parameters (.NET), binary parts without a filename (Java, Node form-data), and malformed bodies,
which are the dialect's 400, never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from aws_lambda_powertools.event_handler.openapi.params import UploadFile

from bgremove_api import forms
from bgremove_api.dialects import common, pixian, removebg
from bgremove_api.exceptions import BadRequestError
from tests.unit.api.fakes import Api, fake_api

BOUNDARY = "b0undary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture
def api() -> Iterator[Api]:
    with fake_api() as running:
        yield running


def body(*parts: tuple[str, bytes]) -> bytes:
    """A multipart body from (Content-Disposition parameters, content) pairs, as given."""
    chunks = [
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; {head}\r\n\r\n".encode() + content + b"\r\n"
        for head, content in parts
    ]
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize(
    "disposition",
    [
        'name="image"; filename="photo.jpg"',
        "name=image; filename=example.jpeg; filename*=utf-8''example.jpeg",  # .NET MultipartFormDataContent
        'filename="photo.jpg"; name="image"',  # filename first
        'name="image"',  # Java addBinaryBody / Node form-data with a Buffer: no filename
    ],
)
def test_pixian_reads_the_image_part_however_the_client_writes_it(api: Api, disposition: str) -> None:
    photo = b"\xff\xd8\xff\xe0 not utf-8 \x80\x81"
    status, _, data = api.call("POST", pixian.PATH, body((disposition, photo)), {**MULTIPART, **api.basic()})
    assert status == 200, data
    assert api.engine.calls[-1][0] == photo


def test_removebg_reads_unquoted_fields_and_an_unnamed_file(api: Api) -> None:
    photo = b"\x89PNG\r\n\x1a\n\x00\xff"
    parts = body(("name=image_file", photo), ("name=size", b"medium"))
    headers = {**MULTIPART, "X-Api-Key": api.key}
    status, _, data = api.call("POST", removebg.PATH, parts, headers)
    assert status == 200, data
    image, options, _ = api.engine.calls[-1]
    assert image == photo and options.max_pixels == 1_500_000


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("multipart/form-data", body(('name="image"', b"x"))),  # no boundary
        (MULTIPART["Content-Type"], b"no boundary line in here at all"),
        (MULTIPART["Content-Type"], f"--{BOUNDARY}\r\nno headers end".encode()),
        (MULTIPART["Content-Type"], body(('name="test"', b"\xff\xfe not text"))),  # a non-UTF-8 option
    ],
)
def test_malformed_multipart_is_the_dialects_400(api: Api, content_type: str, payload: bytes) -> None:
    status, _, data = api.call("POST", pixian.PATH, payload, {"Content-Type": content_type, **api.basic()})
    assert status == 400, data
    assert json.loads(data)["error"]["status"] == 400
    status, _, data = api.call(
        "POST", removebg.PATH, payload, {"Content-Type": content_type, "X-Api-Key": api.key}
    )
    assert status == 400, data
    assert json.loads(data)["errors"][0]["title"]


def test_a_keyless_request_is_refused_before_its_body_is_read(api: Api) -> None:
    status, reply, data = api.call("POST", pixian.PATH, b"garbage", {"Content-Type": "multipart/form-data"})
    assert status == 401 and json.loads(data)["error"]["code"] == 1001
    assert reply["WWW-Authenticate"] == 'Basic realm="bgremove"'
    status, _, data = api.call("POST", removebg.PATH, b"{not json", {"Content-Type": "application/json"})
    assert status == 403 and json.loads(data)["errors"][0]["code"] == "auth_failed"


@pytest.mark.parametrize("form", ["id:{key}", "{key}:", "{key}:old_secret", "old_id:{key}", "{key}"])
def test_pixian_basic_auth_accepts_the_key_in_either_half(api: Api, form: str) -> None:
    token = base64.b64encode(form.format(key=api.key).encode()).decode()
    headers = {**MULTIPART, "Authorization": f"Basic {token}"}
    status, _, data = api.call("POST", pixian.PATH, body(('name="image"; filename="a.jpg"', b"x")), headers)
    assert status == 200, data


def test_basic_auth_prefers_the_half_that_has_a_keys_form() -> None:
    key = "bgr_0123456789ab_" + "a" * 43
    for pair, presented in [
        (f"{key}:old_secret", key),
        (f"old_id:{key}", key),
        (f"{key}:", key),
        ("id:secret", "secret"),  # neither looks like a key: the password, refused later as a bad key
        ("user:", "user"),
    ]:
        header = "Basic " + base64.b64encode(pair.encode()).decode()
        assert common.basic_auth_key(header) == presented, pair


def test_forms_reads_preamble_quoted_boundary_and_rfc2231_filenames() -> None:
    payload = b"preamble to ignore\r\n" + body(
        ("name=image; filename*=utf-8''caf%C3%A9.jpg", b"\x00\r\n--not-the-boundary\r\n\xff"),
        ('name="size"', "médium".encode()),
    )
    values = forms.parse_body(payload + b"epilogue", f'multipart/form-data; boundary="{BOUNDARY}"')
    image = values["image"]
    assert isinstance(image, UploadFile) and image.filename == "café.jpg"
    assert image.content == b"\x00\r\n--not-the-boundary\r\n\xff"
    assert values["size"] == "médium"


@pytest.mark.parametrize(
    "payload",
    [
        body(('name="image"; filename="a.jpg"', b"x"))[: -len(f"--{BOUNDARY}--\r\n")],  # truncated
        f"--{BOUNDARY}\r\n\r\nheaderless\r\n--{BOUNDARY}--\r\n".encode(),
        f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nnameless\r\n--{BOUNDARY}--\r\n".encode(),
    ],
)
def test_forms_refuses_truncated_and_nameless_parts(payload: bytes) -> None:
    with pytest.raises(BadRequestError):
        forms.parse_body(payload, MULTIPART["Content-Type"])
