"""The table of the API's dialects: the one place the app, the metrics, the OpenAPI document and the
webhooks find them. Adding a dialect is one new module exporting a :class:`Dialect` and one line here."""

from __future__ import annotations

import re
from collections.abc import Mapping

from bgremove_api.dialects import apiframe, openai, page, pixian, removebg, replicate
from bgremove_api.dialects.dialect import Dialect
from bgremove_api.jobs import Job
from bgremove_api.webhooks import WebhookDialect
from bgremove_api.webhooks import terminal_event as _terminal_event

__all__ = ["DEFAULT", "DIALECTS", "WEBHOOK_DIALECTS", "for_path", "terminal_event"]

DIALECTS: tuple[Dialect, ...] = (
    pixian.DIALECT,
    removebg.DIALECT,
    replicate.DIALECT,
    openai.DIALECT,
    apiframe.DIALECT,
    page.DIALECT,
)

DEFAULT = pixian.DIALECT
"""Whose error shape a path of no dialect gets (an unknown path's 404)."""

WEBHOOK_DIALECTS: Mapping[str, WebhookDialect] = {d.name: d.webhook for d in DIALECTS if d.webhook}
"""How each dialect's webhooks are built, signed and announced, by the dialect name its jobs record."""

_BY_PATH = {path: d for d in DIALECTS for path in d.paths}
_BY_PATTERN = tuple((re.compile(pattern), d) for d in DIALECTS for pattern in d.path_patterns)
_BY_PREFIX = tuple((prefix, d) for d in DIALECTS for prefix in d.path_prefixes)
if len(_BY_PATH) != sum(len(d.paths) for d in DIALECTS) or len({d.name for d in DIALECTS}) != len(DIALECTS):
    raise RuntimeError("two dialects claim one path or one name")  # a table edit gone wrong, at import


def for_path(path: str) -> Dialect | None:
    """The dialect whose path ``path`` is: an exact path first, then a pattern, then the first matching
    prefix. Trailing slashes are dropped first, as the router drops them (``/v1/models/`` is the list)."""
    trimmed = path.rstrip("/") or "/"
    exact = _BY_PATH.get(trimmed)
    if exact is not None:
        return exact
    patterned = next((d for pattern, d in _BY_PATTERN if pattern.fullmatch(trimmed)), None)
    if patterned is not None:
        return patterned
    return next((d for prefix, d in _BY_PREFIX if path.startswith(prefix)), None)


def terminal_event(job: Job) -> str | None:
    """The event a finished ``job`` is announced with, by its dialect's rule (what job stores are given)."""
    return _terminal_event(job, WEBHOOK_DIALECTS)
