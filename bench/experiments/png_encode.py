"""Isolated experiment: cheaper PNG encoding for the engine's results (the engine is not modified).

Takes the engine's own composed pictures (transparent cut-out, RGBA) for the benchmark inputs at 0.4, 2, 12
and 24 MP, and times encoding them with:

- Pillow ``compress_level=1`` (the engine until its own writer) and Pillow's default level 6 (rembg's PNG);
- the engine's own writer, ``bgremove._png`` (when the installed engine has it);
- Pillow level 1 with zlib's RLE strategy;
- bench/experiments/fastpng.py: one numpy filter (up, sub or paeth) + zlib level 1, on 1 thread and on
  every CPU (parallel deflate), and the ``up`` filter with zlib-ng or ISA-L (``isal``) level 1 when installed.

Every candidate's output is decoded again and compared with the picture, pixel for pixel.

    .venv-bench/bin/python bench/experiments/png_encode.py

Writes bench/results/png_encode.json.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _netguard
import numpy as np
from _common import RESULTS, Timer, cpu_count, log, rounded, summary, write_json
from fastpng import backend_module, encode_png
from inputs import build_inputs
from PIL import Image


def _pillow(level: int, **extra: Any) -> Callable[[Image.Image], bytes]:
    def encode(image: Image.Image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=level, **extra)
        return buffer.getvalue()

    return encode


def candidates(cpus: int) -> dict[str, Callable[[Image.Image], bytes]]:
    found: dict[str, Callable[[Image.Image], bytes]] = {
        "pillow level 1": _pillow(1),
        "pillow level 6 (rembg)": _pillow(6),
        "pillow level 1, Z_RLE": _pillow(1, compress_type=zlib.Z_RLE),
    }
    for method in ("up", "sub", "paeth"):
        found[f"numpy {method} + zlib 1, 1 thread"] = partial(encode_png, method=method, threads=1)
    if cpus > 1:
        for method in ("up", "paeth"):
            found[f"numpy {method} + zlib 1, {cpus} threads"] = partial(
                encode_png, method=method, threads=cpus
            )
    try:
        from bgremove._png import encode_png as engine_png  # noqa: PLC0415
    except ImportError:  # an engine from before its own PNG writer
        pass
    else:
        for threads in sorted({1, cpus}):
            name = f"engine writer (bgremove._png), {threads} thread{'s' if threads > 1 else ''}"
            found[name] = partial(engine_png, level=1, threads=threads)
    for backend in ("zlib-ng", "isal"):
        try:
            backend_module(backend)
        except ImportError:
            continue
        for threads in sorted({1, cpus}):
            name = f"numpy up + {backend} 1, {threads} thread{'s' if threads > 1 else ''}"
            found[name] = partial(encode_png, threads=threads, backend=backend)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "png_encode.json")
    args = parser.parse_args()
    inputs = build_inputs()
    if inputs is None:
        return 0
    _netguard.install()
    from bgremove import Engine, Options  # noqa: PLC0415

    cpus = cpu_count()
    engine = Engine()
    rows = []
    for item in inputs:
        if item.id == "png_alpha":
            continue
        result = engine.process(item.path.read_bytes(), Options.parse({"format": "png"}))
        picture = Image.open(io.BytesIO(result.data))
        picture.load()
        expected = np.asarray(picture)
        for name, encode in candidates(cpus).items():
            walls = []
            data = b""
            for _ in range(args.reps):
                with Timer() as timer:
                    data = encode(picture)
                walls.append(timer.wall_s * 1000)
            same = bool(np.array_equal(np.asarray(Image.open(io.BytesIO(data))), expected))
            row: dict[str, Any] = {
                "input": item.id,
                "mode": picture.mode,
                "encoder": name,
                "ms": summary(walls),
                "bytes": len(data),
                "lossless": same,
            }
            rows.append(row)
            log(
                f"{item.label:12} {name:34} {row['ms']['median']:8.1f} ms {len(data) / 1e6:7.2f} MB "
                f"lossless={same}"
            )
    write_json(
        args.out,
        rounded(
            {
                "kind": "png_encode",
                "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                "cpus": cpus,
                "rows": rows,
            }
        ),
    )
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
