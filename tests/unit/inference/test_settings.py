"""The stand-in's settings (bgremove_inference.settings): read once from the environment, each checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from bgremove import ConfigurationError
from bgremove_inference.settings import SAGEMAKER_MODEL_REPOSITORY, SAGEMAKER_PORT, Env, ServerSettings


def test_defaults() -> None:
    assert ServerSettings.from_env({}) == ServerSettings()
    settings = ServerSettings.from_env({})
    assert (settings.repository, settings.port) == (SAGEMAKER_MODEL_REPOSITORY, SAGEMAKER_PORT)
    assert (settings.host, settings.threads, settings.default_model) == ("127.0.0.1", 0, "")


def test_every_variable_is_read(tmp_path: Path) -> None:
    settings = ServerSettings.from_env(
        {
            Env.MODEL_REPOSITORY: str(tmp_path),
            Env.DEFAULT_MODEL: " isnet ",
            Env.HOST: "0.0.0.0 ",
            Env.PORT: "9000",
            Env.THREADS: "4",
        }
    )
    assert settings == ServerSettings(tmp_path, "isnet", "0.0.0.0", 9000, 4)


@pytest.mark.parametrize("environ", [{Env.HOST: ""}, {Env.HOST: "  "}, {Env.PORT: ""}, {Env.THREADS: ""}])
def test_empty_or_blank_names_and_empty_numbers_mean_the_default(environ: dict[str, str]) -> None:
    assert ServerSettings.from_env(environ) == ServerSettings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (Env.PORT, "65536"),
        (Env.PORT, "-1"),
        (Env.PORT, "http"),
        (Env.PORT, " 8080"),  # a number is its digits alone
        (Env.PORT, "8080\n"),
        (Env.PORT, "  "),
        (Env.PORT, "\uff18\uff10"),  # fullwidth 80: int() would read it
        (Env.THREADS, "1025"),
        (Env.THREADS, "9" * 5000),
    ],
)
def test_bad_numbers_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ServerSettings.from_env({name: value})
    assert caught.value.setting == name
    assert caught.value.code == "INVALID_SETTING"
