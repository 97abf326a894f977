"""Reading a job's result: waiting for it to end (``Prefer: wait``, chat completions) and presigning its
output for the client."""

from __future__ import annotations

import time
from typing import Any, Protocol

from bgremove_api.jobs.model import Job, JobStatus
from bgremove_api.jobs.store import JobStore
from bgremove_api.keys import ApiKey

__all__ = ["PresignRuntime", "result_url", "wait_for"]


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
