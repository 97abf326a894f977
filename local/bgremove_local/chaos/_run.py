"""The run: the local stack with the faults installed, the uploads made, the events collected and judged."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from bgremove_local import notifications
from bgremove_local.chaos._collector import Collector
from bgremove_local.chaos._config import ChaosConfig
from bgremove_local.chaos._faults import FaultInjector
from bgremove_local.chaos._verdict import ChaosResult, evaluate
from bgremove_local.chaos._workload import Upload, Workload
from bgremove_local.runner import Pipeline, running_pipeline

SILENT_FUNCTION = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
"""The function's environment additions without ``--verbose``: injected faults make it log many errors."""


class _OwnerOnly:
    """A stream that passes on what one thread writes and drops the others' (the function's output)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._owner = threading.get_ident()

    def write(self, text: str) -> int:
        return int(self._stream.write(text)) if threading.get_ident() == self._owner else len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _function_output_dropped() -> Iterator[None]:
    """What other threads print (the function's logs and metric blobs, Lambda's CloudWatch) is dropped."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _OwnerOnly(sys.stdout), _OwnerOnly(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def run_chaos(
    config: ChaosConfig, *, verbose: bool = False, echo: Callable[[str], None] | None = None
) -> ChaosResult:
    """Run the uploads of ``config`` through the local stack with faults injected; count the outcome.

    Parameters
    ----------
    config
        The run.
    verbose
        Show the function's logs and the poller's (many, under faults).
    echo
        Progress lines go here (e.g. ``print``); ``None`` keeps quiet.
    """
    say = echo or (lambda _line: None)
    started = time.monotonic()
    overrides = {
        "FunctionTimeout": str(config.function_timeout_s),
        "VisibilityTimeout": str(max(60, 6 * config.function_timeout_s)),
    }
    if config.default_model:
        overrides["DefaultModel"] = config.default_model
    injector = FaultInjector(config)
    poller_log = logging.getLogger("bgremove_local")
    level = poller_log.level
    if not verbose:
        poller_log.setLevel(logging.CRITICAL)  # a function error per injected init fault or crash
    try:
        with (
            nullcontext() if verbose else _function_output_dropped(),
            injector.installed(),
            running_pipeline(
                overrides=overrides,
                quiet=not verbose,
                wrap_handler=injector.wrap,
                environment=None if verbose else SILENT_FUNCTION,
            ) as pipeline,
        ):
            workload = Workload(config, pipeline.stack.function.environment.get("OUTPUT_PREFIX", ""))
            collector = Collector(pipeline)
            say(
                f"chaos: {config.uploads} uploads, seed {config.seed}, "
                f"function timeout {config.function_timeout_s} s"
            )
            versioning_at = int(config.uploads * config.versioning_from)
            for index in range(config.uploads):
                if collector.pending() >= config.max_backlog:
                    collector.wait(lambda: collector.pending() < config.max_backlog, config.drain_timeout_s)
                if index == versioning_at:
                    pipeline.s3.put_bucket_versioning(
                        Bucket=pipeline.stack.input_bucket, VersioningConfiguration={"Status": "Enabled"}
                    )
                    say(f"  versioning switched on for the input bucket at upload #{index}")
                upload = workload.next()
                _put(pipeline, upload)
                collector.add(upload)
                collector.collect()
                if (index + 1) % 100 == 0:
                    waiting, took = collector.pending(), time.monotonic() - started
                    say(f"  {index + 1} uploaded, {waiting} waiting for their event, {took:.0f} s")
            say("  all uploaded; waiting for the queue to empty")
            collector.wait(
                lambda: collector.pending() == 0 and collector.queue_empty(), config.drain_timeout_s
            )
            collector.wait(lambda: False, 3)  # late copies
            collector.collect(dead_letters=True)
            result = evaluate(
                config,
                uploads=workload.uploads,
                collector=collector,
                injector=injector,
                outputs=_outputs(pipeline),
                pipeline=pipeline,
                elapsed=time.monotonic() - started,
            )
    finally:
        poller_log.setLevel(level)
    return result


def _put(pipeline: Pipeline, upload: Upload) -> None:
    upload.bucket = pipeline.stack.input_bucket
    upload.started = time.time()
    response = pipeline.s3.put_object(
        Bucket=upload.bucket, Key=upload.key, Body=upload.data, Metadata=upload.metadata
    )
    upload.finished = time.time()
    upload.etag = str(response["ETag"]).strip('"')
    upload.version_id = response.get("VersionId") or None
    upload.sequencer = notifications.latest_sequencer(upload.bucket, upload.key) or ""
    upload.event_id = _event_id(upload)


def _event_id(upload: Upload) -> str:
    """The ``event_id`` the function gives this upload's events (its own definition, imported)."""
    from processor.completion import event_id_for  # noqa: PLC0415 - importable once the handler is
    from processor.sources import ObjectRef  # noqa: PLC0415

    ref = ObjectRef(
        bucket=upload.bucket,
        key=upload.key,
        version_id=upload.version_id,
        etag=upload.etag,
        sequencer=upload.sequencer or None,
    )
    return event_id_for(ref)


def _outputs(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """Every object of the output bucket: key -> its HeadObject."""
    s3, bucket = pipeline.s3, pipeline.stack.output_bucket
    found: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = s3.head_object(Bucket=bucket, Key=item["Key"])
    return found
