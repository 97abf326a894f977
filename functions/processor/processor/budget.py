"""How many more SQS records one invocation can take on before Lambda's timeout cuts it short."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools.utilities.typing import LambdaContext

from processor.exceptions import OutOfTimeError


class TimeBudget:
    """Stops taking records when the time left is below twice the slowest record so far, or a floor.

    A Lambda timeout fails every message of the batch, including those that succeeded, and counts a
    receive against each; giving back the records that cannot finish fails only them.

    The floor is 10 s (:attr:`MINIMUM_RESERVE_MS`), but never more than a quarter of the time the
    invocation had when the budget was made (:attr:`RESERVE_FRACTION`): the function's timeout may be as
    short as 10 s (the template's minimum), and a fixed 10 s floor would then refuse every record, each
    of which would go to the dead-letter queue without ever being tried. Lambda does not tell a function
    its configured timeout, but at the start of the batch the time left is that timeout, so the first
    record is always taken. From 40 s up the floor is the full 10 s.

    Parameters
    ----------
    context
        The invocation's context, for the time left; read once here, at the start of the batch.
    """

    MINIMUM_RESERVE_MS = 10_000
    RESERVE_FRACTION = 0.25

    def __init__(self, context: LambdaContext) -> None:
        self._context = context
        self._slowest_ms = 0.0
        available = context.get_remaining_time_in_millis()
        self._floor_ms = min(self.MINIMUM_RESERVE_MS, self.RESERVE_FRACTION * available)

    @property
    def floor_ms(self) -> float:
        """The least time kept in reserve, whatever the records took."""
        return self._floor_ms

    def check(self) -> None:
        """Raise :class:`OutOfTimeError` when another record might not finish in time."""
        reserve = max(self._floor_ms, 2 * self._slowest_ms)
        if self._context.get_remaining_time_in_millis() < reserve:
            raise OutOfTimeError(f"less than {reserve / 1000:.1f} s left in this invocation")

    @contextmanager
    def next_record(self) -> Iterator[None]:
        """:meth:`check` the time left, then :meth:`measure` the record processed in the block."""
        self.check()
        with self.measure():
            yield

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Time one record, successful or not."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._slowest_ms = max(self._slowest_ms, (time.perf_counter() - started) * 1000)
