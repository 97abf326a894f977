"""Speed and memory: bgremove vs rembg 2.0.x, both with u2netp, interleaved in one run.

Measures (see bench/README.md for the method):
- end-to-end bytes -> bytes latency per input size and output format (png, jpeg, webp), median and p95,
  each repetition running ours then rembg (or rembg then ours, alternating) back to back;
- ours' per-stage timings (decode, preprocess, inference, postprocess, compose, encode);
- throughput in images/s: one CPU (a process pinned to one core, one thread), all CPUs as N single-threaded
  processes, and all CPUs as one process with N threads;
- cold start in a fresh process (interpreter, imports, model load, first result);
- peak RSS per input size, one fresh process per measurement.

Writes bench/results/speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _netguard
from _common import (
    BENCH,
    FORMATS,
    RAW,
    RESULTS,
    bench_env,
    cpu_count,
    log,
    machine_info,
    prepare_rembg_home,
    rounded,
    summary,
    write_json,
)
from _worker import Worker, WorkerSpec, start_workers
from inputs import BenchInput, build_inputs

ENGINES = ("ours", "rembg")
LARGE_MP = 6.0  # inputs above this get the smaller repetition count


def rembg_model_check() -> dict[str, Any]:
    """Which u2netp file rembg resolves, and whether it passes the md5 rembg's source expects."""
    import hashlib  # noqa: PLC0415
    import inspect  # noqa: PLC0415
    import re  # noqa: PLC0415

    from rembg.sessions.u2netp import U2netpSession  # noqa: PLC0415

    resolved = U2netpSession.resolve_existing("u2netp.onnx")  # what download_models() returns before pooch
    source = inspect.getsource(U2netpSession.download_models)
    match = re.search(r"md5:([0-9a-f]{32})", source)
    expected = match.group(1) if match else None
    actual = hashlib.md5(Path(resolved).read_bytes()).hexdigest() if resolved else None
    return {
        "resolved_path": resolved,
        "real_path": str(Path(resolved).resolve()) if resolved else None,
        "md5": actual,
        "md5_expected_by_rembg": expected,
        "md5_matches": actual is not None and actual == expected,
        "download_needed": resolved is None,
    }


def latency(
    workers: dict[str, Worker], inputs: list[BenchInput], reps_small: int, reps_large: int
) -> list[dict[str, Any]]:
    rows = []
    for item in inputs:
        reps = reps_large if item.megapixels > LARGE_MP else reps_small
        for fmt in FORMATS:
            runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in ENGINES}
            for rep in range(reps):
                order = ENGINES if rep % 2 == 0 else ENGINES[::-1]
                for engine in order:
                    runs[engine].append(workers[engine].call("run", item.id, fmt))
            row: dict[str, Any] = {"input": item.id, "format": fmt, "reps": reps}
            for engine in ENGINES:
                walls = [r["wall_s"] for r in runs[engine]]
                row[engine] = {
                    "wall_s": summary(walls),
                    "cpu_s": summary([r["cpu_s"] for r in runs[engine]]),
                    "out_bytes": runs[engine][0]["out_bytes"],
                    "walls": walls,
                }
            stages = [r["stages_ms"] for r in runs["ours"]]
            row["ours"]["stages_ms"] = {name: summary([s[name] for s in stages]) for name in stages[0]}
            # pipeline overhead: everything but inference, relative to inference, per run
            row["ours"]["overhead_vs_inference"] = summary(
                [(s["total"] - s["inference"]) / s["inference"] for s in stages]
            )
            row["ratio_of_medians"] = row["ours"]["wall_s"]["median"] / row["rembg"]["wall_s"]["median"]
            row["paired_ratio"] = summary(
                [o / r for o, r in zip(row["ours"]["walls"], row["rembg"]["walls"], strict=True)]
            )
            rows.append(row)
            log(
                f"latency {item.label:17} -> {fmt:4}: ours {row['ours']['wall_s']['median']:.3f} s, "
                f"rembg {row['rembg']['wall_s']['median']:.3f} s, ratio {row['ratio_of_medians']:.2f} "
                f"({reps} reps)"
            )
    return rows


