"""The API package's functions emit their metrics as CloudWatch EMF lines (docs/operations.md)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from bgremove_api import delivery, job_events, observability
from bgremove_api.dialects import pixian
from bgremove_api.jobs import JobStatus
from tests.unit.api.fakes import fake_api
from tests.unit.api.test_webhooks import job


def emf(text: str) -> list[dict[str, Any]]:
    """(name, dimensions, value) of each metric of each EMF document among captured stdout lines."""
    found = []
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict) or "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: document[name] for names in directive["Dimensions"] for name in names}
            for metric in directive["Metrics"]:
                found.append(
                    {
                        "namespace": directive["Namespace"],
                        "name": metric["Name"],
                        "dimensions": dimensions,
                        "value": document[metric["Name"]],
                    }
                )
    return found


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "BgRemove/unit")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "bgremove-api")  # as in Lambda: must add no dimension


def test_api_requests_count_by_dialect_and_status_class_with_their_latency(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fake_api() as api:
        capsys.readouterr()
        status, _, _ = api.call("POST", pixian.PATH, headers={"Authorization": "Basic bm90OmFrZXk="})
    assert status == 401
    metrics = emf(capsys.readouterr().out)
    by_name = {m["name"]: m for m in metrics}
    assert by_name[observability.AUTH_REFUSED]["dimensions"] == {"Reason": "invalid"}
    assert by_name[observability.API_REQUESTS]["dimensions"] == {"Dialect": "pixian", "StatusClass": "4xx"}
    assert by_name[observability.API_LATENCY]["dimensions"] == {"Dialect": "pixian"}
    assert {m["namespace"] for m in metrics} == {"BgRemove/unit"}
    for metric in metrics:  # exactly the dimensions the dashboard's queries name
        assert set(metric["dimensions"]) == observability.DIMENSIONS.get(metric["name"], set()), metric


def test_metrics_can_be_turned_off(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    observability.count(observability.API_REQUESTS, Dialect="pixian", StatusClass="2xx")
    assert emf(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("delivered", {observability.WEBHOOK_TRIES, observability.WEBHOOK_DELIVERED}),
        (
            "retrying",
            {observability.WEBHOOK_TRIES, observability.WEBHOOK_FAILED_TRIES, observability.WEBHOOK_RETRIES},
        ),
        (
            "failed",
            {
                observability.WEBHOOK_TRIES,
                observability.WEBHOOK_FAILED_TRIES,
                observability.WEBHOOK_DEAD_LETTERED,
            },
        ),
        ("skipped", set()),
    ],
)
def test_webhook_outcomes(outcome: str, expected: set[str], capsys: pytest.CaptureFixture[str]) -> None:
    delivery._record_outcome(outcome)
    assert {m["name"] for m in emf(capsys.readouterr().out)} == expected


def test_terminal_jobs_count_by_outcome_and_time_from_submit(capsys: pytest.CaptureFixture[str]) -> None:
    done = replace(job(JobStatus.COMPLETED), completed_at="2026-01-01T00:00:02.500Z")
    job_events._record_terminal(done)
    failed = replace(done, status=JobStatus.FAILED, error_code="INPUT_TOO_LARGE")
    job_events._record_terminal(failed)
    metrics = emf(capsys.readouterr().out)
    names = [(m["name"], m["dimensions"]) for m in metrics]
    assert (observability.JOBS_COMPLETED, {}) in names
    assert (observability.JOBS_FAILED, {"ErrorCode": "INPUT_TOO_LARGE"}) in names
    durations = [m["value"] for m in metrics if m["name"] == observability.JOB_DURATION]
    assert durations == [[2500.0], [2500.0]]


def test_in_lambda_the_packages_standard_log_lines_are_json_with_the_correlation_id(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    package = logging.getLogger("bgremove_api")
    saved = (package.handlers[:], package.level, package.propagate)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "bgremove-ApiFunction")
    logger = Logger(service="bgremove-api-test")
    try:
        observability.route_package_logs(logger)
        logger.set_correlation_id("req-123")
        logging.getLogger("bgremove_api.ratelimit").warning("slot %s not released", "s1")
    finally:
        package.handlers, package.level, package.propagate = saved[0], saved[1], saved[2]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(line["message"], line["correlation_id"], line["level"]) for line in lines] == [
        ("slot s1 not released", "req-123", "WARNING")
    ]


def test_outside_lambda_the_packages_log_lines_stay_with_the_root_logger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    package = logging.getLogger("bgremove_api")
    before = (package.handlers[:], package.propagate)
    observability.route_package_logs(Logger(service="bgremove-api-test"))
    assert (package.handlers, package.propagate) == before
