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
DECISIONS = REPO / "docs" / "decisions"

# ---- targets (from the issue) --------------------------------------------------------------------
TARGET_RATIO_12MP = 0.35
TARGET_RATIO_SMALL = 0.75
TARGET_OVERHEAD = 0.15
TARGET_COLD_S = 1.5
TARGET_RSS_12MP_MB = 600

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
MEMORY_OPTIONS = (2048, 3538)

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


def latency_row(speed: dict[str, Any], input_id: str, fmt: str) -> dict[str, Any]:
    return next(r for r in speed["latency"] if r["input"] == input_id and r["format"] == fmt)


# ---- targets -------------------------------------------------------------------------------------
def targets(speed: dict[str, Any] | None, quality: dict[str, Any] | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if speed:
        big = latency_row(speed, "12mp", "png")
        small = latency_row(speed, "0.4mp", "png")
        found.append(
            {
                "target": f"12 MP JPEG -> PNG latency <= {TARGET_RATIO_12MP}x rembg",
                "measured": f"{big['ratio_of_medians']:.2f}x ({fmt_s(big['ours']['wall_s']['median'])} s vs "
                f"{fmt_s(big['rembg']['wall_s']['median'])} s; paired median "
                f"{big['paired_ratio']['median']:.2f}x)",
                "met": big["ratio_of_medians"] <= TARGET_RATIO_12MP,
            }
        )
        found.append(
            {
                "target": f"0.4 MP JPEG -> PNG latency <= {TARGET_RATIO_SMALL}x rembg",
                "measured": f"{small['ratio_of_medians']:.2f}x "
                f"({fmt_s(small['ours']['wall_s']['median'])} s vs "
                f"{fmt_s(small['rembg']['wall_s']['median'])} s; paired median "
                f"{small['paired_ratio']['median']:.2f}x)",
                "met": small["ratio_of_medians"] <= TARGET_RATIO_SMALL,
            }
        )
        labels = input_labels(speed)
        small_inputs = [i for i, item in labels.items() if item["megapixels"] <= 2.05]
        overheads = {
            i: latency_row(speed, i, "png")["ours"]["overhead_vs_inference"]["median"] for i in small_inputs
        }
        worst = max(overheads, key=lambda i: overheads[i])
        found.append(
            {
                "target": f"pipeline overhead (all but inference) <= {TARGET_OVERHEAD:.0%} of inference, "
                "inputs <= 2 MP",
                "measured": ", ".join(f"{labels[i]['label']} {v:.0%}" for i, v in overheads.items())
                + f" (PNG output; worst {labels[worst]['label']})",
                "met": overheads[worst] <= TARGET_OVERHEAD,
            }
        )
        cold = speed["cold_start"]["ours"]["first_result_s"]["median"]
        found.append(
            {
                "target": f"cold start to first result <= {TARGET_COLD_S} s",
                "measured": f"{cold:.2f} s (median of {speed['cold_start']['reps']}; rembg "
                f"{speed['cold_start']['rembg']['first_result_s']['median']:.2f} s)",
                "met": cold <= TARGET_COLD_S,
            }
        )
        rss = next(r for r in speed["peak_rss"] if r["input"] == "12mp")
        rss_mb = rss["ours"]["peak_rss_mib"] * 2**20 / 1e6
        found.append(
            {
                "target": f"peak RSS for 12 MP <= {TARGET_RSS_12MP_MB} MB",
                "measured": f"{rss_mb:.0f} MB ({rss['ours']['peak_rss_mib']:.0f} MiB; rembg "
                f"{rss['rembg']['peak_rss_mib'] * 2**20 / 1e6:.0f} MB)",
                "met": rss_mb <= TARGET_RSS_12MP_MB,
            }
        )
    if quality:
        verdicts = []
        ok = True
        for set_name, methods in quality["sets"].items():
            ours, rembg = methods.get("ours-u2netp"), methods.get("rembg-u2netp")
            if not ours or not rembg:
                continue
            good = (
                ours["mae"] <= rembg["mae"] and ours["iou"] >= rembg["iou"] and ours["biou"] > rembg["biou"]
            )
            ok &= good
            verdicts.append(
                f"{set_name}: MAE {ours['mae']:.4f}/{rembg['mae']:.4f}, IoU "
                f"{ours['iou']:.4f}/{rembg['iou']:.4f}, "
                f"BIoU {ours['biou']:.4f}/{rembg['biou']:.4f}"
            )
        found.append(
            {
                "target": "quality: ours >= rembg (u2netp) on every metric of every set, > on boundary IoU",
                "measured": "; ".join(verdicts) + " (ours/rembg)",
                "met": ok,
            }
        )
    return found


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
    styles = {"png": "-", "jpeg": "--", "webp": ":"}
    for fmt, style in styles.items():
        for engine, colour in (("ours", "tab:blue"), ("rembg", "tab:orange")):
            rows = [latency_row(speed, i, fmt)[engine]["wall_s"] for i in jpeg_inputs]
            medians = [r["median"] for r in rows]
            errors = [[0] * len(rows), [r["p95"] - r["median"] for r in rows]]
            axis.errorbar(
                mp,
                medians,
                yerr=errors,
                linestyle=style,
                marker="o",
                color=colour,
                capsize=3,
                label=f"{engine} -> {fmt}",
            )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xticks(mp, [labels[i]["label"].replace(" JPEG", "") for i in jpeg_inputs])
    axis.set_xlabel("input size (JPEG)")
    axis.set_ylabel("end-to-end latency, s (median, bar to p95)")
    axis.set_title(f"bytes -> bytes latency, u2netp, {speed['machine']['cpus_usable']} CPUs")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8, ncol=3)
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
        values = [latency_row(speed, i, "png")["ours"]["stages_ms"][stage]["median"] / 1000 for i in inputs]
        axis.bar(positions, values, bottom=bottoms, label=stage, width=0.6)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    rembg = [latency_row(speed, i, "png")["rembg"]["wall_s"]["median"] for i in inputs]
    axis.scatter(positions, rembg, marker="_", s=900, color="black", label="rembg total", zorder=3)
    axis.set_xticks(list(positions), [labels[i]["label"] for i in inputs], fontsize=8)
    axis.set_ylabel("seconds (median per stage)")
    axis.set_title("ours: where the time goes (-> PNG), vs rembg end to end")
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(RESULTS / "stages.png", dpi=90)
    plt.close(figure)
    made.append("stages.png")
    return made


