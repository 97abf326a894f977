"""Decision 0007: how to store u2net's weights. One fresh process per variant and repetition, interleaved.

    python bench/experiments/u2net_weights.py OUT.json NAME=MODEL.onnx ...

In each process: an ONNX Runtime session built as the engine builds one (ORT_ENABLE_ALL, sequential, no
memory pattern) with one intra-op thread; the CPU time of session creation and of each of 6 runs on a
1x3x320x320 input (thread CPU time, not wall time: the machine was shared while this ran, and CPU time
of a single-threaded run is what a busy neighbour disturbs least); VmRSS after creation, VmHWM at the end.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPS = 3
CHILD = r"""
import json, sys, time
import numpy as np, onnxruntime as ort
def status(field):
    return int(open("/proc/self/status").read().split(field + ":")[1].split()[0]) / 1024
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
options.enable_mem_pattern = False
began = time.process_time()
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
create = time.process_time() - began
loaded = status("VmRSS")
noise = np.random.default_rng(0).standard_normal((1, 3, 320, 320)).astype(np.float32)
feed = {session.get_inputs()[0].name: noise}
runs = []
for _ in range(6):
    began = time.thread_time()
    session.run(None, feed)
    runs.append(time.thread_time() - began)
print("RESULT " + json.dumps({"create_cpu_s": create, "run_cpu_s": runs, "rss_after_create_mib": loaded,
                              "peak_rss_mib": status("VmHWM")}))
"""


def main() -> int:
    target = Path(sys.argv[1])
    variants = dict(arg.split("=", 1) for arg in sys.argv[2:])
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in variants}
    for rep in range(REPS):
        for name in list(variants) if rep % 2 == 0 else list(variants)[::-1]:
            done = subprocess.run(
                [sys.executable, "-c", CHILD, variants[name]], capture_output=True, text=True, check=True
            )
            line = next(row for row in done.stdout.splitlines() if row.startswith("RESULT "))
            runs[name].append(json.loads(line[len("RESULT ") :]))
    summary = {
        name: {
            "file_mb": Path(variants[name]).stat().st_size / 1e6,
            "create_cpu_s": statistics.median(r["create_cpu_s"] for r in results),
            "first_run_cpu_s": statistics.median(r["run_cpu_s"][0] for r in results),
            "later_runs_cpu_s": statistics.median(v for r in results for v in r["run_cpu_s"][1:]),
            "rss_after_create_mib": statistics.median(r["rss_after_create_mib"] for r in results),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in results),
        }
        for name, results in runs.items()
    }
    payload = {
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "method": __doc__,
        "onnxruntime": subprocess.run(
            [sys.executable, "-c", "import onnxruntime; print(onnxruntime.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "cpu_flags_of_note": sorted({f for f in Path("/proc/cpuinfo").read_text().split() if "vnni" in f}),
        "loadavg_at_end": os.getloadavg(),
        "variants": variants,
        "summary": summary,
        "runs": runs,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
