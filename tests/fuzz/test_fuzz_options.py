"""Fuzz the option parser: every field, from random text and JSON values, plain and through dialect names.

Invariants:

- ``Options.parse`` returns :class:`~bgremove.Options` or raises :class:`~bgremove.InvalidOptionError` whose
  ``option`` names a key the caller gave (as the field name without ``names``; as the caller's own spelling
  with ``names``); never another exception.
- Round trip: ``Options.parse(o.to_dict()) == o`` for every ``o`` that parsed, and ``to_dict`` writes text.
- The typed constructor, given any Python values, builds or raises ``InvalidOptionError`` naming the field.
"""

from __future__ import annotations

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from bgremove import InvalidOptionError, Options
from bgremove.options import OPTION_FIELDS, OPTION_NAMES, option_field
from tests.fuzz.option_values import LIKELY, any_value, canonical, spellings, typed_values, values_for


def check_round_trip(options: Options) -> None:
    written = options.to_dict()
    note(f"to_dict: {written!r}")
    assert all(isinstance(value, str) for value in written.values())
    assert Options.parse(written) == options
    assert Options.parse({option_field(k).metadata_key: v for k, v in written.items()}) == options


# --------------------------------------------------------------------------------------------- targets


@pytest.mark.parametrize("name", OPTION_NAMES)
@given(data=st.data())
def test_parse_one_field(name: str, data: st.DataObject):
    key = data.draw(spellings(name), label="key")
    value = data.draw(values_for(name), label="value")
    try:
        options = Options.parse({key: value})
    except InvalidOptionError as error:
        assert error.option == canonical(key) == name
        return
    check_round_trip(options)


keys = st.one_of(st.sampled_from(OPTION_NAMES).flatmap(spellings), st.text(max_size=12))


@given(raw=st.dictionaries(keys, any_value, max_size=8), ignore_unknown=st.booleans())
def test_parse_many_fields(raw: dict[str, object], ignore_unknown: bool):
    try:
        options = Options.parse(raw, ignore_unknown=ignore_unknown)
    except InvalidOptionError as error:
        assert error.option in {canonical(key) for key in raw}
        return
    check_round_trip(options)


@st.composite
def dialects(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, object]]:
    """A ``names`` mapping (its own keys onto fields, or onto nothing) and a request spelled with it."""
    names = draw(
        st.dictionaries(
            st.text(min_size=1, max_size=10),
            st.sampled_from(OPTION_NAMES) | st.text(max_size=10),
            max_size=8,
        )
    )
    raw: dict[str, object] = {}
    for key in draw(st.lists(st.sampled_from(sorted(names)), unique=True)) if names else []:
        spelled = draw(st.sampled_from([key, key.upper(), key.lower(), f" {key} "]))
        target = names[key]
        raw[spelled] = draw(values_for(target) if target in OPTION_NAMES else any_value)
    raw.update(draw(st.dictionaries(st.text(max_size=10), any_value, max_size=2)))
    return names, raw


@given(dialect=dialects(), ignore_unknown=st.booleans())
def test_parse_with_names(dialect: tuple[dict[str, str], dict[str, object]], ignore_unknown: bool):
    names, raw = dialect
    try:
        options = Options.parse(raw, names=names, ignore_unknown=ignore_unknown)
    except InvalidOptionError as error:
        # As the caller spells it: the dialect's own name (or, for a key it does not know, the key sent).
        assert error.option in set(names) | set(raw)
        return
    check_round_trip(options)


def _construct(values: dict[str, object]) -> None:
    try:
        options = Options(**values)  # type: ignore[arg-type]
    except InvalidOptionError as error:
        assert error.option in values
        return
    check_round_trip(options)


@pytest.mark.parametrize("name", OPTION_NAMES)
@given(value=typed_values)
def test_typed_constructor_one_field(name: str, value: object):
    _construct({name: value})


@given(values=st.dictionaries(st.sampled_from(OPTION_NAMES), typed_values, max_size=6))
def test_typed_constructor(values: dict[str, object]):
    _construct(values)


def test_every_field_is_fuzzed():
    assert set(LIKELY) == {row.name for row in OPTION_FIELDS}