# ---- cost model ----------------------------------------------------------------------------------
def lambda_seconds(speed: dict[str, Any], input_id: str, engine: str, memory_mb: int, arch: str) -> float:
    """Billed seconds per image on Lambda, scaled conservatively from the 2-CPU measurement here."""
    cpus = speed["machine"]["cpus_usable"]
    vcpus = memory_mb / MB_PER_VCPU
    row = latency_row(speed, input_id, "png")
    # every second of work here is assumed to parallelise perfectly over this machine's CPUs, so fewer
    # Lambda vCPUs slow it down in proportion (an upper bound: decode, resize and encode are single-threaded)
    compute = row[engine]["wall_s"]["median"] * max(1.0, cpus / vcpus) * CPU_FACTOR[arch]
    size = next(i for i in speed["inputs"] if i["id"] == input_id)
    in_bytes = Path(size["path"]).stat().st_size if Path(size["path"]).exists() else 0
    transfer = (in_bytes + row[engine]["out_bytes"]) / S3_BYTES_PER_S + 2 * S3_REQUEST_S
    cold = speed["cold_start"][engine]["first_result_s"]["median"] * max(1.0, cpus / vcpus) * CPU_FACTOR[arch]
    seconds: float = compute + transfer + cold * COLD_STARTS_PER_1000 / 1000
    return seconds


def cost_rows(speed: dict[str, Any]) -> tuple[list[list[str]], dict[str, Any]]:
    requests = (
        (2 * S3_PUT + S3_GET) + (1 + 2 / BATCH_SIZE) * SQS_REQUEST + SNS_PUBLISH + LAMBDA_REQUEST / BATCH_SIZE
    )
    rows = []
    raw: dict[str, Any] = {"aws_requests_per_image": requests}
    for item in speed["inputs"]:
        if item["id"] == "png_alpha":
            continue
        for memory in MEMORY_OPTIONS:
            cells = [item["label"], f"{memory} MB ({memory / MB_PER_VCPU:.2f} vCPU)"]
            for arch in ("x86_64", "arm64"):
                for engine in ("ours", "rembg"):
                    seconds = lambda_seconds(speed, item["id"], engine, memory, arch)
                    per_1000 = 1000 * (seconds * memory / 1024 * LAMBDA_GB_S[arch] + requests)
                    raw[f"{item['id']}/{memory}/{arch}/{engine}"] = {
                        "seconds": seconds,
                        "usd_per_1000": per_1000,
                    }
                    cells.append(f"${per_1000:.3f} ({seconds:.2f} s)")
            rows.append(cells)
    return rows, raw


