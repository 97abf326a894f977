"""Jobs as :mod:`bgremove_api.jobs` records them, for the asynchronous dialects' mapping tests."""

from __future__ import annotations

import dataclasses
from typing import Any

from bgremove_api.jobs import Job, JobStatus


def sample_job(status: JobStatus = JobStatus.QUEUED, **changes: Any) -> Job:
    job = Job(
        job_id="abcdefghijklmnopqrstuvwxyz",
        owner_key_id="0123456789ab",
        dialect="replicate",
        model="u2netp",
        status=status,
        created_at="2026-01-02T03:04:05.000Z",
        started_at=None,
        completed_at=None,
        options={},
        input_key="api/abcdefghijklmnopqrstuvwxyz/image",
        output_key=None,
        output_content_type=None,
        error_code=None,
        error_message=None,
        webhook=None,
        idempotency_key=None,
        report=None,
        extra={},
    )
    if status is JobStatus.COMPLETED:
        job = dataclasses.replace(
            job,
            started_at="2026-01-02T03:04:05.500Z",
            completed_at="2026-01-02T03:04:06.250Z",
            output_key="api/abcdefghijklmnopqrstuvwxyz/image.png",
            output_content_type="image/png",
        )
    if status is JobStatus.FAILED:
        job = dataclasses.replace(
            job,
            completed_at="2026-01-02T03:04:06.000Z",
            error_code="NOT_AN_IMAGE",
            error_message="not an image in any known format",
        )
    return dataclasses.replace(job, **changes)
