"""The edge test's material and scores: subjects of the shared sets over saturated colours, laid on white.

For one image of a shared set and its human-made mask:

- the mask (binary) is blurred with a Gaussian of :data:`SOFTNESS` px into a soft alpha ``a``;
- the subject is composited over a saturated colour ``C``: ``a * photo + (1 - a) * C``, rounded to 8 bits;
  that composite is what a method is given, asked for a white background;
- the truth is the same subject on white, ``a * photo + (1 - a) * white`` (floats);
- the band is every pixel within :data:`BAND_PX` px of the mask's contour, on either side.

Scores, over the band (colours 0..1): ``mae``, the mean absolute error per channel against the truth, and
``spill``, the share of the old background the result carries: the ``t`` that best explains the errors ``e``
as ``t (C - truth)`` over the band (least squares: ``sum(e . d) / sum(d . d)`` with ``d = C - truth``), so a
result showing ``t C + (1 - t) truth`` everywhere scores ``t``. Errors that do not lean toward ``C`` (an edge
a pixel off, a colour too dark) cancel out instead of adding up; a result pushed away from ``C`` scores below
0. Pixels away from the band are not scored: the test is about edges.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SOFTNESS = 1.0
"""Standard deviation (px) of the Gaussian that turns a binary mask into the soft alpha of the composites."""
BAND_PX = 6.0
"""Scored band: pixels whose centre is within this distance (px) of the mask's contour."""
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
}
"""The saturated backgrounds every subject is composited over."""
WHITE = np.ones(3, np.float32)


def soft_alpha(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bool) as a soft alpha (float32 0..1): blurred with a Gaussian of :data:`SOFTNESS` px."""
    blurred: np.ndarray = ndimage.gaussian_filter(mask.astype(np.float32), SOFTNESS, mode="nearest")
    return np.clip(blurred, 0.0, 1.0)


def composite(photo: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """``photo`` (uint8 HxWx3) over ``colour`` through ``alpha``, rounded to uint8."""
    a = alpha[..., np.newaxis]
    mixed = a * photo.astype(np.float32) + (1 - a) * np.asarray(colour, np.float32)
    result: np.ndarray = np.clip(np.floor(mixed + 0.5), 0, 255).astype(np.uint8)
    return result


def truth_on_white(photo: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The subject on white, float 0..1 (HxWx3)."""
    a = alpha[..., np.newaxis]
    result: np.ndarray = a * (photo.astype(np.float32) / 255) + (1 - a) * WHITE
    return result


def edge_band(mask: np.ndarray) -> np.ndarray:
    """Pixels within :data:`BAND_PX` of the contour of ``mask`` (bool), inside or outside it.

    A pixel's distance to the contour is its distance to the nearest pixel of the other side, less half a
    pixel (the contour runs between the two).
    """
    if mask.all() or not mask.any():
        return np.zeros_like(mask)
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    distance = np.where(mask, inside, outside) - 0.5
    result: np.ndarray = distance <= BAND_PX
    return result


def score(
    result: np.ndarray, truth: np.ndarray, band: np.ndarray, colour: tuple[int, int, int]
) -> dict[str, float]:
    """``mae`` and ``spill`` (see the module's docstring) of ``result`` (uint8 HxWx3) over ``band``."""
    error = result[band].astype(np.float32) / 255 - truth[band]
    towards = np.asarray(colour, np.float32) / 255 - truth[band]
    spill = float((error * towards).sum() / max(float((towards * towards).sum()), 1e-12))
    return {"mae": float(np.abs(error).mean()), "spill": spill}
