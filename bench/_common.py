"""Shared pieces of the benchmark: paths, the two engines behind one interface, statistics, JSON output.

Only the standard library is imported at module level; the engines are imported when first built, so a
cold-start child that imports this module pays nothing for it.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
RAW = RESULTS / "raw"  # git-ignored: generated inputs, predictions, logs
INPUTS_DIR = RAW / "inputs"  # resized photos made at run time
MODELS = REPO / "models"
# The shared material sits next to the repository (../shared); BENCH_SHARED_DIR overrides it.
SHARED = Path(os.environ.get("BENCH_SHARED_DIR") or REPO.parent / "shared").resolve()
PHOTOS = SHARED / "bench" / "photos"
EVAL = SHARED / "eval"
U2NET_HOME = RAW / "u2net_home"

FORMATS = ("png", "jpeg", "webp")
JPEG_QUALITY = 75  # the engine's default; rembg's JPEG/WebP are saved with the same settings


def require_shared(*paths: Path) -> bool:
    """True when every path exists; otherwise print why the step is skipped."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(
            f"SKIPPED: shared benchmark material not found ({', '.join(str(p) for p in missing)}). "
            f"It is expected at {SHARED} (the repository's ../shared) or in $BENCH_SHARED_DIR.",
            flush=True,
        )
        return False
    return True


def cpu_count() -> int:
    from bgremove.settings import available_cpus  # noqa: PLC0415 - keep module import cheap

    return available_cpus()


# rembg's model name -> the file of ours it is pointed at. rembg's u2net is the fp32 network (md5 checked by
# ``rembg_model_check``); ours ships u2net quantised to 8 bits, so rembg gets the fp32 original.
REMBG_MODEL_FILES = {"u2netp": "u2netp.onnx", "u2net": "u2net-fp32.onnx"}
# Engines and models the benchmark runs: ("ours", "u2net-fp32") is the engine on rembg's fp32 file.
U2NET_FP32 = "u2net-fp32"


def prepare_rembg_home() -> dict[str, Path]:
    """Point rembg at the project's own model files so it never downloads one.

    For each model rembg looks for ``$U2NET_HOME/models/<name>/<name>.onnx`` and then
    ``$U2NET_HOME/<name>.onnx`` and uses an existing file as is; only a missing file sends it to pooch (which
    would download and md5-check it). Returns rembg's name -> the link made for it.
    """
    U2NET_HOME.mkdir(parents=True, exist_ok=True)
    links = {}
    for name, file in REMBG_MODEL_FILES.items():
        target = MODELS / file
        if not target.is_file():
            hint = "make model MODEL=u2net-fp32" if name == "u2net" else "make setup"
            raise SystemExit(f"{target} is missing: run `{hint}` first")
        link = U2NET_HOME / f"{name}.onnx"
        if not (link.is_symlink() and link.resolve() == target.resolve()):
            # replaced in one rename, so a run already going (quality next to speed) never finds it missing
            staged = link.with_suffix(".onnx.new")
            staged.unlink(missing_ok=True)
            staged.symlink_to(target)
            staged.replace(link)
        links[name] = link
    os.environ["U2NET_HOME"] = str(U2NET_HOME)
    return links


def rembg_model_check(name: str) -> dict[str, Any]:
    """Which file rembg resolves for ``name``, and whether it has the md5 rembg's source expects.

    The expected md5 is read from the session class's ``download_models`` (the one pooch would check), so a
    file rembg would not accept from its own download cannot pass.
    """
    import hashlib  # noqa: PLC0415
    import inspect  # noqa: PLC0415
    import re  # noqa: PLC0415

    from rembg.sessions import sessions  # noqa: PLC0415

    session = sessions[name]
    resolved = session.resolve_existing(f"{name}.onnx")  # what download_models() returns before pooch
    match = re.search(r"md5:([0-9a-f]{32})", inspect.getsource(session.download_models))
    expected = match.group(1) if match else None
    actual = hashlib.md5(Path(resolved).read_bytes()).hexdigest() if resolved else None
    return {
        "session_class": session.__name__,
        "resolved_path": resolved,
        "real_path": str(Path(resolved).resolve()) if resolved else None,
        "md5": actual,
        "md5_expected_by_rembg": expected,
        "md5_matches": actual is not None and actual == expected,
        "download_needed": resolved is None,
    }


def bench_env(threads: int | None = None) -> dict[str, str]:
    """Environment for child processes: rembg's model home, the network log, thread count."""
    env = dict(os.environ)
    env["U2NET_HOME"] = str(U2NET_HOME)
    env.setdefault("BENCH_NET_LOG", str(RAW / "network_attempts.log"))
    if threads is not None:
        env["BGREMOVE_THREADS"] = str(threads)
    return env


class Remover(Protocol):
    name: str

    def process(
        self, data: bytes, fmt: str, options: dict[str, str] | None = None
    ) -> tuple[bytes, dict[str, float]]: ...

    def mask(self, data: bytes) -> bytes: ...


def engine_settings(threads: int) -> Any:
    """The engine's settings as a deployment reads them (``BGREMOVE_THREADS``), plus ``u2net-fp32``.

    ``u2net-fp32`` is the built-in u2net spec pointed at rembg's fp32 file (``models/u2net-fp32.onnx``,
    ``make model MODEL=u2net-fp32``): the same network unquantised, to measure what the quantisation costs.
    It has no sha256 here: the runs that use it check its md5 against rembg's source instead.
    """
    import dataclasses  # noqa: PLC0415

    from bgremove.models import U2NET  # noqa: PLC0415
    from bgremove.settings import EngineSettings  # noqa: PLC0415

    settings = EngineSettings.from_env({**os.environ, "BGREMOVE_THREADS": str(threads)})
    fp32 = dataclasses.replace(U2NET, name=U2NET_FP32, source=str(MODELS / "u2net-fp32.onnx"), sha256=None)
    return dataclasses.replace(settings, custom_models=(*settings.custom_models, fp32))


