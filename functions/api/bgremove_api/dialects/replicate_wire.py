"""Replicate's wire format for ``lucataco/remove-bg``, as pure mappings: versions to models, ``input`` to
:class:`bgremove.Options`, jobs to prediction and version objects and webhook bodies, failures to RFC 7807
problems. No I/O: the routes (:mod:`bgremove_api.dialects.replicate`) call these, and the tests call them
directly.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import Response

from bgremove import Options
from bgremove_api import jobs, webhooks
from bgremove_api.dialects import async_common
from bgremove_api.dialects.common import Failure
from bgremove_api.exceptions import ApiError

NAME = "replicate"
MODEL_OWNER = "lucataco"
MODEL_NAME = "remove-bg"
MODEL = f"{MODEL_OWNER}/{MODEL_NAME}"

PREDICTIONS_PATH = "/v1/predictions"
RESELLER_PREDICTIONS_PATH = "/replicate/v1/predictions"
MODEL_PREDICTIONS_PATH = "/v1/models/<owner>/<name>/predictions"
PREDICTION_PATH = "/v1/predictions/<prediction_id>"
CANCEL_PATH = "/v1/predictions/<prediction_id>/cancel"
VERSION_PATH = "/v1/models/<owner>/<name>/versions/<version_id>"
FILES_PATH = "/v1/files"
FILE_PATH = "/v1/files/<file_id>"
SECRET_PATH = "/v1/webhooks/default/secret"
PATH_PREFIXES = ("/v1/predictions", "/v1/files", "/v1/webhooks/", "/v1/models/", "/replicate/")
"""Paths whose errors are answered in this dialect's shape (:mod:`bgremove_api.app`)."""

DEFAULT_VERSION = "95fcc2a26d3899cd6c2691c900465aaeff466285a65c14638cc5f36f34befaf1"
"""lucataco/remove-bg's version in the vendor's document: the deployment's default model."""

VERSIONS: dict[str, str | None] = {
    DEFAULT_VERSION: None,
    "u2net": "u2net",
    "u2netp": "u2netp",
    "isnet": "isnet",
}
"""Accepted ``version`` -> the model it runs (``None``: the deployment's default)."""

VERSION_CREATED_AT = "2023-10-20T00:00:00.000Z"
COG_VERSION = "0.8.6"

OPTION_NAMES: dict[str, str] = {"format": "format", "background_type": "background_type"}
"""``input`` fields beyond ``image`` -> the option table (lucataco/remove-bg itself takes only ``image``)."""

IMAGE_FIELD = "image"

STATUSES: dict[jobs.JobStatus, str] = {
    jobs.JobStatus.QUEUED: "starting",
    jobs.JobStatus.PROCESSING: "processing",
    jobs.JobStatus.COMPLETED: "succeeded",
    jobs.JobStatus.FAILED: "failed",
    jobs.JobStatus.CANCELED: "canceled",
}

WEBHOOK_EVENTS = ("start", "output", "logs", "completed")
"""``webhook_events_filter`` values; all of them when the filter is absent, as at Replicate."""

PAGE_SIZE = 20

PROBLEM_CONTENT_TYPE = "application/problem+json"
TITLES: dict[int, str] = {
    400: "Invalid request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    413: "Request too large",
    422: "Input validation failed",
    429: "Too many requests",
    503: "Service unavailable",
}

# Extra keys this dialect keeps on the job (job.extra): what answers repeat and URLs need.
EXTRA_VERSION = "version"
EXTRA_INPUT = "input"
EXTRA_BASE_URL = "base_url"
EXTRA_WEBHOOK = "webhook"
EXTRA_EVENTS = "webhook_events_filter"


class UnknownVersionError(ApiError):
    """The ``version`` names no model this deployment runs (Replicate answers 422)."""

    code = "UNKNOWN_VERSION"
    http_status = 422


class InvalidInputError(ApiError):
    """The body is not a prediction request Replicate's schema accepts."""

    code = "INVALID_INPUT"
    http_status = 422


