"""Hypothesis profiles for the fuzz targets, and the bookkeeping ``make fuzz`` reads.

Profiles (``HYPOTHESIS_PROFILE``; ``ci`` when unset):

``ci``
    What ``make test`` runs: a few examples per target, derandomized (the same examples on every run, so a
    red CI is reproducible and never flaky), no example database (nothing written to the work tree).
``fuzz``
    What ``make fuzz`` runs (see :mod:`tests.fuzz.run`): unlimited examples, random seed. Hypothesis has no
    time budget of its own, so each target gets a time slice instead: its share of the remaining time
    (image targets three shares, the others one), checked after every example. When the slice is used up
    the target stops with ``pytest.skip`` (the one exception hypothesis re-raises at once, without treating
    it as a failure) and the targets still to run share the time left; a target that has failed keeps
    running until hypothesis has shrunk its example. Examples per target, outcomes and findings go to
    ``$FUZZ_WORKDIR`` for the runner.

Both profiles have a 10 s ``deadline`` per example. Inputs are a few KB, but one may legitimately declare
a canvas just under the 32 MP decode limit (a GIF screen, an AVIF ``ispe`` box): decoding and downscaling
that took up to 3.6 s here (2-core machine, idle), so 10 s leaves room for a loaded CI machine, while an
input that makes a decoder crawl still fails. A decoder that never returns cannot be caught by a deadline;
under ``make fuzz`` a watchdog handles it (:mod:`tests.fuzz.harness`).
"""

from __future__ import annotations

import functools
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import StopTest, UnsatisfiedAssumption

from tests.fuzz.harness import WORKDIR

DEADLINE_MS = 10_000
CI_EXAMPLES = 40

_COMMON: dict[str, Any] = {
    "deadline": DEADLINE_MS,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=True, **_COMMON)
