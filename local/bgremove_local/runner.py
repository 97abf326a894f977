"""The whole pipeline on one machine: emulator + the real handler + an event collector."""

from __future__ import annotations

import importlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from bgremove_local import client
from bgremove_local.emulator import LocalCloud, LocalStack
from bgremove_local.poller import EventSourceMapping, Handler, Schedule, idempotency_lock_wait, load_handler
from bgremove_local.template import ACCOUNT_ID

REPO_ROOT = Path(__file__).resolve().parents[2]
QUIET_ENVIRONMENT = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}
ALLOW_LOOPBACK_ENVIRONMENT = {"URL_FETCH_ALLOW_LOOPBACK": "true"}
"""What ``allow_loopback`` sets: image URLs and webhooks may reach 127.0.0.1 (refused in AWS, as every
loopback URL). Off unless asked for, so the local stack refuses what a deployed one refuses."""
TEMPLATE = REPO_ROOT / "template.yaml"


class Pipeline:
    """A running local stack: upload objects, collect completion events, fetch outputs."""

    def __init__(self, cloud: LocalCloud, stack: LocalStack, mapping: EventSourceMapping) -> None:
        self.cloud = cloud
        self.stack = stack
        self.mapping = mapping
        self.other_mappings: list[EventSourceMapping] = []
        """Pollers of the template's other SQS-triggered functions (jobs, webhooks), in template order."""
        self.schedules: list[Schedule] = []
        """The template's schedules (the jobs deadline sweep), each invoking its function on its period."""
        self.s3 = cloud.client("s3")
        self.sqs = cloud.client("sqs")
        self._seen: list[dict[str, Any]] = []

    def upload(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None) -> str:
        """Put an object in the input bucket; returns its ETag (see :func:`bgremove_local.client.upload`)."""
        return client.upload(self.s3, self.stack.input_bucket, key, data, metadata)

    def poll_events(self, wait_s: int = 1) -> list[dict[str, Any]]:
        """Completion events that arrived since the last call (from the subscriber queue)."""
        events = client.receive_events(self.sqs, self.stack.subscriber_queue_url, wait_s=wait_s)
        self._seen.extend(events)
        return events

    def wait_for_events(self, key: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
        """Wait until ``count`` distinct events (by ``event_id``) arrived for ``key``; returns them all.

        Events already seen count; the list is in arrival order, one per ``event_id`` (the first copy),
        and shorter than ``count`` on timeout.
        """
        deadline = time.monotonic() + timeout_s

        def distinct() -> list[dict[str, Any]]:
            first: dict[str, dict[str, Any]] = {}
            for event in self._seen:
                if event["input"]["key"] == key:
                    first.setdefault(event["event_id"], event)
            return list(first.values())

        while len(distinct()) < count and time.monotonic() < deadline:
            self.poll_events()
        return distinct()

    def wait_for(self, keys: set[str], timeout_s: float) -> dict[str, dict[str, Any]]:
        """Wait until every input key has a terminal event; returns key -> event (missing on timeout)."""
        found = {e["input"]["key"]: e for e in self._seen if e["input"]["key"] in keys}
        deadline = time.monotonic() + timeout_s
        while set(found) != keys and time.monotonic() < deadline:
            for event in self.poll_events():
                if event["input"]["key"] in keys:
                    found[event["input"]["key"]] = event
        return found

    def dead_letters(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.stack.dead_letter_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def download(self, key: str, folder: Path) -> Path:
        target = folder / key
        target.parent.mkdir(parents=True, exist_ok=True)
        body = self.s3.get_object(Bucket=self.stack.output_bucket, Key=key)["Body"].read()
        target.write_bytes(body)
        return target


@contextmanager
def running_pipeline(
    *,
    port: int = 0,
    overrides: Mapping[str, str] | None = None,
    retry_delay_s: int = 1,
    template: Path = TEMPLATE,
    quiet: bool = False,
    wrap_handler: Callable[[Handler], Handler] | None = None,
    environment: Mapping[str, str] | None = None,
    allow_loopback: bool = False,
    schedule_period_s: float | None = None,
) -> Iterator[Pipeline]:
    """Start the emulator, create the stack, run the handler behind an SQS poller; stop all on exit.

    The handler reads its settings from the environment at first use, so the process environment is set
    to the function's (as Lambda would) for the duration and restored afterwards. ``quiet`` keeps the
    function's INFO logs and metric blobs (Lambda's CloudWatch output) off the terminal.
    ``wrap_handler`` is given the handler and returns what the poller invokes instead (fault injection);
    ``environment`` adds to (or replaces) the function's variables; ``allow_loopback`` lets URL fetches and
    webhooks reach loopback addresses (tests' local servers; ``make serve ALLOW_LOOPBACK=1``).
    Failed messages wait for the function's idempotency locks to expire (see
    :class:`~bgremove_local.poller.EventSourceMapping`), and a crash is followed by a cold start.
    A function's ``Schedule`` events (the jobs deadline sweep, every minute) invoke it on their period, or
    every ``schedule_period_s`` when given (tests).
    """
    cloud = LocalCloud(template, port=port, overrides=overrides)
    stack = cloud.start()
    saved = dict(os.environ)
    mapping: EventSourceMapping | None = None
    others: list[EventSourceMapping] = []
    schedules: list[Schedule] = []
    try:
        # One process stands for every function: their variables together, the processor's winning on a
        # shared name (they share only names with equal values, and POWERTOOLS_SERVICE_NAME).
        merged = {k: v for spec in stack.functions[1:] for k, v in spec.environment.items()}
        merged.update(cloud.function_environment())
        os.environ.update({k: v for k, v in merged.items() if v != ""})
        if allow_loopback:
            os.environ.update(ALLOW_LOOPBACK_ENVIRONMENT)
        if quiet:
            os.environ.update(QUIET_ENVIRONMENT)
            warnings.filterwarnings("ignore", message="No application metrics to publish")
        os.environ.update(environment or {})
        handler = load_handler(stack.function)
        reset_handler_caches(handler)
        mapping = EventSourceMapping(
            cloud.client("sqs"),
            stack.queue_url,
            stack.function,
            wrap_handler(handler) if wrap_handler is not None else handler,
            retry_delay_s=retry_delay_s,
            lock_wait=idempotency_lock_wait(cloud.client("dynamodb"), stack.table) if stack.table else None,
            cold_start=partial(reset_handler_caches, handler),
        )
        created: list[EventSourceMapping] = []
        planned: list[Schedule] = []
        for spec in stack.functions[1:]:
            other = load_handler(spec)
            reset_handler_caches(other)
            planned.extend(Schedule(spec, other, schedule_period_s or s) for s in spec.schedules_s)
            created.append(
                EventSourceMapping(
                    cloud.client("sqs"),
                    f"{cloud.endpoint}/{ACCOUNT_ID}/{spec.queue_arn.rsplit(':', 1)[1]}",
                    spec,
                    other,
                    retry_delay_s=retry_delay_s,
                    cold_start=partial(reset_handler_caches, other),
                )
            )
        mapping.start()
        for other_mapping in created:
            other_mapping.start()
            others.append(other_mapping)  # stopped on exit only once started
        for schedule in planned:
            schedule.start()
            schedules.append(schedule)
        pipeline = Pipeline(cloud, stack, mapping)
        pipeline.other_mappings = others
        pipeline.schedules = schedules
        yield pipeline
    finally:
        for schedule in schedules:
            schedule.stop()
        for other_mapping in others:
            other_mapping.stop()
        if mapping is not None:
            mapping.stop()
        os.environ.clear()
        os.environ.update(saved)
        cloud.stop()


def reset_handler_caches(handler: Any) -> None:
    """Drop what the handler's module caches (clients, engine), as a fresh Lambda runtime starts without.

    A handler module imported earlier in this process may hold clients for an old endpoint; after a crash
    the next invocation is a cold start. Every cached builder of the module goes (a ``functools.cache``
    function: ``get_deliverer``, ``get_job_events``, the processor's ``get_processor`` ...), whatever its
    name.
    """
    module = sys.modules.get(handler.__module__) or importlib.import_module(handler.__module__)
    for value in list(vars(module).values()):
        if callable(value) and callable(getattr(value, "cache_clear", None)):
            value.cache_clear()