def throughput(
    latency_workers: dict[str, Worker], inputs: list[BenchInput], cpus: int, counts: dict[str, int]
) -> list[dict[str, Any]]:
    """images/s for each configuration, engine and workload (JPEG -> PNG).

    Both engines' pools are up at once and take turns: each workload's images are split into rounds, and
    every round runs ours then rembg (or the reverse), so a change of load hits both alike.
    """
    paths = {item.id: item.path for item in inputs if item.id in counts}
    warm = min(counts, key=lambda key: next(i.megapixels for i in inputs if i.id == key))
    configs: list[tuple[str, int, int]] = [("1 CPU: 1 process x 1 thread", 1, 1)]
    if cpus > 1:
        configs += [
            (f"{cpus} CPUs: {cpus} processes x 1 thread", cpus, 1),
            (f"{cpus} CPUs: 1 process x {cpus} threads", 1, cpus),
        ]
    rows = []
    for label, processes, threads in configs:
        pools: dict[str, list[Worker]] = {}
        for engine in ENGINES:
            if processes == 1 and threads == cpus and cpus > 1:
                pools[engine] = [latency_workers[engine]]  # already running with all CPUs' threads
            else:
                pinned = processes == 1 and threads == 1 and cpus > 1
                pools[engine] = start_workers(
                    [
                        WorkerSpec(engine, threads, paths, cpu=0 if pinned else None, warm_input=warm)
                        for _ in range(processes)
                    ]
                )
        for key, count in counts.items():
            rounds = [count // 2, count - count // 2] if count > 1 else [count]
            spans: dict[str, float] = dict.fromkeys(ENGINES, 0.0)
            walls: dict[str, list[float]] = {engine: [] for engine in ENGINES}
            for index, batch in enumerate(rounds):
                for engine in ENGINES if index % 2 == 0 else ENGINES[::-1]:
                    for worker in pools[engine]:
                        worker.send("batch", key, "png", batch)
                    replies = [worker.receive() for worker in pools[engine]]
                    spans[engine] += max(r["end"] for r in replies) - min(r["start"] for r in replies)
                    walls[engine] += [w for r in replies for w in r["walls"]]
            for engine in ENGINES:
                images = count * processes
                rows.append(
                    {
                        "config": label,
                        "processes": processes,
                        "threads": threads,
                        "engine": engine,
                        "input": key,
                        "images": images,
                        "seconds": spans[engine],
                        "images_per_s": images / spans[engine],
                        "per_image_s": summary(walls[engine]),
                    }
                )
                log(
                    f"throughput {label:32} {engine:5} {key:6}: {images / spans[engine]:.2f} images/s "
                    f"({images} in {spans[engine]:.1f} s)"
                )
        for engine in ENGINES:
            if pools[engine][0] is not latency_workers[engine]:
                for worker in pools[engine]:
                    worker.stop()
    return rows


def _child(engine: str, path: Path, threads: int) -> dict[str, Any]:
    launched = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(BENCH / "_child.py"), engine, str(path), "png", str(threads), repr(launched)],
        capture_output=True,
        text=True,
        env=bench_env(),
        cwd=BENCH,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    raise RuntimeError(f"{engine} child failed ({done.returncode}): {done.stderr[-2000:]}")


def cold_start(small: BenchInput, threads: int, reps: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in ENGINES}
    for rep in range(reps):
        for engine in ENGINES if rep % 2 == 0 else ENGINES[::-1]:
            runs[engine].append(_child(engine, small.path, threads))
    result: dict[str, Any] = {"input": small.id, "format": "png", "threads": threads, "reps": reps}
    for engine in ENGINES:
        keys = ("interpreter_s", "import_s", "load_s", "first_image_s", "first_result_s")
        result[engine] = {key: summary([r[key] for r in runs[engine]]) for key in keys}
        log(
            f"cold start {engine:5}: {result[engine]['first_result_s']['median']:.2f} s to the first "
            "result (median)"
        )
    return result