# ---- sections ------------------------------------------------------------------------------------
def headline(speed: dict[str, Any]) -> list[str]:
    labels = input_labels(speed)
    out = []
    head = []
    for item_id, item in labels.items():
        row = latency_row(speed, item_id, "png")
        head.append(
            [
                item["label"],
                fmt_s(row["ours"]["wall_s"]["median"]),
                fmt_s(row["rembg"]["wall_s"]["median"]),
                f"**{row['ratio_of_medians']:.2f}x**",
                f"{row['paired_ratio']['median']:.2f}x",
            ]
        )
    out.append("## Headline: ours / rembg, input -> PNG (transparent cut-out)\n")
    out.append(
        table(
            ["input", "ours median s", "rembg median s", "ratio of medians", "median of paired ratios"], head
        )
    )
    out.append(
        "\nThe paired ratio divides each repetition's two back-to-back runs before taking the median: it "
        "is the"
        " more robust figure when the machine's load changes during the run."
    )
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
                item["label"],
                row["format"],
                str(row["reps"]),
                f"{fmt_s(ours['wall_s']['median'])} / {fmt_s(ours['wall_s']['p95'])}",
                f"{fmt_s(rembg['wall_s']['median'])} / {fmt_s(rembg['wall_s']['p95'])}",
                f"{row['ratio_of_medians']:.2f}x",
                f"{ours['out_bytes'] / 1e6:.2f} / {rembg['out_bytes'] / 1e6:.2f}",
            ]
        )
    out.append("\n## End-to-end latency (bytes -> bytes), all formats\n")
    out.append(
        table(
            [
                "input",
                "output",
                "reps",
                "ours median / p95 s",
                "rembg median / p95 s",
                "ratio",
                "output MB ours / rembg",
            ],
            rows,
        )
    )
    out.append("\n![latency by size](latency_by_size.png)\n")

    stages = ["decode", "preprocess", "inference", "postprocess", "compose", "encode", "total"]
    rows = []
    for row in speed["latency"]:
        item = labels[row["input"]]
        st = row["ours"]["stages_ms"]
        rows.append(
            [item["label"], row["format"]]
            + [f"{st[s]['median']:.0f}" for s in stages]
            + [f"{row['ours']['overhead_vs_inference']['median']:.0%}"]
        )
    out.append("## Our per-stage timings (median ms, from `result.report.timings_ms`)\n")
    out.append(table(["input", "output", *stages, "overhead / inference"], rows))
    out.append(
        "\nOverhead = total - inference, per run, divided by that run's inference time (median over runs)."
    )
    out.append("\n![stage breakdown](stages.png)\n")

    rows = []
    for row in speed["throughput"]:
        rows.append(
            [
                row["config"],
                row["engine"],
                labels[row["input"]]["label"],
                str(row["images"]),
                f"{row['images_per_s']:.2f}",
                f"{row['per_image_s']['median']:.3f}",
            ]
        )
    out.append("## Throughput (input -> PNG)\n")
    out.append(
        table(
            ["configuration", "engine", "input", "images", "images/s", "median s per image (per process)"],
            rows,
        )
    )
    out.append(
        "\n*1 CPU*: one process pinned to CPU 0 (`sched_setaffinity`), one ONNX Runtime intra-op thread. "
        "*N processes x 1 thread*: N independent workers, each single-threaded, working at once; images/s = "
        "all images / the time they took. *1 process x N threads*: one worker, intra-op threads = N, images "
        "one after another (only inference and, in ours, the PNG deflate use several threads). Both "
        "engines' pools take turns in rounds, so a change of load hits both.\n"
    )

    cold = speed["cold_start"]
    keys = [
        ("interpreter_s", "interpreter start"),
        ("import_s", "imports"),
        ("load_s", "model load"),
        ("first_image_s", "first image"),
        ("first_result_s", "**total to first result**"),
    ]
    rows = [[label] + [f"{cold[e][k]['median']:.2f}" for e in ("ours", "rembg")] for k, label in keys]
    out.append(
        f"## Cold start (fresh process, {labels[cold['input']]['label']} -> PNG, median of {cold['reps']})\n"
    )
    out.append(table(["phase", "ours s", "rembg s"], rows))
    out.append(
        "\nMeasured from the parent's clock just before it starts the process (system-wide monotonic "
        "clock) to the first result in memory. Files are in the page cache (warm disk): a Lambda cold start "
        "adds the runtime's own init and reading the layers.\n"
    )

    def peaks(numbers: dict[str, float]) -> str:
        return f"{numbers.get('first_image_peak_rss_mib', float('nan')):.0f} / {numbers['peak_rss_mib']:.0f}"

    rows = [
        [
            labels[r["input"]]["label"],
            peaks(r["ours"]),
            peaks(r["rembg"]),
            f"{r['ratio']:.2f}x",
            f"{r['ours']['rss_after_load_mib']:.0f} / {r['rembg']['rss_after_load_mib']:.0f}",
        ]
        for r in speed["peak_rss"]
    ]
    out.append("## Peak memory (fresh process per measurement, input -> PNG)\n")
    header = ["input", "ours peak MiB, 1 / 2 images", "rembg peak MiB, 1 / 2 images", "ratio (2 images)"]
    out.append(table([*header, "RSS after model load MiB ours / rembg"], rows))
    out.append(
        "\nPeak = `VmHWM` of a fresh process (imports, model, then the image twice). A long-lived process "
        "(a warm Lambda) peaks at the 2-image figure (ONNX Runtime allocates its memory pattern on the "
        "second run, which rembg keeps and ours turns off), so the target is checked against it. The speed "
        "run uses the function's `MALLOC_MMAP_THRESHOLD_` (see the decision records above).\n"
    )
    return out


