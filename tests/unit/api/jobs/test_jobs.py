"""Job records (bgremove_api.jobs) on moto: submit, idempotency, owner isolation, conditional transitions,
paging."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import boto3
import pytest

from bgremove import Options
from bgremove.events import ErrorDetails
from bgremove.exceptions import ConfigurationError
from bgremove_api.exceptions import InvalidCursorError, JobNotFoundError
from bgremove_api.jobs import (
    INPUT_PREFIX,
    JobOutcome,
    JobsSettings,
    JobStatus,
    WebhookConfig,
    job_id_from_input_key,
    result_url,
    wait_for,
)
from bgremove_api.presign import Presigner
from bgremove_api.runtime import S3_CONFIG
from tests.unit.api.fakes import OUTPUT_BUCKET
from tests.unit.api.jobs.fixtures import (
    ALICE,
    BOB,
    INPUT_BUCKET,
    JOBS_TABLE,
    JobsOnMoto,
    completion_event,
    jobs_on_moto,
)


@pytest.fixture
def aws() -> Iterator[JobsOnMoto]:
    with jobs_on_moto() as running:
        yield running


def failed(code: str = "NOT_AN_IMAGE", completed_at: str = "t") -> JobOutcome:
    return JobOutcome(JobStatus.FAILED, completed_at=completed_at, error_code=code)


def done(output_key: str = "k", completed_at: str = "t") -> JobOutcome:
    return JobOutcome(JobStatus.COMPLETED, completed_at=completed_at, output_key=output_key)


def test_submit_stores_the_input_with_options_as_metadata_and_a_queued_record(aws: JobsOnMoto) -> None:
    webhook = WebhookConfig("https://example.com/hook", ("completed",), "apiframe")
    job, created = aws.submit(
        options=Options.parse({"format": "jpg", "background_color": "#ffffff", "model": "u2netp"}),
        webhook=webhook,
        extra={"input": {"image": "https://x/y.jpg"}},
        filename="../../evil name.jpg",
    )
    assert created
    assert job.status is JobStatus.QUEUED
    assert job.input_key == f"{INPUT_PREFIX}{job.job_id}/evil_name.jpg"
    assert job_id_from_input_key(job.input_key) == job.job_id
    obj = aws.s3.get_object(Bucket=INPUT_BUCKET, Key=job.input_key)
    assert obj["Body"].read() == b"image bytes"
    assert obj["Metadata"] == {
        "format": "jpeg",
        "background-color": "#ffffff",
        "model": "u2netp",
        "job-id": job.job_id,
    }
    stored = aws.store.get(job.job_id, ALICE)
    assert stored == job
    assert stored.model == "u2netp"
    assert stored.webhook == webhook
    assert stored.extra == {"input": {"image": "https://x/y.jpg"}}
    item = aws.dynamodb.get_item(TableName=JOBS_TABLE, Key={"job_id": {"S": job.job_id}})["Item"]
    assert int(item["expires_at"]["N"]) > 0


def test_submit_without_model_records_the_default(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    assert job.model == "u2net"
    assert "model" not in job.options


def test_an_idempotency_key_returns_the_first_job_and_uploads_once(aws: JobsOnMoto) -> None:
    first, created = aws.submit(idempotency_key="order-1")
    again, created_again = aws.submit(idempotency_key="order-1", filename="other.jpg")
    assert created and not created_again
    assert again.job_id == first.job_id
    other_owner, created_other = aws.submit(BOB, idempotency_key="order-1")
    assert created_other and other_owner.job_id != first.job_id  # keys are per owner
    keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=INPUT_BUCKET)["Contents"]]
    assert len(keys) == 2


def test_another_keys_job_is_not_found(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    with pytest.raises(JobNotFoundError):
        aws.store.get(job.job_id, BOB)
    with pytest.raises(JobNotFoundError):
        aws.store.cancel(job.job_id, BOB)
    with pytest.raises(JobNotFoundError):
        aws.store.get("nosuchjob", ALICE)
    assert aws.store.get(job.job_id, ALICE).status is JobStatus.QUEUED  # Bob's cancel changed nothing


def test_complete_is_conditional_and_a_replay_changes_nothing(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    outcome = JobOutcome(
        JobStatus.COMPLETED,
        completed_at="2026-01-01T00:00:02.000Z",
        output_key="api/x/photo.png",
        output_content_type="image/png",
        report={"model": "u2net", "timings_ms": {"total": 1.5}},
    )
    finished, changed = aws.store.complete(job.job_id, outcome, pending_webhooks=("completed",))
    assert changed
    assert (finished.status, finished.output_key, finished.report) == (
        JobStatus.COMPLETED,
        "api/x/photo.png",
        {"model": "u2net", "timings_ms": {"total": 1.5}},
    )
    assert finished.webhook_status == {"completed": "pending"}
    replay, changed_again = aws.store.complete(
        job.job_id, failed("CORRUPT_IMAGE", "2026-01-01T00:00:09.000Z")
    )
    assert not changed_again
    assert replay == finished
    with pytest.raises(JobNotFoundError):
        aws.store.complete("missing", failed(completed_at="2026-01-01T00:00:00Z"))


def test_an_outcome_is_terminal() -> None:
    with pytest.raises(ValueError, match="not a terminal state"):
        JobOutcome(JobStatus.PROCESSING, completed_at="t")


def test_an_outcome_is_what_the_completion_event_says_with_a_failure_made_safe(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    completed = JobOutcome.from_event(replace(completion_event(job), timestamp="2026-01-01T00:00:01.000Z"))
    assert completed == JobOutcome(
        JobStatus.COMPLETED,
        completed_at="2026-01-01T00:00:01.000Z",
        started_at="2026-01-01T00:00:00.750Z",  # the event's end_to_end is 250 ms
        model="u2netp",
        output_key=job.input_key.replace(".jpg", ".png"),
        output_content_type="image/png",
        report={"model": "u2netp", "format": "png"},
    )
    event = completion_event(job, failed=True)
    assert JobOutcome.from_event(event).error_code == "CORRUPT_IMAGE"
    leaky = replace(event, error=ErrorDetails("MODEL_NOT_FOUND", "u2net.onnx not in /opt/models/x"), model="")
    failed_outcome = JobOutcome.from_event(leaky)
    assert (failed_outcome.status, failed_outcome.output_key, failed_outcome.model) == (
        JobStatus.FAILED,
        None,
        None,
    )
    assert failed_outcome.error_message == "the service is misconfigured; the operator has been told"


def test_cancel_moves_only_unfinished_jobs_and_a_canceled_job_stays_canceled(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    canceled = aws.store.cancel(job.job_id, ALICE)
    assert canceled.status is JobStatus.CANCELED
    assert canceled.completed_at is not None
    late, changed = aws.store.complete(job.job_id, JobOutcome(JobStatus.COMPLETED, "2026-01-01T00:00:00Z"))
    assert not changed
    assert late.status is JobStatus.CANCELED
    finished, _ = aws.submit()
    aws.store.complete(finished.job_id, failed())
    assert aws.store.cancel(finished.job_id, ALICE).status is JobStatus.FAILED


def test_list_pages_newest_first_with_an_opaque_cursor_and_filters(aws: JobsOnMoto) -> None:
    store = aws.store
    made = [aws.submit(options=Options(model="u2netp" if i % 2 else None))[0] for i in range(7)]
    aws.submit(BOB)
    store.complete(made[0].job_id, failed())
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        jobs, cursor = store.list(ALICE, limit=3, cursor=cursor)
        pages += 1
        seen.extend(j.job_id for j in jobs)
        if cursor is None:
            break
        assert pages < 10
    assert seen == [j.job_id for j in sorted(made, key=lambda j: (j.created_at, j.job_id), reverse=True)]
    assert pages == 3
    failures, more = store.list(ALICE, status=JobStatus.FAILED)
    assert [j.job_id for j in failures] == [made[0].job_id]
    assert more is None
    fast, _ = store.list(ALICE, model="u2netp", limit=100)
    assert {j.job_id for j in fast} == {j.job_id for i, j in enumerate(made) if i % 2}
    with pytest.raises(InvalidCursorError):
        store.list(ALICE, cursor="not a cursor")
    # Bob's cursor over Alice's partition: the partition is always the caller's.
    _, bob_cursor = store.list(ALICE, limit=1)
    assert bob_cursor is not None
    bobs, _ = store.list(BOB, cursor=bob_cursor)
    assert all(j.owner_key_id == BOB.key_id for j in bobs)


def test_wait_for_returns_when_terminal_or_at_the_timeout(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    assert wait_for(aws.store, job.job_id, ALICE, 0.3, poll_s=0.05).status is JobStatus.QUEUED
    aws.store.complete(job.job_id, done())
    assert wait_for(aws.store, job.job_id, ALICE, 5).status is JobStatus.COMPLETED


def test_result_url_presigns_the_output_for_an_hour(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    with pytest.raises(ValueError, match="no result"):
        result_url(_presigner(), job)
    finished, _ = aws.store.complete(job.job_id, done("api/a/b.png"))
    url = result_url(_presigner(), finished)
    assert f"/{OUTPUT_BUCKET}/api/a/b.png" in url or f"{OUTPUT_BUCKET}.s3" in url
    assert "X-Amz-Expires=3600" in url


def _presigner() -> Presigner:
    return Presigner(boto3.client("s3", region_name="us-east-1", config=S3_CONFIG), OUTPUT_BUCKET, 3600)


def test_items_round_trip_through_json_fields(aws: JobsOnMoto) -> None:
    job, _ = aws.submit(extra={"n": 1, "nested": {"a": [1, 2]}})
    item = aws.dynamodb.get_item(TableName=JOBS_TABLE, Key={"job_id": {"S": job.job_id}})["Item"]
    assert json.loads(item["extra"]["S"]) == {"n": 1, "nested": {"a": [1, 2]}}
    assert item["owner_created"]["S"] == f"{job.created_at}#{job.job_id}"


def test_settings_need_the_table_and_bound_the_retention() -> None:
    assert JobsSettings.from_env({"JOBS_TABLE": "t"}) == JobsSettings("t", 7)
    assert JobsSettings.from_env({"JOBS_TABLE": "t", "JOB_RETENTION_DAYS": "30"}).retention_days == 30
    with pytest.raises(ConfigurationError, match="JOBS_TABLE"):
        JobsSettings.from_env({})
    for bad in ("0", "366", "x", "²"):
        with pytest.raises(ConfigurationError, match="JOB_RETENTION_DAYS"):
            JobsSettings.from_env({"JOBS_TABLE": "t", "JOB_RETENTION_DAYS": bad})
