"""Per-key rate limits, held in DynamoDB so that they bind across every concurrent function instance.

Two limits, checked in this order by :meth:`RateLimiter.acquire`:

Requests per second
    A fixed one-second window per key: item ``(pk="rate#<key id>", sk="<epoch second>")`` whose ``count`` is
    incremented by one conditional ``UpdateItem`` (``count < limit``). The condition makes the check and the
    increment one atomic step on DynamoDB's side, so N instances together never admit more than ``limit``
    requests in a window. A refused request does not count. The window resets on the next whole second,
    which is what ``X-RateLimit-Reset`` reports. (A fixed window can admit up to twice the limit across a
    window boundary; a sliding window would cost a second write per request.)

Requests in flight
    ``max_in_flight`` slot items per key, ``(pk="inflight#<key id>", sk="<slot number>")``. One strongly
    consistent ``Query`` reads the key's slots; a free or expired slot is claimed by a conditional
    ``PutItem`` (``attribute_not_exists(pk) OR expires_at < now``) carrying a random holder token; losing
    that race moves on to the next free slot. :class:`Permit` deletes its slot on exit, on the condition
    that it still holds it. A slot whose holder died mid-request (a crashed or timed-out instance never
    releases) expires by itself after :data:`SLOT_LIFETIME_S`, longer than any request can run; no
    clean-up job is needed, and slots cannot leak. A request refused here is taken off its rate window
    again (one more ``UpdateItem``), so a refused request never counts. Requests that only read a record
    (a poll of a job, a list, the account) count against the window but hold no slot
    (``acquire(key, in_flight=False)``): they are short, and a client polling a long job must not be
    refused a slot for its next submit.

Every item carries ``expires_at`` (epoch seconds), the table's TTL attribute, so DynamoDB deletes old
windows and abandoned slots. The limiter never relies on that deletion (TTL may lag by days): expiry is
checked in the conditions themselves.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from bgremove_api import observability
from bgremove_api.aws import error_code
from bgremove_api.dynamodb import CONDITION_FAILED, dynamodb_errors
from bgremove_api.exceptions import RateLimitedError, RateState
from bgremove_api.keys import ApiKey

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["SLOT_LIFETIME_S", "Permit", "RateLimiter", "RateState"]

logger = logging.getLogger(__name__)

API_MAX_REQUEST_S = 29
"""API Gateway's integration timeout for REST APIs: no request runs longer (the function's Timeout must not
exceed it by more than the margin below, or a still-running request could lose its slot)."""

SLOT_LIFETIME_S = API_MAX_REQUEST_S + 6
"""An unreleased in-flight slot is free again after this many seconds (29 s plus a margin for clock skew
between instances and for the release call itself)."""

WINDOW_RETENTION_S = 60
"""Rate windows stay readable this long after they close (for inspection) before TTL may delete them."""


class Permit:
    """An admitted request: holds one in-flight slot (``slot``; ``None`` for a request counted without one)
    until released (on leaving the ``with`` block).

    Releasing twice is harmless, and a failed release is logged, not raised: the slot then expires by itself.
    """

    def __init__(
        self, limiter: RateLimiter, key_id: str, slot: str | None, holder: str | None, state: RateState
    ) -> None:
        self.state = state
        self.key_id = key_id
        self.slot = slot
        self._limiter = limiter
        self._holder = holder
        self._released = False

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """Give the slot back, unless it expired and another request has claimed it since."""
        if self._released:
            return
        self._released = True
        if self.slot is not None and self._holder is not None:  # a request counted without a slot
            self._limiter._release(self.key_id, self.slot, self._holder)


class RateLimiter:
    """Admit or refuse requests per key (see the module docstring).

    Parameters
    ----------
    table_name
        The counters table (``RATE_LIMIT_TABLE``; the stack output ``RateLimitTableName``).
    dynamodb_client
        A boto3 DynamoDB client.
    clock
        Current Unix time in seconds; tests pass a fake to step through windows and slot expiry.
    slot_lifetime_s
        How long an unreleased in-flight slot stays taken.
    """

    def __init__(
        self,
        table_name: str,
        dynamodb_client: DynamoDBClient,
        *,
        clock: Callable[[], float] = time.time,
        slot_lifetime_s: int = SLOT_LIFETIME_S,
    ) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb_client
        self._clock = clock
        self.slot_lifetime_s = slot_lifetime_s

    def acquire(self, key: ApiKey, *, in_flight: bool = True) -> Permit:
        """Count one request against ``key``'s window and, with ``in_flight``, claim one of its slots.

        A request refused for want of a slot is taken off the window again: a refused request never counts.

        Raises
        ------
        RateLimitedError
            Over either limit; ``retry_after_s`` says when to retry, ``state`` has the window's numbers.
        ServiceUnavailableError
            DynamoDB is throttled or unreachable.
        """
        now = self._clock()
        state = self._count_request(key, now)
        if not in_flight:
            return Permit(self, key.key_id, None, None, state)
        try:
            slot, holder = self._claim_slot(key, now, state)
        except Exception:
            self._uncount_request(key, now)
            raise
        return Permit(self, key.key_id, slot, holder, state)

    # --- requests per second ------------------------------------------------------------------------------
    def _count_request(self, key: ApiKey, now: float) -> RateState:
        window = math.floor(now)
        reset = window + 1
        try:
            with dynamodb_errors("counting the request"):
                response = self._dynamodb.update_item(
                    TableName=self.table_name,
                    Key={"pk": {"S": f"rate#{key.key_id}"}, "sk": {"S": str(window)}},
                    UpdateExpression="ADD #count :one SET #expires = :expires",
                    ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                    ExpressionAttributeNames={"#count": "count", "#expires": "expires_at"},
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":limit": {"N": str(key.rate_per_second)},
                        ":expires": {"N": str(reset + WINDOW_RETENTION_S)},
                    },
                    ReturnValues="UPDATED_NEW",
                )
        except ClientError as error:
            if error_code(error) != CONDITION_FAILED:
                raise
            state = RateState(limit=key.rate_per_second, remaining=0, reset_epoch_s=reset)
            observability.count(observability.RATE_LIMITED, Reason="rate")
            raise RateLimitedError(max(1, math.ceil(reset - now)), state, "rate") from None
        count = int(response["Attributes"]["count"]["N"])
        return RateState(
            limit=key.rate_per_second, remaining=max(0, key.rate_per_second - count), reset_epoch_s=reset
        )

    def _uncount_request(self, key: ApiKey, now: float) -> None:
        # Best effort: a failure leaves the request counted, as it was before this existed.
        try:
            self._dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"rate#{key.key_id}"}, "sk": {"S": str(math.floor(now))}},
                UpdateExpression="ADD #count :minus_one",
                ConditionExpression="#count > :zero",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":minus_one": {"N": "-1"}, ":zero": {"N": "0"}},
            )
        except (ClientError, BotoCoreError) as error:
            logger.warning("a refused request of key %s stays counted: %s", key.key_id, error)

    # --- requests in flight -------------------------------------------------------------------------------
    def _claim_slot(self, key: ApiKey, now: float, state: RateState) -> tuple[str, str]:
        pk = f"inflight#{key.key_id}"
        with dynamodb_errors("reading the in-flight slots"):
            taken = self._dynamodb.query(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ProjectionExpression="sk, expires_at",
                ConsistentRead=True,
            )["Items"]
        live = {item["sk"]["S"] for item in taken if float(item["expires_at"]["N"]) >= now}
        free = [slot for slot in (_slot_name(n) for n in range(key.max_in_flight)) if slot not in live]
        random.shuffle(free)  # concurrent requests try different slots first
        holder = secrets.token_hex(8)
        for slot in free:
            try:
                with dynamodb_errors("claiming an in-flight slot"):
                    self._dynamodb.put_item(
                        TableName=self.table_name,
                        Item={
                            "pk": {"S": pk},
                            "sk": {"S": slot},
                            "holder": {"S": holder},
                            "expires_at": {"N": str(math.ceil(now + self.slot_lifetime_s))},
                        },
                        ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                        ExpressionAttributeValues={":now": {"N": repr(now)}},
                    )
            except ClientError as error:
                if error_code(error) != CONDITION_FAILED:
                    raise
                continue  # another request took it between our read and our write
            return slot, holder
        # Reported as the window will be once this refused request is taken off it (acquire does that).
        after = RateState(state.limit, min(state.limit, state.remaining + 1), state.reset_epoch_s)
        observability.count(observability.RATE_LIMITED, Reason="in_flight")
        raise RateLimitedError(1, after, "in_flight")

    def _release(self, key_id: str, slot: str, holder: str) -> None:
        try:
            self._dynamodb.delete_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"inflight#{key_id}"}, "sk": {"S": slot}},
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues={":holder": {"S": holder}},
            )
        except ClientError as error:
            if error_code(error) == CONDITION_FAILED:
                logger.warning("in-flight slot %s of key %s expired before release", slot, key_id)
            else:
                logger.warning("slot %s of key %s not released, expires by itself: %s", slot, key_id, error)
        except BotoCoreError as error:
            logger.warning("slot %s of key %s not released, expires by itself: %s", slot, key_id, error)


def _slot_name(number: int) -> str:
    return f"{number:03d}"
