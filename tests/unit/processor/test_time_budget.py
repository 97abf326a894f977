"""The time budget of one SQS batch, at both ends of the template's ``FunctionTimeout`` range (10-900 s).

No clock: the context says how much time is left, the records take no time.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from processor import budget as budget_module
from processor.budget import TimeBudget
from processor.exceptions import OutOfTimeError


class Context:
    """A Lambda context whose time left is whatever the test sets."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_shortest_timeout_takes_the_first_record() -> None:
    context = Context(9_990)  # FunctionTimeout's MinValue, a few ms gone before the handler runs
    budget = TimeBudget(context)  # type: ignore[arg-type]
    budget.check()  # no OutOfTimeError
    assert budget.floor_ms == 2_497.5  # a quarter of the batch's time, not 10 s


def test_the_shortest_timeout_gives_back_what_cannot_finish() -> None:
    context = Context(10_000)
    budget = TimeBudget(context)  # type: ignore[arg-type]
    with budget.next_record():
        context.remaining_ms = 2_400
    with pytest.raises(OutOfTimeError, match=r"less than 2\.5 s left"):
        budget.check()


@pytest.mark.parametrize("timeout_s", [10, 11, 20, 39, 40, 120, 900])
def test_the_first_record_is_always_taken(timeout_s: int) -> None:
    TimeBudget(Context(timeout_s * 1000 - 10)).check()  # type: ignore[arg-type]


def test_the_longest_timeout_keeps_ten_seconds_in_reserve() -> None:
    context = Context(900_000)
    budget = TimeBudget(context)  # type: ignore[arg-type]
    assert budget.floor_ms == TimeBudget.MINIMUM_RESERVE_MS == 10_000
    context.remaining_ms = 10_000
    budget.check()
    context.remaining_ms = 9_999
    with pytest.raises(OutOfTimeError, match=r"less than 10\.0 s left"):
        budget.check()


def test_twice_the_slowest_record_is_kept_when_it_is_more_than_the_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter([0.0, 30.0])  # perf_counter at the start and at the end of a record: it took 30 s
    monkeypatch.setattr(budget_module, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    context = Context(900_000)
    budget = TimeBudget(context)  # type: ignore[arg-type]
    with budget.measure():
        pass
    context.remaining_ms = 59_000
    with pytest.raises(OutOfTimeError):
        budget.check()
    context.remaining_ms = 60_000
    budget.check()
