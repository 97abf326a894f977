"""Engine settings from the environment, and CPU detection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bgremove import BgRemoveError, ConfigurationError, Engine, EngineSettings, Env, ModelLoadError, Options
from bgremove.settings import LAMBDA_MODELS_DIR, REPO_MODELS_DIR, available_cpus
from tests.fakes import FAKE_MODEL, FakeRegistry, full_matte
from tests.helpers import encode, textured


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
    assert Path(__file__).resolve().parents[3] / "models" == REPO_MODELS_DIR
    assert settings.default_model == "u2net"
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


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[{}",
        "42",
        '"u2netp.onnx"',
        "null",
        "[1, 2]",
        '[{"name": "ok", "source": "ok.onnx"}, "second"]',
        "[" * 100_000,  # nesting deep enough to exhaust the JSON parser's recursion
    ],
)
def test_malformed_custom_models_variable_is_a_configuration_error(raw: str):
    with pytest.raises(ConfigurationError) as caught:
        EngineSettings.from_env({Env.CUSTOM_MODELS: raw})
    assert caught.value.code == "INVALID_SETTING"
    assert caught.value.setting == Env.CUSTOM_MODELS
    assert caught.value.message.startswith(f"{Env.CUSTOM_MODELS}: ")
    assert caught.value.to_dict()["setting"] == Env.CUSTOM_MODELS


def test_malformed_json_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        EngineSettings.from_env({Env.CUSTOM_MODELS: "{not json"})


@pytest.mark.parametrize(
    "descriptors",
    [
        {"source": "x.onnx"},  # no name
        [{"name": "ok", "source": "ok.onnx"}, {"name": "bad", "source": "b.onnx", "input_size": 4}],
        {"name": "flag", "source": "f.onnx", "scale_by_max": "perhaps"},
    ],
)
def test_invalid_custom_model_descriptor_stays_a_model_load_error(descriptors: object):
    # Well-formed JSON describing a broken model: the model setup is at fault, not the variable's syntax.
    with pytest.raises(ModelLoadError) as caught:
        EngineSettings.from_env({Env.CUSTOM_MODELS: json.dumps(descriptors)})
    assert caught.value.code == "MODEL_LOAD_FAILED"
    assert Env.CUSTOM_MODELS in caught.value.message  # says where the descriptor came from


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (Env.THREADS, "0"),
        (Env.THREADS, "1025"),
        (Env.THREADS, "many"),
        (Env.THREADS, "-2"),
        (Env.THREADS, "+2"),
        (Env.THREADS, "2.0"),
        (Env.THREADS, "1e2"),
        (Env.THREADS, "0x10"),
        (Env.THREADS, "1_0"),
        (Env.THREADS, " 2"),
        (Env.THREADS, "2\n"),
        (Env.THREADS, "   "),  # blank is not unset for a number
        (Env.THREADS, "\u00b2"),  # superscript two: str.isdigit() accepts it, int() does not
        (Env.THREADS, "\uff13"),  # fullwidth three: int() would accept it
        (Env.THREADS, "\u0663"),  # Arabic-Indic three: int() would accept it
        (Env.THREADS, "9" * 5000),  # over int()'s digit limit; refused by length first
        (Env.THREADS, "0" * 20 + "4"),
        (Env.PNG_COMPRESS_LEVEL, "10"),
        (Env.PNG_COMPRESS_LEVEL, "-1"),
        (Env.PNG_COMPRESS_LEVEL, "fast"),
    ],
)
def test_bad_numbers(name: str, value: str):
    with pytest.raises(ConfigurationError) as caught:
        EngineSettings.from_env({name: value})
    assert caught.value.setting == name
    assert caught.value.code == "INVALID_SETTING"
    assert isinstance(caught.value, BgRemoveError)
    assert name in caught.value.message


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("16", 16), ("1024", 1024), ("007", 7)])
def test_good_numbers(value: str, expected: int):
    assert EngineSettings.from_env({Env.THREADS: value}).threads == expected


def test_engine_from_a_bad_environment_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(Env.THREADS, "lots")
    with pytest.raises(ConfigurationError):
        Engine()


def test_png_compress_level_zero_is_allowed():
    assert EngineSettings.from_env({Env.PNG_COMPRESS_LEVEL: "0"}).png_compress_level == 0


def test_empty_values_mean_default():
    assert EngineSettings.from_env({Env.THREADS: "", Env.DEFAULT_MODEL: ""}) == EngineSettings.from_env({})


def test_the_default_model_name_is_stripped_and_blank_means_the_default():
    assert EngineSettings.from_env({Env.DEFAULT_MODEL: " isnet\n"}).default_model == "isnet"
    assert EngineSettings.from_env({Env.DEFAULT_MODEL: "  "}).default_model == "u2net"


def test_paths_are_taken_as_written(tmp_path: Path):
    cache = tmp_path / " cache "  # blanks are legal in a path
    settings = EngineSettings.from_env({Env.MODEL_CACHE_DIR: str(cache), Env.MODELS_DIR: f" {tmp_path}"})
    assert settings.model_cache_dir == cache
    assert settings.model_dirs[0] == Path(f" {tmp_path}")


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
    assert {"u2net", "u2netp", "isnet"} <= set(engine.registry.names())
    assert not engine.registry.is_available("mine")


def test_png_compress_level_is_used():
    data = encode(textured(300, 200), "PNG")

    def size_at(level: int) -> int:
        settings = EngineSettings(
            model_dirs=(), default_model=FAKE_MODEL, threads=1, png_compress_level=level
        )
        engine = Engine(settings, registry=FakeRegistry(full_matte))
        return len(engine.process(data, Options()).data)

    assert size_at(0) > size_at(9)
