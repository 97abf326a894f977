"""The quality sections: mattes on the shared sets (quality.json), edges on a new background (edges.json)."""

from __future__ import annotations

from typing import Any

from _common import table
from _report_rows import TARGET_MODEL

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
