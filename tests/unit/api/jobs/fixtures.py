"""Jobs on moto for the API's tests: the store and submitter alone (:func:`jobs_on_moto`), or the whole API
with its jobs machinery (:func:`jobs_stack`); and what JobsFunction receives (completion events as the
processor builds them, in SQS records)."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto import mock_aws

from bgremove import Options
from bgremove.events import CompletionEvent
from bgremove.exceptions import CorruptImageError
from bgremove_api import jobs
from bgremove_api.dialects.table import terminal_event
from bgremove_api.jobs import Job, JobOutcome, JobStatus, JobStore, JobSubmitter
from bgremove_api.keys import ApiKey
from bgremove_api.runtime import use_runtime
from processor import completion
from processor.sources import ObjectRef
from tests.api_tables import create_table
from tests.unit.api.fakes import OUTPUT_BUCKET, PNG, Api, fake_api

JOBS_TABLE = "test-jobs"
INPUT_BUCKET = "test-input"
DATA_URI = "data:image/jpeg;base64," + base64.b64encode(b"jpeg bytes").decode()
ALICE = ApiKey("aaaaaaaaaaaa", "alice", "2026-01-01T00:00:00+00:00", False, 10, 10)
BOB = ApiKey("bbbbbbbbbbbb", "bob", "2026-01-01T00:00:00+00:00", False, 10, 10)


def backdate(dynamodb: Any, table: str, job: Job, minutes: float) -> None:
    """Move the job's creation and deadline ``minutes`` into the past, as if it had waited that long."""

    def earlier(text: str) -> str:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")) - timedelta(minutes=minutes)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    dynamodb.update_item(
        TableName=table,
        Key={"job_id": {"S": job.job_id}},
        UpdateExpression="SET created_at = :c, deadline_at = :d",
        ExpressionAttributeValues={
            ":c": {"S": earlier(job.created_at)},
            ":d": {"S": earlier(str(job.deadline_at))},
        },
    )


# ----------------------------------------------------------------------------------------------- store alone
@dataclass
class JobsOnMoto:
    """The Jobs table, the input and output buckets, a store (15-minute deadline) and a submitter."""

    dynamodb: Any
    s3: Any
    store: JobStore
    submitter: JobSubmitter

    def submit(self, owner: ApiKey = ALICE, **changes: Any) -> tuple[Job, bool]:
        """A plain submit of ``b"image bytes"`` by ``owner`` (Alice), with ``changes`` to its arguments."""
        arguments: dict[str, Any] = {
            "dialect": "apiframe",
            "image": b"image bytes",
            "filename": "photo.jpg",
            "options": Options(),
            "webhook": None,
            "idempotency_key": None,
            "extra": {},
        }
        return self.submitter.submit(owner, **{**arguments, **changes})

    def backdate(self, job: Job, minutes: float) -> None:
        backdate(self.dynamodb, self.store.table_name, job, minutes)


@contextmanager
def jobs_on_moto(default_model: str = "u2net") -> Iterator[JobsOnMoto]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        create_table(dynamodb, "JobsTable", JOBS_TABLE)
        s3.create_bucket(Bucket=INPUT_BUCKET)
        s3.create_bucket(Bucket=OUTPUT_BUCKET)
        store = JobStore(JOBS_TABLE, dynamodb, retention_days=3, deadline_minutes=15)
        yield JobsOnMoto(dynamodb, s3, store, JobSubmitter(store, s3, INPUT_BUCKET, default_model))


