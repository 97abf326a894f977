"""An ONNX Runtime session wrapped behind the small contract the engine needs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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
    """ONNX Runtime threading. ``intra_op_threads`` parallelises one inference across cores."""

    intra_op_threads: int = 1
    inter_op_threads: int = 1


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

    Thread-safe for concurrent ``infer`` calls (ONNX Runtime sessions are).
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
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
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
        self._mean = np.asarray(spec.mean, dtype=np.float32)
        self._inv_std = 1.0 / np.asarray(spec.std, dtype=np.float32)

    def prepare(self, image: Image.Image) -> np.ndarray:
        """Resize to the network size and normalise into a ``1x3xHxW`` tensor."""
        small = image.resize(self.spec.input_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        if small.mode == "RGBA":
            # Transparent pixels carry arbitrary colour; show the network what a viewer would see on white.
            backdrop = Image.new("RGB", small.size, (255, 255, 255))
            backdrop.paste(small, mask=small.getchannel("A"))
            small = backdrop
        pixels = np.asarray(small, dtype=np.float32)
        peak = float(np.max(pixels)) if self.spec.scale_by_max else 255.0
        pixels *= 1.0 / max(peak, 1e-6)
        pixels -= self._mean
        pixels *= self._inv_std
        tensor: np.ndarray = np.ascontiguousarray(
            pixels.transpose(2, 0, 1)[np.newaxis], dtype=self._input_dtype
        )
        return tensor

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        try:
            outputs: list[Any] = self._session.run([self._output_name], {self._input_name: tensor})
        except Exception as error:  # onnxruntime's errors are untyped
            raise ProcessingError(f"inference failed with model {self.spec.name!r}: {error}") from None
        prediction = np.asarray(outputs[0], dtype=np.float32)
        return prediction.reshape(prediction.shape[-2:])

    def to_matte(self, prediction: np.ndarray) -> Image.Image:
        """Map the network output to probabilities (``F`` image, 0..1) at the network's resolution."""
        if self.spec.minmax_output:
            low, high = float(prediction.min()), float(prediction.max())
            prediction = (prediction - low) * (1.0 / max(high - low, 1e-6))
        return Image.fromarray(np.clip(prediction, 0.0, 1.0).astype(np.float32), "F")
