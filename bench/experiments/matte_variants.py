"""Isolated experiment: cheap changes to how the 320x320 u2netp output becomes the full-size matte.

The engine is not modified. For every image of every shared evaluation set this script runs u2netp through
the engine's own segmenter twice, once on the engine's network input (LANCZOS with ``reducing_gap=3``) and
once on rembg's (exact LANCZOS), then builds the full-size matte in several ways and scores each one with
the metrics of ../shared/eval/score.py (bench/_score.py):

- quantisation of the network output before upsampling: the engine's rounding, rembg's truncation, or none
  (upsample the float output, quantise once at the end);
- upsampling filter: BILINEAR (the engine today), BICUBIC, LANCZOS (rembg), or "adaptive": LANCZOS when the
  matte is enlarged, BILINEAR (Pillow's antialiased triangle filter) when it is reduced;
- the engine's noise snapping (<= 4 -> 0, >= 251 -> 255) or none;
- interpolation of the logit ``log(p / (1 - p))`` instead of p, then back through the sigmoid, optionally
  sharpened (``sigmoid(k * logit)``, a temperature that leaves the 0.5 contour where it is);
- a contrast curve around 0.5 (``clip((a - 0.5) * k + 0.5)``);
- the network's sigmoid output as is, without u2netp's min-max stretch.

The variant ``engine`` is the engine's original matte (8-bit, BILINEAR) and ``rembg`` reproduces rembg's
``only_mask=True`` pipeline; the script also records which variants reproduce the installed engine's
``background_type=map`` output (within one 8-bit level, on the first images of each set). It also times each
upsampling filter at 2, 12 and 24 MP, since the postprocess stage pays for it on every image.

    .venv-bench/bin/python bench/experiments/matte_variants.py [--limit N]

Writes bench/results/matte_variants.json.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _netguard
import _score
import numpy as np
from _common import EVAL, RESULTS, Timer, cpu_count, log, require_shared, rounded, summary, write_json
from PIL import Image

FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class Variant:
    name: str
    prep: str = "engine"  # "engine" or "rembg" network input
    quant: str = "round"  # "round" (engine), "trunc" (rembg), "float" (quantise after upsampling), "logit"
    resample: str = "bilinear"
    snap: bool = True
    contrast: float = 1.0
    stretch: bool = True  # u2netp's min-max stretch of the output (the engine's minmax_output)
    logit_scale: float = 1.0  # with quant="logit": sigmoid(scale * logit), i.e. temperature 1 / scale


VARIANTS = [
    Variant("engine"),
    Variant("rembg", prep="rembg", quant="trunc", resample="lanczos", snap=False),
    Variant("engine, bicubic", resample="bicubic"),
    Variant("engine, lanczos", resample="lanczos"),
    Variant("engine, no snap", snap=False),
    Variant("engine, lanczos, no snap", resample="lanczos", snap=False),
    Variant("engine, float upsample lanczos", quant="float", resample="lanczos"),
    Variant("engine, lanczos, truncate", quant="trunc", resample="lanczos"),
    Variant("rembg input, lanczos", prep="rembg", resample="lanczos"),
    Variant("engine, adaptive", resample="adaptive"),
    Variant("engine, logit bilinear", quant="logit"),
    Variant("engine, logit lanczos", quant="logit", resample="lanczos"),
    Variant("engine, logit adaptive", quant="logit", resample="adaptive"),
    Variant("engine, logit lanczos, sharpen x2", quant="logit", resample="lanczos", logit_scale=2.0),
    Variant("engine, logit adaptive, sharpen x2", quant="logit", resample="adaptive", logit_scale=2.0),
    Variant("engine, no min-max stretch", stretch=False),
    Variant("engine, lanczos, contrast 1.5", resample="lanczos", contrast=1.5),
    Variant("engine, adaptive, contrast 1.5", resample="adaptive", contrast=1.5),
]

LOGIT_EPS = 1e-4
_engine: Any = None


def _init() -> None:
    global _engine  # noqa: PLW0603 - one engine per pool process
    _netguard.install()
    from bgremove import Engine  # noqa: PLC0415
    from bgremove.settings import EngineSettings  # noqa: PLC0415

    _engine = Engine(EngineSettings(threads=1))
    _engine.warm_up()


def _normalised(prediction: np.ndarray) -> np.ndarray:
    low, high = float(prediction.min()), float(prediction.max())
    result: np.ndarray = (prediction - low) * (1.0 / max(high - low, 1e-6))
    return result


def logit_upsample(
    unit: np.ndarray, size: tuple[int, int], resample: Image.Resampling, scale: float = 1.0
) -> np.ndarray:
    """Interpolate log(p / (1 - p)) instead of p, then map back: the 0.5 contour and the soft band around it
    follow the network's pre-sigmoid output, which varies smoothly where p itself saturates."""
    p = np.clip(unit, LOGIT_EPS, 1 - LOGIT_EPS).astype(np.float32)
    logit = np.log(p / (1 - p))
    up = np.asarray(Image.fromarray(logit, "F").resize(size, resample))
    result: np.ndarray = (255.0 / (1.0 + np.exp(-scale * up)) + 0.5).astype(np.uint8)
    return result


