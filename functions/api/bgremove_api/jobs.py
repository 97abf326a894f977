"""Asynchronous jobs: the API submits an upload to the S3 pipeline; the pipeline's events finish it.

A submit stores the job record first (``QUEUED``), then the input under ``api/<job id>/<name>`` in the input
bucket, with the options as S3 user metadata (the option table's metadata keys) and ``job-id``. The upload's
S3 notification runs it through the processor like any other upload; the completion event (its input key
names the job) reaches :mod:`bgremove_api.job_events`, which moves the job to ``COMPLETED`` or ``FAILED``.
The record is written before the object, so an event never finds its job missing.

A job goes ``QUEUED -> COMPLETED | FAILED | CANCELED`` (and ``PROCESSING`` in between when something marks
it; the processor sends no start event, so jobs of this stack go from ``QUEUED`` straight to a terminal
state). Every transition is a conditional update from a non-terminal state: a replayed completion event
changes nothing, and a canceled job stays canceled when its event arrives later.

Every job has a deadline (``deadline_at``: ``JOB_DEADLINE_MINUTES``, 15 by default, after its creation). An
upload that never gets an event (it sits in the processor's dead-letter queue) would otherwise leave its job
``QUEUED`` forever. Past the deadline the job is ``FAILED`` with :data:`JOB_TIMED_OUT`: a read of it (the API)
fails it there and then, the Jobs function's scheduled sweep fails those nobody reads (and queues their
webhooks), and a completion event that comes later finds it failed and changes nothing. A completion is
applied only before the deadline (a condition of its update), so no job turns ``COMPLETED`` once a client
may have seen it past its deadline.

An idempotency key is refused over 256 characters (never cut), and the job keeps the ``fingerprint`` of its
request (SHA-256 of the image's SHA-256, the parsed options, the model and the webhook): the same key with
another request is refused (:class:`~api.exceptions.IdempotencyKeyReusedError`) rather than answered with the
first job.

Table ``Jobs`` (partition key ``job_id``)::

    job item  job_id, owner_key_id, dialect, model, status, created_at, started_at?, completed_at?,
              options (JSON), input_key, output_key?, output_content_type?, error_code?, error_message?,
              webhook (JSON)?, idempotency_key?, report (JSON)?, extra (JSON), webhook_status (map),
              owner_created (GSI sort key: "<created_at>#<job_id>"), expires_at (TTL, epoch seconds),
              deadline_at (ISO time), open_shard ("0".."3", only while the job is open), fingerprint?
    idempotency item  job_id = "idem#<owner key id>#<SHA-256 of the Idempotency-Key>", target_job_id,
                      expires_at; written in one transaction with the job, so two concurrent submits with
                      one key make one job

GSI ``by_owner`` (``owner_key_id``, ``owner_created``) lists a key's jobs newest first; idempotency items
lack both attributes and stay out of it.

GSI ``by_deadline`` (``open_shard``, ``deadline_at``; keys only) is sparse: ``open_shard`` is set at creation
and removed by the transition that ends the job (a timed-out one keeps it until its webhook is queued), so the
sweep reads only open jobs already past their deadline, four partitions (shards) to spread the writes.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import functools
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bgremove import Options
from bgremove.options import option_field
from bgremove_api import observability
from bgremove_api.dialects.exceptions import BadRequestError
from bgremove_api.dynamodb import CONDITION_FAILED, TRANSACTION_CANCELED, dynamodb_errors, error_code
from bgremove_api.exceptions import (
    IdempotencyKeyInvalidError,
    IdempotencyKeyReusedError,
    InvalidCursorError,
    JobNotFoundError,
    ServiceUnavailableError,
    SettingsError,
)
from bgremove_api.forms import load_json
from bgremove_api.keys import ApiKey
from bgremove_api.runtime import AWS_CONFIG, get_runtime
from bgremove_api.settings import int_setting

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "CLIENT_ERROR_CODES",
    "INPUT_PREFIX",
    "JOB_TIMED_OUT",
    "Job",
    "JobStatus",
    "JobStore",
    "JobSubmitter",
    "JobsSettings",
    "WebhookConfig",
    "checked_idempotency_key",
    "job_id_from_input_key",
    "public_error_message",
    "result_url",
    "wait_for",
]

INPUT_PREFIX = "api/"
"""Where submitted inputs go in the input bucket; the jobs queue hears only of events under it."""

OWNER_INDEX = "by_owner"
"""GSI of the Jobs table: a key's jobs, newest first."""

DEADLINE_INDEX = "by_deadline"
"""Sparse GSI of the Jobs table: open jobs by deadline (``open_shard``, ``deadline_at``)."""

JOB_ID_KEY = "job-id"
"""S3 metadata key the processor echoes as the completion event's ``job_id``."""

DEFAULT_RETENTION_DAYS = 7
"""Default of ``JOB_RETENTION_DAYS``: how long DynamoDB keeps a job record (TTL)."""

RETENTION_DAYS_RANGE = (1, 365)

DEFAULT_DEADLINE_MINUTES = 15
"""Default of ``JOB_DEADLINE_MINUTES``: how long a job may stay unfinished before it is ``FAILED``."""

DEADLINE_MINUTES_RANGE = (1, 1440)

