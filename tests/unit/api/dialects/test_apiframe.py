"""The Apiframe dialect's mappings without a stack: ``lab851BgRemoveParams`` onto the option table, its
defaults and limits, webhook settings, job states and their JSON, webhook bodies, and list filters."""

from __future__ import annotations

import json

import pytest

from bgremove.exceptions import InvalidOptionError
from bgremove_api.dialects import apiframe
from bgremove_api.jobs import JobStatus
from tests.unit.api.jobs.samples import sample_job

RESULT = "https://results.example/out.png?sig=1"


def test_params_map_onto_the_table() -> None:
    options = apiframe.parse_options(
        {"image": "https://x/y.jpg", "format": "jpg", "threshold": 0.5, "background_type": "green"}
    )
    assert options.to_dict() == {"format": "jpeg", "threshold": "0.5", "background_type": "green"}


def test_png_is_the_default_format() -> None:
    assert apiframe.parse_options({"image": "x"}).to_dict() == {"format": "png"}


@pytest.mark.parametrize(
    ("params", "option"),
    [({"threshold": 1.5}, "threshold"), ({"background_type": "pink"}, "background_type"), ({"x": 1}, "x")],
)
def test_bad_params_name_apiframes_field(params: dict[str, object], option: str) -> None:
    with pytest.raises(InvalidOptionError) as raised:
        apiframe.parse_options(params)
    assert raised.value.option == option


def test_formats_are_png_and_jpg_only() -> None:
    with pytest.raises(apiframe.InvalidRequestError):
        apiframe.parse_options({"format": "webp"})


def test_webhook_settings() -> None:
    assert apiframe.webhook_config({}) is None
    config = apiframe.webhook_config({"webhook_url": "https://hooks.example/a"})
    assert config is not None
    assert (config.url, config.events, config.dialect) == (
        "https://hooks.example/a",
        ("completed", "failed"),
        "apiframe",
    )
    chosen = apiframe.webhook_config({"webhookUrl": "https://h/b", "webhookEvents": ["completed"]})
    assert chosen is not None and chosen.events == ("completed",)
    with pytest.raises(apiframe.InvalidRequestError):
        apiframe.webhook_config({"webhookUrl": "https://h/b", "webhookEvents": ["done"]})


def test_completed_job_object() -> None:
    job = sample_job(JobStatus.COMPLETED, webhook_status={"completed": "delivered"})
    body = apiframe.job_object(job, RESULT)
    assert body == {
        "id": job.job_id,
        "status": "COMPLETED",
        "model": "851-bg-remove",
        "progress": 100,
        "result": RESULT,
        "error": None,
        "creditCost": 1,
        "webhookStatus": {"completed": "delivered"},
        "createdAt": "2026-01-02T03:04:05.000Z",
        "completedAt": "2026-01-02T03:04:06.250Z",
    }


@pytest.mark.parametrize(
    ("status", "shown", "code"),
    [(JobStatus.FAILED, "FAILED", "NOT_AN_IMAGE"), (JobStatus.CANCELED, "FAILED", "CANCELED")],
)
def test_failed_jobs_carry_our_code(status: JobStatus, shown: str, code: str) -> None:
    body = apiframe.job_object(sample_job(status), None)
    assert (body["status"], body["error"]["code"], body["creditCost"]) == (shown, code, 0)


def test_queued_job_object() -> None:
    body = apiframe.job_object(sample_job(JobStatus.QUEUED), None)
    assert (body["status"], body["progress"], body["result"], body["error"]) == ("QUEUED", 0, None, None)


def test_webhook_bodies() -> None:
    done = json.loads(apiframe.webhook_body(sample_job(JobStatus.COMPLETED), RESULT))
    assert done["event"] == "completed" and done["result"] == RESULT and "error" not in done
    assert set(done) == {
        "event",
        "jobId",
        "status",
        "progress",
        "result",
        "model",
        "creditCost",
        "completedAt",
    }
    failed = json.loads(apiframe.webhook_body(sample_job(JobStatus.FAILED), None))
    assert (
        failed["event"] == "failed" and failed["error"]["code"] == "NOT_AN_IMAGE" and "result" not in failed
    )


def test_list_filters() -> None:
    assert apiframe.status_filter("completed") is JobStatus.COMPLETED
    assert apiframe.status_filter(None) is None
    with pytest.raises(apiframe.InvalidRequestError):
        apiframe.status_filter("DONE")
    assert apiframe.limit_value(None) == 20
    assert apiframe.limit_value("100") == 100
    for bad in ("0", "101", "x", "-1"):
        with pytest.raises(apiframe.InvalidRequestError):
            apiframe.limit_value(bad)


def test_a_submit_body_maps_to_a_job_request() -> None:
    body = {
        "lab851BgRemoveParams": {"image": "https://x/y.jpg", "format": "jpg"},
        "webhookUrl": "https://h/x",
    }
    request = apiframe.submit_request(body, " order-7 ")
    assert request.options.to_dict() == {"format": "jpeg"}
    assert (request.image, request.image_field, request.webhook_field) == (
        "https://x/y.jpg",
        "lab851BgRemoveParams.image",
        "webhookUrl",
    )
    assert request.idempotency_key == "order-7"
    with pytest.raises(apiframe.InvalidRequestError):
        apiframe.submit_request({"model": "other", "lab851BgRemoveParams": {}}, None)
