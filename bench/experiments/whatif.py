"""Isolated experiment: end-to-end latency of engine changes, interleaved with the engine as is and rembg.

Each variant runs in its own worker process (bench/_worker.py); a variant other than ``ours`` is the engine
with a monkeypatch from bench/experiments/patches.py applied in that process only: ``ours with Pillow PNG``
is the engine as it was before its own PNG writer, ``ours with bilinear matte`` as it was before logit-space
matte upsampling (each of those changes came out of this benchmark).
Every repetition runs all variants back to back (rotating the order), JPEG/PNG input -> PNG output, all
CPUs' threads for every engine.

    .venv-bench/bin/python bench/experiments/whatif.py [--reps 5] [--reps-large 3]

Writes bench/results/whatif.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _netguard
from _common import RESULTS, bench_env, cpu_count, log, prepare_rembg_home, rounded, summary, write_json
from _worker import WorkerSpec, start_workers
from inputs import build_inputs

VARIANTS: dict[str, tuple[str, str | None]] = {
    "ours": ("ours", None),
    "ours with Pillow PNG": ("ours", "patches:pillow_png"),
    "ours with bilinear matte": ("ours", "patches:bilinear_matte"),
    "rembg": ("rembg", None),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--reps-large", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "whatif.json")
    args = parser.parse_args()
    inputs = build_inputs()
    if inputs is None:
        return 0
    os.environ.update(bench_env())
    _netguard.install()
    prepare_rembg_home()
    cpus = cpu_count()
    paths = {item.id: item.path for item in inputs}
    specs = [
        WorkerSpec(engine, cpus, paths, warm_input=inputs[0].id, patch=patch)
        for engine, patch in VARIANTS.values()
    ]
    workers = dict(zip(VARIANTS, start_workers(specs), strict=True))
    names = list(VARIANTS)
    rows: list[dict[str, Any]] = []
    try:
        for item in inputs:
            reps = args.reps_large if item.megapixels > 6 else args.reps
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for rep in range(reps):
                order = names[rep % len(names) :] + names[: rep % len(names)]
                for name in order:
                    runs[name].append(workers[name].call("run", item.id, "png"))
            row: dict[str, Any] = {"input": item.id, "format": "png", "reps": reps}
            for name in names:
                row[name] = {
                    "wall_s": summary([r["wall_s"] for r in runs[name]]),
                    "out_bytes": runs[name][0]["out_bytes"],
                }
                if runs[name][0]["stages_ms"]:
                    stages = [r["stages_ms"] for r in runs[name]]
                    row[name]["stages_ms"] = {k: summary([s[k] for s in stages])["median"] for k in stages[0]}
            rembg = row["rembg"]["wall_s"]["median"]
            for name in names:
                row[name]["ratio_vs_rembg"] = row[name]["wall_s"]["median"] / rembg
            rows.append(row)
            log(
                f"{item.label:17} "
                + ", ".join(
                    f"{n} {row[n]['wall_s']['median']:.3f} s ({row[n]['ratio_vs_rembg']:.2f}x)" for n in names
                )
            )
    finally:
        for worker in workers.values():
            worker.stop()
    write_json(
        args.out,
        rounded(
            {
                "kind": "whatif",
                "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                "cpus": cpus,
                "loadavg": os.getloadavg(),
                "variants": {k: v[1] for k, v in VARIANTS.items()},
                "rows": rows,
            }
        ),
    )
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