JOB_TIMED_OUT = "JOB_TIMED_OUT"
"""Error code of a job failed at its deadline (no completion event came in time)."""

CLIENT_ERROR_CODES = frozenset(
    {
        # bgremove.InputError and its subclasses: the request (image or options) is at fault
        "INVALID_INPUT",
        "EMPTY_INPUT",
        "NOT_AN_IMAGE",
        "UNSUPPORTED_FORMAT",
        "CORRUPT_IMAGE",
        "IMAGE_TOO_LARGE",
        "INVALID_OPTION",
        "BACKGROUND_NOT_FOUND",
        "DELTA_MISMATCH",
        # the processor's own input errors
        "SOURCE_NOT_FOUND",
        "SUPERSEDED",
        JOB_TIMED_OUT,
    }
)
"""Codes whose message a client is shown (without server paths); any other is an operator's fault."""

OPERATOR_FAULT_MESSAGE = "the service is misconfigured; the operator has been told"
"""What a client is shown of a job failed by an operator's fault (``MODEL_NOT_FOUND``, ...)."""

MAX_IDEMPOTENCY_KEY_CHARS = 256

MAX_LIST_LIMIT = 100
_MAX_LIST_QUERIES = 10  # bound on DynamoDB queries per list page when filters skip many jobs
_IDEMPOTENCY_PREFIX = "idem#"
_DEADLINE_SHARDS = 4
_MAX_SWEEP_PAGES = 10  # per shard and sweep; the next sweep (a minute later) goes on
_MAX_FILENAME_CHARS = 128

_Item = dict[str, Any]


class Env:
    """Environment variables the job machinery reads (template.yaml sets them)."""

    JOBS_TABLE = "JOBS_TABLE"
    JOB_RETENTION_DAYS = "JOB_RETENTION_DAYS"
    JOB_DEADLINE_MINUTES = "JOB_DEADLINE_MINUTES"


class JobStatus(StrEnum):
    """A job's state; the last three are terminal."""

    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


@dataclass(frozen=True)
class WebhookConfig:
    """Where and when to tell the client about its job.

    Attributes
    ----------
    url
        The target (checked by the SSRF guard at every delivery).
    events
        The dialect's event names the client asked for (empty: every event).
    dialect
        Decides the body (:data:`bgremove_api.webhooks.BODY_BUILDERS`) and the signature scheme.
    """

    url: str
    events: tuple[str, ...]
    dialect: str

    def to_json(self) -> str:
        return json.dumps({"url": self.url, "events": list(self.events), "dialect": self.dialect})

    @classmethod
    def from_json(cls, text: str) -> WebhookConfig:
        data = json.loads(text)
        return cls(url=data["url"], events=tuple(data["events"]), dialect=data["dialect"])


@dataclass(frozen=True)
class Job:
    """One job's record (see the module docstring for the table layout)."""

    job_id: str
    owner_key_id: str
    dialect: str
    model: str
    status: JobStatus
    created_at: str
    started_at: str | None
    completed_at: str | None
    options: dict[str, str]
    input_key: str
    output_key: str | None
    output_content_type: str | None
    error_code: str | None
    error_message: str | None
    webhook: WebhookConfig | None
    idempotency_key: str | None
    report: dict[str, Any] | None
    extra: dict[str, Any]
    webhook_status: dict[str, str] = field(default_factory=dict)
    """Delivery state per webhook event: ``pending``, ``delivered`` or ``failed``."""
    deadline_at: str | None = None
    """When the job is ``FAILED`` (:data:`JOB_TIMED_OUT`) if still unfinished; ``None`` in records written
    before deadlines existed (the store then counts from ``created_at``)."""
    fingerprint: str | None = None
    """SHA-256 of the request (:func:`request_fingerprint`): a reused idempotency key must bring the same."""

    @classmethod
    def from_item(cls, item: _Item) -> Job:
        def text(name: str) -> str | None:
            value = item.get(name, {}).get("S")
            return str(value) if value is not None else None

        webhook = text("webhook")
        report = text("report")
        return cls(
            job_id=item["job_id"]["S"],
            owner_key_id=item["owner_key_id"]["S"],
            dialect=item["dialect"]["S"],
            model=item["model"]["S"],
            status=JobStatus(item["status"]["S"]),
            created_at=item["created_at"]["S"],
            started_at=text("started_at"),
            completed_at=text("completed_at"),
            options=json.loads(item["options"]["S"]),
            input_key=item["input_key"]["S"],
            output_key=text("output_key"),
            output_content_type=text("output_content_type"),
            error_code=text("error_code"),
            # Whatever the record holds, a job read back never carries a server path to a client.
            error_message=public_error_message(text("error_code"), text("error_message")),
            webhook=WebhookConfig.from_json(webhook) if webhook else None,
            idempotency_key=text("idempotency_key"),
            report=json.loads(report) if report else None,
            extra=json.loads(item.get("extra", {}).get("S", "{}")),
            webhook_status={k: v["S"] for k, v in item.get("webhook_status", {}).get("M", {}).items()},
            deadline_at=text("deadline_at"),
            fingerprint=text("fingerprint"),
        )

    def to_item(self, expires_at: int) -> _Item:
        item: _Item = {
            "job_id": {"S": self.job_id},
            "owner_key_id": {"S": self.owner_key_id},
            "owner_created": {"S": f"{self.created_at}#{self.job_id}"},
            "dialect": {"S": self.dialect},
            "model": {"S": self.model},
            "status": {"S": self.status.value},
            "created_at": {"S": self.created_at},
            "options": {"S": json.dumps(self.options, sort_keys=True)},
            "input_key": {"S": self.input_key},
            "extra": {"S": json.dumps(self.extra, sort_keys=True, default=str)},
            "webhook_status": {"M": {k: {"S": v} for k, v in self.webhook_status.items()}},
            "expires_at": {"N": str(expires_at)},
        }
        optional = {
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "output_key": self.output_key,
            "output_content_type": self.output_content_type,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "webhook": self.webhook.to_json() if self.webhook else None,
            "idempotency_key": self.idempotency_key,
            "report": json.dumps(self.report) if self.report is not None else None,
            "deadline_at": self.deadline_at,
            # In the sparse deadline index only while open (the transition that ends the job removes it).
            "open_shard": (
                _deadline_shard(self.job_id) if self.deadline_at and not self.status.terminal else None
            ),
            "fingerprint": self.fingerprint,
        }
        item.update({name: {"S": value} for name, value in optional.items() if value is not None})
        return item


