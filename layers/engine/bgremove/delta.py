"""Delta PNG, as Pixian defines it, and its decoder.

A delta PNG has the input's size and says, per pixel, what changes:

- background (alpha 0) -> ``0x00000000`` transparent black,
- foreground (alpha 255) -> ``0x00FFFFFF`` transparent white: "keep the input pixel",
- partly transparent pixels -> their real colour and alpha.

It is far smaller than a full cut-out because it holds colour only along the edges; a client that already
has the input rebuilds the cut-out with :func:`apply_delta`.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from bgremove._decode import decode
from bgremove.exceptions import CorruptImageError, DeltaMismatchError, NotAnImageError
from bgremove.limits import MAX_WORK_PIXELS


def make_delta(image: Image.Image, alpha: Image.Image) -> Image.Image:
    """Build the delta RGBA image from the work image and its final matte (same size)."""
    rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    matte = np.asarray(alpha)
    delta = np.zeros((*matte.shape, 4), dtype=np.uint8)
    partial = (matte > 0) & (matte < 255)
    delta[matte == 255, :3] = 255
    delta[partial, :3] = rgb[partial]
    delta[..., 3] = np.where(partial, matte, 0)
    return Image.fromarray(delta, "RGBA")


def apply_delta(input_data: bytes, delta_data: bytes) -> Image.Image:
    """Rebuild the full RGBA cut-out from the original input bytes and a delta PNG.

    The delta's header is checked against the input before its pixels are decoded, so a delta that
    declares some other (possibly enormous) size costs nothing.

    Raises
    ------
    NotAnImageError
        The delta is no image at all.
    DeltaMismatchError
        The delta is not an RGBA PNG of the input's (EXIF-oriented) size.
    CorruptImageError
        The delta's header is right but its pixel data is damaged or truncated.
    """
    source = decode(input_data, max_pixels=MAX_WORK_PIXELS).image.convert("RGB")
    try:
        delta_image = Image.open(io.BytesIO(delta_data))
    except Exception:  # Pillow's plugins raise many types (bomb errors too) for bytes they cannot read
        raise NotAnImageError("the delta is not a readable PNG") from None
    if delta_image.format != "PNG" or delta_image.mode != "RGBA":
        raise DeltaMismatchError(
            f"the delta must be an RGBA PNG, got {delta_image.format} {delta_image.mode}"
        )
    if delta_image.size != source.size:
        raise DeltaMismatchError(f"the delta is {delta_image.size}, the input is {source.size}")
    try:
        delta_image.load()
    except Exception as error:  # as in decode(): any decoder failure is the file's
        raise CorruptImageError(f"the delta PNG is damaged or truncated: {error}") from None
    delta = np.asarray(delta_image)
    rgb = np.asarray(source)
    out = delta.copy()
    keep = (delta[..., 3] == 0) & (delta[..., :3] == 255).all(axis=-1)
    out[keep, :3] = rgb[keep]
    out[keep, 3] = 255
    return Image.fromarray(out, "RGBA")
