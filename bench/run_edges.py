"""Edges on a new background: the shared sets' subjects over saturated colours, cut out and laid on white.

For every image of ../shared/eval/sets (``--every N``: every Nth, in name order) and every colour of
bench/_edges.py, the subject is composited over the colour through its human-made mask blurred to a soft
alpha, and each method is asked for the cut-out on white:

- ``ours-u2net``: ``Options(background_type='white', format='png')`` (foreground colour estimation on, the
  default);
- ``ours-u2net-plain``: the same with ``decontaminate=False`` (the engine before the estimator);
- ``rembg-u2net``: rembg's ``remove(bytes, session=new_session('u2net'), bgcolor=(255, 255, 255, 255))``;
- ``rembg-u2net-dc`` (``--methods``, slow): the same with rembg's own ``decontaminate=True`` (pymatting's
  multi-level foreground estimation).

rembg's results come from one inference per composite through the steps ``remove()`` takes (``predict``,
``naive_cutout`` or ``decontaminate_cutout``, ``apply_background_color``); each run checks on the first
composite that they give the same pixels as ``remove()`` itself and stops otherwise.

Each result is scored against the true composite on white in the band within 6 px of the true edge (MAE per
channel and the old background's share, ``spill``; bench/_edges.py says exactly how). Writes
bench/results/edges.json (means per set, ours/rembg ratios), bench/results/edges_per_image.json and
bench/results/edges.png (zoomed edges side by side: the composite, the truth, rembg, ours before and after).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

import _edges
import _netguard
import numpy as np
from _common import RESULTS, bench_env, cpu_count, log, require_shared, rounded, write_json
from _eval_sets import SETS, guarded_start, set_dirs, set_images, write_per_image

METHODS = ("ours-u2net", "ours-u2net-plain", "rembg-u2net", "rembg-u2net-dc")
DEFAULT_METHODS = METHODS[:3]
PAIRS = (("ours-u2net", "rembg-u2net"), ("ours-u2net-plain", "rembg-u2net"), ("ours-u2net", "rembg-u2net-dc"))
TARGET_MAE_RATIO = 0.80
TARGET_SPILL_RATIO = 0.50
WHITE = (255, 255, 255, 255)
PICTURE_ZOOM = 4
PICTURE_WINDOW = 40  # px of the image around the edge shown, before zooming
PICTURE_IMAGES = 4  # the first images of this many DAVIS sequences and of the horses, in name order

_state: dict[str, Any] = {}


def _init(methods: list[str]) -> None:
    os.environ.update(bench_env())
    _netguard.install()
    from PIL import Image  # noqa: PLC0415

    _state["methods"] = methods
    if any(m.startswith("ours") for m in methods):
        from _common import engine_settings  # noqa: PLC0415

        from bgremove import Engine  # noqa: PLC0415

        engine = Engine(engine_settings(1))
        engine.warm_up("u2net")
        _state["engine"] = engine
    if any(m.startswith("rembg") for m in methods):
        import onnxruntime as ort  # noqa: PLC0415
        from rembg import new_session  # noqa: PLC0415

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        _state["rembg"] = new_session("u2net", sess_opts=options)
    _state["Image"] = Image


def _ours(data: bytes, decontaminate: bool) -> np.ndarray:
    from PIL import Image  # noqa: PLC0415

    from bgremove.options import BackgroundType, Options, OutputFormat  # noqa: PLC0415

    options = Options(
        background_type=BackgroundType.WHITE,
        format=OutputFormat.PNG,
        model="u2net",
        decontaminate=decontaminate,
    )
    result = _state["engine"].process(data, options)
    return np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB"))


def _rembg(data: bytes, decontaminated: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """rembg's white result (naive, and decontaminated when asked) from one inference, as remove() does."""
    from PIL import Image  # noqa: PLC0415
    from rembg import bg  # noqa: PLC0415

    image = bg.fix_image_orientation(Image.open(io.BytesIO(data)))
    (mask,) = _state["rembg"].predict(image)
    naive = bg.apply_background_color(bg.naive_cutout(image, mask), WHITE).convert("RGB")
    clean = None
    if decontaminated:
        clean = np.asarray(
            bg.apply_background_color(bg.decontaminate_cutout(image, mask), WHITE).convert("RGB")
        )
    return np.asarray(naive), clean


