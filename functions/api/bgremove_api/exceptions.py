"""The HTTP API's errors (requests, keys, rate limits, URL fetch, jobs), each with a stable ``code`` and the
``http_status`` it stands for; a dialect's own errors subclass :class:`ApiError` in its module.

::

    ApiError                              (base; never raised itself)          500
    ├── UnauthorizedError                 UNAUTHORIZED                         401
    │   ├── MissingKeyError               UNAUTHORIZED   (no key presented)
    │   └── InvalidKeyError               UNAUTHORIZED   (malformed, unknown, or wrong secret)
    ├── DisabledKeyError                  KEY_DISABLED   (revoked key)          403
    ├── RateLimitedError                  RATE_LIMITED   (.retry_after_s, .state, .reason)  429
    ├── UrlError                          URL_FETCH_FAILED                     400
    │   ├── UrlBadSchemeError             URL_BAD_SCHEME  (not http or https)
    │   ├── UrlInvalidError               URL_INVALID     (no host, bad port, unparsable)
    │   ├── UrlNotAllowedError            URL_NOT_ALLOWED (resolves to a refused address, or not at all)
    │   ├── UrlFetchFailedError           URL_FETCH_FAILED (connection, TLS or protocol error; non-2xx)
    │   ├── UrlTimeoutError               URL_TIMEOUT     (over the fetch's time limit)
    │   ├── UrlTooLargeError              URL_TOO_LARGE   (over the byte cap)
    │   └── UrlTooManyRedirectsError      URL_TOO_MANY_REDIRECTS
    ├── MissingSourceError                MISSING_SOURCE (no image field given)  400
    ├── MultipleSourcesError              MULTIPLE_SOURCES (more than one image field given)  400
    ├── InvalidBase64Error                INVALID_BASE64 (the base64 image field is not base64)  400
    ├── BadRequestError                   BAD_REQUEST    (the body is not a form or JSON the route reads)  400
    ├── RequestTooLargeError              REQUEST_TOO_LARGE (over what Lambda accepts in a request)  413
    ├── RouteNotFoundError                NOT_FOUND      (no route for the method and path)  404
    ├── UnknownModelError                 MODEL_NOT_FOUND (a model or model path not served here)  404
    ├── KeyNotFoundError                  KEY_NOT_FOUND  (admin: no such key)  404
    ├── KeyNameTakenError                 KEY_NAME_TAKEN (admin: name in use)  409
    ├── ServiceUnavailableError           SERVICE_UNAVAILABLE (DynamoDB throttled or unreachable)  503
    ├── JobNotFoundError                  JOB_NOT_FOUND  (unknown id, or another key's job)  404
    ├── InvalidCursorError                INVALID_CURSOR (a job list cursor this API did not give)  400
    ├── IdempotencyKeyInvalidError        INVALID_IDEMPOTENCY_KEY (over 256 characters)  400
    └── IdempotencyKeyReusedError         IDEMPOTENCY_KEY_REUSED (the key's job had another request)  422

A malformed or missing setting is the engine's :class:`~bgremove.exceptions.ConfigurationError`
(``INVALID_SETTING``), the one class every function raises for it (:mod:`bgremove.env`).

Every URL error is the client's fault (the URL it gave), hence 400: the API never answers 500 for a URL.
Dialects translate these into their own error shapes by ``http_status`` and ``code``; codes never change
once published. Missing and invalid keys share ``UNAUTHORIZED`` on purpose: an answer must not tell a
prober which key ids exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ApiError",
    "BadRequestError",
    "DisabledKeyError",
    "IdempotencyKeyInvalidError",
    "IdempotencyKeyReusedError",
    "InvalidBase64Error",
    "InvalidCursorError",
    "InvalidKeyError",
    "JobNotFoundError",
    "KeyNameTakenError",
    "KeyNotFoundError",
    "MissingKeyError",
    "MissingSourceError",
    "MultipleSourcesError",
    "RateLimitedError",
    "RateState",
    "RequestTooLargeError",
    "RouteNotFoundError",
    "ServiceUnavailableError",
    "UnauthorizedError",
    "UnknownModelError",
    "UrlBadSchemeError",
    "UrlError",
    "UrlFetchFailedError",
    "UrlInvalidError",
    "UrlNotAllowedError",
    "UrlTimeoutError",
    "UrlTooLargeError",
    "UrlTooManyRedirectsError",
]


class ApiError(Exception):
    """Base class of every API error: a stable ``code``, an ``http_status`` and a human ``message``."""

    code: str = "INTERNAL_ERROR"
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The ``{"code", "message"}`` pair, as the engine's errors give it."""
        return {"code": self.code, "message": self.message}


