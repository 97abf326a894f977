"""AWS plumbing every part of the API shares: reading an error's code from a boto3 ``ClientError``."""

from __future__ import annotations

from botocore.exceptions import ClientError

__all__ = ["MISSING_OBJECT_CODES", "error_code"]

MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
"""What S3 answers for an object that is not there (``GetObject``, ``HeadObject``)."""


def error_code(error: ClientError) -> str:
    """The AWS error code of ``error`` (``""`` when the answer has none)."""
    return str(error.response.get("Error", {}).get("Code", ""))
