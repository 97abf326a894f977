"""An asynchronous job end to end on the local stack: submit -> processor -> JobsFunction -> webhook.

Everything runs as template.yaml wires it: the input under api/ triggers the processor (real model, the
fast tier), the completion event reaches JobsFunction through the filtered SNS subscription, and
WebhooksFunction POSTs to a receiver on loopback (allowed in the local stack only).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from PIL import Image

from bgremove import Options
from bgremove_api.exceptions import IdempotencyKeyReusedError
from bgremove_api.jobs import JOB_TIMED_OUT, JobStatus, JobStore, JobSubmitter, WebhookConfig, result_url
from bgremove_api.keys import ApiKeyStore
from bgremove_api.presign import Presigner
from bgremove_api.runtime import S3_CONFIG
from bgremove_local.runner import running_pipeline
from tests.integration.api.async_stack import SharedStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "images"
TIMEOUT_S = 120


@pytest.fixture(scope="module", autouse=True)
def _no_shared_stack(shared_stack: SharedStack) -> None:
    """These tests start pipelines of their own: the package's shared stack must not run meanwhile (moto's
    state and the process environment are one per process)."""
    shared_stack.close()


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    answers = [500, 200]  # the first try fails: the retry must carry the same signature scheme

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(answers.pop(0) if len(answers) > 1 else answers[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_submitted_job_completes_and_its_webhook_arrives_signed(
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    environment = {
        "BGREMOVE_DEFAULT_MODEL": "u2netp",
        "WEBHOOK_RETRY_DELAYS_S": "1,1",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    with running_pipeline(quiet=True, environment=environment, allow_loopback=True) as pipeline:
        variables = {k: v for spec in pipeline.stack.functions for k, v in spec.environment.items()}
        dynamodb = pipeline.cloud.client("dynamodb")
        key, owner = ApiKeyStore(variables["API_KEYS_TABLE"], dynamodb).create("jobs-test")
        store = JobStore(variables["JOBS_TABLE"], dynamodb)
        submitter = JobSubmitter(store, pipeline.s3, pipeline.stack.input_bucket, "u2netp")
        started = time.monotonic()
        job, created = submitter.submit(
            owner,
            dialect="apiframe",
            image=(FIXTURES / "coffee.jpg").read_bytes(),
            filename="coffee.jpg",
            options=Options.parse({"format": "png", "model": "u2netp"}),
            webhook=WebhookConfig(url, ("completed", "failed"), "apiframe"),
            idempotency_key="integration-1",
            extra={},
        )
        assert created
        while time.monotonic() - started < TIMEOUT_S:
            current = store.get(job.job_id, owner)
            delivered = current.webhook_status.get("completed") == "delivered"
            if current.status.terminal and delivered:
                break
            time.sleep(0.25)
        assert current.status is JobStatus.COMPLETED, current
        assert current.model == "u2netp"
        assert current.webhook_status == {"completed": "delivered"}

        presign = Presigner(boto3.client("s3", config=S3_CONFIG), pipeline.stack.output_bucket, 3600)
        with urllib.request.urlopen(result_url(presign, current), timeout=30) as response:
            cutout = Image.open(io.BytesIO(response.read()))
        assert cutout.mode == "RGBA"
        assert cutout.size == Image.open(FIXTURES / "coffee.jpg").size

        assert len(received) == 2  # a 500, then the retry that was accepted
        key_hash = hashlib.sha256(key.encode()).hexdigest().encode()
        for headers, body in received:
            assert headers["x-webhook-event"] == "completed"
            assert headers["x-webhook-signature"] == hmac.new(key_hash, body, hashlib.sha256).hexdigest()
        assert job.job_id.encode() in received[-1][1]
        # Submitting the same request again with its idempotency key gives the same job and runs nothing
        # new; another request with that key is refused.
        again, created_again = submitter.submit(
            owner,
            dialect="apiframe",
            image=(FIXTURES / "coffee.jpg").read_bytes(),
            filename="x.jpg",
            options=Options.parse({"format": "png", "model": "u2netp"}),
            webhook=WebhookConfig(url, ("completed", "failed"), "apiframe"),
            idempotency_key="integration-1",
            extra={},
        )
        assert (again.job_id, created_again) == (job.job_id, False)
        with pytest.raises(IdempotencyKeyReusedError):
            submitter.submit(
                owner,
                dialect="apiframe",
                image=b"another image",
                filename="x.jpg",
                options=Options(),
                webhook=None,
                idempotency_key="integration-1",
                extra={},
            )


def test_a_stuck_job_is_failed_by_the_scheduled_sweep_and_its_webhook_sent(
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    """An upload that never gets an event (as one in the processor's dead-letter queue): the template's
    schedule runs JobsFunction's sweep (every second here), which fails the job past its deadline and
    queues its webhook; WebhooksFunction delivers it."""
    url, received = receiver
    environment = {"WEBHOOK_RETRY_DELAYS_S": "1,1", "POWERTOOLS_LOG_LEVEL": "ERROR"}
    with running_pipeline(
        quiet=True, environment=environment, allow_loopback=True, schedule_period_s=1
    ) as pipeline:
        assert [s.period_s for s in pipeline.schedules] == [1]
        variables = {k: v for spec in pipeline.stack.functions for k, v in spec.environment.items()}
        dynamodb = pipeline.cloud.client("dynamodb")
        _, owner = ApiKeyStore(variables["API_KEYS_TABLE"], dynamodb).create("stuck-test")
        store = JobStore(variables["JOBS_TABLE"], dynamodb)
        nowhere = "bgremove-local-nowhere"  # no notification: the upload is never processed
        pipeline.s3.create_bucket(Bucket=nowhere)
        job, _ = JobSubmitter(store, pipeline.s3, nowhere, "u2netp").submit(
            owner,
            dialect="apiframe",
            image=b"never processed",
            filename="stuck.jpg",
            options=Options(),
            webhook=WebhookConfig(url, ("completed", "failed"), "apiframe"),
            idempotency_key=None,
            extra={},
        )
        time.sleep(2)
        assert store.find(job.job_id).status is JobStatus.QUEUED  # type: ignore[union-attr]
        past = "2000-01-01T00:00:00.000Z"
        dynamodb.update_item(
            TableName=variables["JOBS_TABLE"],
            Key={"job_id": {"S": job.job_id}},
            UpdateExpression="SET deadline_at = :past",
            ExpressionAttributeValues={":past": {"S": past}},
        )
        started = time.monotonic()
        while time.monotonic() - started < 30 and not received:
            time.sleep(0.2)
        current = store.find(job.job_id)
        assert current is not None
        assert (current.status, current.error_code) == (JobStatus.FAILED, JOB_TIMED_OUT)
        assert len(received) == 1
        headers, body = received[0]
        assert headers["x-webhook-event"] == "failed"
        assert json.loads(body)["error"]["code"] == JOB_TIMED_OUT
