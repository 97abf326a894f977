"""template.yaml's dashboard and alarms name only metrics the code emits, in the namespace it emits them to.

The names are defined once, in ``processor.metric_names`` and ``bgremove_api.observability``: a metric
renamed in code and not on the dashboard (or the other way round) fails here, not as an empty graph in
production. Every alarm has a runbook line in docs/operations.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bgremove_api import observability
from bgremove_local.template import Template
from processor import metric_names

REPO = Path(__file__).resolve().parents[3]
EMITTED = frozenset(metric_names.PROCESSOR_METRICS) | frozenset(observability.API_METRICS)
DIMENSION_SETS = {
    **{name: (observability.DIMENSIONS.get(name, frozenset()),) for name in observability.API_METRICS},
    **metric_names.DIMENSION_SETS,
}
FUNCTIONS = ("ProcessorFunction", "ApiFunction", "JobsFunction", "WebhooksFunction")
_SEARCH = re.compile(r"\{(?P<namespace>[^,}]+)(?P<dimensions>[^}]*)\}.*?MetricName=\"(?P<name>[^\"]+)\"")


def _template(**overrides: str) -> Template:
    return Template(REPO / "template.yaml", "http://127.0.0.1:1", overrides)


def _namespace(template: Template) -> str:
    names = {
        template.properties(function)["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
        for function in FUNCTIONS
    }
    assert len(names) == 1, f"the functions emit to several namespaces: {names}"
    return names.pop()


Shown = tuple[str, str, frozenset[str]]


def _dashboard_metrics(body: dict[str, Any]) -> list[Shown]:
    """(namespace, metric name, dimension names) of every metric and SEARCH of the dashboard's widgets."""
    found: list[Shown] = []
    for widget in body["widgets"]:
        previous: list[Any] = []
        for row in widget.get("properties", {}).get("metrics", []):
            if row and isinstance(row[0], dict):
                match = _SEARCH.search(row[0]["expression"])
                assert match, f"not a SEARCH expression the test can read: {row[0]['expression']}"
                dimensions = frozenset(d.strip() for d in match["dimensions"].split(",") if d.strip())
                dimensions -= (
                    {"EndpointName", "VariantName"} if match["namespace"] == "AWS/SageMaker" else set()
                )
                found.append((match["namespace"], match["name"], dimensions))
                continue
            fields = [item for item in row if not isinstance(item, dict)]
            if fields and fields[0] == "...":
                fields = previous[: len(previous) - (len(fields) - 1)] + fields[1:]
            else:
                fields = [previous[i] if item == "." else item for i, item in enumerate(fields)]
            previous = fields
            found.append((fields[0], fields[1], frozenset(fields[2::2])))
    return found


@pytest.mark.parametrize("gpu", [{}, {"GpuEndpoint": "existing", "GpuEndpointName": "my-endpoint"}])
def test_dashboard_shows_only_emitted_metrics(gpu: dict[str, str]) -> None:
    template = _template(**gpu)
    namespace = _namespace(template)
    body = json.loads(template.properties("OpsDashboard")["DashboardBody"])
    shown = _dashboard_metrics(body)
    custom = {name for ns, name, _ in shown if not ns.startswith("AWS/")}
    assert {ns for ns, _, _ in shown if not ns.startswith("AWS/")} == {namespace}
    for ns, name, dimensions in shown:
        if name in EMITTED and not ns.startswith("AWS/"):
            assert dimensions in DIMENSION_SETS[name], f"{name} is never emitted with {sorted(dimensions)}"
    assert custom <= EMITTED, f"on the dashboard but never emitted: {sorted(custom - EMITTED)}"
    # Everything emitted is on the dashboard, but the input size (a distribution, seen per SizeBand).
    assert EMITTED - custom <= {metric_names.INPUT_MEGAPIXELS}, sorted(EMITTED - custom)
    gpu_shown = any(ns == "AWS/SageMaker" for ns, _, _ in shown)
    assert gpu_shown is bool(gpu)


def test_alarms_name_emitted_metrics_and_have_a_runbook_line() -> None:
    template = _template(AlarmEmail="ops@example.com")
    namespace = _namespace(template)
    runbook = (REPO / "docs" / "operations.md").read_text()
    alarms = template.of_type("AWS::CloudWatch::Alarm")
    for required in (
        "FunctionErrorsAlarm",
        "FunctionThrottlesAlarm",
        "ProcessingQueueAgeAlarm",
        "ApiServerErrorsAlarm",
        "ApiLatencyAlarm",
        "JobsTimedOutAlarm",
        "DeadLetterQueueAlarm",
        "JobsDeadLetterQueueAlarm",
        "WebhooksDeadLetterQueueAlarm",
    ):
        assert required in alarms
    for alarm in alarms:
        properties = template.properties(alarm)
        assert properties["AlarmActions"] == [template.ref("AlarmTopic")], alarm
        assert f"`{alarm}`" in runbook, f"{alarm} has no runbook line in docs/operations.md"
        stats = [properties] + [
            m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m
        ]
        for metric in stats:
            if "Namespace" in metric and not metric["Namespace"].startswith("AWS/"):
                assert metric["Namespace"] == namespace
                assert metric["MetricName"] in EMITTED, alarm


def test_every_function_logs_json_and_keeps_its_logs_for_a_while() -> None:
    template = _template(LogLevel="WARNING")
    for function in FUNCTIONS:
        logging = template.properties(function)["LoggingConfig"]
        assert logging["LogFormat"] == "JSON"
        assert logging["ApplicationLogLevel"] == "WARN"
        group = next(
            lid
            for lid in template.of_type("AWS::Logs::LogGroup")
            if lid == template.resources[function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        )
        assert int(template.properties(group)["RetentionInDays"]) > 0
        assert template.resources[function]["Properties"]["Tracing"] == "Active"


def test_metric_names_are_unique_and_cloudwatch_safe() -> None:
    names = list(metric_names.PROCESSOR_METRICS) + list(observability.API_METRICS)
    shared = {metric_names.INFERENCE_MS, metric_names.END_TO_END_MS}  # also emitted per stage
    assert len(set(names)) == len(names) == len(EMITTED)
    assert shared <= EMITTED
    for name in names:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{1,63}", name), name


def test_every_metric_is_documented() -> None:
    guide = (REPO / "docs" / "operations.md").read_text()
    missing = sorted(name for name in EMITTED if f"| `{name}` |" not in guide)
    assert not missing, f"not in docs/operations.md's metric tables: {missing}"


def test_the_dashboard_shows_every_alarm_of_the_default_stack() -> None:
    template = _template()
    body = json.loads(template.properties("OpsDashboard")["DashboardBody"])
    shown = {
        arn
        for widget in body["widgets"]
        if widget["type"] == "alarm"
        for arn in widget["properties"]["alarms"]
    }
    assert shown == {template.get_att(alarm, "Arn") for alarm in template.of_type("AWS::CloudWatch::Alarm")}
