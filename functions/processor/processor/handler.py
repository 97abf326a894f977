"""Lambda entry point: recognise the event source, hand each object to :class:`ImageProcessor`.

Failure semantics per source:

- SQS (main path): partial batch response; an item that failed transiently is delivered again and, after
  ``maxReceiveCount`` attempts, moved to the dead-letter queue.
- S3 / EventBridge (asynchronous invokes): any transient failure raises, so Lambda retries the event.
- S3 Batch Operations: ``TemporaryFailure`` for transient problems (the job retries), ``PermanentFailure``
  for bad input (its FAILED event is already published), ``Succeeded`` otherwise.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from bgremove import Engine, EngineSettings
from processor import completion
from processor.service import ImageProcessor, s3_model_fetcher
from processor.settings import DEFAULT_METRICS_NAMESPACE, SERVICE_NAME, Env, ProcessorSettings
from processor.sources import (
    ObjectRef,
    SourceKind,
    detect,
    refs_from_eventbridge,
    refs_from_s3_notification,
    refs_from_sqs_body,
)

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
metrics = Metrics(
    namespace=os.environ.get(Env.METRICS_NAMESPACE, DEFAULT_METRICS_NAMESPACE), service=SERVICE_NAME
)

# Standard retry mode backs off on throttling and 5xx before the error reaches the batch logic.
_AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)


@functools.cache
def get_engine() -> Engine:
    """One engine per process, model loaded at init (outside the first request's latency)."""
    engine = Engine(
        EngineSettings.from_env(), fetcher=s3_model_fetcher(boto3.client("s3", config=_AWS_CONFIG))
    )
    engine.warm_up()
    return engine


@functools.cache
def get_processor() -> ImageProcessor:
    settings = ProcessorSettings.from_env()
    if settings.sagemaker_endpoint:
        logger.warning("SAGEMAKER_ENDPOINT_NAME is set but this build runs inference in the function")
    store = (
        DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto_config=_AWS_CONFIG)
        if settings.idempotency_table
        else None
    )
    return ImageProcessor(
        get_engine(),
        boto3.client("s3", config=_AWS_CONFIG),
        completion.SnsPublisher(boto3.client("sns", config=_AWS_CONFIG), settings.topic_arn),
        settings,
        persistence_store=store,
        metrics=metrics,
    )


class OutOfTimeError(RuntimeError):
    """Not enough of the invocation left to process another record; it is retried later."""


class _TimeBudget:
    """Stops taking records when the remaining time is below twice the slowest record so far (min 10 s)."""

    MINIMUM_RESERVE_MS = 10_000

    def __init__(self, context: LambdaContext) -> None:
        self._context = context
        self._slowest_ms = 0.0

    def check(self) -> None:
        reserve = max(self.MINIMUM_RESERVE_MS, 2 * self._slowest_ms)
        if self._context.get_remaining_time_in_millis() < reserve:
            raise OutOfTimeError(f"less than {reserve / 1000:.0f} s left in this invocation")

    @contextmanager
    def measure(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._slowest_ms = max(self._slowest_ms, (time.perf_counter() - started) * 1000)


def _process_all(processor: ImageProcessor, refs: list[ObjectRef]) -> None:
    failures = []
    for ref in refs:
        try:
            processor.process(ref)
        except Exception as error:  # keep going, re-raise once the others are done
            logger.exception("object failed; will be retried", extra={"bucket": ref.bucket, "key": ref.key})
            metrics.add_metric(name="RetryableFailure", unit=MetricUnit.Count, value=1)
            failures.append(error)
    if failures:
        raise failures[0]


def _handle_s3_batch(processor: ImageProcessor, event: dict[str, Any]) -> dict[str, Any]:
    job = S3BatchOperationEvent(event)
    response = S3BatchOperationResponse(job.invocation_schema_version, job.invocation_id, "PermanentFailure")
    for task in job.tasks:
        ref = ObjectRef(bucket=task.s3_bucket, key=task.s3_key, version_id=task.s3_version_id)
        try:
            outcome = processor.process(ref)
        except Exception as error:  # reported to S3 Batch Operations, which retries
            logger.exception("batch task failed; S3 Batch Operations will retry it")
            record = S3BatchOperationResponseRecord(
                task.task_id, "TemporaryFailure", f"{type(error).__name__}"
            )
        else:
            if outcome["status"] == completion.COMPLETED:
                record = S3BatchOperationResponseRecord(task.task_id, "Succeeded", outcome["output"]["key"])
            else:
                record = S3BatchOperationResponseRecord(
                    task.task_id, "PermanentFailure", outcome["error"]["code"]
                )
        response.add_result(record)
    return response.asdict()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | None:
    processor = get_processor()
    processor.idempotency_config.register_lambda_context(context)
    kind = detect(event)
    logger.debug("event received", extra={"source": kind.value})
    if kind is SourceKind.SQS:
        budget = _TimeBudget(context)

        def handle_record(record: SQSRecord) -> None:
            # Give back what cannot finish in time: a Lambda timeout would fail (and count a receive
            # against) every message of the batch, including those that succeeded.
            budget.check()
            with budget.measure():
                _process_all(processor, refs_from_sqs_body(record.body))

        response = process_partial_response(
            event=event,
            record_handler=handle_record,
            processor=BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False),
            context=context,
        )
        return dict(response)
    if kind is SourceKind.S3_BATCH:
        return _handle_s3_batch(processor, event)
    refs = (
        refs_from_eventbridge(event) if kind is SourceKind.EVENTBRIDGE else refs_from_s3_notification(event)
    )
    _process_all(processor, refs)
    return {"processed": len(refs)}


# In Lambda, build everything during the init phase: the model load then never counts against the first
# batch's timeout. Elsewhere (tests, the local runner) it is built on first use, once the environment is set.
if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    get_processor()