# ----------------------------------------------------------------------------------------------- mappings
def model_for_version(version: object, deployed: Collection[str] | None = None) -> str | None:
    """The model a ``version`` runs (``None``: the default). Raises :class:`UnknownVersionError`.

    With ``deployed`` (the models whose files this deployment has), a version of any other model is refused
    as unknown, as Replicate answers a version it does not run: at submit, not as a failed prediction.
    """
    offered = [v for v, model in VERSIONS.items() if deployed is None or model is None or model in deployed]
    if not isinstance(version, str) or version not in offered:
        allowed = ", ".join(offered)
        raise UnknownVersionError(f"version {str(version)[:80]!r} does not exist; use one of {allowed}")
    return VERSIONS[version]


def parse_options(prediction_input: Mapping[str, Any]) -> Options:
    """The ``input`` fields other than ``image`` as :class:`Options` (errors name Replicate's field)."""
    raw = {k: v for k, v in prediction_input.items() if k != IMAGE_FIELD}
    return Options.parse(raw, names=OPTION_NAMES)


def prediction_request(
    body: Mapping[str, Any], version: object, deployed: Collection[str], base_url: str
) -> async_common.JobRequest:
    """A create-prediction body as a job request. ``version`` is the route's (``None``: the body's);
    ``base_url`` is kept on the job for the URLs its answers give."""
    if version is None:
        version = body.get("version")
    model = model_for_version(version, deployed)
    prediction_input = body.get("input")
    if not isinstance(prediction_input, dict):
        raise InvalidInputError("input is required: an object with image")
    options = dataclasses.replace(parse_options(prediction_input), model=model)
    webhook_url = body.get("webhook")
    if webhook_url is not None and not isinstance(webhook_url, str):
        raise InvalidInputError("webhook must be a URL")
    events = events_filter(body.get("webhook_events_filter"))
    extra: dict[str, Any] = {
        EXTRA_VERSION: version,
        EXTRA_INPUT: {k: async_common.shown_reference(v) for k, v in prediction_input.items()},
        EXTRA_BASE_URL: base_url,
    }
    webhook = None
    if webhook_url:
        webhook = jobs.WebhookConfig(url=webhook_url, events=events, dialect=NAME)
        extra[EXTRA_WEBHOOK] = webhook_url
        extra[EXTRA_EVENTS] = list(events)
    image = prediction_input.get(IMAGE_FIELD)
    return async_common.JobRequest(
        options=options,
        image=image,
        image_field=f"input.{IMAGE_FIELD}",
        filename=filename_of(image),
        webhook=webhook,
        extra=extra,
    )


def filename_of(reference: object) -> str:
    """The name an input is stored under: the URL's last path segment, else ``image``."""
    if isinstance(reference, str) and not reference.startswith(async_common.DATA_URI_PREFIX):
        try:
            name = urlsplit(reference).path.rsplit("/", 1)[-1]
        except ValueError:
            return "image"
        if name:
            return name[:100]
    return "image"


def events_filter(value: object) -> tuple[str, ...]:
    if value is None:
        return WEBHOOK_EVENTS
    if not isinstance(value, list) or not all(v in WEBHOOK_EVENTS for v in value):
        raise InvalidInputError(f"webhook_events_filter must be a list of {', '.join(WEBHOOK_EVENTS)}")
    return tuple(dict.fromkeys(value))


def output_url(base_url: str, job_id: str) -> str:
    return f"{base_url}{FILES_PATH}/{job_id}"


