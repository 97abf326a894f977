"""Pixian API v2: ``POST /api/v2/remove-background`` (multipart or urlencoded, HTTP Basic auth).

Pixian's dotted field names map onto the option table (:data:`OPTION_NAMES`); the image comes from exactly
one of ``image`` (file), ``image.base64`` or ``image.url``. The answer is the image with Pixian's
``X-*`` headers; errors are ``{"error": {"status", "code", "message"}}`` with Pixian's statuses.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from bgremove import Options
from bgremove.exceptions import InvalidOptionError
from bgremove.options import OutputFormat, option_field
from bgremove.report import BBox, Report
from bgremove_api.dialects import _schemas_forms as route_docs
from bgremove_api.dialects import common
from bgremove_api.dialects.common import Failure, FormField, ImageFields
from bgremove_api.dialects.dialect import BASIC, Dialect, requires
from bgremove_api.runtime import get_runtime

PATH = "/api/v2/remove-background"

IMAGE = ImageFields(file="image", base64="image.base64", url="image.url")

OPTION_NAMES: dict[str, str] = {
    "test": "test",
    "max_pixels": "max_pixels",
    "background.color": "background_color",
    "result.crop_to_foreground": "crop_to_foreground",
    "result.margin": "margin",
    "result.target_size": "target_size",
    "result.vertical_alignment": "vertical_alignment",
    "output.format": "format",
    "output.jpeg_quality": "jpeg_quality",
}
"""Pixian's name of each option -> the option table's field."""

FORMATS = frozenset({OutputFormat.AUTO, OutputFormat.PNG, OutputFormat.JPEG, OutputFormat.DELTA_PNG})
"""The output formats Pixian offers (the engine's ``webp`` is not one)."""

ERROR_CODES: dict[str, int] = {
    "INTERNAL_ERROR": 1000,
    "UNAUTHORIZED": 1001,
    "KEY_DISABLED": 1002,
    "RATE_LIMITED": 1003,
    "MISSING_SOURCE": 1004,
    "MULTIPLE_SOURCES": 1005,
    # Pixian's published code for an image it cannot read
    "EMPTY_INPUT": 1006,
    "NOT_AN_IMAGE": 1006,
    "UNSUPPORTED_FORMAT": 1006,
    "CORRUPT_IMAGE": 1006,
    "INVALID_BASE64": 1006,
    "INVALID_OPTION": 1007,
    "IMAGE_TOO_LARGE": 1008,
    "REQUEST_TOO_LARGE": 1009,
    "BAD_REQUEST": 1010,
    "URL_BAD_SCHEME": 1011,
    "URL_INVALID": 1011,
    "URL_NOT_ALLOWED": 1012,
    "URL_FETCH_FAILED": 1013,
    "URL_TIMEOUT": 1014,
    "URL_TOO_LARGE": 1015,
    "URL_TOO_MANY_REDIRECTS": 1016,
    "SERVICE_UNAVAILABLE": 1017,
    "NOT_FOUND": 1018,
}
"""Our error codes -> Pixian's numeric ``error.code`` (1006 is Pixian's own; the rest are ours, stable)."""

FIELDS: tuple[FormField, ...] = (
    FormField(IMAGE.file, "the image as a file upload (one of image, image.base64, image.url)", file=True),
    FormField(IMAGE.base64, "the image as base64 text"),
    FormField(IMAGE.url, "an http(s) URL to fetch the image from"),
    *(FormField(name, option_field(target).help) for name, target in OPTION_NAMES.items()),
)

CHALLENGE = {"WWW-Authenticate": 'Basic realm="bgremove"'}
"""Sent with every 401, so HTTP clients know to retry with Basic credentials."""

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # powertools leaves __init__ unannotated


def parse_options(values: Mapping[str, Any]) -> Options:
    """Pixian's option fields as :class:`Options`, with Pixian's own limits (errors name Pixian's field)."""
    raw = {name: value for name, value in values.items() if name in OPTION_NAMES}
    options = Options.parse(raw, names=OPTION_NAMES)
    if options.format not in FORMATS:
        allowed = ", ".join(sorted(f.value for f in FORMATS))
        raise InvalidOptionError("output.format", f"{raw['output.format']!r} is not one of {allowed}")
    return options


def result_headers(report: Report, test: bool) -> dict[str, str]:
    """Pixian's result headers (sizes ``W H``, boxes ``top left width height``, credits)."""
    headers = {
        "X-Input-Orientation": str(report.orientation),
        "X-Input-Size": "{} {}".format(*report.input_size),
        "X-Result-Size": "{} {}".format(*report.result_size),
        "X-Input-Foreground": _box(report.input_foreground),
        "X-Result-Foreground": _box(report.result_foreground),
        "X-Credits-Charged": "0" if test else "1",
    }
    if test:
        headers["X-Credits-Calculated"] = "1"
    return headers


def _box(box: BBox | None) -> str:
    return "0 0 0 0" if box is None else f"{box.top} {box.left} {box.width} {box.height}"


def error_response(failure: Failure) -> Response[str]:
    """``{"error": {"status", "code", "message"}}`` with the failure's status and headers."""
    body = {
        "error": {
            "status": failure.status,
            "code": ERROR_CODES.get(failure.code, ERROR_CODES["INTERNAL_ERROR"]),
            "message": failure.message,
        }
    }
    headers = {**failure.headers, **(CHALLENGE if failure.status == 401 else {})}
    return common.json_response(failure.status, body, headers)


FORM = common.SyncForm(FIELDS, IMAGE, parse_options)


def remove_background() -> Response[Any]:
    """Remove the background (Pixian v2). Auth: HTTP Basic, the key as user or as password.

    The key is checked before the body is read: a keyless request is a 401 whatever it sends. Errors leave
    in Pixian's shape through the app's handler (:data:`DIALECT`).
    """
    runtime = get_runtime()
    event = router.current_event
    presented = common.basic_auth_key(event.headers.get("authorization"))
    result, options = common.remove_background(runtime, event, router.lambda_context, presented, FORM)
    return common.deliver(runtime, result, result_headers(result.report, options.test))


# No return annotation for powertools: it would re-serialise the binary image as text.
remove_background.__signature__ = inspect.Signature()  # type: ignore[attr-defined]
router.post(
    PATH,
    summary="Pixian v2: remove the background",
    description="Multipart or urlencoded; exactly one of image, image.base64, image.url.",
    tags=["Pixian v2"],
    security=requires(BASIC),
    openapi_extensions=common.request_body_doc(FIELDS),
    responses=route_docs.PIXIAN_REMOVE.responses,
)(remove_background)

DIALECT = Dialect(
    name="pixian",
    router=router,
    error_response=error_response,
    url_field=IMAGE.url,
    security_scheme=BASIC,
    paths=(PATH,),
)
