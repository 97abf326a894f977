"""remove.bg v1.0: ``POST /v1.0/removebg`` (multipart, urlencoded or JSON; key in ``X-Api-Key``), and
``GET /v1.0/account``, which clients read at start-up.

remove.bg's names map onto the option table (:data:`OPTION_NAMES`); ``size`` and ``channels`` are
remove.bg words for option values (:data:`VALUE_WORDS`); ``bg_image_url``/``bg_image_file`` name the
background image, whose bytes the function fetches or takes from the upload. Fields the engine has no
counterpart for are accepted and ignored (:data:`IGNORED_FIELDS`). The image comes from exactly one of
``image_file``, ``image_file_b64`` or ``image_url``. The answer is the image (or, with
``Accept: application/json``, ``{"data": {"result_b64", "foreground_*"}}``) with remove.bg's ``X-*`` and
rate-limit headers; errors are ``{"errors": [{"title", "code", "detail"}]}``. Authentication failures are
403 and a file too large is 400 ``file_too_large``, as at remove.bg (whose clients branch on the status);
402 (credits) never happens. ``bg_color`` takes remove.bg's spellings (:func:`hex_color`).
"""

from __future__ import annotations

import base64
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import UploadFile
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from PIL import ImageColor

from bgremove import Options
from bgremove.engine import Result
from bgremove.exceptions import InvalidOptionError
from bgremove.limits import MAX_WORK_PIXELS
from bgremove.options import option_field
from bgremove_api.dialects import _schemas_forms as route_docs
from bgremove_api.dialects import common
from bgremove_api.dialects.common import Failure, FormField, ImageFields
from bgremove_api.dialects.dialect import API_KEY_HEADER, Dialect, requires
from bgremove_api.exceptions import BadRequestError, RateState
from bgremove_api.runtime import ApiRuntime, get_runtime

PATH = "/v1.0/removebg"
ACCOUNT_PATH = "/v1.0/account"

IMAGE = ImageFields(file="image_file", base64="image_file_b64", url="image_url")

OPTION_NAMES: dict[str, str] = {
    "format": "format",
    "crop": "crop_to_foreground",
    "crop_margin": "margin",
    "bg_color": "background_color",
    "size": "max_pixels",
    "channels": "background_type",
    "roi": "roi",
    "scale": "scale",
    "position": "position",
    "bg_image_url": "background_image",
    "bg_image_file": "background_image",
}
"""remove.bg's name of each option -> the option table's field."""

PREVIEW_PIXELS = 250_000
"""remove.bg's ``preview`` (its default size): 0.25 megapixels."""

VALUE_WORDS: dict[str, dict[str, str]] = {
    "size": {
        "preview": str(PREVIEW_PIXELS),
        "small": str(PREVIEW_PIXELS),
        "regular": str(PREVIEW_PIXELS),
        "medium": "1500000",
        "hd": "4000000",
        "full": str(MAX_WORK_PIXELS),
        "4k": str(MAX_WORK_PIXELS),
        "auto": str(MAX_WORK_PIXELS),
    },
    "channels": {"rgba": "rgba", "alpha": "map"},
}
"""remove.bg's words for values of the options they name (an unknown word is an ``INVALID_OPTION``)."""

DEFAULTS: dict[str, str] = {"size": "preview"}
"""remove.bg's defaults where they differ from the engine's."""

IGNORED_FIELDS: tuple[str, ...] = ("type", "type_level", "add_shadow", "semitransparency")
"""Accepted and ignored: the engine segments any subject the same way (``type``, ``type_level``), keeps
soft edges (``semitransparency``) and draws no shadow."""

BACKGROUND = ImageFields(file="bg_image_file", base64="", url="bg_image_url")
"""The background image (``background_image``): an upload or a URL the function fetches."""

ERROR_CODES: dict[str, str] = {
    "UNAUTHORIZED": "auth_failed",
    "KEY_DISABLED": "auth_failed",
    "RATE_LIMITED": "rate_limit_exceeded",
    "REQUEST_TOO_LARGE": "file_too_large",
    "IMAGE_TOO_LARGE": "file_too_large",
}
"""Our codes -> remove.bg's ``errors[].code`` where remove.bg has a word for it; others are lower-cased."""

