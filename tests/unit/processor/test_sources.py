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


# A recognised document whose fields have the wrong type or value is malformed: refused as a whole, never
# read into an ObjectRef that fails later (a non-text version id breaks the S3 read; a negative size breaks
# the completion event's schema).


ABSENT = object()
"""A field value for :func:`object_fields`: remove the field."""


def object_fields(source: str, **fields: Any) -> dict[str, Any]:
    """The sample event of ``source`` (``s3``, ``eventbridge``, ``batch-1.0``, ``batch-2.0``) with these
    fields of its object (or task) set, or removed when :data:`ABSENT`."""
    if source == "s3":
        event = load_event("s3-put")
        target = event["Records"][0]["s3"]["object"]
    elif source == "eventbridge":
        event = load_event("eventbridge-object-created")
        target = event["detail"]["object"]
    else:
        event = load_event(f"s3-{source}")
        target = event["tasks"][0]
    for name, value in fields.items():
        if value is ABSENT:
            target.pop(name, None)
        else:
            target[name] = value
    return event  # type: ignore[no-any-return]


def assert_malformed(event: dict[str, Any]) -> None:
    """Refused directly, and as an SQS message body (S3 Batch Operations jobs only come directly)."""
    with pytest.raises(UnrecognisedEventError, match="malformed"):
        sources.parse(event)
    if "tasks" not in event:
        with pytest.raises(UnrecognisedEventError, match="malformed"):
            sources.refs_from_message_body(json.dumps(event))


BAD_SIZES = [-1, -(2**63), True, False, 1.5, 53177.0, "53177", "-1", "", ["53177"], {"size": 1}]


@pytest.mark.parametrize("size", BAD_SIZES, ids=repr)
@pytest.mark.parametrize("source", ["s3", "eventbridge"])
def test_a_size_that_is_not_a_non_negative_integer_is_malformed(source: str, size: object) -> None:
    assert_malformed(object_fields(source, size=size))


@pytest.mark.parametrize("source", ["s3", "eventbridge"])
@pytest.mark.parametrize(("size", "expected"), [(ABSENT, None), (None, None), (0, 0), (5 * 2**40, 5 * 2**40)])
def test_a_size_may_be_absent_null_zero_or_large(source: str, size: object, expected: int | None) -> None:
    (ref,) = refs_of(object_fields(source, size=size))  # size 0: an empty upload (no "/"), not a folder
    assert ref.size == expected


BAD_TEXT = [5, 0, True, False, 1.5, ["v"], {"id": "v"}]


@pytest.mark.parametrize("value", BAD_TEXT, ids=repr)
@pytest.mark.parametrize(
    ("source", "field"),
    [
        ("s3", "versionId"),
        ("s3", "eTag"),
        ("s3", "sequencer"),
        ("eventbridge", "version-id"),
        ("eventbridge", "etag"),
        ("eventbridge", "sequencer"),
    ],
)
def test_a_version_etag_or_sequencer_that_is_not_text_is_malformed(
    source: str, field: str, value: object
) -> None:
    assert_malformed(object_fields(source, **{field: value}))


@pytest.mark.parametrize("value", BAD_TEXT, ids=repr)
@pytest.mark.parametrize("schema", ["batch-1.0", "batch-2.0"])
def test_a_batch_task_version_that_is_not_text_is_malformed(schema: str, value: object) -> None:
    assert_malformed(object_fields(schema, s3VersionId=value))


@pytest.mark.parametrize("value", [None, ""])
@pytest.mark.parametrize(
    ("source", "version", "sequencer"),
    [
        ("s3", "versionId", "sequencer"),
        ("eventbridge", "version-id", "sequencer"),
        ("batch-2.0", "s3VersionId", ""),
    ],
)
def test_null_or_empty_optional_fields_are_absent(
    source: str, version: str, sequencer: str, value: object
) -> None:
    fields = {version: value, sequencer: value} if sequencer else {version: value}
    (ref,) = refs_of(object_fields(source, **fields))
    assert (ref.version_id, ref.sequencer) == (None, None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bucket", 5),
        ("bucket", ""),
        ("key", None),
        ("version_id", 5),
        ("version_id", True),
        ("etag", 7),
        ("etag", ["e"]),
        ("sequencer", 0x55),
        ("size", -1),
        ("size", True),
        ("size", 1.0),
        ("size", "12"),
        ("event_time", "2026-11-21T12:00:00Z"),
        ("event_time", datetime(2026, 11, 21, 12, 0)),  # naive: its time zone unknown
    ],
)
def test_object_refs_check_every_field(field: str, value: object) -> None:
    with pytest.raises((TypeError, ValueError), match=field):
        ObjectRef(**{"bucket": "b", "key": "k", field: value})  # type: ignore[arg-type]


# S3 Batch Operations invokes the function once per object of the manifest (the Lambda developer guide,
# "Invoke a Lambda function with Amazon S3 batch events"): one task, whose response names it and echoes
# the invocation. A job the function cannot answer that way is refused before any work is done.


def batch_job(schema: str, edit: Any) -> dict[str, Any]:
    job = load_event(f"s3-batch-{schema}")
    edit(job)
    return job  # type: ignore[no-any-return]


def _two_tasks(job: dict[str, Any]) -> None:
    job["tasks"].append({**job["tasks"][0], "taskId": "c2Vjb25kCg"})


BAD_JOBS: dict[str, Any] = {
    "no invocationId": lambda job: job.pop("invocationId"),
    "empty invocationId": lambda job: job.update(invocationId=""),
    "numeric invocationId": lambda job: job.update(invocationId=5),
    "schema version 0": lambda job: job.update(invocationSchemaVersion=0),
    "empty schema version": lambda job: job.update(invocationSchemaVersion=""),
    "schema version 1.0 as a number": lambda job: job.update(invocationSchemaVersion=1.0),
    "unknown schema version": lambda job: job.update(invocationSchemaVersion="3.0"),
    "no tasks": lambda job: job.update(tasks=[]),
    "two tasks": _two_tasks,
    "tasks not a list": lambda job: job.update(tasks=job["tasks"][0]),
    "task not an object": lambda job: job.update(tasks=["dGFza2lkZ29lc2hlcmUK"]),
    "no taskId": lambda job: job["tasks"][0].pop("taskId"),
    "empty taskId": lambda job: job["tasks"][0].update(taskId=""),
    "numeric taskId": lambda job: job["tasks"][0].update(taskId=7),
    "no s3Key": lambda job: job["tasks"][0].pop("s3Key"),
    "empty s3Key": lambda job: job["tasks"][0].update(s3Key=""),
    "numeric s3Key": lambda job: job["tasks"][0].update(s3Key=7),
    "no bucket": lambda job: [job["tasks"][0].pop(f, None) for f in ("s3Bucket", "s3BucketArn")],
}


@pytest.mark.parametrize("edit", BAD_JOBS.values(), ids=BAD_JOBS.keys())
@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_s3_batch_jobs_the_function_cannot_answer_are_refused(schema: str, edit: Any) -> None:
    with pytest.raises(UnrecognisedEventError, match="S3 Batch Operations job"):
        sources.parse(batch_job(schema, edit))


@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_s3_batch_jobs_carry_what_their_response_echoes(schema: str) -> None:
    job = load_event(f"s3-batch-{schema}")
    parsed = sources.parse(job)
    assert parsed.job is not None
    assert (parsed.job.invocation_schema_version, parsed.job.invocation_id) == (schema, job["invocationId"])
    assert [task.task_id for task, _ in parsed.batch_tasks()] == [job["tasks"][0]["taskId"]]


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
