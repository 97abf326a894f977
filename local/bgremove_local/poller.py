"""Behave like Lambda's SQS event source mapping: poll, invoke, delete what succeeded, retry the rest.

Differences from Lambda, on purpose: one batch at a time (no scaling), and a failed message becomes visible
again after ``retry_delay_s`` instead of the queue's full visibility timeout, so local retries and the
redrive to the dead-letter queue (after ``maxReceiveCount`` receives, done by the queue itself) take seconds.

That shortcut must not change what a retry finds. In Lambda the visibility timeout (at least six times the
function timeout) outlasts any idempotency lock an attempt left behind (a record ``INPROGRESS`` expires with
the invocation's deadline): a crash, or a failed write of the idempotency record, leaves one. Given
``lock_wait`` (see :func:`idempotency_lock_wait`), failed messages stay invisible until the function's locks
have expired, as they would in Lambda, and only for ``retry_delay_s`` when no lock is held.

A handler that raises :class:`InvocationCrash` (a ``BaseException``: no ``except Exception`` of the
function catches it) stands for the runtime dying mid-invocation: nothing of the batch is deleted, the
whole batch comes back, and the next invocation is a cold start (``cold_start`` is called).
"""

from __future__ import annotations

import importlib
import logging
import math
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bgremove_local.emulator import FunctionSpec
from bgremove_local.template import ACCOUNT_ID, REGION

Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger("bgremove_local")

# powertools' idempotency record (DynamoDBPersistenceLayer's default attribute names)
_STATUS_ATTRIBUTE = "status"
_IN_PROGRESS = "INPROGRESS"
_IN_PROGRESS_EXPIRY_ATTRIBUTE = "in_progress_expiration"  # epoch milliseconds


class InvocationCrash(BaseException):
    """The function's runtime died mid-invocation (killed, out of memory, timed out).

    A ``BaseException``, so that no ``except Exception`` in the function catches it, as nothing catches a
    dying process: the batch is not answered, idempotency records ``INPROGRESS`` stay behind.
    """


class LambdaContext:
    """The context object a handler receives, with a deadline ``timeout_s`` from its creation.

    Parameters
    ----------
    function_name
        The function's name (the template's logical id locally); its ARN is built from it.
    timeout_s
        The function's timeout: :meth:`get_remaining_time_in_millis` counts down from it.
    memory_mb
        The function's memory size.
    """

    def __init__(self, function_name: str, *, timeout_s: float, memory_mb: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    @classmethod
    def for_function(cls, function: FunctionSpec) -> LambdaContext:
        """A context for one invocation of ``function``, as Lambda would pass it."""
        return cls(function.logical_id, timeout_s=function.timeout_s, memory_mb=function.memory_mb)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(function: FunctionSpec) -> Handler:
    """Import ``module.path.function`` from the function's code folder, as Lambda does."""
    if str(function.code_dir) not in sys.path:
        sys.path.insert(0, str(function.code_dir))
    module_name, _, attribute = function.handler.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


def to_lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            key: attributes[key]
            for key in (
                "ApproximateReceiveCount",
                "SentTimestamp",
                "SenderId",
                "ApproximateFirstReceiveTimestamp",
            )
            if key in attributes
        },
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def idempotency_lock_wait(dynamodb: Any, table: str) -> Callable[[], float]:
    """Seconds until the last idempotency lock of ``table`` still held expires (0 when none is held).

    Parameters
    ----------
    dynamodb
        A boto3 DynamoDB client (of the emulator, not the function's).
    table
        The function's idempotency table (powertools' default attribute names).
    """

    def wait() -> float:
        now_ms = time.time() * 1000
        latest_ms = now_ms
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=table,
            FilterExpression="#status = :in_progress",
            ProjectionExpression="#expiry",
            ExpressionAttributeNames={"#status": _STATUS_ATTRIBUTE, "#expiry": _IN_PROGRESS_EXPIRY_ATTRIBUTE},
            ExpressionAttributeValues={":in_progress": {"S": _IN_PROGRESS}},
        )
        for page in pages:
            for item in page.get("Items", []):
                expiry = item.get(_IN_PROGRESS_EXPIRY_ATTRIBUTE, {}).get("N")
                if expiry is not None:
                    latest_ms = max(latest_ms, float(expiry))
        return (latest_ms - now_ms) / 1000

    return wait