def cost_section(speed: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    rows, raw = cost_rows(speed)
    cpus = speed["machine"]["cpus_usable"]
    out = ["## Cost model: AWS Lambda, per 1000 images (input -> PNG)\n"]
    out.append(table(["input", "memory", "x86_64 ours", "x86_64 rembg", "arm64 ours", "arm64 rembg"], rows))
    out.append(
        f"""
Each cell: dollars per 1000 images (billed seconds per image). Assumptions, all conservative:
- Lambda list prices (us-east-1): x86_64 ${LAMBDA_GB_S["x86_64"]:.10f}/GB-s,
  arm64 ${LAMBDA_GB_S["arm64"]:.10f}/GB-s, ${LAMBDA_REQUEST * 1e6:.2f} per 1M requests (one invocation per
  {BATCH_SIZE}-message SQS batch, the template's default).
- CPU: Lambda gives 1 vCPU per {MB_PER_VCPU} MB. The median latency measured here on {cpus} CPUs is
  scaled by (CPUs here / Lambda vCPUs) as if all the work parallelised perfectly (it does not: only inference
  is multi-threaded, so real Lambda times should be lower), then by a per-architecture CPU factor
  (x86_64 {CPU_FACTOR["x86_64"]}, arm64 {CPU_FACTOR["arm64"]}: assumed, not measured; Graviton runs these
  convolution kernels somewhat slower).
- I/O: input + output bytes over S3 at {S3_BYTES_PER_S / 1e6:.0f} MB/s plus {S3_REQUEST_S * 1000:.0f} ms per
  GET/PUT, billed as Lambda time.
- Cold starts (INIT is billed): {COLD_STARTS_PER_1000} per 1000 images, each the measured cold start scaled
  like the compute.
- Requests per image: 2 S3 PUT (upload + result, ${S3_PUT * 1e3:.3f}/1000) + 1 S3 GET
  (${S3_GET * 1e3:.4f}/1000) + SQS (~1.4 requests, ${SQS_REQUEST * 1e6:.2f}/1M) + 1 SNS publish
  (${SNS_PUBLISH * 1e6:.2f}/1M): ${raw["aws_requests_per_image"] * 1000:.4f} per 1000. Not included: S3
  storage, data transfer out of AWS, CloudWatch logs, the DynamoDB idempotency writes, SNS deliveries.
- 2048 MB is the recommended size: the 24 MP peak RSS measured here fits with room to spare, and it buys
  {2048 / MB_PER_VCPU:.2f} vCPU. 3538 MB (2 vCPU) is shown for comparison with the 2-CPU measurements.
"""
    )
    out.append("### Vendor list prices (as publicly documented; check current pricing)\n")
    out.append(table(["vendor", "list price", "source", "note"], [list(v) for v in VENDORS]))
    rembg_small = latency_row(speed, "2mp", "png")["rembg"]["wall_s"]["median"]
    out.append(
        f"\nReplicate estimate: a background-removal model that ran as long as rembg does here on 2 MP "
        f"({rembg_small:.2f} s) would cost about ${rembg_small * 0.0001 * 1000:.2f} per 1000 images on "
        "Replicate's CPU"
        f" hardware or ${rembg_small * 0.000225 * 1000:.2f} on a T4 (run time only; a real model's run "
        "time on"
        " their hardware will differ, and queueing/cold boots of public models are not billed).\n"
    )
    return out, raw


def quality_section(quality: dict[str, Any]) -> list[str]:
    reference = {"davis2016_val": (0.0322, 0.7020, 0.6043), "weizmann_horse": (0.0368, 0.8943, 0.7540)}
    out = ["## Quality (../shared/eval/sets, mattes scored like ../shared/eval/score.py)\n"]
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
        ours, rembg = methods.get("ours-u2netp"), methods.get("rembg-u2netp")
        if ours and rembg:
            deltas = [f"{ours[k] - rembg[k]:+.4f}" for k in ("mae", "iou", "biou")]
            rows.append(["ours - rembg", "", *deltas, "", ""])
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
        "Ours: `Options(background_type='map', format='png')`; rembg: `remove(bytes, "
        "session=new_session('u2netp'), only_mask=True)`. Images/s include starting the worker processes. "
        "Scores come from bench/_score.py, which reproduces score.py's metrics with a separable minimum "
        "filter instead of Pillow's O(d^2) `MinFilter` (about 1.5 s per DAVIS image); every run re-scores "
        "a sample of each set and method with score.py itself and stops if any number differs. Per-image "
        "scores: quality_per_image.json.\n"
    )
    return out


