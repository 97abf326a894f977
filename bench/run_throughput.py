"""Throughput of the two command-line tools on a folder of large photos: ``bgremove DIR -o OUT`` vs rembg's
``rembg p -m u2net DIR OUT`` (folder mode), both with u2net, run interleaved.

The folder holds copies of the bench's 12 MP and 2 MP JPEGs (``--copies`` of each). Each round runs both
tools once on the whole folder (ours first in even rounds, rembg first in odd ones), each into an empty
output folder (rembg skips files whose output exists). A run is timed from just before its process starts
to its exit, so it includes interpreter start, imports and model load, as a user of the command sees it.
Both tools run with their own defaults (output PNG; threads: ours uses every usable CPU, rembg leaves ONNX
Runtime's default). Every run's outputs are counted: a tool that skipped or failed an image fails the run.

Re-runnable: the folder is rebuilt each run, and the tools are measured as they are installed (in
.venv-bench, ``pip install -e .``, so the engine's current source). Writes bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _netguard
from _common import (
    BENCH,
    RAW,
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
from inputs import build_inputs

FOLDER_INPUTS = ("12mp", "2mp")
WORK = RAW / "throughput"
COMMANDS = {
    "ours": lambda src, out: ["bgremove", str(src), "-o", str(out), "--no-progress"],
    "rembg": lambda src, out: ["rembg", "p", "-m", "u2net", str(src), str(out)],
}


def build_folder(copies: int) -> tuple[Path, list[dict[str, Any]]]:
    """``WORK/in`` with ``copies`` copies of each of the folder inputs; returns it and what it holds."""
    inputs = build_inputs()
    if inputs is None:
        raise SystemExit(0)
    source = WORK / "in"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    held = []
    for item in inputs:
        if item.id in FOLDER_INPUTS:
            for copy in range(copies):
                shutil.copyfile(item.path, source / f"{item.id}_{copy}{item.path.suffix.lower()}")
            held.append({**item.to_dict(), "copies": copies})
    return source, held


def run_tool(engine: str, source: Path, images: int) -> dict[str, Any]:
    out = WORK / f"out-{engine}"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, str(BENCH / "_cli.py"), *COMMANDS[engine](source, out)]
    began = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=bench_env(), check=False)
    wall = time.monotonic() - began
    produced = sorted(out.glob("*.png")) if out.is_dir() else []
    if done.returncode != 0 or len(produced) != images:
        raise SystemExit(
            f"{engine}: exit {done.returncode}, {len(produced)} of {images} outputs\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return {"wall_s": wall, "images": images, "images_per_s": images / wall}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copies", type=int, default=4, help="copies of each photo in the folder")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tool, interleaved")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 copy, 1 round")
    parser.add_argument("--out", type=Path, default=RESULTS / "throughput.json")
    args = parser.parse_args()
    if args.quick:
        args.copies, args.rounds = 1, 1

    began = time.monotonic()
    os.environ.update(bench_env())
    _netguard.install()
    prepare_rembg_home()
    check = rembg_model_check("u2net")
    if check["download_needed"] or not check["md5_matches"]:
        raise SystemExit(f"rembg's u2net: not the file rembg expects, or absent: {check}")
    info = machine_info()
    source, held = build_folder(args.copies)
    images = sum(item["copies"] for item in held)
    log(f"{images} images in {source}; load average {info['loadavg_at_start']}")
    runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in COMMANDS}
    engines = list(COMMANDS)
    for index in range(args.rounds):
        for engine in engines if index % 2 == 0 else engines[::-1]:
            run = run_tool(engine, source, images)
            runs[engine].append(run)
            log(f"round {index + 1} {engine:5}: {run['images_per_s']:.3f} images/s ({run['wall_s']:.1f} s)")
    result: dict[str, Any] = {}
    for engine, done in runs.items():
        result[engine] = {
            "command": " ".join(COMMANDS[engine](Path("IN"), Path("OUT"))),
            "wall_s": summary([r["wall_s"] for r in done]),
            "images_per_s": summary([r["images_per_s"] for r in done]),
            "runs": done,
        }
    ratio = result["ours"]["images_per_s"]["median"] / result["rembg"]["images_per_s"]["median"]
    attempts = _netguard.attempts()
    payload = {
        "kind": "cli_throughput",
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "elapsed_s": time.monotonic() - began,
        "quick": args.quick,
        "machine": {**info, "cpus_usable": cpu_count(), "loadavg_at_end": os.getloadavg()},
        "folder": held,
        "images": images,
        "rounds": args.rounds,
        "rembg_model": check,
        "network_attempts": attempts,
        "tools": result,
        "ours_vs_rembg_images_per_s": ratio,
    }
    write_json(args.out, rounded(payload))
    log(f"ours {ratio:.2f}x rembg's images/s; network access attempts: {len(attempts)}; wrote {args.out}")
    return 1 if attempts else 0


if __name__ == "__main__":
    sys.exit(main())
