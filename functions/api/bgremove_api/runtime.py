"""What every request of the API function shares, built once per process: settings, the engine (model
loaded at init), the key store, the rate limiter, the URL fetcher, the job machinery of the asynchronous
dialects, the S3 client for large results and the presigner of result URLs.

The API function's entry point (:mod:`bgremove_api.app`) builds one from its environment during Lambda's init
phase and hands it to :func:`use_runtime`; tests and the local adapter hand it their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from bgremove import Engine, EngineSettings
from bgremove.exceptions import ConfigurationError
from bgremove_api.fetch import UrlFetcher
from bgremove_api.jobs import Jobs, JobsSettings, build_jobs
from bgremove_api.jobs.model import TerminalEventRule, outcome_event
from bgremove_api.jobs.settings import Env as JobsEnv
from bgremove_api.keys import ApiKeyStore
from bgremove_api.presign import S3_PRESIGN_CONFIG, Presigner
from bgremove_api.ratelimit import RateLimiter
from bgremove_api.settings import ApiSettings

# Standard retry mode backs off on throttling and 5xx; short timeouts: API Gateway gives up after 29 s.
AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
S3_CONFIG = AWS_CONFIG.merge(S3_PRESIGN_CONFIG)

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
        boto3 S3 client: stores results too large to return inline, reads uploads.
    presigner
        Presigned URLs of results in the output bucket.
    job_machinery
        The asynchronous dialects' job store and submitter; ``None`` where the function has no jobs
        table (a runtime for the synchronous dialects only): read it through :attr:`jobs`.
    """

    settings: ApiSettings
    engine: Engine
    keys: ApiKeyStore
    limiter: RateLimiter
    fetcher: UrlFetcher
    s3: Any
    presigner: Presigner
    job_machinery: Jobs | None = None

    @property
    def jobs(self) -> Jobs:
        """The job machinery. Raises :class:`ConfigurationError` where the function has no jobs table."""
        if self.job_machinery is None:
            raise ConfigurationError(
                JobsEnv.JOBS_TABLE, "is required by the asynchronous dialects but not set"
            )
        return self.job_machinery


def build_runtime(
    settings: ApiSettings,
    engine: Engine | None = None,
    jobs_settings: JobsSettings | None = None,
    terminal_event: TerminalEventRule = outcome_event,
) -> ApiRuntime:
    """Wire a runtime to AWS (endpoints and credentials from the environment, as boto3 reads them); with
    ``jobs_settings``, the asynchronous dialects' job machinery too, whose store announces finished jobs by
    ``terminal_event`` (the dialect table's rule)."""
    dynamodb = boto3.client("dynamodb", config=AWS_CONFIG)
    s3 = boto3.client("s3", config=S3_CONFIG)
    if engine is None:
        engine = Engine(EngineSettings.from_env())
        engine.warm_up()
    job_machinery = None
    if jobs_settings is not None:
        job_machinery = build_jobs(
            jobs_settings,
            dynamodb_client=dynamodb,
            s3_client=s3,
            input_bucket=settings.input_bucket,
            default_model=engine.settings.default_model,
            terminal_event=terminal_event,
        )
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
        s3=s3,
        presigner=Presigner(s3, settings.output_bucket, settings.result_url_ttl_s),
        job_machinery=job_machinery,
    )


_installed: list[ApiRuntime] = []


def use_runtime(runtime: ApiRuntime | None) -> None:
    """Make ``runtime`` the one requests use (``None``: none, until another is given)."""
    _installed.clear()
    if runtime is not None:
        _installed.append(runtime)


def get_runtime() -> ApiRuntime:
    """The runtime requests use: the one given to :func:`use_runtime` (the API function's entry point,
    :mod:`bgremove_api.app`, gives one built from its environment; tests and the local adapter their own).

    Raises
    ------
    RuntimeError
        None was given.
    """
    if not _installed:
        raise RuntimeError("no API runtime: bgremove_api.app installs one in Lambda (use_runtime elsewhere)")
    return _installed[0]