class Ours:
    """bgremove's Engine, threads set the way a deployment sets them (BGREMOVE_THREADS)."""

    name = "ours"

    def __init__(self, threads: int, model: str | None = None) -> None:
        from bgremove import Engine  # noqa: PLC0415
        from bgremove.options import BackgroundType, Options, OutputFormat  # noqa: PLC0415

        self._options, self._format, self._map = Options, OutputFormat, BackgroundType.MAP
        self._engine = Engine(engine_settings(threads))
        self._model = model
        self._engine.warm_up(model)

    def process(
        self, data: bytes, fmt: str, options: dict[str, str] | None = None
    ) -> tuple[bytes, dict[str, float]]:
        """``options``: more option values as text (``{"decontaminate": "false"}``)."""
        import dataclasses  # noqa: PLC0415

        chosen = self._options.parse({"format": fmt, **(options or {})})
        result = self._engine.process(data, dataclasses.replace(chosen, model=self._model))
        return result.data, dict(result.report.timings_ms)

    def mask(self, data: bytes) -> bytes:
        return self._engine.process(
            data, self._options(background_type=self._map, format=self._format.PNG, model=self._model)
        ).data


class Rembg:
    """rembg 2.0.x with an onnxruntime session that has the same intra-op thread count as ours.

    PNG is rembg's own bytes -> bytes call. rembg has no JPEG/WebP output, so for those the bytes are opened
    with Pillow, ``remove()`` returns a PIL image (with ``bgcolor`` white for JPEG, as ours flattens onto
    white) and it is saved with the engine's settings (quality 75, the engine's WebP method, lossless-quality
    alpha).
    """

    name = "rembg"

    def __init__(self, threads: int, model: str = "u2net") -> None:
        import onnxruntime as ort  # noqa: PLC0415
        from rembg import new_session, remove  # noqa: PLC0415

        options = ort.SessionOptions()
        options.intra_op_num_threads = (
            threads  # everything else: onnxruntime's defaults, as rembg leaves them
        )
        self._remove = remove
        self._session = new_session(model, sess_opts=options)

    def process(
        self, data: bytes, fmt: str, options: dict[str, str] | None = None
    ) -> tuple[bytes, dict[str, float]]:
        from PIL import Image  # noqa: PLC0415

        if options:
            raise ValueError(f"rembg takes no engine options: {options}")
        if fmt == "png":
            out: bytes = self._remove(data, session=self._session)
            return out, {}
        buffer = io.BytesIO()
        image = Image.open(io.BytesIO(data))
        if fmt == "jpeg":
            cut = self._remove(image, session=self._session, bgcolor=(255, 255, 255, 255))
            cut.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
        elif fmt == "webp":
            cut = self._remove(image, session=self._session)
            cut.save(buffer, "WEBP", quality=JPEG_QUALITY, method=_webp_method(), alpha_quality=100)
        else:
            raise ValueError(fmt)
        return buffer.getvalue(), {}

    def mask(self, data: bytes) -> bytes:
        mask: bytes = self._remove(data, session=self._session, only_mask=True)
        return mask


def make_remover(engine: str, threads: int, model: str) -> Remover:
    """``engine`` ("ours" or "rembg") running ``model`` (a name of that engine) with ``threads`` threads."""
    if engine == "ours":
        return Ours(threads, model)
    if engine == "rembg":
        return Rembg(threads, model)
    raise ValueError(engine)


def method_name(engine: str, model: str) -> str:
    """How the JSON and the report name an engine running a model: ``ours-u2net``, ``rembg-u2netp``..."""
    return f"{engine}-{model}"


@dataclass
class Timer:
    """Wall and CPU (all threads of this process) time of one call."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    _wall: float = field(default=0.0, repr=False)
    _cpu: float = field(default=0.0, repr=False)

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = time.process_time() - self._cpu


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100), like numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": percentile(values, 50),
        "p95": percentile(values, 95),
        "min": min(values) if values else math.nan,
        "max": max(values) if values else math.nan,
    }


def machine_info() -> dict[str, Any]:
    import onnxruntime  # noqa: PLC0415
    import PIL  # noqa: PLC0415

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus_usable": cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "onnxruntime": onnxruntime.__version__,
        "pillow": PIL.__version__,
        "loadavg_at_start": os.getloadavg(),
        "network_interfaces": sorted(name for _, name in socket.if_nameindex()),
    }
    try:
        from importlib.metadata import version  # noqa: PLC0415

        info["rembg"] = version("rembg")
    except Exception:  # rembg lives only in .venv-bench
        info["rembg"] = None
    info["engine_commit"] = _engine_commit()
    info["engine_webp_method"] = _webp_method()
    return info


def _webp_method() -> int:
    """The engine's WebP effort, which rembg's WebP output is saved with too (see ``Rembg``)."""
    from bgremove._encode import WEBP_METHOD  # noqa: PLC0415

    return WEBP_METHOD


def _engine_commit() -> str | None:
    """The repository's commit, with "+changes" when the engine's files differ from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "layers/engine"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+changes" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value.relative_to(REPO)) if value.is_relative_to(REPO) else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(type(value))


def rounded(value: Any, digits: int = 4) -> Any:
    """Round floats recursively (keeps the committed JSON small and diffable)."""
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` figure in KiB (``VmRSS``, ``VmHWM``...), -1 when absent."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
