"""JobsFunction and WebhooksFunction handlers on moto, with a webhook receiver on loopback.

JobsFunction gets completion events built by the processor's own event builders; WebhooksFunction POSTs
to a real HTTP server on 127.0.0.1 that answers 500 until told otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bgremove import Options
from bgremove.events import CompletionEvent
from bgremove_api import delivery, job_events
from bgremove_api.jobs import JobStatus, JobStore, JobSubmitter, WebhookConfig
from bgremove_api.keys import ApiKeyStore, hash_key
from bgremove_api.webhooks import TRY_RESERVE_S, DeliveryMessage, standard_webhook_secret, webhook_id
from bgremove_local.template import Template
from tests.api_tables import TEMPLATE, create_table
from tests.unit.api.jobs.fixtures import CONTEXT, completion_event, sqs_event

JOBS = "jobs"
KEYS = "keys"
INPUT = "jobs-input"
OUTPUT = "jobs-output"


@dataclass
class Receiver:
    """A webhook target on loopback: records each request, answers ``statuses`` in turn (then the last)."""

    url: str
    statuses: list[int]
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("", [500])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Aws:
    dynamodb: Any
    s3: Any
    sqs: Any
    webhook_queue: str
    webhook_dlq: str
    key: str
    owner: Any
    store: JobStore
    submitter: JobSubmitter


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        create_table(dynamodb, "JobsTable", JOBS)
        create_table(dynamodb, "ApiKeysTable", KEYS)
        s3.create_bucket(Bucket=INPUT)
        s3.create_bucket(Bucket=OUTPUT)
        queue = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="webhooks-dlq")["QueueUrl"]
        key, owner = ApiKeyStore(KEYS, dynamodb).create("tester")
        for name, value in {
            "JOBS_TABLE": JOBS,
            "API_KEYS_TABLE": KEYS,
            "OUTPUT_BUCKET": OUTPUT,
            "WEBHOOK_QUEUE_URL": queue,
            "WEBHOOK_DEAD_LETTER_QUEUE_URL": dlq,
            "WEBHOOK_RETRY_DELAYS_S": "0,0",
            "WEBHOOK_TIMEOUT_S": "5",
            "URL_FETCH_ALLOW_LOOPBACK": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        job_events.get_job_events.cache_clear()
        delivery.get_deliverer.cache_clear()
        store = JobStore(JOBS, dynamodb)
        yield Aws(dynamodb, s3, sqs, queue, dlq, key, owner, store, JobSubmitter(store, s3, INPUT, "u2netp"))
        job_events.get_job_events.cache_clear()
        delivery.get_deliverer.cache_clear()


def drain(aws: Aws, queue: str) -> list[dict[str, Any]]:
    messages = aws.sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
    ).get("Messages", [])
    for message in messages:
        aws.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return list(messages)


def completion(job: Any, *, failed: bool = False, key: str | None = None) -> CompletionEvent:
    """The processor's event for ``job``'s upload (or, with ``key``, for that object's)."""
    event = completion_event(job, failed=failed, bucket=INPUT)
    return replace(event, input=replace(event.input, key=key)) if key is not None else event


def submit(aws: Aws, url: str, dialect: str = "apiframe") -> Any:
    job, _ = aws.submitter.submit(
        aws.owner,
        dialect=dialect,
        image=b"img",
        filename="a.jpg",
        options=Options(),
        webhook=WebhookConfig(url, (), dialect),
        idempotency_key=None,
        extra={},
    )
    return job


def test_a_completion_event_finishes_the_job_once_and_queues_one_webhook(aws: Aws) -> None:
    job = submit(aws, "https://example.com/hook")
    event = completion(job)
    result = job_events.lambda_handler(sqs_event(event), CONTEXT)
    assert result == {"batchItemFailures": []}
    done = aws.store.get(job.job_id, aws.owner)
    assert done.status is JobStatus.COMPLETED
    assert (done.output_key, done.output_content_type, done.model) == (
        event.output.key,  # type: ignore[union-attr]
        "image/png",
        "u2netp",
    )
    assert done.started_at is not None and done.started_at < done.completed_at  # type: ignore[operator]
    messages = drain(aws, aws.webhook_queue)
    assert [DeliveryMessage.from_json(m["Body"]) for m in messages] == [
        DeliveryMessage(job.job_id, "completed", webhook_id(job.job_id, "completed"), 1)
    ]
    assert done.webhook_status == {"completed": "queued"}
    # A replayed event changes nothing and queues nothing.
    job_events.lambda_handler(sqs_event(event, completion(job, failed=True)), CONTEXT)
    assert aws.store.get(job.job_id, aws.owner) == done
    assert drain(aws, aws.webhook_queue) == []


def test_a_failed_event_carries_the_error_code_and_a_canceled_job_stays_canceled(aws: Aws) -> None:
    job = submit(aws, "https://example.com/hook")
    job_events.lambda_handler(sqs_event(completion(job, failed=True)), CONTEXT)
    failed = aws.store.get(job.job_id, aws.owner)
    assert (failed.status, failed.error_code, failed.output_key) == (JobStatus.FAILED, "CORRUPT_IMAGE", None)
    assert [DeliveryMessage.from_json(m["Body"]).event for m in drain(aws, aws.webhook_queue)] == ["failed"]
    other = submit(aws, "https://example.com/hook")
    aws.store.cancel(other.job_id, aws.owner)
    job_events.lambda_handler(sqs_event(completion(other)), CONTEXT)
    assert aws.store.get(other.job_id, aws.owner).status is JobStatus.CANCELED
    assert drain(aws, aws.webhook_queue) == []


def test_events_of_unknown_jobs_and_other_keys_are_dropped(aws: Aws) -> None:
    job = submit(aws, "https://example.com/hook")
    stray = completion(job, key="api/unknownjob/a.jpg")
    s3_path = completion(job, key="shop/a.jpg")
    # Another object under the job's prefix (a copy, with the job's metadata) is not the job's upload.
    copy = completion(job, key=job.input_key.rsplit("/", 1)[0] + "/copy.jpg")
    not_an_event = json.dumps({"status": "COMPLETED", "input": {"key": job.input_key}})
    bodies = (stray, s3_path, copy, not_an_event, "not json")
    result = job_events.lambda_handler(sqs_event(*bodies), CONTEXT)
    assert result == {"batchItemFailures": []}
    assert aws.store.get(job.job_id, aws.owner).status is JobStatus.QUEUED


def test_an_event_in_an_sns_envelope_finishes_its_job(aws: Aws) -> None:
    """Raw message delivery off: SQS holds SNS's envelope, the event in its ``Message``."""
    job = submit(aws, "https://example.com/hook")
    envelope = {"Type": "Notification", "MessageId": "n-1", "Message": completion(job).to_json()}
    assert job_events.lambda_handler(sqs_event(json.dumps(envelope)), CONTEXT) == {"batchItemFailures": []}
    assert aws.store.get(job.job_id, aws.owner).status is JobStatus.COMPLETED


def _deliver_queued(aws: Aws) -> list[str]:
    """Run WebhooksFunction on whatever the webhooks queue holds; the messages it handled."""
    messages = drain(aws, aws.webhook_queue)
    if messages:
        result = delivery.lambda_handler(sqs_event(*(m["Body"] for m in messages)), CONTEXT)
        assert result == {"batchItemFailures": []}
    return [m["Body"] for m in messages]


def test_a_webhook_is_retried_after_a_500_with_the_same_id_then_delivered(
    aws: Aws, receiver: Receiver
) -> None:
    receiver.statuses = [500, 200]
    # A dialect without a registered body builder: the generic body, Standard Webhooks signing.
    job = submit(aws, receiver.url, dialect="generic")
    job_events.lambda_handler(sqs_event(completion(job)), CONTEXT)
    for _ in range(5):
        if not _deliver_queued(aws):
            break
    assert len(receiver.requests) == 2
    ids = {headers["webhook-id"] for headers, _ in receiver.requests}
    assert ids == {webhook_id(job.job_id, "completed")}
    secret = base64.b64decode(standard_webhook_secret(hash_key(aws.key)).removeprefix("whsec_"))
    for headers, body in receiver.requests:
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
        assert headers["webhook-signature"] == f"v1,{expected}"
        assert json.loads(body)["id"] == job.job_id
    assert json.loads(receiver.requests[-1][1])["output"].startswith("http")
    assert aws.store.get(job.job_id, aws.owner).webhook_status == {"completed": "delivered"}
    assert drain(aws, aws.webhook_dlq) == []


def test_a_webhook_goes_to_the_dead_letter_queue_after_the_last_try(aws: Aws, receiver: Receiver) -> None:
    receiver.statuses = [500]
    job = submit(aws, receiver.url)
    job_events.lambda_handler(sqs_event(completion(job)), CONTEXT)
    tries = [DeliveryMessage.from_json(body).attempt for _ in range(6) for body in _deliver_queued(aws)]
    assert tries == [1, 2, 3]  # WEBHOOK_RETRY_DELAYS_S=0,0: three tries
    assert len(receiver.requests) == 3
    key_hash = hashlib.sha256(aws.key.encode()).hexdigest()
    assert {headers["webhook-id"] for headers, _ in receiver.requests} == {
        webhook_id(job.job_id, "completed")
    }
    for headers, body in receiver.requests:
        assert headers["x-webhook-event"] == "completed"
        assert headers["x-webhook-signature"] == hmac.new(key_hash.encode(), body, hashlib.sha256).hexdigest()
    dead = drain(aws, aws.webhook_dlq)
    assert len(dead) == 1
    assert DeliveryMessage.from_json(dead[0]["Body"]).attempt == 3
    assert dead[0]["MessageAttributes"]["reason"]["StringValue"] == "HTTP 500"
    assert aws.store.get(job.job_id, aws.owner).webhook_status == {"completed": "failed"}


def test_a_webhook_to_a_refused_address_is_never_posted(
    aws: Aws, receiver: Receiver, monkeypatch: Any
) -> None:
    monkeypatch.setenv("URL_FETCH_ALLOW_LOOPBACK", "false")
    receiver.statuses = [200]
    job = submit(aws, receiver.url)
    job_events.lambda_handler(sqs_event(completion(job)), CONTEXT)
    for _ in range(5):
        _deliver_queued(aws)
    assert receiver.requests == []
    dead = drain(aws, aws.webhook_dlq)
    assert dead[0]["MessageAttributes"]["reason"]["StringValue"].startswith("URL_NOT_ALLOWED")


@dataclass
class Hanging:
    """A webhook target on loopback: ``/slow...`` answers only when released, anything else at once; the
    (monotonic time, path) of each request's arrival."""

    base: str
    release: threading.Event
    arrivals: list[tuple[float, str]]


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    release = threading.Event()
    arrivals: list[tuple[float, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            arrivals.append((time.monotonic(), self.path))
            if self.path.startswith("/slow"):
                release.wait(10)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hanging(f"http://127.0.0.1:{server.server_address[1]}", release, arrivals)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Budget:
    """A Lambda context with ``remaining_ms`` left."""

    remaining_ms: int
    function_name: str = "test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id: str = "req"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def budget(remaining_ms: int) -> Any:
    return Budget(remaining_ms)


def _message(job: Any) -> str:
    return DeliveryMessage(job.job_id, "completed", webhook_id(job.job_id, "completed")).to_json()


def test_the_tries_of_a_batch_run_at_once_so_a_hanging_receiver_delays_no_other(
    aws: Aws, hanging: Hanging, monkeypatch: Any
) -> None:
    monkeypatch.setenv("WEBHOOK_TIMEOUT_S", "1")
    delivery.get_deliverer.cache_clear()
    slow = [submit(aws, f"{hanging.base}/slow{i}") for i in range(4)]
    fast = submit(aws, f"{hanging.base}/fast")  # last in the batch: tried one after another, 4 s late
    started = time.monotonic()
    result = delivery.lambda_handler(sqs_event(*(_message(job) for job in (*slow, fast))), CONTEXT)
    elapsed = time.monotonic() - started
    assert result == {"batchItemFailures": []}
    fast_arrival = next(at for at, path in hanging.arrivals if path == "/fast")
    assert fast_arrival - started < 1.5  # at most one slow receiver's 1 s timeout (and slack)
    assert elapsed < 3.0  # one after another: at least 4 s
    assert len(hanging.arrivals) == 5
    assert aws.store.get(fast.job_id, aws.owner).webhook_status == {"completed": "delivered"}
    for job in slow:
        assert aws.store.get(job.job_id, aws.owner).webhook_status == {"completed": "retrying"}
    assert len(drain(aws, aws.webhook_queue)) == 4  # each slow one's next try


def test_a_try_that_could_not_finish_in_the_time_left_is_not_started(aws: Aws, receiver: Receiver) -> None:
    receiver.statuses = [200]
    job = submit(aws, receiver.url)
    needed_ms = (5 + TRY_RESERVE_S) * 1000  # WEBHOOK_TIMEOUT_S=5, and the time to record the outcome
    result = delivery.lambda_handler(sqs_event(_message(job)), budget(needed_ms - 100))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m0"}]}  # SQS brings it back
    assert receiver.requests == []
    assert aws.store.get(job.job_id, aws.owner).webhook_status == {}
    assert drain(aws, aws.webhook_queue) == []
    assert drain(aws, aws.webhook_dlq) == []
    result = delivery.lambda_handler(sqs_event(_message(job)), budget(needed_ms + 1000))
    assert result == {"batchItemFailures": []}
    assert len(receiver.requests) == 1
    assert aws.store.get(job.job_id, aws.owner).webhook_status == {"completed": "delivered"}


def test_the_subscription_filter_lets_only_api_uploads_through() -> None:
    """The template's JobsSubscription, as moto applies it (the local stack relies on the same)."""
    props = Template(TEMPLATE, endpoint="http://127.0.0.1:1").properties("JobsSubscription")
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="completion")["TopicArn"]
        queue = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint="arn:aws:sqs:us-east-1:123456789012:jobs",
            Attributes={
                "RawMessageDelivery": "true",
                "FilterPolicyScope": props["FilterPolicyScope"],
                "FilterPolicy": json.dumps(props["FilterPolicy"]),
            },
        )
        for key in ("api/job1/a.jpg", "shop/a.jpg", "apix/a.jpg", "x/api/a.jpg"):
            sns.publish(TopicArn=topic, Message=json.dumps({"status": "COMPLETED", "input": {"key": key}}))
        bodies = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        assert [json.loads(m["Body"])["input"]["key"] for m in bodies] == ["api/job1/a.jpg"]
