"""A dialect as a declared record: what the app, the metrics, the OpenAPI document and the webhooks need to
know of one wire format, in one value each dialect module exports (``DIALECT``).

The app dispatches on the table of these records (:mod:`bgremove_api.dialects.table`): which routes to
include, in whose shape an error on a path is answered, which field to name when a body is too large, and
which label the metrics use. The wire mapping itself (fields -> :class:`bgremove.Options`, results ->
answers) stays in pure functions of the dialect's module, tested on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.models import (
    APIKey,
    APIKeyIn,
    HTTPBase,
    HTTPBearer,
    SecurityScheme,
)
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from bgremove_api.dialects.common import Failure
from bgremove_api.webhooks import WebhookDialect

__all__ = ["API_KEY_HEADER", "BASIC", "BEARER", "SECURITY_SCHEMES", "Dialect", "requires"]

BASIC = "basicAuth"
API_KEY_HEADER = "apiKeyHeader"
BEARER = "bearerAuth"

SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    BASIC: HTTPBase(
        scheme="basic",
        description="HTTP Basic, as Pixian's clients send it: the key as the user or as the password "
        "(the other half is free)",
    ),
    API_KEY_HEADER: APIKey.model_validate(
        {
            "in": APIKeyIn.header,
            "name": "X-Api-Key",
            "description": "The key in X-Api-Key, as remove.bg's and Apiframe's clients and the try-it page "
            "send it",
        }
    ),
    BEARER: HTTPBearer(
        description="Authorization: Bearer <key>, as Replicate's and OpenAI's clients send it",
    ),
}
"""How a key is presented, by scheme name: one key works in every dialect, each reads it its own way."""


def requires(scheme: str) -> list[dict[str, list[str]]]:
    """A route's OpenAPI ``security``: the key, presented by ``scheme`` (one of :data:`SECURITY_SCHEMES`)."""
    if scheme not in SECURITY_SCHEMES:
        raise ValueError(f"no security scheme {scheme!r}")
    return [{scheme: []}]


@dataclass(frozen=True)
class Dialect:
    """One wire dialect of the API.

    Attributes
    ----------
    name
        Its label: metrics' and traces' ``Dialect`` dimension, and the ``dialect`` of the jobs it submits.
    router
        Its routes; the app includes every dialect's router.
    error_response
        Renders a :class:`Failure` in the dialect's error shape: every error on its paths leaves this way.
    url_field
        The field a client should use instead when its body is too large (named in the 413).
    security_scheme
        How its clients present the key (a key of :data:`SECURITY_SCHEMES`).
    paths, path_patterns, path_prefixes
        The request paths that are its own: exactly, by a regular expression of the whole path, or by
        prefix, tried in that order (so ``/v1/models`` and ``/v1/models/<id>`` can be one dialect's while
        ``/v1/models/<owner>/<name>/...`` is another's). Trailing slashes do not count, as in routing.
    webhook
        How its jobs' webhooks are built, signed and announced; ``None`` for a dialect without webhooks.
    """

    name: str
    router: APIGatewayRouter
    error_response: Callable[[Failure], Response[str]]
    url_field: str
    security_scheme: str
    paths: tuple[str, ...] = ()
    path_patterns: tuple[str, ...] = ()
    path_prefixes: tuple[str, ...] = ()
    webhook: WebhookDialect | None = None

    def __post_init__(self) -> None:
        requires(self.security_scheme)  # a typo fails at import, not as a broken Authorize button
