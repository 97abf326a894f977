"""Function settings: every environment variable named once, read once into one typed object."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bgremove import env as setting
from bgremove.exceptions import ConfigurationError


class Env:
    """Environment variables the function reads (template.yaml sets them)."""

    INPUT_BUCKETS = "INPUT_BUCKETS"
    OUTPUT_BUCKET = "OUTPUT_BUCKET"
    OUTPUT_PREFIX = "OUTPUT_PREFIX"
    COMPLETION_TOPIC_ARN = "COMPLETION_TOPIC_ARN"
    IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
    IDEMPOTENCY_TTL_SECONDS = "IDEMPOTENCY_TTL_SECONDS"
    SAGEMAKER_ENDPOINT_NAME = "SAGEMAKER_ENDPOINT_NAME"
    SAGEMAKER_ENDPOINTS = "SAGEMAKER_ENDPOINTS"
    SAGEMAKER_TIMEOUT_SECONDS = "SAGEMAKER_TIMEOUT_SECONDS"
    INFERENCE_FALLBACK = "INFERENCE_FALLBACK"
    MAX_INPUT_BYTES = "MAX_INPUT_BYTES"
    SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
    METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"


DEFAULT_METRICS_NAMESPACE = "BgRemove"
# Loggers are created at import; template.yaml sets the name, the default serves local runs and tests.
SERVICE_NAME = os.environ.get(Env.SERVICE_NAME, "bgremove")

DEFAULT_MAX_INPUT_BYTES = 100 * 1024 * 1024
"""Default of ``MAX_INPUT_BYTES`` (100 MiB): a 32 MP image (the decoder's limit,
:data:`bgremove.limits.MAX_DECODE_PIXELS`) is at most ~100 MB even as an uncompressed 8-bit RGB TIFF."""

MAX_INPUT_BYTES_RANGE = (1024, 10 * 1024**3)
"""Accepted ``MAX_INPUT_BYTES``: at least 1 KiB, at most 10 GiB (Lambda's largest memory size)."""

DEFAULT_IDEMPOTENCY_TTL_SECONDS = 86_400
"""Default of ``IDEMPOTENCY_TTL_SECONDS``: S3 redelivers duplicates within minutes, rarely hours."""

IDEMPOTENCY_TTL_RANGE = (60, 365 * 86_400)
"""Accepted ``IDEMPOTENCY_TTL_SECONDS``: one minute to one year."""

LOCAL_INFERENCE = "local"
"""In ``SAGEMAKER_ENDPOINTS``, the word that keeps a model in the function."""

DEFAULT_SAGEMAKER_TIMEOUT_SECONDS = 20
"""Default of ``SAGEMAKER_TIMEOUT_SECONDS``: an ISNet call at 1024x1024 on a busy GPU takes about a second;
twenty leave room for a cold instance without holding a Lambda for its whole timeout."""

SAGEMAKER_TIMEOUT_RANGE = (1, 300)
"""Accepted ``SAGEMAKER_TIMEOUT_SECONDS``."""

_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@dataclass(frozen=True)
class InferenceSettings:
    """Which models run on a SageMaker endpoint, and how the function calls it.

    Read on their own (:meth:`from_env`) as well as within :class:`ProcessorSettings`: the engine is built
    from these without needing the function's other variables.

    Parameters
    ----------
    sagemaker_endpoint
        SageMaker endpoint that runs the default model (``SAGEMAKER_ENDPOINT_NAME``); empty runs it here.
    sagemaker_endpoints
        Per-model endpoints (``SAGEMAKER_ENDPOINTS``, e.g. ``isnet=gpu-endpoint,u2netp=local``), applied
        over ``sagemaker_endpoint``: ``local`` keeps a model in the function. Pairs, in the variable's order.
    sagemaker_timeout_seconds
        Read timeout of one endpoint call (``SAGEMAKER_TIMEOUT_SECONDS``); connecting has its own short one.
    inference_fallback
        ``INFERENCE_FALLBACK`` (``on``/``off``, default off): run a model locally while its endpoint is
        unavailable (throttled, 5xx, timed out, unreachable), noted in the report, instead of retrying the
        upload. Needs the model in the function's model layer.
    """

    sagemaker_endpoint: str = ""
    sagemaker_endpoints: tuple[tuple[str, str], ...] = ()
    sagemaker_timeout_seconds: int = DEFAULT_SAGEMAKER_TIMEOUT_SECONDS
    inference_fallback: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InferenceSettings:
        """Read the inference variables; unset or empty means the default (everything local).

        Raises
        ------
        ConfigurationError
            An endpoint name or the per-model map is malformed, the timeout is out of range, or the
            fallback switch is neither on nor off.
        """
        env = os.environ if environ is None else environ
        return cls(
            sagemaker_endpoint=_endpoint_name(env, Env.SAGEMAKER_ENDPOINT_NAME),
            sagemaker_endpoints=_endpoint_map(env, Env.SAGEMAKER_ENDPOINTS),
            sagemaker_timeout_seconds=setting.whole_number(
                env,
                Env.SAGEMAKER_TIMEOUT_SECONDS,
                DEFAULT_SAGEMAKER_TIMEOUT_SECONDS,
                *SAGEMAKER_TIMEOUT_RANGE,
            ),
            inference_fallback=setting.switch(env, Env.INFERENCE_FALLBACK),
        )


@dataclass(frozen=True)
class ProcessorSettings:
    """Where results and events go.

    Parameters
    ----------
    output_bucket
        Bucket that receives results (never the input bucket: that would re-trigger the function).
    input_buckets
        The only buckets whose objects are processed (``INPUT_BUCKETS``, comma-separated). A message naming
        any other bucket is not one of our uploads (a forged or misrouted message): it is logged, counted
        and acknowledged, never processed, so that no message can make the function read or overwrite
        its own outputs. Never contains ``output_bucket``.
    output_prefix
        Prepended to every output key, e.g. ``"results/"``.
    topic_arn
        SNS topic for completion events.
    idempotency_table
        DynamoDB table for de-duplicating S3's at-least-once deliveries; empty disables it (local runs).
    idempotency_ttl_seconds
        How long a processed object is remembered.
    inference
        Where models run (:class:`InferenceSettings`).
    max_input_bytes
        Larger objects fail with ``IMAGE_TOO_LARGE`` before their bytes are read (protects memory).
    """

    output_bucket: str
    topic_arn: str
    input_buckets: tuple[str, ...]
    output_prefix: str = ""
    idempotency_table: str = ""
    idempotency_ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS
    inference: InferenceSettings = field(default_factory=InferenceSettings)
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProcessorSettings:
        """Read the settings from ``environ`` (default: the process environment).

        The output prefix is taken as it is written (blanks are legal in S3 keys); every other value is
        stripped of surrounding blanks.

        Raises
        ------
        ConfigurationError
            A required variable is missing or empty, ``INPUT_BUCKETS`` names no bucket or names the output
            bucket, or a number is malformed or out of range; the error names the first offending variable.
        """
        env = os.environ if environ is None else environ
        output_bucket, topic_arn, _ = setting.required_all(
            env, Env.OUTPUT_BUCKET, Env.COMPLETION_TOPIC_ARN, Env.INPUT_BUCKETS
        )
        return cls(
            output_bucket=output_bucket,
            topic_arn=topic_arn,
            input_buckets=_input_buckets(env, Env.INPUT_BUCKETS, output_bucket),
            output_prefix=env.get(Env.OUTPUT_PREFIX, ""),
            idempotency_table=setting.text(env, Env.IDEMPOTENCY_TABLE),
            idempotency_ttl_seconds=setting.whole_number(
                env, Env.IDEMPOTENCY_TTL_SECONDS, DEFAULT_IDEMPOTENCY_TTL_SECONDS, *IDEMPOTENCY_TTL_RANGE
            ),
            inference=InferenceSettings.from_env(env),
            max_input_bytes=setting.whole_number(
                env, Env.MAX_INPUT_BYTES, DEFAULT_MAX_INPUT_BYTES, *MAX_INPUT_BYTES_RANGE
            ),
        )


def _input_buckets(env: Mapping[str, str], name: str, output_bucket: str) -> tuple[str, ...]:
    """The listed buckets, each once, in the order listed; at least one, never the output bucket."""
    buckets = tuple(dict.fromkeys(setting.csv(env, name)))
    if not buckets:  # only commas and blanks
        raise ConfigurationError(name, "names no bucket")
    if output_bucket in buckets:
        raise ConfigurationError(name, f"must not name the output bucket {output_bucket!r}")
    return buckets


def _endpoint_name(env: Mapping[str, str], name: str) -> str:
    """A SageMaker endpoint name (letters, digits, inner hyphens, at most 63), or empty when unset."""
    value = setting.text(env, name)
    if value and not _ENDPOINT_NAME.fullmatch(value):
        raise ConfigurationError(name, f"is not a SageMaker endpoint name: {value[:80]!r}")
    return value


def _endpoint_map(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """``model=endpoint`` pairs, comma-separated; ``endpoint`` may be ``local``. A model named twice is an
    error (which one was meant cannot be told)."""
    pairs: dict[str, str] = {}
    for item in setting.csv(env, name):
        model, equals, endpoint = (part.strip() for part in item.partition("="))
        if not equals or not model or not endpoint:
            raise ConfigurationError(name, f"expected model=endpoint pairs separated by commas, got {item!r}")
        if model in pairs:
            raise ConfigurationError(name, f"names model {model!r} twice")
        if endpoint != LOCAL_INFERENCE and not _ENDPOINT_NAME.fullmatch(endpoint):
            raise ConfigurationError(
                name, f"{endpoint[:80]!r} (for {model!r}) is not a SageMaker endpoint name"
            )
        pairs[model] = endpoint
    return tuple(pairs.items())
