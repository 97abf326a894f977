"""A long-lived benchmark process holding one engine and model; the parent drives it over a pipe.

Each (engine, model) runs in its own process so two never share a thread pool, an allocator or imports, and
the parent can interleave them call by call (ours, rembg, ours, rembg...).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import _netguard
from _common import Timer, bench_env, make_remover


@dataclass(frozen=True)
class WorkerSpec:
    engine: str
    model: str
    threads: int
    inputs: dict[str, Path]
    cpus: tuple[int, ...] | None = None  # pin the process (and its threads) to these CPUs, as `taskset` does
    warm_input: str | None = None


def _serve(spec: WorkerSpec, conn: Connection) -> None:
    os.environ.update(bench_env())
    _netguard.install()
    if spec.cpus is not None:
        os.sched_setaffinity(0, set(spec.cpus))
    data = {key: path.read_bytes() for key, path in spec.inputs.items()}
    began = time.perf_counter()
    remover = make_remover(spec.engine, spec.threads, spec.model)
    if spec.warm_input:
        remover.process(data[spec.warm_input], "png")
    conn.send({"ready": True, "init_s": time.perf_counter() - began, "pid": os.getpid()})
    while True:
        command = conn.recv()
        kind = command[0]
        if kind == "stop":
            break
        if kind == "run":
            _, key, fmt, *more = command  # more: option values for ours (rembg has none), e.g. decontaminate
            with Timer() as timer:
                out, stages = remover.process(data[key], fmt, *more)
            conn.send(
                {"wall_s": timer.wall_s, "cpu_s": timer.cpu_s, "out_bytes": len(out), "stages_ms": stages}
            )
        elif kind == "batch":
            _, key, fmt, count = command
            start = time.monotonic()
            walls = []
            for _ in range(count):
                with Timer() as timer:
                    remover.process(data[key], fmt)
                walls.append(timer.wall_s)
            conn.send({"start": start, "end": time.monotonic(), "walls": walls})
    conn.close()


class Worker:
    """Parent-side handle of one engine process."""

    def __init__(self, spec: WorkerSpec) -> None:
        context = mp.get_context("spawn")
        self.spec = spec
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(spec, child), daemon=True)
        self._process.start()
        child.close()
        self.info: dict[str, Any] = {}

    def wait_ready(self) -> dict[str, Any]:
        self.info = self._conn.recv()
        return self.info

    def send(self, *command: Any) -> None:
        self._conn.send(command)

    def receive(self) -> dict[str, Any]:
        reply: dict[str, Any] = self._conn.recv()
        return reply

    def call(self, *command: Any) -> dict[str, Any]:
        self.send(*command)
        return self.receive()

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send(("stop",))
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()


def start_workers(specs: list[WorkerSpec]) -> list[Worker]:
    """Start the processes together (their imports overlap) and wait until each has warmed up."""
    workers = [Worker(spec) for spec in specs]
    for worker in workers:
        worker.wait_ready()
    return workers
