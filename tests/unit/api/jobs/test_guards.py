"""Job records (bgremove_api.jobs) on moto: the deadline of a stuck job, idempotency keys that are too long or
reused with another request, and the error messages clients are shown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bgremove import Options
from bgremove import exceptions as engine_exceptions
from bgremove.exceptions import ConfigurationError
from bgremove_api import jobs
from bgremove_api.exceptions import IdempotencyKeyInvalidError, IdempotencyKeyReusedError
from bgremove_api.jobs import (
    JOB_TIMED_OUT,
    JobOutcome,
    JobsSettings,
    JobStatus,
    WebhookConfig,
    public_error_message,
)
from processor import exceptions as processor_exceptions
from tests.unit.api.jobs.fixtures import ALICE, BOB, INPUT_BUCKET, JOBS_TABLE, JobsOnMoto, jobs_on_moto

HOOK = WebhookConfig("https://example.com/hook", ("completed", "failed"), "apiframe")


@pytest.fixture
def aws() -> Iterator[JobsOnMoto]:
    with jobs_on_moto() as running:
        yield running


def done_now(output_key: str) -> JobOutcome:
    return JobOutcome(JobStatus.COMPLETED, completed_at=jobs.now_iso(), output_key=output_key)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------------------------- deadline
def test_settings_read_the_deadline_and_bound_it() -> None:
    assert JobsSettings.from_env({"JOBS_TABLE": "t"}).deadline_minutes == 15
    assert JobsSettings.from_env({"JOBS_TABLE": "t", "JOB_DEADLINE_MINUTES": "60"}).deadline_minutes == 60
    for bad in ("0", "1441", "x"):
        with pytest.raises(ConfigurationError, match="JOB_DEADLINE_MINUTES"):
            JobsSettings.from_env({"JOBS_TABLE": "t", "JOB_DEADLINE_MINUTES": bad})


def test_a_job_gets_its_deadline_and_joins_the_overdue_index_only_once_past_it(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    created = datetime.fromisoformat(job.created_at.replace("Z", "+00:00"))
    deadline = datetime.fromisoformat(str(job.deadline_at).replace("Z", "+00:00"))
    assert deadline - created == timedelta(minutes=15)
    assert aws.store.overdue() == []
    aws.backdate(job, 16)
    assert aws.store.overdue() == [job.job_id]
    # A job that finished in time leaves the index: the sweep never reads it again.
    other, _ = aws.submit()
    aws.store.complete(other.job_id, done_now("k"))
    aws.backdate(aws.store.find(other.job_id), 16)  # type: ignore[arg-type]
    assert aws.store.overdue() == [job.job_id]


def test_a_read_past_the_deadline_sees_failed_and_a_late_event_leaves_it_failed(aws: JobsOnMoto) -> None:
    job, _ = aws.submit(webhook=HOOK)
    assert aws.store.get(job.job_id, ALICE).status is JobStatus.QUEUED
    aws.backdate(job, 16)
    seen = aws.store.get(job.job_id, ALICE)
    assert (seen.status, seen.error_code) == (JobStatus.FAILED, JOB_TIMED_OUT)
    assert "15 minutes" in str(seen.error_message)
    assert seen.completed_at is not None
    # The webhook is marked for the sweep to queue (the API holds no queue).
    assert seen.webhook_status == {"failed": "pending"}
    assert aws.store.overdue() == [job.job_id]  # still in the index until its webhook is queued
    late, changed = aws.store.complete(job.job_id, done_now("late.png"))
    assert not changed
    assert (late.status, late.output_key) == (JobStatus.FAILED, None)
    listed, _ = aws.store.list(ALICE)
    assert [(j.job_id, j.status) for j in listed] == [(job.job_id, JobStatus.FAILED)]
    aws.store.settle(job.job_id)
    assert aws.store.overdue() == []


def test_a_completion_past_the_deadline_is_refused_even_before_anyone_read_the_job(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    aws.backdate(job, 16)
    stored, changed = aws.store.complete(job.job_id, done_now("late.png"))
    assert not changed
    assert stored.status is JobStatus.QUEUED  # the caller expires it (JobsFunction does)
    expired, changed = aws.store.expire(stored, pending_webhooks=())
    assert changed
    assert (expired.status, expired.error_code) == (JobStatus.FAILED, JOB_TIMED_OUT)
    again, changed_again = aws.store.expire(stored, pending_webhooks=())
    assert not changed_again
    assert again == expired


def test_a_job_from_before_deadlines_gets_one_from_its_creation(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    old = iso(datetime.now(UTC) - timedelta(minutes=20))
    aws.dynamodb.update_item(
        TableName=JOBS_TABLE,
        Key={"job_id": {"S": job.job_id}},
        UpdateExpression="SET created_at = :c REMOVE deadline_at, open_shard",
        ExpressionAttributeValues={":c": {"S": old}},
    )
    assert aws.store.get(job.job_id, ALICE).error_code == JOB_TIMED_OUT


def test_a_list_of_queued_jobs_leaves_out_one_that_times_out_as_it_is_read(aws: JobsOnMoto) -> None:
    stuck, _ = aws.submit()
    waiting, _ = aws.submit()
    aws.backdate(stuck, 16)
    queued, _ = aws.store.list(ALICE, status=JobStatus.QUEUED)
    assert [j.job_id for j in queued] == [waiting.job_id]
    failed, _ = aws.store.list(ALICE, status=JobStatus.FAILED)
    assert [(j.job_id, j.error_code) for j in failed] == [(stuck.job_id, JOB_TIMED_OUT)]


def test_a_canceled_job_is_not_timed_out(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    aws.store.cancel(job.job_id, ALICE)
    aws.backdate(job, 16)
    assert aws.store.get(job.job_id, ALICE).status is JobStatus.CANCELED
    assert aws.store.overdue() == []


# ----------------------------------------------------------------------------------------------- idempotency
def test_an_idempotency_key_over_256_characters_is_refused_not_cut(aws: JobsOnMoto) -> None:
    head = "k" * 256
    first, _ = aws.submit(idempotency_key=head)
    with pytest.raises(IdempotencyKeyInvalidError) as raised:
        aws.submit(idempotency_key=head + "a")
    assert raised.value.http_status == 400
    assert "256" in raised.value.message
    again, created = aws.submit(idempotency_key=head)
    assert (again.job_id, created) == (first.job_id, False)


@pytest.mark.parametrize(
    "change",
    [
        {"image": b"other bytes"},
        {"options": Options.parse({"format": "jpg"})},
        {"options": Options(model="u2netp")},
        {"webhook": HOOK},
    ],
)
def test_a_reused_idempotency_key_with_another_request_is_a_conflict(
    aws: JobsOnMoto, change: dict[str, Any]
) -> None:
    first, _ = aws.submit(idempotency_key="order-1")
    with pytest.raises(IdempotencyKeyReusedError) as raised:
        aws.submit(idempotency_key="order-1", **change)
    assert raised.value.http_status == 422
    assert "order-1" in raised.value.message
    same, created = aws.submit(idempotency_key="order-1", filename="renamed.jpg")
    assert (same.job_id, created) == (first.job_id, False)  # the same request: the first job
    assert len(aws.s3.list_objects_v2(Bucket=INPUT_BUCKET)["Contents"]) == 1
    # The fingerprint is per owner key: Bob's "order-1" is another job.
    assert aws.submit(BOB, idempotency_key="order-1", image=b"x")[1]


def test_default_options_spelt_out_are_the_same_request(aws: JobsOnMoto) -> None:
    first, _ = aws.submit(idempotency_key="k2", options=Options())
    same, created = aws.submit(idempotency_key="k2", options=Options.parse({"format": "auto"}))
    assert (same.job_id, created) == (first.job_id, False)


# ----------------------------------------------------------------------------------------------- messages
def _codes(base: type[engine_exceptions.BgRemoveError]) -> set[str]:
    found = {base.code} if base is not engine_exceptions.InputError else set()
    for sub in base.__subclasses__():
        found |= _codes(sub)
    return found


def test_the_client_codes_are_exactly_the_input_errors_and_the_timeout() -> None:
    inputs = _codes(engine_exceptions.InputError) | {"INVALID_INPUT"}
    assert {
        processor_exceptions.SourceNotFoundError.code,
        processor_exceptions.SupersededError.code,
    } <= inputs
    assert inputs | {JOB_TIMED_OUT} == jobs.CLIENT_ERROR_CODES


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "MODEL_NOT_FOUND",
            "model 'isnet': isnet.onnx not found in /opt/models, /work/main/models; "
            "run `make model MODEL=isnet`",
        ),
        ("MODEL_LOAD_FAILED", "model 'x': cannot download s3://bucket/x.onnx: denied"),
        ("INTERNAL_ERROR", "Traceback ... /var/task/processor/service.py line 3"),
        ("SOMETHING_NEW", "whatever"),
    ],
)
def test_operator_faults_are_shown_as_a_misconfiguration(code: str, message: str) -> None:
    shown = public_error_message(code, message)
    assert shown == "the service is misconfigured; the operator has been told"


def test_input_errors_keep_their_words_without_server_paths() -> None:
    raw = (
        "model: 'isnet' is not deployed here (model 'isnet': isnet.onnx not found in /opt/models, "
        "/home/ci/checkout/models; run `make model MODEL=isnet`)"
    )
    shown = public_error_message("INVALID_OPTION", raw)
    assert shown == "model: 'isnet' is not deployed here"
    for text in ("not an image in any known format", "see https://x.example/a/b.jpg and api/abc/a.jpg"):
        assert public_error_message("NOT_AN_IMAGE", text) == text
    leftover = public_error_message("CORRUPT_IMAGE", "bad file /tmp/upload/x.jpg at byte 7")
    assert "/tmp" not in str(leftover)
    assert public_error_message("NOT_AN_IMAGE", None) is None
    # Shown twice, the same: a stored message that was made safe stays as it is.
    assert public_error_message("INVALID_OPTION", shown) == shown


def test_a_stored_message_with_server_paths_is_never_read_back(aws: JobsOnMoto) -> None:
    job, _ = aws.submit()
    outcome = JobOutcome(
        JobStatus.FAILED,
        completed_at=jobs.now_iso(),
        error_code="MODEL_NOT_FOUND",
        error_message="model 'u2net': u2net.onnx not found in /opt/models; run `make model`",
    )
    aws.store.complete(job.job_id, outcome)
    shown = aws.store.get(job.job_id, ALICE)
    assert shown.error_code == "MODEL_NOT_FOUND"
    assert "/opt" not in str(shown.error_message) and "make" not in str(shown.error_message)
