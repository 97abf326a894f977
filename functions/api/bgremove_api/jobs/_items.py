"""A job as a DynamoDB item of the Jobs table, and back (the layout is in :mod:`bgremove_api.jobs.store`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bgremove_api.jobs.model import Job, JobStatus, WebhookConfig, public_error_message

Item = dict[str, Any]

DEADLINE_SHARDS = 4
"""Partitions of the sparse deadline index (``open_shard``), to spread its writes."""


def deadline_shard(job_id: str) -> str:
    return str(int(hashlib.sha256(job_id.encode()).hexdigest()[:8], 16) % DEADLINE_SHARDS)


def job_from_item(item: Item) -> Job:
    def text(name: str) -> str | None:
        value = item.get(name, {}).get("S")
        return str(value) if value is not None else None

    webhook = text("webhook")
    report = text("report")
    return Job(
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


def job_to_item(job: Job, expires_at: int) -> Item:
    item: Item = {
        "job_id": {"S": job.job_id},
        "owner_key_id": {"S": job.owner_key_id},
        "owner_created": {"S": f"{job.created_at}#{job.job_id}"},
        "dialect": {"S": job.dialect},
        "model": {"S": job.model},
        "status": {"S": job.status.value},
        "created_at": {"S": job.created_at},
        "options": {"S": json.dumps(job.options, sort_keys=True)},
        "input_key": {"S": job.input_key},
        "extra": {"S": json.dumps(job.extra, sort_keys=True, default=str)},
        "webhook_status": {"M": {k: {"S": v} for k, v in job.webhook_status.items()}},
        "expires_at": {"N": str(expires_at)},
    }
    optional = {
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "output_key": job.output_key,
        "output_content_type": job.output_content_type,
        "error_code": job.error_code,
        "error_message": job.error_message,
        "webhook": job.webhook.to_json() if job.webhook else None,
        "idempotency_key": job.idempotency_key,
        "report": json.dumps(job.report) if job.report is not None else None,
        "deadline_at": job.deadline_at,
        # In the sparse deadline index only while open (the transition that ends the job removes it).
        "open_shard": deadline_shard(job.job_id) if job.deadline_at and not job.status.terminal else None,
        "fingerprint": job.fingerprint,
    }
    item.update({name: {"S": value} for name, value in optional.items() if value is not None})
    return item
