"""Crop, margin, target size and alignment: ``plan_layout`` and ``Layout.map_box`` (pure geometry)."""

from __future__ import annotations

import pytest

from bgremove import BBox, InvalidOptionError, VerticalAlignment
from bgremove._geometry import Layout, clip_box, plan_layout, scale_box
from bgremove.options import parse_margin

MIDDLE = VerticalAlignment.MIDDLE


def _plan(
    image_size: tuple[int, int],
    foreground: BBox | None = None,
    *,
    crop: bool = False,
    margin: str | None = None,
    target: tuple[int, int] | None = None,
    align: VerticalAlignment = MIDDLE,
) -> Layout:
    return plan_layout(
        image_size,
        foreground,
        crop_to_foreground=crop,
        margin=parse_margin(margin) if margin else None,
        target_size=target,
        vertical_alignment=align,
    )


def test_nothing_asked_is_identity():
    layout = _plan((200, 100), BBox(50, 20, 40, 30))
    assert layout.is_identity
    assert layout.crop == BBox(0, 0, 200, 100)
    assert layout.canvas_size == (200, 100)
    assert layout.map_box(BBox(50, 20, 40, 30)) == BBox(50, 20, 40, 30)


def test_crop_to_foreground():
    layout = _plan((200, 100), BBox(50, 20, 40, 30), crop=True)
    assert layout.crop == BBox(50, 20, 40, 30)
    assert layout.content_size == (40, 30)
    assert layout.offset == (0, 0)
    assert layout.canvas_size == (40, 30)
    assert not layout.is_identity
    assert layout.map_box(BBox(50, 20, 40, 30)) == BBox(0, 0, 40, 30)


@pytest.mark.parametrize("foreground", [None, BBox(50, 20, 40, 30)])
def test_no_crop_keeps_whole_image(foreground: BBox | None):
    layout = _plan((200, 100), foreground, crop=False)
    assert layout.crop == BBox(0, 0, 200, 100)


def test_no_foreground_with_crop_keeps_whole_image():
    layout = _plan((200, 100), None, crop=True)
    assert layout.crop == BBox(0, 0, 200, 100)
    assert layout.canvas_size == (200, 100)
    assert layout.is_identity
    assert layout.map_box(None) is None


@pytest.mark.parametrize(
    ("margin", "canvas", "offset"),
    [
        # cropped foreground is 40 x 30
        ("10px", (60, 50), (10, 10)),
        ("10", (60, 50), (10, 10)),
        ("5px 10px", (60, 40), (10, 5)),
        ("1px 2px 3px", (44, 34), (2, 1)),
        ("1px 2px 3px 4px", (46, 34), (4, 1)),
        ("10%", (48, 36), (4, 3)),  # 10% of the crop's width (40) left/right, of its height (30) top/bottom
        ("50% 25%", (60, 60), (10, 15)),
        ("0", (40, 30), (0, 0)),
    ],
)
def test_margins_around_crop(margin: str, canvas: tuple[int, int], offset: tuple[int, int]):
    layout = _plan((200, 100), BBox(50, 20, 40, 30), crop=True, margin=margin)
    assert layout.canvas_size == canvas
    assert layout.offset == offset
    assert layout.content_size == (40, 30)
    assert layout.map_box(BBox(50, 20, 40, 30)) == BBox(offset[0], offset[1], 40, 30)


def test_margin_percent_refers_to_the_whole_image_without_crop():
    layout = _plan((200, 100), BBox(50, 20, 40, 30), margin="10%")
    assert layout.canvas_size == (240, 120)
    assert layout.offset == (20, 10)


def test_margin_over_result_size_limit():
    with pytest.raises(InvalidOptionError) as caught:
        _plan((5000, 5000), margin="10000px")
    assert caught.value.option == "margin"


@pytest.mark.parametrize(
    ("crop_size", "target", "content", "offset"),
    [
        # landscape into portrait: width-bound, scaled by 0.5; spare height (300 - 50) split evenly
        ((200, 100), (100, 300), (100, 50), (0, 125)),
        # portrait into landscape: height-bound, scaled by 0.5; centred horizontally (300 - 50) / 2
        ((100, 200), (300, 100), (50, 100), (125, 0)),
        # upscaling: 20 x 10 grows 10x to fill the width of 200 x 200
        ((20, 10), (200, 200), (200, 100), (0, 50)),
        # same aspect: fills exactly
        ((40, 30), (400, 300), (400, 300), (0, 0)),
        # odd spare space rounds down for the top/left offset
        ((10, 10), (21, 31), (21, 21), (0, 5)),
    ],
)
def test_target_size_fit(
    crop_size: tuple[int, int], target: tuple[int, int], content: tuple[int, int], offset: tuple[int, int]
):
    layout = _plan(crop_size, target=target)
    assert layout.canvas_size == target
    assert layout.content_size == content
    assert layout.offset == offset


@pytest.mark.parametrize(
    ("align", "y"),
    [(VerticalAlignment.TOP, 0), (VerticalAlignment.MIDDLE, 125), (VerticalAlignment.BOTTOM, 250)],
)
def test_vertical_alignment(align: VerticalAlignment, y: int):
    # 200 x 100 into 100 x 300: content 100 x 50, 250 spare rows.
    layout = _plan((200, 100), target=(100, 300), align=align)
    assert layout.content_size == (100, 50)
    assert layout.offset == (0, y)
    assert layout.map_box(BBox(0, 0, 200, 100)) == BBox(0, y, 100, 50)


