"""Reading every accepted event source into object references (``processor.sources``), without AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import SQSEvent

from bgremove import BgRemoveError, InputError
from processor import sources
from processor.exceptions import UnrecognisedEventError
from processor.sources import ObjectRef, SourceKind
from tests.sample_events import EXAMPLE_BUCKET, EXAMPLE_ETAG, EXAMPLE_KEY, event_names, load_event

EXPECTED_KINDS = {
    "s3-put": SourceKind.S3,
    "sqs-s3-put": SourceKind.SQS,
    "sqs-s3-test-event": SourceKind.SQS,
    "sqs-sns-s3-put": SourceKind.SQS,
    "sqs-eventbridge-object-created": SourceKind.SQS,
    "eventbridge-object-created": SourceKind.EVENTBRIDGE,
    "s3-batch-1.0": SourceKind.S3_BATCH,
    "s3-batch-2.0": SourceKind.S3_BATCH,
}
EXAMPLE_REF = (EXAMPLE_BUCKET, EXAMPLE_KEY)


def refs_of(event: dict[str, Any]) -> list[ObjectRef]:
    """What the handler would process: ``parse`` refs, or every SQS record's refs."""
    parsed = sources.parse(event)
    if parsed.kind is SourceKind.SQS:
        assert parsed.refs == ()
        return [ref for record in SQSEvent(event).records for ref in sources.refs_from_sqs_record(record)]
    return list(parsed.refs)


def s3_notification(key: str, event_name: str = "ObjectCreated:Put", **obj: Any) -> dict[str, Any]:
    event = load_event("s3-put")
    record = event["Records"][0]
    record["eventName"] = event_name
    record["s3"]["object"].update(key=key, **obj)
    return event  # type: ignore[no-any-return]


def test_every_sample_event_is_covered() -> None:
    assert set(event_names()) == set(EXPECTED_KINDS)


@pytest.mark.parametrize(("name", "kind"), sorted(EXPECTED_KINDS.items()))
def test_parse_recognises_each_source(name: str, kind: SourceKind) -> None:
    assert sources.parse(load_event(name)).kind is kind


@pytest.mark.parametrize("name", sorted(set(EXPECTED_KINDS) - {"sqs-s3-test-event"}))
def test_each_source_names_the_example_object_with_its_key_decoded(name: str) -> None:
    refs = refs_of(load_event(name))
    assert [(r.bucket, r.key) for r in refs] == [EXAMPLE_REF]


@pytest.mark.parametrize(
    "name",
    [
        "s3-put",
        "sqs-s3-put",
        "sqs-sns-s3-put",
        "eventbridge-object-created",
        "sqs-eventbridge-object-created",
    ],
)
def test_notifications_carry_etag_size_and_sequencer(name: str) -> None:
    (ref,) = refs_of(load_event(name))
    assert ref.etag == EXAMPLE_ETAG
    assert ref.size == 53177
    assert ref.sequencer
    assert ref.version_id is None  # unversioned example bucket
    assert ref.identity()["version"] == EXAMPLE_ETAG


def test_versioned_objects_carry_their_version() -> None:
    notification = s3_notification("a.jpg", versionId="v-1")
    assert [r.version_id for r in refs_of(notification)] == ["v-1"]
    eventbridge = load_event("eventbridge-object-created")
    eventbridge["detail"]["object"]["version-id"] = "v-2"
    assert [r.version_id for r in refs_of(eventbridge)] == ["v-2"]
    job = load_event("s3-batch-2.0")
    job["tasks"][0]["s3VersionId"] = "v-3"
    assert [r.version_id for r in refs_of(job)] == ["v-3"]


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("a+b.jpg", "a b.jpg"),  # S3 encodes a space as "+"
        ("a%2Bb.jpg", "a+b.jpg"),  # and a literal "+" as %2B
        ("dir%2Fx%3A1.jpg", "dir/x:1.jpg"),
    ],
)
def test_s3_notification_keys_are_url_decoded(encoded: str, key: str) -> None:
    assert [r.key for r in refs_of(s3_notification(encoded))] == [key]


def test_sqs_batch_is_read_one_message_at_a_time() -> None:
    event = load_event("sqs-s3-put")
    event["Records"].append(load_event("sqs-s3-put", key="b.jpg")["Records"][0])
    parsed = sources.parse(event)
    assert (parsed.kind, parsed.refs, parsed.job) == (SourceKind.SQS, (), None)
    per_record = [[r.key for r in sources.refs_from_sqs_record(rec)] for rec in SQSEvent(event).records]
    assert per_record == [[EXAMPLE_KEY], ["b.jpg"]]


