"""Fixtures shared by the engine's unit and integration tests."""

from __future__ import annotations

import os

import pytest

from bgremove import Engine, EngineSettings
from tests.helpers import MODEL_FILE, MODELS_DIR


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BGREMOVE_* variable from the developer's shell may change what a test sees."""
    for name in list(os.environ):
        if name.startswith("BGREMOVE_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """One engine with the real default model (u2net) for the whole session (the model loads once)."""
    if not MODEL_FILE.is_file():
        pytest.fail(f"{MODEL_FILE} is missing: run `make model` before the integration tests", pytrace=False)
    engine = Engine(EngineSettings(model_dirs=(MODELS_DIR,)))
    engine.warm_up()
    return engine
