"""Metrics, traces and logs of the API package's functions (ApiFunction, JobsFunction, WebhooksFunction).

Metric names are defined here once: the code emits them through :func:`emit`, and template.yaml's dashboard
and alarms may name only these (``tests/unit/api/test_ops_dashboard.py`` checks it). docs/operations.md says
what each one means. Every data point goes out as one CloudWatch embedded metric format (EMF) line on stdout,
through powertools, in the namespace ``POWERTOOLS_METRICS_NAMESPACE`` (``BgRemove``) with the few bounded
dimensions its call names. ``POWERTOOLS_METRICS_DISABLED`` turns them off (the local runner's quiet mode).

Metrics are best-effort: a fault in recording one is logged and never fails a request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

DEFAULT_NAMESPACE = "BgRemove"
NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"

# ---------------------------------------------------------------- ApiFunction
API_REQUESTS = "ApiRequests"
"""Count; Dialect, StatusClass (2xx, 3xx, 4xx, 5xx): every request the function answered."""
API_LATENCY = "ApiLatencyMs"
"""Milliseconds; Dialect: the function's time for a request, from its handler's start to its answer."""
RATE_LIMITED = "RateLimited"
"""Count; Reason (rate, in_flight): requests refused 429 by a key's own limits."""
AUTH_REFUSED = "AuthRefused"
"""Count; Reason (missing, invalid, disabled): requests refused for their API key."""
JOBS_SUBMITTED = "JobsSubmitted"
"""Count; Dialect: asynchronous jobs created (a replay of an Idempotency-Key creates none)."""

# ---------------------------------------------------------------- JobsFunction (and a read past a deadline)
JOBS_COMPLETED = "JobsCompleted"
"""Count: jobs moved to COMPLETED by their completion event."""
JOBS_FAILED = "JobsFailed"
"""Count; ErrorCode: jobs moved to FAILED (by their event, or JOB_TIMED_OUT past their deadline)."""
JOBS_TIMED_OUT = "JobsTimedOut"
"""Count: jobs failed with JOB_TIMED_OUT (no completion event before JobDeadlineMinutes)."""
JOB_DURATION = "JobDurationMs"
"""Milliseconds: time from a job's submit to its terminal state (COMPLETED or FAILED by its event)."""

# ---------------------------------------------------------------- WebhooksFunction
WEBHOOK_TRIES = "WebhookTries"
"""Count: webhook POSTs made (a skipped try is not one)."""
WEBHOOK_DELIVERED = "WebhookDelivered"
"""Count: tries the receiver answered 2xx."""
WEBHOOK_FAILED_TRIES = "WebhookFailedTries"
"""Count: tries that failed (non-2xx, timeout, refused URL), whether retried or given up."""
WEBHOOK_RETRIES = "WebhookRetries"
"""Count: failed tries queued again with a delay."""
WEBHOOK_DEAD_LETTERED = "WebhookDeadLettered"
"""Count: deliveries given up after the last try and moved to the webhooks dead-letter queue."""

API_METRICS = (
    API_REQUESTS,
    API_LATENCY,
    RATE_LIMITED,
    AUTH_REFUSED,
    JOBS_SUBMITTED,
    JOBS_COMPLETED,
    JOBS_FAILED,
    JOBS_TIMED_OUT,
    JOB_DURATION,
    WEBHOOK_TRIES,
    WEBHOOK_DELIVERED,
    WEBHOOK_FAILED_TRIES,
    WEBHOOK_RETRIES,
    WEBHOOK_DEAD_LETTERED,
)
"""Every metric name the API package emits."""

DIMENSIONS: dict[str, frozenset[str]] = {
    API_REQUESTS: frozenset({"Dialect", "StatusClass"}),
    API_LATENCY: frozenset({"Dialect"}),
    RATE_LIMITED: frozenset({"Reason"}),
    AUTH_REFUSED: frozenset({"Reason"}),
    JOBS_SUBMITTED: frozenset({"Dialect"}),
    JOBS_FAILED: frozenset({"ErrorCode"}),
}
"""The dimension set of each metric (absent: none); the dashboard's queries must name exactly these."""

_log = logging.getLogger(__name__)

tracer = Tracer()
"""The package's tracer (service from ``POWERTOOLS_SERVICE_NAME``); off outside Lambda."""


def emit(values: Mapping[str, tuple[MetricUnit, float]], dimensions: Mapping[str, str] | None = None) -> None:
    """One EMF line: ``values`` (name -> (unit, value)) with ``dimensions``. Never raises."""
    if is_metrics_disabled():
        return
    try:
        # service="": no ``service`` dimension (powertools adds POWERTOOLS_SERVICE_NAME's otherwise), so a
        # metric has the same dimensions from every function that emits it (JobsTimedOut: Jobs and API).
        metrics = EphemeralMetrics(namespace=os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE, service="")
        for name, value in (dimensions or {}).items():
            metrics.add_dimension(name=name, value=value or "none")
        for name, (unit, number) in values.items():
            metrics.add_metric(name=name, unit=unit, value=number)
        metrics.flush_metrics()
    except Exception:  # any fault of the metrics library: a lost data point is the smaller harm
        _log.warning("metrics not recorded", exc_info=True)


def count(name: str, **dimensions: str) -> None:
    """One occurrence of ``name`` (a Count of 1) with ``dimensions``."""
    emit({name: (MetricUnit.Count, 1)}, dimensions)


def annotate(**annotations: str) -> None:
    """Trace annotations on the current segment (searchable in X-Ray); nothing when tracing is off."""
    try:
        for key, value in annotations.items():
            tracer.put_annotation(key=key, value=value)
    except Exception:  # no segment open (a test, a local run): annotations are optional
        _log.debug("trace annotation skipped", exc_info=True)


@contextmanager
def traced(name: str, **annotations: str) -> Iterator[None]:
    """A trace subsegment ``name`` with ``annotations`` around the block (one per record of a batch, also on
    a worker thread, where the invocation's own subsegment is not current). A no-op when tracing is off."""
    with tracer.provider.in_subsegment(name) as subsegment:
        try:
            for key, value in annotations.items():
                subsegment.put_annotation(key, value)
        except Exception:  # annotations are optional
            _log.debug("trace annotation skipped", exc_info=True)
        yield


def route_package_logs(logger: Logger) -> None:
    """Send the package's standard ``logging`` lines (``bgremove_api.*``) through ``logger``'s JSON handler.

    They then carry the same keys (correlation id, Lambda context) as the powertools lines, instead of
    reaching Lambda's root handler without them. Only in Lambda: elsewhere (tests, the local runner) the
    lines keep going to the root logger, where pytest's ``caplog`` and the runner's own handler read them.
    """
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return
    package = logging.getLogger(__name__.rpartition(".")[0])
    package.handlers = [logger.registered_handler]
    package.setLevel(logger.log_level)
    package.propagate = False
