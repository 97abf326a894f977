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
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import ClientError

from bgremove import (
    BgRemoveError,
    Engine,
    ImageTooLargeError,
    InputError,
    Options,
    Report,
    Result,
    output_format,
)
from bgremove.exceptions import BackgroundNotFoundError, InvalidOptionError
from processor import completion, metadata
from processor import metric_names as names
from processor.exceptions import SourceNotFoundError, SupersededError
from processor.settings import SERVICE_NAME, ProcessorSettings
from processor.sources import ObjectRef

logger = Logger(service=SERVICE_NAME, child=True)

_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
_CHANGED_OBJECT_CODES = frozenset({"PreconditionFailed", "412"})
# A conditional write lost a race: 412 when the condition failed, 409 when S3 saw two at once.
_WRITE_CONFLICT_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_WRITE_ATTEMPTS = 3
_MIB = 1024 * 1024

MAX_KEY_BYTES = 1024
"""S3's limit on an object key, in UTF-8 bytes."""

_DIGEST_CHARS = 64  # sha256, hexadecimal

CLOCK_TOLERANCE = timedelta(seconds=1)
"""How much later than the notification's time an object's ``LastModified`` must be to count as a later
upload (see :meth:`ImageProcessor._read`): a margin for clock differences inside S3."""


def output_key_for(source_key: str, extension: str, prefix: str) -> str:
    """``photos/cat.jpg`` -> ``<prefix>photos/cat.png``.

    Inputs that differ only by extension (``cat.jpg``, ``cat.png``) map to the same output key; the later
    upload wins. Upload such files under different names, or read ``source-key`` from the output's metadata.

    S3 keys are at most 1024 bytes of UTF-8, and the prefix and a longer extension can take an input key
    near that limit past it. Such a key becomes ``<prefix><start of the name>-<sha256>.<extension>``: the
    readable start of the name (cut at a character boundary) followed by the SHA-256 (hexadecimal) of the
    whole input key, so that it stays unique and the same input always maps to the same output. Only keys
    that would not fit are changed; ``source-key`` in the output's metadata names the input either way.
    """
    stem, dot, suffix = source_key.rpartition(".")
    base = stem if dot and "/" not in suffix and stem and not stem.endswith("/") else source_key
    key = f"{prefix}{base}.{extension}"
    if len(key.encode()) <= MAX_KEY_BYTES:
        return key
    digest = hashlib.sha256(source_key.encode()).hexdigest()
    room = MAX_KEY_BYTES - len(f"{prefix}-{digest}.{extension}".encode())
    readable = base.encode()[: max(room, 0)].decode(errors="ignore")
    return f"{prefix}{readable}-{digest}.{extension}"


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


@dataclass
class _Attempt:
    """What one attempt at an upload has learnt so far: a FAILED event reports whatever is known."""

    ref: ObjectRef
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    job_id: str | None = None
    input_size: int | None = None
    options: Options | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class _Upload:
    body: bytes
    options: Options
    output_key: str


