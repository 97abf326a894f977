"""The Lambda dependency layer ships what the engine and the function import, pinned."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;\s]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_layer_requirements_cover_runtime_dependencies_and_are_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {_name(r) for r in project["dependencies"]}
    # The function's own imports, minus what the Lambda runtime provides (boto3/botocore).
    needed |= {_name(r) for r in project["optional-dependencies"]["aws"] if _name(r) != "boto3"}
    lines = [
        line.split("#", 1)[0].strip()
        for line in (ROOT / "layers" / "dependencies" / "requirements.txt").read_text().splitlines()
    ]
    pinned = {_name(line): line for line in lines if line}
    assert needed <= set(pinned), f"missing from the layer: {sorted(needed - set(pinned))}"
    assert all("==" in line for line in pinned.values()), "every layer requirement must be pinned exactly"
    assert "boto3" not in pinned  # provided by the runtime; shipping it only adds ~30 MB
