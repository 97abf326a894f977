"""Every error code the engine publishes, the class hierarchy behind them and their ``to_dict`` form."""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

import bgremove
from bgremove import (
    BgRemoveError,
    ConfigurationError,
    CorruptImageError,
    DeltaMismatchError,
    EmptyInputError,
    ImageTooLargeError,
    InputError,
    InvalidOptionError,
    ModelError,
    ModelLoadError,
    ModelNotFoundError,
    ModelRegistry,
    ModelSpec,
    NotAnImageError,
    Options,
    ProcessingError,
    UnsupportedFormatError,
    apply_delta,
)
from bgremove._decode import decode, probe_format
from bgremove.models import U2NETP, SessionConfig
from tests.fakes import fake_engine, fake_registry
from tests.helpers import encode, photo_bytes, textured

BIG = 25_000_000

# ------------------------------------------------------------------------------------- hierarchy


@pytest.mark.parametrize(
    ("cls", "base", "code"),
    [
        (EmptyInputError, InputError, "EMPTY_INPUT"),
        (NotAnImageError, InputError, "NOT_AN_IMAGE"),
        (UnsupportedFormatError, InputError, "UNSUPPORTED_FORMAT"),
        (CorruptImageError, InputError, "CORRUPT_IMAGE"),
        (ImageTooLargeError, InputError, "IMAGE_TOO_LARGE"),
        (DeltaMismatchError, InputError, "DELTA_MISMATCH"),
        (ModelNotFoundError, ModelError, "MODEL_NOT_FOUND"),
        (ModelLoadError, ModelError, "MODEL_LOAD_FAILED"),
        (ProcessingError, BgRemoveError, "INTERNAL_ERROR"),
    ],
)
def test_error_classes(cls: type[BgRemoveError], base: type[BgRemoveError], code: str):
    error = cls("something went wrong")
    assert isinstance(error, base)
    assert isinstance(error, BgRemoveError)
    assert isinstance(error, Exception)
    assert error.code == code
    assert error.message == "something went wrong"
    assert str(error) == "something went wrong"
    assert error.to_dict() == {"code": code, "message": "something went wrong"}


def test_input_and_model_errors_are_disjoint():
    assert not issubclass(ModelError, InputError)
    assert not issubclass(InputError, ModelError)
    assert not issubclass(ProcessingError, (InputError, ModelError))
    for cls in (ModelNotFoundError, ModelLoadError):
        assert not issubclass(cls, InputError)
    for cls in (EmptyInputError, NotAnImageError, InvalidOptionError, DeltaMismatchError):
        assert not issubclass(cls, ModelError)


def test_invalid_option_error_names_the_option():
    error = InvalidOptionError("margin", "bad")
    assert isinstance(error, InputError)
    assert error.code == "INVALID_OPTION"
    assert error.option == "margin"
    assert "margin" in error.message
    assert error.to_dict() == {"code": "INVALID_OPTION", "message": error.message, "option": "margin"}


def test_configuration_error_names_the_setting():
    error = ConfigurationError("BGREMOVE_THREADS", "must be a whole number")
    assert error.code == "INVALID_SETTING"
    assert error.setting == "BGREMOVE_THREADS"
    assert error.message == "BGREMOVE_THREADS: must be a whole number"
    assert error.to_dict() == {
        "code": "INVALID_SETTING",
        "message": error.message,
        "setting": "BGREMOVE_THREADS",
    }
    # Neither the request's fault nor the model's: callers must not retry it or blame the upload.
    assert isinstance(error, BgRemoveError)
    assert not isinstance(error, (InputError, ModelError, ProcessingError, ValueError))


def test_codes_are_unique():
    classes = [getattr(bgremove, name) for name in bgremove.__all__]
    errors = [c for c in classes if isinstance(c, type) and issubclass(c, BgRemoveError)]
    leaves = [c for c in errors if c not in (BgRemoveError, InputError, ModelError)]
    codes = [c.code for c in leaves]
    assert len(codes) == len(set(codes)), codes


# ---------------------------------------------------------------------------------- input errors


