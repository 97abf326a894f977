"""``make fuzz``: run every fuzz target for a fixed time, then report examples per target and all findings.

    python -m tests.fuzz.run --minutes 10 [--workdir out/fuzz] [--seed N] [-k EXPRESSION]

How it stops by itself: pytest runs the targets under the ``fuzz`` hypothesis profile (unlimited examples)
with ``FUZZ_DEADLINE`` set; each target gets the remaining time divided by the targets still to run, and
ends with a skip when its slice is used up (see ``tests/fuzz/conftest.py``). A target that found something
may overrun its slice while hypothesis shrinks the example, by at most ``SHRINK_GRACE_S`` past the
deadline; past that the session is interrupted, and this runner kills it if it still has not stopped.

Crashes and hangs: if pytest dies (a segfault in a C decoder, or the per-example watchdog firing on a hang),
the runner records the input that was in flight as a finding and starts pytest again on the targets that
had not run yet, with the time left.

Exit status: 0 when no target found anything, 1 when any did (or crashed), 2 for a usage error.
Everything is kept in the work folder: ``pytest-N.log`` (full output), ``stats.json``, ``findings.jsonl``
and one ``finding-N.bin`` per distinct image finding (the smallest input that showed it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
FUZZ_DIR = Path(__file__).resolve().parent
SHRINK_GRACE_S = 120.0  # keep in step with conftest.SHRINK_GRACE_S
KILL_AFTER_S = 60.0
PROGRESS_EVERY_S = 60.0
INPUT_NOTE = re.compile(r"input (\d+) bytes: ([0-9a-f]*)")


def _collect(selection: list[str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *selection],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    nodeids = [line.strip() for line in out.stdout.splitlines() if "::" in line]
    if not nodeids:
        sys.exit(f"no fuzz targets collected:\n{out.stdout}\n{out.stderr}")
    return nodeids


def _read_stats(workdir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((workdir / "stats.json").read_text()))
    except (OSError, ValueError):
        return {"finished": False, "running": None, "targets": {}}


def _run_pytest(
    nodeids: list[str], workdir: Path, deadline: float, seed: int, attempt: int
) -> dict[str, Any]:
    """One pytest process over ``nodeids``; returns its stats (``finished`` false if it died)."""
    (workdir / "stats.json").unlink(missing_ok=True)
    env = {
        **os.environ,
        "HYPOTHESIS_PROFILE": "fuzz",
        "FUZZ_WORKDIR": str(workdir),
        "FUZZ_DEADLINE": str(deadline),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-rfE",
        "--strict-markers",
        "--timeout=0",  # slices and the watchdog bound the time; pytest-timeout would cut a long slice
        f"--hypothesis-seed={seed}",
        *nodeids,
    ]
    log_path = workdir / f"pytest-{attempt}.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        hard_stop = deadline + SHRINK_GRACE_S + 30
        next_progress = time.time() + PROGRESS_EVERY_S
        interrupted_at = None
        while process.poll() is None:
            time.sleep(1)
            now = time.time()
            if now >= next_progress:
                next_progress = now + PROGRESS_EVERY_S
                _progress(_read_stats(workdir), deadline)
            if interrupted_at is None and now > hard_stop:
                print("fuzz: past the deadline and the shrinking grace: interrupting pytest", flush=True)
                process.send_signal(signal.SIGINT)
                interrupted_at = now
            elif interrupted_at is not None and now > interrupted_at + KILL_AFTER_S:
                print("fuzz: pytest did not stop: killing it", flush=True)
                process.kill()
                process.wait()
    stats = _read_stats(workdir)
    stats["returncode"] = process.returncode
    stats["log"] = str(log_path)
    return stats


def _progress(stats: dict[str, Any], deadline: float) -> None:
    targets = stats.get("targets", {})
    done = sum(1 for t in targets.values() if t.get("outcome"))
    examples = sum(t.get("examples", 0) for t in targets.values())
    left = max(0, deadline - time.time())
    print(
        f"fuzz: {done}/{len(targets)} targets done, {examples} examples, {left / 60:.1f} min left, "
        f"now {stats.get('running')}",
        flush=True,
    )


def _crash_finding(workdir: Path, stats: dict[str, Any], count: int) -> dict[str, Any]:
    """What the dead process was doing: its target, its in-flight input (images) and the log's tail."""
    inflight = workdir / "inflight.json"
    record: dict[str, Any] = {
        "target": stats.get("running") or "?",
        "signature": f"process died (return code {stats['returncode']})",
        "error": "crash or hang: see the log tail",
        "notes": [Path(stats["log"]).read_text(encoding="utf-8", errors="replace")[-3000:]],
    }
    if inflight.exists() and (workdir / "inflight.bin").exists():
        data = (workdir / "inflight.bin").read_bytes()
        saved = workdir / f"crash-{count}.bin"
        shutil.copyfile(workdir / "inflight.bin", saved)
        record["notes"].append(f"input {len(data)} bytes: {data.hex()}")
        record["notes"].append(f"in-flight input saved to {saved} ({json.loads(inflight.read_text())})")
    return record


