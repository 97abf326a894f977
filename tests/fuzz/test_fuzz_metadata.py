"""Fuzz the S3 user-metadata readers and writer of the processor (``processor.metadata``).

S3 hands user metadata to boto3 with lower-case ASCII keys and values, at most 2 KB of keys and values
together; other S3 clients (and the local runner) may pass any ``str`` mapping, so both are fuzzed.

Invariants:

- ``options_from_metadata``: :class:`~bgremove.Options`, or ``InvalidOptionError`` naming (with ``_``) one of
  the keys given; never another exception. ``job-id`` is never read as an option.
- ``job_id_from_metadata``: ``None`` or a non-empty ``str`` of at most 256 characters that begins the value
  of a ``job-id`` key; never raises.
- ``report_from_metadata`` on anything: a :class:`~bgremove.Report` or ``None``; never raises.
- ``result_metadata`` -> ``report_from_metadata`` gives the report back; what it writes is ASCII, within
  S3's 2 KB, and ``is_result_of`` recognises its own source.
"""

from __future__ import annotations

import dataclasses
import string

from hypothesis import given, note
from hypothesis import strategies as st

from bgremove import BBox, InvalidOptionError, Options, OutputFormat, Report
from bgremove._decode import SUPPORTED_FORMATS
from bgremove.options import OPTION_FIELDS
from processor import metadata
from tests.fuzz.option_values import LIKELY, any_value, values_for

S3_METADATA_BYTES = 2048
OPTION_KEYS = [row.metadata_key for row in OPTION_FIELDS]
S3_KEY = st.text(string.ascii_lowercase + string.digits + "-_.", min_size=1, max_size=24)
S3_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=64)


def _s3_size(meta: dict[str, str]) -> int:
    return sum(len(key.encode()) + len(value.encode()) for key, value in meta.items())


@st.composite
def s3_metadata(draw: st.DrawFn) -> dict[str, str]:
    """What boto3 returns: lower-case ASCII keys (ours, job-id, other tools'), ASCII values, <= 2 KB."""
    meta: dict[str, str] = {}
    for key in draw(st.lists(st.sampled_from([*OPTION_KEYS, "job-id"]) | S3_KEY, unique=True, max_size=10)):
        name = key.replace("-", "_")
        likely = st.sampled_from(LIKELY[name]) if name in LIKELY else S3_VALUE
        meta[key] = draw(likely | S3_VALUE | st.sampled_from(["", " ", "=?UTF-8?B?w6l0w6k=?="]))
    while meta and _s3_size(meta) > S3_METADATA_BYTES:
        meta.pop(next(iter(meta)))
    return meta


def _as_text(value: object) -> str:
    """What a metadata value can be: text (``str`` of an int past 4300 digits raises; S3 would send it)."""
    try:
        return str(value)
    except ValueError:
        return "9" * 5000


def _text_values(name: str) -> st.SearchStrategy[str]:
    return values_for(name).map(_as_text) if name in LIKELY else st.text()


@st.composite
def any_metadata(draw: st.DrawFn) -> dict[str, str]:
    """Any ``str`` mapping: keys in any case and spacing, values any text."""
    meta: dict[str, str] = {}
    keys = st.sampled_from([*OPTION_KEYS, "job-id", "Job-Id", "JOB-ID"]) | st.text(max_size=16)
    for key in draw(st.lists(keys, max_size=8)):
        spelled = draw(st.sampled_from([key, key.upper(), key.title(), f" {key}"]))
        meta[spelled] = draw(_text_values(key.strip().lower().replace("-", "_")) | any_value.map(_as_text))
    return meta


def _check_options(meta: dict[str, str]) -> None:
    try:
        options = metadata.options_from_metadata(meta)
    except InvalidOptionError as error:
        named = {key.strip().lower().replace("-", "_") for key in meta}
        assert error.option in named - {"job_id"}
        return
    assert isinstance(options, Options)


