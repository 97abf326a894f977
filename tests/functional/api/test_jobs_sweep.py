"""JobsFunction's deadline on moto: the scheduled sweep fails overdue jobs and queues their webhooks, a late
completion event leaves a timed-out job failed, and operator faults reach clients as a safe message."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest

from bgremove import Options
from bgremove.events import CompletionStatus, ErrorDetails
from bgremove_api import job_events
from bgremove_api.jobs import JOB_TIMED_OUT, Job, JobStatus, WebhookConfig
from bgremove_api.keys import ApiKey
from bgremove_api.webhooks import DeliveryMessage, webhook_id
from tests.unit.api.jobs.fixtures import CONTEXT, Stack, completion_event, jobs_stack, sqs_event

SCHEDULED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/bgremove-JobsSweep"],
    "detail": {},
}


@dataclass
class Aws:
    """The API's jobs machinery on moto, and the webhooks queue JobsFunction (from its environment) fills."""

    stack: Stack
    sqs: Any
    webhook_queue: str

    @property
    def store(self) -> Any:
        return self.stack.machinery.store

    @property
    def owner(self) -> ApiKey:
        return self.stack.owner


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with jobs_stack() as stack:
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
        for name, value in {
            "JOBS_TABLE": stack.machinery.store.table_name,
            "JOB_DEADLINE_MINUTES": "15",
            "WEBHOOK_QUEUE_URL": queue,
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        job_events.get_job_events.cache_clear()
        yield Aws(stack, sqs, queue)
        job_events.get_job_events.cache_clear()


def drain(aws: Aws) -> list[DeliveryMessage]:
    messages = aws.sqs.receive_message(
        QueueUrl=aws.webhook_queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
    ).get("Messages", [])
    for message in messages:
        aws.sqs.delete_message(QueueUrl=aws.webhook_queue, ReceiptHandle=message["ReceiptHandle"])
    return [DeliveryMessage.from_json(m["Body"]) for m in messages]


def submit(aws: Aws, dialect: str = "apiframe", events: tuple[str, ...] = ()) -> Job:
    job, _ = aws.stack.machinery.submitter.submit(
        aws.owner,
        dialect=dialect,
        image=b"img",
        filename="a.jpg",
        options=Options(),
        webhook=WebhookConfig("https://example.com/hook", events, dialect),
        idempotency_key=None,
        extra={},
    )
    return job


def backdate(aws: Aws, job: Job, minutes: float) -> None:
    aws.stack.backdate(job.job_id, minutes)


def test_the_sweep_fails_overdue_jobs_once_and_queues_their_webhooks(aws: Aws) -> None:
    stuck = submit(aws)
    replicate_stuck = submit(aws, dialect="replicate")
    fresh = submit(aws)
    backdate(aws, stuck, 16)
    backdate(aws, replicate_stuck, 16)
    assert job_events.lambda_handler(SCHEDULED_EVENT, CONTEXT) == {"timed_out": 2, "webhooks": 2}
    for job, event in ((stuck, "failed"), (replicate_stuck, "completed")):
        failed = aws.store.get(job.job_id, aws.owner)
        assert (failed.status, failed.error_code) == (JobStatus.FAILED, JOB_TIMED_OUT)
        assert failed.webhook_status == {event: "queued"}
    assert sorted((m.job_id, m.event) for m in drain(aws)) == sorted(
        [(stuck.job_id, "failed"), (replicate_stuck.job_id, "completed")]
    )
    assert aws.store.get(fresh.job_id, aws.owner).status is JobStatus.QUEUED
    # Nothing is left for the next sweep.
    assert aws.store.overdue() == []
    assert job_events.lambda_handler(SCHEDULED_EVENT, CONTEXT) == {"timed_out": 0, "webhooks": 0}
    assert drain(aws) == []


def test_a_job_failed_by_a_read_gets_its_webhook_from_the_next_sweep(aws: Aws) -> None:
    job = submit(aws)
    backdate(aws, job, 16)
    assert aws.store.get(job.job_id, aws.owner).webhook_status == {"failed": "pending"}  # the API's read
    assert job_events.lambda_handler(SCHEDULED_EVENT, CONTEXT) == {"timed_out": 0, "webhooks": 1}
    assert [(m.job_id, m.event, m.webhook_id) for m in drain(aws)] == [
        (job.job_id, "failed", webhook_id(job.job_id, "failed"))
    ]
    assert aws.store.overdue() == []


def test_a_late_completion_event_leaves_the_job_failed(aws: Aws) -> None:
    unread = submit(aws)
    backdate(aws, unread, 16)
    # Nobody read it and no sweep ran yet: the event itself finds it overdue and fails it.
    assert job_events.lambda_handler(sqs_event(completion_event(unread)), CONTEXT) == {
        "batchItemFailures": []
    }
    failed = aws.store.get(unread.job_id, aws.owner)
    assert (failed.status, failed.error_code, failed.output_key) == (JobStatus.FAILED, JOB_TIMED_OUT, None)
    assert [(m.job_id, m.event) for m in drain(aws)] == [(unread.job_id, "failed")]
    # A replay, or a sweep, changes nothing and queues nothing more.
    job_events.lambda_handler(sqs_event(completion_event(unread)), CONTEXT)
    job_events.lambda_handler(SCHEDULED_EVENT, CONTEXT)
    assert aws.store.get(unread.job_id, aws.owner) == failed
    assert drain(aws) == []


def test_an_operator_fault_is_stored_as_a_safe_message_and_logged_in_full(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    job = submit(aws)
    event = replace(
        completion_event(job),
        status=CompletionStatus.FAILED,
        output=None,
        report=None,
        error=ErrorDetails("MODEL_NOT_FOUND", "u2net.onnx not found in /opt/models; run `make model`"),
    )
    job_events.lambda_handler(sqs_event(event), CONTEXT)
    failed = aws.store.get(job.job_id, aws.owner)
    assert failed.error_code == "MODEL_NOT_FOUND"
    assert failed.error_message == "the service is misconfigured; the operator has been told"
    key = {"job_id": {"S": job.job_id}}
    item = aws.stack.dynamodb.get_item(TableName=aws.store.table_name, Key=key)["Item"]
    assert "/opt/models" not in item["error_message"]["S"]
    logged = [r for r in caplog.records if "/opt/models" in str(getattr(r, "error_message", ""))]
    assert [r.levelname for r in logged] == ["ERROR"]  # the details are in the function's log
