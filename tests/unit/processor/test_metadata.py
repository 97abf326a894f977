"""The report written into an output's S3 user metadata, and read back by a retry that replays it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

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
MODIFIED = datetime(2026, 11, 21, 12, 0, 7, 250_000, tzinfo=UTC)


def written(report: Report, **changes: str) -> dict[str, str]:
    """The metadata :func:`metadata.result_metadata` writes for ``report``, with ``changes`` applied."""
    meta = metadata.result_metadata(
        report, source_key="in/cat.heic", source_etag="e1", source_sequencer="0A", job_id="j-1"
    )
    return {**meta, **changes}


@pytest.mark.parametrize(
    "report",
    [REPORT, NOTHING_FOUND, replace(REPORT, decontaminated=True)],
    ids=["boxes", "no subject found", "decontaminated"],
)
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


def test_source_last_modified_is_written_to_the_second() -> None:
    meta = metadata.result_metadata(
        REPORT,
        source_key="k",
        source_etag="e1",
        source_sequencer=None,
        job_id=None,
        source_last_modified=MODIFIED,
    )
    assert meta["source-last-modified"] == "2026-11-21T12:00:07Z"
    assert written(REPORT)["source-last-modified"] == ""  # unknown


def test_an_upload_without_sequencer_is_recognised_by_etag_and_last_modified() -> None:
    """S3 Batch Operations tasks carry no sequencer; the output a notification wrote for them has one."""
    meta = metadata.result_metadata(
        REPORT,
        source_key="k",
        source_etag="e1",
        source_sequencer="0A",
        job_id=None,
        source_last_modified=MODIFIED,
    )
    assert metadata.is_result_of(meta, source_etag="e1", source_sequencer=None, source_last_modified=MODIFIED)
    later = MODIFIED + timedelta(seconds=1)
    assert not metadata.is_result_of(
        meta, source_etag="e1", source_sequencer=None, source_last_modified=later
    )
    assert not metadata.is_result_of(
        meta, source_etag="e2", source_sequencer=None, source_last_modified=MODIFIED
    )


def source(
    sequencer: str | None = "0055AED6DCD90281F9",
    modified: datetime | None = MODIFIED,
    key: str = "in/cat.heic",
) -> dict[str, str]:
    """The metadata of an output made from an upload of ``key`` with this sequencer and LastModified."""
    return metadata.result_metadata(
        REPORT,
        source_key=key,
        source_etag="e9",
        source_sequencer=sequencer,
        job_id="order 9",
        source_last_modified=modified,
    )


@pytest.mark.parametrize(
    ("written_by", "sequencer", "modified", "newer"),
    [
        # sequencers decide when both are known, whatever the times say
        (source(), "0055AED6DCD90281E5", MODIFIED + timedelta(hours=1), True),
        (source(), "0055AED6DCD90281FA", MODIFIED - timedelta(hours=1), False),
        (source(), "0055AED6DCD90281F9", MODIFIED, False),  # the same upload
        (source("0055AED6DCD90281E5"), "0055AED6DCD90281E50001", MODIFIED, False),  # right-padded
        # without a sequencer on either side, LastModified decides, to the second
        (source(), None, MODIFIED - timedelta(seconds=1), True),
        (source(None), "0055AED6DCD90281E5", MODIFIED - timedelta(seconds=1), True),
        (source(None), None, MODIFIED + timedelta(seconds=1), False),
        (
            source(None),
            None,
            MODIFIED.replace(microsecond=0),
            False,
        ),  # the same second: not known to be newer
        (source(None, None), None, MODIFIED - timedelta(days=1), False),  # nothing to order by
        (source(None), None, None, False),
        # another key's output (cat.heic and cat.jpg share cat.png): never comparable
        (source(key="in/cat.jpg"), "0055AED6DCD90281E5", MODIFIED - timedelta(days=1), False),
        ({"uploaded-by": "someone"}, "0055AED6DCD90281E5", MODIFIED, False),
    ],
)
def test_newer_source(
    written_by: dict[str, str], sequencer: str | None, modified: datetime | None, newer: bool
) -> None:
    found = metadata.newer_source(
        written_by, source_key="in/cat.heic", source_sequencer=sequencer, source_last_modified=modified
    )
    assert (found is not None) is newer


def test_newer_source_is_described_for_the_message() -> None:
    found = metadata.newer_source(
        source(), source_key="in/cat.heic", source_sequencer="0055AED6DCD90281E5", source_last_modified=None
    )
    assert (
        found == "ETag e9, sequencer 0055AED6DCD90281F9, last modified 2026-11-21T12:00:07Z, job-id order 9"
    )


def test_an_output_written_before_decontamination_reads_back_as_not_decontaminated() -> None:
    older = {k: v for k, v in written(REPORT).items() if k != "decontaminated"}
    back = metadata.report_from_metadata(older, content_type=REPORT.content_type)
    assert back is not None and back.decontaminated is False
    assert written(replace(REPORT, decontaminated=True))["decontaminated"] == "true"


def test_replayed_event_reports_the_stored_facts() -> None:
    ref = ObjectRef("in", "in/cat.heic", etag="e1", sequencer="0A")
    stored = metadata.report_from_metadata(written(NOTHING_FOUND), content_type="image/png")
    assert stored is not None
    output = completion.stored_output("out", "in/cat.png", 5_000, stored)

    event = completion.replayed(ref, job_id="j-1", input_size=70_000, output=output, report=stored)

    assert event.status is completion.COMPLETED
    assert event.output is not None and event.output.to_dict() == {
        "bucket": "out",
        "key": "in/cat.png",
        "content_type": "image/png",
        "size": 5_000,
        "width": 1220,
        "height": 1220,
    }
    assert event.report == {
        "input_size": [4000, 3000],
        "result_size": [1220, 1220],
        "orientation": 6,
        "input_foreground": None,
        "result_foreground": None,
        "model": "u2netp",
        "format": "png",
        "content_type": "image/png",
        "source_format": "HEIF",
        "backend": "local",
        "decontaminated": False,
        "replayed": True,
    }
    assert (event.model, event.job_id, event.timings_ms) == ("u2netp", "j-1", {})
