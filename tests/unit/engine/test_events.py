"""The typed completion event (bgremove.events): its wire form is the schema's, it reads back what it wrote,
and a message that is no completion event of schema version 1 is refused with the field named."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bgremove import BgRemoveError, InvalidOptionError, exceptions
from bgremove.events import (
    CompletionEvent,
    CompletionStatus,
    ErrorDetails,
    InputObject,
    MalformedEventError,
    OutputObject,
)

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "events" / "schema" / "completion-event.schema.json").read_text()
)

COMPLETED = CompletionEvent(
    event_id="3f0c6a52-5b64-5d0e-9b9a-2b1d0b5f8a11",
    status=CompletionStatus.COMPLETED,
    job_id="j-1",
    timestamp="2026-01-01T00:00:00.250Z",
    input=InputObject("in", "api/j-1/a.jpg", None, "e1", 10),
    output=OutputObject("out", "api/j-1/a.png", "image/png", 99, 8, 8),
    report={
        "input_size": [8, 8],
        "result_size": [8, 8],
        "orientation": 1,
        "input_foreground": None,
        "result_foreground": [0, 0, 8, 8],
        "model": "u2netp",
        "format": "png",
    },
    model="u2netp",
    timings_ms={"download": 1.5, "end_to_end": 250.0},
)
FAILED = CompletionEvent(
    event_id=COMPLETED.event_id,
    status=CompletionStatus.FAILED,
    job_id=None,
    timestamp=COMPLETED.timestamp,
    input=InputObject("in", "shop/a.jpg", "v1", None, None),
    error=ErrorDetails.of(InvalidOptionError("format", "must be one of png, jpg")),
    model="u2netp",
    timings_ms={"end_to_end": 3.0},
)


def test_the_wire_form_has_every_field_in_order_and_meets_the_schema() -> None:
    for event in (COMPLETED, FAILED):
        data = event.to_dict()
        assert list(data) == [
            "schema_version",
            "event_id",
            "status",
            "job_id",
            "timestamp",
            "input",
            "output",
            "report",
            "error",
            "model",
            "timings_ms",
        ]
        jsonschema.validate(data, SCHEMA)
        assert event.to_json() == json.dumps(data, separators=(",", ":"))
    assert FAILED.to_dict()["error"] == {
        "code": "INVALID_OPTION",
        "message": "format: must be one of png, jpg",
        "option": "format",
    }
    assert FAILED.to_dict()["input"] == {
        "bucket": "in",
        "key": "shop/a.jpg",
        "version_id": "v1",
        "etag": None,
        "size": None,
    }


def test_an_event_reads_back_as_it_was_written() -> None:
    for event in (COMPLETED, FAILED):
        assert CompletionEvent.from_json(event.to_json()) == event
        assert CompletionEvent.from_dict(event.to_dict()) == event
    assert CompletionEvent.from_dict(COMPLETED.to_dict()).status is CompletionStatus.COMPLETED


def test_fields_it_does_not_know_and_a_minor_version_are_read_past() -> None:
    data = {**COMPLETED.to_dict(), "schema_version": "1.7", "region": "eu-west-1"}
    data["input"] = {**data["input"], "checksum": "x"}
    event = CompletionEvent.from_dict(data)
    assert event.schema_version == "1.7"
    assert replace(event, schema_version="1.0") == COMPLETED


def test_an_outcome_goes_with_its_status() -> None:
    with pytest.raises(MalformedEventError, match="COMPLETED"):
        replace(COMPLETED, output=None)
    with pytest.raises(MalformedEventError, match="COMPLETED"):
        replace(COMPLETED, error=FAILED.error)
    with pytest.raises(MalformedEventError, match="FAILED"):
        replace(FAILED, error=None)
    with pytest.raises(MalformedEventError, match="FAILED"):
        replace(FAILED, output=COMPLETED.output)


def _without(data: dict[str, Any], path: str) -> dict[str, Any]:
    *parents, name = path.split(".")
    copy = json.loads(json.dumps(data))
    inner = copy
    for parent in parents:
        inner = inner[parent]
    del inner[name]
    return copy


def _with(data: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    *parents, name = path.split(".")
    copy = json.loads(json.dumps(data))
    inner = copy
    for parent in parents:
        inner = inner[parent]
    inner[name] = value
    return copy


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: _with(d, "schema_version", "2.0"), "schema_version"),
        (lambda d: _without(d, "schema_version"), "schema_version"),
        (lambda d: _with(d, "status", "DONE"), "status"),
        (lambda d: _without(d, "event_id"), "event_id"),
        (lambda d: _with(d, "timestamp", ""), "timestamp"),
        (lambda d: _with(d, "job_id", 7), "job_id"),
        (lambda d: _without(d, "input"), "input"),
        (lambda d: _with(d, "input", "api/x/a.jpg"), "input"),
        (lambda d: _without(d, "input.key"), "input.key"),
        (lambda d: _with(d, "input.size", -1), "input.size"),
        (lambda d: _with(d, "input.size", True), "input.size"),
        (lambda d: _with(d, "output.width", "8"), "output.width"),
        (lambda d: _with(d, "report", [1]), "report"),
        (lambda d: _with(d, "timings_ms", None), "timings_ms"),
        (lambda d: _with(d, "timings_ms.end_to_end", "fast"), "timings_ms.end_to_end"),
        (lambda d: _with(d, "output", None), "COMPLETED"),
    ],
)
def test_a_malformed_message_is_refused_naming_its_field(change: Any, named: str) -> None:
    with pytest.raises(MalformedEventError, match=named.replace(".", r"\.")) as raised:
        CompletionEvent.from_dict(change(COMPLETED.to_dict()))
    assert raised.value.code == "MALFORMED_EVENT"


def test_the_malformed_event_error_is_one_of_the_engines_errors() -> None:
    assert MalformedEventError is exceptions.MalformedEventError  # bgremove.events exports it too
    assert issubclass(MalformedEventError, BgRemoveError)
    assert "MalformedEventError            MALFORMED_EVENT" in (exceptions.__doc__ or "")


def test_a_failure_may_have_an_empty_message_but_not_an_empty_code() -> None:
    data = FAILED.to_dict()
    assert CompletionEvent.from_dict(_with(data, "error.message", "")).error == ErrorDetails(
        "INVALID_OPTION", "", "format"
    )
    with pytest.raises(MalformedEventError, match=r"error\.code"):
        CompletionEvent.from_dict(_with(data, "error.code", ""))


@pytest.mark.parametrize("text", ["not json", b"\xff\xfe", "[]", "null", '"COMPLETED"'])
def test_a_body_that_holds_no_event_is_refused(text: str | bytes) -> None:
    with pytest.raises(MalformedEventError):
        CompletionEvent.from_json(text)
