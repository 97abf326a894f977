# ruff: noqa  (a one-off experiment, kept in history only)
"""One-off experiment (decision 0010's second round): two guided-filter windows blended by the wide fit's R^2,
and sharpening only what the colours leave unexplained.

Runs on the cache and scoring of bench/experiments/edge_variants.py (commit 5f4ddcd; restore it beside this file):

    .venv-bench/bin/python bench/experiments/edge_windows.py score --every 4 --alphas g12-p2-lo2 --estimators engine
    .venv-bench/bin/python bench/experiments/edge_windows.py score-real --every 1 --alphas g12-p2-lo2
"""

import sys, math
sys.argv[0] = "edge_variants.py"
import edge_variants as ev
import numpy as np
from PIL import Image
from bgremove import _matte

def guided(alpha_low, guide, radius_share, eps):
    height, width = alpha_low.shape
    guide_low = guide if guide.size == (width, height) else guide.resize((width, height), Image.Resampling.BILINEAR)
    colours = np.asarray(guide_low, dtype=np.float32).transpose(2, 0, 1) * (1 / 255)
    radius = max(1, round(radius_share * math.hypot(width, height)))
    B = lambda v: _matte._box_mean(v.astype(np.float32), radius)
    ma = B(alpha_low)
    means = [B(c) for c in colours]
    cov = [B(c * alpha_low) - m * ma for c, m in zip(colours, means)]
    var = np.empty((height, width, 3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = B(colours[i] * colours[j]) - means[i] * means[j]
            var[..., i, j] = v; var[..., j, i] = v
    var += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var, np.stack(cov, -1)[..., None])[..., 0]
    b = ma - sum(a[..., c] * means[c] for c in range(3))
    va = B(alpha_low * alpha_low) - ma * ma
    explained = sum(a[..., c] * cov[c] for c in range(3))
    r2 = np.where(va > 1e-4, np.clip(explained / np.maximum(va, 1e-6), 0, 1), 1.0)
    A = [B(a[..., c]) for c in range(3)]
    return A, B(b), B(r2.astype(np.float32))

def apply(A, b, image):
    size = image.size
    full = np.asarray(image, np.float32) / 255
    q = _matte._resized(b, size, Image.Resampling.BILINEAR).copy()
    for c in range(3):
        q += _matte._resized(A[c], size, Image.Resampling.BILINEAR) * full[..., c]
    return q

def low_alpha(prob, image):
    size = image.size
    p = np.clip(prob, _matte._LOGIT_EPS, 1 - _matte._LOGIT_EPS)
    logit = np.log(p / (1 - p))
    target = _matte._coefficient_size(size)
    up = _matte._resized(logit, target, _matte._adaptive_filter((prob.shape[1], prob.shape[0]), target))
    return (1 / (1 + np.exp(-2.0 * up))).astype(np.float32)

def finish(q, prob, image, temp=None):
    if temp is None:
        temp = _matte._post_temperature((prob.shape[1], prob.shape[0]), image.size)
    q = _matte._sharpened(q, temp)
    alpha = np.floor(255 * q + 0.5).astype(np.uint8)
    return np.asarray(_matte._lookup_table(0.0), np.uint8)[alpha]

def v_single(r, eps, tmul=1.0):
    def run(prob, image):
        up = low_alpha(prob, image)
        A, b, _ = guided(up, image, r, eps)
        t = _matte._post_temperature((prob.shape[1], prob.shape[0]), image.size) * tmul
        return finish(apply(A, b, image), prob, image, max(1.0, t))
    return run

def v_adapt(rn, rw, eps, power=1.0, tmul=1.0):
    def run(prob, image):
        up = low_alpha(prob, image)
        An, bn, _ = guided(up, image, rn, eps)
        Aw, bw, r2 = guided(up, image, rw, eps)
        w = _matte._resized(r2 ** power, image.size, Image.Resampling.BILINEAR)
        q = w * apply(Aw, bw, image) + (1 - w) * apply(An, bn, image)
        t = _matte._post_temperature((prob.shape[1], prob.shape[0]), image.size) * tmul
        return finish(q, prob, image, max(1.0, t))
    return run

def v_iter(r, eps, n):
    def run(prob, image):
        up = low_alpha(prob, image)
        small = image.resize((up.shape[1], up.shape[0]), Image.Resampling.BILINEAR)
        for _ in range(n - 1):
            A, b, _ = guided(up, small, r, eps)
            up = np.clip(apply(A, b, small), 0, 1).astype(np.float32)
            up = _matte._sharpened(up, 1.5).astype(np.float32)
        A, b, _ = guided(up, image, r, eps)
        return finish(apply(A, b, image), prob, image)
    return run

ev.ALPHAS["s2"] = v_single(0.002, 1e-2)
for r in (0.003, 0.004, 0.005, 0.006):
    for e in (1e-2, 3e-2):
        ev.ALPHAS[f"s{r*1000:g}-{e:g}"] = v_single(r, e)
for rw in (0.004, 0.006, 0.008):
    for p in (1.0, 2.0, 4.0):
        ev.ALPHAS[f"a{rw*1000:g}-p{p:g}"] = v_adapt(0.002, rw, 1e-2, p)
for n in (2, 3):
    ev.ALPHAS[f"it{n}"] = v_iter(0.002, 1e-2, n)


def v_adapt2(rn, rw, eps, power=1.0, tmin=1.0, tmax=2.0):
    def run(prob, image):
        up = low_alpha(prob, image)
        An, bn, _ = guided(up, image, rn, eps)
        Aw, bw, r2 = guided(up, image, rw, eps)
        w = _matte._resized(r2 ** power, image.size, Image.Resampling.BILINEAR)
        q = w * apply(Aw, bw, image) + (1 - w) * apply(An, bn, image)
        factor = math.sqrt(image.size[0] * image.size[1] / (prob.shape[0] * prob.shape[1]))
        t = min(tmax, max(tmin, factor))
        return finish(q, prob, image, t)
    return run

for rw in (0.006, 0.008):
    for p in (1.0, 2.0):
        for tmin in (1.0, 1.5, 2.0):
            for tmax in (2.0, 3.0):
                ev.ALPHAS[f"b{rw*1000:g}-p{p:g}-t{tmin:g}-{tmax:g}"] = v_adapt2(0.002, rw, 1e-2, p, tmin, tmax)

def v_c(rn, rw, eps, power=1.0, tmin=2.0, tmax=2.0, spow=1.0):
    def run(prob, image):
        up = low_alpha(prob, image)
        An, bn, _ = guided(up, image, rn, eps)
        Aw, bw, r2 = guided(up, image, rw, eps)
        r2f = _matte._resized(r2, image.size, Image.Resampling.BILINEAR)
        w = r2f ** power
        q = np.clip(w * apply(Aw, bw, image) + (1 - w) * apply(An, bn, image), 0, 1)
        factor = math.sqrt(image.size[0] * image.size[1] / (prob.shape[0] * prob.shape[1]))
        t = min(tmax, max(tmin, factor))
        s = r2f ** spow
        q = s * q + (1 - s) * _matte._sharpened(q, t)
        alpha = np.floor(255 * q + 0.5).astype(np.uint8)
        return np.asarray(_matte._lookup_table(0.0), np.uint8)[alpha]
    return run

for rw in (0.006, 0.008):
    for p in (1.0, 2.0):
        for tmin in (1.5, 2.0, 3.0):
            for spow in (1.0, 2.0, 4.0):
                ev.ALPHAS[f"c{rw*1000:g}-p{p:g}-t{tmin:g}-s{spow:g}"] = v_c(0.002, rw, 1e-2, p, tmin, max(2.0, tmin), spow)

for rw in (0.008, 0.012):
    for p in (0.5, 1.0):
        for t in (2.0, 3.0):
            for spow in (2.0, 4.0):
                ev.ALPHAS[f"d{rw*1000:g}-p{p:g}-t{t:g}-s{spow:g}"] = v_c(0.002, rw, 1e-2, p, t, t, spow)

for rw in (0.006, 0.008, 0.010):
    for p in (1.5, 2.0):
        for t in (3.0, 4.0):
            for spow in (4.0, 8.0):
                ev.ALPHAS[f"e{rw*1000:g}-p{p:g}-t{t:g}-s{spow:g}"] = v_c(0.002, rw, 1e-2, p, t, t, spow)

def v_g(rn, rw, eps, power, lo=2.0, hi=3.0):
    def run(prob, image):
        up = low_alpha(prob, image)
        An, bn, _ = guided(up, image, rn, eps)
        Aw, bw, r2 = guided(up, image, rw, eps)
        r2f = np.clip(_matte._resized(r2, image.size, Image.Resampling.BILINEAR), 0, 1)
        w = r2f ** power
        q = np.clip(w * apply(Aw, bw, image) + (1 - w) * apply(An, bn, image), 0, 1)
        factor = math.sqrt(image.size[0] * image.size[1] / (prob.shape[0] * prob.shape[1]))
        t = min(hi, max(lo, 1 + factor))
        s = r2f ** (2 * (t - 1))
        q = s * q + (1 - s) * _matte._sharpened(q, t)
        alpha = np.floor(255 * q + 0.5).astype(np.uint8)
        return np.asarray(_matte._lookup_table(0.0), np.uint8)[alpha]
    return run
for rw in (0.006, 0.008):
    for p in (1.0, 1.5):
        ev.ALPHAS[f"g{rw*1000:g}-p{p:g}"] = v_g(0.002, rw, 1e-2, p)
for rw, p, lo in ((0.010, 1.5, 2.0), (0.012, 2.0, 2.0), (0.008, 1.5, 1.75), (0.010, 1.5, 1.75), (0.010, 2.0, 1.75)):
    ev.ALPHAS[f"g{rw*1000:g}-p{p:g}-lo{lo:g}"] = v_g(0.002, rw, 1e-2, p, lo)
if __name__ == "__main__":
    ev.main()
