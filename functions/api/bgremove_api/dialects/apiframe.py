"""Apiframe v2 jobs for the ``851-bg-remove`` model (the vendor document's ``requests`` snippets, unchanged
but for the base URL and the key): ``POST /v2/images/background-remove`` (202 ``{jobId, status}``),
``GET /v2/jobs/{id}`` and ``GET /v2/jobs``. Auth is ``X-API-Key``.

``lab851BgRemoveParams`` maps onto the option table (:data:`OPTION_NAMES`); its ``image`` is an https URL
(behind the SSRF guard) or a ``data:`` URI. ``Idempotency-Key`` returns the first job for a repeated submit.
``result`` is the output's presigned URL (valid ``RESULT_URL_TTL_S``, 1 h, from each read). A failed job's
``error`` is ``{code, message}`` with our error code. Errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from bgremove import Options
from bgremove_api import jobs, webhooks
from bgremove_api.dialects import _schemas_apiframe as route_docs
from bgremove_api.dialects import async_common, common
from bgremove_api.dialects.common import Failure
from bgremove_api.dialects.dialect import API_KEY_HEADER, Dialect, requires
from bgremove_api.exceptions import ApiError
from bgremove_api.keys import ApiKey
from bgremove_api.runtime import ApiRuntime, get_runtime

NAME = "apiframe"
MODEL = "851-bg-remove"
PARAMS = "lab851BgRemoveParams"

SUBMIT_PATH = "/v2/images/background-remove"
JOBS_PATH = "/v2/jobs"
JOB_PATH = "/v2/jobs/<job_id>"
PATH_PREFIX = "/v2/"
"""Paths whose errors are answered in this dialect's shape (:mod:`bgremove_api.app`)."""

OPTION_NAMES: dict[str, str] = {
    "format": "format",
    "threshold": "threshold",
    "background_type": "background_type",
}
"""``lab851BgRemoveParams`` names -> the option table's (``image`` is the input)."""

FORMATS = frozenset({"png", "jpg"})
DEFAULTS: dict[str, str] = {"format": "png"}
"""Apiframe's defaults where they differ from the engine's (``auto``)."""

IMAGE_FIELD = "image"

STATUSES: dict[jobs.JobStatus, str] = {
    jobs.JobStatus.QUEUED: "QUEUED",
    jobs.JobStatus.PROCESSING: "PROCESSING",
    jobs.JobStatus.COMPLETED: "COMPLETED",
    jobs.JobStatus.FAILED: "FAILED",
    jobs.JobStatus.CANCELED: "FAILED",  # Apiframe has no canceled state; error.code says CANCELED
}
PROGRESS: dict[jobs.JobStatus, int] = {
    jobs.JobStatus.QUEUED: 0,
    jobs.JobStatus.PROCESSING: 50,
    jobs.JobStatus.COMPLETED: 100,
    jobs.JobStatus.FAILED: 100,
    jobs.JobStatus.CANCELED: 100,
}
WEBHOOK_EVENTS = ("progress", "completed", "failed")
DEFAULT_WEBHOOK_EVENTS = ("completed", "failed")

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
CREDIT_COST = 1

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # powertools leaves __init__ unannotated


class InvalidRequestError(ApiError):
    code = "INVALID_REQUEST"
    http_status = 400


# ----------------------------------------------------------------------------------------------- mappings
def parse_options(params: Mapping[str, Any]) -> Options:
    """``lab851BgRemoveParams`` (less ``image``) as :class:`Options` (errors name Apiframe's field)."""
    given = {k: v for k, v in params.items() if k != IMAGE_FIELD and v is not None}
    spelled = {k.strip().lower(): v for k, v in given.items()}  # as Options.parse reads names: any case
    raw = {**{k: v for k, v in DEFAULTS.items() if k not in spelled}, **given}
    fmt = str(spelled.get("format", DEFAULTS["format"])).strip().lower()
    if fmt not in FORMATS:
        raise InvalidRequestError(f"{PARAMS}.format must be one of {', '.join(sorted(FORMATS))}")
    return Options.parse(raw, names=OPTION_NAMES)


