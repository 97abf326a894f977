"""Segmentation models: specs, the registry that loads them once, and the session wrapper.

The engine depends only on the two protocols, :class:`Segmenter` and :class:`SegmenterRegistry`;
:class:`ModelRegistry` and :class:`OnnxSegmenter` are the local ONNX Runtime implementation of them.
"""

from bgremove.models._registry import ModelFetcher, ModelRegistry, SegmenterRegistry
from bgremove.models._segmenter import OnnxSegmenter, Segmenter, SessionConfig
from bgremove.models._spec import BUILTIN_MODELS, DEFAULT_MODEL, ISNET, U2NETP, ModelSpec

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_MODEL",
    "ISNET",
    "U2NETP",
    "ModelFetcher",
    "ModelRegistry",
    "ModelSpec",
    "OnnxSegmenter",
    "Segmenter",
    "SegmenterRegistry",
    "SessionConfig",
]
