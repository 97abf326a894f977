"""Lambda entry point of ``WebhooksFunction``: one try per message of the webhooks queue.

The work is :class:`api.webhooks.WebhookDeliverer`'s; this module only wires it from the environment.
Retries are messages sent again with a delay (``DelaySeconds``) rather than the queue's redelivery, so
each try's wait follows the schedule and a try that failed at the receiver is never reported to SQS as a
failure. A record fails only when the next try could not be queued or DynamoDB failed: SQS then brings the
same try back, and after ``maxReceiveCount`` receives moves it to the dead-letter queue.

It runs the API's code (the dialects' body builders live there) without the model: nothing here loads it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from api.fetch import UrlFetcher
from api.jobs import JobsSettings, JobStore
from api.runtime import AWS_CONFIG, S3_CONFIG
from api.settings import DEFAULT_RESULT_URL_TTL_S
from api.settings import Env as ApiEnv
from api.webhooks import DeliveryMessage, KeyHashes, WebhookDeliverer, WebhookSettings, import_dialects

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "bgremove-webhooks")

logger = Logger(service=SERVICE_NAME)

_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class _PresignSettings:
    output_bucket: str
    result_url_ttl_s: int


@dataclass(frozen=True)
class _Presign:
    settings: _PresignSettings
    s3: Any


@functools.cache
def get_processor() -> WebhookDeliverer:
    """One per process, from the environment (the name the local runner resets on a cold start)."""
    import_dialects()
    env = os.environ
    jobs = JobsSettings.from_env()
    webhooks = WebhookSettings.from_env()
    dynamodb = boto3.client("dynamodb", config=AWS_CONFIG)
    ttl = env.get(ApiEnv.RESULT_URL_TTL_S, "").strip()
    return WebhookDeliverer(
        store=JobStore(jobs.jobs_table, dynamodb, retention_days=jobs.retention_days),
        key_hashes=KeyHashes(env[ApiEnv.API_KEYS_TABLE], dynamodb),
        poster=UrlFetcher(
            max_bytes=1024,
            timeout_s=webhooks.timeout_s,
            max_redirects=0,
            # Local stack only (the template never sets it): webhooks to a receiver on 127.0.0.1.
            allow_loopback=env.get(ApiEnv.URL_FETCH_ALLOW_LOOPBACK, "").strip().lower() in _TRUE,
        ),
        presign=_Presign(
            _PresignSettings(
                env[ApiEnv.OUTPUT_BUCKET], int(ttl) if ttl.isdigit() else DEFAULT_RESULT_URL_TTL_S
            ),
            boto3.client("s3", config=S3_CONFIG),
        ),
        sqs=boto3.client("sqs", config=AWS_CONFIG),
        settings=webhooks,
    )


def _record_handler(record: SQSRecord) -> str:
    message = DeliveryMessage.from_json(record.body)
    outcome = get_processor().deliver(message)
    logger.info(
        "webhook try",
        extra={
            "job_id": message.job_id,
            "event": message.event,
            "attempt": message.attempt,
            "outcome": outcome,
        },
    )
    return outcome


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event,
            record_handler=_record_handler,
            processor=BatchProcessor(event_type=EventType.SQS),
            context=context,
        )
    )
