"""API function settings: every environment variable named once, read once into one typed object.

Keys and rate-limit counters live in two tables, not one: keys are durable records (point-in-time
recovery, retained when the stack is deleted or the table replaced) that the function only reads, while
counters are short-lived items written on every request and expired by DynamoDB TTL. Two tables let each
have its own backup and retention policy, and let the function's role read keys without being able to
write them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from bgremove import env as setting
from bgremove import limits


class Env:
    """Environment variables the function reads (template.yaml sets them)."""

    API_KEYS_TABLE = "API_KEYS_TABLE"
    RATE_LIMIT_TABLE = "RATE_LIMIT_TABLE"
    INPUT_BUCKET = "INPUT_BUCKET"
    OUTPUT_BUCKET = "OUTPUT_BUCKET"
    RESULT_URL_TTL_S = "RESULT_URL_TTL_S"
    URL_FETCH_ALLOW_LOOPBACK = "URL_FETCH_ALLOW_LOOPBACK"
    URL_FETCH_TIMEOUT_S = "URL_FETCH_TIMEOUT_S"
    URL_FETCH_MAX_BYTES = "URL_FETCH_MAX_BYTES"
    DEFAULT_RATE_PER_SECOND = "DEFAULT_RATE_PER_SECOND"
    DEFAULT_MAX_IN_FLIGHT = "DEFAULT_MAX_IN_FLIGHT"


DEFAULT_RESULT_URL_TTL_S = 3600
"""Default of ``RESULT_URL_TTL_S``: presigned result URLs are valid for one hour."""

RESULT_URL_TTL_RANGE = (60, 7 * 86_400)
"""Accepted ``RESULT_URL_TTL_S``: one minute to seven days (the longest a SigV4 presigned URL may live)."""

DEFAULT_URL_FETCH_TIMEOUT_S = 10
"""Default of ``URL_FETCH_TIMEOUT_S``: the whole fetch of an image URL, redirects included."""

URL_FETCH_TIMEOUT_RANGE = (1, 25)
"""Accepted ``URL_FETCH_TIMEOUT_S``: API Gateway ends every request after 29 s; processing needs time too."""

DEFAULT_URL_FETCH_MAX_BYTES = 25 * 1024 * 1024
"""Default of ``URL_FETCH_MAX_BYTES``: 25 MiB per fetch. A request may fetch twice (image and background
image), and both bodies are held in memory next to the decoded images."""

URL_FETCH_MAX_BYTES_RANGE = (1024, limits.MAX_INPUT_BYTES)
"""Accepted ``URL_FETCH_MAX_BYTES``: 1 KiB up to the engine's cap, :data:`bgremove.limits.MAX_INPUT_BYTES`."""

DEFAULT_RATE_PER_SECOND = 10
"""Requests per second a new key may make unless ``bgremove-keys create --rate`` says otherwise."""

DEFAULT_MAX_IN_FLIGHT = 10
"""Concurrent requests a new key may have unless ``bgremove-keys create --in-flight`` says otherwise."""

RATE_PER_SECOND_RANGE = (1, 10_000)
"""Accepted per-key requests per second (settings and ``bgremove-keys create``)."""

MAX_IN_FLIGHT_RANGE = (1, 100)
"""Accepted per-key requests in flight: one DynamoDB query reads all of a key's slots (at most 100)."""


@dataclass(frozen=True)
class ApiSettings:
    """Where keys, counters, inputs and results live, and how URL inputs are fetched.

    Parameters
    ----------
    api_keys_table
        DynamoDB table of API keys (:mod:`bgremove_api.keys`).
    rate_limit_table
        DynamoDB table of rate-limit counters and in-flight slots (:mod:`bgremove_api.ratelimit`).
    output_bucket
        Bucket for results too large to return inline (answered with a presigned URL).
    input_bucket
        Bucket the asynchronous dialects store inputs in; empty where none is used.
    result_url_ttl_s
        Lifetime of presigned result URLs, in seconds.
    url_fetch_allow_loopback
        Let image URLs point at 127.0.0.0/8 and ::1. Off by default; only tests and the local runner turn
        it on. Every other refused range stays refused.
    url_fetch_timeout_s
        Time limit of one URL fetch, redirects included.
    url_fetch_max_bytes
        Largest body fetched from an image URL.
    default_rate_per_second, default_max_in_flight
        Limits given to keys created without explicit ones.
    """

    api_keys_table: str
    rate_limit_table: str
    output_bucket: str
    input_bucket: str = ""
    result_url_ttl_s: int = DEFAULT_RESULT_URL_TTL_S
    url_fetch_allow_loopback: bool = False
    url_fetch_timeout_s: int = DEFAULT_URL_FETCH_TIMEOUT_S
    url_fetch_max_bytes: int = DEFAULT_URL_FETCH_MAX_BYTES
    default_rate_per_second: int = DEFAULT_RATE_PER_SECOND
    default_max_in_flight: int = DEFAULT_MAX_IN_FLIGHT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        """Read the settings from ``environ`` (default: the process environment).

        Raises
        ------
        ConfigurationError
            A required variable is missing or empty, or a value is malformed or out of range; the error
            names the first offending variable.
        """
        env = os.environ if environ is None else environ
        api_keys_table, rate_limit_table, output_bucket = setting.required_all(
            env, Env.API_KEYS_TABLE, Env.RATE_LIMIT_TABLE, Env.OUTPUT_BUCKET
        )
        return cls(
            api_keys_table=api_keys_table,
            rate_limit_table=rate_limit_table,
            output_bucket=output_bucket,
            input_bucket=setting.text(env, Env.INPUT_BUCKET),
            result_url_ttl_s=setting.whole_number(
                env, Env.RESULT_URL_TTL_S, DEFAULT_RESULT_URL_TTL_S, *RESULT_URL_TTL_RANGE
            ),
            url_fetch_allow_loopback=setting.switch(env, Env.URL_FETCH_ALLOW_LOOPBACK),
            url_fetch_timeout_s=setting.whole_number(
                env, Env.URL_FETCH_TIMEOUT_S, DEFAULT_URL_FETCH_TIMEOUT_S, *URL_FETCH_TIMEOUT_RANGE
            ),
            url_fetch_max_bytes=setting.whole_number(
                env, Env.URL_FETCH_MAX_BYTES, DEFAULT_URL_FETCH_MAX_BYTES, *URL_FETCH_MAX_BYTES_RANGE
            ),
            default_rate_per_second=setting.whole_number(
                env, Env.DEFAULT_RATE_PER_SECOND, DEFAULT_RATE_PER_SECOND, *RATE_PER_SECOND_RANGE
            ),
            default_max_in_flight=setting.whole_number(
                env, Env.DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT, *MAX_IN_FLIGHT_RANGE
            ),
        )
