"""Segmentation models: specs, the registry that loads them once, and the session wrapper.

The engine depends only on the two protocols, :class:`Segmenter` and :class:`SegmenterRegistry`;
:class:`ModelRegistry` and :class:`OnnxSegmenter` are the local ONNX Runtime implementation of them.
:func:`fetch_model` gets a built-in model's file from PyPI (``bgremove models fetch``).
"""

from bgremove.models._fetch import (
    FETCHABLE,
    Fetched,
    NotFetchableError,
    fetch_dir,
    fetch_model,
    user_models_dir,
)
from bgremove.models._kserve import Payload
from bgremove.models._registry import ModelFetcher, ModelRegistry, SegmenterRegistry
from bgremove.models._remote import Invoker, RemoteRegistry, RemoteSegmenter
from bgremove.models._segmenter import (
    Inference,
    OnnxSegmenter,
    Segmenter,
    SessionConfig,
    TracedSegmenter,
    run_inference,
)
from bgremove.models._spec import BUILTIN_MODELS, DEFAULT_MODEL, ISNET, U2NET, U2NET_FP32, U2NETP, ModelSpec
from bgremove.models._wheels import FetchError

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_MODEL",
    "FETCHABLE",
    "ISNET",
    "U2NET",
    "U2NETP",
    "U2NET_FP32",
    "FetchError",
    "Fetched",
    "Inference",
    "Invoker",
    "ModelFetcher",
    "ModelRegistry",
    "ModelSpec",
    "NotFetchableError",
    "OnnxSegmenter",
    "Payload",
    "RemoteRegistry",
    "RemoteSegmenter",
    "Segmenter",
    "SegmenterRegistry",
    "SessionConfig",
    "TracedSegmenter",
    "fetch_dir",
    "fetch_model",
    "run_inference",
    "user_models_dir",
]
