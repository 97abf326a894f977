"""Behave like Lambda's SQS event source mapping: poll, invoke, delete what succeeded, retry the rest.

Differences from Lambda, on purpose: one batch at a time (no scaling), and a failed message becomes visible
again after ``retry_delay_s`` instead of the queue's full visibility timeout, so local retries and the
redrive to the dead-letter queue (after ``maxReceiveCount`` receives, done by the queue itself) take seconds.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from bgremove_local.emulator import FunctionSpec
from bgremove_local.template import ACCOUNT_ID, REGION

Handler = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger("bgremove_local")


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


class EventSourceMapping:
    """Polls ``queue_url`` in a background thread and feeds batches to ``handler``."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        function: FunctionSpec,
        handler: Handler,
        *,
        retry_delay_s: int = 1,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._function = function
        self._handler = handler
        self._retry_delay_s = retry_delay_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-source-mapping", daemon=True)
        self.invocations = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
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
        try:
            result = self._handler(event, LambdaContext.for_function(self._function))
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
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self._retry_delay_s,
                )
            else:
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)