TITLES: dict[int, str] = {
    400: "Invalid parameters or input file unprocessable",
    403: "Authentication failed",
    404: "Not found",
    413: "File too large",
    429: "Rate limit exceeded",
    503: "Service unavailable",
}

FIELDS: tuple[FormField, ...] = (
    FormField(IMAGE.file, "the image as a file upload (one of image_file, image_file_b64, image_url)", True),
    FormField(IMAGE.base64, "the image as base64 text"),
    FormField(IMAGE.url, "an http(s) URL to fetch the image from"),
    FormField(
        "size", "preview (default, 0.25 MP), small, regular, medium (1.5 MP), hd (4 MP), full, 4k, auto"
    ),
    FormField("format", "auto, png, jpg, zip (color.jpg + alpha.png)"),
    FormField("crop", option_field("crop_to_foreground").help),
    FormField("crop_margin", option_field("margin").help),
    FormField("bg_color", option_field("background_color").help),
    FormField("channels", "rgba (default) or alpha (the matte only)"),
    FormField("roi", option_field("roi").help),
    FormField("scale", option_field("scale").help),
    FormField("position", option_field("position").help),
    FormField(BACKGROUND.url, "an http(s) URL of an image to composite the cut-out onto"),
    FormField(BACKGROUND.file, "an image to composite the cut-out onto, as a file upload", file=True),
    *(FormField(name, "accepted and ignored") for name in IGNORED_FIELDS),
)

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # powertools leaves __init__ unannotated


def parse_options(values: Mapping[str, Any]) -> Options:
    """remove.bg's option fields as :class:`Options` (errors name remove.bg's field)."""
    raw: dict[str, Any] = {**DEFAULTS, **{k: v for k, v in values.items() if k in OPTION_NAMES}}
    if isinstance(raw.get(BACKGROUND.file), UploadFile):  # the option names the upload; its bytes go aside
        raw[BACKGROUND.file] = BACKGROUND.file  # not its filename: one named "null" would read as none
    for name, words in VALUE_WORDS.items():
        if name in raw:
            word = str(raw[name]).strip().lower()
            if word not in words:
                raise InvalidOptionError(name, f"{raw[name]!r} is not one of {', '.join(words)}")
            raw[name] = words[word]
    if "bg_color" in raw:
        raw["bg_color"] = hex_color(raw["bg_color"])
    return Options.parse(raw, names=OPTION_NAMES)


_HEX_DIGITS = re.compile(r"#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")


def hex_color(value: object) -> str:
    """remove.bg's ``bg_color`` as the engine's ``#rrggbb``.

    remove.bg takes hex with or without ``#`` in 3, 4, 6 or 8 digits, and CSS colour names (Pillow's
    :func:`~PIL.ImageColor.getrgb` knows them). The alpha of 4 and 8 digits is not used: the engine draws
    an opaque background.
    """
    text = str(value).strip()
    digits = _HEX_DIGITS.fullmatch(text)
    try:
        rgb = ImageColor.getrgb(f"#{digits.group(1)}" if digits else text)
    except ValueError:
        raise InvalidOptionError(
            "bg_color", f"{text!r} is not a colour: hex (fff, 81d4fa, 81d4fa77) or a CSS colour name"
        ) from None
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])


def read_background(runtime: ApiRuntime, values: Mapping[str, Any], deadline: float | None = None) -> bytes:
    """The background image's bytes: the upload, or the URL fetched behind the SSRF guard by ``deadline``."""
    upload = values.get(BACKGROUND.file)
    if isinstance(upload, UploadFile):
        return upload.content
    if upload is not None or BACKGROUND.url not in values:
        raise BadRequestError(
            f"{BACKGROUND.file} must be an image file part of a multipart body (or give {BACKGROUND.url})"
        )
    return runtime.fetcher.fetch(str(values[BACKGROUND.url]).strip(), deadline=deadline).body


def result_headers(result: Result) -> dict[str, str]:
    """remove.bg's result headers: result size, type, foreground box (result coordinates), credits."""
    box = result.report.result_foreground
    left, top, width, height = (box.left, box.top, box.width, box.height) if box else (0, 0, 0, 0)
    return {
        "X-Width": str(result.width),
        "X-Height": str(result.height),
        "X-Type": "other",
        "X-Foreground-Top": str(top),
        "X-Foreground-Left": str(left),
        "X-Foreground-Width": str(width),
        "X-Foreground-Height": str(height),
        "X-Credits-Charged": "1",
    }


