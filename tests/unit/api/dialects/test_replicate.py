"""The Replicate dialect's mappings without a stack: versions onto models, job states onto prediction
statuses (``starting`` when a wait ran out), the prediction's fields, webhook bodies, the version object
``replicate.run`` reads, ``Prefer: wait`` and Bearer/Token keys, and the RFC 7807 error shape."""

from __future__ import annotations

import json

import pytest

from bgremove.exceptions import InvalidOptionError
from bgremove_api.dialects import async_common
from bgremove_api.dialects import replicate_wire as replicate
from bgremove_api.dialects.common import Failure
from bgremove_api.jobs import JobStatus
from tests.unit.api.jobs.samples import sample_job

BASE = "https://api.example.com"


@pytest.mark.parametrize(
    ("version", "model"),
    [(replicate.DEFAULT_VERSION, None), ("u2net", "u2net"), ("u2netp", "u2netp"), ("isnet", "isnet")],
)
def test_versions_pick_models(version: str, model: str | None) -> None:
    assert replicate.model_for_version(version) == model


@pytest.mark.parametrize("version", ["", "u2net_fp32", "0" * 64, None, 3])
def test_unknown_version_is_422(version: object) -> None:
    with pytest.raises(replicate.UnknownVersionError) as raised:
        replicate.model_for_version(version)
    assert raised.value.http_status == 422


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (JobStatus.QUEUED, "starting"),
        (JobStatus.PROCESSING, "processing"),
        (JobStatus.COMPLETED, "succeeded"),
        (JobStatus.FAILED, "failed"),
        (JobStatus.CANCELED, "canceled"),
    ],
)
def test_statuses(status: JobStatus, shown: str) -> None:
    assert replicate.prediction(sample_job(status), base_url=BASE)["status"] == shown


def test_an_unfinished_wait_says_starting_even_when_processing() -> None:
    job = sample_job(JobStatus.PROCESSING)
    assert replicate.prediction(job, waited_unfinished=True, base_url=BASE)["status"] == "starting"
    done = sample_job(JobStatus.COMPLETED)
    assert replicate.prediction(done, waited_unfinished=True, base_url=BASE)["status"] == "succeeded"


def test_succeeded_prediction_fields() -> None:
    job = sample_job(JobStatus.COMPLETED, extra={"version": "u2netp", "input": {"image": "https://x/y.jpg"}})
    body = replicate.prediction(job, base_url=BASE)
    assert set(body) >= {
        "id", "model", "version", "status", "input", "output", "logs", "error", "metrics",
        "created_at", "started_at", "completed_at", "urls", "data_removed",
    }  # fmt: skip
    assert body["id"] == job.job_id
    assert body["model"] == "lucataco/remove-bg"
    assert body["version"] == "u2netp"
    assert body["input"] == {"image": "https://x/y.jpg"}
    assert body["output"] == f"{BASE}/v1/files/{job.job_id}"
    assert body["error"] is None
    assert body["metrics"] == {"predict_time": 0.75}
    assert body["urls"]["get"] == f"{BASE}/v1/predictions/{job.job_id}"
    assert body["urls"]["cancel"] == f"{BASE}/v1/predictions/{job.job_id}/cancel"
    assert body["created_at"] == "2026-01-02T03:04:05.000Z"
    assert body["data_removed"] is False


def test_failed_prediction_carries_our_code() -> None:
    body = replicate.prediction(sample_job(JobStatus.FAILED), base_url=BASE)
    assert body["output"] is None
    assert body["error"].startswith("NOT_AN_IMAGE: ")


def test_webhook_body_is_the_prediction_with_the_kept_base_url() -> None:
    job = sample_job(
        JobStatus.COMPLETED,
        extra={
            "base_url": BASE,
            "webhook": "https://hooks.example/r",
            "webhook_events_filter": ["completed"],
        },
    )
    body = json.loads(replicate.webhook_body(job, "https://presigned.example/x"))
    assert body["output"] == f"{BASE}/v1/files/{job.job_id}"
    assert body["webhook"] == "https://hooks.example/r"
    assert body["webhook_events_filter"] == ["completed"]


