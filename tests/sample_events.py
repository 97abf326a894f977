"""The one loader for the sample events in ``events/`` (also used with ``sam local invoke -e``).

The files name an example bucket and key; tests retarget them at their own moto resources.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
EXAMPLE_BUCKET = "bgremove-input-example"
EXAMPLE_KEY_ENCODED = "uploads/summer+photo+%C3%A9t%C3%A9.jpg"
EXAMPLE_KEY = "uploads/summer photo été.jpg"
EXAMPLE_ETAG = "d41d8cd98f00b204e9800998ecf8427e"


def event_names() -> list[str]:
    return sorted(p.stem for p in EVENTS_DIR.glob("*.json") if p.name != "env.json")


def load_event(
    name: str, *, bucket: str | None = None, key: str | None = None, etag: str | None = None
) -> Any:
    """Load ``events/<name>.json``, optionally pointing it at another bucket, key (plain text) and ETag.

    Replacement is textual and applied inside JSON-encoded SQS bodies too; keys are URL-encoded the way
    S3 encodes them in notifications (spaces as ``+``).
    """
    text = (EVENTS_DIR / f"{name}.json").read_text()
    if bucket:
        text = text.replace(EXAMPLE_BUCKET, bucket)
    if key:
        text = text.replace(EXAMPLE_KEY_ENCODED, quote_plus(key, safe="/"))
    if etag:
        text = text.replace(EXAMPLE_ETAG, etag)
    return json.loads(text)
