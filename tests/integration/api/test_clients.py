"""Real client code against the local HTTP API, unchanged except the base URL and the key: the Pixian
document's ``requests`` snippet, PyPI ``pixian-ai==1.0.0``, ``removebg==0.04``, ``remove-bg-api==0.2.1``,
and docs/http-api.md's curl examples; plus the 303 path for a result too large for Lambda, and ``/docs``."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pixian_ai
import pixian_ai.client
import pytest
import remove_bg_api
import removebg.removebg
import requests
from PIL import Image

from tests.integration.api.api_stack import FIXTURES, REPO, ApiStack
from tests.integration.api.async_stack import SharedStack

pytestmark = pytest.mark.integration

PHOTO = FIXTURES / "coffee.jpg"  # 600 x 400
PIXIAN_URL = "https://api.pixian.ai/api/v2/remove-background"


@pytest.fixture(scope="module")
def stack(shared_stack: SharedStack) -> Iterator[ApiStack]:
    with shared_stack.for_module("clients") as running:
        yield running


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# ----------------------------------------------------------------------------------------------- Pixian
def test_pixian_document_snippet(stack: ApiStack) -> None:
    # The document's Python example, with the key as the API secret (password).
    response = requests.post(
        f"{stack.url}/api/v2/remove-background",
        files={"image": open(PHOTO, "rb")},  # noqa: SIM115 (as the document writes it)
        data={
            # TODO: Add more upload options here
        },
        auth=("xyz123", stack.key),
    )
    assert response.status_code == requests.codes.ok, response.text
    result = _image(response.content)
    assert result.format == "PNG" and result.mode == "RGBA" and result.size == (600, 400)
    assert response.headers["X-Input-Size"] == "600 400"
    assert response.headers["X-Result-Size"] == "600 400"
    assert response.headers["X-Input-Orientation"] == "1"
    top, left, width, height = map(int, response.headers["X-Input-Foreground"].split())
    assert 0 < width <= 600 and 0 < height <= 400 and left + width <= 600 and top + height <= 400
    assert response.headers["X-Credits-Charged"] == "1"
    assert "X-Credits-Calculated" not in response.headers


def test_pixian_key_as_user_and_every_option(stack: ApiStack) -> None:
    response = requests.post(
        f"{stack.url}/api/v2/remove-background",
        files={"image": open(PHOTO, "rb")},  # noqa: SIM115
        data={
            "test": "true",
            "background.color": "#0055FF",
            "result.crop_to_foreground": "true",
            "result.margin": "10px 5%",
            "result.target_size": "300 300",
            "result.vertical_alignment": "bottom",
            "output.format": "jpeg",
            "output.jpeg_quality": "90",
        },
        auth=(stack.key, ""),
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/jpeg"
    assert _image(response.content).size == (300, 300)
    assert response.headers["X-Result-Size"] == "300 300"
    assert response.headers["X-Credits-Charged"] == "0"
    assert response.headers["X-Credits-Calculated"] == "1"


def test_pixian_delta_png_keeps_the_input_size(stack: ApiStack) -> None:
    response = requests.post(
        f"{stack.url}/api/v2/remove-background",
        files={"image": open(PHOTO, "rb")},  # noqa: SIM115
        data={"output.format": "delta_png"},
        auth=("id", stack.key),
    )
    assert response.status_code == 200, response.text
    assert _image(response.content).size == (600, 400)


@pytest.fixture
def pixian_client(stack: ApiStack, monkeypatch: pytest.MonkeyPatch) -> pixian_ai.PixianAI:
    """``pixian-ai`` with its hard-coded URL replaced, and nothing else."""
    method = pixian_ai.client.PixianAI.remove_background.__wrapped__
    code: types.CodeType = method.__code__
    assert PIXIAN_URL in code.co_consts
    local = f"{stack.url}/api/v2/remove-background"
    consts = tuple(local if c == PIXIAN_URL else c for c in code.co_consts)
    monkeypatch.setattr(method, "__code__", code.replace(co_consts=consts))
    return pixian_ai.PixianAI(api_id="local", api_secret=stack.key)


def test_pixian_ai_client_file_base64_and_url(stack: ApiStack, pixian_client: pixian_ai.PixianAI) -> None:
    # It sends every parameter, booleans as "True"/"False" and background.color only when set.
    from_file = pixian_client.remove_background(image_path=str(PHOTO), result_crop_to_foreground=True)
    cropped = _image(from_file.content)
    assert cropped.mode == "RGBA" and cropped.size < (600, 400)
    from_base64 = pixian_client.remove_background(
        image_base64=base64.b64encode(PHOTO.read_bytes()).decode(), background_color="#ffffff"
    )
    assert _image(from_base64.content).format == "JPEG"  # opaque: auto is JPEG
    from_url = pixian_client.remove_background(image_url=f"{stack.images}/coffee.jpg")
    assert _image(from_url.content).size == (600, 400)


def test_pixian_ai_client_sees_errors(stack: ApiStack, pixian_client: pixian_ai.PixianAI) -> None:
    with pytest.raises(pixian_ai.client.PixianAIException, match='"code":1007'):
        pixian_client.remove_background(image_path=str(PHOTO), result_target_size="0 10")


# ----------------------------------------------------------------------------------------------- remove.bg
def test_removebg_004(stack: ApiStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(removebg.removebg, "API_ENDPOINT", f"{stack.url}/v1.0/removebg")
    client = removebg.removebg.RemoveBg(stack.key, str(tmp_path / "error.log"))
    photo = tmp_path / "coffee.jpg"
    photo.write_bytes(PHOTO.read_bytes())
    client.remove_background_from_img_file(str(photo), size="regular")
    result = _image((tmp_path / "coffee.jpg_no_bg.png").read_bytes())
    # regular = 0.25 MP, as at remove.bg
    assert result.width * result.height <= 250_000 * 1.01 and result.mode == "RGBA"
    out = tmp_path / "b64.png"
    client.remove_background_from_base64_img(
        base64.b64encode(PHOTO.read_bytes()).decode(), size="auto", new_file_name=str(out), bg_color="ff0000"
    )
    assert _image(out.read_bytes()).size == (600, 400)
    by_url = tmp_path / "url.png"
    client.remove_background_from_img_url(f"{stack.images}/coffee.jpg", size="hd", new_file_name=str(by_url))
    assert _image(by_url.read_bytes()).size == (600, 400)


def test_remove_bg_api_021(stack: ApiStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remove_bg_api, "API_URL", f"{stack.url}/v1.0")
    client = remove_bg_api.RemoveBg(stack.key)  # reads GET /v1.0/account
    assert client.account.balance() == 0
    result = client.remove_bg_file(str(PHOTO), raw=True)
    assert _image(result).width * _image(result).height <= 250_000 * 1.01  # preview
    full = client.remove_bg_base64(base64.b64encode(PHOTO.read_bytes()).decode(), size="full")
    assert _image(full).size == (600, 400)
    options = {
        "size": "auto",
        "format": "jpg",
        "bg_color": "ffffff",
        "type": "product",
        "roi": "0% 0% 100% 100%",
    }
    by_url = client.remove_bg_url(f"{stack.images}/coffee.jpg", data=dict(options))
    assert _image(by_url).format == "JPEG"
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode403):
        remove_bg_api.RemoveBg("bgr_000000000000_" + "x" * 43)
    with pytest.raises(remove_bg_api.Errors.ApiErrorCode400):
        client.remove_bg_bytes(b"not an image", raw=True)


def test_removebg_json_answer_and_headers(stack: ApiStack) -> None:
    response = requests.post(
        f"{stack.url}/v1.0/removebg",
        json={"image_file_b64": base64.b64encode(PHOTO.read_bytes()).decode(), "size": "auto", "crop": True},
        headers={"X-Api-Key": stack.key, "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    result = _image(base64.b64decode(data["result_b64"]))
    assert result.size == (int(response.headers["X-Width"]), int(response.headers["X-Height"]))
    assert data["foreground_width"] == int(response.headers["X-Foreground-Width"]) > 0
    assert response.headers["X-Type"] == "other"
    assert int(response.headers["X-RateLimit-Limit"]) >= int(response.headers["X-RateLimit-Remaining"]) >= 0
    assert int(response.headers["X-RateLimit-Reset"]) > 1_700_000_000


def test_removebg_zip_background_image_roi_scale_position(stack: ApiStack) -> None:
    headers = {"X-Api-Key": stack.key}
    url = f"{stack.url}/v1.0/removebg"
    zipped = requests.post(
        url, files={"image_file": PHOTO.read_bytes()}, data={"size": "auto", "format": "zip"}, headers=headers
    )
    assert zipped.status_code == 200, zipped.text
    assert zipped.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    assert sorted(archive.namelist()) == ["alpha.png", "color.jpg"]
    assert _image(archive.read("color.jpg")).size == _image(archive.read("alpha.png")).size == (600, 400)
    # The cut-out on a fetched background image: opaque, the input's size.
    on_url = requests.post(
        url,
        files={"image_file": PHOTO.read_bytes()},
        data={"size": "auto", "bg_image_url": f"{stack.images}/chelsea.jpg", "format": "png"},
        headers=headers,
    )
    assert on_url.status_code == 200, on_url.text
    composed = _image(on_url.content).convert("RGBA")
    assert composed.size == (600, 400) and composed.getextrema()[3] == (255, 255)
    on_file = requests.post(
        url,
        files={"image_file": PHOTO.read_bytes(), "bg_image_file": (FIXTURES / "chelsea.jpg").read_bytes()},
        data={"size": "auto", "format": "png"},
        headers=headers,
    )
    assert on_file.status_code == 200, on_file.text
    assert _image(on_file.content).convert("RGBA").getextrema()[3] == (255, 255)
    # roi clears the matte outside the box: no foreground left of x = 300.
    roi = requests.post(
        url,
        files={"image_file": PHOTO.read_bytes()},
        data={"size": "auto", "roi": "50% 0% 100% 100%"},
        headers=headers,
    )
    assert roi.status_code == 200, roi.text
    assert int(roi.headers["X-Foreground-Left"]) >= 300
    placed = requests.post(
        url,
        files={"image_file": PHOTO.read_bytes()},
        data={"size": "auto", "scale": "50%", "position": "0% 0%"},
        headers=headers,
    )
    assert placed.status_code == 200, placed.text
    assert int(placed.headers["X-Foreground-Left"]) <= 2 and int(placed.headers["X-Foreground-Top"]) <= 2
    assert int(placed.headers["X-Foreground-Width"]) <= 301


# ------------------------------------------------------------------------------------- docs/http-api.md
def _readme_curl_examples() -> list[str]:
    guide = Path(REPO / "docs" / "http-api.md").read_text()
    section = guide.split("## First requests with curl", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    commands = [b for b in blocks if "curl " in b]
    assert commands, "docs/http-api.md's first-requests section has no curl example"
    return commands


@pytest.mark.parametrize("index", range(4))
def test_readme_curl_examples(stack: ApiStack, tmp_path: Path, index: int) -> None:
    examples = _readme_curl_examples()
    if index >= len(examples):
        pytest.skip(f"docs/http-api.md has {len(examples)} curl blocks")
    (tmp_path / "photo.jpg").write_bytes(PHOTO.read_bytes())
    env = {**os.environ, "BGREMOVE_API_URL": stack.url, "BGREMOVE_API_KEY": stack.key}
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", examples[index]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode()
    outputs = [p for p in tmp_path.iterdir() if p.name != "photo.jpg"]
    assert outputs, f"example {index} wrote nothing"
    for output in outputs:
        if output.suffix == ".json":
            assert "result_b64" in output.read_text()
        elif output.suffix == ".zip":
            assert {"color.jpg", "alpha.png"} <= set(zipfile.ZipFile(output).namelist())
        else:
            assert _image(output.read_bytes()).size[0] > 0


@pytest.mark.parametrize(
    "disposition",
    [
        # Pixian's C# snippet: MultipartFormDataContent.Add(content, "image", "example.jpeg")
        "name=image; filename=example.jpeg; filename*=utf-8''example.jpeg",
        # Java's MultipartEntityBuilder.addBinaryBody("image", bytes), Node's form-data with a Buffer
        'name="image"',
    ],
)
def test_multipart_as_dotnet_and_java_send_it(stack: ApiStack, disposition: str) -> None:
    boundary = "d0tnet-boundary"
    body = (
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: form-data; {disposition}\r\n\r\n".encode()
        + PHOTO.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = requests.post(
        f"{stack.url}/api/v2/remove-background",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        auth=(stack.key, "old_secret"),  # the key as user, an old secret left as password
    )
    assert response.status_code == 200, response.text
    assert _image(response.content).size == (600, 400)


# ----------------------------------------------------------------------------------------------- 303, docs
def test_result_too_large_for_lambda_is_a_303_that_requests_follows(stack: ApiStack) -> None:
    # A real result over Lambda's 6 MB (after base64): an upscaled, opaque PNG of the photo.
    response = requests.post(
        f"{stack.url}/api/v2/remove-background",
        files={"image": open(FIXTURES / "astronaut.jpg", "rb")},  # noqa: SIM115
        data={"result.target_size": "3600 3600", "background.color": "#102030", "output.format": "png"},
        auth=("id", stack.key),
    )
    assert response.status_code == 200, response.text
    assert [r.status_code for r in response.history] == [303]
    redirect = response.history[0]
    assert redirect.headers["X-Result-Size"] == "3600 3600"
    assert "X-Amz-Expires=3600" in redirect.headers["Location"]
    assert "Authorization" not in response.request.headers  # requests drops it across hosts
    assert len(response.content) * 4 / 3 > 6 * 1024 * 1024
    assert _image(response.content).size == (3600, 3600)


def test_docs_serve_swagger_and_the_openapi_document(stack: ApiStack) -> None:
    page = requests.get(f"{stack.url}/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    spec = requests.get(f"{stack.url}/docs", params={"format": "json"}).json()
    assert {"/api/v2/remove-background", "/v1.0/removebg"} <= set(spec["paths"])
    pixian_body = spec["paths"]["/api/v2/remove-background"]["post"]["requestBody"]["content"]
    assert {"image", "image.url", "image.base64", "result.margin", "output.format"} <= set(
        pixian_body["multipart/form-data"]["schema"]["properties"]
    )
    assert pixian_body["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
