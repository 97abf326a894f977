# ruff: noqa: PLC0415, N803, N806, E741, B905  (a one-off experiment: lazy imports, the papers' F, B, I names)
"""One-off experiment (issue: edges that survive a new background): matte and foreground-colour variants.

    .venv-bench/bin/python bench/experiments/edge_variants.py predict --every 4
    .venv-bench/bin/python bench/experiments/edge_variants.py score --every 4 --out docs/decisions/.../x.json

``predict`` runs both networks once per composite (bench/_edges.py: each subject of the shared sets over
each saturated colour) and caches what they give (ours: the 320x320 probabilities; rembg-u2net: its 8-bit
mask) in bench/results/raw/edge_cache/. ``score`` rebuilds the full-size matte and the result on white in
every variant from that cache and scores each in the edge band (MAE, spill) and against the binary masks
(MAE, IoU, boundary IoU, bench/_score.py), so variants differ only where they differ.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _edges
import _score
from _common import EVAL, RAW, bench_env, prepare_rembg_home

CACHE = RAW / "edge_cache"


def images(every: int) -> list[tuple[Path, Path]]:
    found = []
    for set_dir in sorted((EVAL / "sets").iterdir()):
        if not (set_dir / "masks").is_dir():
            continue
        paths = sorted(p for p in (set_dir / "images").iterdir() if p.suffix.lower() in {".jpg", ".png"})
        found += [(p, set_dir / "masks" / f"{p.stem}.png") for p in paths[::every]]
    return found


def load(image_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    photo = np.asarray(Image.open(image_path).convert("RGB"))
    mask = np.asarray(Image.open(mask_path).convert("L")) >= 128
    return photo, mask


_state: dict[str, Any] = {}


def _init_predict() -> None:
    os.environ.update(bench_env())
    os.environ["BGREMOVE_THREADS"] = "1"
    import onnxruntime as ort
    from rembg import new_session

    from bgremove import Engine
    from bgremove.settings import EngineSettings

    engine = Engine(EngineSettings.from_env({**os.environ, "BGREMOVE_THREADS": "1"}))
    _state["segmenter"] = engine.segmenter("u2net")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    _state["rembg"] = new_session("u2net", sess_opts=options)


def _predict(job: tuple[Path, Path]) -> str:
    from bgremove._decode import decode
    from bgremove.models import run_inference

    image_path, mask_path = job
    photo, mask = load(image_path, mask_path)
    alpha = _edges.soft_alpha(mask)
    out = CACHE / image_path.parent.parent.name
    out.mkdir(parents=True, exist_ok=True)
    for name, colour in _edges.COLOURS.items():
        stem = out / f"{image_path.stem}_{name}"
        if stem.with_suffix(".rembg.png").exists():
            continue
        buffer = io.BytesIO()
        Image.fromarray(_edges.composite(photo, alpha, colour)).save(buffer, "PNG")
        data = buffer.getvalue()
        image = decode(data, max_pixels=25_000_000).image
        segmenter = _state["segmenter"]
        matte = segmenter.to_matte(run_inference(segmenter, segmenter.prepare(image)).prediction)
        np.save(stem.with_suffix(".ours.npy"), np.asarray(matte, np.float32))
        mask_r = _state["rembg"].predict(Image.open(io.BytesIO(data)))[0]
        mask_r.save(stem.with_suffix(".rembg.png"))
    return image_path.stem


def _predict_real(job: tuple[Path, Path]) -> str:
    from bgremove._decode import decode
    from bgremove.models import run_inference

    image_path, _ = job
    out = CACHE / "real" / image_path.parent.parent.name
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{image_path.stem}.ours.npy"
    if not target.exists():
        image = decode(image_path.read_bytes(), max_pixels=25_000_000).image
        segmenter = _state["segmenter"]
        matte = segmenter.to_matte(run_inference(segmenter, segmenter.prepare(image)).prediction)
        np.save(target, np.asarray(matte, np.float32))
    return image_path.stem


def predict_real(every: int) -> None:
    jobs = images(every)
    prepare_rembg_home()
    with mp.get_context("spawn").Pool(2, initializer=_init_predict) as pool:
        list(pool.imap_unordered(_predict_real, jobs, chunksize=4))


def _score_real_job(job: tuple[Path, Path, list[str]]) -> dict[str, Any]:
    from bgremove._decode import decode

    image_path, mask_path, alpha_names = job
    image = decode(image_path.read_bytes(), max_pixels=25_000_000).image.convert("RGB")
    gt = (np.asarray(Image.open(mask_path).convert("L")) >= 128).astype(np.float32)
    valid = np.ones(gt.shape, bool)
    prob = np.load(CACHE / "real" / image_path.parent.parent.name / f"{image_path.stem}.ours.npy")
    rows = {}
    for name in alpha_names:
        alpha8 = ALPHAS[name](prob, image)
        m = _score.score_one(alpha8.astype(np.float32) / 255, gt, valid)
        rows[name] = [m["mae"], m["iou"], m["biou"]]
    return {"set": image_path.parent.parent.name, "name": image_path.stem, "rows": rows}


def score_real(every: int, alpha_names: list[str], out: Path | None) -> None:
    from _common import RESULTS

    rembg = json.loads((RESULTS / "quality_u2net_all_images_per_image.json").read_text())["methods"]
    jobs = [(i, m, alpha_names) for i, m in images(every)]
    with mp.get_context("fork").Pool(2) as pool:
        results = list(pool.imap_unordered(_score_real_job, jobs, chunksize=4))
    summary: dict[str, Any] = {}
    for set_name in sorted({r["set"] for r in results}):
        mine = [r for r in results if r["set"] == set_name]
        theirs = rembg[f"rembg-u2net/{set_name}"]
        summary[set_name] = {
            "n": len(mine),
            "rembg-u2net": [round(float(v), 5) for v in np.mean([theirs[r["name"]] for r in mine], axis=0)],
        }
        for name in alpha_names:
            summary[set_name][name] = [
                round(float(v), 5) for v in np.mean([r["rows"][name] for r in mine], axis=0)
            ]
    print(json.dumps(summary, indent=1))
    if out:
        out.write_text(
            json.dumps(
                {"every": every, "created": time.strftime("%Y-%m-%d %H:%M"), "sets": summary}, indent=1
            )
        )


def predict(every: int) -> None:
    jobs = images(every)
    prepare_rembg_home()
    began = time.monotonic()
    with mp.get_context("spawn").Pool(2, initializer=_init_predict) as pool:
        for done, _ in enumerate(pool.imap_unordered(_predict, jobs, chunksize=2), 1):
            if done % 20 == 0:
                print(f"{done}/{len(jobs)} {time.monotonic() - began:.0f} s", flush=True)


# ---------------------------------------------------------------------------------------------- variants
def _alpha_ours(prob: np.ndarray, image: Image.Image, pre: float = 2.0, post: float = 2.0) -> np.ndarray:
    """The engine's matte (logit upsampling at temperature ``pre``, guided filter, sharpening at ``post``)
    as uint8, at sizes under 2 MP (the float stage) as the engine does it."""
    from bgremove import _matte

    size = image.size
    p = np.clip(prob, _matte._LOGIT_EPS, 1 - _matte._LOGIT_EPS)
    logit = np.log(p / (1 - p))
    target = _matte._coefficient_size(size)
    up = _matte._resized(logit, target, _matte._adaptive_filter((prob.shape[1], prob.shape[0]), target))
    up = 1 / (1 + np.exp(-pre * up))
    refined = _matte._guided(up.astype(np.float32), image.convert("L"))
    q = np.clip(refined, 0, 1)
    if post != 1.0:
        q = q**post / np.maximum(q**post + (1 - q) ** post, 1e-12)
    alpha = np.floor(255 * q + 0.5).astype(np.uint8)
    lut = np.asarray(_matte._lookup_table(0.0), np.uint8)
    return lut[alpha]


def _guided_rgb(alpha_low: np.ndarray, image: Image.Image, radius_share: float, eps: float) -> np.ndarray:
    """He et al.'s guided filter with the colour image as the guide; coefficients at ``alpha_low``'s size,
    applied at ``image``'s size."""
    from bgremove import _matte

    height, width = alpha_low.shape
    guide = np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), np.float32) / 255
    r = max(1, round(radius_share * math.hypot(width, height)))
    box = lambda v: _matte._box_mean(v.astype(np.float32), r)  # noqa: E731
    I = [guide[..., c] for c in range(3)]
    mI = [box(c) for c in I]
    mp = box(alpha_low)
    cov = [box(c * alpha_low) - m * mp for c, m in zip(I, mI)]
    var = np.empty((height, width, 3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = box(I[i] * I[j]) - mI[i] * mI[j]
            var[..., i, j] = v
            var[..., j, i] = v
    var += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var, np.stack(cov, -1)[..., None])[..., 0]
    b = mp - sum(a[..., c] * mI[c] for c in range(3))
    a = [box(a[..., c]) for c in range(3)]
    b = box(b)
    full = np.asarray(image, np.float32) / 255
    size = image.size
    q = _matte._resized(b, size, Image.Resampling.BILINEAR).copy()
    for c in range(3):
        q += _matte._resized(a[c], size, Image.Resampling.BILINEAR) * full[..., c]
    return q


def _alpha_rgb(
    prob: np.ndarray, image: Image.Image, eps: float = 1e-3, radius: float = 0.002, post: float = 2.0
) -> np.ndarray:
    from bgremove import _matte

    size = image.size
    p = np.clip(prob, _matte._LOGIT_EPS, 1 - _matte._LOGIT_EPS)
    logit = np.log(p / (1 - p))
    target = _matte._coefficient_size(size)
    up = _matte._resized(logit, target, _matte._adaptive_filter((prob.shape[1], prob.shape[0]), target))
    up = (1 / (1 + np.exp(-2.0 * up))).astype(np.float32)
    q = np.clip(_guided_rgb(up, image, radius, eps), 0, 1)
    if post != 1.0:
        q = q**post / np.maximum(q**post + (1 - q) ** post, 1e-12)
    alpha = np.floor(255 * q + 0.5).astype(np.uint8)
    return np.asarray(_matte._lookup_table(0.0), np.uint8)[alpha]


def _alpha_engine(prob: np.ndarray, image: Image.Image) -> np.ndarray:
    from bgremove import _matte

    matte = Image.fromarray(prob, "F")
    return np.asarray(_matte.refine(matte, image.size, threshold=0.0, guide=image))


def _blur_fusion(
    image: np.ndarray,
    alpha: np.ndarray,
    radii: tuple[int, int] = (90, 6),
    box: Callable[..., Any] | None = None,
) -> np.ndarray:
    """Forte & Pitie's blur-fusion estimator (float 0..1 in and out), two passes, full resolution."""
    from scipy import ndimage

    def blur(x: np.ndarray, r: int) -> np.ndarray:
        size = (r, r, 1) if x.ndim == 3 else (r, r)
        return ndimage.uniform_filter(x, size, mode="nearest")

    a = alpha[..., np.newaxis]

    def one(F: np.ndarray, B: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
        ba = blur(a, r)
        bf = blur(F * a, r) / (ba + 1e-5)
        bb = blur(B * (1 - a), r) / ((1 - ba) + 1e-5)
        F = bf + a * (image - a * bf - (1 - a) * bb)
        return np.clip(F, 0, 1), bb

    F, bb = one(image, image, radii[0])
    F, _ = one(F, bb, radii[1])
    return F


def _ml(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    from pymatting.foreground.estimate_foreground_ml import estimate_foreground_ml

    return np.clip(estimate_foreground_ml(image.astype(np.float64), alpha.astype(np.float64)), 0, 1)


def _on_white(fg: np.ndarray, alpha8: np.ndarray) -> np.ndarray:
    """Image.composite(fg, white, alpha) as the engine does it (uint8 in, uint8 out)."""
    fg8 = fg if fg.dtype == np.uint8 else np.clip(np.floor(fg * 255 + 0.5), 0, 255).astype(np.uint8)
    out = Image.composite(
        Image.fromarray(fg8),
        Image.new("RGB", (fg8.shape[1], fg8.shape[0]), (255, 255, 255)),
        Image.fromarray(alpha8),
    )
    return np.asarray(out)


ALPHAS: dict[str, Callable[[np.ndarray, Image.Image], np.ndarray]] = {}


def _engine_alpha(**constants: Any) -> Callable[[np.ndarray, Image.Image], np.ndarray]:
    def run(prob: np.ndarray, image: Image.Image) -> np.ndarray:
        from bgremove import _matte

        saved = {k: getattr(_matte, k) for k in constants}
        for k, v in constants.items():
            setattr(_matte, k, v)
        try:
            return _alpha_engine(prob, image)
        finally:
            for k, v in saved.items():
                setattr(_matte, k, v)

    return run


ESTIMATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {}


def _score_job(job: tuple[Path, Path, list[str], list[str]]) -> dict[str, Any]:
    image_path, mask_path, alpha_names, estimator_names = job
    photo, mask = load(image_path, mask_path)
    soft = _edges.soft_alpha(mask)
    truth = _edges.truth_on_white(photo, soft)
    band = _edges.edge_band(mask)
    if not band.any():
        return {}
    gt = mask.astype(np.float32)
    valid = np.ones_like(mask)
    cache = CACHE / image_path.parent.parent.name
    rows: dict[str, Any] = {}
    for cname, colour in _edges.COLOURS.items():
        stem = cache / f"{image_path.stem}_{cname}"
        comp = _edges.composite(photo, soft, colour)
        image = Image.fromarray(comp)
        prob = np.load(stem.with_suffix(".ours.npy"))
        mattes = {"rembg": np.asarray(Image.open(stem.with_suffix(".rembg.png")).convert("L"))}
        mattes["truth"] = np.floor(soft * 255 + 0.5).astype(np.uint8)
        for name in alpha_names:
            mattes[name] = ALPHAS[name](prob, image)
        for mname, alpha8 in mattes.items():
            key = f"{mname}"
            if mname != "truth":
                m = _score.score_one(alpha8.astype(np.float32) / 255, gt, valid)
                rows.setdefault(f"mask:{key}", []).append([m["mae"], m["iou"], m["biou"]])
            for ename in estimator_names:
                began = time.perf_counter()
                fg = comp if ename == "none" else ESTIMATORS[ename](comp, alpha8)
                spent = time.perf_counter() - began
                if ename == "oracle":
                    fg = photo
                elif ename == "oracle-soft":
                    fg = np.where(((alpha8 > 0) & (alpha8 < 255))[..., None], photo, comp)
                result = _on_white(fg, alpha8)
                s = _edges.score(result, truth, band, colour)
                rows.setdefault(f"edge:{key}+{ename}", []).append([s["mae"], s["spill"], spent])
                rows.setdefault(f"edge:{key}+{ename}@{cname}", []).append([s["mae"], s["spill"], spent])
    return {"set": image_path.parent.parent.name, "name": image_path.stem, "rows": rows}


def score(every: int, alpha_names: list[str], estimator_names: list[str], out: Path | None) -> None:
    jobs = [(i, m, alpha_names, estimator_names) for i, m in images(every)]
    began = time.monotonic()
    results = []
    with mp.get_context("fork").Pool(2) as pool:
        for result in pool.imap_unordered(_score_job, jobs, chunksize=2):
            if result:
                results.append(result)
    summary: dict[str, Any] = {}
    for set_name in sorted({r["set"] for r in results}):
        rows: dict[str, list[list[float]]] = {}
        for r in results:
            if r["set"] == set_name:
                for key, values in r["rows"].items():
                    rows.setdefault(key, []).extend(values)
        summary[set_name] = {
            key: [round(float(v), 5) for v in np.mean(np.asarray(values), axis=0)]
            for key, values in rows.items()
        }
        summary[set_name]["n"] = sum(r["set"] == set_name for r in results)
    print(json.dumps(summary, indent=1))
    print(f"{time.monotonic() - began:.0f} s")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {"every": every, "created": time.strftime("%Y-%m-%d %H:%M"), "sets": summary}, indent=1
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=("predict", "score", "predict-real", "score-real"))
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--alphas", nargs="*", default=["engine"])
    parser.add_argument("--estimators", nargs="*", default=["none", "oracle"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.step == "predict":
        predict(args.every)
    elif args.step == "predict-real":
        predict_real(args.every)
    elif args.step == "score-real":
        score_real(args.every, args.alphas, args.out)
    else:
        score(args.every, args.alphas, args.estimators, args.out)


ALPHAS["engine"] = _alpha_engine
for _pre in (1.0, 2.0):
    for _post in (1.0, 1.5, 2.0, 3.0):
        ALPHAS[f"pre{_pre:g}-post{_post:g}"] = lambda p, i, a=_pre, b=_post: _alpha_ours(p, i, a, b)


def _f(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    return lambda comp, alpha8: fn(comp.astype(np.float32) / 255, alpha8.astype(np.float32) / 255)


def _engine_estimator(**constants: Any) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def run(comp: np.ndarray, alpha8: np.ndarray) -> np.ndarray:
        from bgremove import _foreground

        saved = {k: getattr(_foreground, k) for k in constants}
        for k, v in constants.items():
            setattr(_foreground, k, v)
        try:
            out = _foreground.estimate_foreground(Image.fromarray(comp), Image.fromarray(alpha8))
        finally:
            for k, v in saved.items():
                setattr(_foreground, k, v)
        return comp if out is None else np.asarray(out)

    return run


for _eps in (1e-4, 1e-3, 1e-2):
    for _post in (1.0, 1.5, 2.0):
        for _rad in (0.002, 0.004):
            ALPHAS[f"rgb-{_eps:g}-{_post:g}-{_rad:g}"] = lambda p, i, e=_eps, b=_post, r=_rad: _alpha_rgb(
                p, i, e, r, b
            )
ESTIMATORS["oracle-soft"] = lambda comp, alpha8: comp
for _eps in (3e-3, 1e-2, 3e-2):
    for _post in (1.0, 1.25, 1.5, 2.0):
        for _rad in (0.002, 0.003, 0.004, 0.006):
            ALPHAS[f"rgb-{_eps:g}-{_post:g}-{_rad:g}"] = lambda p, i, e=_eps, b=_post, r=_rad: _alpha_rgb(
                p, i, e, r, b
            )
for _cp in (250_000, 500_000):
    for _r in (0.002, 0.003, 0.004):
        for _e in (5e-3, 1e-2):
            ALPHAS[f"engine-{_cp}-{_r:g}-{_e:g}"] = _engine_alpha(
                _GUIDE_COEFFICIENT_PIXELS=_cp, _GUIDE_RADIUS=_r, _GUIDE_EPS=_e
            )
ESTIMATORS["none"] = lambda comp, alpha8: comp
ESTIMATORS["oracle"] = lambda comp, alpha8: comp
ESTIMATORS["bf90-6"] = _f(lambda image, alpha: _blur_fusion(image, alpha, (90, 6)))
ESTIMATORS["bf45-6"] = _f(lambda image, alpha: _blur_fusion(image, alpha, (45, 6)))
ESTIMATORS["bf30-4"] = _f(lambda image, alpha: _blur_fusion(image, alpha, (30, 4)))
ESTIMATORS["bf45-3"] = _f(lambda image, alpha: _blur_fusion(image, alpha, (45, 3)))
ESTIMATORS["ml"] = _f(_ml)
ESTIMATORS["engine"] = _engine_estimator()
for _px in (25_000, 100_000, 250_000, 10**9):
    for _wide in (0.015, 0.03, 0.06):
        for _narrow in (0.003, 0.006, 0.012):
            ESTIMATORS[f"engine-{_px}-{_wide:g}-{_narrow:g}"] = _engine_estimator(
                FIELD_PIXELS=_px, WIDE_RADIUS=_wide, NARROW_RADIUS=_narrow
            )

if __name__ == "__main__":
    main()
