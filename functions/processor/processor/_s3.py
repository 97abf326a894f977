"""What the service must know of S3 itself: its key limit, and which error codes say an object is gone."""

from __future__ import annotations

from botocore.exceptions import ClientError

MAX_KEY_BYTES = 1024
"""S3's limit on an object key, in UTF-8 bytes."""

MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})
"""Codes of a request for an object (or version) that is not there: GetObject's, and HeadObject's bare 404."""


def error_code(error: ClientError) -> str:
    """The S3 error code of ``error`` (``NoSuchKey``, ``412``...), or empty when it carries none."""
    return str(error.response.get("Error", {}).get("Code", ""))