def submit_request(body: Mapping[str, Any], idempotency_key: str | None) -> async_common.JobRequest:
    """A submit's body (and its ``Idempotency-Key`` header) as a job request."""
    if body.get("model", MODEL) != MODEL:
        raise InvalidRequestError(f"model must be {MODEL!r}")
    params = body.get(PARAMS)
    if not isinstance(params, dict):
        raise InvalidRequestError(f"{PARAMS} is required: an object with image")
    return async_common.JobRequest(
        options=parse_options(params),
        image=params.get(IMAGE_FIELD),
        image_field=f"{PARAMS}.{IMAGE_FIELD}",
        webhook=webhook_config(body),
        webhook_field="webhookUrl",
        idempotency_key=jobs.checked_idempotency_key(idempotency_key),
    )


def webhook_config(body: Mapping[str, Any]) -> jobs.WebhookConfig | None:
    """``webhookUrl`` (or ``webhook_url``) and ``webhookEvents`` (default completed and failed)."""
    url = body.get("webhookUrl") or body.get("webhook_url")
    if url is None:
        return None
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequestError("webhookUrl must be a URL")
    events = body.get("webhookEvents", list(DEFAULT_WEBHOOK_EVENTS))
    if not isinstance(events, list) or not events or not all(e in WEBHOOK_EVENTS for e in events):
        raise InvalidRequestError(f"webhookEvents must be a list of {', '.join(WEBHOOK_EVENTS)}")
    return jobs.WebhookConfig(url=url.strip(), events=tuple(dict.fromkeys(events)), dialect=NAME)


def status_filter(value: str | None) -> jobs.JobStatus | None:
    if not value:
        return None
    try:
        return jobs.JobStatus(value.strip().upper())
    except ValueError:
        allowed = ", ".join(sorted(set(STATUSES.values())))
        raise InvalidRequestError(f"status must be one of {allowed}") from None


def limit_value(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit() and len(value) <= 3) or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidRequestError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def job_error(job: jobs.Job) -> dict[str, str] | None:
    if job.status is jobs.JobStatus.CANCELED:
        return {"code": "CANCELED", "message": "the job was canceled"}
    if job.status is jobs.JobStatus.FAILED:
        return {"code": job.error_code or "INTERNAL_ERROR", "message": job.error_message or ""}
    return None


def job_object(job: jobs.Job, result_url: str | None) -> dict[str, Any]:
    """``GET /v2/jobs/{id}``: ``{id, status, model, progress, result, error, creditCost, ...}``."""
    return {
        "id": job.job_id,
        "status": STATUSES[job.status],
        "model": MODEL,
        "progress": PROGRESS[job.status],
        "result": result_url,
        "error": job_error(job),
        "creditCost": CREDIT_COST if job.status is jobs.JobStatus.COMPLETED else 0,
        "webhookStatus": dict(job.webhook_status) or None,
        "createdAt": async_common.iso_time(job.created_at),
        "completedAt": async_common.iso_time(job.completed_at),
    }


def webhook_body(job: jobs.Job, result_url: str | None) -> bytes:
    """``{event, jobId, status, progress, result|error, model, creditCost, completedAt}``."""
    event = "completed" if job.status is jobs.JobStatus.COMPLETED else "failed"
    if not job.status.terminal:
        event = "progress"
    body: dict[str, Any] = {
        "event": event,
        "jobId": job.job_id,
        "status": STATUSES[job.status],
        "progress": PROGRESS[job.status],
        "model": MODEL,
        "creditCost": CREDIT_COST if job.status is jobs.JobStatus.COMPLETED else 0,
        "completedAt": async_common.iso_time(job.completed_at),
    }
    if job.status is jobs.JobStatus.COMPLETED:
        body["result"] = result_url
    elif job.status.terminal:
        body["error"] = job_error(job)
    return json.dumps(body, separators=(",", ":")).encode()


def signature(body: bytes, key_hash_hex: str) -> str:
    """Apiframe's ``X-Webhook-Signature``: the hex HMAC-SHA256 of the raw body, keyed with the SHA-256 of the
    API key as the table stores it (its 64 lowercase hex characters, as ASCII). A receiver computes
    ``hmac.new(sha256(key).hexdigest().encode(), body, sha256).hexdigest()``."""
    return hmac.new(key_hash_hex.encode("ascii"), body, hashlib.sha256).hexdigest()


