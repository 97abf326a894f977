"""The synchronous dialects' answers (Pixian v2, remove.bg v1.0, the page's ``/remove-background``) as
OpenAPI descriptions: the image with its ``X-*`` headers, remove.bg's JSON answer and account, and each
dialect's error shape. Their request bodies are forms the routes describe themselves
(:func:`bgremove_api.dialects.common.request_body_doc`).

What they describe is each dialect's ``result_headers``, ``json_answer``, ``account`` and
``error_response``; this module imports none of them (they import this one).
tests/unit/api/test_openapi_schemas.py holds the two together.
"""

from __future__ import annotations

from pydantic import Field

from bgremove_api.dialects.schemas import (
    JSON,
    RouteDoc,
    WireModel,
    binary_response,
    error_responses,
    headers_doc,
    html_response,
    json_response,
    redirect_response,
    with_content,
)

SYNC_ERRORS = (400, 401, 403, 413, 429, 500, 503)
"""What a synchronous call can be answered besides its result (remove.bg says 403 for 401, 400 for 413)."""

TOO_LARGE = "The result is over the 6 MB an answer carries: stored, and its presigned URL given instead"
SIZE = "`W H`, pixels"
BOX = "`top left width height`, pixels (`0 0 0 0`: no foreground)"


# ----------------------------------------------------------------------------------------------- Pixian
class PixianErrorBody(WireModel):
    status: int
    code: int = Field(description="Pixian's numeric code (1006: an image it cannot read); ours otherwise")
    message: str


class PixianError(WireModel):
    """An error, in Pixian's shape."""

    error: PixianErrorBody


PIXIAN_HEADERS = headers_doc(
    {
        "X-Input-Orientation": "The input's EXIF orientation (1-8)",
        "X-Input-Size": SIZE,
        "X-Result-Size": SIZE,
        "X-Input-Foreground": f"{BOX}, in the input",
        "X-Result-Foreground": f"{BOX}, in the result",
        "X-Credits-Charged": "1, or 0 for a `test` request",
        "X-Credits-Calculated": "1: what the call would cost (`test` requests only)",
    }
)

PIXIAN_REMOVE = RouteDoc(
    responses={
        200: binary_response("The result image", ("image/png", "image/jpeg"), PIXIAN_HEADERS),
        303: redirect_response(TOO_LARGE, PIXIAN_HEADERS),
        **error_responses(
            PixianError,
            SYNC_ERRORS,
            headers={401: headers_doc({"WWW-Authenticate": '`Basic realm="bgremove"`'})},
        ),
    }
)
"""``POST /api/v2/remove-background``."""


# ----------------------------------------------------------------------------------------------- remove.bg
class RemoveBgResultData(WireModel):
    result_b64: str = Field(description="The result image (or zip), base64")
    foreground_top: int
    foreground_left: int
    foreground_width: int
    foreground_height: int


class RemoveBgResult(WireModel):
    """The answer to `Accept: application/json`: the result as base64 and its foreground box."""

    data: RemoveBgResultData


class RemoveBgCredits(WireModel):
    total: int
    subscription: int
    payg: int
    enterprise: int


class RemoveBgApiInfo(WireModel):
    free_calls: int
    sizes: str


class RemoveBgAccountAttributes(WireModel):
    credits: RemoveBgCredits
    api: RemoveBgApiInfo


class RemoveBgAccountData(WireModel):
    attributes: RemoveBgAccountAttributes


class RemoveBgAccount(WireModel):
    """What remove.bg clients read at start-up: this deployment counts no credits, so all are 0."""

    data: RemoveBgAccountData


class RemoveBgErrorItem(WireModel):
    title: str = Field(examples=["Authentication failed"])
    code: str = Field(
        description="remove.bg's word where it has one, else ours lower-cased", examples=["auth_failed"]
    )
    detail: str


class RemoveBgError(WireModel):
    """An error, in remove.bg's shape."""

    errors: list[RemoveBgErrorItem]


