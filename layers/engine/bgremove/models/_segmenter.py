"""An ONNX Runtime session wrapped behind the small contract the engine needs."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from bgremove.exceptions import ModelLoadError, ProcessingError
from bgremove.models._spec import ModelSpec


class Segmenter(Protocol):
    """The contract between the engine and a model: image in, matte out, in three timed steps.

    The engine times each step separately, so an implementation that runs elsewhere (a remote endpoint)
    may do its network call in ``infer`` and keep ``prepare`` and ``to_matte`` local.
    """

    @property
    def spec(self) -> ModelSpec:
        """The model this segmenter runs."""
        ...

    def prepare(self, image: Image.Image) -> np.ndarray:
        """Turn the (already decoded and downscaled) image into the network's input."""
        ...

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Run the network; the result is what :meth:`to_matte` takes."""
        ...

    def to_matte(self, prediction: np.ndarray) -> Image.Image:
        """The matte as an ``L`` or ``F`` image (0..1 for ``F``), at any size: the engine resizes it."""
        ...


@dataclass(frozen=True)
class SessionConfig:
    """ONNX Runtime threading and execution providers.

    ``intra_op_threads`` parallelises one inference across cores. ``providers`` are ONNX Runtime's
    execution providers in order of preference (the inference server puts ``CUDAExecutionProvider``
    first on a GPU); the function runs on CPU only.
    """

    intra_op_threads: int = 1
    inter_op_threads: int = 1
    providers: tuple[str, ...] = ("CPUExecutionProvider",)


@dataclass(frozen=True)
class Inference:
    """What one inference produced, and where it ran.

    Attributes
    ----------
    prediction
        What :meth:`Segmenter.to_matte` takes.
    backend
        ``"local"``, or ``"sagemaker:<endpoint>"`` when a remote endpoint ran it.
    fallback
        Why a remote model ran locally instead (the endpoint was unavailable), else ``None``.
    """

    prediction: np.ndarray
    backend: str = "local"
    fallback: str | None = None


@runtime_checkable
class TracedSegmenter(Protocol):
    """A :class:`Segmenter` that says where each inference ran (a remote one, which may fall back)."""

    def infer_traced(self, tensor: np.ndarray) -> Inference:
        """:meth:`Segmenter.infer`, with where it ran."""
        ...


def run_inference(segmenter: Segmenter, tensor: np.ndarray) -> Inference:
    """Run ``segmenter`` on ``tensor``; a segmenter that does not say where it ran ran locally."""
    if isinstance(segmenter, TracedSegmenter):
        return segmenter.infer_traced(tensor)
    return Inference(segmenter.infer(tensor))


def network_pixels(image: Image.Image, spec: ModelSpec) -> np.ndarray:
    """The image as the network sees it, before normalisation: ``HxWx3`` uint8 at ``spec.input_size``.

    A reducing resize; transparent pixels are shown on white (they carry arbitrary colour otherwise).
    This is what a remote segmenter sends over the wire.
    """
    small = image.resize(spec.input_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if small.mode == "RGBA":
        backdrop = Image.new("RGB", small.size, (255, 255, 255))
        backdrop.paste(small, mask=small.getchannel("A"))
        small = backdrop
    elif small.mode != "RGB":
        small = small.convert("RGB")
    return np.asarray(small, dtype=np.uint8)


def normalise(pixels: np.ndarray, spec: ModelSpec, dtype: type[np.floating[Any]] = np.float32) -> np.ndarray:
    """``NxHxWx3`` (or ``HxWx3``) uint8 pixels -> the network's ``Nx3xHxW`` input, normalised per ``spec``.

    Each image is scaled by its own maximum when ``spec.scale_by_max`` (U2-Net's training), else by 255.
    """
    batch = pixels[np.newaxis] if pixels.ndim == 3 else pixels
    values = batch.astype(np.float32)
    if spec.scale_by_max:
        peaks = values.reshape(len(values), -1).max(axis=1)
        values *= (1.0 / np.maximum(peaks, 1e-6))[:, np.newaxis, np.newaxis, np.newaxis]
    else:
        values *= 1.0 / 255.0
    values -= np.asarray(spec.mean, dtype=np.float32)
    values *= 1.0 / np.asarray(spec.std, dtype=np.float32)
    tensor: np.ndarray = np.ascontiguousarray(values.transpose(0, 3, 1, 2), dtype=dtype)
    return tensor


def probabilities(prediction: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """One image's raw network output (``HxW``) -> float32 probabilities 0..1 per ``spec``.

    Stretched by its own min and max for the U2-Net family (``minmax_output``), clipped otherwise.
    """
    values = np.asarray(prediction, dtype=np.float32)
    if spec.minmax_output:
        low, high = float(values.min()), float(values.max())
        values = (values - low) * (1.0 / max(high - low, 1e-6))
    result: np.ndarray = np.clip(values, 0.0, 1.0).astype(np.float32)
    return result


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_input_shape(spec: ModelSpec, shape: list[Any]) -> None:
    """Refuse a network whose input cannot take :meth:`OnnxSegmenter.prepare`'s ``1x3xHxW`` tensor.

    Checked once, at load, rather than failing as an inference error on every image. Dimensions that are
    not ints are symbolic (dynamic) and accept any size.

    Raises
    ------
    ModelLoadError
        The input is not 4-D, has a fixed channel count other than 3, or a fixed size other than the spec's.
    """
    if len(shape) != 4:
        raise ModelLoadError(
            f"model {spec.name!r}: expects a 4-D NCHW input (1x3xHxW), the network's input has shape {shape}"
        )
    channels, fixed = shape[1], shape[2:]
    if isinstance(channels, int) and channels != 3:
        raise ModelLoadError(
            f"model {spec.name!r}: expects 3 colour channels (RGB), the network's input has shape {shape}"
        )
    width, height = spec.input_size
    if all(isinstance(d, int) for d in fixed) and fixed != [height, width]:
        raise ModelLoadError(
            f"model {spec.name!r}: the descriptor says input {width}x{height} but the network takes "
            f"{fixed[1]}x{fixed[0]}"
        )


class OnnxSegmenter:
    """One loaded model: one ``InferenceSession``, created once and reused for every image.

    Thread-safe. Concurrent ``infer`` calls run one at a time: the session's intra-op threads already use
    every CPU it was given, so two runs at once would only contend for them. Callers that want every core
    busy overlap the other stages (decode, compose, encode) with inference instead, as the CLI does.
    """

    def __init__(self, spec: ModelSpec, path: Path, config: SessionConfig) -> None:
        import onnxruntime as ort  # noqa: PLC0415 - deferred so importing the package stays cheap

        if spec.sha256 and sha256_file(path) != spec.sha256:
            raise ModelLoadError(f"model {spec.name!r}: {path} does not match its sha256; fetch it again")
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.intra_op_threads
        options.inter_op_num_threads = config.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # The memory pattern pre-plans one arena per input shape; off, a 12 MP request peaked ~225 MiB lower
        # with no measurable speed cost (docs/decisions/0004-onnxruntime-memory-pattern-off.md).
        options.enable_mem_pattern = False
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=list(config.providers)
            )
        except Exception as error:  # onnxruntime raises its own untyped errors for bad files
            raise ModelLoadError(f"model {spec.name!r}: cannot load {path}: {error}") from None
        inputs = self._session.get_inputs()
        if not inputs:
            raise ModelLoadError(f"model {spec.name!r}: the network has no input to feed the image to")
        model_input = inputs[0]
        _check_input_shape(spec, list(model_input.shape))
        self._input_name: str = model_input.name
        self._input_dtype = np.float16 if "float16" in model_input.type else np.float32
        outputs = self._session.get_outputs()
        if not 0 <= spec.output_index < len(outputs):
            raise ModelLoadError(
                f"model {spec.name!r}: output_index {spec.output_index} but {len(outputs)} outputs"
            )
        self._output_name: str = outputs[spec.output_index].name
        self.spec = spec
        self.path = path
        self._run_lock = threading.Lock()
        batch = model_input.shape[0] if model_input.shape else None
        self.fixed_batch: int | None = batch if isinstance(batch, int) else None
        """The batch size the network's input is fixed to (1 for most exports), ``None`` if dynamic."""

    def prepare(self, image: Image.Image) -> np.ndarray:
        """Resize to the network size and normalise into a ``1x3xHxW`` tensor."""
        return normalise(network_pixels(image, self.spec), self.spec, self._input_dtype)

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """``NxHxWx3`` uint8 pixels (see :func:`network_pixels`) -> this network's input tensor."""
        return normalise(pixels, self.spec, self._input_dtype)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        prediction: np.ndarray = self.infer_batch(tensor)[0]
        return prediction

    def infer_batch(self, tensor: np.ndarray) -> np.ndarray:
        """Run an ``Nx3xHxW`` tensor in one session call; returns the raw outputs, ``NxHxW`` float32.

        A network with a fixed batch size (:attr:`fixed_batch`) takes only that many images per call.
        """
        try:
            with self._run_lock:
                outputs: list[Any] = self._session.run([self._output_name], {self._input_name: tensor})
        except Exception as error:  # onnxruntime's errors are untyped
            raise ProcessingError(f"inference failed with model {self.spec.name!r}: {error}") from None
        prediction = np.asarray(outputs[0], dtype=np.float32)
        return prediction.reshape(len(tensor), *prediction.shape[-2:])

    def to_matte(self, prediction: np.ndarray) -> Image.Image:
        """Map the network output to probabilities (``F`` image, 0..1) at the network's resolution."""
        return Image.fromarray(probabilities(prediction, self.spec), "F")

    @property
    def providers(self) -> list[str]:
        """The execution providers the session really uses (CUDA may be missing on the machine)."""
        used: list[str] = self._session.get_providers()
        return used