@dataclass(frozen=True)
class JobsSettings:
    """Where jobs live and how long they are kept.

    Parameters
    ----------
    jobs_table
        The DynamoDB ``Jobs`` table (``JOBS_TABLE``).
    retention_days
        Days a job record is kept (``JOB_RETENTION_DAYS``, DynamoDB TTL). The stored input follows the
        input bucket's lifecycle (``InputRetentionDays``) and the output the output bucket's.
    deadline_minutes
        Minutes a job may stay unfinished before it is ``FAILED`` with :data:`JOB_TIMED_OUT`
        (``JOB_DEADLINE_MINUTES``, template parameter ``JobDeadlineMinutes``).
    """

    jobs_table: str
    retention_days: int = DEFAULT_RETENTION_DAYS
    deadline_minutes: int = DEFAULT_DEADLINE_MINUTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JobsSettings:
        env = os.environ if environ is None else environ
        table = env.get(Env.JOBS_TABLE, "").strip()
        if not table:
            raise SettingsError(Env.JOBS_TABLE, "required but not set")
        days = int_setting(env, Env.JOB_RETENTION_DAYS, DEFAULT_RETENTION_DAYS, RETENTION_DAYS_RANGE)
        deadline = int_setting(
            env, Env.JOB_DEADLINE_MINUTES, DEFAULT_DEADLINE_MINUTES, DEADLINE_MINUTES_RANGE
        )
        return cls(table, days, deadline)


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds and ``Z`` (as the completion events write it)."""
    return _iso(datetime.now(UTC))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _deadline_shard(job_id: str) -> str:
    return str(int(hashlib.sha256(job_id.encode()).hexdigest()[:8], 16) % _DEADLINE_SHARDS)


# A server path (two or more segments, not inside a URL or an S3 key) or a command in backticks.
_SERVER_DETAIL = re.compile(r"(?<![\w:/.~-])(?:/[\w.@+~-]+){2,}/?|`[^`]*`")
_ASIDE = re.compile(r"\s*\([^()]*\)")


def public_error_message(code: str | None, message: str | None) -> str | None:
    """The words a client is shown of a failed job's error: never a server path, never an operator's fault.

    A job fails with the processor's error (its completion event). For a code of :data:`CLIENT_ERROR_CODES`
    (the request's fault) the message is kept, less any aside that holds a server path or a command
    (``(... not found in /opt/models; run `make model`)``) and any path left; any other code is an
    operator's fault (``MODEL_NOT_FOUND``, ``INTERNAL_ERROR``, ...): the client reads
    :data:`OPERATOR_FAULT_MESSAGE` and the details stay in the logs. Applying it twice changes nothing.
    """
    if message is None:
        return None
    if code not in CLIENT_ERROR_CODES:
        return OPERATOR_FAULT_MESSAGE
    kept = _ASIDE.sub(lambda aside: "" if _SERVER_DETAIL.search(aside.group()) else aside.group(), message)
    return _SERVER_DETAIL.sub("(a server path)", kept).strip()


def request_fingerprint(
    *, dialect: str, image: bytes, options: Mapping[str, str], model: str, webhook: WebhookConfig | None
) -> str:
    """SHA-256 of a submit's canonical request: what a reused idempotency key must bring again."""
    canonical = {
        "dialect": dialect,
        "image": hashlib.sha256(image).hexdigest(),
        "options": dict(sorted(options.items())),
        "model": model,
        "webhook": json.loads(webhook.to_json()) if webhook else None,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def new_job_id() -> str:
    """26 lowercase base32 characters (130 random bits), safe in S3 keys, URLs and every dialect."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def job_id_from_input_key(key: str) -> str | None:
    """The job id an input key under :data:`INPUT_PREFIX` names (``api/<job id>/<name>``), else ``None``."""
    if not key.startswith(INPUT_PREFIX):
        return None
    job_id, slash, name = key[len(INPUT_PREFIX) :].partition("/")
    return job_id if job_id and slash and name else None


def _is_conditional_failure(error: ClientError) -> bool:
    return error_code(error) == CONDITION_FAILED


class JobStore:
    """Jobs in the DynamoDB ``Jobs`` table.

    Parameters
    ----------
    table_name
        The table (``JOBS_TABLE``).
    dynamodb_client
        A boto3 DynamoDB client (tests pass one bound to moto).
    retention_days
        Days a record is kept (TTL), counted from its creation.
    deadline_minutes
        Minutes a job may stay unfinished (``JOB_DEADLINE_MINUTES``): new jobs get their deadline from it,
        and records from before deadlines existed count it from their creation.
    """

    def __init__(
        self,
        table_name: str,
        dynamodb_client: DynamoDBClient,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        deadline_minutes: int = DEFAULT_DEADLINE_MINUTES,
    ) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb_client
        self.retention_s = retention_days * 86_400
        self.deadline_s = deadline_minutes * 60

    # --- reads ----------------------------------------------------------------------------------------------
    def get(self, job_id: str, owner: ApiKey) -> Job:
        """The job ``job_id`` of ``owner``; one past its deadline is failed first (:meth:`expire`).

        Raises
        ------
        JobNotFoundError
            No such job, or it belongs to another key (the same answer, so ids of others' jobs stay hidden).
        """
        job = self.find(job_id)
        if job is None or job.owner_key_id != owner.key_id:
            raise JobNotFoundError(f"no job {job_id[:64]!r}")
        return self._expired_if_overdue(job)

    def find(self, job_id: str) -> Job | None:
        """The job ``job_id`` whoever owns it (the pipeline's side); ``None`` when there is none."""
        if not job_id or job_id.startswith(_IDEMPOTENCY_PREFIX) or len(job_id) > 64:
            return None
        with dynamodb_errors("reading the job"):
            item = self._dynamodb.get_item(
                TableName=self.table_name, Key={"job_id": {"S": job_id}}, ConsistentRead=True
            ).get("Item")
        return Job.from_item(item) if item is not None else None

    def list(
        self,
        owner: ApiKey,
        *,
        status: JobStatus | None = None,
        model: str | None = None,
        dialect: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> tuple[builtins.list[Job], str | None]:
        """``owner``'s jobs, newest first, at most ``limit`` (1..100); returns ``(jobs, next cursor)``.

        The cursor is opaque to clients and only ever reads the caller's own partition. ``None`` means
        there are no more jobs. A page may be shorter than ``limit`` while more exist, when the filters
        skip many jobs.

        Raises
        ------
        InvalidCursorError
            ``cursor`` is not one this method returned.
        """
        limit = max(1, min(MAX_LIST_LIMIT, limit))
        start = _decode_cursor(cursor, owner) if cursor else None
        filters: dict[str, str] = {}
        if status is not None:
            filters["status"] = status.value
        if model is not None:
            filters["model"] = model
        if dialect is not None:
            filters["dialect"] = dialect
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": OWNER_INDEX,
            "KeyConditionExpression": "owner_key_id = :owner",
            "ExpressionAttributeValues": {":owner": {"S": owner.key_id}},
            "ScanIndexForward": False,
        }
        if filters:
            query["FilterExpression"] = " AND ".join(f"#f{i} = :f{i}" for i in range(len(filters)))
            query["ExpressionAttributeNames"] = {f"#f{i}": name for i, name in enumerate(filters)}
            query["ExpressionAttributeValues"].update(
                {f":f{i}": {"S": value} for i, value in enumerate(filters.values())}
            )
        jobs: builtins.list[Job] = []
        last: _Item | None = None
        for _ in range(_MAX_LIST_QUERIES):
            # One more than needed tells whether another page exists without a further query.
            page_query = {**query, "Limit": limit + 1 - len(jobs)}
            if start is not None:
                page_query["ExclusiveStartKey"] = start
            with dynamodb_errors("listing jobs"):
                response = self._dynamodb.query(**page_query)
            for item in response.get("Items", []):
                if len(jobs) == limit:
                    return jobs, _encode_cursor(jobs[-1])  # a further match exists
                job = self._expired_if_overdue(Job.from_item(item))
                if status is not None and job.status is not status:
                    continue  # timed out just now: no longer what the filter asked for
                jobs.append(job)
            last = response.get("LastEvaluatedKey")
            if last is None:
                return jobs, None
            start = last
        # Out of queries: go on from where DynamoDB stopped (possibly after a short page).
        return jobs, _encode_cursor_key(last) if last is not None else None

    # --- deadlines ------------------------------------------------------------------------------------------
    def deadline_of(self, job: Job) -> str:
        """When ``job`` times out: its ``deadline_at``, or for an older record its creation + the deadline."""
        if job.deadline_at:
            return job.deadline_at
        created = _parse_iso(job.created_at)
        return _iso(created + timedelta(seconds=self.deadline_s)) if created else job.created_at

    def is_overdue(self, job: Job, now: str | None = None) -> bool:
        """Whether ``job`` is unfinished and past its deadline."""
        return not job.status.terminal and self.deadline_of(job) <= (now or now_iso())

    def expire(self, job: Job, *, pending_webhooks: tuple[str, ...]) -> tuple[Job, bool]:
        """Fail an unfinished job past its deadline with :data:`JOB_TIMED_OUT`; returns ``(job, changed)``.

        One conditional update, from ``QUEUED``/``PROCESSING`` and only once the deadline has passed: a job
        that finished meanwhile is returned as it is (``changed`` False). ``pending_webhooks`` are marked
        ``pending`` in the same update. The job stays in the deadline index, so that the sweep queues those
        webhooks (the API, which may fail a job on a read, holds no queue) and then :meth:`settle` s it.

        Raises
        ------
        JobNotFoundError
            No job has this id.
        """
        deadline = self.deadline_of(job)
        created, ends = _parse_iso(job.created_at), _parse_iso(deadline)
        minutes = round((ends - created).total_seconds() / 60) if created and ends else self.deadline_s // 60
        values = {
            "status": JobStatus.FAILED.value,
            "completed_at": now_iso(),
            "error_code": JOB_TIMED_OUT,
            "error_message": f"the job did not finish within {minutes} minute{'s' if minutes != 1 else ''} "
            "of its submission; submit it again",
            # An older record joins the index here, so that the sweep queues its webhook too.
            "deadline_at": deadline,
            "open_shard": _deadline_shard(job.job_id),
        }
        webhook_status = {event: "pending" for event in pending_webhooks}
        updated, changed = self._transition(
            job.job_id, values, webhook_status=webhook_status, deadline="passed"
        )
        if updated is None:
            raise JobNotFoundError(f"no job {job.job_id[:64]!r}")
        if changed:  # by the sweep, a late event or a read: counted once, wherever it happened
            observability.count(observability.JOBS_TIMED_OUT)
            observability.count(observability.JOBS_FAILED, ErrorCode=JOB_TIMED_OUT)
        return updated, changed

    def overdue(self, now: str | None = None) -> builtins.list[str]:
        """Ids in the deadline index past their deadline: open jobs to fail, and timed-out jobs whose
        webhooks are still to be queued (at most ten pages of each shard: the next sweep goes on)."""
        found: builtins.list[str] = []
        for shard in range(_DEADLINE_SHARDS):
            query: dict[str, Any] = {
                "TableName": self.table_name,
                "IndexName": DEADLINE_INDEX,
                "KeyConditionExpression": "open_shard = :shard AND deadline_at <= :now",
                "ExpressionAttributeValues": {":shard": {"S": str(shard)}, ":now": {"S": now or now_iso()}},
            }
            for _ in range(_MAX_SWEEP_PAGES):
                with dynamodb_errors("finding overdue jobs"):
                    response = self._dynamodb.query(**query)
                found.extend(item["job_id"]["S"] for item in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    break
                query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found

    def settle(self, job_id: str) -> None:
        """Take a finished job out of the deadline index (once its webhooks are queued); an open one stays."""
        with dynamodb_errors("updating the job"):
            try:
                self._dynamodb.update_item(
                    TableName=self.table_name,
                    Key={"job_id": {"S": job_id}},
                    UpdateExpression="REMOVE open_shard",
                    ConditionExpression="attribute_exists(job_id) AND NOT #status IN (:queued, :processing)",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":queued": {"S": JobStatus.QUEUED.value},
                        ":processing": {"S": JobStatus.PROCESSING.value},
                    },
                )
            except ClientError as error:
                if not _is_conditional_failure(error):
                    raise

    def _expired_if_overdue(self, job: Job) -> Job:
        if not self.is_overdue(job):
            return job
        from bgremove_api.webhooks import terminal_event  # noqa: PLC0415  # api.webhooks imports this module

        announce = terminal_event(replace(job, status=JobStatus.FAILED))
        expired, _ = self.expire(job, pending_webhooks=(announce,) if announce else ())
        return expired

    # --- transitions ----------------------------------------------------------------------------------------
    def cancel(self, job_id: str, owner: ApiKey) -> Job:
        """Cancel ``owner``'s job if still ``QUEUED`` or ``PROCESSING``; a terminal job is returned unchanged.

        The upload still runs through the pipeline (it is already queued); its event then finds the job
        canceled and leaves it so, and no result is offered.

        Raises
        ------
        JobNotFoundError
            As for :meth:`get`.
        """
        job = self.get(job_id, owner)
        if job.status.terminal:
            return job
        updated, _ = self._transition(
            job_id,
            {"status": JobStatus.CANCELED.value, "completed_at": now_iso()},
            expected_owner=owner.key_id,
            remove=("open_shard",),
        )
        return updated if updated is not None else self.get(job_id, owner)

    def complete(
        self,
        job_id: str,
        *,
        status: JobStatus,
        completed_at: str,
        started_at: str | None = None,
        model: str | None = None,
        output_key: str | None = None,
        output_content_type: str | None = None,
        report: Mapping[str, Any] | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        pending_webhooks: tuple[str, ...] = (),
    ) -> tuple[Job, bool]:
        """Move a non-terminal job to ``status`` (terminal); returns ``(job, changed)``.

        ``changed`` is False when the job was terminal already (a replayed event, or a canceled job), or is
        past its deadline (a late event: the job is returned unfinished, for the caller to :meth:`expire`):
        the record is then returned as it is. ``pending_webhooks`` marks those events ``pending`` in the
        same update, so exactly the event that made the change queues their deliveries.

        Raises
        ------
        JobNotFoundError
            No job has this id (expired, or its submit failed before the upload).
        """
        if not status.terminal:
            raise ValueError(f"{status} is not a terminal state")
        values: dict[str, str | dict[str, str] | None] = {
            "status": status.value,
            "completed_at": completed_at,
            "started_at": started_at,
            "model": model,
            "output_key": output_key,
            "output_content_type": output_content_type,
            "report": json.dumps(dict(report)) if report is not None else None,
            "error_code": error_code,
            "error_message": error_message,
        }
        webhook_status = {event: "pending" for event in pending_webhooks}
        updated, changed = self._transition(
            job_id, values, webhook_status=webhook_status, deadline="ahead", remove=("open_shard",)
        )
        if updated is None:
            raise JobNotFoundError(f"no job {job_id[:64]!r}")
        return updated, changed

    def set_webhook_status(self, job_id: str, event: str, state: str) -> None:
        """Record the delivery state of one webhook event (``pending``, ``delivered``, ``failed``)."""
        with dynamodb_errors("recording the webhook status"):
            try:
                self._dynamodb.update_item(
                    TableName=self.table_name,
                    Key={"job_id": {"S": job_id}},
                    UpdateExpression="SET webhook_status.#event = :state",
                    ConditionExpression="attribute_exists(job_id)",
                    ExpressionAttributeNames={"#event": event},
                    ExpressionAttributeValues={":state": {"S": state}},
                )
            except ClientError as error:
                if not _is_conditional_failure(error):
                    raise  # a job expired meanwhile: nothing to record

    def _transition(
        self,
        job_id: str,
        values: Mapping[str, str | dict[str, str] | None],
        *,
        expected_owner: str | None = None,
        webhook_status: Mapping[str, str] | None = None,
        deadline: Literal["ahead", "passed"] | None = None,
        remove: tuple[str, ...] = (),
    ) -> tuple[Job | None, bool]:
        sets = {name: value for name, value in values.items() if value is not None}
        names = {f"#a{i}": name for i, name in enumerate(sets)}
        attribute_values: dict[str, Any] = {
            f":a{i}": {"S": value} for i, value in enumerate(sets.values()) if isinstance(value, str)
        }
        expression = [f"#a{i} = :a{i}" for i in range(len(sets))]
        for i, (event, state) in enumerate((webhook_status or {}).items()):
            names[f"#w{i}"] = event
            attribute_values[f":w{i}"] = {"S": state}
            expression.append(f"webhook_status.#w{i} = :w{i}")
        names["#status"] = "status"
        attribute_values[":queued"] = {"S": JobStatus.QUEUED.value}
        attribute_values[":processing"] = {"S": JobStatus.PROCESSING.value}
        condition = "attribute_exists(job_id) AND #status IN (:queued, :processing)"
        if expected_owner is not None:
            names["#owner"] = "owner_key_id"
            attribute_values[":owner"] = {"S": expected_owner}
            condition += " AND #owner = :owner"
        if deadline is not None:  # a record from before deadlines has none: its caller checked
            names["#deadline"] = "deadline_at"
            attribute_values[":now"] = {"S": now_iso()}
            compare = "#deadline > :now" if deadline == "ahead" else "#deadline <= :now"
            condition += f" AND (attribute_not_exists(#deadline) OR {compare})"
        update = "SET " + ", ".join(expression)
        if remove:
            update += " REMOVE " + ", ".join(remove)
        with dynamodb_errors("updating the job"):
            try:
                response = self._dynamodb.update_item(
                    TableName=self.table_name,
                    Key={"job_id": {"S": job_id}},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=attribute_values,
                    ReturnValues="ALL_NEW",
                )
            except ClientError as error:
                if _is_conditional_failure(error):
                    return self.find(job_id), False
                raise
        return Job.from_item(response["Attributes"]), True

    # --- creation -------------------------------------------------------------------------------------------
    def create(self, job: Job) -> tuple[Job, bool]:
        """Store a new job; with an idempotency key already used by this owner, the existing job instead.

        Returns ``(job, created)``.
        """
        expires_at = int(time.time()) + self.retention_s
        items: builtins.list[Any] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": job.to_item(expires_at),
                    "ConditionExpression": "attribute_not_exists(job_id)",
                }
            }
        ]
        idempotency_id = (
            _idempotency_item_id(job.owner_key_id, job.idempotency_key) if job.idempotency_key else None
        )
        if idempotency_id is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": {
                            "job_id": {"S": idempotency_id},
                            "target_job_id": {"S": job.job_id},
                            "expires_at": {"N": str(expires_at)},
                        },
                        "ConditionExpression": "attribute_not_exists(job_id)",
                    }
                }
            )
        with dynamodb_errors("storing the job"):
            try:
                self._dynamodb.transact_write_items(TransactItems=items)
            except ClientError as error:
                if error_code(error) != TRANSACTION_CANCELED:
                    raise
                existing = self._by_idempotency_id(idempotency_id) if idempotency_id else None
                if existing is None:
                    raise ServiceUnavailableError("storing the job: conflicting write, retry") from error
                return existing, False
        return job, True

    def delete(self, job: Job) -> None:
        """Remove a job that never reached the pipeline (its upload failed), with its idempotency item."""
        keys = [job.job_id]
        if job.idempotency_key:
            keys.append(_idempotency_item_id(job.owner_key_id, job.idempotency_key))
        with dynamodb_errors("removing the job"):
            for key in keys:
                self._dynamodb.delete_item(TableName=self.table_name, Key={"job_id": {"S": key}})

    def _by_idempotency_id(self, idempotency_id: str) -> Job | None:
        with dynamodb_errors("reading the job"):
            item = self._dynamodb.get_item(
                TableName=self.table_name, Key={"job_id": {"S": idempotency_id}}, ConsistentRead=True
            ).get("Item")
        return self.find(item["target_job_id"]["S"]) if item is not None else None


