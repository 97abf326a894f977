"""The metrics of each upload's outcome, recorded best-effort.

A fault in recording them is logged and never fails the upload: failing it would make the event source
deliver it again, and the retry would announce it a second time; a lost data point is the smaller harm.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from bgremove import BgRemoveError, Report
from processor import metric_names as names
from processor.exceptions import SupersededError
from processor.settings import SERVICE_NAME

logger = Logger(service=SERVICE_NAME, child=True)


class OutcomeMetrics:
    """Records what became of each upload into Powertools ``metrics``; ``None`` records nothing.

    Parameters
    ----------
    metrics
        The function's metrics, flushed by the handler after each invocation.
    """

    def __init__(self, metrics: Metrics | None) -> None:
        self._metrics = metrics

    def count(self, name: str) -> None:
        """Add one to the count ``name``."""
        if self._metrics is None:
            return
        with _best_effort():
            self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)

    def succeeded(self, report: Report, end_to_end_ms: float) -> None:
        """A COMPLETED upload: counts, times and size, then the per-stage times."""
        if report.fallback:
            logger.warning(
                "inference ran in the function: its endpoint was unavailable", extra={"why": report.fallback}
            )
        if self._metrics is None:
            return
        width, height = report.input_size
        megapixels = width * height / 1e6
        with _best_effort():
            self._metrics.add_metric(name=names.PROCESSED, unit=MetricUnit.Count, value=1)
            if report.fallback:
                self._metrics.add_metric(name=names.INFERENCE_FALLBACK, unit=MetricUnit.Count, value=1)
            inference_ms = report.timings_ms.get("inference", 0)
            self._metrics.add_metric(
                name=names.INFERENCE_MS, unit=MetricUnit.Milliseconds, value=inference_ms
            )
            self._metrics.add_metric(
                name=names.END_TO_END_MS, unit=MetricUnit.Milliseconds, value=end_to_end_ms
            )
            self._metrics.add_metric(name=names.INPUT_MEGAPIXELS, unit=MetricUnit.Count, value=megapixels)
        with _best_effort():
            self._record_stages(report, end_to_end_ms, megapixels)

    def failed(self, error: BgRemoveError) -> None:
        """A FAILED upload: counted, by error code too."""
        if self._metrics is None:
            return
        with _best_effort():
            self._metrics.add_metric(name=names.FAILED, unit=MetricUnit.Count, value=1)
            if isinstance(error, SupersededError):
                self._metrics.add_metric(name=names.SUPERSEDED, unit=MetricUnit.Count, value=1)
            if is_metrics_disabled():
                return
            # Per-code counts need their own dimension, so they go out as a separate EMF blob. It names the
            # namespace itself: single_metric would otherwise read POWERTOOLS_METRICS_NAMESPACE, which the
            # handler treats as optional, and raise where it is unset.
            with single_metric(
                name=names.FAILED_BY_CODE, unit=MetricUnit.Count, value=1, namespace=self._metrics.namespace
            ) as by_code:
                by_code.add_dimension(name="ErrorCode", value=error.code)

    def _record_stages(self, report: Report, end_to_end_ms: float, megapixels: float) -> None:
        """Per-stage times by Model and SizeBand: their own EMF line (other dimensions than the batch's)."""
        if self._metrics is None or is_metrics_disabled():
            return
        stages = EphemeralMetrics(namespace=self._metrics.namespace, service="")  # Model, SizeBand only
        stages.add_dimension(name="Model", value=report.model)
        stages.add_dimension(name="SizeBand", value=names.size_band(megapixels))
        timings = report.timings_ms
        for name, value in (
            (names.DECODE_MS, timings.get("decode", 0)),
            (names.INFERENCE_MS, timings.get("inference", 0)),
            (names.ENCODE_MS, timings.get("encode", 0)),
            (names.END_TO_END_MS, end_to_end_ms),
        ):
            stages.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
        stages.flush_metrics()


@contextmanager
def _best_effort() -> Iterator[None]:
    """Log and swallow any fault in recording metrics (see the module's docstring for why)."""
    try:
        yield
    except Exception:  # any fault of the metrics library or its configuration
        logger.warning("metrics not recorded", exc_info=True)
