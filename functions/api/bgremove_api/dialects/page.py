"""The page to try the service (``GET /``, no key) and the call it makes (``POST /remove-background``).

``GET /`` serves one self-contained HTML page (its style and script inline, nothing from another origin)
with a strict ``Content-Security-Policy``: scripts and styles only by the hashes of its own inline blocks,
images only from itself, ``blob:`` and ``data:``, requests only to itself. Every URL in it is relative, so a
deployed stage (``/<stage>/``) serves it as ``make serve`` does. Its option controls are built from the
option table, embedded at render time (:func:`page_config`): a new option appears on the page without page
code.

``POST /remove-background`` is the API's own synchronous dialect, the one the page calls: the option table's
field names as they are (``background_color``, ``threshold``, ``model``...: every option, which no vendor
dialect carries), the key in ``X-Api-Key`` (checked before the body is read), the image in exactly one of
``image`` (file), ``image_base64`` or ``image_url``, and ``background_image`` as a file or an http(s) URL the
function fetches. The answer is the image with the report in its headers (:func:`result_headers`); errors are
``{"error": {"status", "code", "message"}}`` with our error code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import inspect
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import UploadFile
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from bgremove import Options
from bgremove.models._spec import BUILTIN_MODELS
from bgremove.options import OPTION_FIELDS, BoolKind, ColorKind, FloatKind, IntKind, OptionField
from bgremove.report import BBox, Report
from bgremove_api.dialects import _schemas_forms as route_docs
from bgremove_api.dialects import common, pixian, removebg
from bgremove_api.dialects import replicate_wire as replicate
from bgremove_api.dialects.common import Failure, FormField, ImageFields
from bgremove_api.dialects.dialect import API_KEY_HEADER, Dialect, requires
from bgremove_api.runtime import ApiRuntime, get_runtime

PAGE_PATH = "/"
PATH = "/remove-background"
KEY_HEADER = "X-Api-Key"

IMAGE = ImageFields(file="image", base64="image_base64", url="image_url")
BACKGROUND_FIELD = "background_image"
"""The option that names a background image: here an uploaded file or an http(s) URL to fetch."""

FIELDS: tuple[FormField, ...] = (
    FormField(IMAGE.file, "the image as a file upload (one of image, image_base64, image_url)", file=True),
    FormField(IMAGE.base64, "the image as base64 text (a data: prefix is accepted)"),
    FormField(IMAGE.url, "an http(s) URL to fetch the image from"),
    *(
        FormField(
            row.name,
            "a file upload, or an http(s) URL the function fetches: " + row.help
            if row.name == BACKGROUND_FIELD
            else row.help,
            file=row.name == BACKGROUND_FIELD,
        )
        for row in OPTION_FIELDS
    ),
)

UPLOAD_LIMIT_BYTES = 4_400_000
"""The largest photo the page sends as it is. Lambda takes 6 MB per synchronous invocation, counted on the
whole event, in which API Gateway puts the body base64-encoded (a third larger): 4.4 MB of image leaves
room for the multipart envelope, the options and the event's own fields. The page downsizes larger photos
in the browser before sending them, and says so."""

FIRST_OPTIONS: tuple[str, ...] = (
    "background_color",
    "background_type",
    "crop_to_foreground",
    "margin",
    "target_size",
    "scale",
    "position",
    "format",
    "model",
    "threshold",
    "test",
)
"""The options the page shows first; every other option of the table (a new one too) is under "More"."""

LABELS: dict[str, str] = {"jpeg_quality": "JPEG quality", "roi": "Region (roi)"}
"""Labels other than the field name in words."""

HINTS: dict[str, str] = {BACKGROUND_FIELD: "an http(s) URL of an image; the function fetches it"}
"""What the page says about an option beyond its help, where this route reads it differently."""

PAGE_DEFAULTS: dict[str, str] = {"max_pixels": "1500000"}
"""Where the page's controls start away from the option table's defaults. 1.5 MP (remove.bg's ``medium``):
the cut-out of a larger photo can pass the ~4.6 MB an answer carries inline, and the API then answers with a
redirect to the output bucket, which a page cannot read. The control says so and can be raised."""

router = APIGatewayRouter()  # type: ignore[no-untyped-call]  # powertools leaves __init__ unannotated


# ----------------------------------------------------------------------------------------------- the page
def _widget(row: OptionField) -> str:
    """The control an option gets on the page, from its kind."""
    if isinstance(row.kind, BoolKind):
        return "checkbox"
    if row.kind.choices or row.name == "model":
        return "select"
    if isinstance(row.kind, ColorKind):
        return "color"
    if isinstance(row.kind, IntKind | FloatKind):
        return "number"
    return "text"


def _choices(row: OptionField) -> list[dict[str, str]]:
    if row.name == "model":  # a name, not an enum: the built-in models, and the deployment's default
        models = [{"value": "", "label": "the deployment's default"}]
        for spec in BUILTIN_MODELS:
            models.append({"value": spec.name, "label": f"{spec.name}: {spec.tier.split(':')[0]}"})
        return models
    return [{"value": choice, "label": choice} for choice in row.kind.choices]


def _option_config(row: OptionField) -> dict[str, Any]:
    default = None if row.default is None else row.dump(row.default)
    return {
        "name": row.name,
        "label": LABELS.get(row.name, row.name.replace("_", " ").capitalize()),
        "widget": _widget(row),
        "schema": row.json_schema(),
        "default": default,
        "choices": _choices(row),
        "initial": PAGE_DEFAULTS.get(row.name, default),
        "hint": HINTS.get(row.name, ""),
        "placeholder": (row.kind.metavar or "").replace("'", ""),
        "more": row.name not in FIRST_OPTIONS,
    }


def _invert(names: Mapping[str, str]) -> dict[str, str]:
    """A dialect's ``{its name: option}`` as ``{option: its name}`` (the first name of each option)."""
    inverted: dict[str, str] = {}
    for name, option in names.items():
        inverted.setdefault(option, name)
    return inverted


def _in_page_order(rows: tuple[OptionField, ...]) -> list[OptionField]:
    first = {name: i for i, name in enumerate(FIRST_OPTIONS)}
    return sorted(rows, key=lambda row: first.get(row.name, len(first)))  # stable: the table's order after


def page_config() -> dict[str, Any]:
    """What the page's script reads: the option table and how each dialect spells it."""
    removebg_fields = _invert(removebg.OPTION_NAMES)
    return {
        "path": PATH.lstrip("/"),
        "keyHeader": KEY_HEADER,
        "imageField": IMAGE.file,
        "uploadLimitBytes": UPLOAD_LIMIT_BYTES,
        "options": [_option_config(row) for row in _in_page_order(OPTION_FIELDS)],
        "dialects": {
            "removebg": {
                "label": "remove.bg v1.0",
                "path": removebg.PATH.lstrip("/"),
                "image": removebg.IMAGE.file,
                "fields": removebg_fields,
                "words": {removebg.OPTION_NAMES[name]: words for name, words in removebg.VALUE_WORDS.items()},
                "defaults": {removebg.OPTION_NAMES[name]: value for name, value in removebg.DEFAULTS.items()},
            },
            "pixian": {
                "label": "Pixian v2",
                "path": pixian.PATH.lstrip("/"),
                "image": pixian.IMAGE.file,
                "fields": _invert(pixian.OPTION_NAMES),
                "allowed": {"format": sorted(f.value for f in pixian.FORMATS)},
            },
            "replicate": {
                "label": "Replicate",
                "model": replicate.MODEL,
                "image": replicate.IMAGE_FIELD,
                "fields": _invert(replicate.OPTION_NAMES),
                "versions": {model or "": version for version, model in replicate.VERSIONS.items()},
            },
        },
    }


def _asset(name: str) -> str:
    return (resources.files("bgremove_api") / "static" / name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.cache
def rendered() -> tuple[str, dict[str, str]]:
    """The page's HTML and its headers (the CSP names the hashes of its inline style and script)."""
    style, script = _asset("page.css"), _asset("page.js")
    # Inside <script type="application/json">: "<" escaped, so no "</script>" can end the block early.
    config = json.dumps(page_config(), separators=(",", ":")).replace("<", "\\u003c")
    body = (
        _asset("page.html")
        .replace("{{STYLE}}", style)
        .replace("{{SCRIPT}}", script)
        .replace("{{CONFIG}}", config)
        .replace("{{UPLOAD_LIMIT_MB}}", html.escape(f"{UPLOAD_LIMIT_BYTES / 1e6:.1f}"))
    )
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src {_hash(script)}",
            f"style-src {_hash(style)}",
            "img-src 'self' blob: data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return body, headers


@router.get(
    PAGE_PATH,
    summary="The page to try the service (HTML): drop a photo, change options, copy the call",
    tags=["Page"],
    responses=route_docs.PAGE.responses,
)
def page() -> Response[str]:
    """The try-it page; it needs no key (the key is typed into it and sent by its requests)."""
    body, headers = rendered()
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=body, headers=headers)


# ----------------------------------------------------------------------------------------------- the call
def parse_options(values: Mapping[str, Any]) -> Options:
    """The option fields as :class:`Options` (an uploaded background image is named by its field)."""
    raw = {row.name: values[row.name] for row in OPTION_FIELDS if row.name in values}
    if isinstance(raw.get(BACKGROUND_FIELD), UploadFile):
        # A fixed name, not the file's: a file named "null" or "none" would read as no background.
        raw[BACKGROUND_FIELD] = BACKGROUND_FIELD
    return Options.parse(raw)


def read_background(
    runtime: ApiRuntime, values: Mapping[str, Any], deadline: float | None = None
) -> bytes | None:
    """The background image's bytes: the upload, or the URL fetched behind the SSRF guard by ``deadline``."""
    value = values.get(BACKGROUND_FIELD)
    if value is None:
        return None
    if isinstance(value, UploadFile):
        return value.content
    return runtime.fetcher.fetch(str(value).strip(), deadline=deadline).body


def _box(box: BBox | None) -> str:
    return "0 0 0 0" if box is None else f"{box.top} {box.left} {box.width} {box.height}"


def result_headers(report: Report) -> dict[str, str]:
    """The report: sizes ``W H`` and foreground boxes ``top left width height`` (Pixian's headers), the
    model, where it ran, whether the edges' colours were estimated (``decontaminate``), and each stage's
    milliseconds as ``Server-Timing`` (``total`` included)."""
    return {
        "X-Input-Size": "{} {}".format(*report.input_size),
        "X-Input-Orientation": str(report.orientation),
        "X-Result-Size": "{} {}".format(*report.result_size),
        "X-Input-Foreground": _box(report.input_foreground),
        "X-Result-Foreground": _box(report.result_foreground),
        "X-Model": report.model,
        "X-Backend": report.backend,
        "X-Decontaminated": "true" if report.decontaminated else "false",
        "Server-Timing": ", ".join(f"{stage};dur={ms:.1f}" for stage, ms in report.timings_ms.items()),
    }


def error_response(failure: Failure) -> Response[str]:
    """``{"error": {"status", "code", "message"}}`` with our error code."""
    body = {"error": {"status": failure.status, "code": failure.code, "message": failure.message}}
    return common.json_response(failure.status, body, failure.headers)


FORM = common.SyncForm(FIELDS, IMAGE, parse_options, read_background)


def remove_background() -> Response[Any]:
    """Remove the background with any option of the option table. Auth: ``X-Api-Key``, checked first.

    Errors leave in this route's shape through the app's handler (:data:`DIALECT`).
    """
    runtime = get_runtime()
    event = router.current_event
    presented = event.headers.get(KEY_HEADER.lower())
    result, _ = common.remove_background(runtime, event, router.lambda_context, presented, FORM)
    return common.deliver(runtime, result, result_headers(result.report))


# No return annotation for powertools: it would re-serialise the binary image as text.
remove_background.__signature__ = inspect.Signature()  # type: ignore[attr-defined]
router.post(
    PATH,
    summary="bgremove: remove the background, every option by the option table's name (the page's call)",
    description="Multipart, urlencoded or JSON; one of image, image_base64, image_url. Key: X-Api-Key.",
    tags=["bgremove"],
    security=requires(API_KEY_HEADER),
    openapi_extensions=common.request_body_doc(FIELDS),
    responses=route_docs.PAGE_REMOVE.responses,
)(remove_background)

DIALECT = Dialect(
    name="page",
    router=router,
    error_response=error_response,
    url_field=IMAGE.url,
    security_scheme=API_KEY_HEADER,
    paths=(PAGE_PATH, PATH),
)
