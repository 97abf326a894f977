"""Lambda entry point of ``WebhooksFunction``: one try per message of the webhooks queue.

The work is :class:`bgremove_api.webhooks.WebhookDeliverer`'s; this module only wires it from the environment.
Retries are messages sent again with a delay (``DelaySeconds``) rather than the queue's redelivery, so
each try's wait follows the schedule and a try that failed at the receiver is never reported to SQS as a
failure. A record fails only when the next try could not be queued or DynamoDB failed: SQS then brings the
same try back, and after ``maxReceiveCount`` receives moves it to the dead-letter queue.

The records of a batch are tried at once (:class:`ConcurrentBatchProcessor`, at most
:data:`~bgremove_api.webhooks.MAX_CONCURRENT_TRIES` threads), so a receiver that hangs for its whole POST
limit delays no other; and a record whose try could not finish in the invocation's remaining time is not
started but reported failed (:class:`~bgremove_api.webhooks.NoTimeLeftError`), so a timeout never cuts a
batch short and repeats its tries.

It runs the API's code (each dialect's webhook parts are in its record, :mod:`bgremove_api.dialects.table`)
without the model: nothing here loads it.
"""

from __future__ import annotations

import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from bgremove import env as setting
from bgremove_api import observability
from bgremove_api.dialects.table import WEBHOOK_DIALECTS, terminal_event
from bgremove_api.fetch import UrlFetcher
from bgremove_api.jobs import JobsSettings, build_store
from bgremove_api.presign import Presigner
from bgremove_api.runtime import AWS_CONFIG, S3_CONFIG
from bgremove_api.settings import DEFAULT_RESULT_URL_TTL_S, RESULT_URL_TTL_RANGE
from bgremove_api.settings import Env as ApiEnv
from bgremove_api.webhooks import (
    MAX_CONCURRENT_TRIES,
    DeliveryMessage,
    KeyHashes,
    NoTimeLeftError,
    WebhookDeliverer,
    WebhookSettings,
)

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "bgremove-webhooks")

logger = Logger(service=SERVICE_NAME)
observability.route_package_logs(logger)
tracer = observability.tracer


@functools.cache
def get_deliverer() -> WebhookDeliverer:
    """One per process, from the environment (cached: the local runner clears it on a cold start).

    Raises
    ------
    bgremove.ConfigurationError
        A setting is missing or malformed.
    """
    env = os.environ
    jobs = JobsSettings.from_env()
    webhooks = WebhookSettings.from_env()
    dynamodb = boto3.client("dynamodb", config=AWS_CONFIG)
    output_bucket = setting.required(env, ApiEnv.OUTPUT_BUCKET)
    ttl_s = setting.whole_number(
        env, ApiEnv.RESULT_URL_TTL_S, DEFAULT_RESULT_URL_TTL_S, *RESULT_URL_TTL_RANGE
    )
    return WebhookDeliverer(
        store=build_store(jobs, dynamodb, terminal_event),
        key_hashes=KeyHashes(setting.required(env, ApiEnv.API_KEYS_TABLE), dynamodb),
        poster=UrlFetcher(
            max_bytes=1024,
            timeout_s=webhooks.timeout_s,
            max_redirects=0,
            # Local stack only (the template never sets it): webhooks to a receiver on 127.0.0.1.
            allow_loopback=setting.switch(env, ApiEnv.URL_FETCH_ALLOW_LOOPBACK),
        ),
        presigner=Presigner(boto3.client("s3", config=S3_CONFIG), output_bucket, ttl_s),
        dialects=WEBHOOK_DIALECTS,
        sqs=boto3.client("sqs", config=AWS_CONFIG),
        settings=webhooks,
    )


class ConcurrentBatchProcessor(BatchProcessor):
    """Powertools' SQS batch processor, with the records of a batch handled at once on up to ``max_workers``
    threads; what fails is reported as batch item failures, as by :class:`BatchProcessor`.

    Its bookkeeping only appends to lists (safe across threads), and the response lists failures by message
    id, so their order does not matter.
    """

    def __init__(self, max_workers: int = MAX_CONCURRENT_TRIES) -> None:
        # Every record failing (e.g. no time left for any) is a batch response too, not an invocation error.
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.max_workers = max_workers

    def process(self) -> list[tuple]:  # type: ignore[type-arg]  # as the base class declares it
        workers = min(self.max_workers, len(self.records))
        if workers <= 1:
            return super().process()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook-try") as pool:
            return list(pool.map(self._process_record, self.records))


_OUTCOME_METRICS = {
    "delivered": (observability.WEBHOOK_TRIES, observability.WEBHOOK_DELIVERED),
    "retrying": (
        observability.WEBHOOK_TRIES,
        observability.WEBHOOK_FAILED_TRIES,
        observability.WEBHOOK_RETRIES,
    ),
    "failed": (
        observability.WEBHOOK_TRIES,
        observability.WEBHOOK_FAILED_TRIES,
        observability.WEBHOOK_DEAD_LETTERED,
    ),
}
"""The counts each outcome of :meth:`~bgremove_api.webhooks.WebhookDeliverer.deliver` adds (``skipped``:
none)."""


def _record_outcome(outcome: str) -> None:
    names = _OUTCOME_METRICS.get(outcome)
    if names:
        observability.emit({name: (MetricUnit.Count, 1) for name in names})


def _record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> str:
    message = DeliveryMessage.from_json(record.body)
    # The records of a batch run on threads: the job id goes on this thread's lines only.
    logger.thread_safe_append_keys(correlation_id=message.job_id)
    try:
        with observability.traced("## webhook try", job_id=message.job_id, event=message.event):
            return _try(message, lambda_context)
    finally:
        logger.thread_safe_remove_keys(["correlation_id"])


def _try(message: DeliveryMessage, lambda_context: LambdaContext | None) -> str:
    deadline = None
    if lambda_context is not None:
        deadline = time.monotonic() + lambda_context.get_remaining_time_in_millis() / 1000
    try:
        outcome = get_deliverer().deliver(message, deadline=deadline)
    except NoTimeLeftError as error:
        logger.warning(
            "webhook try left to SQS",
            extra={
                "job_id": message.job_id,
                "event": message.event,
                "attempt": message.attempt,
                "why": str(error),
            },
        )
        raise
    logger.info(
        "webhook try",
        extra={
            "job_id": message.job_id,
            "event": message.event,
            "attempt": message.attempt,
            "outcome": outcome,
        },
    )
    _record_outcome(outcome)
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_deliverer()  # built here, once, before the threads share it
    return dict(
        process_partial_response(
            event=event,
            record_handler=_record_handler,
            processor=ConcurrentBatchProcessor(),
            context=context,
        )
    )
