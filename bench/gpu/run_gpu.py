"""GPU throughput and latency of the endpoint's model, by batch size: what one Triton execution costs.

Loads ``<repository>/<model>/1/model.onnx`` of the Triton repository ``make gpu-model`` builds (the network
with the engine's pre- and post-processing in its graph and a dynamic batch dimension: exactly what Triton's
ONNX Runtime backend runs) with ONNX Runtime's CUDA provider (TensorRT's with ``--tensorrt``), and records per
batch size (1, 4, 16, 32): images per second and p50/p95 latency of one execution, on uint8 pixels as the
function sends them. No HTTP and no queueing: Triton's own ``perf_analyzer`` measures those on a running
server (README.md here).

Not run where this project was developed: no GPU was lent. Run it on the target card and commit
bench/results/gpu.json with the card's name. With ``--instance-price`` (USD per hour of the endpoint
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


def measure(session: Any, batch: int, iterations: int, warmup: int) -> dict[str, Any]:
    _, height, width, _ = session.get_inputs()[0].shape
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
    for _ in range(warmup):
        session.run(["MATTE"], {"IMAGE": pixels})
    times = []
    for _ in range(iterations):
        began = time.perf_counter()
        session.run(["MATTE"], {"IMAGE": pixels})
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
    parser.add_argument("--repository", type=Path, default=REPO / "out" / "gpu-model" / "repository")
    parser.add_argument("--batches", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tensorrt", action="store_true")
    parser.add_argument("--instance-price", type=float, help="USD per hour of the endpoint instance")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu.json")
    args = parser.parse_args(argv)

    import onnxruntime as ort  # noqa: PLC0415

    providers = ["CPUExecutionProvider"]
    if args.device == "cuda":
        providers = ["CUDAExecutionProvider", *providers]
        if args.tensorrt:
            providers = ["TensorrtExecutionProvider", *providers]
    results = []
    for model in sorted(p for p in args.repository.iterdir() if (p / "1" / "model.onnx").is_file()):
        session = ort.InferenceSession(str(model / "1" / "model.onnx"), providers=providers)
        used = session.get_providers()
        print(f"{model.name}: providers {used}", flush=True)
        rows = []
        for batch in (int(b) for b in args.batches.split(",")):
            row = measure(session, batch, args.iterations, args.warmup)
            if args.instance_price:
                row["usd_per_1000_images"] = round(args.instance_price / 3600 / row["images_per_s"] * 1000, 5)
            print(f"  batch {batch:3}: {row}", flush=True)
            rows.append(row)
        results.append({"model": model.name, "providers": used, "by_batch": rows})
    payload = {
        "what": "one execution of the Triton repository's model.onnx (pre- and post-processing in the "
        "graph), no HTTP, no queue",
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