def build_matte(raw: np.ndarray, size: tuple[int, int], variant: Variant) -> np.ndarray:
    """The full-size uint8 matte for ``variant`` from the raw network output (u2netp: min-max stretched)."""
    from bgremove import _matte  # noqa: PLC0415

    unit = _normalised(raw) if variant.stretch else np.clip(raw, 0.0, 1.0)
    if variant.resample == "adaptive":  # interpolate when enlarging, average (antialiased) when reducing
        enlarging = size[0] * size[1] > unit.shape[0] * unit.shape[1]
        resample = FILTERS["lanczos" if enlarging else "bilinear"]
    else:
        resample = FILTERS[variant.resample]
    if variant.quant == "float":
        alpha = np.asarray(Image.fromarray(unit.astype(np.float32), "F").resize(size, resample))
        alpha = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif variant.quant == "logit":
        alpha = logit_upsample(unit, size, resample, variant.logit_scale)
    else:
        matte = np.clip(unit * 255.0 + 0.5, 0, 255) if variant.quant == "round" else unit * 255
        small = Image.fromarray(matte.astype(np.uint8), "L")
        alpha = np.asarray(small.resize(size, resample) if small.size != size else small)
    if variant.contrast != 1.0:
        stretched = (alpha.astype(np.float32) - 127.5) * variant.contrast + 127.5
        alpha = np.clip(stretched + 0.5, 0, 255).astype(np.uint8)
    if variant.snap:
        alpha = np.asarray(Image.fromarray(alpha, "L").point(_matte._lookup_table(0.0)))
    return alpha


def _score_image(job: tuple[Path, Path, bool]) -> tuple[str, dict[str, list[float]], dict[str, int] | None]:
    image_path, mask_path, verify = job
    from bgremove import Options  # noqa: PLC0415
    from bgremove._decode import decode  # noqa: PLC0415

    data = image_path.read_bytes()
    image = decode(data, max_pixels=Options().max_pixels).image
    segmenter = _engine.segmenter()
    network_size = segmenter.spec.input_size
    engine_input = segmenter.prepare(image)
    rembg_input = segmenter.prepare(image.convert("RGB").resize(network_size, Image.Resampling.LANCZOS))
    raw = {"engine": segmenter.infer(engine_input)}
    # reducing_gap=3 only changes the network input for >= 3x reductions: most evaluation images are smaller
    same_input = np.array_equal(engine_input, rembg_input)
    raw["rembg"] = raw["engine"] if same_input else segmenter.infer(rembg_input)
    gt = (np.asarray(Image.open(mask_path).convert("L")) >= 128).astype(np.float32)
    valid = np.ones_like(gt, dtype=bool)
    rows = {}
    mattes = {}
    for variant in VARIANTS:
        alpha = build_matte(raw[variant.prep], image.size, variant)
        mattes[variant.name] = alpha
        scores = _score.score_one(alpha.astype(np.float32) / 255.0, gt, valid)
        rows[variant.name] = [scores["mae"], scores["iou"], scores["biou"]]
    differences: dict[str, int] | None = None
    if verify:  # how far each variant is from the installed engine's own map output
        engine_map = _engine.process(data, Options.parse({"background_type": "map", "format": "png"})).data
        expected = np.asarray(Image.open(io.BytesIO(engine_map))).astype(np.int16)
        differences = {name: int(np.abs(expected - alpha).max()) for name, alpha in mattes.items()}
    return image_path.stem, rows, differences


