"""Engine settings, read once from the environment into one typed object."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bgremove import env as setting
from bgremove.exceptions import ConfigurationError, ModelLoadError
from bgremove.models import DEFAULT_MODEL, ModelSpec, user_models_dir


class Env:
    """Names of every environment variable the engine reads."""

    MODELS_DIR = "BGREMOVE_MODELS_DIR"
    DEFAULT_MODEL = "BGREMOVE_DEFAULT_MODEL"
    THREADS = "BGREMOVE_THREADS"
    MODEL_CACHE_DIR = "BGREMOVE_MODEL_CACHE_DIR"
    CUSTOM_MODELS = "BGREMOVE_CUSTOM_MODELS"
    PNG_COMPRESS_LEVEL = "BGREMOVE_PNG_COMPRESS_LEVEL"


# Lambda extracts layers under /opt; the model layer puts its files in /opt/models.
LAMBDA_MODELS_DIR = Path("/opt/models")
# An editable install finds the repository's git-ignored models/ folder from the package's location.
REPO_MODELS_DIR = Path(__file__).resolve().parents[3] / "models"

DEFAULT_PNG_COMPRESS_LEVEL = 1

MAX_THREADS = 1024
"""Most ``BGREMOVE_THREADS`` accepted."""


def available_cpus() -> int:
    """CPUs this process may really use: affinity mask, then cgroup CPU quota (containers, Lambda)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def _cgroup_quota() -> float | None:
    try:  # cgroup v2: "max 100000" or "200000 100000"
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:  # cgroup v1
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def _default_model_dirs() -> tuple[Path, ...]:
    # Last: where `bgremove models fetch` installs for a pip user (the library and the local API too).
    return (LAMBDA_MODELS_DIR, REPO_MODELS_DIR, Path.cwd() / "models", user_models_dir())


@dataclass(frozen=True)
class EngineSettings:
    """How the engine runs, independent of any single request.

    Parameters
    ----------
    model_dirs
        Folders searched for model files, in order.
    default_model
        Registry name used when a request names none.
    threads
        ONNX Runtime intra-op threads; defaults to the CPUs this process may use.
    model_cache_dir
        Where remote (``s3://``) models are downloaded once per process.
    custom_models
        Extra models (a user's own ONNX files) to register next to the built-ins.
    png_compress_level
        zlib level for PNG output: 1 is ~3x faster than 6 for ~10-15% larger files on photos.
    """

    model_dirs: tuple[Path, ...] = field(default_factory=_default_model_dirs)
    default_model: str = DEFAULT_MODEL
    threads: int = field(default_factory=available_cpus)
    model_cache_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("TMPDIR", "/tmp")) / "bgremove-models"
    )
    custom_models: tuple[ModelSpec, ...] = ()
    png_compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EngineSettings:
        """Read every setting from ``environ`` (default ``os.environ``); unset or empty means the default.

        Paths are taken as they are written (blanks are legal in them); the default model's name is
        stripped, and blank means the default.

        Raises
        ------
        ConfigurationError
            A variable is malformed (``setting`` names it): a number out of range or not plain ASCII
            digits, or ``BGREMOVE_CUSTOM_MODELS`` not JSON or not an object or array of objects.
        ModelLoadError
            ``BGREMOVE_CUSTOM_MODELS`` is well-formed but describes an invalid model.
        """
        env = os.environ if environ is None else environ
        defaults = cls()
        model_dirs = defaults.model_dirs
        if env.get(Env.MODELS_DIR):
            model_dirs = tuple(Path(p) for p in env[Env.MODELS_DIR].split(os.pathsep) if p) + model_dirs
        custom: tuple[ModelSpec, ...] = ()
        if env.get(Env.CUSTOM_MODELS):
            custom = _custom_models(env[Env.CUSTOM_MODELS])
        return cls(
            model_dirs=model_dirs,
            default_model=setting.text(env, Env.DEFAULT_MODEL, defaults.default_model),
            threads=setting.whole_number(env, Env.THREADS, defaults.threads, low=1, high=MAX_THREADS),
            model_cache_dir=Path(env[Env.MODEL_CACHE_DIR])
            if env.get(Env.MODEL_CACHE_DIR)
            else defaults.model_cache_dir,
            custom_models=custom,
            png_compress_level=setting.whole_number(
                env, Env.PNG_COMPRESS_LEVEL, defaults.png_compress_level, low=0, high=9
            ),
        )


def _custom_models(raw: str) -> tuple[ModelSpec, ...]:
    """Parse ``BGREMOVE_CUSTOM_MODELS``: one descriptor object or an array of them.

    The variable's syntax and shape are a :class:`ConfigurationError`; a descriptor that reads fine but
    describes a bad model is a :class:`ModelLoadError`, like the same descriptor given any other way.
    """
    name = Env.CUSTOM_MODELS
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigurationError(name, f"is not valid JSON: {error}") from None
    except RecursionError:  # pathologically deep nesting: still just malformed input
        raise ConfigurationError(name, "is not valid JSON: nested too deeply") from None
    descriptors = [parsed] if isinstance(parsed, dict) else parsed
    if not isinstance(descriptors, list) or not all(isinstance(d, dict) for d in descriptors):
        raise ConfigurationError(name, f"must be a JSON object or an array of objects, got {raw[:80]!r}")
    specs = []
    for index, descriptor in enumerate(descriptors):
        try:
            specs.append(ModelSpec.from_descriptor(descriptor))
        except ModelLoadError as error:
            where = name if isinstance(parsed, dict) else f"{name}[{index}]"
            raise ModelLoadError(f"{where}: {error.message}") from None
    return tuple(specs)
