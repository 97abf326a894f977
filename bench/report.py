"""Builds bench/results/REPORT.md and its plots from the JSON files the benchmark runs wrote.

    report.py [--total-since EPOCH_SECONDS]

Reads speed.json and quality.json (from run_speed.py / run_quality.py); a missing file leaves its sections
out with a note. The reasons behind the engine's own choices are not repeated here: the report links to the
decision records in docs/decisions/.

``--total-since`` (the epoch second ``make bench`` started) records how long the whole run took,
up to the end of the quality run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import REPO, RESULTS, rounded, table, write_json
from _report_cost import cost_section, memory_size_guidance
from _report_quality import edges_section, quality_for_targets, quality_section
from _report_rows import TARGET_MODEL, mark
from _report_speed import decontamination_section, headline, plots, speed_sections, throughput_section
from _report_targets import targets

QUALITY_ALL_IMAGES = "quality_u2net_all_images.json"
DECISIONS = REPO / "docs" / "decisions"


def load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / name
    data: dict[str, Any] | None = json.loads(path.read_text()) if path.exists() else None
    return data


def _epoch(stamp: str) -> float:
    """Seconds since the epoch of a ``created`` stamp (``%Y-%m-%d %H:%M:%S %z``)."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S %z").timestamp()


def _relative(path: str | None) -> str:
    """A path inside the repository, relative to it (the report is committed)."""
    return str(path).replace(f"{REPO}/", "")


def decisions_section(report_dir: Path) -> list[str]:
    """Links to the decision records (docs/decisions/): the measurements behind the engine's choices."""
    records = sorted(DECISIONS.glob("[0-9][0-9][0-9][0-9]-*.md"))
    out = ["## Why the engine does what it does\n"]
    out.append(
        "The engine changes this benchmark led to (its PNG writer, the matte upsampling, the WebP effort, "
        "the memory settings, the model's quantisation) were each measured once, in isolation, and written "
        "down with their numbers as decision records in "
        f"[docs/decisions/]({os.path.relpath(DECISIONS / 'README.md', report_dir)}):\n"
    )
    links = [f"- [{_title(record)}]({os.path.relpath(record, report_dir)})" for record in records]
    out += links or ["- none found"]
    out.append("")
    return out


def _title(record: Path) -> str:
    """A record's first heading."""
    return record.read_text().splitlines()[0].lstrip("#").strip()


def _model_checks(speed: dict[str, Any] | None, quality: dict[str, Any] | None) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    for source in (quality, speed):
        checks.update((source or {}).get("rembg_models", {}))
    return checks