def signed(job: jobs.Job, event: str, body: bytes, key_hash_hex: str, timestamp: int) -> dict[str, str]:
    """Apiframe's headers: ``X-Webhook-Event``, ``X-Webhook-Signature`` (:func:`signature`), and the
    ``webhook-id`` every dialect's tries carry, the same on every try."""
    del timestamp  # Apiframe signs the body only
    return {
        "X-Webhook-Event": event,
        "X-Webhook-Signature": signature(body, key_hash_hex),
        "webhook-id": webhooks.webhook_id(job.job_id, event),
    }


WEBHOOK = webhooks.WebhookDialect(body=webhook_body, sign=signed, terminal_event=webhooks.outcome_event)


# ----------------------------------------------------------------------------------------------- errors
def error_response(failure: Failure) -> Response[str]:
    body = {"error": {"code": failure.code, "message": failure.message, "status": failure.status}}
    return common.json_response(failure.status, body, failure.headers)


# ----------------------------------------------------------------------------------------------- requests
def _result(runtime: ApiRuntime, job: jobs.Job) -> str | None:
    return (
        jobs.result_url(runtime.presigner, job)
        if job.status is jobs.JobStatus.COMPLETED and job.output_key
        else None
    )


def _admit_read(runtime: ApiRuntime) -> ApiKey:
    return common.admit_read(runtime, router.current_event.headers.get("x-api-key"))[0]


@router.post(
    SUBMIT_PATH,
    summary="Apiframe: remove the background (model 851-bg-remove)",
    tags=["Apiframe v2"],
    security=requires(API_KEY_HEADER),
    responses=route_docs.SUBMIT.responses,
    openapi_extensions=route_docs.SUBMIT.openapi_extensions,
)
def submit() -> Response[str]:
    """``{model, lab851BgRemoveParams: {image, format, threshold, background_type}, webhookUrl}``."""
    runtime = get_runtime()
    event = router.current_event
    with common.admitted(runtime, event.headers.get("x-api-key")) as (key, _):
        body = async_common.json_object(router.current_event)
        request = submit_request(body, event.headers.get("idempotency-key"))
        job = async_common.submit(runtime, key, NAME, request, router.lambda_context)
    return common.json_response(202, {"jobId": job.job_id, "status": STATUSES[job.status]})


@router.get(
    JOB_PATH,
    summary="Apiframe: a job",
    tags=["Apiframe v2"],
    security=requires(API_KEY_HEADER),
    responses=route_docs.JOB.responses,
)
def get_job(job_id: str) -> Response[str]:
    runtime = get_runtime()
    job = runtime.jobs.store.get(job_id, _admit_read(runtime))
    return common.json_response(200, job_object(job, _result(runtime, job)))


@router.get(
    JOBS_PATH,
    summary="Apiframe: the key's jobs, newest first",
    tags=["Apiframe v2"],
    security=requires(API_KEY_HEADER),
    responses=route_docs.JOBS.responses,
    openapi_extensions=route_docs.JOBS.openapi_extensions,
)
def list_jobs() -> Response[str]:
    """``?status&model&limit(1..100)&cursor`` -> ``{jobs, nextCursor, hasMore}``."""
    runtime = get_runtime()
    key = _admit_read(runtime)
    query = router.current_event.query_string_parameters or {}
    status = status_filter(query.get("status"))
    limit = limit_value(query.get("limit"))
    if query.get("model") and query["model"] != MODEL:
        return common.json_response(200, {"jobs": [], "nextCursor": None, "hasMore": False})
    found, next_cursor = runtime.jobs.store.list(
        key, status=status, dialect=NAME, limit=limit, cursor=query.get("cursor") or None
    )
    listed = [job_object(job, _result(runtime, job)) for job in found]
    return common.json_response(
        200, {"jobs": listed, "nextCursor": next_cursor, "hasMore": bool(next_cursor)}
    )


DIALECT = Dialect(
    name=NAME,
    router=router,
    error_response=error_response,
    url_field=f"{PARAMS}.{IMAGE_FIELD}",
    security_scheme=API_KEY_HEADER,
    path_prefixes=(PATH_PREFIX,),
    webhook=WEBHOOK,
)
