"""What one attempt at an upload has learnt so far, shared by the steps that read, check and write it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from bgremove import Options
from processor.sources import ObjectRef


@dataclass
class Attempt:
    """What one attempt at an upload has learnt so far: a FAILED event reports whatever is known."""

    ref: ObjectRef
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    job_id: str | None = None
    input_size: int | None = None
    options: Options | None = None
    last_modified: datetime | None = None


def ms_since(began: float) -> float:
    """Milliseconds elapsed since ``began`` (a :func:`time.perf_counter` reading)."""
    return (time.perf_counter() - began) * 1000
