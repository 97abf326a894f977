"""The ``bgremove`` command line with the real model it loads itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bgremove import cli
from tests.helpers import FAST_MODEL_FILE, MODEL_FILE, encode, open_bytes, photo, photo_bytes
from tests.integration.engine.test_real_photos import PROBES

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_environment", "engine")]
# ``engine`` is requested only for its clear failure when models/u2net.onnx is missing.


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "astronaut.jpg").write_bytes(photo_bytes("astronaut"))
    (folder / "coffee.png").write_bytes(encode(photo("coffee"), "PNG"))
    (folder / "chelsea.webp").write_bytes(encode(photo("chelsea"), "WEBP", quality=90))
    (folder / "broken.jpg").write_bytes(photo_bytes("coffee")[:5000])
    (folder / "empty.png").write_bytes(b"")
    return folder


def test_folder_with_failures(mixed_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "out"
    code = cli.main([str(mixed_folder), "-o", str(out), "--json", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    reports = {Path(line["input"]).name: line for line in map(json.loads, captured.out.splitlines())}
    assert set(reports) == {"astronaut.jpg", "coffee.png", "chelsea.webp", "broken.jpg", "empty.png"}
    assert reports["broken.jpg"]["error"]["code"] == "CORRUPT_IMAGE"
    assert reports["empty.png"]["error"]["code"] == "EMPTY_INPUT"
    assert f"{mixed_folder / 'broken.jpg'}: CORRUPT_IMAGE" in captured.err
    assert f"{mixed_folder / 'empty.png'}: EMPTY_INPUT" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.png", "chelsea.png", "coffee.png"]
    for name in ("astronaut", "coffee", "chelsea"):
        cutout = np.asarray(open_bytes((out / f"{name}.png").read_bytes()))
        for x, y in PROBES[name]["subject"]:
            assert cutout[y, x, 3] > 200, (name, x, y)
        for x, y in PROBES[name]["background"]:
            assert cutout[y, x, 3] < 50, (name, x, y)
        report = next(r for r in reports.values() if r.get("output", "").endswith(f"{name}.png"))["report"]
        assert report["model"] == "u2net"
        assert report["result_size"] == report["input_size"]


def test_options_from_flags(tmp_path: Path):
    source = tmp_path / "coffee.jpg"
    source.write_bytes(photo_bytes("coffee"))
    code = cli.main(
        [str(source), "-o", str(tmp_path / "out"), "--background-color", "#ffffff", "--crop-to-foreground"]
    )
    assert code == 0
    picture = open_bytes((tmp_path / "out" / "coffee.jpg").read_bytes())
    assert picture.format == "JPEG" and picture.mode == "RGB"
    assert picture.width < 600 and picture.height < 400  # cropped to the cup and saucer


def test_decode_delta_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    source = tmp_path / "astronaut.jpg"
    source.write_bytes(photo_bytes("astronaut"))
    assert cli.main([str(source), "-o", str(tmp_path / "delta"), "--format", "delta_png"]) == 0
    assert cli.main([str(source), "-o", str(tmp_path / "plain")]) == 0
    rebuilt_path = tmp_path / "rebuilt.png"
    assert (
        cli.main(
            ["decode-delta", str(source), str(tmp_path / "delta" / "astronaut.png"), "-o", str(rebuilt_path)]
        )
        == 0
    )
    rebuilt = open_bytes(rebuilt_path.read_bytes())
    plain = open_bytes((tmp_path / "plain" / "astronaut.png").read_bytes())
    assert rebuilt.size == (512, 512)
    assert np.array_equal(np.asarray(rebuilt), np.asarray(plain))
    delta_size = (tmp_path / "delta" / "astronaut.png").stat().st_size
    assert delta_size < (tmp_path / "plain" / "astronaut.png").stat().st_size
    capsys.readouterr()


def test_models_lists_the_default_and_the_fast_tier_ready(capsys: pytest.CaptureFixture[str]):
    assert MODEL_FILE.is_file()
    assert FAST_MODEL_FILE.is_file()
    assert cli.main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    default = next(line for line in lines if line.startswith("u2net "))
    assert default.startswith("u2net (default): ready")
    fast = next(line for line in lines if line.startswith("u2netp"))
    assert fast.startswith("u2netp: ready")
    assert "Apache-2.0" in default
    assert "Apache-2.0" in fast


def test_custom_model_descriptor_that_contradicts_the_network_fails_at_load(tmp_path: Path, capsys):
    code = cli.main(
        [
            str(tmp_path / "unused.jpg"),
            "-o",
            str(tmp_path),
            "--model",
            str(MODEL_FILE),
            "--model-descriptor",
            '{"input_size": 1024}',
        ]
    )
    assert code == 2  # refused before any image, not an INTERNAL_ERROR per image
    assert "MODEL_LOAD_FAILED" in capsys.readouterr().err


def test_custom_model_by_path(tmp_path: Path):
    source = tmp_path / "in.jpg"
    source.write_bytes(photo_bytes("coffee"))
    descriptor = '{"input_size": 320, "scale_by_max": true, "minmax_output": true}'
    code = cli.main(
        [
            str(source),
            "-o",
            str(tmp_path / "out"),
            "--model",
            str(MODEL_FILE),
            "--model-descriptor",
            descriptor,
        ]
    )
    assert code == 0
    assert open_bytes((tmp_path / "out" / "in.png").read_bytes()).mode == "RGBA"


def test_a_session_runs_one_inference_at_a_time():
    """Two threads calling one model: the runs do not overlap (each already uses every CPU)."""
    import threading
    import time

    from bgremove.models import U2NETP, OnnxSegmenter, SessionConfig

    segmenter = OnnxSegmenter(U2NETP, FAST_MODEL_FILE, SessionConfig(intra_op_threads=1))
    real_run = segmenter._session.run
    active, most = [0], [0]
    lock = threading.Lock()

    class CountingSession:
        def run(self, *args: Any, **kwargs: Any) -> Any:
            with lock:
                active[0] += 1
                most[0] = max(most[0], active[0])
            time.sleep(0.05)  # long enough for the other thread to arrive while this run is on
            try:
                return real_run(*args, **kwargs)
            finally:
                with lock:
                    active[0] -= 1

    segmenter._session = CountingSession()  # type: ignore[assignment]
    tensor = segmenter.prepare(photo("astronaut"))
    threads = [threading.Thread(target=segmenter.infer, args=(tensor,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert most[0] == 1
