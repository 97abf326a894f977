"""Apiframe v2's bodies as pydantic models, and each Apiframe route's OpenAPI description.

What they describe is :mod:`bgremove_api.dialects.apiframe` (``parse_options``, ``webhook_config``,
``job_object``, ``error_response``, the routes); this module does not import it (the dialect imports this
one). tests/unit/api/test_openapi_schemas.py holds the two together.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from bgremove_api.dialects.schemas import (
    RouteDoc,
    WireModel,
    error_responses,
    header_parameter,
    json_response,
    option_schema,
    query_parameter,
    request_body,
)

JobStatus = Literal["QUEUED", "PROCESSING", "COMPLETED", "FAILED"]
WebhookEvent = Literal["progress", "completed", "failed"]


# ----------------------------------------------------------------------------------------------- requests
class ApiframeParams(WireModel):
    """851-bg-remove's parameters; any other key is refused (400 INVALID_OPTION)."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(
        description="The image: an https URL (fetched behind the SSRF guard) or a base64 `data:` URI",
        examples=["https://example.com/input.jpg"],
    )
    format: Literal["png", "jpg"] = Field("png", description="Output format")
    threshold: float | SkipJsonSchema[None] = Field(None, json_schema_extra=option_schema("threshold"))
    background_type: str | SkipJsonSchema[None] = Field(
        None, json_schema_extra=option_schema("background_type")
    )


class ApiframeSubmit(WireModel):
    """A job of the 851-bg-remove model. `Idempotency-Key` returns the first job for a repeated submit.
    Other fields (`prompt`) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: Literal["851-bg-remove"] = "851-bg-remove"
    params: ApiframeParams = Field(alias="lab851BgRemoveParams")
    webhook_url_camel: str | SkipJsonSchema[None] = Field(
        None,
        alias="webhookUrl",
        description="An https URL to POST the job's events to (X-Webhook-Event, X-Webhook-Signature: "
        "HMAC-SHA256 of the body keyed with the SHA-256 of the API key). Checked at submit: one that "
        "cannot be used (scheme, private address, no DNS name) is a 400",
    )
    webhook_url_snake: str | SkipJsonSchema[None] = Field(
        None, alias="webhook_url", description="The same as `webhookUrl` (the FAQ's spelling)"
    )
    webhook_events: Annotated[list[WebhookEvent], Field(min_length=1)] | SkipJsonSchema[None] = Field(
        None,
        alias="webhookEvents",
        description="Which events are sent to the webhook; completed and failed when absent",
    )


# ----------------------------------------------------------------------------------------------- answers
class ApiframeSubmitted(WireModel):
    """The job, accepted (or, for a repeated `Idempotency-Key`, the first job, as it is now)."""

    job_id: str = Field(alias="jobId")
    status: JobStatus


class ApiframeJobError(WireModel):
    code: str = Field(
        description="This API's error code; CANCELED for a canceled job", examples=["NOT_AN_IMAGE"]
    )
    message: str


class ApiframeJob(WireModel):
    """A job: poll it until `status` is COMPLETED or FAILED."""

    id: str
    status: JobStatus = Field(description="A canceled job is FAILED, with error.code CANCELED")
    model: Literal["851-bg-remove"]
    progress: int = Field(ge=0, le=100, description="0 queued, 50 processing, 100 finished")
    result: str | None = Field(
        description="Once COMPLETED: the output's presigned URL, valid RESULT_URL_TTL_S (1 h by default) "
        "from each read"
    )
    error: ApiframeJobError | None = Field(description="Once FAILED: why")
    credit_cost: int = Field(alias="creditCost", description="1 once COMPLETED, else 0")
    webhook_status: dict[str, str] | None = Field(
        alias="webhookStatus",
        description="Each webhook event's delivery: pending, queued, retrying, delivered or failed",
    )
    created_at: str = Field(alias="createdAt", description="ISO 8601, UTC")
    completed_at: str | None = Field(alias="completedAt")


class ApiframeJobList(WireModel):
    """A page of the key's jobs, newest first."""

    jobs: list[ApiframeJob]
    next_cursor: str | None = Field(alias="nextCursor", description="Pass as `cursor` for the next page")
    has_more: bool = Field(alias="hasMore")


class ApiframeErrorBody(WireModel):
    code: str = Field(description="This API's stable error code", examples=["UNAUTHORIZED"])
    message: str
    status: int


class ApiframeError(WireModel):
    """An error, in Apiframe's shape."""

    error: ApiframeErrorBody


# ----------------------------------------------------------------------------------------------- routes
READ_ERRORS = (401, 403, 404, 429, 500, 503)
STATUS_FILTERS = ("QUEUED", "PROCESSING", "COMPLETED", "FAILED", "CANCELED")
"""What ``GET /v2/jobs?status=`` takes: the jobs' own states (a canceled job is shown as FAILED)."""

SUBMIT = RouteDoc(
    responses={
        202: json_response(ApiframeSubmitted, "The job, accepted: poll GET /v2/jobs/{jobId}"),
        **error_responses(
            ApiframeError,
            (400, 401, 403, 413, 422, 429, 500, 503),
            notes={
                400: "INVALID_REQUEST names the field (another `model`, no `lab851BgRemoveParams`, a bad "
                "`webhookEvents`); INVALID_IDEMPOTENCY_KEY: over 256 characters",
                422: "The `Idempotency-Key` was used for another request (IDEMPOTENCY_KEY_REUSED)",
            },
        ),
    },
    openapi_extensions=request_body(
        ApiframeSubmit,
        parameters=[
            header_parameter(
                "Idempotency-Key",
                "A repeated submit with the same key returns the first job (at most 256 characters)",
            )
        ],
    ),
)
"""``POST /v2/images/background-remove``."""

JOB = RouteDoc(
    responses={
        200: json_response(ApiframeJob, "The job"),
        **error_responses(
            ApiframeError, READ_ERRORS, descriptions={404: "No job of this id made with this key"}
        ),
    }
)
"""``GET /v2/jobs/{job_id}``."""

JOBS = RouteDoc(
    responses={
        200: json_response(ApiframeJobList, "A page of the key's jobs, newest first"),
        **error_responses(
            ApiframeError,
            (400, 401, 403, 429, 500, 503),
            notes={
                400: "A `status`, `limit` or `cursor` this API does not take (INVALID_REQUEST, "
                "INVALID_CURSOR)"
            },
        ),
    },
    openapi_extensions=request_body(
        parameters=[
            query_parameter(
                "status",
                "Only jobs in this status (any case); CANCELED: the canceled ones, shown as FAILED",
                {"type": "string", "enum": [*STATUS_FILTERS]},
            ),
            query_parameter("model", "Only jobs of this model (851-bg-remove: all; any other: none)"),
            query_parameter(
                "limit", "Jobs a page", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
            ),
            query_parameter("cursor", "Where the page starts: the previous page's `nextCursor`"),
        ]
    ),
)
"""``GET /v2/jobs``."""
