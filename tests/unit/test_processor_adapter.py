"""The function's adapter logic without AWS: sources, metadata, settings, event attributes."""

from __future__ import annotations

import json

import pytest

from bgremove import InvalidOptionError
from processor import completion, metadata, sources
from processor.settings import Env, ProcessorSettings, SettingsError
from tests.sample_events import EXAMPLE_BUCKET, EXAMPLE_KEY, event_names, load_event

EXPECTED_KINDS = {
    "s3-put": sources.SourceKind.S3,
    "sqs-s3-put": sources.SourceKind.SQS,
    "sqs-s3-test-event": sources.SourceKind.SQS,
    "eventbridge-object-created": sources.SourceKind.EVENTBRIDGE,
    "s3-batch-1.0": sources.SourceKind.S3_BATCH,
    "s3-batch-2.0": sources.SourceKind.S3_BATCH,
}


def test_every_sample_event_is_covered() -> None:
    assert set(event_names()) == set(EXPECTED_KINDS)


@pytest.mark.parametrize(("name", "kind"), sorted(EXPECTED_KINDS.items()))
def test_detects_each_source(name: str, kind: sources.SourceKind) -> None:
    assert sources.detect(load_event(name)) is kind


@pytest.mark.parametrize("name", ["s3-put", "sqs-s3-put", "eventbridge-object-created"])
def test_keys_are_url_decoded(name: str) -> None:
    event = load_event(name)
    if name == "sqs-s3-put":
        refs = sources.refs_from_sqs_body(event["Records"][0]["body"])
    elif name == "s3-put":
        refs = sources.refs_from_s3_notification(event)
    else:
        refs = sources.refs_from_eventbridge(event)
    assert [(r.bucket, r.key) for r in refs] == [(EXAMPLE_BUCKET, EXAMPLE_KEY)]
    assert refs[0].identity()["version"] == refs[0].etag


def test_test_event_and_other_event_names_yield_nothing() -> None:
    body = load_event("sqs-s3-test-event")["Records"][0]["body"]
    assert sources.refs_from_sqs_body(body) == []
    removal = load_event("s3-put")
    removal["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert sources.refs_from_s3_notification(removal) == []


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", json.dumps({"hello": "world"})])
def test_unrecognised_bodies_raise(body: str) -> None:
    with pytest.raises(sources.UnrecognisedEventError):
        sources.refs_from_sqs_body(body)


@pytest.mark.parametrize("event", [[], {"foo": 1}, {"Records": [{"eventSource": "aws:kinesis"}]}])
def test_unrecognised_events_raise(event: object) -> None:
    with pytest.raises(sources.UnrecognisedEventError):
        sources.detect(event)


def test_metadata_to_options_ignores_unknown_keys_and_reads_job_id() -> None:
    raw = {"Background-Color": "#FFFFFF", "crop-to-foreground": "true", "uploaded-by": "app", "job-id": "j-9"}
    options = metadata.options_from_metadata(raw)
    assert options.background_color == (255, 255, 255)
    assert options.crop_to_foreground is True
    assert metadata.job_id_from_metadata(raw) == "j-9"
    assert metadata.job_id_from_metadata({}) is None


def test_metadata_bad_value_names_the_option() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        metadata.options_from_metadata({"jpeg-quality": "high"})
    assert caught.value.option == "jpeg_quality"


def test_settings_from_env() -> None:
    env = {Env.OUTPUT_BUCKET: "out", Env.COMPLETION_TOPIC_ARN: "arn:aws:sns:r:1:t", Env.OUTPUT_PREFIX: "r/"}
    settings = ProcessorSettings.from_env(env)
    assert (settings.output_bucket, settings.output_prefix, settings.idempotency_table) == ("out", "r/", "")
    with pytest.raises(SettingsError, match="OUTPUT_BUCKET"):
        ProcessorSettings.from_env({Env.COMPLETION_TOPIC_ARN: "t"})
    with pytest.raises(SettingsError, match="IDEMPOTENCY_TTL_SECONDS"):
        ProcessorSettings.from_env({**env, Env.IDEMPOTENCY_TTL_SECONDS: "10"})


def test_event_id_is_stable_per_upload_and_differs_between_versions() -> None:
    first = sources.ObjectRef("b", "k", etag="e1")
    assert completion.event_id_for(first) == completion.event_id_for(sources.ObjectRef("b", "k", etag="e1"))
    assert completion.event_id_for(first) != completion.event_id_for(sources.ObjectRef("b", "k", etag="e2"))
    versioned = sources.ObjectRef("b", "k", version_id="v1", etag="e1")
    assert completion.event_id_for(versioned) != completion.event_id_for(first)


def test_message_attributes_never_empty() -> None:
    failed = {"status": "FAILED", "error": {"code": "NOT_AN_IMAGE"}, "report": None, "model": None}
    attributes = completion.message_attributes(failed)
    assert {k: v["StringValue"] for k, v in attributes.items()} == {
        "status": "FAILED",
        "error_code": "NOT_AN_IMAGE",
        "format": "none",
        "model": "none",
    }


def test_sns_wrapped_notification_is_unwrapped() -> None:
    inner = load_event("sqs-s3-put")["Records"][0]["body"]
    envelope = json.dumps(
        {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:fanout", "Message": inner}
    )
    assert [(r.bucket, r.key) for r in sources.refs_from_sqs_body(envelope)] == [
        (EXAMPLE_BUCKET, EXAMPLE_KEY)
    ]


def test_folder_markers_and_quoted_etags() -> None:
    event = load_event("s3-put")
    event["Records"][0]["s3"]["object"]["key"] = "photos%2F"
    assert sources.refs_from_s3_notification(event) == []
    quoted = sources.ObjectRef("b", "k", etag='"abc"')
    assert quoted.etag == "abc"
    assert quoted.identity() == sources.ObjectRef("b", "k", etag="abc").identity()


def test_result_metadata_stays_under_the_s3_limit() -> None:
    from bgremove import BBox, Report

    report = Report(
        input_size=(4000, 3000),
        result_size=(1200, 1200),
        orientation=6,
        input_foreground=BBox(10, 20, 3000, 2900),
        result_foreground=BBox(5, 5, 1190, 1190),
        model="u2netp",
        format="png",
        content_type="image/png",
        source_format="JPEG",
    )
    long_key = "写真/" + "長い名前" * 180 + ".jpg"  # ~2 KB of UTF-8: 3x longer once percent-encoded
    meta = metadata.result_metadata(
        report, source_key=long_key, source_etag="e" * 32, source_sequencer="0" * 18, job_id="ü" * 256
    )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())
    assert size < 2048
    assert all(v.isascii() for v in meta.values())
    assert meta["source-key"].startswith("sha256:")
    short = metadata.result_metadata(
        report, source_key="a b/c.jpg", source_etag=None, source_sequencer=None, job_id="j 1"
    )
    assert (short["source-key"], short["job-id"], short["format"]) == ("a%20b/c.jpg", "j%201", "png")
