"""Webhooks: the parts of a dialect's webhooks (:class:`WebhookDialect`, declared in its record), the
signing schemes, and delivery with retries.

Signing
-------
Each dialect's record names its scheme (:class:`WebhookDialect`; Apiframe's own is in its module). The
default, :func:`standard_signed`, is Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` (unix seconds)
and ``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, keyed with the
base64-decoded part of the key's ``whsec_`` secret (:func:`standard_webhook_secret`), as
``replicate.webhooks.validate`` and the ``standardwebhooks`` library check it. Every try of every dialect
carries ``webhook-id``.

The ``whsec_`` secret is derived, never stored: HMAC-SHA256 of the key's stored SHA-256 (the 32 bytes) with
a fixed label. That is safe because the key hash is the one per-key secret the service holds (it is never
shown, and only the key's holder can compute it from the key); HMAC is one-way, so the secret reveals
neither the hash nor the key; and a new key gives a new secret. Whoever can read the ``ApiKeys`` table could
derive the secrets, as they could already tell valid keys apart: guard that table's read access.

Webhook URLs
------------
A submit with a webhook URL that delivery would refuse is refused (:func:`check_webhook_url`, a 400 in the
dialect's error shape): the SSRF guard's own rules (:meth:`bgremove_api.fetch.UrlFetcher.check`: http(s)
only, a host, a port other than 0, the name resolved and every address public; loopback only with the local
``URL_FETCH_ALLOW_LOOPBACK``). Delivery checks again, as DNS answers can change in between.

Delivery
--------
When a job ends, :mod:`bgremove_api.job_events` queues one message per subscribed terminal event on the
webhooks queue: ``{"job_id", "event", "webhook_id", "attempt"}``. :class:`WebhookDeliverer` builds the body
from the job as it is then, signs it, and POSTs it through the SSRF guard
(:meth:`bgremove_api.fetch.UrlFetcher.post`; redirects are not followed). A 2xx answer delivers it; anything
else (another status, a timeout, a refused or unreachable address) is tried again after
:data:`DEFAULT_RETRY_DELAYS_S` (30 s, 2, 8 and 15 min: five tries over about 25 min) by sending the
message again with ``DelaySeconds`` and ``attempt + 1``.
After the last try the message goes to the webhooks dead-letter queue, whose alarm fires. Every try of one
(job, event) carries the same ``webhook-id`` (:func:`webhook_id`), so a receiver can de-duplicate; the
timestamp and signature are those of the try. The job's ``webhook_status`` records ``pending``, ``queued``,
``retrying``, ``delivered`` or ``failed`` per event.

Time: the delivery function (:mod:`bgremove_api.delivery`) makes the tries of one batch at once, on up to
:data:`MAX_CONCURRENT_TRIES` threads, so that a receiver that hangs delays no other receiver's webhook (the
batch ends within one POST limit, ``WEBHOOK_TIMEOUT_S``, 10 s). A try starts its POST only with that limit
plus :data:`TRY_RESERVE_S` left of the invocation; otherwise it raises :class:`NoTimeLeftError` before posting
and the record is reported as a batch item failure, which SQS brings back after the queue's visibility
timeout. The template keeps ``BatchSize`` (5) at or below :data:`MAX_CONCURRENT_TRIES` and the function's
``Timeout`` (30 s) above one try (10 + 5 s), so that this is a safety net, not a routine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bgremove import env as setting
from bgremove_api.dynamodb import dynamodb_errors
from bgremove_api.exceptions import UrlError
from bgremove_api.jobs import Job, JobStatus, JobStore, result_url
from bgremove_api.jobs.model import outcome_event
from bgremove_api.presign import Presigner

__all__ = [
    "DEFAULT_RETRY_DELAYS_S",
    "GENERIC",
    "MAX_CONCURRENT_TRIES",
    "TRY_RESERVE_S",
    "DeliveryMessage",
    "KeyHashes",
    "NoTimeLeftError",
    "WebhookDeliverer",
    "WebhookDialect",
    "WebhookSettings",
    "check_webhook_url",
    "dialect_of",
    "generic_body",
    "outcome_event",
    "standard_signed",
    "standard_webhook_headers",
    "standard_webhook_secret",
    "terminal_event",
    "webhook_id",
]

log = logging.getLogger(__name__)

BodyBuilder = Callable[[Job, str | None], bytes]
"""``(job, result URL or None) -> the webhook's JSON body``, one per dialect."""

