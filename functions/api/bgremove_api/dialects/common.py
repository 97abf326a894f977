"""What the dialects share: their form fields (read from the body, listed in the OpenAPI document), the
one-image-input rule, key and rate-limit checks, error classification, the synchronous dialects' one
request path (:func:`remove_background`), and returning a result inline or by a 303 redirect.

A dialect declares its fields once (:class:`FormField`): :func:`request_values` reads them from a
multipart, urlencoded or JSON body (:mod:`bgremove_api.forms`, after the key is checked) and
:func:`request_body_doc` lists them in the OpenAPI document. Values stay text:
:meth:`bgremove.Options.parse` reads them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import UploadFile
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from bgremove import Options
from bgremove.engine import Result
from bgremove.exceptions import BgRemoveError, InputError, InvalidOptionError
from bgremove_api import forms
from bgremove_api.exceptions import (
    ApiError,
    InvalidBase64Error,
    MissingSourceError,
    MultipleSourcesError,
    RateLimitedError,
    RateState,
    RequestTooLargeError,
    ServiceUnavailableError,
)
from bgremove_api.keys import ApiKey, looks_like_key
from bgremove_api.runtime import ApiRuntime

MAX_REQUEST_BODY_BYTES = 6 * 1024 * 1024
"""Largest request body the function reads, as the event carries it (base64 for binary bodies). Lambda
refuses synchronous payloads over 6 MB; API Gateway refuses bodies over 10 MB before the function runs."""

MAX_INLINE_BODY_BYTES = 6 * 1024 * 1024 - 64 * 1024
"""Largest response body returned inline, counted after base64: Lambda's 6 MB response limit, less room
for the headers and the response's JSON envelope. Larger results are stored and answered with a 303."""

RESULT_KEY_PREFIX = "api-results/"
"""Where results too large to return inline are stored in the output bucket."""

PROCESSING_RESERVE_S = 8.0
"""Time kept for the engine and the answer after a request's URL fetches: every fetch of one request
(image and background) ends this long before the function's time runs out, so two slow fetches cannot
push the request past API Gateway's 29 s."""


@dataclass(frozen=True)
class FormField:
    """One request field of a dialect, as its clients spell it (``image.url``, ``bg_color``)."""

    alias: str
    description: str
    file: bool = False


