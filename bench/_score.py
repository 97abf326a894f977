"""The metrics of ../shared/eval/score.py, computed the same way but fast enough for a 15-minute benchmark.

score.py erodes each mask with Pillow's ``MinFilter(2d+1)`` (d = 2% of the diagonal, 41x41 on DAVIS), which
is O(d^2) per pixel: about 1.5 s per DAVIS image here, so some 10 minutes for two methods on two sets. The
same erosion is a separable minimum filter with edge replication (``scipy.ndimage.minimum_filter``, mode
"nearest"; Pillow expands the image by copying its edge pixels before filtering), which gives identical
bands in milliseconds. Everything else (loading, thresholds, ignore masks, missing predictions scored as
worst case, plain means) follows score.py line by line. ``run_quality.py`` re-scores a sample with the
official script in every run and records that both agree.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

WORST = {"mae": 1.0, "iou": 0.0, "biou": 0.0}


def load_alpha(path: Path) -> np.ndarray:
    image: Image.Image = Image.open(path)
    if image.mode in ("RGBA", "LA"):
        image = image.getchannel("A")
    elif image.mode != "L":
        image = image.convert("L")
    return np.asarray(image, dtype=np.float32) / 255.0


def band(mask: np.ndarray, d: int) -> np.ndarray:
    """Pixels of ``mask`` within ``d`` pixels of its contour (inner boundary band)."""
    d = max(d, 1)
    eroded = ndimage.minimum_filter(mask, size=2 * d + 1, mode="nearest")
    result: np.ndarray = mask & ~eroded
    return result


def score_one(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    mae = float(np.abs(pred - gt)[valid].mean())
    p, g = (pred >= 0.5) & valid, (gt >= 0.5) & valid
    union = (p | g).sum()
    iou = float((p & g).sum() / union) if union else 1.0
    d = max(1, round(0.02 * math.hypot(*gt.shape)))
    pb, gb = band(p, d) & valid, band(g, d) & valid
    boundary_union = (pb | gb).sum()
    biou = float((pb & gb).sum() / boundary_union) if boundary_union else 1.0
    return {"mae": mae, "iou": iou, "biou": biou}


def score_set(set_dir: Path, pred_dir: Path, names: set[str] | None = None) -> dict[str, object]:
    """Per-image scores and means, like ``score.py --json`` (restricted to ``names`` when given)."""
    rows: dict[str, dict[str, float]] = {}
    missing = 0
    for mask_path in sorted((set_dir / "masks").glob("*.png")):
        name = mask_path.stem
        if names is not None and name not in names:
            continue
        gt = (np.asarray(Image.open(mask_path).convert("L")) >= 128).astype(np.float32)
        valid = np.ones_like(gt, dtype=bool)
        ignore = set_dir / "ignore" / f"{name}.png"
        if ignore.exists():
            valid &= np.asarray(Image.open(ignore).convert("L")) < 128
        pred_path = pred_dir / f"{name}.png"
        pred = load_alpha(pred_path) if pred_path.exists() else None
        if pred is None or pred.shape != gt.shape:
            missing += 1
            rows[name] = dict(WORST)
            continue
        rows[name] = score_one(pred, gt, valid)
    mean = {key: float(np.mean([row[key] for row in rows.values()])) for key in ("mae", "iou", "biou")}
    return {"set": set_dir.name, "n": len(rows), "missing": missing, "mean": mean, "per_image": rows}
