"""The local runner's stand-in for EventBridge schedules: template.yaml's ``Schedule`` events (the jobs
deadline sweep) are read with the function, and a :class:`~bgremove_local.poller.Schedule` invokes the
handler with a scheduled event on each tick, as ``make serve`` and ``make run`` do."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bgremove_api import job_events
from bgremove_local.emulator import FunctionSpec, LocalCloud, rate_seconds
from bgremove_local.poller import Schedule
from bgremove_local.template import TemplateError
from tests.api_tables import TEMPLATE, _template


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86_400)],
)
def test_rate_expressions(expression: str, seconds: float) -> None:
    assert rate_seconds(expression) == seconds


def test_cron_expressions_are_not_emulated() -> None:
    with pytest.raises(TemplateError, match="cron"):
        rate_seconds("cron(0 12 * * ? *)")


def test_the_jobs_function_sweeps_every_minute_and_no_other_function_is_scheduled() -> None:
    specs = {spec.logical_id: spec for spec in LocalCloud(TEMPLATE)._functions(_template())}
    assert specs["JobsFunction"].schedules_s == [60]
    assert all(spec.schedules_s == [] for name, spec in specs.items() if name != "JobsFunction")
    assert specs["JobsFunction"].handler == "bgremove_api.job_events.lambda_handler"


def test_a_schedule_invokes_the_handler_on_each_tick_and_survives_a_failure() -> None:
    calls: list[tuple[dict[str, Any], Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
        calls.append((event, context))
        if len(calls) == 1:
            raise RuntimeError("the first sweep fails")
        return {"timed_out": 0, "webhooks": 0}

    spec = FunctionSpec(
        "JobsFunction", "bgremove_api.job_events.lambda_handler", Path("."), 30, 256, {}, "q", 10, True
    )
    schedule = Schedule(spec, handler, period_s=0.05)
    schedule.start()
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    schedule.stop()
    assert len(calls) >= 3
    event, context = calls[0]
    assert (event["detail-type"], event["source"]) == ("Scheduled Event", "aws.events")
    assert context.function_name == "JobsFunction"
    assert context.get_remaining_time_in_millis() > 0
    # The jobs function reads the same event as its sweep, not as an SQS batch.
    assert event.get("detail-type") == job_events._SCHEDULED_EVENT and "Records" not in event
