"""The chaos run, small: 100 uploads through the local stack while faults are injected (``make chaos``).

AWS errors, crashes at every crash point, a model outage, duplicate and late notifications, overwrites and
a versioned bucket (see :mod:`bgremove_local.chaos`): no upload may be lost, announced twice, or announced
wrongly.
"""

from __future__ import annotations

import pytest

from bgremove_local.chaos import CRASH_POINTS, ChaosConfig, ChaosResult, run_chaos

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = ChaosConfig(uploads=100, seed=7, function_timeout_s=10, max_backlog=40, default_model="u2netp")
"""Shorter function timeout than ``make chaos`` (crashed attempts' locks expire sooner), a longer backlog
(uploads go on while crashed batches wait) and the fast tier (delivery is under test, not the cut-outs):
the run takes about a minute."""


@pytest.fixture(scope="module")
def result() -> ChaosResult:
    return run_chaos(CONFIG)


def _report(result: ChaosResult) -> str:
    return "\n".join([*result.report, *result.mismatches, result.summary()])


def test_every_upload_ends_as_one_right_event_or_in_the_dead_letter_queue(result: ChaosResult) -> None:
    assert (result.lost, result.duplicated, result.wrong) == (0, 0, 0), _report(result)
    parked = result.verdicts.get("in the dead-letter queue", 0)
    assert result.terminal + parked == result.uploads == CONFIG.uploads, _report(result)


def test_the_run_met_every_kind_of_fault(result: ChaosResult) -> None:
    def injected(prefix: str) -> int:
        return sum(count for kind, count in result.faults.items() if kind.startswith(prefix))

    assert injected("aws error s3.") > 0, result.faults
    assert injected("aws error sns.") > 0 and injected("publish answer lost") > 0, result.faults
    assert injected("aws error dynamodb.") > 0, result.faults
    crashed_at = {kind.removeprefix("crash ") for kind in result.faults if kind.startswith("crash ")}
    assert crashed_at == set(CRASH_POINTS), result.faults
    assert result.crashes >= len(CRASH_POINTS)
    assert injected("model-outage invocation") == CONFIG.model_outages * CONFIG.model_outage_invocations
    assert injected("notification duplicated") > 0, result.faults
    assert injected("notification delayed") > 0, result.faults
    assert result.workload["overwrites"] > 0 and result.workload["identical overwrites"] > 0
    assert 0 < result.workload["versioned"] < result.uploads
    assert sum(result.workload.get(kind, 0) for kind in ("not-an-image", "empty", "bad-option")) > 0