def _idempotency_item_id(owner_key_id: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()
    return f"{_IDEMPOTENCY_PREFIX}{owner_key_id}#{digest}"


def _encode_cursor(job: Job) -> str:
    return _encode_cursor_key(
        {
            "job_id": {"S": job.job_id},
            "owner_key_id": {"S": job.owner_key_id},
            "owner_created": {"S": f"{job.created_at}#{job.job_id}"},
        }
    )


def _encode_cursor_key(key: _Item) -> str:
    data = {"j": key["job_id"]["S"], "c": key["owner_created"]["S"]}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


_MAX_CURSOR_CHARS = 1024
"""Longer than any cursor this API gives (a job id and a time, in base64): refused unread."""


def _decode_cursor(cursor: str, owner: ApiKey) -> _Item:
    try:
        if len(cursor) > _MAX_CURSOR_CHARS:
            raise ValueError(len(cursor))
        padded = cursor + "=" * (-len(cursor) % 4)
        data = load_json(base64.urlsafe_b64decode(padded.encode("ascii")), "the cursor")
        job_id, created = data["j"], data["c"]
        if not isinstance(job_id, str) or not isinstance(created, str):
            raise TypeError(job_id)
        if not 0 < len(job_id) <= 64 or not 0 < len(created) <= 128:  # DynamoDB refuses empty key values
            raise ValueError(job_id)
        if not (job_id.isascii() and created.isascii()):  # ids and times are ASCII; a lone surrogate is not
            raise ValueError(job_id)
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError, BadRequestError):
        raise InvalidCursorError("the cursor is not one this API gave") from None
    # The partition is always the caller's: a cursor cannot open another key's jobs.
    return {
        "job_id": {"S": job_id},
        "owner_key_id": {"S": owner.key_id},
        "owner_created": {"S": created},
    }


