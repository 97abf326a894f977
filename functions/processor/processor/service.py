"""Process one uploaded object end to end: read, remove background, write, announce.

The service holds no global state: the engine, AWS clients and the idempotency store are passed in, so
tests and the local runner build it against moto and the Lambda handler against AWS.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
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
from processor import completion, metadata
from processor.exceptions import SourceNotFoundError
from processor.settings import SERVICE_NAME, ProcessorSettings
from processor.sources import ObjectRef

logger = Logger(service=SERVICE_NAME, child=True)

_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
_CHANGED_OBJECT_CODES = frozenset({"PreconditionFailed", "412"})
_MIB = 1024 * 1024


def output_key_for(source_key: str, extension: str, prefix: str) -> str:
    """``photos/cat.jpg`` -> ``<prefix>photos/cat.png``.

    Inputs that differ only by extension (``cat.jpg``, ``cat.png``) map to the same output key; the later
    upload wins. Upload such files under different names, or read ``source-key`` from the output's metadata.
    """
    stem, dot, suffix = source_key.rpartition(".")
    base = stem if dot and "/" not in suffix and stem and not stem.endswith("/") else source_key
    return f"{prefix}{base}.{extension}"


def s3_model_fetcher(s3_client: Any) -> Callable[[str, Path], None]:
    """A :data:`bgremove.ModelFetcher` that downloads ``s3://bucket/key`` models with boto3."""

    def fetch(uri: str, destination: Path) -> None:
        parsed = urlparse(uri)
        s3_client.download_file(parsed.netloc, parsed.path.lstrip("/"), str(destination))

    return fetch


@dataclass
class _Attempt:
    """What one attempt at an upload has learnt so far: a FAILED event reports whatever is known."""

    ref: ObjectRef
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    job_id: str | None = None
    input_size: int | None = None
    options: Options | None = None


@dataclass(frozen=True)
class _Upload:
    body: bytes
    options: Options
    output_key: str


