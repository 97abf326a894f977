"""Reading settings from the environment: the one set of helpers every function, the CLI and the inference
server use, so that a setting is read the same way wherever it lives.

Each helper takes the environment as a mapping (``os.environ`` or a test's dict) and the variable's name,
and raises :class:`~bgremove.exceptions.ConfigurationError` (code ``INVALID_SETTING``) naming the variable
when its value cannot be used. Unset and empty mean the same: the default. Text, switches and lists also
ignore blanks around the value (blank alone is the default); a number must be its digits and nothing
else: a stray character around one (``" 8"``, ``"8\\n"``) usually means a quoting or templating mistake,
better reported than guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping

from bgremove.exceptions import ConfigurationError

__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "csv",
    "required",
    "required_all",
    "switch",
    "text",
    "whole_number",
    "whole_numbers",
]

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

_MAX_DIGITS = 12
"""Longest number read, unless the range's top needs more; leading zeros count. Short enough that ``int()``
never sees a huge string (it is slow on them, and refuses them past 4,300 digits)."""

_SHOWN_CHARS = 40
"""At most this much of a bad value goes into the error (an environment variable can be huge)."""


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= _SHOWN_CHARS else f"{raw[:_SHOWN_CHARS]}...")


def text(env: Mapping[str, str], name: str, default: str = "") -> str:
    """The variable's value with surrounding blanks stripped; unset or blank gives ``default``."""
    return (env.get(name) or "").strip() or default


def required(env: Mapping[str, str], name: str) -> str:
    """The variable's stripped value; unset or blank is a :class:`ConfigurationError`."""
    value = text(env, name)
    if not value:
        raise ConfigurationError(name, "is required but not set")
    return value


def required_all(env: Mapping[str, str], *names: str) -> tuple[str, ...]:
    """Each variable's stripped value, in the order named.

    Raises
    ------
    ConfigurationError
        Naming the first variable unset or blank, its message listing the others, so that one failed
        deployment shows every variable still to set.
    """
    missing = [name for name in names if not text(env, name)]
    if missing:
        also = f" (nor is {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise ConfigurationError(missing[0], f"is required but not set{also}")
    return tuple(text(env, name) for name in names)


def whole_number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number of ASCII digits, nothing else, in ``low..high``; unset or empty gives ``default``.

    Only ASCII digits count: ``int()`` also takes blanks, signs, underscores and other scripts' digits
    (fullwidth, Arabic-Indic), and ``str.isdigit()`` takes superscripts, which ``int()`` then refuses.
    """
    raw = env.get(name) or ""
    if not raw:
        return default
    longest = max(_MAX_DIGITS, len(str(high)))
    if len(raw) > longest or not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ConfigurationError(name, f"must be a whole number from {low} to {high}, got {_shown(raw)}")
    return int(raw)


def switch(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case); unset or blank gives ``default``, anything else
    is an error (a typo must not silently turn a guard off)."""
    raw = text(env, name)
    word = raw.lower()
    if not word:
        return default
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigurationError(name, f"must be on or off (1/true/yes/on, 0/false/no/off), got {_shown(raw)}")


def csv(env: Mapping[str, str], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma-separated list, each item stripped, empty items dropped; unset or no item gives ``default``."""
    items = tuple(item.strip() for item in text(env, name).split(",") if item.strip())
    return items or default


def whole_numbers(
    env: Mapping[str, str], name: str, default: tuple[int, ...], *, low: int, high: int, max_count: int
) -> tuple[int, ...]:
    """Comma-separated whole numbers (blanks around the commas allowed), 1 to ``max_count`` of them, each in
    ``low..high``; unset gives ``default``."""
    items = csv(env, name)
    if not items:
        return default
    if len(items) > max_count:
        raise ConfigurationError(name, f"must list at most {max_count} numbers, got {len(items)}")
    return tuple(whole_number({name: item}, name, low, low=low, high=high) for item in items)
