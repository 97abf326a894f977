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
    before the function recorded its success (the window the README describes: a crash, a lost SNS
    answer, a failed idempotency write), one copy per such fault.
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
"""

from __future__ import annotations

import io
import json
import logging
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import unquote_plus

import boto3.session
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError
from moto.s3 import notifications as moto_notifications
from PIL import Image

from bgremove import Engine, ModelLoadError, Options, output_format
from bgremove_local import client, notifications
from bgremove_local.poller import Handler, InvocationCrash
from bgremove_local.runner import REPO_ROOT, Pipeline, reset_handler_caches, running_pipeline

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "images"

INDISTINGUISHABLE_WITHIN_S = 2.5
"""On an unversioned bucket, identical bytes uploaded again less than this after an upload (S3's
``Last-Modified`` has one-second resolution, the function allows a second of clock difference) may be
read for the earlier upload's notification; its event then describes the later upload."""

SILENT_FUNCTION = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
"""The function's environment additions without ``--verbose``: injected faults make it log many errors."""

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
_CRASH_AFTER_CALL = {
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


# --- the uploads ---------------------------------------------------------------------------------------


@dataclass
class Upload:
    """One PutObject of the run and what its completion event must say."""

    index: int
    key: str
    job_id: str
    metadata: dict[str, str]
    data: bytes
    kind: str  # "image", "not-an-image", "empty", "bad-option"
    overwrites: int | None = None  # index of the upload of the same key it replaces
    identical: bool = False  # same bytes as the upload it replaces
    expected_code: str | None = None
    expected_option: str | None = None
    options: dict[str, str] = field(default_factory=dict)  # canonical, as reports write them
    output_key: str | None = None
    content_type: str | None = None
    # known once uploaded
    bucket: str = ""
    etag: str = ""
    version_id: str | None = None
    sequencer: str = ""
    started: float = 0.0
    finished: float = 0.0
    event_id: str = ""

    def describe(self) -> str:
        what = self.kind if self.overwrites is None else f"{self.kind}, overwrites #{self.overwrites}"
        if self.identical:
            what += " with identical bytes"
        versioned = f", version {self.version_id}" if self.version_id else ", unversioned"
        options = json.dumps({k: v for k, v in self.metadata.items() if k != "job-id"}, sort_keys=True)
        return f"#{self.index} {self.key} ({what}{versioned}; job {self.job_id}; options {options})"


class Workload:
    """Draws the uploads: photos of the fixtures with options, invalid inputs, overwrites of recent keys."""

    def __init__(self, config: ChaosConfig, output_prefix: str) -> None:
        self._config = config
        self._rng = random.Random(f"{config.seed}/workload")
        self._prefix = output_prefix
        self._photos = []
        for path in sorted(FIXTURES.glob("*.jpg")):
            with Image.open(path) as image:
                photo = image.convert("RGB")
                photo.thumbnail((320, 320))
                self._photos.append(photo)
        if not self._photos:
            raise RuntimeError(f"no fixture photos in {FIXTURES}")
        self.uploads: list[Upload] = []
        self._latest: dict[str, Upload] = {}

    def next(self) -> Upload:
        rng, index = self._rng, len(self.uploads)
        job_id = f"chaos-{self._config.seed}-{index:05d}"
        recent = [u.key for u in self.uploads[-40:]]
        previous = None
        if recent and rng.random() < self._config.overwrite_rate:
            previous = self._latest[rng.choice(recent)]
        key = previous.key if previous else f"chaos/{index:05d}.jpg"
        if previous is not None and rng.random() < self._config.identical_share:
            others = [o for o in OPTION_SETS if o != _options_of(previous.metadata)] or list(OPTION_SETS)
            bytes_kind = "image" if previous.kind == "bad-option" else previous.kind
            upload = self._with(
                index, key, job_id, data=previous.data, options=rng.choice(others), kind=bytes_kind
            )
            upload.identical = True
        else:
            upload = self._fresh(index, key, job_id)
        upload.overwrites = previous.index if previous else None
        self.uploads.append(upload)
        self._latest[key] = upload
        return upload

    def _fresh(self, index: int, key: str, job_id: str) -> Upload:
        rng = self._rng
        if rng.random() >= self._config.invalid_rate:
            return self._with(
                index, key, job_id, data=self._photo(), options=rng.choice(OPTION_SETS), kind="image"
            )
        kind = rng.choice(("not-an-image", "empty", "bad-option"))
        if kind == "not-an-image":
            return self._with(
                index, key, job_id, data=f"chaos {job_id}: not an image\n".encode(), options={}, kind=kind
            )
        if kind == "empty":
            return self._with(index, key, job_id, data=b"", options={}, kind=kind)
        options, _ = rng.choice(BAD_OPTIONS)
        return self._with(index, key, job_id, data=self._photo(), options=options, kind="image")

    def _with(
        self, index: int, key: str, job_id: str, *, data: bytes, options: dict[str, str], kind: str
    ) -> Upload:
        """An upload of ``data``, whose ``kind`` is ``image``, ``not-an-image`` or ``empty``."""
        upload = Upload(index, key, job_id, {**options, "job-id": job_id}, data, kind)
        if kind == "not-an-image":
            upload.expected_code = "NOT_AN_IMAGE"
        elif kind == "empty":
            upload.expected_code = "EMPTY_INPUT"
        bad = next((option for bad_options, option in BAD_OPTIONS if options == bad_options), None)
        if bad is not None and kind == "image":
            upload.kind, upload.expected_code, upload.expected_option = "bad-option", "INVALID_OPTION", bad
        elif kind == "image":
            parsed = Options.parse(options, ignore_unknown=True)
            info = output_format(parsed)
            stem = key.rpartition(".")[0]
            upload.options = parsed.to_dict()
            upload.output_key = f"{self._prefix}{stem}.{info.extension}"
            upload.content_type = info.content_type
        return upload

    def _photo(self) -> bytes:
        rng = self._rng
        photo = rng.choice(self._photos)
        width, height = photo.size
        crop_w, crop_h = int(width * rng.uniform(0.6, 1)), int(height * rng.uniform(0.6, 1))
        left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
        image = photo.crop((left, top, left + crop_w, top + crop_h))
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image.thumbnail((rng.randint(64, 160),) * 2)
        buffer = io.BytesIO()
        if rng.random() < 0.2:
            image.save(buffer, "PNG")
        else:
            image.save(buffer, "JPEG", quality=rng.randint(70, 95))
        return buffer.getvalue()


def _options_of(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k != "job-id"}


# --- fault injection -----------------------------------------------------------------------------------


class _Body:
    """The raw body of an injected HTTP answer (what botocore reads from urllib3)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _error_body(protocol: str, code: str) -> tuple[bytes, dict[str, str]] | None:
    message = "injected by the chaos run"
    if protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>chaos</RequestId></Error>"
        return body.encode(), {"Content-Type": "application/xml"}
    if protocol == "query":
        body = (
            f"<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>{message}</Message>"
            "</Error><RequestId>chaos</RequestId></ErrorResponse>"
        )
        return body.encode(), {"Content-Type": "text/xml"}
    if protocol == "json":
        document = {"__type": f"com.amazonaws.chaos#{code}", "message": message}
        return json.dumps(document).encode(), {"Content-Type": "application/x-amz-json-1.0"}
    return None


class _OwnerOnly:
    """A stream that passes on what one thread writes and drops the others' (the function's output)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._owner = threading.get_ident()

    def write(self, text: str) -> int:
        return int(self._stream.write(text)) if threading.get_ident() == self._owner else len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _function_output_dropped() -> Iterator[None]:
    """What other threads print (the function's logs and metric blobs, Lambda's CloudWatch) is dropped."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _OwnerOnly(sys.stdout), _OwnerOnly(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class FaultInjector:
    """Decides and records every fault of a run; the hooks it installs call back into it.

    Only the poller's thread, inside an invocation, ever sees a fault.
    """

    def __init__(self, config: ChaosConfig) -> None:
        self.config = config
        self._rng = random.Random(f"{config.seed}/faults")
        self._delivery_rng = random.Random(f"{config.seed}/delivery")
        self._delivery_lock = threading.Lock()
        self._inside = threading.local()
        self.counts: Counter[str] = Counter()
        self.by_key: defaultdict[str, list[str]] = defaultdict(list)  # input key -> faults while on it
        self.explained_copies: Counter[str] = Counter()  # event id -> faults after its publish
        self.invocations = 0
        self._model_down = False
        self._published: str | None = None  # event id published by the record in progress, not yet saved
        self._key: str | None = None  # input key of the record in progress
        self._outages = self._outage_invocations()
        self._forced = (
            {*(f"crash {point}" for point in CRASH_POINTS), *(f"aws error {s}" for s in TRANSIENT_ERRORS)}
            | {"publish answer lost"}
            if config.every_fault_once
            else set()
        )
        # after the first outage, then every few invocations (so that crashed batches overlap little)
        self._next_forced = config.model_outage_invocations + 1 if config.model_outages else 1

    def _outage_invocations(self) -> set[int]:
        starts: list[int] = []
        if self.config.model_outages > 0:
            starts.append(1)  # the first deployment: its model does not load at first
        later = max(12, self.config.uploads // 6)
        starts += [self._rng.randint(10, later) for _ in range(self.config.model_outages - 1)]
        length = self.config.model_outage_invocations
        return {start + offset for start in starts for offset in range(length)}

    @property
    def inside(self) -> bool:
        return bool(getattr(self._inside, "active", False))

    def _record(self, kind: str, *, surfaces: bool = True) -> None:
        """Count a fault; ``surfaces``: the function sees it (not absorbed by the SDK's retries)."""
        self.counts[kind] += 1
        if self._key is not None:
            self.by_key[self._key].append(f"{kind} (invocation {self.invocations})")
        if surfaces and self._published is not None:
            # Whatever fails now, the event is out and success not recorded: a retry may publish it again.
            self.explained_copies[self._published] += 1
            self._published = None

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    # the function's handler
    def wrap(self, handler: Handler) -> Handler:
        """The handler as the poller invokes it: faults on for the duration, model outages, cold starts."""

        def invoke(event: dict[str, Any], context: Any) -> Any:
            self.invocations += 1
            self._published, self._key = None, None
            self._model_down = self.invocations in self._outages
            if self._model_down:
                self.counts["model-outage invocation"] += 1
                if self.invocations - 1 not in self._outages:
                    reset_handler_caches(handler)  # a new deployment: a cold start that loads the model
            self._inside.active = True
            try:
                return handler(event, context)
            finally:
                self._inside.active = False
                self._model_down = False

        return invoke

    # the engine
    def segmenter(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def segmenter(engine: Engine, model: str | None = None) -> Any:
            if self.inside and self._model_down:
                raise ModelLoadError("injected by the chaos run: the model file cannot be loaded")
            return original(engine, model)

        return segmenter

    def process(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def process(engine: Engine, *args: Any, **kwargs: Any) -> Any:
            self._maybe_crash("inference")
            return original(engine, *args, **kwargs)

        return process

    def _inject(self, kind: str, rate: float) -> bool:
        """Whether to inject a fault of ``kind`` now: drawn at ``rate``, or its one forced occurrence."""
        if kind in self._forced and self.invocations >= self._next_forced:
            self._forced.discard(kind)
            # a crash holds its batch until the lock expires: let the next forced one hit another batch
            self._next_forced = self.invocations + (3 if kind.startswith("crash") else 1)
            return True
        return self._chance(rate)

    def _maybe_crash(self, point: str) -> None:
        if not self.inside:
            return
        if self._inject(f"crash {point}", self.config.crash_rate):
            self._record(f"crash {point}")
            raise InvocationCrash(CRASH_POINTS[point])

    # the function's AWS clients
    def client(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def make(session: boto3.session.Session, *args: Any, **kwargs: Any) -> Any:
            made = original(session, *args, **kwargs)
            if self.inside:
                self._attach(made)
            return made

        return make

    def _attach(self, aws: Any) -> None:
        service = aws.meta.service_model.service_name
        protocol = aws.meta.service_model.protocol
        if service not in TRANSIENT_ERRORS:
            return

        def before_parameter_build(
            model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any
        ) -> None:
            operation = model.name
            if service == "s3" and operation == "GetObject":
                self._key = str(params.get("Key"))
            if service == "dynamodb" and operation == "PutItem":
                self._published, self._key = None, None  # a new record starts
            if service == "sns" and operation == "Publish":
                try:
                    context["chaos_event_id"] = json.loads(params.get("Message", "")).get("event_id")
                except (ValueError, AttributeError):
                    context["chaos_event_id"] = None

        def before_call(model: Any, **_: Any) -> None:
            operation = model.name
            if self._inject(f"aws error {service}", self.config.aws_error_rate):
                status, code = self._rng.choice(TRANSIENT_ERRORS[service])
                self._record(f"aws error {service}.{operation}")
                response = {
                    "Error": {"Code": code, "Message": "injected by the chaos run (SDK retries exhausted)"},
                    "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "chaos", "RetryAttempts": 3},
                }
                raise aws.exceptions.from_code(code)(response, operation)

        def before_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
            if not self._chance(self.config.sdk_retried_rate):
                return None
            status, code = self._rng.choice(TRANSIENT_ERRORS[service])
            body = _error_body(protocol, code)
            if body is None:
                return None
            self._record(f"sdk-retried error {service}.{event_name.rsplit('.', 1)[-1]}", surfaces=False)
            data, fields = body
            headers = HTTPHeaders()
            for name, value in fields.items():
                headers[name] = value
            return AWSResponse(request.url, status, headers, _Body(data))

        def after_call(model: Any, http_response: Any, context: dict[str, Any], **_: Any) -> None:
            if http_response.status_code >= 300:
                return
            operation = model.name
            if service == "sns" and operation == "Publish":
                self._published = context.get("chaos_event_id")
            if service == "dynamodb" and operation == "UpdateItem":
                self._published = None  # success recorded: a retry finds it
            point = _CRASH_AFTER_CALL.get((service, operation))
            if point is not None:
                self._maybe_crash(point)
            if (
                service == "sns"
                and operation == "Publish"
                and self._inject("publish answer lost", self.config.publish_lost_rate)
            ):
                self._record("publish answer lost")
                message = "injected by the chaos run: SNS took the event, its answer was lost"
                response: Any = {"Error": {"Code": "RequestTimeout", "Message": message}}
                raise ClientError(response, operation)

        aws.meta.events.register("before-parameter-build", before_parameter_build)
        aws.meta.events.register("before-call", before_call)
        aws.meta.events.register("before-send", before_send)
        aws.meta.events.register("after-call", after_call)

    # S3 -> SQS delivery (the template's only notification goes to the function's queue)
    def deliver(self) -> Callable[..., None]:
        def send(account_id: str, event_body: Any, queue_name: str, region_name: str) -> None:
            from moto.sqs.models import sqs_backends  # noqa: PLC0415 - moto's own lazy import

            with self._delivery_lock:
                rng, config = self._delivery_rng, self.config
                delays = [rng.randint(1, config.max_delay_s) if rng.random() < config.delay_rate else 0]
                if rng.random() < config.duplicate_rate:
                    delays.append(rng.randint(0, config.max_delay_s))
                self.counts["notification delayed"] += 1 if delays[0] else 0
                self.counts["notification duplicated"] += len(delays) - 1
            backend = sqs_backends[account_id][region_name]
            body = json.dumps(event_body)
            for delay in delays:
                backend.send_message(queue_name=queue_name, message_body=body, delay_seconds=delay or None)

        return send

    @contextmanager
    def installed(self) -> Iterator[None]:
        """The patches, for the duration of the run."""
        with ExitStack() as stack:
            session = boto3.session.Session
            stack.enter_context(mock.patch.object(session, "client", self.client(session.client)))
            stack.enter_context(mock.patch.object(Engine, "segmenter", self.segmenter(Engine.segmenter)))
            stack.enter_context(mock.patch.object(Engine, "process", self.process(Engine.process)))
            stack.enter_context(mock.patch.object(moto_notifications, "_send_sqs_message", self.deliver()))
            yield


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class ChaosResult:
    """The counts of a run (see the module's docstring) and its report."""

    uploads: int
    terminal: int
    lost: int
    duplicated: int
    wrong: int
    dlq: int
    report: list[str]
    mismatches: list[str]
    faults: dict[str, int] = field(default_factory=dict)
    """Faults injected, by kind (``aws error s3.GetObject``, ``crash inference``, ...)."""
    workload: dict[str, int] = field(default_factory=dict)
    """Uploads by kind, and ``overwrites``, ``identical overwrites``, ``versioned``."""
    verdicts: dict[str, int] = field(default_factory=dict)
    """Uploads by verdict: ``own``, ``superseded``, ``indistinguishable``, ``wrong``, ``in the DLQ``."""
    crashes: int = 0

    @property
    def ok(self) -> bool:
        return self.lost == self.duplicated == self.wrong == 0

    def summary(self) -> str:
        return (
            f"chaos: uploads={self.uploads} terminal={self.terminal} lost={self.lost} "
            f"duplicated={self.duplicated} wrong={self.wrong} dlq={self.dlq}"
        )


class _Collector:
    """Events and dead letters as they arrive, attributed to uploads."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self.by_event_id: dict[str, Upload] = {}
        self.by_sequencer: dict[tuple[str, str, str], Upload] = {}
        self.events: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)  # event id -> copies
        self.dead: list[dict[str, Any]] = []
        self.dead_uploads: set[int] = set()
        self._last_dlq_check = 0.0

    def add(self, upload: Upload) -> None:
        self.by_event_id[upload.event_id] = upload
        self.by_sequencer[(upload.bucket, upload.key, upload.sequencer)] = upload

    def pending(self) -> int:
        done = {u.index for u in self.by_event_id.values() if u.event_id in self.events}
        return len(self.by_event_id) - len(done | self.dead_uploads)

    def wait(self, done: Callable[[], bool], timeout_s: float) -> None:
        """Collect until ``done()`` or ``timeout_s`` have passed."""
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline:
            self.collect(wait_s=1)

    def collect(self, wait_s: int = 0, *, dead_letters: bool = False) -> None:
        """Read the events that arrived (and, every few seconds or when asked, the dead letters)."""
        sqs, stack = self._pipeline.sqs, self._pipeline.stack
        while True:
            events = client.receive_events(sqs, stack.subscriber_queue_url, wait_s=wait_s)
            for event in events:
                self.events[str(event.get("event_id"))].append(event)
            if len(events) < 10:
                break
            wait_s = 0
        if dead_letters or time.monotonic() - self._last_dlq_check > 2:
            self._last_dlq_check = time.monotonic()
            self._drain_dead_letters()

    def _drain_dead_letters(self) -> None:
        sqs, url = self._pipeline.sqs, self._pipeline.stack.dead_letter_queue_url
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
            batch = messages.get("Messages", [])
            for message in batch:
                self.dead.append(message)
                upload = self.upload_of(message.get("Body", ""))
                if upload is not None:
                    self.dead_uploads.add(upload.index)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if len(batch) < 10:
                return

    def upload_of(self, body: str) -> Upload | None:
        try:
            record = json.loads(body)["Records"][0]
            bucket, obj = record["s3"]["bucket"]["name"], record["s3"]["object"]
            return self.by_sequencer.get((bucket, unquote_plus(obj["key"]), obj.get("sequencer", "")))
        except (ValueError, KeyError, IndexError, TypeError):
            return None

    def queue_empty(self) -> bool:
        attributes = self._pipeline.sqs.get_queue_attributes(
            QueueUrl=self._pipeline.stack.queue_url, AttributeNames=["All"]
        )["Attributes"]
        names = (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
        return all(int(attributes.get(name, 0)) == 0 for name in names)


def run_chaos(
    config: ChaosConfig, *, verbose: bool = False, echo: Callable[[str], None] | None = None
) -> ChaosResult:
    """Run the uploads of ``config`` through the local stack with faults injected; count the outcome.

    Parameters
    ----------
    config
        The run.
    verbose
        Show the function's logs and the poller's (many, under faults).
    echo
        Progress lines go here (e.g. ``print``); ``None`` keeps quiet.
    """
    say = echo or (lambda _line: None)
    started = time.monotonic()
    overrides = {
        "FunctionTimeout": str(config.function_timeout_s),
        "VisibilityTimeout": str(max(60, 6 * config.function_timeout_s)),
    }
    if config.default_model:
        overrides["DefaultModel"] = config.default_model
    injector = FaultInjector(config)
    poller_log = logging.getLogger("bgremove_local")
    level = poller_log.level
    if not verbose:
        poller_log.setLevel(logging.CRITICAL)  # a function error per injected init fault or crash
    try:
        with (
            nullcontext() if verbose else _function_output_dropped(),
            injector.installed(),
            running_pipeline(
                overrides=overrides,
                quiet=not verbose,
                wrap_handler=injector.wrap,
                environment=None if verbose else SILENT_FUNCTION,
            ) as pipeline,
        ):
            workload = Workload(config, pipeline.stack.function.environment.get("OUTPUT_PREFIX", ""))
            collector = _Collector(pipeline)
            say(
                f"chaos: {config.uploads} uploads, seed {config.seed}, "
                f"function timeout {config.function_timeout_s} s"
            )
            versioning_at = int(config.uploads * config.versioning_from)
            for index in range(config.uploads):
                if collector.pending() >= config.max_backlog:
                    collector.wait(lambda: collector.pending() < config.max_backlog, config.drain_timeout_s)
                if index == versioning_at:
                    pipeline.s3.put_bucket_versioning(
                        Bucket=pipeline.stack.input_bucket, VersioningConfiguration={"Status": "Enabled"}
                    )
                    say(f"  versioning switched on for the input bucket at upload #{index}")
                upload = workload.next()
                _put(pipeline, upload)
                collector.add(upload)
                collector.collect()
                if (index + 1) % 100 == 0:
                    waiting, took = collector.pending(), time.monotonic() - started
                    say(f"  {index + 1} uploaded, {waiting} waiting for their event, {took:.0f} s")
            say("  all uploaded; waiting for the queue to empty")
            collector.wait(
                lambda: collector.pending() == 0 and collector.queue_empty(), config.drain_timeout_s
            )
            collector.wait(lambda: False, 3)  # late copies
            collector.collect(dead_letters=True)
            result = _evaluate(
                config,
                uploads=workload.uploads,
                collector=collector,
                injector=injector,
                outputs=_outputs(pipeline),
                pipeline=pipeline,
                elapsed=time.monotonic() - started,
            )
    finally:
        poller_log.setLevel(level)
    return result


def _put(pipeline: Pipeline, upload: Upload) -> None:
    upload.bucket = pipeline.stack.input_bucket
    upload.started = time.time()
    response = pipeline.s3.put_object(
        Bucket=upload.bucket, Key=upload.key, Body=upload.data, Metadata=upload.metadata
    )
    upload.finished = time.time()
    upload.etag = str(response["ETag"]).strip('"')
    upload.version_id = response.get("VersionId") or None
    upload.sequencer = notifications.latest_sequencer(upload.bucket, upload.key) or ""
    upload.event_id = _event_id(upload)


def _event_id(upload: Upload) -> str:
    """The ``event_id`` the function gives this upload's events (its own definition, imported)."""
    from processor.completion import event_id_for  # noqa: PLC0415 - importable once the handler is
    from processor.sources import ObjectRef  # noqa: PLC0415

    ref = ObjectRef(
        bucket=upload.bucket,
        key=upload.key,
        version_id=upload.version_id,
        etag=upload.etag,
        sequencer=upload.sequencer or None,
    )
    return event_id_for(ref)


def _outputs(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    """Every object of the output bucket: key -> its HeadObject."""
    s3, bucket = pipeline.s3, pipeline.stack.output_bucket
    found: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = s3.head_object(Bucket=bucket, Key=item["Key"])
    return found


# --- the verdict ---------------------------------------------------------------------------------------


def _differences(expected: Upload, event: dict[str, Any], output_bucket: str) -> list[str]:
    """How ``event``'s payload differs from what ``expected``'s upload must produce (nothing: it matches)."""
    problems = []
    if event.get("job_id") != expected.job_id:
        problems.append(f"job id {event.get('job_id')!r}, expected {expected.job_id!r}")
    error = event.get("error") or {}
    if expected.expected_code is not None:
        if event.get("status") != "FAILED" or error.get("code") != expected.expected_code:
            problems.append(
                f"{event.get('status')} {error.get('code')}, expected FAILED {expected.expected_code}"
            )
        elif expected.expected_option and error.get("option") != expected.expected_option:
            problems.append(f"option {error.get('option')!r}, expected {expected.expected_option!r}")
        return problems
    if event.get("status") != "COMPLETED":
        problems.append(
            f"{event.get('status')} {error.get('code')}: {error.get('message')}, expected COMPLETED"
        )
        return problems
    output = event.get("output") or {}
    report = event.get("report") or {}
    if (output.get("bucket"), output.get("key")) != (output_bucket, expected.output_key):
        problems.append(f"output {output.get('key')!r}, expected {expected.output_key!r}")
    if output.get("content_type") != expected.content_type:
        problems.append(f"content type {output.get('content_type')!r}, expected {expected.content_type!r}")
    if not report.get("replayed") and report.get("options") != expected.options:
        problems.append(f"options {report.get('options')}, expected {expected.options}")
    return problems


def _input_differences(upload: Upload, event: dict[str, Any]) -> list[str]:
    seen = event.get("input") or {}
    wanted = {
        "bucket": upload.bucket,
        "key": upload.key,
        "etag": upload.etag,
        "version_id": upload.version_id,
    }
    return [
        f"input {name} {seen.get(name)!r}, expected {value!r}"
        for name, value in wanted.items()
        if seen.get(name) != value
    ]


def _signature(event: dict[str, Any]) -> tuple[Any, ...]:
    """What every copy of one upload's event must agree on."""
    return (
        event.get("status"),
        (event.get("error") or {}).get("code"),
        event.get("job_id"),
        (event.get("output") or {}).get("key"),
    )


def _judge(upload: Upload, event: dict[str, Any], later: list[Upload], output_bucket: str) -> tuple[str, str]:
    """``("own" | "superseded" | "indistinguishable" | "wrong", why)`` for the event of ``upload``."""
    own = _input_differences(upload, event) + _differences(upload, event, output_bucket)
    if not own:
        return "own", ""
    if _input_differences(upload, event):
        return "wrong", "; ".join(own)
    error = event.get("error") or {}
    if (
        later
        and event.get("status") == "FAILED"
        and error.get("code") in SUPERSEDED_CODES
        and event.get("job_id") in (None, upload.job_id)
    ):
        return "superseded", ""
    if upload.version_id is None:
        for newer in later:
            if newer.data != upload.data or newer.started - upload.finished >= INDISTINGUISHABLE_WITHIN_S:
                continue
            superseded = event.get("status") == "FAILED" and error.get("code") in SUPERSEDED_CODES
            if not _differences(newer, event, output_bucket) or (
                superseded and event.get("job_id") == newer.job_id
            ):
                return "indistinguishable", f"described #{newer.index}"
    return "wrong", "; ".join(own)


def _evaluate(
    config: ChaosConfig,
    *,
    uploads: list[Upload],
    collector: _Collector,
    injector: FaultInjector,
    outputs: dict[str, dict[str, Any]],
    pipeline: Pipeline,
    elapsed: float,
) -> ChaosResult:
    output_bucket = pipeline.stack.output_bucket
    later: defaultdict[int, list[Upload]] = defaultdict(list)
    by_key: defaultdict[str, list[Upload]] = defaultdict(list)
    for upload in uploads:
        for earlier in by_key[upload.key]:
            later[earlier.index].append(upload)
        by_key[upload.key].append(upload)

    mismatches: list[str] = []
    notes: list[str] = []  # informational lines of the report
    verdicts: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    terminal = lost = duplicated = wrong = explained = 0
    claims: defaultdict[str, list[Upload]] = defaultdict(
        list
    )  # output key -> uploads announced COMPLETED there

    def outcome(upload: Upload) -> str:
        copies = collector.events.get(upload.event_id, [])
        if not copies:
            return "in the DLQ" if upload.index in collector.dead_uploads else "no event"
        return " then ".join(
            f"{copy.get('status')} {(copy.get('error') or {}).get('code') or ''}".strip() for copy in copies
        )

    def faults(upload: Upload) -> str:
        """What happened around ``upload``: the faults injected on its key, and its key's uploads."""
        seen = injector.by_key.get(upload.key)
        injected = f" [faults on this key: {', '.join(seen)}]" if seen else ""
        others = [u for u in by_key[upload.key] if u is not upload]
        history = "; ".join(
            f"#{u.index} {'identical bytes, ' if u.data == upload.data else ''}{outcome(u)}" for u in others
        )
        return injected + (f" [other uploads of this key: {history}]" if history else "")

    for upload in uploads:
        copies = collector.events.get(upload.event_id, [])
        if not copies:
            if upload.index in collector.dead_uploads:
                verdicts["in the dead-letter queue"] += 1
            else:
                lost += 1
                mismatches.append(f"lost: {upload.describe()}: no event, not in the DLQ{faults(upload)}")
            continue
        terminal += 1
        first = copies[0]
        error = first.get("error") or {}
        statuses[f"{first.get('status')} {error.get('code')}" if error else str(first.get("status"))] += 1
        extra = len(copies) - 1
        if len({_signature(copy) for copy in copies}) > 1:
            duplicated += 1
            shown = sorted({str(_signature(copy)) for copy in copies})
            mismatches.append(f"duplicated: {upload.describe()}: copies disagree: {shown}{faults(upload)}")
        elif extra > injector.explained_copies[upload.event_id]:
            duplicated += 1
            mismatches.append(
                f"duplicated: {upload.describe()}: {len(copies)} copies, "
                f"{injector.explained_copies[upload.event_id]} explained by faults{faults(upload)}"
            )
        else:
            explained += extra
        verdict, why = _judge(upload, first, later[upload.index], output_bucket)
        verdicts[verdict] += 1
        if verdict == "wrong":
            wrong += 1
            mismatches.append(f"wrong: {upload.describe()}: {why}{faults(upload)}")
        elif first.get("status") == "COMPLETED":
            claims[(first.get("output") or {}).get("key", "")].append(upload)

    strays = [
        copies[0] for event_id, copies in collector.events.items() if event_id not in collector.by_event_id
    ]
    for event in strays:
        wrong += 1
        seen = event.get("input") or {}
        mismatches.append(
            f"wrong: an event names no upload: event {event.get('event_id')} for {seen.get('key')} "
            f"(etag {seen.get('etag')}, version {seen.get('version_id')}), job {event.get('job_id')}, "
            f"{event.get('status')}"
        )

    stale = unannounced = 0
    for output_key, announced in sorted(claims.items()):
        latest = max(announced, key=lambda u: u.index)
        head = outputs.get(output_key)
        if head is None:
            wrong += 1
            mismatches.append(f"wrong: output {output_key} is missing; {latest.describe()} announced it")
            continue
        written = head.get("Metadata") or {}
        source = collector.by_sequencer.get((latest.bucket, latest.key, written.get("source-sequencer", "")))
        if source is latest:
            continue
        if source is not None and source.index > latest.index:
            unannounced += 1
            notes.append(
                f"  newer than announced: output {output_key} holds the result of {source.describe()} "
                f"(whose event is {outcome(source)}), announced by {latest.describe()}"
            )
            continue
        stale += 1
        wrong += 1
        made_from = source.describe() if source is not None else f"an unknown upload {written}"
        mismatches.append(
            f"wrong: output {output_key} holds the result of {made_from}, but the latest upload announced "
            f"COMPLETED there is {latest.describe()}{faults(latest)}"
        )
    orphans = sorted(set(outputs) - set(claims))
    for output_key in orphans:
        written = outputs[output_key].get("Metadata") or {}
        source = next(
            (u for u in uploads if u.sequencer and u.sequencer == written.get("source-sequencer")), None
        )
        made_from = f"{source.describe()}, whose event is {outcome(source)}" if source else str(written)
        notes.append(f"  never announced: output {output_key}, written for {made_from}")

    kinds = Counter(u.kind for u in uploads)
    overwrites = sum(1 for u in uploads if u.overwrites is not None)
    identical = sum(1 for u in uploads if u.identical)
    versioned = sum(1 for u in uploads if u.version_id)
    crashes = pipeline.mapping.crashes
    injected = ", ".join(f"{kind} {count}" for kind, count in sorted(injector.counts.items())) or "none"
    dead_with_event = sum(1 for i in collector.dead_uploads if uploads[i].event_id in collector.events)
    report = [
        f"chaos run: {len(uploads)} uploads, seed {config.seed}, {elapsed:.0f} s; "
        f"{injector.invocations} invocations ({crashes} crashed), "
        f"function timeout {config.function_timeout_s} s",
        "uploads: "
        + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        + f"; overwrites {overwrites} ({identical} with identical bytes); versioned {versioned}",
        f"faults injected: {injected}",
        "outcomes: " + ", ".join(f"{name} {count}" for name, count in sorted(statuses.items())),
        "verdicts: "
        + ", ".join(f"{name} {count}" for name, count in sorted(verdicts.items()))
        + f"; copies explained by faults {explained}",
        f"outputs: {len(outputs)} objects, {len(claims)} announced; stale {stale}, newer than announced "
        f"{unannounced}, never announced {len(orphans)}",
        *notes,
        f"dead-letter queue: {len(collector.dead)} messages, {len(collector.dead_uploads)} uploads "
        f"({dead_with_event} of them also have an event)",
    ]
    for message in collector.dead:
        parked = collector.upload_of(message.get("Body", ""))
        receives = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        body = repr(message.get("Body", ""))[:200]
        what = parked.describe() + faults(parked) if parked is not None else body
        report.append(f"  in the DLQ after {receives} receives: {what}")
    return ChaosResult(
        uploads=len(uploads),
        terminal=terminal,
        lost=lost,
        duplicated=duplicated,
        wrong=wrong,
        dlq=len(collector.dead),
        report=report,
        mismatches=mismatches,
        faults=dict(injector.counts),
        workload={
            **kinds,
            "overwrites": overwrites,
            "identical overwrites": identical,
            "versioned": versioned,
        },
        verdicts=dict(verdicts),
        crashes=crashes,
    )


def print_result(result: ChaosResult, *, max_mismatches: int = 100) -> None:
    """The report, the mismatches (at most ``max_mismatches``), and the machine-readable last line."""
    for line in result.report:
        print(line)
    if result.mismatches:
        print(f"mismatches ({len(result.mismatches)}):")
        for line in result.mismatches[:max_mismatches]:
            print(f"  {line}")
        if len(result.mismatches) > max_mismatches:
            print(f"  ... and {len(result.mismatches) - max_mismatches} more")
    print(result.summary())
