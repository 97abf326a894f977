"""docs/openapi.json: the HTTP API's OpenAPI document as it is committed.

``make openapi`` writes it from :func:`bgremove_api.app.openapi_document` (what ``/docs`` serves);
tests/unit/api/test_openapi_document.py fails when the committed file is not what this renders.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bgremove_api.app import openapi_document

DEFAULT_PATH = Path("docs/openapi.json")


def render() -> str:
    """The document as committed: keys sorted, two-space indents, text as it is (UTF-8), one newline at
    the end; the same bytes on every run."""
    document = json.loads(openapi_document())
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the HTTP API's OpenAPI document (docs/openapi.json).")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH, help="default: %(default)s")
    path: Path = parser.parse_args(argv).path
    text = render()
    partial = path.with_name(f"{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)  # never a half-written document
    print(f"wrote {path}: {len(json.loads(text)['paths'])} paths, {len(text.encode()):,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
