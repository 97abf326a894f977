"""Reading the upload: exactly the notified one, its bytes and its options, and the background it names."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from bgremove import ImageTooLargeError
from bgremove.exceptions import BackgroundNotFoundError, InvalidOptionError
from processor import metadata
from processor._s3 import MAX_KEY_BYTES, MISSING_OBJECT_CODES, error_code
from processor.exceptions import SourceNotFoundError, SupersededError
from processor.sources import ObjectRef

_CHANGED_OBJECT_CODES = frozenset({"PreconditionFailed", "412"})
_MIB = 1024 * 1024

CLOCK_TOLERANCE = timedelta(seconds=1)
"""How much later than the notification's time an object's ``LastModified`` must be to count as a later
upload (see :func:`read_source`): a margin for clock differences inside S3."""


@dataclass(frozen=True)
class SourceObject:
    """One read of the upload.

    Attributes
    ----------
    body
        Its bytes.
    user_metadata
        Its S3 user metadata (the options; S3 events carry none).
    size
        Bytes read.
    last_modified
        Its ``LastModified``, when S3 gave one.
    """

    body: bytes
    user_metadata: dict[str, str]
    size: int
    last_modified: datetime | None


def looked_up(s3_client: Any, ref: ObjectRef) -> ObjectRef:
    """``ref`` with the ETag and size of its object (of its version, if it names one)."""
    request = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        request["VersionId"] = ref.version_id
    try:
        head = s3_client.head_object(**request)
    except ClientError as error:
        if error_code(error) in MISSING_OBJECT_CODES:
            return ref  # reading it will report SOURCE_NOT_FOUND
        raise
    return replace(ref, etag=str(head.get("ETag", "")), size=head.get("ContentLength"))


def read_source(s3_client: Any, ref: ObjectRef, max_bytes: int) -> SourceObject:
    """One GetObject of the notified upload.

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
        Over ``max_bytes``; the body is not read.
    """
    where = f"s3://{ref.bucket}/{ref.key}"
    request: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        request["VersionId"] = ref.version_id
    elif ref.etag:
        request["IfMatch"] = f'"{ref.etag}"'
    try:
        response = s3_client.get_object(**request)
    except ClientError as error:
        code = error_code(error)
        if code in MISSING_OBJECT_CODES:
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
    if length > max_bytes:
        response["Body"].close()
        raise ImageTooLargeError(f"the object is {_mib(length)}; the limit is {_mib(max_bytes)}")
    body: bytes = response["Body"].read()
    return SourceObject(body, dict(response.get("Metadata") or {}), len(body), last_modified)


def read_background(s3_client: Any, bucket: str, key: str, max_bytes: int) -> bytes:
    """The bytes of the ``background-image`` an upload names: ``key`` in the upload's own ``bucket``.

    Not pinned to a version: the background is whatever the key holds when the upload is processed.

    Raises
    ------
    BackgroundNotFoundError
        No such object (a FAILED event, not a retry: the same key will be missing next time too).
    InvalidOptionError
        The key is longer than S3 allows, or the object is over ``max_bytes`` (not read).
    """
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidOptionError("background_image", f"is not an S3 key: over {MAX_KEY_BYTES} bytes")
    where = f"s3://{bucket}/{key}"
    try:
        response = s3_client.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING_OBJECT_CODES:
            raise BackgroundNotFoundError(f"background_image: {where} does not exist") from None
        raise
    length = int(response.get("ContentLength") or 0)
    if length > max_bytes:
        response["Body"].close()
        limit = _mib(max_bytes)
        raise InvalidOptionError("background_image", f"{where} is {_mib(length)}; the limit is {limit}")
    body: bytes = response["Body"].read()
    return body


def _utc(moment: datetime, timespec: str) -> str:
    """``2026-11-21T12:00:00Z`` (or with milliseconds): how S3 writes times."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def _mib(size: int) -> str:
    """A byte count in MiB: whole MiB without decimals, one decimal above 1 MiB, two digits below."""
    if size % _MIB == 0:
        return f"{size // _MIB} MiB"
    return f"{size / _MIB:.1f} MiB" if size > _MIB else f"{size / _MIB:.2g} MiB"
