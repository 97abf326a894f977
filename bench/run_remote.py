"""The cost of offloading inference, on CPU: the wire format and the HTTP hop against local inference.

Runs the same engine on the same photo three ways, interleaved (the order reverses every repetition), with
the same model file and ONNX Runtime thread count on every side:

- ``local``: the model in this process, as the function runs it without an endpoint;
- ``remote``: the model in the inference server (containers/inference) on loopback, reached through boto3's
  ``sagemaker-runtime`` client and the local stand-in for SageMaker's runtime API (local/bgremove_local/
  inference.py), exactly the function's path: resize here, uint8 pixels out, 16-bit matte back;
- ``direct``: the same server's ``/invocations`` over plain HTTP (urllib), without the stand-in's extra hop.

Two overheads are reported. ``overhead_pct``: median engine total (remote) / median engine total (local) - 1,
which on a busy machine is mostly noise. ``hop_ms``: per remote call, the engine's inference stage minus the
time the server spent running the batch (its ``busy_ms``): what the wire format and the HTTP hops cost,
measured on the same call; ``hop_pct`` relates its median to the local median total. Target: under 10% at
0.4 MP.
On a GPU the network itself is faster; this measures what the offload adds (serialisation, two copies of the
payload, HTTP parsing, a thread switch into the server's batcher with ``MAX_WAIT_MS=0``), not a GPU's gain.
Both sides share this machine's CPUs but never run at the same time.

Writes bench/results/remote.json. Needs the project's .venv (``make bench-remote``); no network access
other than loopback.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [
    str(REPO / "local"),
    str(REPO / "containers" / "inference"),
    str(REPO / "functions" / "processor"),
]

from _common import RESULTS, cpu_count, machine_info, write_json  # noqa: E402
from inputs import SMALL_JPEG  # noqa: E402

from bgremove import Engine, EngineSettings, Options  # noqa: E402
from bgremove.models import CONTENT_TYPE, ModelRegistry, RemoteRegistry, SessionConfig  # noqa: E402
from bgremove_local.inference import LocalInference  # noqa: E402
from processor.inference import SageMakerInvoker  # noqa: E402

MODELS_DIR = REPO / "models"
OPTIONS = {"background_type": "rgba"}  # input -> transparent PNG, the common request


class DirectInvoker:
    """The server's ``/invocations`` over urllib: the hop without SageMaker's front."""

    def __init__(self, url: str) -> None:
        self._url = f"{url}/invocations"

    @property
    def backend(self) -> str:
        return "direct"

    def invoke(self, payload: bytes) -> bytes:
        request = urllib.request.Request(
            self._url, data=payload, method="POST", headers={"Content-Type": CONTENT_TYPE}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body: bytes = response.read()
        return body


def _engine(settings: EngineSettings, routes: dict[str, Any] | None) -> Engine:
    if routes is None:
        return Engine(settings)
    local = ModelRegistry(settings.model_dirs, SessionConfig(intra_op_threads=settings.threads))
    return Engine(settings, registry=RemoteRegistry(local, routes))


def measure(model: str, repetitions: int, threads: int, photo: bytes) -> dict[str, Any]:
    settings = EngineSettings(model_dirs=(MODELS_DIR,), default_model=model, threads=threads)
    with LocalInference(MODELS_DIR, models=(model,), max_batch=1, max_wait_ms=0, threads=threads) as server:
        client = boto3.client(
            "sagemaker-runtime",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(read_timeout=120, retries={"mode": "standard", "max_attempts": 1}),
        )
        engines = {
            "local": _engine(settings, None),
            "remote": _engine(settings, {model: SageMakerInvoker(client, server.endpoint_name)}),
            "direct": _engine(settings, {model: DirectInvoker(server.container.url)}),
        }
        options = Options.parse(OPTIONS)
        for engine in engines.values():  # warm-up: model loads, first-call allocations, connections
            engine.process(photo, options)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
        for repetition in range(repetitions):
            order = list(engines) if repetition % 2 == 0 else list(reversed(engines))
            for name in order:
                busy = server.container.service.batchers[model].busy_ms()
                began = time.perf_counter()
                result = engines[name].process(photo, options)
                timings = dict(result.report.timings_ms)
                timings["wall"] = (time.perf_counter() - began) * 1000
                if name != "local":
                    server_ms = server.container.service.batchers[model].busy_ms() - busy
                    timings["server"] = server_ms
                    timings["hop"] = timings["inference"] - server_ms
                runs[name].append(timings)
        width, height = engines["local"].registry.spec(model).input_size
    request_bytes = 12 + len(model) + width * height * 3  # the wire format's header, name and pixels
    response_bytes = 10 + width * height * 2  # header and 16-bit matte

    def median(name: str, key: str) -> float:
        return round(statistics.median(run[key] for run in runs[name]), 1)

    local_total = median("local", "total")
    summary: dict[str, Any] = {
        "model": model,
        "network_input": f"{width}x{height}",
        "request_bytes": request_bytes,
        "response_bytes": response_bytes,
        "repetitions": repetitions,
        "median_ms": {
            name: {key: median(name, key) for key in ("inference", "total", "wall")} for name in engines
        },
    }
    for name in ("remote", "direct"):
        total = median(name, "total")
        summary[name] = {
            "overhead_ms": round(total - local_total, 1),
            "overhead_pct": round(100 * (total / local_total - 1), 1),
            "hop_ms": median(name, "hop"),
            "hop_min_ms": round(min(run["hop"] for run in runs[name]), 1),
            "hop_pct": round(100 * median(name, "hop") / local_total, 1),
            "server_ms": median(name, "server"),
        }
    summary["runs"] = runs
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repetitions", type=int, default=9)
    parser.add_argument(
        "--models", default="u2netp,u2net", help="comma-separated; each needs models/<name>.onnx"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "remote.json")
    args = parser.parse_args(argv)
    if not SMALL_JPEG.is_file():
        print(f"SKIPPED: {SMALL_JPEG} not found (shared benchmark material)")
        return 0
    photo = SMALL_JPEG.read_bytes()
    threads = cpu_count()
    results = []
    for model in (m.strip() for m in args.models.split(",") if m.strip()):
        if not (MODELS_DIR / f"{model}.onnx").is_file():
            print(f"SKIPPED {model}: {MODELS_DIR / model}.onnx not found (make model MODEL={model})")
            continue
        print(
            f"{model}: {args.repetitions} repetitions at 0.4 MP ({SMALL_JPEG.name}), {threads} threads",
            flush=True,
        )
        results.append(measure(model, args.repetitions, threads, photo))
    print(f"{'model':8} {'path':7} {'local ms':>9} {'total ms':>9} {'overhead':>9} {'hop ms':>7} {'hop':>6}")
    for row in results:
        local = row["median_ms"]["local"]["total"]
        for name in ("remote", "direct"):
            cost = row[name]
            print(
                f"{row['model']:8} {name:7} {local:9.1f} {row['median_ms'][name]['total']:9.1f} "
                f"{cost['overhead_pct']:8.1f}% {cost['hop_ms']:7.1f} {cost['hop_pct']:5.1f}%"
            )
    write_json(
        args.out,
        {
            "what": "engine total (0.4 MP JPEG -> transparent PNG), local inference vs the inference "
            "server on loopback (CPU), median of interleaved repetitions",
            "input": {"file": SMALL_JPEG.name, "megapixels": 0.41},
            "machine": machine_info(),
            "threads": threads,
            "gpu": None,
            "results": results,
        },
    )
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
