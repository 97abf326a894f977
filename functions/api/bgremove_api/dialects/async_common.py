"""What the asynchronous dialects (Replicate, OpenAI-style, Apiframe) share: the key from a Bearer header,
an image given as a URL or a ``data:`` URI, the address clients called (for URLs in answers), the wait
cap, and times as ISO 8601.

The jobs themselves (store, submit, wait, result URLs) live in :mod:`bgremove_api.jobs`; these helpers only
turn each dialect's request into what :class:`bgremove_api.jobs.JobSubmitter` takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from bgremove import Options
from bgremove.exceptions import EmptyInputError
from bgremove_api import forms, jobs, webhooks
from bgremove_api.dialects import common
from bgremove_api.dialects.common import decode_base64
from bgremove_api.exceptions import BadRequestError, MissingSourceError
from bgremove_api.keys import ApiKey
from bgremove_api.runtime import ApiRuntime

MAX_WAIT_S = 25.0
"""Longest a request holds for its job: API Gateway ends every integration after 29 s."""

WAIT_POLL_S = 0.05
"""How often a waiting request reads its job (one consistent DynamoDB read each): at most this much late.
At 100 ms the OpenAI-style answer came 150 ms after the S3 path's at p50 (target: under 150, make bench-jobs);
a 25 s wait costs at most 500 reads, about $0.0001."""

ANSWER_RESERVE_S = 2.0
"""Time kept after a wait to read the job once more and send the answer before the function's time (29 s,
API Gateway's own limit) runs out: a wait that ran out is answered in the dialect's "not finished yet"
shape, never cut off by API Gateway's bare 504."""

SUBMIT_RESERVE_S = 3.0
"""Time kept after an image URL's fetch to store the input and the job (S3, DynamoDB)."""

FETCH_RESERVE_S = SUBMIT_RESERVE_S + ANSWER_RESERVE_S
"""What a submit keeps after its URL fetches (``common.fetch_deadline``): the store, then the answer."""

DATA_URI_PREFIX = "data:"

_BEARER = re.compile(r"\s*(?:bearer|token)\s+(\S+)\s*", re.IGNORECASE)
_EXECUTE_API_SUFFIX = ".amazonaws.com"
_MAX_SHOWN_INPUT_CHARS = 2048


def bearer_key(header: str | None) -> str | None:
    """The key from ``Authorization: Bearer KEY`` (or ``Token KEY``: Replicate clients before 0.26)."""
    if not header:
        return None
    match = _BEARER.fullmatch(header)
    return match.group(1) if match else None


def wait_budget(context: Any, asked_s: float) -> float:
    """How long a request may wait for its job: what it asked, ending :data:`ANSWER_RESERVE_S` before the
    function's time does (a slow URL fetch leaves less to wait)."""
    return max(0.0, min(asked_s, common.time_left_s(context) - ANSWER_RESERVE_S))


@dataclass(frozen=True)
class JobRequest:
    """What an asynchronous dialect's request asks for, mapped from its body by the dialect's pure function.

    Attributes
    ----------
    options
        The options (``options.model`` ``None``: the deployment's default).
    image, image_field
        The image as the request gave it (a URL or a ``data:`` URI, or what the dialect's own reader takes)
        and its name in the request, for errors.
    filename
        The name the input is stored under.
    webhook, webhook_field
        Its webhook, if any, and the request's name for the URL (errors name it).
    idempotency_key
        The client's key for this submit.
    extra
        What the dialect keeps on the job for its answers.
    """

    options: Options
    image: object
    image_field: str
    filename: str = "image"
    webhook: jobs.WebhookConfig | None = None
    webhook_field: str = "webhook"
    idempotency_key: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


ImageReader = Callable[[ApiRuntime, object, str, "float | None"], bytes]
"""``(runtime, reference, field, deadline) -> bytes``: how a dialect reads its image references."""


def submit(
    runtime: ApiRuntime,
    owner: ApiKey,
    dialect: str,
    request: JobRequest,
    context: Any,
    *,
    read_image: ImageReader | None = None,
) -> jobs.Job:
    """The one submit path of every asynchronous dialect: the webhook URL checked and the image read by one
    deadline (the webhook first: a refused URL fetches nothing), then the job queued.

    Raises
    ------
    UrlError
        The webhook URL would be refused at delivery, or the image URL could not be fetched.
    MissingSourceError, InvalidBase64Error, EmptyInputError
        The image reference holds no image bytes.
    """
    deadline = common.fetch_deadline(context, FETCH_RESERVE_S)
    if request.webhook is not None:  # refused now rather than retried into the dead-letter queue later
        webhooks.check_webhook_url(runtime.fetcher, request.webhook.url, request.webhook_field, deadline)
    image = (read_image or image_from_reference)(runtime, request.image, request.image_field, deadline)
    job, _ = runtime.jobs.submitter.submit(
        owner,
        dialect=dialect,
        image=image,
        filename=request.filename,
        options=request.options,
        webhook=request.webhook,
        idempotency_key=request.idempotency_key,
        extra=request.extra,
    )
    return job


