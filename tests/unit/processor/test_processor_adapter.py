"""The function's adapter logic without AWS: metadata, settings, errors, event attributes.

Event sources have their own module, ``test_sources.py``.
"""

from __future__ import annotations

import pytest

from bgremove import BgRemoveError, ConfigurationError, InputError, InvalidOptionError, NotAnImageError
from processor import completion, metadata, sources
from processor.exceptions import (
    OutOfTimeError,
    SourceNotFoundError,
    SupersededError,
    UnrecognisedEventError,
)
from processor.settings import (
    DEFAULT_IDEMPOTENCY_TTL_SECONDS,
    DEFAULT_MAX_INPUT_BYTES,
    IDEMPOTENCY_TTL_RANGE,
    MAX_INPUT_BYTES_RANGE,
    Env,
    ProcessorSettings,
)

REQUIRED = {
    Env.OUTPUT_BUCKET: "out",
    Env.COMPLETION_TOPIC_ARN: "arn:aws:sns:us-east-1:123456789012:t",
    Env.INPUT_BUCKETS: "in",
}


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
    settings = ProcessorSettings.from_env({**REQUIRED, Env.OUTPUT_PREFIX: "r/"})
    assert (settings.output_bucket, settings.output_prefix, settings.idempotency_table) == ("out", "r/", "")
    assert settings.idempotency_ttl_seconds == DEFAULT_IDEMPOTENCY_TTL_SECONDS == 86_400
    assert settings.max_input_bytes == DEFAULT_MAX_INPUT_BYTES == 100 * 1024 * 1024
    numbers = ProcessorSettings.from_env(
        {**REQUIRED, Env.IDEMPOTENCY_TTL_SECONDS: "60", Env.MAX_INPUT_BYTES: "2048"}
    )
    assert (numbers.idempotency_ttl_seconds, numbers.max_input_bytes) == (60, 2048)
    empty = ProcessorSettings.from_env({**REQUIRED, Env.IDEMPOTENCY_TTL_SECONDS: "", Env.MAX_INPUT_BYTES: ""})
    assert (empty.idempotency_ttl_seconds, empty.max_input_bytes) == (86_400, DEFAULT_MAX_INPUT_BYTES)


@pytest.mark.parametrize(
    ("environ", "setting"),
    [
        ({Env.COMPLETION_TOPIC_ARN: "t", Env.INPUT_BUCKETS: "in"}, Env.OUTPUT_BUCKET),
        (
            {Env.OUTPUT_BUCKET: "out", Env.COMPLETION_TOPIC_ARN: "", Env.INPUT_BUCKETS: "in"},
            Env.COMPLETION_TOPIC_ARN,
        ),
        ({}, Env.OUTPUT_BUCKET),
        ({Env.OUTPUT_BUCKET: "out", Env.COMPLETION_TOPIC_ARN: "t"}, Env.INPUT_BUCKETS),
        (
            {Env.OUTPUT_BUCKET: "out", Env.COMPLETION_TOPIC_ARN: "t", Env.INPUT_BUCKETS: " , "},
            Env.INPUT_BUCKETS,
        ),
    ],
)
def test_missing_settings_name_the_variable(environ: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigurationError, match=setting) as caught:
        ProcessorSettings.from_env(environ)
    assert caught.value.setting == setting


def test_every_missing_setting_is_listed_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ProcessorSettings.from_env({Env.INPUT_BUCKETS: "in"})
    assert caught.value.setting == Env.OUTPUT_BUCKET
    assert caught.value.message == ("OUTPUT_BUCKET: is required but not set (nor is COMPLETION_TOPIC_ARN)")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (Env.IDEMPOTENCY_TTL_SECONDS, "10"),  # below the range
        (Env.IDEMPOTENCY_TTL_SECONDS, str(IDEMPOTENCY_TTL_RANGE[1] + 1)),  # above it
        (Env.IDEMPOTENCY_TTL_SECONDS, "1e5"),
        (Env.IDEMPOTENCY_TTL_SECONDS, "-600"),
        (Env.IDEMPOTENCY_TTL_SECONDS, " 600"),
        (Env.IDEMPOTENCY_TTL_SECONDS, "6²"),  # str.isdigit() accepts superscripts, int() does not
        (Env.IDEMPOTENCY_TTL_SECONDS, "\u0661\u0662\u0660"),  # Arabic-Indic 120: int() would read it
        (Env.MAX_INPUT_BYTES, "1023"),
        (Env.MAX_INPUT_BYTES, str(MAX_INPUT_BYTES_RANGE[1] + 1)),
        (Env.MAX_INPUT_BYTES, "100MB"),
        (Env.MAX_INPUT_BYTES, "1" * 5000),  # past int()'s digit limit: still a ConfigurationError
        (Env.MAX_INPUT_BYTES, "   "),  # blank is not unset for a number
        (Env.MAX_INPUT_BYTES, "2048\n"),
    ],
)
def test_malformed_numbers_are_configuration_errors(setting: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=setting) as caught:
        ProcessorSettings.from_env({**REQUIRED, setting: value})
    assert caught.value.setting == setting
    assert len(str(caught.value)) < 200  # a huge value is not echoed whole


