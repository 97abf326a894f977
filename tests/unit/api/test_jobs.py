"""Job records (api.jobs) on moto: submit, idempotency, owner isolation, conditional transitions, paging."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bgremove.exceptions import InvalidOptionError
from bgremove_api.exceptions import InvalidCursorError, JobNotFoundError, SettingsError
from bgremove_api.jobs import (
    INPUT_PREFIX,
    JobsSettings,
    JobStatus,
    JobStore,
    JobSubmitter,
    WebhookConfig,
    job_id_from_input_key,
    result_url,
    wait_for,
)
from bgremove_api.keys import ApiKey
from bgremove_api.runtime import S3_CONFIG
from tests.api_tables import create_table

TABLE = "test-jobs"
BUCKET = "test-input"
OUT_BUCKET = "test-output"
ALICE = ApiKey("aaaaaaaaaaaa", "alice", "2026-01-01T00:00:00+00:00", False, 10, 10)
BOB = ApiKey("bbbbbbbbbbbb", "bob", "2026-01-01T00:00:00+00:00", False, 10, 10)


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        create_table(dynamodb, "JobsTable", TABLE)
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=OUT_BUCKET)
        yield dynamodb, s3


@pytest.fixture
def store(aws: tuple[Any, Any]) -> JobStore:
    return JobStore(TABLE, aws[0], retention_days=3)


@pytest.fixture
def submitter(store: JobStore, aws: tuple[Any, Any]) -> JobSubmitter:
    return JobSubmitter(store, aws[1], BUCKET, "u2net")


def submit(submitter: JobSubmitter, owner: ApiKey = ALICE, **kwargs: Any) -> Any:
    arguments: dict[str, Any] = {
        "dialect": "apiframe",
        "image": b"image bytes",
        "filename": "photo.jpg",
        "raw_options": {},
        "model": None,
        "webhook": None,
        "idempotency_key": None,
        "extra": {},
    }
    arguments.update(kwargs)
    return submitter.submit(owner, **arguments)


def test_submit_stores_the_input_with_options_as_metadata_and_a_queued_record(
    submitter: JobSubmitter, store: JobStore, aws: tuple[Any, Any]
) -> None:
    webhook = WebhookConfig("https://example.com/hook", ("completed",), "apiframe")
    job, created = submit(
        submitter,
        raw_options={"format": "jpg", "background_color": "#ffffff"},
        model="u2netp",
        webhook=webhook,
        extra={"input": {"image": "https://x/y.jpg"}},
        filename="../../evil name.jpg",
    )
    assert created
    assert job.status is JobStatus.QUEUED
    assert job.input_key == f"{INPUT_PREFIX}{job.job_id}/evil_name.jpg"
    assert job_id_from_input_key(job.input_key) == job.job_id
    obj = aws[1].get_object(Bucket=BUCKET, Key=job.input_key)
    assert obj["Body"].read() == b"image bytes"
    assert obj["Metadata"] == {
        "format": "jpeg",
        "background-color": "#ffffff",
        "model": "u2netp",
        "job-id": job.job_id,
    }
    stored = store.get(job.job_id, ALICE)
    assert stored == job
    assert stored.model == "u2netp"
    assert stored.webhook == webhook
    assert stored.extra == {"input": {"image": "https://x/y.jpg"}}
    item = aws[0].get_item(TableName=TABLE, Key={"job_id": {"S": job.job_id}})["Item"]
    assert int(item["expires_at"]["N"]) > 0


def test_submit_without_model_records_the_default_and_refuses_bad_options(submitter: JobSubmitter) -> None:
    job, _ = submit(submitter)
    assert job.model == "u2net"
    assert "model" not in job.options
    with pytest.raises(InvalidOptionError):
        submit(submitter, raw_options={"threshold": "7"})


def test_an_idempotency_key_returns_the_first_job_and_uploads_once(
    submitter: JobSubmitter, aws: tuple[Any, Any]
) -> None:
    first, created = submit(submitter, idempotency_key="order-1")
    again, created_again = submit(submitter, idempotency_key="order-1", filename="other.jpg")
    assert created and not created_again
    assert again.job_id == first.job_id
    other_owner, created_other = submit(submitter, owner=BOB, idempotency_key="order-1")
    assert created_other and other_owner.job_id != first.job_id  # keys are per owner
    keys = [o["Key"] for o in aws[1].list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == 2


def test_another_keys_job_is_not_found(submitter: JobSubmitter, store: JobStore) -> None:
    job, _ = submit(submitter)
    with pytest.raises(JobNotFoundError):
        store.get(job.job_id, BOB)
    with pytest.raises(JobNotFoundError):
        store.cancel(job.job_id, BOB)
    with pytest.raises(JobNotFoundError):
        store.get("nosuchjob", ALICE)
    assert store.get(job.job_id, ALICE).status is JobStatus.QUEUED  # Bob's cancel changed nothing


def test_complete_is_conditional_and_a_replay_changes_nothing(
    submitter: JobSubmitter, store: JobStore
) -> None:
    job, _ = submit(submitter)
    done, changed = store.complete(
        job.job_id,
        status=JobStatus.COMPLETED,
        completed_at="2026-01-01T00:00:02.000Z",
        output_key="api/x/photo.png",
        output_content_type="image/png",
        report={"model": "u2net", "timings_ms": {"total": 1.5}},
        pending_webhooks=("completed",),
    )
    assert changed
    assert (done.status, done.output_key, done.report) == (
        JobStatus.COMPLETED,
        "api/x/photo.png",
        {"model": "u2net", "timings_ms": {"total": 1.5}},
    )
    assert done.webhook_status == {"completed": "pending"}
    replay, changed_again = store.complete(
        job.job_id,
        status=JobStatus.FAILED,
        completed_at="2026-01-01T00:00:09.000Z",
        error_code="CORRUPT_IMAGE",
    )
    assert not changed_again
    assert replay == done
    with pytest.raises(JobNotFoundError):
        store.complete("missing", status=JobStatus.FAILED, completed_at="2026-01-01T00:00:00Z")


def test_cancel_moves_only_unfinished_jobs_and_a_canceled_job_stays_canceled(
    submitter: JobSubmitter, store: JobStore
) -> None:
    job, _ = submit(submitter)
    canceled = store.cancel(job.job_id, ALICE)
    assert canceled.status is JobStatus.CANCELED
    assert canceled.completed_at is not None
    late, changed = store.complete(
        job.job_id, status=JobStatus.COMPLETED, completed_at="2026-01-01T00:00:00Z"
    )
    assert not changed
    assert late.status is JobStatus.CANCELED
    finished, _ = submit(submitter)
    store.complete(finished.job_id, status=JobStatus.FAILED, completed_at="t", error_code="NOT_AN_IMAGE")
    assert store.cancel(finished.job_id, ALICE).status is JobStatus.FAILED


def test_list_pages_newest_first_with_an_opaque_cursor_and_filters(
    submitter: JobSubmitter, store: JobStore
) -> None:
    made = [submit(submitter, model="u2netp" if i % 2 else None)[0] for i in range(7)]
    submit(submitter, owner=BOB)
    store.complete(made[0].job_id, status=JobStatus.FAILED, completed_at="t", error_code="NOT_AN_IMAGE")
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
    failed, more = store.list(ALICE, status=JobStatus.FAILED)
    assert [j.job_id for j in failed] == [made[0].job_id]
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


def test_wait_for_returns_when_terminal_or_at_the_timeout(submitter: JobSubmitter, store: JobStore) -> None:
    job, _ = submit(submitter)
    assert wait_for(store, job.job_id, ALICE, 0.3, poll_s=0.05).status is JobStatus.QUEUED
    store.complete(job.job_id, status=JobStatus.COMPLETED, completed_at="t", output_key="k")
    assert wait_for(store, job.job_id, ALICE, 5).status is JobStatus.COMPLETED


def test_result_url_presigns_the_output_for_an_hour(
    submitter: JobSubmitter, store: JobStore, aws: Any
) -> None:
    job, _ = submit(submitter)
    with pytest.raises(ValueError, match="no result"):
        result_url(_Presign(), job)
    done, _ = store.complete(
        job.job_id, status=JobStatus.COMPLETED, completed_at="t", output_key="api/a/b.png"
    )
    url = result_url(_Presign(), done)
    assert f"/{OUT_BUCKET}/api/a/b.png" in url or f"{OUT_BUCKET}.s3" in url
    assert "X-Amz-Expires=3600" in url


class _Settings:
    output_bucket = OUT_BUCKET
    result_url_ttl_s = 3600


class _Presign:
    def __init__(self) -> None:
        self.settings = _Settings()
        self.s3 = boto3.client("s3", region_name="us-east-1", config=S3_CONFIG)


def test_items_round_trip_through_json_fields(submitter: JobSubmitter, aws: tuple[Any, Any]) -> None:
    job, _ = submit(submitter, extra={"n": 1, "nested": {"a": [1, 2]}})
    item = aws[0].get_item(TableName=TABLE, Key={"job_id": {"S": job.job_id}})["Item"]
    assert json.loads(item["extra"]["S"]) == {"n": 1, "nested": {"a": [1, 2]}}
    assert item["owner_created"]["S"] == f"{job.created_at}#{job.job_id}"


def test_settings_need_the_table_and_bound_the_retention() -> None:
    assert JobsSettings.from_env({"JOBS_TABLE": "t"}) == JobsSettings("t", 7)
    assert JobsSettings.from_env({"JOBS_TABLE": "t", "JOB_RETENTION_DAYS": "30"}).retention_days == 30
    with pytest.raises(SettingsError, match="JOBS_TABLE"):
        JobsSettings.from_env({})
    for bad in ("0", "366", "x", "²"):
        with pytest.raises(SettingsError, match="JOB_RETENTION_DAYS"):
            JobsSettings.from_env({"JOBS_TABLE": "t", "JOB_RETENTION_DAYS": bad})
