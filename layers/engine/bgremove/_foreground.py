"""Foreground colour estimation: the subject's own colour on its soft edges, without the old background.

A pixel of a soft edge (alpha ``a`` between 0 and 1) shows ``I = a F + (1 - a) B``: the subject's colour ``F``
mixed with the old background's ``B``. Composited as it is onto a new background, ``a I + (1 - a) N``, the
old background stays in as a fringe (``a (1 - a) B``), the halo of a cut-out laid on white. This module
estimates ``F`` with the blur-fusion estimator of Forte and Pitie ("Approximate fast foreground colour
estimation", ICIP 2021): the local mean colours of the subject and of the background around each pixel,
``F_m = box(a I) / box(a)`` and ``B_m = box((1 - a) I) / box(1 - a)``, then ``F = F_m + a (I - a F_m -
(1 - a) B_m)``, the pixel's own colour with the background's expected share taken out; twice, first with a
wide window, then with a narrow one fed by the first pass's estimate.

Fast, as the guided filter of :mod:`bgremove._matte` is: the two means are smooth fields, so they are
computed from the image reduced to at most :data:`FIELD_PIXELS` (box means: ``_box_mean``'s shifted sums for
small windows, cumulative sums for wide ones) and read at full size from cells of about 8 px; the last step
runs at full size, with the image's own colours and alpha, on the soft pixels only, inside the box that holds
them (pixels with alpha 0 or 255 keep their colour: fully transparent ones are invisible, opaque ones are the
subject). The windows are wide (6% and 1.2% of the diagonal) so that an edge soft over many pixels (hair,
motion blur, a matte enlarged 10x) still reaches pure subject and pure background.
docs/decisions/0010-foreground-colour-estimation.md has the measurements behind each choice.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from bgremove._matte import _box_mean, _resized

FIELD_PIXELS = 50_000
"""The mean colours are computed at most at this many pixels (an integer ``reduce`` of the image)."""
WIDE_RADIUS = 0.06
"""The first pass's window radius, as a share of the image's diagonal."""
NARROW_RADIUS = 0.012
"""The second pass's window radius, as a share of the image's diagonal."""
_EPS = 1e-4
_SAMPLE_CELL = 8  # px of the full-size image per cell of the enlarged fields


def _reduction(size: tuple[int, int]) -> int:
    """The integer factor that brings ``size`` to at most :data:`FIELD_PIXELS` (Pillow's ``reduce``)."""
    return max(1, math.ceil(math.sqrt(size[0] * size[1] / FIELD_PIXELS)))


def _means(
    colours: np.ndarray, alpha: np.ndarray, radius: int, background: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``F_m`` and ``B_m`` (3xHxW) over the ``(2 radius + 1)`` window: ``colours`` (3xHxW) weighted by
    ``alpha``, ``background`` (``colours`` when omitted) by ``1 - alpha``."""
    background = colours if background is None else background
    mean_alpha = _box_mean(alpha, radius)
    weight_f = 1.0 / (mean_alpha + _EPS)
    weight_b = 1.0 / (1.0 - mean_alpha + _EPS)
    fore = np.stack([_box_mean(channel * alpha, radius) * weight_f for channel in colours])
    back = np.stack([_box_mean(channel * (1.0 - alpha), radius) * weight_b for channel in background])
    return fore, back


def _fields(image: Image.Image, alpha: Image.Image, wide: int, narrow: int) -> np.ndarray:
    """The second pass's ``F_m`` and ``B_m`` of ``image`` and ``alpha`` (already at the fields' size), with
    window radii ``wide`` and ``narrow`` (px there), stacked (6xHxW, colours 0..1)."""
    colours = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) * (1 / 255)
    a = np.asarray(alpha, dtype=np.float32) * (1 / 255)
    fore, back = _means(colours, a, wide)
    first = np.clip(fore + a * (colours - a * fore - (1.0 - a) * back), 0.0, 1.0)
    fore, back = _means(first, a, narrow, back)
    return np.concatenate([fore, back])


def _sample(field: np.ndarray, rows: np.ndarray, columns: np.ndarray, factor: int) -> np.ndarray:
    """``field`` (Cxhxw, made by ``reduce(factor)``) at full-size pixels ``rows``, ``columns``: C x n.

    The field is first enlarged (bilinear, Pillow) to cells of about :data:`_SAMPLE_CELL` px, then read at
    the nearest cell: the means vary over tens of pixels, so the steps are far below what shows, and one
    gather replaces four.
    """
    channels, height, width = field.shape
    steps = max(1, min(factor, round(factor / _SAMPLE_CELL)))
    if steps > 1:
        size = (width * steps, height * steps)
        field = np.stack([_resized(channel, size, Image.Resampling.BILINEAR) for channel in field])
        height, width = size[1], size[0]
    cell = factor / steps
    y = np.minimum(((rows + 0.5) * (1 / cell)).astype(np.intp), height - 1)  # the nearest cell's centre
    x = np.minimum(((columns + 0.5) * (1 / cell)).astype(np.intp), width - 1)
    y *= width
    y += x
    result: np.ndarray = np.take(field.reshape(channels, height * width), y, axis=1)
    return result


def estimate_foreground(
    image: Image.Image, alpha: Image.Image, *, in_place: bool = False
) -> Image.Image | None:
    """``image`` (RGB) with the colours of its soft pixels (``alpha`` 1..254) replaced by the subject's own.

    Returns ``None`` when ``alpha`` (``L``, the image's size) has no soft pixel; else a new image, or
    ``image`` itself changed with ``in_place`` (which saves a copy of a large image).
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    corners = alpha.getbbox()  # what is not transparent holds every soft pixel; found in C, cheaply
    if corners is None:
        return None
    # Only the box of what is not transparent is read, with room around it for the narrow windows.
    width, height = image.size
    factor = _reduction(image.size)
    diagonal = math.hypot(width, height) / factor
    wide, narrow = (max(1, round(share * diagonal)) for share in (WIDE_RADIUS, NARROW_RADIUS))
    margin = factor * narrow
    box = (
        max(0, corners[0] - margin),
        max(0, corners[1] - margin),
        min(width, corners[2] + margin),
        min(height, corners[3] + margin),
    )
    region_alpha = alpha.crop(box)
    values = np.asarray(region_alpha)
    inside = (values - np.uint8(1)) < 254  # 1..254: 0 wraps to 255
    index = np.flatnonzero(inside)
    if index.size == 0:  # a hard matte (a threshold, or an input's own hard alpha)
        return None
    region = image.crop(box)
    small = (region.reduce(factor), region_alpha.reduce(factor)) if factor > 1 else (region, region_alpha)
    field = _fields(*small, wide, narrow)
    pixels = np.array(region)  # writable
    fore_back = _sample(field, *np.divmod(index, region.width), factor)
    fore, back = fore_back[:3], fore_back[3:]
    flat = pixels.reshape(-1, 3)
    colours = np.take(flat, index, axis=0).T.astype(np.float32, order="C")
    colours *= 1 / 255
    a = values[inside].astype(np.float32)
    a *= 1 / 255
    # F = F_m + a (I - a F_m - (1 - a) B_m), in place
    colours -= a * fore
    colours -= (1.0 - a) * back
    colours *= a
    colours += fore
    colours *= 255
    colours += 0.5
    np.clip(colours, 0, 255, out=colours)
    estimate = colours.astype(np.uint8)
    for channel in range(3):
        flat[:, channel][index] = estimate[channel]
    result = image if in_place else image.copy()
    result.paste(Image.fromarray(pixels, "RGB"), box[:2])
    return result