def rate_headers(state: RateState | None) -> dict[str, str]:
    if state is None:
        return {}
    return {
        "X-RateLimit-Limit": str(state.limit),
        "X-RateLimit-Remaining": str(state.remaining),
        "X-RateLimit-Reset": str(state.reset_epoch_s),
    }


def error_response(failure: Failure) -> Response[str]:
    """``{"errors": [{"title", "code", "detail"}]}``; authentication failures are 403, as at remove.bg."""
    # remove.bg's statuses: authentication failures are 403, a file too large is a 400 (file_too_large).
    status = {401: 403, 413: 400}.get(failure.status, failure.status)
    error = {
        "title": TITLES.get(status, "Internal server error"),
        "code": ERROR_CODES.get(failure.code, failure.code.lower()),
        "detail": failure.message,
    }
    headers = {**failure.headers, **rate_headers(failure.rate)}
    return common.json_response(status, {"errors": [error]}, headers)


def _wants_json(accept: str | None) -> bool:
    return bool(accept) and "application/json" in str(accept).lower()


FORM = common.SyncForm(FIELDS, IMAGE, parse_options, read_background)


def remove_background() -> Response[Any]:
    """Remove the background (remove.bg v1.0). Auth: ``X-Api-Key``, checked before the body is read.

    Errors leave in remove.bg's shape through the app's handler (:data:`DIALECT`), with the key's rate
    window once it was admitted.
    """
    runtime = get_runtime()
    event = router.current_event
    presented = event.headers.get("x-api-key")
    result, _ = common.remove_background(runtime, event, router.lambda_context, presented, FORM)
    headers = {**result_headers(result), **rate_headers(common.admitted_rate())}
    inline = json_answer(result, headers) if _wants_json(event.headers.get("accept")) else None
    return common.deliver(runtime, result, headers, inline=inline)


def json_answer(result: Result, headers: Mapping[str, str]) -> Callable[[bytes], Response[str]]:
    """The ``Accept: application/json`` answer: ``{"data": {"result_b64", "foreground_*"}}``."""
    box = result.report.result_foreground

    def answer(data: bytes) -> Response[str]:
        payload = {
            "data": {
                "result_b64": base64.b64encode(data).decode(),
                "foreground_top": box.top if box else 0,
                "foreground_left": box.left if box else 0,
                "foreground_width": box.width if box else 0,
                "foreground_height": box.height if box else 0,
            }
        }
        return common.json_response(200, payload, headers)

    return answer


# No return annotation for powertools: it would re-serialise the binary image as text.
remove_background.__signature__ = inspect.Signature()  # type: ignore[attr-defined]
router.post(
    PATH,
    summary="remove.bg v1.0: remove the background",
    description="Multipart, urlencoded or JSON; exactly one of image_file, image_file_b64, image_url.",
    tags=["remove.bg v1.0"],
    security=requires(API_KEY_HEADER),
    openapi_extensions=common.request_body_doc(FIELDS),
    responses=route_docs.REMOVEBG_REMOVE.responses,
)(remove_background)


@router.get(
    ACCOUNT_PATH,
    summary="remove.bg v1.0: account (credits are not counted here)",
    tags=["remove.bg v1.0"],
    security=requires(API_KEY_HEADER),
    responses=route_docs.REMOVEBG_ACCOUNT.responses,
)
def account() -> Response[str]:
    """What remove.bg clients read at start-up; this deployment counts no credits, so all are 0."""
    _, state = common.admit_read(get_runtime(), router.current_event.headers.get("x-api-key"))
    credits = {"total": 0, "subscription": 0, "payg": 0, "enterprise": 0}
    payload = {"data": {"attributes": {"credits": credits, "api": {"free_calls": 0, "sizes": "all"}}}}
    return common.json_response(200, payload, rate_headers(state))


DIALECT = Dialect(
    name="removebg",
    router=router,
    error_response=error_response,
    url_field=IMAGE.url,
    security_scheme=API_KEY_HEADER,
    path_prefixes=("/v1.0/",),
)