def _wins(ours: list[float], theirs: list[float], lower_is_better: bool) -> list[int]:
    """[better, equal, worse] image counts against rembg (equal: within 1e-6)."""
    better = equal = 0
    for mine, other in zip(ours, theirs, strict=True):
        if abs(mine - other) <= 1e-6:
            equal += 1
        elif (mine < other) == lower_is_better:
            better += 1
    return [better, equal, len(ours) - better - equal]


def time_filters() -> dict[str, dict[str, float]]:
    """Median milliseconds to upsample a 320x320 matte to each size with each filter (one thread)."""
    matte = Image.fromarray((np.random.default_rng(0).random((320, 320)) * 255).astype(np.uint8), "L")
    sizes = {"2mp": (1632, 1224), "12mp": (4032, 3024), "24mp": (5702, 4276)}
    result: dict[str, dict[str, float]] = {}
    for label, size in sizes.items():
        for name, resample in FILTERS.items():
            walls = []
            for _ in range(5):
                with Timer() as timer:
                    matte.resize(size, resample)
                walls.append(timer.wall_s * 1000)
            result.setdefault(label, {})[name] = summary(walls)["median"]
        walls = []
        unit = np.asarray(matte, dtype=np.float32) / 255.0
        for _ in range(5):
            with Timer() as timer:
                logit_upsample(unit, size, Image.Resampling.BILINEAR)
            walls.append(timer.wall_s * 1000)
        result[label]["logit bilinear"] = summary(walls)["median"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=0, help="first N images of each set")
    parser.add_argument("--out", type=Path, default=RESULTS / "matte_variants.json")
    args = parser.parse_args()
    if not require_shared(EVAL / "sets"):
        return 0
    _netguard.install()
    began = time.monotonic()
    sets: dict[str, Any] = {}
    for set_dir in sorted(p for p in (EVAL / "sets").iterdir() if (p / "masks").is_dir()):
        images = sorted(p for p in (set_dir / "images").iterdir() if p.suffix.lower() in {".jpg", ".png"})
        if args.limit:
            images = images[: args.limit]
        jobs = [
            (path, set_dir / "masks" / f"{path.stem}.png", index < 3) for index, path in enumerate(images)
        ]
        with mp.get_context("spawn").Pool(cpu_count(), initializer=_init) as pool:
            results = list(pool.imap_unordered(_score_image, jobs, chunksize=4))
        checks = [diff for _, _, diff in results if diff is not None]
        # variants within one 8-bit level of the engine on every checked image (float rounding order differs)
        matches = [v.name for v in VARIANTS if all(diff[v.name] <= 1 for diff in checks)]
        means = {
            variant.name: dict(
                zip(
                    ("mae", "iou", "biou"),
                    np.mean([rows[variant.name] for _, rows, _ in results], axis=0).tolist(),
                    strict=True,
                )
            )
            for variant in VARIANTS
        }
        versus = {
            variant.name: {
                metric: _wins(
                    [rows[variant.name][k] for _, rows, _ in results],
                    [rows["rembg"][k] for _, rows, _ in results],
                    k == 0,
                )
                for k, metric in enumerate(("mae", "iou", "biou"))
            }
            for variant in VARIANTS
        }
        sets[set_dir.name] = {
            "n": len(results),
            "variants_matching_engine": matches,
            "means": means,
            "per_image_vs_rembg": versus,
        }
        log(f"{set_dir.name}: {len(results)} images; the installed engine matches {matches}")
        for name, mean in means.items():
            log(f"  {name:40} MAE {mean['mae']:.4f} IoU {mean['iou']:.4f} BIoU {mean['biou']:.4f}")
    timings = time_filters()
    log(f"upsampling cost (ms, one thread): {timings}")
    payload = {
        "kind": "matte_variants",
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "elapsed_s": time.monotonic() - began,
        "limit": args.limit,
        "variants": [vars(v) for v in VARIANTS],
        "sets": sets,
        "upsample_ms": timings,
    }
    write_json(args.out, rounded(payload, 5))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