def decisions_section() -> list[str]:
    """Links to the decision records (docs/decisions/): the measurements behind the engine's choices."""
    records = sorted(DECISIONS.glob("[0-9][0-9][0-9][0-9]-*.md"))
    out = ["## Why the engine does what it does\n"]
    out.append(
        "The engine changes this benchmark led to (its PNG writer, the matte upsampling, the WebP effort, "
        "the memory settings) were each measured once, in isolation, and written down with their numbers "
        f"as decision records in [docs/decisions/]({_link(DECISIONS / 'README.md')}):\n"
    )
    out += [f"- [{_title(record)}]({_link(record)})" for record in records] or ["- none found"]
    out.append("")
    return out


def _title(record: Path) -> str:
    """A record's first heading."""
    return record.read_text().splitlines()[0].lstrip("#").strip()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total-since", type=float, help="epoch seconds when `make bench` started")
    args = parser.parse_args()
    speed, quality = load("speed.json"), load("quality.json")
    lines = ["# Benchmark: bgremove vs rembg (u2netp)\n"]
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
            f"- Load average (1/5/15 min) at start {tuple(round(x, 2) for x in m['loadavg_at_start'])}, "
            f"at end {tuple(round(x, 2) for x in m['loadavg_at_end'])}: the machine is shared, so absolute "
            "times are noisy;"
            " ours and rembg run interleaved so that their ratios are not."
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
        check = speed["rembg_model"]
        meta.append(
            f"- rembg's u2netp: `{_relative(check['resolved_path'])}` -> `{_relative(check['real_path'])}`, "
            f"md5 {check['md5']}"
            f" (rembg expects {check['md5_expected_by_rembg']}: "
            f"{'match' if check['md5_matches'] else 'MISMATCH'})."
        )
    attempts = (speed or {}).get("network_attempts", []) + (quality or {}).get("network_attempts", [])
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
    total = ""
    if args.total_since:
        finished = _epoch(quality["created"]) if quality else time.time()
        total = f"; whole `make bench` {(finished - args.total_since) / 60:.1f} min"
    meta.append(
        f"- Run time: {', '.join(durations)}{total}. Created {time.strftime('%Y-%m-%d %H:%M:%S %z')}."
    )
    lines += [*meta, ""]

    found = targets(speed, quality)
    if found:
        lines.append("## Targets (2 CPUs, u2netp)\n")
        lines.append(
            table(
                ["target", "measured", "status"],
                [[t["target"], t["measured"], mark(t["met"])] for t in found],
            )
        )
        lines.append("")
    cost_raw: dict[str, Any] = {}
    if speed:
        plots(speed)
        lines += headline(speed)
        lines.append("")
    lines += decisions_section()
    if speed:
        lines += speed_sections(speed)
        section, cost_raw = cost_section(speed)
        lines += section
    else:
        lines.append("No speed.json: run `make bench` (needs ../shared).\n")
    if quality:
        lines += quality_section(quality)
    else:
        lines.append("No quality.json: run `make bench-quality` (needs ../shared).\n")
    REPORT.write_text("\n".join(lines).rstrip() + "\n")
    write_json(RESULTS / "summary.json", rounded({"targets": found, "lambda_cost": cost_raw}, 6))
    print(f"wrote {REPORT}")
    for t in found:
        print(f"  {'MET   ' if t['met'] else 'MISSED'} {t['target']}: {t['measured']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