def scheduled_event(rule_arn: str) -> dict[str, Any]:
    """What EventBridge passes a function on each tick of a schedule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }


class Schedule:
    """Invokes ``handler`` with a scheduled event every ``period_s`` in a background thread, as an
    EventBridge ``rate(...)`` rule does (the first tick one period after :meth:`start`). A failed invocation
    is logged; the next tick comes anyway (EventBridge's own retries are not emulated).
    """

    def __init__(self, function: FunctionSpec, handler: Handler, period_s: float) -> None:
        self._function = function
        self._handler = handler
        self.period_s = period_s
        self._rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{function.logical_id}-schedule"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedule", daemon=True)
        self.invocations = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.invoke_once()

    def invoke_once(self) -> Any:
        """One tick: the handler's answer, or ``None`` when it raised (logged)."""
        self.invocations += 1
        try:
            return self._handler(scheduled_event(self._rule_arn), LambdaContext.for_function(self._function))
        except Exception:
            log.exception("scheduled invocation of %s failed", self._function.logical_id)
            return None


class EventSourceMapping:
    """Polls ``queue_url`` in a background thread and feeds batches to ``handler``.

    Parameters
    ----------
    sqs
        A boto3 SQS client of the emulator.
    queue_url
        The function's queue.
    function
        What the template says of the function (batch size, timeout, partial batch responses).
    handler
        The function's handler.
    retry_delay_s
        How long a failed message stays invisible when no idempotency lock is held.
    lock_wait
        Seconds until the function's idempotency locks expire (:func:`idempotency_lock_wait`); failed
        messages stay invisible at least that long (plus a second). ``None``: always ``retry_delay_s``.
    cold_start
        Called after an :class:`InvocationCrash`, to drop what the dead runtime had cached.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        function: FunctionSpec,
        handler: Handler,
        *,
        retry_delay_s: int = 1,
        lock_wait: Callable[[], float] | None = None,
        cold_start: Callable[[], None] | None = None,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._function = function
        self._handler = handler
        self._retry_delay_s = retry_delay_s
        self._lock_wait = lock_wait
        self._cold_start = cold_start
        self._stop = threading.Event()
        self._gate = threading.Lock()  # held for each batch; paused() holds it between batches
        self._thread = threading.Thread(target=self._run, name="event-source-mapping", daemon=True)
        self.invocations = 0
        self.crashes = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No batch is received inside the block (the one in progress, if any, finishes first)."""
        with self._gate:
            yield

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._gate:
                    self.poll_once()
            except Exception:
                log.exception("poller error; continuing")
                time.sleep(1)

    def poll_once(self) -> int:
        """Receive one batch and invoke the handler with it; returns the number of messages."""
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(self._function.batch_size, 10),
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [to_lambda_record(m, self._function.queue_arn) for m in messages]}
        self.invocations += 1
        crashed = False
        try:
            result = self._handler(event, LambdaContext.for_function(self._function))
        except InvocationCrash as crash:
            log.warning("the function crashed (%s): the whole batch will be retried", crash)
            crashed = True
            failed = {m["MessageId"] for m in messages}
        except Exception:
            log.exception("function error: the whole batch will be retried")
            failed = {m["MessageId"] for m in messages}
        else:
            reported = (
                (result or {}).get("batchItemFailures", [])
                if self._function.report_batch_item_failures
                else []
            )
            failed = {item["itemIdentifier"] for item in reported}
        if crashed:
            self.crashes += 1
            if self._cold_start is not None:
                self._cold_start()
        delay = self._retry_delay() if failed else 0
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=delay,
                )
            else:
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def _retry_delay(self) -> int:
        """Seconds a failed message stays invisible: ``retry_delay_s``, or until the locks have expired."""
        if self._lock_wait is None:
            return self._retry_delay_s
        try:
            held = self._lock_wait()
        except Exception:  # the emulator's table unreadable: retry soon rather than never
            log.exception("could not read the idempotency locks; retrying after %s s", self._retry_delay_s)
            return self._retry_delay_s
        return max(self._retry_delay_s, math.ceil(held) + 1 if held > 0 else 0)
