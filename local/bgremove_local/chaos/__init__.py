"""Chaos run: many uploads through the local stack while faults are injected; every upload is accounted for.

``python -m bgremove_local chaos --uploads N --seed S`` (``make chaos N=...``). The stack is template.yaml's
on the embedded emulator, the function is the real handler behind the poller, with the function's timeout
shortened to :attr:`ChaosConfig.function_timeout_s` so that a crashed attempt's idempotency lock expires in
seconds (see :mod:`bgremove_local.poller`). Nothing of the function is changed: faults are injected around it.

Faults (drawn from seeded generators; thread timing still varies a little from run to run)
------------------------------------------------------------------------------------------
AWS errors
    Every boto3 client the function creates (S3, SNS, DynamoDB) gets botocore event hooks. ``before-call``
    raises a 5xx or throttling ``ClientError`` (``SlowDown``, ``InternalError``, ``ServiceUnavailable``,
    ``Throttling``, ``ProvisionedThroughputExceededException``, ``ThrottlingException``...) as if the SDK's
    own retries had given up; ``before-send`` answers single HTTP attempts with the same errors, which the
    function's SDK configuration retries by itself. After a successful SNS ``Publish`` the answer may be
    "lost" (the event is out, the function sees an error).
Crashes
    At a crash point (idempotency lock taken, upload read, mid-inference, output written but event not
    published, event published but success not recorded) the runtime may die:
    :class:`~bgremove_local.poller.InvocationCrash` escapes every ``except Exception`` of the function, no
    message of the batch is deleted, and the next invocation is a cold start.
Model outage
    A deployment whose model fails to load: for a few invocations, from a cold start, the engine's
    ``segmenter`` raises ``ModelLoadError`` (the function's init fails and the batch comes back).
Notifications
    S3 delivers at least once and unordered: some notifications are delivered twice, some late (so that
    later uploads of the same key overtake them).
Uploads
    Small real photos (the test fixtures, cropped and scaled to 64-160 px) with varied options, invalid
    inputs (not an image, empty, a bad option), and overwrites of a recent key: new bytes, or identical
    bytes with other options. Versioning is switched on for the input bucket part-way through the run.

Besides the drawn faults, each kind is also injected once (:attr:`ChaosConfig.every_fault_once`), so that a
short run meets them all.

Counts
------
Each upload is a ``PutObject``, overwrites included; it is identified by bucket, key, version or ETag and
its notification's sequencer, hence by the ``event_id`` the function gives its completion events (computed
with the function's own :func:`processor.completion.event_id_for`). Copies of one event (same
``event_id``) are one terminal event. The dead-letter queue is read (and emptied) as the run goes.

uploads
    ``PutObject`` calls.
terminal
    Uploads with at least one completion event.
lost
    Uploads with no event that are not in the dead-letter queue either.
duplicated
    Uploads whose copies disagree (status, error code, job id or output key), or that got more copies
    than faults explain. A copy is explained by a fault that struck after the event was published and
    before the function recorded its success (the window docs/s3-pipeline.md#the-one-event-guarantee
    describes: a crash, a lost SNS answer, a failed idempotency write), one copy per such fault.
wrong
    Uploads whose (first) event does not match the upload: its input (bucket, key, ETag, version), job
    id, status and error code (and ``error.option``), output key and content type, options (unless the
    event is a replay, which carries none); events whose ``event_id`` names no upload; and output keys
    whose object is the result of an upload older than the latest one announced COMPLETED there.

    Allowed instead of the upload's own outcome: an upload replaced by a later upload of its key may end
    FAILED ``SUPERSEDED`` (or ``SOURCE_NOT_FOUND``) with its own job id or none. And on an unversioned
    bucket, identical bytes uploaded again less than :data:`INDISTINGUISHABLE_WITHIN_S` later cannot be
    told apart (S3's ``Last-Modified`` has a resolution of one second): the earlier upload's event may
    describe the later upload (its job id and options, COMPLETED, or ``SUPERSEDED`` with its job id). Such
    uploads are counted as ``indistinguishable`` in the report, not as wrong.
dlq
    Messages found in the dead-letter queue (an upload there may also have its event).

The report also lists, without counting them as wrong, outputs made by a newer upload than the one
announced there, and outputs no event announces (written by an attempt whose upload then ended FAILED).

Modules
-------
``_config`` the run's settings and fixed tables, ``_workload`` the uploads, ``_faults`` the injector,
``_collector`` the events as they arrive, ``_verdict`` the counts and the report, ``_run`` the run itself.
"""

from bgremove_local.chaos._config import (
    BAD_OPTIONS,
    CRASH_POINTS,
    INDISTINGUISHABLE_WITHIN_S,
    OPTION_SETS,
    SUPERSEDED_CODES,
    TRANSIENT_ERRORS,
    ChaosConfig,
)
from bgremove_local.chaos._faults import FaultInjector
from bgremove_local.chaos._run import SILENT_FUNCTION, run_chaos
from bgremove_local.chaos._verdict import ChaosResult, print_result
from bgremove_local.chaos._workload import FIXTURES, Upload, Workload

__all__ = [
    "BAD_OPTIONS",
    "CRASH_POINTS",
    "FIXTURES",
    "INDISTINGUISHABLE_WITHIN_S",
    "OPTION_SETS",
    "SILENT_FUNCTION",
    "SUPERSEDED_CODES",
    "TRANSIENT_ERRORS",
    "ChaosConfig",
    "ChaosResult",
    "FaultInjector",
    "Upload",
    "Workload",
    "print_result",
    "run_chaos",
]