# ----------------------------------------------------------------------------------------------- the API
@dataclass
class Stack:
    """The API on moto with its jobs machinery; no pipeline: tests finish jobs with :meth:`finish`."""

    api: Api
    machinery: jobs.Jobs
    dynamodb: Any

    @property
    def owner(self) -> ApiKey:
        return self.api.runtime.keys.authenticate(self.api.key)

    def bearer(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api.key}", "Content-Type": "application/json"}

    def apiframe(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"X-API-Key": self.api.key, "Content-Type": "application/json"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def post(self, path: str, body: object, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        status, _, data = self.api.call("POST", path, json.dumps(body).encode(), headers)
        return status, json.loads(data)

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        status, _, data = self.api.call("GET", path, headers=headers)
        return status, json.loads(data)

    def jobs_count(self) -> int:
        found, _ = self.machinery.store.list(self.owner, limit=100)
        return len(found)

    def finish(self, job_id: str, *, fail: bool = False) -> None:
        """Do what the pipeline's completion event does."""
        if fail:
            outcome = JobOutcome(
                JobStatus.FAILED,
                completed_at=jobs.now_iso(),
                error_code="NOT_AN_IMAGE",
                error_message="not an image in any known format",
            )
        else:
            key = f"api/{job_id}/out.png"
            self.api.runtime.s3.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=PNG, ContentType="image/png")
            outcome = JobOutcome(
                JobStatus.COMPLETED,
                completed_at=jobs.now_iso(),
                started_at=jobs.now_iso(),
                output_key=key,
                output_content_type="image/png",
            )
        self.machinery.store.complete(job_id, outcome)

    def stored_input(self, job_id: str) -> tuple[bytes, dict[str, str]]:
        job = self.machinery.store.find(job_id)
        assert job is not None
        stored = self.api.runtime.s3.get_object(Bucket=INPUT_BUCKET, Key=job.input_key)
        return stored["Body"].read(), stored["Metadata"]

    def backdate(self, job_id: str, minutes: float) -> None:
        job = self.machinery.store.find(job_id)
        assert job is not None and job.deadline_at is not None
        backdate(self.dynamodb, self.machinery.store.table_name, job, minutes)


@contextmanager
def jobs_stack() -> Iterator[Stack]:
    """The API on moto (:func:`~tests.unit.api.fakes.fake_api`: ``isnet`` known but not deployed) with the
    jobs machinery installed (15-minute deadline, default model ``u2netp``)."""
    with fake_api() as api:
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        table = create_table(dynamodb, "JobsTable", JOBS_TABLE)
        api.runtime.s3.create_bucket(Bucket=INPUT_BUCKET)
        machinery = jobs.build_jobs(
            jobs.JobsSettings(jobs_table=table),
            dynamodb_client=dynamodb,
            s3_client=api.runtime.s3,
            input_bucket=INPUT_BUCKET,
            default_model="u2netp",
            terminal_event=terminal_event,
        )
        api.runtime = dataclasses.replace(api.runtime, job_machinery=machinery)
        use_runtime(api.runtime)
        yield Stack(api, machinery, dynamodb)  # fake_api puts the runtime back


# ----------------------------------------------------------------------------------------------- JobsFunction
class _Context:
    function_name = "test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


CONTEXT: Any = _Context()
"""A Lambda context with 30 s left."""


def completion_event(job: Job, *, failed: bool = False, bucket: str = INPUT_BUCKET) -> CompletionEvent:
    """The processor's event for ``job``'s upload: its output written, or ``CORRUPT_IMAGE``."""
    ref = ObjectRef(bucket=bucket, key=job.input_key, version_id=None, etag="e", size=10)
    if failed:
        return completion.failed(
            ref,
            job_id=job.job_id,
            input_size=10,
            error=CorruptImageError("truncated"),
            model="u2netp",
            timings_ms={"end_to_end": 12.0},
        )
    output_key = job.input_key.rsplit(".", 1)[0] + ".png"
    return completion.completed(
        ref,
        job_id=job.job_id,
        input_size=10,
        output=completion.OutputObject(OUTPUT_BUCKET, output_key, "image/png", 99, 8, 8),
        report={"model": "u2netp", "format": "png"},
        timings_ms={"end_to_end": 250.0},
    )


def sqs_event(*bodies: str | CompletionEvent) -> dict[str, Any]:
    """An SQS batch of ``bodies`` (events as the raw-delivery subscription passes them on)."""
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": body.to_json() if isinstance(body, CompletionEvent) else body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }
