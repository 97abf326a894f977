"""Asynchronous jobs on the local stack: what each dialect adds to the S3 path, and a burst of jobs.

The stack is the one ``make run`` starts: template.yaml's resources on moto, the processor, jobs and webhooks
functions behind their SQS pollers, and the API adapter (``local/bgremove_local/api_server.py``) in front.

1. Latency, submit to COMPLETED, of a 0.4 MP JPEG, back to back in rotating order:

   - s3: upload to the input bucket, until the completion event reaches the subscriber queue;
   - replicate: ``POST /v1/predictions`` with ``Prefer: wait`` (the answer is the finished prediction);
   - openai: ``POST /v1/chat/completions`` (the answer is the finished completion);
   - apiframe: ``POST /v2/images/background-remove``, then ``GET /v2/jobs/{id}`` every 20 ms until it ends.

   p50 and p95 of each; the added latency of a dialect is its p50 less the S3 path's (target < 150 ms).
2. ``--jobs`` jobs submitted at once (Apiframe and Replicate alternately, each with a webhook to a
   receiver on loopback): all must complete, none be lost, and each job must get exactly one terminal
   webhook (a redelivery would carry the same webhook id or job id and is counted as a duplicate).

Only loopback is used. Writes bench/results/jobs.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO / "local"), str(REPO / "functions" / "api")]

from _common import RESULTS, log, machine_info, rounded, summary, write_json  # noqa: E402
from inputs import SMALL_JPEG  # noqa: E402

from bgremove_local.api_server import running_api  # noqa: E402
from bgremove_local.runner import TEMPLATE, running_pipeline  # noqa: E402

TARGET_ADDED_S = 0.150
POLL_S = 0.02
TIMEOUT_S = 120.0
SIDES = ("s3", "replicate", "openai", "apiframe")


class Receiver:
    """Webhook deliveries on loopback, by job id and event."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: list[tuple[str, str, str]] = []  # (job id, event, webhook id or "")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                job_id = str(body.get("jobId") or body.get("id"))
                event = self.headers.get("X-Webhook-Event") or "completed"
                with receiver.lock:
                    receiver.deliveries.append((job_id, event, self.headers.get("webhook-id") or ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Bench:
    def __init__(self, pipeline: Any, url: str, key: str, image: bytes, model: str) -> None:
        self.pipeline = pipeline
        self.url = url
        self.image = image
        self.model = model
        self.data_uri = "data:image/jpeg;base64," + base64.b64encode(image).decode()
        self.bearer = {"Authorization": f"Bearer {key}"}
        self.apikey = {"X-API-Key": key}
        self.count = 0

    def s3(self) -> float:
        self.count += 1
        key = f"bench/jobs-{self.count}.jpg"
        started = time.perf_counter()
        self.pipeline.upload(key, self.image, {"model": self.model})
        events = self.pipeline.wait_for({key}, TIMEOUT_S)
        elapsed = time.perf_counter() - started
        if events.get(key, {}).get("status") != "COMPLETED":
            raise SystemExit(f"S3 path: {events.get(key)}")
        return elapsed

    def replicate(self, webhook: str | None = None, wait: bool = True) -> tuple[float, str]:
        body: dict[str, Any] = {"version": self.model, "input": {"image": self.data_uri}}
        if webhook:
            body.update(webhook=webhook, webhook_events_filter=["completed"])
        headers = {**self.bearer, **({"Prefer": "wait"} if wait else {})}
        started = time.perf_counter()
        response = requests.post(f"{self.url}/v1/predictions", json=body, headers=headers, timeout=60)
        elapsed = time.perf_counter() - started
        answer = response.json()
        if response.status_code != 201 or (wait and answer["status"] != "succeeded"):
            raise SystemExit(f"replicate: {response.status_code} {response.text[:300]}")
        return elapsed, str(answer["id"])

    def openai(self) -> float:
        body = {
            "model": self.model,
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": self.data_uri}}]}
            ],
        }
        started = time.perf_counter()
        response = requests.post(
            f"{self.url}/v1/chat/completions", json=body, headers=self.bearer, timeout=60
        )
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"openai: {response.status_code} {response.text[:300]}")
        return elapsed

    def apiframe(self, webhook: str | None = None, poll: bool = True) -> tuple[float, str]:
        body: dict[str, Any] = {"model": "851-bg-remove", "lab851BgRemoveParams": {"image": self.data_uri}}
        if webhook:
            body["webhookUrl"] = webhook
        started = time.perf_counter()
        response = requests.post(
            f"{self.url}/v2/images/background-remove", json=body, headers=self.apikey, timeout=60
        )
        if response.status_code != 202:
            raise SystemExit(f"apiframe: {response.status_code} {response.text[:300]}")
        job_id = str(response.json()["jobId"])
        while poll:
            status = requests.get(f"{self.url}/v2/jobs/{job_id}", headers=self.apikey, timeout=60).json()[
                "status"
            ]
            if status == "COMPLETED":
                break
            if status == "FAILED" or time.perf_counter() - started > TIMEOUT_S:
                raise SystemExit(f"apiframe job {job_id}: {status}")
            time.sleep(POLL_S)
        return time.perf_counter() - started, job_id


def latency(bench: Bench, reps: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    for rep in range(reps):
        order = SIDES[rep % len(SIDES) :] + SIDES[: rep % len(SIDES)]
        for side in order:
            if side == "s3":
                times[side].append(bench.s3())
            elif side == "replicate":
                times[side].append(bench.replicate()[0])
            elif side == "openai":
                times[side].append(bench.openai())
            else:
                times[side].append(bench.apiframe()[0])
    stats = {side: summary(values) for side, values in times.items()}
    base = stats["s3"]["median"]
    added = {side: stats[side]["median"] - base for side in SIDES if side != "s3"}
    return {
        "reps": reps,
        "seconds": stats,
        "added_p50_s": added,
        "target_added_s": TARGET_ADDED_S,
        "met": all(value < TARGET_ADDED_S for value in added.values()),
    }


def burst(bench: Bench, receiver: Receiver, count: int, clients: int) -> dict[str, Any]:
    from bgremove_api.runtime import get_runtime  # noqa: PLC0415 (on the path once the stack runs)

    def submit(number: int) -> str:
        if number % 2:
            return bench.replicate(f"{receiver.url}/replicate", wait=False)[1]
        return bench.apiframe(f"{receiver.url}/apiframe", poll=False)[1]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        ids = list(pool.map(submit, range(count)))
    submitted_s = time.perf_counter() - started
    store = get_runtime().jobs.store
    pending = set(ids)
    deadline = time.monotonic() + max(TIMEOUT_S, count * 2.0)
    statuses: Counter[str] = Counter()
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            job = store.find(job_id)
            if job is not None and job.status.terminal:
                statuses[job.status.value] += 1
                pending.discard(job_id)
        time.sleep(0.2)
    done_s = time.perf_counter() - started
    # Terminal webhooks: wait for the last deliveries, then count per job.
    settle = time.monotonic() + 30
    while time.monotonic() < settle:
        with receiver.lock:
            if len({d[0] for d in receiver.deliveries}) >= count - len(pending):
                break
        time.sleep(0.2)
    time.sleep(2)  # a late duplicate would arrive now
    with receiver.lock:
        per_job = Counter(d[0] for d in receiver.deliveries)
    return {
        "jobs": count,
        "clients": clients,
        "submit_s": submitted_s,
        "all_terminal_s": done_s,
        "statuses": dict(statuses),
        "lost": len(pending),
        "jobs_with_one_webhook": sum(1 for job_id in ids if per_job[job_id] == 1),
        "jobs_without_webhook": sum(1 for job_id in ids if per_job[job_id] == 0),
        "duplicate_webhooks": sum(n - 1 for n in per_job.values() if n > 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--model", default="u2netp", help="the model every job runs")
    args = parser.parse_args()
    if not SMALL_JPEG.exists():
        print(f"SKIPPED: {SMALL_JPEG} not found (shared benchmark photos)", flush=True)
        return 0
    image = SMALL_JPEG.read_bytes()
    overrides = {"DefaultModel": args.model}
    limits = {
        "DEFAULT_RATE_PER_SECOND": "10000",
        "DEFAULT_MAX_IN_FLIGHT": "100",
        "URL_FETCH_ALLOW_LOOPBACK": "true",
    }
    receiver = Receiver()
    try:
        with (
            running_pipeline(
                overrides=overrides,
                quiet=True,
                environment={"BGREMOVE_DEFAULT_MODEL": args.model},
                allow_loopback=True,  # the webhook receiver listens on 127.0.0.1
            ) as pipeline,
            running_api(
                pipeline.cloud, TEMPLATE, port=0, overrides=overrides, environment=limits, echo=None
            ) as api,
        ):
            bench = Bench(pipeline, api.url, api.key, image, args.model)
            log(f"jobs bench: {SMALL_JPEG.name}, model {args.model}, {args.reps} reps, then {args.jobs} jobs")
            bench.s3()  # warm: model, imports, first DynamoDB calls
            bench.openai()
            measured = latency(bench, args.reps)
            load = burst(bench, receiver, args.jobs, args.clients)
    finally:
        receiver.server.shutdown()
    result = {"input": SMALL_JPEG.name, "model": args.model, "latency": measured, "burst": load}
    write_json(RESULTS / "jobs.json", {"machine": machine_info(), **rounded(result)})
    seconds = measured["seconds"]
    shown = " | ".join(
        f"{side} p50 {seconds[side]['median'] * 1000:.0f} ms p95 {seconds[side]['p95'] * 1000:.0f} ms"
        + (f" (+{measured['added_p50_s'][side] * 1000:.0f} ms)" if side != "s3" else "")
        for side in SIDES
    )
    verdict = "met" if measured["met"] else "missed"
    print(
        f"{shown} | target added < {TARGET_ADDED_S * 1000:.0f} ms: {verdict} | {load['jobs']} jobs: "
        f"{load['statuses']}, {load['lost']} lost, {load['jobs_with_one_webhook']} with exactly one webhook, "
        f"{load['duplicate_webhooks']} duplicates, all terminal in {load['all_terminal_s']:.1f} s",
        flush=True,
    )
    ok = (
        load["lost"] == 0
        and load["jobs_with_one_webhook"] == load["jobs"]
        and load["duplicate_webhooks"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
