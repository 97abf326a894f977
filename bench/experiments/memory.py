"""Isolated experiment: the engine's peak RSS with and without ONNX Runtime's memory pattern (and glibc's
dynamic mmap threshold).

One fresh process (bench/_child.py) per measurement, input -> PNG twice, all CPUs' threads; ``VmHWM`` after
the first image and after the second (when ONNX Runtime has allocated its memory pattern).

    .venv-bench/bin/python bench/experiments/memory.py [--reps 2]

Writes bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _netguard
from _common import BENCH, RESULTS, bench_env, cpu_count, log, rounded, summary, write_json
from inputs import build_inputs

# name -> (patch, extra environment)
VARIANTS: dict[str, tuple[str | None, dict[str, str]]] = {
    "engine today": (None, {}),
    "no memory pattern": ("patches:no_mem_pattern", {}),
    # glibc raises its mmap threshold after big frees, so later big buffers come from the heap and stay there
    "no memory pattern, MALLOC_MMAP_THRESHOLD_=1 MiB": (
        "patches:no_mem_pattern",
        {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)},
    ),
}


def measure(path: Path, patch: str | None, environment: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, str(BENCH / "_child.py"), "ours", str(path), "png", str(cpu_count())]
    command.append(repr(time.monotonic()))
    if patch:
        command.append(patch)
    env = {**bench_env(), **environment}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd=BENCH)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    args = parser.parse_args()
    inputs = build_inputs()
    if inputs is None:
        return 0
    _netguard.install()
    rows = []
    for item in inputs:
        if item.id == "png_alpha":
            continue
        row: dict[str, Any] = {"input": item.id}
        for name, (patch, environment) in VARIANTS.items():
            runs = [measure(item.path, patch, environment) for _ in range(args.reps)]
            row[name] = {
                "peak_rss_mib": summary([r["peak_rss_kib"] / 1024 for r in runs])["median"],
                "first_image_peak_rss_mib": summary([r["first_image_peak_rss_kib"] / 1024 for r in runs])[
                    "median"
                ],
                "first_image_s": summary([r["first_image_s"] for r in runs])["median"],
            }
        rows.append(row)
        log(f"{item.label:12} " + ", ".join(f"{n} {row[n]['peak_rss_mib']:.0f} MiB" for n in VARIANTS))
    write_json(
        args.out, rounded({"kind": "memory", "created": time.strftime("%Y-%m-%d %H:%M:%S %z"), "rows": rows})
    )
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
