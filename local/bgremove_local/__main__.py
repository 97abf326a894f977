"""``python -m bgremove_local``: the pipeline on an embedded AWS emulator (``make run``, ``make serve``).

run    upload the sample photos with several option sets, wait for every completion event, download the
       results into ./out/, print a summary; exit 0 when every upload ended as expected
serve  keep the stack up on a fixed port for the aws cli or boto3, print events as they arrive;
       --watch DIR uploads files that appear in DIR
chaos  many uploads with faults injected (AWS errors, crashes, a model outage, duplicate and late
       notifications, overwrites); exit 0 when none is lost, duplicated or wrong
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgremove_local.api_server import (
    RunningApi,
    api_samples,
    async_api_samples,
    running_api,
    send_async_sample,
    send_sample,
)
from bgremove_local.runner import ALLOW_LOOPBACK_ENVIRONMENT, REPO_ROOT, TEMPLATE, Pipeline, running_pipeline

SAMPLES_DIR = REPO_ROOT / "tests" / "fixtures" / "images"


@dataclass(frozen=True)
class Sample:
    key: str
    source: str | None  # file in SAMPLES_DIR, or None for the invalid upload
    metadata: dict[str, str]
    expected_status: str
    expected_code: str | None = None


SAMPLES = (
    Sample("samples/astronaut-transparent.jpg", "astronaut.jpg", {"job-id": "demo-1"}, "COMPLETED"),
    Sample(
        "samples/coffee-white.jpg",
        "coffee.jpg",
        {"background-color": "#ffffff", "format": "jpeg"},
        "COMPLETED",
    ),
    Sample(
        "samples/astronaut-product.jpg",
        "astronaut.jpg",
        {
            "crop-to-foreground": "true",
            "margin": "5%",
            "target-size": "800 600",
            "vertical-alignment": "bottom",
            "background-color": "#f0f0f0",
        },
        "COMPLETED",
    ),
    Sample("samples/chelsea-mask.jpg", "chelsea.jpg", {"background-type": "map"}, "COMPLETED"),
    Sample("samples/coffee-delta.jpg", "coffee.jpg", {"format": "delta_png"}, "COMPLETED"),
    Sample("samples/chelsea-preview.jpg", "chelsea.jpg", {"format": "webp", "test": "true"}, "COMPLETED"),
    Sample("samples/not-an-image.jpg", None, {"job-id": "demo-bad"}, "FAILED", "NOT_AN_IMAGE"),
    Sample("samples/bad-option.jpg", "coffee.jpg", {"threshold": "1.5"}, "FAILED", "INVALID_OPTION"),
)


def _size(value: Any) -> str:
    return f"{value[0]}x{value[1]}" if value else "-"


def _inference(report: dict[str, Any]) -> str:
    """Where inference ran and how long it took, e.g. ``sagemaker:bgremove-local-inference 95 ms``."""
    if not report.get("backend"):
        return "-"
    took = report.get("timings_ms", {}).get("inference")
    fallback = " (fallback)" if report.get("fallback") else ""
    return f"{report['backend']}{fallback}" + (f" {took:.0f} ms" if took is not None else "")


def run_samples(pipeline: Pipeline, out_dir: Path, timeout_s: float, api: RunningApi | None = None) -> int:
    started = time.monotonic()
    for sample in SAMPLES:
        data = (SAMPLES_DIR / sample.source).read_bytes() if sample.source else b"this is not an image\n"
        pipeline.upload(sample.key, data, sample.metadata)
    print(
        f"uploaded {len(SAMPLES)} objects to s3://{pipeline.stack.input_bucket}/samples/, waiting for events"
    )
    events = pipeline.wait_for({s.key for s in SAMPLES}, timeout_s)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, ...]] = []  # the API's rows have no inference column
    ok = True
    for sample in SAMPLES:
        event = events.get(sample.key)
        status = event["status"] if event else "NO EVENT"
        code = (event.get("error") or {}).get("code") if event else None
        expected = status == sample.expected_status and code == sample.expected_code
        ok &= expected
        report = (event or {}).get("report") or {}
        output = (event or {}).get("output")
        saved = pipeline.download(output["key"], out_dir) if output else None
        options = " ".join(f"{k}={v}" for k, v in sample.metadata.items() if k != "job-id") or "(defaults)"
        rows.append(
            (
                sample.key.removeprefix("samples/"),
                options,
                status + ("" if expected else " (unexpected)"),
                code or "-",
                _size(report.get("input_size")),
                _size(report.get("result_size")),
                f"{(event or {}).get('timings_ms', {}).get('end_to_end', 0):.0f} ms" if event else "-",
                str(saved.relative_to(Path.cwd()))
                if saved and saved.is_relative_to(Path.cwd())
                else str(saved or "-"),
                _inference(report),
            )
        )
    if api is not None:  # one request per HTTP dialect through the local API (api_server.py)
        photo = (SAMPLES_DIR / "coffee.jpg").read_bytes()
        requests = [(r, send_sample) for r in api_samples(api.key, photo)]
        requests += [(r, send_async_sample) for r in async_api_samples(api.key, photo)]  # one job each
        for request, send in requests:
            status, reply, body, seconds = send(api.url, request)
            ok &= status == 200
            saved = None
            if status == 200:
                extension = reply.get("Content-Type", "image/png").rpartition("/")[2].replace("jpeg", "jpg")
                saved = out_dir / f"{request.path.strip('/').replace('/', '-')}.{extension}"
                saved.write_bytes(body)
            size = reply.get("X-Result-Size", "").replace(" ", "x") or (
                f"{reply['X-Width']}x{reply['X-Height']}" if "X-Width" in reply else "-"
            )
            rows.append(
                (
                    request.name,
                    request.shown_options,
                    str(status) + ("" if status == 200 else " (unexpected)"),
                    "-" if status == 200 else body[:80].decode(errors="replace"),
                    reply.get("X-Input-Size", "").replace(" ", "x") or "-",
                    size,
                    f"{seconds * 1000:.0f} ms",
                    str(saved.relative_to(Path.cwd()))
                    if saved and saved.is_relative_to(Path.cwd())
                    else str(saved or "-"),
                )
            )
    headers = ("key", "options", "status", "error", "input", "result", "time", "saved as", "inference")
    rows = [(*row, *("",) * (len(headers) - len(row))) for row in rows]  # rows without an inference column
    widths = [max(len(str(r[i])) for r in [*rows, headers]) for i in range(len(headers))]
    for row in (headers, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(
        f"{sum(1 for s in SAMPLES if s.key in events)}/{len(SAMPLES)} terminal events in "
        f"{time.monotonic() - started:.1f} s; results in {out_dir}/"
    )
    return 0 if ok else 1


def serve(pipeline: Pipeline, watch: Path | None, metadata: dict[str, str]) -> int:
    stack = pipeline.stack
    print(f"""local stack up (Ctrl-C stops it)
  endpoint        {stack.endpoint}
  input bucket    {stack.input_bucket}
  output bucket   {stack.output_bucket}
  topic           {stack.topic_arn}
  queue / DLQ     {stack.queue_url} / {stack.dead_letter_queue_url}
