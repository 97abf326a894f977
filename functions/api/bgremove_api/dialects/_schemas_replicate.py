"""Replicate's bodies as pydantic models, and each Replicate route's OpenAPI description (:class:`RouteDoc`).

What they describe is :mod:`bgremove_api.dialects.replicate`: the route code and its mapping functions
(:func:`~bgremove_api.dialects.replicate.prediction`, ``version_object``, ``error_response``). This module
does not import it (the dialect imports this one); tests/unit/api/test_openapi_schemas.py holds the two
together. Class docstrings and field descriptions are the document's text.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from bgremove_api.dialects.schemas import (
    PROBLEM_JSON,
    RouteDoc,
    WireModel,
    binary_response,
    error_responses,
    header_parameter,
    headers_doc,
    json_response,
    option_schema,
    query_parameter,
    redirect_response,
    request_body,
)

PredictionStatus = Literal["starting", "processing", "succeeded", "failed", "canceled"]
WebhookEvent = Literal["start", "output", "logs", "completed"]
Version = Literal[
    "95fcc2a26d3899cd6c2691c900465aaeff466285a65c14638cc5f36f34befaf1", "u2net", "u2netp", "isnet"
]

IMAGE_DESCRIPTION = (
    "The image: an https URL (fetched behind the SSRF guard), a base64 `data:` URI, or the `urls.get` of a "
    "file uploaded to `POST /v1/files` with the same key (read from the bucket, not fetched)"
)


# ----------------------------------------------------------------------------------------------- requests
class ReplicatePredictionInput(WireModel):
    """lucataco/remove-bg's input. `image` is the model's own field; `format` and `background_type` are this
    API's options (the option table's values). Any other key is refused (400 INVALID_OPTION)."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(description=IMAGE_DESCRIPTION, examples=["https://example.com/shoe.jpg"])
    format: str | SkipJsonSchema[None] = Field(None, json_schema_extra=option_schema("format"))
    background_type: str | SkipJsonSchema[None] = Field(
        None, json_schema_extra=option_schema("background_type")
    )


class _PredictionRequest(WireModel):
    model_config = ConfigDict(extra="allow")

    input: ReplicatePredictionInput
    webhook: str | SkipJsonSchema[None] = Field(
        None,
        description="An https URL to POST the prediction to as it progresses, signed as Replicate signs "
        "(webhook-id, webhook-timestamp, webhook-signature; the secret: GET /v1/webhooks/default/secret). "
        "Checked at submit: one that cannot be used (scheme, private address, no DNS name) is a 400",
    )
    webhook_events_filter: list[WebhookEvent] | SkipJsonSchema[None] = Field(
        None, description="Which events are sent to `webhook`; all of them when absent"
    )


class ReplicatePredictionCreate(_PredictionRequest):
    """A prediction to create. Other fields the client sends (`stream`, `webhook_completed`) are accepted
    and ignored. `Prefer: wait[=N]` holds the answer until the prediction finishes (at most 25 s)."""

    version: Version = Field(
        description="The model to run: lucataco/remove-bg's version (the deployment's default model) or a "
        "model's own name; a model this deployment does not have is a 422 (UNKNOWN_VERSION)",
        examples=["95fcc2a26d3899cd6c2691c900465aaeff466285a65c14638cc5f36f34befaf1"],
    )


class ReplicateModelPredictionCreate(_PredictionRequest):
    """A prediction of lucataco/remove-bg (the deployment's default model): no `version`; one given is
    ignored, as are other fields the client sends."""


# ----------------------------------------------------------------------------------------------- answers
class ReplicatePredictionUrls(WireModel):
    """The prediction's own URLs, on the address the client called."""

    get: str = Field(description="GET it here (the client polls this)")
    cancel: str = Field(description="POST here to cancel it")
    stream: str = Field(description="Not served: predictions of this model do not stream")
    web: str = Field(description="The same as `get`")