def _png_header_only(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A PNG signature, a valid IHDR claiming ``width x height`` and no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + end


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


INPUT_CASES = {
    "empty": (b"", EmptyInputError),
    "text": (b"hello, this is a plain text file and not a picture\n" * 20, NotAnImageError),
    "html": (b"<!DOCTYPE html><html><body>nope</body></html>", NotAnImageError),
    "ico": (lambda: encode(textured(32, 32), "ICO"), UnsupportedFormatError),
    "pcx": (lambda: encode(textured(32, 32), "PCX"), UnsupportedFormatError),
    "ppm": (lambda: encode(textured(32, 32), "PPM"), UnsupportedFormatError),
    "tga": (lambda: encode(textured(32, 32), "TGA"), UnsupportedFormatError),
    "truncated_jpeg": (lambda: _truncated(photo_bytes("coffee")), CorruptImageError),
    "truncated_png": (lambda: _truncated(encode(textured(200, 150), "PNG")), CorruptImageError),
    "truncated_gif": (lambda: _truncated(encode(textured(200, 150), "GIF")), CorruptImageError),
    "truncated_tiff": (lambda: _truncated(encode(textured(200, 150), "TIFF")), CorruptImageError),
    "png_without_pixels": (lambda: _png_header_only(64, 64), CorruptImageError),
    "big_1bit_png": (lambda: encode(Image.new("1", (6000, 6000)), "PNG"), ImageTooLargeError),
    "big_palette_png": (lambda: encode(Image.new("P", (6000, 6000)), "PNG"), ImageTooLargeError),
    # Header only: decoding pixels would fail as CORRUPT_IMAGE, so this proves the size is checked first.
    "big_png_header_only": (lambda: _png_header_only(6000, 6000), ImageTooLargeError),
    "huge_png_header_only": (lambda: _png_header_only(20000, 20000), ImageTooLargeError),
}


def _input(case: str) -> tuple[bytes, type[InputError]]:
    data, expected = INPUT_CASES[case]
    return (data() if callable(data) else data), expected


@pytest.mark.parametrize("case", INPUT_CASES)
def test_decode_errors(case: str):
    data, expected = _input(case)
    with pytest.raises(expected) as caught:
        decode(data, max_pixels=BIG)
    assert type(caught.value) is expected
    assert isinstance(caught.value, InputError)
    assert caught.value.to_dict()["code"] == expected.code


@pytest.mark.parametrize("case", INPUT_CASES)
def test_engine_raises_the_same_errors(case: str):
    data, expected = _input(case)
    engine = fake_engine()
    with pytest.raises(expected):
        engine.process(data, Options())
    assert fake_registry(engine).fake.seen_sizes == []  # the model never ran


def test_oversized_png_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch):
    data = encode(Image.new("1", (6000, 6000)), "PNG")
    assert len(data) < 100_000  # a small file claiming 36 MP: the decompression-bomb shape

    def no_pixels(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_pixels)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_pixels)
    with pytest.raises(ImageTooLargeError):
        decode(data, max_pixels=BIG)


def test_probe_format_raises_like_decode():
    assert probe_format(photo_bytes("coffee")) == "JPEG"
    with pytest.raises(EmptyInputError):
        probe_format(b"")
    with pytest.raises(NotAnImageError):
        probe_format(b"plain text")
    with pytest.raises(UnsupportedFormatError):
        probe_format(encode(textured(16, 16), "PCX"))


def test_invalid_option_from_engine_names_the_model():
    engine = fake_engine()
    with pytest.raises(InvalidOptionError) as caught:
        engine.process(photo_bytes("coffee"), Options(model="no-such-model"))
    assert caught.value.option == "model"
    assert caught.value.code == "INVALID_OPTION"


def test_unknown_model_is_refused_before_decoding():
    # Even an empty input reports the unknown model: options are checked first.
    with pytest.raises(InvalidOptionError) as caught:
        fake_engine().process(b"", Options(model="nope"))
    assert caught.value.option == "model"


def test_memory_error_becomes_processing_error():
    def exhausted(width: int, height: int):
        raise MemoryError

    engine = fake_engine(exhausted)  # type: ignore[arg-type]
    with pytest.raises(ProcessingError) as caught:
        engine.process(encode(textured(32, 32), "PNG"))
    assert caught.value.code == "INTERNAL_ERROR"


def test_unexpected_error_becomes_processing_error():
    def buggy(width: int, height: int):
        raise RuntimeError("a bug in the model wrapper")

    engine = fake_engine(buggy)  # type: ignore[arg-type]
    with pytest.raises(ProcessingError) as caught:
        engine.process(encode(textured(32, 32), "PNG"))
    assert caught.value.code == "INTERNAL_ERROR"
    assert "a bug in the model wrapper" in caught.value.message
    assert isinstance(caught.value.__cause__, RuntimeError)  # the traceback is kept for debugging


# ---------------------------------------------------------------------------------- delta errors


