"""Pure geometry of roi, crop, margin, target size, alignment, scale and position (no pixels touched here)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bgremove.exceptions import InvalidOptionError
from bgremove.limits import MAX_RESULT_PIXELS
from bgremove.options import Margin, Position, Roi, VerticalAlignment
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


def scale_box(box: BBox | None, factors: tuple[float, float], size: tuple[int, int]) -> BBox | None:
    """Scale a box by ``(x, y)`` factors (rounding outwards) and clip it to ``size``.

    Per axis: a downscale to ``max_pixels`` that stops one side at 1 pixel (1 x 1000 to 1 x 100) shrinks
    the other side alone.
    """
    if box is None:
        return None
    if factors == (1.0, 1.0):
        return box
    fx, fy = factors
    return clip_box(
        (
            math.floor(box.left * fx),
            math.floor(box.top * fy),
            math.ceil(box.right * fx),
            math.ceil(box.bottom * fy),
        ),
        size,
    )


def roi_box(roi: Roi, input_size: tuple[int, int], work_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region of interest as ``(left, top, right, bottom)`` pixels of the work image.

    ``roi`` is resolved against the input's size (as the caller sees the image) and scaled to the work
    image (smaller when ``max_pixels`` shrank the input), clipped to it.

    Raises
    ------
    InvalidOptionError
        The box is empty once resolved and clipped (mixed units can only be compared here).
    """
    in_w, in_h = input_size
    work_w, work_h = work_size
    left, top, right, bottom = roi.to_px(in_w, in_h)
    sx, sy = work_w / in_w, work_h / in_h
    box = (
        max(0, min(work_w, round(left * sx))),
        max(0, min(work_h, round(top * sy))),
        max(0, min(work_w, round(right * sx))),
        max(0, min(work_h, round(bottom * sy))),
    )
    if box[2] <= box[0] or box[3] <= box[1]:
        raise InvalidOptionError(
            "roi", f"{roi} leaves nothing of the {in_w}x{in_h} input (x1 < x2 and y1 < y2 within it)"
        )
    return box


_VERTICAL_SHARE = {
    VerticalAlignment.TOP: 0.0,
    VerticalAlignment.MIDDLE: 50.0,
    VerticalAlignment.BOTTOM: 100.0,
}


def plan_layout(
    image_size: tuple[int, int],
    foreground: BBox | None,
    *,
    crop_to_foreground: bool,
    margin: Margin | None,
    target_size: tuple[int, int] | None,
    vertical_alignment: VerticalAlignment,
    scale: float | None = None,
    position: Position | None = None,
) -> Layout:
    """Work out crop, scale and placement.

    Without ``target_size`` the result is the (cropped) image plus margins; percentages refer to the
    cropped image. With ``target_size`` the canvas is exactly that size, margins (percentages of the target)
    are kept free, and the image is scaled, up or down, to fit the space inside them: centred horizontally,
    placed vertically by ``vertical_alignment``. With no foreground, cropping keeps the whole image.

    ``scale`` or ``position`` (other than original) place the subject instead: see :func:`_place`.
    """
    width, height = image_size
    if scale is not None or (position is not None and not position.is_original):
        return _place(
            image_size,
            foreground,
            crop_to_foreground=crop_to_foreground,
            margin=margin,
            target_size=target_size,
            vertical_alignment=vertical_alignment,
            scale=scale,
            position=position,
        )
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


def _place(
    image_size: tuple[int, int],
    foreground: BBox | None,
    *,
    crop_to_foreground: bool,
    margin: Margin | None,
    target_size: tuple[int, int] | None,
    vertical_alignment: VerticalAlignment,
    scale: float | None,
    position: Position | None,
) -> Layout:
    """remove.bg's placement: the subject's box, scaled and positioned in a space.

    - What moves: the subject's box (``foreground``; the whole image when there is none). Everything
      outside it is background.
    - The space: inside the margins of ``target_size`` (the canvas) when set; otherwise the subject's box
      with ``crop_to_foreground``, else the input's size, with margins added around it as usual.
    - Its size: ``scale`` percent of the largest size that fits the space (aspect kept, up or down).
      Without ``scale``: that largest size with ``target_size``, else its own size.
    - Where: ``position`` percent of the free space (0 = left/top, 100 = right/bottom); ``original`` keeps
      the box's centre at the same share of the space as it had of the input (or of itself, cropped);
      not given: centred horizontally, vertically by ``vertical_alignment``. The box never leaves the space.
    """
    width, height = image_size
    subject = foreground or BBox(0, 0, width, height)
    frame = subject if crop_to_foreground else BBox(0, 0, width, height)  # what the space stands for
    if target_size is not None:
        canvas_w, canvas_h = target_size
        top, right, bottom, left = margin.to_px(canvas_w, canvas_h) if margin else (0, 0, 0, 0)
        space = (canvas_w - left - right, canvas_h - top - bottom)
        if space[0] < 1 or space[1] < 1:
            raise InvalidOptionError("margin", f"leaves no room inside target_size {canvas_w}x{canvas_h}")
    else:
        space = (frame.width, frame.height)
        top, right, bottom, left = margin.to_px(*space) if margin else (0, 0, 0, 0)
        canvas_w, canvas_h = space[0] + left + right, space[1] + top + bottom
        if canvas_w * canvas_h > MAX_RESULT_PIXELS:
            raise InvalidOptionError(
                "margin", f"the result would be {canvas_w}x{canvas_h}, over the size limit"
            )
    fit = min(space[0] / subject.width, space[1] / subject.height)
    unscaled = fit if target_size is not None else 1.0
    factor = unscaled if scale is None else fit * scale / 100
    content = (
        min(space[0], max(1, round(subject.width * factor))),
        min(space[1], max(1, round(subject.height * factor))),
    )
    free = (space[0] - content[0], space[1] - content[1])
    if position is not None and position.is_original:
        # The box's centre, as a share of the frame, at the same share of the space.
        centre_x = (subject.left + subject.width / 2 - frame.left) / frame.width * space[0]
        centre_y = (subject.top + subject.height / 2 - frame.top) / frame.height * space[1]
        x = min(free[0], max(0, round(centre_x - content[0] / 2)))
        y = min(free[1], max(0, round(centre_y - content[1] / 2)))
    else:
        share_x, share_y = (
            (position.x, position.y)
            if position is not None and position.x is not None and position.y is not None
            else (50.0, _VERTICAL_SHARE[vertical_alignment])
        )
        x, y = round(free[0] * share_x / 100), round(free[1] * share_y / 100)
    return Layout(subject, content, (left + x, top + y), (canvas_w, canvas_h))
