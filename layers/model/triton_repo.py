#!/usr/bin/env python3
"""Build a Triton model repository for the GPU endpoint: ``<model>/config.pbtxt``, ``<model>/1/model.onnx``.

    triton_repo.py MODEL [--device gpu|cpu] [--out DIR] [--max-batch N] [--queue-delay-us N]
                   [--tensorrt]

What SageMaker's Triton image (``sagemaker-tritonserver``) loads from ``/opt/ml/model``, and what the local
stand-in (``containers/inference``) serves on CPU. With ``--device gpu`` (``make gpu-model``) it also packs
``<out>/model.tar.gz``, the endpoint's model data, reproducibly (fixed mtimes, owners and gzip header: the
same inputs give the same bytes, so the archive's sha256 names its S3 key).

The ONNX file is the engine's network with its pre- and post-processing made part of the graph, and a dynamic
batch dimension:

- input ``IMAGE``: ``UINT8 [batch, H, W, 3]``, the pixels the engine already resizes to the network's input
  (:func:`bgremove.models._segmenter.network_pixels`); the graph then normalises them exactly as
  :func:`~bgremove.models._segmenter.normalise` does (per-image maximum for U2-Net, mean and std,
  NHWC -> NCHW, fp16 for an fp16 network);
- output ``MATTE``: ``FP32 [batch, H, W]`` probabilities, mapped per image as
  :func:`~bgremove.models._segmenter.probabilities` does (min-max stretch for U2-Net, clip to 0..1).

So a request carries 300 KiB of uint8 (320x320) instead of 1.2 MiB of float32, the whole model runs on the
GPU (no Python backend, no ensemble), and the answer is the engine's probabilities, not raw logits. The
network's own input and outputs become internal tensors: their fixed batch size of 1 (rembg's exports) is no
longer declared anywhere, and the network's ``Resize`` sizes come from ``Shape``, so any batch size runs
(checked here on a batch of 3). The build then compares the graph with the engine's own pipeline (normalise,
the unmodified network, probabilities) on synthetic images and refuses to write a file that differs.

``--device gpu``: ``u2net`` is built from the fp32 original (``u2net-fp32.onnx``, ``make model
MODEL=u2net-fp32``): the engine's ``u2net.onnx`` runs most convolutions as 8-bit ``QLinearConv``, which ONNX
Runtime's CUDA provider does not implement (they would run on the instance's CPU). ``--device cpu``: the
engine's own file, so the stand-in's results equal the function's local inference.

Runs in the pinned tool venv of fetch_model.py (``models/.tools``, it has ``onnx``): started with another
Python, this script re-runs itself there.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

from fetch_model import sha256_of  # one hash helper for the model scripts (layers/model/)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "layers" / "engine"))

INPUT = "IMAGE"
OUTPUT = "MATTE"
VERSION = "1"
DEFAULT_MAX_BATCH = 16
DEFAULT_QUEUE_DELAY_US = 2000
"""How long Triton's dynamic batcher holds a request for others to join (bench/run_remote.py measured it)."""
BUILDER = "bgremove-triton-repo-3"
"""Changes whenever the graph or the config written here changes: a repository built by an older builder is
rebuilt (its config.pbtxt's first line names the builder and the source's sha256)."""
_EPSILON = 1e-6  # the engine's guard against a zero peak or a flat matte (_segmenter.py)


def _spec(name: str, device: str) -> Any:
    from bgremove.models import BUILTIN_MODELS, U2NET, U2NET_FP32  # noqa: PLC0415

    specs = {spec.name: spec for spec in BUILTIN_MODELS}
    if name not in specs:
        raise SystemExit(f"unknown model {name!r}; one of {', '.join(sorted(specs))}")
    return U2NET_FP32 if device == "gpu" and name == U2NET.name else specs[name]


