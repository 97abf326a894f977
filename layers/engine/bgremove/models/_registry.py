"""Model registry: names -> specs -> one loaded session per model and process."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from bgremove.exceptions import ModelLoadError, ModelNotFoundError
from bgremove.models._fetch import FETCHABLE
from bgremove.models._segmenter import OnnxSegmenter, Segmenter, SessionConfig
from bgremove.models._spec import BUILTIN_MODELS, U2NET, U2NET_FP32, ModelSpec

ModelFetcher = Callable[[str, Path], None]
"""Downloads a remote model (``s3://bucket/key``) to a local path. The AWS adapter provides one."""

STAND_INS: dict[ModelSpec, ModelSpec] = {U2NET: U2NET_FP32}
"""Built-in models whose file, when absent, another file of the same network replaces: u2net's 8-bit file
is built by a tool only a checkout has, so an installed package's ``bgremove models fetch u2net`` installs
the fp32 original, which runs the same, slower."""


class SegmenterRegistry(Protocol):
    """What the engine needs from a registry: models by name, each served as a :class:`Segmenter`.

    A registry knows nothing of requests: every lookup of a name it lacks raises
    :class:`~bgremove.exceptions.ModelNotFoundError`; the engine decides whether that is the request's
    fault or the deployment's.
    """

    def register(self, spec: ModelSpec) -> None:
        """Add or replace a model."""
        ...

    def names(self) -> list[str]:
        """Every known name, sorted."""
        ...

    def spec(self, name: str) -> ModelSpec:
        """The named model's spec; raises ``ModelNotFoundError`` for an unknown name."""
        ...

    def is_available(self, name: str) -> bool:
        """Whether ``get`` can be expected to find the model; raises ``ModelNotFoundError`` if unknown."""
        ...

    def get(self, name: str) -> Segmenter:
        """The model, ready to run.

        Raises ``ModelNotFoundError`` if it is unknown or absent, ``ModelLoadError`` if it cannot be used.
        """
        ...


class ModelRegistry:
    """Knows every model by name and loads each at most once per process; a :class:`SegmenterRegistry`.

    Parameters
    ----------
    search_dirs
        Folders searched, in order, for a spec whose ``source`` is a bare file name.
    session_config
        Threading for every session this registry creates.
    fetcher
        Called to download ``s3://`` sources; without one such models fail with :class:`ModelNotFoundError`.
    cache_dir
        Where downloaded models are kept for the life of the process (and of the machine's disk).
    specs
        Models to know; defaults to the built-ins (``u2net``, ``u2netp``, ``isnet``).
    """

    def __init__(
        self,
        search_dirs: Sequence[Path],
        session_config: SessionConfig,
        *,
        fetcher: ModelFetcher | None = None,
        cache_dir: Path | None = None,
        specs: Iterable[ModelSpec] = BUILTIN_MODELS,
    ) -> None:
        self._search_dirs = list(search_dirs)
        self._session_config = session_config
        self._fetcher = fetcher
        self._cache_dir = cache_dir or Path(os.environ.get("TMPDIR", "/tmp")) / "bgremove-models"
        self._specs: dict[str, ModelSpec] = {}
        self._loaded: dict[str, OnnxSegmenter] = {}
        self._lock = threading.Lock()
        for spec in specs:
            self.register(spec)

    def register(self, spec: ModelSpec) -> None:
        """Add or replace a model. Replacing one that is loaded drops its session."""
        with self._lock:
            self._specs[spec.name] = spec
            self._loaded.pop(spec.name, None)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def spec(self, name: str) -> ModelSpec:
        """The named model's spec.

        Raises
        ------
        ModelNotFoundError
            No model has that name.
        """
        try:
            return self._specs[name]
        except KeyError:
            raise ModelNotFoundError(
                f"{name!r} is not a known model (known: {', '.join(self.names())})"
            ) from None

    def is_available(self, name: str) -> bool:
        """Whether the model's file is present locally (remote models count as available).

        Raises
        ------
        ModelNotFoundError
            No model has that name.
        """
        spec = self.spec(name)
        return spec.source.startswith("s3://") or self._local(spec) is not None

    def get(self, name: str) -> OnnxSegmenter:
        """The loaded model; the first call for a name loads it, later calls reuse it.

        Raises
        ------
        ModelNotFoundError
            No model has that name, or its file is in none of the search folders.
        ModelLoadError
            The file is there but cannot be used (bad digest, not ONNX, wrong input shape, failed download).
        """
        spec = self.spec(name)
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded
        with self._lock:  # one load per model even when threads race for it
            loaded = self._loaded.get(name)
            if loaded is None:
                found, path = self._resolve(spec)
                loaded = OnnxSegmenter(found, path, self._session_config)
                self._loaded[name] = loaded
            return loaded

    def _local_path(self, spec: ModelSpec) -> Path | None:
        source = Path(spec.source).expanduser()
        if source.is_absolute() or source.parent != Path("."):
            return source if source.is_file() else None
        for folder in self._search_dirs:
            candidate = folder / source
            if candidate.is_file():
                return candidate
        return None

    def _local(self, spec: ModelSpec) -> tuple[ModelSpec, Path] | None:
        """The spec whose file is there (``spec``, else its stand-in) and the file."""
        stand_in = STAND_INS.get(spec)
        for candidate in (spec, stand_in) if stand_in else (spec,):
            path = self._local_path(candidate)
            if path is not None:
                return candidate, path
        return None

    def _resolve(self, spec: ModelSpec) -> tuple[ModelSpec, Path]:
        if spec.source.startswith("s3://"):
            return spec, self._download(spec)
        found = self._local(spec)
        if found is None:
            where = ", ".join(str(d) for d in self._search_dirs) or "(no search folders)"
            raise ModelNotFoundError(
                f"model {spec.name!r}: {spec.source} not found in {where}; {_hint(spec)}"
            )
        return found

    def _download(self, spec: ModelSpec) -> Path:
        if self._fetcher is None:
            raise ModelNotFoundError(
                f"model {spec.name!r}: {spec.source} is remote and no fetcher is configured"
            )
        key = hashlib.sha256(spec.source.encode()).hexdigest()[:16]
        target = self._cache_dir / key / Path(spec.source).name
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        try:
            self._fetcher(spec.source, partial)
        except Exception as error:  # the fetcher is the caller's code: S3, HTTP... anything can fail
            raise ModelLoadError(f"model {spec.name!r}: cannot download {spec.source}: {error}") from error
        os.replace(partial, target)
        return target


def _hint(spec: ModelSpec) -> str:
    """How to get a missing model's file."""
    if spec in BUILTIN_MODELS and spec.name in FETCHABLE:
        return f"run `bgremove models fetch {spec.name}` (in a checkout: `make model MODEL={spec.name}`)"
    if spec in BUILTIN_MODELS:
        return f"in a checkout, run `make model MODEL={spec.name}`"
    return "put the file in one of those folders, or add its folder to BGREMOVE_MODELS_DIR"
