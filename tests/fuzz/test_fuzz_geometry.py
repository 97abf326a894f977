"""Sweep every option that changes the result's geometry over every shape of input and background.

Invariant: a valid input and any combination of ``background_image`` (portrait, landscape, square, 1 x 7,
7 x 1, 1 x 1, with transparency, greyscale), ``background_color`` or any ``background_type``, ``margin``,
``target_size`` (long strips too), ``scale``, ``position``, ``roi``, ``crop_to_foreground``,
``vertical_alignment``, ``max_pixels``, ``test`` and every output format, over portrait, landscape, square,
one pixel wide, one pixel tall and tiny inputs, ends in

- a result of exactly the size the options promise (worked out here from the options' documented meaning:
  ``target_size`` when given; else the input, or the subject's box with ``crop_to_foreground``, plus the
  margins; the input's own size for ``delta_png``), a decodable file of that size and the promised type; or
- the one :class:`~bgremove.InvalidOptionError` that the options call for (a ``roi`` that leaves nothing, a
  ``margin`` that leaves no room inside ``target_size``, a ``target_size`` wider than the format holds,
  ``delta_png`` over ``max_pixels``), predicted here;

never ``INTERNAL_ERROR`` or another exception (a cover-fit box a hair outside the background once crashed
one background-image request in three; a 1 x 101 input once got a 1 x 100 ``delta_png``).

``test_cover_box`` and ``test_cover_fit`` check the cover-fit itself over far more shapes than that.

The model is the fake one (``tests.fakes``) with mattes whose subject box is known exactly: everything,
nothing, one pixel, a rectangle, a ramp. Sides stay under a hundred pixels so that an example costs
milliseconds; the size limits themselves are the limit tests' business.
"""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np
from hypothesis import example, given, note, settings
from hypothesis import strategies as st
from PIL import Image

from bgremove import Engine, InputError, InvalidOptionError, Options, output_format
from bgremove._compose import _cover_box, cover_fit
from bgremove._decode import target_size_for
from bgremove.limits import MAX_DECODE_SIDE, MAX_JPEG_SIDE, MAX_WEBP_SIDE
from bgremove.options import (
    POSITION_CENTER,
    POSITION_ORIGINAL,
    BackgroundType,
    Length,
    Margin,
    OutputFormat,
    Position,
    Roi,
    VerticalAlignment,
)
from tests.fakes import MatteFn, fake_engine, full_matte
from tests.fuzz import harness
from tests.helpers import empty_matte, encode, gradient_matte, rect_matte, textured

FOREGROUND_LEVEL = 26  # docs/s3-pipeline.md: the subject's box is where alpha >= 10%


