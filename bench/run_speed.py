"""Speed and memory: bgremove vs rembg 2.0.x, each running u2net (the default) and u2netp (the fast tier).

Measures (see bench/README.md for the method):
- end-to-end bytes -> bytes latency per input size and output format (png, jpeg, webp) with u2net, and per
  input size -> PNG with u2netp; median and p95, each repetition running ours then rembg (or rembg then ours,
  alternating) back to back;
- ours' per-stage timings (decode, preprocess, inference, postprocess, compose, encode);
- latency with 1 and 2 CPUs (u2net, -> PNG): the process pinned to that many CPUs, as `taskset` does, with
  as many ONNX Runtime threads (the MemorySize guidance: Lambda gives 1 vCPU per 1769 MB);
- cold start in a fresh process (interpreter, imports, model load, first result), both models;
- peak RSS per input size (u2net) and at 12 MP (u2netp), one fresh process per measurement.

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
    REMBG_MODEL_FILES,
    RESULTS,
    bench_env,
    cpu_count,
    log,
    machine_info,
    prepare_rembg_home,
    rembg_model_check,
    rounded,
    summary,
    write_json,
)
from _worker import Worker, WorkerSpec, start_workers
from inputs import BenchInput, build_inputs

ENGINES = ("ours", "rembg")
DEFAULT_MODEL = "u2net"  # the engine's default, and rembg's
FAST_MODEL = "u2netp"  # the fast tier: kept in the report so that it stays measured
MODELS = (DEFAULT_MODEL, FAST_MODEL)
FAST_FORMATS = ("png",)  # u2netp's rows: every input -> PNG (the formats' cost is measured with u2net)
FAST_RSS_INPUTS = ("12mp",)
LARGE_MP = 6.0  # inputs above this get the smaller repetition count
SCALING_INPUTS = ("0.4mp", "2mp", "12mp")  # the latency-per-CPU-count table (MemorySize guidance)
COST_INPUTS = ("0.4mp", "12mp")  # what the foreground colour estimation costs (decontamination_cost)
LAMBDA_CPUS = (1, 2, 4)  # Lambda vCPUs the guidance is asked for; more than this machine has are not emulated

Workers = dict[tuple[str, str], Worker]  # (engine, model) -> its process


def latency(
    workers: Workers,
    inputs: list[BenchInput],
    model: str,
    formats: tuple[str, ...],
    *,
    reps_small: int,
    reps_large: int,
) -> list[dict[str, Any]]:
    """Both engines running ``model``, every input and format; ours and rembg back to back per repetition."""
    rows = []
    for item in inputs:
        reps = reps_large if item.megapixels > LARGE_MP else reps_small
        for fmt in formats:
            runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in ENGINES}
            for rep in range(reps):
                for engine in ENGINES if rep % 2 == 0 else ENGINES[::-1]:
                    runs[engine].append(workers[engine, model].call("run", item.id, fmt))
            row: dict[str, Any] = {"model": model, "input": item.id, "format": fmt, "reps": reps}
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
                f"latency {model:6} {item.label:17} -> {fmt:4}: ours {row['ours']['wall_s']['median']:.3f} s,"
                f" rembg {row['rembg']['wall_s']['median']:.3f} s, ratio {row['ratio_of_medians']:.2f} "
                f"({reps} reps)"
            )
    return rows


def decontamination_cost(workers: Workers, inputs: list[BenchInput], reps: int) -> list[dict[str, Any]]:
    """What the foreground colour estimation (option ``decontaminate``, on by default) adds: ours with it and
    without it, back to back in each repetition (the order rotating), u2net -> PNG (transparent, so it runs),
    at 0.4 and 12 MP. The paired difference of whole times and of the ``compose`` stage (where it runs)
    against the time without it; the budgets are at most 15 ms at 0.4 MP and 10% of the whole at 12 MP. With
    rembg's worker among ``workers``, rembg runs in the same repetitions, for the whole time's ratio (12 MP:
    at most 0.45x rembg).
    """
    rows = []
    variants: dict[str, tuple[Worker, dict[str, str] | None]] = {
        "on": (workers["ours", DEFAULT_MODEL], None),
        "off": (workers["ours", DEFAULT_MODEL], {"decontaminate": "false"}),
    }
    if ("rembg", DEFAULT_MODEL) in workers:  # the whole time against rembg's, in the same repetitions
        variants["rembg"] = (workers["rembg", DEFAULT_MODEL], None)
    for item in [item for item in inputs if item.id in COST_INPUTS]:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for rep in range(reps):
            order = list(variants)[rep % len(variants) :] + list(variants)[: rep % len(variants)]
            for name in order:
                worker, extra = variants[name]
                runs[name].append(worker.call("run", item.id, "png", *([extra] if extra else [])))
        row: dict[str, Any] = {"model": DEFAULT_MODEL, "input": item.id, "format": "png", "reps": reps}
        for name in variants:
            row[name] = {"wall_s": summary([r["wall_s"] for r in runs[name]])}
            if name != "rembg":
                row[name]["compose_ms"] = summary([r["stages_ms"]["compose"] for r in runs[name]])
        if "rembg" in runs:
            row["on_to_rembg"] = row["on"]["wall_s"]["median"] / row["rembg"]["wall_s"]["median"]
        pairs = list(zip(runs["on"], runs["off"], strict=True))
        row["added_ms"] = summary([(on["wall_s"] - off["wall_s"]) * 1000 for on, off in pairs])
        row["added_compose_ms"] = summary(
            [on["stages_ms"]["compose"] - off["stages_ms"]["compose"] for on, off in pairs]
        )
        row["added_share"] = row["added_ms"]["median"] / 1000 / row["off"]["wall_s"]["median"]
        row["added_compose_share"] = row["added_compose_ms"]["median"] / 1000 / row["off"]["wall_s"]["median"]
        rows.append(row)
        log(
            f"decontaminate {item.label:17}: +{row['added_ms']['median']:.1f} ms whole "
            f"({row['added_share']:.1%}), +{row['added_compose_ms']['median']:.1f} ms in compose "
            f"({row['added_compose_share']:.1%}) ({reps} reps)"
        )
    return rows


def cpu_scaling(workers: Workers, inputs: list[BenchInput], cpus: int, reps: int) -> list[dict[str, Any]]:
    """Latency (input -> PNG, u2net) with 1, 2... CPUs: the worker pinned to that many CPUs
    (``sched_setaffinity``, what ``taskset`` does) with as many ONNX Runtime threads.

    This is what a Lambda function gets at 1769 MB per vCPU. Counts above this machine's CPUs cannot be
    emulated and are left out (the report says so); the full count reuses the latency workers.
    """
    chosen = [item for item in inputs if item.id in SCALING_INPUTS]
    paths = {item.id: item.path for item in chosen}
    rows = []
    for count in [n for n in LAMBDA_CPUS if n <= cpus]:
        if count == cpus:
            pool = {engine: workers[engine, DEFAULT_MODEL] for engine in ENGINES}
        else:
            pinned = tuple(range(count))
            specs = [
                WorkerSpec(engine, DEFAULT_MODEL, count, paths, cpus=pinned, warm_input=chosen[0].id)
                for engine in ENGINES
            ]
            pool = dict(zip(ENGINES, start_workers(specs), strict=True))
        try:
            for item in chosen:
                walls: dict[str, list[float]] = {engine: [] for engine in ENGINES}
                inference: list[float] = []
                for rep in range(reps):
                    for engine in ENGINES if rep % 2 == 0 else ENGINES[::-1]:
                        reply = pool[engine].call("run", item.id, "png")
                        walls[engine].append(reply["wall_s"])
                        if engine == "ours":
                            inference.append(reply["stages_ms"]["inference"])
                row: dict[str, Any] = {"cpus": count, "model": DEFAULT_MODEL, "input": item.id, "reps": reps}
                for engine in ENGINES:
                    row[engine] = {"wall_s": summary(walls[engine]), "walls": walls[engine]}
                row["ours"]["inference_ms"] = summary(inference)
                row["ratio_of_medians"] = row["ours"]["wall_s"]["median"] / row["rembg"]["wall_s"]["median"]
                rows.append(row)
                log(
                    f"{count} CPU(s) {item.label:17} -> png: ours {row['ours']['wall_s']['median']:.3f} s, "
                    f"rembg {row['rembg']['wall_s']['median']:.3f} s ({reps} reps)"
                )
        finally:
            if count != cpus:
                for worker in pool.values():
                    worker.stop()
    return rows


def _child(engine: str, model: str, path: Path, threads: int) -> dict[str, Any]:
    launched = time.monotonic()
    command = [sys.executable, str(BENCH / "_child.py"), engine, model, str(path), "png", str(threads)]
    done = subprocess.run(
        [*command, repr(launched)],
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
    raise RuntimeError(f"{engine} {model} child failed ({done.returncode}): {done.stderr[-2000:]}")


def cold_start(small: BenchInput, model: str, threads: int, reps: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in ENGINES}
    for rep in range(reps):
        for engine in ENGINES if rep % 2 == 0 else ENGINES[::-1]:
            runs[engine].append(_child(engine, model, small.path, threads))
    result: dict[str, Any] = {
        "model": model,
        "input": small.id,
        "format": "png",
        "threads": threads,
        "reps": reps,
    }
    for engine in ENGINES:
        keys = ("interpreter_s", "import_s", "load_s", "first_image_s", "first_result_s")
        result[engine] = {key: summary([r[key] for r in runs[engine]]) for key in keys}
        log(
            f"cold start {model:6} {engine:5}: {result[engine]['first_result_s']['median']:.2f} s to the "
            "first result (median)"
        )
    return result


def peak_rss(inputs: list[BenchInput], model: str, threads: int) -> list[dict[str, Any]]:
    """Peak RSS of a fresh process after one image and after two (see _child.py), per input and engine."""
    rows = []
    for item in inputs:
        row: dict[str, Any] = {"model": model, "input": item.id, "format": "png", "threads": threads}
        for engine in ENGINES:
            child = _child(engine, model, item.path, threads)
            row[engine] = {
                "peak_rss_mib": child["peak_rss_kib"] / 1024,
                "first_image_peak_rss_mib": child["first_image_peak_rss_kib"] / 1024,
                "rss_after_load_mib": child["rss_loaded_kib"] / 1024,
            }
        row["ratio"] = row["ours"]["peak_rss_mib"] / row["rembg"]["peak_rss_mib"]
        rows.append(row)
        log(
            f"peak RSS {model:6} {item.label:17}: ours {row['ours']['peak_rss_mib']:.0f} MiB, "
            f"rembg {row['rembg']['peak_rss_mib']:.0f} MiB (after two images)"
        )
    return rows


def _only_decontamination(inputs: list[BenchInput], cpus: int, reps: int, out: Path, began: float) -> int:
    """``--only-decontamination``: the decontamination rows alone (ours on and off, and rembg for the whole
    time's ratio), written to ``out``."""
    paths = {item.id: item.path for item in inputs if item.id in COST_INPUTS}
    specs = [
        WorkerSpec(engine, DEFAULT_MODEL, cpus, paths, warm_input=next(iter(paths))) for engine in ENGINES
    ]
    started = start_workers(specs)
    try:
        rows = decontamination_cost(
            {(engine, DEFAULT_MODEL): worker for engine, worker in zip(ENGINES, started, strict=True)},
            inputs,
            reps,
        )
    finally:
        for worker in started:
            worker.stop()
    payload = {
        "kind": "decontamination",
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "elapsed_s": time.monotonic() - began,
        "machine": {**machine_info(), "loadavg_at_end": os.getloadavg()},
        "decontamination": rows,
    }
    write_json(out, rounded(payload))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps-small", type=int, default=5, help="repetitions for inputs up to 6 MP")
    parser.add_argument("--reps-large", type=int, default=3, help="repetitions for larger inputs")
    parser.add_argument("--scaling-reps", type=int, default=3, help="repetitions per CPU count")
    parser.add_argument("--cold-reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke test: 1-2 repetitions")
    parser.add_argument("--inputs", nargs="*", help="input ids to measure (default: all; smoke tests)")
    parser.add_argument("--decontamination-reps", type=int, default=7)
    parser.add_argument(
        "--only-decontamination",
        action="store_true",
        help="measure only what decontaminate costs (0.4 and 12 MP), into --out",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    args = parser.parse_args()
    if args.quick:
        args.reps_small, args.reps_large, args.scaling_reps, args.cold_reps = 2, 1, 1, 1
        args.decontamination_reps = 2

    began = time.monotonic()
    inputs = build_inputs()
    if inputs is None:
        return 0
    if args.inputs:
        inputs = [item for item in inputs if item.id in args.inputs]
    RAW.mkdir(parents=True, exist_ok=True)
    os.environ.update(bench_env())
    net_log = Path(os.environ["BENCH_NET_LOG"])
    net_log.unlink(missing_ok=True)
    _netguard.install()
    prepare_rembg_home()
    cpus = cpu_count()
    info = machine_info()
    log(f"{info['cpu']}, {cpus} CPUs usable, load average {info['loadavg_at_start']}")
    model_checks = {name: rembg_model_check(name) for name in REMBG_MODEL_FILES}
    for name, check in model_checks.items():
        log(f"rembg resolves {name} to {check['resolved_path']} (md5 matches: {check['md5_matches']})")
        if check["download_needed"] or not check["md5_matches"]:
            raise SystemExit(f"rembg's {name}: not the file rembg expects, or absent: {check}")

    small = inputs[0]
    if args.only_decontamination:
        return _only_decontamination(inputs, cpus, args.decontamination_reps, args.out, began)
    log(f"starting both engines with both models, {cpus} intra-op threads each")
    paths = {item.id: item.path for item in inputs}
    keys = [(engine, model) for model in MODELS for engine in ENGINES]
    started = start_workers([WorkerSpec(e, m, cpus, paths, warm_input=small.id) for e, m in keys])
    workers: Workers = dict(zip(keys, started, strict=True))
    try:
        reps = {"reps_small": args.reps_small, "reps_large": args.reps_large}
        latency_rows = latency(workers, inputs, DEFAULT_MODEL, FORMATS, **reps)
        latency_rows += latency(workers, inputs, FAST_MODEL, FAST_FORMATS, **reps)
        cost_rows = decontamination_cost(workers, inputs, args.decontamination_reps)
        for engine in ENGINES:  # the fast tier's workers are done: give their memory and CPU back
            workers.pop((engine, FAST_MODEL)).stop()
        scaling_rows = cpu_scaling(workers, inputs, cpus, args.scaling_reps)
    finally:
        for worker in workers.values():
            worker.stop()
    cold = [cold_start(small, model, cpus, args.cold_reps) for model in MODELS]
    rss = peak_rss(inputs, DEFAULT_MODEL, cpus)
    rss += peak_rss([i for i in inputs if i.id in FAST_RSS_INPUTS], FAST_MODEL, cpus)

    attempts = _netguard.attempts()
    payload = {
        "kind": "speed",
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "elapsed_s": time.monotonic() - began,
        "quick": args.quick,
        "machine": {**info, "loadavg_at_end": os.getloadavg()},
        "models": {"default": DEFAULT_MODEL, "fast": FAST_MODEL},
        "threads": {
            "ours": f"BGREMOVE_THREADS={cpus} (ONNX Runtime intra-op threads), inter-op 1, sequential",
            "rembg": f"onnxruntime.SessionOptions(intra_op_num_threads={cpus}), the rest at their defaults",
        },
        "rembg_models": model_checks,
        "network_attempts": attempts,
        "inputs": [item.to_dict() for item in inputs],
        "latency": latency_rows,
        "decontamination": cost_rows,
        "cpu_scaling": {"cpus_here": cpus, "asked": list(LAMBDA_CPUS), "rows": scaling_rows},
        "cold_start": cold,
        "peak_rss": rss,
    }
    write_json(args.out, rounded(payload))
    log(f"network access attempts: {len(attempts)}; wrote {args.out} in {payload['elapsed_s']:.0f} s")
    return 1 if attempts else 0


if __name__ == "__main__":
    sys.exit(main())
