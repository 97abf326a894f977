"""HTTP API overhead: a 0.4 MP JPEG through the local API adapter against a direct engine call.

The local stack is the one ``make serve`` runs (template.yaml's tables and buckets on moto, the real handler
behind the API Gateway adapter of ``local/bgremove_local/api_server.py``). Per repetition, back to back in
alternating order:

- direct: ``engine.process(jpeg, Options())`` on the same engine instance the handler uses;
- api: Pixian v2 ``POST /api/v2/remove-background`` with the JPEG as a multipart file, through HTTP, the
  proxy event (base64 body), key check and rate limit (DynamoDB on moto), multipart parsing, the engine,
  and the base64 response.

The overhead is measured inside each API request: its wall time at the client less the time the engine
took within that same request (the handler's engine call is timed), so that the noise of a shared machine
between two separate runs does not enter it. p50 and p95 of it, and its share of the direct engine call's
median (target: under 10%). The difference of the API's and the direct call's medians is reported too.
Then requests per second that one local instance sustains, with ``--clients`` concurrent clients for
``--seconds`` (the adapter runs one request at a time, as one Lambda instance does).

Only loopback is used (the adapter and moto), so this runs outside the benchmark's network namespace and
without its network guard. Writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO / "local"), str(REPO / "functions" / "api")]

from _common import RESULTS, log, machine_info, rounded, summary, write_json  # noqa: E402
from inputs import SMALL_JPEG  # noqa: E402

from bgremove import Options  # noqa: E402
from bgremove_local.api_server import running_api  # noqa: E402
from bgremove_local.emulator import LocalCloud  # noqa: E402

TEMPLATE = REPO / "template.yaml"
PATH = "/api/v2/remove-background"
TARGET_SHARE = 0.10


def _post(url: str, key: str, data: bytes) -> requests.Response:
    return requests.post(
        f"{url}{PATH}", files={"image": ("photo.jpg", data, "image/jpeg")}, auth=("b", key), timeout=120
    )


class TimedEngine:
    """The handler's engine, with the wall time of its last ``process`` call kept."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.last_s = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def process(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._engine.process(*args, **kwargs)
        finally:
            self.last_s = time.perf_counter() - started


def overhead(api: Any, key: str, data: bytes, reps: int) -> dict[str, Any]:
    engine = api.runtime.engine
    timed = TimedEngine(engine)
    object.__setattr__(api.runtime, "engine", timed)  # the runtime is frozen; this is a measurement probe
    direct: list[float] = []
    through: list[float] = []
    extra: list[float] = []
    for rep in range(reps):
        for side in ("direct", "api") if rep % 2 == 0 else ("api", "direct"):
            started = time.perf_counter()
            if side == "direct":
                engine.process(data, Options())
                direct.append(time.perf_counter() - started)
            else:
                response = _post(api.url, key, data)
                through.append(time.perf_counter() - started)
                extra.append(through[-1] - timed.last_s)
                if response.status_code != 200:
                    raise SystemExit(f"API answered {response.status_code}: {response.text[:300]}")
    object.__setattr__(api.runtime, "engine", engine)
    engine_s, api_s, extra_s = summary(direct), summary(through), summary(extra)
    return {
        "reps": reps,
        "engine_s": engine_s,
        "api_s": api_s,
        "median_difference_s": api_s["median"] - engine_s["median"],
        "overhead_s": extra_s,
        "overhead_share_p50": extra_s["median"] / engine_s["median"],
        "overhead_share_p95": extra_s["p95"] / engine_s["median"],
        "target_share": TARGET_SHARE,
        "met": extra_s["median"] / engine_s["median"] < TARGET_SHARE,
    }


def throughput(url: str, key: str, data: bytes, clients: int, seconds: float) -> dict[str, Any]:
    stop = time.monotonic() + seconds
    counts = {"ok": 0, "other": 0}
    lock = threading.Lock()

    def client() -> None:
        while time.monotonic() < stop:
            status = _post(url, key, data).status_code
            with lock:
                counts["ok" if status == 200 else "other"] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    wall = time.monotonic() - started
    return {"clients": clients, "seconds": wall, **counts, "requests_per_s": counts["ok"] / wall}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--model", default="", help="the deployment's default model (empty: template's)")
    args = parser.parse_args()
    if not SMALL_JPEG.exists():
        print(f"SKIPPED: {SMALL_JPEG} not found (shared benchmark photos)", flush=True)
        return 0
    data = SMALL_JPEG.read_bytes()
    overrides = {"DefaultModel": args.model} if args.model else {}
    cloud = LocalCloud(TEMPLATE, overrides=overrides)
    cloud.start()
    saved = dict(os.environ)
    try:
        os.environ.update({k: v for k, v in cloud.function_environment().items() if v != ""})
        os.environ.update({"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_TRACE_DISABLED": "1"})
        with running_api(cloud, TEMPLATE, port=0, overrides=overrides, echo=None) as api:
            key, _ = api.runtime.keys.create("bench", rate_per_second=10_000, max_in_flight=100)
            model = api.runtime.engine.model_name()
            log(f"api bench: {SMALL_JPEG.name}, model {model}, {args.reps} reps, then {args.clients} clients")
            _post(api.url, key, data)  # warm: model, imports, first DynamoDB calls
            measured = overhead(api, key, data, args.reps)
            load = throughput(api.url, key, data, args.clients, args.seconds)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        cloud.stop()
    result = {"input": SMALL_JPEG.name, "model": model, "overhead": measured, "throughput": load}
    write_json(RESULTS / "api.json", {"machine": machine_info(), **rounded(result)})
    engine_s, api_s, extra = measured["engine_s"], measured["api_s"], measured["overhead_s"]
    print(
        f"engine p50 {engine_s['median'] * 1000:.1f} ms p95 {engine_s['p95'] * 1000:.1f} ms | "
        f"through the API p50 {api_s['median'] * 1000:.1f} ms p95 {api_s['p95'] * 1000:.1f} ms | "
        f"overhead p50 {extra['median'] * 1000:.1f} ms p95 {extra['p95'] * 1000:.1f} ms = "
        f"{measured['overhead_share_p50']:.1%} of the engine's p50 (target < {TARGET_SHARE:.0%}: "
        f"{'met' if measured['met'] else 'missed'}) | {load['requests_per_s']:.2f} requests/s with "
        f"{load['clients']} clients ({load['ok']} ok, {load['other']} other)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
