"""Integration fixtures: the real model (see ``tests/conftest.py``) and a cache of its results; and the
``slow`` mark on the tests that take over about 5 s."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bgremove import Engine, Options, Result
from tests.helpers import photo_bytes

Run = Callable[..., Result]

SLOW = (
    "tests/integration/local/test_chaos.py",
    "tests/integration/local/test_runner.py::test_each_of_two_pending_identical_uploads_is_described_by_its_own_metadata",
    "tests/integration/local/test_runner.py::test_make_run_scenario_passes",
    "tests/integration/local/test_runner.py::test_poison_message_lands_in_the_dead_letter_queue",
    "tests/integration/remote/test_pipeline.py::test_an_unavailable_endpoint_is_retried_then_dead_lettered",
    "tests/integration/remote/test_inference.py::test_concurrent_requests_form_batches",
    "tests/integration/remote/test_inference.py::test_the_built_repository_has_a_dynamic_batch_dimension_and_dynamic_batching",
    "tests/integration/remote/test_fallback.py::test_an_endpoint_that_is_down_falls_back_to_the_function",
    "tests/integration/api/test_async_replicate.py::test_webhook_is_signed_so_the_client_validates_it",
    "tests/integration/api/test_jobs_pipeline.py",
)
"""Modules and tests over about 5 s on a 2-CPU machine (``pytest --durations``; tests/functional has none):
marked ``slow``, so that ``pytest -m "not slow"`` is a quicker pass. Kept here, in one list, rather than in
the modules. Update it from ``make test``'s ``--durations`` listing."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.nodeid == slow or item.nodeid.startswith((f"{slow}::", f"{slow}[")) for slow in SLOW):
            item.add_marker(pytest.mark.slow)


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
