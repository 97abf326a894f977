"""The cost model: MemorySize guidance by vCPU count and the whole pipeline's cost per 1000 images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _common import REPO, table
from _report_rows import TARGET_MODEL, cold_row, fmt_s, input_labels, latency_row

# ---- cost model assumptions (list prices as publicly documented; check current pricing) ----------
LAMBDA_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_REQUEST = 0.20 / 1e6
MB_PER_VCPU = 1769
# Lambda CPU speed relative to this machine's cores, per image (assumptions, not measurements):
CPU_FACTOR = {"x86_64": 1.0, "arm64": 1.3}
S3_PUT, S3_GET = 0.005 / 1000, 0.0004 / 1000  # S3 Standard, us-east-1
SQS_REQUEST, SNS_PUBLISH = 0.40 / 1e6, 0.50 / 1e6
BATCH_SIZE = 5  # template.yaml default: SQS messages per invocation
S3_BYTES_PER_S = 80e6  # in-region S3 transfer assumed for GET + PUT
S3_REQUEST_S = 0.03  # per S3 call
COLD_STARTS_PER_1000 = 5  # INIT is billed (since August 2025); a steady queue keeps environments warm
VENDORS = [
    (
        "remove.bg",
        "1 credit per full-resolution image, 1/4 credit per preview (<= 0.25 MP)",
        "help.remove.bg / remove.bg/help/a/what-are-image-credits",
        "dollar price per credit not found in the sources available to this benchmark",
    ),
    (
        "Pixian.AI",
        "API documented (pixian.ai/api, remove.bg-compatible endpoint)",
        "pixian.ai/api",
        "price per image not found in the sources available to this benchmark",
    ),
    (
        "Replicate",
        "billed per second of run time: CPU $0.000100/s (4 vCPU, 8 GB), Nvidia T4 $0.000225/s",
        "replicate.com/pricing",
        "per-image cost depends on the model's run time (estimate below)",
    ),
]


def scaling_rows(speed: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = speed.get("cpu_scaling", {}).get("rows", [])
    return rows


def scaling_row(speed: dict[str, Any], cpus: int, input_id: str) -> dict[str, Any] | None:
    return next((r for r in scaling_rows(speed) if r["cpus"] == cpus and r["input"] == input_id), None)


def memory_floor_mb() -> int | None:
    """``template.yaml``'s ``MemorySize`` ``MinValue``: the smallest size the function is deployed with."""
    import re  # noqa: PLC0415

    template = REPO / "template.yaml"
    found = (
        re.search(r"\n  MemorySize:\n(?:    .*\n)*?    MinValue: (\d+)", template.read_text())
        if template.exists()
        else None
    )
    return int(found.group(1)) if found else None


def lambda_compute_usd(seconds: float, memory_mb: int, arch: str) -> float:
    """Lambda's charge for ``seconds`` at ``memory_mb``: GB-seconds x the price per GB-s, plus one request."""
    return seconds * memory_mb / 1024 * LAMBDA_GB_S[arch] + LAMBDA_REQUEST


