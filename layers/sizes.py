#!/usr/bin/env python3
"""Unzipped size of each function of a ``sam build``, its layers included, against Lambda's limit.

    sizes.py [.aws-sam/build] [--budget-mb 236]

Lambda refuses a function whose code and layers, unzipped, exceed 250 MiB (262,144,000 bytes). The
project's budget is 90% of that (236 MB), so a dependency update that grows a package does not break
deploys at once. Each function is checked with the layers it lists, as Lambda checks it; exit 1 when any
is over the budget. Standard library and cfn-lint's YAML loader (what sam validate uses) only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

LAMBDA_UNZIPPED_LIMIT = 262_144_000
DEFAULT_BUDGET_MB = 236.0


def tree_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def function_sizes(build_dir: Path) -> dict[str, dict[str, int]]:
    """``{function: {part: bytes}}`` where the parts are the function's own code and each of its layers."""
    template: dict[str, Any] = cfn_yaml.loads((build_dir / "template.yaml").read_text(), fname="template")
    resources: dict[str, Any] = template["Resources"]
    sizes: dict[str, dict[str, int]] = {}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        parts = {name: tree_bytes(build_dir / properties["CodeUri"])}
        for layer in properties.get("Layers", []):
            layer_name = layer["Ref"] if isinstance(layer, dict) else str(layer)
            content = resources[layer_name]["Properties"]["ContentUri"]
            parts[layer_name] = tree_bytes(build_dir / content)
        sizes[name] = parts
    return sizes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("build_dir", nargs="?", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--budget-mb", type=float, default=DEFAULT_BUDGET_MB)
    args = parser.parse_args(argv)
    budget = int(args.budget_mb * 1e6)
    over = []
    for function, parts in function_sizes(args.build_dir).items():
        total = sum(parts.values())
        print(f"{function}, unzipped:")
        for part, size in parts.items():
            print(f"  {part:24} {size / 1e6:7.1f} MB")
        print(
            f"  {'total':24} {total / 1e6:7.1f} MB (budget {budget / 1e6:.1f} MB, "
            f"Lambda's limit {LAMBDA_UNZIPPED_LIMIT / 1e6:.1f} MB)"
        )
        if total > budget:
            over.append(function)
    if over:
        print(f"over the {budget / 1e6:.1f} MB budget: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
