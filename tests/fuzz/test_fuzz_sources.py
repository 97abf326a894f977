"""Fuzz the event readers of the processor (``processor.sources``).

Inputs: random JSON (with the field names and values of the real events mixed in, so that the readers get
past their first checks), and every sample event of ``events/`` with fields removed, replaced by random JSON,
retyped (a string becomes a number, a list an object...) or emptied. SQS messages are also fuzzed inside:
their body, and the SNS envelope's ``Message`` inside that, are mutated the same way, and as raw text.

Invariants:

- ``parse(event)``: a :class:`~processor.sources.ParsedEvent` or ``UnrecognisedEventError``; never
  ``KeyError``, ``TypeError`` or any other exception.
- ``refs_from_message_body(body)``: a list of :class:`~processor.sources.ObjectRef` or
  ``UnrecognisedEventError``.
- What they return is what the handler relies on. Every ``ObjectRef`` field has the type the completion
  event's ``input`` gives it (``bucket``/``key`` text, ``size`` a non-negative int or null...); an S3 Batch
  Operations job carries the invocation id, schema version and the one task id its response must echo. An
  event that does not give these must be unrecognised, not accepted and left to fail later.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from processor import sources
from processor.exceptions import UnrecognisedEventError
from processor.sources import ObjectRef, ParsedEvent, SourceKind
from tests.sample_events import event_names, load_event

EVENTS = event_names()

# Field names and values of the real events: random documents built from them reach the readers' depths.
VOCABULARY_KEYS = [
    "Records",
    "eventSource",
    "eventName",
    "s3",
    "bucket",
    "name",
    "object",
    "key",
    "size",
    "eTag",
    "etag",
    "versionId",
    "version-id",
    "sequencer",
    "body",
    "Type",
    "Message",
    "Event",
    "source",
    "detail",
    "detail-type",
    "invocationSchemaVersion",
    "invocationId",
    "tasks",
    "taskId",
    "s3Key",
    "s3Bucket",
    "s3BucketArn",
    "s3VersionId",
    "job",
]
VOCABULARY_VALUES = [
    "aws:s3",
    "aws:sqs",
    "aws.s3",
    "Notification",
    "s3:TestEvent",
    "Object Created",
    "ObjectCreated:Put",
    "ObjectRemoved:Delete",
    "1.0",
    "2.0",
    "arn:aws:s3:::bucket",
    "photos/",
    "a+b%20c%ZZ.jpg",
    "",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(VOCABULARY_VALUES),
)
json_documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(VOCABULARY_KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)


# ------------------------------------------------------------------------------------------ mutations


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found.append((*prefix, key))
        found += _paths(child, (*prefix, key))
    return found


def _retyped(value: Any) -> list[Any]:
    """The same value in other JSON types."""
    if isinstance(value, bool):
        return [str(value).lower(), int(value), None]
    if isinstance(value, int | float):
        return [str(value), [value], None, -1, 2**63, 1.5]
    if isinstance(value, str):
        numeric = [int(value)] if value.isdigit() else []
        return [*numeric, 0, [value], {"value": value}, None, value.encode().hex(), f"{value}/"]
    if isinstance(value, list):
        return [{str(i): v for i, v in enumerate(value)}, [], value * 2, json.dumps(value), None]
    if isinstance(value, dict):
        return [list(value.values()), [value], {}, json.dumps(value), None]
    return [0, "", [], {}]


@st.composite
def mutated(draw: st.DrawFn, document: Any, max_edits: int = 4) -> Any:
    """``document`` with up to ``max_edits`` fields added, removed, replaced, retyped or emptied.

    Added fields are the events' own optional ones (``versionId``, ``version-id``...) that the samples
    leave out, with any JSON value.
    """
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(0, max_edits))):
        paths = _paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        last, value = path[-1], parent[path[-1]]
        action = draw(st.sampled_from(["add", "remove", "replace", "retype", "empty"]))
        if action == "add":
            target = value if isinstance(value, dict) else parent if isinstance(parent, dict) else None
            if target is not None:
                target[draw(st.sampled_from(VOCABULARY_KEYS))] = draw(scalars | json_documents)
        elif action == "remove":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(json_documents)
        elif action == "retype":
            parent[last] = draw(st.sampled_from(_retyped(value)))
        else:
            parent[last] = type(value)() if isinstance(value, str | list | dict) else None
    return document


@st.composite
def mutated_body(draw: st.DrawFn, body: str) -> str:
    """An SQS body: its JSON (and an SNS envelope's ``Message``) mutated, or its text cut or spliced."""
    how = draw(st.sampled_from(["json", "json", "text"]))
    if how == "text":
        at = draw(st.integers(0, len(body)))
        return body[:at] + draw(st.text(max_size=8)) + body[at + draw(st.integers(0, 8)) :]
    document = json.loads(body)
    if isinstance(document.get("Message"), str) and draw(st.booleans()):
        document["Message"] = json.dumps(draw(mutated(json.loads(document["Message"]))))
    return json.dumps(draw(mutated(document)))


# ------------------------------------------------------------------------------------------ invariants


def check_ref(ref: object) -> None:
    assert isinstance(ref, ObjectRef)
    # The completion event's "input" (events/schema/completion-event.schema.json) is made of these fields.
    assert isinstance(ref.bucket, str), f"bucket {ref.bucket!r}"
    assert isinstance(ref.key, str), f"key {ref.key!r}"
    for name in ("version_id", "etag", "sequencer"):
        value = getattr(ref, name)
        assert value is None or isinstance(value, str), f"{name} {value!r}"
    assert ref.size is None or (type(ref.size) is int and ref.size >= 0), f"size {ref.size!r}"
    assert all(isinstance(v, str) for v in ref.identity().values())


def check_parsed(parsed: ParsedEvent) -> None:
    assert isinstance(parsed, ParsedEvent)
    for ref in parsed.refs:
        check_ref(ref)
    if parsed.kind is SourceKind.SQS:
        assert parsed.refs == ()
    if parsed.kind is SourceKind.S3_BATCH:
        # What the handler's response echoes (S3BatchOperationResponse wants exactly one result).
        job = parsed.job
        assert job is not None
        assert isinstance(job.get("invocationId"), str), "S3 Batch job accepted without an invocationId"
        assert job.get("invocationSchemaVersion") in ("1.0", "2.0"), "S3 Batch job of an unknown schema"
        tasks = [task for task, _ in parsed.batch_tasks()]
        assert len(tasks) == 1, f"S3 Batch job accepted with {len(tasks)} tasks (its response takes one)"
        assert isinstance(tasks[0].get("taskId"), str), "S3 Batch task accepted without a taskId"


def parse_or_unrecognised(event: object) -> None:
    try:
        parsed = sources.parse(event)
    except UnrecognisedEventError:
        return
    check_parsed(parsed)


def body_or_unrecognised(body: str) -> None:
    try:
        refs = sources.refs_from_message_body(body)
    except UnrecognisedEventError:
        return
    assert isinstance(refs, list)
    for ref in refs:
        check_ref(ref)


# --------------------------------------------------------------------------------------------- targets


@given(event=json_documents)
def test_parse_random_json(event: object):
    parse_or_unrecognised(event)


@given(body=json_documents.map(json.dumps) | st.text(max_size=64))
def test_message_body_random_json(body: str):
    body_or_unrecognised(body)


@pytest.mark.parametrize("name", EVENTS)
@given(data=st.data())
def test_parse_mutated_event(name: str, data: st.DataObject):
    event = data.draw(mutated(load_event(name)), label="event")
    parse_or_unrecognised(event)


@pytest.mark.parametrize("name", [n for n in EVENTS if n.startswith("sqs-")])
@given(data=st.data())
def test_message_body_mutated(name: str, data: st.DataObject):
    record = load_event(name)["Records"][0]
    body = data.draw(mutated_body(record["body"]), label="body")
    note(f"body: {body!r}")
    body_or_unrecognised(body)
