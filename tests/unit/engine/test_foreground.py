"""Foreground colour estimation (bgremove._foreground) on images whose true colours are known, and the
engine's ``decontaminate`` option: a subject of known colour is composited over a known background through a
soft alpha, and the estimate must take the background back out of the soft edge."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bgremove import Options
from bgremove._foreground import estimate_foreground
from tests.fakes import MatteFn, fake_engine
from tests.helpers import encode, open_bytes

SUBJECT = np.array([200, 60, 30], np.float32)  # a warm colour
OLD_BACKGROUND = np.array([0, 255, 0], np.float32)  # a green screen


def _soft_disc(width: int, height: int, ramp: float) -> np.ndarray:
    """Alpha 0..1 of a disc whose edge falls from 1 to 0 over ``ramp`` px."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = np.hypot(xs - width / 2, ys - height / 2) - 0.3 * min(width, height)
    return np.clip(0.5 - distance / ramp, 0.0, 1.0)


def _scene(
    width: int, height: int, ramp: float = 6.0, background: np.ndarray | None = None
) -> tuple[Image.Image, Image.Image, np.ndarray, np.ndarray]:
    """The subject over the background through a soft disc: (image, alpha L, subject HxWx3, alpha 0..1)."""
    alpha = _soft_disc(width, height, ramp)
    alpha8 = np.floor(alpha * 255 + 0.5).astype(np.uint8)
    a = alpha8.astype(np.float32)[..., np.newaxis] / 255
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # the subject is not flat: a gentle shading across it, as real subjects have
    subject = SUBJECT + np.stack(
        [20 * np.sin(xs / 40), 15 * np.cos(ys / 30), 10 * np.sin((xs + ys) / 50)], -1
    )
    back = OLD_BACKGROUND if background is None else background
    mixed = np.clip(np.floor(a * subject + (1 - a) * back + 0.5), 0, 255).astype(np.uint8)
    return Image.fromarray(mixed, "RGB"), Image.fromarray(alpha8, "L"), subject, alpha8


def _errors(
    estimate: Image.Image, image: Image.Image, subject: np.ndarray, alpha8: np.ndarray
) -> tuple[float, float]:
    """Mean colour error (0..255) against the subject's own colour on the soft pixels that matter, alpha at
    least 1/4: of the estimate, and of the image as it is (the naive cut-out's colour)."""
    soft = (alpha8 >= 64) & (alpha8 < 255)
    assert soft.sum() > 100
    truth = subject[soft]
    found = np.abs(np.asarray(estimate, np.float32)[soft] - truth).mean()
    naive = np.abs(np.asarray(image, np.float32)[soft] - truth).mean()
    return float(found), float(naive)


@pytest.mark.parametrize(("width", "height"), [(160, 120), (900, 700)])  # the second is fitted small
def test_the_estimate_takes_the_old_background_out_of_soft_edges(width: int, height: int):
    image, alpha, subject, alpha8 = _scene(width, height, ramp=8.0)
    estimate = estimate_foreground(image, alpha)
    assert estimate is not None
    found, naive = _errors(estimate, image, subject, alpha8)
    assert naive > 40  # the soft edge does carry the green
    assert found < 0.25 * naive, (found, naive)
    # and the green is what went: the green the soft edge carried in excess of the subject's is mostly gone
    soft = (alpha8 >= 64) & (alpha8 < 255)
    excess = [
        np.asarray(picture, np.float32)[soft][:, 1].mean() - subject[soft][:, 1].mean()
        for picture in (estimate, image)
    ]
    assert excess[1] > 60 and excess[0] < 0.25 * excess[1], excess


def test_a_varying_background_is_taken_out_too():
    width, height = 200, 160
    xs = np.linspace(0, 1, width, dtype=np.float32)[np.newaxis, :, np.newaxis]
    gradient = np.broadcast_to(
        np.array([30, 220, 60], np.float32) * (1 - xs) + np.array([40, 80, 240]) * xs, (height, width, 3)
    )
    image, alpha, subject, alpha8 = _scene(width, height, ramp=8.0, background=gradient)
    estimate = estimate_foreground(image, alpha)
    assert estimate is not None
    found, naive = _errors(estimate, image, subject, alpha8)
    assert found < 0.35 * naive, (found, naive)


def test_opaque_and_transparent_pixels_keep_their_colour():
    image, alpha, _, alpha8 = _scene(160, 120)
    estimate = estimate_foreground(image, alpha)
    assert estimate is not None and estimate.size == image.size and estimate.mode == "RGB"
    hard = (alpha8 == 0) | (alpha8 == 255)
    assert np.array_equal(np.asarray(estimate)[hard], np.asarray(image)[hard])
    assert not np.array_equal(np.asarray(estimate)[~hard], np.asarray(image)[~hard])


def test_a_hard_matte_has_nothing_to_estimate():
    image, _, _, alpha8 = _scene(120, 90)
    hard = Image.fromarray(np.where(alpha8 >= 128, 255, 0).astype(np.uint8), "L")
    assert estimate_foreground(image, hard) is None
    assert estimate_foreground(image, Image.new("L", image.size, 0)) is None


