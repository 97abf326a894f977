"""Integration fixtures: the real model (see ``tests/conftest.py``) and a cache of its results. Tests over
about 5 s on a 2-CPU machine (``make test``'s ``--durations``) carry the ``slow`` mark in their modules, so
that ``pytest -m "not slow"`` is a quicker pass."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bgremove import Engine, Options, Result
from tests.helpers import photo_bytes

Run = Callable[..., Result]


@pytest.fixture(scope="session")
def run(engine: Engine) -> Run:
    """``run("coffee", background_type="map")``: process a fixture photo once per set of options."""
    cache: dict[tuple[str, tuple[tuple[str, str], ...]], Result] = {}

    def process(name: str, **raw: str) -> Result:
        key = (name, tuple(sorted(raw.items())))
        if key not in cache:
            cache[key] = engine.process(photo_bytes(name), Options.parse(raw))
        return cache[key]

    return process
