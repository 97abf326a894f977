"""Dynamic batching in the inference server: which batches form from concurrent requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bgremove_inference.batcher import Batcher, OverloadedError

WAIT_LIMIT_S = 30


class GatedRunner:
    """Runs batches only once ``gate`` is open; records each batch's size; answers each image's mean."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.sizes: list[int] = []
        self.error: Exception | None = None

    def __call__(self, pixels: np.ndarray) -> Sequence[np.ndarray]:
        assert self.gate.wait(WAIT_LIMIT_S)
        self.sizes.append(len(pixels))
        if self.error is not None:
            raise self.error
        return [np.full((2, 2), image.mean(), np.float32) for image in pixels]


def _image(value: int) -> np.ndarray:
    return np.full((4, 4, 3), value, np.uint8)


def _wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_concurrent_requests_are_stacked_up_to_max_batch() -> None:
    runner = GatedRunner()
    batcher = Batcher("m", runner, max_batch=4, max_wait_s=0.05, max_queue=64)
    with ThreadPoolExecutor(11) as pool:
        first = pool.submit(batcher.submit, _image(0), WAIT_LIMIT_S)  # taken alone, held at the gate
        _wait_until(lambda: batcher.waiting() == 0 and not first.done(), "first request taken")
        time.sleep(0.1)  # past max_wait: the first batch is closed with one image
        rest = [pool.submit(batcher.submit, _image(v), WAIT_LIMIT_S) for v in range(1, 11)]
        _wait_until(lambda: batcher.waiting() == 10, "ten requests queued")
        runner.gate.set()
        results = [first.result(), *(f.result() for f in rest)]
    batcher.close()

    assert runner.sizes == [1, 4, 4, 2]
    assert batcher.stats() == {"1": 1, "2": 1, "4": 2}
    # every request got its own image's answer back, whatever batch it rode in
    assert [float(r[0, 0]) for r in results] == [float(v) for v in range(11)]


def test_a_lone_request_does_not_wait_for_a_full_batch() -> None:
    runner = GatedRunner()
    runner.gate.set()
    batcher = Batcher("m", runner, max_batch=32, max_wait_s=0.01, max_queue=8)
    result = batcher.submit(_image(7), WAIT_LIMIT_S)
    batcher.close()
    assert runner.sizes == [1]
    assert float(result[0, 0]) == 7.0


def test_a_failed_batch_fails_each_of_its_requests() -> None:
    runner = GatedRunner()
    runner.error = RuntimeError("CUDA out of memory")
    batcher = Batcher("m", runner, max_batch=4, max_wait_s=0.2, max_queue=8)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(batcher.submit, _image(v), WAIT_LIMIT_S) for v in range(3)]
        _wait_until(lambda: batcher.waiting() == 0, "requests taken")
        runner.gate.set()
        for future in futures:
            with pytest.raises(RuntimeError, match="out of memory"):
                future.result()
    batcher.close()
    assert sum(runner.sizes) == 3


def test_a_full_queue_is_refused_at_once() -> None:
    runner = GatedRunner()
    batcher = Batcher("m", runner, max_batch=1, max_wait_s=0, max_queue=1)
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(batcher.submit, _image(1), WAIT_LIMIT_S)
        _wait_until(lambda: batcher.waiting() == 0, "first request taken")
        queued = pool.submit(batcher.submit, _image(2), WAIT_LIMIT_S)
        _wait_until(lambda: batcher.waiting() == 1, "second request queued")
        with pytest.raises(OverloadedError):
            batcher.submit(_image(3), WAIT_LIMIT_S)
        runner.gate.set()
        assert float(running.result()[0, 0]) == 1.0
        assert float(queued.result()[0, 0]) == 2.0
    batcher.close()


def test_on_cuda_u2net_is_served_from_its_fp32_file(tmp_path):
    """The quantised u2net runs QLinearConv, which CUDA lacks: a GPU serves the fp32 file when it has it."""
    from bgremove.models import U2NET, U2NET_FP32
    from bgremove_inference.server import _builtin_specs

    cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    by_name = {spec.name: spec for spec in _builtin_specs(tmp_path, cuda)}
    assert by_name["u2net"] is U2NET  # no fp32 file in the model data: the quantised one, still served
    (tmp_path / U2NET_FP32.source).write_bytes(b"")
    by_name = {spec.name: spec for spec in _builtin_specs(tmp_path, cuda)}
    assert by_name["u2net"] is U2NET_FP32
    assert {spec.name: spec for spec in _builtin_specs(tmp_path, ["CPUExecutionProvider"])}["u2net"] is U2NET
