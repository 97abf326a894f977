"""GPU throughput and latency of the inference server's batch path, by model and batch size.

For u2netp, u2net and isnet (each when its file is in ``--models-dir``) and batch sizes 1, 4, 16 and 32, runs
the server's own batch function (``bgremove_inference.server._run_batch``: the engine's normalisation, the
ONNX Runtime session with the CUDA provider, the output mapping) on real-looking pixels, and records per
batch size: images per second and p50/p95 latency of one batch. A network whose file fixes the batch size
at 1 runs a batch as that many calls in a row (``fixed_batch`` in the output says so).

Not run where this project was developed: no GPU was lent. Run it on the target card (README.md here) and
commit bench/results/gpu.json with the card's name. With ``--instance-price`` (USD per hour of the endpoint
instance, e.g. ml.g6.xlarge in your region) it adds the cost per 1000 images at full load:
``price / 3600 / images_per_second * 1000``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "layers" / "engine"), str(REPO / "containers" / "inference")]

from bgremove.models import ModelRegistry, SessionConfig  # noqa: E402
from bgremove_inference.server import _builtin_specs, _run_batch  # noqa: E402
from bgremove_inference.settings import ServerSettings  # noqa: E402

MODELS = ("u2netp", "u2net", "isnet")
BATCH_SIZES = (1, 4, 16, 32)


def card() -> str:
    """The GPU's name and driver as nvidia-smi reports them, or why not."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"unknown ({type(error).__name__})"
    return out.stdout.strip()


def measure(segmenter: Any, batch: int, iterations: int, warmup: int) -> dict[str, Any]:
    width, height = segmenter.spec.input_size
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
    for _ in range(warmup):
        _run_batch(segmenter, pixels)
    times = []
    for _ in range(iterations):
        began = time.perf_counter()
        _run_batch(segmenter, pixels)
        times.append(time.perf_counter() - began)
    times.sort()
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {
        "batch": batch,
        "iterations": iterations,
        "images_per_s": round(batch / p50, 1),
        "batch_p50_ms": round(p50 * 1000, 2),
        "batch_p95_ms": round(p95 * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batches", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", choices=("cuda", "cpu", "auto"), default="cuda")
    parser.add_argument("--tensorrt", action="store_true")
    parser.add_argument("--instance-price", type=float, help="USD per hour of the endpoint instance")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu.json")
    args = parser.parse_args(argv)

    import onnxruntime as ort  # noqa: PLC0415

    settings = ServerSettings(device=args.device, tensorrt=args.tensorrt)
    providers = settings.providers(list(ort.get_available_providers()))
    # the server's choice of files: u2net from its fp32 file on CUDA (no QLinearConv kernel there)
    specs = _builtin_specs(args.models_dir, providers)
    registry = ModelRegistry([args.models_dir], SessionConfig(providers=providers), specs=specs)
    results = []
    for name in (m.strip() for m in args.models.split(",") if m.strip()):
        if not registry.is_available(name):
            print(f"SKIPPED {name}: no {registry.spec(name).source} in {args.models_dir}", flush=True)
            continue
        segmenter = registry.get(name)
        print(f"{name}: providers {segmenter.providers}, fixed batch {segmenter.fixed_batch}", flush=True)
        rows = []
        for batch in (int(b) for b in args.batches.split(",")):
            row = measure(segmenter, batch, args.iterations, args.warmup)
            if args.instance_price:
                row["usd_per_1000_images"] = round(args.instance_price / 3600 / row["images_per_s"] * 1000, 5)
            print(f"  batch {batch:3}: {row}", flush=True)
            rows.append(row)
        results.append(
            {
                "model": name,
                "input": list(segmenter.spec.input_size),
                "providers": segmenter.providers,
                "fixed_batch": segmenter.fixed_batch,
                "by_batch": rows,
            }
        )
    payload = {
        "what": "the inference server's batch path (normalise, ONNX Runtime, output mapping), no HTTP",
        "card": card(),
        "onnxruntime": ort.__version__,
        "python": platform.python_version(),
        "device": args.device,
        "tensorrt": args.tensorrt,
        "instance_price_usd_per_h": args.instance_price,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
