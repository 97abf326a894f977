"""Fault injection around the unchanged function: AWS errors, crashes, model outages, odd deliveries."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import boto3.session
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError
from moto.s3 import notifications as moto_notifications

from bgremove import Engine, ModelLoadError
from bgremove_local.chaos._config import CRASH_AFTER_CALL, CRASH_POINTS, TRANSIENT_ERRORS, ChaosConfig
from bgremove_local.poller import Handler, InvocationCrash
from bgremove_local.runner import reset_handler_caches


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
            point = CRASH_AFTER_CALL.get((service, operation))
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