def test_in_place_changes_the_image_itself_and_the_default_leaves_it_alone():
    image, alpha, _, _ = _scene(160, 120)
    before = np.asarray(image).copy()
    copy = estimate_foreground(image, alpha)
    assert copy is not image and np.array_equal(np.asarray(image), before)
    same = estimate_foreground(image, alpha, in_place=True)
    assert same is image and np.array_equal(np.asarray(image), np.asarray(copy))


def test_rgba_input_and_tiny_images():
    image, alpha, _, _ = _scene(160, 120)
    rgba = image.convert("RGBA")
    estimate = estimate_foreground(rgba, alpha)
    assert estimate is not None and estimate.mode == "RGB"
    assert np.array_equal(np.asarray(estimate), np.asarray(estimate_foreground(image, alpha)))
    for size in ((1, 1), (1, 7), (5, 1), (2, 2)):
        out = estimate_foreground(Image.new("RGB", size, (10, 200, 30)), Image.new("L", size, 128))
        assert out is not None and out.size == size


# ------------------------------------------------------------------------------------------ the engine


def _matte_of(alpha8: np.ndarray) -> MatteFn:
    def matte(width: int, height: int) -> np.ndarray:
        assert (width, height) == (alpha8.shape[1], alpha8.shape[0])
        return alpha8

    return matte


@pytest.fixture(scope="module")
def scene() -> tuple[bytes, Image.Image, np.ndarray, np.ndarray]:
    image, _, subject, alpha8 = _scene(160, 120, ramp=8.0)
    return encode(image, "PNG"), image, subject, alpha8


def _process(
    scene: tuple[bytes, Image.Image, np.ndarray, np.ndarray], raw: dict[str, str]
) -> tuple[Image.Image, bool]:
    data, _, _, alpha8 = scene
    result = fake_engine(_matte_of(alpha8)).process(data, Options.parse(raw))
    return open_bytes(result.data), result.report.decontaminated


def test_on_white_the_edge_carries_no_green(scene: tuple[bytes, Image.Image, np.ndarray, np.ndarray]):
    _, _, subject, alpha8 = scene
    on, ran = _process(scene, {"background_type": "white", "format": "png"})
    off, ran_off = _process(scene, {"background_type": "white", "format": "png", "decontaminate": "false"})
    assert ran and not ran_off
    a = alpha8.astype(np.float32)[..., np.newaxis] / 255
    truth = a * subject + (1 - a) * 255  # the subject laid on white
    soft = (alpha8 >= 64) & (alpha8 < 255)
    error_on = np.abs(np.asarray(on, np.float32)[soft] - truth[soft]).mean()
    error_off = np.abs(np.asarray(off, np.float32)[soft] - truth[soft]).mean()
    assert error_on < 0.3 * error_off, (error_on, error_off)


def test_the_transparent_cutout_carries_the_estimate_and_the_same_alpha(
    scene: tuple[bytes, Image.Image, np.ndarray, np.ndarray],
):
    on, ran = _process(scene, {})
    off, _ = _process(scene, {"decontaminate": "false"})
    assert ran and on.mode == off.mode == "RGBA"
    assert np.array_equal(np.asarray(on)[..., 3], np.asarray(off)[..., 3])
    assert not np.array_equal(np.asarray(on)[..., :3], np.asarray(off)[..., :3])


@pytest.mark.parametrize(
    "raw",
    [
        {"decontaminate": "false"},
        {"background_type": "map"},
        {"background_type": "overlay"},
        {"format": "zip"},
        {"threshold": "0.5"},  # a hard matte: nothing soft to estimate
    ],
)
def test_the_report_says_when_it_did_not_run(
    scene: tuple[bytes, Image.Image, np.ndarray, np.ndarray], raw: dict[str, str]
):
    data, _, _, alpha8 = scene
    result = fake_engine(_matte_of(alpha8)).process(data, Options.parse(raw))
    assert result.report.decontaminated is False
    assert result.report.to_dict()["decontaminated"] is False


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"background_type": "white"},
        {"background_type": "green"},
        {"background_type": "blur"},
        {"background_color": "#102030"},
        {"format": "webp"},
        {"format": "delta_png"},
    ],
)
def test_the_report_says_when_it_ran(
    scene: tuple[bytes, Image.Image, np.ndarray, np.ndarray], raw: dict[str, str]
):
    data, _, _, alpha8 = scene
    result = fake_engine(_matte_of(alpha8)).process(data, Options.parse(raw))
    assert result.report.decontaminated is True
    assert result.report.to_dict()["decontaminated"] is True


def test_a_background_image_gets_the_estimate(scene: tuple[bytes, Image.Image, np.ndarray, np.ndarray]):
    data, _, _, alpha8 = scene
    wall = encode(Image.new("RGB", (160, 120), (255, 255, 255)), "PNG")
    engine = fake_engine(_matte_of(alpha8))
    on = engine.process(
        data, Options.parse({"background_image": "wall.png", "format": "png"}), background=wall
    )
    raw = {"background_image": "wall.png", "format": "png", "decontaminate": "false"}
    off = engine.process(data, Options.parse(raw), background=wall)
    white = engine.process(data, Options.parse({"background_type": "white", "format": "png"}))
    assert on.report.decontaminated and not off.report.decontaminated
    # on a white wall, exactly the white background's result
    assert np.array_equal(np.asarray(open_bytes(on.data)), np.asarray(open_bytes(white.data)))
    assert not np.array_equal(np.asarray(open_bytes(on.data)), np.asarray(open_bytes(off.data)))