def _findings(workdir: Path, crashes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings grouped by signature, each with its targets and the smallest input that showed it."""
    records = list(crashes)
    path = workdir / "findings.jsonl"
    if path.exists():
        records += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    groups: dict[str, dict[str, Any]] = {}
    for record in records:
        group = groups.setdefault(record["signature"], {"signature": record["signature"], "targets": []})
        if record["target"] not in group["targets"]:
            group["targets"].append(record["target"])
        notes = "\n".join(record.get("notes", []))
        match = INPUT_NOTE.search(notes)
        size = int(match.group(1)) if match else len(notes)
        if "size" not in group or size < group["size"]:
            group.update(size=size, error=record["error"], notes=notes, cause=record.get("cause", ""))
            complete = match is not None and len(match.group(2)) == 2 * size
            group["input"] = bytes.fromhex(match.group(2)) if match and complete else None
    return list(groups.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "out" / "fuzz")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    parser.add_argument("-k", dest="keyword", default=None, help="only targets matching this pytest -k")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    workdir = args.workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    selection = [str(FUZZ_DIR), *(["-k", args.keyword] if args.keyword else [])]
    pending = _collect(selection)
    started = time.time()
    deadline = started + args.minutes * 60
    print(f"fuzz: {len(pending)} targets for {args.minutes:g} min, seed {seed}, work folder {workdir}")

    totals: dict[str, dict[str, Any]] = {}
    crashes: list[dict[str, Any]] = []
    attempt = 0
    while pending and time.time() < deadline - 5:
        attempt += 1
        stats = _run_pytest(pending, workdir, deadline, seed + attempt - 1, attempt)
        for nodeid, entry in stats.get("targets", {}).items():
            total = totals.setdefault(nodeid, {"examples": 0, "seconds": 0.0, "outcome": None})
            total["examples"] += entry["examples"]
            total["seconds"] += entry["seconds"]
            total["outcome"] = entry["outcome"] or total["outcome"]
        if stats.get("finished"):
            break
        crash = _crash_finding(workdir, stats, len(crashes) + 1)
        crashes.append(crash)
        print(f"fuzz: pytest died while running {crash['target']}; going on with the rest", flush=True)
        tried = {nodeid for nodeid, entry in stats.get("targets", {}).items() if entry["outcome"]}
        tried.add(crash["target"])
        totals.setdefault(crash["target"], {"examples": 0, "seconds": 0.0})["outcome"] = "crashed"
        pending = [nodeid for nodeid in pending if nodeid not in tried]

    _report(totals, _findings(workdir, crashes), workdir, time.time() - started, seed)
    return 1 if crashes or (workdir / "findings.jsonl").exists() else 0


LABELS = {"skipped": "ran its slice", "passed": "search space exhausted", None: "cut at the deadline"}


def _label(outcome: str | None) -> str:
    return LABELS.get(outcome, outcome or "")


def _report(
    totals: dict[str, dict[str, Any]],
    findings: list[dict[str, Any]],
    workdir: Path,
    elapsed: float,
    seed: int,
) -> None:
    print(f"\nfuzz: ran {elapsed / 60:.1f} min, seed {seed}; examples per target (shrinking included):")
    names = {nodeid: nodeid.replace("tests/fuzz/", "") for nodeid in totals}
    width = max((len(name) for name in names.values()), default=10)
    for nodeid, total in totals.items():
        label = _label(total["outcome"])
        print(f"  {names[nodeid]:<{width}}  {total['examples']:>8}  {total['seconds']:7.1f} s  {label}")
    print(f"  {'total':<{width}}  {sum(t['examples'] for t in totals.values()):>8}")
    if not findings:
        print("\nfuzz: no findings")
        return
    print(f"\nfuzz: {len(findings)} distinct finding(s):")
    for number, finding in enumerate(findings, 1):
        print(f"\n[{number}] {finding['signature']}")
        print(f"    targets: {', '.join(finding['targets'])}")
        print(f"    error:   {finding['error'][:500]}")
        if finding.get("input") is not None:
            path = workdir / f"finding-{number}.bin"
            path.write_bytes(finding["input"])
            print(f"    input:   {path} ({len(finding['input'])} bytes)")
        for line in finding["notes"].splitlines()[:40]:
            print(f"    | {line[:300]}")
        cause = finding.get("cause", "").strip().splitlines()
        if cause:
            print("    cause (innermost traceback, last lines):")
            for line in cause[-8:]:
                print(f"    | {line[:300]}")


if __name__ == "__main__":
    sys.exit(main())
