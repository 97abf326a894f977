"""Network-resolution matte -> final full-resolution alpha.

The network's matte (a probability per pixel at, e.g., 320x320) is upsampled in logit space,
``log(p / (1 - p))``, and mapped back with ``sigmoid(2 * logit)``: the logit varies smoothly where the
probability saturates, so edges land where the network puts them, and the factor 2 halves the width of the
soft band the upsampling smears. Measured on DAVIS-2016 and Weizmann horses: MAE 0.0322 -> 0.0288 and
0.0369 -> 0.0308 against plain bilinear upsampling, IoU and boundary IoU equal or better
(docs/decisions/0003-matte-logit-upsampling.md). LANCZOS when enlarging, BILINEAR when reducing (it
averages instead of aliasing).

Then a guided filter (He, Sun and Tang, 2013) with the image's luma as the guide moves the upsampled edge onto
the image's own edge, which the 320x320 network can only place to within a few pixels, and the result is
sharpened once more (``q^2 / (q^2 + (1 - q)^2)``, the same temperature of 2): see
docs/decisions/0009-u2net-static-quantisation.md for what it gains. Its coefficients are fitted at most at
0.25 MP and upsampled (the "fast guided filter"): about 20 ms at 0.4 MP and 35 ms at 2 MP on one core.

Float work stops at about 2 MP: beyond that the remaining enlargement is 8-bit bilinear, which costs a
fraction of a full-size float pass and changes nothing visible (the field is smooth at that scale).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageChops

# Alpha this close to 0 or 255 is model noise, not a soft edge: snapping it keeps backgrounds truly
# transparent (smaller, faster PNGs) and subjects truly opaque, and moves no edge.
NOISE_FLOOR = 4
NOISE_CEILING = 251


def _lookup_table(threshold: float) -> list[int]:
    if threshold > 0:
        cut = max(1, round(threshold * 255))
        return [255 if value >= cut else 0 for value in range(256)]
    return [0 if v <= NOISE_FLOOR else 255 if v >= NOISE_CEILING else v for v in range(256)]


_LOGIT_EPS = 1e-4
_SHARPEN = 2.0
_FLOAT_STAGE_MAX_PIXELS = 2_000_000


def _adaptive_filter(source: tuple[int, int], target: tuple[int, int]) -> Image.Resampling:
    enlarging = target[0] * target[1] > source[0] * source[1]
    return Image.Resampling.LANCZOS if enlarging else Image.Resampling.BILINEAR


# The guided filter's window radius, as a share of the diagonal, and its regularisation (luma 0..1): an edge
# of the guide with a contrast below about sqrt(eps) does not move the matte's edge.
_GUIDE_RADIUS = 0.002
_GUIDE_EPS = 1e-3
_GUIDE_COEFFICIENT_PIXELS = 250_000


def _box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the ``(2 radius + 1)`` square around each pixel, the window clipped at the borders.

    Shifted sums: the radius is a few pixels at the coefficients' resolution, where they beat cumulative sums.
    """
    height, width = values.shape
    total = np.zeros((height + 2 * radius, width), np.float32)
    total[radius : radius + height] = values
    rows = total[:height].copy()
    for shift in range(1, 2 * radius + 1):
        rows += total[shift : shift + height]
    total = np.zeros((height, width + 2 * radius), np.float32)
    total[:, radius : radius + width] = rows
    window = total[:, :width].copy()
    for shift in range(1, 2 * radius + 1):
        window += total[:, shift : shift + width]

    def counts(length: int) -> np.ndarray:
        index = np.arange(length)
        return (np.minimum(index, radius) + np.minimum(length - 1 - index, radius) + 1).astype(np.float32)

    window /= counts(height)[:, np.newaxis] * counts(width)[np.newaxis, :]
    return window


