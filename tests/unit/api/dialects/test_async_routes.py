"""The asynchronous dialects' routes through the real handler on moto (no model, no pipeline): a submit
stores the job and its input, the test finishes the job as the pipeline's event would, and each dialect
answers it in its own shape. Keys see only their own jobs; errors leave in each dialect's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from bgremove_api.dialects import replicate_wire
from tests.unit.api.fakes import PNG, multipart
from tests.unit.api.jobs.fixtures import DATA_URI, Stack, jobs_stack


@pytest.fixture
def stack() -> Iterator[Stack]:
    with jobs_stack() as running:
        yield running


def _json(data: bytes) -> dict[str, object]:
    parsed = json.loads(data)
    assert isinstance(parsed, dict)
    return parsed


# ----------------------------------------------------------------------------------------------- Replicate
def test_replicate_prediction_lifecycle(stack: Stack) -> None:
    request = {"version": "u2netp", "input": {"image": "http://images/shoe.jpg", "format": "jpg"}}
    status, headers, data = stack.api.call(
        "POST", "/v1/predictions", json.dumps(request).encode(), stack.bearer()
    )
    assert status == 201, data
    created = _json(data)
    assert created["status"] == "starting"
    assert "Preference-Applied" not in headers
    job_id = str(created["id"])
    body, metadata = stack.stored_input(job_id)
    assert body == b"url:shoe.jpg"
    assert metadata["job-id"] == job_id
    stack.finish(job_id)
    status, _, data = stack.api.call("GET", f"/v1/predictions/{job_id}", headers=stack.bearer())
    got = _json(data)
    assert (status, got["status"], got["version"]) == (200, "succeeded", "u2netp")
    output = str(got["output"])
    assert output.endswith(f"/v1/files/{job_id}")
    status, file_headers, content = stack.api.call("GET", urlsplit(output).path, headers=stack.bearer())
    assert (status, content, file_headers["Content-Type"]) == (200, PNG, "image/png")


def test_replicate_wait_that_runs_out_says_starting(stack: Stack) -> None:
    request = {"input": {"image": DATA_URI}}
    headers = {**stack.bearer(), "Prefer": "wait=1"}
    status, answer_headers, data = stack.api.call(
        "POST", "/v1/models/lucataco/remove-bg/predictions", json.dumps(request).encode(), headers
    )
    assert status == 201
    assert answer_headers["Preference-Applied"] == "wait"
    body = _json(data)
    assert body["status"] == "starting"
    assert body["version"] == replicate_wire.DEFAULT_VERSION
    assert stack.stored_input(str(body["id"]))[0] == b"jpeg bytes"


def test_replicate_failed_cancel_and_isolation(stack: Stack) -> None:
    request = json.dumps({"version": replicate_wire.DEFAULT_VERSION, "input": {"image": DATA_URI}}).encode()
    first = _json(stack.api.call("POST", "/replicate/v1/predictions", request, stack.bearer())[2])
    second = _json(stack.api.call("POST", "/v1/predictions", request, stack.bearer())[2])
    stack.finish(str(first["id"]), fail=True)
    failed = _json(stack.api.call("GET", f"/v1/predictions/{first['id']}", headers=stack.bearer())[2])
    assert failed["status"] == "failed"
    assert str(failed["error"]).startswith("NOT_AN_IMAGE")
    status, _, data = stack.api.call("POST", f"/v1/predictions/{second['id']}/cancel", headers=stack.bearer())
    assert (status, _json(data)["status"]) == (200, "canceled")
    other, _ = stack.api.runtime.keys.create("other")
    status, headers, data = stack.api.call(
        "GET", f"/v1/predictions/{first['id']}", headers=stack.bearer(other)
    )
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    listed = _json(stack.api.call("GET", "/v1/predictions", headers=stack.bearer(other))[2])
    assert listed["results"] == []
    mine = _json(stack.api.call("GET", "/v1/predictions", headers=stack.bearer())[2])
    assert {p["id"] for p in mine["results"]} == {first["id"], second["id"]}  # type: ignore[index, union-attr]


def test_replicate_errors_are_problems(stack: Stack) -> None:
    request = json.dumps({"version": "nope", "input": {"image": DATA_URI}}).encode()
    status, headers, data = stack.api.call("POST", "/v1/predictions", request, stack.bearer())
    assert (status, headers["Content-Type"]) == (422, "application/problem+json")
    assert _json(data)["code"] == "UNKNOWN_VERSION"
    status, _, data = stack.api.call("POST", "/v1/predictions", request, {"Authorization": "Bearer bad"})
    assert (status, _json(data)["title"]) == (401, "Unauthenticated")
    status, _, data = stack.api.call("GET", "/v1/models/other/model/versions/u2net", headers=stack.bearer())
    assert status == 404
    status, _, data = stack.api.call(
        "GET",
        f"/v1/models/lucataco/remove-bg/versions/{replicate_wire.DEFAULT_VERSION}",
        headers=stack.bearer(),
    )
    assert (status, _json(data)["id"]) == (200, replicate_wire.DEFAULT_VERSION)


def test_replicate_files_upload_is_an_input(stack: Stack) -> None:
    body, headers = multipart({"content": b"uploaded jpeg"})
    status, _, data = stack.api.call("POST", "/v1/files", body, {**stack.bearer(), **headers})
    assert status == 201, data
    url = str(_json(data)["urls"]["get"])  # type: ignore[index]
    request = json.dumps({"version": "u2netp", "input": {"image": url}}).encode()
    created = _json(stack.api.call("POST", "/v1/predictions", request, stack.bearer())[2])
    assert stack.stored_input(str(created["id"]))[0] == b"uploaded jpeg"
    other, _ = stack.api.runtime.keys.create("other")
    status, _, _ = stack.api.call("POST", "/v1/predictions", request, stack.bearer(other))
    assert status == 422  # another key's upload is not found


def test_replicate_webhook_secret(stack: Stack) -> None:
    status, _, data = stack.api.call("GET", "/v1/webhooks/default/secret", headers=stack.bearer())
    assert status == 200
    assert str(_json(data)["key"]).startswith("whsec_")


# ----------------------------------------------------------------------------------------------- OpenAI
def test_openai_no_image_is_400(stack: Stack) -> None:
    request = {
        "model": "remove-bg",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
    }
    status, _, data = stack.api.call(
        "POST", "/v1/chat/completions", json.dumps(request).encode(), stack.bearer()
    )
    assert status == 400
    error = _json(data)["error"]
    assert error == {
        "message": error["message"],  # type: ignore[index]
        "type": "invalid_request_error",
        "param": "messages",
        "code": "MISSING_SOURCE",
    }


def test_openai_models(stack: Stack) -> None:
    status, _, data = stack.api.call("GET", "/v1/models", headers=stack.bearer())
    assert status == 200
    assert [m["id"] for m in _json(data)["data"]] == ["remove-bg", "u2net", "u2netp"]  # type: ignore[index, attr-defined]
    assert stack.api.call("GET", "/v1/models", headers={"Authorization": "Bearer x"})[0] == 401


# ----------------------------------------------------------------------------------------------- Apiframe
def test_apiframe_submit_idempotency_poll_and_list(stack: Stack) -> None:
    headers = {"X-API-Key": stack.api.key, "Content-Type": "application/json", "Idempotency-Key": "abc"}
    request = {
        "model": "851-bg-remove",
        "lab851BgRemoveParams": {
            "image": DATA_URI,
            "format": "jpg",
            "threshold": 0.5,
            "background_type": "white",
        },
    }
    status, _, data = stack.api.call(
        "POST", "/v2/images/background-remove", json.dumps(request).encode(), headers
    )
    assert status == 202
    submitted = _json(data)
    assert submitted["status"] == "QUEUED"
    again = _json(
        stack.api.call("POST", "/v2/images/background-remove", json.dumps(request).encode(), headers)[2]
    )
    assert again["jobId"] == submitted["jobId"]
    job_id = str(submitted["jobId"])
    _, metadata = stack.stored_input(job_id)
    assert metadata["job-id"] == job_id
    stack.finish(job_id)
    status, _, data = stack.api.call("GET", f"/v2/jobs/{job_id}", headers={"X-API-Key": stack.api.key})
    job = _json(data)
    assert (status, job["status"], job["progress"], job["creditCost"]) == (200, "COMPLETED", 100, 1)
    assert str(job["result"]).startswith("https://")
    listed = _json(
        stack.api.call("GET", "/v2/jobs?status=COMPLETED&limit=1", headers={"X-API-Key": stack.api.key})[2]
    )
    assert [j["id"] for j in listed["jobs"]] == [job_id]  # type: ignore[index, union-attr]
    assert listed["hasMore"] is False
    other, _ = stack.api.runtime.keys.create("other")
    assert stack.api.call("GET", f"/v2/jobs/{job_id}", headers={"X-API-Key": other})[0] == 404


def test_apiframe_errors(stack: Stack) -> None:
    headers = {"X-API-Key": stack.api.key, "Content-Type": "application/json"}
    request = {"model": "851-bg-remove", "lab851BgRemoveParams": {"image": DATA_URI, "threshold": 2}}
    status, _, data = stack.api.call(
        "POST", "/v2/images/background-remove", json.dumps(request).encode(), headers
    )
    assert (status, _json(data)["error"]["code"]) == (400, "INVALID_OPTION")  # type: ignore[index]
    status, _, data = stack.api.call("GET", "/v2/jobs", headers={"X-API-Key": "nope"})
    assert (status, _json(data)["error"]["code"]) == (401, "UNAUTHORIZED")  # type: ignore[index]


# ----------------------------------------------------------------------------------------------- webhook URLs
BAD_WEBHOOKS = [
    ("file:///etc/passwd", "URL_BAD_SCHEME"),
    ("gopher://hooks.example:70/_x", "URL_BAD_SCHEME"),
    ("hooks.example/no-scheme", "URL_BAD_SCHEME"),
    ("http://127.0.0.1:8080/hook", "URL_NOT_ALLOWED"),
    ("http://169.254.169.254/latest/meta-data/", "URL_NOT_ALLOWED"),
    ("http://localhost/hook", "URL_NOT_ALLOWED"),  # the fake resolver: localhost is 127.0.0.1
    ("https://nowhere.invalid/hook", "URL_FETCH_FAILED"),  # does not resolve
]


@pytest.mark.parametrize(("url", "code"), BAD_WEBHOOKS)
def test_replicate_refuses_an_unusable_webhook_at_submit(stack: Stack, url: str, code: str) -> None:
    request = {"version": "u2netp", "input": {"image": DATA_URI}, "webhook": url}
    status, headers, data = stack.api.call(
        "POST", "/v1/predictions", json.dumps(request).encode(), stack.bearer()
    )
    assert (status, headers["Content-Type"]) == (400, "application/problem+json"), data
    problem = _json(data)
    assert problem["code"] == code
    assert str(problem["detail"]).startswith("webhook: ")
    assert _json(stack.api.call("GET", "/v1/predictions", headers=stack.bearer())[2])["results"] == []


@pytest.mark.parametrize(("url", "code"), BAD_WEBHOOKS)
def test_apiframe_refuses_an_unusable_webhook_at_submit(stack: Stack, url: str, code: str) -> None:
    headers = {"X-API-Key": stack.api.key, "Content-Type": "application/json"}
    request = {"model": "851-bg-remove", "lab851BgRemoveParams": {"image": DATA_URI}, "webhookUrl": url}
    status, _, data = stack.api.call(
        "POST", "/v2/images/background-remove", json.dumps(request).encode(), headers
    )
    assert status == 400, data
    error = _json(data)["error"]
    assert (error["code"], error["status"]) == (code, 400)  # type: ignore[index]
    assert str(error["message"]).startswith("webhookUrl: ")  # type: ignore[index]
    listed = _json(stack.api.call("GET", "/v2/jobs", headers={"X-API-Key": stack.api.key})[2])
    assert listed["jobs"] == []


def test_usable_webhooks_are_accepted(stack: Stack) -> None:
    request = {"version": "u2netp", "input": {"image": DATA_URI}, "webhook": "https://hooks.example/r"}
    status, _, data = stack.api.call("POST", "/v1/predictions", json.dumps(request).encode(), stack.bearer())
    assert status == 201, data
    headers = {"X-API-Key": stack.api.key, "Content-Type": "application/json"}
    body = {
        "model": "851-bg-remove",
        "lab851BgRemoveParams": {"image": DATA_URI},
        "webhookUrl": "https://hooks.example/a",
    }
    status, _, data = stack.api.call(
        "POST", "/v2/images/background-remove", json.dumps(body).encode(), headers
    )
    assert status == 202, data
