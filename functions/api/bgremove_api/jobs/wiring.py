"""The job machinery one process uses: the store and the submitter, wired together once (the API runtime
holds them: :class:`bgremove_api.runtime.ApiRuntime`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bgremove_api.jobs.model import TerminalEventRule, outcome_event
from bgremove_api.jobs.settings import JobsSettings
from bgremove_api.jobs.store import JobStore
from bgremove_api.jobs.submit import JobSubmitter

__all__ = ["Jobs", "build_jobs", "build_store"]


@dataclass(frozen=True)
class Jobs:
    """The job machinery a dialect uses: records and submits."""

    store: JobStore
    submitter: JobSubmitter


def build_store(
    settings: JobsSettings, dynamodb_client: Any, terminal_event: TerminalEventRule = outcome_event
) -> JobStore:
    """The job store of every function that reads or writes jobs (API, Jobs, Webhooks), from one settings
    object; ``terminal_event`` is the dialect table's rule for the event a finished job is announced with."""
    return JobStore(
        settings.jobs_table,
        dynamodb_client,
        retention_days=settings.retention_days,
        deadline_minutes=settings.deadline_minutes,
        terminal_event=terminal_event,
    )


def build_jobs(
    settings: JobsSettings,
    *,
    dynamodb_client: Any,
    s3_client: Any,
    input_bucket: str,
    default_model: str,
    terminal_event: TerminalEventRule = outcome_event,
) -> Jobs:
    store = build_store(settings, dynamodb_client, terminal_event)
    return Jobs(store=store, submitter=JobSubmitter(store, s3_client, input_bucket, default_model))
