"""Errors of the synchronous dialects' request handling, in the API's error tree
(:mod:`bgremove_api.exceptions`).

::

    ApiError
    ├── MissingSourceError       MISSING_SOURCE      400  no image field given
    ├── MultipleSourcesError     MULTIPLE_SOURCES    400  more than one image field given
    ├── InvalidBase64Error       INVALID_BASE64      400  the base64 image field is not base64
    ├── BadRequestError          BAD_REQUEST         400  the body is not a form or JSON the route reads
    ├── RequestTooLargeError     REQUEST_TOO_LARGE   413  the request body is over what Lambda accepts
    └── RouteNotFoundError       NOT_FOUND           404  no route for the method and path

Each dialect renders these in its own shape (``missing_source`` and ``multiple_sources`` for remove.bg).
"""

from __future__ import annotations

from bgremove_api.exceptions import ApiError


class MissingSourceError(ApiError):
    code = "MISSING_SOURCE"
    http_status = 400


class MultipleSourcesError(ApiError):
    code = "MULTIPLE_SOURCES"
    http_status = 400


class InvalidBase64Error(ApiError):
    code = "INVALID_BASE64"
    http_status = 400


class BadRequestError(ApiError):
    code = "BAD_REQUEST"
    http_status = 400


class RequestTooLargeError(ApiError):
    code = "REQUEST_TOO_LARGE"
    http_status = 413


class RouteNotFoundError(ApiError):
    code = "NOT_FOUND"
    http_status = 404