RATE_HEADERS = headers_doc(
    {
        "X-RateLimit-Limit": "Requests the key may make a second (once the key was admitted)",
        "X-RateLimit-Remaining": "Requests left in this second",
        "X-RateLimit-Reset": "When the window resets, epoch seconds",
    }
)
REMOVEBG_HEADERS = {
    **headers_doc(
        {
            "X-Width": "The result's width, pixels",
            "X-Height": "The result's height, pixels",
            "X-Type": "Always `other`",
            "X-Foreground-Top": "The foreground box in the result, pixels",
            "X-Foreground-Left": "The foreground box in the result, pixels",
            "X-Foreground-Width": "The foreground box in the result, pixels",
            "X-Foreground-Height": "The foreground box in the result, pixels",
            "X-Credits-Charged": "Always 1",
        }
    ),
    **RATE_HEADERS,
}


REMOVEBG_RESULT = with_content(
    binary_response(
        "The result image (zip: color.jpg and alpha.png); with `Accept: application/json`, the result as "
        "base64 in JSON",
        ("image/png", "image/jpeg", "image/webp", "application/zip"),
        REMOVEBG_HEADERS,
    ),
    JSON,
    {"model": RemoveBgResult},
)

REMOVEBG_ERRORS = (400, 403, 429, 500, 503)
ACCOUNT_ERRORS = (403, 429, 500, 503)
REMOVEBG_ERROR_NOTES = {
    400: "Also a body over 6 MB or an image too large (file_too_large)",
    403: "No key, a key that is not valid, or a disabled key (auth_failed), as at remove.bg",
}

REMOVEBG_REMOVE = RouteDoc(
    responses={
        200: REMOVEBG_RESULT,
        303: redirect_response(TOO_LARGE, REMOVEBG_HEADERS),
        **error_responses(
            RemoveBgError,
            REMOVEBG_ERRORS,
            notes=REMOVEBG_ERROR_NOTES,
            headers=dict.fromkeys(REMOVEBG_ERRORS, RATE_HEADERS),
        ),
    }
)
"""``POST /v1.0/removebg``."""

REMOVEBG_ACCOUNT = RouteDoc(
    responses={
        200: json_response(RemoveBgAccount, "The account", headers=RATE_HEADERS),
        **error_responses(
            RemoveBgError,
            ACCOUNT_ERRORS,
            notes=REMOVEBG_ERROR_NOTES,
            headers=dict.fromkeys(ACCOUNT_ERRORS, RATE_HEADERS),
        ),
    }
)
"""``GET /v1.0/account``."""


# ----------------------------------------------------------------------------------------------- the page
class PageErrorBody(WireModel):
    status: int
    code: str = Field(description="This API's stable error code", examples=["INVALID_OPTION"])
    message: str


class PageError(WireModel):
    """An error of `/remove-background`."""

    error: PageErrorBody


PAGE_HEADERS = headers_doc(
    {
        "X-Input-Size": SIZE,
        "X-Input-Orientation": "The input's EXIF orientation (1-8)",
        "X-Result-Size": SIZE,
        "X-Input-Foreground": f"{BOX}, in the input",
        "X-Result-Foreground": f"{BOX}, in the result",
        "X-Model": "The model that ran",
        "X-Backend": "Where it ran",
        "X-Decontaminated": "`true` when the edges' colours were estimated (`decontaminate`)",
        "Server-Timing": "Each stage's milliseconds (`total` included)",
    }
)

PAGE = RouteDoc(responses={200: html_response("The page: one self-contained HTML document, no key needed")})
"""``GET /``."""

PAGE_REMOVE = RouteDoc(
    responses={
        200: binary_response(
            "The result image (zip: color.jpg and alpha.png)",
            ("image/png", "image/jpeg", "image/webp", "application/zip"),
            PAGE_HEADERS,
        ),
        303: redirect_response(TOO_LARGE, PAGE_HEADERS),
        **error_responses(PageError, SYNC_ERRORS),
    }
)
"""``POST /remove-background``."""