# ------------------------------------------------------------------------------------------------ graph
def wrap_network(source: Path, spec: Any) -> Any:
    """The network of ``source`` with the engine's pre- and post-processing around it (see the module)."""
    import numpy as np  # noqa: PLC0415
    import onnx  # noqa: PLC0415
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    model = onnx.load(str(source))
    graph = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 11:
        raise SystemExit(f"{source.name}: opset {opset}; the wrapper needs 11 or later (Clip with inputs)")
    initialisers = {tensor.name for tensor in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialisers]
    if len(inputs) != 1:
        raise SystemExit(f"{source.name}: expected one input, found {[i.name for i in inputs]}")
    network_input = inputs[0]
    input_type = network_input.type.tensor_type.elem_type
    if input_type not in (TensorProto.FLOAT, TensorProto.FLOAT16):
        raise SystemExit(f"{source.name}: input type {input_type} is neither float32 nor float16")
    if not 0 <= spec.output_index < len(graph.output):
        raise SystemExit(f"{source.name}: no output {spec.output_index}")
    network_output = graph.output[spec.output_index]
    out_dims = [d.dim_value if d.HasField("dim_value") else None for d in _dims(network_output)]
    if len(out_dims) not in (3, 4):
        raise SystemExit(f"{source.name}: output {network_output.name} has rank {len(out_dims)}, not 3 or 4")
    width, height = spec.input_size
    matte_h, matte_w = out_dims[-2] or height, out_dims[-1] or width

    prefix = "bgremove_"
    internal = f"{prefix}network_input"
    for node in graph.node:
        node.input[:] = [internal if name == network_input.name else name for name in node.input]

    constants: list[Any] = []

    def constant(name: str, values: Any, dtype: Any = np.float32) -> str:
        constants.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), f"{prefix}{name}"))
        return f"{prefix}{name}"

    def reduce(op: str, source_name: str, axes: list[int], out: str) -> Any:
        if opset >= 18:  # axes became an input
            return helper.make_node(
                op, [source_name, constant(f"{out}_axes", axes, np.int64)], [out], keepdims=1
            )
        return helper.make_node(op, [source_name], [out], axes=axes, keepdims=1)

    p = prefix
    before = [helper.make_node("Cast", [INPUT], [f"{p}pixels"], to=TensorProto.FLOAT)]
    if spec.scale_by_max:  # U2-Net's training: each image scaled by its own maximum
        before += [
            reduce("ReduceMax", f"{p}pixels", [1, 2, 3], f"{p}peak"),
            helper.make_node("Max", [f"{p}peak", constant("epsilon", _EPSILON)], [f"{p}peak_guarded"]),
            helper.make_node("Reciprocal", [f"{p}peak_guarded"], [f"{p}inverse_peak"]),
            helper.make_node("Mul", [f"{p}pixels", f"{p}inverse_peak"], [f"{p}scaled"]),
        ]
    else:
        before.append(
            helper.make_node(
                "Mul", [f"{p}pixels", constant("inverse_255", np.float32(1.0 / 255.0))], [f"{p}scaled"]
            )
        )
    mean = np.asarray(spec.mean, np.float32)
    inverse_std = np.float32(1.0) / np.asarray(spec.std, np.float32)  # what normalise() multiplies by
    before += [
        helper.make_node("Sub", [f"{p}scaled", constant("mean", mean)], [f"{p}centred"]),
        helper.make_node("Mul", [f"{p}centred", constant("inverse_std", inverse_std)], [f"{p}nhwc"]),
        helper.make_node("Transpose", [f"{p}nhwc"], [f"{p}nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Cast", [f"{p}nchw"], [internal], to=input_type),
    ]

    raw = network_output.name
    after = [helper.make_node("Cast", [raw], [f"{p}raw"], to=TensorProto.FLOAT)]
    stretched = f"{p}raw"
    if spec.minmax_output:  # the U2-Net family: stretched by the image's own min and max
        axes = list(range(1, len(out_dims)))
        after += [
            reduce("ReduceMin", f"{p}raw", axes, f"{p}low"),
            reduce("ReduceMax", f"{p}raw", axes, f"{p}high"),
            helper.make_node("Sub", [f"{p}high", f"{p}low"], [f"{p}span"]),
            helper.make_node("Max", [f"{p}span", constant("epsilon_span", _EPSILON)], [f"{p}span_guarded"]),
            helper.make_node("Reciprocal", [f"{p}span_guarded"], [f"{p}inverse_span"]),
            helper.make_node("Sub", [f"{p}raw", f"{p}low"], [f"{p}shifted"]),
            helper.make_node("Mul", [f"{p}shifted", f"{p}inverse_span"], [f"{p}stretched"]),
        ]
        stretched = f"{p}stretched"
    after += [
        helper.make_node(
            "Clip",
            [stretched, constant("zero", np.float32(0)), constant("one", np.float32(1))],
            [f"{p}clipped"],
        ),
        helper.make_node(
            "Reshape", [f"{p}clipped", constant("matte_shape", [-1, matte_h, matte_w], np.int64)], [OUTPUT]
        ),
    ]

    network_nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend([*before, *network_nodes, *after])
    graph.initializer.extend(constants)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["batch", height, width, 3]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", matte_h, matte_w]))
    del graph.value_info[:]  # shapes inferred for batch 1 would contradict the dynamic batch
    onnx.checker.check_model(model)
    return model


def _dims(value_info: Any) -> list[Any]:
    return list(value_info.type.tensor_type.shape.dim)


def check_against_engine(wrapped: Path, source: Path, spec: Any) -> float:
    """Largest difference between the wrapped graph and the engine's own pipeline, on a batch of 3.

    Raises ``SystemExit`` above 1e-4 (the wire carries float32 probabilities; 1/255 is 0.0039).
    """
    import numpy as np  # noqa: PLC0415
    import onnxruntime as ort  # noqa: PLC0415

    from bgremove.models._segmenter import normalise, probabilities  # noqa: PLC0415

    width, height = spec.input_size
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:height, 0:width]
    disc = (((xs - width / 2) ** 2 + (ys - height / 2) ** 2) < (min(width, height) / 3) ** 2)[..., None]
    pixels = np.stack(
        [
            rng.integers(0, 256, (height, width, 3)),
            np.where(disc, 230, 20) + rng.integers(0, 20, (height, width, 3)),  # an object on a plain ground
            rng.integers(40, 90, (height, width, 3)),  # dim: the per-image maximum matters
        ]
    ).astype(np.uint8)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    ours = ort.InferenceSession(str(wrapped), options, providers=["CPUExecutionProvider"])
    mattes = ours.run([OUTPUT], {INPUT: pixels})[0]
    engine = ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    model_input = engine.get_inputs()[0]
    dtype = np.float16 if "float16" in model_input.type else np.float32
    output = engine.get_outputs()[spec.output_index].name
    worst = 0.0
    for index, image in enumerate(pixels):
        raw = engine.run([output], {model_input.name: normalise(image, spec, dtype)})[0]
        expected = probabilities(np.asarray(raw, np.float32).reshape(mattes.shape[1:]), spec)
        worst = max(worst, float(np.abs(mattes[index] - expected).max()))
    if worst > 1e-4:
        raise SystemExit(f"the wrapped graph differs from the engine's pipeline by {worst:.2e}")
    return worst


