"""Server settings, every environment variable named once and read once into one typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bgremove import ConfigurationError, EngineSettings, ModelSpec


class Env:
    """Environment variables the server reads (SageMaker passes the endpoint config's ``Environment``)."""

    MODEL_DIR = "MODEL_DIR"
    HOST = "HOST"
    PORT = "PORT"
    MODELS = "MODELS"
    MAX_BATCH = "MAX_BATCH"
    MAX_WAIT_MS = "MAX_WAIT_MS"
    MAX_QUEUE = "MAX_QUEUE"
    DEVICE = "INFERENCE_DEVICE"
    TENSORRT = "USE_TENSORRT"
    THREADS = "INFERENCE_THREADS"
    REQUEST_TIMEOUT_SECONDS = "REQUEST_TIMEOUT_SECONDS"
    CUSTOM_MODELS = "BGREMOVE_CUSTOM_MODELS"  # the engine's variable and descriptor format


SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")
"""Where SageMaker extracts the endpoint's model data (``model.tar.gz``)."""

SAGEMAKER_PORT = 8080
"""The port SageMaker sends ``/ping`` and ``/invocations`` to."""

DEVICES = ("auto", "cuda", "cpu")

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"


@dataclass(frozen=True)
class ServerSettings:
    """How the server runs.

    Parameters
    ----------
    model_dir
        Folder of the ONNX files (``u2netp.onnx``, ``u2net.onnx``, ``isnet.onnx``, custom models' files).
    host, port
        Where to listen: SageMaker's contract is port 8080 on every interface; tests use loopback and 0.
    models
        Names to serve; empty serves every known model whose file is in ``model_dir``.
    max_batch, max_wait_ms
        Dynamic batching: concurrent requests for one model are run together, up to ``max_batch`` images,
        waiting at most ``max_wait_ms`` after the first for others to join.
    max_queue
        Requests waiting per model beyond which the server answers 503 (SageMaker retries, the function
        sees throttling) instead of letting latency grow without bound.
    device
        ``auto`` (CUDA when onnxruntime-gpu sees a GPU, else CPU), ``cuda`` (refuse to start without it) or
        ``cpu``.
    tensorrt
        Put onnxruntime's TensorRT provider before CUDA (engines are built at start-up: slow first start).
    threads
        ONNX Runtime intra-op threads for CPU execution (0: onnxruntime's default, every core).
    request_timeout_s
        How long a request may wait for its batch before the server answers 504.
    custom_models
        Extra models, from ``BGREMOVE_CUSTOM_MODELS`` in the engine's descriptor format.
    """

    model_dir: Path = SAGEMAKER_MODEL_DIR
    host: str = "0.0.0.0"  # SageMaker reaches the container on its interface
    port: int = SAGEMAKER_PORT
    models: tuple[str, ...] = ()
    max_batch: int = 16
    max_wait_ms: float = 5.0
    max_queue: int = 256
    device: str = "auto"
    tensorrt: bool = False
    threads: int = 0
    request_timeout_s: float = 30.0
    custom_models: tuple[ModelSpec, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Read the settings; unset or empty means the default.

        Raises
        ------
        ConfigurationError
            A value is malformed (``setting`` names the variable).
        """
        env = os.environ if environ is None else environ
        defaults = cls()
        device = env.get(Env.DEVICE, "").strip().lower() or defaults.device
        if device not in DEVICES:
            raise ConfigurationError(Env.DEVICE, f"must be one of {', '.join(DEVICES)}, got {device!r}")
        custom = EngineSettings.from_env({Env.CUSTOM_MODELS: env.get(Env.CUSTOM_MODELS, "")}).custom_models
        return cls(
            model_dir=Path(env.get(Env.MODEL_DIR) or defaults.model_dir),
            host=env.get(Env.HOST) or defaults.host,
            port=_number(env, Env.PORT, defaults.port, 0, 65535),
            models=tuple(n.strip() for n in env.get(Env.MODELS, "").split(",") if n.strip()),
            max_batch=_number(env, Env.MAX_BATCH, defaults.max_batch, 1, 256),
            max_wait_ms=float(_number(env, Env.MAX_WAIT_MS, int(defaults.max_wait_ms), 0, 1000)),
            max_queue=_number(env, Env.MAX_QUEUE, defaults.max_queue, 1, 100_000),
            device=device,
            tensorrt=_switch(env, Env.TENSORRT),
            threads=_number(env, Env.THREADS, defaults.threads, 0, 1024),
            request_timeout_s=float(
                _number(env, Env.REQUEST_TIMEOUT_SECONDS, int(defaults.request_timeout_s), 1, 3600)
            ),
            custom_models=custom,
        )

    def providers(self, available: list[str]) -> tuple[str, ...]:
        """onnxruntime execution providers to ask for, best first, given those this build has.

        Raises
        ------
        ConfigurationError
            ``INFERENCE_DEVICE=cuda`` (or ``USE_TENSORRT``) but onnxruntime has no such provider.
        """
        wanted: list[str] = []
        if self.device != "cpu":
            if self.tensorrt:
                if TENSORRT not in available:
                    raise ConfigurationError(Env.TENSORRT, "onnxruntime has no TensorRT provider here")
                wanted.append(TENSORRT)
            if CUDA in available:
                wanted.append(CUDA)
            elif self.device == "cuda":
                raise ConfigurationError(Env.DEVICE, f"cuda asked for, onnxruntime offers {available}")
        return (*wanted, CPU)


def _number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 8) or not low <= int(raw) <= high:
        raise ConfigurationError(name, f"must be a whole number in {low}..{high}, got {raw[:40]!r}")
    return int(raw)


def _switch(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "off", "no"):
        return False
    if raw in ("1", "true", "on", "yes"):
        return True
    raise ConfigurationError(name, f"must be on or off, got {raw[:40]!r}")
