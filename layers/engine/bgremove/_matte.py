"""Network-resolution matte -> final full-resolution alpha."""

from __future__ import annotations

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
        ``L`` image at the network's resolution.
    size
        ``(width, height)`` of the work image.
    threshold
        0 keeps soft alpha; above 0 every pixel becomes 0 or 255, cut at that level.
    input_alpha
        The input's own alpha, if any: what was transparent stays transparent.
    """
    alpha = matte.resize(size, Image.Resampling.BILINEAR) if matte.size != size else matte
    alpha = alpha.point(_lookup_table(threshold))
    if input_alpha is not None:
        alpha = ImageChops.multiply(alpha, input_alpha)
    return alpha