def image_from_reference(
    runtime: ApiRuntime, reference: object, field: str, deadline: float | None = None
) -> bytes:
    """The bytes of an image given as a ``data:`` URI (base64) or an http(s) URL (behind the SSRF guard),
    fetched by ``deadline`` (:func:`time.monotonic`; ``common.fetch_deadline``).

    Raises
    ------
    MissingSourceError
        ``reference`` is empty or not text.
    InvalidBase64Error
        A ``data:`` URI whose body is not base64.
    UrlError
        The URL could not be fetched (a subclass says why).
    """
    if not isinstance(reference, str) or not reference.strip():
        raise MissingSourceError(f"no image given: {field} must be an https URL or a data: URI")
    text = reference.strip()
    if text[: len(DATA_URI_PREFIX)].lower() == DATA_URI_PREFIX:
        if ";base64," not in text[:256].lower():
            raise BadRequestError(f"{field}: only base64 data: URIs are accepted")
        data = decode_base64(field, text)
        if not data:  # refused now, as the synchronous dialects do, not as a job that fails later
            raise EmptyInputError(f"{field}: the data: URI holds no bytes")
        return data
    data = runtime.fetcher.fetch(text, deadline=deadline).body
    if not data:  # a 204 or an empty file: refused now, as an empty data: URI is
        raise EmptyInputError(f"{field}: the URL answered no bytes")
    return data


def shown_reference(reference: object) -> object:
    """An image reference as answers repeat it (and job records keep it): short URLs as given; ``data:`` URIs
    (they can be MBs) as their header and length, any other long text cut to its first 2 KB."""
    if isinstance(reference, str) and len(reference) > _MAX_SHOWN_INPUT_CHARS:
        head, comma, body = reference.partition(",")
        if comma and len(head) <= _MAX_SHOWN_INPUT_CHARS // 8:
            return f"{head},...({len(body)} characters)"
        return f"{reference[:_MAX_SHOWN_INPUT_CHARS]}...({len(reference)} characters)"
    return reference


def public_base_url(headers: Mapping[str, str], request_context: Mapping[str, Any]) -> str:
    """The root URL the client called, for URLs in answers (``urls.get``, ``next``, file URLs).

    API Gateway's own host (``*.execute-api.<region>.amazonaws.com``) serves the API under the stage's
    name; a custom domain and the local adapter serve it at the root. API Gateway always sets
    ``X-Forwarded-Proto``; without it (the local adapter) the scheme is ``http``.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    host = lowered.get("host", "localhost")
    scheme = lowered.get("x-forwarded-proto", "http").split(",")[0].strip() or "http"
    stage = str(request_context.get("stage") or "")
    prefix = f"/{stage}" if stage and host.endswith(_EXECUTE_API_SUFFIX) else ""
    return f"{scheme}://{host}{prefix}"


def wait_seconds(prefer: str | None) -> float | None:
    """How long ``Prefer: wait`` / ``Prefer: wait=N`` asks to hold, capped at :data:`MAX_WAIT_S`.

    ``None`` when the header asks for no wait.
    """
    if not prefer:
        return None
    for preference in prefer.split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() != "wait":
            continue
        value = value.strip().strip('"')
        if not value:
            return MAX_WAIT_S
        if value.isascii() and value.isdigit() and len(value) <= 6:
            return min(float(value), MAX_WAIT_S)
        return MAX_WAIT_S
    return None


def iso_time(value: object) -> str | None:
    """A job time (epoch seconds, ``datetime`` or ISO text) as ISO 8601 UTC with ``Z``; ``None`` stays."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(float(value), UTC)
    else:
        text = str(value)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_seconds(value: object) -> float | None:
    """A job time as epoch seconds (for durations and ``created``)."""
    shown = iso_time(value)
    if shown is None:
        return None
    try:
        return datetime.fromisoformat(shown.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def json_value(value: object, field: str) -> object:
    """A field that holds JSON as text (a multipart ``metadata`` part), read as
    :func:`bgremove_api.forms.load_json` reads bodies; a value that is JSON already (from a JSON body) stays
    as it is."""
    return forms.load_json(value, field) if isinstance(value, str) else value


def json_object(event: BaseProxyEvent, *, empty_is_object: bool = False) -> dict[str, Any]:
    """The request's JSON body, which must be an object; an empty body is ``{}`` when ``empty_is_object``.

    Raises
    ------
    BadRequestError
        The body is not JSON (:func:`bgremove_api.forms.load_json`), or not a JSON object.
    """
    data = forms.event_body(event.raw_event)
    if not data.strip() and empty_is_object:
        return {}
    body = forms.load_json(data, "the request body")
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object")
    return body
