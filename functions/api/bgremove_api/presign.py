"""Presigned GET URLs for results in the output bucket: the one way the API, the async dialects and the
webhooks hand a client a result it may read without AWS credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.config import Config

__all__ = ["S3_PRESIGN_CONFIG", "Presigner"]

S3_PRESIGN_CONFIG = Config(signature_version="s3v4")
"""SigV4 (``X-Amz-Expires``): botocore may still presign S3 GETs with SigV2 otherwise."""


@dataclass(frozen=True)
class Presigner:
    """Presigns GETs of objects in ``bucket``, valid ``ttl_s`` seconds.

    Attributes
    ----------
    s3
        A boto3 S3 client made with :data:`S3_PRESIGN_CONFIG` (merged into its config).
    bucket
        The output bucket.
    ttl_s
        How long a URL stays valid (``RESULT_URL_TTL_S``).
    """

    s3: Any
    bucket: str
    ttl_s: int

    def url(self, key: str) -> str:
        """A presigned GET of ``key``; no request is made."""
        url: str = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.ttl_s
        )
        return url