def test_version_object_has_no_iterator_output() -> None:
    version = replicate.version_object(replicate.DEFAULT_VERSION)
    assert set(version) == {"id", "created_at", "cog_version", "openapi_schema"}
    output = version["openapi_schema"]["components"]["schemas"]["Output"]
    assert output["type"] == "string"
    assert "x-cog-array-type" not in output


def test_input_options_map_onto_the_table() -> None:
    options = replicate.parse_options({"image": "x", "format": "jpg", "background_type": "white"})
    assert (options.format.value, options.background_type.value) == ("jpeg", "white")
    with pytest.raises(InvalidOptionError) as raised:
        replicate.parse_options({"image": "x", "prompt": "a person"})
    assert raised.value.option == "prompt"


def test_events_filter() -> None:
    assert replicate.events_filter(None) == ("start", "output", "logs", "completed")
    assert replicate.events_filter(["completed", "completed"]) == ("completed",)
    with pytest.raises(replicate.InvalidInputError):
        replicate.events_filter(["done"])


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("", None), ("respond-async", None), ("wait", 25.0), ("wait=5", 5.0), ("wait=60", 25.0),
     ("return=minimal, wait=3", 3.0)],
)  # fmt: skip
def test_prefer_wait_is_capped(header: str | None, seconds: float | None) -> None:
    assert async_common.wait_seconds(header) == seconds


@pytest.mark.parametrize(
    ("header", "key"),
    [("Bearer abc", "abc"), ("Token abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), (None, None)],
)
def test_bearer_and_token_keys(header: str | None, key: str | None) -> None:
    assert async_common.bearer_key(header) == key


def test_public_base_url_keeps_the_stage_only_on_execute_api_hosts() -> None:
    context = {"stage": "Prod"}
    aws = {"Host": "abc.execute-api.us-east-1.amazonaws.com", "X-Forwarded-Proto": "https"}
    assert (
        async_common.public_base_url(aws, context) == "https://abc.execute-api.us-east-1.amazonaws.com/Prod"
    )
    custom = {"host": "api.example.com", "x-forwarded-proto": "https"}
    assert async_common.public_base_url(custom, context) == "https://api.example.com"
    assert (
        async_common.public_base_url({"Host": "127.0.0.1:4580"}, {"stage": "local"})
        == "http://127.0.0.1:4580"
    )


def test_problem_details() -> None:
    response = replicate.error_response(Failure(401, "UNAUTHORIZED", "no key"))
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    body = json.loads(str(response.body))
    assert body["title"] == "Unauthenticated"
    assert body["detail"] == "You did not pass a valid authentication token"
    assert (body["status"], body["code"]) == (401, "UNAUTHORIZED")


def test_a_prediction_body_maps_to_a_job_request() -> None:
    body = {
        "version": "u2netp",
        "input": {"image": "https://x.example/photos/cat.jpg", "format": "webp"},
        "webhook": "https://hooks.example/h",
        "webhook_events_filter": ["completed"],
    }
    request = replicate.prediction_request(body, None, ["u2net", "u2netp"], "https://api.example")
    assert request.options.to_dict() == {"format": "webp", "model": "u2netp"}
    assert (request.image, request.image_field, request.filename) == (
        "https://x.example/photos/cat.jpg",
        "input.image",
        "cat.jpg",
    )
    assert request.webhook is not None and request.webhook.events == ("completed",)
    assert request.extra["base_url"] == "https://api.example"
    # The route's version wins over the body's; a version whose model is not deployed is unknown.
    assert replicate.prediction_request(body, "u2net", ["u2net"], "b").options.model == "u2net"
    with pytest.raises(replicate.UnknownVersionError):
        replicate.prediction_request(body, None, ["u2net"], "b")
    with pytest.raises(replicate.InvalidInputError):
        replicate.prediction_request({"version": "u2net", "input": "x"}, None, ["u2net"], "b")
