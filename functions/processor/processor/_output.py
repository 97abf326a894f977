"""Where an upload's result goes: its key, what the key holds now, and the conditional write.

An output made from a later upload of the key is never replaced, and the write is conditional on what
was checked, so that a concurrent writer cannot slip in between the check and the write.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from bgremove import Result
from bgremove.events import CompletionEvent
from processor import completion, metadata
from processor._attempt import Attempt, ms_since
from processor._s3 import MAX_KEY_BYTES, MISSING_OBJECT_CODES, error_code
from processor.exceptions import SupersededError
from processor.settings import SERVICE_NAME

logger = Logger(service=SERVICE_NAME, child=True)

# A conditional write lost a race: 412 when the condition failed, 409 when S3 saw two at once.
_WRITE_CONFLICT_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
_WRITE_ATTEMPTS = 3


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


@dataclass(frozen=True)
class WriteIf:
    """Write the output only if its key still holds what was checked: ``etag``, or nothing if ``None``."""

    etag: str | None

    def conditions(self) -> dict[str, str]:
        """PutObject's conditional-write arguments."""
        return {"IfMatch": self.etag} if self.etag else {"IfNoneMatch": "*"}


class OutputBucket:
    """The output bucket as one upload's attempt sees it: check the key, then write it conditionally.

    Parameters
    ----------
    s3_client
        boto3 S3 client.
    bucket
        The output bucket.
    """

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def check(self, attempt: Attempt, output_key: str) -> CompletionEvent | WriteIf:
        """What to do about what the output key holds now.

        Returns
        -------
        CompletionEvent or WriteIf
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
            head = self._s3.head_object(Bucket=self._bucket, Key=output_key)
        except ClientError as error:
            if error_code(error) in MISSING_OBJECT_CODES:
                return WriteIf(None)
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
                f"s3://{self._bucket}/{output_key} already holds the result of a newer "
                f"upload of s3://{ref.bucket}/{ref.key} ({newer}); this upload's result is not written"
            )
        write = WriteIf(str(head.get("ETag") or "") or None)
        replay = self._replay(attempt, output_key, head) if ref.etag else None
        return write if replay is None else replay

    def write(
        self, attempt: Attempt, output_key: str, result: Result, check: WriteIf
    ) -> CompletionEvent | None:
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
                    Bucket=self._bucket,
                    Key=output_key,
                    Body=result.data,
                    ContentType=result.content_type,
                    Metadata=meta,
                    **check.conditions(),
                )
            except ClientError as error:
                if error_code(error) not in _WRITE_CONFLICT_CODES or round_ == _WRITE_ATTEMPTS:
                    raise
                logger.info("output changed since it was checked; checking again", extra={"round": round_})
                again = self.check(attempt, output_key)
                if isinstance(again, CompletionEvent):
                    return again
                check = again
            else:
                attempt.timings["upload"] = ms_since(began)
                return None
        raise AssertionError("unreachable: the last round returns or raises")  # pragma: no cover

    def _replay(self, attempt: Attempt, output_key: str, head: dict[str, Any]) -> CompletionEvent | None:
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
        return completion.replayed(
            ref,
            job_id=attempt.job_id,
            input_size=attempt.input_size,
            output=completion.stored_output(self._bucket, output_key, size, report),
            report=report,
        )