def _resized(values: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    if (values.shape[1], values.shape[0]) == size:
        return values
    return np.asarray(Image.fromarray(values, "F").resize(size, resample), dtype=np.float32)


def _coefficient_size(size: tuple[int, int]) -> tuple[int, int]:
    factor = min(1.0, math.sqrt(_GUIDE_COEFFICIENT_PIXELS / (size[0] * size[1])))
    return max(1, round(size[0] * factor)), max(1, round(size[1] * factor))


def _guided(alpha_low: np.ndarray, luma: Image.Image) -> np.ndarray:
    """The guided filter's output at ``luma``'s size (float, not clipped), from ``alpha_low`` at the
    coefficients' size: the linear fit of alpha on luma in each window, averaged, upsampled, applied."""
    height, width = alpha_low.shape
    guide_low = (
        luma if luma.size == (width, height) else luma.resize((width, height), Image.Resampling.BILINEAR)
    )
    intensity_low = np.asarray(guide_low, dtype=np.float32) * (1 / 255)
    radius = max(1, round(_GUIDE_RADIUS * math.hypot(width, height)))
    mean_guide, mean_alpha = _box_mean(intensity_low, radius), _box_mean(alpha_low, radius)
    covariance = _box_mean(intensity_low * alpha_low, radius) - mean_guide * mean_alpha
    variance = _box_mean(intensity_low * intensity_low, radius) - mean_guide * mean_guide
    slope = covariance / (variance + _GUIDE_EPS)
    offset = mean_alpha - slope * mean_guide
    slope, offset = _box_mean(slope, radius) * (1 / 255), _box_mean(offset, radius)
    refined = _resized(slope, luma.size, Image.Resampling.BILINEAR) * np.asarray(luma, dtype=np.float32)
    refined += _resized(offset, luma.size, Image.Resampling.BILINEAR)
    return refined


def _sharpened(alpha: np.ndarray) -> np.ndarray:
    """``q^k / (q^k + (1 - q)^k)`` with ``k = _SHARPEN``, i.e. sigmoid(k logit q), the logit upsampling's
    temperature, without logs."""
    q = np.clip(alpha, 0.0, 1.0)
    powered = q**_SHARPEN
    result: np.ndarray = powered / np.maximum(powered + (1.0 - q) ** _SHARPEN, 1e-12)
    return result


# The sharpening as a 1024-entry table to 8-bit alpha: one lookup instead of five float passes at full size.
_SHARPEN_STEPS = 1023
_SHARPEN_TABLE = np.floor(255 * _sharpened(np.linspace(0.0, 1.0, _SHARPEN_STEPS + 1)) + 0.5).astype(np.uint8)


def guided_filter(alpha: np.ndarray, guide: Image.Image) -> np.ndarray:
    """Align ``alpha`` (float 0..1) with the edges of ``guide`` (an image of the same size), then sharpen it.

    The fast guided filter: the linear coefficients are fitted at most at :data:`_GUIDE_COEFFICIENT_PIXELS`
    and upsampled, the result is computed against the full-size guide.
    """
    height, width = alpha.shape
    alpha_low = _resized(alpha, _coefficient_size((width, height)), Image.Resampling.BILINEAR)
    return _sharpened(_guided(alpha_low, guide.convert("L")))


def upsample_probability(
    probability: Image.Image, size: tuple[int, int], guide: Image.Image | None = None
) -> Image.Image:
    """``F`` probabilities (0..1) at network size -> ``L`` alpha at ``size``, through logit space.

    With ``guide`` (the image, at ``size``), the edges are aligned with its own (:func:`guided_filter`).
    """
    stage = size
    if size[0] * size[1] > _FLOAT_STAGE_MAX_PIXELS:
        factor = math.sqrt(_FLOAT_STAGE_MAX_PIXELS / (size[0] * size[1]))
        stage = (max(1, round(size[0] * factor)), max(1, round(size[1] * factor)))
    p = np.clip(np.asarray(probability, dtype=np.float32), _LOGIT_EPS, 1 - _LOGIT_EPS)
    logit = np.log(p / (1 - p))
    # Guided, the float pass runs at the coefficients' size; at the stage, only the fit applied and a lookup.
    target = _coefficient_size(stage) if guide is not None else stage
    up = _resized(logit, target, _adaptive_filter(probability.size, target)).copy()
    # sigmoid(SHARPEN * up), in place; times 255 below when no guide refines it further
    np.multiply(up, -_SHARPEN, out=up)
    np.exp(up, out=up)
    up += 1.0
    if guide is not None:
        np.divide(1.0, up, out=up)
        luma = guide.convert("L")
        if luma.size != stage:
            luma = luma.resize(stage, Image.Resampling.BILINEAR, reducing_gap=2.0)
        refined = _guided(up, luma)
        refined *= _SHARPEN_STEPS
        np.clip(refined, 0, _SHARPEN_STEPS, out=refined)
        refined += 0.5
        alpha = Image.fromarray(_SHARPEN_TABLE[refined.astype(np.uint16)], "L")
    else:
        np.divide(255.0, up, out=up)
        up += 0.5
        alpha = Image.fromarray(up.astype(np.uint8), "L")
    return alpha.resize(size, Image.Resampling.BILINEAR) if stage != size else alpha


def refine(
    matte: Image.Image,
    size: tuple[int, int],
    *,
    threshold: float,
    input_alpha: Image.Image | None = None,
    guide: Image.Image | None = None,
) -> Image.Image:
    """Upsample the model's matte to ``size``, clean it up and apply ``threshold``.

    Parameters
    ----------
    matte
        ``F`` probabilities (0..1) at the network's resolution, upsampled through logit space; or an ``L``
        matte, resized directly (for segmenters that produce 8-bit mattes).
    size
        ``(width, height)`` of the work image.
    threshold
        0 keeps soft alpha; above 0 every pixel becomes 0 or 255, cut at that level.
    input_alpha
        The input's own alpha, if any: what was transparent stays transparent.
    guide
        The image, at ``size``: an ``F`` matte's edges are aligned with its own (:func:`guided_filter`).
    """
    if matte.mode == "F":
        alpha = upsample_probability(matte, size, guide)
    else:
        alpha = matte.resize(size, _adaptive_filter(matte.size, size)) if matte.size != size else matte
    alpha = alpha.point(_lookup_table(threshold))
    if input_alpha is not None:
        alpha = ImageChops.multiply(alpha, input_alpha)
    return alpha