class JobSubmitter:
    """Stores a job and its input; the S3 pipeline does the rest.

    Parameters
    ----------
    store
        The job records.
    s3_client
        boto3 S3 client that may ``PutObject`` under ``api/`` in the input bucket.
    input_bucket
        The pipeline's input bucket (``INPUT_BUCKET``).
    default_model
        The model a job runs when it names none (``BGREMOVE_DEFAULT_MODEL``), recorded in the job.
    """

    def __init__(self, store: JobStore, s3_client: Any, input_bucket: str, default_model: str) -> None:
        if not input_bucket:
            raise SettingsError("INPUT_BUCKET", "required for asynchronous jobs but not set")
        self.store = store
        self._s3 = s3_client
        self.input_bucket = input_bucket
        self.default_model = default_model

    def submit(
        self,
        owner: ApiKey,
        *,
        dialect: str,
        image: bytes,
        filename: str,
        raw_options: Mapping[str, str],
        model: str | None,
        webhook: WebhookConfig | None,
        idempotency_key: str | None,
        extra: Mapping[str, Any],
    ) -> tuple[Job, bool]:
        """Queue ``image`` for processing; returns ``(job, created)`` at once.

        Parameters
        ----------
        raw_options
            Option values by option-table name, validated by the dialect (:meth:`bgremove.Options.parse`).
        model
            The model to run (``None``: the deployment's default).
        idempotency_key
            A client's key for this submit (1 to 256 characters, blanks around it ignored): a second submit
            of the same request with it returns the first job (``created`` False) and uploads nothing.
        extra
            Per-dialect fields to keep with the job (JSON-serialisable).

        Raises
        ------
        InvalidOptionError
            ``raw_options`` or ``model`` do not parse.
        IdempotencyKeyInvalidError
            ``idempotency_key`` is over 256 characters (refused whole: a cut key could name another job).
        IdempotencyKeyReusedError
            This owner used ``idempotency_key`` for another request: another image, options, model or
            webhook (its job's :func:`request_fingerprint` differs). The file name is not part of it.
        ServiceUnavailableError
            DynamoDB or S3 is throttled or unreachable; nothing was queued.
        """
        key = checked_idempotency_key(idempotency_key)
        values = dict(raw_options)
        if model:
            values["model"] = model
        options = Options.parse(values).to_dict()  # canonical strings, defaults left out
        job_id = new_job_id()
        model_name = options.get("model", self.default_model)
        fingerprint = None
        if key is not None:
            fingerprint = request_fingerprint(
                dialect=dialect,
                image=image,
                options={name: value for name, value in options.items() if name != "model"},
                model=model_name,
                webhook=webhook,
            )
        created_at = datetime.now(UTC)
        job = Job(
            job_id=job_id,
            owner_key_id=owner.key_id,
            dialect=dialect,
            model=model_name,
            status=JobStatus.QUEUED,
            created_at=_iso(created_at),
            started_at=None,
            completed_at=None,
            options=options,
            input_key=f"{INPUT_PREFIX}{job_id}/{_safe_filename(filename)}",
            output_key=None,
            output_content_type=None,
            error_code=None,
            error_message=None,
            webhook=webhook,
            idempotency_key=key,
            report=None,
            extra=dict(extra),
            deadline_at=_iso(created_at + timedelta(seconds=self.store.deadline_s)),
            fingerprint=fingerprint,
        )
        job, created = self.store.create(job)
        if not created:
            # A job from before fingerprints were kept has none: it is taken as the same request.
            if job.fingerprint and fingerprint and job.fingerprint != fingerprint:
                raise IdempotencyKeyReusedError(
                    f"Idempotency-Key {str(key)[:64]!r} was already used for another request (job "
                    f"{job.job_id}): send that request again for its job, or use a new key"
                )
            return job, False
        metadata = {option_field(name).metadata_key: value for name, value in options.items()}
        metadata[JOB_ID_KEY] = job.job_id
        try:
            self._s3.put_object(Bucket=self.input_bucket, Key=job.input_key, Body=image, Metadata=metadata)
        except (ClientError, BotoCoreError) as error:
            self.store.delete(job)
            raise ServiceUnavailableError("storing the input failed; retry shortly") from error
        observability.count(observability.JOBS_SUBMITTED, Dialect=dialect)
        observability.annotate(job_id=job.job_id)
        return job, True


