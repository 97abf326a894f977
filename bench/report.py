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

REPORT = RESULTS / "REPORT.md"
QUALITY_ALL_IMAGES = "quality_u2net_all_images.json"
DECISIONS = REPO / "docs" / "decisions"

# ---- targets (issue 10: u2net, the default model, against rembg's u2net) -------------------------
TARGET_MODEL = "u2net"
FAST_MODEL = "u2netp"
TARGET_RATIO_12MP = 0.35
TARGET_RATIO_SMALL = 0.9
TARGET_OVERHEAD = 0.10
TARGET_OVERHEAD_MAX_MP = 2.05  # "inputs up to 2 MP" (the 2 MP input is 1632x1224 = 2.0 MP)
TARGET_COLD_S = 2.5
TARGET_RSS_12MP_MB = 1100  # decimal MB (1.1 GB)
# ---- the foreground colour estimation (option decontaminate; docs/decisions/0010) ----------------
TARGET_EDGE_MAE = 0.80  # ours / rembg-u2net, band within 6 px of the true edge, on white
TARGET_EDGE_SPILL = 0.50
TARGET_DECONTAMINATE_SMALL_MS = 15.0  # at 0.4 MP
TARGET_DECONTAMINATE_LARGE_SHARE = 0.10  # of the whole time at 12 MP
TARGET_RATIO_LARGE_WITH_DC = 0.45  # bar F4: large photos, the whole process, ours / rembg-u2net

# ---- cost model assumptions (list prices as publicly documented; check current pricing) ----------
LAMBDA_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_REQUEST = 0.20 / 1e6
MB_PER_VCPU = 1769
# Lambda CPU speed relative to this machine's cores, per image (assumptions, not measurements):
CPU_FACTOR = {"x86_64": 1.0, "arm64": 1.3}
S3_PUT, S3_GET = 0.005 / 1000, 0.0004 / 1000  # S3 Standard, us-east-1
SQS_REQUEST, SNS_PUBLISH = 0.40 / 1e6, 0.50 / 1e6
BATCH_SIZE = 5  # template.yaml default: SQS messages per invocation
S3_BYTES_PER_S = 80e6  # in-region S3 transfer assumed for GET + PUT
S3_REQUEST_S = 0.03  # per S3 call
COLD_STARTS_PER_1000 = 5  # INIT is billed (since August 2025); a steady queue keeps environments warm
VENDORS = [
    (
        "remove.bg",
        "1 credit per full-resolution image, 1/4 credit per preview (<= 0.25 MP)",
        "help.remove.bg / remove.bg/help/a/what-are-image-credits",
        "dollar price per credit not found in the sources available to this benchmark",
    ),
    (
        "Pixian.AI",
        "API documented (pixian.ai/api, remove.bg-compatible endpoint)",
        "pixian.ai/api",
        "price per image not found in the sources available to this benchmark",
    ),
    (
        "Replicate",
        "billed per second of run time: CPU $0.000100/s (4 vCPU, 8 GB), Nvidia T4 $0.000225/s",
        "replicate.com/pricing",
        "per-image cost depends on the model's run time (estimate below)",
    ),
]


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    data: dict[str, Any] | None = json.loads(path.read_text()) if path.exists() else None
    return data


