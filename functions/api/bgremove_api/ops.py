"""``bgremove-ops``: the operator's view of a deployed stack (or of ``make serve``'s emulator).

::

    bgremove-ops [--stack NAME | --endpoint-url URL] status [--failures N]
    bgremove-ops ... redrive [--queue processing|jobs|webhooks|all] [--dry-run] [--max N]
    bgremove-ops ... usage [--since 24h|7d|ISO-TIME]

``status`` prints each queue's depth (visible, in flight, delayed) and its oldest message's age (CloudWatch,
deployed stacks only), the dead-letter queues' counts, the HTTP API's jobs by status and the last failed jobs
with their error codes. ``redrive`` moves the messages of the dead-letter queues back to the queues they came
from (``--dry-run``: only says how many it would move). ``usage`` counts each API key's jobs (images) created
since a time, from the jobs table (synchronous requests are not stored: see the ``ApiRequests`` metric).

The AWS SDK comes with the ``aws`` extra; without it, a command says what to install (exit status 2).

The resources are found through the CloudFormation stack ``--stack`` (default ``bgremove``) or, with
``--endpoint-url`` (the local emulator), by the names the local runner gives them (``--stack`` then filters
by name prefix). See docs/operations.md.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bgremove_api.admin import DEFAULT_STACK, aws_session, with_aws_sdk

if TYPE_CHECKING:
    import boto3

__all__ = ["Resources", "find_resources", "main"]

QUEUES = ("processing", "jobs", "webhooks")
_LOGICAL = {
    # name: (queue, its dead-letter queue), as template.yaml's logical ids
    "processing": ("ProcessingQueue", "DeadLetterQueue"),
    "jobs": ("JobsQueue", "JobsDeadLetterQueue"),
    "webhooks": ("WebhooksQueue", "WebhooksDeadLetterQueue"),
}
_LOCAL_SUFFIX = {
    # how the local runner names them: the QueueName the template gives, else <stack>-<logical id>
    "ProcessingQueue": "-processing",
    "JobsQueue": "-jobs",
    "WebhooksQueue": "-webhooks",
    "DeadLetterQueue": "-DeadLetterQueue",
    "JobsDeadLetterQueue": "-JobsDeadLetterQueue",
    "WebhooksDeadLetterQueue": "-WebhooksDeadLetterQueue",
    "JobsTable": "-JobsTable",
    "ApiKeysTable": "-ApiKeysTable",
}
_DEPTH = {
    "visible": "ApproximateNumberOfMessages",
    "in flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}
_IDEMPOTENCY_PREFIX = "idem#"
_EXIT_ERROR = 1
_EXIT_USAGE = 2


@dataclass(frozen=True)
class Resources:
    """Physical ids by template logical id: queue URLs, table names (absent: not in this stack)."""

    ids: Mapping[str, str]
    local: bool

    def get(self, logical_id: str) -> str | None:
        return self.ids.get(logical_id)

    def need(self, logical_id: str) -> str:
        value = self.ids.get(logical_id)
        if not value:
            raise LookupError(f"the stack has no {logical_id}")
        return value


def find_resources(session: boto3.Session, *, stack: str | None, endpoint_url: str | None) -> Resources:
    """The stack's queues and tables (see the module docstring).

    Raises
    ------
    LookupError
        Locally: more than one queue or table fits a name (several stacks; pass ``--stack``).
    """
    if endpoint_url:
        sqs = session.client("sqs", endpoint_url=endpoint_url)
        dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
        urls = [
            url for page in sqs.get_paginator("list_queues").paginate() for url in page.get("QueueUrls", [])
        ]
        tables = [
            name for page in dynamodb.get_paginator("list_tables").paginate() for name in page["TableNames"]
        ]
        ids: dict[str, str] = {}
        for logical_id, suffix in _LOCAL_SUFFIX.items():
            candidates = tables if logical_id.endswith("Table") else urls
            fits = [c for c in candidates if _local_fit(c.rsplit("/", 1)[-1], suffix, stack)]
            if len(fits) > 1:
                raise LookupError(f"several {logical_id} at {endpoint_url} ({', '.join(fits)}): pass --stack")
            if fits:
                ids[logical_id] = fits[0]
        return Resources(ids, local=True)
    cloudformation = session.client("cloudformation")
    ids = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(
        StackName=stack or DEFAULT_STACK
    ):
        for resource in page.get("StackResourceSummaries", []):
            if resource.get("PhysicalResourceId"):
                ids[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    return Resources(ids, local=False)


def _local_fit(name: str, suffix: str, stack: str | None) -> bool:
    if not name.endswith(suffix):
        return False
    prefix = name[: -len(suffix)]
    # -jobs must not take -JobsDeadLetterQueue's place, nor a stack's processing queue another one's
    return bool(prefix) and (stack is None or prefix == stack)


# ---------------------------------------------------------------- status
def status(session: boto3.Session, resources: Resources, endpoint_url: str | None, failures: int) -> None:
    sqs: Any = session.client("sqs", endpoint_url=endpoint_url)
    cloudwatch = None if resources.local else session.client("cloudwatch")
    print(f"{'queue':<22}  {'visible':>8}  {'in flight':>9}  {'delayed':>7}  {'oldest':>8}")
    for name in QUEUES:
        for logical_id, label in zip(_LOGICAL[name], (name, f"{name} DLQ"), strict=True):
            url = resources.get(logical_id)
            if not url:
                continue
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_DEPTH.values()))[
                "Attributes"
            ]
            depth = [int(attributes.get(attribute, 0)) for attribute in _DEPTH.values()]
            age = _oldest_age_s(cloudwatch, url) if cloudwatch is not None else None
            print(
                f"{label:<22}  {depth[0]:>8}  {depth[1]:>9}  {depth[2]:>7}  "
                f"{'-' if age is None else f'{age:.0f} s':>8}"
            )
    table = resources.get("JobsTable")
    if not table:
        print("\njobs: none (the stack has no HTTP API)")
        return
    jobs = list(_jobs(session.client("dynamodb", endpoint_url=endpoint_url), table))
    by_status = Counter(job.get("status", "?") for job in jobs)
    print("\njobs by status: " + (", ".join(f"{s}={n}" for s, n in sorted(by_status.items())) or "none"))
    failed = [job for job in jobs if job.get("status") == "FAILED"]
    by_code = Counter(job.get("error_code") or "?" for job in failed)
    print("failed jobs by code: " + (", ".join(f"{c}={n}" for c, n in by_code.most_common()) or "none"))
    failed.sort(key=lambda job: job.get("completed_at") or "", reverse=True)
    if failed[:failures]:
        print(f"\nlast {min(failures, len(failed))} failures:")
        print(f"{'completed':<25}  {'job':<34}  {'key':<12}  code")
        for job in failed[:failures]:
            print(
                f"{job.get('completed_at') or '-':<25}  {job['job_id']:<34}  "
                f"{job.get('owner_key_id') or '-':<12}  {job.get('error_code') or '?'}"
            )


def _oldest_age_s(cloudwatch: Any, url: str) -> float | None:
    """ApproximateAgeOfOldestMessage over the last 10 minutes (None when CloudWatch has no point yet)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - the aws extra

    now = datetime.now(UTC)
    try:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": url.rsplit("/", 1)[-1]}],
            StartTime=now - timedelta(minutes=10),
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
    except (ClientError, BotoCoreError):
        return None
    return float(max(points, key=lambda p: p["Timestamp"])["Maximum"]) if points else None


