"""Isolated experiment: ONNX Runtime session options vs cold start and memory (the engine is not modified).

Each measurement is a fresh process (this script re-run with ``--child``) that builds a u2netp session the way
bgremove does (``SessionConfig``: intra-op threads = CPUs, inter-op 1, sequential, ORT_ENABLE_ALL), changes
one option, then times: session creation, the first inference, the median of 5 more, and reads ``VmHWM``.
Variants run interleaved, ``--reps`` times each.

    .venv-bench/bin/python bench/experiments/ort_session.py [--reps 3]

Writes bench/results/ort_session.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import MODELS, RESULTS, cpu_count, log, rounded, summary, write_json

VARIANTS = {
    "engine today": {},
    "no memory pattern": {"enable_mem_pattern": False},
    "no CPU memory arena": {"enable_cpu_mem_arena": False},
    "no arena, no pattern": {"enable_cpu_mem_arena": False, "enable_mem_pattern": False},
    "pre-optimised model file": {"optimized": True},
    "no spinning": {"spin": False},
}


def child(variant: str, optimized_path: str) -> None:
    began = time.monotonic()
    import numpy as np  # noqa: PLC0415
    import onnxruntime as ort  # noqa: PLC0415

    imported = time.monotonic()
    change = VARIANTS[variant]
    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_count()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    model = str(MODELS / "u2netp.onnx")
    if "enable_mem_pattern" in change:
        options.enable_mem_pattern = change["enable_mem_pattern"]
    if "enable_cpu_mem_arena" in change:
        options.enable_cpu_mem_arena = change["enable_cpu_mem_arena"]
    if change.get("spin") is False:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if change.get("optimized"):
        model = optimized_path
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    loaded = time.monotonic()
    tensor = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    feed = {session.get_inputs()[0].name: tensor}
    output = [session.get_outputs()[0].name]
    session.run(output, feed)
    first = time.monotonic()
    steady = []
    for _ in range(5):
        start = time.monotonic()
        session.run(output, feed)
        steady.append(time.monotonic() - start)
    with open("/proc/self/status", encoding="ascii") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    print(
        json.dumps(
            {
                "import_s": imported - began,
                "load_s": loaded - imported,
                "first_run_s": first - loaded,
                "steady_run_s": sorted(steady)[2],
                "peak_rss_mib": hwm / 1024,
            }
        )
    )


def optimise(target: Path) -> None:
    import onnxruntime as ort  # noqa: PLC0415

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(
        str(MODELS / "u2netp.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "OPTIMISED_MODEL"))
    parser.add_argument("--out", type=Path, default=RESULTS / "ort_session.json")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-ort-") as tmp:
        optimised = Path(tmp) / "u2netp.optimised.onnx"
        optimise(optimised)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        for rep in range(args.reps):
            for name in VARIANTS:
                done = subprocess.run(
                    [sys.executable, __file__, "--child", name, str(optimised)],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=dict(os.environ),
                )
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            log(f"repetition {rep + 1}/{args.reps} done")
    rows: dict[str, Any] = {}
    for name, results in runs.items():
        rows[name] = {key: summary([r[key] for r in results])["median"] for key in results[0]}
        log(f"{name:26} " + ", ".join(f"{k} {v:.3f}" for k, v in rows[name].items()))
    write_json(
        args.out,
        rounded(
            {
                "kind": "ort_session",
                "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                "reps": args.reps,
                "loadavg": os.getloadavg(),
                "variants": rows,
            }
        ),
    )
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
