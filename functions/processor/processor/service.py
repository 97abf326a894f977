"""Process one uploaded object end to end: read, remove background, write, announce.

The service holds no global state: the engine, AWS clients and the idempotency store are passed in, so
tests and the local runner build it against moto and the Lambda handler against AWS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
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

from bgremove import BgRemoveError, Engine, ImageTooLargeError, InputError, Options, output_format
from processor import completion, metadata
from processor.exceptions import SourceNotFoundError
from processor.settings import SERVICE_NAME, ProcessorSettings
from processor.sources import ObjectRef

logger = Logger(service=SERVICE_NAME, child=True)

_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
_CHANGED_OBJECT_CODES = frozenset({"PreconditionFailed", "412"})


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
        Powertools metrics to record into.
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
        started = time.perf_counter()
        timings: dict[str, float] = {}
        job_id: str | None = None
        input_size: int | None = None
        options: Options | None = None
        try:
            began = time.perf_counter()
            body, user_metadata, input_size = self._read(ref)
            timings["download"] = (time.perf_counter() - began) * 1000
            job_id = metadata.job_id_from_metadata(user_metadata)
            options = metadata.options_from_metadata(user_metadata)
            fmt = output_format(options)
            output_key = output_key_for(ref.key, fmt.extension, self._settings.output_prefix)
            replay = self._existing_output(ref, output_key, job_id, input_size)
            if replay is not None:
                logger.info(
                    "output already written by an earlier attempt; announcing it", extra={"key": output_key}
                )
                self._publisher.publish(replay)
                return replay
            result = self._engine.process(body, options)
            began = time.perf_counter()
            self._s3.put_object(
                Bucket=self._settings.output_bucket,
                Key=output_key,
                Body=result.data,
                ContentType=result.content_type,
                Metadata=metadata.result_metadata(
                    result.report,
                    source_key=ref.key,
                    source_etag=ref.etag,
                    source_sequencer=ref.sequencer,
                    job_id=job_id,
                ),
            )
            timings["upload"] = (time.perf_counter() - began) * 1000
        except InputError as error:
            timings["end_to_end"] = (time.perf_counter() - started) * 1000
            model = (options.model if options else None) or self._engine.settings.default_model
            event = completion.failed_event(
                ref, job_id=job_id, input_size=input_size, error=error, model=model, timings_ms=timings
            )
            self._publisher.publish(event)
            self._record_failure(error)
            logger.warning("upload rejected", extra={"error": error.to_dict()})
            return event

        timings.update({f"engine_{k}": v for k, v in result.report.timings_ms.items()})
        timings["end_to_end"] = (time.perf_counter() - started) * 1000
        event = completion.completed_event(
            ref,
            job_id=job_id,
            input_size=input_size,
            output=completion.result_output(self._settings.output_bucket, output_key, result),
            report=result.report.to_dict(),
            timings_ms=timings,
        )
        self._publisher.publish(event)
        self._record_success(result.report.timings_ms, timings["end_to_end"], result.report.input_size)
        logger.info("processed", extra={"output_key": output_key, "timings_ms": event["timings_ms"]})
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
            limit_mb = self._settings.max_input_bytes / 1e6
            raise ImageTooLargeError(f"the object is {length / 1e6:.1f} MB; the limit is {limit_mb:.0f} MB")
        body: bytes = response["Body"].read()
        return body, dict(response.get("Metadata") or {}), len(body)

    def _existing_output(
        self, ref: ObjectRef, output_key: str, job_id: str | None, input_size: int | None
    ) -> dict[str, Any] | None:
        """The COMPLETED event of an output an earlier attempt wrote for this very upload, if any.

        A retry after a partial success (output written, event not published) must neither write a
        second output nor skip the event.
        """
        if not ref.etag:
            return None
        try:
            head = self._s3.head_object(Bucket=self._settings.output_bucket, Key=output_key)
        except ClientError as error:
            if _error_code(error) in _MISSING_OBJECT_CODES:
                return None
            raise
        written = head.get("Metadata") or {}
        same_upload = written.get("source-etag") == ref.etag and written.get("source-sequencer", "") == (
            ref.sequencer or ""
        )
        if not same_upload:
            return None  # another upload's result under the same key: process this one
        width, height = (int(v) for v in written.get("result-size", "0 0").split())
        output = completion.OutputObject(
            self._settings.output_bucket,
            output_key,
            head.get("ContentType", "application/octet-stream"),
            int(head.get("ContentLength", 0)),
            width,
            height,
        )
        report = {
            "input_size": [int(v) for v in written.get("input-size", "0 0").split()],
            "result_size": [width, height],
            "orientation": int(written.get("input-orientation", "1")),
            "input_foreground": _parse_box(written.get("input-foreground")),
            "result_foreground": _parse_box(written.get("result-foreground")),
            "model": written.get("model"),
            "format": written.get("format"),
            "content_type": output.content_type,
            "source_format": written.get("source-format"),
            "replayed": True,
        }
        return completion.completed_event(
            ref, job_id=job_id, input_size=input_size, output=output, report=report, timings_ms={}
        )

    def _record_success(self, stages: dict[str, float], end_to_end_ms: float, size: tuple[int, int]) -> None:
        if self._metrics is None:
            return
        self._metrics.add_metric(name="Processed", unit=MetricUnit.Count, value=1)
        self._metrics.add_metric(
            name="InferenceMs", unit=MetricUnit.Milliseconds, value=stages.get("inference", 0)
        )
        self._metrics.add_metric(name="EndToEndMs", unit=MetricUnit.Milliseconds, value=end_to_end_ms)
        self._metrics.add_metric(name="InputMegapixels", unit=MetricUnit.Count, value=size[0] * size[1] / 1e6)

    def _record_failure(self, error: BgRemoveError) -> None:
        if self._metrics is None:
            return
        self._metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
        if is_metrics_disabled():
            return
        # Per-code counts need their own dimension, so they go out as a separate EMF blob.
        with single_metric(name="FailedByCode", unit=MetricUnit.Count, value=1) as by_code:
            by_code.add_dimension(name="ErrorCode", value=error.code)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _parse_box(text: str | None) -> list[int] | None:
    if not text or text == "none":
        return None
    return [int(v) for v in text.split()]
