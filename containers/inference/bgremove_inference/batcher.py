"""Triton's dynamic batcher: concurrent requests for one model are concatenated and run in one call.

A request carries its own batch of ``n`` rows (``[n, ...]`` on every input). A worker thread per model takes
the first waiting request, then waits at most ``max_queue_delay`` for more, until the rows reach
``max_batch_size`` (a request that would overflow the batch waits for the next one); it concatenates the
inputs along the batch dimension, runs the model once and gives each request its own rows of every output.
While a batch runs, new requests queue, so under load batches form even with no delay. Each execution is
counted by its batch size, as Triton's statistics extension counts them (``batch_stats``), so tests and
operators see what really formed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

Tensors = dict[str, np.ndarray]
BatchRunner = Callable[[Tensors], Tensors]
"""Inputs with a batch dimension -> outputs with the same batch dimension."""


@dataclass
class _Job:
    inputs: Tensors
    rows: int
    queued_ns: int = field(default_factory=time.perf_counter_ns)
    result: Future[Tensors] = field(default_factory=Future)


@dataclass
class BatchStats:
    """Per batch size: executions and nanoseconds spent in them; overall counts, as Triton reports them."""

    executions: Counter[int] = field(default_factory=Counter)
    compute_ns: Counter[int] = field(default_factory=Counter)
    inference_count: int = 0
    execution_count: int = 0
    queue_ns: int = 0
    success_count: int = 0
    failure_count: int = 0


class Batcher:
    """Runs one model's requests in batches on a worker thread.

    Parameters
    ----------
    name
        The model's name (for logs).
    run
        Runs one batch (see :data:`BatchRunner`).
    max_batch
        Most rows per execution (the config's ``max_batch_size``).
    max_wait_s
        Longest a batch's first request waits for others (``max_queue_delay_microseconds``).
    """

    def __init__(self, name: str, run: BatchRunner, *, max_batch: int, max_wait_s: float) -> None:
        self.name = name
        self._run = run
        self._max_batch = max(1, max_batch)
        self._max_wait_s = max_wait_s
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._carried: _Job | None = None  # taken from the queue but did not fit the last batch
        self._lock = threading.Lock()
        self._stats = BatchStats()
        self._worker = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._worker.start()

    def submit(self, inputs: Tensors, rows: int) -> Future[Tensors]:
        """Queue one request of ``rows`` rows; its future holds its outputs (or the batch's exception)."""
        job = _Job(inputs, rows)
        self._queue.put(job)
        return job.result

    def waiting(self) -> int:
        """Requests queued and not yet taken into a batch."""
        return self._queue.qsize() + (1 if self._carried is not None else 0)

    def stats(self) -> BatchStats:
        """A copy of the counts so far."""
        with self._lock:
            return BatchStats(
                Counter(self._stats.executions),
                Counter(self._stats.compute_ns),
                self._stats.inference_count,
                self._stats.execution_count,
                self._stats.queue_ns,
                self._stats.success_count,
                self._stats.failure_count,
            )

    def close(self) -> None:
        """Stop the worker once the requests already queued are done."""
        self._queue.put(None)
        self._worker.join(timeout=10)

    def _next(self, timeout: float | None) -> _Job | None:
        if self._carried is not None:
            job, self._carried = self._carried, None
            return job
        if timeout is None:
            return self._queue.get()
        return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()

    def _loop(self) -> None:
        while True:
            first = self._next(None)
            if first is None:
                return
            batch, rows = [first], first.rows
            deadline = time.monotonic() + self._max_wait_s
            stop = False
            while rows < self._max_batch:
                try:
                    job = self._next(deadline - time.monotonic())
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                if rows + job.rows > self._max_batch:
                    self._carried = job
                    break
                batch.append(job)
                rows += job.rows
            self._execute(batch, rows)
            if stop:
                return

    def _execute(self, batch: list[_Job], rows: int) -> None:
        began = time.perf_counter_ns()
        try:
            names = batch[0].inputs.keys()
            inputs = (
                batch[0].inputs
                if len(batch) == 1
                else {name: np.concatenate([job.inputs[name] for job in batch]) for name in names}
            )
            outputs = self._run(inputs)
            for name, value in outputs.items():
                if len(value) != rows:
                    raise RuntimeError(f"output {name!r} has {len(value)} rows for a batch of {rows}")
        except Exception as error:  # the model's failure is every request's answer
            with self._lock:
                self._stats.failure_count += len(batch)
            for job in batch:
                job.result.set_exception(error)
            return
        took = time.perf_counter_ns() - began
        with self._lock:
            self._stats.executions[rows] += 1
            self._stats.compute_ns[rows] += took
            self._stats.inference_count += rows
            self._stats.execution_count += 1
            self._stats.success_count += len(batch)
            self._stats.queue_ns += sum(began - job.queued_ns for job in batch)
        start = 0
        for job in batch:
            job.result.set_result({name: value[start : start + job.rows] for name, value in outputs.items()})
            start += job.rows
        logger.debug("batch of %d for %s in %.1f ms", rows, self.name, took / 1e6)
