"""Completion events and dead letters as they arrive, attributed to the uploads they answer."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from bgremove_local import client
from bgremove_local.chaos._workload import Upload
from bgremove_local.runner import Pipeline


class Collector:
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
