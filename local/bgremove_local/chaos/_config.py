"""What a chaos run does (:class:`ChaosConfig`) and the fixed tables it draws from."""

from __future__ import annotations

from dataclasses import dataclass

INDISTINGUISHABLE_WITHIN_S = 2.5
"""On an unversioned bucket, identical bytes uploaded again less than this after an upload (S3's
``Last-Modified`` has one-second resolution, the function allows a second of clock difference) may be
read for the earlier upload's notification; its event then describes the later upload."""

SUPERSEDED_CODES = frozenset({"SUPERSEDED", "SOURCE_NOT_FOUND"})

OPTION_SETS: tuple[dict[str, str], ...] = (
    {},
    {"background-color": "#ffffff"},
    {"background-type": "map"},
    {"format": "webp"},
    {"format": "jpeg", "jpeg-quality": "80"},
    {"crop-to-foreground": "true", "margin": "5%"},
    {"target-size": "96 64", "vertical-alignment": "bottom"},
    {"format": "delta_png"},
    {"background-type": "green"},
    {"threshold": "0.5"},
    {"background-type": "blur", "format": "jpeg"},
    {"test": "true"},
)
"""Options of valid uploads (S3 metadata)."""

BAD_OPTIONS: tuple[tuple[dict[str, str], str], ...] = (
    ({"threshold": "1.5"}, "threshold"),
    ({"background-color": "not-a-colour"}, "background_color"),
    ({"model": "no-such-model"}, "model"),
)
"""Invalid option sets, with the option the FAILED event must name."""

# (service, HTTP status, error code): errors a healthy AWS returns now and then, which must be retried.
TRANSIENT_ERRORS: dict[str, tuple[tuple[int, str], ...]] = {
    "s3": ((503, "SlowDown"), (500, "InternalError"), (503, "ServiceUnavailable")),
    "sns": ((400, "Throttling"), (500, "InternalError")),
    "dynamodb": (
        (400, "ProvisionedThroughputExceededException"),
        (400, "ThrottlingException"),
        (500, "InternalServerError"),
    ),
}

CRASH_POINTS = {
    "lock-taken": "after the idempotency lock was taken",
    "input-read": "after the upload was read",
    "inference": "during inference",
    "output-written": "after the output was written, before the event was published",
    "event-published": "after the event was published, before success was recorded",
}
CRASH_AFTER_CALL = {
    ("dynamodb", "PutItem"): "lock-taken",
    ("s3", "GetObject"): "input-read",
    ("s3", "PutObject"): "output-written",
    ("sns", "Publish"): "event-published",
}


@dataclass(frozen=True)
class ChaosConfig:
    """What a chaos run does; rates are probabilities.

    Parameters
    ----------
    uploads
        Number of uploads (overwrites included).
    seed
        Seed of every random choice (workload and faults).
    aws_error_rate
        Per AWS call of the function: a transient error returned to it (the SDK's retries exhausted).
    sdk_retried_rate
        Per HTTP attempt of the function: a transient error its SDK retries by itself.
    publish_lost_rate
        Per successful SNS publish: the answer is lost, the function sees an error.
    crash_rate
        Per crash point reached: the runtime dies there.
    every_fault_once
        Also inject each kind of fault once, whatever the rates: a crash at each crash point, an AWS error
        on each service, a lost publish answer (the first time each can happen after the first model
        outage, one per invocation, three invocations apart after a crash), so that even a short run
        meets them all.
    duplicate_rate, delay_rate
        Per notification: delivered twice; delivered 1 to ``max_delay_s`` seconds late.
    overwrite_rate, identical_share
        Per upload: a new upload of a recent key; the share of those with identical bytes.
    invalid_rate
        Per upload: not an image, empty, or a bad option.
    versioning_from
        Share of the uploads after which versioning is switched on for the input bucket (1 keeps it off).
    model_outages, model_outage_invocations
        How many times the model fails to load, and for how many invocations each time.
    function_timeout_s
        The function's timeout (template parameter ``FunctionTimeout``): also how long a crashed
        attempt's idempotency lock is held.
    max_backlog
        Uploads waiting for their event before the next upload is made.
    drain_timeout_s
        How long to wait, after the last upload, for the queue to empty.
    default_model
        The stack's ``DefaultModel``; ``None`` keeps the template's (u2net). The run checks delivery, not
        cut-outs, so a short run may take the fast tier.
    """

    uploads: int = 1000
    seed: int = 1
    aws_error_rate: float = 0.015
    sdk_retried_rate: float = 0.01
    publish_lost_rate: float = 0.01
    crash_rate: float = 0.003
    every_fault_once: bool = True
    duplicate_rate: float = 0.05
    delay_rate: float = 0.05
    max_delay_s: int = 5
    overwrite_rate: float = 0.15
    identical_share: float = 0.5
    invalid_rate: float = 0.06
    versioning_from: float = 0.5
    model_outages: int = 2
    model_outage_invocations: int = 2
    function_timeout_s: int = 15
    max_backlog: int = 25
    drain_timeout_s: float = 300.0
    default_model: str | None = None
