"""A Triton model repository, loaded as Triton's ONNX Runtime backend would load it, on CPU.

``<repository>/<model>/config.pbtxt`` and ``<repository>/<model>/<version>/model.onnx``; the highest version
is served (Triton's default version policy, ``latest: 1``). The config is checked against the ONNX graph as
Triton checks it: every configured input and output exists with the same type, and its dims, after the
batch dimension when ``max_batch_size`` > 0, match the graph's (a graph dimension that is symbolic matches
anything; the batch dimension must be symbolic, that is dynamic, for batching).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bgremove.models._kserve import DATATYPES
from bgremove_inference.config import ConfigError, ModelConfig, TensorConfig

logger = logging.getLogger(__name__)

# ONNX Runtime's type strings -> KServe datatypes
_ONNX_TYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
}


class ModelLoadError(RuntimeError):
    """The model cannot be served: no such folder, no version, a config that contradicts the graph."""


@dataclass
class LoadedModel:
    """One model's config and its ONNX Runtime session (run by one batch worker at a time)."""

    config: ModelConfig
    version: str
    path: Path
    session: Any
    providers: list[str]

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.config.name

    def execute(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on ``inputs``; returns every configured output."""
        names = [output.name for output in self.config.outputs]
        with self._lock:
            values = self.session.run(names, inputs)
        return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}


def model_names(repository: Path) -> list[str]:
    """The repository's model folders (those with a ``config.pbtxt``)."""
    if not repository.is_dir():
        return []
    return sorted(p.name for p in repository.iterdir() if (p / "config.pbtxt").is_file())


def load_model(repository: Path, name: str, *, threads: int = 0) -> LoadedModel:
    """Load ``name`` from ``repository`` onto ONNX Runtime's CPU provider.

    Raises
    ------
    ModelLoadError
        See the class.
    """
    import onnxruntime as ort  # noqa: PLC0415 - the heavy import only where models are served

    folder = repository / name
    try:
        config = ModelConfig.read(folder / "config.pbtxt")
    except (OSError, ConfigError) as error:
        raise ModelLoadError(f"model {name!r}: {error}") from None
    if config.name != name:
        raise ModelLoadError(f"model {name!r}: its config names it {config.name!r}")
    if config.backend != "onnxruntime":
        raise ModelLoadError(
            f"model {name!r}: backend {config.backend!r}; the stand-in runs onnxruntime only"
        )
    versions = sorted(
        (int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / "model.onnx").is_file()),
        reverse=True,
    )
    if not versions:
        raise ModelLoadError(f"model {name!r}: no <version>/model.onnx in {folder}")
    version = str(versions[0])
    path = folder / version / "model.onnx"
    if config.instance_kind == "KIND_GPU":
        logger.info("model %s asks for a GPU instance; the stand-in runs it on CPU", name)
    for accelerator in config.accelerators:
        logger.info("model %s: execution accelerator %s is ignored on CPU", name, accelerator)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_mem_pattern = False  # batches of varying size (as the engine: docs/decisions/0004)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped errors for bad files
        raise ModelLoadError(f"model {name!r}: cannot load {path}: {error}") from None
    _check(config, {i.name: i for i in session.get_inputs()}, config.inputs, "input")
    _check(config, {o.name: o for o in session.get_outputs()}, config.outputs, "output")
    return LoadedModel(config, version, path, session, list(session.get_providers()))


def _check(config: ModelConfig, graph: dict[str, Any], declared: tuple[TensorConfig, ...], role: str) -> None:
    if not declared:
        raise ModelLoadError(f"model {config.name!r}: the config declares no {role}")
    for tensor in declared:
        node = graph.get(tensor.name)
        if node is None:
            raise ModelLoadError(
                f"model {config.name!r}: {role} {tensor.name!r} is not in the graph ({', '.join(graph)})"
            )
        datatype = _ONNX_TYPES.get(node.type)
        if datatype != tensor.datatype or datatype not in DATATYPES:
            raise ModelLoadError(
                f"model {config.name!r}: {role} {tensor.name!r} is TYPE_{tensor.datatype} in the config, "
                f"{node.type} in the graph"
            )
        shape = list(node.shape)
        if config.batched:
            if not shape or isinstance(shape[0], int):
                raise ModelLoadError(
                    f"model {config.name!r}: max_batch_size {config.max_batch_size} needs a dynamic first "
                    f"dimension on {role} {tensor.name!r}; the graph has {shape}"
                )
            shape = shape[1:]
        fits = len(shape) == len(tensor.dims) and all(
            not isinstance(g, int) or g < 0 or d in (-1, g) for g, d in zip(shape, tensor.dims, strict=True)
        )
        if not fits:
            raise ModelLoadError(
                f"model {config.name!r}: {role} {tensor.name!r} has dims {list(tensor.dims)} in the config, "
                f"{shape} in the graph"
            )
