"""Asynchronous jobs: the API submits an upload to the S3 pipeline; the pipeline's events finish it.

A submit (:class:`JobSubmitter`) stores the job record first (``QUEUED``), then the input under
``api/<job id>/<name>`` in the input bucket. The upload's S3 notification runs it through the processor like
any other upload; the completion event (:class:`bgremove.events.CompletionEvent`, whose input key names the
job) reaches :mod:`bgremove_api.job_events`, which records its :class:`JobOutcome`: ``COMPLETED`` or
``FAILED``.

A job goes ``QUEUED -> COMPLETED | FAILED | CANCELED`` (and ``PROCESSING`` in between when something marks
it; the processor sends no start event, so jobs of this stack go from ``QUEUED`` straight to a terminal
state). Every transition is a conditional update from a non-terminal state (:class:`JobStore`).

Every job has a deadline (``deadline_at``: ``JOB_DEADLINE_MINUTES``, 15 by default, after its creation). An
upload that never gets an event (it sits in the processor's dead-letter queue) would otherwise leave its job
``QUEUED`` forever. Past the deadline the job is ``FAILED`` with :data:`JOB_TIMED_OUT`: a read of it (the API)
fails it there and then, the Jobs function's scheduled sweep fails those nobody reads (and queues their
webhooks), and a completion event that comes later finds it failed and changes nothing. A completion is
applied only before the deadline (a condition of its update), so no job turns ``COMPLETED`` once a client
may have seen it past its deadline.

Modules: :mod:`~bgremove_api.jobs.model` (the job and its outcome), :mod:`~bgremove_api.jobs.settings`,
:mod:`~bgremove_api.jobs.store` (the table), :mod:`~bgremove_api.jobs.submit`,
:mod:`~bgremove_api.jobs.results` (waiting, result URLs) and :mod:`~bgremove_api.jobs.wiring` (the machinery
requests use).
"""

from bgremove_api.jobs._time import now_iso
from bgremove_api.jobs.model import (
    CLIENT_ERROR_CODES,
    INPUT_PREFIX,
    JOB_TIMED_OUT,
    OPERATOR_FAULT_MESSAGE,
    Job,
    JobOutcome,
    JobStatus,
    WebhookConfig,
    job_id_from_input_key,
    public_error_message,
)
from bgremove_api.jobs.results import result_url, wait_for
from bgremove_api.jobs.settings import JobsSettings
from bgremove_api.jobs.store import JobStore
from bgremove_api.jobs.submit import JobSubmitter, checked_idempotency_key
from bgremove_api.jobs.wiring import Jobs, build_jobs, build_store

__all__ = [
    "CLIENT_ERROR_CODES",
    "INPUT_PREFIX",
    "JOB_TIMED_OUT",
    "OPERATOR_FAULT_MESSAGE",
    "Job",
    "JobOutcome",
    "JobStatus",
    "JobStore",
    "JobSubmitter",
    "Jobs",
    "JobsSettings",
    "WebhookConfig",
    "build_jobs",
    "build_store",
    "checked_idempotency_key",
    "job_id_from_input_key",
    "now_iso",
    "public_error_message",
    "result_url",
    "wait_for",
]
