"""The real default model (u2net) on the three fixture photos: hand-checked subject and background points.

PROBE POINTS WERE CHECKED BY EYE. Each point below was marked on a 2x enlargement of the photo (with a
50 px grid) and looked at, and the engine's ``map`` output of the same photo was looked at too:

astronaut.jpg (512 x 512)
    subject: cheek/nose (235, 110), hair (250, 60), black collar inside the neck ring (230, 200),
             orange suit on the chest (180, 330), orange sleeve (100, 400), black helmet held in front
             (300, 450) and (400, 420)
    background: flag, top-left (40, 20); grey backdrop left of the head (100, 45); grey backdrop between
             the head and the shuttle model (330, 90); grey backdrop right of the shuttle (470, 100);
             black table cloth under the shuttle (480, 300)
coffee.jpg (600 x 400)
    subject: crema in the cup (290, 145), red cup body (260, 220), saucer left of the cup (100, 220),
             spoon bowl (350, 280), saucer rim at the bottom (280, 360)
    background: wooden table at (550, 50), (560, 200), (540, 330), (30, 350); dark corner (20, 30)
    By eye the cup and saucer span about x 76..480 and y 18..390.
chelsea.jpg (451 x 300)
    subject: left eye (170, 115), right eye (320, 125), nose (265, 235), forehead (200, 50)
    background: the blurred room right of the cat's head (430, 50), (430, 150), (380, 200), (430, 280)
"""

from __future__ import annotations

import numpy as np
import pytest

from bgremove import BBox
from tests.helpers import open_bytes, photo
from tests.integration.conftest import Run

pytestmark = pytest.mark.integration

Point = tuple[int, int]

PROBES: dict[str, dict[str, list[Point]]] = {
    "astronaut": {
        "subject": [(235, 110), (250, 60), (230, 200), (180, 330), (100, 400), (300, 450), (400, 420)],
        "background": [(40, 20), (100, 45), (330, 90), (470, 100), (480, 300)],
    },
    "coffee": {
        "subject": [(290, 145), (260, 220), (100, 220), (350, 280), (280, 360)],
        "background": [(550, 50), (560, 200), (540, 330), (30, 350), (20, 30)],
    },
    "chelsea": {
        "subject": [(170, 115), (320, 125), (265, 235), (200, 50)],
        "background": [(430, 50), (430, 150), (380, 200), (430, 280)],
    },
}
SIZES = {"astronaut": (512, 512), "coffee": (600, 400), "chelsea": (451, 300)}


def _map(run: Run, name: str) -> np.ndarray:
    return np.asarray(open_bytes(run(name, background_type="map").data))


def _inside(box: BBox, point: Point) -> bool:
    x, y = point
    return box.left <= x < box.right and box.top <= y < box.bottom


@pytest.mark.parametrize("name", PROBES)
def test_subject_points_are_opaque(run: Run, name: str):
    matte = _map(run, name)
    for x, y in PROBES[name]["subject"]:
        assert matte[y, x] > 200, (name, (x, y), int(matte[y, x]))


@pytest.mark.parametrize("name", PROBES)
def test_background_points_are_transparent(run: Run, name: str):
    matte = _map(run, name)
    for x, y in PROBES[name]["background"]:
        assert matte[y, x] < 50, (name, (x, y), int(matte[y, x]))


@pytest.mark.parametrize("name", PROBES)
def test_map_shape_and_report(run: Run, name: str):
    result = run(name, background_type="map")
    matte = _map(run, name)
    assert matte.shape == SIZES[name][::-1]
    assert result.report.input_size == SIZES[name]
    assert result.report.result_size == SIZES[name]
    assert result.report.orientation == 1
    assert result.report.model == "u2net"
    assert result.report.source_format == "JPEG"
    # A real matte: some of it solid subject, some solid background, and a soft edge between.
    assert (matte == 255).mean() > 0.1
    assert (matte == 0).mean() > 0.1
    assert ((matte > 0) & (matte < 255)).any()


@pytest.mark.parametrize("name", PROBES)
def test_bbox_contains_the_subject(run: Run, name: str):
    report = run(name, background_type="map").report
    box = report.input_foreground
    assert box is not None
    assert report.result_foreground == box  # no geometry options: same coordinates
    for point in PROBES[name]["subject"]:
        assert _inside(box, point), (name, point, box)
    # The box is tight: it is exactly where the matte reaches the foreground level (alpha >= 26).
    matte = _map(run, name)
    rows, cols = np.nonzero(matte >= 26)
    assert box == BBox.from_corners(
        (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    )


def test_coffee_bbox_matches_the_eye(run: Run):
    box = run("coffee", background_type="map").report.input_foreground
    assert box is not None
    # Cup and saucer by eye: x 76..480, y 18..390 (a few pixels of slack for the soft edge).
    assert 60 <= box.left <= 90 and 470 <= box.right <= 495
    assert 5 <= box.top <= 30 and 380 <= box.bottom <= 400
    for point in PROBES["coffee"]["background"]:
        assert not _inside(box, point)


@pytest.mark.parametrize("name", PROBES)
def test_rgba_cutout_matches_map_and_photo(run: Run, name: str):
    cutout = np.asarray(open_bytes(run(name).data))
    assert cutout.shape == (*SIZES[name][::-1], 4)
    matte = _map(run, name)
    assert np.array_equal(cutout[..., 3], matte)
    original = np.asarray(photo(name))
    solid = matte == 255
    assert np.array_equal(cutout[solid, :3], original[solid])
    for x, y in PROBES[name]["subject"]:
        assert cutout[y, x, 3] > 200
