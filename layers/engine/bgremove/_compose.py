"""Image + matte -> the result picture: background, crop, scale, margins, watermark."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bgremove._geometry import Layout
from bgremove.options import BackgroundType, Options

_SOLID = {BackgroundType.GREEN: (0, 255, 0), BackgroundType.WHITE: (255, 255, 255)}
_OVERLAY_TINT = (255, 0, 170)
_OVERLAY_STRENGTH = 0.6
_NONZERO_LUT = [0] + [255] * 255


def has_transparency(options: Options) -> bool:
    """Whether the composed result keeps an alpha channel."""
    return options.background_type is BackgroundType.RGBA and options.background_color is None


def compose(image: Image.Image, alpha: Image.Image, options: Options, layout: Layout) -> Image.Image:
    """Build the result image (mode ``RGBA``, ``RGB`` or ``L``) for ``options``.

    ``image`` is the RGB work image, ``alpha`` its final matte at the same size.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    if not layout.is_identity:
        box = layout.crop.corners()
        image, alpha = image.crop(box), alpha.crop(box)
        if layout.content_size != image.size:
            image = image.resize(layout.content_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            alpha = alpha.resize(layout.content_size, Image.Resampling.BILINEAR)

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
        result = backdrop.resize(layout.canvas_size, Image.Resampling.BILINEAR)
        result.paste(content, layout.offset)
    else:
        result = Image.new(mode, layout.canvas_size, padding)
        result.paste(content, layout.offset)
    if options.test:
        result = watermark(result)
    return result


def _cutout(image: Image.Image, alpha: Image.Image) -> Image.Image:
    # Fully transparent pixels get black colour: invisible either way, but PNG compresses long runs of
    # identical pixels far faster and smaller than the leftover background texture.
    visible = alpha.point(_NONZERO_LUT)
    rgba = Image.composite(image, Image.new("RGB", image.size, 0), visible)
    rgba.putalpha(alpha)
    return rgba


def _blurred(image: Image.Image) -> Image.Image:
    # Blur a 1/8 copy and scale it back: the same look as a large-radius blur at full size, ~50x cheaper.
    factor = 8 if min(image.size) >= 64 else 1
    small = image.reduce(factor) if factor > 1 else image
    radius = max(2.0, 0.02 * max(small.size))
    return small.filter(ImageFilter.GaussianBlur(radius)).resize(image.size, Image.Resampling.BILINEAR)


def watermark(image: Image.Image) -> Image.Image:
    """Stamp a visible, repeated ``PREVIEW`` over the whole result (the ``test`` option)."""
    width, height = image.size
    size = max(12, min(width, height) // 8)
    font = ImageFont.load_default(size=size)
    stamp = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(stamp)
    step_x, step_y = size * 6, size * 3
    for row, y in enumerate(range(-size, height + size, step_y)):
        shift = (row % 2) * step_x // 2
        for x in range(-step_x + shift, width + step_x, step_x):
            draw.text((x, y), "PREVIEW", fill=150, font=font)
    if image.mode == "L":
        return Image.composite(Image.new("L", image.size, 128), image, stamp)
    if image.mode == "RGBA":
        marked = Image.composite(Image.new("RGBA", image.size, (128, 128, 128, 255)), image, stamp)
        return marked
    return Image.composite(Image.new("RGB", image.size, (128, 128, 128)), image, stamp)