def _jobs(dynamodb: Any, table: str) -> Iterator[dict[str, str]]:
    """Every job's status fields (idempotency items left out), as plain strings."""
    names = ("job_id", "status", "error_code", "owner_key_id", "created_at", "completed_at")
    paginator = dynamodb.get_paginator("scan")
    for page in paginator.paginate(
        TableName=table,
        ProjectionExpression=", ".join(f"#{n}" for n in names),
        ExpressionAttributeNames={f"#{n}": n for n in names},
    ):
        for item in page.get("Items", []):
            job = {name: str(next(iter(value.values()))) for name, value in item.items()}
            if not job.get("job_id", "").startswith(_IDEMPOTENCY_PREFIX):
                yield job


# ---------------------------------------------------------------- redrive
def redrive(
    session: boto3.Session,
    resources: Resources,
    endpoint_url: str | None,
    queues: tuple[str, ...],
    *,
    dry_run: bool,
    limit: int | None,
) -> int:
    """Move each dead-letter queue's messages back to its queue; returns how many moved (or would)."""
    sqs: Any = session.client("sqs", endpoint_url=endpoint_url)
    total = 0
    for name in queues:
        source_id, dlq_id = _LOGICAL[name]
        dlq, source = resources.get(dlq_id), resources.get(source_id)
        if not dlq or not source:
            continue
        if dry_run:
            waiting = int(
                sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])[
                    "Attributes"
                ]["ApproximateNumberOfMessages"]
            )
            count = waiting if limit is None else min(waiting, limit)
            print(f"{name}: would move {count} message(s) from {dlq} to {source}")
        else:
            count = _move(sqs, dlq, source, limit)
            print(f"{name}: moved {count} message(s) from {dlq} to {source}")
        total += count
    return total


