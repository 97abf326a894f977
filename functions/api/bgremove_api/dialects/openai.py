"""OpenAI-style chat completions with the ``remove-bg`` model (the ``openai`` SDK, unchanged but for
``base_url`` and the key): ``POST /v1/chat/completions`` and ``GET /v1/models``. Auth is
``Authorization: Bearer KEY``.

The last user message's ``image_url`` part (an https URL or a ``data:`` URI) becomes a job of
:mod:`bgremove_api.jobs`; the request waits for it (at most
:data:`~bgremove_api.dialects.async_common.MAX_WAIT_S`) and the completion's ``content`` is the result's
presigned URL (valid ``RESULT_URL_TTL_S``, 1 h). ``model`` is ``remove-bg`` (the deployment's default model)
or a model's own name. A job still running when the wait ends is a 504 with ``x-should-retry: false`` (a
retry would start another job) whose message names the job.
``stream: true`` answers one content chunk and ``[DONE]`` as server-sent events, once the job is done.
Errors are ``{"error": {"message", "type", "param", "code"}}``; ``code`` is our error code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from bgremove import Options
from bgremove_api import jobs
from bgremove_api.dialects import _schemas_openai as route_docs
from bgremove_api.dialects import apiframe, async_common, common
from bgremove_api.dialects.common import Failure
from bgremove_api.dialects.dialect import BEARER, Dialect, requires
from bgremove_api.exceptions import ApiError, BadRequestError, MissingSourceError, UnknownModelError
from bgremove_api.runtime import get_runtime

NAME = "openai"
MODEL = "remove-bg"
OWNER = "bgremove"

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
MODEL_PATH = "/v1/models/<model>"
PATHS = (CHAT_PATH, MODELS_PATH)
PATH_PATTERNS = (r"/v1/models/[^/]+",)
"""Paths whose errors are answered in this dialect's shape (:mod:`bgremove_api.app`): exactly, and by pattern
(one segment after ``/v1/models/``: Replicate's model routes have three)."""

ID_PREFIX = "chatcmpl-"
SSE_CONTENT_TYPE = "text/event-stream"

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
    504: "timeout",
}

PARAMS: dict[str, str] = {MissingSourceError.code: "messages"}
"""Our codes -> the request field an error's ``param`` names, where one field is at fault."""

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # powertools leaves __init__ unannotated


class JobUnfinishedError(ApiError):
    """The job did not finish within the wait; the message names it."""

    code = "JOB_UNFINISHED"
    http_status = 504


class JobFailedError(ApiError):
    """The job failed; ``code`` is the job's own error code (the pipeline's)."""

    http_status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------------------------- mappings
def model_choice(name: object, deployed: list[str]) -> str | None:
    """The model a request's ``model`` runs (``None``: the default for ``remove-bg``)."""
    if name == MODEL:
        return None
    if isinstance(name, str) and name in deployed:
        return name
    raise UnknownModelError(f"The model {str(name)[:80]!r} does not exist; use {MODEL!r}")


def chat_request(body: Mapping[str, Any], deployed: list[str]) -> async_common.JobRequest:
    """A chat completion request as a job: the model it names, the last user message's image."""
    name = body.get("model")
    return async_common.JobRequest(
        options=Options(model=model_choice(name, deployed)),
        image=image_reference(body.get("messages")),
        image_field="image_url.url",
        extra={"model": name},
    )


def image_reference(messages: object) -> str:
    """The URL (or ``data:`` URI) of the last ``image_url`` part of the last user message.

    Raises
    ------
    MissingSourceError
        No user message, or it has no ``image_url`` part.
    """
    if not isinstance(messages, list):
        raise BadRequestError("messages must be a list")
    users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    content = users[-1].get("content") if users else None
    parts = content if isinstance(content, list) else []
    for part in reversed(parts):
        if isinstance(part, Mapping) and part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            if isinstance(url, str) and url.strip():
                return url.strip()
    raise MissingSourceError(
        "the remove-bg model needs an image: add a content part "
        '{"type": "image_url", "image_url": {"url": ...}} to the last user message'
    )


def completion(job_id: str, created: int, model: str, content: str) -> dict[str, Any]:
    """The ``chat.completion`` whose ``content`` is the result URL; usage is all zeros."""
    return {
        "id": f"{ID_PREFIX}{job_id}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def stream_body(job_id: str, created: int, model: str, content: str) -> str:
    """The completion as server-sent events: the role and content, the stop, then ``[DONE]``."""
    base = {
        "id": f"{ID_PREFIX}{job_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
    }
    chunks = [
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": None}
            ],
        },
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    events = [f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n" for chunk in chunks]
    return "".join(events) + "data: [DONE]\n\n"


def models_list(deployed: list[str], created: int) -> dict[str, Any]:
    names = [MODEL, *deployed]
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": created, "owned_by": OWNER} for name in names],
    }