settings.register_profile("fuzz", max_examples=10**9, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO_ROOT = Path(__file__).resolve().parents[2]
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    # Hypothesis caches literals it finds in the code; keep that with pytest's cache (git-ignored, and
    # removed by `make clean`) rather than in a new .hypothesis/ folder at the repository root.
    set_hypothesis_home_dir(REPO_ROOT / ".pytest_cache" / "hypothesis")
PROJECT_DIRS = (REPO_ROOT / "layers", REPO_ROOT / "functions", REPO_ROOT / "local")
FUZZ_DEADLINE = float(os.environ.get("FUZZ_DEADLINE", "0")) or None
"""Epoch seconds at which ``make fuzz`` ends (set by the runner; unset under ``make test``)."""
SHRINK_GRACE_S = 120.0
"""After the deadline, a target that is shrinking a finding gets this long before the session stops."""

# ------------------------------------------------------------------------------------ time slices, counts


class _Current:
    nodeid: str | None = None
    slice_end = float("inf")
    failing = False


def _weight(nodeid: str) -> int:
    """Share of the fuzz time: the image targets (most code, slowest examples) get three shares."""
    return 3 if "test_fuzz_images.py" in nodeid else 1


_stats: dict[str, dict[str, Any]] = {}
_pending: list[str] = []
_last_flush = 0.0


def _flush(*, finished: bool = False) -> None:
    global _last_flush  # noqa: PLW0603 - one writer per process
    if WORKDIR is None:
        return
    _last_flush = time.monotonic()
    path = WORKDIR / "stats.json"
    state = {"finished": finished, "running": _Current.nodeid, "targets": _stats}
    path.with_suffix(".tmp").write_text(json.dumps(state, indent=1))
    path.with_suffix(".tmp").replace(path)


def _counted(inner: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(inner)
    def example(*args: Any, **kwargs: Any) -> Any:
        nodeid = _Current.nodeid
        if nodeid is None:
            return inner(*args, **kwargs)
        _stats[nodeid]["examples"] += 1
        if FUZZ_DEADLINE is not None and time.time() > FUZZ_DEADLINE + SHRINK_GRACE_S:
            raise KeyboardInterrupt("fuzz deadline (and shrinking grace) passed")
        started = time.monotonic()
        try:
            result = inner(*args, **kwargs)
        except (StopTest, UnsatisfiedAssumption):
            raise
        except BaseException:
            _Current.failing = True  # hypothesis shrinks it next: never cut that short
            raise
        finally:
            if time.monotonic() - started > DEADLINE_MS / 1000 * 0.8:
                _Current.failing = True  # a deadline failure is shrinking too
        if FUZZ_DEADLINE is not None:
            if time.monotonic() - _last_flush > 5:
                _flush()
            # Only after a complete example: a skip before the test's own draws would end this example
            # earlier than an identical prefix did before, which hypothesis reports as flaky generation.
            if not _Current.failing and time.monotonic() > _Current.slice_end:
                pytest.skip("fuzz time slice used up")
        return result

    return example


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        function = getattr(item, "obj", None)
        handle = getattr(function, "hypothesis", None)
        if handle is None or not str(item.path).startswith(str(Path(__file__).parent)):
            continue
        if not getattr(handle.inner_test, "_fuzz_counted", False):
            handle.inner_test = _counted(handle.inner_test)
            handle.inner_test._fuzz_counted = True
        _stats[item.nodeid] = {"examples": 0, "seconds": 0.0, "outcome": None}
        _pending.append(item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    if item.nodeid not in _stats:
        return (yield)
    _Current.nodeid, _Current.failing = item.nodeid, False
    started = time.monotonic()
    if FUZZ_DEADLINE is not None:
        left = max(FUZZ_DEADLINE - time.time(), 0.0)
        share = _weight(item.nodeid) / max(sum(_weight(nodeid) for nodeid in _pending), 1)
        _Current.slice_end = started + left * share
        _flush()  # the runner learns which target was running if this process dies
    try:
        return (yield)
    finally:
        _stats[item.nodeid]["seconds"] = round(time.monotonic() - started, 2)
        _Current.nodeid = None
        if item.nodeid in _pending:
            _pending.remove(item.nodeid)


# ------------------------------------------------------------------------------------------- findings


def _innermost(error: BaseException) -> BaseException:
    seen = set()
    while id(error) not in seen:
        seen.add(id(error))
        cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if cause is None:
            break
        error = cause
    return error


def signature(error: BaseException) -> str:
    """``Type at file:line`` of the deepest project frame (else the deepest frame) where ``error`` began."""
    root = _innermost(error)
    frames = traceback.extract_tb(root.__traceback__)
    project = [f for f in frames if any(f.filename.startswith(str(d)) for d in PROJECT_DIRS)]
    where = (project or frames or [None])[-1]
    place = f"{os.path.relpath(where.filename, REPO_ROOT)}:{where.lineno}" if where else "?"
    return f"{type(root).__name__} at {place}"


def _cause(error: BaseException) -> str:
    """Where the innermost error of ``error``'s chain was raised (last frames, message); "" if unchained."""
    root = _innermost(error)
    if root is error:
        return ""  # the report's own traceback and notes say it all
    frames = "".join(traceback.format_tb(root.__traceback__)[-6:])
    return f"{frames}{type(root).__name__}: {root}"[-4000:]


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if item.nodeid in _stats and call.when == "call":
        _stats[item.nodeid]["outcome"] = report.outcome
        if report.failed and WORKDIR is not None and call.excinfo is not None:
            with (WORKDIR / "findings.jsonl").open("a", encoding="utf-8") as findings:
                for leaf in _leaves(call.excinfo.value):
                    record = {
                        "target": item.nodeid,
                        "signature": signature(leaf),
                        "error": f"{type(leaf).__name__}: {leaf}"[:2000],
                        "cause": _cause(leaf),
                        "notes": list(getattr(leaf, "__notes__", [])),
                    }
                    findings.write(json.dumps(record) + "\n")
        _flush()
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    _flush(finished=True)
