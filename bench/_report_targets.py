"""The issue's targets for ours-u2net (the default) against rembg-u2net, and whether they were met."""

from __future__ import annotations

from typing import Any

from _report_rows import TARGET_MODEL, cold_row, fmt_s, input_labels, latency_row, rss_row

# ---- speed, memory and quality (issue 10: u2net, the default model, against rembg's u2net) --------
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
