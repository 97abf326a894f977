"""The report written into an output's S3 user metadata, and read back by a retry that replays it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bgremove import BBox, Report
from processor import completion, metadata
from processor.sources import ObjectRef

REPORT = Report(
    input_size=(4000, 3000),
    result_size=(1220, 1220),
    orientation=6,
    input_foreground=BBox(10, 20, 3000, 2900),
    result_foreground=BBox(10, 10, 1200, 1200),
    model="u2netp",
    format="webp",
    content_type="image/webp",
    source_format="HEIF",
    timings_ms={"inference": 812.5, "total": 1000.0},
    options={"format": "webp", "margin": "10px"},
)
NOTHING_FOUND = replace(REPORT, input_foreground=None, result_foreground=None, format="png")


def written(report: Report, **changes: str) -> dict[str, str]:
    """The metadata :func:`metadata.result_metadata` writes for ``report``, with ``changes`` applied."""
    meta = metadata.result_metadata(
        report, source_key="in/cat.heic", source_etag="e1", source_sequencer="0A", job_id="j-1"
    )
    return {**meta, **changes}


@pytest.mark.parametrize("report", [REPORT, NOTHING_FOUND], ids=["boxes", "no subject found"])
def test_report_survives_the_round_trip_through_metadata(report: Report) -> None:
    back = metadata.report_from_metadata(written(report), content_type=report.content_type)
    # Timings and options are not stored: the write has no room to spare (S3 allows 2 KB).
    assert back == replace(report, timings_ms={}, options={})


def test_content_type_comes_from_the_object_not_the_metadata() -> None:
    back = metadata.report_from_metadata(written(REPORT), content_type="image/png")
    assert back is not None
    assert back.content_type == "image/png"


@pytest.mark.parametrize(
    "changes",
    [
        {"result-size": "large"},
        {"result-size": "1220"},
        {"input-size": "4000 3000 1"},
        {"input-size": "-1 3000"},
        {"input-orientation": "upright"},
        {"input-orientation": "9"},
        {"input-foreground": "10 20 3000"},
        {"result-foreground": ""},
        {"format": "gif"},
        {"format": "auto"},
        {"model": ""},
    ],
    ids=lambda changes: ", ".join(f"{k}={v!r}" for k, v in changes.items()),
)
def test_malformed_metadata_is_not_ours(changes: dict[str, str]) -> None:
    assert metadata.report_from_metadata(written(REPORT, **changes), content_type="image/webp") is None


@pytest.mark.parametrize(
    "key", ["input-size", "result-size", "input-orientation", "result-foreground", "model", "source-format"]
)
def test_metadata_missing_a_field_is_not_ours(key: str) -> None:
    meta = written(REPORT)
    del meta[key]
    assert metadata.report_from_metadata(meta, content_type="image/webp") is None


def test_another_tools_metadata_is_not_ours() -> None:
    assert metadata.report_from_metadata({"uploaded-by": "camera-app"}, content_type="image/png") is None


@pytest.mark.parametrize(
    ("etag", "sequencer", "expected"),
    [("e1", "0A", True), ("e2", "0A", False), ("e1", "0B", False), ("e1", None, False)],
)
def test_output_names_the_upload_it_was_made_from(etag: str, sequencer: str | None, expected: bool) -> None:
    assert metadata.is_result_of(written(REPORT), source_etag=etag, source_sequencer=sequencer) is expected


def test_output_of_an_upload_without_sequencer() -> None:
    meta = metadata.result_metadata(
        REPORT, source_key="k", source_etag="e1", source_sequencer=None, job_id=None
    )
    assert metadata.is_result_of(meta, source_etag="e1", source_sequencer=None)
    assert not metadata.is_result_of(meta, source_etag="e1", source_sequencer="0A")


def test_replayed_event_reports_the_stored_facts() -> None:
    ref = ObjectRef("in", "in/cat.heic", etag="e1", sequencer="0A")
    stored = metadata.report_from_metadata(written(NOTHING_FOUND), content_type="image/png")
    assert stored is not None
    output = completion.stored_output("out", "in/cat.png", 5_000, stored)

    event = completion.replayed_event(ref, job_id="j-1", input_size=70_000, output=output, report=stored)

    assert event["status"] == completion.COMPLETED
    assert event["output"] == {
        "bucket": "out",
        "key": "in/cat.png",
        "content_type": "image/png",
        "size": 5_000,
        "width": 1220,
        "height": 1220,
    }
    assert event["report"] == {
        "input_size": [4000, 3000],
        "result_size": [1220, 1220],
        "orientation": 6,
        "input_foreground": None,
        "result_foreground": None,
        "model": "u2netp",
        "format": "png",
        "content_type": "image/png",
        "source_format": "HEIF",
        "replayed": True,
    }
    assert (event["model"], event["job_id"], event["timings_ms"]) == ("u2netp", "j-1", {})
