"""docs/openapi.json is the document the API serves at ``/docs``: it fails here when a route, a schema or a
description changed and the file was not regenerated (``make openapi``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bgremove_api import openapi_file
from bgremove_api.app import openapi_document
from tests.unit.api.fakes import fake_api

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / openapi_file.DEFAULT_PATH
STALE = "docs/openapi.json is stale: run `make openapi` and commit the result"


def test_the_committed_document_is_the_served_one() -> None:
    assert COMMITTED.is_file(), "docs/openapi.json is missing: run `make openapi` and commit the result"
    committed = COMMITTED.read_text(encoding="utf-8")
    rendered = openapi_file.render()
    if committed != rendered:
        old, new = json.loads(committed), json.loads(rendered)
        changed = sorted(
            path
            for path in {*old["paths"], *new["paths"]}
            if old["paths"].get(path) != new["paths"].get(path)
        )
        schemas_old = old.get("components", {}).get("schemas", {})
        schemas_new = new.get("components", {}).get("schemas", {})
        changed += sorted(
            f"components.schemas.{name}"
            for name in {*schemas_old, *schemas_new}
            if schemas_old.get(name) != schemas_new.get(name)
        )
        raise AssertionError(f"{STALE} (differs in: {', '.join(changed[:10]) or 'layout or info'})")


def test_the_document_renders_the_same_bytes_in_every_process(tmp_path: Path) -> None:
    # Another interpreter, another hash seed: the file must not depend on set or dict order.
    written = tmp_path / "openapi.json"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run(
        [sys.executable, "-m", "bgremove_api.openapi_file", str(written)],
        check=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    text = written.read_text(encoding="utf-8")
    assert text == openapi_file.render()
    assert text.endswith("}\n") and not text.endswith("\n\n")


def test_docs_serve_the_same_document() -> None:
    # Swagger UI's document (GET /docs?format=json) is this one: every $ref it holds resolves there too.
    with fake_api() as api:
        status, _, body = api.call("GET", "/docs?format=json")
    assert status == 200
    served, written = json.loads(body), json.loads(openapi_document())
    assert served["paths"] == written["paths"]
    assert served["components"] == written["components"]
