"""The processor's CloudWatch metric names, defined once (docs/operations.md says what each one means).

The handler and :class:`processor.service.ImageProcessor` emit them through powertools ``Metrics`` in the
namespace ``POWERTOOLS_METRICS_NAMESPACE`` (``BgRemove``); template.yaml's dashboard and alarms may name only
these and :data:`bgremove_api.observability.API_METRICS` (``tests/unit/api/test_ops_dashboard.py`` checks
it).
"""

from __future__ import annotations

# Dimension: service (the function's POWERTOOLS_SERVICE_NAME, ``bgremove``).
PROCESSED = "Processed"
"""Count: uploads cut out and written (their COMPLETED event published)."""
FAILED = "Failed"
"""Count: uploads rejected for their input (a FAILED event); FailedByCode has the code."""
FAILED_BY_CODE = "FailedByCode"
"""Count; ErrorCode (no service): uploads rejected, by error code."""
SUPERSEDED = "Superseded"
"""Count: uploads a newer upload of the same key replaced before their result was written."""
REPLAYED = "Replayed"
"""Count: retries that found their output already written and announced it again."""
FOREIGN_BUCKET = "ForeignBucket"
"""Count: messages naming a bucket outside INPUT_BUCKETS, dropped."""
UNRECOGNISED_MESSAGE = "UnrecognisedMessage"
"""Count: queue messages that are no S3 event, dropped."""
RETRYABLE_FAILURE = "RetryableFailure"
"""Count: records failed back to SQS for a retry (throttling, 5xx, timeouts)."""
INFERENCE_FALLBACK = "InferenceFallback"
"""Count: uploads whose model ran in the function because its endpoint was unavailable."""
INPUT_MEGAPIXELS = "InputMegapixels"
"""Count (megapixels): the size of each processed input."""

# Both with service, and again with Model and SizeBand (no service) for the per-stage figures below.
INFERENCE_MS = "InferenceMs"
"""Milliseconds: the model's time for one upload."""
END_TO_END_MS = "EndToEndMs"
"""Milliseconds: from the record's start to the written result (download, engine, upload)."""

# Dimensions: Model, SizeBand.
DECODE_MS = "DecodeMs"
"""Milliseconds: decoding the input."""
ENCODE_MS = "EncodeMs"
"""Milliseconds: encoding the result."""

SIZE_BANDS = ((1.0, "0-1MP"), (4.0, "1-4MP"), (12.0, "4-12MP"))
"""Upper bounds (megapixels) of the SizeBand dimension's values; above the last: ``12MP+``."""

PROCESSOR_METRICS = (
    PROCESSED,
    FAILED,
    FAILED_BY_CODE,
    SUPERSEDED,
    REPLAYED,
    FOREIGN_BUCKET,
    UNRECOGNISED_MESSAGE,
    RETRYABLE_FAILURE,
    INFERENCE_FALLBACK,
    INPUT_MEGAPIXELS,
    INFERENCE_MS,
    END_TO_END_MS,
    DECODE_MS,
    ENCODE_MS,
)
"""Every metric name the processor emits."""

_SERVICE = frozenset({"service"})
_STAGES = frozenset({"Model", "SizeBand"})
DIMENSION_SETS: dict[str, tuple[frozenset[str], ...]] = {
    **{name: (_SERVICE,) for name in PROCESSOR_METRICS},
    FAILED_BY_CODE: (frozenset({"ErrorCode", "service"}),),
    INFERENCE_MS: (_SERVICE, _STAGES),
    END_TO_END_MS: (_SERVICE, _STAGES),
    DECODE_MS: (_STAGES,),
    ENCODE_MS: (_STAGES,),
}
"""The dimension sets each metric is emitted with; the dashboard's queries must name one of them."""


def size_band(megapixels: float) -> str:
    """The SizeBand dimension's value for an input of ``megapixels``."""
    for bound, name in SIZE_BANDS:
        if megapixels <= bound:
            return name
    return "12MP+"