@dataclass(frozen=True)
class _WriteIf:
    """Write the output only if its key still holds what was checked: ``etag``, or nothing if ``None``."""

    etag: str | None

    def conditions(self) -> dict[str, str]:
        """PutObject's conditional-write arguments."""
        return {"IfMatch": self.etag} if self.etag else {"IfNoneMatch": "*"}


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
        self._publisher = publisher
        self._settings = settings
        self._metrics = metrics
        self._outbox = outbox
        self.idempotency_config = IdempotencyConfig(expires_after_seconds=settings.idempotency_ttl_seconds)
        self._handle: Callable[..., dict[str, Any]]
        if persistence_store is not None:
            self._handle = idempotent_function(
                data_keyword_argument="identity",
                persistence_store=persistence_store,
                config=self.idempotency_config,
            )(self._handle_once)
        else:
            self._handle = self._handle_once

    def process(self, ref: ObjectRef) -> dict[str, Any] | Skipped:
        """Process one object; returns its completion event (replayed from the store on duplicates).

        Returns
        -------
        dict or Skipped
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
            ref = self._looked_up(ref)  # S3 Batch Operations tasks name no ETag nor size: look them up
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
        if metric is not None and self._metrics is not None:
            with _best_effort():
                self._metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        return Skipped(reason)

    # Runs at most once per upload when idempotency is on: the store remembers the returned event.
    def _handle_once(self, identity: dict[str, str], ref: ObjectRef) -> dict[str, Any]:
        del identity  # only the idempotency key; ``ref`` carries the same facts
        attempt = _Attempt(ref)
        try:
            upload = self._read_upload(attempt)
            check = self._check_output(attempt, upload.output_key)
            if isinstance(check, dict):
                return self._announce_replayed(check)
            background = self._read_background(attempt, upload.options)
            result = self._engine.process(upload.body, upload.options, background=background)
            replay = self._write(attempt, upload, result, check)
            if replay is not None:
                return self._announce_replayed(replay)
        except InputError as error:
            return self._announce_failed(attempt, error)
        return self._announce_completed(attempt, upload.output_key, result)

    def _read_upload(self, attempt: _Attempt) -> _Upload:
        """The upload's bytes and what its metadata asks for; each fact lands on ``attempt`` once known."""
        began = time.perf_counter()
        body, user_metadata, attempt.input_size, attempt.last_modified = self._read(attempt.ref)
        attempt.timings["download"] = _ms_since(began)
        attempt.job_id = metadata.job_id_from_metadata(user_metadata)
        attempt.options = options = metadata.options_from_metadata(user_metadata)
        output_key = output_key_for(
            attempt.ref.key, output_format(options).extension, self._settings.output_prefix
        )
        return _Upload(body, options, output_key)

    def _write(
        self, attempt: _Attempt, upload: _Upload, result: Result, check: _WriteIf
    ) -> dict[str, Any] | None:
        """Write the output, tagged so that a retry can recognise it, if the output key still holds what
        ``check`` saw; otherwise look again: ``None`` once written, or the replayed event of an output
        a concurrent attempt wrote for this very upload.

        Raises
        ------
        SupersededError
            A later upload's result got there first.
        ClientError
            Still losing the race after a few rounds, or any other S3 fault: retried by the event source.
        """
        began = time.perf_counter()
        meta = metadata.result_metadata(
            result.report,
            source_key=attempt.ref.key,
            source_etag=attempt.ref.etag,
            source_sequencer=attempt.ref.sequencer,
            job_id=attempt.job_id,
            source_last_modified=attempt.last_modified,
        )
        for round_ in range(1, _WRITE_ATTEMPTS + 1):
            try:
                self._s3.put_object(
                    Bucket=self._settings.output_bucket,
                    Key=upload.output_key,
                    Body=result.data,
                    ContentType=result.content_type,
                    Metadata=meta,
                    **check.conditions(),
                )
            except ClientError as error:
                if _error_code(error) not in _WRITE_CONFLICT_CODES or round_ == _WRITE_ATTEMPTS:
                    raise
                logger.info("output changed since it was checked; checking again", extra={"round": round_})
                again = self._check_output(attempt, upload.output_key)
                if isinstance(again, dict):
                    return again
                check = again
            else:
                attempt.timings["upload"] = _ms_since(began)
                return None
        raise AssertionError("unreachable: the last round returns or raises")  # pragma: no cover

    # Metrics go before the publish: once the event is out, nothing may fail the attempt (a retry would
    # announce the upload again). Recording is best-effort besides, see ``_best_effort``.
    def _announce_completed(self, attempt: _Attempt, output_key: str, result: Result) -> dict[str, Any]:
        attempt.timings.update({f"engine_{k}": v for k, v in result.report.timings_ms.items()})
        end_to_end = attempt.timings["end_to_end"] = _ms_since(attempt.started)
        event = completion.completed_event(
            attempt.ref,
            job_id=attempt.job_id,
            input_size=attempt.input_size,
            output=completion.result_output(self._settings.output_bucket, output_key, result),
            report=result.report.to_dict(),
            timings_ms=attempt.timings,
        )
        self._record_success(result.report, end_to_end)
        event = self._publish(event)
        logger.info("processed", extra={"output_key": output_key, "timings_ms": event["timings_ms"]})
        return event

    def _announce_failed(self, attempt: _Attempt, error: InputError) -> dict[str, Any]:
        """The one place an upload is rejected: FAILED event with whatever was known when it failed."""
        attempt.timings["end_to_end"] = _ms_since(attempt.started)
        event = completion.failed_event(
            attempt.ref,
            job_id=attempt.job_id,
            input_size=attempt.input_size,
            error=error,
            model=self._engine.model_name(attempt.options.model if attempt.options else None),
            timings_ms=attempt.timings,
        )
        self._record_failure(error)
        event = self._publish(event)
        logger.warning("upload rejected", extra={"error": error.to_dict()})
        return event

    def _announce_replayed(self, event: dict[str, Any]) -> dict[str, Any]:
        # Only Replayed: the attempt that wrote the output recorded the rest before its publish failed.
        if self._metrics is not None:
            with _best_effort():
                self._metrics.add_metric(name=names.REPLAYED, unit=MetricUnit.Count, value=1)
        key = event["output"]["key"]
        logger.info("output already written by an earlier attempt; announcing it", extra={"key": key})
        return self._publish(event)

    def _publish(self, event: dict[str, Any]) -> dict[str, Any]:
        """Publish the upload's first decided event (see :class:`completion.EventOutbox`); returns it."""
        if self._outbox is not None:
            event = self._outbox.keep_first(event)
        self._publisher.publish(event)
        return event

    def _looked_up(self, ref: ObjectRef) -> ObjectRef:
        """``ref`` with the ETag and size of its object (of its version, if it names one)."""
        request = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            request["VersionId"] = ref.version_id
        try:
            head = self._s3.head_object(**request)
        except ClientError as error:
            if _error_code(error) in _MISSING_OBJECT_CODES:
                return ref  # reading it will report SOURCE_NOT_FOUND
            raise
        return replace(ref, etag=str(head.get("ETag", "")), size=head.get("ContentLength"))

    def _read(self, ref: ObjectRef) -> tuple[bytes, dict[str, str], int, datetime | None]:
        """One GetObject: the bytes, the user metadata (S3 events carry none), the size, ``LastModified``.

        The read must see the notified upload, its bytes and its options, and no other. On a versioned
        bucket it is pinned to the version. On an unversioned one it is pinned to the notified ETag: if
        the key was overwritten since, this upload is superseded (the newer one has its own event). The
        same bytes uploaded again keep the ETag but bring their own metadata: an object last modified
        after the notification's time (S3 sets ``LastModified`` when an upload starts, ``eventTime``
        when it ends, so the notified upload itself is never later) is such a later upload, and this
        upload is superseded too.

        Raises
        ------
        SourceNotFoundError
            The object (or version) was deleted.
        SupersededError
            A later upload replaced the notified one.
        ImageTooLargeError
            Over ``MAX_INPUT_BYTES``; the body is not read.
        """
        where = f"s3://{ref.bucket}/{ref.key}"
        request: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            request["VersionId"] = ref.version_id
        elif ref.etag:
            request["IfMatch"] = f'"{ref.etag}"'
        try:
            response = self._s3.get_object(**request)
        except ClientError as error:
            code = _error_code(error)
            if code in _MISSING_OBJECT_CODES:
                raise SourceNotFoundError(f"{where} no longer exists") from None
            if code in _CHANGED_OBJECT_CODES:
                raise SupersededError(
                    f"{where} was overwritten by a newer upload (another ETag) before this upload "
                    f"(ETag {ref.etag}) could be read"
                ) from None
            raise
        last_modified: datetime | None = response.get("LastModified")
        if (
            not ref.version_id
            and ref.event_time is not None
            and last_modified is not None
            and last_modified > ref.event_time + CLOCK_TOLERANCE
        ):
            response["Body"].close()
            newer = f"ETag {ref.etag}, last modified {_utc(last_modified, 'seconds')}"
            newer_job = metadata.job_id_from_metadata(response.get("Metadata") or {})
            raise SupersededError(
                f"{where} was uploaded again with the same bytes ({newer}"
                f"{f', job-id {newer_job}' if newer_job else ''}) after this upload "
                f"({_utc(ref.event_time, 'milliseconds')}): the newer upload has its own event"
            )
        length = int(response.get("ContentLength") or 0)
        if length > self._settings.max_input_bytes:
            response["Body"].close()
            limit = self._settings.max_input_bytes
            raise ImageTooLargeError(f"the object is {_mib(length)}; the limit is {_mib(limit)}")
        body: bytes = response["Body"].read()
        return body, dict(response.get("Metadata") or {}), len(body), last_modified

    def _read_background(self, attempt: _Attempt, options: Options) -> bytes | None:
        """The bytes of the ``background-image`` the upload names: a key in the upload's own bucket.

        Read after the output check, so a retry that only has to announce an earlier result never needs it.
        Not pinned to a version: the background is whatever the key holds when the upload is processed.

        Raises
        ------
        BackgroundNotFoundError
            No such object (a FAILED event, not a retry: the same key will be missing next time too).
        InvalidOptionError
            The key is longer than S3 allows, or the object is over ``MAX_INPUT_BYTES`` (not read).
        """
        key = options.background_image
        if key is None:
            return None
        if len(key.encode()) > MAX_KEY_BYTES:
            raise InvalidOptionError("background_image", f"is not an S3 key: over {MAX_KEY_BYTES} bytes")
        began = time.perf_counter()
        where = f"s3://{attempt.ref.bucket}/{key}"
        try:
            response = self._s3.get_object(Bucket=attempt.ref.bucket, Key=key)
        except ClientError as error:
            if _error_code(error) in _MISSING_OBJECT_CODES:
                raise BackgroundNotFoundError(f"background_image: {where} does not exist") from None
            raise
        length = int(response.get("ContentLength") or 0)
        if length > self._settings.max_input_bytes:
            response["Body"].close()
            limit = _mib(self._settings.max_input_bytes)
            raise InvalidOptionError("background_image", f"{where} is {_mib(length)}; the limit is {limit}")
        body: bytes = response["Body"].read()
        attempt.timings["download_background"] = _ms_since(began)
        return body

    def _check_output(self, attempt: _Attempt, output_key: str) -> dict[str, Any] | _WriteIf:
        """What to do about what the output key holds now.

        Returns
        -------
        dict or _WriteIf
            The replayed COMPLETED event when the output is this very upload's result (a retry after a
            partial success: output written, event not published, must neither write a second output
            nor skip the event); otherwise the condition under which to write it.

        Raises
        ------
        SupersededError
            The output is the result of a later upload of the same key.
        """
        ref = attempt.ref
        try:
            head = self._s3.head_object(Bucket=self._settings.output_bucket, Key=output_key)
        except ClientError as error:
            if _error_code(error) in _MISSING_OBJECT_CODES:
                return _WriteIf(None)
            raise
        written = head.get("Metadata") or {}
        newer = metadata.newer_source(
            written,
            source_key=ref.key,
            source_sequencer=ref.sequencer,
            source_last_modified=attempt.last_modified,
        )
        if newer is not None:
            raise SupersededError(
                f"s3://{self._settings.output_bucket}/{output_key} already holds the result of a newer "
                f"upload of s3://{ref.bucket}/{ref.key} ({newer}); this upload's result is not written"
            )
        write = _WriteIf(str(head.get("ETag") or "") or None)
        replay = self._replay(attempt, output_key, head) if ref.etag else None
        return write if replay is None else replay

    def _replay(self, attempt: _Attempt, output_key: str, head: dict[str, Any]) -> dict[str, Any] | None:
        """The replayed COMPLETED event if ``head`` (the output's) names this upload as its source."""
        ref = attempt.ref
        written = head.get("Metadata") or {}
        if not metadata.is_result_of(
            written,
            source_etag=ref.etag or "",
            source_sequencer=ref.sequencer,
            source_last_modified=attempt.last_modified,
        ):
            return None  # another upload's result under the same key: process this one
        content_type = head.get("ContentType", "application/octet-stream")
        report = metadata.report_from_metadata(written, content_type=content_type)
        if report is None:
            logger.warning(
                "output claims this upload but its metadata is unreadable; processing the upload again",
                extra={"output_key": output_key},
            )
            return None
        size = int(head.get("ContentLength", 0))
        return completion.replayed_event(
            ref,
            job_id=attempt.job_id,
            input_size=attempt.input_size,
            output=completion.stored_output(self._settings.output_bucket, output_key, size, report),
            report=report,
        )

    def _record_success(self, report: Report, end_to_end_ms: float) -> None:
        if report.fallback:
            logger.warning(
                "inference ran in the function: its endpoint was unavailable", extra={"why": report.fallback}
            )
        if self._metrics is None:
            return
        width, height = report.input_size
        megapixels = width * height / 1e6
        with _best_effort():
            self._metrics.add_metric(name=names.PROCESSED, unit=MetricUnit.Count, value=1)
            if report.fallback:
                self._metrics.add_metric(name=names.INFERENCE_FALLBACK, unit=MetricUnit.Count, value=1)
            inference_ms = report.timings_ms.get("inference", 0)
            self._metrics.add_metric(
                name=names.INFERENCE_MS, unit=MetricUnit.Milliseconds, value=inference_ms
            )
            self._metrics.add_metric(
                name=names.END_TO_END_MS, unit=MetricUnit.Milliseconds, value=end_to_end_ms
            )
            self._metrics.add_metric(name=names.INPUT_MEGAPIXELS, unit=MetricUnit.Count, value=megapixels)
        with _best_effort():
            self._record_stages(report, end_to_end_ms, megapixels)

    def _record_stages(self, report: Report, end_to_end_ms: float, megapixels: float) -> None:
        """Per-stage times by Model and SizeBand: their own EMF line (other dimensions than the batch's)."""
        if self._metrics is None or is_metrics_disabled():
            return
        stages = EphemeralMetrics(namespace=self._metrics.namespace, service="")  # Model, SizeBand only
        stages.add_dimension(name="Model", value=report.model)
        stages.add_dimension(name="SizeBand", value=names.size_band(megapixels))
        timings = report.timings_ms
        for name, value in (
            (names.DECODE_MS, timings.get("decode", 0)),
            (names.INFERENCE_MS, timings.get("inference", 0)),
            (names.ENCODE_MS, timings.get("encode", 0)),
            (names.END_TO_END_MS, end_to_end_ms),
        ):
            stages.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
        stages.flush_metrics()

    def _record_failure(self, error: BgRemoveError) -> None:
        if self._metrics is None:
            return
        with _best_effort():
            self._metrics.add_metric(name=names.FAILED, unit=MetricUnit.Count, value=1)
            if isinstance(error, SupersededError):
                self._metrics.add_metric(name=names.SUPERSEDED, unit=MetricUnit.Count, value=1)
            if is_metrics_disabled():
                return
            # Per-code counts need their own dimension, so they go out as a separate EMF blob. It names the
            # namespace itself: single_metric would otherwise read POWERTOOLS_METRICS_NAMESPACE, which the
            # handler treats as optional, and raise where it is unset.
            with single_metric(
                name=names.FAILED_BY_CODE, unit=MetricUnit.Count, value=1, namespace=self._metrics.namespace
            ) as by_code:
                by_code.add_dimension(name="ErrorCode", value=error.code)


@contextmanager
def _best_effort() -> Iterator[None]:
    """Metrics are best-effort: a fault in recording them is logged and never fails the upload.

    Failing the upload would make the event source deliver it again, and the retry would announce it a
    second time; a lost data point is the smaller harm.
    """
    try:
        yield
    except Exception:  # any fault of the metrics library or its configuration
        logger.warning("metrics not recorded", exc_info=True)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _utc(moment: datetime, timespec: str) -> str:
    """``2026-11-21T12:00:00Z`` (or with milliseconds): how S3 writes times."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def _ms_since(began: float) -> float:
    return (time.perf_counter() - began) * 1000


def _mib(size: int) -> str:
    """A byte count in MiB: whole MiB without decimals, one decimal above 1 MiB, two digits below."""
    if size % _MIB == 0:
        return f"{size // _MIB} MiB"
    return f"{size / _MIB:.1f} MiB" if size > _MIB else f"{size / _MIB:.2g} MiB"