Signer = Callable[[Job, str, bytes, str, int], dict[str, str]]
"""``(job, event, body, key hash hex, timestamp) -> the try's headers``: a dialect's signature scheme."""


@dataclass(frozen=True)
class WebhookDialect:
    """How one dialect's webhooks are made (declared in its :class:`~bgremove_api.dialects.dialect.Dialect`).

    Attributes
    ----------
    body
        The webhook's JSON body from the job as it is then.
    sign
        The try's signature headers.
    terminal_event
        The event a finished job with a webhook is announced with, or ``None`` when its filter does not
        want one.
    """

    body: BodyBuilder
    sign: Signer
    terminal_event: Callable[[Job], str | None]


DEFAULT_RETRY_DELAYS_S: tuple[int, ...] = (30, 120, 480, 900)
"""Waits before the 2nd..5th try; SQS delays a message at most 900 s."""

MAX_DELAY_S = 900

MAX_CONCURRENT_TRIES = 10
"""Tries of one batch made at once (threads of one invocation); the template's ``BatchSize`` stays at or
below it, so that every try of a batch starts at once and no receiver waits behind another's timeout."""

DEFAULT_TIMEOUT_S = 10

MAX_TIMEOUT_S = 20
"""Longest ``WEBHOOK_TIMEOUT_S``: with :data:`TRY_RESERVE_S` it must fit the function's 30 s with room for the
reads before a try; a longer one would let no try start, and every webhook would reach the DLQ untried."""

TRY_RESERVE_S = 5
"""Seconds kept after a POST's own limit (``WEBHOOK_TIMEOUT_S``) to record the outcome and queue the next try:
a try starts only with ``timeout_s + TRY_RESERVE_S`` left of the invocation (:class:`NoTimeLeftError`)."""

_SECRET_LABEL = b"bgremove webhook signing secret v1"
_SECRET_PREFIX = "whsec_"


# ----------------------------------------------------------------------------------------------- events
def generic_body(job: Job, url: str | None) -> bytes:
    """The body of a job whose dialect declares none: the job's state in plain terms."""
    return json.dumps(
        {
            "id": job.job_id,
            "status": job.status.value,
            "model": job.model,
            "output": url,
            "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
            "created_at": job.created_at,
            "completed_at": job.completed_at,
        },
        separators=(",", ":"),
    ).encode()


def terminal_event(job: Job, dialects: Mapping[str, WebhookDialect]) -> str | None:
    """The event a finished ``job`` is announced with by its dialect, or ``None``: no webhook, not finished,
    or its filter does not want the event (exactly one terminal webhook per job)."""
    if job.webhook is None or not job.status.terminal:
        return None
    return dialect_of(job, dialects).terminal_event(job)


def dialect_of(job: Job, dialects: Mapping[str, WebhookDialect]) -> WebhookDialect:
    """The webhook parts of ``job``'s dialect (:data:`GENERIC` for a dialect no longer in the table)."""
    assert job.webhook is not None
    return dialects.get(job.webhook.dialect, GENERIC)


def webhook_id(job_id: str, event: str) -> str:
    """The one ``webhook-id`` of every try of (job, event): derived, so a replayed event gives the same."""
    digest = hashlib.sha256(f"{job_id}:{event}".encode()).digest()
    return "msg_" + base64.b32encode(digest).decode().rstrip("=").lower()[:26]


# ----------------------------------------------------------------------------------------------- signing
def standard_webhook_secret(key_hash_hex: str) -> str:
    """The key's ``whsec_`` webhook secret, derived from its stored SHA-256 (see the module docstring).

    The API's ``GET /v1/webhooks/default/secret`` passes ``bgremove_api.keys.hash_key(presented key)``; the
    delivery function reads the same hash from the keys table (:class:`KeyHashes`).
    """
    secret = hmac.new(bytes.fromhex(key_hash_hex), _SECRET_LABEL, hashlib.sha256).digest()
    return _SECRET_PREFIX + base64.b64encode(secret).decode()


def standard_webhook_headers(webhook_id: str, timestamp: int, body: bytes, secret: str) -> dict[str, str]:
    """Standard Webhooks headers: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<b64>``."""
    key = base64.b64decode(secret.removeprefix(_SECRET_PREFIX))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
    }


def standard_signed(job: Job, event: str, body: bytes, key_hash_hex: str, timestamp: int) -> dict[str, str]:
    """A try's headers by Standard Webhooks, keyed with the key's ``whsec_`` secret."""
    return standard_webhook_headers(
        webhook_id(job.job_id, event), timestamp, body, standard_webhook_secret(key_hash_hex)
    )


