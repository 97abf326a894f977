"""The matte's last steps: the box mean, the guided filter (the matte's edges onto the image's), refine."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bgremove import _matte
from bgremove._matte import _box_mean, guided_filter, refine


def _brute_box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    height, width = values.shape
    out = np.empty_like(values)
    for y in range(height):
        for x in range(width):
            window = values[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1]
            out[y, x] = window.mean()
    return out


@pytest.mark.parametrize(
    ("shape", "radius"), [((7, 9), 1), ((12, 5), 2), ((6, 6), 4), ((3, 20), 3), ((30, 41), 9), ((1, 50), 12)]
)
def test_box_mean_is_the_window_mean_clipped_at_the_borders(shape: tuple[int, int], radius: int):
    values = np.random.default_rng(7).random(shape, dtype=np.float32)
    np.testing.assert_allclose(_box_mean(values, radius), _brute_box_mean(values, radius), atol=1e-5)


def _step_guide(width: int, height: int, edge: int) -> Image.Image:
    """Dark on the left of column ``edge``, light from it on: an image whose only edge is at ``edge``."""
    pixels = np.full((height, width), 40, dtype=np.uint8)
    pixels[:, edge:] = 220
    return Image.fromarray(pixels, "L").convert("RGB")


def _ramp(width: int, height: int, centre: float, half_width: float) -> np.ndarray:
    """A soft matte edge, 0 on the left and 1 on the right, crossing 0.5 at ``centre``."""
    columns = np.arange(width, dtype=np.float32) + 0.5
    row = np.clip((columns - centre) / (2 * half_width) + 0.5, 0.0, 1.0)
    return np.tile(row, (height, 1)).astype(np.float32)


def _crossing(row: np.ndarray) -> float:
    """Where a rising row crosses 0.5, interpolated between pixel centres."""
    right = int(np.argmax(row >= 0.5))
    left = right - 1
    return left + 0.5 + (0.5 - row[left]) / (row[right] - row[left])


def _steepest(row: np.ndarray) -> int:
    """The column where a rising row climbs the most from its left neighbour."""
    return int(np.argmax(np.diff(row))) + 1


def test_guided_filter_moves_a_misplaced_edge_towards_the_image_edge():
    width, height, edge = 800, 120, 400
    alpha = _ramp(width, height, centre=edge + 2.5, half_width=4)  # the network's soft edge, 2.5 px off
    refined = guided_filter(alpha, _step_guide(width, height, edge))
    assert _steepest(refined[60]) == edge  # the matte now jumps where the image does
    assert abs(_crossing(refined[60]) - edge) < abs(_crossing(alpha[60]) - edge) - 0.25
    assert refined.shape == alpha.shape and refined.dtype == np.float32
    assert refined.min() >= 0.0 and refined.max() <= 1.0


def test_guided_filter_keeps_the_edge_where_the_image_has_none_and_sharpens_it():
    width, height = 800, 120
    alpha = _ramp(width, height, centre=403.0, half_width=6)
    flat = Image.new("RGB", (width, height), (128, 128, 128))
    refined = guided_filter(alpha, flat)
    assert abs(_crossing(refined[60]) - _crossing(alpha[60])) < 0.5
    soft = lambda matte: int(((matte > 0.05) & (matte < 0.95)).sum())  # noqa: E731
    assert soft(refined) < soft(alpha)  # a narrower soft band


def test_guided_filter_does_not_paint_texture_into_a_uniform_matte():
    texture = Image.fromarray(np.random.default_rng(3).integers(0, 256, (90, 160, 3), dtype=np.uint8), "RGB")
    for level in (0.0, 1.0):
        refined = guided_filter(np.full((90, 160), level, dtype=np.float32), texture)
        np.testing.assert_allclose(refined, level, atol=1e-3)


def test_refine_aligns_a_probability_matte_with_its_guide():
    width, height, edge = 1600, 96, 800
    network = Image.fromarray(
        _ramp(160, 8, centre=80.2, half_width=0.8), "F"
    )  # 10x smaller, 2 px off at size
    guide = _step_guide(width, height, edge)
    guided = np.asarray(refine(network, (width, height), threshold=0.0, guide=guide), dtype=np.float32) / 255
    plain = np.asarray(refine(network, (width, height), threshold=0.0), dtype=np.float32) / 255
    assert guided.shape == plain.shape == (height, width)
    assert abs(_crossing(guided[48]) - edge) < abs(_crossing(plain[48]) - edge) - 0.25
    jump = lambda row: row[edge] - row[edge - 1]  # noqa: E731
    assert jump(guided[48]) > jump(plain[48]) + 0.1  # the matte now rises where the image does


def test_the_wide_window_takes_an_edge_of_a_plain_backdrop_closer_than_the_narrow_one_alone(
    monkeypatch: pytest.MonkeyPatch,
):
    width, height, edge = 800, 120, 400  # windows of 2 and 10 px at this size; the network's edge 2 px off
    alpha = _ramp(width, height, centre=edge + 2.0, half_width=4)
    both = _crossing(guided_filter(alpha, _step_guide(width, height, edge))[60])
    monkeypatch.setattr(_matte, "_GUIDE_WIDE_RADIUS", _matte._GUIDE_RADIUS)
    narrow = _crossing(guided_filter(alpha, _step_guide(width, height, edge))[60])
    assert abs(both - edge) < 0.6
    assert abs(narrow - edge) > 1.0


def test_guided_filter_keeps_a_soft_edge_the_image_explains():
    # the subject fades into a plain backdrop over 8 px, and the matte fades with it: the guide explains the
    # matte, so it keeps its profile instead of being hardened
    width, height = 800, 120
    alpha = _ramp(width, height, centre=400.0, half_width=4)
    fade = np.tile((255 * alpha[0]).astype(np.uint8), (height, 1))
    guide = Image.fromarray(np.stack([fade, 255 - fade, np.full_like(fade, 90)], axis=-1), "RGB")
    refined = guided_filter(alpha, guide, temperature=3.0)
    kept = np.abs(refined[60] - alpha[60]).max()
    assert kept < 0.5 * np.abs(_matte._sharpened(alpha[60], 3.0) - alpha[60]).max()
    unexplained = guided_filter(alpha, Image.new("RGB", (width, height), (128, 128, 128)), temperature=3.0)
    soft = lambda matte: int(((matte > 0.05) & (matte < 0.95)).sum())  # noqa: E731
    assert soft(unexplained) < 0.8 * soft(refined)
