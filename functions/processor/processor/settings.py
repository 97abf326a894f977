"""Function settings: every environment variable named once, read once into one typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


class Env:
    """Environment variables the function reads (template.yaml sets them)."""

    OUTPUT_BUCKET = "OUTPUT_BUCKET"
    OUTPUT_PREFIX = "OUTPUT_PREFIX"
    COMPLETION_TOPIC_ARN = "COMPLETION_TOPIC_ARN"
    IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
    IDEMPOTENCY_TTL_SECONDS = "IDEMPOTENCY_TTL_SECONDS"
    SAGEMAKER_ENDPOINT_NAME = "SAGEMAKER_ENDPOINT_NAME"
    MAX_INPUT_BYTES = "MAX_INPUT_BYTES"
    SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
    METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"


DEFAULT_METRICS_NAMESPACE = "BgRemove"
# A 32 MP image (the decoder's limit) is at most ~100 MB even as an uncompressed 8-bit RGB TIFF.
DEFAULT_MAX_INPUT_BYTES = 100 * 1024 * 1024
# Loggers are created at import; template.yaml sets the name, the default serves local runs and tests.
SERVICE_NAME = os.environ.get(Env.SERVICE_NAME, "bgremove")


class SettingsError(ValueError):
    """A required setting is missing or malformed (a deployment fault)."""


@dataclass(frozen=True)
class ProcessorSettings:
    """Where results and events go.

    Parameters
    ----------
    output_bucket
        Bucket that receives results (never the input bucket: that would re-trigger the function).
    output_prefix
        Prepended to every output key, e.g. ``"results/"``.
    topic_arn
        SNS topic for completion events.
    idempotency_table
        DynamoDB table for de-duplicating S3's at-least-once deliveries; empty disables it (local runs).
    idempotency_ttl_seconds
        How long a processed object is remembered.
    sagemaker_endpoint
        Reserved for offloading inference to a SageMaker endpoint; not used by this version.
    max_input_bytes
        Larger objects fail with ``IMAGE_TOO_LARGE`` before their bytes are read (protects memory).
    """

    output_bucket: str
    topic_arn: str
    output_prefix: str = ""
    idempotency_table: str = ""
    idempotency_ttl_seconds: int = 86_400
    sagemaker_endpoint: str = ""
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProcessorSettings:
        env = os.environ if environ is None else environ
        missing = [name for name in (Env.OUTPUT_BUCKET, Env.COMPLETION_TOPIC_ARN) if not env.get(name)]
        if missing:
            raise SettingsError(f"missing environment variables: {', '.join(missing)}")
        ttl_raw = env.get(Env.IDEMPOTENCY_TTL_SECONDS) or "86400"
        if not ttl_raw.isdigit() or int(ttl_raw) < 60:
            raise SettingsError(f"{Env.IDEMPOTENCY_TTL_SECONDS} must be an integer >= 60, got {ttl_raw!r}")
        max_bytes_raw = env.get(Env.MAX_INPUT_BYTES) or str(DEFAULT_MAX_INPUT_BYTES)
        if not max_bytes_raw.isdigit() or int(max_bytes_raw) < 1024:
            raise SettingsError(f"{Env.MAX_INPUT_BYTES} must be an integer >= 1024, got {max_bytes_raw!r}")
        return cls(
            max_input_bytes=int(max_bytes_raw),
            output_bucket=env[Env.OUTPUT_BUCKET],
            topic_arn=env[Env.COMPLETION_TOPIC_ARN],
            output_prefix=env.get(Env.OUTPUT_PREFIX, ""),
            idempotency_table=env.get(Env.IDEMPOTENCY_TABLE, ""),
            idempotency_ttl_seconds=int(ttl_raw),
            sagemaker_endpoint=env.get(Env.SAGEMAKER_ENDPOINT_NAME, ""),
        )
