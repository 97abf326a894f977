"""The asynchronous dialects' guards through the real handler on moto: models and versions that are not
deployed are refused at submit, idempotency keys that are too long or reused with another request are
refused, a job past its deadline reads as failed, and no server path reaches a client."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from bgremove_api import jobs
from bgremove_api.dialects import apiframe, replicate_wire
from tests.unit.api.jobs.fixtures import DATA_URI, Stack, jobs_stack

OTHER_URI = "data:image/jpeg;base64," + base64.b64encode(b"other jpeg").decode()
LEAKY = "isnet.onnx not found in /opt/models, /home/ci/checkout/models; run `make model MODEL=isnet`"
SUBMIT = "/v2/images/background-remove"


@pytest.fixture
def stack() -> Iterator[Stack]:
    with jobs_stack() as running:
        yield running


# ----------------------------------------------------------------------------------------------- models
def test_replicate_refuses_a_version_whose_model_is_not_deployed(stack: Stack) -> None:
    status, problem = stack.post(
        "/v1/predictions", {"version": "isnet", "input": {"image": DATA_URI}}, stack.bearer()
    )
    assert (status, problem["code"]) == (422, "UNKNOWN_VERSION")
    assert "isnet" in str(problem["detail"]) and "/" not in str(problem["detail"])
    assert "isnet" not in str(problem["detail"]).split("use one of")[-1]  # not offered as an alternative
    assert stack.jobs_count() == 0
    status, _ = stack.get("/v1/models/lucataco/remove-bg/versions/isnet", stack.bearer())
    assert status == 404
    status, _ = stack.get("/v1/models/lucataco/remove-bg/versions/u2net", stack.bearer())
    assert status == 200
    status, created = stack.post(
        "/v1/predictions", {"version": "u2net", "input": {"image": DATA_URI}}, stack.bearer()
    )
    assert (status, created["status"]) == (201, "starting")


def test_openai_refuses_a_model_that_is_not_deployed_as_openai_does(stack: Stack) -> None:
    request = {
        "model": "isnet",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": DATA_URI}}]}],
    }
    status, body = stack.post("/v1/chat/completions", request, stack.bearer())
    error = body["error"]
    assert status == 404  # OpenAI answers an unknown model 404 model_not_found
    assert error["code"] == "MODEL_NOT_FOUND"  # type: ignore[index]
    assert stack.jobs_count() == 0


# ----------------------------------------------------------------------------------------------- idempotency
def test_apiframe_refuses_an_idempotency_key_over_256_characters(stack: Stack) -> None:
    request = {"lab851BgRemoveParams": {"image": DATA_URI}}
    status, body = stack.post(SUBMIT, request, stack.apiframe("k" * 257))
    assert status == 400
    assert body["error"]["code"] == "INVALID_IDEMPOTENCY_KEY"  # type: ignore[index]
    assert stack.jobs_count() == 0
    status, _ = stack.post(SUBMIT, request, stack.apiframe("k" * 256))
    assert status == 202


def test_apiframe_answers_a_reused_key_with_another_request_422(stack: Stack) -> None:
    first = {"lab851BgRemoveParams": {"image": DATA_URI, "format": "png"}}
    status, created = stack.post(SUBMIT, first, stack.apiframe("order-7"))
    assert status == 202
    status, same = stack.post(SUBMIT, first, stack.apiframe("order-7"))
    assert (status, same["jobId"]) == (202, created["jobId"])
    for changed in (
        {"lab851BgRemoveParams": {"image": OTHER_URI, "format": "png"}},
        {"lab851BgRemoveParams": {"image": DATA_URI, "format": "jpg"}},
        {**first, "webhookUrl": "https://hooks.example/a"},
    ):
        status, body = stack.post(SUBMIT, changed, stack.apiframe("order-7"))
        error = body["error"]
        assert (status, error["code"]) == (422, "IDEMPOTENCY_KEY_REUSED"), body  # type: ignore[index]
        assert created["jobId"] in error["message"]  # type: ignore[index]
    assert stack.jobs_count() == 1


# ----------------------------------------------------------------------------------------------- deadline
def test_a_job_past_its_deadline_reads_as_failed_in_each_dialect(stack: Stack) -> None:
    _, prediction = stack.post(
        "/v1/predictions", {"version": "u2netp", "input": {"image": DATA_URI}}, stack.bearer()
    )
    _, submitted = stack.post(SUBMIT, {"lab851BgRemoveParams": {"image": DATA_URI}}, stack.apiframe())
    for job_id in (prediction["id"], submitted["jobId"]):
        stack.backdate(str(job_id), 16)
    status, got = stack.get(f"/v1/predictions/{prediction['id']}", stack.bearer())
    assert (status, got["status"]) == (200, "failed")
    assert str(got["error"]).startswith("JOB_TIMED_OUT: ")
    assert got["completed_at"] is not None
    status, job = stack.get(f"/v2/jobs/{submitted['jobId']}", stack.apiframe())
    assert (status, job["status"], job["progress"]) == (200, "FAILED", 100)
    assert job["error"]["code"] == "JOB_TIMED_OUT"  # type: ignore[index]
    # A cancel of a timed-out prediction changes nothing.
    status, canceled = stack.post(f"/v1/predictions/{prediction['id']}/cancel", {}, stack.bearer())
    assert (status, canceled["status"]) == (200, "failed")


# ----------------------------------------------------------------------------------------------- messages
def test_a_failed_jobs_server_details_never_reach_the_client(stack: Stack) -> None:
    _, prediction = stack.post(
        "/v1/predictions", {"version": "u2netp", "input": {"image": DATA_URI}}, stack.bearer()
    )
    _, submitted = stack.post(SUBMIT, {"lab851BgRemoveParams": {"image": DATA_URI}}, stack.apiframe())
    for job_id, code, message in (
        (prediction["id"], "MODEL_NOT_FOUND", LEAKY),
        (submitted["jobId"], "INVALID_OPTION", f"model: 'isnet' is not deployed here ({LEAKY})"),
    ):
        outcome = jobs.JobOutcome(
            jobs.JobStatus.FAILED, completed_at=jobs.now_iso(), error_code=code, error_message=message
        )
        stack.machinery.store.complete(str(job_id), outcome)
    _, got = stack.get(f"/v1/predictions/{prediction['id']}", stack.bearer())
    assert got["error"] == "MODEL_NOT_FOUND: the service is misconfigured; the operator has been told"
    _, job = stack.get(f"/v2/jobs/{submitted['jobId']}", stack.apiframe())
    assert job["error"] == {"code": "INVALID_OPTION", "message": "model: 'isnet' is not deployed here"}
    stored = stack.machinery.store.find(str(submitted["jobId"]))
    assert stored is not None
    for body in (
        replicate_wire.webhook_body(stack.machinery.store.find(str(prediction["id"])), None),  # type: ignore[arg-type]
        apiframe.webhook_body(stored, None),
    ):
        assert b"/opt" not in body and b"make model" not in body
