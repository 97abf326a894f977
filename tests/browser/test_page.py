"""The try-it page in headless Chromium, walked as a newcomer would, against the local API (the adapter
``make serve`` runs, the fast model): load it, paste the key, choose a photo, get a cut-out with real
transparency, paint the background and get it opaque, run the copied calls as they are, see an invalid
option and a wrong key refused in plain words, drop and paste a photo, send a HEIC, keep and forget the key,
send a photo over the synchronous limit (downsized, and said so), reach every control by keyboard, see an
image too large refused (by the service, and by the page when it cannot make it smaller), at 1280 px and on a
390 px phone, with no script error in the console. Screenshots go to ``out/browser/``
(``BGREMOVE_SCREENSHOTS=docs/img``, as ``make page-screenshots`` sets it, refreshes the README's and
docs/http-api.md's).

The tests run in order and share one page, as one person's visit."""

from __future__ import annotations

import base64
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import pytest
from PIL import Image
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.integration.api.api_stack import FIXTURES, REPO, ApiStack

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PHOTO = FIXTURES / "coffee.jpg"  # 600 x 400
SHOTS = Path(os.environ.get("BGREMOVE_SCREENSHOTS") or REPO / "out" / "browser")
WAIT_S = 90
WRONG_KEY = "bgr_000000000000_" + "x" * 43

ALPHA = """
const img = document.querySelector('[data-testid="result"]');
const canvas = document.createElement("canvas");
canvas.width = img.naturalWidth;
canvas.height = img.naturalHeight;
const context = canvas.getContext("2d");
context.drawImage(img, 0, 0);
const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
let clear = 0, solid = 0;
for (let i = 3; i < data.length; i += 4) {
  if (data[i] === 0) clear += 1;
  else if (data[i] === 255) solid += 1;
}
return {width: canvas.width, height: canvas.height, clear: clear, solid: solid, pixels: data.length / 4};
"""

console: list[dict[str, Any]] = []
"""Every console entry of the visit (Chromium's log is drained by each read)."""


# ----------------------------------------------------------------------------------------------- helpers
def _hook(driver: WebDriver, test_id: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{test_id}"]')


def _type(element: WebElement, text: str) -> None:
    """Replace a field's text by keystrokes, as a person does (each fires ``input``)."""
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.BACKSPACE)
    if text:
        element.send_keys(text)


def _state(driver: WebDriver) -> tuple[str, int]:
    app = driver.find_element(By.ID, "app")
    return str(app.get_attribute("data-status")), int(app.get_attribute("data-run") or 0)


def _wait_for_result(driver: WebDriver, runs_before: int) -> None:
    """Until a new cut-out is shown and loaded; fails at once with the page's error if it shows one."""

    def ready(d: WebDriver) -> bool:
        status, runs = _state(d)
        if status == "error":
            raise AssertionError(f"the page shows an error: {_hook(d, 'error').text}")
        return runs > runs_before and bool(
            d.execute_script(
                "const img = document.querySelector('[data-testid=\"result\"]');"
                "return img.complete && img.naturalWidth > 0;"
            )
        )

    WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(ready)


def _wait_for_error(driver: WebDriver) -> str:
    WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(
        lambda d: _state(d)[0] == "error" and _hook(d, "error").is_displayed()
    )
    return str(_hook(driver, "error").text)


def _alpha(driver: WebDriver) -> dict[str, int]:
    result: dict[str, int] = driver.execute_script(ALPHA)
    return result


def _drain(driver: WebDriver, refusals: int = 0) -> None:
    """Read the console: no script error ever; a failed resource only for the refusals a step expects."""
    entries = driver.get_log("browser")
    console.extend(entries)
    severe = [e for e in entries if e["level"] == "SEVERE"]
    script = [e for e in severe if e.get("source") != "network"]
    assert not script, script
    assert len(severe) <= refusals, severe


