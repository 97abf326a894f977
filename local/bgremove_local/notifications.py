"""Make moto's S3 event notifications carry what S3's do: a ``sequencer``, and a ``versionId`` when versioned.

S3 gives every event of a bucket a ``sequencer``: a hex string that grows with each event of a key (compare
two of the same length as strings). The function's idempotency identity is (bucket, key, version or ETag,
sequencer), so without it two uploads of identical bytes to one key look like one upload delivered twice,
and the second is never processed. moto 5 sends no sequencer, and no ``versionId`` on versioned buckets.

:func:`install` wraps moto's notification functions (moto runs in-process, so the server and this module
share them): every event then carries a per-bucket sequencer that increases with each event, the same one
for every destination of that event, and ``versionId`` when the bucket is versioned. The emulator installs
the wrappers when it starts and removes them when it stops (:func:`uninstall`), so moto used elsewhere in
the process (tests with ``mock_aws``) is left as it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from moto.s3 import notifications as moto_notifications

__all__ = ["SEQUENCER_DIGITS", "install", "latest_sequencer", "next_sequencer", "uninstall"]

SEQUENCER_DIGITS = 18
"""Length of a sequencer, as in S3's (e.g. ``0055AED6DCD90281E5``): fixed, so string order is event order."""

_OBJECT_CREATED = "s3:ObjectCreated:"
_lock = threading.Lock()
_last_value: dict[str, int] = {}  # bucket -> value of its latest sequencer
_latest: dict[tuple[str, str], str] = {}  # (bucket, key) -> sequencer of its latest ObjectCreated event
_current = threading.local()  # the sequencer of the event being sent by this thread
_users = 0  # install() calls not yet undone
_originals: dict[str, Any] = {}  # moto's functions while wrapped


def next_sequencer(bucket: str) -> str:
    """A new sequencer for ``bucket``: greater than every earlier one of that bucket in this process.

    It starts from the clock in nanoseconds, so sequencers also grow from one run to the next.
    """
    with _lock:
        value = max(_last_value.get(bucket, 0) + 1, time.time_ns())
        _last_value[bucket] = value
    return f"{value:0{SEQUENCER_DIGITS}X}"


def latest_sequencer(bucket: str, key: str) -> str | None:
    """The sequencer of the latest ``ObjectCreated`` event of ``key`` (``None`` if none was sent).

    An uploader that puts objects from one thread reads its own upload's sequencer here once ``PutObject``
    has returned: moto sends the notification before it answers.
    """
    with _lock:
        return _latest.get((bucket, key))


def install() -> None:
    """Wrap moto's notification functions, until as many :func:`uninstall` calls (emulators may nest)."""
    global _users  # noqa: PLW0603 - one patch per process, however many emulators run
    with _lock:
        _users += 1
        if _users > 1:
            return
        _originals.update(send_event=moto_notifications.send_event, build=moto_notifications._get_s3_event)
    moto_notifications.send_event = _sending(_originals["send_event"])
    moto_notifications._get_s3_event = _building(_originals["build"])


def uninstall() -> None:
    """Undo one :func:`install`; the last one gives moto its own functions back."""
    global _users  # noqa: PLW0603
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users > 0:
            return
        moto_notifications.send_event = _originals.pop("send_event")
        moto_notifications._get_s3_event = _originals.pop("build")


def _sending(send_event: Callable[..., None]) -> Callable[..., None]:
    """One sequencer per event, shared by all its destinations (queues, topics, functions)."""

    def send(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        sequencer = next_sequencer(bucket.name)
        if str(getattr(event_name, "value", event_name)).startswith(_OBJECT_CREATED):
            with _lock:
                _latest[(bucket.name, key.name)] = sequencer
        _current.sequencer = sequencer
        try:
            send_event(account_id, event_name, bucket, key)
        finally:
            _current.sequencer = None

    return send


def _building(get_s3_event: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def build(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        event = get_s3_event(event_name, bucket, key, notification_id)
        for record in event.get("Records", []):
            obj = record["s3"]["object"]
            version_id = getattr(key, "version_id", None)
            if getattr(bucket, "is_versioned", False) and version_id and version_id != "null":
                obj["versionId"] = version_id
            obj["sequencer"] = getattr(_current, "sequencer", None) or next_sequencer(bucket.name)
        return event

    return build