# ----------------------------------------------------------------------------------------------- config
def config_text(
    name: str, spec: Any, *, device: str, max_batch: int, queue_delay_us: int, tensorrt: bool, header: str
) -> str:
    """``config.pbtxt`` (protobuf text format, Triton's ``ModelConfig``)."""
    width, height = spec.input_size
    kind = "KIND_GPU" if device == "gpu" else "KIND_CPU"
    lines = [
        header,
        f'name: "{name}"',
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch}",
        "input [",
        f'  {{ name: "{INPUT}" data_type: TYPE_UINT8 dims: [ {height}, {width}, 3 ] }}',
        "]",
        "output [",
        f'  {{ name: "{OUTPUT}" data_type: TYPE_FP32 dims: [ {height}, {width} ] }}',
        "]",
        f"instance_group [ {{ count: 1 kind: {kind} }} ]",
        "dynamic_batching {",
        f"  max_queue_delay_microseconds: {queue_delay_us}",
        "}",
    ]
    if tensorrt:
        # ONNX Runtime's TensorRT provider for the parts TensorRT takes (the rest stays on CUDA); the engine
        # is built on the first requests of each batch size, so the first calls are slow. Not measured here.
        lines += [
            "optimization { execution_accelerators { gpu_execution_accelerator: [ {",
            '  name: "tensorrt"',
            '  parameters { key: "precision_mode" value: "FP16" }',
            '  parameters { key: "max_workspace_size_bytes" value: "1073741824" }',
            "} ] } }",
        ]
    return "\n".join(lines) + "\n"


