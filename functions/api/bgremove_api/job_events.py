"""Lambda entry point of ``JobsFunction``: completion events of API uploads finish their jobs.

The function hears the completion topic through its own SQS queue, whose subscription filters on the
input key (``api/`` only), so S3-path uploads never reach it. Each message is read as a
:class:`bgremove.events.CompletionEvent`; its job is the one its input key names (``api/<job id>/<name>``),
and only if the job's own input is that key (see :meth:`JobEvents.apply`). The job moves to ``COMPLETED`` or
``FAILED`` with one conditional update (:meth:`bgremove_api.jobs.JobStore.complete`): a replayed event
changes nothing and a canceled job stays canceled. The update marks the job's terminal webhook ``pending``;
an event that finds it pending queues its delivery and marks it ``queued``. So a retry after a failed
``SendMessage`` queues it (with the same webhook id), and a replay after a successful one does not.

An event whose job is unknown (expired, or its submit failed before the upload), and a message that is no
completion event, are logged and dropped. A DynamoDB or SQS failure fails the record: SQS brings it back
and, after ``maxReceiveCount`` receives, moves it to the jobs dead-letter queue, whose alarm fires.

An event that comes after its job's deadline does not complete it: the job is failed with ``JOB_TIMED_OUT``
instead (if nothing failed it yet), as a client reading it then would have seen. A failure's message is
stored as clients may read it (:func:`bgremove_api.jobs.public_error_message`: no server path, and only "the
service is misconfigured" for an operator's fault); the event's own words are logged (at ERROR for an
operator's fault).

The same function runs every minute on a schedule (EventBridge, ``JobsSweepSchedule``): the sweep reads the
sparse deadline index, fails each open job past its deadline (an upload that sits in the processor's
dead-letter queue never gets an event), queues the webhooks of timed-out jobs (also those a read failed: the
API holds no queue) and takes them out of the index. A sweep that fails is retried by the next one.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from bgremove import env
from bgremove.events import CompletionEvent, MalformedEventError
from bgremove_api import observability
from bgremove_api.dialects.table import terminal_event
from bgremove_api.exceptions import JobNotFoundError
from bgremove_api.jobs import (
    CLIENT_ERROR_CODES,
    JOB_TIMED_OUT,
    Job,
    JobOutcome,
    JobsSettings,
    JobStatus,
    JobStore,
    job_id_from_input_key,
)
from bgremove_api.jobs.model import raw_error_message
from bgremove_api.jobs.wiring import build_store
from bgremove_api.runtime import AWS_CONFIG
from bgremove_api.webhooks import DeliveryMessage, Env, webhook_id

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "bgremove-jobs")

logger = Logger(service=SERVICE_NAME)
observability.route_package_logs(logger)
tracer = observability.tracer

_SCHEDULED_EVENT = "Scheduled Event"
_SWEEP_RESERVE_MS = 5_000  # the sweep stops with this much of the invocation left


@dataclass(frozen=True)
class JobEvents:
    """Applies completion events to jobs and queues their webhooks.

    Parameters
    ----------
    store
        The job records.
    sqs
        boto3 SQS client.
    webhook_queue_url
        The webhooks queue (:mod:`bgremove_api.webhooks`).
    """

    store: JobStore
    sqs: Any
    webhook_queue_url: str

    def apply(self, event: CompletionEvent) -> str:
        """Apply one completion event; returns what happened (``completed``, ``unchanged``, ``timed_out``,
        ``ignored``)."""
        # The job is the one the input key names, not the event's ``job_id`` (the input's ``job-id``
        # metadata): the key is what routed the event here (the subscription filters on it), the job
        # records it, and it is exact, where the metadata is echoed cut to 256 characters, and a copy of an
        # input (CopyObject keeps the metadata) would carry another job's id.
        key = event.input.key
        job_id = job_id_from_input_key(key)
        if job_id is None:
            logger.warning("not an API job's completion event", extra={"key": key[:256]})
            return "ignored"
        job = self.store.find(job_id)
        if job is None:
            logger.warning("completion event for an unknown job", extra={"job_id": job_id})
            return "ignored"
        if job.input_key != key:  # another object under the job's prefix: not the job's upload
            logger.warning("completion event of another object", extra={"job_id": job_id, "key": key[:256]})
            return "ignored"
        if self.store.is_overdue(job):
            return self._time_out(job)
        outcome = JobOutcome.from_event(event)
        raw_message = raw_error_message(event)
        operator_fault = outcome.error_code not in CLIENT_ERROR_CODES
        if outcome.status is JobStatus.FAILED and (operator_fault or outcome.error_message != raw_message):
            # The client reads the safe words; the operator finds the event's own here.
            log = logger.error if operator_fault else logger.warning
            log(
                "job failed: details withheld from the client",
                extra={"job_id": job_id, "error_code": outcome.error_code, "error_message": raw_message},
            )
        webhook_event = self.store.terminal_event(_as_status(job, outcome.status))
        announced = (webhook_event,) if webhook_event else ()
        try:
            job, changed = self.store.complete(job_id, outcome, pending_webhooks=announced)
        except JobNotFoundError:
            logger.warning("the job vanished before its event", extra={"job_id": job_id})
            return "ignored"
        if not job.status.terminal:  # its deadline passed between the read and the update
            return self._time_out(job)
        if changed:
            _record_terminal(job)
        pending = self._queue_pending(job)
        logger.info(
            "job event applied",
            extra={"job_id": job_id, "status": job.status.value, "changed": changed, "webhooks": pending},
        )
        return "completed" if changed else "unchanged"

    def sweep(self, time_left_ms: Callable[[], int] | None = None) -> dict[str, int]:
        """Fail every open job past its deadline and queue the webhooks of timed-out jobs.

        Returns the counts ``{"timed_out", "webhooks"}``. Stops early when ``time_left_ms`` (the invocation's
        remaining time) runs low; the next sweep goes on where this one stopped.
        """
        timed_out = webhooks = 0
        for job_id in self.store.overdue():
            if time_left_ms is not None and time_left_ms() < _SWEEP_RESERVE_MS:
                logger.warning("sweep stopped for lack of time; the next one goes on")
                break
            job = self.store.find(job_id)
            if job is None:
                continue
            if not job.status.terminal:
                job, changed = self._expire(job)
                timed_out += int(changed)
            if job.error_code == JOB_TIMED_OUT:
                webhooks += len(self._queue_pending(job))
            self.store.settle(job.job_id)
        if timed_out or webhooks:
            logger.info("sweep done", extra={"timed_out": timed_out, "webhooks": webhooks})
        return {"timed_out": timed_out, "webhooks": webhooks}

    def _expire(self, job: Job) -> tuple[Job, bool]:
        webhook_event = self.store.terminal_event(_as_status(job, JobStatus.FAILED))
        pending = (webhook_event,) if webhook_event else ()
        expired, changed = self.store.expire(job, pending_webhooks=pending)
        if changed:
            logger.warning(
                "job timed out: no completion event before its deadline",
                extra={"job_id": job.job_id, "deadline_at": self.store.deadline_of(job)},
            )
        return expired, changed

    def _time_out(self, job: Job) -> str:
        """A completion event after the job's deadline: the job is failed instead, its webhook queued."""
        logger.warning("a completion event after the job's deadline", extra={"job_id": job.job_id})
        expired, changed = self._expire(job)
        if expired.error_code == JOB_TIMED_OUT:
            self._queue_pending(expired)
            self.store.settle(expired.job_id)
        return "timed_out" if changed else "unchanged"

    def _queue_pending(self, job: Job) -> list[str]:
        """Queue the deliveries of the job's ``pending`` webhooks and mark them ``queued``."""
        pending = [name for name, state in job.webhook_status.items() if state == "pending"]
        for name in pending:
            message = DeliveryMessage(job.job_id, name, webhook_id(job.job_id, name))
            self.sqs.send_message(QueueUrl=self.webhook_queue_url, MessageBody=message.to_json())
            self.store.set_webhook_status(job.job_id, name, "queued")
        return pending