def one_pixel_matte(width: int, height: int) -> np.ndarray:
    out = np.zeros((height, width), dtype=np.uint8)
    out[height // 2, width // 3] = 255
    return out


MATTES: dict[str, MatteFn] = {
    "full": full_matte,
    "empty": empty_matte,
    "one-pixel": one_pixel_matte,
    "rect": rect_matte(0.3, 0.2, 0.7, 0.9),
    "gradient": gradient_matte,
}
_ENGINES: dict[str, Engine] = {}


def _engine(matte: str) -> Engine:
    if matte not in _ENGINES:
        _ENGINES[matte] = fake_engine(MATTES[matte])
    return _ENGINES[matte]


def _background(width: int, height: int, mode: str) -> bytes:
    picture = textured(width, height, seed=width * 7 + height)
    if mode == "RGBA":
        picture.putalpha(Image.linear_gradient("L").resize((width, height)))
    return encode(picture.convert(mode), "PNG")


BACKGROUNDS = {
    "portrait": _background(40, 60, "RGB"),
    "landscape": _background(600, 400, "RGB"),
    "square": _background(50, 50, "RGB"),
    "1x7": _background(1, 7, "RGB"),
    "7x1": _background(7, 1, "RGB"),
    "1x1": _background(1, 1, "RGB"),
    "transparent": _background(9, 5, "RGBA"),
    "grey": _background(5, 9, "L"),
    "97x61": _background(97, 61, "RGB"),  # the odd ratio that rounding hurt most
}
_INPUTS: dict[tuple[int, int], bytes] = {}


def _input(size: tuple[int, int]) -> bytes:
    if size not in _INPUTS:
        _INPUTS[size] = encode(textured(*size, seed=1), "PNG")
    return _INPUTS[size]


# ------------------------------------------------------------------------------------------- strategies

_SIDE = st.integers(2, 90)
input_sizes = st.one_of(
    st.tuples(_SIDE, _SIDE).map(lambda s: (min(s), max(s))),  # portrait (or square)
    st.tuples(_SIDE, _SIDE).map(lambda s: (max(s), min(s))),  # landscape (or square)
    _SIDE.map(lambda side: (side, side)),
    _SIDE.map(lambda side: (1, side)),  # one pixel wide
    _SIDE.map(lambda side: (side, 1)),  # one pixel tall
    st.tuples(st.integers(1, 3), st.integers(1, 3)),  # tiny
)
_PERCENT = st.sampled_from([0.0, 50.0, 100.0]) | st.floats(0, 100).map(lambda v: round(v, 6))  # as parsed
lengths = st.builds(Length, st.integers(0, 30).map(float), st.just(False)) | st.builds(
    Length, _PERCENT, st.just(True)
)
# ``None`` repeated: drawn more often, so that most examples get as far as composing.
margins = st.one_of(st.none(), st.none(), st.builds(Margin, lengths, lengths, lengths, lengths))
_TARGET_SIDE = st.sampled_from([1, 2, 64]) | st.integers(1, 100)
# Long strips too: past WebP's and JPEG's widest, and past the side where cover-fit stops resampling.
_LONG_SIDE = st.sampled_from([MAX_WEBP_SIDE + 1, MAX_DECODE_SIDE + 1, 100_000])
_SMALL_TARGET = st.tuples(_TARGET_SIDE, _TARGET_SIDE)
_LONG_TARGET = st.tuples(_LONG_SIDE, st.integers(1, 3)) | st.tuples(st.integers(1, 3), _LONG_SIDE)
target_sizes = st.one_of(st.none(), st.none(), st.none(), _SMALL_TARGET, _SMALL_TARGET, _LONG_TARGET)
scales = st.none() | st.sampled_from([10.0, 100.0]) | st.floats(10, 100)
positions = st.one_of(
    st.none(),
    st.just(POSITION_ORIGINAL),
    st.just(POSITION_CENTER),
    st.builds(Position, _PERCENT, _PERCENT),
)
_ROI_PX = st.integers(0, 40).map(lambda v: Length(float(v)))
_ROI_PERCENT = _PERCENT.map(lambda v: Length(v, True))


def _edges(pair: tuple[Length, Length]) -> tuple[Length, Length]:
    """Two edges of one axis; in one unit, ordered as the option requires (mixed units are checked later)."""
    low, high = pair
    if low.percent == high.percent and high.value <= low.value:
        low, high = (
            Length(min(low.value, high.value), low.percent),
            Length(max(low.value, high.value) + 1, low.percent),
        )
        if high.percent and high.value > 100:
            low, high = Length(99, True), Length(100, True)
    return low, high


_ROI_EDGES = st.tuples(_ROI_PX | _ROI_PERCENT, _ROI_PX | _ROI_PERCENT).map(_edges)
_ROIS = st.builds(lambda x, y: Roi(x[0], y[0], x[1], y[1]), _ROI_EDGES, _ROI_EDGES)
rois = st.one_of(st.none(), st.none(), st.none(), _ROIS)
max_pixels = st.sampled_from([25_000_000, 100]) | st.integers(100, 9_000)


@st.composite
def backgrounds(draw: st.DrawFn) -> tuple[dict[str, object], str | None]:
    """The background options (and which background image, if any), with a format that accepts them."""
    kind = draw(st.just("image") | st.sampled_from(["color", *BackgroundType]))  # half of them an image
    if kind == "image":
        fmt = draw(
            st.sampled_from([f for f in OutputFormat if f not in (OutputFormat.ZIP, OutputFormat.DELTA_PNG)])
        )
        name = draw(st.sampled_from(sorted(BACKGROUNDS)))
        return {"background_image": f"backgrounds/{name}", "format": fmt}, name
    fmt = draw(st.sampled_from(OutputFormat))
    if kind == "color":
        return {"background_color": (10, 200, 30), "format": fmt}, None
    return {"background_type": BackgroundType(kind), "format": fmt}, None


# --------------------------------------------------------------------------------------------- promise


def _foreground(
    matte: str, work: tuple[int, int], roi: tuple[int, int, int, int] | None
) -> tuple[int, int] | None:
    """The subject box's size: the fake matte's pixels >= 10% inside the roi, or ``None``."""
    alpha = MATTES[matte](*work) >= FOREGROUND_LEVEL
    if roi is not None:
        inside = np.zeros_like(alpha)
        left, top, right, bottom = roi
        inside[top:bottom, left:right] = True
        alpha &= inside
    rows, columns = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return None
    return int(columns[-1] - columns[0] + 1), int(rows[-1] - rows[0] + 1)


def _roi_box(roi: Roi, size: tuple[int, int], work: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """docs/s3-pipeline.md: px of the input (% of its sides), on the work image when ``max_pixels``
    shrank it, clipped."""
    left, top, right, bottom = roi.to_px(*size)
    sx, sy = work[0] / size[0], work[1] / size[1]
    box = (
        max(0, min(work[0], round(left * sx))),
        max(0, min(work[1], round(top * sy))),
        max(0, min(work[0], round(right * sx))),
        max(0, min(work[1], round(bottom * sy))),
    )
    return box if box[2] > box[0] and box[3] > box[1] else None


def promise(options: Options, size: tuple[int, int], matte: str) -> tuple[int, int] | str:
    """The result's size, or the name of the option an :class:`InvalidOptionError` must blame.

    The checks come in the engine's order: the target size against the format before anything is decoded,
    then ``max_pixels`` for ``delta_png``, the ``roi`` once the input's size is known, margins last.
    """
    work = target_size_for(size, options.max_pixels)
    limit = {
        OutputFormat.WEBP: MAX_WEBP_SIDE,
        OutputFormat.JPEG: MAX_JPEG_SIDE,
        OutputFormat.ZIP: MAX_JPEG_SIDE,
    }
    widest = limit.get(output_format(options).format)
    if (
        options.target_size is not None
        and not options.is_delta
        and widest
        and max(options.target_size) > widest
    ):
        # docs/s3-pipeline.md: WebP holds at most 16,383 px a side, JPEG (and zip's JPEG) 65,500
        return "target_size"
    if options.is_delta and work != size:
        return "max_pixels"
    roi = None
    if options.roi is not None:
        roi = _roi_box(options.roi, size, work)
        if roi is None:
            return "roi"
    if options.is_delta:
        return size
    if options.target_size is not None:
        width, height = options.target_size
        if options.margin is not None:
            top, right, bottom, left = options.margin.to_px(width, height)
            if width - left - right < 1 or height - top - bottom < 1:
                return "margin"
        return options.target_size
    frame = work
    if options.crop_to_foreground:
        frame = _foreground(matte, work, roi) or work
    top, right, bottom, left = options.margin.to_px(*frame) if options.margin else (0, 0, 0, 0)
    return frame[0] + left + right, frame[1] + top + bottom


_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


def _check_file(data: bytes, content_type: str, size: tuple[int, int], opaque: bool) -> None:
    if content_type == "application/zip":  # remove.bg's: color.jpg and alpha.png
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name, fmt in (("color.jpg", "JPEG"), ("alpha.png", "PNG")):
                with Image.open(io.BytesIO(archive.read(name))) as member:
                    assert (member.size, member.format) == (size, fmt)
                    member.load()
        return
    with Image.open(io.BytesIO(data)) as written:
        assert (written.size, written.format) == (size, _FORMATS[content_type])
        if opaque:
            assert written.mode == "RGB"
        written.load()


# ---------------------------------------------------------------------------------------------- target


@settings(max_examples=max(300, settings.default.max_examples))
@given(
    size=input_sizes,
    matte=st.sampled_from(sorted(MATTES)),
    background=backgrounds(),
    margin=margins,
    target_size=target_sizes,
    scale=scales,
    position=positions,
    roi=rois,
    crop_to_foreground=st.booleans(),
    vertical_alignment=st.sampled_from(VerticalAlignment),
    max_pixels=max_pixels,
    test=st.booleans(),
)
# The report's cases: a portrait photo and a square cut-out on a 600 x 400 background.
@example(
    size=(321, 481),
    matte="rect",
    background=({"background_image": "bg", "format": OutputFormat.AUTO}, "landscape"),
    margin=None,
    target_size=None,
    scale=None,
    position=None,
    roi=None,
    crop_to_foreground=False,
    vertical_alignment=VerticalAlignment.MIDDLE,
    max_pixels=25_000_000,
    test=False,
)
@example(
    size=(113, 113),
    matte="full",
    background=({"background_image": "bg", "format": OutputFormat.PNG}, "landscape"),
    margin=None,
    target_size=None,
    scale=None,
    position=None,
    roi=None,
    crop_to_foreground=True,
    vertical_alignment=VerticalAlignment.MIDDLE,
    max_pixels=25_000_000,
    test=False,
)
def test_geometry(
    size: tuple[int, int],
    matte: str,
    background: tuple[dict[str, object], str | None],
    margin: Margin | None,
    target_size: tuple[int, int] | None,
    scale: float | None,
    position: Position | None,
    roi: Roi | None,
    crop_to_foreground: bool,
    vertical_alignment: VerticalAlignment,
    max_pixels: int,
    test: bool,
):
    background_options, background_name = background
    options = Options(
        margin=margin,
        target_size=target_size,
        scale=scale,
        position=position,
        roi=roi,
        crop_to_foreground=crop_to_foreground,
        vertical_alignment=vertical_alignment,
        max_pixels=max_pixels,
        test=test,
        **background_options,  # type: ignore[arg-type]
    )
    note(f"options {options.to_dict()}")
    data = _input(size)
    background_data = None if background_name is None else BACKGROUNDS[background_name]
    expected = promise(options, size, matte)
    outcome = harness.bounded(
        "geometry", data, lambda: _engine(matte).process(data, options, background=background_data)
    )
    if isinstance(outcome, InputError):
        assert isinstance(outcome, InvalidOptionError), f"{outcome.code}: {outcome.message}"
        assert outcome.option == expected, f"expected {expected}, got {outcome.message}"
        return
    assert outcome.report.result_size == expected
    promised = output_format(options)
    assert (outcome.content_type, outcome.extension) == (promised.content_type, promised.extension)
    assert outcome.report.format == promised.format.value
    _check_file(outcome.data, outcome.content_type, outcome.report.result_size, background_name is not None)


# ------------------------------------------------------------------------------------------- cover-fit

_COVER_SIDE = st.sampled_from([1, 2, 7, 400, 600]) | st.integers(1, 5_000)


@settings(max_examples=max(500, settings.default.max_examples))
@given(source=st.tuples(_COVER_SIDE, _COVER_SIDE), size=st.tuples(_COVER_SIDE, _COVER_SIDE))
def test_cover_box(source: tuple[int, int], size: tuple[int, int]):
    """The part of a background that covers a canvas: inside it, centred, its aspect, full on one side.

    Pure arithmetic, so it runs over far more shapes than the engine sweep (Pillow refuses a box that
    reaches a hair outside the image: the crash of ``box offset can't be negative``).
    """
    left, top, right, bottom = _cover_box(source, size)
    width, height = right - left, bottom - top
    assert 0 <= left < right <= source[0] and 0 <= top < bottom <= source[1]
    assert width == source[0] or height == source[1]  # as large as fits
    assert math.isclose(left, source[0] - right, abs_tol=1e-9) and math.isclose(
        top, source[1] - bottom, abs_tol=1e-9
    )
    assert math.isclose(width * size[1], height * size[0], rel_tol=1e-9)  # the canvas's aspect


@settings(max_examples=max(100, settings.default.max_examples))
@given(
    source=st.tuples(st.integers(1, 700), st.integers(1, 700)),
    size=st.tuples(st.integers(1, 300), st.integers(1, 300)),
    mode=st.sampled_from(["RGB", "RGBA", "L"]),
)
def test_cover_fit(source: tuple[int, int], size: tuple[int, int], mode: str):
    """Any background onto any canvas: exactly the canvas's size, opaque, the background's own colour."""
    fitted = cover_fit(Image.new(mode, source, (30, 60, 90, 255)[: len(mode)] if mode != "L" else 77), size)
    assert (fitted.size, fitted.mode) == (size, "RGB")
    low, high = zip(*fitted.getextrema(), strict=True)
    expected = (77, 77, 77) if mode == "L" else (30, 60, 90)
    assert all(abs(a - e) <= 1 and abs(b - e) <= 1 for a, b, e in zip(low, high, expected, strict=True))