def _epoch(stamp: str) -> float:
    """Seconds since the epoch of a ``created`` stamp (``%Y-%m-%d %H:%M:%S %z``)."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S %z").timestamp()


def _relative(path: str | None) -> str:
    """A path inside the repository, relative to it (the report is committed)."""
    return str(path).replace(f"{REPO}/", "")


def _link(path: Path) -> str:
    """A link from REPORT.md to ``path``."""
    return os.path.relpath(path, REPORT.parent)


def fmt_s(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.2f}"


def mark(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def input_labels(speed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in speed["inputs"]}


def latency_row(
    speed: dict[str, Any], input_id: str, fmt: str, model: str = TARGET_MODEL
) -> dict[str, Any] | None:
    """The latency row of ``model`` for an input and format; ``None`` when it was not measured."""
    return next(
        (
            r
            for r in speed["latency"]
            if r["input"] == input_id and r["format"] == fmt and r.get("model") == model
        ),
        None,
    )


def measured(speed: dict[str, Any], input_id: str, fmt: str, model: str = TARGET_MODEL) -> dict[str, Any]:
    """Like :func:`latency_row`, for rows every run has."""
    row = latency_row(speed, input_id, fmt, model)
    if row is None:
        raise KeyError(f"speed.json has no {model} row for {input_id} -> {fmt}")
    return row


def cold_row(speed: dict[str, Any], model: str = TARGET_MODEL) -> dict[str, Any] | None:
    return next((c for c in speed["cold_start"] if c["model"] == model), None)


def rss_row(speed: dict[str, Any], input_id: str, model: str = TARGET_MODEL) -> dict[str, Any] | None:
    return next((r for r in speed["peak_rss"] if r["input"] == input_id and r["model"] == model), None)


# ---- targets -------------------------------------------------------------------------------------
def targets(
    speed: dict[str, Any] | None,
    quality: dict[str, Any] | None,
    edges: dict[str, Any] | None = None,
    decontamination: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The issue's targets for ours-u2net (the default) against rembg-u2net, met or missed."""
    found: list[dict[str, Any]] = []
    found += edge_targets(decontamination or [], edges)
    if speed:
        for input_id, limit in (("12mp", TARGET_RATIO_12MP), ("0.4mp", TARGET_RATIO_SMALL)):
            row = latency_row(speed, input_id, "png")
            if row is None:
                continue
            found.append(
                {
                    "target": f"{input_labels(speed)[input_id]['label']} -> PNG latency <= {limit}x rembg",
                    "measured": f"{row['ratio_of_medians']:.3f}x ({fmt_s(row['ours']['wall_s']['median'])} s"
                    f" vs {fmt_s(row['rembg']['wall_s']['median'])} s; paired median "
                    f"{row['paired_ratio']['median']:.2f}x)",
                    "met": row["ratio_of_medians"] <= limit,
                }
            )
        labels = input_labels(speed)
        overheads = {
            i: row["ours"]["overhead_vs_inference"]["median"]
            for i, item in labels.items()
            if item["megapixels"] <= TARGET_OVERHEAD_MAX_MP and (row := latency_row(speed, i, "png"))
        }
        if overheads:
            worst = max(overheads, key=lambda i: overheads[i])
            found.append(
                {
                    "target": f"all but inference <= {TARGET_OVERHEAD:.0%} of inference, inputs <= 2 MP",
                    "measured": ", ".join(f"{labels[i]['label']} {v:.1%}" for i, v in overheads.items())
                    + f" (PNG output; worst {labels[worst]['label']})",
                    "met": overheads[worst] <= TARGET_OVERHEAD,
                }
            )
        cold = cold_row(speed)
        if cold:
            seconds = cold["ours"]["first_result_s"]["median"]
            found.append(
                {
                    "target": f"cold start to first result <= {TARGET_COLD_S} s",
                    "measured": f"{seconds:.2f} s (median of {cold['reps']}; rembg "
                    f"{cold['rembg']['first_result_s']['median']:.2f} s)",
                    "met": seconds <= TARGET_COLD_S,
                }
            )
        rss = rss_row(speed, "12mp")
        if rss:
            rss_mb = rss["ours"]["peak_rss_mib"] * 2**20 / 1e6
            found.append(
                {
                    "target": f"peak RSS for 12 MP <= {TARGET_RSS_12MP_MB / 1000} GB",
                    "measured": f"{rss_mb:.0f} MB ({rss['ours']['peak_rss_mib']:.0f} MiB; rembg "
                    f"{rss['rembg']['peak_rss_mib'] * 2**20 / 1e6:.0f} MB)",
                    "met": rss_mb <= TARGET_RSS_12MP_MB,
                }
            )
    if quality:
        verdicts = []
        ok = True
        for set_name, methods in quality["sets"].items():
            ours, rembg = methods.get(f"ours-{TARGET_MODEL}"), methods.get(f"rembg-{TARGET_MODEL}")
            if not ours or not rembg:
                continue
            ok &= (
                ours["mae"] <= rembg["mae"] and ours["iou"] >= rembg["iou"] and ours["biou"] >= rembg["biou"]
            )
            verdicts.append(
                f"{set_name} ({ours['n']} images): MAE {ours['mae']:.4f}/{rembg['mae']:.4f}, IoU "
                f"{ours['iou']:.4f}/{rembg['iou']:.4f}, "
                f"BIoU {ours['biou']:.4f}/{rembg['biou']:.4f}"
            )
        if verdicts:
            found.append(
                {
                    "target": "quality: ours >= rembg (u2net) on MAE (lower), IoU, boundary IoU, every set",
                    "measured": "; ".join(verdicts) + " (ours/rembg)",
                    "met": ok,
                }
            )
    return found


