"""speed.json's rows looked up by input, format and model, and the report's number formatting."""

from __future__ import annotations

from typing import Any

TARGET_MODEL = "u2net"
FAST_MODEL = "u2netp"


def fmt_s(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.2f}"


def mark(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def input_labels(speed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in speed["inputs"]}


def latency_row(
    speed: dict[str, Any], input_id: str, fmt: str, model: str = TARGET_MODEL
) -> dict[str, Any] | None:
    """The latency row of ``model`` for an input and format; ``None`` when it was not measured."""
    return next(
        (
            r
            for r in speed["latency"]
            if r["input"] == input_id and r["format"] == fmt and r.get("model") == model
        ),
        None,
    )


def measured(speed: dict[str, Any], input_id: str, fmt: str, model: str = TARGET_MODEL) -> dict[str, Any]:
    """Like :func:`latency_row`, for rows every run has."""
    row = latency_row(speed, input_id, fmt, model)
    if row is None:
        raise KeyError(f"speed.json has no {model} row for {input_id} -> {fmt}")
    return row


def cold_row(speed: dict[str, Any], model: str = TARGET_MODEL) -> dict[str, Any] | None:
    return next((c for c in speed["cold_start"] if c["model"] == model), None)


def rss_row(speed: dict[str, Any], input_id: str, model: str = TARGET_MODEL) -> dict[str, Any] | None:
    return next((r for r in speed["peak_rss"] if r["input"] == input_id and r["model"] == model), None)
