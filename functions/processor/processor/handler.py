"""Lambda entry point: read the event (:mod:`processor.sources`), give each object to :class:`ImageProcessor`.

Failure semantics per source:

- SQS (main path): partial batch response; an item that failed transiently is delivered again and, after
  ``maxReceiveCount`` attempts, moved to the dead-letter queue. A message nobody can read (not JSON, no
  ``Records``, an unknown document) is permanent: it is logged with its message id, counted
  (``UnrecognisedMessage``) and acknowledged, never retried into the dead-letter queue.
- S3 / EventBridge (asynchronous invokes): any transient failure raises, so Lambda retries the event; so
  does an event of an unrecognised shape (a wiring fault).
- S3 Batch Operations: ``TemporaryFailure`` for transient problems (the job retries), ``PermanentFailure``
  for bad input (its FAILED event is already published) and for objects outside ``INPUT_BUCKETS``,
  ``Succeeded`` otherwise, zero-byte folder markers included (skipped: they are not uploads).

Objects of buckets other than ``INPUT_BUCKETS`` are never processed: see
:meth:`processor.service.ImageProcessor.process`.

What counts as transient is decided by the error's class: see :mod:`processor.exceptions`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
    S3BatchOperationTask,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from bgremove import Engine, EngineSettings
from processor import completion, inference, metric_names, sources
from processor.budget import TimeBudget
from processor.exceptions import UnrecognisedEventError
from processor.service import ImageProcessor, Skipped, SkipReason, s3_model_fetcher
from processor.settings import (
    DEFAULT_METRICS_NAMESPACE,
    SERVICE_NAME,
    Env,
    InferenceSettings,
    ProcessorSettings,
)
from processor.sources import ObjectRef, SourceKind

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
metrics = Metrics(
    namespace=os.environ.get(Env.METRICS_NAMESPACE, DEFAULT_METRICS_NAMESPACE), service=SERVICE_NAME
)

# Standard retry mode backs off on throttling and 5xx before the error reaches the batch logic.
_LOGGED_BODY_CHARS = 2048  # of an unrecognised message: enough to see what it is
_AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)


@functools.cache
def get_engine() -> Engine:
    """One engine per process, model loaded at init (outside the first request's latency).

    Models routed to a SageMaker endpoint (``SAGEMAKER_ENDPOINT_NAME``, ``SAGEMAKER_ENDPOINTS``) run there
    through :mod:`processor.inference`; warming one up loads nothing.
    """
    settings = InferenceSettings.from_env()
    engine_settings = EngineSettings.from_env()
    fetcher = s3_model_fetcher(boto3.client("s3", config=_AWS_CONFIG))
    registry = inference.build_registry(
        engine_settings,
        settings,
        client_factory=lambda: boto3.client("sagemaker-runtime", config=inference.runtime_config(settings)),
        fetcher=fetcher,
    )
    engine = Engine(engine_settings, fetcher=fetcher, registry=registry)
    if registry is not None:
        routes = inference.endpoint_routes(settings, engine_settings.default_model)
        logger.info("inference offloaded", extra={"routes": routes, "fallback": settings.inference_fallback})
    engine.warm_up()
    return engine


@functools.cache
def get_processor() -> ImageProcessor:
    """One processor per process, wired to AWS from the function's settings."""
    settings = ProcessorSettings.from_env()
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
        outbox=completion.EventOutbox(
            boto3.client("dynamodb", config=_AWS_CONFIG),
            settings.idempotency_table,
            settings.idempotency_ttl_seconds,
        )
        if settings.idempotency_table
        else None,
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    processor = get_processor()
    processor.idempotency_config.register_lambda_context(context)
    parsed = sources.parse(event)
    logger.debug("event received", extra={"source": parsed.kind.value})
    if parsed.kind is SourceKind.SQS:
        return _sqs_batch(processor, event, context)
    if parsed.job is not None:  # S3 Batch Operations
        return _s3_batch(processor, parsed.job, parsed.batch_tasks())
    _process_all(processor, parsed.refs)
    return {"processed": len(parsed.refs)}


def _sqs_batch(processor: ImageProcessor, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Each message on its own: a failed one is reported in ``batchItemFailures`` and delivered again."""
    budget = TimeBudget(context)

    def handle_record(record: SQSRecord) -> None:
        with budget.next_record():  # raises OutOfTimeError: the record is given back, not cut off
            try:
                refs = sources.refs_from_sqs_record(record)
            except UnrecognisedEventError as error:
                _acknowledge_unrecognised(record, error)
                return
            _process_all(processor, refs)

    response = process_partial_response(
        event=event,
        record_handler=handle_record,
        processor=BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False),
        context=context,
    )
    return dict(response)


def _s3_batch(
    processor: ImageProcessor,
    job: S3BatchOperationEvent,
    tasks: Iterable[tuple[S3BatchOperationTask, ObjectRef]],
) -> dict[str, Any]:
    """The job's response: the result of its one task.

    S3 Batch Operations sends one task per invocation, and :func:`sources.parse` refuses a job without
    exactly one task, a task id, an invocation id or a known schema version, so the response built here
    (which takes exactly one result) cannot fail for want of them.
    """
    response = S3BatchOperationResponse(job.invocation_schema_version, job.invocation_id, "PermanentFailure")
    for task, ref in tasks:
        response.add_result(_batch_result(processor, task, ref))
    result: dict[str, Any] = response.asdict()
    return result


def _acknowledge_unrecognised(record: SQSRecord, error: UnrecognisedEventError) -> None:
    """A message that no retry could ever read: keep a trace of it, count it, and let it go.

    Retrying it would only move it to the dead-letter queue after ``maxReceiveCount`` receives and raise
    the alarm for what is not an upload; the log line keeps its id and the start of its body instead.
    """
    logger.error(
        "unrecognised message acknowledged without processing",
        extra={
            "message_id": record.message_id,
            "error": str(error),
            "body": record.body[:_LOGGED_BODY_CHARS] if isinstance(record.body, str) else None,
        },
    )
    metrics.add_metric(name=metric_names.UNRECOGNISED_MESSAGE, unit=MetricUnit.Count, value=1)


def _batch_result(
    processor: ImageProcessor, task: S3BatchOperationTask, ref: ObjectRef
) -> S3BatchOperationResponseRecord:
    try:
        outcome = processor.process(ref)
    except Exception as error:  # reported to S3 Batch Operations, which retries
        logger.exception("batch task failed; S3 Batch Operations will retry it")
        return task.build_task_batch_response("TemporaryFailure", type(error).__name__)
    if isinstance(outcome, Skipped):
        # A folder marker is answered as done (there is nothing to do); an object outside the input
        # buckets is refused for good (the job was pointed at the wrong bucket).
        if outcome.reason is SkipReason.FOLDER_MARKER:
            return task.build_task_batch_response("Succeeded", f"skipped: {outcome.reason.value}")
        return task.build_task_batch_response("PermanentFailure", f"skipped: {outcome.reason.value}")
    if outcome.status is completion.COMPLETED:
        assert outcome.output is not None  # a COMPLETED event has an output (CompletionEvent checks it)
        return task.build_task_batch_response("Succeeded", outcome.output.key)
    assert outcome.error is not None  # and a FAILED one an error
    return task.build_task_batch_response("PermanentFailure", outcome.error.code)


def _process_all(processor: ImageProcessor, refs: Iterable[ObjectRef]) -> None:
    """Process every object, then re-raise the first failure (the event source retries the whole item)."""
    failures = []
    for ref in refs:
        try:
            processor.process(ref)
        except Exception as error:  # keep going, re-raise once the others are done
            logger.exception("object failed; will be retried", extra={"bucket": ref.bucket, "key": ref.key})
            metrics.add_metric(name=metric_names.RETRYABLE_FAILURE, unit=MetricUnit.Count, value=1)
            failures.append(error)
    if failures:
        raise failures[0]


# In Lambda, build everything during the init phase: the model load then never counts against the first
# batch's timeout. Elsewhere (tests, the local runner) it is built on first use, once the environment is set.
if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    get_processor()