def test_sns_envelope_is_unwrapped() -> None:
    inner = load_event("sqs-s3-put")["Records"][0]["body"]
    envelope = json.dumps(
        {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:fanout", "Message": inner}
    )
    assert [(r.bucket, r.key) for r in sources.refs_from_message_body(envelope)] == [EXAMPLE_REF]


def test_s3_batch_operations_tasks_are_paired_with_their_objects() -> None:
    for name in ("s3-batch-1.0", "s3-batch-2.0"):  # 1.0 names the bucket by ARN, 2.0 by name
        event = load_event(name)
        parsed = sources.parse(event)
        assert parsed.job is not None
        assert parsed.job.invocation_id == event["invocationId"]
        pairs = [(task.task_id, ref.bucket, ref.key, ref.etag) for task, ref in parsed.batch_tasks()]
        assert pairs == [(event["tasks"][0]["taskId"], EXAMPLE_BUCKET, EXAMPLE_KEY, None)]


def test_only_s3_batch_operations_has_tasks() -> None:
    parsed = sources.parse(load_event("s3-put"))
    assert parsed.job is None
    assert list(parsed.batch_tasks()) == []


def test_s3_batch_operations_answers_folder_markers_too() -> None:
    job = load_event("s3-batch-2.0", key="photos/")
    assert [r.key for r in refs_of(job)] == ["photos/"]  # every task needs a result


# --- skipped without error ---------------------------------------------------------------------------------


def test_s3_test_events_yield_nothing() -> None:
    assert refs_of(load_event("sqs-s3-test-event")) == []
    body = json.loads(load_event("sqs-s3-test-event")["Records"][0]["body"])
    assert sources.parse(body) == sources.ParsedEvent(SourceKind.S3)  # sent to the function directly


@pytest.mark.parametrize(
    "event_name", ["ObjectRemoved:Delete", "ObjectRestore:Completed", "LifecycleExpiration:Delete"]
)
def test_other_s3_notifications_yield_nothing(event_name: str) -> None:
    assert refs_of(s3_notification("a.jpg", event_name)) == []


def test_other_eventbridge_events_yield_nothing() -> None:
    event = load_event("eventbridge-object-created")
    event["detail-type"] = "Object Deleted"
    assert sources.parse(event) == sources.ParsedEvent(SourceKind.EVENTBRIDGE)


def zero_sized(event: dict[str, Any]) -> dict[str, Any]:
    """The sample event with the object's size 0 (also inside an SQS body: 53177 is only ever the size)."""
    return json.loads(json.dumps(event).replace(": 53177", ": 0"))  # type: ignore[no-any-return]


def test_folder_markers_yield_nothing() -> None:
    assert refs_of(s3_notification("photos%2F", size=0)) == []
    assert refs_of(zero_sized(load_event("sqs-s3-put", key="photos/"))) == []
    assert refs_of(zero_sized(load_event("eventbridge-object-created", key="photos/"))) == []


@pytest.mark.parametrize(
    "event",
    [
        s3_notification("photos%2F", size=1024),
        load_event("sqs-s3-put", key="photos/"),
        load_event("eventbridge-object-created", key="photos/"),
    ],
    ids=["s3", "sqs", "eventbridge"],
)
def test_keys_ending_in_slash_that_hold_bytes_are_uploads(event: dict[str, Any]) -> None:
    assert [r.key for r in refs_of(event)] == ["photos/"]


def test_a_folder_marker_needs_a_known_size_of_zero() -> None:
    assert ObjectRef("b", "photos/", size=0).is_folder_marker
    assert not ObjectRef("b", "photos/", size=7).is_folder_marker
    assert not ObjectRef("b", "photos/").is_folder_marker  # S3 Batch Operations: looked up first
    assert not ObjectRef("b", "empty.jpg", size=0).is_folder_marker  # an empty upload: EMPTY_INPUT


def test_only_object_creations_are_kept_from_a_mixed_notification() -> None:
    event = s3_notification("kept.jpg")
    removal = json.loads(json.dumps(event["Records"][0]))
    removal["eventName"] = "ObjectRemoved:Delete"
    event["Records"].insert(0, removal)
    assert [r.key for r in refs_of(event)] == ["kept.jpg"]


def test_empty_records_are_an_empty_notification() -> None:
    assert sources.parse({"Records": []}) == sources.ParsedEvent(SourceKind.S3)


# --- rejected ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        json.dumps({"hello": "world"}),
        json.dumps({"Type": "Notification", "Message": "not json"}),
        json.dumps({"Records": [{"eventSource": "aws:kinesis"}]}),
        json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}),  # no "s3"
    ],
)
def test_unrecognised_message_bodies_raise(body: str) -> None:
    with pytest.raises(UnrecognisedEventError):
        sources.refs_from_message_body(body)


