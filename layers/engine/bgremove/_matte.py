"""Network-resolution matte -> final full-resolution alpha.

The network's matte (a probability per pixel at, e.g., 320x320) is upsampled in logit space,
``log(p / (1 - p))``, and mapped back with ``sigmoid(2 * logit)``: the logit varies smoothly where the
probability saturates, so edges land where the network puts them, and the factor 2 halves the width of the
soft band the upsampling smears. Measured on DAVIS-2016 and Weizmann horses: MAE 0.0322 -> 0.0288 and
0.0369 -> 0.0308 against plain bilinear upsampling, IoU and boundary IoU equal or better
(docs/decisions/0003-matte-logit-upsampling.md). LANCZOS when enlarging, BILINEAR when reducing (it
averages instead of aliasing).

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


def upsample_probability(probability: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``F`` probabilities (0..1) at network size -> ``L`` alpha at ``size``, through logit space."""
    stage = size
    if size[0] * size[1] > _FLOAT_STAGE_MAX_PIXELS:
        factor = math.sqrt(_FLOAT_STAGE_MAX_PIXELS / (size[0] * size[1]))
        stage = (max(1, round(size[0] * factor)), max(1, round(size[1] * factor)))
    p = np.clip(np.asarray(probability, dtype=np.float32), _LOGIT_EPS, 1 - _LOGIT_EPS)
    logit = np.log(p / (1 - p))
    filtered = _adaptive_filter(probability.size, stage)
    up = np.asarray(Image.fromarray(logit, "F").resize(stage, filtered), dtype=np.float32).copy()
    # 255 * sigmoid(SHARPEN * up), in place: this is the one full float pass, keep it lean
    np.multiply(up, -_SHARPEN, out=up)
    np.exp(up, out=up)
    up += 1.0
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
    """
    if matte.mode == "F":
        alpha = upsample_probability(matte, size)
    else:
        alpha = matte.resize(size, _adaptive_filter(matte.size, size)) if matte.size != size else matte
    alpha = alpha.point(_lookup_table(threshold))
    if input_alpha is not None:
        alpha = ImageChops.multiply(alpha, input_alpha)
    return alpha
