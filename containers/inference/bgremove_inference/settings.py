"""Server settings, every environment variable named once and read once into one typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bgremove import env as setting


class Env:
    """Environment variables the stand-in reads; the first two are those of SageMaker's Triton image."""

    MODEL_REPOSITORY = "MODEL_REPOSITORY"
    DEFAULT_MODEL = "SAGEMAKER_TRITON_DEFAULT_MODEL_NAME"
    HOST = "HOST"
    PORT = "PORT"
    THREADS = "INFERENCE_THREADS"


SAGEMAKER_MODEL_REPOSITORY = Path("/opt/ml/model")
"""Where SageMaker extracts the endpoint's model data (``model.tar.gz``), Triton's repository there."""

SAGEMAKER_PORT = 8080
"""The port SageMaker sends ``/ping`` and ``/invocations`` to."""

MAX_PORT = 65535
"""Highest ``PORT`` (0: any free port, as the operating system picks)."""

MAX_THREADS = 1024
"""Most ``INFERENCE_THREADS`` accepted."""


@dataclass(frozen=True)
class ServerSettings:
    """How the stand-in runs.

    Parameters
    ----------
    repository
        The Triton model repository (``<model>/config.pbtxt``, ``<model>/<version>/model.onnx``).
    default_model
        The model ``/invocations`` runs (SageMaker's ``SAGEMAKER_TRITON_DEFAULT_MODEL_NAME``); empty: the
        repository's only model. As on SageMaker, only that model is loaded.
    host, port
        Where to listen: loopback by default (the stand-in is for this machine).
    threads
        ONNX Runtime intra-op threads (0: onnxruntime's default, every core).
    """

    repository: Path = SAGEMAKER_MODEL_REPOSITORY
    default_model: str = ""
    host: str = "127.0.0.1"
    port: int = SAGEMAKER_PORT
    threads: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Read the settings; unset or empty means the default.

        The repository's path is taken as it is written (blanks are legal in paths); names are stripped.

        Raises
        ------
        ConfigurationError
            A value is malformed (``setting`` names the variable).
        """
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            repository=Path(env.get(Env.MODEL_REPOSITORY) or defaults.repository),
            default_model=setting.text(env, Env.DEFAULT_MODEL),
            host=setting.text(env, Env.HOST, defaults.host),
            port=setting.whole_number(env, Env.PORT, defaults.port, low=0, high=MAX_PORT),
            threads=setting.whole_number(env, Env.THREADS, defaults.threads, low=0, high=MAX_THREADS),
        )
