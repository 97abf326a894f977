"""The table of dialects: which dialect a path belongs to (an exact path before any prefix), names and paths
claimed once, and every dialect's parts in place."""

from __future__ import annotations

import pytest

from bgremove_api.dialects import apiframe, openai, page, pixian, removebg, replicate
from bgremove_api.dialects.dialect import SECURITY_SCHEMES
from bgremove_api.dialects.table import DEFAULT, DIALECTS, WEBHOOK_DIALECTS, for_path


@pytest.mark.parametrize(
    ("path", "dialect"),
    [
        ("/api/v2/remove-background", pixian.DIALECT),
        ("/v1.0/removebg", removebg.DIALECT),
        ("/v1.0/anything", removebg.DIALECT),
        ("/v1/models", openai.DIALECT),  # exact: the OpenAI-style model list
        ("/v1/models/", openai.DIALECT),  # trailing slashes do not count, as in routing
        ("/v1/models/remove-bg", openai.DIALECT),  # one segment: OpenAI's models.retrieve
        ("/v1/chat/completions//", openai.DIALECT),
        ("/v1/models/lucataco/remove-bg/versions/x", replicate.DIALECT),
        ("/v1/chat/completions", openai.DIALECT),
        ("/v1/predictions/abc/cancel", replicate.DIALECT),
        ("/replicate/v1/predictions", replicate.DIALECT),
        ("/v2/jobs", apiframe.DIALECT),
        ("/", page.DIALECT),
        ("/remove-background/", page.DIALECT),
        ("/remove-background//", page.DIALECT),
    ],
)
def test_a_path_belongs_to_its_dialect(path: str, dialect: object) -> None:
    assert for_path(path) is dialect


@pytest.mark.parametrize("path", ["/nowhere", "/v1", "/api/v2/remove-background/x", "/docs"])
def test_other_paths_belong_to_none_and_get_the_default_shape(path: str) -> None:
    assert for_path(path) is None
    assert DEFAULT is pixian.DIALECT


def test_names_and_exact_paths_are_claimed_once() -> None:
    names = [d.name for d in DIALECTS]
    paths = [p for d in DIALECTS for p in d.paths]
    assert len(set(names)) == len(names)
    assert len(set(paths)) == len(paths)


def test_every_dialect_is_complete() -> None:
    for dialect in DIALECTS:
        assert dialect.security_scheme in SECURITY_SCHEMES
        assert dialect.paths or dialect.path_prefixes, dialect.name
        assert dialect.url_field
    assert set(WEBHOOK_DIALECTS) == {"replicate", "apiframe"}
