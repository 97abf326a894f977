"""Network-resolution matte -> final full-resolution alpha.

The network's matte (a probability per pixel at, e.g., 320x320) is upsampled in logit space,
``log(p / (1 - p))``, and mapped back with ``sigmoid(2 * logit)``: the logit varies smoothly where the
probability saturates, so edges land where the network puts them, and the factor 2 halves the width of the
soft band the upsampling smears. Measured on DAVIS-2016 and Weizmann horses: MAE 0.0322 -> 0.0288 and
0.0369 -> 0.0308 against plain bilinear upsampling, IoU and boundary IoU equal or better
(docs/decisions/0003-matte-logit-upsampling.md). LANCZOS when enlarging, BILINEAR when reducing (it
averages instead of aliasing).

Then a guided filter (He, Sun and Tang, 2013) with the image's colours as the guide moves the upsampled edge
onto the image's own edge, which the 320x320 network can only place to within a few pixels, and the result is
sharpened once more (``q^k / (q^k + (1 - q)^k)``): see docs/decisions/0009-u2net-static-quantisation.md for
what the filter gains. Its coefficients are fitted at most at 0.25 MP and upsampled (the "fast guided
filter"). The guide was the luma until docs/decisions/0010-foreground-colour-estimation.md: a subject on a
saturated background of about its own luma (a red or blue backdrop) has an edge in colour only. The same
record added a second, wider window, trusted where one colour model explains the matte across it, and
sharpens only what the colours leave unexplained, the more so the more the matte was enlarged (temperature
1 + enlargement, between 2 and 3): where the colours explain the matte, it already has the image's own edge
profile, and sharpening it again hardened soft edges.

Float work stops at about 2 MP: beyond that the remaining enlargement is 8-bit bilinear, which costs a
fraction of a full-size float pass and changes nothing visible (the field is smooth at that scale).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

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
_LOGIT_SHARPEN = 2.0
# The guided matte's sharpening temperature: 1 + the matte's enlargement, within these bounds
_SHARPEN_MIN = 2.0
_SHARPEN_MAX = 3.0
_FLOAT_STAGE_MAX_PIXELS = 2_000_000


def _adaptive_filter(source: tuple[int, int], target: tuple[int, int]) -> Image.Resampling:
    enlarging = target[0] * target[1] > source[0] * source[1]
    return Image.Resampling.LANCZOS if enlarging else Image.Resampling.BILINEAR


# The guided filter's windows, as shares of the diagonal, and its regularisation (colours 0..1): an edge of
# the guide with a contrast below about sqrt(eps) does not move the matte's edge. The narrow window places
# edges in clutter; the wide one follows an edge the network put a few pixels off where one colour model
# explains the matte across it (a subject on a plain backdrop), trusted as far as it does (R^2 to the power
# _WIDE_TRUST).
_GUIDE_RADIUS = 0.002
_GUIDE_WIDE_RADIUS = 0.012
_WIDE_TRUST = 2.0
_GUIDE_EPS = 1e-2
_GUIDE_COEFFICIENT_PIXELS = 250_000


def _box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the ``(2 radius + 1)`` square around each pixel, the window clipped at the borders.

    Shifted sums up to :data:`_SHIFTED_SUMS_MAX_RADIUS` (a few pixels, where they beat cumulative sums);
    beyond, differences of cumulative sums, whose cost does not grow with the radius (the wide window).
    """
    height, width = values.shape
    if radius > _SHIFTED_SUMS_MAX_RADIUS:
        window = _cumulative_window_sums(values, radius)
    else:
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


_SHIFTED_SUMS_MAX_RADIUS = 3


def _cumulative_window_sums(values: np.ndarray, radius: int) -> np.ndarray:
    """Sums over the clipped ``(2 radius + 1)`` square: differences of cumulative sums, padded with their end
    values so that every window is one subtraction. Float32 is enough at the coefficients' size (sums of a
    few hundred values of 0..1: errors around 1e-6 of a mean)."""
    height, width = values.shape
    span = 2 * radius + 1
    running = np.zeros((height + 1, width), np.float32)
    np.cumsum(values, axis=0, out=running[1:])
    running = np.pad(running, ((radius, radius), (0, 0)), mode="edge")
    rows = running[span:] - running[:-span]
    running = np.zeros((height, width + 1), np.float32)
    np.cumsum(rows, axis=1, out=running[:, 1:])
    running = np.pad(running, ((0, 0), (radius, radius)), mode="edge")
    window: np.ndarray = running[:, span:] - running[:, :-span]
    return window


