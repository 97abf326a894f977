"""An API runtime for the dialect unit tests: moto tables and bucket, the real key store and rate limiter,
a fake engine (no model) that records what it was asked, and a fake URL fetcher."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import boto3
from moto import mock_aws

from bgremove import Options
from bgremove.engine import Result
from bgremove.exceptions import NotAnImageError
from bgremove.report import BBox, Report
from bgremove_api.app import lambda_handler
from bgremove_api.exceptions import UrlNotAllowedError
from bgremove_api.fetch import Fetched, UrlFetcher
from bgremove_api.keys import ApiKeyStore
from bgremove_api.presign import Presigner
from bgremove_api.ratelimit import RateLimiter
from bgremove_api.runtime import S3_CONFIG, ApiRuntime, use_runtime
from bgremove_api.settings import ApiSettings
from bgremove_local.api_server import LambdaContext, proxy_event, proxy_result
from tests.api_tables import create_table

OUTPUT_BUCKET = "test-output"
PNG = b"\x89PNG\r\n\x1a\nfake result"


class FakeModels:
    """The engine's model registry as the dialects read it: three names, ``isnet`` not deployed."""

    def names(self) -> list[str]:
        return ["isnet", "u2net", "u2netp"]

    def is_available(self, name: str) -> bool:
        return name != "isnet"


@dataclass(frozen=True)
class FakeEngineSettings:
    default_model: str = "u2netp"


@dataclass
class FakeEngine:
    """Answers every image with ``result_bytes``; ``b"bad"`` is not an image."""

    result_bytes: bytes = PNG
    calls: list[tuple[bytes, Options, bytes | None]] = field(default_factory=list)
    registry: FakeModels = field(default_factory=FakeModels)
    settings: FakeEngineSettings = field(default_factory=FakeEngineSettings)

    def process(
        self, data: bytes, options: Options | None = None, *, background: bytes | None = None
    ) -> Result:
        options = options or Options()
        self.calls.append((data, options, background))
        if data == b"bad":
            raise NotAnImageError("not an image in any known format")
        report = Report(
            input_size=(600, 400),
            result_size=(300, 200),
            orientation=6,
            input_foreground=BBox(10, 20, 30, 40),
            result_foreground=BBox(1, 2, 3, 4),
            model="fake",
            format="png",
            content_type="image/png",
            source_format="JPEG",
        )
        return Result(self.result_bytes, "image/png", "png", report)


@dataclass
class FakeFetcher:
    """``http://images/<name>`` gives ``b"url:<name>"``; any other host is refused. Records each deadline."""

    deadlines: list[float | None] = field(default_factory=list)

    def fetch(self, url: str, *, deadline: float | None = None) -> Fetched:
        self.deadlines.append(deadline)
        if not url.startswith("http://images/"):
            raise UrlNotAllowedError(f"{url} is not allowed")
        return Fetched(body=f"url:{url.rsplit('/', 1)[1]}".encode(), content_type="image/jpeg", final_url=url)

    def check(self, url: str, *, deadline: float | None = None) -> str:
        """The real guard's check of a URL (webhooks at submit) with :func:`fake_resolve` for DNS."""
        return UrlFetcher(max_bytes=1, resolver=fake_resolve).check(url, deadline=deadline)


def fake_resolve(host: str, port: int) -> list[str]:
    """``localhost`` is loopback, ``*.invalid`` does not resolve, any other name is a public address."""
    if host == "localhost":
        return ["127.0.0.1"]
    if host.endswith(".invalid"):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return ["93.184.216.34"]


@dataclass
class Api:
    runtime: ApiRuntime
    engine: FakeEngine
    key: str
    timeout_s: int = 29
    """The function's time left when a request arrives (the Lambda context counts down from it)."""

    def call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        event = proxy_event(method, path, list((headers or {}).items()), body)
        status, pairs, data = proxy_result(
            lambda_handler(event, LambdaContext("ApiFunction", 2048, self.timeout_s, "id"))
        )
        return status, dict(pairs), data

    def basic(self, key: str | None = None) -> dict[str, str]:
        token = base64.b64encode(f"id:{key or self.key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


@contextmanager
def fake_api(result_bytes: bytes = PNG, rate_per_second: int = 1000) -> Iterator[Api]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        keys_table = create_table(dynamodb, "ApiKeysTable", "test-keys")
        rate_table = create_table(dynamodb, "RateLimitTable", "test-rates")
        s3 = boto3.client("s3", region_name="us-east-1", config=S3_CONFIG)
        s3.create_bucket(Bucket=OUTPUT_BUCKET)
        settings = ApiSettings(
            api_keys_table=keys_table, rate_limit_table=rate_table, output_bucket=OUTPUT_BUCKET
        )
        engine = FakeEngine(result_bytes)
        runtime = ApiRuntime(
            settings=settings,
            engine=engine,  # type: ignore[arg-type]
            keys=ApiKeyStore(keys_table, dynamodb),
            limiter=RateLimiter(rate_table, dynamodb),
            fetcher=FakeFetcher(),  # type: ignore[arg-type]
            s3=s3,
            presigner=Presigner(s3, OUTPUT_BUCKET, settings.result_url_ttl_s),
        )
        key, _ = runtime.keys.create("unit", rate_per_second=rate_per_second)
        use_runtime(runtime)
        try:
            yield Api(runtime, engine, key)
        finally:
            use_runtime(None)


def multipart(fields: dict[str, str | bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body: bytes values as file parts, text as plain fields."""
    boundary = "unit-boundary-1234"
    parts = []
    for name, value in fields.items():
        if isinstance(value, bytes):
            disposition = f'Content-Disposition: form-data; name="{name}"; filename="{name}.jpg"'
            head = f"{disposition}\r\nContent-Type: image/jpeg"
            parts.append(f"--{boundary}\r\n{head}\r\n\r\n".encode() + value + b"\r\n")
        else:
            head = f'Content-Disposition: form-data; name="{name}"'
            parts.append(f"--{boundary}\r\n{head}\r\n\r\n{value}\r\n".encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
