"""The Apiframe document's ``requests`` snippets against the local stack, unchanged but for the base URL
and the key: submit (202 and a job id), the polling loop, the result URL; then what the document promises
besides: ``Idempotency-Key``, the job list, signed webhooks (the receiver checks ``X-Webhook-Signature``)
retried after a 500, failed jobs with our error code, and key isolation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from PIL import Image

from bgremove_api.webhooks import webhook_id
from tests.integration.api.async_stack import AsyncStack, SharedStack, photo

pytestmark = pytest.mark.integration

POLL_S = 0.5  # the document's loop sleeps 2 s; shorter here only to keep the test quick


@pytest.fixture(scope="module")
def stack(shared_stack: SharedStack) -> Iterator[AsyncStack]:
    with shared_stack.for_module("apiframe") as running:
        yield running


def _submit(stack: AsyncStack, body: dict[str, Any], **headers: str) -> requests.Response:
    # The document's snippet, with its URL's host and its key replaced.
    return requests.post(
        f"{stack.url}/v2/images/background-remove",
        headers={"X-API-Key": stack.key, "Content-Type": "application/json", **headers},
        json=body,
        timeout=30,
    )


def _poll(stack: AsyncStack, job_id: str, key: str | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the document's loop, bounded
        job: dict[str, Any] = requests.get(
            f"{stack.url}/v2/jobs/{job_id}", headers={"X-API-Key": key or stack.key}, timeout=30
        ).json()
        if job["status"] in ("COMPLETED", "FAILED"):
            return job
        time.sleep(POLL_S)
    raise AssertionError(f"job {job_id} did not finish")


def _request(image: str, **params: Any) -> dict[str, Any]:
    return {
        "model": "851-bg-remove",
        "lab851BgRemoveParams": {
            "image": image,
            "format": "png",
            "threshold": 0,
            "background_type": "rgba",
            **params,
        },
    }


def test_the_documents_snippets(stack: AsyncStack) -> None:
    response = _submit(stack, _request(f"{stack.images}/coffee.jpg"))
    assert response.status_code == 202
    submitted = response.json()
    assert submitted["status"] == "QUEUED"
    job = _poll(stack, submitted["jobId"])
    assert job["status"] == "COMPLETED"
    assert (job["progress"], job["creditCost"], job["error"], job["model"]) == (100, 1, None, "851-bg-remove")
    image = Image.open(io.BytesIO(requests.get(job["result"], timeout=30).content))
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (600, 400))
    assert image.getchannel("A").getextrema() == (0, 255)


def test_options_reach_the_engine(stack: AsyncStack) -> None:
    encoded = base64.b64encode(photo()).decode()
    submitted = _submit(
        stack, _request(f"data:image/jpeg;base64,{encoded}", format="jpg", background_type="white")
    ).json()
    job = _poll(stack, submitted["jobId"])
    image = Image.open(io.BytesIO(requests.get(job["result"], timeout=30).content))
    assert (image.format, image.mode) == ("JPEG", "RGB")


def test_idempotent_submit(stack: AsyncStack) -> None:
    body = _request(f"{stack.images}/coffee.jpg")
    first = _submit(stack, body, **{"Idempotency-Key": "apiframe-once"}).json()
    second = _submit(stack, body, **{"Idempotency-Key": "apiframe-once"}).json()
    third = _submit(stack, body, **{"Idempotency-Key": "apiframe-twice"}).json()
    assert first["jobId"] == second["jobId"] != third["jobId"]


def test_signed_webhook_retried_after_a_500(stack: AsyncStack) -> None:
    stack.receiver.fail_first = 1
    body = {
        **_request(f"{stack.images}/coffee.jpg"),
        "webhookUrl": f"{stack.receiver.url}/apiframe/flaky",
        "webhookEvents": ["completed", "failed"],
    }
    job_id = _submit(stack, body).json()["jobId"]
    (delivery,) = stack.receiver.wait_for("/apiframe/flaky", 1, timeout_s=90)
    assert [d.path for d in stack.receiver.refused] == ["/apiframe/flaky"]
    payload = delivery.json()
    assert set(payload) == {
        "event",
        "jobId",
        "status",
        "progress",
        "result",
        "model",
        "creditCost",
        "completedAt",
    }
    assert (payload["event"], payload["jobId"], payload["status"]) == ("completed", job_id, "COMPLETED")
    assert delivery.headers["x-webhook-event"] == "completed"
    ids = {d.headers.get("webhook-id") for d in (*stack.receiver.refused, delivery)}
    assert ids == {webhook_id(job_id, "completed")}  # the same on every try
    signing_key = hashlib.sha256(stack.key.encode()).hexdigest().encode()
    expected = hmac.new(signing_key, delivery.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(delivery.headers["x-webhook-signature"], expected)
    assert _poll(stack, job_id)["webhookStatus"] == {"completed": "delivered"}


def test_failed_job_and_list_and_isolation(stack: AsyncStack) -> None:
    bad = "data:image/jpeg;base64," + base64.b64encode(b"no image here").decode()
    job_id = _submit(stack, _request(bad)).json()["jobId"]
    job = _poll(stack, job_id)
    assert job["status"] == "FAILED"
    assert job["error"]["code"] in {"NOT_AN_IMAGE", "UNSUPPORTED_FORMAT", "CORRUPT_IMAGE"}
    assert job["result"] is None
    listed = requests.get(
        f"{stack.url}/v2/jobs",
        params={"status": "FAILED", "limit": 1},
        headers={"X-API-Key": stack.key},
        timeout=30,
    ).json()
    assert [j["id"] for j in listed["jobs"]] == [job_id]
    other = stack.other_key("apiframe-other")
    assert (
        requests.get(f"{stack.url}/v2/jobs/{job_id}", headers={"X-API-Key": other}, timeout=30).status_code
        == 404
    )
    assert requests.get(f"{stack.url}/v2/jobs", headers={"X-API-Key": other}, timeout=30).json()["jobs"] == []


def test_errors(stack: AsyncStack) -> None:
    response = _submit(stack, _request(f"{stack.images}/coffee.jpg", threshold=3))
    assert (response.status_code, response.json()["error"]["code"]) == (400, "INVALID_OPTION")
    response = _submit(stack, _request("http://169.254.169.254/latest/meta-data/"))
    assert (response.status_code, response.json()["error"]["code"]) == (400, "URL_NOT_ALLOWED")
    response = requests.get(f"{stack.url}/v2/jobs", headers={"X-API-Key": "nope"}, timeout=30)
    assert response.status_code == 401