class ReplicatePredictionMetrics(WireModel):
    """Timings, once the prediction finished."""

    predict_time: float | SkipJsonSchema[None] = Field(
        None, description="Seconds from start to finish (present once the prediction succeeded)"
    )


class ReplicatePrediction(WireModel):
    """A prediction: a job of this API, in Replicate's shape."""

    id: str
    model: Literal["lucataco/remove-bg"]
    version: str = Field(description="The `version` the prediction was created with")
    status: PredictionStatus = Field(
        description="`starting` (queued, or the answer to a `Prefer: wait` that ran out), `processing`, "
        "then `succeeded`, `failed` or `canceled`"
    )
    input: dict[str, Any] = Field(
        description="The input as given; a long `data:` URI is shown as its header and length"
    )
    output: str | None = Field(
        description="Once succeeded: `/v1/files/{id}` on this API, read with the same key (null before)"
    )
    logs: str = Field(description="Always empty")
    error: str | None = Field(description="Once failed: `CODE: message` (null otherwise)")
    metrics: ReplicatePredictionMetrics
    created_at: str = Field(description="ISO 8601, UTC")
    started_at: str | None
    completed_at: str | None
    urls: ReplicatePredictionUrls
    data_removed: bool = Field(description="Always false")
    source: Literal["api"]
    webhook: str | SkipJsonSchema[None] = Field(None, description="Present when the prediction has one")
    webhook_events_filter: list[WebhookEvent] | SkipJsonSchema[None] = Field(
        None, description="Present when the prediction has a webhook"
    )


class ReplicatePredictionPage(WireModel):
    """One page of the key's predictions, newest first (20 a page)."""

    next: str | None = Field(description="The next page's full URL (the client follows it as given)")
    previous: None = Field(description="Always null: pages go one way")
    results: list[ReplicatePrediction]


class ReplicateFileChecksums(WireModel):
    sha256: str


class ReplicateFileUrls(WireModel):
    get: str = Field(description="Give this as `input.image` (read with the same key)")


class ReplicateFile(WireModel):
    """An uploaded file, kept for the output bucket's retention."""

    id: str
    name: str
    content_type: str
    size: int = Field(description="Bytes")
    etag: str = Field(description="The content's MD5, hex")
    checksums: ReplicateFileChecksums
    metadata: dict[str, Any] = Field(description="The `metadata` part as given ({} without one)")
    created_at: str = Field(description="ISO 8601, UTC")
    expires_at: None = Field(description="Always null: the bucket's retention applies")
    urls: ReplicateFileUrls


class ReplicateVersion(WireModel):
    """A version of lucataco/remove-bg (replicate.run reads it before it creates a prediction)."""

    id: str
    created_at: str
    cog_version: str
    openapi_schema: dict[str, Any] = Field(
        description="The model's Cog schema: one input, `image` (a URI), and one output, a URI"
    )


class ReplicateWebhookSecret(WireModel):
    """The key's webhook signing secret: what `replicate.webhooks.validate` checks deliveries with."""

    key: str = Field(pattern=r"^whsec_", examples=["whsec_c2VjcmV0LWJ5dGVzLWZvci10aGUta2V5"])


class ReplicateProblem(WireModel):
    """An error, as RFC 7807 `application/problem+json`; `code` is this API's stable code."""

    type: Literal["about:blank"]
    title: str = Field(examples=["Unauthenticated"])
    status: int
    detail: str = Field(examples=["You did not pass a valid authentication token"])
    code: str = Field(examples=["UNAUTHORIZED"])


# ----------------------------------------------------------------------------------------------- routes
def _problems(
    statuses: tuple[int, ...], notes: dict[int, str] | None = None, descriptions: dict[int, str] | None = None
) -> dict[int, OpenAPIResponse]:
    return error_responses(
        ReplicateProblem, statuses, media_type=PROBLEM_JSON, notes=notes, descriptions=descriptions
    )


