"""Reading settings from the environment: the one set of helpers every function, the CLI and the inference
server use, so that a setting is read the same way wherever it lives.

Each helper takes the environment as a mapping (``os.environ`` or a test's dict) and the variable's name,
and raises :class:`~bgremove.exceptions.ConfigurationError` (code ``INVALID_SETTING``) naming the variable
when its value cannot be used. Unset and empty (or blank) mean the same: the default.
"""

from __future__ import annotations

from collections.abc import Mapping

from bgremove.exceptions import ConfigurationError

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "csv", "required", "switch", "text", "whole_number"]

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

_MAX_DIGITS = 12
"""Longer than any value in range (leading zeros allowed); short enough that ``int()`` never sees a huge
string, and the error quotes at most this much of the value."""


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= _MAX_DIGITS else f"{raw[:_MAX_DIGITS]}...")


def text(env: Mapping[str, str], name: str, default: str = "") -> str:
    """The variable's value with surrounding blanks stripped; unset or blank gives ``default``."""
    return (env.get(name) or "").strip() or default


def required(env: Mapping[str, str], name: str) -> str:
    """The variable's stripped value; unset or blank is a :class:`ConfigurationError`."""
    value = text(env, name)
    if not value:
        raise ConfigurationError(name, "is required but not set")
    return value


def whole_number(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    """A whole number of ASCII digits (blanks around it allowed) in ``low..high``; unset gives ``default``.

    Only ASCII digits count: ``int()`` also takes signs, underscores and other scripts' digits, and
    ``str.isdigit()`` takes superscripts, which ``int()`` then refuses.
    """
    raw = text(env, name)
    if not raw:
        return default
    if len(raw) > _MAX_DIGITS or not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ConfigurationError(name, f"must be a whole number from {low} to {high}, got {_shown(raw)}")
    return int(raw)


def switch(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); unset gives ``default``, anything else is an
    error (a typo must not silently turn a guard off)."""
    raw = text(env, name).lower()
    if not raw:
        return default
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigurationError(name, f"must be true or false, got {_shown(raw)}")


def csv(env: Mapping[str, str], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma-separated list, each item stripped, empty items dropped; unset gives ``default``."""
    items = tuple(item.strip() for item in text(env, name).split(",") if item.strip())
    return items or default
