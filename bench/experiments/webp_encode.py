"""Isolated experiment: WebP encoder effort (``method``) on the engine's own cut-outs (engine not modified).

The engine saves WebP with quality 75, ``method=4`` and lossless-quality alpha. This times methods 0 to 6 on
the transparent cut-outs of the 2, 12 and 24 MP inputs and reports size.

    .venv-bench/bin/python bench/experiments/webp_encode.py

Writes bench/results/webp_encode.json.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _netguard
from _common import RESULTS, Timer, log, rounded, summary, write_json
from inputs import build_inputs
from PIL import Image


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "webp_encode.json")
    args = parser.parse_args()
    inputs = build_inputs()
    if inputs is None:
        return 0
    _netguard.install()
    from bgremove import Engine, Options  # noqa: PLC0415

    engine = Engine()
    rows: list[dict[str, Any]] = []
    for item in inputs:
        if item.id not in ("2mp", "12mp", "24mp"):
            continue
        picture = Image.open(
            io.BytesIO(engine.process(item.path.read_bytes(), Options.parse({"format": "png"})).data)
        )
        picture.load()
        for method in (0, 2, 4, 6):
            walls, size = [], 0
            for _ in range(args.reps):
                buffer = io.BytesIO()
                with Timer() as timer:
                    picture.save(buffer, "WEBP", quality=75, method=method, alpha_quality=100)
                walls.append(timer.wall_s * 1000)
                size = buffer.tell()
            rows.append({"input": item.id, "method": method, "ms": summary(walls), "bytes": size})
            median = summary(walls)["median"]
            log(f"{item.label:12} WebP method {method}: {median:7.0f} ms {size / 1e6:6.2f} MB")
    write_json(
        args.out,
        rounded({"kind": "webp_encode", "created": time.strftime("%Y-%m-%d %H:%M:%S %z"), "rows": rows}),
    )
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