PREFER = header_parameter(
    "Prefer",
    "`wait` or `wait=N`: hold the answer until the prediction finishes, at most N seconds (25 at most: "
    "API Gateway ends a request after 29 s). A prediction still running then is answered `starting`, as "
    "replicate.run() expects",
)
CREATED = json_response(
    ReplicatePrediction,
    "The prediction, created",
    headers=headers_doc(
        {
            "Location": "The prediction's URL",
            "Preference-Applied": "`wait` when the request waited (`Prefer: wait`)",
        }
    ),
)
INVALID_INPUT = (
    "`version` names no model this deployment has (UNKNOWN_VERSION), or the body is not what Replicate's "
    "schema takes (INVALID_INPUT: no `input`, a bad `webhook_events_filter`, an upload of another key)"
)
CREATE_ERRORS = (400, 401, 403, 413, 422, 429, 500, 503)
READ_ERRORS = (401, 403, 404, 429, 500, 503)

CREATE = RouteDoc(
    responses={201: CREATED, **_problems(CREATE_ERRORS, {422: INVALID_INPUT})},
    openapi_extensions=request_body(ReplicatePredictionCreate, parameters=[PREFER]),
)
"""``POST /v1/predictions`` and the reseller's ``/replicate/v1/predictions``."""

CREATE_FOR_MODEL = RouteDoc(
    responses={
        201: CREATED,
        **_problems(
            (*CREATE_ERRORS, 404),
            {422: INVALID_INPUT},
            {404: "This API runs lucataco/remove-bg only (MODEL_NOT_FOUND)"},
        ),
    },
    openapi_extensions=request_body(ReplicateModelPredictionCreate, parameters=[PREFER]),
)
"""``POST /v1/models/{owner}/{name}/predictions``."""

GET = RouteDoc(
    responses={200: json_response(ReplicatePrediction, "The prediction"), **_problems(READ_ERRORS)}
)
CANCEL = RouteDoc(
    responses={
        200: json_response(ReplicatePrediction, "The prediction: canceled, unless it had finished"),
        **_problems(READ_ERRORS, descriptions={404: "No prediction of this id made with this key"}),
    }
)
LIST = RouteDoc(
    responses={
        200: json_response(ReplicatePredictionPage, "A page of the key's predictions, newest first"),
        **_problems(
            (400, 401, 403, 429, 500, 503), {400: "`cursor` is not one this API gave (INVALID_CURSOR)"}
        ),
    },
    openapi_extensions=request_body(
        parameters=[query_parameter("cursor", "Where the page starts: from the previous page's `next`")]
    ),
)
VERSION = RouteDoc(
    responses={
        200: json_response(ReplicateVersion, "The version"),
        **_problems(
            READ_ERRORS, descriptions={404: "Not a version of lucataco/remove-bg this deployment runs"}
        ),
    }
)
WEBHOOK_SECRET = RouteDoc(
    responses={
        200: json_response(ReplicateWebhookSecret, "The key's signing secret"),
        **_problems((401, 403, 429, 500, 503)),
    }
)
FILE_UPLOAD = RouteDoc(
    responses={
        201: json_response(ReplicateFile, "The file, stored"),
        **_problems(CREATE_ERRORS, {422: "No `content` part, or `metadata` that is not a JSON object"}),
    }
)
"""``POST /v1/files`` (its body: the route's own ``request_body_doc``, a multipart form)."""

FILE = RouteDoc(
    responses={
        200: binary_response(
            "The prediction's output (or the uploaded file): image types as stored, anything else as "
            "application/octet-stream",
            ("image/*", "application/zip", "application/octet-stream"),
        ),
        303: redirect_response("The output is over the 6 MB an answer carries: its presigned URL instead"),
        **_problems(
            READ_ERRORS, descriptions={404: "No upload of this key, and no succeeded prediction of it"}
        ),
    }
)
"""``GET /v1/files/{file_id}``."""