def memory_size_guidance(speed: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Latency and Lambda cost per 1000 images (input -> PNG, u2net) at 1, 2 and 4 vCPUs (1769 MB each)."""
    scaling = speed.get("cpu_scaling")
    if not scaling or not scaling["rows"]:
        return [], {}
    labels = input_labels(speed)
    inputs = list(dict.fromkeys(r["input"] for r in scaling["rows"]))
    header = ["vCPUs (MemorySize)"]
    for i in inputs:
        label = labels[i]["label"].replace(" JPEG", "")
        header += [f"{label}: ours / rembg s", f"{label}: ours $/1000 x86_64 / arm64"]
    rows = []
    raw: dict[str, Any] = {}
    for cpus in scaling["asked"]:
        memory = cpus * MB_PER_VCPU
        cells = [f"{cpus} ({memory} MB)"]
        for i in inputs:
            row = scaling_row(speed, cpus, i)
            if row is None:
                cells += ["not measured", "-"]
                continue
            ours, rembg = row["ours"]["wall_s"]["median"], row["rembg"]["wall_s"]["median"]
            usd = {
                arch: 1000 * lambda_compute_usd(ours * CPU_FACTOR[arch], memory, arch) for arch in LAMBDA_GB_S
            }
            raw[f"{cpus}cpu/{i}"] = {
                "memory_mb": memory,
                "ours_s": ours,
                "rembg_s": rembg,
                "ours_usd_per_1000": usd,
            }
            cells += [f"{fmt_s(ours)} / {fmt_s(rembg)}", f"${usd['x86_64']:.3f} / ${usd['arm64']:.3f}"]
        rows.append(cells)
    here = scaling["cpus_here"]
    missing = [n for n in scaling["asked"] if n > here]
    out = [
        f"## MemorySize guidance: latency and cost per 1000 images by vCPU count ({TARGET_MODEL} -> PNG)\n"
    ]
    out.append(table(header, rows))
    note = (
        f"\nLambda gives 1 vCPU per {MB_PER_VCPU} MB, so N vCPUs are emulated here by pinning the worker "
        "process to N CPUs (`sched_setaffinity`, what `taskset` does) with N ONNX Runtime threads, ours and "
        "rembg interleaved. Latency is the median bytes -> bytes time of a warm process. Cost = latency x "
        f"MemorySize in GB x the GB-second price (x86_64 ${LAMBDA_GB_S['x86_64']:.10f}, arm64 "
        f"${LAMBDA_GB_S['arm64']:.10f}) + one Lambda request (${LAMBDA_REQUEST * 1e6:.2f} per 1M): the "
        f"function's compute only. arm64 assumes {CPU_FACTOR['arm64']}x this machine's seconds (not "
        "measured; see the cost model below). S3, SQS, SNS and cold starts are in the full cost model below."
    )
    slower = [
        labels[i]["label"]
        for i in inputs
        if (one := scaling_row(speed, 1, i))
        and (two := scaling_row(speed, 2, i))
        and two["ours"]["wall_s"]["median"] >= 0.9 * one["ours"]["wall_s"]["median"]
    ]
    if slower:
        note += (
            f" **Caution**: with 2 CPUs ours was not clearly faster than with 1 on {', '.join(slower)}. "
            "On a shared machine the second CPU is likely busy with other work (see the load average above): "
            "the 2-CPU row may understate what 2 dedicated vCPUs give; re-run on an idle machine before "
            "sizing on it."
        )
    floor = memory_floor_mb()
    if floor and floor > MB_PER_VCPU:
        note += (
            f" 1 vCPU ({MB_PER_VCPU} MB) is below the function's MemorySize floor, {floor} MB "
            "(`template.yaml` `MinValue`, from the worst input it accepts: docs/decisions/): the smallest "
            f"size the template deploys gets {floor / MB_PER_VCPU:.2f} vCPU, between the 1- and 2-vCPU rows."
        )
    if missing:
        note += (
            f" {', '.join(str(n) for n in missing)} vCPUs: not measured, this machine has {here} CPUs and "
            "more "
            "cannot be emulated; no figure is given."
        )
    out.append(note + "\n")
    return out, raw


def lambda_seconds(speed: dict[str, Any], input_id: str, engine: str, cpus: int, arch: str) -> float | None:
    """Billed seconds per image on Lambda with ``cpus`` vCPUs, from the latency measured with that many."""
    row = scaling_row(speed, cpus, input_id)
    full = latency_row(speed, input_id, "png")
    if row is None or full is None:
        return None
    compute = row[engine]["wall_s"]["median"] * CPU_FACTOR[arch]
    size = next(i for i in speed["inputs"] if i["id"] == input_id)
    in_bytes = Path(size["path"]).stat().st_size if Path(size["path"]).exists() else 0
    transfer = (in_bytes + full[engine]["out_bytes"]) / S3_BYTES_PER_S + 2 * S3_REQUEST_S
    cold_start = cold_row(speed)
    cold = 0.0
    if cold_start:
        # the cold start was measured with every CPU here; fewer vCPUs are assumed to slow it in proportion
        here = speed["machine"]["cpus_usable"]
        cold = cold_start[engine]["first_result_s"]["median"] * max(1.0, here / cpus) * CPU_FACTOR[arch]
    seconds: float = compute + transfer + cold * COLD_STARTS_PER_1000 / 1000
    return seconds


def cost_rows(speed: dict[str, Any]) -> tuple[list[list[str]], dict[str, Any]]:
    requests = (
        (2 * S3_PUT + S3_GET) + (1 + 2 / BATCH_SIZE) * SQS_REQUEST + SNS_PUBLISH + LAMBDA_REQUEST / BATCH_SIZE
    )
    rows = []
    raw: dict[str, Any] = {"aws_requests_per_image": requests}
    counts = sorted({r["cpus"] for r in scaling_rows(speed)})
    for item in speed["inputs"]:
        for cpus in counts:
            memory = cpus * MB_PER_VCPU
            cells = [item["label"], f"{memory} MB ({cpus} vCPU)"]
            for arch in ("x86_64", "arm64"):
                for engine in ("ours", "rembg"):
                    seconds = lambda_seconds(speed, item["id"], engine, cpus, arch)
                    if seconds is None:
                        break
                    per_1000 = 1000 * (seconds * memory / 1024 * LAMBDA_GB_S[arch] + requests)
                    raw[f"{item['id']}/{memory}/{arch}/{engine}"] = {
                        "seconds": seconds,
                        "usd_per_1000": per_1000,
                    }
                    cells.append(f"${per_1000:.3f} ({seconds:.2f} s)")
            if len(cells) == 6:
                rows.append(cells)
    return rows, raw


def cost_section(speed: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    rows, raw = cost_rows(speed)
    out = [f"## Cost model: the whole pipeline on AWS, per 1000 images ({TARGET_MODEL}, input -> PNG)\n"]
    out.append(table(["input", "memory", "x86_64 ours", "x86_64 rembg", "arm64 ours", "arm64 rembg"], rows))
    out.append(
        f"""
Each cell: dollars per 1000 images (billed seconds per image). Assumptions:
- Lambda list prices (us-east-1): x86_64 ${LAMBDA_GB_S["x86_64"]:.10f}/GB-s,
  arm64 ${LAMBDA_GB_S["arm64"]:.10f}/GB-s, ${LAMBDA_REQUEST * 1e6:.2f} per 1M requests (one invocation per
  {BATCH_SIZE}-message SQS batch, the template's default).
- CPU: Lambda gives 1 vCPU per {MB_PER_VCPU} MB; each row uses the latency measured here with that many CPUs
  (the MemorySize table above), times a per-architecture CPU factor (x86_64 {CPU_FACTOR["x86_64"]}, arm64
  {CPU_FACTOR["arm64"]}: assumed, not measured; Graviton runs these convolution kernels somewhat slower).
  Inputs the CPU-count table did not measure are left out.
- I/O: input + output bytes over S3 at {S3_BYTES_PER_S / 1e6:.0f} MB/s plus {S3_REQUEST_S * 1000:.0f} ms per
  GET/PUT, billed as Lambda time.
- Cold starts (INIT is billed): {COLD_STARTS_PER_1000} per 1000 images, each the cold start measured here with
  every CPU, scaled up in proportion for fewer vCPUs.
- Requests per image: 2 S3 PUT (upload + result, ${S3_PUT * 1e3:.3f}/1000) + 1 S3 GET
  (${S3_GET * 1e3:.4f}/1000) + SQS (~1.4 requests, ${SQS_REQUEST * 1e6:.2f}/1M) + 1 SNS publish
  (${SNS_PUBLISH * 1e6:.2f}/1M): ${raw["aws_requests_per_image"] * 1000:.4f} per 1000. Not included: S3
  storage, data transfer out of AWS, CloudWatch logs, the DynamoDB idempotency writes, SNS deliveries.
"""
    )
    out.append("### Vendor list prices (as publicly documented; check current pricing)\n")
    out.append(table(["vendor", "list price", "source", "note"], [list(v) for v in VENDORS]))
    two_mp = latency_row(speed, "2mp", "png")
    if two_mp is None:
        return out, raw
    rembg_small = two_mp["rembg"]["wall_s"]["median"]
    out.append(
        f"\nReplicate estimate: a background-removal model that ran as long as rembg ({TARGET_MODEL}) does "
        f"here on 2 MP ({rembg_small:.2f} s) would cost about ${rembg_small * 0.0001 * 1000:.2f} per 1000 "
        f"images on Replicate's CPU hardware or ${rembg_small * 0.000225 * 1000:.2f} on a T4 (run time "
        "only; a real model's run time on their hardware will differ, and queueing/cold boots of public "
        "models are not billed).\n"
    )
    return out, raw