def checked_idempotency_key(value: str | None) -> str | None:
    """An ``Idempotency-Key`` as jobs keep it (blanks around it dropped; ``None`` when there is none).

    Dialects call it before fetching the image, so that a refused key costs no fetch;
    :meth:`JobSubmitter.submit` calls it again. Raises :class:`IdempotencyKeyInvalidError` over
    :data:`MAX_IDEMPOTENCY_KEY_CHARS` characters (refused whole: a cut key could name another job).
    """
    key = (value or "").strip() or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise IdempotencyKeyInvalidError(
            f"Idempotency-Key is {len(key)} characters long; at most {MAX_IDEMPOTENCY_KEY_CHARS} are accepted"
        )
    return key


def _safe_filename(filename: str) -> str:
    """The client's file name reduced to a safe last path part (the processor names the output after it)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name).lstrip(".")
    return name[-_MAX_FILENAME_CHARS:] or "input"


def wait_for(store: JobStore, job_id: str, owner: ApiKey, timeout_s: float, *, poll_s: float = 0.25) -> Job:
    """The job once terminal, or as it is when ``timeout_s`` has passed (``Prefer: wait``, chat completions).

    Raises
    ------
    JobNotFoundError
        As for :meth:`JobStore.get`.
    """
    deadline = time.monotonic() + max(0.0, timeout_s)
    job = store.get(job_id, owner)
    while not job.status.terminal:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(poll_s, remaining))
        job = store.get(job_id, owner)
    return job


class _PresignSettings(Protocol):
    @property
    def output_bucket(self) -> str: ...
    @property
    def result_url_ttl_s(self) -> int: ...


class PresignRuntime(Protocol):
    """What :func:`result_url` needs: the API runtime, or the webhook function's lighter equivalent."""

    @property
    def settings(self) -> _PresignSettings: ...
    @property
    def s3(self) -> Any: ...


