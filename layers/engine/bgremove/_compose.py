"""Image + matte -> the result picture: background (colour, image...), crop, scale, margins, watermark."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bgremove._geometry import Layout
from bgremove.limits import MAX_DECODE_SIDE
from bgremove.options import BackgroundType, Options

_SOLID = {BackgroundType.GREEN: (0, 255, 0), BackgroundType.WHITE: (255, 255, 255)}
_OVERLAY_TINT = (255, 0, 170)
_OVERLAY_STRENGTH = 0.6
_NONZERO_LUT = [0] + [255] * 255


def has_transparency(options: Options) -> bool:
    """Whether the composed result keeps an alpha channel."""
    return (
        options.background_type is BackgroundType.RGBA
        and options.background_color is None
        and options.background_image is None
    )


def keep_inside(alpha: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """``alpha`` cleared outside ``box`` (left, top, right, bottom): the ``roi`` option."""
    if box == (0, 0, *alpha.size):
        return alpha
    kept = Image.new("L", alpha.size, 0)
    kept.paste(alpha.crop(box), box[:2])
    return kept


def _placed(image: Image.Image, alpha: Image.Image, layout: Layout) -> tuple[Image.Image, Image.Image]:
    """The RGB image and its matte cut to ``layout.crop`` and resized to ``layout.content_size``."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if not layout.is_identity:
        box = layout.crop.corners()
        image, alpha = image.crop(box), alpha.crop(box)
        if layout.content_size != image.size:
            image = image.resize(layout.content_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            alpha = alpha.resize(layout.content_size, Image.Resampling.BILINEAR)
    return image, alpha


def compose(
    image: Image.Image,
    alpha: Image.Image,
    options: Options,
    layout: Layout,
    background: Image.Image | None = None,
) -> Image.Image:
    """Build the result image (mode ``RGBA``, ``RGB`` or ``L``) for ``options``.

    ``image`` is the RGB work image, ``alpha`` its final matte at the same size; ``background`` the
    decoded ``background_image`` (required when that option is set).
    """
    image, alpha = _placed(image, alpha, layout)
    if options.background_image is not None:
        if background is None:
            raise ValueError("background_image is set but no background image was given")
        result = cover_fit(background, layout.canvas_size)
        result.paste(image, layout.offset, alpha)
        return watermark(result) if options.test else result

    background_type = options.background_type
    if background_type is BackgroundType.MAP:
        content, padding = alpha, 0
        mode = "L"
    elif background_type is BackgroundType.RGBA and options.background_color is None:
        content = _cutout(image, alpha)
        mode, padding = "RGBA", 0
    else:
        mode = "RGB"
        if background_type is BackgroundType.BLUR:
            backdrop = _blurred(image)
            padding = 0
        elif background_type is BackgroundType.OVERLAY:
            backdrop = Image.blend(image, Image.new("RGB", image.size, _OVERLAY_TINT), _OVERLAY_STRENGTH)
            padding = 0
        else:
            colour = options.background_color or _SOLID[background_type]
            backdrop = Image.new("RGB", image.size, colour)
            padding = colour  # type: ignore[assignment]
        content = Image.composite(image, backdrop, alpha)

    if layout.canvas_size == content.size and layout.offset == (0, 0):
        result = content
    elif background_type is BackgroundType.BLUR:
        # Margins and target-size bars continue the blurred background instead of showing black bands.
        result = _stretch(backdrop, layout.canvas_size)
        result.paste(content, layout.offset)
    else:
        result = Image.new(mode, layout.canvas_size, padding)
        result.paste(content, layout.offset)
    if options.test:
        result = watermark(result)
    return result


def compose_zip(
    image: Image.Image, alpha: Image.Image, options: Options, layout: Layout
) -> tuple[Image.Image, Image.Image]:
    """remove.bg's zip members: the colour image (``RGB``) and the matte (``L``), both at the canvas size.

    The colour image holds the input's own colours, backgrounds included, so that ``alpha`` applied to it
    gives the cut-out; space outside the placed image (margins, bars) is black and fully transparent.
    ``test`` stamps the colour image.
    """
    image, alpha = _placed(image, alpha, layout)
    if layout.canvas_size != image.size or layout.offset != (0, 0):
        color = Image.new("RGB", layout.canvas_size, 0)
        color.paste(image, layout.offset)
        matte = Image.new("L", layout.canvas_size, 0)
        matte.paste(alpha, layout.offset)
        image, alpha = color, matte
    return (watermark(image) if options.test else image), alpha


def cover_fit(background: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``background`` (``RGBA`` is flattened onto white) scaled to cover ``size``, centred, cut to it.

    An image of exactly ``size`` is used as it is. Like :func:`_stretch`, a side longer than any input may
    be is resampled to :data:`MAX_DECODE_SIDE` and then widened by repeating pixels, so memory does not
    grow with a canvas of 25,000,000 x 1.
    """
    if background.mode == "RGBA":
        flat = Image.new("RGB", background.size, (255, 255, 255))
        flat.paste(background, (0, 0), background.getchannel("A"))
        background = flat
    elif background.mode != "RGB":
        background = background.convert("RGB")
    if background.size == size:
        return background.copy()  # the caller pastes onto it
    width, height = size
    capped = (min(width, MAX_DECODE_SIDE), min(height, MAX_DECODE_SIDE))
    fitted = background.resize(
        capped, Image.Resampling.LANCZOS, box=_cover_box(background.size, size), reducing_gap=3.0
    )
    return fitted if capped == size else fitted.resize(size, Image.Resampling.NEAREST)


def _cover_box(source: tuple[int, int], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The centred part of a ``source``-sized picture with the aspect of ``size``, as large as fits.

    The side that binds (``size`` is relatively wider: the width) is the whole source side, exactly: the
    textbook ``side / (size / source)`` comes out a hair over it in floating point (321 / (321 / 600) is
    600.0000000000001) and Pillow refuses a box reaching outside the image. The comparison is done in
    integers, so the other side, ``size``'s aspect applied to the binding one, is at most its source side.
    """
    source_w, source_h = source
    width, height = size
    if width * source_h >= height * source_w:  # the width binds: every source column is used
        crop_w, crop_h = float(source_w), min(float(source_h), height * source_w / width)
    else:
        crop_w, crop_h = min(float(source_w), width * source_h / height), float(source_h)
    left, top = (source_w - crop_w) / 2, (source_h - crop_h) / 2
    return left, top, min(float(source_w), left + crop_w), min(float(source_h), top + crop_h)


def _cutout(image: Image.Image, alpha: Image.Image) -> Image.Image:
    # Fully transparent pixels get black colour: invisible either way, but PNG compresses long runs of
    # identical pixels far faster and smaller than the leftover background texture.
    visible = alpha.point(_NONZERO_LUT)
    rgba = Image.composite(image, Image.new("RGB", image.size, 0), visible)
    rgba.putalpha(alpha)
    return rgba


def _stretch(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` (smooth: a blurred backdrop) resized to ``size``, in memory that does not grow with it.

    Pillow's resampling keeps ~12 bytes per filter tap for every output pixel of an axis: bilinear onto a
    25,000,000 x 1 canvas took 0.9 GB. A side longer than any input may be (:data:`MAX_DECODE_SIDE`) is
    resampled to that length and then widened by repeating pixels (nearest neighbour: no coefficient
    tables), steps of at most a few hundred pixels on a picture blurred over a far larger radius.
    """
    capped = (min(size[0], MAX_DECODE_SIDE), min(size[1], MAX_DECODE_SIDE))
    smooth = image.resize(capped, Image.Resampling.BILINEAR)
    return smooth if capped == size else smooth.resize(size, Image.Resampling.NEAREST)


def _blurred(image: Image.Image) -> Image.Image:
    # Blur a 1/8 copy and scale it back: the same look as a large-radius blur at full size, ~50x cheaper.
    factor = 8 if min(image.size) >= 64 else 1
    small = image.reduce(factor) if factor > 1 else image
    radius = max(2.0, 0.02 * max(small.size))
    return small.filter(ImageFilter.GaussianBlur(radius)).resize(image.size, Image.Resampling.BILINEAR)


_STAMP_TEXT = "PREVIEW"
_STAMP_INK = 150  # stamp opacity, of 255
_STAMP_GREY = 128


def watermark(image: Image.Image) -> Image.Image:
    """Stamp a visible, repeated ``PREVIEW`` over the whole result (the ``test`` option).

    The stamp's text is ``min(width, height) / 8`` px tall (at least 12), repeated every 6 text heights
    along rows 3 text heights apart, every other row shifted by half a step. One period of that pattern
    (two rows) is drawn once as a tile and repeated over the canvas by block copies, so the cost is a few
    text renderings plus memory-speed copies whatever the canvas's shape: drawing stamp by stamp took
    ~350,000 text renderings (~18 s) on a 25,000,000 x 1 canvas.
    """
    width, height = image.size
    size = max(12, min(width, height) // 8)
    stamp = Image.fromarray(_repeat(_stamp_tile(size), (height, width)), "L")
    if image.mode == "L":
        return Image.composite(Image.new("L", image.size, _STAMP_GREY), image, stamp)
    if image.mode == "RGBA":
        grey = Image.new("RGBA", image.size, (_STAMP_GREY, _STAMP_GREY, _STAMP_GREY, 255))
        return Image.composite(grey, image, stamp)
    return Image.composite(Image.new("RGB", image.size, (_STAMP_GREY,) * 3), image, stamp)


def _stamp_tile(size: int) -> np.ndarray:
    """One period of the stamp pattern as an ``L`` array: ``6 * size`` wide, two rows of ``3 * size``.

    The pattern puts a stamp at ``(j * step_x + (k % 2) * step_x // 2, k * step_y - size)`` for all
    integers ``j, k``. A stamp that crosses the tile's edge is drawn at each wrapped position that
    overlaps the tile, so the tile repeats seamlessly; stamps never overlap each other (text is about
    4.3 x 1 text heights in a 6 x 3 cell), so the draw order changes nothing.
    """
    font = ImageFont.load_default(size=size)
    step_x, step_y = size * 6, size * 3
    tile_w, tile_h = step_x, 2 * step_y
    tile = Image.new("L", (tile_w, tile_h), 0)
    draw = ImageDraw.Draw(tile)
    left, top, right, bottom = (int(v) for v in font.getbbox(_STAMP_TEXT))
    for row in (0, 1):
        x0, y0 = row * (step_x // 2), row * step_y - size
        for x in (x0 - tile_w, x0, x0 + tile_w):
            for y in (y0 - tile_h, y0, y0 + tile_h):
                if x + right > 0 and x + left < tile_w and y + bottom > 0 and y + top < tile_h:
                    draw.text((x, y), _STAMP_TEXT, fill=_STAMP_INK, font=font)
    return np.asarray(tile)


def _repeat(tile: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``tile`` repeated to fill ``shape`` (rows, columns), by doubling block copies.

    About log2(columns / tile width) + log2(rows / tile height) copies and no buffer beyond the result,
    where ``np.tile`` would round up to whole tiles (a 72-row tile on a 1-row canvas: 72 times the result).
    """
    rows, columns = shape
    out = np.empty(shape, dtype=tile.dtype)
    tile_rows, tile_columns = min(tile.shape[0], rows), min(tile.shape[1], columns)
    out[:tile_rows, :tile_columns] = tile[:tile_rows, :tile_columns]
    done = tile_columns  # always a whole number of tiles until the last, partial, copy
    while done < columns:
        count = min(done, columns - done)
        out[:tile_rows, done : done + count] = out[:tile_rows, :count]
        done += count
    done = tile_rows
    while done < rows:
        count = min(done, rows - done)
        out[done : done + count] = out[:count]
        done += count
    return out
