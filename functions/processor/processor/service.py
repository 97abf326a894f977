"""Process one uploaded object end to end: read, remove background, write, announce.

The service holds no global state: the engine, AWS clients and the idempotency store are passed in, so
tests and the local runner build it against moto and the Lambda handler against AWS.

Uploads of one key can be notified out of order and processed concurrently. Three rules keep the output
and the events honest (see :class:`ImageProcessor`):

- the bytes and the options read are those of the notified upload (read pinned to its version, or to its
  ETag and checked against the notification's time), else the upload is ``SUPERSEDED``;
- an output made from a later upload of the key is never replaced: the older upload ends ``SUPERSEDED``;
- the output is written with an S3 conditional write on what was checked, so a concurrent writer
  cannot slip in between the check and the write.

This module runs the steps in order; each step lives in its own module: reading the upload
(``_source``), the output's key, check and write (``_output``), and the metrics of the outcome
(``_recording``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.serialization.base import BaseIdempotencySerializer

from bgremove import Engine, InputError, Options, Result, output_format
from bgremove.events import CompletionEvent
from processor import completion, metadata
from processor import metric_names as names
from processor._attempt import Attempt, ms_since
from processor._output import OutputBucket, output_key_for
from processor._recording import OutcomeMetrics
from processor._s3 import MAX_KEY_BYTES
from processor._source import CLOCK_TOLERANCE, looked_up, read_background, read_source
from processor.settings import SERVICE_NAME, ProcessorSettings
from processor.sources import ObjectRef

__all__ = [
    "CLOCK_TOLERANCE",
    "MAX_KEY_BYTES",
    "ImageProcessor",
    "SkipReason",
    "Skipped",
    "output_key_for",
    "s3_model_fetcher",
]

logger = Logger(service=SERVICE_NAME, child=True)


def s3_model_fetcher(s3_client: Any) -> Callable[[str, Path], None]:
    """A :data:`bgremove.ModelFetcher` that downloads ``s3://bucket/key`` models with boto3."""

    def fetch(uri: str, destination: Path) -> None:
        parsed = urlparse(uri)
        s3_client.download_file(parsed.netloc, parsed.path.lstrip("/"), str(destination))

    return fetch


class SkipReason(StrEnum):
    """Why an object named by an event is not one of our uploads: no event is published for it."""

    FOLDER_MARKER = "folder marker"
    """A zero-byte key ending in ``/`` (the S3 console's folders)."""
    FOREIGN_BUCKET = "not an input bucket"
    """The bucket is not in ``INPUT_BUCKETS``: a forged or misrouted message."""


@dataclass(frozen=True)
class Skipped:
    """:meth:`ImageProcessor.process` left the object alone; ``reason`` says why."""

    reason: SkipReason


class _RecordedEvent(BaseIdempotencySerializer):
    """The idempotency record's form of the returned event: its JSON object (:meth:`CompletionEvent.to_dict`).

    A duplicate gets the event back with :meth:`CompletionEvent.from_dict`, records of an older deployment
    (which returned that same object as a plain dict) included.
    """

    def to_dict(self, data: CompletionEvent) -> dict[str, Any]:
        return data.to_dict()

    def from_dict(self, data: dict[str, Any]) -> CompletionEvent:
        return CompletionEvent.from_dict(data)


@dataclass(frozen=True)
class _Upload:
    body: bytes
    options: Options
    output_key: str