def peak_rss(inputs: list[BenchInput], threads: int) -> list[dict[str, Any]]:
    """Peak RSS of a fresh process after one image and after two (see _child.py), per input and engine."""
    rows = []
    for item in inputs:
        row: dict[str, Any] = {"input": item.id, "format": "png", "threads": threads}
        for engine in ENGINES:
            child = _child(engine, item.path, threads)
            row[engine] = {
                "peak_rss_mib": child["peak_rss_kib"] / 1024,
                "first_image_peak_rss_mib": child["first_image_peak_rss_kib"] / 1024,
                "rss_after_load_mib": child["rss_loaded_kib"] / 1024,
            }
        row["ratio"] = row["ours"]["peak_rss_mib"] / row["rembg"]["peak_rss_mib"]
        rows.append(row)
        log(
            f"peak RSS {item.label:17}: ours {row['ours']['peak_rss_mib']:.0f} MiB, "
            f"rembg {row['rembg']['peak_rss_mib']:.0f} MiB (after two images)"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps-small", type=int, default=5, help="repetitions for inputs up to 6 MP")
    parser.add_argument("--reps-large", type=int, default=3, help="repetitions for larger inputs")
    parser.add_argument("--cold-reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke test: 1-2 repetitions, small batches")
    parser.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    args = parser.parse_args()
    if args.quick:
        args.reps_small, args.reps_large, args.cold_reps = 2, 1, 1

    began = time.monotonic()
    inputs = build_inputs()
    if inputs is None:
        return 0
    RAW.mkdir(parents=True, exist_ok=True)
    os.environ.update(bench_env())
    net_log = Path(os.environ["BENCH_NET_LOG"])
    net_log.unlink(missing_ok=True)
    _netguard.install()
    prepare_rembg_home()
    cpus = cpu_count()
    info = machine_info()
    log(f"{info['cpu']}, {cpus} CPUs usable, load average {info['loadavg_at_start']}")
    model_check = rembg_model_check()
    log(
        f"rembg resolves u2netp to {model_check['resolved_path']} (md5 matches: {model_check['md5_matches']})"
    )
    if model_check["download_needed"]:
        raise SystemExit("rembg would download u2netp: the U2NET_HOME link is missing")

    small = inputs[0]
    log(f"starting both engines with {cpus} intra-op threads each")
    paths = {item.id: item.path for item in inputs}
    workers = dict(
        zip(
            ENGINES,
            start_workers([WorkerSpec(e, cpus, paths, warm_input=small.id) for e in ENGINES]),
            strict=True,
        )
    )
    try:
        latency_rows = latency(workers, inputs, args.reps_small, args.reps_large)
        counts = {"0.4mp": 3, "2mp": 2} if args.quick else {"0.4mp": 8, "2mp": 5}
        throughput_rows = throughput(workers, inputs, cpus, counts)
    finally:
        for worker in workers.values():
            worker.stop()
    cold = cold_start(small, cpus, args.cold_reps)
    rss = peak_rss(inputs, cpus)

    attempts = _netguard.attempts()
    payload = {
        "kind": "speed",
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "elapsed_s": time.monotonic() - began,
        "quick": args.quick,
        "machine": {**info, "loadavg_at_end": os.getloadavg()},
        "threads": {
            "ours": f"BGREMOVE_THREADS={cpus} (ONNX Runtime intra-op threads), inter-op 1, sequential",
            "rembg": f"onnxruntime.SessionOptions(intra_op_num_threads={cpus}), the rest at their defaults",
        },
        "rembg_model": model_check,
        "network_attempts": attempts,
        "inputs": [item.to_dict() for item in inputs],
        "latency": latency_rows,
        "throughput": throughput_rows,
        "cold_start": cold,
        "peak_rss": rss,
    }
    write_json(args.out, rounded(payload))
    log(f"network access attempts: {len(attempts)}; wrote {args.out} in {payload['elapsed_s']:.0f} s")
    return 1 if attempts else 0


if __name__ == "__main__":
    sys.exit(main())
