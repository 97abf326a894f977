"""Capacity model of the S3 pipeline: how long a load takes, how much concurrency it needs, what it costs and
which limit binds first (docs/capacity.md).

    PYTHONPATH=local python bench/capacity.py [--images N] [--hours H] [--peak-factor P] [--megapixels MP]
        [--memory-mb MB] [--max-concurrency C] [--arch x86_64|arm64] [--param NAME=VALUE ...]

Defaults come from template.yaml's parameters (MemorySize, MaxConcurrency, BatchSize, Architecture); the
per-image times from the measured table of docs/deploy.md#what-it-costs; the AWS limits from the pages cited
in :data:`LIMITS`. The last line is machine-readable::

    capacity: images=N hours=H peak_concurrency=C drain_h=D cost_usd=X bottleneck=NAME
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Seconds per image in the function (download to publish), u2net, input -> PNG, at 1 and 2 vCPUs (1769 and
# 3538 MB), by input size: docs/deploy.md#what-it-costs (make bench, 2026-11-28).
MEASURED_S = {0.4: (0.75, 0.40), 2.0: (0.86, 0.50), 12.0: (1.15, 0.85)}
MB_PER_VCPU = 1769  # Lambda: 1 vCPU per 1769 MB
TRANSFER_S = 0.15  # S3 GET + PUT, SNS publish and DynamoDB records per image, outside the engine (assumed)
ARM64_FACTOR = 1.3  # docs/deploy.md#what-it-costs: Graviton assumed 1.3x the x86_64 seconds (not measured)
PRICE_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}  # https://aws.amazon.com/lambda/pricing/
PRICE_REQUEST = 0.20 / 1e6  # Lambda, per invocation (one per SQS batch)
OTHER_REQUESTS_PER_1000 = 0.012  # S3, SQS, SNS requests per 1000 images: docs/deploy.md#what-it-costs


@dataclass(frozen=True)
class Limit:
    name: str
    per_second: float
    """Images per second this limit lets through (at the given settings)."""
    source: str


def seconds_per_image(megapixels: float, memory_mb: int, arch: str) -> float:
    """Interpolated in log(megapixels) between the measured sizes and linearly in vCPUs between 1 and 2
    (clamped: the benchmark machine had 2 CPUs, and below 1 vCPU time grows as 1 / vCPUs)."""
    sizes = sorted(MEASURED_S)
    mp = min(max(megapixels, sizes[0]), sizes[-1])
    low = max(s for s in sizes if s <= mp)
    high = min(s for s in sizes if s >= mp)
    weight = 0.0 if high == low else (math.log(mp) - math.log(low)) / (math.log(high) - math.log(low))
    one, two = (MEASURED_S[low][i] + weight * (MEASURED_S[high][i] - MEASURED_S[low][i]) for i in (0, 1))
    vcpus = memory_mb / MB_PER_VCPU
    seconds = one / vcpus if vcpus < 1 else one + (min(vcpus, 2.0) - 1) * (two - one)
    return (seconds + TRANSFER_S) * (ARM64_FACTOR if arch == "arm64" else 1.0)


def limits(service_s: float, max_concurrency: int, account_concurrency: int) -> list[Limit]:
    """Images per second each stage allows; the lowest is the bottleneck."""
    return [
        Limit(
            "function concurrency (MaxConcurrency)",
            max_concurrency / service_s,
            "template.yaml MaxConcurrency; SQS event source MaximumConcurrency, 2 to 1000: "
            "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html",
        ),
        Limit(
            "account concurrency",
            account_concurrency / service_s,
            "1,000 concurrent executions per Region by default (raisable): "
            "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
        ),
        Limit(
            "S3 output PUTs",
            3500.0,
            "3,500 PUT/COPY/POST/DELETE per second per prefix (one output prefix): "
            "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html",
        ),
        Limit(
            "S3 input GETs",
            5500.0 / 2,  # the object and its HEAD (a GET for the rate)
            "5,500 GET/HEAD per second per prefix, two per image: "
            "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html",
        ),
        Limit(
            "SNS publishes",
            9000.0,
            "Publish: 30,000/s in us-east-1, 9,000/s in us-west-2 and eu-west-1, lower elsewhere (raisable): "
            "https://docs.aws.amazon.com/general/latest/gr/sns.html",
        ),
        Limit(
            "DynamoDB idempotency writes",
            4000.0 / 3,
            "on-demand table: 4,000 write units/s at first, doubling as traffic grows; about 3 writes per "
            "image: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    defaults = _template_defaults()
    parser = argparse.ArgumentParser(
        description="Capacity model of the bgremove S3 pipeline (docs/capacity.md)"
    )
    parser.add_argument("--images", type=int, default=100_000, help="images in the load (100000)")
    parser.add_argument("--hours", type=float, default=8.0, help="hours over which they arrive (8)")
    parser.add_argument("--peak-factor", type=float, default=3.0, help="peak arrival rate / average (3)")
    parser.add_argument("--megapixels", type=float, default=2.0, help="typical input size (2 MP)")
    parser.add_argument("--memory-mb", type=int, default=int(defaults["MemorySize"]))
    parser.add_argument("--max-concurrency", type=int, default=int(defaults["MaxConcurrency"]))
    parser.add_argument("--batch-size", type=int, default=int(defaults["BatchSize"]))
    parser.add_argument("--arch", choices=sorted(PRICE_GB_S), default=str(defaults["Architecture"]))
    parser.add_argument("--account-concurrency", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.images <= 0 or args.hours <= 0 or args.peak_factor < 1:
        parser.error("--images and --hours must be positive, --peak-factor at least 1")

    service_s = seconds_per_image(args.megapixels, args.memory_mb, args.arch)
    average_rate = args.images / (args.hours * 3600)
    peak_rate = average_rate * args.peak_factor
    stages = limits(service_s, args.max_concurrency, args.account_concurrency)
    bottleneck = min(stages, key=lambda limit: limit.per_second)
    capacity = bottleneck.per_second
    # Little's law at the peak, capped by what the event source may run at once.
    peak_concurrency = min(math.ceil(peak_rate * service_s), args.max_concurrency, args.account_concurrency)
    # The load is done when the arrivals end or, if the pipeline is slower, when it has worked through them;
    # a peak above the capacity queues up and drains at the capacity (SQS holds the backlog, 4 days default).
    drain_s = max(args.hours * 3600, args.images / capacity)
    peak_backlog = max(0.0, (peak_rate - capacity) * 3600)  # images queued per hour of peak
    gb_s = args.images * service_s * args.memory_mb / 1024
    cost = (
        gb_s * PRICE_GB_S[args.arch]
        + math.ceil(args.images / args.batch_size) * PRICE_REQUEST
        + args.images / 1000 * OTHER_REQUESTS_PER_1000
    )

    print(
        f"load: {args.images} images of {args.megapixels:g} MP in {args.hours:g} h "
        f"(peak x{args.peak_factor:g}); {args.memory_mb} MB {args.arch}: {service_s:.2f} s per image"
    )
    print(f"arrival: average {average_rate:.2f}/s, peak {peak_rate:.2f}/s")
    print()
    print(f"{'stage':<38}  {'images/s':>10}  {'peak use':>8}  source")
    for limit in sorted(stages, key=lambda item: item.per_second):
        use = peak_rate / limit.per_second
        print(f"{limit.name:<38}  {limit.per_second:>10.1f}  {use:>7.0%}  {limit.source}")
    print()
    if peak_backlog:
        print(f"the peak outruns {bottleneck.name}: about {peak_backlog:.0f} images queue per hour of peak")
    print(f"cost: ${cost:.2f} ({gb_s:.0f} GB-s of compute; requests included)")
    print(
        f"capacity: images={args.images} hours={args.hours:g} peak_concurrency={peak_concurrency} "
        f"drain_h={drain_s / 3600:.2f} cost_usd={cost:.2f} bottleneck={_slug(bottleneck.name)}"
    )
    return 0


def _slug(name: str) -> str:
    return name.split(" (", maxsplit=1)[0].replace(" ", "_")


def _template_defaults() -> dict[str, object]:
    """template.yaml's parameter defaults (the local runner's reader: intrinsic tags understood)."""
    from bgremove_local.template import Template  # noqa: PLC0415 - needs PYTHONPATH=local

    return Template(REPO / "template.yaml", "http://127.0.0.1:1").parameters


if __name__ == "__main__":
    sys.exit(main())
