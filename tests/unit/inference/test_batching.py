"""The stand-in's dynamic batching (Triton's): which executions form from concurrent requests, and each
request getting its own rows back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from bgremove_inference.batcher import Batcher, Tensors

WAIT_LIMIT_S = 30


class GatedRunner:
    """Runs batches only once ``gate`` is open; records each batch's size; answers each row's mean."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.sizes: list[int] = []
        self.error: Exception | None = None

    def __call__(self, inputs: Tensors) -> Tensors:
        assert self.gate.wait(WAIT_LIMIT_S)
        pixels = inputs["IMAGE"]
        self.sizes.append(len(pixels))
        if self.error is not None:
            raise self.error
        return {"MATTE": pixels.reshape(len(pixels), -1).mean(axis=1, dtype=np.float32)}


def _request(*values: int) -> Tensors:
    return {"IMAGE": np.stack([np.full((4, 4, 3), v, np.uint8) for v in values])}


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_concurrent_requests_are_concatenated_up_to_max_batch_size() -> None:
    runner = GatedRunner()
    batcher = Batcher("m", runner, max_batch=4, max_wait_s=0.05)
    first = batcher.submit(_request(0), 1)  # taken alone, held at the gate
    _wait_until(lambda: batcher.waiting() == 0, "first request taken")
    time.sleep(0.1)  # past the queue delay: the first batch is closed with one row
    rest = [batcher.submit(_request(v), 1) for v in range(1, 11)]
    _wait_until(lambda: batcher.waiting() == 10, "ten requests queued")
    runner.gate.set()
    results = [first.result(WAIT_LIMIT_S), *(f.result(WAIT_LIMIT_S) for f in rest)]
    stats = batcher.stats()
    batcher.close()

    assert runner.sizes == [1, 4, 4, 2]
    assert dict(stats.executions) == {1: 1, 4: 2, 2: 1}
    assert stats.inference_count == 11 and stats.execution_count == 4
    # every request got its own rows back, whatever batch it rode in
    assert [float(r["MATTE"][0]) for r in results] == [float(v) for v in range(11)]


def test_a_request_that_would_overflow_the_batch_waits_for_the_next() -> None:
    runner = GatedRunner()
    batcher = Batcher("m", runner, max_batch=4, max_wait_s=0.05)
    held = batcher.submit(_request(9), 1)
    _wait_until(lambda: batcher.waiting() == 0, "first request taken")
    time.sleep(0.1)
    three = batcher.submit(_request(1, 2, 3), 3)
    two = batcher.submit(_request(4, 5), 2)  # 3 + 2 > 4: the next execution
    one = batcher.submit(_request(6), 1)
    _wait_until(lambda: batcher.waiting() == 3, "three requests queued")
    runner.gate.set()
    assert held.result(WAIT_LIMIT_S)["MATTE"].tolist() == [9.0]
    assert three.result(WAIT_LIMIT_S)["MATTE"].tolist() == [1.0, 2.0, 3.0]
    assert two.result(WAIT_LIMIT_S)["MATTE"].tolist() == [4.0, 5.0]
    assert one.result(WAIT_LIMIT_S)["MATTE"].tolist() == [6.0]
    batcher.close()
    assert runner.sizes == [1, 3, 3]


def test_a_lone_request_does_not_wait_for_a_full_batch() -> None:
    runner = GatedRunner()
    runner.gate.set()
    batcher = Batcher("m", runner, max_batch=32, max_wait_s=0.01)
    result = batcher.submit(_request(7), 1).result(WAIT_LIMIT_S)
    batcher.close()
    assert runner.sizes == [1]
    assert float(result["MATTE"][0]) == 7.0


def test_a_failed_batch_fails_each_of_its_requests() -> None:
    runner = GatedRunner()
    runner.error = RuntimeError("CUDA out of memory")
    batcher = Batcher("m", runner, max_batch=4, max_wait_s=0.2)
    futures = [batcher.submit(_request(v), 1) for v in range(3)]
    _wait_until(lambda: batcher.waiting() == 0, "requests taken")
    runner.gate.set()
    for future in futures:
        with pytest.raises(RuntimeError, match="out of memory"):
            future.result(WAIT_LIMIT_S)
    stats = batcher.stats()
    batcher.close()
    assert sum(runner.sizes) == 3
    assert stats.failure_count == 3 and stats.execution_count == 0
