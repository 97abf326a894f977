"""What every request of the API function shares, built once per process: settings, the engine (model
loaded at init), the key store, the rate limiter, the URL fetcher and the S3 client for large results.

Tests and the local adapter build their own :class:`ApiRuntime` and hand it to :func:`use_runtime`;
Lambda builds one from the environment on first use (during the init phase, see :mod:`bgremove_api.app`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from bgremove import Engine, EngineSettings
from bgremove_api.fetch import UrlFetcher
from bgremove_api.keys import ApiKeyStore
from bgremove_api.ratelimit import RateLimiter
from bgremove_api.settings import ApiSettings

# Standard retry mode backs off on throttling and 5xx; short timeouts: API Gateway gives up after 29 s.
AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
# Presigned result URLs with SigV4 (X-Amz-Expires): botocore may still presign S3 GETs with SigV2.
S3_CONFIG = AWS_CONFIG.merge(Config(signature_version="s3v4"))

MAX_URL_REDIRECTS = 3
"""Redirects an image URL may take, each one checked again by the SSRF guard."""


@dataclass(frozen=True)
class ApiRuntime:
    """Everything a dialect needs to answer a request.

    Attributes
    ----------
    settings
        The function's settings (tables, buckets, result URL lifetime, URL fetch limits).
    engine
        One engine per process; its model loads once.
    keys, limiter
        API key authentication and per-key rate limits (DynamoDB).
    fetcher
        Fetches ``image.url`` / ``image_url`` behind the SSRF guard.
    s3
        boto3 S3 client: stores results too large to return inline, presigns their URLs.
    """

    settings: ApiSettings
    engine: Engine
    keys: ApiKeyStore
    limiter: RateLimiter
    fetcher: UrlFetcher
    s3: Any


def build_runtime(settings: ApiSettings, engine: Engine | None = None) -> ApiRuntime:
    """Wire a runtime to AWS (endpoints and credentials from the environment, as boto3 reads them)."""
    dynamodb = boto3.client("dynamodb", config=AWS_CONFIG)
    if engine is None:
        engine = Engine(EngineSettings.from_env())
        engine.warm_up()
    return ApiRuntime(
        settings=settings,
        engine=engine,
        keys=ApiKeyStore(
            settings.api_keys_table,
            dynamodb,
            default_rate_per_second=settings.default_rate_per_second,
            default_max_in_flight=settings.default_max_in_flight,
        ),
        limiter=RateLimiter(settings.rate_limit_table, dynamodb),
        fetcher=UrlFetcher(
            max_bytes=settings.url_fetch_max_bytes,
            timeout_s=settings.url_fetch_timeout_s,
            max_redirects=MAX_URL_REDIRECTS,
            allow_loopback=settings.url_fetch_allow_loopback,
        ),
        s3=boto3.client("s3", config=S3_CONFIG),
    )


_installed: list[ApiRuntime] = []


def use_runtime(runtime: ApiRuntime | None) -> None:
    """Make ``runtime`` the one requests use (``None``: go back to building one from the environment)."""
    _installed.clear()
    if runtime is not None:
        _installed.append(runtime)
    _from_env.cache_clear()


@functools.cache
def _from_env() -> ApiRuntime:
    return build_runtime(ApiSettings.from_env())


def get_runtime() -> ApiRuntime:
    """The runtime requests use: the one given to :func:`use_runtime`, else one built from the environment."""
    return _installed[0] if _installed else _from_env()