def test_input_buckets_are_a_comma_separated_list() -> None:
    assert ProcessorSettings.from_env(REQUIRED).input_buckets == ("in",)
    listed = ProcessorSettings.from_env({**REQUIRED, Env.INPUT_BUCKETS: " in-a, in-b,,in-a "})
    assert listed.input_buckets == ("in-a", "in-b")


def test_the_output_bucket_can_never_be_an_input_bucket() -> None:
    with pytest.raises(ConfigurationError, match="must not name the output bucket") as caught:
        ProcessorSettings.from_env({**REQUIRED, Env.INPUT_BUCKETS: "in, out "})
    assert caught.value.setting == Env.INPUT_BUCKETS
    with pytest.raises(ConfigurationError, match="must not name the output bucket"):
        ProcessorSettings.from_env({**REQUIRED, Env.OUTPUT_BUCKET: " in ", Env.INPUT_BUCKETS: "in"})


def test_blanks_around_names_are_ignored_but_the_output_prefix_is_kept_as_written() -> None:
    settings = ProcessorSettings.from_env(
        {
            Env.OUTPUT_BUCKET: " out ",
            Env.COMPLETION_TOPIC_ARN: " arn:t\n",
            Env.INPUT_BUCKETS: "in",
            Env.IDEMPOTENCY_TABLE: " table ",
            Env.OUTPUT_PREFIX: " r/",
        }
    )
    assert (settings.output_bucket, settings.topic_arn) == ("out", "arn:t")
    assert (settings.idempotency_table, settings.output_prefix) == ("table", " r/")


def test_a_settings_error_is_the_engines_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ProcessorSettings.from_env({})
    error = caught.value
    assert type(error) is ConfigurationError
    assert not isinstance(error, InputError)  # retried, then dead-lettered: never a FAILED event
    assert error.to_dict() == {
        "code": "INVALID_SETTING",
        "message": "OUTPUT_BUCKET: is required but not set (nor is COMPLETION_TOPIC_ARN, INPUT_BUCKETS)",
        "setting": "OUTPUT_BUCKET",
    }


@pytest.mark.parametrize(
    ("error", "code", "is_input_error"),
    [
        (SourceNotFoundError("gone"), "SOURCE_NOT_FOUND", True),
        (SupersededError("newer upload"), "SUPERSEDED", True),
        (ConfigurationError(Env.MAX_INPUT_BYTES, "bad"), "INVALID_SETTING", False),
        (UnrecognisedEventError("what is this"), "UNRECOGNISED_EVENT", False),
        (OutOfTimeError("5 s left"), "OUT_OF_TIME", False),
    ],
)
def test_adapter_errors_join_the_engine_tree_with_stable_codes(
    error: BgRemoveError, code: str, is_input_error: bool
) -> None:
    # Only InputError ends an upload with a FAILED event; the others are retried, then dead-lettered.
    assert isinstance(error, BgRemoveError)
    assert isinstance(error, InputError) is is_input_error
    assert error.code == type(error).code == code
    assert error.to_dict()["code"] == code


def test_event_id_is_stable_per_upload_and_differs_between_versions() -> None:
    first = sources.ObjectRef("b", "k", etag="e1")
    assert completion.event_id_for(first) == completion.event_id_for(sources.ObjectRef("b", "k", etag="e1"))
    assert completion.event_id_for(first) != completion.event_id_for(sources.ObjectRef("b", "k", etag="e2"))
    versioned = sources.ObjectRef("b", "k", version_id="v1", etag="e1")
    assert completion.event_id_for(versioned) != completion.event_id_for(first)


def test_message_attributes_never_empty() -> None:
    ref = sources.ObjectRef("b", "k", etag="e1")
    failed = completion.failed(
        ref, job_id=None, input_size=1, error=NotAnImageError(""), model=None, timings_ms={}
    )
    attributes = completion.message_attributes(failed)
    assert {k: v["StringValue"] for k, v in attributes.items()} == {
        "status": "FAILED",
        "error_code": "NOT_AN_IMAGE",
        "format": "none",
        "model": "none",
    }


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