class ImageProcessor:
    """Turns one :class:`ObjectRef` into an output object and exactly one completion event.

    Only objects of the configured input buckets are processed, and zero-byte folder markers are not
    uploads: both are :class:`Skipped`, without an event. An upload replaced by a newer upload of the same
    key ends ``SUPERSEDED`` (:class:`~processor.exceptions.SupersededError`) instead of describing, or
    overwriting, the newer one:

    - Versioned buckets: the read is pinned to the notified version, its bytes and its metadata.
    - Unversioned buckets: the read is pinned to the notified ETag (another ETag now: superseded), and
      an object last modified more than :data:`CLOCK_TOLERANCE` after the notification's time is a later
      upload of the same bytes, whose options are not this upload's (superseded). Two uploads of
      identical bytes within a second or so cannot be told apart: enable versioning to be exact.
    - The output: one made from a later upload of the key (by S3 event ``sequencer``; without one, by
      the inputs' ``LastModified``; see :func:`processor.metadata.newer_source`) is kept, and this
      upload is superseded. The write is conditional (``IfMatch`` the ETag of the output checked, or
      ``IfNoneMatch="*"`` when there was none); when another writer got there first the output is
      checked again, up to three times, then the upload is retried by the event source.

    Parameters
    ----------
    engine
        The background-removal engine (models loaded once per process).
    s3_client, publisher
        boto3 S3 client; where completion events go.
    settings
        Output bucket, prefix, topic...
    persistence_store
        Idempotency store (DynamoDB in AWS); ``None`` disables de-duplication by record (the output-object
        check below still prevents duplicate work after a partial success).
    metrics
        Powertools metrics to record into, before each event is published. Best-effort: a metrics fault is
        logged and never fails the upload (a retry would announce it again).
    """

    def __init__(
        self,
        engine: Engine,
        s3_client: Any,
        publisher: completion.Publisher,
        settings: ProcessorSettings,
        *,
        persistence_store: BasePersistenceLayer | None = None,
        metrics: Metrics | None = None,
        outbox: completion.EventOutbox | None = None,
    ) -> None:
        self._engine = engine
        self._s3 = s3_client
        self._output = OutputBucket(s3_client, settings.output_bucket)
        self._publisher = publisher
        self._settings = settings
        self._metrics = OutcomeMetrics(metrics)
        self._outbox = outbox
        self.idempotency_config = IdempotencyConfig(expires_after_seconds=settings.idempotency_ttl_seconds)
        self._handle: Callable[..., CompletionEvent]
        if persistence_store is not None:
            self._handle = idempotent_function(
                data_keyword_argument="identity",
                persistence_store=persistence_store,
                config=self.idempotency_config,
                output_serializer=_RecordedEvent(),
            )(self._handle_once)
        else:
            self._handle = self._handle_once

    def process(self, ref: ObjectRef) -> CompletionEvent | Skipped:
        """Process one object; returns its completion event (replayed from the store on duplicates).

        Returns
        -------
        CompletionEvent or Skipped
            The completion event; :class:`Skipped` (logged and counted, nothing published) for an object
            of a bucket not in ``INPUT_BUCKETS`` and for a zero-byte folder marker.

        Raises
        ------
        Exception
            Anything but an input problem (throttling, 5xx, timeouts, publish failures, model faults):
            the caller reports the item as failed so the event source delivers it again.
        """
        if ref.bucket not in self._settings.input_buckets:
            return self._skip(ref, SkipReason.FOREIGN_BUCKET, names.FOREIGN_BUCKET)
        if ref.etag is None:
            ref = looked_up(self._s3, ref)  # S3 Batch Operations tasks name no ETag nor size: look them up
        if ref.is_folder_marker:
            return self._skip(ref, SkipReason.FOLDER_MARKER)
        logger.append_keys(bucket=ref.bucket, key=ref.key, version_id=ref.version_id)
        logger.set_correlation_id(completion.event_id_for(ref))
        try:
            event = self._handle(identity=ref.identity(), ref=ref)
        finally:
            logger.remove_keys(["bucket", "key", "version_id"])
        return event

    def _skip(self, ref: ObjectRef, reason: SkipReason, metric: str | None = None) -> Skipped:
        log = logger.warning if reason is SkipReason.FOREIGN_BUCKET else logger.info
        log(f"skipped: {reason.value}", extra={"bucket": ref.bucket, "key": ref.key})
        if metric is not None:
            self._metrics.count(metric)
        return Skipped(reason)

    # Runs at most once per upload when idempotency is on: the store remembers the returned event.
    def _handle_once(self, identity: dict[str, str], ref: ObjectRef) -> CompletionEvent:
        del identity  # only the idempotency key; ``ref`` carries the same facts
        attempt = Attempt(ref)
        try:
            upload = self._read_upload(attempt)
            check = self._output.check(attempt, upload.output_key)
            if isinstance(check, CompletionEvent):
                return self._announce_replayed(check)
            background = self._read_background(attempt, upload.options)
            result = self._engine.process(upload.body, upload.options, background=background)
            replay = self._output.write(attempt, upload.output_key, result, check)
            if replay is not None:
                return self._announce_replayed(replay)
        except InputError as error:
            return self._announce_failed(attempt, error)
        return self._announce_completed(attempt, upload.output_key, result)

    def _read_upload(self, attempt: Attempt) -> _Upload:
        """The upload's bytes and what its metadata asks for; each fact lands on ``attempt`` once known."""
        began = time.perf_counter()
        source = read_source(self._s3, attempt.ref, self._settings.max_input_bytes)
        attempt.input_size, attempt.last_modified = source.size, source.last_modified
        attempt.timings["download"] = ms_since(began)
        attempt.job_id = metadata.job_id_from_metadata(source.user_metadata)
        attempt.options = options = metadata.options_from_metadata(source.user_metadata)
        output_key = output_key_for(
            attempt.ref.key, output_format(options).extension, self._settings.output_prefix
        )
        return _Upload(source.body, options, output_key)

    def _read_background(self, attempt: Attempt, options: Options) -> bytes | None:
        """The ``background-image`` the upload names, if any (see :func:`processor._source.read_background`).

        Read after the output check, so a retry that only has to announce an earlier result never needs it.
        """
        if options.background_image is None:
            return None
        began = time.perf_counter()
        body = read_background(
            self._s3, attempt.ref.bucket, options.background_image, self._settings.max_input_bytes
        )
        attempt.timings["download_background"] = ms_since(began)
        return body

    # Metrics go before the publish: once the event is out, nothing may fail the attempt (a retry would
    # announce the upload again). Recording is best-effort besides, see :mod:`processor._recording`.
    def _announce_completed(self, attempt: Attempt, output_key: str, result: Result) -> CompletionEvent:
        attempt.timings.update({f"engine_{k}": v for k, v in result.report.timings_ms.items()})
        end_to_end = attempt.timings["end_to_end"] = ms_since(attempt.started)
        event = completion.completed(
            attempt.ref,
            job_id=attempt.job_id,
            input_size=attempt.input_size,
            output=completion.result_output(self._settings.output_bucket, output_key, result),
            report=result.report.to_dict(),
            timings_ms=attempt.timings,
        )
        self._metrics.succeeded(result.report, end_to_end)
        event = self._publish(event)
        logger.info("processed", extra={"output_key": output_key, "timings_ms": dict(event.timings_ms)})
        return event

    def _announce_failed(self, attempt: Attempt, error: InputError) -> CompletionEvent:
        """The one place an upload is rejected: FAILED event with whatever was known when it failed."""
        attempt.timings["end_to_end"] = ms_since(attempt.started)
        event = completion.failed(
            attempt.ref,
            job_id=attempt.job_id,
            input_size=attempt.input_size,
            error=error,
            model=self._engine.model_name(attempt.options.model if attempt.options else None),
            timings_ms=attempt.timings,
        )
        self._metrics.failed(error)
        event = self._publish(event)
        logger.warning("upload rejected", extra={"error": error.to_dict()})
        return event

    def _announce_replayed(self, event: CompletionEvent) -> CompletionEvent:
        # Only Replayed: the attempt that wrote the output recorded the rest before its publish failed.
        self._metrics.count(names.REPLAYED)
        key = event.output.key if event.output is not None else None
        logger.info("output already written by an earlier attempt; announcing it", extra={"key": key})
        return self._publish(event)

    def _publish(self, event: CompletionEvent) -> CompletionEvent:
        """Publish the upload's first decided event (see :class:`completion.EventOutbox`); returns it."""
        if self._outbox is not None:
            event = self._outbox.keep_first(event)
        self._publisher.publish(event)
        return event