def prediction(
    job: jobs.Job, *, waited_unfinished: bool = False, base_url: str | None = None
) -> dict[str, Any]:
    """A job as Replicate's prediction object.

    Parameters
    ----------
    waited_unfinished
        The answer to ``Prefer: wait`` that ran out: status ``starting`` whatever the job's, because the
        client treats any other status as final.
    base_url
        The root URL the client calls (default: the one kept when the prediction was created).
    """
    base = base_url or str(job.extra.get(EXTRA_BASE_URL, ""))
    status = STATUSES[job.status]
    if waited_unfinished and job.status in (jobs.JobStatus.QUEUED, jobs.JobStatus.PROCESSING):
        status = "starting"
    started = async_common.epoch_seconds(job.started_at)
    completed = async_common.epoch_seconds(job.completed_at)
    metrics = {"predict_time": round(completed - started, 3)} if started and completed else {}
    get_url = f"{base}{PREDICTIONS_PATH}/{job.job_id}"
    body: dict[str, Any] = {
        "id": job.job_id,
        "model": MODEL,
        "version": job.extra.get(EXTRA_VERSION, DEFAULT_VERSION),
        "status": status,
        "input": job.extra.get(EXTRA_INPUT, {}),
        "output": output_url(base, job.job_id) if job.status is jobs.JobStatus.COMPLETED else None,
        "logs": "",
        "error": f"{job.error_code}: {job.error_message}" if job.status is jobs.JobStatus.FAILED else None,
        "metrics": metrics,
        "created_at": async_common.iso_time(job.created_at),
        "started_at": async_common.iso_time(job.started_at),
        "completed_at": async_common.iso_time(job.completed_at),
        "urls": {
            "get": get_url,
            "cancel": f"{get_url}/cancel",
            "stream": f"{get_url}/stream",
            "web": get_url,
        },
        "data_removed": False,
        "source": "api",
    }
    if job.extra.get(EXTRA_WEBHOOK):
        body["webhook"] = job.extra[EXTRA_WEBHOOK]
        body["webhook_events_filter"] = list(job.extra.get(EXTRA_EVENTS, WEBHOOK_EVENTS))
    return body


def webhook_body(job: jobs.Job, result_url: str | None) -> bytes:
    """A delivered webhook's body: the prediction (its output the key-checked file URL, as in answers)."""
    del result_url  # the Replicate client reads outputs with its key: /v1/files/{id}, not a presigned URL
    return json.dumps(prediction(job), separators=(",", ":")).encode()


def terminal_event(job: jobs.Job) -> str | None:
    """The event a finished prediction is announced with: Replicate sends ``completed`` for every terminal
    state, and a single-output prediction's ``output`` event is the same moment, so a filter of only
    ``output`` also gets it (once: exactly one terminal webhook per job)."""
    assert job.webhook is not None
    wanted = set(job.webhook.events)
    if not wanted or "completed" in wanted:
        return "completed"
    return "output" if "output" in wanted and job.status is jobs.JobStatus.COMPLETED else None


WEBHOOK = webhooks.WebhookDialect(
    body=webhook_body, sign=webhooks.standard_signed, terminal_event=terminal_event
)


def version_object(version_id: str) -> dict[str, Any]:
    """``GET /v1/models/lucataco/remove-bg/versions/{id}``: one string input ``image``, one URI output."""
    return {
        "id": version_id,
        "created_at": VERSION_CREATED_AT,
        "cog_version": COG_VERSION,
        "openapi_schema": {
            "openapi": "3.0.2",
            "info": {"title": "Cog", "version": "0.1.0"},
            "paths": {},
            "components": {
                "schemas": {
                    "Input": {
                        "type": "object",
                        "title": "Input",
                        "required": [IMAGE_FIELD],
                        "properties": {
                            IMAGE_FIELD: {
                                "type": "string",
                                "title": "Image",
                                "format": "uri",
                                "description": "Remove background from this image",
                                "x-order": 0,
                            }
                        },
                    },
                    "Output": {"type": "string", "title": "Output", "format": "uri"},
                }
            },
        },
    }


# ----------------------------------------------------------------------------------------------- errors
def error_response(failure: Failure) -> Response[str]:
    """RFC 7807 ``{type, title, status, detail}`` as ``application/problem+json``; our code in ``code``."""
    title = TITLES.get(failure.status, "Internal server error")
    detail = failure.message
    if failure.status == 401:
        detail = "You did not pass a valid authentication token"
    body = {
        "type": "about:blank",
        "title": title,
        "status": failure.status,
        "detail": detail,
        "code": failure.code,
    }
    return Response(
        status_code=failure.status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=json.dumps(body, separators=(",", ":")),
        headers=dict(failure.headers),
    )