def _viewport(driver: WebDriver, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def _screenshot(driver: WebDriver, name: str, *, down_to: str | None = None) -> Path:
    """The viewport, or the page from its top down to the bottom of the ``down_to`` element."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    params: dict[str, Any] = {"format": "png"}
    if down_to:
        width = driver.execute_script("return document.documentElement.clientWidth")
        bottom = driver.execute_script(
            "return document.querySelector(arguments[0]).getBoundingClientRect().bottom + scrollY + 12",
            down_to,
        )
        params |= {
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": bottom, "scale": 1},
        }
    path = SHOTS / name
    path.write_bytes(base64.b64decode(driver.execute_cdp_cmd("Page.captureScreenshot", params)["data"]))
    return path


def _no_sideways_scroll(driver: WebDriver, width: int) -> None:
    overflow = driver.execute_script("return document.documentElement.scrollWidth")
    assert overflow <= width, f"the page is {overflow} px wide at {width} px"


def _snippet(driver: WebDriver, kind: str) -> str:
    Select(driver.find_element(By.ID, "snippet-kind")).select_by_value(kind)
    return str(_hook(driver, "snippet").get_attribute("textContent"))


# ----------------------------------------------------------------------------------------------- the walk
def test_load_paste_the_key_choose_a_photo_and_get_a_transparent_cutout(
    driver: WebDriver, stack: ApiStack
) -> None:
    _viewport(driver, 1280, 900)
    driver.get(f"{stack.url}/")
    assert "bgremove" in driver.title
    _hook(driver, "api-key").send_keys(stack.key)
    _hook(driver, "file").send_keys(str(PHOTO))  # choosing the photo starts the request
    _wait_for_result(driver, 0)

    src = str(_hook(driver, "result").get_attribute("src"))
    assert src.startswith("blob:")
    download = _hook(driver, "download")
    assert download.get_attribute("href") == src
    assert download.get_attribute("download") == "coffee-cutout.png"
    alpha = _alpha(driver)
    assert (alpha["width"], alpha["height"]) == (600, 400)
    # Real transparency: the background is cleared, the subject kept.
    assert alpha["clear"] > alpha["pixels"] * 0.05 and alpha["solid"] > alpha["pixels"] * 0.05, alpha

    report = driver.find_element(By.ID, "report").text
    assert "600 × 400 px" in report and "u2netp" in report
    assert "in the function" in report and "round trip" in report
    snippet = _hook(driver, "snippet").text
    assert snippet.startswith("curl ") and "$BGREMOVE_API_KEY" in snippet and stack.key not in snippet
    assert f"{stack.url}/remove-background" in snippet and "image=@coffee.jpg" in snippet
    _drain(driver)

    _no_sideways_scroll(driver, 1280)
    driver.execute_script("document.activeElement.blur()")
    _screenshot(driver, "page-1280.png")
    _viewport(driver, 390, 844)
    _no_sideways_scroll(driver, 390)
    _screenshot(driver, "page-390.png", down_to=".stage")
    _viewport(driver, 1280, 900)


def test_a_background_colour_makes_the_result_opaque(driver: WebDriver) -> None:
    runs = _state(driver)[1]
    _type(_hook(driver, "option-background_color"), "#ffffff")
    _wait_for_result(driver, runs)
    alpha = _alpha(driver)
    assert alpha["solid"] == alpha["pixels"], alpha
    assert _hook(driver, "download").get_attribute("download") == "coffee-cutout.jpg"  # auto: opaque is JPEG
    assert "-F 'background_color=#ffffff'" in _hook(driver, "snippet").text
    _drain(driver)


@pytest.mark.parametrize("kind", ["native-curl", "native-python", "removebg-curl", "pixian-curl"])
def test_the_copied_call_runs_as_it_is(driver: WebDriver, stack: ApiStack, tmp_path: Path, kind: str) -> None:
    code = _snippet(driver, kind)
    assert "$BGREMOVE_API_KEY" in code or 'os.environ["BGREMOVE_API_KEY"]' in code
    shutil.copy(PHOTO, tmp_path / PHOTO.name)
    command = ["bash", "-c", code] if kind.endswith("curl") else [sys.executable, "-c", code]
    env = {**os.environ, "BGREMOVE_API_KEY": stack.key}
    done = subprocess.run(
        command, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=WAIT_S
    )
    assert done.returncode == 0, f"{code}\n{done.stderr}"
    with Image.open(tmp_path / "coffee-cutout.jpg") as result:
        assert result.format == "JPEG" and result.size == (600, 400)
        assert np.asarray(result.convert("RGB"))[0, 0].min() > 240  # the white background


def test_the_replicate_snippet_is_python(driver: WebDriver) -> None:
    code = _snippet(driver, "replicate-python")
    compile(code, "replicate-snippet", "exec")
    assert 'replicate.Client(api_token=os.environ["BGREMOVE_API_KEY"]' in code
    assert "lucataco/remove-bg:" in code and "background_color=#ffffff" in code  # said it cannot carry it
    _snippet(driver, "native-curl")


def test_an_invalid_option_is_refused_in_plain_words(driver: WebDriver) -> None:
    runs = _state(driver)[1]
    threshold = _hook(driver, "option-threshold")
    _type(threshold, "2")
    text = _wait_for_error(driver)
    assert "An option has a value the API does not accept." in text
    assert "INVALID_OPTION · HTTP 400" in text and "threshold" in text
    _type(threshold, "")
    _wait_for_result(driver, runs)
    assert not _hook(driver, "error").is_displayed()
    _drain(driver, refusals=1)


def test_a_wrong_key_is_refused_in_plain_words(driver: WebDriver, stack: ApiStack) -> None:
    key = _hook(driver, "api-key")
    _type(key, WRONG_KEY)
    _hook(driver, "submit").click()
    text = _wait_for_error(driver)
    assert "The API key was not accepted." in text and "UNAUTHORIZED · HTTP 401" in text
    _drain(driver, refusals=1)
    runs = _state(driver)[1]
    _type(key, stack.key)
    key.send_keys(Keys.ENTER)
    _wait_for_result(driver, runs)


# A synthetic drop or paste of a file made in the page from the photo's bytes (the browser's own events).
GIVE_FILE = """
const [how, name, data] = arguments;
const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, {type: "image/jpeg"}));
const event = how === "drop"
  ? new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true})
  : new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true, cancelable: true});