def edge_targets(decontamination: list[dict[str, Any]], edges: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Edges on a new background (edges.json) and what the estimator costs (speed.json's decontamination
    rows, or decontamination.json's from ``run_speed.py --only-decontamination``)."""
    found: list[dict[str, Any]] = []
    for set_name, entry in (edges or {}).get("sets", {}).items():
        ratio = entry.get("ours-u2net/rembg-u2net")
        if not ratio:
            continue
        ours, rembg = entry["ours-u2net"], entry["rembg-u2net"]
        for key, limit, label in (("mae", TARGET_EDGE_MAE, "MAE"), ("spill", TARGET_EDGE_SPILL, "spill")):
            found.append(
                {
                    "target": f"edges on white, {set_name}: {label} near the edge <= {limit}x rembg",
                    "measured": f"{ratio[key]:.3f}x ({ours[key]:.4f} vs {rembg[key]:.4f}; {entry['images']} "
                    f"images x {len(entry['colours'])} colours)",
                    "met": ratio[key] <= limit,
                }
            )
    for row in decontamination:
        added, share = row["added_ms"]["median"], row["added_share"]
        compose, compose_share = row["added_compose_ms"]["median"], row["added_compose_share"]
        measured = (
            f"+{added:.1f} ms whole ({share:.1%}), +{compose:.1f} ms in compose ({compose_share:.1%}); "
            f"median of {row['reps']} pairs"
        )
        if row["input"] == "0.4mp":
            found.append(
                {
                    "target": f"decontaminate adds <= {TARGET_DECONTAMINATE_SMALL_MS:.0f} ms at 0.4 MP",
                    "measured": measured,
                    "met": compose <= TARGET_DECONTAMINATE_SMALL_MS,
                }
            )
        elif row["input"] == "12mp":
            found.append(
                {
                    "target": f"decontaminate adds <= {TARGET_DECONTAMINATE_LARGE_SHARE:.0%} at 12 MP",
                    "measured": measured,
                    "met": compose_share <= TARGET_DECONTAMINATE_LARGE_SHARE,
                }
            )
            if "on_to_rembg" in row:
                found.append(
                    {
                        "target": f"12 MP -> PNG with decontaminate <= {TARGET_RATIO_LARGE_WITH_DC}x rembg",
                        "measured": f"{row['on_to_rembg']:.3f}x ({fmt_s(row['on']['wall_s']['median'])} s vs "
                        f"{fmt_s(row['rembg']['wall_s']['median'])} s; {row['reps']} repetitions)",
                        "met": row["on_to_rembg"] <= TARGET_RATIO_LARGE_WITH_DC,
                    }
                )
    return found


def edges_section(edges: dict[str, Any]) -> list[str]:
    """Edges on a new background: the shared sets' subjects over saturated colours, cut out onto white."""
    out = ["## Edges on a new background (edges.json, bench/run_edges.py)\n"]
    subset = f" every {edges['every']}th image" if edges.get("every", 1) > 1 else " every image"
    out.append(
        f"The shared sets' subjects ({subset.strip()} of each set), their masks blurred by "
        f"{edges['softness_px']:g} px into a soft alpha, composited over {', '.join(edges['colours'])}; "
        "each method cuts them out onto white, and the result is scored against the true composite on white "
        f"in the band within {edges['band_px']:g} px of the true edge: MAE per channel (0..1) and spill, the "
        "share of the old background the result carries (least squares over the band; 0 is none, below 0 "
        "pushed away from it). `ours-u2net-plain` is the engine without the foreground colour estimation "
        "(`decontaminate=false`). Load average at start "
        f"{tuple(round(x, 2) for x in edges['loadavg_at_start'])}.\n"
    )
    for set_name, entry in edges["sets"].items():
        methods = [m for m in edges["methods"] if m in entry]
        rows = []
        for method in methods:
            colours = ", ".join(
                f"{colour} {values['mae']:.4f}/{values['spill']:+.4f}"
                for colour, values in entry[method]["by_colour"].items()
            )
            rows.append([method, f"{entry[method]['mae']:.4f}", f"{entry[method]['spill']:+.4f}", colours])
        for key in [k for k in entry if "/" in k]:
            rows.append([key, f"{entry[key]['mae']:.3f}x", f"{entry[key]['spill']:.3f}x", ""])
        out.append(f"### {set_name} ({entry['images']} images x {len(entry['colours'])} colours)\n")
        out.append(table(["method", "edge MAE", "spill", "per colour (MAE/spill)"], rows))
        out.append("")
    picture = edges.get("picture", {}).get("file")
    if picture:
        out.append(
            f"![zoomed edges: composite, truth, rembg, ours before and after]({picture})\n\n"
            "Zoomed 4x: the composite the methods were given, the truth on white, rembg-u2net, ours without "
            "and with the estimate (images picked by rule: the first frame of the first DAVIS sequences and "
            "the first horses, the window on the top of the subject). Per image and colour: "
            "edges_per_image.json.\n"
        )
    return out


def decontamination_section(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    out = [
        "## What the foreground colour estimation costs (`decontaminate` on vs off, back to back; speed.json "
        "or, from `run_speed.py --only-decontamination`, decontamination.json)\n"
    ]
    table_rows = [
        [
            row["input"],
            fmt_s(row["off"]["wall_s"]["median"]),
            fmt_s(row["on"]["wall_s"]["median"]),
            f"{row['added_ms']['median']:+.1f} ({row['added_share']:.1%})",
            f"{row['added_compose_ms']['median']:+.1f} ({row['added_compose_share']:.1%})",
            fmt_s(row["rembg"]["wall_s"]["median"]) if "rembg" in row else "-",
            f"{row['on_to_rembg']:.3f}x" if "on_to_rembg" in row else "-",
            str(row["reps"]),
        ]
        for row in rows
    ]
    header = [
        "u2net -> PNG",
        "off s",
        "on s",
        "added ms, whole",
        "added ms, compose",
        "rembg s",
        "on / rembg",
    ]
    out.append(table([*header, "repetitions"], table_rows))
    out.append("")
    out.append(
        "Medians; the added times are medians of the per-repetition differences. The estimator runs in the "
        "compose stage, so its cost is the compose difference; the whole-time difference also carries the "
        "machine's noise.\n"
    )
    return out


# ---- plots ---------------------------------------------------------------------------------------
def plots(speed: dict[str, Any]) -> list[str]:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    made = []
    labels = input_labels(speed)
    jpeg_inputs = [i for i in labels if i != "png_alpha"]
    mp = [labels[i]["megapixels"] for i in jpeg_inputs]
    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    lines = [(TARGET_MODEL, fmt, style) for fmt, style in (("png", "-"), ("jpeg", "--"), ("webp", ":"))]
    lines.append((FAST_MODEL, "png", "-."))
    for model, fmt, style in lines:
        for engine, colour in (("ours", "tab:blue"), ("rembg", "tab:orange")):
            found = [latency_row(speed, i, fmt, model) for i in jpeg_inputs]
            points = [(x, r[engine]["wall_s"]) for x, r in zip(mp, found, strict=True) if r]
            if not points:
                continue
            axis.errorbar(
                [x for x, _ in points],
                [w["median"] for _, w in points],
                yerr=[[0] * len(points), [w["p95"] - w["median"] for _, w in points]],
                linestyle=style,
                marker="o" if model == TARGET_MODEL else "x",
                color=colour,
                alpha=1.0 if model == TARGET_MODEL else 0.5,
                capsize=3,
                label=f"{engine} {model} -> {fmt}",
            )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xticks(mp, [labels[i]["label"].replace(" JPEG", "") for i in jpeg_inputs])
    axis.set_xlabel("input size (JPEG)")
    axis.set_ylabel("end-to-end latency, s (median, bar to p95)")
    axis.set_title(f"bytes -> bytes latency, {speed['machine']['cpus_usable']} CPUs")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(RESULTS / "latency_by_size.png", dpi=90)
    plt.close(figure)
    made.append("latency_by_size.png")

    stages = ["decode", "preprocess", "inference", "postprocess", "compose", "encode"]
    inputs = list(labels)
    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    positions = range(len(inputs))
    bottoms = [0.0] * len(inputs)
    for stage in stages:
        values = [measured(speed, i, "png")["ours"]["stages_ms"][stage]["median"] / 1000 for i in inputs]
        axis.bar(positions, values, bottom=bottoms, label=stage, width=0.6)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    rembg = [measured(speed, i, "png")["rembg"]["wall_s"]["median"] for i in inputs]
    axis.scatter(positions, rembg, marker="_", s=900, color="black", label="rembg total", zorder=3)
    axis.set_xticks(list(positions), [labels[i]["label"] for i in inputs], fontsize=8)
    axis.set_ylabel("seconds (median per stage)")
    axis.set_title(
        f"ours ({TARGET_MODEL}): where the time goes (-> PNG), vs rembg ({TARGET_MODEL}) end to end"
    )
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(RESULTS / "stages.png", dpi=90)
    plt.close(figure)
    made.append("stages.png")
    return made


# ---- cost model ----------------------------------------------------------------------------------
def scaling_rows(speed: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = speed.get("cpu_scaling", {}).get("rows", [])
    return rows


def scaling_row(speed: dict[str, Any], cpus: int, input_id: str) -> dict[str, Any] | None:
    return next((r for r in scaling_rows(speed) if r["cpus"] == cpus and r["input"] == input_id), None)


def memory_floor_mb() -> int | None:
    """``template.yaml``'s ``MemorySize`` ``MinValue``: the smallest size the function is deployed with."""
    import re  # noqa: PLC0415

    template = REPO / "template.yaml"
    found = (
        re.search(r"\n  MemorySize:\n(?:    .*\n)*?    MinValue: (\d+)", template.read_text())
        if template.exists()
        else None
    )
    return int(found.group(1)) if found else None


def lambda_compute_usd(seconds: float, memory_mb: int, arch: str) -> float:
    """Lambda's charge for ``seconds`` at ``memory_mb``: GB-seconds x the price per GB-s, plus one request."""
    return seconds * memory_mb / 1024 * LAMBDA_GB_S[arch] + LAMBDA_REQUEST


def memory_size_guidance(speed: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Latency and Lambda cost per 1000 images (input -> PNG, u2net) at 1, 2 and 4 vCPUs (1769 MB each)."""
    scaling = speed.get("cpu_scaling")
    if not scaling or not scaling["rows"]:
        return [], {}
    labels = input_labels(speed)
    inputs = list(dict.fromkeys(r["input"] for r in scaling["rows"]))
    header = ["vCPUs (MemorySize)"]
    for i in inputs:
        label = labels[i]["label"].replace(" JPEG", "")
        header += [f"{label}: ours / rembg s", f"{label}: ours $/1000 x86_64 / arm64"]
    rows = []
    raw: dict[str, Any] = {}
    for cpus in scaling["asked"]:
        memory = cpus * MB_PER_VCPU
        cells = [f"{cpus} ({memory} MB)"]
        for i in inputs:
            row = scaling_row(speed, cpus, i)
            if row is None:
                cells += ["not measured", "-"]
                continue
            ours, rembg = row["ours"]["wall_s"]["median"], row["rembg"]["wall_s"]["median"]
            usd = {
                arch: 1000 * lambda_compute_usd(ours * CPU_FACTOR[arch], memory, arch) for arch in LAMBDA_GB_S
            }
            raw[f"{cpus}cpu/{i}"] = {
                "memory_mb": memory,
                "ours_s": ours,
                "rembg_s": rembg,
                "ours_usd_per_1000": usd,
            }
            cells += [f"{fmt_s(ours)} / {fmt_s(rembg)}", f"${usd['x86_64']:.3f} / ${usd['arm64']:.3f}"]
        rows.append(cells)
    here = scaling["cpus_here"]
    missing = [n for n in scaling["asked"] if n > here]
    out = [
        f"## MemorySize guidance: latency and cost per 1000 images by vCPU count ({TARGET_MODEL} -> PNG)\n"
    ]
    out.append(table(header, rows))
    note = (
        f"\nLambda gives 1 vCPU per {MB_PER_VCPU} MB, so N vCPUs are emulated here by pinning the worker "
        "process to N CPUs (`sched_setaffinity`, what `taskset` does) with N ONNX Runtime threads, ours and "
        "rembg interleaved. Latency is the median bytes -> bytes time of a warm process. Cost = latency x "
        f"MemorySize in GB x the GB-second price (x86_64 ${LAMBDA_GB_S['x86_64']:.10f}, arm64 "
        f"${LAMBDA_GB_S['arm64']:.10f}) + one Lambda request (${LAMBDA_REQUEST * 1e6:.2f} per 1M): the "
        f"function's compute only. arm64 assumes {CPU_FACTOR['arm64']}x this machine's seconds (not "
        "measured; see the cost model below). S3, SQS, SNS and cold starts are in the full cost model below."
    )
    slower = [
        labels[i]["label"]
        for i in inputs
        if (one := scaling_row(speed, 1, i))
        and (two := scaling_row(speed, 2, i))
        and two["ours"]["wall_s"]["median"] >= 0.9 * one["ours"]["wall_s"]["median"]
    ]
    if slower:
        note += (
            f" **Caution**: with 2 CPUs ours was not clearly faster than with 1 on {', '.join(slower)}. "
            "On a shared machine the second CPU is likely busy with other work (see the load average above): "
            "the 2-CPU row may understate what 2 dedicated vCPUs give; re-run on an idle machine before "
            "sizing on it."
        )
    floor = memory_floor_mb()
    if floor and floor > MB_PER_VCPU:
        note += (
            f" 1 vCPU ({MB_PER_VCPU} MB) is below the function's MemorySize floor, {floor} MB "
            "(`template.yaml` `MinValue`, from the worst input it accepts: docs/decisions/): the smallest "
            f"size the template deploys gets {floor / MB_PER_VCPU:.2f} vCPU, between the 1- and 2-vCPU rows."
        )
    if missing:
        note += (
            f" {', '.join(str(n) for n in missing)} vCPUs: not measured, this machine has {here} CPUs and "
            "more "
            "cannot be emulated; no figure is given."
        )
    out.append(note + "\n")
    return out, raw


def lambda_seconds(speed: dict[str, Any], input_id: str, engine: str, cpus: int, arch: str) -> float | None:
    """Billed seconds per image on Lambda with ``cpus`` vCPUs, from the latency measured with that many."""
    row = scaling_row(speed, cpus, input_id)
    full = latency_row(speed, input_id, "png")
    if row is None or full is None:
        return None
    compute = row[engine]["wall_s"]["median"] * CPU_FACTOR[arch]
    size = next(i for i in speed["inputs"] if i["id"] == input_id)
    in_bytes = Path(size["path"]).stat().st_size if Path(size["path"]).exists() else 0
    transfer = (in_bytes + full[engine]["out_bytes"]) / S3_BYTES_PER_S + 2 * S3_REQUEST_S
    cold_start = cold_row(speed)
    cold = 0.0
    if cold_start:
        # the cold start was measured with every CPU here; fewer vCPUs are assumed to slow it in proportion
        here = speed["machine"]["cpus_usable"]
        cold = cold_start[engine]["first_result_s"]["median"] * max(1.0, here / cpus) * CPU_FACTOR[arch]
    seconds: float = compute + transfer + cold * COLD_STARTS_PER_1000 / 1000
    return seconds


def cost_rows(speed: dict[str, Any]) -> tuple[list[list[str]], dict[str, Any]]:
    requests = (
        (2 * S3_PUT + S3_GET) + (1 + 2 / BATCH_SIZE) * SQS_REQUEST + SNS_PUBLISH + LAMBDA_REQUEST / BATCH_SIZE
    )
    rows = []
    raw: dict[str, Any] = {"aws_requests_per_image": requests}
    counts = sorted({r["cpus"] for r in scaling_rows(speed)})
    for item in speed["inputs"]:
        for cpus in counts:
            memory = cpus * MB_PER_VCPU
            cells = [item["label"], f"{memory} MB ({cpus} vCPU)"]
            for arch in ("x86_64", "arm64"):
                for engine in ("ours", "rembg"):
                    seconds = lambda_seconds(speed, item["id"], engine, cpus, arch)
                    if seconds is None:
                        break
                    per_1000 = 1000 * (seconds * memory / 1024 * LAMBDA_GB_S[arch] + requests)
                    raw[f"{item['id']}/{memory}/{arch}/{engine}"] = {
                        "seconds": seconds,
                        "usd_per_1000": per_1000,
                    }
                    cells.append(f"${per_1000:.3f} ({seconds:.2f} s)")
            if len(cells) == 6:
                rows.append(cells)
    return rows, raw


# ---- sections ------------------------------------------------------------------------------------
def _latency_table(speed: dict[str, Any], model: str) -> str:
    head = []
    for item_id, item in input_labels(speed).items():
        row = latency_row(speed, item_id, "png", model)
        if row is None:
            continue
        head.append(
            [
                item["label"],
                fmt_s(row["ours"]["wall_s"]["median"]),
                fmt_s(row["rembg"]["wall_s"]["median"]),
                f"**{row['ratio_of_medians']:.2f}x**",
                f"{row['paired_ratio']['median']:.2f}x",
            ]
        )
    header = ["input", "ours median s", "rembg median s", "ratio of medians", "median of paired ratios"]
    return table(header, head)


def headline(speed: dict[str, Any]) -> list[str]:
    out = [
        f"## Headline: ours / rembg, both {TARGET_MODEL} (the default), input -> PNG (transparent cut-out)\n"
    ]
    out.append(_latency_table(speed, TARGET_MODEL))
    out.append(
        "\nThe paired ratio divides each repetition's two back-to-back runs before taking the median: it is "
        "the more robust figure when the machine's load changes during the run.\n"
    )
    if any(r.get("model") == FAST_MODEL for r in speed["latency"]):
        out.append(f"### Fast tier: ours / rembg, both {FAST_MODEL}, input -> PNG\n")
        out.append(_latency_table(speed, FAST_MODEL))
        out.append("")
    return out


def speed_sections(speed: dict[str, Any]) -> list[str]:
    labels = input_labels(speed)
    out = []
    rows = []
    for row in speed["latency"]:
        item = labels[row["input"]]
        ours, rembg = row["ours"], row["rembg"]
        rows.append(
            [
                row["model"],
                item["label"],
                row["format"],
                str(row["reps"]),
                f"{fmt_s(ours['wall_s']['median'])} / {fmt_s(ours['wall_s']['p95'])}",
                f"{fmt_s(rembg['wall_s']['median'])} / {fmt_s(rembg['wall_s']['p95'])}",
                f"{row['ratio_of_medians']:.2f}x",
                f"{ours['out_bytes'] / 1e6:.2f} / {rembg['out_bytes'] / 1e6:.2f}",
            ]
        )
    out.append("\n## End-to-end latency (bytes -> bytes), u2net in every format, u2netp to PNG\n")
    header = ["model", "input", "output", "reps", "ours median / p95 s", "rembg median / p95 s", "ratio"]
    out.append(table([*header, "output MB ours / rembg"], rows))
    out.append("\n![latency by size](latency_by_size.png)\n")

    stages = ["decode", "preprocess", "inference", "postprocess", "compose", "encode", "total"]
    rows = []
    for row in speed["latency"]:
        item = labels[row["input"]]
        st = row["ours"]["stages_ms"]
        rows.append(
            [row["model"], item["label"], row["format"]]
            + [f"{st[s]['median']:.0f}" for s in stages]
            + [f"{row['ours']['overhead_vs_inference']['median']:.0%}"]
        )
    out.append("## Our per-stage timings (median ms, from `result.report.timings_ms`)\n")
    out.append(table(["model", "input", "output", *stages, "overhead / inference"], rows))
    out.append(
        "\nOverhead = total - inference, per run, divided by that run's inference time (median over runs)."
    )
    out.append("\n![stage breakdown](stages.png)\n")

    keys = [
        ("interpreter_s", "interpreter start"),
        ("import_s", "imports"),
        ("load_s", "model load"),
        ("first_image_s", "first image"),
        ("first_result_s", "**total to first result**"),
    ]
    colds = speed["cold_start"]
    header = ["phase"] + [f"{e} {c['model']} s" for c in colds for e in ("ours", "rembg")]
    rows = [
        [label] + [f"{c[e][k]['median']:.2f}" for c in colds for e in ("ours", "rembg")] for k, label in keys
    ]
    first = colds[0]
    out.append(
        f"## Cold start (fresh process, {labels[first['input']]['label']} -> PNG, "
        f"median of {first['reps']})\n"
    )
    out.append(table(header, rows))
    out.append(
        "\nMeasured from the parent's clock just before it starts the process (system-wide monotonic "
        "clock) to the first result in memory. Files are in the page cache (warm disk): a Lambda cold start "
        "adds the runtime's own init and reading the layers.\n"
    )

    def peaks(numbers: dict[str, float]) -> str:
        return f"{numbers.get('first_image_peak_rss_mib', float('nan')):.0f} / {numbers['peak_rss_mib']:.0f}"

    rows = [
        [
            r["model"],
            labels[r["input"]]["label"],
            peaks(r["ours"]),
            peaks(r["rembg"]),
            f"{r['ratio']:.2f}x",
            f"{r['ours']['rss_after_load_mib']:.0f} / {r['rembg']['rss_after_load_mib']:.0f}",
        ]
        for r in speed["peak_rss"]
    ]
    out.append("## Peak memory (fresh process per measurement, input -> PNG)\n")
    header = [
        "model",
        "input",
        "ours peak MiB, 1 / 2 images",
        "rembg peak MiB, 1 / 2 images",
        "ratio (2 images)",
    ]
    out.append(table([*header, "RSS after model load MiB ours / rembg"], rows))
    out.append(
        "\nPeak = `VmHWM` of a fresh process (imports, model, then the image twice). A long-lived process "
        "(a warm Lambda) peaks at the 2-image figure (ONNX Runtime allocates its memory pattern on the "
        "second run, which rembg keeps and ours turns off), so the target is checked against it. The speed "
        "run uses the function's `MALLOC_MMAP_THRESHOLD_` (see the decision records above).\n"
    )
    return out


def throughput_section(throughput: dict[str, Any]) -> list[str]:
    tools = throughput["tools"]
    folder = ", ".join(f"{item['copies']} x {item['label']}" for item in throughput["folder"])
    rows = [
        [
            f"`{tool['command']}`",
            f"{tool['images_per_s']['median']:.3f}",
            f"{tool['wall_s']['median']:.1f}",
            ", ".join(f"{r['wall_s']:.1f}" for r in tool["runs"]),
        ]
        for tool in tools.values()
    ]
    m = throughput["machine"]
    out = [f"## Command-line throughput: a folder of {throughput['images']} photos ({folder})\n"]
    out.append(
        table(["command (model u2net, output PNG)", "images/s (median)", "median s", "every run s"], rows)
    )
    out.append(
        f"\nours / rembg images/s: **{throughput['ours_vs_rembg_images_per_s']:.2f}x**. "
        f"{throughput['rounds']} runs of each tool, interleaved (bench/run_throughput.py); a run is one "
        "process from start (interpreter, imports, model load) to exit, into an empty output folder, each "
        f"tool with its own defaults. {m['cpus_usable']} CPUs; load average at start "
        f"{tuple(round(x, 2) for x in m['loadavg_at_start'])}, "
        f"at end {tuple(round(x, 2) for x in m['loadavg_at_end'])}. "
        f"Created {throughput['created']}.\n"
    )
    return out


def cost_section(speed: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    rows, raw = cost_rows(speed)
    out = [f"## Cost model: the whole pipeline on AWS, per 1000 images ({TARGET_MODEL}, input -> PNG)\n"]
    out.append(table(["input", "memory", "x86_64 ours", "x86_64 rembg", "arm64 ours", "arm64 rembg"], rows))
    out.append(
        f"""
Each cell: dollars per 1000 images (billed seconds per image). Assumptions:
- Lambda list prices (us-east-1): x86_64 ${LAMBDA_GB_S["x86_64"]:.10f}/GB-s,
  arm64 ${LAMBDA_GB_S["arm64"]:.10f}/GB-s, ${LAMBDA_REQUEST * 1e6:.2f} per 1M requests (one invocation per
  {BATCH_SIZE}-message SQS batch, the template's default).
- CPU: Lambda gives 1 vCPU per {MB_PER_VCPU} MB; each row uses the latency measured here with that many CPUs
  (the MemorySize table above), times a per-architecture CPU factor (x86_64 {CPU_FACTOR["x86_64"]}, arm64
  {CPU_FACTOR["arm64"]}: assumed, not measured; Graviton runs these convolution kernels somewhat slower).
  Inputs the CPU-count table did not measure are left out.
- I/O: input + output bytes over S3 at {S3_BYTES_PER_S / 1e6:.0f} MB/s plus {S3_REQUEST_S * 1000:.0f} ms per
  GET/PUT, billed as Lambda time.
- Cold starts (INIT is billed): {COLD_STARTS_PER_1000} per 1000 images, each the cold start measured here with
  every CPU, scaled up in proportion for fewer vCPUs.
- Requests per image: 2 S3 PUT (upload + result, ${S3_PUT * 1e3:.3f}/1000) + 1 S3 GET
  (${S3_GET * 1e3:.4f}/1000) + SQS (~1.4 requests, ${SQS_REQUEST * 1e6:.2f}/1M) + 1 SNS publish
  (${SNS_PUBLISH * 1e6:.2f}/1M): ${raw["aws_requests_per_image"] * 1000:.4f} per 1000. Not included: S3
  storage, data transfer out of AWS, CloudWatch logs, the DynamoDB idempotency writes, SNS deliveries.
"""
    )
    out.append("### Vendor list prices (as publicly documented; check current pricing)\n")
    out.append(table(["vendor", "list price", "source", "note"], [list(v) for v in VENDORS]))
    two_mp = latency_row(speed, "2mp", "png")
    if two_mp is None:
        return out, raw
    rembg_small = two_mp["rembg"]["wall_s"]["median"]
    out.append(
        f"\nReplicate estimate: a background-removal model that ran as long as rembg ({TARGET_MODEL}) does "
        f"here on 2 MP ({rembg_small:.2f} s) would cost about ${rembg_small * 0.0001 * 1000:.2f} per 1000 "
        f"images on Replicate's CPU hardware or ${rembg_small * 0.000225 * 1000:.2f} on a T4 (run time "
        "only; a real model's run time on their hardware will differ, and queueing/cold boots of public "
        "models are not billed).\n"
    )
    return out, raw


QUALITY_PAIRS = (
    ("ours-u2net", "rembg-u2net", "ours - rembg (u2net)"),
    ("ours-u2net", "ours-u2net-fp32", "ours 8-bit - ours fp32 (u2net): the quantisation's cost"),
    ("ours-u2netp", "rembg-u2netp", "ours - rembg (u2netp)"),
)


def quality_for_targets(
    quality: dict[str, Any] | None, all_images: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The quality run the target is checked on: every image where a run has them, else the subset."""
    whole = quality is not None and quality.get("every", 1) == 1 and not quality.get("limit")
    if whole or not all_images or all_images.get("every", 1) != 1 or all_images.get("limit"):
        return quality
    wanted = (f"ours-{TARGET_MODEL}", f"rembg-{TARGET_MODEL}")
    if all(all(m in methods for m in wanted) for methods in all_images["sets"].values()):
        return all_images
    return quality


def quality_section(
    quality: dict[str, Any], title: str | None = None, per_image: str = "quality_per_image.json"
) -> list[str]:
    reference = {"davis2016_val": (0.0322, 0.7020, 0.6043), "weizmann_horse": (0.0368, 0.8943, 0.7540)}
    out = [title or "## Quality (../shared/eval/sets, mattes scored like ../shared/eval/score.py)\n"]
    every = quality.get("every", 1)
    if every > 1 or quality.get("limit"):
        sizes = ", ".join(
            f"{name} {next(iter(methods.values()))['n']}" for name, methods in quality["sets"].items()
        )
        out.append(
            f"**A subset**: every {every}{ {2: 'nd', 3: 'rd'}.get(every, 'th') } image of each set, "
            "in name order"
            + (f", at most {quality['limit']}" if quality.get("limit") else "")
            + f" ({sizes} images), every method on the same images (`run_quality.py --every {every}`).\n"
        )
    if "loadavg_at_start" in quality:
        out.append(
            f"Load average (1/5/15 min) of the quality run at start "
            f"{tuple(round(x, 2) for x in quality['loadavg_at_start'])}, at end "
            f"{tuple(round(x, 2) for x in quality['loadavg_at_end'])} (only the images/s depend on it).\n"
        )
    out += [f"Note: {note}\n" for note in quality.get("notes", [])]
    if not quality.get("complete", True):
        out.append(
            "**Incomplete run**: the methods below are those the run finished before it was stopped.\n"
        )
    for set_name, methods in quality["sets"].items():
        rows = []
        for method, scores in methods.items():
            check = scores.get("scorer_check")
            rows.append(
                [
                    method,
                    str(scores["n"]),
                    f"{scores['mae']:.4f}",
                    f"{scores['iou']:.4f}",
                    f"{scores['biou']:.4f}",
                    f"{scores['timing']['images_per_s']:.2f}",
                    "yes" if check and check["agree"] else "-",
                ]
            )
        for first, second, label in QUALITY_PAIRS:
            a, b = methods.get(first), methods.get(second)
            if a and b:
                rows.append([label, "", *[f"{a[k] - b[k]:+.4f}" for k in ("mae", "iou", "biou")], "", ""])
        if set_name in reference:
            values = [f"{v:.4f}" for v in reference[set_name]]
            rows.append(["rembg u2netp, shared/eval/README reference", "", *values, "", ""])
        processes = next(iter(methods.values()))["timing"]["processes"]
        out.append(f"### {set_name}\n")
        header = ["method", "images", "MAE (lower better)", "IoU@0.5", "boundary IoU"]
        header += [f"images/s ({processes} processes x 1 thread)", "score.py agrees on sample"]
        out.append(table(header, rows))
        out.append("")
    if quality.get("skipped"):
        out.append("Skipped: " + "; ".join(quality["skipped"]) + ".\n")
    out.append(
        "Ours: `Options(background_type='map', format='png', model=MODEL)`; rembg: `remove(bytes, "
        "session=new_session(MODEL), only_mask=True)`. `ours-u2net` is the shipped default (u2net quantised "
        "to 8 bits, docs/decisions/0009); `ours-u2net-fp32` is the engine on "
        "rembg's own fp32 file, the file `rembg-u2net` runs. Images/s include starting the worker processes. "
        "Scores come from bench/_score.py, which reproduces score.py's metrics with a separable minimum "
        "filter instead of Pillow's O(d^2) `MinFilter` (about 1.5 s per DAVIS image); every run re-scores "
        "a sample of each set and method with score.py itself and stops if any number differs. Per-image "
        "scores: " + per_image + ".\n"
    )
    return out


def decisions_section() -> list[str]:
    """Links to the decision records (docs/decisions/): the measurements behind the engine's choices."""
    records = sorted(DECISIONS.glob("[0-9][0-9][0-9][0-9]-*.md"))
    out = ["## Why the engine does what it does\n"]
    out.append(
        "The engine changes this benchmark led to (its PNG writer, the matte upsampling, the WebP effort, "
        "the memory settings, the model's quantisation) were each measured once, in isolation, and written "
        "down with their numbers as decision records in "
        f"[docs/decisions/]({_link(DECISIONS / 'README.md')}):\n"
    )
    out += [f"- [{_title(record)}]({_link(record)})" for record in records] or ["- none found"]
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total-since", type=float, help="epoch seconds when `make bench` started")
    parser.add_argument("--results-dir", type=Path, help="read and write there instead (smoke tests)")
    args = parser.parse_args()
    if args.results_dir:
        global RESULTS, REPORT  # one results folder per run of this script
        RESULTS, REPORT = args.results_dir, args.results_dir / "REPORT.md"
    speed, quality, throughput = load("speed.json"), load("quality.json"), load("throughput.json")
    # the u2net methods on every image, run apart when the whole quality run did not fit (see bench/README.md)
    all_images = load(QUALITY_ALL_IMAGES)
    lines = ["# Benchmark: bgremove vs rembg (u2net, and u2netp)\n"]
    lines.append("Generated by `make bench` (bench/report.py); see bench/README.md for the method.\n")
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
    if args.total_since:
        finished = (
            max(_epoch(d["created"]) for d in (speed, quality, throughput) if d)
            if (speed or quality or throughput)
            else time.time()
        )
        total = f"; whole `make bench` {(finished - args.total_since) / 60:.1f} min"
    meta.append(
        f"- Run time: {', '.join(durations)}{total}. Created {time.strftime('%Y-%m-%d %H:%M:%S %z')}."
    )
    lines += [*meta, ""]

    edges = load("edges.json")
    # a whole `make bench` measures it in speed.json; `run_speed.py --only-decontamination` alone, apart
    decontamination = (speed or {}).get("decontamination") or (load("decontamination.json") or {}).get(
        "decontamination", []
    )
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
        plots(speed)
        lines += headline(speed)
    lines += decisions_section()
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
    REPORT.write_text("\n".join(lines).rstrip() + "\n")
    summary = {"targets": found, "memory_size_guidance": guidance_raw, "lambda_cost": cost_raw}
    if throughput:
        summary["cli_throughput"] = {
            engine: tool["images_per_s"]["median"] for engine, tool in throughput["tools"].items()
        }
    write_json(RESULTS / "summary.json", rounded(summary, 6))
    print(f"wrote {REPORT}")
    for t in found:
        print(f"  {'MET   ' if t['met'] else 'MISSED'} {t['target']}: {t['measured']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