def _record_terminal(job: Job) -> None:
    """``JobsCompleted`` or ``JobsFailed`` by code, and ``JobDurationMs`` from submit to the end."""
    if job.status is JobStatus.COMPLETED:
        observability.count(observability.JOBS_COMPLETED)
    else:
        observability.count(observability.JOBS_FAILED, ErrorCode=job.error_code or "UNKNOWN")
    try:
        created = datetime.fromisoformat(job.created_at.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(str(job.completed_at).replace("Z", "+00:00"))
    except ValueError:
        return
    elapsed_ms = max(0.0, (ended - created).total_seconds() * 1000)
    observability.emit({observability.JOB_DURATION: (MetricUnit.Milliseconds, round(elapsed_ms, 3))})


def _as_status(job: Job, status: JobStatus) -> Job:
    return replace(job, status=status)


@functools.cache
def get_job_events() -> JobEvents:
    """One per process, from the environment (cached: the local runner clears it on a cold start).

    Raises
    ------
    bgremove.ConfigurationError
        A setting is missing or malformed (:meth:`JobsSettings.from_env`, ``WEBHOOK_QUEUE_URL``).
    """
    settings = JobsSettings.from_env()
    queue = env.required(os.environ, Env.WEBHOOK_QUEUE_URL)
    dynamodb = boto3.client("dynamodb", config=AWS_CONFIG)
    return JobEvents(
        store=build_store(settings, dynamodb, terminal_event),
        sqs=boto3.client("sqs", config=AWS_CONFIG),
        webhook_queue_url=queue,
    )


def _completion_event(record: SQSRecord) -> CompletionEvent | None:
    """The event a record carries, raw or in an SNS envelope (raw delivery off); ``None`` when it carries
    none (logged: only the processor publishes to the topic, so a retry would read it no better)."""
    try:
        body = json.loads(record.body)
        if isinstance(body, dict) and body.get("Type") == "Notification" and "Message" in body:
            return CompletionEvent.from_json(body["Message"])
        return CompletionEvent.from_dict(body)
    except (ValueError, TypeError, MalformedEventError) as error:
        logger.warning(
            "a message that is no completion event",
            extra={"message_id": record.message_id, "why": str(error)},
        )
        return None


def _record_handler(record: SQSRecord) -> str:
    event = _completion_event(record)
    if event is None:
        return "ignored"
    job_id = job_id_from_input_key(event.input.key)
    logger.set_correlation_id(job_id or record.message_id)
    with observability.traced("## job event", job_id=job_id or ""):
        return get_job_events().apply(event)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS batches of completion events, or the schedule's event (EventBridge): the deadline sweep."""
    if event.get("detail-type") == _SCHEDULED_EVENT and "Records" not in event:
        logger.set_correlation_id(str(event.get("id") or getattr(context, "aws_request_id", "")))
        return get_job_events().sweep(context.get_remaining_time_in_millis)
    return dict(
        process_partial_response(
            event=event,
            record_handler=_record_handler,
            processor=BatchProcessor(event_type=EventType.SQS),
            context=context,
        )
    )
