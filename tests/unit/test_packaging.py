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


def _fake_build(tmp_path: Path, sizes: dict[str, int]) -> Path:
    """A ``.aws-sam/build``-like folder: two functions sharing a layer, each folder of ``sizes`` bytes."""
    for folder, size in sizes.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "blob").write_bytes(b"\0" * size)
    (tmp_path / "template.yaml").write_text(
        "Resources:\n"
        "  Shared: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: Shared}}\n"
        "  Big: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: Big}}\n"
        "  Lean: {Type: AWS::Serverless::Function, Properties: {CodeUri: Lean, Layers: [{Ref: Shared}]}}\n"
        "  Heavy: {Type: AWS::Serverless::Function, Properties: {CodeUri: Heavy,"
        " Layers: [{Ref: Shared}, {Ref: Big}]}}\n"
    )
    return tmp_path


def test_build_sizes_count_each_function_with_its_own_layers(tmp_path: Path, capsys) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("sizes", ROOT / "layers" / "sizes.py")
    assert spec is not None and spec.loader is not None
    sizes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sizes)
    build = _fake_build(tmp_path, {"Shared": 600_000, "Big": 500_000, "Lean": 100_000, "Heavy": 50_000})
    assert sizes.function_sizes(build) == {
        "Lean": {"Lean": 100_000, "Shared": 600_000},
        "Heavy": {"Heavy": 50_000, "Shared": 600_000, "Big": 500_000},
    }
    # Heavy (1.15 MB) is over a 1 MB budget, Lean (0.7 MB) is not: the build fails and names only Heavy.
    assert sizes.main([str(build), "--budget-mb", "1"]) == 1
    assert "over the 1.0 MB budget: Heavy" in capsys.readouterr().err
    assert sizes.main([str(build), "--budget-mb", "2"]) == 0