def _move(sqs: Any, dlq: str, source: str, limit: int | None) -> int:
    """Receive, send to ``source``, then delete: a crash in between leaves a copy, never a loss."""
    moved = 0
    while limit is None or moved < limit:
        batch = sqs.receive_message(
            QueueUrl=dlq,
            MaxNumberOfMessages=10 if limit is None else max(1, min(10, limit - moved)),
            WaitTimeSeconds=0,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        entries = [
            {
                "Id": str(index),
                "MessageBody": message["Body"],
                **(
                    {"MessageAttributes": message["MessageAttributes"]}
                    if message.get("MessageAttributes")
                    else {}
                ),
            }
            for index, message in enumerate(batch)
        ]
        sent = sqs.send_message_batch(QueueUrl=source, Entries=entries)
        if sent.get("Failed"):
            raise RuntimeError(f"sending to {source} failed: {sent['Failed'][0]}")
        sqs.delete_message_batch(
            QueueUrl=dlq,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
        moved += len(batch)
    return moved


# ---------------------------------------------------------------- usage
_SINCE = re.compile(r"(\d+)([hd])")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``24h``, ``7d`` (back from now) or an ISO 8601 time."""
    now = now or datetime.now(UTC)
    match = _SINCE.fullmatch(text.strip())
    if match:
        amount, unit = int(match[1]), match[2]
        return now - (timedelta(hours=amount) if unit == "h" else timedelta(days=amount))
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError("give 24h, 7d or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def usage(session: boto3.Session, resources: Resources, endpoint_url: str | None, since: datetime) -> None:
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
    since_iso = since.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for job in _jobs(dynamodb, resources.need("JobsTable")):
        if job.get("created_at", "") >= since_iso:
            counts[job.get("owner_key_id") or "?"][job.get("status", "?")] += 1
    names = _key_names(dynamodb, resources.get("ApiKeysTable"))
    print(f"jobs (images) per API key since {since_iso}:")
    print(f"{'key id':<12}  {'name':<24}  {'jobs':>6}  {'done':>6}  {'failed':>6}  {'open':>6}")
    for key_id, by_status in sorted(counts.items(), key=lambda kv: -sum(kv[1].values())):
        done, failed = by_status["COMPLETED"], by_status["FAILED"]
        total = sum(by_status.values())
        print(
            f"{key_id:<12}  {names.get(key_id, '-'):<24}  {total:>6}  {done:>6}  {failed:>6}  "
            f"{total - done - failed - by_status['CANCELED']:>6}"
        )
    print(f"total: keys={len(counts)} jobs={sum(sum(c.values()) for c in counts.values())}")


def _key_names(dynamodb: Any, table: str | None) -> dict[str, str]:
    if not table:
        return {}
    from bgremove_api.keys import ApiKeyStore  # noqa: PLC0415 - needs the aws extra

    return {key.key_id: key.name for key in ApiKeyStore(table, dynamodb).list()}


# ---------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bgremove-ops", description="Queues, dead letters, jobs and usage of a bgremove deployment."
    )
    where = parser.add_argument_group("where (default: the stack 'bgremove')")
    where.add_argument(
        "--stack", help="CloudFormation stack name (with --endpoint-url: the local name prefix)"
    )
    where.add_argument("--endpoint-url", help="AWS endpoint, e.g. http://127.0.0.1:4577 for `make serve`")
    where.add_argument("--region", help="AWS region (default: your AWS configuration; us-east-1 locally)")
    commands = parser.add_subparsers(dest="command", required=True)
    status_cmd = commands.add_parser("status", help="queue depths and ages, DLQ counts, jobs, last failures")
    status_cmd.add_argument("--failures", type=int, default=10, help="how many last failures to list (10)")
    redrive_cmd = commands.add_parser("redrive", help="move dead-letter messages back to their queues")
    redrive_cmd.add_argument("--queue", choices=(*QUEUES, "all"), default="all")
    redrive_cmd.add_argument("--dry-run", action="store_true", help="only say how many would move")
    redrive_cmd.add_argument("--max", type=int, default=None, help="move at most this many per queue")
    usage_cmd = commands.add_parser("usage", help="jobs (images) per API key over a period")
    usage_cmd.add_argument("--since", type=parse_since, default="24h", help="24h, 7d or an ISO time (24h)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``bgremove-ops``; returns the exit status (0 ok, 1 failed, 2 usage or no AWS SDK)."""
    args = build_parser().parse_args(argv)
    return with_aws_sdk("bgremove-ops", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - the aws extra

    try:
        session = aws_session(args.endpoint_url, args.region)
        resources = find_resources(session, stack=args.stack, endpoint_url=args.endpoint_url)
        if args.command == "status":
            status(session, resources, args.endpoint_url, args.failures)
        elif args.command == "redrive":
            queues = QUEUES if args.queue == "all" else (args.queue,)
            redrive(session, resources, args.endpoint_url, queues, dry_run=args.dry_run, limit=args.max)
        else:
            since = args.since if isinstance(args.since, datetime) else parse_since(args.since)
            usage(session, resources, args.endpoint_url, since)
    except (LookupError, RuntimeError) as error:
        print(f"bgremove-ops: error: {error}", file=sys.stderr)
        return _EXIT_ERROR
    except (ClientError, BotoCoreError) as error:
        print(f"bgremove-ops: AWS error: {error}", file=sys.stderr)
        return _EXIT_ERROR
    except ValueError as error:
        print(f"bgremove-ops: error: {error}", file=sys.stderr)
        return _EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
