"""The job machinery requests use: one store and one submitter per process, built from the environment
unless a test or the local runner installs its own."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import boto3

from bgremove_api.jobs.settings import JobsSettings
from bgremove_api.jobs.store import JobStore
from bgremove_api.jobs.submit import JobSubmitter
from bgremove_api.runtime import AWS_CONFIG, get_runtime

__all__ = ["Jobs", "build_jobs", "get_jobs", "use_jobs"]


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


_installed: list[Jobs] = []


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
