"""Lambda entry point of the HTTP API: one powertools REST resolver, one router per dialect, OpenAPI and
Swagger UI at ``/docs``.

The handler is thin: it refuses bodies over Lambda's request limit in the caller's dialect, then lets the
resolver route and validate (the synchronous dialects read their own bodies after the key check:
:mod:`bgremove_api.forms`). Routes, error shapes and metric labels come from the table of dialects
(:mod:`bgremove_api.dialects.table`). Every error a route raises leaves through one handler, in the shape
of the dialect whose path was called (an unknown path is a 404); faults of ours are logged with their stack
and answered 500.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import ValidationException
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from bgremove_api import observability
from bgremove_api.dialects import common
from bgremove_api.dialects.common import Failure
from bgremove_api.dialects.dialect import SECURITY_SCHEMES
from bgremove_api.dialects.schemas import DocumentedResolver
from bgremove_api.dialects.table import DEFAULT, DIALECTS, for_path, terminal_event
from bgremove_api.exceptions import BadRequestError, RequestTooLargeError, RouteNotFoundError
from bgremove_api.jobs import JobsSettings
from bgremove_api.runtime import ApiRuntime, build_runtime, use_runtime
from bgremove_api.settings import ApiSettings

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "bgremove-api")
DOCS_PATH = "/docs"

logger = Logger(service=SERVICE_NAME)
observability.route_package_logs(logger)
tracer = observability.tracer

# DocumentedResolver: powertools' REST resolver whose OpenAPI document also holds the request bodies'
# schemas the routes $ref (dialects/schemas.py).
app = DocumentedResolver(enable_validation=True)
for _dialect in DIALECTS:
    app.include_router(_dialect.router)
OPENAPI_INFO: dict[str, Any] = {
    "title": "bgremove HTTP API",
    "version": "1.0.0",
    "description": "Pixian v2 and remove.bg v1.0 compatible background removal, and asynchronous jobs in "
    "Replicate's, OpenAI-style and Apiframe's dialects. One key works for every dialect: HTTP Basic (user or "
    "password) for Pixian, X-Api-Key for remove.bg and Apiframe, Bearer for Replicate and OpenAI-style.",
    "security_schemes": SECURITY_SCHEMES,
}
"""What the OpenAPI document says of the API as a whole, at ``/docs`` and in docs/openapi.json alike."""

app.enable_swagger(path=DOCS_PATH, **OPENAPI_INFO)


def openapi_document() -> str:
    """The OpenAPI document as JSON (what ``/docs/openapi.json`` serves; ``make openapi`` commits it)."""
    return app.get_openapi_json_schema(**OPENAPI_INFO)


def _error_response(path: str, failure: Failure) -> Response[str]:
    """``failure`` in the shape of the dialect whose path ``path`` is (:data:`DEFAULT`'s for any other)."""
    return (for_path(path) or DEFAULT).error_response(failure)


def _dialect_label(path: str) -> str:
    """The metrics' and traces' name for the dialect of ``path`` (a bounded set)."""
    if path.startswith(DOCS_PATH):
        return "docs"
    dialect = for_path(path)
    return dialect.name if dialect is not None else "other"


def _failure(error: Exception) -> Failure:
    """``error`` as a :class:`Failure`, with the key's rate window once the request was admitted."""
    failure = common.classify(error)
    return failure if failure.rate is not None else replace(failure, rate=common.admitted_rate())


def _invalid_request(error: ValidationException) -> Response[str]:
    # powertools could not read the body into the route's fields (bad JSON, a text part where a file
    # belongs, an unsupported content type): the dialect's 400.
    details = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', '')}"
        for e in error.errors()
    )
    failure = _failure(BadRequestError(f"the request body cannot be read: {details}"))
    return _error_response(app.current_event.path, failure)


def _refused(error: Exception) -> Response[str]:
    """Every error a route raises, in its dialect's shape: the routes hold no error handling of their own.
    A fault of ours (5xx) is logged with its stack; a 504 is the documented "not finished yet" answer."""
    failure = _failure(error)
    if failure.status >= 500 and failure.status != 504:
        logger.exception("request failed", extra={"code": failure.code, "path": app.current_event.path})
    return _error_response(app.current_event.path, failure)


def _not_found(error: NotFoundError) -> Response[str]:
    # powertools raises it for a path no route has; the catch-all below would answer it 500.
    event = app.current_event
    failure = _failure(RouteNotFoundError(f"no route for {event.http_method} {event.path}"))
    return _error_response(event.path, failure)


# Registered by call: powertools' decorator is unannotated and would make the handlers untyped.
app.exception_handler(ValidationException)(_invalid_request)
app.exception_handler(NotFoundError)(_not_found)
app.exception_handler(Exception)(_refused)


SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}
"""On every answer: a browser never guesses a type (a stored upload, an error body) and runs it."""


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)  # responses are images
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    began = time.perf_counter()
    path = str(event.get("path") or "")
    common.begin_request()
    dialect = _dialect_label(path)
    observability.annotate(dialect=dialect)
    result = _answer(event, context, path)
    _record_request(dialect, result.get("statusCode"), (time.perf_counter() - began) * 1000)
    return result


def _answer(event: dict[str, Any], context: LambdaContext, path: str) -> dict[str, Any]:
    try:
        common.check_body_size(event.get("body"), (for_path(path) or DEFAULT).url_field)
    except RequestTooLargeError as error:
        return _proxy_result(_error_response(path, common.classify(error)))
    result = app.resolve(event, context)
    headers = result.setdefault("multiValueHeaders", {})
    for name, value in SECURITY_HEADERS.items():
        headers[name] = [value]
    return result


def _record_request(dialect: str, status: object, elapsed_ms: float) -> None:
    """``ApiRequests`` by dialect and status class, ``ApiLatencyMs`` by dialect (docs/operations.md)."""
    status_class = f"{status // 100}xx" if isinstance(status, int) and 100 <= status < 600 else "5xx"
    observability.count(observability.API_REQUESTS, Dialect=dialect, StatusClass=status_class)
    observability.emit(
        {observability.API_LATENCY: (MetricUnit.Milliseconds, round(elapsed_ms, 3))}, {"Dialect": dialect}
    )


def _proxy_result(response: Response[str]) -> dict[str, Any]:
    """A response built outside the resolver, in API Gateway's proxy result format."""
    return {
        "statusCode": response.status_code,
        "headers": {
            **{k: v if isinstance(v, str) else ",".join(v) for k, v in response.headers.items()},
            **SECURITY_HEADERS,
        },
        "body": response.body,
        "isBase64Encoded": False,
    }


def runtime_from_env(environ: Mapping[str, str] | None = None) -> ApiRuntime:
    """The deployed function's runtime, from its environment (``environ``, default the process's): the API's
    and the jobs' settings, and the dialect table's rule for announcing a finished job."""
    env = os.environ if environ is None else environ
    return build_runtime(
        ApiSettings.from_env(env), jobs_settings=JobsSettings.from_env(env), terminal_event=terminal_event
    )


# In Lambda, build everything during the init phase: the model load then never counts against the first
# request's time. Tests and the local adapter install their own (the adapter with runtime_from_env).
if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    use_runtime(runtime_from_env())
