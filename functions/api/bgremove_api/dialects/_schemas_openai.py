"""The OpenAI-style dialect's bodies as pydantic models, and each of its routes' OpenAPI description.

What they describe is :mod:`bgremove_api.dialects.openai` (``image_reference``, ``completion``,
``stream_body``, ``models_list``, ``error_response``); this module does not import it (the dialect imports
this one). tests/unit/api/test_openapi_schemas.py holds the two together.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from bgremove_api.dialects.schemas import (
    JSON,
    RouteDoc,
    WireModel,
    component_ref,
    error_responses,
    headers_doc,
    json_response,
    request_body,
    with_content,
)

SSE_CONTENT_TYPE = "text/event-stream"

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "rate_limit_error",
    "service_unavailable",
    "timeout",
    "server_error",
]


# ----------------------------------------------------------------------------------------------- requests
class OpenAIImageUrl(WireModel):
    model_config = ConfigDict(extra="allow")

    url: str = Field(
        description="The image: an https URL (fetched behind the SSRF guard) or a base64 `data:` URI",
        examples=["https://example.com/person.jpg"],
    )
    detail: Literal["auto", "low", "high"] | SkipJsonSchema[None] = Field(
        None, description="Accepted and ignored"
    )


class OpenAITextPart(WireModel):
    """A text part: accepted and ignored (the model needs no prompt)."""

    type: Literal["text"]
    text: str


class OpenAIImagePart(WireModel):
    """The image part: the last one of the last user message is the image."""

    type: Literal["image_url"]
    image_url: OpenAIImageUrl | str = Field(description="`{url}`, or the URL itself")


ContentPart = Annotated[OpenAITextPart | OpenAIImagePart, Field(discriminator="type")]


class OpenAIMessage(WireModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(
        description="Only the last `user` message is read; messages of other roles are ignored",
        examples=["user"],
    )
    content: str | list[ContentPart] = Field(
        description="The user message's parts: its last `image_url` part is the image (text is ignored)"
    )


class OpenAIChatCompletionRequest(WireModel):
    """A chat completion of the `remove-bg` model: the last user message's `image_url` part is the image.
    The request waits for the job (at most 25 s); other fields (temperature, max_tokens...) are accepted and
    ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(
        description="`remove-bg` (the deployment's default model) or a deployed model's name (GET "
        "/v1/models); any other is a 404",
        examples=["remove-bg"],
    )
    messages: list[OpenAIMessage]
    stream: bool | SkipJsonSchema[None] = Field(
        None,
        description="true: the answer is server-sent events (one content chunk, the stop, then [DONE]), "
        "sent once the job is done",
    )


# ----------------------------------------------------------------------------------------------- answers
class OpenAIAssistantMessage(WireModel):
    role: Literal["assistant"]
    content: str = Field(description="The result's presigned URL, valid RESULT_URL_TTL_S (1 h by default)")
    refusal: None


class OpenAIChoice(WireModel):
    index: int
    message: OpenAIAssistantMessage
    logprobs: None
    finish_reason: Literal["stop"]


class OpenAIUsage(WireModel):
    """Always zeros: no tokens are counted."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class OpenAIChatCompletion(WireModel):
    """The finished job as a chat completion whose content is the result's URL."""

    id: str = Field(
        description="`chatcmpl-` and the job's id", examples=["chatcmpl-01hzyq2w3e4r5t6y7u8i9o0p"]
    )
    object: Literal["chat.completion"]
    created: int = Field(description="When the job was created, epoch seconds")
    model: str = Field(description="The request's `model`")
    choices: list[OpenAIChoice]
    usage: OpenAIUsage


class OpenAIDelta(WireModel):
    role: Literal["assistant"] | SkipJsonSchema[None] = None
    content: str | SkipJsonSchema[None] = Field(None, description="The result's presigned URL")


class OpenAIChunkChoice(WireModel):
    index: int
    delta: OpenAIDelta
    finish_reason: Literal["stop"] | None


class OpenAIChatCompletionChunk(WireModel):
    """One `data:` event of a streamed answer: the role and content, then the stop (then `data: [DONE]`)."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[OpenAIChunkChoice]


class OpenAIModel(WireModel):
    id: str = Field(examples=["remove-bg"])
    object: Literal["model"]
    created: int
    owned_by: str = Field(examples=["bgremove"])


class OpenAIModelList(WireModel):
    """`remove-bg` (the deployment's default model), then each deployed model by name."""

    object: Literal["list"]
    data: list[OpenAIModel]


class OpenAIErrorBody(WireModel):
    message: str
    type: ErrorType
    param: str | None = Field(description="The request field at fault, where one is (`messages`)")
    code: str = Field(description="This API's stable error code (a failed job's own code)")


class OpenAIError(WireModel):
    """An error, in OpenAI's shape."""

    error: OpenAIErrorBody


# ----------------------------------------------------------------------------------------------- routes
STREAM_EXAMPLE = (
    'data: {"id":"chatcmpl-...","object":"chat.completion.chunk","created":1704067200,"model":"remove-bg",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":"https://..."},"finish_reason":null}]}\n\n'
    'data: {"id":"chatcmpl-...","object":"chat.completion.chunk","created":1704067200,"model":"remove-bg",'
    '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    "data: [DONE]\n\n"
)


COMPLETED = with_content(
    json_response(OpenAIChatCompletion, "The job finished: its result's URL (with `stream`, as events)"),
    SSE_CONTENT_TYPE,
    {
        "schema": {
            "type": "string",
            "description": "With `stream: true`: server-sent events whose `data:` is an "
            "OpenAIChatCompletionChunk (x-event-data: the role and content, then the stop), then "
            "`data: [DONE]`",
            "example": STREAM_EXAMPLE,
            "x-event-data": component_ref(OpenAIChatCompletionChunk, "serialization"),
        }
    },
)


CHAT = RouteDoc(
    responses={
        200: COMPLETED,
        **error_responses(
            OpenAIError,
            (400, 401, 403, 404, 413, 429, 500, 503, 504),
            notes={
                400: "Also a job that failed (its own code, e.g. NOT_AN_IMAGE)",
                504: "The message names the job: fetch it with GET /v2/jobs/{id} rather than retrying "
                "(JOB_UNFINISHED)",
            },
            descriptions={404: "`model` is neither remove-bg nor a deployed model (MODEL_NOT_FOUND)"},
            headers={
                504: headers_doc({"x-should-retry": "`false`: a retry would start another job"}),
            },
        ),
    },
    openapi_extensions=request_body(OpenAIChatCompletionRequest),
)
"""``POST /v1/chat/completions``."""

MODELS = RouteDoc(
    responses={
        200: json_response(OpenAIModelList, "The models", media_type=JSON),
        **error_responses(OpenAIError, (401, 403, 429, 500, 503)),
    }
)
"""``GET /v1/models``."""

MODEL = RouteDoc(
    responses={
        200: json_response(OpenAIModel, "The model", media_type=JSON),
        **error_responses(
            OpenAIError,
            (401, 403, 404, 429, 500, 503),
            descriptions={404: "Neither remove-bg nor a deployed model (MODEL_NOT_FOUND)"},
        ),
    }
)
"""``GET /v1/models/{model}`` (the OpenAI client's ``models.retrieve``)."""