class ImageProcessor:
    """Turns one :class:`ObjectRef` into an output object and exactly one completion event.

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
    ) -> None:
        self._engine = engine
        self._s3 = s3_client
        self._publisher = publisher
        self._settings = settings
        self._metrics = metrics
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

    def process(self, ref: ObjectRef) -> dict[str, Any]:
        """Process one object; returns its completion event (replayed from the store on duplicates).

        Raises
        ------
        Exception
            Anything but an input problem (throttling, 5xx, timeouts, publish failures, model faults):
            the caller reports the item as failed so the event source delivers it again.
        """
        if ref.etag is None and ref.version_id is None:
            ref = self._with_etag(ref)  # S3 Batch Operations tasks name no ETag: look it up
        logger.append_keys(bucket=ref.bucket, key=ref.key, version_id=ref.version_id)
        logger.set_correlation_id(completion.event_id_for(ref))
        try:
            event = self._handle(identity=ref.identity(), ref=ref)
        finally:
            logger.remove_keys(["bucket", "key", "version_id"])
        return event

    # Runs at most once per upload when idempotency is on: the store remembers the returned event.
    def _handle_once(self, identity: dict[str, str], ref: ObjectRef) -> dict[str, Any]:
        del identity  # only the idempotency key; ``ref`` carries the same facts
        attempt = _Attempt(ref)
        try:
            upload = self._read_upload(attempt)
            replay = self._existing_output(attempt, upload.output_key)
            if replay is not None:
                return self._announce_replayed(replay)
            result = self._produce(attempt, upload)
        except InputError as error:
            return self._announce_failed(attempt, error)
        return self._announce_completed(attempt, upload.output_key, result)

    def _read_upload(self, attempt: _Attempt) -> _Upload:
        """The upload's bytes and what its metadata asks for; each fact lands on ``attempt`` once known."""
        began = time.perf_counter()
        body, user_metadata, attempt.input_size = self._read(attempt.ref)
        attempt.timings["download"] = _ms_since(began)
        attempt.job_id = metadata.job_id_from_metadata(user_metadata)
        attempt.options = options = metadata.options_from_metadata(user_metadata)
        output_key = output_key_for(
            attempt.ref.key, output_format(options).extension, self._settings.output_prefix
        )
        return _Upload(body, options, output_key)

    def _produce(self, attempt: _Attempt, upload: _Upload) -> Result:
        """Remove the background and write the output, tagged so that a retry can recognise it."""
        result = self._engine.process(upload.body, upload.options)
        began = time.perf_counter()
        self._s3.put_object(
            Bucket=self._settings.output_bucket,
            Key=upload.output_key,
            Body=result.data,
            ContentType=result.content_type,
            Metadata=metadata.result_metadata(
                result.report,
                source_key=attempt.ref.key,
                source_etag=attempt.ref.etag,
                source_sequencer=attempt.ref.sequencer,
                job_id=attempt.job_id,
            ),
        )
        attempt.timings["upload"] = _ms_since(began)
        return result

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
        self._publisher.publish(event)
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
        self._publisher.publish(event)
        logger.warning("upload rejected", extra={"error": error.to_dict()})
        return event

    def _announce_replayed(self, event: dict[str, Any]) -> dict[str, Any]:
        # No metrics: the attempt that wrote the output recorded them before its publish failed.
        key = event["output"]["key"]
        logger.info("output already written by an earlier attempt; announcing it", extra={"key": key})
        self._publisher.publish(event)
        return event

    def _with_etag(self, ref: ObjectRef) -> ObjectRef:
        try:
            head = self._s3.head_object(Bucket=ref.bucket, Key=ref.key)
        except ClientError as error:
            if _error_code(error) in _MISSING_OBJECT_CODES:
                return ref  # reading it will report SOURCE_NOT_FOUND
            raise
        return replace(ref, etag=str(head.get("ETag", "")), size=head.get("ContentLength"))

    def _read(self, ref: ObjectRef) -> tuple[bytes, dict[str, str], int]:
        """One GetObject: the bytes and the user metadata (S3 events carry no metadata).

        On an unversioned bucket the read is pinned to the notified ETag: if the key was overwritten in the
        meantime, these bytes are not the upload this event is about (its own event will follow).
        """
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
                raise SourceNotFoundError(f"s3://{ref.bucket}/{ref.key} no longer exists") from None
            if code in _CHANGED_OBJECT_CODES:
                raise SourceNotFoundError(
                    f"s3://{ref.bucket}/{ref.key} was overwritten before this upload could be read"
                ) from None
            raise
        length = int(response.get("ContentLength") or 0)
        if length > self._settings.max_input_bytes:
            response["Body"].close()
            limit = self._settings.max_input_bytes
            raise ImageTooLargeError(f"the object is {_mib(length)}; the limit is {_mib(limit)}")
        body: bytes = response["Body"].read()
        return body, dict(response.get("Metadata") or {}), len(body)

    def _existing_output(self, attempt: _Attempt, output_key: str) -> dict[str, Any] | None:
        """The COMPLETED event of an output an earlier attempt wrote for this very upload, if any.

        A retry after a partial success (output written, event not published) must neither write a
        second output nor skip the event.
        """
        ref = attempt.ref
        if not ref.etag:
            return None
        try:
            head = self._s3.head_object(Bucket=self._settings.output_bucket, Key=output_key)
        except ClientError as error:
            if _error_code(error) in _MISSING_OBJECT_CODES:
                return None
            raise
        written = head.get("Metadata") or {}
        if not metadata.is_result_of(written, source_etag=ref.etag, source_sequencer=ref.sequencer):
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
        if self._metrics is None:
            return
        width, height = report.input_size
        with _best_effort():
            self._metrics.add_metric(name="Processed", unit=MetricUnit.Count, value=1)
            inference_ms = report.timings_ms.get("inference", 0)
            self._metrics.add_metric(name="InferenceMs", unit=MetricUnit.Milliseconds, value=inference_ms)
            self._metrics.add_metric(name="EndToEndMs", unit=MetricUnit.Milliseconds, value=end_to_end_ms)
            self._metrics.add_metric(
                name="InputMegapixels", unit=MetricUnit.Count, value=width * height / 1e6
            )

    def _record_failure(self, error: BgRemoveError) -> None:
        if self._metrics is None:
            return
        with _best_effort():
            self._metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
            if is_metrics_disabled():
                return
            # Per-code counts need their own dimension, so they go out as a separate EMF blob. It names the
            # namespace itself: single_metric would otherwise read POWERTOOLS_METRICS_NAMESPACE, which the
            # handler treats as optional, and raise where it is unset.
            with single_metric(
                name="FailedByCode", unit=MetricUnit.Count, value=1, namespace=self._metrics.namespace
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


def _ms_since(began: float) -> float:
    return (time.perf_counter() - began) * 1000


def _mib(size: int) -> str:
    """A byte count in MiB: whole MiB without decimals, one decimal above 1 MiB, two digits below."""
    if size % _MIB == 0:
        return f"{size // _MIB} MiB"
    return f"{size / _MIB:.1f} MiB" if size > _MIB else f"{size / _MIB:.2g} MiB"