(how === "drop" ? document.getElementById("drop") : document.body).dispatchEvent(event);
"""


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_a_photo_can_be_dropped_or_pasted(driver: WebDriver, how: str) -> None:
    runs = _state(driver)[1]
    photo = base64.b64encode((FIXTURES / "chelsea.jpg").read_bytes()).decode()
    driver.execute_script(GIVE_FILE, how, f"{how}.jpg", photo)
    _wait_for_result(driver, runs)
    assert _alpha(driver)["width"] == 451
    assert f"image=@{how}.jpg" in _hook(driver, "snippet").text
    _drain(driver)


def test_a_heic_photo_is_sent_as_it_is(driver: WebDriver, tmp_path: Path) -> None:
    pillow_heif.register_heif_opener()
    heic = tmp_path / "coffee.heic"
    with Image.open(PHOTO) as photo:
        photo.save(heic, format="HEIF", quality=80)
    background = _hook(driver, "option-background_color")
    _type(background, "")  # transparent again
    runs = _state(driver)[1]
    _hook(driver, "file").send_keys(str(heic))
    _wait_for_result(driver, runs)
    alpha = _alpha(driver)
    assert (alpha["width"], alpha["height"]) == (600, 400) and alpha["clear"] > 0
    # Chromium cannot show HEIC: the page says so where the original would be.
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "original-empty").is_displayed())
    assert "cannot show this photo" in driver.find_element(By.ID, "original-empty").text
    _drain(driver)


def test_the_key_is_kept_until_forgotten(driver: WebDriver, stack: ApiStack) -> None:
    driver.refresh()
    assert _hook(driver, "api-key").get_attribute("value") == stack.key
    _hook(driver, "forget-key").click()
    assert _hook(driver, "api-key").get_attribute("value") == ""
    assert driver.execute_script("return localStorage.getItem('bgremove.apiKey')") is None
    _drain(driver)


def test_a_photo_over_the_synchronous_limit_is_downsized_and_said_so(
    driver: WebDriver, stack: ApiStack, tmp_path: Path
) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (1500, 1900, 3), dtype=np.uint8)
    big = tmp_path / "big.png"
    Image.fromarray(noise).save(big, compress_level=1)
    config = driver.execute_script("return JSON.parse(document.getElementById('config').textContent)")
    limit = int(config["uploadLimitBytes"])
    assert big.stat().st_size > limit
    _hook(driver, "api-key").send_keys(stack.key)
    runs = _state(driver)[1]
    _hook(driver, "file").send_keys(str(big))
    _wait_for_result(driver, runs)
    report = driver.find_element(By.ID, "report").text
    assert "over the 4.4 MB the synchronous route takes" in report, report
    _drain(driver)


def test_every_control_is_labelled_and_reachable_by_keyboard(driver: WebDriver) -> None:
    unlabelled = driver.execute_script(
        """
        const config = JSON.parse(document.getElementById("config").textContent);
        const missing = [];
        for (const option of config.options) {
          const control = document.querySelector(`[data-testid="option-${option.name}"]`);
          const labelled = control && (control.labels.length || control.getAttribute("aria-label"));
          if (!labelled) missing.push(option.name);
        }
        for (const control of document.querySelectorAll("input, select, button, textarea")) {
          const named = (control.labels && control.labels.length) || control.getAttribute("aria-label")
            || (control.tagName === "BUTTON" && control.textContent.trim());
          if (!named) missing.push(control.id || control.outerHTML);
        }
        return missing;
        """
    )
    assert unlabelled == []
    _hook(driver, "api-key").click()
    order = []
    for _ in range(4):
        # The keyboard, not a field's send_keys: a file input takes what it is sent as a path.
        ActionChains(driver).send_keys(Keys.TAB).perform()
        order.append(driver.switch_to.active_element.get_attribute("id"))
    assert order == ["key-show", "key-forget", "file", "submit"]
    # The before/after slider moves with the arrow keys.
    slider = driver.find_element(By.ID, "slider")
    slider.send_keys(Keys.ARROW_RIGHT)
    assert slider.get_attribute("value") == "1"
    _drain(driver)


def _bomb() -> bytes:
    """A 200-byte PNG that says it is 60,000 x 60,000 pixels: the service refuses it, IMAGE_TOO_LARGE."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100))