def rembg_check(data: bytes, decontaminated: bool) -> dict[str, Any]:
    """The steps above against rembg's own ``remove()`` on one composite: the same pixels?"""
    from PIL import Image  # noqa: PLC0415
    from rembg import remove  # noqa: PLC0415

    naive, clean = _rembg(data, decontaminated)
    found = {}
    for name, mine, flag in (("naive", naive, False), ("decontaminate", clean, True)):
        if mine is None:
            continue
        theirs = remove(data, session=_state["rembg"], bgcolor=WHITE, decontaminate=flag)
        reference = np.asarray(Image.open(io.BytesIO(theirs)).convert("RGB"))
        found[name] = bool(np.array_equal(reference, mine))
    return found


def _load(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image  # noqa: PLC0415

    photo = np.asarray(Image.open(image_path).convert("RGB"))
    mask = np.asarray(Image.open(mask_path).convert("L")) >= 128
    return photo, mask


def composite_bytes(photo: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int]) -> bytes:
    from PIL import Image  # noqa: PLC0415

    buffer = io.BytesIO()
    Image.fromarray(_edges.composite(photo, alpha, colour)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def results_for(photo: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Every method's result on white for one composite."""
    methods = _state["methods"]
    data = composite_bytes(photo, _edges.soft_alpha(mask), colour)
    found: dict[str, np.ndarray] = {}
    if "ours-u2net" in methods:
        found["ours-u2net"] = _ours(data, True)
    if "ours-u2net-plain" in methods:
        found["ours-u2net-plain"] = _ours(data, False)
    if "rembg-u2net" in methods or "rembg-u2net-dc" in methods:
        naive, clean = _rembg(data, "rembg-u2net-dc" in methods)
        if "rembg-u2net" in methods:
            found["rembg-u2net"] = naive
        if clean is not None:
            found["rembg-u2net-dc"] = clean
    return found


def _job(job: tuple[str, Path, Path]) -> dict[str, Any]:
    set_name, image_path, mask_path = job
    photo, mask = _load(image_path, mask_path)
    band = _edges.edge_band(mask)
    if not band.any():
        return {"set": set_name, "name": image_path.stem, "scores": None}
    truth = _edges.truth_on_white(photo, _edges.soft_alpha(mask))
    scores: dict[str, dict[str, list[float]]] = {}
    for colour_name, colour in _edges.COLOURS.items():
        for method, result in results_for(photo, mask, colour).items():
            found = _edges.score(result, truth, band, colour)
            scores.setdefault(method, {})[colour_name] = [found["mae"], found["spill"]]
    return {"set": set_name, "name": image_path.stem, "scores": scores, "band_px": int(band.sum())}


def picture(jobs: list[tuple[str, Path, Path]], methods: list[str], out: Path) -> list[dict[str, Any]]:
    """Zoomed edges side by side: composite, truth, rembg, ours before and after the estimator.

    The images are fixed by rule, not by eye: the first frame of the first :data:`PICTURE_IMAGES` DAVIS
    sequences in name order and the first horses, each over the colours in turn; the window is centred on the
    top of the subject (the middle of the first row of its mask), where hair, fur and ears usually are.
    """
    from PIL import Image, ImageDraw  # noqa: PLC0415

    chosen: list[tuple[str, Path, Path]] = []
    sequences: set[str] = set()
    for job in jobs:
        if job[0].startswith("davis") and len(sequences) < PICTURE_IMAGES:
            sequence = job[1].stem.rsplit("_", 1)[0]
            if sequence not in sequences:
                sequences.add(sequence)
                chosen.append(job)
    chosen += [job for job in jobs if not job[0].startswith("davis")][: PICTURE_IMAGES // 2]
    columns = [
        "composite",
        "truth",
        *[m for m in ("rembg-u2net", "ours-u2net-plain", "ours-u2net") if m in methods],
    ]
    tile = PICTURE_WINDOW * PICTURE_ZOOM
    label_h = 16
    canvas = Image.new("RGB", (len(columns) * (tile + 4), label_h + len(chosen) * (tile + 4)), (40, 40, 40))
    draw = ImageDraw.Draw(canvas)
    for column, name in enumerate(columns):
        draw.text((column * (tile + 4) + 4, 2), name, fill=(255, 255, 255))
    rows = []
    colours = list(_edges.COLOURS.items())
    for row, (set_name, image_path, mask_path) in enumerate(chosen):
        photo, mask = _load(image_path, mask_path)
        colour_name, colour = colours[row % len(colours)]
        alpha = _edges.soft_alpha(mask)
        found = results_for(photo, mask, colour)
        top = int(np.flatnonzero(mask.any(axis=1))[0])
        centre = int(np.flatnonzero(mask[top]).mean())
        half = PICTURE_WINDOW // 2
        y0 = min(max(0, top - half), max(0, mask.shape[0] - PICTURE_WINDOW))
        x0 = min(max(0, centre - half), max(0, mask.shape[1] - PICTURE_WINDOW))
        window = (slice(y0, y0 + PICTURE_WINDOW), slice(x0, x0 + PICTURE_WINDOW))
        truth = np.floor(_edges.truth_on_white(photo, alpha) * 255 + 0.5).astype(np.uint8)
        panels = {"composite": _edges.composite(photo, alpha, colour), "truth": truth, **found}
        for column, name in enumerate(columns):
            crop = Image.fromarray(np.ascontiguousarray(panels[name][window]))
            crop = crop.resize(
                (crop.width * PICTURE_ZOOM, crop.height * PICTURE_ZOOM), Image.Resampling.NEAREST
            )
            canvas.paste(crop, (column * (tile + 4), label_h + row * (tile + 4)))
        rows.append(
            {"set": set_name, "image": image_path.stem, "colour": colour_name, "window_y_x": [y0, x0]}
        )
    canvas.save(out, optimize=True)
    return rows


def summarise(rows: list[dict[str, Any]], methods: list[str]) -> dict[str, Any]:
    sets: dict[str, Any] = {}
    for set_name in sorted({r["set"] for r in rows}):
        scored = [r for r in rows if r["set"] == set_name and r["scores"]]
        entry: dict[str, Any] = {"images": len(scored), "colours": list(_edges.COLOURS)}
        for method in methods:
            per_image = np.asarray([np.mean(list(r["scores"][method].values()), axis=0) for r in scored])
            by_colour = {
                colour: dict(
                    zip(
                        ("mae", "spill"),
                        np.mean([r["scores"][method][colour] for r in scored], axis=0),
                        strict=True,
                    )
                )
                for colour in _edges.COLOURS
            }
            entry[method] = {
                "mae": float(per_image[:, 0].mean()),
                "spill": float(per_image[:, 1].mean()),
                "by_colour": by_colour,
            }
        for ours, theirs in PAIRS:
            if ours in entry and theirs in entry:
                entry[f"{ours}/{theirs}"] = {k: entry[ours][k] / entry[theirs][k] for k in ("mae", "spill")}
        sets[set_name] = entry
    return sets


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--every", type=int, default=1, help="every Nth image of each set, in name order")
    parser.add_argument("--limit", type=int, default=0, help="first N images of each set (smoke test)")
    parser.add_argument("--methods", nargs="*", default=list(DEFAULT_METHODS), choices=METHODS)
    parser.add_argument("--out", type=Path, default=RESULTS / "edges.json")
    args = parser.parse_args()
    if not require_shared(SETS):
        return 0
    began = time.monotonic()
    load_at_start = os.getloadavg()
    methods = [m for m in METHODS if m in args.methods]
    model_check = guarded_start(["u2net"] if any(m.startswith("rembg") for m in methods) else []).get("u2net")
    jobs: list[tuple[str, Path, Path]] = []
    for set_dir in set_dirs():
        images = set_images(set_dir, every=args.every, limit=args.limit)
        jobs += [(set_dir.name, p, set_dir / "masks" / f"{p.stem}.png") for p in images]
    processes = cpu_count()
    colours = len(_edges.COLOURS)
    log(f"edges: {len(jobs)} images x {colours} colours, {', '.join(methods)}, {processes} processes")

    _init(methods)  # this process draws the picture and checks rembg's steps
    check = None
    if model_check:
        photo, mask = _load(*jobs[0][1:])
        colour = next(iter(_edges.COLOURS.values()))
        check = rembg_check(
            composite_bytes(photo, _edges.soft_alpha(mask), colour), "rembg-u2net-dc" in methods
        )
        if not all(check.values()):
            raise SystemExit(f"rembg's steps differ from remove(): {check}")
    rows = []
    with mp.get_context("spawn").Pool(processes, initializer=_init, initargs=(methods,)) as pool:
        for done, row in enumerate(pool.imap_unordered(_job, jobs, chunksize=2), 1):
            rows.append(row)
            if done % 50 == 0:
                log(f"edges: {done}/{len(jobs)} images, {time.monotonic() - began:.0f} s")
    sets = summarise(rows, methods)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture_rows = picture(jobs, methods, args.out.with_suffix(".png"))
    targets = []
    for set_name, entry in sets.items():
        ratio = entry.get("ours-u2net/rembg-u2net")
        if ratio:
            targets.append(
                {
                    "set": set_name,
                    "mae_ratio": ratio["mae"],
                    "spill_ratio": ratio["spill"],
                    "met": ratio["mae"] <= TARGET_MAE_RATIO and ratio["spill"] <= TARGET_SPILL_RATIO,
                }
            )
    payload = {
        "kind": "edges",
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "elapsed_s": time.monotonic() - began,
        "loadavg_at_start": load_at_start,
        "loadavg_at_end": os.getloadavg(),
        "every": args.every,
        "limit": args.limit,
        "softness_px": _edges.SOFTNESS,
        "band_px": _edges.BAND_PX,
        "colours": _edges.COLOURS,
        "methods": methods,
        "options": {
            "ours": "Options(background_type='white', format='png', model='u2net'[, decontaminate=False])",
            "rembg": "remove(bytes, session=new_session('u2net'), bgcolor=(255, 255, 255, 255)"
            "[, decontaminate=True])",
        },
        "rembg_model": model_check,
        "rembg_steps_match_remove": check,
        "targets": {
            "mae_ratio_at_most": TARGET_MAE_RATIO,
            "spill_ratio_at_most": TARGET_SPILL_RATIO,
            "sets": targets,
        },
        "network_attempts": _netguard.attempts(),
        "picture": {"file": args.out.with_suffix(".png").name, "rows": picture_rows},
        "sets": sets,
    }
    write_json(args.out, rounded(payload, 6))
    per_image = {
        f"{r['set']}/{r['name']}": {
            m: [round(v, 5) for c in _edges.COLOURS for v in s[c]] for m, s in r["scores"].items()
        }
        for r in sorted(rows, key=lambda r: (r["set"], r["name"]))
        if r["scores"]
    }
    columns = [f"{c}_{k}" for c in _edges.COLOURS for k in ("mae", "spill")]
    write_per_image(args.out.with_name(args.out.stem + "_per_image.json"), columns, "images", per_image)
    for set_name, entry in sets.items():
        for method in methods:
            scores = entry[method]
            log(f"edges {set_name:15} {method:17}: MAE {scores['mae']:.4f} spill {scores['spill']:.4f}")
        for pair in PAIRS:
            key = "/".join(pair)
            if key in entry:
                ratio = entry[key]
                log(f"edges {set_name:15} {key}: MAE {ratio['mae']:.3f}x spill {ratio['spill']:.3f}x")
    log(f"wrote {args.out} in {time.monotonic() - began:.0f} s")
    return 1 if _netguard.attempts() else 0


if __name__ == "__main__":
    sys.exit(main())