def test_delta_of_wrong_size_is_a_mismatch():
    source = encode(textured(40, 30), "PNG")
    delta = encode(Image.new("RGBA", (30, 40)), "PNG")
    with pytest.raises(DeltaMismatchError) as caught:
        apply_delta(source, delta)
    assert caught.value.code == "DELTA_MISMATCH"
    assert isinstance(caught.value, InputError)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("RGB", "PNG"), ("L", "PNG"), ("RGBA", "WEBP"), ("RGBA", "TIFF")],
)
def test_delta_must_be_an_rgba_png(mode: str, fmt: str):
    source = encode(textured(40, 30), "PNG")
    delta = encode(Image.new(mode, (40, 30)), fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    with pytest.raises(DeltaMismatchError):
        apply_delta(source, delta)


def test_delta_that_is_not_an_image():
    with pytest.raises(NotAnImageError):
        apply_delta(encode(textured(40, 30), "PNG"), b"not a png at all")


def test_delta_with_a_bad_input_reports_the_input_error():
    delta = encode(Image.new("RGBA", (40, 30)), "PNG")
    with pytest.raises(EmptyInputError):
        apply_delta(b"", delta)
    with pytest.raises(CorruptImageError):
        apply_delta(_truncated(photo_bytes("coffee")), delta)


# ---------------------------------------------------------------------------------- model errors


def test_model_not_found_when_search_dirs_lack_the_file(tmp_path: Path):
    registry = ModelRegistry([tmp_path, tmp_path / "missing"], SessionConfig())
    assert not registry.is_available("u2netp")
    with pytest.raises(ModelNotFoundError) as caught:
        registry.get("u2netp")
    assert caught.value.code == "MODEL_NOT_FOUND"
    assert isinstance(caught.value, ModelError)
    assert "u2netp.onnx" in caught.value.message
    assert str(tmp_path) in caught.value.message


def test_model_not_found_through_the_engine(tmp_path: Path):
    settings = bgremove.EngineSettings(model_dirs=(tmp_path,), threads=1)
    engine = bgremove.Engine(settings, registry=ModelRegistry([tmp_path], SessionConfig()))
    with pytest.raises(ModelNotFoundError):
        engine.process(encode(textured(32, 32), "PNG"))
    with pytest.raises(ModelNotFoundError):
        engine.warm_up()


def test_remote_model_without_fetcher_is_not_found(tmp_path: Path):
    spec = ModelSpec(name="remote", source="s3://bucket/remote.onnx", input_size=(64, 64))
    registry = ModelRegistry([], SessionConfig(), cache_dir=tmp_path, specs=[spec])
    assert registry.is_available("remote")
    with pytest.raises(ModelNotFoundError):
        registry.get("remote")


def test_failing_fetcher_is_a_load_error(tmp_path: Path):
    def fetcher(source: str, target: Path) -> None:
        raise ConnectionError(f"cannot reach {source}")

    spec = ModelSpec(name="remote", source="s3://bucket/remote.onnx", input_size=(64, 64))
    registry = ModelRegistry([], SessionConfig(), fetcher=fetcher, cache_dir=tmp_path, specs=[spec])
    with pytest.raises(ModelLoadError) as caught:
        registry.get("remote")
    assert "cannot reach" in caught.value.message


def test_file_that_is_not_onnx_fails_to_load(tmp_path: Path):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"definitely not a protobuf model" * 100)
    spec = ModelSpec(name="bogus", source=str(bogus), input_size=(64, 64))
    registry = ModelRegistry([], SessionConfig(), specs=[spec])
    assert registry.is_available("bogus")
    with pytest.raises(ModelLoadError) as caught:
        registry.get("bogus")
    assert caught.value.code == "MODEL_LOAD_FAILED"
    assert isinstance(caught.value, ModelError)


def test_sha256_mismatch_fails_to_load(tmp_path: Path):
    # The built-in spec, pointed at a file of the right name with the wrong content.
    (tmp_path / U2NETP.source).write_bytes(b"tampered weights")
    registry = ModelRegistry([tmp_path], SessionConfig())
    with pytest.raises(ModelLoadError) as caught:
        registry.get("u2netp")
    assert "sha256" in caught.value.message


def test_sha256_is_checked_before_parsing(tmp_path: Path):
    content = b"not onnx either"
    path = tmp_path / "m.onnx"
    path.write_bytes(content)
    wrong = replace(U2NETP, name="m", source=str(path), sha256=hashlib.sha256(b"other").hexdigest())
    registry = ModelRegistry([], SessionConfig(), specs=[wrong])
    with pytest.raises(ModelLoadError, match="sha256"):
        registry.get("m")


@pytest.mark.parametrize(
    "descriptor",
    [
        {"source": "x.onnx"},  # no name
        {"name": "x"},  # no source
        {"name": "x", "source": "x.onnx", "input_size": 4},
        {"name": "x", "source": "x.onnx", "input_size": 5000},
        {"name": "x", "source": "x.onnx", "input_size": "big"},
        {"name": "x", "source": "x.onnx", "mean": [0.5, 0.5]},
        {"name": "x", "source": "x.onnx", "std": [0.5, 0.0, 0.5]},
        {"name": "", "source": "x.onnx"},
    ],
)
def test_bad_model_descriptor_is_a_load_error(descriptor: dict[str, object]):
    with pytest.raises(ModelLoadError):
        ModelSpec.from_descriptor(descriptor)


def test_good_model_descriptor():
    spec = ModelSpec.from_descriptor(
        {"name": "mine", "source": "s3://b/k.onnx", "input_size": [512, 384], "std": [1, 1, 1]}
    )
    assert spec.name == "mine"
    assert spec.input_size == (512, 384)
    assert spec.std == (1.0, 1.0, 1.0)
    assert ModelSpec.from_descriptor({"name": "sq", "source": "a.onnx", "input_size": 256}).input_size == (
        256,
        256,
    )
