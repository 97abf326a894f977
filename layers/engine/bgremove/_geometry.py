"""Pure geometry of crop, margin, target size and alignment (no pixels touched here)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bgremove.exceptions import InvalidOptionError
from bgremove.limits import MAX_RESULT_PIXELS
from bgremove.options import Margin, VerticalAlignment
from bgremove.report import BBox


@dataclass(frozen=True)
class Layout:
    """Where the processed image goes on the result canvas.

    ``crop`` (in work-image pixels) is cut out, resized to ``content_size`` and pasted at ``offset`` on a
    canvas of ``canvas_size``; everything else on the canvas is background.
    """

    crop: BBox
    content_size: tuple[int, int]
    offset: tuple[int, int]
    canvas_size: tuple[int, int]

    @property
    def is_identity(self) -> bool:
        return (
            self.offset == (0, 0)
            and (self.crop.left, self.crop.top) == (0, 0)
            and self.content_size == (self.crop.width, self.crop.height)
            and self.canvas_size == self.content_size
        )

    def map_box(self, box: BBox | None) -> BBox | None:
        """A work-image box in canvas coordinates, clipped to the canvas."""
        if box is None:
            return None
        sx = self.content_size[0] / self.crop.width
        sy = self.content_size[1] / self.crop.height
        left = self.offset[0] + (box.left - self.crop.left) * sx
        top = self.offset[1] + (box.top - self.crop.top) * sy
        right = self.offset[0] + (box.right - self.crop.left) * sx
        bottom = self.offset[1] + (box.bottom - self.crop.top) * sy
        return clip_box(
            (math.floor(left), math.floor(top), math.ceil(right), math.ceil(bottom)), self.canvas_size
        )


def clip_box(corners: tuple[int, int, int, int], size: tuple[int, int]) -> BBox | None:
    left, top, right, bottom = corners
    left, top = max(0, left), max(0, top)
    right, bottom = min(size[0], right), min(size[1], bottom)
    if right <= left or bottom <= top:
        return None
    return BBox(left, top, right - left, bottom - top)


def scale_box(box: BBox | None, factor: float, size: tuple[int, int]) -> BBox | None:
    """Scale a box by ``factor`` (rounding outwards) and clip it to ``size``."""
    if box is None:
        return None
    if factor == 1.0:
        return box
    return clip_box(
        (
            math.floor(box.left * factor),
            math.floor(box.top * factor),
            math.ceil(box.right * factor),
            math.ceil(box.bottom * factor),
        ),
        size,
    )


def plan_layout(
    image_size: tuple[int, int],
    foreground: BBox | None,
    *,
    crop_to_foreground: bool,
    margin: Margin | None,
    target_size: tuple[int, int] | None,
    vertical_alignment: VerticalAlignment,
) -> Layout:
    """Work out crop, scale and placement.

    Without ``target_size`` the result is the (cropped) image plus margins; percentages refer to the
    cropped image. With ``target_size`` the canvas is exactly that size, margins (percentages of the target)
    are kept free, and the image is scaled, up or down, to fit the space inside them: centred horizontally,
    placed vertically by ``vertical_alignment``. With no foreground, cropping keeps the whole image.
    """
    width, height = image_size
    crop = foreground if crop_to_foreground and foreground is not None else BBox(0, 0, width, height)

    if target_size is None:
        top, right, bottom, left = margin.to_px(crop.width, crop.height) if margin else (0, 0, 0, 0)
        canvas = (crop.width + left + right, crop.height + top + bottom)
        if canvas[0] * canvas[1] > MAX_RESULT_PIXELS:
            raise InvalidOptionError(
                "margin", f"the result would be {canvas[0]}x{canvas[1]}, over the size limit"
            )
        return Layout(crop, (crop.width, crop.height), (left, top), canvas)

    target_w, target_h = target_size
    top, right, bottom, left = margin.to_px(target_w, target_h) if margin else (0, 0, 0, 0)
    inner_w, inner_h = target_w - left - right, target_h - top - bottom
    if inner_w < 1 or inner_h < 1:
        raise InvalidOptionError("margin", f"leaves no room inside target_size {target_w}x{target_h}")
    factor = min(inner_w / crop.width, inner_h / crop.height)
    content = (
        min(inner_w, max(1, round(crop.width * factor))),
        min(inner_h, max(1, round(crop.height * factor))),
    )
    spare_h = inner_h - content[1]
    y = {
        VerticalAlignment.TOP: 0,
        VerticalAlignment.MIDDLE: spare_h // 2,
        VerticalAlignment.BOTTOM: spare_h,
    }[vertical_alignment]
    offset = (left + (inner_w - content[0]) // 2, top + y)
    return Layout(crop, content, offset, (target_w, target_h))