@pytest.mark.parametrize("align", list(VerticalAlignment))
def test_vertical_alignment_does_not_move_horizontally(align: VerticalAlignment):
    # 100 x 200 into 300 x 100: height-bound, so there is no vertical slack; x stays centred.
    layout = _plan((100, 200), target=(300, 100), align=align)
    assert layout.offset == (125, 0)


@pytest.mark.parametrize("align", list(VerticalAlignment))
def test_margins_are_kept_free_inside_target(align: VerticalAlignment):
    # target 200 x 200, margin top 10 right 20 bottom 30 left 40: room is 140 x 160 at (40, 10).
    layout = _plan((100, 100), target=(200, 200), margin="10px 20px 30px 40px", align=align)
    assert layout.canvas_size == (200, 200)
    assert layout.content_size == (140, 140)
    expected_y = {VerticalAlignment.TOP: 10, VerticalAlignment.MIDDLE: 20, VerticalAlignment.BOTTOM: 30}[
        align
    ]
    assert layout.offset == (40, expected_y)
    left, top = layout.offset
    assert left >= 40 and top >= 10
    assert left + layout.content_size[0] <= 200 - 20
    assert top + layout.content_size[1] <= 200 - 30


def test_margin_percent_refers_to_target_size():
    # 10% of 400 wide = 40 left/right; 10% of 200 high = 20 top/bottom: room 320 x 160.
    layout = _plan((100, 100), target=(400, 200), margin="10%")
    assert layout.content_size == (160, 160)
    assert layout.offset == (40 + (320 - 160) // 2, 20)


def test_crop_margin_and_target_together():
    foreground = BBox(30, 40, 60, 20)  # 3:1 subject in a 200 x 100 image
    layout = _plan((200, 100), foreground, crop=True, margin="10px", target=(100, 100))
    assert layout.crop == foreground
    assert layout.content_size == (80, 27)  # 80 / 60 = 4/3; 20 * 4/3 = 26.7 -> 27
    assert layout.offset == (10, 10 + (80 - 27) // 2)
    assert layout.map_box(foreground) == BBox(10, 36, 80, 27)


@pytest.mark.parametrize(
    ("margin", "target"),
    [("50%", (100, 100)), ("60px", (100, 100)), ("0 50px", (100, 100)), ("10px 0 10px 0", (50, 20))],
)
def test_margin_leaving_no_room(margin: str, target: tuple[int, int]):
    with pytest.raises(InvalidOptionError) as caught:
        _plan((100, 100), target=target, margin=margin)
    assert caught.value.option == "margin"
    assert caught.value.code == "INVALID_OPTION"


def test_margin_leaving_one_pixel_is_fine():
    layout = _plan((100, 50), target=(21, 21), margin="10px")
    assert layout.canvas_size == (21, 21)
    assert layout.content_size == (1, 1)
    assert layout.offset == (10, 10)


def test_tiny_content_never_collapses_to_zero():
    layout = _plan((1000, 10), target=(10, 100))
    assert layout.content_size == (10, 1)


def test_map_box_scales_and_offsets():
    # Image 200 x 100 into 400 x 400: scaled 2x to 400 x 200, placed at y = 100.
    layout = _plan((200, 100), target=(400, 400))
    assert layout.map_box(BBox(10, 20, 30, 40)) == BBox(20, 140, 60, 80)


def test_map_box_rounds_outwards():
    # Scale 1/3: a 10 px box starting at x=1 covers 1/3..11/3 -> 0..4.
    layout = _plan((300, 300), target=(100, 100))
    assert layout.map_box(BBox(1, 1, 10, 10)) == BBox(0, 0, 4, 4)


def test_map_box_clips_to_canvas():
    layout = _plan((200, 100), BBox(50, 20, 40, 30), crop=True)
    # Parts of a wider box that were cropped away are clipped off.
    assert layout.map_box(BBox(0, 0, 200, 100)) == BBox(0, 0, 40, 30)
    # A box wholly outside the crop vanishes.
    assert layout.map_box(BBox(150, 60, 10, 10)) is None


def test_clip_and_scale_box():
    assert clip_box((-5, -5, 10, 10), (8, 8)) == BBox(0, 0, 8, 8)
    assert clip_box((10, 10, 20, 20), (8, 8)) is None
    assert scale_box(BBox(1, 1, 3, 3), (2.0, 2.0), (100, 100)) == BBox(2, 2, 6, 6)
    assert scale_box(BBox(1, 1, 3, 3), (1 / 3, 1 / 3), (100, 100)) == BBox(0, 0, 2, 2)
    assert scale_box(BBox(0, 0, 10, 10), (10.0, 10.0), (50, 50)) == BBox(0, 0, 50, 50)
    assert scale_box(None, (2.0, 2.0), (10, 10)) is None
    # A 1 x 1000 strip shrunk to 1 x 100: only the height scales back.
    assert scale_box(BBox(0, 50, 1, 50), (1.0, 10.0), (1, 1000)) == BBox(0, 500, 1, 500)


def test_bbox():
    box = BBox.from_corners((10, 20, 40, 60))
    assert box == BBox(10, 20, 30, 40)
    assert (box.right, box.bottom) == (40, 60)
    assert box.corners() == (10, 20, 40, 60)
    assert str(box) == "10 20 30 40"
    assert box.to_list() == [10, 20, 30, 40]
