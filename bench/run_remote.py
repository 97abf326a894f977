"""The GPU offload on CPU: what KServe v2 and the HTTP hop cost, JSON against binary tensors, which batches
Triton's dynamic batching forms under concurrent clients, and how close the results are to local inference.

The endpoint is the Triton stand-in (containers/inference) serving the model's Triton repository (built by
layers/model/triton_repo.py --device cpu: the engine's own file, with a dynamic batch dimension), reached as
the function reaches it: boto3's ``sagemaker-runtime`` client through the local stand-in for SageMaker's
runtime API (local/bgremove_local/inference.py). Four parts, written to bench/results/remote.json:

- ``hop``: the same engine on the same 0.4 MP photo, interleaved (the order reverses every repetition), with
  the same model file and ONNX Runtime threads on every side: ``local`` (the model in this process),
  ``remote`` (binary tensors through SageMaker's stand-in), ``remote-json`` (the same with JSON tensors) and
  ``direct`` (the stand-in's KServe route over plain HTTP, without the SageMaker hop). ``hop_ms``: per call,
  the engine's inference stage minus the model's execution time on the server (its ``compute_infer``
  statistics): what the protocol, the copies and the HTTP hops add. ``hop_pct`` relates its median to the
  local median total. Target: under 10% at 0.4 MP.
- ``codec``: CPU time and bytes of the client's and the server's encoding and decoding, binary and JSON.
- ``batching``: N requests from C concurrent clients, for several ``max_queue_delay_microseconds``: the
  executions per batch size from the server's statistics, images per second, p50/p95 latency per request.
- ``accuracy``: the matte (float, max abs difference) and the engine's alpha (max step out of 255) against
  local inference, per test photo.

On a GPU the network itself is faster; on CPU this measures what the offload adds and which batches form, not
a GPU's gain (bench/gpu/). Needs the project's .venv (``make bench-remote``); loopback only.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import numpy as np
from botocore.config import Config
from PIL import Image

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
from bgremove.models import ModelRegistry, Payload, RemoteRegistry, SessionConfig  # noqa: E402
from bgremove.models._kserve import (  # noqa: E402
    HEADER_LENGTH_HEADER,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from bgremove.models._remote import IMAGE_INPUT, MATTE_OUTPUT  # noqa: E402
from bgremove_local.inference import LocalInference  # noqa: E402
from processor.inference import SageMakerInvoker  # noqa: E402

MODELS_DIR = REPO / "models"
PHOTOS = REPO / "tests" / "fixtures" / "images"
OPTIONS = {"background_type": "rgba"}  # input -> transparent PNG, the common request


class DirectInvoker:
    """The stand-in's ``POST /v2/models/{model}/infer`` over urllib: the hop without SageMaker's front."""

    def __init__(self, url: str, model: str) -> None:
        self._url = f"{url}/v2/models/{model}/infer"

    @property
    def backend(self) -> str:
        return "direct"

    def invoke(self, request: Payload) -> Payload:
        headers = {"Content-Type": "application/json"}
        if request.json_length is not None:
            headers = {
                "Content-Type": "application/octet-stream",
                HEADER_LENGTH_HEADER: str(request.json_length),
            }
        http = urllib.request.Request(self._url, data=request.body, method="POST", headers=headers)
        with urllib.request.urlopen(http, timeout=120) as response:
            length = response.headers.get(HEADER_LENGTH_HEADER)
            body: bytes = response.read()
        return Payload(body, int(length) if length else None)


def _client(server: LocalInference) -> Any:
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(
            read_timeout=300, retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=32
        ),
    )


def _engine(settings: EngineSettings, routes: dict[str, Any] | None, *, binary: bool = True) -> Engine:
    if routes is None:
        return Engine(settings)
    local = ModelRegistry(settings.model_dirs, SessionConfig(intra_op_threads=settings.threads))
    return Engine(settings, registry=RemoteRegistry(local, routes, binary=binary))


def _compute_ns(server: LocalInference) -> int:
    return int(server.stats()["inference_stats"]["compute_infer"]["ns"])


def measure_hop(model: str, repetitions: int, threads: int, photo: bytes) -> dict[str, Any]:
    settings = EngineSettings(model_dirs=(MODELS_DIR,), default_model=model, threads=threads)
    with LocalInference(MODELS_DIR, model=model, max_batch=1, queue_delay_us=0, threads=threads) as server:
        invoker = SageMakerInvoker(_client(server), server.endpoint_name)
        engines = {
            "local": _engine(settings, None),
            "remote": _engine(settings, {model: invoker}),
            "remote-json": _engine(settings, {model: invoker}, binary=False),
            "direct": _engine(settings, {model: DirectInvoker(server.container.url, model)}),
        }
        options = Options.parse(OPTIONS)
        for engine in engines.values():  # warm-up: model loads, first-call allocations, connections
            engine.process(photo, options)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
        for repetition in range(repetitions):
            order = list(engines) if repetition % 2 == 0 else list(reversed(engines))
            for name in order:
                busy = _compute_ns(server)
                began = time.perf_counter()
                result = engines[name].process(photo, options)
                timings = dict(result.report.timings_ms)
                timings["wall"] = (time.perf_counter() - began) * 1000
                if name != "local":
                    server_ms = (_compute_ns(server) - busy) / 1e6
                    timings["server"] = server_ms
                    timings["hop"] = timings["inference"] - server_ms
                runs[name].append(timings)

    def median(name: str, key: str) -> float:
        return round(statistics.median(run[key] for run in runs[name]), 1)

    local_total = median("local", "total")
    summary: dict[str, Any] = {
        "model": model,
        "repetitions": repetitions,
        "median_ms": {
            name: {key: median(name, key) for key in ("inference", "total", "wall")} for name in engines
        },
    }
    for name in ("remote", "remote-json", "direct"):
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


def measure_codec(size: tuple[int, int], repetitions: int = 20) -> dict[str, Any]:
    """Bytes and CPU milliseconds of one request and its response, each way, binary and JSON."""
    width, height = size
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    matte = rng.random((1, height, width)).astype(np.float32)
    result: dict[str, Any] = {"network_input": f"{width}x{height}"}
    for binary in (True, False):
        timings: dict[str, list[float]] = {
            "client_encode": [],
            "server_decode": [],
            "server_encode": [],
            "client_decode": [],
        }
        for _ in range(repetitions):
            began = time.perf_counter()
            request = encode_request({IMAGE_INPUT: pixels}, [MATTE_OUTPUT], binary=binary)
            timings["client_encode"].append(time.perf_counter() - began)
            began = time.perf_counter()
            decoded = decode_request(request)
            timings["server_decode"].append(time.perf_counter() - began)
            began = time.perf_counter()
            response = encode_response("m", "1", {MATTE_OUTPUT: matte}, decoded.outputs)
            timings["server_encode"].append(time.perf_counter() - began)
            began = time.perf_counter()
            decode_response(response)
            timings["client_decode"].append(time.perf_counter() - began)
        result["binary" if binary else "json"] = {
            "request_bytes": len(request.body),
            "response_bytes": len(response.body),
            **{key: round(1000 * statistics.median(values), 2) for key, values in timings.items()},
        }
    return result


def measure_batching(
    model: str,
    photo: bytes,
    *,
    threads: int,
    delays_us: list[int],
    clients: list[int],
    requests: int,
    max_batch: int,
) -> list[dict[str, Any]]:
    pixels = np.asarray(Image.open(io.BytesIO(photo)).convert("RGB").resize((320, 320)))
    request = encode_request({IMAGE_INPUT: pixels[np.newaxis]}, [MATTE_OUTPUT])
    rows: list[dict[str, Any]] = []
    for delay in delays_us:
        with LocalInference(
            MODELS_DIR, model=model, max_batch=max_batch, queue_delay_us=delay, threads=threads
        ) as server:
            invoker = SageMakerInvoker(_client(server), server.endpoint_name)
            invoker.invoke(request)  # warm-up
            for count in clients:
                before = server.batch_sizes()
                latencies: list[float] = []

                def client(
                    n: int, latencies: list[float] = latencies, invoker: SageMakerInvoker = invoker
                ) -> None:
                    for _ in range(n):
                        began = time.perf_counter()
                        invoker.invoke(request)
                        latencies.append(time.perf_counter() - began)

                share = [requests // count + (1 if i < requests % count else 0) for i in range(count)]
                began = time.perf_counter()
                with ThreadPoolExecutor(count) as pool:
                    list(pool.map(client, share))
                wall = time.perf_counter() - began
                after = server.batch_sizes()
                formed = {size: after.get(size, 0) - before.get(size, 0) for size in after}
                formed = {size: n for size, n in sorted(formed.items()) if n}
                rows.append(
                    {
                        "queue_delay_us": delay,
                        "clients": count,
                        "requests": requests,
                        "executions_by_batch_size": formed,
                        "mean_batch": round(requests / max(1, sum(formed.values())), 2),
                        "images_per_s": round(requests / wall, 2),
                        "p50_ms": round(1000 * statistics.median(latencies), 1),
                        "p95_ms": round(1000 * sorted(latencies)[max(0, int(0.95 * len(latencies)) - 1)], 1),
                    }
                )
                print(f"  delay {delay:>6} us, {count} clients: {rows[-1]}", flush=True)
    return rows


def measure_accuracy(model: str, threads: int) -> list[dict[str, Any]]:
    settings = EngineSettings(model_dirs=(MODELS_DIR,), default_model=model, threads=threads)
    options = Options.parse({"background_type": "map"})
    rows: list[dict[str, Any]] = []
    with LocalInference(MODELS_DIR, model=model, threads=threads) as server:
        local = _engine(settings, None)
        remote = _engine(settings, {model: SageMakerInvoker(_client(server), server.endpoint_name)})
        for photo in sorted(PHOTOS.glob("*.jpg")):
            data = photo.read_bytes()
            image = Image.open(io.BytesIO(data)).convert("RGB")
            local_segmenter, remote_segmenter = local.registry.get(model), remote.registry.get(model)
            local_matte = np.asarray(
                local_segmenter.to_matte(local_segmenter.infer(local_segmenter.prepare(image)))
            )
            remote_matte = np.asarray(
                remote_segmenter.to_matte(remote_segmenter.infer(remote_segmenter.prepare(image)))
            )
            alpha_local = np.asarray(
                Image.open(io.BytesIO(local.process(data, options).data)).convert("L"), int
            )
            alpha_remote = np.asarray(
                Image.open(io.BytesIO(remote.process(data, options).data)).convert("L"), int
            )
            steps = np.abs(alpha_local - alpha_remote)
            rows.append(
                {
                    "model": model,
                    "photo": photo.name,
                    "matte_max_abs_diff": float(np.abs(local_matte - remote_matte).max()),
                    "alpha_max_step": int(steps.max()),
                    "alpha_pixels_differing": int((steps > 0).sum()),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument(
        "--models", default="u2netp,u2net", help="comma-separated; each needs models/<name>.onnx"
    )
    parser.add_argument("--batching-model", default="u2netp")
    parser.add_argument("--delays-us", default="0,2000,10000", help="max_queue_delay_microseconds to compare")
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--requests", type=int, default=16, help="requests per batching measurement")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS / "remote.json")
    args = parser.parse_args(argv)
    if not SMALL_JPEG.is_file():
        print(f"SKIPPED: {SMALL_JPEG} not found (shared benchmark material)")
        return 0
    photo = SMALL_JPEG.read_bytes()
    threads = cpu_count()
    models = [
        m.strip()
        for m in args.models.split(",")
        if m.strip() and (MODELS_DIR / f"{m.strip()}.onnx").is_file()
    ]
    print("codec: KServe v2 at 320x320, binary and JSON", flush=True)
    codec = measure_codec((320, 320))
    print(f"  {codec}", flush=True)
    hop = []
    for model in models:
        print(
            f"hop {model}: {args.repetitions} repetitions at 0.4 MP ({SMALL_JPEG.name}), {threads} threads",
            flush=True,
        )
        hop.append(measure_hop(model, args.repetitions, threads, photo))
    print(
        f"batching {args.batching_model}: {args.requests} requests, max_batch_size {args.max_batch}",
        flush=True,
    )
    batching = measure_batching(
        args.batching_model,
        photo,
        threads=threads,
        delays_us=[int(d) for d in args.delays_us.split(",")],
        clients=[int(c) for c in args.clients.split(",")],
        requests=args.requests,
        max_batch=args.max_batch,
    )
    accuracy = [row for model in models for row in measure_accuracy(model, threads)]
    print(f"{'model':8} {'path':12} {'local ms':>9} {'total ms':>9} {'overhead':>9} {'hop ms':>7} {'hop':>6}")
    for row in hop:
        local = row["median_ms"]["local"]["total"]
        for name in ("remote", "remote-json", "direct"):
            cost = row[name]
            print(
                f"{row['model']:8} {name:12} {local:9.1f} {row['median_ms'][name]['total']:9.1f} "
                f"{cost['overhead_pct']:8.1f}% {cost['hop_ms']:7.1f} {cost['hop_pct']:5.1f}%"
            )
    for row in accuracy:
        print(f"accuracy {row}")
    write_json(
        args.out,
        {
            "what": "the GPU offload on the Triton stand-in (CPU, loopback): KServe v2 + HTTP hop against "
            "local inference (0.4 MP JPEG -> transparent PNG, medians of interleaved repetitions), codec "
            "cost, batches formed under concurrent clients, accuracy against local inference",
            "input": {"file": SMALL_JPEG.name, "megapixels": 0.41},
            "machine": machine_info(),
            "threads": threads,
            "gpu": None,
            "codec": codec,
            "hop": hop,
            "batching": {"model": args.batching_model, "max_batch_size": args.max_batch, "rows": batching},
            "accuracy": accuracy,
        },
    )
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
