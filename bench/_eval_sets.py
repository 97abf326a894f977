"""What run_quality.py and run_edges.py share: the evaluation sets, a guarded start, per-image JSON.

Both score methods image by image on ../shared/eval/sets; they list the sets and their images the same
way (so ``--every``/``--limit`` pick the same images in both), start behind the network guard with rembg's
model files checked, and write their per-image scores one line per entry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import _netguard
from _common import EVAL, RAW, bench_env, log, prepare_rembg_home, rembg_model_check

SETS = EVAL / "sets"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})


def set_dirs(names: Iterable[str] | None = None) -> list[Path]:
    """The evaluation sets (folders with ``masks/``) in name order; only ``names`` when given."""
    found = sorted(p for p in SETS.iterdir() if (p / "masks").is_dir())
    wanted = set(names or ())
    return [p for p in found if p.name in wanted] if wanted else found


def set_images(set_dir: Path, *, every: int = 1, limit: int = 0) -> list[Path]:
    """Every ``every``-th image of a set in name order, at most ``limit`` of them (0: no limit)."""
    images = sorted(p for p in (set_dir / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return images[::every][: limit or None]


def guarded_start(rembg_models: Iterable[str]) -> dict[str, dict[str, Any]]:
    """This process behind the network guard, rembg's model home ready and its files checked.

    Returns the check of each of ``rembg_models`` (:func:`_common.rembg_model_check`); stops the run when
    rembg would download a file or find one other than it expects.
    """
    RAW.mkdir(parents=True, exist_ok=True)
    os.environ.update(bench_env())
    _netguard.install()
    prepare_rembg_home()
    checks = {name: rembg_model_check(name) for name in sorted(set(rembg_models))}
    for name, check in checks.items():
        log(f"rembg resolves {name} to {check['resolved_path']} (md5 ok: {check['md5_matches']})")
        if check["download_needed"] or not check["md5_matches"]:
            raise SystemExit(f"rembg's {name}: not the file rembg expects, or absent: {check}")
    return checks


def write_per_image(path: Path, columns: list[str], group: str, entries: dict[str, Any]) -> None:
    """``{"columns": [...], group: {key: value, ...}}`` with one line per entry: small, and a re-run
    shows up as a readable diff."""
    lines = [
        f"{json.dumps(key)}: " + json.dumps(value, separators=(",", ":")) for key, value in entries.items()
    ]
    path.write_text("{" + f'"columns": {json.dumps(columns)}, "{group}": {{\n' + ",\n".join(lines) + "\n}}\n")