# --- requests ----------------------------------------------------------------------------------------------
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


class UnknownModelError(ApiError):
    """A model, or a model's path, this API does not serve (OpenAI's ``model``, Replicate's model paths)."""

    code = "MODEL_NOT_FOUND"
    http_status = 404


class RouteNotFoundError(ApiError):
    code = "NOT_FOUND"
    http_status = 404


# --- keys ---------------------------------------------------------------------------------------------------
class UnauthorizedError(ApiError):
    """No valid key was presented."""

    code = "UNAUTHORIZED"
    http_status = 401


class MissingKeyError(UnauthorizedError):
    """The request carries no key at all."""


class InvalidKeyError(UnauthorizedError):
    """The key is malformed, unknown, or its secret does not match."""


class DisabledKeyError(ApiError):
    """The key exists and matches, but was revoked."""

    code = "KEY_DISABLED"
    http_status = 403


class KeyNotFoundError(ApiError):
    """Admin: no key has this id or name."""

    code = "KEY_NOT_FOUND"
    http_status = 404


class KeyNameTakenError(ApiError):
    """Admin: a key with this name exists already (names identify keys for ``revoke``)."""

    code = "KEY_NAME_TAKEN"
    http_status = 409


# --- rate limits --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RateState:
    """A key's requests-per-second window, as remove.bg's headers report it (and a 429 carries it).

    Parameters
    ----------
    limit
        ``X-RateLimit-Limit``: requests allowed per window (the key's ``rate_per_second``).
    remaining
        ``X-RateLimit-Remaining``: requests left in the current window.
    reset_epoch_s
        ``X-RateLimit-Reset``: Unix time (seconds) at which the window resets.
    """

    limit: int
    remaining: int
    reset_epoch_s: int


class RateLimitedError(ApiError):
    """The key is over its requests-per-second or requests-in-flight limit.

    Parameters
    ----------
    retry_after_s
        Whole seconds to wait before a retry can succeed (the ``Retry-After`` header), at least 1.
    state
        The key's rate window (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``).
    reason
        ``"rate"`` (requests per second) or ``"in_flight"`` (concurrent requests).
    """

    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, retry_after_s: int, state: RateState, reason: Literal["rate", "in_flight"]) -> None:
        what = "requests per second" if reason == "rate" else "requests in flight"
        limit = state.limit if reason == "rate" else "its"
        super().__init__(f"rate limit exceeded: over {limit} {what}; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s
        self.state = state
        self.reason = reason


class ServiceUnavailableError(ApiError):
    """DynamoDB (keys or counters) is throttled or unreachable; the request may be retried."""

    code = "SERVICE_UNAVAILABLE"
    http_status = 503

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


# --- URL inputs ---------------------------------------------------------------------------------------------
class UrlError(ApiError):
    """An image URL could not be fetched; the message says why and names the URL's host."""

    code = "URL_FETCH_FAILED"
    http_status = 400


class UrlBadSchemeError(UrlError):
    code = "URL_BAD_SCHEME"


class UrlInvalidError(UrlError):
    code = "URL_INVALID"


class UrlNotAllowedError(UrlError):
    code = "URL_NOT_ALLOWED"


class UrlFetchFailedError(UrlError):
    code = "URL_FETCH_FAILED"


class UrlTimeoutError(UrlError):
    code = "URL_TIMEOUT"


class UrlTooLargeError(UrlError):
    code = "URL_TOO_LARGE"


class UrlTooManyRedirectsError(UrlError):
    code = "URL_TOO_MANY_REDIRECTS"


# --- jobs ---------------------------------------------------------------------------------------------------
class JobNotFoundError(ApiError):
    """No job has this id, or it belongs to another key (the answer must not tell which)."""

    code = "JOB_NOT_FOUND"
    http_status = 404


class InvalidCursorError(ApiError):
    """A job list cursor that this API did not hand out (or for other filters)."""

    code = "INVALID_CURSOR"
    http_status = 400


class IdempotencyKeyInvalidError(ApiError):
    """An ``Idempotency-Key`` this API cannot keep whole (over 256 characters): refused, never cut."""

    code = "INVALID_IDEMPOTENCY_KEY"
    http_status = 400


class IdempotencyKeyReusedError(ApiError):
    """An ``Idempotency-Key`` already used by this key for a different request (image, options, model or
    webhook): 422, as the IETF ``Idempotency-Key`` draft answers a key reused with another payload."""

    code = "IDEMPOTENCY_KEY_REUSED"
    http_status = 422
