"""Jobs in the DynamoDB ``Jobs`` table: reads, pages, deadlines and conditional transitions.

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

Every transition is a conditional update from a non-terminal state: a replayed completion event changes
nothing, and a canceled job stays canceled when its event arrives later.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from bgremove_api import observability
from bgremove_api.aws import error_code
from bgremove_api.dynamodb import CONDITION_FAILED, TRANSACTION_CANCELED, dynamodb_errors
from bgremove_api.exceptions import JobNotFoundError, ServiceUnavailableError
from bgremove_api.jobs._cursors import decode_cursor, encode_cursor, encode_cursor_key
from bgremove_api.jobs._items import DEADLINE_SHARDS, Item, deadline_shard, job_from_item, job_to_item
from bgremove_api.jobs._time import iso, now_iso, parse_iso
from bgremove_api.jobs.model import (
    JOB_TIMED_OUT,
    Job,
    JobOutcome,
    JobStatus,
    TerminalEventRule,
    outcome_event,
)
from bgremove_api.jobs.settings import DEFAULT_DEADLINE_MINUTES, DEFAULT_RETENTION_DAYS
from bgremove_api.keys import ApiKey

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DEADLINE_INDEX", "MAX_LIST_LIMIT", "OWNER_INDEX", "JobStore"]

OWNER_INDEX = "by_owner"
"""GSI of the Jobs table: a key's jobs, newest first."""

DEADLINE_INDEX = "by_deadline"
"""Sparse GSI of the Jobs table: open jobs by deadline (``open_shard``, ``deadline_at``)."""

MAX_LIST_LIMIT = 100

_MAX_LIST_QUERIES = 10  # bound on DynamoDB queries per list page when filters skip many jobs
_IDEMPOTENCY_PREFIX = "idem#"
_MAX_SWEEP_PAGES = 10  # per shard and sweep; the next sweep (a minute later) goes on


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
    terminal_event
        The event a finished job is announced with (its dialect's rule: the dialect table's
        :func:`~bgremove_api.dialects.table.terminal_event`); a job failed past its deadline marks that
        webhook ``pending``. The default is the outcome's name (:func:`outcome_event`).
    """

    def __init__(
        self,
        table_name: str,
        dynamodb_client: DynamoDBClient,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        deadline_minutes: int = DEFAULT_DEADLINE_MINUTES,
        terminal_event: TerminalEventRule = outcome_event,
    ) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb_client
        self.terminal_event = terminal_event
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
        return job_from_item(item) if item is not None else None

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
        start = decode_cursor(cursor, owner) if cursor else None
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
        last: Item | None = None
        for _ in range(_MAX_LIST_QUERIES):
            # One more than needed tells whether another page exists without a further query.
            page_query = {**query, "Limit": limit + 1 - len(jobs)}
            if start is not None:
                page_query["ExclusiveStartKey"] = start
            with dynamodb_errors("listing jobs"):
                response = self._dynamodb.query(**page_query)
            for item in response.get("Items", []):
                if len(jobs) == limit:
                    return jobs, encode_cursor(jobs[-1])  # a further match exists
                job = self._expired_if_overdue(job_from_item(item))
                if status is not None and job.status is not status:
                    continue  # timed out just now: no longer what the filter asked for
                jobs.append(job)
            last = response.get("LastEvaluatedKey")
            if last is None:
                return jobs, None
            start = last
        # Out of queries: go on from where DynamoDB stopped (possibly after a short page).
        return jobs, encode_cursor_key(last) if last is not None else None

    # --- deadlines ------------------------------------------------------------------------------------------
    def deadline_of(self, job: Job) -> str:
        """When ``job`` times out: its ``deadline_at``, or for an older record its creation + the deadline."""
        if job.deadline_at:
            return job.deadline_at
        created = parse_iso(job.created_at)
        return iso(created + timedelta(seconds=self.deadline_s)) if created else job.created_at

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
        created, ends = parse_iso(job.created_at), parse_iso(deadline)
        minutes = round((ends - created).total_seconds() / 60) if created and ends else self.deadline_s // 60
        values = {
            "status": JobStatus.FAILED.value,
            "completed_at": now_iso(),
            "error_code": JOB_TIMED_OUT,
            "error_message": f"the job did not finish within {minutes} minute{'s' if minutes != 1 else ''} "
            "of its submission; submit it again",
            # An older record joins the index here, so that the sweep queues its webhook too.
            "deadline_at": deadline,
            "open_shard": deadline_shard(job.job_id),
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
        for shard in range(DEADLINE_SHARDS):
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
                if error_code(error) != CONDITION_FAILED:
                    raise

    def _expired_if_overdue(self, job: Job) -> Job:
        if not self.is_overdue(job):
            return job
        event = self.terminal_event(replace(job, status=JobStatus.FAILED))
        expired, _ = self.expire(job, pending_webhooks=(event,) if event else ())
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
        self, job_id: str, outcome: JobOutcome, *, pending_webhooks: tuple[str, ...] = ()
    ) -> tuple[Job, bool]:
        """Record how a non-terminal job ended (``outcome``, usually a completion event's); returns
        ``(job, changed)``.

        ``changed`` is False when the job was terminal already (a replayed event, or a canceled job), or is
        past its deadline (a late event: the job is returned unfinished, for the caller to :meth:`expire`):
        the record is then returned as it is. ``pending_webhooks`` marks those events ``pending`` in the
        same update, so exactly the event that made the change queues their deliveries.

        Raises
        ------
        JobNotFoundError
            No job has this id (expired, or its submit failed before the upload).
        """
        values: dict[str, str | None] = {
            "status": outcome.status.value,
            "completed_at": outcome.completed_at,
            "started_at": outcome.started_at,
            "model": outcome.model,
            "output_key": outcome.output_key,
            "output_content_type": outcome.output_content_type,
            "report": json.dumps(dict(outcome.report)) if outcome.report is not None else None,
            "error_code": outcome.error_code,
            "error_message": outcome.error_message,
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
                if error_code(error) != CONDITION_FAILED:
                    raise  # a job expired meanwhile: nothing to record

    def _transition(
        self,
        job_id: str,
        values: Mapping[str, str | None],
        *,
        expected_owner: str | None = None,
        webhook_status: Mapping[str, str] | None = None,
        deadline: Literal["ahead", "passed"] | None = None,
        remove: tuple[str, ...] = (),
    ) -> tuple[Job | None, bool]:
        sets = {name: value for name, value in values.items() if value is not None}
        names = {f"#a{i}": name for i, name in enumerate(sets)}
        attribute_values: dict[str, Any] = {f":a{i}": {"S": value} for i, value in enumerate(sets.values())}
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
                if error_code(error) == CONDITION_FAILED:
                    return self.find(job_id), False
                raise
        return job_from_item(response["Attributes"]), True

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
                    "Item": job_to_item(job, expires_at),
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
