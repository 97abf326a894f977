"""Times as jobs keep them: ISO 8601, UTC, milliseconds and ``Z`` (as the completion events write them), so
that two of them compare as text in DynamoDB conditions and key expressions."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso", "now_iso", "parse_iso"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds and ``Z`` (as the completion events write it)."""
    return iso(datetime.now(UTC))


def parse_iso(text: str) -> datetime | None:
    """``text`` as an aware time (UTC when it names no zone); ``None`` when it is not ISO 8601."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
