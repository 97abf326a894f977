"""How many more SQS records one invocation can take on before Lambda's timeout cuts it short."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools.utilities.typing import LambdaContext

from processor.exceptions import OutOfTimeError


class TimeBudget:
    """Stops taking records when the time left is below twice the slowest record so far (at least 10 s).

    A Lambda timeout fails every message of the batch, including those that succeeded, and counts a
    receive against each; giving back the records that cannot finish fails only them.

    Parameters
    ----------
    context
        The invocation's context, for the time left.
    """

    MINIMUM_RESERVE_MS = 10_000

    def __init__(self, context: LambdaContext) -> None:
        self._context = context
        self._slowest_ms = 0.0

    def check(self) -> None:
        """Raise :class:`OutOfTimeError` when another record might not finish in time."""
        reserve = max(self.MINIMUM_RESERVE_MS, 2 * self._slowest_ms)
        if self._context.get_remaining_time_in_millis() < reserve:
            raise OutOfTimeError(f"less than {reserve / 1000:.0f} s left in this invocation")

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
