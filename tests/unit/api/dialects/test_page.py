"""The try-it page (``GET /``) and the call it makes (``POST /remove-background``), through the real handler
with a fake engine: the page needs no key, is self-contained under a strict CSP whose hashes match its
inline blocks, uses relative URLs only, carries the test hooks and every option of the option table, and is
shipped with the function; the route reads every option by its table name, answers the report in headers
and refuses in its own shape. The other routes (``/docs``, a 404) are unchanged."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bgremove.options import OPTION_NAMES, Margin, Position
from bgremove_api.dialects import page
from tests.unit.api.fakes import PNG, Api, fake_api, multipart

REPO = Path(__file__).resolve().parents[4]
TEST_IDS = ("api-key", "file", "submit", "result", "download", "snippet", "error")


@pytest.fixture
def api() -> Iterator[Api]:
    with fake_api() as running:
        yield running


def _page(api: Api) -> tuple[int, dict[str, str], str]:
    status, headers, data = api.call("GET", "/")
    return status, headers, data.decode()


def _csp(headers: dict[str, str]) -> dict[str, list[str]]:
    directives = [d.split() for d in headers["Content-Security-Policy"].split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# ----------------------------------------------------------------------------------------------- the page
def test_the_page_needs_no_key_and_is_html(api: Api) -> None:
    status, headers, body = _page(api)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert body.startswith("<!doctype html>")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_csp_is_strict_and_names_the_inline_blocks_by_hash(api: Api) -> None:
    _, headers, body = _page(api)
    csp = _csp(headers)
    assert csp["default-src"] == ["'none'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "blob:", "data:"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in headers["Content-Security-Policy"]
    scripts = re.findall(r"<script>(.*?)</script>", body, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", body, re.DOTALL)
    assert len(scripts) == 1 and len(styles) == 1
    assert csp["script-src"] == [_digest(scripts[0])]
    assert csp["style-src"] == [_digest(styles[0])]
    # No style attribute anywhere: the CSP would block it.
    assert not re.search(r"<[^>]+\sstyle=", body)


def test_the_page_is_self_contained_with_relative_urls(api: Api) -> None:
    _, _, body = _page(api)
    assert "http://" not in body and "https://" not in body and "//cdn" not in body
    (style,) = re.findall(r"<style>(.*?)</style>", body, re.DOTALL)
    assert "@import" not in style and "url(" not in style
    references = re.findall(r"""\s(?:href|src|action)=["']([^"']*)["']""", body)
    assert references, "the page links to its API reference"
    # Relative: a deployed stage serves the page under /<stage>/.
    assert all(not ref.startswith(("/", "http")) for ref in references), references
    assert "fetch(new URL(config.path, apiBase)" in body


def test_the_page_carries_the_test_hooks(api: Api) -> None:
    _, _, body = _page(api)
    for test_id in TEST_IDS:
        assert f'data-testid="{test_id}"' in body, test_id
    assert 'type="file"' in body
    assert "control.dataset.testid = `option-${option.name}`" in body


def test_the_controls_come_from_the_option_table(api: Api) -> None:
    _, _, body = _page(api)
    match = re.search(r'<script type="application/json" id="config">(.*?)</script>', body, re.DOTALL)
    assert match
    config = json.loads(match.group(1))
    names = [option["name"] for option in config["options"]]
    assert sorted(names) == sorted(OPTION_NAMES)
    assert names[: len(page.FIRST_OPTIONS)] == list(page.FIRST_OPTIONS)
    assert all(o["more"] == (o["name"] not in page.FIRST_OPTIONS) for o in config["options"])
    widgets = {option["name"]: option["widget"] for option in config["options"]}
    assert widgets["background_color"] == "color"
    assert widgets["crop_to_foreground"] == widgets["test"] == "checkbox"
    assert widgets["format"] == widgets["background_type"] == widgets["model"] == "select"
    assert widgets["threshold"] == widgets["max_pixels"] == "number"
    models = next(o for o in config["options"] if o["name"] == "model")["choices"]
    assert [c["value"] for c in models][:3] == ["", "u2net", "u2netp"]
    assert config["path"] == "remove-background"
    assert config["dialects"]["removebg"]["fields"]["background_color"] == "bg_color"
    assert config["dialects"]["removebg"]["words"]["max_pixels"]["medium"] == "1500000"
    assert config["dialects"]["pixian"]["fields"]["target_size"] == "result.target_size"
    assert config["uploadLimitBytes"] == page.UPLOAD_LIMIT_BYTES


def test_a_new_option_needs_no_page_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from bgremove.options import OPTION_FIELDS, BoolKind, OptionField

    extra = OptionField("shadow", False, BoolKind(), "draw a shadow")
    monkeypatch.setattr(page, "OPTION_FIELDS", (*OPTION_FIELDS, extra))
    options = page.page_config()["options"]
    assert options[-1]["name"] == "shadow" and options[-1]["more"] and options[-1]["widget"] == "checkbox"


def test_other_routes_are_unchanged(api: Api) -> None:
    status, _, data = api.call("GET", "/nope")
    assert status == 404 and json.loads(data)["error"]["status"] == 404
    status, headers, data = api.call("GET", "/docs")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" not in headers  # Swagger's page loads its own assets
    status, _, data = api.call("GET", "/docs?format=json")
    paths = json.loads(data)["paths"]
    assert "/" in paths and "/remove-background" in paths and "/v1.0/removebg" in paths
    assert api.call("POST", "/")[0] in (404, 405)


def test_the_page_is_shipped_with_the_function() -> None:
    # The Lambda build copies CodeUri (functions/api/); a wheel takes what package-data names.
    static = REPO / "functions" / "api" / "bgremove_api" / "static"
    assert {p.name for p in static.iterdir()} >= {"page.html", "page.css", "page.js"}
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "static/*" in package_data["bgremove_api"]
    template = (REPO / "template.yaml").read_text()
    assert "CodeUri: functions/api/" in template


# ----------------------------------------------------------------------------------------------- the call
def test_a_wrong_key_is_refused_before_the_body_is_read(api: Api) -> None:
    status, _, data = api.call("POST", page.PATH, b"not even multipart", {"X-Api-Key": "bgr_0_wrong"})
    assert status == 401
    assert json.loads(data) == {
        "error": {"status": 401, "code": "UNAUTHORIZED", "message": json.loads(data)["error"]["message"]}
    }
    assert api.engine.calls == []


def test_every_option_by_its_table_name(api: Api) -> None:
    body, headers = multipart(
        {
            "image": b"photo",
            "background_color": "#ffffff",
            "crop_to_foreground": "true",
            "margin": "5%",
            "target_size": "640 480",
            "scale": "80%",
            "position": "center",
            "format": "webp",
            "threshold": "0.5",
            "test": "true",
            "max_pixels": "1500000",
            "decontaminate": "false",
        }
    )
    status, answer, data = api.call("POST", page.PATH, body, {**headers, "X-Api-Key": api.key})
    assert status == 200 and data == PNG
    [(image, options, background)] = api.engine.calls
    assert image == b"photo" and background is None
    assert options.background_color == (255, 255, 255) and options.crop_to_foreground
    assert isinstance(options.margin, Margin) and str(options.margin) == "5% 5% 5% 5%"
    assert options.target_size == (640, 480) and options.scale == 80.0
    assert options.position == Position(50.0, 50.0)
    assert options.format.value == "webp" and options.threshold == 0.5 and options.test
    assert options.max_pixels == 1_500_000 and options.decontaminate is False
    assert answer["X-Decontaminated"] in {"true", "false"}
    assert answer["X-Input-Size"] == "600 400" and answer["X-Result-Size"] == "300 200"
    assert answer["X-Result-Foreground"] == "2 1 3 4"  # top left width height, as Pixian's
    assert answer["X-Model"] == "fake" and answer["X-Backend"] == "local"
    assert "Server-Timing" in answer


def test_server_timing_lists_each_stage() -> None:
    from bgremove.report import Report

    report = Report((1, 1), (1, 1), 1, None, None, "u2netp", "png", "image/png", "JPEG",
                    timings_ms={"inference": 412.345, "total": 500.0})  # fmt: skip
    headers = page.result_headers(report)
    assert headers["Server-Timing"] == "inference;dur=412.3, total;dur=500.0"
    assert headers["X-Result-Foreground"] == "0 0 0 0"


def test_an_invalid_option_is_a_400_naming_it(api: Api) -> None:
    body, headers = multipart({"image": b"photo", "threshold": "2"})
    status, _, data = api.call("POST", page.PATH, body, {**headers, "X-Api-Key": api.key})
    error = json.loads(data)["error"]
    assert status == 400 and error["code"] == "INVALID_OPTION" and error["message"].startswith("threshold")


def test_image_from_base64_or_url_and_a_background_url(api: Api) -> None:
    as_json = {"Content-Type": "application/json", "X-Api-Key": api.key}
    payload = {
        "image_base64": base64.b64encode(b"photo").decode(),
        "background_image": "http://images/bg.png",
    }
    status, _, _ = api.call("POST", page.PATH, json.dumps(payload).encode(), as_json)
    assert status == 200
    assert api.engine.calls[-1][0] == b"photo" and api.engine.calls[-1][2] == b"url:bg.png"
    body = json.dumps({"image_url": "http://images/cat.jpg"}).encode()
    status, _, _ = api.call("POST", page.PATH, body, as_json)
    assert status == 200 and api.engine.calls[-1][0] == b"url:cat.jpg"
    status, _, data = api.call("POST", page.PATH, b"{}", as_json)
    assert status == 400 and json.loads(data)["error"]["code"] == "MISSING_SOURCE"


@dataclass
class _Registry:
    available: tuple[str, ...] = ("u2net", "u2netp")

    def names(self) -> list[str]:
        return ["isnet", "u2net", "u2netp"]

    def is_available(self, name: str) -> bool:
        return name in self.available


@dataclass
class _Settings:
    default_model: str = "u2net"


def test_a_model_this_deployment_lacks_is_a_400_naming_those_it_has(api: Api) -> None:
    api.engine.registry = _Registry()  # type: ignore[attr-defined]
    api.engine.settings = _Settings()  # type: ignore[attr-defined]
    body, headers = multipart({"image": b"photo", "model": "isnet"})
    status, _, data = api.call("POST", page.PATH, body, {**headers, "X-Api-Key": api.key})
    error = json.loads(data)["error"]
    assert status == 400 and error["code"] == "INVALID_OPTION"
    assert "u2net, u2netp" in error["message"] and api.engine.calls == []
    body, headers = multipart({"image": b"photo", "model": "u2netp"})
    assert api.call("POST", page.PATH, body, {**headers, "X-Api-Key": api.key})[0] == 200
    assert api.engine.calls[-1][1].model == "u2netp"