try, from another terminal (any credentials work, e.g. AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local):
  aws --endpoint-url {stack.endpoint} --region us-east-1 s3 cp photo.jpg s3://{stack.input_bucket}/ \\
      --metadata background-color=#ffffff
  aws --endpoint-url {stack.endpoint} --region us-east-1 s3 cp s3://{stack.output_bucket}/photo.jpg .""")
    seen: dict[Path, float] = {}
    try:
        while True:
            if watch is not None:
                for path in sorted(p for p in watch.iterdir() if p.is_file()):
                    mtime = path.stat().st_mtime
                    if seen.get(path) != mtime:
                        seen[path] = mtime
                        pipeline.upload(path.name, path.read_bytes(), metadata)
                        print(f"uploaded {path.name}")
            for event in pipeline.poll_events(wait_s=1):
                detail = event["output"]["key"] if event["output"] else event["error"]["code"]
                print(f"{event['status']:9} {event['input']['key']} -> {detail}")
    except KeyboardInterrupt:
        # A second Ctrl-C (or a signal forwarded by a wrapper) must not cut the clean shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("\nstopping")
    return 0


def _key_value(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bgremove_local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    run_cmd = sub.add_parser("run", help="process the samples end to end (default)")
    run_cmd.add_argument("--out", type=Path, default=Path("out"))
    run_cmd.add_argument("--timeout", type=float, default=300)
    run_cmd.add_argument("--verbose", action="store_true", help="show the function's logs and metrics")
    run_cmd.add_argument(
        "--inference",
        choices=("local", "sagemaker"),
        default="local",
        help="sagemaker: the default model runs in the Triton stand-in (containers/inference) on loopback, "
        "reached through SageMaker's runtime API",
    )
    serve_cmd = sub.add_parser("serve", help="keep the stack up for the aws cli")
    serve_cmd.add_argument("--port", type=int, default=4577)
    serve_cmd.add_argument("--watch", type=Path, help="upload files that appear in this folder")
    serve_cmd.add_argument("--verbose", action="store_true", help="show the function's logs and metrics")
    serve_cmd.add_argument(
        "--allow-loopback",
        action="store_true",
        help="let image URLs and webhooks reach 127.0.0.1 (a deployed stack refuses them; off by default)",
    )
    serve_cmd.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=_key_value,
        help="metadata for --watch uploads (repeatable)",
    )
    chaos_cmd = sub.add_parser("chaos", help="uploads with faults injected; counts lost/duplicated/wrong")
    chaos_cmd.add_argument("--uploads", type=int, default=1000)
    chaos_cmd.add_argument("--seed", type=int, default=1)
    chaos_cmd.add_argument("--verbose", action="store_true", help="show the function's logs and metrics")
    args = parser.parse_args(argv)
    if args.command == "chaos":
        from bgremove_local.chaos import ChaosConfig, print_result, run_chaos  # noqa: PLC0415

        result = run_chaos(
            ChaosConfig(uploads=args.uploads, seed=args.seed), verbose=args.verbose, echo=print
        )
        print_result(result)
        return 0 if result.ok else 1
    if args.command == "serve":
        metadata = dict(item.split("=", 1) for item in args.metadata)
        with (
            running_pipeline(
                port=args.port, quiet=not args.verbose, allow_loopback=args.allow_loopback
            ) as pipeline,
            running_api(
                pipeline.cloud,
                TEMPLATE,
                environment=ALLOW_LOOPBACK_ENVIRONMENT if args.allow_loopback else None,
            ) as api,
        ):
            print(
                f"http api        {api.url} (Pixian v2: /api/v2/remove-background, remove.bg: /v1.0/removebg)"
            )
            return serve(pipeline, args.watch, metadata)
    out = getattr(args, "out", Path("out"))
    timeout = getattr(args, "timeout", 300)
    with contextlib.ExitStack() as stack:
        remote: dict[str, Any] = {}
        if getattr(args, "inference", "local") == "sagemaker":
            from bgremove_local.inference import LocalInference, pipeline_arguments  # noqa: PLC0415

            inference = stack.enter_context(LocalInference(REPO_ROOT / "models"))
            print(
                f"Triton stand-in on {inference.container.url} ({inference.model}), "
                f"SageMaker runtime API on {inference.url}"
            )
            remote = pipeline_arguments(inference)
        pipeline = stack.enter_context(running_pipeline(quiet=not getattr(args, "verbose", False), **remote))
        api = stack.enter_context(running_api(pipeline.cloud, TEMPLATE, port=0, echo=None))
        return run_samples(pipeline, out, timeout, api)
    return 1  # unreachable: the block returns; mypy cannot tell that ExitStack does not swallow errors


if __name__ == "__main__":
    sys.exit(main())
