"""Peak memory of the engine on the worst inputs and options the function accepts -> results/memory.json.

The table the function's ``MemorySize`` is chosen from (docs/decisions/0006-memory-size.md). For each case a
fresh process (``_memory_child.py``) reads one input, loads the real default model (u2net) and processes
the input twice with the case's options, under ``MALLOC_MMAP_THRESHOLD_=1048576`` as the function runs
(template.yaml). Its peak is taken two ways: ``VmHWM`` read by the child itself and ``ru_maxrss`` of the child
from ``wait4``. This parent imports only the standard library and makes the inputs in another process
(``_memory_inputs.py``), so that its own small footprint is all a ``vfork``-started child can inherit in
``ru_maxrss``.

Inputs are synthetic pictures made in code (``bench/results/raw/inputs/memory/``, git-ignored): 12, 24 and
32 MP JPEG, 32 MP JPEG tagged Adobe RGB, CMYK TIFF with an ICC profile, 48-bit RGB PNG, 16-bit grayscale PNG
and RGBA PNG, and a 0.5 MP JPEG for ``target_size``. 32 MP is ``bgremove.limits.MAX_DECODE_PIXELS``.

    run_memory.py [--only NAME ...] [--out PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _netguard
from _common import BENCH, RAW, REPO, RESULTS, _cpu_model, log, rounded, table, write_json

INPUTS = RAW / "inputs" / "memory"
SNAPSHOT = RAW / "memory-engine"  # the engine as it was when the run started; the children import it
MALLOC_MMAP_THRESHOLD = "1048576"  # template.yaml's value for the function (docs/decisions/0005)
TARGET = "5000 5000"  # 25 MP = bgremove.limits.MAX_TARGET_PIXELS


def snapshot_engine() -> dict[str, Any]:
    """Copy the engine as it is now to ``SNAPSHOT``; every process of the run imports that copy.

    Other work may change the engine's files while the table runs (minutes): the copy keeps every row on
    one state. Returns the commit, the engine files that differ from it, and a hash of the copied text
    (``git diff`` of those files is saved beside the copy).
    """
    source = REPO / "layers" / "engine" / "bgremove"
    target = SNAPSHOT / "bgremove"
    shutil.rmtree(SNAPSHOT, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted(target.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes() + b"\0")

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout

    diff = git("diff", "HEAD", "--", "layers/engine")
    (SNAPSHOT / "engine.diff").write_text(diff)
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "changed_files": [x[3:] for x in git("status", "--porcelain", "--", "layers/engine").splitlines()],
        "diff_sha1": hashlib.sha1(diff.encode(), usedforsecurity=False).hexdigest(),
        "source_sha1": digest.hexdigest(),
    }


def cases(inputs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """(name, input, options) of every row. ``largest_margin_px`` is the most the result size limit allows."""
    margin = f"{inputs['jpeg_32mp']['largest_margin_px']}px"
    cmyk_margin = f"{inputs['tiff_32mp_cmyk']['largest_margin_px']}px"
    rows = [
        ("12 MP JPEG -> PNG", "jpeg_12mp", {}),
        ("24 MP JPEG -> PNG", "jpeg_24mp", {}),
        ("32 MP JPEG -> PNG", "jpeg_32mp", {}),
        ("32 MP JPEG, Adobe RGB profile -> PNG", "jpeg_32mp_a98", {}),
        ("32 MP CMYK TIFF with profile -> PNG", "tiff_32mp_cmyk", {}),
        ("32 MP 48-bit RGB PNG -> PNG", "png_32mp_rgb16", {}),
        ("32 MP 16-bit gray PNG -> PNG", "png_32mp_gray16", {}),
        ("32 MP RGBA PNG -> PNG", "png_32mp_rgba", {}),
        (
            f"32 MP JPEG, margin {margin} + test -> WebP",
            "jpeg_32mp",
            {"margin": margin, "test": "true", "format": "webp"},
        ),
        (
            f"32 MP JPEG, blur + margin {margin} + test -> WebP",
            "jpeg_32mp",
            {"background_type": "blur", "margin": margin, "test": "true", "format": "webp"},
        ),
        (
            f"32 MP CMYK TIFF, margin {cmyk_margin} + test -> WebP",
            "tiff_32mp_cmyk",
            {"margin": cmyk_margin, "test": "true", "format": "webp"},
        ),
        # background_image names another input here; the child reads it and passes its bytes, as the
        # function passes the object it read from the input bucket
        (
            f"32 MP JPEG + 24 MP background image, margin {margin} + test -> WebP",
            "jpeg_32mp",
            {"background_image": "jpeg_24mp", "margin": margin, "test": "true", "format": "webp"},
        ),
        (
            f"32 MP CMYK TIFF + 24 MP background image, margin {cmyk_margin} + test -> WebP",
            "tiff_32mp_cmyk",
            {"background_image": "jpeg_24mp", "margin": cmyk_margin, "test": "true", "format": "webp"},
        ),
        ("0.5 MP JPEG, target_size 5000x5000 -> PNG", "jpeg_small", {"target_size": TARGET}),
        (
            "0.5 MP JPEG, target_size 5000x5000 + blur -> JPEG",
            "jpeg_small",
            {"target_size": TARGET, "background_type": "blur"},
        ),
    ]
    return [
        {"name": name, "input": key, "options": options}
        for name, key, options in rows
        if key in inputs  # jpeg_32mp_a98 needs an ICC profile that may be missing
    ]


def child_env() -> dict[str, str]:
    """The function's malloc setting; the engine snapshot ahead of the installed engine, and the models."""
    path = os.pathsep.join(p for p in (str(SNAPSHOT), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "MALLOC_MMAP_THRESHOLD_": MALLOC_MMAP_THRESHOLD,
        "PYTHONPATH": path,
        "BGREMOVE_MODELS_DIR": str(REPO / "models"),  # the copy cannot find them relative to itself
    }


def make_inputs() -> dict[str, dict[str, Any]]:
    log(f"writing inputs to {INPUTS} (in a child process)")
    done = subprocess.run(
        [sys.executable, str(BENCH / "_memory_inputs.py"), str(INPUTS)],
        capture_output=True,
        text=True,
        check=False,
        env=child_env(),
    )
    if done.returncode != 0:
        raise SystemExit(f"_memory_inputs.py failed:\n{done.stderr}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("INPUTS "))
    return {item["name"]: item for item in json.loads(line.removeprefix("INPUTS "))}


def run_child(name: str, *args: str) -> tuple[dict[str, Any], float]:
    """Run ``_memory_child.py ARGS``: its RESULT line and its ``ru_maxrss`` in MiB."""
    child = subprocess.Popen(
        [sys.executable, str(BENCH / "_memory_child.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe, read to the end: two could deadlock
        text=True,
        env=child_env(),
    )
    output = child.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(child.pid, 0)  # reaps the child: Popen.wait would not give its rusage
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{name}: child failed ({child.returncode}):\n{output}")
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    if Path(result["engine"]).resolve() != (SNAPSHOT / "bgremove").resolve():
        raise SystemExit(f"{name}: the child imported the engine from {result['engine']}, not the snapshot")
    return result, usage.ru_maxrss / 1024  # KiB on Linux


def baselines() -> dict[str, float]:
    """Peak after loading the model, without and with the function's other libraries (no image)."""
    engine, _ = run_child("baseline", "--baseline")
    function, _ = run_child("baseline with function libraries", "--baseline", "--function-libs")
    return {
        "engine_loaded_mib": engine["loaded_peak_kib"] / 1024,
        "engine_and_function_libs_loaded_mib": function["loaded_peak_kib"] / 1024,
        "function_libs_mib": (function["loaded_peak_kib"] - engine["loaded_peak_kib"]) / 1024,
    }


def measure(case: dict[str, Any], item: dict[str, Any], inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    began = time.monotonic()
    background = case["options"].get("background_image")
    extra = [inputs[background]["path"]] if background else []
    result, ru_maxrss_mib = run_child(case["name"], item["path"], json.dumps(case["options"]), *extra)
    first, second = result["runs"]
    return {
        **case,
        "input_file": {k: v for k, v in item.items() if k not in ("name", "path")},
        "peak_mib": max(first["peak_kib"], second["peak_kib"]) / 1024,
        "peak_first_image_mib": first["peak_kib"] / 1024,
        "loaded_mib": result["loaded_peak_kib"] / 1024,
        "ru_maxrss_mib": ru_maxrss_mib,
        "result_size": first["result_size"],
        "output_format": first["format"],
        "output_bytes": first["output_bytes"],
        "seconds_per_image": [first["seconds"], second["seconds"]],
        "timings_ms_second_image": second["timings_ms"],
        "threads": result["threads"],
        "versions": result["versions"],
        "malloc_mmap_threshold": result["malloc_mmap_threshold"],
        "wall_s": time.monotonic() - began,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", help="run only the cases whose input is one of these names")
    parser.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    args = parser.parse_args()

    began = time.monotonic()
    RAW.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BENCH_NET_LOG", str(RAW / "network_attempts.log"))
    net_log = Path(os.environ["BENCH_NET_LOG"])
    net_log.unlink(missing_ok=True)
    _netguard.install()
    state = snapshot_engine()
    commit = state["commit"] + ("+changes" if state["changed_files"] else "")
    loadavg_start = os.getloadavg()
    inputs = make_inputs()
    todo = [c for c in cases(inputs) if not args.only or c["input"] in args.only]
    parent_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    log(
        f"engine at {commit} (copied to {SNAPSHOT}, sha1 {state['source_sha1'][:12]}); "
        f"this process peaked at {parent_kib / 1024:.0f} MiB before the children"
    )
    base = baselines()
    log(
        f"model loaded: {base['engine_loaded_mib']:.0f} MiB; with the function's AWS libraries "
        f"{base['engine_and_function_libs_loaded_mib']:.0f} MiB (+{base['function_libs_mib']:.0f})"
    )
    rows = []
    for case in todo:
        row = measure(case, inputs[case["input"]], inputs)
        rows.append(row)
        log(
            f"{row['name']:55} peak {row['peak_mib']:6.0f} MiB "
            f"(first image {row['peak_first_image_mib']:.0f}, ru_maxrss {row['ru_maxrss_mib']:.0f}), "
            f"{row['seconds_per_image'][1]:.1f} s/image"
        )

    attempts = _netguard.attempts()
    payload = {
        "kind": "memory",
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "elapsed_s": time.monotonic() - began,
        "engine_commit": commit,
        "engine": state,
        "machine": {
            "cpu": _cpu_model(),
            "cpus_usable": len(os.sched_getaffinity(0)),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "python": sys.version.split()[0],
            "loadavg_at_start": loadavg_start,
            "loadavg_at_end": os.getloadavg(),
        },
        "method": (
            "one fresh process per case: read the input, Engine().warm_up() (u2net), process it twice; "
            "peak_mib = VmHWM after the second image (MiB), ru_maxrss_mib from wait4 for comparison; "
            f"MALLOC_MMAP_THRESHOLD_={MALLOC_MMAP_THRESHOLD}"
        ),
        "parent_peak_mib": parent_kib / 1024,
        "baselines": base,
        "network_attempts": attempts,
        "cases": rows,
    }
    write_json(args.out, rounded(payload, 3))
    print()
    print(
        table(
            ["case", "input", "result", "peak MiB", "first image MiB", "after model load MiB"],
            [
                [
                    r["name"],
                    f"{r['input_file']['megapixels']} MP, {r['input_file']['bytes'] / 2**20:.1f} MiB",
                    f"{r['result_size'][0]}x{r['result_size'][1]} {r['output_format']}",
                    f"{r['peak_mib']:.0f}",
                    f"{r['peak_first_image_mib']:.0f}",
                    f"{r['loaded_mib']:.0f}",
                ]
                for r in rows
            ],
        )
    )
    log(f"network access attempts: {len(attempts)}; wrote {args.out} in {payload['elapsed_s']:.0f} s")
    return 1 if attempts else 0


if __name__ == "__main__":
    sys.exit(main())