def run_details(
    speed: dict[str, Any] | None,
    quality: dict[str, Any] | None,
    throughput: dict[str, Any] | None,
    all_images: dict[str, Any] | None,
    total_since: float | None,
) -> list[str]:
    """The report's opening list: machine, engine, rembg's model files, network attempts, run times."""
    meta = []
    if speed:
        m = speed["machine"]
        meta.append(
            f"- Machine: {m['cpu']}, {m['cpus_usable']} CPUs usable, {m['memory_gib']} GiB; Python "
            f"{m['python']},"
            f" onnxruntime {m['onnxruntime']}, Pillow {m['pillow']}, rembg {m['rembg']}."
        )
        meta.append(
            f"- Load average (1/5/15 min) of the speed run at start "
            f"{tuple(round(x, 2) for x in m['loadavg_at_start'])}, "
            f"at end {tuple(round(x, 2) for x in m['loadavg_at_end'])}: the machine is shared, so absolute "
            "times are noisy; ours and rembg run interleaved so that their ratios are not."
        )
        meta.append(
            f"- Engine: commit {m.get('engine_commit')}"
            + (
                f", WebP method {m['engine_webp_method']} (rembg's WebP is saved with the same)"
                if "engine_webp_method" in m
                else ""
            )
            + f". Threads: ours {speed['threads']['ours']}; rembg {speed['threads']['rembg']}."
        )
    for name, check in sorted(_model_checks(speed, quality).items()):
        meta.append(
            f"- rembg's {name} ({check['session_class']}): `{_relative(check['resolved_path'])}` -> "
            f"`{_relative(check['real_path'])}`, md5 {check['md5']} (rembg expects "
            f"{check['md5_expected_by_rembg']}: {'match' if check['md5_matches'] else 'MISMATCH'})."
        )
    attempts = [
        *(speed or {}).get("network_attempts", []),
        *(quality or {}).get("network_attempts", []),
        *(throughput or {}).get("network_attempts", []),
        *(all_images or {}).get("network_attempts", []),
    ]
    interfaces = (speed or {}).get("machine", {}).get("network_interfaces")
    where = (
        " The speed run saw only the loopback interface (an empty network namespace, `unshare -n`)."
        if interfaces == ["lo"]
        else ""
    )
    meta.append(f"- Network access attempts refused during the runs: {len(attempts)}.{where}")
    durations = []
    if speed:
        durations.append(f"speed {speed['elapsed_s'] / 60:.1f} min")
    if quality:
        durations.append(f"quality {quality['elapsed_s'] / 60:.1f} min")
    if throughput:
        durations.append(f"CLI throughput {throughput['elapsed_s'] / 60:.1f} min")
    total = ""
    if total_since:
        finished = (
            max(_epoch(d["created"]) for d in (speed, quality, throughput) if d)
            if (speed or quality or throughput)
            else time.time()
        )
        total = f"; whole `make bench` {(finished - total_since) / 60:.1f} min"
    meta.append(
        f"- Run time: {', '.join(durations)}{total}. Created {time.strftime('%Y-%m-%d %H:%M:%S %z')}."
    )
    return meta


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total-since", type=float, help="epoch seconds when `make bench` started")
    parser.add_argument("--results-dir", type=Path, help="read and write there instead (smoke tests)")
    args = parser.parse_args()
    results = args.results_dir or RESULTS
    report = results / "REPORT.md"
    speed, quality, throughput = (
        load(results, f"{name}.json") for name in ("speed", "quality", "throughput")
    )
    # the u2net methods on every image, run apart when the whole quality run did not fit (see bench/README.md)
    all_images = load(results, QUALITY_ALL_IMAGES)
    lines = ["# Benchmark: bgremove vs rembg (u2net, and u2netp)\n"]
    lines.append("Generated by `make bench` (bench/report.py); see bench/README.md for the method.\n")
    lines += [*run_details(speed, quality, throughput, all_images, args.total_since), ""]

    edges = load(results, "edges.json")
    # a whole `make bench` measures it in speed.json; `run_speed.py --only-decontamination` alone, apart
    decontamination = (speed or {}).get("decontamination") or (
        load(results, "decontamination.json") or {}
    ).get("decontamination", [])
    found = targets(speed, quality_for_targets(quality, all_images), edges, decontamination)
    if found:
        cpus = speed["machine"]["cpus_usable"] if speed else "?"
        lines.append(f"## Targets ({cpus} CPUs, ours {TARGET_MODEL} vs rembg {TARGET_MODEL})\n")
        lines.append(
            table(
                ["target", "measured", "status"],
                [[t["target"], t["measured"], mark(t["met"])] for t in found],
            )
        )
        lines.append("")
    guidance_raw: dict[str, Any] = {}
    cost_raw: dict[str, Any] = {}
    if speed:
        plots(speed, results)
        lines += headline(speed)
    lines += decisions_section(report.parent)
    if speed:
        lines += speed_sections(speed)
        section, guidance_raw = memory_size_guidance(speed)
        lines += section
    else:
        lines.append("No speed.json: run `make bench` (needs ../shared).\n")
    if throughput:
        lines += throughput_section(throughput)
    else:
        lines.append("No throughput.json: run `make bench-throughput` (needs ../shared).\n")
    if speed:
        section, cost_raw = cost_section(speed)
        lines += section
    lines += decontamination_section(decontamination)
    if edges:
        lines += edges_section(edges)
    else:
        lines.append("No edges.json: run `make bench-quality` (needs ../shared).\n")
    if all_images and quality_for_targets(quality, all_images) is all_images:
        lines += quality_section(
            all_images,
            f"## Quality on every image, {TARGET_MODEL} methods ({QUALITY_ALL_IMAGES}, the target's data)\n",
            QUALITY_ALL_IMAGES.replace(".json", "_per_image.json"),
        )
    if quality:
        lines += quality_section(quality)
    else:
        lines.append("No quality.json: run `make bench-quality` (needs ../shared).\n")
    report.write_text("\n".join(lines).rstrip() + "\n")
    summary = {"targets": found, "memory_size_guidance": guidance_raw, "lambda_cost": cost_raw}
    if throughput:
        summary["cli_throughput"] = {
            engine: tool["images_per_s"]["median"] for engine, tool in throughput["tools"].items()
        }
    write_json(results / "summary.json", rounded(summary, 6))
    print(f"wrote {report}")
    for t in found:
        print(f"  {'MET   ' if t['met'] else 'MISSED'} {t['target']}: {t['measured']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