def request_body_doc(fields: Sequence[FormField]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads ``fields`` (multipart, urlencoded or JSON).

    The route reads its body itself (:func:`request_values`), so powertools has no parameters to describe;
    the route passes this through ``openapi_extensions``.
    """
    properties = {
        f.alias: {"type": "string", "description": f.description, **({"format": "binary"} if f.file else {})}
        for f in fields
    }
    text_only = {k: v for k, v in properties.items() if v.get("format") != "binary"}
    return {
        "requestBody": {
            "content": {
                forms.MULTIPART: {"schema": {"type": "object", "properties": properties}},
                forms.URLENCODED: {"schema": {"type": "object", "properties": text_only}},
                forms.JSON: {"schema": {"type": "object", "properties": text_only}},
            }
        }
    }


def request_values(event: BaseProxyEvent, fields: Sequence[FormField]) -> dict[str, Any]:
    """The fields the request gave, by alias (absent and empty ones left out).

    File fields hold an :class:`UploadFile` (or text, if sent as text); text fields hold text or, from a
    JSON body, any JSON value. Raises :class:`BadRequestError` when the body cannot be read.
    """
    body = forms.parse_body(forms.event_body(event.raw_event), event.headers.get("content-type"))
    values = {}
    for f in fields:
        value = body.get(f.alias) if f.file else forms.text_value(f.alias, body.get(f.alias))
        if _given(value):
            values[f.alias] = value
    return values


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


# ----------------------------------------------------------------------------------------------- input
@dataclass(frozen=True)
class ImageFields:
    """A dialect's three ways to give the image: an uploaded file, base64 text, or a URL to fetch."""

    file: str
    base64: str
    url: str

    def __iter__(self) -> Iterator[str]:
        return iter((self.file, self.base64, self.url))


def time_left_s(context: Any) -> float:
    """Seconds left of the invocation, as the Lambda context counts them."""
    return max(float(context.get_remaining_time_in_millis()) / 1000, 0.0)


def fetch_deadline(context: Any, reserve_s: float = PROCESSING_RESERVE_S) -> float:
    """The :func:`time.monotonic` time by which a request's URL fetches must end: the invocation's time
    left less ``reserve_s``, what the request still has to do after them (a synchronous dialect:
    :data:`PROCESSING_RESERVE_S`; an asynchronous one: ``async_common.FETCH_RESERVE_S``)."""
    return time.monotonic() + max(time_left_s(context) - reserve_s, 0.0)


def read_image(
    runtime: ApiRuntime, values: Mapping[str, Any], fields: ImageFields, deadline: float | None = None
) -> bytes:
    """The image bytes from exactly one of the dialect's image fields (a URL fetched by ``deadline``).

    Raises
    ------
    MissingSourceError, MultipleSourcesError
        None, or more than one, of the fields was given.
    InvalidBase64Error
        The base64 field is not base64.
    UrlError
        The URL could not be fetched (a subclass says why).
    """
    given = [name for name in fields if name in values]
    if not given:
        raise MissingSourceError(f"no image given: send one of {', '.join(fields)}")
    if len(given) > 1:
        raise MultipleSourcesError(f"give only one of {', '.join(fields)}; got {', '.join(given)}")
    value = values[given[0]]
    if given[0] == fields.url:
        return runtime.fetcher.fetch(str(value).strip(), deadline=deadline).body
    if given[0] == fields.base64:
        return decode_base64(given[0], str(value))
    if isinstance(value, UploadFile):
        return value.content
    return text_bytes(value)  # a file field sent as plain text: the engine says what it is


def text_bytes(value: object) -> bytes:
    """Text sent where bytes belong (a file field as a JSON string), as bytes: UTF-8, lone surrogates
    (``"\\ud800"`` in JSON) kept as they came rather than failing the encoding; what they hold is the
    engine's to judge."""
    return str(value).encode("utf-8", "surrogatepass")


_DATA_URI = re.compile(r"data:[\w/+.-]*(;[\w=.-]+)*;base64,", re.IGNORECASE)


def decode_base64(name: str, text: str) -> bytes:
    """Decode standard or URL-safe base64, with or without padding or a ``data:...;base64,`` prefix."""
    text = text.strip()
    prefix = _DATA_URI.match(text[:256])  # only at the start: a search through MBs of text crawls
    body = text[prefix.end() :] if prefix else text
    body = "".join(body.split()).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidBase64Error(f"{name} is not valid base64") from None


def check_body_size(body: str | None, url_field: str) -> None:
    """Refuse a request body over :data:`MAX_REQUEST_BODY_BYTES`, pointing to the URL field instead."""
    if body is not None and len(body) > MAX_REQUEST_BODY_BYTES:
        raise RequestTooLargeError(
            f"the request is {len(body):,} bytes, over the {MAX_REQUEST_BODY_BYTES:,} bytes this API "
            f"accepts in a request: put the image somewhere it can be fetched and send its address in "
            f"{url_field} instead"
        )


# ----------------------------------------------------------------------------------------------- one request
@dataclass(frozen=True)
class SyncForm:
    """How a synchronous dialect reads a request: its fields, its image fields, its option mapping and
    (where it has one) how it reads a background image."""

    fields: Sequence[FormField]
    image: ImageFields
    parse_options: Callable[[Mapping[str, Any]], Options]
    read_background: Callable[[ApiRuntime, Mapping[str, Any], float | None], bytes | None] | None = None


def remove_background(
    runtime: ApiRuntime, event: BaseProxyEvent, context: Any, presented: str | None, form: SyncForm
) -> tuple[Result, Options]:
    """The one path of every synchronous dialect's call: admit the key (before the body is read: a keyless
    request is refused whatever it sends), read the fields, map the options, fetch the inputs by one
    deadline, process. The dialect turns the result into its answer (:func:`deliver`)."""
    with admitted(runtime, presented):
        values = request_values(event, form.fields)
        options = form.parse_options(values)
        check_model(runtime, options)
        deadline = fetch_deadline(context)  # one for every fetch of the request
        image = read_image(runtime, values, form.image, deadline)
        background = None
        if options.background_image and form.read_background is not None:
            background = form.read_background(runtime, values, deadline)
        return runtime.engine.process(image, options, background=background), options


def check_model(runtime: ApiRuntime, options: Options) -> None:
    """A model this deployment does not have is the caller's mistake (400), named with those it has."""
    if options.model is None:
        return
    deployed = deployed_models(runtime)
    if options.model not in deployed:
        raise InvalidOptionError(
            "model",
            f"{options.model!r} is not deployed here; deployed: {', '.join(deployed) or 'none'} "
            f"(empty: the default, {runtime.engine.settings.default_model})",
        )


def deployed_models(runtime: ApiRuntime) -> list[str]:
    """The models whose files this deployment has, by name."""
    registry = runtime.engine.registry
    return sorted(name for name in registry.names() if registry.is_available(name))


# ----------------------------------------------------------------------------------------------- keys
@contextmanager
def admitted(runtime: ApiRuntime, presented: str | None) -> Iterator[tuple[ApiKey, RateState]]:
    """Authenticate the key, count the request against its rate and hold one of its in-flight slots for
    the request's duration: for every route that processes, stores or reads image bytes."""
    key = runtime.keys.authenticate(presented)
    with runtime.limiter.acquire(key) as permit:
        _admitted_rate.set(permit.state)
        yield key, permit.state


def admit_read(runtime: ApiRuntime, presented: str | None) -> tuple[ApiKey, RateState]:
    """Authenticate the key and count the request against its rate, holding no in-flight slot: for routes
    that read or change one small record (a job poll, a list page, a cancel, the account)."""
    key = runtime.keys.authenticate(presented)
    state = runtime.limiter.acquire(key, in_flight=False).state
    _admitted_rate.set(state)
    return key, state


_admitted_rate: ContextVar[RateState | None] = ContextVar("admitted_rate", default=None)
"""The rate window of the request being answered, once its key was admitted: every later answer, an error
included, reports it (remove.bg's ``X-RateLimit-*``)."""


def begin_request() -> None:
    """Forget the previous request's admission (the app calls it first thing, on every request)."""
    _admitted_rate.set(None)


def admitted_rate() -> RateState | None:
    """The rate window of the request being answered, if its key was admitted."""
    return _admitted_rate.get()


def basic_auth_key(header: str | None) -> str | None:
    """The key from an HTTP Basic ``Authorization`` header: whichever half has a key's form.

    Pixian's clients send ``API id : secret``; here one key is the whole credential, so either half may
    carry it and the other is a free-form label (an old id or secret left in the client). Where neither
    half looks like a key, the password is presented, else the user (and is refused as a bad key).
    """
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        user, _, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        return None
    for half in (password, user):
        if looks_like_key(half):
            return half.strip()
    return password or user or None


# ----------------------------------------------------------------------------------------------- errors
@dataclass(frozen=True)
class Failure:
    """An error as every dialect needs it: HTTP status, stable code, message, extra headers."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    rate: RateState | None = None


def classify(error: Exception) -> Failure:
    """Any error a request can raise, as a :class:`Failure` (never the details of an unexpected one)."""
    if isinstance(error, RateLimitedError):
        return Failure(429, error.code, error.message, {"Retry-After": str(error.retry_after_s)}, error.state)
    if isinstance(error, ServiceUnavailableError):
        return Failure(503, error.code, error.message, {"Retry-After": str(error.retry_after_s)})
    if isinstance(error, ApiError):
        return Failure(error.http_status, error.code, error.message)
    if isinstance(error, InputError):
        return Failure(400, error.code, error.message)
    if isinstance(error, BgRemoveError):  # model or deployment fault: the operator must act
        return Failure(500, error.code, "the service is misconfigured; the operator has been told")
    return Failure(500, "INTERNAL_ERROR", "internal error")


def json_response(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(payload, separators=(",", ":")),
        headers=dict(headers or {}),
    )


# ----------------------------------------------------------------------------------------------- results
def deliver(
    runtime: ApiRuntime,
    result: Result,
    headers: Mapping[str, str],
    *,
    inline: Callable[[bytes], Response[Any]] | None = None,
) -> Response[Any]:
    """The result inline, or, when too large for Lambda's response, stored and answered with ``303``.

    Parameters
    ----------
    result
        The engine's result (its encoded bytes, content type and file extension).
    headers
        The dialect's result headers; sent with either answer.
    inline
        Builds the inline answer (default: the bytes with their content type); its body size decides.
        When it is too large, that answer is what is stored: a JSON answer stays JSON after the 303.
    """
    body, content_type, extension = result.data, result.content_type, result.extension
    response = (
        inline(body)
        if inline is not None
        else Response(status_code=200, content_type=content_type, body=body, headers=dict(headers))
    )
    if encoded_size(response.body) <= MAX_INLINE_BODY_BYTES:
        return response
    if inline is not None:
        body = response.body if isinstance(response.body, bytes) else str(response.body).encode()
        content_type = str(response.headers.get("Content-Type") or content_type)
        extension = "json" if content_type == "application/json" else extension
    key = f"{RESULT_KEY_PREFIX}{uuid.uuid4()}.{extension}"
    runtime.s3.put_object(Bucket=runtime.settings.output_bucket, Key=key, Body=body, ContentType=content_type)
    return Response(status_code=303, body="", headers={**headers, "Location": runtime.presigner.url(key)})


def encoded_size(body: object) -> int:
    if isinstance(body, bytes):
        return 4 * ((len(body) + 2) // 3)  # powertools sends bytes base64-encoded
    return len(str(body).encode()) if body is not None else 0