# ----------------------------------------------------------------------------------------------- errors
def error_response(failure: Failure) -> Response[str]:
    """``{"error": {message, type, param, code}}``; a 504 says ``x-should-retry: false``."""
    body = {
        "error": {
            "message": failure.message,
            "type": ERROR_TYPES.get(failure.status, "server_error"),
            "param": PARAMS.get(failure.code),
            "code": failure.code,
        }
    }
    headers = dict(failure.headers)
    if failure.status == 504 or failure.code == JobUnfinishedError.code:
        headers["x-should-retry"] = "false"
    return common.json_response(failure.status, body, headers)


# ----------------------------------------------------------------------------------------------- requests
@router.post(
    CHAT_PATH,
    summary="OpenAI-style: remove the background (model remove-bg)",
    tags=["OpenAI-style"],
    security=requires(BEARER),
    responses=route_docs.CHAT.responses,
    openapi_extensions=route_docs.CHAT.openapi_extensions,
)
def chat_completions() -> Response[str]:
    """The last user message's ``image_url`` -> a completion whose content is the result URL (1 h)."""
    runtime = get_runtime()
    presented = async_common.bearer_key(router.current_event.headers.get("authorization"))
    with common.admitted(runtime, presented) as (key, _):
        body = async_common.json_object(router.current_event)
        name = body.get("model")
        request = chat_request(body, common.deployed_models(runtime))
        job = async_common.submit(runtime, key, NAME, request, router.lambda_context)
        wait_s = async_common.wait_budget(router.lambda_context, async_common.MAX_WAIT_S)
        job = jobs.wait_for(runtime.jobs.store, job.job_id, key, wait_s, poll_s=async_common.WAIT_POLL_S)
    if job.status is jobs.JobStatus.FAILED:
        raise JobFailedError(job.error_code or "INTERNAL_ERROR", f"job {job.job_id}: {job.error_message}")
    if job.status is not jobs.JobStatus.COMPLETED:
        raise JobUnfinishedError(
            f"job {job.job_id} is not finished after {wait_s:.0f} s (status {job.status.value}); fetch it "
            f"with GET {apiframe.JOBS_PATH}/{job.job_id} (key in X-Api-Key) rather than retrying"
        )
    created = int(async_common.epoch_seconds(job.created_at) or time.time())
    url = jobs.result_url(runtime.presigner, job)
    if body.get("stream") is True:
        return Response(
            status_code=200,
            content_type=SSE_CONTENT_TYPE,
            body=stream_body(job.job_id, created, str(name), url),
            headers={"Cache-Control": "no-cache"},
        )
    return common.json_response(200, completion(job.job_id, created, str(name), url))


@router.get(
    MODELS_PATH,
    summary="OpenAI-style: the models (remove-bg and the deployed ones)",
    tags=["OpenAI-style"],
    security=requires(BEARER),
    responses=route_docs.MODELS.responses,
)
def list_models() -> Response[str]:
    runtime = get_runtime()
    common.admit_read(runtime, async_common.bearer_key(router.current_event.headers.get("authorization")))
    return common.json_response(200, models_list(common.deployed_models(runtime), int(time.time())))


@router.get(
    MODEL_PATH,
    summary="OpenAI-style: one model (remove-bg or a deployed one)",
    tags=["OpenAI-style"],
    security=requires(BEARER),
    responses=route_docs.MODEL.responses,
)
def get_model(model: str) -> Response[str]:
    """The OpenAI client's ``models.retrieve``: the model object, or a 404 in OpenAI's shape."""
    runtime = get_runtime()
    common.admit_read(runtime, async_common.bearer_key(router.current_event.headers.get("authorization")))
    listed = models_list(common.deployed_models(runtime), int(time.time()))["data"]
    found = next((entry for entry in listed if entry["id"] == model), None)
    if found is None:
        raise UnknownModelError(f"The model {model[:80]!r} does not exist; use {MODEL!r}")
    return common.json_response(200, found)


DIALECT = Dialect(
    name=NAME,
    router=router,
    error_response=error_response,
    url_field="image_url.url",
    security_scheme=BEARER,
    paths=PATHS,
    path_patterns=PATH_PATTERNS,
)
