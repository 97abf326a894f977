"""The processor's completion events, typed (bgremove.events.CompletionEvent) and on the wire: exactly the
JSON and SNS attributes published before the event had a type, and the outbox keeps the first decided."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bgremove import BBox, NotAnImageError, Report
from bgremove.events import CompletionEvent
from processor import completion
from processor.sources import ObjectRef

NOW = "2026-01-01T00:00:00.123Z"
REF = ObjectRef("in", "api/j-1/a.jpg", etag="e1", size=10, sequencer="0A")
EVENT_ID = completion.event_id_for(REF)
OUTPUT = completion.OutputObject("out", "api/j-1/a.png", "image/png", 99, 8, 6)
REPORT = Report(
    input_size=(8, 6),
    result_size=(8, 6),
    orientation=1,
    input_foreground=BBox(1, 1, 6, 4),
    result_foreground=None,
    model="u2netp",
    format="png",
    content_type="image/png",
    source_format="JPEG",
    timings_ms={"inference": 12.34},
    options={"format": "png"},
)


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(completion, "_now", lambda: NOW)


def test_a_completed_event_is_the_json_published_before_it_had_a_type() -> None:
    event = completion.completed(
        REF,
        job_id="j-1",
        input_size=None,
        output=OUTPUT,
        report=REPORT.to_dict(),
        timings_ms={"download": 1.26, "end_to_end": 250.04},
    )
    expected = (
        '{"schema_version":"1.0","event_id":"EVENT_ID","status":"COMPLETED","job_id":"j-1",'
        '"timestamp":"2026-01-01T00:00:00.123Z",'
        '"input":{"bucket":"in","key":"api/j-1/a.jpg","version_id":null,"etag":"e1","size":10},'
        '"output":{"bucket":"out","key":"api/j-1/a.png","content_type":"image/png","size":99,'
        '"width":8,"height":6},'
        '"report":REPORT,"error":null,"model":"u2netp","timings_ms":{"download":1.3,"end_to_end":250.0}}'
    )
    report = json.dumps(REPORT.to_dict(), separators=(",", ":"))
    assert event.to_json() == expected.replace("EVENT_ID", EVENT_ID).replace("REPORT", report)
    assert json.loads(event.to_json()) == event.to_dict()


def test_a_failed_event_is_the_json_published_before_it_had_a_type() -> None:
    event = completion.failed(
        REF,
        job_id=None,
        input_size=3,
        error=NotAnImageError("not an image in any known format"),
        model="u2net",
        timings_ms={"end_to_end": 1.0},
    )
    expected = (
        '{"schema_version":"1.0","event_id":"EVENT_ID","status":"FAILED","job_id":null,'
        '"timestamp":"2026-01-01T00:00:00.123Z",'
        '"input":{"bucket":"in","key":"api/j-1/a.jpg","version_id":null,"etag":"e1","size":3},'
        '"output":null,"report":null,'
        '"error":{"code":"NOT_AN_IMAGE","message":"not an image in any known format"},'
        '"model":"u2net","timings_ms":{"end_to_end":1.0}}'
    )
    assert event.to_json() == expected.replace("EVENT_ID", EVENT_ID)
    assert completion.message_attributes(event) == {
        "status": {"DataType": "String", "StringValue": "FAILED"},
        "error_code": {"DataType": "String", "StringValue": "NOT_AN_IMAGE"},
        "format": {"DataType": "String", "StringValue": "none"},
        "model": {"DataType": "String", "StringValue": "u2net"},
    }


class _Sns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **request: Any) -> None:
        self.published.append(request)


def test_the_publisher_sends_the_events_json_with_its_attributes() -> None:
    event = completion.replayed(REF, job_id="j-1", input_size=10, output=OUTPUT, report=REPORT)
    assert event.report is not None and event.report["replayed"] is True
    assert "timings_ms" not in event.report and event.timings_ms == {}
    sns = _Sns()
    completion.SnsPublisher(sns, "arn:topic").publish(event)
    [request] = sns.published
    assert request == {
        "TopicArn": "arn:topic",
        "Message": event.to_json(),
        "MessageAttributes": completion.message_attributes(event),
    }
    assert request["MessageAttributes"]["format"]["StringValue"] == "png"


class _Table:
    """The idempotency table's conditional put, in memory."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put_item(self, TableName: str, Item: dict[str, Any], ConditionExpression: str) -> None:  # noqa: N803
        if Item["id"]["S"] in self.items:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
        self.items[Item["id"]["S"]] = Item

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool) -> dict[str, Any]:  # noqa: N803
        item = self.items.get(Key["id"]["S"])
        return {"Item": item} if item else {}


def test_the_outbox_gives_back_the_first_decision() -> None:
    table = _Table()
    outbox = completion.EventOutbox(table, "idempotency", 3600)
    first = completion.completed(
        REF, job_id="j-1", input_size=10, output=OUTPUT, report=REPORT.to_dict(), timings_ms={}
    )
    later = completion.failed(
        REF, job_id="j-1", input_size=10, error=NotAnImageError("x"), model=None, timings_ms={}
    )
    assert outbox.keep_first(first) is first
    kept = outbox.keep_first(later)
    assert isinstance(kept, CompletionEvent) and kept == first
    assert table.items[f"event#{EVENT_ID}"]["event"] == {"S": first.to_json()}
    assert outbox.get(first.event_id) == first
    assert outbox.get("another") is None
