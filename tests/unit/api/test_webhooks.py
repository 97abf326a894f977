"""Webhook signing (bgremove_api.webhooks, each dialect's record) against values computed here by hand;
the event and settings rules."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from bgremove.exceptions import ConfigurationError
from bgremove_api.dialects import apiframe
from bgremove_api.dialects.table import WEBHOOK_DIALECTS, terminal_event
from bgremove_api.jobs import Job, JobStatus, WebhookConfig
from bgremove_api.keys import hash_key
from bgremove_api.webhooks import (
    DEFAULT_RETRY_DELAYS_S,
    MAX_CONCURRENT_TRIES,
    TRY_RESERVE_S,
    DeliveryMessage,
    WebhookSettings,
    dialect_of,
    standard_webhook_headers,
    standard_webhook_secret,
    webhook_id,
)
from bgremove_local.template import Template
from tests.api_tables import TEMPLATE

KEY = "bgr_0123456789ab_" + "A" * 43
BODY = b'{"event":"completed","jobId":"abc"}'


def signed_headers(job: Job, event: str, body: bytes, key_hash: str, timestamp: int) -> dict[str, str]:
    """The headers of one try, by the job's dialect's scheme (as the deliverer signs)."""
    return dialect_of(job, WEBHOOK_DIALECTS).sign(job, event, body, key_hash, timestamp)


def job(status: JobStatus, dialect: str = "apiframe", events: tuple[str, ...] = ()) -> Job:
    return Job(
        job_id="jobid",
        owner_key_id="0123456789ab",
        dialect=dialect,
        model="u2net",
        status=status,
        created_at="2026-01-01T00:00:00.000Z",
        started_at=None,
        completed_at=None,
        options={},
        input_key="api/jobid/a.jpg",
        output_key=None,
        output_content_type=None,
        error_code=None,
        error_message=None,
        webhook=WebhookConfig("https://example.com/h", events, dialect),
        idempotency_key=None,
        report=None,
        extra={},
    )


def test_apiframe_signature_is_the_hex_hmac_of_the_body_keyed_with_the_keys_hex_sha256() -> None:
    key_hash = hashlib.sha256(KEY.encode()).hexdigest()
    expected = hmac.new(key_hash.encode(), BODY, hashlib.sha256).hexdigest()
    assert apiframe.signature(BODY, hash_key(KEY)) == expected
    assert apiframe.signature(BODY + b" ", hash_key(KEY)) != expected


def test_standard_webhook_secret_is_stable_per_key_and_reveals_neither_key_nor_hash() -> None:
    secret = standard_webhook_secret(hash_key(KEY))
    assert secret.startswith("whsec_")
    raw = base64.b64decode(secret.removeprefix("whsec_"))
    assert len(raw) == 32
    assert secret == standard_webhook_secret(hash_key(KEY))
    assert secret != standard_webhook_secret(hash_key(KEY.replace("A", "B")))
    assert hash_key(KEY) not in secret
    assert raw != bytes.fromhex(hash_key(KEY))


def test_standard_webhook_signature_verifies_by_hand() -> None:
    secret = standard_webhook_secret(hash_key(KEY))
    headers = standard_webhook_headers("msg_1", 1_700_000_000, BODY, secret)
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == "1700000000"
    version, _, signature = headers["webhook-signature"].partition(",")
    assert version == "v1"
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = hmac.new(key, b"msg_1.1700000000." + BODY, hashlib.sha256).digest()
    assert hmac.compare_digest(base64.b64decode(signature), expected)


def test_the_replicate_client_accepts_our_signature() -> None:
    replicate = pytest.importorskip("replicate")
    httpx = pytest.importorskip("httpx")
    from replicate.webhook import InvalidSignatureError, WebhookSigningSecret

    secret = WebhookSigningSecret(key=standard_webhook_secret(hash_key(KEY)))
    headers = standard_webhook_headers("msg_2", 1_700_000_000, BODY, secret.key)
    request = httpx.Request("POST", "https://receiver/hook", headers=headers, content=BODY)
    replicate.webhooks.validate(request=request, secret=secret, tolerance=None)  # raises when invalid
    tampered = httpx.Request("POST", "https://receiver/hook", headers=headers, content=BODY + b"x")
    with pytest.raises(InvalidSignatureError):
        replicate.webhooks.validate(request=tampered, secret=secret, tolerance=None)


def test_each_dialect_signs_with_its_own_scheme() -> None:
    key_hash = hash_key(KEY)
    apiframe_headers = signed_headers(job(JobStatus.COMPLETED), "completed", BODY, key_hash, 1)
    assert apiframe_headers == {
        "X-Webhook-Event": "completed",
        "X-Webhook-Signature": apiframe.signature(BODY, key_hash),
        "webhook-id": webhook_id("jobid", "completed"),
    }
    replicate = signed_headers(job(JobStatus.COMPLETED, "replicate"), "completed", BODY, key_hash, 5)
    assert replicate == standard_webhook_headers(
        webhook_id("jobid", "completed"), 5, BODY, standard_webhook_secret(key_hash)
    )


@pytest.mark.parametrize("dialect", ["apiframe", "replicate", "generic"])
def test_every_try_of_every_dialect_carries_the_same_webhook_id(dialect: str) -> None:
    key_hash = hash_key(KEY)
    first = signed_headers(job(JobStatus.COMPLETED, dialect), "completed", BODY, key_hash, 1)
    later = signed_headers(job(JobStatus.COMPLETED, dialect), "completed", BODY + b" ", key_hash, 900)
    assert first["webhook-id"] == later["webhook-id"] == webhook_id("jobid", "completed")


def test_webhook_ids_are_stable_per_job_and_event() -> None:
    assert webhook_id("a", "completed") == webhook_id("a", "completed")
    assert webhook_id("a", "completed") != webhook_id("a", "failed")
    assert webhook_id("a", "completed") != webhook_id("b", "completed")
    assert webhook_id("a", "completed").startswith("msg_")


@pytest.mark.parametrize(
    ("status", "dialect", "events", "expected"),
    [
        (JobStatus.COMPLETED, "apiframe", (), "completed"),
        (JobStatus.FAILED, "apiframe", (), "failed"),
        (JobStatus.FAILED, "apiframe", ("completed",), None),
        (JobStatus.COMPLETED, "apiframe", ("completed", "failed"), "completed"),
        (JobStatus.COMPLETED, "replicate", ("start", "completed"), "completed"),
        (JobStatus.FAILED, "replicate", (), "completed"),
        (JobStatus.COMPLETED, "replicate", ("output",), "output"),
        (JobStatus.FAILED, "replicate", ("output",), None),
        (JobStatus.COMPLETED, "replicate", ("start", "logs"), None),
        (JobStatus.QUEUED, "apiframe", (), None),
    ],
)
def test_terminal_event(
    status: JobStatus, dialect: str, events: tuple[str, ...], expected: str | None
) -> None:
    assert terminal_event(job(status, dialect, events)) == expected


def test_settings_read_the_retry_schedule() -> None:
    base = {"WEBHOOK_QUEUE_URL": "q", "WEBHOOK_DEAD_LETTER_QUEUE_URL": "d"}
    assert WebhookSettings.from_env(base).retry_delays_s == DEFAULT_RETRY_DELAYS_S
    assert WebhookSettings.from_env(base).max_attempts == 5
    custom = WebhookSettings.from_env({**base, "WEBHOOK_RETRY_DELAYS_S": "1, 2"})
    assert (custom.retry_delays_s, custom.max_attempts) == ((1, 2), 3)
    for bad in ("901", "x", "1;2", "-1", ",".join(["1"] * 11)):
        with pytest.raises(ConfigurationError, match="WEBHOOK_RETRY_DELAYS_S"):
            WebhookSettings.from_env({**base, "WEBHOOK_RETRY_DELAYS_S": bad})
    with pytest.raises(ConfigurationError, match="WEBHOOK_DEAD_LETTER_QUEUE_URL"):
        WebhookSettings.from_env({"WEBHOOK_QUEUE_URL": "q"})


@pytest.mark.parametrize("timeout", ["0", "21", "30", "x", "-1"])
def test_a_post_timeout_that_would_let_no_try_start_is_refused(timeout: str) -> None:
    # A try needs WEBHOOK_TIMEOUT_S + TRY_RESERVE_S of the function's 30 s, after its reads.
    base = {"WEBHOOK_QUEUE_URL": "q", "WEBHOOK_DEAD_LETTER_QUEUE_URL": "d"}
    assert WebhookSettings.from_env({**base, "WEBHOOK_TIMEOUT_S": "20"}).timeout_s == 20
    with pytest.raises(ConfigurationError, match="WEBHOOK_TIMEOUT_S"):
        WebhookSettings.from_env({**base, "WEBHOOK_TIMEOUT_S": timeout})


def test_delivery_messages_round_trip() -> None:
    message = DeliveryMessage("j", "completed", "msg_x", 3)
    assert DeliveryMessage.from_json(message.to_json()) == message


def test_the_templates_webhook_numbers_let_every_try_of_a_batch_finish() -> None:
    """A batch's tries run at once (up to MAX_CONCURRENT_TRIES), and a try starts only with its POST's limit
    plus TRY_RESERVE_S left: the function's timeout must hold every wave of a full batch, so that no record
    is left untried for lack of time (it would come back, and count towards maxReceiveCount)."""
    template = Template(TEMPLATE, endpoint="http://127.0.0.1:1")
    function = template.properties("WebhooksFunction")
    batch_size = int(function["Events"]["WebhooksQueueEvent"]["Properties"]["BatchSize"])
    try_timeout_s = int(function["Environment"]["Variables"]["WEBHOOK_TIMEOUT_S"])
    function_timeout_s = int(function["Timeout"])
    waves = -(-batch_size // MAX_CONCURRENT_TRIES)
    assert waves == 1, "a batch larger than the thread pool waits for a second wave"
    assert waves * (try_timeout_s + TRY_RESERVE_S) <= function_timeout_s - TRY_RESERVE_S
    visibility_s = int(template.properties("WebhooksQueue")["VisibilityTimeout"])
    assert visibility_s >= 6 * function_timeout_s  # AWS's advice for SQS event sources