def _check_job_id(meta: dict[str, str]) -> None:
    job_id = metadata.job_id_from_metadata(meta)
    if job_id is None:
        return
    assert isinstance(job_id, str) and 0 < len(job_id) <= metadata.MAX_JOB_ID_LENGTH
    assert any(key.lower() == "job-id" and value.startswith(job_id) for key, value in meta.items())


@given(meta=s3_metadata())
def test_s3_metadata(meta: dict[str, str]):
    _check_options(meta)
    _check_job_id(meta)


@given(meta=any_metadata())
def test_any_str_mapping(meta: dict[str, str]):
    _check_options(meta)
    _check_job_id(meta)


@given(options=st.dictionaries(st.sampled_from(OPTION_KEYS), any_value, max_size=6))
def test_options_survive_metadata(options: dict[str, object]):
    """Options written as metadata (canonical text, dash keys) read back equal."""
    try:
        parsed = Options.parse(options)
    except InvalidOptionError:
        return
    meta = {key.replace("_", "-"): value for key, value in parsed.to_dict().items()}
    note(f"metadata: {meta!r}")
    assert metadata.options_from_metadata(meta) == parsed


# -------------------------------------------------------------------------------------- report metadata

REPORT_KEYS = [
    "input-size",
    "result-size",
    "input-foreground",
    "result-foreground",
    "input-orientation",
    "model",
    "format",
    "source-format",
    "source-key",
    "source-etag",
    "source-sequencer",
    "job-id",
]
NUMBERS = st.integers(-3, 10**6).map(str) | st.sampled_from(
    ["", " ", "١", "1_0", "+1", "0x1", "1e3", "9" * 5000]
)
REPORT_VALUES = st.one_of(
    st.lists(NUMBERS, max_size=5).map(" ".join),
    st.sampled_from([*OutputFormat, "none", "u2netp"]).map(str),
    st.text(max_size=20),
)


@given(
    written=st.dictionaries(st.sampled_from(REPORT_KEYS) | st.text(max_size=8), REPORT_VALUES, max_size=14),
    content_type=st.text(max_size=12),
)
def test_report_from_random_metadata(written: dict[str, str], content_type: str):
    report = metadata.report_from_metadata(written, content_type=content_type)
    assert report is None or isinstance(report, Report)


sizes = st.tuples(st.integers(1, 100_000), st.integers(1, 100_000))
boxes = st.none() | st.builds(BBox, *[st.integers(0, 100_000)] * 4)
reports = st.builds(
    Report,
    input_size=sizes,
    result_size=sizes,
    orientation=st.integers(1, 8),
    input_foreground=boxes,
    result_foreground=boxes,
    model=st.text(string.ascii_lowercase + string.digits + "_-.", min_size=1, max_size=64),
    format=st.sampled_from([f.value for f in OutputFormat if f is not OutputFormat.AUTO]),
    content_type=st.sampled_from(["image/png", "image/jpeg", "image/webp"]),
    source_format=st.sampled_from(sorted(SUPPORTED_FORMATS)),
)
etags = (
    st.none()
    | st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda h: h + "-12")
    | st.text("0123456789abcdef", min_size=32, max_size=32)
)
sequencers = st.none() | st.text("0123456789ABCDEF", min_size=1, max_size=32)


@given(
    report=reports,
    source_key=st.text(max_size=1100),
    etag=etags,
    sequencer=sequencers,
    job_id=st.none() | st.text(max_size=300),
)
def test_report_round_trip(
    report: Report, source_key: str, etag: str | None, sequencer: str | None, job_id: str | None
):
    written = metadata.result_metadata(
        report, source_key=source_key, source_etag=etag, source_sequencer=sequencer, job_id=job_id
    )
    note(f"written: {written!r}")
    assert all(key.isascii() and value.isascii() for key, value in written.items())
    assert _s3_size(written) <= S3_METADATA_BYTES
    read = metadata.report_from_metadata(written, content_type=report.content_type)
    assert read == dataclasses.replace(report, timings_ms={}, options={})
    if etag is not None:
        assert metadata.is_result_of(written, source_etag=etag, source_sequencer=sequencer)
