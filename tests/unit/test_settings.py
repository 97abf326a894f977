"""Engine settings from the environment, and CPU detection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bgremove import Engine, EngineSettings, Env, ModelLoadError, Options
from bgremove.settings import LAMBDA_MODELS_DIR, REPO_MODELS_DIR, available_cpus
from tests.helpers import FakeRegistry, encode, rect_matte, textured


def test_env_names():
    assert Env.MODELS_DIR == "BGREMOVE_MODELS_DIR"
    assert Env.DEFAULT_MODEL == "BGREMOVE_DEFAULT_MODEL"
    assert Env.THREADS == "BGREMOVE_THREADS"
    assert Env.MODEL_CACHE_DIR == "BGREMOVE_MODEL_CACHE_DIR"
    assert Env.CUSTOM_MODELS == "BGREMOVE_CUSTOM_MODELS"
    assert Env.PNG_COMPRESS_LEVEL == "BGREMOVE_PNG_COMPRESS_LEVEL"


def test_defaults_from_empty_environment():
    settings = EngineSettings.from_env({})
    assert settings.model_dirs[:2] == (LAMBDA_MODELS_DIR, REPO_MODELS_DIR)
    assert Path(__file__).resolve().parents[2] / "models" == REPO_MODELS_DIR
    assert settings.default_model == "u2netp"
    assert settings.threads == available_cpus()
    assert settings.custom_models == ()
    assert settings.png_compress_level == 1
    assert settings.model_cache_dir.name == "bgremove-models"


def test_every_variable(tmp_path: Path):
    first, second = tmp_path / "a", tmp_path / "b"
    settings = EngineSettings.from_env(
        {
            Env.MODELS_DIR: f"{first}{os.pathsep}{second}",
            Env.DEFAULT_MODEL: "isnet",
            Env.THREADS: "3",
            Env.MODEL_CACHE_DIR: str(tmp_path / "cache"),
            Env.CUSTOM_MODELS: json.dumps(
                {"name": "mine", "source": "s3://bucket/mine.onnx", "input_size": 512}
            ),
            Env.PNG_COMPRESS_LEVEL: "9",
        }
    )
    assert settings.model_dirs[:2] == (first, second)  # searched before the defaults
    assert LAMBDA_MODELS_DIR in settings.model_dirs[2:]
    assert settings.default_model == "isnet"
    assert settings.threads == 3
    assert settings.model_cache_dir == tmp_path / "cache"
    assert [spec.name for spec in settings.custom_models] == ["mine"]
    assert settings.custom_models[0].input_size == (512, 512)
    assert settings.png_compress_level == 9


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(Env.THREADS, "2")
    monkeypatch.setenv(Env.DEFAULT_MODEL, "isnet")
    settings = EngineSettings.from_env()
    assert settings.threads == 2
    assert settings.default_model == "isnet"


def test_custom_models_as_list():
    descriptors = [
        {"name": "one", "source": "one.onnx"},
        {"name": "two", "source": "/abs/two.onnx", "input_size": [640, 480]},
    ]
    settings = EngineSettings.from_env({Env.CUSTOM_MODELS: json.dumps(descriptors)})
    assert [(s.name, s.input_size) for s in settings.custom_models] == [
        ("one", (320, 320)),
        ("two", (640, 480)),
    ]


@pytest.mark.parametrize("raw", ["{not json", json.dumps({"source": "x.onnx"})])
def test_bad_custom_models(raw: str):
    with pytest.raises(ModelLoadError):
        EngineSettings.from_env({Env.CUSTOM_MODELS: raw})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (Env.THREADS, "0"),
        (Env.THREADS, "many"),
        (Env.THREADS, "-2"),
        (Env.PNG_COMPRESS_LEVEL, "10"),
        (Env.PNG_COMPRESS_LEVEL, "-1"),
        (Env.PNG_COMPRESS_LEVEL, "fast"),
    ],
)
def test_bad_numbers(name: str, value: str):
    with pytest.raises(ValueError, match=name):
        EngineSettings.from_env({name: value})


def test_png_compress_level_zero_is_allowed():
    assert EngineSettings.from_env({Env.PNG_COMPRESS_LEVEL: "0"}).png_compress_level == 0


def test_empty_values_mean_default():
    assert EngineSettings.from_env({Env.THREADS: "", Env.DEFAULT_MODEL: ""}) == EngineSettings.from_env({})


def test_available_cpus():
    count = available_cpus()
    assert isinstance(count, int)
    assert count >= 1
    assert count <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert count <= len(os.sched_getaffinity(0))


def test_engine_registers_custom_models():
    settings = EngineSettings(
        model_dirs=(),
        threads=1,
        custom_models=EngineSettings.from_env(
            {Env.CUSTOM_MODELS: json.dumps({"name": "mine", "source": "mine.onnx"})}
        ).custom_models,
    )
    engine = Engine(settings)
    assert "mine" in engine.registry.names()
    assert {"u2netp", "isnet"} <= set(engine.registry.names())
    assert not engine.registry.is_available("mine")


def test_png_compress_level_is_used():
    data = encode(textured(300, 200), "PNG")

    def size_at(level: int) -> int:
        settings = EngineSettings(model_dirs=(), default_model="fake", threads=1, png_compress_level=level)
        engine = Engine(settings, registry=FakeRegistry(rect_matte(0, 0, 1, 1)))
        return len(engine.process(data, Options()).data)

    assert size_at(0) > size_at(9)