GENERIC = WebhookDialect(body=generic_body, sign=standard_signed, terminal_event=outcome_event)
"""The webhooks of a job whose dialect declares none of its own parts."""


# ----------------------------------------------------------------------------------------------- URLs
class UrlChecker(Protocol):
    """Checks a URL by the SSRF guard's rules, without a request (``UrlFetcher.check``)."""

    def check(self, url: str, *, deadline: float | None = None) -> str: ...


def check_webhook_url(checker: UrlChecker, url: str, field: str, deadline: float | None = None) -> None:
    """Refuse at submit a webhook URL that delivery would refuse (see the module docstring).

    ``checker`` is the API's URL fetcher (``runtime.fetcher``), so the rules and the loopback setting are
    the image URLs' own; its DNS look-up ends by ``deadline`` (:func:`time.monotonic`). Raises the guard's
    :class:`~bgremove_api.exceptions.UrlError` (400), its message prefixed with ``field``, the request's
    name for the URL.
    """
    try:
        checker.check(url, deadline=deadline)
    except UrlError as error:
        raise type(error)(f"{field}: {error.message}") from None


# ----------------------------------------------------------------------------------------------- delivery
class NoTimeLeftError(Exception):
    """Too little of the invocation is left for a try to finish, so it is not started (module docstring)."""


class Poster(Protocol):
    """POSTs behind the SSRF guard (:class:`bgremove_api.fetch.UrlFetcher`); tests pass fakes."""

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int: ...


class KeyHashes:
    """Reads a key's stored SHA-256 from the ``ApiKeys`` table (the signing key of its webhooks)."""

    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb_client

    def key_hash(self, key_id: str) -> str | None:
        with dynamodb_errors("reading the key"):
            item = self._dynamodb.get_item(
                TableName=self.table_name,
                Key={"key_id": {"S": key_id}},
                ProjectionExpression="key_hash",
            ).get("Item")
        return str(item["key_hash"]["S"]) if item is not None else None


