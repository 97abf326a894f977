"""Fuzz the decoder and the whole engine with mutated files of every accepted format.

Invariant: bytes in, either a result or an :class:`~bgremove.InputError` with one of the error codes of
docs/s3-pipeline.md out; never ``INTERNAL_ERROR`` (``ProcessingError``), never another exception, within
the time (the profile's ``deadline``) and memory (:data:`tests.fuzz.harness.MEMORY_LIMIT_BYTES`) bounds. A
result must also be what it claims: a decodable file of the reported size and content type.

The engine runs on the fake model (``tests.fakes``): the model never sees the bytes, only the decoded
image, so the fuzz needs no ONNX. Geometry options stay small here (margins, target sizes, ``max_pixels``)
so that one example never builds a legitimately huge canvas; their extremes are fuzzed by the options
fuzzer and checked by the limit tests.
"""

from __future__ import annotations

import io
import warnings
import zipfile

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st
from PIL import Image

from bgremove import Engine, InputError, Options, output_format
from bgremove._decode import SUPPORTED_FORMATS, decode, probe_format, target_size_for
from bgremove.options import BackgroundType, Length, Margin, OutputFormat, Position, Roi, VerticalAlignment
from tests.fakes import fake_engine, full_matte
from tests.fuzz import harness, seeds
from tests.fuzz.mutations import Mutant, mutants, random_images
from tests.helpers import empty_matte, gradient_matte, soft_ellipse_matte

TARGETS = [*seeds.SEED_NAMES, "random-bytes"]
MAX_PIXELS = st.sampled_from([100, 400, 10_000, 25_000_000]) | st.integers(100, 25_000_000)


def _inputs(target: str) -> st.SearchStrategy[Mutant]:
    return random_images() if target == "random-bytes" else mutants(target)


@pytest.fixture(autouse=True)
def _quiet_pillow():
    # Damaged files make Pillow warn (truncated EXIF, bomb warnings...): expected, and noise at this volume.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ------------------------------------------------------------------------------------------------ decode


@pytest.mark.parametrize("target", TARGETS)
@given(data=st.data(), max_pixels=MAX_PIXELS)
def test_decode(target: str, data: st.DataObject, max_pixels: int):
    mutant = data.draw(_inputs(target), label="input")
    note(f"input {harness.reproducer(mutant.data)}")
    outcome = harness.bounded(
        f"decode[{target}]", mutant.data, lambda: decode(mutant.data, max_pixels=max_pixels)
    )
    event(outcome.code if isinstance(outcome, InputError) else "decoded")  # --hypothesis-show-statistics
    if isinstance(outcome, InputError):
        return
    image = outcome.image
    assert image.mode in {"RGB", "RGBA"}
    assert outcome.source_format in SUPPORTED_FORMATS
    assert 1 <= outcome.orientation <= 8
    width, height = image.size
    assert width >= 1 and height >= 1
    assert width * height <= max_pixels
    assert 0 < outcome.scale <= 1.0
    assert min(outcome.input_size) >= 1
    assert probe_format(mutant.data) == outcome.source_format


_EDGE = st.sampled_from([1, 2, 3, 5]) | st.integers(1, 40_000)  # thin strips are the hard case


@given(
    size=st.tuples(_EDGE, _EDGE).filter(lambda s: s[0] * s[1] <= 32_000_000),
    max_pixels=MAX_PIXELS,
)
def test_downscale_size(size: tuple[int, int], max_pixels: int):
    """The size ``decode`` shrinks an input to: within the input and within ``max_pixels``, never empty."""
    width, height = target_size_for(size, max_pixels)
    assert 1 <= width <= size[0] and 1 <= height <= size[1]
    assert width * height <= max_pixels or (width, height) == size


# ------------------------------------------------------------------------------------------------ engine

_ENGINES: dict[str, Engine] = {}
MATTES = {"full": full_matte, "empty": empty_matte, "gradient": gradient_matte, "ellipse": soft_ellipse_matte}


def _engine(matte: str) -> Engine:
    if matte not in _ENGINES:
        _ENGINES[matte] = fake_engine(MATTES[matte])
    return _ENGINES[matte]


_LENGTH = st.builds(Length, st.integers(0, 40).map(float), st.booleans())


def _roi(left: int, top: int, size: int) -> Roi:
    """A region of interest in percent, never empty by its own numbers (it may still miss the subject)."""
    return Roi(Length(left, True), Length(top, True), Length(left + size, True), Length(top + size, True))


@st.composite
def small_options(draw: st.DrawFn) -> Options:
    """Every option, with geometry kept small (see the module docstring)."""
    background_type = draw(st.sampled_from(BackgroundType))
    return Options(
        format=draw(st.sampled_from(OutputFormat)),
        jpeg_quality=draw(st.integers(1, 100)),
        background_color=draw(st.none() | st.tuples(*[st.integers(0, 255)] * 3))
        if background_type is BackgroundType.RGBA
        else None,
        background_type=background_type,
        threshold=draw(st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0, 1)),
        crop_to_foreground=draw(st.booleans()),
        margin=draw(st.none() | st.builds(Margin, _LENGTH, _LENGTH, _LENGTH, _LENGTH)),
        target_size=draw(st.none() | st.tuples(st.integers(1, 300), st.integers(1, 300))),
        vertical_alignment=draw(st.sampled_from(VerticalAlignment)),
        max_pixels=draw(st.sampled_from([100, 2_000, 250_000]) | st.integers(100, 250_000)),
        test=draw(st.booleans()),
        roi=draw(st.none() | st.builds(_roi, st.integers(0, 50), st.integers(0, 50), st.integers(1, 50))),
        scale=draw(st.none() | st.floats(10, 100)),
        position=draw(st.none() | st.builds(Position, st.floats(0, 100), st.floats(0, 100))),
    )


_CONTENT_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@pytest.mark.parametrize("target", TARGETS)
@given(data=st.data(), options=small_options(), matte=st.sampled_from(sorted(MATTES)))
def test_engine(target: str, data: st.DataObject, options: Options, matte: str):
    mutant = data.draw(_inputs(target), label="input")
    note(f"input {harness.reproducer(mutant.data)}")
    engine = _engine(matte)
    outcome = harness.bounded(f"engine[{target}]", mutant.data, lambda: engine.process(mutant.data, options))
    event(outcome.code if isinstance(outcome, InputError) else "result")
    if isinstance(outcome, InputError):
        return
    if outcome.content_type == "application/zip":  # remove.bg's: color.jpg and alpha.png
        with zipfile.ZipFile(io.BytesIO(outcome.data)) as archive:
            for name, fmt in (("color.jpg", "JPEG"), ("alpha.png", "PNG")):
                with Image.open(io.BytesIO(archive.read(name))) as member:
                    assert (member.size, member.format) == (outcome.report.result_size, fmt)
                    member.load()
    else:
        with Image.open(io.BytesIO(outcome.data)) as written:
            assert written.size == outcome.report.result_size
            assert _CONTENT_TYPES[outcome.content_type] == written.format
            written.load()
    promised = output_format(options)  # known before decoding: the pipeline names the output key with it
    assert outcome.report.format == promised.format.value
    assert (outcome.content_type, outcome.extension) == (promised.content_type, promised.extension)