def test_an_image_too_large_is_refused_in_plain_words(driver: WebDriver, tmp_path: Path) -> None:
    bomb = tmp_path / "huge.png"
    bomb.write_bytes(_bomb())
    _hook(driver, "file").send_keys(str(bomb))
    text = _wait_for_error(driver)
    assert "The image is too large for the service." in text and "IMAGE_TOO_LARGE · HTTP 400" in text
    _drain(driver, refusals=1)


def test_a_photo_too_large_to_send_that_cannot_be_made_smaller_is_said_so(
    driver: WebDriver, tmp_path: Path
) -> None:
    # Over the synchronous limit and not decodable here (as a HEIC is in Chromium): nothing is sent.
    photo = tmp_path / "huge.heic"
    photo.write_bytes(np.random.default_rng(2).bytes(5_000_000))
    _hook(driver, "file").send_keys(str(photo))
    text = _wait_for_error(driver)
    assert "The photo is too large to send in one request." in text and "REQUEST_TOO_LARGE" in text
    assert "pass image_url" in text
    _drain(driver)


def test_the_console_had_no_script_error(driver: WebDriver) -> None:
    _drain(driver)
    assert console, "the console log could not be read"
    assert not [e for e in console if e["level"] == "SEVERE" and e.get("source") != "network"]
