"""Function settings: every environment variable named once, read once into one typed object."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from processor.exceptions import SettingsError


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
_ON = frozenset({"on", "true", "1", "yes"})
_OFF = frozenset({"", "off", "false", "0", "no"})

_MAX_DIGITS = 20
"""Integer settings longer than this are refused before conversion (``int()`` of a huge string is slow)."""


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
        SettingsError
            An endpoint name or the per-model map is malformed, the timeout is out of range, or the
            fallback switch is neither on nor off.
        """
        env = os.environ if environ is None else environ
        return cls(
            sagemaker_endpoint=_endpoint_name(env, Env.SAGEMAKER_ENDPOINT_NAME),
            sagemaker_endpoints=_endpoint_map(env, Env.SAGEMAKER_ENDPOINTS),
            sagemaker_timeout_seconds=_int_setting(
                env, Env.SAGEMAKER_TIMEOUT_SECONDS, DEFAULT_SAGEMAKER_TIMEOUT_SECONDS, SAGEMAKER_TIMEOUT_RANGE
            ),
            inference_fallback=_switch(env, Env.INFERENCE_FALLBACK),
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

        Raises
        ------
        SettingsError
            A required variable is missing or empty, ``INPUT_BUCKETS`` names the output bucket, or a number
            is malformed or out of range; the error names the first offending variable.
        """
        env = os.environ if environ is None else environ
        required = (Env.OUTPUT_BUCKET, Env.COMPLETION_TOPIC_ARN, Env.INPUT_BUCKETS)
        missing = [name for name in required if not env.get(name, "").strip(", ")]
        if missing:
            also = f" (nor is {', '.join(missing[1:])})" if len(missing) > 1 else ""
            raise SettingsError(missing[0], f"required but not set{also}")
        output_bucket = env[Env.OUTPUT_BUCKET]
        return cls(
            output_bucket=output_bucket,
            topic_arn=env[Env.COMPLETION_TOPIC_ARN],
            input_buckets=_bucket_list(env, Env.INPUT_BUCKETS, output_bucket),
            output_prefix=env.get(Env.OUTPUT_PREFIX, ""),
            idempotency_table=env.get(Env.IDEMPOTENCY_TABLE, ""),
            idempotency_ttl_seconds=_int_setting(
                env, Env.IDEMPOTENCY_TTL_SECONDS, DEFAULT_IDEMPOTENCY_TTL_SECONDS, IDEMPOTENCY_TTL_RANGE
            ),
            inference=InferenceSettings.from_env(env),
            max_input_bytes=_int_setting(
                env, Env.MAX_INPUT_BYTES, DEFAULT_MAX_INPUT_BYTES, MAX_INPUT_BYTES_RANGE
            ),
        )


def _bucket_list(env: Mapping[str, str], name: str, output_bucket: str) -> tuple[str, ...]:
    """Comma-separated bucket names, blanks around them ignored; never the output bucket."""
    buckets = tuple(dict.fromkeys(part.strip() for part in env[name].split(",") if part.strip()))
    if output_bucket in buckets:
        raise SettingsError(name, f"must not name the output bucket {output_bucket!r}")
    return buckets


def _endpoint_name(env: Mapping[str, str], name: str) -> str:
    """A SageMaker endpoint name (letters, digits, inner hyphens, at most 63), or empty when unset."""
    value = env.get(name, "").strip()
    if value and not _ENDPOINT_NAME.fullmatch(value):
        raise SettingsError(name, f"is not a SageMaker endpoint name: {value[:80]!r}")
    return value


def _endpoint_map(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """``model=endpoint`` pairs, comma-separated; ``endpoint`` may be ``local``. A model named twice is an
    error (which one was meant cannot be told)."""
    pairs: dict[str, str] = {}
    for item in env.get(name, "").split(","):
        if not item.strip():
            continue
        model, equals, endpoint = (part.strip() for part in item.partition("="))
        if not equals or not model or not endpoint:
            raise SettingsError(
                name, f"expected model=endpoint pairs separated by commas, got {item.strip()!r}"
            )
        if model in pairs:
            raise SettingsError(name, f"names model {model!r} twice")
        if endpoint != LOCAL_INFERENCE and not _ENDPOINT_NAME.fullmatch(endpoint):
            raise SettingsError(name, f"{endpoint[:80]!r} (for {model!r}) is not a SageMaker endpoint name")
        pairs[model] = endpoint
    return tuple(pairs.items())


def _switch(env: Mapping[str, str], name: str) -> bool:
    """An on/off setting: on, true, 1, yes or off, false, 0, no (any case); unset or empty is off."""
    value = env.get(name, "").strip().lower()
    if value in _ON | _OFF:
        return value in _ON
    raise SettingsError(name, f"must be on or off, got {value[:40]!r}")


def _int_setting(env: Mapping[str, str], name: str, default: int, bounds: tuple[int, int]) -> int:
    """A whole number of ASCII digits within ``bounds`` (inclusive); unset or empty gives ``default``.

    ``str.isdigit`` alone would accept superscripts (``"²"``) and other Unicode digits that ``int`` rejects
    or reads differently, so the text must also be ASCII.
    """
    raw = env.get(name) or ""
    if not raw:
        return default
    low, high = bounds
    if len(raw) > _MAX_DIGITS or not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        shown = raw if len(raw) <= _MAX_DIGITS else f"{raw[:_MAX_DIGITS]}..."
        raise SettingsError(name, f"must be a whole number from {low} to {high}, got {shown!r}")
    return int(raw)
