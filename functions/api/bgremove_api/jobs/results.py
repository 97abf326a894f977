"""Reading a job's result: waiting for it to end (``Prefer: wait``, chat completions) and presigning its
output for the client."""

from __future__ import annotations

import time

from bgremove_api.jobs.model import Job, JobStatus
from bgremove_api.jobs.store import JobStore
from bgremove_api.keys import ApiKey
from bgremove_api.presign import Presigner

__all__ = ["result_url", "wait_for"]


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


def result_url(presigner: Presigner, job: Job) -> str:
    """A presigned GET of the job's output, valid ``RESULT_URL_TTL_S`` (1 h by default).

    Raises
    ------
    ValueError
        The job has no output (not ``COMPLETED``).
    """
    if job.status is not JobStatus.COMPLETED or not job.output_key:
        raise ValueError(f"job {job.job_id} has no result ({job.status})")
    return presigner.url(job.output_key)
