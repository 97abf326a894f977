"""Job list cursors: opaque to clients (base64 of a job id and its creation), and only ever read in the
caller's own partition of the owner index."""

from __future__ import annotations

import base64
import binascii
import json

from bgremove_api.exceptions import BadRequestError, InvalidCursorError
from bgremove_api.forms import load_json
from bgremove_api.jobs._items import Item
from bgremove_api.jobs.model import Job
from bgremove_api.keys import ApiKey

_MAX_CURSOR_CHARS = 1024
"""Longer than any cursor this API gives (a job id and a time, in base64): refused unread."""


def encode_cursor(job: Job) -> str:
    """The cursor of the page after ``job``."""
    return encode_cursor_key(
        {
            "job_id": {"S": job.job_id},
            "owner_key_id": {"S": job.owner_key_id},
            "owner_created": {"S": f"{job.created_at}#{job.job_id}"},
        }
    )


def encode_cursor_key(key: Item) -> str:
    """The cursor of the page after an owner index key (DynamoDB's ``LastEvaluatedKey``)."""
    data = {"j": key["job_id"]["S"], "c": key["owner_created"]["S"]}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, owner: ApiKey) -> Item:
    """The owner index key to start after; :class:`InvalidCursorError` for a cursor this API did not give."""
    try:
        if len(cursor) > _MAX_CURSOR_CHARS:
            raise ValueError(len(cursor))
        padded = cursor + "=" * (-len(cursor) % 4)
        data = load_json(base64.urlsafe_b64decode(padded.encode("ascii")), "the cursor")
        job_id, created = data["j"], data["c"]
        if not isinstance(job_id, str) or not isinstance(created, str):
            raise TypeError(job_id)
        if not 0 < len(job_id) <= 64 or not 0 < len(created) <= 128:  # DynamoDB refuses empty key values
            raise ValueError(job_id)
        if not (job_id.isascii() and created.isascii()):  # ids and times are ASCII; a lone surrogate is not
            raise ValueError(job_id)
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError, BadRequestError):
        raise InvalidCursorError("the cursor is not one this API gave") from None
    # The partition is always the caller's: a cursor cannot open another key's jobs.
    return {
        "job_id": {"S": job_id},
        "owner_key_id": {"S": owner.key_id},
        "owner_created": {"S": created},
    }
