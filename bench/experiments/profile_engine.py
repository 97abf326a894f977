"""Profile one engine call per input with pyinstrument (for targets the benchmark reports as missed).

    .venv-bench/bin/python bench/experiments/profile_engine.py [--inputs 0.4mp 12mp] [--format png]

Warms the engine up, then profiles ``--reps`` calls per input and writes a text call tree (frames over 2% of
the time) to bench/results/profile_<input>_<format>.txt. Then profiles a cold start (bench/_child.py in a
fresh interpreter under ``pyinstrument``) into bench/results/profile_coldstart.txt.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _netguard
from _common import BENCH, REPO, RESULTS, SHARED, bench_env, cpu_count, log, prepare_rembg_home
from inputs import build_inputs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inputs", nargs="*", default=["0.4mp", "2mp", "12mp"])
    parser.add_argument("--format", default="png")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    inputs = build_inputs()
    if inputs is None:
        return 0
    _netguard.install()
    from pyinstrument import Profiler  # noqa: PLC0415

    from bgremove import Engine, Options  # noqa: PLC0415

    engine = Engine()
    engine.warm_up()
    for item in inputs:
        if item.id not in args.inputs:
            continue
        data = item.path.read_bytes()
        options = Options(format=args.format)
        engine.process(data, options)
        profiler = Profiler(interval=0.001)
        profiler.start()
        for _ in range(args.reps):
            engine.process(data, options)
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False, show_all=False, time="percent_of_total")
        kept = [line for line in text.splitlines() if not _small(line)]
        out = RESULTS / f"profile_{item.id}_{args.format}.txt"
        header = f"# pyinstrument, {args.reps} calls of Engine.process({item.label} -> {args.format})\n"
        out.write_text(_portable(header + "\n".join(kept) + "\n"))
        log(f"wrote {out}")
    cold_start(inputs[0].path)
    return 0


def cold_start(path: Path) -> None:
    prepare_rembg_home()
    out = RESULTS / "profile_coldstart.txt"
    pyinstrument = Path(sys.executable).with_name("pyinstrument")
    child = [str(BENCH / "_child.py"), "ours", str(path), "png", str(cpu_count()), repr(time.monotonic())]
    subprocess.run(
        [str(pyinstrument), "-r", "text", "--no-color", "-o", str(out), *child],
        check=True,
        env={**os.environ, **bench_env()},
        cwd=BENCH,
        stdout=subprocess.DEVNULL,
    )
    out.write_text(_portable(out.read_text()))
    log(f"wrote {out}")


def _portable(text: str) -> str:
    """The profiles are committed: no machine-specific absolute paths in them."""
    return text.replace(f"{REPO}/", "").replace(f"{SHARED}/", "../shared/")


def _small(line: str) -> bool:
    """Frames under 2% of the total (pyinstrument prints the share first on each line)."""
    token = line.strip().lstrip("|-`").strip().split(" ", 1)[0].rstrip("%")
    try:
        return float(token) < 2.0
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