@pytest.mark.parametrize(
    "event",
    [
        [],
        "Records",
        None,
        {"foo": 1},
        {"Records": [{"eventSource": "aws:kinesis"}]},
        {"Records": ["aws:s3"]},
        {"source": "aws.s3", "detail-type": "Object Created", "detail": {}},  # no bucket, no object
        {"invocationSchemaVersion": "2.0", "invocationId": "i", "tasks": [{"taskId": "t"}]},  # no s3Key
    ],
)
def test_unrecognised_events_raise(event: object) -> None:
    with pytest.raises(UnrecognisedEventError):
        sources.parse(event)


def test_unrecognised_event_error_is_retried_not_acknowledged() -> None:
    with pytest.raises(UnrecognisedEventError) as caught:
        sources.parse({"foo": 1})
    error = caught.value
    assert isinstance(error, BgRemoveError)
    assert not isinstance(error, InputError)  # so it is retried, then dead-lettered, never dropped
    assert error.to_dict()["code"] == "UNRECOGNISED_EVENT"


# --- ObjectRef ---------------------------------------------------------------------------------------------


def test_quoted_etags_are_unquoted() -> None:
    quoted = ObjectRef("b", "k", etag='"abc"')
    assert quoted.etag == "abc"
    assert quoted.identity() == ObjectRef("b", "k", etag="abc").identity()
    assert ObjectRef("b", "k", etag='""').etag is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("s3-put", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("sqs-s3-put", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("sqs-sns-s3-put", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("eventbridge-object-created", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("sqs-eventbridge-object-created", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("s3-batch-2.0", None),
    ],
)
def test_notifications_carry_their_time(name: str, expected: datetime | None) -> None:
    (ref,) = refs_of(load_event(name))
    assert ref.event_time == expected


@pytest.mark.parametrize("value", ["", "yesterday", 12, None])
def test_an_unreadable_event_time_is_no_time(value: object) -> None:
    event = s3_notification("a.jpg")
    event["Records"][0]["eventTime"] = value
    (ref,) = refs_of(event)
    assert ref.event_time is None


def test_event_time_is_not_part_of_the_identity() -> None:
    moment = datetime(2026, 11, 21, tzinfo=UTC)
    assert (
        ObjectRef("b", "k", etag="e", event_time=moment).identity()
        == ObjectRef("b", "k", etag="e").identity()
    )


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("0055AED6DCD90281E5", "0055AED6DCD90281F9", -1),
        ("0055AED6DCD90281F9", "0055AED6DCD90281E5", 1),
        ("0055AED6DCD90281E5", "0055aed6dcd90281e5", 0),  # case does not matter
        ("0055AED6DCD90281E5", "0055AED6DCD90281E50000", 0),  # right-padded with zeros: equal
        ("0055AED6DCD90281E5", "0055AED6DCD90281E50001", -1),  # the longer one is later
        ("0055AED6DCD90281F", "0055AED6DCD90281E5FF", 1),  # F0 > E5: not numeric order, S3's order
        ("", "0055AED6DCD90281E5", None),
        ("0055AED6DCD90281E5", "not-hex", None),
    ],
)
def test_sequencers_compare_right_padded(first: str, second: str, expected: int | None) -> None:
    assert sources.compare_sequencers(first, second) == expected


def test_identity_tells_uploads_apart() -> None:
    first = ObjectRef("b", "k", etag="e", sequencer="01")
    assert first.identity() == {"bucket": "b", "key": "k", "version": "e", "sequencer": "01"}
    assert ObjectRef("b", "k", version_id="v", etag="e").identity()["version"] == "v"
    assert ObjectRef("b", "k", etag="e", sequencer="02").identity() != first.identity()