def _resized(values: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    if (values.shape[1], values.shape[0]) == size:
        return values
    return np.asarray(Image.fromarray(values, "F").resize(size, resample), dtype=np.float32)


def _coefficient_size(size: tuple[int, int]) -> tuple[int, int]:
    factor = min(1.0, math.sqrt(_GUIDE_COEFFICIENT_PIXELS / (size[0] * size[1])))
    return max(1, round(size[0] * factor)), max(1, round(size[1] * factor))


class _Fit(NamedTuple):
    """The guided filter's linear model at the coefficients' size, averaged over the windows around each
    pixel: ``alpha ~ slopes . colour + offset``, and ``explained``, the share of the matte's variance the
    model explains in those windows (R^2, 0..1; 1 where the matte is flat)."""

    slopes: list[np.ndarray]
    offset: np.ndarray
    explained: np.ndarray


def _fit(alpha_low: np.ndarray, colours: list[np.ndarray], radius: int, *, explain: bool = True) -> _Fit:
    """He et al.'s colour guided filter's fit in windows of ``radius``: the least-squares line of alpha on
    the colours (RGB 0..1), regularised by :data:`_GUIDE_EPS`."""
    mean_alpha = _box_mean(alpha_low, radius)
    means = [_box_mean(channel, radius) for channel in colours]
    covariance = [
        _box_mean(channel * alpha_low, radius) - mean * mean_alpha
        for channel, mean in zip(colours, means, strict=True)
    ]

    def variance(i: int, j: int) -> np.ndarray:
        result: np.ndarray = _box_mean(colours[i] * colours[j], radius) - means[i] * means[j]
        return result + _GUIDE_EPS if i == j else result

    # the 3x3 solve of every window by cofactors: (Sigma + eps I)^-1 covariance
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    v00, v01, v02, v11, v12, v22 = (variance(i, j) for i, j in pairs)
    c00, c01, c02 = v11 * v22 - v12 * v12, v02 * v12 - v01 * v22, v01 * v12 - v02 * v11
    c11, c12, c22 = v00 * v22 - v02 * v02, v01 * v02 - v00 * v12, v00 * v11 - v01 * v01
    inverse_det = 1.0 / (v00 * c00 + v01 * c01 + v02 * c02)
    k0, k1, k2 = covariance
    slopes = [
        (c00 * k0 + c01 * k1 + c02 * k2) * inverse_det,
        (c01 * k0 + c11 * k1 + c12 * k2) * inverse_det,
        (c02 * k0 + c12 * k1 + c22 * k2) * inverse_det,
    ]
    offset = mean_alpha - sum(slope * mean for slope, mean in zip(slopes, means, strict=True))
    averaged = [_box_mean(slope, radius) for slope in slopes], _box_mean(offset, radius)
    if not explain:
        return _Fit(*averaged, explained=np.ones_like(mean_alpha))
    spread = _box_mean(alpha_low * alpha_low, radius) - mean_alpha * mean_alpha
    explained = sum(slope * part for slope, part in zip(slopes, covariance, strict=True))
    # a flat matte (spread ~ 0) has nothing to explain: the fit keeps it as it is
    share = np.where(spread > 1e-4, np.clip(explained / np.maximum(spread, 1e-6), 0.0, 1.0), 1.0)
    return _Fit(*averaged, explained=_box_mean(share.astype(np.float32), radius))


def _guided(alpha_low: np.ndarray, guide: Image.Image, temperature: float) -> np.ndarray:
    """The guided filter's output at ``guide``'s size (float 0..1), from ``alpha_low`` at the coefficients'
    size: the narrow and the wide fit (see :data:`_GUIDE_WIDE_RADIUS`) blended by how well the wide one
    explains the matte, upsampled, applied; then what the colours do not explain is sharpened at
    ``temperature`` (what they explain already has the image's own edge profile)."""
    height, width = alpha_low.shape
    guide_low = (
        guide if guide.size == (width, height) else guide.resize((width, height), Image.Resampling.BILINEAR)
    )
    colours = list(np.asarray(guide_low, dtype=np.float32).transpose(2, 0, 1) * (1 / 255))
    diagonal = math.hypot(width, height)
    narrow = _fit(alpha_low, colours, max(1, round(_GUIDE_RADIUS * diagonal)), explain=False)
    wide = _fit(alpha_low, colours, max(1, round(_GUIDE_WIDE_RADIUS * diagonal)))
    trust = wide.explained**_WIDE_TRUST

    def blend(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        result: np.ndarray = a + trust * (b - a)
        return result

    refined = _resized(blend(narrow.offset, wide.offset), guide.size, Image.Resampling.BILINEAR).copy()
    full = np.asarray(guide)
    for channel, (a, b) in enumerate(zip(narrow.slopes, wide.slopes, strict=True)):
        refined += (
            _resized(blend(a, b) * (1 / 255), guide.size, Image.Resampling.BILINEAR) * full[..., channel]
        )
    np.clip(refined, 0.0, 1.0, out=refined)
    if temperature == 1.0:
        return refined
    # sharpened + keep * (refined - sharpened): the sharpening through a table, ``keep`` = R^2 ** (2 (t - 1))
    keep = _resized(wide.explained ** (2 * (temperature - 1)), guide.size, Image.Resampling.BILINEAR)
    sharpened = _sharpen_table(temperature)[(refined * _SHARPEN_STEPS + 0.5).astype(np.uint16)]
    refined -= sharpened
    refined *= keep
    refined += sharpened
    return refined


def _sharpened(alpha: np.ndarray, temperature: float) -> np.ndarray:
    """``q^k / (q^k + (1 - q)^k)`` with ``k = temperature``, i.e. sigmoid(k logit q), without logs."""
    q = np.clip(alpha, 0.0, 1.0)
    powered = q**temperature
    result: np.ndarray = powered / np.maximum(powered + (1.0 - q) ** temperature, 1e-12)
    return result


# The sharpening as a 1024-entry table: one lookup instead of five float passes at full size.
_SHARPEN_STEPS = 1023


@functools.lru_cache(maxsize=64)
def _sharpen_table(temperature: float) -> np.ndarray:
    steps = np.linspace(0.0, 1.0, _SHARPEN_STEPS + 1)
    table: np.ndarray = _sharpened(steps, temperature).astype(np.float32)
    return table


def _post_temperature(network: tuple[int, int], size: tuple[int, int]) -> float:
    """The guided matte's sharpening: 1 + the matte's enlargement factor (linear), between
    :data:`_SHARPEN_MIN` and :data:`_SHARPEN_MAX`, in steps of 1/32 (the tables are cached)."""
    factor = math.sqrt(size[0] * size[1] / (network[0] * network[1]))
    return round(min(_SHARPEN_MAX, max(_SHARPEN_MIN, 1 + factor)) * 32) / 32


def guided_filter(alpha: np.ndarray, guide: Image.Image, temperature: float = _SHARPEN_MIN) -> np.ndarray:
    """Align ``alpha`` (float 0..1) with the edges of ``guide`` (an image of the same size), then sharpen
    what the guide's colours do not explain.

    The fast guided filter: the linear coefficients are fitted at most at :data:`_GUIDE_COEFFICIENT_PIXELS`
    and upsampled, the result is computed against the full-size guide.
    """
    height, width = alpha.shape
    alpha_low = _resized(alpha, _coefficient_size((width, height)), Image.Resampling.BILINEAR)
    return _guided(alpha_low, guide.convert("RGB"), temperature)


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
    # Guided, the float pass runs at the coefficients' size; at the stage, only the fit applied.
    target = _coefficient_size(stage) if guide is not None else stage
    up = _resized(logit, target, _adaptive_filter(probability.size, target)).copy()
    # sigmoid(_LOGIT_SHARPEN * up), in place; times 255 below when no guide refines it further
    np.multiply(up, -_LOGIT_SHARPEN, out=up)
    np.exp(up, out=up)
    up += 1.0
    if guide is not None:
        np.divide(1.0, up, out=up)
        colours = guide.convert("RGB") if guide.mode != "RGB" else guide
        if colours.size != stage:  # a box reduction first: the 12 MP colour image is read once, cheaply
            colours = colours.resize(stage, Image.Resampling.BILINEAR, reducing_gap=1.0)
        refined = _guided(up, colours, _post_temperature(probability.size, size))
        refined *= 255
        refined += 0.5
        alpha = Image.fromarray(refined.astype(np.uint8), "L")
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
