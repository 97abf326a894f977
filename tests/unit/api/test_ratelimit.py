"""Per-key rate limits (bgremove_api.ratelimit) on moto: requests per second, requests in flight, under
concurrency.

The clock is a fake the tests move by hand, so windows and slot expiry are exact; DynamoDB's conditional
writes are the real thing (moto's), and concurrent requests are real threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bgremove_api.exceptions import RateLimitedError, ServiceUnavailableError
from bgremove_api.keys import ApiKey
from bgremove_api.ratelimit import SLOT_LIFETIME_S, Permit, RateLimiter
from bgremove_local.template import Template
from tests.api_tables import create_table, make_moto_dynamodb_atomic

TABLE = "test-rate-limits"
T0 = 1_800_000_000.25  # a quarter into a window


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def key(rate: int = 1000, in_flight: int = 100, key_id: str = "0123456789ab") -> ApiKey:
    return ApiKey(key_id, f"key-{key_id}", "2026-11-28T00:00:00+00:00", False, rate, in_flight)


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    make_moto_dynamodb_atomic(monkeypatch)  # DynamoDB's atomic conditional writes (see there)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "RateLimitTable", TABLE)
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(dynamodb: Any, clock: Clock) -> RateLimiter:
    return RateLimiter(TABLE, dynamodb, clock=clock)


def slots(dynamodb: Any, key_id: str = "0123456789ab") -> list[dict[str, Any]]:
    return dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"inflight#{key_id}"}},
        ConsistentRead=True,
    )["Items"]


# --- requests per second ------------------------------------------------------------------------------------
def test_rate_limit_counts_down_and_refuses(limiter: RateLimiter) -> None:
    k = key(rate=3)
    states = []
    for _ in range(3):
        with limiter.acquire(k) as permit:
            states.append(permit.state)
    reset = int(T0) + 1
    assert [(s.limit, s.remaining, s.reset_epoch_s) for s in states] == [
        (3, 2, reset),
        (3, 1, reset),
        (3, 0, reset),
    ]
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(k)
    error = caught.value
    assert (error.code, error.http_status, error.reason) == ("RATE_LIMITED", 429, "rate")
    assert error.retry_after_s == 1
    assert (error.state.limit, error.state.remaining, error.state.reset_epoch_s) == (3, 0, reset)


def test_window_resets_on_the_next_second(limiter: RateLimiter, clock: Clock) -> None:
    k = key(rate=2)
    for _ in range(2):
        limiter.acquire(k).release()
    with pytest.raises(RateLimitedError):
        limiter.acquire(k)
    clock.now = int(T0) + 0.999
    with pytest.raises(RateLimitedError):
        limiter.acquire(k)  # same window
    clock.now = int(T0) + 1.0
    with limiter.acquire(k) as permit:
        assert permit.state.remaining == 1
        assert permit.state.reset_epoch_s == int(T0) + 2


def test_refused_requests_do_not_count(limiter: RateLimiter, clock: Clock, dynamodb: Any) -> None:
    k = key(rate=2)
    for _ in range(2):
        limiter.acquire(k).release()
    for _ in range(5):
        with pytest.raises(RateLimitedError):
            limiter.acquire(k)
    item = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"rate#{k.key_id}"}, "sk": {"S": str(int(T0))}}
    )
    assert item["Item"]["count"]["N"] == "2"


def test_keys_are_limited_separately(limiter: RateLimiter) -> None:
    a, b = key(rate=1, key_id="aaaaaaaaaaaa"), key(rate=1, key_id="bbbbbbbbbbbb")
    limiter.acquire(a).release()
    with pytest.raises(RateLimitedError):
        limiter.acquire(a)
    limiter.acquire(b).release()


def test_counter_items_carry_a_ttl(limiter: RateLimiter, dynamodb: Any) -> None:
    permit = limiter.acquire(key())
    items = dynamodb.scan(TableName=TABLE)["Items"]
    assert {i["pk"]["S"].split("#")[0] for i in items} == {"rate", "inflight"}
    expiries = {i["pk"]["S"].split("#")[0]: int(i["expires_at"]["N"]) for i in items}
    assert int(T0) + 1 < expiries["rate"] <= int(T0) + 120
    assert T0 + SLOT_LIFETIME_S <= expiries["inflight"] <= T0 + SLOT_LIFETIME_S + 1
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    permit.release()


def run_concurrently(n: int, task: Callable[[int], Any]) -> list[Any]:
    """Run ``task(i)`` for i < n on n threads released together; returns results or raised exceptions."""
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait(timeout=30)
        try:
            return task(i)
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.mark.parametrize("rate", [1, 5, 12])
def test_concurrent_requests_never_exceed_the_rate(limiter: RateLimiter, rate: int) -> None:
    k = key(rate=rate)

    def request(_: int) -> Permit:
        permit = limiter.acquire(k)
        permit.release()
        return permit

    results = run_concurrently(30, request)
    admitted = [r for r in results if isinstance(r, Permit)]
    refused = [r for r in results if isinstance(r, RateLimitedError)]
    assert len(admitted) == rate
    assert len(refused) == 30 - rate
    assert sorted(p.state.remaining for p in admitted) == list(range(rate))  # each count handed out once
    assert all(r.reason == "rate" and r.retry_after_s == 1 for r in refused)


def test_two_instances_share_the_limit(dynamodb: Any, clock: Clock) -> None:
    """Two limiters (two function instances) with their own clients still count into one window."""
    other = boto3.client("dynamodb", region_name="us-east-1")
    instances = [RateLimiter(TABLE, dynamodb, clock=clock), RateLimiter(TABLE, other, clock=clock)]
    k = key(rate=6)
    results = run_concurrently(20, lambda i: instances[i % 2].acquire(k))
    assert sum(isinstance(r, Permit) for r in results) == 6
    for r in results:
        if isinstance(r, Permit):
            r.release()


# --- requests in flight -------------------------------------------------------------------------------------
def test_in_flight_limit(limiter: RateLimiter, dynamodb: Any) -> None:
    k = key(in_flight=3)
    held = [limiter.acquire(k) for _ in range(3)]
    assert sorted(p.slot for p in held) == ["000", "001", "002"]
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(k)
    assert (caught.value.reason, caught.value.retry_after_s, caught.value.http_status) == (
        "in_flight",
        1,
        429,
    )
    held.pop().release()
    held.append(limiter.acquire(k))
    for permit in held:
        permit.release()
    assert slots(dynamodb) == []


def test_permit_releases_when_the_request_fails(limiter: RateLimiter, dynamodb: Any) -> None:
    k = key(in_flight=1)
    with pytest.raises(RuntimeError), limiter.acquire(k):
        raise RuntimeError("the request failed")
    assert slots(dynamodb) == []
    limiter.acquire(k).release()


def test_release_twice_is_harmless(limiter: RateLimiter, dynamodb: Any) -> None:
    k = key(in_flight=1)
    first = limiter.acquire(k)
    first.release()
    second = limiter.acquire(k)
    first.release()  # must not free the slot `second` now holds
    with pytest.raises(RateLimitedError):
        limiter.acquire(k)
    second.release()


def test_concurrent_requests_never_exceed_in_flight(limiter: RateLimiter, dynamodb: Any) -> None:
    k = key(in_flight=4)
    results = run_concurrently(16, lambda _: limiter.acquire(k))
    admitted = [r for r in results if isinstance(r, Permit)]
    refused = [r for r in results if isinstance(r, RateLimitedError)]
    assert len(admitted) == 4
    assert len(refused) == 12
    assert all(r.reason == "in_flight" for r in refused)
    assert len({p.slot for p in admitted}) == 4
    assert len(slots(dynamodb)) == 4
    run_concurrently(4, lambda i: admitted[i].release())
    assert slots(dynamodb) == []  # nothing leaks


def test_many_rounds_of_concurrent_requests_leak_no_slot(limiter: RateLimiter, dynamodb: Any) -> None:
    k = key(in_flight=3)
    admitted_per_round = []
    for _ in range(5):

        def request(_: int) -> bool:
            with limiter.acquire(k):
                return True

        results = run_concurrently(8, request)
        admitted_per_round.append(sum(r is True for r in results))
        assert slots(dynamodb) == []
    assert all(1 <= n <= 8 for n in admitted_per_round)
    assert sum(admitted_per_round) >= 5 * 3  # each round admits at least as many as fit at once


def test_slot_of_a_dead_instance_expires(limiter: RateLimiter, clock: Clock) -> None:
    k = key(in_flight=2)
    limiter.acquire(k)  # never released: the instance died mid-request
    limiter.acquire(k)
    clock.now = T0 + SLOT_LIFETIME_S - 1
    with pytest.raises(RateLimitedError):
        limiter.acquire(k)
    clock.now = T0 + SLOT_LIFETIME_S + 1
    revived = [limiter.acquire(k), limiter.acquire(k)]
    with pytest.raises(RateLimitedError):
        limiter.acquire(k)
    for permit in revived:
        permit.release()


def test_slot_lifetime_outlasts_the_longest_request() -> None:
    # A slot must not expire while its request can still run: the function's own timeout bounds that.
    template = Template(Path(__file__).resolve().parents[3] / "template.yaml", "http://127.0.0.1:1")
    timeout_s = int(template.properties("ApiFunction")["Timeout"])
    assert timeout_s < SLOT_LIFETIME_S


def test_late_release_does_not_free_a_reclaimed_slot(limiter: RateLimiter, clock: Clock) -> None:
    k = key(in_flight=1)
    slow = limiter.acquire(k)
    clock.now = T0 + SLOT_LIFETIME_S + 1
    fresh = limiter.acquire(k)  # the slow request's slot has expired and is taken over
    assert fresh.slot == slow.slot
    slow.release()  # the slow request finally ends
    with pytest.raises(RateLimitedError):
        limiter.acquire(k)  # `fresh` still holds it
    fresh.release()
    limiter.acquire(k).release()


# --- AWS failures -------------------------------------------------------------------------------------------
class _FailingClient:
    """Counts requests fine, but every other call fails with ``code``."""

    def __init__(self, real: Any, code: str, fail: set[str]) -> None:
        self._real = real
        self._code = code
        self._fail = fail

    def __getattr__(self, name: str) -> Any:
        if name in self._fail:

            def fail(**_: object) -> Any:
                raise ClientError({"Error": {"Code": self._code, "Message": "x"}}, name)

            return fail
        return getattr(self._real, name)


def test_throttled_counters_are_a_clean_503(dynamodb: Any, clock: Clock) -> None:
    failing = _FailingClient(dynamodb, "ThrottlingException", {"update_item"})
    with pytest.raises(ServiceUnavailableError):
        RateLimiter(TABLE, failing, clock=clock).acquire(key())  # type: ignore[arg-type]


def test_failed_release_is_logged_not_raised(
    dynamodb: Any, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    failing = _FailingClient(dynamodb, "InternalServerError", {"delete_item"})
    limiter = RateLimiter(TABLE, failing, clock=clock)  # type: ignore[arg-type]
    with limiter.acquire(key(in_flight=1)):
        pass
    assert "expires by itself" in caplog.text
    clock.now = T0 + SLOT_LIFETIME_S + 1
    RateLimiter(TABLE, dynamodb, clock=clock).acquire(key(in_flight=1)).release()