def header_line(source: Path, digest: str) -> str:
    return (
        f"# {BUILDER} from {source.name} sha256 {digest}: built by layers/model/triton_repo.py, do not edit"
    )


def build(
    name: str,
    *,
    device: str,
    models_dir: Path,
    repository: Path,
    max_batch: int = DEFAULT_MAX_BATCH,
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US,
    tensorrt: bool = False,
) -> Path:
    """Write ``repository/<name>``; returns its folder. Skips the work when it is up to date."""
    import onnx  # noqa: PLC0415

    spec = _spec(name, device)
    source = models_dir / spec.source
    if not source.is_file():
        raise SystemExit(f"{source} is missing: run `make model MODEL={source.stem}`")
    digest = sha256_of(source)
    if spec.sha256 and digest != spec.sha256:
        raise SystemExit(f"{source} does not match its sha256; fetch it again")
    header = header_line(source, digest)
    config = config_text(
        name,
        spec,
        device=device,
        max_batch=max_batch,
        queue_delay_us=queue_delay_us,
        tensorrt=tensorrt,
        header=header,
    )
    folder = repository / name
    config_file, onnx_file = folder / "config.pbtxt", folder / VERSION / "model.onnx"
    if config_file.is_file() and config_file.read_text() == config and onnx_file.is_file():
        return folder
    work = repository / f".{name}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    (work / VERSION).mkdir(parents=True)
    onnx.save(wrap_network(source, spec), str(work / VERSION / "model.onnx"))
    worst = check_against_engine(work / VERSION / "model.onnx", source, spec)
    (work / "config.pbtxt").write_text(config)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(work, folder)
    print(f"{name}: {folder} from {source.name}, batch of 3 within {worst:.1e} of the engine's pipeline")
    return folder


def pack(repository: Path, archive: Path) -> Path:
    """``model.tar.gz`` of the repository's models (their folders at the archive's root), reproducibly."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in repository.rglob("*") if not p.name.startswith(".")):
            relative = path.relative_to(repository)
            if any(part.startswith(".") for part in relative.parts):
                continue
            info = tar.gettarinfo(str(path), arcname=str(relative))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_file():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    tmp = archive.with_suffix(".tmp")
    with tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
        zipped.write(buffer.getvalue())
    os.replace(tmp, archive)
    return archive


def _reexec_in_tool_venv(models_dir: Path) -> None:
    """Run this script again in fetch_model.py's pinned tool venv (it has onnx)."""
    sys.path.insert(0, str(HERE))
    from fetch_model import tools_python  # noqa: PLC0415

    python = tools_python(models_dir)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="u2net (default model), u2netp or isnet")
    parser.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument(
        "--out", type=Path, help="default: out/gpu-model (gpu: also model.tar.gz there) or models/.triton-cpu"
    )
    parser.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH)
    parser.add_argument("--queue-delay-us", type=int, default=DEFAULT_QUEUE_DELAY_US)
    parser.add_argument(
        "--tensorrt", action="store_true", help="ONNX Runtime's TensorRT provider (off by default)"
    )
    args = parser.parse_args()
    try:
        import onnx  # noqa: F401, PLC0415
    except ImportError:
        _reexec_in_tool_venv(args.models_dir)
    if not 1 <= args.max_batch <= 256 or not 0 <= args.queue_delay_us <= 1_000_000:
        raise SystemExit("--max-batch must be 1..256 and --queue-delay-us 0..1000000")
    if args.device == "gpu":
        out = args.out or REPO / "out" / "gpu-model"
        repository = out / "repository"
    else:
        out = args.out or args.models_dir / ".triton-cpu"
        repository = out
    repository.mkdir(parents=True, exist_ok=True)
    for stale in (
        p for p in repository.iterdir() if p.is_dir() and p.name != args.model and args.device == "gpu"
    ):
        shutil.rmtree(stale)  # SageMaker's single-model endpoint wants one model folder (or a default name)
    build(
        args.model,
        device=args.device,
        models_dir=args.models_dir,
        repository=repository,
        max_batch=args.max_batch,
        queue_delay_us=args.queue_delay_us,
        tensorrt=args.tensorrt,
    )
    if args.device == "gpu":
        archive = pack(repository, out / "model.tar.gz")
        print(f"{archive}: {archive.stat().st_size / 1e6:.1f} MB, sha256 {sha256_of(archive)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
