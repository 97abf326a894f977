"""Submitting a job: its record first (``QUEUED``), then its input in the pipeline's input bucket.

The input goes under ``api/<job id>/<name>``, with the options as S3 user metadata (the option table's
metadata keys) and the job's id as ``job-id`` (:data:`bgremove.events.JOB_ID_METADATA_KEY`, which the
processor echoes in its completion event for any subscriber). The record is written before the object, so
an event never finds its job missing.

An idempotency key is refused over 256 characters (never cut), and the job keeps the ``fingerprint`` of its
request (SHA-256 of the image's SHA-256, the parsed options, the model and the webhook): the same key with
another request is refused (:class:`~bgremove_api.exceptions.IdempotencyKeyReusedError`) rather than
answered with the first job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bgremove import Options
from bgremove.events import JOB_ID_METADATA_KEY
from bgremove.exceptions import ConfigurationError
from bgremove.options import option_field
from bgremove_api import observability
from bgremove_api.exceptions import (
    IdempotencyKeyInvalidError,
    IdempotencyKeyReusedError,
    ServiceUnavailableError,
)
from bgremove_api.jobs._time import iso
from bgremove_api.jobs.model import INPUT_PREFIX, Job, JobStatus, WebhookConfig, new_job_id
from bgremove_api.jobs.store import JobStore
from bgremove_api.keys import ApiKey

__all__ = ["MAX_IDEMPOTENCY_KEY_CHARS", "JobSubmitter", "checked_idempotency_key", "request_fingerprint"]

MAX_IDEMPOTENCY_KEY_CHARS = 256

_MAX_FILENAME_CHARS = 128


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

    Raises
    ------
    bgremove.ConfigurationError
        ``input_bucket`` is empty (``INPUT_BUCKET`` unset).
    """

    def __init__(self, store: JobStore, s3_client: Any, input_bucket: str, default_model: str) -> None:
        if not input_bucket:
            raise ConfigurationError("INPUT_BUCKET", "is required for asynchronous jobs but not set")
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
        options: Options,
        webhook: WebhookConfig | None,
        idempotency_key: str | None,
        extra: Mapping[str, Any],
    ) -> tuple[Job, bool]:
        """Queue ``image`` for processing; returns ``(job, created)`` at once.

        Parameters
        ----------
        options
            The options, as the dialect mapped them (``options.model`` ``None``: the deployment's default);
            the upload carries them as S3 metadata, which the pipeline reads with the same table.
        idempotency_key
            A client's key for this submit (1 to 256 characters, blanks around it ignored): a second submit
            of the same request with it returns the first job (``created`` False) and uploads nothing.
        extra
            Per-dialect fields to keep with the job (JSON-serialisable).

        Raises
        ------
        IdempotencyKeyInvalidError
            ``idempotency_key`` is over 256 characters (refused whole: a cut key could name another job).
        IdempotencyKeyReusedError
            This owner used ``idempotency_key`` for another request: another image, options, model or
            webhook (its job's :func:`request_fingerprint` differs). The file name is not part of it.
        ServiceUnavailableError
            DynamoDB or S3 is throttled or unreachable; nothing was queued.
        """
        key = checked_idempotency_key(idempotency_key)
        values = options.to_dict()  # canonical strings, defaults left out
        job_id = new_job_id()
        model_name = values.get("model", self.default_model)
        fingerprint = None
        if key is not None:
            fingerprint = request_fingerprint(
                dialect=dialect,
                image=image,
                options={name: value for name, value in values.items() if name != "model"},
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
            created_at=iso(created_at),
            started_at=None,
            completed_at=None,
            options=values,
            input_key=f"{INPUT_PREFIX}{job_id}/{_safe_filename(filename)}",
            output_key=None,
            output_content_type=None,
            error_code=None,
            error_message=None,
            webhook=webhook,
            idempotency_key=key,
            report=None,
            extra=dict(extra),
            deadline_at=iso(created_at + timedelta(seconds=self.store.deadline_s)),
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
        metadata = {option_field(name).metadata_key: value for name, value in values.items()}
        # For the completion event's subscribers; the Jobs function reads the id from the input key.
        metadata[JOB_ID_METADATA_KEY] = job.job_id
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


def _safe_filename(filename: str) -> str:
    """The client's file name reduced to a safe last path part (the processor names the output after it)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name).lstrip(".")
    return name[-_MAX_FILENAME_CHARS:] or "input"
