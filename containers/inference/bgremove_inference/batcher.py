"""Dynamic batching: concurrent requests for one model are stacked and run in one call.

The first request of a batch waits at most ``max_wait`` for others to join, and a batch holds at most
``max_batch`` images, whichever comes first. One worker thread per model runs the batches, so a GPU sees
one batch at a time per model while the HTTP threads only wait. Each batch's size is counted
(:attr:`Batcher.batch_sizes`, shown by ``GET /stats``) so tests and operators see what really formed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

BatchRunner = Callable[[np.ndarray], Sequence[np.ndarray]]
"""``NxHxWx3`` uint8 pixels -> N mattes: one per image, in order."""


class OverloadedError(RuntimeError):
    """More requests are waiting for this model than the server's queue holds."""


@dataclass
class _Job:
    pixels: np.ndarray
    result: Future[np.ndarray] = field(default_factory=Future)


class Batcher:
    """Runs one model's requests in batches on a worker thread.

    Parameters
    ----------
    name
        The model's name (for logs).
    run
        Runs one batch (see :data:`BatchRunner`).
    max_batch
        Most images per batch.
    max_wait_s
        Longest a batch's first request waits for others.
    max_queue
        Requests allowed to wait; beyond, :meth:`submit` raises :class:`OverloadedError`.
    """

    def __init__(
        self, name: str, run: BatchRunner, *, max_batch: int, max_wait_s: float, max_queue: int
    ) -> None:
        self.name = name
        self._run = run
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self.batch_sizes: Counter[int] = Counter()
        self._busy_ms = 0.0
        self._worker = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._worker.start()

    def submit(self, pixels: np.ndarray, timeout_s: float) -> np.ndarray:
        """Queue one image (``HxWx3`` uint8) and wait for its matte.

        Raises
        ------
        OverloadedError
            The queue is full.
        TimeoutError
            No result within ``timeout_s``.
        Exception
            Whatever the runner raised for the batch.
        """
        job = _Job(pixels)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise OverloadedError(f"{self._queue.maxsize} requests already wait for {self.name}") from None
        return job.result.result(timeout=timeout_s)

    def waiting(self) -> int:
        """Requests queued and not yet taken into a batch."""
        return self._queue.qsize()

    def stats(self) -> dict[str, int]:
        """Batch size -> how many batches of that size ran (as text keys, ready for JSON)."""
        with self._lock:
            return {str(size): count for size, count in sorted(self.batch_sizes.items())}

    def busy_ms(self) -> float:
        """Milliseconds spent running batches so far (normalisation, the network, output mapping)."""
        with self._lock:
            return self._busy_ms

    def close(self) -> None:
        """Stop the worker once the requests already queued are done."""
        self._queue.put(None)
        self._worker.join(timeout=10)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self._max_wait_s
            stop = False
            while len(batch) < self._max_batch:
                remaining = deadline - time.monotonic()
                try:
                    job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            self._execute(batch)
            if stop:
                return

    def _execute(self, batch: list[_Job]) -> None:
        with self._lock:
            self.batch_sizes[len(batch)] += 1
        began = time.perf_counter()
        try:
            mattes = self._run(np.stack([job.pixels for job in batch]))
        except Exception as error:  # the model's failure is every request's answer
            for job in batch:
                job.result.set_exception(error)
            return
        for job, matte in zip(batch, mattes, strict=True):
            job.result.set_result(matte)
        took_ms = (time.perf_counter() - began) * 1000
        with self._lock:
            self._busy_ms += took_ms
        logger.debug("batch of %d for %s in %.1f ms", len(batch), self.name, took_ms)
