"""The speed run's sections (speed.json, throughput.json, the decontamination rows) and its plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _common import table
from _report_rows import FAST_MODEL, TARGET_MODEL, fmt_s, input_labels, latency_row, measured


def plots(speed: dict[str, Any], results: Path) -> list[str]:
    """latency_by_size.png and stages.png into ``results``; their names."""
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
    figure.savefig(results / "latency_by_size.png", dpi=90)
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
    figure.savefig(results / "stages.png", dpi=90)
    plt.close(figure)
    made.append("stages.png")
    return made


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