@dataclass(frozen=True)
class DeliveryMessage:
    """One webhook try, as the webhooks queue carries it."""

    job_id: str
    event: str
    webhook_id: str
    attempt: int = 1

    def to_json(self) -> str:
        return json.dumps(
            {
                "job_id": self.job_id,
                "event": self.event,
                "webhook_id": self.webhook_id,
                "attempt": self.attempt,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> DeliveryMessage:
        data = json.loads(text)
        return cls(
            job_id=str(data["job_id"]),
            event=str(data["event"]),
            webhook_id=str(data["webhook_id"]),
            attempt=int(data.get("attempt", 1)),
        )


class Env:
    """Environment variables of the webhook delivery function (template.yaml sets them)."""

    WEBHOOK_QUEUE_URL = "WEBHOOK_QUEUE_URL"
    WEBHOOK_DEAD_LETTER_QUEUE_URL = "WEBHOOK_DEAD_LETTER_QUEUE_URL"
    WEBHOOK_RETRY_DELAYS_S = "WEBHOOK_RETRY_DELAYS_S"
    WEBHOOK_TIMEOUT_S = "WEBHOOK_TIMEOUT_S"


@dataclass(frozen=True)
class WebhookSettings:
    """Queues and retry schedule of webhook deliveries.

    Parameters
    ----------
    queue_url, dead_letter_queue_url
        The webhooks queue (tries) and its dead-letter queue (given up).
    retry_delays_s
        Seconds before each retry; one more try than delays (``WEBHOOK_RETRY_DELAYS_S``, comma-separated,
        each 0..900).
    timeout_s
        Time limit of one POST (``WEBHOOK_TIMEOUT_S``, 1..:data:`MAX_TIMEOUT_S`, default 10).
    """

    queue_url: str
    dead_letter_queue_url: str
    retry_delays_s: tuple[int, ...] = DEFAULT_RETRY_DELAYS_S
    timeout_s: int = DEFAULT_TIMEOUT_S

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays_s) + 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebhookSettings:
        """Read the settings; raises :class:`~bgremove.exceptions.ConfigurationError` naming a variable
        that is missing or malformed."""
        env = os.environ if environ is None else environ
        queue, dlq = setting.required_all(env, Env.WEBHOOK_QUEUE_URL, Env.WEBHOOK_DEAD_LETTER_QUEUE_URL)
        return cls(
            queue,
            dlq,
            setting.whole_numbers(
                env, Env.WEBHOOK_RETRY_DELAYS_S, DEFAULT_RETRY_DELAYS_S, low=0, high=MAX_DELAY_S, max_count=10
            ),
            setting.whole_number(env, Env.WEBHOOK_TIMEOUT_S, DEFAULT_TIMEOUT_S, low=1, high=MAX_TIMEOUT_S),
        )


class WebhookDeliverer:
    """Makes one try of a webhook delivery and schedules the next (see the module docstring).

    Parameters
    ----------
    store
        The job records (read for the body, written for ``webhook_status``).
    key_hashes
        Signing keys.
    poster
        POSTs through the SSRF guard.
    presigner
        Presigns result URLs (:func:`bgremove_api.jobs.result_url`).
    dialects
        Each dialect's webhook parts, by the dialect name jobs record (the table's
        :data:`~bgremove_api.dialects.table.WEBHOOK_DIALECTS`).
    sqs
        boto3 SQS client for retries and the dead-letter queue.
    settings
        Queues and retry schedule.
    clock
        Unix time (tests pin it).
    """

    def __init__(
        self,
        *,
        store: JobStore,
        key_hashes: KeyHashes,
        poster: Poster,
        presigner: Presigner,
        dialects: Mapping[str, WebhookDialect],
        sqs: Any,
        settings: WebhookSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keys = key_hashes
        self._poster = poster
        self._presigner = presigner
        self._dialects = dialects
        self._sqs = sqs
        self.settings = settings
        self._clock = clock

    def deliver(self, message: DeliveryMessage, *, deadline: float | None = None) -> str:
        """One try; returns the outcome: ``delivered``, ``retrying``, ``failed`` or ``skipped``.

        ``deadline`` (a :func:`time.monotonic` time) is when the invocation ends: the POST starts only with
        ``timeout_s + TRY_RESERVE_S`` left before it.

        Raises
        ------
        NoTimeLeftError
            Not enough time left for the try; nothing was posted or recorded.
        Exception
            The next try could not be queued, or DynamoDB failed.

        The caller reports a message that raised as failed, so SQS brings this try back.
        """
        job = self._store.find(message.job_id)
        if job is None or job.webhook is None:
            return "skipped"  # expired, or never had a webhook: nothing to tell anyone
        if job.webhook_status.get(message.event) == "delivered":
            return "skipped"  # a copy of a try that succeeded
        key_hash = self._keys.key_hash(job.owner_key_id)
        if key_hash is None:
            self._store.set_webhook_status(job.job_id, message.event, "failed")
            return "skipped"  # the key is gone: nothing to sign with
        finished = job.status is JobStatus.COMPLETED and job.output_key
        url = result_url(self._presigner, job) if finished else None
        dialect = dialect_of(job, self._dialects)
        body = dialect.body(job, url)
        headers = {
            "Content-Type": "application/json",
            **dialect.sign(job, message.event, body, key_hash, int(self._clock())),
        }
        if deadline is not None:
            left_s, needed_s = deadline - time.monotonic(), self.settings.timeout_s + TRY_RESERVE_S
            if left_s < needed_s:
                raise NoTimeLeftError(f"{left_s:.1f} s left of the invocation, a try needs {needed_s} s")
        try:
            status = self._poster.post(job.webhook.url, body, headers)
            reason = f"HTTP {status}"
        except UrlError as error:
            status, reason = 0, f"{error.code}: {error.message}"
        if 200 <= status < 300:
            self._store.set_webhook_status(job.job_id, message.event, "delivered")
            return "delivered"
        log.warning("webhook try %s of %s failed: %s", message.attempt, self.settings.max_attempts, reason)
        if message.attempt >= self.settings.max_attempts:
            self._sqs.send_message(
                QueueUrl=self.settings.dead_letter_queue_url,
                MessageBody=message.to_json(),
                MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:256]}},
            )
            self._store.set_webhook_status(job.job_id, message.event, "failed")
            return "failed"
        delay = self.settings.retry_delays_s[message.attempt - 1]
        retry = DeliveryMessage(message.job_id, message.event, message.webhook_id, message.attempt + 1)
        self._sqs.send_message(
            QueueUrl=self.settings.queue_url,
            MessageBody=retry.to_json(),
            DelaySeconds=min(delay, MAX_DELAY_S),
        )
        self._store.set_webhook_status(job.job_id, message.event, "retrying")
        return "retrying"