def result_url(runtime: PresignRuntime, job: Job) -> str:
    """A presigned GET of the job's output, valid ``RESULT_URL_TTL_S`` (1 h by default).

    Raises
    ------
    ValueError
        The job has no output (not ``COMPLETED``).
    """
    if job.status is not JobStatus.COMPLETED or not job.output_key:
        raise ValueError(f"job {job.job_id} has no result ({job.status})")
    url: str = runtime.s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": runtime.settings.output_bucket, "Key": job.output_key},
        ExpiresIn=runtime.settings.result_url_ttl_s,
    )
    return url


@dataclass(frozen=True)
class Jobs:
    """The job machinery a dialect uses: records and submits."""

    store: JobStore
    submitter: JobSubmitter


def build_jobs(
    settings: JobsSettings,
    *,
    dynamodb_client: Any,
    s3_client: Any,
    input_bucket: str,
    default_model: str,
) -> Jobs:
    store = JobStore(
        settings.jobs_table,
        dynamodb_client,
        retention_days=settings.retention_days,
        deadline_minutes=settings.deadline_minutes,
    )
    return Jobs(store=store, submitter=JobSubmitter(store, s3_client, input_bucket, default_model))


_installed: builtins.list[Jobs] = []


def use_jobs(jobs: Jobs | None) -> None:
    """Make ``jobs`` the one requests use (``None``: build one from the environment on next use)."""
    _installed.clear()
    if jobs is not None:
        _installed.append(jobs)
    _from_env.cache_clear()


@functools.cache
def _from_env() -> Jobs:
    runtime = get_runtime()
    return build_jobs(
        JobsSettings.from_env(),
        dynamodb_client=boto3.client("dynamodb", config=AWS_CONFIG),
        s3_client=runtime.s3,
        input_bucket=runtime.settings.input_bucket,
        default_model=runtime.engine.settings.default_model,
    )


def get_jobs() -> Jobs:
    """The job machinery requests use: the one given to :func:`use_jobs`, else one from the environment."""
    return _installed[0] if _installed else _from_env()
