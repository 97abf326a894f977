"""What every fuzz target shares: the error codes it may see, the memory bound, crash and hang records.

Memory. The bound is on the growth of the process's peak resident set during one example, measured by
resetting the kernel's high-water mark (``echo 5 > /proc/self/clear_refs``, Linux >= 4.0) before the example
and reading ``VmHWM`` after it. That sees every allocation, Pillow's and libheif's C heaps included (which
``tracemalloc`` does not), costs two small reads of ``/proc``, and changes nothing for the code under test
(it also resets ``ru_maxrss``, which no other test reads; the benchmark measures memory in processes of its
own). The alternatives were worse: ``RLIMIT_AS`` caps *virtual* memory, which thread stacks and allocator
arenas inflate, it would also apply to every other test in the ``make test`` process, and it turns a bomb
into a ``MemoryError`` that the engine reports as ``INTERNAL_ERROR`` without saying how much was asked for;
``ru_maxrss`` only ever grows, so after one large image in an earlier test it hides every later peak. Where
``clear_refs`` cannot be written, the probe falls back to the growth of ``ru_maxrss`` (weaker, never wrong).

Inputs are at most a few KB and may declare up to the 32 MP decode limit, so a legitimate example can
allocate a 32 MP canvas in several modes (about 0.6 GB for a 32 MP float TIFF). The bound, 1.5 GiB of
growth, sits above that and far below what a real decompression bomb takes.

Crashes and hangs. A segfault in a C decoder or a loop that never returns to Python cannot be caught by
hypothesis. Under ``make fuzz`` (``FUZZ_WORKDIR`` set) each example first writes its input to
``inflight.bin`` and arms :func:`faulthandler.dump_traceback_later` as a watchdog; the runner
(:mod:`tests.fuzz.run`) reports the in-flight input when the process dies.
"""

from __future__ import annotations

import faulthandler
import json
import os
import re
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bgremove import InputError

T = TypeVar("T")

# The InputError codes of docs/s3-pipeline.md's error table that the engine itself raises. ``INVALID_INPUT``
# (the base class's own code) and ``INTERNAL_ERROR`` are never acceptable outcomes.
ENGINE_INPUT_CODES = frozenset(
    {
        "EMPTY_INPUT",
        "NOT_AN_IMAGE",
        "UNSUPPORTED_FORMAT",
        "CORRUPT_IMAGE",
        "IMAGE_TOO_LARGE",
        "INVALID_OPTION",
    }
)

MEMORY_LIMIT_BYTES = 1536 * 1024 * 1024
HANG_SECONDS = 60.0
"""Under ``make fuzz``, an example still running after this long kills the process (reported as a hang)."""

WORKDIR = Path(os.environ["FUZZ_WORKDIR"]) if os.environ.get("FUZZ_WORKDIR") else None


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") > 0


_RESET_PEAK = sys.platform == "linux" and _can_reset_peak()


class PeakMemory:
    """Growth of the peak resident set over a ``with`` block, in bytes (see the module docstring)."""

    def __enter__(self) -> PeakMemory:
        if _RESET_PEAK:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
                clear.write("5")
            self._before = _status_kib("VmRSS") * 1024
        else:
            self._before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.growth = 0
        return self

    def __exit__(self, *exc: object) -> None:
        if _RESET_PEAK:
            peak = _status_kib("VmHWM") * 1024
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.growth = max(0, peak - self._before)


def record_inflight(target: str, data: bytes) -> None:
    """Under ``make fuzz``: leave the input where the runner finds it if this process dies on it."""
    if WORKDIR is None:
        return
    (WORKDIR / "inflight.bin").write_bytes(data)
    (WORKDIR / "inflight.json").write_text(json.dumps({"target": target, "size": len(data)}))


def bounded(target: str, data: bytes, call: Callable[[], T]) -> T | InputError:
    """Run ``call`` on ``data``: its result, or the :class:`InputError` it raised; anything else propagates.

    Asserts the memory bound and that an :class:`InputError` carries one of :data:`ENGINE_INPUT_CODES`.
    """
    record_inflight(target, data)
    if WORKDIR is not None:
        faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    outcome: T | InputError
    try:
        with PeakMemory() as memory:
            try:
                outcome = call()
            except InputError as error:
                outcome = error
    finally:
        if WORKDIR is not None:
            faulthandler.cancel_dump_traceback_later()
    assert memory.growth <= MEMORY_LIMIT_BYTES, (
        f"peak resident memory grew by {memory.growth / 2**20:.0f} MiB on a {len(data)}-byte input "
        f"(bound {MEMORY_LIMIT_BYTES / 2**20:.0f} MiB)"
    )
    if isinstance(outcome, InputError):
        assert type(outcome).code in ENGINE_INPUT_CODES, f"unknown input error code {outcome.code!r}"
    return outcome


def reproducer(data: bytes, limit: int = 8192) -> str:
    """The input as hex for a failing example's report (cut at ``limit`` bytes, with its length)."""
    shown = data[:limit].hex()
    return f"{len(data)} bytes: {shown}" + (" ..." if len(data) > limit else "")
