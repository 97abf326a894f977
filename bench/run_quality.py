"""Matte quality on the shared evaluation sets: ours (background_type=map) vs rembg (only_mask=True).

For every set in ../shared/eval/sets/ and every method, writes one grayscale PNG per image into the
git-ignored bench/results/raw/pred/<method>/<set>/, scores them with the metrics of ../shared/eval/score.py
(MAE, IoU at 0.5, boundary IoU; computed by bench/_score.py, which gives the same numbers about 400x faster,
and checked against score.py itself on a sample of every set and method in each run) and writes
bench/results/quality.json (means, timing) and bench/results/quality_per_image.json (per-image scores).

Methods: ``ours-u2net`` (the engine's default: u2net quantised to 8 bits), ``ours-u2net-fp32`` (the
engine on rembg's fp32 u2net file: what the quantisation costs), ``rembg-u2net`` (rembg's default model,
the same fp32 file), ``ours-u2netp`` and ``rembg-u2netp`` (the fast tier), and ``ours-isnet`` when
models/isnet.onnx exists. Images are spread over one single-threaded process per CPU (the fastest way to get
through a set on this machine); the masks do not depend on the thread count.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _netguard
import _score
from _common import (
    EVAL,
    MODELS,
    RAW,
    RESULTS,
    U2NET_FP32,
    Remover,
    bench_env,
    cpu_count,
    log,
    make_remover,
    require_shared,
    rounded,
    write_json,
)
from _eval_sets import SETS, guarded_start, set_dirs, set_images, write_per_image

SCORE = EVAL / "score.py"
METHODS = {
    "ours-u2net": ("ours", "u2net"),
    "ours-u2net-fp32": ("ours", U2NET_FP32),
    "rembg-u2net": ("rembg", "u2net"),
    "ours-u2netp": ("ours", "u2netp"),
    "rembg-u2netp": ("rembg", "u2netp"),
    "ours-isnet": ("ours", "isnet"),
}

_remover: Remover | None = None


def _init(engine: str, model: str) -> None:
    global _remover  # noqa: PLW0603 - one engine per pool process
    os.environ.update(bench_env())
    _netguard.install()
    _remover = make_remover(engine, 1, model)


def _predict(job: tuple[Path, Path]) -> float:
    source, target = job
    assert _remover is not None
    began = time.perf_counter()
    target.write_bytes(_remover.mask(source.read_bytes()))
    return time.perf_counter() - began


def predict(method: str, images: list[Path], out_dir: Path, processes: int) -> dict[str, Any]:
    engine, model = METHODS[method]
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.png"):
        stale.unlink()
    jobs = [(path, out_dir / f"{path.stem}.png") for path in images]
    began = time.monotonic()
    with mp.get_context("spawn").Pool(processes, initializer=_init, initargs=(engine, model)) as pool:
        ready = time.monotonic()
        times = list(pool.imap_unordered(_predict, jobs, chunksize=4))
    elapsed = time.monotonic() - began
    return {
        "images": len(jobs),
        "processes": processes,
        "threads_per_process": 1,
        "seconds": elapsed,
        "startup_s": ready - began,
        "images_per_s": len(jobs) / elapsed,
        "mean_image_s_per_process": sum(times) / len(times),
    }


def official_score(set_dir: Path, pred_dir: Path, names: list[str]) -> dict[str, Any]:
    """Run ../shared/eval/score.py on ``names`` only (a temporary set holding just their masks)."""
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        subset = Path(tmp) / set_dir.name
        for folder in ("masks", "ignore"):
            for name in names:
                source = set_dir / folder / f"{name}.png"
                if source.exists():
                    (subset / folder).mkdir(parents=True, exist_ok=True)
                    (subset / folder / source.name).symlink_to(source)
        out = Path(tmp) / "score.json"
        subprocess.run(
            [sys.executable, str(SCORE), "--set", str(subset), "--pred", str(pred_dir), "--json", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        result: dict[str, Any] = json.loads(out.read_text())
    return result


def check_scorer(set_dir: Path, pred_dir: Path, ours: dict[str, Any], sample: int) -> dict[str, Any]:
    """Score a sample with score.py itself and compare with the fast scorer, image by image."""
    names = sorted(ours["per_image"])[:: max(1, len(ours["per_image"]) // sample)][:sample]
    official = official_score(set_dir, pred_dir, names)["per_image"]
    diff = max(abs(official[n][k] - ours["per_image"][n][k]) for n in names for k in ("mae", "iou", "biou"))
    return {"images": names, "max_abs_diff": diff, "agree": diff < 1e-9}


def _per_image_path(out: Path) -> Path:
    return out.with_name(out.stem + "_per_image.json")


def _read_per_image(path: Path) -> dict[str, Any]:
    """``quality_per_image.json`` back into method -> set -> image -> scores."""
    if not path.exists():
        return {}
    found: dict[str, Any] = {}
    for key, rows in json.loads(path.read_text())["methods"].items():
        method, set_name = key.split("/", 1)
        found.setdefault(method, {})[set_name] = rows
    return found


def _write_per_image(path: Path, per_image: dict[str, Any]) -> None:
    """One line per method and set."""
    entries = {
        f"{method}/{set_name}": rounded(rows)
        for method in [m for m in METHODS if m in per_image]
        for set_name, rows in sorted(per_image[method].items())
    }
    write_per_image(path, ["mae", "iou", "biou"], "methods", entries)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", nargs="*", help="set names (default: every set in ../shared/eval/sets)")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--limit", type=int, default=0, help="first N images of each set (smoke test)")
    parser.add_argument(
        "--every", type=int, default=1, help="every Nth image of each set, in name order (a shorter run)"
    )
    parser.add_argument(
        "--check-sample", type=int, default=4, help="images per set and method re-scored with score.py itself"
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the other methods' results already in --out (re-run only --methods)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "quality.json")
    args = parser.parse_args()

    if not require_shared(SETS, SCORE):
        return 0
    began = time.monotonic()
    load_at_start = os.getloadavg()
    methods = list(args.methods)
    model_checks = guarded_start(METHODS[m][1] for m in methods if METHODS[m][0] == "rembg")
    if "ours-isnet" in methods and not (MODELS / "isnet.onnx").is_file():
        log("ours-isnet: SKIPPED, models/isnet.onnx is absent (fetch it with `make model MODEL=isnet`)")
        methods.remove("ours-isnet")
    processes = cpu_count()

    summary: dict[str, Any] = {}
    per_image: dict[str, Any] = {}
    earlier: dict[str, Any] = {}
    if args.merge and args.out.exists():
        earlier = json.loads(args.out.read_text())
        if (earlier.get("limit"), earlier.get("every", 1)) != (args.limit, args.every):
            raise SystemExit(
                f"--merge: {args.out} was made with --limit {earlier.get('limit')} --every "
                f"{earlier.get('every', 1)}, not --limit {args.limit} --every {args.every}"
            )
        summary = earlier["sets"]
        per_image = _read_per_image(_per_image_path(args.out))
        model_checks = {**earlier.get("rembg_models", {}), **model_checks}

    def write(done: bool) -> None:
        """quality.json after every method and set, so an interrupted run leaves what it finished."""
        payload = {
            "kind": "quality",
            "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "elapsed_s": time.monotonic() - began + (earlier.get("elapsed_s") or 0),
            "complete": done,
            "loadavg_at_start": load_at_start,
            "loadavg_at_end": os.getloadavg(),
            "merged_into": earlier.get("created"),
            "limit": args.limit,
            "every": args.every,
            "options": {
                "ours": "Options(background_type='map', format='png', model=MODEL), the rest engine defaults",
                "rembg": "rembg.remove(bytes, session=new_session(MODEL), only_mask=True)",
            },
            "rembg_models": model_checks,
            "skipped": [] if "ours-isnet" in methods else ["ours-isnet: models/isnet.onnx absent"],
            "network_attempts": _netguard.attempts(),
            "sets": summary,
        }
        write_json(args.out, rounded(payload, 6))
        _write_per_image(_per_image_path(args.out), per_image)

    images_of = {
        set_dir: set_images(set_dir, every=args.every, limit=args.limit) for set_dir in set_dirs(args.sets)
    }
    # method by method in METHODS order (the default model first): an interrupted run keeps what matters most
    for method in methods:
        for set_dir, images in images_of.items():
            pred_dir = RAW / "pred" / method / set_dir.name
            timing = predict(method, images, pred_dir, processes)
            names = {p.stem for p in images} if args.limit or args.every > 1 else None
            scored: dict[str, Any] = _score.score_set(set_dir, pred_dir, names)
            check = check_scorer(set_dir, pred_dir, scored, args.check_sample) if args.check_sample else None
            if check and not check["agree"]:
                raise SystemExit(f"the fast scorer disagrees with score.py on {set_dir.name}: {check}")
            summary.setdefault(set_dir.name, {})[method] = {
                "n": scored["n"],
                "missing": scored["missing"],
                **scored["mean"],
                "timing": timing,
                "scorer_check": check,
                "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            }
            per_image.setdefault(method, {})[set_dir.name] = {
                name: [row["mae"], row["iou"], row["biou"]] for name, row in scored["per_image"].items()
            }
            mean = scored["mean"]
            log(
                f"quality {set_dir.name:15} {method:15}: MAE {mean['mae']:.4f} IoU {mean['iou']:.4f} "
                f"BIoU {mean['biou']:.4f} ({timing['images_per_s']:.2f} images/s on {processes} processes)"
            )
            write(done=False)
    # the report lists methods in METHODS order whatever order they were run or merged in
    for set_name, found in summary.items():
        summary[set_name] = {m: found[m] for m in METHODS if m in found}
    write(done=True)
    attempts = _netguard.attempts()
    log(f"wrote {args.out} in {time.monotonic() - began:.0f} s")
    return 1 if attempts else 0


if __name__ == "__main__":
    sys.exit(main())
